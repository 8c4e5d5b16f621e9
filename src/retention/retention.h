/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Row retention for tables that are not partitioned.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_RETENTION_H
#define STEWARD_RETENTION_H

#include "postgres.h"

#include "fmgr.h"

extern void steward_retention_init(void);

PGDLLEXPORT Datum steward_retention_add(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_retention_remove(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_retention_run(PG_FUNCTION_ARGS);

#endif							/* STEWARD_RETENTION_H */
