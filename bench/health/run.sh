#!/usr/bin/env bash
# Health benchmark: on a database with TABLES tables and two indexes each
# (20,000 indexes by default), every TABLES/10th table with a foreign key
# and no index for it, time ROUNDS runs each of
#   - steward.health()            (every check; target < 1 s)
#   - steward.health_snapshot()   (what a health_snapshot job run does; target < 2 s)
#   - check_postgres's equivalent actions, one after the other (Debian
#     package check-postgres), against the same database in the same run.
# Writes results-<date>.md here.  See README.md.
#
#   bash bench/health/run.sh                    # full run, about 5 minutes
#   TABLES=1000 ROUNDS=3 bash bench/health/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

TABLES=${TABLES:-10000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-57180}

W=$(make_workdir)
trap 'cluster_stop "$W"; rm -rf "$W"' EXIT INT TERM
cluster_init "$W" "$PORT" "shared_preload_libraries = 'pg_steward'" "max_locks_per_transaction = 1024" \
	"max_prepared_transactions = 5" >/dev/null
cluster_start "$W"
psql_() { as_pg "$PGBIN/psql" -X -q -At -h "$W" -p "$PORT" -d bench "$@"; }
as_pg "$PGBIN/psql" -X -q -h "$W" -p "$PORT" -d postgres -c 'CREATE DATABASE bench'
psql_ -c 'CREATE EXTENSION pg_steward' -c "SELECT steward.alter_job('health_snapshot', enabled => false)" >/dev/null

echo "creating $TABLES tables with 2 indexes each"
t0=$(date +%s)
psql_ -c "CREATE TABLE parent (id int PRIMARY KEY)"
for ((start = 0; start < TABLES; start += 500)); do
	psql_ <<SQL
DO \$\$
BEGIN
	FOR i IN $start..least($start + 499, $TABLES - 1) LOOP
		EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, parent_id int %s, v text, n int)', i,
					   CASE WHEN i % 10 = 0 THEN 'REFERENCES parent' ELSE '' END);
		EXECUTE format('CREATE INDEX t%s_n ON t%s (n)', i, i);
		EXECUTE format('INSERT INTO t%s SELECT g, NULL, ''x'', g FROM generate_series(1, 10) g', i);
	END LOOP;
END \$\$;
SQL
done
psql_ -c 'ANALYZE' -c 'VACUUM'
echo "  $(($(date +%s) - t0)) s; $(psql_ -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace") tables, $(psql_ -c "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace") indexes"

# ms of one psql command, as psql's \timing reports it (server round trip)
time_sql() {
	psql_ -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
# ms of a shell command
time_cmd() {
	local s e
	s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
	echo "scale=1; ($e - $s) / 1000000" | bc
}

CP_ACTIONS="backends query_time txn_idle locks prepared_txns autovac_freeze txn_wraparound bloat sequence archive_ready last_vacuum last_analyze hitratio replication_slots checkpoint"
check_postgres_all() {
	local a
	for a in $CP_ACTIONS; do
		as_pg check_postgres --action="$a" --host="$W" --port="$PORT" --dbname=bench --dbuser=postgres \
			--datadir="$W/data" >/dev/null 2>&1 || true
	done
}

declare -a H S C
for ((r = 1; r <= ROUNDS; r++)); do
	H+=("$(time_sql 'SELECT count(*) FROM steward.health()')")
	S+=("$(time_sql 'SELECT * FROM steward.health_snapshot()')")
	C+=("$(time_cmd check_postgres_all)")
	echo "round $r: health() ${H[-1]} ms, snapshot ${S[-1]} ms, check_postgres ${C[-1]} ms"
done

stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.0f | %.0f | %.0f", a[1], a[int((NR+1)/2)], a[NR]}'; }

# the slowest checks, one run each
per_check=$(psql_ -F ' | ' <<'SQL'
\timing off
CREATE TEMP TABLE tm (check_name text, ms numeric);
DO $$
DECLARE c text; t timestamptz;
BEGIN
	FOR c IN SELECT DISTINCT check_name FROM steward.health_threshold LOOP
		t := clock_timestamp();
		PERFORM * FROM steward.health_check(c);
		INSERT INTO tm VALUES (c, round(extract(epoch FROM clock_timestamp() - t) * 1000, 1));
	END LOOP;
END $$;
SELECT '| ' || check_name, ms || ' |' FROM tm ORDER BY ms DESC LIMIT 8;
SQL
)
flagged=$(psql_ -c "SELECT count(*) FROM steward.health_check('missing_fk_indexes')")

out="$HERE/results-$(date +%Y-%m-%d).md"
{
	echo "# Health benchmark, $(date +%Y-%m-%d)"
	echo
	echo "PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), $(nproc) cores (shared machine), fsync off."
	echo "Database: $TABLES tables, $((TABLES * 2)) indexes (a primary key and one more each), $((TABLES / 10)) foreign keys without an index; analyzed."
	echo "$ROUNDS rounds; ms, as psql's \\timing reports (steward) or wall clock of the whole command sequence (check_postgres)."
	echo
	echo "| what | min | median | max | target |"
	echo "|---|---|---|---|---|"
	echo "| \`steward.health()\` (25 checks) | $(stats "${H[@]}") | < 1000 |"
	echo "| \`steward.health_snapshot()\` (a job run's work) | $(stats "${S[@]}") | < 2000 |"
	echo "| check_postgres 2.x, $(echo $CP_ACTIONS | wc -w) actions one after the other | $(stats "${C[@]}") | |"
	echo
	echo "check_postgres actions: $CP_ACTIONS."
	echo
	echo "missing_fk_indexes flagged $flagged foreign keys (with the 1 MB table-size threshold: none of these small tables; see README.md)."
	echo
	echo "Slowest checks (one run each, ms):"
	echo
	echo "| check | ms |"
	echo "|---|---|"
	echo "$per_check"
} > "$out"
cat "$out"
