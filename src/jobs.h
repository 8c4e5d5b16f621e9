/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  SQL API on scheduled jobs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_JOBS_H
#define STEWARD_JOBS_H

#include "postgres.h"

#include "fmgr.h"

PGDLLEXPORT Datum steward_schedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_unschedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_alter_job(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_run_job(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_import_pg_cron(PG_FUNCTION_ARGS);

#endif							/* STEWARD_JOBS_H */
