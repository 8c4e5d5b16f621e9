/*-------------------------------------------------------------------------
 *
 * parse.c
 *	  Splitting a migration's SQL into statements with the server's parser.
 *
 * A migration is parsed, never executed, to be checked: raw_parser() gives
 * each statement's node and where it is in the text, which is all the
 * linter and the runner need.  Parse analysis would need the objects that
 * earlier statements of the same migration create.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "parser/parser.h"

#include "migrations/migrations_int.h"

#define MIGRATION_IGNORE_MARK	"steward:ignore"

/* The rule names after each "steward:ignore" in a statement's text. */
static List *
migration_ignored_rules(const char *text)
{
	List	   *rules = NIL;
	const char *p = text;

	while ((p = strstr(p, MIGRATION_IGNORE_MARK)) != NULL)
	{
		const char *start;

		p += strlen(MIGRATION_IGNORE_MARK);
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
			p++;
		if (p > start)
			rules = lappend(rules, pnstrdup(start, p - start));
	}
	return rules;
}

/* The text of one statement (with the comments before it). */
char *
migration_stmt_text(const char *sql, MigrationStmt *stmt)
{
	return pnstrdup(sql + stmt->location, stmt->length);
}

/*
 * Can 'stmt' run inside a transaction block?  The statements that call
 * PreventInTransactionBlock() cannot.
 */
bool
migration_stmt_transactional(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_IndexStmt:
			return !((IndexStmt *) stmt)->concurrent;
		case T_DropStmt:
			return !((DropStmt *) stmt)->concurrent;
		case T_ReindexStmt:
			{
				ReindexStmt *r = (ReindexStmt *) stmt;

				if (r->kind == REINDEX_OBJECT_SYSTEM || r->kind == REINDEX_OBJECT_DATABASE)
					return false;
				foreach(lc, r->params)
				{
					DefElem    *opt = lfirst_node(DefElem, lc);

					if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
						return false;
				}
				return true;
			}
		case T_AlterTableStmt:
			foreach(lc, ((AlterTableStmt *) stmt)->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

				if (cmd->subtype == AT_DetachPartition &&
					((PartitionCmd *) cmd->def)->concurrent)
					return false;
			}
			return true;
		case T_VacuumStmt:
			return !((VacuumStmt *) stmt)->is_vacuumcmd;
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
			return false;
		default:
			return true;
	}
}

/*
 * Parse 'sql' (the text of a migration's 'what', e.g. "up_sql") into a list
 * of MigrationStmt.  A syntax error is raised by the parser.
 */
List *
migration_parse(const char *sql, const char *what)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	List	   *result = NIL;
	ListCell   *lc;
	int			n = 0;

	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		MigrationStmt *s = palloc0(sizeof(MigrationStmt));

		s->number = ++n;
		s->raw = rs;
		s->location = rs->stmt_location;
		s->length = rs->stmt_len > 0 ? rs->stmt_len : (int) strlen(sql) - rs->stmt_location;
		s->transactional = migration_stmt_transactional(rs->stmt);
		s->ignored = migration_ignored_rules(migration_stmt_text(sql, s));
		result = lappend(result, s);
	}
	return result;
}
