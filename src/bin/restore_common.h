/*-------------------------------------------------------------------------
 *
 * restore_common.h
 *	  What pg_steward_wal_restore and pg_steward_restore share: keys given
 *	  on the command line, reading archived files, durable writes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_RESTORE_COMMON_H
#define STEWARD_RESTORE_COMMON_H

#include "archive/walfile.h"

/*
 * Exit statuses.  restore_command: 1 is "not found" (recovery goes on to
 * the next source or ends), anything above 125 makes the server stop
 * recovery with an error, which is what a damaged file, a wrong key or an
 * unreadable archive must do rather than end recovery early.
 */
#define RESTORE_EXIT_OK			0
#define RESTORE_EXIT_NOT_FOUND	1
#define RESTORE_EXIT_FATAL		255

typedef struct RestoreKeys
{
	WalKey	   *keys;
	int			nkeys;
	int			cap;
	char	  **paths;			/* as given, for restore_command */
} RestoreKeys;

extern void restore_fail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void restore_add_key(RestoreKeys *k, const char *path);
extern void restore_fsync_path(const char *path, bool isdir);

#endif							/* STEWARD_RESTORE_COMMON_H */
