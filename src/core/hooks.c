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
 * Jobs act for their owner role, so role commands keep them consistent in
 * the current database: DROP ROLE of a role that owns jobs here is refused,
 * REASSIGN OWNED moves its jobs (disabled, for review), DROP OWNED deletes them, and ALTER ROLE ...
 * RENAME updates the owner name they record.  Other databases are out of
 * this session's reach; there the scheduler disables jobs whose owner OID
 * no longer names the role that scheduled them (scheduler.c).
 *
 * After a COPY ... TO of a table in a session of a logical backup's
 * pg_dump, the backup module records the rows it sent (backup_note_copy()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "core/compat.h"
#include "core/pg_steward.h"
#include "audit/audit.h"
#include "backup/backup.h"
#include "core/hooks.h"
#include "scheduler/launcher.h"
#include "core/shmem.h"
#include "core/spi_util.h"

/* How long the launcher keeps away from a database being dropped. */
#define HOOKS_BLOCK_MS	60000

static ProcessUtility_hook_type hooks_prev_process_utility = NULL;

/* A renamed database is served again only once the new name is committed. */
static Oid	hooks_unblock_at_end = InvalidOid;

static void
hooks_xact_callback(XactEvent event, void *arg)
{
	if (!OidIsValid(hooks_unblock_at_end))
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		Oid			dboid = hooks_unblock_at_end;

		hooks_unblock_at_end = InvalidOid;
		steward_unblock_database(dboid);
	}
}

#define hooks_owns_database(dboid) steward_database_ownercheck((dboid), GetUserId())

/*
 * Sessions other than ours (and our workers, and autovacuum workers, which
 * the command terminates itself) connected to the database, and prepared
 * transactions in it: either makes DROP DATABASE (without FORCE), RENAME
 * and CREATE DATABASE ... TEMPLATE fail.
 */
static bool
hooks_database_in_use(Oid dboid, bool force)
{
	StewardResult *res;
	bool		isnull;
	Datum		values[4];

	values[0] = ObjectIdGetDatum(dboid);
	values[1] = BoolGetDatum(force);
	values[2] = ObjectIdGetDatum(GetUserId());
	values[3] = BoolGetDatum(superuser());

	/*
	 * With FORCE, only sessions the caller may not terminate count (the
	 * rules of pg_terminate_backend(), which DROP DATABASE ... WITH (FORCE)
	 * applies); prepared transactions always do.  A fixed search_path:
	 * operators resolve in pg_catalog.
	 */
	res = steward_catalog_exec("SELECT (SELECT count(*) FROM pg_catalog.pg_stat_activity a"
							   "         WHERE a.datid = $1 AND a.pid <> pg_catalog.pg_backend_pid()"
							   "           AND a.backend_type NOT IN ('pg_steward scheduler', 'pg_steward runner',"
							   "                                      'autovacuum worker')"
							   "           AND (NOT $2 OR NOT coalesce(CASE"
							   "                 WHEN (SELECT r.rolsuper FROM pg_catalog.pg_authid r"
							   "                        WHERE r.oid = a.usesysid) THEN $4"
							   "                 ELSE pg_catalog.pg_has_role($3, a.usesysid, 'USAGE')"
							   "                   OR pg_catalog.pg_has_role($3, 'pg_signal_backend', 'USAGE')"
							   "                 END, false)))"
							   "     + (SELECT count(*) FROM pg_catalog.pg_prepared_xacts x"
							   "          JOIN pg_catalog.pg_database d ON d.datname = x.database"
							   "         WHERE d.oid = $1)",
							   SPI_OK_SELECT, 4, (Oid[]) {OIDOID, BOOLOID, OIDOID, BOOLOID},
							   values, NULL);
	return DatumGetInt64(steward_result_datum(res, 0, 1, &isnull)) > 0;
}

/*
 * Database that the statement needs free of other sessions, if any, and
 * only if the statement will go ahead: checked as the statement itself
 * checks (ownership, CREATEDB, the current database, template flags, other
 * sessions), so that a statement that is bound to fail never stops that
 * database's jobs.
 */
static pg_noinline Oid
hooks_exclusive_database(Node *parsetree, bool isTopLevel)
{
	const char *dbname = NULL;
	bool		force = false;
	Oid			dboid;
	HeapTuple	tup;
	bool		istemplate;
	bool		ok;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			{
				ListCell   *lc;

				dbname = ((DropdbStmt *) parsetree)->dbname;
				foreach(lc, ((DropdbStmt *) parsetree)->options)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "force") == 0)
						force = true;
			}
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
	if (dbname == NULL || !steward_shmem_ready())
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId)
		return InvalidOid;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			ok = hooks_owns_database(dboid) && !istemplate;
			break;
		case T_RenameStmt:
			/* the new name must be free */
			ok = hooks_owns_database(dboid) && steward_have_createdb_privilege() &&
				!OidIsValid(get_database_oid(((RenameStmt *) parsetree)->newname, true));
			break;
		default:
			ok = steward_have_createdb_privilege() &&
				(istemplate || hooks_owns_database(dboid)) &&
				!OidIsValid(get_database_oid(((CreatedbStmt *) parsetree)->dbname, true));
			break;
	}
	/* DROP and CREATE DATABASE refuse to run inside a transaction block */
	if (!IsA(parsetree, RenameStmt) &&
		(!isTopLevel || IsTransactionBlock() || IsSubTransaction()))
		ok = false;
	if (!ok || hooks_database_in_use(dboid, force))
		return InvalidOid;
	return dboid;
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

/* ---------------------------------------------------------------------
 * Roles that own jobs
 * ---------------------------------------------------------------------
 */
static bool
hooks_steward_installed(void)
{
	return IsTransactionState() &&
		OidIsValid(get_extension_oid(STEWARD_EXTENSION_NAME, true));
}

/* OIDs of the existing roles of a RoleSpec list, as an oid[] datum. */
static Datum
hooks_role_array(List *roles, int *n)
{
	Datum	   *oids = palloc(sizeof(Datum) * Max(list_length(roles), 1));
	ListCell   *lc;

	*n = 0;
	foreach(lc, roles)
	{
		Oid			roleid = get_rolespec_oid(lfirst(lc), true);

		if (OidIsValid(roleid))
			oids[(*n)++] = ObjectIdGetDatum(roleid);
	}
	return PointerGetDatum(construct_array(oids, *n, OIDOID, sizeof(Oid), true,
										   TYPALIGN_INT));
}

/*
 * DROP ROLE: refuse to drop a role that owns jobs in this database, as
 * PostgreSQL refuses to drop a role that owns objects.  The role is locked
 * first, as DROP ROLE itself does, so that no schedule() of that role (which
 * takes a conflicting lock) commits in between.
 */
static void
hooks_check_drop_role(DropRoleStmt *stmt)
{
	ListCell   *lc;

	if (!hooks_steward_installed())
		return;
	foreach(lc, stmt->roles)
	{
		RoleSpec   *spec = lfirst(lc);
		Oid			roleid;
		StewardResult *res;
		int64		n;
		bool		isnull;

		if (spec->roletype != ROLESPEC_CSTRING)
			continue;
		roleid = get_role_oid(spec->rolename, true);
		/* DROP ROLE refuses on its own, without telling about jobs */
		if (!OidIsValid(roleid) || !steward_may_drop_role(roleid))
			continue;
		LockSharedObject(AuthIdRelationId, roleid, 0, AccessExclusiveLock);

		res = steward_catalog_exec("SELECT count(*) FROM steward.job WHERE owner::pg_catalog.oid = $1",
								   SPI_OK_SELECT, 1, (Oid[]) {OIDOID},
								   (Datum[]) {ObjectIdGetDatum(roleid)}, NULL);
		n = DatumGetInt64(steward_result_datum(res, 0, 1, &isnull));
		if (n > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("role \"%s\" cannot be dropped because it owns pg_steward jobs",
							spec->rolename),
					 errdetail("It owns %lld jobs in database \"%s\".", (long long) n,
							   get_database_name(MyDatabaseId)),
					 errhint("Unschedule them, or run REASSIGN OWNED BY or DROP OWNED BY in each database where the role owns jobs.")));
	}
}

/* REASSIGN OWNED BY ... TO ...: the jobs move too (after the statement). */
static void
hooks_reassign_jobs(ReassignOwnedStmt *stmt)
{
	Oid			newrole;
	int			n;
	Datum		values[3];
	StewardResult *res;

	if (!hooks_steward_installed())
		return;
	newrole = get_rolespec_oid(stmt->newrole, false);
	values[0] = hooks_role_array(stmt->roles, &n);
	if (n == 0)
		return;
	values[1] = ObjectIdGetDatum(newrole);
	values[2] = CStringGetTextDatum(GetUserNameFromId(newrole, false));

	res = steward_catalog_exec("SELECT job_name FROM steward.job"
							   " WHERE owner::pg_catalog.oid = ANY ($1) OR owner::pg_catalog.oid = $2"
							   " GROUP BY job_name HAVING count(*) > 1 ORDER BY job_name LIMIT 1",
							   SPI_OK_SELECT, 2, (Oid[]) {OIDARRAYOID, OIDOID}, values, NULL);
	if (res->processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("cannot reassign pg_steward job \"%s\" to role \"%s\"",
						steward_result_text(res, 0, 1), TextDatumGetCString(values[2])),
				 errdetail("Job names are unique per owner, and the role would own two jobs of that name."),
				 errhint("Unschedule one of them first.")));
	/*
	 * Jobs given to another role are disabled: their commands were written
	 * by the old owner (names they resolve, functions they call) and must
	 * not start running with the new owner's rights unreviewed.
	 */
	res = steward_catalog_exec("UPDATE steward.job SET owner = $2::pg_catalog.regrole,"
							   " owner_name = $3::pg_catalog.name, enabled = false"
							   " WHERE owner::pg_catalog.oid = ANY ($1) AND owner::pg_catalog.oid <> $2",
							   SPI_OK_UPDATE, 3, (Oid[]) {OIDARRAYOID, OIDOID, TEXTOID}, values, NULL);
	if (res->processed > 0)
	{
		ereport(NOTICE,
				(errmsg("%llu pg_steward jobs now belong to role \"%s\" and are disabled",
						(unsigned long long) res->processed, TextDatumGetCString(values[2])),
				 errhint("Review their commands, then enable them with steward.alter_job(name, enabled => true) as that role.")));
		steward_wake_scheduler_at_commit();
	}
}

/* DROP OWNED BY ...: the roles' jobs are deleted too (after the statement). */
static void
hooks_drop_jobs(DropOwnedStmt *stmt)
{
	int			n;
	Datum		roles;

	if (!hooks_steward_installed())
		return;
	roles = hooks_role_array(stmt->roles, &n);
	if (n == 0)
		return;
	/* job_state rows are the scheduler's to prune (see unschedule()) */
	steward_catalog_exec("DELETE FROM steward.job WHERE owner::pg_catalog.oid = ANY ($1)",
						 SPI_OK_DELETE, 1, (Oid[]) {OIDARRAYOID}, &roles, NULL);
	steward_wake_scheduler_at_commit();
}

/* ALTER ROLE ... RENAME: jobs keep recording their owner's name. */
static void
hooks_rename_owner(Oid roleid, const char *newname)
{
	if (!OidIsValid(roleid) || !hooks_steward_installed())
		return;
	steward_catalog_exec("UPDATE steward.job SET owner_name = $2::pg_catalog.name"
						 " WHERE owner::pg_catalog.oid = $1",
						 SPI_OK_UPDATE, 2, (Oid[]) {OIDOID, TEXTOID},
						 (Datum[]) {ObjectIdGetDatum(roleid), CStringGetTextDatum(newname)}, NULL);
}

static void
hooks_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			exclusive_db = hooks_exclusive_database(parsetree,
													   context == PROCESS_UTILITY_TOPLEVEL);
	Oid			renamed_role = InvalidOid;

	if (steward_audit_skip_utility(parsetree))
		return;
	if (IsA(parsetree, DropRoleStmt))
		hooks_check_drop_role((DropRoleStmt *) parsetree);
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_ROLE)
		renamed_role = get_role_oid(((RenameStmt *) parsetree)->subname, true);

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
	if (OidIsValid(exclusive_db) && IsA(parsetree, RenameStmt))
	{
		/*
		 * A scheduler started before the rename commits would carry the old
		 * name in its process title: unblock at the end of the transaction.
		 */
		hooks_unblock_at_end = exclusive_db;
	}
	else if (OidIsValid(exclusive_db) && !IsA(parsetree, DropdbStmt))
		steward_unblock_database(exclusive_db);
	else if (OidIsValid(exclusive_db))
		steward_runner_forget_database(exclusive_db);

	/* a logical backup's pg_dump reports the rows it dumped */
	if (IsA(parsetree, CopyStmt))
		backup_note_copy(parsetree, qc);

	if (IsA(parsetree, ReassignOwnedStmt))
		hooks_reassign_jobs((ReassignOwnedStmt *) parsetree);
	else if (IsA(parsetree, DropOwnedStmt))
		hooks_drop_jobs((DropOwnedStmt *) parsetree);
	else if (OidIsValid(renamed_role))
		hooks_rename_owner(renamed_role, ((RenameStmt *) parsetree)->newname);

	if (IsA(parsetree, CreateStmt) || IsA(parsetree, AlterTableStmt) ||
		IsA(parsetree, RenameStmt) || IsA(parsetree, DropStmt) ||
		IsA(parsetree, DropOwnedStmt))
		steward_audit_after_utility(parsetree);

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
	RegisterXactCallback(hooks_xact_callback, NULL);
}
