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
