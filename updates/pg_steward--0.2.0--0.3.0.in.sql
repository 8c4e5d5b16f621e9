-- pg_steward 0.2.0 -> 0.3.0: every change made to schema/ since 0.2.0, in
-- the order of the schema/ fragments; the Makefile appends the fragments
-- that are new in 0.3.0 (schema/75_migrations.sql).  test/t/008_upgrade.pl
-- checks that an install updated with this script is the same as a fresh
-- 0.3.0 install.
\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.3.0'" to load this file. \quit

-- Every object below is schema-qualified; nothing depends on the caller's path.
SET LOCAL search_path = pg_catalog, pg_temp;

-- schema/50_partitions.sql: maintenance of every set no longer writes the
-- sets it finds quiet with an 'ok' outcome; it records its time in
-- steward.partition_sweep, and partition_status reads it from there.
-- (The quiet states stored by 0.2.0 no longer match and are recomputed by
-- the next maintenance.)
CREATE TABLE steward.partition_sweep (
	runner		oid PRIMARY KEY,
	swept_at	timestamptz NOT NULL
);
REVOKE ALL ON steward.partition_sweep FROM PUBLIC;

CREATE OR REPLACE VIEW steward.partition_status WITH (security_barrier) AS
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

-- schema/70_audit.sql: the log has no B-tree (its history index cost the
-- trigger half of a written row); the seal digests carry each row's table,
-- key hash and place, and the history index is theirs.  Filling them in
-- reads the whole log once.
CREATE FUNCTION steward.audit_key_hash(key jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_audit_key_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION steward.audit_key_hash(jsonb) IS
'the history index''s order of a row key: a key of one integer column is its value, another its hash';

-- schema/70_audit.sql: event ids are drawn 1,024 to a value of the sequence.
ALTER TABLE steward.audit_log ALTER COLUMN event_id
	SET DEFAULT pg_catalog.nextval('steward.audit_event_id_seq') * 1024;

ALTER TABLE steward.audit_seal_digest
	ADD COLUMN relid oid,
	ADD COLUMN key_hash bigint,
	ADD COLUMN log_tid tid;
UPDATE steward.audit_seal_digest d
   SET relid = l.relid, key_hash = steward.audit_key_hash(l.row_key), log_tid = l.ctid
  FROM steward.audit_log l
 WHERE l.event_id = d.event_id AND l.logged_at = d.logged_at;
CREATE INDEX audit_seal_digest_key_idx ON steward.audit_seal_digest (relid, key_hash, event_id);
DROP INDEX steward.audit_log_row_idx;

-- schema/70_audit.sql: the txid index is a BRIN index (sealing, history),
-- with logged_at (audit_changes).
DROP INDEX steward.audit_log_txid_idx;
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

-- schema/70_audit.sql: eras, one per cluster the log was written in (a
-- log restored into another cluster goes on with that cluster's
-- transaction ids).  Everything logged so far is this cluster's first era.
ALTER TABLE steward.audit_seal ADD COLUMN era bigint NOT NULL DEFAULT 0;
COMMENT ON TABLE steward.audit_seal IS
'the hash chain over steward.audit_log: each seal covers the rows of its era (by event id) of the transactions in [txid_from, txid_to)';
CREATE TABLE steward.audit_era (
	first_event_id bigint PRIMARY KEY,	-- up to the next era's
	system_identifier bigint NOT NULL,	-- pg_control_system()'s
	started_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	closed_at	timestamptz			-- an earlier era, all of its rows sealed
);
COMMENT ON TABLE steward.audit_era IS
'the clusters steward.audit_log was written in: an era''s rows have event ids from first_event_id up to the next era''s';
REVOKE ALL ON steward.audit_era FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('steward.audit_era', '');
INSERT INTO steward.audit_era (first_event_id, system_identifier)
SELECT 0, c.system_identifier FROM pg_catalog.pg_control_system() c;

-- schema/70_audit.sql: the policy remembers the OIDs its table had.
ALTER TABLE steward.audit_policy ADD COLUMN relids oid[] NOT NULL DEFAULT '{}';
UPDATE steward.audit_policy p
   SET relids = ARRAY[p.tbl::pg_catalog.oid] ||
				ARRAY(SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(p.tbl) t
					   WHERE t.relid <> p.tbl);

-- schema/70_audit.sql: history through the seal digests.
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

CREATE OR REPLACE FUNCTION steward.audit_history(tbl regclass, key jsonb)
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM steward.audit_versions(tbl, key) ORDER BY event_id
$$;
