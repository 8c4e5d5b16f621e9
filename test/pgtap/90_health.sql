-- Health: catalog, thresholds and their dump marking, privileges, and the
-- pure helpers (docs/health.md).  No check's outcome is asserted: it
-- depends on the server's state.
BEGIN;
SELECT plan(31);

SELECT has_table('steward', 'health_threshold', 'table steward.health_threshold exists');
SELECT has_table('steward', 'health_history', 'table steward.health_history exists');
SELECT has_table('steward', 'alert', 'table steward.alert exists');
SELECT has_composite('steward', 'health_result', 'type steward.health_result exists');
SELECT has_view('steward', 'health_summary', 'view steward.health_summary exists');
SELECT has_view('steward', 'lock_tree', 'view steward.lock_tree exists');
SELECT col_is_pk('steward', 'health_threshold', ARRAY['check_name', 'metric'],
				 'one threshold row per check and metric');
SELECT is(pg_get_partkeydef('steward.health_history'::regclass), 'RANGE (snapshot_at)',
		  'the history is partitioned by range of snapshot_at');

SELECT function_returns('steward', 'health', ARRAY['text'], 'setof steward.health_result',
	'health(text) returns health results');
SELECT function_returns('steward', 'health_check', ARRAY['text'], 'setof steward.health_result',
	'health_check(text) returns health results');
SELECT function_returns('steward', 'metrics', ARRAY[]::text[], 'text', 'metrics() returns text');

-- The documented 25 checks each have their thresholds.
SELECT is((SELECT count(DISTINCT check_name) FROM steward.health_threshold), 25::bigint,
		  'health_threshold covers the 25 checks');
SELECT results_eq($$SELECT warning, critical FROM steward.health_threshold
					 WHERE check_name = 'connections' AND metric = 'used_pct'$$,
				  $$VALUES (80::numeric, 95::numeric)$$, 'connections defaults to 80 / 95 %');

-- pg_dump keeps only the thresholds users changed, plus history and alerts.
SELECT is((SELECT extcondition[array_position(extconfig, 'steward.health_threshold'::regclass::oid)]
			 FROM pg_extension WHERE extname = 'pg_steward'),
		  'WHERE changed', 'health_threshold is dumped WHERE changed');
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.alert', 'steward.health_history_default']::regclass[]) t
			WHERE NOT EXISTS (SELECT FROM pg_extension e
							   WHERE e.extname = 'pg_steward' AND t = ANY (e.extconfig))),
		  0::bigint, 'alert and health_history_default are extension configuration tables');

-- Checks and views are for pg_monitor, not PUBLIC; the snapshot is the
-- job owner's.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.health(text)', 'steward.health_check(text)',
											  'steward.metrics()', 'steward.health_snapshot()',
											  'steward.health_gauges()', 'steward.health_connections()']) f
			WHERE has_function_privilege('public', f, 'EXECUTE')),
		  0::bigint, 'PUBLIC cannot run the checks, metrics() or health_snapshot()');
SELECT ok(has_function_privilege('pg_monitor', 'steward.health(text)', 'EXECUTE') AND
		  has_function_privilege('pg_monitor', 'steward.metrics()', 'EXECUTE'),
		  'pg_monitor may run health() and metrics()');
SELECT ok(NOT has_function_privilege('pg_monitor', 'steward.health_snapshot()', 'EXECUTE'),
		  'pg_monitor cannot write snapshots');
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.alert', 'steward.health_history', 'steward.health_summary',
											  'steward.lock_tree']) t
			WHERE has_table_privilege('public', t, 'SELECT')),
		  0::bigint, 'PUBLIC cannot read alerts, history, the summary or the lock tree');
SELECT ok(has_table_privilege('pg_monitor', 'steward.alert', 'SELECT') AND
		  has_table_privilege('pg_monitor', 'steward.health_history', 'SELECT'),
		  'pg_monitor reads alerts and history');
SELECT ok(has_table_privilege('public', 'steward.health_threshold', 'SELECT') AND
		  NOT has_table_privilege('public', 'steward.health_threshold', 'UPDATE') AND
		  NOT has_table_privilege('public', 'steward.health_threshold', 'INSERT'),
		  'PUBLIC reads the thresholds but cannot change them');

-- Every SQL and PL/pgSQL function pins its search_path, except the
-- immutable helpers that are meant to be inlined into the checks.
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND (p.proname LIKE 'health%' OR p.proname LIKE 'metrics%')
			  AND l.lanname IN ('sql', 'plpgsql')
			  AND p.proname NOT IN ('health_grade', 'health_status_rank', 'health_worse', 'health_duration',
									'health_min_pages', 'health_lesser', 'health_reloption', 'metrics_label')
			  AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
		  0::bigint, 'health functions in SQL set search_path');

SELECT ok((SELECT builtin FROM steward.job WHERE job_name = 'health_snapshot'),
		  'the built-in health_snapshot job exists');

-- Grading: at or beyond a level; below it for lower_is_worse.
SELECT is(steward.health_grade(100, 80, 95), 'critical', 'a value at or beyond critical is critical');
SELECT is(steward.health_grade(96, 99, 95, true), 'warning', 'lower_is_worse: below warning is a warning');
SELECT is(steward.health_grade(NULL, 80, 95), 'unknown', 'no value is unknown');

SELECT throws_ok($$SELECT * FROM steward.health('bogus')$$, '22023', NULL,
				 'an unknown min_status is refused');
SELECT throws_ok($$SELECT * FROM steward.health_check('no_such_check')$$, '22023', NULL,
				 'an unknown check is refused');
SELECT ok((SELECT count(*) FROM steward.health_check('invalid_indexes')) >= 1,
		  'a check always returns at least one row');

-- A restore inserts dumped rows: they must update the defaults, marked.
UPDATE steward.health_threshold SET warning = 120 WHERE check_name = 'long_running_queries';
INSERT INTO steward.health_threshold (check_name, metric, warning, critical, unit, source)
VALUES ('connections', 'used_pct', 70, 90, 'percent', 'restored');
SELECT results_eq($$SELECT check_name, warning, source FROM steward.health_threshold
					 WHERE changed ORDER BY check_name$$,
				  $$VALUES ('connections', 70::numeric, 'check_postgres backends'),
						   ('long_running_queries', 120::numeric, 'check_postgres query_time')$$,
				  'changed thresholds are marked, and an inserted row updates the default one');
SELECT is((SELECT count(*) FROM steward.health_threshold
			WHERE check_name = 'connections' AND metric = 'used_pct'), 1::bigint,
		  'an inserted duplicate adds no row');

SELECT * FROM finish();
ROLLBACK;
