-- pg_steward install script, assembled by the Makefile from schema/*.sql.
\echo Use "CREATE EXTENSION pg_steward" to load this file. \quit

-- Every object below is schema-qualified; nothing depends on the caller's path.
SET LOCAL search_path = pg_catalog, pg_temp;
-- Core: version and settings.

CREATE FUNCTION steward.version()
RETURNS text
AS 'MODULE_PATHNAME', 'steward_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION steward.version() IS
'version of the loaded pg_steward library';

-- The first statement loads the library so the steward.* settings exist even
-- in a session of a server that does not preload it.
CREATE FUNCTION steward.settings_internal(
	OUT name text, OUT value text, OUT unit text, OUT context text,
	OUT description text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT steward.version();
SELECT s.name, s.setting, s.unit, s.context, s.short_desc
  FROM pg_catalog.pg_settings s
 WHERE s.name LIKE 'steward.%'
 ORDER BY s.name;
$$;

CREATE VIEW steward.settings AS
SELECT name, value, unit, context, description
  FROM steward.settings_internal();

COMMENT ON VIEW steward.settings IS
'the steward.* settings with their current value, unit, context and description';

GRANT USAGE ON SCHEMA steward TO PUBLIC;
GRANT SELECT ON steward.settings TO PUBLIC;
-- Schedules: cron expressions, @macros and fixed intervals (src/cron.c).

-- Not STRICT: a NULL time zone selects the steward.timezone setting.  A NULL
-- schedule, "after" or count returns no rows.
CREATE FUNCTION steward.next_runs(
	schedule text,
	after timestamptz DEFAULT now(),
	count integer DEFAULT 5,
	timezone text DEFAULT NULL)
RETURNS SETOF timestamptz
AS 'MODULE_PATHNAME', 'steward_next_runs'
LANGUAGE C STABLE PARALLEL SAFE ROWS 5;

COMMENT ON FUNCTION steward.next_runs(text, timestamptz, integer, text) IS
'next "count" (0-100000) run times of a schedule strictly after "after", in '
'"timezone" (default: the steward.timezone setting); a schedule is five cron '
'fields, a macro such as @daily, or an interval such as ''5 minutes''';

CREATE FUNCTION steward.check_schedule(schedule text)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_check_schedule'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION steward.check_schedule(text) IS
'raise an error (SQLSTATE 22023) if a schedule is not valid';
-- Scheduler: job catalog, run history, API and the jobs view.

CREATE TABLE steward.job (
	job_id		bigserial PRIMARY KEY,
	job_name	text NOT NULL UNIQUE,
	kind		text NOT NULL DEFAULT 'sql',
	schedule	text NOT NULL,
	command		text NOT NULL DEFAULT '',
	config		jsonb NOT NULL DEFAULT '{}',
	owner		regrole NOT NULL,
	enabled		boolean NOT NULL DEFAULT true,
	timezone	text,
	max_runtime interval CHECK (max_runtime > interval '0'),
	max_retries int NOT NULL DEFAULT 0 CHECK (max_retries BETWEEN 0 AND 100),
	retry_delay interval NOT NULL DEFAULT interval '1 minute'
				CHECK (retry_delay >= interval '0'),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK (job_name <> '')
);

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
	skipped_runs bigint NOT NULL DEFAULT 0
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
	max_runtime interval DEFAULT NULL, max_retries int DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_alter_job'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.alter_job(text, text, text, bool, text, interval, int) IS
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

-- Job management is for roles that are granted it.
REVOKE ALL ON FUNCTION
	steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.unschedule(text),
	steward.alter_job(text, text, text, bool, text, interval, int),
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
	   CASE WHEN j.enabled THEN
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
	   j.command
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
-- Partition sets: catalog, API, status view and the maintenance job.

CREATE TABLE steward.partition_set (
	parent		regclass PRIMARY KEY,
	control		text NOT NULL,
	step		text NOT NULL,
	premake		int NOT NULL CHECK (premake BETWEEN 1 AND 1000),
	retention	text,
	retention_mode text NOT NULL DEFAULT 'drop'
				CHECK (retention_mode IN ('drop', 'detach', 'detach_concurrently')),
	retention_schema text,
	default_partition boolean NOT NULL DEFAULT true,
	name_template text NOT NULL,
	timezone	text NOT NULL DEFAULT 'UTC',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE steward.partition_set IS
'partition sets; change them with steward.partition_table(), partition_alter() and partition_forget()';

CREATE TABLE steward.partition_state (
	parent		regclass PRIMARY KEY,
	last_maintained_at timestamptz,
	last_status text,
	last_message text,
	-- internal: pg_inherits rows and configuration seen by the last
	-- maintenance, and the point of the control column before which the set
	-- needs no work while they stay the same
	fingerprint bigint,
	quiet_until bigint
);

SELECT pg_catalog.pg_extension_config_dump('steward.partition_set', '');

REVOKE ALL ON steward.partition_set, steward.partition_state FROM PUBLIC;
GRANT SELECT ON steward.partition_set, steward.partition_state TO PUBLIC;

CREATE FUNCTION steward.partition_table(
	parent regclass, control text, step text, premake int DEFAULT 4,
	start_at text DEFAULT NULL, retention text DEFAULT NULL,
	retention_mode text DEFAULT 'drop', default_partition bool DEFAULT true,
	name_template text DEFAULT NULL, timezone text DEFAULT 'UTC')
RETURNS int
AS 'MODULE_PATHNAME', 'steward_partition_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_table(regclass, text, text, int, text, text, text, bool, text, text) IS
'make a RANGE-partitioned table a managed partition set; returns the number of partitions created';

CREATE FUNCTION steward.partition_maintain(
	parent regclass DEFAULT NULL,
	OUT parent regclass, OUT created int, OUT detached int, OUT dropped int,
	OUT archived int, OUT status text, OUT message text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'steward_partition_maintain'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_maintain(regclass) IS
'create missing partitions and apply retention, for one set or all sets you own';

CREATE FUNCTION steward.partition_alter(
	parent regclass, premake int DEFAULT NULL, retention text DEFAULT NULL,
	retention_mode text DEFAULT NULL, name_template text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_partition_alter'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_alter(regclass, int, text, text, text) IS
'change a set''s policy (retention ''none'' removes it); applied at the next maintenance';

CREATE FUNCTION steward.partition_forget(parent regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_partition_forget'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_forget(regclass) IS
'stop managing a set; no table is touched';

CREATE FUNCTION steward.partition_drain_default(parent regclass, batch_rows int DEFAULT 10000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_partition_drain_default'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_drain_default(regclass, int) IS
'move rows of the default partition into proper partitions, creating them; returns rows moved';

CREATE FUNCTION steward.partition_info(
	parent regclass,
	OUT premade_until text, OUT periods_ahead int, OUT oldest_bound text,
	OUT partitions int, OUT rows_in_default bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'steward_partition_info'
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp;

CREATE VIEW steward.partition_status AS
SELECT s.parent, s.step, i.premade_until, i.periods_ahead, i.oldest_bound,
	   i.partitions, i.rows_in_default, st.last_maintained_at, st.last_status,
	   st.last_message
  FROM steward.partition_set s
  LEFT JOIN steward.partition_state st ON st.parent = s.parent
  LEFT JOIN LATERAL steward.partition_info(s.parent) i ON true;

COMMENT ON VIEW steward.partition_status IS
'partition sets with how far ahead they are premade and their last maintenance';

GRANT SELECT ON steward.partition_status TO PUBLIC;

-- Built-in job: maintain every set every 10 minutes, as the role that
-- created the extension.  Change it with steward.alter_job().
INSERT INTO steward.job (job_name, kind, schedule, command, owner)
SELECT 'partition_maintenance', 'partition_maintenance', '10 minutes', '',
	   r.oid::pg_catalog.regrole
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;

-- pg_dump keeps user jobs; the built-in one is created by the extension.
SELECT pg_catalog.pg_extension_config_dump('steward.job', 'WHERE kind = ''sql''');
-- Row retention for tables that are not partitioned.

CREATE TABLE steward.retention (
	tbl			regclass PRIMARY KEY,
	time_column text NOT NULL,
	keep		interval NOT NULL CHECK (keep > interval '0'),
	batch_rows	int NOT NULL DEFAULT 10000 CHECK (batch_rows > 0),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE steward.retention IS
'plain tables whose old rows the row_retention job deletes; change with steward.retention_add() and retention_remove()';

SELECT pg_catalog.pg_extension_config_dump('steward.retention', '');
REVOKE ALL ON steward.retention FROM PUBLIC;
GRANT SELECT ON steward.retention TO PUBLIC;

CREATE FUNCTION steward.retention_add(tbl regclass, time_column text, keep interval,
									  batch_rows int DEFAULT 10000)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_retention_add'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_add(regclass, text, interval, int) IS
'delete rows of a plain table once time_column is older than keep, in batches of batch_rows';

CREATE FUNCTION steward.retention_remove(tbl regclass)
RETURNS bool
AS 'MODULE_PATHNAME', 'steward_retention_remove'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_remove(regclass) IS
'stop deleting old rows of a table; false if it had no retention';

CREATE FUNCTION steward.retention_run(tbl regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_retention_run'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_run(regclass) IS
'apply one table''s retention now, in this transaction; returns the rows deleted';

CREATE VIEW steward.retentions AS
SELECT r.tbl, r.time_column, r.keep, r.batch_rows,
	   GREATEST(c.reltuples, 0)::bigint AS estimated_rows,
	   EXISTS (SELECT FROM pg_catalog.pg_index i
				JOIN pg_catalog.pg_attribute a
				  ON a.attrelid = r.tbl::pg_catalog.oid AND a.attname = r.time_column
			   WHERE i.indrelid = r.tbl::pg_catalog.oid AND i.indisvalid
				 AND i.indkey[0] = a.attnum) AS indexed,
	   r.created_at
  FROM steward.retention r
  JOIN pg_catalog.pg_class c ON c.oid = r.tbl::pg_catalog.oid;

COMMENT ON VIEW steward.retentions IS
'plain tables under row retention; the row_retention job reports rows deleted per table in steward.job_run.detail';

GRANT SELECT ON steward.retentions TO PUBLIC;

-- Built-in job: apply every table's retention every 10 minutes.
INSERT INTO steward.job (job_name, kind, schedule, command, owner)
SELECT 'row_retention', 'row_retention', '10 minutes', '',
	   r.oid::pg_catalog.regrole
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
