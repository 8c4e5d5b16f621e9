/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The "migration" job kind: migrations that cannot run in a
 *	  transaction block, applied by the worker.
 *
 * migrate() queues such a migration (a history row with status 'queued',
 * the caller's role and search_path) and enables the caller's job
 * "steward_migrations" of this kind (schedule: every second), so the job
 * runs as the role that called migrate(), never as a superuser.  The
 * entry point claims the role's queued rows one by one and runs each
 * statement at top level in a transaction of its own, as psql would, under
 * lock_timeout = steward.migration_lock_timeout; a statement that hits a
 * lock timeout is tried again after a backoff.  When CREATE INDEX
 * CONCURRENTLY fails it leaves an INVALID index behind: the worker drops it
 * (DROP INDEX CONCURRENTLY) before trying again, and drops an INVALID index
 * of the same name left by an earlier, interrupted run before the first
 * try.  The row becomes 'succeeded' or 'failed'; once nothing of the role
 * is queued, the job disables itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/json.h"
#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"
#include "scheduler/job_kind.h"
#include "scheduler/job_runner.h"
#include "scheduler/jobs.h"

#define MIGRATION_JOB_NAME		"steward_migrations"
#define MIGRATION_WORKER_TRIES	5

static void migration_kind(StewardJobContext *ctx);

static const StewardJobKind migration_job_kind = {
	.name = "migration",
	.main = migration_kind,
	.validate = NULL,
	.takes_command = false,
	.description = "applies the migrations steward.migrate() queued because they cannot run in a transaction block"
};

void
steward_migrations_init(void)
{
	steward_register_job_kind(&migration_job_kind);
}

/* Create or enable the caller's migration job (at commit it can run). */
void
migration_queue_job(void)
{
	StewardJobSpec spec = {0};

	spec.kind = migration_job_kind.name;
	spec.name = MIGRATION_JOB_NAME;
	spec.schedule = "1 seconds";
	spec.owner = GetUserId();
	spec.enabled = true;
	spec.max_retries = 0;
	(void) steward_job_define(&spec);
}

/* A claimed queued migration. */
typedef struct MigrationClaim
{
	MemoryContext mcxt;
	bool		found;
	int64		history_id;
	char	   *version;
	char	   *search_path;
	char	   *up_sql;
} MigrationClaim;

static void
migration_claim(void *arg)
{
	MigrationClaim *c = (MigrationClaim *) arg;
	Datum		role = ObjectIdGetDatum(GetUserId());
	StewardResult *res;
	MemoryContext old;
	bool		isnull;

	/* 'running': an earlier run of this job ended before it finished */
	res = steward_catalog_exec("UPDATE steward.migration_history h"
							   "   SET status = 'running', started_at = pg_catalog.now()"
							   " WHERE h.history_id = (SELECT q.history_id"
							   "        FROM steward.migration_history q"
							   "       WHERE q.applied_by_oid = $1"
							   "         AND q.status IN ('queued', 'running')"
							   "       ORDER BY q.history_id LIMIT 1"
							   "         FOR UPDATE SKIP LOCKED)"
							   " RETURNING h.history_id, h.version, h.search_path,"
							   "   (SELECT m.up_sql FROM steward.migration m WHERE m.version = h.version)",
							   SPI_OK_UPDATE_RETURNING, 1, (Oid[]) {OIDOID}, &role, NULL);
	c->found = res->processed > 0;
	if (!c->found)
		return;
	old = MemoryContextSwitchTo(c->mcxt);
	c->history_id = DatumGetInt64(steward_result_datum(res, 0, 1, &isnull));
	c->version = steward_result_text(res, 0, 2);
	c->search_path = steward_result_text(res, 0, 3);
	c->up_sql = steward_result_text(res, 0, 4);
	MemoryContextSwitchTo(old);
}

/* One statement the worker runs, and the table of a CREATE INDEX. */
typedef struct MigrationWorkerStmt
{
	MemoryContext mcxt;
	char	   *sql;
	IndexStmt  *index;			/* or NULL */
	List	   *invalid;		/* out: OIDs of the table's INVALID indexes */
	char	   *stale_name;		/* in: also list an INVALID index of this name */
} MigrationWorkerStmt;

static void
migration_list_invalid(void *arg)
{
	MigrationWorkerStmt *w = (MigrationWorkerStmt *) arg;
	Oid			relid = RangeVarGetRelid(w->index->relation, NoLock, true);
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	uint64		i;

	w->invalid = NIL;
	if (!OidIsValid(relid))
		return;
	values[0] = ObjectIdGetDatum(relid);
	if (w->stale_name != NULL)
		values[1] = CStringGetTextDatum(w->stale_name);
	else
		nulls[1] = 'n';
	steward_spi_exec("SELECT i.indexrelid FROM pg_catalog.pg_index i"
					 "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
					 " WHERE i.indrelid = $1 AND NOT i.indisvalid"
					 "   AND ($2 IS NULL OR c.relname = $2)",
					 SPI_OK_SELECT, 2, (Oid[]) {OIDOID, TEXTOID}, values, nulls);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(w->mcxt);

		w->invalid = lappend_oid(w->invalid,
								 DatumGetObjectId(steward_spi_getdatum(i, 1, &isnull)));
		MemoryContextSwitchTo(old);
	}
}

typedef struct MigrationIndexName
{
	Oid			indexid;
	char	   *name;			/* out, in the caller's context */
	MemoryContext mcxt;
} MigrationIndexName;

static void
migration_index_name(void *arg)
{
	MigrationIndexName *n = (MigrationIndexName *) arg;
	char	   *name = steward_rel_qualified_name(n->indexid);

	n->name = name ? MemoryContextStrdup(n->mcxt, name) : NULL;
}

/* Drop the INVALID indexes in 'invalid' not in 'before' (as the role). */
static void
migration_drop_invalid(MigrationWorkerStmt *w, List *before)
{
	ListCell   *lc;

	foreach(lc, w->invalid)
	{
		MigrationIndexName n = {lfirst_oid(lc), NULL, CurrentMemoryContext};
		ErrorData  *edata;

		if (list_member_oid(before, n.indexid))
			continue;
		edata = steward_in_xact(migration_index_name, &n, CurrentMemoryContext);
		if (edata != NULL || n.name == NULL)
			continue;
		ereport(LOG,
				(errmsg("pg_steward: dropping invalid index %s left by a failed concurrent build",
						n.name)));
		PG_TRY();
		{
			steward_exec_toplevel(psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", n.name));
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
		}
		PG_END_TRY();
	}
}

/* One try of one statement at top level; returns its error or NULL. */
static ErrorData *
migration_worker_try(void *arg)
{
	MigrationWorkerStmt *w = (MigrationWorkerStmt *) arg;
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile edata = NULL;
	List	   *volatile before = NIL;

	if (w->index != NULL)
	{
		/* an INVALID index of the same name left by an interrupted run */
		if (w->stale_name != NULL)
		{
			if (steward_in_xact(migration_list_invalid, w, cxt) == NULL)
				migration_drop_invalid(w, NIL);
			w->stale_name = NULL;
		}
		if (steward_in_xact(migration_list_invalid, w, cxt) == NULL)
			before = w->invalid;
	}

	PG_TRY();
	{
		steward_exec_toplevel(w->sql);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);

	if (edata != NULL && w->index != NULL &&
		steward_in_xact(migration_list_invalid, w, cxt) == NULL)
		migration_drop_invalid(w, before);
	return edata;
}

/* The outcome of a claimed migration, written in a transaction of its own. */
typedef struct MigrationOutcome
{
	int64		history_id;
	ErrorData  *edata;			/* NULL: succeeded */
	int			stmtno;
} MigrationOutcome;

static void
migration_finish(void *arg)
{
	MigrationOutcome *o = (MigrationOutcome *) arg;
	Datum		values[4];
	char		nulls[4] = {' ', 'n', 'n', ' '};

	values[0] = Int64GetDatum(o->history_id);
	values[3] = BoolGetDatum(o->edata == NULL);
	if (o->edata != NULL)
	{
		StringInfoData buf;

		values[1] = CStringGetTextDatum(o->edata->message);
		nulls[1] = ' ';
		initStringInfo(&buf);
		steward_json_begin(&buf);
		steward_json_add_str(&buf, "sqlstate", unpack_sql_state(o->edata->sqlerrcode));
		steward_json_add_str(&buf, "sql", "up_sql");
		steward_json_add_int64(&buf, "statement", o->stmtno);
		steward_json_add_str(&buf, "detail", o->edata->detail);
		steward_json_add_str(&buf, "hint", o->edata->hint);
		steward_json_end(&buf);
		values[2] = CStringGetTextDatum(buf.data);
		nulls[2] = ' ';
	}
	steward_catalog_exec("UPDATE steward.migration_history"
						 "   SET status = CASE WHEN $4 THEN 'succeeded' ELSE 'failed' END,"
						 "       finished_at = pg_catalog.clock_timestamp(),"
						 "       duration = pg_catalog.clock_timestamp() - started_at,"
						 "       error = $2, detail = $3::pg_catalog.jsonb"
						 " WHERE history_id = $1",
						 SPI_OK_UPDATE, 4, (Oid[]) {INT8OID, TEXTOID, TEXTOID, BOOLOID},
						 values, nulls);
}

typedef struct MigrationJobRef
{
	int64		job_id;
} MigrationJobRef;

/* Nothing of this role is queued any more: disable its job. */
static void
migration_disable_job(void *arg)
{
	MigrationJobRef *ref = (MigrationJobRef *) arg;

	steward_catalog_exec("UPDATE steward.job j SET enabled = false"
						 " WHERE j.job_id = $1 AND NOT EXISTS ("
						 "   SELECT FROM steward.migration_history h"
						 "    WHERE h.applied_by_oid = $2 AND h.status IN ('queued', 'running'))",
						 SPI_OK_UPDATE, 2, (Oid[]) {INT8OID, OIDOID},
						 (Datum[]) {Int64GetDatum(ref->job_id), ObjectIdGetDatum(GetUserId())},
						 NULL);
}

/* Run the statements of a claimed migration; returns the error or NULL. */
static ErrorData *
migration_worker_apply(MigrationClaim *c, int *stmtno)
{
	List	   *stmts;
	ListCell   *lc;
	char		timeout[32];

	if (c->up_sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queued migration \"%s\" is no longer registered", c->version)));
	stmts = migration_parse(c->up_sql, psprintf("up_sql of migration \"%s\"", c->version));
	if (c->search_path != NULL)
		SetConfigOption("search_path", c->search_path, PGC_USERSET, PGC_S_SESSION);
	snprintf(timeout, sizeof(timeout), "%d", steward_migration_lock_timeout);
	SetConfigOption("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION);

	foreach(lc, stmts)
	{
		MigrationStmt *s = lfirst(lc);
		MigrationWorkerStmt w = {0};
		ErrorData  *edata;

		w.mcxt = CurrentMemoryContext;
		w.sql = migration_stmt_text(c->up_sql, s);
		if (IsA(s->raw->stmt, IndexStmt))
		{
			w.index = (IndexStmt *) s->raw->stmt;
			w.stale_name = w.index->idxname;
		}
		*stmtno = s->number;
		edata = steward_retry_attempts_on_lock_timeout(migration_worker_try, &w,
													   MIGRATION_WORKER_TRIES, NULL);
		if (edata != NULL)
		{
			if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
				edata->message = psprintf("could not get a lock within steward.migration_lock_timeout (%d ms, %d tries): %s",
										  steward_migration_lock_timeout,
										  MIGRATION_WORKER_TRIES, edata->message);
			return edata;
		}
	}
	return NULL;
}

static void
migration_kind(StewardJobContext *ctx)
{
	MigrationJobRef ref = {ctx->job_id};
	StringInfoData failed;
	volatile int applied = 0;
	ErrorData  *edata;

	initStringInfo(&failed);
	for (;;)
	{
		MigrationClaim claim = {0};
		MigrationOutcome outcome = {0};

		claim.mcxt = ctx->mcxt;
		edata = steward_in_xact(migration_claim, &claim, ctx->mcxt);
		if (edata != NULL)
			ReThrowError(edata);
		if (!claim.found)
			break;

		outcome.history_id = claim.history_id;
		migration_running = true;
		PG_TRY();
		{
			outcome.edata = migration_worker_apply(&claim, &outcome.stmtno);
		}
		PG_FINALLY();
		{
			migration_running = false;
		}
		PG_END_TRY();
		edata = steward_in_xact(migration_finish, &outcome, ctx->mcxt);
		if (edata != NULL)
			ReThrowError(edata);
		if (outcome.edata == NULL)
			applied++;
		else
			appendStringInfo(&failed, "%s%s: %s", failed.len ? "; " : "",
							 claim.version, outcome.edata->message);
	}
	edata = steward_in_xact(migration_disable_job, &ref, ctx->mcxt);
	if (edata != NULL)
		ReThrowError(edata);
	if (failed.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_RAISE_EXCEPTION),
				 errmsg("queued migration failed: %s", failed.data),
				 errhint("steward.migration_history has the error; fix the migration and call steward.migrate() again.")));
	ctx->message = MemoryContextStrdup(ctx->mcxt,
									   psprintf("%d migration%s applied", applied,
												applied == 1 ? "" : "s"));
}
