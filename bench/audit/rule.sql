-- The "rule" system of run.sh and statement_cost.sh: what writing a log row
-- per change costs as SQL, without a trigger, a function or any value
-- computed per row.  Rules add to each INSERT and UPDATE of bench_t an
-- INSERT of a constant row as large as pg_steward's log row of that change
-- into a table of the log's columns without an index.  The rewriter runs
-- that INSERT as a second query of the statement (for UPDATE, joined to
-- bench_t by the UPDATE's condition), so it also pays a query's start-up.
CREATE TABLE rule_log (
    event_id bigint NOT NULL, logged_at timestamptz NOT NULL, txid xid8 NOT NULL, relid oid NOT NULL,
    schema_name text NOT NULL, table_name text NOT NULL, op text NOT NULL, row_key jsonb,
    old_values jsonb, new_values jsonb, changed_columns text[], db_user text NOT NULL,
    "session_user" text NOT NULL, app_user text, application_name text, client_addr inet,
    backend_pid int NOT NULL, query_id bigint
);
CREATE RULE rule_update AS ON UPDATE TO bench_t DO ALSO
    INSERT INTO rule_log VALUES (1234567890, now(), '1118905', 16395, 'public', 'bench_t', 'UPDATE',
        '{"id": 100001}', '{"balance": 1.01000000000000000000, "updated_at": "2026-12-02T14:27:12.36122+00:00"}',
        '{"balance": 2.01000000000000000000, "updated_at": "2026-12-02T14:30:20.485632+00:00"}',
        '{balance,updated_at}', 'postgres', 'postgres', NULL, 'pgbench', NULL, 4289, NULL);
CREATE RULE rule_insert AS ON INSERT TO bench_t DO ALSO
    INSERT INTO rule_log VALUES (1234567890, now(), '1118905', 16395, 'public', 'bench_t', 'INSERT',
        '{"id": 770966}', NULL,
        '{"id": 770966, "note": "inserted by pgbench", "owner": "pgbench", "balance": 0, "updated_at": "2026-12-02T14:30:20.485632+00:00"}',
        NULL, 'postgres', 'postgres', NULL, 'pgbench', NULL, 4289, NULL);
