#!/usr/bin/env bash
# Scheduler benchmark: pg_steward and pg_cron (1.4, background-worker mode)
# measured in one invocation, one after the other, each in its own throwaway
# cluster with identical settings.  See README.md in this directory.
#
#   bash bench/scheduler/run.sh                  # full run, about 15 minutes
#   DURATION=60 MINUTE_TICKS=1 IDLE=30 bash bench/scheduler/run.sh   # quick
#
# Run as root (the clusters run as the postgres OS user) or as an ordinary
# user that can run initdb.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

# ---------------------------------------------------------------- settings
DURATION=${DURATION:-300}          # (a) seconds the 20 '1 seconds' jobs run
NJOBS=${NJOBS:-20}                 # (a) number of jobs
MINUTE_TICKS=${MINUTE_TICKS:-3}    # (a') minute boundaries measured with '* * * * *'
IDLE=${IDLE:-60}                   # (c) shortest idle window, seconds
BURST_DBS=${BURST_DBS:-5}          # (b)/(c) databases
BURST_PER_DB=${BURST_PER_DB:-100}  # (b) jobs per database
BURST_TIMEOUT=${BURST_TIMEOUT:-120} # (b) stop waiting for the burst after this (or 30 s without progress)
MAX_RUNNERS=${MAX_RUNNERS:-100}    # steward.max_workers = cron.max_running_jobs
MAX_WORKER_PROCESSES=${MAX_WORKER_PROCESSES:-256}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-300}
PORT=${PORT:-55910}                # pg_steward uses PORT, pg_cron PORT+1 (55900-55999)
SYSTEMS=${SYSTEMS:-"pg_steward pg_cron"}
PHASES=${PHASES:-"idle_burst minute seconds"}   # phases to run, in this order
KEEP=${KEEP:-0}                    # 1: keep the work directory (logs, data)

full=0
[ "$DURATION" -ge 300 ] && [ "$MINUTE_TICKS" -ge 3 ] && [ "$IDLE" -ge 60 ] &&
	[ "$BURST_DBS" -eq 5 ] && [ "$BURST_PER_DB" -eq 100 ] && [ "$NJOBS" -eq 20 ] &&
	[ "$PHASES" = "idle_burst minute seconds" ] && [ "$SYSTEMS" = "pg_steward pg_cron" ] && full=1
STAMP=$(date -u +%Y-%m-%d)
if [ -z "${RESULTS:-}" ]; then
	if [ $full -eq 1 ]; then RESULTS="$HERE/results-$STAMP.md"; else RESULTS="$HERE/results-$STAMP-quick.md"; fi
fi

NBURST=$((BURST_DBS * BURST_PER_DB))
CLK_TCK=$(getconf CLK_TCK)
WORK=$(make_workdir)
CLUSTERS=()

cleanup() {
	local d
	trap '' PIPE   # the reader of our output may be gone already
	for d in "${CLUSTERS[@]}"; do cluster_stop "$d" 2>/dev/null; done
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- results
RES_SYS=(); RES_METRIC=(); RES_VALUE=()
add_result() { RES_SYS+=("$1"); RES_METRIC+=("$2"); RES_VALUE+=("$3"); log "RESULT $1 | $2 | $3"; }
NOTES=""
note() { NOTES+="$*"$'\n'; }

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
# seconds from now until epoch $1 (may be negative)
until_() { awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.3f", t - n }'; }
wait_until() {
	local s
	s=$(until_ "$1")
	if awk -v s="$s" 'BEGIN { exit !(s > 3600) }'; then
		echo "internal error: asked to wait $s s" >&2
		exit 1
	fi
	if awk -v s="$s" 'BEGIN { exit !(s > 0) }'; then sleep "$s"; fi
	return 0
}
# first whole minute (epoch seconds) at or after epoch $1
minute_ceil() { awk -v t="$1" 'BEGIN { m = int(t / 60) * 60; if (m < t) m += 60; printf "%d", m }'; }
ts() { date -u -d "@$1" +'%Y-%m-%d %H:%M:%S UTC'; }

# q DB SQL: run SQL in DB of the current cluster, unaligned, tuples only
q() {
	as_pg "$PGBIN/psql" -h "$CDIR" -p "$CPORT" -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

# stats <file of numbers>: "n p50 p99 max min" (percentiles interpolated
# like percentile_cont); "0 - - - -" when empty
stats() {
	sort -g "$1" | awk '
		{ a[n++] = $1 }
		function pct(p,   i, lo) { i = p * (n - 1); lo = int(i);
			return (lo + 1 < n) ? a[lo] + (i - lo) * (a[lo + 1] - a[lo]) : a[lo] }
		END { if (n == 0) { print "0 - - - -"; exit }
			  printf "%d %.1f %.1f %.1f %.1f\n", n, pct(0.5), pct(0.99), a[n - 1], a[0] }'
}
fmt_ms() { [ "$1" = "-" ] && echo "-" || echo "$1 ms"; }

postmaster_pid() { head -1 "$CDIR/data/postmaster.pid"; }
# utime+stime of one process, in clock ticks
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
# time on CPU of one process in ns (scheduler accounting, finer than ticks)
proc_ns() { awk '{ print $1 }' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
# CPU of the whole cluster in ticks: postmaster (own + reaped children) plus
# every live child.  A child that exits moves from the second term into the
# first, so differences stay consistent.
cluster_ticks() {
	local pm total p t
	pm=$(postmaster_pid)
	total=$(sed 's/.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }')
	for p in $(ps -o pid= --ppid "$pm"); do
		t=$(proc_ticks "$p") || true
		total=$((total + ${t:-0}))
	done
	echo "$total"
}
# pids of the cluster's children whose title matches an ERE
cluster_pids() { ps -o pid=,args= --ppid "$(postmaster_pid)" | awk -v re="$1" '$0 ~ re { print $1 }'; }
pct_core() { awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (t / hz) / s * 100 }'; }
pct_core_ns() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.4f", (t / 1e9) / s * 100 }'; }

# sample_children END_EPOCH OUTFILE: highest number of postmaster children
# (live or exited but not yet reaped) seen until END_EPOCH, sampled every
# 50 ms without starting a process per sample except sleep
sample_children() {
	local pm end_us=$(($1 * 1000000)) out=$2 max=0 c
	pm=$(postmaster_pid)
	while [ "${EPOCHREALTIME/./}" -lt "$end_us" ]; do
		c=()
		read -r -a c <"/proc/$pm/task/$pm/children" || true
		if [ ${#c[@]} -gt "$max" ]; then max=${#c[@]}; fi
		sleep 0.05
	done
	echo "$max" >"$out"
}
children_now() {
	local pm c=()
	pm=$(postmaster_pid)
	read -r -a c <"/proc/$pm/task/$pm/children" || true
	echo "${#c[@]}"
}

# log_summary FILE: its lines without timestamp and pid, identical ones counted
log_summary() {
	sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //; s/"[^"]*"/"..."/g' "$1" | sort | uniq -c | sort -rn | head -20
}

start_cluster() {
	local sys=$1
	CDIR="$WORK/$sys"
	mkdir -p "$CDIR"
	chmod 755 "$CDIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
	local common=(
		"max_worker_processes = $MAX_WORKER_PROCESSES"
		"max_connections = $MAX_CONNECTIONS"
		"log_line_prefix = '%m [%p] %b %d '"
	)
	if [ "$sys" = pg_steward ]; then
		CPORT=$PORT
		cluster_init "$CDIR" "$CPORT" "${common[@]}" \
			"shared_preload_libraries = 'pg_steward'" \
			"steward.max_workers = $MAX_RUNNERS" "steward.max_workers_per_role = $MAX_RUNNERS"
	else
		CPORT=$((PORT + 1))
		cluster_init "$CDIR" "$CPORT" "${common[@]}" \
			"shared_preload_libraries = 'pg_cron'" \
			"cron.database_name = 'postgres'" \
			"cron.use_background_workers = on" \
			"cron.max_running_jobs = $MAX_RUNNERS" \
			"cron.log_statement = off"
	fi
	cluster_start "$CDIR"
	CLUSTERS+=("$CDIR")
	local i
	for i in $(seq 1 "$BURST_DBS"); do
		q postgres "CREATE DATABASE bench$i"
		q "bench$i" "CREATE TABLE public.bench_hit (job text, at timestamptz)"
	done
	if [ "$sys" = pg_steward ]; then
		for i in $(seq 1 "$BURST_DBS"); do q "bench$i" "CREATE EXTENSION pg_steward"; done
	else
		q postgres "CREATE EXTENSION pg_cron"
	fi
}

stop_cluster() {
	local sys=$1 f="$WORK/$sys.loglines"
	# Everything at WARNING or above, except the statement this script
	# expects to fail (pg_cron refusing '1 seconds').
	grep -E '(WARNING|ERROR|FATAL|PANIC):' "$CDIR/server.log" |
		grep -v -E "invalid schedule: 1 seconds|sec_probe" >"$f" || true
	add_result "$sys" "server log: WARNING/ERROR/FATAL/PANIC lines" "$(wc -l <"$f")"
	if [ -s "$f" ]; then
		note "### $sys server log: WARNING or worse, $(wc -l <"$f") lines"
		note ""
		note "Grouped (quoted names replaced by \"...\"):"
		note '```'
		note "$(log_summary "$f")"
		note '```'
		note "First lines, with the line after each:"
		note '```'
		note "$(grep -E '(WARNING|ERROR|FATAL|PANIC):' -A1 "$CDIR/server.log" | grep -v -E "invalid schedule: 1 seconds|sec_probe" | head -12)"
		note '```'
	fi
	as_pg "$PGBIN/pg_ctl" -D "$CDIR/data" -m fast -w stop >/dev/null
	cp "$CDIR/server.log" "$WORK/$sys.server.log" 2>/dev/null || true
}

# ---------------------------------------------------------------- per-system SQL
# Jobs present during the idle window besides the burst jobs: per database,
# 5 disabled every-minute jobs and 5 yearly jobs (due on 1 January).
create_idle_jobs() {
	local sys=$1 i
	for i in $(seq 1 "$BURST_DBS"); do
		if [ "$sys" = pg_steward ]; then
			q "bench$i" "SELECT count(steward.schedule('idle_off_'||k, '* * * * *', 'SELECT 1', enabled => false))
			             + count(steward.schedule('idle_far_'||k, '0 0 1 1 *', 'SELECT 1'))
			             FROM generate_series(1, 5) k" >/dev/null
		else
			q postgres "SELECT count(cron.schedule_in_database('idle_off_'||$i||'_'||k, '* * * * *', 'SELECT 1', 'bench$i', NULL, false))
			            + count(cron.schedule_in_database('idle_far_'||$i||'_'||k, '0 0 1 1 *', 'SELECT 1', 'bench$i'))
			            FROM generate_series(1, 5) k" >/dev/null
		fi
	done
}

# create_burst_jobs SYS MINUTE: BURST_PER_DB jobs per database, due at that
# minute of every hour; each records clock_timestamp() when its SQL runs.
create_burst_jobs() {
	local sys=$1 min=$2 i
	for i in $(seq 1 "$BURST_DBS"); do
		if [ "$sys" = pg_steward ]; then
			q "bench$i" "SELECT count(steward.schedule('burst_'||k, '$min * * * *',
			               format('INSERT INTO public.bench_hit VALUES (%L, clock_timestamp())', 'burst_'||k)))
			             FROM generate_series(1, $BURST_PER_DB) k" >/dev/null
		else
			q postgres "SELECT count(cron.schedule_in_database('burst_'||$i||'_'||k, '$min * * * *',
			              format('INSERT INTO public.bench_hit VALUES (%L, clock_timestamp())', 'burst_'||k), 'bench$i'))
			            FROM generate_series(1, $BURST_PER_DB) k" >/dev/null
		fi
	done
}

# number of finished burst runs that started at or after epoch $2 - 5 s
burst_finished() {
	local sys=$1 m=$2 i n=0 c
	if [ "$sys" = pg_steward ]; then
		for i in $(seq 1 "$BURST_DBS"); do
			c=$(q "bench$i" "SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
			                 WHERE j.job_name LIKE 'burst\_%' AND r.status <> 'running'
			                   AND r.started_at >= to_timestamp($m) - interval '5 s'")
			n=$((n + c))
		done
	else
		n=$(q postgres "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		                WHERE j.jobname LIKE 'burst\_%' AND d.status IN ('succeeded', 'failed')
		                  AND d.start_time >= to_timestamp($m) - interval '5 s'")
	fi
	echo "$n"
}

# burst_collect SYS M: files start.ms (system's recorded start - M),
# exec.ms (clock_timestamp() inside the job - M), end.ms (finish - M)
burst_collect() {
	local sys=$1 m=$2 i
	: >"$WORK/start.ms"; : >"$WORK/exec.ms"; : >"$WORK/end.ms"; : >"$WORK/status"
	for i in $(seq 1 "$BURST_DBS"); do
		q "bench$i" "SELECT extract(epoch FROM at - to_timestamp($m)) * 1000 FROM public.bench_hit
		             WHERE at >= to_timestamp($m) - interval '5 s'" >>"$WORK/exec.ms"
		if [ "$sys" = pg_steward ]; then
			q "bench$i" "SELECT extract(epoch FROM r.started_at - to_timestamp($m)) * 1000
			             FROM steward.job_run r JOIN steward.job j USING (job_id)
			             WHERE j.job_name LIKE 'burst\_%' AND r.started_at >= to_timestamp($m) - interval '5 s'" >>"$WORK/start.ms"
			q "bench$i" "SELECT extract(epoch FROM r.finished_at - to_timestamp($m)) * 1000
			             FROM steward.job_run r JOIN steward.job j USING (job_id)
			             WHERE j.job_name LIKE 'burst\_%' AND r.finished_at IS NOT NULL
			               AND r.started_at >= to_timestamp($m) - interval '5 s'" >>"$WORK/end.ms"
			q "bench$i" "SELECT r.status || CASE WHEN r.scheduled_for = to_timestamp($m) THEN '' ELSE ' (scheduled_for ' || r.scheduled_for || ')' END
			             FROM steward.job_run r JOIN steward.job j USING (job_id)
			             WHERE j.job_name LIKE 'burst\_%' AND r.started_at >= to_timestamp($m) - interval '5 s'" >>"$WORK/status"
		fi
	done
	if [ "$sys" = pg_cron ]; then
		q postgres "SELECT extract(epoch FROM d.start_time - to_timestamp($m)) * 1000
		            FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		            WHERE j.jobname LIKE 'burst\_%' AND d.start_time >= to_timestamp($m) - interval '5 s'" >>"$WORK/start.ms"
		q postgres "SELECT extract(epoch FROM d.end_time - to_timestamp($m)) * 1000
		            FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		            WHERE j.jobname LIKE 'burst\_%' AND d.end_time IS NOT NULL
		              AND d.start_time >= to_timestamp($m) - interval '5 s'" >>"$WORK/end.ms"
		q postgres "SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		            WHERE j.jobname LIKE 'burst\_%' AND (d.start_time IS NULL OR d.start_time >= to_timestamp($m) - interval '5 s')" >>"$WORK/status"
	fi
}

drop_jobs_like() {
	local sys=$1 pattern=$2 i
	if [ "$sys" = pg_steward ]; then
		for i in $(seq 1 "$BURST_DBS"); do
			q "bench$i" "SELECT count(steward.unschedule(job_name)) FROM steward.job WHERE job_name LIKE '$pattern'" >/dev/null
		done
	else
		q postgres "SELECT count(cron.unschedule(jobid)) FROM cron.job WHERE jobname LIKE '$pattern'" >/dev/null
	fi
}

# ---------------------------------------------------------------- phases
# (c) idle CPU, then (b) the burst.  The burst jobs are created first; the
# idle window runs while they wait for their minute, so every database holds
# 110 jobs (100 due at minute M, 5 disabled, 5 yearly) and none is due.
phase_idle_and_burst() {
	local sys=$1
	create_idle_jobs "$sys"
	local t_c m min
	t_c=$(now)
	m=$(minute_ceil "$(awk -v t="$t_c" -v i="$IDLE" 'BEGIN { printf "%.3f", t + 20 + i + 5 }')")
	min=$((10#$(date -u -d "@$m" +%M)))
	create_burst_jobs "$sys" "$min"
	log "$sys: $NBURST burst jobs created with schedule '$min * * * *', due $(ts "$m")"
	sleep 5

	# ---- (c) idle window: no client connections from here until M
	local re_launcher re_sched p t0 t1 w
	if [ "$sys" = pg_steward ]; then
		re_launcher='pg_steward launcher'; re_sched='pg_steward scheduler'
	else
		re_launcher='pg_cron launcher'; re_sched='^$'
	fi
	local -A tick0=() ns0=()
	local pids
	pids="$(cluster_pids "$re_launcher") $(cluster_pids "$re_sched")"
	local c0 c1
	t0=$(now); c0=$(cluster_ticks)
	for p in $pids; do tick0[$p]=$(proc_ticks "$p"); ns0[$p]=$(proc_ns "$p"); done
	log "$sys: idle window until $(ts $((m - 5))) ($(until_ $((m - 5))) s); processes: $(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)" | tr '\n' ';')"
	wait_until $((m - 5))
	t1=$(now); c1=$(cluster_ticks)
	w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local l_ticks=0 s_ticks=0 l_ns=0 s_ns=0 nsched=0 gone=""
	for p in $(cluster_pids "$re_launcher"); do
		if [ -n "${tick0[$p]:-}" ]; then
			l_ticks=$((l_ticks + $(proc_ticks "$p") - tick0[$p]))
			l_ns=$((l_ns + $(proc_ns "$p") - ns0[$p]))
		else gone+=" launcher restarted"; fi
	done
	for p in $(cluster_pids "$re_sched"); do
		if [ -n "${tick0[$p]:-}" ]; then
			s_ticks=$((s_ticks + $(proc_ticks "$p") - tick0[$p]))
			s_ns=$((s_ns + $(proc_ns "$p") - ns0[$p]))
			nsched=$((nsched + 1))
		else gone+=" new scheduler pid $p"; fi
	done
	for p in $pids; do [ -e "/proc/$p" ] || gone+=" pid $p exited"; done
	[ -n "$gone" ] && note "$sys idle window: process set changed:$gone"
	add_result "$sys" "(c) idle window length" "$w s"
	add_result "$sys" "(c) idle CPU, launcher: utime+stime (ticks) / schedstat" "$(pct_core $l_ticks "$w") % ($l_ticks ticks) / $(pct_core_ns $l_ns "$w") % of one core"
	if [ "$sys" = pg_steward ]; then
		add_result "$sys" "(c) idle CPU, $nsched schedulers (sum): utime+stime / schedstat" "$(pct_core $s_ticks "$w") % ($s_ticks ticks) / $(pct_core_ns $s_ns "$w") % of one core"
		add_result "$sys" "(c) idle CPU, launcher + schedulers: utime+stime / schedstat" "$(pct_core $((l_ticks + s_ticks)) "$w") % / $(pct_core_ns $((l_ns + s_ns)) "$w") % of one core"
	fi
	add_result "$sys" "(c) idle CPU, whole cluster (all processes, incl. exited)" "$(pct_core $((c1 - c0)) "$w") % of one core"

	# ---- (b) the burst
	log "$sys: waiting for the burst at $(ts "$m")"
	local base loglines
	loglines=$(wc -l <"$CDIR/server.log")
	wait_until $((m - 2))
	base=$(children_now)
	sample_children $((m + 8)) "$WORK/peak" &
	local sampler=$!
	wait_until $((m + 5))
	local n=0 last=-1 last_change deadline=$((m + BURST_TIMEOUT))
	last_change=$(now)
	while :; do
		n=$(burst_finished "$sys" "$m")
		[ "$n" -ge "$NBURST" ] && break
		if [ "$n" != "$last" ]; then last=$n; last_change=$(now); fi
		if awk -v d="$deadline" -v t="$(now)" -v c="$last_change" 'BEGIN { exit !(t > d || t - c > 30) }'; then
			note "$sys burst: $n of $NBURST runs finished by $(ts "${last_change%.*}") (+$(awk -v c="$last_change" -v m="$m" 'BEGIN { printf "%.0f", c - m }') s); none finished in the following 30 s or more, so the script stopped waiting."
			break
		fi
		sleep 2
	done
	wait "$sampler" || true
	burst_collect "$sys" "$m"
	local s
	read -r -a s <<<"$(stats "$WORK/start.ms")"
	add_result "$sys" "(b) burst runs started (recorded by the scheduler)" "${s[0]} of $NBURST"
	[ "${s[0]}" -lt "$NBURST" ] && add_result "$sys" "(b) burst runs that never started" "$((NBURST - s[0]))"
	add_result "$sys" "(b) burst: minute -> last recorded start" "$(fmt_ms "${s[3]}")"
	add_result "$sys" "(b) burst: minute -> first / median recorded start" "$(fmt_ms "${s[4]}") / $(fmt_ms "${s[1]}")"
	read -r -a s <<<"$(stats "$WORK/exec.ms")"
	add_result "$sys" "(b) burst: minute -> last job SQL executing (clock_timestamp in job)" "$(fmt_ms "${s[3]}") (n=${s[0]})"
	add_result "$sys" "(b) burst: minute -> first / median job SQL executing" "$(fmt_ms "${s[4]}") / $(fmt_ms "${s[1]}")"
	read -r -a s <<<"$(stats "$WORK/end.ms")"
	add_result "$sys" "(b) burst: minute -> last run finished" "$(fmt_ms "${s[3]}")"
	add_result "$sys" "(b) burst: run statuses" "$(sort "$WORK/status" | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s x%d", sep, substr($0, 2), c; sep = ", " }')"
	add_result "$sys" "(b) burst: peak postmaster children above idle (runners incl. exited, not yet reaped)" "$(( $(cat "$WORK/peak") - base )) (cap: $MAX_RUNNERS)"
	tail -n +$((loglines + 1)) "$CDIR/server.log" | grep -E '(WARNING|ERROR|FATAL|PANIC):' >"$WORK/burst.log" || true
	add_result "$sys" "(b) burst: server log lines at WARNING or worse" "$(wc -l <"$WORK/burst.log")$( [ -s "$WORK/burst.log" ] && printf ' (%s)' "$(log_summary "$WORK/burst.log" | head -3 | sed -E 's/^ *([0-9]+) (.*)/\1 x \2/' | paste -sd ';')")"
	drop_jobs_like "$sys" 'burst\_%'
	drop_jobs_like "$sys" 'idle\_%'
}

# (a') 20 '* * * * *' jobs in bench1 over MINUTE_TICKS minute boundaries; the
# job writes clock_timestamp() so both systems can also be compared on when
# the job's SQL actually ran.
phase_minute_jobs() {
	local sys=$1 t0 b1 bt c0 c1 ids
	q bench1 "TRUNCATE public.bench_hit"
	if [ "$sys" = pg_steward ]; then
		ids=$(q bench1 "SELECT string_agg(steward.schedule('min_'||k, '* * * * *',
		            format('INSERT INTO public.bench_hit VALUES (%L, clock_timestamp())', 'min_'||k))::text, ',')
		          FROM generate_series(1, $NJOBS) k")
	else
		ids=$(q postgres "SELECT string_agg(cron.schedule_in_database('min_'||k, '* * * * *',
		              format('INSERT INTO public.bench_hit VALUES (%L, clock_timestamp())', 'min_'||k), 'bench1')::text, ',')
		            FROM generate_series(1, $NJOBS) k")
	fi
	t0=$(now)
	b1=$(minute_ceil "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 5 }')")
	bt=$((b1 + 60 * (MINUTE_TICKS - 1)))
	log "$sys: $NJOBS '* * * * *' jobs; measuring the boundaries $(ts "$b1") .. $(ts "$bt")"
	c0=$(cluster_ticks)
	wait_until $((bt + 10))
	c1=$(cluster_ticks)
	local w
	w=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	drop_jobs_like "$sys" 'min\_%'
	sleep 2
	if [ "$sys" = pg_steward ]; then
		# runs stay in steward.job_run after their job is unscheduled
		q bench1 "SELECT extract(epoch FROM started_at - scheduled_for) * 1000 FROM steward.job_run
		          WHERE job_id IN ($ids) AND scheduled_for BETWEEN to_timestamp($b1) AND to_timestamp($bt)" >"$WORK/min.ms"
	else
		# pg_cron 1.4 records no due time: a run belongs to the minute it started in
		q postgres "SELECT extract(epoch FROM start_time - date_trunc('minute', start_time)) * 1000
		            FROM cron.job_run_details
		            WHERE jobid IN ($ids) AND date_trunc('minute', start_time) BETWEEN to_timestamp($b1) AND to_timestamp($bt)" >"$WORK/min.ms"
		local notstarted dup
		notstarted=$(q postgres "SELECT count(*) FROM cron.job_run_details WHERE jobid IN ($ids) AND start_time IS NULL")
		[ "$notstarted" -gt 0 ] && note "pg_cron minute jobs: $notstarted runs without start_time"
		dup=$(q postgres "SELECT count(*) FROM (SELECT jobid, date_trunc('minute', start_time)
		            FROM cron.job_run_details WHERE jobid IN ($ids) GROUP BY 1, 2 HAVING count(*) > 1) x")
		[ "$dup" -gt 0 ] && note "pg_cron minute jobs: $dup (job, minute) pairs with more than one run: the minute attribution is ambiguous"
	fi
	q bench1 "SELECT extract(epoch FROM at - date_trunc('minute', at)) * 1000 FROM public.bench_hit
	          WHERE job LIKE 'min\_%' AND date_trunc('minute', at) BETWEEN to_timestamp($b1) AND to_timestamp($bt)" >"$WORK/minexec.ms"
	local s
	read -r -a s <<<"$(stats "$WORK/min.ms")"
	add_result "$sys" "(a') '* * * * *' x$NJOBS: runs recorded / due" "${s[0]} / $((NJOBS * MINUTE_TICKS))"
	add_result "$sys" "(a') '* * * * *': recorded start lag p50 / p99 / max" "$(fmt_ms "${s[1]}") / $(fmt_ms "${s[2]}") / $(fmt_ms "${s[3]}")"
	read -r -a s <<<"$(stats "$WORK/minexec.ms")"
	add_result "$sys" "(a') '* * * * *': job SQL executing lag p50 / p99 / max" "$(fmt_ms "${s[1]}") / $(fmt_ms "${s[2]}") / $(fmt_ms "${s[3]}") (n=${s[0]})"
	add_result "$sys" "(a') cluster CPU while these jobs ran" "$(pct_core $((c1 - c0)) "$w") % of one core over $w s"
}

# (a) 20 jobs '1 seconds' doing SELECT 1 for DURATION seconds (pg_steward)
phase_seconds_jobs() {
	local sys=$1
	if [ "$sys" = pg_cron ]; then
		local err
		if err=$(q postgres "SELECT cron.schedule('sec_probe', '1 seconds', 'SELECT 1')" 2>&1); then
			add_result "$sys" "(a) '1 seconds' jobs" "accepted (unexpected for 1.4); not measured"
			q postgres "SELECT cron.unschedule('sec_probe')" >/dev/null || true
		else
			add_result "$sys" "(a) '1 seconds' jobs" "not supported by pg_cron $(q postgres "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"): $(echo "$err" | head -1)"
		fi
		return
	fi
	local t0 t1 c0 c1 lo hi skipped
	local ids
	ids=$(q bench1 "SELECT string_agg(steward.schedule('sec_'||k, '1 seconds', 'SELECT 1')::text, ',') FROM generate_series(1, $NJOBS) k")
	t0=$(now); c0=$(cluster_ticks)
	log "$sys: $NJOBS '1 seconds' jobs for $DURATION s"
	sleep "$DURATION"
	skipped=$(q bench1 "SELECT sum(skipped_runs) FROM steward.jobs WHERE name LIKE 'sec\_%'")
	drop_jobs_like "$sys" 'sec\_%'
	t1=$(now); c1=$(cluster_ticks)
	sleep 3
	lo=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 2 }')
	hi=$(awk -v t="$t1" 'BEGIN { printf "%.3f", t - 2 }')
	q bench1 "SELECT extract(epoch FROM started_at - scheduled_for) * 1000 FROM steward.job_run
	          WHERE job_id IN ($ids) AND scheduled_for BETWEEN to_timestamp($lo) AND to_timestamp($hi)" >"$WORK/sec.ms"
	local bad
	bad=$(q bench1 "SELECT string_agg(status || ' x' || n, ', ') FROM (SELECT status, count(*) n FROM steward.job_run
	          WHERE job_id IN ($ids) GROUP BY status ORDER BY status) x")
	local s w
	read -r -a s <<<"$(stats "$WORK/sec.ms")"
	w=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.1f", b - a }')
	add_result "$sys" "(a) '1 seconds' x$NJOBS: runs recorded / due in the ${w} s window" "${s[0]} / ~$(awk -v w="$w" -v n="$NJOBS" 'BEGIN { printf "%d", w * n }')"
	add_result "$sys" "(a) '1 seconds': start lag p50" "$(fmt_ms "${s[1]}")"
	add_result "$sys" "(a) '1 seconds': start lag p99" "$(fmt_ms "${s[2]}")"
	add_result "$sys" "(a) '1 seconds': start lag max / min" "$(fmt_ms "${s[3]}") / $(fmt_ms "${s[4]}")"
	add_result "$sys" "(a) '1 seconds': skipped_runs (due while still running)" "${skipped:-0}"
	add_result "$sys" "(a) '1 seconds': run statuses" "$bad"
	add_result "$sys" "(a) cluster CPU while these jobs ran" "$(pct_core $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')") % of one core"
}

# ---------------------------------------------------------------- main
T_START=$(now)
log "work directory $WORK; results go to $RESULTS"
log "settings: DURATION=$DURATION NJOBS=$NJOBS MINUTE_TICKS=$MINUTE_TICKS IDLE=$IDLE BURST=${BURST_DBS}x$BURST_PER_DB MAX_RUNNERS=$MAX_RUNNERS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# postmasters of other people's clusters share the CPUs with ours
OTHER_PM=$(ps -eo args= | grep -c -E '^/[^ ]*/bin/postgres( |$)' || true)

for sys in $SYSTEMS; do
	log "=== $sys"
	start_cluster "$sys"
	if [ "$sys" = pg_steward ]; then
		lib="$($PG_CONFIG --pkglibdir)/pg_steward.so"
		add_result "$sys" "version" "$(q bench1 "SELECT steward.version()") (installed $lib, modified $(date -u -r "$lib" +%FT%TZ), md5 $(md5sum "$lib" | cut -c1-12))"
	else
		add_result "$sys" "version" "$(q postgres "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'") ($(dpkg-query -W -f '${Package} ${Version}' postgresql-$PGMAJOR-cron 2>/dev/null || echo '?'))"
	fi
	sleep 5   # let the launcher start its schedulers
	for phase in $PHASES; do
		case $phase in
			idle_burst) phase_idle_and_burst "$sys" ;;
			minute) phase_minute_jobs "$sys" ;;
			seconds) phase_seconds_jobs "$sys" ;;
			*) echo "unknown phase $phase" >&2; exit 1 ;;
		esac
	done
	stop_cluster "$sys"
done

T_END=$(now)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
table() {
	local i
	printf '| system | metric | value |\n|---|---|---|\n'
	for i in "${!RES_SYS[@]}"; do
		printf '| %s | %s | %s |\n' "${RES_SYS[$i]}" "${RES_METRIC[$i]}" "${RES_VALUE[$i]}"
	done
}
{
	echo "# Scheduler benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "Produced by \`bash bench/scheduler/run.sh\` (see README.md for method and caveats)."
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $($PG_CONFIG --version | awk '{ print $2 }')"
	echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER; other clusters running on the machine at the start: ${OTHER_PM:-?}"
	echo "- settings: DURATION=$DURATION s, NJOBS=$NJOBS, MINUTE_TICKS=$MINUTE_TICKS, IDLE>=$IDLE s, burst $BURST_DBS x $BURST_PER_DB jobs, PHASES=\"$PHASES\""
	echo "- both clusters: max_worker_processes = $MAX_WORKER_PROCESSES, max_connections = $MAX_CONNECTIONS, fsync = off, otherwise defaults"
	echo "- pg_steward: steward.max_workers = steward.max_workers_per_role = $MAX_RUNNERS (all jobs have one owner, as pg_cron has no per-role cap), steward.naptime = 10s (default)"
	echo "- pg_cron: cron.use_background_workers = on, cron.max_running_jobs = $MAX_RUNNERS, cron.log_statement = off, cron.database_name = postgres"
	echo "- total run time: $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s"
	echo
	table
	if [ -n "$NOTES" ]; then
		echo
		echo "## Notes"
		echo
		printf '%s' "$NOTES"
	fi
} >"$RESULTS"

echo
table | sed '2d; s/^| //; s/ |$//' | column -t -s '|'
echo
echo "written to $RESULTS"
