-- pg_steward 0.1.0 -> 0.2.0: every change made to schema/ since 0.1.0, in
-- the order of the schema/ fragments.  test/t/008_upgrade.pl checks that an
-- install updated with this script is the same as a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.2.0'" to load this file. \quit

-- Every object below is schema-qualified; nothing depends on the caller's path.
SET LOCAL search_path = pg_catalog, pg_temp;

-- Three functions gain a parameter, so they are dropped and created again
-- with the privileges of a fresh install.  Privileges changed on them since
-- installation (GRANT or REVOKE) would be lost silently: name them so they
-- can be changed again on the new functions.  (Re-granting them here would
-- record them as the extension's initial privileges, which pg_dump leaves
-- out, so a restore would lose them.)
DO $$
DECLARE
	f record;
BEGIN
	FOR f IN
		SELECT p.oid::pg_catalog.regprocedure AS old_function, n.new_function,
			   COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))::text AS now_acl,
			   COALESCE(i.initprivs, pg_catalog.acldefault('f', p.proowner))::text AS initial_acl
		  FROM (VALUES
				('steward.alter_job(text, text, text, bool, text, interval, int)',
				 'steward.alter_job(text, text, text, bool, text, interval, int, interval)'),
				('steward.partition_table(regclass, text, text, int, text, text, text, bool, text, text)',
				 'steward.partition_table(regclass, text, text, int, text, text, text, bool, text, text, text)'),
				('steward.partition_alter(regclass, int, text, text, text)',
				 'steward.partition_alter(regclass, int, text, text, text, text)'))
			   AS n(old_function, new_function)
		  JOIN pg_catalog.pg_proc p ON p.oid = n.old_function::pg_catalog.regprocedure
		  LEFT JOIN pg_catalog.pg_init_privs i
			ON i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND i.objoid = p.oid
		   AND i.objsubid = 0
	LOOP
		IF f.now_acl <> f.initial_acl THEN
			RAISE WARNING 'privileges on % were changed after installation and are not carried over to %',
				f.old_function, f.new_function
				USING DETAIL = pg_catalog.format('They were %s; the new function has %s.',
												 f.now_acl, f.initial_acl),
					  HINT = 'Repeat the GRANT or REVOKE on the new function.';
		END IF;
	END LOOP;
END
$$;

-- 40_jobs: job names are unique per owner, and each job records its owner's
-- name so that a job whose owner OID is reused by another role never runs.

-- A job whose owner no longer exists (dropped in another database) gets an
-- empty name, which no role can have: it stays, and never runs.
ALTER TABLE steward.job ADD COLUMN owner_name name;
UPDATE steward.job j
   SET owner_name = COALESCE((SELECT a.rolname FROM pg_catalog.pg_roles a
							   WHERE a.oid = j.owner::pg_catalog.oid), '');
ALTER TABLE steward.job ALTER COLUMN owner_name SET NOT NULL;
ALTER TABLE steward.job
	DROP CONSTRAINT job_job_name_key,
	ADD CONSTRAINT job_owner_job_name_key UNIQUE (owner, job_name);

COMMENT ON COLUMN steward.job.owner_name IS
'the owner''s name when the job was scheduled (kept by ALTER ROLE ... RENAME and REASSIGN OWNED in this database); a job whose owner OID now names another role, or no role, never runs';

-- Built-in jobs are marked; pg_dump keeps every other job (features create
-- jobs of their own kinds), not only those of kind sql.
ALTER TABLE steward.job ADD COLUMN builtin boolean NOT NULL DEFAULT false;
UPDATE steward.job SET builtin = true
 WHERE (job_name, kind) IN (('partition_maintenance', 'partition_maintenance'),
						   ('row_retention', 'row_retention'));
SELECT pg_catalog.pg_extension_config_dump('steward.job', 'WHERE NOT builtin');

COMMENT ON COLUMN steward.job.builtin IS
'created by the extension (one per kind that maintains the database); never replaced by schedule(), kept out of pg_dump';

CREATE FUNCTION steward.scheduler_passes()
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_scheduler_passes'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.scheduler_passes() IS
'scheduling passes completed by this database''s scheduler since it started; NULL if none runs';

CREATE FUNCTION steward.job_kinds(
	OUT kind text, OUT takes_command bool, OUT description text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'steward_job_kinds'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.job_kinds() IS
'the registered job kinds: whether their jobs run a command, and what they do';

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

-- why the scheduler skips the job, if it does
ALTER TABLE steward.job_state ADD COLUMN problem text;

-- alter_job() gains retry_delay.
DROP FUNCTION steward.alter_job(text, text, text, bool, text, interval, int);

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

REVOKE ALL ON FUNCTION
	steward.alter_job(text, text, text, bool, text, interval, int, interval)
FROM PUBLIC;

-- steward.jobs: a job the scheduler skips has no next run, and says why.
CREATE OR REPLACE VIEW steward.jobs WITH (security_barrier) AS
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

-- 50_partitions: the last successful maintenance and the skips since the
-- last maintenance; row-level security; retention_schema in the API.

-- A set whose last maintenance ended 'ok' was last maintained successfully
-- then.
ALTER TABLE steward.partition_state
	ADD COLUMN last_ok_at timestamptz,
	ADD COLUMN skipped_runs int NOT NULL DEFAULT 0;
UPDATE steward.partition_state SET last_ok_at = last_maintained_at
 WHERE last_status = 'ok';

-- Ordinary roles see only the sets of tables whose owner's privileges they
-- have; the API functions make every change.
ALTER TABLE steward.partition_set ENABLE ROW LEVEL SECURITY;
ALTER TABLE steward.partition_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY partition_set_owner ON steward.partition_set FOR SELECT
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   WHERE c.oid = parent::pg_catalog.oid), 'USAGE'));
CREATE POLICY partition_state_owner ON steward.partition_state FOR SELECT
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   WHERE c.oid = parent::pg_catalog.oid), 'USAGE'));

-- partition_table() and partition_alter() gain retention_schema.
DROP FUNCTION steward.partition_table(regclass, text, text, int, text, text, text, bool, text, text);

CREATE FUNCTION steward.partition_table(
	parent regclass, control text, step text, premake int DEFAULT 4,
	start_at text DEFAULT NULL, retention text DEFAULT NULL,
	retention_mode text DEFAULT 'drop', default_partition bool DEFAULT true,
	name_template text DEFAULT NULL, timezone text DEFAULT 'UTC',
	retention_schema text DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'steward_partition_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_table(regclass, text, text, int, text, text, text, bool, text, text, text) IS
'make a RANGE-partitioned table a managed partition set; returns the number of partitions created';

DROP FUNCTION steward.partition_alter(regclass, int, text, text, text);

CREATE FUNCTION steward.partition_alter(
	parent regclass, premake int DEFAULT NULL, retention text DEFAULT NULL,
	retention_mode text DEFAULT NULL, name_template text DEFAULT NULL,
	retention_schema text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_partition_alter'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_alter(regclass, int, text, text, text, text) IS
'change a set''s policy (retention or retention_schema ''none'' removes it); applied at the next maintenance';

-- security_barrier: the filter runs before any function of the caller's query
CREATE OR REPLACE VIEW steward.partition_status WITH (security_barrier) AS
SELECT s.parent, s.step, i.premade_until, i.periods_ahead, i.oldest_bound,
	   i.partitions, i.rows_in_default, st.last_maintained_at, st.last_status,
	   st.last_message, st.last_ok_at, st.skipped_runs
  FROM steward.partition_set s
  LEFT JOIN steward.partition_state st ON st.parent = s.parent
  LEFT JOIN LATERAL steward.partition_info(s.parent) i ON true
 WHERE pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								 WHERE c.oid = s.parent::pg_catalog.oid), 'USAGE');

-- 60_retention: row-level security.
ALTER TABLE steward.retention ENABLE ROW LEVEL SECURITY;
CREATE POLICY retention_owner ON steward.retention FOR SELECT
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   WHERE c.oid = tbl::pg_catalog.oid), 'USAGE'));

-- security_barrier: the filter runs before any function of the caller's query
CREATE OR REPLACE VIEW steward.retentions WITH (security_barrier) AS
SELECT r.tbl, r.time_column, r.keep, r.batch_rows,
	   GREATEST(c.reltuples, 0)::bigint AS estimated_rows,
	   EXISTS (SELECT FROM pg_catalog.pg_index i
				JOIN pg_catalog.pg_attribute a
				  ON a.attrelid = r.tbl::pg_catalog.oid AND a.attname = r.time_column
			   WHERE i.indrelid = r.tbl::pg_catalog.oid AND i.indisvalid
				 AND i.indkey[0] = a.attnum) AS indexed,
	   r.created_at
  FROM steward.retention r
  JOIN pg_catalog.pg_class c ON c.oid = r.tbl::pg_catalog.oid
 WHERE pg_catalog.pg_has_role(c.relowner, 'USAGE');
