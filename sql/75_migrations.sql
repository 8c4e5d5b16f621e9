-- Migrations: natural order, checksums, migrate/rollback/baseline, dry run,
-- out of order, requires, failure recording, permissions, drift.
\set VERBOSITY default
SET client_min_messages = warning;
CREATE SCHEMA mig;
SET search_path = mig, public;

-- Natural version order: numbers compare as numbers, zero padding ignored.
SELECT v FROM unnest(ARRAY['10', '2', '1', '1.10', '1.2', '2026.01.05', '2026.1.4',
						   '001.5', 'a', '1.2.1']) v
 ORDER BY steward.migration_version_key(v);
SELECT steward.migration_version_key('007') = steward.migration_version_key('7') AS padded_equal;

-- A syntax error names the version, the SQL, the statement, line and column.
SELECT * FROM steward.migration_add('1', 'bad', E'SELECT 1;\n-- a ; in a comment\nCREATE TABL t (a int);');
SELECT * FROM steward.migration_add('1', 'bad', 'SELECT 1;', E'DROP TABLE x;\nDROP TABLEX y;');
SELECT count(*) AS not_added FROM steward.migration;
-- Bad versions.
SELECT * FROM steward.migration_add('1 2', 'x', 'SELECT 1');
SELECT * FROM steward.migration_add('', 'x', 'SELECT 1');
SELECT * FROM steward.migration_add('5', 'x', '-- nothing');

-- Register out of order; CRLF and trailing blanks do not change the checksum.
SELECT * FROM steward.migration_add('10', 'index', 'CREATE INDEX account_name_idx ON account (name);',
	'DROP INDEX account_name_idx;');
SELECT * FROM steward.migration_add('2', 'column', 'ALTER TABLE account ADD name text;',
	'ALTER TABLE account DROP name;');
SELECT * FROM steward.migration_add('1', 'table', E'CREATE TABLE account (id int PRIMARY KEY);  \r\n\r\n',
	'DROP TABLE account;');
SELECT steward.migration_add('01', 'same version', 'SELECT 1');
SELECT version, transactional, checksum = sha256(convert_to('CREATE TABLE account (id int PRIMARY KEY);', 'UTF8')) AS normalized
  FROM steward.migration ORDER BY steward.migration_version_key(version);
SELECT version, name, state FROM steward.migration_status;

-- Dry run: the plan, nothing changes.
SELECT version, name, action FROM steward.migrate(dry_run => true);
SELECT to_regclass('mig.account') AS account, count(*) AS history
  FROM steward.migration_history WHERE action <> 'untracked';

-- Up to a target, then the rest.
SELECT version, name, action FROM steward.migrate('2');
SELECT version, name, action FROM steward.migrate();
SELECT version, name, action FROM steward.migrate();
SELECT version, state, applied_at IS NOT NULL AS has_time FROM steward.migration_status;
\d account

-- Re-adding an applied version: the same text is fine, another is refused.
SELECT count(*) FROM steward.migration_add('1', 'table', 'CREATE TABLE account (id int PRIMARY KEY);',
	'DROP TABLE account;');
SELECT * FROM steward.migration_add('1', 'table', 'CREATE TABLE account (id bigint PRIMARY KEY);');

-- Out of order: 3 is below the applied 10.
SELECT * FROM steward.migration_add('3', 'late', 'ALTER TABLE account ADD late int;', 'ALTER TABLE account DROP late;');
SELECT version, action FROM steward.migrate();
SET steward.migration_out_of_order = on;
SELECT version, action FROM steward.migrate(dry_run => true);
RESET steward.migration_out_of_order;
DELETE FROM steward.migration WHERE version = '3';

-- requires: 11 waits for 12, registered later with a higher version.
SELECT * FROM steward.migration_add('11', 'uses t12', 'INSERT INTO t12 VALUES (1);', 'DELETE FROM t12;', '{12}');
SELECT * FROM steward.migration_add('12', 't12', 'CREATE TABLE t12 (a int);', 'DROP TABLE t12;');
SELECT version, action FROM steward.migrate();
SELECT * FROM t12;
SELECT * FROM steward.migration_add('13', 'needs ghost', 'SELECT 1;', NULL, '{99}');
SELECT version, action FROM steward.migrate();
DELETE FROM steward.migration WHERE version = '13';

-- A failure in the middle of a batch: nothing of the batch stays, and the
-- history (written by a separate process) tells what failed.
SELECT * FROM steward.migration_add('20', 'ok', 'CREATE TABLE t20 (a int);', 'DROP TABLE t20;');
SELECT * FROM steward.migration_add('21', 'boom', E'ALTER TABLE t20 ADD b int;\nSELECT 1 / 0;');
SELECT * FROM steward.migration_add('22', 'never', 'CREATE TABLE t22 (a int);', 'DROP TABLE t22;');
SELECT version, action FROM steward.migrate();
SELECT to_regclass('mig.t20') AS t20, to_regclass('mig.t22') AS t22;
SELECT version, action, status, error, detail->>'sqlstate' AS sqlstate,
	   detail->>'statement' AS statement, finished_at >= started_at AS timed
  FROM steward.migration_history WHERE status = 'failed';
SELECT version, state FROM steward.migration_status WHERE version IN ('20', '21', '22');
-- Fixed with migration_add (21 was never applied): it goes through.
SELECT count(*) FROM steward.migration_add('21', 'fixed', 'ALTER TABLE t20 ADD b int;', 'ALTER TABLE t20 DROP b;');
SELECT version, action FROM steward.migrate();

-- Changed after it was applied: status says so, migrate() refuses, replace accepts.
UPDATE steward.migration SET up_sql = up_sql || ' -- edited', checksum = '\x00' WHERE version = '20';
SELECT version, state FROM steward.migration_status WHERE version = '20';
SELECT version, action FROM steward.migrate();
SELECT count(*) FROM steward.migration_replace('20', 'ok', 'CREATE TABLE t20 (a int); -- edited', 'DROP TABLE t20;');
SELECT version, state FROM steward.migration_status WHERE version = '20';
SELECT action, status FROM steward.migration_history WHERE version = '20' ORDER BY history_id;

-- Rollback: refuses when one above target has no down_sql; then undoes the
-- latest applied first.
SELECT * FROM steward.migration_add('30', 'no down', 'CREATE TABLE t30 (a int);');
SELECT version, action FROM steward.migrate();
SELECT version, action FROM steward.rollback('12');
DELETE FROM steward.migration WHERE version = '30';
SELECT version, state FROM steward.migration_status WHERE version = '30';
SELECT version, action FROM steward.rollback('12');
DELETE FROM steward.migration_history WHERE version = '30';
SELECT version, action FROM steward.rollback('12');
SELECT version, state FROM steward.migration_status;
SELECT to_regclass('mig.t20') AS t20, to_regclass('mig.t12') AS t12;
SELECT version, action FROM steward.rollback('nope');

-- Non-transactional migrations are recognised (the worker runs them: TAP test).
SELECT count(*) FROM steward.migration_add('40', 'concurrently',
	'CREATE INDEX CONCURRENTLY t12_a ON t12 (a);', 'DROP INDEX CONCURRENTLY t12_a;');
SELECT version, transactional FROM steward.migration WHERE version = '40';
SELECT version, action, notes FROM steward.migrate(dry_run => true);
DELETE FROM steward.migration WHERE version = '40';

-- Baseline: refused once something is applied; on a fresh catalog it marks versions.
SELECT steward.baseline('12');
SELECT version, action FROM steward.rollback('0');
SELECT steward.baseline('12');
SELECT version, state FROM steward.migration_status;
SELECT version, action FROM steward.migrate(dry_run => true);

-- Permissions: an ordinary role can neither add nor apply, nor read the catalog.
CREATE ROLE mig_nobody;
SET ROLE mig_nobody;
SELECT * FROM steward.migration_add('50', 'x', 'SELECT 1');
SELECT * FROM steward.migrate();
SELECT * FROM steward.rollback('0');
SELECT steward.baseline('1');
SELECT steward.migrations_load('/tmp');
SELECT count(*) FROM steward.migration_history;
RESET ROLE;
-- Granted EXECUTE but not pg_read_server_files: no server directories.
GRANT EXECUTE ON FUNCTION steward.migrations_load(text) TO mig_nobody;
SET ROLE mig_nobody;
SELECT steward.migrations_load('/tmp');
RESET ROLE;

-- Drift: DDL outside migrate() is recorded as untracked; not with track_ddl off.
TRUNCATE steward.migration_history;
CREATE TABLE drift (a int);
ALTER TABLE drift ADD b int;
CREATE TEMP TABLE scratch (a int);
DROP TABLE drift;
SELECT name, action, status, detail->'objects' AS objects
  FROM steward.migration_history ORDER BY history_id;
SET steward.track_ddl = off;
CREATE TABLE drift2 (a int);
RESET steward.track_ddl;
SELECT count(*) FROM steward.migration_history WHERE name = 'CREATE TABLE';

-- Clean up.
SET client_min_messages = warning;
DROP SCHEMA mig CASCADE;
REVOKE ALL ON FUNCTION steward.migrations_load(text) FROM mig_nobody;
DROP ROLE mig_nobody;
TRUNCATE steward.migration, steward.migration_history;
