-- Job API: validation, create/replace, alter, unschedule, ownership,
-- and runs through steward.run_job().
SET client_min_messages = warning;

-- Wait (up to 30 s) until a job has no running run.
CREATE FUNCTION pg_temp.wait_idle(job text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..600 LOOP
		IF NOT EXISTS (SELECT FROM steward.job_run r JOIN steward.job j USING (job_id)
		                WHERE j.job_name = job AND r.status = 'running') THEN
			RETURN 'idle';
		END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN 'still running';
END $$;

-- Bad input is refused with a clear error and SQLSTATE.
\set VERBOSITY default
SELECT steward.schedule('', '* * * * *', 'SELECT 1');
SELECT steward.schedule(NULL, '* * * * *', 'SELECT 1');
SELECT steward.schedule('j', '61 * * * *', 'SELECT 1');
SELECT steward.schedule('j', '* * * *', 'SELECT 1');
SELECT steward.schedule('j', '0 seconds', 'SELECT 1');
SELECT steward.schedule('j', '* * * * *', 'SELEC 1');
SELECT steward.schedule('j', '* * * * *', '   ');
SELECT steward.schedule('j', '* * * * *', 'SELECT 1; COPY (SELECT 1) TO STDOUT');
SELECT steward.schedule('j', '* * * * *', 'COPY pg_class FROM STDIN');
SELECT steward.schedule('j', '* * * * *', NULL);
SELECT steward.schedule('j', '* * * * *', 'SELECT 1', timezone => 'Mars/Base');
SELECT steward.schedule('j', '* * * * *', 'SELECT 1', max_runtime => '0');
SELECT steward.schedule('j', '* * * * *', 'SELECT 1', max_runtime => '-1 minute');
SELECT steward.schedule('j', '* * * * *', 'SELECT 1', max_retries => -1);
SELECT steward.schedule('j', '* * * * *', 'SELECT 1', retry_delay => '-1 second');
SELECT count(*) AS jobs_after_bad_input FROM steward.job WHERE kind = 'sql';

-- Create, then replace by name (same job id).
SELECT steward.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM ANALYZE',
                        timezone => 'Europe/Berlin', max_runtime => '1 hour') AS id \gset
SELECT steward.schedule('nightly-vacuum', '30 3 * * *', 'VACUUM ANALYZE',
                        timezone => 'Europe/Berlin') = :id AS same_job;
SELECT name, owner, kind, schedule, timezone, enabled, max_runtime, max_retries,
       next_run_at > now() AS next_in_future
  FROM steward.jobs WHERE kind = 'sql';

-- alter_job changes only what is given.
SELECT steward.alter_job('nightly-vacuum', schedule => '@daily', max_retries => 2);
SELECT steward.alter_job('nightly-vacuum', enabled => false);
SELECT name, schedule, enabled, max_retries, next_run_at FROM steward.jobs WHERE kind = 'sql';
SELECT steward.alter_job('nightly-vacuum', schedule => 'sometimes');
SELECT steward.alter_job('nightly-vacuum', timezone => 'Nowhere/Land');
SELECT steward.alter_job('no-such-job', enabled => true);

-- unschedule
SELECT steward.unschedule('no-such-job');
SELECT steward.unschedule('nightly-vacuum');
SELECT steward.unschedule('nightly-vacuum');
SELECT count(*) AS jobs_left FROM steward.job WHERE kind = 'sql';

-- Runs: each statement is its own top-level statement, so VACUUM works
-- (CREATE INDEX CONCURRENTLY is covered by the worker tests).
CREATE TABLE job_target (x int);
SELECT steward.schedule('fill', '@yearly',
	$$INSERT INTO job_target VALUES (1); INSERT INTO job_target SELECT g FROM generate_series(2, 5) g;
	  VACUUM job_target$$) IS NOT NULL AS scheduled;
SELECT steward.run_job('fill') AS run \gset
SELECT status, message, attempt, pid IS NOT NULL AS has_pid,
       finished_at >= started_at AS finished, scheduled_for IS NOT NULL AS has_scheduled_for
  FROM steward.job_run WHERE run_id = :run;
SELECT count(*) AS rows_inserted FROM job_target;

-- CREATE INDEX CONCURRENTLY waits for older transactions, including the
-- caller's: waiting for it would never end, so run_job() says so.
SELECT steward.schedule('index', '@yearly',
	'CREATE INDEX CONCURRENTLY job_target_x ON job_target (x)') IS NOT NULL AS scheduled;
SELECT steward.run_job('index');
-- Once this session's transaction is over, the run completes.
SELECT pg_temp.wait_idle('index');
SELECT indisvalid FROM pg_index WHERE indexrelid = 'job_target_x'::regclass;

-- A failing statement stops the run; later statements do not run.
SELECT steward.schedule('fails', '@yearly',
	'INSERT INTO job_target VALUES (100); SELECT 1/0; INSERT INTO job_target VALUES (101)') IS NOT NULL;
SELECT steward.run_job('fails') AS run \gset
SELECT status, message, detail->>'sqlstate' AS sqlstate, detail->>'context' AS context
  FROM steward.job_run WHERE run_id = :run;
SELECT array_agg(x ORDER BY x) AS committed_before_error FROM job_target WHERE x >= 100;

-- A transaction block left open is an error, and is rolled back.
SELECT steward.schedule('open-block', '@yearly', 'BEGIN; INSERT INTO job_target VALUES (200)') IS NOT NULL;
SELECT steward.run_job('open-block') AS run \gset
SELECT status, message FROM steward.job_run WHERE run_id = :run;
SELECT count(*) AS rolled_back FROM job_target WHERE x = 200;

-- The jobs view reports the last outcome.
SELECT name, last_status, last_message, running FROM steward.jobs WHERE kind = 'sql' ORDER BY name;

-- run_job() without waiting returns as soon as the run exists.
SELECT steward.schedule('sleepy', '@yearly', 'SELECT pg_sleep(2)') IS NOT NULL;
SELECT steward.run_job('sleepy', wait => false) AS run \gset
SELECT status FROM steward.job_run WHERE run_id = :run;
-- No overlap: a second run while the first is running is refused.
SELECT steward.run_job('sleepy');
SELECT pg_temp.wait_idle('sleepy');
SELECT status, message FROM steward.job_run WHERE run_id = :run;

-- A job created in the same transaction cannot run before it commits.
BEGIN;
SELECT steward.schedule('uncommitted', '@yearly', 'SELECT 1') IS NOT NULL;
SELECT steward.run_job('uncommitted');
ROLLBACK;

SELECT steward.run_job('no-such-job');

-- Ownership: jobs run as, and belong to, the role that scheduled them.
CREATE ROLE steward_alice LOGIN;
CREATE ROLE steward_bob LOGIN;
GRANT EXECUTE ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.alter_job(text, text, text, bool, text, interval, int, interval),
	steward.unschedule(text), steward.run_job(text, bool)
	TO steward_alice, steward_bob;
CREATE TABLE secret (s text);
INSERT INTO secret VALUES ('classified');
GRANT INSERT ON job_target TO steward_alice;

SET ROLE steward_alice;
SELECT steward.schedule('alice-job', '@yearly', 'INSERT INTO job_target SELECT length(s) FROM secret') IS NOT NULL;
SELECT steward.run_job('alice-job') AS run \gset
SELECT status, detail->>'sqlstate' AS sqlstate, message FROM steward.job_run WHERE run_id = :run;
SELECT name, owner FROM steward.jobs;
-- Ordinary roles cannot write the catalog directly.
INSERT INTO steward.job (job_name, schedule, command, owner) VALUES ('forged', '@daily', 'SELECT 1', 'postgres');
UPDATE steward.job SET command = 'SELECT 2' WHERE job_name = 'alice-job';
DELETE FROM steward.job_run;
RESET ROLE;

SET ROLE steward_bob;
SELECT name FROM steward.jobs;
SELECT count(*) AS visible_jobs FROM steward.job;
SELECT count(*) AS visible_runs FROM steward.job_run;
SELECT steward.alter_job('alice-job', command => 'DROP TABLE secret');
SELECT steward.unschedule('alice-job');
SELECT steward.run_job('alice-job');
-- Job names are per owner: bob gets a job of his own, and learns nothing
-- about alice's.
SELECT steward.schedule('alice-job', '@daily', 'SELECT 1') IS NOT NULL AS own_job;
SELECT name, owner, command FROM steward.jobs;
SELECT steward.unschedule('alice-job');
SELECT steward.import_pg_cron();
RESET ROLE;

-- Without a grant, roles cannot manage jobs at all.
CREATE ROLE steward_carol;
SET ROLE steward_carol;
SELECT steward.schedule('carol-job', '@daily', 'SELECT 1');
SELECT count(*) FROM steward.jobs;
RESET ROLE;

-- Before PostgreSQL 17 a runner cannot connect as a NOLOGIN role: warned
-- at schedule() time, and a failed run says so.
CREATE ROLE steward_dave NOLOGIN;
GRANT EXECUTE ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.run_job(text, bool) TO steward_dave;
SET ROLE steward_dave;
SELECT steward.schedule('dave-job', '@daily', 'SELECT 1') IS NOT NULL AS scheduled;
SELECT steward.run_job('dave-job') AS run \gset
SELECT status, message FROM steward.job_run WHERE run_id = :run;
RESET ROLE;

-- The superuser sees every job.
SELECT name, owner FROM steward.jobs ORDER BY name;

-- pg_cron is not installed here.
SELECT steward.import_pg_cron();

-- Job kinds: registered in C, each with whether it runs a command.
SELECT kind, takes_command FROM steward.job_kinds() ORDER BY kind;
-- Built-in jobs are marked, and pg_dump keeps every other job.
SELECT job_name, kind, builtin FROM steward.job WHERE builtin ORDER BY job_name;
SELECT c.relname, x.cond
  FROM pg_extension e,
	   unnest(e.extconfig, e.extcondition) AS x(cfg, cond)
  JOIN pg_class c ON c.oid = x.cfg
 WHERE e.extname = 'pg_steward' AND c.relname = 'job';
-- The scheduler counts its passes (tests wait on it instead of sleeping).
SELECT set_config('steward_test.passes', steward.scheduler_passes()::text, false) IS NOT NULL AS counting;
SELECT steward.alter_job('row_retention', max_retries => 0);
DO $$
BEGIN
	FOR i IN 1..600 LOOP
		EXIT WHEN steward.scheduler_passes() > current_setting('steward_test.passes')::bigint;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;
SELECT steward.scheduler_passes() > current_setting('steward_test.passes')::bigint AS pass_counted;

-- Clean up.
SELECT steward.unschedule(job_name) FROM steward.job WHERE kind = 'sql' ORDER BY job_name;
DROP TABLE secret, job_target;
REVOKE ALL ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.alter_job(text, text, text, bool, text, interval, int, interval),
	steward.unschedule(text), steward.run_job(text, bool)
	FROM steward_alice, steward_bob;
REVOKE ALL ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.run_job(text, bool) FROM steward_dave;
DROP ROLE steward_alice, steward_bob, steward_carol, steward_dave;
