-- Migrations: catalog, privileges, pg_dump registration, version order,
-- the linter and one migration applied in this transaction
-- (docs/migrations.md).  No failing migrate(): its failure row is written
-- by another process and would outlive the rollback.
BEGIN;
SELECT plan(32);

SELECT has_table('steward', 'migration', 'table steward.migration exists');
SELECT has_table('steward', 'migration_history', 'table steward.migration_history exists');
SELECT has_view('steward', 'migration_status', 'view steward.migration_status exists');
SELECT has_composite('steward', 'lint_finding', 'type steward.lint_finding exists');
SELECT col_type_is('steward', 'migration', 'checksum', 'bytea', 'migration checksums are bytea');
SELECT col_type_is('steward', 'migration_history', 'detail', 'jsonb', 'history detail is jsonb');

SELECT function_returns('steward', 'migration_lint', ARRAY['text'], 'setof steward.lint_finding',
	'migration_lint(text) returns lint findings');
SELECT function_returns('steward', 'migration_add', ARRAY['text', 'text', 'text', 'text', 'text[]'],
	'setof steward.lint_finding', 'migration_add() has the documented signature');
SELECT function_returns('steward', 'migrate', ARRAY['text', 'boolean'], 'setof record',
	'migrate(text, boolean) returns a set of rows');
SELECT function_returns('steward', 'migration_version_key', ARRAY['text'], 'bytea',
	'migration_version_key(text) is a bytea sort key');

-- Migrations describe the schema: reading them takes a GRANT, and
-- nobody writes the tables directly.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.migration', 'steward.migration_history',
											  'steward.migration_status']) t,
								 unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
			WHERE has_table_privilege('public', t, p))
		  + (SELECT count(*) FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) p
			  WHERE has_sequence_privilege('public', 'steward.migration_history_history_id_seq', p)),
		  0::bigint, 'PUBLIC has no privilege on the migration catalog');
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.migration_add(text, text, text, text, text[])',
											  'steward.migration_replace(text, text, text, text, text[])',
											  'steward.migrations_load(text)', 'steward.migrate(text, boolean)',
											  'steward.rollback(text)', 'steward.baseline(text)']) f
			WHERE has_function_privilege('public', f, 'EXECUTE')),
		  0::bigint, 'PUBLIC cannot register, apply, roll back or baseline migrations');

-- pg_dump keeps the migrations and their history.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.migration', 'steward.migration_history',
											  'steward.migration_history_history_id_seq']::regclass[]) t
			WHERE NOT EXISTS (SELECT FROM pg_extension e
							   WHERE e.extname = 'pg_steward' AND t = ANY (e.extconfig))),
		  0::bigint, 'migration, migration_history and its sequence are extension configuration tables');

-- Migrations and the linter resolve names with the caller's search_path;
-- everything else pins it.
SELECT is((SELECT count(*) FROM pg_proc p
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND p.proname IN ('migrations_load', 'baseline', 'migration_track_ddl')
			  AND 'search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}'))),
		  3::bigint, 'migrations_load, baseline and migration_track_ddl set search_path');
SELECT is((SELECT count(*) FROM pg_proc p
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND p.proname IN ('migrate', 'rollback', 'migration_lint', 'migration_add', 'migration_replace')
			  AND p.proconfig IS NULL),
		  5::bigint, 'migrate, rollback and the linting functions keep the caller''s search_path');

SELECT ok(EXISTS (SELECT FROM pg_event_trigger
				   WHERE evtname = 'steward_track_ddl' AND evtevent = 'ddl_command_end'
					 AND evtfoid = 'steward.migration_track_ddl()'::regprocedure),
		  'DDL outside migrate() is tracked by an event trigger');

-- Natural order of versions.
SELECT ok(steward.migration_version_key('2') < steward.migration_version_key('10'), 'version 2 sorts before 10');
SELECT is(steward.migration_version_key('1'), steward.migration_version_key('01'),
		  'leading zeros are ignored');
SELECT ok(steward.migration_version_key('1') < steward.migration_version_key('1.1'),
		  'a version sorts before its extensions');
SELECT ok(steward.migration_version_key('a') < steward.migration_version_key('1'),
		  'other parts sort before numbers');

-- The linter.
SELECT results_eq($$SELECT rule, severity, statement FROM steward.migration_lint('CREATE TABLE steward_tap_t (c char(3))')$$,
				  $$VALUES ('ban-char-field', 'warning', 1)$$,
				  'a char(n) column is reported as ban-char-field, a warning');
SELECT is((SELECT count(*) FROM steward.migration_lint(NULL))
		  + (SELECT count(*) FROM steward.migration_lint('  -- only a comment')),
		  0::bigint, 'NULL and comment-only SQL give no findings');
SELECT throws_ok($$SELECT * FROM steward.migration_lint('CREATE TABL x (a int)')$$, '42601', NULL,
				 'the linter raises syntax errors with their SQLSTATE');

-- Registering.
SELECT throws_ok($$SELECT * FROM steward.migration_add('1', 'bad', 'SELECT 1; CREATE TABL t (a int);')$$,
				 '42601', NULL, 'a migration with a syntax error is refused');
SELECT throws_ok($$SELECT * FROM steward.migration_add('-x', 'bad', 'SELECT 1')$$, NULL, NULL,
				 'a version that does not start with a letter or digit is refused');
SELECT is_empty($$SELECT * FROM steward.migration_add('1', 'first', 'CREATE TABLE steward_tap_mig (id bigint)',
													  'DROP TABLE steward_tap_mig')$$,
				'a clean migration registers without findings');
SELECT throws_ok($$SELECT * FROM steward.migration_add('001', 'again', 'SELECT 1')$$, '42710', NULL,
				 'two spellings of one version are refused');
SELECT results_eq($$SELECT version, state FROM steward.migration_status$$,
				  $$VALUES ('1', 'pending')$$, 'a registered migration is pending');

-- Applying, in this transaction.
SELECT results_eq($$SELECT version, action FROM steward.migrate()$$,
				  $$VALUES ('1', 'applied')$$, 'migrate() applies the pending migration');
SELECT has_table('steward_tap_mig', 'the migration''s table exists');
SELECT results_eq($$SELECT version, state FROM steward.migration_status$$,
				  $$VALUES ('1', 'applied')$$, 'migration_status shows it applied');
SELECT throws_ok($$SELECT * FROM steward.migration_add('1', 'first', 'CREATE TABLE steward_tap_other (id bigint)')$$,
				 'P0001', NULL, 'an applied migration''s text cannot be changed');

SELECT * FROM finish();
ROLLBACK;
