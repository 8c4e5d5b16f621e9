/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Settings of pg_steward, all under the "steward." prefix.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_GUC_H
#define STEWARD_GUC_H

#include "nodes/pg_list.h"


extern bool steward_enabled;
extern char *steward_database_list;
extern int	steward_max_workers;
extern int	steward_naptime;
extern char *steward_backup_directory;
extern char *steward_backup_role;	/* '': the bootstrap superuser */
extern int	steward_backup_jobs;
extern int	steward_backup_nice;
/* absolute paths; '' : no encryption / no old keys */
extern char *steward_backup_encryption_key_file;
extern char *steward_backup_encryption_old_key_files;
extern char *steward_debug_backup_pause_file;	/* tests only */
extern char *steward_timezone;
extern int	steward_job_history_retention;
extern int	steward_max_workers_per_role;
extern int	steward_max_jobs_per_role;
/* ms; partition DDL and row retention batches */
extern int	steward_partition_lock_timeout;
/* ms; the built-in jobs' time per table and transaction (0: none) */
extern int	steward_maintenance_statement_timeout;
/* audit */
extern char *steward_app_user;
extern char *steward_audit_retention;
extern bool steward_audit_ddl;
/* migrations */
extern int	steward_migration_lock_timeout;	/* ms */
extern bool steward_migration_out_of_order;
extern bool steward_track_ddl;
extern char *steward_health_history_retention;
extern int	steward_health_cache_min_blocks;
extern char *steward_metrics_listen;

/* steward.max_workers and max_workers_per_role with -1 (auto) resolved */
extern int	steward_effective_max_workers(void);
extern int	steward_effective_max_workers_per_role(void);

extern void steward_guc_init(void);
extern bool steward_database_allowed(const char *dbname);

/* A database the workers serve (steward_served_databases()). */
typedef struct StewardDatabase
{
	Oid			oid;
	char		name[NAMEDATALEN];
} StewardDatabase;

extern List *steward_served_databases(void);
extern bool steward_parse_listen(const char *value, char **host, int *port);

#endif							/* STEWARD_GUC_H */
