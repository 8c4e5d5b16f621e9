/*-------------------------------------------------------------------------
 *
 * driver.c
 *	  The health check driver: steward.health() and steward.health_check().
 *
 * Each check is a set-returning SQL function steward.health_<name>() in
 * schema/90_health.sql returning steward.health_result rows for the
 * objects that are not ok.  The driver runs each enabled check in a
 * subtransaction of its own, so a check that fails (no privilege, a
 * catalog race) reports one 'unknown' row and the others go on; a check
 * that returns nothing reports one 'ok' row.  Checks run with the
 * caller's rights.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "core/spi_util.h"
#include "health/health.h"
#include "health/health_int.h"

PG_FUNCTION_INFO_V1(steward_health);
PG_FUNCTION_INFO_V1(steward_health_check);

/* Every check, in the order steward.health() reports them. */
static const char *const health_checks[] = {
	"connections",
	"long_running_queries",
	"idle_in_transaction",
	"blocking_locks",
	"prepared_transactions",
	"xid_wraparound",
	"multixact_wraparound",
	"replication",
	"cache_hit_ratio",
	"table_bloat",
	"index_bloat",
	"unused_indexes",
	"duplicate_indexes",
	"invalid_indexes",
	"missing_fk_indexes",
	"vacuum_stale",
	"analyze_stale",
	"sequence_exhaustion",
	"wal_archiving",
	"checkpoints",
	"backup_freshness",
	"partition_premake",
	"job_failures",
	"audit_seal",
	"migration_drift",
};

#define HEALTH_NCOLS 8

/*
 * The order min_status filters by: ok < warning < unknown < critical, so
 * that min_status 'warning' also returns the checks that could not run.
 */
static int
health_filter_rank(const char *status)
{
	if (strcmp(status, "ok") == 0)
		return 0;
	if (strcmp(status, "warning") == 0)
		return 1;
	if (strcmp(status, "unknown") == 0)
		return 2;
	if (strcmp(status, "critical") == 0)
		return 3;
	return -1;
}

bool
health_is_check(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(health_checks); i++)
		if (strcmp(health_checks[i], name) == 0)
			return true;
	return false;
}

typedef struct HealthRun
{
	const char *name;
	MemoryContext mcxt;			/* where the rows are copied */
	List	   *rows;			/* out: HeapTuple, in mcxt */
	TupleDesc	tupdesc;		/* out: their descriptor, in mcxt */
} HealthRun;

/* Run one check's function; its rows are copied out of SPI. */
static void
health_run_body(void *arg)
{
	HealthRun  *run = (HealthRun *) arg;
	char	   *sql;
	uint64		i;

	SPI_connect();
	sql = psprintf("SELECT check_name, status, object, value, warning, critical, detail, hint"
				   " FROM steward.%s()", quote_identifier(psprintf("health_%s", run->name)));
	steward_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(run->mcxt);

		run->rows = lappend(run->rows, heap_copytuple(SPI_tuptable->vals[i]));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/* Is the check enabled?  (Some threshold row of it is; no rows: yes.) */
static bool
health_enabled(const char *name)
{
	bool		isnull;
	Datum		d;
	bool		enabled;

	SPI_connect();
	steward_spi_exec("SELECT pg_catalog.bool_or(t.enabled) FROM steward.health_threshold t"
					 " WHERE t.check_name = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID},
					 (Datum[]) {CStringGetTextDatum(name)}, NULL);
	d = steward_spi_getdatum(0, 1, &isnull);
	enabled = isnull || DatumGetBool(d);
	SPI_finish();
	return enabled;
}

static void
health_put(Tuplestorestate *ts, TupleDesc desc, const char *name, const char *status,
		   const char *detail, const char *hint)
{
	Datum		values[HEALTH_NCOLS] = {0};
	bool		nulls[HEALTH_NCOLS] = {true, true, true, true, true, true, true, true};

	values[0] = CStringGetTextDatum(name);
	nulls[0] = false;
	values[1] = CStringGetTextDatum(status);
	nulls[1] = false;
	if (detail)
	{
		values[6] = CStringGetTextDatum(detail);
		nulls[6] = false;
	}
	if (hint)
	{
		values[7] = CStringGetTextDatum(hint);
		nulls[7] = false;
	}
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * Run check 'name' and add the rows whose status ranks at least min_rank
 * to the tuplestore.
 */
static void
health_run_check(const char *name, Tuplestorestate *ts, TupleDesc desc, int min_rank)
{
	HealthRun	run = {0};
	ErrorData  *edata;
	ListCell   *lc;

	run.name = name;
	run.mcxt = CurrentMemoryContext;
	edata = steward_in_subxact(health_run_body, &run);
	if (edata != NULL)
	{
		const char *hint = NULL;

		if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
			hint = "run the health checks as a superuser or the extension's owner (the health_snapshot job does), or grant the privilege named in the detail";
		if (health_filter_rank("unknown") >= min_rank)
			health_put(ts, desc, name, "unknown",
					   psprintf("the check could not run: %s", edata->message), hint);
		FreeErrorData(edata);
		return;
	}
	if (run.rows == NIL)
	{
		if (min_rank <= 0)
			health_put(ts, desc, name, "ok", "nothing to report", NULL);
		return;
	}
	foreach(lc, run.rows)
	{
		HeapTuple	tuple = (HeapTuple) lfirst(lc);
		Datum		values[HEALTH_NCOLS];
		bool		nulls[HEALTH_NCOLS];
		int			rank;

		heap_deform_tuple(tuple, desc, values, nulls);
		rank = nulls[1] ? 2 : health_filter_rank(TextDatumGetCString(values[1]));
		if (rank >= min_rank)
			tuplestore_putvalues(ts, desc, values, nulls);
	}
}

static int
health_min_rank(text *min_status)
{
	char	   *s = text_to_cstring(min_status);
	int			rank = health_filter_rank(s);

	if (rank < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid health status \"%s\"", s),
				 errhint("Use ok, warning, unknown or critical.")));
	return rank;
}

/* steward.health(min_status text DEFAULT 'warning') */
Datum
steward_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			min_rank = PG_ARGISNULL(0) ? 1 : health_min_rank(PG_GETARG_TEXT_PP(0));
	int			i;

	steward_init_srf(fcinfo);
	for (i = 0; i < lengthof(health_checks); i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!health_enabled(health_checks[i]))
			continue;
		health_run_check(health_checks[i], rsinfo->setResult, rsinfo->setDesc, min_rank);
	}
	return (Datum) 0;
}

/* steward.health_check(check_name text): one check, every row, enabled or not. */
Datum
steward_health_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (!health_is_check(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown health check \"%s\"", name),
				 errhint("SELECT DISTINCT check_name FROM steward.health_threshold lists the checks.")));
	steward_init_srf(fcinfo);
	health_run_check(name, rsinfo->setResult, rsinfo->setDesc, 0);
	return (Datum) 0;
}
