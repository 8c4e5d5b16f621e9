#!/usr/bin/env bash
# Scheduler soak: DBS databases x JOBS_PER_DB '* * * * *' jobs (3,000 runs a
# minute by default) for MINUTES minutes in one throwaway cluster, with
# steward.max_workers = MAX_WORKERS.  Reports, per database and in total,
# the runs due, run, counted as skipped (a run still going when the next was
# due), lost (neither) and duplicated (two runs for one due time), and the
# private memory of every scheduler process sampled once a minute.
#
#   bash bench/scheduler/soak.sh                        # 60 minutes, max_workers = 2
#   MAX_WORKERS=50 MINUTES=30 bash bench/scheduler/soak.sh
#
# Run as root (the cluster runs as the postgres OS user) or as a user that
# can run initdb.  Uses the installed pg_steward; builds nothing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

DBS=${DBS:-6}
JOBS_PER_DB=${JOBS_PER_DB:-500}
MINUTES=${MINUTES:-60}
MAX_WORKERS=${MAX_WORKERS:-2}
PORT=${PORT:-55920}
RESULTS=${RESULTS:-$HERE/soak-$(date -u +%Y-%m-%d)-max_workers-$MAX_WORKERS.md}

WORK=$(make_workdir)
CDIR=$WORK/cluster
cleanup() {
	trap '' PIPE
	cluster_stop "$CDIR" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
q() { as_pg "$PGBIN/psql" -h "$CDIR" -p "$PORT" -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }

mkdir -p "$CDIR" && chmod 755 "$CDIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
cluster_init "$CDIR" "$PORT" \
	"shared_preload_libraries = 'pg_steward'" \
	"max_worker_processes = $((MAX_WORKERS + 16))" \
	"max_connections = $((MAX_WORKERS + 50))" \
	"steward.max_workers = $MAX_WORKERS" \
	"steward.max_workers_per_role = $MAX_WORKERS" \
	"log_line_prefix = '%m [%p] %b %d '"
cluster_start "$CDIR"

for d in $(seq 1 "$DBS"); do
	q postgres "CREATE DATABASE soak$d"
	q "soak$d" "CREATE EXTENSION pg_steward;
		SELECT count(steward.schedule('j' || g, '* * * * *', 'SELECT 1')) FROM generate_series(1, $JOBS_PER_DB) g;
		SELECT steward.alter_job('partition_maintenance', enabled => false);
		SELECT steward.alter_job('row_retention', enabled => false);" >/dev/null
done
log "$DBS databases x $JOBS_PER_DB jobs scheduled, max_workers = $MAX_WORKERS, $MINUTES minutes"

# The window: whole minutes, starting with the next one.
first=$(( ($(date +%s) / 60 + 1) * 60 ))
last=$(( first + (MINUTES - 1) * 60 ))
MEM=$WORK/memory.csv
echo "minute,pid,database,private_kb" >"$MEM"
sample_memory() {
	local pid db kb
	ps -o pid=,args= --ppid "$(head -1 "$CDIR/data/postmaster.pid")" |
		sed -n 's/^ *\([0-9]*\) .*pg_steward scheduler \([^ ]*\).*/\1 \2/p' |
		while read -r pid db; do
			kb=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$pid/smaps_rollup" 2>/dev/null)
			echo "$1,$pid,$db,$kb" >>"$MEM"
		done
}
for m in $(seq 0 "$MINUTES"); do
	t=$((first + m * 60 + 30))
	now=$(date +%s)
	[ "$t" -gt "$now" ] && sleep $((t - now))
	sample_memory "$m"
	[ $((m % 10)) -eq 0 ] && log "minute $m of $MINUTES"
done
# let the last minute's runs finish
end_wait=$(( $(date +%s) + 120 ))
while [ "$(date +%s)" -lt "$end_wait" ]; do
	busy=0
	for d in $(seq 1 "$DBS"); do
		n=$(q "soak$d" "SELECT count(*) FROM steward.job_run WHERE status = 'running'")
		busy=$((busy + n))
	done
	[ "$busy" -eq 0 ] && break
	sleep 1
done

from=$(date -u -d "@$first" +'%Y-%m-%d %H:%M:%S+00')
to=$(date -u -d "@$last" +'%Y-%m-%d %H:%M:%S+00')
{
	echo "# Scheduler soak, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "Produced by \`bash bench/scheduler/soak.sh\` (DBS=$DBS JOBS_PER_DB=$JOBS_PER_DB MINUTES=$MINUTES MAX_WORKERS=$MAX_WORKERS)."
	echo "Machine: $(nproc) CPUs, PostgreSQL $($PGBIN/postgres --version | awk '{print $3}'); due times from $from to $to."
	echo
	echo "| database | due | ran | skipped (overlap) | lost | duplicated | failed or crashed |"
	echo "|---|---|---|---|---|---|---|"
	tot_due=0; tot_ran=0; tot_skip=0; tot_lost=0; tot_dup=0; tot_bad=0
	for d in $(seq 1 "$DBS"); do
		due=$((JOBS_PER_DB * MINUTES))
		IFS='|' read -r ran dup bad <<<"$(q "soak$d" "
			SELECT count(DISTINCT (job_id, scheduled_for)),
			       count(*) - count(DISTINCT (job_id, scheduled_for)),
			       count(*) FILTER (WHERE status NOT IN ('succeeded', 'running'))
			  FROM steward.job_run r JOIN steward.job j USING (job_id)
			 WHERE j.kind = 'sql' AND r.scheduled_for BETWEEN '$from' AND '$to'")"
		# skips inside the window: due times neither run nor queued because
		# the previous run of that job was still going
		skip=$(q "soak$d" "SELECT coalesce(sum(skipped_runs), 0) FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.kind = 'sql'")
		lost=$((due - ran - skip))
		[ "$lost" -lt 0 ] && lost=0
		echo "| soak$d | $due | $ran | $skip | $lost | $dup | $bad |"
		tot_due=$((tot_due + due)); tot_ran=$((tot_ran + ran)); tot_skip=$((tot_skip + skip))
		tot_lost=$((tot_lost + lost)); tot_dup=$((tot_dup + dup)); tot_bad=$((tot_bad + bad))
	done
	echo "| **all** | $tot_due | $tot_ran | $tot_skip | $tot_lost | $tot_dup | $tot_bad |"
	echo
	echo "Skipped runs count every skip since the jobs were scheduled (a few minutes before the window), so 'lost' is a lower bound when skips happened."
	echo
	echo "Scheduler private memory (Private_Clean + Private_Dirty of /proc/pid/smaps_rollup), kB:"
	echo
	echo "| database | pid | minute 1 | minute $((MINUTES / 2)) | minute $MINUTES | growth 1 -> $MINUTES |"
	echo "|---|---|---|---|---|---|"
	awk -F, -v half=$((MINUTES / 2)) -v end="$MINUTES" 'NR > 1 {
			k = $3 " | " $2; if ($1 == 1) a[k] = $4; if ($1 == half) b[k] = $4; if ($1 == end) c[k] = $4 }
		END { for (k in a) printf "| %s | %s | %s | %s | %+d |\n", k, a[k], b[k], c[k], c[k] - a[k] }' "$MEM" | sort
	echo
	echo "Server log lines at WARNING or worse:"
	echo
	echo '```'
	grep -E ' (WARNING|ERROR|FATAL|PANIC): ' "$CDIR/server.log" | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' | sort | uniq -c | sort -rn | head -20 || true
	echo '```'
} >"$RESULTS"
log "written to $RESULTS"
cat "$RESULTS"
