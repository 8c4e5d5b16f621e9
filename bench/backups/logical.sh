#!/usr/bin/env bash
# Logical backup benchmark of issue 13, alone (bench/backups/run.sh times
# every kind together): steward.backup_now('logical') against the same
# pg_dumpall --globals-only + pg_dump -Fd -j 2 -Z 1 by hand, on a pgbench
# -s SCALE database, ROUNDS rounds with the order reversed every other
# round and a CHECKPOINT after each backup.  Run as root (the cluster runs
# as the postgres OS user), holding the benchmark lock:
#
#   PG_CONFIG=... ROUNDS=5 SCALE=50 PORT=57455 \
#       flock /tmp/steward-bench.lock bash bench/backups/logical.sh [results.md]
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/common.sh

ROUNDS=${ROUNDS:-5}
SCALE=${SCALE:-50}
PORT=${PORT:-57455}
JOBS=2
OUT=${1:-bench/backups/logical-results-$(date -u +%F).md}
W=$(make_workdir)
D=$W/c
trap 'cluster_stop "$D" 2>/dev/null; rm -rf "$W"' EXIT
as_pg mkdir -p "$D" "$W/backups" "$W/hand"

q() { as_pg "$PGBIN/psql" -X -q -A -t -h "$D" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d "${2:-bench}" -c "$1"; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
# CPU seconds (user + system) of the whole machine so far
cpu_all() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / 100 }' /proc/stat; }

cluster_init "$D" "$PORT" "shared_preload_libraries = 'pg_steward'" \
	"steward.backup_directory = '$W/backups'" "steward.backup_jobs = $JOBS" \
	"wal_level = replica" "shared_buffers = 256MB" >/dev/null
cluster_start "$D"
q "CREATE DATABASE bench" postgres
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" -h "$D" -p "$PORT" -U postgres bench >/dev/null 2>&1
q "CREATE EXTENSION pg_steward"; q "VACUUM ANALYZE"; q "CHECKPOINT"
DBSIZE=$(q "SELECT pg_size_pretty(pg_database_size('bench'))")

run_steward() {
	local id
	id=$(q "SELECT steward.backup_now('logical')")
	[ "$(q "SELECT metadata ->> 'tables_counted_apart' FROM steward.backup WHERE backup_id = $id")" = 0 ] ||
		echo "warning: backup $id counted tables apart" >&2
	as_pg rm -rf "$W/backups/$id"
}
run_hand() {
	local conn="host=$D port=$PORT user=postgres"
	as_pg rm -rf "$W/hand/l"
	as_pg mkdir -p "$W/hand/l"
	as_pg "$PGBIN/pg_dumpall" --globals-only --no-password -d "$conn dbname=postgres" -f "$W/hand/l/globals.sql"
	as_pg "$PGBIN/pg_dump" -Fd -j $JOBS -Z 1 --no-password -f "$W/hand/l/dump" -d "$conn dbname=bench"
}
# one timed run; prints a result line
timed() {
	local m=$1 round=$2 la t0 t1 c0 c1
	la=$(loadavg)
	c0=$(cpu_all)
	t0=$(now)
	"run_$m"
	t1=$(now)
	c1=$(cpu_all)
	q CHECKPOINT >/dev/null
	printf '| %d | %s | %s | %.2f | %.2f |\n' "$round" "$m" "$la" "$(echo "$t1 - $t0" | bc -l)" \
		"$(echo "$c1 - $c0" | bc -l)"
}
# min / median / max of column $1 of the result lines on stdin, per method
summary() {
	local col=$1 all m
	all=$(cat)
	for m in $(echo "$all" | awk -F'|' '{ gsub(/ /, "", $3); print $3 }' | sort -u); do
		echo "$all" | awk -F'|' -v col="$col" -v m="$m" '{ x = $3; gsub(/ /, "", x); if (x == m) print $col + 0 }' |
			sort -n | awk -v m="$m" '{ a[NR] = $1 }
				END { med = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
					printf "| %s | %.2f | %.2f | %.2f |\n", m, a[1], med, a[NR] }'
	done
}

{
	echo "# Logical backup benchmark, $(date -u '+%F %H:%M') UTC"
	echo
	echo "$(nproc) CPUs; PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'); pgbench -s $SCALE"
	echo "($DBSIZE); ROUNDS=$ROUNDS, order reversed every other round; shared machine: load"
	echo "average before each run. Script: bench/backups/logical.sh."
	echo
	echo "| round | method | load | s | machine CPU s |"
	echo "|---|---|---|---|---|"
} > "$OUT.tmp"
lines=()
for r in $(seq "$ROUNDS"); do
	order="steward hand"
	[ $((r % 2)) -eq 0 ] && order="hand steward"
	for m in $order; do
		line=$(timed "$m" "$r")
		echo "$line" | tee -a "$OUT.tmp" >&2
		lines+=("$line")
	done
done
{
	echo
	echo "min / median / max, s:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 5
	echo
	med() { printf '%s\n' "${lines[@]}" | summary 5 | awk -F'|' -v m="$1" '{ x = $2; gsub(/ /, "", x); if (x == m) print $4 + 0 }'; }
	echo "ratio of the medians, ours / by hand: $(echo "$(med steward) / $(med hand)" | bc -l | cut -c1-4) (target <= 1.05)"
} >> "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "results in $OUT" >&2
