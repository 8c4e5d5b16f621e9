#!/usr/bin/env bash
# Partition benchmark: bare DDL (the floor), pg_steward and pg_partman 4.7
# measured in one invocation, one after the other, in one throwaway cluster
# (one database per system, so nothing collides).  See README.md here.
#
#   bash bench/partitions/run.sh           # full run, a few minutes
#   BIG_SYSTEMS=pg_steward bash bench/partitions/run.sh   # skip pg_partman x500
#
# Run as root (the cluster runs as the postgres OS user) or as an ordinary
# user that can run initdb.  Nothing is built or installed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../tools/common.sh
source "$ROOT/tools/common.sh"

# ---------------------------------------------------------------- settings
NSETS=${NSETS:-50}                  # parents of (a), (b) and (c)
BACK=${BACK:-30}                    # daily partitions before the current day
AHEAD=${AHEAD:-30}                  # daily partitions after the current day (premake)
RET_DAYS=${RET_DAYS:-10}            # (c) retention in days: drops BACK - RET_DAYS per parent
MAINT_RUNS=${MAINT_RUNS:-5}         # (b) calls per measurement (median reported)
BIG_SETS=${BIG_SETS:-500}           # (b) second size
BIG_PREMAKE=${BIG_PREMAKE:-2}       # (b) premake of the BIG_SETS sets (no back partitions)
BIG_SYSTEMS=${BIG_SYSTEMS:-"pg_steward pg_partman"}   # systems measured with BIG_SETS sets
PORT=${PORT:-56900}                 # 56900-56999
KEEP=${KEEP:-0}                     # 1: keep the work directory (logs, data, SQL files)

PER_SET=$((BACK + 1 + AHEAD + 1))   # partitions per parent incl. the default one
EXPECT_DROP=$((BACK - RET_DAYS))    # per parent

full=0
[ "$NSETS" -eq 50 ] && [ "$BACK" -eq 30 ] && [ "$AHEAD" -eq 30 ] && [ "$RET_DAYS" -eq 10 ] &&
	[ "$MAINT_RUNS" -ge 5 ] && [ "$BIG_SETS" -eq 500 ] && [ "$BIG_SYSTEMS" = "pg_steward pg_partman" ] && full=1
STAMP=$(date -u +%Y-%m-%d)
if [ -z "${RESULTS:-}" ]; then
	if [ $full -eq 1 ]; then RESULTS="$HERE/results-$STAMP.md"; else RESULTS="$HERE/results-$STAMP-custom.md"; fi
fi

WORK=$(make_workdir)
CDIR=$WORK/cluster
SAMPLER=""
cleanup() {
	trap '' PIPE
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	cluster_stop "$CDIR" 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- results
# one row: metric | bare DDL | pg_steward | pg_partman | target | pg_steward meets it
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); log "RESULT $1 | bare: $2 | steward: $3 | partman: $4 | target: $5 | $6"; }
NOTES=""
note() { NOTES+="- $*"$'\n'; log "NOTE $*"; }

# ---------------------------------------------------------------- helpers
ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
yesno() { if le "$1" "$2"; then echo yes; else echo NO; fi; }
secs() { awk -v m="$1" 'BEGIN { printf "%.2f s", m / 1000 }'; }

PSQL=("$PGBIN/psql" -h "$CDIR" -p "$PORT" -X -v ON_ERROR_STOP=1)
# q DB SQL: unaligned, tuples only
q() { as_pg "${PSQL[@]}" -Atq -d "$1" -c "$2"; }
# run_file DB FILE OUT: run a script; its output goes to OUT; fail loudly
run_file() {
	if ! as_pg "${PSQL[@]}" -Atq -d "$1" -f "$2" >"$3" 2>&1; then
		log "psql -f $2 in $1 failed:"; tail -20 "$3" >&2; exit 1
	fi
}
# timed_file DB FILE OUT: run_file and print the client wall-clock in ms
timed_file() {
	local t0
	t0=$(ns)
	run_file "$@"
	ms_since "$t0"
}
# \timing values (ms) of a psql output file, one a line
timings() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$1"; }
# median / min / max of numbers on stdin: "median min max"
med() {
	sort -g | awk '{ a[n++] = $1 } END { if (n == 0) { print "- - -"; exit }
		m = (n % 2) ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
		printf "%.1f %.1f %.1f\n", m, a[0], a[n - 1] }'
}

# partitions (tables) under the parents of schema bench, and their indexes
count_parts() {
	q "$1" "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
	         JOIN pg_namespace n ON n.oid = p.relnamespace
	         WHERE n.nspname = 'bench' AND p.relkind = 'p'"
}
count_part_indexes() {
	q "$1" "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
	         JOIN pg_namespace n ON n.oid = p.relnamespace
	         WHERE n.nspname = 'bench' AND p.relkind = 'I'"
}
count_defaults() {
	q "$1" "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
	         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = p.relnamespace
	         WHERE n.nspname = 'bench' AND p.relkind = 'p' AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"
}
# "oldest lower bound .. newest upper bound" of the non-default partitions,
# and how many parents have other bounds than those
bounds() {
	q "$1" "WITH b AS (SELECT i.inhparent,
	                 (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS lo,
	                 (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)''\)'))[1]::timestamptz AS hi
	           FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
	           JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = p.relnamespace
	           WHERE n.nspname = 'bench' AND p.relkind = 'p' AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'),
	         m AS (SELECT inhparent, min(lo) lo, max(hi) hi FROM b GROUP BY 1)
	         SELECT to_char(min(lo), 'MM-DD HH24:MI') || ' .. ' || to_char(max(hi), 'MM-DD HH24:MI') ||
	                ' (parents differing: ' ||
	                count(*) FILTER (WHERE lo <> (SELECT min(lo) FROM m) OR hi <> (SELECT max(hi) FROM m)) || ')' FROM m"
}
# expected "lo .. hi" for days relative to today
expect_bounds() {
	q postgres "SELECT to_char(date_trunc('day', now()) + interval '$1 days', 'MM-DD HH24:MI') || ' .. ' ||
	                   to_char(date_trunc('day', now()) + interval '$2 days', 'MM-DD HH24:MI')"
}

# make_parents DB N: bench.p0001 .. bench.pN, each with an index on ts
make_parents() {
	q "$1" "CREATE SCHEMA bench" >/dev/null
	q "$1" "DO \$\$ BEGIN FOR i IN 1..$2 LOOP
	          EXECUTE format('CREATE TABLE bench.%I (id bigint GENERATED ALWAYS AS IDENTITY,
	                          ts timestamptz NOT NULL, payload text) PARTITION BY RANGE (ts)', 'p' || lpad(i::text, 4, '0'));
	          EXECUTE format('CREATE INDEX ON bench.%I (ts)', 'p' || lpad(i::text, 4, '0'));
	        END LOOP; END \$\$" >/dev/null
}
parents() { local i; for i in $(seq 1 "$1"); do printf 'p%04d\n' "$i"; done; }

# steward_rows OUT: anomalies among partition_maintain() rows
#   "rows created detached dropped not_ok" (not_ok: status <> ok, with messages in $WORK/notok)
steward_rows() {
	grep -v '^Time: ' "$1" | awk -F'|' -v notok="$WORK/notok" '
		NF >= 7 { n++; c += $2; d += $3; dr += $4; if ($6 != "ok") { bad++; print > notok } }
		END { printf "%d %d %d %d %d\n", n, c, d, dr, bad }'
}

checkpoint() { q postgres "CHECKPOINT" >/dev/null; }

# ---------------------------------------------------------------- cluster
MIN=$((10#$(date -u +%H) * 60 + 10#$(date -u +%M)))
if [ "$MIN" -ge $((23 * 60 + 45)) ]; then
	# a day boundary in the middle of the run would change what is due
	w=$(( (24 * 60 - MIN) * 60 + 30 - 10#$(date -u +%S) ))
	log "it is $(date -u +%H:%M) UTC: waiting $w s for the UTC day to change so the run does not straddle midnight"
	sleep "$w"
fi

T_START=$(ns)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
count_pm() { ps -eo args= | grep -c -E '^/[^ ]*/bin/postgres( |$)' || true; }
OTHER_PM=$(count_pm)
# other postmasters appearing during the run (tests, other benchmarks) distort it
( while :; do count_pm; sleep 1; done ) >"$WORK/postmasters" 2>/dev/null &
SAMPLER=$!
mkdir -p "$CDIR"; chmod 755 "$CDIR"; [ "$(id -u)" -eq 0 ] && chown postgres: "$CDIR"
log "work directory $WORK; results go to $RESULTS"
cluster_init "$CDIR" "$PORT" \
	"shared_preload_libraries = 'pg_steward'" \
	"steward.enabled = off" \
	"max_locks_per_transaction = 2048" \
	"timezone = 'UTC'" \
	"log_timezone = 'UTC'" \
	"autovacuum = off" \
	"max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" \
	"lc_messages = 'C'"
SO="$($PG_CONFIG --pkglibdir)/pg_steward.so"
so_id() { echo "modified $(date -u -r "$SO" +%FT%TZ), md5 $(md5sum "$SO" | cut -c1-12)"; }
SO_ID=$(so_id)   # what the cluster loads (shared_preload_libraries) at its start
cluster_start "$CDIR"
DBS="bare baredo steward partman"
for s in $BIG_SYSTEMS; do DBS+=" ${s#pg_}$BIG_SETS"; done
for db in $DBS; do
	q postgres "CREATE DATABASE $db" >/dev/null
	case $db in
		steward*)
			q "$db" "CREATE EXTENSION pg_steward" >/dev/null
			# belt and braces: steward.enabled is off, and the built-in job is disabled
			q "$db" "SELECT steward.alter_job('partition_maintenance', enabled => false)" >/dev/null ;;
		partman*)
			q "$db" "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman" >/dev/null ;;
	esac
done
V_STEWARD=$(q steward "SELECT steward.version()")
V_PARTMAN=$(q partman "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
log "pg_steward $V_STEWARD ($SO), pg_partman $V_PARTMAN"

for db in bare baredo steward partman; do make_parents "$db" "$NSETS"; done
TODAY=$(q postgres "SELECT to_char(date_trunc('day', now()), 'YYYY-MM-DD')")

# ---------------------------------------------------------------- (a) creation
# Each parent is set up in its own transaction: bare DDL wraps the parent's
# statements in BEGIN/COMMIT; one function call per parent is one
# (autocommit) transaction for pg_steward and pg_partman.
q bare "SELECT format(E'BEGIN;\n%s\nCREATE TABLE bench.%I PARTITION OF bench.%I DEFAULT;\nCOMMIT;',
               string_agg(format('CREATE TABLE bench.%I PARTITION OF bench.%I FOR VALUES FROM (%L) TO (%L);',
                                 p || '_p' || to_char(d, 'YYYYMMDD'), p, d, d + interval '1 day'), E'\n' ORDER BY d),
               p || '_default', p)
          FROM (SELECT 'p' || lpad(i::text, 4, '0') AS p FROM generate_series(1, $NSETS) i) s,
               generate_series(date_trunc('day', now()) - interval '$BACK days',
                               date_trunc('day', now()) + interval '$AHEAD days', interval '1 day') d
         GROUP BY p ORDER BY p" >"$WORK/create_bare.sql"
for p in $(parents "$NSETS"); do
	echo "SELECT steward.partition_table('bench.$p', 'ts', '1 day', premake => $AHEAD, start_at => (now() - interval '$BACK days')::text);"
done >"$WORK/create_steward.sql"
for p in $(parents "$NSETS"); do
	echo "SELECT partman.create_parent('bench.$p', 'ts', 'native', 'daily', p_premake := $AHEAD, p_start_partition := (now() - interval '$BACK days')::text);"
done >"$WORK/create_partman.sql"
# the same statements run server-side (no round trip per statement): one DO
# block per parent, which is one transaction
sed -e 's/^BEGIN;$/DO $do$ BEGIN/' -e 's/^COMMIT;$/END $do$;/' "$WORK/create_bare.sql" >"$WORK/create_baredo.sql"
log "DDL floor: $(grep -c '^CREATE TABLE' "$WORK/create_bare.sql") CREATE TABLE statements in $NSETS transactions"

declare -A CREATE_MS PARTS IDX DEFS
for db in bare baredo steward partman; do
	checkpoint
	log "(a) creating $NSETS x $PER_SET partitions: $db"
	CREATE_MS[$db]=$(timed_file "$db" "$WORK/create_$db.sql" "$WORK/create_$db.out")
	PARTS[$db]=$(count_parts "$db"); IDX[$db]=$(count_part_indexes "$db"); DEFS[$db]=$(count_defaults "$db")
	log "(a) $db: ${CREATE_MS[$db]} ms, ${PARTS[$db]} partitions, ${IDX[$db]} partition indexes, ${DEFS[$db]} default partitions"
done
RET_SUM=$(awk '{ s += $1 } END { print s + 0 }' "$WORK/create_steward.out")
[ "$RET_SUM" = "${PARTS[steward]}" ] || note "(a) pg_steward: partition_table() returned $RET_SUM created in total, pg_inherits counts ${PARTS[steward]}"
grep -qv '^t$' "$WORK/create_partman.out" && note "(a) pg_partman: create_parent() output other than 't': $(grep -v '^t$' "$WORK/create_partman.out" | head -3 | paste -sd ';')"

r_s=$(ratio "${CREATE_MS[steward]}" "${CREATE_MS[bare]}"); r_p=$(ratio "${CREATE_MS[partman]}" "${CREATE_MS[bare]}")
row "(a) creation, $NSETS parents x $PER_SET partitions, client wall-clock" \
	"$(secs "${CREATE_MS[bare]}")" "$(secs "${CREATE_MS[steward]}") (${r_s}x bare)" "$(secs "${CREATE_MS[partman]}") (${r_p}x bare)" \
	"<= 1.2x bare" "$(yesno "$r_s" 1.2)"
r_s=$(ratio "${CREATE_MS[steward]}" "${CREATE_MS[baredo]}"); r_p=$(ratio "${CREATE_MS[partman]}" "${CREATE_MS[baredo]}")
row "(a) info: the same DDL run server-side, one DO block per parent (floor without a round trip per statement)" \
	"$(secs "${CREATE_MS[baredo]}")" "${r_s}x that" "${r_p}x that" "" ""
row "(a) partitions / of which default / partition indexes (pg_inherits)" \
	"${PARTS[bare]} / ${DEFS[bare]} / ${IDX[bare]} (DO blocks: ${PARTS[baredo]} / ${DEFS[baredo]} / ${IDX[baredo]})" "${PARTS[steward]} / ${DEFS[steward]} / ${IDX[steward]}" \
	"${PARTS[partman]} / ${DEFS[partman]} / ${IDX[partman]}" "$((NSETS * PER_SET)) / $NSETS / $((NSETS * PER_SET))" \
	"$([ "${PARTS[steward]}" = $((NSETS * PER_SET)) ] && [ "${IDX[steward]}" = $((NSETS * PER_SET)) ] && echo yes || echo NO)"
row "(a) partition bounds, oldest .. newest (UTC)" "$(bounds bare)" "$(bounds steward)" "$(bounds partman)" "$(expect_bounds "-$BACK" "$((AHEAD + 1))")" ""

# ---------------------------------------------------------------- (b) maintenance, nothing to do
# warm: MAINT_RUNS calls in one session after a first call; cold: the first
# call of MAINT_RUNS fresh sessions (the worker runs maintenance in a fresh
# process each time).  Times are psql's \timing (client side, no connect).
declare -A WARM COLD MAINT_CHECK
maint_stmt() {
	case $1 in
		steward*) echo "SELECT * FROM steward.partition_maintain();" ;;
		partman*) echo "SELECT partman.run_maintenance();" ;;
	esac
}
measure_maint() {
	local db=$1 label=$2 stmt i before after
	stmt=$(maint_stmt "$db")
	{ echo '\timing on'; for i in $(seq 0 "$MAINT_RUNS"); do echo "$stmt"; done; } >"$WORK/maint_$db.sql"
	{ echo '\timing on'; echo "$stmt"; } >"$WORK/maint1_$db.sql"
	q "$db" "VACUUM ANALYZE" >/dev/null
	checkpoint
	before=$(count_parts "$db")
	: >"$WORK/maint_$db.all"
	run_file "$db" "$WORK/maint_$db.sql" "$WORK/maint_$db.out"
	cat "$WORK/maint_$db.out" >>"$WORK/maint_$db.all"
	timings "$WORK/maint_$db.out" | head -1 >"$WORK/cold_$db"
	timings "$WORK/maint_$db.out" | tail -n +2 >"$WORK/warm_$db"
	for i in $(seq 2 "$MAINT_RUNS"); do
		run_file "$db" "$WORK/maint1_$db.sql" "$WORK/maint1_$db.out"
		cat "$WORK/maint1_$db.out" >>"$WORK/maint_$db.all"
		timings "$WORK/maint1_$db.out" >>"$WORK/cold_$db"
	done
	after=$(count_parts "$db")
	WARM[$db]=$(med <"$WORK/warm_$db"); COLD[$db]=$(med <"$WORK/cold_$db")
	MAINT_CHECK[$db]="partitions before/after: $before/$after"
	if [ "${db#steward}" != "$db" ]; then
		local r
		read -r -a r <<<"$(steward_rows "$WORK/maint_$db.all")"
		MAINT_CHECK[$db]+="; rows: ${r[0]}, created ${r[1]}, detached ${r[2]}, dropped ${r[3]}, not ok ${r[4]}"
		[ "${r[4]}" -gt 0 ] && note "(b) $label pg_steward rows with status <> ok: $(sort "$WORK/notok" | uniq -c | head -3 | paste -sd ';')"
	fi
	[ "$before" = "$after" ] || note "(b) $label $db: the partition count changed during 'nothing to do' maintenance: $before -> $after"
	log "(b) $label $db: warm ${WARM[$db]}, cold ${COLD[$db]} (median min max, ms); ${MAINT_CHECK[$db]}"
}
fmt_med() { local a; read -r -a a <<<"$1"; echo "${a[0]} ms (${a[1]}-${a[2]})"; }
first() { local a; read -r -a a <<<"$1"; echo "${a[0]}"; }

for db in steward partman; do measure_maint "$db" "$NSETS sets"; done
row "(b) maintenance, nothing to do, $NSETS sets: median (min-max) of $MAINT_RUNS calls in one session, after a first call" \
	"-" "$(fmt_med "${WARM[steward]}")" "$(fmt_med "${WARM[partman]}")" "<= 10 ms" "$(yesno "$(first "${WARM[steward]}")" 10)"
row "(b) same, first call in a fresh session (x$MAINT_RUNS)" \
	"-" "$(fmt_med "${COLD[steward]}")" "$(fmt_med "${COLD[partman]}")" "(<= 10 ms)" "$(yesno "$(first "${COLD[steward]}")" 10)"
row "(b) check, $NSETS sets" "-" "${MAINT_CHECK[steward]}" "${MAINT_CHECK[partman]}" "nothing created or dropped" ""

# ---------------------------------------------------------------- (b) BIG_SETS sets
declare -A BIG_MS BIG_PARTS
for s in $BIG_SYSTEMS; do
	db=${s#pg_}$BIG_SETS
	make_parents "$db" "$BIG_SETS"
	for p in $(parents "$BIG_SETS"); do
		case $s in
			pg_steward) echo "SELECT steward.partition_table('bench.$p', 'ts', '1 day', premake => $BIG_PREMAKE);" ;;
			pg_partman) echo "SELECT partman.create_parent('bench.$p', 'ts', 'native', 'daily', p_premake := $BIG_PREMAKE, p_start_partition := now()::text);" ;;
		esac
	done >"$WORK/create_$db.sql"
	checkpoint
	log "(b) creating $BIG_SETS sets with premake $BIG_PREMAKE: $s"
	BIG_MS[$db]=$(timed_file "$db" "$WORK/create_$db.sql" "$WORK/create_$db.out")
	BIG_PARTS[$db]="$(count_parts "$db") partitions ($(count_defaults "$db") default)"
	log "(b) $db: ${BIG_MS[$db]} ms, ${BIG_PARTS[$db]}"
	measure_maint "$db" "$BIG_SETS sets"
done
bs=steward$BIG_SETS; bp=partman$BIG_SETS
big_setup() { if [ -n "${BIG_MS[$1]:-}" ]; then echo "$(secs "${BIG_MS[$1]}"), ${BIG_PARTS[$1]}"; else echo "not run"; fi; }
big_med() { local -n arr=$1; if [ -n "${arr[$2]:-}" ]; then fmt_med "${arr[$2]}"; else echo "not run"; fi; }
big_ok() { local -n arr=$1; if [ -n "${arr[$bs]:-}" ]; then yesno "$(first "${arr[$bs]}")" "$2"; fi; }
row "(b) setup of $BIG_SETS sets, premake $BIG_PREMAKE, no back partitions (info)" "-" \
	"$(big_setup "$bs")" "$(big_setup "$bp")" "" ""
row "(b) maintenance, nothing to do, $BIG_SETS sets: median (min-max) of $MAINT_RUNS calls in one session, after a first call" "-" \
	"$(big_med WARM "$bs")" "$(big_med WARM "$bp")" "<= 100 ms" "$(big_ok WARM 100)"
row "(b) same, first call in a fresh session (x$MAINT_RUNS)" "-" \
	"$(big_med COLD "$bs")" "$(big_med COLD "$bp")" "(<= 100 ms)" "$(big_ok COLD 100)"
row "(b) check, $BIG_SETS sets" "-" "${MAINT_CHECK[$bs]:-not run}" "${MAINT_CHECK[$bp]:-not run}" "nothing created or dropped" ""

# ---------------------------------------------------------------- (c) retention
# Daily partitions whose upper bound is at or before now - RET_DAYS days go:
# with BACK back partitions that is BACK - RET_DAYS per parent, the same rule
# for both systems (pg_partman: upper bound < now - retention; pg_steward:
# upper bound <= now - retention).  The floor drops the same partitions by
# name, each parent's DROP TABLEs in one transaction.
q bare "SELECT format(E'BEGIN;\n%s\nCOMMIT;',
               string_agg(format('DROP TABLE bench.%I;', p || '_p' || to_char(d, 'YYYYMMDD')), E'\n' ORDER BY d))
          FROM (SELECT 'p' || lpad(i::text, 4, '0') AS p FROM generate_series(1, $NSETS) i) s,
               generate_series(date_trunc('day', now()) - interval '$BACK days',
                               date_trunc('day', now()) - interval '$((RET_DAYS + 1)) days', interval '1 day') d
         GROUP BY p ORDER BY p" >"$WORK/retain_bare.sql"
sed -e 's/^BEGIN;$/DO $do$ BEGIN/' -e 's/^COMMIT;$/END $do$;/' "$WORK/retain_bare.sql" >"$WORK/retain_baredo.sql"
{ echo '\timing on'; echo "SELECT * FROM steward.partition_maintain();"; } >"$WORK/retain_steward.sql"
{ echo '\timing on'; echo "SELECT partman.run_maintenance();"; } >"$WORK/retain_partman.sql"
q steward "SELECT steward.partition_alter(parent, retention => '$RET_DAYS days') FROM steward.partition_set" >/dev/null
q partman "UPDATE partman.part_config SET retention = '$RET_DAYS days', retention_keep_table = false
           WHERE parent_table LIKE 'bench.%'" >/dev/null

declare -A RET_MS RET_STMT RET_BEFORE RET_AFTER
for db in bare baredo steward partman; do
	checkpoint
	RET_BEFORE[$db]=$(count_parts "$db")
	log "(c) retention: $db"
	RET_MS[$db]=$(timed_file "$db" "$WORK/retain_$db.sql" "$WORK/retain_$db.out")
	RET_STMT[$db]=$(timings "$WORK/retain_$db.out" | head -1)
	RET_AFTER[$db]=$(count_parts "$db")
	log "(c) $db: ${RET_MS[$db]} ms, partitions ${RET_BEFORE[$db]} -> ${RET_AFTER[$db]}"
done
read -r -a SR <<<"$(steward_rows "$WORK/retain_steward.out")"
[ "${SR[4]}" -gt 0 ] && note "(c) pg_steward rows with status <> ok: $(sort "$WORK/notok" | uniq -c | head -3 | paste -sd ';')"
r_s=$(ratio "${RET_MS[steward]}" "${RET_MS[bare]}"); r_p=$(ratio "${RET_MS[partman]}" "${RET_MS[bare]}")
row "(c) retention, drop $((NSETS * EXPECT_DROP)) partitions ($EXPECT_DROP per parent), client wall-clock" \
	"$(secs "${RET_MS[bare]}")" "$(secs "${RET_MS[steward]}") (${r_s}x bare; statement ${RET_STMT[steward]:-?} ms)" \
	"$(secs "${RET_MS[partman]}") (${r_p}x bare; statement ${RET_STMT[partman]:-?} ms)" "<= 1.2x bare" "$(yesno "$r_s" 1.2)"
r_s=$(ratio "${RET_MS[steward]}" "${RET_MS[baredo]}"); r_p=$(ratio "${RET_MS[partman]}" "${RET_MS[baredo]}")
row "(c) info: the same DROP TABLEs run server-side, one DO block per parent" \
	"$(secs "${RET_MS[baredo]}")" "${r_s}x that" "${r_p}x that" "" ""
dropped() { echo $(( RET_BEFORE[$1] - RET_AFTER[$1] )); }
row "(c) partitions before -> after = dropped (pg_inherits)" \
	"${RET_BEFORE[bare]} -> ${RET_AFTER[bare]} = $(dropped bare) (DO blocks: $(dropped baredo))" \
	"${RET_BEFORE[steward]} -> ${RET_AFTER[steward]} = $(dropped steward) (reported: dropped ${SR[3]}, created ${SR[1]}, not ok ${SR[4]})" \
	"${RET_BEFORE[partman]} -> ${RET_AFTER[partman]} = $(dropped partman)" "$((NSETS * EXPECT_DROP)) dropped" \
	"$([ "$(dropped steward)" = $((NSETS * EXPECT_DROP)) ] && echo yes || echo NO)"
row "(c) partition bounds after retention, oldest .. newest (UTC)" "$(bounds bare)" "$(bounds steward)" "$(bounds partman)" \
	"$(expect_bounds "-$RET_DAYS" "$((AHEAD + 1))")" ""
for db in bare baredo steward partman; do
	[ "$(dropped $db)" = $((NSETS * EXPECT_DROP)) ] || note "(c) $db dropped $(dropped $db) partitions, expected $((NSETS * EXPECT_DROP))"
done
[ "$TODAY" = "$(q postgres "SELECT to_char(date_trunc('day', now()), 'YYYY-MM-DD')")" ] ||
	note "the UTC day changed during the run: counts of (b) and (c) are not comparable"

grep -E '(WARNING|ERROR|FATAL|PANIC):' "$CDIR/server.log" >"$WORK/warn.log" || true
[ -s "$WORK/warn.log" ] && note "server log lines at WARNING or worse: $(wc -l <"$WORK/warn.log"): $(sed -E 's/^[^]]*[]] //; s/^.*(WARNING|ERROR|FATAL|PANIC):/\1:/' "$WORK/warn.log" | sort | uniq -c | sort -rn | head -5 | sed 's/^ *//' | paste -sd ';')"

cluster_stop "$CDIR"
kill "$SAMPLER" 2>/dev/null; SAMPLER=""
MAX_PM=$(sort -n "$WORK/postmasters" | tail -1)
[ "${MAX_PM:-0}" -gt $((OTHER_PM + 1)) ] &&
	note "other clusters started during the run: up to $((MAX_PM - 1)) other postmasters ($OTHER_PM at the start); the figures are disturbed, run again on a quiet machine"
[ "$(so_id)" = "$SO_ID" ] || note "$SO was replaced during the run (now: $(so_id)); every backend of the cluster still ran the library loaded at its start ($SO_ID)"
T_TOTAL=$(ms_since "$T_START")
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
table() {
	echo "| metric | bare DDL (floor) | pg_steward | pg_partman $V_PARTMAN | target (pg_steward) | pg_steward meets it |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
}
{
	echo "# Partition benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "Produced by \`bash bench/partitions/run.sh\` (see README.md for method and caveats)."
	echo
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $($PG_CONFIG --version | awk '{ print $2 }')"
	echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER; other postmasters running at the start / at most during the run: ${OTHER_PM:-?} / $(( ${MAX_PM:-1} - 1 ))"
	echo "- pg_steward $V_STEWARD (installed $SO, $SO_ID at the start of the run); pg_partman $V_PARTMAN ($(dpkg-query -W -f '${Package} ${Version}' postgresql-$PGMAJOR-partman 2>/dev/null || echo '?'))"
	echo "- one cluster, one database per system; fsync = off, autovacuum = off, max_locks_per_transaction = 2048, timezone = UTC, steward.enabled = off (and the partition_maintenance job disabled)"
	echo "- workload: $NSETS parents (id bigint identity, ts timestamptz, payload text; index on ts), daily partitions $BACK back + current + $AHEAD ahead + default = $PER_SET each; day of the run (UTC): $TODAY"
	echo "- total run time: $(secs "$T_TOTAL")"
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
table
echo
echo "written to $RESULTS"
