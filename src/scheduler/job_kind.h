/*-------------------------------------------------------------------------
 *
 * job_kind.h
 *	  The job-kind contract: how a feature plugs periodic work into the
 *	  scheduler without changing it.
 *
 * A feature registers its kind once, from its init function (called by
 * _PG_init, so every process has the same registry): a name, the entry
 * point a runner calls, a validator for the kind's config and whether its
 * jobs take a command.  Jobs of the kind are then created by the feature's
 * own SQL API through steward_job_define() (jobs.h); steward.schedule()
 * creates only 'sql' jobs.
 *
 * The entry point is called outside any transaction, connected to the
 * job's database as the job's owner; it starts and commits its own
 * transactions (steward_in_xact) and reports failure by ereport(ERROR).
 * It may set ctx->message and ctx->detail (a JSON object text, built with
 * core/json.h) to describe a successful run.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_JOB_KIND_H
#define STEWARD_JOB_KIND_H

#include "postgres.h"

#include "fmgr.h"

typedef struct StewardJobContext
{
	int64		job_id;
	int64		run_id;
	const char *job_name;
	const char *command;
	const char *config;			/* jsonb as text */
	int			attempt;
	MemoryContext mcxt;			/* lives for the whole run */
	char	   *message;		/* out: summary of a successful run */
	char	   *detail;			/* out: JSON object text, or NULL */
} StewardJobContext;

typedef void (*StewardJobKindMain) (StewardJobContext *ctx);

/*
 * Check a job's config (jsonb as text) when a job is created or changed;
 * ereport(ERROR) with ERRCODE_INVALID_PARAMETER_VALUE if it is not valid.
 * NULL: the kind takes no config (it must be the empty object).
 */
typedef void (*StewardJobKindValidate) (const char *config);

typedef struct StewardJobKind
{
	const char *name;			/* lower case, at most NAMEDATALEN - 1 */
	StewardJobKindMain main;
	StewardJobKindValidate validate;
	bool		takes_command;	/* the job's command is what it runs */
	const char *description;	/* one line, for steward.job_kinds() */
} StewardJobKind;

/* Register a kind (from _PG_init); the struct must outlive the process. */
extern void steward_register_job_kind(const StewardJobKind *kind);
extern const StewardJobKind *steward_find_job_kind(const char *name);

/* Refuse an unknown kind; check a config against the kind's validator. */
extern const StewardJobKind *steward_require_job_kind(const char *name);
extern void steward_validate_job_config(const StewardJobKind *kind,
										const char *config);

PGDLLEXPORT Datum steward_job_kinds(PG_FUNCTION_ARGS);

#endif							/* STEWARD_JOB_KIND_H */
