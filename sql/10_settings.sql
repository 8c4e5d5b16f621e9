-- The settings view lists every steward.* setting.
SELECT name, unit, context FROM steward.settings ORDER BY name;

SELECT value FROM steward.settings WHERE name = 'steward.database_list';

-- Unknown settings under the reserved prefix are refused.
SET steward.no_such_setting = 1;

-- backup_directory must be absolute.
ALTER SYSTEM SET steward.backup_directory = 'relative/backups';

-- ... and outside the data directory (its path varies, so only the SQLSTATE).
SELECT current_setting('data_directory') AS datadir \gset
\set VERBOSITY sqlstate
ALTER SYSTEM SET steward.backup_directory = :'datadir';
SELECT :'datadir' || '/base/../backups' AS inside_via_dotdot \gset
ALTER SYSTEM SET steward.backup_directory = :'inside_via_dotdot';
\set VERBOSITY default
-- A sibling whose name merely starts with the data directory's is fine.
SELECT :'datadir' || '_backups' AS sibling \gset
ALTER SYSTEM SET steward.backup_directory = :'sibling';
ALTER SYSTEM SET steward.backup_directory = '/var/backups/steward';
ALTER SYSTEM RESET steward.backup_directory;

-- Other check hooks.
ALTER SYSTEM SET steward.timezone = 'Mars/Olympus_Mons';
ALTER SYSTEM SET steward.database_list = 'app,,other';
ALTER SYSTEM SET steward.database_list = 'app, "Other DB"';
ALTER SYSTEM RESET steward.database_list;
ALTER SYSTEM SET steward.naptime = 10;
ALTER SYSTEM SET steward.max_workers = 0;
ALTER SYSTEM SET steward.enabled = 'maybe';

-- These settings are reloaded with SIGHUP, not set per session.
SET steward.naptime = 1000;
