/*-------------------------------------------------------------------------
 *
 * pg_steward.c
 *	  Library entry point: _PG_init delegates to each module's init.
 *
 * Pure SQL features work whenever the library is loaded; the worker and
 * its shared memory only exist when it is in shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/pg_steward.h"
#include "core/guc.h"
#include "core/hooks.h"
#include "scheduler/job_runner.h"
#include "scheduler/launcher.h"
#include "partition/partition.h"
#include "retention/retention.h"
#include "audit/audit.h"
#include "migrations/migrations.h"
#include "backup/backup.h"
#include "health/health.h"
#include "core/shmem.h"

PG_MODULE_MAGIC;

bool		steward_preloaded = false;

void		_PG_init(void);

void
_PG_init(void)
{
	steward_guc_init();
	steward_sql_kind_init();
	steward_partition_init();
	steward_retention_init();
	steward_audit_init();
	steward_migrations_init();
	steward_backup_init();
	steward_health_init();

	if (!process_shared_preload_libraries_in_progress)
		return;

	steward_preloaded = true;
	steward_shmem_init();
	steward_hooks_init();

	/* pg_upgrade's servers must not run jobs. */
	if (!IsBinaryUpgrade)
		steward_launcher_register();
}

void
steward_require_preload(const char *what)
{
	if (!steward_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires the pg_steward background worker", what),
				 errdetail("pg_steward is not loaded through shared_preload_libraries."),
				 errhint("Add pg_steward to shared_preload_libraries in postgresql.conf and restart the server.")));
}

PG_FUNCTION_INFO_V1(steward_version);

/* steward.version(): version of the loaded library */
PGDLLEXPORT Datum
steward_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(STEWARD_VERSION));
}
