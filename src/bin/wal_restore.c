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
 * Prefetching: after restoring a WAL segment it starts (unless one runs) a
 * detached child that restores the next --prefetch segments into
 * steward_prefetch/ next to the destination (pg_wal/), each under a
 * temporary name renamed when complete, while the server replays.  A
 * later call for one of them renames it into place.  The folder records
 * the archive it was filled from and is emptied when it does not match,
 * and removed when the server asks for a segment or a timeline history
 * file that the archive does not have (the end of recovery).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
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

/* prefetching: the folder next to the destination, and how far ahead */
#define WAL_PREFETCH_DIR		"steward_prefetch"
#define WAL_PREFETCH_SOURCE		"source"
#define WAL_PREFETCH_LOCK		"lock"
#define WAL_PREFETCH_DEFAULT	8
#define WAL_SEGMENT_NAME_LEN	24

/* Is 'name' a WAL segment's (24 hexadecimal digits)? */
static bool
wal_is_segment(const char *name)
{
	int			i;

	for (i = 0; i < WAL_SEGMENT_NAME_LEN; i++)
		if (!isxdigit((unsigned char) name[i]))
			return false;
	return name[i] == '\0';
}

/* The name of the segment after 'name' (segments of 'seg_size' bytes). */
static bool
wal_next_segment(const char *name, uint64 seg_size, char *next)
{
	unsigned int tli,
				log,
				seg;
	uint64		per_id;

	if (seg_size < 1024 * 1024 || seg_size > 1024 * 1024 * 1024 ||
		(seg_size & (seg_size - 1)) != 0 ||
		sscanf(name, "%08X%08X%08X", &tli, &log, &seg) != 3)
		return false;
	per_id = UINT64CONST(0x100000000) / seg_size;
	if ((uint64) seg + 1 >= per_id)
	{
		seg = 0;
		log++;
	}
	else
		seg++;
	snprintf(next, WAL_SEGMENT_NAME_LEN + 1, "%08X%08X%08X", tli, log, seg);
	return true;
}

/*
 * Restore archived 'file' into 'dest'; false when the archive does not
 * have it.  *size: the restored size.
 */
static bool
wal_restore_one(const char *dir, const char *file, const RestoreKeys *keys,
				const char *dest, uint64 *size)
{
	char	   *path = psprintf("%s/%s/%s%s", dir, WALFILE_DIR, file, WALFILE_SUFFIX);
	char	   *data;
	size_t		len;
	char	   *frame;
	size_t		frame_len;
	bool		missing;
	char	   *err;

	err = walfile_read_all(path, &data, &len, &missing);
	if (err)
		restore_fail("%s", err);
	if (missing)
		return false;
	/* a sealed file is authenticated whole before anything is written */
	frame = data;
	frame_len = len;
	if (walfile_is_sealed(data, len))
	{
		err = walfile_unseal(data, len, keys->keys, keys->nkeys, &frame, &frame_len);
		if (err)
			restore_fail("could not restore \"%s\": %s", path, err);
	}
	*size = ZSTD_getFrameContentSize(frame, frame_len);
	wal_restore_write(path, dest, frame, frame_len);
	if (frame != data)
		pg_free(frame);
	pg_free(data);
	pfree(path);
	return true;
}

/* Empty and remove the prefetch folder, after any prefetcher is done. */
static void
wal_prefetch_clear(const char *spool)
{
	char	   *lock = psprintf("%s/%s", spool, WAL_PREFETCH_LOCK);
	int			fd = open(lock, O_RDWR | O_CREAT, S_IRUSR | S_IWUSR);
	DIR		   *d;
	struct dirent *de;

	if (fd < 0)
		return;					/* no folder */
	(void) flock(fd, LOCK_EX);
	d = opendir(spool);
	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void) unlink(psprintf("%s/%s", spool, de->d_name));
	if (d != NULL)
		closedir(d);
	(void) rmdir(spool);
	close(fd);
}

/* The folder exists and was filled from archive 'dir' (else emptied). */
static bool
wal_prefetch_ready(const char *spool, const char *dir)
{
	char	   *source = psprintf("%s/%s", spool, WAL_PREFETCH_SOURCE);
	char	   *text;
	size_t		len;
	bool		missing;
	char	   *err = walfile_read_all(source, &text, &len, &missing);

	if (err == NULL && !missing && strcmp(text, dir) == 0)
		return true;
	if (err == NULL && missing)
	{
		struct stat st;

		if (stat(spool, &st) != 0)
			return false;
	}
	wal_prefetch_clear(spool);
	return false;
}

/* Remove prefetched segments before 'file': the server is past them. */
static void
wal_prefetch_prune(const char *spool, const char *file)
{
	DIR		   *d = opendir(spool);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (wal_is_segment(de->d_name) && strcmp(de->d_name, file) < 0)
			(void) unlink(psprintf("%s/%s", spool, de->d_name));
	if (d != NULL)
		closedir(d);
}

/*
 * Start a detached child that restores the 'count' segments after 'file'
 * into the prefetch folder, unless one is running (it holds the lock).
 */
static void
wal_prefetch_start(const char *spool, const char *dir, const RestoreKeys *keys,
				   const char *file, uint64 seg_size, int count)
{
	char	   *lock = psprintf("%s/%s", spool, WAL_PREFETCH_LOCK);
	char		name[WAL_SEGMENT_NAME_LEN + 1];
	char		next[WAL_SEGMENT_NAME_LEN + 1];
	int			fd;
	int			i;
	pid_t		pid;

	if (mkdir(spool, S_IRWXU) != 0 && errno != EEXIST)
		return;
	fd = open(lock, O_RDWR | O_CREAT, S_IRUSR | S_IWUSR);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		close(fd);				/* a prefetcher is at work */
		return;
	}
	if (access(psprintf("%s/%s", spool, WAL_PREFETCH_SOURCE), F_OK) != 0)
	{
		char	   *tmp = psprintf("%s/%s.tmp", spool, WAL_PREFETCH_SOURCE);
		int			sfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, S_IRUSR | S_IWUSR);

		if (sfd < 0 || write(sfd, dir, strlen(dir)) != (ssize_t) strlen(dir) ||
			close(sfd) != 0 ||
			rename(tmp, psprintf("%s/%s", spool, WAL_PREFETCH_SOURCE)) != 0)
		{
			close(fd);
			return;
		}
	}
	fflush(NULL);
	pid = fork();
	if (pid != 0)
	{
		/* the parent (or no child): the child keeps the lock */
		close(fd);
		return;
	}

	/* the prefetcher: out of the server's way, then one segment after another */
	(void) setsid();
	i = open(DEVNULL, O_RDWR, 0);
	if (i >= 0)
	{
		(void) dup2(i, STDIN_FILENO);
		(void) dup2(i, STDOUT_FILENO);
		if (i > STDOUT_FILENO)
			close(i);
	}
	strlcpy(name, file, sizeof(name));
	for (i = 0; i < count; i++)
	{
		char	   *dest;
		uint64		size;

		if (!wal_next_segment(name, seg_size, next))
			break;
		strlcpy(name, next, sizeof(name));
		dest = psprintf("%s/%s", spool, name);
		if (access(dest, F_OK) == 0)
			continue;
		if (!wal_restore_one(dir, name, keys, dest, &size))
			break;				/* the end of the archive */
	}
	_exit(0);
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
	printf("  -P, --prefetch=N            restore the next N segments ahead, in the background\n");
	printf("                              (default %d; 0: off)\n", WAL_PREFETCH_DEFAULT);
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
		{"prefetch", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	const char *progname;
	const char *dir = getenv("PG_STEWARD_BACKUP_DIRECTORY");
	RestoreKeys keys = {0};
	const char *file;
	const char *dest;
	char	   *path;
	char	   *spool;
	int			prefetch = WAL_PREFETCH_DEFAULT;
	uint64		size = 0;
	struct stat st;
	int			c;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage(progname);
		exit(0);
	}
	while ((c = getopt_long(argc, argv, "B:k:K:P:", long_options, NULL)) != -1)
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
			case 'P':
				prefetch = atoi(optarg);
				if (prefetch < 0 || prefetch > 64)
					restore_fail("--prefetch must be between 0 and 64");
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
	spool = pg_strdup(dest);
	get_parent_directory(spool);
	spool = psprintf("%s/%s", spool[0] ? spool : ".", WAL_PREFETCH_DIR);

	/* a segment prefetched from this archive is renamed into place */
	if (wal_is_segment(file) && wal_prefetch_ready(spool, dir))
	{
		char	   *ready = psprintf("%s/%s", spool, file);

		if (rename(ready, dest) == 0 && stat(dest, &st) == 0)
			size = (uint64) st.st_size;
	}
	if (size == 0 && !wal_restore_one(dir, file, &keys, dest, &size))
	{
		/* the server asks for files beyond the end of the archive: normal */
		if (wal_is_segment(file) || strstr(file, ".history") != NULL)
			wal_prefetch_clear(spool);
		fprintf(stderr, "%s: \"%s\" is not in the archive\n", progname, file);
		exit(RESTORE_EXIT_NOT_FOUND);
	}
	if (wal_is_segment(file) && prefetch > 0)
	{
		wal_prefetch_prune(spool, file);
		wal_prefetch_start(spool, dir, &keys, file, size, prefetch);
	}
	return RESTORE_EXIT_OK;
}
