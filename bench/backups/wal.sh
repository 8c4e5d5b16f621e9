#!/usr/bin/env bash
# WAL archiving throughput: segments per second archived by
# archive_library = 'pg_steward' (zstd; with and without encryption) and by
# contrib's basic_archive (plain copies), under pgbench load with
# pg_switch_wal().  Run as root (clusters run as the postgres OS user):
#
#   PG_CONFIG=... SEGMENTS=64 PORT=57290 bash bench/backups/wal.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/common.sh

SEGMENTS=${SEGMENTS:-64}
PORT=${PORT:-57290}
W=$(make_workdir)
trap 'cluster_stop "$W/pg" 2>/dev/null; rm -rf "$W"' EXIT

run() {
	local name=$1 settings=$2
	cluster_stop "$W/pg" 2>/dev/null || true
	rm -rf "$W/pg" "$W/archive"
	as_pg mkdir -p "$W/pg" "$W/archive"
	cluster_init "$W/pg" $PORT "wal_level = replica
archive_mode = on
max_wal_size = 4GB
$settings" >/dev/null
	cluster_start "$W/pg" >/dev/null
	local psql=(as_pg "$PGBIN/psql" -X -q -A -t -h "$W/pg" -p $PORT -U postgres -d postgres)
	as_pg "$PGBIN/pgbench" -q -i -s 5 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null 2>&1
	local start_count
	start_count=$("${psql[@]}" -c 'SELECT archived_count FROM pg_stat_archiver')
	local t0
	t0=$(date +%s.%N)
	for _ in $(seq "$SEGMENTS"); do
		as_pg "$PGBIN/pgbench" -n -t 200 -h "$W/pg" -p $PORT -U postgres postgres >/dev/null
		"${psql[@]}" -c 'SELECT pg_switch_wal()' >/dev/null
	done
	until [ "$("${psql[@]}" -c "SELECT archived_count - $start_count >= $SEGMENTS FROM pg_stat_archiver")" = t ]; do
		sleep 0.2
	done
	local t1 size
	t1=$(date +%s.%N)
	size=$(du -sm "$W/archive" | cut -f1)
	printf '%-28s %4d segments  %6.1f s  %6.1f segments/s  archive %s MB\n' "$name" "$SEGMENTS" \
		"$(echo "$t1 - $t0" | bc)" "$(echo "$SEGMENTS / ($t1 - $t0)" | bc -l)" "$size"
}

key="$W/key"
openssl rand -hex 32 > "$key"; chmod 600 "$key"; chown postgres: "$key"
run basic_archive "archive_library = 'basic_archive'
basic_archive.archive_directory = '$W/archive'"
run "pg_steward (zstd)" "archive_library = 'pg_steward'
steward.backup_directory = '$W/archive'"
run "pg_steward (zstd + AES-GCM)" "archive_library = 'pg_steward'
steward.backup_directory = '$W/archive'
steward.backup_encryption_key_file = '$key'"
