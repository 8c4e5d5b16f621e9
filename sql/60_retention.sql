-- Row retention for plain tables.
SET client_min_messages = warning;

CREATE TABLE notifications (id bigserial PRIMARY KEY, sent_at timestamptz NOT NULL, body text);
CREATE INDEX ON notifications (sent_at);
INSERT INTO notifications (sent_at, body)
SELECT now() - g * interval '1 hour', 'n' || g FROM generate_series(1, 100) g;

SELECT steward.retention_add('notifications', 'sent_at', '2 days', batch_rows => 7);
SELECT tbl, time_column, keep, batch_rows, indexed FROM steward.retentions;

-- Applied now: rows older than 2 days go, in batches of 7.
SELECT steward.retention_run('notifications') AS deleted;
SELECT count(*) AS kept, min(sent_at) > now() - interval '2 days' AS all_recent FROM notifications;
SELECT steward.retention_run('notifications') AS deleted_again;

-- Changing the policy replaces it.
SELECT steward.retention_add('notifications', 'sent_at', '1 day');
SELECT keep, batch_rows FROM steward.retentions WHERE tbl = 'notifications'::regclass;

-- A table without an index on the column gets a warning.
CREATE TABLE metrics_plain (at date NOT NULL, v int);
SELECT steward.retention_add('metrics_plain', 'at', '30 days');

-- Bad input.
SELECT steward.retention_add('notifications', 'nope', '1 day');
SELECT steward.retention_add('notifications', 'body', '1 day');
SELECT steward.retention_add('notifications', 'sent_at', '0 days');
SELECT steward.retention_add('notifications', 'sent_at', '-1 day');
SELECT steward.retention_add('notifications', 'sent_at', '1 day', batch_rows => 0);
CREATE TABLE parted (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.retention_add('parted', 'ts', '1 day');
CREATE VIEW notif_view AS SELECT * FROM notifications;
SELECT steward.retention_add('notif_view', 'sent_at', '1 day');
SELECT steward.retention_run('parted');
CREATE ROLE retention_stranger;
SET ROLE retention_stranger;
SELECT steward.retention_add('notifications', 'sent_at', '1 day');
SELECT steward.retention_remove('notifications');
RESET ROLE;

-- Remove.
SELECT steward.retention_remove('metrics_plain');
SELECT steward.retention_remove('metrics_plain');
SELECT count(*) AS tables_under_retention FROM steward.retentions;

-- The built-in job.
SELECT name, kind, schedule, enabled FROM steward.jobs WHERE kind = 'row_retention';

DROP VIEW notif_view;
DROP ROLE retention_stranger;
