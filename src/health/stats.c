/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Statistics the SQL checks cannot read fast or at all: average row
 *	  widths for the bloat estimates, checkpoint counters.
 *
 * steward.health_rel_widths() reads pg_statistic once (stawidth and
 * stanullfrac only, never the most common values or histograms) and sums
 * the columns of every table and btree index.  The pg_stats view would
 * check a privilege per column and hide the tables a pg_monitor member
 * cannot SELECT from; here a relation is shown to members of
 * pg_read_all_stats and to roles that may SELECT from the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_statistic.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "core/compat.h"
#include "core/spi_util.h"
#include "health/health.h"

PG_FUNCTION_INFO_V1(steward_health_rel_widths);
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

typedef struct HealthRelWidth
{
	Oid			relid;
	double		width;
	bool		has_nulls;
	int			columns;
} HealthRelWidth;

/* Members of pg_read_all_stats see every relation; others what they may read. */
static bool
health_may_see(Oid relid, bool all_stats)
{
	return all_stats || pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

static void
health_emit(ReturnSetInfo *rsinfo, Oid relid, double width, bool has_nulls, int columns)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Float8GetDatum(width);
	values[2] = BoolGetDatum(has_nulls);
	values[3] = Int32GetDatum(columns);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* steward.health_rel_widths() */
Datum
steward_health_rel_widths(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_stats = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	HASHCTL		ctl = {0};
	HTAB	   *cols;
	HTAB	   *rels;
	HASH_SEQ_STATUS seq;
	HealthRelWidth *rw;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;

	steward_init_srf(fcinfo);

	ctl.keysize = sizeof(HealthColKey);
	ctl.entrysize = sizeof(HealthCol);
	ctl.hcxt = CurrentMemoryContext;
	cols = hash_create("steward health column widths", 4096, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(HealthRelWidth);
	rels = hash_create("steward health relation widths", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* one pass over pg_statistic: the width of every column with statistics */
	rel = table_open(StatisticRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_statistic st = (Form_pg_statistic) GETSTRUCT(tuple);
		HealthColKey key;
		HealthCol  *col;
		bool		found;

		if (st->stainherit)
			continue;
		key.relid = st->starelid;
		key.attnum = st->staattnum;
		col = hash_search(cols, &key, HASH_ENTER, NULL);
		col->width = st->stawidth;
		col->nullfrac = st->stanullfrac;
		rw = hash_search(rels, &st->starelid, HASH_ENTER, &found);
		if (!found)
		{
			rw->width = 0;
			rw->has_nulls = false;
			rw->columns = 0;
		}
		rw->width += st->stawidth * (1.0 - st->stanullfrac);
		rw->has_nulls |= st->stanullfrac > 0;
		rw->columns++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* tables and materialized views */
	hash_seq_init(&seq, rels);
	while ((rw = hash_seq_search(&seq)) != NULL)
	{
		char		relkind = get_rel_relkind(rw->relid);

		if ((relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW) &&
			health_may_see(rw->relid, all_stats))
			health_emit(rsinfo, rw->relid, rw->width, rw->has_nulls, rw->columns);
	}

	/* btree indexes: their columns' widths, from the table or the index */
	rel = table_open(IndexRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_index ix = (Form_pg_index) GETSTRUCT(tuple);
		HeapTuple	classtup;
		Oid			relam;
		char		relkind;
		double		width = 0;
		bool		has_nulls = false;
		bool		complete = true;
		int			i;

		if (!ix->indisvalid)
			continue;
		classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(ix->indexrelid));
		if (!HeapTupleIsValid(classtup))
			continue;
		relam = ((Form_pg_class) GETSTRUCT(classtup))->relam;
		relkind = ((Form_pg_class) GETSTRUCT(classtup))->relkind;
		ReleaseSysCache(classtup);
		if (relam != BTREE_AM_OID || relkind != RELKIND_INDEX)
			continue;
		for (i = 0; i < ix->indnatts && complete; i++)
		{
			HealthColKey key;
			HealthCol  *col;

			memset(&key, 0, sizeof(key));
			if (ix->indkey.values[i] != 0)
			{
				key.relid = ix->indrelid;
				key.attnum = ix->indkey.values[i];
			}
			else
			{
				key.relid = ix->indexrelid;
				key.attnum = i + 1;
			}
			col = hash_search(cols, &key, HASH_FIND, NULL);
			if (col == NULL)
				complete = false;
			else
			{
				width += col->width * (1.0 - col->nullfrac);
				has_nulls |= col->nullfrac > 0;
			}
		}
		if (complete && health_may_see(ix->indrelid, all_stats))
			health_emit(rsinfo, ix->indexrelid, width, has_nulls, ix->indnatts);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

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
