/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  steward.migrate() and steward.rollback(): migrations applied and
 *	  undone in the caller's transaction.
 *
 * Both take a transaction-level advisory lock first, so a second session
 * waits and then sees the first one's work (READ COMMITTED: every catalog
 * statement takes a new snapshot), and a killed session leaves no lock
 * behind.  Each migration runs in a subtransaction of its own, as the
 * caller and with the caller's search_path, under lock_timeout =
 * steward.migration_lock_timeout; a try that hits a lock timeout (55P03)
 * is rolled back and run again after a backoff.  Any other error ends the
 * call: the failure is written into steward.migration_history by a
 * separate process (record.c), so it stays while the caller's transaction,
 * and with it every migration of the batch, rolls back.
 *
 * A migration that cannot run in a transaction block (CREATE INDEX
 * CONCURRENTLY, ...) is queued for the worker (worker.c): migrate() stops
 * there and the next call continues once the worker has applied it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/json.h"
#include "core/pg_steward.h"
#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migrate);
PG_FUNCTION_INFO_V1(steward_migration_rollback);

/* tries of a migration that does not get its locks in time */
#define MIGRATION_TRIES			5

/* the advisory lock of migrate(), rollback() and baseline(): two int4 keys */
#define MIGRATION_LOCK_CLASS	0x53545744	/* "STWD" */
#define MIGRATION_LOCK_OBJECT	1

bool		migration_running = false;

/* One migration (up or down) being run. */
typedef struct MigrationRun
{
	Migration  *m;
	const char *sql;
	const char *what;			/* "up_sql" or "down_sql" */
	List	   *stmts;			/* MigrationStmt */
	int			stmtno;			/* the statement running */
} MigrationRun;

void
migration_lock(void)
{
	DirectFunctionCall2(pg_advisory_xact_lock_int4,
						Int32GetDatum(MIGRATION_LOCK_CLASS),
						Int32GetDatum(MIGRATION_LOCK_OBJECT));
}

static void
migration_error_callback(void *arg)
{
	MigrationRun *run = (MigrationRun *) arg;

	if (run->stmtno > 0)
		errcontext("migration \"%s\" (%s), %s statement %d",
				   run->m->version, run->m->name, run->what, run->stmtno);
}

/* The statements of one migration, in a subtransaction (SPI connected). */
static void
migration_run_body(void *arg)
{
	MigrationRun *run = (MigrationRun *) arg;
	ErrorContextCallback callback;
	int			level = steward_push_lock_timeout(steward_migration_lock_timeout);
	ListCell   *lc;

	callback.callback = migration_error_callback;
	callback.arg = run;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	foreach(lc, run->stmts)
	{
		MigrationStmt *s = lfirst(lc);
		int			ret;

		run->stmtno = s->number;
		ret = SPI_execute(migration_stmt_text(run->sql, s), false, 0);
		if (ret < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("statement %d of %s of migration \"%s\" cannot run in a migration",
							s->number, run->what, run->m->version),
					 errdetail("SPI reported %s.", SPI_result_code_string(ret)),
					 errhint("Transaction control (BEGIN, COMMIT) has no place in a migration: migrate() runs each in a subtransaction.")));
	}
	error_context_stack = callback.previous;
	run->stmtno = 0;
	AtEOXact_GUC(true, level);
}

static ErrorData *
migration_run_try(void *arg)
{
	return steward_in_subxact(migration_run_body, arg);
}

/* "N microseconds": an interval's text input */
static char *
migration_usecs_text(TimestampTz start, TimestampTz end)
{
	return psprintf(INT64_FORMAT " microseconds", (int64) (end - start));
}

static Interval *
migration_interval(TimestampTz start, TimestampTz end)
{
	return DatumGetIntervalP(DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(end),
												 TimestampTzGetDatum(start)));
}

/*
 * Record a failed apply or rollback durably (record.c), as a JSON object of
 * the history row's columns.
 */
static void
migration_record_failure(MigrationRun *run, const char *action, TimestampTz started,
						 ErrorData *edata, Datum lint)
{
	StringInfoData buf;
	StringInfoData arr;
	TimestampTz now = GetCurrentTimestamp();
	ArrayType  *a = DatumGetArrayTypeP(lint);
	Datum	   *elems;
	int			n;
	int			i;

	initStringInfo(&arr);
	appendStringInfoChar(&arr, '[');
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&arr, ',');
		escape_json(&arr, TextDatumGetCString(elems[i]));
	}
	appendStringInfoChar(&arr, ']');

	initStringInfo(&buf);
	steward_json_begin(&buf);
	steward_json_add_str(&buf, "version", run->m->version);
	steward_json_add_str(&buf, "name", run->m->name);
	steward_json_add_str(&buf, "action", action);
	steward_json_add_str(&buf, "status", "failed");
	if (run->m->checksum != NULL && strcmp(action, "apply") == 0)
		steward_json_add_str(&buf, "checksum",
							 DatumGetCString(DirectFunctionCall1(byteaout,
																	 PointerGetDatum(run->m->checksum))));
	steward_json_add_str(&buf, "started_at", timestamptz_to_str(started));
	steward_json_add_str(&buf, "finished_at", timestamptz_to_str(now));
	steward_json_add_str(&buf, "duration", migration_usecs_text(started, now));
	steward_json_add_str(&buf, "applied_by", GetUserNameFromId(GetUserId(), false));
	steward_json_add_int64(&buf, "applied_by_oid", GetUserId());
	steward_json_add_str(&buf, "error", edata->message);
	steward_json_add_json(&buf, "lint_warnings", arr.data);
	steward_json_add_object(&buf, "detail");
	steward_json_add_str(&buf, "sqlstate", unpack_sql_state(edata->sqlerrcode));
	steward_json_add_str(&buf, "sql", run->what);
	if (run->stmtno > 0)
		steward_json_add_int64(&buf, "statement", run->stmtno);
	steward_json_add_str(&buf, "detail", edata->detail);
	steward_json_add_str(&buf, "hint", edata->hint);
	steward_json_add_str(&buf, "context", edata->context);
	steward_json_end(&buf);
	steward_json_end(&buf);

	if (!migration_record_durably(buf.data))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("the failure of migration \"%s\" could not be recorded in steward.migration_history",
						run->m->version),
				 errdetail("No background worker could be started to record it."),
				 errhint("Raise max_worker_processes.")));
}

/*
 * Run one migration's up_sql or down_sql in a subtransaction, with retries
 * on lock timeouts.  On success, the history row is written in the
 * caller's transaction; on failure it is recorded durably and the error is
 * raised.
 */
static Interval *
migration_run(Migration *m, bool up)
{
	MigrationRun run = {0};
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz finished;
	const char *action = up ? "apply" : "rollback";
	ErrorData  *edata;
	List	   *findings = NIL;
	Datum		lint;
	bool		saved = migration_running;

	run.m = m;
	run.sql = up ? m->up_sql : m->down_sql;
	run.what = up ? "up_sql" : "down_sql";
	run.stmts = migration_parse(run.sql, psprintf("%s of migration \"%s\"", run.what, m->version));
	if (up)
		findings = migration_lint_stmts(run.sql, run.stmts);
	(void) migration_lint_summary(findings, &lint);

	migration_running = true;
	PG_TRY();
	{
		edata = steward_retry_attempts_on_lock_timeout(migration_run_try, &run,
													   MIGRATION_TRIES, NULL);
	}
	PG_FINALLY();
	{
		migration_running = saved;
	}
	PG_END_TRY();
	if (edata != NULL)
	{
		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
			edata->message = psprintf("could not get a lock within steward.migration_lock_timeout (%d ms, %d tries): %s",
									  steward_migration_lock_timeout, MIGRATION_TRIES,
									  edata->message);
		migration_record_failure(&run, action, started, edata, lint);
		edata->hint = edata->hint ? edata->hint :
			pstrdup("The failure is recorded in steward.migration_history; this transaction rolls back.");
		ReThrowError(edata);
	}
	finished = GetCurrentTimestamp();
	steward_catalog_exec("INSERT INTO steward.migration_history"
						 " (version, name, action, status, checksum, started_at, finished_at,"
						 "  duration, applied_by, applied_by_oid, lint_warnings)"
						 " VALUES ($1, $2, $3, 'succeeded', $4, $5, $6, $6 - $5, $7, $8, $9)",
						 SPI_OK_INSERT, 9,
						 (Oid[]) {TEXTOID, TEXTOID, TEXTOID, BYTEAOID, TIMESTAMPTZOID,
							 TIMESTAMPTZOID, TEXTOID, OIDOID, TEXTARRAYOID},
						 (Datum[]) {CStringGetTextDatum(m->version), CStringGetTextDatum(m->name),
							 CStringGetTextDatum(action), PointerGetDatum(m->checksum),
							 TimestampTzGetDatum(started), TimestampTzGetDatum(finished),
							 CStringGetTextDatum(GetUserNameFromId(GetUserId(), false)),
						 ObjectIdGetDatum(GetUserId()), lint},
						 (char[]) {' ', ' ', ' ', (up && m->checksum) ? ' ' : 'n', ' ', ' ', ' ', ' ', ' '});
	return migration_interval(started, finished);
}

/* Queue a non-transactional migration for the worker (history row 'queued'). */
static void
migration_queue(Migration *m, List *findings)
{
	Datum		lint;

	steward_require_preload("a migration that cannot run in a transaction block");
	(void) migration_lint_summary(findings, &lint);
	steward_catalog_exec("INSERT INTO steward.migration_history"
						 " (version, name, action, status, checksum, applied_by,"
						 "  applied_by_oid, lint_warnings, search_path)"
						 " VALUES ($1, $2, 'apply', 'queued', $3, $4, $5, $6, $7)",
						 SPI_OK_INSERT, 7,
						 (Oid[]) {TEXTOID, TEXTOID, BYTEAOID, TEXTOID, OIDOID,
							 TEXTARRAYOID, TEXTOID},
						 (Datum[]) {CStringGetTextDatum(m->version), CStringGetTextDatum(m->name),
							 PointerGetDatum(m->checksum),
							 CStringGetTextDatum(GetUserNameFromId(GetUserId(), false)),
							 ObjectIdGetDatum(GetUserId()), lint,
						 CStringGetTextDatum(namespace_search_path)}, NULL);
	migration_queue_job();
}

static void
migration_put(FunctionCallInfo fcinfo, Migration *m, const char *action,
			  Interval *duration, const char *notes)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, duration == NULL, notes == NULL};

	values[0] = CStringGetTextDatum(m->version);
	values[1] = CStringGetTextDatum(m->name);
	values[2] = CStringGetTextDatum(action);
	values[3] = duration ? IntervalPGetDatum(duration) : (Datum) 0;
	values[4] = notes ? CStringGetTextDatum(notes) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static Migration *
migration_find(List *all, const char *version)
{
	ListCell   *lc;

	foreach(lc, all)
	{
		Migration  *m = lfirst(lc);

		if (migration_version_cmp(m->version, version) == 0)
			return m;
	}
	return NULL;
}

static void
migration_require_read_committed(const char *fn)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s must run at isolation level READ COMMITTED", fn),
				 errdetail("After waiting for another session's migrations it must see what they did."),
				 errhint("Run it in a READ COMMITTED transaction, the default.")));
}

/* Are the requirements of 'm' applied (in 'all', 'done' being applied in this call)? */
static bool
migration_requires_met(Migration *m, List *all, List *done)
{
	ListCell   *lc;

	foreach(lc, m->requires)
	{
		char	   *req = lfirst(lc);
		Migration  *r = migration_find(all, req);

		if (r == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("migration \"%s\" requires \"%s\", which is not registered",
							m->version, req),
					 errhint("Register \"%s\" with steward.migration_add().", req)));
		if (!migration_state_applied(r->state) && !list_member_ptr(done, r))
			return false;
	}
	return true;
}

/*
 * steward.migrate(target text DEFAULT NULL, dry_run bool DEFAULT false)
 *	RETURNS TABLE(version, name, action, duration, notes)
 */
Datum
steward_migrate(PG_FUNCTION_ARGS)
{
	char	   *target = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		dry_run = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	List	   *all;
	List	   *pending = NIL;
	List	   *done = NIL;
	Migration  *highest = NULL;
	ListCell   *lc;

	steward_init_srf(fcinfo);
	migration_require_read_committed("steward.migrate()");
	if (!dry_run)
		migration_lock();
	SPI_connect();
	all = migration_catalog_load();
	if (target != NULL && migration_find(all, target) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("target migration \"%s\" is not registered", target)));

	foreach(lc, all)
	{
		Migration  *m = lfirst(lc);

		if (strcmp(m->state, "queued") == 0)
		{
			/* the worker has it: nothing after it runs before it is done */
			migration_put(fcinfo, m, "queued", NULL, "waiting for the worker");
			SPI_finish();
			return (Datum) 0;
		}
		if (strcmp(m->state, "changed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_RAISE_EXCEPTION),
					 errmsg("migration \"%s\" was changed after it was applied", m->version),
					 errdetail("The checksum of its up_sql differs from the one applied."),
					 errhint("Restore its text, or accept the new one with steward.migration_replace().")));
		if (migration_state_applied(m->state))
			highest = m;
		else if (target == NULL || migration_version_cmp(m->version, target) <= 0)
			pending = lappend(pending, m);
	}

	/* out of order: a pending version below an applied one */
	if (highest != NULL && !steward_migration_out_of_order)
		foreach(lc, pending)
		{
			Migration  *m = lfirst(lc);

			if (migration_version_cmp(m->version, highest->version) < 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("migration \"%s\" is pending but \"%s\" is already applied",
								m->version, highest->version),
						 errdetail("Applying it now would apply versions out of order."),
						 errhint("SET steward.migration_out_of_order = on to apply it anyway.")));
		}

	/* in order; a version whose requirements are pending waits for them */
	while (pending != NIL)
	{
		Migration  *next = NULL;
		List	   *stmts;
		List	   *findings;
		char	   *notes;

		foreach(lc, pending)
		{
			Migration  *m = lfirst(lc);

			if (migration_requires_met(m, all, done))
			{
				next = m;
				break;
			}
		}
		if (next == NULL)
		{
			Migration  *m = linitial(pending);

			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration \"%s\" requires versions that cannot be applied",
							m->version),
					 errdetail("Its requirements are above target or depend on each other.")));
		}
		pending = list_delete_ptr(pending, next);

		stmts = migration_parse(next->up_sql,
								psprintf("up_sql of migration \"%s\"", next->version));
		findings = migration_lint_stmts(next->up_sql, stmts);
		notes = migration_lint_summary(findings, NULL);
		if (!next->transactional)
		{
			if (!dry_run)
				migration_queue(next, findings);
			migration_put(fcinfo, next, dry_run ? "would queue" : "queued", NULL,
						  psprintf("runs in the worker: it cannot run in a transaction block%s%s",
								   notes ? "; " : "", notes ? notes : ""));
			break;
		}
		if (dry_run)
			migration_put(fcinfo, next, "would apply", NULL, notes);
		else
			migration_put(fcinfo, next, "applied", migration_run(next, true), notes);
		done = lappend(done, next);
	}
	SPI_finish();
	return (Datum) 0;
}

/* Latest applied first. */
static int
migration_applied_desc(const ListCell *a, const ListCell *b)
{
	int64		ia = ((Migration *) lfirst(a))->applied_id;
	int64		ib = ((Migration *) lfirst(b))->applied_id;

	return (ia < ib) - (ia > ib);
}

/*
 * steward.rollback(target text) RETURNS TABLE(version, name, action,
 * duration, notes): down_sql of every applied version above target, in the
 * reverse order of their application (so a version that required another
 * is undone first).  target '0' rolls back everything.
 */
Datum
steward_migration_rollback(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *all;
	List	   *undo = NIL;
	ListCell   *lc;
	StringInfoData missing;

	steward_init_srf(fcinfo);
	migration_check_version(target, "rollback target");
	migration_require_read_committed("steward.rollback()");
	migration_lock();
	SPI_connect();
	all = migration_catalog_load();
	if (migration_find(all, target) == NULL && migration_version_cmp(target, "0") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("target migration \"%s\" is not registered", target),
				 errhint("Use '0' to roll back every applied migration.")));

	initStringInfo(&missing);
	foreach(lc, all)
	{
		Migration  *m = lfirst(lc);

		if (migration_version_cmp(m->version, target) <= 0)
			continue;
		if (strcmp(m->state, "queued") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("migration \"%s\" is queued for the worker", m->version),
					 errhint("Wait until the worker has applied it.")));
		if (!migration_state_applied(m->state))
			continue;
		if (m->up_sql == NULL || m->down_sql == NULL)
			appendStringInfo(&missing, "%s%s%s", missing.len ? ", " : "", m->version,
							 m->up_sql == NULL ? " (not registered)" : "");
		undo = lcons(m, undo);
	}
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot roll back to \"%s\": some migrations have no down_sql", target),
				 errdetail("Without down_sql: %s.", missing.data),
				 errhint("Register their down_sql with steward.migration_add(), or choose a later target.")));
	list_sort(undo, migration_applied_desc);

	foreach(lc, undo)
	{
		Migration  *m = lfirst(lc);
		List	   *stmts = migration_parse(m->down_sql,
											psprintf("down_sql of migration \"%s\"", m->version));
		ListCell   *ls;

		foreach(ls, stmts)
			if (!((MigrationStmt *) lfirst(ls))->transactional)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("down_sql of migration \"%s\" cannot run in a transaction block",
								m->version),
						 errhint("Run its statements by hand, then record the state with steward.baseline() or a new migration.")));
		migration_put(fcinfo, m, "rolled back", migration_run(m, false), NULL);
	}
	SPI_finish();
	return (Datum) 0;
}
