/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: a static background worker that keeps one scheduler
 *	  running per database that has pg_steward installed.
 *
 * The launcher connects to no database, so it only reads shared catalogs.
 * It cannot see whether a database has the extension; it starts a scheduler
 * for every connectable, non-template database allowed by
 * steward.database_list, and a scheduler that finds no extension marks its
 * slot SCHEDULER_NO_EXTENSION and exits.  Such a database is probed again
 * only when CREATE EXTENSION pg_steward commits there (which wakes the
 * launcher) or after STEWARD_SCHEDULER_REPROBE_MS, so the launcher never restarts a
 * scheduler in a tight loop.
 *
 * It runs only after recovery has finished (BgWorkerStart_RecoveryFinished),
 * so nothing is scheduled on a hot standby; after promotion it starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/pg_steward.h"
#include "core/guc.h"
#include "scheduler/launcher.h"
#include "backup/backup.h"
#include "core/shmem.h"

/* Handles of the schedulers this launcher started, by slot number. */
static BackgroundWorkerHandle **launcher_handles = NULL;

/*
 * Common settings of every pg_steward worker.  All connect to a database
 * (or to shared catalogs) and run only on a primary.
 */
void
steward_worker_init(BackgroundWorker *worker, const char *function,
					const char *type)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker->bgw_library_name, STEWARD_LIBRARY_NAME, BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, type, BGW_MAXLEN);
	strlcpy(worker->bgw_type, type, BGW_MAXLEN);
}

void
steward_launcher_register(void)
{
	BackgroundWorker worker;

	steward_worker_init(&worker, "steward_launcher_main", "pg_steward launcher");
	/* restarted quickly if it ever fails */
	worker.bgw_restart_time = 1;
	RegisterBackgroundWorker(&worker);
}

static void
launcher_on_exit(int code, Datum arg)
{
	steward_launcher_detach();
}

static bool
launcher_start_scheduler(int slotno, StewardDatabase *db)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		started;

	steward_worker_init(&worker, "steward_scheduler_main", "pg_steward scheduler");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward scheduler %s", db->name);
	worker.bgw_main_arg = Int32GetDatum(slotno);
	worker.bgw_notify_pid = MyProcPid;

	if (launcher_handles[slotno])
		pfree(launcher_handles[slotno]);
	launcher_handles[slotno] = NULL;
	/* the handle outlives the scan's memory (reset after each scan) */
	old = MemoryContextSwitchTo(TopMemoryContext);
	started = RegisterDynamicBackgroundWorker(&worker, &launcher_handles[slotno]);
	MemoryContextSwitchTo(old);
	return started;
}

static bool
launcher_db_listed(List *dbs, Oid dboid)
{
	ListCell   *lc;

	foreach(lc, dbs)
		if (((StewardDatabase *) lfirst(lc))->oid == dboid)
			return true;
	return false;
}

/* One pass: start missing schedulers, stop unwanted ones. */
static void
launcher_scan(void)
{
	List	   *dbs = steward_served_databases();
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	int			i;
	static bool warned = false;

	/* Notice schedulers that exited, and stop those no longer wanted. */
	for (i = 0; i < steward_scheduler_nslots(); i++)
	{
		pid_t		pid;
		bool		stopped = false;

		/* died before it could register itself? */
		if (launcher_handles[i] && steward_scheduler_is_starting(i))
			stopped = GetBackgroundWorkerPid(launcher_handles[i], &pid) == BGWH_STOPPED;
		steward_scheduler_reconcile(i, stopped, launcher_handles[i] != NULL,
									launcher_db_listed(dbs, steward_scheduler_dboid(i)),
									now);
	}

	/* Start a scheduler for every listed database that has none. */
	foreach(lc, dbs)
	{
		StewardDatabase *db = lfirst(lc);
		int			slotno = steward_scheduler_claim(db->oid, now);

		if (slotno < 0)
			continue;
		if (!launcher_start_scheduler(slotno, db))
		{
			steward_scheduler_start_failed(slotno, now);
			if (!warned)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("pg_steward could not start a scheduler for database \"%s\"",
								db->name),
						 errhint("Increase max_worker_processes.")));
			warned = true;
		}
		else
			warned = false;
	}
	list_free_deep(dbs);
}

void
steward_launcher_main(Datum main_arg)
{
	MemoryContext scratch;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_steward launcher");

	launcher_handles = MemoryContextAllocZero(TopMemoryContext,
											  sizeof(BackgroundWorkerHandle *) *
											  steward_scheduler_nslots());
	scratch = AllocSetContextCreate(TopMemoryContext, "pg_steward launcher scan",
									ALLOCSET_DEFAULT_SIZES);

	steward_launcher_attach();
	on_shmem_exit(launcher_on_exit, (Datum) 0);

	ereport(LOG, (errmsg("pg_steward launcher started")));
	steward_backup_startup_cleanup();

	for (;;)
	{
		MemoryContext old;

		/* pg_cancel_backend() of an idle worker has nothing to cancel */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		old = MemoryContextSwitchTo(scratch);
		launcher_scan();
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 steward_naptime, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Called from the utility hook before DROP DATABASE (and CREATE DATABASE
 * from a template): terminate the scheduler and runners connected to
 * 'dboid' and wait, up to 10 seconds, until they are gone.  The launcher
 * does not restart them for 'block_ms'.
 */
void
steward_stop_database_workers(Oid dboid, int block_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	if (!steward_shmem_ready())
		return;

	/*
	 * The scheduler, stopping, writes the runs still queued back to its
	 * job_state as due (scheduler.c, sched_drop_queue), so none is lost if
	 * the statement fails after all.
	 */
	for (;;)
	{
		bool		busy = steward_database_stop(dboid, block_ms);

		if (!busy || TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10000))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* runs queued without a scheduler to keep them never start */
	(void) steward_runner_drop_queued(dboid, NULL, 0);
}

void
steward_unblock_database(Oid dboid)
{
	if (!steward_shmem_ready())
		return;
	steward_database_unblock(dboid);
	steward_wake_launcher();
}
