/*-------------------------------------------------------------------------
 *
 * lint_rules.c
 *	  The migration linter's rules, one raw statement at a time.
 *
 * Rules about locks and rewrites apply to a table that exists in the
 * catalog, was not created earlier in the same SQL (nobody else can use a
 * new table yet) and is not empty; rules about data loss and clients to
 * any existing table; type rules to every column defined; prefer-robust-stmts
 * to migrations that cannot run in one transaction.  Names and severities
 * are documented in docs/migrations.md ("Linter").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/index.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core/compat.h"
#include "migrations/lint_int.h"

#define R_INDEX_CREATE		"require-concurrent-index-creation"
#define R_INDEX_DROP		"require-concurrent-index-deletion"
#define R_DEFAULT			"adding-field-with-default"
#define R_NOT_NULL			"adding-not-nullable-field"
#define R_FOREIGN_KEY		"adding-foreign-key-constraint"
#define R_NOT_VALID			"constraint-missing-not-valid"
#define R_TYPE_CHANGE		"changing-column-type"
#define R_RENAME_COLUMN		"renaming-column"
#define R_RENAME_TABLE		"renaming-table"
#define R_DROP_COLUMN		"ban-drop-column"
#define R_DROP_TABLE		"ban-drop-table"
#define R_ROBUST			"prefer-robust-stmts"
#define R_DETACH			"require-concurrent-partition-detach"
#define R_BIGINT			"prefer-bigint-over-int"
#define R_TIMESTAMPTZ		"prefer-timestamptz"
#define R_UNIQUE			"disallowed-unique-constraint"
#define R_CHAR				"ban-char-field"
#define R_IDENTITY			"prefer-identity"

/* ----------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------
 */

/* A name for a message: quoted, or what stands for it when absent. */
static const char *
lint_ident(const char *name, const char *absent)
{
	return name != NULL ? quote_identifier(name) : absent;
}

/* Does prefer-robust-stmts apply to this statement? */
static bool
lint_robust_applies(LintContext *ctx)
{
	return !ctx->transactional && !ctx->in_block && lint_enabled(ctx, R_ROBUST);
}

/* prefer-robust-stmts: 'what' fails when run twice; 'fix' does not. */
static void
lint_robust(LintContext *ctx, int location, const char *what, const char *fix)
{
	lint_report(ctx, R_ROBUST, LINT_WARNING, location,
				psprintf("%s fails when the migration, which cannot run in one transaction, is run again after a partial failure",
						 what),
				psprintf("Use %s.", fix));
}

/* Remember a table created by the statement. */
static void
lint_created_table(LintContext *ctx, RangeVar *rv, bool if_not_exists)
{
	LintRel		rel;

	/* CREATE ... IF NOT EXISTS of a table that exists creates nothing */
	lint_rel(ctx, rv, &rel);
	if (if_not_exists && lint_rel_existing(&rel))
		return;
	ctx->created_rels = lint_name_add(ctx->created_rels, rv->schemaname, rv->relname, NULL);
}

/* Does the column exist in the catalog (not just added by the SQL)? */
static bool
lint_column_exists(LintRel *rel, const char *column)
{
	return lint_rel_existing(rel) && get_attnum(rel->relid, column) != InvalidAttrNumber;
}

/* ----------------------------------------------------------------
 * Column types: prefer-bigint-over-int, prefer-timestamptz, ban-char-field,
 * prefer-identity
 * ----------------------------------------------------------------
 */

/* The name of a built-in type as the grammar leaves it (int4, bpchar), or NULL. */
static const char *
lint_builtin_type(TypeName *tn)
{
	int			n;

	if (tn == NULL || tn->pct_type)
		return NULL;
	n = list_length(tn->names);
	if (n == 0 || n > 2)
		return NULL;
	if (n == 2 && strcmp(strVal(linitial(tn->names)), "pg_catalog") != 0)
		return NULL;
	return strVal(llast(tn->names));
}

static bool
lint_is_serial(const char *type)
{
	return type != NULL &&
		(strcmp(type, "serial") == 0 || strcmp(type, "serial4") == 0 ||
		 strcmp(type, "bigserial") == 0 || strcmp(type, "serial8") == 0 ||
		 strcmp(type, "smallserial") == 0 || strcmp(type, "serial2") == 0);
}

/* The type rules for column 'column' of 'table' declared as 'tn'. */
static void
lint_column_type(LintContext *ctx, const char *table, const char *column,
				 TypeName *tn)
{
	const char *type = lint_builtin_type(tn);
	const char *col;

	if (type == NULL)
		return;
	col = quote_identifier(column);
	if (strcmp(type, "int4") == 0 || strcmp(type, "serial") == 0 || strcmp(type, "serial4") == 0)
		lint_report(ctx, R_BIGINT, LINT_WARNING, tn->location,
					psprintf("column %s of table %s is a 32-bit integer (at most 2147483647)",
							 col, table),
					pstrdup("Use bigint: a key or counter of type integer can run out of values, and changing its type later rewrites the table."));
	if (lint_is_serial(type) && tn->arrayBounds == NIL)
		lint_report(ctx, R_IDENTITY, LINT_WARNING, tn->location,
					psprintf("column %s of table %s is %s", col, table, type),
					psprintf("Use %s GENERATED BY DEFAULT AS IDENTITY: its sequence belongs to the column, and privileges and ownership follow the table.",
							 strcmp(type, "smallserial") == 0 || strcmp(type, "serial2") == 0 ?
							 "smallint" : "bigint"));
	if (strcmp(type, "timestamp") == 0)
		lint_report(ctx, R_TIMESTAMPTZ, LINT_WARNING, tn->location,
					psprintf("column %s of table %s is timestamp without time zone", col, table),
					pstrdup("Use timestamptz (timestamp with time zone): it stores an instant, whatever the TimeZone setting of each session."));
	if (strcmp(type, "bpchar") == 0)
		lint_report(ctx, R_CHAR, LINT_WARNING, tn->location,
					psprintf("column %s of table %s is char(n), which pads values with blanks", col, table),
					pstrdup("Use text or varchar, with a CHECK constraint on the length if one is needed."));
}

/* ----------------------------------------------------------------
 * Constraints: adding-foreign-key-constraint, constraint-missing-not-valid,
 * disallowed-unique-constraint
 * ----------------------------------------------------------------
 */

/*
 * A constraint added to 'rel', by ADD CONSTRAINT or ('column' not NULL) with
 * ADD COLUMN, where NOT VALID and USING INDEX cannot be written.
 */
static void
lint_constraint(LintContext *ctx, LintRel *rel, Constraint *c, const char *column)
{
	const char *con = lint_ident(c->conname, NULL);

	switch (c->contype)
	{
		case CONSTR_FOREIGN:
			if (c->skip_validation)
			{
				if (c->conname != NULL)
				{
					ctx->not_valid = lint_name_add(ctx->not_valid, rel->schema, rel->relname, c->conname);
					((LintName *) llast(ctx->not_valid))->statement = ctx->stmt->number;
				}
				break;
			}
			if (!lint_enabled(ctx, R_FOREIGN_KEY) || !lint_rel_nonempty(ctx, rel))
				break;
			lint_report(ctx, R_FOREIGN_KEY, LINT_ERROR, c->location,
						psprintf("adding foreign key %son table %s (%s) referencing %s checks every row while writes to both tables are blocked",
								 con ? psprintf("%s ", con) : "", rel->name, lint_rel_size(rel),
								 quote_qualified_identifier(c->pktable->schemaname, c->pktable->relname)),
						column != NULL ?
						psprintf("Add column %s without REFERENCES, then ALTER TABLE %s ADD CONSTRAINT ... FOREIGN KEY (%s) REFERENCES ... NOT VALID, and VALIDATE CONSTRAINT in a later migration.",
								 quote_identifier(column), rel->name, quote_identifier(column)) :
						psprintf("ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT %s in a later migration (it blocks no writes).",
								 rel->name, con ? con : "name", con ? con : "name"));
			break;
		case CONSTR_CHECK:
			if (c->skip_validation)
			{
				if (c->conname != NULL)
				{
					ctx->not_valid = lint_name_add(ctx->not_valid, rel->schema, rel->relname, c->conname);
					((LintName *) llast(ctx->not_valid))->statement = ctx->stmt->number;
				}
				break;
			}
			if (!lint_enabled(ctx, R_NOT_VALID) || !lint_rel_nonempty(ctx, rel))
				break;
			lint_report(ctx, R_NOT_VALID, LINT_ERROR, c->location,
						psprintf("adding CHECK constraint %son table %s (%s) scans the whole table under an ACCESS EXCLUSIVE lock",
								 con ? psprintf("%s ", con) : "", rel->name, lint_rel_size(rel)),
						column != NULL ?
						psprintf("Add column %s without the CHECK, then ALTER TABLE %s ADD CONSTRAINT ... CHECK (...) NOT VALID, and VALIDATE CONSTRAINT in a later migration.",
								 quote_identifier(column), rel->name) :
						psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (...) NOT VALID, then VALIDATE CONSTRAINT %s in a later migration (it blocks no reads or writes).",
								 rel->name, con ? con : "name", con ? con : "name"));
			break;
		case CONSTR_UNIQUE:
		case CONSTR_PRIMARY:
			{
				const char *kind = c->contype == CONSTR_UNIQUE ? "UNIQUE" : "PRIMARY KEY";

				if (c->indexname != NULL || !lint_enabled(ctx, R_UNIQUE) ||
					!lint_rel_nonempty(ctx, rel))
					break;
				lint_report(ctx, R_UNIQUE, LINT_ERROR, c->location,
							psprintf("adding %s constraint %son table %s (%s) builds its index under an ACCESS EXCLUSIVE lock",
									 kind, con ? psprintf("%s ", con) : "", rel->name, lint_rel_size(rel)),
							psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (...), then ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s.",
									 con ? con : "name", rel->name, rel->name,
									 con ? con : "name", kind, con ? con : "name"));
				break;
			}
		default:
			break;
	}
}

/* ----------------------------------------------------------------
 * Statements
 * ----------------------------------------------------------------
 */

static void
lint_create_table(LintContext *ctx, CreateStmt *stmt)
{
	RangeVar   *rv = stmt->relation;
	char	   *table = quote_qualified_identifier(rv->schemaname, rv->relname);
	ListCell   *lc;

	foreach(lc, stmt->tableElts)
	{
		ColumnDef  *cd = (ColumnDef *) lfirst(lc);

		if (IsA(cd, ColumnDef))
			lint_column_type(ctx, table, cd->colname, cd->typeName);
	}
	if (!stmt->if_not_exists && lint_robust_applies(ctx))
		lint_robust(ctx, -1, psprintf("CREATE TABLE %s without IF NOT EXISTS", table),
					"CREATE TABLE IF NOT EXISTS");
	lint_created_table(ctx, rv, stmt->if_not_exists);
}

static void
lint_create_table_as(LintContext *ctx, CreateTableAsStmt *stmt)
{
	RangeVar   *rv = stmt->into->rel;
	const char *what = stmt->objtype == OBJECT_MATVIEW ? "CREATE MATERIALIZED VIEW" : "CREATE TABLE";

	if (!stmt->if_not_exists && !stmt->is_select_into && lint_robust_applies(ctx))
		lint_robust(ctx, -1,
					psprintf("%s %s without IF NOT EXISTS", what,
							 quote_qualified_identifier(rv->schemaname, rv->relname)),
					psprintf("%s IF NOT EXISTS", what));
	lint_created_table(ctx, rv, stmt->if_not_exists);
}

static void
lint_create_index(LintContext *ctx, IndexStmt *stmt)
{
	LintRel		rel;
	const char *idx = lint_ident(stmt->idxname, NULL);
	const char *unique = stmt->unique ? "UNIQUE " : "";

	lint_rel(ctx, stmt->relation, &rel);
	if (!stmt->concurrent && lint_enabled(ctx, R_INDEX_CREATE) &&
		/* ON ONLY a partitioned table builds nothing */
		!(rel.relkind == RELKIND_PARTITIONED_TABLE && !stmt->relation->inh) &&
		/* IF NOT EXISTS of an index that exists builds nothing */
		!(stmt->if_not_exists && stmt->idxname != NULL && OidIsValid(rel.relid) &&
		  OidIsValid(get_relname_relid(stmt->idxname, get_rel_namespace(rel.relid)))) &&
		lint_rel_nonempty(ctx, &rel))
	{
		bool		partitioned = rel.relkind == RELKIND_PARTITIONED_TABLE;

		lint_report(ctx, R_INDEX_CREATE, LINT_ERROR, -1,
					psprintf("creating %sindex %son %stable %s (%s) without CONCURRENTLY blocks writes to the table while the index is built",
							 unique, idx ? psprintf("%s ", idx) : "",
							 partitioned ? "partitioned " : "", rel.name, lint_rel_size(&rel)),
					partitioned ?
					psprintf("A partitioned table cannot be indexed CONCURRENTLY: CREATE %sINDEX %sON ONLY %s, then CREATE %sINDEX CONCURRENTLY on each partition and ALTER INDEX ... ATTACH PARTITION it.",
							 unique, idx ? psprintf("%s ", idx) : "", rel.name, unique) :
					psprintf("Use CREATE %sINDEX CONCURRENTLY %sON %s ...; it cannot run inside a transaction block, so keep it in a migration of its own.",
							 unique, idx ? psprintf("%s ", idx) : "", rel.name));
	}
	if (!stmt->if_not_exists && lint_robust_applies(ctx))
		lint_robust(ctx, -1,
					psprintf("CREATE %sINDEX %swithout IF NOT EXISTS", unique,
							 idx ? psprintf("%s ", idx) : ""),
					stmt->idxname != NULL ?
					psprintf("CREATE %sINDEX %sIF NOT EXISTS %s", unique,
							 stmt->concurrent ? "CONCURRENTLY " : "", idx) :
					psprintf("CREATE %sINDEX %sIF NOT EXISTS with a name", unique,
							 stmt->concurrent ? "CONCURRENTLY " : ""));
	if (stmt->idxname != NULL)
		ctx->created_indexes = lint_name_add(ctx->created_indexes, stmt->relation->schemaname,
											 stmt->idxname, NULL);
}

/* DROP INDEX of one index, not CONCURRENTLY. */
static void
lint_drop_index(LintContext *ctx, RangeVar *rv)
{
	LintRel		idx;
	Oid			table;
	char		relkind;

	if (lint_name_in(ctx, ctx->created_indexes, rv->schemaname, rv->relname, NULL))
		return;
	lint_rel(ctx, rv, &idx);
	relkind = idx.relkind;
	if (!lint_rel_existing(&idx) ||
		(relkind != RELKIND_INDEX && relkind != RELKIND_PARTITIONED_INDEX))
		return;
	table = IndexGetRelation(idx.relid, true);
	if (!OidIsValid(table) ||
		lint_name_in(ctx, ctx->created_rels, get_namespace_name(get_rel_namespace(table)),
					 get_rel_name(table), NULL))
		return;
	lint_report(ctx, R_INDEX_DROP, LINT_WARNING, -1,
				psprintf("dropping index %s of table %s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table, which waits for every query on it and blocks all that come after",
						 idx.name,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
													get_rel_name(table))),
				relkind == RELKIND_PARTITIONED_INDEX ?
				pstrdup("An index of a partitioned table cannot be dropped CONCURRENTLY: drop it at a quiet time, with a short lock_timeout.") :
				psprintf("Use DROP INDEX CONCURRENTLY %s; it cannot run inside a transaction block, so keep it in a migration of its own.",
						 idx.name));
}

/* DROP TABLE of one table. */
static void
lint_drop_table(LintContext *ctx, RangeVar *rv)
{
	LintRel		rel;

	lint_rel(ctx, rv, &rel);
	if (!lint_rel_existing(&rel) || !lint_enabled(ctx, R_DROP_TABLE) ||
		(rel.relkind != RELKIND_RELATION && rel.relkind != RELKIND_PARTITIONED_TABLE))
		return;
	(void) lint_rel_nonempty(ctx, &rel);	/* measures it */
	lint_report(ctx, R_DROP_TABLE, LINT_ERROR, -1,
				psprintf("dropping table %s (%s) loses its data and breaks clients that still use it",
						 rel.name, lint_rel_size(&rel)),
				pstrdup("Stop using the table in every client first and keep a copy of its data; for instance rename it in one migration and drop it in a later one."));
}

static const char *
lint_drop_what(ObjectType type)
{
	switch (type)
	{
		case OBJECT_TABLE:
			return "DROP TABLE";
		case OBJECT_INDEX:
			return "DROP INDEX";
		case OBJECT_SEQUENCE:
			return "DROP SEQUENCE";
		case OBJECT_VIEW:
			return "DROP VIEW";
		case OBJECT_MATVIEW:
			return "DROP MATERIALIZED VIEW";
		case OBJECT_TYPE:
			return "DROP TYPE";
		case OBJECT_DOMAIN:
			return "DROP DOMAIN";
		case OBJECT_FUNCTION:
			return "DROP FUNCTION";
		case OBJECT_PROCEDURE:
			return "DROP PROCEDURE";
		case OBJECT_SCHEMA:
			return "DROP SCHEMA";
		case OBJECT_TRIGGER:
			return "DROP TRIGGER";
		case OBJECT_EXTENSION:
			return "DROP EXTENSION";
		default:
			return "DROP";
	}
}

static void
lint_drop(LintContext *ctx, DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType == OBJECT_INDEX || stmt->removeType == OBJECT_TABLE)
	{
		foreach(lc, stmt->objects)
		{
			List	   *names = (List *) lfirst(lc);
			RangeVar   *rv;

			/* makeRangeVarFromNameList() refuses more than three names */
			if (list_length(names) > 3)
				continue;
			rv = makeRangeVarFromNameList(names);
			if (stmt->removeType == OBJECT_TABLE)
				lint_drop_table(ctx, rv);
			else if (!stmt->concurrent && lint_enabled(ctx, R_INDEX_DROP))
				lint_drop_index(ctx, rv);
		}
	}
	if (!stmt->missing_ok && lint_robust_applies(ctx))
	{
		const char *what = lint_drop_what(stmt->removeType);
		const char *name = "";

		if ((stmt->removeType == OBJECT_TABLE || stmt->removeType == OBJECT_INDEX ||
			 stmt->removeType == OBJECT_SEQUENCE || stmt->removeType == OBJECT_VIEW ||
			 stmt->removeType == OBJECT_MATVIEW) && stmt->objects != NIL)
			name = psprintf(" %s", NameListToQuotedString(linitial(stmt->objects)));
		lint_robust(ctx, -1, psprintf("%s%s%s without IF EXISTS", what,
									  stmt->concurrent ? " CONCURRENTLY" : "", name),
					psprintf("%s%s IF EXISTS", what, stmt->concurrent ? " CONCURRENTLY" : ""));
	}
}

/* ALTER TABLE ... ADD COLUMN */
static void
lint_add_column(LintContext *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	ColumnDef  *cd = castNode(ColumnDef, cmd->def);
	const char *col = quote_identifier(cd->colname);
	const char *type = lint_builtin_type(cd->typeName);
	Constraint *def = NULL;
	Constraint *notnull = NULL;
	Constraint *generated = NULL;
	ListCell   *lc;

	lint_column_type(ctx, rel->name, cd->colname, cd->typeName);
	foreach(lc, cd->constraints)
	{
		Constraint *c = lfirst_node(Constraint, lc);

		switch (c->contype)
		{
			case CONSTR_DEFAULT:
				def = c;
				break;
			case CONSTR_NOTNULL:
				notnull = c;
				break;
			case CONSTR_IDENTITY:
			case CONSTR_GENERATED:
				generated = c;
				break;
			default:
				lint_constraint(ctx, rel, c, cd->colname);
				break;
		}
	}

	if (lint_enabled(ctx, R_DEFAULT) && (def != NULL || generated != NULL || lint_is_serial(type)) &&
		lint_rel_nonempty(ctx, rel))
	{
		char	   *culprit = NULL;
		char		v = PROVOLATILE_VOLATILE;
		char	   *why;
		const char *hint = "Add the column without a default (or with a constant one), set the default in the same migration, and fill existing rows in batches.";

		if (generated != NULL)
			why = pstrdup(generated->contype == CONSTR_IDENTITY ?
						  "as an identity column" : "as a stored generated column");
		else if (def == NULL)
			why = psprintf("of type %s (its default calls nextval())", type);
		else
		{
			v = lint_expr_volatility(ctx, def->raw_expr, &culprit);
			why = psprintf("with a volatile default (%s())", culprit ? culprit : "?");
		}
		if (v == PROVOLATILE_VOLATILE)
			lint_report(ctx, R_DEFAULT, LINT_ERROR,
						def != NULL ? def->location : (generated ? generated->location : cd->location),
						psprintf("adding column %s to table %s (%s) %s rewrites the table under an ACCESS EXCLUSIVE lock",
								 col, rel->name, lint_rel_size(rel), why),
						pstrdup(hint));
		else if (v == 0)
			lint_report(ctx, R_DEFAULT, LINT_WARNING, def->location,
						psprintf("adding column %s to table %s (%s) with a default that calls %s(), whose volatility is unknown: a volatile default rewrites the table under an ACCESS EXCLUSIVE lock",
								 col, rel->name, lint_rel_size(rel), culprit),
						pstrdup(hint));
	}

	/* with any default the column is filled; without, rows make it fail */
	if (notnull != NULL && def == NULL && generated == NULL && !lint_is_serial(type) &&
		lint_enabled(ctx, R_NOT_NULL) && lint_rel_nonempty(ctx, rel))
		lint_report(ctx, R_NOT_NULL, LINT_ERROR, notnull->location,
					psprintf("adding column %s to table %s (%s) as NOT NULL without a default fails when the table has rows",
							 col, rel->name, lint_rel_size(rel)),
					pstrdup("Give the column a non-volatile DEFAULT (no rewrite), or add it nullable, fill it, and make it NOT NULL in a later migration."));

	if (!cmd->missing_ok && lint_robust_applies(ctx))
		lint_robust(ctx, cd->location,
					psprintf("ALTER TABLE %s ADD COLUMN %s without IF NOT EXISTS", rel->name, col),
					"ADD COLUMN IF NOT EXISTS");
}

/* ALTER TABLE ... ALTER COLUMN ... TYPE */
static void
lint_alter_type(LintContext *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	ColumnDef  *cd = castNode(ColumnDef, cmd->def);

	lint_column_type(ctx, rel->name, cmd->name, cd->typeName);
	if (lint_enabled(ctx, R_TYPE_CHANGE) && lint_column_exists(rel, cmd->name) &&
		lint_rel_nonempty(ctx, rel) &&
		lint_type_change_rewrites(rel->relid, cmd->name, cd->typeName, cd->raw_default != NULL))
		lint_report(ctx, R_TYPE_CHANGE, LINT_ERROR, cd->typeName->location,
					psprintf("changing the type of column %s of table %s (%s) to %s rewrites the table and its indexes under an ACCESS EXCLUSIVE lock",
							 quote_identifier(cmd->name), rel->name, lint_rel_size(rel),
							 lint_type_display(cd->typeName)),
					pstrdup("Add a column of the new type, fill it in batches and keep it in sync (a trigger), then switch clients to it; raising or removing a varchar or numeric limit needs no rewrite."));
}

/* ALTER TABLE ... ALTER COLUMN ... SET NOT NULL */
static void
lint_set_not_null(LintContext *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	bool		already;
	const char *col = quote_identifier(cmd->name);
	const char *check = quote_identifier(psprintf("%s_not_null", cmd->name));

	if (!lint_enabled(ctx, R_NOT_NULL) || !lint_rel_nonempty(ctx, rel) ||
		lint_notnull_implied(rel->relid, cmd->name, &already))
		return;
	lint_report(ctx, R_NOT_NULL, LINT_ERROR, -1,
				psprintf("setting NOT NULL on column %s of table %s (%s) scans the whole table under an ACCESS EXCLUSIVE lock",
						 col, rel->name, lint_rel_size(rel)),
				STEWARD_HAS_NOT_NULL_NOT_VALID ?
				psprintf("ALTER TABLE %s ADD CONSTRAINT %s NOT NULL %s NOT VALID, then VALIDATE CONSTRAINT %s in a later migration.",
						 rel->name, check, col, check) :
				psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT %s in a later migration, then SET NOT NULL (the validated CHECK spares the scan) and drop the CHECK.",
						 rel->name, check, col, check));
}

/* ALTER TABLE ... VALIDATE CONSTRAINT of one added NOT VALID earlier. */
static void
lint_validate(LintContext *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	ListCell   *lc;

	if (!lint_enabled(ctx, R_NOT_VALID))
		return;
	foreach(lc, ctx->not_valid)
	{
		LintName   *n = lfirst(lc);

		if (strcmp(n->member, cmd->name) != 0 || strcmp(n->name, rel->relname) != 0 ||
			!lint_name_in(ctx, list_make1(n), rel->schema, rel->relname, NULL))
			continue;
		/* only one transaction holds both statements' locks */
		if ((ctx->transactional || ctx->in_block || n->statement == ctx->stmt->number) &&
			lint_rel_nonempty(ctx, rel))
			lint_report(ctx, R_NOT_VALID, LINT_ERROR, -1,
						psprintf("constraint %s on table %s (%s) is validated in the same transaction that added it NOT VALID, so the lock taken by ADD CONSTRAINT is held while every row is checked",
								 quote_identifier(cmd->name), rel->name, lint_rel_size(rel)),
						psprintf("Run ALTER TABLE %s VALIDATE CONSTRAINT %s in a later migration.",
								 rel->name, quote_identifier(cmd->name)));
		return;
	}
}

static void
lint_detach(LintContext *ctx, LintRel *rel, AlterTableCmd *cmd)
{
	PartitionCmd *pc = (PartitionCmd *) cmd->def;
	char	   *part = quote_qualified_identifier(pc->name->schemaname, pc->name->relname);
	Oid			def;

	if (pc->concurrent || !lint_enabled(ctx, R_DETACH) || !lint_rel_existing(rel))
		return;
	def = get_default_partition_oid(rel->relid);
	lint_report(ctx, R_DETACH, LINT_WARNING, pc->name->location,
				psprintf("detaching partition %s from table %s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the partitioned table",
						 part, rel->name),
				OidIsValid(def) ?
				psprintf("CONCURRENTLY is not possible while %s has a default partition (%s): detach at a quiet time, with a short lock_timeout.",
						 rel->name, quote_identifier(get_rel_name(def))) :
				psprintf("Use ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY; it cannot run inside a transaction block, so keep it in a migration of its own.",
						 rel->name, part));
}

static void
lint_alter_table(LintContext *ctx, AlterTableStmt *stmt)
{
	LintRel		rel;
	ListCell   *lc;

	if (stmt->objtype != OBJECT_TABLE)
		return;
	lint_rel(ctx, stmt->relation, &rel);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				lint_add_column(ctx, &rel, cmd);
				break;
			case AT_AlterColumnType:
				lint_alter_type(ctx, &rel, cmd);
				break;
			case AT_SetNotNull:
				lint_set_not_null(ctx, &rel, cmd);
				break;
			case AT_AddConstraint:
				{
					Constraint *c = castNode(Constraint, cmd->def);

					lint_constraint(ctx, &rel, c, NULL);
					if (lint_robust_applies(ctx) &&
						(c->conname == NULL ||
						 !lint_name_in(ctx, ctx->dropped_cons, rel.schema, rel.relname, c->conname)))
						lint_robust(ctx, c->location,
									psprintf("ALTER TABLE %s ADD CONSTRAINT %s", rel.name,
											 lint_ident(c->conname, "(unnamed)")),
									psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s before adding it",
											 rel.name, lint_ident(c->conname, "name")));
					break;
				}
			case AT_ValidateConstraint:
				lint_validate(ctx, &rel, cmd);
				break;
			case AT_DropColumn:
				if (lint_enabled(ctx, R_DROP_COLUMN) && lint_column_exists(&rel, cmd->name))
					lint_report(ctx, R_DROP_COLUMN, LINT_ERROR, -1,
								psprintf("dropping column %s of table %s loses its data and breaks clients that still use it",
										 quote_identifier(cmd->name), rel.name),
								pstrdup("Stop using the column in every client first and keep a copy of its data if it may be needed; then drop it in a later migration."));
				if (!cmd->missing_ok && lint_robust_applies(ctx))
					lint_robust(ctx, -1,
								psprintf("ALTER TABLE %s DROP COLUMN %s without IF EXISTS",
										 rel.name, quote_identifier(cmd->name)),
								"DROP COLUMN IF EXISTS");
				break;
			case AT_DropConstraint:
				if (cmd->missing_ok)
					ctx->dropped_cons = lint_name_add(ctx->dropped_cons, rel.schema,
													  rel.relname, cmd->name);
				else if (lint_robust_applies(ctx))
					lint_robust(ctx, -1,
								psprintf("ALTER TABLE %s DROP CONSTRAINT %s without IF EXISTS",
										 rel.name, quote_identifier(cmd->name)),
								"DROP CONSTRAINT IF EXISTS");
				break;
			case AT_DetachPartition:
				lint_detach(ctx, &rel, cmd);
				break;
			default:
				break;
		}
	}
}

static void
lint_rename(LintContext *ctx, RenameStmt *stmt)
{
	LintRel		rel;

	if (stmt->relation == NULL)
		return;
	if (stmt->renameType == OBJECT_TABLE)
	{
		lint_rel(ctx, stmt->relation, &rel);
		if (rel.created)
		{
			/* the new name is as new as the old one */
			ctx->created_rels = lint_name_add(ctx->created_rels, stmt->relation->schemaname,
											  stmt->newname, NULL);
			return;
		}
		if (lint_rel_existing(&rel))
			lint_report(ctx, R_RENAME_TABLE, LINT_WARNING, -1,
						psprintf("renaming table %s to %s breaks clients that still use the old name",
								 rel.name, quote_identifier(stmt->newname)),
						psprintf("Deploy clients that use the new name first; or rename, then CREATE VIEW %s AS SELECT * FROM %s until no client uses the old name.",
								 rel.name, quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel.relid)),
																	  stmt->newname)));
	}
	else if (stmt->renameType == OBJECT_COLUMN && stmt->relationType == OBJECT_TABLE)
	{
		lint_rel(ctx, stmt->relation, &rel);
		if (lint_column_exists(&rel, stmt->subname))
			lint_report(ctx, R_RENAME_COLUMN, LINT_WARNING, -1,
						psprintf("renaming column %s of table %s to %s breaks clients that still use the old name",
								 quote_identifier(stmt->subname), rel.name,
								 quote_identifier(stmt->newname)),
						pstrdup("Add a column with the new name, keep both in sync (a trigger) until every client uses it, then drop the old one."));
	}
}

/* Remember a function created by the statement, for default expressions. */
static void
lint_create_function(LintContext *ctx, CreateFunctionStmt *stmt)
{
	LintName   *n;
	List	   *names = stmt->funcname;
	ListCell   *lc;

	ctx->created_funcs = lint_name_add(ctx->created_funcs,
									   list_length(names) >= 2 ? strVal(list_nth(names, list_length(names) - 2)) : NULL,
									   strVal(llast(names)), NULL);
	n = llast(ctx->created_funcs);
	n->volatility = PROVOLATILE_VOLATILE;
	foreach(lc, stmt->parameters)
	{
		FunctionParameter *p = lfirst_node(FunctionParameter, lc);

		if (p->mode != FUNC_PARAM_OUT && p->mode != FUNC_PARAM_TABLE)
			n->nargs++;
	}
	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "volatility") == 0)
		{
			const char *v = strVal(opt->arg);

			n->volatility = strcmp(v, "immutable") == 0 ? PROVOLATILE_IMMUTABLE :
				strcmp(v, "stable") == 0 ? PROVOLATILE_STABLE : PROVOLATILE_VOLATILE;
		}
	}
}

/* The rules that apply to one statement. */
void
lint_statement(LintContext *ctx, Node *node)
{
	switch (nodeTag(node))
	{
		case T_CreateStmt:
			lint_create_table(ctx, (CreateStmt *) node);
			break;
		case T_CreateTableAsStmt:
			lint_create_table_as(ctx, (CreateTableAsStmt *) node);
			break;
		case T_IndexStmt:
			lint_create_index(ctx, (IndexStmt *) node);
			break;
		case T_DropStmt:
			lint_drop(ctx, (DropStmt *) node);
			break;
		case T_AlterTableStmt:
			lint_alter_table(ctx, (AlterTableStmt *) node);
			break;
		case T_RenameStmt:
			lint_rename(ctx, (RenameStmt *) node);
			break;
		case T_CreateFunctionStmt:
			lint_create_function(ctx, (CreateFunctionStmt *) node);
			break;
		case T_CreateSeqStmt:
			if (!((CreateSeqStmt *) node)->if_not_exists && lint_robust_applies(ctx))
				lint_robust(ctx, -1, "CREATE SEQUENCE without IF NOT EXISTS",
							"CREATE SEQUENCE IF NOT EXISTS");
			break;
		case T_CreateSchemaStmt:
			if (!((CreateSchemaStmt *) node)->if_not_exists && lint_robust_applies(ctx))
				lint_robust(ctx, -1, "CREATE SCHEMA without IF NOT EXISTS",
							"CREATE SCHEMA IF NOT EXISTS");
			break;
		case T_CreateExtensionStmt:
			if (!((CreateExtensionStmt *) node)->if_not_exists && lint_robust_applies(ctx))
				lint_robust(ctx, -1, "CREATE EXTENSION without IF NOT EXISTS",
							"CREATE EXTENSION IF NOT EXISTS");
			break;
		case T_ViewStmt:
			if (!((ViewStmt *) node)->replace && lint_robust_applies(ctx))
				lint_robust(ctx, -1, "CREATE VIEW without OR REPLACE",
							"CREATE OR REPLACE VIEW");
			break;
		case T_TransactionStmt:
			switch (((TransactionStmt *) node)->kind)
			{
				case TRANS_STMT_BEGIN:
				case TRANS_STMT_START:
					ctx->in_block = true;
					break;
				case TRANS_STMT_COMMIT:
				case TRANS_STMT_ROLLBACK:
				case TRANS_STMT_PREPARE:
					ctx->in_block = false;
					break;
				default:
					break;
			}
			break;
		default:
			break;
	}
}
