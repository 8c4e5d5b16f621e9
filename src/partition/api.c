/*-------------------------------------------------------------------------
 *
 * api.c
 *	  SQL functions on partition sets (steward.partition_*).
 *
 * Each checks ownership first, then works as the table's owner in the
 * caller's transaction; partition_maintain() maintains each set in its own
 * subtransaction, so one failing set does not stop the others.
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

PG_FUNCTION_INFO_V1(steward_partition_table);
PG_FUNCTION_INFO_V1(steward_partition_maintain);
PG_FUNCTION_INFO_V1(steward_partition_alter);
PG_FUNCTION_INFO_V1(steward_partition_forget);
PG_FUNCTION_INFO_V1(steward_partition_info);
PG_FUNCTION_INFO_V1(steward_partition_drain_default);

/* detach_concurrently cannot be concurrent while a default partition exists. */
static void
part_notice_detach_default(PartSet *set)
{
	if (set->retention_mode != NULL &&
		strcmp(set->retention_mode, "detach_concurrently") == 0 &&
		OidIsValid(get_default_partition_oid(set->parent)))
		ereport(NOTICE,
				(errmsg("partitions of \"%s\" will be detached without CONCURRENTLY while it has a default partition",
						set->relname),
				 errdetail("PostgreSQL refuses DETACH PARTITION ... CONCURRENTLY when a default partition exists; maintenance then uses a plain DETACH, which takes a brief ACCESS EXCLUSIVE lock on the parent under steward.partition_lock_timeout."),
				 errhint("Drop the default partition (or create the set with default_partition => false) to detach without blocking queries.")));
}

/* A nullable text SPI parameter. */
static void
part_text_param(const char *value, Datum *datum, char *null)
{
	*datum = value ? CStringGetTextDatum(value) : (Datum) 0;
	*null = value ? ' ' : 'n';
}

static char *
part_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Parse a user-given start value in the set's time zone. */
static int64
part_parse_start(PartSet *set, const char *text)
{
	Oid			typinput;
	Oid			typioparam;
	Datum		d;
	int			nest = NewGUCNestLevel();

	(void) set_config_option("TimeZone", set->timezone, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	getTypeInputInfo(set->typid, &typinput, &typioparam);
	d = OidInputFunctionCall(typinput, (char *) text, typioparam, -1);
	AtEOXact_GUC(true, nest);
	return part_datum_to_point(set->typid, d);
}

/*
 * steward.partition_table(parent, control, step, premake, start_at,
 *		retention, retention_mode, default_partition, name_template, timezone)
 */
Datum
steward_partition_table(PG_FUNCTION_ARGS)
{
	PartSet		set = {0};
	StewardCatalogAccess owner;
	StewardResult *res;
	List	   *ranges;
	int64		start;
	int64		current;
	int64		upto;
	int			created;
	int			i;
	bool		made_default;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("parent, control and step must not be null")));
	set.parent = PG_GETARG_OID(0);
	set.control = part_text_arg(fcinfo, 1);
	set.step = part_text_arg(fcinfo, 2);
	set.premake = PG_ARGISNULL(3) ? 4 : PG_GETARG_INT32(3);
	set.retention = part_text_arg(fcinfo, 5);
	set.retention_mode = PG_ARGISNULL(6) ? "drop" : part_text_arg(fcinfo, 6);
	set.default_partition = PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7);
	set.name_template = part_text_arg(fcinfo, 8);
	set.timezone = PG_ARGISNULL(9) ? "UTC" : part_text_arg(fcinfo, 9);
	set.retention_schema = PG_NARGS() > 10 ? part_text_arg(fcinfo, 10) : NULL;

	/*
	 * Check privileges before touching the table, and describe it as its
	 * owner: building the partition key evaluates the owner's expressions.
	 */
	steward_require_table_owner(set.parent);
	steward_owner_enter(set.parent, &owner);
	part_describe_parent(&set);
	part_validate(&set);

	SPI_connect();
	res = steward_catalog_exec("SELECT 1 FROM steward.partition_set WHERE parent::pg_catalog.oid = $1",
							   SPI_OK_SELECT, 1, (Oid[]) {OIDOID},
							   (Datum[]) {ObjectIdGetDatum(set.parent)}, NULL);
	if (res->processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already a partition set", set.relname),
				 errhint("Use steward.partition_alter() to change it.")));

	/* The set's tables are created under our own lock timeout. */
	LockRelationOid(set.parent, ShareUpdateExclusiveLock);

	current = part_floor(&set, part_current_point(&set));
	start = PG_ARGISNULL(4) ? current : part_floor(&set, part_parse_start(&set, part_text_arg(fcinfo, 4)));
	upto = Max(current, start);
	for (i = 0; i <= set.premake; i++)
		upto = part_next(&set, upto);

	ranges = part_existing(&set);
	created = part_create_range(&set, &ranges, start, upto, false, true, NULL, NULL);
	part_ensure_default(&set, ranges, &made_default);
	if (made_default)
		created++;

	{
		Datum		values[10];
		char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = ObjectIdGetDatum(set.parent);
		values[1] = CStringGetTextDatum(set.control);
		values[2] = CStringGetTextDatum(set.step);
		values[3] = Int32GetDatum(set.premake);
		part_text_param(set.retention, &values[4], &nulls[4]);
		values[5] = CStringGetTextDatum(set.retention_mode);
		values[6] = BoolGetDatum(set.default_partition);
		values[7] = CStringGetTextDatum(set.name_template);
		values[8] = CStringGetTextDatum(set.timezone);
		part_text_param(set.retention_schema, &values[9], &nulls[9]);
		steward_catalog_exec("INSERT INTO steward.partition_set"
							 " (parent, control, step, premake, retention, retention_mode,"
							 "  default_partition, name_template, timezone, retention_schema)"
							 " VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
							 SPI_OK_INSERT, 10,
							 (Oid[]) {OIDOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID},
							 values, nulls);
	}
	part_save_state(set.parent, "ok", psprintf("created %d partitions", created), NULL);
	steward_owner_exit(&owner);
	SPI_finish();
	part_notice_detach_default(&set);
	PG_RETURN_INT32(created);
}

typedef struct PartMaintainCall
{
	PartSet    *set;
	PartResult *res;
} PartMaintainCall;
static void
part_maintain_try(void *arg)
{
	PartMaintainCall *call = (PartMaintainCall *) arg;
	StewardCatalogAccess owner;

	steward_require_table_owner(call->set->parent);
	steward_owner_enter(call->set->parent, &owner);
	part_maintain_one(call->set, false, call->res);
	steward_owner_exit(&owner);
}

/*
 * steward.partition_maintain(parent DEFAULT NULL) RETURNS TABLE(parent,
 *		created, detached, dropped, archived, status, message)
 * Each set in its own subtransaction: one failure is reported in its row.
 */
Datum
steward_partition_maintain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	List	   *sets;
	List	   *states = NIL;
	ListCell   *lc;
	MemoryContext outer;
	MemoryContext setcxt;
	bool		sweep;

	steward_init_srf(fcinfo);
	/* a set of someone else's is neither maintained nor marked failed */
	if (OidIsValid(only))
		steward_require_table_owner(only);
	SPI_connect();
	sets = part_load_sets(only);
	if (OidIsValid(only) && sets == NIL)
		part_not_a_set(only);
	if (list_length(sets) > 1)
		part_prefetch_fingerprints();	/* one scan of pg_inherits for all */
	sweep = !OidIsValid(only) && part_sweep_available();

	/* what one set needs goes with it: memory of its own, reset per set */
	outer = CurrentMemoryContext;
	setcxt = AllocSetContextCreate(outer, "pg_steward partition set",
								   ALLOCSET_DEFAULT_SIZES);
	foreach(lc, sets)
	{
		PartSet    *set = lfirst(lc);
		Oid			parent = set->parent;
		PartResult	res = {0};
		PartMaintainCall call;
		ErrorData  *edata;
		Datum		values[7];
		bool		nulls[7] = {0};

		MemoryContextReset(setcxt);
		MemoryContextSwitchTo(setcxt);
		if (!OidIsValid(only) && set->has_quiet &&
			(superuser() ||
			 (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)) &&
			  steward_is_table_owner(parent))) &&
			part_quiet_fast(set, &res))
		{
			/* as the last maintenance left it: written only if it said more */
			if (!set->state_plain || !sweep)
			{
				MemoryContextSwitchTo(outer);
				states = lappend(states, part_state_row(parent, res.status, NULL, &res));
				MemoryContextSwitchTo(setcxt);
			}
		}
		else
		{
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)))
				continue;
			if (!OidIsValid(only) && !steward_is_table_owner(parent))
				continue;

			call.set = set;
			call.res = &res;
			edata = steward_in_subxact(part_maintain_try, &call);
			if (edata != NULL)
			{
				memset(&res, 0, sizeof(res));
				res.status = "failed";
				res.message = edata->message;
			}

			if (strcmp(res.status, "skipped") == 0)
				part_save_skipped(parent, res.message);
			else
			{
				MemoryContextSwitchTo(outer);
				states = lappend(states, part_state_row(parent, res.status, res.message, &res));
				MemoryContextSwitchTo(setcxt);
			}
		}
		values[0] = ObjectIdGetDatum(parent);
		values[1] = Int32GetDatum(res.created);
		values[2] = Int32GetDatum(res.detached);
		values[3] = Int32GetDatum(res.dropped);
		values[4] = Int32GetDatum(res.archived);
		values[5] = CStringGetTextDatum(res.status);
		if (res.message)
			values[6] = CStringGetTextDatum(res.message);
		else
			nulls[6] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(setcxt);
	part_save_states(states);
	if (sweep)
		part_save_sweep(GetUserId());
	SPI_finish();
	return (Datum) 0;
}

/*
 * steward.partition_alter(parent, premake, retention, retention_mode,
 *		name_template) RETURNS void; retention 'none' removes it.
 */
Datum
steward_partition_alter(PG_FUNCTION_ARGS)
{
	PartSet		set;
	StewardCatalogAccess owner;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			parent;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("parent must not be null")));
	parent = PG_GETARG_OID(0);
	steward_require_table_owner(parent);
	SPI_connect();
	part_load_or_error(parent, &set);
	steward_owner_enter(parent, &owner);
	part_describe_parent(&set);
	steward_owner_exit(&owner);
	if (!PG_ARGISNULL(1))
		set.premake = PG_GETARG_INT32(1);
	if (!PG_ARGISNULL(2))
	{
		set.retention = part_text_arg(fcinfo, 2);
		if (pg_strcasecmp(set.retention, "none") == 0)
			set.retention = NULL;
	}
	if (!PG_ARGISNULL(3))
		set.retention_mode = part_text_arg(fcinfo, 3);
	if (!PG_ARGISNULL(4))
		set.name_template = part_text_arg(fcinfo, 4);
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
	{
		set.retention_schema = part_text_arg(fcinfo, 5);
		if (pg_strcasecmp(set.retention_schema, "none") == 0)
			set.retention_schema = NULL;
	}
	part_validate(&set);

	values[0] = ObjectIdGetDatum(parent);
	values[1] = Int32GetDatum(set.premake);
	part_text_param(set.retention, &values[2], &nulls[2]);
	values[3] = CStringGetTextDatum(set.retention_mode);
	values[4] = CStringGetTextDatum(set.name_template);
	part_text_param(set.retention_schema, &values[5], &nulls[5]);
	steward_catalog_exec("UPDATE steward.partition_set SET premake = $2, retention = $3,"
						 " retention_mode = $4, name_template = $5, retention_schema = $6"
						 " WHERE parent::pg_catalog.oid = $1",
						 SPI_OK_UPDATE, 6, (Oid[]) {OIDOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
						 values, nulls);
	/* before SPI_finish(): the set's strings live in SPI memory */
	if (!PG_ARGISNULL(3))
		part_notice_detach_default(&set);
	SPI_finish();
	PG_RETURN_VOID();
}

/* steward.partition_forget(parent): stop managing a set; no table is touched. */
Datum
steward_partition_forget(PG_FUNCTION_ARGS)
{
	PartSet		set;
	Oid			parent = PG_GETARG_OID(0);
	Datum		arg = ObjectIdGetDatum(parent);

	steward_require_table_owner(parent);
	part_load_or_error(parent, &set);
	steward_catalog_exec("DELETE FROM steward.partition_set WHERE parent::pg_catalog.oid = $1",
						 SPI_OK_DELETE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	steward_catalog_exec("DELETE FROM steward.partition_state WHERE parent::pg_catalog.oid = $1",
						 SPI_OK_DELETE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	PG_RETURN_VOID();
}

typedef struct PartInfoCall
{
	PartSet    *set;
	MemoryContext callcxt;		/* where the result values go */
	Datum		values[5];
	bool		nulls[5];
} PartInfoCall;
/* The shape of one set, as its owner (an id set's largest id is read). */
static void
part_info_try(void *arg)
{
	PartInfoCall *call = (PartInfoCall *) arg;
	PartSet    *set = call->set;
	List	   *ranges;
	ListCell   *lc;
	int64		current;
	int64		newest = 0;
	int64		oldest = 0;
	bool		any = false;
	int			count = 0;
	int			ahead = 0;
	PartRange  *def;
	HeapTuple	tup;
	MemoryContext old;
	StewardCatalogAccess owner;

	steward_owner_enter(set->parent, &owner);
	part_describe_parent(set);
	part_parse_step(set);
	set->tz = cron_lookup_timezone(set->timezone);
	ranges = part_existing(set);
	current = part_floor(set, part_current_point(set));
	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);

		if (r->is_default)
			continue;
		count++;
		if (!r->hi_unbounded && (!any || r->hi > newest))
			newest = r->hi;
		if (!r->lo_unbounded && (!any || r->lo < oldest))
			oldest = r->lo;
		if (!r->lo_unbounded && r->lo > current)
			ahead++;
		any = true;
	}
	steward_owner_exit(&owner);

	/* the result must outlive SPI_finish() */
	old = MemoryContextSwitchTo(call->callcxt);
	if (any)
	{
		call->values[0] = CStringGetTextDatum(part_point_display(set, newest));
		call->values[2] = CStringGetTextDatum(part_point_display(set, oldest));
	}
	else
		call->nulls[0] = call->nulls[2] = true;
	MemoryContextSwitchTo(old);
	call->values[1] = Int32GetDatum(ahead);
	call->values[3] = Int32GetDatum(count);
	def = part_find_default(ranges);
	tup = def ? SearchSysCache1(RELOID, ObjectIdGetDatum(def->relid)) : NULL;
	if (HeapTupleIsValid(tup))
	{
		float4		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;

		call->values[4] = Int64GetDatum(reltuples > 0 ? (int64) reltuples : 0);
		ReleaseSysCache(tup);
	}
	else
		call->nulls[4] = true;
}

/*
 * steward.partition_info(parent) RETURNS TABLE(premade_until text,
 *		periods_ahead int, oldest_bound text, partitions int,
 *		rows_in_default bigint): the live shape of a set, for the status view.
 * A set that cannot be read (a renamed column, a failing policy) gives a
 * row of NULLs and a warning, never an error for the whole view.
 */
Datum
steward_partition_info(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	PartSet		set;
	TupleDesc	tupdesc;
	PartInfoCall call = {0};
	ErrorData  *edata;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* only roles with the owner's privileges see a set's shape */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(parent)) ||
		!steward_is_table_owner(parent))
		PG_RETURN_NULL();

	call.callcxt = CurrentMemoryContext;
	call.set = &set;
	SPI_connect();
	if (!part_load_visible(parent, &set))
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	edata = steward_in_subxact(part_info_try, &call);
	SPI_finish();
	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not read partition set \"%s\": %s",
						get_rel_name(parent), edata->message)));
		PG_RETURN_NULL();
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, call.values, call.nulls)));
}

/*
 * steward.partition_drain_default(parent, batch_rows) RETURNS bigint
 * Moves rows of the default partition into proper partitions, creating
 * them, in the caller's transaction.  (The partition_maintenance job drains
 * default partitions too, one period per transaction.)
 */
Datum
steward_partition_drain_default(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	int			batch = PG_ARGISNULL(1) ? 10000 : PG_GETARG_INT32(1);
	PartSet		set;
	List	   *ranges;
	PartRange  *def;
	int64		moved = 0;
	StewardCatalogAccess owner;

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_rows must be positive")));
	steward_require_table_owner(parent);
	SPI_connect();
	part_load_or_error(parent, &set);
	steward_owner_enter(parent, &owner);
	part_describe_parent(&set);
	part_validate(&set);
	ranges = part_existing(&set);
	def = part_find_default(ranges);
	if (def != NULL)
		while (part_drain_period(&set, &ranges, def, batch, &moved))
			;
	steward_owner_exit(&owner);
	SPI_finish();
	PG_RETURN_INT64(moved);
}
