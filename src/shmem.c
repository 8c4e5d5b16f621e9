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

#include "guc.h"
#include "shmem.h"

StewardShared *steward_shared = NULL;

static shmem_startup_hook_type shmem_prev_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
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
	size = add_size(size, mul_size(max_worker_processes, sizeof(StewardRunnerSlot)));
	return size;
}

static void
shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
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
		steward_shared->nrunners = max_worker_processes;
		p += MAXALIGN(sizeof(StewardShared));
		steward_shared->schedulers = (StewardSchedulerSlot *) p;
		p += max_worker_processes * sizeof(StewardSchedulerSlot);
		steward_shared->runners = (StewardRunnerSlot *) p;
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
#if PG_VERSION_NUM >= 150000
	shmem_prev_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
#else
	shmem_request();
#endif
	shmem_prev_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	RegisterXactCallback(shmem_xact_callback, NULL);
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
void
steward_wake_scheduler(Oid dboid)
{
	int			i;

	if (steward_shared == NULL)
		return;
	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->nschedulers; i++)
	{
		StewardSchedulerSlot *s = &steward_shared->schedulers[i];

		if (s->state == SCHEDULER_RUNNING && s->latch &&
			(dboid == InvalidOid || s->dboid == dboid))
			SetLatch(s->latch);
	}
	LWLockRelease(steward_shared->lock);
}

/*
 * Claim a runner slot for a job.  Refused when the job already has a runner
 * (no overlap) or when steward.max_workers runners are active.
 */
StewardReserveResult
steward_runner_reserve(Oid dboid, int64 job_id, TimestampTz deadline, int *slotno)
{
	int			i;
	int			active = 0;
	int			free_slot = -1;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state == RUNNER_FREE)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (r->dboid == dboid && r->job_id == job_id)
		{
			/* a finished run not yet reaped clears up in a moment */
			LWLockRelease(steward_shared->lock);
			if (r->state == RUNNER_DONE || r->state == RUNNER_REAPING)
				return RESERVE_NO_CAPACITY;
			return RESERVE_JOB_RUNNING;
		}
		/*
		 * A finished runner counts until it is reaped: its process (and its
		 * background worker slot) may outlive the exit callback a little.
		 */
		active++;
	}
	if (free_slot < 0 || active >= steward_max_workers)
	{
		LWLockRelease(steward_shared->lock);
		return RESERVE_NO_CAPACITY;
	}

	{
		StewardRunnerSlot *r = &steward_shared->runners[free_slot];

		memset(r, 0, sizeof(*r));
		r->state = RUNNER_RESERVED;
		r->dboid = dboid;
		r->job_id = job_id;
		r->started_at = GetCurrentTimestamp();
		r->deadline = deadline;
	}
	LWLockRelease(steward_shared->lock);
	*slotno = free_slot;
	return RESERVE_OK;
}

void
steward_runner_release(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	memset(&steward_shared->runners[slotno], 0, sizeof(StewardRunnerSlot));
	LWLockRelease(steward_shared->lock);
	/* A freed slot may let a waiting scheduler start its job. */
	steward_wake_scheduler(InvalidOid);
}

bool
steward_job_is_running(Oid dboid, int64 job_id)
{
	int			i;
	bool		running = false;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state != RUNNER_FREE && r->dboid == dboid && r->job_id == job_id)
		{
			running = true;
			break;
		}
	}
	LWLockRelease(steward_shared->lock);
	return running;
}
