/*-------------------------------------------------------------------------
 *
 * archive.h
 *	  WAL archiving into the backup directory: what the rest of the
 *	  extension sees (the archive module lives in archive.c, the catalog
 *	  side, retention and the continuity check in wal.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_ARCHIVE_H
#define STEWARD_ARCHIVE_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "archive/walfile.h"

/* archive.c */
extern char *steward_wal_directory(void);
extern int	steward_wal_keys(WalKey **keys, bool *current);

/* wal.c: called by backup_prune / scheduled retention and backup_verify */
extern int	steward_wal_prune(char **summary);
extern void steward_wal_check_continuity(const char *meta_json, StringInfo checks,
										 bool *ok);

/* the drill (backup_verify deep): recovery.signal and restore_command */
extern char *steward_wal_drill_setup(const char *datadir);

PGDLLEXPORT Datum steward_wal_archive_summary(PG_FUNCTION_ARGS);

#endif							/* STEWARD_ARCHIVE_H */
