#!/usr/bin/env bash
# make quickstart / make quickstart-stop: a throwaway cluster with pg_steward
# preloaded, a "demo" database and a short tour of every feature.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

PORT=${STEWARD_QUICKSTART_PORT:-54329}
STATE=${TMPDIR:-/tmp}/pg_steward_quickstart.dir

stop() {
	if [ -f "$STATE" ]; then
		d=$(cat "$STATE")
		cluster_stop "$d"
		rm -rf "$d" "$STATE"
		echo "quickstart cluster stopped and removed"
	else
		echo "no quickstart cluster is running"
	fi
}

case "${1:-start}" in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac

[ -f "$STATE" ] && stop
bash tools/deps.sh
make -s >/dev/null
make -s install >/dev/null

D=$(make_workdir)
echo "$D" >"$STATE"
# backups go next to the data directory, never inside it
as_pg mkdir -p "$D/backups"
cluster_init "$D" "$PORT" "shared_preload_libraries = 'pg_cron,pg_steward'" \
	"cron.database_name = 'demo'" "steward.naptime = 1000" \
	"steward.backup_directory = '$D/backups'"
cluster_start "$D"

PSQL=("$PGBIN/psql" -X -h "$D" -p "$PORT" -U postgres)
as_pg "${PSQL[@]}" -q -d postgres -c 'CREATE DATABASE demo'
as_pg "${PSQL[@]}" -d demo -v ON_ERROR_STOP=1 -a -f - <tools/demo.sql

cat <<MSG

pg_steward quickstart is running (data in $D/data, log in $D/server.log,
backups in $D/backups).
Connect:   psql -h $D -p $PORT -U postgres demo
           (as root: runuser -u postgres -- psql -h $D -p $PORT demo)
Stop it:   make quickstart-stop
MSG
