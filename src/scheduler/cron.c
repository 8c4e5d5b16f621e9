/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron and interval schedules: parsing and next-run computation.
 *
 * Accepted schedules:
 *
 *	- five cron fields "minute hour day-of-month month day-of-week".  Each
 *	  field is a comma-separated list of elements; an element is "*", "n"
 *	  or "a-b", optionally followed by a step "/n".  "a/n" means a up to
 *	  the field's maximum, by n.  Months may be given as JAN..DEC and
 *	  weekdays as SUN..SAT (case-insensitive, also in ranges).  Day-of-week
 *	  accepts 0-7, 0 and 7 both being Sunday; "*" and "a/n" there cover
 *	  0-6.  When both day fields are restricted (anything but a bare "*"),
 *	  a day matches if either matches.
 *	- the macros @yearly, @annually, @monthly, @weekly, @daily, @midnight
 *	  and @hourly.
 *	- a fixed interval "<n> seconds|minutes|hours|days" (singular units
 *	  too).  Intervals are absolute time: a day is always 86400 seconds.
 *
 * Cron fields are matched against the wall-clock time of a time zone.  The
 * time line is cut into segments of constant UTC offset (using the zone's
 * transition table through pg_next_dst_boundary), and within a segment the
 * wall clock advances with real time, so each segment is searched for the
 * first matching wall-clock minute with the usual calendar skipping
 * (months, then days, then hours, then minutes); nothing scans minute by
 * minute.  Daylight-saving transitions follow classic Vixie cron:
 *
 *	- wall-clock times skipped by a forward jump never occur.  If the hour
 *	  field is restricted, a schedule that would have fired inside the
 *	  skipped range fires once, at the transition instant (the first
 *	  instant after the gap); if the hour field is "*", those runs are
 *	  simply lost.
 *	- wall-clock times repeated after a backward jump: with a restricted
 *	  hour field only the first occurrence fires (the wall clock has to
 *	  climb back above the highest wall-clock time already reached, the
 *	  "high-water mark"); with "*" every occurrence fires.
 *
 * Nothing here assumes one-hour shifts (Australia/Lord_Howe shifts by 30
 * minutes, Pacific/Apia once skipped a whole day).  Offsets with seconds
 * (local mean time, before ~1900) are used as they are, so results in such
 * periods are not whole UTC minutes.
 *
 * test/cron_oracle.py checks all this against an independent brute-force
 * implementation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "scheduler/cron.h"
#include "core/guc.h"

/* Seconds between the Unix epoch (pg_time_t) and the PostgreSQL epoch */
#define CRON_EPOCH_DIFF_SECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/*
 * How far back from 'after' we replay zone transitions to learn the
 * wall-clock high-water mark; must exceed the largest backward jump of any
 * zone (24 hours, in 1867 Alaska).
 */
#define CRON_LOOKBACK_SECS		((int64) 7 * SECS_PER_DAY)

/*
 * Give up searching this far after 'after'.  A valid schedule fires at least
 * every 8 years (February 29th across a skipped century leap year).
 */
#define CRON_HORIZON_USECS		((int64) 50 * 366 * USECS_PER_DAY)

/* Largest count accepted by steward.next_runs() */
#define CRON_MAX_RUNS			100000

typedef struct CronField
{
	const char *name;			/* field name for error messages */
	int			min;			/* smallest value accepted */
	int			max;			/* largest value accepted */
	int			star_max;		/* upper end of "*" and "a/n" */
	const char *const *names;	/* three-letter names, or NULL */
	int			first_name;		/* value of names[0] */
} CronField;

static const char *const cron_month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const cron_day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

enum
{
	CRON_FIELD_MINUTE,
	CRON_FIELD_HOUR,
	CRON_FIELD_DOM,
	CRON_FIELD_MONTH,
	CRON_FIELD_DOW,
	CRON_NFIELDS
};

static const CronField cron_fields[CRON_NFIELDS] = {
	{"minute", 0, 59, 59, NULL, 0},
	{"hour", 0, 23, 23, NULL, 0},
	{"day-of-month", 1, 31, 31, NULL, 0},
	{"month", 1, 12, 12, cron_month_names, 1},
	{"day-of-week", 0, 7, 6, cron_day_names, 0},
};

typedef struct CronMacro
{
	const char *name;
	const char *fields;
} CronMacro;

static const CronMacro cron_macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
	{NULL, NULL}
};

typedef struct CronUnit
{
	const char *name;
	int64		usecs;
} CronUnit;

static const CronUnit cron_units[] = {
	{"second", USECS_PER_SEC},
	{"seconds", USECS_PER_SEC},
	{"minute", USECS_PER_MINUTE},
	{"minutes", USECS_PER_MINUTE},
	{"hour", USECS_PER_HOUR},
	{"hours", USECS_PER_HOUR},
	{"day", USECS_PER_DAY},
	{"days", USECS_PER_DAY},
	{NULL, 0}
};

/* Longest possible day-of-month of each month (February in leap years) */
static const int cron_month_max_days[13] = {
	0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
};

#define CRON_FORMS_HINT \
	"A schedule is five cron fields (minute hour day-of-month month " \
	"day-of-week), a macro (@yearly, @annually, @monthly, @weekly, @daily, " \
	"@midnight, @hourly) or an interval such as '5 minutes' (units: " \
	"seconds, minutes, hours, days)."

PGDLLEXPORT Datum steward_next_runs(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_check_schedule(PG_FUNCTION_ARGS);

PG_FUNCTION_INFO_V1(steward_next_runs);
PG_FUNCTION_INFO_V1(steward_check_schedule);

static void cron_schedule_error(const char *schedule, const char *hint,
								const char *fmt,...)
			pg_attribute_printf(3, 4) pg_attribute_noreturn();

/*
 * Report an invalid schedule: 'invalid schedule "<schedule>": <detail>'.
 */
static void
cron_schedule_error(const char *schedule, const char *hint,
					const char *fmt,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&detail, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid schedule \"%s\": %s", schedule, detail.data),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/*
 * Parse one value of a field (a number, or a name where the field has
 * names) at *p and advance *p past it.  Returns -1 if there is no value at
 * *p; a value out of range or an unknown name is reported here.
 */
static int
cron_parse_value(const char **p, const CronField *field, const char *schedule)
{
	const char *s = *p;
	const char *start = s;

	if (isdigit((unsigned char) *s))
	{
		int			value = 0;

		while (isdigit((unsigned char) *s))
		{
			/* saturate: anything this large is out of range anyway */
			if (value < 1000000)
				value = value * 10 + (*s - '0');
			s++;
		}
		if (value < field->min || value > field->max)
			cron_schedule_error(schedule, NULL,
								"%s field value %.*s is out of range (%d-%d)",
								field->name, (int) (s - start), start,
								field->min, field->max);
		*p = s;
		return value;
	}

	if (field->names != NULL && isalpha((unsigned char) *s))
	{
		int			i;

		while (isalpha((unsigned char) *s))
			s++;
		if (s - start == 3)
		{
			for (i = 0; field->names[i] != NULL; i++)
			{
				if (pg_strncasecmp(start, field->names[i], 3) == 0)
				{
					*p = s;
					return field->first_name + i;
				}
			}
		}
		cron_schedule_error(schedule, NULL,
							"%s field has invalid value \"%.*s\"",
							field->name, (int) (s - start), start);
	}

	return -1;
}

/*
 * Parse one element of a list ("*", "n", "a-b", with an optional "/step")
 * and return the bit set of the values it selects.
 */
static uint64
cron_parse_element(const char *elem, const CronField *field,
				   const char *schedule)
{
	const char *p = elem;
	int			lo;
	int			hi;
	int			step = 1;
	bool		is_range = false;
	uint64		bits = 0;
	int			v;

	if (*p == '*')
	{
		lo = field->min;
		hi = field->star_max;
		is_range = true;
		p++;
	}
	else
	{
		lo = cron_parse_value(&p, field, schedule);
		if (lo < 0)
			goto invalid;
		hi = lo;
		if (*p == '-')
		{
			p++;
			hi = cron_parse_value(&p, field, schedule);
			if (hi < 0)
				goto invalid;
			if (hi < lo)
				cron_schedule_error(schedule, NULL,
									"%s field range \"%.*s\" is reversed",
									field->name, (int) (p - elem), elem);
			is_range = true;
		}
	}

	if (*p == '/')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			goto invalid;
		step = 0;
		while (isdigit((unsigned char) *p))
		{
			if (step < 1000000)
				step = step * 10 + (*p - '0');
			p++;
		}
		if (step == 0)
			cron_schedule_error(schedule, NULL,
								"%s field step must be at least 1",
								field->name);
		/* "a/n" means from a up to the end of the field */
		if (!is_range)
			hi = Max(lo, field->star_max);
	}

	if (*p != '\0')
		goto invalid;

	for (v = lo; v <= hi; v += step)
		bits |= UINT64CONST(1) << v;
	return bits;

invalid:
	cron_schedule_error(schedule, NULL,
						"%s field has invalid value \"%s\"",
						field->name, elem);
}

/*
 * Parse a whole field (a comma-separated list of elements) into a bit set.
 */
static uint64
cron_parse_field(const char *text, const CronField *field,
				 const char *schedule)
{
	uint64		bits = 0;
	const char *p = text;

	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t		len = comma ? (size_t) (comma - p) : strlen(p);
		char	   *elem;

		if (len == 0)
			cron_schedule_error(schedule, NULL,
								"%s field \"%s\" has an empty list element",
								field->name, text);
		elem = pnstrdup(p, len);
		bits |= cron_parse_element(elem, field, schedule);
		pfree(elem);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return bits;
}

/*
 * Fill in *sched from five cron fields.  'schedule' is the original text,
 * for error messages.
 */
static void
cron_parse_fields(char **fields, CronSchedule *sched, const char *schedule)
{
	uint64		bits[CRON_NFIELDS];
	int			i;

	for (i = 0; i < CRON_NFIELDS; i++)
		bits[i] = cron_parse_field(fields[i], &cron_fields[i], schedule);

	/* day-of-week 7 is Sunday */
	if (bits[CRON_FIELD_DOW] & (UINT64CONST(1) << 7))
		bits[CRON_FIELD_DOW] = (bits[CRON_FIELD_DOW] & 0x7F) | 1;

	sched->kind = CRON_SCHEDULE_CRON;
	sched->interval_usecs = 0;
	sched->minutes = bits[CRON_FIELD_MINUTE];
	sched->hours = (uint32) bits[CRON_FIELD_HOUR];
	sched->days = (uint32) bits[CRON_FIELD_DOM];
	sched->months = (uint16) bits[CRON_FIELD_MONTH];
	sched->weekdays = (uint8) bits[CRON_FIELD_DOW];
	sched->hour_restricted = strcmp(fields[CRON_FIELD_HOUR], "*") != 0;
	sched->dom_restricted = strcmp(fields[CRON_FIELD_DOM], "*") != 0;
	sched->dow_restricted = strcmp(fields[CRON_FIELD_DOW], "*") != 0;

	/*
	 * Refuse schedules that can never fire: only possible when the
	 * day-of-month field alone decides, and none of its days exists in any
	 * of the chosen months.
	 */
	if (sched->dom_restricted && !sched->dow_restricted)
	{
		bool		possible = false;
		int			m;

		for (m = 1; m <= 12; m++)
		{
			uint64		month_days;

			if (!(sched->months & (1 << m)))
				continue;
			/* bits 1 .. max days of month m */
			month_days = (UINT64CONST(1) << (cron_month_max_days[m] + 1)) - 2;
			if (sched->days & month_days)
			{
				possible = true;
				break;
			}
		}
		if (!possible)
			cron_schedule_error(schedule, NULL,
								"day-of-month field never matches in the chosen months");
	}
}

/*
 * Parse an interval schedule "<n> <unit>".
 */
static void
cron_parse_interval(const char *count, const char *unit, CronSchedule *sched,
					const char *schedule)
{
	const CronUnit *u;
	const char *p = count;
	bool		negative = false;
	int64		n = 0;

	for (u = cron_units; u->name != NULL; u++)
	{
		if (pg_strcasecmp(unit, u->name) == 0)
			break;
	}
	if (u->name == NULL)
		cron_schedule_error(schedule,
							"Valid interval units are seconds, minutes, hours and days.",
							"unknown interval unit \"%s\"", unit);

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	if (*p == '\0')
		cron_schedule_error(schedule, NULL,
							"interval count \"%s\" is not an integer", count);
	for (; *p != '\0'; p++)
	{
		if (!isdigit((unsigned char) *p))
			cron_schedule_error(schedule, NULL,
								"interval count \"%s\" is not an integer",
								count);
		if (n > (PG_INT64_MAX / u->usecs - (*p - '0')) / 10)
			cron_schedule_error(schedule, NULL, "interval is out of range");
		n = n * 10 + (*p - '0');
	}
	if (negative || n == 0)
		cron_schedule_error(schedule, NULL, "interval must be positive");

	memset(sched, 0, sizeof(CronSchedule));
	sched->kind = CRON_SCHEDULE_INTERVAL;
	sched->interval_usecs = n * u->usecs;
}

static bool
cron_all_alpha(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
	{
		if (!isalpha((unsigned char) *s))
			return false;
	}
	return true;
}

/*
 * Split 'text' in place at white space; returns the number of tokens, of
 * which at most 'max' are stored.
 */
static int
cron_tokenize(char *text, char **tokens, int max)
{
	int			n = 0;
	char	   *p = text;

	for (;;)
	{
		while (*p != '\0' && isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		if (n < max)
			tokens[n] = p;
		n++;
		while (*p != '\0' && !isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		*p++ = '\0';
	}
	return n;
}

void
cron_parse(const char *text, CronSchedule *sched)
{
	char	   *copy = pstrdup(text);
	char	   *tokens[CRON_NFIELDS];
	int			ntokens;

	memset(sched, 0, sizeof(CronSchedule));
	ntokens = cron_tokenize(copy, tokens, CRON_NFIELDS);

	if (ntokens >= 1 && tokens[0][0] == '@')
	{
		const CronMacro *macro;

		if (ntokens > 1)
			cron_schedule_error(text, NULL,
								"macro \"%s\" cannot be followed by other fields",
								tokens[0]);
		for (macro = cron_macros; macro->name != NULL; macro++)
		{
			if (pg_strcasecmp(tokens[0], macro->name) == 0)
				break;
		}
		if (macro->name == NULL)
			cron_schedule_error(text,
								"Valid macros are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.",
								"unknown macro \"%s\"", tokens[0]);

		pfree(copy);
		copy = pstrdup(macro->fields);
		ntokens = cron_tokenize(copy, tokens, CRON_NFIELDS);
		Assert(ntokens == CRON_NFIELDS);
		cron_parse_fields(tokens, sched, text);
	}
	else if (ntokens == 2 && cron_all_alpha(tokens[1]))
		cron_parse_interval(tokens[0], tokens[1], sched, text);
	else if (ntokens != CRON_NFIELDS)
		cron_schedule_error(text, CRON_FORMS_HINT,
							"expected 5 fields, got %d", ntokens);
	else
		cron_parse_fields(tokens, sched, text);

	pfree(copy);
}

pg_tz *
cron_lookup_timezone(const char *name)
{
	pg_tz	   *tz = pg_tzset(name);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name)));
	if (!pg_tz_acceptable(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not supported", name),
				 errdetail("Time zones using leap seconds are not supported.")));
	return tz;
}

/*
 * Does a calendar day match the day-of-month / day-of-week fields?
 */
static inline bool
cron_day_matches(const CronSchedule *sched, int mday, int wday)
{
	bool		dom = (sched->days & ((uint32) 1 << mday)) != 0;
	bool		dow = (sched->weekdays & (1 << wday)) != 0;

	if (sched->dom_restricted && sched->dow_restricted)
		return dom || dow;
	if (sched->dom_restricted)
		return dom;
	if (sched->dow_restricted)
		return dow;
	return true;
}

/*
 * Find the first wall-clock minute matching the schedule that is >= 'from'
 * and < 'limit' (both naive local timestamps).  Returns false if there is
 * none.
 */
static bool
cron_next_wall_match(const CronSchedule *sched, Timestamp from,
					 Timestamp limit, Timestamp *result)
{
	int64		day;
	int64		rem;
	int			jd;
	int			hour;
	int			minute;
	int			year;
	int			month;
	int			mday;

	if (from >= limit)
		return false;
	if (from < MIN_TIMESTAMP)
		from = MIN_TIMESTAMP;
	if (sched->months == 0 || sched->hours == 0 || sched->minutes == 0)
		return false;

	/* split into day number and minute of day, rounding up to a minute */
	day = from / USECS_PER_DAY;
	rem = from % USECS_PER_DAY;
	if (rem < 0)
	{
		day--;
		rem += USECS_PER_DAY;
	}
	rem = (rem + USECS_PER_MINUTE - 1) / USECS_PER_MINUTE;
	if (rem >= MINS_PER_HOUR * HOURS_PER_DAY)
	{
		day++;
		rem = 0;
	}
	jd = (int) (day + POSTGRES_EPOCH_JDATE);
	hour = (int) (rem / MINS_PER_HOUR);
	minute = (int) (rem % MINS_PER_HOUR);

	for (;;)
	{
		Timestamp	day_start;
		uint32		hour_bits;
		uint64		minute_bits;

		day_start = (Timestamp) (jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
		if (day_start >= limit)
			return false;

		j2date(jd, &year, &month, &mday);

		if (!(sched->months & (1 << month)))
		{
			/* skip to the first day of the next chosen month */
			do
			{
				if (++month > MONTHS_PER_YEAR)
				{
					month = 1;
					year++;
				}
			} while (!(sched->months & (1 << month)));
			jd = date2j(year, month, 1);
			hour = minute = 0;
			continue;
		}

		if (!cron_day_matches(sched, mday, j2day(jd)))
		{
			jd++;
			hour = minute = 0;
			continue;
		}

		hour_bits = sched->hours & ~(((uint32) 1 << hour) - 1);
		if (hour_bits == 0)
		{
			jd++;
			hour = minute = 0;
			continue;
		}
		if (pg_rightmost_one_pos32(hour_bits) != hour)
		{
			hour = pg_rightmost_one_pos32(hour_bits);
			minute = 0;
		}

		minute_bits = sched->minutes & ~((UINT64CONST(1) << minute) - 1);
		if (minute_bits == 0)
		{
			minute = 0;
			if (++hour >= HOURS_PER_DAY)
			{
				jd++;
				hour = 0;
			}
			continue;
		}
		minute = pg_rightmost_one_pos64(minute_bits);

		*result = day_start +
			((int64) hour * MINS_PER_HOUR + minute) * USECS_PER_MINUTE;
		return *result < limit;
	}
}

static pg_time_t
cron_timestamptz_to_pgtime(TimestampTz t)
{
	int64		secs = t / USECS_PER_SEC;

	if (t % USECS_PER_SEC < 0)
		secs--;
	return (pg_time_t) (secs + CRON_EPOCH_DIFF_SECS);
}

/* Convert a zone boundary to TimestampTz, clamped to the valid range */
static TimestampTz
cron_pgtime_to_timestamptz(pg_time_t t)
{
	int64		secs = (int64) t - CRON_EPOCH_DIFF_SECS;

	if (secs >= END_TIMESTAMP / USECS_PER_SEC)
		return END_TIMESTAMP;
	if (secs <= MIN_TIMESTAMP / USECS_PER_SEC)
		return MIN_TIMESTAMP;
	return secs * USECS_PER_SEC;
}

/*
 * Next run of a cron schedule strictly after 'after', walking the segments
 * of constant UTC offset of 'tz' forward from the one containing 'after'.
 */
static TimestampTz
cron_next_cron(const CronSchedule *sched, TimestampTz after, pg_tz *tz)
{
	pg_time_t	probe;
	pg_time_t	after_secs = cron_timestamptz_to_pgtime(after);
	long		offset = 0;
	long		next_offset = 0;
	int			isdst;
	int			next_isdst;
	pg_time_t	boundary = 0;
	int			rc;
	TimestampTz seg_start;
	Timestamp	hwm;
	TimestampTz horizon;

	horizon = (after < END_TIMESTAMP - CRON_HORIZON_USECS) ?
		after + CRON_HORIZON_USECS : END_TIMESTAMP;

	/*
	 * Replay the transitions of the last few days to find the segment that
	 * contains 'after' and the highest wall-clock time reached before it.
	 */
	probe = after_secs - CRON_LOOKBACK_SECS;
	rc = pg_next_dst_boundary(&probe, &offset, &isdst, &boundary,
							  &next_offset, &next_isdst, tz);
	seg_start = cron_pgtime_to_timestamptz(probe);
	hwm = seg_start + (int64) offset * USECS_PER_SEC;
	while (rc == 1 && boundary <= after_secs)
	{
		TimestampTz b = cron_pgtime_to_timestamptz(boundary);

		hwm = Max(hwm, b + (int64) offset * USECS_PER_SEC);
		seg_start = b;
		probe = boundary;
		rc = pg_next_dst_boundary(&probe, &offset, &isdst, &boundary,
								  &next_offset, &next_isdst, tz);
	}

	for (;;)
	{
		int64		offset_usecs = (int64) offset * USECS_PER_SEC;
		TimestampTz seg_end;
		Timestamp	lower;
		Timestamp	wall;

		if (rc == 1)
			seg_end = Min(cron_pgtime_to_timestamptz(boundary), horizon);
		else
			seg_end = horizon;

		/*
		 * A forward jump into this segment skipped the wall-clock times from
		 * the high-water mark up to the segment's first wall-clock time.  With
		 * fixed hours, a match in there fires once, at the transition.
		 */
		if (sched->hour_restricted && seg_start > after &&
			cron_next_wall_match(sched, hwm, seg_start + offset_usecs, &wall))
			return seg_start;

		/* first matching wall-clock minute strictly after 'after' */
		lower = Max(after + offset_usecs + 1, seg_start + offset_usecs);
		if (sched->hour_restricted)
			lower = Max(lower, hwm);	/* repeated times fire only once */
		if (cron_next_wall_match(sched, lower, seg_end + offset_usecs, &wall))
			return wall - offset_usecs;

		if (rc != 1 || seg_end >= horizon)
			return DT_NOEND;

		/* on to the next segment */
		hwm = Max(hwm, seg_end + offset_usecs);
		seg_start = seg_end;
		probe = boundary;
		rc = pg_next_dst_boundary(&probe, &offset, &isdst, &boundary,
								  &next_offset, &next_isdst, tz);
		if (rc < 0)
			return DT_NOEND;
	}
}

TimestampTz
cron_next_after(const CronSchedule *sched, TimestampTz after, pg_tz *tz)
{
	TimestampTz result;

	if (TIMESTAMP_NOT_FINITE(after))
		return DT_NOEND;

	if (sched->kind == CRON_SCHEDULE_INTERVAL)
	{
		if (sched->interval_usecs <= 0 ||
			pg_add_s64_overflow(after, sched->interval_usecs, &result) ||
			!IS_VALID_TIMESTAMP(result))
			return DT_NOEND;
		return result;
	}

	result = cron_next_cron(sched, after, tz);
	if (!IS_VALID_TIMESTAMP(result))
		return DT_NOEND;
	return result;
}

/*
 * steward.next_runs(schedule text, after timestamptz, count int,
 *					 timezone text) RETURNS SETOF timestamptz
 *
 * The next 'count' runs of 'schedule' strictly after 'after', evaluated in
 * 'timezone' (NULL: the steward.timezone setting).  The function is not
 * STRICT so that a NULL time zone can select the default; a NULL schedule,
 * 'after' or count returns no rows.  'after' = infinity returns no rows,
 * -infinity is an error.
 */
typedef struct NextRunsState
{
	CronSchedule sched;
	pg_tz	   *tz;
	TimestampTz cursor;
	int			remaining;
} NextRunsState;

Datum
steward_next_runs(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	NextRunsState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		char	   *schedule;
		TimestampTz after;
		int32		count;
		const char *tzname;
		pg_tz	   *tz;
		CronSchedule sched;

		funcctx = SRF_FIRSTCALL_INIT();

		if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
			SRF_RETURN_DONE(funcctx);

		schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
		after = PG_GETARG_TIMESTAMPTZ(1);
		count = PG_GETARG_INT32(2);

		if (count < 0 || count > CRON_MAX_RUNS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("count %d is out of range (0-%d)",
							count, CRON_MAX_RUNS)));
		if (TIMESTAMP_IS_NOBEGIN(after))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"after\" must not be -infinity")));

		cron_parse(schedule, &sched);

		if (!PG_ARGISNULL(3))
			tzname = text_to_cstring(PG_GETARG_TEXT_PP(3));
		else if (steward_timezone != NULL)
			tzname = steward_timezone;
		else
			tzname = "UTC";
		tz = cron_lookup_timezone(tzname);

		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		state = (NextRunsState *) palloc(sizeof(NextRunsState));
		state->sched = sched;
		state->tz = tz;
		state->cursor = after;
		state->remaining = count;
		funcctx->user_fctx = state;
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (NextRunsState *) funcctx->user_fctx;

	if (state->remaining > 0)
	{
		TimestampTz next = cron_next_after(&state->sched, state->cursor,
										   state->tz);

		if (!TIMESTAMP_NOT_FINITE(next))
		{
			state->cursor = next;
			state->remaining--;
			SRF_RETURN_NEXT(funcctx, TimestampTzGetDatum(next));
		}
		state->remaining = 0;
	}

	SRF_RETURN_DONE(funcctx);
}

/*
 * steward.check_schedule(schedule text) RETURNS void
 *
 * Raises the parse error of an invalid schedule; does nothing otherwise.
 */
Datum
steward_check_schedule(PG_FUNCTION_ARGS)
{
	CronSchedule sched;

	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	PG_RETURN_VOID();
}
