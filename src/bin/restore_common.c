/*-------------------------------------------------------------------------
 *
 * restore_common.c
 *	  Helpers of the restore programs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/logging.h"

#include "restore_common.h"

void
restore_fail(const char *fmt,...)
{
	va_list		ap;
	char		buf[2048];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pg_log_error("%s", buf);
	exit(RESTORE_EXIT_FATAL);
}

/* Loads a key file (refusing one readable by others); never prints it. */
void
restore_add_key(RestoreKeys *k, const char *path)
{
	char	   *err;

	if (k->nkeys == k->cap)
	{
		k->cap = k->cap ? k->cap * 2 : 4;
		k->keys = pg_realloc(k->keys, sizeof(WalKey) * k->cap);
		k->paths = pg_realloc(k->paths, sizeof(char *) * k->cap);
	}
	err = walfile_load_key(path, &k->keys[k->nkeys]);
	if (err)
		restore_fail("%s", err);
	k->paths[k->nkeys] = pg_strdup(path);
	k->nkeys++;
}

void
restore_fsync_path(const char *path, bool isdir)
{
	int			fd = open(path, (isdir ? O_RDONLY : O_RDWR) | PG_BINARY, 0);

	if (fd < 0)
		restore_fail("could not open \"%s\": %m", path);
	if (fsync(fd) != 0)
		restore_fail("could not fsync \"%s\": %m", path);
	close(fd);
}
