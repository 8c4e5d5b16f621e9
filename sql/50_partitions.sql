-- Partition sets: creation, boundaries (DST, months, ids), naming,
-- adoption, maintenance, retention, draining the default, bad input.
SET client_min_messages = warning;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'America/Los_Angeles';   -- sets must not depend on it

-- Shows a set's partitions: name, bounds (UTC) and length.
CREATE FUNCTION pg_temp.parts(p regclass)
RETURNS TABLE (name name, lower text, upper text, hours numeric)
LANGUAGE sql AS $$
	SELECT c.relname, b[1], b[2],
	       CASE WHEN b[1] ~ '^\d{4}-' THEN
	            round(extract(epoch FROM b[2]::timestamptz - b[1]::timestamptz) / 3600, 1) END
	  FROM pg_inherits i
	  JOIN pg_class c ON c.oid = i.inhrelid,
	       LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
	                                    'FROM \(''?([^'')]*)''?\) TO \(''?([^'')]*)''?\)') AS b) x
	 WHERE i.inhparent = p
	 ORDER BY b[1] IS NULL, length(b[1]), b[1]
$$;

-- Daily set in Europe/Berlin across the March 2030 change: 24h, 24h, 23h, 24h.
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,
                     payload text) PARTITION BY RANGE (ts);
CREATE INDEX ON events (ts);
SELECT steward.partition_table('events', 'ts', '1 day', premake => 3,
                               start_at => '2030-03-29', timezone => 'Europe/Berlin');
SET TimeZone = 'UTC';
SELECT * FROM pg_temp.parts('events');
-- Every partition has the parent's index.
SELECT count(*) AS partitions_with_ts_index FROM pg_inherits i
  JOIN pg_index x ON x.indrelid = i.inhrelid WHERE i.inhparent = 'events'::regclass;

-- ... and across the October change: 25h.
CREATE TABLE events_oct (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('events_oct', 'ts', '1 day', premake => 2,
                               start_at => '2030-10-26', timezone => 'Europe/Berlin',
                               default_partition => false);
SELECT * FROM pg_temp.parts('events_oct');

-- Monthly: periods start on the 1st, also from a January 31st start.
CREATE TABLE monthly (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('monthly', 'ts', '1 month', premake => 3,
                               start_at => '2031-01-31 18:00', default_partition => false);
SELECT * FROM pg_temp.parts('monthly');

-- Quarterly on a date column, weekly (Mondays) on timestamp, 6 hours.
CREATE TABLE quarterly (d date NOT NULL) PARTITION BY RANGE (d);
SELECT steward.partition_table('quarterly', 'd', '3 months', premake => 2,
                               start_at => '2031-05-17', default_partition => false);
SELECT name, lower, upper FROM pg_temp.parts('quarterly');
CREATE TABLE weekly (t timestamp NOT NULL) PARTITION BY RANGE (t);
SELECT steward.partition_table('weekly', 't', '1 week', premake => 1,
                               start_at => '2031-01-01', default_partition => false);
SELECT name, lower, upper FROM pg_temp.parts('weekly');
CREATE TABLE sixhourly (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('sixhourly', 'ts', '6 hours', premake => 2,
                               start_at => '2031-03-30 01:00', timezone => 'Europe/Berlin',
                               default_partition => false);
SELECT * FROM pg_temp.parts('sixhourly');

-- Id sets: periods of the step; the current period follows the data.
CREATE TABLE orders (id int NOT NULL, note text) PARTITION BY RANGE (id);
SELECT steward.partition_table('orders', 'id', '100', premake => 2, retention => '200',
                               name_template => 'orders_{start}');
SELECT name, lower, upper FROM pg_temp.parts('orders');
INSERT INTO orders SELECT g, 'x' FROM generate_series(0, 450) g;
SELECT count(*) AS rows_in_default FROM ONLY orders_default;
SELECT * FROM steward.partition_maintain('orders');
SELECT name, lower, upper FROM pg_temp.parts('orders');
SELECT count(*) AS rows_in_default FROM ONLY orders_default;
SELECT count(*) AS rows_kept FROM orders;
-- Run twice: nothing to do the second time.
SELECT parent, created, dropped, status FROM steward.partition_maintain('orders');

-- Retention by time: partitions entirely older than 5 days are dropped.
CREATE TABLE metrics (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT steward.partition_table('metrics', 'ts', '1 day', premake => 2,
                               start_at => (now() - interval '10 days')::text,
                               retention => '5 days');
SELECT parent, created, dropped, detached, status FROM steward.partition_maintain('metrics');
SELECT periods_ahead, partitions, oldest_bound::timestamptz >= date_trunc('day', now()) - interval '5 days' AS retention_held
  FROM steward.partition_status WHERE parent = 'metrics'::regclass;

-- A quiet set is remembered (fingerprint of its configuration and
-- pg_inherits rows): the next maintenance does not read its partitions, yet
-- a partition dropped by hand is noticed and re-created at once.
SELECT created, dropped, status FROM steward.partition_maintain('metrics');
SELECT fingerprint IS NOT NULL AND quiet_until IS NOT NULL AS remembered
  FROM steward.partition_state WHERE parent = 'metrics'::regclass;
DO $$ BEGIN EXECUTE format('DROP TABLE %I', (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'metrics'::regclass AND c.relname <> 'metrics_default' ORDER BY c.relname DESC LIMIT 1)); END $$;
SELECT created, dropped, status FROM steward.partition_maintain('metrics');

-- detach_concurrently with a default partition: PostgreSQL cannot detach
-- concurrently then; the user is told at configuration time.
CREATE TABLE dc (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SET client_min_messages = notice;
SELECT steward.partition_table('dc', 'ts', '1 day', premake => 1, retention => '3 days',
                               retention_mode => 'detach_concurrently');
SELECT steward.partition_alter('dc', retention_mode => 'drop');
SELECT steward.partition_alter('dc', retention_mode => 'detach_concurrently');
SET client_min_messages = warning;
SELECT steward.partition_forget('dc');
DROP TABLE dc;

-- Retention by detaching into another schema.
CREATE SCHEMA archive;
CREATE TABLE logs (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('logs', 'ts', '1 day', premake => 1,
                               start_at => (now() - interval '4 days')::text,
                               retention => '2 days', retention_mode => 'detach',
                               retention_schema => 'no_such_schema');
SELECT steward.partition_table('logs', 'ts', '1 day', premake => 1,
                               start_at => (now() - interval '4 days')::text,
                               retention => '2 days', retention_mode => 'detach');
SELECT steward.partition_alter('logs', retention_schema => 'archive');
SELECT retention_schema FROM steward.partition_set WHERE parent = 'logs'::regclass;
SELECT parent, dropped, detached, status FROM steward.partition_maintain('logs');
SELECT count(*) AS detached_tables FROM pg_class
 WHERE relnamespace = 'archive'::regnamespace AND relname LIKE 'logs_p%' AND NOT relispartition;

-- Draining the default partition creates the missing partitions.
INSERT INTO events (ts, payload) VALUES ('2030-05-01 10:00+00', 'a'), ('2030-05-01 11:00+00', 'b'),
                                        ('2030-05-03 12:00+00', 'c');
SELECT count(*) AS in_default FROM ONLY events_default;
SELECT steward.partition_drain_default('events', batch_rows => 1) AS moved;
SELECT count(*) AS in_default FROM ONLY events_default;
SELECT tableoid::regclass, payload FROM events WHERE ts >= '2030-05-01' ORDER BY payload;

-- Owner and privileges of new partitions follow the parent: they are
-- created by the owner, who needs CREATE on the schema.
CREATE ROLE part_owner;
CREATE ROLE part_reader;
CREATE TABLE owned (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
ALTER TABLE owned OWNER TO part_owner;
GRANT SELECT ON owned TO part_reader;
SELECT steward.partition_table('owned', 'ts', '1 day', premake => 1, start_at => '2031-01-01',
                               default_partition => false);
GRANT CREATE ON SCHEMA public TO part_owner;
SELECT steward.partition_table('owned', 'ts', '1 day', premake => 1, start_at => '2031-01-01',
                               default_partition => false);
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       has_table_privilege('part_reader', c.oid, 'SELECT') AS reader_can_select
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'owned'::regclass ORDER BY 1;
-- Detached partitions move to retention_schema as the owner, who needs
-- CREATE there; 'none' removes it.
SELECT steward.partition_alter('owned', retention_schema => 'archive');
GRANT CREATE ON SCHEMA archive TO part_owner;
SELECT steward.partition_alter('owned', retention_schema => 'archive');
SELECT steward.partition_alter('owned', retention_schema => 'none');
SELECT retention_schema IS NULL AS no_retention_schema FROM steward.partition_set WHERE parent = 'owned'::regclass;

-- Names never exceed 63 bytes and never collide.
CREATE TABLE a_table_with_a_really_quite_long_name_that_nearly_fills_namedata (ts timestamptz NOT NULL)
  PARTITION BY RANGE (ts);
CREATE TABLE collide_p20310101 (x int);
CREATE TABLE collide (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('a_table_with_a_really_quite_long_name_that_nearly_fills_namedata',
                               'ts', '1 day', premake => 1, start_at => '2031-01-01');
SELECT name, length(name) FROM pg_temp.parts('a_table_with_a_really_quite_long_name_that_nearly_fills_namedata');
SELECT steward.partition_table('collide', 'ts', '1 day', premake => 1, start_at => '2031-01-01',
                               default_partition => false);
SELECT name FROM pg_temp.parts('collide');

-- Partitions made by hand: matching ones are adopted, overlapping ones refused.
CREATE TABLE handmade (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE handmade_jan PARTITION OF handmade FOR VALUES FROM ('2031-01-01 00:00+00') TO ('2031-01-02 00:00+00');
SELECT steward.partition_table('handmade', 'ts', '1 day', premake => 1, start_at => '2031-01-01',
                               default_partition => false);
SELECT name, lower FROM pg_temp.parts('handmade');
CREATE TABLE clash (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE clash_odd PARTITION OF clash FOR VALUES FROM ('2031-01-01 12:00+00') TO ('2031-01-02 12:00+00');
SELECT steward.partition_table('clash', 'ts', '1 day', premake => 1, start_at => '2031-01-01');
SELECT count(*) AS nothing_half_created FROM pg_inherits WHERE inhparent = 'clash'::regclass;

-- Bad input.
SELECT steward.partition_table('events', 'ts', '1 day');
CREATE TABLE plain (ts timestamptz);
SELECT steward.partition_table('plain', 'ts', '1 day');
CREATE TABLE listed (k int) PARTITION BY LIST (k);
SELECT steward.partition_table('listed', 'k', '10');
CREATE TABLE hashed (k int) PARTITION BY HASH (k);
SELECT steward.partition_table('hashed', 'k', '10');
CREATE TABLE multi (a int, b int) PARTITION BY RANGE (a, b);
SELECT steward.partition_table('multi', 'a', '10');
CREATE TABLE texty (t text) PARTITION BY RANGE (t);
SELECT steward.partition_table('texty', 't', '10');
CREATE TABLE fresh (ts timestamptz NOT NULL, n int) PARTITION BY RANGE (ts);
SELECT steward.partition_table('fresh', 'n', '1 day');
SELECT steward.partition_table('fresh', 'ts', '10');
SELECT steward.partition_table('fresh', 'ts', '-1 day');
SELECT steward.partition_table('fresh', 'ts', '1 day 2 hours');
SELECT steward.partition_table('fresh', 'ts', '7 minutes');
SELECT steward.partition_table('fresh', 'ts', '1 day', premake => 0);
SELECT steward.partition_table('fresh', 'ts', '1 day', premake => 1001);
SELECT steward.partition_table('fresh', 'ts', '1 day', timezone => 'Mars/Olympus');
SELECT steward.partition_table('fresh', 'ts', '1 day', retention => '12 hours');
SELECT steward.partition_table('fresh', 'ts', '1 day', retention => '30 days', retention_mode => 'shred');
SELECT steward.partition_table('fresh', 'ts', '1 day', retention => '30 days', retention_mode => 'archive');
SELECT steward.partition_table('fresh', 'ts', '1 day', name_template => '{parent}_{week}');
CREATE TABLE ids (id bigint NOT NULL) PARTITION BY RANGE (id);
SELECT steward.partition_table('ids', 'id', '1 day');
SELECT steward.partition_table('ids', 'id', '0');
SELECT steward.partition_table('ids', 'id', '1000', retention => '10');
SELECT steward.partition_table('fresh', 'ts', '1 day', name_template => '{');
SELECT steward.partition_table('fresh', 'ts', '1 day', name_template => '{parent}_{YYYY}{');
SELECT steward.partition_table('fresh', 'ts', '1 day', name_template => '{parent}');
SELECT steward.partition_table('fresh', 'ts', '1 day', name_template => 'x_{YYYY}{MM}');
SELECT count(*) AS fresh_untouched FROM pg_inherits WHERE inhparent IN ('fresh'::regclass, 'ids'::regclass);

-- Steps must fit the column's type; the last id partition ends at MAXVALUE.
CREATE TABLE small_ids (id smallint NOT NULL) PARTITION BY RANGE (id);
SELECT steward.partition_table('small_ids', 'id', '100000');
SELECT steward.partition_table('small_ids', 'id', '30000', premake => 3, default_partition => false);
SELECT pg_get_expr(relpartbound, oid) FROM pg_class
 WHERE oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'small_ids'::regclass)
 ORDER BY 1;
CREATE TABLE huge_ids (id bigint NOT NULL) PARTITION BY RANGE (id);
SELECT steward.partition_table('huge_ids', 'id', '4611686018427387904', premake => 3,
                               start_at => '9223372036854775000', default_partition => false);
SELECT pg_get_expr(relpartbound, oid) FROM pg_class
 WHERE oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'huge_ids'::regclass)
 ORDER BY 1;
INSERT INTO huge_ids VALUES (9223372036854775807);
-- the MAXVALUE partition counts as the last period: nothing overlaps
INSERT INTO small_ids VALUES (32767);
SELECT status, message FROM steward.partition_maintain('small_ids');
SELECT status, message FROM steward.partition_maintain('huge_ids');
SELECT steward.partition_forget('small_ids'), steward.partition_forget('huge_ids');

-- Only the table's owner may manage it.
CREATE ROLE part_stranger;
SET ROLE part_stranger;
SELECT steward.partition_table('fresh', 'ts', '1 day');
SELECT steward.partition_forget('events');
RESET ROLE;

-- partition_alter and partition_forget.
SELECT steward.partition_alter('metrics', premake => 5, retention => 'none');
SELECT premake, retention FROM steward.partition_set WHERE parent = 'metrics'::regclass;
-- a changed policy takes effect at the next maintenance
SELECT created, status FROM steward.partition_maintain('metrics');
SELECT steward.partition_alter('metrics', retention => '1 hour');
SELECT steward.partition_alter('fresh', premake => 2);
SELECT steward.partition_forget('metrics');
SELECT count(*) AS sets_left FROM steward.partition_set WHERE parent = 'metrics'::regclass;
SELECT count(*) > 0 AS tables_untouched FROM pg_inherits WHERE inhparent = 'metrics'::regclass;

-- The status view.
SELECT parent, step, premade_until, periods_ahead, partitions, last_status
  FROM steward.partition_status WHERE parent::text IN ('events', 'monthly', 'quarterly') ORDER BY 1;

-- A large set read through the view in a fresh session: the row of
-- partition_info() must not point into freed SPI memory.
CREATE TABLE wide (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
SELECT steward.partition_table('wide', 'ts', '1 day', premake => 400, start_at => '2030-01-01') > 400 AS created;
\c
SELECT parent, partitions, periods_ahead > 0 AS ahead, premade_until IS NOT NULL AS has_bound
  FROM steward.partition_status WHERE parent = 'wide'::regclass;
SELECT steward.partition_forget('wide');
DROP TABLE wide;

-- The built-in maintenance job.
SELECT name, kind, schedule, enabled FROM steward.jobs WHERE kind = 'partition_maintenance';
-- its schedule can change, its command cannot (it has none), and schedule()
-- does not replace it
SELECT steward.alter_job('partition_maintenance', schedule => '15 minutes');
SELECT steward.alter_job('partition_maintenance', command => 'SELECT 1');
SELECT steward.schedule('partition_maintenance', '1 hour', 'SELECT 1');
SELECT schedule, command FROM steward.job WHERE job_name = 'partition_maintenance';
SELECT steward.alter_job('partition_maintenance', schedule => '10 minutes');

-- Maintenance of every set recognises a quiet set from steward's own
-- catalog (stored state, configuration, pg_inherits rows) without opening
-- it, and does not write its state again; partition_status shows the time
-- of that maintenance (steward.partition_sweep).
CREATE TABLE quiet_a (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
CREATE TABLE quiet_w (t timestamp NOT NULL) PARTITION BY RANGE (t);
SELECT steward.partition_table('quiet_a', 'ts', '1 day', premake => 2, retention => '3 days');
SELECT steward.partition_table('quiet_w', 't', '1 day', premake => 2, timezone => 'Pacific/Kiritimati');
SELECT parent, created, status FROM steward.partition_maintain()
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
-- quiet_until is an instant: the next period start (UTC midnight for
-- quiet_a, local midnight at UTC+14 for the timestamp column of quiet_w)
SELECT parent, timestamptz '2000-01-01 00:00+00' + quiet_until * interval '1 microsecond' =
       CASE parent WHEN 'quiet_a'::regclass THEN date_trunc('day', now(), 'UTC') + interval '1 day'
       ELSE (date_trunc('day', now() AT TIME ZONE 'Pacific/Kiritimati') + interval '1 day')
            AT TIME ZONE 'Pacific/Kiritimati' END AS next_period_start
  FROM steward.partition_state WHERE parent::text LIKE 'quiet%' ORDER BY 1;
-- in a zone with daylight-saving time, never after the local midnight (an
-- hour before it at most, near a change)
CREATE TABLE quiet_b (t timestamp NOT NULL) PARTITION BY RANGE (t);
SELECT steward.partition_table('quiet_b', 't', '1 day', premake => 1, timezone => 'Europe/Berlin');
SELECT count(*) FROM steward.partition_maintain('quiet_b');
SELECT timestamptz '2000-01-01 00:00+00' + quiet_until * interval '1 microsecond'
       BETWEEN m - interval '1 hour' AND m AS before_local_midnight
  FROM steward.partition_state,
       LATERAL (SELECT (date_trunc('day', now() AT TIME ZONE 'Europe/Berlin') + interval '1 day')
                       AT TIME ZONE 'Europe/Berlin' AS m) x
 WHERE parent = 'quiet_b'::regclass;
SELECT steward.partition_forget('quiet_b');
DROP TABLE quiet_b;
CREATE TEMP TABLE quiet_rows AS
  SELECT parent, xmin::text AS x FROM steward.partition_state WHERE parent::text LIKE 'quiet%';
SELECT parent, created, status FROM steward.partition_maintain()
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
SELECT s.parent, s.xmin::text = q.x AS not_rewritten
  FROM steward.partition_state s JOIN quiet_rows q USING (parent) ORDER BY 1;
SELECT v.parent, v.last_status, v.last_maintained_at = w.swept_at AS maintained_at_sweep,
       v.last_ok_at = w.swept_at AS ok_at_sweep, v.skipped_runs
  FROM steward.partition_status v, steward.partition_sweep w
 WHERE w.runner = current_user::regrole AND v.parent::text LIKE 'quiet%' ORDER BY 1;

-- What changes behind a quiet set's back is noticed: a partition dropped
-- or detached by hand is made again, a partition attached by hand is
-- looked at (and the state written), a changed policy applies.
DO $$ BEGIN EXECUTE format('DROP TABLE %I', (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'quiet_a'::regclass AND c.relname <> 'quiet_a_default' ORDER BY c.relname DESC LIMIT 1)); END $$;
DO $$ BEGIN EXECUTE format('ALTER TABLE quiet_w DETACH PARTITION %1$I; ALTER TABLE %1$I RENAME TO quiet_w_gone', (SELECT c.relname FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = 'quiet_w'::regclass AND c.relname <> 'quiet_w_default' ORDER BY c.relname LIMIT 1)); END $$;
SELECT parent, created, status FROM steward.partition_maintain()
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
SELECT parent, partitions, periods_ahead FROM steward.partition_status
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
CREATE TABLE quiet_a_far (LIKE quiet_a);
ALTER TABLE quiet_a ATTACH PARTITION quiet_a_far FOR VALUES FROM ('2040-01-01 00:00+00') TO ('2040-01-02 00:00+00');
DELETE FROM quiet_rows;
INSERT INTO quiet_rows SELECT parent, xmin::text FROM steward.partition_state WHERE parent::text LIKE 'quiet%';
SELECT parent, created, status FROM steward.partition_maintain()
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
SELECT s.parent, s.xmin::text = q.x AS not_rewritten
  FROM steward.partition_state s JOIN quiet_rows q USING (parent) ORDER BY 1;
SELECT steward.partition_alter('quiet_w', premake => 3);
SELECT parent, created, status FROM steward.partition_maintain()
 WHERE parent::text LIKE 'quiet%' ORDER BY 1;
SELECT steward.partition_forget('quiet_a'), steward.partition_forget('quiet_w');
DROP TABLE quiet_a, quiet_w, quiet_w_gone;
