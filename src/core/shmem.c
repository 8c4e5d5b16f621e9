/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state of the launcher, schedulers and runners.
 *
 * One small segment holds a slot per scheduler (one per database) and a slot
 * per job runner, both protected by one LWLock.  Runner slots are the only
 * place where "is this job running?" and "how many runners are there?" are
 * answered, so overlap prevention and steward.max_workers hold for runs
 * started by schedulers and by steward.run_job() alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "core/compat.h"
#include "core/guc.h"
#include "core/shmem.h"
#include "core/shmem_int.h"

StewardShared *steward_shared = NULL;	/* shmem_int.h */

static shmem_startup_hook_type shmem_prev_startup_hook = NULL;
#if STEWARD_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type shmem_prev_request_hook = NULL;
#endif

/* Wake-ups requested by the current transaction. */
static bool shmem_wake_scheduler_pending = false;
static bool shmem_wake_launcher_pending = false;
static bool shmem_reprobe_pending = false;

static Size
shmem_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(StewardShared));
	size = add_size(size, mul_size(max_worker_processes, sizeof(StewardSchedulerSlot)));
	size = add_size(size, mul_size(max_worker_processes + STEWARD_RUNNER_QUEUE,
								   sizeof(StewardRunnerSlot)));
	size = add_size(size, mul_size(max_worker_processes + STEWARD_RUNNER_QUEUE,
								   sizeof(uint64)));
	return size;
}

static void
shmem_request(void)
{
#if STEWARD_HAS_SHMEM_REQUEST_HOOK
	if (shmem_prev_request_hook)
		shmem_prev_request_hook();
#endif
	RequestAddinShmemSpace(shmem_size());
	RequestNamedLWLockTranche("pg_steward", 1);
}

static void
shmem_startup(void)
{
	bool		found;

	if (shmem_prev_startup_hook)
		shmem_prev_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	steward_shared = ShmemInitStruct("pg_steward", shmem_size(), &found);
	if (!found)
	{
		char	   *p = (char *) steward_shared;

		memset(steward_shared, 0, shmem_size());
		steward_shared->lock = &(GetNamedLWLockTranche("pg_steward"))->lock;
		steward_shared->nschedulers = max_worker_processes;
		steward_shared->nrunners = max_worker_processes + STEWARD_RUNNER_QUEUE;
		p += MAXALIGN(sizeof(StewardShared));
		steward_shared->schedulers = (StewardSchedulerSlot *) p;
		p += max_worker_processes * sizeof(StewardSchedulerSlot);
		steward_shared->runners = (StewardRunnerSlot *) p;
		p += steward_shared->nrunners * sizeof(StewardRunnerSlot);
		steward_shared->queue_keys = (uint64 *) p;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Deliver the wake-ups of a committed transaction; drop them on abort. */
static void
shmem_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (shmem_reprobe_pending && steward_shared != NULL)
			{
				int			i;

				/* CREATE EXTENSION: let the launcher try this database again */
				LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
				for (i = 0; i < steward_shared->nschedulers; i++)
				{
					StewardSchedulerSlot *s = &steward_shared->schedulers[i];

					if (s->state == SCHEDULER_NO_EXTENSION && s->dboid == MyDatabaseId)
						s->state = SCHEDULER_FREE;
				}
				LWLockRelease(steward_shared->lock);
			}
			if (shmem_wake_launcher_pending)
				steward_wake_launcher();
			if (shmem_wake_scheduler_pending)
				steward_wake_scheduler(MyDatabaseId);
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			shmem_wake_scheduler_pending = false;
			shmem_wake_launcher_pending = false;
			shmem_reprobe_pending = false;
			break;
		default:
			break;
	}
}

void
steward_shmem_init(void)
{
#if STEWARD_HAS_SHMEM_REQUEST_HOOK
	shmem_prev_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
#else
	shmem_request();
#endif
	shmem_prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	RegisterXactCallback(shmem_xact_callback, NULL);
}

/* Is the segment there (false in a backend of a server without the library)? */
bool
steward_shmem_ready(void)
{
	return steward_shared != NULL;
}

void
steward_wake_scheduler_at_commit(void)
{
	shmem_wake_scheduler_pending = true;
}

void
steward_wake_launcher_at_commit(bool reprobe)
{
	shmem_wake_launcher_pending = true;
	if (reprobe)
		shmem_reprobe_pending = true;
}

void
steward_wake_launcher(void)
{
	if (steward_shared == NULL)
		return;
	LWLockAcquire(steward_shared->lock, LW_SHARED);
	if (steward_shared->launcher_latch)
		SetLatch(steward_shared->launcher_latch);
	LWLockRelease(steward_shared->lock);
}

/* Wake the scheduler of 'dboid', or every scheduler for InvalidOid. */
static void
shmem_wake_schedulers(Oid dboid, bool runners_only)
{
	int			i;

	if (steward_shared == NULL)
		return;
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->state == SCHEDULER_RUNNING && s->latch &&
			(dboid == InvalidOid || s->dboid == dboid))
		{
			if (runners_only)
				s->runner_wakeups++;
			else
				s->wakeups++;
			SetLatch(s->latch);
		}
	}
	LWLockRelease(steward_shared->lock);
}

void
steward_wake_scheduler(Oid dboid)
{
	shmem_wake_schedulers(dboid, false);
}

/*
 * A runner exited or a runner's slot was freed: the scheduler has slots to
 * reap and maybe capacity for its queue, which a light pass (no transaction,
 * no jobs read) handles; see scheduler.c.
 */
void
steward_wake_scheduler_runners(Oid dboid)
{
	shmem_wake_schedulers(dboid, true);
}

/* The running scheduler of a database (lock held), or NULL. */
StewardSchedulerSlot *
shmem_scheduler_of(Oid dboid)
{
	int			i;

	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->state == SCHEDULER_RUNNING && s->dboid == dboid)
			return s;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------
 */
void
steward_launcher_attach(void)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->launcher_pid = MyProcPid;
	steward_shared->launcher_latch = MyLatch;
	LWLockRelease(steward_shared->lock);
}

void
steward_launcher_detach(void)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->launcher_pid = 0;
	steward_shared->launcher_latch = NULL;
	LWLockRelease(steward_shared->lock);
}

int
steward_scheduler_nslots(void)
{
	return steward_shared->nschedulers;
}

int
steward_runner_nslots(void)
{
	return steward_shared->nrunners;
}

/* ---------------------------------------------------------------------
 * Scheduler slots: FREE -> STARTING (launcher) -> RUNNING (scheduler) ->
 * FREE (scheduler exit), or NO_EXTENSION until the database gets
 * pg_steward or the launcher probes it again.
 * ---------------------------------------------------------------------
 */

/* The database of scheduler slot 'slotno' (only the launcher assigns it). */
Oid
steward_scheduler_dboid(int slotno)
{
	Oid			dboid;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	dboid = steward_shared->schedulers[slotno].dboid;
	LWLockRelease(steward_shared->lock);
	return dboid;
}

bool
steward_scheduler_is_starting(int slotno)
{
	bool		starting;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	starting = steward_shared->schedulers[slotno].state == SCHEDULER_STARTING;
	LWLockRelease(steward_shared->lock);
	return starting;
}

/*
 * The launcher's look at one slot: a scheduler that died before it came up
 * ('worker_stopped') or that an earlier launcher started and that never came
 * up is freed, to be started again after a pause; one whose database is no
 * longer wanted is stopped; a database without pg_steward is probed again
 * after STEWARD_SCHEDULER_REPROBE_MS.
 */
void
steward_scheduler_reconcile(int slotno, bool worker_stopped, bool have_handle,
							bool wanted, TimestampTz now)
{
	StewardSchedulerSlot *s = &steward_shared->schedulers[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (worker_stopped && s->state == SCHEDULER_STARTING)
	{
		s->state = SCHEDULER_FREE;
		s->restart_after = TimestampTzPlusMilliseconds(now, STEWARD_SCHEDULER_RESTART_MS);
	}
	else if (s->state == SCHEDULER_STARTING && !have_handle &&
			 TimestampDifferenceExceeds(s->state_since, now, 30000))
		s->state = SCHEDULER_FREE;
	if (s->state != SCHEDULER_FREE && !wanted)
	{
		if (s->state == SCHEDULER_RUNNING && s->pid != 0)
			kill(s->pid, SIGTERM);
		else if (s->state == SCHEDULER_NO_EXTENSION)
			s->state = SCHEDULER_FREE;
	}
	else if (s->state == SCHEDULER_NO_EXTENSION &&
			 TimestampDifferenceExceeds(s->state_since, now,
										STEWARD_SCHEDULER_REPROBE_MS))
		s->state = SCHEDULER_FREE;
	LWLockRelease(steward_shared->lock);
}

/*
 * Claim a slot (FREE -> STARTING) for a scheduler of 'dboid', unless the
 * database has one, is blocked (DROP DATABASE) or waits for a restart.
 * Returns the slot or -1.
 */
int
steward_scheduler_claim(Oid dboid, TimestampTz now)
{
	int			slotno = -1;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->dboid == dboid &&
			(s->state != SCHEDULER_FREE ||
			 s->blocked_until > now || s->restart_after > now))
		{
			LWLockRelease(steward_shared->lock);
			return -1;
		}
	}
	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->state == SCHEDULER_FREE &&
			(s->dboid == dboid || s->dboid == InvalidOid ||
			 (s->blocked_until <= now && s->restart_after <= now)))
		{
			slotno = i;
			memset(s, 0, sizeof(*s));
			s->state = SCHEDULER_STARTING;
			s->dboid = dboid;
			s->state_since = now;
			break;
		}
	}
	LWLockRelease(steward_shared->lock);
	return slotno;
}

/* The launcher could not start the claimed scheduler: retry after a pause. */
void
steward_scheduler_start_failed(int slotno, TimestampTz now)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->schedulers[slotno].state = SCHEDULER_FREE;
	steward_shared->schedulers[slotno].restart_after =
		TimestampTzPlusMilliseconds(now, STEWARD_SCHEDULER_RESTART_MS);
	LWLockRelease(steward_shared->lock);
}

/*
 * A starting scheduler takes its slot; false if the start is stale or the
 * database is being dropped (then it must exit without connecting).
 */
bool
steward_scheduler_begin(int slotno, Oid *dboid)
{
	StewardSchedulerSlot *s = &steward_shared->schedulers[slotno];
	bool		ok;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	*dboid = s->dboid;
	ok = s->state == SCHEDULER_STARTING &&
		s->blocked_until <= GetCurrentTimestamp();
	LWLockRelease(steward_shared->lock);
	return ok;
}

void
steward_scheduler_set_state(int slotno, StewardSchedulerState state)
{
	StewardSchedulerSlot *s = &steward_shared->schedulers[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	s->state = state;
	s->state_since = GetCurrentTimestamp();
	if (state == SCHEDULER_RUNNING)
	{
		s->pid = MyProcPid;
		s->latch = MyLatch;
	}
	LWLockRelease(steward_shared->lock);
}

/* The scheduler exits; after an error the launcher restarts it after a pause. */
void
steward_scheduler_detach(int slotno, bool error)
{
	StewardSchedulerSlot *s = &steward_shared->schedulers[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (s->state == SCHEDULER_RUNNING || s->state == SCHEDULER_STARTING)
	{
		s->state = SCHEDULER_FREE;
		if (error)
			s->restart_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   STEWARD_SCHEDULER_RESTART_MS);
	}
	s->pid = 0;
	s->latch = NULL;
	LWLockRelease(steward_shared->lock);
}

/* A scheduling pass completed (tests wait on the count). */
void
steward_scheduler_pass_done(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->schedulers[slotno].passes++;
	LWLockRelease(steward_shared->lock);
}

/*
 * What a scheduler looks at to tell whether a pass can find anything new:
 * the wake-ups asked of it (API calls at commit, runners, database
 * commands), those only about runners (*runner_wakeups), and whether its
 * database has runner slots in use.
 */
uint64
steward_scheduler_wakeups(int slotno, Oid dboid, bool *has_runs,
						  uint64 *runner_wakeups)
{
	uint64		n;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	n = steward_shared->schedulers[slotno].wakeups;
	*runner_wakeups = steward_shared->schedulers[slotno].runner_wakeups;
	*has_runs = false;
	for (i = 0; i < steward_shared->runner_hwm && !*has_runs; i++)
	{
		uint64		key = steward_shared->queue_keys[i];

		/* a queued run: its key has the database (shmem_runner.c) */
		if (key != 0)
			*has_runs = (Oid) (key >> 32) == dboid;
		else
			*has_runs = steward_shared->runners[i].state != RUNNER_FREE &&
				steward_shared->runners[i].dboid == dboid;
	}
	LWLockRelease(steward_shared->lock);
	return n;
}

/* Passes completed by the running scheduler of 'dboid'; -1 if none runs. */
int64
steward_scheduler_pass_count(Oid dboid)
{
	StewardSchedulerSlot *s;
	int64		passes = -1;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	s = shmem_scheduler_of(dboid);
	if (s != NULL)
		passes = (int64) s->passes;
	LWLockRelease(steward_shared->lock);
	return passes;
}

/*
 * Stop the scheduler and the runners of 'dboid' (DROP DATABASE and the like):
 * the launcher does not restart the scheduler for 'block_ms'; running runs
 * are marked cancelled and terminated.  Returns whether any of them is
 * still there.
 */
bool
steward_database_stop(Oid dboid, int block_ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), block_ms);
	bool		busy = false;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->dboid != dboid)
			continue;
		s->blocked_until = until;
		if (s->state == SCHEDULER_RUNNING || s->state == SCHEDULER_STARTING)
		{
			busy = true;
			if (s->pid != 0)
				kill(s->pid, SIGTERM);
		}
		else if (s->state == SCHEDULER_NO_EXTENSION)
			s->state = SCHEDULER_FREE;
	}
	LWLockRelease(steward_shared->lock);
	if (steward_runner_cancel_database(dboid, SIGTERM, true))
		busy = true;
	return busy;
}

/* The statement that stopped the database's workers is over. */
void
steward_database_unblock(Oid dboid)
{
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nschedulers; i++)
		if (steward_shared->schedulers[i].dboid == dboid)
			steward_shared->schedulers[i].blocked_until = 0;
	LWLockRelease(steward_shared->lock);
}

/* ---------------------------------------------------------------------
 * Backup slots: one function per state change (see docs/backups.md)
 * ---------------------------------------------------------------------
 */

/*
 * Claim a slot for a backup operation.  Returns -1 when another operation
 * of the same non-zero lock_kind is in progress, -2 when every slot is busy.
 * 'waiter': the caller will read the outcome (steward_backup_outcome) and
 * release the slot; otherwise the worker releases it when it finishes.
 */
int
steward_backup_claim(int lock_kind, Oid dboid, bool waiter)
{
	int			i;
	int			found = -2;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < STEWARD_BACKUP_SLOTS; i++)
	{
		StewardBackupSlot *b = &steward_shared->backups[i];

		if (b->in_use && !b->done && lock_kind != 0 && b->lock_kind == lock_kind)
		{
			found = -1;
			break;
		}
		if (!b->in_use && found == -2)
			found = i;
	}
	if (found >= 0)
	{
		StewardBackupSlot *b = &steward_shared->backups[found];

		memset(b, 0, sizeof(StewardBackupSlot));
		b->in_use = true;
		b->lock_kind = lock_kind;
		b->pid = MyProcPid;
		b->dboid = dboid;
		b->waiter = waiter;
		b->waiter_latch = waiter ? MyLatch : NULL;
	}
	LWLockRelease(steward_shared->lock);
	return found;
}

/* The worker doing the work took the slot over. */
void
steward_backup_attach(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->backups[slotno].pid = MyProcPid;
	LWLockRelease(steward_shared->lock);
}

/* The backup's id is known (its folder exists). */
void
steward_backup_set_id(int slotno, int64 backup_id)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->backups[slotno].backup_id = backup_id;
	LWLockRelease(steward_shared->lock);
}

/*
 * The work ended: the kind is free again.  With a waiter, the outcome stays
 * for it to read; without, the slot is free.
 */
void
steward_backup_finish(int slotno, bool failed, const char *result)
{
	StewardBackupSlot *b = &steward_shared->backups[slotno];
	Latch	   *latch;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	b->done = true;
	b->failed = failed;
	strlcpy(b->result, result ? result : "", STEWARD_BACKUP_RESULT_LEN);
	latch = b->waiter ? b->waiter_latch : NULL;
	if (!b->waiter)
		b->in_use = false;
	LWLockRelease(steward_shared->lock);
	/* the waiter reads the outcome now, not when this process has exited */
	if (latch != NULL)
		SetLatch(latch);
}

/* Has the work ended?  If so, its outcome (result: STEWARD_BACKUP_RESULT_LEN). */
bool
steward_backup_outcome(int slotno, bool *failed, char *result)
{
	StewardBackupSlot *b = &steward_shared->backups[slotno];
	bool		done;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	done = b->done;
	if (done)
	{
		*failed = b->failed;
		memcpy(result, b->result, STEWARD_BACKUP_RESULT_LEN);
	}
	LWLockRelease(steward_shared->lock);
	return done;
}

/*
 * The waiter is done with the slot: free it if the work has ended, else
 * leave it to the worker (which frees it when it finishes).
 */
void
steward_backup_release(int slotno)
{
	StewardBackupSlot *b = &steward_shared->backups[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (b->done)
		memset(b, 0, sizeof(StewardBackupSlot));
	else
		b->waiter = false;
	LWLockRelease(steward_shared->lock);
}

/*
 * The id of the backup of this lock kind in progress in database 'dboid'
 * (one at most, see steward_backup_claim()), or 0.
 */
int64
steward_backup_running(int lock_kind, Oid dboid)
{
	int			i;
	int64		id = 0;

	if (steward_shared == NULL)
		return 0;
	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < STEWARD_BACKUP_SLOTS; i++)
	{
		StewardBackupSlot *b = &steward_shared->backups[i];

		if (b->in_use && !b->done && b->lock_kind == lock_kind && b->dboid == dboid)
			id = b->backup_id;
	}
	LWLockRelease(steward_shared->lock);
	return id;
}

/* Is backup 'backup_id' being written or read by a live operation? */
bool
steward_backup_active(int64 backup_id)
{
	int			i;
	bool		active = false;

	if (steward_shared == NULL)
		return false;
	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < STEWARD_BACKUP_SLOTS; i++)
	{
		StewardBackupSlot *b = &steward_shared->backups[i];

		if (b->in_use && !b->done && b->backup_id == backup_id)
			active = true;
	}
	LWLockRelease(steward_shared->lock);
	return active;
}
