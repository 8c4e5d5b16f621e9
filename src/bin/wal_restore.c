/*-------------------------------------------------------------------------
 *
 * wal_restore.c
 *	  pg_steward_wal_restore: restore_command for WAL archived by
 *	  archive_library = 'pg_steward'.
 *
 *	  restore_command = 'pg_steward_wal_restore -B /var/backups/pg %f %p'
 *
 * Finds <backup directory>/wal/<file>.zst, checks and removes the seal
 * when it is encrypted (-k, -K: the current and old key files),
 * decompresses it and writes it to the path the server gave.  Exit status
 * 1 means "not in the archive"; damage, a wrong key or an unreadable
 * archive exit with 255, which stops recovery instead of ending it early.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "common/logging.h"
#include "getopt_long.h"

#include "restore_common.h"

/* decompressed output is written in pieces of this size */
#define WAL_RESTORE_CHUNK	(1024 * 1024)

/*
 * Decompress the zstd frame 'frame' (of the archived file 'src') into
 * 'dest' through a temporary file, renamed into place when the whole frame
 * has been written.  Streaming keeps the memory touched small (one chunk,
 * not the whole segment).
 *
 * No fsync: the server reads the file at once, and when it keeps a
 * restored WAL file it makes it durable itself (it renames it into
 * pg_wal with durable_rename()); after a crash it asks for the file again.
 */
static void
wal_restore_write(const char *src, const char *dest, const char *frame, size_t frame_len)
{
	static char chunk[WAL_RESTORE_CHUNK];
	char	   *temp = psprintf("%s.steward-tmp", dest);
	unsigned long long size = ZSTD_getFrameContentSize(frame, frame_len);
	unsigned long long done = 0;
	ZSTD_DCtx  *dctx;
	ZSTD_inBuffer in = {frame, frame_len, 0};
	size_t		rc = 1;
	int			fd;

	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		restore_fail("could not restore \"%s\": not a zstd-compressed pg_steward file, or damaged",
					 src);
	dctx = ZSTD_createDCtx();
	if (dctx == NULL)
		restore_fail("out of memory");
	fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		restore_fail("could not create file \"%s\": %m", temp);
	while (rc != 0)
	{
		ZSTD_outBuffer out = {chunk, sizeof(chunk), 0};

		rc = ZSTD_decompressStream(dctx, &out, &in);
		if (ZSTD_isError(rc) || (rc != 0 && in.pos == in.size && out.pos == 0))
		{
			(void) unlink(temp);
			restore_fail("could not restore \"%s\": could not decompress: %s", src,
						 ZSTD_isError(rc) ? ZSTD_getErrorName(rc) : "the frame is truncated");
		}
		if (out.pos > 0 && write(fd, chunk, out.pos) != (ssize_t) out.pos)
		{
			if (errno == 0)
				errno = ENOSPC;
			(void) unlink(temp);
			restore_fail("could not write file \"%s\": %m", temp);
		}
		done += out.pos;
	}
	ZSTD_freeDCtx(dctx);
	if (done != size || in.pos != in.size)
	{
		(void) unlink(temp);
		restore_fail("could not restore \"%s\": could not decompress: wrong size", src);
	}
	if (close(fd) != 0)
	{
		(void) unlink(temp);
		restore_fail("could not write file \"%s\": %m", temp);
	}
	if (rename(temp, dest) != 0)
	{
		(void) unlink(temp);
		restore_fail("could not rename \"%s\" to \"%s\": %m", temp, dest);
	}
	pfree(temp);
}

static void
usage(const char *progname)
{
	printf("%s restores one WAL file archived by pg_steward (restore_command).\n\n", progname);
	printf("Usage:\n  %s [OPTION]... FILE DESTINATION\n\n", progname);
	printf("Options:\n");
	printf("  -B, --backup-directory=DIR  steward.backup_directory of the archiving server\n");
	printf("                              (default: $PG_STEWARD_BACKUP_DIRECTORY)\n");
	printf("  -k, --key-file=FILE         key file of encrypted archives\n");
	printf("  -K, --old-key-file=FILE     an earlier key file (repeatable)\n");
	printf("  -?, --help                  show this help, then exit\n\n");
	printf("Exit status: 0 restored, 1 not in the archive, 255 any other failure.\n");
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"backup-directory", required_argument, NULL, 'B'},
		{"key-file", required_argument, NULL, 'k'},
		{"old-key-file", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	const char *progname;
	const char *dir = getenv("PG_STEWARD_BACKUP_DIRECTORY");
	RestoreKeys keys = {0};
	const char *file;
	const char *dest;
	char	   *path;
	char	   *data;
	size_t		len;
	char	   *frame;
	size_t		frame_len;
	bool		missing;
	char	   *err;
	struct stat st;
	int			c;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage(progname);
		exit(0);
	}
	while ((c = getopt_long(argc, argv, "B:k:K:", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'B':
				dir = optarg;
				break;
			case 'k':
			case 'K':
				restore_add_key(&keys, optarg);
				break;
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(RESTORE_EXIT_FATAL);
		}
	}
	if (argc - optind != 2)
		restore_fail("expected a file name and a destination path (%%f %%p)");
	if (dir == NULL || dir[0] == '\0')
		restore_fail("no backup directory: give -B or set PG_STEWARD_BACKUP_DIRECTORY");
	file = argv[optind];
	dest = argv[optind + 1];
	if (strchr(file, '/') != NULL || file[0] == '.' || strlen(file) > 64)
		restore_fail("\"%s\" is not a WAL file name", file);

	path = psprintf("%s/%s", dir, WALFILE_DIR);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		restore_fail("WAL archive \"%s\" is missing or not a directory", path);
	path = psprintf("%s/%s/%s%s", dir, WALFILE_DIR, file, WALFILE_SUFFIX);
	err = walfile_read_all(path, &data, &len, &missing);
	if (err)
		restore_fail("%s", err);
	if (missing)
	{
		/* the server asks for files beyond the end of the archive: normal */
		fprintf(stderr, "%s: \"%s\" is not in the archive\n", progname, file);
		exit(RESTORE_EXIT_NOT_FOUND);
	}
	/* a sealed file is authenticated whole before anything is written */
	frame = data;
	frame_len = len;
	if (walfile_is_sealed(data, len))
	{
		err = walfile_unseal(data, len, keys.keys, keys.nkeys, &frame, &frame_len);
		if (err)
			restore_fail("could not restore \"%s\": %s", path, err);
	}
	wal_restore_write(path, dest, frame, frame_len);
	return RESTORE_EXIT_OK;
}
