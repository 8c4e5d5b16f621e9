-- pg_steward tour, run by `make quickstart` in database "demo".
\pset pager off
CREATE EXTENSION pg_steward;

-- Which version is loaded?
SELECT steward.version();

-- Every steward.* setting, its value and what it does.
SELECT name, value, unit, context FROM steward.settings ORDER BY name;

-- ---------------------------------------------------------------------
-- Scheduler: cron and interval jobs run by the background worker.
-- ---------------------------------------------------------------------
CREATE TABLE demo_heartbeat (at timestamptz DEFAULT now());

-- When would a schedule fire?  (DST-aware, same code the worker uses.)
SELECT steward.next_runs('30 2 * * *', '2026-03-28 12:00+00', 3, 'Europe/Berlin');

-- A job every 2 seconds, and a nightly one in a time zone.
SELECT steward.schedule('heartbeat', '2 seconds', 'INSERT INTO demo_heartbeat DEFAULT VALUES');
SELECT steward.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM ANALYZE demo_heartbeat',
                        timezone => 'Europe/Berlin', max_runtime => '1 hour');

-- Run one now and wait for the result.
SELECT steward.run_job('nightly-vacuum') AS run_id \gset
SELECT run_id, status, message, finished_at - started_at AS took
  FROM steward.job_run WHERE run_id = :run_id;

SELECT pg_sleep(5);
SELECT name, schedule, timezone, next_run_at, last_status, last_message
  FROM steward.jobs ORDER BY name;
SELECT count(*) AS heartbeats FROM demo_heartbeat;

-- Stop the heartbeat.
SELECT steward.alter_job('heartbeat', enabled => false);

-- ---------------------------------------------------------------------
-- Partitions: daily partitions premade ahead, pruned by retention.
-- ---------------------------------------------------------------------
CREATE TABLE demo_events (
	id		bigint GENERATED ALWAYS AS IDENTITY,
	ts		timestamptz NOT NULL,
	payload text
) PARTITION BY RANGE (ts);
CREATE INDEX ON demo_events (ts);

-- 3 days back, today, 7 days ahead, plus a default partition; keep 2 days.
SELECT steward.partition_table('demo_events', 'ts', '1 day', premake => 7,
                               start_at => (now() - interval '3 days')::text,
                               retention => '2 days', timezone => 'Europe/Berlin');
SELECT parent, step, premade_until, periods_ahead, partitions, last_status
  FROM steward.partition_status;

-- A row far in the future lands in the default partition; maintenance
-- retires old partitions, and draining moves the stray row out.
INSERT INTO demo_events (ts, payload) VALUES (now() + interval '30 days', 'early bird');
SELECT * FROM steward.partition_maintain();
SELECT steward.partition_drain_default('demo_events') AS rows_moved;
SELECT tableoid::regclass AS partition, payload FROM demo_events;

-- The worker runs the same maintenance every 10 minutes.
SELECT name, schedule, next_run_at FROM steward.jobs WHERE name = 'partition_maintenance';

-- Plain tables get retention too: rows older than 'keep' are deleted in batches.
CREATE TABLE demo_notifications (id bigserial PRIMARY KEY, sent_at timestamptz NOT NULL);
CREATE INDEX ON demo_notifications (sent_at);
INSERT INTO demo_notifications (sent_at)
SELECT now() - g * interval '1 hour' FROM generate_series(1, 100) g;
SELECT steward.retention_add('demo_notifications', 'sent_at', '2 days', batch_rows => 20);
SELECT steward.run_job('row_retention') AS run_id \gset
SELECT status, message, detail FROM steward.job_run WHERE run_id = :run_id;
SELECT count(*) AS notifications_kept FROM demo_notifications;

-- ---------------------------------------------------------------------
-- Security: maintenance acts as each table's owner, never as the job's
-- owner (a superuser here); each role sees only its own tables and jobs.
-- ---------------------------------------------------------------------
CREATE ROLE demo_app;
GRANT CREATE ON SCHEMA public TO demo_app;
SET ROLE demo_app;
CREATE TABLE demo_app_log (ts timestamptz NOT NULL, who text DEFAULT current_user);
CREATE FUNCTION demo_app_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'deleting a row of demo_app_log as %', current_user;
	RETURN OLD;
END $$;
CREATE TRIGGER audit BEFORE DELETE ON demo_app_log FOR EACH ROW EXECUTE FUNCTION demo_app_audit();
INSERT INTO demo_app_log (ts) VALUES (now() - interval '3 days');
SELECT steward.retention_add('demo_app_log', 'ts', '1 day');
-- demo_app sees its own table only, not demo_notifications
SELECT tbl, keep FROM steward.retentions;
RESET ROLE;
-- A superuser applies it: the trigger still runs as demo_app.
SELECT steward.retention_run('demo_app_log') AS rows_deleted;

-- ---------------------------------------------------------------------
-- Audit: who changed what, in a table of its own, sealed against tampering.
-- ---------------------------------------------------------------------
CREATE TABLE demo_accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
							owner text, balance numeric, pin text, note text);
SELECT steward.audit_enable('demo_accounts', exclude_columns => '{note}',
							hash_columns => '{pin}');
BEGIN;
SET LOCAL steward.app_user = 'alice@example.com';
INSERT INTO demo_accounts (owner, balance, pin, note) VALUES ('alice', 100, '1234', 'not audited');
UPDATE demo_accounts SET balance = balance - 30 WHERE owner = 'alice';
COMMIT;
SELECT op, row_key, old_values, new_values, changed_columns, db_user, app_user
  FROM steward.audit_history('demo_accounts', '{"id": 1}');
SELECT steward.audit_row_as_of('demo_accounts', '{"id": 1}', now()) AS alice_now;
SELECT tbl, operations, active FROM steward.audited_tables;
-- Seal the log into a SHA-256 chain (the audit_seal job does it every minute),
-- then verify it; keep audit_seal_head() somewhere outside the database.
SELECT steward.audit_seal_now() AS rows_sealed;
SELECT * FROM steward.audit_verify();
SELECT steward.audit_seal_head() AS chain_head;
-- A change made behind the trigger's back is found.
UPDATE steward.audit_log SET new_values = '{"balance": 1000000}' WHERE op = 'UPDATE';
SELECT seal_id, ok, first_bad_event_id, detail FROM steward.audit_verify();

-- Migrations: versioned changes applied in this transaction, in natural
-- order (2 before 10), recorded, and rolled back by SQL calls.
SELECT count(*) AS lint_findings FROM steward.migration_add('1', 'orders',
	'CREATE TABLE demo_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total numeric);',
	'DROP TABLE demo_orders;');
SELECT count(*) AS lint_findings FROM steward.migration_add('10', 'order note',
	'ALTER TABLE demo_orders ADD note text;', 'ALTER TABLE demo_orders DROP note;');
SELECT count(*) AS lint_findings FROM steward.migration_add('2', 'order time',
	'ALTER TABLE demo_orders ADD placed_at timestamptz NOT NULL DEFAULT now();',
	'ALTER TABLE demo_orders DROP placed_at;');
SELECT version, name, action FROM steward.migrate(dry_run => true);
SELECT version, name, action FROM steward.migrate();
SELECT version, name, state FROM steward.migration_status;
SELECT version, name, action FROM steward.rollback('2');
-- DDL run outside migrate() is visible as drift.
CREATE TABLE demo_drift (a int);
SELECT name, action, detail->>'statement' AS statement
  FROM steward.migration_history WHERE action = 'untracked' ORDER BY history_id DESC LIMIT 1;

-- Health: what is wrong, why, and what to do.  A foreign key without an
-- index (any size, for the demo) and a duplicate index are found, with the
-- statements that fix them.
CREATE TABLE "Demo Customers" (id int PRIMARY KEY);
CREATE TABLE "Demo Invoices" (id int PRIMARY KEY, "Customer Id" int REFERENCES "Demo Customers", n int);
CREATE INDEX demo_inv_n ON "Demo Invoices" (n);
CREATE INDEX demo_inv_n_again ON "Demo Invoices" (n);
UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'missing_fk_indexes';
SELECT check_name, status, object, hint FROM steward.health()
 WHERE check_name IN ('missing_fk_indexes', 'duplicate_indexes');
SELECT * FROM steward.health_summary;
SELECT * FROM steward.lock_tree;
-- The health_snapshot job stores history and opens alerts (NOTIFY steward_health).
SELECT * FROM steward.health_snapshot();
SELECT check_name, object, status FROM steward.alert WHERE resolved_at IS NULL ORDER BY alert_id;
-- ---------------------------------------------------------------------
-- Backups: the server's own pg_dump and pg_basebackup, run by a worker
-- into steward.backup_directory (here next to the data directory), listed
-- in SQL and verified against the checksums recorded when they were made.
-- ---------------------------------------------------------------------
SELECT steward.backup_now('logical', 'quickstart') AS backup_id \gset
SELECT backup_id, kind, label, status, size_bytes, duration FROM steward.backups;
SELECT * FROM steward.backup_verify(:backup_id);
-- A physical backup (pg_basebackup, each file checked against the manifest as it is written), then a
-- restore drill: a throwaway postmaster started on a copy of it, listening
-- on a private Unix socket only, until it answers a query.
SELECT steward.backup_now('physical', 'quickstart') AS physical_id \gset
SELECT * FROM steward.backup_verify(:physical_id, deep => true);
SELECT backup_id, kind, status, size_bytes, verify_status, drill_status, drill_duration
  FROM steward.backups ORDER BY backup_id;
-- Nightly, keeping 7, each one drilled:
--   SELECT steward.backup_schedule('physical', '0 2 * * *', keep_last => 7, verify => 'drill');
