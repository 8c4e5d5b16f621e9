# The scheduler end to end: repeated runs, timeouts, retries with backoff,
# no overlap, max_workers, cancellation, crashes, catch-up after restart,
# reloads, and databases coming and going.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('scheduler',
	settings => {
		max_worker_processes => 32,
		restart_after_crash => 'on',
		# production-like WAL: a crash must not lose sequence state
		wal_level => 'replica',
	});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub runs
{
	my ($job, $cols) = @_;
	return sql("SELECT $cols FROM (SELECT r.* FROM steward.job_run r JOIN steward.job j USING (job_id)
	                             WHERE j.job_name = '$job' ORDER BY run_id) r");
}

# --- a '1 seconds' job runs repeatedly, anchored on its due times ---
sql("SELECT steward.schedule('tick', '1 seconds', 'SELECT 1')");
wait_for($node,
	"SELECT count(*) >= 4 FROM steward.job_run WHERE status = 'succeeded'", 't',
	'1-second job ran repeatedly');
is(sql("SELECT count(DISTINCT (EXTRACT(epoch FROM scheduled_for) * 1000)::bigint % 1000)
        FROM steward.job_run"), '1',
	'due times stay one whole second apart (no drift)');
sql("SELECT steward.unschedule('tick')");

# --- max_runtime: the run is cancelled and ends timed_out ---
sql("SELECT steward.schedule('slow', '1 hours', 'SELECT pg_sleep(60)', max_runtime => '1 second')");
make_due($node, 'slow');
wait_for($node,
	"SELECT EXISTS (SELECT FROM steward.job_run WHERE status = 'timed_out')", 't',
	'job exceeding max_runtime ends timed_out');
like(runs('slow', 'message'), qr/max_runtime/, 'timed_out run says why');
is(sql("SELECT (finished_at - started_at) < interval '10 seconds' FROM steward.job_run WHERE status = 'timed_out'"),
	't', 'the timed-out run did not run to completion');
sql("SELECT steward.unschedule('slow')");

# --- failures are retried with backoff, then given up ---
sql("SELECT steward.schedule('flaky', '1 hours', 'SELECT 1/0', max_retries => 2, retry_delay => '1 second')");
make_due($node, 'flaky');
wait_for($node,
	"SELECT count(*) = 3 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'flaky' AND r.status = 'failed'", 't',
	'failing job is tried three times');
is(runs('flaky', "string_agg(attempt::text, ',')"), '1,2,3', 'attempts are numbered');
my ($gap1, $gap2) = split /\|/, sql(
	"SELECT EXTRACT(epoch FROM s2 - f1), EXTRACT(epoch FROM s3 - f2) FROM (
	   SELECT (array_agg(started_at ORDER BY run_id))[2] s2, (array_agg(finished_at ORDER BY run_id))[1] f1,
	          (array_agg(started_at ORDER BY run_id))[3] s3, (array_agg(finished_at ORDER BY run_id))[2] f2
	     FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'flaky') x");
cmp_ok($gap1, '>=', 1.0, "first retry waits retry_delay ($gap1 s)");
cmp_ok($gap2, '>=', 2.0, "second retry waits twice as long ($gap2 s)");
wait_for($node, "SELECT consecutive_failures FROM steward.jobs WHERE name = 'flaky'", '3',
	'consecutive failures are counted');
is(sql("SELECT retry_at IS NULL FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.job_name = 'flaky'"),
	't', 'no retry is pending after max_retries');
wait_for_passes($node, 2);
is(runs('flaky', 'count(*)'), '3', 'no attempt after max_retries');
like(sql("SELECT detail::text FROM steward.job_run WHERE status = 'failed' LIMIT 1"),
	qr/"sqlstate": "22012"/, 'failure detail holds the SQLSTATE');
sql("SELECT steward.unschedule('flaky')");

# --- a runner that cannot start counts its attempts too (max_retries holds) ---
sql("CREATE ROLE cannot_login NOLOGIN;
     GRANT EXECUTE ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool) TO cannot_login;
     SET ROLE cannot_login;
     SELECT steward.schedule('unstartable', '1 hours', 'SELECT 1', max_retries => 1, retry_delay => '1 second');");
make_due($node, 'unstartable');
wait_for($node,
	"SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'unstartable' AND r.status = 'failed'", '2',
	'a job whose runner cannot start is tried 1 + max_retries times');
is(runs('unstartable', "string_agg(attempt::text, ',')"), '1,2', 'and its attempts are numbered');
like(runs('unstartable', 'min(message)'), qr/could not start/, 'the runs say the runner could not start');
wait_for_passes($node, 2);
is(sql("SELECT retry_at IS NULL FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.job_name = 'unstartable'"),
	't', 'then no retry is pending');
is(runs('unstartable', 'count(*)'), '2', 'and none is made');
sql("DELETE FROM steward.job WHERE job_name = 'unstartable';
     REVOKE ALL ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool) FROM cannot_login;
     DROP ROLE cannot_login");

# --- no overlap: due times pass while the job runs ---
sql("SELECT steward.schedule('long', '1 seconds', 'SELECT pg_sleep(2.5)')");
wait_for($node,
	"SELECT skipped_runs >= 3 FROM steward.jobs WHERE name = 'long'", 't',
	'due times during a run are counted as skipped');
sql("SELECT steward.alter_job('long', enabled => false)");
wait_for($node, "SELECT NOT running FROM steward.jobs WHERE name = 'long'", 't',
	'the disabled job finishes its run');
is(sql("SELECT count(*) FROM steward.job_run a JOIN steward.job_run b
        ON a.job_id = b.job_id AND a.run_id < b.run_id
       WHERE b.started_at < a.finished_at"), '0', 'runs of a job never overlap');
sql("SELECT steward.unschedule('long')");

# --- steward.max_workers bounds concurrent runners ---
reload_settings($node, { 'steward.max_workers' => 2, 'steward.max_workers_per_role' => 2 });
sql("SELECT steward.schedule('par' || i, '1 hours', 'SELECT pg_sleep(1)') FROM generate_series(1, 5) i");
make_due($node, "par$_") for 1 .. 5;
wait_for($node,
	"SELECT count(*) = 5 FROM steward.job_run WHERE status = 'succeeded' AND job_id IN
	   (SELECT job_id FROM steward.job WHERE job_name LIKE 'par%')", 't',
	'all five jobs ran');
is(sql("SELECT max(c) FROM (SELECT (SELECT count(*) FROM steward.job_run b
                                  WHERE b.started_at <= a.started_at AND b.finished_at > a.started_at
                                    AND b.job_id IN (SELECT job_id FROM steward.job WHERE job_name LIKE 'par%')) c
                             FROM steward.job_run a
                            WHERE a.job_id IN (SELECT job_id FROM steward.job WHERE job_name LIKE 'par%')) x"),
	'2', 'never more than steward.max_workers runners at once');
sql("SELECT steward.unschedule(job_name) FROM steward.job WHERE job_name LIKE 'par_'");
reload_settings($node, { 'steward.max_workers' => undef, 'steward.max_workers_per_role' => undef }, passes => 0);

# --- a busy runner takes over queued runs of its owner, in a clean session ---
reload_settings($node, { 'steward.max_workers' => 1 });
sql("CREATE TABLE chain_log (job text, pid int, work_mem text, leaked_temp bool, appname text,
                               leaked_other bigint, same_user bool);
     CREATE ROLE chain_role; GRANT INSERT ON chain_log TO chain_role");
# each run leaves a setting, a temporary table, a prepared statement, a
# cursor WITH HOLD, a LISTEN, an advisory lock and a SET ROLE behind
my $chain_cmd = "INSERT INTO chain_log SELECT '%s', pg_backend_pid(), current_setting('work_mem'),
                   to_regclass('pg_temp.leak') IS NOT NULL, current_setting('application_name'),
                   (SELECT count(*) FROM pg_prepared_statements) + (SELECT count(*) FROM pg_cursors)
                   + (SELECT count(*) FROM pg_listening_channels())
                   + (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
                   current_user = session_user;
                 SET work_mem = '77kB'; CREATE TEMP TABLE leak (x int); PREPARE leak_p AS SELECT 1;
                 DECLARE leak_c CURSOR WITH HOLD FOR SELECT 1; LISTEN leak_ch; SELECT pg_advisory_lock(42);
                 SET ROLE chain_role; SELECT pg_sleep(0.3)%s";
sql(sprintf("SELECT steward.schedule('chain$_', '1 hours', \$\$$chain_cmd\$\$)", "chain$_", $_ == 5 ? '; SELECT 1/0' : ''))
  for 1 .. 5;
make_due($node, 'chain_', count => 5, wake => 'chain1');
wait_for($node,
	"SELECT count(*) = 5 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name LIKE 'chain_' AND r.status IN ('succeeded', 'failed')", 't',
	'all queued runs ran with one runner allowed');
is(sql("SELECT count(DISTINCT pid) < 5 FROM chain_log"), 't',
	'a runner took over queued runs instead of exiting');
is(sql("SELECT count(*) FROM chain_log WHERE work_mem = '77kB' OR leaked_temp
         OR appname <> 'pg_steward job ' || job OR leaked_other <> 0 OR NOT same_user"), '0',
	'each run starts with a clean session (settings, temp tables, application_name, prepared statements, cursors, LISTEN, advisory locks, role)');
is(sql("SELECT string_agg(r.pid::text, ',' ORDER BY r.run_id) = string_agg(l.pid::text, ',' ORDER BY r.run_id)
          FROM steward.job_run r JOIN steward.job j USING (job_id) JOIN chain_log l ON l.job = j.job_name"), 't',
	'job_run.pid names the process that ran each run');
# (the scheduler accounts for a finished run at its next pass: wait for it)
wait_for($node, "SELECT last_status || ' ' || consecutive_failures FROM steward.jobs WHERE name = 'chain5'",
	'failed 1', 'the scheduler accounts for runs that a runner took over');
sql("SELECT steward.unschedule(job_name) FROM steward.job WHERE job_name LIKE 'chain_'");

# Capacity goes round: while one database keeps its runner busy with queued
# runs, a run queued in another database gets the runner after the grace
# period instead of waiting for the whole queue.
$node->safe_psql('postgres', 'CREATE DATABASE fair');
$node->safe_psql('fair', 'CREATE EXTENSION pg_steward');
$node->safe_psql('fair', "SELECT steward.schedule('other', '1 hours', 'SELECT 1')");
sql("SELECT steward.schedule('busy' || i, '1 hours', 'SELECT pg_sleep(1)') FROM generate_series(1, 5) i");
wait_for($node,
	"SELECT count(*) FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.job_name = 'other'", '1',
	'the scheduler of the other database has the state of its job', 'fair');
make_due($node, 'busy_', count => 5, wake => 'busy1');
wait_for($node, "SELECT count(*) > 0 FROM steward.job_run WHERE status = 'running'", 't',
	'the busy database started its queue');
make_due($node, 'other', db => 'fair');
wait_for($node,
	"SELECT count(*) = 5 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name LIKE 'busy_' AND r.status = 'succeeded'", 't',
	'the busy database ran its queue');
wait_for($node, "SELECT count(*) = 1 FROM steward.job_run r JOIN steward.job j USING (job_id)
                                     WHERE j.job_name = 'other' AND r.status = 'succeeded'", 't',
	'the other database ran its job', 'fair');
my $other_start = $node->safe_psql('fair',
	"SELECT r.started_at FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'other'");
is(sql("SELECT '$other_start'::timestamptz < max(r.started_at) FROM steward.job_run r
         JOIN steward.job j USING (job_id) WHERE j.job_name LIKE 'busy_'"), 't',
	'the other database did not wait for the whole queue of the busy one');
sql("SELECT steward.unschedule(job_name) FROM steward.job WHERE job_name LIKE 'busy_'");
$node->safe_psql('fair', 'DROP EXTENSION pg_steward');
$node->safe_psql('postgres', 'DROP DATABASE fair');

# A run still waiting in the queue when the server stops keeps its due time
# and runs once after the restart.
sql("CREATE TABLE patient_log (at timestamptz)");
sql("SELECT steward.schedule('hog', '1 hours', 'SELECT pg_sleep(60)')");
sql("SELECT steward.schedule('patient', '1 hours', 'INSERT INTO patient_log VALUES (now())')");
make_due($node, 'hog');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'hog'", 't', 'the first job is running');
make_due($node, 'patient');
wait_for($node,
	"SELECT s.next_run_at > now() FROM steward.job_state s JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'patient'", 't',
	'the second job is queued behind the first (its next due time moved on)');
wait_for_passes($node, 2);
is(sql("SELECT count(*) FROM patient_log"), '0', 'and has not run');
$node->restart;
wait_for($node, "SELECT count(*) = 1 FROM patient_log", 't',
	'the run that waited in the queue at shutdown ran after the restart');
sql("SELECT steward.unschedule('hog'), steward.unschedule('patient')");
reload_settings($node, { 'steward.max_workers' => undef }, passes => 0);

# --- SIGTERM of the scheduler cancels its runners; the launcher restarts it ---
sql("SELECT steward.schedule('sleeper', '1 hours', 'SELECT pg_sleep(60)')");
make_due($node, 'sleeper');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'sleeper'", 't', 'the sleeper is running');
my $sched_pid = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler'");
sql("SELECT pg_terminate_backend($sched_pid)");
wait_for($node,
	"SELECT last_status = 'cancelled' FROM steward.jobs WHERE name = 'sleeper'", 't',
	'runs of a terminated scheduler end cancelled');
wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND pid <> $sched_pid", 't',
	'launcher starts a new scheduler');

# --- kill -9 of a runner: crash restart, run marked crashed, scheduler resumes ---
make_due($node, 'sleeper');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'sleeper'", 't', 'the sleeper is running');
my $runner_pid = sql("SELECT pid FROM steward.job_run WHERE status = 'running'");
kill 'KILL', $runner_pid;
wait_for($node,
	"SELECT status = 'crashed' FROM steward.job_run WHERE pid = $runner_pid", 't',
	'run of a killed runner is marked crashed after the restart');
sql("SELECT steward.unschedule('sleeper')");
sql("SELECT steward.schedule('after-crash', '1 seconds', 'SELECT 1')");
wait_for($node,
	"SELECT count(*) >= 2 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'after-crash' AND status = 'succeeded'", 't',
	'scheduler resumes after the crash');
sql("SELECT steward.unschedule('after-crash')");

# --- a due time missed while the server was down runs once after start ---
sql("SELECT steward.schedule('hourly', '0 * * * *', 'SELECT 1')");
wait_for($node,
	"SELECT EXISTS (SELECT FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.job_name = 'hourly')", 't',
	'the scheduler has the state of the hourly job');
reload_settings($node, { 'steward.enabled' => 'off' });
my $p = scheduler_passes($node);
sql("UPDATE steward.job_state SET next_run_at = date_trunc('hour', now()) - interval '3 hours'
     FROM steward.job j WHERE j.job_id = job_state.job_id AND j.job_name = 'hourly'");
wait_for_passes($node, 2, from => $p);
is(runs('hourly', 'count(*)'), '0', 'nothing runs while steward.enabled is off')
  or diag(sql("SELECT string_agg(r::text, E'\\n') FROM steward.job_run r")
	  . "\n" . sql("SELECT string_agg(s::text, E'\\n') FROM steward.job_state s"));
# steward.enabled = off (set by ALTER SYSTEM) holds across a restart: the
# new scheduler passes over the missed due time without running it.
$node->restart;
is(sql("SELECT current_setting('steward.enabled')"), 'off', 'steward.enabled is still off after a restart');
wait_for_passes($node, 2, from => 0, name => 'the new scheduler completed two passes');
is(runs('hourly', 'count(*)'), '0', 'nothing runs after the restart while steward.enabled is off');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT steward.run_job('hourly')");
like($err, qr/cannot run a job while steward\.enabled is off/, 'run_job() starts nothing while steward.enabled is off');
is(runs('hourly', 'count(*)'), '0', 'and runs nothing');
reload_settings($node, { 'steward.enabled' => undef }, passes => 0);
wait_for($node,
	"SELECT count(*) = 1 FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'hourly'", 't',
	'missed run is caught up after restart');
wait_for_passes($node, 2);
is(runs('hourly', 'count(*)'), '1', 'caught up once, not once per missed tick');
is(sql("SELECT next_run_at > now() FROM steward.jobs WHERE name = 'hourly'"), 't',
	'then the schedule continues from now');
sql("SELECT steward.unschedule('hourly')");

# --- history is pruned by the scheduler, in batches ---
sql("INSERT INTO steward.job_run (job_id, started_at, finished_at, status)
     SELECT 0, now() - interval '3 days', now() - interval '3 days', 'succeeded'
       FROM generate_series(1, 2500)");
reload_settings($node, { 'steward.job_history_retention' => '2d' }, passes => 0);
my $spid = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler'");
sql("SELECT pg_terminate_backend($spid)");    # a new scheduler prunes at once
wait_for($node,
	"SELECT count(*) = 0 FROM steward.job_run WHERE finished_at < now() - interval '2 days'", 't',
	'runs older than steward.job_history_retention are pruned');
cmp_ok(sql("SELECT count(*) FROM steward.job_run"), '>', 0, 'recent history is kept');
reload_settings($node, { 'steward.job_history_retention' => undef }, passes => 0);

# --- SIGHUP reloads settings ---
reload_settings($node, { 'steward.naptime' => '2s' });
sql("SELECT steward.schedule('hup', '1 seconds', 'SELECT 1')");
wait_for($node,
	"SELECT count(*) >= 2 FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'hup'", 't',
	'jobs keep running after a reload');
sql("SELECT steward.unschedule('hup')");
reload_settings($node, { 'steward.naptime' => undef }, passes => 0);

# --- CREATE EXTENSION starts a scheduler; DROP EXTENSION stops it ---
# The launcher starts a scheduler in a new database; finding no extension,
# it exits and is not started again until CREATE EXTENSION (or a new probe
# minutes later).
my $logpos = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE app');
my $no_ext = qr/pg_steward scheduler exiting: extension is not installed in database "app"/;
wait_for_logged($node, $no_ext, $logpos, 'a scheduler probed the new database and found no extension');
wait_for($node,
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app'", '0',
	'no scheduler stays in a database without the extension');
wait_for_passes($node, 2);
is(scalar(() = slurp_file($node->logfile, $logpos) =~ /$no_ext/g), 1,
	'and none is started there again');
$node->safe_psql('app', 'CREATE EXTENSION pg_steward');
wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app'", 't',
	'CREATE EXTENSION starts a scheduler');
$node->safe_psql('app', "SELECT steward.schedule('app-job', '1 seconds', 'SELECT pg_sleep(0.5)')");
wait_for($node, "SELECT count(*) >= 1 FROM steward.job_run", 't', 'job runs in the new database', 'app');

# CREATE DATABASE ... TEMPLATE of a database with a scheduler works.
$node->safe_psql('postgres', 'CREATE DATABASE app_copy TEMPLATE app');
is(sql("SELECT count(*) FROM pg_database WHERE datname = 'app_copy'"), '1',
	'CREATE DATABASE ... TEMPLATE a served database succeeds');
wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app'", 't',
	'the template database is served again afterwards');

wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app_copy'", 't',
	'the copy gets its own scheduler');
$node->safe_psql('app_copy', 'DROP EXTENSION pg_steward');
wait_for($node,
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app_copy'", 't',
	'DROP EXTENSION stops the scheduler');

# steward.database_list limits the databases served (reloaded on SIGHUP).
reload_settings($node, { 'steward.database_list' => 'postgres' }, passes => 0);
wait_for($node,
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app'", 't',
	'a database removed from steward.database_list loses its scheduler');
reload_settings($node, { 'steward.database_list' => undef }, passes => 0);
wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app'", 't',
	'and gets it back when listed again');

# ALTER DATABASE ... RENAME of a served database.
my $ret;
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE app RENAME TO app2');
is($ret, 0, 'ALTER DATABASE ... RENAME of a served database succeeds') or diag($err);
wait_for($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app2'", 't',
	'the renamed database is served again');
my $app2_sched = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'app2'");
like(slurp_file("/proc/$app2_sched/cmdline"), qr/pg_steward scheduler app2/,
	'its process title has the new name');

# DROP DATABASE (no FORCE) while its scheduler and a runner are active.
wait_for($node,
	"SELECT count(*) >= 1 FROM pg_stat_activity WHERE datname = 'app2' AND application_name LIKE 'pg_steward job%'", 't',
	'a job of app2 is running');
my $app2_oid = sql("SELECT oid FROM pg_database WHERE datname = 'app2'");
$logpos = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE app2');
is($ret, 0, 'DROP DATABASE of a served database succeeds') or diag($err);
wait_for_passes($node, 2);
is(sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'app2' OR datid = $app2_oid"), '0',
	'nothing reconnects to it');
unlike(slurp_file($node->logfile, $logpos), qr/database (\"app2\"|$app2_oid) does not exist/,
	'nothing tries to');

# --- issue 9: faults and failed statements ---

# A DROP DATABASE that fails (not the owner; others connected) leaves the
# database's scheduler, running jobs and queued runs alone.
$node->safe_psql('postgres', 'CREATE DATABASE t1');
$node->safe_psql('t1', 'CREATE EXTENSION pg_steward');
create_roles($node, ['mallory']);
reload_settings($node, { 'steward.max_workers' => 1 }, db => 't1');
$node->safe_psql('t1', "CREATE TABLE t1_log (job text)");
$node->safe_psql('t1', "SELECT steward.schedule('t1-hog', '1 hours', \$\$SELECT pg_sleep(4); INSERT INTO t1_log VALUES ('hog')\$\$)");
$node->safe_psql('t1', "SELECT steward.schedule('t1-queued', '1 hours', \$\$INSERT INTO t1_log VALUES ('queued')\$\$)");
make_due($node, 't1-hog', db => 't1');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 't1-hog'", 't', 't1-hog is running', 't1');
make_due($node, 't1-queued', db => 't1');
wait_for($node, "SELECT s.next_run_at > now() FROM steward.job_state s JOIN steward.job j USING (job_id)
                  WHERE j.job_name = 't1-queued'", 't', 't1-queued is queued behind it', 't1');
my $t1_sched = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 't1'");
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE t1', extra_params => [ '-U', 'mallory' ]);
like($err, qr/must be owner of database t1/, 'a DROP DATABASE without rights fails');
my $visitor = $node->background_psql('t1');
$visitor->query_safe('SELECT 1');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE t1');
like($err, qr/is being accessed by other users/, 'a DROP DATABASE while others are connected fails');
$visitor->quit;
($ret, $out, $err) = $node->psql('postgres', 'BEGIN; DROP DATABASE t1; COMMIT');
like($err, qr/cannot run inside a transaction block/, 'a DROP DATABASE in a transaction block fails');
$node->safe_psql('postgres', 'CREATE DATABASE t1_taken');
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE t1 RENAME TO t1_taken');
like($err, qr/already exists/, 'a rename to a name in use fails');
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE t1_taken TEMPLATE t1');
like($err, qr/already exists/, 'a CREATE DATABASE with a name in use fails');
$node->safe_psql('postgres', 'DROP DATABASE t1_taken');
wait_for($node, "SELECT count(*) = 2 FROM t1_log", 't',
	'the running job finished and the queued run ran', 't1');
is($node->safe_psql('t1', "SELECT string_agg(status, ',' ORDER BY run_id) FROM steward.job_run r
                          JOIN steward.job j USING (job_id) WHERE j.job_name LIKE 't1-%'"),
	'succeeded,succeeded', 'neither was cancelled');
is(sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 't1'"),
	$t1_sched, 'the scheduler was not stopped');

# A RENAME that goes ahead stops the scheduler, which keeps its queued runs
# as due: they run after the rename.
$node->safe_psql('t1', "TRUNCATE t1_log");
make_due($node, 't1-hog', db => 't1');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 't1-hog'", 't', 't1-hog is running', 't1');
make_due($node, 't1-queued', db => 't1');
wait_for($node, "SELECT s.next_run_at > now() FROM steward.job_state s JOIN steward.job j USING (job_id)
                  WHERE j.job_name = 't1-queued'", 't', 't1-queued is queued behind it', 't1');
sql('ALTER DATABASE t1 RENAME TO t1r');
wait_for($node, "SELECT count(*) >= 1 FROM t1_log WHERE job = 'queued'", 't',
	'a run queued when the database was renamed runs afterwards', 't1r');
reload_settings($node, { 'steward.max_workers' => undef }, passes => 0);

# DROP EXTENSION stops the database's runners; a new CREATE EXTENSION starts
# clean (ids start again at 1, and nothing old is taken for running).
$node->safe_psql('t1r', "SELECT steward.schedule('old-sleeper', '1 hours', 'SELECT pg_sleep(60)')");
$node->safe_psql('t1r', "SELECT steward.run_job('old-sleeper', wait => false)");
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'old-sleeper'", 't', 'old-sleeper is running', 't1r');
$node->safe_psql('t1r', 'DROP EXTENSION pg_steward');
wait_for($node,
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 't1r' AND backend_type = 'pg_steward runner'", 't',
	'DROP EXTENSION stops the runners of the database');
$node->safe_psql('t1r', 'CREATE EXTENSION pg_steward');
$node->safe_psql('t1r', "SELECT steward.schedule('new-tick', '1 seconds', 'SELECT 1')");
wait_for($node,
	"SELECT count(*) >= 2 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'new-tick' AND status = 'succeeded'", 't',
	'jobs of the new extension run', 't1r');
is($node->safe_psql('t1r', "SELECT skipped_runs FROM steward.jobs WHERE name = 'new-tick'"), '0',
	'and none is taken for running by the old runner');

# The same when the extension is dropped and created again in one
# transaction: the old runner and scheduler go, a new scheduler comes.
$node->safe_psql('t1r', "SELECT steward.unschedule('new-tick');
                         SELECT steward.schedule('old-sleeper2', '1 hours', 'SELECT pg_sleep(3600)')");
$node->safe_psql('t1r', "SELECT steward.run_job('old-sleeper2', wait => false)");
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'old-sleeper2'", 't', 'old-sleeper2 is running', 't1r');
$node->safe_psql('t1r', "BEGIN; DROP EXTENSION pg_steward; CREATE EXTENSION pg_steward;
                         SELECT steward.schedule('newer-tick', '1 seconds', 'SELECT 1'); COMMIT;");
wait_for($node,
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 't1r' AND query LIKE '%pg_sleep(3600)%'", 't',
	'DROP and CREATE EXTENSION in one transaction stop the old runners');
wait_for($node,
	"SELECT count(*) >= 2 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'newer-tick' AND status = 'succeeded'", 't',
	'and a new scheduler runs the new jobs', 't1r');
is($node->safe_psql('t1r', "SELECT count(*) FROM steward.job_run WHERE status = 'running' AND job_id <> (SELECT job_id FROM steward.job WHERE job_name = 'newer-tick')"),
	'0', 'no old run shows up in the new history');
$node->safe_psql('t1r', 'DROP EXTENSION pg_steward');
$node->safe_psql('postgres', 'DROP DATABASE t1r');

# DROP DATABASE ... WITH (FORCE) by the database's owner that is bound to
# fail (a superuser's session is there) leaves the running jobs alone.
sql("CREATE ROLE force_owner LOGIN; CREATE DATABASE forcedb OWNER force_owner");
$node->safe_psql('forcedb', "CREATE EXTENSION pg_steward;
                             SELECT steward.schedule('su-sleeper', '1 hours', 'SELECT pg_sleep(3600)')");
$node->safe_psql('forcedb', "SELECT steward.run_job('su-sleeper', wait => false)");
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'su-sleeper'", 't', 'su-sleeper is running', 'forcedb');
my $su = $node->background_psql('forcedb');
$su->query_safe("SELECT 1");
my ($fret, $fout, $ferr) = $node->psql('postgres', 'DROP DATABASE forcedb WITH (FORCE)',
	extra_params => [ '-U', 'force_owner' ]);
like($ferr, qr/must be a superuser to terminate superuser process/, 'the FORCE drop of the owner fails');
is($node->safe_psql('forcedb', "SELECT status FROM steward.job_run r JOIN steward.job j USING (job_id)
                                 WHERE j.job_name = 'su-sleeper' ORDER BY run_id DESC LIMIT 1"),
	'running', "and the superuser's running job was not cancelled");
$su->quit;
sql("DROP DATABASE forcedb WITH (FORCE); DROP ROLE force_owner");

# A job cannot COPY to or from a client it does not have (schedule() refuses
# it; a row written directly is refused by the runner): COPY TO STDOUT would
# write into the server log.
sql("INSERT INTO steward.job (job_name, schedule, command, owner)
     VALUES ('copyjob', '\@yearly', \$\$COPY (SELECT 'forged log line') TO STDOUT\$\$, 'postgres')");
sql("SELECT steward.run_job('copyjob')");
is(runs('copyjob', "status || ': ' || message"), 'failed: COPY to or from the client is not possible in a job',
	'the runner refuses COPY TO STDOUT');
unlike(slurp_file($node->logfile), qr/^forged log line/m, 'and nothing reached the server log');
sql("SELECT steward.unschedule('copyjob')");

# statement_timeout and lock_timeout apply to job statements.
sql("SELECT steward.schedule('sto', '\@yearly', \$\$SET statement_timeout = '500ms'; SELECT pg_sleep(5)\$\$)");
sql("SELECT steward.run_job('sto')");
like(runs('sto', "status || ': ' || message"), qr/^failed: canceling statement due to statement timeout/,
	'statement_timeout set in the command is enforced');
sql("CREATE ROLE sto_role LOGIN; ALTER ROLE sto_role SET statement_timeout = '500ms';
     GRANT EXECUTE ON FUNCTION steward.schedule(text, text, text, text, interval, int, interval, bool) TO sto_role");
$node->safe_psql('postgres', "SELECT steward.schedule('sto-role', '\@yearly', 'SELECT pg_sleep(5)')",
	extra_params => [ '-U', 'sto_role' ]);
sql("SELECT steward.run_job('sto-role')");
like(runs('sto-role', 'message'), qr/statement timeout/, 'so is one set by ALTER ROLE ... SET');
sql("CREATE TABLE locked_t (x int)");
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE locked_t');
sql("SELECT steward.schedule('lto', '\@yearly', \$\$SET lock_timeout = '200ms'; SELECT * FROM locked_t\$\$)");
sql("SELECT steward.run_job('lto')");
like(runs('lto', "status || ': ' || message"), qr/^failed: canceling statement due to lock timeout/,
	'lock_timeout is enforced');
$locker->query_safe('COMMIT');
$locker->quit;
sql("SELECT steward.unschedule('sto'), steward.unschedule('lto')");
sql("DROP OWNED BY sto_role; DROP ROLE sto_role");

# pg_terminate_backend() of a runner: cancelled, not crashed.
sql("SELECT steward.schedule('victim', '1 hours', 'SELECT pg_sleep(60)')");
make_due($node, 'victim');
wait_for($node, "SELECT running FROM steward.jobs WHERE name = 'victim'", 't', 'the victim is running');
sql("SELECT pg_terminate_backend(pid) FROM steward.job_run WHERE status = 'running'");
wait_for($node, "SELECT last_status = 'cancelled' FROM steward.jobs WHERE name = 'victim'", 't',
	'a terminated runner\'s run ends cancelled');
like(runs('victim', 'message'), qr/terminated/, 'and says so');
wait_for_passes($node, 2);
is(sql("SELECT consecutive_failures FROM steward.jobs WHERE name = 'victim'"), '0',
	'a cancelled run is not counted as a failure');
sql("SELECT steward.unschedule('victim')");

# An interval job keeps its anchor after a catch-up run.
sql("SELECT steward.schedule('anchored', '1 hours', 'SELECT 1')");
wait_for($node,
	"SELECT EXISTS (SELECT FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE j.job_name = 'anchored')", 't',
	'the scheduler has the state of the anchored job');
my $anchor = sql("SELECT now() - interval '150 minutes' + interval '0.123456 s'");
sql("UPDATE steward.job_state SET next_run_at = '$anchor' FROM steward.job j
      WHERE j.job_id = job_state.job_id AND j.job_name = 'anchored';
     SELECT steward.alter_job('anchored')");
wait_for($node,
	"SELECT count(*) = 1 FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'anchored'", 't',
	'the missed run is caught up');
wait_for($node, "SELECT next_run_at > now() FROM steward.jobs WHERE name = 'anchored'", 't',
	'the scheduler moved the anchored job on');
is(sql("SELECT next_run_at - '$anchor' FROM steward.jobs WHERE name = 'anchored'"), '03:00:00',
	'the next due time stays on the anchor (anchor + 3 hours), not catch-up time + 1 hour');
sql("SELECT steward.unschedule('anchored')");

# --- steward.enabled off and on while runs are queued: none is lost or doubled ---
reload_settings($node, { 'steward.max_workers' => 1 });
sql("CREATE TABLE queued_hits (job text, at timestamptz DEFAULT clock_timestamp());
     SELECT count(steward.schedule('q' || g, '1 hours',
            format('SELECT pg_sleep(0.02); INSERT INTO queued_hits (job) VALUES (%L)', 'q' || g)))
       FROM generate_series(1, 150) g");
make_due($node, 'q%', count => 150, wake => 'q1');
wait_for($node, "SELECT count(*) >= 10 FROM queued_hits", 't', 'queued runs are being served');
reload_settings($node, { 'steward.enabled' => 'off' });
my $served = sql("SELECT count(*) FROM queued_hits");
cmp_ok($served, '<', 150, "some runs were still queued when steward.enabled went off ($served of 150 done)");
reload_settings($node, { 'steward.enabled' => undef });
wait_for($node, "SELECT count(DISTINCT job) FROM queued_hits", '150',
	'after steward.enabled is on again every queued run has run');
wait_for_passes($node, 2);
is(sql("SELECT count(*) FROM queued_hits"), '150', 'each exactly once');
is(sql("SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
         WHERE j.job_name LIKE 'q%' AND r.status = 'succeeded'"), '150', 'and recorded once');
sql("SELECT count(steward.unschedule(job_name)) FROM steward.job WHERE job_name LIKE 'q%';
     DROP TABLE queued_hits");
reload_settings($node, { 'steward.max_workers' => undef }, passes => 0);

# --- pg_cancel_backend() of the scheduler and the launcher: nothing to cancel ---
my $pids = sql("SELECT string_agg(pid::text, ',' ORDER BY backend_type, pid) FROM pg_stat_activity
                WHERE backend_type IN ('pg_steward launcher', 'pg_steward scheduler')");
my $p0 = scheduler_passes($node);
sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity
      WHERE backend_type IN ('pg_steward launcher', 'pg_steward scheduler')");
wait_for_passes($node, 2, from => $p0);
is(sql("SELECT string_agg(pid::text, ',' ORDER BY backend_type, pid) FROM pg_stat_activity
        WHERE backend_type IN ('pg_steward launcher', 'pg_steward scheduler')"),
	$pids, 'a cancelled idle launcher and scheduler keep running');

# No errors from our workers in the log (expected ones excluded).
my $log = slurp_file($node->logfile);
my @bad = grep { /ERROR|FATAL/ && !/division by zero|canceling statement|terminating background worker|terminating connection|pg_sleep|must be owner|being accessed by other users|to terminate superuser process|COPY to or from the client/ } split /\n/, $log;
ok(!grep(/pg_steward/, @bad), 'no unexpected pg_steward errors in the log') or diag(join("\n", @bad));

$node->stop;
done_testing();
