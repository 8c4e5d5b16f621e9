-- Health checks: row shape, thresholds and statuses computed from them,
-- missing foreign-key indexes with odd identifiers, duplicate and invalid
-- indexes, sequences, the driver's filter and errors, lock_tree's shape,
-- access.  Sessions, locks and the snapshot job are in test/t/090_health.pl.
--
-- Output holds no time, pid, xid or size that varies: rows are filtered to
-- the objects made here.
SET client_min_messages = warning;
CREATE SCHEMA "Sales";
SET search_path = "Sales", public;

-- The history job stays out of this file.
SELECT steward.alter_job('health_snapshot', enabled => false);

-- =====================================================================
-- 1. Shape: every check, one row type, the thresholds table
-- =====================================================================
SELECT count(DISTINCT check_name) AS checks FROM steward.health_threshold;
SELECT check_name, metric, warning, critical, lower_is_worse, unit
  FROM steward.health_threshold ORDER BY check_name, metric;

-- Every check runs, and the driver reports one row at least for each.
SELECT count(DISTINCT check_name) AS checks_reported FROM steward.health('ok');
SELECT h.check_name FROM (SELECT DISTINCT check_name FROM steward.health_threshold) t
  LEFT JOIN steward.health('ok') h USING (check_name) WHERE h.check_name IS NULL;
SELECT pg_typeof(h) AS row_type, count(*) > 0 AS has_rows
  FROM steward.health('ok') h GROUP BY 1;
SELECT status FROM steward.health('ok') WHERE status NOT IN ('ok', 'warning', 'critical', 'unknown');

-- The grade of a value against thresholds.
SELECT v, steward.health_grade(v, 80, 95) AS higher_is_worse,
	   steward.health_grade(v, 99, 95, true) AS lower_is_worse,
	   steward.health_grade(v, NULL, 95) AS no_warning
  FROM unnest(ARRAY[NULL, 50, 80, 94.9, 95, 99, 100]::numeric[]) v;

-- Bad input.
SELECT * FROM steward.health('bad');
SELECT * FROM steward.health_check('no_such_check');

-- =====================================================================
-- 2. Foreign keys without an index: odd identifiers, the exact statement
-- =====================================================================
CREATE TABLE "Sales"."Orders" (id int PRIMARY KEY, "Region" text, "Code" int,
	UNIQUE ("Region", "Code"));
CREATE TABLE "Sales"."Order Items" (
	"Order Id" int REFERENCES "Sales"."Orders",
	"rEgion" text, code int, qty int, note text,
	FOREIGN KEY ("rEgion", code) REFERENCES "Sales"."Orders" ("Region", "Code"));
INSERT INTO "Sales"."Order Items" SELECT NULL, NULL, NULL, g % 10, 'x' FROM generate_series(1, 1000) g;

-- 1 MB by default: these tables are smaller
SELECT * FROM steward.health_check('missing_fk_indexes') WHERE object LIKE '%Sales%';
UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'missing_fk_indexes';
SELECT status, object, hint FROM steward.health_check('missing_fk_indexes')
 WHERE object LIKE '%Sales%' ORDER BY object;
SELECT table_name, constraint_name, referenced_table, columns, create_index
  FROM steward.missing_fk_indexes WHERE table_name LIKE '%Sales%' ORDER BY constraint_name;

-- The hints run as written; an index whose leading columns are the key's,
-- in any order, satisfies the check; a partial index does not.
DO $$
DECLARE s text;
BEGIN
	FOR s IN SELECT create_index FROM steward.missing_fk_indexes WHERE table_name LIKE '%Sales%' LOOP
		EXECUTE replace(s, 'CONCURRENTLY ', '');	-- not in a transaction block
	END LOOP;
END $$;
SELECT count(*) AS missing_after_hints FROM steward.missing_fk_indexes WHERE table_name LIKE '%Sales%';
DROP INDEX "Sales"."Order Items_rEgion_code_idx";
CREATE INDEX oi_code_region ON "Sales"."Order Items" (code, "rEgion", qty);
CREATE INDEX oi_order_partial ON "Sales"."Order Items" ("Order Id") WHERE qty > 0;
DROP INDEX "Sales"."Order Items_Order Id_idx";
SELECT constraint_name FROM steward.missing_fk_indexes WHERE table_name LIKE '%Sales%';
SELECT status FROM steward.health_check('missing_fk_indexes') WHERE object LIKE '%Sales%';
-- disabled: the check reports nothing through health(), and ok alone
UPDATE steward.health_threshold SET enabled = false WHERE check_name = 'missing_fk_indexes';
SELECT count(*) FROM steward.health('ok') WHERE check_name = 'missing_fk_indexes';
UPDATE steward.health_threshold SET enabled = true, warning = 1048576 WHERE check_name = 'missing_fk_indexes';

-- =====================================================================
-- 3. Duplicate, prefix and invalid indexes
-- =====================================================================
CREATE INDEX oi_qty ON "Sales"."Order Items" (qty);
CREATE INDEX "oi qty again" ON "Sales"."Order Items" (qty);
CREATE INDEX oi_qty_note ON "Sales"."Order Items" (qty, note);
CREATE INDEX oi_qty_desc ON "Sales"."Order Items" (qty DESC);			-- another order: kept
CREATE INDEX oi_qty_text ON "Sales"."Order Items" ((qty::text));		-- an expression: not a prefix
CREATE INDEX oi_note_pred ON "Sales"."Order Items" (note) WHERE qty > 5;	-- other predicate
CREATE INDEX oi_note ON "Sales"."Order Items" (note);
SELECT index_name, covered_by, kind, drop_index FROM steward.duplicate_indexes
 WHERE table_name LIKE '%Sales%' ORDER BY index_name, covered_by;
SELECT status, object, hint FROM steward.health_check('duplicate_indexes')
 WHERE object LIKE '%Sales%' ORDER BY object;
-- a unique index is never the redundant one of a pair
CREATE UNIQUE INDEX oi_uq_note_qty ON "Sales"."Order Items" (note, qty, "Order Id");
CREATE INDEX oi_note_qty_id ON "Sales"."Order Items" (note, qty, "Order Id");
SELECT index_name, covered_by, kind FROM steward.duplicate_indexes
 WHERE table_name LIKE '%Sales%' AND index_name LIKE '%note_qty%' ORDER BY 1, 2;

-- A failed unique CREATE INDEX CONCURRENTLY leaves an invalid index.
RESET client_min_messages;
CREATE UNIQUE INDEX CONCURRENTLY "Bad Unique" ON "Sales"."Order Items" (qty);
SET client_min_messages = warning;
SELECT status, object, value, warning, critical, hint FROM steward.health_check('invalid_indexes')
 WHERE object LIKE '%Sales%';
DROP INDEX "Sales"."Bad Unique";
SELECT count(*) AS invalid_left FROM steward.health_check('invalid_indexes') WHERE object LIKE '%Sales%';

-- Unused indexes above 10 MB only (none here); at 0 bytes every unused one.
SELECT count(*) FROM steward.health_check('unused_indexes') WHERE object LIKE '%Sales%';
UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'unused_indexes';
SELECT status, object, hint FROM steward.health_check('unused_indexes')
 WHERE object = '"Sales".oi_qty_text';
UPDATE steward.health_threshold SET warning = 10485760 WHERE check_name = 'unused_indexes';

-- =====================================================================
-- 4. Sequences: a bigint sequence feeding an int column counts by int
-- =====================================================================
CREATE SEQUENCE "Sales"."Ticket Seq" AS bigint;
CREATE TABLE "Sales".tickets (id int DEFAULT nextval('"Sales"."Ticket Seq"'), n smallint GENERATED BY DEFAULT AS IDENTITY);
SELECT setval('"Sales"."Ticket Seq"', 1900000000);		-- 88% of int
SELECT setval(pg_get_serial_sequence('"Sales".tickets', 'n'), 32000);	-- 97.7% of smallint
SELECT sequence_name, table_name, column_name, column_type, sequence_type, limit_value, used_pct
  FROM steward.sequence_usage WHERE sequence_name LIKE '%Sales%' ORDER BY 1;
SELECT status, object, value, hint FROM steward.health_check('sequence_exhaustion')
 WHERE object LIKE '%Sales%' ORDER BY object;
-- thresholds come from the table
UPDATE steward.health_threshold SET warning = 90, critical = 99 WHERE check_name = 'sequence_exhaustion';
SELECT status, object FROM steward.health_check('sequence_exhaustion') WHERE object LIKE '%Sales%' ORDER BY object;
UPDATE steward.health_threshold SET warning = 85, critical = 95 WHERE check_name = 'sequence_exhaustion';

-- =====================================================================
-- 5. Thresholds drive the statuses: connections, wraparound
-- =====================================================================
SELECT status, object FROM steward.health_check('connections');
UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'connections';
SELECT status, object, warning, critical, hint IS NOT NULL AS has_hint FROM steward.health_check('connections');
UPDATE steward.health_threshold SET warning = 0, critical = 0 WHERE check_name = 'connections';
SELECT status FROM steward.health_check('connections');
UPDATE steward.health_threshold SET warning = 80, critical = 95 WHERE check_name = 'connections';

-- xid: ok; with the percent thresholds at 0 every database is critical
SELECT DISTINCT status FROM steward.health_check('xid_wraparound') WHERE object LIKE 'database %';
UPDATE steward.health_threshold SET warning = 0, critical = 0
 WHERE check_name = 'xid_wraparound' AND metric = 'freeze_max_age_pct';
SELECT status, object, warning, critical, hint LIKE 'in database % VACUUM (FREEZE, VERBOSE)%' AS hint_ok
  FROM steward.health_check('xid_wraparound') WHERE object = 'database ' || quote_ident(current_database());
SELECT count(*) BETWEEN 1 AND 5 AS worst_tables, bool_and(hint LIKE 'VACUUM (FREEZE, VERBOSE) %') AS table_hints
  FROM steward.health_check('xid_wraparound') WHERE object LIKE 'table %';
-- the absolute age alone (percent disabled)
UPDATE steward.health_threshold SET enabled = false
 WHERE check_name = 'xid_wraparound' AND metric = 'freeze_max_age_pct';
SELECT DISTINCT status, warning, critical FROM steward.health_check('xid_wraparound') WHERE object LIKE 'database %';
UPDATE steward.health_threshold SET enabled = true, warning = 90, critical = 95
 WHERE check_name = 'xid_wraparound' AND metric = 'freeze_max_age_pct';
UPDATE steward.health_threshold SET warning = 0, critical = NULL
 WHERE check_name = 'multixact_wraparound' AND metric = 'age';
SELECT DISTINCT status FROM steward.health_check('multixact_wraparound') WHERE object LIKE 'database %';
UPDATE steward.health_threshold SET warning = 1300000000, critical = 1400000000
 WHERE check_name = 'multixact_wraparound' AND metric = 'age';

-- the filter: ok < warning < unknown < critical
UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'connections';
SELECT count(*) FILTER (WHERE status = 'ok') AS ok_rows FROM steward.health('warning');
SELECT count(*) > 0 AS has_warning FROM steward.health('warning') WHERE check_name = 'connections';
SELECT count(*) AS at_critical FROM steward.health('critical') WHERE check_name = 'connections';
UPDATE steward.health_threshold SET warning = 80 WHERE check_name = 'connections';

-- =====================================================================
-- 6. Bloat estimates: rows deleted without vacuum leave their pages
-- =====================================================================
CREATE TABLE "Sales".bloated (id int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO "Sales".bloated SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
CREATE INDEX bloated_id ON "Sales".bloated (id);
ANALYZE "Sales".bloated;
SELECT table_name, wasted_pct < 10 AS tight FROM steward.table_bloat WHERE table_name LIKE '%bloated%';
DELETE FROM "Sales".bloated WHERE id % 5 <> 0;
VACUUM "Sales".bloated;		-- frees the space, keeps the pages
ANALYZE "Sales".bloated;
SELECT table_name, wasted_pct BETWEEN 60 AND 90 AS about_80pct FROM steward.table_bloat WHERE table_name LIKE '%bloated%';
SELECT index_name, wasted_pct > 50 AS mostly_empty FROM steward.index_bloat WHERE index_name LIKE '%bloated%';
UPDATE steward.health_threshold SET warning = 0, critical = 1000000000 WHERE check_name IN ('table_bloat', 'index_bloat') AND metric = 'wasted_bytes';
SELECT check_name, status, object, hint FROM steward.health_check('table_bloat') WHERE object LIKE '%bloated%'
UNION ALL
SELECT check_name, status, object, hint FROM steward.health_check('index_bloat') WHERE object LIKE '%bloated%';
-- both bytes and percent must be reached
UPDATE steward.health_threshold SET warning = 95, critical = 95 WHERE check_name = 'table_bloat' AND metric = 'wasted_pct';
SELECT count(*) FROM steward.health_check('table_bloat') WHERE object LIKE '%bloated%';
UPDATE steward.health_threshold SET warning = 104857600, critical = 1073741824
 WHERE check_name IN ('table_bloat', 'index_bloat') AND metric = 'wasted_bytes';
UPDATE steward.health_threshold SET warning = 30, critical = 30 WHERE check_name = 'table_bloat' AND metric = 'wasted_pct';

-- =====================================================================
-- 7. Views and access
-- =====================================================================
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'steward.lock_tree'::regclass AND attnum > 0 ORDER BY attnum;
SELECT count(*) FROM steward.lock_tree;
SELECT status, ok + warning + critical + unknown > 0 AS counted FROM steward.health_summary;

-- Ordinary roles cannot run the checks; pg_monitor members can.
CREATE ROLE health_nobody;
CREATE ROLE health_monitor IN ROLE pg_monitor;
SET ROLE health_nobody;
SELECT count(*) FROM steward.health();
SELECT count(*) FROM steward.lock_tree;
SELECT count(*) FROM steward.health_history;
RESET ROLE;
SET ROLE health_monitor;
SELECT count(DISTINCT check_name) AS checks FROM steward.health('ok');
-- steward's audit log is not theirs to read: that check says unknown, with a hint
SELECT status, detail, hint IS NOT NULL AS has_hint FROM steward.health('ok')
 WHERE check_name IN ('audit_seal', 'migration_drift') AND status = 'unknown' ORDER BY check_name;
SELECT count(*) > 0 AS sees_bloat FROM steward.table_bloat WHERE table_name LIKE '%bloated%';
RESET ROLE;

-- metrics: one status line per check and object, labels escaped
SELECT line FROM unnest(string_to_array(steward.metrics(), E'\n')) line
 WHERE line LIKE '%Sales%' OR line LIKE '# TYPE steward_health_status%' ORDER BY line;

-- The public helpers are inlined with the caller's search_path: a schema
-- that another role controls, placed before pg_catalog, must not get its
-- operators, functions or types run (each raises an error here).
CREATE ROLE health_evil;
CREATE SCHEMA evil AUTHORIZATION health_evil;
SET ROLE health_evil;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql
	AS $$BEGIN RAISE EXCEPTION 'hostile code ran'; END$$;
CREATE FUNCTION evil.t_eq(pg_catalog.text, pg_catalog.text) RETURNS boolean
	LANGUAGE sql AS 'SELECT evil.trap()';
CREATE OPERATOR evil.= (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = evil.t_eq);
CREATE FUNCTION evil.o_eq(pg_catalog.oid, pg_catalog.regclass) RETURNS boolean
	LANGUAGE sql AS 'SELECT evil.trap()';
CREATE OPERATOR evil.= (LEFTARG = pg_catalog.oid, RIGHTARG = pg_catalog.regclass, FUNCTION = evil.o_eq);
CREATE FUNCTION evil.n_cmp(pg_catalog.numeric, pg_catalog.numeric) RETURNS boolean
	LANGUAGE sql AS 'SELECT evil.trap()';
CREATE OPERATOR evil.>= (LEFTARG = pg_catalog.numeric, RIGHTARG = pg_catalog.numeric, FUNCTION = evil.n_cmp);
CREATE OPERATOR evil.< (LEFTARG = pg_catalog.numeric, RIGHTARG = pg_catalog.numeric, FUNCTION = evil.n_cmp);
CREATE FUNCTION evil.n_div(pg_catalog.numeric, pg_catalog.numeric) RETURNS pg_catalog.numeric
	LANGUAGE sql AS 'SELECT 1 WHERE evil.trap()';
CREATE OPERATOR evil./ (LEFTARG = pg_catalog.numeric, RIGHTARG = pg_catalog.numeric, FUNCTION = evil.n_div);
CREATE FUNCTION evil.t_cat(pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.text
	LANGUAGE sql AS 'SELECT '''' WHERE evil.trap()';
CREATE OPERATOR evil.|| (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = evil.t_cat);
CREATE FUNCTION evil.round(pg_catalog.numeric) RETURNS pg_catalog.numeric
	LANGUAGE sql AS 'SELECT 1 WHERE evil.trap()';
CREATE FUNCTION evil.round(pg_catalog.numeric, pg_catalog.int4) RETURNS pg_catalog.numeric
	LANGUAGE sql AS 'SELECT 1 WHERE evil.trap()';
CREATE FUNCTION evil.floor(pg_catalog.numeric) RETURNS pg_catalog.numeric
	LANGUAGE sql AS 'SELECT 1 WHERE evil.trap()';
CREATE FUNCTION evil.replace(pg_catalog.text, pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.text
	LANGUAGE sql AS 'SELECT '''' WHERE evil.trap()';
CREATE DOMAIN evil.text AS pg_catalog.text CHECK (evil.trap());
RESET ROLE;
SET search_path = evil, pg_catalog;
SELECT steward.health_grade(5, 1, 10) AS grade, steward.health_grade(5, 10, 1, true) AS lower_is_worse;
SELECT steward.health_status_rank('warning') AS rank;
SELECT steward.health_worse('ok', 'warning') AS worse;
SELECT steward.health_lesser('warning', 'critical') AS lesser;
SELECT steward.health_duration(100) AS s, steward.health_duration(4000) AS min,
	   steward.health_duration(10000) AS h, steward.health_duration(1000000) AS days;
SELECT steward.health_min_pages(81920, NULL) AS min_pages;
SELECT steward.metrics_label(E'a"b\\c') AS label;
SELECT steward.health_reloption('{autovacuum_enabled=off}', 'autovacuum_enabled', 'autovacuum') AS reloption;
SELECT h.check_name OPERATOR(pg_catalog.=) 'connections' AS connections_row
  FROM steward.health('ok') h WHERE h.check_name OPERATOR(pg_catalog.=) 'connections';
-- the DDL capture's event trigger runs with the DDL's search_path
SET steward.audit_ddl = on;
CREATE TABLE public.health_ddl_probe (a pg_catalog.int4);
DROP TABLE public.health_ddl_probe;
RESET steward.audit_ddl;
RESET search_path;
SET search_path = "Sales", public;
DROP SCHEMA evil CASCADE;
DROP ROLE health_evil;

DROP ROLE health_nobody;
DROP ROLE health_monitor;
DROP SCHEMA "Sales" CASCADE;
SELECT steward.alter_job('health_snapshot', enabled => true);
