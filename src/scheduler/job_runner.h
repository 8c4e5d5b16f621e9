/*-------------------------------------------------------------------------
 *
 * job_runner.h
 *	  Job runners (dynamic background workers) and the 'sql' job kind.
 *	  The job-kind contract is in job_kind.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_JOB_RUNNER_H
#define STEWARD_JOB_RUNNER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/nodes.h"
#include "postmaster/bgworker.h"

#include "scheduler/job_kind.h"

/* Register the 'sql' kind (from _PG_init, before the features' kinds). */
extern void steward_sql_kind_init(void);

/* What a scheduler or run_job() passes to a runner in bgw_extra. */
typedef struct StewardRunnerArgs
{
	Oid			dboid;
	Oid			owner;
	int64		job_id;
	int			slotno;
	int			attempt;
	TimestampTz scheduled_for;
	bool		chain;			/* may take over queued runs afterwards */
} StewardRunnerArgs;

/* Start a runner for a reserved slot; false if no worker could be started. */
extern bool steward_runner_start(const StewardRunnerArgs *args,
								 const char *job_name, pid_t notify_pid,
								 BackgroundWorkerHandle **handle);

/*
 * Final bookkeeping for a runner slot whose process has exited: if the
 * runner could not record its own outcome, record it here.  Returns the
 * run id (0 if the runner never created its run row) and frees the slot.
 * Must be called inside a transaction.  Returns -1 if another process is
 * already reaping the slot or it is not finished.
 */
extern int64 steward_runner_reap(int slotno);

/*
 * Run SQL as top-level statements, each in its own transaction, from a job
 * kind's entry point (for DETACH ... CONCURRENTLY and the like).
 */
extern void steward_exec_toplevel(const char *command);

/* Refuse a statement a job cannot run (COPY to or from the client). */
extern void steward_check_job_statement(Node *stmt);

PGDLLEXPORT void steward_runner_main(Datum main_arg);

#endif							/* STEWARD_JOB_RUNNER_H */
