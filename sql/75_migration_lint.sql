-- The migration linter: every rule with a positive and a negative case,
-- the live catalog (existing, empty and non-empty tables, objects created
-- earlier in the same SQL), steward:ignore, odd identifiers, bad input.
--
-- lint() shows each finding with the text found at its location.
CREATE SCHEMA lint;
SET search_path = lint, public;

CREATE FUNCTION pg_temp.lint(sql text)
RETURNS TABLE (rule text, severity text, stmt int, at text, message text)
LANGUAGE sql AS $$
	SELECT rule, severity, statement,
		   location || ': ' || left(regexp_replace(substr(sql, location + 1), '\s+', ' ', 'g'), 28),
		   message
	  FROM steward.migration_lint(sql)
$$;

-- Tables of the live catalog: big has rows, empty has none.
CREATE TABLE big (id bigint PRIMARY KEY, a text, b bigint, c text,
				  v varchar(5), n numeric(5,2), i int, ts timestamptz,
				  nn_checked bigint, CONSTRAINT big_nn_checked CHECK (nn_checked IS NOT NULL));
INSERT INTO big SELECT g, 'a', g, 'c', 'v', 1, 1, now(), g FROM generate_series(1, 100) g;
CREATE INDEX big_b ON big (b);
CREATE TABLE empty (id bigint PRIMARY KEY, a text, b bigint);
CREATE TABLE ref (id bigint PRIMARY KEY);
CREATE TABLE parted (id bigint, d date) PARTITION BY RANGE (d);
CREATE TABLE parted_2020 PARTITION OF parted FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE parted_2021 PARTITION OF parted FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
INSERT INTO parted VALUES (1, '2020-06-01');
CREATE TABLE withdef (id bigint, d date) PARTITION BY RANGE (d);
CREATE TABLE withdef_2020 PARTITION OF withdef FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE withdef_other PARTITION OF withdef DEFAULT;

-- =====================================================================
-- require-concurrent-index-creation
-- =====================================================================
SELECT * FROM pg_temp.lint($$CREATE INDEX big_a ON big (a);$$);
SELECT * FROM pg_temp.lint($$CREATE UNIQUE INDEX ON lint.big (lower(a));$$);
-- negative: CONCURRENTLY; an empty table; a table created in the same SQL;
-- a table that does not exist; IF NOT EXISTS of an index that exists
SELECT * FROM pg_temp.lint($$CREATE INDEX CONCURRENTLY big_a ON big (a);$$);
SELECT * FROM pg_temp.lint($$CREATE INDEX empty_a ON empty (a);$$);
SELECT * FROM pg_temp.lint($$
	CREATE TABLE fresh (id bigint, a text);
	INSERT INTO fresh SELECT 1, 'x';
	CREATE INDEX fresh_a ON fresh (a);
	CREATE INDEX ON lint.fresh (id);
$$);
SELECT * FROM pg_temp.lint($$CREATE INDEX ON nosuch (a); CREATE INDEX ON nosuchschema.t (a);$$);
SELECT * FROM pg_temp.lint($$CREATE INDEX IF NOT EXISTS big_b ON big (b);$$);
-- CREATE TABLE IF NOT EXISTS of an existing table creates nothing
SELECT * FROM pg_temp.lint($$
	CREATE TABLE IF NOT EXISTS big (id bigint);
	CREATE INDEX ON big (c);
$$);
-- a partitioned table is sized by its partitions; ON ONLY builds nothing
SELECT * FROM pg_temp.lint($$CREATE INDEX ON parted (id);$$);
SELECT * FROM pg_temp.lint($$CREATE INDEX ON ONLY parted (id);$$);

-- =====================================================================
-- require-concurrent-index-deletion
-- =====================================================================
SELECT * FROM pg_temp.lint($$DROP INDEX big_b;$$);
-- negative: CONCURRENTLY; an index created in the same SQL; no such index
SELECT * FROM pg_temp.lint($$DROP INDEX CONCURRENTLY big_b;$$);
SELECT * FROM pg_temp.lint($$
	CREATE INDEX CONCURRENTLY big_tmp ON big (c);
	DROP INDEX big_tmp;
$$);
SELECT * FROM pg_temp.lint($$DROP INDEX IF EXISTS nosuch_idx;$$);

-- =====================================================================
-- adding-field-with-default
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD COLUMN r float8 DEFAULT random();
	ALTER TABLE big ADD COLUMN u uuid DEFAULT gen_random_uuid();
	ALTER TABLE big ADD COLUMN s bigserial;
	ALTER TABLE big ADD COLUMN g bigint GENERATED ALWAYS AS IDENTITY;
	ALTER TABLE big ADD COLUMN h bigint GENERATED ALWAYS AS (b * 2) STORED;
	ALTER TABLE big ADD COLUMN k bigint DEFAULT (1 + (random() * 10)::bigint);
$$);
-- a function created by an earlier migration: volatility unknown, a warning
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD COLUMN w bigint DEFAULT not_yet_created(1);$$);
-- functions created earlier in the same SQL count with their volatility
SELECT * FROM pg_temp.lint($$
	CREATE FUNCTION f_vol() RETURNS bigint LANGUAGE sql AS 'SELECT 1';
	CREATE FUNCTION f_imm(int) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT 1';
	ALTER TABLE big ADD COLUMN x1 bigint DEFAULT f_vol();
	ALTER TABLE big ADD COLUMN x2 bigint DEFAULT f_imm(2);
$$);
-- negative: constants, stable functions (evaluated once, no rewrite since
-- PostgreSQL 11), an empty table, a table created in the same SQL
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD COLUMN d1 bigint DEFAULT 0;
	ALTER TABLE big ADD COLUMN d2 timestamptz DEFAULT now();
	ALTER TABLE big ADD COLUMN d3 text DEFAULT 'x' || 'y';
	ALTER TABLE big ADD COLUMN d4 timestamptz DEFAULT CURRENT_TIMESTAMP;
	ALTER TABLE empty ADD COLUMN d5 float8 DEFAULT random();
	CREATE TABLE fresh (id bigint);
	ALTER TABLE fresh ADD COLUMN d6 float8 DEFAULT random();
$$);

-- =====================================================================
-- adding-not-nullable-field
-- =====================================================================
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD COLUMN nn1 bigint NOT NULL;$$);
SELECT * FROM pg_temp.lint($$ALTER TABLE big ALTER COLUMN b SET NOT NULL;$$);
-- negative: a default; an empty table; a validated CHECK (col IS NOT NULL)
-- spares the scan; a column already NOT NULL
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD COLUMN nn2 bigint NOT NULL DEFAULT 0;
	ALTER TABLE empty ADD COLUMN nn3 bigint NOT NULL;
	ALTER TABLE empty ALTER COLUMN a SET NOT NULL;
	ALTER TABLE big ALTER COLUMN nn_checked SET NOT NULL;
	ALTER TABLE big ALTER COLUMN id SET NOT NULL;
$$);

-- =====================================================================
-- adding-foreign-key-constraint
-- =====================================================================
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD CONSTRAINT big_b_fk FOREIGN KEY (b) REFERENCES ref (id);$$);
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD COLUMN ref_id bigint REFERENCES ref;$$);
-- negative: NOT VALID; an empty table; a table created in the same SQL
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD CONSTRAINT big_b_fk FOREIGN KEY (b) REFERENCES ref (id) NOT VALID;
	ALTER TABLE empty ADD CONSTRAINT empty_b_fk FOREIGN KEY (b) REFERENCES ref (id);
	CREATE TABLE fresh (id bigint, b bigint);
	ALTER TABLE fresh ADD CONSTRAINT fresh_b_fk FOREIGN KEY (b) REFERENCES big (id);
$$);

-- =====================================================================
-- constraint-missing-not-valid
-- =====================================================================
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD CONSTRAINT big_b_pos CHECK (b > 0);$$);
-- validating in the transaction that added it NOT VALID
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD CONSTRAINT big_b_pos CHECK (b > 0) NOT VALID;
	ALTER TABLE big VALIDATE CONSTRAINT big_b_pos;
$$);
-- negative: NOT VALID alone; VALIDATE of a constraint of an earlier
-- migration; each statement in its own transaction (the migration is not
-- transactional); an empty table
SELECT * FROM pg_temp.lint($$ALTER TABLE big ADD CONSTRAINT big_b_pos CHECK (b > 0) NOT VALID;$$);
SELECT * FROM pg_temp.lint($$ALTER TABLE big VALIDATE CONSTRAINT big_b_pos;$$);
SELECT rule, stmt, message FROM pg_temp.lint($$
	CREATE INDEX CONCURRENTLY IF NOT EXISTS big_c ON big (c);
	ALTER TABLE big ADD CONSTRAINT big_b_pos CHECK (b > 0) NOT VALID;
	ALTER TABLE big VALIDATE CONSTRAINT big_b_pos;
$$) WHERE rule <> 'prefer-robust-stmts';
SELECT * FROM pg_temp.lint($$ALTER TABLE empty ADD CONSTRAINT empty_b_pos CHECK (b > 0);$$);

-- =====================================================================
-- changing-column-type
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ALTER COLUMN i TYPE bigint;
	ALTER TABLE big ALTER COLUMN n TYPE numeric(8,3);
	ALTER TABLE big ALTER COLUMN v TYPE varchar(3);
	ALTER TABLE big ALTER COLUMN c TYPE varchar(10);
	ALTER TABLE big ALTER COLUMN v TYPE varchar(10) USING upper(v);
$$);
-- negative: a limit raised or removed, binary-coercible types, an empty
-- table, a table created in the same SQL
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ALTER COLUMN v TYPE varchar(10);
	ALTER TABLE big ALTER COLUMN v TYPE text;
	ALTER TABLE big ALTER COLUMN c TYPE varchar;
	ALTER TABLE big ALTER COLUMN n TYPE numeric(8,2);
	ALTER TABLE big ALTER COLUMN n TYPE numeric;
	ALTER TABLE empty ALTER COLUMN b TYPE text;
	CREATE TABLE fresh (id bigint, b text);
	ALTER TABLE fresh ALTER COLUMN b TYPE bigint USING b::bigint;
$$);

-- =====================================================================
-- renaming-column, renaming-table
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big RENAME COLUMN c TO c2;
	ALTER TABLE big RENAME TO big2;
$$);
-- negative: a table created in the same SQL, also under its new name
SELECT * FROM pg_temp.lint($$
	CREATE TABLE fresh (id bigint, b text);
	ALTER TABLE fresh RENAME COLUMN b TO b2;
	ALTER TABLE fresh RENAME TO fresh2;
	ALTER TABLE fresh2 RENAME COLUMN b2 TO b3;
	CREATE INDEX ON fresh2 (b3);
$$);

-- =====================================================================
-- ban-drop-column, ban-drop-table
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big DROP COLUMN c;
	DROP TABLE ref, empty;
$$);
-- negative: objects created in the same SQL; objects not in the catalog
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD COLUMN tmp text;
	ALTER TABLE big DROP COLUMN tmp;
	CREATE TABLE fresh (id bigint);
	DROP TABLE fresh;
	DROP TABLE IF EXISTS nosuch;
$$);

-- =====================================================================
-- prefer-robust-stmts: only when the migration cannot run in one
-- transaction (here, because of CREATE INDEX CONCURRENTLY)
-- =====================================================================
SELECT rule, stmt, at, message FROM pg_temp.lint($$
	CREATE INDEX CONCURRENTLY big_c ON big (c);
	CREATE TABLE t_robust (id bigint);
	ALTER TABLE t_robust ADD COLUMN a text;
	ALTER TABLE t_robust ADD CONSTRAINT t_robust_a CHECK (a <> '');
	ALTER TABLE t_robust DROP COLUMN a;
	ALTER TABLE t_robust DROP CONSTRAINT t_robust_a;
	DROP TABLE t_robust;
	CREATE SEQUENCE s1;
	CREATE VIEW v1 AS SELECT 1;
$$);
-- negative: the robust forms; a transactional migration; BEGIN ... COMMIT
SELECT * FROM pg_temp.lint($$
	CREATE INDEX CONCURRENTLY IF NOT EXISTS big_c ON big (c);
	CREATE TABLE IF NOT EXISTS t_robust (id bigint);
	ALTER TABLE t_robust ADD COLUMN IF NOT EXISTS a text;
	ALTER TABLE t_robust DROP CONSTRAINT IF EXISTS t_robust_a, ADD CONSTRAINT t_robust_a CHECK (a <> '');
	ALTER TABLE t_robust DROP COLUMN IF EXISTS a;
	DROP TABLE IF EXISTS t_robust;
	CREATE SEQUENCE IF NOT EXISTS s1;
	CREATE OR REPLACE VIEW v1 AS SELECT 1;
$$);
SELECT * FROM pg_temp.lint($$CREATE TABLE t_robust (id bigint); DROP TABLE t_robust;$$);
SELECT * FROM pg_temp.lint($$
	DROP INDEX CONCURRENTLY IF EXISTS big_c;
	BEGIN;
	CREATE TABLE t1 (id bigint);
	COMMIT;
$$);

-- =====================================================================
-- require-concurrent-partition-detach
-- =====================================================================
SELECT * FROM pg_temp.lint($$ALTER TABLE parted DETACH PARTITION parted_2021;$$);
-- with a default partition CONCURRENTLY is impossible: the hint says so
SELECT rule, severity, hint FROM steward.migration_lint($$ALTER TABLE withdef DETACH PARTITION withdef_2020;$$);
-- negative: CONCURRENTLY; a table created in the same SQL
SELECT rule, stmt FROM pg_temp.lint($$ALTER TABLE parted DETACH PARTITION parted_2021 CONCURRENTLY;$$)
 WHERE rule <> 'prefer-robust-stmts';
SELECT * FROM pg_temp.lint($$
	CREATE TABLE p (id bigint) PARTITION BY LIST (id);
	CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
	ALTER TABLE p DETACH PARTITION p1;
$$);

-- =====================================================================
-- prefer-bigint-over-int, prefer-timestamptz, ban-char-field,
-- prefer-identity: every column defined or retyped
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	CREATE TABLE types (a int, b integer, c int4, d serial, e timestamp,
						f timestamp(3) without time zone, g char(3), h character,
						i smallserial, j bigserial);
	ALTER TABLE empty ADD COLUMN k int;
	ALTER TABLE empty ALTER COLUMN b TYPE timestamp USING now();
$$);
-- negative: bigint, identity, timestamptz, text, varchar, "char" (the
-- one-byte internal type), smallint, a user type named like a built-in one
CREATE DOMAIN lint.int4 AS bigint;
SELECT * FROM pg_temp.lint($$
	CREATE TABLE types (a bigint, b bigint GENERATED BY DEFAULT AS IDENTITY,
						c timestamptz, d timestamp with time zone, e text,
						f varchar(3), g "char", h smallint, i lint.int4);
$$);
DROP DOMAIN lint.int4;

-- =====================================================================
-- disallowed-unique-constraint
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD CONSTRAINT big_a_key UNIQUE (a);
	ALTER TABLE big ADD COLUMN code text UNIQUE;
	ALTER TABLE parted ADD PRIMARY KEY (id, d);
$$);
-- negative: USING INDEX; an empty table; a table created in the same SQL
SELECT * FROM pg_temp.lint($$
	ALTER TABLE big ADD CONSTRAINT big_b_key UNIQUE USING INDEX big_b;
	ALTER TABLE empty ADD CONSTRAINT empty_a_key UNIQUE (a);
	CREATE TABLE fresh (id bigint);
	ALTER TABLE fresh ADD PRIMARY KEY (id);
$$);

-- =====================================================================
-- steward:ignore
-- =====================================================================
SELECT * FROM pg_temp.lint($$
	-- steward:ignore ban-drop-column
	ALTER TABLE big DROP COLUMN c;
	ALTER TABLE big DROP COLUMN a;  -- this comment belongs to the next statement
	/* steward:ignore require-concurrent-index-creation
	   steward:ignore prefer-bigint-over-int */
	CREATE INDEX big_c ON big (c);
	CREATE TABLE t2 (id int);
	ALTER TABLE big ADD COLUMN z int; -- steward:ignore prefer-bigint-over-int
$$);
-- only the named rule is silenced
SELECT rule FROM pg_temp.lint($$
	-- steward:ignore ban-drop-table
	ALTER TABLE big DROP COLUMN c;
	-- steward:ignore no-such-rule
	DROP TABLE big;
$$);

-- =====================================================================
-- Names: quoted identifiers, schemas, search_path
-- =====================================================================
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."My Table" ("Id" bigint, "Mixed Col" text);
INSERT INTO "Odd Schema"."My Table" VALUES (1, 'x');
SELECT * FROM pg_temp.lint($$
	CREATE INDEX "My Index" ON "Odd Schema"."My Table" ("Mixed Col");
	ALTER TABLE "Odd Schema"."My Table" RENAME COLUMN "Mixed Col" TO "New; Name";
	ALTER TABLE "Odd Schema"."My Table" DROP COLUMN "Id";
	ALTER TABLE "Odd Schema"."my table" DROP COLUMN "Id";
$$);
-- unqualified names follow the caller's search_path
SET search_path = "Odd Schema", public;
SELECT rule, message FROM pg_temp.lint($$DROP TABLE "My Table", big;$$);
SET search_path = lint, public;
-- a table created unqualified is the one a qualified name in the creation
-- schema means
SELECT * FROM pg_temp.lint($$
	CREATE TABLE fresh (id bigint);
	CREATE INDEX ON lint.fresh (id);
	CREATE TABLE "Odd Schema".fresh2 (id bigint);
	CREATE INDEX ON "Odd Schema".fresh2 (id);
$$);

-- a table in a schema the caller has no USAGE on is not in the catalog:
-- no finding about it, nor its size
CREATE SCHEMA priv;
CREATE TABLE priv.secret (a int);
INSERT INTO priv.secret SELECT generate_series(1, 1000);
CREATE ROLE lint_outsider;
SET ROLE lint_outsider;
SELECT rule, message FROM steward.migration_lint($$
	DROP TABLE priv.secret;
	ALTER TABLE priv.secret ALTER COLUMN a TYPE bigint;
$$);
RESET ROLE;
GRANT USAGE ON SCHEMA priv TO lint_outsider;
SET ROLE lint_outsider;
SELECT rule FROM steward.migration_lint('DROP TABLE priv.secret');
RESET ROLE;
DROP SCHEMA priv CASCADE;
DROP ROLE lint_outsider;

-- =====================================================================
-- Bad input
-- =====================================================================
SELECT count(*) FROM steward.migration_lint(NULL);
SELECT count(*) FROM steward.migration_lint('');
SELECT count(*) FROM steward.migration_lint('  -- just a comment
  /* and another */ ;');
-- a syntax error is raised by the parser (its wording is parse.c's)
DO $$
BEGIN
	PERFORM steward.migration_lint('CREATE INDEX ON big (a); CREATE TABLE (');
EXCEPTION WHEN syntax_error THEN
	RAISE NOTICE 'syntax error raised: %', SQLERRM LIKE 'syntax error at or near "("%';
END $$;
SELECT * FROM steward.migration_lint('ALTER TABLE big ADD COLUMN q bigint DEFAULT a.b.c.d.e()');
-- nothing is executed: the index and the table above do not exist
SELECT count(*) FROM pg_class
 WHERE relnamespace = 'lint'::regnamespace AND relname IN ('big_a', 'fresh', 't1', 'types');

-- =====================================================================
-- Hints, one per rule
-- =====================================================================
SELECT DISTINCT ON (rule) rule, severity, hint FROM steward.migration_lint($$
	CREATE INDEX big_a ON big (a);
	DROP INDEX big_b;
	ALTER TABLE big ADD COLUMN r float8 DEFAULT random();
	ALTER TABLE big ALTER COLUMN b SET NOT NULL;
	ALTER TABLE big ADD CONSTRAINT big_b_fk FOREIGN KEY (b) REFERENCES ref (id);
	ALTER TABLE big ADD CONSTRAINT big_b_pos CHECK (b > 0);
	ALTER TABLE big ALTER COLUMN i TYPE bigint;
	ALTER TABLE big RENAME COLUMN c TO c2;
	ALTER TABLE big RENAME TO big2;
	ALTER TABLE big DROP COLUMN c;
	DROP TABLE big;
	ALTER TABLE parted DETACH PARTITION parted_2021;
	CREATE TABLE types (a int, d serial, e timestamp, g char(3));
	ALTER TABLE big ADD CONSTRAINT big_a_key UNIQUE (a);
	DROP INDEX CONCURRENTLY big_b;
$$) ORDER BY rule;

DROP SCHEMA lint CASCADE;
DROP SCHEMA "Odd Schema" CASCADE;
RESET search_path;
