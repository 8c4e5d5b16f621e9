/*-------------------------------------------------------------------------
 *
 * jobs.c
 *	  SQL API on scheduled jobs: schedule, alter_job, unschedule, run_job,
 *	  import_pg_cron.
 *
 * Every job belongs to the role that scheduled it and runs with exactly
 * that role's rights.  Callers reach steward's catalog only through these
 * functions (steward_catalog_enter); they see and change only jobs of roles
 * whose privileges they have.  Changes wake the database's scheduler when
 * the transaction commits, so they take effect at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "cron.h"
#include "job_runner.h"
#include "jobs.h"
#include "shmem.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(steward_schedule);
PG_FUNCTION_INFO_V1(steward_unschedule);
PG_FUNCTION_INFO_V1(steward_alter_job);
PG_FUNCTION_INFO_V1(steward_run_job);
PG_FUNCTION_INFO_V1(steward_import_pg_cron);

typedef struct JobRef
{
	int64		job_id;
	Oid			owner;
	int64		max_runtime;	/* usecs, 0 = none */
} JobRef;

/* ---------------------------------------------------------------------
 * Validation
 * ---------------------------------------------------------------------
 */
static char *
jobs_arg_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
jobs_check_name(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job name must not be empty")));
	if (strlen(name) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("job name is too long"),
				 errdetail("Job names are limited to 200 bytes.")));
}

/* A command that does not parse is refused now, not at 3 a.m. */
static void
jobs_check_command(const char *command)
{
	List	   *stmts;

	stmts = raw_parser(command, RAW_PARSE_DEFAULT);
	if (stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job command must contain at least one statement")));
}

static void
jobs_check_interval(Interval *iv, const char *what, bool allow_zero)
{
	Interval	zero = {0};
	int			cmp;

	steward_require_finite_interval(iv, what);
	cmp = DatumGetInt32(DirectFunctionCall2(interval_cmp,
											IntervalPGetDatum(iv),
											IntervalPGetDatum(&zero)));
	if (cmp < 0 || (cmp == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", what, allow_zero ? "zero or positive" : "positive")));
}

static void
jobs_check_retries(int retries)
{
	if (retries < 0 || retries > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_retries must be between 0 and 100")));
}

/*
 * Runners connect as the job's owner; before PostgreSQL 17 a background
 * worker cannot connect as a role without LOGIN.
 */
static void
jobs_warn_nologin(Oid owner)
{
#if PG_VERSION_NUM < 170000
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));

	if (HeapTupleIsValid(tup))
	{
		Form_pg_authid role = (Form_pg_authid) GETSTRUCT(tup);

		if (!role->rolcanlogin)
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" cannot log in, so its jobs cannot start",
							NameStr(role->rolname)),
					 errhint("Grant LOGIN to the role, or schedule the job as a role that can log in.")));
		ReleaseSysCache(tup);
	}
#endif
}

/* ---------------------------------------------------------------------
 * Catalog helpers (inside steward_catalog_enter, SPI connected)
 * ---------------------------------------------------------------------
 */

/*
 * Find a job the caller may manage: its owner's privileges must be the
 * caller's (superusers, members).  Other roles' jobs look nonexistent.
 */
static bool
jobs_lookup(const char *name, Oid caller, bool for_update, JobRef *ref)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	Datum		d;

	steward_spi_exec(for_update ?
					 "SELECT job_id, owner::pg_catalog.oid,"
					 " (EXTRACT(epoch FROM max_runtime) * 1000000)::int8"
					 " FROM steward.job WHERE job_name = $1 FOR UPDATE" :
					 "SELECT job_id, owner::pg_catalog.oid,"
					 " (EXTRACT(epoch FROM max_runtime) * 1000000)::int8"
					 " FROM steward.job WHERE job_name = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, &arg, NULL);
	if (SPI_processed == 0)
		return false;
	ref->job_id = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	ref->owner = DatumGetObjectId(steward_spi_getdatum(0, 2, &isnull));
	d = steward_spi_getdatum(0, 3, &isnull);
	ref->max_runtime = isnull ? 0 : DatumGetInt64(d);
	return has_privs_of_role(caller, ref->owner);
}

static void
jobs_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job \"%s\" does not exist", name),
			 errhint("steward.jobs lists the jobs you can manage.")));
}

/* ---------------------------------------------------------------------
 * steward.schedule(job_name, schedule, command, timezone, max_runtime,
 *					max_retries, retry_delay, enabled) RETURNS bigint
 * ---------------------------------------------------------------------
 */
Datum
steward_schedule(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *name = jobs_arg_text(fcinfo, 0, "job name");
	char	   *schedule = jobs_arg_text(fcinfo, 1, "schedule");
	char	   *command = jobs_arg_text(fcinfo, 2, "command");
	CronSchedule sched;
	StewardCatalogAccess acc;
	Oid			argtypes[9] = {TEXTOID, TEXTOID, TEXTOID, OIDOID, BOOLOID,
	TEXTOID, INTERVALOID, INT4OID, INTERVALOID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		job_id;
	bool		isnull;

	jobs_check_name(name);
	cron_parse(schedule, &sched);
	jobs_check_command(command);

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(command);
	values[3] = ObjectIdGetDatum(caller);
	values[4] = BoolGetDatum(PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7));
	if (PG_ARGISNULL(3))
		nulls[5] = 'n';
	else
	{
		char	   *tz = text_to_cstring(PG_GETARG_TEXT_PP(3));

		(void) cron_lookup_timezone(tz);
		values[5] = CStringGetTextDatum(tz);
	}
	if (PG_ARGISNULL(4))
		nulls[6] = 'n';
	else
	{
		jobs_check_interval(PG_GETARG_INTERVAL_P(4), "max_runtime", false);
		values[6] = PG_GETARG_DATUM(4);
	}
	values[7] = Int32GetDatum(PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5));
	jobs_check_retries(DatumGetInt32(values[7]));
	if (PG_ARGISNULL(6))
		values[8] = DirectFunctionCall3(interval_in, CStringGetDatum("1 minute"),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
	{
		jobs_check_interval(PG_GETARG_INTERVAL_P(6), "retry_delay", true);
		values[8] = PG_GETARG_DATUM(6);
	}

	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("INSERT INTO steward.job AS j"
					 " (job_name, kind, schedule, command, owner, enabled, timezone,"
					 "  max_runtime, max_retries, retry_delay)"
					 " VALUES ($1, 'sql', $2, $3, $4::pg_catalog.regrole, $5, $6, $7, $8, $9)"
					 " ON CONFLICT (job_name) DO UPDATE SET"
					 "  schedule = EXCLUDED.schedule, command = EXCLUDED.command,"
					 "  enabled = EXCLUDED.enabled, timezone = EXCLUDED.timezone,"
					 "  max_runtime = EXCLUDED.max_runtime,"
					 "  max_retries = EXCLUDED.max_retries,"
					 "  retry_delay = EXCLUDED.retry_delay"
					 " WHERE j.owner = EXCLUDED.owner AND j.kind = 'sql'"
					 " RETURNING job_id",
					 SPI_OK_INSERT_RETURNING, 9, argtypes, values, nulls);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("job \"%s\" already exists and belongs to another role", name),
				 errhint("Job names are unique in a database; choose another name.")));
	job_id = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	SPI_finish();
	steward_catalog_exit(&acc);

	jobs_warn_nologin(caller);
	steward_wake_scheduler_at_commit();
	PG_RETURN_INT64(job_id);
}

/* steward.unschedule(job_name) RETURNS bool */
Datum
steward_unschedule(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *name = jobs_arg_text(fcinfo, 0, "job name");
	StewardCatalogAccess acc;
	JobRef		ref;
	bool		found;

	steward_catalog_enter(&acc);
	SPI_connect();
	found = jobs_lookup(name, caller, true, &ref);
	if (found)
	{
		Datum		id = Int64GetDatum(ref.job_id);

		steward_spi_exec("DELETE FROM steward.job WHERE job_id = $1",
						 SPI_OK_DELETE, 1, (Oid[]) {INT8OID}, &id, NULL);
		steward_spi_exec("DELETE FROM steward.job_state WHERE job_id = $1",
						 SPI_OK_DELETE, 1, (Oid[]) {INT8OID}, &id, NULL);
	}
	SPI_finish();
	steward_catalog_exit(&acc);

	if (found)
		steward_wake_scheduler_at_commit();
	PG_RETURN_BOOL(found);
}

/*
 * steward.alter_job(job_name, schedule, command, enabled, timezone,
 *					 max_runtime, max_retries) RETURNS void
 * NULL arguments leave the setting unchanged.
 */
Datum
steward_alter_job(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *name = jobs_arg_text(fcinfo, 0, "job name");
	StewardCatalogAccess acc;
	JobRef		ref;
	Oid			argtypes[7] = {INT8OID, TEXTOID, TEXTOID, BOOLOID, TEXTOID,
	INTERVALOID, INT4OID};
	Datum		values[7];
	char		nulls[7] = {' ', 'n', 'n', 'n', 'n', 'n', 'n'};

	if (!PG_ARGISNULL(1))
	{
		CronSchedule sched;
		char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(1));

		cron_parse(schedule, &sched);
		values[1] = CStringGetTextDatum(schedule);
		nulls[1] = ' ';
	}
	if (!PG_ARGISNULL(2))
	{
		char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(2));

		jobs_check_command(command);
		values[2] = CStringGetTextDatum(command);
		nulls[2] = ' ';
	}
	if (!PG_ARGISNULL(3))
	{
		values[3] = PG_GETARG_DATUM(3);
		nulls[3] = ' ';
	}
	if (!PG_ARGISNULL(4))
	{
		char	   *tz = text_to_cstring(PG_GETARG_TEXT_PP(4));

		(void) cron_lookup_timezone(tz);
		values[4] = CStringGetTextDatum(tz);
		nulls[4] = ' ';
	}
	if (!PG_ARGISNULL(5))
	{
		jobs_check_interval(PG_GETARG_INTERVAL_P(5), "max_runtime", false);
		values[5] = PG_GETARG_DATUM(5);
		nulls[5] = ' ';
	}
	if (!PG_ARGISNULL(6))
	{
		jobs_check_retries(PG_GETARG_INT32(6));
		values[6] = PG_GETARG_DATUM(6);
		nulls[6] = ' ';
	}

	steward_catalog_enter(&acc);
	SPI_connect();
	if (!jobs_lookup(name, caller, true, &ref))
		jobs_not_found(name);
	values[0] = Int64GetDatum(ref.job_id);
	steward_spi_exec("UPDATE steward.job SET"
					 " schedule = COALESCE($2, schedule),"
					 " command = COALESCE($3, command),"
					 " enabled = COALESCE($4, enabled),"
					 " timezone = COALESCE($5, timezone),"
					 " max_runtime = COALESCE($6, max_runtime),"
					 " max_retries = COALESCE($7, max_retries)"
					 " WHERE job_id = $1",
					 SPI_OK_UPDATE, 7, argtypes, values, nulls);
	SPI_finish();
	steward_catalog_exit(&acc);

	steward_wake_scheduler_at_commit();
	PG_RETURN_VOID();
}

/*
 * Is the runner waiting for a lock this session holds?  CREATE INDEX
 * CONCURRENTLY, for one, waits for every older transaction, including the
 * one waiting in run_job() for it: a cycle the deadlock detector cannot see.
 */
static bool
jobs_runner_waits_for_us(pid_t runner_pid)
{
	ArrayType  *blockers;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	bool		found = false;

	if (runner_pid == 0)
		return false;
	blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
													  Int32GetDatum(runner_pid)));
	deconstruct_array(blockers, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] && DatumGetInt32(elems[i]) == MyProcPid)
			found = true;
	return found;
}

/* ---------------------------------------------------------------------
 * steward.run_job(job_name, wait) RETURNS bigint
 * ---------------------------------------------------------------------
 */
static void
jobs_clear_waiter(int slotno)
{
	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	if (steward_shared->runners[slotno].waiter_pid == MyProcPid)
		steward_shared->runners[slotno].waiter_pid = 0;
	LWLockRelease(steward_shared->lock);
	steward_wake_scheduler(MyDatabaseId);
}

Datum
steward_run_job(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *name = jobs_arg_text(fcinfo, 0, "job name");
	bool		wait = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	StewardCatalogAccess acc;
	JobRef		ref;
	StewardRunnerArgs args = {0};
	BackgroundWorkerHandle *handle;
	int			slotno;
	int64		run_id = 0;
	volatile bool waiting = false;
	int			polls = 0;

	steward_require_preload("steward.run_job()");

	steward_catalog_enter(&acc);
	SPI_connect();
	if (!jobs_lookup(name, caller, false, &ref))
		jobs_not_found(name);
	SPI_finish();
	steward_catalog_exit(&acc);

	/* Claim a runner slot: no overlap with a running instance. */
	for (;;)
	{
		TimestampTz deadline = 0;
		StewardReserveResult res;

		if (ref.max_runtime > 0)
			deadline = GetCurrentTimestamp() + ref.max_runtime;
		res = steward_runner_reserve(MyDatabaseId, ref.job_id, deadline, &slotno);
		if (res == RESERVE_OK)
			break;
		if (res == RESERVE_JOB_RUNNING)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("job \"%s\" is already running", name),
					 errhint("Wait for the current run to finish; steward.jobs shows it.")));
		/* steward.max_workers runners are busy: wait for one to finish */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
	steward_shared->runners[slotno].waiter_pid = MyProcPid;
	LWLockRelease(steward_shared->lock);

	args.dboid = MyDatabaseId;
	args.owner = ref.owner;
	args.job_id = ref.job_id;
	args.slotno = slotno;
	args.attempt = 1;
	args.scheduled_for = GetCurrentTimestamp();
	if (!steward_runner_start(&args, name, MyProcPid, &handle))
	{
		steward_runner_release(slotno);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a runner for job \"%s\"", name),
				 errhint("Increase max_worker_processes or lower steward.max_workers.")));
	}

	PG_TRY();
	{
		waiting = true;
		pgstat_report_activity(STATE_RUNNING, "waiting for pg_steward job");
		for (;;)
		{
			pid_t		pid;
			BgwHandleStatus st = GetBackgroundWorkerPid(handle, &pid);
			StewardRunnerState state;

			LWLockAcquire(steward_shared->lock, LW_SHARED);
			run_id = steward_shared->runners[slotno].run_id;
			state = steward_shared->runners[slotno].state;
			LWLockRelease(steward_shared->lock);

			if (st == BGWH_POSTMASTER_DIED)
				ereport(ERROR,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("postmaster exited while job \"%s\" was running", name)));
			if (!wait && run_id != 0)
				break;
			if (st == BGWH_STOPPED)
			{
				/* a worker that never started leaves its slot reserved */
				LWLockAcquire(steward_shared->lock, LW_EXCLUSIVE);
				if (steward_shared->runners[slotno].state == RUNNER_RESERVED)
					steward_shared->runners[slotno].state = RUNNER_DONE;
				LWLockRelease(steward_shared->lock);
				break;
			}
			(void) state;
			if (wait && ++polls % 10 == 0 && jobs_runner_waits_for_us(pid))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
						 errmsg("job \"%s\" is waiting for the session that runs it", name),
						 errdetail("A statement of the job waits for older transactions or locks, including those of this session."),
						 errhint("Use steward.run_job(..., wait => false) and follow the run in steward.job_run; the run goes on.")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		/* Cancelled while waiting: the run goes on; the scheduler reaps it. */
		if (waiting)
			jobs_clear_waiter(slotno);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (wait)
	{
		int64		reaped = steward_runner_reap(slotno);

		if (reaped > 0)
			run_id = reaped;
	}
	else
		jobs_clear_waiter(slotno);

	if (run_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job \"%s\" did not start", name),
				 errdetail("The runner could not find the job or could not connect as its owner."),
				 errhint("A job scheduled in this transaction can run only after the transaction commits; the server log has details.")));
	PG_RETURN_INT64(run_id);
}

/* ---------------------------------------------------------------------
 * steward.import_pg_cron(enable) RETURNS int
 * ---------------------------------------------------------------------
 */
Datum
steward_import_pg_cron(PG_FUNCTION_ARGS)
{
	bool		enable = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	StewardCatalogAccess acc;
	uint64		i,
				n;
	volatile int imported = 0;
	SPITupleTable *jobs;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to import pg_cron jobs"),
				 errdetail("Only superusers can import jobs, because they keep their pg_cron owners.")));
	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_cron\" is not installed in this database"),
				 errhint("Run steward.import_pg_cron() in the database named by cron.database_name.")));

	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("SELECT COALESCE(jobname, 'pg_cron_' || jobid), schedule,"
					 "       command, username, active"
					 "  FROM cron.job WHERE database = pg_catalog.current_database()"
					 " ORDER BY jobid",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	jobs = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		char	   *name = SPI_getvalue(jobs->vals[i], jobs->tupdesc, 1);
		char	   *schedule = SPI_getvalue(jobs->vals[i], jobs->tupdesc, 2);
		char	   *command = SPI_getvalue(jobs->vals[i], jobs->tupdesc, 3);
		char	   *username = SPI_getvalue(jobs->vals[i], jobs->tupdesc, 4);
		bool		isnull;
		bool		active = DatumGetBool(SPI_getbinval(jobs->vals[i], jobs->tupdesc, 5, &isnull));
		Oid			owner = get_role_oid(username, true);
		CronSchedule sched;
		volatile bool ok = true;
		Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTOID, OIDOID, BOOLOID};
		Datum		values[5];

		if (!OidIsValid(owner))
		{
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("skipping pg_cron job \"%s\": role \"%s\" does not exist",
							name, username)));
			continue;
		}
		/* cron_parse has no side effects, so its error can be caught here */
		PG_TRY();
		{
			cron_parse(schedule, &sched);
		}
		PG_CATCH();
		{
			FlushErrorState();
			ok = false;
		}
		PG_END_TRY();
		if (!ok)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("skipping pg_cron job \"%s\": schedule \"%s\" is not supported",
							name, schedule)));
			continue;
		}

		values[0] = CStringGetTextDatum(name);
		values[1] = CStringGetTextDatum(schedule);
		values[2] = CStringGetTextDatum(command);
		values[3] = ObjectIdGetDatum(owner);
		values[4] = BoolGetDatum(enable && active);
		/* pg_cron 1.4 evaluates schedules in GMT */
		steward_spi_exec("INSERT INTO steward.job"
						 " (job_name, kind, schedule, command, owner, enabled, timezone)"
						 " VALUES ($1, 'sql', $2, $3, $4::pg_catalog.regrole, $5, 'UTC')"
						 " ON CONFLICT (job_name) DO NOTHING",
						 SPI_OK_INSERT, 5, argtypes, values, NULL);
		if (SPI_processed > 0)
			imported++;
		else
			ereport(NOTICE,
					(errmsg("skipping pg_cron job \"%s\": a steward job with that name exists",
							name)));
	}
	SPI_finish();
	steward_catalog_exit(&acc);

	if (imported > 0)
		steward_wake_scheduler_at_commit();
	PG_RETURN_INT32(imported);
}
