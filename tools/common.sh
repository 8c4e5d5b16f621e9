# Shared shell helpers for tools/*.sh: throwaway clusters owned by the
# postgres OS user (PostgreSQL refuses to run as root).

PGMAJOR=${PGMAJOR:-15}
PG_CONFIG=${PG_CONFIG:-$(command -v pg_config || echo /usr/lib/postgresql/$PGMAJOR/bin/pg_config)}
PGBIN=$($PG_CONFIG --bindir)
PGXS_DIR=$(dirname "$($PG_CONFIG --pgxs)")/..

# as_pg CMD...: run CMD as the cluster's OS user.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# make_workdir: a fresh temp dir writable by the cluster's OS user.
make_workdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/pg_steward.XXXXXX")
	chmod 755 "$d"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$d"
	echo "$d"
}

# cluster_init DIR PORT [extra postgresql.conf lines...]
cluster_init() {
	local dir=$1 port=$2
	shift 2
	as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

cluster_start() {
	as_pg "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null ||
		{ cat "$1/server.log"; return 1; }
}

cluster_stop() {
	[ -f "$1/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
	return 0
}
