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
 * was restored from another cluster, or from a later dump into a copy of
 * this one (its last seal reaches beyond this cluster's next transaction
 * id).  That takes a lock, held until the transaction ends, which
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
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

#include "audit/audit_int.h"
#include "core/pg_steward.h"
#include "core/shmem.h"
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
 * Has era 'first' been sealed up to transaction ids this cluster has not
 * assigned yet?  A copy of this cluster (a physical backup, a promoted
 * standby) has its system identifier; a log restored into it from a later
 * dump carries seals of transactions the copy never ran: its own are
 * another era.
 */
static bool
audit_era_ahead(int64 first)
{
	Datum		args[2];
	StewardResult *res;
	bool		isnull;

	args[0] = Int64GetDatum(first);
	args[1] = FullTransactionIdGetDatum(ReadNextFullTransactionId());
	res = steward_catalog_exec("SELECT s.txid_to > $2 FROM steward.audit_seal s"
							   " WHERE s.era = $1 ORDER BY s.seal_id DESC LIMIT 1",
							   SPI_OK_SELECT, 2, (Oid[]) {INT8OID, XID8OID}, args, NULL);
	return res->processed > 0 &&
		DatumGetBool(steward_result_datum(res, 0, 1, &isnull)) && !isnull;
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
	if (!found || owner != sysid || audit_era_ahead(first))
	{
		/* one session starts the era; the others wait for it, then see it */
		rel = table_open(relid, ShareRowExclusiveLock);
		found = audit_era_last(rel, &first, &owner, &ours);
		if (!found || owner != sysid || audit_era_ahead(first))
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

/*
 * A database restored with pg_restore has the built-in audit_seal job of
 * its CREATE EXTENSION, disabled until audit_enable() starts it, which the
 * restored policies do not call again: nothing would be sealed.  Policies
 * older than the job tell such a database; its job is enabled once (marked
 * in its config), so that an operator may still disable it afterwards.
 */
static void
audit_seal_job_restored(void)
{
	StewardResult *res;

	res = steward_catalog_exec("UPDATE steward.job j"
							   "   SET enabled = true,"
							   "       config = j.config || '{\"enabled_after_restore\": true}'"
							   " WHERE j.builtin AND j.kind = 'audit_seal' AND NOT j.enabled"
							   "   AND NOT j.config ? 'enabled_after_restore'"
							   "   AND EXISTS (SELECT 1 FROM steward.audit_policy p"
							   "                WHERE p.enabled_at < j.created_at)",
							   SPI_OK_UPDATE, 0, NULL, NULL, NULL);
	if (res->processed > 0)
	{
		ereport(LOG,
				(errmsg("pg_steward enabled the audit_seal job of a restored database")));
		steward_wake_scheduler_at_commit();
	}
}

/*
 * The log was made again (the extension dropped and created, a restore
 * into this database): check its era again before the next row.
 */
void
audit_era_forget(void)
{
	audit_era_known = false;
}

/*
 * Before a session's log rows: is the last era this cluster's, and does
 * the database seal them?
 */
void
audit_era_check(void)
{
	if (!audit_era_known)
	{
		(void) audit_era_current(false);
		audit_seal_job_restored();
	}
}
