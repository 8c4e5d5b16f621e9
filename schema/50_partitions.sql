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
	-- maintenance, and the instant (microseconds since 2000-01-01 UTC)
	-- before which the set needs no work while they stay the same
	fingerprint bigint,
	quiet_until bigint,
	last_ok_at	timestamptz,		-- last maintenance that ended 'ok'
	skipped_runs int NOT NULL DEFAULT 0	-- skips (set locked) since the last maintenance
);

-- internal: when a maintenance of every set last ran, per role that ran it
-- (0: the job, which looks at every set).  The sets it found as the last
-- maintenance left them, 'ok' with nothing to do, are not written one by
-- one; partition_status takes their last maintenance from here.
CREATE TABLE steward.partition_sweep (
	runner		oid PRIMARY KEY,
	swept_at	timestamptz NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('steward.partition_set', '');

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
REVOKE ALL ON steward.partition_set, steward.partition_state, steward.partition_sweep FROM PUBLIC;
GRANT SELECT ON steward.partition_set, steward.partition_state TO PUBLIC;

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
	retention_mode text DEFAULT NULL, name_template text DEFAULT NULL,
	retention_schema text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_partition_alter'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.partition_alter(regclass, int, text, text, text, text) IS
'change a set''s policy (retention or retention_schema ''none'' removes it); applied at the next maintenance';

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

-- security_barrier: the filter runs before any function of the caller's query.
-- A set left 'ok' with nothing to do was last maintained by the newest
-- sweep that covered it (steward.partition_sweep), if that is newer.
CREATE VIEW steward.partition_status WITH (security_barrier) AS
SELECT s.parent, s.step, i.premade_until, i.periods_ahead, i.oldest_bound,
	   i.partitions, i.rows_in_default,
	   GREATEST(st.last_maintained_at, w.swept_at) AS last_maintained_at,
	   st.last_status, st.last_message,
	   GREATEST(st.last_ok_at, w.swept_at) AS last_ok_at, st.skipped_runs
  FROM steward.partition_set s
  LEFT JOIN steward.partition_state st ON st.parent = s.parent
  LEFT JOIN LATERAL (SELECT max(sw.swept_at) AS swept_at
					   FROM steward.partition_sweep sw
					  WHERE st.last_status = 'ok' AND st.fingerprint IS NOT NULL
						AND (sw.runner = 0 OR
							 pg_catalog.pg_has_role(sw.runner,
													(SELECT c.relowner FROM pg_catalog.pg_class c
													  WHERE c.oid = s.parent::pg_catalog.oid),
													'USAGE'))) w ON true
  LEFT JOIN LATERAL steward.partition_info(s.parent) i ON true
 WHERE pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								 WHERE c.oid = s.parent::pg_catalog.oid), 'USAGE');

COMMENT ON VIEW steward.partition_status IS
'partition sets with how far ahead they are premade and their last maintenance';

GRANT SELECT ON steward.partition_status TO PUBLIC;

-- Built-in job: maintain every set every 10 minutes, as the role that
-- created the extension.  Change it with steward.alter_job().
INSERT INTO steward.job (job_name, kind, schedule, command, owner, builtin)
SELECT 'partition_maintenance', 'partition_maintenance', '10 minutes', '',
	   r.oid::pg_catalog.regrole, true
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
