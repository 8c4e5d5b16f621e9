-- Audit: policies, the log (a partition set), statement texts, seals.

CREATE TABLE steward.audit_policy (
	tbl			regclass PRIMARY KEY,
	exclude_columns text[] NOT NULL DEFAULT '{}',
	hash_columns text[] NOT NULL DEFAULT '{}',
	operations	text[] NOT NULL DEFAULT '{INSERT,UPDATE,DELETE,TRUNCATE}',
	skip_unchanged boolean NOT NULL DEFAULT true,
	capture_query boolean NOT NULL DEFAULT false,
	enabled_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- every OID the table and its partitions had (a restore gives new ones):
	-- the log names tables by OID, history looks under all of them
	relids		oid[] NOT NULL DEFAULT '{}'
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
	-- the trigger takes one value of the sequence per 1,024 rows (writer.c)
	event_id	bigint NOT NULL DEFAULT pg_catalog.nextval('steward.audit_event_id_seq') * 1024,
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

-- What the history index orders a row's key by (a key of one integer
-- column: itself; any other: its hash).  Comparing bigints rather than jsonb
-- keeps the cost of an index entry low.  A C function that looks nothing
-- up: it sets no search_path, which would cost a call in every entry.
CREATE FUNCTION steward.audit_key_hash(key jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_audit_key_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION steward.audit_key_hash(jsonb) IS
'the history index''s order of a row key: a key of one integer column is its value, another its hash';

-- The log has no B-tree: an entry per row, at a random place for random
-- keys, was half of what the trigger cost a written row.  A BRIN index costs
-- a writer next to nothing (the log is appended to, so txid and logged_at
-- follow the heap order) and the seal summarizes new block ranges after each
-- run.  Sealing reads the log by ranges of transactions; a row's sealed
-- versions are found through the seal digests (steward.audit_seal_digest)
-- and its newer ones by txid; audit_changes() by logged_at.  xid8 has no
-- BRIN operator class of its own in PostgreSQL 14-17.
CREATE OPERATOR CLASS steward.xid8_minmax_ops FOR TYPE xid8 USING brin AS
	OPERATOR 1 pg_catalog.< (xid8, xid8),
	OPERATOR 2 pg_catalog.<= (xid8, xid8),
	OPERATOR 3 pg_catalog.= (xid8, xid8),
	OPERATOR 4 pg_catalog.>= (xid8, xid8),
	OPERATOR 5 pg_catalog.> (xid8, xid8),
	FUNCTION 1 pg_catalog.brin_minmax_opcinfo(internal),
	FUNCTION 2 pg_catalog.brin_minmax_add_value(internal, internal, internal, internal),
	FUNCTION 3 pg_catalog.brin_minmax_consistent(internal, internal, internal),
	FUNCTION 4 pg_catalog.brin_minmax_union(internal, internal, internal);
CREATE INDEX audit_log_txid_idx ON steward.audit_log
	USING brin (txid steward.xid8_minmax_ops, logged_at);

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
	era			bigint NOT NULL DEFAULT 0,	-- the first event id of its era
	CHECK (txid_from < txid_to)
);

COMMENT ON TABLE steward.audit_seal IS
'the hash chain over steward.audit_log: each seal covers the rows of its era (by event id) of the transactions in [txid_from, txid_to)';

-- Eras: the clusters the log was written in (src/audit/era.c).  Transaction
-- ids mean something only in the cluster that assigned them; after a
-- restore into another cluster, event ids tell the eras' rows apart.
CREATE TABLE steward.audit_era (
	first_event_id bigint PRIMARY KEY,	-- up to the next era's
	system_identifier bigint NOT NULL,	-- pg_control_system()'s
	started_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	closed_at	timestamptz			-- an earlier era, all of its rows sealed
);

COMMENT ON TABLE steward.audit_era IS
'the clusters steward.audit_log was written in: an era''s rows have event ids from first_event_id up to the next era''s';

-- The digest of every sealed row, so that verification names the first bad
-- row; partitioned like the log, and dropped with it by retention.
CREATE TABLE steward.audit_seal_digest (
	seal_id		bigint NOT NULL,
	event_id	bigint NOT NULL,
	txid		xid8 NOT NULL,
	logged_at	timestamptz NOT NULL,
	digest		bytea NOT NULL,
	relid		oid,				-- the row's table and key, for history:
	key_hash	bigint,				-- steward.audit_key_hash(row_key)
	log_tid		tid					-- where the row was when sealed
) PARTITION BY RANGE (logged_at);

CREATE TABLE steward.audit_seal_digest_default PARTITION OF steward.audit_seal_digest DEFAULT;
CREATE INDEX audit_seal_digest_seal_idx ON steward.audit_seal_digest (seal_id, event_id);
-- The history index: one row's sealed versions.  The seal writes it, in
-- bulk, instead of the trigger row by row.
CREATE INDEX audit_seal_digest_key_idx ON steward.audit_seal_digest (relid, key_hash, event_id);

REVOKE ALL ON steward.audit_seal, steward.audit_era, steward.audit_seal_digest,
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
SELECT pg_catalog.pg_extension_config_dump('steward.audit_era', '');

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

-- History: read as the caller, who needs SELECT on the log (docs/audit.md).  A partitioned table's history includes what statements
-- naming one of its partitions logged (under the partition's relid).
--
-- What history needs of the seal tables, for whoever may read the log.
CREATE FUNCTION steward.audit_sealed_versions(rels oid[], key jsonb, truncates boolean,
											   era_start bigint, sealed_to xid8)
RETURNS TABLE (event_id bigint, txid xid8, logged_at timestamptz, log_tid tid)
AS 'MODULE_PATHNAME', 'steward_audit_sealed_versions'
LANGUAGE C STABLE ROWS 10;

COMMENT ON FUNCTION steward.audit_sealed_versions(oid[], jsonb, boolean, bigint, xid8) IS
'the log rows of these tables sealed by the bound of audit_sealed_to() whose key hashes like this key (recheck row_key), with truncates also their rows without a key, and where each was when sealed';

CREATE FUNCTION steward.audit_relids(tbl regclass)
RETURNS oid[]
AS 'MODULE_PATHNAME', 'steward_audit_relids'
LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION steward.audit_relids(regclass) IS
'the OIDs under which the log may name this table: its own, its partitions'', and those it had before a restore';

CREATE FUNCTION steward.audit_sealed_to(OUT era_start bigint, OUT sealed_to xid8)
RETURNS record
AS 'MODULE_PATHNAME', 'steward_audit_sealed_to'
LANGUAGE C STABLE;

COMMENT ON FUNCTION steward.audit_sealed_to() IS
'the log is sealed for every row of an era before era_start and for the rows of that era (this cluster''s) of transactions below sealed_to';

-- A row's versions: the sealed ones through the digests' history index,
-- then at the place the seal saw them (a log restored by pg_restore or
-- rewritten has moved them: then by transaction, through the BRIN index);
-- the ones not sealed yet by transaction, from the end of the log.
-- 'truncates' adds the table's TRUNCATE rows (audit_row_as_of).
CREATE FUNCTION steward.audit_versions(tbl regclass, key jsonb, truncates boolean DEFAULT false)
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
	WITH r AS MATERIALIZED (
		SELECT steward.audit_relids(tbl) AS rels, b.era_start, b.sealed_to
		  FROM steward.audit_sealed_to() b),
	v AS MATERIALIZED (
		SELECT v.* FROM r,
			   steward.audit_sealed_versions(r.rels, key, truncates, r.era_start, r.sealed_to) v),
	at_tid AS MATERIALIZED (
		SELECT l.* FROM v JOIN steward.audit_log l
			ON l.ctid = v.log_tid AND l.logged_at = v.logged_at AND l.event_id = v.event_id),
	rows AS (
		SELECT * FROM at_tid
		UNION ALL
		SELECT l.* FROM v JOIN steward.audit_log l
			ON l.logged_at = v.logged_at AND l.txid = v.txid AND l.event_id = v.event_id
		 WHERE NOT EXISTS (SELECT FROM at_tid a WHERE a.event_id = v.event_id)
		UNION ALL
		SELECT l.* FROM r, steward.audit_log l
		 WHERE l.txid >= r.sealed_to AND l.event_id >= r.era_start AND l.relid = ANY (r.rels))
	SELECT * FROM rows
	 WHERE rows.row_key = key OR (truncates AND rows.op = 'TRUNCATE')
$$;

COMMENT ON FUNCTION steward.audit_versions(regclass, jsonb, boolean) IS
'the log rows of one row (by its key), in no order; with truncates, also the table''s TRUNCATE rows';

CREATE FUNCTION steward.audit_history(tbl regclass, key jsonb)
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM steward.audit_versions(tbl, key) ORDER BY event_id
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
