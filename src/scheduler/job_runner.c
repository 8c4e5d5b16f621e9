/*-------------------------------------------------------------------------
 *
 * job_runner.c
 *	  The job runner worker and the 'sql' kind.
 *
 * A runner is a dynamic background worker started by a scheduler (or by
 * steward.run_job()) for one run of one job.  It connects to the job's
 * database as the job's owner, creates its steward.job_run row, runs the
 * job kind's entry point and records the outcome.  Only the bookkeeping on
 * steward's own tables is done with elevated rights, through
 * steward_catalog_enter(); the job itself never is.
 *
 * If the runner dies before it can record the outcome (FATAL, SIGTERM), its
 * slot says so and whoever reaps the slot records 'cancelled', 'timed_out'
 * or 'crashed'.  If it dies by a signal that makes the postmaster restart
 * the cluster, the next scheduler marks the run 'crashed' at start-up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "core/compat.h"
#include "core/json.h"
#include "core/pg_steward.h"
#include "scheduler/job_runner.h"
#include "scheduler/launcher.h"
#include "core/shmem.h"
#include "core/spi_util.h"

/* This runner's slot, for the exit callback. */
static int	runner_slotno = -1;
/* SIGTERM arrived (pg_terminate_backend, shutdown): the run is cancelled. */
static volatile sig_atomic_t runner_got_sigterm = false;

/* A runner takes over at most this many queued runs before it exits. */
#define RUNNER_MAX_RUNS			1000
/* ... and only runs due within this time. */
#define RUNNER_TAKE_AHEAD_MS	200

static void runner_kind_sql(StewardJobContext *ctx);

static const StewardJobKind runner_sql_kind = {
	.name = "sql",
	.main = runner_kind_sql,
	.validate = NULL,
	.takes_command = true,
	.description = "runs the job's command, statement by statement, as the job's owner"
};

void
steward_sql_kind_init(void)
{
	if (steward_find_job_kind("sql") == NULL)
		steward_register_job_kind(&runner_sql_kind);
}

/* ---------------------------------------------------------------------
 * Starting and reaping runners (called by schedulers and run_job)
 * ---------------------------------------------------------------------
 */
bool
steward_runner_start(const StewardRunnerArgs *args, const char *job_name,
					 pid_t notify_pid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	steward_worker_init(&worker, "steward_runner_main", "pg_steward runner");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward job %s", job_name);
	worker.bgw_main_arg = Int32GetDatum(args->slotno);
	StaticAssertStmt(sizeof(StewardRunnerArgs) <= BGW_EXTRALEN,
					 "runner arguments do not fit in bgw_extra");
	memcpy(worker.bgw_extra, args, sizeof(StewardRunnerArgs));
	worker.bgw_notify_pid = notify_pid;

	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/* A reap that failed half-way: back to DONE, so that it can be done again. */
static void
runner_reap_undo(int code, Datum arg)
{
	steward_runner_undo_reap(DatumGetInt32(arg));
}

int64
steward_runner_reap(int slotno)
{
	StewardRunnerSlot copy;

	if (!steward_runner_begin_reap(slotno, &copy))
		return -1;

	/* an error (the caller's cancel, a read-only caller) leaves it to the scheduler */
	PG_ENSURE_ERROR_CLEANUP(runner_reap_undo, Int32GetDatum(slotno));
	{
		if (!copy.outcome_recorded && copy.run_id != 0)
		{
			StewardCatalogAccess acc;
			Oid			argtypes[4] = {INT8OID, TEXTOID, TEXTOID, INT8OID};
			Datum		values[4];
			const char *status;
			const char *message;

			if (copy.timeout_requested)
			{
				status = "timed_out";
				message = "job exceeded its max_runtime and was terminated";
			}
			else if (copy.cancel_requested)
			{
				status = "cancelled";
				message = "job was cancelled";
			}
			else if (copy.terminated)
			{
				/* pg_terminate_backend() or a shutdown, not a crash */
				status = "cancelled";
				message = "job runner was terminated";
			}
			else
			{
				status = "crashed";
				message = "job runner exited without recording an outcome";
			}
			values[0] = Int64GetDatum(copy.run_id);
			values[1] = CStringGetTextDatum(status);
			values[2] = CStringGetTextDatum(message);
			values[3] = Int64GetDatum(copy.job_id);

			steward_catalog_enter(&acc);
			SPI_connect();
			steward_spi_exec("UPDATE steward.job_run"
							 "   SET status = $2, finished_at = pg_catalog.clock_timestamp(),"
							 "       message = $3"
							 " WHERE run_id = $1 AND job_id = $4 AND status = 'running'",
							 SPI_OK_UPDATE, 4, argtypes, values, NULL);
			SPI_finish();
			steward_catalog_exit(&acc);
		}

		else if (copy.run_id == 0 && !copy.job_missing && !copy.cancel_requested)
		{
			/*
			 * The runner died before it could create its run row, typically
			 * because it could not connect as the job's owner.  Record that, so
			 * the failure is visible and counts for retries.
			 */
			StewardCatalogAccess acc;
			Datum		values[4];
			char		nulls[4] = {' ', ' ', ' ', ' '};
			bool		isnull;

			/* the attempt counts, so that max_retries bounds the retries */
			values[0] = Int64GetDatum(copy.job_id);
			values[1] = TimestampTzGetDatum(copy.started_at);
			values[2] = Int32GetDatum(Max(copy.attempt, 1));
			values[3] = TimestampTzGetDatum(copy.scheduled_for);
			if (copy.scheduled_for == 0)
				nulls[3] = 'n'; /* run_job() */
			steward_catalog_enter(&acc);
			SPI_connect();
			steward_spi_exec("INSERT INTO steward.job_run"
							 " (job_id, started_at, finished_at, status, attempt, scheduled_for, message)"
							 " VALUES ($1, $2, pg_catalog.clock_timestamp(), 'failed', $3, $4,"
							 "  'job runner could not start; the server log has the reason (e.g. the owner cannot log in)')"
							 " RETURNING run_id",
							 SPI_OK_INSERT_RETURNING, 4,
							 (Oid[]) {INT8OID, TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID},
							 values, nulls);
			copy.run_id = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
			SPI_finish();
			steward_catalog_exit(&acc);
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(runner_reap_undo, Int32GetDatum(slotno));

	steward_runner_release(slotno);
	return copy.run_id;
}

/* ---------------------------------------------------------------------
 * The runner process
 * ---------------------------------------------------------------------
 */
static void
runner_die(SIGNAL_ARGS)
{
	runner_got_sigterm = true;
	die(postgres_signal_arg);
}

static void
runner_on_exit(int code, Datum arg)
{
	if (runner_slotno < 0 || !steward_shmem_ready())
		return;
	steward_wake_scheduler_runners(steward_runner_exited(runner_slotno, runner_got_sigterm));
}

/*
 * Bookkeeping transactions of the runner.  The job runs in this session and
 * may have changed its settings (SET default_transaction_read_only = on,
 * lock_timeout, session_replication_role, ...), and so may ALTER ROLE/
 * DATABASE ... SET: the runner's own writes to steward's tables happen in a
 * read-write, read-committed transaction without timeouts, with those
 * settings overridden for the transaction only, as the catalog's owner
 * (steward_catalog_enter), so that the real outcome is always recorded.
 */
typedef struct RunnerXact
{
	StewardCatalogAccess acc;
	int			nestlevel;
} RunnerXact;

static void
runner_xact_begin(RunnerXact *x)
{
	static const char *const pins[][2] = {
		{"statement_timeout", "0"},
		{"lock_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"session_replication_role", "origin"},
	};
	int			i;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* as SET TRANSACTION would, before the first snapshot */
	XactReadOnly = false;
	XactIsoLevel = XACT_READ_COMMITTED;
	XactDeferrable = false;
	x->nestlevel = NewGUCNestLevel();
	for (i = 0; i < lengthof(pins); i++)
		(void) set_config_option(pins[i][0], pins[i][1], PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	steward_catalog_enter(&x->acc);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
runner_xact_end(RunnerXact *x)
{
	SPI_finish();
	PopActiveSnapshot();
	steward_catalog_exit(&x->acc);
	AtEOXact_GUC(false, x->nestlevel);
	CommitTransactionCommand();
	steward_notify_after_commit();
}

/* Append "key": "value" to a JSON object under construction (not NULLs). */
static void
runner_json_field(StringInfo buf, const char *key, const char *value)
{
	if (value != NULL)
		steward_json_add_str(buf, key, value);
}

/*
 * The run's final status.  The row must still be this job's running run:
 * after DROP and CREATE EXTENSION, ids start again and a stray runner must
 * not overwrite another run.
 */
static void
runner_record_outcome(int64 job_id, int64 run_id, const char *status,
					  const char *message, const char *detail)
{
	static SPIPlanPtr plan = NULL;
	RunnerXact	x;
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[4] = Int64GetDatum(job_id);
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	if (message)
		values[2] = CStringGetTextDatum(message);
	else
		nulls[2] = 'n';
	if (detail)
		values[3] = CStringGetTextDatum(detail);
	else
		nulls[3] = 'n';

	/* A cancel arriving now must not lose the outcome. */
	HOLD_INTERRUPTS();
	runner_xact_begin(&x);
	steward_spi_exec_kept_generic(&plan,
								  "UPDATE steward.job_run"
								  "   SET status = $2, finished_at = pg_catalog.clock_timestamp(),"
								  "       message = $3, detail = $4::jsonb"
								  " WHERE run_id = $1 AND job_id = $5 AND status = 'running'",
								  SPI_OK_UPDATE, 5, argtypes, values, nulls);
	runner_xact_end(&x);

	steward_runner_set_outcome_recorded(runner_slotno);
	RESUME_INTERRUPTS();
}

/* The context line of every message of a run. */
#define RUNNER_CONTEXT_FMT "pg_steward job \"%s\" (job_id %lld, run_id %lld, attempt %d)"

static void
runner_error_context(void *arg)
{
	StewardJobContext *ctx = (StewardJobContext *) arg;

	errcontext(RUNNER_CONTEXT_FMT,
			   ctx->job_name, (long long) ctx->job_id, (long long) ctx->run_id,
			   ctx->attempt);
}

/*
 * The log names the job (runner_error_context); the run's own row need not:
 * its recorded context is the job's alone.  Ours is the outermost line.
 */
static void
runner_strip_own_context(ErrorData *edata, StewardJobContext *ctx)
{
	char	   *own;
	size_t		len,
				ownlen;

	if (edata->context == NULL)
		return;
	own = psprintf(RUNNER_CONTEXT_FMT,
				   ctx->job_name, (long long) ctx->job_id, (long long) ctx->run_id,
				   ctx->attempt);
	len = strlen(edata->context);
	ownlen = strlen(own);
	if (len >= ownlen && strcmp(edata->context + len - ownlen, own) == 0)
	{
		len -= ownlen;
		if (len > 0 && edata->context[len - 1] == '\n')
			len--;
		edata->context[len] = '\0';
		if (len == 0)
			edata->context = NULL;
	}
	pfree(own);
}

/*
 * One run: read the job, wait for its due time, create the run row, run the
 * job kind and record the outcome.
 */
/*
 * Insert the run's job_run row ('running'); returns its run_id.  Inside a
 * runner transaction.
 */
static int64
runner_insert_run(const StewardRunnerArgs *args)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[4] = {INT8OID, TIMESTAMPTZOID, INT4OID, INT4OID};
	Datum		values[4];
	int64		run_id;

	values[0] = Int64GetDatum(args->job_id);
	values[1] = TimestampTzGetDatum(args->scheduled_for);
	values[2] = Int32GetDatum(args->attempt);
	values[3] = Int32GetDatum(MyProcPid);
	steward_spi_exec_kept_generic(&plan,
								  "INSERT INTO steward.job_run"
								  " (job_id, scheduled_for, started_at, status, attempt, pid)"
								  " VALUES ($1, $2, pg_catalog.clock_timestamp(), 'running', $3, $4)"
								  " RETURNING run_id",
								  SPI_OK_INSERT_RETURNING, 4, argtypes, values, NULL);
	run_id = DatumGetInt64(steward_spi_getdatum(0, 1, &(bool) {false}));

	/*
	 * Into the slot before the row is visible: a reaper or a scheduler's
	 * crash check must never see the row without knowing it belongs to this
	 * live runner.  (If the commit fails, the slot names a row that does not
	 * exist, which updates nothing.)
	 */
	steward_runner_set_run_id(runner_slotno, run_id);
	return run_id;
}

/* Is the job still there, owned by the role that scheduled this run? */
static bool
runner_job_still_owned(const StewardRunnerArgs *args)
{
	static SPIPlanPtr plan = NULL;

	steward_spi_exec_kept_generic(&plan,
								  "SELECT 1 FROM steward.job j"
								  "  JOIN pg_catalog.pg_authid a ON a.oid = j.owner::pg_catalog.oid"
								  " WHERE j.job_id = $1 AND j.owner::pg_catalog.oid = $2"
								  "   AND a.rolname = j.owner_name",
								  SPI_OK_SELECT, 2, (Oid[]) {INT8OID, OIDOID},
								  (Datum[]) {Int64GetDatum(args->job_id), ObjectIdGetDatum(args->owner)},
								  NULL);
	return SPI_processed > 0;
}

/*
 * One run of the job in 'args'.  Returns false when the run did not succeed
 * (the scheduler is then asked at once to account for it, for retries).
 */
static bool
runner_run_once(const StewardRunnerArgs *args, MemoryContext mcxt)
{
	StewardJobContext ctx = {0};
	ErrorContextCallback errcallback;
	StewardJobKindMain kind_main;
	RunnerXact	x;
	char	   *kind = NULL;
	char	   *appname;
	volatile bool failed = false;
	ErrorData  *volatile edata = NULL;

	ctx.mcxt = mcxt;
	ctx.job_id = args->job_id;
	ctx.attempt = args->attempt;

	/*
	 * Read the job.  Its owner must still be the role that scheduled it (a
	 * role dropped in another database leaves an OID another role may get).
	 */
	runner_xact_begin(&x);
	{
		static SPIPlanPtr read_plan = NULL;
		MemoryContext old;

		steward_spi_exec_kept_generic(&read_plan,
									  "SELECT j.job_name, j.kind, j.command, j.config::text"
									  "  FROM steward.job j"
									  "  JOIN pg_catalog.pg_authid a ON a.oid = j.owner::pg_catalog.oid"
									  " WHERE j.job_id = $1 AND j.owner::pg_catalog.oid = $2"
									  "   AND a.rolname = j.owner_name",
									  SPI_OK_SELECT, 2, (Oid[]) {INT8OID, OIDOID},
									  (Datum[]) {Int64GetDatum(args->job_id), ObjectIdGetDatum(args->owner)},
									  NULL);
		if (SPI_processed == 0)
		{
			/* Unscheduled (or re-owned) since it was started: nothing to do. */
			steward_runner_set_job_missing(runner_slotno);
			runner_xact_end(&x);
			return true;
		}
		old = MemoryContextSwitchTo(ctx.mcxt);
		ctx.job_name = steward_spi_gettext(0, 1);
		kind = steward_spi_gettext(0, 2);
		ctx.command = steward_spi_gettext(0, 3);
		ctx.config = steward_spi_gettext(0, 4);
		MemoryContextSwitchTo(old);

		/*
		 * A run already due (one taken over from the queue) opens its
		 * job_run row in the same transaction; one started ahead of time
		 * only opens job_run now, so the insert after the wait is quick.
		 */
		if (GetCurrentTimestamp() >= args->scheduled_for)
			ctx.run_id = runner_insert_run(args);
		else
		{
			static SPIPlanPtr open_plan = NULL;

			steward_spi_exec_kept_generic(&open_plan, "SELECT 1 FROM steward.job_run WHERE run_id = 0",
										  SPI_OK_SELECT, 0, NULL, NULL, NULL);
		}
	}
	runner_xact_end(&x);

	if (ctx.run_id == 0)
	{
		/* Started ahead of time by the scheduler: wait for the due time. */
		for (;;)
		{
			TimestampTz now = GetCurrentTimestamp();
			long		ms;

			CHECK_FOR_INTERRUPTS();
			if (now >= args->scheduled_for)
				break;
			ms = (long) ((args->scheduled_for - now + 999) / 1000);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}

		/*
		 * The job was read before the wait: its owner must still be the
		 * role this runner is connected as when the run begins.
		 */
		runner_xact_begin(&x);
		if (!runner_job_still_owned(args))
		{
			steward_runner_set_job_missing(runner_slotno);
			runner_xact_end(&x);
			return true;
		}
		ctx.run_id = runner_insert_run(args);
		runner_xact_end(&x);
	}

	/* after the commits above: keep per-run memory in the run's context */
	MemoryContextSwitchTo(ctx.mcxt);
	appname = psprintf("pg_steward job %s", ctx.job_name);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);

	{
		const StewardJobKind *k = steward_find_job_kind(kind);

		kind_main = k ? k->main : NULL;
	}

	/* one runner serves many runs: every message names the run's job */
	errcallback.callback = runner_error_context;
	errcallback.arg = &ctx;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	PG_TRY();
	{
		if (kind_main == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown job kind \"%s\"", kind)));
		kind_main(&ctx);
		if (IsTransactionBlock())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("job command left a transaction block open"),
					 errhint("End the command with COMMIT.")));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx.mcxt);
		disable_timeout(STATEMENT_TIMEOUT, false);
		EmitErrorReport();
		/* the statement's text is freed with the run's memory */
		debug_query_string = NULL;
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		failed = true;
		runner_strip_own_context(edata, &ctx);
	}
	PG_END_TRY();
	error_context_stack = errcallback.previous;

	pgstat_report_activity(STATE_RUNNING, "recording job outcome");
	MemoryContextSwitchTo(ctx.mcxt);
	if (!failed)
		runner_record_outcome(ctx.job_id, ctx.run_id, "succeeded", ctx.message, ctx.detail);
	else
	{
		StringInfoData detail;
		const char *status = "failed";
		char	   *message = edata->message;
		StewardRunnerSlot slot;
		bool		timeout,
					cancel;

		steward_runner_get(runner_slotno, &slot);
		timeout = slot.timeout_requested;
		cancel = slot.cancel_requested;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && timeout)
		{
			status = "timed_out";
			message = "job exceeded its max_runtime and was cancelled";
		}
		else if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && cancel)
		{
			status = "cancelled";
			message = "job was cancelled";
		}

		initStringInfo(&detail);
		appendStringInfoChar(&detail, '{');
		runner_json_field(&detail, "sqlstate", unpack_sql_state(edata->sqlerrcode));
		runner_json_field(&detail, "error", edata->message);
		runner_json_field(&detail, "detail", edata->detail);
		runner_json_field(&detail, "hint", edata->hint);
		runner_json_field(&detail, "context", edata->context);
		appendStringInfoChar(&detail, '}');
		runner_record_outcome(ctx.job_id, ctx.run_id, status, message, detail.data);
	}
	return !failed;
}

/*
 * Reset the session between two runs: what DISCARD ALL resets, in its
 * order, except the plan cache.  Open cursors are closed, SET SESSION
 * AUTHORIZATION, SET ROLE and every setting go back to their defaults
 * (those of ALTER ROLE/DATABASE ... SET included), prepared statements,
 * LISTEN, session advisory locks, temporary tables and sequence state
 * (currval) are dropped.  DISCARD ALL also invalidates every cached plan;
 * those are no state a run can see (a plan is checked against catalog
 * changes, the search_path and the role at every use), and flushing them
 * made each run analyse and plan the runner's own statements again, which
 * was a third of a runner's work in a burst.
 */
static void
runner_reset_session(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* closing portals may run user code: first, as DISCARD ALL does */
	PortalHashTableDeleteAll();
	SetPGVariable("session_authorization", NIL, false);
	ResetAllOptions();
	DropAllPreparedStatements();
	Async_UnlistenAll();
	LockReleaseAll(USER_LOCKMETHOD, true);
	ResetTempTableNamespace();
	ResetSequenceCaches();
	CommitTransactionCommand();
}

/*
 * Take over another queued run of this database and owner, so that a burst
 * of due jobs costs one process start per runner rather than per run.  The
 * session is reset first (runner_reset_session), as a connection pooler
 * does, so a run sees nothing of the runs before it.
 */
static bool
runner_take_next(StewardRunnerArgs *args, int nruns, bool succeeded,
				 MemoryContext mcxt)
{
	TimestampTz horizon;
	StewardRunnerSlot r;
	int			hint;
	int			next;
	volatile bool ok = true;

	if (!args->chain || nruns >= RUNNER_MAX_RUNS || ProcDiePending ||
		QueryCancelPending)
		return false;

	horizon = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RUNNER_TAKE_AHEAD_MS);
	hint = steward_runner_has_queued(args->dboid, args->owner, horizon);
	if (hint < 0)
		return false;

	pgstat_report_activity(STATE_RUNNING, "resetting the session");
	PG_TRY();
	{
		MemoryContextSwitchTo(mcxt);
		runner_reset_session();
	}
	PG_CATCH();
	{
		/* e.g. a late cancel of the finished run: just exit */
		MemoryContextSwitchTo(mcxt);
		disable_timeout(STATEMENT_TIMEOUT, false);
		EmitErrorReport();
		debug_query_string = NULL;
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(TopMemoryContext);
	if (!ok)
		return false;

	/*
	 * A stray cancel aimed at the finished run must not hit the next one.
	 * Cancels from the scheduler set a flag in the slot first, which makes
	 * steward_runner_take_next() refuse; one aimed at the new run arrives
	 * after the slot changed hands and stays pending.
	 */
	QueryCancelPending = false;
	next = steward_runner_take_next(runner_slotno, horizon, hint);
	if (next < 0)
		return false;
	runner_slotno = next;

	/*
	 * The scheduler accounts for the finished run at its next pass.  A run
	 * that did not succeed may need a retry planned: ask for that pass now.
	 * A success can wait for the pass this runner's exit or the next due
	 * time brings (it only resets the job's failure count); waking the
	 * scheduler at every hand-off made it read all its jobs every 100 ms
	 * through a burst.
	 */
	if (!succeeded)
		steward_wake_scheduler(args->dboid);

	steward_runner_get(next, &r);
	args->job_id = r.job_id;
	args->attempt = r.attempt;
	args->scheduled_for = r.scheduled_for;
	args->slotno = next;
	return true;
}

void
steward_runner_main(Datum main_arg)
{
	StewardRunnerArgs args;
	MemoryContext mcxt;
	int			nruns = 0;
	bool		succeeded;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(StewardRunnerArgs));
	runner_slotno = args.slotno;

	pqsignal(SIGTERM, runner_die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	steward_runner_started(runner_slotno);
	on_shmem_exit(runner_on_exit, (Datum) 0);

	/* Connect as the job's owner: the job runs with exactly its rights. */
	/* from 17 on, NOLOGIN roles may own jobs, as they may own objects */
	BackgroundWorkerInitializeConnectionByOid(args.dboid, args.owner,
											  STEWARD_BGW_CONNECT_FLAGS);

	mcxt = AllocSetContextCreate(TopMemoryContext, "pg_steward runner",
								 ALLOCSET_DEFAULT_SIZES);
	do
	{
		/* settings reloaded meanwhile apply from the next run on */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		succeeded = runner_run_once(&args, mcxt);
		MemoryContextReset(mcxt);
		nruns++;
	} while (runner_take_next(&args, nruns, succeeded, mcxt));

	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * The 'sql' job kind
 *
 * The command may hold several statements.  Each runs as a top-level
 * statement in its own transaction, like a multi-statement simple query
 * with implicit commits in between, so VACUUM, CREATE INDEX CONCURRENTLY
 * and DETACH PARTITION ... CONCURRENTLY work.  The first error stops the
 * run.  Explicit BEGIN ... COMMIT groups statements as usual.
 * ---------------------------------------------------------------------
 */
typedef struct SqlKindErrorContext
{
	int			stmtno;
	int			nstmts;
} SqlKindErrorContext;

static void
sql_kind_error_callback(void *arg)
{
	SqlKindErrorContext *c = (SqlKindErrorContext *) arg;

	errcontext("job statement %d of %d", c->stmtno, c->nstmts);
}

/*
 * statement_timeout, as exec_simple_query arms it: per statement, from the
 * value in force when the statement starts (the job's SET, ALTER ROLE/
 * DATABASE ... SET).  lock_timeout needs nothing: lock waits arm it.  The
 * statement's end, or an error (runner_run_once), disarms it.
 */
static void
runner_arm_statement_timeout(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (StatementTimeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
}

/*
 * Run each statement of 'command' as a top-level statement in its own
 * transaction (like a multi-statement simple query); stops at the first
 * error.  Returns the number of statements; *qc gets the last completion.
 */
static int
runner_exec_command(const char *command, MemoryContext mcxt,
					SqlKindErrorContext *errctx, QueryCompletion *qc)
{
	List	   *parsetrees;
	ListCell   *lc;
	MemoryContext old;
	MemoryContext stmtcxt;

	old = MemoryContextSwitchTo(mcxt);
	parsetrees = raw_parser(command, RAW_PARSE_DEFAULT);
	MemoryContextSwitchTo(old);
	errctx->nstmts = list_length(parsetrees);

	/*
	 * Parse and plan trees live in a context of their own, like the simple
	 * query protocol's MessageContext: statements such as DETACH PARTITION
	 * ... CONCURRENTLY commit and start transactions while the portal runs,
	 * so nothing the portal uses may belong to a transaction.
	 */
	stmtcxt = AllocSetContextCreate(mcxt, "pg_steward statement", ALLOCSET_DEFAULT_SIZES);

	InitializeQueryCompletion(qc);
	foreach(lc, parsetrees)
	{
		RawStmt    *parsetree = lfirst_node(RawStmt, lc);
		const char *sql;
		bool		snapshot_set = false;
		List	   *querytrees;
		List	   *plantrees;
		Portal		portal;
		DestReceiver *receiver;
		CommandTag	tag;

		errctx->stmtno++;

		steward_check_job_statement(parsetree->stmt);
		old = MemoryContextSwitchTo(mcxt);
		if (parsetree->stmt_len > 0)
			sql = pnstrdup(command + parsetree->stmt_location,
						   parsetree->stmt_len);
		else
			sql = pstrdup(command + parsetree->stmt_location);
		MemoryContextSwitchTo(old);

		SetCurrentStatementStartTimestamp();
		debug_query_string = sql;
		pgstat_report_activity(STATE_RUNNING, sql);
		StartTransactionCommand();
		runner_arm_statement_timeout();
		MemoryContextSwitchTo(stmtcxt);

		tag = CreateCommandTag(parsetree->stmt);
		if (analyze_requires_snapshot(parsetree))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snapshot_set = true;
		}
		querytrees = steward_analyze_and_rewrite(parsetree, sql);
		plantrees = pg_plan_queries(querytrees, sql, CURSOR_OPT_PARALLEL_OK, NULL);
		if (snapshot_set)
			PopActiveSnapshot();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, tag, plantrees, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);
		receiver = CreateDestReceiver(DestNone);
		InitializeQueryCompletion(qc);
		(void) steward_portal_run(portal, FETCH_ALL, true, receiver, receiver, qc);
		receiver->rDestroy(receiver);
		PortalDrop(portal, false);

		CommitTransactionCommand();
		steward_notify_after_commit();
		disable_timeout(STATEMENT_TIMEOUT, false);
		debug_query_string = NULL;
		MemoryContextReset(stmtcxt);
	}
	MemoryContextDelete(stmtcxt);
	return errctx->nstmts;
}

void
steward_check_job_statement(Node *stmt)
{
	/*
	 * A runner has no client: COPY ... TO STDOUT would write into the
	 * server's own output (the log), FROM STDIN would read nothing.
	 */
	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->filename == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY to or from the client is not possible in a job"),
				 errdetail("A job has no client connection."),
				 errhint("COPY to or from a file or a program on the server, or use INSERT ... SELECT.")));
}

void
steward_exec_toplevel(const char *command)
{
	SqlKindErrorContext errctx = {0};
	QueryCompletion qc;

	(void) runner_exec_command(command, CurrentMemoryContext, &errctx, &qc);
}

static void
runner_kind_sql(StewardJobContext *ctx)
{
	MemoryContext old;
	SqlKindErrorContext errctx = {0};
	ErrorContextCallback callback;
	QueryCompletion qc;

	callback.callback = sql_kind_error_callback;
	callback.arg = &errctx;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	(void) runner_exec_command(ctx->command, ctx->mcxt, &errctx, &qc);
	error_context_stack = callback.previous;

	/* Summarise like psql would: the last statement's completion tag. */
	if (errctx.nstmts > 0)
	{
		StringInfoData msg;

		initStringInfo(&msg);
		appendStringInfoString(&msg, GetCommandTagName(qc.commandTag));
		if (command_tag_display_rowcount(qc.commandTag))
			appendStringInfo(&msg, qc.commandTag == CMDTAG_INSERT ? " 0 " UINT64_FORMAT : " " UINT64_FORMAT,
							 qc.nprocessed);
		if (errctx.nstmts > 1)
			appendStringInfo(&msg, " (%d statements)", errctx.nstmts);
		old = MemoryContextSwitchTo(ctx->mcxt);
		ctx->message = pstrdup(msg.data);
		MemoryContextSwitchTo(old);
	}
}
