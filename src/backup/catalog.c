/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  steward.backup: recording backups, their verification, rebuilding
 *	  the catalog from the directory, retention.
 *
 * The directory is the truth; the table is this database's index of it.
 * Every statement here is fixed and runs with the catalog owner's rights
 * (steward_catalog_exec); callers have checked the caller's privilege.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"

#include "archive/archive.h"
#include "backup/backup.h"
#include "backup/backup_int.h"
#include "core/compat.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/pg_steward.h"
#include "core/shmem.h"
#include "core/spi_util.h"

/*
 * Rows still 'running' whose backup no live process writes (a crash, an
 * immediate shutdown, or a worker that could not record its end) become
 * 'failed', so that the table says what the view shows.  Returns their
 * ids, or NIL.
 */
List *
backup_catalog_mark_interrupted(void)
{
	StewardResult *res;
	List	   *ids = NIL;
	uint64		i;

	res = steward_catalog_exec("SELECT backup_id FROM steward.backup"
							   " WHERE status = 'running' ORDER BY backup_id",
							   SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (i = 0; i < res->processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(steward_result_datum(res, i, 1, &isnull));
		int64	   *p;

		if (steward_backup_active(id))
			continue;
		(void) steward_catalog_exec("UPDATE steward.backup SET status = 'failed',"
									"  finished_at = COALESCE(finished_at, pg_catalog.clock_timestamp()),"
									"  message = 'interrupted: no process was writing this backup any more'"
									" WHERE backup_id = $1 AND status = 'running'",
									SPI_OK_UPDATE, 1, (Oid[]) {INT8OID},
									(Datum[]) {Int64GetDatum(id)}, NULL);
		p = palloc(sizeof(int64));
		*p = id;
		ids = lappend(ids, p);
	}
	return ids;
}

void
backup_catalog_insert(int64 backup_id, int kind, const char *label, int64 job_id)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(backup_id);
	values[1] = CStringGetTextDatum(backup_kind_name(kind));
	values[2] = label ? CStringGetTextDatum(label) : (Datum) 0;
	nulls[2] = label ? ' ' : 'n';
	values[3] = Int64GetDatum(job_id);
	nulls[3] = job_id ? ' ' : 'n';
	/* earlier runs of this database that were interrupted */
	list_free_deep(backup_catalog_mark_interrupted());
	(void) steward_catalog_exec("INSERT INTO steward.backup"
								" (backup_id, kind, database, label, status, started_at,"
								"  job_id, server_version)"
								" VALUES ($1, $2, pg_catalog.current_database(), $3, 'running',"
								"  pg_catalog.clock_timestamp(), $4,"
								"  pg_catalog.current_setting('server_version'))",
								SPI_OK_INSERT, 4,
								(Oid[]) {INT8OID, TEXTOID, TEXTOID, INT8OID}, values, nulls);
}

/*
 * Does this database's catalog have a row with this id?  A failed backup
 * keeps its row after its folder is removed, so a new backup started in
 * the same second must not claim its id again.
 */
bool
backup_catalog_has(int64 backup_id)
{
	StewardResult *res;

	res = steward_catalog_exec("SELECT FROM steward.backup WHERE backup_id = $1",
							   SPI_OK_SELECT, 1, (Oid[]) {INT8OID},
							   (Datum[]) {Int64GetDatum(backup_id)}, NULL);
	return res->processed > 0;
}

/* The final status; with the metadata of a complete backup, its facts. */
void
backup_catalog_finish(int64 backup_id, const char *meta_json, const char *status,
					  const char *message)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(backup_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[2] = message ? ' ' : 'n';
	values[3] = meta_json ? CStringGetTextDatum(meta_json) : (Datum) 0;
	nulls[3] = meta_json ? ' ' : 'n';
	(void) steward_catalog_exec("UPDATE steward.backup b SET status = $2, message = $3,"
								"  finished_at = pg_catalog.clock_timestamp(),"
								"  size_bytes = COALESCE((m ->> 'size_bytes')::bigint, b.size_bytes),"
								"  start_lsn = (m ->> 'start_lsn')::pg_catalog.pg_lsn,"
								"  stop_lsn = (m ->> 'stop_lsn')::pg_catalog.pg_lsn,"
								"  timeline = (m ->> 'timeline')::int,"
								"  metadata = m"
								"  FROM (SELECT $4::pg_catalog.jsonb AS m) s"
								" WHERE b.backup_id = $1",
								SPI_OK_UPDATE, 4,
								(Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID}, values, nulls);
}

/*
 * A verification's outcome, in the catalog and in the backup's own
 * metadata file ("verify" or "drill"), so that a rescan keeps it.
 */
void
backup_catalog_verified(int64 backup_id, bool deep, bool ok, const char *checks,
						int64 drill_ms)
{
	StewardResult *res;
	Datum		values[4];
	char	   *meta;

	values[0] = Int64GetDatum(backup_id);
	values[1] = CStringGetTextDatum(ok ? "ok" : "failed");
	values[2] = CStringGetTextDatum(checks);
	values[3] = Int64GetDatum(drill_ms);
	res = steward_catalog_exec(deep ?
							   "UPDATE steward.backup SET drill_at = pg_catalog.clock_timestamp(),"
							   "  drill_status = $2, verify_detail = $3::pg_catalog.jsonb,"
							   "  drill_duration = $4 * interval '1 millisecond',"
							   "  metadata = metadata || pg_catalog.jsonb_build_object('drill',"
							   "    pg_catalog.jsonb_build_object('at', pg_catalog.clock_timestamp(),"
							   "      'status', $2, 'duration_ms', $4, 'checks', $3::pg_catalog.jsonb))"
							   " WHERE backup_id = $1 RETURNING metadata::text" :
							   "UPDATE steward.backup SET verified_at = pg_catalog.clock_timestamp(),"
							   "  verify_status = $2, verify_detail = $3::pg_catalog.jsonb,"
							   "  metadata = metadata || pg_catalog.jsonb_build_object('verify',"
							   "    pg_catalog.jsonb_build_object('at', pg_catalog.clock_timestamp(),"
							   "      'status', $2, 'checks', $3::pg_catalog.jsonb))"
							   " WHERE backup_id = $1 AND $4 IS NOT NULL RETURNING metadata::text",
							   SPI_OK_UPDATE_RETURNING, 4,
							   (Oid[]) {INT8OID, TEXTOID, TEXTOID, INT8OID}, values, NULL);
	if (res->processed == 1 && backup_folder_exists(backup_id) &&
		(meta = steward_result_text(res, 0, 1)) != NULL)
		backup_write_file(psprintf("%s/%s", backup_folder_path(backup_id), BACKUP_META_FILE),
						  meta, strlen(meta));
}

/* The kind of a good backup of this database; error if there is none. */
char *
backup_catalog_kind(int64 backup_id, char **database)
{
	StewardResult *res;
	char	   *status;

	res = steward_catalog_exec("SELECT kind, database::text, status FROM steward.backup"
							   " WHERE backup_id = $1",
							   SPI_OK_SELECT, 1, (Oid[]) {INT8OID},
							   (Datum[]) {Int64GetDatum(backup_id)}, NULL);
	if (res->processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup " INT64_FORMAT " does not exist", backup_id),
				 errhint("steward.backups lists the backups of this database; steward.backup_rescan() reads the backup directory again.")));
	status = steward_result_text(res, 0, 3);
	if (strcmp(status, "succeeded") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup " INT64_FORMAT " is %s, not a good backup", backup_id, status)));
	if (!backup_folder_exists(backup_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("backup " INT64_FORMAT " is missing from the backup directory", backup_id),
				 errdetail("Its folder \"%s\" is gone.", backup_folder_path(backup_id))));
	if (database)
		*database = steward_result_text(res, 0, 2);
	return steward_result_text(res, 0, 1);
}

/*
 * Retention of one kind: keep the newest keep_last good backups and those
 * started within keep_within; never the newest good one.  Adds a JSON
 * array element text per deleted backup to 'out' (when not NULL) and
 * returns the rows to the caller through the result.
 */
static StewardResult *
catalog_prune_candidates(const char *kind, int keep_last, const char *keep_within)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(kind);
	values[1] = Int32GetDatum(keep_last);
	values[2] = keep_within ? CStringGetTextDatum(keep_within) : (Datum) 0;
	nulls[2] = keep_within ? ' ' : 'n';
	return steward_catalog_exec("SELECT g.backup_id, g.started_at, g.rn FROM ("
								"  SELECT b.backup_id, b.started_at,"
								"         pg_catalog.row_number() OVER (ORDER BY b.started_at DESC, b.backup_id DESC) AS rn"
								"    FROM steward.backup b"
								"   WHERE b.kind = $1 AND b.status = 'succeeded'"
								"     AND steward.backup_live_status(b.backup_id, b.status) = 'succeeded') g"
								" WHERE g.rn > GREATEST($2, 1)"
								"   AND ($3::pg_catalog.interval IS NULL"
								"        OR g.started_at < pg_catalog.now() - $3::pg_catalog.interval)"
								" ORDER BY g.backup_id",
								SPI_OK_SELECT, 3, (Oid[]) {TEXTOID, INT4OID, TEXTOID},
								values, nulls);
}

void
backup_prune_kind(const char *kind, int keep_last, const char *keep_within,
				  StringInfo out_json)
{
	StewardResult *res = catalog_prune_candidates(kind, keep_last, keep_within);
	uint64		i;

	for (i = 0; i < res->processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(steward_result_datum(res, i, 1, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (steward_backup_active(id))
			continue;			/* being verified or restored */
		backup_remove_tree(backup_folder_path(id));
		(void) steward_catalog_exec("UPDATE steward.backup SET status = 'expired',"
									"  message = 'removed by retention'"
									" WHERE backup_id = $1",
									SPI_OK_UPDATE, 1, (Oid[]) {INT8OID},
									(Datum[]) {Int64GetDatum(id)}, NULL);
		if (out_json)
		{
			if (out_json->len > 0)
				appendStringInfoString(out_json, ", ");
			appendStringInfo(out_json, INT64_FORMAT, id);
		}
	}
}

/* steward.backup_prune(): every kind that a backup job of this database keeps. */
Datum
steward_backup_prune(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StewardResult *policies;
	uint64		p;

	backup_require_privilege();
	steward_init_srf(fcinfo);
	(void) backup_directory_checked(0);
	policies = steward_catalog_exec("SELECT config ->> 'kind',"
									"  pg_catalog.max((config ->> 'keep_last')::int),"
									"  pg_catalog.max((config ->> 'keep_within')::pg_catalog.interval)::text"
									"  FROM steward.job WHERE kind = 'backup'"
									" GROUP BY 1 ORDER BY 1",
									SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (p = 0; p < policies->processed; p++)
	{
		char	   *kind = steward_result_text(policies, p, 1);
		bool		isnull;
		int			keep_last = DatumGetInt32(steward_result_datum(policies, p, 2, &isnull));
		char	   *keep_within = steward_result_text(policies, p, 3);
		StewardResult *res = catalog_prune_candidates(kind, keep_last, keep_within);
		uint64		i;

		for (i = 0; i < res->processed; i++)
		{
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = steward_result_datum(res, i, 1, &isnull);
			if (steward_backup_active(DatumGetInt64(values[0])))
				continue;
			values[1] = CStringGetTextDatum(kind);
			values[2] = steward_result_datum(res, i, 2, &isnull);
			values[3] = CStringGetTextDatum(psprintf("beyond keep_last = %d%s%s", keep_last,
													 keep_within ? " and older than keep_within = " : "",
													 keep_within ? keep_within : ""));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		backup_prune_kind(kind, keep_last, keep_within, NULL);
	}
	/* issue 14: archived WAL no retained physical backup needs */
	{
		char	   *summary;
		Datum		values[4];
		bool		nulls[4] = {true, false, true, false};

		if (steward_wal_prune(&summary) > 0)
		{
			values[1] = CStringGetTextDatum("wal");
			values[3] = CStringGetTextDatum(summary);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

static void
rescan_put(ReturnSetInfo *rsinfo, int64 id, const char *action)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(action);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Stale staging databases (backup_stale_databases()) are dropped by a
 * backup worker; those gone afterwards are reported as "dropped".
 */
static void
rescan_drop_stale(ReturnSetInfo *rsinfo)
{
	List	   *ids = NIL;
	List	   *names = backup_stale_databases(CurrentMemoryContext, &ids);
	ListCell   *lc;
	ListCell   *lc2;

	if (names == NIL)
		return;
	if (!steward_preloaded)
	{
		ereport(WARNING,
				(errmsg("stale staging databases were not dropped"),
				 errdetail("Dropping them needs a backup worker, and pg_steward is not loaded through shared_preload_libraries.")));
		return;
	}
	backup_drop_stale_in_worker();
	/* see the worker's commits */
	AcceptInvalidationMessages();
	InvalidateCatalogSnapshot();
	forboth(lc, names, lc2, ids)
	{
		if (!OidIsValid(get_database_oid(lfirst(lc), true)))
			rescan_put(rsinfo, *(int64 *) lfirst(lc2), "dropped");
	}
}

/*
 * steward.backup_rescan(): read every backup's metadata in the directory;
 * add or refresh this database's backups in the catalog; report those the
 * catalog has but the directory does not, and runs that were interrupted;
 * drop the staging databases that interrupted restores and drills left
 * (of any database's backups: databases belong to the cluster).
 */
Datum
steward_backup_rescan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir;
	DIR		   *d;
	struct dirent *de;
	StewardResult *res;
	uint64		i;
	ListCell   *lc;

	backup_require_privilege();
	steward_init_srf(fcinfo);
	dir = backup_directory_checked(0);
	backup_remove_leftovers(dir, true);
	rescan_drop_stale(rsinfo);

	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		const char *name = de->d_name;
		char	   *meta;
		char	   *end;
		int64		id;

		if (name[0] < '0' || name[0] > '9')
			continue;
		id = steward_strtoi64(name, &end, 10);
		if (*end != '\0')
			continue;
		meta = backup_read_file(psprintf("%s/%s/%s", dir, name, BACKUP_META_FILE), true);
		if (meta == NULL)
			continue;
		res = steward_catalog_exec("INSERT INTO steward.backup AS b"
								   " (backup_id, kind, database, label, status, started_at,"
								   "  finished_at, size_bytes, start_lsn, stop_lsn, timeline,"
								   "  server_version, job_id, verified_at, verify_status,"
								   "  drill_at, drill_status, drill_duration, metadata)"
								   " SELECT $1, m ->> 'kind', m ->> 'database', m ->> 'label', 'succeeded',"
								   "  (m ->> 'started_at')::timestamptz, (m ->> 'finished_at')::timestamptz,"
								   "  (m ->> 'size_bytes')::bigint, (m ->> 'start_lsn')::pg_catalog.pg_lsn,"
								   "  (m ->> 'stop_lsn')::pg_catalog.pg_lsn, (m ->> 'timeline')::int,"
								   "  m ->> 'server_version', (m ->> 'job_id')::bigint,"
								   "  (m #>> '{verify,at}')::timestamptz, m #>> '{verify,status}',"
								   "  (m #>> '{drill,at}')::timestamptz, m #>> '{drill,status}',"
								   "  (m #>> '{drill,duration_ms}')::bigint * interval '1 millisecond', m"
								   "  FROM (SELECT $2::pg_catalog.jsonb AS m) s"
								   " WHERE m ->> 'database' = pg_catalog.current_database()"
								   "   AND (m ->> 'backup_id')::bigint = $1"
								   " ON CONFLICT (backup_id) DO UPDATE"
								   "   SET status = 'succeeded', size_bytes = excluded.size_bytes,"
								   "       finished_at = excluded.finished_at, start_lsn = excluded.start_lsn,"
								   "       stop_lsn = excluded.stop_lsn, timeline = excluded.timeline,"
								   "       verified_at = excluded.verified_at, verify_status = excluded.verify_status,"
								   "       drill_at = excluded.drill_at, drill_status = excluded.drill_status,"
								   "       drill_duration = excluded.drill_duration,"
								   "       metadata = excluded.metadata, message = NULL"
								   "  WHERE b.status <> 'succeeded' OR b.metadata IS DISTINCT FROM excluded.metadata"
								   " RETURNING (xmax = 0)",
								   SPI_OK_INSERT_RETURNING, 2, (Oid[]) {INT8OID, TEXTOID},
								   (Datum[]) {Int64GetDatum(id), CStringGetTextDatum(meta)},
								   NULL);
		if (res->processed == 1)
		{
			bool		isnull;

			rescan_put(rsinfo, id,
					   DatumGetBool(steward_result_datum(res, 0, 1, &isnull)) ? "added" : "updated");
		}
	}
	FreeDir(d);

	/* what the catalog has and the directory does not */
	foreach(lc, backup_catalog_mark_interrupted())
		rescan_put(rsinfo, *(int64 *) lfirst(lc), "interrupted");
	res = steward_catalog_exec("SELECT backup_id FROM steward.backup"
							   " WHERE status = 'succeeded' ORDER BY backup_id",
							   SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (i = 0; i < res->processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(steward_result_datum(res, i, 1, &isnull));

		if (!backup_folder_exists(id))
			rescan_put(rsinfo, id, "missing");
	}
	return (Datum) 0;
}
