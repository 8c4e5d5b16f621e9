#!/usr/bin/env bash
# Backup benchmarks of issue 14, as root (clusters run as the postgres OS
# user), ROUNDS rounds with the methods alternating in each round:
#
# 1. WAL archiving under load: SEGMENTS WAL segments, each filled by a
#    pgbench run and a bulk insert and closed with pg_switch_wal(), archived
#    by basic_archive (contrib, plain copies), archive_library = pg_steward
#    (zstd level 1; with and without AES-256-GCM) and, when installed,
#    pgbackrest archive-push (zstd level 1, synchronous).  Reported:
#    segments/s from the start of the load to the last segment archived,
#    the lag after the load ended, and the CPU seconds of the archiver
#    (user + system, with the archive_command children it waited for).
# 2. Encryption's cost on a physical backup: steward.backup_now('physical')
#    of a pgbench -s SCALE cluster without and with a key.
# 3. Draining a backlog: SEGMENTS segments written while archiving is not
#    configured, then the method is switched on (reload) and timed from
#    the first segment archived to the last.  Unlike 1, which the load generator paces,
#    this is how fast each archiver can go.
#
# fsync = on in every cluster.  The machine's load average is recorded
# before each run.
#
#   PG_CONFIG=... ROUNDS=3 SEGMENTS=32 SCALE=20 PORT=57290 bash bench/backups/wal.sh [results.md]
#   PARTS=archive ...  (only 1; PARTS=encryption: only 2; PARTS=drain: only 3;
#   default archive,encryption,drain)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/common.sh

ROUNDS=${ROUNDS:-3}
SEGMENTS=${SEGMENTS:-32}
SCALE=${SCALE:-20}
PORT=${PORT:-57290}
PARTS=${PARTS:-archive,encryption,drain}
OUT=${1:-bench/backups/wal-results-$(date -u +%F).md}
W=$(make_workdir)
trap 'cluster_stop "$W/pg" 2>/dev/null; rm -rf "$W"' EXIT
HZ=$(getconf CLK_TCK)
PGBACKREST=$(command -v pgbackrest || true)

psql_() { as_pg "$PGBIN/psql" -X -q -A -t -h "$W/pg" -p $PORT -U postgres -d postgres "$@"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
# CPU seconds of a process: utime + stime + cutime + cstime
cpu_of() { awk -v hz="$HZ" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat"; }

key="$W/key"
openssl rand -hex 32 > "$key"; chmod 600 "$key"; chown postgres: "$key"
as_pg mkdir -p "$W/pgbr-log" "$W/pgbr-lock"
cat > "$W/pgbackrest.conf" <<EOC
[global]
repo1-path=$W/archive
log-path=$W/pgbr-log
lock-path=$W/pgbr-lock
compress-type=zst
compress-level=1
log-level-console=warn
log-level-file=off
start-fast=y

[bench]
pg1-path=$W/pg/data
pg1-socket-path=$W/pg
pg1-port=$PORT
pg1-user=postgres
EOC
chown postgres: "$W/pgbackrest.conf"

settings_of() {
	case $1 in
	basic_archive) echo "archive_library = 'basic_archive'
basic_archive.archive_directory = '$W/archive'" ;;
	pg_steward) echo "archive_library = 'pg_steward'
steward.backup_directory = '$W/archive'" ;;
	pg_steward_aes) echo "archive_library = 'pg_steward'
steward.backup_directory = '$W/archive'
steward.backup_encryption_key_file = '$key'" ;;
	pgbackrest) echo "archive_command = '$PGBACKREST --config=$W/pgbackrest.conf --stanza=bench archive-push %p'" ;;
	esac
}

fresh_cluster() {
	cluster_stop "$W/pg" 2>/dev/null || true
	rm -rf "$W/pg" "$W/archive"
	as_pg mkdir -p "$W/pg" "$W/archive"
	cluster_init "$W/pg" $PORT "fsync = on" "wal_level = replica" "max_wal_size = 4GB" \
		"checkpoint_timeout = 30min" "$@" >/dev/null
	cluster_start "$W/pg"
}

# one archiving run; prints a result line
archive_run() {
	local m=$1 round=$2 la start_count t0 t1 t2 pid c0 c1 size
	la=$(loadavg)
	fresh_cluster "archive_mode = on" "$(settings_of "$m")"
	if [ "$m" = pgbackrest ]; then
		as_pg "$PGBACKREST" --config="$W/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
	fi
	as_pg "$PGBIN/pgbench" -q -i -s 5 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null 2>&1
	psql_ -c 'CREATE TABLE f (t text)'
	psql_ -c 'SELECT pg_switch_wal()' >/dev/null
	until [ "$(psql_ -c "SELECT count(*) = 0 FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")" = t ]; do
		sleep 0.2
	done
	pid=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'")
	c0=$(cpu_of "$pid")
	start_count=$(psql_ -c 'SELECT archived_count FROM pg_stat_archiver')
	t0=$(now)
	for _ in $(seq "$SEGMENTS"); do
		as_pg "$PGBIN/pgbench" -n -t 300 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null
		psql_ -c 'INSERT INTO f SELECT md5(random()::text) FROM generate_series(1, 60000)'
		psql_ -c 'SELECT pg_switch_wal()' >/dev/null
	done
	t1=$(now)
	until [ "$(psql_ -c "SELECT archived_count - $start_count >= $SEGMENTS FROM pg_stat_archiver")" = t ]; do
		sleep 0.1
	done
	t2=$(now)
	c1=$(cpu_of "$pid")
	size=$(du -sm "$W/archive" | cut -f1)
	printf '| %d | %s | %s | %.2f | %.1f | %.2f | %.3f | %s |\n' "$round" "$m" "$la" \
		"$(echo "$SEGMENTS / ($t2 - $t0)" | bc -l)" "$(echo "$t2 - $t0" | bc -l)" \
		"$(echo "$t2 - $t1" | bc -l)" "$(echo "($c1 - $c0) / $SEGMENTS" | bc -l)" "$size"
}

# one backlog run: SEGMENTS segments written with archiving off, then the
# method switched on; prints a result line
drain_run() {
	local m=$1 round=$2 la start_count t0 t1 pid size
	la=$(loadavg)
	# everything but archive_library / archive_command from the start
	fresh_cluster "archive_mode = on" "$(settings_of "$m" | grep -v '^archive_')"
	if [ "$m" = pgbackrest ]; then
		as_pg "$PGBACKREST" --config="$W/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
	fi
	as_pg "$PGBIN/pgbench" -q -i -s 5 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null 2>&1
	psql_ -c 'CREATE TABLE f (t text)'
	for _ in $(seq "$SEGMENTS"); do
		as_pg "$PGBIN/pgbench" -n -t 300 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null
		psql_ -c 'INSERT INTO f SELECT md5(random()::text) FROM generate_series(1, 60000)'
		psql_ -c 'SELECT pg_switch_wal()' >/dev/null
	done
	psql_ -c 'CHECKPOINT'
	start_count=$(psql_ -c 'SELECT archived_count FROM pg_stat_archiver')
	# then archive_library / archive_command and a reload: the archiver
	# (re)starts with them
	settings_of "$m" | grep '^archive_' | while IFS= read -r line; do
		psql_ -c "ALTER SYSTEM SET ${line%% =*} = ${line#*= }" >/dev/null
	done
	psql_ -c 'SELECT pg_reload_conf()' >/dev/null
	# timed from the first segment archived to the last: how fast the
	# archiver goes, without the start of a new archiver process
	until [ "$(psql_ -c "SELECT archived_count - $start_count >= 1 FROM pg_stat_archiver")" = t ]; do
		sleep 0.02
	done
	t0=$(now)
	until [ "$(psql_ -c "SELECT archived_count - $start_count >= $SEGMENTS FROM pg_stat_archiver")" = t ]; do
		sleep 0.02
	done
	t1=$(now)
	pid=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'archiver'")
	size=$(du -sm "$W/archive" | cut -f1)
	printf '| %d | %s | %s | %.2f | %.2f | %.3f | %s |\n' "$round" "$m" "$la" \
		"$(echo "($SEGMENTS - 1) / ($t1 - $t0)" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" \
		"$(echo "$(cpu_of "$pid") / $SEGMENTS" | bc -l)" "$size"
}

# physical backups of one cluster, with and without a key
backup_run() {
	local m=$1 round=$2 la t0 t1 id size
	la=$(loadavg)
	if [ "$m" = encrypted ]; then
		psql_ -c "ALTER SYSTEM SET steward.backup_encryption_key_file = '$key'"
	else
		psql_ -c "ALTER SYSTEM RESET steward.backup_encryption_key_file"
	fi
	psql_ -c 'SELECT pg_reload_conf()' >/dev/null
	until [ "$(psql_ -c "SELECT current_setting('steward.backup_encryption_key_file') <> ''")" = \
		"$([ "$m" = encrypted ] && echo t || echo f)" ]; do sleep 0.1; done
	t0=$(now)
	id=$(psql_ -c "SELECT steward.backup_now('physical')")
	t1=$(now)
	size=$(du -sm "$W/archive/$id" | cut -f1)
	rm -rf "$W/archive/$id"
	printf '| %d | %s | %s | %.2f | %s |\n' "$round" "$m" "$la" "$(echo "$t1 - $t0" | bc -l)" "$size"
}

# min / median / max of column $1 of the result lines on stdin, per method
summary() {
	local col=$1 all m
	all=$(cat)
	for m in $(echo "$all" | awk -F'|' '{ gsub(/ /, "", $3); print $3 }' | sort -u); do
		echo "$all" | awk -F'|' -v col="$col" -v m="$m" '{ x = $3; gsub(/ /, "", x); if (x == m) print $col + 0 }' |
			sort -n | awk -v m="$m" '{ a[NR] = $1 }
				END { med = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
					printf "| %s | %.3f | %.3f | %.3f |\n", m, a[1], med, a[NR] }'
	done
}

methods="basic_archive pg_steward pg_steward_aes"
[ -n "$PGBACKREST" ] && methods="$methods pgbackrest"
{
	echo "# Backup benchmarks, $(date -u '+%F %H:%M') UTC"
	echo
	echo "$(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GB; PostgreSQL $($PGBIN/postgres --version | awk '{print $3}');"
	echo "${PGBACKREST:+pgBackRest $($PGBACKREST version | awk '{print $2}');} shared machine: load average"
	echo "in each row. ROUNDS=$ROUNDS SEGMENTS=$SEGMENTS SCALE=$SCALE. Script: bench/backups/wal.sh."
	echo
	echo "## WAL archiving under load ($SEGMENTS segments)"
	echo
	echo "| round | method | load | segments/s | s | lag after load, s | archiver CPU s/segment | archive MB |"
	echo "|---|---|---|---|---|---|---|---|"
} > "$OUT.tmp"
lines=()
case ",$PARTS," in *,archive,*) ;; *) ROUNDS_A=0 ;; esac
for r in $(seq "${ROUNDS_A:-$ROUNDS}"); do
	# alternate the order: rotate the list by the round number
	set -- $methods
	for _ in $(seq $(( (r - 1) % $# ))); do set -- "${@:2}" "$1"; done
	for m in "$@"; do
		line=$(archive_run "$m" "$r")
		echo "$line" | tee -a "$OUT.tmp" >&2
		lines+=("$line")
	done
done
{
	echo
	echo "min / median / max of segments/s:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 5
	echo
	echo "min / median / max of archiver CPU seconds per segment:"
	echo
	echo "| method | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 8
} >> "$OUT.tmp"

# physical backup, plain and encrypted
case ",$PARTS," in *,encryption,*) ROUNDS_E=$ROUNDS ;; *) ROUNDS_E=0 ;; esac
if [ "$ROUNDS_E" -gt 0 ]; then
fresh_cluster "shared_preload_libraries = 'pg_steward'" "steward.backup_directory = '$W/archive'"
psql_ -c 'CREATE EXTENSION pg_steward'
as_pg "$PGBIN/pgbench" -q -i -s "$SCALE" -h "$W/pg" -p $PORT -U postgres postgres >/dev/null 2>&1
psql_ -c 'CHECKPOINT'
{
	echo
	echo "## Physical backup (pgbench -s $SCALE, $(psql_ -c "SELECT pg_size_pretty(pg_database_size('postgres'))")): encryption's cost"
	echo
	echo "| round | backup | load | s | MB |"
	echo "|---|---|---|---|---|"
} >> "$OUT.tmp"
lines=()
for r in $(seq "$ROUNDS"); do
	order="plain encrypted"
	[ $((r % 2)) -eq 0 ] && order="encrypted plain"
	for m in $order; do
		line=$(backup_run "$m" "$r")
		echo "$line" | tee -a "$OUT.tmp" >&2
		lines+=("$line")
	done
done
{
	echo
	echo "min / median / max of seconds:"
	echo
	echo "| backup | min | median | max |"
	echo "|---|---|---|---|"
	printf '%s\n' "${lines[@]}" | summary 5
} >> "$OUT.tmp"
fi

# backlog drain
case ",$PARTS," in *,drain,*) ROUNDS_D=$ROUNDS ;; *) ROUNDS_D=0 ;; esac
if [ "$ROUNDS_D" -gt 0 ]; then
	{
		echo
		echo "## Draining a backlog of $SEGMENTS segments (archiving switched on by a reload)"
		echo
		echo "| round | method | load | segments/s | s | archiver CPU s/segment | archive MB |"
		echo "|---|---|---|---|---|---|---|"
	} >> "$OUT.tmp"
	lines=()
	for r in $(seq "$ROUNDS_D"); do
		set -- $methods
		for _ in $(seq $(( (r - 1) % $# ))); do set -- "${@:2}" "$1"; done
		for m in "$@"; do
			line=$(drain_run "$m" "$r")
			echo "$line" | tee -a "$OUT.tmp" >&2
			lines+=("$line")
		done
	done
	{
		echo
		echo "min / median / max of segments/s while draining:"
		echo
		echo "| method | min | median | max |"
		echo "|---|---|---|---|"
		printf '%s\n' "${lines[@]}" | summary 5
		echo
		echo "min / median / max of archiver CPU seconds per segment while draining:"
		echo
		echo "| method | min | median | max |"
		echo "|---|---|---|---|"
		printf '%s\n' "${lines[@]}" | summary 7
	} >> "$OUT.tmp"
fi
mv "$OUT.tmp" "$OUT"
echo "results in $OUT" >&2
