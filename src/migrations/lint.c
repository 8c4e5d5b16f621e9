/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  The migration linter: safety rules checked against the live catalog.
 *
 * The linted SQL is parsed (parse.c), never executed nor analysed: parse
 * analysis would need the objects that earlier statements create.  The
 * rules (lint_rules.c) ask this file what the catalog says about the names
 * they meet: whether a table exists, its size, a column's type, a
 * function's volatility.  Those look-ups never raise an error (a migration
 * may name what it creates, or schemas the caller cannot use) and never
 * wait for a lock: a table someone holds locked is sized from pg_class.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "core/compat.h"
#include "core/spi_util.h"
#include "migrations/lint_int.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migration_lint);

/* A relation's size, measured once per run. */
typedef struct LintSize
{
	Oid			relid;
	int64		bytes;
} LintSize;

/* ----------------------------------------------------------------
 * Findings
 * ----------------------------------------------------------------
 */

/* Is 'rule' not silenced by "-- steward:ignore <rule>" on the statement? */
bool
lint_enabled(LintContext *ctx, const char *rule)
{
	ListCell   *lc;

	foreach(lc, ctx->stmt->ignored)
	{
		if (strcmp((char *) lfirst(lc), rule) == 0)
			return false;
	}
	return true;
}

/*
 * Where the statement's first token is: MigrationStmt.location includes the
 * blanks and comments before it.
 */
static int
lint_stmt_start(LintContext *ctx)
{
	const char *start = ctx->sql + ctx->stmt->location;
	const char *end = start + ctx->stmt->length;
	const char *p = start;

	while (p < end)
	{
		if (isspace((unsigned char) *p))
			p++;
		else if (p + 1 < end && p[0] == '-' && p[1] == '-')
		{
			while (p < end && *p != '\n')
				p++;
		}
		else if (p + 1 < end && p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;	/* block comments nest in PostgreSQL */

			p += 2;
			while (p < end && depth > 0)
			{
				if (p + 1 < end && p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p + 1 < end && p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else
			break;
	}
	return p < end ? (int) (p - ctx->sql) : ctx->stmt->location;
}

/*
 * Record a finding of 'rule' at 'location' (a parse location; -1: the
 * statement's start) unless the statement silences it.
 */
void
lint_report(LintContext *ctx, const char *rule, const char *severity,
			int location, char *message, char *hint)
{
	LintFinding *f;

	if (!lint_enabled(ctx, rule))
		return;
	f = palloc0(sizeof(LintFinding));
	f->rule = rule;
	f->severity = severity;
	f->statement = ctx->stmt->number;
	f->location = location >= 0 ? location : lint_stmt_start(ctx);
	f->message = message;
	f->hint = hint;
	ctx->findings = lappend(ctx->findings, f);
}

/* ----------------------------------------------------------------
 * Names seen in the SQL
 * ----------------------------------------------------------------
 */

/*
 * Do two spellings of a schema name the same schema?  An unqualified name
 * stands for the schema where CREATE puts new objects.
 */
static bool
lint_same_schema(LintContext *ctx, const char *a, const char *b)
{
	if (a == NULL && b == NULL)
		return true;
	if (a == NULL)
		a = ctx->default_schema;
	if (b == NULL)
		b = ctx->default_schema;
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Is (schema, name, member) in 'names'?  'member' NULL matches any. */
bool
lint_name_in(LintContext *ctx, List *names, const char *schema,
			 const char *name, const char *member)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		LintName   *n = lfirst(lc);

		if (strcmp(n->name, name) == 0 &&
			lint_same_schema(ctx, n->schema, schema) &&
			(member == NULL || (n->member != NULL && strcmp(n->member, member) == 0)))
			return true;
	}
	return false;
}

List *
lint_name_add(List *names, const char *schema, const char *name,
			  const char *member)
{
	LintName   *n = palloc0(sizeof(LintName));

	n->schema = schema ? pstrdup(schema) : NULL;
	n->name = pstrdup(name);
	n->member = member ? pstrdup(member) : NULL;
	return lappend(names, n);
}

/* ----------------------------------------------------------------
 * The live catalog
 * ----------------------------------------------------------------
 */

/*
 * Can a qualified name (a list of String) be looked up without an error?
 * The server's look-ups raise one for a cross-database reference, too many
 * dots, or a schema the caller has no USAGE on.
 */
bool
lint_names_usable(List *names)
{
	int			n = list_length(names);
	Oid			nsp;

	if (n == 1)
		return true;
	if (n > 3 ||
		(n == 3 && strcmp(strVal(linitial(names)), get_database_name(MyDatabaseId)) != 0))
		return false;
	nsp = get_namespace_oid(strVal(list_nth(names, n - 2)), true);
	return OidIsValid(nsp) &&
		steward_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) == ACLCHECK_OK;
}

/* The relation 'schema'.'relname' (schema NULL: by search_path), or InvalidOid. */
static Oid
lint_relid(const char *schema, const char *relname)
{
	Oid			nsp;

	if (schema == NULL)
		return RelnameGetRelid(relname);
	nsp = get_namespace_oid(schema, true);
	/* a schema the caller may not use: not in the catalog (as search_path) */
	if (!OidIsValid(nsp) ||
		steward_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		return InvalidOid;
	return get_relname_relid(relname, nsp);
}

/* What the SQL before and the catalog say about the table 'rv'. */
void
lint_rel(LintContext *ctx, RangeVar *rv, LintRel *rel)
{
	memset(rel, 0, sizeof(LintRel));
	rel->schema = rv->schemaname;
	rel->relname = rv->relname;
	rel->bytes = -1;
	rel->created = lint_name_in(ctx, ctx->created_rels, rv->schemaname, rv->relname, NULL);
	if (!rel->created &&
		(rv->catalogname == NULL ||
		 strcmp(rv->catalogname, get_database_name(MyDatabaseId)) == 0))
		rel->relid = lint_relid(rv->schemaname, rv->relname);
	if (OidIsValid(rel->relid))
	{
		char	   *nspname = get_namespace_name(get_rel_namespace(rel->relid));
		char	   *name = get_rel_name(rel->relid);

		if (nspname != NULL && name != NULL)
		{
			rel->relkind = get_rel_relkind(rel->relid);
			rel->name = quote_qualified_identifier(nspname, name);
			return;
		}
		rel->relid = InvalidOid;	/* dropped meanwhile */
	}
	rel->name = quote_qualified_identifier(rv->schemaname, rv->relname);
}

/* Is the table in the catalog and not created earlier in the same SQL? */
bool
lint_rel_existing(LintRel *rel)
{
	return !rel->created && OidIsValid(rel->relid);
}

/*
 * The size of one relation with storage: its actual size when an
 * ACCESS SHARE lock is free to take now, else what pg_class last recorded.
 */
static int64
lint_storage_bytes(Oid relid)
{
	int64		bytes = 0;

	if (ConditionalLockRelationOid(relid, AccessShareLock))
	{
		Relation	r = try_relation_open(relid, NoLock);

		if (r != NULL)
		{
			if (RELKIND_HAS_STORAGE(r->rd_rel->relkind))
				bytes = (int64) RelationGetNumberOfBlocks(r) * BLCKSZ;
			relation_close(r, NoLock);
		}
		UnlockRelationOid(relid, AccessShareLock);
	}
	else
	{
		HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

		if (HeapTupleIsValid(tup))
		{
			bytes = (int64) ((Form_pg_class) GETSTRUCT(tup))->relpages * BLCKSZ;
			ReleaseSysCache(tup);
		}
	}
	return bytes;
}

/* A table's size; a partitioned table's is that of its partitions. */
static int64
lint_rel_bytes(LintContext *ctx, LintRel *rel)
{
	ListCell   *lc;
	LintSize   *s;

	if (rel->bytes >= 0)
		return rel->bytes;
	foreach(lc, ctx->sizes)
	{
		s = lfirst(lc);
		if (s->relid == rel->relid)
			return rel->bytes = s->bytes;
	}
	s = palloc(sizeof(LintSize));
	s->relid = rel->relid;
	s->bytes = 0;
	if (rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		/* NoLock: reads pg_inherits only; a partition gone meanwhile is 0 */
		foreach(lc, find_all_inheritors(rel->relid, NoLock, NULL))
		{
			Oid			child = lfirst_oid(lc);

			if (RELKIND_HAS_STORAGE(get_rel_relkind(child)))
				s->bytes += lint_storage_bytes(child);
		}
	}
	else if (RELKIND_HAS_STORAGE(rel->relkind))
		s->bytes = lint_storage_bytes(rel->relid);
	ctx->sizes = lappend(ctx->sizes, s);
	return rel->bytes = s->bytes;
}

/*
 * Does the rule about a long lock apply: the table exists, was not created
 * earlier in the same SQL (nobody else uses a new table), and has at least
 * one page?
 */
bool
lint_rel_nonempty(LintContext *ctx, LintRel *rel)
{
	return lint_rel_existing(rel) && lint_rel_bytes(ctx, rel) > 0;
}

/* The size of a table for a message, as pg_size_pretty() writes it. */
char *
lint_rel_size(LintRel *rel)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(Max(rel->bytes, 0)))));
}

/* ----------------------------------------------------------------
 * Volatility of a default expression
 * ----------------------------------------------------------------
 */

typedef struct LintVolatility
{
	LintContext *ctx;
	char		result;			/* PROVOLATILE_*, or 0 while nothing is known */
	bool		unknown;		/* a function we could not look up */
	char	   *culprit;		/* the function that decided it */
} LintVolatility;

/*
 * The volatility of the function 'funcname' called with 'nargs' arguments:
 * one created earlier in the SQL, else the catalog's candidates (the most
 * volatile wins: the call could resolve to it).  0 when unknown.
 */
static char
lint_func_volatility(LintContext *ctx, List *funcname, int nargs)
{
	ListCell   *lc;
	FuncCandidateList c;
	char		result = 0;
	char	   *schema = list_length(funcname) >= 2 ?
		strVal(list_nth(funcname, list_length(funcname) - 2)) : NULL;

	foreach(lc, ctx->created_funcs)
	{
		LintName   *n = lfirst(lc);

		if (n->nargs == nargs && strcmp(n->name, strVal(llast(funcname))) == 0 &&
			lint_same_schema(ctx, n->schema, schema))
			return n->volatility;
	}
	if (!lint_names_usable(funcname))
		return 0;
	for (c = FuncnameGetCandidates(funcname, nargs, NIL, true, true, false, true);
		 c != NULL; c = c->next)
	{
		char		v = func_volatile(c->oid);

		if (v == PROVOLATILE_VOLATILE ||
			(v == PROVOLATILE_STABLE && result != PROVOLATILE_VOLATILE) ||
			result == 0)
			result = v;
	}
	return result;
}

static bool
lint_volatility_walker(Node *node, void *context)
{
	LintVolatility *v = (LintVolatility *) context;

	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		char		f = lint_func_volatility(v->ctx, fc->funcname, list_length(fc->args));

		if (f == 0 && !v->unknown && v->result != PROVOLATILE_VOLATILE)
		{
			v->unknown = true;
			v->culprit = NameListToString(fc->funcname);
		}
		if (f == PROVOLATILE_VOLATILE && v->result != PROVOLATILE_VOLATILE)
		{
			v->result = f;
			v->culprit = NameListToString(fc->funcname);
		}
	}
	return raw_expression_tree_walker(node, lint_volatility_walker, context);
}

/*
 * The volatility of a raw expression: PROVOLATILE_VOLATILE if a function it
 * calls is, 0 if one could not be looked up (created by an earlier
 * migration, say), else PROVOLATILE_STABLE (stable or immutable: evaluated
 * once by ADD COLUMN either way).  '*culprit' names the deciding function.
 */
char
lint_expr_volatility(LintContext *ctx, Node *expr, char **culprit)
{
	LintVolatility v = {ctx, 0, false, NULL};

	lint_volatility_walker(expr, &v);
	*culprit = v.culprit;
	if (v.result == PROVOLATILE_VOLATILE)
		return PROVOLATILE_VOLATILE;
	return v.unknown ? 0 : PROVOLATILE_STABLE;
}

/* ----------------------------------------------------------------
 * Columns
 * ----------------------------------------------------------------
 */

/* Does a CHECK expression (a cooked node tree) say 'attnum' IS NOT NULL? */
static bool
lint_check_implies_notnull(Node *expr, AttrNumber attnum)
{
	if (IsA(expr, NullTest))
	{
		NullTest   *nt = (NullTest *) expr;

		return nt->nulltesttype == IS_NOT_NULL && !nt->argisrow &&
			IsA(nt->arg, Var) && ((Var *) nt->arg)->varattno == attnum;
	}
	if (IsA(expr, BoolExpr) && ((BoolExpr *) expr)->boolop == AND_EXPR)
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) expr)->args)
		{
			if (lint_check_implies_notnull(lfirst(lc), attnum))
				return true;
		}
	}
	return false;
}

/*
 * Will SET NOT NULL on 'column' skip the table scan?  It does when the
 * column is NOT NULL already ('*already') or a validated CHECK constraint
 * proves it (PostgreSQL 12 and later); a table locked by someone else
 * counts as not proven.
 */
bool
lint_notnull_implied(Oid relid, const char *column, bool *already)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, column);
	AttrNumber	attnum;
	bool		implied = false;

	*already = false;
	if (!HeapTupleIsValid(tup))
		return false;
	attnum = ((Form_pg_attribute) GETSTRUCT(tup))->attnum;
	*already = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	if (*already)
		return true;

	if (ConditionalLockRelationOid(relid, AccessShareLock))
	{
		Relation	r = try_relation_open(relid, NoLock);

		if (r != NULL)
		{
			TupleConstr *constr = RelationGetDescr(r)->constr;

			for (int i = 0; constr != NULL && i < constr->num_check && !implied; i++)
			{
				if (constr->check[i].ccvalid)
					implied = lint_check_implies_notnull(stringToNode(constr->check[i].ccbin),
														 attnum);
			}
			relation_close(r, NoLock);
		}
		UnlockRelationOid(relid, AccessShareLock);
	}
	return implied;
}

/*
 * The typmod a TypeName's modifiers stand for, for the types whose limits
 * can grow without a rewrite; false when we cannot tell.
 */
static bool
lint_typmod(TypeName *tn, Oid type, int32 *typmod)
{
	int			mods[2] = {0, 0};
	int			n = 0;
	ListCell   *lc;

	*typmod = -1;
	if (tn->typmods == NIL)
		return true;
	foreach(lc, tn->typmods)
	{
		A_Const    *c = (A_Const *) lfirst(lc);

		if (!IsA(c, A_Const) || !IsA(&c->val, Integer) || n >= 2)
			return false;
		mods[n++] = intVal(&c->val);
	}
	switch (type)
	{
		case VARCHAROID:
		case BPCHAROID:
			if (n != 1 || mods[0] < 1)
				return false;
			*typmod = mods[0] + VARHDRSZ;
			return true;
		case NUMERICOID:
			if (mods[0] < 1 || mods[1] < 0 || mods[1] > mods[0])
				return false;
			*typmod = ((mods[0] << 16) | mods[1]) + VARHDRSZ;
			return true;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TIMEOID:
		case TIMETZOID:
			if (n != 1 || mods[0] < 0)
				return false;
			*typmod = mods[0];
			return true;
		default:
			return false;
	}
}

/*
 * Does ALTER COLUMN 'column' TYPE 'newtype' rewrite the table?  Not when
 * the type stays and its limit grows or goes (varchar, numeric of the same
 * scale, time precisions), nor for a binary-coercible type without a limit
 * (varchar to text); in every other case, and whenever we cannot tell,
 * assume it does.
 */
bool
lint_type_change_rewrites(Oid relid, const char *column, TypeName *newtype,
						  bool has_using)
{
	HeapTuple	tup;
	Oid			oldtype;
	int32		oldmod;
	Oid			type;
	int32		mod;
	Type		typtup;

	if (has_using || newtype->pct_type || !lint_names_usable(newtype->names))
		return true;
	tup = SearchSysCacheAttName(relid, column);
	if (!HeapTupleIsValid(tup))
		return true;
	oldtype = ((Form_pg_attribute) GETSTRUCT(tup))->atttypid;
	oldmod = ((Form_pg_attribute) GETSTRUCT(tup))->atttypmod;
	ReleaseSysCache(tup);

	typtup = LookupTypeName(NULL, newtype, NULL, true);
	if (typtup == NULL)
		return true;
	type = ((Form_pg_type) GETSTRUCT(typtup))->oid;
	ReleaseSysCache(typtup);
	if (!lint_typmod(newtype, type, &mod))
		return true;

	if (type == oldtype)
	{
		if (mod == oldmod || mod == -1)
			return false;
		if (oldmod == -1)
			return true;
		switch (type)
		{
			case VARCHAROID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
			case TIMEOID:
			case TIMETZOID:
				return mod < oldmod;
			case NUMERICOID:
				return ((mod - VARHDRSZ) & 0xffff) != ((oldmod - VARHDRSZ) & 0xffff) ||
					mod < oldmod;
			default:
				return true;
		}
	}
	return !(mod == -1 && IsBinaryCoercible(oldtype, type));
}

/* A type as a message shows it: "bigint", "character varying(20)". */
char *
lint_type_display(TypeName *tn)
{
	Type		typtup;
	Oid			type;
	int32		mod;

	if (tn->pct_type || !lint_names_usable(tn->names) ||
		(typtup = LookupTypeName(NULL, tn, NULL, true)) == NULL)
		return TypeNameToString(tn);
	type = ((Form_pg_type) GETSTRUCT(typtup))->oid;
	ReleaseSysCache(typtup);
	if (!lint_typmod(tn, type, &mod))
		return TypeNameToString(tn);
	return format_type_extended(type, mod, FORMAT_TYPE_TYPEMOD_GIVEN);
}

/* ----------------------------------------------------------------
 * The run
 * ----------------------------------------------------------------
 */

/* The schema unqualified CREATEs go to: the first of search_path. */
static char *
lint_default_schema(void)
{
	List	   *path = fetch_search_path(false);
	char	   *result = NULL;

	if (path != NIL)
		result = get_namespace_name(linitial_oid(path));
	list_free(path);
	return result;
}

/* Findings (LintFinding *) for the parsed statements 'stmts' of 'sql'. */
List *
migration_lint_stmts(const char *sql, List *stmts)
{
	LintContext ctx;
	ListCell   *lc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.sql = sql;
	ctx.transactional = true;
	ctx.default_schema = lint_default_schema();
	foreach(lc, stmts)
	{
		if (!((MigrationStmt *) lfirst(lc))->transactional)
			ctx.transactional = false;
	}
	foreach(lc, stmts)
	{
		int			first = list_length(ctx.findings);

		ctx.stmt = lfirst(lc);
		lint_statement(&ctx, ctx.stmt->raw->stmt);

		/* a statement's findings in text order; stable, as rules are ordered */
		for (int i = first + 1; i < list_length(ctx.findings); i++)
		{
			LintFinding *f = list_nth(ctx.findings, i);
			int			j = i;

			while (j > first && ((LintFinding *) list_nth(ctx.findings, j - 1))->location > f->location)
			{
				list_nth_cell(ctx.findings, j)->ptr_value = list_nth(ctx.findings, j - 1);
				j--;
			}
			list_nth_cell(ctx.findings, j)->ptr_value = f;
		}
	}
	return ctx.findings;
}

/* steward.migration_lint(sql text) RETURNS SETOF steward.lint_finding */
Datum
steward_migration_lint(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));

	steward_init_srf(fcinfo);
	migration_put_findings(fcinfo, migration_lint_stmts(sql, migration_parse(sql, "sql")));
	return (Datum) 0;
}

/* Lint findings as rows of steward.lint_finding (steward_init_srf() done). */
void
migration_put_findings(FunctionCallInfo fcinfo, List *findings)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	foreach(lc, findings)
	{
		LintFinding *f = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = CStringGetTextDatum(f->rule);
		values[1] = CStringGetTextDatum(f->severity);
		values[2] = Int32GetDatum(f->statement);
		values[3] = Int32GetDatum(f->location);
		values[4] = CStringGetTextDatum(f->message);
		if (f->hint != NULL)
			values[5] = CStringGetTextDatum(f->hint);
		else
			nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}
