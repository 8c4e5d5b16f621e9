-- Partition sets and row retention: catalog, privileges, pg_dump
-- registration, and the API's refusals (docs/partitions.md).  Only id sets
-- are created here: their periods do not depend on the clock.
BEGIN;
SELECT plan(35);

SELECT has_table('steward', 'partition_set', 'table steward.partition_set exists');
SELECT has_table('steward', 'partition_state', 'table steward.partition_state exists');
SELECT has_table('steward', 'partition_sweep', 'table steward.partition_sweep exists');
SELECT has_table('steward', 'retention', 'table steward.retention exists');
SELECT has_view('steward', 'partition_status', 'view steward.partition_status exists');
SELECT has_view('steward', 'retentions', 'view steward.retentions exists');
SELECT col_type_is('steward', 'partition_set', 'parent', 'regclass', 'a set''s parent is a regclass');

SELECT function_returns('steward', 'partition_table',
	ARRAY['regclass', 'text', 'text', 'integer', 'text', 'text', 'text', 'boolean', 'text', 'text', 'text'],
	'integer', 'partition_table() has the documented signature');
SELECT function_returns('steward', 'partition_maintain', ARRAY['regclass'], 'setof record',
	'partition_maintain(regclass) returns a set of rows');
SELECT function_returns('steward', 'partition_alter',
	ARRAY['regclass', 'integer', 'text', 'text', 'text', 'text'], 'void',
	'partition_alter() has the documented signature');
SELECT function_returns('steward', 'partition_drain_default', ARRAY['regclass', 'integer'], 'bigint',
	'partition_drain_default(regclass, int) returns the rows moved');
SELECT function_returns('steward', 'retention_add', ARRAY['regclass', 'text', 'interval', 'integer'], 'void',
	'retention_add() has the documented signature');

-- The catalog names users' tables: each role sees only its own.
SELECT ok((SELECT bool_and(relrowsecurity) FROM pg_class
			WHERE oid IN ('steward.partition_set'::regclass, 'steward.partition_state'::regclass,
						  'steward.retention'::regclass)),
		  'row-level security protects partition_set, partition_state and retention');

-- Every change goes through the API.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.partition_set', 'steward.partition_state',
											  'steward.partition_sweep', 'steward.retention']) t,
								 unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
			WHERE has_table_privilege('public', t, p)
			   OR has_table_privilege('public', 'steward.partition_sweep', 'SELECT')),
		  0::bigint, 'PUBLIC cannot write the catalog, nor read partition_sweep (internal)');
SELECT ok(has_table_privilege('public', 'steward.partition_status', 'SELECT') AND
		  has_table_privilege('public', 'steward.retentions', 'SELECT'),
		  'PUBLIC can read partition_status and retentions (their own tables)');

-- pg_dump keeps the configuration, not the maintenance state.
SELECT ok('steward.partition_set'::regclass = ANY (extconfig) AND
		  'steward.retention'::regclass = ANY (extconfig),
		  'partition_set and retention are extension configuration tables')
  FROM pg_extension WHERE extname = 'pg_steward';
SELECT ok(NOT ('steward.partition_state'::regclass = ANY (extconfig)) AND
		  NOT ('steward.partition_sweep'::regclass = ANY (extconfig)),
		  'maintenance state is not dumped')
  FROM pg_extension WHERE extname = 'pg_steward';

SELECT is((SELECT count(*) FROM pg_proc p
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND (p.proname LIKE 'partition\_%' OR p.proname LIKE 'retention\_%')
			  AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
		  0::bigint, 'partition and retention functions set search_path');

SELECT set_eq($$SELECT job_name, kind FROM steward.job
				WHERE builtin AND job_name IN ('partition_maintenance', 'row_retention')$$,
			  $$VALUES ('partition_maintenance', 'partition_maintenance'), ('row_retention', 'row_retention')$$,
			  'the built-in maintenance and retention jobs exist');

-- Refusals, with the documented SQLSTATEs.
CREATE TABLE steward_tap_plain (id bigint, ts timestamptz, n int);
CREATE INDEX ON steward_tap_plain (ts);
CREATE TABLE steward_tap_hash (id bigint) PARTITION BY HASH (id);
CREATE TABLE steward_tap_ts (ts timestamptz NOT NULL, id int) PARTITION BY RANGE (ts);
CREATE TABLE steward_tap_ids (id bigint NOT NULL, v text) PARTITION BY RANGE (id);

SELECT throws_ok($$SELECT steward.partition_table('steward_tap_plain', 'ts', '1 day')$$,
				 '42809', NULL, 'a table that is not partitioned is refused');
SELECT throws_ok($$SELECT steward.partition_table('steward_tap_hash', 'id', '100')$$,
				 '42809', NULL, 'a hash-partitioned table is refused');
SELECT throws_ok($$SELECT steward.partition_table('steward_tap_ts', 'ts', '1 day', premake => 0)$$,
				 '22023', NULL, 'premake 0 is refused');
SELECT throws_ok($$SELECT steward.partition_table('steward_tap_ts', 'id', '1 day')$$,
				 '22023', NULL, 'a control column other than the partition key is refused');
SELECT throws_ok($$SELECT steward.partition_table('steward_tap_ts', 'ts', '1 day', timezone => 'Mars/Olympus')$$,
				 '22023', NULL, 'an unknown time zone is refused');

-- An id set: the period of id 0, two ahead, and the default partition.
SELECT is(steward.partition_table('steward_tap_ids', 'id', '100', premake => 2), 4,
		  'partition_table creates current + premake partitions and a default');
SELECT is((SELECT periods_ahead FROM steward.partition_status WHERE parent = 'steward_tap_ids'::regclass), 2,
		  'partition_status shows the premade periods');
SELECT is((SELECT created FROM steward.partition_maintain('steward_tap_ids')), 0,
		  'maintaining a complete set creates nothing');
SELECT throws_ok($$SELECT steward.partition_table('steward_tap_ids', 'id', '100')$$,
				 '42710', NULL, 'a table that already is a set is refused');

-- Another role sees nothing of the set and cannot maintain it.
CREATE ROLE steward_tap_parts;
SET LOCAL ROLE steward_tap_parts;
SELECT is((SELECT count(*) FROM steward.partition_status), 0::bigint,
		  'other roles do not see the set in partition_status');
SELECT throws_ok($$SELECT * FROM steward.partition_maintain('steward_tap_ids')$$,
				 '42501', NULL, 'other roles cannot maintain the set');
RESET ROLE;

SELECT throws_ok($$SELECT steward.retention_add('steward_tap_ids', 'id', '1 day')$$,
				 '42809', NULL, 'retention refuses partitioned tables');
SELECT throws_ok($$SELECT steward.retention_add('steward_tap_plain', 'nope', '1 day')$$,
				 '42703', NULL, 'retention refuses unknown columns');
SELECT throws_ok($$SELECT steward.retention_add('steward_tap_plain', 'n', '1 day')$$,
				 '42804', NULL, 'retention refuses columns that are not a time type');

SELECT lives_ok($$SELECT steward.retention_add('steward_tap_plain', 'ts', '1 day')$$,
			   'a timestamptz column of a plain table can get retention');
INSERT INTO steward_tap_plain VALUES (1, now() - interval '2 days', 1), (2, now(), 2);
SELECT is(steward.retention_run('steward_tap_plain'), 1::bigint,
		  'retention_run deletes the rows older than keep');

SELECT * FROM finish();
ROLLBACK;
