/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Audit: what the rest of the extension sees of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_AUDIT_H
#define STEWARD_AUDIT_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/parsenodes.h"

extern void steward_audit_init(void);

/*
 * After a utility statement: audit new partitions of audited tables; keep
 * the policy of a renamed column; forget the policies of dropped tables.
 */
extern void steward_audit_after_utility(Node *parsetree);

/*
 * Before a utility statement: true for one that has nothing to do (the
 * CREATE INDEX that pg_restore issues for an index a partition of the log
 * already got from the extension's partitioned table).
 */
extern bool steward_audit_skip_utility(Node *parsetree);

PGDLLEXPORT Datum steward_audit_trigger(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_ddl_trigger(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_enable(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_disable(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_row_as_of(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_seal_now(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_verify(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_seal_head(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_audit_key_hash(PG_FUNCTION_ARGS);

#endif							/* STEWARD_AUDIT_H */
