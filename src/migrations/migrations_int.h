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

#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "utils/array.h"

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

/* A registered (or applied, no longer registered) migration and its state. */
typedef struct Migration
{
	char	   *version;
	char	   *name;
	char	   *up_sql;			/* NULL when only applied (state "missing") */
	char	   *down_sql;		/* or NULL */
	bytea	   *checksum;		/* of the registered text, or NULL */
	bool		transactional;
	List	   *requires;		/* char * */
	char	   *state;			/* migration_status.state */
	bytea	   *key;			/* migration_version_key(version) */
	int64		applied_id;		/* history_id of its latest apply, or 0 */
} Migration;

/* catalog.c */
extern bytea *migration_version_key(const char *version);
extern int	migration_version_cmp(const char *a, const char *b);
extern void migration_check_version(const char *version, const char *what);
extern char *migration_normalize(const char *sql);
extern bytea *migration_checksum(const char *up_sql);
extern List *migration_catalog_load(void);
extern bool migration_state_applied(const char *state);
extern char *migration_lint_summary(List *findings, Datum *array);
extern List *migration_register(const char *version, const char *name, const char *up_sql,
								const char *down_sql, ArrayType *requires, bool replace);

/* apply.c: true while migrate() or the worker runs a migration's SQL */
extern bool migration_running;
extern void migration_lock(void);

/* record.c: write a history row (JSON object of its columns) in a
 * transaction of its own, in a separate process; false if it could not */
extern bool migration_record_durably(const char *row_json);

/* worker.c */
extern void migration_queue_job(void);

/* lint.c: findings (LintFinding *) for parsed statements of 'sql' */
extern List *migration_lint_stmts(const char *sql, List *stmts);
extern void migration_put_findings(FunctionCallInfo fcinfo, List *findings);

#endif							/* STEWARD_MIGRATIONS_INT_H */
