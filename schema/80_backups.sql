-- Backups: logical and physical backups made by the server's own client
-- programs, their catalog, verification and restore drills, retention.
-- Everything here is for superusers and members of the role
-- steward_backup, which the administrator creates (docs/backups.md).

CREATE TABLE steward.backup (
	backup_id	bigint PRIMARY KEY,
	kind		text NOT NULL CHECK (kind IN ('logical', 'physical')),
	database	name NOT NULL,
	label		text,
	status		text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'expired')),
	started_at	timestamptz NOT NULL,
	finished_at timestamptz,
	size_bytes	bigint,
	start_lsn	pg_lsn,
	stop_lsn	pg_lsn,
	timeline	int,
	server_version text,
	job_id		bigint,
	verified_at timestamptz,
	verify_status text CHECK (verify_status IN ('ok', 'failed')),
	verify_detail jsonb,
	drill_at	timestamptz,
	drill_duration interval,
	drill_status text CHECK (drill_status IN ('ok', 'failed')),
	message		text,
	metadata	jsonb
);

COMMENT ON TABLE steward.backup IS
'backups made from this database (its logical backups, and the physical backups it requested); rebuilt from the backup directory by steward.backup_rescan()';

CREATE FUNCTION steward.backup_allowed()
RETURNS bool
AS 'MODULE_PATHNAME', 'steward_backup_allowed'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_allowed() IS
'whether the current role may use backups: a superuser or a member of steward_backup';

ALTER TABLE steward.backup ENABLE ROW LEVEL SECURITY;
CREATE POLICY backup_allowed ON steward.backup FOR SELECT
	USING (steward.backup_allowed());
REVOKE ALL ON steward.backup FROM PUBLIC;

CREATE FUNCTION steward.backup_live_status(backup_id bigint, status text)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_backup_live_status'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_live_status(bigint, text) IS
'a catalog status as the backup directory shows it now: missing when a good backup''s folder is gone, failed when a running backup has no live process';

-- security_barrier: the filter runs before any function of the caller's query
CREATE VIEW steward.backups WITH (security_barrier) AS
SELECT b.backup_id, b.kind, b.database, b.label,
	   steward.backup_live_status(b.backup_id, b.status) AS status,
	   b.started_at, b.finished_at, b.finished_at - b.started_at AS duration,
	   b.size_bytes, b.start_lsn, b.stop_lsn, b.timeline,
	   b.verified_at, b.verify_status,
	   CASE WHEN b.status = 'running'
				 AND steward.backup_live_status(b.backup_id, b.status) = 'failed'
			THEN 'interrupted: no process is writing this backup any more'
			ELSE b.message END AS message,
	   b.drill_at, b.drill_duration, b.drill_status, b.job_id
  FROM steward.backup b
 WHERE steward.backup_allowed();

COMMENT ON VIEW steward.backups IS
'backups of this database with their live status (missing: gone from the backup directory); visible to superusers and members of steward_backup';

GRANT SELECT ON steward.backups TO PUBLIC;

CREATE FUNCTION steward.backup_now(kind text DEFAULT 'logical', label text DEFAULT NULL,
								   wait bool DEFAULT true)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_backup_now'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_now(text, text, bool) IS
'take a logical or physical backup in a background worker; returns its id (with wait, once it has finished, raising its error if it failed)';

CREATE FUNCTION steward.backup_schedule(kind text, schedule text, keep_last int DEFAULT 7,
										keep_within interval DEFAULT NULL,
										verify text DEFAULT 'manifest')
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_backup_schedule'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_schedule(text, text, int, interval, text) IS
'schedule backups of a kind as a job of kind backup (job name backup_<kind>), with retention and verification (none, manifest or drill); returns the job id';

CREATE FUNCTION steward.backup_verify(backup_id bigint, deep bool DEFAULT false)
RETURNS TABLE (check_name text, ok bool, detail text)
AS 'MODULE_PATHNAME', 'steward_backup_verify'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_verify(bigint, bool) IS
'check a backup against its checksums and manifest; deep runs a restore drill and records its duration';

CREATE FUNCTION steward.backup_prune()
RETURNS TABLE (backup_id bigint, kind text, started_at timestamptz, reason text)
AS 'MODULE_PATHNAME', 'steward_backup_prune'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_prune() IS
'apply the retention of the backup jobs (keep_last, keep_within per kind): delete older backups, never the newest good one of a kind';

CREATE FUNCTION steward.backup_rescan()
RETURNS TABLE (backup_id bigint, action text)
AS 'MODULE_PATHNAME', 'steward_backup_rescan'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.backup_rescan() IS
'rebuild the catalog of this database''s backups from the backup directory';

CREATE FUNCTION steward.restore_logical(backup_id bigint, new_database text)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_restore_logical'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.restore_logical(bigint, text) IS
'create a new database and restore a logical backup into it; never touches an existing database';
