#!/usr/bin/env bash
# Point-in-time recovery benchmark of issue 14, as root (clusters run as
# the postgres OS user): the time to bring a pgbench -s SCALE cluster back
# from a physical backup plus WAL_MB of archived WAL, pg_steward against
# pgBackRest, ROUNDS rounds with the order reversed every other round.
#
# One cluster (fsync = on) archives with archive_library = 'pg_steward'
# (zstd level 1) and keeps its WAL (wal_keep_size), so that every segment
# is also pushed into a pgBackRest repository (zstd level 1) after the
# load; both methods thus restore the same WAL.  Before the load each
# method takes a physical backup (steward.backup_now('physical');
# pgbackrest backup --type=full, process-max 2).  Then pgbench writes
# WAL_MB of WAL.  The cluster is stopped, and each round times, for each
# method, from nothing to a promoted cluster:
#
#   pg_steward: pg_steward_restore --backup latest --pgdata NEW, pg_ctl
#               start, poll until pg_is_in_recovery() is false (recovery
#               replays every archived segment through
#               restore_command = pg_steward_wal_restore, then promotes)
#   pgBackRest: pgbackrest restore --pg1-path=NEW --archive-mode=off
#               (process-max 2; archive-get with archive-async=y and
#               process-max 2, its prefetching queue), the same start and poll
#
# Reported per run: the files phase (the restore program), the recovery
# phase (start to promoted), the total, and the load average before it.
#
# METHODS="pg_steward pgbackrest pg_steward_p0" adds pg_steward with its
# restore_command's prefetching off (-P 0).
#
#   PG_CONFIG=... ROUNDS=3 SCALE=50 WAL_MB=1024 PORT=57460 \
#       flock /tmp/steward-bench.lock bash bench/backups/pitr.sh [results.md]
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/common.sh

ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-50}
WAL_MB=${WAL_MB:-1024}
PORT=${PORT:-57460}
METHODS=${METHODS:-pg_steward pgbackrest}
OUT=${1:-bench/backups/pitr-results-$(date -u +%F).md}
PGBACKREST=$(command -v pgbackrest || true)
[ -n "$PGBACKREST" ] || { echo "pgbackrest is not installed" >&2; exit 1; }
W=$(make_workdir)
trap 'cluster_stop "$W/pg" 2>/dev/null; cluster_stop "$W/new" 2>/dev/null; rm -rf "$W"' EXIT

psql_() { as_pg "$PGBIN/psql" -X -q -A -t -h "$W/pg" -p $PORT -U postgres -d postgres "$@"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
pgbr() { as_pg "$PGBACKREST" --config="$W/pgbackrest.conf" --stanza=bench "$@"; }

as_pg mkdir -p "$W/pg" "$W/backups" "$W/pgbr-log" "$W/pgbr-lock" "$W/pgbr-spool" "$W/repo"
cat > "$W/pgbackrest.conf" <<EOC
[global]
repo1-path=$W/repo
log-path=$W/pgbr-log
lock-path=$W/pgbr-lock
spool-path=$W/pgbr-spool
compress-type=zst
compress-level=1
process-max=2
archive-async=y
log-level-console=warn
log-level-file=off
start-fast=y
repo1-retention-full=99

[bench]
pg1-path=$W/pg/data
pg1-socket-path=$W/pg
pg1-port=$PORT
pg1-user=postgres
EOC
chown postgres: "$W/pgbackrest.conf"

# the cluster, its backups and its WAL
echo "setting up: pgbench -s $SCALE, backups, $WAL_MB MB of WAL" >&2
cluster_init "$W/pg" $PORT "fsync = on" "synchronous_commit = off" "wal_level = replica" \
	"shared_buffers = 256MB" "wal_keep_size = $((WAL_MB * 2 + 1024))MB" \
	"archive_mode = on" "archive_library = 'pg_steward'" \
	"shared_preload_libraries = 'pg_steward'" "steward.backup_directory = '$W/backups'" >/dev/null
cluster_start "$W/pg"
psql_ -c 'CREATE EXTENSION pg_steward'
as_pg "$PGBIN/pgbench" -q -i -s "$SCALE" -h "$W/pg" -p $PORT -U postgres postgres >/dev/null 2>&1
psql_ -c 'CHECKPOINT'
pgbr stanza-create --no-online >/dev/null
psql_ -c "SELECT steward.backup_now('physical')" >/dev/null
pgbr backup --type=full --no-archive-check >/dev/null
start_lsn=$(psql_ -c 'SELECT pg_current_wal_lsn()')
while [ "$(psql_ -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$start_lsn') < $WAL_MB * 1048576.0")" = t ]; do
	as_pg "$PGBIN/pgbench" -n -c 2 -j 2 -t 5000 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null
done
wal_bytes=$(psql_ -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$start_lsn')")
rows=$(psql_ -c 'SELECT sum(abalance) FROM pgbench_accounts')
psql_ -c 'SELECT pg_switch_wal()' >/dev/null
until [ "$(psql_ -c "SELECT count(*) = 0 FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")" = t ]; do
	sleep 0.2
done
cluster_stop "$W/pg"
# the same WAL into pgBackRest's repository (synchronously, outside the timing)
for f in $(ls "$W/pg/data/pg_wal" | grep -E '^[0-9A-F]{24}$'); do
	as_pg "$PGBACKREST" --config="$W/pgbackrest.conf" --stanza=bench --no-archive-async \
		archive-push "$W/pg/data/pg_wal/$f"
done
segments=$(ls "$W/backups/wal" | grep -c '\.zst$')
wal_archive_mb=$(du -sm "$W/backups/wal" | cut -f1)
pgbr_archive_mb=$(du -sm "$W/repo/archive" | cut -f1)
our_backup_mb=$(du -sm "$W/backups" --exclude=wal | cut -f1)
pgbr_backup_mb=$(du -sm "$W/repo/backup" | cut -f1)

# one restore: files, start, recovery to the end; prints a result line
restore_run() {
	local m=$1 round=$2 la t0 t1 t2 got
	la=$(loadavg)
	cluster_stop "$W/new" 2>/dev/null || true
	rm -rf "$W/new"
	as_pg mkdir -p "$W/new"
	rm -rf "$W/pgbr-spool"/* 2>/dev/null || true
	sync
	t0=$(now)
	if [ "$m" = pg_steward ] || [ "$m" = pg_steward_p0 ]; then
		as_pg "$PGBIN/pg_steward_restore" --backup-directory "$W/backups" --backup latest \
			--pgdata "$W/new/data" >/dev/null
		if [ "$m" = pg_steward_p0 ]; then
			as_pg sed -i '/^restore_command/s| -B | -P 0 -B |' "$W/new/data/postgresql.auto.conf"
			grep -q '^restore_command.* -P 0 -B ' "$W/new/data/postgresql.auto.conf" ||
				{ echo "could not turn prefetching off" >&2; exit 1; }
		fi
	else
		as_pg "$PGBACKREST" --config="$W/pgbackrest.conf" --stanza=bench \
			--pg1-path="$W/new/data" --archive-mode=off restore >/dev/null
	fi
	t1=$(now)
	# same socket and port as the original, which is stopped
	as_pg "$PGBIN/pg_ctl" -D "$W/new/data" -l "$W/new/server.log" start >/dev/null
	until [ "$(as_pg "$PGBIN/psql" -X -q -A -t -h "$W/pg" -p $PORT -U postgres -d postgres \
		-c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
		sleep 0.05
	done
	t2=$(now)
	got=$(as_pg "$PGBIN/psql" -X -q -A -t -h "$W/pg" -p $PORT -U postgres -d postgres \
		-c 'SELECT sum(abalance) FROM pgbench_accounts')
	[ "$got" = "$rows" ] || { echo "$m: restored sum(abalance) $got, expected $rows" >&2; exit 1; }
	as_pg "$PGBIN/pg_ctl" -D "$W/new/data" -m fast -w stop >/dev/null
	printf '| %d | %s | %s | %.2f | %.2f | %.2f |\n' "$round" "$m" "$la" \
		"$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" "$(echo "$t2 - $t0" | bc -l)"
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
	echo "# Point-in-time recovery benchmark, $(date -u '+%F %H:%M') UTC"
	echo
	echo "$(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GB; PostgreSQL $($PGBIN/postgres --version | awk '{print $3}');"
	echo "pgBackRest $($PGBACKREST version | awk '{print $2}'); shared machine: load average in each row."
	echo "ROUNDS=$ROUNDS SCALE=$SCALE WAL_MB=$WAL_MB. Script: bench/backups/pitr.sh."
	echo
	echo "WAL to replay: $((wal_bytes / 1048576)) MB in $segments archived segments"
	echo "(pg_steward archive $wal_archive_mb MB, pgBackRest archive $pgbr_archive_mb MB);"
	echo "backups: pg_steward $our_backup_mb MB (plain), pgBackRest $pgbr_backup_mb MB (zstd)."
	echo
	echo "| round | method | load | files, s | start + recovery, s | total, s |"
	echo "|---|---|---|---|---|---|"
} > "$OUT.tmp"
lines=()
for r in $(seq "$ROUNDS"); do
	order=$METHODS
	[ $((r % 2)) -eq 0 ] && order=$(echo $METHODS | tr ' ' '\n' | tac | tr '\n' ' ')
	for m in $order; do
		line=$(restore_run "$m" "$r")
		echo "$line" | tee -a "$OUT.tmp" >&2
		lines+=("$line")
	done
done
{
	echo
	echo "min / median / max of the total (files + start + recovery), s:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 7
	echo
	echo "min / median / max of the files phase, s:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 5
	echo
	echo "min / median / max of start + recovery, s:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 6
} >> "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "results in $OUT" >&2
