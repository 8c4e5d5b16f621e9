-- Health: checks that say what is wrong, why and what to do; thresholds,
-- detail views, the lock tree, history (a partition set), alerts and
-- Prometheus metrics.  docs/health.md describes every check.
--
-- Access: the checks run with the caller's rights and read only catalogs and
-- statistics views, so a role sees what pg_stat_activity, pg_locks and the
-- other statistics views already show it.  Execution is granted to
-- pg_monitor, whose members see every session and statistic
-- (pg_read_all_stats); it is revoked from PUBLIC.

CREATE TYPE steward.health_result AS (
	check_name	text,
	status		text,
	object		text,
	value		numeric,
	warning		numeric,
	critical	numeric,
	detail		text,
	hint		text
);

COMMENT ON TYPE steward.health_result IS
'one finding of a health check: status ok, warning, critical or unknown for an object, the measured value against its thresholds, what it means (detail) and what to do (hint)';

-- Thresholds.  A check compares one or more metrics; each has its own row.
-- A row with enabled = false turns that comparison off; a check whose rows
-- are all disabled does not run.  NULL: that level is never reached.
CREATE TABLE steward.health_threshold (
	check_name	text NOT NULL,
	metric		text NOT NULL,
	warning		numeric,
	critical	numeric,
	enabled		boolean NOT NULL DEFAULT true,
	lower_is_worse boolean NOT NULL DEFAULT false,
	unit		text NOT NULL,
	source		text NOT NULL,
	changed		boolean NOT NULL DEFAULT false,	-- by a user: dumped
	PRIMARY KEY (check_name, metric)
);

COMMENT ON TABLE steward.health_threshold IS
'the thresholds of the health checks, one row per compared metric, prefilled with the documented defaults (docs/health.md); change warning, critical and enabled (pg_dump keeps the rows changed)';

INSERT INTO steward.health_threshold
	(check_name, metric, warning, critical, lower_is_worse, unit, source) VALUES
	('connections', 'used_pct', 80, 95, false, 'percent', 'check_postgres backends'),
	('long_running_queries', 'seconds', 300, 1800, false, 'seconds', 'check_postgres query_time'),
	('idle_in_transaction', 'seconds', 60, 600, false, 'seconds', 'check_postgres txn_idle'),
	('blocking_locks', 'seconds', 30, 300, false, 'seconds', 'check_postgres locks, pghero'),
	('prepared_transactions', 'seconds', 300, 3600, false, 'seconds', 'check_postgres prepared_txns'),
	('xid_wraparound', 'freeze_max_age_pct', 90, 95, false, 'percent', 'check_postgres autovac_freeze'),
	('xid_wraparound', 'age', 1300000000, 1400000000, false, 'transactions', 'check_postgres txn_wraparound'),
	('multixact_wraparound', 'freeze_max_age_pct', 90, 95, false, 'percent', 'check_postgres autovac_freeze, for autovacuum_multixact_freeze_max_age'),
	('multixact_wraparound', 'age', 1300000000, 1400000000, false, 'multixacts', 'as xid_wraparound'),
	('replication', 'replay_lag_seconds', 60, 600, false, 'seconds', 'check_postgres replicate_row, hot_standby_delay'),
	('replication', 'retained_wal_bytes', 1073741824, 10737418240, false, 'bytes', 'pgwatch, postgres_exporter'),
	('cache_hit_ratio', 'hit_pct', 99, 95, true, 'percent', 'pghero'),
	('table_bloat', 'wasted_bytes', 104857600, 1073741824, false, 'bytes', 'check_postgres bloat (1 GB / 5 GB), tightened'),
	('table_bloat', 'wasted_pct', 30, 30, false, 'percent', 'pghero'),
	('index_bloat', 'wasted_bytes', 104857600, 1073741824, false, 'bytes', 'check_postgres bloat (1 GB / 5 GB), tightened'),
	('index_bloat', 'wasted_pct', 30, 30, false, 'percent', 'pghero'),
	('unused_indexes', 'index_bytes', 10485760, NULL, false, 'bytes', 'pghero unused indexes'),
	('duplicate_indexes', 'index_bytes', 0, NULL, false, 'bytes', 'pghero duplicate indexes'),
	('invalid_indexes', 'count', NULL, 1, false, 'indexes', 'pgmetrics'),
	('missing_fk_indexes', 'table_bytes', 1048576, NULL, false, 'bytes', 'pg_steward'),
	('vacuum_stale', 'seconds', 86400, 172800, false, 'seconds', 'check_postgres last_vacuum'),
	('analyze_stale', 'seconds', 86400, 172800, false, 'seconds', 'check_postgres last_analyze'),
	('sequence_exhaustion', 'used_pct', 85, 95, false, 'percent', 'check_postgres sequence'),
	('wal_archiving', 'ready_files', 10, 100, false, 'files', 'check_postgres archive_ready'),
	('wal_archiving', 'failing', NULL, 1, false, 'boolean', 'pgmetrics'),
	('checkpoints', 'requested_pct', 50, NULL, false, 'percent', 'pgmetrics, pghero'),
	('backup_freshness', 'period_ratio', 1.1, 2, false, 'schedule periods', 'pg_steward'),
	('partition_premake', 'periods_ahead', 2, 1, true, 'periods', 'pg_steward'),
	('partition_premake', 'default_rows', 1, NULL, false, 'rows', 'pg_steward'),
	('job_failures', 'consecutive_failures', 1, 3, false, 'runs', 'pg_steward'),
	('audit_seal', 'unsealed_seconds', 300, NULL, false, 'seconds', 'pg_steward'),
	('audit_seal', 'failed_runs', NULL, 1, false, 'runs', 'pg_steward'),
	('migration_drift', 'count', 1, NULL, false, 'migrations', 'pg_steward');

-- Dump and restore.  pg_dump keeps the rows users changed; a restore
-- creates the extension (the default rows) and then loads those rows into
-- the table, where the insert trigger turns each into an update of the
-- default row with the same check and metric.  A row inserted or updated
-- after this script is marked changed.
CREATE FUNCTION steward.health_threshold_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.changed := true;
	UPDATE steward.health_threshold t
	   SET warning = NEW.warning, critical = NEW.critical, enabled = NEW.enabled, changed = true
	 WHERE t.check_name = NEW.check_name AND t.metric = NEW.metric;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE FUNCTION steward.health_threshold_mark()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF (NEW.warning, NEW.critical, NEW.enabled) IS DISTINCT FROM (OLD.warning, OLD.critical, OLD.enabled) THEN
		NEW.changed := true;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER health_threshold_upsert BEFORE INSERT ON steward.health_threshold
	FOR EACH ROW EXECUTE FUNCTION steward.health_threshold_upsert();
CREATE TRIGGER health_threshold_mark BEFORE UPDATE ON steward.health_threshold
	FOR EACH ROW EXECUTE FUNCTION steward.health_threshold_mark();

SELECT pg_catalog.pg_extension_config_dump('steward.health_threshold', 'WHERE changed');

REVOKE ALL ON steward.health_threshold FROM PUBLIC;
GRANT SELECT ON steward.health_threshold TO PUBLIC;

-- The thresholds of one metric; NULLs when disabled (never reached).
CREATE FUNCTION steward.health_threshold_of(check_name text, metric text,
	OUT warning numeric, OUT critical numeric)
RETURNS record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT max(t.warning) FILTER (WHERE t.enabled), max(t.critical) FILTER (WHERE t.enabled)
	  FROM steward.health_threshold t
	 WHERE t.check_name = $1 AND t.metric = $2
$$;

-- The small helpers below (health_grade to health_duration, health_min_pages,
-- health_lesser, health_reloption, metrics_label) are public and called from
-- views, where they are inlined: no SET clause (which would prevent that),
-- so every function, operator and type in them is qualified instead, and
-- the caller's search_path cannot substitute its own (=, ||, text, ...).

-- The status of a value against its thresholds (reached = at or beyond).
CREATE FUNCTION steward.health_grade(value numeric, warning numeric, critical numeric,
									 lower_is_worse boolean DEFAULT false)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE
		WHEN value IS NULL THEN 'unknown'
		WHEN NOT lower_is_worse AND value OPERATOR(pg_catalog.>=) critical THEN 'critical'
		WHEN NOT lower_is_worse AND value OPERATOR(pg_catalog.>=) warning THEN 'warning'
		WHEN lower_is_worse AND value OPERATOR(pg_catalog.<) critical THEN 'critical'
		WHEN lower_is_worse AND value OPERATOR(pg_catalog.<) warning THEN 'warning'
		ELSE 'ok' END
$$;

COMMENT ON FUNCTION steward.health_grade(numeric, numeric, numeric, boolean) IS
'ok, warning or critical: a value against its thresholds (NULL thresholds are never reached)';

-- The rank of a status: ok 0, warning 1, critical 2, unknown 3 (as Nagios
-- and steward.metrics()).
CREATE FUNCTION steward.health_status_rank(status text)
RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN status OPERATOR(pg_catalog.=) 'ok' THEN 0
				WHEN status OPERATOR(pg_catalog.=) 'warning' THEN 1
				WHEN status OPERATOR(pg_catalog.=) 'critical' THEN 2 ELSE 3 END
$$;

-- The worse of two statuses (critical > warning > unknown > ok).
CREATE FUNCTION steward.health_worse(a text, b text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN 'critical' OPERATOR(pg_catalog.=) ANY (ARRAY[a, b]) THEN 'critical'
				WHEN 'warning' OPERATOR(pg_catalog.=) ANY (ARRAY[a, b]) THEN 'warning'
				WHEN 'unknown' OPERATOR(pg_catalog.=) ANY (ARRAY[a, b]) THEN 'unknown'
				ELSE 'ok' END
$$;

-- A duration for messages, rounded to the unit that matters.
CREATE FUNCTION steward.health_duration(seconds numeric)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN seconds IS NULL THEN 'an unknown time'
				WHEN seconds OPERATOR(pg_catalog.<) 120
				THEN pg_catalog.round(seconds)::pg_catalog.text OPERATOR(pg_catalog.||) ' s'
				WHEN seconds OPERATOR(pg_catalog.<) 7200
				THEN pg_catalog.round(seconds OPERATOR(pg_catalog./) 60)::pg_catalog.text
					 OPERATOR(pg_catalog.||) ' min'
				WHEN seconds OPERATOR(pg_catalog.<) 172800
				THEN pg_catalog.round(seconds OPERATOR(pg_catalog./) 3600, 1)::pg_catalog.text
					 OPERATOR(pg_catalog.||) ' h'
				ELSE pg_catalog.round(seconds OPERATOR(pg_catalog./) 86400, 1)::pg_catalog.text
					 OPERATOR(pg_catalog.||) ' days' END
$$;

-- "schema"."name" of a relation, quoted for SQL (C: a syscache look-up).
CREATE FUNCTION steward.health_qname(relid oid)
RETURNS text
AS 'MODULE_PATHNAME', 'steward_health_qname'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- C helpers: bloat estimates from pg_class and pg_statistic widths (without
-- the values), checkpoint counters (their view moved in PostgreSQL 17),
-- schedule periods.
CREATE FUNCTION steward.health_bloat_estimates(indexes boolean, min_pages bigint DEFAULT 0,
	OUT relid oid, OUT table_relid oid, OUT bytes bigint, OUT expected_pages bigint,
	OUT wasted_bytes bigint, OUT wasted_pct float8, OUT est_rows float8, OUT fillfactor int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'steward_health_bloat_estimates'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.health_bloat_estimates(boolean, bigint) IS
'the estimated bloat of each analyzed table (or valid btree index) of at least min_pages pages whose statistics the caller may read: its pages against those its row count and average row width (pg_statistic, no values) need at its fillfactor';

CREATE FUNCTION steward.health_checkpoint_counts(OUT timed bigint, OUT requested bigint,
	OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'steward_health_checkpoint_counts'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION steward.health_schedule_period(schedule text, timezone text DEFAULT NULL)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT max(n) - min(n) FROM steward.next_runs(schedule, pg_catalog.now(), 2, timezone) n
$$;

COMMENT ON FUNCTION steward.health_schedule_period(text, text) IS
'the time between the next two runs of a job schedule (cron or interval)';

-- ---------------------------------------------------------------------
-- Sessions: connections, long queries, idle transactions, locks,
-- prepared transactions.
-- ---------------------------------------------------------------------

CREATE VIEW steward.lock_tree AS
WITH RECURSIVE waiting AS (
	SELECT a.pid, pg_catalog.pg_blocking_pids(a.pid) AS blocked_by
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.wait_event_type = 'Lock'
), tree AS (
	SELECT b.pid AS root_pid, b.pid, 0 AS depth, ARRAY[b.pid] AS path,
		   NULL::int AS blocked_by_pid
	  FROM (SELECT DISTINCT pg_catalog.unnest(w.blocked_by) AS pid FROM waiting w) b
	 WHERE NOT EXISTS (SELECT 1 FROM waiting w2
						WHERE w2.pid = b.pid AND pg_catalog.cardinality(w2.blocked_by) > 0)
	UNION ALL
	SELECT t.root_pid, w.pid, t.depth + 1, t.path || w.pid, t.pid
	  FROM tree t JOIN waiting w ON t.pid = ANY (w.blocked_by)
	 WHERE w.pid <> ALL (t.path)
)
SELECT t.root_pid, t.pid, t.depth, t.blocked_by_pid, t.path,
	   CASE WHEN t.pid = 0 THEN 'prepared transaction' ELSE a.state END AS state,
	   a.usename, a.datname, a.application_name,
	   pg_catalog.now() - a.xact_start AS xact_age,
	   pg_catalog.now() - a.state_change AS state_age,
	   (SELECT pg_catalog.now() - min(l.waitstart) FROM pg_catalog.pg_locks l
		 WHERE l.pid = t.pid AND NOT l.granted) AS lock_wait,
	   (SELECT pg_catalog.string_agg(DISTINCT l.locktype || ' ' || l.mode ||
				COALESCE(' on ' || CASE WHEN l.database = (SELECT d.oid FROM pg_catalog.pg_database d
														   WHERE d.datname = pg_catalog.current_database())
										THEN l.relation::pg_catalog.regclass::text
										ELSE l.relation::text END, ''), ', ')
		  FROM pg_catalog.pg_locks l WHERE l.pid = t.pid AND NOT l.granted) AS waiting_for,
	   a.query
  FROM tree t
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = t.pid
 ORDER BY t.root_pid, t.path;

COMMENT ON VIEW steward.lock_tree IS
'sessions waiting on locks as trees: each root blocker (a session that waits on no one) first, then the sessions it blocks, depth first';

CREATE FUNCTION steward.health_connections()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH c AS (
		SELECT count(*) FILTER (WHERE a.backend_type = 'client backend') AS used,
			   current_setting('max_connections')::int
			   - current_setting('superuser_reserved_connections')::int
			   - COALESCE(current_setting('reserved_connections', true)::int, 0) AS avail
		  FROM pg_catalog.pg_stat_activity a
	)
	SELECT 'connections', steward.health_grade(v, th.warning, th.critical), 'cluster',
		   v, th.warning, th.critical,
		   format('%s of %s connections in use (max_connections less the reserved ones)', c.used, c.avail),
		   CASE WHEN steward.health_grade(v, th.warning, th.critical) <> 'ok' THEN
				'find idle sessions: SELECT pid, usename, application_name, now() - state_change FROM pg_stat_activity WHERE state = ''idle'' ORDER BY state_change; put a connection pooler in front or raise max_connections'
		   END
	  FROM c, LATERAL (SELECT round(100.0 * c.used / greatest(c.avail, 1), 1) AS v) x,
		   steward.health_threshold_of('connections', 'used_pct') th
$$;

CREATE FUNCTION steward.health_long_running_queries()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'long_running_queries', steward.health_grade(s, th.warning, th.critical),
		   format('pid %s', a.pid), s, th.warning, th.critical,
		   format('%s in database %s has run one statement for %s: %s', a.usename, a.datname,
				  steward.health_duration(s), left(a.query, 200)),
		   format('the query of pid %s has run %s: SELECT pg_cancel_backend(%s)',
				  a.pid, steward.health_duration(s), a.pid)
	  FROM pg_catalog.pg_stat_activity a,
		   LATERAL (SELECT round(extract(epoch FROM pg_catalog.now() - a.query_start), 1) AS s) x,
		   steward.health_threshold_of('long_running_queries', 'seconds') th
	 WHERE a.state = 'active' AND a.backend_type = 'client backend'
	   AND a.pid <> pg_catalog.pg_backend_pid()
	   AND steward.health_grade(s, th.warning, th.critical) <> 'ok'
	 ORDER BY s DESC
$$;

CREATE FUNCTION steward.health_idle_in_transaction()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'idle_in_transaction', steward.health_grade(s, th.warning, th.critical),
		   format('pid %s', a.pid), s, th.warning, th.critical,
		   format('%s in database %s has been %s for %s (transaction open for %s); last statement: %s',
				  a.usename, a.datname, a.state, steward.health_duration(s),
				  steward.health_duration(extract(epoch FROM pg_catalog.now() - a.xact_start)),
				  left(a.query, 200)),
		   format('pid %s has been idle in transaction %s: SELECT pg_terminate_backend(%s); set idle_in_transaction_session_timeout',
				  a.pid, steward.health_duration(s), a.pid)
	  FROM pg_catalog.pg_stat_activity a,
		   LATERAL (SELECT round(extract(epoch FROM pg_catalog.now() - a.state_change), 1) AS s) x,
		   steward.health_threshold_of('idle_in_transaction', 'seconds') th
	 WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
	   AND a.pid <> pg_catalog.pg_backend_pid()
	   AND steward.health_grade(s, th.warning, th.critical) <> 'ok'
	 ORDER BY s DESC
$$;

CREATE FUNCTION steward.health_blocking_locks()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH lt AS (SELECT * FROM steward.lock_tree),
	w AS (
		SELECT DISTINCT ON (lt.pid) lt.*, round(extract(epoch FROM lt.lock_wait), 1) AS s
		  FROM lt WHERE lt.depth > 0
		 ORDER BY lt.pid, lt.depth DESC
	)
	SELECT 'blocking_locks', steward.health_grade(w.s, th.warning, th.critical),
		   format('pid %s', w.pid), w.s, th.warning, th.critical,
		   format('pid %s (%s in database %s) has waited %s for %s; blocking chain, root blocker first: %s',
				  w.pid, w.usename, w.datname, steward.health_duration(w.s), w.waiting_for,
				  (SELECT string_agg(format('%s (%s %s)', p.pid, COALESCE(r.state, 'unknown'),
											steward.health_duration(extract(epoch FROM r.state_age))),
									 ' -> ' ORDER BY p.n)
					 FROM unnest(w.path) WITH ORDINALITY p(pid, n)
					 LEFT JOIN LATERAL (SELECT * FROM lt WHERE lt.pid = p.pid LIMIT 1) r ON true)),
		   CASE WHEN w.root_pid = 0 THEN
				'the root blocker is a prepared transaction: see the prepared_transactions check (COMMIT PREPARED or ROLLBACK PREPARED)'
		   ELSE format('the blocking pid %s has been %s %s: SELECT pg_terminate_backend(%s)',
					   w.root_pid, COALESCE(root.state, 'running'),
					   steward.health_duration(extract(epoch FROM root.state_age)), w.root_pid)
		   END
	  FROM w
	  LEFT JOIN LATERAL (SELECT * FROM lt WHERE lt.pid = w.root_pid AND lt.depth = 0 LIMIT 1) root ON true,
		   steward.health_threshold_of('blocking_locks', 'seconds') th
	 WHERE steward.health_grade(w.s, th.warning, th.critical) <> 'ok'
	 ORDER BY w.s DESC
$$;

CREATE FUNCTION steward.health_prepared_transactions()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'prepared_transactions', steward.health_grade(s, th.warning, th.critical),
		   p.gid, s, th.warning, th.critical,
		   format('transaction %s prepared by %s in database %s %s ago holds its locks and the xmin horizon',
				  p.transaction, p.owner, p.database, steward.health_duration(s)),
		   format('in database %s, finish it: COMMIT PREPARED %s; or ROLLBACK PREPARED %s',
				  quote_ident(p.database), quote_literal(p.gid), quote_literal(p.gid))
	  FROM pg_catalog.pg_prepared_xacts p,
		   LATERAL (SELECT round(extract(epoch FROM pg_catalog.now() - p.prepared), 1) AS s) x,
		   steward.health_threshold_of('prepared_transactions', 'seconds') th
	 WHERE steward.health_grade(s, th.warning, th.critical) <> 'ok'
	 ORDER BY s DESC
$$;

-- ---------------------------------------------------------------------
-- Wraparound: per database and the worst tables of this database.
-- ---------------------------------------------------------------------

CREATE VIEW steward.wraparound AS
SELECT 'database'::text AS kind, NULL::oid AS relid, d.datname::text AS object,
	   pg_catalog.age(d.datfrozenxid)::bigint AS xid_age,
	   pg_catalog.mxid_age(d.datminmxid)::bigint AS mxid_age,
	   round(100.0 * pg_catalog.age(d.datfrozenxid)
			 / pg_catalog.current_setting('autovacuum_freeze_max_age')::numeric, 1) AS xid_freeze_max_age_pct,
	   round(100.0 * pg_catalog.mxid_age(d.datminmxid)
			 / pg_catalog.current_setting('autovacuum_multixact_freeze_max_age')::numeric, 1) AS mxid_freeze_max_age_pct
  FROM pg_catalog.pg_database d
UNION ALL
SELECT 'table', c.oid, steward.health_qname(c.oid), x.xid_age, x.mxid_age,
	   round(100.0 * x.xid_age / pg_catalog.current_setting('autovacuum_freeze_max_age')::numeric, 1),
	   round(100.0 * x.mxid_age / pg_catalog.current_setting('autovacuum_multixact_freeze_max_age')::numeric, 1)
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid,
	   LATERAL (SELECT greatest(pg_catalog.age(c.relfrozenxid), pg_catalog.age(t.relfrozenxid))::bigint AS xid_age,
					   greatest(pg_catalog.mxid_age(c.relminmxid), pg_catalog.mxid_age(t.relminmxid))::bigint AS mxid_age) x
 WHERE c.relkind IN ('r', 'm');

COMMENT ON VIEW steward.wraparound IS
'transaction ID and multixact ages of every database and of the tables of this database (with their TOAST tables), also as percent of the autovacuum freeze max ages';

-- The thresholds are the lower of the percent of the freeze max age and
-- the absolute age: both comparisons in one.
CREATE FUNCTION steward.health_wraparound(check_name text)
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH lim AS (
		SELECT least(round(p.warning / 100 * f.fma), a.warning) AS w,
			   least(round(p.critical / 100 * f.fma), a.critical) AS c
		  FROM steward.health_threshold_of($1, 'freeze_max_age_pct') p,
			   steward.health_threshold_of($1, 'age') a,
			   LATERAL (SELECT current_setting(CASE $1 WHEN 'xid_wraparound' THEN 'autovacuum_freeze_max_age'
											   ELSE 'autovacuum_multixact_freeze_max_age' END)::numeric AS fma) f
	), r AS (
		-- (a table's name only for the 5 worst: CASE folds the name away here)
		SELECT w.kind, w.relid, CASE WHEN w.kind = 'database' THEN w.object END AS object,
			   (CASE $1 WHEN 'xid_wraparound' THEN w.xid_age ELSE w.mxid_age END)::numeric AS age,
			   steward.health_grade(CASE $1 WHEN 'xid_wraparound' THEN w.xid_age ELSE w.mxid_age END,
									lim.w, lim.c) AS status
		  FROM steward.wraparound w, lim
	), worst AS (
		SELECT * FROM r WHERE r.kind = 'table' AND r.status <> 'ok' ORDER BY r.age DESC LIMIT 5
	)
	SELECT $1, r.status,
		   CASE r.kind WHEN 'database' THEN 'database ' || quote_ident(r.object)
			   ELSE 'table ' || steward.health_qname(r.relid) END,
		   r.age, lim.w, lim.c,
		   format('%s age %s (%s%% of the wraparound limit of 2^31)',
				  CASE $1 WHEN 'xid_wraparound' THEN 'transaction ID' ELSE 'multixact ID' END,
				  r.age, round(100 * r.age / 2147483648, 1)),
		   CASE WHEN r.status = 'ok' THEN NULL
				WHEN r.kind = 'database' THEN
					format('in database %s, VACUUM (FREEZE, VERBOSE) the oldest tables (SELECT object, xid_age, mxid_age FROM steward.wraparound ORDER BY %s DESC LIMIT 10); look for old transactions, prepared transactions and replication slots holding back the xmin horizon',
						   quote_ident(r.object), CASE $1 WHEN 'xid_wraparound' THEN 'xid_age' ELSE 'mxid_age' END)
				ELSE format('VACUUM (FREEZE, VERBOSE) %s', steward.health_qname(r.relid)) END
	  FROM (SELECT * FROM r WHERE r.kind = 'database' UNION ALL SELECT * FROM worst) r, lim
	 ORDER BY r.kind, r.age DESC
$$;

CREATE FUNCTION steward.health_xid_wraparound()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM steward.health_wraparound('xid_wraparound') $$;

CREATE FUNCTION steward.health_multixact_wraparound()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM steward.health_wraparound('multixact_wraparound') $$;

-- ---------------------------------------------------------------------
-- Replication, cache, checkpoints, WAL archiving.
-- ---------------------------------------------------------------------

CREATE FUNCTION steward.health_replication()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'replication', steward.health_grade(x.s, th.warning, th.critical),
		   format('standby %s', COALESCE(NULLIF(r.application_name, ''), host(r.client_addr), r.pid::text)),
		   x.s, th.warning, th.critical,
		   format('standby in state %s (%s) replays %s behind', r.state, r.sync_state, steward.health_duration(x.s)),
		   'check the standby''s network and its replay (pg_stat_replication write_lag, flush_lag, replay_lag; on the standby pg_stat_wal_receiver and long queries delaying replay)'
	  FROM pg_catalog.pg_stat_replication r,
		   LATERAL (SELECT round(extract(epoch FROM r.replay_lag), 1) AS s) x,
		   steward.health_threshold_of('replication', 'replay_lag_seconds') th
	 WHERE steward.health_grade(x.s, th.warning, th.critical) NOT IN ('ok', 'unknown')
	UNION ALL
	SELECT 'replication',
		   steward.health_worse(steward.health_grade(x.b, th.warning, th.critical),
								CASE WHEN s.wal_status IN ('unreserved', 'lost') THEN 'critical'
									 WHEN NOT s.active THEN 'warning' ELSE 'ok' END),
		   format('slot %s', s.slot_name), x.b, th.warning, th.critical,
		   format('%s %s slot%s retains %s of WAL (wal_status %s)',
				  CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.slot_type,
				  COALESCE(' of database ' || s.database, ''), pg_size_pretty(x.b), COALESCE(s.wal_status, 'unknown')),
		   CASE WHEN s.wal_status = 'lost' THEN
				format('the slot has lost WAL its consumer needs: rebuild the consumer, then SELECT pg_drop_replication_slot(%s)', quote_literal(s.slot_name))
		   ELSE format('start the slot''s consumer, or if it is gone: SELECT pg_drop_replication_slot(%s)', quote_literal(s.slot_name)) END
	  FROM pg_catalog.pg_replication_slots s,
		   LATERAL (SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
												ELSE pg_current_wal_lsn() END, s.restart_lsn) AS b) x,
		   steward.health_threshold_of('replication', 'retained_wal_bytes') th
	 WHERE steward.health_worse(steward.health_grade(x.b, th.warning, th.critical),
								CASE WHEN s.wal_status IN ('unreserved', 'lost') THEN 'critical'
									 WHEN NOT s.active THEN 'warning' ELSE 'ok' END) NOT IN ('ok', 'unknown')
$$;

CREATE FUNCTION steward.health_cache_hit_ratio()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'cache_hit_ratio', steward.health_grade(x.v, th.warning, th.critical, true),
		   'database ' || quote_ident(d.datname), x.v, th.warning, th.critical,
		   format('%s of %s block reads since %s were found in shared buffers',
				  d.blks_hit, d.blks_hit + d.blks_read, COALESCE(d.stats_reset::text, 'the statistics were reset')),
		   CASE WHEN steward.health_grade(x.v, th.warning, th.critical, true) <> 'ok' THEN
				format('the working set does not fit in shared_buffers (%s): raise it, or find the queries that read most (pg_stat_statements shared_blks_read)',
					   current_setting('shared_buffers')) END
	  FROM pg_catalog.pg_stat_database d,
		   LATERAL (SELECT round(100.0 * d.blks_hit / greatest(d.blks_hit + d.blks_read, 1), 2) AS v) x,
		   steward.health_threshold_of('cache_hit_ratio', 'hit_pct') th
	 WHERE d.datname IS NOT NULL
	   AND d.blks_hit + d.blks_read >= COALESCE(current_setting('steward.health_cache_min_blocks', true)::bigint, 100000)
$$;

CREATE FUNCTION steward.health_checkpoints()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'checkpoints', steward.health_grade(x.v, th.warning, th.critical), 'checkpointer',
		   x.v, th.warning, th.critical,
		   format('%s requested and %s timed checkpoints since %s', c.requested, c.timed,
				  COALESCE(c.stats_reset::text, 'the statistics were reset')),
		   CASE WHEN steward.health_grade(x.v, th.warning, th.critical) <> 'ok' THEN
				format('checkpoints are forced by WAL volume: raise max_wal_size (now %s) so that checkpoint_timeout (%s) triggers them',
					   current_setting('max_wal_size'), current_setting('checkpoint_timeout')) END
	  FROM steward.health_checkpoint_counts() c,
		   LATERAL (SELECT round(100.0 * c.requested / greatest(c.requested + c.timed, 1), 1) AS v) x,
		   steward.health_threshold_of('checkpoints', 'requested_pct') th
	 WHERE c.requested + c.timed > 0
$$;

CREATE FUNCTION steward.health_wal_archiving()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'wal_archiving',
		   steward.health_worse(steward.health_grade(r.n, th.warning, th.critical),
								CASE WHEN f.failing THEN steward.health_grade(1, fth.warning, fth.critical) ELSE 'ok' END),
		   'archiver', r.n, th.warning, th.critical,
		   format('%s WAL files wait to be archived; %s archived (last %s at %s), %s failed (last %s at %s)',
				  r.n, a.archived_count, COALESCE(a.last_archived_wal, 'none'), COALESCE(a.last_archived_time::text, 'never'),
				  a.failed_count, COALESCE(a.last_failed_wal, 'none'), COALESCE(a.last_failed_time::text, 'never')),
		   CASE WHEN f.failing THEN
				format('archive_command fails (last failure on %s after the last success): read the server log, run the command by hand as the postgres user for that file, and fix it',
					   a.last_failed_wal)
				WHEN steward.health_grade(r.n, th.warning, th.critical) <> 'ok' THEN
				'the archiver is behind: make archive_command faster (compression, parallel upload) or check its destination'
		   END
	  FROM pg_catalog.pg_stat_archiver a,
		   LATERAL (SELECT a.last_failed_time > COALESCE(a.last_archived_time, '-infinity') AS failing) f,
		   LATERAL (SELECT count(*)::numeric AS n FROM pg_catalog.pg_ls_archive_statusdir() s
					 WHERE s.name LIKE '%.ready') r,
		   steward.health_threshold_of('wal_archiving', 'ready_files') th,
		   steward.health_threshold_of('wal_archiving', 'failing') fth
	 WHERE current_setting('archive_mode') <> 'off'
$$;

-- ---------------------------------------------------------------------
-- Bloat: statistical estimates from pg_class and pg_statistic widths.
-- ---------------------------------------------------------------------

CREATE VIEW steward.table_bloat AS
SELECT e.relid, steward.health_qname(e.relid) AS table_name, e.bytes AS table_bytes,
	   e.expected_pages, e.wasted_bytes, e.wasted_pct::numeric AS wasted_pct,
	   e.est_rows::bigint AS est_rows, e.fillfactor
  FROM steward.health_bloat_estimates(false) e;

COMMENT ON VIEW steward.table_bloat IS
'estimated wasted space of each analyzed table: its pages against the pages its row count and average row width (pg_statistic) need at its fillfactor; no table is read';

CREATE VIEW steward.index_bloat AS
SELECT e.relid AS indexrelid, steward.health_qname(e.relid) AS index_name,
	   steward.health_qname(e.table_relid) AS table_name, e.bytes AS index_bytes,
	   e.expected_pages, e.wasted_bytes, e.wasted_pct::numeric AS wasted_pct,
	   e.est_rows::bigint AS est_entries, e.fillfactor
  FROM steward.health_bloat_estimates(true) e;

COMMENT ON VIEW steward.index_bloat IS
'estimated wasted space of each btree index of an analyzed table, from its entry count and the average width of its columns (pg_statistic); no index is read';

-- The smallest relation, in pages, whose waste can reach a bytes threshold.
CREATE FUNCTION steward.health_min_pages(warning numeric, critical numeric)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT COALESCE(pg_catalog.floor(LEAST(warning, critical)
									 OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.numeric)::pg_catalog.int8,
					9223372036854775807)
$$;

-- The lesser of two statuses: bloat is flagged when both bytes and percent say so.
CREATE FUNCTION steward.health_lesser(a text, b text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN 'ok' OPERATOR(pg_catalog.=) ANY (ARRAY[a, b]) THEN 'ok'
				WHEN a OPERATOR(pg_catalog.=) 'critical' AND b OPERATOR(pg_catalog.=) 'critical' THEN 'critical'
				ELSE 'warning' END
$$;

CREATE FUNCTION steward.health_table_bloat()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'table_bloat', x.status, steward.health_qname(v.relid), v.wasted_bytes, tb.warning, tb.critical,
		   format('about %s of %s (%s%%) is free space by the statistics (%s rows, fillfactor %s)',
				  pg_size_pretty(v.wasted_bytes), pg_size_pretty(v.bytes), v.wasted_pct, v.est_rows::bigint, v.fillfactor),
		   format('rewrite the table when a lock allows: VACUUM (FULL, ANALYZE) %s (ACCESS EXCLUSIVE lock), or online with pg_repack; then keep autovacuum up with its updates',
				  steward.health_qname(v.relid))
	  FROM steward.health_threshold_of('table_bloat', 'wasted_bytes') tb,
		   steward.health_threshold_of('table_bloat', 'wasted_pct') tp,
		   steward.health_bloat_estimates(false, steward.health_min_pages(tb.warning, tb.critical)) v,
		   LATERAL (SELECT steward.health_lesser(steward.health_grade(v.wasted_bytes, tb.warning, tb.critical),
												 steward.health_grade(v.wasted_pct::numeric, tp.warning, tp.critical)) AS status) x
	 WHERE x.status <> 'ok'
	 ORDER BY v.wasted_bytes DESC
$$;

CREATE FUNCTION steward.health_index_bloat()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'index_bloat', x.status, steward.health_qname(v.relid), v.wasted_bytes, tb.warning, tb.critical,
		   format('about %s of %s (%s%%) of the index on %s is free space by the statistics',
				  pg_size_pretty(v.wasted_bytes), pg_size_pretty(v.bytes), v.wasted_pct, steward.health_qname(v.table_relid)),
		   format('REINDEX INDEX CONCURRENTLY %s', steward.health_qname(v.relid))
	  FROM steward.health_threshold_of('index_bloat', 'wasted_bytes') tb,
		   steward.health_threshold_of('index_bloat', 'wasted_pct') tp,
		   steward.health_bloat_estimates(true, steward.health_min_pages(tb.warning, tb.critical)) v,
		   LATERAL (SELECT steward.health_lesser(steward.health_grade(v.wasted_bytes, tb.warning, tb.critical),
												 steward.health_grade(v.wasted_pct::numeric, tp.warning, tp.critical)) AS status) x
	 WHERE x.status <> 'ok'
	 ORDER BY v.wasted_bytes DESC
$$;

-- ---------------------------------------------------------------------
-- Indexes: unused, duplicate, invalid; foreign keys without an index.
-- ---------------------------------------------------------------------

-- Unused indexes of at least min_pages pages.  The size is relpages (as of
-- the last VACUUM, ANALYZE or CREATE INDEX): a stat() of every index's file
-- would cost more than all the rest; and the scan count, a look-up in the
-- statistics, is only read for indexes that are large enough.
CREATE FUNCTION steward.health_unused_index_list(min_pages bigint,
	OUT indexrelid oid, OUT indrelid oid, OUT index_bytes bigint, OUT idx_scan bigint)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT i.indexrelid, i.indrelid,
		   c.relpages::bigint * pg_catalog.current_setting('block_size')::bigint, 0::bigint
	  FROM pg_catalog.pg_index i
	  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE CASE WHEN c.relpages >= min_pages THEN pg_catalog.pg_stat_get_numscans(i.indexrelid) = 0 ELSE false END
	   AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisreplident
	   AND n.nspname <> ALL ('{pg_catalog,information_schema}'::name[]) AND n.nspname !~ '^pg_toast'
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
$$;

CREATE VIEW steward.unused_indexes AS
SELECT u.indexrelid, steward.health_qname(u.indexrelid) AS index_name,
	   steward.health_qname(u.indrelid) AS table_name, u.index_bytes, u.idx_scan,
	   (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d
		 WHERE d.datname = pg_catalog.current_database()) AS stats_reset,
	   format('DROP INDEX CONCURRENTLY %s', steward.health_qname(u.indexrelid)) AS drop_index
  FROM steward.health_unused_index_list(0) u;

COMMENT ON VIEW steward.unused_indexes IS
'indexes never scanned since the statistics were reset that back no constraint, with the statement that drops them';

CREATE FUNCTION steward.health_unused_indexes()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'unused_indexes', steward.health_grade(v.index_bytes, th.warning, th.critical),
		   steward.health_qname(v.indexrelid), v.index_bytes, th.warning, th.critical,
		   format('%s on %s has not been scanned since %s', pg_size_pretty(v.index_bytes),
				  steward.health_qname(v.indrelid),
				  COALESCE('the statistics were reset at ' || (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d
																WHERE d.datname = pg_catalog.current_database()),
						   'the statistics were last reset')),
		   format('DROP INDEX CONCURRENTLY %s (after checking that standbys do not use it either)',
				  steward.health_qname(v.indexrelid))
	  FROM steward.health_threshold_of('unused_indexes', 'index_bytes') th,
		   steward.health_unused_index_list(steward.health_min_pages(th.warning, th.critical)) v
	 WHERE steward.health_grade(v.index_bytes, th.warning, th.critical) <> 'ok'
	 ORDER BY v.index_bytes DESC
$$;

-- Two indexes can only be redundant when they are on the same table and
-- lead with the same column (0: an expression): that cheap join picks the
-- candidates, whose columns, classes and expressions are compared next.
CREATE VIEW steward.duplicate_indexes AS
WITH pairs AS MATERIALIZED (
	SELECT r.indexrelid AS r_id, k.indexrelid AS k_id
	  FROM pg_catalog.pg_index r
	  JOIN pg_catalog.pg_index k ON k.indrelid = r.indrelid AND k.indkey[0] = r.indkey[0]
								AND k.indexrelid <> r.indexrelid
	 WHERE r.indisvalid AND k.indisvalid
), ix AS MATERIALIZED (
	SELECT i.indexrelid, i.indrelid, i.indisunique, c.relam,
		   (string_to_array(i.indkey::text, ' ')::int2[])[1:i.indnkeyatts] AS keys,
		   string_to_array(i.indkey::text, ' ')::int2[] AS cols,
		   string_to_array(i.indclass::text, ' ')::oid[] AS classes,
		   string_to_array(i.indcollation::text, ' ')::oid[] AS colls,
		   string_to_array(i.indoption::text, ' ')::int2[] AS opts,
		   pg_catalog.pg_get_expr(i.indexprs, i.indrelid) AS exprs,
		   pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS pred,
		   (SELECT k.conname FROM pg_catalog.pg_constraint k
			 WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid LIMIT 1) AS constraint_name
	  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
	 WHERE c.relkind = 'i' AND i.indexrelid IN (SELECT p.r_id FROM pairs p)
)
SELECT r.indexrelid, steward.health_qname(r.indexrelid) AS index_name,
	   steward.health_qname(k.indexrelid) AS covered_by, steward.health_qname(r.indrelid) AS table_name,
	   CASE WHEN r.keys = k.keys THEN 'duplicate' ELSE 'prefix' END AS kind,
	   pg_catalog.pg_relation_size(r.indexrelid) AS index_bytes,
	   CASE WHEN r.constraint_name IS NULL
			THEN format('DROP INDEX CONCURRENTLY %s', steward.health_qname(r.indexrelid))
			ELSE format('ALTER TABLE %s DROP CONSTRAINT %s', steward.health_qname(r.indrelid),
						quote_ident(r.constraint_name)) END AS drop_index
  FROM pairs p
  JOIN ix r ON r.indexrelid = p.r_id
  JOIN ix k ON k.indexrelid = p.k_id AND k.relam = r.relam AND r.pred IS NOT DISTINCT FROM k.pred
 WHERE (r.keys = k.keys AND r.classes = k.classes AND r.colls = k.colls AND r.opts = k.opts
		AND r.exprs IS NOT DISTINCT FROM k.exprs AND r.cols <@ k.cols
		-- of two equal indexes, keep the unique one, then the one behind a
		-- constraint, then the older one
		AND (NOT r.indisunique OR k.indisunique)
		AND (r.indisunique <> k.indisunique
			 OR (r.constraint_name IS NULL AND k.constraint_name IS NOT NULL)
			 OR ((r.constraint_name IS NULL) = (k.constraint_name IS NULL)
				 AND (r.cols <> k.cols OR r.indexrelid > k.indexrelid))))
	OR (NOT r.indisunique AND r.constraint_name IS NULL
		AND r.exprs IS NULL AND k.exprs IS NULL
		AND (SELECT a.amname FROM pg_catalog.pg_am a WHERE a.oid = r.relam) = 'btree'
		AND cardinality(r.keys) < cardinality(k.keys)
		AND r.keys = k.keys[1:cardinality(r.keys)]
		AND r.classes = k.classes[1:cardinality(r.keys)]
		AND r.colls = k.colls[1:cardinality(r.keys)]
		AND r.opts = k.opts[1:cardinality(r.keys)]
		AND r.cols[cardinality(r.keys) + 1:] <@ k.cols);

COMMENT ON VIEW steward.duplicate_indexes IS
'indexes another index of the same table makes redundant: the same key columns, operator classes, collations, orderings, expressions and predicate (duplicate), or a non-unique btree index whose keys lead another''s (prefix)';

CREATE FUNCTION steward.health_duplicate_indexes()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT DISTINCT ON (v.indexrelid)
		   'duplicate_indexes', steward.health_grade(v.index_bytes, th.warning, th.critical),
		   v.index_name, v.index_bytes, th.warning, th.critical,
		   format('%s (%s) on %s is %s by %s',
				  v.index_name, pg_size_pretty(v.index_bytes), v.table_name,
				  CASE v.kind WHEN 'duplicate' THEN 'duplicated' ELSE 'a leading prefix of, and covered' END,
				  v.covered_by),
		   v.drop_index
	  FROM steward.duplicate_indexes v,
		   steward.health_threshold_of('duplicate_indexes', 'index_bytes') th
	 WHERE steward.health_grade(v.index_bytes, th.warning, th.critical) <> 'ok'
	 ORDER BY v.indexrelid, v.kind
$$;

CREATE FUNCTION steward.health_invalid_indexes()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'invalid_indexes', steward.health_grade(1, th.warning, th.critical),
		   steward.health_qname(i.indexrelid), 1, th.warning, th.critical,
		   format('%s on %s is invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY): it is maintained on every write but never used%s',
				  steward.health_qname(i.indexrelid), steward.health_qname(i.indrelid),
				  CASE WHEN i.indisunique THEN ', and its uniqueness is not checked' ELSE '' END),
		   format('DROP INDEX CONCURRENTLY %s; then create it again (or REINDEX INDEX CONCURRENTLY %s)%s',
				  steward.health_qname(i.indexrelid), steward.health_qname(i.indexrelid),
				  CASE WHEN i.indisunique THEN ' after removing the duplicate keys that made it fail' ELSE '' END)
	  FROM pg_catalog.pg_index i,
		   steward.health_threshold_of('invalid_indexes', 'count') th
	 WHERE NOT i.indisvalid
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p
						WHERE p.index_relid = i.indexrelid)
	   AND steward.health_grade(1, th.warning, th.critical) <> 'ok'
$$;

-- Foreign keys whose referencing columns lead no index, with the size of
-- the referencing table.  pg_table_size() (a stat() per file) only for the
-- tables whose relpages (with their TOAST table's) reach min_bytes or that
-- were never vacuumed or analyzed; for the others that estimate, which is
-- below min_bytes anyway.
CREATE FUNCTION steward.health_missing_fk_list(min_bytes numeric,
	OUT conoid oid, OUT relid oid, OUT table_name text, OUT constraint_name name,
	OUT referenced_table text, OUT columns text, OUT table_bytes bigint, OUT create_index text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT k.oid, k.conrelid, steward.health_qname(k.conrelid),
	   k.conname, steward.health_qname(k.confrelid),
	   x.cols, s.table_bytes,
	   format('CREATE INDEX %sON %s (%s)',
			  CASE WHEN c.relkind = 'p' THEN '' ELSE 'CONCURRENTLY ' END,
			  steward.health_qname(k.conrelid), x.cols)
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid,
	   LATERAL (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.n) AS cols
				  FROM unnest(k.conkey) WITH ORDINALITY u(attnum, n)
				  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum) x,
	   LATERAL (SELECT (c.relpages + COALESCE(t.relpages, 0))::bigint
					   * pg_catalog.current_setting('block_size')::bigint AS bytes) e,
	   LATERAL (SELECT CASE WHEN c.relkind = 'p'
							THEN (SELECT sum(pg_catalog.pg_table_size(p.relid))::bigint
									FROM pg_catalog.pg_partition_tree(c.oid) p)
							WHEN c.reltuples >= 0 AND e.bytes < min_bytes THEN e.bytes
							ELSE pg_catalog.pg_table_size(c.oid) END AS table_bytes) s
 WHERE k.contype = 'f' AND k.conparentid = 0
   AND NOT EXISTS (
		SELECT 1 FROM pg_catalog.pg_index i
		 WHERE i.indrelid = k.conrelid AND i.indpred IS NULL
		   AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey
		   AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] <@ k.conkey)
$$;

CREATE VIEW steward.missing_fk_indexes AS
SELECT * FROM steward.health_missing_fk_list(0);

COMMENT ON VIEW steward.missing_fk_indexes IS
'foreign keys whose referencing columns lead no index (deletes and key updates on the referenced table scan the referencing one), with the CREATE INDEX statement';

CREATE FUNCTION steward.health_missing_fk_indexes()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'missing_fk_indexes', steward.health_grade(v.table_bytes, th.warning, th.critical),
		   format('%s %s', v.table_name, quote_ident(v.constraint_name)), v.table_bytes, th.warning, th.critical,
		   format('foreign key %s on %s (%s) references %s, and no index of %s leads with (%s): every delete or key update in %s scans %s',
				  quote_ident(v.constraint_name), v.table_name, pg_size_pretty(v.table_bytes), v.referenced_table,
				  v.table_name, v.columns, v.referenced_table, v.table_name),
		   v.create_index
	  FROM steward.health_threshold_of('missing_fk_indexes', 'table_bytes') th,
		   steward.health_missing_fk_list(least(th.warning, th.critical)) v
	 WHERE steward.health_grade(v.table_bytes, th.warning, th.critical) <> 'ok'
	 ORDER BY v.table_bytes DESC
$$;

-- ---------------------------------------------------------------------
-- Vacuum and analyze, sequences.
-- ---------------------------------------------------------------------

-- A table's reloption, or the server's setting.
-- (Everything qualified and no SET clause, so that it is inlined: the
-- stale checks call it four times per table.)
CREATE FUNCTION steward.health_reloption(reloptions text[], name text, setting text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT COALESCE((SELECT o.option_value FROM pg_catalog.pg_options_to_table(reloptions) o
					  WHERE o.option_name OPERATOR(pg_catalog.=) name), pg_catalog.current_setting(setting))
$$;

CREATE FUNCTION steward.health_vacuum_stale()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'vacuum_stale', steward.health_grade(x.s, th.warning, th.critical),
		   steward.health_qname(t.relid), x.s, th.warning, th.critical,
		   format('%s dead rows (autovacuum starts at %s) and no vacuum for %s (last vacuum %s, last autovacuum %s)',
				  t.n_dead_tup, round(lim.n), steward.health_duration(x.s),
				  COALESCE(t.last_vacuum::text, 'never'), COALESCE(t.last_autovacuum::text, 'never')),
		   format('VACUUM (VERBOSE, ANALYZE) %s%s', steward.health_qname(t.relid),
				  CASE WHEN current_setting('autovacuum') = 'off'
					   THEN '; autovacuum is off for the server: ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf()'
					   WHEN (SELECT o.option_value FROM pg_catalog.pg_options_to_table(c.reloptions) o
							  WHERE o.option_name = 'autovacuum_enabled') IN ('off', 'false')
					   THEN format('; autovacuum is off for it: ALTER TABLE %s RESET (autovacuum_enabled)', steward.health_qname(t.relid))
					   ELSE '; if autovacuum keeps falling behind, look for long transactions and raise autovacuum_max_workers or lower autovacuum_vacuum_cost_delay' END)
	  FROM pg_catalog.pg_stat_user_tables t
	  JOIN pg_catalog.pg_class c ON c.oid = t.relid,
		   LATERAL (SELECT steward.health_reloption(c.reloptions, 'autovacuum_vacuum_threshold', 'autovacuum_vacuum_threshold')::numeric
						   + steward.health_reloption(c.reloptions, 'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_scale_factor')::numeric
						   * greatest(c.reltuples, 0)::numeric AS n) lim,
		   LATERAL (SELECT round(extract(epoch FROM pg_catalog.now()
							   - COALESCE(greatest(t.last_vacuum, t.last_autovacuum),
										  (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d
											WHERE d.datname = pg_catalog.current_database()),
										  pg_catalog.pg_postmaster_start_time())), 1) AS s) x,
		   steward.health_threshold_of('vacuum_stale', 'seconds') th
	 WHERE t.n_dead_tup > 0 AND t.n_dead_tup > lim.n
	   AND steward.health_grade(x.s, th.warning, th.critical) <> 'ok'
	 ORDER BY x.s DESC
$$;

CREATE FUNCTION steward.health_analyze_stale()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'analyze_stale', steward.health_grade(x.s, th.warning, th.critical),
		   steward.health_qname(t.relid), x.s, th.warning, th.critical,
		   format('%s rows changed since the last analyze (autovacuum analyzes at %s) and no analyze for %s (last analyze %s, last autoanalyze %s)',
				  t.n_mod_since_analyze, round(lim.n), steward.health_duration(x.s),
				  COALESCE(t.last_analyze::text, 'never'), COALESCE(t.last_autoanalyze::text, 'never')),
		   format('ANALYZE (VERBOSE) %s', steward.health_qname(t.relid))
	  FROM pg_catalog.pg_stat_user_tables t
	  JOIN pg_catalog.pg_class c ON c.oid = t.relid,
		   LATERAL (SELECT steward.health_reloption(c.reloptions, 'autovacuum_analyze_threshold', 'autovacuum_analyze_threshold')::numeric
						   + steward.health_reloption(c.reloptions, 'autovacuum_analyze_scale_factor', 'autovacuum_analyze_scale_factor')::numeric
						   * greatest(c.reltuples, 0)::numeric AS n) lim,
		   LATERAL (SELECT round(extract(epoch FROM pg_catalog.now()
							   - COALESCE(greatest(t.last_analyze, t.last_autoanalyze),
										  (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d
											WHERE d.datname = pg_catalog.current_database()),
										  pg_catalog.pg_postmaster_start_time())), 1) AS s) x,
		   steward.health_threshold_of('analyze_stale', 'seconds') th
	 WHERE t.n_mod_since_analyze > 0 AND t.n_mod_since_analyze > lim.n
	   AND steward.health_grade(x.s, th.warning, th.critical) <> 'ok'
	 ORDER BY x.s DESC
$$;

CREATE VIEW steward.sequence_usage AS
SELECT c.oid AS seqrelid, steward.health_qname(c.oid) AS sequence_name,
	   steward.health_qname(col.attrelid) AS table_name, col.attname AS column_name,
	   col.atttypid::pg_catalog.regtype AS column_type, s.seqtypid::pg_catalog.regtype AS sequence_type,
	   v.last_value, s.seqincrement AS increment,
	   CASE WHEN s.seqincrement > 0 THEN least(s.seqmax, lim.tmax) ELSE greatest(s.seqmin, lim.tmin) END AS limit_value,
	   CASE WHEN v.last_value IS NULL THEN NULL
			WHEN s.seqincrement > 0 THEN round(100.0 * (v.last_value - s.seqmin) / greatest(least(s.seqmax, lim.tmax) - s.seqmin, 1), 2)
			ELSE round(100.0 * (s.seqmax - v.last_value) / greatest(s.seqmax - greatest(s.seqmin, lim.tmin), 1), 2) END AS used_pct
  FROM pg_catalog.pg_sequence s
  JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  LEFT JOIN LATERAL (
		SELECT a.attrelid, a.attname, a.atttypid
		  FROM (SELECT a.attrelid, a.attname, a.atttypid
				  FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
				 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
				   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
				UNION ALL
				SELECT a.attrelid, a.attname, a.atttypid
				  FROM pg_catalog.pg_depend d
				  JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
				  JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
				 WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
				   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = c.oid) a
		 ORDER BY CASE a.atttypid WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN 1
								  WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 2 ELSE 3 END
		 LIMIT 1) col ON true,
	   LATERAL (SELECT CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
							THEN pg_catalog.pg_sequence_last_value(c.oid::pg_catalog.regclass) END AS last_value) v,
	   LATERAL (SELECT CASE COALESCE(col.atttypid, s.seqtypid)
						 WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN 32767
						 WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 2147483647
						 ELSE 9223372036854775807 END::numeric AS tmax,
					   CASE COALESCE(col.atttypid, s.seqtypid)
						 WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN -32768
						 WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN -2147483648
						 ELSE -9223372036854775808 END::numeric AS tmin) lim;

COMMENT ON VIEW steward.sequence_usage IS
'how much of its range each sequence has used: up to its MAXVALUE (MINVALUE descending) or the range of the narrowest column it feeds, whichever comes first; last_value is NULL without USAGE or SELECT on the sequence';

CREATE FUNCTION steward.health_sequence_exhaustion()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'sequence_exhaustion', steward.health_grade(v.used_pct, th.warning, th.critical),
		   v.sequence_name, v.used_pct, th.warning, th.critical,
		   format('%s is at %s of %s%s', v.sequence_name, v.last_value, v.limit_value,
				  COALESCE(format(' (the limit of %s.%s, %s)', v.table_name, quote_ident(v.column_name), v.column_type), '')),
		   CASE WHEN v.column_type IN ('int2'::regtype, 'int4'::regtype) THEN
				format('ALTER TABLE %s ALTER COLUMN %s TYPE bigint (rewrites the table under an ACCESS EXCLUSIVE lock)%s',
					   v.table_name, quote_ident(v.column_name),
					   CASE WHEN v.sequence_type <> 'int8'::regtype THEN format('; ALTER SEQUENCE %s AS bigint', v.sequence_name) ELSE '' END)
				WHEN v.sequence_type <> 'int8'::regtype THEN format('ALTER SEQUENCE %s AS bigint', v.sequence_name)
				ELSE format('ALTER SEQUENCE %s MAXVALUE/MINVALUE, or find why it is consumed so fast', v.sequence_name) END
	  FROM steward.sequence_usage v,
		   steward.health_threshold_of('sequence_exhaustion', 'used_pct') th
	 WHERE steward.health_grade(v.used_pct, th.warning, th.critical) NOT IN ('ok', 'unknown')
	 ORDER BY v.used_pct DESC
$$;

-- ---------------------------------------------------------------------
-- pg_steward's own: backups, partition sets, jobs, audit seals, migrations.
-- Each reads steward's views with the caller's rights (their row-level
-- security applies).
-- ---------------------------------------------------------------------

CREATE FUNCTION steward.health_backup_freshness()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'backup_freshness', steward.health_grade(x.ratio, th.warning, th.critical),
		   format('backup kind %s', j.kind), x.ratio, th.warning, th.critical,
		   format('the last good %s backup finished %s; job %s runs every %s',
				  j.kind, COALESCE(steward.health_duration(extract(epoch FROM pg_catalog.now() - b.last_ok)) || ' ago', 'never'),
				  quote_ident(j.name), p.period),
		   CASE WHEN steward.health_grade(x.ratio, th.warning, th.critical) <> 'ok' THEN
				format('see why: SELECT backup_id, status, message FROM steward.backups WHERE kind = %s ORDER BY started_at DESC LIMIT 5; SELECT name, last_status, last_message FROM steward.jobs WHERE name = %s; take one now: SELECT steward.backup_now(%s)',
					   quote_literal(j.kind), quote_literal(j.name), quote_literal(j.kind)) END
	  FROM (SELECT jj.name, jj.schedule, jj.timezone, sj.config ->> 'kind' AS kind, sj.created_at
			  FROM steward.jobs jj JOIN steward.job sj ON sj.job_id = jj.job_id
			 WHERE jj.kind = 'backup' AND jj.enabled) j,
		   LATERAL (SELECT steward.health_schedule_period(j.schedule, j.timezone) AS period) p,
		   LATERAL (SELECT max(bk.finished_at) AS last_ok FROM steward.backups bk
					 WHERE bk.kind = j.kind AND bk.status = 'succeeded') b,
		   LATERAL (SELECT round((extract(epoch FROM pg_catalog.now() - COALESCE(b.last_ok, j.created_at))
								  / greatest(extract(epoch FROM p.period), 1))::numeric, 2) AS ratio) x,
		   steward.health_threshold_of('backup_freshness', 'period_ratio') th
	 WHERE steward.backup_allowed()
$$;

CREATE FUNCTION steward.health_partition_premake()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'partition_premake', steward.health_grade(ps.periods_ahead, th.warning, th.critical, true),
		   ps.parent::text, ps.periods_ahead, th.warning, th.critical,
		   format('partitions exist up to %s, %s periods of %s ahead; last maintenance %s: %s',
				  COALESCE(ps.premade_until::text, 'none'), ps.periods_ahead, ps.step,
				  COALESCE(ps.last_status, 'never'), COALESCE(ps.last_message, '')),
		   format('SELECT steward.partition_maintain(%s); check the partition_maintenance job: SELECT name, last_status, last_message FROM steward.jobs WHERE kind = ''partition_maintenance''',
				  quote_literal(ps.parent::text))
	  FROM steward.partition_status ps,
		   steward.health_threshold_of('partition_premake', 'periods_ahead') th
	 WHERE steward.health_grade(ps.periods_ahead, th.warning, th.critical, true) NOT IN ('ok', 'unknown')
	UNION ALL
	SELECT 'partition_premake', steward.health_grade(ps.rows_in_default, th.warning, th.critical),
		   ps.parent::text || ' (default partition)', ps.rows_in_default, th.warning, th.critical,
		   format('%s rows are in the default partition of %s: no partition existed for their periods', ps.rows_in_default, ps.parent),
		   format('SELECT steward.partition_drain_default(%s)', quote_literal(ps.parent::text))
	  FROM steward.partition_status ps,
		   steward.health_threshold_of('partition_premake', 'default_rows') th
	 WHERE steward.health_grade(ps.rows_in_default, th.warning, th.critical) NOT IN ('ok', 'unknown')
$$;

CREATE FUNCTION steward.health_job_failures()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'job_failures', steward.health_grade(j.consecutive_failures, th.warning, th.critical),
		   format('job %s (owner %s)', quote_ident(j.name), j.owner), j.consecutive_failures, th.warning, th.critical,
		   format('job %s (kind %s) failed %s times in a row; last: %s %s',
				  quote_ident(j.name), j.kind, j.consecutive_failures, j.last_status, COALESCE(j.last_message, '')),
		   format('SELECT run_id, status, message, detail FROM steward.job_run WHERE job_id = %s ORDER BY run_id DESC LIMIT 5; fix the cause, then SELECT steward.run_job(%s)',
				  j.job_id, quote_literal(j.name))
	  FROM steward.jobs j,
		   steward.health_threshold_of('job_failures', 'consecutive_failures') th
	 WHERE j.enabled AND steward.health_grade(j.consecutive_failures, th.warning, th.critical) <> 'ok'
$$;

CREATE FUNCTION steward.health_audit_seal()
RETURNS SETOF steward.health_result
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- nothing audited (that the caller may see): nothing to seal
	IF NOT EXISTS (SELECT 1 FROM steward.audit_policy) THEN
		RETURN;
	END IF;
	RETURN QUERY
		SELECT 'audit_seal',
			   steward.health_worse(steward.health_grade(COALESCE(u.s, 0), th.warning, th.critical),
									CASE WHEN j.last_status IN ('failed', 'timed_out', 'crashed')
										 THEN steward.health_grade(1, fth.warning, fth.critical) ELSE 'ok' END),
			   'steward.audit_log', u.s, th.warning, th.critical,
			   format('%s audit rows are not sealed, the oldest written %s ago; the audit_seal job''s last run: %s %s',
					  u.n, steward.health_duration(u.s), COALESCE(j.last_status, 'none'), COALESCE(j.last_message, '')),
			   'seal now: SELECT steward.audit_seal_now(); see the job: SELECT name, enabled, last_status, last_message FROM steward.jobs WHERE kind = ''audit_seal'''
		  -- per era (its event ids), the rows above its last seal; a closed
		  -- era's last seal covers every transaction id
		  FROM (SELECT count(l.event_id) AS n,
					   round(extract(epoch FROM pg_catalog.now() - min(l.logged_at)), 1) AS s
				  FROM (SELECT e.lo,
							   COALESCE(lead(e.lo) OVER (ORDER BY e.lo), 9223372036854775807) AS hi,
							   COALESCE((SELECT x.txid_to FROM steward.audit_seal x WHERE x.era = e.lo
										  ORDER BY x.seal_id DESC LIMIT 1), '0'::xid8) AS sealed_to
						  FROM (SELECT first_event_id AS lo FROM steward.audit_era
								UNION ALL
								SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM steward.audit_era)) e) r
				  JOIN steward.audit_log l
					ON l.event_id >= r.lo AND l.event_id < r.hi AND l.txid >= r.sealed_to) u
		  LEFT JOIN LATERAL (SELECT * FROM steward.jobs jj WHERE jj.kind = 'audit_seal' LIMIT 1) j ON true,
			   steward.health_threshold_of('audit_seal', 'unsealed_seconds') th,
			   steward.health_threshold_of('audit_seal', 'failed_runs') fth;
END
$$;

CREATE FUNCTION steward.health_migration_drift()
RETURNS SETOF steward.health_result
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'migration_drift', steward.health_grade(1, th.warning, th.critical),
		   format('migration %s', m.version), 1, th.warning, th.critical,
		   format('migration %s (%s) is %s', m.version, COALESCE(m.name, ''),
				  CASE m.state WHEN 'changed' THEN 'changed: its SQL differs from what was applied'
							   ELSE 'missing: applied but no longer registered' END),
		   CASE m.state WHEN 'changed'
				THEN format('restore the applied SQL, or record the new text with steward.migration_replace(%s, ...)', quote_literal(m.version))
				ELSE format('register it again with steward.migration_add(%s, ...) or steward.migrations_load()', quote_literal(m.version)) END
	  FROM steward.migration_status m,
		   steward.health_threshold_of('migration_drift', 'count') th
	 WHERE m.state IN ('changed', 'missing')
	UNION ALL
	SELECT 'migration_drift', steward.health_grade(u.n, th.warning, th.critical),
		   'untracked DDL', u.n, th.warning, th.critical,
		   format('%s DDL commands ran outside migrate() since the last migration (the latest at %s)', u.n, u.last),
		   'SELECT started_at, applied_by, detail FROM steward.migration_history WHERE action = ''untracked'' ORDER BY history_id DESC; turn them into migrations'
	  FROM (SELECT count(*) AS n, max(h.started_at) AS last FROM steward.migration_history h
			 WHERE h.action = 'untracked'
			   AND h.history_id > COALESCE((SELECT max(a.history_id) FROM steward.migration_history a
											 WHERE a.action IN ('apply', 'baseline') AND a.status = 'succeeded'), 0)) u,
		   steward.health_threshold_of('migration_drift', 'count') th
	 WHERE u.n > 0 AND steward.health_grade(u.n, th.warning, th.critical) <> 'ok'
	   AND EXISTS (SELECT 1 FROM steward.migration)
$$;

-- ---------------------------------------------------------------------
-- The driver, the summary.
-- ---------------------------------------------------------------------

CREATE FUNCTION steward.health(min_status text DEFAULT 'warning')
RETURNS SETOF steward.health_result
AS 'MODULE_PATHNAME', 'steward_health'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.health(text) IS
'run every enabled health check (each in a subtransaction: one that fails reports unknown) and return the results at or above min_status (ok < warning < unknown < critical); a check with nothing to report returns one ok row';

CREATE FUNCTION steward.health_check(check_name text)
RETURNS SETOF steward.health_result
AS 'MODULE_PATHNAME', 'steward_health_check'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION steward.health_check(text) IS
'run one health check (enabled or not) and return all its rows';

CREATE VIEW steward.health_summary AS
SELECT CASE WHEN bool_or(h.status = 'critical') THEN 'critical'
			WHEN bool_or(h.status = 'warning') THEN 'warning'
			WHEN bool_or(h.status = 'unknown') THEN 'unknown'
			ELSE 'ok' END AS status,
	   count(*) FILTER (WHERE h.status = 'ok') AS ok,
	   count(*) FILTER (WHERE h.status = 'warning') AS warning,
	   count(*) FILTER (WHERE h.status = 'critical') AS critical,
	   count(*) FILTER (WHERE h.status = 'unknown') AS unknown,
	   pg_catalog.array_agg(DISTINCT h.check_name) FILTER (WHERE h.status <> 'ok') AS failing_checks
  FROM steward.health('ok') h;

COMMENT ON VIEW steward.health_summary IS
'the overall health status (the worst of all checks) and the number of results by status';

-- ---------------------------------------------------------------------
-- History: a partition set by day (made by the first health_snapshot run),
-- kept steward.health_history_retention.
-- ---------------------------------------------------------------------

CREATE TABLE steward.health_history (
	snapshot_at timestamptz NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('result', 'gauge')),
	check_name	text NOT NULL,		-- a gauge: its name
	status		text,
	object		text,
	value		numeric,
	warning		numeric,
	critical	numeric,
	detail		text
) PARTITION BY RANGE (snapshot_at);

CREATE TABLE steward.health_history_default PARTITION OF steward.health_history DEFAULT;
CREATE INDEX health_history_check_idx ON steward.health_history (check_name, snapshot_at);

COMMENT ON TABLE steward.health_history IS
'every health_snapshot run: its non-ok results (kind result) and the gauges of steward.metrics() (kind gauge); partitioned by day, kept steward.health_history_retention';

SELECT pg_catalog.pg_extension_config_dump('steward.health_history_default', '');

-- Alerts: one open row per check and object while it is not ok.
CREATE TABLE steward.alert (
	alert_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	check_name	text NOT NULL,
	object		text,
	status		text NOT NULL,
	value		numeric,
	detail		text,
	hint		text,
	opened_at	timestamptz NOT NULL,
	resolved_at timestamptz
);

CREATE UNIQUE INDEX alert_open_idx ON steward.alert (check_name, (COALESCE(object, '')))
	WHERE resolved_at IS NULL;
CREATE INDEX alert_opened_at_idx ON steward.alert (opened_at);

COMMENT ON TABLE steward.alert IS
'health alerts: opened when a check''s status for an object becomes warning, critical or unknown (or changes), resolved when it changes again or becomes ok; each change is also sent as NOTIFY steward_health';

SELECT pg_catalog.pg_extension_config_dump('steward.alert', '');

-- The gauges of the history and of steward.metrics().
CREATE FUNCTION steward.health_gauges(OUT name text, OUT value numeric, OUT help text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT 'connections', count(*)::numeric, 'client connections'
	  FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'client backend';
	RETURN QUERY
	SELECT 'longest_transaction_seconds',
		   COALESCE(round(max(extract(epoch FROM pg_catalog.now() - a.xact_start)), 1), 0),
		   'age of the oldest open transaction of a client'
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid();
	RETURN QUERY
	SELECT 'xid_age', max(pg_catalog.age(d.datfrozenxid))::numeric, 'largest transaction ID age of a database'
	  FROM pg_catalog.pg_database d;
	RETURN QUERY
	SELECT 'mxid_age', max(pg_catalog.mxid_age(d.datminmxid))::numeric, 'largest multixact ID age of a database'
	  FROM pg_catalog.pg_database d;
	RETURN QUERY
	SELECT 'replication_lag_seconds', COALESCE(round(max(extract(epoch FROM r.replay_lag)), 1), 0),
		   'largest replay lag of a standby'
	  FROM pg_catalog.pg_stat_replication r;
	RETURN QUERY
	SELECT 'retained_wal_bytes',
		   COALESCE(max(pg_catalog.pg_wal_lsn_diff(CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
														ELSE pg_catalog.pg_current_wal_lsn() END, s.restart_lsn)), 0),
		   'most WAL retained by a replication slot'
	  FROM pg_catalog.pg_replication_slots s;
	IF pg_catalog.has_function_privilege('pg_catalog.pg_ls_archive_statusdir()', 'EXECUTE') THEN
		RETURN QUERY
		SELECT 'archive_ready_files', count(*)::numeric, 'WAL files waiting for archive_command'
		  FROM pg_catalog.pg_ls_archive_statusdir() s WHERE s.name LIKE '%.ready';
	END IF;
	IF steward.backup_allowed() THEN
		RETURN QUERY
		SELECT 'backup_age_seconds',
			   round(extract(epoch FROM pg_catalog.now() - max(b.finished_at)), 1),
			   'age of the newest good backup'
		  FROM steward.backups b WHERE b.status = 'succeeded' HAVING count(*) > 0;
	END IF;
	RETURN QUERY
	SELECT 'job_failures', COALESCE(sum(j.consecutive_failures), 0)::numeric,
		   'consecutive failures of all jobs'
	  FROM steward.jobs j WHERE j.enabled;
END
$$;

COMMENT ON FUNCTION steward.health_gauges() IS
'the gauges stored in the health history and exported by steward.metrics()';

-- One snapshot: history rows, alerts opened and resolved, notifications.
CREATE FUNCTION steward.health_snapshot(OUT stored bigint, OUT alerts bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t			timestamptz := pg_catalog.clock_timestamp();
	cur			steward.health_result[];
	r			record;
BEGIN
	SELECT pg_catalog.array_agg(h) INTO cur
	  FROM (SELECT DISTINCT ON (h.check_name, COALESCE(h.object, '')) h.*
			  FROM steward.health('warning') h
			 ORDER BY h.check_name, COALESCE(h.object, ''), steward.health_status_rank(h.status) DESC) h;

	INSERT INTO steward.health_history (snapshot_at, kind, check_name, status, object, value, warning, critical, detail)
	SELECT t, 'result', c.check_name, c.status, c.object, c.value, c.warning, c.critical, c.detail
	  FROM pg_catalog.unnest(cur) c;
	GET DIAGNOSTICS stored = ROW_COUNT;
	INSERT INTO steward.health_history (snapshot_at, kind, check_name, value)
	SELECT t, 'gauge', g.name, g.value FROM steward.health_gauges() g WHERE g.value IS NOT NULL;
	stored := stored + 0;
	alerts := 0;

	-- resolve what is ok now, or has another status
	FOR r IN
		UPDATE steward.alert a SET resolved_at = t
		 WHERE a.resolved_at IS NULL
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(cur) c
							WHERE c.check_name = a.check_name
							  AND COALESCE(c.object, '') = COALESCE(a.object, '')
							  AND c.status = a.status)
		RETURNING a.*
	LOOP
		alerts := alerts + 1;
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(cur) c
						WHERE c.check_name = r.check_name AND COALESCE(c.object, '') = COALESCE(r.object, '')) THEN
			PERFORM pg_catalog.pg_notify('steward_health', pg_catalog.json_build_object(
				'event', 'resolved', 'alert_id', r.alert_id, 'check', r.check_name, 'object', r.object,
				'status', 'ok', 'previous_status', r.status, 'opened_at', r.opened_at,
				'resolved_at', t)::text);
		END IF;
	END LOOP;

	-- open what is not ok and has no open alert with that status
	FOR r IN
		INSERT INTO steward.alert (check_name, object, status, value, detail, hint, opened_at)
		SELECT c.check_name, c.object, c.status, c.value, c.detail, c.hint, t
		  FROM pg_catalog.unnest(cur) c
		 WHERE NOT EXISTS (SELECT 1 FROM steward.alert a
							WHERE a.resolved_at IS NULL AND a.check_name = c.check_name
							  AND COALESCE(a.object, '') = COALESCE(c.object, ''))
		RETURNING *
	LOOP
		alerts := alerts + 1;
		PERFORM pg_catalog.pg_notify('steward_health', pg_catalog.json_build_object(
			'event', 'opened', 'alert_id', r.alert_id, 'check', r.check_name, 'object', r.object,
			'status', r.status,
			'previous_status', COALESCE((SELECT a.status FROM steward.alert a
										  WHERE a.check_name = r.check_name
											AND COALESCE(a.object, '') = COALESCE(r.object, '')
											AND a.resolved_at = t LIMIT 1), 'ok'),
			'value', r.value, 'detail', left(r.detail, 2000), 'hint', left(r.hint, 2000),
			'opened_at', r.opened_at)::text);
	END LOOP;
END
$$;

COMMENT ON FUNCTION steward.health_snapshot() IS
'what a health_snapshot job run does: store the non-ok results and the gauges in steward.health_history, open and resolve alerts, NOTIFY steward_health for each change';

-- Prometheus text exposition.
CREATE FUNCTION steward.metrics()
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	out			text;
	g			record;
BEGIN
	out := E'# HELP steward_health_status Health check status per check and object: 0 ok, 1 warning, 2 critical, 3 unknown.\n'
		   || E'# TYPE steward_health_status gauge\n';
	SELECT out || COALESCE(string_agg(format(E'steward_health_status{check="%s",object="%s"} %s\n',
											 steward.metrics_label(h.check_name),
											 steward.metrics_label(COALESCE(h.object, '')), h.rank),
									  '' ORDER BY h.check_name, h.object), '')
	  INTO out
	  FROM (SELECT h.check_name, h.object, max(steward.health_status_rank(h.status)) AS rank
			  FROM steward.health('ok') h GROUP BY h.check_name, h.object) h;
	FOR g IN SELECT * FROM steward.health_gauges() x WHERE x.value IS NOT NULL LOOP
		out := out || format(E'# HELP steward_%s %s\n# TYPE steward_%s gauge\nsteward_%s %s\n',
							 g.name, g.help, g.name, g.name, g.value);
	END LOOP;
	RETURN out;
END
$$;

CREATE FUNCTION steward.metrics_label(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value, E'\\', E'\\\\'), '"', E'\\"'),
							  E'\n', E'\\n')
$$;

COMMENT ON FUNCTION steward.metrics() IS
'Prometheus text exposition: steward_health_status per check and object (0 ok, 1 warning, 2 critical, 3 unknown) and the gauges of steward.health_gauges()';

-- Built-in job: a snapshot every 5 minutes, as the role that created the
-- extension.  Change it with steward.alter_job().
INSERT INTO steward.job (job_name, kind, schedule, command, owner, builtin)
SELECT 'health_snapshot', 'health_snapshot', '5 minutes', '',
	   r.oid::pg_catalog.regrole, true
  FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;

-- Access: pg_monitor (and superusers).  The helpers that read nothing stay public.
REVOKE ALL ON FUNCTION
	steward.health(text), steward.health_check(text), steward.health_snapshot(), steward.metrics(),
	steward.health_gauges(), steward.health_bloat_estimates(boolean, bigint), steward.health_unused_index_list(bigint),
	steward.health_missing_fk_list(numeric), steward.health_checkpoint_counts(),
	steward.health_connections(), steward.health_long_running_queries(),
	steward.health_idle_in_transaction(), steward.health_blocking_locks(),
	steward.health_prepared_transactions(), steward.health_wraparound(text),
	steward.health_xid_wraparound(), steward.health_multixact_wraparound(),
	steward.health_replication(), steward.health_cache_hit_ratio(), steward.health_checkpoints(),
	steward.health_wal_archiving(), steward.health_table_bloat(), steward.health_index_bloat(),
	steward.health_unused_indexes(), steward.health_duplicate_indexes(),
	steward.health_invalid_indexes(), steward.health_missing_fk_indexes(),
	steward.health_vacuum_stale(), steward.health_analyze_stale(),
	steward.health_sequence_exhaustion(), steward.health_backup_freshness(),
	steward.health_partition_premake(), steward.health_job_failures(),
	steward.health_audit_seal(), steward.health_migration_drift()
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	steward.health(text), steward.health_check(text), steward.metrics(),
	steward.health_gauges(), steward.health_bloat_estimates(boolean, bigint), steward.health_unused_index_list(bigint),
	steward.health_missing_fk_list(numeric), steward.health_checkpoint_counts(),
	steward.health_connections(), steward.health_long_running_queries(),
	steward.health_idle_in_transaction(), steward.health_blocking_locks(),
	steward.health_prepared_transactions(), steward.health_wraparound(text),
	steward.health_xid_wraparound(), steward.health_multixact_wraparound(),
	steward.health_replication(), steward.health_cache_hit_ratio(), steward.health_checkpoints(),
	steward.health_wal_archiving(), steward.health_table_bloat(), steward.health_index_bloat(),
	steward.health_unused_indexes(), steward.health_duplicate_indexes(),
	steward.health_invalid_indexes(), steward.health_missing_fk_indexes(),
	steward.health_vacuum_stale(), steward.health_analyze_stale(),
	steward.health_sequence_exhaustion(), steward.health_backup_freshness(),
	steward.health_partition_premake(), steward.health_job_failures(),
	steward.health_audit_seal(), steward.health_migration_drift()
TO pg_monitor;

REVOKE ALL ON steward.lock_tree, steward.wraparound, steward.table_bloat, steward.index_bloat,
	steward.unused_indexes, steward.duplicate_indexes, steward.missing_fk_indexes,
	steward.sequence_usage, steward.health_summary, steward.health_history,
	steward.health_history_default, steward.alert FROM PUBLIC;
GRANT SELECT ON steward.lock_tree, steward.wraparound, steward.table_bloat, steward.index_bloat,
	steward.unused_indexes, steward.duplicate_indexes, steward.missing_fk_indexes,
	steward.sequence_usage, steward.health_summary, steward.health_history,
	steward.health_history_default, steward.alert TO pg_monitor;
