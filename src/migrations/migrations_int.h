/*-------------------------------------------------------------------------
 *
 * migrations_int.h
 *	  Migrations: what parse.c, lint.c and the rest of src/migrations share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_MIGRATIONS_INT_H
#define STEWARD_MIGRATIONS_INT_H

#include "postgres.h"

#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"

/* One statement of a migration's SQL, as the server's parser sees it. */
typedef struct MigrationStmt
{
	int			number;			/* 1-based, in the text */
	int			location;		/* byte offset of the statement (with the
								 * comments before it) in the text */
	int			length;			/* bytes from 'location' */
	RawStmt    *raw;
	bool		transactional;	/* false: cannot run in a transaction block */
	List	   *ignored;		/* rule names (char *) of "-- steward:ignore" */
} MigrationStmt;

/* A lint finding; the columns of steward.lint_finding. */
typedef struct LintFinding
{
	const char *rule;
	const char *severity;		/* "error", "warning" or "info" */
	int			statement;		/* MigrationStmt.number */
	int			location;		/* byte offset in the text */
	char	   *message;
	char	   *hint;			/* or NULL */
} LintFinding;

/* parse.c */
extern List *migration_parse(const char *sql, const char *what);
extern bool migration_stmt_transactional(Node *stmt);
extern char *migration_stmt_text(const char *sql, MigrationStmt *stmt);

/* lint.c: findings (LintFinding *) for parsed statements of 'sql' */
extern List *migration_lint_stmts(const char *sql, List *stmts);

#endif							/* STEWARD_MIGRATIONS_INT_H */
