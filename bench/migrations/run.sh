#!/usr/bin/env bash
# Migrations benchmark: apply N small migrations (a table, an index, a
# column each) to an empty database with (a) psql -1 over the same SQL files
# (the floor), (b) sqitch deploy of the same changes, (c) pg_steward:
# pg_steward_migrate add (steward.migration_add() of every file) and
# pg_steward_migrate migrate (steward.migrate()).  One throwaway cluster,
# ROUNDS rounds with the order of the systems rotated every round, a fresh
# database per system and round.  See README.md in this directory.
#
#   bash bench/migrations/run.sh                        # full run, a few minutes
#   N=100 ROUNDS=1 bash bench/migrations/run.sh         # smoke run
#
# Run as root (the cluster runs as the postgres OS user; sqitch and
# libdbd-pg-perl are installed with apt-get when missing) or as an ordinary
# user that can run initdb.  Nothing is built; pg_steward is used as
# installed ($PG_CONFIG).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../../tools/common.sh
source "$ROOT/tools/common.sh"

# ---------------------------------------------------------------- settings
N=${N:-1000}                            # migrations
ROUNDS=${ROUNDS:-3}                     # rounds; the order of the systems rotates by one each round
SYSTEMS=${SYSTEMS:-"psql sqitch pg_steward"}
FSYNC=${FSYNC:-off}                     # as every cluster of tools/common.sh
PORT=${PORT:-56300}                     # 56300-56399
KEEP=${KEEP:-0}                         # 1: keep the work directory

[ "$ROUNDS" -ge 1 ] || { echo "ROUNDS must be at least 1" >&2; exit 1; }
[ "$N" -ge 1 ] || { echo "N must be at least 1" >&2; exit 1; }

full=0
[ "$N" -eq 1000 ] && [ "$ROUNDS" -ge 3 ] && [ "$SYSTEMS" = "psql sqitch pg_steward" ] && [ "$FSYNC" = off ] && full=1
STAMP=$(date -u +%Y-%m-%d)
if [ -z "${RESULTS:-}" ]; then
	if [ $full -eq 1 ]; then base="$HERE/results-$STAMP"; else base="$HERE/results-$STAMP-custom"; fi
	RESULTS="$base.md"
	n=2
	while [ -e "$RESULTS" ]; do RESULTS="$base-$n.md"; n=$((n + 1)); done   # never overwrite a run
fi

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
NOTES=""
note() { NOTES+="- $*"$'\n'; log "NOTE $*"; }

# ---------------------------------------------------------------- sqitch
declare -A SKIP=()
if [[ " $SYSTEMS " == *" sqitch "* ]]; then
	if ! command -v sqitch >/dev/null || ! perl -MDBD::Pg -e 1 2>/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then
			log "installing sqitch and libdbd-pg-perl (apt-get)"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q sqitch libdbd-pg-perl >/dev/null 2>&1 ||
				{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q sqitch libdbd-pg-perl >/dev/null 2>&1; } ||
				true
		fi
		command -v sqitch >/dev/null && perl -MDBD::Pg -e 1 2>/dev/null ||
			SKIP[sqitch]="sqitch or DBD::Pg is not installed (apt-get install sqitch libdbd-pg-perl)"
	fi
fi
PKGLIB=$($PG_CONFIG --pkglibdir)
SHAREDIR=$($PG_CONFIG --sharedir)
if [[ " $SYSTEMS " == *" pg_steward "* ]]; then
	[ -f "$PKGLIB/pg_steward.so" ] && [ -f "$SHAREDIR/extension/pg_steward.control" ] ||
		SKIP[pg_steward]="pg_steward is not installed in $PKGLIB (make install)"
fi
for s in $SYSTEMS; do
	case $s in psql | sqitch | pg_steward) ;; *) die "unknown system '$s' in SYSTEMS (known: psql sqitch pg_steward)" ;; esac
done

# ---------------------------------------------------------------- cluster
WORK=$(make_workdir)
CDIR=$WORK/cluster
cleanup() {
	trap '' PIPE
	cluster_stop "$CDIR" 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", (b - a) / 1e9 }'; }
export PGHOST=$CDIR PGPORT=$PORT PGUSER=postgres
unset PGDATABASE PGSERVICE PGOPTIONS PGPASSWORD
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -At -d "$1" -c "$2"; }
mmm() {
	sort -g | awk '{ a[n++] = $1 } END { if (n == 0) { print "- - -"; exit }
		m = (n % 2) ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
		printf "%s %s %s\n", a[0], m, a[n - 1] }'
}
fmt() { if [ "$2" = "-" ]; then echo "-"; else awk -v f="$1" -v x="$2" 'BEGIN { printf f, x }'; fi; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f\n", a / b; else print "-" }'; }
# CPU time (clock ticks) of exited processes: the server's (client backends
# are the postmaster's children) and the clients' (children of this shell).
# Unlike wall-clock time it does not depend on what else the machine runs.
TICKS=$(getconf CLK_TCK)
pm_pid() { head -1 "$CDIR/data/postmaster.pid"; }
cpu_now() { echo $(( $(awk '{ print $16 + $17 }' "/proc/$(pm_pid)/stat") + $(awk '{ print $16 + $17 }' "/proc/$$/stat") )); }
cpu_secs() { awk -v a="$1" -v b="$2" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }'; }
# wait until no client backend of database DB is left, reaped (or 10 s)
backends_gone() {
	local i
	for i in $(seq 1 500); do
		ps --ppid "$(pm_pid)" -o stat=,args= |
			awk -v db=" $1 [local]" '$1 ~ /^Z/ || index($0, db) { f = 1 } END { exit !f }' || return 0
		sleep 0.02
	done
	note "backends of $1 still there after 10 s: its CPU figure is short"
}

T_START=$(ns)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$CDIR"; chmod 755 "$CDIR"; [ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
log "work directory $WORK; results go to $RESULTS"
log "settings: N=$N ROUNDS=$ROUNDS SYSTEMS=\"$SYSTEMS\" FSYNC=$FSYNC PORT=$PORT"
CONF=(
	"fsync = $FSYNC"
	"synchronous_commit = on"
	"shared_buffers = 256MB"
	"max_wal_size = 16GB"
	"checkpoint_timeout = 1d"
	"autovacuum = off"
	"jit = off"
	"max_locks_per_transaction = 256"
	"timezone = 'UTC'"
	"log_timezone = 'UTC'"
	"lc_messages = 'C'"
)
[ -f "$PKGLIB/pg_steward.so" ] && CONF+=("shared_preload_libraries = 'pg_steward'" "steward.enabled = off")
cluster_init "$CDIR" "$PORT" "${CONF[@]}"
cluster_start "$CDIR"

# ---------------------------------------------------------------- files
# The same SQL in each system's layout: Flyway names for pg_steward, a
# plan and deploy/ scripts for sqitch; psql -1 runs the Flyway files.
FILES=$WORK/files
SQ=$WORK/sqitch
mkdir -p "$FILES" "$SQ/deploy" "$SQ/revert" "$SQ/verify"
{
	echo "%syntax-version=1.0.0"
	echo "%project=bench"
	echo
} >"$SQ/sqitch.plan"
ARGS=()
for i in $(seq 1 "$N"); do
	sql="CREATE TABLE bench_t$i (id bigint PRIMARY KEY, a text);
CREATE INDEX bench_t${i}_a ON bench_t$i (a);
ALTER TABLE bench_t$i ADD COLUMN b text;
"
	printf '%s' "$sql" >"$FILES/V${i}__m$i.sql"
	printf '%s' "$sql" >"$SQ/deploy/m$i.sql"
	printf 'DROP TABLE bench_t%d;\n' "$i" >"$SQ/revert/m$i.sql"
	echo "m$i 2026-12-01T00:00:00Z Bench <bench@example.com> # migration $i" >>"$SQ/sqitch.plan"
	ARGS+=(-f "$FILES/V${i}__m$i.sql")
done
cat >"$SQ/sqitch.conf" <<EOF
[core]
	engine = pg
	plan_file = sqitch.plan
	top_dir = .
[engine "pg"]
	client = $PGBIN/psql
EOF
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$FILES" "$SQ"

# the client: the installed one, else the repository's
MIGRATE=$PGBIN/pg_steward_migrate
if [ ! -x "$MIGRATE" ]; then
	MIGRATE=$WORK/pg_steward_migrate
	sed "s/@EXTVERSION@/$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$ROOT/pg_steward.control")/" \
		"$ROOT/bin/pg_steward_migrate.in" >"$MIGRATE"
	chmod +x "$MIGRATE"
	note "pg_steward_migrate is not installed in $PGBIN; used the repository's bin/pg_steward_migrate.in"
fi
export PG_STEWARD_PSQL=$PGBIN/psql

V_STEWARD="-"; V_SQITCH="-"
if [ -z "${SKIP[pg_steward]:-}" ] && [[ " $SYSTEMS " == *" pg_steward "* ]]; then
	q postgres "CREATE DATABASE probe" >/dev/null
	q probe "CREATE EXTENSION pg_steward" >/dev/null
	V_STEWARD=$(q probe "SELECT steward.version()")
	if [ "$(q probe "SELECT to_regprocedure('steward.migration_add(text,text,text,text,text[])') IS NOT NULL AND to_regprocedure('steward.migrate(text,boolean)') IS NOT NULL")" != t ]; then
		SKIP[pg_steward]="the installed pg_steward $V_STEWARD has no steward.migration_add() or steward.migrate(); install a build with the migrations API (issue 12)"
	fi
	q postgres "DROP DATABASE probe" >/dev/null
fi
if [ -z "${SKIP[sqitch]:-}" ] && [[ " $SYSTEMS " == *" sqitch "* ]]; then
	V_SQITCH=$(sqitch --version 2>/dev/null | head -1)
fi

SYS=()
for s in $SYSTEMS; do
	if [ -n "${SKIP[$s]:-}" ]; then
		log "SKIP $s: ${SKIP[$s]}"; note "$s not measured: ${SKIP[$s]}"
	else
		SYS+=("$s")
	fi
done
[ ${#SYS[@]} -gt 0 ] || die "no system left to measure"

# ---------------------------------------------------------------- measures
declare -A VAL=()   # VAL[measure,round]: seconds; measures: psql sqitch add migrate pg_steward lint
declare -A CPU=()   # CPU[measure,round]: CPU seconds, server + client
db_of() { echo "r$1_$2"; }

# check DB: the N tables, their indexes and columns b are there
check() {
	local got
	got=$(q "$1" "SELECT count(*) FILTER (WHERE c.relkind = 'r') || ' ' || count(*) FILTER (WHERE c.relkind = 'i' AND c.relname LIKE '%\\_a') || ' ' ||
	              (SELECT count(*) FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
	                WHERE t.relname LIKE 'bench\\_t%' AND a.attname = 'b' AND NOT a.attisdropped)
	         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	        WHERE n.nspname = 'public' AND c.relname LIKE 'bench\\_t%'")
	[ "$got" = "$N $N $N" ] || note "$1: expected $N tables, indexes and columns, found '$got'"
}

run_system() {
	local r=$1 s=$2 db t0 t1 t2 out
	db=$(db_of "$r" "$s")
	q postgres "CREATE DATABASE $db" >/dev/null
	[ "$s" = pg_steward ] && q "$db" "CREATE EXTENSION pg_steward" >/dev/null
	q postgres "CHECKPOINT" >/dev/null
	out=$WORK/$db.out
	local c0 c1 c2
	backends_gone "$db"
	c0=$(cpu_now)
	case $s in
		psql)
			t0=$(ns)
			"${PSQL[@]}" -1 -d "$db" "${ARGS[@]}" >"$out" 2>&1 || { tail -20 "$out" >&2; die "psql -1 failed"; }
			t1=$(ns)
			backends_gone "$db"; c1=$(cpu_now)
			CPU[psql,$r]=$(cpu_secs "$c0" "$c1")
			VAL[psql,$r]=$(secs "$t0" "$t1") ;;
		sqitch)
			t0=$(ns)
			(cd "$SQ" && SQITCH_FULLNAME=Bench SQITCH_EMAIL=bench@example.com HOME=$WORK \
				sqitch deploy "db:pg:$db") >"$out" 2>&1 || { tail -20 "$out" >&2; die "sqitch deploy failed"; }
			t1=$(ns)
			backends_gone "$db"; c1=$(cpu_now)
			CPU[sqitch,$r]=$(cpu_secs "$c0" "$c1")
			VAL[sqitch,$r]=$(secs "$t0" "$t1") ;;
		pg_steward)
			t0=$(ns)
			"$MIGRATE" -d "$db" add "$FILES" >"$out" 2>&1 || { tail -20 "$out" >&2; die "pg_steward_migrate add failed"; }
			t1=$(ns)
			backends_gone "$db"; c1=$(cpu_now)
			"$MIGRATE" -d "$db" migrate >>"$out" 2>&1 || { tail -20 "$out" >&2; die "pg_steward_migrate migrate failed"; }
			t2=$(ns)
			backends_gone "$db"; c2=$(cpu_now)
			CPU[add,$r]=$(cpu_secs "$c0" "$c1")
			CPU[migrate,$r]=$(cpu_secs "$c1" "$c2")
			CPU[pg_steward,$r]=$(cpu_secs "$c0" "$c2")
			VAL[add,$r]=$(secs "$t0" "$t1")
			VAL[migrate,$r]=$(secs "$t1" "$t2")
			VAL[pg_steward,$r]=$(secs "$t0" "$t2")
			local applied
			applied=$(q "$db" "SELECT count(*) FROM steward.migration_status WHERE state = 'applied'")
			[ "$applied" = "$N" ] || note "round $r: $applied of $N migrations applied according to steward.migration_status" ;;
	esac
	check "$db"
	if [ "$s" = pg_steward ]; then
		log "round $r $s: add ${VAL[add,$r]} s + migrate ${VAL[migrate,$r]} s = ${VAL[pg_steward,$r]} s"
	else
		log "round $r $s: ${VAL[$s,$r]} s"
	fi
}

# (info) steward.migration_lint() of 1,000 statements, in a database where
# none of their tables exists (server time, psql \timing, best of 5)
LINT_N=1000
lint_info() {
	local r=$1 db=lint_r$1 body=$WORK/lint_body.sql ms best=""
	if [ ! -f "$body" ]; then
		for i in $(seq 1 $(( (LINT_N + 2) / 3 ))); do
			printf 'CREATE TABLE lint_t%d (id bigint PRIMARY KEY, a text);\nCREATE INDEX lint_t%d_a ON lint_t%d (a);\nALTER TABLE lint_t%d ADD COLUMN b text;\n' "$i" "$i" "$i" "$i"
		done | head -n "$LINT_N" >"$body"
		[ "$(id -u)" -eq 0 ] && chown postgres: "$body"
	fi
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION pg_steward" >/dev/null
	for _ in 1 2 3 4 5; do
		ms=$("${PSQL[@]}" -d "$db" -c "CREATE TEMP TABLE s AS SELECT pg_read_file('$body') AS t" \
			-c '\timing on' -c "SELECT count(*) FROM s, steward.migration_lint(s.t)" 2>&1 |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
		[ -n "$ms" ] || { note "round $r: lint timing failed"; break; }
		if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$ms; fi
	done
	q postgres "DROP DATABASE $db" >/dev/null
	[ -n "$best" ] && VAL[lint,$r]=$(awk -v ms="$best" 'BEGIN { printf "%.4f", ms / 1000 }')
	log "round $r lint of $LINT_N statements: ${best:-?} ms"
}

# ---------------------------------------------------------------- rounds
ORDERS=()
NS=${#SYS[@]}
for r in $(seq 1 "$ROUNDS"); do
	order=()
	for i in $(seq 0 $((NS - 1))); do order+=("${SYS[$(((i + r - 1) % NS))]}"); done
	ORDERS+=("${order[*]}")
	log "=== round $r/$ROUNDS, order: ${order[*]}"
	for s in "${order[@]}"; do run_system "$r" "$s"; done
	[[ " ${order[*]} " == *" pg_steward "* ]] && lint_info "$r"
	for s in "${order[@]}"; do q postgres "DROP DATABASE $(db_of "$r" "$s")" >/dev/null; done
done

# (sqitch probes for its registry: an ERROR and a WARNING per deploy to a new database)
grep -E '(WARNING|ERROR|FATAL|PANIC):' "$CDIR/server.log" |
	grep -v -E 'Sqitch registry not initialized|relation "(changes|sqitch\.[a-z_]+)" does not exist' >"$WORK/warn.log" || true
if [ -s "$WORK/warn.log" ]; then
	note "server log lines at WARNING or worse: $(wc -l <"$WORK/warn.log"): $(sed -E 's/^.*(WARNING|ERROR|FATAL|PANIC):/\1:/' "$WORK/warn.log" | sort | uniq -c | sort -rn | head -3 | sed 's/^ *//' | paste -sd ';')"
fi
cluster_stop "$CDIR"
T_TOTAL=$(awk -v a="$T_START" -v b="$(ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
vals() { local r; for r in $(seq 1 "$ROUNDS"); do [ -n "${VAL[$1,$r]:-}" ] && echo "${VAL[$1,$r]}"; done; return 0; }
ratios() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		[ -n "${VAL[$1,$r]:-}" ] && [ -n "${VAL[psql,$r]:-}" ] && div "${VAL[$1,$r]}" "${VAL[psql,$r]}"
	done
	return 0
}
fmt_mmm() {   # "min med max" -> "min / med / max s"
	local a
	read -r -a a <<<"$1"
	[ "${a[1]}" = "-" ] && { echo "-"; return; }
	if [ "$ROUNDS" -eq 1 ]; then echo "$(fmt "%.3f" "${a[1]}") s"; else
		echo "$(fmt "%.3f" "${a[0]}") / $(fmt "%.3f" "${a[1]}") / $(fmt "%.3f" "${a[2]}") s"; fi
}
fmt_ratio() {
	local a
	read -r -a a <<<"$1"
	[ "${a[1]}" = "-" ] && { echo "-"; return; }
	if [ "$ROUNDS" -eq 1 ]; then fmt "%.2fx" "${a[1]}"; else
		echo "$(fmt "%.2fx" "${a[1]}") ($(fmt "%.2f" "${a[0]}")-$(fmt "%.2f" "${a[2]}"))"; fi
}
med() { local a; read -r -a a <<<"$1"; echo "${a[1]}"; }
declare -A LABEL=(
	[psql]="(a) psql -1 over the $N files (the floor)"
	[sqitch]="(b) sqitch deploy of $N changes"
	[pg_steward]="(c) pg_steward: add + migrate"
	[add]="&nbsp;&nbsp;pg_steward_migrate add (migration_add() of each file)"
	[migrate]="&nbsp;&nbsp;pg_steward_migrate migrate (steward.migrate())"
)
met() {
	local st sq
	st=$(med "$(ratios pg_steward | mmm)")
	[ "$st" = "-" ] && { echo "-"; return; }
	case $1 in
		floor) awk -v x="$st" 'BEGIN { print (x <= 1.3) ? "yes" : "NO" }' ;;
		sqitch)
			sq=$(med "$(vals sqitch | mmm)")
			[ "$sq" = "-" ] && { echo "-"; return; }
			awk -v a="$(med "$(vals pg_steward | mmm)")" -v b="$sq" 'BEGIN { print (a < b) ? "yes" : "NO" }' ;;
	esac
}
table() {
	local m
	if [ "$ROUNDS" -eq 1 ]; then
		echo "| system (one round) | time | vs the floor |"
	else
		echo "| system: min / median / max of $ROUNDS rounds; vs the floor: median (min-max) of the per-round ratios | time | vs the floor |"
	fi
	echo "|---|---|---|"
	for m in psql sqitch pg_steward add migrate; do
		echo "| ${LABEL[$m]} | $(fmt_mmm "$(vals "$m" | mmm)") | $(fmt_ratio "$(ratios "$m" | mmm)") |"
	done
	echo
	echo "| target | met |"
	echo "|---|---|"
	echo "| pg_steward (add + migrate) <= 1.3x the floor | $(met floor) |"
	echo "| pg_steward faster than sqitch | $(met sqitch) |"
	if [ -n "$(vals lint)" ]; then
		local a
		read -r -a a <<<"$(vals lint | mmm)"
		echo "| (info) steward.migration_lint() of $LINT_N statements < 100 ms: $(fmt "%.1f" "$(awk -v x="${a[1]}" 'BEGIN { print x * 1000 }')") ms (median of the rounds' best of 5) | $(awk -v x="${a[1]}" 'BEGIN { print (x < 0.1) ? "yes" : "NO" }') |"
	fi
}
cpuvals() { local r; for r in $(seq 1 "$ROUNDS"); do [ -n "${CPU[$1,$r]:-}" ] && echo "${CPU[$1,$r]}"; done; return 0; }
cpuratios() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		[ -n "${CPU[$1,$r]:-}" ] && [ -n "${CPU[psql,$r]:-}" ] && div "${CPU[$1,$r]}" "${CPU[psql,$r]}"
	done
	return 0
}
cputable() {
	local m
	echo "| system: CPU seconds of the server and the client, min / median / max; vs the floor: median (min-max) of the per-round ratios | CPU | vs the floor |"
	echo "|---|---|---|"
	for m in psql sqitch pg_steward add migrate; do
		echo "| ${LABEL[$m]} | $(fmt_mmm "$(cpuvals "$m" | mmm)") | $(fmt_ratio "$(cpuratios "$m" | mmm)") |"
	done
}
raw() {
	local r
	echo "| round | order | psql -1 | sqitch | pg_steward add | migrate | add + migrate | lint ($LINT_N statements) |"
	echo "|---|---|---|---|---|---|---|---|"
	for r in $(seq 1 "$ROUNDS"); do
		echo "| $r | ${ORDERS[$((r - 1))]} | ${VAL[psql,$r]:--} | ${VAL[sqitch,$r]:--} | ${VAL[add,$r]:--} | ${VAL[migrate,$r]:--} | ${VAL[pg_steward,$r]:--} | ${VAL[lint,$r]:--} |"
	done
}
{
	echo "# Migrations benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "Produced by \`bash bench/migrations/run.sh\` (see README.md for method and caveats)."
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $($PG_CONFIG --version | awk '{ print $2 }') ($PGBIN)"
	echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
	echo "- pg_steward: $V_STEWARD ($MIGRATE); sqitch: $V_SQITCH"
	echo "- $N migrations, each \`CREATE TABLE\` (bigint primary key, text), \`CREATE INDEX\` on the text column, \`ALTER TABLE ... ADD COLUMN\`; the same text in every system"
	echo "- wall-clock time of the client commands on an empty database (a fresh one per system and round; pg_steward's has the extension created, not timed; sqitch creates its registry in the timed run), $ROUNDS rounds, order rotated by one system each round; fsync = $FSYNC, synchronous_commit = on, autovacuum off"
	echo "- total run time: $T_TOTAL s"
	echo
	table
	echo
	echo "## CPU time"
	echo
	echo "CPU seconds of the server's client backends (the postmaster's reaped children) and of the client programs: unlike wall-clock time, this does not depend on what else the machine runs. Background processes (WAL writer, checkpointer) are not included."
	echo
	cputable
	echo
	echo "## Per round (seconds)"
	echo
	raw
	if [ -n "$NOTES" ]; then
		echo
		echo "## Notes"
		echo
		printf '%s' "$NOTES"
	fi
} >"$RESULTS"

echo
table
echo
cputable
echo
echo "written to $RESULTS"
