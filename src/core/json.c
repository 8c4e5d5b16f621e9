/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Building JSON objects (run details, outcomes) with escaped keys and
 *	  values: the one place that writes JSON text.
 *
 * No state besides the buffer: a member needs a separator unless it is
 * the first of its object, i.e. unless the text so far ends with "{".
 * (A complete value never ends with "{".)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"

#include "core/json.h"

void
steward_json_begin(StringInfo buf)
{
	appendStringInfoChar(buf, '{');
}

/* The separator, if any, and "key": */
static void
steward_json_key(StringInfo buf, const char *key)
{
	Assert(buf->len > 0);
	if (buf->data[buf->len - 1] != '{')
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
}

void
steward_json_add_str(StringInfo buf, const char *key, const char *value)
{
	steward_json_key(buf, key);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

void
steward_json_add_int64(StringInfo buf, const char *key, int64 value)
{
	steward_json_key(buf, key);
	appendStringInfo(buf, INT64_FORMAT, value);
}

void
steward_json_add_bool(StringInfo buf, const char *key, bool value)
{
	steward_json_key(buf, key);
	appendStringInfoString(buf, value ? "true" : "false");
}

void
steward_json_add_null(StringInfo buf, const char *key)
{
	steward_json_key(buf, key);
	appendStringInfoString(buf, "null");
}

void
steward_json_add_json(StringInfo buf, const char *key, const char *json)
{
	steward_json_key(buf, key);
	appendStringInfoString(buf, json);
}

void
steward_json_add_object(StringInfo buf, const char *key)
{
	steward_json_key(buf, key);
	steward_json_begin(buf);
}

char *
steward_json_end(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return buf->data;
}
