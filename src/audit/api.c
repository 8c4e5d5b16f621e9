/*-------------------------------------------------------------------------
 *
 * api.c
 *	  steward.audit_enable(), audit_disable(), history, and auditing new
 *	  partitions of audited tables.
 *
 * The triggers are created and dropped as the table's owner (a security-
 * restricted operation, like all pg_steward does to a user's table); the
 * policy row is written with the extension's rights.  A partitioned table
 * gets the triggers on itself (statements naming it) and on every
 * partition (statements naming a partition), now and when a partition is
 * created or attached later.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/compat.h"
#include "core/pg_steward.h"
#include "core/spi_util.h"

PG_FUNCTION_INFO_V1(steward_audit_enable);
PG_FUNCTION_INFO_V1(steward_audit_disable);
PG_FUNCTION_INFO_V1(steward_audit_row_as_of);
PG_FUNCTION_INFO_V1(steward_audit_sealed_versions);
PG_FUNCTION_INFO_V1(steward_audit_sealed_to);
PG_FUNCTION_INFO_V1(steward_audit_relids);

static const char *const audit_ops[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
/* The transition tables each operation's trigger reads. */
static const char *const audit_referencing[] = {
	" REFERENCING NEW TABLE AS steward_audit_new",
	" REFERENCING OLD TABLE AS steward_audit_old NEW TABLE AS steward_audit_new",
	" REFERENCING OLD TABLE AS steward_audit_old",
	""
};
static const char *const audit_trigger_names[] = {
	AUDIT_TRIGGER_INSERT, AUDIT_TRIGGER_UPDATE, AUDIT_TRIGGER_DELETE, AUDIT_TRIGGER_TRUNCATE
};

/* A policy: which operations, and the trigger arguments that carry it. */
typedef struct AuditPolicy
{
	bool		ops[4];
	List	   *args;			/* char *: flags, then "-col" / "#col" */
} AuditPolicy;

static List *
audit_text_array(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column and operation names must not be null")));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

static void
audit_require_column(Oid relid, const char *name, const char *what)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, get_rel_name(relid)),
				 errdetail("It is named in %s.", what)));
}

/* Is 'name' a column of the table's key (primary key, else replica identity)? */
static bool
audit_is_key_column(Relation rel, const char *name)
{
	AttrNumber *attnums;
	int			n = audit_key_attnums(rel, &attnums);
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);
	int			i;

	for (i = 0; i < n; i++)
		if (attnums[i] == attnum)
			return true;
	return false;
}

/* Check the arguments of audit_enable() and turn them into a policy. */
static void
audit_build_policy(Relation rel, List *exclude, List *hash, List *ops,
				   bool skip_unchanged, bool capture_query, AuditPolicy *p)
{
	Oid			relid = RelationGetRelid(rel);
	ListCell   *lc;
	char		flags[3];
	int			nflags = 0;
	int			i;

	memset(p, 0, sizeof(*p));
	if (ops == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("operations must name at least one operation"),
				 errhint("Operations are INSERT, UPDATE, DELETE and TRUNCATE.")));
	foreach(lc, ops)
	{
		const char *op = lfirst(lc);
		bool		known = false;

		for (i = 0; i < lengthof(audit_ops); i++)
			if (pg_strcasecmp(op, audit_ops[i]) == 0)
			{
				p->ops[i] = true;
				known = true;
			}
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown operation \"%s\"", op),
					 errhint("Operations are INSERT, UPDATE, DELETE and TRUNCATE.")));
	}
	foreach(lc, exclude)
	{
		const char *col = lfirst(lc);

		audit_require_column(relid, col, "exclude_columns");
		if (audit_is_key_column(rel, col))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot exclude column \"%s\": it is part of the key of \"%s\"",
							col, RelationGetRelationName(rel)),
					 errdetail("Audit rows name their row by its primary key (or replica identity)."),
					 errhint("Use hash_columns to store only a digest of it.")));
	}
	foreach(lc, hash)
	{
		const char *col = lfirst(lc);
		ListCell   *lc2;

		audit_require_column(relid, col, "hash_columns");
		foreach(lc2, exclude)
			if (strcmp(lfirst(lc2), col) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is both excluded and hashed", col)));
	}

	if (skip_unchanged)
		flags[nflags++] = AUDIT_ARG_SKIP_UNCHANGED;
	if (capture_query)
		flags[nflags++] = AUDIT_ARG_CAPTURE_QUERY;
	flags[nflags] = '\0';
	p->args = list_make1(pstrdup(flags));
	foreach(lc, exclude)
		p->args = lappend(p->args, psprintf("%c%s", AUDIT_ARG_EXCLUDE, (char *) lfirst(lc)));
	foreach(lc, hash)
		p->args = lappend(p->args, psprintf("%c%s", AUDIT_ARG_HASH, (char *) lfirst(lc)));
}

/* ---------------------------------------------------------------------
 * Triggers, as the table's owner
 * ---------------------------------------------------------------------
 */
typedef struct AuditDDL
{
	Oid			relid;
	AuditPolicy *policy;		/* NULL: drop only */
} AuditDDL;

static void
audit_exec(const char *sql)
{
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "audit trigger DDL failed: %s", sql);
}

/* Drop our triggers on one table and, with a policy, create them anew. */
static void
audit_table_ddl(Oid relid, AuditPolicy *policy)
{
	StewardCatalogAccess acc;
	char	   *qname = steward_rel_qualified_name(relid);
	int			i;

	if (qname == NULL)
		return;
	(void) steward_owner_enter(relid, &acc);
	for (i = 0; i < lengthof(audit_trigger_names); i++)
		if (OidIsValid(get_trigger_oid(relid, audit_trigger_names[i], true)))
			audit_exec(psprintf("DROP TRIGGER %s ON %s", audit_trigger_names[i], qname));
	if (policy != NULL)
	{
		StringInfoData args;
		ListCell   *lc;

		initStringInfo(&args);
		foreach(lc, policy->args)
			appendStringInfo(&args, "%s%s", args.len > 0 ? ", " : "",
							 quote_literal_cstr(lfirst(lc)));
		for (i = 0; i < lengthof(audit_ops); i++)
			if (policy->ops[i])
				audit_exec(psprintf("CREATE TRIGGER %s AFTER %s ON %s%s"
									" FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger(%s)",
									audit_trigger_names[i], audit_ops[i], qname,
									audit_referencing[i], args.data));
	}
	steward_owner_exit(&acc);
}

/* The table and, if partitioned, every partition below it. */
static void
audit_tree_ddl(Oid relid, AuditPolicy *policy)
{
	List	   *rels = find_all_inheritors(relid, AccessExclusiveLock, NULL);
	ListCell   *lc;

	SPI_connect();
	foreach(lc, rels)
	{
		Oid			child = lfirst_oid(lc);

		/* a partition of a partitioned table: not plain inheritance */
		if (child != relid && !get_rel_relispartition(child))
			continue;
		audit_table_ddl(child, policy);
	}
	SPI_finish();
}

static Relation
audit_open_table(Oid relid)
{
	Relation	rel = table_open(relid, ShareRowExclusiveLock);

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errdetail("Only tables and partitioned tables can be audited.")));
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot audit temporary table \"%s\"", RelationGetRelationName(rel))));
	if (IsCatalogRelation(rel) ||
		get_rel_namespace(relid) == get_namespace_oid(STEWARD_SCHEMA_NAME, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot audit \"%s\"", RelationGetRelationName(rel)),
				 errdetail("System catalogs and pg_steward's own tables are not audited.")));
	steward_require_table_owner(relid);
	return rel;
}

/* steward.audit_enable(tbl, exclude_columns, hash_columns, operations,
 *						skip_unchanged, capture_query) RETURNS void */
Datum
steward_audit_enable(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;
	AuditPolicy policy;
	List	   *exclude;
	List	   *hash;
	List	   *ops;
	StewardCatalogAccess acc;
	Datum		values[6];
	int			i;

	for (i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of steward.audit_enable() must not be null")));
	relid = PG_GETARG_OID(0);
	exclude = audit_text_array(PG_GETARG_ARRAYTYPE_P(1));
	hash = audit_text_array(PG_GETARG_ARRAYTYPE_P(2));
	ops = audit_text_array(PG_GETARG_ARRAYTYPE_P(3));

	rel = audit_open_table(relid);
	audit_build_policy(rel, exclude, hash, ops, PG_GETARG_BOOL(4), PG_GETARG_BOOL(5),
					   &policy);
	table_close(rel, NoLock);

	/* the log is partitioned by day once something is audited */
	audit_ensure_partition_set(true);

	audit_tree_ddl(relid, &policy);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	{
		Datum	   *elems = palloc(sizeof(Datum) * lengthof(audit_ops));
		int			n = 0;

		for (i = 0; i < lengthof(audit_ops); i++)
			if (policy.ops[i])
				elems[n++] = CStringGetTextDatum(audit_ops[i]);
		values[3] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	}
	values[4] = PG_GETARG_DATUM(4);
	values[5] = PG_GETARG_DATUM(5);
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("INSERT INTO steward.audit_policy AS p"
					 " (tbl, exclude_columns, hash_columns, operations, skip_unchanged, capture_query)"
					 " VALUES ($1, $2, $3, $4, $5, $6)"
					 " ON CONFLICT (tbl) DO UPDATE SET exclude_columns = EXCLUDED.exclude_columns,"
					 "  hash_columns = EXCLUDED.hash_columns, operations = EXCLUDED.operations,"
					 "  skip_unchanged = EXCLUDED.skip_unchanged,"
					 "  capture_query = EXCLUDED.capture_query",
					 SPI_OK_INSERT, 6,
					 (Oid[]) {REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID, BOOLOID},
					 values, NULL);
	SPI_finish();
	steward_catalog_exit(&acc);
	audit_record_relids(relid);
	PG_RETURN_VOID();
}

/*
 * Add to the policy of audited table 'relid' (InvalidOid: of every audited
 * table) the OIDs that the table and its partitions have now.  The log
 * names tables by OID and a restore gives them new ones: the policy, which
 * pg_dump keeps, remembers every OID its table had, so that history still
 * finds the rows logged before a dump.
 */
void
audit_record_relids(Oid relid)
{
	StewardCatalogAccess acc;
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			policy = get_relname_relid("audit_policy",
										   get_namespace_oid(STEWARD_SCHEMA_NAME, false));

	/* not before ALTER EXTENSION pg_steward UPDATE from 0.2.0, which fills it */
	if (!OidIsValid(policy) || get_attnum(policy, "relids") == InvalidAttrNumber)
		return;
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("UPDATE steward.audit_policy p"
					 "   SET relids = p.relids || ARRAY(SELECT n.oid FROM pg_catalog.unnest(n.now) n(oid)"
					 "                                  WHERE NOT n.oid OPERATOR(pg_catalog.=) ANY (p.relids))"
					 "  FROM (SELECT q.tbl, ARRAY[q.tbl::pg_catalog.oid] ||"
					 "               ARRAY(SELECT t.relid::pg_catalog.oid"
					 "                       FROM pg_catalog.pg_partition_tree(q.tbl) t"
					 "                      WHERE t.relid OPERATOR(pg_catalog.<>) q.tbl) AS now"
					 "          FROM steward.audit_policy q"
					 "         WHERE $1 OPERATOR(pg_catalog.=) '0'::pg_catalog.oid"
					 "            OR q.tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass) n"
					 " WHERE p.tbl OPERATOR(pg_catalog.=) n.tbl"
					 "   AND NOT n.now OPERATOR(pg_catalog.<@) p.relids",
					 SPI_OK_UPDATE, 1, (Oid[]) {OIDOID}, &arg, NULL);
	SPI_finish();
	steward_catalog_exit(&acc);
}

/* steward.audit_disable(tbl) RETURNS void */
Datum
steward_audit_disable(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = audit_open_table(relid);
	StewardCatalogAccess acc;
	Datum		id = ObjectIdGetDatum(relid);

	table_close(rel, NoLock);
	audit_tree_ddl(relid, NULL);
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("DELETE FROM steward.audit_policy WHERE tbl = $1",
					 SPI_OK_DELETE, 1, (Oid[]) {REGCLASSOID}, &id, NULL);
	if (SPI_processed == 0)
		ereport(NOTICE,
				(errmsg("table \"%s\" was not audited", get_rel_name(relid))));
	SPI_finish();
	steward_catalog_exit(&acc);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * New partitions of audited tables
 * ---------------------------------------------------------------------
 */

/* The audit triggers' arguments on 'relid' (NIL if it is not audited). */
static bool
audit_policy_of(Oid relid, AuditPolicy *policy)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TriggerDesc *td = rel->trigdesc;
	bool		found = false;
	int			i,
				k;

	memset(policy, 0, sizeof(*policy));
	for (i = 0; td != NULL && i < td->numtriggers; i++)
	{
		Trigger    *trig = &td->triggers[i];

		for (k = 0; k < lengthof(audit_trigger_names); k++)
		{
			if (strcmp(trig->tgname, audit_trigger_names[k]) != 0)
				continue;
			policy->ops[k] = true;
			if (!found)
			{
				int			a;

				for (a = 0; a < trig->tgnargs; a++)
					policy->args = lappend(policy->args, pstrdup(trig->tgargs[a]));
				found = true;
			}
		}
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * After CREATE TABLE ... PARTITION OF or ALTER TABLE ... ATTACH PARTITION:
 * audit 'child' like 'parent'.  Only if the statement did make 'child' a
 * partition of 'parent': CREATE TABLE IF NOT EXISTS names an existing table,
 * which may be anyone's, and it must not get triggers it did not ask for.
 */
static void
audit_new_partition(Oid parent, Oid child)
{
	AuditPolicy policy;

	if (!OidIsValid(parent) || !OidIsValid(child) ||
		!OidIsValid(get_extension_oid(STEWARD_EXTENSION_NAME, true)))
		return;
	if (get_rel_relkind(parent) != RELKIND_PARTITIONED_TABLE ||
		!get_rel_relispartition(child) ||
		get_partition_parent(child, false) != parent)
		return;
	if (!audit_policy_of(parent, &policy))
		return;
	audit_tree_ddl(child, &policy);
	audit_record_relids(parent);
}

/*
 * Rewrite the arguments of 'relid''s audit triggers that name column
 * 'oldname' (excluded or hashed) to name 'newname'; true if any did.  The
 * catalog rows are updated in place: the triggers keep their OIDs and
 * whether they are enabled.
 */
static bool
audit_rename_trigger_args(Oid relid, const char *oldname, const char *newname)
{
	Relation	tgrel = table_open(TriggerRelationId, RowExclusiveLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		any = false;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		bool		ours = false;
		bool		changed = false;
		bool		isnull;
		bytea	   *val;
		char	   *p;
		StringInfoData args;
		Datum		values[Natts_pg_trigger] = {0};
		bool		nulls[Natts_pg_trigger] = {0};
		bool		replace[Natts_pg_trigger] = {0};
		HeapTuple	newtup;
		int			i;

		for (i = 0; i < lengthof(audit_trigger_names); i++)
			if (strcmp(NameStr(tg->tgname), audit_trigger_names[i]) == 0)
				ours = true;
		if (!ours || tg->tgnargs == 0)
			continue;
		val = DatumGetByteaPP(heap_getattr(tup, Anum_pg_trigger_tgargs,
										   RelationGetDescr(tgrel), &isnull));
		if (isnull)
			continue;
		p = VARDATA_ANY(val);
		initStringInfo(&args);
		for (i = 0; i < tg->tgnargs; i++)
		{
			/* the first argument holds flags; the others "-col" or "#col" */
			if (i > 0 && (p[0] == AUDIT_ARG_EXCLUDE || p[0] == AUDIT_ARG_HASH) &&
				strcmp(p + 1, oldname) == 0)
			{
				appendStringInfo(&args, "%c%s", p[0], newname);
				changed = true;
			}
			else
				appendStringInfoString(&args, p);
			appendStringInfoChar(&args, '\0');
			p += strlen(p) + 1;
		}
		if (!changed)
			continue;
		values[Anum_pg_trigger_tgargs - 1] =
			PointerGetDatum(cstring_to_text_with_len(args.data, args.len));
		replace[Anum_pg_trigger_tgargs - 1] = true;
		newtup = heap_modify_tuple(tup, RelationGetDescr(tgrel), values, nulls, replace);
		CatalogTupleUpdate(tgrel, &newtup->t_self, newtup);
		heap_freetuple(newtup);
		any = true;
	}
	systable_endscan(scan);
	table_close(tgrel, RowExclusiveLock);
	if (any)
		CacheInvalidateRelcacheByRelid(relid);
	return any;
}

/*
 * After ALTER TABLE ... RENAME COLUMN: the policy names excluded and hashed
 * columns, so it follows the rename on the table and on every table below
 * it that the rename reached (or an excluded column would be logged under
 * its new name).
 */
static void
audit_rename_column(RenameStmt *stmt)
{
	Oid			relid;
	List	   *rels;
	ListCell   *lc;
	Datum	   *renamed;
	int			n = 0;

	if (stmt->relation == NULL || stmt->subname == NULL || stmt->newname == NULL ||
		!OidIsValid(get_extension_oid(STEWARD_EXTENSION_NAME, true)))
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	CommandCounterIncrement();	/* see the renamed column */
	rels = stmt->relation->inh ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	renamed = palloc(sizeof(Datum) * list_length(rels));
	foreach(lc, rels)
	{
		Oid			child = lfirst_oid(lc);

		/* only where the column now has the new name (ONLY, inheritance) */
		if (get_attnum(child, stmt->newname) == InvalidAttrNumber ||
			get_attnum(child, stmt->subname) != InvalidAttrNumber)
			continue;
		(void) audit_rename_trigger_args(child, stmt->subname, stmt->newname);
		renamed[n++] = ObjectIdGetDatum(child);
	}
	if (n > 0)
	{
		StewardCatalogAccess acc;
		Datum		args[3];

		args[0] = PointerGetDatum(construct_array(renamed, n, OIDOID, sizeof(Oid), true,
												  TYPALIGN_INT));
		args[1] = CStringGetTextDatum(stmt->subname);
		args[2] = CStringGetTextDatum(stmt->newname);
		steward_catalog_enter(&acc);
		SPI_connect();
		steward_spi_exec("UPDATE steward.audit_policy"
						 "   SET exclude_columns = pg_catalog.array_replace(exclude_columns, $2, $3),"
						 "       hash_columns = pg_catalog.array_replace(hash_columns, $2, $3)"
						 " WHERE tbl::pg_catalog.oid = ANY ($1)"
						 "   AND ($2 = ANY (exclude_columns) OR $2 = ANY (hash_columns))",
						 SPI_OK_UPDATE, 3, (Oid[]) {OIDARRAYOID, TEXTOID, TEXTOID}, args, NULL);
		SPI_finish();
		steward_catalog_exit(&acc);
	}
}

/*
 * After DROP TABLE, DROP SCHEMA or DROP OWNED: forget the policies of the
 * tables that are gone (their regclass would dangle: pg_dump would write
 * the bare OID, and a table that later gets it would look audited).
 */
static void
audit_forget_dropped(void)
{
	Oid			nsp = get_namespace_oid(STEWARD_SCHEMA_NAME, true);
	StewardCatalogAccess acc;

	if (!OidIsValid(get_extension_oid(STEWARD_EXTENSION_NAME, true)) ||
		!OidIsValid(nsp) || !OidIsValid(get_relname_relid("audit_policy", nsp)))
		return;
	CommandCounterIncrement();	/* see the drop */
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("DELETE FROM steward.audit_policy p"
					 " WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c"
					 "                    WHERE c.oid = p.tbl::pg_catalog.oid)",
					 SPI_OK_DELETE, 0, NULL, NULL, NULL);
	SPI_finish();
	steward_catalog_exit(&acc);
}

/* The access method of an index. */
static Oid
audit_index_am(Oid index)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(index));
	Oid			am;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	am = ((Form_pg_class) GETSTRUCT(tup))->relam;
	ReleaseSysCache(tup);
	return am;
}

/*
 * A database that uses audit, restored by pg_restore: attaching a dumped
 * partition of the log (or of the seal digests) to the extension's
 * partitioned table gives it that table's indexes, under the names they
 * had when it was made, so the dump's CREATE INDEX of the same index fails
 * with "already exists".  Such a statement is skipped; the dump's ALTER
 * INDEX ... ATTACH PARTITION that follows finds the index attached already
 * and does nothing.
 */
bool
steward_audit_skip_utility(Node *parsetree)
{
	IndexStmt  *stmt = (IndexStmt *) parsetree;
	Oid			relid;
	Oid			index;
	Oid			parent;
	Oid			ext;

	if (!IsA(parsetree, IndexStmt) || stmt->idxname == NULL || stmt->relation == NULL ||
		stmt->relation->schemaname == NULL ||
		strcmp(stmt->relation->schemaname, STEWARD_SCHEMA_NAME) != 0 ||
		!OidIsValid(ext = get_extension_oid(STEWARD_EXTENSION_NAME, true)))
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	/* only the restore's role, which owns the partition, is spared the error */
	if (!OidIsValid(relid) || !get_rel_relispartition(relid) ||
		!steward_class_ownercheck(relid, GetUserId()))
		return false;
	index = get_relname_relid(stmt->idxname, get_rel_namespace(relid));
	if (!OidIsValid(index) || get_rel_relkind(index) != RELKIND_INDEX ||
		!get_rel_relispartition(index) || IndexGetRelation(index, false) != relid ||
		stmt->accessMethod == NULL ||
		audit_index_am(index) != get_index_am_oid(stmt->accessMethod, true))
		return false;
	parent = get_partition_parent(index, true);
	if (getExtensionOfObject(RelationRelationId, IndexGetRelation(parent, false)) != ext)
		return false;
	ereport(NOTICE,
			(errmsg("index \"%s\" of a partition of an extension's table exists already, skipping",
					stmt->idxname)));
	return true;
}

void
steward_audit_after_utility(Node *parsetree)
{
	if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;

		if (stmt->partbound != NULL && list_length(stmt->inhRelations) == 1)
			audit_new_partition(RangeVarGetRelid(linitial(stmt->inhRelations), NoLock, true),
								RangeVarGetRelid(stmt->relation, NoLock, true));
	}
	else if (IsA(parsetree, AlterTableStmt) &&
			 ((AlterTableStmt *) parsetree)->objtype == OBJECT_TABLE)
	{
		/* not ALTER INDEX ... ATTACH PARTITION, which names indexes */
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype == AT_AttachPartition)
				audit_new_partition(RangeVarGetRelid(stmt->relation, NoLock, true),
									RangeVarGetRelid(((PartitionCmd *) cmd->def)->name,
													 NoLock, true));
		}
	}
	else if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if (stmt->renameType == OBJECT_COLUMN && stmt->relationType == OBJECT_TABLE)
			audit_rename_column(stmt);
	}
	else if (IsA(parsetree, DropStmt))
	{
		ObjectType	type = ((DropStmt *) parsetree)->removeType;

		if (type == OBJECT_TABLE || type == OBJECT_SCHEMA)
			audit_forget_dropped();
	}
	else if (IsA(parsetree, DropOwnedStmt))
		audit_forget_dropped();
}

/* ---------------------------------------------------------------------
 * History
 * ---------------------------------------------------------------------
 */

/*
 * The seal tables are the extension's.  Who may read the log (an explicit
 * GRANT, docs/audit.md) reads what history needs of them through the two
 * functions below, which read them with the extension's rights.
 */
static void
audit_check_log_reader(void)
{
	Oid			log = get_relname_relid("audit_log",
										get_namespace_oid(STEWARD_SCHEMA_NAME, false));

	if (!OidIsValid(log))
		elog(ERROR, "steward.audit_log is missing");
	if (pg_class_aclcheck(log, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, "audit_log");
	/* the seal tables would tell what the policies hide */
	if (check_enable_rls(log, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("audit history does not support row-level security on steward.audit_log"),
				 errdetail("The history functions read the seal tables, which hold every table's changes.")));
}

/*
 * steward.audit_sealed_versions(rels oid[], key jsonb, truncates bool,
 * era_start bigint, sealed_to xid8): the log rows of tables 'rels' that are
 * sealed by the bound audit_sealed_to() gave (of an era before 'era_start',
 * or below 'sealed_to') whose key hashes like 'key' (the caller rechecks
 * row_key), with 'truncates' also their rows without a key; where each row
 * was when it was sealed.  The caller reads the rest from the log: one
 * bound for both halves, so that a seal committed meanwhile neither repeats
 * nor loses a row.
 */
Datum
steward_audit_sealed_versions(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[5];
	char		nulls[5];
	StewardResult *res;
	uint64		i;

	audit_check_log_reader();
	steward_init_srf(fcinfo);
	for (i = 0; i < 5; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	res = steward_catalog_exec_kept(&plan,
									"SELECT d.event_id, d.txid, d.logged_at, d.log_tid"
									"  FROM steward.audit_seal_digest d"
									" WHERE d.relid = ANY ($1)"
									"   AND d.key_hash = steward.audit_key_hash($2)"
									"   AND (d.event_id < $4 OR d.txid < $5)"
									" UNION ALL"
									" SELECT d.event_id, d.txid, d.logged_at, d.log_tid"
									"  FROM steward.audit_seal_digest d"
									" WHERE $3 AND d.relid = ANY ($1) AND d.key_hash IS NULL"
									"   AND (d.event_id < $4 OR d.txid < $5)",
									SPI_OK_SELECT, 5,
									(Oid[]) {OIDARRAYOID, JSONBOID, BOOLOID, INT8OID, XID8OID},
									args, nulls);
	for (i = 0; i < res->processed; i++)
	{
		Datum		values[4];
		bool		isnull[4];
		int			c;

		for (c = 0; c < 4; c++)
			values[c] = steward_result_datum(res, i, c + 1, &isnull[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}

/*
 * steward.audit_relids(tbl) RETURNS oid[]: the OIDs under which the log may
 * name 'tbl': its own and its partitions', and those its policy remembers
 * from before a restore.
 */
Datum
steward_audit_relids(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = PG_GETARG_DATUM(0);
	StewardResult *res;
	bool		isnull;

	audit_check_log_reader();
	res = steward_catalog_exec_kept(&plan,
									"SELECT ARRAY[$1::pg_catalog.oid] ||"
									"       ARRAY(SELECT t.relid::pg_catalog.oid"
									"               FROM pg_catalog.pg_partition_tree($1) t"
									"              WHERE t.relid OPERATOR(pg_catalog.<>) $1) ||"
									"       COALESCE((SELECT p.relids FROM steward.audit_policy p"
									"                  WHERE p.tbl OPERATOR(pg_catalog.=) $1),"
									"                '{}'::pg_catalog.oid[])",
									SPI_OK_SELECT, 1, (Oid[]) {REGCLASSOID}, &arg, NULL);
	PG_RETURN_DATUM(steward_result_datum(res, 0, 1, &isnull));
}

/*
 * steward.audit_sealed_to(OUT era_start bigint, OUT sealed_to xid8): the
 * log is sealed for every row of an era before era_start (their event ids
 * are lower) and for the rows of that era, this cluster's, of transactions
 * below sealed_to.  While the last era is not this cluster's, or an earlier
 * one still has rows to seal (a log restored from another cluster, until
 * the next seal), nothing counts as sealed: (0, 0), and history reads the
 * whole log.
 */
Datum
steward_audit_sealed_to(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	StewardResult *res;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	Datum		sysid = Int64GetDatum((int64) GetSystemIdentifier());

	audit_check_log_reader();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	res = steward_catalog_exec_kept(&plan,
									"SELECT COALESCE(e.first_event_id, 0),"
									"       COALESCE((SELECT s.txid_to FROM steward.audit_seal s"
									"                  WHERE s.era = e.first_event_id"
									"                  ORDER BY s.seal_id DESC LIMIT 1), '0'::pg_catalog.xid8)"
									"  FROM (SELECT 1) x LEFT JOIN LATERAL"
									"       (SELECT e.first_event_id FROM steward.audit_era e"
									"         ORDER BY e.first_event_id DESC LIMIT 1) l ON true"
									"  LEFT JOIN steward.audit_era e"
									"    ON e.first_event_id = l.first_event_id"
									"   AND e.system_identifier = $1"
									"   AND NOT EXISTS (SELECT FROM steward.audit_era o"
									"                    WHERE o.first_event_id < e.first_event_id"
									"                      AND o.closed_at IS NULL)",
									SPI_OK_SELECT, 1, (Oid[]) {INT8OID}, &sysid, NULL);
	values[0] = steward_result_datum(res, 0, 1, &nulls[0]);
	values[1] = steward_result_datum(res, 0, 2, &nulls[1]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * steward.audit_row_as_of(tbl, key, at) RETURNS jsonb: the row as it was at
 * 'at' (its stored columns), from its INSERT and the UPDATEs after it; NULL
 * if it did not exist then: not yet inserted, or deleted, or gone with a
 * TRUNCATE of the table (or of the partition whose statements logged the
 * row's last change).  A partitioned table's rows include what statements
 * naming a partition logged.  Reads the log as the caller (who needs SELECT
 * on steward.audit_log).
 */
Datum
steward_audit_row_as_of(PG_FUNCTION_ARGS)
{
	Datum		args[3];
	Oid			relid;
	Oid			row_relid = InvalidOid;
	Jsonb	   *row = NULL;
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_GETARG_DATUM(2);
	SPI_connect();
	steward_spi_exec("SELECT op, new_values, relid FROM steward.audit_versions($1, $2, true)"
					 " WHERE logged_at <= $3 ORDER BY event_id",
					 SPI_OK_SELECT, 3, (Oid[]) {REGCLASSOID, JSONBOID, TIMESTAMPTZOID}, args, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *op = steward_spi_gettext(i, 1);
		bool		isnull;
		Datum		newv = steward_spi_getdatum(i, 2, &isnull);
		Oid			event_relid = DatumGetObjectId(steward_spi_getdatum(i, 3, &(bool) {false}));

		if (strcmp(op, "TRUNCATE") == 0)
		{
			if (event_relid == relid || event_relid == row_relid)
				row = NULL;
			continue;
		}
		row_relid = event_relid;
		if (strcmp(op, "DELETE") == 0)
			row = NULL;
		else if (strcmp(op, "INSERT") == 0 || row == NULL)
			row = isnull ? NULL : DatumGetJsonbP(newv);
		else if (!isnull)
			row = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(row), newv));
	}
	if (row != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		row = (Jsonb *) PG_DETOAST_DATUM_COPY(JsonbPGetDatum(row));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	if (row == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(row);
}

void
steward_audit_init(void)
{
	audit_seal_init();
}
