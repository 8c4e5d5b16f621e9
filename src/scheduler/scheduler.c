/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The per-database scheduler: decides which jobs are due and starts a
 *	  runner for each.
 *
 * State machine of a job, as seen by the scheduler:
 *
 *	 idle --due--> running --runner exits--> idle (next_run_at computed)
 *	                  |                         \
 *	                  | due again: skipped_runs++ \ failed and attempts left:
 *	                  v                            retry_at = now + backoff
 *
 * next_run_at, retry_at and the counters live in steward.job_state so they
 * survive restarts: a due time that passed while the server was down makes
 * the job run once soon after start, then the schedule continues from now.
 *
 * Each pass runs in one short transaction; runners are started after it
 * commits.  The scheduler sleeps on its latch until the next due time (or
 * steward.naptime); API calls, runner exits and SIGHUP wake it.  Memory:
 * a long-lived context for runner handles and a scratch context reset on
 * every pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/procarray.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/pg_steward.h"
#include "scheduler/cron.h"
#include "core/guc.h"
#include "scheduler/job_runner.h"
#include "scheduler/jobs.h"
#include "scheduler/scheduler.h"
#include "scheduler/sched_int.h"
#include "core/shmem.h"
#include "core/spi_util.h"

/* Give a cancelled runner this long before it is terminated. */
#define SCHEDULER_KILL_GRACE_MS		5000
/*
 * History pruning: how often, how many rows per transaction, and how long
 * one round may take before the scheduler gets back to scheduling.  A round
 * that ends with old rows left is continued at the next loop, so pruning
 * keeps up with any insert rate (see docs/scheduler.md).
 */
#define SCHEDULER_PRUNE_EVERY_MS	60000
#define SCHEDULER_PRUNE_BATCH		5000
#define SCHEDULER_PRUNE_BUDGET_MS	250
/*
 * Runners are started this long before their due time: they connect and
 * read their job, then wait for the due time, so connection start-up does
 * not delay the run.
 */
#define SCHEDULER_LEAD_MS			200
/*
 * A pass after a full pass comes at least this much later when it was asked
 * for by a wake-up (runners, API calls), so that a burst of thousands of
 * runs costs a full pass per interval rather than one per run; a pass for a
 * due time is never held back.  Less than SCHEDULER_LEAD_MS, so runners
 * still start ahead.
 */
#define SCHEDULER_MIN_GAP_MS		100
/*
 * After a light pass (or none), the next pass may come this soon: a light
 * pass costs a few scans of shared memory, and a runner's slot freed by an
 * exit should get a new runner without waiting out SCHEDULER_MIN_GAP_MS.
 */
#define SCHEDULER_LIGHT_GAP_MS		10
/*
 * A scheduler woken by its timeout (steward.naptime) with nothing due, no
 * wake-up asked of it and no runner of its database about skips reading the
 * jobs, so that an idle scheduler costs the same whatever their number; it
 * reads them at least every this many naptimes anyway.
 */
#define SCHEDULER_FULL_PASS_NAPTIMES	6
/*
 * Runners that exit, and freed runner slots, ask only for a light pass: reap
 * the finished runner slots whose outcome is recorded and start runners for
 * queued runs, without a transaction and without reading the jobs.  The
 * finished runs are accounted for (failure counts, retries) by a full pass
 * at most this long afterwards.  A run that did not succeed asks for a full
 * pass at once (job_runner.c), so retries are planned on time.
 */
#define SCHEDULER_ACCOUNT_MS		1000
/* While queued runs wait for a runner, look for free capacity this often. */
#define SCHEDULER_POLL_MS			100

typedef enum SchedPassKind
{
	SCHED_PASS_NONE,
	SCHED_PASS_LIGHT,
	SCHED_PASS_FULL
} SchedPassKind;

static int	sched_slotno = -1;
static Oid	sched_dboid = InvalidOid;
static Oid	sched_extension_oid = InvalidOid;	/* see sched_extension_present */
static BackgroundWorkerHandle **sched_runner_handles = NULL;
static TimestampTz sched_last_prune = 0;
static bool sched_prune_pending = false;
static bool warned_no_worker = false;
static uint64 sched_wakeups_seen = 0;
static uint64 sched_runner_wakeups_seen = 0;
/* Queued runs of this database wait for a runner (poll for capacity). */
static bool sched_waiting = false;
/* A light pass left a finished runner slot that only a full pass can reap. */
static bool sched_reap_asked = false;
/* The last full pass found no room in the queue for some due runs. */
static bool sched_queue_full = false;
/*
 * Runs reaped but not yet accounted for by a full pass (their run ids).
 * Kept across passes, cleared only once a pass that accounted for them has
 * committed.
 */
static int64 *sched_pending = NULL;
static int	sched_npending = 0;
static int	sched_maxpending = 0;
/* Job names by id (sorted), from the last full pass: runner process names. */
static MemoryContext sched_names_cxt = NULL;
static int64 *sched_name_ids = NULL;
static char **sched_names = NULL;
static int	sched_nnames = 0;
static bool sched_force_pass = true;	/* first pass, reloads, errors */

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */
static void
sched_on_exit(int code, Datum arg)
{
	if (sched_slotno < 0)
		return;
	/* an error exit is retried by the launcher after a pause */
	steward_scheduler_detach(sched_slotno, code != 0);
	steward_wake_launcher();
}

/*
 * Next regular due time after a run that was due at 'due': anchored on the
 * due time (so '1 seconds' does not drift), but never in the past, so a
 * job that missed several due times runs once, not once per missed tick.
 */
static TimestampTz sched_next(SchedJob *job, TimestampTz after);

static TimestampTz
sched_advance(SchedJob *job, TimestampTz due, TimestampTz now)
{
	TimestampTz next = sched_next(job, due);

	if (next != 0 && next <= now)
	{
		int64		iv = job->sched.interval_usecs;

		/*
		 * An interval schedule keeps its anchor: the first due + k * interval
		 * after now, not now + interval.
		 */
		if (job->sched.kind == CRON_SCHEDULE_INTERVAL && iv > 0 && now >= due)
			next = due + ((now - due) / iv + 1) * iv;
		else
			next = sched_next(job, now);
	}
	return next;
}

/* Next regular due time strictly after 'after'; 0 if none. */
static TimestampTz
sched_next(SchedJob *job, TimestampTz after)
{
	TimestampTz next;

	if (!job->valid)
		return 0;
	next = cron_next_after(&job->sched, after, job->tz);
	return TIMESTAMP_NOT_FINITE(next) ? 0 : next;
}

/*
 * Delay before retry number 'attempt' (1 = first retry): retry_delay
 * doubled per attempt, capped at the schedule's period, plus up to 10%
 * jitter so that retries of many jobs do not start in lockstep.
 */
static int64
sched_retry_delay(SchedJob *job, int attempt, TimestampTz now)
{
	double		delay = (double) job->retry_delay;
	int64		period = 0;
	TimestampTz n1 = sched_next(job, now);

	if (n1 != 0)
	{
		TimestampTz n2 = sched_next(job, n1);

		if (n2 != 0)
			period = n2 - n1;
	}
	delay *= pow(2.0, Max(Min(attempt, 100) - 1, 0));
	if (period > 0 && delay > period)
		delay = period;
	if (delay > (double) STEWARD_JOB_MAX_INTERVAL_USECS)
		delay = (double) STEWARD_JOB_MAX_INTERVAL_USECS;
	delay += delay * 0.1 * ((double) random() / (double) PG_INT32_MAX);
	return (int64) delay;
}

static bool
sched_extension_present(void)
{
	Oid			oid = get_extension_oid(STEWARD_EXTENSION_NAME, true);

	/*
	 * The extension this scheduler started with: one dropped and created
	 * again (in one transaction, say) has new jobs and job ids, which the
	 * runners and queued runs of the old one must never meet.
	 */
	if (!OidIsValid(sched_extension_oid))
		sched_extension_oid = oid;
	return OidIsValid(oid) && oid == sched_extension_oid;
}

/*
 * A runner that took over a queued run left its old slot handed off; its
 * worker handle belongs with the slot the process now serves.
 */
static void
sched_follow_handoffs(void)
{
	int			nslots = steward_runner_nslots();
	int			i;

	for (i = 0; i < nslots; i++)
	{
		int			to;

		if (sched_runner_handles[i] == NULL ||
			(to = steward_runner_handoff_end(i, sched_dboid)) < 0)
			continue;
		if (sched_runner_handles[to] != NULL)
			pfree(sched_runner_handles[to]);
		sched_runner_handles[to] = sched_runner_handles[i];
		sched_runner_handles[i] = NULL;
	}
}

/* A reaped run, to be accounted for by the next full pass. */
static void
sched_add_pending(int64 run_id)
{
	if (sched_npending >= sched_maxpending)
	{
		int			newmax = Max(sched_maxpending * 2, 1024);

		if (sched_pending == NULL)
			sched_pending = MemoryContextAlloc(TopMemoryContext, sizeof(int64) * newmax);
		else
			sched_pending = repalloc(sched_pending, sizeof(int64) * newmax);
		sched_maxpending = newmax;
	}
	sched_pending[sched_npending++] = run_id;
}

/*
 * Would reaping this finished slot write to the catalog (steward_runner_reap:
 * an outcome the runner could not record, or a runner that never started)?
 * A copy taken before the runner stopped errs towards yes.
 */
static bool
sched_reap_needs_catalog(const StewardRunnerSlot *slot)
{
	return (!slot->outcome_recorded && slot->run_id != 0) ||
		(slot->run_id == 0 && !slot->job_missing && !slot->cancel_requested);
}

/*
 * Reap finished runner slots of this database; their run ids go to the
 * pending list (sched_add_pending).  'light': outside a transaction, so
 * only slots whose reaping writes nothing; a slot that needs the catalog is
 * left for a full pass, which is asked for (sched_reap_asked).
 */
static void
sched_reap_runners(bool light)
{
	int		   *slotnos = palloc(sizeof(int) * steward_runner_nslots());
	int			nslots;
	int			k;

	sched_follow_handoffs();
	/* only this database's runner slots, not the whole queue */
	nslots = steward_runner_db_slots(sched_dboid, slotnos, steward_runner_nslots());
	for (k = 0; k < nslots; k++)
	{
		int			i = slotnos[k];
		StewardRunnerSlot slot;
		bool		mine;
		bool		finished;
		pid_t		waiter;
		bool		stuck = false;
		int64		run_id;

		steward_runner_get(i, &slot);
		mine = slot.dboid == sched_dboid &&
			slot.state != RUNNER_FREE && slot.state != RUNNER_QUEUED;
		waiter = slot.waiter_pid;
		finished = slot.state == RUNNER_DONE && !slot.handed_off;

		/*
		 * Slots with a waiting run_job() caller are reaped by that caller,
		 * unless it is gone (a FATAL skips its cleanup only if the process
		 * died outright).
		 */
		if (waiter != 0 && BackendPidGetProc(waiter) != NULL)
			mine = false;
		if (!mine)
			continue;

		/*
		 * A run taken over after this pass began may already be over: fetch
		 * its worker handle first, so the slot is not freed (and reused)
		 * while the handle still points at it.
		 */
		if (finished && sched_runner_handles[i] == NULL)
			sched_follow_handoffs();

		if (light && sched_reap_needs_catalog(&slot))
		{
			/* still running, or finished (or never started): a full pass reaps it */
			pid_t		pid;

			if (sched_runner_handles[i] != NULL ?
				GetBackgroundWorkerPid(sched_runner_handles[i], &pid) == BGWH_STOPPED :
				slot.state == RUNNER_DONE)
				sched_reap_asked = true;
			continue;
		}

		/*
		 * Reap our runners only once the postmaster has seen them exit, so
		 * that a freed slot always means a free background worker slot; and
		 * notice a runner the postmaster never started.
		 */
		if (sched_runner_handles[i])
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(sched_runner_handles[i], &pid) != BGWH_STOPPED)
				continue;
			stuck = steward_runner_mark_unstarted(i);
			pfree(sched_runner_handles[i]);
			sched_runner_handles[i] = NULL;
		}
		run_id = steward_runner_reap(i);
		if (run_id > 0)
			sched_add_pending(run_id);
		else if (stuck)
			elog(LOG, "pg_steward runner in slot %d never started", i);
	}
	pfree(slotnos);
}

/* The pending runs as a list of run ids (in the current memory context). */
static List *
sched_pending_list(void)
{
	List	   *runs = NIL;
	int			i;

	for (i = 0; i < sched_npending; i++)
	{
		int64	   *id = palloc(sizeof(int64));

		*id = sched_pending[i];
		runs = lappend(runs, id);
	}
	return runs;
}

static int
sched_cmp_job(const void *a, const void *b)
{
	int64		x = (*(SchedJob *const *) a)->job_id;
	int64		y = (*(SchedJob *const *) b)->job_id;

	return (x > y) - (x < y);
}

/*
 * Account for finished runs: reset or count failures, and plan a retry when
 * the run failed and attempts are left.
 */
static void
sched_account_runs(List *jobs, List *run_ids, TimestampTz now)
{
	int			n = list_length(run_ids);
	int			njobs = list_length(jobs);
	SchedJob  **byid;
	Datum	   *ids;
	ListCell   *lc;
	uint64		r;
	int			i = 0;

	if (n == 0)
		return;

	/* one statement for all finished runs, jobs found by id */
	ids = palloc(sizeof(Datum) * n);
	foreach(lc, run_ids)
		ids[i++] = Int64GetDatum(*(int64 *) lfirst(lc));
	byid = palloc(sizeof(SchedJob *) * (njobs + 1));
	i = 0;
	foreach(lc, jobs)
		byid[i++] = lfirst(lc);
	qsort(byid, njobs, sizeof(SchedJob *), sched_cmp_job);

	steward_spi_exec("SELECT job_id, status, attempt FROM steward.job_run"
					 " WHERE run_id = ANY ($1) ORDER BY run_id",
					 SPI_OK_SELECT, 1, (Oid[]) {INT8ARRAYOID},
					 (Datum[]) {PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))},
					 NULL);
	for (r = 0; r < SPI_processed; r++)
	{
		SchedJob	key;
		SchedJob   *keyp = &key;
		SchedJob  **found;
		SchedJob   *job;
		char	   *status;
		int			attempt;
		bool		isnull;
		int			failures;
		TimestampTz retry_at;
		int			retry_attempt;

		key.job_id = DatumGetInt64(steward_spi_getdatum(r, 1, &isnull));
		status = steward_spi_gettext(r, 2);
		attempt = DatumGetInt32(steward_spi_getdatum(r, 3, &isnull));
		found = bsearch(&keyp, byid, njobs, sizeof(SchedJob *), sched_cmp_job);
		if (found == NULL)
			continue;
		job = *found;
		failures = job->consecutive_failures;
		retry_at = job->retry_at;
		retry_attempt = job->retry_attempt;
		if (strcmp(status, "succeeded") == 0)
		{
			job->consecutive_failures = 0;
			job->retry_at = 0;
			job->retry_attempt = 0;
		}
		else if (strcmp(status, "cancelled") == 0)
		{
			/* stopped by someone, not failing: no count, no retry */
			job->retry_attempt = 0;
			job->retry_at = 0;
		}
		else if (strcmp(status, "running") != 0)
		{
			job->consecutive_failures++;
			if (attempt <= job->max_retries)
			{
				job->retry_attempt = attempt + 1;
				job->retry_at = now + sched_retry_delay(job, attempt, now);
			}
			else
			{
				job->retry_attempt = 0;
				job->retry_at = 0;
			}
		}
		/* a success of a job that was not failing changes nothing to save */
		if (job->consecutive_failures != failures || job->retry_at != retry_at ||
			job->retry_attempt != retry_attempt)
			job->dirty = true;
	}
}

/*
 * Delete history older than steward.job_history_retention, SCHEDULER_PRUNE_BATCH
 * rows per transaction, for at most SCHEDULER_PRUNE_BUDGET_MS.  Returns true
 * when old rows are left: the main loop then continues at its next turn
 * instead of a minute later, so pruning keeps pace with any insert rate
 * while scheduling goes on in between.
 */
static bool
sched_prune_history(void)
{
	TimestampTz start = GetCurrentTimestamp();
	Datum		keep = Int32GetDatum(steward_job_history_retention);
	bool		first = true;

	for (;;)
	{
		uint64		n;

		steward_xact_begin();
		steward_spi_exec("DELETE FROM steward.job_run WHERE run_id IN ("
						 " SELECT run_id FROM steward.job_run"
						 "  WHERE finished_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
						 "  ORDER BY finished_at LIMIT " CppAsString2(SCHEDULER_PRUNE_BATCH) ")",
						 SPI_OK_DELETE, 1, (Oid[]) {INT4OID}, &keep, NULL);
		n = SPI_processed;
		if (first && !sched_prune_pending)
			steward_spi_exec("DELETE FROM steward.job_state s WHERE NOT EXISTS"
							 " (SELECT FROM steward.job j WHERE j.job_id = s.job_id)",
							 SPI_OK_DELETE, 0, NULL, NULL, NULL);
		first = false;
		steward_xact_commit();
		if (n < SCHEDULER_PRUNE_BATCH)
			return false;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   SCHEDULER_PRUNE_BUDGET_MS))
			return true;
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------------------------------------------------------------------
 * Runner supervision (no transaction needed)
 * ---------------------------------------------------------------------
 */

/* Enforce max_runtime; returns the next time a deadline needs attention. */
static TimestampTz
sched_enforce_deadlines(TimestampTz now)
{
	return steward_runner_enforce_deadlines(sched_dboid, now, SCHEDULER_KILL_GRACE_MS);
}

/*
 * Runs dropped from the queue keep their due time in steward.job_state, so
 * that they run once when the scheduler is back (after a restart, or when
 * steward.enabled is on again), like any due time missed meanwhile.  Inside
 * a transaction, SPI connected.
 */
static void
sched_keep_due(StewardQueuedRun *runs, int n)
{
	Datum	   *ids;
	Datum	   *dues;
	Datum	   *attempts;
	Datum		values[3];
	int			i;

	if (n == 0)
		return;
	ids = palloc(sizeof(Datum) * n);
	dues = palloc(sizeof(Datum) * n);
	attempts = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(runs[i].job_id);
		dues[i] = TimestampTzGetDatum(runs[i].scheduled_for);
		attempts[i] = Int32GetDatum(runs[i].attempt);
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(dues, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(attempts, n, INT4OID, 4, true, TYPALIGN_INT));
	steward_spi_exec("UPDATE steward.job_state s"
					 "   SET next_run_at = CASE WHEN u.attempt = 1"
					 "                          THEN LEAST(s.next_run_at, u.due) ELSE s.next_run_at END,"
					 "       retry_at = CASE WHEN u.attempt > 1"
					 "                       THEN LEAST(s.retry_at, u.due) ELSE s.retry_at END,"
					 "       retry_attempt = CASE WHEN u.attempt > 1"
					 "                            THEN u.attempt ELSE s.retry_attempt END"
					 "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
					 "                  pg_catalog.unnest($3)) AS u(job_id, due, attempt)"
					 " WHERE s.job_id = u.job_id",
					 SPI_OK_UPDATE, 3,
					 (Oid[]) {INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID}, values, NULL);
}

/* Drop this database's queued runs, keeping their due times (own transaction). */
static void
sched_drop_queue(void)
{
	/* every slot may hold a queued run: keep them all */
	int			max = steward_runner_nslots();
	StewardQueuedRun *runs = palloc(sizeof(StewardQueuedRun) * max);
	int			n = steward_runner_drop_queued(sched_dboid, runs, max);

	if (n > 0)
	{
		steward_xact_begin();
		if (sched_extension_present())
			sched_keep_due(runs, n);
		steward_xact_commit();
	}
	pfree(runs);
}

/* SIGTERM: cancel this database's runners, give them a moment, reap them. */
static void
sched_shutdown(void)
{
	TimestampTz start = GetCurrentTimestamp();
	int			i;

	sched_drop_queue();
	(void) steward_runner_cancel_database(sched_dboid, SIGINT, true);

	for (;;)
	{
		bool		busy = steward_runner_database_busy(sched_dboid);

		/* reaping waits for the postmaster to have seen them exit */
		sched_follow_handoffs();
		for (i = 0; i < steward_runner_nslots(); i++)
		{
			pid_t		pid;

			if (sched_runner_handles[i] != NULL &&
				GetBackgroundWorkerPid(sched_runner_handles[i], &pid) != BGWH_STOPPED)
				busy = true;
		}
		if (!busy || TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 3000))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* Record what the runners could not record themselves. */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (sched_extension_present())
		sched_reap_runners(false);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * DROP EXTENSION: the jobs and their history are gone.  Stop this database's
 * runners (terminate: there is nothing left to record), wait until the
 * postmaster has seen them exit, and free their slots and the queue without
 * recording anything, so that nothing of the old jobs survives into a new
 * CREATE EXTENSION (whose job and run ids start again at 1).  Slots that a
 * run_job() caller waits on are left to that caller.
 */
static void
sched_abandon_runners(void)
{
	TimestampTz start = GetCurrentTimestamp();
	int			i;

	(void) steward_runner_drop_queued(sched_dboid, NULL, 0);
	for (;;)
	{
		bool		busy;

		sched_follow_handoffs();
		busy = steward_runner_cancel_database(sched_dboid, SIGTERM, false);
		for (i = 0; i < steward_runner_nslots(); i++)
		{
			pid_t		pid;

			if (sched_runner_handles[i] != NULL &&
				GetBackgroundWorkerPid(sched_runner_handles[i], &pid) != BGWH_STOPPED)
				busy = true;
		}
		if (!busy || TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10000))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	steward_runner_discard_database(sched_dboid);
}

/*
 * Is the extension in this database at the library's version?  Between
 * installing a new library and ALTER EXTENSION pg_steward UPDATE, the
 * catalog tables are those of the old version: schedule nothing, and say
 * once why.  (Inside the pass's transaction, SPI connected.)
 */
static bool
sched_version_matches(void)
{
	static bool warned = false;
	char	   *version;

	steward_spi_exec("SELECT extversion FROM pg_catalog.pg_extension WHERE oid = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID},
					 (Datum[]) {ObjectIdGetDatum(sched_extension_oid)}, NULL);
	version = SPI_processed > 0 ? steward_spi_gettext(0, 1) : NULL;
	if (version != NULL && strcmp(version, STEWARD_VERSION) == 0)
	{
		warned = false;
		return true;
	}
	if (!warned)
		ereport(WARNING,
				(errmsg("pg_steward scheduler of database \"%s\" runs no jobs: the extension is at version %s, the library at %s",
						get_database_name(MyDatabaseId), version ? version : "?",
						STEWARD_VERSION),
				 errhint("Run ALTER EXTENSION pg_steward UPDATE in that database.")));
	warned = true;
	return false;
}

static int
sched_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Wake early enough for the runner to connect before the job's due time. */
static void
sched_note_wake(SchedJob *job, TimestampTz now, TimestampTz *wake)
{
	TimestampTz due = job->next_run_at;
	TimestampTz at;

	if (job->retry_at != 0 && (due == 0 || job->retry_at < due))
		due = job->retry_at;
	if (due == 0)
		return;
	at = due - SCHEDULER_LEAD_MS * INT64CONST(1000);
	if (at <= now)
		at = due;
	if (at > now && (*wake == 0 || at < *wake))
		*wake = at;
}

/* Keep the job names by id for the runners' process names (sorted). */
static void
sched_keep_names(List *jobs)
{
	MemoryContext old;
	ListCell   *lc;
	SchedJob  **byid;
	int			n = list_length(jobs);
	int			i = 0;

	if (sched_names_cxt == NULL)
		sched_names_cxt = AllocSetContextCreate(TopMemoryContext, "pg_steward job names",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(sched_names_cxt);
	byid = palloc(sizeof(SchedJob *) * (n + 1));
	foreach(lc, jobs)
		byid[i++] = lfirst(lc);
	qsort(byid, n, sizeof(SchedJob *), sched_cmp_job);

	old = MemoryContextSwitchTo(sched_names_cxt);
	sched_name_ids = palloc(sizeof(int64) * (n + 1));
	sched_names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		sched_name_ids[i] = byid[i]->job_id;
		sched_names[i] = pstrdup(byid[i]->name);
	}
	sched_nnames = n;
	MemoryContextSwitchTo(old);
	pfree(byid);
}

static const char *
sched_job_name(int64 job_id)
{
	int64	   *found;

	if (sched_nnames == 0)
		return "?";
	found = bsearch(&job_id, sched_name_ids, sched_nnames, sizeof(int64), sched_cmp_int64);
	return found ? sched_names[found - sched_name_ids] : "?";
}

/*
 * Start runners for this database's queued runs as far as capacity allows
 * (steward_runner_promote); a run whose runner cannot be started stays
 * queued.  Sets sched_waiting when queued runs are left.
 */
static void
sched_start_queued(void)
{
	int			max = steward_effective_max_workers();
	int		   *slotnos = palloc(sizeof(int) * Max(max, 1));
	int			left;
	int			n = steward_runner_promote(sched_dboid, slotnos, max, &left);
	bool		launch_failed = false;
	int			i;

	for (i = 0; i < n; i++)
	{
		StewardRunnerSlot slot;
		StewardRunnerArgs args = {0};
		const char *name;
		MemoryContext old;
		bool		started;

		steward_runner_get(slotnos[i], &slot);
		args.job_id = slot.job_id;
		args.owner = slot.owner;
		args.attempt = slot.attempt;
		args.scheduled_for = slot.scheduled_for;
		args.dboid = sched_dboid;
		args.slotno = slotnos[i];
		args.chain = true;
		name = sched_job_name(args.job_id);

		if (sched_runner_handles[args.slotno])
			pfree(sched_runner_handles[args.slotno]);
		sched_runner_handles[args.slotno] = NULL;
		/* handles outlive the pass */
		old = MemoryContextSwitchTo(TopMemoryContext);
		started = steward_runner_start(&args, name, MyProcPid,
									   &sched_runner_handles[args.slotno]);
		MemoryContextSwitchTo(old);
		if (!started)
		{
			steward_runner_requeue(args.slotno);
			if (!warned_no_worker)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("pg_steward could not start a runner for job \"%s\"",
								name),
						 errdetail("No background worker slot is free; the run stays queued."),
						 errhint("Increase max_worker_processes or lower steward.max_workers.")));
			warned_no_worker = true;
			launch_failed = true;
			left++;
		}
	}
	if (n > 0 && !launch_failed)
		warned_no_worker = false;
	sched_waiting = left > 0;
	pfree(slotnos);
}

/* ---------------------------------------------------------------------
 * One scheduling pass
 * ---------------------------------------------------------------------
 */
static TimestampTz
sched_pass(bool first)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz horizon = TimestampTzPlusMilliseconds(now, SCHEDULER_LEAD_MS);
	TimestampTz wake = 0;
	List	   *jobs;
	List	   *finished;
	bool		waiting_for_capacity = false;
	ListCell   *lc_job;
	MemoryContext passcxt = CurrentMemoryContext;	/* reset after the pass */
	int64	   *busy;
	int			nbusy;
	StewardQueueRequest *reqs;
	int			nreqs = 0;
	int			i;

	sched_queue_full = false;
	steward_xact_begin();
	pgstat_report_activity(STATE_RUNNING, "pg_steward scheduling pass");

	if (!sched_extension_present())
	{
		bool		recreated = OidIsValid(get_extension_oid(STEWARD_EXTENSION_NAME, true));

		ereport(LOG,
				(errmsg("pg_steward scheduler exiting: extension %s in database \"%s\"",
						recreated ? "was dropped and created again" : "is not installed",
						get_database_name(MyDatabaseId))));
		steward_xact_commit();
		sched_abandon_runners();
		/* a new scheduler serves the new extension */
		steward_scheduler_set_state(sched_slotno,
									recreated ? SCHEDULER_FREE : SCHEDULER_NO_EXTENSION);
		if (recreated)
			steward_wake_launcher();
		proc_exit(0);
	}

	/* a new library before ALTER EXTENSION ... UPDATE: the tables are old */
	if (!sched_version_matches())
	{
		steward_xact_commit();
		return TimestampTzPlusMilliseconds(now, steward_naptime);
	}

	sched_reap_runners(false);
	finished = sched_pending_list();
	if (first)
		finished = list_concat(finished, sched_mark_crashed(sched_dboid));
	jobs = sched_load_jobs();
	sched_account_runs(jobs, finished, now);

	/* the jobs that have a run (queued, running, finishing): no overlap */
	busy = palloc(sizeof(int64) * steward_runner_nslots());
	nbusy = steward_runner_busy_jobs(sched_dboid, busy, steward_runner_nslots());
	reqs = palloc0(sizeof(StewardQueueRequest) * (list_length(jobs) + 1));

	foreach(lc_job, jobs)
	{
		SchedJob   *job = lfirst(lc_job);

		char	   *key;
		TimestampTz due;

		sched_report_problem(job);
		if (!job->valid || job->problem != NULL)
			continue;

		/*
		 * A disabled job forgets its due time, so enabling it later starts
		 * from the schedule instead of catching up.
		 */
		if (!job->enabled)
		{
			if (job->schedule_key != NULL || job->retry_at != 0)
			{
				job->schedule_key = NULL;
				job->next_run_at = 0;
				job->retry_at = 0;
				job->retry_attempt = 0;
				job->dirty = true;
			}
			continue;
		}

		key = psprintf("%s|%s", job->schedule, job->timezone);
		if (!job->has_state || job->schedule_key == NULL ||
			strcmp(key, job->schedule_key) != 0 || job->next_run_at == 0)
		{
			job->schedule_key = key;
			job->next_run_at = sched_next(job, now);
			job->dirty = true;
		}

		due = job->next_run_at;
		if (job->retry_at != 0 && (due == 0 || job->retry_at < due))
			due = job->retry_at;

		if (due != 0 && due <= horizon && steward_enabled)
		{
			bool		is_retry = job->retry_at != 0 && job->retry_at <= horizon;

			if (bsearch(&job->job_id, busy, nbusy, sizeof(int64), sched_cmp_int64) != NULL)
			{
				/* no overlap: a regular due time passes while it runs */
				if (job->next_run_at != 0 && job->next_run_at <= now)
				{
					job->skipped_runs++;
					job->next_run_at = sched_advance(job, job->next_run_at, now);
					job->dirty = true;
				}
			}
			else
			{
				/*
				 * Queue the run (below, with the others due); a runner of
				 * this database and owner that finishes takes it over, or
				 * one is started for it after the commit.
				 */
				StewardQueueRequest *q = &reqs[nreqs++];

				job->queue_retry = is_retry;
				q->job_id = job->job_id;
				q->owner = job->owner;
				q->attempt = is_retry ? job->retry_attempt : 1;
				q->scheduled_for = due;
				q->max_runtime = job->max_runtime;
				q->arg = job;
				continue;
			}
		}
		sched_note_wake(job, now, &wake);
	}

	steward_runner_queue_many(sched_dboid, reqs, nreqs);
	for (i = 0; i < nreqs; i++)
	{
		SchedJob   *job = reqs[i].arg;

		if (reqs[i].result == RESERVE_OK)
		{
			/* a regular run supersedes a pending retry */
			job->retry_at = 0;
			if (!job->queue_retry)
				job->retry_attempt = 0;
			if (job->next_run_at != 0 && job->next_run_at <= horizon)
				job->next_run_at = sched_advance(job, job->next_run_at, now);
			job->dirty = true;
		}
		else
			waiting_for_capacity = true;
		sched_note_wake(job, now, &wake);
	}

	sched_save_states(jobs);

	/* SPI memory goes with SPI_finish: keep the job names for the launches */
	sched_keep_names(jobs);

	steward_xact_commit();
	/* the runs reaped so far are accounted for */
	sched_npending = 0;
	MemoryContextSwitchTo(passcxt);

	/*
	 * Start runners for queued runs only now, so they see the committed
	 * state.  With steward.enabled off, runs still queued do not start.
	 */
	sched_waiting = false;
	if (!steward_enabled)
		sched_drop_queue();
	else
		sched_start_queued();

	/*
	 * Due runs the queue had no room for stay due: a full pass queues them,
	 * SCHEDULER_POLL_MS from now (the hold-back keeps it at least
	 * SCHEDULER_MIN_GAP_MS after this one).
	 */
	sched_queue_full = waiting_for_capacity;
	if (waiting_for_capacity)
		sched_waiting = true;
	return wake;
}

/*
 * A light pass, asked for by runners (an exit, a freed runner slot) or by
 * queued runs waiting for capacity: reap what needs no catalog write and
 * start runners for queued runs.  No transaction, no jobs read; the runs
 * reaped are accounted for by a full pass within SCHEDULER_ACCOUNT_MS.
 */
static void
sched_light_pass(void)
{
	pgstat_report_activity(STATE_RUNNING, "pg_steward scheduling pass (runners)");
	sched_reap_runners(true);
	if (steward_enabled)
		sched_start_queued();
	else
		sched_waiting = false;
}

/*
 * Can a pass now find anything the last one did not?  A full pass (read the
 * jobs, queue due runs, account for finished ones) for a due time reached
 * ('wake', what the last full pass returned), a wake-up (API calls, database
 * commands, a run that did not succeed), a reload, runs reaped longer than
 * SCHEDULER_ACCOUNT_MS ago, and at least every SCHEDULER_FULL_PASS_NAPTIMES
 * naptimes in any case (a job changed by hand, a role dropped in another
 * database).  A light pass when only runners asked (an exit, a freed slot),
 * runs of this database are about, or queued runs wait for capacity.
 */
static SchedPassKind
sched_pass_kind(TimestampTz now, TimestampTz wake, TimestampTz last_full)
{
	bool		has_runs;
	uint64		runner_wakeups;
	uint64		wakeups = steward_scheduler_wakeups(sched_slotno, sched_dboid, &has_runs,
													&runner_wakeups);
	SchedPassKind kind = SCHED_PASS_NONE;

	if (sched_force_pass || sched_reap_asked || sched_queue_full ||
		wakeups != sched_wakeups_seen ||
		(wake != 0 && now >= wake) ||
		TimestampDifferenceExceeds(last_full, now,
								   steward_naptime * SCHEDULER_FULL_PASS_NAPTIMES) ||
		(sched_npending > 0 &&
		 TimestampDifferenceExceeds(last_full, now, SCHEDULER_ACCOUNT_MS)))
		kind = SCHED_PASS_FULL;
	else if (has_runs || sched_waiting || sched_npending > 0 ||
			 runner_wakeups != sched_runner_wakeups_seen)
		kind = SCHED_PASS_LIGHT;

	/* wake-ups from now on are for the next pass */
	sched_wakeups_seen = wakeups;
	sched_runner_wakeups_seen = runner_wakeups;
	sched_force_pass = false;
	if (kind == SCHED_PASS_FULL)
		sched_reap_asked = false;
	return kind;
}

/*
 * Woken by the latch soon after the last pass began: wait out the rest of
 * 'gap_ms' (latches set meanwhile are for the coming pass),
 * unless a due time ('wake') comes first or the scheduler must stop.
 */
static void
sched_hold_back(TimestampTz pass_start, TimestampTz wake, int gap_ms)
{
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz until = TimestampTzPlusMilliseconds(pass_start, gap_ms);
		long		ms;

		if (wake != 0 && wake < until)
			until = wake;
		if (now >= until || ShutdownRequestPending || ConfigReloadPending)
			return;
		ms = (long) ((until - now + 999) / 1000);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* interrupts are seen at the top of the main loop (a cancel is ignored) */
	}
}

/*
 * ALTER DATABASE ... SET applies to background workers too.  The scheduler
 * runs no user code; settings that would make its bookkeeping fail (read-only
 * transactions, timeouts, another isolation level) are pinned for good.
 */
static void
sched_pin_settings(void)
{
	static const char *const pins[][2] = {
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"statement_timeout", "0"},
		{"lock_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"session_replication_role", "origin"},
	};
	int			i;

	for (i = 0; i < lengthof(pins); i++)
		SetConfigOption(pins[i][0], pins[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

void
steward_scheduler_main(Datum main_arg)
{
	MemoryContext scratch;
	volatile bool first = true;
	TimestampTz pass_start = 0;
	volatile TimestampTz next_wake = 0;
	volatile TimestampTz last_full = 0;
	volatile bool full = true;

	sched_slotno = DatumGetInt32(main_arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	if (!steward_scheduler_begin(sched_slotno, &sched_dboid))
	{
		/* DROP DATABASE in progress, or a stale start: don't connect */
		proc_exit(0);
	}
	on_shmem_exit(sched_on_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(sched_dboid, InvalidOid, 0);
	steward_restrict_search_path();
	sched_pin_settings();
	pgstat_report_appname("pg_steward scheduler");
	steward_scheduler_set_state(sched_slotno, SCHEDULER_RUNNING);

	sched_runner_handles = MemoryContextAllocZero(TopMemoryContext,
												  sizeof(BackgroundWorkerHandle *) *
												  steward_runner_nslots());
	scratch = AllocSetContextCreate(TopMemoryContext, "pg_steward scheduler pass",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz wake = 0;
		TimestampTz deadline_wake;
		TimestampTz now;
		long		timeout;
		MemoryContext old;

		/* pg_cancel_backend() of an idle worker has nothing to cancel */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
		{
			sched_shutdown();
			proc_exit(0);
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			sched_force_pass = true;
		}

		old = MemoryContextSwitchTo(scratch);
		pass_start = GetCurrentTimestamp();
		PG_TRY();
		{
			SchedPassKind kind = first ? SCHED_PASS_FULL :
				sched_pass_kind(pass_start, next_wake, last_full);

			full = kind == SCHED_PASS_FULL;
			if (full)
			{
				wake = sched_pass(first);
				last_full = pass_start;
			}
			else
			{
				if (kind == SCHED_PASS_LIGHT)
					sched_light_pass();
				wake = next_wake;	/* no job read: keep the plan */
			}
			next_wake = wake;
			first = false;
			steward_scheduler_pass_done(sched_slotno);
			now = GetCurrentTimestamp();
			if (sched_prune_pending ||
				TimestampDifferenceExceeds(sched_last_prune, now, SCHEDULER_PRUNE_EVERY_MS))
			{
				if (!sched_prune_pending)
					sched_last_prune = now;
				sched_prune_pending = sched_prune_history();
				if (sched_prune_pending)
					wake = now; /* continue after a look at the queue */
			}
		}
		PG_CATCH();
		{
			/* A failing pass must not take the scheduler down; retry later. */
			MemoryContextSwitchTo(scratch);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			wake = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   Min(steward_naptime, 5000));
			sched_force_pass = true;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
		pgstat_report_activity(STATE_IDLE, NULL);

		now = GetCurrentTimestamp();
		deadline_wake = sched_enforce_deadlines(now);
		if (deadline_wake != 0 && (wake == 0 || deadline_wake < wake))
			wake = deadline_wake;
		/* a full pass asked for, runs to account for, queued runs waiting */
		if (sched_reap_asked)
			wake = now;
		if (sched_npending > 0)
		{
			TimestampTz at = TimestampTzPlusMilliseconds(last_full, SCHEDULER_ACCOUNT_MS);

			if (wake == 0 || at < wake)
				wake = at;
		}
		if (sched_waiting)
		{
			/* runner exits wake us; poll now and then in case one is missed */
			TimestampTz soon = TimestampTzPlusMilliseconds(now, SCHEDULER_POLL_MS);

			if (wake == 0 || soon < wake)
				wake = soon;
		}

		timeout = steward_naptime;
		if (wake != 0)
		{
			long		ms = (long) ((wake - now + 999) / 1000);

			timeout = Max(0, Min(ms, timeout));
		}
		if (timeout > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		sched_hold_back(pass_start, wake,
						full ? SCHEDULER_MIN_GAP_MS : SCHEDULER_LIGHT_GAP_MS);
	}
}
