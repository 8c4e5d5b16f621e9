-- WAL archiving (archive_library = 'pg_steward'): what the archive in
-- <steward.backup_directory>/wal holds and how archiving goes
-- (docs/backups.md, "WAL archiving and point-in-time recovery").

CREATE FUNCTION steward.wal_archive_summary(
	OUT directory text, OUT files bigint, OUT size_bytes bigint,
	OUT oldest_segment text, OUT newest_segment text,
	OUT segments_waiting bigint, OUT encryption bool,
	OUT system_identifier text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'steward_wal_archive_summary'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.wal_archive_summary() IS
'the WAL archive in the backup directory: files, size, oldest and newest segment, .ready files waiting; no row for roles that may not manage backups';

CREATE VIEW steward.wal_archive_status WITH (security_barrier) AS
SELECT pg_catalog.current_setting('archive_mode') AS archive_mode,
	   pg_catalog.current_setting('archive_library', true) AS archive_library,
	   s.directory,
	   a.archived_count,
	   a.last_archived_wal,
	   a.last_archived_time,
	   pg_catalog.clock_timestamp() - a.last_archived_time AS last_archived_age,
	   a.failed_count,
	   a.last_failed_wal,
	   a.last_failed_time,
	   COALESCE(a.last_failed_time > a.last_archived_time
				OR (a.last_failed_time IS NOT NULL AND a.last_archived_time IS NULL),
				false) AS failing,
	   s.segments_waiting,
	   s.files AS archived_files,
	   s.size_bytes AS archive_size_bytes,
	   s.oldest_segment,
	   s.newest_segment,
	   s.encryption,
	   s.system_identifier
  FROM pg_catalog.pg_stat_archiver a,
	   steward.wal_archive_summary() s
 WHERE steward.backup_allowed();

COMMENT ON VIEW steward.wal_archive_status IS
'WAL archiving into the backup directory: last archived segment and its age, failures (pg_stat_archiver), segments waiting, archive size, oldest segment kept; visible to superusers and members of steward_backup';

GRANT SELECT ON steward.wal_archive_status TO PUBLIC;
