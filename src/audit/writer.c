/*-------------------------------------------------------------------------
 *
 * writer.c
 *	  Writing steward.audit_log rows, straight into the right partition.
 *
 * All rows of a statement share logged_at (the transaction's start), so
 * they go to one partition: it is found once, by the partition bounds, and
 * the rows are written with table_multi_insert() and their index entries
 * added, as COPY does.  That skips planning and executing an INSERT per
 * batch and writes one WAL record per page rather than per row.  The log
 * has no triggers, rules or constraints besides NOT NULL, which the values
 * here always meet; a superuser who adds a trigger to it gets the slower
 * but complete path through an INSERT statement.
 *
 * No privilege is checked: this is the extension writing its own table.
 * Values are computed by the caller as the role that made the change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/hio.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/pg_steward.h"
#include "core/spi_util.h"

/* Rows per table_multi_insert() call (a few pages of log rows). */
#define AUDIT_MULTI_INSERT	200

/* The log's columns, by name, so that a partition's layout does not matter. */
typedef enum AuditField
{
	AF_EVENT_ID, AF_LOGGED_AT, AF_TXID, AF_RELID, AF_SCHEMA, AF_TABLE, AF_OP,
	AF_ROW_KEY, AF_OLD, AF_NEW, AF_CHANGED, AF_DB_USER, AF_SESSION_USER,
	AF_APP_USER, AF_APPNAME, AF_CLIENT_ADDR, AF_PID, AF_QUERY_ID, AF_COUNT
} AuditField;

static const char *const audit_field_names[AF_COUNT] = {
	"event_id", "logged_at", "txid", "relid", "schema_name", "table_name", "op",
	"row_key", "old_values", "new_values", "changed_columns", "db_user",
	"session_user", "app_user", "application_name", "client_addr",
	"backend_pid", "query_id"
};

PG_FUNCTION_INFO_V1(steward_audit_key_hash);

/*
 * Event ids: value v of steward.audit_event_id_seq numbers rows
 * v * AUDIT_EVENT_BLOCK + 0, 1, ...: ids stay unique and grow in the order
 * they are drawn, so a row's later change (which waited for the earlier
 * one's transaction to end) has the larger id.  They are not consecutive.
 */

/* Keys of one integer column within these bounds are their own "hash". */
#define AUDIT_KEY_INT_BOUND (INT64CONST(1) << 62)

static Numeric audit_key_int_min = NULL;	/* in TopMemoryContext */
static Numeric audit_key_int_max = NULL;

/*
 * Where each column of the last partition written goes (AuditField, or -1),
 * kept until a relcache invalidation of that partition.
 */
static Oid	audit_map_relid = InvalidOid;
static int	audit_map_natts = 0;
static int *audit_map = NULL;	/* in TopMemoryContext */
static bool audit_callbacks_registered = false;

/* The log's and the event id sequence's OIDs, until either is invalidated. */
static Oid	audit_log_oid = InvalidOid;
static Oid	audit_seq_oid = InvalidOid;

/* The name of the last role names were looked up for (role renames reset). */
static Oid	audit_name_role = InvalidOid;
static Datum audit_name_text = (Datum) 0;	/* in TopMemoryContext */

static bool audit_client_addr_known = false;
static Datum audit_client_addr = (Datum) 0; /* in TopMemoryContext */

/* inet_client_addr(), once per session; false for a Unix socket. */
static bool
audit_client_address(Datum *addr)
{
	if (!audit_client_addr_known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		result;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		result = inet_client_addr(fcinfo);
		audit_client_addr_known = true;
		if (!fcinfo->isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			audit_client_addr = datumCopy(result, false, -1);
			MemoryContextSwitchTo(old);
		}
	}
	*addr = audit_client_addr;
	return audit_client_addr != (Datum) 0;
}

/* A number that is an integer within the bounds, as an int64. */
static bool
audit_key_integer(Numeric num, int64 *value)
{
	if (audit_key_int_max == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		audit_key_int_min = int64_to_numeric(-AUDIT_KEY_INT_BOUND);
		audit_key_int_max = int64_to_numeric(AUDIT_KEY_INT_BOUND);
		MemoryContextSwitchTo(old);
	}
	if (numeric_is_nan(num) || numeric_is_inf(num) ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
										  NumericGetDatum(audit_key_int_min))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(num),
										  NumericGetDatum(audit_key_int_max))) > 0)
		return false;
	/* a fraction is rounded: the caller only needs equal keys to agree */
	*value = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(num)));
	return true;
}

/*
 * steward.audit_key_hash(jsonb): what the history index orders a log row's
 * key by.  A key of one integer column is its value, so that rows logged in
 * key order (a bulk INSERT, an UPDATE of a range of ids) are appended to
 * the index and compared as bigints; any other key is its jsonb hash.
 * Equal keys give equal values; readers recheck row_key where values
 * collide.  The index depends on this: a change needs a REINDEX in the
 * update script.
 */
Datum
steward_audit_key_hash(PG_FUNCTION_ARGS)
{
	Jsonb	   *key = PG_GETARG_JSONB_P(0);

	if (JB_ROOT_IS_OBJECT(key) && JB_ROOT_COUNT(key) == 1)
	{
		JsonbIterator *it = JsonbIteratorInit(&key->root);
		JsonbValue	v;
		int64		value;

		(void) JsonbIteratorNext(&it, &v, false);	/* the object */
		(void) JsonbIteratorNext(&it, &v, false);	/* its one key */
		if (JsonbIteratorNext(&it, &v, false) == WJB_VALUE &&
			v.type == jbvNumeric && audit_key_integer(v.val.numeric, &value))
			PG_RETURN_INT64(value);
	}
	return DirectFunctionCall2(jsonb_hash_extended, JsonbPGetDatum(key), Int64GetDatum(0));
}

/* The next event id of a call; *used counts the ids taken from *block. */
static int64
audit_event_id(Oid seqoid, int64 *block, int *used)
{
	if (*used == 0 || *used == AUDIT_EVENT_BLOCK)
	{
		int64		v = nextval_internal(seqoid, false);

		if (v < 0 || v >= PG_INT64_MAX / AUDIT_EVENT_BLOCK)
			ereport(ERROR,
					(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
					 errmsg("steward.audit_event_id_seq has run out of event ids")));
		*block = v * AUDIT_EVENT_BLOCK;
		*used = 0;
	}
	return *block + (*used)++;
}

/*
 * Whether 'index' of the partition only holds values that every row of a
 * call shares (a BRIN index of, say, txid and logged_at): then a row that
 * lands in the block of the call's previous row adds nothing to it.
 */
static bool
audit_index_per_block(Relation index, IndexInfo *ii, const int *map)
{
	int			k;

	if (index->rd_rel->relam != BRIN_AM_OID ||
		ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
		return false;
	for (k = 0; k < ii->ii_NumIndexAttrs; k++)
	{
		AttrNumber	att = ii->ii_IndexAttrNumbers[k];

		if (att <= 0)
			return false;
		switch (map[att - 1])
		{
			case AF_EVENT_ID:
			case AF_ROW_KEY:
			case AF_OLD:
			case AF_NEW:
			case AF_CHANGED:
			case -1:
				return false;
			default:
				break;
		}
	}
	return true;
}

/*
 * Put the indexes that need an entry per row first; returns their number.
 * The executor inserts into ri_IndexRelationDescs[0 .. ri_NumIndices - 1].
 */
static int
audit_order_indexes(ResultRelInfo *rri, const int *map)
{
	int			per_row = 0;
	int			i;

	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		if (audit_index_per_block(rri->ri_IndexRelationDescs[i],
								  rri->ri_IndexRelationInfo[i], map))
			continue;
		if (i != per_row)
		{
			Relation	r = rri->ri_IndexRelationDescs[i];
			IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

			rri->ri_IndexRelationDescs[i] = rri->ri_IndexRelationDescs[per_row];
			rri->ri_IndexRelationInfo[i] = rri->ri_IndexRelationInfo[per_row];
			rri->ri_IndexRelationDescs[per_row] = r;
			rri->ri_IndexRelationInfo[per_row] = ii;
		}
		per_row++;
	}
	return per_row;
}

static void
audit_map_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == audit_map_relid)
		audit_map_relid = InvalidOid;
	if (relid == InvalidOid || relid == audit_log_oid || relid == audit_seq_oid)
		audit_log_oid = audit_seq_oid = InvalidOid;
}

static void
audit_role_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	audit_name_role = InvalidOid;
}

static void
audit_register_callbacks(void)
{
	if (!audit_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(audit_map_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, audit_role_invalidate, (Datum) 0);
		audit_callbacks_registered = true;
	}
}

/*
 * A role's name as text, looked up once for the role of the last call; a
 * copy, since a nested call for another role replaces the kept one.
 */
static Datum
audit_role_name(Oid role)
{
	if (role != audit_name_role)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		audit_register_callbacks();
		audit_name_role = InvalidOid;	/* until the lookup below succeeds */
		if (audit_name_text != (Datum) 0)
			pfree(DatumGetPointer(audit_name_text));
		audit_name_text = (Datum) 0;
		audit_name_text = CStringGetTextDatum(GetUserNameFromId(role, false));
		audit_name_role = role;
		MemoryContextSwitchTo(old);
	}
	return datumCopy(audit_name_text, false, -1);
}

/* The log fields of the columns of partition 'part'. */
static const int *
audit_column_map(Relation part)
{
	TupleDesc	desc = RelationGetDescr(part);
	int			a,
				i;

	if (RelationGetRelid(part) == audit_map_relid && desc->natts == audit_map_natts)
		return audit_map;
	audit_register_callbacks();
	audit_map_relid = InvalidOid;
	if (audit_map != NULL)
		pfree(audit_map);
	audit_map = MemoryContextAlloc(TopMemoryContext, sizeof(int) * Max(desc->natts, 1));
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		audit_map[a] = -1;
		if (att->attisdropped)
			continue;
		for (i = 0; i < AF_COUNT; i++)
			if (strcmp(NameStr(att->attname), audit_field_names[i]) == 0)
				audit_map[a] = i;
		if (audit_map[a] < 0 && att->attnotnull)
			elog(ERROR, "steward.audit_log has an unknown column \"%s\"",
				 NameStr(att->attname));
	}
	audit_map_natts = desc->natts;
	audit_map_relid = RelationGetRelid(part);
	return audit_map;
}

/* The partition of the log for 'logged_at' (the default one if none). */
static Oid
audit_partition_for(Relation log, TimestampTz logged_at)
{
	PartitionKey key = RelationGetPartitionKey(log);
	PartitionDesc desc = RelationGetPartitionDesc(log, true);
	PartitionBoundInfo bounds = desc->boundinfo;
	Datum		value = TimestampTzGetDatum(logged_at);
	bool		equal;
	int			offset;
	int			index = -1;

	if (bounds == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("steward.audit_log has no partition")));
	offset = partition_range_datum_bsearch(key->partsupfunc, key->partcollation,
										   bounds, 1, &value, &equal);
	index = bounds->indexes[offset + 1];	/* offset is -1 below the first bound */
	if (index < 0)
		index = bounds->default_index;
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("no partition of steward.audit_log for %s",
						timestamptz_to_str(logged_at))));
	return desc->oids[index];
}

/* The same rows through an INSERT statement. */
static void
audit_write_sql(Datum *values, bool *isnull, int nrows, int ncols)
{
	StewardCatalogAccess acc;
	Oid			types[AF_COUNT] = {
		INT8OID, TIMESTAMPTZOID, XID8OID, OIDOID, TEXTOID, TEXTOID, TEXTOID,
		JSONBOID, JSONBOID, JSONBOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, INETOID, INT4OID, INT8OID
	};
	char		nulls[AF_COUNT];
	int			r,
				c;

	steward_catalog_enter(&acc);
	SPI_connect();
	for (r = 0; r < nrows; r++)
	{
		for (c = 0; c < ncols; c++)
			nulls[c] = isnull[r * ncols + c] ? 'n' : ' ';
		steward_spi_exec("INSERT INTO steward.audit_log (event_id, logged_at, txid, relid,"
						 " schema_name, table_name, op, row_key, old_values, new_values,"
						 " changed_columns, db_user, \"session_user\", app_user, application_name,"
						 " client_addr, backend_pid, query_id)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
						 "         $15, $16, $17, $18)",
						 SPI_OK_INSERT, AF_COUNT, types, values + r * ncols, nulls);
	}
	SPI_finish();
	steward_catalog_exit(&acc);
}

/*
 * Write 'n' log rows of one table and operation, with who and where.
 * 'changed' (UPDATE) is each row's text[] of changed columns, or NULL.
 */
void
audit_write(Oid relid, const char *schema, const char *table, const char *op,
			int n, Datum *keys, bool *keys_null, Datum *olds, bool *olds_null,
			Datum *news, bool *news_null, Datum *changed,
			Datum query_id, bool query_id_null)
{
	Oid			logoid;
	Oid			seqoid;
	Datum		common[AF_COUNT];
	bool		common_null[AF_COUNT];
	Datum	   *values;
	bool	   *isnull;
	Datum		addr;
	Relation	log;
	Relation	part;
	int64		event_block = 0;
	int			event_used = 0;
	int			r;

	if (n == 0)
		return;
	if (!OidIsValid(audit_log_oid))
	{
		Oid			nsp = get_namespace_oid(STEWARD_SCHEMA_NAME, false);

		/* the log may have been made again since its era was checked */
		audit_era_forget();
		audit_register_callbacks();
		audit_seq_oid = get_relname_relid("audit_event_id_seq", nsp);
		audit_log_oid = get_relname_relid("audit_log", nsp);
		if (!OidIsValid(audit_log_oid) || !OidIsValid(audit_seq_oid))
		{
			audit_log_oid = audit_seq_oid = InvalidOid;
			elog(ERROR, "steward.audit_log is missing");
		}
	}
	logoid = audit_log_oid;
	seqoid = audit_seq_oid;
	/* a log restored from another cluster: a new era before the first id */
	audit_era_check();

	/* what all rows share */
	memset(common_null, false, sizeof(common_null));
	common[AF_LOGGED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	common[AF_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	common[AF_RELID] = ObjectIdGetDatum(relid);
	common[AF_SCHEMA] = CStringGetTextDatum(schema);
	common[AF_TABLE] = CStringGetTextDatum(table);
	common[AF_OP] = CStringGetTextDatum(op);
	common[AF_DB_USER] = audit_role_name(GetUserId());
	common[AF_SESSION_USER] = GetSessionUserId() == GetUserId() ? common[AF_DB_USER] :
		CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
	if (steward_app_user != NULL && steward_app_user[0] != '\0')
		common[AF_APP_USER] = CStringGetTextDatum(steward_app_user);
	else
		common_null[AF_APP_USER] = true;
	if (application_name != NULL && application_name[0] != '\0')
		common[AF_APPNAME] = CStringGetTextDatum(application_name);
	else
		common_null[AF_APPNAME] = true;
	if (audit_client_address(&addr))
		common[AF_CLIENT_ADDR] = addr;
	else
		common_null[AF_CLIENT_ADDR] = true;
	common[AF_PID] = Int32GetDatum(MyProcPid);
	common[AF_QUERY_ID] = query_id;
	common_null[AF_QUERY_ID] = query_id_null;

	values = palloc(sizeof(Datum) * AF_COUNT * n);
	isnull = palloc(sizeof(bool) * AF_COUNT * n);
	for (r = 0; r < n; r++)
	{
		Datum	   *v = values + r * AF_COUNT;
		bool	   *nl = isnull + r * AF_COUNT;

		memcpy(v, common, sizeof(common));
		memcpy(nl, common_null, sizeof(common_null));
		v[AF_EVENT_ID] = Int64GetDatum(audit_event_id(seqoid, &event_block, &event_used));
		v[AF_ROW_KEY] = keys[r];
		nl[AF_ROW_KEY] = keys_null[r];
		v[AF_OLD] = olds[r];
		nl[AF_OLD] = olds_null[r];
		v[AF_NEW] = news[r];
		nl[AF_NEW] = news_null[r];
		nl[AF_CHANGED] = changed == NULL || changed[r] == (Datum) 0;
		v[AF_CHANGED] = nl[AF_CHANGED] ? (Datum) 0 : changed[r];
	}

	log = table_open(logoid, RowExclusiveLock);
	if (log->trigdesc != NULL || log->rd_rules != NULL)
	{
		/* someone added a trigger or rule to the log: let the executor run it */
		table_close(log, NoLock);
		audit_write_sql(values, isnull, n, AF_COUNT);
		return;
	}
	part = table_open(audit_partition_for(log, GetCurrentTransactionStartTimestamp()),
					  RowExclusiveLock);
	{
		TupleDesc	desc = RelationGetDescr(part);
		const int  *map = audit_column_map(part);
		EState	   *estate = CreateExecutorState();
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		BulkInsertState bistate = NULL;
		CommandId	cid = GetCurrentCommandId(true);
		TupleTableSlot **slots;
		int			nslots = Min(n, AUDIT_MULTI_INSERT);
		int			nindexes;
		int			per_row;
		BlockNumber last_block = InvalidBlockNumber;
		int			a,
					i;

		/*
		 * A bulk insert state keeps the current page pinned between batches;
		 * one batch does without.  Log pages go through shared buffers like
		 * the audited table's own: a bulk-write ring would make this backend
		 * write them out itself.
		 */
		if (n > nslots)
		{
			bistate = GetBulkInsertState();
			if (bistate->strategy != NULL)
			{
				FreeAccessStrategy(bistate->strategy);
				bistate->strategy = NULL;
			}
		}

		InitResultRelInfo(rri, part, 0, NULL, 0);
		ExecOpenIndices(rri, false);
		nindexes = rri->ri_NumIndices;
		per_row = audit_order_indexes(rri, map);
		slots = palloc(sizeof(TupleTableSlot *) * nslots);
		for (i = 0; i < nslots; i++)
			slots[i] = table_slot_create(part, NULL);

		for (r = 0; r < n; r += nslots)
		{
			int			batch = Min(nslots, n - r);

			for (i = 0; i < batch; i++)
			{
				TupleTableSlot *slot = slots[i];
				Datum	   *v = values + (r + i) * AF_COUNT;
				bool	   *nl = isnull + (r + i) * AF_COUNT;

				ExecClearTuple(slot);
				for (a = 0; a < desc->natts; a++)
				{
					slot->tts_values[a] = map[a] >= 0 ? v[map[a]] : (Datum) 0;
					slot->tts_isnull[a] = map[a] >= 0 ? nl[map[a]] : true;
				}
				ExecStoreVirtualTuple(slot);
			}
			table_multi_insert(part, slots, batch, cid, 0, bistate);
			for (i = 0; i < batch; i++)
			{
				BlockNumber block = ItemPointerGetBlockNumber(&slots[i]->tts_tid);

				rri->ri_NumIndices = block == last_block ? per_row : nindexes;
				last_block = block;
				if (rri->ri_NumIndices > 0)
					(void) steward_insert_index_tuples(rri, slots[i], estate);
				ResetPerTupleExprContext(estate);
			}
		}

		for (i = 0; i < nslots; i++)
			ExecDropSingleTupleTableSlot(slots[i]);
		rri->ri_NumIndices = nindexes;
		ExecCloseIndices(rri);
		if (bistate != NULL)
			FreeBulkInsertState(bistate);
		FreeExecutorState(estate);
	}
	table_close(part, NoLock);
	table_close(log, NoLock);
}
