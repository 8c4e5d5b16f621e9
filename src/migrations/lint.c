/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  The migration linter: safety rules checked against the live catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migration_lint);

/* Findings for the statements of 'sql' (placeholder: no rule yet). */
List *
migration_lint_stmts(const char *sql, List *stmts)
{
	return NIL;
}

/* steward.migration_lint(sql text) RETURNS SETOF steward.lint_finding */
Datum
steward_migration_lint(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *findings;
	ListCell   *lc;

	steward_init_srf(fcinfo);
	findings = migration_lint_stmts(sql, migration_parse(sql, "sql"));
	foreach(lc, findings)
	{
		LintFinding *f = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(f->rule);
		values[1] = CStringGetTextDatum(f->severity);
		values[2] = Int32GetDatum(f->statement);
		values[3] = Int32GetDatum(f->location);
		values[4] = CStringGetTextDatum(f->message);
		if (f->hint != NULL)
			values[5] = CStringGetTextDatum(f->hint);
		else
			nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
