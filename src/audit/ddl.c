/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  DDL capture: with steward.audit_ddl on, an event trigger records each
 *	  DDL command in steward.audit_log as op = 'DDL'.
 *
 * The event trigger (schema/70_audit.sql) fires at ddl_command_end for
 * commands that create or alter objects and at sql_drop for dropped ones.
 * Each command becomes one row: relid is the object's OID when it is a
 * relation (else 0), schema_name and table_name its schema and name, and
 * new_values holds the command tag, object type, object identity and the
 * statement's text.  Off by default: then the trigger returns at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/spi_util.h"

PG_FUNCTION_INFO_V1(steward_audit_ddl_trigger);

/* One command's row: {"command_tag", "object_type", "object_identity", "statement"}. */
static Datum
audit_ddl_values(const char *tag, const char *type, const char *identity)
{
	StringInfoData buf;

	initStringInfo(&buf);
	steward_json_begin(&buf);
	steward_json_add_str(&buf, "command_tag", tag);
	steward_json_add_str(&buf, "object_type", type);
	steward_json_add_str(&buf, "object_identity", identity);
	steward_json_add_str(&buf, "statement", debug_query_string);
	steward_json_end(&buf);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

Datum
steward_audit_ddl_trigger(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	bool		drop;
	uint64		i;
	uint64		n;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_ddl_trigger() must be called as an event trigger")));
	if (!steward_audit_ddl)
		PG_RETURN_VOID();
	trigdata = (EventTriggerData *) fcinfo->context;
	drop = strcmp(trigdata->event, "sql_drop") == 0;

	/* run with the DDL's search_path: every operator and function qualified */
	SPI_connect();
	if (drop)
		steward_spi_exec("SELECT d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass,"
						 "       d.objid, d.schema_name, COALESCE(d.object_name, d.object_identity),"
						 "       'DROP', d.object_type, d.object_identity"
						 "  FROM pg_catalog.pg_event_trigger_dropped_objects() d"
						 " WHERE d.original",
						 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	else
		steward_spi_exec("SELECT c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass,"
						 "       c.objid, c.schema_name, c.object_identity,"
						 "       c.command_tag, c.object_type, c.object_identity"
						 "  FROM pg_catalog.pg_event_trigger_ddl_commands() c"
						 " WHERE NOT c.in_extension",
						 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	n = SPI_processed;
	if (n > 0)
	{
		SPITupleTable *tuptable = SPI_tuptable;
		Datum	   *keys = palloc(sizeof(Datum) * n);
		bool	   *keys_null = palloc(sizeof(bool) * n);
		Datum	   *news = palloc(sizeof(Datum) * n);
		bool	   *news_null = palloc(sizeof(bool) * n);

		/* one write per command: each names its own object */
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			bool		is_rel;
			Oid			objid;
			char	   *schema;
			char	   *name;

			SPI_tuptable = tuptable;
			is_rel = DatumGetBool(steward_spi_getdatum(i, 1, &isnull)) && !isnull;
			objid = DatumGetObjectId(steward_spi_getdatum(i, 2, &isnull));
			schema = steward_spi_gettext(i, 3);
			name = steward_spi_gettext(i, 4);
			keys_null[0] = true;
			keys[0] = (Datum) 0;
			news[0] = audit_ddl_values(steward_spi_gettext(i, 5),
									   steward_spi_gettext(i, 6),
									   steward_spi_gettext(i, 7));
			news_null[0] = false;
			audit_write(is_rel ? objid : InvalidOid, schema ? schema : "",
						name ? name : "", "DDL", 1, keys, keys_null, keys, keys_null,
						news, news_null, NULL, (Datum) 0, true);
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
