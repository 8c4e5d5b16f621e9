/*-------------------------------------------------------------------------
 *
 * pg_steward.h
 *	  Declarations shared by all pg_steward modules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_STEWARD_H
#define PG_STEWARD_H

#include "postgres.h"

#define STEWARD_LIBRARY_NAME	"pg_steward"
#define STEWARD_EXTENSION_NAME	"pg_steward"
#define STEWARD_SCHEMA_NAME		"steward"

/* True when the library was loaded through shared_preload_libraries. */
extern bool steward_preloaded;

/* Error out unless the worker infrastructure is available. */
extern void steward_require_preload(const char *what);

#endif							/* PG_STEWARD_H */
