/*-------------------------------------------------------------------------
 *
 * audit_int.h
 *	  What the audit files share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_AUDIT_INT_H
#define STEWARD_AUDIT_INT_H

#include "postgres.h"

#include "utils/relcache.h"

/* Names of the triggers audit_enable() installs, one per operation. */
#define AUDIT_TRIGGER_INSERT	"steward_audit_insert"
#define AUDIT_TRIGGER_UPDATE	"steward_audit_update"
#define AUDIT_TRIGGER_DELETE	"steward_audit_delete"
#define AUDIT_TRIGGER_TRUNCATE	"steward_audit_truncate"

/*
 * Trigger arguments carry the policy, so that a trigger (and a dumped and
 * restored one) needs no catalog lookup: one flag argument, then one
 * argument per column, prefixed.
 */
#define AUDIT_ARG_SKIP_UNCHANGED	's' /* in the flags argument */
#define AUDIT_ARG_CAPTURE_QUERY		'q'
#define AUDIT_ARG_EXCLUDE			'-' /* "-colname" */
#define AUDIT_ARG_HASH				'#' /* "#colname" */

/*
 * Event ids: one nextval() of steward.audit_event_id_seq per this many rows
 * (writer.c); a new era starts at a multiple of it (era.c).
 */
#define AUDIT_EVENT_BLOCK	1024

/* trigger.c: the key columns (primary key, else replica identity) */
extern int	audit_key_attnums(Relation rel, AttrNumber **attnums);

/* writer.c */
extern void audit_write(Oid relid, const char *schema, const char *table,
						const char *op, int n, Datum *keys, bool *keys_null,
						Datum *olds, bool *olds_null, Datum *news, bool *news_null,
						Datum *changed, Datum query_id, bool query_id_null);

/* api.c */
extern void audit_install_triggers(Oid relid);
extern void audit_record_relids(Oid relid);

/* era.c */
extern int64 audit_era_current(bool start);
extern void audit_era_check(void);
extern void audit_era_forget(void);

/* seal.c */
extern void audit_seal_init(void);
extern void audit_ensure_partition_set(bool create);

#endif							/* STEWARD_AUDIT_INT_H */
