/*-------------------------------------------------------------------------
 *
 * maintain.c
 *	  Maintenance of one partition set: what to create, what to retire,
 *	  and the fast path for sets with nothing to do.
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

/* One field's share of the configuration's hash (NULL differs from ""). */
static inline uint64
part_hash_field(uint64 h, const char *value)
{
	if (value == NULL)
		return hash_bytes_uint32_extended(0xFFFFFFFF, h);
	return hash_bytes_extended((const unsigned char *) value, strlen(value), h);
}

/*
 * A fingerprint of the set: its configuration and its pg_inherits rows
 * (which change with every attach, detach, drop or pending detach).  While
 * it stays the same, the partitions are those the last maintenance left.
 * The configuration is hashed field by field, from the values stored in
 * steward.partition_set (validation changes none of them).  The seed
 * changes whenever the meaning of the stored state does: states stored by
 * earlier versions, whose quiet_until was a point of the control column
 * and not an instant (part_quiet_instant()), then never match and are
 * recomputed by the next maintenance.
 */
static int64
part_config_hash(PartSet *set)
{
	uint64		h = 0x5374657761726432;	/* "Steward2" */

	h = part_hash_field(h, set->control);
	h = part_hash_field(h, set->step);
	h = hash_bytes_uint32_extended((uint32) set->premake, h);
	h = part_hash_field(h, set->retention);
	h = part_hash_field(h, set->retention_mode);
	h = part_hash_field(h, set->retention_schema);
	h = hash_bytes_uint32_extended((uint32) set->default_partition, h);
	h = part_hash_field(h, set->name_template);
	h = part_hash_field(h, set->timezone);
	return (int64) h;
}

/* One pg_inherits row's share of its parent's fingerprint. */
static inline uint64
part_inherits_hash(HeapTuple tup)
{
	Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(tup);
	uint64		t;

	t = hash_bytes_uint32_extended(inh->inhrelid, HeapTupleHeaderGetXmin(tup->t_data));
	return hash_bytes_uint32_extended((uint32) inh->inhdetachpending, t);
}

int64
part_fingerprint(PartSet *set)
{
	uint64		h = (uint64) part_config_hash(set);
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	tup;

	scan = part_inherits_begin(set->parent, true, &inhrel);
	while ((tup = systable_getnext(scan)) != NULL)
		h += part_inherits_hash(tup);	/* order does not matter */
	part_inherits_end(scan, inhrel);
	return (int64) h;
}

/*
 * The pg_inherits shares of every parent, read in one scan for a loop over
 * many sets (part_prefetch_fingerprints()); NULL when there is none.  It
 * lives in the memory of the loop and goes with it.
 */
typedef struct PartInhSum
{
	Oid			parent;
	uint64		sum;
} PartInhSum;

static HTAB *part_inh_sums = NULL;

static void
part_forget_fingerprints(void *arg)
{
	part_inh_sums = NULL;
}

/*
 * Read pg_inherits once for the quiet checks of a loop over all sets, in
 * CurrentMemoryContext (forgotten when it is reset).  The sums are those of
 * the catalog snapshot of this moment: a set attached to by another session
 * meanwhile may be taken for quiet once more, and is looked at by the next
 * maintenance (its stored fingerprint stays the old one).  Sets changed by
 * this loop are fingerprinted afresh (part_note_quiet()).
 */
void
part_prefetch_fingerprints(void)
{
	HASHCTL		ctl = {0};
	MemoryContextCallback *cb;
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	tup;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PartInhSum);
	ctl.hcxt = CurrentMemoryContext;
	part_inh_sums = hash_create("pg_steward pg_inherits sums", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = part_forget_fingerprints;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	inhrel = table_open(InheritsRelationId, AccessShareLock);
	scan = systable_beginscan(inhrel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Oid			parent = ((Form_pg_inherits) GETSTRUCT(tup))->inhparent;
		bool		found;
		PartInhSum *e = hash_search(part_inh_sums, &parent, HASH_ENTER, &found);

		if (!found)
			e->sum = 0;
		e->sum += part_inherits_hash(tup);
	}
	systable_endscan(scan);
	table_close(inhrel, AccessShareLock);
}

/* The fingerprint for a quiet check: from the prefetched sums if there are. */
static int64
part_fingerprint_for_check(PartSet *set)
{
	PartInhSum *e;

	if (part_inh_sums == NULL)
		return part_fingerprint(set);
	e = hash_search(part_inh_sums, &set->parent, HASH_FIND, NULL);
	return (int64) ((uint64) part_config_hash(set) + (e ? e->sum : 0));
}

/* The retention cutoff at 'current': partitions ending by it are retired. */
int64
part_retention_cutoff(PartSet *set, int64 current)
{
	if (set->is_time)
		return part_add_calendar(set, current, -set->retention_iv.month,
								 -set->retention_iv.day, -set->retention_iv.time);
	return current - set->retention_id;
}

/*
 * The instant (UTC) from which the set's current point may reach 'point'.
 * For timestamptz columns they are the same.  Columns of type timestamp
 * and date hold the wall clock of the set's zone: the instant is 'point'
 * less the zone's offset, the largest of its offsets a day before, at and
 * a day after 'point', so that a daylight-saving change can only make the
 * instant earlier (the next maintenance then merely looks at the set once
 * more), never later.  Stored as quiet_until, it lets a quiet set be
 * recognised without describing its parent (part_quiet_fast()).
 */
static int64
part_quiet_instant(PartSet *set, int64 point)
{
	int64		maxoff = PG_INT64_MIN;
	int			k;

	if (set->typid == TIMESTAMPTZOID)
		return point;
	for (k = -1; k <= 1; k++)
	{
		TimestampTz at = point + k * USECS_PER_DAY;
		struct pg_tm tm;
		fsec_t		fsec;
		int			tzoff;
		Timestamp	local;

		if (timestamp2tm(at, &tzoff, &tm, &fsec, NULL, set->tz) != 0 ||
			tm2timestamp(&tm, fsec, NULL, &local) != 0)
			return PG_INT64_MIN;	/* out of range: never quiet */
		maxoff = Max(maxoff, local - at);
	}
	return point - maxoff;
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
	res->quiet_until = part_quiet_instant(set, quiet);
	res->fingerprint = part_fingerprint(set);
}

/*
 * The window maintenance fills: from the current period to premake periods
 * ahead, and back to the newest partition if the set fell behind (after
 * downtime, or when data outran premake), whose rows would otherwise stay
 * in the default partition.
 */
void
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
 * Is the set (locked, described and validated) still as the last
 * maintenance left it, with nothing due before its quiet_until?  Then
 * 'res' gets the outcome of a maintenance that has nothing to do, without
 * reading the partitions.
 */
bool
part_still_quiet(PartSet *set, PartResult *res)
{
	if (!set->has_quiet ||
		GetCurrentTransactionStartTimestamp() >= set->quiet_until ||
		part_fingerprint_for_check(set) != set->fingerprint)
		return false;
	res->has_quiet = true;
	res->fingerprint = set->fingerprint;
	res->quiet_until = set->quiet_until;
	return true;
}

/*
 * The same look for a set just loaded from the catalog, neither described
 * nor validated, as the caller (who has the owner's privileges): the
 * stored state, the configuration and the pg_inherits rows say everything
 * a quiet set needs, so a loop over thousands of sets opens none of them,
 * fills no catalog cache for them, switches to no owner and starts no
 * subtransaction.  What can change behind our back is covered: every
 * attach, detach, drop or pending detach of a partition changes the
 * pg_inherits rows, every partition_alter() the configuration, and the
 * time is compared with quiet_until.  What the fingerprint does not see
 * (a renamed control column, a retention_schema the owner may no longer
 * use) is found by the next maintenance with work to do, at quiet_until at
 * the latest; partition_status shows it at once.  A set another session is
 * maintaining (its lock taken) is not quiet here: the caller's full path
 * reports it skipped.  The lock is let go at once, so thousands of sets do
 * not fill the lock table.
 */
bool
part_quiet_fast(PartSet *set, PartResult *res)
{
	memset(res, 0, sizeof(PartResult));
	res->status = "ok";
	if (!part_still_quiet(set, res))
		return false;
	if (!ConditionalLockRelationOid(set->parent, ShareUpdateExclusiveLock))
		return false;
	UnlockRelationOid(set->parent, ShareUpdateExclusiveLock);
	return true;
}

/*
 * Maintain one set: create what is missing up to premake periods ahead,
 * then apply retention.  Runs in the caller's (sub)transaction.
 */
void
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
	part_describe_locked(set, true);
	part_validate(set);

	/* Nothing can have changed since the last maintenance: done. */
	if (part_still_quiet(set, res))
		return;

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
