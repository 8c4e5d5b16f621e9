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
#include "datatype/timestamp.h"

/*
 * Bounds of a job's max_runtime and retry_delay: generous for any real job,
 * and far from the int64 microsecond range the scheduler computes in.
 */
#define STEWARD_JOB_MAX_INTERVAL_DAYS	365
#define STEWARD_JOB_MAX_INTERVAL_USECS \
	((int64) STEWARD_JOB_MAX_INTERVAL_DAYS * USECS_PER_DAY)

/*
 * An interval in microseconds, with months and years counted as EXTRACT
 * (epoch ...) counts them.  False when it is not finite or lies outside
 * [0, STEWARD_JOB_MAX_INTERVAL_USECS]; *usecs is then clamped to that range.
 */
extern bool steward_job_interval_usecs(const Interval *iv, int64 *usecs);

/* Job names: not empty, at most 200 bytes, no control characters. */
extern void steward_check_job_name(const char *name);

PGDLLEXPORT Datum steward_schedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_unschedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_alter_job(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_scheduler_passes(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_run_job(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_import_pg_cron(PG_FUNCTION_ARGS);

#endif							/* STEWARD_JOBS_H */
