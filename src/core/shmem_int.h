/*-------------------------------------------------------------------------
 *
 * shmem_int.h
 *	  What the two files of the shared-memory module share (shmem.c and
 *	  shmem_runner.c); nothing else includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_SHMEM_INT_H
#define STEWARD_SHMEM_INT_H

#include "core/shmem.h"

extern StewardShared *steward_shared;

/* shmem.c: the running scheduler slot of a database, or NULL (lock held) */
extern StewardSchedulerSlot *shmem_scheduler_of(Oid dboid);

#endif							/* STEWARD_SHMEM_INT_H */
