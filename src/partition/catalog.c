/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The catalog of partition sets: validation, steward.partition_set and
 *	  partition_state, a set's partitions from pg_inherits, names.
 *
 * Relations are found by OID in pg_inherits and each is named with its own
 * schema; every partition must belong to the parent's owner, as whom all
 * maintenance runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_partitioned_table.h"
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

static char *part_expand_template(PartSet *set, const char *parent_part, int64 start);

static void
part_check_mode(const char *mode)
{
	if (strcmp(mode, "archive") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("retention mode \"archive\" is not available yet"),
				 errdetail("Archiving needs the backup engine, which is not part of this version."),
				 errhint("Use \"drop\", \"detach\" or \"detach_concurrently\".")));
	if (strcmp(mode, "drop") != 0 && strcmp(mode, "detach") != 0 &&
		strcmp(mode, "detach_concurrently") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown retention mode \"%s\"", mode),
				 errhint("Retention modes are \"drop\", \"detach\" and \"detach_concurrently\".")));
}

/*
 * Detached partitions move to retention_schema as the set's owner, who
 * therefore needs CREATE there; say so now rather than at retention time.
 */
static void
part_check_retention_schema(PartSet *set)
{
	Oid			nsp;
	Oid			owner;

	if (set->retention_schema == NULL)
		return;
	nsp = get_namespace_oid(set->retention_schema, false);
	owner = steward_rel_owner(set->parent);
	if (!steward_may_create_in(nsp, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("owner %s of table \"%s\" may not create tables in schema \"%s\"",
						quote_identifier(GetUserNameFromId(owner, false)),
						get_rel_name(set->parent), set->retention_schema),
				 errdetail("Detached partitions are moved to retention_schema with the rights of the table's owner."),
				 errhint("GRANT CREATE ON SCHEMA %s TO %s;", quote_identifier(set->retention_schema),
						 quote_identifier(GetUserNameFromId(owner, false)))));
}

static char *
part_default_template(PartSet *set)
{
	if (!set->is_time)
		return "{parent}_p{start}";
	if (set->step_months > 0)
		return "{parent}_p{YYYY}{MM}";
	if (set->step_days > 0)
		return "{parent}_p{YYYY}{MM}{DD}";
	return "{parent}_p{YYYY}{MM}{DD}_{HH}{MI}";
}

/*
 * Describe the parent: RANGE-partitioned on exactly 'control' of a
 * supported type.  Fills nspname, relname, typid, is_time.
 */
void
part_describe_parent(PartSet *set)
{
	part_describe_locked(set, false);
}

/* The same, 'locked' when the caller holds a lock on the parent already. */
void
part_describe_locked(PartSet *set, bool locked)
{
	HeapTuple	tup;
	Form_pg_class classform;
	Form_pg_partitioned_table partform;
	AttrNumber	attnum;
	char	   *colname;

	/*
	 * From the catalog caches, without building the parent's relcache entry:
	 * a maintenance of thousands of quiet sets in a new session would
	 * otherwise spend most of its time building entries it never uses.
	 */
	if (!locked)
		LockRelationOid(set->parent, AccessShareLock);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(set->parent));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not open relation with OID %u", set->parent);	/* as table_open */
	classform = (Form_pg_class) GETSTRUCT(tup);
	set->nspname = get_namespace_name(classform->relnamespace);
	set->relname = pstrdup(NameStr(classform->relname));
	if (classform->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned", set->relname),
				 errhint("Create it with PARTITION BY RANGE (%s).",
						 set->control ? set->control : "column")));
	ReleaseSysCache(tup);

	tup = SearchSysCache1(PARTRELID, ObjectIdGetDatum(set->parent));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for partition key of relation %u", set->parent);
	partform = (Form_pg_partitioned_table) GETSTRUCT(tup);
	if (partform->partstrat != PARTITION_STRATEGY_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is not partitioned by range", set->relname),
				 errdetail("pg_steward manages RANGE partitioning; list and hash partitioning are not supported.")));
	if (partform->partnatts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" has a multi-column partition key", set->relname),
				 errdetail("pg_steward manages sets partitioned on a single column.")));
	attnum = partform->partattrs.values[0];
	ReleaseSysCache(tup);
	if (attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is partitioned on an expression", set->relname),
				 errdetail("pg_steward manages sets partitioned on a plain column.")));
	colname = get_attname(set->parent, attnum, false);
	if (strcmp(colname, set->control) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table \"%s\" is partitioned on column \"%s\", not \"%s\"",
						set->relname, colname, set->control)));
	set->typid = get_atttype(set->parent, attnum);
	switch (set->typid)
	{
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			set->is_time = true;
			break;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			set->is_time = false;
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("control column \"%s\" has unsupported type %s",
							set->control, format_type_be(set->typid)),
					 errhint("Supported types are timestamptz, timestamp, date, smallint, integer and bigint.")));
	}
}

/* Validate everything after the parent is described. */
void
part_validate(PartSet *set)
{
	part_parse_step(set);
	if (set->premake < 1 || set->premake > PART_MAX_PREMAKE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("premake must be between 1 and %d", PART_MAX_PREMAKE)));
	set->tz = cron_lookup_timezone(set->timezone);
	part_check_mode(set->retention_mode);
	part_parse_retention(set);
	part_check_retention_schema(set);
	if (set->name_template == NULL)
		set->name_template = part_default_template(set);
	if (strstr(set->name_template, "{parent}") == NULL &&
		strchr(set->name_template, '{') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name_template \"%s\" has no tokens", set->name_template),
				 errhint("Use tokens such as {parent}, {YYYY}, {MM}, {DD}, {HH}, {MI} and {start}.")));
	if (strchr(set->name_template, '{') != NULL &&
		strchr(strrchr(set->name_template, '{'), '}') == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name_template \"%s\" has an unclosed \"{\"", set->name_template)));
	/* unknown tokens fail here; two periods must not share a name */
	{
		int64		p0 = part_floor(set, 0);
		int64		p1 = part_next(set, p0);

		if (strcmp(part_expand_template(set, "p", p0),
				   part_expand_template(set, "p", p1)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("name_template \"%s\" gives consecutive partitions the same name",
							set->name_template),
					 errhint("Include tokens that change with every step, such as {start}, or {YYYY}{MM}{DD} for daily sets.")));
	}
}

#define PART_SET_COLUMNS \
	"SELECT s.parent::pg_catalog.oid, s.control, s.step, s.premake, s.retention," \
	"       s.retention_mode, s.retention_schema, s.default_partition, s.name_template," \
	"       s.timezone, st.fingerprint, st.quiet_until, st.last_status," \
	"       st.last_message IS NULL AND st.skipped_runs = 0" \
	"  FROM steward.partition_set s" \
	"  LEFT JOIN steward.partition_state st ON st.parent = s.parent"
/* Fill 'set' from row 'i' of a PART_SET_COLUMNS result. */
static void
part_set_from_row(StewardResult *res, uint64 i, PartSet *set)
{
	bool		isnull;
	Datum		fp,
				quiet;
	char	   *status;

	memset(set, 0, sizeof(PartSet));
	set->parent = DatumGetObjectId(steward_result_datum(res, i, 1, &isnull));
	set->control = steward_result_text(res, i, 2);
	set->step = steward_result_text(res, i, 3);
	set->premake = DatumGetInt32(steward_result_datum(res, i, 4, &isnull));
	set->retention = steward_result_text(res, i, 5);
	set->retention_mode = steward_result_text(res, i, 6);
	set->retention_schema = steward_result_text(res, i, 7);
	set->default_partition = DatumGetBool(steward_result_datum(res, i, 8, &isnull));
	set->name_template = steward_result_text(res, i, 9);
	set->timezone = steward_result_text(res, i, 10);
	fp = steward_result_datum(res, i, 11, &isnull);
	if (!isnull)
	{
		quiet = steward_result_datum(res, i, 12, &isnull);
		status = steward_result_text(res, i, 13);
		if (!isnull && status != NULL && strcmp(status, "ok") == 0)
		{
			set->has_quiet = true;
			set->fingerprint = DatumGetInt64(fp);
			set->quiet_until = DatumGetInt64(quiet);
			set->state_plain = DatumGetBool(steward_result_datum(res, i, 14, &isnull)) &&
				!isnull;
		}
	}
}

static int
part_range_cmp(const ListCell *a, const ListCell *b)
{
	PartRange  *ra = lfirst(a);
	PartRange  *rb = lfirst(b);

	if (ra->is_default != rb->is_default)
		return ra->is_default ? 1 : -1;
	if (ra->lo_unbounded != rb->lo_unbounded)
		return ra->lo_unbounded ? -1 : 1;
	return (ra->lo > rb->lo) - (ra->lo < rb->lo);
}

/* Begin a scan of pg_inherits: the rows of 'relid' as parent, or as child. */
SysScanDesc
part_inherits_begin(Oid relid, bool as_parent, Relation *inhrel)
{
	ScanKeyData key;

	*inhrel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, as_parent ? Anum_pg_inherits_inhparent : Anum_pg_inherits_inhrelid,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	return systable_beginscan(*inhrel,
							  as_parent ? InheritsParentIndexId : InheritsRelidSeqnoIndexId,
							  true, NULL, 1, &key);
}

void
part_inherits_end(SysScanDesc scan, Relation inhrel)
{
	systable_endscan(scan);
	table_close(inhrel, AccessShareLock);
}

/*
 * A relation's name, quoted and qualified with its own schema (never the
 * parent's: a partition may live in another schema), or NULL if it is gone.
 */
char *
part_qualified_name(Oid relid)
{
	return steward_rel_qualified_name(relid);
}

/*
 * The set's partitions with their bounds, sorted.  pg_inherits is read
 * directly so that partitions whose concurrent detach was interrupted are
 * seen too: they go to set->pending instead.
 */
List *
part_existing(PartSet *set)
{
	Relation	inhrel;
	SysScanDesc scan;
	HeapTuple	inhtup;
	List	   *ranges = NIL;
	Oid			owner = steward_rel_owner(set->parent);

	set->pending = NIL;
	scan = part_inherits_begin(set->parent, true, &inhrel);
	while ((inhtup = systable_getnext(scan)) != NULL)
	{
		Form_pg_inherits inh = (Form_pg_inherits) GETSTRUCT(inhtup);
		Oid			child = inh->inhrelid;
		HeapTuple	tup;
		Form_pg_class form;
		Datum		d;
		bool		isnull;
		PartitionBoundSpec *spec;
		PartRange  *r;

		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(child));
		if (!HeapTupleIsValid(tup))
			continue;
		form = (Form_pg_class) GETSTRUCT(tup);

		/*
		 * Maintenance acts as the parent's owner; a partition of another
		 * role (say, after the parent changed hands) would run that role's
		 * triggers with the new owner's rights.
		 */
		if (form->relowner != owner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("partition %s of \"%s\" is owned by %s, not by the set's owner %s",
							quote_qualified_identifier(get_namespace_name(form->relnamespace),
													   NameStr(form->relname)),
							set->relname,
							quote_identifier(GetUserNameFromId(form->relowner, false)),
							quote_identifier(GetUserNameFromId(owner, false))),
					 errdetail("Maintenance acts with the rights of the partitioned table's owner."),
					 errhint("Give the partition to the set's owner with ALTER TABLE ... OWNER TO, or detach it.")));
		if (inh->inhdetachpending)
		{
			ReleaseSysCache(tup);
			set->pending = lappend_oid(set->pending, child);
			continue;
		}
		d = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);
		if (isnull)
		{
			ReleaseSysCache(tup);
			continue;
		}
		spec = (PartitionBoundSpec *) stringToNode(TextDatumGetCString(d));
		r = palloc0(sizeof(PartRange));
		r->relid = child;
		r->relname = pstrdup(NameStr(form->relname));
		r->qname = quote_qualified_identifier(get_namespace_name(form->relnamespace),
											  r->relname);
		r->is_default = spec->is_default;
		if (!spec->is_default)
		{
			PartitionRangeDatum *lo = linitial(spec->lowerdatums);
			PartitionRangeDatum *hi = linitial(spec->upperdatums);

			r->lo_unbounded = lo->kind != PARTITION_RANGE_DATUM_VALUE;
			r->hi_unbounded = hi->kind != PARTITION_RANGE_DATUM_VALUE;
			if (!r->lo_unbounded)
				r->lo = part_datum_to_point(set->typid, ((Const *) lo->value)->constvalue);
			if (!r->hi_unbounded)
				r->hi = part_datum_to_point(set->typid, ((Const *) hi->value)->constvalue);
			/* an id set's last partition ends at MAXVALUE: the type's end */
			else if (!set->is_time && hi->kind == PARTITION_RANGE_DATUM_MAXVALUE)
			{
				r->hi = part_type_max(set->typid);
				r->hi_unbounded = false;
			}
		}
		ReleaseSysCache(tup);
		ranges = lappend(ranges, r);
	}
	part_inherits_end(scan, inhrel);
	list_sort(ranges, part_range_cmp);
	return ranges;
}

PartRange *
part_find_default(List *ranges)
{
	ListCell   *lc;

	foreach(lc, ranges)
		if (((PartRange *) lfirst(lc))->is_default)
			return lfirst(lc);
	return NULL;
}

/*
 * Existing partition covering [lo, hi): returns it if it has exactly these
 * bounds, NULL if nothing overlaps; sets *overlap to an overlapping
 * partition with other bounds.
 */
PartRange *
part_match(List *ranges, int64 lo, int64 hi, PartRange **overlap)
{
	ListCell   *lc;

	*overlap = NULL;
	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);
		bool		before,
					after;

		if (r->is_default)
			continue;
		before = !r->hi_unbounded && r->hi <= lo;
		after = !r->lo_unbounded && r->lo >= hi;
		if (before || after)
			continue;
		if (!r->lo_unbounded && !r->hi_unbounded && r->lo == lo && r->hi == hi)
			return r;
		*overlap = r;
	}
	return NULL;
}

static char *
part_expand_template(PartSet *set, const char *parent_part, int64 start)
{
	StringInfoData buf;
	const char *p;
	struct pg_tm tm = {0};

	if (set->is_time)
		part_point_to_tm(set, start, &tm);

	initStringInfo(&buf);
	for (p = set->name_template; *p; p++)
	{
		if (*p == '{')
		{
			const char *end = strchr(p, '}');

			if (end != NULL)
			{
				int			len = end - p - 1;
				const char *tok = p + 1;

#define TOKEN_IS(s) (len == (int) strlen(s) && strncmp(tok, s, len) == 0)
				if (TOKEN_IS("parent"))
					appendStringInfoString(&buf, parent_part);
				else if (TOKEN_IS("YYYY"))
					appendStringInfo(&buf, "%04d", tm.tm_year);
				else if (TOKEN_IS("MM"))
					appendStringInfo(&buf, "%02d", tm.tm_mon);
				else if (TOKEN_IS("DD"))
					appendStringInfo(&buf, "%02d", tm.tm_mday);
				else if (TOKEN_IS("HH"))
					appendStringInfo(&buf, "%02d", tm.tm_hour);
				else if (TOKEN_IS("MI"))
					appendStringInfo(&buf, "%02d", tm.tm_min);
				else if (TOKEN_IS("start"))
				{
					if (set->is_time)
						appendStringInfo(&buf, "%04d%02d%02d%02d%02d", tm.tm_year,
										 tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min);
					else
						appendStringInfo(&buf, INT64_FORMAT, start);
				}
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("unknown token \"{%.*s}\" in name_template", len, tok),
							 errhint("Tokens are {parent}, {YYYY}, {MM}, {DD}, {HH}, {MI} and {start}.")));
#undef TOKEN_IS
				p = end;
				continue;
			}
		}
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/*
 * Name of the partition starting at 'start' (or of the default partition
 * when 'is_default'): the parent's name is shortened so the result fits in
 * 63 bytes, and a numeric suffix avoids collisions with other relations.
 */
char *
part_name(PartSet *set, int64 start, bool is_default)
{
	char	   *full;
	char	   *name;
	int			overflow;
	int			suffix = 0;
	Oid			nsp = get_namespace_oid(set->nspname, false);

	if (is_default)
		full = psprintf("%s_default", set->relname);
	else
		full = part_expand_template(set, set->relname, start);
	overflow = strlen(full) - PART_NAME_MAX;
	if (overflow > 0)
	{
		int			keep = strlen(set->relname) - overflow;
		char	   *parent_part;

		if (keep < 1)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("partition names from name_template \"%s\" are too long",
							set->name_template)));
		keep = pg_mbcliplen(set->relname, strlen(set->relname), keep);
		parent_part = pnstrdup(set->relname, keep);
		full = is_default ? psprintf("%s_default", parent_part) :
			part_expand_template(set, parent_part, start);
	}

	name = full;
	while (OidIsValid(get_relname_relid(name, nsp)))
	{
		char		sfx[16];
		int			room;

		snprintf(sfx, sizeof(sfx), "_%d", ++suffix);
		room = pg_mbcliplen(full, strlen(full), PART_NAME_MAX - (int) strlen(sfx));
		name = psprintf("%.*s%s", room, full, sfx);
	}
	return name;
}

/* Write the outcomes of several sets in one statement. */
void
part_save_states(List *rows)
{
	int			n = list_length(rows);
	Datum	   *parents = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *messages = palloc(sizeof(Datum) * n);
	Datum	   *fps = palloc(sizeof(Datum) * n);
	Datum	   *quiets = palloc(sizeof(Datum) * n);
	bool	   *msgnulls = palloc(sizeof(bool) * n);
	bool	   *qnulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[5];
	ListCell   *lc;
	int			i = 0;

	if (n == 0)
		return;
	foreach(lc, rows)
	{
		PartStateRow *r = lfirst(lc);

		parents[i] = ObjectIdGetDatum(r->parent);
		statuses[i] = CStringGetTextDatum(r->status);
		msgnulls[i] = r->message == NULL;
		messages[i] = msgnulls[i] ? (Datum) 0 : CStringGetTextDatum(r->message);
		qnulls[i] = !r->has_quiet;
		fps[i] = Int64GetDatum(r->fingerprint);
		quiets[i] = Int64GetDatum(r->quiet_until);
		i++;
	}
	values[0] = PointerGetDatum(construct_md_array(parents, NULL, 1, dims, lbs, OIDOID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_md_array(statuses, NULL, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_md_array(messages, msgnulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_md_array(fps, qnulls, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_md_array(quiets, qnulls, 1, dims, lbs, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/*
	 * The rows are there but for new sets: update them (no speculative
	 * insertion per row), then insert what the update did not find.
	 */
	steward_catalog_exec("WITH u AS ("
						 "   SELECT u.parent::pg_catalog.regclass AS parent, u.status, u.message,"
						 "          u.fingerprint, u.quiet_until"
						 "     FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
						 "                     pg_catalog.unnest($4), pg_catalog.unnest($5))"
						 "          AS u(parent, status, message, fingerprint, quiet_until)),"
						 " upd AS ("
						 "   UPDATE steward.partition_state s"
						 "      SET last_maintained_at = pg_catalog.now(), last_status = u.status,"
						 "          last_message = u.message, fingerprint = u.fingerprint,"
						 "          quiet_until = u.quiet_until,"
						 "          last_ok_at = CASE WHEN u.status = 'ok' THEN pg_catalog.now() ELSE s.last_ok_at END,"
						 "          skipped_runs = 0"
						 "     FROM u WHERE s.parent = u.parent"
						 "   RETURNING s.parent)"
						 " INSERT INTO steward.partition_state AS s"
						 " (parent, last_maintained_at, last_status, last_message, fingerprint, quiet_until,"
						 "  last_ok_at, skipped_runs)"
						 " SELECT u.parent, pg_catalog.now(), u.status, u.message,"
						 "        u.fingerprint, u.quiet_until,"
						 "        CASE WHEN u.status = 'ok' THEN pg_catalog.now() END, 0"
						 "   FROM u WHERE NOT EXISTS (SELECT FROM upd WHERE upd.parent = u.parent)"
						 " ON CONFLICT (parent) DO UPDATE SET"
						 "  last_maintained_at = EXCLUDED.last_maintained_at,"
						 "  last_status = EXCLUDED.last_status,"
						 "  last_message = EXCLUDED.last_message,"
						 "  fingerprint = EXCLUDED.fingerprint,"
						 "  quiet_until = EXCLUDED.quiet_until,"
						 "  last_ok_at = COALESCE(EXCLUDED.last_ok_at, s.last_ok_at),"
						 "  skipped_runs = 0",
						 SPI_OK_INSERT, 5,
						 (Oid[]) {OIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID},
						 values, NULL);
}

/*
 * Record a maintenance of every set that 'runner' may maintain (a sweep;
 * InvalidOid: of every set, by the job).  The sets it found quiet with
 * their stored outcome already 'ok' are not written one by one:
 * partition_status takes their last_maintained_at and last_ok_at from here
 * (the newest sweep of the job or of a role with the privileges of the
 * set's owner).  part_sweep_available() says whether the table is there.
 */
bool
part_sweep_available(void)
{
	Oid			nsp = get_namespace_oid(STEWARD_SCHEMA_NAME, false);

	/* not before ALTER EXTENSION pg_steward UPDATE from 0.2.0 */
	return OidIsValid(get_relname_relid("partition_sweep", nsp));
}

void
part_save_sweep(Oid runner)
{
	steward_catalog_exec("INSERT INTO steward.partition_sweep AS w (runner, swept_at)"
						 " VALUES ($1, pg_catalog.now())"
						 " ON CONFLICT (runner) DO UPDATE SET swept_at = EXCLUDED.swept_at",
						 SPI_OK_INSERT, 1, (Oid[]) {OIDOID},
						 (Datum[]) {ObjectIdGetDatum(runner)}, NULL);
}

/*
 * Record that a set was skipped because another session held its lock,
 * unless that session is about to record its own outcome (it holds the
 * state row: SKIP LOCKED, so we never wait for it).  skipped_runs counts
 * the skips since the last completed maintenance.
 */
void
part_save_skipped(Oid parent, const char *message)
{
	Datum		values[2];

	values[0] = ObjectIdGetDatum(parent);
	values[1] = CStringGetTextDatum(message);
	steward_catalog_exec("WITH t AS (SELECT parent FROM steward.partition_state"
						 "            WHERE parent::pg_catalog.oid = $1 FOR UPDATE SKIP LOCKED)"
						 " UPDATE steward.partition_state s"
						 "    SET last_maintained_at = pg_catalog.now(), last_status = 'skipped',"
						 "        last_message = $2, skipped_runs = s.skipped_runs + 1"
						 "   FROM t WHERE s.parent = t.parent",
						 SPI_OK_UPDATE, 2, (Oid[]) {OIDOID, TEXTOID}, values, NULL);
}

PartStateRow *
part_state_row(Oid parent, const char *status, const char *message, PartResult *res)
{
	PartStateRow *row = palloc0(sizeof(PartStateRow));

	row->parent = parent;
	row->status = pstrdup(status);
	row->message = message ? pstrdup(message) : NULL;
	if (res != NULL && res->has_quiet)
	{
		row->has_quiet = true;
		row->fingerprint = res->fingerprint;
		row->quiet_until = res->quiet_until;
	}
	return row;
}

void
part_save_state(Oid parent, const char *status, const char *message, PartResult *res)
{
	part_save_states(list_make1(part_state_row(parent, status, message, res)));
}

/* Registered sets the caller may maintain (all for superusers). */
List *
part_list_sets(Oid only)
{
	List	   *oids = NIL;
	StewardResult *res;
	uint64		i;

	res = steward_catalog_exec("SELECT parent::pg_catalog.oid FROM steward.partition_set"
							   " WHERE $1 = 0 OR parent::pg_catalog.oid = $1"
							   " ORDER BY parent::pg_catalog.oid",
							   SPI_OK_SELECT, 1, (Oid[]) {OIDOID},
							   (Datum[]) {ObjectIdGetDatum(only)}, NULL);
	for (i = 0; i < res->processed; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, DatumGetObjectId(steward_result_datum(res, i, 1, &isnull)));
	}
	return oids;
}

/* The error for a table that is not a registered partition set. */
void
part_not_a_set(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("table \"%s\" is not a partition set", get_rel_name(relid)),
			 errhint("Create one with steward.partition_table().")));
}

/* Load a registered set for an API call, or fail with a clear error. */
void
part_load_or_error(Oid parent, PartSet *set)
{
	if (!part_load_visible(parent, set))
		part_not_a_set(parent);
}

/* Column 'name' of one of steward's tables (the order may differ after updates). */
static int
part_column(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	elog(ERROR, "column \"%s\" of a pg_steward table is missing", name);
	return -1;					/* keep the compiler quiet */
}

/* A text column of a deformed row, or NULL. */
static inline char *
part_column_text(Datum *values, bool *nulls, int col)
{
	return nulls[col] ? NULL : TextDatumGetCString(values[col]);
}

/* What PART_SET_COLUMNS reads from steward.partition_state, by parent. */
typedef struct PartStoredState
{
	Oid			parent;
	bool		has_quiet;
	bool		plain;
	int64		fingerprint;
	int64		quiet_until;
} PartStoredState;

static int
part_set_oid_cmp(const ListCell *a, const ListCell *b)
{
	Oid			oa = ((PartSet *) lfirst(a))->parent;
	Oid			ob = ((PartSet *) lfirst(b))->parent;

	return (oa > ob) - (oa < ob);
}

/*
 * Every registered set (or only one), configuration and state, ordered by
 * OID: what PART_SET_COLUMNS gives, for all sets read with two plain scans
 * of steward's tables instead of a planned statement, since maintenance of
 * all sets calls it for thousands of rows (the caller's rights are checked by the
 * caller, set by set, as for the rows of steward_catalog_exec()).
 */
List *
part_load_sets(Oid only)
{
	Oid			nsp = get_namespace_oid(STEWARD_SCHEMA_NAME, false);
	Snapshot	snap;
	List	   *sets = NIL;
	HTAB	   *states;
	HASHCTL		ctl = {0};
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tup;
	Datum	   *values;
	bool	   *nulls;

	/* one set: through the primary keys */
	if (OidIsValid(only))
	{
		PartSet    *set = palloc(sizeof(PartSet));

		return part_load_visible(only, set) ? list_make1(set) : NIL;
	}

	snap = RegisterSnapshot(GetTransactionSnapshot());
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(PartStoredState);
	ctl.hcxt = CurrentMemoryContext;
	states = hash_create("pg_steward partition states", 1024, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	rel = table_open(get_relname_relid("partition_state", nsp), AccessShareLock);
	desc = RelationGetDescr(rel);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	{
		int			c_parent = part_column(desc, "parent");
		int			c_fp = part_column(desc, "fingerprint");
		int			c_quiet = part_column(desc, "quiet_until");
		int			c_status = part_column(desc, "last_status");
		int			c_message = part_column(desc, "last_message");
		int			c_skipped = part_column(desc, "skipped_runs");

		scan = table_beginscan(rel, snap, 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			PartStoredState *st;
			Oid			parent;
			char	   *status;

			heap_deform_tuple(tup, desc, values, nulls);
			parent = DatumGetObjectId(values[c_parent]);
			st = hash_search(states, &parent, HASH_ENTER, NULL);
			status = part_column_text(values, nulls, c_status);
			st->has_quiet = !nulls[c_fp] && !nulls[c_quiet] &&
				status != NULL && strcmp(status, "ok") == 0;
			st->fingerprint = nulls[c_fp] ? 0 : DatumGetInt64(values[c_fp]);
			st->quiet_until = nulls[c_quiet] ? 0 : DatumGetInt64(values[c_quiet]);
			st->plain = nulls[c_message] && !nulls[c_skipped] &&
				DatumGetInt32(values[c_skipped]) == 0;
		}
		table_endscan(scan);
	}
	table_close(rel, AccessShareLock);

	rel = table_open(get_relname_relid("partition_set", nsp), AccessShareLock);
	desc = RelationGetDescr(rel);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	{
		int			c_parent = part_column(desc, "parent");
		int			c_control = part_column(desc, "control");
		int			c_step = part_column(desc, "step");
		int			c_premake = part_column(desc, "premake");
		int			c_retention = part_column(desc, "retention");
		int			c_mode = part_column(desc, "retention_mode");
		int			c_schema = part_column(desc, "retention_schema");
		int			c_default = part_column(desc, "default_partition");
		int			c_template = part_column(desc, "name_template");
		int			c_tz = part_column(desc, "timezone");

		scan = table_beginscan(rel, snap, 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			PartSet    *set;
			PartStoredState *st;
			Oid			parent;

			heap_deform_tuple(tup, desc, values, nulls);
			parent = DatumGetObjectId(values[c_parent]);
			set = palloc0(sizeof(PartSet));
			set->parent = parent;
			set->control = part_column_text(values, nulls, c_control);
			set->step = part_column_text(values, nulls, c_step);
			set->premake = DatumGetInt32(values[c_premake]);
			set->retention = part_column_text(values, nulls, c_retention);
			set->retention_mode = part_column_text(values, nulls, c_mode);
			set->retention_schema = part_column_text(values, nulls, c_schema);
			set->default_partition = DatumGetBool(values[c_default]);
			set->name_template = part_column_text(values, nulls, c_template);
			set->timezone = part_column_text(values, nulls, c_tz);
			st = hash_search(states, &parent, HASH_FIND, NULL);
			if (st != NULL && st->has_quiet)
			{
				set->has_quiet = true;
				set->fingerprint = st->fingerprint;
				set->quiet_until = st->quiet_until;
				set->state_plain = st->plain;
			}
			sets = lappend(sets, set);
		}
		table_endscan(scan);
	}
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snap);
	hash_destroy(states);
	list_sort(sets, part_set_oid_cmp);
	return sets;
}

/* Load one registered set; false if there is none. */
bool
part_load_visible(Oid parent, PartSet *set)
{
	StewardResult *res;

	res = steward_catalog_exec(PART_SET_COLUMNS " WHERE s.parent::pg_catalog.oid = $1",
							   SPI_OK_SELECT, 1, (Oid[]) {OIDOID},
							   (Datum[]) {ObjectIdGetDatum(parent)}, NULL);
	if (res->processed == 0)
		return false;
	part_set_from_row(res, 0, set);
	return true;
}
