#!/usr/bin/env bash
# Linter benchmark: steward.migration_lint() over 1,000 varied statements
# (indexes, columns with and without defaults, constraints, type changes,
# renames, drops, new tables) against a live catalog of 20 tables, half of
# them with rows.  Each run is a fresh connection (cold caches in the
# backend, as for a migration_add() call); the time is measured in the
# server around the call only.  Target: < 100 ms for 1,000 statements.
#
#   bash bench/migrations/lint.sh               # 5 runs
#   RUNS=3 STATEMENTS=5000 bash bench/migrations/lint.sh
#
# Uses the installed extension (PG_CONFIG picks the installation) and a
# throwaway cluster owned by the postgres OS user; builds nothing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

RUNS=${RUNS:-5}
STATEMENTS=${STATEMENTS:-1000}
PORT=${PORT:-57250}
[ "$RUNS" -ge 3 ] || { echo "RUNS must be at least 3" >&2; exit 1; }

WORK=$(make_workdir)
CDIR=$WORK/cluster
mkdir -p "$CDIR" && [ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
cleanup() { cluster_stop "$CDIR"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

q() { as_pg "$PGBIN/psql" -h "$CDIR" -p "$PORT" -X -v ON_ERROR_STOP=1 -Atq -d postgres "$@"; }

cluster_init "$CDIR" "$PORT" "shared_preload_libraries = 'pg_steward'" >/dev/null
cluster_start "$CDIR"
q -c 'CREATE EXTENSION pg_steward' >/dev/null

# The live catalog: big_0..big_9 with 10,000 rows, empty_0..empty_9 none.
q <<'SQL' >/dev/null
DO $$
BEGIN
	FOR i IN 0..9 LOOP
		EXECUTE format('CREATE TABLE big_%s (id bigint PRIMARY KEY, a text, b bigint, c text, v varchar(5), i int)', i);
		EXECUTE format('INSERT INTO big_%s SELECT g, ''a'', g, ''c'', ''v'', 1 FROM generate_series(1, 10000) g', i);
		EXECUTE format('CREATE INDEX big_%s_b ON big_%s (b)', i, i);
		EXECUTE format('CREATE TABLE empty_%s (id bigint PRIMARY KEY, a text, b bigint)', i);
	END LOOP;
END $$;
ANALYZE;
CREATE FUNCTION bench_lint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	n bigint;
	s text := (SELECT sql FROM bench_sql);
BEGIN
	t0 := clock_timestamp();
	SELECT count(*) INTO n FROM steward.migration_lint(s);
	RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2) || ' ' || n;
END $$;
SQL
# The SQL to lint: STATEMENTS statements of 20 kinds, cycling over the tables.
q -v n="$STATEMENTS" <<'SQL' >/dev/null
CREATE TABLE bench_sql AS SELECT string_agg(CASE g % 20
	WHEN 0 THEN format('CREATE INDEX idx_%s ON big_%s (a);', g, g % 10)
	WHEN 1 THEN format('CREATE INDEX idx_%s ON empty_%s (a);', g, g % 10)
	WHEN 2 THEN format('ALTER TABLE big_%s ADD COLUMN col_%s float8 DEFAULT random();', g % 10, g)
	WHEN 3 THEN format('ALTER TABLE big_%s ADD COLUMN col_%s timestamptz DEFAULT now();', g % 10, g)
	WHEN 4 THEN format('ALTER TABLE big_%s ADD COLUMN col_%s bigint NOT NULL;', g % 10, g)
	WHEN 5 THEN format('ALTER TABLE big_%s ALTER COLUMN b SET NOT NULL;', g % 10)
	WHEN 6 THEN format('ALTER TABLE big_%s ADD CONSTRAINT fk_%s FOREIGN KEY (b) REFERENCES big_%s (id);', g % 10, g, (g + 1) % 10)
	WHEN 7 THEN format('ALTER TABLE big_%s ADD CONSTRAINT ck_%s CHECK (b > 0) NOT VALID;', g % 10, g)
	WHEN 8 THEN format('ALTER TABLE big_%s ALTER COLUMN i TYPE bigint;', g % 10)
	WHEN 9 THEN format('ALTER TABLE big_%s ALTER COLUMN v TYPE varchar(50);', g % 10)
	WHEN 10 THEN format('ALTER TABLE big_%s RENAME COLUMN c TO c_%s;', g % 10, g)
	WHEN 11 THEN format('ALTER TABLE big_%s DROP COLUMN IF EXISTS col_%s;', g % 10, g - 9)
	WHEN 12 THEN format('CREATE TABLE new_%s (id serial PRIMARY KEY, ts timestamp, code char(3), n int);', g)
	WHEN 13 THEN format('CREATE INDEX ON new_%s (ts);', g - 1)
	WHEN 14 THEN format('DROP INDEX big_%s_b;', g % 10)
	WHEN 15 THEN format('ALTER TABLE big_%s ADD CONSTRAINT uq_%s UNIQUE (a);', g % 10, g)
	WHEN 16 THEN format('-- steward:ignore ban-drop-table%sDROP TABLE IF EXISTS empty_%s;', E'\n', g % 10)
	WHEN 17 THEN format('ALTER TABLE "public".big_%s ADD COLUMN "Col %s" bigint GENERATED ALWAYS AS IDENTITY;', g % 10, g)
	WHEN 18 THEN format('UPDATE big_%s SET a = ''x'' WHERE id < 100;', g % 10)
	ELSE format('ALTER TABLE new_%s ADD COLUMN extra_%s bigint DEFAULT 0 NOT NULL;', g - 7, g)
	END, E'\n' ORDER BY g) AS sql
  FROM generate_series(0, :n - 1) g;
SQL

stmts=$(q -c "SELECT count(*) FROM regexp_matches((SELECT sql FROM bench_sql), ';', 'g')")
bytes=$(q -c "SELECT octet_length(sql) FROM bench_sql")
echo "pg_steward $(q -c 'SELECT steward.version()') on $(q -c 'SHOW server_version'), $(uname -m)"
echo "SQL: $stmts statements, $bytes bytes; $RUNS runs, each in a new connection"
times=()
for r in $(seq 1 "$RUNS"); do
	read -r ms findings < <(q -c 'SELECT bench_lint()')
	echo "run $r: $ms ms, $findings findings"
	times+=("$ms")
done
# the same call again in one warm connection, for comparison
warm=$(q -c 'SELECT bench_lint()' -c 'SELECT bench_lint()' | tail -1 | cut -d' ' -f1)
printf '%s\n' "${times[@]}" | sort -g | awk -v warm="$warm" '{ a[n++] = $1 }
	END { m = (n % 2) ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
		  printf "min %.2f ms, median %.2f ms, max %.2f ms (warm connection: %s ms); target < 100 ms\n", a[0], m, a[n - 1], warm }'
