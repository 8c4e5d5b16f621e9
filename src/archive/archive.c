/*-------------------------------------------------------------------------
 *
 * archive.c
 *	  The archive module: archive_library = 'pg_steward' stores each WAL
 *	  file as <backup_directory>/wal/<name>.zst, compressed and, with
 *	  steward.backup_encryption_key_file, encrypted.
 *
 * The library may also be in shared_preload_libraries: then the archiver
 * inherits it loaded and only looks up _PG_archive_module_init; otherwise
 * the archiver loads it and _PG_init defines the settings without starting
 * anything (that needs the preload).
 *
 * Each file is written to a temporary name in wal/, fsynced, then linked to
 * its final name, which fails if that name exists: an archived file is never
 * replaced.  An existing file with the same content (after unpacking) is
 * success, since the server may have crashed before it recorded the earlier
 * success; different content is an error naming both.
 *
 * The archiver has no error handler of its own: an ERROR there would be
 * promoted to FATAL and the archiver restarted, over and over.  The callback
 * catches its errors, reports them as such (they count in pg_stat_archiver)
 * and returns false, so the archiver retries later.
 *
 * The first archived file writes wal/system_identifier; a server with a
 * different system identifier refuses to archive into the directory.
 *
 * Each file is read whole into memory and compressed from there.  The
 * buffers (the file, zstd's output and context: some 35 MB for 16 MB
 * segments) stay in the archiver's heap from one file to the next: with
 * glibc's default, blocks that large are mapped and unmapped each time, and
 * faulting in fresh pages cost about a third of the archiver's CPU.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "archive/archive.h"
#include "core/compat.h"
#include "core/guc.h"

/* <backup_directory>/wal, or NULL when no backup directory is set */
char *
steward_wal_directory(void)
{
	if (steward_backup_directory == NULL || steward_backup_directory[0] == '\0')
		return NULL;
	return psprintf("%s/%s", steward_backup_directory, WALFILE_DIR);
}

static void
wal_key_error(const char *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("could not use the backup encryption key"),
			 errdetail("%s.", err)));
}

/*
 * The configured keys: the current one first (when *current), then the old
 * ones.  Returns how many.
 */
int
steward_wal_keys(WalKey **keys, bool *current)
{
	List	   *paths = NIL;
	ListCell   *lc;
	WalKey	   *k;
	int			n = 0;
	char	   *err;

	if (steward_backup_encryption_old_key_files &&
		steward_backup_encryption_old_key_files[0] != '\0')
	{
		char	   *raw = pstrdup(steward_backup_encryption_old_key_files);

		if (!SplitDirectoriesString(raw, ',', &paths))
			wal_key_error("steward.backup_encryption_old_key_files is not a list");
	}
	k = palloc0(sizeof(WalKey) * (list_length(paths) + 1));
	*current = steward_backup_encryption_key_file &&
		steward_backup_encryption_key_file[0] != '\0';
	if (*current)
	{
		if ((err = walfile_load_key(steward_backup_encryption_key_file, &k[n])) != NULL)
			wal_key_error(err);
		n++;
	}
	foreach(lc, paths)
	{
		if ((err = walfile_load_key((char *) lfirst(lc), &k[n])) != NULL)
			wal_key_error(err);
		n++;
	}
	*keys = k;
	return n;
}

#if STEWARD_HAS_ARCHIVE_MODULE

/* where the file being written is, for removal after an error */
static char wal_temp_path[MAXPGPATH];

static char *
wal_read(const char *path)
{
	char	   *data;
	size_t		len;
	char	   *err = walfile_read_all(path, &data, &len, NULL);

	if (err)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s", err)));
	return data;
}

/* Writes a file durably under a temporary name; the caller links it. */
static void
wal_write_temp(const char *path, const char *data, size_t len)
{
	int			fd;
	size_t		done = 0;

	strlcpy(wal_temp_path, path, sizeof(wal_temp_path));
	fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	while (done < len)
	{
		ssize_t		n;

		errno = 0;
		n = write(fd, data + done, len - done);
		if (n <= 0)
		{
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", path)));
		}
		done += n;
	}
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
}

/* Links temp to dest; false if dest exists.  Removes temp either way. */
static bool
wal_link_new(const char *temp, const char *dest, const char *dir)
{
	if (link(temp, dest) != 0)
	{
		int			save = errno;

		(void) unlink(temp);
		wal_temp_path[0] = '\0';
		if (save == EEXIST)
			return false;
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not link file \"%s\" to \"%s\": %m", temp, dest)));
	}
	if (unlink(temp) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", temp)));
	wal_temp_path[0] = '\0';
	fsync_fname(dest, false);
	fsync_fname(dir, true);
	return true;
}

static char *
wal_chomp(char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* wal/ exists and belongs to this cluster (claimed by the first archive). */
static void
wal_claim_directory(const char *dir)
{
	char	   *path = psprintf("%s/%s", dir, WALFILE_SYSID_FILE);
	char	   *mine = psprintf(UINT64_FORMAT "\n", GetSystemIdentifier());
	char	   *theirs;
	size_t		len;
	bool		missing;
	char	   *err;

	if (mkdir(dir, pg_dir_create_mode) == 0)
	{
		fsync_fname(dir, true);
		fsync_fname(steward_backup_directory, true);
	}
	else if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create WAL archive directory \"%s\": %m", dir)));

	err = walfile_read_all(path, &theirs, &len, &missing);
	if (err)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s", err)));
	if (missing)
	{
		char	   *temp = psprintf("%s.tmp.%d", path, MyProcPid);

		wal_write_temp(temp, mine, strlen(mine));
		if (wal_link_new(temp, path, dir))
			return;
		theirs = wal_read(path);
	}
	if (strcmp(theirs, mine) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("WAL archive \"%s\" belongs to another cluster", dir),
				 errdetail("Its system identifier is %s; this server's is %s.",
						   wal_chomp(theirs), wal_chomp(mine)),
				 errhint("Give each cluster its own steward.backup_directory.")));
}

/*
 * Once per archiver process: remove the temporary files ("...tmp.<pid>")
 * that an archiver which crashed or was killed while writing left in wal/.
 * Only a file whose process is gone (or that is older than an hour) goes:
 * an archiver of a standby of the same cluster (archive_mode = always) may
 * be writing into the same directory.
 */
static void
wal_sweep_temp_files(const char *dir)
{
	static bool swept = false;
	DIR		   *d;
	struct dirent *de;

	if (swept)
		return;
	swept = true;
	d = AllocateDir(dir);
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		const char *t = strstr(de->d_name, ".tmp.");
		char	   *end;
		long		pid;
		char	   *path;
		struct stat st;

		if (t == NULL)
			continue;
		errno = 0;
		pid = strtol(t + 5, &end, 10);
		if (errno != 0 || *end != '\0' || end == t + 5 || pid <= 0 || pid == MyProcPid)
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			((kill((pid_t) pid, 0) != 0 && errno == ESRCH) ||
			 st.st_mtime < time(NULL) - 3600))
		{
			if (unlink(path) == 0)
				ereport(LOG,
						(errmsg("removed temporary file \"%s\" left by an earlier archiver", path)));
		}
		pfree(path);
	}
	FreeDir(d);
}

/* Archives one file; raises errors, which the callback turns into false. */
static void
wal_archive_one(const char *file, const char *path)
{
	char	   *dir = steward_wal_directory();
	char	   *dest = psprintf("%s/%s%s", dir, file, WALFILE_SUFFIX);
	char	   *temp = psprintf("%s/.%s.tmp.%d", dir, file, MyProcPid);
	WalKey	   *keys;
	bool		encrypt;
	int			nkeys = steward_wal_keys(&keys, &encrypt);
	char	   *data;
	size_t		len;
	char	   *packed;
	size_t		packed_len;
	char	   *err;

	wal_claim_directory(dir);
	wal_sweep_temp_files(dir);
	err = walfile_read_all(path, &data, &len, NULL);
	if (err)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s", err)));
	err = walfile_pack(data, len, encrypt ? &keys[0] : NULL, &packed, &packed_len);
	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not pack WAL file \"%s\": %s", file, err)));
	wal_write_temp(temp, packed, packed_len);
	if (!wal_link_new(temp, dest, dir))
	{
		char	   *old;
		size_t		old_len;
		char	   *plain;
		size_t		plain_len;

		/* already archived: fine if it is the same content */
		err = walfile_read_all(dest, &old, &old_len, NULL);
		if (err)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("%s", err)));
		err = walfile_unpack(old, old_len, keys, nkeys, &plain, &plain_len);
		if (err)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_FILE),
					 errmsg("archived file \"%s\" already exists and cannot be read", dest),
					 errdetail("%s.", err),
					 errhint("Archiving of \"%s\" stops until the file is checked and moved away.", file)));
		if (plain_len != len || memcmp(plain, data, len) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_FILE),
					 errmsg("archived file \"%s\" already exists with different content", dest),
					 errdetail("The server's \"%s\" has %zu bytes, the archived one %zu; the archived file is kept.",
							   file, len, plain_len),
					 errhint("Another cluster may archive into this directory, or the archive was changed. Archiving of \"%s\" stops until the file is moved away.",
							 file)));
		fsync_fname(dest, false);
		fsync_fname(dir, true);
		ereport(DEBUG1,
				(errmsg_internal("\"%s\" was already archived with the same content", file)));
		return;
	}
	ereport(DEBUG1,
			(errmsg_internal("archived \"%s\" (%zu bytes, %zu stored%s)", file, len,
							 packed_len, encrypt ? ", encrypted" : "")));
}

static MemoryContext wal_archive_context = NULL;

static bool
wal_archive_configured(STEWARD_ARCHIVE_NOARGS)
{
	return steward_backup_directory != NULL && steward_backup_directory[0] != '\0';
}

static bool
wal_archive_file(STEWARD_ARCHIVE_ARGS const char *file, const char *path)
{
	sigjmp_buf	local_sigjmp_buf;
	MemoryContext oldcontext;

	if (wal_archive_context == NULL)
	{
		wal_archive_context = AllocSetContextCreate(TopMemoryContext,
													"pg_steward archive",
													ALLOCSET_DEFAULT_SIZES);
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
		/* in the archiver only: keep large freed blocks for the next file */
		(void) mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
		(void) mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
	}
	oldcontext = MemoryContextSwitchTo(wal_archive_context);

	/* the archiver's own level: an ERROR here must become a failed attempt */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		AtEOSubXact_Files(false, InvalidSubTransactionId, InvalidSubTransactionId);
		if (wal_temp_path[0] != '\0')
			(void) unlink(wal_temp_path);
		wal_temp_path[0] = '\0';
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(wal_archive_context);
		PG_exception_stack = NULL;
		RESUME_INTERRUPTS();
		return false;
	}
	PG_exception_stack = &local_sigjmp_buf;

	wal_archive_one(file, path);

	PG_exception_stack = NULL;
	MemoryContextSwitchTo(oldcontext);
	MemoryContextReset(wal_archive_context);
	return true;
}

static const ArchiveModuleCallbacks wal_archive_callbacks = {
	.check_configured_cb = wal_archive_configured,
	.archive_file_cb = wal_archive_file,
};

STEWARD_ARCHIVE_MODULE_INIT(wal_archive_callbacks)

#endif							/* STEWARD_HAS_ARCHIVE_MODULE */
