/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  The per-database scheduler worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SCHEDULER_H
#define STEWARD_SCHEDULER_H

#include "postgres.h"

#include "datatype/timestamp.h"

PGDLLEXPORT void steward_scheduler_main(Datum main_arg);

#endif							/* STEWARD_SCHEDULER_H */
