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
#include "access/xlog.h"
#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "core/compat.h"
#include "core/pg_steward.h"
#include "scheduler/cron.h"
#include "core/guc.h"
#include "scheduler/job_runner.h"
#include "scheduler/jobs.h"
#include "core/shmem.h"
#include "core/spi_util.h"

PG_FUNCTION_INFO_V1(steward_schedule);
PG_FUNCTION_INFO_V1(steward_scheduler_passes);
PG_FUNCTION_INFO_V1(steward_unschedule);
PG_FUNCTION_INFO_V1(steward_alter_job);
PG_FUNCTION_INFO_V1(steward_run_job);
PG_FUNCTION_INFO_V1(steward_import_pg_cron);

typedef struct JobRef
{
	int64		job_id;
	Oid			owner;
	int64		max_runtime;	/* usecs, 0 = none */
	bool		owner_ok;		/* owner_name still names the owner OID */
	char		kind[NAMEDATALEN];
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

void
steward_check_job_name(const char *name)
{
	const unsigned char *p;

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job name must not be empty")));
	if (strlen(name) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("job name is too long"),
				 errdetail("Job names are limited to 200 bytes.")));
	/*
	 * Names end up in logs, process titles and error messages: no control
	 * characters, and (UTF-8) none of C1 or the bidirectional overrides
	 * that make a name display as another.
	 */
	for (p = (const unsigned char *) name; *p; p++)
	{
		bool		bad = *p < 0x20 || *p == 0x7f;

		if (GetDatabaseEncoding() == PG_UTF8)
		{
			/* U+0080..U+009F: C2 80..C2 9F */
			if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
				bad = true;
			/* U+200E, U+200F, U+202A..U+202E: E2 80 8E/8F/AA..AE */
			if (p[0] == 0xe2 && p[1] == 0x80 &&
				(p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae)))
				bad = true;
			/* U+2066..U+2069: E2 81 A6..A9 */
			if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
				bad = true;
		}
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("job name must not contain control characters"),
					 errdetail("Control characters and bidirectional formatting characters are refused."),
					 errhint("Use printable characters only.")));
	}
}

/* A command that does not parse is refused now, not at 3 a.m. */
static void
jobs_check_command(const char *command)
{
	List	   *stmts;
	ListCell   *lc;

	stmts = raw_parser(command, RAW_PARSE_DEFAULT);
	if (stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job command must contain at least one statement")));
	foreach(lc, stmts)
		steward_check_job_statement(lfirst_node(RawStmt, lc)->stmt);
}

bool
steward_job_interval_usecs(const Interval *iv, int64 *usecs)
{
	double		secs;

	if (steward_interval_not_finite(iv))
	{
		*usecs = steward_interval_is_nobegin(iv) ? 0 : STEWARD_JOB_MAX_INTERVAL_USECS;
		return false;
	}
	/* as EXTRACT(epoch FROM ...): 365.25-day years, 30-day months */
	secs = (double) iv->time / USECS_PER_SEC +
		(double) iv->day * SECS_PER_DAY +
		(double) (iv->month / MONTHS_PER_YEAR) * DAYS_PER_YEAR * SECS_PER_DAY +
		(double) (iv->month % MONTHS_PER_YEAR) * DAYS_PER_MONTH * SECS_PER_DAY;
	if (secs < 0)
	{
		*usecs = 0;
		return false;
	}
	if (secs > (double) STEWARD_JOB_MAX_INTERVAL_USECS / USECS_PER_SEC)
	{
		*usecs = STEWARD_JOB_MAX_INTERVAL_USECS;
		return false;
	}
	*usecs = (int64) (secs * USECS_PER_SEC);
	return true;
}

/* max_runtime must be > 0, retry_delay >= 0; both at most 365 days. */
static void
jobs_check_interval(Interval *iv, const char *what, bool allow_zero)
{
	int64		usecs;

	bool		ok;

	steward_require_finite_interval(iv, what);
	ok = steward_job_interval_usecs(iv, &usecs);
	if (!ok && usecs > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", what),
				 errhint("%s must be %s and at most %d days.", what,
						 allow_zero ? "zero or positive" : "positive",
						 STEWARD_JOB_MAX_INTERVAL_DAYS)));
	if (!ok || (usecs == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", what, allow_zero ? "zero or positive" : "positive"),
				 errhint("%s must be %s and at most %d days.", what,
						 allow_zero ? "zero or positive" : "positive",
						 STEWARD_JOB_MAX_INTERVAL_DAYS)));
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
#if !STEWARD_BGW_CAN_BYPASS_LOGIN
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
 * Find the job 'name' that the caller may manage.  Names are unique per
 * owner.  The caller's own job of that name comes first; otherwise the one
 * job of that name among the roles whose privileges the caller has
 * (superusers: all roles).  Several such jobs make the name ambiguous.
 * Other roles' jobs look nonexistent.
 */
static bool
jobs_lookup(const char *name, Oid caller, bool for_update, JobRef *ref)
{
	Datum		args[2];
	uint64		i;
	int			visible = 0;
	bool		isnull;
	Datum		d;

	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(caller);
	steward_spi_exec("SELECT j.job_id, j.owner::pg_catalog.oid"
					 "  FROM steward.job j WHERE j.job_name = $1"
					 " ORDER BY j.owner::pg_catalog.oid = $2 DESC, j.job_id",
					 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, OIDOID}, args, NULL);
	ref->job_id = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		int64		job_id = DatumGetInt64(steward_spi_getdatum(i, 1, &isnull));
		Oid			owner = DatumGetObjectId(steward_spi_getdatum(i, 2, &isnull));

		if (!has_privs_of_role(caller, owner))
			continue;
		if (visible++ == 0)
		{
			ref->job_id = job_id;
			if (owner == caller)
				break;
		}
	}
	if (visible == 0)
		return false;
	if (visible > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("job name \"%s\" is ambiguous", name),
				 errdetail("%d roles whose privileges you have own a job of that name.", visible),
				 errhint("Run SET ROLE to the job's owner first; steward.jobs shows the owners.")));

	/* read (and lock) the row chosen */
	args[0] = Int64GetDatum(ref->job_id);
	steward_spi_exec(for_update ?
					 "SELECT j.owner::pg_catalog.oid, j.max_runtime,"
					 "       a.rolname IS NOT DISTINCT FROM j.owner_name, j.kind"
					 "  FROM steward.job j"
					 "  LEFT JOIN pg_catalog.pg_authid a ON a.oid = j.owner::pg_catalog.oid"
					 " WHERE j.job_id = $1 FOR UPDATE OF j" :
					 "SELECT j.owner::pg_catalog.oid, j.max_runtime,"
					 "       a.rolname IS NOT DISTINCT FROM j.owner_name, j.kind"
					 "  FROM steward.job j"
					 "  LEFT JOIN pg_catalog.pg_authid a ON a.oid = j.owner::pg_catalog.oid"
					 " WHERE j.job_id = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {INT8OID}, args, NULL);
	if (SPI_processed == 0)
		return false;			/* unscheduled meanwhile */
	ref->owner = DatumGetObjectId(steward_spi_getdatum(0, 1, &isnull));
	d = steward_spi_getdatum(0, 2, &isnull);
	ref->max_runtime = 0;
	/* a stored value beyond the bounds (old data) counts as the bound */
	if (!isnull)
		(void) steward_job_interval_usecs(DatumGetIntervalP(d), &ref->max_runtime);
	ref->owner_ok = DatumGetBool(steward_spi_getdatum(0, 3, &isnull));
	strlcpy(ref->kind, steward_spi_gettext(0, 4), NAMEDATALEN);
	return true;
}

/* A command given for a job whose kind runs its own code. */
static void
jobs_no_command(const char *name, const char *kind)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("job \"%s\" takes no command", name),
			 errdetail("Jobs of kind %s run their kind's own code.", kind),
			 errhint("Change its schedule, enabled, timezone, max_runtime, max_retries or retry_delay instead.")));
}

/* The job's owner OID no longer names the role that scheduled it. */
static void
jobs_owner_changed(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_ROLE_SPECIFICATION),
			 errmsg("the owner of job \"%s\" was dropped, renamed or replaced", name),
			 errdetail("The job's owner no longer has the name it had when the job was scheduled, so the job does not run."),
			 errhint("A superuser can confirm the owner with steward.alter_job(..., enabled => true), or unschedule the job.")));
}

static void
jobs_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job \"%s\" does not exist", name),
			 errhint("steward.jobs lists the jobs you can manage.")));
}

/*
 * steward.max_jobs_per_role: a new job beyond the limit is refused; replacing
 * an existing one is always possible.  Counted per database (each database
 * has its own catalog).
 */
static void
jobs_check_job_count(Oid owner, Datum name)
{
	int64		n;
	bool		isnull;

	if (steward_max_jobs_per_role <= 0)
		return;
	steward_spi_exec("SELECT count(*), bool_or(job_name = $2) FROM steward.job"
					 " WHERE owner::pg_catalog.oid = $1",
					 SPI_OK_SELECT, 2, (Oid[]) {OIDOID, TEXTOID},
					 (Datum[]) {ObjectIdGetDatum(owner), name}, NULL);
	n = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	(void) steward_spi_getdatum(0, 2, &isnull);
	if (n >= steward_max_jobs_per_role &&
		(isnull || !DatumGetBool(steward_spi_getdatum(0, 2, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("role \"%s\" already owns %lld jobs in this database",
						GetUserNameFromId(owner, false), (long long) n),
				 errdetail("steward.max_jobs_per_role is %d.", steward_max_jobs_per_role),
				 errhint("Unschedule jobs that are no longer needed, or ask an administrator to raise steward.max_jobs_per_role.")));
}

/* ---------------------------------------------------------------------
 * Creating jobs: steward_job_define() for every kind, steward.schedule()
 * for 'sql' jobs
 * ---------------------------------------------------------------------
 */

/*
 * Create the owner's job of that name, or replace its settings if it has
 * one of the same kind.  A job of another kind, or a built-in job, of that
 * name is never replaced.  Every setting is checked first (schedule, time
 * zone, command against the kind, config against the kind's validator).
 * Returns the job id; the scheduler is woken when the transaction commits.
 */
int64
steward_job_define(const StewardJobSpec *spec)
{
	const StewardJobKind *kind = steward_require_job_kind(spec->kind);
	const char *command = spec->command ? spec->command : "";
	const char *config = spec->config ? spec->config : "{}";
	CronSchedule sched;
	StewardCatalogAccess acc;
	Oid			argtypes[12] = {TEXTOID, TEXTOID, TEXTOID, OIDOID, BOOLOID,
		TEXTOID, INTERVALOID, INT4OID, INTERVALOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[12];
	char		nulls[12] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		job_id;
	bool		isnull;

	steward_check_job_name(spec->name);
	cron_parse(spec->schedule, &sched);
	if (kind->takes_command)
		jobs_check_command(command);
	else if (command[0] != '\0')
		jobs_no_command(spec->name, kind->name);
	steward_validate_job_config(kind, config);

	values[0] = CStringGetTextDatum(spec->name);
	values[1] = CStringGetTextDatum(spec->schedule);
	values[2] = CStringGetTextDatum(command);
	values[3] = ObjectIdGetDatum(spec->owner);
	values[4] = BoolGetDatum(spec->enabled);
	if (spec->timezone == NULL)
		nulls[5] = 'n';
	else
	{
		(void) cron_lookup_timezone(spec->timezone);
		values[5] = CStringGetTextDatum(spec->timezone);
	}
	if (spec->max_runtime == NULL)
		nulls[6] = 'n';
	else
	{
		jobs_check_interval(spec->max_runtime, "max_runtime", false);
		values[6] = IntervalPGetDatum(spec->max_runtime);
	}
	jobs_check_retries(spec->max_retries);
	values[7] = Int32GetDatum(spec->max_retries);
	if (spec->retry_delay == NULL)
		values[8] = DirectFunctionCall3(interval_in, CStringGetDatum("1 minute"),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	else
	{
		jobs_check_interval(spec->retry_delay, "retry_delay", true);
		values[8] = IntervalPGetDatum(spec->retry_delay);
	}
	values[9] = CStringGetTextDatum(GetUserNameFromId(spec->owner, false));
	values[10] = CStringGetTextDatum(kind->name);
	values[11] = CStringGetTextDatum(config);

	/*
	 * Serialise job creation of one role (for the job count) and keep DROP
	 * ROLE away until we commit: DROP ROLE locks the role exclusively.
	 */
	LockSharedObject(AuthIdRelationId, spec->owner, 0, ShareUpdateExclusiveLock);

	steward_catalog_enter(&acc);
	SPI_connect();
	jobs_check_job_count(spec->owner, values[0]);
	steward_spi_exec("INSERT INTO steward.job AS j"
					 " (job_name, kind, schedule, command, owner, enabled, timezone,"
					 "  max_runtime, max_retries, retry_delay, owner_name, config)"
					 " VALUES ($1, $11, $2, $3, $4::pg_catalog.regrole, $5, $6, $7, $8, $9,"
					 "         $10::pg_catalog.name, $12::pg_catalog.jsonb)"
					 " ON CONFLICT (owner, job_name) DO UPDATE SET"
					 "  schedule = EXCLUDED.schedule, command = EXCLUDED.command,"
					 "  enabled = EXCLUDED.enabled, timezone = EXCLUDED.timezone,"
					 "  max_runtime = EXCLUDED.max_runtime,"
					 "  max_retries = EXCLUDED.max_retries,"
					 "  retry_delay = EXCLUDED.retry_delay,"
					 "  owner_name = EXCLUDED.owner_name,"
					 "  config = EXCLUDED.config"
					 " WHERE j.kind = EXCLUDED.kind AND NOT j.builtin"
					 " RETURNING job_id",
					 SPI_OK_INSERT_RETURNING, 12, argtypes, values, nulls);
	if (SPI_processed == 0)
	{
		char	   *other;

		steward_spi_exec("SELECT CASE WHEN builtin THEN NULL ELSE kind END"
						 "  FROM steward.job WHERE owner::pg_catalog.oid = $1 AND job_name = $2",
						 SPI_OK_SELECT, 2, (Oid[]) {OIDOID, TEXTOID},
						 (Datum[]) {values[3], values[0]}, NULL);
		other = SPI_processed > 0 ? steward_spi_gettext(0, 1) : NULL;
		if (other == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("job \"%s\" is a built-in job", spec->name),
					 errdetail("Built-in jobs are created by the extension and never replaced."),
					 errhint("Change it with steward.alter_job(), or choose another name.")));
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("job \"%s\" already exists with kind %s", spec->name, other),
				 errdetail("A job is replaced only by a job of the same kind."),
				 errhint("Unschedule it first, or choose another name.")));
	}
	job_id = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	SPI_finish();
	steward_catalog_exit(&acc);

	jobs_warn_nologin(spec->owner);
	steward_wake_scheduler_at_commit();
	return job_id;
}

/*
 * steward.schedule(job_name, schedule, command, timezone, max_runtime,
 *					max_retries, retry_delay, enabled) RETURNS bigint
 */
Datum
steward_schedule(PG_FUNCTION_ARGS)
{
	StewardJobSpec spec = {0};

	spec.kind = "sql";
	spec.name = jobs_arg_text(fcinfo, 0, "job name");
	spec.schedule = jobs_arg_text(fcinfo, 1, "schedule");
	spec.command = jobs_arg_text(fcinfo, 2, "command");
	spec.owner = GetUserId();
	spec.timezone = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	spec.max_runtime = PG_ARGISNULL(4) ? NULL : PG_GETARG_INTERVAL_P(4);
	spec.max_retries = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
	spec.retry_delay = PG_ARGISNULL(6) ? NULL : PG_GETARG_INTERVAL_P(6);
	spec.enabled = PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7);
	PG_RETURN_INT64(steward_job_define(&spec));
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

		/*
		 * Only the scheduler writes steward.job_state (and prunes the rows
		 * of deleted jobs): a row locked here by a transaction left open
		 * would stop its pass.
		 */
		steward_spi_exec("DELETE FROM steward.job WHERE job_id = $1",
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
 *					 max_runtime, max_retries, retry_delay) RETURNS void
 * NULL arguments leave the setting unchanged.  A superuser enabling a job
 * whose owner was renamed in another database confirms the owner's current
 * name (see jobs_lookup and docs/scheduler.md).
 */
Datum
steward_alter_job(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *name = jobs_arg_text(fcinfo, 0, "job name");
	StewardCatalogAccess acc;
	JobRef		ref;
	Oid			argtypes[9] = {INT8OID, TEXTOID, TEXTOID, BOOLOID, TEXTOID,
	INTERVALOID, INT4OID, INTERVALOID, BOOLOID};
	Datum		values[9];
	char		nulls[9] = {' ', 'n', 'n', 'n', 'n', 'n', 'n', 'n', ' '};

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
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
	{
		jobs_check_interval(PG_GETARG_INTERVAL_P(7), "retry_delay", true);
		values[7] = PG_GETARG_DATUM(7);
		nulls[7] = ' ';
	}
	values[8] = BoolGetDatum(superuser() && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3));

	steward_catalog_enter(&acc);
	SPI_connect();
	if (!jobs_lookup(name, caller, true, &ref))
		jobs_not_found(name);
	if (!ref.owner_ok && !DatumGetBool(values[8]) && nulls[3] == ' ' &&
		DatumGetBool(values[3]))
		jobs_owner_changed(name);
	if (nulls[2] == ' ')
	{
		const StewardJobKind *kind = steward_find_job_kind(ref.kind);

		if (kind == NULL || !kind->takes_command)
			jobs_no_command(name, ref.kind);
	}
	values[0] = Int64GetDatum(ref.job_id);
	steward_spi_exec("UPDATE steward.job j SET"
					 " schedule = COALESCE($2, schedule),"
					 " command = COALESCE($3, command),"
					 " enabled = COALESCE($4, enabled),"
					 " timezone = COALESCE($5, timezone),"
					 " max_runtime = COALESCE($6, max_runtime),"
					 " max_retries = COALESCE($7, max_retries),"
					 " retry_delay = COALESCE($8, retry_delay),"
					 " owner_name = CASE WHEN $9 THEN COALESCE((SELECT a.rolname"
					 "   FROM pg_catalog.pg_authid a WHERE a.oid = j.owner::pg_catalog.oid),"
					 "   owner_name) ELSE owner_name END"
					 " WHERE job_id = $1",
					 SPI_OK_UPDATE, 9, argtypes, values, nulls);
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
jobs_clear_waiter(int slotno);

/* Also on FATAL (pg_terminate_backend of the waiting session). */
static void
jobs_waiter_cleanup(int code, Datum arg)
{
	jobs_clear_waiter(DatumGetInt32(arg));
}

static void
jobs_clear_waiter(int slotno)
{
	steward_runner_set_waiter(slotno, false);
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
	int			polls = 0;

	steward_require_preload("steward.run_job()");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run a job during recovery"),
				 errdetail("Jobs run on the primary; a standby runs none until it is promoted.")));
	if (!steward_enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot run a job while steward.enabled is off"),
				 errhint("Set steward.enabled = on in postgresql.conf and reload.")));

	steward_catalog_enter(&acc);
	SPI_connect();
	if (!jobs_lookup(name, caller, false, &ref))
		jobs_not_found(name);
	if (!ref.owner_ok)
		jobs_owner_changed(name);
	SPI_finish();
	steward_catalog_exit(&acc);

	/* Claim a runner slot: no overlap with a running instance. */
	for (;;)
	{
		TimestampTz deadline = 0;
		StewardReserveResult res;

		if (ref.max_runtime > 0)
			deadline = GetCurrentTimestamp() + ref.max_runtime;
		res = steward_runner_reserve(MyDatabaseId, ref.job_id, ref.owner, deadline,
									 &slotno);
		if (res == RESERVE_OK)
			break;
		if (res == RESERVE_JOB_RUNNING)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("job \"%s\" is already running", name),
					 errhint("Wait for the current run to finish; steward.jobs shows it.")));
		/*
		 * steward.max_workers runners (or max_workers_per_role of the
		 * owner's) are busy: wait for one to finish
		 */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	steward_runner_set_waiter(slotno, true);

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

	/* cancelled or terminated while waiting: the run goes on; the scheduler reaps it */
	PG_ENSURE_ERROR_CLEANUP(jobs_waiter_cleanup, Int32GetDatum(slotno));
	{
		pgstat_report_activity(STATE_RUNNING, "waiting for pg_steward job");
		for (;;)
		{
			pid_t		pid;
			BgwHandleStatus st = GetBackgroundWorkerPid(handle, &pid);
			StewardRunnerSlot slot;

			steward_runner_get(slotno, &slot);
			run_id = slot.run_id;

			if (st == BGWH_POSTMASTER_DIED)
				ereport(ERROR,
						(errcode(ERRCODE_ADMIN_SHUTDOWN),
						 errmsg("postmaster exited while job \"%s\" was running", name)));
			if (!wait && run_id != 0)
				break;
			if (st == BGWH_STOPPED)
			{
				/* a worker that never started leaves its slot reserved */
				(void) steward_runner_mark_unstarted(slotno);
				break;
			}
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
		/* a reap that fails leaves the slot to the scheduler (cleanup) */
		if (wait)
		{
			int64		reaped = steward_runner_reap(slotno);

			if (reaped > 0)
				run_id = reaped;
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(jobs_waiter_cleanup, Int32GetDatum(slotno));

	if (!wait)
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
		MemoryContext loopcxt;

		if (!OidIsValid(owner))
		{
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("skipping pg_cron job \"%s\": role \"%s\" does not exist",
							name, username)));
			continue;
		}
		/* cron_parse has no side effects, so its error can be caught here */
		loopcxt = CurrentMemoryContext;
		PG_TRY();
		{
			steward_check_job_name(name);
			cron_parse(schedule, &sched);
		}
		PG_CATCH();
		{
			/* back out of ErrorContext before it is reset */
			MemoryContextSwitchTo(loopcxt);
			FlushErrorState();
			ok = false;
		}
		PG_END_TRY();
		if (!ok)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("skipping pg_cron job \"%s\": its name or schedule \"%s\" is not supported",
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
						 " ON CONFLICT (owner, job_name) DO NOTHING",
						 SPI_OK_INSERT, 5, argtypes, values, NULL);
		if (SPI_processed > 0)
			imported++;
		else
			ereport(NOTICE,
					(errmsg("skipping pg_cron job \"%s\": its owner has a steward job with that name",
							name)));
	}
	SPI_finish();
	steward_catalog_exit(&acc);

	if (imported > 0)
		steward_wake_scheduler_at_commit();
	PG_RETURN_INT32(imported);
}

/*
 * Passes completed by this database's scheduler: a test that shows that
 * nothing happens waits for two more passes rather than sleeping.
 */
Datum
steward_scheduler_passes(PG_FUNCTION_ARGS)
{
	int64		passes;

	if (!steward_shmem_ready())
		PG_RETURN_NULL();
	passes = steward_scheduler_pass_count(MyDatabaseId);
	if (passes < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(passes);
}
