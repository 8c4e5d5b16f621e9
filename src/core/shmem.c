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

StewardShared *steward_shared = NULL;

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

/* Does this slot stand for a runner process (started or about to be)? */
static inline bool
shmem_runner_active(const StewardRunnerSlot *r)
{
	return r->state != RUNNER_FREE && r->state != RUNNER_QUEUED && !r->handed_off;
}

/*
 * One pass over the runner slots (lock held): the slot of this job's run if
 * there is one, the first free slot, the number of active runners, and of
 * those the number of 'owner' and the runs of 'owner' queued.
 */
static StewardRunnerSlot *
shmem_scan(Oid dboid, int64 job_id, Oid owner, int *free_slot, int *active,
		   int *owner_active, int *owner_queued)
{
	int			i;

	*free_slot = -1;
	*active = 0;
	*owner_active = 0;
	*owner_queued = 0;
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state == RUNNER_FREE)
		{
			if (*free_slot < 0)
				*free_slot = i;
			continue;
		}
		if (r->dboid == dboid && r->job_id == job_id)
			return r;

		/*
		 * A finished runner counts until it is reaped: its process (and its
		 * background worker slot) may outlive the exit callback a little.
		 */
		if (shmem_runner_active(r))
		{
			(*active)++;
			if (r->owner == owner)
				(*owner_active)++;
		}
		else if (r->state == RUNNER_QUEUED && r->owner == owner)
			(*owner_queued)++;
	}
	return NULL;
}

/* Active runners of 'owner' in the whole cluster (lock held). */
static int
shmem_owner_active(Oid owner)
{
	int			i;
	int			n = 0;

	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (shmem_runner_active(r) && r->owner == owner)
			n++;
	}
	return n;
}

/*
 * The queued run of 'dboid' that is due first (lock held), optionally only
 * one of 'owner' due by 'horizon'; -1 if none.
 */
static int
shmem_first_queued(Oid dboid, Oid owner, TimestampTz horizon)
{
	StewardRunnerSlot *best = NULL;
	int			bestno = -1;
	int			i;

	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state != RUNNER_QUEUED || r->dboid != dboid)
			continue;
		if (OidIsValid(owner) && (r->owner != owner || r->scheduled_for > horizon))
			continue;
		if (best == NULL || r->scheduled_for < best->scheduled_for)
		{
			best = r;
			bestno = i;
		}
	}
	return bestno;
}

/*
 * Claim a runner slot for a job.  Refused when the job already has a runner
 * (no overlap) or when steward.max_workers runners, or
 * steward.max_workers_per_role runners of the owner, are active.
 */
StewardReserveResult
steward_runner_reserve(Oid dboid, int64 job_id, Oid owner, TimestampTz deadline,
					   int *slotno)
{
	int			active;
	int			free_slot;
	int			owner_active;
	int			owner_queued;
	StewardRunnerSlot *r;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	r = shmem_scan(dboid, job_id, owner, &free_slot, &active, &owner_active,
				   &owner_queued);
	if (r != NULL)
	{
		/* a finished run not yet reaped clears up in a moment */
		bool		finishing = r->state == RUNNER_DONE || r->state == RUNNER_REAPING;

		LWLockRelease(steward_shared->lock);
		return finishing ? RESERVE_NO_CAPACITY : RESERVE_JOB_RUNNING;
	}
	if (free_slot < 0 || active >= steward_effective_max_workers() ||
		owner_active >= steward_effective_max_workers_per_role())
	{
		LWLockRelease(steward_shared->lock);
		return RESERVE_NO_CAPACITY;
	}

	r = &steward_shared->runners[free_slot];
	memset(r, 0, sizeof(*r));
	r->state = RUNNER_RESERVED;
	r->dboid = dboid;
	r->job_id = job_id;
	r->owner = owner;
	r->started_at = GetCurrentTimestamp();
	r->deadline = deadline;
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

/*
 * Queue a due run of a job.  It needs no worker yet: a runner of the same
 * database and owner that finishes its run takes it over, or the scheduler
 * starts a runner for it when steward.max_workers allows.  Refused when the
 * job already has a run (no overlap) or the queue is full; one owner may
 * hold at most half of the queue, so that another role's due runs always
 * find room (the refused run stays due and is queued later).
 */
StewardReserveResult
steward_runner_queue(Oid dboid, int64 job_id, Oid owner, int attempt,
					 TimestampTz scheduled_for, int64 max_runtime)
{
	int			free_slot;
	int			active;
	int			owner_active;
	int			owner_queued;
	StewardRunnerSlot *r;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (shmem_scan(dboid, job_id, owner, &free_slot, &active, &owner_active,
				   &owner_queued) != NULL)
	{
		LWLockRelease(steward_shared->lock);
		return RESERVE_JOB_RUNNING;
	}
	if (free_slot < 0 || owner_queued >= STEWARD_RUNNER_QUEUE / 2)
	{
		LWLockRelease(steward_shared->lock);
		return RESERVE_NO_CAPACITY;
	}
	r = &steward_shared->runners[free_slot];
	memset(r, 0, sizeof(*r));
	r->state = RUNNER_QUEUED;
	r->dboid = dboid;
	r->job_id = job_id;
	r->owner = owner;
	r->attempt = attempt;
	r->scheduled_for = scheduled_for;
	r->max_runtime = max_runtime;
	r->started_at = GetCurrentTimestamp();
	LWLockRelease(steward_shared->lock);
	return RESERVE_OK;
}

/* Turn a queued slot into a running one (lock held). */
static void
shmem_start_queued(StewardRunnerSlot *r, StewardRunnerState state, TimestampTz now)
{
	r->state = state;
	r->started_at = now;
	r->deadline = r->max_runtime > 0 ?
		Max(r->scheduled_for, now) + r->max_runtime : 0;
}

/* The running scheduler of a database (lock held), or NULL. */
static StewardSchedulerSlot *
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

/* A run of 'dboid' and 'owner' got a runner now (lock held). */
static void
shmem_note_served(Oid dboid, Oid owner, TimestampTz now)
{
	StewardSchedulerSlot *s = shmem_scheduler_of(dboid);
	StewardOwnerTurn *slot = NULL;
	int			i;

	if (s == NULL)
		return;
	s->last_served = now;
	for (i = 0; i < STEWARD_OWNER_TURNS; i++)
	{
		StewardOwnerTurn *t = &s->owner_turns[i];

		if (t->owner == owner)
		{
			slot = t;
			break;
		}
		if (slot == NULL || t->last_served < slot->last_served)
			slot = t;			/* else reuse the least recent entry */
	}
	slot->owner = owner;
	slot->last_served = now;
}

/* When a run of 'dboid' and 'owner' last got a runner; 0 if not lately. */
static TimestampTz
shmem_owner_last_served(StewardSchedulerSlot *s, Oid owner)
{
	int			i;

	if (s == NULL)
		return 0;
	for (i = 0; i < STEWARD_OWNER_TURNS; i++)
		if (s->owner_turns[i].owner == owner)
			return s->owner_turns[i].last_served;
	return 0;
}

/*
 * Does another database, served less recently than 'dboid', have runs
 * queued for longer than the grace period (lock held)?  It then gets the
 * last free runner, so that databases take turns when runners are scarce.
 */
static bool
shmem_other_db_first(Oid dboid, TimestampTz grace)
{
	StewardSchedulerSlot *me = shmem_scheduler_of(dboid);
	TimestampTz mine = me ? me->last_served : 0;
	int			i;

	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];
		StewardSchedulerSlot *other;

		if (r->state != RUNNER_QUEUED || r->dboid == dboid || r->scheduled_for > grace)
			continue;
		other = shmem_scheduler_of(r->dboid);
		if (other != NULL && other->last_served < mine)
			return true;
	}
	return false;
}

/*
 * Move queued runs of 'dboid' to RESERVED as far as steward.max_workers
 * allows; the caller starts a runner for each returned slot.  When several
 * databases have schedulers, a database gets at most its fair share of
 * runners at first, so that every database's queue has runners taking from
 * it; runs that waited longer than STEWARD_QUEUE_GRACE_MS may use any free
 * capacity.  The last free runner goes to the database served least
 * recently among those with runs waiting past the grace period, so that
 * databases take turns.  Within the database, owners take turns the same
 * way: the next run is that of the owner with the fewest active runners,
 * then of the owner served least recently (round robin), then the oldest
 * due time; and an owner never has more than
 * steward.max_workers_per_role runners in the cluster.  *left gets the
 * number of queued runs of 'dboid' that remain.
 */
#define STEWARD_QUEUE_GRACE_MS	500
#define STEWARD_PROMOTE_OWNERS	64

typedef struct ShmemOwnerCount
{
	Oid			owner;
	int			active;
} ShmemOwnerCount;

static int *
shmem_owner_count(ShmemOwnerCount *counts, int *n, Oid owner)
{
	int			i;

	for (i = 0; i < *n; i++)
		if (counts[i].owner == owner)
			return &counts[i].active;
	if (*n >= STEWARD_PROMOTE_OWNERS)
		return NULL;
	counts[*n].owner = owner;
	counts[*n].active = shmem_owner_active(owner);
	return &counts[(*n)++].active;
}

int
steward_runner_promote(Oid dboid, int *slotnos, int max, int *left)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz grace = TimestampTzPlusMilliseconds(now, -STEWARD_QUEUE_GRACE_MS);
	int			max_workers = steward_effective_max_workers();
	int			per_role = steward_effective_max_workers_per_role();
	ShmemOwnerCount counts[STEWARD_PROMOTE_OWNERS];
	int			ncounts = 0;
	StewardSchedulerSlot *me;
	int			active = 0;
	int			mine = 0;
	int			queued = 0;
	int			nsched = 0;
	int			share;
	int			n = 0;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	me = shmem_scheduler_of(dboid);
	for (i = 0; i < steward_shared->nschedulers; i++)
		if (steward_shared->schedulers[i].state == SCHEDULER_RUNNING)
			nsched++;
	share = (max_workers + Max(nsched, 1) - 1) / Max(nsched, 1);
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (shmem_runner_active(r))
		{
			active++;
			if (r->dboid == dboid)
				mine++;
		}
		else if (r->state == RUNNER_QUEUED && r->dboid == dboid)
			queued++;
	}

	while (queued > 0 && n < max && active < max_workers)
	{
		StewardRunnerSlot *best = NULL;
		int			bestno = -1;
		int			best_active = 0;
		TimestampTz best_turn = 0;
		int		   *best_count = NULL;

		for (i = 0; i < steward_shared->nrunners; i++)
		{
			StewardRunnerSlot *r = &steward_shared->runners[i];
			int		   *count;
			TimestampTz turn;

			if (r->state != RUNNER_QUEUED || r->dboid != dboid)
				continue;
			count = shmem_owner_count(counts, &ncounts, r->owner);
			if (count == NULL || *count >= per_role)
				continue;
			turn = shmem_owner_last_served(me, r->owner);
			/* fewest runners, then served least recently, then due first */
			if (best == NULL || *count < best_active ||
				(*count == best_active &&
				 (turn < best_turn ||
				  (turn == best_turn && r->scheduled_for < best->scheduled_for))))
			{
				best = r;
				bestno = i;
				best_active = *count;
				best_turn = turn;
				best_count = count;
			}
		}
		if (best == NULL)
			break;
		if (mine >= share && best->scheduled_for > grace)
			break;
		if (active + 1 >= max_workers && shmem_other_db_first(dboid, grace))
			break;
		shmem_start_queued(best, RUNNER_RESERVED, now);
		shmem_note_served(dboid, best->owner, now);
		slotnos[n++] = bestno;
		(*best_count)++;
		active++;
		mine++;
		queued--;
	}
	LWLockRelease(steward_shared->lock);
	*left = queued;
	return n;
}

/* A runner could not be started for a promoted slot: queue the run again. */
void
steward_runner_requeue(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->runners[slotno].state = RUNNER_QUEUED;
	steward_shared->runners[slotno].deadline = 0;
	LWLockRelease(steward_shared->lock);
}

/*
 * Should the runner of slot 'cur' exit rather than take over another run
 * (lock held)?  Yes when steward.max_workers (or max_workers_per_role) was
 * lowered below the runners at work, or when all runners are busy while runs it cannot take (another
 * database or owner) have been queued for longer than the grace period: its
 * capacity then goes round.
 */
static bool
shmem_should_yield(const StewardRunnerSlot *cur)
{
	TimestampTz grace = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													-STEWARD_QUEUE_GRACE_MS);
	int			max_workers = steward_effective_max_workers();
	bool		waiting = false;
	int			active = 0;
	int			owner_active = 0;
	int			i;

	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (shmem_runner_active(r))
		{
			active++;
			if (r->owner == cur->owner)
				owner_active++;
		}
		else if (r->state == RUNNER_QUEUED && r->scheduled_for <= grace &&
				 (r->dboid != cur->dboid || r->owner != cur->owner))
			waiting = true;
	}
	return active > max_workers ||
		owner_active > steward_effective_max_workers_per_role() ||
		(waiting && active >= max_workers);
}

bool
steward_runner_has_queued(Oid dboid, Oid owner, TimestampTz horizon)
{
	bool		found;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	found = shmem_first_queued(dboid, owner, horizon) >= 0;
	LWLockRelease(steward_shared->lock);
	return found;
}

/*
 * A runner that finished the run in 'cur_slotno' takes over the queued run
 * of its database and owner that is due first (by 'horizon').  Its old slot
 * is left DONE and marked handed off, so the scheduler records that run and
 * moves its worker handle along.  Returns the new slot, or -1.
 */
int
steward_runner_take_next(int cur_slotno, TimestampTz horizon)
{
	StewardRunnerSlot *cur = &steward_shared->runners[cur_slotno];
	int			bestno = -1;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (!cur->cancel_requested && !cur->timeout_requested && cur->waiter_pid == 0 &&
		!shmem_should_yield(cur))
		bestno = shmem_first_queued(cur->dboid, cur->owner, horizon);
	if (bestno >= 0)
	{
		StewardRunnerSlot *best = &steward_shared->runners[bestno];

		shmem_start_queued(best, RUNNER_RUNNING, GetCurrentTimestamp());
		shmem_note_served(cur->dboid, cur->owner, best->started_at);
		best->pid = MyProcPid;
		cur->state = RUNNER_DONE;
		cur->pid = 0;
		cur->handed_off = true;
		cur->handoff_to = bestno;
	}
	LWLockRelease(steward_shared->lock);
	return bestno;
}

/*
 * Forget the queued runs of a database (its scheduler is going away, or
 * steward.enabled was turned off).  Up to 'max' of them are copied to
 * 'dropped' (may be NULL); returns how many were copied.
 */
int
steward_runner_drop_queued(Oid dboid, StewardQueuedRun *dropped, int max)
{
	int			i;
	int			n = 0;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state != RUNNER_QUEUED || r->dboid != dboid)
			continue;
		if (dropped != NULL && n < max)
		{
			dropped[n].job_id = r->job_id;
			dropped[n].attempt = r->attempt;
			dropped[n].scheduled_for = r->scheduled_for;
			n++;
		}
		memset(r, 0, sizeof(*r));
	}
	LWLockRelease(steward_shared->lock);
	return n;
}

/*
 * A dropped database's runner slots: its scheduler and runners are gone, and
 * so is the database their outcomes belonged to.  Free them, so that they do
 * not count against steward.max_workers for ever.
 */
void
steward_runner_forget_database(Oid dboid)
{
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->nrunners; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->dboid == dboid && r->state != RUNNER_REAPING)
			memset(r, 0, sizeof(*r));
	}
	LWLockRelease(steward_shared->lock);
	steward_wake_scheduler(InvalidOid);
}
