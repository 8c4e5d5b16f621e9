/*-------------------------------------------------------------------------
 *
 * health_int.h
 *	  What the health files share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_HEALTH_INT_H
#define STEWARD_HEALTH_INT_H

#include "postgres.h"

/* driver.c: is 'name' one of the checks? */
extern bool health_is_check(const char *name);


#endif							/* STEWARD_HEALTH_INT_H */
