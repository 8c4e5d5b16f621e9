/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher: one static worker that starts a scheduler per database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_LAUNCHER_H
#define STEWARD_LAUNCHER_H

#include "postgres.h"

#include "postmaster/bgworker.h"

extern void steward_launcher_register(void);
extern void steward_worker_init(BackgroundWorker *worker, const char *function,
								const char *type);

/*
 * Stop the scheduler and runners of a database and keep the launcher from
 * restarting them for a while (DROP DATABASE, CREATE DATABASE ... TEMPLATE).
 */
extern void steward_stop_database_workers(Oid dboid, int block_ms);
extern void steward_unblock_database(Oid dboid);

PGDLLEXPORT void steward_launcher_main(Datum main_arg);

#endif							/* STEWARD_LAUNCHER_H */
