/*-------------------------------------------------------------------------
 *
 * hooks.h
 *	  ProcessUtility hook: keep the workers out of the way of DDL that
 *	  needs a database to itself, and react to CREATE/DROP EXTENSION.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_HOOKS_H
#define STEWARD_HOOKS_H

extern void steward_hooks_init(void);

#endif							/* STEWARD_HOOKS_H */
