/*-------------------------------------------------------------------------
 *
 * health.h
 *	  What the rest of the extension sees of the health checks: init and
 *	  the SQL entry points.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_HEALTH_H
#define STEWARD_HEALTH_H

#include "postgres.h"

#include "fmgr.h"

extern void steward_health_init(void);

PGDLLEXPORT Datum steward_health(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_health_check(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_health_rel_widths(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_health_checkpoint_counts(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_health_qname(PG_FUNCTION_ARGS);

#endif							/* STEWARD_HEALTH_H */
