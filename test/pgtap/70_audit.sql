-- Audit: catalog, indexes, privileges, pg_dump registration, the API's
-- refusals and a row's history read back (docs/audit.md).
BEGIN;
SELECT plan(35);

SELECT has_table('steward', 'audit_policy', 'table steward.audit_policy exists');
SELECT has_table('steward', 'audit_log', 'table steward.audit_log exists');
SELECT has_table('steward', 'audit_seal', 'table steward.audit_seal exists');
SELECT has_table('steward', 'audit_seal_digest', 'table steward.audit_seal_digest exists');
SELECT has_view('steward', 'audited_tables', 'view steward.audited_tables exists');
SELECT col_type_is('steward', 'audit_log', 'txid', 'xid8', 'log rows carry a top-level xid8');
SELECT col_type_is('steward', 'audit_log', 'row_key', 'jsonb', 'log row keys are jsonb');
SELECT is(pg_get_partkeydef('steward.audit_log'::regclass), 'RANGE (logged_at)',
		  'the log is partitioned by range of logged_at');

SELECT function_returns('steward', 'audit_enable',
	ARRAY['regclass', 'text[]', 'text[]', 'text[]', 'boolean', 'boolean'], 'void',
	'audit_enable() has the documented signature');
SELECT function_returns('steward', 'audit_history', ARRAY['regclass', 'jsonb'], 'setof steward.audit_log',
	'audit_history(regclass, jsonb) returns log rows');

-- The history index orders a key of one integer column by its value.
SELECT is(steward.audit_key_hash('{"id": 42}'), 42::bigint, 'audit_key_hash of {"id": 42} is 42');

-- The trigger must not pay for a B-tree entry per row: BRIN only, on the
-- log and on every partition of it.
SELECT is((SELECT count(*) FROM pg_partition_tree('steward.audit_log') t
			 JOIN pg_index i ON i.indrelid = t.relid
			 JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE ic.relam <> (SELECT oid FROM pg_am WHERE amname = 'brin')),
		  0::bigint, 'the log and its partitions have only BRIN indexes');
SELECT has_index('steward', 'audit_seal_digest', 'audit_seal_digest_key_idx',
				 ARRAY['relid', 'key_hash', 'event_id'],
				 'the history index is on the seal digests (relid, key_hash, event_id)');

SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'steward.audit_policy'::regclass),
		  'row-level security protects steward.audit_policy');

-- Nobody but the trigger writes the log; reading it takes a GRANT.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.audit_log', 'steward.audit_log_default',
											  'steward.audit_query', 'steward.audit_seal',
											  'steward.audit_seal_digest']) t,
								 unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
			WHERE has_table_privilege('public', t, p)),
		  0::bigint, 'PUBLIC has no privilege on the log, statement texts and seals');
SELECT ok(has_table_privilege('public', 'steward.audit_policy', 'SELECT') AND
		  NOT has_table_privilege('public', 'steward.audit_policy', 'INSERT') AND
		  NOT has_table_privilege('public', 'steward.audit_policy', 'UPDATE') AND
		  NOT has_table_privilege('public', 'steward.audit_policy', 'DELETE'),
		  'PUBLIC reads audit_policy (its own tables) but cannot write it');
SELECT ok(NOT has_function_privilege('public', 'steward.audit_seal_now()', 'EXECUTE') AND
		  NOT has_function_privilege('public', 'steward.audit_verify(timestamptz)', 'EXECUTE') AND
		  NOT has_function_privilege('public', 'steward.audit_seal_head()', 'EXECUTE'),
		  'PUBLIC cannot seal, verify or read the seal head');

-- pg_dump keeps policies, log, statement texts, seals and numbering.
SELECT is((SELECT count(*) FROM unnest(ARRAY['steward.audit_policy', 'steward.audit_log_default',
											  'steward.audit_event_id_seq', 'steward.audit_query',
											  'steward.audit_seal', 'steward.audit_seal_digest_default']::regclass[]) t
			WHERE NOT EXISTS (SELECT FROM pg_extension e
							   WHERE e.extname = 'pg_steward' AND t = ANY (e.extconfig))),
		  0::bigint, 'the audit tables and event id sequence are extension configuration tables');

SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
			WHERE p.pronamespace = 'steward'::regnamespace AND p.proname LIKE 'audit\_%'
			  AND l.lanname IN ('sql', 'plpgsql')
			  AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
		  0::bigint, 'audit functions in SQL set search_path');
SELECT is((SELECT count(*) FROM pg_proc p
			WHERE p.pronamespace = 'steward'::regnamespace
			  AND p.proname IN ('audit_enable', 'audit_disable', 'audit_row_as_of', 'audit_seal_now', 'audit_verify')
			  AND 'search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}'))),
		  5::bigint, 'the audit API in C sets search_path');

SELECT set_eq($$SELECT evtname::text, evtevent::text FROM pg_event_trigger
				WHERE evtfoid = 'steward.audit_ddl_trigger()'::regprocedure$$,
			  $$VALUES ('steward_audit_ddl', 'ddl_command_end'), ('steward_audit_drop', 'sql_drop')$$,
			  'DDL capture has event triggers at ddl_command_end and sql_drop');

-- A database that audits nothing starts no sealing runner.
SELECT ok((SELECT builtin AND NOT enabled FROM steward.job WHERE job_name = 'audit_seal'),
		  'the built-in audit_seal job is created disabled');

-- Refusals, with the documented SQLSTATEs.
CREATE TABLE steward_tap_acct (id bigint PRIMARY KEY, note text, pin text);
CREATE VIEW steward_tap_view AS SELECT 1 AS x;
CREATE TEMP TABLE steward_tap_tmp (id int);

SELECT throws_ok($$SELECT steward.audit_enable('steward_tap_view')$$, '42809', NULL,
				 'a view cannot be audited');
SELECT throws_ok($$SELECT steward.audit_enable('steward_tap_tmp')$$, '0A000', NULL,
				 'a temporary table cannot be audited');
SELECT throws_ok($$SELECT steward.audit_enable('steward_tap_acct', exclude_columns => '{nope}')$$,
				 '42703', NULL, 'an unknown column is refused');
SELECT throws_ok($$SELECT steward.audit_enable('steward_tap_acct', exclude_columns => '{id}')$$,
				 '22023', NULL, 'a key column cannot be excluded');
SELECT throws_ok($$SELECT steward.audit_enable('steward.job')$$, '22023', NULL,
				 'pg_steward''s own tables cannot be audited');
SELECT throws_ok($$SELECT steward.audit_enable(NULL)$$, '22004', NULL, 'a NULL table is refused');

CREATE ROLE steward_tap_audit;
SET LOCAL ROLE steward_tap_audit;
SELECT throws_ok($$SELECT steward.audit_enable('steward_tap_acct')$$, '42501', NULL,
				 'only the owner may audit a table');
-- The seal tables are read with the extension's rights: only for log readers.
SELECT throws_ok($$SELECT steward.audit_sealed_to()$$, '42501', NULL,
				 'roles that may not read the log get nothing of the seals');
RESET ROLE;

-- Auditing a table, then reading a row's history back.
SELECT lives_ok($$SELECT steward.audit_enable('steward_tap_acct', hash_columns => '{pin}')$$,
				'the owner can audit a table');
SELECT results_eq($$SELECT triggers, active FROM steward.audited_tables
					 WHERE tbl = 'steward_tap_acct'::regclass$$,
				  $$VALUES (4::bigint, true)$$,
				  'audited_tables shows one active trigger per operation');
SELECT ok((SELECT enabled FROM steward.job WHERE job_name = 'audit_seal'),
		  'the first audit_enable() enables the audit_seal job');

INSERT INTO steward_tap_acct VALUES (1, 'n', '1234');
UPDATE steward_tap_acct SET note = 'm' WHERE id = 1;
SELECT results_eq($$SELECT op, changed_columns FROM steward.audit_history('steward_tap_acct', '{"id": 1}')$$,
				  $$VALUES ('INSERT', NULL::text[]), ('UPDATE', '{note}'::text[])$$,
				  'audit_history returns the row''s versions, oldest first');
SELECT is((SELECT new_values->>'pin' FROM steward.audit_log
			WHERE relid = 'steward_tap_acct'::regclass AND op = 'INSERT'),
		  encode(sha256('1234'), 'hex'), 'hash_columns are stored as their SHA-256 hex digest');

SELECT * FROM finish();
ROLLBACK;
