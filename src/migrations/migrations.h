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

extern void steward_migrations_init(void);

PGDLLEXPORT Datum steward_migration_lint(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_version_key(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_add(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_replace(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migrations_load(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migrate(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_rollback(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_baseline(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_migration_track_ddl(PG_FUNCTION_ARGS);
PGDLLEXPORT void steward_migration_recorder_main(Datum main_arg);

#endif							/* STEWARD_MIGRATIONS_H */
