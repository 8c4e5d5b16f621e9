#!/usr/bin/env bash
# What auditing costs the server per statement and per transaction, without
# the client or the network: PL/pgSQL loops run inside the server, in a
# database without auditing ("none"), one with pgaudit (pgaudit.log =
# 'write', which logs every statement of the loop), one with the rules of
# rule.sql (a constant log row per change written by SQL, without a
# trigger: "rule") and one with steward.audit_enable() ("steward"), in a
# rotating order, ROUNDS times.
#
#   upd: a DO loop of N one-row UPDATEs in one transaction (the statement's
#        cost; pgbench measure (4) without its round trips)
#   tx:  a procedure loop of N/2 transactions of one-row UPDATE, one-row
#        INSERT and COMMIT (pgbench measure (3) without its round trips)
#
# Prints min / median / max microseconds per statement or transaction for
# each system, and each system's throughput as a share of none's (median
# none time / median time).
#
#   bash bench/audit/statement_cost.sh              # N=100000, ROUNDS=5, about 2 minutes
#   N=20000 ROUNDS=3 bash bench/audit/statement_cost.sh
#
# Run as root (the cluster runs as the postgres OS user) or as an ordinary
# user that can run initdb.  Nothing is built or installed; pgaudit is
# measured when it is installed (postgresql-15-pgaudit).  With PERF=1
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

SYSTEMS="none pgaudit rule steward"
PRELOAD=pg_steward
if [ -f "$($PG_CONFIG --pkglibdir)/pgaudit.so" ]; then
	PRELOAD=pg_steward,pgaudit
else
	echo "pgaudit is not installed: not measuring it" >&2
	SYSTEMS="none rule steward"
fi

W=$(make_workdir)
D=$W/c
cleanup() {
	cluster_stop "$D"
	if [ "$KEEP" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM
as_pg mkdir -p "$D"

# the settings of run.sh
cluster_init "$D" "$PORT" "shared_preload_libraries = '$PRELOAD'" "steward.enabled = off" \
	"shared_buffers = 256MB" "max_wal_size = 16GB" "checkpoint_timeout = 1d" \
	"autovacuum = off" "jit = off"
cluster_start "$D"
q() { as_pg "$PGBIN/psql" -X -q -A -t -h "$D" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

for db in $SYSTEMS; do
	q postgres "CREATE DATABASE $db"
	q "$db" "CREATE TABLE bench_t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text,
	                              balance numeric, note text, updated_at timestamptz);
	         INSERT INTO bench_t (owner, balance, note, updated_at)
	           SELECT 'owner ' || g, g, 'note ' || g, now() FROM generate_series(1, 200000) g"
	q "$db" "VACUUM ANALYZE bench_t"
	# the transaction of pgbench measure (3), committed by the procedure
	q "$db" "CREATE PROCEDURE bench_tx(n int) LANGUAGE plpgsql AS \$\$
	         BEGIN
	           FOR i IN 1..n LOOP
	             UPDATE bench_t SET balance = balance + 1, updated_at = now() WHERE id = (i * 7919 % 200000) + 1;
	             INSERT INTO bench_t (owner, balance, note, updated_at) VALUES ('pgbench', 0, 'inserted by pgbench', now());
	             COMMIT;
	           END LOOP;
	         END \$\$"
done
q steward "CREATE EXTENSION pg_steward; SELECT steward.audit_enable('bench_t')" >/dev/null
q rule "$(cat "$HERE/rule.sql")"
if [[ " $SYSTEMS " == *" pgaudit "* ]]; then
	q pgaudit "CREATE EXTENSION pgaudit"
	q postgres "ALTER DATABASE pgaudit SET pgaudit.log = 'write'"
fi

UPD="DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  FOR i IN 1..$N LOOP
    UPDATE bench_t SET balance = balance + 1, updated_at = now() WHERE id = (i * 7919 % 200000) + 1;
  END LOOP;
  RAISE NOTICE 'us %', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $N; END \$\$"
TXN=$((N / 2))

# run M DB: microseconds per statement (upd) or transaction (tx)
run() {
	local m=$1 db=$2 t0 t1
	if [ "$m" = upd ]; then
		q "$db" "$UPD" 2>&1 | sed -n 's/.*NOTICE:  us //p'
	else
		t0=$(date +%s%N)
		q "$db" "CALL bench_tx($TXN)"
		t1=$(date +%s%N)
		awk -v a="$t0" -v b="$t1" -v n="$TXN" 'BEGIN { printf "%.3f", (b - a) / 1000 / n }'
	fi
}

# pgaudit's lines go to the server log: keep it from filling the disk
trim_log() { : | as_pg tee "$D/server.log" >/dev/null; }

read -ra SYS <<<"$SYSTEMS"
declare -A T
for r in $(seq 1 "$ROUNDS"); do
	# rotate the order by one system each round
	order=()
	for i in "${!SYS[@]}"; do order+=("${SYS[$(((i + r - 1) % ${#SYS[@]}))]}"); done
	for m in upd tx; do
		for db in "${order[@]}"; do
			q "$db" "CHECKPOINT" >/dev/null
			if [ "$PERF" = 1 ] && [ "$db" = steward ]; then
				perf record -q -g -a -o "$W/perf-$m-$r.data" -- sleep 600 >/dev/null 2>&1 &
				pp=$!
			fi
			us=$(run "$m" "$db")
			if [ "$PERF" = 1 ] && [ "$db" = steward ]; then kill -INT $pp; wait $pp || true; fi
			[ -n "$us" ] || { echo "no timing for $m in $db" >&2; exit 1; }
			T[$m,$db]="${T[$m,$db]:-} $us"
			printf 'round %d %-3s %-8s %8.2f us\n' "$r" "$m" "$db" "$us"
			trim_log
		done
	done
done

stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%6.2f / %6.2f / %6.2f", v[1], m, v[NR]}'; }
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "N=$N, ROUNDS=$ROUNDS; min / median / max us; share of none's throughput (median none / median system)"
for m in upd tx; do
	if [ "$m" = upd ]; then echo "upd: one-row UPDATE, N in one transaction (us per UPDATE)"
	else echo "tx: one-row UPDATE + one-row INSERT + COMMIT, $TXN times (us per transaction)"; fi
	base=$(echo "${T[$m,none]}" | med)
	for db in "${SYS[@]}"; do
		printf '  %-8s %s us  %5.1f %% of none  (+%.2f us)\n' "$db" "$(echo "${T[$m,$db]}" | stats)" \
			"$(awk -v a="$base" -v b="$(echo "${T[$m,$db]}" | med)" 'BEGIN { print 100 * a / b }')" \
			"$(awk -v a="$base" -v b="$(echo "${T[$m,$db]}" | med)" 'BEGIN { print b - a }')"
	done
done
