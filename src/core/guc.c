/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Definition and validation of the steward.* settings.
 *
 * Every setting is validated in a check hook, so a bad value in
 * postgresql.conf or ALTER SYSTEM is refused with a clear detail instead of
 * surfacing later inside the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/table.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "archive/walfile.h"
#include "core/compat.h"
#include "core/guc.h"

bool		steward_enabled = true;
char	   *steward_database_list = NULL;
int			steward_max_workers = -1;
int			steward_naptime = 10000;
char	   *steward_backup_directory = NULL;
char	   *steward_debug_backup_pause_file = NULL;
char	   *steward_backup_role = NULL;
int			steward_backup_jobs = 2;
int			steward_backup_nice = 19;
char	   *steward_backup_encryption_key_file = NULL;
char	   *steward_backup_encryption_old_key_files = NULL;
char	   *steward_timezone = NULL;
int			steward_job_history_retention = 30 * 86400;
int			steward_max_workers_per_role = -1;
int			steward_max_jobs_per_role = 1000;
int			steward_partition_lock_timeout = 2000;
int			steward_maintenance_statement_timeout = 600000;
char	   *steward_app_user = NULL;
char	   *steward_audit_retention = NULL;
bool		steward_audit_ddl = false;
int			steward_migration_lock_timeout = 5000;
bool		steward_migration_out_of_order = false;
bool		steward_track_ddl = true;
char	   *steward_health_history_retention = NULL;
int			steward_health_cache_min_blocks = 100000;
char	   *steward_metrics_listen = NULL;

/*
 * Runners are background workers and take max_worker_processes slots, which
 * parallel query, logical replication and other extensions need too.  By
 * default (-1) at most a quarter of them run jobs: 2 of the default 8.
 */
int
steward_effective_max_workers(void)
{
	if (steward_max_workers > 0)
		return steward_max_workers;
	return Max(1, max_worker_processes / 4);
}

/* By default (-1) one role may use at most half the runners, rounded up. */
int
steward_effective_max_workers_per_role(void)
{
	int			max = steward_effective_max_workers();

	if (steward_max_workers_per_role > 0)
		return Min(steward_max_workers_per_role, max);
	return Max(1, (max + 1) / 2);
}

/* -1 (automatic) or a positive number */
static bool
guc_check_auto_or_positive(int *newval, void **extra, GucSource source)
{
	if (*newval == 0)
	{
		GUC_check_errdetail("Use -1 for the automatic value or a positive number.");
		return false;
	}
	return true;
}

/* database_list: '*' or a comma-separated list of database names */
static bool
guc_check_database_list(char **newval, void **extra, GucSource source)
{
	char	   *rawstring;
	List	   *names;
	bool		ok;

	if (strcmp(*newval, "*") == 0)
		return true;

	rawstring = pstrdup(*newval);
	ok = SplitIdentifierString(rawstring, ',', &names);
	if (!ok || names == NIL)
		GUC_check_errdetail("List syntax is invalid; use \"*\" or a comma-separated list of database names.");
	list_free(names);
	pfree(rawstring);
	return ok && names != NIL;
}

/*
 * backup_directory: empty (backups off) or an absolute path outside the data
 * directory, so that backups never end up inside what they back up.
 */
static bool
guc_check_backup_directory(char **newval, void **extra, GucSource source)
{
	char	   *path;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("steward.backup_directory must be an absolute path.");
		return false;
	}

	path = pstrdup(*newval);
	canonicalize_path(path);
	if (DataDir != NULL)
	{
		char	   *datadir = pstrdup(DataDir);

		canonicalize_path(datadir);
		if (path_is_prefix_of_path(datadir, path))
		{
			GUC_check_errdetail("steward.backup_directory must not be inside the data directory \"%s\".",
								datadir);
			pfree(datadir);
			pfree(path);
			return false;
		}
		pfree(datadir);
	}
	pfree(path);
	return true;
}

/* backup_role: empty, or a role name (whether it exists is checked at use) */
static bool
guc_check_backup_role(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("steward.backup_role must be a role name of at most %d bytes.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/*
 * backup_encryption_key_file: empty (no encryption) or an absolute path to a
 * usable key file (64 hexadecimal digits, readable by its owner only), so a
 * group- or world-readable key is refused when the setting is made.
 */
static bool
guc_check_key_path(const char *path)
{
	WalKey		key;
	char	   *err;

	if (!is_absolute_path(path))
	{
		GUC_check_errdetail("Key files must be given as absolute paths.");
		return false;
	}
	err = walfile_load_key(path, &key);
	explicit_bzero(&key, sizeof(key));
	if (err)
	{
		GUC_check_errdetail("%s.", err);
		return false;
	}
	return true;
}

static bool
guc_check_key_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	return guc_check_key_path(*newval);
}

/* backup_encryption_old_key_files: a comma-separated list of key files */
static bool
guc_check_old_key_files(char **newval, void **extra, GucSource source)
{
	char	   *rawstring;
	List	   *paths;
	ListCell   *lc;
	bool		ok = true;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	rawstring = pstrdup(*newval);
	if (!SplitDirectoriesString(rawstring, ',', &paths))
	{
		GUC_check_errdetail("List syntax is invalid; use a comma-separated list of key files.");
		pfree(rawstring);
		return false;
	}
	foreach(lc, paths)
	{
		if (ok && !guc_check_key_path((char *) lfirst(lc)))
			ok = false;
	}
	list_free_deep(paths);
	pfree(rawstring);
	return ok;
}

static bool
guc_check_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized.",
							*newval ? *newval : "");
		return false;
	}
	return true;
}

/*
 * metrics_listen: empty, or host:port ("*:9187" for every address,
 * "[::1]:9187" for an IPv6 address).
 */
static bool
guc_check_metrics_listen(char **newval, void **extra, GucSource source)
{
	char	   *host;
	int			port;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!steward_parse_listen(*newval, &host, &port))
	{
		GUC_check_errdetail("\"%s\" is not host:port with a port from 1 to 65535.", *newval);
		return false;
	}
	return true;
}

/*
 * Split a steward.metrics_listen value into a host (palloc'd; NULL for
 * "*") and a port.  False if it is malformed.
 */
bool
steward_parse_listen(const char *value, char **host, int *port)
{
	const char *colon = strrchr(value, ':');
	const char *h = value;
	int			hlen;
	char	   *end;
	long		p;

	if (colon == NULL || colon == value || colon[1] == '\0')
		return false;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return false;
	hlen = colon - value;
	if (h[0] == '[')
	{
		if (hlen < 3 || h[hlen - 1] != ']')
			return false;
		h++;
		hlen -= 2;
	}
	*port = (int) p;
	*host = (hlen == 1 && h[0] == '*') ? NULL : pnstrdup(h, hlen);
	return true;
}

/*
 * Is the worker allowed to serve database 'dbname' according to
 * steward.database_list?
 */
bool
steward_database_allowed(const char *dbname)
{
	char	   *rawstring;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (steward_database_list == NULL || strcmp(steward_database_list, "*") == 0)
		return true;

	rawstring = pstrdup(steward_database_list);
	if (!SplitIdentifierString(rawstring, ',', &names))
	{
		pfree(rawstring);
		return false;
	}
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), dbname) == 0)
		{
			found = true;
			break;
		}
	}
	list_free(names);
	pfree(rawstring);
	return found;
}

void
steward_guc_init(void)
{
	DefineCustomBoolVariable("steward.enabled",
							 "Enables the pg_steward job scheduler.",
							 "When off, no new job runs are started; running jobs finish.",
							 &steward_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("steward.database_list",
							   "Databases served by the pg_steward worker.",
							   "\"*\" serves every connectable database that has the extension; otherwise a comma-separated list of names.",
							   &steward_database_list,
							   "*",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   guc_check_database_list, NULL, NULL);

	DefineCustomIntVariable("steward.max_workers",
							"Maximum number of job runners running at once in the cluster.",
							"Runners are dynamic background workers and count against max_worker_processes; -1 means a quarter of max_worker_processes (at least 1).",
							&steward_max_workers,
							-1,
							-1, 1024,
							PGC_SIGHUP,
							0,
							guc_check_auto_or_positive, NULL, NULL);

	DefineCustomIntVariable("steward.max_workers_per_role",
							"Maximum number of job runners running at once for one job owner in the cluster.",
							"-1 means half of steward.max_workers, rounded up.",
							&steward_max_workers_per_role,
							-1,
							-1, 1024,
							PGC_SIGHUP,
							0,
							guc_check_auto_or_positive, NULL, NULL);

	DefineCustomIntVariable("steward.max_jobs_per_role",
							"Maximum number of jobs one role may own in a database.",
							"steward.schedule() refuses new jobs beyond it; 0 means no limit.",
							&steward_max_jobs_per_role,
							1000,
							0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("steward.naptime",
							"Longest time the launcher and schedulers sleep between checks.",
							"Schedulers wake earlier when a job is due or the job catalog changes.",
							&steward_naptime,
							10000,
							100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("steward.backup_directory",
							   "Directory where backups are written.",
							   "Must be an absolute path outside the data directory; empty disables backups.",
							   &steward_backup_directory,
							   "",
							   PGC_SIGHUP,
							   0,
							   guc_check_backup_directory, NULL, NULL);

	DefineCustomStringVariable("steward.backup_role",
							   "Role the backup programs (pg_dump, pg_basebackup, ...) connect as.",
							   "They connect over the server's Unix socket; empty means the bootstrap superuser. Physical backups need a role with REPLICATION and a pg_hba.conf replication line for it.",
							   &steward_backup_role,
							   "",
							   PGC_SIGHUP,
							   0,
							   guc_check_backup_role, NULL, NULL);

	DefineCustomIntVariable("steward.backup_jobs",
							"Parallel jobs of pg_dump and pg_restore in logical backups and restores.",
							"Also the number of processes (at most 4) that hash a physical backup's files.",
							&steward_backup_jobs,
							2,
							1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("steward.backup_nice",
							"Scheduling priority (nice value) of the processes that hash a physical backup's files.",
							"They hash (and, with an encryption key, seal) each file as soon as pg_basebackup has written it, yielding to the server and to pg_basebackup; what they have not hashed when pg_basebackup exits, the backup worker hashes at the server's priority.  0 keeps the server's priority.",
							&steward_backup_nice,
							19,
							0, 19,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("steward.backup_encryption_key_file",
							   "Key file that new backups and archived WAL are encrypted with (AES-256-GCM).",
							   "An absolute path to a file of 64 hexadecimal digits, readable by the server's OS user only; empty disables encryption.",
							   &steward_backup_encryption_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   guc_check_key_file, NULL, NULL);

	DefineCustomStringVariable("steward.backup_encryption_old_key_files",
							   "Earlier key files, to read backups and archived WAL encrypted before a key rotation.",
							   "A comma-separated list of absolute paths.",
							   &steward_backup_encryption_old_key_files,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_LIST_INPUT,
							   guc_check_old_key_files, NULL, NULL);

	DefineCustomStringVariable("steward.debug_backup_pause_file",
							   "For tests: a physical backup waits before its manifest check, and restore_logical() before it renames its database, while this file exists.",
							   "Lets a test change the files of a backup that pg_basebackup has written, or see a restore under way; empty (the default) never waits.",
							   &steward_debug_backup_pause_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("steward.timezone",
							   "Default time zone of job schedules.",
							   "Used for jobs whose own time zone is not set.",
							   &steward_timezone,
							   "UTC",
							   PGC_SIGHUP,
							   0,
							   guc_check_timezone, NULL, NULL);

	DefineCustomIntVariable("steward.job_history_retention",
							"How long job run history is kept.",
							"Older rows of steward.job_run are deleted by the scheduler in small batches.",
							&steward_job_history_retention,
							30 * 86400,
							60, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("steward.partition_lock_timeout",
							"Lock timeout of each DDL statement of partition maintenance and of each row retention batch.",
							"Statements that cannot get their lock in time are retried a few times with backoff before the set's or table's run fails.",
							&steward_partition_lock_timeout,
							2000,
							10, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("steward.maintenance_statement_timeout",
							"Time limit of each transaction the built-in jobs spend on one table.",
							"Partition maintenance of one set and each row retention batch run as the table's owner; one that takes longer (a slow trigger, say) fails for that table only, and the job goes on with the others. 0 disables the limit.",
							&steward_maintenance_statement_timeout,
							600000,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("steward.app_user",
							   "The application's user, recorded in steward.audit_log.app_user.",
							   "Applications set it per transaction: SET LOCAL steward.app_user = 'alice@example.com'.",
							   &steward_app_user,
							   NULL,
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("steward.audit_retention",
							   "How long audit log rows are kept (an interval).",
							   "Applied to the log's partition set when a table is audited and by every audit_seal run.",
							   &steward_audit_retention,
							   "90 days",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("steward.audit_ddl",
							 "Record DDL statements in steward.audit_log (op = 'DDL').",
							 NULL,
							 &steward_audit_ddl,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("steward.migration_lock_timeout",
							"Lock timeout of each migration steward.migrate() applies.",
							"A migration that cannot get a lock in time is rolled back and tried again a few times with backoff; the worker uses it for queued statements too.",
							&steward_migration_lock_timeout,
							5000,
							10, 600000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("steward.migration_out_of_order",
							 "Let steward.migrate() apply a pending version lower than an applied one.",
							 NULL,
							 &steward_migration_out_of_order,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("steward.track_ddl",
							 "Record DDL run outside steward.migrate() in steward.migration_history as untracked.",
							 NULL,
							 &steward_track_ddl,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("steward.health_history_retention",
							   "How long health history is kept (an interval).",
							   "Applied to steward.health_history's partition set by every health_snapshot run.",
							   &steward_health_history_retention,
							   "30 days",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("steward.health_cache_min_blocks",
							"Block reads a database needs before the cache_hit_ratio check judges it.",
							NULL,
							&steward_health_cache_min_blocks,
							100000, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	/*
	 * A postmaster setting can only be defined while preloading (loaded
	 * later, as by archive_library, it would be FATAL); without the preload
	 * there is no worker to serve it anyway.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("steward.metrics_listen",
								   "Address (host:port) where a background worker serves GET /metrics; empty: off.",
								   "The text of steward.metrics() for each database in steward.database_list, over plain HTTP.",
								   &steward_metrics_listen,
								   "",
								   PGC_POSTMASTER,
								   0,
								   guc_check_metrics_listen, NULL, NULL);

	steward_mark_guc_prefix_reserved("steward");
}

/*
 * The databases pg_steward's workers serve, in pg_database's order: those
 * that accept connections, are not templates (never connected to, for
 * CREATE DATABASE ... TEMPLATE), are not left invalid by an interrupted
 * DROP DATABASE, and are in steward.database_list.  A list of
 * StewardDatabase in the caller's memory context.  Starts and commits a
 * transaction of its own (for a worker outside one).
 */
List *
steward_served_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext caller = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		StewardDatabase *d;
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		if (steward_database_is_invalid(db))
			continue;
		if (!steward_database_allowed(NameStr(db->datname)))
			continue;
		old = MemoryContextSwitchTo(caller);
		d = palloc(sizeof(StewardDatabase));
		d->oid = db->oid;
		strlcpy(d->name, NameStr(db->datname), NAMEDATALEN);
		result = lappend(result, d);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	return result;
}
