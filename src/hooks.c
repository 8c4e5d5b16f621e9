/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  ProcessUtility hook.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE
 * fail while other sessions are connected to the database concerned.  Our
 * scheduler and runners are such sessions, so before those statements we
 * stop them and keep the launcher from restarting them until the statement
 * is over.  CREATE EXTENSION pg_steward wakes the launcher (the scheduler
 * then starts within a second) and DROP EXTENSION wakes the scheduler,
 * which notices and exits; both only when the transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#include "pg_steward.h"
#include "hooks.h"
#include "launcher.h"
#include "shmem.h"

/* How long the launcher keeps away from a database being dropped. */
#define HOOKS_BLOCK_MS	60000

static ProcessUtility_hook_type hooks_prev_process_utility = NULL;

/* Database that the statement needs free of other sessions, if any. */
static Oid
hooks_exclusive_database(Node *parsetree)
{
	const char *dbname = NULL;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			dbname = ((DropdbStmt *) parsetree)->dbname;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				dbname = ((RenameStmt *) parsetree)->subname;
			break;
		case T_CreatedbStmt:
			{
				ListCell   *lc;

				foreach(lc, ((CreatedbStmt *) parsetree)->options)
				{
					DefElem    *def = lfirst_node(DefElem, lc);

					if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
						dbname = defGetString(def);
				}
			}
			break;
		default:
			break;
	}
	return dbname ? get_database_oid(dbname, true) : InvalidOid;
}

static bool
hooks_is_steward_extension_drop(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), STEWARD_EXTENSION_NAME) == 0)
			return true;
	return false;
}

static void
hooks_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			exclusive_db = hooks_exclusive_database(parsetree);

	if (OidIsValid(exclusive_db))
		steward_stop_database_workers(exclusive_db, HOOKS_BLOCK_MS);

	PG_TRY();
	{
		if (hooks_prev_process_utility)
			hooks_prev_process_utility(pstmt, queryString, readOnlyTree, context,
									   params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		if (OidIsValid(exclusive_db))
			steward_unblock_database(exclusive_db);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * A dropped database stays blocked: its removal commits only after we
	 * return, and the launcher must not race to reconnect before that.
	 */
	if (OidIsValid(exclusive_db) && !IsA(parsetree, DropdbStmt))
		steward_unblock_database(exclusive_db);

	if (IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, STEWARD_EXTENSION_NAME) == 0)
		steward_wake_launcher_at_commit(true);
	else if (hooks_is_steward_extension_drop(parsetree))
		steward_wake_scheduler_at_commit();
}

void
steward_hooks_init(void)
{
	hooks_prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = hooks_process_utility;
}
