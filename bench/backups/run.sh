#!/usr/bin/env bash
# Backups benchmark: on a `pgbench -i -s SCALE` database, side by side in
# one run, ROUNDS rounds with the order reversed every other round:
#   logical:  steward.backup_now('logical')  vs  the same pg_dumpall
#             --globals-only + pg_dump -Fd -j 2 -Z 1 by hand
#   physical: steward.backup_now('physical') vs  the same pg_basebackup by
#             hand (and by hand + pg_verifybackup, which ours includes) vs
#             pgbackrest backup --type=full (zst level 1, process-max 2)
#   restores: steward.restore_logical() vs createdb + pg_restore -j 2 by
#             hand; pgbackrest restore; the restore drills of both kinds
#             (backup_verify(deep => true), their recorded durations).
# See README.md in this directory.
#
#   bash bench/backups/run.sh                      # full run, about 10 min
#   SCALE=5 ROUNDS=1 bash bench/backups/run.sh     # smoke run
#   PHYSICAL_ONLY=1 RESULTS=... bash bench/backups/run.sh
#       physical backups only: ours, ours encrypted (the cost of
#       steward.backup_encryption_key_file), by hand, pgBackRest
#
# Run as root (the cluster and the tools run as the postgres OS user;
# pgbackrest is installed with apt-get when missing).  Nothing is built;
# pg_steward is used as installed ($PG_CONFIG).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../tools/common.sh
source "$ROOT/tools/common.sh"

SCALE=${SCALE:-50}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-57450}
JOBS=2
KEEP=${KEEP:-0}
PHYSICAL_ONLY=${PHYSICAL_ONLY:-0}

full=0
[ "$SCALE" -eq 50 ] && [ "$ROUNDS" -ge 3 ] && full=1
STAMP=$(date -u +%Y-%m-%d)
if [ -z "${RESULTS:-}" ]; then
	if [ $full -eq 1 ]; then base="$HERE/results-$STAMP"; else base="$HERE/results-$STAMP-custom"; fi
	RESULTS="$base.md"
	n=2
	while [ -e "$RESULTS" ]; do RESULTS="$base-$n.md"; n=$((n + 1)); done
fi

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

if ! command -v pgbackrest >/dev/null && [ "$(id -u)" -eq 0 ]; then
	log "installing pgbackrest (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbackrest >/dev/null 2>&1 || true
fi
HAVE_PGBR=0
command -v pgbackrest >/dev/null && HAVE_PGBR=1

W=$(make_workdir)
D=$W/c
cleanup() {
	cluster_stop "$D"
	[ -f "$W/pgbr_restore/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$W/pgbr_restore" -m immediate stop >/dev/null 2>&1
	if [ "$KEEP" = 1 ]; then log "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM
as_pg mkdir -p "$D" "$W/backups" "$W/hand" "$W/pgbr" "$W/pgbr_log" "$W/pgbr_spool"

PSQL=("$PGBIN/psql" -X -q -A -t -h "$D" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
q() { as_pg "${PSQL[@]}" -d "${2:-bench}" -c "$1"; }
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# ---------------------------------------------------------------- cluster
cluster_init "$D" "$PORT" "shared_preload_libraries = 'pg_steward'" \
	"steward.backup_directory = '$W/backups'" "steward.backup_jobs = $JOBS" \
	"wal_level = replica" "max_wal_senders = 4" "shared_buffers = 256MB" \
	"archive_mode = on" \
	"archive_command = 'pgbackrest --config=$W/pgbackrest.conf --stanza=bench archive-push %p'"
cat >"$W/pgbackrest.conf" <<EOF
[global]
repo1-path=$W/pgbr
log-path=$W/pgbr_log
spool-path=$W/pgbr_spool
lock-path=$W/pgbr_spool
compress-type=zst
compress-level=1
process-max=$JOBS
start-fast=y
repo1-retention-full=1
log-level-console=warn

[bench]
pg1-path=$D/data
pg1-socket-path=$D
pg1-port=$PORT
pg1-user=postgres
EOF
[ "$(id -u)" -eq 0 ] && chown postgres: "$W/pgbackrest.conf"
[ $HAVE_PGBR -eq 1 ] || sed -i "s|^archive_command.*|archive_command = '/bin/true'|" "$D/data/postgresql.conf"
cluster_start "$D"
PGBR=(pgbackrest --config="$W/pgbackrest.conf" --stanza=bench)

if [ $HAVE_PGBR -eq 1 ]; then
	as_pg "${PGBR[@]}" stanza-create >/dev/null || die "pgbackrest stanza-create"
fi
log "pgbench -i -s $SCALE"
q "CREATE DATABASE bench" postgres
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" -h "$D" -p "$PORT" -U postgres bench >/dev/null 2>&1 || die "pgbench -i"
q "CREATE EXTENSION pg_steward"; q "VACUUM ANALYZE"; q "CHECKPOINT"
DBSIZE=$(q "SELECT pg_size_pretty(pg_database_size('bench'))")
CLSIZE=$(q "SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database")
# the archiver catches up with pgbench's WAL before anything is timed
seg=$(q "SELECT pg_walfile_name(pg_current_wal_lsn()) FROM (SELECT pg_switch_wal()) s")
for _ in $(seq 1 600); do
	[ "$(q "SELECT coalesce(last_archived_wal, '') >= '$seg' FROM pg_stat_archiver")" = t ] && break
	sleep 1
done

# ---------------------------------------------------------------- systems
# Each prints its seconds on stdout and leaves nothing behind but its
# backup, which the matching restore uses and then removes.
# (they run in command substitutions: our backup ids go through files)
run_logical_steward() {
	local t0 t1
	t0=$(now); q "SELECT steward.backup_now('logical')" >"$W/last_l"; t1=$(now)
	secs "$t0" "$t1"
}
run_logical_hand() {
	local t0 t1 conn="host=$D port=$PORT user=postgres"
	as_pg rm -rf "$W/hand/l"; as_pg mkdir -p "$W/hand/l"
	t0=$(now)
	as_pg "$PGBIN/pg_dumpall" --globals-only --no-password -d "$conn dbname=postgres" -f "$W/hand/l/globals.sql"
	as_pg "$PGBIN/pg_dump" -Fd -j $JOBS -Z 1 --no-password -f "$W/hand/l/dump" -d "$conn dbname=bench"
	t1=$(now)
	secs "$t0" "$t1"
}
run_physical_steward() {
	local t0 t1
	t0=$(now); q "SELECT steward.backup_now('physical')" >"$W/last_p"; t1=$(now)
	secs "$t0" "$t1"
}
# the same with steward.backup_encryption_key_file set (reset afterwards)
set_key() {
	if [ -n "$1" ]; then
		q "ALTER SYSTEM SET steward.backup_encryption_key_file = '$1'" postgres
	else
		q "ALTER SYSTEM RESET steward.backup_encryption_key_file" postgres
	fi
	q "SELECT pg_reload_conf()" postgres >/dev/null
	# a new session sees the setting once the postmaster has reloaded
	for _ in $(seq 1 100); do
		[ "$(q "SELECT current_setting('steward.backup_encryption_key_file')" postgres)" = "$1" ] && return 0
		sleep 0.1
	done
	die "steward.backup_encryption_key_file was not reloaded"
}
run_physical_encrypted() {
	local t0 t1
	set_key "$W/backup.key"
	t0=$(now); q "SELECT steward.backup_now('physical')" >"$W/last_pe"; t1=$(now)
	set_key ""
	as_pg rm -rf "$W/backups/$(cat "$W/last_pe")"
	secs "$t0" "$t1"
}
run_physical_hand() {
	local t0 t1
	as_pg rm -rf "$W/hand/p"
	t0=$(now)
	as_pg "$PGBIN/pg_basebackup" -d "host=$D port=$PORT user=postgres" -D "$W/hand/p" -Fp -X stream \
		-c fast --manifest-checksums=SHA256 --no-password -l hand
	t1=$(now)
	secs "$t0" "$t1"
}
run_verify_hand() {
	local t0 t1
	t0=$(now); as_pg "$PGBIN/pg_verifybackup" -q "$W/hand/p"; t1=$(now)
	secs "$t0" "$t1"
}
run_pgbackrest() {
	local t0 t1
	t0=$(now); as_pg "${PGBR[@]}" backup --type=full >/dev/null; t1=$(now)
	secs "$t0" "$t1"
}
run_restore_steward() {
	local t0 t1
	q "DROP DATABASE IF EXISTS r_steward" postgres 2>/dev/null
	t0=$(now); q "SELECT steward.restore_logical($LAST_L, 'r_steward')" >/dev/null; t1=$(now)
	q "DROP DATABASE r_steward" postgres
	secs "$t0" "$t1"
}
run_restore_hand() {
	local t0 t1 conn="host=$D port=$PORT user=postgres"
	q "DROP DATABASE IF EXISTS r_hand" postgres 2>/dev/null
	t0=$(now)
	q "CREATE DATABASE r_hand TEMPLATE template0" postgres
	as_pg "$PGBIN/pg_restore" --no-password -j $JOBS -d "$conn dbname=r_hand" "$W/hand/l/dump"
	t1=$(now)
	q "DROP DATABASE r_hand" postgres
	secs "$t0" "$t1"
}
run_pgbackrest_restore() {
	local t0 t1
	as_pg rm -rf "$W/pgbr_restore"; as_pg mkdir -p "$W/pgbr_restore"; as_pg chmod 700 "$W/pgbr_restore"
	t0=$(now)
	as_pg "${PGBR[@]}" restore --pg1-path="$W/pgbr_restore" --type=immediate --target-action=promote >/dev/null
	t1=$(now)
	as_pg rm -rf "$W/pgbr_restore"
	secs "$t0" "$t1"
}
# the drills' durations as recorded (drill_duration), in seconds
run_drill() {
	local id=$1
	q "SELECT bool_and(ok) FROM steward.backup_verify($id, deep => true)" >/dev/null
	q "SELECT extract(epoch FROM drill_duration)::numeric(10,3) FROM steward.backups WHERE backup_id = $id"
}

declare -A T=()
add() { T[$1]+="$2 "; log "$1: $2 s"; }

SYSTEMS_FWD=(logical_steward logical_hand physical_steward physical_hand pgbackrest)
[ $HAVE_PGBR -eq 1 ] || SYSTEMS_FWD=(logical_steward logical_hand physical_steward physical_hand)
if [ "$PHYSICAL_ONLY" = 1 ]; then
	SYSTEMS_FWD=(physical_steward physical_encrypted physical_hand pgbackrest)
	[ $HAVE_PGBR -eq 1 ] || SYSTEMS_FWD=(physical_steward physical_encrypted physical_hand)
	openssl rand -hex 32 | as_pg tee "$W/backup.key" >/dev/null
	as_pg chmod 600 "$W/backup.key"
fi
CPU_BEFORE=$(awk '/^cpu / { print $2 + $3 + $4, $5 }' /proc/stat)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
	order=("${SYSTEMS_FWD[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		order=(); for ((i = ${#SYSTEMS_FWD[@]} - 1; i >= 0; i--)); do order+=("${SYSTEMS_FWD[$i]}"); done
	fi
	log "round $r: ${order[*]}  (load $(cut -d' ' -f1-3 /proc/loadavg))"
	for s in "${order[@]}"; do
		add "$s" "$(run_$s)"
		[ "$s" = physical_hand ] && add verify_hand "$(run_verify_hand)"
		q "CHECKPOINT" >/dev/null
	done
	if [ "$PHYSICAL_ONLY" = 1 ]; then
		LAST_P=$(cat "$W/last_p")
		add steward_physical_recorded "$(q "SELECT extract(epoch FROM duration)::numeric(10,3) FROM steward.backups WHERE backup_id = $LAST_P")"
		PSIZE=$(q "SELECT pg_size_pretty(size_bytes) FROM steward.backups WHERE backup_id = $LAST_P")
		as_pg rm -rf "$W/backups/$LAST_P" "$W/hand/p"
		continue
	fi
	LAST_L=$(cat "$W/last_l"); LAST_P=$(cat "$W/last_p")
	# restores, in the same alternating order
	rorder=(restore_steward restore_hand)
	[ $HAVE_PGBR -eq 1 ] && rorder+=(pgbackrest_restore)
	if [ $((r % 2)) -eq 0 ]; then rorder=("${rorder[@]:1}" "${rorder[0]}"); fi
	for s in "${rorder[@]}"; do add "$s" "$(run_$s)"; done
	add drill_logical "$(run_drill "$LAST_L")"
	add drill_physical "$(run_drill "$LAST_P")"
	# our backups of this round, what they cost, then make room
	add steward_logical_recorded "$(q "SELECT extract(epoch FROM duration)::numeric(10,3) FROM steward.backups WHERE backup_id = $LAST_L")"
	add steward_physical_recorded "$(q "SELECT extract(epoch FROM duration)::numeric(10,3) FROM steward.backups WHERE backup_id = $LAST_P")"
	LSIZE=$(q "SELECT pg_size_pretty(size_bytes) FROM steward.backups WHERE backup_id = $LAST_L")
	PSIZE=$(q "SELECT pg_size_pretty(size_bytes) FROM steward.backups WHERE backup_id = $LAST_P")
	as_pg rm -rf "$W/backups/$LAST_L" "$W/backups/$LAST_P" "$W/hand/p"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
# the machine's CPU use over the rounds (all processes, not only ours)
CPU_BUSY=$(awk -v b="$CPU_BEFORE" '/^cpu / { split(b, x, " "); busy = $2 + $3 + $4 - x[1]; idle = $5 - x[2]; printf "%.0f", 100 * busy / (busy + idle) }' /proc/stat)
HSIZE=-
[ -d "$W/hand/l" ] && HSIZE=$(du -sh "$W/hand/l" | cut -f1)
BRSIZE=-
[ $HAVE_PGBR -eq 1 ] && BRSIZE=$(du -sh "$W/pgbr/backup" | cut -f1)

# ---------------------------------------------------------------- report
stats() { # "min median max" of the numbers given
	printf '%s\n' $1 | sort -g | awk '{ a[n++] = $1 } END { printf "%.2f %.2f %.2f", a[0], a[int((n - 1) / 2)] + (n % 2 ? 0 : (a[n / 2] - a[int((n - 1) / 2)]) / 2), a[n - 1] }'
}
median() { stats "$1" | cut -d' ' -f2; }
ratio() { awk -v a="$(median "${T[$1]}")" -v b="$(median "${T[$2]}")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { local s; s=$(stats "${T[$1]}"); printf '| %s | %s | %s | %s | %s |\n' "$2" $s "${T[$1]}"; }

{
	echo "# Backups benchmark, $STAMP"
	echo
	echo "\`bash bench/backups/run.sh\` (SCALE=$SCALE, ROUNDS=$ROUNDS), PostgreSQL $(q 'SHOW server_version'),"
	echo "pg_steward $(q 'SELECT steward.version()'), $(nproc) cores, pgbackrest $(pgbackrest version 2>/dev/null | cut -d' ' -f2 || echo -)."
	echo "Database \`bench\`: $DBSIZE (cluster $CLSIZE). Load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
	echo "(the machine is shared with other jobs); all CPUs were $CPU_BUSY % busy during the rounds."
	echo "Seconds of wall-clock time; order reversed every other round."
	echo
	echo "| what | min | median | max | each round |"
	echo "|---|---|---|---|---|"
	[ -n "${T[logical_steward]:-}" ] && row logical_steward "logical: \`steward.backup_now('logical')\` ($LSIZE)"
	[ -n "${T[logical_hand]:-}" ] && row logical_hand "logical: pg_dumpall -g + pg_dump -Fd -j $JOBS -Z 1 by hand ($HSIZE)"
	row physical_steward "physical: \`steward.backup_now('physical')\` ($PSIZE)"
	[ -n "${T[physical_encrypted]:-}" ] && row physical_encrypted "physical, encrypted: \`steward.backup_now('physical')\` with a key"
	row physical_hand "physical: pg_basebackup -Fp -X stream -c fast, SHA-256 manifest, by hand"
	row verify_hand "physical: pg_verifybackup of the hand backup"
	[ $HAVE_PGBR -eq 1 ] && row pgbackrest "physical: pgbackrest backup --type=full, zst:1, process-max $JOBS ($BRSIZE)"
	if [ "$PHYSICAL_ONLY" != 1 ]; then
		row restore_steward "restore: \`steward.restore_logical()\`"
		row restore_hand "restore: createdb + pg_restore -j $JOBS by hand"
		[ $HAVE_PGBR -eq 1 ] && row pgbackrest_restore "restore: pgbackrest restore (files only)"
		row drill_logical "drill, logical (recorded drill_duration)"
		row drill_physical "drill, physical (recorded drill_duration)"
		row steward_logical_recorded "logical backup's recorded duration"
	fi
	row steward_physical_recorded "physical backup's recorded duration"
	echo
	echo "Ratios of medians:"
	echo
	[ "$PHYSICAL_ONLY" != 1 ] && echo "- logical, ours / by hand: $(ratio logical_steward logical_hand) (target <= 1.05)"
	echo "- physical, ours / pg_basebackup by hand: $(ratio physical_steward physical_hand) (target <= 1.05)"
	T[hand_pv]=$(paste -d' ' <(printf '%s\n' ${T[physical_hand]}) <(printf '%s\n' ${T[verify_hand]}) | awk '{ printf "%.3f ", $1 + $2 }')
	echo "- physical, ours / pg_basebackup + pg_verifybackup by hand: $(ratio physical_steward hand_pv)"
	[ $HAVE_PGBR -eq 1 ] && echo "- physical, ours / pgBackRest full: $(ratio physical_steward pgbackrest)"
	[ -n "${T[physical_encrypted]:-}" ] && echo "- physical, ours encrypted / ours: $(ratio physical_encrypted physical_steward) (target <= 1.15)"
	[ "$PHYSICAL_ONLY" != 1 ] && echo "- logical restore, ours / by hand: $(ratio restore_steward restore_hand)"
	true
} >"$RESULTS"
[ "$(id -u)" -eq 0 ] || true
log "wrote $RESULTS"
cat "$RESULTS"
