/*-------------------------------------------------------------------------
 *
 * json.h
 *	  Building a JSON object in a StringInfo, every key and string escaped.
 *
 * The text has the layout of jsonb's output ({"a": 1, "b": "x"}), so it
 * reads the same before and after a round trip through jsonb:
 *
 *		StringInfoData buf;
 *
 *		initStringInfo(&buf);
 *		steward_json_begin(&buf);
 *		steward_json_add_str(&buf, "table", name);
 *		steward_json_add_int64(&buf, "rows", n);
 *		detail = steward_json_end(&buf);
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_JSON_H
#define STEWARD_JSON_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* Open an object: appends "{" (objects nest with steward_json_add_object). */
extern void steward_json_begin(StringInfo buf);

/* "key": "value", escaped; a NULL value is written as null. */
extern void steward_json_add_str(StringInfo buf, const char *key, const char *value);
extern void steward_json_add_int64(StringInfo buf, const char *key, int64 value);
extern void steward_json_add_bool(StringInfo buf, const char *key, bool value);
extern void steward_json_add_null(StringInfo buf, const char *key);

/* "key": json, where json is already valid JSON text (not checked). */
extern void steward_json_add_json(StringInfo buf, const char *key, const char *json);

/* "key": { ... : a nested object, closed by steward_json_end. */
extern void steward_json_add_object(StringInfo buf, const char *key);

/* Close the innermost open object; returns buf->data. */
extern char *steward_json_end(StringInfo buf);

#endif							/* STEWARD_JSON_H */
