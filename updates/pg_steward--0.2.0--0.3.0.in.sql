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

-- schema/70_audit.sql: the history index orders keys by
-- steward.audit_key_hash(row_key) (bigint comparisons are much cheaper than
-- jsonb ones when a log row is written).  Rebuilding it reads the whole log.
CREATE FUNCTION steward.audit_key_hash(key jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_audit_key_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION steward.audit_key_hash(jsonb) IS
'the history index''s order of a row key: a key of one integer column is its value, another its hash';

DROP INDEX steward.audit_log_row_idx;
CREATE INDEX audit_log_row_idx ON steward.audit_log
	(relid, steward.audit_key_hash(row_key), event_id);

-- schema/70_audit.sql: the txid index is a BRIN index (sealing).
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
	USING brin (txid steward.xid8_minmax_ops);

CREATE OR REPLACE FUNCTION steward.audit_history(tbl regclass, key jsonb)
RETURNS SETOF steward.audit_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM steward.audit_log l
	 WHERE l.relid = ANY (ARRAY[tbl::pg_catalog.oid] ||
						  ARRAY(SELECT t.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(tbl) t))
	   AND steward.audit_key_hash(l.row_key) = steward.audit_key_hash(key)
	   AND l.row_key = key
	 ORDER BY l.event_id
$$;
