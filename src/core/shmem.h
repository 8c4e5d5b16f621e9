/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared state of the launcher, schedulers and runners.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SHMEM_H
#define STEWARD_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

typedef enum StewardSchedulerState
{
	SCHEDULER_FREE = 0,
	SCHEDULER_STARTING,			/* launcher registered the worker */
	SCHEDULER_RUNNING,
	SCHEDULER_NO_EXTENSION		/* database has no pg_steward; don't retry */
} StewardSchedulerState;

/* When an owner's run of a database last got a runner (round robin). */
#define STEWARD_OWNER_TURNS		16

typedef struct StewardOwnerTurn
{
	Oid			owner;
	TimestampTz last_served;
} StewardOwnerTurn;

typedef struct StewardSchedulerSlot
{
	StewardSchedulerState state;
	Oid			dboid;
	pid_t		pid;
	Latch	   *latch;
	TimestampTz state_since;
	TimestampTz blocked_until;	/* DROP/CREATE DATABASE in progress */
	TimestampTz restart_after;	/* backoff after an abnormal exit */
	TimestampTz last_served;	/* a run of this database last got a runner */
	StewardOwnerTurn owner_turns[STEWARD_OWNER_TURNS];	/* per owner, LRU */
} StewardSchedulerSlot;

typedef enum StewardRunnerState
{
	RUNNER_FREE = 0,
	RUNNER_QUEUED,				/* run is due; waits for a runner process */
	RUNNER_RESERVED,			/* slot claimed, worker being started */
	RUNNER_RUNNING,				/* worker process is up */
	RUNNER_DONE,				/* worker exited; outcome to be reaped */
	RUNNER_REAPING				/* someone is recording the outcome */
} StewardRunnerState;

typedef struct StewardRunnerSlot
{
	StewardRunnerState state;
	Oid			dboid;
	int64		job_id;
	int64		run_id;			/* 0 until the runner has inserted its row */
	pid_t		pid;
	TimestampTz started_at;
	TimestampTz deadline;		/* 0 = no max_runtime */
	bool		outcome_recorded;	/* runner wrote its final status */
	bool		cancel_requested;	/* end the run as 'cancelled' */
	bool		timeout_requested;	/* end the run as 'timed_out' */
	bool		kill_sent;		/* SIGTERM sent after the grace period */
	pid_t		waiter_pid;		/* run_job() caller that reaps this slot */
	bool		job_missing;	/* runner found no such job: nothing to record */
	bool		terminated;		/* runner got SIGTERM (pg_terminate_backend) */
	/* what a runner needs to start the run (set when the run is queued) */
	Oid			owner;
	int			attempt;
	TimestampTz scheduled_for;
	int64		max_runtime;	/* usecs, 0 = none */
	/* the process moved on to the run in slot 'handoff_to' */
	bool		handed_off;
	int			handoff_to;
} StewardRunnerSlot;

/*
 * Runner slots beyond max_worker_processes hold queued runs: runs that are
 * due while steward.max_workers runners are busy.
 */
#define STEWARD_RUNNER_QUEUE	1024

typedef struct StewardShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			nschedulers;
	int			nrunners;
	StewardSchedulerSlot *schedulers;	/* point into this segment */
	StewardRunnerSlot *runners;
} StewardShared;

extern StewardShared *steward_shared;

extern void steward_shmem_init(void);

/* Wake-ups that happen only if the current transaction commits. */
extern void steward_wake_scheduler_at_commit(void);
extern void steward_wake_launcher_at_commit(bool reprobe);

/* Immediate wake-ups (caller must not hold the lock). */
extern void steward_wake_launcher(void);
extern void steward_wake_scheduler(Oid dboid);	/* InvalidOid: all */

/* Runner slot management. */
typedef enum StewardReserveResult
{
	RESERVE_OK,
	RESERVE_JOB_RUNNING,
	RESERVE_NO_CAPACITY
} StewardReserveResult;

extern StewardReserveResult steward_runner_reserve(Oid dboid, int64 job_id,
												   Oid owner,
												   TimestampTz deadline,
												   int *slotno);
extern void steward_runner_release(int slotno);
extern StewardReserveResult steward_runner_queue(Oid dboid, int64 job_id, Oid owner,
												 int attempt, TimestampTz scheduled_for,
												 int64 max_runtime);
extern int	steward_runner_promote(Oid dboid, int *slotnos, int max, int *left);
extern void steward_runner_requeue(int slotno);
extern bool steward_runner_has_queued(Oid dboid, Oid owner, TimestampTz horizon);
extern int	steward_runner_take_next(int cur_slotno, TimestampTz horizon);
/* A queued run that was dropped, so that its due time can be kept. */
typedef struct StewardQueuedRun
{
	int64		job_id;
	int			attempt;
	TimestampTz scheduled_for;
} StewardQueuedRun;

extern int	steward_runner_drop_queued(Oid dboid, StewardQueuedRun *dropped, int max);
extern bool steward_job_is_running(Oid dboid, int64 job_id);
extern void steward_runner_forget_database(Oid dboid);

#endif							/* STEWARD_SHMEM_H */
