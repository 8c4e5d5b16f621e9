/*-------------------------------------------------------------------------
 *
 * backup_int.h
 *	  What the backup files share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_BACKUP_INT_H
#define STEWARD_BACKUP_INT_H

#include "postgres.h"

#include <sys/stat.h>

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* Kinds of backups, also the lock kinds of their shared-memory slots. */
#define BACKUP_LOGICAL		1
#define BACKUP_PHYSICAL		2
/* one drill at a time (a drill may need as much room as a backup) */
#define BACKUP_LOCK_DRILL	3

/* Names in the backup directory (docs/backups.md, "Directory layout"). */
#define BACKUP_META_FILE	"backup.json"
#define BACKUP_PARTIAL_SUFFIX ".partial"
#define BACKUP_WAL_DIR		"wal"		/* reserved for WAL archiving */
#define BACKUP_DRILL_PREFIX "drill-"	/* a drill's scratch space */
/* restore_logical()'s log and table of contents: drill-<id>-restore-<pid>.log* */
#define BACKUP_RESTORE_INFIX "-restore-"
#define BACKUP_FORMAT_VERSION 1

/* What the worker is asked to do (api.c). */
typedef enum BackupAction
{
	BACKUP_ACT_BACKUP = 1,
	BACKUP_ACT_DRILL,
	BACKUP_ACT_RESTORE,
	BACKUP_ACT_CLEANUP			/* backup_rescan(): drop stale staging databases */
} BackupAction;

/* A backup to make: from backup_now() or a scheduled job. */
typedef struct BackupRequest
{
	int			kind;			/* BACKUP_LOGICAL or BACKUP_PHYSICAL */
	const char *label;			/* may be NULL */
	int64		job_id;			/* 0: backup_now() */
	const char *verify;			/* none, manifest or drill */
	int			slotno;			/* its shared-memory slot */
	int64		backup_id;		/* 0: claim a folder; else <id>.partial exists */
} BackupRequest;

/* child.c */
typedef struct BackupChild
{
	pid_t		pid;			/* also its process group */
	const char *name;
	const char *log_path;
	bool		running;
	int			status;			/* waitpid() status, -1 if unknown */
} BackupChild;

extern char *backup_program_path(const char *name);
extern void backup_child_start(BackupChild *c, char **argv, const char *out_path,
							   const char *log_path);
extern void backup_child_fork(BackupChild *c, const char *name, int in_fd, int out_fd,
							  const char *log_path, void (*main) (void *arg), void *arg);
extern bool backup_child_exited(BackupChild *c);
extern bool backup_child_wait(BackupChild *c, long timeout_ms);
extern bool backup_child_wait_fd(BackupChild *c, pgsocket fd, long timeout_ms);
extern void backup_child_check(BackupChild *c);
extern int	backup_child_exit_code(BackupChild *c, int *signo);
extern void backup_child_stop(BackupChild *c, int sig);
extern void backup_child_stop_all(void);
extern void backup_child_run(char **argv, const char *out_path, const char *log_path);
extern char *backup_log_tail(const char *path);

/* st_mtim and st_ctim are Linux's (and POSIX 2008's); seconds elsewhere */
#ifdef __linux__
#define BACKUP_MTIME(st)	((st)->st_mtim)
#define BACKUP_CTIME(st)	((st)->st_ctim)
#else
#define BACKUP_MTIME(st)	((struct timespec) {(st)->st_mtime, 0})
#define BACKUP_CTIME(st)	((struct timespec) {(st)->st_ctime, 0})
#endif

/* hasher.c */
typedef struct BackupHasher BackupHasher;

/* One file hashed (backup_hasher_next()). */
typedef struct BackupHashed
{
	const char *rel;			/* valid until the next call */
	int			err;			/* errno of what failed, 0: hashed */
	int64		size;			/* bytes read */
	struct stat st;				/* the file after it was read */
	char		sha256[65];		/* of the plaintext */
	/* sealing checksum processes (a key given to backup_hasher_start()) */
	int64		sealed_size;
	char		sealed_sha256[65];
	const char *errmsg;			/* err != 0: what failed, or "" */
} BackupHashed;

struct WalKey;
extern BackupHasher *backup_hasher_start(const char *dir, int nprocs, int nice,
										 const char *log_path,
										 const struct WalKey *seal_key);
extern void backup_hasher_add(BackupHasher *h, const char *rel, int64 size);
extern void backup_hasher_dispatch(BackupHasher *h);
extern char *backup_hasher_take(BackupHasher *h);
extern bool backup_hasher_busy(BackupHasher *h);
extern pgsocket backup_hasher_fd(BackupHasher *h);
extern bool backup_hasher_next(BackupHasher *h, BackupHashed *out);
extern void backup_hasher_wait(BackupHasher *h);
extern void backup_hasher_abandon(void);
extern void backup_hasher_stop(BackupHasher *h);

/* layout.c */
extern const char *backup_kind_name(int kind);
extern int	backup_kind_from_name(const char *name);
extern char *backup_directory_checked(int64 need_bytes);
extern int64 backup_claim_folder(const char *dir, char **partial);
extern char *backup_folder_path(int64 backup_id);
extern bool backup_folder_exists(int64 backup_id);
extern void backup_folder_complete(const char *dir, int64 backup_id);
extern void backup_remove_tree(const char *path);
extern void backup_set_scratch(const char *path);
extern void backup_abandon_scratch(void);
extern void backup_write_file(const char *path, const char *data, size_t len);
extern char *backup_read_file(const char *path, bool missing_ok);
extern int64 backup_tree_size(const char *path);
typedef void (*BackupWalkFn) (const char *path, const char *rel, void *arg);
extern void backup_walk_tree(const char *root, const char *rel, BackupWalkFn file,
							 BackupWalkFn dir, void *arg);
extern void backup_sync_tree(const char *path, bool flush_only);
extern void backup_checksum_tree(StringInfo json, const char *root, const char *sub);
extern void backup_remove_leftovers(const char *dir, bool report);

/* connection arguments of the client programs */
extern char *backup_socket_dir(void);
extern char *backup_role_name(void);

/* engine.c */
extern char *backup_conninfo(const char *host, int port, const char *user,
							 const char *dbname);
extern int64 backup_run(BackupRequest *req);
extern void backup_verify_manifest(int64 backup_id, StringInfo checks, bool *ok);
extern bool backup_checked_while_made(int64 backup_id, StringInfo checks);

/* verify.c: a physical backup checked (and sealed) while it is written */
typedef struct BackupVerifier BackupVerifier;

extern BackupVerifier *backup_verifier_begin(const char *data, const char *log_dir);
extern bool backup_verifier_encrypts(BackupVerifier *v);
extern pgsocket backup_verifier_fd(BackupVerifier *v);
extern void backup_verifier_poll(BackupVerifier *v);
extern void backup_verifier_finish(BackupVerifier *v, const char *log_dir,
								   StringInfo meta);
extern void backup_verifier_end(BackupVerifier *v);
extern void backup_verifier_abandon(void);
extern void backup_debug_pause(const char *activity);

/* drill.c */
extern void backup_drill(int64 backup_id, StringInfo checks, bool *ok);
extern void backup_restore_logical(int64 backup_id, const char *new_database,
								   Oid owner);
extern List *backup_stale_databases(MemoryContext mcxt, List **ids);
extern void backup_drop_stale_databases(void);

/* encrypt.c (issue 14: encryption at rest) */
extern bool backup_encrypt_tree(StringInfo meta, const char *partial,
								const char *const *subs);
extern bool backup_meta_encrypted(const char *meta);
extern void backup_encryption_check(const char *meta, int64 backup_id,
									StringInfo checks, bool *ok);
extern char *backup_plain_dump(int64 backup_id, const char *meta,
							   const char *scratch, StringInfo checks);
extern void backup_plain_data(int64 backup_id, const char *meta, const char *dst,
							  StringInfo checks, bool *ok);

/* catalog.c */
extern List *backup_catalog_mark_interrupted(void);
extern void backup_catalog_insert(int64 backup_id, int kind, const char *label,
								  int64 job_id);
extern bool backup_catalog_has(int64 backup_id);
extern void backup_catalog_finish(int64 backup_id, const char *meta_json,
								  const char *status, const char *message);
extern void backup_catalog_verified(int64 backup_id, bool deep, bool ok,
									const char *checks, int64 drill_ms);
extern char *backup_catalog_kind(int64 backup_id, char **database);
extern void backup_prune_kind(const char *kind, int keep_last,
							  const char *keep_within, StringInfo out_json);

/* api.c */
extern void backup_require_privilege(void);
extern void backup_drop_stale_in_worker(void);
extern void backup_checks_add(StringInfo checks, const char *name, bool ok,
							  const char *detail);

#endif							/* STEWARD_BACKUP_INT_H */
