-- Audit: audit_enable/disable and each operation and option, partitions,
-- ON CONFLICT and MERGE, the type round trip, ALTER TABLE, bad input,
-- privileges, history, sealing and tamper detection.
--
-- Output holds no time, pid, xid or event id: rows are shown relative to a
-- mark (the log's last event id before the statement), times are compared.
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
SET application_name = 'audit-regress';
CREATE SCHEMA aud;
SET search_path = aud, public;

-- Sealing is tested by hand at the end: the built-in job stays out of it.
SELECT steward.alter_job('audit_seal', enabled => false);

-- The SQLSTATE and message of a statement, or 'ok'.
CREATE FUNCTION public.audit_try(cmd text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE cmd;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The log's last event id, and the rows logged after one.
CREATE FUNCTION pg_temp.mark() RETURNS bigint
LANGUAGE sql AS $$ SELECT COALESCE(max(event_id), 0) FROM steward.audit_log $$;
CREATE FUNCTION pg_temp.log(since bigint)
RETURNS TABLE (tbl text, op text, row_key jsonb, old_values jsonb, new_values jsonb,
			   changed_columns text[])
LANGUAGE sql AS $$
	SELECT relid::regclass::text, op, row_key, old_values, new_values, changed_columns
	  FROM steward.audit_log WHERE event_id > since ORDER BY event_id
$$;

-- =====================================================================
-- 1. Each operation; policies; disabling
-- =====================================================================
CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric, note text);
SELECT steward.audit_enable('acct');
SELECT tbl, operations, exclude_columns, hash_columns, skip_unchanged, capture_query,
	   triggers, active
  FROM steward.audited_tables;
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'acct'::regclass ORDER BY tgname;
-- The log became a daily partition set.
SELECT parent::text, control, step, retention FROM steward.partition_set
 WHERE parent IN ('steward.audit_log'::regclass, 'steward.audit_seal_digest'::regclass)
 ORDER BY 1;

SELECT pg_temp.mark() AS m \gset
INSERT INTO acct VALUES (1, 'ann', 10, 'a'), (2, 'bob', 20, NULL), (3, 'cy', 30, 'c');
-- Only the changed columns, in old_values, new_values and changed_columns.
UPDATE acct SET balance = balance + 5, note = 'b' WHERE id = 2;
UPDATE acct SET owner = 'ann2' WHERE id = 1;
-- Changes nothing: skip_unchanged (the default) logs nothing.
UPDATE acct SET owner = owner, balance = balance;
DELETE FROM acct WHERE id = 3;
TRUNCATE acct;
SELECT * FROM pg_temp.log(:m);

-- skip_unchanged false: a no-op UPDATE logs a row with empty objects.
SELECT steward.audit_enable('acct', skip_unchanged => false);
INSERT INTO acct VALUES (1, 'ann', 10, 'a');
SELECT pg_temp.mark() AS m \gset
UPDATE acct SET owner = owner;
-- NULL to a value and back is a change
UPDATE acct SET note = NULL;
UPDATE acct SET note = 'x';
SELECT * FROM pg_temp.log(:m);

-- Operations subset: only UPDATE; calling audit_enable again changes the policy.
SELECT steward.audit_enable('acct', operations => '{update}');
SELECT tbl, operations, skip_unchanged, triggers, active FROM steward.audited_tables;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'acct'::regclass ORDER BY tgname;
SELECT pg_temp.mark() AS m \gset
INSERT INTO acct VALUES (5, 'eve', 50, 'e');
UPDATE acct SET balance = 51 WHERE id = 5;
DELETE FROM acct WHERE id = 5;
TRUNCATE acct;
SELECT * FROM pg_temp.log(:m);
SELECT steward.audit_enable('acct', operations => '{INSERT,DELETE,insert}');
SELECT operations, triggers, active FROM steward.audited_tables WHERE tbl = 'acct'::regclass;

-- A dropped or disabled trigger shows: active is false.
DROP TRIGGER steward_audit_delete ON acct;
SELECT operations, triggers, active FROM steward.audited_tables WHERE tbl = 'acct'::regclass;
SELECT steward.audit_enable('acct', operations => '{INSERT,DELETE}');
SELECT triggers, active FROM steward.audited_tables WHERE tbl = 'acct'::regclass;
ALTER TABLE acct DISABLE TRIGGER steward_audit_insert;
SELECT triggers, active FROM steward.audited_tables WHERE tbl = 'acct'::regclass;
ALTER TABLE acct ENABLE TRIGGER steward_audit_insert;
SELECT triggers, active FROM steward.audited_tables WHERE tbl = 'acct'::regclass;

-- audit_disable removes the triggers and the policy; the rows stay.
SELECT count(*) AS acct_rows_before FROM steward.audit_log WHERE relid = 'acct'::regclass;
SELECT steward.audit_disable('acct');
SELECT count(*) AS audited FROM steward.audited_tables WHERE tbl = 'acct'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'acct'::regclass;
INSERT INTO acct VALUES (6, 'fay', 60, 'f');
SELECT count(*) AS acct_rows_after FROM steward.audit_log WHERE relid = 'acct'::regclass;
-- Disabling a table that is not audited: a notice.
SELECT steward.audit_disable('acct');

-- COPY is logged like INSERT; a statement of 12,345 rows goes in several
-- batches, and every row is logged once.
CREATE TABLE bulk (id int PRIMARY KEY, v text);
SELECT steward.audit_enable('bulk');
SELECT pg_temp.mark() AS m \gset
COPY bulk FROM stdin;
1	one
2	two
\.
INSERT INTO bulk SELECT g, 'v' || g FROM generate_series(3, 12345) g;
UPDATE bulk SET v = v || '!';
SELECT op, count(*) AS rows, count(DISTINCT row_key) AS keys,
	   count(*) FILTER (WHERE (new_values->>'id')::int = (row_key->>'id')::int) AS insert_ids_match,
	   count(*) FILTER (WHERE new_values->>'v' = (old_values->>'v') || '!') AS updates_match
  FROM steward.audit_log WHERE event_id > :m GROUP BY op ORDER BY op;
SELECT new_values FROM steward.audit_log WHERE event_id > :m AND row_key = '{"id": 2}'
 ORDER BY event_id;

-- =====================================================================
-- 2. Excluded and hashed columns; who; statement texts
-- =====================================================================
CREATE TABLE person (id int PRIMARY KEY, name text, password text, ssn text, pin int);
SELECT steward.audit_enable('person', exclude_columns => '{password}',
							hash_columns => '{ssn,pin}', capture_query => true);
SELECT exclude_columns, hash_columns, capture_query FROM steward.audited_tables
 WHERE tbl = 'person'::regclass;
SELECT pg_temp.mark() AS m \gset
INSERT INTO person VALUES (1, 'ann', 'secret', '123-45-6789', 1234), (2, 'bob', 'pw', NULL, NULL);
UPDATE person SET password = 'changed';            -- only an excluded column: nothing
UPDATE person SET pin = 4321 WHERE id = 1;
SELECT op, row_key, old_values, new_values, changed_columns FROM steward.audit_log
 WHERE event_id > :m ORDER BY event_id;
-- Never stored: no value of the excluded column anywhere in the log.
SELECT count(*) AS rows_with_password FROM steward.audit_log
 WHERE relid = 'person'::regclass
   AND (old_values ? 'password' OR new_values ? 'password'
		OR old_values::text LIKE '%secret%' OR new_values::text LIKE '%secret%'
		OR new_values::text LIKE '%changed%');
-- Hashed: the SHA-256 (hex) of the value's text.
SELECT new_values->>'pin' = encode(sha256(convert_to('1234', 'UTF8')), 'hex') AS pin_hashed,
	   new_values->>'ssn' = encode(sha256(convert_to('123-45-6789', 'UTF8')), 'hex') AS ssn_hashed
  FROM steward.audit_log WHERE event_id > :m AND op = 'INSERT' AND row_key = '{"id": 1}';
SELECT old_values->>'pin' = encode(sha256(convert_to('1234', 'UTF8')), 'hex') AS old_pin_hashed,
	   new_values->>'pin' = encode(sha256(convert_to('4321', 'UTF8')), 'hex') AS new_pin_hashed
  FROM steward.audit_log WHERE event_id > :m AND op = 'UPDATE';

-- Quoted names: schema, table, columns (one excluded, two hashed, one then
-- renamed).
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."T-1" ("Id" int PRIMARY KEY, "Secret Col" text, "it's" text, "-x" int);
SELECT steward.audit_enable('"My Schema"."T-1"', exclude_columns => '{"Secret Col"}',
							hash_columns => '{"it''s","-x"}');
SELECT pg_temp.mark() AS m \gset
INSERT INTO "My Schema"."T-1" VALUES (1, 's', 'q', 5);
ALTER TABLE "My Schema"."T-1" RENAME COLUMN "it's" TO "it is";
UPDATE "My Schema"."T-1" SET "it is" = 'r', "-x" = 6, "Secret Col" = 't';
SELECT schema_name, table_name, op, row_key,
	   ARRAY(SELECT jsonb_object_keys(new_values)) AS new_keys, changed_columns,
	   new_values->>'-x' = encode(sha256(convert_to(CASE op WHEN 'INSERT' THEN '5' ELSE '6' END, 'UTF8')), 'hex') AS x_hashed,
	   COALESCE(new_values->>'it''s', new_values->>'it is') =
	   encode(sha256(convert_to(CASE op WHEN 'INSERT' THEN 'q' ELSE 'r' END, 'UTF8')), 'hex') AS its_hashed
  FROM steward.audit_log WHERE event_id > :m ORDER BY event_id;
-- A hashed key column: the row key is its digest.
CREATE TABLE hkey (email text PRIMARY KEY, v int);
SELECT steward.audit_enable('hkey', hash_columns => '{email}');
INSERT INTO hkey VALUES ('a@example.com', 1);
UPDATE hkey SET v = 2;
SELECT op, row_key->>'email' = encode(sha256('a@example.com'), 'hex') AS key_hashed
  FROM steward.audit_history('hkey', jsonb_build_object('email', encode(sha256('a@example.com'), 'hex')));

-- The statement text is stored once per distinct text, and referred to.
SELECT pg_temp.mark() AS m \gset
SELECT count(*) AS queries FROM steward.audit_query \gset
UPDATE person SET name = name || '.' WHERE id = 1;
UPDATE person SET name = name || '.' WHERE id = 1;
UPDATE person SET name = 'x' WHERE id = 999;       -- logs nothing, stores nothing
UPDATE person SET name = name || '-' WHERE id = 2;
SELECT count(*) - :queries AS new_queries FROM steward.audit_query;
SELECT l.row_key, q.query, count(*) AS logged
  FROM steward.audit_log l JOIN steward.audit_query q USING (query_id)
 WHERE l.event_id > :m GROUP BY l.row_key, q.query ORDER BY q.query;
SELECT count(DISTINCT query_id) AS distinct_ids, count(*) FILTER (WHERE query_id IS NULL) AS no_id
  FROM steward.audit_log WHERE event_id > :m;
-- Without capture_query, no query_id.
SELECT query_id IS NULL AS no_query_id FROM steward.audit_log
 WHERE relid = 'bulk'::regclass LIMIT 1;

-- Who: db_user (the current role), session_user, app_user (SET LOCAL
-- steward.app_user), application_name, backend_pid, client_addr; the
-- top-level transaction id and the transaction's start time.
CREATE ROLE regress_audit_owner;
CREATE ROLE regress_audit_other;
GRANT USAGE, CREATE ON SCHEMA aud TO regress_audit_owner, regress_audit_other;
GRANT ALL ON person TO regress_audit_owner;
SELECT pg_temp.mark() AS m \gset
BEGIN;
SET LOCAL steward.app_user = 'alice@example.com';
SELECT pg_current_xact_id() AS xid, now() AS tx_start \gset
SAVEPOINT s;
SET ROLE regress_audit_owner;
INSERT INTO person (id, name) VALUES (10, 'ten');
RESET ROLE;
RELEASE s;
INSERT INTO person (id, name) VALUES (11, 'eleven');
COMMIT;
INSERT INTO person (id, name) VALUES (12, 'twelve');   -- app_user was LOCAL
SET steward.app_user = 'batch-job';
INSERT INTO person (id, name) VALUES (13, 'thirteen');
RESET steward.app_user;
SELECT row_key, CASE db_user WHEN session_user THEN '(session user)' ELSE db_user END AS db_user,
	   "session_user" = session_user AS session_user_ok, app_user,
	   application_name, backend_pid = pg_backend_pid() AS pid_ok,
	   client_addr IS NOT DISTINCT FROM inet_client_addr() AS addr_ok,
	   (txid = :'xid') AS in_tx, (logged_at = :'tx_start') AS at_tx_start
  FROM steward.audit_log WHERE event_id > :m ORDER BY event_id;
SELECT count(DISTINCT txid) AS transactions FROM steward.audit_log WHERE event_id > :m;

-- =====================================================================
-- 3. Rollback and savepoints: the log is transactional with the change
-- =====================================================================
CREATE TABLE tx (id int PRIMARY KEY, v int);
SELECT steward.audit_enable('tx');
SELECT pg_temp.mark() AS m \gset
BEGIN;
INSERT INTO tx VALUES (1, 1);
ROLLBACK;
BEGIN;
INSERT INTO tx VALUES (2, 2);
SAVEPOINT a;
INSERT INTO tx VALUES (3, 3);
UPDATE tx SET v = 20 WHERE id = 2;
ROLLBACK TO a;
SAVEPOINT b;
INSERT INTO tx VALUES (4, 4);
RELEASE b;
SAVEPOINT c;
DELETE FROM tx WHERE id = 4;
ROLLBACK TO c;
COMMIT;
-- A failing statement logs nothing.
INSERT INTO tx VALUES (5, 5), (2, 2);
-- An error in a later statement of the transaction: nothing of it stays.
BEGIN;
UPDATE tx SET v = v + 1;
SELECT 1 / 0;
COMMIT;
-- A statement that fails in a subtransaction (PL/pgSQL exception block).
DO $$
BEGIN
	INSERT INTO tx VALUES (6, 6);
	BEGIN
		INSERT INTO tx VALUES (7, 7);
		PERFORM 1 / 0;
	EXCEPTION WHEN division_by_zero THEN NULL;
	END;
END $$;
SELECT * FROM pg_temp.log(:m);
SELECT * FROM tx ORDER BY id;

-- =====================================================================
-- 4. ON CONFLICT, MERGE, partitions, generated columns, keys
-- =====================================================================
CREATE TABLE up (id int PRIMARY KEY, v int, doubled int GENERATED ALWAYS AS (v * 2) STORED);
SELECT steward.audit_enable('up');
SELECT pg_temp.mark() AS m \gset
INSERT INTO up (id, v) VALUES (1, 1), (2, 2);
-- one insert, one update
INSERT INTO up (id, v) VALUES (2, 20), (3, 3) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
-- the conflicting row logs nothing
INSERT INTO up (id, v) VALUES (3, 30), (4, 4) ON CONFLICT DO NOTHING;
-- an update to the same values: skipped
INSERT INTO up (id, v) VALUES (4, 4) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
MERGE INTO up USING (VALUES (1, 100), (4, NULL), (5, 5)) AS s(id, v) ON up.id = s.id
 WHEN MATCHED AND s.v IS NULL THEN DELETE
 WHEN MATCHED THEN UPDATE SET v = s.v
 WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v);
-- a writable CTE: a delete and an insert in one statement
WITH d AS (DELETE FROM up WHERE id = 5 RETURNING id)
INSERT INTO up (id, v) SELECT id + 1, 6 FROM d;
SELECT * FROM pg_temp.log(:m);

-- Partitioned: audit_enable on the parent audits every partition, and those
-- created or attached later.
CREATE TABLE orders (id int, region text, qty int, PRIMARY KEY (id, region))
	PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us')
	PARTITION BY LIST (region);                   -- itself partitioned
CREATE TABLE orders_us1 PARTITION OF orders_us FOR VALUES IN ('us');
SELECT steward.audit_enable('orders');
CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
CREATE TABLE orders_af (id int NOT NULL, region text NOT NULL, qty int);
ALTER TABLE orders ATTACH PARTITION orders_af FOR VALUES IN ('af');
CREATE TABLE orders_other (LIKE orders);          -- not a partition: not audited
SELECT c.relname, count(t.oid) AS triggers
  FROM pg_class c LEFT JOIN pg_trigger t
	ON t.tgrelid = c.oid AND t.tgfoid = 'steward.audit_trigger()'::regprocedure
 WHERE c.relnamespace = 'aud'::regnamespace AND c.relname LIKE 'orders%' AND c.relkind IN ('r', 'p')
 GROUP BY c.relname ORDER BY c.relname;
SELECT tbl, triggers, active FROM steward.audited_tables WHERE tbl::text LIKE 'orders%';
SELECT pg_temp.mark() AS m \gset
INSERT INTO orders VALUES (1, 'eu', 1), (2, 'us', 2);   -- via the parent
INSERT INTO orders_eu VALUES (3, 'eu', 3);               -- into a partition
INSERT INTO orders_us1 VALUES (4, 'us', 4);              -- into a sub-partition
INSERT INTO orders_asia VALUES (5, 'asia', 5);           -- created later
INSERT INTO orders VALUES (6, 'af', 6);
INSERT INTO orders_af VALUES (7, 'af', 7);               -- attached later
UPDATE orders SET region = 'asia' WHERE id = 1;          -- moves between partitions
UPDATE orders_eu SET qty = 30 WHERE id = 3;
DELETE FROM orders WHERE id = 2;
SELECT * FROM pg_temp.log(:m);
-- A partitioned table's history includes what statements naming a
-- partition logged.
SELECT op, relid::regclass AS tbl, new_values
  FROM steward.audit_history('orders', '{"id": 3, "region": "eu"}');
SELECT steward.audit_row_as_of('orders', '{"id": 3, "region": "eu"}', now());
SELECT op, relid::regclass AS tbl FROM steward.audit_changes('orders', now() - interval '1 hour')
 WHERE event_id > :m ORDER BY event_id;
-- TRUNCATE of the parent: logged for the parent and for each partition.
SELECT pg_temp.mark() AS m \gset
TRUNCATE orders;
SELECT tbl, op FROM pg_temp.log(:m) ORDER BY tbl;
SELECT steward.audit_row_as_of('orders', '{"id": 3, "region": "eu"}', now()) AS after_truncate;
SELECT steward.audit_disable('orders');
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgfoid = 'steward.audit_trigger()'::regprocedure AND tgrelid::regclass::text LIKE 'orders%';

-- Keys: none (row_key NULL), replica identity index, deferrable primary key.
CREATE TABLE nokey (a int, b text);
CREATE TABLE ri (a int NOT NULL, b text NOT NULL, c int);
CREATE UNIQUE INDEX ri_ba ON ri (b, a);
ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_ba;
CREATE TABLE dpk (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v int);
SELECT steward.audit_enable('nokey'), steward.audit_enable('ri'), steward.audit_enable('dpk');
SELECT pg_temp.mark() AS m \gset
INSERT INTO nokey VALUES (1, 'x'), (1, 'x');
UPDATE nokey SET b = 'y';
DELETE FROM nokey;
INSERT INTO ri VALUES (1, 'k', 1);
UPDATE ri SET c = 2;
INSERT INTO dpk VALUES (1, 1);
SELECT * FROM pg_temp.log(:m);
-- A key column cannot be excluded (the replica identity's either).
SELECT audit_try($$SELECT steward.audit_enable('ri', exclude_columns => '{a}')$$);
SELECT audit_try($$SELECT steward.audit_enable('dpk', exclude_columns => '{id}')$$);

-- =====================================================================
-- 5. Type round trip: every value as to_jsonb() gives it
-- =====================================================================
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN short_text AS varchar(20);
CREATE TYPE pair AS (a int, b text, c numeric[]);
CREATE TABLE types (
	id int PRIMARY KEY,
	i2 int2, i4 int4, i8 int8,
	n numeric, n_nan numeric, n_inf numeric, n_ninf numeric, n_scale numeric(10, 4),
	f4 float4, f8 float8, f4_nan float4, f8_inf float8, f8_ninf float8, f8_tiny float8,
	b bool, t text, vc varchar(10), c char(5), nm name, ch "char",
	ba bytea, d date, d_inf date, tm time, ttz timetz, ts timestamp, ts_ninf timestamp,
	tstz timestamptz, tstz_bc timestamptz, iv interval, u uuid,
	ip inet, cid cidr, mac macaddr, mac8 macaddr8,
	j json, jb jsonb, x xml, mo money, bt bit(4), vb varbit,
	pt point, bx box, ln lseg, cr circle, tsv tsvector, tsq tsquery,
	r int4range, dr daterange, e mood, dm posint, ds short_text, cp pair,
	ai int[], at text[], a2 int[][], ae mood[], acp pair[],
	o oid, rc regclass, nul_t text, nul_i int
);
SELECT steward.audit_enable('types');
SELECT pg_temp.mark() AS m \gset
INSERT INTO types VALUES (
	1,
	-32768, 2147483647, -9223372036854775808,
	123456789.000000000123, 'NaN', 'Infinity', '-Infinity', 1.5,
	1.5, 3.141592653589793, 'NaN', 'Infinity', '-Infinity', 1e-300,
	true, E'h\u00e9llo "q" \\ \n\t/', 'varchar', 'ab', 'a name', 'z',
	'\x00ff10', '2024-02-29', 'infinity', '12:34:56.789', '12:34:56+05:30',
	'2024-02-29 12:34:56.123456', '-infinity',
	'2024-02-29 12:34:56.5+02', '0044-03-15 12:00 BC', '1 year 2 mons 3 days 04:05:06.7',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
	'{"b": 1, "a": [1, 2.50, null], "a": 2}', '{"b": 1, "a": [1, 2.50, null]}',
	'<a x="1">t &amp; u</a>', 12.34, B'1010', B'101',
	'(1,2)', '((0,0),(1,1))', '[(0,0),(1,1)]', '<(1,1),2>', 'fat cats sat', 'fat & !rat',
	'[1,5)', '[2024-01-01,2024-02-01)', 'happy', 5, 'short', ROW(1, 'x', '{1.5,NaN}'),
	'{1,NULL,3}', '{"a",NULL,"c d",""}', '{{1,2},{3,4}}', '{sad,happy}',
	ARRAY[ROW(1, 'p', NULL)::pair, NULL],
	4294967295, 'pg_class', NULL, NULL);
-- Every column, as a whole and one by one.
SELECT l.new_values = to_jsonb(ty) AS row_equal,
	   (SELECT count(*) FROM jsonb_object_keys(l.new_values)) AS columns_logged,
	   (SELECT count(*) FROM jsonb_object_keys(to_jsonb(ty))) AS columns
  FROM steward.audit_log l, types ty WHERE l.event_id > :m;
SELECT k.key AS column_differs, l.new_values -> k.key AS logged, k.value AS to_jsonb
  FROM steward.audit_log l, types ty, jsonb_each(to_jsonb(ty)) k
 WHERE l.event_id > :m AND (l.new_values -> k.key) IS DISTINCT FROM k.value;
-- A few, as logged.
SELECT new_values -> 'n_nan' AS n_nan, new_values -> 'n_inf' AS n_inf,
	   new_values -> 'f4_nan' AS f4_nan, new_values -> 'f8_ninf' AS f8_ninf,
	   new_values -> 'i8' AS i8, new_values -> 'n' AS n, new_values -> 'n_scale' AS n_scale,
	   new_values -> 'ba' AS ba, new_values -> 'c' AS c, new_values -> 'dm' AS dm
  FROM steward.audit_log WHERE event_id > :m;
SELECT new_values -> 'ts' AS ts, new_values -> 'tstz' AS tstz, new_values -> 'd_inf' AS d_inf,
	   new_values -> 'cp' AS cp, new_values -> 'ai' AS ai, new_values -> 'at' AS at_,
	   new_values -> 'nul_t' AS nul_t
  FROM steward.audit_log WHERE event_id > :m;
-- Date and time values as to_jsonb() shows them in the session's time zone
-- (a value met twice, in two columns and under two zones, included).
CREATE TABLE times (id int PRIMARY KEY, a timestamptz, b timestamptz, c timestamp, d date);
SELECT steward.audit_enable('times');
SELECT pg_temp.mark() AS m \gset
INSERT INTO times VALUES (1, '2024-02-29 12:00+00', '2024-02-29 12:00+00', '2024-02-29 12:00', '2024-02-29'),
	(2, '2024-02-29 12:00+00', '2024-03-01 00:00+00', '2024-02-29 12:00', '2024-02-29');
SET TimeZone = 'Asia/Kolkata';
INSERT INTO times VALUES (3, '2024-02-29 12:00+00', '2024-02-29 12:00+00', '2024-02-29 12:00', '2024-02-29');
SELECT l.row_key, l.new_values ->> 'a' AS a, l.new_values ->> 'b' AS b, l.new_values ->> 'c' AS c, l.new_values ->> 'd' AS d
  FROM steward.audit_log l
 WHERE l.event_id > :m ORDER BY l.event_id;
SET TimeZone = 'UTC';
DROP TABLE times;
-- All NULL but the key.
INSERT INTO types (id) VALUES (2);
SELECT l.new_values = to_jsonb(ty) AS all_null_row_equal,
	   (SELECT count(*) FROM jsonb_each(l.new_values) WHERE value = 'null') AS nulls
  FROM steward.audit_log l, types ty WHERE l.event_id > :m AND ty.id = 2 AND l.row_key = '{"id": 2}';
-- UPDATE every column: old and new values both as to_jsonb() gives them,
-- and every column changed.
SELECT to_jsonb(ty) AS before FROM types ty WHERE id = 1 \gset
SELECT pg_temp.mark() AS m \gset
UPDATE types SET (i2, i4, i8, n, n_nan, n_inf, n_ninf, n_scale, f4, f8, f4_nan, f8_inf, f8_ninf,
				  f8_tiny, b, t, vc, c, nm, ch, ba, d, d_inf, tm, ttz, ts, ts_ninf, tstz,
				  tstz_bc, iv, u, ip, cid, mac, mac8, j, jb, x, mo, bt, vb, pt, bx, ln, cr,
				  tsv, tsq, r, dr, e, dm, ds, cp, ai, at, a2, ae, acp, o, rc, nul_t, nul_i) =
	(1, -1, 1, -0.5, 1, 'NaN', 'Infinity', 2, '-Infinity', -0.0, 1, 'NaN', 'Infinity',
	 1e300, false, '', 'v', 'abcde', 'other', 'y', '\x', '1999-12-31', '2000-01-01', '00:00',
	 '00:00+00', '1999-12-31 23:59:59', 'infinity', 'infinity', '2000-01-01 00:00+00',
	 '-1 day', '00000000-0000-0000-0000-000000000000', '::1', '::/0', '00:00:00:00:00:00',
	 '00:00:00:00:00:00:00:00', '[]', '[]', '<b/>', 0, B'0000', B'', '(0,0)',
	 '((1,1),(2,2))', '[(1,1),(2,2)]', '<(0,0),1>', '', 'a', 'empty', 'empty', 'sad', 1, '',
	 ROW(NULL, NULL, NULL), '{}', '{NULL}', '{{5}}', '{}', '{}', 0, 'pg_type', 'now set', 0)
 WHERE id = 1;
SELECT l.old_values = :'before'::jsonb - 'id' AS old_equal,
	   l.new_values = to_jsonb(ty) - 'id' AS new_equal,
	   cardinality(l.changed_columns) AS changed
  FROM steward.audit_log l, types ty WHERE l.event_id > :m AND ty.id = 1;
SELECT k.key AS column_differs
  FROM steward.audit_log l, types ty, jsonb_each(to_jsonb(ty) - 'id') k
 WHERE l.event_id > :m AND ty.id = 1 AND (l.new_values -> k.key) IS DISTINCT FROM k.value;
-- DELETE: the whole row.
SELECT to_jsonb(ty) AS before FROM types ty WHERE id = 1 \gset
SELECT pg_temp.mark() AS m \gset
DELETE FROM types WHERE id = 1;
SELECT old_values = :'before'::jsonb AS deleted_equal FROM steward.audit_log WHERE event_id > :m;

-- TOASTed values: compressible and not, inserted, updated and deleted.
CREATE TABLE big (id int PRIMARY KEY, t text, other int);
SELECT steward.audit_enable('big');
SELECT pg_temp.mark() AS m \gset
INSERT INTO big VALUES (1, repeat('x', 100000), 0),
	(2, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g), 0);
SELECT id, pg_column_size(t) < length(t) AS compressed FROM big ORDER BY id;
UPDATE big SET other = 1;                  -- only other: the big values are not logged again
UPDATE big SET t = t || 'y' WHERE id = 2;
DELETE FROM big WHERE id = 1;
SELECT op, row_key, length(new_values->>'t') AS new_len, length(old_values->>'t') AS old_len,
	   md5(new_values->>'t') = md5(CASE row_key->>'id' WHEN '1' THEN repeat('x', 100000)
		   ELSE (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g) END)
		   AS new_md5_ok,
	   changed_columns
  FROM steward.audit_log WHERE event_id > :m ORDER BY event_id;
SELECT md5(old_values->>'t') = md5(repeat('x', 100000)) AS deleted_md5_ok
  FROM steward.audit_log WHERE event_id > :m AND op = 'DELETE';
SELECT (SELECT new_values->>'t' FROM steward.audit_log WHERE event_id > :m AND op = 'UPDATE'
		 AND changed_columns = '{t}') = t AS updated_value_ok
  FROM big WHERE id = 2;

-- =====================================================================
-- 6. ALTER TABLE on an audited table
-- =====================================================================
CREATE TABLE alt (id int PRIMARY KEY, a int, secret text, pin text);
SELECT steward.audit_enable('alt', exclude_columns => '{secret}', hash_columns => '{pin}');
SELECT pg_temp.mark() AS m \gset
INSERT INTO alt VALUES (1, 1, 's', '1');
ALTER TABLE alt ADD COLUMN b int DEFAULT 7;
INSERT INTO alt VALUES (2, 2, 's', '2', 8);
UPDATE alt SET b = b + 1 WHERE id = 1;
ALTER TABLE alt DROP COLUMN a;
UPDATE alt SET b = b + 1;
ALTER TABLE alt RENAME COLUMN b TO bb;
UPDATE alt SET bb = bb + 1 WHERE id = 1;
ALTER TABLE alt ALTER COLUMN bb TYPE numeric;
UPDATE alt SET bb = bb + 0.5 WHERE id = 1;
-- Renaming an excluded or hashed column keeps it excluded or hashed.
ALTER TABLE alt RENAME COLUMN secret TO secret2;
ALTER TABLE alt RENAME COLUMN pin TO pin2;
INSERT INTO alt VALUES (3, 's', '3', 9);
UPDATE alt SET secret2 = 'changed', pin2 = '33' WHERE id = 3;
SELECT op, row_key, old_values, new_values, changed_columns FROM steward.audit_log
 WHERE event_id > :m ORDER BY event_id;
SELECT exclude_columns, hash_columns, triggers, active FROM steward.audited_tables
 WHERE tbl = 'alt'::regclass;
-- ... also on a partitioned table, whose partitions' triggers follow.
CREATE TABLE palt (id int, k int, secret text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE palt1 PARTITION OF palt FOR VALUES IN (1);
SELECT steward.audit_enable('palt', exclude_columns => '{secret}');
ALTER TABLE palt RENAME COLUMN secret TO hidden;
SELECT pg_temp.mark() AS m \gset
INSERT INTO palt VALUES (1, 1, 's');
INSERT INTO palt1 VALUES (2, 1, 's');
SELECT tbl, new_values FROM pg_temp.log(:m);
-- Renaming the table changes nothing.
ALTER TABLE alt RENAME TO alt2;
INSERT INTO alt2 VALUES (4, 's', '4', 10);
SELECT table_name, new_values FROM steward.audit_log ORDER BY event_id DESC LIMIT 1;
ALTER TABLE alt2 RENAME TO alt;

-- =====================================================================
-- 7. Bad input
-- =====================================================================
CREATE VIEW acct_view AS SELECT * FROM acct;
CREATE MATERIALIZED VIEW acct_mv AS SELECT * FROM acct;
CREATE TEMP TABLE temp_t (id int);
SELECT audit_try(cmd) AS result FROM (VALUES
	($$SELECT steward.audit_enable('acct_view')$$),
	($$SELECT steward.audit_enable('acct_mv')$$),
	($$SELECT steward.audit_enable('acct', exclude_columns => '{nope}')$$),
	($$SELECT steward.audit_enable('acct', hash_columns => '{nope}')$$),
	($$SELECT steward.audit_enable('acct', exclude_columns => '{ctid}')$$),
	($$SELECT steward.audit_enable('acct', operations => '{SELECT}')$$),
	($$SELECT steward.audit_enable('acct', operations => '{}')$$),
	($$SELECT steward.audit_enable('acct', exclude_columns => '{note}', hash_columns => '{note}')$$),
	($$SELECT steward.audit_enable('acct', exclude_columns => '{id}')$$),
	($$SELECT steward.audit_enable(NULL)$$),
	($$SELECT steward.audit_enable('acct', NULL)$$),
	($$SELECT steward.audit_enable('acct', operations => NULL)$$),
	($$SELECT steward.audit_enable('acct', skip_unchanged => NULL)$$),
	($$SELECT steward.audit_enable('acct', exclude_columns => '{NULL}')$$),
	($$SELECT steward.audit_enable('steward.audit_log')$$),
	($$SELECT steward.audit_enable('steward.job')$$),
	($$SELECT steward.audit_enable('pg_class')$$),
	($$SELECT steward.audit_enable('temp_t')$$),
	($$SELECT steward.audit_enable('no_such_table')$$),
	($$SELECT steward.audit_disable('acct_view')$$),
	($$SELECT steward.audit_disable(NULL)$$)) v(cmd);
-- Nothing above left a policy or a trigger.
SELECT count(*) AS acct_audited FROM steward.audit_policy WHERE tbl = 'acct'::regclass;
SELECT count(*) AS acct_triggers FROM pg_trigger WHERE tgrelid = 'acct'::regclass;
-- The trigger function only works as installed.
SELECT audit_try($$SELECT steward.audit_trigger()$$);
CREATE TABLE wrong (id int);
CREATE TRIGGER wrong_row AFTER INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION steward.audit_trigger();
SELECT audit_try($$INSERT INTO wrong VALUES (1)$$);
DROP TRIGGER wrong_row ON wrong;
CREATE TRIGGER wrong_stmt AFTER INSERT ON wrong FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger();
SELECT audit_try($$INSERT INTO wrong VALUES (1)$$);
DROP TABLE wrong;
-- Sealing continues the latest seal: not with a transaction snapshot.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT audit_try($$SELECT steward.audit_seal_now()$$);
COMMIT;

-- =====================================================================
-- 8. Privileges
-- =====================================================================
SET ROLE regress_audit_owner;
CREATE TABLE owned (id int PRIMARY KEY, v text);
SELECT steward.audit_enable('owned', capture_query => true);
-- The owner sees its own audited tables only.
SELECT tbl FROM steward.audited_tables ORDER BY tbl::text;
INSERT INTO owned VALUES (1, 'a'), (2, 'b');
UPDATE owned SET v = 'c' WHERE id = 1;
DELETE FROM owned WHERE id = 2;
TRUNCATE owned;
INSERT INTO owned VALUES (1, 'd');
-- ... but cannot read or change the log, nor seal or verify.
SELECT audit_try(cmd) AS result FROM (VALUES
	($$SELECT count(*) FROM steward.audit_log$$),
	($$SELECT count(*) FROM steward.audit_log_default$$),
	($$INSERT INTO steward.audit_log (txid, relid, schema_name, table_name, op, db_user, "session_user", backend_pid) VALUES ('1', 1, 'a', 'b', 'INSERT', 'x', 'y', 1)$$),
	($$UPDATE steward.audit_log SET op = 'x'$$),
	($$DELETE FROM steward.audit_log$$),
	($$TRUNCATE steward.audit_log$$),
	($$SELECT count(*) FROM steward.audit_query$$),
	($$SELECT count(*) FROM steward.audit_seal$$),
	($$SELECT nextval('steward.audit_event_id_seq')$$),
	($$UPDATE steward.audit_policy SET exclude_columns = '{v}'$$),
	($$SELECT steward.audit_seal_now()$$),
	($$SELECT * FROM steward.audit_verify()$$),
	($$SELECT steward.audit_seal_head()$$),
	($$SELECT * FROM steward.audit_history('owned', '{"id": 1}')$$),
	($$SELECT steward.audit_row_as_of('owned', '{"id": 1}', now())$$),
	($$SELECT * FROM steward.audit_sealed_versions('{0}', '{"id": 1}', true, 0, '0')$$),
	($$SELECT steward.audit_sealed_to()$$),
	($$SELECT count(*) FROM steward.audit_seal_digest$$)) v(cmd);
RESET ROLE;
-- Another ordinary role cannot audit or stop auditing a table it does not own.
SET ROLE regress_audit_other;
SELECT audit_try($$SELECT steward.audit_enable('owned')$$);
SELECT audit_try($$SELECT steward.audit_disable('owned')$$);
SELECT count(*) AS visible FROM steward.audited_tables;
RESET ROLE;
SELECT tbl, triggers, active FROM steward.audited_tables WHERE tbl = 'owned'::regclass;
-- The owner's changes were logged, as the owner.
SELECT op, row_key, old_values, new_values, db_user, query_id IS NOT NULL AS has_query
  FROM steward.audit_log WHERE relid = 'owned'::regclass ORDER BY event_id;
-- Reading takes an explicit GRANT; writing stays impossible.
GRANT SELECT ON steward.audit_log TO regress_audit_owner;
SET ROLE regress_audit_owner;
SELECT op, new_values FROM steward.audit_log WHERE relid = 'owned'::regclass ORDER BY event_id;
SELECT op, new_values FROM steward.audit_history('owned', '{"id": 1}');
SELECT steward.audit_row_as_of('owned', '{"id": 1}', now());
SELECT audit_try(cmd) AS result FROM (VALUES
	($$UPDATE steward.audit_log SET op = 'x'$$),
	($$DELETE FROM steward.audit_log$$),
	($$INSERT INTO steward.audit_log SELECT * FROM steward.audit_log LIMIT 1$$),
	($$TRUNCATE steward.audit_log$$)) v(cmd);
RESET ROLE;
-- Row-level security on the log: history refuses to read around it (the
-- seal tables hold every table's changes).
BEGIN;
ALTER TABLE steward.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tables ON steward.audit_log FOR SELECT TO PUBLIC
	USING (relid IN (SELECT c.oid FROM pg_class c WHERE pg_has_role(c.relowner, 'USAGE')));
SET LOCAL ROLE regress_audit_owner;
SELECT count(*) > 0 AS own_rows_seen, bool_and(relid = 'owned'::regclass) AS only_own
  FROM steward.audit_log;
SELECT audit_try($$SELECT * FROM steward.audit_history('owned', '{"id": 1}')$$) AS result
UNION ALL
SELECT audit_try($$SELECT steward.audit_sealed_to()$$);
ROLLBACK;
REVOKE SELECT ON steward.audit_log FROM regress_audit_owner;

-- =====================================================================
-- 9. History
-- =====================================================================
CREATE TABLE hist (id int PRIMARY KEY, v int, note text, untouched text);
SELECT steward.audit_enable('hist');
SELECT clock_timestamp() AS t_before \gset
INSERT INTO hist VALUES (1, 0, 'n0', 'u'), (2, 100, 'other row', 'u');
SELECT clock_timestamp() AS t0 \gset
UPDATE hist SET v = 1 WHERE id = 1;
SELECT clock_timestamp() AS t1 \gset
UPDATE hist SET v = 2, note = 'n2' WHERE id = 1;
SELECT clock_timestamp() AS t2 \gset
UPDATE hist SET v = 3 WHERE id = 1;
SELECT clock_timestamp() AS t3 \gset
UPDATE hist SET note = NULL WHERE id = 1;
SELECT clock_timestamp() AS t4 \gset
UPDATE hist SET v = 5, note = 'n5' WHERE id = 1;
SELECT clock_timestamp() AS t5 \gset
UPDATE hist SET v = 6 WHERE id = 1;
SELECT clock_timestamp() AS t6 \gset
UPDATE hist SET v = 7, note = 'n7' WHERE id = 1;
SELECT clock_timestamp() AS t7 \gset
UPDATE hist SET v = 8 WHERE id = 1;
SELECT clock_timestamp() AS t8 \gset
UPDATE hist SET v = 9 WHERE id = 1;
SELECT clock_timestamp() AS t9 \gset
UPDATE hist SET v = 10, note = 'n10' WHERE id = 1;
SELECT clock_timestamp() AS t10 \gset
DELETE FROM hist WHERE id = 1;
SELECT clock_timestamp() AS t_deleted \gset
INSERT INTO hist VALUES (1, 11, 'again', 'u');
SELECT clock_timestamp() AS t_again \gset
TRUNCATE hist;
SELECT clock_timestamp() AS t_truncated \gset
-- One row's versions, in order.
SELECT op, old_values, new_values, changed_columns FROM steward.audit_history('hist', '{"id": 1}');
SELECT count(*) AS other_row_versions FROM steward.audit_history('hist', '{"id": 2}');
SELECT count(*) AS no_such_row FROM steward.audit_history('hist', '{"id": 3}');
-- The history index (on the seal digests) orders keys by audit_key_hash():
-- a key of one integer column is itself, any other key a hash; equal keys
-- agree, and readers recheck row_key.
SELECT steward.audit_key_hash('{"id": 42}') AS int_key,
	   steward.audit_key_hash('{"id": -7}') AS negative,
	   steward.audit_key_hash('{"id": 42.0}') = 42 AS same_number,
	   steward.audit_key_hash('{"id": "42"}') <> 42 AS string_hashed,
	   steward.audit_key_hash('{"id": 1e30}') = steward.audit_key_hash('{"id": 1e30}') AS big_hashed,
	   steward.audit_key_hash('{"a": 1, "b": 2}') = steward.audit_key_hash('{"b": 2, "a": 1}') AS composite,
	   steward.audit_key_hash('[42]') <> 42 AS not_an_object,
	   steward.audit_key_hash(NULL) IS NULL AS null_key;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS
$$DECLARE l text; BEGIN FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT l; END LOOP; END$$;
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT string_agg(l, ' ') ~ 'Index Cond: .*key_hash' AS history_uses_index
  FROM pg_temp.plan($$SELECT * FROM steward.audit_seal_digest WHERE relid = 'hist'::regclass
							AND key_hash = steward.audit_key_hash('{"id": 1}')$$) l;
ROLLBACK;
-- The log itself has BRIN indexes only: a written row adds no index entry
-- (block ranges are summarized by the seal).
SELECT DISTINCT a.amname AS log_index_kind
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid IN (SELECT relid FROM pg_partition_tree('steward.audit_log'));
-- The row as it was.
SELECT x.at, steward.audit_row_as_of('hist', '{"id": 1}', x.ts) AS row
  FROM (VALUES ('before insert', :'t_before'::timestamptz), ('t0', :'t0'), ('t1', :'t1'),
			   ('t2', :'t2'), ('t3', :'t3'), ('t4', :'t4'), ('t5', :'t5'), ('t6', :'t6'),
			   ('t7', :'t7'), ('t8', :'t8'), ('t9', :'t9'), ('t10', :'t10'),
			   ('deleted', :'t_deleted'), ('inserted again', :'t_again'),
			   ('truncated', :'t_truncated')) x(at, ts);
SELECT steward.audit_row_as_of('hist', '{"id": 1}', :'t7') =
	   '{"id": 1, "v": 7, "note": "n7", "untouched": "u"}' AS t7_exact;
SELECT steward.audit_row_as_of('hist', '{"id": 2}', :'t10') AS other_row,
	   steward.audit_row_as_of('hist', '{"id": 2}', :'t_truncated') AS other_row_truncated,
	   steward.audit_row_as_of('hist', '{"id": 3}', :'t10') AS never,
	   steward.audit_row_as_of('hist', NULL, :'t10') AS null_key;
-- What changed in a window, newest first.
SELECT op, row_key, new_values FROM steward.audit_changes('hist', :'t3', :'t6');
SELECT count(*) AS changes_since_t10 FROM steward.audit_changes('hist', :'t10');
SELECT count(*) AS changes_all FROM steward.audit_changes('hist', :'t_before');

-- =====================================================================
-- 10. Sealing and tamper detection (last: it changes the log)
-- =====================================================================
-- Seals until every row logged so far is sealed (a transaction running
-- elsewhere holds back what can be sealed); the rows sealed.
CREATE FUNCTION pg_temp.seal_all() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	total bigint := 0;
BEGIN
	FOR i IN 1..200 LOOP
		total := total + steward.audit_seal_now();
		EXIT WHEN NOT EXISTS (SELECT FROM steward.audit_log l
							   WHERE l.txid >= (SELECT COALESCE(max(s.txid_to), '0')
												  FROM steward.audit_seal s));
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN total;
END $$;
SELECT steward.audit_seal_now() > 0 AS sealed_some;
SELECT pg_temp.seal_all() >= 0 AS sealed_the_rest;
SELECT steward.audit_seal_now() AS sealed_again;
SELECT sum(row_count) = (SELECT count(*) FROM steward.audit_log) AS every_row_sealed
  FROM steward.audit_seal;
SELECT bool_and(ok) AS all_ok, sum(rows_checked) = (SELECT count(*) FROM steward.audit_log) AS all_checked,
	   count(*) FILTER (WHERE first_bad_event_id IS NOT NULL OR detail IS NOT NULL) AS reported
  FROM steward.audit_verify();
SELECT count(*) AS seals_since_now FROM steward.audit_verify(now() + interval '1 minute');
SELECT steward.audit_seal_head() = (SELECT encode(hash, 'hex') FROM steward.audit_seal
									 ORDER BY seal_id DESC LIMIT 1) AS head_is_last_hash,
	   length(steward.audit_seal_head()) AS head_length;
-- New rows: sealed by the next call.
INSERT INTO hist VALUES (3, 3, 'late', 'u');
SELECT pg_temp.seal_all() AS sealed_late;
SELECT steward.audit_seal_now() AS sealed_late_again;
SELECT bool_and(ok) AS all_ok FROM steward.audit_verify();
-- The chain: each seal follows the one before; the first starts from nothing.
SELECT count(*) > 1 AS seals, bool_and(prev_hash = lag_hash) AS chained,
	   bool_and(prev_hash = '\x' OR lag_hash IS NOT NULL) AS first_from_nothing FROM
	(SELECT prev_hash, lag(hash) OVER (ORDER BY seal_id) AS lag_hash FROM steward.audit_seal) s;

-- Tampering as superuser: change one sealed row, delete another.
SELECT (SELECT event_id FROM steward.audit_log WHERE relid = 'hist'::regclass
		 ORDER BY event_id OFFSET 2 LIMIT 1) AS e_del,
	   (SELECT event_id FROM steward.audit_log WHERE relid = 'hist'::regclass
		 ORDER BY event_id DESC OFFSET 3 LIMIT 1) AS e_upd \gset
BEGIN;
UPDATE steward.audit_log SET new_values = '{"v": 1000}' WHERE event_id = :e_upd;
DELETE FROM steward.audit_log WHERE event_id = :e_del;
SELECT bool_and(ok) AS all_ok, min(first_bad_event_id) = LEAST(:e_del, :e_upd) AS first_bad_is_smaller,
	   bool_or(detail LIKE 'a row was changed, deleted or added after sealing%') AS detail_ok,
	   count(*) FILTER (WHERE NOT ok) > 0 AS some_seal_bad
  FROM steward.audit_verify();
ROLLBACK;
-- Only the change.
BEGIN;
UPDATE steward.audit_log SET app_user = 'someone else' WHERE event_id = :e_upd;
SELECT min(first_bad_event_id) = :e_upd AS changed_row_found, bool_and(ok) AS all_ok
  FROM steward.audit_verify();
ROLLBACK;
-- A change to the history index that the digests carry.
BEGIN;
UPDATE steward.audit_seal_digest SET key_hash = key_hash + 1000000 WHERE event_id = :e_upd;
SELECT min(first_bad_event_id) = :e_upd AS index_change_found, bool_and(ok) AS all_ok
  FROM steward.audit_verify();
ROLLBACK;
-- A forged row in the sealed range (the txid of a sealed row).
BEGIN;
INSERT INTO steward.audit_log (txid, relid, schema_name, table_name, op, row_key,
							   old_values, db_user, "session_user", backend_pid)
SELECT txid, relid, schema_name, table_name, 'DELETE', row_key, new_values, db_user,
	   "session_user", backend_pid
  FROM steward.audit_log WHERE event_id = :e_upd
RETURNING event_id AS e_forged \gset
SELECT min(first_bad_event_id) = :e_forged AS forged_row_found, bool_and(ok) AS all_ok,
	   bool_or(detail LIKE '%rows found%') AS count_reported
  FROM steward.audit_verify();
ROLLBACK;
-- A changed seal breaks the chain.
BEGIN;
UPDATE steward.audit_seal SET hash = sha256(hash) WHERE seal_id = (SELECT min(seal_id) FROM steward.audit_seal);
SELECT bool_and(ok) AS all_ok,
	   bool_or(detail LIKE '%does not match its digests%') AS hash_reported
  FROM steward.audit_verify();
ROLLBACK;
-- Rolled back: all is well again.
SELECT bool_and(ok) AS all_ok FROM steward.audit_verify();

-- A trigger a superuser adds to the log runs: rows then go through INSERT.
CREATE TABLE public.log_watch (n int);
CREATE TABLE lw_t (id int PRIMARY KEY, owner text);
SELECT steward.audit_enable('lw_t');
CREATE FUNCTION pg_temp.log_watch() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.log_watch VALUES (1); RETURN NEW; END$$;
CREATE TRIGGER log_watch AFTER INSERT ON steward.audit_log
	FOR EACH ROW EXECUTE FUNCTION pg_temp.log_watch();
SELECT pg_temp.mark() AS m \gset
INSERT INTO lw_t VALUES (900, 'watched'), (901, 'watched');
SELECT op, row_key, new_values->>'owner' AS owner FROM steward.audit_log
 WHERE event_id > :m ORDER BY event_id;
SELECT count(*) AS trigger_fired FROM public.log_watch;
DROP TRIGGER log_watch ON steward.audit_log;
DROP TABLE public.log_watch, lw_t;

-- DDL capture: off by default; on, one row per command, sealed like the rest.
SELECT pg_temp.mark() AS m \gset
CREATE TABLE ddl_probe (a int);
SELECT count(*) AS ddl_rows_when_off FROM steward.audit_log WHERE event_id > :m;
SET steward.audit_ddl = on;
ALTER TABLE ddl_probe ADD COLUMN b text;
CREATE INDEX ddl_probe_a ON ddl_probe (a);
DROP TABLE ddl_probe;
RESET steward.audit_ddl;
SELECT op, relid <> 0 AS is_relation, schema_name,
	   new_values->>'command_tag' AS command_tag, new_values->>'object_type' AS object_type,
	   new_values->>'object_identity' AS object_identity, new_values->>'statement' AS statement
  FROM steward.audit_log WHERE event_id > :m ORDER BY event_id;
-- Only a superuser may turn it off.
SET ROLE regress_audit_other;
SET steward.audit_ddl = off;
RESET ROLE;
SELECT steward.audit_seal_now() > 0 AS ddl_rows_sealed;
SELECT bool_and(ok) AS all_ok FROM steward.audit_verify();

-- One era, this cluster's, started by the first seal at event id 0; every
-- seal belongs to it.
SELECT count(*) AS eras, min(first_event_id) AS first_event_id,
	   bool_and(e.system_identifier = c.system_identifier) AS this_cluster,
	   bool_and(e.closed_at IS NULL) AS open,
	   (SELECT count(*) FROM steward.audit_seal WHERE era <> 0) AS seals_of_other_eras
  FROM steward.audit_era e, pg_control_system() c;

-- Clean up: the roles (their tables go with the schema).
SET client_min_messages = warning;
DROP SCHEMA aud, "My Schema" CASCADE;
DROP FUNCTION public.audit_try(text);
DROP OWNED BY regress_audit_owner, regress_audit_other;
DROP ROLE regress_audit_owner, regress_audit_other;
-- Dropped tables leave no policy behind.
SELECT count(*) AS policies_left FROM steward.audit_policy;
SELECT steward.alter_job('audit_seal', enabled => true);

