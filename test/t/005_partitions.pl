# Partition maintenance by the worker: the built-in job maintains every set,
# each in its own transaction, and detaches concurrently where asked.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use StewardTest;

my $node = steward_node('partitions', settings => { max_worker_processes => 16 });
my $db = 'postgres';
sub sql { return $node->safe_psql($db, $_[0]); }

sql(q{
	CREATE TABLE conc (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	CREATE TABLE dropped (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
	CREATE TABLE ahead (id bigint NOT NULL) PARTITION BY RANGE (id);
	SELECT steward.partition_table('conc', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '6 days')::text, retention => '3 days',
	       retention_mode => 'detach_concurrently', default_partition => false);
	SELECT steward.partition_table('dropped', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '6 days')::text, retention => '3 days');
	SELECT steward.partition_table('ahead', 'id', '1000', premake => 2);
	INSERT INTO ahead SELECT generate_series(1, 2500);
});

# Called from SQL, concurrent detaching is left to the worker.
like(sql("SELECT message FROM steward.partition_maintain('conc')"),
	qr/left to the worker/, 'partition_maintain() leaves DETACH CONCURRENTLY to the worker');

# The built-in job, run now (without waiting: DETACH ... CONCURRENTLY waits
# for older transactions, which would include ours).
sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node,
	"SELECT last_status = 'succeeded' FROM steward.jobs WHERE name = 'partition_maintenance'", 't',
	'maintenance job succeeded', $db);
like(sql("SELECT last_message FROM steward.jobs WHERE name = 'partition_maintenance'"),
	qr/3 sets maintained/, 'job message counts the sets');

is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'conc'::regclass"), '5',
	'old partitions of conc are detached');
is(sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'conc_p%' AND relkind = 'r' AND NOT relispartition"),
	'3', 'and kept as plain tables');
is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'dropped'::regclass"), '6',
	'old partitions of dropped are dropped (5 days + default)');
is(sql("SELECT count(*) FROM ONLY ahead_default"), '0',
	'id set: rows that outran premake were moved out of the default partition');
is(sql("SELECT periods_ahead FROM steward.partition_status WHERE parent = 'ahead'::regclass"), '2',
	'id set: premade ahead of the largest id');

# --- detach_concurrently on a set with a default partition ---
# PostgreSQL refuses DETACH ... CONCURRENTLY while a default partition
# exists: the worker detaches with a plain DETACH under the lock timeout and
# says so.  Rows far ahead of premake that landed in the default partition
# are drained into their own partition, one period per transaction.
sql(q{
	CREATE TABLE concdef (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('concdef', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '6 days')::text, retention => '3 days',
	       retention_mode => 'detach_concurrently');
	INSERT INTO concdef SELECT now() + interval '30 days', g FROM generate_series(1, 25000) g;
	INSERT INTO concdef SELECT now() + interval '40 days', g FROM generate_series(1, 10) g;
});
my $rid = sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node, "SELECT status <> 'running' FROM steward.job_run WHERE run_id = $rid", 't',
	'maintenance run finished', $db);
is(sql("SELECT status FROM steward.job_run WHERE run_id = $rid"), 'succeeded',
	'maintenance of a detach_concurrently set with a default partition succeeded')
  or diag(sql("SELECT message, detail FROM steward.job_run WHERE run_id = $rid"));
like(sql("SELECT message FROM steward.job_run WHERE run_id = $rid"),
	qr/, 3 detached, 25010 rows drained/, 'old partitions detached and default rows drained');
like(sql("SELECT last_message FROM steward.partition_status WHERE parent = 'concdef'::regclass"),
	qr/without CONCURRENTLY: PostgreSQL cannot detach concurrently while the set has a default partition/,
	'the set says why it detached without CONCURRENTLY');
is(sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'concdef_p%' AND relkind = 'r' AND NOT relispartition"),
	'3', 'the detached partitions are kept as plain tables');
is(sql("SELECT count(*) FROM ONLY concdef_default"), '0', 'the default partition was drained');
is(sql("SELECT count(*) FROM concdef"), '25010', 'no row was lost');
is(sql("SELECT count(DISTINCT tableoid) FROM concdef"), '2', 'into one partition per period');

# --- an interrupted DETACH ... CONCURRENTLY is finished by maintenance ---
sql(q{
	CREATE TABLE pend (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('pend', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '2 days')::text, retention => '30 days',
	       retention_mode => 'detach_concurrently', default_partition => false);
});
my $victim = sql("SELECT relname FROM pg_class WHERE relname LIKE 'pend_p%' ORDER BY relname LIMIT 1");
my $reader = $node->background_psql($db);
$reader->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pend;");
my ($ret, $out, $err) = $node->psql($db,
	"SET statement_timeout = '300ms'; ALTER TABLE pend DETACH PARTITION $victim CONCURRENTLY");
like($err, qr/statement timeout/, 'a concurrent detach waiting for an old snapshot is cancelled');
is(sql("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = '$victim'::regclass"), 't',
	'and left pending');
is(sql("SELECT count(*) FROM steward.partition_status WHERE parent = 'pend'::regclass AND partitions = 3"), '1',
	'the pending partition no longer counts as part of the set');
$reader->query_safe("COMMIT");
$reader->quit;
sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node,
	"SELECT count(*) = 0 FROM pg_inherits WHERE inhrelid = '$victim'::regclass", 't',
	'maintenance finished the pending detach (FINALIZE)', $db);
is(sql("SELECT relispartition FROM pg_class WHERE relname = '$victim'"), 'f',
	'the partition is now a plain table');

# --- a large default partition is not scanned under ACCESS EXCLUSIVE ---
# The worker excludes the new ranges from the default partition with a
# constraint validated beforehand, so ATTACH can skip its scan (PostgreSQL
# says so at DEBUG1).
sql(q{
	CREATE TABLE bigdef (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('bigdef', 'ts', '1 day', premake => 1);
	INSERT INTO bigdef SELECT now() - interval '100 days', g FROM generate_series(1, 50000) g;
	SELECT steward.partition_alter('bigdef', premake => 3);
	-- same, but a row of a new period already sits in the default partition:
	-- validation fails, the constraint goes, the row is moved as usual
	CREATE TABLE bigdef2 (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('bigdef2', 'ts', '1 day', premake => 1);
	INSERT INTO bigdef2 SELECT now() - interval '100 days', g FROM generate_series(1, 50000) g;
	INSERT INTO bigdef2 VALUES (date_trunc('day', now()) + interval '3 days 12 hours', -1);
	SELECT steward.partition_alter('bigdef2', premake => 3);
	ALTER SYSTEM SET log_min_messages = debug1;
	SELECT pg_reload_conf();
});
my $logpos = -s $node->logfile;
$rid = sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node, "SELECT status <> 'running' FROM steward.job_run WHERE run_id = $rid", 't',
	'maintenance with a large default partition finished', $db);
sql("ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf()");
is(sql("SELECT status FROM steward.job_run WHERE run_id = $rid"), 'succeeded', 'and succeeded')
  or diag(sql("SELECT message, detail FROM steward.job_run WHERE run_id = $rid"));
my $log = slurp_file($node->logfile, $logpos);
like($log, qr/updated partition constraint for default partition "bigdef_default" is implied by existing constraints/,
	'attaching new partitions did not scan the default partition');
is(sql("SELECT count(*) FROM pg_constraint WHERE conname = 'steward_premake_exclusion'"), '0',
	'the exclusion constraint is gone afterwards');
is(sql("SELECT periods_ahead FROM steward.partition_status WHERE parent = 'bigdef'::regclass"), '3',
	'the new partitions were created');
is(sql("SELECT count(*) FROM bigdef"), '50000', 'no row was lost');
unlike($log, qr/default partition "bigdef2_default" is implied/,
	'a default partition holding rows of a new period is not excluded');
is(sql("SELECT count(*) FROM bigdef2 WHERE v = -1 AND tableoid <> 'bigdef2_default'::regclass"), '1',
	'its row was moved into the new partition');
is(sql("SELECT count(*) FROM bigdef2"), '50001', 'no row of that set was lost either');

# --- the exclusion constraint never outlives a failed attach ---
# A writer holds ROW EXCLUSIVE on the parent, so the worker's attach waits
# for its lock and fails; once the constraint is validated the writer also
# reads the default partition, which blocks dropping the constraint for the
# same reason.  The worker must keep trying until the writer is done,
# because the constraint rejects inserts of its range while it stands.
sql(q{
	CREATE TABLE bigdef3 (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('bigdef3', 'ts', '1 day', premake => 1);
	INSERT INTO bigdef3 SELECT now() - interval '100 days', g FROM generate_series(1, 50000) g;
	SELECT steward.partition_alter('bigdef3', premake => 3);
});
sql("ALTER DATABASE $db SET steward.partition_lock_timeout = 500");
my $writer = $node->background_psql($db);
$writer->query_safe("BEGIN; INSERT INTO bigdef3 VALUES (now(), 0);");
$rid = sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node,
	"SELECT count(*) = 1 FROM pg_constraint WHERE conname = 'steward_premake_exclusion'
	    AND conrelid = 'bigdef3_default'::regclass AND convalidated", 't',
	'the worker validated the exclusion constraint', $db);
$writer->query_safe("SELECT count(*) FROM ONLY bigdef3_default;");
# Count the worker's tries to drop it (each waits on the lock anew); one
# round of the lock-timeout retries is 4 tries.
my %tries;
my $ended = 0;
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	my $w = sql("SELECT string_agg(waitstart::text, ',') FROM pg_locks
	              WHERE relation = 'bigdef3_default'::regclass
	                AND mode = 'AccessExclusiveLock' AND NOT granted");
	$tries{$w} = 1 if $w ne '';
	$ended = sql("SELECT status <> 'running' FROM steward.job_run WHERE run_id = $rid") eq 't';
	last if $ended || keys(%tries) >= 6;
	usleep(100_000);
}
ok(!$ended && keys(%tries) >= 6,
	'after the failed attach the worker keeps trying to drop the constraint past one round of retries');
$writer->query_safe("COMMIT");
$writer->quit;
wait_for($node, "SELECT status <> 'running' FROM steward.job_run WHERE run_id = $rid", 't',
	'the run ended', $db);
sql("ALTER DATABASE $db RESET steward.partition_lock_timeout");
is(sql("SELECT count(*) FROM pg_constraint WHERE conname = 'steward_premake_exclusion'"), '0',
	'the exclusion constraint is gone although its lock was held past the attach');
like(sql("SELECT last_message FROM steward.partition_status WHERE parent = 'bigdef3'::regclass"),
	qr/could not get a lock .* LOCK TABLE ONLY public\.bigdef3/, 'the set reports the lock it could not get');
sql("INSERT INTO bigdef3 VALUES (date_trunc('day', now()) + interval '3 days', 1)");
sql("SELECT steward.partition_forget('bigdef3'); DROP TABLE bigdef3");

# One set failing does not stop the others: 'dropped' gets a broken step,
# while 'late' lost a partition that maintenance must re-create.
sql("UPDATE steward.partition_set SET step = 'not a step' WHERE parent = 'dropped'::regclass");
sql("CREATE TABLE late (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)");
sql("SELECT steward.partition_table('late', 'ts', '1 day', premake => 1)");
sql("ALTER TABLE late DETACH PARTITION " . sql("SELECT relname FROM pg_class WHERE relname LIKE 'late_p%' ORDER BY relname DESC LIMIT 1"));
sql("SELECT steward.run_job('partition_maintenance', wait => false)");
wait_for($node,
	"SELECT last_status = 'failed' FROM steward.jobs WHERE name = 'partition_maintenance'", 't',
	'a failing set makes the run fail', $db);
like(sql("SELECT last_message FROM steward.jobs WHERE name = 'partition_maintenance'"),
	qr/1 of 8 partition sets failed/, 'the message says which part failed');
is(sql("SELECT last_status FROM steward.partition_status WHERE parent = 'late'::regclass"), 'ok',
	'the other sets were maintained');
is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'late'::regclass"), '3',
	'the missing partition of late was re-created');

# Row retention of a plain table, by the worker, in batches.
sql(q{
	CREATE TABLE notes (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
	CREATE INDEX ON notes (at);
	INSERT INTO notes (at) SELECT now() - g * interval '1 minute' FROM generate_series(1, 5000) g;
	SELECT steward.retention_add('notes', 'at', '1 hour', batch_rows => 1000);
	CREATE TABLE "we""ird" (at timestamptz);
	INSERT INTO "we""ird" VALUES (now() - interval '2 hours');
	SELECT steward.retention_add('"we""ird"', 'at', '1 hour');
});
sql("SELECT steward.run_job('row_retention')");
is(sql("SELECT count(*) FROM notes"), '59', 'row_retention deleted the expired rows');
is(sql("SELECT last_status || ': ' || last_message FROM steward.jobs WHERE name = 'row_retention'"),
	'succeeded: deleted 4942 rows from 2 tables', 'the job reports the rows deleted');
is(sql(q{SELECT detail->>'public."we""ird"' FROM steward.job_run r JOIN steward.job j USING (job_id)
         WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1}),
	'1', 'a table name with a double quote is escaped in the run detail');
is(sql("SELECT detail->>'public.notes' FROM steward.job_run r JOIN steward.job j USING (job_id)
         WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1"),
	'4941', 'and the rows per table in the run detail');

# --- writers go on while maintenance moves rows and attaches ---
# Four pgbench clients insert rows across the set's range, many of them
# into periods that have no partition yet (so into the default partition),
# while maintenance creates those periods, moves their rows out of the
# default partition and drains it.  No client may fail, no maintenance may
# fail, and no row may be lost.
sql(q{
	CREATE TABLE busy (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('busy', 'ts', '1 hour', premake => 1,
	       start_at => (now() - interval '2 hours')::text);
});
my $script = $node->basedir . '/busy.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"\\set d random(-3600, 30 * 3600)\n" .
	"INSERT INTO busy VALUES (now() + :d * interval '1 second', 1);\n");
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '6', '-f', $script,
	  '-h', $node->host, '-p', $node->port, $db ],
	'>', \$bench_out, '2>', \$bench_err);
my @statuses;
for my $premake (2 .. 30)
{
	sql("SELECT steward.partition_alter('busy', premake => $premake)");
	push @statuses, sql("SELECT status || coalesce(': ' || message, '') FROM steward.partition_maintain('busy')");
}
sql("SELECT steward.partition_drain_default('busy')");
$bench->finish;
is($bench->result(0), 0, 'no pgbench client failed while maintenance attached partitions')
	or diag($bench_err);
like($bench_out, qr/number of failed transactions: 0/, 'pgbench counts no failed transaction');
is(join(', ', grep { !/^ok/ } @statuses), '', 'every maintenance round succeeded');
my ($inserted) = $bench_out =~ /number of transactions actually processed: (\d+)/;
ok($inserted > 100, "pgbench inserted rows ($inserted)");
is(sql("SELECT count(*) FROM busy"), $inserted, 'every inserted row is in the set');
is(sql("SELECT count(*) FROM ONLY busy_default WHERE ts < date_trunc('hour', now()) + interval '31 hours'"), '0',
	'and the default partition was drained');

# --- a set skipped because it is locked says so ---
my $holder = $node->background_psql($db);
$holder->query_safe("BEGIN; LOCK TABLE ONLY busy IN SHARE UPDATE EXCLUSIVE MODE;");
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT last_status, skipped_runs, last_ok_at IS NOT NULL FROM steward.partition_status WHERE parent = 'busy'::regclass"),
	'skipped|1|t', 'a locked set is reported skipped, with its last successful maintenance');
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT skipped_runs FROM steward.partition_state WHERE parent = 'busy'::regclass"), '2',
	'skips are counted');
$holder->query_safe("COMMIT");
$holder->quit;
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT last_status, skipped_runs, last_ok_at > now() - interval '1 minute' FROM steward.partition_status WHERE parent = 'busy'::regclass"),
	'ok|0|t', 'the next maintenance resets the count');

# --- the job does not write the state of a set it finds quiet ---
sql(q{
	CREATE TABLE calm (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('calm', 'ts', '1 day', premake => 2);
});
sql("SELECT steward.run_job('partition_maintenance')");
my $row = sql("SELECT xmin FROM steward.partition_state WHERE parent = 'calm'::regclass");
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT xmin FROM steward.partition_state WHERE parent = 'calm'::regclass"), $row,
	"a quiet set's state is not written again by the job");
is(sql("SELECT v.last_status || ' ' || (v.last_maintained_at = w.swept_at AND v.last_ok_at = w.swept_at)
          FROM steward.partition_status v, steward.partition_sweep w
         WHERE w.runner = 0 AND v.parent = 'calm'::regclass"), 'ok true',
	"partition_status dates it with the job's last run");

$node->stop;
done_testing();
