-- Row retention for tables that are not partitioned.

CREATE TABLE steward.retention (
	tbl			regclass PRIMARY KEY,
	time_column text NOT NULL,
	keep		interval NOT NULL CHECK (keep > interval '0'),
	batch_rows	int NOT NULL DEFAULT 10000 CHECK (batch_rows > 0),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE steward.retention IS
'plain tables whose old rows the row_retention job deletes; change with steward.retention_add() and retention_remove()';

SELECT pg_catalog.pg_extension_config_dump('steward.retention', '');
ALTER TABLE steward.retention ENABLE ROW LEVEL SECURITY;
CREATE POLICY retention_owner ON steward.retention FOR SELECT
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   WHERE c.oid = tbl::pg_catalog.oid), 'USAGE'));
REVOKE ALL ON steward.retention FROM PUBLIC;
GRANT SELECT ON steward.retention TO PUBLIC;

CREATE FUNCTION steward.retention_add(tbl regclass, time_column text, keep interval,
									  batch_rows int DEFAULT 10000)
RETURNS void
AS 'MODULE_PATHNAME', 'steward_retention_add'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_add(regclass, text, interval, int) IS
'delete rows of a plain table once time_column is older than keep, in batches of batch_rows';

CREATE FUNCTION steward.retention_remove(tbl regclass)
RETURNS bool
AS 'MODULE_PATHNAME', 'steward_retention_remove'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_remove(regclass) IS
'stop deleting old rows of a table; false if it had no retention';

CREATE FUNCTION steward.retention_run(tbl regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'steward_retention_run'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.retention_run(regclass) IS
'apply one table''s retention now, in this transaction; returns the rows deleted';

-- security_barrier: the filter runs before any function of the caller's query
CREATE VIEW steward.retentions WITH (security_barrier) AS
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

COMMENT ON VIEW steward.retentions IS
'plain tables under row retention; the row_retention job reports rows deleted per table in steward.job_run.detail';

GRANT SELECT ON steward.retentions TO PUBLIC;

-- Built-in job: apply every table's retention every 10 minutes.
INSERT INTO steward.job (job_name, kind, schedule, command, owner, builtin)
SELECT 'row_retention', 'row_retention', '10 minutes', '',
	   r.oid::pg_catalog.regrole, true
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
