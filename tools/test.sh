#!/usr/bin/env bash
# make test: dependencies, strict build, install, then pg_regress, pgTAP and
# the worker integration tests, each against throwaway clusters owned by the
# postgres OS user.  Cleans up even when a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/common.sh

started=$(date +%s)
bash tools/deps.sh || exit 1

echo "== build (-Wall -Wextra -Werror)"
make -s clean >/dev/null
make -s strict >build.log 2>&1 || { cat build.log; exit 1; }
if grep -q 'warning:' build.log; then cat build.log; echo "compiler warnings"; exit 1; fi
make -s install >/dev/null || exit 1
rm -f build.log

W=$(make_workdir)
cleanup() {
	for d in "$W"/tap "$W"/tmp_check; do cluster_stop "$d"; done
	pkill -u postgres -f "$W" 2>/dev/null
	mountpoint -q "$W/smallfs" 2>/dev/null && umount "$W/smallfs"
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

# Test inputs are copied so the postgres user can read and write them
# wherever the checkout lives.
cp -r sql expected test docs "$W"/
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$W"

fail=0
passed=0
failed=0

echo "== pg_regress"
tests=${STEWARD_REGRESS:-$(cd sql && ls *.sql | sed 's/\.sql$//' | sort)}
if (cd "$W" && as_pg "$PGXS_DIR/test/regress/pg_regress" \
	--bindir="$PGBIN" --inputdir=. --outputdir=. \
	--temp-instance=./tmp_check --temp-config=test/regress.conf \
	--port=${STEWARD_TEST_PORT:-56432} --dbname=contrib_regression $tests); then
	passed=$((passed + 1))
else
	[ -f "$W/regression.diffs" ] && cat "$W/regression.diffs"
	# Keep the actual output for inspection (results/ is git-ignored).
	rm -rf results && cp -r "$W/results" results 2>/dev/null
	fail=1; failed=$((failed + 1))
fi

echo "== pgTAP"
port=$(( ${STEWARD_TEST_PORT:-56432} + 1 ))
mkdir -p "$W/tap" && [ "$(id -u)" -eq 0 ] && chown postgres: "$W/tap"
if cluster_init "$W/tap" $port "shared_preload_libraries = 'pg_steward'" "steward.naptime = 200" &&
	cluster_start "$W/tap" &&
	as_pg "$PGBIN/psql" -X -q -h "$W/tap" -p $port -U postgres -d postgres \
		-c 'CREATE DATABASE steward_tap' &&
	as_pg "$PGBIN/psql" -X -q -h "$W/tap" -p $port -U postgres -d steward_tap \
		-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION pg_steward' &&
	(cd "$W" && as_pg pg_prove -h "$W/tap" -p $port -U postgres -d steward_tap test/pgtap/*.sql) &&
	echo "== isolation" &&
	(cd "$W" && as_pg "$PGXS_DIR/test/isolation/pg_isolation_regress" --use-existing \
		--bindir="$PGBIN" --host="$W/tap" --port=$port --user=postgres --dbname=steward_tap \
		--inputdir=test/isolation --outputdir=isolation_output \
		$(cd test/isolation/specs && ls *.spec | sed 's/\.spec$//')); then
	passed=$((passed + 1))
else
	[ -f "$W/isolation_output/regression.diffs" ] && cat "$W/isolation_output/regression.diffs"
	rm -rf results_isolation && cp -r "$W/isolation_output/results" results_isolation 2>/dev/null
	[ -f "$W/tap/server.log" ] && tail -50 "$W/tap/server.log"
	fail=1; failed=$((failed + 1))
fi
cluster_stop "$W/tap"

echo "== integration (worker) tests"
# A backup directory that fills up (080) needs a small file system: root
# mounts an 8 MB tmpfs for it; elsewhere those tests are skipped.
smallfs=""
if [ "$(id -u)" -eq 0 ] && mkdir -p "$W/smallfs" &&
	mount -t tmpfs -o size=8m,mode=0700 tmpfs "$W/smallfs" 2>/dev/null; then
	chown postgres: "$W/smallfs" && smallfs="$W/smallfs"
fi
if ls test/t/*.pl >/dev/null 2>&1; then
	if (cd "$W" && as_pg mkdir -p "$W/t_work" && as_pg env PATH="$PGBIN:$PATH" TESTDIR="$W/t_work" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
		STEWARD_TEST_SMALL_FS="$smallfs" \
		PERL5LIB="$PGXS_DIR/test/perl:$W/test/t" PG_TEST_TIMEOUT_DEFAULT=120 \
		prove -j2 test/t/*.pl); then
		passed=$((passed + 1))
	else
		for f in "$W"/t_work/tmp_check/log/*; do echo "---- $f"; tail -40 "$f"; done 2>/dev/null
		fail=1; failed=$((failed + 1))
	fi
fi

echo "== suites: $passed passed, $failed failed ($(( $(date +%s) - started )) s)"
exit $fail
