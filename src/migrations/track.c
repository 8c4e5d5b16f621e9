/*-------------------------------------------------------------------------
 *
 * track.c
 *	  Drift: with steward.track_ddl on, DDL run outside steward.migrate()
 *	  is recorded in steward.migration_history as 'untracked'.
 *
 * The event trigger steward_track_ddl (schema/75_migrations.sql) fires at
 * ddl_command_end.  One row per statement: name is its command tag,
 * detail holds the statement's text and the objects it created or
 * altered.  Not recorded: what migrate() and the migration worker run,
 * extension scripts, temporary objects, pg_steward's own work on users'
 * tables (partitions, audit triggers: a security-restricted operation) and
 * restores: pg_restore and the scripts of pg_dump set check_function_bodies
 * off, which sessions of applications do not, and pg_restore names itself
 * in application_name.  Recording a restore's DDL would also collide with
 * the history rows the restore brings back (their history_id).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "core/guc.h"
#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migration_track_ddl);

Datum
steward_migration_track_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	const char *tag;
	const char *appname;
	Datum		values[4];

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.migration_track_ddl() must be called as an event trigger")));
	if (!steward_track_ddl || migration_running || creating_extension ||
		InSecurityRestrictedOperation())
		PG_RETURN_VOID();
	appname = GetConfigOption("application_name", true, false);
	if (!check_function_bodies ||
		(appname != NULL && strcmp(appname, "pg_restore") == 0))
		PG_RETURN_VOID();

	trigdata = (EventTriggerData *) fcinfo->context;
	tag = GetCommandTagName(trigdata->tag);

	values[0] = CStringGetTextDatum(tag);
	values[1] = CStringGetTextDatum(debug_query_string ? debug_query_string : "");
	values[2] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[3] = ObjectIdGetDatum(GetUserId());

	/*
	 * pg_event_trigger_ddl_commands() works in this trigger's call only; the
	 * catalog statement runs it in the same backend, within the call.  A
	 * DROP lists no command: it is recorded whole.
	 */
	steward_catalog_exec("WITH c AS ("
						 "  SELECT c.command_tag, c.object_type, c.object_identity"
						 "    FROM pg_catalog.pg_event_trigger_ddl_commands() c"
						 "   WHERE NOT c.in_extension"
						 "     AND COALESCE(c.schema_name, '') !~ '^pg_temp'"
						 ")"
						 " INSERT INTO steward.migration_history"
						 " (name, action, status, finished_at, duration, applied_by,"
						 "  applied_by_oid, detail)"
						 " SELECT $1, 'untracked', 'succeeded', pg_catalog.now(), interval '0', $3, $4,"
						 "        pg_catalog.jsonb_build_object('statement', $2, 'objects',"
						 "          (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
						 "             'command_tag', c.command_tag, 'object_type', c.object_type,"
						 "             'object_identity', c.object_identity)), '[]') FROM c))"
						 "  WHERE EXISTS (SELECT FROM c) OR $1 ~ '^DROP '",
						 SPI_OK_INSERT, 4, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, OIDOID},
						 values, NULL);
	PG_RETURN_VOID();
}
