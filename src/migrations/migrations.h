/*-------------------------------------------------------------------------
 *
 * migrations.h
 *	  Migrations: what the rest of the extension sees of them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_MIGRATIONS_H
#define STEWARD_MIGRATIONS_H

#include "postgres.h"

#include "fmgr.h"

PGDLLEXPORT Datum steward_migration_lint(PG_FUNCTION_ARGS);

#endif							/* STEWARD_MIGRATIONS_H */
