/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Thin helpers around SPI used by every module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"

#include "spi_util.h"

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
