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
	uint64		passes;			/* scheduling passes completed */
	uint64		wakeups;		/* steward_wake_scheduler() calls for it */
	uint64		runner_wakeups; /* steward_wake_scheduler_runners() calls */
} StewardSchedulerSlot;

/* A scheduler that failed is started again after this pause. */
#define STEWARD_SCHEDULER_RESTART_MS	5000
/* A database without pg_steward is looked at again after this long. */
#define STEWARD_SCHEDULER_REPROBE_MS	(5 * 60 * 1000)

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
	/* when the process serving this run began its time slice (shmem_runner.c) */
	TimestampTz slice_started;
} StewardRunnerSlot;

/*
 * Runner slots beyond max_worker_processes hold queued runs: runs that are
 * due while steward.max_workers runners are busy.
 */
#define STEWARD_RUNNER_QUEUE	16384

/*
 * Backup operations (src/backup/): one slot per backup, drill or restore in
 * progress, so that only one backup of a kind runs in the cluster at a
 * time, leftover folders can be told from live ones, and a waiting session
 * gets the worker's outcome.
 */
#define STEWARD_BACKUP_SLOTS	16
#define STEWARD_BACKUP_RESULT_LEN	2048

typedef struct StewardBackupSlot
{
	bool		in_use;
	int			lock_kind;		/* 0: none, else one at a time per value */
	pid_t		pid;			/* the process doing the work */
	Oid			dboid;
	int64		backup_id;		/* 0 until known */
	bool		waiter;			/* a session waits to read the outcome */
	Latch	   *waiter_latch;	/* set when the work ends */
	bool		done;
	bool		failed;
	char		result[STEWARD_BACKUP_RESULT_LEN];
} StewardBackupSlot;

typedef struct StewardShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			nschedulers;
	int			nrunners;
	int			runner_hwm;		/* runner slots at or above are free */
	StewardSchedulerSlot *schedulers;	/* point into this segment */
	StewardRunnerSlot *runners;
	/*
	 * One word per runner slot: the database and owner of a queued run
	 * (shmem_runner.c, shmem_queue_key()), 0 for any other slot.  Scans for
	 * queued runs read these 8 bytes a slot instead of the slots.
	 */
	uint64	   *queue_keys;
	StewardBackupSlot backups[STEWARD_BACKUP_SLOTS];
} StewardShared;

/*
 * Only shmem.c reads or writes the segment: every change of a slot is one
 * of the functions below, each taking the lock itself.
 */

extern void steward_shmem_init(void);
extern bool steward_shmem_ready(void);
extern int	steward_scheduler_nslots(void);
extern int	steward_runner_nslots(void);

/* The launcher. */
extern void steward_launcher_attach(void);
extern void steward_launcher_detach(void);

/* Scheduler slots. */
extern Oid	steward_scheduler_dboid(int slotno);
extern bool steward_scheduler_is_starting(int slotno);
extern void steward_scheduler_reconcile(int slotno, bool worker_stopped,
										bool have_handle, bool wanted,
										TimestampTz now);
extern int	steward_scheduler_claim(Oid dboid, TimestampTz now);
extern void steward_scheduler_start_failed(int slotno, TimestampTz now);
extern bool steward_scheduler_begin(int slotno, Oid *dboid);
extern void steward_scheduler_set_state(int slotno, StewardSchedulerState state);
extern void steward_scheduler_detach(int slotno, bool error);
extern void steward_scheduler_pass_done(int slotno);
extern int64 steward_scheduler_pass_count(Oid dboid);
extern uint64 steward_scheduler_wakeups(int slotno, Oid dboid, bool *has_runs,
										uint64 *runner_wakeups);
extern bool steward_database_stop(Oid dboid, int block_ms);
extern void steward_database_unblock(Oid dboid);

/* Wake-ups that happen only if the current transaction commits. */
extern void steward_wake_scheduler_at_commit(void);
extern void steward_wake_launcher_at_commit(bool reprobe);

/* Immediate wake-ups (caller must not hold the lock). */
extern void steward_wake_launcher(void);
extern void steward_wake_scheduler(Oid dboid);	/* InvalidOid: all */
/* Runner capacity or finished runs only: a light pass will do. */
extern void steward_wake_scheduler_runners(Oid dboid);	/* InvalidOid: all */

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
/* A due run to queue, and whether it was queued. */
typedef struct StewardQueueRequest
{
	int64		job_id;
	Oid			owner;
	int			attempt;
	TimestampTz scheduled_for;
	int64		max_runtime;
	StewardReserveResult result;	/* out */
	void	   *arg;			/* the caller's */
} StewardQueueRequest;

extern void steward_runner_queue_many(Oid dboid, StewardQueueRequest *reqs, int n);
extern int	steward_runner_busy_jobs(Oid dboid, int64 *ids, int max);
extern int	steward_runner_db_slots(Oid dboid, int *slotnos, int max);
extern int	steward_runner_promote(Oid dboid, int *slotnos, int max, int *left);
extern void steward_runner_requeue(int slotno);
extern int	steward_runner_has_queued(Oid dboid, Oid owner, TimestampTz horizon);
extern int	steward_runner_take_next(int cur_slotno, TimestampTz horizon, int hint);
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
extern void steward_runner_get(int slotno, StewardRunnerSlot *copy);
extern void steward_runner_started(int slotno);
extern void steward_runner_set_run_id(int slotno, int64 run_id);
extern void steward_runner_set_job_missing(int slotno);
extern void steward_runner_set_outcome_recorded(int slotno);
extern Oid	steward_runner_exited(int slotno, bool terminated);
extern bool steward_runner_mark_unstarted(int slotno);
extern bool steward_runner_begin_reap(int slotno, StewardRunnerSlot *copy);
extern void steward_runner_undo_reap(int slotno);
extern void steward_runner_set_waiter(int slotno, bool waiting);
extern int	steward_runner_run_ids(Oid dboid, int64 *ids, int max);
extern int	steward_runner_handoff_end(int slotno, Oid dboid);
extern TimestampTz steward_runner_enforce_deadlines(Oid dboid, TimestampTz now,
													int grace_ms);
extern bool steward_runner_cancel_database(Oid dboid, int sig, bool waited);
extern bool steward_runner_database_busy(Oid dboid);
extern void steward_runner_discard_database(Oid dboid);

/* Backup slots (src/backup/). */
extern int	steward_backup_claim(int lock_kind, Oid dboid, bool waiter);
extern void steward_backup_attach(int slotno);
extern void steward_backup_set_id(int slotno, int64 backup_id);
extern void steward_backup_finish(int slotno, bool failed, const char *result);
extern bool steward_backup_outcome(int slotno, bool *failed, char *result);
extern void steward_backup_release(int slotno);
extern bool steward_backup_active(int64 backup_id);
extern int64 steward_backup_running(int lock_kind, Oid dboid);

#endif							/* STEWARD_SHMEM_H */
