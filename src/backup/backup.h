/*-------------------------------------------------------------------------
 *
 * backup.h
 *	  What the rest of the extension sees of backups: init, the start-up
 *	  cleanup and the SQL entry points.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_BACKUP_H
#define STEWARD_BACKUP_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/nodes.h"
#include "tcop/cmdtag.h"

extern void steward_backup_init(void);

/* The launcher, once at start: remove unfinished folders of a crash. */
extern void steward_backup_startup_cleanup(void);

/* The ProcessUtility hook, after each statement: row counts of a dump. */
extern void backup_note_copy(Node *parsetree, QueryCompletion *qc);

PGDLLEXPORT void steward_backup_worker_main(Datum main_arg);

PGDLLEXPORT Datum steward_backup_allowed(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_live_status(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_now(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_schedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_verify(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_prune(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_backup_rescan(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum steward_restore_logical(PG_FUNCTION_ARGS);

#endif							/* STEWARD_BACKUP_H */
