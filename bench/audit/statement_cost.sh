#!/usr/bin/env bash
# The audit trigger's cost per single-row statement, without the client,
# the network or commits: a PL/pgSQL loop of N one-row UPDATEs of the
# benchmark table (in one transaction), in a database without a trigger and
# in one with steward.audit_enable(), alternating, ROUNDS times.  Prints
# min / median / max microseconds per UPDATE for each and their difference.
#
#   bash bench/audit/statement_cost.sh              # N=100000, ROUNDS=5
#   N=20000 ROUNDS=3 bash bench/audit/statement_cost.sh
#
# Run as root (the cluster runs as the postgres OS user) or as an ordinary
# user that can run initdb.  Nothing is built or installed.  With PERF=1
# (root, perf installed) each steward round also runs under
# `perf record -g`, whose data stays in the kept work directory (KEEP=1).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

N=${N:-100000}
ROUNDS=${ROUNDS:-5}
PORT=${PORT:-56290}
KEEP=${KEEP:-0}
PERF=${PERF:-0}

W=$(make_workdir)
D=$W/c
cleanup() {
	cluster_stop "$D"
	if [ "$KEEP" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM
as_pg mkdir -p "$D"

cluster_init "$D" "$PORT" "shared_preload_libraries = 'pg_steward'" "steward.enabled = off" \
	"shared_buffers = 256MB" "max_wal_size = 16GB" "checkpoint_timeout = 1d" \
	"autovacuum = off" "jit = off"
cluster_start "$D"
q() { as_pg "$PGBIN/psql" -X -q -A -t -h "$D" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

for db in none steward; do
	q postgres "CREATE DATABASE $db"
	q "$db" "CREATE TABLE bench_t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text,
	                              balance numeric, note text, updated_at timestamptz);
	         INSERT INTO bench_t (owner, balance, note, updated_at)
	           SELECT 'owner ' || g, g, 'note ' || g, now() FROM generate_series(1, 200000) g"
	q "$db" "VACUUM ANALYZE bench_t"
done
q steward "CREATE EXTENSION pg_steward; SELECT steward.audit_enable('bench_t')" >/dev/null

LOOP="DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  FOR i IN 1..$N LOOP
    UPDATE bench_t SET balance = balance + 1, updated_at = now() WHERE id = (i * 7919 % 200000) + 1;
  END LOOP;
  RAISE NOTICE 'us %', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $N; END \$\$"

declare -A T
for r in $(seq 1 "$ROUNDS"); do
	order="none steward"
	[ $((r % 2)) -eq 0 ] && order="steward none"
	for db in $order; do
		if [ "$PERF" = 1 ] && [ "$db" = steward ]; then
			perf record -q -g -a -o "$W/perf-$r.data" -- sleep 600 >/dev/null 2>&1 &
			pp=$!
		fi
		us=$(q "$db" "$LOOP" 2>&1 | sed -n 's/.*NOTICE:  us //p')
		if [ "$PERF" = 1 ] && [ "$db" = steward ]; then kill -INT $pp; wait $pp || true; fi
		T[$db]="${T[$db]:-} $us"
		printf 'round %d %-8s %8.2f us per UPDATE\n' "$r" "$db" "$us"
	done
done

stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f / %.2f / %.2f", v[1], m, v[NR]}'; }
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "N=$N, ROUNDS=$ROUNDS; min / median / max us per single-row UPDATE:"
echo "  no trigger:    $(echo "${T[none]}" | stats)"
echo "  audit trigger: $(echo "${T[steward]}" | stats)"
awk -v a="$(echo "${T[none]}" | med)" -v b="$(echo "${T[steward]}" | med)" \
	'BEGIN {printf "  difference of medians: %.2f us (%.2fx)\n", b - a, b / a}'
