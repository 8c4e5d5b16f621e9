/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Durable failure records: a history row written by a short-lived
 *	  background worker, in a transaction of its own.
 *
 * A migration fails inside the caller's transaction, which then rolls
 * back (the error is raised again so that the caller sees it), and any row
 * written there would roll back with it.  PostgreSQL has no autonomous
 * transactions, so the row goes to a dynamic background worker through a
 * dynamic shared memory segment; the caller waits until the worker has
 * committed it, then raises the error.  The worker connects as the
 * bootstrap superuser with a fixed search_path and runs one fixed,
 * parameterised INSERT: it runs no user code and takes no lock that the
 * caller could hold (RowExclusiveLock on steward.migration_history only),
 * so the wait cannot deadlock.  When no worker can be started
 * (max_worker_processes used up), the caller warns and goes on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

/* Registering the worker: 50 tries, 100 ms apart. */
#define MIGRATION_RECORD_TRIES		50
#define MIGRATION_RECORD_RETRY_MS	100

/* What the caller hands the worker in bgw_extra. */
typedef struct MigrationRecordArgs
{
	Oid			dboid;
	dsm_handle	handle;
} MigrationRecordArgs;

/* The shared segment: written by the worker when the row is committed. */
typedef struct MigrationRecordShared
{
	bool		done;
	char		row[FLEXIBLE_ARRAY_MEMBER]; /* JSON text, NUL-terminated */
} MigrationRecordShared;

bool
migration_record_durably(const char *row_json)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;
	MigrationRecordArgs args = {0};
	MigrationRecordShared *shared;
	dsm_segment *seg;
	Size		len = strlen(row_json) + 1;
	bool		done;
	pid_t		pid;
	int			tries;

	seg = dsm_create(offsetof(MigrationRecordShared, row) + len, 0);
	shared = dsm_segment_address(seg);
	shared->done = false;
	memcpy(shared->row, row_json, len);

	args.dboid = MyDatabaseId;
	args.handle = dsm_segment_handle(seg);
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_steward");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "steward_migration_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward migration recorder");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_steward migration recorder");
	worker.bgw_notify_pid = MyProcPid;
	memcpy(worker.bgw_extra, &args, sizeof(args));

	/*
	 * Worker slots can be taken for a moment (runners starting and ending):
	 * try again for a while before giving up.
	 */
	for (tries = 0; !RegisterDynamicBackgroundWorker(&worker, &handle); tries++)
	{
		if (tries >= MIGRATION_RECORD_TRIES)
		{
			dsm_detach(seg);
			return false;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 MIGRATION_RECORD_RETRY_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* a worker that is already done counts as started */
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	done = shared->done;
	dsm_detach(seg);
	return done;
}

/* Entry point of the recorder worker. */
void
steward_migration_recorder_main(Datum main_arg)
{
	MigrationRecordArgs args;
	MigrationRecordShared *shared;
	dsm_segment *seg;
	Datum		row;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(args.handle);
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_steward migration recorder could not attach to its shared memory segment")));
	shared = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(args.dboid, BOOTSTRAP_SUPERUSERID, 0);
	steward_restrict_search_path();
	pgstat_report_activity(STATE_RUNNING, "recording a failed migration");

	steward_xact_begin();
	row = CStringGetTextDatum(shared->row);
	steward_spi_exec("INSERT INTO steward.migration_history"
					 " (version, name, action, status, checksum, started_at, finished_at,"
					 "  duration, applied_by, applied_by_oid, error, lint_warnings, detail)"
					 " SELECT r.version, r.name, r.action, r.status, r.checksum, r.started_at,"
					 "        r.finished_at, r.duration, r.applied_by, r.applied_by_oid,"
					 "        r.error, r.lint_warnings, r.detail"
					 "   FROM pg_catalog.jsonb_populate_record("
					 "          NULL::steward.migration_history, $1::pg_catalog.jsonb) r",
					 SPI_OK_INSERT, 1, (Oid[]) {TEXTOID}, &row, NULL);
	steward_xact_commit();

	shared->done = true;
	dsm_detach(seg);
	pgstat_report_activity(STATE_IDLE, NULL);
}
