# Scheduler security and limits with several roles (issue 8): bad intervals
# do not stop scheduling, per-owner job names, per-role limits, roles that
# own jobs cannot vanish under them, and jobs cannot break the runner's own
# bookkeeping with their settings.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('sched_security', settings => { max_worker_processes => 16 });

sub sql { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

create_roles($node, [qw(alice bob carol dave frank eve)], job_api => 1, create_on => 'public');

# Run SQL as a role; returns (exit code, stdout, stderr with SQLSTATEs).
sub as { my ($role, $query, $db) = @_; return psql_as($node, $role, $query, db => $db); }
sub as_ok { my ($role, $query, $db) = @_; return safe_psql_as($node, $role, $query, db => $db); }

sub last_run
{
	my ($job, $cols, $db) = @_;
	return sql("SELECT $cols FROM steward.job_run r JOIN steward.job j USING (job_id)
	             WHERE j.job_name = '$job' ORDER BY run_id DESC LIMIT 1", $db);
}

my ($ret, $out, $err);

# ---------------------------------------------------------------------
# Item 4: out-of-range intervals are refused, and a row the scheduler
# cannot use is skipped and reported instead of stopping every job.
# ---------------------------------------------------------------------
($ret, $out, $err) = as('alice',
	"SELECT steward.schedule('x', '* * * * *', 'select 1', max_runtime => '178000000 years')");
like($err, qr/22023: max_runtime is out of range.*HINT:  max_runtime must be positive and at most 365 days/s,
	'a huge max_runtime is refused with the allowed range');
($ret, $out, $err) = as('alice',
	"SELECT steward.schedule('x', '* * * * *', 'select 1', retry_delay => '178000000 years')");
like($err, qr/22023: retry_delay is out of range/, 'a huge retry_delay is refused');
($ret, $out, $err) = as('alice',
	"SELECT steward.schedule('x', '* * * * *', 'select 1', max_runtime => '366 days')");
like($err, qr/22023/, 'just over the bound is refused too');
as_ok('alice', "SELECT steward.schedule('x', '\@yearly', 'select 1', max_runtime => '365 days', retry_delay => '0')");
($ret, $out, $err) = as('alice', "SELECT steward.alter_job('x', max_runtime => '1000000 years')");
like($err, qr/22023: max_runtime is out of range/, 'alter_job refuses it too');
($ret, $out, $err) = as('alice', "SELECT steward.alter_job('x', retry_delay => '-1 second')");
like($err, qr/22023: retry_delay must be zero or positive/, 'alter_job checks retry_delay');

# Old data or a superuser's direct INSERT can still hold such rows.
sql("CREATE TABLE public.ticks (who text, at timestamptz DEFAULT now()); GRANT INSERT ON public.ticks TO bob");
sql("INSERT INTO steward.job (job_name, schedule, command, owner, max_runtime)
     VALUES ('huge-runtime', '1 seconds', 'SELECT 1', 'alice', '178000000 years')");
sql("INSERT INTO steward.job (job_name, schedule, command, owner, retry_delay)
     VALUES ('huge-delay', '1 seconds', 'SELECT 1', 'alice', '178000000 years')");
as_ok('bob', "SELECT steward.schedule('tick', '1 seconds', \$\$INSERT INTO public.ticks VALUES ('bob')\$\$)");
sql("INSERT INTO steward.job (job_name, schedule, command, owner, timezone)
     VALUES ('bad-schedule', 'every full moon', 'SELECT 1', 'alice', NULL),
            ('bad-zone', '1 seconds', 'SELECT 1', 'alice', 'Mars/Olympus_Mons')");
wait_for($node, "SELECT count(*) >= 2 FROM public.ticks", 't',
	'other jobs of the database keep running next to an unreadable row');
wait_for($node,
	"SELECT problem LIKE 'max_runtime % is out of range (at most 365 days)' FROM steward.jobs WHERE name = 'huge-runtime'", 't',
	'the skipped job says why in steward.jobs');
like(sql("SELECT problem FROM steward.jobs WHERE name = 'huge-delay'"), qr/retry_delay .* out of range/,
	'so does the one with a huge retry_delay');
wait_for($node,
	"SELECT problem LIKE 'schedule \"every full moon\" is not valid%' FROM steward.jobs WHERE name = 'bad-schedule'", 't',
	'a bad schedule is reported, and steward.jobs stays readable');
like(sql("SELECT problem FROM steward.jobs WHERE name = 'bad-zone'"), qr/time zone "Mars\/Olympus_Mons" is not recognized/,
	'so is a bad time zone');
is(sql("SELECT count(*) FROM steward.jobs WHERE next_run_at IS NOT NULL AND name LIKE 'bad-%'"), '0',
	'skipped jobs show no next run');
sql("SELECT steward.unschedule('bad-schedule'), steward.unschedule('bad-zone')");
like(slurp_file($node->logfile), qr/pg_steward job "huge-runtime" \(job_id \d+\) is skipped: max_runtime/,
	'and the server log says it once');
is(sql("SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name LIKE 'huge-%'"),
	'0', 'the skipped jobs did not run');
as_ok('alice', "SELECT steward.run_job('huge-runtime')");
is(last_run('huge-runtime', 'status'), 'succeeded', 'run_job of such a row works for its owner');
as_ok('alice', "SELECT steward.alter_job('huge-runtime', max_runtime => '1 hour')");
wait_for($node, "SELECT problem IS NULL FROM steward.jobs WHERE name = 'huge-runtime'", 't',
	'alter_job by the owner repairs it and the problem clears');
sql("SELECT steward.alter_job('huge-delay', retry_delay => '1 minute')");
is(sql("SELECT retry_delay FROM steward.jobs WHERE name = 'huge-delay'"), '00:01:00',
	'a superuser can repair it as well');
is(sql("SELECT steward.unschedule('huge-delay')"), 't', 'and unschedule it');
is(as_ok('alice', "SELECT steward.unschedule('huge-runtime')"), 't', 'the owner can unschedule hers');
as_ok('bob', "SELECT steward.unschedule('tick')");

# ---------------------------------------------------------------------
# Item 10: job names are per owner; errors reveal nothing about others'
# jobs; control characters are refused.
# ---------------------------------------------------------------------
my $a_id = as_ok('alice', "SELECT steward.schedule('report', '\@daily', 'SELECT 1')");
my $b_id = as_ok('bob', "SELECT steward.schedule('report', '\@hourly', 'SELECT 2')");
isnt($a_id, $b_id, 'two roles can each have a job named "report"');
as_ok('alice', "SELECT steward.schedule('alice-secret', '\@daily', 'SELECT 1')");
($ret, $out, $err) = as('bob', "SELECT steward.schedule('alice-secret', '\@daily', 'SELECT 3')");
is($ret, 0, "another role's hidden job name is not revealed: bob gets his own job") or diag($err);
is(as_ok('bob', "SELECT count(*) FROM steward.jobs WHERE name = 'alice-secret'"), '1',
	'bob sees only his own job of that name');
is(as_ok('bob', "SELECT command FROM steward.jobs WHERE name = 'report'"), 'SELECT 2',
	'names resolve to the caller\'s own job');
($ret, $out, $err) = as('bob', "SELECT steward.alter_job('report', command => 'SELECT 22')");
is(sql("SELECT string_agg(command, ',' ORDER BY owner::text) FROM steward.job WHERE job_name = 'report'"),
	'SELECT 1,SELECT 22', 'alter_job changes only the caller\'s job of that name');
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT steward.alter_job('report', enabled => false)");
like($err, qr/42P08: job name "report" is ambiguous.*HINT:  Run SET ROLE to the job's owner first/s,
	'a superuser naming an ambiguous job gets a clear error');
sql("SET ROLE alice; SELECT steward.alter_job('report', enabled => false)");
is(sql("SELECT string_agg(enabled::text, ',' ORDER BY owner::text) FROM steward.job WHERE job_name = 'report'"),
	'false,true', 'after SET ROLE the name is unambiguous');
($ret, $out, $err) = as('eve', "SELECT steward.run_job('report')");
like($err, qr/42704: job "report" does not exist/, "other roles' jobs do not exist for eve");
($ret, $out, $err) = as('eve', "SELECT steward.unschedule('report')");
is($out, 'f', "eve cannot unschedule others' jobs");
for my $bad ("E'a\\nb'", "E'tab\\there'", "E'\\x01'", "E'del\\x7f'", "U&'c1\\0085'", "U&'rlo\\202Egnp.exe'", "U&'iso\\2066x'")
{
	($ret, $out, $err) = as('eve', "SELECT steward.schedule($bad, '\@daily', 'SELECT 1')");
	like($err, qr/22023: job name must not contain control characters/, "control characters refused: $bad");
}
($ret, $out, $err) = as('eve', "SELECT steward.schedule(repeat('x', 100000), '\@daily', 'SELECT 1')");
like($err, qr/42622: job name is too long/, 'a huge name is refused');
($ret, $out, $err) = as('eve', "SELECT steward.schedule(NULL, NULL, NULL)");
like($err, qr/22004/, 'NULL arguments are refused');
is(as_ok('eve', q{SELECT steward.schedule('"; DROP TABLE x; -- ü', '@daily', 'SELECT 1') > 0}), 't',
	'odd but printable names are fine');
($ret, $out, $err) = as('eve', "SELECT steward.alter_job('report', command => 'SELECT 666')");
like($err, qr/42704/, "eve cannot alter others' jobs");
is(sql("SELECT count(*) FROM steward.job WHERE command = 'SELECT 666'"), '0', 'and nothing changed');

# ---------------------------------------------------------------------
# Item 9: roles that own jobs.
# ---------------------------------------------------------------------
as_ok('carol', "SELECT steward.schedule('cjob', '\@daily', 'SELECT 1')");
as_ok('carol', "SELECT steward.schedule('report', '\@daily', 'SELECT 1')");
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nDROP ROLE carol");
like($err, qr/2BP01: role "carol" cannot be dropped because it owns pg_steward jobs.*DETAIL:  It owns 2 jobs in database "postgres"/s,
	'DROP ROLE of a role that owns jobs is refused');
# a role that may not drop carol learns nothing about her jobs (and takes
# no lock on her): DROP ROLE's own refusal comes first
sql("ALTER ROLE carol SUPERUSER; CREATE ROLE rolemgr CREATEROLE LOGIN");
($ret, $out, $err) = $node->psql('postgres', "SET ROLE rolemgr; DROP ROLE carol");
like($err, qr/(must be superuser to drop superusers|permission denied to drop role)/,
	'DROP ROLE by a role without the right to drop her fails on that');
unlike($err, qr/pg_steward jobs/, 'without mentioning her jobs');
sql("ALTER ROLE carol NOSUPERUSER; DROP ROLE rolemgr");
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nREASSIGN OWNED BY carol TO bob");
like($err, qr/42710: cannot reassign pg_steward job "report" to role "bob"/,
	'REASSIGN OWNED refuses to give a role two jobs of one name');
sql("SET ROLE carol; SELECT steward.unschedule('report')");
sql("REVOKE EXECUTE ON FUNCTION $JOB_API FROM carol; REVOKE CREATE ON SCHEMA public FROM carol");
sql("REASSIGN OWNED BY carol TO bob");
is(sql("SELECT owner::text || ' ' || owner_name || ' ' || enabled FROM steward.job WHERE job_name = 'cjob'"), 'bob bob false',
	'REASSIGN OWNED moves the jobs, disabled until the new owner enables them');
sql("DROP ROLE carol");
pass('then DROP ROLE succeeds');

as_ok('dave', "SELECT steward.schedule('djob', '\@daily', 'SELECT 1')");
sql("DROP OWNED BY dave");
is(sql("SELECT count(*) FROM steward.job WHERE job_name = 'djob'"), '0', 'DROP OWNED deletes the jobs');
sql("DROP ROLE dave");

as_ok('frank', "SELECT steward.schedule('fjob', '\@daily', 'SELECT 1')");
sql("ALTER ROLE frank RENAME TO frank2");
is(sql("SELECT owner_name FROM steward.job WHERE job_name = 'fjob'"), 'frank2',
	'ALTER ROLE ... RENAME keeps the recorded owner name');
as_ok('frank2', "SELECT steward.run_job('fjob')");
is(last_run('fjob', 'status'), 'succeeded', 'and the renamed owner\'s job runs');

# Another database: DROP ROLE here cannot see its jobs there, so the
# scheduler there disables them rather than run them as a reused OID.
sql('CREATE DATABASE other');
sql('CREATE EXTENSION pg_steward', 'other');
sql('CREATE ROLE gina LOGIN');
sql("CREATE TABLE public.gticks (at timestamptz DEFAULT now()); GRANT INSERT ON public.gticks TO gina, bob", 'other');
sql("INSERT INTO steward.job (job_name, schedule, command, owner)
     VALUES ('orphan', '1 seconds', 'INSERT INTO public.gticks DEFAULT VALUES', 'gina'),
            ('reused', '1 seconds', 'INSERT INTO public.gticks DEFAULT VALUES', 'bob')", 'other');
wait_for($node, "SELECT count(*) >= 2 FROM public.gticks", 't', 'the jobs in the other database run', 'other');
sql("REVOKE ALL ON public.gticks FROM gina", 'other');
sql('DROP ROLE gina');
wait_for($node,
	"SELECT NOT enabled FROM steward.job WHERE job_name = 'orphan'", 't',
	'a job whose owner was dropped elsewhere is disabled', 'other');
like(last_run('orphan', "status || ': ' || message", 'other'), qr/^failed: job disabled: its owner "gina" \(OID \d+\) no longer exists/,
	'with a failed run that says why');
# An OID that now names another role: simulated by pointing the OID at bob
# while the recorded name stays.
sql("UPDATE steward.job SET owner = 'alice' WHERE job_name = 'reused'", 'other');
wait_for($node, "SELECT NOT enabled FROM steward.job WHERE job_name = 'reused'", 't',
	'a job whose owner OID names another role is disabled', 'other');
like(last_run('reused', 'message', 'other'), qr/renamed or replaced by role "alice"/, 'and says so');
($ret, $out, $err) = $node->psql('other', "\\set VERBOSITY verbose\nSELECT steward.run_job('reused')");
like($err, qr/0P000: the owner of job "reused" was dropped, renamed or replaced/, 'run_job refuses it too');
sql("GRANT EXECUTE ON FUNCTION $JOB_API TO alice", 'other');
($ret, $out, $err) = as('alice', "SELECT steward.alter_job('reused', enabled => true)", 'other');
like($err, qr/0P000/, 'the role that now has the OID cannot re-enable it');
sql("SELECT steward.alter_job('reused', enabled => true)", 'other');
is(sql("SELECT owner_name FROM steward.job WHERE job_name = 'reused'", 'other'), 'alice',
	'a superuser can confirm the new owner');
sql("SELECT steward.unschedule('reused'), steward.unschedule('orphan')", 'other');

# ---------------------------------------------------------------------
# Item 11: settings a job leaves behind do not break the bookkeeping.
# ---------------------------------------------------------------------
as_ok('alice', "SELECT steward.schedule('ro', '\@yearly', 'SET default_transaction_read_only = on')");
like(as_ok('alice', "SELECT steward.run_job('ro')"), qr/^\d+$/, 'run_job returns');
is(last_run('ro', 'status'), 'succeeded', 'SET default_transaction_read_only = on: recorded succeeded, not crashed');
as_ok('alice', "SELECT steward.schedule('ro2', '\@yearly', 'SET default_transaction_read_only = on; CREATE TABLE public.alice_ro (x int)')");
as_ok('alice', "SELECT steward.run_job('ro2')");
is(last_run('ro2', "status || ' ' || (detail->>'sqlstate')"), 'failed 25006',
	'a job failing in its read-only transaction is recorded failed with its error');
as_ok('alice', "SELECT steward.schedule('timeouts', '\@yearly',
	\$\$SET statement_timeout = 1; SET lock_timeout = 1; SET idle_in_transaction_session_timeout = 1;
	  SET default_transaction_isolation = serializable; SET search_path = nowhere\$\$)");
as_ok('alice', "SELECT steward.run_job('timeouts')");
is(last_run('timeouts', 'status'), 'succeeded', 'timeouts, isolation and search_path set by the job do not leak');
sql("SELECT steward.schedule('su', '\@yearly', 'SET session_replication_role = replica; SET ROLE alice')");
sql("SELECT steward.run_job('su')");
is(last_run('su', 'status'), 'succeeded', 'session_replication_role and SET ROLE do not leak');
as_ok('alice', "SELECT steward.schedule('ro3', '\@yearly', 'SELECT 1')");
sql("ALTER ROLE alice SET default_transaction_read_only = on");
$node->psql('postgres', "SELECT steward.run_job('ro3')", extra_params => [ '-U', 'alice' ]);
is(last_run('ro3', 'status'), 'succeeded', 'an owner with ALTER ROLE ... SET default_transaction_read_only works');
sql("ALTER ROLE alice RESET default_transaction_read_only");
sql("SELECT steward.schedule('dbro', '1 seconds', 'SELECT 1')", 'other');
sql("ALTER DATABASE other SET default_transaction_read_only = on");
sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler' AND datname = 'other'");
wait_for($node,
	"SELECT count(*) >= 2 FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'dbro' AND status = 'succeeded'", 't',
	'a read-only database default does not stop its scheduler or runners', 'other');
sql("ALTER DATABASE other RESET default_transaction_read_only");
sql("SELECT steward.unschedule('dbro')", 'other');

# ---------------------------------------------------------------------
# Item 5: per-role limits.
# ---------------------------------------------------------------------
sql("ALTER SYSTEM SET steward.max_jobs_per_role = 3; SELECT pg_reload_conf()");
wait_for($node, "SELECT current_setting('steward.max_jobs_per_role')", '3', 'steward.max_jobs_per_role = 3 is in effect');
as_ok('eve', "SELECT steward.unschedule(name) FROM steward.jobs");
as_ok('eve', "SELECT steward.schedule('e' || i, '\@daily', 'SELECT 1') FROM generate_series(1, 3) i");
($ret, $out, $err) = as('eve', "SELECT steward.schedule('e4', '\@daily', 'SELECT 1')");
like($err, qr/54000: role "eve" already owns 3 jobs in this database.*HINT:  Unschedule jobs/s,
	'steward.max_jobs_per_role refuses a new job beyond it');
($ret, $out, $err) = as('eve', "SELECT steward.schedule('e3', '\@hourly', 'SELECT 1')");
is($ret, 0, 'replacing an existing job is still possible');
sql("ALTER SYSTEM RESET steward.max_jobs_per_role; SELECT pg_reload_conf()");

sql("ALTER SYSTEM SET steward.max_workers = 3; ALTER SYSTEM SET steward.max_workers_per_role = 1; SELECT pg_reload_conf()");
wait_for($node, "SELECT current_setting('steward.max_workers_per_role')", '1', 'steward.max_workers_per_role = 1 is in effect');
as_ok('alice', "SELECT steward.schedule('hog' || i, '1 hours', 'SELECT pg_sleep(1)') FROM generate_series(1, 3) i");
as_ok('bob', "SELECT steward.schedule('small', '1 hours', 'SELECT 1')");
make_due($node, [ 'hog_', 'small' ], count => 4, wake => 'cjob');
wait_for($node,
	"SELECT count(*) = 4 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE (j.job_name LIKE 'hog_' OR j.job_name = 'small') AND r.status = 'succeeded'", 't',
	'all runs of both roles ran');
is(sql("SELECT max(c) FROM (SELECT (SELECT count(*) FROM steward.job_run b JOIN steward.job jb USING (job_id)
                                   WHERE jb.job_name LIKE 'hog_' AND b.started_at <= a.started_at
                                     AND b.finished_at > a.started_at) c
                              FROM steward.job_run a JOIN steward.job ja USING (job_id)
                             WHERE ja.job_name LIKE 'hog_') x"),
	'1', 'never more than steward.max_workers_per_role runners of one role');
is(sql("SELECT (SELECT r.started_at FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'small')
             < (SELECT max(r.started_at) FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name LIKE 'hog_')"),
	't', 'the other role did not wait for the whole queue of the first');

# Owners take turns: with one runner, another role's run waits for a few
# runs of the first role (until the grace period), not for its whole queue.
sql("ALTER SYSTEM SET steward.max_workers = 1; SELECT pg_reload_conf()");
wait_for($node, "SELECT current_setting('steward.max_workers')", '1', 'steward.max_workers = 1 is in effect');
as_ok('alice', "SELECT steward.schedule('turn' || i, '1 hours', 'SELECT pg_sleep(0.1)') FROM generate_series(1, 30) i");
as_ok('bob', "SELECT steward.schedule('turn-bob', '1 hours', 'SELECT 1')");
make_due($node, 'turn%', count => 31, wake => 'cjob');
wait_for($node,
	"SELECT count(*) = 31 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name LIKE 'turn%' AND r.status = 'succeeded'", 't',
	'all runs of both roles ran with one runner');
cmp_ok(sql("SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
             WHERE j.job_name LIKE 'turn_%' AND j.job_name <> 'turn-bob'
               AND r.started_at < (SELECT r2.started_at FROM steward.job_run r2 JOIN steward.job j2 USING (job_id)
                                    WHERE j2.job_name = 'turn-bob')"),
	'<', 20, "the other role's run did not wait for the first role's whole queue");
sql("ALTER SYSTEM RESET steward.max_workers; ALTER SYSTEM RESET steward.max_workers_per_role; SELECT pg_reload_conf()");

# ---------------------------------------------------------------------
# Review findings: a transaction left open cannot stop the scheduler, and
# a run_job() caller that is terminated while waiting leaks no runner slot.
# ---------------------------------------------------------------------
sql("ALTER SYSTEM SET steward.max_workers_per_role = 1; SELECT pg_reload_conf()");
wait_for($node, "SELECT current_setting('steward.max_workers_per_role')", '1', 'steward.max_workers_per_role = 1 is in effect again');
as_ok('frank2', "SELECT steward.schedule('frank-tick', '1 seconds', 'SELECT 1')");
as_ok('eve', "SELECT steward.schedule('eve-tick', '1 seconds', 'SELECT 1')");
wait_for($node,
	"SELECT count(*) > 0 FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'eve-tick'", 't',
	"eve's job runs");
my $holder = $node->background_psql('postgres', extra_params => [ '-U', 'eve' ]);
$holder->query_safe("BEGIN; SELECT steward.unschedule('eve-tick');");
my $frank_before = sql("SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'frank-tick'");
wait_for($node,
	"SELECT count(*) >= $frank_before + 3 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'frank-tick'", 't',
	"another role's jobs keep running while eve's unschedule() stays uncommitted");
$holder->query_safe("COMMIT");
$holder->quit;
as_ok('frank2', "SELECT steward.unschedule('frank-tick')");

as_ok('eve', "SELECT steward.schedule('eve-slow', '1 hours', 'SELECT pg_sleep(1)');
              SELECT steward.schedule('eve-quick', '1 hours', 'SELECT 1')");
my $waiter = $node->background_psql('postgres', extra_params => [ '-U', 'eve' ]);
my $waiter_pid = $waiter->query_safe("SELECT pg_backend_pid()");
$waiter->query_until(qr/started/, "\\echo started\nSELECT steward.run_job('eve-slow');\n");
wait_for($node, "SELECT count(*) > 0 FROM steward.job_run r JOIN steward.job j USING (job_id)
                  WHERE j.job_name = 'eve-slow'", 't', 'the run_job() of eve-slow started its run');
sql("SELECT pg_terminate_backend($waiter_pid)");
wait_for($node, "SELECT status = 'succeeded' FROM steward.job_run r JOIN steward.job j USING (job_id)
                                         WHERE j.job_name = 'eve-slow' ORDER BY run_id DESC LIMIT 1", 't',
	'the run of a terminated run_job() caller goes on');
# With one runner per role (the default), a leaked slot would keep eve's
# next run from ever starting.
wait_for($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pg_steward job eve-slow'", 't',
	'its runner is gone');
is(as_ok('eve', "SELECT steward.run_job('eve-quick') > 0"), 't',
	"and its slot was reaped: eve's next run_job() runs");
sql("ALTER SYSTEM RESET steward.max_workers_per_role; SELECT pg_reload_conf()");

# No unexpected errors from our workers (client sessions log as the test).
my @bad = grep { /ERROR|FATAL/ && !/007_scheduler_security|read-only transaction|permission denied for table gticks|canceling statement|terminating|background_psql/ }
  split /\n/, slurp_file($node->logfile);
ok(!@bad, 'no unexpected pg_steward errors in the log') or diag(join("\n", @bad));

$node->stop;
done_testing();
