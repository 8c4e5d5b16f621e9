/*-------------------------------------------------------------------------
 *
 * shmem_runner.c
 *	  Shared state of the job runners: the run queue and the runner slots.
 *
 * The second half of the shared-memory module (src/core/shmem.c has the
 * segment, the launcher and the scheduler slots): every change to a runner
 * slot is a named function here, under the segment's one LWLock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "core/compat.h"
#include "core/guc.h"
#include "core/shmem.h"
#include "core/shmem_int.h"

/* Does this slot stand for a runner process (started or about to be)? */
static inline bool
shmem_runner_active(const StewardRunnerSlot *r)
{
	return r->state != RUNNER_FREE && r->state != RUNNER_QUEUED && !r->handed_off;
}

/*
 * The queue key of a run of 'dboid' and 'owner' (never 0: both are valid
 * OIDs).  queue_keys[i] holds it while slot i is QUEUED, else 0; every
 * change of a slot to or from QUEUED goes through shmem_set_queued() or
 * shmem_free_slot().
 */
static inline uint64
shmem_queue_key(Oid dboid, Oid owner)
{
	return ((uint64) dboid << 32) | (uint64) owner;
}

static inline Oid
shmem_queue_key_db(uint64 key)
{
	return (Oid) (key >> 32);
}

/* Slot 'slotno' becomes QUEUED (its dboid and owner set) or leaves it (lock held). */
static void
shmem_set_queued(int slotno, bool queued)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	if (queued)
	{
		r->state = RUNNER_QUEUED;
		steward_shared->queue_keys[slotno] = shmem_queue_key(r->dboid, r->owner);
	}
	else
		steward_shared->queue_keys[slotno] = 0;
}

/* Free slot 'slotno' (lock held; the caller trims runner_hwm). */
static void
shmem_free_slot(int slotno)
{
	memset(&steward_shared->runners[slotno], 0, sizeof(StewardRunnerSlot));
	steward_shared->queue_keys[slotno] = 0;
}

typedef struct ShmemOwnerCount
{
	Oid			owner;
	int			active;
} ShmemOwnerCount;

/*
 * Slots at or above runner_hwm are all free, so that scans cost what is in
 * use, not the size of the queue.  Claim slot 'slotno' (free; lock held).
 */
static StewardRunnerSlot *
shmem_claim_slot(int slotno)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	shmem_free_slot(slotno);
	if (slotno >= steward_shared->runner_hwm)
		steward_shared->runner_hwm = slotno + 1;
	return r;
}

/* Lower runner_hwm past the free slots at its top (lock held). */
static void
shmem_trim_hwm(void)
{
	while (steward_shared->runner_hwm > 0 &&
		   steward_shared->runners[steward_shared->runner_hwm - 1].state == RUNNER_FREE)
		steward_shared->runner_hwm--;
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
	for (i = 0; i < steward_shared->runner_hwm; i++)
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
	if (*free_slot < 0 && steward_shared->runner_hwm < steward_shared->nrunners)
		*free_slot = steward_shared->runner_hwm;
	return NULL;
}

/* Active runners of 'owner' in the whole cluster (lock held). */
static int
shmem_owner_active(Oid owner)
{
	int			i;
	int			n = 0;

	for (i = 0; i < steward_shared->runner_hwm; i++)
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
	uint64		want = OidIsValid(owner) ? shmem_queue_key(dboid, owner) : 0;
	const uint64 *keys = steward_shared->queue_keys;
	int			bestno = -1;
	int			i;

	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r;

		if (keys[i] == 0 ||
			(want != 0 ? keys[i] != want : shmem_queue_key_db(keys[i]) != dboid))
			continue;
		r = &steward_shared->runners[i];
		if (OidIsValid(owner) && r->scheduled_for > horizon)
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

	r = shmem_claim_slot(free_slot);
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
	bool		was_runner;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	was_runner = shmem_runner_active(&steward_shared->runners[slotno]);
	shmem_free_slot(slotno);
	shmem_trim_hwm();
	LWLockRelease(steward_shared->lock);

	/*
	 * A runner's slot freed may let a waiting scheduler start its job.  The
	 * slot of a run whose process moved on to another run frees no runner:
	 * waking every scheduler for it made each pass once per 100 ms all
	 * through a burst.
	 */
	if (was_runner)
		steward_wake_scheduler_runners(InvalidOid);
}

bool
steward_job_is_running(Oid dboid, int64 job_id)
{
	int			i;
	bool		running = false;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->runner_hwm; i++)
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
	r = shmem_claim_slot(free_slot);
	r->dboid = dboid;
	r->job_id = job_id;
	r->owner = owner;
	r->attempt = attempt;
	r->scheduled_for = scheduled_for;
	r->max_runtime = max_runtime;
	r->started_at = GetCurrentTimestamp();
	shmem_set_queued(free_slot, true);
	LWLockRelease(steward_shared->lock);
	return RESERVE_OK;
}

static int
shmem_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Queue several due runs of 'dboid' at once (see steward_runner_queue(), whose
 * rules apply to each): one pass over the slots for all of them, so that a
 * scheduling pass costs the same whatever the number of due jobs.  Each
 * request's 'result' tells whether it was queued.
 */
void
steward_runner_queue_many(Oid dboid, StewardQueueRequest *reqs, int n)
{
	int64	   *busy = palloc(sizeof(int64) * steward_shared->nrunners);
	ShmemOwnerCount *owners = palloc(sizeof(ShmemOwnerCount) * (n + 1));
	int			nowners = 0;
	int			nbusy = 0;
	int			next_free = 0;
	TimestampTz now = GetCurrentTimestamp();
	int			i,
				k;

	/* the owners asked about, with their queued runs counted below */
	for (i = 0; i < n; i++)
	{
		for (k = 0; k < nowners; k++)
			if (owners[k].owner == reqs[i].owner)
				break;
		if (k == nowners)
		{
			owners[nowners].owner = reqs[i].owner;
			owners[nowners++].active = 0;
		}
	}

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state == RUNNER_FREE)
			continue;
		if (r->dboid == dboid)
			busy[nbusy++] = r->job_id;
		if (r->state == RUNNER_QUEUED)
			for (k = 0; k < nowners; k++)
				if (owners[k].owner == r->owner)
				{
					owners[k].active++;
					break;
				}
	}
	qsort(busy, nbusy, sizeof(int64), shmem_cmp_int64);

	for (i = 0; i < n; i++)
	{
		StewardQueueRequest *q = &reqs[i];
		StewardRunnerSlot *r;

		if (bsearch(&q->job_id, busy, nbusy, sizeof(int64), shmem_cmp_int64) != NULL)
		{
			q->result = RESERVE_JOB_RUNNING;
			continue;
		}
		for (k = 0; owners[k].owner != q->owner; k++)
			;
		while (next_free < steward_shared->nrunners &&
			   steward_shared->runners[next_free].state != RUNNER_FREE)
			next_free++;
		if (next_free >= steward_shared->nrunners ||
			owners[k].active >= STEWARD_RUNNER_QUEUE / 2)
		{
			q->result = RESERVE_NO_CAPACITY;
			continue;
		}
		r = shmem_claim_slot(next_free);
		r->dboid = dboid;
		r->job_id = q->job_id;
		r->owner = q->owner;
		r->attempt = q->attempt;
		r->scheduled_for = q->scheduled_for;
		r->max_runtime = q->max_runtime;
		r->started_at = now;
		shmem_set_queued(next_free, true);
		owners[k].active++;
		q->result = RESERVE_OK;
	}
	LWLockRelease(steward_shared->lock);
	pfree(busy);
	pfree(owners);
}

/*
 * The job ids of every slot of 'dboid' in any state (queued, running,
 * finished), sorted, up to 'max'; returns how many.  A job among them must
 * not be queued again (no overlap).
 */
int
steward_runner_busy_jobs(Oid dboid, int64 *ids, int max)
{
	int			n = 0;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->runner_hwm && n < max; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state != RUNNER_FREE && r->dboid == dboid)
			ids[n++] = r->job_id;
	}
	LWLockRelease(steward_shared->lock);
	qsort(ids, n, sizeof(int64), shmem_cmp_int64);
	return n;
}

/*
 * The slots of 'dboid' that stand for a runner (reserved, running, finished
 * or being reaped), up to 'max'; returns how many.  What a scheduler pass
 * looks at to reap, instead of every slot of the queue.
 */
int
steward_runner_db_slots(Oid dboid, int *slotnos, int max)
{
	int			n = 0;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->runner_hwm && n < max; i++)
	{
		StewardRunnerSlot *r;

		if (steward_shared->queue_keys[i] != 0)
			continue;			/* queued */
		r = &steward_shared->runners[i];
		if (r->dboid == dboid && r->state != RUNNER_FREE && r->state != RUNNER_QUEUED)
			slotnos[n++] = i;
	}
	LWLockRelease(steward_shared->lock);
	return n;
}

/* Turn queued slot 'slotno' into a running one (lock held). */
static void
shmem_start_queued(int slotno, StewardRunnerState state, TimestampTz now)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	shmem_set_queued(slotno, false);
	r->state = state;
	r->started_at = now;
	r->deadline = r->max_runtime > 0 ?
		Max(r->scheduled_for, now) + r->max_runtime : 0;
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

	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		uint64		key = steward_shared->queue_keys[i];
		StewardRunnerSlot *r;
		StewardSchedulerSlot *other;

		if (key == 0 || shmem_queue_key_db(key) == dboid)
			continue;
		r = &steward_shared->runners[i];
		if (r->scheduled_for > grace)
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
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		uint64		key = steward_shared->queue_keys[i];
		StewardRunnerSlot *r;

		if (key != 0)
		{
			if (shmem_queue_key_db(key) == dboid)
				queued++;
			continue;
		}
		r = &steward_shared->runners[i];
		if (shmem_runner_active(r))
		{
			active++;
			if (r->dboid == dboid)
				mine++;
		}
	}

	while (queued > 0 && n < max && active < max_workers)
	{
		StewardRunnerSlot *best = NULL;
		int			bestno = -1;
		int			best_active = 0;
		TimestampTz best_turn = 0;
		int		   *best_count = NULL;

		for (i = 0; i < steward_shared->runner_hwm; i++)
		{
			uint64		key = steward_shared->queue_keys[i];
			StewardRunnerSlot *r;
			int		   *count;
			TimestampTz turn;

			if (key == 0 || shmem_queue_key_db(key) != dboid)
				continue;
			r = &steward_shared->runners[i];
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
		shmem_start_queued(bestno, RUNNER_RESERVED, now);
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
	shmem_set_queued(slotno, true);
	steward_shared->runners[slotno].deadline = 0;
	LWLockRelease(steward_shared->lock);
}

/*
 * Should the runner of slot 'cur' exit rather than take over another run
 * (lock held)?  Yes when steward.max_workers (or max_workers_per_role) was
 * lowered below the runners at work, or when all runners are busy while
 * runs it cannot take (another database or owner) have been queued for
 * longer than the grace period: its capacity then goes round.  Either only
 * once the runner has had its time slice (STEWARD_RUNNER_SLICE_MS since its
 * process took its first run, or since it last found no reason to yield:
 * then a new slice begins, *checked).  The slice keeps a burst from
 * costing a process start (and exit) per run once every runner is busy: a
 * runner serves its database and owner for a while, then makes room; and
 * within a slice a hand-off costs no scan of the slots (a lowered limit is
 * seen a slice later at most).
 */
#define STEWARD_RUNNER_SLICE_MS	1000

static bool
shmem_should_yield(const StewardRunnerSlot *cur, bool *checked)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz grace = TimestampTzPlusMilliseconds(now, -STEWARD_QUEUE_GRACE_MS);
	int			max_workers = steward_effective_max_workers();
	uint64		own_key = shmem_queue_key(cur->dboid, cur->owner);
	bool		waiting = false;
	int			active = 0;
	int			owner_active = 0;
	int			i;

	*checked = false;
	if (cur->slice_started != 0 &&
		!TimestampDifferenceExceeds(cur->slice_started, now, STEWARD_RUNNER_SLICE_MS))
		return false;
	*checked = true;

	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		uint64		key = steward_shared->queue_keys[i];
		StewardRunnerSlot *r;

		if (key != 0)
		{
			/* a queued run it cannot take, waiting past the grace period */
			if (!waiting && key != own_key &&
				steward_shared->runners[i].scheduled_for <= grace)
				waiting = true;
			continue;
		}
		r = &steward_shared->runners[i];
		if (shmem_runner_active(r))
		{
			active++;
			if (r->owner == cur->owner)
				owner_active++;
		}
	}
	return active > max_workers ||
		owner_active > steward_effective_max_workers_per_role() ||
		(waiting && active >= max_workers);
}

/*
 * The queued run of 'dboid' and 'owner' due first (by 'horizon'), or -1: a
 * hint for steward_runner_take_next(), which takes it if it is still queued.
 */
int
steward_runner_has_queued(Oid dboid, Oid owner, TimestampTz horizon)
{
	int			slotno;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	slotno = shmem_first_queued(dboid, owner, horizon);
	LWLockRelease(steward_shared->lock);
	return slotno;
}

/*
 * A runner that finished the run in 'cur_slotno' takes over the queued run
 * of its database and owner that is due first (by 'horizon').  Its old slot
 * is left DONE and marked handed off, so the scheduler records that run and
 * moves its worker handle along.  Returns the new slot, or -1.
 */
int
steward_runner_take_next(int cur_slotno, TimestampTz horizon, int hint)
{
	StewardRunnerSlot *cur = &steward_shared->runners[cur_slotno];
	int			bestno = -1;
	bool		checked = false;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (!cur->cancel_requested && !cur->timeout_requested && cur->waiter_pid == 0 &&
		!shmem_should_yield(cur, &checked))
	{
		/* the run steward_runner_has_queued() found, unless taken meanwhile */
		if (hint >= 0 && hint < steward_shared->runner_hwm &&
			steward_shared->queue_keys[hint] == shmem_queue_key(cur->dboid, cur->owner) &&
			steward_shared->runners[hint].scheduled_for <= horizon)
			bestno = hint;
		else
			bestno = shmem_first_queued(cur->dboid, cur->owner, horizon);
	}
	if (bestno >= 0)
	{
		StewardRunnerSlot *best = &steward_shared->runners[bestno];

		shmem_start_queued(bestno, RUNNER_RUNNING, GetCurrentTimestamp());
		shmem_note_served(cur->dboid, cur->owner, best->started_at);
		best->pid = MyProcPid;
		/* no reason to yield found: a new slice */
		best->slice_started = checked ? best->started_at : cur->slice_started;
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
	for (i = 0; i < steward_shared->runner_hwm; i++)
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
		shmem_free_slot(i);
	}
	shmem_trim_hwm();
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
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->dboid == dboid && r->state != RUNNER_REAPING)
			shmem_free_slot(i);
	}
	shmem_trim_hwm();
	LWLockRelease(steward_shared->lock);
	steward_wake_scheduler(InvalidOid);
}

/* ---------------------------------------------------------------------
 * Runner slots: one function per state change (see docs/architecture.md)
 * ---------------------------------------------------------------------
 */

/* A consistent copy of runner slot 'slotno'. */
void
steward_runner_get(int slotno, StewardRunnerSlot *copy)
{
	LWLockAcquire(steward_shared->lock, LW_SHARED);
	*copy = steward_shared->runners[slotno];
	LWLockRelease(steward_shared->lock);
}

/* RESERVED -> RUNNING: the runner process is up. */
void
steward_runner_started(int slotno)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	r->pid = MyProcPid;
	r->state = RUNNER_RUNNING;
	r->slice_started = GetCurrentTimestamp();
	LWLockRelease(steward_shared->lock);
}

/* The runner inserted its job_run row. */
void
steward_runner_set_run_id(int slotno, int64 run_id)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->runners[slotno].run_id = run_id;
	LWLockRelease(steward_shared->lock);
}

/* The runner found no such job (unscheduled or re-owned meanwhile). */
void
steward_runner_set_job_missing(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->runners[slotno].job_missing = true;
	LWLockRelease(steward_shared->lock);
}

/* The runner wrote the run's final status itself. */
void
steward_runner_set_outcome_recorded(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->runners[slotno].outcome_recorded = true;
	LWLockRelease(steward_shared->lock);
}

/* -> DONE: the runner process exits.  Returns the slot's database. */
Oid
steward_runner_exited(int slotno, bool terminated)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];
	Oid			dboid;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	r->state = RUNNER_DONE;
	r->pid = 0;
	if (terminated)
		r->terminated = true;
	dboid = r->dboid;
	LWLockRelease(steward_shared->lock);
	return dboid;
}

/* RESERVED -> DONE: the postmaster never started the runner.  True if so. */
bool
steward_runner_mark_unstarted(int slotno)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];
	bool		unstarted = false;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (r->state == RUNNER_RESERVED)
	{
		r->state = RUNNER_DONE;
		unstarted = true;
	}
	LWLockRelease(steward_shared->lock);
	return unstarted;
}

/* DONE -> REAPING; false if the slot is not DONE.  'copy' gets the slot. */
bool
steward_runner_begin_reap(int slotno, StewardRunnerSlot *copy)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (r->state != RUNNER_DONE)
	{
		LWLockRelease(steward_shared->lock);
		return false;
	}
	r->state = RUNNER_REAPING;
	*copy = *r;
	LWLockRelease(steward_shared->lock);
	return true;
}

/* REAPING -> DONE: a reap failed half-way and is to be done again. */
void
steward_runner_undo_reap(int slotno)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (r->state == RUNNER_REAPING)
		r->state = RUNNER_DONE;
	LWLockRelease(steward_shared->lock);
}

/* A run_job() caller waits on the slot (and reaps it), or stops waiting. */
void
steward_runner_set_waiter(int slotno, bool waiting)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (waiting)
		r->waiter_pid = MyProcPid;
	else if (r->waiter_pid == MyProcPid)
		r->waiter_pid = 0;
	LWLockRelease(steward_shared->lock);
}

/*
 * Live runs of 'dboid' that have a job_run row: their run ids, up to 'max';
 * returns how many.
 */
int
steward_runner_run_ids(Oid dboid, int64 *ids, int max)
{
	int			n = 0;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->runner_hwm && n < max; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->state != RUNNER_FREE && r->dboid == dboid && r->run_id != 0)
			ids[n++] = r->run_id;
	}
	LWLockRelease(steward_shared->lock);
	return n;
}

/*
 * Where the process of a handed-off slot of 'dboid' went: the last slot of
 * its chain of hand-offs, or -1 if 'slotno' was not handed off.
 */
int
steward_runner_handoff_end(int slotno, Oid dboid)
{
	StewardRunnerSlot *r = &steward_shared->runners[slotno];
	int			to = -1;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	if (r->dboid == dboid && r->handed_off)
	{
		to = r->handoff_to;
		while (steward_shared->runners[to].handed_off)
			to = steward_shared->runners[to].handoff_to;
	}
	LWLockRelease(steward_shared->lock);
	return to;
}

/*
 * max_runtime: ask each runner of 'dboid' past its deadline to cancel
 * (SIGINT), and terminate it (SIGTERM) 'grace_ms' later.  Returns when a
 * deadline next needs attention (0: none).
 */
TimestampTz
steward_runner_enforce_deadlines(Oid dboid, TimestampTz now, int grace_ms)
{
	TimestampTz wake = 0;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];
		TimestampTz at;

		if (r->dboid != dboid || r->state != RUNNER_RUNNING || r->deadline == 0)
			continue;
		if (now >= r->deadline && !r->timeout_requested && r->pid != 0)
		{
			r->timeout_requested = true;
			kill(r->pid, SIGINT);
		}
		if (r->timeout_requested && !r->kill_sent && r->pid != 0 &&
			now >= TimestampTzPlusMilliseconds(r->deadline, grace_ms))
		{
			r->kill_sent = true;
			kill(r->pid, SIGTERM);
		}
		at = r->timeout_requested ?
			TimestampTzPlusMilliseconds(r->deadline, grace_ms) : r->deadline;
		if (!r->kill_sent && (wake == 0 || at < wake))
			wake = at;
	}
	LWLockRelease(steward_shared->lock);
	return wake;
}

/*
 * Mark the reserved and running runs of 'dboid' cancelled and signal their
 * processes ('sig': SIGINT to cancel the run, SIGTERM to end the process);
 * runs a run_job() caller waits on are left alone unless 'waited'.
 * Returns whether there was any.
 */
bool
steward_runner_cancel_database(Oid dboid, int sig, bool waited)
{
	bool		any = false;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->dboid != dboid ||
			(r->state != RUNNER_RUNNING && r->state != RUNNER_RESERVED) ||
			(!waited && r->waiter_pid != 0))
			continue;
		any = true;
		r->cancel_requested = true;
		if (r->pid != 0)
			kill(r->pid, sig);
	}
	LWLockRelease(steward_shared->lock);
	return any;
}

/* Has 'dboid' a runner process at work? */
bool
steward_runner_database_busy(Oid dboid)
{
	bool		busy = false;
	int			i;

	LWLockAcquire(steward_shared->lock, LW_SHARED);
	for (i = 0; i < steward_shared->runner_hwm && !busy; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		busy = r->dboid == dboid && r->state == RUNNER_RUNNING;
	}
	LWLockRelease(steward_shared->lock);
	return busy;
}

/*
 * DROP EXTENSION: free the finished and queued slots of 'dboid' without
 * recording anything (except those a run_job() caller waits on).
 */
void
steward_runner_discard_database(Oid dboid)
{
	int			i;

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < steward_shared->runner_hwm; i++)
	{
		StewardRunnerSlot *r = &steward_shared->runners[i];

		if (r->dboid == dboid && r->waiter_pid == 0 &&
			(r->state == RUNNER_DONE || r->state == RUNNER_QUEUED))
			shmem_free_slot(i);
	}
	shmem_trim_hwm();
	LWLockRelease(steward_shared->lock);
	steward_wake_scheduler(InvalidOid);
}

