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
-- Audit: policies, the log (a partition set), statement texts, seals.

CREATE TABLE steward.audit_policy (
	tbl			regclass PRIMARY KEY,
	exclude_columns text[] NOT NULL DEFAULT '{}',
	hash_columns text[] NOT NULL DEFAULT '{}',
	operations	text[] NOT NULL DEFAULT '{INSERT,UPDATE,DELETE,TRUNCATE}',
	skip_unchanged boolean NOT NULL DEFAULT true,
	capture_query boolean NOT NULL DEFAULT false,
	enabled_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE steward.audit_policy IS
'audited tables and their policy; change them with steward.audit_enable() and audit_disable()';

SELECT pg_catalog.pg_extension_config_dump('steward.audit_policy', '');
ALTER TABLE steward.audit_policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_policy_owner ON steward.audit_policy FOR SELECT
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   WHERE c.oid = tbl::pg_catalog.oid), 'USAGE'));
REVOKE ALL ON steward.audit_policy FROM PUBLIC;
GRANT SELECT ON steward.audit_policy TO PUBLIC;

-- Statement texts, stored once per distinct text (capture_query).
CREATE TABLE steward.audit_query (
	query_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	query_hash	bytea NOT NULL,
	query		text NOT NULL,
	first_seen	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Not unique: a unique index would make a session wait for any other
-- transaction that stored the same text and is still open.  Transactions
-- that meet a new text at the same time may each store it.
CREATE INDEX audit_query_hash_idx ON steward.audit_query (query_hash);

COMMENT ON TABLE steward.audit_query IS
'the text of audited statements, once per distinct text; steward.audit_log.query_id refers to it';

-- The log.  Written only by the audit trigger, with the extension's rights;
-- nobody may change it, and reading it takes an explicit GRANT (docs/audit.md).
-- Partitioned by day once the first table is audited (steward.audit_retention);
-- the default partition takes rows for which no partition exists yet.
CREATE SEQUENCE steward.audit_event_id_seq;

CREATE TABLE steward.audit_log (
	event_id	bigint NOT NULL DEFAULT pg_catalog.nextval('steward.audit_event_id_seq'),
	logged_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	txid		xid8 NOT NULL,
	relid		oid NOT NULL,
	schema_name text NOT NULL,		-- text, not name: 64 bytes each per row
	table_name	text NOT NULL,
	op			text NOT NULL,
	row_key		jsonb,
	old_values	jsonb,
	new_values	jsonb,
	changed_columns text[],
	db_user		text NOT NULL,
	"session_user" text NOT NULL,
	app_user	text,
	application_name text,
	client_addr inet,
	backend_pid int NOT NULL,
	query_id	bigint
) PARTITION BY RANGE (logged_at);

CREATE TABLE steward.audit_log_default PARTITION OF steward.audit_log DEFAULT;

-- one row's versions (audit_history, audit_row_as_of); sealing by transaction
CREATE INDEX audit_log_row_idx ON steward.audit_log (relid, row_key, event_id);
CREATE INDEX audit_log_txid_idx ON steward.audit_log (txid);

COMMENT ON TABLE steward.audit_log IS
'row changes of audited tables (who, when, what), and DDL with steward.audit_ddl; sealed into a hash chain by the audit_seal job';

REVOKE ALL ON steward.audit_log, steward.audit_log_default, steward.audit_query,
	steward.audit_event_id_seq FROM PUBLIC;

-- Seals: a SHA-256 chain over the log, by ranges of finished transactions.
CREATE TABLE steward.audit_seal (
	seal_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	txid_from	xid8 NOT NULL,		-- covers txid_from <= txid < txid_to
	txid_to		xid8 NOT NULL,
	row_count	bigint NOT NULL,
	first_event_id bigint,
	last_event_id bigint,
	min_logged_at timestamptz,
	max_logged_at timestamptz,
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL,
	sealed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK (txid_from < txid_to)
);

COMMENT ON TABLE steward.audit_seal IS
'the hash chain over steward.audit_log: each seal covers the rows of the transactions in [txid_from, txid_to)';

-- The digest of every sealed row, so that verification names the first bad
-- row; partitioned like the log, and dropped with it by retention.
CREATE TABLE steward.audit_seal_digest (
	seal_id		bigint NOT NULL,
	event_id	bigint NOT NULL,
	txid		xid8 NOT NULL,
	logged_at	timestamptz NOT NULL,
	digest		bytea NOT NULL
) PARTITION BY RANGE (logged_at);

CREATE TABLE steward.audit_seal_digest_default PARTITION OF steward.audit_seal_digest DEFAULT;
CREATE INDEX audit_seal_digest_seal_idx ON steward.audit_seal_digest (seal_id, event_id);

REVOKE ALL ON steward.audit_seal, steward.audit_seal_digest,
	steward.audit_seal_digest_default FROM PUBLIC;

-- pg_dump keeps the log, its seals and its numbering.  The daily partitions
-- are made later, not by this script: pg_dump dumps them with their rows
-- like any table.  The tables and sequences of the extension are dumped
-- only if marked so.
SELECT pg_catalog.pg_extension_config_dump('steward.audit_log_default', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_query', '');
SELECT pg_catalog.pg_extension_config_dump(
	pg_catalog.pg_get_serial_sequence('steward.audit_query', 'query_id'), '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_seal', '');
SELECT pg_catalog.pg_extension_config_dump(
	pg_catalog.pg_get_serial_sequence('steward.audit_seal', 'seal_id'), '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_seal_digest_default', '');

-- API.
CREATE FUNCTION steward.audit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'steward_audit_trigger'
LANGUAGE C;

COMMENT ON FUNCTION steward.audit_trigger() IS
'the audit trigger (installed by steward.audit_enable(); writes steward.audit_log)';

CREATE FUNCTION steward.audit_enable(
	tbl regclass, exclude_columns text[] DEFAULT '{}', hash_columns text[] DEFAULT '{}',
	operations text[] DEFAULT '{INSERT,UPDATE,DELETE,TRUNCATE}',
	skip_unchanged bool DEFAULT true, capture_query bool DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_audit_enable'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.audit_enable(regclass, text[], text[], text[], bool, bool) IS
'audit a table (a partitioned table: and all its partitions); calling it again changes the policy';

CREATE FUNCTION steward.audit_disable(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_audit_disable'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.audit_disable(regclass) IS
'stop auditing a table; its log rows stay';

CREATE VIEW steward.audited_tables WITH (security_barrier) AS
SELECT p.tbl,
	   p.operations,
	   p.exclude_columns,
	   p.hash_columns,
	   p.skip_unchanged,
	   p.capture_query,
	   p.enabled_at,
	   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t
		 WHERE t.tgrelid = p.tbl::pg_catalog.oid
		   AND t.tgfoid = 'steward.audit_trigger()'::pg_catalog.regprocedure) AS triggers,
	   COALESCE((SELECT pg_catalog.bool_and(t.tgenabled <> 'D') FROM pg_catalog.pg_trigger t
				  WHERE t.tgrelid = p.tbl::pg_catalog.oid
					AND t.tgfoid = 'steward.audit_trigger()'::pg_catalog.regprocedure), false)
		   AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t
				 WHERE t.tgrelid = p.tbl::pg_catalog.oid
				   AND t.tgfoid = 'steward.audit_trigger()'::pg_catalog.regprocedure)
			   = pg_catalog.cardinality(p.operations) AS active
  FROM steward.audit_policy p
 WHERE pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
							   WHERE c.oid = p.tbl::pg_catalog.oid), 'USAGE');

COMMENT ON VIEW steward.audited_tables IS
'audited tables you own, with their policy and whether their triggers are present and enabled (active)';

GRANT SELECT ON steward.audited_tables TO PUBLIC;

-- History: read as the caller, who needs SELECT on steward.audit_log.  A
-- partitioned table's history includes what statements naming one of its
-- partitions logged (under the partition's relid).
CREATE FUNCTION steward.audit_history(tbl regclass, key jsonb)
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM steward.audit_log l
	 WHERE l.relid = ANY (ARRAY[tbl::pg_catalog.oid] ||
						  ARRAY(SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(tbl) t))
	   AND l.row_key = key
	 ORDER BY l.event_id
$$;

COMMENT ON FUNCTION steward.audit_history(regclass, jsonb) IS
'the versions of one row (by its key, e.g. ''{"id": 42}''), oldest first; a partitioned table''s include its partitions''';

CREATE FUNCTION steward.audit_row_as_of(tbl regclass, key jsonb, at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'steward_audit_row_as_of'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.audit_row_as_of(regclass, jsonb, timestamptz) IS
'the row (its audited columns) as it was at that time; NULL if it did not exist then (not yet inserted, deleted or truncated)';

CREATE FUNCTION steward.audit_changes(tbl regclass, since timestamptz,
									  until timestamptz DEFAULT pg_catalog.now())
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM steward.audit_log l
	 WHERE l.relid = ANY (ARRAY[tbl::pg_catalog.oid] ||
						  ARRAY(SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(tbl) t))
	   AND l.logged_at >= since AND l.logged_at <= until
	 ORDER BY l.event_id DESC
$$;

COMMENT ON FUNCTION steward.audit_changes(regclass, timestamptz, timestamptz) IS
'what changed in a table (a partitioned table: and its partitions) in a time window, newest first';

-- Sealing and verification.
CREATE FUNCTION steward.audit_seal_now()
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_audit_seal_now'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.audit_seal_now() IS
'seal the audit rows of finished transactions into the hash chain now; returns the rows sealed';

CREATE FUNCTION steward.audit_verify(since timestamptz DEFAULT NULL,
	OUT seal_id bigint, OUT ok bool, OUT rows_checked bigint,
	OUT first_bad_event_id bigint, OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'steward_audit_verify'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.audit_verify(timestamptz) IS
'recompute the hash chain from the oldest remaining seal (or seals since a time) and report rows changed, deleted or added after sealing';

CREATE FUNCTION steward.audit_seal_head()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.encode(s.hash, 'hex') FROM steward.audit_seal s
	 ORDER BY s.seal_id DESC LIMIT 1
$$;

COMMENT ON FUNCTION steward.audit_seal_head() IS
'the latest seal''s hash (hex), to be kept outside the database';

REVOKE ALL ON FUNCTION steward.audit_seal_now(), steward.audit_verify(timestamptz),
	steward.audit_seal_head() FROM PUBLIC;

-- Built-in job: seal new audit rows every minute.  Disabled until the first
-- table is audited (audit_enable() enables it), so that a database that
-- audits nothing starts no runner for it.
INSERT INTO steward.job (job_name, kind, schedule, command, owner, builtin, enabled)
SELECT 'audit_seal', 'audit_seal', '60 seconds', '',
	   r.oid::pg_catalog.regrole, true, false
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;

-- DDL capture (steward.audit_ddl): one row per command, op = 'DDL'.
CREATE FUNCTION steward.audit_ddl_trigger()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'steward_audit_ddl_trigger'
LANGUAGE C;

COMMENT ON FUNCTION steward.audit_ddl_trigger() IS
'records DDL in steward.audit_log while steward.audit_ddl is on';

CREATE EVENT TRIGGER steward_audit_ddl ON ddl_command_end
	EXECUTE FUNCTION steward.audit_ddl_trigger();
CREATE EVENT TRIGGER steward_audit_drop ON sql_drop
	EXECUTE FUNCTION steward.audit_ddl_trigger();
