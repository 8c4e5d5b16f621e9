/*-------------------------------------------------------------------------
 *
 * period.c
 *	  Period arithmetic of partition sets: values of the control column as
 *	  64-bit points, period starts in the set's time zone, steps and
 *	  retention parsed.
 *
 * Values of the control column are handled as 64-bit "points":
 * microseconds for time types (dates at midnight) and the value itself for
 * ids.  Periods of time sets are aligned to natural starts: steps in months
 * start on the 1st (3 months: quarters, 12 months: years), steps in days
 * start at midnight (7-day multiples on Monday), both in the set's time
 * zone and independent of the session's TimeZone; steps of hours or
 * minutes are absolute time, aligned to multiples of the step since the
 * epoch, so a daily set in Europe/Berlin has 23- and 25-hour days and an
 * hourly set is never cut by a daylight-saving gap.  Id sets end at their
 * type's largest value.
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "core/pg_steward.h"
#include "scheduler/cron.h"
#include "core/guc.h"
#include "scheduler/job_runner.h"
#include "core/spi_util.h"
#include "partition/partition.h"
#include "partition/partition_int.h"

static int64
part_floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

int64
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
void
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
int64
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
int64
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
int64
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

int64
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
char *
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
char *
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
int64
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

void
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
		/* with one unit (checked below), > 0 means no field is negative */
		steward_require_positive_interval(iv, "step");
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

void
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
