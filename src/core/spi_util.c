/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Thin helpers around SPI used by every module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/timeout.h"
#include "utils/tuplestore.h"

#include "core/compat.h"
#include "core/guc.h"
#include "core/spi_util.h"

/*
 * Execute a parameterised statement.  Values always travel as parameters,
 * never spliced into the text.
 */
int
steward_spi_exec(const char *sql, int expected, int nargs,
				 Oid *argtypes, Datum *values, const char *nulls)
{
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "pg_steward: SPI_execute_with_args returned %s for \"%s\"",
			 SPI_result_code_string(ret), sql);
	return ret;
}

/*
 * steward_spi_exec() for a fixed statement run again and again by one
 * process (a runner's bookkeeping, a scheduler's pass): parsed and planned
 * once, then kept (SPI_keepplan) in *plan, a static of the caller.  The
 * plan cache replans it after DDL on what it uses (DROP and CREATE
 * EXTENSION included).
 */
static int
spi_exec_kept(SPIPlanPtr *plan, int cursor_options, const char *sql, int expected,
			  int nargs, Oid *argtypes, Datum *values, const char *nulls)
{
	int			ret;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (p == NULL)
			elog(ERROR, "pg_steward: SPI_prepare returned %s for \"%s\"",
				 SPI_result_code_string(SPI_result), sql);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "pg_steward: SPI_keepplan failed for \"%s\"", sql);
		*plan = p;
	}
	ret = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "pg_steward: SPI_execute_plan returned %s for \"%s\"",
			 SPI_result_code_string(ret), sql);
	return ret;
}

int
steward_spi_exec_kept(SPIPlanPtr *plan, const char *sql, int expected, int nargs,
					  Oid *argtypes, Datum *values, const char *nulls)
{
	return spi_exec_kept(plan, 0, sql, expected, nargs, argtypes, values, nulls);
}

/*
 * steward_spi_exec_kept() with a generic plan from the first execution on:
 * for statements that look rows up by key, whose plan does not depend on
 * the values.  The plan cache would otherwise plan a custom plan for each
 * of the first executions in every process, and keep doing so whenever it
 * estimates the generic plan dearer (a join with the owner's pg_authid
 * row did): planning was most of a runner's bookkeeping.
 */
int
steward_spi_exec_kept_generic(SPIPlanPtr *plan, const char *sql, int expected,
							  int nargs, Oid *argtypes, Datum *values,
							  const char *nulls)
{
	return spi_exec_kept(plan, CURSOR_OPT_GENERIC_PLAN, sql, expected, nargs,
						 argtypes, values, nulls);
}

Datum
steward_spi_getdatum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

/* Column as a palloc'd C string in the current memory context, or NULL. */
char *
steward_spi_gettext(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* Become 'role' in a security-restricted operation with a safe search_path. */
static void
steward_switch_user(Oid role, StewardCatalogAccess *acc)
{
	GetUserIdAndSecContext(&acc->save_userid, &acc->save_sec_context);
	SetUserIdAndSecContext(role,
						   acc->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	acc->save_nestlevel = NewGUCNestLevel();
	/* already so inside our SQL functions (SET search_path): save the work */
	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, STEWARD_SAFE_SEARCH_PATH) != 0)
		(void) set_config_option("search_path", STEWARD_SAFE_SEARCH_PATH,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
}

void
steward_catalog_enter(StewardCatalogAccess *acc)
{
	steward_switch_user(BOOTSTRAP_SUPERUSERID, acc);
}

Oid
steward_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

Oid
steward_owner_enter(Oid relid, StewardCatalogAccess *acc)
{
	Oid			owner = steward_rel_owner(relid);

	steward_switch_user(owner, acc);

	/*
	 * In a job, one table's slow code (a trigger that sleeps) must not hold
	 * up every table after it: its work fails with a statement timeout
	 * (steward_is_interrupt() tells that apart from a real cancel).  SQL
	 * calls have the caller's own statement_timeout.
	 */
	acc->armed_timeout = IsBackgroundWorker && steward_maintenance_statement_timeout > 0 &&
		!get_timeout_active(STATEMENT_TIMEOUT);	/* a job's own limit stays */
	if (acc->armed_timeout)
		enable_timeout_after(STATEMENT_TIMEOUT, steward_maintenance_statement_timeout);
	return owner;
}

void
steward_owner_exit(StewardCatalogAccess *acc)
{
	if (acc->armed_timeout)
		disable_timeout(STATEMENT_TIMEOUT, false);
	steward_catalog_exit(acc);
}

void
steward_catalog_exit(StewardCatalogAccess *acc)
{
	AtEOXact_GUC(false, acc->save_nestlevel);
	SetUserIdAndSecContext(acc->save_userid, acc->save_sec_context);
}

/*
 * The whole sequence for one catalog statement: catalog access, an SPI
 * connection of its own (nested if the caller has one), the statement, the
 * rows copied out to the caller's memory context while SPI still holds
 * them, and back.  On error, transaction or subtransaction abort undoes
 * the connection and the switch.
 */
StewardResult *
steward_catalog_exec(const char *sql, int expected, int nargs,
					 Oid *argtypes, Datum *values, const char *nulls)
{
	return steward_catalog_exec_kept(NULL, sql, expected, nargs, argtypes, values, nulls);
}

/*
 * steward_catalog_exec() with the statement's plan kept in *plan across
 * calls (for statements a caller runs often); plan NULL: planned each time.
 */
StewardResult *
steward_catalog_exec_kept(SPIPlanPtr *plan, const char *sql, int expected, int nargs,
						  Oid *argtypes, Datum *values, const char *nulls)
{
	MemoryContext callercxt = CurrentMemoryContext;
	StewardResult *res = palloc0(sizeof(StewardResult));
	StewardCatalogAccess acc;

	steward_catalog_enter(&acc);
	SPI_connect();
	if (plan != NULL)
		steward_spi_exec_kept(plan, sql, expected, nargs, argtypes, values, nulls);
	else
		steward_spi_exec(sql, expected, nargs, argtypes, values, nulls);
	res->processed = SPI_processed;
	if (SPI_tuptable != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(callercxt);
		uint64		i;

		res->tupdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		res->rows = palloc(sizeof(HeapTuple) * Max(res->processed, 1));
		for (i = 0; i < res->processed; i++)
			res->rows[i] = heap_copytuple(SPI_tuptable->vals[i]);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	steward_catalog_exit(&acc);
	return res;
}

Datum
steward_result_datum(StewardResult *res, uint64 row, int col, bool *isnull)
{
	Assert(res->tupdesc != NULL && row < res->processed);
	return heap_getattr(res->rows[row], col, res->tupdesc, isnull);
}

char *
steward_result_text(StewardResult *res, uint64 row, int col)
{
	Assert(res->tupdesc != NULL && row < res->processed);
	return SPI_getvalue(res->rows[row], res->tupdesc, col);
}

void
steward_restrict_search_path(void)
{
	SetConfigOption("search_path", STEWARD_SAFE_SEARCH_PATH, PGC_SUSET,
					PGC_S_OVERRIDE);
}

void
steward_init_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(old);
}

bool
steward_is_table_owner(Oid relid)
{
	return steward_class_ownercheck(relid, GetUserId());
}

bool
steward_may_create_in(Oid nsp, Oid role)
{
	return steward_namespace_aclcheck(nsp, role, ACL_CREATE) == ACLCHECK_OK;
}

void
steward_require_table_owner(Oid relid)
{
	/* as PostgreSQL's own commands say it: "must be owner of table t" */
	if (!steward_is_table_owner(relid))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

void
steward_require_finite_interval(const Interval *iv, const char *what)
{
	if (steward_interval_not_finite(iv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite interval", what)));
}

void
steward_require_positive_interval(const Interval *iv, const char *what)
{
	Interval	zero = {0};

	steward_require_finite_interval(iv, what);
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", what)));
}

char *
steward_rel_qualified_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		return NULL;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}
