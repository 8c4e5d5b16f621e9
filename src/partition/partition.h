/*-------------------------------------------------------------------------
 *
 * partition.h
 *	  Partition sets: time- and id-range partitions created ahead of time
 *	  and retired by retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_PARTITION_H
#define STEWARD_PARTITION_H

#include "postgres.h"

#include "fmgr.h"

extern void steward_partition_init(void);

PGDLLEXPORT Datum steward_partition_table(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_partition_maintain(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_partition_alter(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_partition_forget(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_partition_info(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_partition_drain_default(PG_FUNCTION_ARGS);

#endif							/* STEWARD_PARTITION_H */
