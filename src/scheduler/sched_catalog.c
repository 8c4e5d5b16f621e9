/*-------------------------------------------------------------------------
 *
 * sched_catalog.c
 *	  The scheduler's reads and writes of its catalog in a full pass: the
 *	  jobs with their state, problems reported once, the states saved in
 *	  one statement, runs interrupted by a crash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/pg_steward.h"
#include "core/shmem.h"
#include "core/spi_util.h"
#include "scheduler/cron.h"
#include "scheduler/jobs.h"
#include "scheduler/sched_int.h"

static void
sched_parse_job(SchedJob *job)
{
	MemoryContext mcxt = CurrentMemoryContext;

	PG_TRY();
	{
		cron_parse(job->schedule, &job->sched);
		job->valid = true;
	}
	PG_CATCH();
	{
		/* cron_parse has no side effects; reporting is enough */
		ErrorData  *edata;

		MemoryContextSwitchTo(mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		job->problem = psprintf("schedule \"%s\" is not valid: %s",
								job->schedule, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/* An interval column of the job, in microseconds; NULL counts as 0. */
static int64
sched_interval_column(SchedJob *job, int row, int col, const char *what)
{
	bool		isnull;
	Datum		d = steward_spi_getdatum(row, col, &isnull);
	int64		usecs;

	if (isnull)
		return 0;
	if (!steward_job_interval_usecs(DatumGetIntervalP(d), &usecs) &&
		job->problem == NULL)
		job->problem = psprintf("%s %s is out of range (at most %d days)", what,
								DatumGetCString(DirectFunctionCall1(interval_out, d)),
								STEWARD_JOB_MAX_INTERVAL_DAYS);
	return usecs;
}

/*
 * Read every job with its state.  Nothing in a row can fail the pass: a row
 * the scheduler cannot use (an interval out of range, a bad schedule or time
 * zone, an owner that is gone) gets a problem and is skipped.
 */
List *
sched_load_jobs(void)
{
	List	   *jobs = NIL;
	ListCell   *lc_job;
	uint64		i;
	Datum		tzarg = CStringGetTextDatum(steward_timezone);
	static SPIPlanPtr plan = NULL;

	steward_spi_exec_kept(&plan, "SELECT j.job_id, j.job_name, j.schedule, j.owner::pg_catalog.oid,"
						  "       COALESCE(j.timezone, $1), j.enabled, j.max_runtime,"
						  "       j.max_retries, j.retry_delay,"
						  "       s.job_id IS NOT NULL, s.schedule_key, s.next_run_at, s.retry_at,"
						  "       s.retry_attempt, s.consecutive_failures, s.skipped_runs,"
						  "       s.problem, j.owner_name, a.rolname"
						  "  FROM steward.job j"
						  "  LEFT JOIN steward.job_state s ON s.job_id = j.job_id"
						  "  LEFT JOIN pg_catalog.pg_authid a ON a.oid = j.owner::pg_catalog.oid"
						  " ORDER BY j.job_id",
						  SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, &tzarg, NULL);

	for (i = 0; i < SPI_processed; i++)
	{
		SchedJob   *job = palloc0(sizeof(SchedJob));
		bool		isnull;
		Datum		d;
		char	   *owner_name;
		char	   *rolname;

		job->job_id = DatumGetInt64(steward_spi_getdatum(i, 1, &isnull));
		job->name = steward_spi_gettext(i, 2);
		job->schedule = steward_spi_gettext(i, 3);
		job->owner = DatumGetObjectId(steward_spi_getdatum(i, 4, &isnull));
		job->timezone = steward_spi_gettext(i, 5);
		job->enabled = DatumGetBool(steward_spi_getdatum(i, 6, &isnull));
		job->max_runtime = sched_interval_column(job, i, 7, "max_runtime");
		job->max_retries = DatumGetInt32(steward_spi_getdatum(i, 8, &isnull));
		job->retry_delay = sched_interval_column(job, i, 9, "retry_delay");
		job->has_state = DatumGetBool(steward_spi_getdatum(i, 10, &isnull));
		job->schedule_key = steward_spi_gettext(i, 11);
		d = steward_spi_getdatum(i, 12, &isnull);
		job->next_run_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = steward_spi_getdatum(i, 13, &isnull);
		job->retry_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = steward_spi_getdatum(i, 14, &isnull);
		job->retry_attempt = isnull ? 0 : DatumGetInt32(d);
		d = steward_spi_getdatum(i, 15, &isnull);
		job->consecutive_failures = isnull ? 0 : DatumGetInt32(d);
		d = steward_spi_getdatum(i, 16, &isnull);
		job->skipped_runs = isnull ? 0 : DatumGetInt64(d);
		job->saved_problem = steward_spi_gettext(i, 17);
		owner_name = steward_spi_gettext(i, 18);
		rolname = steward_spi_gettext(i, 19);

		/*
		 * The owner OID must still name the role that scheduled the job: a
		 * role dropped in another database (the utility hook sees only its
		 * own) leaves an OID that a later role could get.
		 */
		if (rolname == NULL)
			job->owner_problem = psprintf("its owner \"%s\" (OID %u) no longer exists",
										  owner_name, job->owner);
		else if (owner_name == NULL || strcmp(owner_name, rolname) != 0)
			job->owner_problem = psprintf("its owner \"%s\" (OID %u) was renamed or replaced by role \"%s\"",
										  owner_name ? owner_name : "", job->owner,
										  rolname);
		if (job->owner_problem && job->problem == NULL)
			job->problem = job->owner_problem;
		jobs = lappend(jobs, job);
	}

	foreach(lc_job, jobs)
	{
		SchedJob   *job = lfirst(lc_job);

		if (job->problem != NULL)
			continue;
		job->tz = pg_tzset(job->timezone);
		if (job->tz == NULL)
		{
			job->problem = psprintf("time zone \"%s\" is not recognized", job->timezone);
			continue;
		}
		sched_parse_job(job);
	}
	return jobs;
}

/*
 * A job the scheduler skips says why, once, in the server log and in
 * steward.job_state.problem (steward.jobs shows it); a job whose owner has
 * gone is also disabled, with a failed run that says so, so that no role
 * that later gets the owner's OID ever runs it.
 */
void
sched_report_problem(SchedJob *job)
{
	bool		same = (job->problem == NULL && job->saved_problem == NULL) ||
		(job->problem != NULL && job->saved_problem != NULL &&
		 strcmp(job->problem, job->saved_problem) == 0);

	if (job->owner_problem != NULL && job->enabled)
	{
		char	   *message = psprintf("job disabled: %s", job->owner_problem);
		Datum		values[2];

		values[0] = Int64GetDatum(job->job_id);
		values[1] = CStringGetTextDatum(message);
		steward_spi_exec("UPDATE steward.job SET enabled = false WHERE job_id = $1",
						 SPI_OK_UPDATE, 1, (Oid[]) {INT8OID}, values, NULL);
		steward_spi_exec("INSERT INTO steward.job_run"
						 " (job_id, started_at, finished_at, status, message)"
						 " VALUES ($1, pg_catalog.clock_timestamp(),"
						 "         pg_catalog.clock_timestamp(), 'failed', $2)",
						 SPI_OK_INSERT, 2, (Oid[]) {INT8OID, TEXTOID}, values, NULL);
		job->enabled = false;
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_ROLE_SPECIFICATION),
				 errmsg("pg_steward job \"%s\" (job_id " INT64_FORMAT ") disabled: %s",
						job->name, job->job_id, job->owner_problem),
				 errhint("A superuser can confirm the owner with steward.alter_job(..., enabled => true), or unschedule the job.")));
		same = true;			/* reported */
	}
	if (same)
		return;
	if (job->problem != NULL)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pg_steward job \"%s\" (job_id " INT64_FORMAT ") is skipped: %s",
						job->name, job->job_id, job->problem),
				 errhint("Fix the job with steward.alter_job() or steward.schedule(), or unschedule it.")));
	job->dirty = true;
}

/*
 * Save the state of every dirty job in one statement, so a pass costs the
 * same few queries whatever the number of jobs.
 */
void
sched_save_states(List *jobs)
{
	int			n = 0;
	int			max = list_length(jobs);
	Datum	   *ids,
			   *keys,
			   *nexts,
			   *retries,
			   *attempts,
			   *failures,
			   *skipped,
			   *problems;
	bool	   *keynulls,
			   *nextnulls,
			   *retrynulls,
			   *problemnulls;
	int			dims[1];
	int			lbs[1] = {1};
	ListCell   *lc;
	Datum		values[8];
	static SPIPlanPtr plan = NULL;

	ids = palloc(sizeof(Datum) * max);
	problems = palloc(sizeof(Datum) * max);
	problemnulls = palloc(sizeof(bool) * max);
	keys = palloc(sizeof(Datum) * max);
	nexts = palloc(sizeof(Datum) * max);
	retries = palloc(sizeof(Datum) * max);
	attempts = palloc(sizeof(Datum) * max);
	failures = palloc(sizeof(Datum) * max);
	skipped = palloc(sizeof(Datum) * max);
	keynulls = palloc(sizeof(bool) * max);
	nextnulls = palloc(sizeof(bool) * max);
	retrynulls = palloc(sizeof(bool) * max);

	foreach(lc, jobs)
	{
		SchedJob   *job = lfirst(lc);

		if (!job->dirty)
			continue;
		ids[n] = Int64GetDatum(job->job_id);
		keynulls[n] = job->schedule_key == NULL;
		keys[n] = keynulls[n] ? (Datum) 0 : CStringGetTextDatum(job->schedule_key);
		nextnulls[n] = job->next_run_at == 0;
		nexts[n] = TimestampTzGetDatum(job->next_run_at);
		retrynulls[n] = job->retry_at == 0;
		retries[n] = TimestampTzGetDatum(job->retry_at);
		attempts[n] = Int32GetDatum(job->retry_attempt);
		failures[n] = Int32GetDatum(job->consecutive_failures);
		skipped[n] = Int64GetDatum(job->skipped_runs);
		problemnulls[n] = job->problem == NULL;
		problems[n] = problemnulls[n] ? (Datum) 0 : CStringGetTextDatum(job->problem);
		job->dirty = false;
		n++;
	}
	if (n == 0)
		return;

	dims[0] = n;
	values[0] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_md_array(keys, keynulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_md_array(nexts, nextnulls, 1, dims, lbs, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_md_array(retries, retrynulls, 1, dims, lbs, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_md_array(attempts, NULL, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(failures, NULL, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_md_array(skipped, NULL, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_md_array(problems, problemnulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));

	/* Jobs unscheduled meanwhile are left out. */
	steward_spi_exec_kept(&plan, "INSERT INTO steward.job_state AS s"
						  " (job_id, schedule_key, next_run_at, retry_at, retry_attempt,"
						  "  consecutive_failures, skipped_runs, problem)"
						  " SELECT u.* FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
						  "   pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
						  "   pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8))"
						  "   AS u(job_id, schedule_key, next_run_at, retry_at, retry_attempt,"
						  "        consecutive_failures, skipped_runs, problem)"
						  "  WHERE EXISTS (SELECT FROM steward.job j WHERE j.job_id = u.job_id)"
						  " ON CONFLICT (job_id) DO UPDATE SET"
						  "  schedule_key = EXCLUDED.schedule_key,"
						  "  next_run_at = EXCLUDED.next_run_at,"
						  "  retry_at = EXCLUDED.retry_at,"
						  "  retry_attempt = EXCLUDED.retry_attempt,"
						  "  consecutive_failures = EXCLUDED.consecutive_failures,"
						  "  skipped_runs = EXCLUDED.skipped_runs,"
						  "  problem = EXCLUDED.problem",
						  SPI_OK_INSERT, 8,
						  (Oid[]) {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
						  TIMESTAMPTZARRAYOID, INT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID,
						  TEXTARRAYOID},
						  values, NULL);
}

/*
 * Runs still marked 'running' that no live runner owns were interrupted by
 * a crash or restart.  Returns their job ids (for retry accounting).
 */
List *
sched_mark_crashed(Oid dboid)
{
	List	   *crashed = NIL;
	int			nslots = steward_runner_nslots();
	int64	   *run_ids = palloc(sizeof(int64) * nslots);
	Datum	   *ids = palloc(sizeof(Datum) * nslots);
	ArrayType  *arr;
	int			i,
				n;
	uint64		r;

	n = steward_runner_run_ids(dboid, run_ids, nslots);
	for (i = 0; i < n; i++)
		ids[i] = Int64GetDatum(run_ids[i]);

	arr = construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);

	steward_spi_exec("UPDATE steward.job_run"
					 "   SET status = 'crashed', finished_at = pg_catalog.clock_timestamp(),"
					 "       message = 'the server restarted or the runner crashed while the job was running'"
					 " WHERE status = 'running' AND run_id <> ALL ($1)"
					 " RETURNING run_id",
					 SPI_OK_UPDATE_RETURNING, 1, (Oid[]) {INT8ARRAYOID},
					 (Datum[]) {PointerGetDatum(arr)}, NULL);
	for (r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64	   *id = palloc(sizeof(int64));

		*id = DatumGetInt64(steward_spi_getdatum(r, 1, &isnull));
		crashed = lappend(crashed, id);
	}
	return crashed;
}
