/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Cron and interval schedules: parsing and next-run computation.
 *
 * A schedule is either five cron fields ("minute hour day-of-month month
 * day-of-week"), a macro such as "@daily", or a fixed interval such as
 * "5 minutes".  Cron fields are evaluated in the local time of a time zone;
 * see cron.c for the exact handling of daylight-saving transitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_CRON_H
#define STEWARD_CRON_H

#include "postgres.h"

#include "pgtime.h"
#include "datatype/timestamp.h"

typedef enum CronScheduleKind
{
	CRON_SCHEDULE_CRON,
	CRON_SCHEDULE_INTERVAL
} CronScheduleKind;

typedef struct CronSchedule
{
	CronScheduleKind kind;
	int64		interval_usecs; /* CRON_SCHEDULE_INTERVAL only */
	uint64		minutes;		/* bit i = minute i (0..59) */
	uint32		hours;			/* bit i = hour i (0..23) */
	uint32		days;			/* bit i = day-of-month i (1..31) */
	uint16		months;			/* bit i = month i (1..12) */
	uint8		weekdays;		/* bit i = weekday i, 0 = Sunday .. 6 */
	bool		dom_restricted; /* day-of-month field was not '*' */
	bool		dow_restricted; /* day-of-week field was not '*' */
	bool		hour_restricted;	/* hour field was not '*' */
} CronSchedule;

/* Parse 'text' into *sched; ereport(ERROR) on bad input. */
extern void cron_parse(const char *text, CronSchedule *sched);

/* Look up a time zone by name; ereport(ERROR) if it is unknown. */
extern pg_tz *cron_lookup_timezone(const char *name);

/*
 * First run instant strictly after 'after'.  Returns DT_NOEND if there is
 * none within the representable range (or 'after' is not finite).
 */
extern TimestampTz cron_next_after(const CronSchedule *sched,
								   TimestampTz after, pg_tz *tz);

#endif							/* STEWARD_CRON_H */
