/*-------------------------------------------------------------------------
 *
 * encrypt.c
 *	  Encryption at rest of backups (issue 14): sealing every file of a
 *	  finished <id>.partial folder before it is renamed, and the plaintext
 *	  copies the restore paths work from.
 *
 * With steward.backup_encryption_key_file set, each data file of a backup
 * (logical: globals.sql and dump/; physical: everything under data/) is
 * sealed with AES-256-GCM into "<file>.steward-seal" (crypt.c: its own
 * nonce and tag, the format of encrypted archived WAL) and renamed over the
 * plaintext file; then every sealed file and every directory is fsynced,
 * all before the folder is renamed to <id>.  A logical backup is sealed
 * here, after pg_dump; a physical one file by file while pg_basebackup
 * runs, in the read that checks it against the manifest (verify.c).  The SHA-256 of the
 * sealed files, computed while they are written, are the backup's
 * checksums.  backup.json stays plaintext: it holds no table contents, and
 * retention, rescan and pg_steward_restore read it without a key; it
 * records "encryption" and "encryption_key_id".  log/ stays plaintext too
 * (the programs' stderr).
 *
 * Restores never decrypt in place: restore_logical() and the logical drill
 * decrypt the dump into drill-<id>/ (0700, removed afterwards, and at the
 * next start after a crash), the physical drill decrypts data/ into its
 * copy and checks it with pg_verifybackup before it starts a server on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/copydir.h"
#include "storage/fd.h"

#include "archive/archive.h"
#include "archive/crypt.h"
#include "backup/backup_int.h"
#include "core/guc.h"
#include "core/json.h"

typedef struct EncryptSeal
{
	StringInfo	json;
	const WalKey *key;
} EncryptSeal;

/* seals one file; 'rel' (relative to the folder) names it in the JSON */
static void
encrypt_seal_file(const char *path, const char *rel, void *arg)
{
	EncryptSeal *es = (EncryptSeal *) arg;
	char	   *temp = psprintf("%s%s", path, CRYPT_TEMP_SUFFIX);
	char		hex[CRYPT_SHA256_HEX];
	int64		size;
	char	   *err = crypt_seal_file(path, temp, es->key, hex, &size, false);

	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not encrypt the backup"),
				 errdetail("%s.", err)));
	/* the sealed file replaces the plaintext one */
	if (rename(temp, path) != 0)
	{
		int			save = errno;

		(void) unlink(temp);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m", temp, path)));
	}
	steward_json_add_object(es->json, rel);
	steward_json_add_int64(es->json, "size", size);
	steward_json_add_str(es->json, "sha256", hex);
	steward_json_end(es->json);
	pfree(temp);
}

/*
 * Without a key: false, nothing done.  With one: seals every file under
 * partial/<subs...>, adds "encryption", "encryption_key_id" and "files" (the
 * sealed files' sizes and SHA-256) to the metadata, and returns true.
 * Needs a transaction (the directory reads).
 */
bool
backup_encrypt_tree(StringInfo meta, const char *partial, const char *const *subs)
{
	WalKey	   *keys;
	bool		current;
	int			nkeys = steward_wal_keys(&keys, &current);
	int			i;
	EncryptSeal es;

	if (!current)
	{
		if (nkeys > 0)
			explicit_bzero(keys, sizeof(WalKey) * nkeys);
		return false;
	}
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: encrypting");
	steward_json_add_str(meta, "encryption", CRYPT_ALGORITHM);
	steward_json_add_str(meta, "encryption_key_id", walfile_key_id_hex(keys[0].id));
	steward_json_add_object(meta, "files");
	es.json = meta;
	es.key = &keys[0];
	for (i = 0; subs[i] != NULL; i++)
		backup_walk_tree(partial, subs[i], encrypt_seal_file, NULL, &es);
	steward_json_end(meta);
	for (i = 0; subs[i] != NULL; i++)
		backup_sync_tree(psprintf("%s/%s", partial, subs[i]), false);
	fsync_fname(partial, true);
	explicit_bzero(keys, sizeof(WalKey) * nkeys);
	return true;
}

/* Whether backup.json says the backup is encrypted. */
bool
backup_meta_encrypted(const char *meta)
{
	return meta != NULL && walfile_json_field(meta, "encryption") != NULL;
}

/*
 * The keys to read an encrypted backup with; an error that names the key id
 * when its key is not configured (nothing is restored then).
 */
static int
encrypt_keys_for(const char *meta, int64 backup_id, WalKey **keys)
{
	bool		current;
	int			nkeys = steward_wal_keys(keys, &current);
	char	   *id = walfile_json_field(meta, "encryption_key_id");
	int			i;

	for (i = 0; id != NULL && i < nkeys; i++)
		if (strcmp(walfile_key_id_hex((*keys)[i].id), id) == 0)
			return nkeys;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("backup " INT64_FORMAT " is encrypted with a key that is not configured",
					backup_id),
			 errdetail("Its key id is %s; %s.", id ? id : "unknown",
					   nkeys == 0 ? "no key is configured" :
					   "neither steward.backup_encryption_key_file nor steward.backup_encryption_old_key_files holds that key"),
			 errhint("Add the key file it was made with to steward.backup_encryption_old_key_files.")));
	return 0;					/* keep the compiler quiet */
}

/* Decrypts the tree 'src' into the new folder 'dst'. */
static void
encrypt_unseal_tree(const char *src, const char *dst, const WalKey *keys, int nkeys,
					int64 backup_id)
{
	DIR		   *d;
	struct dirent *de;

	if (MakePGDirectory(dst) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create folder \"%s\": %m", dst)));
	d = AllocateDir(src);
	while ((de = ReadDir(d, src)) != NULL)
	{
		char	   *from;
		char	   *to;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		from = psprintf("%s/%s", src, de->d_name);
		to = psprintf("%s/%s", dst, de->d_name);
		if (lstat(from, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", from)));
		if (S_ISDIR(st.st_mode))
			encrypt_unseal_tree(from, to, keys, nkeys, backup_id);
		else if (S_ISREG(st.st_mode))
		{
			char	   *err = crypt_unseal_file(from, to, keys, nkeys);

			if (err)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("could not decrypt backup " INT64_FORMAT, backup_id),
						 errdetail("%s.", err),
						 errhint("Nothing was restored from it.")));
		}
		pfree(from);
		pfree(to);
	}
	FreeDir(d);
	fsync_fname(dst, true);
}

/* Whether the backup's key is configured (backup_verify without deep). */
void
backup_encryption_check(const char *meta, int64 backup_id, StringInfo checks, bool *ok)
{
	WalKey	   *keys;
	bool		current;
	int			nkeys = steward_wal_keys(&keys, &current);
	char	   *id = walfile_json_field(meta, "encryption_key_id");
	int			i;

	for (i = 0; id != NULL && i < nkeys; i++)
		if (strcmp(walfile_key_id_hex(keys[i].id), id) == 0)
			break;
	if (id != NULL && i < nkeys)
		backup_checks_add(checks, "encryption", true,
						  psprintf(CRYPT_ALGORITHM "; the key (id %s) is configured; the contents are checked by a deep verify",
								   id));
	else
	{
		backup_checks_add(checks, "encryption", false,
						  psprintf(CRYPT_ALGORITHM "; the key (id %s) is not configured: the backup cannot be restored",
								   id ? id : "unknown"));
		*ok = false;
	}
	if (nkeys > 0)
		explicit_bzero(keys, sizeof(WalKey) * nkeys);
}

/*
 * The dump folder to run pg_restore on: the backup's own, or, when it is
 * encrypted, a plaintext copy decrypted into scratch/dump.  The drill
 * passes its checks and its scratch folder; restore_logical() passes none,
 * and scratch is then created here (it fails if it exists) and registered
 * for removal on error; the caller removes it when done.
 */
char *
backup_plain_dump(int64 backup_id, const char *meta, const char *scratch,
				  StringInfo checks)
{
	char	   *src = psprintf("%s/dump", backup_folder_path(backup_id));
	char	   *dst = psprintf("%s/dump", scratch);
	WalKey	   *keys;
	int			nkeys;

	if (!backup_meta_encrypted(meta))
		return src;
	nkeys = encrypt_keys_for(meta, backup_id, &keys);
	if (checks == NULL)			/* restore_logical(): a folder of its own */
	{
		if (MakePGDirectory(scratch) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create folder \"%s\": %m", scratch),
					 errhint("A drill or a restore of this backup may be running.")));
		backup_set_scratch(scratch);
	}
	pgstat_report_activity(STATE_RUNNING, "pg_steward: decrypting the backup");
	encrypt_unseal_tree(src, dst, keys, nkeys, backup_id);
	explicit_bzero(keys, sizeof(WalKey) * nkeys);
	if (checks)
		backup_checks_add(checks, "decrypt", true,
						  "every file of the dump decrypts and authenticates");
	return dst;
}

/*
 * The physical drill's copy of data/: copied, or decrypted and then checked
 * with pg_verifybackup (which cannot read the sealed files in place).
 */
void
backup_plain_data(int64 backup_id, const char *meta, const char *dst,
				  StringInfo checks, bool *ok)
{
	char	   *src = psprintf("%s/data", backup_folder_path(backup_id));
	char	   *log;
	WalKey	   *keys;
	int			nkeys;
	BackupChild c;
	int			code,
				signo;

	if (!backup_meta_encrypted(meta))
	{
		copydir(src, (char *) dst, true);
		return;
	}
	nkeys = encrypt_keys_for(meta, backup_id, &keys);
	pgstat_report_activity(STATE_RUNNING, "pg_steward drill: decrypting the backup");
	encrypt_unseal_tree(src, dst, keys, nkeys, backup_id);
	explicit_bzero(keys, sizeof(WalKey) * nkeys);
	backup_checks_add(checks, "decrypt", true, "every file decrypts and authenticates");

	log = psprintf("%s.verify.log", dst);
	backup_child_start(&c, (char *[]) {backup_program_path("pg_verifybackup"), "-q",
			(char *) dst, NULL}, NULL, log);
	(void) backup_child_wait(&c, -1);
	code = backup_child_exit_code(&c, &signo);
	if (code == 0)
		backup_checks_add(checks, "manifest", true,
						  "pg_verifybackup of the decrypted copy: every file and the WAL match the backup manifest");
	else
	{
		backup_checks_add(checks, "manifest", false,
						  psprintf("pg_verifybackup of the decrypted copy: %s", backup_log_tail(log)));
		*ok = false;
	}
	unlink(log);
}
