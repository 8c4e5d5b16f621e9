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
#include "mb/pg_wchar.h"
#include "parser/parser.h"
#include "parser/scanner.h"

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
 * The number of the statement at byte 'offset' of 'sql': one more than the
 * semicolons before it, counted by the server's own scanner so that those
 * in strings, quoted names and comments do not count.
 */
static int
migration_stmt_number_at(const char *sql, int offset)
{
	core_yy_extra_type yyextra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	MemoryContext cxt = CurrentMemoryContext;
	volatile int number = 1;

	scanner = scanner_init(sql, &yyextra, &ScanKeywords, ScanKeywordTokens);
	PG_TRY();
	{
		int			tok;

		while ((tok = core_yylex(&yylval, &yylloc, scanner)) != 0)
		{
			if (yylloc >= offset)
				break;
			if (tok == ';')
				number++;
		}
	}
	PG_CATCH();
	{
		/* an unterminated string or comment: count what came before */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	scanner_finish(scanner);
	return number;
}

/*
 * Re-raise the parser's error 'edata' on 'sql' (the text of 'what') with
 * where it is: statement number, line and column in 'sql'.  The SQLSTATE
 * (42601 for a syntax error) is kept.
 */
static void
migration_parse_error(const char *sql, const char *what, ErrorData *edata)
{
	int			pos = edata->cursorpos; /* characters, 1-based; 0: none */
	int			offset = 0;
	int			line = 1;
	int			column = 1;
	int			chars;

	if (pos <= 0)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("%s in %s", edata->message, what)));

	for (chars = 1; chars < pos && sql[offset] != '\0'; chars++)
	{
		if (sql[offset] == '\n')
		{
			line++;
			column = 1;
		}
		else
			column++;
		offset += pg_mblen(sql + offset);
	}
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("%s in %s", edata->message, what),
			 errdetail("The error is in statement %d, at line %d, column %d of %s.",
					   migration_stmt_number_at(sql, offset), line, column, what),
			 internalerrquery(sql),
			 internalerrposition(pos)));
}

/*
 * Parse 'sql' (the text of a migration's 'what', e.g. "up_sql of migration
 * \"3\"") into a list of MigrationStmt.  A syntax error names 'what', the
 * statement number, line and column.
 */
/* raw_parser(), its error copied out instead of raised. */
static List *
migration_raw_parse(const char *sql, ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile raw = NIL;

	*edata = NULL;
	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		*edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return raw;
}

List *
migration_parse(const char *sql, const char *what)
{
	ErrorData  *edata;
	List	   *raw = migration_raw_parse(sql, &edata);
	List	   *result = NIL;
	ListCell   *lc;
	int			n = 0;

	if (edata != NULL)
		migration_parse_error(sql, what, edata);

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
