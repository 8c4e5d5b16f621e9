/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Row retention for tables that are not partitioned: delete rows older
 *	  than a time, in small batches.
 *
 * Each batch deletes at most batch_rows rows chosen through the time
 * column (an index on it makes that cheap; retention_add warns when there
 * is none) and runs in its own short transaction in the worker, under
 * steward.partition_lock_timeout, so no lock is held for long and vacuum
 * can keep up.  Every batch runs as the table's owner in a security-
 * restricted operation (steward_owner_enter), so the table's triggers and
 * rules never run with the rights of the job or of the caller.  In the
 * worker, one table's failure (a renamed column, a raising trigger) is
 * reported and the other tables are still cleaned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "core/pg_steward.h"
#include "scheduler/job_runner.h"
#include "core/guc.h"
#include "core/json.h"
#include "retention/retention.h"
#include "core/spi_util.h"

PG_FUNCTION_INFO_V1(steward_retention_add);
PG_FUNCTION_INFO_V1(steward_retention_remove);
PG_FUNCTION_INFO_V1(steward_retention_run);

/* tries of a batch whose lock is not granted within the lock timeout */
#define RETENTION_TRIES 4

static void retention_kind(StewardJobContext *ctx);

static const StewardJobKind retention_job_kind = {
	.name = "row_retention",
	.main = retention_kind,
	.validate = NULL,
	.takes_command = false,
	.description = "deletes rows past each registered table's retention, in batches"
};

void
steward_retention_init(void)
{
	steward_register_job_kind(&retention_job_kind);
}


/* Does some valid index of 'relid' start with column 'attnum'? */
static bool
retention_has_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

			if (idx->indisvalid && idx->indnkeyatts > 0 && idx->indkey.values[0] == attnum)
				found = true;
			ReleaseSysCache(tup);
		}
	}
	list_free(indexes);
	return found;
}

/*
 * steward.retention_add(tbl regclass, time_column text, keep interval,
 *		batch_rows int DEFAULT 10000) RETURNS void
 */
Datum
steward_retention_add(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column;
	Interval   *keep;
	int			batch;
	Relation	rel;
	AttrNumber	attnum;
	Oid			atttype;
	Datum		values[4];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tbl, time_column and keep must not be null")));
	relid = PG_GETARG_OID(0);
	column = text_to_cstring(PG_GETARG_TEXT_PP(1));
	keep = PG_GETARG_INTERVAL_P(2);
	batch = PG_ARGISNULL(3) ? 10000 : PG_GETARG_INT32(3);

	steward_require_positive_interval(keep, "keep");
	if (batch < 1 || batch > 10000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_rows must be between 1 and 10000000")));

	rel = table_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a plain table", RelationGetRelationName(rel)),
				 errhint("Partitioned tables get retention with steward.partition_table(..., retention => ...).")));
	steward_require_table_owner(relid);
	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel))));
	atttype = get_atttype(relid, attnum);
	if (atttype != TIMESTAMPTZOID && atttype != TIMESTAMPOID && atttype != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, not a time type", column,
						format_type_be(atttype)),
				 errhint("The time column must be timestamptz, timestamp or date.")));
	if (!retention_has_index(rel, attnum))
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("table \"%s\" has no index on \"%s\"",
						RelationGetRelationName(rel), column),
				 errdetail("Every retention batch will scan the whole table."),
				 errhint("CREATE INDEX ON %s (%s);",
						 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													RelationGetRelationName(rel)),
						 quote_identifier(column))));
	table_close(rel, NoLock);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(column);
	values[2] = IntervalPGetDatum(keep);
	values[3] = Int32GetDatum(batch);
	steward_catalog_exec("INSERT INTO steward.retention (tbl, time_column, keep, batch_rows)"
						 " VALUES ($1::pg_catalog.regclass, $2, $3, $4)"
						 " ON CONFLICT (tbl) DO UPDATE SET time_column = EXCLUDED.time_column,"
						 "  keep = EXCLUDED.keep, batch_rows = EXCLUDED.batch_rows",
						 SPI_OK_INSERT, 4, (Oid[]) {OIDOID, TEXTOID, INTERVALOID, INT4OID},
						 values, NULL);
	PG_RETURN_VOID();
}

/* steward.retention_remove(tbl regclass) RETURNS bool */
Datum
steward_retention_remove(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Datum		arg = ObjectIdGetDatum(relid);
	StewardResult *res;

	steward_require_table_owner(relid);
	res = steward_catalog_exec("DELETE FROM steward.retention WHERE tbl::pg_catalog.oid = $1",
							   SPI_OK_DELETE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	PG_RETURN_BOOL(res->processed > 0);
}

/* The DELETE of one batch of table 'relid' (SPI connected). */
static char *
retention_batch_sql(Oid relid, const char *column, int batch)
{
	char	   *qtbl = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												  get_rel_name(relid));

	return psprintf("DELETE FROM %s WHERE ctid = ANY (ARRAY("
					"SELECT ctid FROM %s WHERE %s < pg_catalog.now() - $1"
					" ORDER BY %s LIMIT %d))",
					qtbl, qtbl, quote_identifier(column), quote_identifier(column), batch);
}

typedef struct RetentionItem
{
	Oid			relid;
	char	   *name;			/* qualified and quoted, for reports */
	char	   *column;
	Interval	keep;
	int			batch;
	uint64		deleted;		/* out: rows deleted by the last batch */
} RetentionItem;

/*
 * Delete one batch of expired rows as the table's owner (SPI connected, in
 * a transaction, under the short lock timeout set by the caller).
 */
static void
retention_batch(void *arg)
{
	RetentionItem *it = (RetentionItem *) arg;
	StewardCatalogAccess owner;
	Datum		keep = IntervalPGetDatum(&it->keep);

	it->deleted = 0;
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(it->relid)))
		return;
	steward_owner_enter(it->relid, &owner);
	if (get_attnum(it->relid, it->column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", it->column, it->name),
				 errhint("Register the table again with steward.retention_add() and its new time column.")));
	steward_spi_exec(retention_batch_sql(it->relid, it->column, it->batch), SPI_OK_DELETE,
					 1, (Oid[]) {INTERVALOID}, &keep, NULL);
	it->deleted = SPI_processed;
	steward_owner_exit(&owner);
}

/*
 * steward.retention_run(tbl regclass) RETURNS bigint: apply one table's
 * retention now, in the caller's transaction, as the table's owner;
 * returns the rows deleted.
 */
Datum
steward_retention_run(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Datum		arg = ObjectIdGetDatum(relid);
	StewardResult *res;
	RetentionItem it = {0};
	bool		isnull;
	int64		deleted = 0;
	int			nest;

	steward_require_table_owner(relid);
	res = steward_catalog_exec("SELECT time_column, keep, batch_rows FROM steward.retention"
							   " WHERE tbl::pg_catalog.oid = $1",
							   SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, &arg, NULL);
	if (res->processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no retention", get_rel_name(relid)),
				 errhint("Add one with steward.retention_add().")));
	it.relid = relid;
	it.name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	it.column = steward_result_text(res, 0, 1);
	it.keep = *DatumGetIntervalP(steward_result_datum(res, 0, 2, &isnull));
	it.batch = DatumGetInt32(steward_result_datum(res, 0, 3, &isnull));
	SPI_connect();
	nest = steward_push_lock_timeout(steward_partition_lock_timeout);
	do
	{
		retention_batch(&it);
		deleted += it.deleted;
		CHECK_FOR_INTERRUPTS();
	} while (it.deleted >= (uint64) it.batch);
	AtEOXact_GUC(true, nest);
	SPI_finish();
	PG_RETURN_INT64(deleted);
}

/*
 * One table in the worker: a transaction per batch, each retried a few
 * times when a lock is not granted in time.  Returns the error, or NULL.
 */
static ErrorData *
retention_table(RetentionItem *it, int64 *deleted)
{
	char	   *what = psprintf("to delete from %s", it->name);

	*deleted = 0;
	for (;;)
	{
		ErrorData  *edata = steward_retry_on_lock_timeout(retention_batch, it,
														  RETENTION_TRIES, what);

		if (edata != NULL)
			return edata;
		*deleted += it->deleted;
		if (it->deleted < (uint64) it->batch)
			return NULL;
		CHECK_FOR_INTERRUPTS();
	}
}

typedef struct RetentionLoad
{
	MemoryContext mcxt;			/* where the items go */
	List	   *items;			/* out: RetentionItem */
} RetentionLoad;

/* The registered tables the job's owner may see (SPI connected). */
static void
retention_load(void *arg)
{
	RetentionLoad *load = (RetentionLoad *) arg;
	MemoryContext old;
	uint64		i;

	steward_spi_exec("SELECT r.tbl::pg_catalog.oid, r.time_column, r.keep, r.batch_rows,"
					 "       pg_catalog.format('%I.%I', n.nspname, c.relname)"
					 "  FROM steward.retention r"
					 "  JOIN pg_catalog.pg_class c ON c.oid = r.tbl::pg_catalog.oid"
					 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " ORDER BY 5",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	old = MemoryContextSwitchTo(load->mcxt);
	for (i = 0; i < SPI_processed; i++)
	{
		RetentionItem *it = palloc0(sizeof(RetentionItem));
		bool		isnull;

		it->relid = DatumGetObjectId(steward_spi_getdatum(i, 1, &isnull));
		it->column = steward_spi_gettext(i, 2);
		it->keep = *DatumGetIntervalP(steward_spi_getdatum(i, 3, &isnull));
		it->batch = DatumGetInt32(steward_spi_getdatum(i, 4, &isnull));
		it->name = steward_spi_gettext(i, 5);
		load->items = lappend(load->items, it);
	}
	MemoryContextSwitchTo(old);
}

/* Job kind 'row_retention': every registered table, batches in own transactions. */
static void
retention_kind(StewardJobContext *ctx)
{
	RetentionLoad load = {ctx->mcxt, NIL};
	ListCell   *lc;
	int64		total = 0;
	int			failed = 0;
	StringInfoData detail;
	StringInfoData failures;
	MemoryContext old;
	ErrorData  *edata;

	edata = steward_in_xact(retention_load, &load, ctx->mcxt);
	if (edata != NULL)
		ReThrowError(edata);

	/* everything below (and the errors of the tables' batches) in ctx->mcxt */
	old = MemoryContextSwitchTo(ctx->mcxt);
	initStringInfo(&detail);
	steward_json_begin(&detail);
	initStringInfo(&failures);
	foreach(lc, load.items)
	{
		RetentionItem *it = lfirst(lc);
		int64		n;

		edata = retention_table(it, &n);
		steward_json_add_int64(&detail, it->name, n);
		if (edata != NULL)
		{
			failed++;
			appendStringInfo(&failures, "%s%s: %s", failures.len ? "; " : "",
							 it->name, edata->message);
		}
		total += n;
	}
	steward_json_end(&detail);
	ctx->message = psprintf("deleted " INT64_FORMAT " rows from %d tables", total,
							list_length(load.items));
	ctx->detail = detail.data;
	MemoryContextSwitchTo(old);
	if (failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retention failed for %d of %d tables", failed, list_length(load.items)),
				 errdetail("%s. Rows deleted per table: %s.", failures.data, detail.data),
				 errhint("The other tables were cleaned; steward.retentions lists the registered tables.")));
}
