/*-------------------------------------------------------------------------
 *
 * sched_int.h
 *	  What the scheduler's pass (scheduler.c) and its catalog access
 *	  (sched_catalog.c) share.  Not for use outside src/scheduler/.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SCHED_INT_H
#define STEWARD_SCHED_INT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "pgtime.h"

#include "scheduler/cron.h"

/* A job as one pass sees it: its definition, its state, its schedule. */
typedef struct SchedJob
{
	int64		job_id;
	char	   *name;
	char	   *schedule;
	Oid			owner;
	char	   *timezone;
	bool		enabled;
	int64		max_runtime;	/* usecs, 0 = none */
	int			max_retries;
	int64		retry_delay;	/* usecs */
	/* persistent state (steward.job_state) */
	bool		has_state;
	char	   *schedule_key;
	TimestampTz next_run_at;	/* 0 = unknown */
	TimestampTz retry_at;		/* 0 = no retry pending */
	int			retry_attempt;
	int			consecutive_failures;
	int64		skipped_runs;
	char	   *saved_problem;	/* job_state.problem */
	bool		dirty;
	/* owner_name no longer names the owner OID (NULL: it does) */
	char	   *owner_problem;
	bool		queue_retry;	/* the run being queued is a retry */
	/* why the job is skipped (NULL: it is not) */
	char	   *problem;
	/* parsed schedule */
	bool		valid;
	CronSchedule sched;
	pg_tz	   *tz;
} SchedJob;

extern List *sched_load_jobs(void);
extern void sched_report_problem(SchedJob *job);
extern void sched_save_states(List *jobs);
extern List *sched_mark_crashed(Oid dboid);

#endif							/* STEWARD_SCHED_INT_H */
