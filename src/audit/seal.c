/*-------------------------------------------------------------------------
 *
 * seal.c
 *	  Tamper evidence: sealing the audit log into a SHA-256 hash chain, and
 *	  verifying it; the audit_seal job kind; the log's partition set.
 *
 * A seal covers the rows of one era (era.c) of the transactions whose
 * top-level ids lie in [txid_from, txid_to), where txid_to is the xmin of
 * the sealer's snapshot (for an earlier era: past its last transaction):
 * every transaction below it has ended, so no row can join the range later
 * and none is missed, however late a transaction commits.  The next seal
 * starts where the last ended.  Each sealed row's digest is kept (so that
 * verification names the first bad row) and the seal's hash is
 * SHA-256(previous hash || the digests in (txid, event_id) order).  The
 * audit trigger takes no lock for any of this.  The digests also carry each
 * row's table, key hash and place: the history index is theirs, written
 * here in bulk rather than by the trigger row by row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/guc.h"
#include "core/shmem.h"
#include "core/pg_steward.h"
#include "core/spi_util.h"
#include "core/xact.h"
#include "scheduler/job_kind.h"

PG_FUNCTION_INFO_V1(steward_audit_seal_now);
PG_FUNCTION_INFO_V1(steward_audit_verify);

/*
 * The digest of a log row: SHA-256 of a canonical text of every column
 * (jsonb's text is canonical; the time as epoch microseconds, so that the
 * session's TimeZone does not matter).
 */
#define AUDIT_DIGEST_SQL(l) \
	"pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_build_array(" \
	l ".event_id, (EXTRACT(epoch FROM " l ".logged_at) * 1000000)::bigint, " \
	l ".txid::text, " l ".relid, " l ".schema_name, " l ".table_name, " l ".op, " \
	l ".row_key, " l ".old_values, " l ".new_values, " l ".changed_columns, " \
	l ".db_user, " l ".\"session_user\", " l ".app_user, " l ".application_name, " \
	l ".client_addr::text, " l ".backend_pid, " l ".query_id)::text, 'UTF8'))"

static void audit_seal_kind(StewardJobContext *ctx);

static const StewardJobKind audit_seal_job_kind = {
	.name = "audit_seal",
	.main = audit_seal_kind,
	.validate = NULL,
	.takes_command = false,
	.description = "seals new audit log rows into the SHA-256 hash chain"
};

void
audit_seal_init(void)
{
	steward_register_job_kind(&audit_seal_job_kind);
}

/*
 * The log and the digests are partition sets (daily, retention from
 * steward.audit_retention), registered ('create') once something is
 * audited; a changed steward.audit_retention is applied here too, by
 * audit_enable() and by every audit_seal run.
 */
void
audit_ensure_partition_set(bool create)
{
	static const char *const sets[] = {"steward.audit_log", "steward.audit_seal_digest"};
	StewardCatalogAccess acc;
	int			i;

	steward_catalog_enter(&acc);
	SPI_connect();
	for (i = 0; i < lengthof(sets); i++)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(sets[i]);
		args[1] = CStringGetTextDatum(steward_audit_retention);
		steward_spi_exec("SELECT s.retention IS DISTINCT FROM $2"
						 "  FROM steward.partition_set s WHERE s.parent = $1::pg_catalog.regclass",
						 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
		if (SPI_processed == 0 && !create)
			continue;
		if (SPI_processed == 0)
		{
			/*
			 * Rows written before the set existed (DDL capture, seals) are in
			 * the default partition, where no partition for their days can
			 * be created: set them aside and put them back once it exists.
			 */
			Datum		aside;
			Oid			aside_type;
			bool		none;

			steward_spi_exec(psprintf("WITH d AS (DELETE FROM %s_default RETURNING *)"
									  " SELECT pg_catalog.array_agg(d::%s_default) FROM d", sets[i], sets[i]),
							 SPI_OK_SELECT, 0, NULL, NULL, NULL);
			aside = steward_spi_getdatum(0, 1, &none);
			aside_type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
			steward_spi_exec("SELECT steward.partition_table($1::pg_catalog.regclass, 'logged_at',"
							 " '1 day', premake => 3, retention => $2)",
							 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
			if (!none)
				steward_spi_exec(psprintf("INSERT INTO %s SELECT (r).* FROM pg_catalog.unnest($1) r",
										  sets[i]),
								 SPI_OK_INSERT, 1, &aside_type, &aside, NULL);

			/*
			 * The first audited table: the built-in sealing job, which idles
			 * until then (no runner a minute in databases that audit
			 * nothing), starts.
			 */
			if (i == 0)
			{
				steward_spi_exec("UPDATE steward.job SET enabled = true"
								 " WHERE builtin AND kind = 'audit_seal' AND NOT enabled",
								 SPI_OK_UPDATE, 0, NULL, NULL, NULL);
				steward_wake_scheduler_at_commit();
			}
		}
		else if (DatumGetBool(steward_spi_getdatum(0, 1, &(bool) {false})))
			steward_spi_exec("SELECT steward.partition_alter($1::pg_catalog.regclass, retention => $2)",
							 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
	}
	SPI_finish();
	steward_catalog_exit(&acc);
}

/*
 * Rows of a range of transactions are found through the log's BRIN index on
 * txid.  The planner cannot tell that the range is at the end of the log and
 * may pick a sequential scan of every partition: rule that out for the
 * caller's current GUC nest level.
 */
static void
audit_use_txid_index(void)
{
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Summarize the block ranges appended to the log since the last seal, so
 * that the next seal reads only what is new.  Runs as the extension (the
 * log's owner).
 */
static void
audit_summarize_log(void)
{
	steward_spi_exec("SELECT pg_catalog.brin_summarize_new_values(i.indexrelid)"
					 "  FROM pg_catalog.pg_inherits h"
					 "  JOIN pg_catalog.pg_index i ON i.indrelid = h.inhrelid"
					 "  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
					 "  JOIN pg_catalog.pg_am a ON a.oid = c.relam"
					 " WHERE h.inhparent = 'steward.audit_log'::pg_catalog.regclass"
					 "   AND a.amname = 'brin'",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
}

/*
 * One seal of the rows of era 'era' (its first event id) whose event ids
 * lie in [id_from, id_to) and transaction ids in [lower, upper); upper NULL
 * (an earlier era, all of whose transactions have ended, being closed): all
 * the rest, in a seal that covers every transaction id from 'lower' on,
 * made even if there are no rows, so that a row added to a closed era later
 * lies inside a seal and is reported.
 * Follows the last seal of any era.  Returns the rows sealed (SPI
 * connected, audit_seal locked).
 */
static int64
audit_seal_range(int64 era, int64 id_to, Datum lower, Datum upper, bool upper_null)
{
	bool		isnull;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Datum		prev;
	Datum		seal_id;
	int64		rows;

	steward_spi_exec("SELECT COALESCE((SELECT hash FROM steward.audit_seal"
					 "                  ORDER BY seal_id DESC LIMIT 1), '\\x'::bytea),"
					 "       pg_catalog.nextval(pg_catalog.pg_get_serial_sequence("
					 "                              'steward.audit_seal', 'seal_id'))",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	prev = SPI_datumTransfer(steward_spi_getdatum(0, 1, &isnull), false, -1);
	seal_id = steward_spi_getdatum(0, 2, &isnull);

	args[0] = seal_id;
	args[1] = lower;
	args[2] = upper;
	nulls[2] = upper_null ? 'n' : ' ';
	args[3] = Int64GetDatum(era);
	args[4] = Int64GetDatum(id_to);
	steward_spi_exec(upper_null ?
					 "WITH d AS ("
					 " INSERT INTO steward.audit_seal_digest (seal_id, event_id, txid, logged_at, digest,"
					 "                                        relid, key_hash, log_tid)"
					 " SELECT $1, l.event_id, l.txid, l.logged_at, " AUDIT_DIGEST_SQL("l") ","
					 "        l.relid, steward.audit_key_hash(l.row_key), l.ctid"
					 "   FROM steward.audit_log l WHERE l.txid >= $2"
					 "    AND l.event_id >= $4 AND l.event_id < $5"
					 " RETURNING event_id, txid, logged_at, digest)"
					 " SELECT pg_catalog.count(*), pg_catalog.min(event_id), pg_catalog.max(event_id),"
					 "        pg_catalog.min(logged_at), pg_catalog.max(logged_at),"
					 "        pg_catalog.string_agg(digest, ''::bytea ORDER BY txid, event_id),"
					 "        '18446744073709551615'::pg_catalog.xid8"
					 "   FROM d" :
					 "WITH d AS ("
					 " INSERT INTO steward.audit_seal_digest (seal_id, event_id, txid, logged_at, digest,"
					 "                                        relid, key_hash, log_tid)"
					 " SELECT $1, l.event_id, l.txid, l.logged_at, " AUDIT_DIGEST_SQL("l") ","
					 "        l.relid, steward.audit_key_hash(l.row_key), l.ctid"
					 "   FROM steward.audit_log l WHERE l.txid >= $2 AND l.txid < $3"
					 "    AND l.event_id >= $4 AND l.event_id < $5"
					 " RETURNING event_id, txid, logged_at, digest)"
					 " SELECT pg_catalog.count(*), pg_catalog.min(event_id), pg_catalog.max(event_id),"
					 "        pg_catalog.min(logged_at), pg_catalog.max(logged_at),"
					 "        pg_catalog.string_agg(digest, ''::bytea ORDER BY txid, event_id),"
					 "        $3"
					 "   FROM d",
					 SPI_OK_SELECT, 5, (Oid[]) {INT8OID, XID8OID, XID8OID, INT8OID, INT8OID},
					 args, nulls);
	rows = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	if (rows == 0 && !upper_null)
		return 0;				/* nothing in the range yet: it stays open */
	{
		/* tuple tables stay valid until SPI_finish */
		Datum		values[11];
		char		vnulls[11];
		int			i;

		/* a seal that closes an era may have no rows: NULL bounds */
		memset(vnulls, ' ', sizeof(vnulls));
		values[0] = seal_id;
		values[1] = lower;
		values[2] = steward_spi_getdatum(0, 7, &isnull);
		for (i = 1; i <= 5; i++)
		{
			values[2 + i] = steward_spi_getdatum(0, i, &isnull);
			if (isnull)
				vnulls[2 + i] = 'n';
		}
		values[8] = prev;
		values[9] = steward_spi_getdatum(0, 6, &isnull);
		if (isnull)
			vnulls[9] = 'n';
		values[10] = Int64GetDatum(era);
		steward_spi_exec("INSERT INTO steward.audit_seal"
						 " (seal_id, txid_from, txid_to, row_count, first_event_id, last_event_id,"
						 "  min_logged_at, max_logged_at, prev_hash, hash, era)"
						 " OVERRIDING SYSTEM VALUE"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
						 "         pg_catalog.sha256($9 || COALESCE($10, ''::bytea)), $11)",
						 SPI_OK_INSERT, 11,
						 (Oid[]) {INT8OID, XID8OID, XID8OID, INT8OID, INT8OID, INT8OID,
							 TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, BYTEAOID, INT8OID},
						 values, vnulls);
	}
	return rows;
}

/*
 * Seal what can be sealed; returns the rows sealed (SPI connected).  The
 * earlier eras first, at once and whole (their transactions have all
 * ended), each then closed; then this cluster's era, up to the oldest
 * running transaction.
 */
static int64
audit_seal(void)
{
	bool		isnull;
	Datum		era;
	Datum		upper;
	Datum		lower;
	int64		rows = 0;
	uint64		i;
	uint64		nold;
	StewardResult *old;

	/*
	 * The last seal is read with a snapshot taken after the lock.  A
	 * transaction snapshot (REPEATABLE READ, SERIALIZABLE) could predate a
	 * seal committed meanwhile: its rows would be sealed again and the chain
	 * would fork.
	 */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("audit rows cannot be sealed in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call steward.audit_seal_now() in a READ COMMITTED transaction.")));
	/* a library newer than the catalog: digests carry the history index now */
	if (get_attnum(get_relname_relid("audit_seal_digest",
									 get_namespace_oid(STEWARD_SCHEMA_NAME, false)),
				   "key_hash") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit rows cannot be sealed before the extension is updated to the library's version %s",
						STEWARD_VERSION),
				 errhint("Run ALTER EXTENSION pg_steward UPDATE in this database.")));

	/* one sealer at a time; writers of the log are not blocked */
	steward_spi_exec("LOCK TABLE steward.audit_seal IN EXCLUSIVE MODE",
					 SPI_OK_UTILITY, 0, NULL, NULL, NULL);
	era = Int64GetDatum(audit_era_current(true));
	audit_use_txid_index();

	/* earlier eras not closed yet: the rest of their rows */
	old = steward_catalog_exec("SELECT e.first_event_id,"
							   "       COALESCE((SELECT pg_catalog.min(n.first_event_id)"
							   "                   FROM steward.audit_era n"
							   "                  WHERE n.first_event_id > e.first_event_id),"
							   "                9223372036854775807),"
							   "       COALESCE((SELECT s.txid_to FROM steward.audit_seal s"
							   "                  WHERE s.era = e.first_event_id"
							   "                  ORDER BY s.seal_id DESC LIMIT 1), '0'::pg_catalog.xid8)"
							   "  FROM steward.audit_era e"
							   " WHERE e.first_event_id < $1 AND e.closed_at IS NULL"
							   " ORDER BY e.first_event_id",
							   SPI_OK_SELECT, 1, (Oid[]) {INT8OID}, &era, NULL);
	nold = old->processed;
	for (i = 0; i < nold; i++)
	{
		Datum		first = steward_result_datum(old, i, 1, &isnull);

		rows += audit_seal_range(DatumGetInt64(first),
								 DatumGetInt64(steward_result_datum(old, i, 2, &isnull)),
								 steward_result_datum(old, i, 3, &isnull), (Datum) 0, true);
		steward_spi_exec("UPDATE steward.audit_era SET closed_at = pg_catalog.now()"
						 " WHERE first_event_id = $1",
						 SPI_OK_UPDATE, 1, (Oid[]) {INT8OID}, &first, NULL);
	}

	/* this cluster's era: the transactions below the snapshot's xmin */
	steward_spi_exec("SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()),"
					 "       COALESCE((SELECT s.txid_to FROM steward.audit_seal s WHERE s.era = $1"
					 "                  ORDER BY s.seal_id DESC LIMIT 1), '0'::pg_catalog.xid8)",
					 SPI_OK_SELECT, 1, (Oid[]) {INT8OID}, &era, NULL);
	upper = steward_spi_getdatum(0, 1, &isnull);
	lower = steward_spi_getdatum(0, 2, &isnull);
	if (DatumGetUInt64(lower) < DatumGetUInt64(upper))
		rows += audit_seal_range(DatumGetInt64(era), PG_INT64_MAX, lower, upper, false);
	if (rows > 0)
		audit_summarize_log();
	return rows;
}

/* Seal with the extension's rights; returns the rows sealed. */
static int64
audit_seal_as_owner(void)
{
	StewardCatalogAccess acc;
	int64		rows;

	steward_catalog_enter(&acc);
	SPI_connect();
	rows = audit_seal();
	SPI_finish();
	steward_catalog_exit(&acc);
	return rows;
}

/* steward.audit_seal_now() RETURNS bigint: what the job does, at once */
Datum
steward_audit_seal_now(PG_FUNCTION_ARGS)
{
	audit_record_relids(InvalidOid);
	PG_RETURN_INT64(audit_seal_as_owner());
}

typedef struct AuditSealRun
{
	int64		rows;
	char	   *retention_error;	/* why steward.audit_retention was not applied */
	MemoryContext mcxt;
} AuditSealRun;

static void
audit_apply_retention(void *arg)
{
	audit_ensure_partition_set(false);
}

/* After a restore: the audited tables' new OIDs (history, api.c). */
static void
audit_record_all_relids(void *arg)
{
	audit_record_relids(InvalidOid);
}

/*
 * Apply steward.audit_retention to the partition sets (a bad value must not
 * stop the sealing: it is reported), then seal.
 */
static void
audit_seal_tx(void *arg)
{
	AuditSealRun *run = arg;
	ErrorData  *edata = steward_in_subxact(audit_apply_retention, NULL);

	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not apply steward.audit_retention to the audit log: %s",
						edata->message)));
		run->retention_error = MemoryContextStrdup(run->mcxt, edata->message);
	}
	edata = steward_in_subxact(audit_record_all_relids, NULL);
	if (edata != NULL)
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not record the audited tables' OIDs: %s", edata->message)));
	run->rows = audit_seal_as_owner();
}

/* The audit_seal job kind: keep the partition sets' retention, then seal. */
static void
audit_seal_kind(StewardJobContext *ctx)
{
	AuditSealRun run = {0};
	ErrorData  *volatile edata = NULL;
	int			save_isolation = DefaultXactIsoLevel;

	run.mcxt = ctx->mcxt;
	/* sealing needs READ COMMITTED, whatever default_transaction_isolation says */
	DefaultXactIsoLevel = XACT_READ_COMMITTED;
	PG_TRY();
	{
		edata = steward_in_xact(audit_seal_tx, &run, ctx->mcxt);
	}
	PG_FINALLY();
	{
		DefaultXactIsoLevel = save_isolation;
	}
	PG_END_TRY();
	if (edata != NULL)
		ReThrowError(edata);
	if (run.retention_error != NULL)
		ctx->message = psprintf("sealed %lld audit rows; steward.audit_retention not applied: %s",
								(long long) run.rows, run.retention_error);
	else
		ctx->message = psprintf("sealed %lld audit rows", (long long) run.rows);
}

/*
 * The lowest bound of the range partitions of steward.<name> (false if it
 * has none): retention has dropped every partition below it.
 */
static bool
audit_oldest_bound(const char *name, TimestampTz *bound)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid(STEWARD_SCHEMA_NAME, false));
	Relation	rel;
	PartitionBoundInfo bi;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		bi = RelationGetPartitionDesc(rel, true)->boundinfo;
		if (bi != NULL && bi->strategy == PARTITION_STRATEGY_RANGE && bi->ndatums > 0 &&
			bi->kind[0][0] == PARTITION_RANGE_DATUM_VALUE)
		{
			*bound = DatumGetTimestampTz(bi->datums[0][0]);
			found = true;
		}
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * steward.audit_verify(since timestamptz DEFAULT NULL) RETURNS TABLE
 * (seal_id, ok, rows_checked, first_bad_event_id, detail): every seal since
 * 'since' (all with NULL), oldest first, over its era's rows of its range
 * of transactions.  Each must follow the seal before
 * it (the first one the empty hash), its hash must match its digests, and
 * its rows their digests.  Retention drops old partitions of the log and of
 * the digests, never seals: a seal whose rows all lie before the oldest
 * remaining partition is skipped, and so is one that reaches back before it
 * and misses rows or digests; any other must be complete.  (Rows in a
 * default partition with a time before the oldest partition are not
 * verified.)  Reads as the caller, who needs SELECT on the log and the seal
 * tables.
 */
Datum
steward_audit_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query = rsinfo->econtext->ecxt_per_query_memory;
	Datum		args[2];
	char		args_nulls[2] = {' ', ' '};
	TimestampTz log_bound;
	TimestampTz digest_bound;
	bool		have_log_bound;
	bool		have_digest_bound;
	int64		nseals;
	int64	   *ids;
	char	   *before;			/* 'a': all its rows before the bound, 's': some */
	bool	   *links;			/* follows the seal before it */
	int64	   *eras;			/* its era (first event id) */
	StewardResult *era_starts;
	int64		i;
	bool		isnull;
	int			nestlevel;

	steward_init_srf(fcinfo);

	/* retention has dropped everything below this (the later of the two) */
	have_log_bound = audit_oldest_bound("audit_log", &log_bound);
	have_digest_bound = audit_oldest_bound("audit_seal_digest", &digest_bound);
	if (have_log_bound && have_digest_bound)
		args[1] = TimestampTzGetDatum(Max(log_bound, digest_bound));
	else if (have_log_bound || have_digest_bound)
		args[1] = TimestampTzGetDatum(have_log_bound ? log_bound : digest_bound);
	else
		args_nulls[1] = 'n';
	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	if (PG_ARGISNULL(0))
		args_nulls[0] = 'n';

	SPI_connect();
	nestlevel = NewGUCNestLevel();
	audit_use_txid_index();
	steward_spi_exec("SELECT s.seal_id,"
					 "       CASE WHEN s.max_logged_at < $2 THEN 'a'"
					 "            WHEN s.min_logged_at < $2 THEN 's' ELSE ' ' END::\"char\","
					 "       s.link, s.era"
					 "  FROM (SELECT s.*, s.prev_hash = COALESCE(pg_catalog.lag(s.hash)"
					 "                                    OVER (ORDER BY s.seal_id), '\\x'::bytea) AS link"
					 "          FROM steward.audit_seal s) s"
					 " WHERE ($1::timestamptz IS NULL OR s.sealed_at >= $1)"
					 " ORDER BY s.seal_id",
					 SPI_OK_SELECT, 2, (Oid[]) {TIMESTAMPTZOID, TIMESTAMPTZOID}, args,
					 args_nulls);
	nseals = SPI_processed;
	ids = palloc(sizeof(int64) * Max(nseals, 1));
	before = palloc(Max(nseals, 1));
	links = palloc(sizeof(bool) * Max(nseals, 1));
	eras = palloc(sizeof(int64) * Max(nseals, 1));
	for (i = 0; i < nseals; i++)
	{
		ids[i] = DatumGetInt64(steward_spi_getdatum(i, 1, &isnull));
		before[i] = DatumGetChar(steward_spi_getdatum(i, 2, &isnull));
		eras[i] = DatumGetInt64(steward_spi_getdatum(i, 4, &isnull));
		links[i] = DatumGetBool(steward_spi_getdatum(i, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	/* where each era ends: the table names clusters, read as the extension */
	era_starts = steward_catalog_exec("SELECT first_event_id FROM steward.audit_era"
									  " ORDER BY first_event_id",
									  SPI_OK_SELECT, 0, NULL, NULL, NULL);

	for (i = 0; i < nseals; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);
		Datum		range[2] = {id, Int64GetDatum(PG_INT64_MAX)};
		uint64		e;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		bool		rows_ok;
		bool		chain_ok;
		int64		row_count;
		int64		stored;
		int64		checked;
		MemoryContext old;
		StringInfoData detail;

		/* its rows are gone with the dropped partitions */
		if (before[i] == 'a')
			continue;
		for (e = 0; e < era_starts->processed; e++)
		{
			int64		start = DatumGetInt64(steward_result_datum(era_starts, e, 1, &isnull));

			if (start > eras[i])
			{
				range[1] = Int64GetDatum(start);
				break;
			}
		}

		/* each row against its stored digest, and rows that should not be there */
		/* and the history index the digests carry (relid, key_hash) */
		steward_spi_exec("SELECT pg_catalog.count(d.event_id), pg_catalog.count(l.event_id),"
						 "       pg_catalog.min(COALESCE(d.event_id, l.event_id))"
						 "         FILTER (WHERE d.digest IS DISTINCT FROM l.digest"
						 "                    OR d.relid IS DISTINCT FROM l.relid"
						 "                    OR d.key_hash IS DISTINCT FROM l.key_hash)"
						 "  FROM (SELECT event_id, digest, relid, key_hash FROM steward.audit_seal_digest"
						 "         WHERE seal_id = $1) d"
						 "  FULL JOIN (SELECT l.event_id, " AUDIT_DIGEST_SQL("l") " AS digest,"
						 "                    l.relid, steward.audit_key_hash(l.row_key) AS key_hash"
						 "              FROM steward.audit_log l, steward.audit_seal s"
						 "             WHERE s.seal_id = $1 AND l.txid >= s.txid_from"
						 "               AND l.txid < s.txid_to AND l.event_id >= s.era"
						 "               AND l.event_id < $2) l"
						 "    ON l.event_id = d.event_id",
						 SPI_OK_SELECT, 2, (Oid[]) {INT8OID, INT8OID}, range, NULL);
		stored = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
		checked = DatumGetInt64(steward_spi_getdatum(0, 2, &isnull));
		values[3] = steward_spi_getdatum(0, 3, &nulls[3]);
		rows_ok = nulls[3];
		SPI_freetuptable(SPI_tuptable);

		/* the chain over the stored digests */
		steward_spi_exec("SELECT s.row_count, s.hash = pg_catalog.sha256(s.prev_hash ||"
						 "         COALESCE((SELECT pg_catalog.string_agg(d.digest, ''::bytea"
						 "                                    ORDER BY d.txid, d.event_id)"
						 "                    FROM steward.audit_seal_digest d"
						 "                   WHERE d.seal_id = s.seal_id), ''::bytea))"
						 "  FROM steward.audit_seal s WHERE s.seal_id = $1",
						 SPI_OK_SELECT, 1, (Oid[]) {INT8OID}, &id, NULL);
		row_count = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
		chain_ok = DatumGetBool(steward_spi_getdatum(0, 2, &isnull)) && !isnull;
		SPI_freetuptable(SPI_tuptable);

		/* partly gone with the dropped partitions */
		if (before[i] == 's' && (stored != row_count || checked != row_count))
			continue;

		initStringInfo(&detail);
		if (!rows_ok)
			appendStringInfo(&detail, "a row was changed, deleted or added after sealing; ");
		if (stored != row_count || checked != row_count)
			appendStringInfo(&detail, "sealed %lld rows, %lld digests kept, %lld rows found; ",
							 (long long) row_count, (long long) stored, (long long) checked);
		if (!chain_ok)
			appendStringInfo(&detail, "the seal's hash does not match its digests; ");
		if (!links[i])
			appendStringInfo(&detail, "the seal does not follow the one before it; ");
		if (detail.len > 2)
			detail.data[detail.len -= 2] = '\0';

		values[0] = id;
		values[1] = BoolGetDatum(rows_ok && chain_ok && links[i] &&
								 stored == row_count && checked == row_count);
		values[2] = Int64GetDatum(checked);
		if (detail.len > 0)
			values[4] = CStringGetTextDatum(detail.data);
		else
			nulls[4] = true;
		old = MemoryContextSwitchTo(per_query);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		pfree(detail.data);
	}
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
	return (Datum) 0;
}
