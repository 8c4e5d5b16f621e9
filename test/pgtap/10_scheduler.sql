-- Scheduler catalog: structure, privileges, pg_dump registration, and
-- properties of next_runs() that hold for any schedule.
BEGIN;
SELECT plan(26);

SELECT has_table('steward', 'job', 'table steward.job exists');
SELECT has_table('steward', 'job_run', 'table steward.job_run exists');
SELECT has_view('steward', 'jobs', 'view steward.jobs exists');
SELECT col_type_is('steward', 'job', 'owner', 'regrole', 'job owner is a regrole');
SELECT col_type_is('steward', 'job', 'config', 'jsonb', 'job config is jsonb');
SELECT col_type_is('steward', 'job_run', 'detail', 'jsonb', 'run detail is jsonb');
SELECT col_is_unique('steward', 'job', ARRAY['owner', 'job_name'], 'job names are unique per owner');
SELECT col_not_null('steward', 'job', 'owner_name', 'jobs record their owner''s name');
SELECT has_column('steward', 'jobs', 'problem', 'steward.jobs says why a job is skipped');
SELECT ok(NOT has_function_privilege('public', 'steward.job_owner_name()', 'EXECUTE'),
          'PUBLIC cannot call the owner-name trigger function');
SELECT results_eq(
	$$SELECT name, value FROM steward.settings
	   WHERE name IN ('steward.max_workers', 'steward.max_workers_per_role', 'steward.max_jobs_per_role')
	   ORDER BY name$$,
	$$VALUES ('steward.max_jobs_per_role', '1000'), ('steward.max_workers', '-1'),
	         ('steward.max_workers_per_role', '-1')$$,
	'per-role limits and the derived runner limit are on by default');

SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'steward.job'::regclass),
          'row-level security protects steward.job');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'steward.job_run'::regclass),
          'row-level security protects steward.job_run');

-- pg_dump keeps job definitions.
SELECT ok('steward.job'::regclass = ANY (extconfig),
          'steward.job is an extension configuration table')
  FROM pg_extension WHERE extname = 'pg_steward';
SELECT ok(NOT ('steward.job_run'::regclass = ANY (extconfig)),
          'run history is not dumped')
  FROM pg_extension WHERE extname = 'pg_steward';

-- Managing jobs needs a grant; reading your own does not.
SELECT ok(NOT has_function_privilege('public', 'steward.schedule(text, text, text, text, interval, int, interval, bool)', 'EXECUTE'),
          'PUBLIC cannot schedule jobs');
SELECT ok(NOT has_function_privilege('public', 'steward.run_job(text, bool)', 'EXECUTE'),
          'PUBLIC cannot run jobs');
SELECT ok(has_table_privilege('public', 'steward.jobs', 'SELECT'),
          'PUBLIC can read steward.jobs (its own jobs)');
SELECT ok(NOT has_table_privilege('public', 'steward.job', 'INSERT'),
          'PUBLIC cannot write steward.job');
SELECT ok(NOT has_table_privilege('public', 'steward.job_state', 'SELECT'),
          'PUBLIC cannot read scheduler state');

-- Every API function pins its search_path.
SELECT is((SELECT count(*) FROM pg_proc p
            WHERE p.pronamespace = 'steward'::regnamespace
              AND p.proname IN ('schedule', 'unschedule', 'alter_job', 'run_job', 'import_pg_cron')
              AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
          0::bigint, 'job API functions set search_path');

-- next_runs: strictly increasing, strictly after "after", whole minutes for cron.
SELECT is((SELECT count(*) FROM (
             SELECT r, lag(r) OVER (ORDER BY r) AS prev
               FROM steward.next_runs('*/7 1-5 * * MON-FRI', '2026-01-01', 500, 'America/New_York') r) x
            WHERE r <= prev OR r <= '2026-01-01' OR extract(second FROM r) <> 0),
          0::bigint, 'next_runs results are increasing, after "after", on whole minutes');
SELECT is((SELECT count(*) FROM steward.next_runs('@hourly', now(), 24)), 24::bigint,
          'next_runs returns count rows');
SELECT is((SELECT max(r) - min(r) FROM steward.next_runs('90 seconds', '2026-01-01', 3) r),
          interval '3 minutes', 'interval schedules step by the interval');
SELECT throws_ok($$SELECT steward.check_schedule('* * 32 * *')$$, '22023', NULL,
                 'day-of-month 32 is refused');
SELECT lives_ok($$SELECT steward.check_schedule('0 0 29 2 *')$$, 'February 29 is fine');

SELECT * FROM finish();
ROLLBACK;
