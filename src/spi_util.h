/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Small shared helpers around SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SPI_UTIL_H
#define STEWARD_SPI_UTIL_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "fmgr.h"

/* Run one parameterised statement; error out unless SPI returns 'expected'. */
extern int	steward_spi_exec(const char *sql, int expected, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls);

/* Helpers to read column 'col' (1-based) of row 'row' of SPI_tuptable. */
extern Datum steward_spi_getdatum(int row, int col, bool *isnull);
extern char *steward_spi_gettext(int row, int col);

/*
 * Catalog access on behalf of a less privileged caller: switch to the
 * bootstrap superuser with a locked-down search_path, so fixed, schema-
 * qualified statements on steward's tables work whatever the caller's
 * privileges and search_path are.  Transaction abort undoes both.
 */
typedef struct StewardCatalogAccess
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} StewardCatalogAccess;

extern void steward_catalog_enter(StewardCatalogAccess *acc);
extern void steward_catalog_exit(StewardCatalogAccess *acc);

/* Set up a materialized set-returning function (any PostgreSQL version). */
extern void steward_init_srf(FunctionCallInfo fcinfo);

/* Does the current role own table 'relid' (or have its owner's privileges)? */
extern bool steward_is_table_owner(Oid relid);

/*
 * Set lock_timeout to 'ms' for what follows; returns the GUC nest level to
 * pass to AtEOXact_GUC(true, level) to restore it (abort restores it too).
 */
extern int	steward_push_lock_timeout(int ms);

/* Refuse infinite intervals (PostgreSQL 17 accepts 'infinity'). */
extern void steward_require_finite_interval(const Interval *iv, const char *what);

/* Restrict this session's search_path for good (workers). */
extern void steward_restrict_search_path(void);

#endif							/* STEWARD_SPI_UTIL_H */
