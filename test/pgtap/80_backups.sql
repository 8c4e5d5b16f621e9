-- Backups and WAL archiving: catalog, privileges, and who may call the API
-- (docs/backups.md).  No call here gets as far as the backup directory, so
-- no worker starts, whatever steward.backup_directory is.
BEGIN;
SELECT plan(27);

SELECT has_table('steward', 'backup', 'table steward.backup exists');
SELECT has_view('steward', 'backups', 'view steward.backups exists');
SELECT has_view('steward', 'wal_archive_status', 'view steward.wal_archive_status exists');
SELECT col_type_is('steward', 'backup', 'backup_id', 'bigint', 'backup ids are bigint');
SELECT col_type_is('steward', 'backup', 'start_lsn', 'pg_lsn', 'backups record their start LSN');
SELECT col_type_is('steward', 'backup', 'database', 'name', 'backups record their database');

SELECT function_returns('steward', 'backup_now', ARRAY['text', 'text', 'boolean'], 'bigint',
	'backup_now(kind, label, wait) returns the backup id');
SELECT function_returns('steward', 'backup_schedule', ARRAY['text', 'text', 'integer', 'interval', 'text'], 'bigint',
	'backup_schedule() returns the job id');
SELECT function_returns('steward', 'backup_verify', ARRAY['bigint', 'boolean'], 'setof record',
	'backup_verify(bigint, boolean) returns its checks');
SELECT function_returns('steward', 'restore_logical', ARRAY['bigint', 'text'], 'void',
	'restore_logical(bigint, text) has the documented signature');
SELECT function_returns('steward', 'wal_archive_summary', ARRAY[]::text[], 'setof record',
	'wal_archive_summary() returns the archive''s summary');

SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'steward.backup'::regclass),
		  'row-level security protects steward.backup');
SELECT is((SELECT count(*) FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
			WHERE has_table_privilege('public', 'steward.backup', p)),
		  0::bigint, 'PUBLIC has no privilege on steward.backup');
SELECT ok(has_table_privilege('public', 'steward.backups', 'SELECT') AND
		  has_table_privilege('public', 'steward.wal_archive_status', 'SELECT'),
		  'PUBLIC may query the views, which filter by backup_allowed()');

-- The catalog is rebuilt from the backup directory, not dumped.
SELECT ok(NOT ('steward.backup'::regclass = ANY (extconfig)),
		  'steward.backup is not an extension configuration table')
  FROM pg_extension WHERE extname = 'pg_steward';

SELECT is((SELECT count(*) FROM pg_proc p
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND (p.proname LIKE 'backup\_%' OR p.proname LIKE 'wal\_%' OR p.proname = 'restore_logical')
			  AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
		  0::bigint, 'backup and WAL functions set search_path');

SELECT ok(steward.backup_allowed(), 'superusers may manage backups');
SELECT is((SELECT count(*) FROM steward.wal_archive_status), 1::bigint,
		  'wal_archive_status has one row for superusers');

-- Refused before the backup directory is looked at.
SELECT throws_ok($$SELECT steward.backup_now('incremental')$$, '22023', NULL,
				 'an unknown backup kind is refused');
SELECT throws_ok($$SELECT steward.backup_now('logical', repeat('x', 64))$$, '22001', NULL,
				 'labels are at most 63 bytes');

-- Anyone else: nothing to see, nothing to call.
CREATE ROLE steward_tap_nobackup;
SET LOCAL ROLE steward_tap_nobackup;
SELECT ok(NOT steward.backup_allowed(), 'ordinary roles may not manage backups');
SELECT is((SELECT count(*) FROM steward.wal_archive_status), 0::bigint,
		  'wal_archive_status is empty for ordinary roles');
SELECT is((SELECT count(*) FROM steward.wal_archive_summary()), 0::bigint,
		  'wal_archive_summary() has no row for ordinary roles');
SELECT throws_ok($$SELECT steward.backup_now()$$, '42501', NULL, 'ordinary roles cannot take backups');
SELECT throws_ok($$SELECT * FROM steward.backup_prune()$$, '42501', NULL, 'ordinary roles cannot prune backups');
SELECT throws_ok($$SELECT steward.restore_logical(1, 'steward_tap_copy')$$, '42501', NULL,
				 'ordinary roles cannot restore backups');
SELECT throws_ok($$SELECT steward.backup_schedule('logical', '0 2 * * *')$$, '42501', NULL,
				 'ordinary roles cannot schedule backups');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
