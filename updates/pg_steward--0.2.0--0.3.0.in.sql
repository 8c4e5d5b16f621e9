-- pg_steward 0.2.0 -> 0.3.0: every change made to schema/ since 0.2.0, in
-- the order of the schema/ fragments; the Makefile appends the fragments
-- that are new in 0.3.0 (schema/75_migrations.sql).  test/t/008_upgrade.pl
-- checks that an install updated with this script is the same as a fresh
-- 0.3.0 install.
\echo Use "ALTER EXTENSION pg_steward UPDATE TO '0.3.0'" to load this file. \quit

-- Every object below is schema-qualified; nothing depends on the caller's path.
SET LOCAL search_path = pg_catalog, pg_temp;
