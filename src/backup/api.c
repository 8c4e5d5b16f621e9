/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL functions on backups, the backup worker and the backup job
 *	  kind.
 *
 * backup_now(), deep backup_verify() and restore_logical() run their work
 * in a dynamic background worker ("pg_steward backup"), outside any
 * transaction; the caller waits for it (or not, backup_now(wait =>
 * false)) and gets its outcome through its shared-memory slot.  A
 * scheduled backup runs in the job's runner.  Everything is for
 * superusers and members of the role steward_backup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "archive/archive.h"
#include "backup/backup.h"
#include "backup/backup_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/pg_steward.h"
#include "core/shmem.h"
#include "core/spi_util.h"
#include "scheduler/job_kind.h"
#include "scheduler/jobs.h"
#include "scheduler/launcher.h"

PG_FUNCTION_INFO_V1(steward_backup_allowed);
PG_FUNCTION_INFO_V1(steward_backup_live_status);
PG_FUNCTION_INFO_V1(steward_backup_now);
PG_FUNCTION_INFO_V1(steward_backup_schedule);
PG_FUNCTION_INFO_V1(steward_backup_verify);
PG_FUNCTION_INFO_V1(steward_backup_prune);
PG_FUNCTION_INFO_V1(steward_backup_rescan);
PG_FUNCTION_INFO_V1(steward_restore_logical);

#define BACKUP_ROLE_NAME	"steward_backup"

/* What a backup worker is asked to do (bgw_extra). */
typedef struct BackupWorkerArgs
{
	int			action;			/* BackupAction */
	int			slotno;
	Oid			dboid;
	Oid			caller;
	int64		backup_id;
	int			kind;
	char		text[NAMEDATALEN];	/* the label, or the new database */
} BackupWorkerArgs;

static void backup_kind_main(StewardJobContext *ctx);
static void backup_kind_validate(const char *config);

static const StewardJobKind backup_job_kind = {
	.name = "backup",
	.main = backup_kind_main,
	.validate = backup_kind_validate,
	.takes_command = false,
	.description = "takes a logical or physical backup, verifies it and applies retention"
};

/* This worker's slot, for the exit callback; whether it reported. */
static int	api_slotno = -1;
static bool api_reported = false;

void
steward_backup_init(void)
{
	steward_register_job_kind(&backup_job_kind);
}

/* ---------------------------------------------------------------------
 * Privileges
 * ---------------------------------------------------------------------
 */
static bool
api_allowed(void)
{
	Oid			role;

	if (superuser())
		return true;
	role = get_role_oid(BACKUP_ROLE_NAME, true);
	return OidIsValid(role) && is_member_of_role(GetUserId(), role);
}

void
backup_require_privilege(void)
{
	if (!api_allowed())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to manage backups"),
				 errdetail("Only superusers and members of the role \"%s\" may take, list, verify, prune or restore backups.",
						   BACKUP_ROLE_NAME),
				 errhint("A superuser can run: CREATE ROLE %s NOLOGIN; GRANT %s TO %s;",
						 BACKUP_ROLE_NAME, BACKUP_ROLE_NAME,
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

Datum
steward_backup_allowed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(api_allowed());
}

/* Append {"check": ..., "ok": ..., "detail": ...} to a JSON array's elements. */
void
backup_checks_add(StringInfo checks, const char *name, bool ok, const char *detail)
{
	if (checks->len > 0)
		appendStringInfoString(checks, ", ");
	steward_json_begin(checks);
	steward_json_add_str(checks, "check", name);
	steward_json_add_bool(checks, "ok", ok);
	steward_json_add_str(checks, "detail", detail);
	steward_json_end(checks);
}

/* The view's status: the catalog's, corrected by what is on disk now. */
Datum
steward_backup_live_status(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	char	   *status = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (strcmp(status, "running") == 0 && !steward_backup_active(id))
		PG_RETURN_TEXT_P(cstring_to_text("failed"));
	if (strcmp(status, "succeeded") == 0 && !backup_folder_exists(id))
		PG_RETURN_TEXT_P(cstring_to_text("missing"));
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/* ---------------------------------------------------------------------
 * The backup worker
 * ---------------------------------------------------------------------
 */
static void
api_worker_exit(int code, Datum arg)
{
	backup_child_stop_all();
	backup_abandon_scratch();
	if (api_slotno >= 0 && !api_reported)
		steward_backup_finish(api_slotno, true,
							  "the backup worker was terminated (cancel or server shutdown)");
}

/* Deep verification: the checks, then the drill; recorded in the catalog. */
static char *
api_drill(int64 backup_id)
{
	StringInfoData checks;
	bool		ok;
	TimestampTz start;
	MemoryContext mcxt = CurrentMemoryContext;
	char	   *result;

	initStringInfo(&checks);
	steward_xact_begin();
	(void) backup_catalog_kind(backup_id, NULL);
	backup_verify_manifest(backup_id, &checks, &ok);
	/* the checks before the drill are a verification of their own */
	backup_catalog_verified(backup_id, false, ok, psprintf("[%s]", checks.data), 0);
	steward_xact_commit();
	MemoryContextSwitchTo(mcxt);

	start = GetCurrentTimestamp();
	PG_TRY();
	{
		backup_drill(backup_id, &checks, &ok);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		backup_child_stop_all();
		backup_abandon_scratch();
		backup_checks_add(&checks, "drill", false,
						  edata->detail ? psprintf("%s: %s", edata->message, edata->detail)
						  : edata->message);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(mcxt);
	result = psprintf("[%s]", checks.data);
	steward_xact_begin();
	backup_catalog_verified(backup_id, true, ok, result,
							(GetCurrentTimestamp() - start) / 1000);
	steward_xact_commit();
	MemoryContextSwitchTo(mcxt);
	return result;
}

/*
 * SIGTERM (the waiting caller was cancelled or terminated, or the server
 * shuts down) stops the work as a query cancel does: the error paths then
 * stop the children, remove what the work left (a .partial folder, a
 * half-restored database, the restore's files) and record the outcome in
 * the catalog before the worker exits.  A FATAL exit would skip them.
 */
static void
api_worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

void
steward_backup_worker_main(Datum main_arg)
{
	BackupWorkerArgs a;
	MemoryContext mcxt;
	char	   *volatile result = "";

	memcpy(&a, MyBgworkerEntry->bgw_extra, sizeof(BackupWorkerArgs));
	pqsignal(SIGTERM, api_worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	api_slotno = a.slotno;
	steward_backup_attach(a.slotno);
	before_shmem_exit(api_worker_exit, (Datum) 0);

	/* fixed work only: the caller's privilege was checked */
	BackgroundWorkerInitializeConnectionByOid(a.dboid, BOOTSTRAP_SUPERUSERID, 0);
	steward_restrict_search_path();
	mcxt = AllocSetContextCreate(TopMemoryContext, "pg_steward backup",
								 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(mcxt);

	PG_TRY();
	{
		switch ((BackupAction) a.action)
		{
			case BACKUP_ACT_BACKUP:
				{
					BackupRequest req = {0};

					req.kind = a.kind;
					req.label = a.text[0] ? a.text : NULL;
					req.slotno = a.slotno;
					req.backup_id = a.backup_id;
					pgstat_report_activity(STATE_RUNNING, "pg_steward backup");
					(void) backup_run(&req);
					break;
				}
			case BACKUP_ACT_DRILL:
				pgstat_report_activity(STATE_RUNNING, "pg_steward restore drill");
				result = api_drill(a.backup_id);
				break;
			case BACKUP_ACT_RESTORE:
				pgstat_report_activity(STATE_RUNNING, "pg_steward restore");
				backup_restore_logical(a.backup_id, a.text, a.caller);
				break;
			case BACKUP_ACT_CLEANUP:
				backup_drop_stale_databases();
				break;
		}
		MemoryContextSwitchTo(mcxt);
		api_reported = true;
		steward_backup_finish(a.slotno, false, result);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		api_reported = true;
		steward_backup_finish(a.slotno, true,
							  edata->detail ? psprintf("%s\n%s", edata->message, edata->detail)
							  : edata->message);
	}
	PG_END_TRY();
	proc_exit(0);
}

/* On the caller's way out (error or FATAL) while it waits: stop the work. */
static void
api_waiter_cleanup(int code, Datum arg)
{
	BackgroundWorkerHandle *h = (BackgroundWorkerHandle *) DatumGetPointer(arg);

	TerminateBackgroundWorker(h);
}

/*
 * Start a backup worker for slot a->slotno; with 'wait', wait for its
 * outcome and return it (an error is raised again here).
 */
static char *
api_run_worker(BackupWorkerArgs *a, bool wait, const char *what)
{
	BackgroundWorker w;
	BackgroundWorkerHandle *h;
	pid_t		pid;
	bool		failed = false;
	char	   *result = palloc0(STEWARD_BACKUP_RESULT_LEN);

	steward_worker_init(&w, "steward_backup_worker_main", "pg_steward backup");
	snprintf(w.bgw_name, BGW_MAXLEN, "pg_steward %s", what);
	StaticAssertStmt(sizeof(BackupWorkerArgs) <= BGW_EXTRALEN,
					 "backup worker arguments do not fit in bgw_extra");
	memcpy(w.bgw_extra, a, sizeof(BackupWorkerArgs));
	w.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&w, &h) ||
		WaitForBackgroundWorkerStartup(h, &pid) != BGWH_STARTED)
	{
		steward_backup_finish(a->slotno, true, "");
		if (wait)
			steward_backup_release(a->slotno);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker for the %s", what),
				 errhint("Raise max_worker_processes, or try again when fewer workers run.")));
	}
	if (!wait)
		return NULL;

	PG_ENSURE_ERROR_CLEANUP(api_waiter_cleanup, PointerGetDatum(h));
	{
		for (;;)
		{
			if (steward_backup_outcome(a->slotno, &failed, result))
				break;
			if (GetBackgroundWorkerPid(h, &pid) == BGWH_STOPPED &&
				!steward_backup_outcome(a->slotno, &failed, result))
			{
				failed = true;
				strlcpy(result, "the backup worker exited without reporting", STEWARD_BACKUP_RESULT_LEN);
				break;
			}
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(api_waiter_cleanup, PointerGetDatum(h));
	steward_backup_finish(a->slotno, failed, result);
	steward_backup_release(a->slotno);
	if (failed)
	{
		char	   *nl = strchr(result, '\n');

		if (nl)
			*nl = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s failed: %s", what, result),
				 nl ? errdetail("%s", nl + 1) : 0,
				 errhint("The server log has the worker's full report.")));
	}
	return result;
}

static int
api_claim(int lock_kind, bool waiter, const char *what)
{
	int			slotno = steward_backup_claim(lock_kind, MyDatabaseId, waiter);

	if (slotno == -1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("a %s is already running", what),
				 errdetail("Only one runs at a time in the cluster."),
				 errhint("Wait for it to finish; steward.backups shows running backups.")));
	if (slotno < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many backup operations are running")));
	return slotno;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */
Datum
steward_backup_now(PG_FUNCTION_ARGS)
{
	BackupWorkerArgs a = {0};
	char	   *dir;
	char	   *partial;
	const char *what;

	backup_require_privilege();
	steward_require_preload("steward.backup_now()");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind and wait must not be null")));
	a.kind = backup_kind_from_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (!PG_ARGISNULL(1))
	{
		char	   *label = text_to_cstring(PG_GETARG_TEXT_PP(1));

		if (strlen(label) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("backup label must be at most %d bytes", NAMEDATALEN - 1)));
		strlcpy(a.text, label, NAMEDATALEN);
	}
	what = a.kind == BACKUP_LOGICAL ? "logical backup" : "physical backup";
	dir = backup_directory_checked(0);

	a.action = BACKUP_ACT_BACKUP;
	a.dboid = MyDatabaseId;
	a.caller = GetUserId();
	a.slotno = api_claim(a.kind, PG_GETARG_BOOL(2), what);
	PG_TRY();
	{
		a.backup_id = backup_claim_folder(dir, &partial);
	}
	PG_CATCH();
	{
		steward_backup_finish(a.slotno, true, "");
		if (PG_GETARG_BOOL(2))
			steward_backup_release(a.slotno);
		PG_RE_THROW();
	}
	PG_END_TRY();
	steward_backup_set_id(a.slotno, a.backup_id);
	PG_TRY();
	{
		(void) api_run_worker(&a, PG_GETARG_BOOL(2), what);
	}
	PG_CATCH();
	{
		/* a worker that never started leaves its folder to us */
		if (!steward_backup_active(a.backup_id))
		{
			struct stat st;

			if (stat(partial, &st) == 0)
				backup_remove_tree(partial);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_INT64(a.backup_id);
}

Datum
steward_backup_verify(PG_FUNCTION_ARGS)
{
	int64		backup_id = PG_GETARG_INT64(0);
	bool		deep = PG_GETARG_BOOL(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *checks_json;
	uint64		i;

	backup_require_privilege();
	steward_init_srf(fcinfo);
	(void) backup_directory_checked(0);
	(void) backup_catalog_kind(backup_id, NULL);
	if (deep)
	{
		BackupWorkerArgs a = {0};
		MemoryContext cxt;

		steward_require_preload("a restore drill");
		a.action = BACKUP_ACT_DRILL;
		a.dboid = MyDatabaseId;
		a.caller = GetUserId();
		a.backup_id = backup_id;
		a.slotno = api_claim(BACKUP_LOCK_DRILL, true, "restore drill");
		steward_backup_set_id(a.slotno, backup_id);
		checks_json = api_run_worker(&a, true, "restore drill");

		/*
		 * The worker's outcome slot holds a bounded text: the whole list of
		 * checks is read from the catalog row the worker committed.
		 */
		cxt = CurrentMemoryContext;
		SPI_connect();
		steward_spi_exec("SELECT verify_detail::text FROM steward.backup"
						 " WHERE backup_id = $1 AND verify_detail IS NOT NULL",
						 SPI_OK_SELECT, 1, (Oid[]) {INT8OID},
						 (Datum[]) {Int64GetDatum(backup_id)}, NULL);
		if (SPI_processed == 1)
		{
			char	   *full = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (full != NULL)
				checks_json = MemoryContextStrdup(cxt, full);
		}
		SPI_finish();
	}
	else
	{
		StringInfoData checks;
		bool		ok;

		initStringInfo(&checks);
		SPI_connect();
		backup_verify_manifest(backup_id, &checks, &ok);
		SPI_finish();
		checks_json = psprintf("[%s]", checks.data);
		backup_catalog_verified(backup_id, false, ok, checks_json, 0);
	}

	SPI_connect();
	steward_spi_exec("SELECT e ->> 'check', (e ->> 'ok')::bool, e ->> 'detail'"
					 "  FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) e",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID},
					 (Datum[]) {CStringGetTextDatum(checks_json)}, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[3];
		bool		nulls[3];
		int			c;

		for (c = 0; c < 3; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

Datum
steward_restore_logical(PG_FUNCTION_ARGS)
{
	BackupWorkerArgs a = {0};
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));

	backup_require_privilege();
	steward_require_preload("steward.restore_logical()");
	if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid database name \"%s\"", name)));
	(void) backup_directory_checked(0);
	a.action = BACKUP_ACT_RESTORE;
	a.dboid = MyDatabaseId;
	a.caller = GetUserId();
	a.backup_id = PG_GETARG_INT64(0);
	strlcpy(a.text, name, NAMEDATALEN);
	if (strcmp(backup_catalog_kind(a.backup_id, NULL), "logical") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("backup " INT64_FORMAT " is a physical backup", a.backup_id),
				 errhint("restore_logical() restores logical backups.")));
	if (OidIsValid(get_database_oid(name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_DATABASE),
				 errmsg("database \"%s\" already exists", name),
				 errdetail("A restore never touches an existing database."),
				 errhint("Choose a new name.")));
	a.slotno = api_claim(0, true, "restore");
	steward_backup_set_id(a.slotno, a.backup_id);
	(void) api_run_worker(&a, true, "restore");
	PG_RETURN_VOID();
}

/*
 * backup_rescan(): the stale staging databases it found are dropped by a
 * backup worker, since DROP DATABASE cannot run in a function.
 */
void
backup_drop_stale_in_worker(void)
{
	BackupWorkerArgs a = {0};

	a.action = BACKUP_ACT_CLEANUP;
	a.dboid = MyDatabaseId;
	a.caller = GetUserId();
	a.slotno = api_claim(0, true, "cleanup");
	(void) api_run_worker(&a, true, "cleanup of staging databases");
}

/* ---------------------------------------------------------------------
 * The backup job kind and backup_schedule()
 * ---------------------------------------------------------------------
 */
typedef struct BackupPolicy
{
	char	   *kind;
	int			keep_last;
	char	   *keep_within;	/* NULL: none */
	char	   *verify;
} BackupPolicy;

static void
api_read_policy(const char *config, BackupPolicy *p)
{
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;
	char	   *v;

	SPI_connect();
	steward_spi_exec("SELECT c ->> 'kind', (c ->> 'keep_last')::int,"
					 "       (c ->> 'keep_within')::pg_catalog.interval::text,"
					 "       COALESCE(c ->> 'verify', 'manifest')"
					 "  FROM (SELECT $1::pg_catalog.jsonb AS c) s",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID},
					 (Datum[]) {CStringGetTextDatum(config)}, NULL);
	/* SPI_getvalue() allocates in SPI's context, gone at SPI_finish() */
	v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	p->kind = v ? MemoryContextStrdup(caller, v) : NULL;
	p->keep_last = DatumGetInt32(steward_spi_getdatum(0, 2, &isnull));
	if (isnull)
		p->keep_last = 7;
	v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	p->keep_within = v ? MemoryContextStrdup(caller, v) : NULL;
	v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	p->verify = v ? MemoryContextStrdup(caller, v) : NULL;
	SPI_finish();
}

static void
api_check_policy(const BackupPolicy *p)
{
	(void) backup_kind_from_name(p->kind);
	if (p->keep_last < 1 || p->keep_last > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep_last must be between 1 and 10000")));
	if (p->verify == NULL ||
		(strcmp(p->verify, "none") != 0 && strcmp(p->verify, "manifest") != 0 &&
		 strcmp(p->verify, "drill") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid verify \"%s\"", p->verify ? p->verify : ""),
				 errhint("Use none, manifest or drill.")));
}

static void
backup_kind_validate(const char *config)
{
	BackupPolicy p;

	api_read_policy(config, &p);
	api_check_policy(&p);
}

Datum
steward_backup_schedule(PG_FUNCTION_ARGS)
{
	StewardJobSpec spec = {0};
	BackupPolicy p = {0};
	StringInfoData config;
	int			i;

	backup_require_privilege();
	for (i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("kind, schedule and keep_last must not be null")));
	p.kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	p.keep_last = PG_GETARG_INT32(2);
	p.verify = PG_ARGISNULL(4) ? "manifest" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	api_check_policy(&p);

	initStringInfo(&config);
	steward_json_begin(&config);
	steward_json_add_str(&config, "kind", p.kind);
	steward_json_add_int64(&config, "keep_last", p.keep_last);
	if (!PG_ARGISNULL(3))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(3);

		steward_require_positive_interval(iv, "keep_within");
		steward_json_add_str(&config, "keep_within",
							 DatumGetCString(DirectFunctionCall1(interval_out,
																 IntervalPGetDatum(iv))));
	}
	steward_json_add_str(&config, "verify", p.verify);
	steward_json_end(&config);

	spec.kind = "backup";
	spec.name = psprintf("backup_%s", p.kind);
	spec.schedule = text_to_cstring(PG_GETARG_TEXT_PP(1));
	spec.config = config.data;
	spec.owner = GetUserId();
	spec.enabled = true;
	PG_RETURN_INT64(steward_job_define(&spec));
}

static void
api_slot_cleanup(int code, Datum arg)
{
	steward_backup_finish(DatumGetInt32(arg), true, "");
}

/* A scheduled backup, in the job's runner: backup, verify, retention. */
static void
backup_kind_main(StewardJobContext *ctx)
{
	BackupPolicy p;
	BackupRequest req = {0};
	int			slotno;
	int64		backup_id;
	bool		ok = true;
	StringInfoData pruned;
	StringInfoData detail;
	MemoryContext mcxt = CurrentMemoryContext;

	steward_xact_begin();
	MemoryContextSwitchTo(mcxt);	/* the policy outlives the transaction */
	api_read_policy(ctx->config, &p);
	steward_xact_commit();
	MemoryContextSwitchTo(mcxt);
	req.kind = backup_kind_from_name(p.kind);
	slotno = api_claim(req.kind, false, req.kind == BACKUP_LOGICAL ? "logical backup" : "physical backup");
	initStringInfo(&pruned);
	PG_ENSURE_ERROR_CLEANUP(api_slot_cleanup, Int32GetDatum(slotno));
	{
		req.label = ctx->job_name;
		req.job_id = ctx->job_id;
		req.verify = p.verify;
		req.slotno = slotno;
		backup_id = backup_run(&req);
		MemoryContextSwitchTo(mcxt);

		if (strcmp(p.verify, "manifest") == 0)
		{
			StringInfoData checks;

			initStringInfo(&checks);
			steward_xact_begin();
			if (req.kind == BACKUP_PHYSICAL && backup_checked_while_made(backup_id, &checks))
				ok = true;
			else
				backup_verify_manifest(backup_id, &checks, &ok);
			backup_catalog_verified(backup_id, false, ok, psprintf("[%s]", checks.data), 0);
			steward_xact_commit();
		}
		else if (strcmp(p.verify, "drill") == 0)
		{
			char	   *checks = api_drill(backup_id);

			ok = strstr(checks, "\"ok\": false") == NULL;
		}
		MemoryContextSwitchTo(mcxt);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("backup " INT64_FORMAT " failed its verification (%s)", backup_id, p.verify),
					 errhint("steward.backups and steward.backup.verify_detail have the checks.")));
		steward_xact_begin();
		backup_prune_kind(p.kind, p.keep_last, p.keep_within, &pruned);
		steward_xact_commit();
		/* issue 14: archived WAL no retained physical backup needs */
		if (strcmp(p.kind, "physical") == 0)
		{
			char	   *summary;

			if (steward_wal_prune(&summary) > 0)
				ereport(LOG,
						(errmsg("%s", summary)));
		}
		MemoryContextSwitchTo(mcxt);
	}
	PG_END_ENSURE_ERROR_CLEANUP(api_slot_cleanup, Int32GetDatum(slotno));
	steward_backup_finish(slotno, false, "");

	ctx->message = MemoryContextStrdup(ctx->mcxt,
									   psprintf("%s backup " INT64_FORMAT " succeeded%s",
												p.kind, backup_id,
												strcmp(p.verify, "none") == 0 ? "" : " and was verified"));
	initStringInfo(&detail);
	steward_json_begin(&detail);
	steward_json_add_int64(&detail, "backup_id", backup_id);
	steward_json_add_str(&detail, "verify", p.verify);
	steward_json_add_json(&detail, "pruned", psprintf("[%s]", pruned.data));
	steward_json_end(&detail);
	ctx->detail = MemoryContextStrdup(ctx->mcxt, detail.data);
}

/* The launcher, at start: folders left by a crash or immediate shutdown. */
void
steward_backup_startup_cleanup(void)
{
	MemoryContext mcxt = CurrentMemoryContext;

	if (steward_backup_directory == NULL || steward_backup_directory[0] == '\0')
		return;
	PG_TRY();
	{
		backup_remove_leftovers(steward_backup_directory, true);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}
