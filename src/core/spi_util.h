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

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"

/* the transaction helpers: steward_in_xact(), steward_in_subxact(), ... */
#include "core/xact.h"

/* Run one parameterised statement; error out unless SPI returns 'expected'. */
extern int	steward_spi_exec(const char *sql, int expected, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls);
extern int	steward_spi_exec_kept(SPIPlanPtr *plan, const char *sql, int expected,
								  int nargs, Oid *argtypes, Datum *values,
								  const char *nulls);
extern int	steward_spi_exec_kept_generic(SPIPlanPtr *plan, const char *sql,
										  int expected, int nargs, Oid *argtypes,
										  Datum *values, const char *nulls);

/* Helpers to read column 'col' (1-based) of row 'row' of SPI_tuptable. */
extern Datum steward_spi_getdatum(int row, int col, bool *isnull);
extern char *steward_spi_gettext(int row, int col);

/* The search_path of every catalog access and of work as a table's owner. */
#define STEWARD_SAFE_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * A switch of the current user, security context and search_path; the
 * matching exit restores all three.  Transaction abort undoes them too.
 */
typedef struct StewardCatalogAccess
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		armed_timeout;	/* steward_owner_enter armed a time limit */
} StewardCatalogAccess;

/*
 * Catalog access on behalf of a less privileged caller: switch to the
 * bootstrap superuser with a locked-down search_path, so fixed, schema-
 * qualified statements on steward's tables work whatever the caller's
 * privileges and search_path are.  Never run users' code inside.
 */
extern void steward_catalog_enter(StewardCatalogAccess *acc);
extern void steward_catalog_exit(StewardCatalogAccess *acc);

/*
 * A catalog statement's outcome, its rows copied into the memory context
 * that was current at the call: valid after SPI_finish(), for as long as
 * that context lives.  tupdesc and rows are NULL for statements that
 * return no rows.
 */
typedef struct StewardResult
{
	uint64		processed;		/* SPI_processed */
	TupleDesc	tupdesc;
	HeapTuple  *rows;			/* 'processed' rows */
} StewardResult;

/*
 * Run one fixed, parameterised statement on steward's catalog with the
 * extension's rights: steward_catalog_enter(), SPI_connect() (nested if
 * the caller is connected), steward_spi_exec() (error unless SPI returns
 * 'expected'), rows copied out, SPI_finish(), steward_catalog_exit().  The
 * caller needs no SPI connection and reads the rows with the functions
 * below, never through SPI_tuptable.
 */
extern StewardResult *steward_catalog_exec(const char *sql, int expected, int nargs,
										   Oid *argtypes, Datum *values, const char *nulls);
extern StewardResult *steward_catalog_exec_kept(SPIPlanPtr *plan, const char *sql,
												int expected, int nargs, Oid *argtypes,
												Datum *values, const char *nulls);

/* Column 'col' (1-based) of row 'row': by-reference values point into res. */
extern Datum steward_result_datum(StewardResult *res, uint64 row, int col, bool *isnull);

/* The same as text, palloc'd in the current memory context, or NULL. */
extern char *steward_result_text(StewardResult *res, uint64 row, int col);

/*
 * Act as the owner of table 'relid', as VACUUM and REFRESH MATERIALIZED
 * VIEW do: a security-restricted operation with search_path pg_catalog,
 * pg_temp.  Everything pg_steward does to a user's table (DDL, DELETE,
 * moving rows, even SELECT) runs inside, so the table's triggers, rules,
 * policies, index, CHECK and default expressions run with the rights of
 * the table's owner, never with the job's or the caller's.  Leave with
 * steward_owner_exit().  Returns the owner.
 */
extern Oid	steward_owner_enter(Oid relid, StewardCatalogAccess *acc);
extern void steward_owner_exit(StewardCatalogAccess *acc);

/* "schema"."name" of relation 'relid', quoted; NULL if it is gone. */
extern char *steward_rel_qualified_name(Oid relid);

/* Owner of relation 'relid'; error if it is gone. */
extern Oid	steward_rel_owner(Oid relid);

/* Set up a materialized set-returning function (any PostgreSQL version). */
extern void steward_init_srf(FunctionCallInfo fcinfo);

/* Does the current role own table 'relid' (or have its owner's privileges)? */
extern bool steward_is_table_owner(Oid relid);

/* May 'role' create objects in schema 'nsp'? */
extern bool steward_may_create_in(Oid nsp, Oid role);

/*
 * Unless steward_is_table_owner(): error 42501 as PostgreSQL's own commands
 * report it (aclcheck_error), "must be owner of table t" (or view, ...).
 */
extern void steward_require_table_owner(Oid relid);

/* Refuse infinite intervals (PostgreSQL 17 accepts 'infinity'). */
extern void steward_require_finite_interval(const Interval *iv, const char *what);

/* Error 22023 "<what> must be a positive interval" unless finite and > 0. */
extern void steward_require_positive_interval(const Interval *iv, const char *what);

/* Restrict this session's search_path for good (workers). */
extern void steward_restrict_search_path(void);

#endif							/* STEWARD_SPI_UTIL_H */
