#!/usr/bin/env bash
# The provoked-condition matrix: for each condition the issue lists, which
# check_postgres actions and which of our checks flag it.  A condition is
# provoked in a throwaway cluster, every action and check runs, and the
# condition is undone; "flags" means worse than in the baseline run with
# nothing provoked (check_postgres: its exit status; ours: a non-ok
# (check, object) the baseline did not have).  Time thresholds of both are
# lowered to 1 s, size thresholds to a few kB, so that small provocations
# count.  Writes matrix-<date>.md here.
#
#   PG_CONFIG=/path/to/pg_config bash bench/health/matrix.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"
PORT=${PORT:-57182}

W=$(make_workdir)
BG=()
cleanup() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	cluster_stop "$W"; rm -rf "$W"
}
trap cleanup EXIT INT TERM
cluster_init "$W" "$PORT" "shared_preload_libraries = 'pg_steward'" "max_prepared_transactions = 5" "steward.health_cache_min_blocks = 2000000000" \
	"wal_level = replica" "archive_mode = on" "archive_command = '/bin/true'" "autovacuum = off" >/dev/null
cluster_start "$W"
psql_() { as_pg "$PGBIN/psql" -X -q -At -h "$W" -p "$PORT" -d postgres "$@"; }
psql_ -c 'CREATE EXTENSION pg_steward' -c "SELECT steward.alter_job('health_snapshot', enabled => false)" >/dev/null
psql_ <<'SQL' >/dev/null
UPDATE steward.health_threshold SET warning = 1, critical = 3600
 WHERE check_name IN ('long_running_queries', 'idle_in_transaction', 'blocking_locks', 'prepared_transactions',
					  'vacuum_stale', 'analyze_stale');
UPDATE steward.health_threshold SET warning = 0 WHERE check_name IN ('unused_indexes', 'missing_fk_indexes');
UPDATE steward.health_threshold SET warning = 65536
 WHERE check_name IN ('table_bloat', 'index_bloat') AND metric = 'wasted_bytes';
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 1000);
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g;
VACUUM ANALYZE;
SQL

# check_postgres actions and their arguments: the same in every run
declare -A CP=(
	[backends]="" [query_time]="--warning=1s --critical=1h" [txn_idle]="--warning=1s --critical=1h"
	[txn_time]="--warning=1s --critical=1h"
	[locks]="--warning=waiting=1 --critical=waiting=100" [prepared_txns]="--warning=1 --critical=3600"
	[autovac_freeze]="" [txn_wraparound]="" [bloat]="--warning='64 kB' --critical='10 GB'"
	[sequence]="" [archive_ready]="--warning=1 --critical=100" [last_vacuum]="--warning=1s --critical=1h"
	[last_analyze]="--warning=1s --critical=1h" [hitratio]="" [replication_slots]="--warning=1GB --critical=10GB"
	[checkpoint]="--warning=1h --critical=1d" [wal_files]="--warning=1000 --critical=2000"
)
WRAP_LOW=0

cp_status() {
	local a=$1 args=${CP[$1]} rc=0
	if [ "$WRAP_LOW" = 1 ]; then
		case $a in
			autovac_freeze) args="--warning=0% --critical=99%" ;;
			txn_wraparound) args="--warning=1 --critical=2000000000" ;;
		esac
	fi
	eval "as_pg check_postgres --action=$a --host=$W --port=$PORT --dbname=postgres --dbuser=postgres \
		--datadir=$W/data $args" >/dev/null 2>&1 || rc=$?
	echo "$rc"
}
ours_flagged() {
	psql_ -c "SELECT check_name || ' ' || COALESCE(object, '') FROM steward.health('warning')
			   WHERE status IN ('warning', 'critical')" | sort
}

run_all() {
	local a
	for a in "${!CP[@]}"; do echo "$a $(cp_status "$a")"; done | sort
}
# flagged by check_postgres: exit status worse than the baseline's
diff_cp() {
	join <(echo "$base_cp") <(echo "$1") | awk '$3 > $2 && $3 != 3 {printf "%s%s", sep, $1; sep = ", "}'
}
diff_ours() {
	comm -13 <(echo "$base_ours") <(echo "$1") | awk '{print $1}' | sort -u | paste -sd, - | sed 's/,/, /g'
}

# the baseline just before a condition is provoked (counters such as the
# cache hit ratio drift between runs)
rebase() { base_cp=$(run_all); base_ours=$(ours_flagged); }

rows=()
measure() {
	local name=$1 cp ours
	sleep 2						# past the 1 s thresholds
	cp=$(run_all)
	ours=$(ours_flagged)
	rows+=("| $name | $(diff_cp "$cp") | $(diff_ours "$ours") |")
	echo "${rows[-1]}"
}
bg() { "$@" & BG+=($!); }
# the sessions end with their backends (psql waits on its pipe otherwise)
stop_bg() {
	local p
	psql_ -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			   WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	BG=()
	sleep 1
}

# 1. a long query
rebase
bg as_pg "$PGBIN/psql" -X -q -h "$W" -p "$PORT" -d postgres -c 'SELECT pg_sleep(60)'
measure "a long \`pg_sleep\` in a background session"
stop_bg

# 2. idle in transaction
rebase
bg bash -c "(echo 'BEGIN; SELECT 1;'; sleep 60) | runuser -u postgres -- $PGBIN/psql -X -q -h $W -p $PORT -d postgres >/dev/null"
measure "idle in transaction"
stop_bg

# 3. a session blocked behind a lock
rebase
bg bash -c "(echo 'BEGIN; LOCK TABLE t;'; sleep 60) | runuser -u postgres -- $PGBIN/psql -X -q -h $W -p $PORT -d postgres >/dev/null"
sleep 1
bg bash -c "(echo 'SELECT count(*) FROM t;'; sleep 60) | runuser -u postgres -- $PGBIN/psql -X -q -h $W -p $PORT -d postgres >/dev/null"
measure "a session blocked behind a lock (its holder idle in transaction)"
stop_bg

# 4. a prepared transaction
rebase
psql_ -c "BEGIN" -c "INSERT INTO t VALUES (-1, 'p')" -c "PREPARE TRANSACTION 'matrix'" >/dev/null
measure "a prepared transaction"
psql_ -c "ROLLBACK PREPARED 'matrix'" >/dev/null

# 5. a duplicate index
rebase
psql_ -c "CREATE INDEX dup_a ON t (v)" -c "CREATE INDEX dup_b ON t (v)" -c "SELECT pg_stat_force_next_flush()" >/dev/null
measure "a duplicate index (two equal, never scanned)"
psql_ -c "DROP INDEX dup_a, dup_b" >/dev/null

# 6. an unused index
rebase
psql_ -c "CREATE INDEX unused_v ON t (v)" >/dev/null
measure "an unused index"
psql_ -c "DROP INDEX unused_v" >/dev/null

# 7. an invalid index (a failed unique CREATE INDEX CONCURRENTLY)
rebase
psql_ -c "INSERT INTO t VALUES (-2, 'x')" >/dev/null
psql_ -c "CREATE UNIQUE INDEX CONCURRENTLY invalid_v ON t (v)" >/dev/null 2>&1 || true
measure "an invalid index (failed unique \`CREATE INDEX CONCURRENTLY\`)"
psql_ -c "DROP INDEX invalid_v" -c "DELETE FROM t WHERE id = -2" >/dev/null

# 8. a foreign key without an index
rebase
# (the baseline again with the table: its own statistics are not the condition)
psql_ -c "CREATE TABLE child (id int PRIMARY KEY, parent_id int)" \
	-c "INSERT INTO child SELECT g, g FROM generate_series(1, 1000) g" -c "ANALYZE child" >/dev/null
rebase
psql_ -c "ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent" >/dev/null
measure "a foreign key without an index"
psql_ -c "DROP TABLE child" >/dev/null
rebase

# 9. a sequence near its type's max
rebase
psql_ -c "CREATE SEQUENCE near_max AS int" -c "SELECT setval('near_max', 2100000000)" >/dev/null
measure "a sequence near its type's max (98% of int)"
psql_ -c "DROP SEQUENCE near_max" >/dev/null

# 10. bloat from mass updates with autovacuum off
rebase
psql_ -c "CREATE TABLE bloated (id int, pad text)" \
	-c "INSERT INTO bloated SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g" \
	-c "CREATE INDEX bloated_id ON bloated (id)" -c "VACUUM ANALYZE bloated" >/dev/null
rebase
psql_ -c "UPDATE bloated SET id = id + 1" -c "UPDATE bloated SET id = id + 1" \
	-c "DELETE FROM bloated WHERE id % 5 <> 0" -c "SELECT pg_stat_force_next_flush()" >/dev/null
measure "dead rows from mass updates, autovacuum off (before any vacuum)"
psql_ -c "VACUUM bloated" -c "ANALYZE bloated" >/dev/null
measure "bloat: the same table vacuumed (space free, pages kept)"
psql_ -c "DROP TABLE bloated" >/dev/null
rebase

# 11. a failing archive_command
rebase
psql_ -c "ALTER SYSTEM SET archive_command = 'false'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
for i in 1 2 3; do psql_ -c "CREATE TABLE sw$i (); DROP TABLE sw$i" -c "SELECT pg_switch_wal()" >/dev/null; done
sleep 3
measure "a failing \`archive_command\`"
psql_ -c "ALTER SYSTEM RESET archive_command" -c "SELECT pg_reload_conf()" >/dev/null
for i in $(seq 60); do
	[ "$(psql_ -c "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")" = 0 ] && break
	sleep 1
done

# 12. wraparound: thresholds lowered (both tools)
rebase
rebase
WRAP_LOW=1
psql_ -c "UPDATE steward.health_threshold SET warning = 0 WHERE check_name IN ('xid_wraparound', 'multixact_wraparound') AND metric = 'age'" >/dev/null
measure "wraparound, thresholds lowered (check_postgres: autovac_freeze 0%, txn_wraparound 1)"

out="$HERE/matrix-$(date +%Y-%m-%d).md"
{
	echo "# Provoked-condition matrix, $(date +%Y-%m-%d)"
	echo
	echo "PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'), check_postgres $(check_postgres --version 2>/dev/null | awk '{print $NF}'), bench/health/matrix.sh."
	echo "Flags: worse than the baseline run (check_postgres: exit status; ours: a new non-ok check and object)."
	echo "check_postgres actions run: $(echo "${!CP[@]}" | tr ' ' '\n' | sort | paste -sd' ' -)."
	echo
	echo "| condition | check_postgres actions that flag it | our checks that flag it |"
	echo "|---|---|---|"
	printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
