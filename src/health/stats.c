/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Statistics the SQL checks cannot read fast or at all: average row
 *	  widths for the bloat estimates, checkpoint counters.
 *
 * steward.health_bloat_estimates() reads pg_class, pg_index and
 * pg_statistic once each (of pg_statistic stawidth and stanullfrac only,
 * never the most common values or histograms) and estimates the pages
 * every table or btree index above a size needs.  The pg_stats view would
 * check a privilege per column and hide the tables a pg_monitor member
 * cannot SELECT from; here a relation is shown to members of
 * pg_read_all_stats and to roles that may SELECT from the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_statistic.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "core/compat.h"
#include "core/spi_util.h"
#include "health/health.h"

PG_FUNCTION_INFO_V1(steward_health_bloat_estimates);
PG_FUNCTION_INFO_V1(steward_health_checkpoint_counts);
PG_FUNCTION_INFO_V1(steward_health_qname);

typedef struct HealthColKey
{
	Oid			relid;
	int16		attnum;
} HealthColKey;

typedef struct HealthCol
{
	HealthColKey key;
	float4		width;			/* stawidth */
	float4		nullfrac;		/* stanullfrac */
} HealthCol;

/* A relation whose bloat is estimated. */
typedef struct HealthRel
{
	Oid			relid;
	Oid			tableid;		/* the table (an index's indrelid) */
	char		relkind;
	bool		is_index;
	bool		stats_needed;	/* only a table whose columns an index uses */
	int32		pages;
	float4		tuples;
	int			fillfactor;
	double		width;			/* sum of stawidth * (1 - stanullfrac) */
	bool		has_nulls;
	int			columns;		/* columns with statistics (a table) */
	int			natts;			/* an index's columns */
	int16		keys[INDEX_MAX_KEYS];
} HealthRel;

/* Members of pg_read_all_stats see every relation; others what they may read. */
static bool
health_may_see(Oid relid, bool all_stats)
{
	return all_stats || pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

/* The fillfactor in a pg_class.reloptions array, or dflt. */
static int
health_fillfactor(Datum reloptions, bool isnull, int dflt)
{
	List	   *opts;
	ListCell   *lc;

	if (isnull)
		return dflt;
	opts = untransformRelOptions(reloptions);
	foreach(lc, opts)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "fillfactor") == 0 && def->arg != NULL)
			return pg_strtoint32(strVal(def->arg));
	}
	return dflt;
}

/*
 * The pages a relation's rows need: the row count (reltuples) at the
 * average width, with the tuple header, alignment, line pointers and the
 * fillfactor; for a btree index its leaf pages, ~1% inner pages and the
 * metapage.
 */
static double
health_expected_pages(HealthRel *r)
{
	double		tuple_bytes;
	double		per_page;

	if (!r->is_index)
	{
		/* 23-byte header plus NULL bitmap, aligned; data aligned; line pointer */
		double		header = 23 + (r->has_nulls ? ceil(r->columns / 8.0) : 0);

		tuple_bytes = ceil((ceil(header / 8.0) * 8 + r->width) / 8.0) * 8 + 4;
		per_page = Max(1, floor((BLCKSZ - 24) * r->fillfactor / 100.0 / tuple_bytes));
		return ceil(r->tuples / per_page);
	}
	/* 8-byte index tuple header (plus a NULL bitmap), aligned; line pointer */
	tuple_bytes = ceil((8 + (r->has_nulls ? 4 : 0) + r->width) / 8.0) * 8 + 4;
	/* page header 24, btree special space 16 */
	per_page = Max(1, floor((BLCKSZ - 40) * r->fillfactor / 100.0 / tuple_bytes));
	return ceil(ceil(r->tuples / per_page) * 1.01) + 1;
}

static void
health_emit(ReturnSetInfo *rsinfo, HealthRel *r)
{
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};
	double		expected = health_expected_pages(r);
	double		wasted = Max(0, r->pages - expected);

	values[0] = ObjectIdGetDatum(r->relid);
	values[1] = ObjectIdGetDatum(r->tableid);
	values[2] = Int64GetDatum((int64) r->pages * BLCKSZ);
	values[3] = Int64GetDatum((int64) expected);
	values[4] = Int64GetDatum((int64) wasted * BLCKSZ);
	values[5] = Float8GetDatum(rint(1000.0 * wasted / Max(r->pages, 1)) / 10.0);
	values[6] = Float8GetDatum(r->tuples);
	values[7] = Int32GetDatum(r->fillfactor);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * steward.health_bloat_estimates(indexes boolean, min_pages bigint)
 *
 * The estimated bloat of every analyzed table and materialized view
 * (indexes = false) or valid btree index (true) of at least min_pages
 * pages.  One pass over pg_class picks the relations, one over pg_index
 * the candidate indexes' columns, one over pg_statistic the widths of the
 * columns they need; nothing else is read, so a check that only flags
 * relations above a size does no work for the small ones.
 */
Datum
steward_health_bloat_estimates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		indexes = PG_GETARG_BOOL(0);
	int64		min_pages = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	bool		all_stats = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	HASHCTL		ctl = {0};
	HTAB	   *cols;
	HTAB	   *rels;
	HASH_SEQ_STATUS seq;
	HealthRel  *r;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	long		ncand = 0;

	steward_init_srf(fcinfo);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(HealthRel);
	ctl.hcxt = CurrentMemoryContext;
	rels = hash_create("steward health bloat relations", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(HealthColKey);
	ctl.entrysize = sizeof(HealthCol);
	cols = hash_create("steward health column widths", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the candidates: pg_class alone says their kind, size and row count */
	rel = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tuple);
		bool		is_index;
		bool		isnull;
		Datum		relopts;

		if (indexes)
			is_index = c->relkind == RELKIND_INDEX && c->relam == BTREE_AM_OID && c->relpages > 1;
		else
			is_index = false;
		if (indexes ? !is_index
			: !((c->relkind == RELKIND_RELATION || c->relkind == RELKIND_MATVIEW) && c->relpages > 0))
			continue;
		if (c->reltuples < 0 || c->relpages < min_pages)
			continue;
		r = hash_search(rels, &c->oid, HASH_ENTER, NULL);
		memset(((char *) r) + sizeof(Oid), 0, sizeof(HealthRel) - sizeof(Oid));
		r->tableid = c->oid;
		r->relkind = c->relkind;
		r->is_index = is_index;
		r->pages = c->relpages;
		r->tuples = c->reltuples;
		relopts = heap_getattr(tuple, Anum_pg_class_reloptions, RelationGetDescr(rel), &isnull);
		r->fillfactor = health_fillfactor(relopts, isnull,
										  is_index ? BTREE_DEFAULT_FILLFACTOR : HEAP_DEFAULT_FILLFACTOR);
		ncand++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the candidate indexes' columns, and the tables whose statistics they use */
	if (indexes && ncand > 0)
	{
		rel = table_open(IndexRelationId, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Form_pg_index ix = (Form_pg_index) GETSTRUCT(tuple);
			HealthRel  *t;
			bool		found;

			r = hash_search(rels, &ix->indexrelid, HASH_FIND, NULL);
			if (r == NULL)
				continue;
			if (!ix->indisvalid)
			{
				hash_search(rels, &ix->indexrelid, HASH_REMOVE, NULL);
				continue;
			}
			r->tableid = ix->indrelid;
			r->natts = ix->indnatts;
			memcpy(r->keys, ix->indkey.values, sizeof(int16) * ix->indnatts);
			t = hash_search(rels, &ix->indrelid, HASH_ENTER, &found);
			if (!found)
			{
				memset(((char *) t) + sizeof(Oid), 0, sizeof(HealthRel) - sizeof(Oid));
				t->tableid = ix->indrelid;
				t->stats_needed = true;
			}
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}

	/* one pass over pg_statistic: the widths of the columns needed */
	if (ncand > 0)
	{
		rel = table_open(StatisticRelationId, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(tuple);
			HealthColKey key;
			HealthCol  *col;

			if (st->stainherit)
				continue;
			r = hash_search(rels, &st->starelid, HASH_FIND, NULL);
			if (r == NULL)
				continue;
			if (indexes)
			{
				memset(&key, 0, sizeof(key));
				key.relid = st->starelid;
				key.attnum = st->staattnum;
				col = hash_search(cols, &key, HASH_ENTER, NULL);
				col->width = st->stawidth;
				col->nullfrac = st->stanullfrac;
			}
			else
			{
				r->width += st->stawidth * (1.0 - st->stanullfrac);
				r->has_nulls |= st->stanullfrac > 0;
				r->columns++;
			}
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}

	hash_seq_init(&seq, rels);
	while ((r = hash_seq_search(&seq)) != NULL)
	{
		bool		complete = true;
		int			i;

		if (r->stats_needed)
			continue;
		if (r->is_index)
		{
			/* its columns' widths, from the table or the index (expressions) */
			for (i = 0; i < r->natts && complete; i++)
			{
				HealthColKey key;
				HealthCol  *col;

				memset(&key, 0, sizeof(key));
				key.relid = r->keys[i] != 0 ? r->tableid : r->relid;
				key.attnum = r->keys[i] != 0 ? r->keys[i] : i + 1;
				col = hash_search(cols, &key, HASH_FIND, NULL);
				if (col == NULL)
					complete = false;
				else
				{
					r->width += col->width * (1.0 - col->nullfrac);
					r->has_nulls |= col->nullfrac > 0;
				}
			}
			r->columns = r->natts;
			complete = complete && r->natts > 0;
		}
		else
			complete = r->columns > 0;	/* never analyzed: not estimated */
		if (complete && health_may_see(r->tableid, all_stats))
			health_emit(rsinfo, r);
	}

	hash_destroy(cols);
	hash_destroy(rels);
	return (Datum) 0;
}

/* steward.health_checkpoint_counts(): timed, requested, stats_reset */
Datum
steward_health_checkpoint_counts(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3];
	HeapTuple	result;
	MemoryContext caller = CurrentMemoryContext;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	SPI_connect();
	steward_spi_exec(STEWARD_CHECKPOINT_COUNTS_SQL, SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (i = 0; i < 3; i++)
		values[i] = steward_spi_getdatum(0, i + 1, &nulls[i]);
	/* formed in the caller's context: SPI_finish() frees SPI's */
	MemoryContextSwitchTo(caller);
	result = heap_form_tuple(tupdesc, values, nulls);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * steward.health_qname(oid): "schema"."name" of a relation, quoted, from
 * the syscache (the checks name thousands of relations per run; a SQL
 * function with a join costs a hundred times more).  NULL if it is gone.
 */
Datum
steward_health_qname(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	char	   *nspname;
	char	   *result;

	if (!HeapTupleIsValid(tuple))
		PG_RETURN_NULL();
	nspname = get_namespace_name(((Form_pg_class) GETSTRUCT(tuple))->relnamespace);
	result = quote_qualified_identifier(nspname,
										NameStr(((Form_pg_class) GETSTRUCT(tuple))->relname));
	ReleaseSysCache(tuple);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
