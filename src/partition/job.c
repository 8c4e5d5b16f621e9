/*-------------------------------------------------------------------------
 *
 * job.c
 *	  The partition_maintenance job kind: every set in its own transactions,
 *	  detaches done concurrently, default partitions drained.
 *
 * Every transaction on a set runs as the set's owner (part_xact); so do
 * the top-level statements (DETACH ... CONCURRENTLY) between them.
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
#include "core/json.h"
#include "scheduler/job_runner.h"
#include "core/spi_util.h"
#include "partition/partition.h"
#include "partition/partition_int.h"

static void part_kind_maintenance(StewardJobContext *ctx);

static const StewardJobKind part_job_kind = {
	.name = "partition_maintenance",
	.main = part_kind_maintenance,
	.validate = NULL,
	.takes_command = false,
	.description = "creates partitions ahead and applies retention to every partition set"
};

void
steward_partition_init(void)
{
	steward_register_job_kind(&part_job_kind);
}

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
	part_describe_locked(set, true);
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
	if (set.has_quiet && GetCurrentTransactionStartTimestamp() < set.quiet_until &&
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

typedef struct PartToplevelCall
{
	const char *sql;
	Oid			owner;
	MemoryContext mcxt;
} PartToplevelCall;

/*
 * One try of part_toplevel_ddl().  The statement commits transactions of
 * its own, so lock_timeout and search_path are set for the session and the
 * user is switched outside them; all three are restored after the try (and
 * after the abort of a failed one).
 */
static ErrorData *
part_toplevel_try(void *arg)
{
	PartToplevelCall *call = (PartToplevelCall *) arg;
	ErrorData  *volatile edata = NULL;
	char		ms[32];
	Oid			save_userid;
	int			save_sec_context;

	snprintf(ms, sizeof(ms), "%d", steward_partition_lock_timeout);
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetConfigOption("lock_timeout", ms, PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("search_path", STEWARD_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
	SetUserIdAndSecContext(call->owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	MemoryContextSwitchTo(call->mcxt);
	PG_TRY();
	{
		steward_exec_toplevel(call->sql);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(call->mcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();
	/* back to the runner's own user and settings */
	SetUserIdAndSecContext(save_userid, save_sec_context);
	SetConfigOption("lock_timeout", NULL, PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("search_path", NULL, PGC_SUSET, PGC_S_SESSION);
	MemoryContextSwitchTo(call->mcxt);

	if (steward_is_interrupt(edata))
		ReThrowError(edata);
	return edata;
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
	PartToplevelCall call = {sql, owner, mcxt};

	return steward_retry_attempts_on_lock_timeout(part_toplevel_try, &call,
												  PART_DDL_TRIES, NULL);
}

typedef struct PartPendingCall
{
	Oid			relid;
	bool		pending;		/* out */
} PartPendingCall;
static void
part_detach_pending_tx(void *arg)
{
	PartPendingCall *call = (PartPendingCall *) arg;
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	tup;

	scan = part_inherits_begin(call->relid, false, &inhrel);
	while ((tup = systable_getnext(scan)) != NULL)
		if (((Form_pg_inherits) GETSTRUCT(tup))->inhdetachpending)
			call->pending = true;
	part_inherits_end(scan, inhrel);
}

/* Is the concurrent detach of this partition unfinished? */
static bool
part_detach_pending(Oid relid)
{
	PartPendingCall call = {relid, false};
	ErrorData  *edata = steward_in_xact(part_detach_pending_tx, &call, CurrentMemoryContext);

	if (edata != NULL)
		ReThrowError(edata);
	return call.pending;
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

typedef struct PartListCall
{
	MemoryContext mcxt;
	List	   *sets;			/* out: OIDs, in mcxt */
} PartListCall;
static void
part_list_sets_tx(void *arg)
{
	PartListCall *call = (PartListCall *) arg;
	List	   *sets = part_list_sets(InvalidOid);
	MemoryContext old = MemoryContextSwitchTo(call->mcxt);

	call->sets = list_copy(sets);
	MemoryContextSwitchTo(old);
}

/*
 * The quiet sets first, all in one transaction: most runs of the job find
 * most sets as the last run left them, and a transaction per set, with its
 * catalog statements, would cost far more than the look.  A set is quiet
 * when its stored state, its configuration and its pg_inherits rows say so
 * (part_quiet_fast(): nothing is opened, no owner is switched to) and no
 * other session holds its one-maintainer lock; the others go the long way,
 * each in a transaction of its own.  Quiet sets whose stored outcome is
 * already a plain 'ok' are not written, the sweep's time is
 * (part_save_sweep()); the other quiet sets are, in one statement (should
 * another session maintain a set meanwhile, the older fingerprint written
 * here only makes the next run look at the set again).  A quiet set needs
 * no draining: its partitions are those the last maintenance left, which
 * moved the default partition's rows for them (or did not leave the set
 * quiet), and rows inserted since are routed to those partitions.
 */
typedef struct PartQuietCall
{
	MemoryContext mcxt;
	List	   *busy;			/* out: OIDs of the other sets, in mcxt */
	int			nquiet;			/* out */
} PartQuietCall;

static void
part_quiet_tx(void *arg)
{
	PartQuietCall *call = (PartQuietCall *) arg;
	List	   *states = NIL;
	ListCell   *lc;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext setcxt = AllocSetContextCreate(outer, "pg_steward partition set",
												 ALLOCSET_DEFAULT_SIZES);
	bool		sweep = part_sweep_available();

	part_prefetch_fingerprints();
	foreach(lc, part_load_sets(InvalidOid))
	{
		PartSet    *set = lfirst(lc);
		PartResult	res;

		/* a set's look in memory of its own, reset per set */
		MemoryContextReset(setcxt);
		MemoryContextSwitchTo(setcxt);
		if (set->has_quiet && part_quiet_fast(set, &res))
		{
			call->nquiet++;
			if (!set->state_plain || !sweep)
			{
				MemoryContextSwitchTo(outer);
				states = lappend(states, part_state_row(set->parent, "ok", NULL, &res));
			}
		}
		else
		{
			MemoryContextSwitchTo(call->mcxt);
			call->busy = lappend_oid(call->busy, set->parent);
		}
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(setcxt);
	part_save_states(states);
	if (sweep)
		part_save_sweep(InvalidOid);	/* the job looks at every set */
}

static void
part_kind_maintenance(StewardJobContext *ctx)
{
	PartListCall list = {0};
	PartQuietCall quiet = {0};
	ErrorData  *edata;
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
	StringInfoData detail;
	MemoryContext old;

	old = MemoryContextSwitchTo(ctx->mcxt);
	initStringInfo(&failures);
	MemoryContextSwitchTo(old);

	quiet.mcxt = ctx->mcxt;
	edata = steward_in_xact(part_quiet_tx, &quiet, ctx->mcxt);
	if (edata == NULL)
	{
		sets = quiet.busy;
		ok = quiet.nquiet;
	}
	else
	{
		/* every set the long way, as before */
		ereport(DEBUG1,
				(errmsg("pg_steward could not check the partition sets in one transaction: %s",
						edata->message)));
		list.mcxt = ctx->mcxt;
		edata = steward_in_xact(part_list_sets_tx, &list, ctx->mcxt);
		if (edata != NULL)
			ReThrowError(edata);
		sets = list.sets;
	}

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
	initStringInfo(&detail);
	steward_json_begin(&detail);
	steward_json_add_int64(&detail, "sets", ok + failed);
	steward_json_add_int64(&detail, "failed", failed);
	steward_json_add_int64(&detail, "skipped", skipped);
	steward_json_add_int64(&detail, "created", created);
	steward_json_add_int64(&detail, "dropped", dropped);
	steward_json_add_int64(&detail, "detached", detached);
	steward_json_add_int64(&detail, "drained_rows", drained);
	ctx->detail = steward_json_end(&detail);
	MemoryContextSwitchTo(old);
	if (failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%d of %d partition sets failed", failed, ok + failed),
				 errdetail("%s", failures.data),
				 errhint("steward.partition_status shows each set's last message.")));
}
