/*-------------------------------------------------------------------------
 *
 * partition_int.h
 *	  What the files of src/partition/ share: a set, its partitions, the
 *	  outcome of a maintenance, and the functions one file offers another.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_PARTITION_INT_H
#define STEWARD_PARTITION_INT_H

#include "postgres.h"

#include "access/genam.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/relcache.h"

#include "core/spi_util.h"

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
	int64		quiet_until;	/* an instant: see part_quiet_instant() */
	bool		state_plain;	/* the stored outcome is 'ok', no message,
								 * no skips: a quiet look need not write it */
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

/* period.c */
extern int64 part_datum_to_point(Oid typid, Datum d);
extern void part_point_to_tm(PartSet *set, int64 point, struct pg_tm *tm);
extern int64 part_add_calendar(PartSet *set, int64 point, int months, int days, int64 usecs);
extern int64 part_floor(PartSet *set, int64 point);
extern int64 part_type_max(Oid typid);
extern int64 part_next(PartSet *set, int64 start);
extern char *part_point_text(PartSet *set, int64 point);
extern char *part_point_display(PartSet *set, int64 point);
extern int64 part_current_point(PartSet *set);
extern void part_parse_step(PartSet *set);
extern void part_parse_retention(PartSet *set);

/* catalog.c */
extern void part_describe_parent(PartSet *set);
extern void part_describe_locked(PartSet *set, bool locked);
extern void part_validate(PartSet *set);
extern SysScanDesc part_inherits_begin(Oid relid, bool as_parent, Relation *inhrel);
extern void part_inherits_end(SysScanDesc scan, Relation inhrel);
extern char *part_qualified_name(Oid relid);
extern List *part_existing(PartSet *set);
extern PartRange *part_find_default(List *ranges);
extern PartRange *part_match(List *ranges, int64 lo, int64 hi, PartRange **overlap);
extern char *part_name(PartSet *set, int64 start, bool is_default);
extern void part_save_states(List *rows);
extern void part_save_skipped(Oid parent, const char *message);
extern bool part_sweep_available(void);
extern void part_save_sweep(Oid runner);
extern PartStateRow *part_state_row(Oid parent, const char *status, const char *message, PartResult *res);
extern void part_save_state(Oid parent, const char *status, const char *message, PartResult *res);
extern List *part_list_sets(Oid only);
extern void part_not_a_set(Oid relid);
extern void part_load_or_error(Oid parent, PartSet *set);
extern List *part_load_sets(Oid only);
extern bool part_load_visible(Oid parent, PartSet *set);

/* ddl.c */
extern void part_exec_ddl(const char *sql);
extern char *part_range_cond(PartSet *set, int64 lo, int64 hi);
extern int part_create_range(PartSet *set, List **ranges, int64 from, int64 to,
				  bool attach, bool strict, StringInfo problems, int64 *moved);
extern void part_ensure_default(PartSet *set, List *ranges, bool *created);
extern char *part_finalize_pending(PartSet *set, PartResult *res);
extern void part_retire(PartSet *set, List *ranges, int64 current, bool in_worker, PartResult *res);
extern void part_drop_exclusion(PartSet *set);
extern bool part_drain_period(PartSet *set, List **ranges, PartRange *def, int batch,
				  int64 *moved);

/* maintain.c */
extern int64 part_fingerprint(PartSet *set);
extern void part_prefetch_fingerprints(void);
extern int64 part_retention_cutoff(PartSet *set, int64 current);
extern void part_plan_window(PartSet *set, List *ranges, int64 *from, int64 *upto);
extern bool part_still_quiet(PartSet *set, PartResult *res);
extern bool part_quiet_fast(PartSet *set, PartResult *res);
extern void part_maintain_one(PartSet *set, bool in_worker, PartResult *res);

#endif							/* STEWARD_PARTITION_INT_H */
