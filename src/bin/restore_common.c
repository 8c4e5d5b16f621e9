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

/* Writes path through a temporary file, fsynced and renamed into place. */
void
restore_write_file(const char *path, const char *data, size_t len)
{
	char	   *temp = psprintf("%s.steward-tmp", path);
	char	   *dir = pg_strdup(path);
	int			fd;
	size_t		done = 0;

	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		restore_fail("could not create file \"%s\": %m", temp);
	while (done < len)
	{
		ssize_t		n = write(fd, data + done, len - done);

		if (n <= 0)
		{
			if (n == 0)
				errno = ENOSPC;
			(void) unlink(temp);
			restore_fail("could not write file \"%s\": %m", temp);
		}
		done += n;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
	{
		(void) unlink(temp);
		restore_fail("could not write file \"%s\": %m", temp);
	}
	if (rename(temp, path) != 0)
	{
		(void) unlink(temp);
		restore_fail("could not rename \"%s\" to \"%s\": %m", temp, path);
	}
	get_parent_directory(dir);
	restore_fsync_path(dir[0] ? dir : ".", true);
	pfree(temp);
	pg_free(dir);
}
