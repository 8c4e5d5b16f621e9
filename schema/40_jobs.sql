-- Scheduler: job catalog, run history, API and the jobs view.

CREATE TABLE steward.job (
	job_id		bigserial PRIMARY KEY,
	job_name	text NOT NULL,
	kind		text NOT NULL DEFAULT 'sql',
	schedule	text NOT NULL,
	command		text NOT NULL DEFAULT '',
	config		jsonb NOT NULL DEFAULT '{}',
	owner		regrole NOT NULL,
	owner_name	name NOT NULL,
	enabled		boolean NOT NULL DEFAULT true,
	timezone	text,
	max_runtime interval CHECK (max_runtime > interval '0'),
	max_retries int NOT NULL DEFAULT 0 CHECK (max_retries BETWEEN 0 AND 100),
	retry_delay interval NOT NULL DEFAULT interval '1 minute'
				CHECK (retry_delay >= interval '0'),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK (job_name <> ''),
	UNIQUE (owner, job_name)
);

COMMENT ON COLUMN steward.job.owner_name IS
'the owner''s name when the job was scheduled (kept by ALTER ROLE ... RENAME and REASSIGN OWNED in this database); a job whose owner OID now names another role, or no role, never runs';

-- Rows inserted without owner_name (the built-in jobs, restores of older
-- dumps) take the owner's current name.
CREATE FUNCTION steward.job_owner_name()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.owner_name IS NULL THEN
		NEW.owner_name := (SELECT a.rolname FROM pg_catalog.pg_roles a
							WHERE a.oid = NEW.owner::pg_catalog.oid);
	END IF;
	RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION steward.job_owner_name() FROM PUBLIC;

CREATE TRIGGER job_owner_name BEFORE INSERT ON steward.job
	FOR EACH ROW EXECUTE FUNCTION steward.job_owner_name();

COMMENT ON TABLE steward.job IS
'scheduled jobs; change them with steward.schedule(), steward.alter_job() and steward.unschedule()';

-- Scheduler state per job; kept apart from steward.job so pg_dump keeps
-- definitions, not state.
CREATE TABLE steward.job_state (
	job_id		bigint PRIMARY KEY,
	schedule_key text,
	next_run_at timestamptz,
	retry_at	timestamptz,
	retry_attempt int NOT NULL DEFAULT 0,
	consecutive_failures int NOT NULL DEFAULT 0,
	skipped_runs bigint NOT NULL DEFAULT 0,
	problem		text		-- why the scheduler skips the job, if it does
);

CREATE TABLE steward.job_run (
	run_id		bigserial PRIMARY KEY,
	job_id		bigint NOT NULL,
	scheduled_for timestamptz,
	started_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	finished_at timestamptz,
	status		text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed',
												'timed_out', 'cancelled', 'crashed')),
	attempt		int NOT NULL DEFAULT 1,
	pid			int,
	message		text,
	detail		jsonb
);

CREATE INDEX job_run_job_id_idx ON steward.job_run (job_id, run_id DESC);
CREATE INDEX job_run_finished_at_idx ON steward.job_run (finished_at);
CREATE INDEX job_run_running_idx ON steward.job_run (run_id) WHERE status = 'running';

COMMENT ON TABLE steward.job_run IS
'one row per job run; pruned by the scheduler after steward.job_history_retention';

-- pg_dump keeps user jobs (the definitions, not state or history).
SELECT pg_catalog.pg_extension_config_dump('steward.job', '');
SELECT pg_catalog.pg_extension_config_dump('steward.job_job_id_seq', '');

-- Ordinary roles read only the jobs (and runs) of roles whose privileges
-- they have, and change nothing directly: the API functions do that.
ALTER TABLE steward.job ENABLE ROW LEVEL SECURITY;
ALTER TABLE steward.job_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_owner ON steward.job FOR SELECT
	USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY job_run_owner ON steward.job_run FOR SELECT
	USING (EXISTS (SELECT FROM steward.job j WHERE j.job_id = job_run.job_id));
REVOKE ALL ON steward.job, steward.job_state, steward.job_run FROM PUBLIC;
GRANT SELECT ON steward.job, steward.job_run TO PUBLIC;

CREATE FUNCTION steward.schedule(
	job_name text, schedule text, command text,
	timezone text DEFAULT NULL, max_runtime interval DEFAULT NULL,
	max_retries int DEFAULT 0, retry_delay interval DEFAULT '1 minute',
	enabled bool DEFAULT true)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_schedule'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool) IS
'create or replace the calling role''s job of that name; returns its job_id';

CREATE FUNCTION steward.unschedule(job_name text)
RETURNS bool
AS 'MODULE_PATHNAME', 'steward_unschedule'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.unschedule(text) IS
'delete a job; false if there is no such job you can manage';

CREATE FUNCTION steward.alter_job(
	job_name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
	enabled bool DEFAULT NULL, timezone text DEFAULT NULL,
	max_runtime interval DEFAULT NULL, max_retries int DEFAULT NULL,
	retry_delay interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_alter_job'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.alter_job(text, text, text, bool, text, interval, int, interval) IS
'change a job; NULL arguments keep the current setting';

CREATE FUNCTION steward.run_job(job_name text, wait bool DEFAULT true)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_run_job'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.run_job(text, bool) IS
'run a job now in a runner; with wait, return after it finished; returns the run_id';

CREATE FUNCTION steward.import_pg_cron(enable bool DEFAULT false)
RETURNS int
AS 'MODULE_PATHNAME', 'steward_import_pg_cron'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.import_pg_cron(bool) IS
'copy this database''s pg_cron jobs into steward jobs, disabled unless enable';

CREATE FUNCTION steward.scheduler_passes()
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_scheduler_passes'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.scheduler_passes() IS
'scheduling passes completed by this database''s scheduler since it started; NULL if none runs';

-- Job management is for roles that are granted it.
REVOKE ALL ON FUNCTION
	steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.unschedule(text),
	steward.alter_job(text, text, text, bool, text, interval, int, interval),
	steward.run_job(text, bool),
	steward.import_pg_cron(bool)
FROM PUBLIC;

CREATE VIEW steward.jobs WITH (security_barrier) AS
SELECT j.job_name AS name,
	   j.owner,
	   j.kind,
	   j.schedule,
	   COALESCE(j.timezone,
						   pg_catalog.current_setting('steward.timezone', true),
						   'UTC') AS timezone,
	   j.enabled,
	   CASE WHEN j.enabled AND s.problem IS NULL THEN
		   COALESCE(LEAST(s.next_run_at, s.retry_at),
							   (SELECT n FROM steward.next_runs(j.schedule, pg_catalog.now(), 1, j.timezone) n))
	   END AS next_run_at,
	   COALESCE(lr.status = 'running', false) AS running,
	   lr.started_at AS last_run_at,
	   lr.status AS last_status,
	   lr.message AS last_message,
	   COALESCE(s.consecutive_failures, 0) AS consecutive_failures,
	   COALESCE(s.skipped_runs, 0) AS skipped_runs,
	   j.job_id,
	   j.max_runtime,
	   j.max_retries,
	   j.retry_delay,
	   j.command,
	   s.problem
  FROM steward.job j
  LEFT JOIN steward.job_state s ON s.job_id = j.job_id
  LEFT JOIN LATERAL (
	   SELECT r.status, r.started_at, r.message
		 FROM steward.job_run r
		WHERE r.job_id = j.job_id
		ORDER BY r.run_id DESC
		LIMIT 1) lr ON true
 WHERE pg_catalog.pg_has_role(j.owner, 'USAGE');

COMMENT ON VIEW steward.jobs IS
'jobs you can manage, with their next run, last outcome and counters';

GRANT SELECT ON steward.jobs TO PUBLIC;
