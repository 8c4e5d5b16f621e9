/*-------------------------------------------------------------------------
 *
 * lint_int.h
 *	  What lint.c (the driver, catalog look-ups) and lint_rules.c (the rules)
 *	  share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_LINT_INT_H
#define STEWARD_LINT_INT_H

#include "postgres.h"

#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "storage/block.h"

#include "migrations/migrations_int.h"

/* Severities: see docs/migrations.md, "Linter". */
#define LINT_ERROR		"error"
#define LINT_WARNING	"warning"

/* A name seen in the SQL: a relation, an index or a constraint. */
typedef struct LintName
{
	char	   *schema;			/* as written, or NULL */
	char	   *name;
	char	   *member;			/* constraint name, or NULL */
	char		volatility;		/* functions: provolatile */
	int			nargs;			/* functions: number of arguments */
	int			statement;		/* where it was seen */
} LintName;

/* What the linter knows of one table named in a statement. */
typedef struct LintRel
{
	Oid			relid;			/* InvalidOid: not in the catalog (yet) */
	bool		created;		/* created earlier in the same SQL */
	char		relkind;		/* when relid is valid */
	char	   *name;			/* for messages: qualified, quoted */
	char	   *schema;			/* as written, or NULL */
	char	   *relname;		/* as written */
	int64		bytes;			/* size; -1 until asked */
} LintRel;

/* The state of one run over a migration's statements. */
typedef struct LintContext
{
	const char *sql;
	bool		transactional;	/* all statements run in one transaction */
	bool		in_block;		/* between an explicit BEGIN and COMMIT */
	MigrationStmt *stmt;		/* the statement being checked */
	char	   *default_schema; /* where unqualified CREATEs go, or NULL */
	List	   *findings;		/* LintFinding * */
	List	   *created_rels;	/* LintName *: tables created so far */
	List	   *created_indexes;	/* LintName * */
	List	   *created_funcs;	/* LintName * with volatility */
	List	   *not_valid;		/* LintName *: constraints added NOT VALID */
	List	   *dropped_cons;	/* LintName *: DROP CONSTRAINT IF EXISTS */
	List	   *sizes;			/* cache of relation sizes (LintSize *) */
} LintContext;

/* lint.c: findings */
extern bool lint_enabled(LintContext *ctx, const char *rule);
extern void lint_report(LintContext *ctx, const char *rule, const char *severity,
						int location, char *message, char *hint);

/* lint.c: names seen in the SQL */
extern bool lint_name_in(LintContext *ctx, List *names, const char *schema,
						 const char *name, const char *member);
extern List *lint_name_add(List *names, const char *schema, const char *name,
						   const char *member);

/* lint.c: the live catalog, looked up without errors nor waits */
extern void lint_rel(LintContext *ctx, RangeVar *rv, LintRel *rel);
extern bool lint_rel_existing(LintRel *rel);
extern bool lint_rel_nonempty(LintContext *ctx, LintRel *rel);
extern char *lint_rel_size(LintRel *rel);
extern bool lint_names_usable(List *names);
extern char lint_expr_volatility(LintContext *ctx, Node *expr, char **culprit);
extern bool lint_notnull_implied(Oid relid, const char *column, bool *already);
extern bool lint_type_change_rewrites(Oid relid, const char *column,
									  TypeName *newtype, bool has_using);
extern char *lint_type_display(TypeName *tn);

/* lint_rules.c */
extern void lint_statement(LintContext *ctx, Node *node);

#endif							/* STEWARD_LINT_INT_H */
