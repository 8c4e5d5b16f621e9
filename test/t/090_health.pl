# Health: what needs several sessions or the scheduler.  An idle
# transaction holding a lock, a session blocked behind it (lock_tree with
# the root blocker first), a long query, a prepared transaction, a failing
# archive_command, dead rows with autovacuum off; then the health_snapshot
# job writing history into a partition set, alerts opened and resolved
# with NOTIFY, and steward.metrics() through promtool.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('health',
	port => $ENV{STEWARD_HEALTH_TEST_PORT},
	settings => {
		wal_level => 'replica',
		max_prepared_transactions => 5,
		archive_mode => 'on',
		archive_command => 'false',
		autovacuum => 'off',
	});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Seconds instead of minutes; the built-in job runs when a test makes it due.
sql(q{
	SELECT steward.alter_job('health_snapshot', schedule => '1 day');
	UPDATE steward.health_threshold SET warning = 1, critical = 3600
	 WHERE check_name IN ('long_running_queries', 'idle_in_transaction', 'blocking_locks',
	                      'prepared_transactions');
	CREATE TABLE "Odd Table" (id int);
	INSERT INTO "Odd Table" VALUES (1);
});

# ---------------------------------------------------------------------
# ok cases first: nothing provoked yet
# ---------------------------------------------------------------------
for my $check (qw(long_running_queries idle_in_transaction blocking_locks prepared_transactions vacuum_stale))
{
	is(sql("SELECT string_agg(status, ',') FROM steward.health_check('$check')"),
		'ok', "$check: ok with nothing provoked");
}

# ---------------------------------------------------------------------
# Sessions: idle in transaction holding a lock, a blocked one, a long query
# ---------------------------------------------------------------------
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE "Odd Table" IN ACCESS EXCLUSIVE MODE');
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
chomp $holder_pid;

my $waiter = $node->background_psql('postgres');
my $waiter_pid = $waiter->query_safe('SELECT pg_backend_pid()');
chomp $waiter_pid;
$waiter->query_until(qr/start/, q{\echo start
SELECT count(*) FROM "Odd Table";
});

my $sleeper = $node->background_psql('postgres');
my $sleeper_pid = $sleeper->query_safe('SELECT pg_backend_pid()');
chomp $sleeper_pid;
$sleeper->query_until(qr/start/, q{\echo start
SELECT pg_sleep(600);
});

wait_for($node,
	"SELECT status FROM steward.health_check('idle_in_transaction') WHERE object = 'pid $holder_pid'",
	'warning', 'idle_in_transaction: the idle transaction is reported')
  or diag(sql("SELECT * FROM steward.health_check('idle_in_transaction')"));
like(sql("SELECT hint FROM steward.health_check('idle_in_transaction') WHERE object = 'pid $holder_pid'"),
	qr/^pid $holder_pid has been idle in transaction \d+ s: SELECT pg_terminate_backend\($holder_pid\); set idle_in_transaction_session_timeout$/,
	'idle_in_transaction: the hint terminates the pid');

wait_for($node,
	"SELECT status FROM steward.health_check('blocking_locks') WHERE object = 'pid $waiter_pid'",
	'warning', 'blocking_locks: the waiting session is reported');
like(sql("SELECT detail FROM steward.health_check('blocking_locks') WHERE object = 'pid $waiter_pid'"),
	qr/blocking chain, root blocker first: $holder_pid \(idle in transaction [^)]*\) -> $waiter_pid \(active/,
	'blocking_locks: the chain starts at the root blocker');
like(sql("SELECT hint FROM steward.health_check('blocking_locks') WHERE object = 'pid $waiter_pid'"),
	qr/^the blocking pid $holder_pid has been idle in transaction .*: SELECT pg_terminate_backend\($holder_pid\)$/,
	'blocking_locks: the hint terminates the root blocker');
is(sql("SELECT string_agg(format('%s/%s/%s', root_pid, pid, depth), ' ' ORDER BY ord)
          FROM (SELECT *, row_number() OVER () AS ord FROM steward.lock_tree) t"),
	"$holder_pid/$holder_pid/0 $holder_pid/$waiter_pid/1",
	'lock_tree: the root blocker first, then the session it blocks');
like(sql("SELECT waiting_for FROM steward.lock_tree WHERE pid = $waiter_pid"),
	qr/relation AccessShareLock on "Odd Table"/, 'lock_tree: what the waiter waits for, quoted');

wait_for($node,
	"SELECT status FROM steward.health_check('long_running_queries') WHERE object = 'pid $sleeper_pid'",
	'warning', 'long_running_queries: the pg_sleep session');
like(sql("SELECT hint FROM steward.health_check('long_running_queries') WHERE object = 'pid $sleeper_pid'"),
	qr/^the query of pid $sleeper_pid has run .*: SELECT pg_cancel_backend\($sleeper_pid\)$/,
	'long_running_queries: the hint cancels it');
# critical at the critical threshold
sql("UPDATE steward.health_threshold SET critical = 2 WHERE check_name = 'long_running_queries'");
wait_for($node,
	"SELECT status FROM steward.health_check('long_running_queries') WHERE object = 'pid $sleeper_pid'",
	'critical', 'long_running_queries: critical past the critical threshold');

# ---------------------------------------------------------------------
# A prepared transaction with an odd gid
# ---------------------------------------------------------------------
my $prep = $node->background_psql('postgres');
$prep->query_safe(q{BEGIN});
$prep->query_safe(q{SELECT 1});
$prep->query_safe(q{PREPARE TRANSACTION 'it''s "prepared"'});
wait_for($node,
	q{SELECT status FROM steward.health_check('prepared_transactions') WHERE object = 'it''s "prepared"'},
	'warning', 'prepared_transactions: the prepared transaction is reported');
my $hint = sql(q{SELECT hint FROM steward.health_check('prepared_transactions') WHERE object = 'it''s "prepared"'});
is($hint, q{in database postgres, finish it: COMMIT PREPARED 'it''s "prepared"'; or ROLLBACK PREPARED 'it''s "prepared"'},
	'prepared_transactions: the hint quotes the gid');

# ---------------------------------------------------------------------
# A failing archive_command; dead rows with autovacuum off
# ---------------------------------------------------------------------
sql("CREATE TABLE churn (id int, v text); INSERT INTO churn SELECT g, 'x' FROM generate_series(1, 1000) g;
     SELECT pg_switch_wal()");
wait_for($node,
	"SELECT status FROM steward.health_check('wal_archiving')",
	'critical', 'wal_archiving: a failing archive_command is critical');
like(sql("SELECT hint FROM steward.health_check('wal_archiving')"),
	qr/^archive_command fails/, 'wal_archiving: the hint says the command fails');

sql("UPDATE churn SET v = 'y'");
sql("UPDATE steward.health_threshold SET warning = 0 WHERE check_name = 'vacuum_stale'");
wait_for($node,
	"SELECT status FROM steward.health_check('vacuum_stale') WHERE object = 'public.churn'",
	'warning', 'vacuum_stale: dead rows over the autovacuum threshold');
like(sql("SELECT hint FROM steward.health_check('vacuum_stale') WHERE object = 'public.churn'"),
	qr/^VACUUM \(VERBOSE, ANALYZE\) public\.churn; autovacuum is off for the server: ALTER SYSTEM SET autovacuum = on/,
	'vacuum_stale: the hint');
# The prepared transaction holds the dead rows back, but a vacuum within
# the threshold (1 day by default) is enough.
sql("VACUUM churn");
sql("UPDATE steward.health_threshold SET warning = 86400 WHERE check_name = 'vacuum_stale'");
wait_for($node,
	"SELECT count(*) FROM steward.health_check('vacuum_stale') WHERE object = 'public.churn'",
	'0', 'vacuum_stale: ok after a VACUUM within the threshold');

# ---------------------------------------------------------------------
# The snapshot job: history in a partition set, alerts, NOTIFY
# ---------------------------------------------------------------------
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN steward_health');

make_due($node, 'health_snapshot');
wait_for($node,
	"SELECT count(*) > 0 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'health_snapshot' AND r.status = 'succeeded'",
	't', 'the health_snapshot job ran');
is(sql("SELECT count(*) FROM steward.partition_set WHERE parent = 'steward.health_history'::regclass"),
	'1', 'steward.health_history became a partition set');
is(sql("SELECT retention FROM steward.partition_set WHERE parent = 'steward.health_history'::regclass"),
	'30 days', 'kept steward.health_history_retention');
is(sql("SELECT count(*) FROM steward.health_history_default"), '0', 'no rows in the default partition');
is(sql("SELECT count(*) FROM steward.health_history WHERE kind = 'result' AND check_name = 'idle_in_transaction'
         AND object = 'pid $holder_pid'"), '1', 'history: the idle transaction');
is(sql("SELECT count(*) >= 8 FROM steward.health_history WHERE kind = 'gauge'"), 't', 'history: the gauges');
is(sql("SELECT status FROM steward.alert WHERE check_name = 'idle_in_transaction' AND object = 'pid $holder_pid'
         AND resolved_at IS NULL"), 'warning', 'an alert is open for the idle transaction');
is(sql("SELECT status FROM steward.alert WHERE check_name = 'wal_archiving' AND resolved_at IS NULL"),
	'critical', 'an alert is open for the archiver');
my $notes = $listener->query_safe('SELECT 1');

# resolve: end the holder, the waiter and the sleeper, commit the prepared transaction
sql("SELECT pg_terminate_backend($holder_pid); SELECT pg_cancel_backend($sleeper_pid)");
sql(q{COMMIT PREPARED 'it''s "prepared"'});
wait_for($node, "SELECT count(*) FROM steward.lock_tree", '0', 'no lock waits left');
my $p = sql("SELECT max(run_id) FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'health_snapshot'");
make_due($node, 'health_snapshot');
wait_for($node,
	"SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'health_snapshot' AND r.status = 'succeeded' AND r.run_id > $p",
	'1', 'the health_snapshot job ran again');
is(sql("SELECT resolved_at IS NOT NULL FROM steward.alert WHERE check_name = 'idle_in_transaction' AND object = 'pid $holder_pid'"),
	't', 'the idle transaction\'s alert is resolved');
is(sql("SELECT resolved_at IS NOT NULL FROM steward.alert WHERE check_name = 'prepared_transactions'"),
	't', 'the prepared transaction\'s alert is resolved');
is(sql("SELECT count(*) FROM steward.alert WHERE check_name = 'wal_archiving' AND resolved_at IS NULL"),
	'1', 'the archiver\'s alert stays open');

# the notifications, as psql prints them after its next statement
$notes .= $listener->query_safe('SELECT 1');
like($notes, qr/Asynchronous notification "steward_health" with payload "\{"event" : "opened", "alert_id" : \d+, "check" : "idle_in_transaction", "object" : "pid $holder_pid", "status" : "warning"/,
	'NOTIFY steward_health: opened');
like($notes, qr/"event" : "resolved", "alert_id" : \d+, "check" : "idle_in_transaction", "object" : "pid $holder_pid", "status" : "ok", "previous_status" : "warning"/,
	'NOTIFY steward_health: resolved');

# ---------------------------------------------------------------------
# Prometheus: the metrics pass promtool
# ---------------------------------------------------------------------
SKIP:
{
	skip 'promtool (Debian package prometheus) is not installed', 2
	  unless system('promtool --version >/dev/null 2>&1') == 0;
	my $metrics = sql('SELECT steward.metrics()');
	my $file = "$PostgreSQL::Test::Utils::tmp_check/metrics.txt";
	open(my $fh, '>', $file) or die $!;
	print $fh $metrics, "\n";
	close $fh;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', $file, '>', \$stdout, '2>', \$stderr);
	ok($ok, 'promtool check metrics passes') or diag($stdout . $stderr);
	like($metrics, qr/^steward_health_status\{check="wal_archiving",object="archiver"\} 2$/m,
		'metrics: the archiver is critical (2)');
}

# sessions that were cancelled or terminated may complain on the way out
for my $session ($waiter, $sleeper, $listener, $prep, $holder)
{
	eval { $session->quit };
}
$node->stop;
done_testing();
