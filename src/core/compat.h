/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL version difference pg_steward deals with, in one
 *	  place: the sources use these names and never test PG_VERSION_NUM.
 *
 * Supported: PostgreSQL 14 to 17 (and 18's PortalRun).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEWARD_COMPAT_H
#define STEWARD_COMPAT_H

#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "catalog/pg_namespace.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/acl.h"
#include "utils/guc.h"

/* 16 replaced the per-catalog owner and ACL checks by object_*() */
#if PG_VERSION_NUM >= 160000
#define steward_class_ownercheck(relid, role) \
	object_ownercheck(RelationRelationId, (relid), (role))
#define steward_database_ownercheck(dboid, role) \
	object_ownercheck(DatabaseRelationId, (dboid), (role))
#define steward_namespace_aclcheck(nsp, role, mode) \
	object_aclcheck(NamespaceRelationId, (nsp), (role), (mode))
#else
#define steward_class_ownercheck(relid, role) pg_class_ownercheck((relid), (role))
#define steward_database_ownercheck(dboid, role) pg_database_ownercheck((dboid), (role))
#define steward_namespace_aclcheck(nsp, role, mode) \
	pg_namespace_aclcheck((nsp), (role), (mode))
#endif

/*
 * 15 exported have_createdb_privilege() (commands/dbcommands.h); on 14 it
 * is static in dbcommands.c, so the same test is made here.
 */
#if PG_VERSION_NUM >= 150000
#include "commands/dbcommands.h"
#define steward_have_createdb_privilege() have_createdb_privilege()
#else
#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "utils/syscache.h"
static inline bool
steward_have_createdb_privilege(void)
{
	HeapTuple	tup;
	bool		result = false;

	if (superuser())
		return true;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_authid) GETSTRUCT(tup))->rolcreatedb;
		ReleaseSysCache(tup);
	}
	return result;
}
#endif

/*
 * May the current user drop role 'roleid', by DROP ROLE's own rules?  From
 * 16 on, CREATEROLE alone no longer suffices: ADMIN OPTION on the role is
 * needed too.
 */
static inline bool
steward_may_drop_role(Oid roleid)
{
	if (superuser())
		return true;
	if (superuser_arg(roleid) || !has_createrole_privilege(GetUserId()))
		return false;
#if PG_VERSION_NUM >= 160000
	return is_admin_of_role(GetUserId(), roleid);
#else
	return true;
#endif
}

/* 15 added strtoi64() to c.h (14 has scanint8() and pg_strtouint64() only) */
#if PG_VERSION_NUM >= 150000
#define steward_strtoi64(str, endptr, base) strtoi64((str), (endptr), (base))
#elif SIZEOF_LONG == 8
#define steward_strtoi64(str, endptr, base) ((int64) strtol((str), (endptr), (base)))
#else
#define steward_strtoi64(str, endptr, base) ((int64) strtoll((str), (endptr), (base)))
#endif

/*
 * Before 15, the listeners of a background worker's NOTIFY (SQL or
 * pg_notify()) are signalled only when the worker calls
 * ProcessCompletedNotifies() after the commit, outside a transaction (the
 * main loop of a regular backend does); 15 signals them at commit and
 * removed the function.  Call after every commit that may carry one.
 */
#if PG_VERSION_NUM >= 150000
#define steward_notify_after_commit() ((void) 0)
#else
#include "commands/async.h"
#define steward_notify_after_commit() ProcessCompletedNotifies()
#endif

/*
 * 17: intervals can be +/-infinity.  A feature test, as before: 17 defines
 * INTERVAL_NOT_FINITE in datatype/timestamp.h.
 */
#ifdef INTERVAL_NOT_FINITE
#define steward_interval_not_finite(iv) INTERVAL_NOT_FINITE(iv)
#define steward_interval_is_nobegin(iv) INTERVAL_IS_NOBEGIN(iv)
#else
#define steward_interval_not_finite(iv) false
#define steward_interval_is_nobegin(iv) false
#endif

/*
 * A database left invalid by an interrupted DROP DATABASE (datconnlimit
 * -2): 16.0 and the minor releases 14.9 and 15.4, hence a feature test.
 */
#ifdef DATCONNLIMIT_INVALID_DB
#define steward_database_is_invalid(dbform) \
	((dbform)->datconnlimit == DATCONNLIMIT_INVALID_DB)
#else
#define steward_database_is_invalid(dbform) false
#endif

/* 15: shmem_request_hook, MarkGUCPrefixReserved, fixed-params analysis */
#if PG_VERSION_NUM >= 150000
#define STEWARD_HAS_SHMEM_REQUEST_HOOK 1
#define steward_mark_guc_prefix_reserved(prefix) MarkGUCPrefixReserved(prefix)
#define steward_analyze_and_rewrite(parsetree, sql) \
	pg_analyze_and_rewrite_fixedparams((parsetree), (sql), NULL, 0, NULL)
#else
#define STEWARD_HAS_SHMEM_REQUEST_HOOK 0
#define steward_mark_guc_prefix_reserved(prefix) EmitWarningsOnPlaceholders(prefix)
#define steward_analyze_and_rewrite(parsetree, sql) \
	pg_analyze_and_rewrite((parsetree), (sql), NULL, 0, NULL)
#endif

/* 15: the timeline WAL is written on is asked for, no longer a global */
#if PG_VERSION_NUM >= 150000
#define steward_wal_timeline() GetWALInsertionTimeLine()
#else
#define steward_wal_timeline() ThisTimeLineID
#endif

/* 17: background workers may connect as roles without LOGIN */
#if PG_VERSION_NUM >= 170000
#define STEWARD_BGW_CAN_BYPASS_LOGIN 1
#define STEWARD_BGW_CONNECT_FLAGS BGWORKER_BYPASS_ROLELOGINCHECK
#else
#define STEWARD_BGW_CAN_BYPASS_LOGIN 0
#define STEWARD_BGW_CONNECT_FLAGS 0
#endif

/* 18: NOT NULL constraints can be added NOT VALID and validated later */
#if PG_VERSION_NUM >= 180000
#define STEWARD_HAS_NOT_NULL_NOT_VALID 1
#else
#define STEWARD_HAS_NOT_NULL_NOT_VALID 0
#endif

/* 17 moved the checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer */
#if PG_VERSION_NUM >= 170000
#define STEWARD_CHECKPOINT_COUNTS_SQL \
	"SELECT num_timed, num_requested, stats_reset FROM pg_catalog.pg_stat_checkpointer"
#else
#define STEWARD_CHECKPOINT_COUNTS_SQL \
	"SELECT checkpoints_timed, checkpoints_req, stats_reset FROM pg_catalog.pg_stat_bgwriter"
#endif

/* 18 dropped PortalRun's run_once argument */
#if PG_VERSION_NUM >= 180000
#define steward_portal_run(portal, count, top, dest, altdest, qc) \
	PortalRun((portal), (count), (top), (dest), (altdest), (qc))
#else
#define steward_portal_run(portal, count, top, dest, altdest, qc) \
	PortalRun((portal), (count), (top), true, (dest), (altdest), (qc))
#endif

/* Index entries of a tuple just inserted (16 added onlySummarizing). */
#if PG_VERSION_NUM >= 160000
#define steward_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define steward_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * Archive modules: 15 introduced them; 16 gave the callbacks a state
 * argument and made _PG_archive_module_init return its callbacks.  On 14,
 * pg_steward has no archive module.
 */
#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#define STEWARD_HAS_ARCHIVE_MODULE 1
#define STEWARD_ARCHIVE_ARGS ArchiveModuleState *state,
#define STEWARD_ARCHIVE_NOARGS ArchiveModuleState *state
#define STEWARD_ARCHIVE_MODULE_INIT(callbacks) \
	PGDLLEXPORT const ArchiveModuleCallbacks *_PG_archive_module_init(void); \
	const ArchiveModuleCallbacks * \
	_PG_archive_module_init(void) \
	{ \
		return &(callbacks); \
	}
#elif PG_VERSION_NUM >= 150000
#include "postmaster/pgarch.h"
#define STEWARD_HAS_ARCHIVE_MODULE 1
#define STEWARD_ARCHIVE_ARGS
#define STEWARD_ARCHIVE_NOARGS void
#define STEWARD_ARCHIVE_MODULE_INIT(callbacks) \
	PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb); \
	void \
	_PG_archive_module_init(ArchiveModuleCallbacks *cb) \
	{ \
		*cb = (callbacks); \
	}
#else
#define STEWARD_HAS_ARCHIVE_MODULE 0
#endif

#endif							/* STEWARD_COMPAT_H */
