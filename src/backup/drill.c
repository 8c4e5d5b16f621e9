/*-------------------------------------------------------------------------
 *
 * drill.c
 *	  Restore drills (backup_verify(id, deep => true)) and
 *	  steward.restore_logical().
 *
 * A logical drill restores the dump into a scratch database, counts each
 * table's rows there and compares them with the counts taken in the dump's
 * snapshot, then drops the database.  A physical drill copies the backup's
 * data directory into drill-<id>/ in the backup directory (the backup
 * itself is never written to), starts a throwaway postmaster on it as the
 * server's own OS user, listening only on a Unix socket in a private
 * directory (listen_addresses = '', no preloaded libraries, trust on that
 * socket only), waits until it has recovered to a consistent state and
 * accepts a query, stops it and removes the copy.  Both run in a backup
 * worker, outside any transaction (CREATE DATABASE), as child processes
 * that a cancel or shutdown stops.
 *
 * Databases are restored into under a staging name that embeds the pid
 * of the process restoring (a backup worker, or the runner of a backup job
 * that drills), steward_drill_<id>_<pid> or steward_restore_<id>_<pid>,
 * as templates.  restore_logical() gives its database the caller's name
 * only once it is complete, so a crash never leaves a half-restored
 * database under that name; what a crash leaves (a staging template whose
 * pid is no live backend's) is dropped at the start of the next drill or
 * restore, and by backup_rescan().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "archive/archive.h"
#include "backup/backup_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/spi_util.h"
#include "scheduler/job_runner.h"

/* Staging databases: <prefix><backup id>_<pid of the worker> */
#define DRILL_STAGING_RESTORE	"steward_restore_"
#define DRILL_STAGING_DRILL		"steward_drill_"

/* How long a drill instance may take to become consistent. */
#define DRILL_START_TIMEOUT_MS	(30 * 60 * 1000)

/* The query both drills count rows with: the tables pg_dump dumps. */
#define DRILL_COUNT_SQL \
	"SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)," \
	" (pg_catalog.xpath('/row/c/text()', pg_catalog.query_to_xml(pg_catalog.format(" \
	"   'SELECT pg_catalog.count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text" \
	"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace" \
	" WHERE c.relkind = 'r' AND c.relpersistence <> 't'" \
	"   AND n.nspname <> ALL ('{pg_catalog,information_schema}') AND n.nspname !~ '^pg_(toast|temp)'" \
	"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d" \
	"                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"                      AND d.objid = c.oid AND d.deptype = 'e')" \
	" ORDER BY 1"

typedef struct DrillEnv
{
	char	   *role;
	char	   *socket_dir;
	char	   *meta;			/* backup.json */
	char	   *kind;
	char	   *owner_name;		/* restore_logical: the new database's owner */
} DrillEnv;

static void
drill_env(DrillEnv *env, int64 backup_id, Oid owner)
{
	MemoryContext old;

	steward_xact_begin();
	old = MemoryContextSwitchTo(TopMemoryContext);
	env->kind = backup_catalog_kind(backup_id, NULL);
	env->role = backup_role_name();
	env->socket_dir = backup_socket_dir();
	env->meta = backup_read_file(psprintf("%s/%s", backup_folder_path(backup_id),
										  BACKUP_META_FILE), false);
	env->owner_name = OidIsValid(owner) ? GetUserNameFromId(owner, false) : NULL;
	MemoryContextSwitchTo(old);
	steward_xact_commit();
}

static bool
drill_database_exists(const char *name)
{
	bool		exists;

	StartTransactionCommand();
	exists = OidIsValid(get_database_oid(name, true));
	CommitTransactionCommand();
	return exists;
}

/*
 * CREATE DATABASE ... TEMPLATE template0 (an existing name fails here).
 *
 * It is created as a template: the launcher never starts a scheduler in a
 * template database, so the jobs that pg_restore brings back with
 * pg_steward's tables cannot run there while the restore goes on, nor
 * ever in a drill's scratch database; a template is also what marks a
 * staging database as ours when a crash leaves it behind.
 * restore_logical() disables the jobs (drill_disable_jobs()) and makes the
 * database an ordinary one as it renames it (drill_publish()).
 */
static void
drill_create(DrillEnv *env, const char *dbname)
{
	if (env->owner_name)
		steward_exec_toplevel(psprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0 IS_TEMPLATE true",
									   quote_identifier(dbname),
									   quote_identifier(env->owner_name)));
	else
		steward_exec_toplevel(psprintf("CREATE DATABASE %s TEMPLATE template0 IS_TEMPLATE true",
									   quote_identifier(dbname)));
}

/*
 * The jobs restored with a database (not the built-in ones its CREATE
 * EXTENSION made) are disabled while it is still a template, so a
 * scheduler started there once it is an ordinary database runs none of
 * them until their owners enable them again.
 */
static void
drill_disable_jobs(DrillEnv *env, const char *dbname, const char *log)
{
	pgstat_report_activity(STATE_RUNNING, "pg_steward: disabling restored jobs");
	backup_child_run((char *[]) {backup_program_path("psql"), "-X", "-q",
			"-v", "ON_ERROR_STOP=1", "-c",
			"DO $$BEGIN IF pg_catalog.to_regclass('steward.job') IS NOT NULL THEN"
			" UPDATE steward.job SET enabled = false WHERE enabled AND NOT builtin;"
			" END IF; END$$",
			"-d", backup_conninfo(env->socket_dir, PostPortNumber, env->role, dbname), NULL},
					 NULL, log);
}

/*
 * The complete staging database takes the caller's name and becomes an
 * ordinary database, both in one transaction: the name never names a
 * template or a half-restored database, and no scheduler can connect to
 * the database before it is renamed.  The rename waits a few seconds for
 * the sessions of the client programs to end.
 */
static void
drill_publish(const char *staging, const char *new_database)
{
	pgstat_report_activity(STATE_RUNNING, "pg_steward: renaming the restored database");
	steward_xact_begin();
	steward_spi_exec(psprintf("ALTER DATABASE %s RENAME TO %s", quote_identifier(staging),
							  quote_identifier(new_database)),
					 SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	steward_spi_exec(psprintf("ALTER DATABASE %s IS_TEMPLATE false",
							  quote_identifier(new_database)),
					 SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	steward_xact_commit();
}

/* restore_logical() never touches an existing database. */
static void
drill_name_taken(const char *new_database)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_DATABASE),
			 errmsg("database \"%s\" already exists", new_database),
			 errdetail("A restore never touches an existing database."),
			 errhint("Choose a new name.")));
}

/*
 * The dump's table of contents without the indexes of tables in schema
 * steward.  The extension's own tables are not dumped; the tables of
 * steward that are (the audit log's daily partitions, made after CREATE
 * EXTENSION) are partitions of extension tables, whose indexes exist as
 * soon as the restore's CREATE EXTENSION ran: attaching a partition then
 * creates its indexes, and the dump's own CREATE INDEX and ALTER INDEX
 * ... ATTACH PARTITION of them would fail ("already exists").
 */
static void
drill_write_list(const char *dump, const char *list, const char *log)
{
	char	   *full = psprintf("%s.full", list);
	char	   *toc;
	char	   *line;
	StringInfoData out;

	backup_child_run((char *[]) {backup_program_path("pg_restore"), "--list", (char *) dump,
			NULL}, full, log);
	toc = backup_read_file(full, false);
	unlink(full);
	initStringInfo(&out);
	for (line = toc; *line;)
	{
		char	   *nl = strchr(line, '\n');
		size_t		len = nl ? (size_t) (nl - line) + 1 : strlen(line);
		char	   *text = pnstrdup(line, len);

		if (strstr(text, " INDEX steward ") == NULL &&
			strstr(text, " INDEX ATTACH steward ") == NULL)
			appendStringInfoString(&out, text);
		pfree(text);
		line += len;
	}
	backup_write_file(list, out.data, out.len);
}

/* pg_restore of the backup's dump into the new database. */
static void
drill_restore(DrillEnv *env, const char *dump, const char *dbname, const char *log)
{
	char	   *conn = backup_conninfo(env->socket_dir, PostPortNumber, env->role, dbname);
	char	   *list = psprintf("%s.list", log);

	pgstat_report_activity(STATE_RUNNING, "pg_steward: pg_restore");
	drill_write_list(dump, list, log);
	PG_TRY();
	{
		backup_child_run((char *[]) {backup_program_path("pg_restore"), "--no-password",
				"-j", psprintf("%d", steward_backup_jobs), "-L", list, "-d", conn,
				(char *) dump, NULL},
						 NULL, log);
	}
	PG_FINALLY();
	{
		unlink(list);
	}
	PG_END_TRY();
}

/* Drop a database this module created (a template while it is restored). */
static void
drill_drop_database(const char *dbname)
{
	if (drill_database_exists(dbname))
		steward_exec_toplevel(psprintf("ALTER DATABASE %s IS_TEMPLATE false",
									   quote_identifier(dbname)));
	steward_exec_toplevel(psprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)",
								   quote_identifier(dbname)));
}

/*
 * Is 'name' a staging database's name, <prefix><id>_<pid> with digits
 * only?  Sets the backup id and the pid.
 */
static bool
drill_staging_name(const char *name, int64 *backup_id, int64 *pid)
{
	const char *id;
	const char *sep;
	size_t		idlen;
	size_t		pidlen;

	if (strncmp(name, DRILL_STAGING_RESTORE, strlen(DRILL_STAGING_RESTORE)) == 0)
		id = name + strlen(DRILL_STAGING_RESTORE);
	else if (strncmp(name, DRILL_STAGING_DRILL, strlen(DRILL_STAGING_DRILL)) == 0)
		id = name + strlen(DRILL_STAGING_DRILL);
	else
		return false;
	sep = strchr(id, '_');
	if (sep == NULL)
		return false;
	idlen = sep - id;
	pidlen = strlen(sep + 1);
	/* ids have 16 digits, pids at most 10 */
	if (idlen == 0 || idlen > 18 || strspn(id, "0123456789") != idlen ||
		pidlen == 0 || pidlen > 10 || strspn(sep + 1, "0123456789") != pidlen)
		return false;
	*backup_id = steward_strtoi64(id, NULL, 10);
	*pid = steward_strtoi64(sep + 1, NULL, 10);
	return true;
}

/*
 * The staging databases that no live process restores into, in the
 * caller's transaction: templates with a staging name whose pid is no
 * live backend's (a backup worker is one), or this process's own (it
 * restores nothing yet when it looks).  A pid that an unrelated backend
 * took over keeps its database until that backend exits.  The names (and
 * in *ids, if not NULL, their backup ids) are allocated in 'mcxt'.
 */
List *
backup_stale_databases(MemoryContext mcxt, List **ids)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *names = NIL;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		int64		id;
		int64		pid;
		MemoryContext old;

		if (!db->datistemplate || !drill_staging_name(NameStr(db->datname), &id, &pid))
			continue;
		if (pid != MyProcPid && pid <= PG_INT32_MAX &&
			BackendPidGetProc((int) pid) != NULL)
			continue;
		old = MemoryContextSwitchTo(mcxt);
		names = lappend(names, pstrdup(NameStr(db->datname)));
		if (ids)
		{
			int64	   *p = palloc(sizeof(int64));

			*p = id;
			*ids = lappend(*ids, p);
		}
		MemoryContextSwitchTo(old);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return names;
}

/*
 * Drop the stale staging databases (backup_stale_databases()), outside any
 * transaction, in a backup worker (or a backup job's runner): at the start
 * of every drill and restore, and for backup_rescan().  Each drop is logged; one that fails
 * is a warning, not the end of the work.
 */
void
backup_drop_stale_databases(void)
{
	MemoryContext mcxt = CurrentMemoryContext;
	List	   *names;
	ListCell   *lc;

	pgstat_report_activity(STATE_RUNNING, "pg_steward: dropping stale staging databases");
	StartTransactionCommand();
	names = backup_stale_databases(mcxt, NULL);
	CommitTransactionCommand();
	MemoryContextSwitchTo(mcxt);
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		/*
		 * A cancel waits for the drop: one between its IS_TEMPLATE false and
		 * its DROP DATABASE would leave an ordinary database, never dropped
		 * as stale.
		 */
		HOLD_CANCEL_INTERRUPTS();
		PG_TRY();
		{
			if (drill_database_exists(name))
			{
				drill_drop_database(name);
				ereport(LOG,
						(errmsg("pg_steward dropped the stale staging database \"%s\"", name),
						 errdetail("A restore_logical() or restore drill was interrupted (a crash or an immediate shutdown).")));
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(mcxt);
			edata = CopyErrorData();
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			{
				RESUME_CANCEL_INTERRUPTS();
				PG_RE_THROW();
			}
			FlushErrorState();
			AbortOutOfAnyTransaction();
			MemoryContextSwitchTo(mcxt);
			ereport(WARNING,
					(errmsg("could not drop the stale staging database \"%s\": %s",
							name, edata->message)));
		}
		PG_END_TRY();
		RESUME_CANCEL_INTERRUPTS();
	}
	MemoryContextSwitchTo(mcxt);
}

/* Compare "name|count" lines with the metadata's table counts. */
static void
drill_compare_counts(DrillEnv *env, const char *counts, StringInfo checks, bool *ok)
{
	bool		isnull;

	steward_xact_begin();
	steward_spi_exec("WITH now AS (SELECT pg_catalog.split_part(l, '|', 1) AS t,"
					 "                    pg_catalog.split_part(l, '|', 2)::bigint AS n"
					 "               FROM pg_catalog.regexp_split_to_table(pg_catalog.rtrim($2, E'\\n'), E'\\n') l"
					 "              WHERE l <> ''),"
					 "     was AS (SELECT key AS t, value::text::bigint AS n"
					 "               FROM pg_catalog.jsonb_each($1::pg_catalog.jsonb -> 'tables'))"
					 " SELECT pg_catalog.count(*) FILTER (WHERE was.n IS DISTINCT FROM now.n),"
					 "        pg_catalog.count(was.t),"
					 "        pg_catalog.string_agg(pg_catalog.format('%s: %s rows at dump time, %s restored',"
					 "          COALESCE(was.t, now.t), COALESCE(was.n::text, 'no'),"
					 "          COALESCE(now.n::text, 'none')), '; ' ORDER BY 1)"
					 "          FILTER (WHERE was.n IS DISTINCT FROM now.n)"
					 "   FROM was FULL JOIN now ON now.t = was.t",
					 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID},
					 (Datum[]) {CStringGetTextDatum(env->meta), CStringGetTextDatum(counts)},
					 NULL);
	if (DatumGetInt64(steward_spi_getdatum(0, 1, &isnull)) == 0)
		backup_checks_add(checks, "row_counts", true,
						  psprintf(INT64_FORMAT " tables restored with the row counts of the dump",
								   DatumGetInt64(steward_spi_getdatum(0, 2, &isnull))));
	else
	{
		backup_checks_add(checks, "row_counts", false, steward_spi_gettext(0, 3));
		*ok = false;
	}
	steward_xact_commit();
}

static void
drill_logical(DrillEnv *env, int64 backup_id, StringInfo checks, bool *ok)
{
	char	   *dbname = psprintf(DRILL_STAGING_DRILL INT64_FORMAT "_%d", backup_id, MyProcPid);
	char	   *scratch = psprintf("%s/%s" INT64_FORMAT, steward_backup_directory,
								   BACKUP_DRILL_PREFIX, backup_id);
	char	   *log = psprintf("%s/restore.log", scratch);
	char	   *out = psprintf("%s/counts.txt", scratch);
	char	   *dump;
	MemoryContext mcxt = CurrentMemoryContext;

	if (drill_database_exists(dbname))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_DATABASE),
				 errmsg("drill database \"%s\" already exists", dbname),
				 errhint("Drop it if it is left from an earlier drill (ALTER DATABASE ... IS_TEMPLATE false first).")));
	if (MakePGDirectory(scratch) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create folder \"%s\": %m", scratch)));
	backup_set_scratch(scratch);
	/* issue 14: an encrypted dump is decrypted into the scratch folder */
	dump = backup_plain_dump(backup_id, env->meta, scratch, checks);
	drill_create(env, dbname);
	PG_TRY();
	{
		drill_restore(env, dump, dbname, log);
		backup_checks_add(checks, "restore", true,
						  psprintf("pg_restore into scratch database %s", dbname));
		backup_child_run((char *[]) {backup_program_path("psql"), "-X", "-A", "-t",
				"-q", "-v", "ON_ERROR_STOP=1", "-c", DRILL_COUNT_SQL, "-d",
				backup_conninfo(env->socket_dir, PostPortNumber, env->role, dbname), NULL},
						 out, log);
		drill_compare_counts(env, backup_read_file(out, false), checks, ok);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* not the context of the error: the abort below may free it */
		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		backup_child_stop_all();
		MemoryContextSwitchTo(mcxt);
		drill_drop_database(dbname);
		ReThrowError(edata);
	}
	PG_END_TRY();
	drill_drop_database(dbname);
	backup_remove_tree(scratch);
	backup_set_scratch(NULL);
}

static void
drill_physical(DrillEnv *env, int64 backup_id, StringInfo checks, bool *ok)
{
	char	   *scratch = psprintf("%s/%s" INT64_FORMAT, steward_backup_directory,
								   BACKUP_DRILL_PREFIX, backup_id);
	char	   *data = psprintf("%s/data", scratch);
	char	   *log = psprintf("%s/postmaster.log", scratch);
	char	   *qlog = psprintf("%s/psql.log", scratch);
	char	   *out = psprintf("%s/query.txt", scratch);
	char		sockdir[] = "/tmp/pg_steward_drill_XXXXXX";
	char	   *port = psprintf("%d", PostPortNumber);
	BackupChild pm;
	TimestampTz start;
	bool		ready = false;

	if (MakePGDirectory(scratch) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create folder \"%s\": %m", scratch)));
	backup_set_scratch(scratch);
	pgstat_report_activity(STATE_RUNNING, "pg_steward drill: copying the backup");
	/* issue 14: copied, or decrypted and checked with pg_verifybackup */
	backup_plain_data(backup_id, env->meta, data, checks, ok);
	backup_write_file(psprintf("%s/pg_hba.conf", data),
					  "local all all trust\n", strlen("local all all trust\n"));
	if (mkdtemp(sockdir) == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a private socket directory: %m")));

	PG_TRY();
	{
		pgstat_report_activity(STATE_RUNNING, "pg_steward drill: recovering");
		backup_child_start(&pm, (char *[]) {backup_program_path("postgres"), "-D", data,
				"-c", "listen_addresses=", "-c", psprintf("unix_socket_directories=%s", sockdir),
				"-c", psprintf("port=%s", port), "-c", "shared_preload_libraries=",
				"-c", "archive_mode=off", "-c", "hot_standby=off",
				"-c", "logging_collector=off", "-c", "max_connections=10",
				"-c", "shared_buffers=16MB", "-c", "cluster_name=pg_steward_drill",
				"-c", psprintf("hba_file=%s/pg_hba.conf", data),
				"-c", psprintf("config_file=%s/postgresql.conf", data),
				"-c", "primary_conninfo=",
		/* issue 14: with archived WAL, recovery replays it to its end */
				"-c", steward_wal_drill_setup(data), NULL},
						   NULL, log);
		start = GetCurrentTimestamp();
		while (!ready)
		{
			BackupChild q;
			int			signo;

			if (backup_child_wait(&pm, 200))
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("the drill instance stopped before it was consistent"),
						 errdetail("%s", backup_log_tail(log))));
			if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), DRILL_START_TIMEOUT_MS))
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("the drill instance did not become consistent within %d minutes",
								DRILL_START_TIMEOUT_MS / 60000)));
			backup_child_start(&q, (char *[]) {backup_program_path("psql"), "-X", "-A", "-t",
					"-q", "-c", "SELECT NOT pg_catalog.pg_is_in_recovery(), pg_catalog.count(*) FROM pg_catalog.pg_database",
					"-d", backup_conninfo(sockdir, PostPortNumber, env->role, "postgres"), NULL},
							   out, qlog);
			(void) backup_child_wait(&q, -1);
			ready = backup_child_exit_code(&q, &signo) == 0;
		}
		{
			char	   *res = backup_read_file(out, false);

			if (strncmp(res, "t|", 2) == 0)
				backup_checks_add(checks, "drill_instance", true,
								  psprintf("consistent after %ld ms; %s databases",
										   (long) ((GetCurrentTimestamp() - start) / 1000),
										   pnstrdup(res + 2, strcspn(res + 2, "\n"))));
			else
			{
				backup_checks_add(checks, "drill_instance", false,
								  psprintf("sanity query returned \"%s\"", res));
				*ok = false;
			}
		}
		/* a fast shutdown; the copy is removed anyway */
		(void) kill(pm.pid, SIGINT);
		if (!backup_child_wait(&pm, 60000))
			backup_child_stop(&pm, SIGQUIT);
	}
	PG_CATCH();
	{
		backup_child_stop_all();
		(void) rmtree(sockdir, true);
		PG_RE_THROW();
	}
	PG_END_TRY();
	(void) rmtree(sockdir, true);
	backup_remove_tree(scratch);
	backup_set_scratch(NULL);
}

/*
 * A restore drill of a good backup, after its checksums are checked; adds
 * the checks to 'checks' (an open JSON array) and clears *ok on failure.
 */
void
backup_drill(int64 backup_id, StringInfo checks, bool *ok)
{
	DrillEnv	env;
	MemoryContext mcxt = CurrentMemoryContext;

	drill_env(&env, backup_id, InvalidOid);
	backup_drop_stale_databases();
	if (strcmp(env.kind, "physical") == 0)
		drill_physical(&env, backup_id, checks, ok);
	else
		drill_logical(&env, backup_id, checks, ok);
	MemoryContextSwitchTo(mcxt);
}

/*
 * steward.restore_logical()'s work, in a backup worker: the restore goes
 * into a staging database, which gets the caller's name at the end.
 */
void
backup_restore_logical(int64 backup_id, const char *new_database, Oid owner)
{
	DrillEnv	env;
	char	   *staging;
	char	   *log;
	char	   *scratch;
	char	   *dump;
	MemoryContext mcxt = CurrentMemoryContext;

	drill_env(&env, backup_id, owner);
	if (strcmp(env.kind, "logical") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup " INT64_FORMAT " is a physical backup", backup_id),
				 errhint("restore_logical() restores logical backups; a physical backup is restored into a new data directory.")));
	backup_drop_stale_databases();
	if (drill_database_exists(new_database))
		drill_name_taken(new_database);
	staging = psprintf(DRILL_STAGING_RESTORE INT64_FORMAT "_%d", backup_id, MyProcPid);
	/* its own name: restores of one backup into two databases may overlap */
	log = psprintf("%s/%s" INT64_FORMAT BACKUP_RESTORE_INFIX "%d.log", steward_backup_directory,
				   BACKUP_DRILL_PREFIX, backup_id, MyProcPid);
	/* issue 14: an encrypted dump is decrypted into a private folder first */
	scratch = psprintf("%s/%s" INT64_FORMAT, steward_backup_directory,
					   BACKUP_DRILL_PREFIX, backup_id);
	dump = backup_plain_dump(backup_id, env.meta, scratch, NULL);
	drill_create(&env, staging);
	PG_TRY();
	{
		drill_restore(&env, dump, staging, log);
		drill_disable_jobs(&env, staging, log);
		backup_debug_pause("pg_steward restore: paused before the rename");
		/* taken meanwhile: the rename would fail the same way */
		if (drill_database_exists(new_database))
			drill_name_taken(new_database);
		drill_publish(staging, new_database);
	}
	PG_CATCH();
	{
		/* only the database this call created, never another */
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		/* a cancel now (SIGTERM after a failure) waits for the cleanup */
		HOLD_CANCEL_INTERRUPTS();
		backup_child_stop_all();
		MemoryContextSwitchTo(mcxt);
		drill_drop_database(staging);
		unlink(log);
		RESUME_CANCEL_INTERRUPTS();
		/* the rename's own error, if another session took the name first */
		if (edata->sqlerrcode == ERRCODE_DUPLICATE_DATABASE)
			drill_name_taken(new_database);
		ReThrowError(edata);
	}
	PG_END_TRY();
	unlink(log);
	if (backup_meta_encrypted(env.meta))
	{
		backup_remove_tree(scratch);
		backup_set_scratch(NULL);
	}
}
