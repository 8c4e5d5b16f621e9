#!/usr/bin/env bash
# Audit benchmark: no trigger, a lean PL/pgSQL audit trigger, pgaudit
# (pgaudit.log = 'write') and pg_steward's C audit trigger, measured side by
# side in one throwaway cluster, ROUNDS times with the order of the systems
# rotated every round; each system gets a fresh database every round.  See
# README.md in this directory.
#
#   bash bench/audit/run.sh                                   # full run, about 20 minutes
#   ROWS=20000 DURATION=5 ROUNDS=1 bash bench/audit/run.sh    # smoke run, about 2 minutes
#
# Run as root (the cluster runs as the postgres OS user) or as an ordinary
# user that can run initdb.  Nothing is built or installed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

# ---------------------------------------------------------------- settings
ROWS=${ROWS:-200000}                    # (1) rows of the bulk INSERT
UPDATE_ROWS=${UPDATE_ROWS:-$((ROWS / 2))}   # (2) rows of the bulk UPDATE (id <= UPDATE_ROWS)
DURATION=${DURATION:-30}                # (3), (4) seconds per pgbench run
CLIENTS=${CLIENTS:-4}                   # (3) pgbench clients
THREADS=${THREADS:-1}                   # (3) pgbench threads (-j)
ROUNDS=${ROUNDS:-3}                     # rounds; the order of the systems rotates by one each round
SYSTEMS=${SYSTEMS:-"none plpgsql pgaudit rule pg_steward"}
FSYNC=${FSYNC:-off}                     # as every cluster of tools/common.sh; see README.md
WAL_LEVEL=${WAL_LEVEL:-replica}         # see README.md
SHARED_BUFFERS=${SHARED_BUFFERS:-256MB}
PORT=${PORT:-56200}                     # 56200-56299
KEEP=${KEEP:-0}                         # 1: keep the work directory (SQL, outputs, server log)

[ "$UPDATE_ROWS" -le "$ROWS" ] || { echo "UPDATE_ROWS ($UPDATE_ROWS) must not exceed ROWS ($ROWS)" >&2; exit 1; }
[ "$ROUNDS" -ge 1 ] || { echo "ROUNDS must be at least 1" >&2; exit 1; }

full=0
[ "$ROWS" -eq 200000 ] && [ "$UPDATE_ROWS" -eq 100000 ] && [ "$DURATION" -ge 30 ] && [ "$ROUNDS" -ge 3 ] &&
	[ "$CLIENTS" -eq 4 ] && [ "$SYSTEMS" = "none plpgsql pgaudit rule pg_steward" ] && [ "$FSYNC" = off ] &&
	[ "$WAL_LEVEL" = replica ] && [ "$SHARED_BUFFERS" = 256MB ] && full=1
STAMP=$(date -u +%Y-%m-%d)
if [ -z "${RESULTS:-}" ]; then
	if [ $full -eq 1 ]; then base="$HERE/results-$STAMP"; else base="$HERE/results-$STAMP-custom"; fi
	RESULTS="$base.md"
	n=2
	while [ -e "$RESULTS" ]; do RESULTS="$base-$n.md"; n=$((n + 1)); done   # never overwrite a run
fi

WORK=$(make_workdir)
CDIR=$WORK/cluster
SAMPLER=""
cleanup() {
	trap '' PIPE   # the reader of our output may be gone already
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	cluster_stop "$CDIR" 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
NOTES=""
note() { NOTES+="- $*"$'\n'; log "NOTE $*"; }

# ---------------------------------------------------------------- helpers
ns() { date +%s%N; }
PSQL=("$PGBIN/psql" -h "$CDIR" -p "$PORT" -X -v ON_ERROR_STOP=1)
# q DB SQL: unaligned, tuples only
q() { as_pg "${PSQL[@]}" -Atq -d "$1" -c "$2"; }
# run_file DB FILE OUT: run a script; its output goes to OUT; fail loudly
run_file() {
	if ! as_pg "${PSQL[@]}" -Atq -d "$1" -f "$2" >"$3" 2>&1; then
		log "psql -f $2 in $1 failed:"; tail -20 "$3" >&2; exit 1
	fi
}
# "min median max" of the numbers on stdin ("- - -" when none)
mmm() {
	sort -g | awk '{ a[n++] = $1 } END { if (n == 0) { print "- - -"; exit }
		m = (n % 2) ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
		printf "%s %s %s\n", a[0], m, a[n - 1] }'
}
# fmt FORMAT NUMBER: printf through awk ("-" stays "-")
fmt() { if [ "$2" = "-" ]; then echo "-"; else awk -v f="$1" -v x="$2" 'BEGIN { printf f, x }'; fi; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f\n", a / b; else print "-" }'; }

checkpoint() { q postgres "CHECKPOINT" >/dev/null; }
# CPU time (clock ticks) of the server processes that have exited: the
# postmaster's cutime + cstime.  Client backends are its children, so the
# difference around a step, once the step's backends are gone, is their
# CPU time however loaded the machine is (background processes, which do
# not exit, are left out).
TICKS=$(getconf CLK_TCK)
pm_pid() { head -1 "$CDIR/data/postmaster.pid"; }
exited_cpu() { awk '{ print $16 + $17 }' "/proc/$(pm_pid)/stat"; }
# wait until no client backend of database DB (over the Unix socket) is
# left, reaped (or 10 s)
backends_gone() {
	local i
	for i in $(seq 1 500); do
		ps --ppid "$(pm_pid)" -o stat=,args= |
			awk -v db=" $1 [local]" '$1 ~ /^Z/ || index($0, db) { f = 1 } END { exit !f }' || return 0
		sleep 0.02
	done
	note "backends of $1 still there after 10 s: CPU figures of this step are short"
}
SLOG=$CDIR/server.log
# harvest: keep the server log's WARNING-or-worse lines, then empty it (pg_ctl
# opened it for appending, so the server goes on writing at its new end).
# pgaudit writes a line per audited statement, which would fill the disk.
harvest() {
	grep -E '(WARNING|ERROR|FATAL|PANIC):' "$SLOG" >>"$WORK/warn.log" || true
	: >"$SLOG"
}
count_pm() { ps -eo args= | grep -c -E '^/[^ ]*/bin/postgres( |$)' || true; }

# ---------------------------------------------------------------- systems
PKGLIB=$($PG_CONFIG --pkglibdir)
SHAREDIR=$($PG_CONFIG --sharedir)
declare -A SKIP=()   # system -> why it is not measured
for s in $SYSTEMS; do
	case $s in
		none | plpgsql | rule) ;;
		pgaudit)
			[ -f "$PKGLIB/pgaudit.so" ] && [ -f "$SHAREDIR/extension/pgaudit.control" ] ||
				SKIP[pgaudit]="pgaudit is not installed in $PKGLIB (apt-get install postgresql-$PGMAJOR-pgaudit)" ;;
		pg_steward)
			[ -f "$PKGLIB/pg_steward.so" ] && [ -f "$SHAREDIR/extension/pg_steward.control" ] ||
				SKIP[pg_steward]="pg_steward is not installed in $PKGLIB (make install)" ;;
		*) die "unknown system '$s' in SYSTEMS (known: none plpgsql pgaudit rule pg_steward)" ;;
	esac
done
PRELOAD=()
[ -f "$PKGLIB/pg_steward.so" ] && PRELOAD+=(pg_steward)
[ -f "$PKGLIB/pgaudit.so" ] && PRELOAD+=(pgaudit)
PRELOAD_LIST=$(IFS=,; echo "${PRELOAD[*]}")

# ---------------------------------------------------------------- cluster
T_START=$(ns)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_PM=$(count_pm)
# other postmasters appearing during the run (tests, other benchmarks) distort it
( while :; do count_pm; sleep 1; done ) >"$WORK/postmasters" 2>/dev/null &
SAMPLER=$!
mkdir -p "$CDIR"; chmod 755 "$CDIR"; [ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
log "work directory $WORK; results go to $RESULTS"
log "settings: ROWS=$ROWS UPDATE_ROWS=$UPDATE_ROWS DURATION=$DURATION CLIENTS=$CLIENTS ROUNDS=$ROUNDS SYSTEMS=\"$SYSTEMS\" FSYNC=$FSYNC WAL_LEVEL=$WAL_LEVEL"
CONF=(
	"shared_preload_libraries = '$PRELOAD_LIST'"
	"steward.enabled = off"
	"fsync = $FSYNC"
	"synchronous_commit = on"
	"shared_buffers = $SHARED_BUFFERS"
	"wal_level = $WAL_LEVEL"
	"max_wal_size = 16GB"
	"min_wal_size = 1GB"
	"checkpoint_timeout = 1d"
	"autovacuum = off"
	"jit = off"
	"timezone = 'UTC'"
	"log_timezone = 'UTC'"
	"lc_messages = 'C'"
)
[ "$WAL_LEVEL" = minimal ] && CONF+=("max_wal_senders = 0")
# steward.* is only known with pg_steward preloaded
[ -f "$PKGLIB/pg_steward.so" ] || CONF=("${CONF[@]/steward.enabled = off/}")
cluster_init "$CDIR" "$PORT" "${CONF[@]}"
SO="$PKGLIB/pg_steward.so"
so_id() { if [ -f "$SO" ]; then echo "modified $(date -u -r "$SO" +%FT%TZ), md5 $(md5sum "$SO" | cut -c1-12)"; else echo "absent"; fi; }
SO_ID=$(so_id)   # what the cluster loads (shared_preload_libraries) at its start
cluster_start "$CDIR"

V_STEWARD="-"; V_PGAUDIT="-"
if [ -z "${SKIP[pg_steward]:-}" ] && [[ " $SYSTEMS " == *" pg_steward "* ]]; then
	# The audit API is new: probe the installed build for it.
	q postgres "CREATE DATABASE probe" >/dev/null
	q probe "CREATE EXTENSION pg_steward" >/dev/null
	V_STEWARD=$(q probe "SELECT steward.version()")
	if [ "$(q probe "SELECT to_regprocedure('steward.audit_enable(regclass,text[],text[],text[],boolean,boolean)') IS NOT NULL")" != t ]; then
		SKIP[pg_steward]="the installed pg_steward $V_STEWARD ($SO, $SO_ID) has no steward.audit_enable(regclass,text[],text[],text[],boolean,boolean); install a build with the audit API (issue 11)"
	fi
	HAS_SEAL=$(q probe "SELECT to_regprocedure('steward.audit_seal_now()') IS NOT NULL")
	q postgres "DROP DATABASE probe" >/dev/null
fi
if [ -z "${SKIP[pgaudit]:-}" ] && [[ " $SYSTEMS " == *" pgaudit "* ]]; then
	V_PGAUDIT="$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pgaudit'") ($(dpkg-query -W -f '${Package} ${Version}' postgresql-$PGMAJOR-pgaudit 2>/dev/null || echo '?'))"
fi
HAS_SEAL=${HAS_SEAL:-f}

SYS=()
for s in $SYSTEMS; do
	if [ -n "${SKIP[$s]:-}" ]; then
		log "SKIP $s: ${SKIP[$s]}"
		note "$s not measured: ${SKIP[$s]}"
	else
		SYS+=("$s")
	fi
done
[ ${#SYS[@]} -gt 0 ] || die "no system left to measure"
HAVE_NONE=0; [[ " ${SYS[*]} " == *" none "* ]] && HAVE_NONE=1
[ $HAVE_NONE -eq 1 ] || note "'none' is not measured: no ratios"

# ---------------------------------------------------------------- SQL
cat >"$WORK/table.sql" <<'EOF'
CREATE TABLE bench_t (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text,
    balance numeric,
    note text,
    updated_at timestamptz
);
EOF
# The lean PL/pgSQL trigger (the shape of supa_audit / the 91plus audit
# trigger without their extras): whole rows as jsonb, op, table, top-level
# transaction id, user and time into a log table whose only index is its
# bigserial primary key.  OLD is NULL for INSERT, NEW for DELETE, and
# to_jsonb is strict, so no CASE is needed.
cat >"$WORK/plpgsql.sql" <<'EOF'
CREATE TABLE bench_audit_log (
    id bigserial PRIMARY KEY,
    op text NOT NULL,
    table_name text NOT NULL,
    txid xid8 NOT NULL,
    db_user text NOT NULL,
    logged_at timestamptz NOT NULL,
    old_row jsonb,
    new_row jsonb
);
CREATE FUNCTION bench_audit() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO bench_audit_log (op, table_name, txid, db_user, logged_at, old_row, new_row)
    VALUES (TG_OP, TG_TABLE_NAME, pg_current_xact_id(), current_user, now(), to_jsonb(OLD), to_jsonb(NEW));
    RETURN NULL;
END
$f$;
CREATE TRIGGER bench_t_audit AFTER INSERT OR UPDATE OR DELETE ON bench_t
    FOR EACH ROW EXECUTE FUNCTION bench_audit();
EOF
# A log row per change written by rules, without a trigger (rule.sql).
cp "$HERE/rule.sql" "$WORK/rule.sql"
cat >"$WORK/pgaudit.sql" <<'EOF'
CREATE EXTENSION pgaudit;
EOF
cat >"$WORK/pg_steward.sql" <<'EOF'
CREATE EXTENSION pg_steward;
SELECT steward.audit_enable('bench_t');
EOF
{
	echo '\timing on'
	echo "INSERT INTO bench_t (owner, balance, note, updated_at)
    SELECT 'owner ' || (g % 1000), (g % 100000) / 100.0, 'note of row ' || g, now()
    FROM generate_series(1, $ROWS) g;"
} >"$WORK/insert.sql"
{
	echo '\timing on'
	echo "UPDATE bench_t SET balance = balance + 1 WHERE id <= $UPDATE_ROWS;"
} >"$WORK/update.sql"
cat >"$WORK/rw.pgbench" <<'EOF'
\set id random(1, :rows)
BEGIN;
UPDATE bench_t SET balance = balance + 1, updated_at = now() WHERE id = :id;
INSERT INTO bench_t (owner, balance, note, updated_at) VALUES ('pgbench', 0, 'inserted by pgbench', now());
END;
EOF
cat >"$WORK/upd.pgbench" <<'EOF'
\set id random(1, :rows)
UPDATE bench_t SET balance = balance + 1, updated_at = now() WHERE id = :id;
EOF

# ---------------------------------------------------------------- measures
MEASURES=(insert update rw upd)
declare -A LABEL UNIT
LABEL[insert]="(1) bulk INSERT of $ROWS rows, one statement"
LABEL[update]="(2) bulk UPDATE of $UPDATE_ROWS rows, one statement"
LABEL[rw]="(3) pgbench, $CLIENTS clients, UPDATE + INSERT per transaction, synchronous_commit = on, $DURATION s"
LABEL[upd]="(4) pgbench, 1 client, UPDATE only, synchronous_commit = off, $DURATION s"
UNIT[insert]=s; UNIT[update]=s; UNIT[rw]=TPS; UNIT[upd]=TPS

declare -A VAL=() GOT=() EXP=() SEAL_ROWS=() SEAL_S=() CPU=()
db_of() { echo "r$1_$2"; }

setup_db() {
	local r=$1 s=$2 db
	db=$(db_of "$r" "$s")
	q postgres "CREATE DATABASE $db" >/dev/null
	run_file "$db" "$WORK/table.sql" "$WORK/setup_$db.out"
	case $s in
		plpgsql | pgaudit | rule | pg_steward) run_file "$db" "$WORK/$s.sql" "$WORK/setup2_$db.out" ;;
	esac
	[ "$s" = pgaudit ] && q postgres "ALTER DATABASE $db SET pgaudit.log = 'write'" >/dev/null
	q "$db" "VACUUM ANALYZE" >/dev/null
}

# audit records written so far (pgaudit: its lines in the server log since
# the last harvest)
records() {
	local s=$1 db=$2
	case $s in
		none) echo 0 ;;
		plpgsql) q "$db" "SELECT count(*) FROM bench_audit_log" ;;
		rule) q "$db" "SELECT count(*) FROM rule_log" ;;
		pgaudit) grep -c 'AUDIT: SESSION' "$SLOG" || true ;;
		pg_steward) q "$db" "SELECT count(*) FROM steward.audit_log WHERE relid = 'public.bench_t'::regclass" ;;
	esac
}

# measure M R S: one measured step; sets VAL, GOT, EXP
measure() {
	local m=$1 r=$2 s=$3 db before after v tx stmts out opts=""
	db=$(db_of "$r" "$s")
	q "$db" "VACUUM ANALYZE" >/dev/null
	checkpoint
	harvest
	before=$(records "$s" "$db")
	backends_gone "$db"
	local cpu0 cpu1
	cpu0=$(exited_cpu)
	out="$WORK/$m.$db.out"
	case $m in
		insert | update)
			run_file "$db" "$WORK/$m.sql" "$out"
			v=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$out" | tail -1)
			[ -n "$v" ] || die "no timing in $out"
			v=$(awk -v ms="$v" 'BEGIN { printf "%.4f", ms / 1000 }')
			if [ "$m" = insert ]; then tx=$ROWS; else tx=$UPDATE_ROWS; fi
			stmts=1 ;;
		rw | upd)
			local c=$CLIENTS j=$THREADS
			[ "$m" = upd ] && { c=1; j=1; opts="-c synchronous_commit=off"; }
			if ! as_pg env PGOPTIONS="$opts" "$PGBIN/pgbench" -h "$CDIR" -p "$PORT" -n -M prepared \
				-c "$c" -j "$j" -T "$DURATION" -D rows="$ROWS" -f "$WORK/$m.pgbench" "$db" >"$out" 2>&1; then
				log "pgbench failed ($s, $m):"; tail -20 "$out" >&2; exit 1
			fi
			v=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")
			tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
			[ -n "$v" ] && [ -n "$tx" ] || die "no tps in $out"
			local failed
			failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
			[ "${failed:-0}" = 0 ] || note "round $r, $s, $m: pgbench reports $failed failed transactions"
			if [ "$m" = rw ]; then stmts=$((2 * tx)); tx=$((2 * tx)); else stmts=$tx; fi ;;
	esac
	backends_gone "$db"
	cpu1=$(exited_cpu)
	after=$(records "$s" "$db")
	harvest
	VAL[$m,$s,$r]=$v
	# server CPU per row changed (bulk) or per transaction (pgbench), in µs
	local per=$tx
	[ "$m" = rw ] && per=$((tx / 2))
	CPU[$m,$s,$r]=$(awk -v c=$((cpu1 - cpu0)) -v t="$TICKS" -v n="$per" 'BEGIN { printf "%.2f", c / t * 1e6 / n }')
	GOT[$m,$s,$r]=$((after - before))
	# rows changed (triggers) or statements run (pgaudit); none writes none
	case $s in
		none) EXP[$m,$s,$r]=0 ;;
		pgaudit) EXP[$m,$s,$r]=$stmts ;;
		*) EXP[$m,$s,$r]=$tx ;;
	esac
	[ "${GOT[$m,$s,$r]}" = "${EXP[$m,$s,$r]}" ] ||
		note "round $r, $s, $m: ${GOT[$m,$s,$r]} audit records written, expected ${EXP[$m,$s,$r]}"
	log "round $r $m $s: $v ${UNIT[$m]} (audit records ${GOT[$m,$s,$r]}/${EXP[$m,$s,$r]})"
}

# pg_steward only, for information: seal everything the round logged
seal() {
	local r=$1 db out ms
	db=$(db_of "$r" pg_steward)
	checkpoint
	out="$WORK/seal.$db.out"
	printf '\\timing on\nSELECT steward.audit_seal_now();\n' >"$WORK/seal.sql"
	run_file "$db" "$WORK/seal.sql" "$out"
	SEAL_ROWS[$r]=$(grep -v '^Time: ' "$out" | head -1)
	ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$out")
	SEAL_S[$r]=$(awk -v ms="$ms" 'BEGIN { printf "%.4f", ms / 1000 }')
	log "round $r seal pg_steward: ${SEAL_ROWS[$r]} rows in ${SEAL_S[$r]} s"
}

# ---------------------------------------------------------------- rounds
ORDERS=()
NS=${#SYS[@]}
for r in $(seq 1 "$ROUNDS"); do
	order=()
	for i in $(seq 0 $((NS - 1))); do order+=("${SYS[$(((i + r - 1) % NS))]}"); done
	ORDERS+=("${order[*]}")
	log "=== round $r/$ROUNDS, order: ${order[*]}"
	for s in "${order[@]}"; do setup_db "$r" "$s"; done
	for m in "${MEASURES[@]}"; do
		for s in "${order[@]}"; do measure "$m" "$r" "$s"; done
	done
	if [[ " ${order[*]} " == *" pg_steward "* ]] && [ "$HAS_SEAL" = t ]; then seal "$r"; fi
	for s in "${order[@]}"; do q postgres "DROP DATABASE $(db_of "$r" "$s")" >/dev/null; done
	checkpoint
done

# server facts before stopping
SETTINGS=$(q postgres "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name)
                       FROM pg_settings WHERE name IN ('shared_buffers', 'wal_level', 'fsync', 'synchronous_commit',
                         'full_page_writes', 'wal_compression', 'wal_buffers', 'max_wal_size', 'checkpoint_timeout',
                         'autovacuum', 'jit', 'shared_preload_libraries', 'max_connections', 'work_mem')")
harvest
cluster_stop "$CDIR"
kill "$SAMPLER" 2>/dev/null; SAMPLER=""
MAX_PM=$(sort -n "$WORK/postmasters" | tail -1)
[ "${MAX_PM:-0}" -gt $((OTHER_PM + 1)) ] &&
	note "other clusters started during the run: up to $((MAX_PM - 1)) other postmasters ($OTHER_PM at the start); the figures are disturbed, run again on a quiet machine"
[ "$(so_id)" = "$SO_ID" ] || note "$SO was replaced during the run (now: $(so_id)); the cluster ran the library loaded at its start ($SO_ID)"
if [ -s "$WORK/warn.log" ]; then
	note "server log lines at WARNING or worse: $(wc -l <"$WORK/warn.log"): $(sed -E 's/^.*(WARNING|ERROR|FATAL|PANIC):/\1:/' "$WORK/warn.log" | sort | uniq -c | sort -rn | head -5 | sed 's/^ *//' | paste -sd ';')"
fi
T_TOTAL=$(awk -v a="$T_START" -v b="$(ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
# values of measure M, system S over the rounds, one a line
vals() { local r; for r in $(seq 1 "$ROUNDS"); do [ -n "${VAL[$1,$2,$r]:-}" ] && echo "${VAL[$1,$2,$r]}"; done; return 0; }
# per-round S / none
ratios() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		[ -n "${VAL[$1,$2,$r]:-}" ] && [ -n "${VAL[$1,none,$r]:-}" ] && div "${VAL[$1,$2,$r]}" "${VAL[$1,none,$r]}"
	done
	return 0
}
fmt_val() {   # M "min med max"
	local a f
	read -r -a a <<<"$2"
	[ "${a[1]}" = "-" ] && { echo "-"; return; }
	if [ "${UNIT[$1]}" = s ]; then f="%.3f"; else f="%.0f"; fi
	if [ "$ROUNDS" -eq 1 ]; then echo "$(fmt "$f" "${a[1]}") ${UNIT[$1]}"; else
		echo "$(fmt "$f" "${a[0]}") / $(fmt "$f" "${a[1]}") / $(fmt "$f" "${a[2]}") ${UNIT[$1]}"; fi
}
fmt_ratio() {   # M "min med max"
	local a
	read -r -a a <<<"$2"
	[ "${a[1]}" = "-" ] && { echo "-"; return; }
	if [ "${UNIT[$1]}" = s ]; then
		if [ "$ROUNDS" -eq 1 ]; then fmt "%.2fx" "${a[1]}"; else
			echo "$(fmt "%.2fx" "${a[1]}") ($(fmt "%.2f" "${a[0]}")-$(fmt "%.2f" "${a[2]}"))"; fi
	else
		if [ "$ROUNDS" -eq 1 ]; then fmt "%.0f %%" "$(awk -v x="${a[1]}" 'BEGIN { print x * 100 }')"; else
			echo "$(fmt "%.0f %%" "$(awk -v x="${a[1]}" 'BEGIN { print x * 100 }')") ($(fmt "%.0f" "$(awk -v x="${a[0]}" 'BEGIN { print x * 100 }')")-$(fmt "%.0f" "$(awk -v x="${a[2]}" 'BEGIN { print x * 100 }')") %)"; fi
	fi
}
med_of() { local a; read -r -a a <<<"$1"; echo "${a[1]}"; }
ALL=(none plpgsql pgaudit rule pg_steward)
# the systems' header cells; as many separators; one empty cell fewer
HDR=$(printf ' %s |' "${ALL[@]}")
SEP=$(printf -- '---|%.0s' "${ALL[@]}")
EMPTY=$(printf ' |%.0s' "${ALL[@]:1}")
cell() {   # what a table cell says for a skipped or unselected system
	if [ -n "${SKIP[$1]:-}" ]; then echo "skipped"; elif [[ " ${SYS[*]} " != *" $1 "* ]]; then echo "not run"; else echo "$2"; fi
}
target() {
	case $1 in
		insert | update) echo "<= 2.0x none (aim 1.5x)" ;;
		rw) echo ">= 90 % of none" ;;
		upd) echo "> pgaudit's share" ;;
	esac
}
met() {   # M: does pg_steward's median ratio meet the target
	local st pa
	st=$(med_of "$(ratios "$1" pg_steward | mmm)")
	[ "$st" = "-" ] && { echo "-"; return; }
	case $1 in
		insert | update) awk -v x="$st" 'BEGIN { print (x <= 2.0) ? "yes" : "NO" }' ;;
		rw) awk -v x="$st" 'BEGIN { print (x >= 0.90) ? "yes" : "NO" }' ;;
		upd)
			pa=$(med_of "$(ratios upd pgaudit | mmm)")
			[ "$pa" = "-" ] && { echo "-"; return; }
			awk -v x="$st" -v p="$pa" 'BEGIN { print (x > p) ? "yes" : "NO" }' ;;
	esac
}
table() {
	local m s row
	if [ "$ROUNDS" -eq 1 ]; then
		echo "| measure (one round) |$HDR target (pg_steward) | met |"
	else
		echo "| measure: min / median / max of $ROUNDS rounds; vs none: median (min-max) of the per-round ratios |$HDR target (pg_steward) | met |"
	fi
	echo "|---|$SEP---|---|"
	for m in "${MEASURES[@]}"; do
		row="| ${LABEL[$m]} |"
		for s in "${ALL[@]}"; do row+=" $(cell "$s" "$(fmt_val "$m" "$(vals "$m" "$s" | mmm)")") |"; done
		echo "$row | |"
		if [ $HAVE_NONE -eq 1 ]; then
			if [ "${UNIT[$m]}" = s ]; then row="| &nbsp;&nbsp;time vs none |"; else row="| &nbsp;&nbsp;TPS share of none |"; fi
			for s in "${ALL[@]}"; do row+=" $(cell "$s" "$(fmt_ratio "$m" "$(ratios "$m" "$s" | mmm)")") |"; done
			echo "$row $(target "$m") | $(cell pg_steward "$(met "$m")") |"
		fi
	done
	if [ "${#SEAL_S[@]}" -gt 0 ]; then
		local rates=() r
		for r in "${!SEAL_S[@]}"; do rates+=("$(awk -v n="${SEAL_ROWS[$r]}" -v s="${SEAL_S[$r]}" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }')"); done
		local a
		read -r -a a <<<"$(printf '%s\n' "${rates[@]}" | mmm)"
		local rs
		if [ "$ROUNDS" -eq 1 ]; then rs="${a[1]} rows/s"; else rs="${a[0]} / ${a[1]} / ${a[2]} rows/s"; fi
		echo "| (info) steward.audit_seal_now() after the round, all rows it logged |$EMPTY $rs ($(printf '%s\n' "${SEAL_ROWS[@]}" | mmm | awk '{ print $2 }') rows) | >= 20000 rows/s | $(awk -v x="${a[1]}" 'BEGIN { print (x >= 20000) ? "yes" : "NO" }') |"
	fi
}
# CPU table: µs of server CPU per row / transaction, min / median / max, and vs none
cpuvals() { local r; for r in $(seq 1 "$ROUNDS"); do [ -n "${CPU[$1,$2,$r]:-}" ] && echo "${CPU[$1,$2,$r]}"; done; return 0; }
cpuratios() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		[ -n "${CPU[$1,$2,$r]:-}" ] && [ -n "${CPU[$1,none,$r]:-}" ] && div "${CPU[$1,$2,$r]}" "${CPU[$1,none,$r]}"
	done
	return 0
}
cputable() {
	local m s row a
	echo "| server CPU time, µs per row changed ((1), (2)) or per transaction ((3), (4)): min / median / max; vs none: median (min-max) of the per-round ratios |$HDR"
	echo "|---|$SEP"
	for m in "${MEASURES[@]}"; do
		row="| ${LABEL[$m]} |"
		for s in "${ALL[@]}"; do
			read -r -a a <<<"$(cpuvals "$m" "$s" | mmm)"
			if [ "${a[1]}" = "-" ]; then row+=" $(cell "$s" -) |"; else
				row+=" $(cell "$s" "$(fmt "%.1f" "${a[0]}") / $(fmt "%.1f" "${a[1]}") / $(fmt "%.1f" "${a[2]}")") |"; fi
		done
		echo "$row"
		if [ $HAVE_NONE -eq 1 ]; then
			row="| &nbsp;&nbsp;CPU vs none |"
			for s in "${ALL[@]}"; do
				read -r -a a <<<"$(cpuratios "$m" "$s" | mmm)"
				if [ "${a[1]}" = "-" ]; then row+=" $(cell "$s" -) |"; else
					row+=" $(cell "$s" "$(fmt "%.2fx" "${a[1]}") ($(fmt "%.2f" "${a[0]}")-$(fmt "%.2f" "${a[2]}"))") |"; fi
			done
			echo "$row"
		fi
	done
}
raw() {
	local r m s row f
	echo "| round | order | measure |$HDR"
	echo "|---|---|---|$SEP"
	for r in $(seq 1 "$ROUNDS"); do
		for m in "${MEASURES[@]}"; do
			row="| $r | ${ORDERS[$((r - 1))]} | ${m} |"
			for s in "${ALL[@]}"; do
				if [ -n "${VAL[$m,$s,$r]:-}" ]; then
					if [ "${UNIT[$m]}" = s ]; then f="%.4f"; else f="%.0f"; fi
					row+=" $(fmt "$f" "${VAL[$m,$s,$r]}") ${UNIT[$m]}, ${CPU[$m,$s,$r]} µs CPU; records ${GOT[$m,$s,$r]}/${EXP[$m,$s,$r]} |"
				else
					row+=" $(cell "$s" -) |"
				fi
			done
			echo "$row"
		done
		[ -n "${SEAL_S[$r]:-}" ] && echo "| $r | | seal |$EMPTY ${SEAL_ROWS[$r]} rows in ${SEAL_S[$r]} s |"
	done
	return 0
}
{
	echo "# Audit benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "Produced by \`bash bench/audit/run.sh\` (see README.md for method and caveats)."
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $($PG_CONFIG --version | awk '{ print $2 }') ($PGBIN)"
	echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER; other postmasters running at the start / at most during the run: ${OTHER_PM:-?} / $(( ${MAX_PM:-1} - 1 ))"
	echo "- pg_steward: $V_STEWARD ($SO, $SO_ID at the start of the run); pgaudit: $V_PGAUDIT"
	echo "- sizes: ROWS=$ROWS, UPDATE_ROWS=$UPDATE_ROWS, DURATION=$DURATION s, CLIENTS=$CLIENTS (pgbench -j $THREADS, -M prepared), ROUNDS=$ROUNDS; order rotated by one system each round"
	echo "- one cluster for all systems, a fresh database per system and round; server settings: $SETTINGS; steward.enabled = off; pgaudit.log = 'write' in the pgaudit database only"
	echo "- total run time: $T_TOTAL s"
	echo
	table
	echo
	echo "## Server CPU time"
	echo
	echo "CPU time of the client backends (the postmaster's reaped children) per row or transaction: unlike wall-clock time and TPS it does not depend on what else the machine runs, so it shows the cost of each system even on a loaded machine. Background processes (WAL writer, checkpointer) are not included."
	echo
	cputable
	echo
	echo "## Per round"
	echo
	echo "Values, and audit records written by the step / expected (rows changed for the triggers; statements for pgaudit, its lines in the server log)."
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
