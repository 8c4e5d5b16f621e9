-- pg_steward install script, assembled by the Makefile from schema/*.sql.
\echo Use "CREATE EXTENSION pg_steward" to load this file. \quit

-- Every object below is schema-qualified; nothing depends on the caller's path.
SET LOCAL search_path = pg_catalog, pg_temp;
