#!/usr/bin/env bash
# Partition maintenance scale benchmark: no-op maintenance of 500 and 5,000
# daily sets (premake 2), pg_steward and pg_partman 4.7 in one cluster,
# RUNS runs alternated.  See README.md in this directory ("Scale").
#
#   bash bench/partitions/scale.sh
#   SIZES=5000 RUNS=1 SYSTEMS=pg_steward bash bench/partitions/scale.sh
#
# Run as root (the cluster runs as the postgres OS user) or as a user that
# can run initdb.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

SIZES=${SIZES:-"500 5000"}
RUNS=${RUNS:-3}
SYSTEMS=${SYSTEMS:-"pg_steward pg_partman"}
PARTMAN_MAX=${PARTMAN_MAX:-2000}   # pg_partman only up to this many sets (5.7-12 s at 2,000)
PREMAKE=${PREMAKE:-2}
PORT=${PORT:-57320}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-"$HERE/scale-$(date -u +%Y-%m-%d).md"}

WORK=$(make_workdir)
C=$WORK/c
cleanup() {
	trap '' PIPE
	cluster_stop "$C" 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
q() { as_pg "$PGBIN/psql" -h "$C" -p "$PORT" -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
# psql -f FILE in DB; \timing values (ms) on stdout
timed() {
	as_pg "$PGBIN/psql" -h "$C" -p "$PORT" -d "$1" -XAq -v ON_ERROR_STOP=1 -f "$2" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
# the machine's busy share of CPU time since the last cpu_mark, in %
cpu_mark() {
	local c
	read -r -a c </proc/stat     # cpu user nice system idle iowait irq softirq steal
	CPU_T=$((c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7] + c[8]))
	CPU_I=$((c[4] + c[5]))
}
cpu_busy() {
	local t0=$CPU_T i0=$CPU_I
	cpu_mark
	awk -v t="$((CPU_T - t0))" -v i="$((CPU_I - i0))" 'BEGIN { printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0) }'
}
mmm() { sort -g | awk '{ a[n++] = $1 } END { if (n) printf "%.1f / %.1f / %.1f", a[0], a[int((n - 1) / 2)], a[n - 1]; else printf "-" }'; }

mkdir -p "$C"; chmod 755 "$C"; [ "$(id -u)" -eq 0 ] && chown postgres: "$C"
cluster_init "$C" "$PORT" \
	"shared_preload_libraries = 'pg_steward'" "max_locks_per_transaction = 2048" \
	"timezone = 'UTC'" "autovacuum = off" "max_wal_size = 8GB" "checkpoint_timeout = 1h"
cluster_start "$C"

# one database per system and size, its sets created before any timing
for n in $SIZES; do
	for sys in $SYSTEMS; do
		[ "$sys" = pg_partman ] && [ "$n" -gt "$PARTMAN_MAX" ] && continue
		db=${sys#pg_}$n
		q postgres "CREATE DATABASE $db" >/dev/null
		if [ "$sys" = pg_steward ]; then
			# the built-in job runs only when asked to (run_job) here
			q "$db" "CREATE EXTENSION pg_steward; SELECT steward.alter_job('partition_maintenance', enabled => false)" >/dev/null
		else
			q "$db" "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman" >/dev/null
		fi
		q "$db" "CREATE SCHEMA bench" >/dev/null
		log "creating $n sets in $db"
		for i in $(seq 1 "$n"); do
			p=$(printf 'p%05d' "$i")
			echo "CREATE TABLE bench.$p (id bigint, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);"
			if [ "$sys" = pg_steward ]; then
				echo "SELECT steward.partition_table('bench.$p', 'ts', '1 day', premake => $PREMAKE);"
			else
				echo "SELECT partman.create_parent('bench.$p', 'ts', 'native', 'daily', p_premake := $PREMAKE, p_start_partition := now()::text);"
			fi
		done >"$WORK/create_$db.sql"
		as_pg "$PGBIN/psql" -h "$C" -p "$PORT" -d "$db" -XAtq -v ON_ERROR_STOP=1 -f "$WORK/create_$db.sql" >/dev/null
		# a first maintenance, so that every later one has nothing to do
		if [ "$sys" = pg_steward ]; then q "$db" "SELECT count(*) FROM steward.partition_maintain()" >/dev/null
		else q "$db" "SELECT partman.run_maintenance()" >/dev/null; fi
		q "$db" "VACUUM ANALYZE" >/dev/null
	done
done

ROWS=()
for run in $(seq 1 "$RUNS"); do
	for n in $SIZES; do
		for sys in $SYSTEMS; do
			[ "$sys" = pg_partman ] && [ "$n" -gt "$PARTMAN_MAX" ] && continue
			db=${sys#pg_}$n
			if [ "$sys" = pg_steward ]; then stmt="SELECT count(*) FROM steward.partition_maintain();"
			else stmt="SELECT partman.run_maintenance();"; fi
			load=$(cut -d' ' -f1 /proc/loadavg)
			cpu_mark
			# fresh: the first call of a new session; warm: the next three of it
			{ echo '\timing on'; for i in 1 2 3 4; do echo "$stmt"; done; } >"$WORK/m.sql"
			t=$(timed "$db" "$WORK/m.sql" | paste -sd' ')
			fresh=${t%% *}
			warm=$(echo "${t#* }" | tr ' ' '\n' | mmm)
			job="-"
			if [ "$sys" = pg_steward ]; then
				# the partition_maintenance job with nothing to do: its run's duration
				q "$db" "SELECT steward.run_job('partition_maintenance')" >/dev/null
				job=$(q "$db" "SELECT round(extract(epoch FROM finished_at - started_at) * 1000, 1)
					FROM steward.job_run r JOIN steward.job j USING (job_id)
					WHERE j.job_name = 'partition_maintenance' ORDER BY run_id DESC LIMIT 1")
			fi
			busy=$(cpu_busy)
			log "$sys $n sets run $run: fresh $fresh ms, warm $warm ms, job $job ms, load $load, CPU busy $busy %"
			ROWS+=("$sys|$n|$run|$fresh|$warm|$job|$load|$busy")
		done
	done
	SYSTEMS=$(echo "$SYSTEMS" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')
done

{
	echo "# Partition maintenance scale: $(date -u +%Y-%m-%d)"
	echo
	echo "Machine: $(nproc) cores, $(uname -r); one cluster (fsync = off, autovacuum = off,"
	echo "max_locks_per_transaction = 2048); daily sets with premake $PREMAKE, each already maintained, so"
	echo "every call has nothing to do. pg_steward: steward.partition_maintain(); job: steward.run_job('partition_maintenance'),"
	echo "its job_run duration. pg_partman $(q "partman${SIZES%% *}" "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'" 2>/dev/null || echo '?'):"
	echo "partman.run_maintenance() (no background worker), up to $PARTMAN_MAX sets. psql \\timing, ms."
	echo
	echo "| system | sets | run | fresh session | warm min / median / max (3 calls) | job | load 1-min | machine CPU busy % |"
	echo "|---|---|---|---|---|---|---|---|"
	for r in "${ROWS[@]}"; do echo "| ${r//|/ | } |"; done
	echo
	echo "| system | sets | fresh min / median / max | warm median of runs: min / median / max | per set, warm (µs) | job min / median / max |"
	echo "|---|---|---|---|---|---|"
	for sys in pg_steward pg_partman; do
		for n in $SIZES; do
			sel() { printf '%s\n' "${ROWS[@]}" | awk -F'|' -v s="$sys" -v n="$n" -v c="$1" '$1 == s && $2 == n { print $c }'; }
			[ -z "$(sel 4)" ] && continue
			wm=$(sel 5 | awk -F' / ' '{ print $2 }')
			echo "| $sys | $n | $(sel 4 | mmm) | $(echo "$wm" | mmm) | $(echo "$wm" | sort -g | awk -v n="$n" '{ a[k++] = $1 } END { printf "%.1f", a[int((k - 1) / 2)] * 1000 / n }') | $(sel 6 | grep -v '^-$' | mmm) |"
		done
	done
} >"$RESULTS"
cat "$RESULTS"
