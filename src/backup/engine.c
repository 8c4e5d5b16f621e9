/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  Making a backup: logical (pg_dumpall --globals-only, pg_dump -Fd)
 *	  or physical (pg_basebackup, checked against its manifest while it
 *	  runs: verify.c), its metadata, and the manifest check of a finished
 *	  backup.
 *
 * Called outside any transaction, connected to the database, in a runner
 * (the backup job kind) or in a backup worker (backup_now()).  Nothing is
 * marked good before the folder is complete, verified and renamed; on any
 * error the child groups are stopped, the .partial folder removed and the
 * catalog row marked failed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "tcop/cmdtag.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "archive/archive.h"
#include "backup/backup.h"
#include "backup/backup_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/shmem.h"
#include "core/spi_util.h"
#include "core/xact.h"

/* The application_name of the client programs' sessions (backup_conninfo). */
#define ENGINE_APPLICATION_NAME "pg_steward backup"

/* What a run learns about the server before it starts the programs. */
typedef struct BackupEnv
{
	char	   *dir;			/* backup directory, resolved */
	char	   *dbname;
	char	   *role;
	char	   *socket_dir;
	char	   *conninfo;		/* to this database */
} BackupEnv;

static void
engine_conn_add(StringInfo s, const char *key, const char *val)
{
	const char *p;

	appendStringInfo(s, "%s%s='", s->len > 0 ? " " : "", key);
	for (p = val; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(s, '\\');
		appendStringInfoChar(s, *p);
	}
	appendStringInfoChar(s, '\'');
}

/* A connection string over the Unix socket 'host' (all values quoted). */
char *
backup_conninfo(const char *host, int port, const char *user, const char *dbname)
{
	StringInfoData s;
	char		portstr[16];

	initStringInfo(&s);
	snprintf(portstr, sizeof(portstr), "%d", port);
	engine_conn_add(&s, "host", host);
	engine_conn_add(&s, "port", portstr);
	engine_conn_add(&s, "user", user);
	if (dbname != NULL)
		engine_conn_add(&s, "dbname", dbname);
	engine_conn_add(&s, "application_name", ENGINE_APPLICATION_NAME);
	return s.data;
}

static void
engine_env(BackupEnv *env, int kind)
{
	int64		need;
	bool		isnull;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backups are taken on the primary only")));
	steward_xact_begin();
	steward_spi_exec(kind == BACKUP_LOGICAL ?
					 "SELECT pg_catalog.pg_database_size(pg_catalog.current_database()) / 4" :
					 "SELECT pg_catalog.sum(pg_catalog.pg_database_size(oid))::bigint FROM pg_catalog.pg_database",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	need = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	env->dir = MemoryContextStrdup(TopMemoryContext, backup_directory_checked(need));
	env->dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	env->role = MemoryContextStrdup(TopMemoryContext, backup_role_name());
	env->socket_dir = MemoryContextStrdup(TopMemoryContext, backup_socket_dir());
	steward_xact_commit();
	env->conninfo = backup_conninfo(env->socket_dir, PostPortNumber, env->role,
									env->dbname);
}

static void
engine_env_free(BackupEnv *env)
{
	pfree(env->dir);
	pfree(env->dbname);
	pfree(env->role);
	pfree(env->socket_dir);
}

/* "key": "<lsn>" read from text like '"Start-LSN": "0/2000028"'. */
static char *
engine_find_value(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	const char *q;

	if (p == NULL)
		return NULL;
	p = strchr(p + strlen(key), ':');
	if (p == NULL)
		return NULL;
	p++;
	while (*p == ' ' || *p == '"')
		p++;
	q = p;
	while (*q && *q != '"' && *q != ',' && *q != ' ' && *q != '}' && *q != '\n')
		q++;
	return pnstrdup(p, q - p);
}

/*
 * Row counts of a logical backup.  pg_dump's own sessions report them: the
 * ProcessUtility hook calls backup_note_copy() after every statement, and
 * after a "COPY table TO stdout" of a session of the logical backup in
 * progress in its database it appends "<relid> <rows>" to the backup's
 * log/copy_rows.  Those are the rows the dump holds, read in its snapshot,
 * at no cost.  Tables without exactly one such line are counted by the
 * worker in the same snapshot after pg_dump is done.
 */
#define ENGINE_COPY_ROWS_FILE	"copy_rows"

/* A table of the dump and its row count. */
typedef struct EngineCount
{
	Oid			relid;
	const char *name;
	int64		rows;
	int			reported;		/* lines of copy_rows for it */
} EngineCount;

/* How long one try to count a table waits for its lock. */
#define ENGINE_COUNT_LOCK_MS	200

/* In pg_dump's sessions: report the rows of a COPY ... TO of a table. */
void
backup_note_copy(Node *parsetree, QueryCompletion *qc)
{
	CopyStmt   *stmt = (CopyStmt *) parsetree;
	int64		backup_id;
	Oid			relid;
	char	   *path;
	char		line[64];
	int			fd;

	if (!IsA(parsetree, CopyStmt) || qc == NULL || qc->commandTag != CMDTAG_COPY ||
		stmt->is_from || stmt->relation == NULL || stmt->query != NULL)
		return;
	if (application_name == NULL ||
		strcmp(application_name, ENGINE_APPLICATION_NAME) != 0)
		return;
	backup_id = steward_backup_running(BACKUP_LOGICAL, MyDatabaseId);
	if (backup_id == 0 || steward_backup_directory == NULL ||
		steward_backup_directory[0] == '\0')
		return;
	/* only the backup role's sessions: no one else can add a count */
	if (get_role_oid(backup_role_name(), true) != GetSessionUserId())
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	snprintf(line, sizeof(line), "%u " UINT64_FORMAT "\n", relid, qc->nprocessed);
	path = psprintf("%s/" INT64_FORMAT BACKUP_PARTIAL_SUFFIX "/log/" ENGINE_COPY_ROWS_FILE,
					steward_backup_directory, backup_id);

	/*
	 * The worker created the file; one short append is written whole.  A
	 * failure here only makes the worker count the table itself.
	 */
	fd = open(path, O_WRONLY | O_APPEND | PG_BINARY, 0);
	if (fd >= 0)
	{
		if (write(fd, line, strlen(line)) != (ssize_t) strlen(line))
			elog(DEBUG1, "could not append to \"%s\": %m", path);
		close(fd);
	}
	pfree(path);
}

/* Count one table's rows as its owner, waiting at most ENGINE_COUNT_LOCK_MS. */
static void
engine_count_one(void *arg)
{
	EngineCount *c = (EngineCount *) arg;
	StewardCatalogAccess acc;
	bool		isnull;
	int			level = steward_push_lock_timeout(ENGINE_COUNT_LOCK_MS);

	/* no parallel workers: a backup should not take every core */
	(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) steward_owner_enter(c->relid, &acc);
	steward_spi_exec(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s", c->name),
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	c->rows = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	steward_owner_exit(&acc);
	AtEOXact_GUC(true, level);
}

/* The tables pg_dump dumps and the worker counts, by name. */
static EngineCount *
engine_list_tables(int *ntables)
{
	EngineCount *t;
	uint64		i;

	steward_spi_exec("SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname)"
					 "  FROM pg_catalog.pg_class c"
					 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " WHERE c.relkind = 'r' AND c.relpersistence <> 't'"
					 "   AND n.nspname <> ALL ('{pg_catalog,information_schema}')"
					 "   AND n.nspname !~ '^pg_(toast|temp)'"
					 "   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d"
					 "                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					 "                      AND d.objid = c.oid AND d.deptype = 'e')"
					 " ORDER BY 2",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	*ntables = (int) SPI_processed;
	t = palloc0(sizeof(EngineCount) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		t[i].relid = DatumGetObjectId(steward_spi_getdatum(i, 1, &isnull));
		t[i].name = steward_spi_gettext(i, 2);
	}
	return t;
}

static int
engine_count_cmp(const void *a, const void *b)
{
	Oid			x = (*(EngineCount *const *) a)->relid;
	Oid			y = (*(EngineCount *const *) b)->relid;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Take the counts pg_dump's sessions reported into 'tables'. */
static void
engine_read_copy_rows(const char *path, EngineCount *tables, int ntables)
{
	char	   *text = backup_read_file(path, true);
	EngineCount **byrel;
	char	   *line;
	int			i;

	if (text == NULL || ntables == 0)
		return;
	byrel = palloc(sizeof(EngineCount *) * ntables);
	for (i = 0; i < ntables; i++)
		byrel[i] = &tables[i];
	qsort(byrel, ntables, sizeof(EngineCount *), engine_count_cmp);
	for (line = text; *line != '\0';)
	{
		char	   *nl = strchr(line, '\n');
		char	   *end;
		EngineCount key;
		EngineCount *keyp = &key;
		EngineCount **found;
		unsigned long relid;
		int64		rows;

		if (nl == NULL)
			break;				/* an unfinished line: not trusted */
		*nl = '\0';
		errno = 0;
		relid = strtoul(line, &end, 10);
		if (errno == 0 && *end == ' ')
		{
			rows = steward_strtoi64(end + 1, &end, 10);
			key.relid = (Oid) relid;
			found = bsearch(&keyp, byrel, ntables, sizeof(EngineCount *), engine_count_cmp);
			if (errno == 0 && *end == '\0' && rows >= 0 && found != NULL)
			{
				(*found)->rows = rows;
				(*found)->reported++;
			}
		}
		line = nl + 1;
	}
	pfree(byrel);
	pfree(text);
}

/*
 * Every table's row count into the metadata, in the current (dump)
 * snapshot, after pg_dump: as its sessions reported them, else counted
 * here, as the table's owner (a table locked by someone else is retried
 * every ENGINE_COUNT_LOCK_MS).
 */
static void
engine_count_rows(StringInfo meta, EngineCount *tables, int ntables)
{
	int			i;
	int			counted = 0;

	for (i = 0; i < ntables; i++)
	{
		EngineCount *c = &tables[i];

		if (c->reported == 1)
			continue;
		for (;;)
		{
			ErrorData  *edata;

			CHECK_FOR_INTERRUPTS();
			edata = steward_in_subxact(engine_count_one, c);
			if (edata == NULL)
				break;
			if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
				ReThrowError(edata);
			FreeErrorData(edata);
		}
		counted++;
	}
	steward_json_add_object(meta, "tables");
	for (i = 0; i < ntables; i++)
		steward_json_add_int64(meta, tables[i].name, tables[i].rows);
	steward_json_end(meta);
	/* how many were counted apart from pg_dump (normally none) */
	steward_json_add_int64(meta, "tables_counted_apart", counted);
}

/* pg_current_wal_lsn() and the current timeline, into the metadata. */
static void
engine_add_lsn(StringInfo meta, const char *key)
{
	XLogRecPtr	lsn = GetXLogInsertRecPtr();

	steward_json_add_str(meta, key, psprintf("%X/%X", LSN_FORMAT_ARGS(lsn)));
}

/* Logical: globals, then the database in directory format. */
static void
engine_logical(BackupEnv *env, const char *partial, StringInfo meta)
{
	char	   *log = psprintf("%s/log/pg_dump.log", partial);
	char	   *globals = psprintf("%s/globals.sql", partial);
	char	   *all_conn = backup_conninfo(env->socket_dir, PostPortNumber, env->role,
										   "postgres");
	char	   *copy_rows = psprintf("%s/log/" ENGINE_COPY_ROWS_FILE, partial);
	char	   *snapshot;
	BackupChild c;
	EngineCount *tables;
	int			ntables;
	int			code,
				signo;

	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: pg_dumpall --globals-only");
	backup_child_run((char *[]) {backup_program_path("pg_dumpall"), "--globals-only",
			"--no-password", "-d", all_conn, "-f", globals, NULL},
					 NULL, psprintf("%s/log/pg_dumpall.log", partial));
	fsync_fname(globals, false);

	/*
	 * pg_dump reads the exported snapshot of this transaction, which stays
	 * open until the rows are counted; its sessions report the rows they
	 * dump into copy_rows (backup_note_copy()).
	 */
	backup_write_file(copy_rows, "", 0);
	StartTransactionCommand();
	XactIsoLevel = XACT_REPEATABLE_READ;
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	steward_spi_exec("SELECT pg_catalog.pg_export_snapshot()", SPI_OK_SELECT,
					 0, NULL, NULL, NULL);
	snapshot = steward_spi_gettext(0, 1);
	engine_add_lsn(meta, "start_lsn");

	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: pg_dump");
	backup_child_start(&c, (char *[]) {backup_program_path("pg_dump"), "-Fd",
			"-j", psprintf("%d", steward_backup_jobs), "-Z", "1", "--no-password",
			"--snapshot", snapshot, "-f", psprintf("%s/dump", partial),
			"-d", env->conninfo, NULL},
					   NULL, log);
	tables = engine_list_tables(&ntables);
	(void) backup_child_wait(&c, -1);
	code = backup_child_exit_code(&c, &signo);
	if (code != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 signo ? errmsg("pg_dump was terminated by signal %d", signo)
				 : errmsg("pg_dump failed with exit code %d", code),
				 errdetail("%s", backup_log_tail(log))));
	engine_read_copy_rows(copy_rows, tables, ntables);
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: row counts");
	engine_count_rows(meta, tables, ntables);
	engine_add_lsn(meta, "stop_lsn");
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();

	/* the table of contents must read back */
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: pg_restore --list");
	backup_child_run((char *[]) {backup_program_path("pg_restore"), "--list",
			psprintf("%s/dump", partial), NULL},
					 "/dev/null", psprintf("%s/log/pg_restore_list.log", partial));

	/* hashing needs a resource owner: a transaction */
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: checksums");
	StartTransactionCommand();
	/* issue 14: with a key, the files are sealed and their checksums taken */
	if (!backup_encrypt_tree(meta, partial, (const char *const[]) {"globals.sql", "dump", NULL}))
	{
		steward_json_add_object(meta, "files");
		backup_checksum_tree(meta, partial, "globals.sql");
		backup_checksum_tree(meta, partial, "dump");
		steward_json_end(meta);
	}
	CommitTransactionCommand();
}

/*
 * Physical: pg_basebackup, plain format, SHA-256 manifest; every file is
 * checked against the manifest (and, with a key, sealed) as soon as
 * pg_basebackup has closed it, the rest when it has finished (verify.c).
 */
static void
engine_physical(BackupEnv *env, const char *partial, const char *label,
				StringInfo meta)
{
	char	   *data = psprintf("%s/data", partial);
	char	   *manifest;
	char	   *v;
	BackupVerifier *ver = backup_verifier_begin(data, psprintf("%s/log", partial));
	BackupChild c;

	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: pg_basebackup");
	/*
	 * Encrypted, the plaintext files are replaced as they come: syncing them
	 * is wasted; the sealed files are synced before the folder is renamed.
	 */
	backup_child_start(&c, (char *[]) {backup_program_path("pg_basebackup"),
			"-d", env->conninfo, "-D", data, "-Fp", "-X", "stream",
			"-c", "fast", "--manifest-checksums=SHA256", "--no-password",
			"-l", (char *) (label ? label : "pg_steward"),
			backup_verifier_encrypts(ver) ? "--no-sync" : NULL, NULL},
					   NULL, psprintf("%s/log/pg_basebackup.log", partial));
	while (!backup_child_wait_fd(&c, backup_verifier_fd(ver), -1))
		backup_verifier_poll(ver);
	backup_child_check(&c);

	manifest = backup_read_file(psprintf("%s/backup_manifest", data), false);
	if ((v = engine_find_value(manifest, "\"Start-LSN\"")) != NULL)
		steward_json_add_str(meta, "start_lsn", v);
	if ((v = engine_find_value(manifest, "\"End-LSN\"")) != NULL)
		steward_json_add_str(meta, "stop_lsn", v);
	if ((v = engine_find_value(manifest, "\"Timeline\"")) != NULL)
		steward_json_add_int64(meta, "timeline", steward_strtoi64(v, NULL, 10));
	pfree(manifest);

	backup_verifier_finish(ver, psprintf("%s/log", partial), meta);
	backup_verifier_end(ver);
	steward_json_add_str(meta, "manifest_checksums", "SHA256");
}

/* Cleanup after an error of a run: no child, no .partial folder. */
static void
engine_cleanup(int code, Datum arg)
{
	backup_child_stop_all();
	backup_verifier_abandon();
	backup_abandon_scratch();
}

/*
 * Make one backup; returns its id.  Errors are recorded in the catalog
 * (when the row exists) and rethrown.
 */
int64
backup_run(BackupRequest *req)
{
	BackupEnv	env;
	char	   *partial = NULL;
	int64		backup_id;
	StringInfoData meta;
	TimestampTz started;
	MemoryContext mcxt = CurrentMemoryContext;
	volatile bool have_row = false;

	engine_env(&env, req->kind);
	if (req->backup_id != 0)
	{
		backup_id = req->backup_id;
		partial = psprintf("%s/" INT64_FORMAT BACKUP_PARTIAL_SUFFIX, env.dir, backup_id);
	}
	else
	{
		steward_xact_begin();
		MemoryContextSwitchTo(mcxt);
		backup_id = backup_claim_folder(env.dir, &partial);
		steward_xact_commit();
		MemoryContextSwitchTo(mcxt);
	}
	backup_set_scratch(partial);
	steward_backup_set_id(req->slotno, backup_id);
	started = GetCurrentTimestamp();

	PG_TRY();
	{
		PG_ENSURE_ERROR_CLEANUP(engine_cleanup, (Datum) 0);
		{
			if (MakePGDirectory(psprintf("%s/log", partial)) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create folder \"%s/log\": %m", partial)));
			steward_xact_begin();
			backup_catalog_insert(backup_id, req->kind, req->label, req->job_id);
			steward_xact_commit();
			have_row = true;
			MemoryContextSwitchTo(mcxt);

			initStringInfo(&meta);
			steward_json_begin(&meta);
			steward_json_add_int64(&meta, "format", BACKUP_FORMAT_VERSION);
			steward_json_add_int64(&meta, "backup_id", backup_id);
			steward_json_add_str(&meta, "kind", backup_kind_name(req->kind));
			steward_json_add_str(&meta, "database", env.dbname);
			steward_json_add_str(&meta, "label", req->label);
			steward_json_add_str(&meta, "started_at", timestamptz_to_str(started));
			steward_json_add_str(&meta, "server_version", PG_VERSION);
			steward_json_add_int64(&meta, "server_version_num", PG_VERSION_NUM);
			steward_json_add_str(&meta, "system_identifier",
								 psprintf(UINT64_FORMAT, GetSystemIdentifier()));
			steward_json_add_str(&meta, "backup_role", env.role);
			if (req->job_id != 0)
				steward_json_add_int64(&meta, "job_id", req->job_id);
			if (req->kind == BACKUP_LOGICAL)
			{
				steward_json_add_int64(&meta, "timeline", steward_wal_timeline());
				engine_logical(&env, partial, &meta);
			}
			else
				engine_physical(&env, partial, req->label, &meta);
			MemoryContextSwitchTo(mcxt);
			steward_json_add_str(&meta, "finished_at",
								 timestamptz_to_str(GetCurrentTimestamp()));
			steward_json_add_int64(&meta, "size_bytes", backup_tree_size(partial));
			steward_json_add_str(&meta, "status", "succeeded");
			steward_json_end(&meta);
			backup_write_file(psprintf("%s/%s", partial, BACKUP_META_FILE),
							  meta.data, meta.len);
			backup_folder_complete(env.dir, backup_id);

			steward_xact_begin();
			backup_catalog_finish(backup_id, meta.data, "succeeded", NULL);
			steward_xact_commit();
		}
		PG_END_ENSURE_ERROR_CLEANUP(engine_cleanup, (Datum) 0);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();

		/*
		 * A cancel that comes now (a backup worker's SIGTERM, when a child
		 * failed first) waits until the failure is recorded.
		 */
		HOLD_CANCEL_INTERRUPTS();
		engine_cleanup(0, (Datum) 0);
		if (have_row)
		{
			steward_xact_begin();
			backup_catalog_finish(backup_id, NULL, "failed",
								  edata->sqlerrcode == ERRCODE_QUERY_CANCELED ?
								  "backup was cancelled" :
								  edata->detail ? psprintf("%s: %s", edata->message, edata->detail) :
								  edata->message);
			steward_xact_commit();
		}
		RESUME_CANCEL_INTERRUPTS();
		MemoryContextSwitchTo(mcxt);
		ReThrowError(edata);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(mcxt);
	engine_env_free(&env);
	return backup_id;
}

/*
 * A physical backup made by this build was checked against its manifest
 * while it was written (verify.c), and is not marked good otherwise.  The
 * scheduled job's "manifest" verification of the backup it has just made
 * records that check instead of reading every file again.  Returns false
 * (nothing added) when the metadata does not record it.
 */
bool
backup_checked_while_made(int64 backup_id, StringInfo checks)
{
	char	   *meta_text = backup_read_file(psprintf("%s/%s", backup_folder_path(backup_id),
													  BACKUP_META_FILE), true);
	bool		isnull;
	Datum		files;

	if (meta_text == NULL)
		return false;
	steward_spi_exec("SELECT ($1::pg_catalog.jsonb -> 'manifest_verified' ->> 'files')::bigint",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID},
					 (Datum[]) {CStringGetTextDatum(meta_text)}, NULL);
	files = steward_spi_getdatum(0, 1, &isnull);
	if (isnull)
		return false;
	backup_checks_add(checks, "manifest", true,
					  psprintf("every file (" INT64_FORMAT ") and the WAL were checked against the backup manifest while the backup was made",
							   DatumGetInt64(files)));
	return true;
}

/*
 * The check of a finished backup against what it recorded: its metadata
 * reads, every file's size and SHA-256 (logical: the dump and globals;
 * physical: pg_verifybackup, which checks every file against the backup
 * manifest, and the manifest itself), and the folder is complete.
 */
void
backup_verify_manifest(int64 backup_id, StringInfo checks, bool *ok)
{
	char	   *folder = backup_folder_path(backup_id);
	char	   *meta_text = backup_read_file(psprintf("%s/%s", folder, BACKUP_META_FILE), true);
	StringInfoData now;
	bool		isnull;
	bool		kind_physical;
	bool		encrypted;

	*ok = true;
	if (meta_text == NULL)
	{
		backup_checks_add(checks, "metadata", false,
						  psprintf("%s/%s is missing", folder, BACKUP_META_FILE));
		*ok = false;
		return;
	}
	steward_spi_exec("SELECT ($1::pg_catalog.jsonb ->> 'kind') = 'physical',"
					 "       ($1::pg_catalog.jsonb -> 'files') IS NOT NULL",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID},
					 (Datum[]) {CStringGetTextDatum(meta_text)}, NULL);
	kind_physical = DatumGetBool(steward_spi_getdatum(0, 1, &isnull));
	backup_checks_add(checks, "metadata", true, BACKUP_META_FILE " reads");
	encrypted = backup_meta_encrypted(meta_text);	/* issue 14 */

	/* the files as they are now, compared with the checksums recorded */
	initStringInfo(&now);
	steward_json_begin(&now);
	if (kind_physical)
		backup_checksum_tree(&now, folder, encrypted ? "data" : "data/backup_manifest");
	else
	{
		struct stat st;

		if (stat(psprintf("%s/globals.sql", folder), &st) == 0)
			backup_checksum_tree(&now, folder, "globals.sql");
		if (stat(psprintf("%s/dump", folder), &st) == 0)
			backup_checksum_tree(&now, folder, "dump");
	}
	steward_json_end(&now);
	steward_spi_exec("SELECT pg_catalog.count(*),"
					 "       pg_catalog.string_agg(COALESCE(r.key, n.key), ', ' ORDER BY COALESCE(r.key, n.key))"
					 "  FROM pg_catalog.jsonb_each($1::pg_catalog.jsonb -> 'files') r"
					 "  FULL JOIN pg_catalog.jsonb_each($2::pg_catalog.jsonb) n ON n.key = r.key"
					 " WHERE r.value IS DISTINCT FROM n.value",
					 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID},
					 (Datum[]) {CStringGetTextDatum(meta_text), CStringGetTextDatum(now.data)},
					 NULL);
	if (DatumGetInt64(steward_spi_getdatum(0, 1, &isnull)) == 0)
		backup_checks_add(checks, "checksums", true,
						  kind_physical && !encrypted ? "backup_manifest matches its SHA-256"
						  : "every file matches its size and SHA-256");
	else
	{
		backup_checks_add(checks, "checksums", false,
						  psprintf("changed, missing or unexpected: %s",
								   steward_spi_gettext(0, 2)));
		*ok = false;
	}

	/* issue 14: sealed files are read back by a deep verify (the drill) */
	if (encrypted)
		backup_encryption_check(meta_text, backup_id, checks, ok);
	if (kind_physical && !encrypted)
	{
		char	   *log = psprintf("%s/%s" INT64_FORMAT "-verify.log",
								   steward_backup_directory, BACKUP_DRILL_PREFIX, backup_id);
		BackupChild c;
		int			code,
					signo;

		backup_child_start(&c, (char *[]) {backup_program_path("pg_verifybackup"),
				"-q", psprintf("%s/data", folder), NULL}, NULL, log);
		(void) backup_child_wait(&c, -1);
		code = backup_child_exit_code(&c, &signo);
		if (code == 0)
			backup_checks_add(checks, "manifest", true,
							  "pg_verifybackup: every file and the WAL match the backup manifest");
		else
		{
			backup_checks_add(checks, "manifest", false,
							  psprintf("pg_verifybackup: %s", backup_log_tail(log)));
			*ok = false;
		}
		unlink(log);
	}
	/* issue 14: archived WAL from the backup's start on has no gap */
	if (kind_physical)
		steward_wal_check_continuity(meta_text, checks, ok);
	else if (!encrypted)
	{
		char	   *log = psprintf("%s/%s" INT64_FORMAT "-verify.log",
								   steward_backup_directory, BACKUP_DRILL_PREFIX, backup_id);
		BackupChild c;
		int			code,
					signo;

		backup_child_start(&c, (char *[]) {backup_program_path("pg_restore"),
				"--list", psprintf("%s/dump", folder), NULL}, "/dev/null", log);
		(void) backup_child_wait(&c, -1);
		code = backup_child_exit_code(&c, &signo);
		if (code == 0)
			backup_checks_add(checks, "toc", true, "pg_restore reads the table of contents");
		else
		{
			backup_checks_add(checks, "toc", false,
							  psprintf("pg_restore --list: %s", backup_log_tail(log)));
			*ok = false;
		}
		unlink(log);
	}
}
