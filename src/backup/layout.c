/*-------------------------------------------------------------------------
 *
 * layout.c
 *	  The backup directory: checks, backup ids and folders, durable writes,
 *	  checksums, leftovers.
 *
 * <backup_directory>/
 *	  <id>.partial/		a backup being written (removed if it never completes)
 *	  <id>/				a complete backup, self-describing:
 *		backup.json			kind, database, label, times, sizes, LSNs, timeline,
 *							server version, table row counts, checksums,
 *							verification and drill results
 *		dump/, globals.sql	logical: pg_dump -Fd output, pg_dumpall --globals-only
 *		data/				physical: pg_basebackup plain output with backup_manifest
 *		log/				the programs' output
 *	  drill-<id>/		scratch space of a running restore drill
 *	  wal/				reserved for archived WAL (WAL archiving, a later version)
 *
 * An id is the UTC start time as YYYYMMDDHHMMSS followed by two digits
 * that tell backups started in the same second apart; creating the
 * .partial folder (mkdir is atomic) claims it, so ids are unique across
 * databases that share the directory.  A folder is renamed from .partial
 * to its id only once everything in it, and its metadata, is on disk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "catalog/pg_authid.h"
#include "utils/builtins.h"
#include "miscadmin.h"

#include "backup/backup_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/shmem.h"

/* The folder to remove if the operation fails or the process exits. */
static char layout_scratch[MAXPGPATH];

const char *
backup_kind_name(int kind)
{
	return kind == BACKUP_PHYSICAL ? "physical" : "logical";
}

int
backup_kind_from_name(const char *name)
{
	if (name != NULL && strcmp(name, "logical") == 0)
		return BACKUP_LOGICAL;
	if (name != NULL && strcmp(name, "physical") == 0)
		return BACKUP_PHYSICAL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid backup kind \"%s\"", name ? name : ""),
			 errhint("The kinds are \"logical\" and \"physical\".")));
	return 0;					/* keep the compiler quiet */
}

/*
 * steward.backup_directory, checked for a run: set, an existing directory,
 * writable, outside the data directory (symbolic links resolved) and with
 * at least 'need_bytes' free.  Returns the canonical path.
 */
char *
backup_directory_checked(int64 need_bytes)
{
	const char *dir = steward_backup_directory;
	struct stat st;
	struct statvfs vfs;
	char	   *rd;
	char	   *rdata;
	char		real_dir[MAXPGPATH];
	char		real_data[MAXPGPATH];

	if (dir == NULL || dir[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("steward.backup_directory is not set"),
				 errhint("Set it to an absolute path outside the data directory, e.g. ALTER SYSTEM SET steward.backup_directory = '/var/backups/pg'; SELECT pg_reload_conf();")));
	if (stat(dir, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not use backup directory \"%s\": %m", dir),
				 errhint("Create it, owned by the server's operating system user.")));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup directory \"%s\" is not a directory", dir)));
	/* realpath() with a buffer wants PATH_MAX bytes; let it allocate */
	rd = realpath(dir, NULL);
	rdata = realpath(DataDir, NULL);
	if (rd == NULL || rdata == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve backup directory \"%s\": %m", dir)));
	strlcpy(real_dir, rd, MAXPGPATH);
	strlcpy(real_data, rdata, MAXPGPATH);
	free(rd);
	free(rdata);
	if (path_is_prefix_of_path(real_data, real_dir))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup directory \"%s\" is inside the data directory", dir),
				 errdetail("It resolves to \"%s\", inside \"%s\".", real_dir, real_data)));
	if (access(real_dir, W_OK | X_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("backup directory \"%s\" is not writable: %m", dir),
				 errhint("The server's operating system user must be able to create folders in it.")));
	if (need_bytes > 0 && statvfs(real_dir, &vfs) == 0 &&
		(int64) vfs.f_bavail * (int64) vfs.f_frsize < need_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("not enough free space in backup directory \"%s\"", dir),
				 errdetail("%lld bytes are free; the backup needs about %lld.",
						   (long long) vfs.f_bavail * (long long) vfs.f_frsize,
						   (long long) need_bytes)));
	return pstrdup(real_dir);
}

/*
 * Create <dir>/<id>.partial for a new backup id; returns the id.  In a
 * transaction: ids that the catalog of this database has (failed backups,
 * whose folders are gone) are skipped too.
 */
int64
backup_claim_folder(const char *dir, char **partial)
{
	pg_time_t	now = (pg_time_t) time(NULL);
	struct pg_tm *tm = pg_gmtime(&now);
	int64		base;
	int			n;

	base = ((((((int64) tm->tm_year + 1900) * 100 + tm->tm_mon + 1) * 100 +
			  tm->tm_mday) * 100 + tm->tm_hour) * 100 + tm->tm_min) * 100 + tm->tm_sec;
	for (n = 0; n < 100; n++)
	{
		int64		id = base * 100 + n;
		char	   *final = psprintf("%s/" INT64_FORMAT, dir, id);
		char	   *path = psprintf("%s" BACKUP_PARTIAL_SUFFIX, final);
		struct stat st;

		if (stat(final, &st) == 0 || backup_catalog_has(id))
			continue;
		if (MakePGDirectory(path) == 0)
		{
			*partial = path;
			return id;
		}
		if (errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create backup folder \"%s\": %m", path)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("too many backups started in one second")));
	return 0;
}

/* The folder of a complete backup (whether it exists or not). */
char *
backup_folder_path(int64 backup_id)
{
	return psprintf("%s/" INT64_FORMAT, steward_backup_directory, backup_id);
}

bool
backup_folder_exists(int64 backup_id)
{
	struct stat st;
	char	   *meta;
	bool		ok;

	if (steward_backup_directory == NULL || steward_backup_directory[0] == '\0')
		return false;
	meta = psprintf("%s/" INT64_FORMAT "/" BACKUP_META_FILE,
					steward_backup_directory, backup_id);
	ok = stat(meta, &st) == 0;
	pfree(meta);
	return ok;
}

/*
 * <id>.partial -> <id>, durably: the folder's entries are on disk before
 * the rename, the rename is on disk before we report success.
 */
void
backup_folder_complete(const char *dir, int64 backup_id)
{
	char	   *final = psprintf("%s/" INT64_FORMAT, dir, backup_id);
	char	   *partial = psprintf("%s" BACKUP_PARTIAL_SUFFIX, final);

	fsync_fname(partial, true);
	if (rename(partial, final) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m", partial, final)));
	fsync_fname(final, true);
	fsync_fname(dir, true);
	layout_scratch[0] = '\0';
}

void
backup_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && !rmtree(path, true))
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove \"%s\" completely", path)));
}

/* Remember (or with NULL forget) the folder that a failure must remove. */
void
backup_set_scratch(const char *path)
{
	if (path == NULL)
		layout_scratch[0] = '\0';
	else
		strlcpy(layout_scratch, path, MAXPGPATH);
}

/* Error cleanup and exit: remove the unfinished folder, if any. */
void
backup_abandon_scratch(void)
{
	if (layout_scratch[0] != '\0')
	{
		(void) rmtree(layout_scratch, true);
		layout_scratch[0] = '\0';
	}
}

/* Write a small file durably: temporary file, fsync, durable rename. */
void
backup_write_file(const char *path, const char *data, size_t len)
{
	char	   *tmp = psprintf("%s.tmp", path);
	int			fd;

	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, data, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", tmp)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));
	(void) durable_rename(tmp, path, ERROR);
}

/* A whole file as a string; NULL if it is missing and missing_ok. */
char *
backup_read_file(const char *path, bool missing_ok)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	StringInfoData buf;
	char		chunk[8192];
	ssize_t		n;

	if (fd < 0)
	{
		if (missing_ok && errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	initStringInfo(&buf);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	CloseTransientFile(fd);
	return buf.data;
}

/* Bytes in the files under 'path'. */
int64
backup_tree_size(const char *path)
{
	DIR		   *d;
	struct dirent *de;
	int64		total = 0;

	d = AllocateDir(path);
	while ((de = ReadDir(d, path)) != NULL)
	{
		char	   *sub;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = psprintf("%s/%s", path, de->d_name);
		if (lstat(sub, &st) == 0)
		{
			if (S_ISDIR(st.st_mode))
				total += backup_tree_size(sub);
			else if (S_ISREG(st.st_mode))
				total += st.st_size;
		}
		pfree(sub);
	}
	FreeDir(d);
	return total;
}

/* SHA-256 of a file as hex; *size gets its length. */
static char *
layout_sha256_file(const char *path, int64 *size)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_STRING_LENGTH);
	char	   *buf = palloc(65536);
	int			fd;
	ssize_t		n;
	int			i;

	*size = 0;
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256");
	while ((n = read(fd, buf, 65536)) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (pg_cryptohash_update(ctx, (uint8 *) buf, n) < 0)
			elog(ERROR, "could not compute SHA-256");
		*size += n;
	}
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	CloseTransientFile(fd);
	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	pfree(buf);
	return hex;
}

/*
 * Call 'file' for every regular file under root/rel (rel: a file or a
 * directory relative to root, or "" for root itself), depth first, and
 * 'dir' (if not NULL) for every directory once its contents are done.
 * Symbolic links are not followed; anything else is skipped.
 */
void
backup_walk_tree(const char *root, const char *rel, BackupWalkFn file,
				 BackupWalkFn dir, void *arg)
{
	char	   *path = rel[0] ? psprintf("%s/%s", root, rel) : pstrdup(root);
	struct stat st;

	CHECK_FOR_INTERRUPTS();
	if (lstat(path, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat \"%s\": %m", path)));
	if (S_ISDIR(st.st_mode))
	{
		DIR		   *d = AllocateDir(path);
		struct dirent *de;

		while ((de = ReadDir(d, path)) != NULL)
		{
			char	   *sub;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			sub = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
			backup_walk_tree(root, sub, file, dir, arg);
			pfree(sub);
		}
		FreeDir(d);
		if (dir != NULL)
			dir(path, rel, arg);
	}
	else if (S_ISREG(st.st_mode))
		file(path, rel, arg);
	pfree(path);
}

static void
layout_checksum_file(const char *path, const char *rel, void *arg)
{
	StringInfo	json = (StringInfo) arg;
	int64		size;
	char	   *hex = layout_sha256_file(path, &size);

	steward_json_add_object(json, rel);
	steward_json_add_int64(json, "size", size);
	steward_json_add_str(json, "sha256", hex);
	steward_json_end(json);
}

/*
 * Add "<path>": {size, sha256} of every file under root/sub (sub: a file or
 * a directory, relative to root) to an open JSON object.
 */
void
backup_checksum_tree(StringInfo json, const char *root, const char *sub)
{
	backup_walk_tree(root, sub, layout_checksum_file, NULL, json);
}

static void
layout_flush_file(const char *path, const char *rel, void *arg)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);

	if (fd >= 0)
	{
		pg_flush_data(fd, 0, 0);
		CloseTransientFile(fd);
	}
}

static void
layout_fsync_file(const char *path, const char *rel, void *arg)
{
	fsync_fname(path, false);
}

static void
layout_fsync_dir(const char *path, const char *rel, void *arg)
{
	fsync_fname(path, true);
}

/*
 * Make everything under 'path' durable: with 'flush_only', only start the
 * write-back of each file, so that a later call (without) that fsyncs every
 * file and directory finds most of it on disk already rather than waiting
 * for each file in turn.
 */
void
backup_sync_tree(const char *path, bool flush_only)
{
	if (flush_only)
		backup_walk_tree(path, "", layout_flush_file, NULL, NULL);
	else
		backup_walk_tree(path, "", layout_fsync_file, layout_fsync_dir, NULL);
}

static bool
layout_all_digits(const char *s, size_t len)
{
	size_t		i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * Remove <id>.partial and drill-<id> folders, and restore_logical()'s
 * drill-<id>-restore-<pid>.log* files, that no live operation owns: left
 * by a crash or an immediate shutdown.  'report': log each one.
 */
void
backup_remove_leftovers(const char *dir, bool report)
{
	DIR		   *d;
	struct dirent *de;

	d = AllocateDir(dir);
	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		const char *name = de->d_name;
		size_t		len = strlen(name);
		size_t		slen = strlen(BACKUP_PARTIAL_SUFFIX);
		size_t		plen = strlen(BACKUP_DRILL_PREFIX);
		const char *digits = NULL;
		size_t		ndigits = 0;

		if (len > slen && strcmp(name + len - slen, BACKUP_PARTIAL_SUFFIX) == 0)
		{
			digits = name;
			ndigits = len - slen;
		}
		else if (len > plen && strncmp(name, BACKUP_DRILL_PREFIX, plen) == 0)
		{
			const char *infix = strstr(name + plen, BACKUP_RESTORE_INFIX);

			digits = name + plen;
			ndigits = infix ? (size_t) (infix - digits) : len - plen;
		}
		if (digits == NULL || !layout_all_digits(digits, ndigits) || ndigits > 18)
			continue;
		if (steward_backup_active(steward_strtoi64(digits, NULL, 10)))
			continue;
		{
			char	   *path = psprintf("%s/%s", dir, name);
			struct stat st;
			bool		folder;
			bool		removed;

			folder = !(lstat(path, &st) == 0 && !S_ISDIR(st.st_mode));
			removed = folder ? rmtree(path, true) : unlink(path) == 0;
			if (removed && report && folder)
				ereport(LOG,
						(errmsg("pg_steward removed the unfinished backup folder \"%s\"", path),
						 errdetail("A backup or restore drill was interrupted (a crash or an immediate shutdown).")));
			else if (removed && report)
				ereport(LOG,
						(errmsg("pg_steward removed the file \"%s\" of an unfinished restore", path),
						 errdetail("A restore_logical() was interrupted (a crash or an immediate shutdown).")));
			else if (!removed)
				ereport(WARNING,
						(errmsg("could not remove \"%s\" of an unfinished backup operation", path)));
			pfree(path);
		}
	}
	FreeDir(d);
}

/* The first of unix_socket_directories, where the client programs connect. */
char *
backup_socket_dir(void)
{
	const char *dirs = GetConfigOption("unix_socket_directories", false, false);
	char	   *copy;
	char	   *comma;

	if (dirs == NULL || dirs[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backups need a Unix socket, but unix_socket_directories is empty")));
	copy = pstrdup(dirs);
	comma = strchr(copy, ',');
	if (comma)
		*comma = '\0';
	/* trim blanks and quotes of a list element */
	while (*copy == ' ' || *copy == '"')
		copy++;
	while (strlen(copy) > 0 &&
		   (copy[strlen(copy) - 1] == ' ' || copy[strlen(copy) - 1] == '"'))
		copy[strlen(copy) - 1] = '\0';
	if (copy[0] == '@')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("backups cannot use the abstract Unix socket \"%s\"", copy),
				 errhint("List a socket directory first in unix_socket_directories.")));
	return copy;
}

/* steward.backup_role, or the bootstrap superuser (in a transaction). */
char *
backup_role_name(void)
{
	if (steward_backup_role != NULL && steward_backup_role[0] != '\0')
		return pstrdup(steward_backup_role);
	return GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);
}
