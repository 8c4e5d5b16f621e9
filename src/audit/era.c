/*-------------------------------------------------------------------------
 *
 * era.c
 *	  Eras of the audit log: one per cluster the log was written in.
 *
 * Seals are ranges of transaction ids, which mean something only in the
 * cluster that assigned them.  A log restored into another cluster goes on
 * with that cluster's ids, which can lie inside the restored seals' ranges.
 * Event ids tell the clusters' rows apart: the numbering goes on from the
 * restored sequence, so the rows of an era have ids from its first_event_id
 * up to the next era's.  The sealer starts the first era, at 0, before its
 * first seal.  Before its first log row a session makes sure that the last
 * era, if there is one, is its cluster's, and starts one if not: the log
 * was restored from another cluster (or the cluster was upgraded with
 * pg_upgrade).  That takes a lock, held until the transaction ends, which
 * other sessions' first log rows then wait for, once.  Every earlier era
 * has ended: its transactions ran in another cluster, or before the dump
 * that brought the log here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "audit/audit_int.h"
#include "core/pg_steward.h"
#include "core/spi_util.h"

/* This cluster's last era is known to be the log's last (committed). */
static bool audit_era_known = false;

/*
 * The log's last era, read with a fresh snapshot (after the lock below, a
 * REPEATABLE READ snapshot could miss an era another session just made);
 * false if there is none.  *ours: this transaction made it.
 */
static bool
audit_era_last(Relation rel, int64 *first, int64 *sysid, bool *ours)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		found = false;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		int64		f = DatumGetInt64(slot_getattr(slot, 1, &isnull));

		if (!found || f > *first)
		{
			HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, NULL);

			*first = f;
			*sysid = DatumGetInt64(slot_getattr(slot, 2, &isnull));
			*ours = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
			found = true;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

/*
 * The first event id of the log's last era, made this cluster's first if it
 * is not; with no era yet, 'start' starts the first one (at 0), else -1 is
 * returned.  -1 too when the catalog has no eras (a library newer than the
 * catalog).  Runs with the extension's rights.
 */
int64
audit_era_current(bool start)
{
	Oid			nsp = get_namespace_oid(STEWARD_SCHEMA_NAME, false);
	Oid			relid = get_relname_relid("audit_era", nsp);
	int64		sysid = (int64) GetSystemIdentifier();
	int64		first = 0;
	int64		owner = 0;
	bool		ours = false;
	bool		found;
	Relation	rel;

	if (!OidIsValid(relid))
		return -1;
	rel = table_open(relid, AccessShareLock);
	found = audit_era_last(rel, &first, &owner, &ours);
	table_close(rel, NoLock);
	if (!found && !start)
	{
		/* the sealer starts the first era: rows before it belong to it */
		audit_era_known = true;
		return -1;
	}
	if (!found || owner != sysid)
	{
		/* one session starts the era; the others wait for it, then see it */
		rel = table_open(relid, ShareRowExclusiveLock);
		found = audit_era_last(rel, &first, &owner, &ours);
		if (!found || owner != sysid)
		{
			Oid			seq = get_relname_relid("audit_event_id_seq", nsp);
			Datum		args[2];

			if (!OidIsValid(seq))
				elog(ERROR, "steward.audit_event_id_seq is missing");
			/* every id drawn from now on is above the earlier eras' */
			first = found ? nextval_internal(seq, false) * AUDIT_EVENT_BLOCK : 0;
			args[0] = Int64GetDatum(first);
			args[1] = Int64GetDatum(sysid);
			steward_catalog_exec("INSERT INTO steward.audit_era (first_event_id, system_identifier)"
								 " VALUES ($1, $2)",
								 SPI_OK_INSERT, 2, (Oid[]) {INT8OID, INT8OID}, args, NULL);
			ours = true;
		}
		table_close(rel, NoLock);
	}
	/* one this transaction made is not known until it commits */
	if (!ours)
		audit_era_known = true;
	return first;
}

/* Before a session's log rows: is the last era this cluster's? */
void
audit_era_check(void)
{
	if (!audit_era_known)
		(void) audit_era_current(false);
}
