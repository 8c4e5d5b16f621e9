/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Partition sets: time- and id-range partitions created ahead of time
 *	  and retired by retention.
 *
 * A set is a RANGE-partitioned parent with one key column ("control") of
 * type timestamptz, timestamp, date, smallint, int or bigint, and a step.
 * Values of the control column are handled as 64-bit "points": microseconds
 * for time types (dates at midnight) and the value itself for ids.
 *
 * Periods of time sets are aligned to natural starts: steps in months
 * start on the 1st (3 months: quarters, 12 months: years), steps in days
 * start at midnight (7-day multiples on Monday), both in the set's time
 * zone and independent of the session's TimeZone; steps of hours or minutes
 * are absolute time, aligned to multiples of the step since the epoch, so a
 * daily set in Europe/Berlin has 23- and 25-hour days and an hourly set is
 * never cut by a daylight-saving gap.
 *
 * DDL runs under a short lock_timeout (steward.partition_lock_timeout) and
 * is retried a few times with backoff, each try in a subtransaction, so
 * maintenance never queues behind long queries and then blocks everyone.
 * Each set is maintained in its own subtransaction (SQL function) or
 * transaction (worker), so one failing set does not stop the others.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_steward.h"
#include "cron.h"
#include "guc.h"
#include "job_runner.h"
#include "partition.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(steward_partition_table);
PG_FUNCTION_INFO_V1(steward_partition_maintain);
PG_FUNCTION_INFO_V1(steward_partition_alter);
PG_FUNCTION_INFO_V1(steward_partition_forget);
PG_FUNCTION_INFO_V1(steward_partition_info);
PG_FUNCTION_INFO_V1(steward_partition_drain_default);

#define PART_MAX_PREMAKE		1000
#define PART_DDL_TRIES			4
#define PART_NAME_MAX			(NAMEDATALEN - 1)
/*
 * Attaching a partition makes PostgreSQL scan the default partition under
 * ACCESS EXCLUSIVE; from this size on, the worker first proves with a
 * constraint, validated without blocking, that the default holds no rows of
 * the new ranges.
 */
#define PART_DEFAULT_SCAN_BLOCKS	128
#define PART_EXCLUSION_NAME		"steward_premake_exclusion"
/* how long the worker keeps trying to drop it when the attach failed */
#define PART_EXCLUSION_DROP_SECS	60
/* rows per statement when the worker drains a default partition */
#define PART_DRAIN_BATCH		10000

typedef struct PartSet
{
	Oid			parent;
	char	   *nspname;
	char	   *relname;
	char	   *control;
	Oid			typid;
	bool		is_time;
	char	   *step;
	int			step_months;	/* time sets: exactly one of these three */
	int			step_days;
	int64		step_usecs;
	int64		step_id;		/* id sets */
	int			premake;
	char	   *retention;		/* NULL = keep everything */
	Interval	retention_iv;	/* time sets */
	int64		retention_id;	/* id sets */
	char	   *retention_mode;
	char	   *retention_schema;
	bool		default_partition;
	char	   *name_template;
	char	   *timezone;
	pg_tz	   *tz;
	List	   *pending;		/* partitions with an unfinished concurrent
								 * detach (relids), set by part_existing */
	/* the default partition has a validated exclusion of [excl_lo, excl_hi) */
	bool		has_excl;
	int64		excl_lo;
	int64		excl_hi;
	/* from steward.partition_state: see part_note_quiet() */
	bool		has_quiet;
	int64		fingerprint;
	int64		quiet_until;
} PartSet;

typedef struct PartRange
{
	Oid			relid;
	char	   *relname;
	char	   *qname;			/* quoted, in the partition's own schema */
	bool		is_default;
	bool		lo_unbounded;
	bool		hi_unbounded;
	int64		lo;
	int64		hi;
} PartRange;

typedef struct PartResult
{
	int			created;
	int			detached;
	int			dropped;
	int			archived;
	int64		moved;			/* rows moved out of the default partition */
	char	   *status;
	char	   *message;
	List	   *concurrent_detach;	/* PartDetach items left for the worker */
	bool		deferred;		/* work was left to the worker */
	bool		has_quiet;		/* fingerprint and quiet_until are valid */
	int64		fingerprint;
	int64		quiet_until;
} PartResult;

/* A partition to detach concurrently, outside the set's transaction. */
typedef struct PartDetach
{
	char	   *qparent;
	char	   *qname;
	Oid			relid;
	char	   *qschema;		/* move it here afterwards, or NULL */
	Oid			owner;			/* the set's owner, who runs the detach */
} PartDetach;

int			steward_partition_lock_timeout = 2000;

/* ---------------------------------------------------------------------
 * Settings
 * ---------------------------------------------------------------------
 */
static void part_kind_maintenance(StewardJobContext *ctx);
static char *part_expand_template(PartSet *set, const char *parent_part, int64 start);
static int64 part_retention_cutoff(PartSet *set, int64 current);
static bool part_load_visible(Oid parent, PartSet *set);

void
steward_partition_init(void)
{
	steward_register_job_kind("partition_maintenance", part_kind_maintenance);

	DefineCustomIntVariable("steward.partition_lock_timeout",
							"Lock timeout of each DDL statement of partition maintenance.",
							"Statements that cannot get their lock in time are retried a few times with backoff before the set's run fails.",
							&steward_partition_lock_timeout,
							2000,
							10, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Points: values of the control column as int64
 * ---------------------------------------------------------------------
 */
static int64
part_floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64
part_datum_to_point(Oid typid, Datum d)
{
	switch (typid)
	{
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			return DatumGetTimestamp(d);
		case DATEOID:
			return (int64) DatumGetDateADT(d) * USECS_PER_DAY;
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

/* Wall-clock fields of a time point (in the set's zone for timestamptz). */
static void
part_point_to_tm(PartSet *set, int64 point, struct pg_tm *tm)
{
	fsec_t		fsec;
	int			tzoff;

	if (set->typid == TIMESTAMPTZOID)
	{
		if (timestamp2tm(point, &tzoff, tm, &fsec, NULL, set->tz) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
	}
	else if (timestamp2tm(point, NULL, tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
}

static int64
part_tm_to_point(PartSet *set, struct pg_tm *tm)
{
	Timestamp	ts;

	if (set->typid == TIMESTAMPTZOID)
	{
		int			tzoff = DetermineTimeZoneOffset(tm, set->tz);

		if (tm2timestamp(tm, 0, &tzoff, &ts) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
	}
	else if (tm2timestamp(tm, 0, NULL, &ts) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return ts;
}

/* Local calendar arithmetic: add months and days, keep midnight-aligned time. */
static int64
part_add_calendar(PartSet *set, int64 point, int months, int days, int64 usecs)
{
	struct pg_tm tm;
	int			m;
	int			jd;

	part_point_to_tm(set, point, &tm);
	if (months != 0)
	{
		int			mdays;

		m = tm.tm_year * 12 + (tm.tm_mon - 1) + months;
		tm.tm_year = (int) part_floor_div(m, 12);
		tm.tm_mon = m - tm.tm_year * 12 + 1;
		mdays = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
		if (tm.tm_mday > mdays)
			tm.tm_mday = mdays;
	}
	if (days != 0)
	{
		jd = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) + days;
		j2date(jd, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	}
	return part_tm_to_point(set, &tm) + usecs;
}

/* Start of the period containing 'point'. */
static int64
part_floor(PartSet *set, int64 point)
{
	struct pg_tm tm;

	if (!set->is_time)
		return part_floor_div(point, set->step_id) * set->step_id;
	if (set->step_usecs > 0)
		return part_floor_div(point, set->step_usecs) * set->step_usecs;

	part_point_to_tm(set, point, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	if (set->step_months > 0)
	{
		int			m = tm.tm_year * 12 + (tm.tm_mon - 1);

		m = (int) (part_floor_div(m, set->step_months) * set->step_months);
		tm.tm_year = (int) part_floor_div(m, 12);
		tm.tm_mon = m - tm.tm_year * 12 + 1;
		tm.tm_mday = 1;
	}
	else
	{
		/* days since a Monday, so 7-day multiples start on Mondays */
		int			ref = date2j(2000, 1, 3);
		int			jd = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);

		jd = ref + (int) (part_floor_div(jd - ref, set->step_days) * set->step_days);
		j2date(jd, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	}
	return part_tm_to_point(set, &tm);
}

/* Largest value of the control column's type, as a point. */
static int64
part_type_max(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return PG_INT16_MAX;
		case INT4OID:
			return PG_INT32_MAX;
		case INT8OID:
			return PG_INT64_MAX;
		default:
			return END_TIMESTAMP - 1;
	}
}

static int64
part_next(PartSet *set, int64 start)
{
	/* id sets end at their type's largest value (then MAXVALUE) */
	if (!set->is_time)
		return start > part_type_max(set->typid) - set->step_id ?
			part_type_max(set->typid) : start + set->step_id;
	if (set->step_usecs > 0)
		return start + set->step_usecs;
	return part_add_calendar(set, start, set->step_months, set->step_days, 0);
}

/* A point as an SQL literal of the control column's type (no quoting). */
static char *
part_point_text(PartSet *set, int64 point)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (!set->is_time)
		return psprintf(INT64_FORMAT, point);
	if (timestamp2tm(point, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (set->typid == DATEOID)
		return psprintf("%04d-%02d-%02d", tm.tm_year, tm.tm_mon, tm.tm_mday);
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d%s%s",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec,
					fsec ? psprintf(".%06d", (int) fsec) : "",
					set->typid == TIMESTAMPTZOID ? "+00" : "");
}

/* A point as users read it: timestamptz in the set's time zone. */
static char *
part_point_display(PartSet *set, int64 point)
{
	Oid			typoutput;
	bool		isvarlena;
	Datum		d;
	char	   *result;
	int			nest;

	if (!set->is_time)
		return psprintf(INT64_FORMAT, point);
	d = set->typid == DATEOID ? DateADTGetDatum((DateADT) (point / USECS_PER_DAY)) :
		TimestampGetDatum(point);
	getTypeOutputInfo(set->typid, &typoutput, &isvarlena);
	nest = NewGUCNestLevel();
	(void) set_config_option("TimeZone", set->timezone, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	result = OidOutputFunctionCall(typoutput, d);
	AtEOXact_GUC(true, nest);
	return result;
}

/* "now" for time sets; for id sets the largest value in the table. */
static int64
part_current_point(PartSet *set)
{
	if (set->is_time)
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();

		if (set->typid == TIMESTAMPTZOID)
			return now;

		/* timestamp and date columns hold wall-clock values of the set's zone */
		{
			struct pg_tm tm;
			fsec_t		fsec;
			int			tzoff;
			Timestamp	ts;

			timestamp2tm(now, &tzoff, &tm, &fsec, NULL, set->tz);
			tm2timestamp(&tm, fsec, NULL, &ts);
			return ts;
		}
	}
	else
	{
		char	   *sql;
		bool		isnull;
		Datum		d;

		sql = psprintf("SELECT max(%s)::int8 FROM %s.%s",
					   quote_identifier(set->control),
					   quote_identifier(set->nspname),
					   quote_identifier(set->relname));
		steward_spi_exec(sql, SPI_OK_SELECT, 0, NULL, NULL, NULL);
		d = steward_spi_getdatum(0, 1, &isnull);
		return isnull ? 0 : DatumGetInt64(d);
	}
}

/* ---------------------------------------------------------------------
 * Validation and set descriptions
 * ---------------------------------------------------------------------
 */
static void
part_parse_step(PartSet *set)
{
	if (set->is_time)
	{
		Interval   *iv;

		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												   CStringGetDatum(set->step),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
		set->step_months = iv->month;
		set->step_days = iv->day;
		set->step_usecs = iv->time;
		if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
			(iv->month == 0 && iv->day == 0 && iv->time == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step must be a positive interval")));
		if ((iv->month != 0) + (iv->day != 0) + (iv->time != 0) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step \"%s\" mixes units", set->step),
					 errhint("Use months (\"3 months\", \"1 year\"), days (\"1 day\", \"1 week\") or a time (\"1 hour\", \"15 minutes\").")));
		if (iv->time != 0 && (iv->time < USECS_PER_MINUTE || USECS_PER_DAY % iv->time != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step \"%s\" must divide a day into whole minutes", set->step),
					 errhint("Steps shorter than a day are, for example, \"1 hour\", \"6 hours\" or \"15 minutes\"; use \"1 day\" or more otherwise.")));
		if (iv->time != 0 && set->typid == DATEOID)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step of a date column must be whole days or months")));
	}
	else
	{
		char	   *end;
		long long	v;

		errno = 0;
		v = strtoll(set->step, &end, 10);
		while (*end == ' ')
			end++;
		if (errno != 0 || end == set->step || *end != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step of an id set must be a positive integer, not \"%s\"", set->step),
					 errhint("Intervals are for timestamptz, timestamp and date columns.")));
		if (v <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("step must be positive")));
		if (v > part_type_max(set->typid))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("step %lld does not fit column \"%s\" of type %s",
							v, set->control, format_type_be(set->typid)),
					 errhint("The step can be at most " INT64_FORMAT ".",
							 part_type_max(set->typid))));
		set->step_id = v;
	}
}

static void
part_parse_retention(PartSet *set)
{
	if (set->retention == NULL)
		return;
	if (set->is_time)
	{
		Interval   *iv;
		Interval	step = {0};
		Interval   *ivstep;

		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												   CStringGetDatum(set->retention),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
		steward_require_finite_interval(iv, "retention");
		step.month = set->step_months;
		step.day = set->step_days;
		step.time = set->step_usecs;
		ivstep = &step;
		if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(iv),
											  IntervalPGetDatum(ivstep))) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention \"%s\" is shorter than one step (\"%s\")",
							set->retention, set->step)));
		set->retention_iv = *iv;
	}
	else
	{
		char	   *end;
		long long	v;

		errno = 0;
		v = strtoll(set->retention, &end, 10);
		if (errno != 0 || end == set->retention || *end != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention of an id set must be a number of ids, not \"%s\"",
							set->retention)));
		if (v < set->step_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("retention %lld is shorter than one step (" INT64_FORMAT ")",
							v, set->step_id)));
		set->retention_id = v;
	}
}

static void
part_check_mode(const char *mode)
{
	if (strcmp(mode, "archive") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("retention mode \"archive\" is not available yet"),
				 errdetail("Archiving needs the backup engine, which is not part of this version."),
				 errhint("Use \"drop\", \"detach\" or \"detach_concurrently\".")));
	if (strcmp(mode, "drop") != 0 && strcmp(mode, "detach") != 0 &&
		strcmp(mode, "detach_concurrently") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown retention mode \"%s\"", mode),
				 errhint("Retention modes are \"drop\", \"detach\" and \"detach_concurrently\".")));
}

/*
 * Detached partitions move to retention_schema as the set's owner, who
 * therefore needs CREATE there; say so now rather than at retention time.
 */
static void
part_check_retention_schema(PartSet *set)
{
	Oid			nsp;
	Oid			owner;

	if (set->retention_schema == NULL)
		return;
	nsp = get_namespace_oid(set->retention_schema, false);
	owner = steward_rel_owner(set->parent);
	if (!steward_may_create_in(nsp, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("owner %s of table \"%s\" may not create tables in schema \"%s\"",
						quote_identifier(GetUserNameFromId(owner, false)),
						get_rel_name(set->parent), set->retention_schema),
				 errdetail("Detached partitions are moved to retention_schema with the rights of the table's owner."),
				 errhint("GRANT CREATE ON SCHEMA %s TO %s;", quote_identifier(set->retention_schema),
						 quote_identifier(GetUserNameFromId(owner, false)))));
}

static char *
part_default_template(PartSet *set)
{
	if (!set->is_time)
		return "{parent}_p{start}";
	if (set->step_months > 0)
		return "{parent}_p{YYYY}{MM}";
	if (set->step_days > 0)
		return "{parent}_p{YYYY}{MM}{DD}";
	return "{parent}_p{YYYY}{MM}{DD}_{HH}{MI}";
}

/*
 * Describe the parent: RANGE-partitioned on exactly 'control' of a
 * supported type.  Fills nspname, relname, typid, is_time.
 */
static void
part_describe_parent(PartSet *set)
{
	Relation	rel;
	PartitionKey key;
	char	   *colname;

	rel = table_open(set->parent, AccessShareLock);
	set->nspname = get_namespace_name(RelationGetNamespace(rel));
	set->relname = pstrdup(RelationGetRelationName(rel));

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned", set->relname),
				 errhint("Create it with PARTITION BY RANGE (%s).",
						 set->control ? set->control : "column")));
	key = RelationGetPartitionKey(rel);
	if (get_partition_strategy(key) != PARTITION_STRATEGY_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned by range", set->relname),
				 errdetail("pg_steward manages RANGE partitioning; list and hash partitioning are not supported.")));
	if (get_partition_natts(key) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has a multi-column partition key", set->relname),
				 errdetail("pg_steward manages sets partitioned on a single column.")));
	if (get_partition_col_attnum(key, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is partitioned on an expression", set->relname),
				 errdetail("pg_steward manages sets partitioned on a plain column.")));
	colname = get_attname(set->parent, get_partition_col_attnum(key, 0), false);
	if (strcmp(colname, set->control) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is partitioned on column \"%s\", not \"%s\"",
						set->relname, colname, set->control)));
	set->typid = get_partition_col_typid(key, 0);
	switch (set->typid)
	{
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			set->is_time = true;
			break;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			set->is_time = false;
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("control column \"%s\" has unsupported type %s",
							set->control, format_type_be(set->typid)),
					 errhint("Supported types are timestamptz, timestamp, date, smallint, integer and bigint.")));
	}
	table_close(rel, NoLock);
}

/* Validate everything after the parent is described. */
static void
part_validate(PartSet *set)
{
	part_parse_step(set);
	if (set->premake < 1 || set->premake > PART_MAX_PREMAKE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("premake must be between 1 and %d", PART_MAX_PREMAKE)));
	set->tz = cron_lookup_timezone(set->timezone);
	part_check_mode(set->retention_mode);
	part_parse_retention(set);
	part_check_retention_schema(set);
	if (set->name_template == NULL)
		set->name_template = part_default_template(set);
	if (strstr(set->name_template, "{parent}") == NULL &&
		strchr(set->name_template, '{') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name_template \"%s\" has no tokens", set->name_template),
				 errhint("Use tokens such as {parent}, {YYYY}, {MM}, {DD}, {HH}, {MI} and {start}.")));
	if (strchr(set->name_template, '{') != NULL &&
		strchr(strrchr(set->name_template, '{'), '}') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name_template \"%s\" has an unclosed \"{\"", set->name_template)));
	/* unknown tokens fail here; two periods must not share a name */
	{
		int64		p0 = part_floor(set, 0);
		int64		p1 = part_next(set, p0);

		if (strcmp(part_expand_template(set, "p", p0),
				   part_expand_template(set, "p", p1)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("name_template \"%s\" gives consecutive partitions the same name",
							set->name_template),
					 errhint("Include tokens that change with every step, such as {start}, or {YYYY}{MM}{DD} for daily sets.")));
	}
}

#define PART_SET_COLUMNS \
	"SELECT s.parent::pg_catalog.oid, s.control, s.step, s.premake, s.retention," \
	"       s.retention_mode, s.retention_schema, s.default_partition, s.name_template," \
	"       s.timezone, st.fingerprint, st.quiet_until, st.last_status" \
	"  FROM steward.partition_set s" \
	"  LEFT JOIN steward.partition_state st ON st.parent = s.parent"

/* Fill 'set' from row 'i' of a PART_SET_COLUMNS result. */
static void
part_set_from_row(uint64 i, PartSet *set)
{
	bool		isnull;
	Datum		fp,
				quiet;
	char	   *status;

	memset(set, 0, sizeof(PartSet));
	set->parent = DatumGetObjectId(steward_spi_getdatum(i, 1, &isnull));
	set->control = steward_spi_gettext(i, 2);
	set->step = steward_spi_gettext(i, 3);
	set->premake = DatumGetInt32(steward_spi_getdatum(i, 4, &isnull));
	set->retention = steward_spi_gettext(i, 5);
	set->retention_mode = steward_spi_gettext(i, 6);
	set->retention_schema = steward_spi_gettext(i, 7);
	set->default_partition = DatumGetBool(steward_spi_getdatum(i, 8, &isnull));
	set->name_template = steward_spi_gettext(i, 9);
	set->timezone = steward_spi_gettext(i, 10);
	fp = steward_spi_getdatum(i, 11, &isnull);
	if (!isnull)
	{
		quiet = steward_spi_getdatum(i, 12, &isnull);
		status = steward_spi_gettext(i, 13);
		if (!isnull && status != NULL && strcmp(status, "ok") == 0)
		{
			set->has_quiet = true;
			set->fingerprint = DatumGetInt64(fp);
			set->quiet_until = DatumGetInt64(quiet);
		}
	}
}

/* Load a registered set (SPI connected). */
static bool
part_load_set(Oid parent, PartSet *set)
{
	Datum		arg = ObjectIdGetDatum(parent);

	steward_spi_exec(PART_SET_COLUMNS " WHERE s.parent::pg_catalog.oid = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, &arg, NULL);
	if (SPI_processed == 0)
		return false;
	part_set_from_row(0, set);
	return true;
}

/* ---------------------------------------------------------------------
 * Existing partitions
 * ---------------------------------------------------------------------
 */
static int
part_range_cmp(const ListCell *a, const ListCell *b)
{
	PartRange  *ra = lfirst(a);
	PartRange  *rb = lfirst(b);

	if (ra->is_default != rb->is_default)
		return ra->is_default ? 1 : -1;
	if (ra->lo_unbounded != rb->lo_unbounded)
		return ra->lo_unbounded ? -1 : 1;
	return (ra->lo > rb->lo) - (ra->lo < rb->lo);
}

/* Begin a scan of pg_inherits: the rows of 'relid' as parent, or as child. */
static SysScanDesc
part_inherits_begin(Oid relid, bool as_parent, Relation *inhrel)
{
	ScanKeyData key;

	*inhrel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, as_parent ? Anum_pg_inherits_inhparent : Anum_pg_inherits_inhrelid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	return systable_beginscan(*inhrel,
							  as_parent ? InheritsParentIndexId : InheritsRelidSeqnoIndexId,
							  true, NULL, 1, &key);
}

static void
part_inherits_end(SysScanDesc scan, Relation inhrel)
{
	systable_endscan(scan);
	table_close(inhrel, AccessShareLock);
}

/*
 * A relation's name, quoted and qualified with its own schema (never the
 * parent's: a partition may live in another schema), or NULL if it is gone.
 */
static char *
part_qualified_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		return NULL;
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
}

/*
 * The set's partitions with their bounds, sorted.  pg_inherits is read
 * directly so that partitions whose concurrent detach was interrupted are
 * seen too: they go to set->pending instead.
 */
static List *
part_existing(PartSet *set)
{
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	inhtup;
	List	   *ranges = NIL;
	Oid			owner = steward_rel_owner(set->parent);

	set->pending = NIL;
	scan = part_inherits_begin(set->parent, true, &inhrel);
	while ((inhtup = systable_getnext(scan)) != NULL)
	{
		Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(inhtup);
		Oid			child = inh->inhrelid;
		HeapTuple	tup;
		Form_pg_class form;
		Datum		d;
		bool		isnull;
		PartitionBoundSpec *spec;
		PartRange  *r;

		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(child));
		if (!HeapTupleIsValid(tup))
			continue;
		form = (Form_pg_class) GETSTRUCT(tup);

		/*
		 * Maintenance acts as the parent's owner; a partition of another
		 * role (say, after the parent changed hands) would run that role's
		 * triggers with the new owner's rights.
		 */
		if (form->relowner != owner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("partition %s of \"%s\" is owned by %s, not by the set's owner %s",
							quote_qualified_identifier(get_namespace_name(form->relnamespace),
													   NameStr(form->relname)),
							set->relname,
							quote_identifier(GetUserNameFromId(form->relowner, false)),
							quote_identifier(GetUserNameFromId(owner, false))),
					 errdetail("Maintenance acts with the rights of the partitioned table's owner."),
					 errhint("Give the partition to the set's owner with ALTER TABLE ... OWNER TO, or detach it.")));
		if (inh->inhdetachpending)
		{
			ReleaseSysCache(tup);
			set->pending = lappend_oid(set->pending, child);
			continue;
		}
		d = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);
		if (isnull)
		{
			ReleaseSysCache(tup);
			continue;
		}
		spec = (PartitionBoundSpec *) stringToNode(TextDatumGetCString(d));
		r = palloc0(sizeof(PartRange));
		r->relid = child;
		r->relname = pstrdup(NameStr(form->relname));
		r->qname = quote_qualified_identifier(get_namespace_name(form->relnamespace),
											  r->relname);
		r->is_default = spec->is_default;
		if (!spec->is_default)
		{
			PartitionRangeDatum *lo = linitial(spec->lowerdatums);
			PartitionRangeDatum *hi = linitial(spec->upperdatums);

			r->lo_unbounded = lo->kind != PARTITION_RANGE_DATUM_VALUE;
			r->hi_unbounded = hi->kind != PARTITION_RANGE_DATUM_VALUE;
			if (!r->lo_unbounded)
				r->lo = part_datum_to_point(set->typid, ((Const *) lo->value)->constvalue);
			if (!r->hi_unbounded)
				r->hi = part_datum_to_point(set->typid, ((Const *) hi->value)->constvalue);
			/* an id set's last partition ends at MAXVALUE: the type's end */
			else if (!set->is_time && hi->kind == PARTITION_RANGE_DATUM_MAXVALUE)
			{
				r->hi = part_type_max(set->typid);
				r->hi_unbounded = false;
			}
		}
		ReleaseSysCache(tup);
		ranges = lappend(ranges, r);
	}
	part_inherits_end(scan, inhrel);
	list_sort(ranges, part_range_cmp);
	return ranges;
}

static PartRange *
part_find_default(List *ranges)
{
	ListCell   *lc;

	foreach(lc, ranges)
		if (((PartRange *) lfirst(lc))->is_default)
			return lfirst(lc);
	return NULL;
}

/*
 * Existing partition covering [lo, hi): returns it if it has exactly these
 * bounds, NULL if nothing overlaps; sets *overlap to an overlapping
 * partition with other bounds.
 */
static PartRange *
part_match(List *ranges, int64 lo, int64 hi, PartRange **overlap)
{
	ListCell   *lc;

	*overlap = NULL;
	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);
		bool		before,
					after;

		if (r->is_default)
			continue;
		before = !r->hi_unbounded && r->hi <= lo;
		after = !r->lo_unbounded && r->lo >= hi;
		if (before || after)
			continue;
		if (!r->lo_unbounded && !r->hi_unbounded && r->lo == lo && r->hi == hi)
			return r;
		*overlap = r;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * Names
 * ---------------------------------------------------------------------
 */
static char *
part_expand_template(PartSet *set, const char *parent_part, int64 start)
{
	StringInfoData buf;
	const char *p;
	struct pg_tm tm = {0};

	if (set->is_time)
		part_point_to_tm(set, start, &tm);

	initStringInfo(&buf);
	for (p = set->name_template; *p; p++)
	{
		if (*p == '{')
		{
			const char *end = strchr(p, '}');

			if (end != NULL)
			{
				int			len = end - p - 1;
				const char *tok = p + 1;

#define TOKEN_IS(s) (len == (int) strlen(s) && strncmp(tok, s, len) == 0)
				if (TOKEN_IS("parent"))
					appendStringInfoString(&buf, parent_part);
				else if (TOKEN_IS("YYYY"))
					appendStringInfo(&buf, "%04d", tm.tm_year);
				else if (TOKEN_IS("MM"))
					appendStringInfo(&buf, "%02d", tm.tm_mon);
				else if (TOKEN_IS("DD"))
					appendStringInfo(&buf, "%02d", tm.tm_mday);
				else if (TOKEN_IS("HH"))
					appendStringInfo(&buf, "%02d", tm.tm_hour);
				else if (TOKEN_IS("MI"))
					appendStringInfo(&buf, "%02d", tm.tm_min);
				else if (TOKEN_IS("start"))
				{
					if (set->is_time)
						appendStringInfo(&buf, "%04d%02d%02d%02d%02d", tm.tm_year,
										 tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min);
					else
						appendStringInfo(&buf, INT64_FORMAT, start);
				}
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("unknown token \"{%.*s}\" in name_template", len, tok),
							 errhint("Tokens are {parent}, {YYYY}, {MM}, {DD}, {HH}, {MI} and {start}.")));
#undef TOKEN_IS
				p = end;
				continue;
			}
		}
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/*
 * Name of the partition starting at 'start' (or of the default partition
 * when 'is_default'): the parent's name is shortened so the result fits in
 * 63 bytes, and a numeric suffix avoids collisions with other relations.
 */
static char *
part_name(PartSet *set, int64 start, bool is_default)
{
	char	   *full;
	char	   *name;
	int			overflow;
	int			suffix = 0;
	Oid			nsp = get_namespace_oid(set->nspname, false);

	if (is_default)
		full = psprintf("%s_default", set->relname);
	else
		full = part_expand_template(set, set->relname, start);
	overflow = strlen(full) - PART_NAME_MAX;
	if (overflow > 0)
	{
		int			keep = strlen(set->relname) - overflow;
		char	   *parent_part;

		if (keep < 1)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("partition names from name_template \"%s\" are too long",
							set->name_template)));
		keep = pg_mbcliplen(set->relname, strlen(set->relname), keep);
		parent_part = pnstrdup(set->relname, keep);
		full = is_default ? psprintf("%s_default", parent_part) :
			part_expand_template(set, parent_part, start);
	}

	name = full;
	while (OidIsValid(get_relname_relid(name, nsp)))
	{
		char		sfx[16];
		int			room;

		snprintf(sfx, sizeof(sfx), "_%d", ++suffix);
		room = pg_mbcliplen(full, strlen(full), PART_NAME_MAX - (int) strlen(sfx));
		name = psprintf("%.*s%s", room, full, sfx);
	}
	return name;
}

/* ---------------------------------------------------------------------
 * Lock-aware DDL
 * ---------------------------------------------------------------------
 */

/*
 * Run fn(arg) in a subtransaction.  Returns NULL on success; on error the
 * subtransaction is rolled back and the error returned (in the caller's
 * memory context), so the caller decides whether to retry, report or
 * rethrow it.  SPI, if connected, stays usable.
 */
typedef void (*PartSubxactFn) (void *arg);

static ErrorData *
part_subxact(PartSubxactFn fn, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	/* a cancel or statement timeout stops everything, not just this step */
	if (steward_is_interrupt(edata))
		ReThrowError(edata);
	return edata;
}

static void
part_ddl_try(void *arg)
{
	int			level = steward_push_lock_timeout(steward_partition_lock_timeout);

	if (SPI_execute((const char *) arg, false, 0) < 0)
		elog(ERROR, "pg_steward: SPI_execute failed for \"%s\"", (const char *) arg);
	AtEOXact_GUC(true, level);
}

/*
 * Run one DDL statement under steward.partition_lock_timeout, retrying with
 * backoff when the lock is not granted in time.  Each try runs in its own
 * subtransaction.  SPI must be connected.
 */
static void
part_exec_ddl(const char *sql)
{
	int			attempt;

	for (attempt = 1;; attempt++)
	{
		ErrorData  *edata = part_subxact(part_ddl_try, (void *) sql);

		if (edata == NULL)
			return;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		/* say which statement waited: it names the tables */
		if (attempt >= PART_DDL_TRIES)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not get a lock within steward.partition_lock_timeout (%d ms, %d tries) for: %s",
							steward_partition_lock_timeout, attempt, sql),
					 errhint("Another session holds a conflicting lock; the next maintenance tries again.")));
		/* 100 ms, 200 ms, 400 ms */
		pg_usleep(100000L << (attempt - 1));
		CHECK_FOR_INTERRUPTS();
	}
}

typedef struct PartGrant
{
	char	   *privilege;
	char	   *grantee;		/* quoted, or PUBLIC */
	bool		grantable;
} PartGrant;

/* The parent's privileges, to be given to each new partition. */
static List *
part_grants(PartSet *set)
{
	List	   *grants = NIL;
	Datum		arg = ObjectIdGetDatum(set->parent);
	uint64		i;

	steward_spi_exec("SELECT a.privilege_type,"
					 "       CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
					 "            ELSE pg_catalog.quote_ident(r.rolname) END,"
					 "       a.is_grantable"
					 "  FROM pg_catalog.pg_class c,"
					 "       LATERAL pg_catalog.aclexplode(c.relacl) a"
					 "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
					 " WHERE c.oid = $1 AND a.grantee <> c.relowner",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, &arg, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		PartGrant  *g = palloc(sizeof(PartGrant));

		g->privilege = steward_spi_gettext(i, 1);
		g->grantee = steward_spi_gettext(i, 2);
		g->grantable = strcmp(steward_spi_gettext(i, 3), "t") == 0;
		grants = lappend(grants, g);
	}
	return grants;
}

/* Give a new partition the parent's owner and privileges. */
static void
part_copy_access(PartSet *set, const char *qname, List *grants)
{
	Oid			owner = steward_rel_owner(set->parent);
	ListCell   *lc;

	if (owner != GetUserId())
		part_exec_ddl(psprintf("ALTER TABLE %s OWNER TO %s", qname,
							   quote_identifier(GetUserNameFromId(owner, false))));
	foreach(lc, grants)
	{
		PartGrant  *g = lfirst(lc);

		part_exec_ddl(psprintf("GRANT %s ON %s TO %s%s", g->privilege, qname,
							   g->grantee, g->grantable ? " WITH GRANT OPTION" : ""));
	}
}

/*
 * Partitions are created by the set's owner (the current user here): say
 * so clearly when the owner may not create tables in the parent's schema.
 */
static void
part_check_create(PartSet *set)
{
	Oid			nsp = get_rel_namespace(set->parent);

	if (!steward_may_create_in(nsp, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("owner %s of table \"%s\" may not create partitions in schema \"%s\"",
						quote_identifier(GetUserNameFromId(GetUserId(), false)), set->relname,
						set->nspname),
				 errdetail("Partitions are created with the rights of the table's owner."),
				 errhint("GRANT CREATE ON SCHEMA %s TO %s;", quote_identifier(set->nspname),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

static char *
part_qparent(PartSet *set)
{
	return quote_qualified_identifier(set->nspname, set->relname);
}

static char *
part_bound(PartSet *set, int64 point, bool upper)
{
	/* the last id partition of a type reaches its end */
	if (upper && !set->is_time && point >= part_type_max(set->typid))
		return "MAXVALUE";
	return quote_literal_cstr(part_point_text(set, point));
}


/* Insertable columns of the parent, quoted and comma-separated. */
static char *
part_columns(PartSet *set)
{
	steward_spi_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum)"
					 "  FROM pg_catalog.pg_attribute"
					 " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(set->parent)}, NULL);
	return steward_spi_gettext(0, 1);
}

/*
 * Move the rows of the default partition 'qdef' that match 'cond' into the
 * (not yet attached) table 'qname', at most 'batch' rows per statement
 * (0 = all at once).  Returns the number of rows moved.
 */
static int64
part_move_rows(const char *qdef, const char *qname, const char *cond,
			   const char *cols, int batch)
{
	int64		moved = 0;

	for (;;)
	{
		uint64		n;

		if (batch > 0)
			steward_spi_exec(psprintf("WITH moved AS (DELETE FROM %s WHERE ctid = ANY (ARRAY("
									  " SELECT ctid FROM %s WHERE %s LIMIT %d)) RETURNING %s)"
									  " INSERT INTO %s (%s) SELECT %s FROM moved",
									  qdef, qdef, cond, batch, cols, qname, cols, cols),
							 SPI_OK_INSERT, 0, NULL, NULL, NULL);
		else
			steward_spi_exec(psprintf("WITH moved AS (DELETE FROM %s WHERE %s RETURNING %s)"
									  " INSERT INTO %s (%s) SELECT %s FROM moved",
									  qdef, cond, cols, qname, cols, cols),
							 SPI_OK_INSERT, 0, NULL, NULL, NULL);
		n = SPI_processed;
		moved += n;
		if (batch <= 0 || n < (uint64) batch)
			break;
	}
	return moved;
}

/* SQL condition selecting the values of [lo, hi) of the control column. */
static char *
part_range_cond(PartSet *set, int64 lo, int64 hi)
{
	const char *col = quote_identifier(set->control);
	char	   *upper = part_bound(set, hi, true);

	if (strcmp(upper, "MAXVALUE") == 0)
		return psprintf("%s >= %s", col, part_bound(set, lo, false));
	return psprintf("%s >= %s AND %s < %s", col, part_bound(set, lo, false), col, upper);
}

/*
 * Writers wait, instead of failing, while rows move out of the default
 * partition and a partition is attached next to it.  An INSERT that routed
 * a row to the default partition with the old partition bounds would fail
 * the default's new partition constraint once the attach commits; SHARE
 * ROW EXCLUSIVE on the parent alone (not its partitions) makes new writes
 * wait until the attach commits, then route to the new partition.  Readers
 * are not blocked.  Held until the end of the (sub)transaction, under the
 * lock timeout like all DDL.
 */
static void
part_lock_writers(const char *qparent)
{
	part_exec_ddl(psprintf("LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE", qparent));
}

/*
 * Create the missing partitions covering [from, to).  'attach' selects the
 * lock-friendly way for tables in use: the partition is created on its own,
 * given a CHECK constraint matching its bounds, and attached, which needs
 * only SHARE UPDATE EXCLUSIVE on the parent (CREATE TABLE ... PARTITION OF
 * needs ACCESS EXCLUSIVE).  Partitions that overlap a period with other
 * bounds are refused (error when 'strict', else reported in 'problems').
 */
static int
part_create_range(PartSet *set, List **ranges, int64 from, int64 to,
				  bool attach, bool strict, StringInfo problems, int64 *moved)
{
	PartRange  *def = part_find_default(*ranges);
	char	   *cols = NULL;
	List	   *grants = NIL;
	bool		have_grants = false;
	char	   *qparent = part_qparent(set);
	int			created = 0;
	int64		lo,
				hi;

	for (lo = from; lo < to; lo = hi)
	{
		PartRange  *overlap;
		PartRange  *r;
		char	   *name;
		char	   *qname;
		char	   *bounds;

		hi = part_next(set, lo);
		if (part_match(*ranges, lo, hi, &overlap) != NULL)
			continue;
		if (overlap != NULL)
		{
			if (strict)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("existing partition \"%s\" overlaps the period from %s to %s",
								overlap->relname, part_point_display(set, lo),
								part_point_display(set, hi)),
						 errdetail("Partitions made by hand are adopted only when their bounds match the set's periods."),
						 errhint("Detach or re-create \"%s\", or choose a step that matches it.",
								 overlap->relname)));
			appendStringInfo(problems, "%s%s overlaps %s..%s", problems->len ? "; " : "",
							 overlap->relname, part_point_display(set, lo),
							 part_point_display(set, hi));
			continue;
		}

		if (!have_grants)
		{
			part_check_create(set);
			grants = part_grants(set);
			have_grants = true;
			if (attach && def != NULL)
				part_lock_writers(qparent);
		}
		name = part_name(set, lo, false);
		qname = quote_qualified_identifier(set->nspname, name);
		bounds = psprintf("FROM (%s) TO (%s)", part_bound(set, lo, false), part_bound(set, hi, true));
		if (!attach)
		{
			part_exec_ddl(psprintf("CREATE TABLE %s PARTITION OF %s FOR VALUES %s",
								   qname, qparent, bounds));
			part_copy_access(set, qname, grants);
		}
		else
		{
			char	   *cond = part_range_cond(set, lo, hi);

			part_exec_ddl(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
								   " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)",
								   qname, qparent));

			/*
			 * Rows of this period that landed in the default partition would
			 * block the attach: move them into the new partition first.
			 */
			if (def != NULL &&
				!(set->has_excl && lo >= set->excl_lo && hi <= set->excl_hi))
			{
				if (cols == NULL)
					cols = part_columns(set);
				*moved += part_move_rows(def->qname, qname, cond, cols, 0);
			}
			part_exec_ddl(psprintf("ALTER TABLE %s ADD CONSTRAINT steward_partition_bound"
								   " CHECK (%s IS NOT NULL AND %s)",
								   qname, quote_identifier(set->control), cond));
			part_copy_access(set, qname, grants);
			part_exec_ddl(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES %s",
								   qparent, qname, bounds));
			part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT steward_partition_bound", qname));
		}

		r = palloc0(sizeof(PartRange));
		r->relname = name;
		r->qname = qname;
		r->relid = get_relname_relid(name, get_namespace_oid(set->nspname, false));
		r->lo = lo;
		r->hi = hi;
		*ranges = lappend(*ranges, r);
		created++;
	}
	return created;
}

static void
part_ensure_default(PartSet *set, List *ranges, bool *created)
{
	char	   *qname;

	*created = false;
	if (!set->default_partition || part_find_default(ranges) != NULL)
		return;
	qname = quote_qualified_identifier(set->nspname, part_name(set, 0, true));
	part_exec_ddl(psprintf("CREATE TABLE %s PARTITION OF %s DEFAULT", qname, part_qparent(set)));
	part_copy_access(set, qname, part_grants(set));
	*created = true;
}

/*
 * Finish concurrent detaches that were interrupted (cancelled, timed out,
 * crashed): the partition is already invisible to new queries, so only
 * FINALIZE is left.  It waits for older snapshots under the lock timeout.
 */
typedef struct PartFinalizeCall
{
	PartSet    *set;
	char	   *qname;
} PartFinalizeCall;

static void
part_finalize_try(void *arg)
{
	PartFinalizeCall *call = (PartFinalizeCall *) arg;

	part_exec_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE",
						   part_qparent(call->set), call->qname));
	if (call->set->retention_schema != NULL &&
		strcmp(call->set->retention_mode, "drop") != 0)
		part_exec_ddl(psprintf("ALTER TABLE %s SET SCHEMA %s", call->qname,
							   quote_identifier(call->set->retention_schema)));
}

/*
 * Returns the error of a detach that could not be finished (it waits for
 * older snapshots), or NULL; the rest of the maintenance goes on either way.
 */
static char *
part_finalize_pending(PartSet *set, PartResult *res)
{
	ListCell   *lc;
	char	   *failure = NULL;

	foreach(lc, set->pending)
	{
		PartFinalizeCall call;
		ErrorData  *edata;

		call.qname = part_qualified_name(lfirst_oid(lc));
		if (call.qname == NULL)
			continue;
		call.set = set;
		edata = part_subxact(part_finalize_try, &call);
		if (edata == NULL)
			res->detached++;
		else if (failure == NULL)
			failure = psprintf("could not finish the detach of %s: %s", call.qname, edata->message);
	}
	return failure;
}

/* Retire partitions entirely older than the retention. */
static void
part_retire(PartSet *set, List *ranges, int64 current, bool in_worker, PartResult *res)
{
	int64		cutoff;
	ListCell   *lc;
	char	   *qparent = part_qparent(set);
	bool		has_default = part_find_default(ranges) != NULL;
	int			blocking = 0;

	if (set->retention == NULL)
		return;
	cutoff = part_retention_cutoff(set, current);

	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);
		char	   *qname;
		bool		concurrently = strcmp(set->retention_mode, "detach_concurrently") == 0;

		if (r->is_default || r->hi_unbounded || r->hi > cutoff)
			continue;
		qname = r->qname;
		if (strcmp(set->retention_mode, "drop") == 0)
		{
			part_exec_ddl(psprintf("DROP TABLE %s", qname));
			res->dropped++;
		}
		else if (!concurrently || (in_worker && has_default))
		{
			/*
			 * PostgreSQL refuses DETACH ... CONCURRENTLY while the set has a
			 * default partition; the plain DETACH needs ACCESS EXCLUSIVE on
			 * the parent, but only for a catalog change, under the lock
			 * timeout.
			 */
			part_exec_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s", qparent, qname));
			if (set->retention_schema != NULL)
				part_exec_ddl(psprintf("ALTER TABLE %s SET SCHEMA %s", qname,
									   quote_identifier(set->retention_schema)));
			res->detached++;
			if (concurrently)
				blocking++;
		}
		else if (in_worker)
		{
			PartDetach *d = palloc0(sizeof(PartDetach));

			d->qparent = qparent;
			d->qname = qname;
			d->relid = r->relid;
			d->owner = GetUserId();
			if (set->retention_schema != NULL)
				d->qschema = pstrdup(quote_identifier(set->retention_schema));
			res->concurrent_detach = lappend(res->concurrent_detach, d);
		}
		else
		{
			res->message = "retention by DETACH ... CONCURRENTLY is left to the worker";
			res->deferred = true;
		}
	}
	if (blocking > 0)
		res->message = psprintf("detached %d partitions without CONCURRENTLY: PostgreSQL cannot detach concurrently while the set has a default partition",
								blocking);
}

/*
 * A fingerprint of the set: its configuration and its pg_inherits rows
 * (which change with every attach, detach, drop or pending detach).  While
 * it stays the same, the partitions are those the last maintenance left.
 */
static int64
part_fingerprint(PartSet *set)
{
	StringInfoData cfg;
	uint64		h;
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	tup;

	initStringInfo(&cfg);
	appendStringInfo(&cfg, "%s|%s|%d|%s|%s|%s|%d|%s|%s",
					 set->control, set->step, set->premake,
					 set->retention ? set->retention : "",
					 set->retention_mode, set->retention_schema ? set->retention_schema : "",
					 (int) set->default_partition, set->name_template ? set->name_template : "",
					 set->timezone);
	h = hash_bytes_extended((unsigned char *) cfg.data, cfg.len, 0);
	pfree(cfg.data);

	scan = part_inherits_begin(set->parent, true, &inhrel);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(tup);
		uint64		t;

		t = hash_bytes_uint32_extended(inh->inhrelid, HeapTupleHeaderGetXmin(tup->t_data));
		t = hash_bytes_uint32_extended((uint32) inh->inhdetachpending, t);
		h += t;					/* order does not matter */
	}
	part_inherits_end(scan, inhrel);
	return (int64) h;
}

/* The retention cutoff at 'current': partitions ending by it are retired. */
static int64
part_retention_cutoff(PartSet *set, int64 current)
{
	if (set->is_time)
		return part_add_calendar(set, current, -set->retention_iv.month,
								 -set->retention_iv.day, -set->retention_iv.time);
	return current - set->retention_id;
}

/*
 * After a maintenance that left nothing to do: the first point at which the
 * set may need work again, i.e. the next period start (premake moves on) or
 * the time the oldest partition falls out of the retention, whichever comes
 * first.  Until then, and while the fingerprint holds, maintenance is a
 * no-op without reading the partitions.  Time sets only: id sets depend on
 * their data.
 */
static void
part_note_quiet(PartSet *set, List *ranges, PartResult *res)
{
	int64		current = part_current_point(set);
	int64		quiet = part_next(set, part_floor(set, current));
	ListCell   *lc;

	if (!set->is_time || strcmp(res->status, "ok") != 0 ||
		res->concurrent_detach != NIL || res->deferred)
		return;
	if (set->retention != NULL)
	{
		int64		cutoff = part_retention_cutoff(set, current);
		bool		found = false;
		int64		oldest = 0;

		foreach(lc, ranges)
		{
			PartRange  *r = lfirst(lc);

			if (r->is_default || r->hi_unbounded || r->hi <= cutoff)
				continue;
			if (!found || r->hi < oldest)
				oldest = r->hi;
			found = true;
		}
		if (found)
		{
			int64		at = part_add_calendar(set, oldest, set->retention_iv.month,
											   set->retention_iv.day, set->retention_iv.time);

			quiet = Min(quiet, at);
		}
	}
	res->has_quiet = true;
	res->quiet_until = quiet;
	res->fingerprint = part_fingerprint(set);
}

/*
 * The window maintenance fills: from the current period to premake periods
 * ahead, and back to the newest partition if the set fell behind (after
 * downtime, or when data outran premake), whose rows would otherwise stay
 * in the default partition.
 */
static void
part_plan_window(PartSet *set, List *ranges, int64 *from, int64 *upto)
{
	int64		current = part_floor(set, part_current_point(set));
	int64		newest_hi = 0;
	bool		newest_hi_set = false;
	ListCell   *lc;
	int			i;

	*upto = current;
	for (i = 0; i <= set->premake; i++)
		*upto = part_next(set, *upto);

	*from = current;
	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);

		if (!r->is_default && !r->hi_unbounded && r->hi < *from &&
			part_floor(set, r->hi) == r->hi &&
			(newest_hi_set == false || r->hi > newest_hi))
		{
			newest_hi = r->hi;
			newest_hi_set = true;
		}
	}
	if (newest_hi_set)
	{
		bool		newer = false;

		foreach(lc, ranges)
		{
			PartRange  *r = lfirst(lc);

			if (!r->is_default && !r->lo_unbounded && r->lo >= newest_hi)
				newer = true;
		}
		if (!newer)
			*from = newest_hi;
	}
}

/*
 * Drop the default partition's exclusion constraint, once it served or when
 * an interrupted run left it behind (it would reject rows).
 */
static void
part_drop_exclusion(PartSet *set)
{
	Oid			defoid = get_default_partition_oid(set->parent);
	char	   *qdef;

	if (!OidIsValid(defoid) ||
		!OidIsValid(get_relation_constraint_oid(defoid, PART_EXCLUSION_NAME, true)))
		return;
	qdef = part_qualified_name(defoid);
	if (qdef == NULL)
		return;
	part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS " PART_EXCLUSION_NAME,
						   qdef));
}

/*
 * Maintain one set: create what is missing up to premake periods ahead,
 * then apply retention.  Runs in the caller's (sub)transaction.
 */
static void
part_maintain_one(PartSet *set, bool in_worker, PartResult *res)
{
	List	   *ranges;
	int64		upto;
	int64		from;
	StringInfoData problems;
	bool		made_default;
	char	   *finalize_error;

	memset(res, 0, sizeof(PartResult));
	res->status = "ok";

	/* One maintainer per set; a second one skips instead of queueing. */
	if (!ConditionalLockRelationOid(set->parent, ShareUpdateExclusiveLock))
	{
		res->status = "skipped";
		res->message = "the set is locked: another session is maintaining it or holds a conflicting lock";
		return;
	}
	part_describe_parent(set);
	part_validate(set);

	/* Nothing can have changed since the last maintenance: done. */
	if (set->has_quiet && set->is_time &&
		part_current_point(set) < set->quiet_until &&
		part_fingerprint(set) == set->fingerprint)
	{
		res->has_quiet = true;
		res->fingerprint = set->fingerprint;
		res->quiet_until = set->quiet_until;
		return;
	}

	ranges = part_existing(set);
	finalize_error = part_finalize_pending(set, res);
	part_plan_window(set, ranges, &from, &upto);

	initStringInfo(&problems);
	res->created = part_create_range(set, &ranges, from, upto, true, false, &problems,
									 &res->moved);
	part_ensure_default(set, ranges, &made_default);
	if (made_default)
		res->created++;
	part_retire(set, ranges, part_current_point(set), in_worker, res);
	part_drop_exclusion(set);
	if (problems.len > 0)
	{
		res->status = "failed";
		res->message = psprintf("overlapping partitions not managed by the set: %s", problems.data);
	}
	else if (finalize_error != NULL)
	{
		res->status = "failed";
		res->message = finalize_error;
	}
	else if (res->moved > 0 && res->message == NULL)
		res->message = psprintf("moved " INT64_FORMAT " rows from the default partition into new partitions",
								res->moved);
	part_note_quiet(set, ranges, res);
}

/* One set's outcome, to be written to steward.partition_state. */
typedef struct PartStateRow
{
	Oid			parent;
	char	   *status;
	char	   *message;
	bool		has_quiet;
	int64		fingerprint;
	int64		quiet_until;
} PartStateRow;

/* Write the outcomes of several sets in one statement (SPI connected). */
static void
part_save_states(List *rows)
{
	StewardCatalogAccess acc;
	int			n = list_length(rows);
	Datum	   *parents = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *messages = palloc(sizeof(Datum) * n);
	Datum	   *fps = palloc(sizeof(Datum) * n);
	Datum	   *quiets = palloc(sizeof(Datum) * n);
	bool	   *msgnulls = palloc(sizeof(bool) * n);
	bool	   *qnulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[5];
	ListCell   *lc;
	int			i = 0;

	if (n == 0)
		return;
	foreach(lc, rows)
	{
		PartStateRow *r = lfirst(lc);

		parents[i] = ObjectIdGetDatum(r->parent);
		statuses[i] = CStringGetTextDatum(r->status);
		msgnulls[i] = r->message == NULL;
		messages[i] = msgnulls[i] ? (Datum) 0 : CStringGetTextDatum(r->message);
		qnulls[i] = !r->has_quiet;
		fps[i] = Int64GetDatum(r->fingerprint);
		quiets[i] = Int64GetDatum(r->quiet_until);
		i++;
	}
	values[0] = PointerGetDatum(construct_md_array(parents, NULL, 1, dims, lbs, OIDOID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_md_array(statuses, NULL, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_md_array(messages, msgnulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(fps, qnulls, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_md_array(quiets, qnulls, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	steward_catalog_enter(&acc);
	steward_spi_exec("INSERT INTO steward.partition_state AS s"
					 " (parent, last_maintained_at, last_status, last_message, fingerprint, quiet_until,"
					 "  last_ok_at, skipped_runs)"
					 " SELECT u.parent::pg_catalog.regclass, pg_catalog.now(), u.status, u.message,"
					 "        u.fingerprint, u.quiet_until,"
					 "        CASE WHEN u.status = 'ok' THEN pg_catalog.now() END, 0"
					 "   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
					 "                   pg_catalog.unnest($4), pg_catalog.unnest($5))"
					 "        AS u(parent, status, message, fingerprint, quiet_until)"
					 " ON CONFLICT (parent) DO UPDATE SET"
					 "  last_maintained_at = EXCLUDED.last_maintained_at,"
					 "  last_status = EXCLUDED.last_status,"
					 "  last_message = EXCLUDED.last_message,"
					 "  fingerprint = EXCLUDED.fingerprint,"
					 "  quiet_until = EXCLUDED.quiet_until,"
					 "  last_ok_at = COALESCE(EXCLUDED.last_ok_at, s.last_ok_at),"
					 "  skipped_runs = 0",
					 SPI_OK_INSERT, 5,
					 (Oid[]) {OIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID},
					 values, NULL);
	steward_catalog_exit(&acc);
}

/*
 * Record that a set was skipped because another session held its lock,
 * unless that session is about to record its own outcome (it holds the
 * state row: SKIP LOCKED, so we never wait for it).  skipped_runs counts
 * the skips since the last completed maintenance.  SPI connected.
 */
static void
part_save_skipped(Oid parent, const char *message)
{
	StewardCatalogAccess acc;
	Datum		values[2];

	values[0] = ObjectIdGetDatum(parent);
	values[1] = CStringGetTextDatum(message);
	steward_catalog_enter(&acc);
	steward_spi_exec("WITH t AS (SELECT parent FROM steward.partition_state"
					 "            WHERE parent::pg_catalog.oid = $1 FOR UPDATE SKIP LOCKED)"
					 " UPDATE steward.partition_state s"
					 "    SET last_maintained_at = pg_catalog.now(), last_status = 'skipped',"
					 "        last_message = $2, skipped_runs = s.skipped_runs + 1"
					 "   FROM t WHERE s.parent = t.parent",
					 SPI_OK_UPDATE, 2, (Oid[]) {OIDOID, TEXTOID}, values, NULL);
	steward_catalog_exit(&acc);
}

static PartStateRow *
part_state_row(Oid parent, const char *status, const char *message, PartResult *res)
{
	PartStateRow *row = palloc0(sizeof(PartStateRow));

	row->parent = parent;
	row->status = pstrdup(status);
	row->message = message ? pstrdup(message) : NULL;
	if (res != NULL && res->has_quiet)
	{
		row->has_quiet = true;
		row->fingerprint = res->fingerprint;
		row->quiet_until = res->quiet_until;
	}
	return row;
}

static void
part_save_state(Oid parent, const char *status, const char *message, PartResult *res)
{
	part_save_states(list_make1(part_state_row(parent, status, message, res)));
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */
/* detach_concurrently cannot be concurrent while a default partition exists. */
static void
part_notice_detach_default(PartSet *set)
{
	if (set->retention_mode != NULL &&
		strcmp(set->retention_mode, "detach_concurrently") == 0 &&
		OidIsValid(get_default_partition_oid(set->parent)))
		ereport(NOTICE,
				(errmsg("partitions of \"%s\" will be detached without CONCURRENTLY while it has a default partition",
						set->relname),
				 errdetail("PostgreSQL refuses DETACH PARTITION ... CONCURRENTLY when a default partition exists; maintenance then uses a plain DETACH, which takes a brief ACCESS EXCLUSIVE lock on the parent under steward.partition_lock_timeout."),
				 errhint("Drop the default partition (or create the set with default_partition => false) to detach without blocking queries.")));
}
static char *
part_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Parse a user-given start value in the set's time zone. */
static int64
part_parse_start(PartSet *set, const char *text)
{
	Oid			typinput;
	Oid			typioparam;
	Datum		d;
	int			nest = NewGUCNestLevel();

	(void) set_config_option("TimeZone", set->timezone, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	getTypeInputInfo(set->typid, &typinput, &typioparam);
	d = OidInputFunctionCall(typinput, (char *) text, typioparam, -1);
	AtEOXact_GUC(true, nest);
	return part_datum_to_point(set->typid, d);
}

/*
 * steward.partition_table(parent, control, step, premake, start_at,
 *		retention, retention_mode, default_partition, name_template, timezone)
 */
Datum
steward_partition_table(PG_FUNCTION_ARGS)
{
	PartSet		set = {0};
	StewardCatalogAccess acc;
	StewardCatalogAccess owner;
	List	   *ranges;
	int64		start;
	int64		current;
	int64		upto;
	int			created;
	int			i;
	bool		made_default;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("parent, control and step must not be null")));
	set.parent = PG_GETARG_OID(0);
	set.control = part_text_arg(fcinfo, 1);
	set.step = part_text_arg(fcinfo, 2);
	set.premake = PG_ARGISNULL(3) ? 4 : PG_GETARG_INT32(3);
	set.retention = part_text_arg(fcinfo, 5);
	set.retention_mode = PG_ARGISNULL(6) ? "drop" : part_text_arg(fcinfo, 6);
	set.default_partition = PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7);
	set.name_template = part_text_arg(fcinfo, 8);
	set.timezone = PG_ARGISNULL(9) ? "UTC" : part_text_arg(fcinfo, 9);
	set.retention_schema = PG_NARGS() > 10 ? part_text_arg(fcinfo, 10) : NULL;

	/*
	 * Check privileges before touching the table, and describe it as its
	 * owner: building the partition key evaluates the owner's expressions.
	 */
	steward_require_table_owner(set.parent);
	steward_owner_enter(set.parent, &owner);
	part_describe_parent(&set);
	part_validate(&set);

	SPI_connect();
	steward_catalog_enter(&acc);
	steward_spi_exec("SELECT 1 FROM steward.partition_set WHERE parent::pg_catalog.oid = $1",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(set.parent)}, NULL);
	steward_catalog_exit(&acc);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already a partition set", set.relname),
				 errhint("Use steward.partition_alter() to change it.")));

	/* The set's tables are created under our own lock timeout. */
	LockRelationOid(set.parent, ShareUpdateExclusiveLock);

	current = part_floor(&set, part_current_point(&set));
	start = PG_ARGISNULL(4) ? current : part_floor(&set, part_parse_start(&set, part_text_arg(fcinfo, 4)));
	upto = Max(current, start);
	for (i = 0; i <= set.premake; i++)
		upto = part_next(&set, upto);

	ranges = part_existing(&set);
	created = part_create_range(&set, &ranges, start, upto, false, true, NULL, NULL);
	part_ensure_default(&set, ranges, &made_default);
	if (made_default)
		created++;

	steward_catalog_enter(&acc);
	{
		Datum		values[10];
		char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = ObjectIdGetDatum(set.parent);
		values[1] = CStringGetTextDatum(set.control);
		values[2] = CStringGetTextDatum(set.step);
		values[3] = Int32GetDatum(set.premake);
		if (set.retention)
			values[4] = CStringGetTextDatum(set.retention);
		else
			nulls[4] = 'n';
		values[5] = CStringGetTextDatum(set.retention_mode);
		values[6] = BoolGetDatum(set.default_partition);
		values[7] = CStringGetTextDatum(set.name_template);
		values[8] = CStringGetTextDatum(set.timezone);
		if (set.retention_schema)
			values[9] = CStringGetTextDatum(set.retention_schema);
		else
			nulls[9] = 'n';
		steward_spi_exec("INSERT INTO steward.partition_set"
						 " (parent, control, step, premake, retention, retention_mode,"
						 "  default_partition, name_template, timezone, retention_schema)"
						 " VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
						 SPI_OK_INSERT, 10,
						 (Oid[]) {OIDOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID},
						 values, nulls);
	}
	steward_catalog_exit(&acc);
	part_save_state(set.parent, "ok", psprintf("created %d partitions", created), NULL);
	steward_owner_exit(&owner);
	SPI_finish();
	part_notice_detach_default(&set);
	PG_RETURN_INT32(created);
}

/* Registered sets the caller may maintain (all for superusers). */
static List *
part_list_sets(Oid only)
{
	StewardCatalogAccess acc;
	List	   *oids = NIL;
	uint64		i;

	steward_catalog_enter(&acc);
	steward_spi_exec("SELECT parent::pg_catalog.oid FROM steward.partition_set"
					 " WHERE $1 = 0 OR parent::pg_catalog.oid = $1"
					 " ORDER BY parent::pg_catalog.text",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(only)}, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, DatumGetObjectId(steward_spi_getdatum(i, 1, &isnull)));
	}
	steward_catalog_exit(&acc);
	return oids;
}

/* The error for a table that is not a registered partition set. */
static void
part_not_a_set(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("table \"%s\" is not a partition set", get_rel_name(relid)),
			 errhint("Create one with steward.partition_table().")));
}

/* Load a registered set for an API call, or fail with a clear error. */
static void
part_load_or_error(Oid parent, PartSet *set)
{
	if (!part_load_visible(parent, set))
		part_not_a_set(parent);
}

/* Every registered set (or only one), configuration and state, in one query. */
static List *
part_load_sets(Oid only)
{
	StewardCatalogAccess acc;
	List	   *sets = NIL;
	uint64		i;

	steward_catalog_enter(&acc);
	steward_spi_exec(PART_SET_COLUMNS
					 " WHERE $1 = 0 OR s.parent::pg_catalog.oid = $1"
					 " ORDER BY s.parent::pg_catalog.text",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(only)}, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		PartSet    *set = palloc(sizeof(PartSet));

		part_set_from_row(i, set);
		sets = lappend(sets, set);
	}
	steward_catalog_exit(&acc);
	return sets;
}

static bool
part_load_visible(Oid parent, PartSet *set)
{
	StewardCatalogAccess acc;
	bool		found;

	steward_catalog_enter(&acc);
	found = part_load_set(parent, set);
	steward_catalog_exit(&acc);
	return found;
}

typedef struct PartMaintainCall
{
	PartSet    *set;
	PartResult *res;
} PartMaintainCall;

static void
part_maintain_try(void *arg)
{
	PartMaintainCall *call = (PartMaintainCall *) arg;
	StewardCatalogAccess owner;

	steward_require_table_owner(call->set->parent);
	steward_owner_enter(call->set->parent, &owner);
	part_maintain_one(call->set, false, call->res);
	steward_owner_exit(&owner);
}

/*
 * steward.partition_maintain(parent DEFAULT NULL) RETURNS TABLE(parent,
 *		created, detached, dropped, archived, status, message)
 * Each set in its own subtransaction: one failure is reported in its row.
 */
Datum
steward_partition_maintain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	List	   *sets;
	List	   *states = NIL;
	ListCell   *lc;

	steward_init_srf(fcinfo);
	/* a set of someone else's is neither maintained nor marked failed */
	if (OidIsValid(only))
		steward_require_table_owner(only);
	SPI_connect();
	sets = part_load_sets(only);
	if (OidIsValid(only) && sets == NIL)
		part_not_a_set(only);

	foreach(lc, sets)
	{
		PartSet    *set = lfirst(lc);
		Oid			parent = set->parent;
		PartResult	res = {0};
		PartMaintainCall call;
		ErrorData  *edata;
		Datum		values[7];
		bool		nulls[7] = {0};

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)))
			continue;
		if (!OidIsValid(only) && !steward_is_table_owner(parent))
			continue;

		call.set = set;
		call.res = &res;
		edata = part_subxact(part_maintain_try, &call);
		if (edata != NULL)
		{
			memset(&res, 0, sizeof(res));
			res.status = "failed";
			res.message = edata->message;
		}

		if (strcmp(res.status, "skipped") == 0)
			part_save_skipped(parent, res.message);
		else
			states = lappend(states, part_state_row(parent, res.status, res.message, &res));
		values[0] = ObjectIdGetDatum(parent);
		values[1] = Int32GetDatum(res.created);
		values[2] = Int32GetDatum(res.detached);
		values[3] = Int32GetDatum(res.dropped);
		values[4] = Int32GetDatum(res.archived);
		values[5] = CStringGetTextDatum(res.status);
		if (res.message)
			values[6] = CStringGetTextDatum(res.message);
		else
			nulls[6] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	part_save_states(states);
	SPI_finish();
	return (Datum) 0;
}

/*
 * steward.partition_alter(parent, premake, retention, retention_mode,
 *		name_template) RETURNS void; retention 'none' removes it.
 */
Datum
steward_partition_alter(PG_FUNCTION_ARGS)
{
	PartSet		set;
	StewardCatalogAccess acc;
	StewardCatalogAccess owner;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			parent;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("parent must not be null")));
	parent = PG_GETARG_OID(0);
	steward_require_table_owner(parent);
	SPI_connect();
	part_load_or_error(parent, &set);
	steward_owner_enter(parent, &owner);
	part_describe_parent(&set);
	steward_owner_exit(&owner);
	if (!PG_ARGISNULL(1))
		set.premake = PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(2))
	{
		set.retention = part_text_arg(fcinfo, 2);
		if (pg_strcasecmp(set.retention, "none") == 0)
			set.retention = NULL;
	}
	if (!PG_ARGISNULL(3))
		set.retention_mode = part_text_arg(fcinfo, 3);
	if (!PG_ARGISNULL(4))
		set.name_template = part_text_arg(fcinfo, 4);
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
	{
		set.retention_schema = part_text_arg(fcinfo, 5);
		if (pg_strcasecmp(set.retention_schema, "none") == 0)
			set.retention_schema = NULL;
	}
	part_validate(&set);

	values[0] = ObjectIdGetDatum(parent);
	values[1] = Int32GetDatum(set.premake);
	if (set.retention)
		values[2] = CStringGetTextDatum(set.retention);
	else
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(set.retention_mode);
	values[4] = CStringGetTextDatum(set.name_template);
	if (set.retention_schema)
		values[5] = CStringGetTextDatum(set.retention_schema);
	else
		nulls[5] = 'n';
	steward_catalog_enter(&acc);
	steward_spi_exec("UPDATE steward.partition_set SET premake = $2, retention = $3,"
					 " retention_mode = $4, name_template = $5, retention_schema = $6"
					 " WHERE parent::pg_catalog.oid = $1",
					 SPI_OK_UPDATE, 6, (Oid[]) {OIDOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
					 values, nulls);
	steward_catalog_exit(&acc);
	/* before SPI_finish(): the set's strings live in SPI memory */
	if (!PG_ARGISNULL(3))
		part_notice_detach_default(&set);
	SPI_finish();
	PG_RETURN_VOID();
}

/* steward.partition_forget(parent): stop managing a set; no table is touched. */
Datum
steward_partition_forget(PG_FUNCTION_ARGS)
{
	PartSet		set;
	StewardCatalogAccess acc;
	Oid			parent = PG_GETARG_OID(0);
	Datum		arg = ObjectIdGetDatum(parent);

	steward_require_table_owner(parent);
	SPI_connect();
	part_load_or_error(parent, &set);
	steward_catalog_enter(&acc);
	steward_spi_exec("DELETE FROM steward.partition_set WHERE parent::pg_catalog.oid = $1",
					 SPI_OK_DELETE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	steward_spi_exec("DELETE FROM steward.partition_state WHERE parent::pg_catalog.oid = $1",
					 SPI_OK_DELETE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	steward_catalog_exit(&acc);
	SPI_finish();
	PG_RETURN_VOID();
}

typedef struct PartInfoCall
{
	PartSet    *set;
	MemoryContext callcxt;		/* where the result values go */
	Datum		values[5];
	bool		nulls[5];
} PartInfoCall;

/* The shape of one set, as its owner (an id set's largest id is read). */
static void
part_info_try(void *arg)
{
	PartInfoCall *call = (PartInfoCall *) arg;
	PartSet    *set = call->set;
	List	   *ranges;
	ListCell   *lc;
	int64		current;
	int64		newest = 0;
	int64		oldest = 0;
	bool		any = false;
	int			count = 0;
	int			ahead = 0;
	PartRange  *def;
	HeapTuple	tup;
	MemoryContext old;
	StewardCatalogAccess owner;

	steward_owner_enter(set->parent, &owner);
	part_describe_parent(set);
	part_parse_step(set);
	set->tz = cron_lookup_timezone(set->timezone);
	ranges = part_existing(set);
	current = part_floor(set, part_current_point(set));
	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);

		if (r->is_default)
			continue;
		count++;
		if (!r->hi_unbounded && (!any || r->hi > newest))
			newest = r->hi;
		if (!r->lo_unbounded && (!any || r->lo < oldest))
			oldest = r->lo;
		if (!r->lo_unbounded && r->lo > current)
			ahead++;
		any = true;
	}
	steward_owner_exit(&owner);

	/* the result must outlive SPI_finish() */
	old = MemoryContextSwitchTo(call->callcxt);
	if (any)
	{
		call->values[0] = CStringGetTextDatum(part_point_display(set, newest));
		call->values[2] = CStringGetTextDatum(part_point_display(set, oldest));
	}
	else
		call->nulls[0] = call->nulls[2] = true;
	MemoryContextSwitchTo(old);
	call->values[1] = Int32GetDatum(ahead);
	call->values[3] = Int32GetDatum(count);
	def = part_find_default(ranges);
	tup = def ? SearchSysCache1(RELOID, ObjectIdGetDatum(def->relid)) : NULL;
	if (HeapTupleIsValid(tup))
	{
		float4		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;

		call->values[4] = Int64GetDatum(reltuples > 0 ? (int64) reltuples : 0);
		ReleaseSysCache(tup);
	}
	else
		call->nulls[4] = true;
}

/*
 * steward.partition_info(parent) RETURNS TABLE(premade_until text,
 *		periods_ahead int, oldest_bound text, partitions int,
 *		rows_in_default bigint): the live shape of a set, for the status view.
 * A set that cannot be read (a renamed column, a failing policy) gives a
 * row of NULLs and a warning, never an error for the whole view.
 */
Datum
steward_partition_info(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	PartSet		set;
	TupleDesc	tupdesc;
	PartInfoCall call = {0};
	ErrorData  *edata;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* only roles with the owner's privileges see a set's shape */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)) ||
		!steward_is_table_owner(parent))
		PG_RETURN_NULL();

	call.callcxt = CurrentMemoryContext;
	call.set = &set;
	SPI_connect();
	if (!part_load_visible(parent, &set))
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	edata = part_subxact(part_info_try, &call);
	SPI_finish();
	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not read partition set \"%s\": %s",
						get_rel_name(parent), edata->message)));
		PG_RETURN_NULL();
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, call.values, call.nulls)));
}

/*
 * Move the rows of the oldest period that has rows in the default partition
 * into a new partition for that period: a standalone table receives the
 * rows (DELETE ... RETURNING, 'batch' rows per statement), gets a CHECK
 * constraint matching its bounds and is attached.  A period is the unit of
 * atomicity: its rows move in one transaction, so readers never miss them.
 * Returns false when the default partition has no rows left to move.
 */
static bool
part_drain_period(PartSet *set, List **ranges, PartRange *def, int batch,
				  int64 *moved)
{
	char	   *qdef = def->qname;
	const char *col = quote_identifier(set->control);
	bool		isnull;
	Datum		d;
	int64		lo,
				hi;
	char	   *name;
	char	   *qname;
	char	   *cond;
	PartRange  *overlap;
	PartRange  *r;

	steward_spi_exec(psprintf("SELECT min(%s) FROM %s", col, qdef),
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	d = steward_spi_getdatum(0, 1, &isnull);
	if (isnull)
		return false;
	lo = part_floor(set, part_datum_to_point(set->typid, d));
	hi = part_next(set, lo);
	if (part_match(*ranges, lo, hi, &overlap) != NULL || overlap != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("cannot drain rows from %s to %s: a partition with other bounds overlaps",
						part_point_display(set, lo), part_point_display(set, hi))));

	name = part_name(set, lo, false);
	qname = quote_qualified_identifier(set->nspname, name);
	cond = part_range_cond(set, lo, hi);
	part_lock_writers(part_qparent(set));
	part_exec_ddl(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
						   " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)",
						   qname, part_qparent(set)));
	*moved += part_move_rows(qdef, qname, cond, part_columns(set), batch);
	part_exec_ddl(psprintf("ALTER TABLE %s ADD CONSTRAINT steward_partition_bound CHECK (%s IS NOT NULL AND %s)",
						   qname, col, cond));
	part_copy_access(set, qname, part_grants(set));
	part_exec_ddl(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
						   part_qparent(set), qname, part_bound(set, lo, false),
						   part_bound(set, hi, true)));
	part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT steward_partition_bound", qname));
	r = palloc0(sizeof(PartRange));
	r->relname = name;
	r->qname = qname;
	r->lo = lo;
	r->hi = hi;
	*ranges = lappend(*ranges, r);
	return true;
}

/*
 * steward.partition_drain_default(parent, batch_rows) RETURNS bigint
 * Moves rows of the default partition into proper partitions, creating
 * them, in the caller's transaction.  (The partition_maintenance job drains
 * default partitions too, one period per transaction.)
 */
Datum
steward_partition_drain_default(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	int			batch = PG_ARGISNULL(1) ? 10000 : PG_GETARG_INT32(1);
	PartSet		set;
	List	   *ranges;
	PartRange  *def;
	int64		moved = 0;
	StewardCatalogAccess owner;

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_rows must be positive")));
	steward_require_table_owner(parent);
	SPI_connect();
	part_load_or_error(parent, &set);
	steward_owner_enter(parent, &owner);
	part_describe_parent(&set);
	part_validate(&set);
	ranges = part_existing(&set);
	def = part_find_default(ranges);
	if (def != NULL)
		while (part_drain_period(&set, &ranges, def, batch, &moved))
			;
	steward_owner_exit(&owner);
	SPI_finish();
	PG_RETURN_INT64(moved);
}

/* ---------------------------------------------------------------------
 * Job kind 'partition_maintenance': every set in its own transaction
 * ---------------------------------------------------------------------
 */
/* Does the set's default partition hold rows that belong in a range? */
static bool
part_default_has_rows(PartSet *set)
{
	Oid			defoid = get_default_partition_oid(set->parent);
	Relation	rel;
	BlockNumber nblocks;

	if (!OidIsValid(defoid))
		return false;
	rel = table_open(defoid, AccessShareLock);
	nblocks = RelationGetNumberOfBlocks(rel);
	table_close(rel, AccessShareLock);
	if (nblocks == 0)
		return false;
	steward_spi_exec(psprintf("SELECT 1 FROM %s WHERE %s IS NOT NULL LIMIT 1",
							  part_qualified_name(defoid), quote_identifier(set->control)),
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	return SPI_processed > 0;
}

typedef struct PartAsOwnerCall
{
	Oid			parent;
	StewardXactFn fn;
	void	   *arg;
} PartAsOwnerCall;

static void
part_as_owner_tx(void *arg)
{
	PartAsOwnerCall *call = (PartAsOwnerCall *) arg;
	StewardCatalogAccess owner;

	/* a dropped set's fn only notices that it is gone */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(call->parent)))
	{
		call->fn(call->arg);
		return;
	}
	steward_owner_enter(call->parent, &owner);
	call->fn(call->arg);
	steward_owner_exit(&owner);
}

/*
 * Run fn(arg) in a transaction of its own as the owner of the set
 * 'parent' (steward_in_xact, steward_owner_enter).  Returns NULL once
 * committed, or the error (in 'mcxt').
 */
static ErrorData *
part_xact(Oid parent, StewardXactFn fn, void *arg, MemoryContext mcxt)
{
	PartAsOwnerCall call = {parent, fn, arg};

	return steward_in_xact(part_as_owner_tx, &call, mcxt);
}

/* Load a set for the worker and take the one-maintainer lock. */
static bool
part_worker_open(Oid parent, PartSet *set)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)) ||
		!part_load_visible(parent, set))
		return false;
	if (!ConditionalLockRelationOid(parent, ShareUpdateExclusiveLock))
		return false;
	part_describe_parent(set);
	part_validate(set);
	return true;
}

typedef struct PartExcludeCall
{
	Oid			parent;
	MemoryContext mcxt;
	char	   *name;			/* out: the parent's name, for messages */
	char	   *qdef;			/* out: the default partition, if excluded */
	int64		lo;
	int64		hi;
} PartExcludeCall;

static void
part_exclude_tx(void *arg)
{
	PartExcludeCall *call = (PartExcludeCall *) arg;
	PartSet		set;
	List	   *ranges;
	PartRange  *def;
	Relation	rel;
	int64		from,
				upto,
				lo,
				hi,
				next;
	bool		found = false;
	char	   *relname = get_rel_name(call->parent);

	call->name = MemoryContextStrdup(call->mcxt, relname ? relname : "?");
	if (!part_worker_open(call->parent, &set) || !set.is_time)
		return;
	/* a quiet set creates nothing */
	if (set.has_quiet && part_current_point(&set) < set.quiet_until &&
		part_fingerprint(&set) == set.fingerprint)
		return;
	ranges = part_existing(&set);
	def = part_find_default(ranges);
	if (def == NULL)
		return;
	rel = table_open(def->relid, AccessShareLock);
	if (RelationGetNumberOfBlocks(rel) < PART_DEFAULT_SCAN_BLOCKS)
	{
		table_close(rel, AccessShareLock);
		return;
	}
	table_close(rel, AccessShareLock);

	/* the periods after the current one that maintenance will create */
	next = part_next(&set, part_floor(&set, part_current_point(&set)));
	part_plan_window(&set, ranges, &from, &upto);
	for (lo = Max(from, next); lo < upto; lo = hi)
	{
		PartRange  *overlap;

		hi = part_next(&set, lo);
		if (part_match(ranges, lo, hi, &overlap) != NULL || overlap != NULL)
			continue;
		if (!found)
			call->lo = lo;
		call->hi = hi;
		found = true;
	}
	if (!found)
		return;
	call->qdef = MemoryContextStrdup(call->mcxt, def->qname);
	part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS " PART_EXCLUSION_NAME,
						   call->qdef));
	part_exec_ddl(psprintf("ALTER TABLE %s ADD CONSTRAINT " PART_EXCLUSION_NAME
						   " CHECK (NOT (%s)) NOT VALID",
						   call->qdef, part_range_cond(&set, call->lo, call->hi)));
}

static void
part_ddl_tx(void *arg)
{
	part_exec_ddl((const char *) arg);
}

/*
 * Drop the exclusion constraint of the default partition 'qdef' after the
 * attach it was made for did not happen.  While it stands, inserts of its
 * range fail, so it must go even when the lock that stopped the attach is
 * still held: keep trying, each try under the short lock timeout (readers
 * never queue behind us for long), for up to PART_EXCLUSION_DROP_SECS.  A
 * cancel ends the run; the next maintenance removes a leftover first.
 */
static void
part_drop_exclusion_persist(Oid parent, const char *qdef, MemoryContext mcxt)
{
	char	   *sql = psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS " PART_EXCLUSION_NAME,
							   qdef);
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													PART_EXCLUSION_DROP_SECS * 1000);
	ErrorData  *edata;

	while ((edata = part_xact(parent, part_ddl_tx, sql, mcxt)) != NULL)
	{
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE ||
			GetCurrentTimestamp() >= until)
		{
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("could not drop constraint " PART_EXCLUSION_NAME " of %s: %s",
							qdef, edata->message),
					 errdetail("Until it is dropped, rows of its range cannot be inserted."),
					 errhint("The next maintenance drops it; so does steward.partition_maintain().")));
			return;
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Before the worker creates partitions ahead in a set whose default
 * partition is large: exclude the new ranges from the default partition
 * with a CHECK constraint added NOT VALID (a brief lock) and validated in a
 * transaction of its own (SHARE UPDATE EXCLUSIVE: reads and writes go on).
 * The attach that follows then skips its scan of the default partition
 * under ACCESS EXCLUSIVE, as PostgreSQL's documentation recommends.  Only
 * periods after the current one are excluded; while the constraint stands,
 * a row of those periods could not land in the default partition.  Returns
 * true with the excluded range when the constraint is validated.
 */
static bool
part_exclude_ahead(Oid parent, MemoryContext mcxt, int64 *excl_lo, int64 *excl_hi,
				   char **qdef)
{
	PartExcludeCall call = {0};
	ErrorData  *edata;

	call.parent = parent;
	call.mcxt = mcxt;
	edata = part_xact(parent, part_exclude_tx, &call, mcxt);
	if (edata != NULL)
	{
		/* only an optimisation; maintenance reports a broken set itself */
		ereport(DEBUG1,
				(errmsg("pg_steward could not exclude new ranges from the default partition of \"%s\": %s",
						call.name ? call.name : "?", edata->message)));
		return false;
	}
	if (call.qdef == NULL)
		return false;

	/*
	 * Rows of those periods are there: drop the constraint (it would reject
	 * more of them); the attach moves them and scans as usual.
	 */
	if (part_xact(parent, part_ddl_tx,
				  psprintf("ALTER TABLE %s VALIDATE CONSTRAINT " PART_EXCLUSION_NAME, call.qdef),
				  mcxt) != NULL)
	{
		part_drop_exclusion_persist(parent, call.qdef, mcxt);
		return false;
	}
	*excl_lo = call.lo;
	*excl_hi = call.hi;
	*qdef = call.qdef;
	return true;
}

typedef struct PartStateCall
{
	Oid			parent;
	const char *status;
	const char *message;
} PartStateCall;

static void
part_save_state_tx(void *arg)
{
	PartStateCall *call = (PartStateCall *) arg;

	part_save_state(call->parent, call->status, call->message, NULL);
}

/* Record a set's outcome in its own transaction. */
static void
part_save_state_xact(Oid parent, const char *status, const char *message)
{
	PartStateCall call = {parent, status, message};
	ErrorData  *edata = steward_in_xact(part_save_state_tx, &call, CurrentMemoryContext);

	if (edata != NULL)
		ReThrowError(edata);
}

typedef struct PartKindCall
{
	Oid			parent;
	MemoryContext mcxt;
	bool		excl;
	int64		excl_lo;
	int64		excl_hi;
	PartResult *res;			/* out, in mcxt */
	List	   *detach;			/* out: PartDetach items, in mcxt */
	bool		drain;			/* out: the default partition has rows */
	char	   *name;			/* out: the parent's name */
} PartKindCall;

static void
part_kind_one_tx(void *arg)
{
	PartKindCall *call = (PartKindCall *) arg;
	PartResult *res = call->res;
	PartSet		set;
	char	   *relname = get_rel_name(call->parent);
	MemoryContext old;
	ListCell   *lc;

	call->name = MemoryContextStrdup(call->mcxt, relname ? relname : "(dropped table)");
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(call->parent)) ||
		!part_load_visible(call->parent, &set))
	{
		res->status = "gone";
		return;
	}
	set.has_excl = call->excl;
	set.excl_lo = call->excl_lo;
	set.excl_hi = call->excl_hi;
	part_maintain_one(&set, true, res);
	if (strcmp(res->status, "skipped") == 0)
		part_save_skipped(call->parent, res->message);
	else
	{
		part_drop_exclusion(&set);
		part_save_state(call->parent, res->status, res->message, res);
		call->drain = part_default_has_rows(&set);
	}

	old = MemoryContextSwitchTo(call->mcxt);
	foreach(lc, res->concurrent_detach)
	{
		PartDetach *src = lfirst(lc);
		PartDetach *d = palloc0(sizeof(PartDetach));

		d->qparent = pstrdup(src->qparent);
		d->qname = pstrdup(src->qname);
		d->relid = src->relid;
		d->owner = src->owner;
		d->qschema = src->qschema ? pstrdup(src->qschema) : NULL;
		call->detach = lappend(call->detach, d);
	}
	if (res->message)
		res->message = pstrdup(res->message);
	res->status = pstrdup(res->status);
	MemoryContextSwitchTo(old);
}

/*
 * Maintain one set in its own transaction; returns the error message of a
 * set that failed outright, or NULL.  Partitions to detach concurrently are
 * returned in *detach (allocated in 'mcxt'); *drain says whether the default
 * partition holds rows to drain.
 */
static char *
part_kind_one(Oid parent, MemoryContext mcxt, PartResult *res, List **detach,
			  bool *drain, char **name, bool excl, int64 excl_lo, int64 excl_hi)
{
	PartKindCall call = {0};
	ErrorData  *edata;

	memset(res, 0, sizeof(PartResult));
	call.parent = parent;
	call.mcxt = mcxt;
	call.excl = excl;
	call.excl_lo = excl_lo;
	call.excl_hi = excl_hi;
	call.res = res;
	edata = part_xact(parent, part_kind_one_tx, &call, mcxt);
	*detach = call.detach;
	*drain = call.drain;
	*name = call.name ? call.name : MemoryContextStrdup(mcxt, "(unknown table)");
	if (edata == NULL)
		return NULL;
	/* what the aborted transaction left in *res is gone with it */
	memset(res, 0, sizeof(PartResult));
	*detach = NIL;
	*drain = false;
	part_save_state_xact(parent, "failed", edata->message);
	return edata->message;
}

/*
 * Run one statement at top level, outside any transaction block, as
 * 'owner' in a security-restricted operation (like steward_owner_enter,
 * across the statement's own transactions) and under
 * steward.partition_lock_timeout, retrying with backoff while the lock is
 * not granted in time.  Returns NULL, or the error (in 'mcxt').
 */
static ErrorData *
part_toplevel_ddl(const char *sql, Oid owner, MemoryContext mcxt)
{
	char		ms[32];
	int			attempt;
	Oid			save_userid;
	int			save_sec_context;

	snprintf(ms, sizeof(ms), "%d", steward_partition_lock_timeout);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	for (attempt = 1;; attempt++)
	{
		ErrorData  *volatile edata = NULL;

		SetConfigOption("lock_timeout", ms, PGC_SUSET, PGC_S_SESSION);
		SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
		SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		MemoryContextSwitchTo(mcxt);
		PG_TRY();
		{
			steward_exec_toplevel(sql);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(mcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
		}
		PG_END_TRY();
		/* back to the runner's own user and settings */
		SetUserIdAndSecContext(save_userid, save_sec_context);
		SetConfigOption("lock_timeout", NULL, PGC_SUSET, PGC_S_SESSION);
		SetConfigOption("search_path", NULL, PGC_SUSET, PGC_S_SESSION);
		MemoryContextSwitchTo(mcxt);

		if (steward_is_interrupt(edata))
			ReThrowError(edata);
		if (edata == NULL || edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE ||
			attempt >= PART_DDL_TRIES)
			return edata;
		pg_usleep(100000L << (attempt - 1));
		CHECK_FOR_INTERRUPTS();
	}
}

/* Is the concurrent detach of this partition unfinished? */
static bool
part_detach_pending(Oid relid)
{
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		pending = false;

	StartTransactionCommand();
	scan = part_inherits_begin(relid, false, &inhrel);
	while ((tup = systable_getnext(scan)) != NULL)
		if (((Form_pg_inherits) GETSTRUCT(tup))->inhdetachpending)
			pending = true;
	part_inherits_end(scan, inhrel);
	CommitTransactionCommand();
	return pending;
}

/*
 * DETACH ... CONCURRENTLY runs outside any transaction block, in two
 * transactions of its own.  If it is interrupted after the first one (lock
 * timeout while waiting for older queries, cancel), the partition is left
 * pending: FINALIZE completes it, now or at the next maintenance.  Returns
 * an error message, or NULL.
 */
static char *
part_detach_concurrently(PartDetach *d, MemoryContext mcxt)
{
	ErrorData  *e;

	e = part_toplevel_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY",
								   d->qparent, d->qname), d->owner, mcxt);
	if (e != NULL && part_detach_pending(d->relid))
		e = part_toplevel_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE",
									   d->qparent, d->qname), d->owner, mcxt);
	if (e == NULL && d->qschema != NULL)
		e = part_toplevel_ddl(psprintf("ALTER TABLE %s SET SCHEMA %s", d->qname, d->qschema),
							  d->owner, mcxt);
	if (e == NULL)
		return NULL;
	return psprintf("detaching %s: %s", d->qname, e->message);
}

typedef struct PartDrainCall
{
	Oid			parent;
	int64	   *moved;
	bool		more;			/* out: another period may follow */
} PartDrainCall;

static void
part_drain_tx(void *arg)
{
	PartDrainCall *call = (PartDrainCall *) arg;
	PartSet		set;
	List	   *ranges;
	PartRange  *def;

	call->more = false;
	if (!part_worker_open(call->parent, &set))
		return;
	ranges = part_existing(&set);
	def = part_find_default(ranges);
	if (def != NULL)
		call->more = part_drain_period(&set, &ranges, def, PART_DRAIN_BATCH, call->moved);
}

/*
 * Drain the default partition, one period per transaction, so that no
 * transaction holds locks or rows for long.  Returns an error message, or
 * NULL; *moved counts the rows moved.
 */
static char *
part_drain_worker(Oid parent, MemoryContext mcxt, int64 *moved)
{
	PartDrainCall call = {parent, moved, false};

	do
	{
		ErrorData  *edata = part_xact(parent, part_drain_tx, &call, mcxt);

		if (edata != NULL)
			return psprintf("draining the default partition: %s", edata->message);
		CHECK_FOR_INTERRUPTS();
	} while (call.more);
	return NULL;
}

static void
part_kind_maintenance(StewardJobContext *ctx)
{
	List	   *sets;
	ListCell   *lc;
	int			ok = 0,
				failed = 0,
				skipped = 0,
				created = 0,
				dropped = 0,
				detached = 0;
	int64		drained = 0;
	StringInfoData failures;
	MemoryContext old;

	old = MemoryContextSwitchTo(ctx->mcxt);
	initStringInfo(&failures);
	MemoryContextSwitchTo(old);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	sets = part_list_sets(InvalidOid);
	old = MemoryContextSwitchTo(ctx->mcxt);
	sets = list_copy(sets);
	MemoryContextSwitchTo(old);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, sets)
	{
		Oid			parent = lfirst_oid(lc);
		PartResult	res;
		List	   *detach;
		bool		drain;
		ListCell   *dc;
		char	   *name;
		int64		excl_lo = 0,
					excl_hi = 0;
		char	   *qdef = NULL;
		bool		excl = part_exclude_ahead(parent, ctx->mcxt, &excl_lo, &excl_hi, &qdef);
		char	   *error = part_kind_one(parent, ctx->mcxt, &res, &detach, &drain, &name,
										  excl, excl_lo, excl_hi);

		/* the set's run failed or was skipped: the constraint must not stay */
		if (excl && (error != NULL || strcmp(res.status, "ok") != 0))
			part_drop_exclusion_persist(parent, qdef, ctx->mcxt);

		/* DETACH ... CONCURRENTLY, then draining: each in its own transactions */
		foreach(dc, detach)
		{
			if (error != NULL)
				break;
			error = part_detach_concurrently(lfirst(dc), ctx->mcxt);
			if (error == NULL)
				detached++;
		}
		if (error == NULL && drain)
			error = part_drain_worker(parent, ctx->mcxt, &drained);
		if (error != NULL && res.status != NULL && strcmp(res.status, "failed") != 0)
			part_save_state_xact(parent, "failed", error);

		old = MemoryContextSwitchTo(ctx->mcxt);
		if (error != NULL || strcmp(res.status, "failed") == 0)
		{
			failed++;
			appendStringInfo(&failures, "%s%s: %s", failures.len ? "; " : "",
							 name, error ? error : res.message);
		}
		else if (strcmp(res.status, "skipped") == 0)
			skipped++;
		else if (strcmp(res.status, "gone") != 0)
			ok++;
		MemoryContextSwitchTo(old);
		created += res.created;
		dropped += res.dropped;
		detached += res.detached;
	}

	old = MemoryContextSwitchTo(ctx->mcxt);
	ctx->message = psprintf("%d sets maintained, %d skipped: %d partitions created, %d dropped, %d detached, " INT64_FORMAT " rows drained",
							ok + failed, skipped, created, dropped, detached, drained);
	ctx->detail = psprintf("{\"sets\": %d, \"failed\": %d, \"skipped\": %d, \"created\": %d, \"dropped\": %d, \"detached\": %d, \"drained_rows\": " INT64_FORMAT "}",
						   ok + failed, failed, skipped, created, dropped, detached, drained);
	MemoryContextSwitchTo(old);
	if (failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%d of %d partition sets failed", failed, ok + failed),
				 errdetail("%s", failures.data),
				 errhint("steward.partition_status shows each set's last message.")));
}
