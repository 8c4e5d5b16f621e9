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

/* Owner of relation 'relid'; error if it is gone. */
extern Oid	steward_rel_owner(Oid relid);

/*
 * Run fn(arg) in a transaction of its own (outside any transaction), with
 * SPI connected and a snapshot set.  Returns NULL once committed, or the
 * error (copied into 'mcxt') after rolling back.  A cancel (max_runtime,
 * shutdown) is rethrown: it ends the whole run.
 */
typedef void (*StewardXactFn) (void *arg);

/*
 * Is this error a real cancel or statement timeout (from the server's
 * interrupt processing), which must end the whole run?
 */
extern bool steward_is_interrupt(ErrorData *edata);
extern ErrorData *steward_in_xact(StewardXactFn fn, void *arg, MemoryContext mcxt);

/*
 * Run fn(arg) in a subtransaction of the current transaction.  Returns
 * NULL on success; on error the subtransaction is rolled back and the
 * error returned (in the caller's memory context), so the caller decides
 * whether to retry, report or rethrow it.  SPI, if connected, stays
 * usable.  A real cancel is rethrown.
 */
extern ErrorData *steward_in_subxact(StewardXactFn fn, void *arg);

/* Set up a materialized set-returning function (any PostgreSQL version). */
extern void steward_init_srf(FunctionCallInfo fcinfo);

/* Does the current role own table 'relid' (or have its owner's privileges)? */
extern bool steward_is_table_owner(Oid relid);

/* May 'role' create objects in schema 'nsp'? */
extern bool steward_may_create_in(Oid nsp, Oid role);

/* Error 42501 "must be owner of table ..." unless steward_is_table_owner(). */
extern void steward_require_table_owner(Oid relid);

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
