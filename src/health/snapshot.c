/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  The health_snapshot job kind: history and alerts.
 *
 * Each run keeps steward.health_history a partition set by day with
 * retention steward.health_history_retention (created on the first run,
 * as the audit log is: partitions made by the extension script would
 * belong to the extension), then calls steward.health_snapshot(), which
 * stores the non-ok results and the gauges and opens and resolves alerts
 * (schema/90_health.sql).  The run is the job owner's: the built-in job's
 * owner is the role that created the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "core/guc.h"
#include "core/spi_util.h"
#include "scheduler/job_kind.h"
#include "health/health.h"
#include "health/health_int.h"

static void health_snapshot_kind(StewardJobContext *ctx);

static const StewardJobKind health_snapshot_job_kind = {
	.name = "health_snapshot",
	.main = health_snapshot_kind,
	.validate = NULL,
	.takes_command = false,
	.description = "runs every health check, keeps the results and gauges in steward.health_history and opens and resolves alerts"
};

void
steward_health_init(void)
{
	steward_register_job_kind(&health_snapshot_job_kind);
}

/*
 * Make steward.health_history a partition set by day, or bring its
 * retention in line with the setting; with the catalog's rights.
 */
static void
health_ensure_history_set(void)
{
	StewardCatalogAccess acc;
	Datum		args[2];

	args[0] = CStringGetTextDatum("steward.health_history");
	args[1] = CStringGetTextDatum(steward_health_history_retention);
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("SELECT s.retention IS DISTINCT FROM $2"
					 "  FROM steward.partition_set s WHERE s.parent = $1::pg_catalog.regclass",
					 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
	if (SPI_processed == 0)
	{
		Datum		aside;
		Oid			aside_type;
		bool		none;

		/*
		 * Rows stored before the set existed are in the default partition,
		 * where no partition for their days can be created: set them aside
		 * and put them back once it exists.
		 */
		steward_spi_exec("WITH d AS (DELETE FROM steward.health_history_default RETURNING *)"
						 " SELECT pg_catalog.array_agg(d::steward.health_history_default) FROM d",
						 SPI_OK_SELECT, 0, NULL, NULL, NULL);
		aside = steward_spi_getdatum(0, 1, &none);
		aside_type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
		steward_spi_exec("SELECT steward.partition_table($1::pg_catalog.regclass, 'snapshot_at',"
						 " '1 day', premake => 3, retention => $2)",
						 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
		if (!none)
			steward_spi_exec("INSERT INTO steward.health_history SELECT (r).* FROM pg_catalog.unnest($1) r",
							 SPI_OK_INSERT, 1, &aside_type, &aside, NULL);
	}
	else if (DatumGetBool(steward_spi_getdatum(0, 1, &(bool) {false})))
		steward_spi_exec("SELECT steward.partition_alter($1::pg_catalog.regclass, retention => $2)",
						 SPI_OK_SELECT, 2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
	SPI_finish();
	steward_catalog_exit(&acc);
}

typedef struct HealthSnapshotRun
{
	MemoryContext mcxt;
	char	   *retention_error;
	int64		stored;
	int64		alerts;
} HealthSnapshotRun;

static void
health_ensure_history_sub(void *arg)
{
	health_ensure_history_set();
}

static void
health_snapshot_tx(void *arg)
{
	HealthSnapshotRun *run = (HealthSnapshotRun *) arg;
	ErrorData  *edata = steward_in_subxact(health_ensure_history_sub, NULL);
	bool		isnull;

	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not keep steward.health_history a partition set: %s",
						edata->message)));
		run->retention_error = MemoryContextStrdup(run->mcxt, edata->message);
	}
	steward_spi_exec("SELECT s.stored, s.alerts FROM steward.health_snapshot() s",
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	run->stored = DatumGetInt64(steward_spi_getdatum(0, 1, &isnull));
	run->alerts = DatumGetInt64(steward_spi_getdatum(0, 2, &isnull));
}

static void
health_snapshot_kind(StewardJobContext *ctx)
{
	HealthSnapshotRun run = {0};
	ErrorData  *edata;

	run.mcxt = ctx->mcxt;
	edata = steward_in_xact(health_snapshot_tx, &run, ctx->mcxt);
	if (edata != NULL)
		ReThrowError(edata);
	ctx->message = psprintf("stored %lld health rows, %lld alert changes%s%s",
							(long long) run.stored, (long long) run.alerts,
							run.retention_error ? "; history not partitioned: " : "",
							run.retention_error ? run.retention_error : "");
}
