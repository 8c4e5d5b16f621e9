#!/usr/bin/env bash
# Scheduler scale benchmark: N jobs over DBS databases, all due the same
# minute, pg_steward and pg_cron preloaded in ONE cluster and alternated,
# RUNS runs of each size.  See README.md in this directory ("Scale").
#
#   bash bench/scheduler/scale.sh                          # 500 and 10,000 jobs, 3 runs
#   SIZES=10000 RUNS=1 SYSTEMS=pg_steward bash bench/scheduler/scale.sh   # one burst
#
# Run as root (the cluster runs as the postgres OS user) or as a user that
# can run initdb.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

SIZES=${SIZES:-"500 10000"}        # jobs per burst (spread over DBS databases)
DBS=${DBS:-20}
OWNERS=${OWNERS:-4}                # job owners (login roles), round robin per job
RUNS=${RUNS:-3}
SYSTEMS=${SYSTEMS:-"pg_steward pg_cron"}
MAX_WORKERS=${MAX_WORKERS:-default} # steward.max_workers ("default": max_worker_processes / 4)
CRON_MAX=${CRON_MAX:-32}           # cron.max_running_jobs
MAX_WORKER_PROCESSES=${MAX_WORKER_PROCESSES:-64}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-200}
IDLE=${IDLE:-10}                   # seconds of idle CPU measured before each burst
TIMEOUT=${TIMEOUT:-180}            # stop waiting for a burst after this many seconds
PORT=${PORT:-57310}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-"$HERE/scale-$(date -u +%Y-%m-%d)-max_workers-$MAX_WORKERS.md"}

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
now() { date +%s.%N; }
pm_pid() { head -1 "$C/data/postmaster.pid"; }
# the scheduling processes of a system: pg_steward's launcher and schedulers, pg_cron's launcher
sched_pids() {
	local re='pg_steward (launcher|scheduler)'
	[ "$1" = pg_cron ] && re='pg_cron launcher'
	ps -o pid=,args= --ppid "$(pm_pid)" | awk -v re="$re" '$0 ~ re { print $1 }'
}
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
# private memory (RssAnon): shared buffers touched would otherwise count
rss_kb() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

mkdir -p "$C"
as_pg mkdir -p "$C" 2>/dev/null || true
chown postgres "$C" 2>/dev/null || true
mw=""
[ "$MAX_WORKERS" != default ] && mw="steward.max_workers = $MAX_WORKERS"
cluster_init "$C" "$PORT" \
	"shared_preload_libraries = 'pg_steward,pg_cron'" \
	"max_worker_processes = $MAX_WORKER_PROCESSES" "max_connections = $MAX_CONNECTIONS" \
	"cron.database_name = 'postgres'" "cron.use_background_workers = on" \
	"cron.max_running_jobs = $CRON_MAX" "cron.log_run = on" "cron.log_statement = off" \
	"steward.enabled = on" "timezone = 'UTC'" "steward.timezone = 'UTC'" "$mw"
cluster_start "$C"
q postgres "CREATE EXTENSION pg_cron"
for o in $(seq 1 "$OWNERS"); do q postgres "CREATE ROLE bench_o$o LOGIN"; done
for d in $(seq 1 "$DBS"); do
	q postgres "CREATE DATABASE bench$d"
	q "bench$d" "CREATE EXTENSION pg_steward;
		CREATE TABLE public.bench_hit (sys text, name text, at timestamptz);
		GRANT INSERT ON public.bench_hit TO PUBLIC;
		GRANT EXECUTE ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool),
			steward.unschedule(text) TO PUBLIC"
done
WMAX=$(q bench1 "SHOW steward.max_workers")
[ "$WMAX" = -1 ] && WMAX="-1 ($((MAX_WORKER_PROCESSES / 4)))"
log "cluster up: $DBS databases, steward.max_workers = $WMAX, cron.max_running_jobs = $CRON_MAX"

# schedule N jobs due at minute M (0-59) for a system
create_jobs() {
	local sys=$1 n=$2 m=$3 per=$(($2 / DBS)) d o
	for d in $(seq 1 "$DBS"); do
		for o in $(seq 1 "$OWNERS"); do
			if [ "$sys" = pg_steward ]; then
				q "bench$d" "SET ROLE bench_o$o; SELECT count(steward.schedule('j' || i, '$m * * * *',
					format('INSERT INTO public.bench_hit VALUES (%L, %L, clock_timestamp())', 'pg_steward', 'j' || i)))
					FROM generate_series($o, $per, $OWNERS) i" >/dev/null
			else
				q postgres "SELECT count(cron.schedule_in_database('d$d-j' || i, '$m * * * *',
					format('INSERT INTO public.bench_hit VALUES (%L, %L, clock_timestamp())', 'pg_cron', 'j' || i),
					'bench$d', 'bench_o$o')) FROM generate_series($o, $per, $OWNERS) i" >/dev/null
			fi
		done
	done
}
drop_jobs() {
	local d
	for d in $(seq 1 "$DBS"); do
		q "bench$d" "DELETE FROM steward.job WHERE job_name LIKE 'j%'; TRUNCATE public.bench_hit" >/dev/null
	done
	q postgres "DELETE FROM cron.job; TRUNCATE cron.job_run_details" >/dev/null
}
# sum over databases of a query's single number
sum_dbs() {
	local d t=0 v
	for d in $(seq 1 "$DBS"); do v=$(q "bench$d" "$1"); t=$((t + ${v:-0})); done
	echo "$t"
}

ROWS=()
burst() {
	local sys=$1 n=$2 run=$3 t m M s load0 load1 done=0 start rows names last first med cpu0 cpu1 rss p
	t=$(now)
	# the next minute with at least 25 s to create the jobs and measure idle
	M=$(awk -v t="$t" 'BEGIN { m = int(t / 60) * 60 + 60; if (m - t < 25 + '"$IDLE"') m += 60; print m }')
	m=$(date -u -d "@$M" +%-M)
	create_jobs "$sys" "$n" "$m"
	sleep 3
	# idle CPU and RSS of the schedulers
	cpu0=0; for p in $(sched_pids "$sys"); do cpu0=$((cpu0 + $(ticks "$p"))); done
	sleep "$IDLE"
	cpu1=0; rss=0; for p in $(sched_pids "$sys"); do cpu1=$((cpu1 + $(ticks "$p"))); rss=$((rss + $(rss_kb "$p"))); done
	load0=$(cut -d' ' -f1 /proc/loadavg)
	s=$(awk -v M="$M" -v t="$(now)" 'BEGIN { print M - t - 0.5 }')
	awk -v s="$s" 'BEGIN { exit !(s > 0) }' && sleep "$s"
	start=$(date +%s)
	# PERF=file: a system-wide profile with call graphs for 15 s from here
	[ -n "${PERF:-}" ] && { perf record -q -g -a -o "$PERF.$sys.$n.$run" -- sleep 15 >/dev/null 2>&1 & }
	while :; do
		sleep 1
		rows=$(sum_dbs "SELECT count(*) FROM public.bench_hit")
		[ "$rows" -ge "$n" ] && break
		[ $(($(date +%s) - start)) -ge "$TIMEOUT" ] && break
	done
	sleep 2   # would catch runs that run twice
	load1=$(cut -d' ' -f1 /proc/loadavg)
	rows=$(sum_dbs "SELECT count(*) FROM public.bench_hit")
	names=$(sum_dbs "SELECT count(DISTINCT name) FROM public.bench_hit")
	read -r first med last < <(
		for d in $(seq 1 "$DBS"); do
			q "bench$d" "SELECT extract(epoch FROM at) - $M FROM public.bench_hit"
		done | sort -g | awk '{ a[n++] = $1 } END { printf "%.0f %.0f %.0f\n", a[0] * 1000, a[int((n - 1) / 2)] * 1000, a[n - 1] * 1000 }')
	log "$sys n=$n run=$run: first $first ms, median $med ms, last $last ms; rows $rows, distinct $names; load $load0 -> $load1"
	ROWS+=("$sys|$n|$run|$first|$med|$last|$(awk -v l="$last" -v n="$n" 'BEGIN { printf "%.3f", l / n }')|$((n - names))|$((rows - names))|$(awk -v c=$((cpu1 - cpu0)) -v s="$IDLE" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", c / hz / s * 100 }')|$((rss / 1024))|$load0 / $load1")
	drop_jobs
}

for run in $(seq 1 "$RUNS"); do
	for n in $SIZES; do
		for sys in $SYSTEMS; do burst "$sys" "$n" "$run"; done
	done
	# alternate which system goes first
	SYSTEMS=$(echo "$SYSTEMS" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')
done

{
	echo "# Scheduler scale: $(date -u +%Y-%m-%d), $DBS databases, $OWNERS owners, steward.max_workers = $WMAX, cron.max_running_jobs = $CRON_MAX"
	echo
	echo "Machine: $(nproc) cores, $(uname -r); one cluster, both extensions preloaded, fsync = off,"
	echo "max_worker_processes = $MAX_WORKER_PROCESSES; pg_cron: cron.use_background_workers = on, cron.log_run = on."
	echo "Times are the job's own SQL (clock_timestamp() in the INSERT) minus the minute; idle CPU and RSS"
	echo "are those of the scheduling processes (pg_steward: launcher and every scheduler; pg_cron: its launcher),"
	echo "over $IDLE s before the burst, private memory (RssAnon) summed."
	echo
	echo "| system | jobs | run | first ms | median ms | last ms | last ms / job | lost | twice | idle CPU % | sched RssAnon MB | load 1-min before / after |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	for r in "${ROWS[@]}"; do echo "| ${r//|/ | } |"; done
	echo
	echo "## min / median / max of the last job's SQL"
	echo
	echo "| system | jobs | last ms min / median / max | per job ms (median) |"
	echo "|---|---|---|---|"
	for sys in pg_steward pg_cron; do
		for n in $SIZES; do
			printf '%s\n' "${ROWS[@]}" | awk -F'|' -v s="$sys" -v n="$n" '$1 == s && $2 == n { print $6 }' | sort -g |
				awk -v s="$sys" -v n="$n" '{ a[k++] = $1 } END { if (k) printf "| %s | %s | %d / %d / %d | %.3f |\n", s, n, a[0], a[int((k - 1) / 2)], a[k - 1], a[int((k - 1) / 2)] / n }'
		done
	done
} >"$RESULTS"
cat "$RESULTS"
