# Upgrade path: a database at 0.1.0 with jobs, a partition set and a row
# retention, updated with ALTER EXTENSION ... UPDATE, must end up with exactly
# the objects of a fresh install of the default version (compared with
# test/upgrade_catalog.sql), keep its data, and run its jobs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IPC::Run;

# The oldest release; the update goes through every script from there.
my $oldest = '0.1.0';
my $catalog_sql = slurp_file(abs_path(dirname(__FILE__) . '/../upgrade_catalog.sql'));

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_steward'
steward.naptime = 200
});
$node->start;

sub sql { return $node->safe_psql($_[1] // 'upgraded', $_[0]); }

sql('CREATE DATABASE upgraded; CREATE DATABASE fresh', 'postgres');
sql('CREATE EXTENSION pg_steward', 'fresh');
my $default = sql("SELECT default_version FROM pg_available_extensions WHERE name = 'pg_steward'");
isnt($default, $oldest, "the default version ($default) is not $oldest");

# ---------------------------------------------------------------------
# The database at 0.1.0, with what 0.1.0 wrote.  Today's library cannot be
# used for that: its API expects the new catalog, and the scheduler waits
# for the update.  So the
# rows are written as 0.1.0's library wrote them (d72c55f: src/jobs.c
# schedule(), src/scheduler.c job_state, src/partition.c partition_table()).
# ---------------------------------------------------------------------
sql("CREATE EXTENSION pg_steward VERSION '$oldest'");
is(sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'"), $oldest,
	"CREATE EXTENSION ... VERSION '$oldest' works with today's library");

sql(q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	GRANT CREATE ON SCHEMA public TO alice;
	SET TIME ZONE 'UTC';
	-- alice's tables (0.1.0 gave new partitions the parent's owner too)
	SET ROLE alice;
	CREATE TABLE public.ticks (at timestamptz DEFAULT clock_timestamp());
	CREATE TABLE public.logt (ts timestamptz NOT NULL, v int);
	CREATE INDEX ON public.logt (ts);
	INSERT INTO public.logt SELECT now() - g * interval '1 hour', g FROM generate_series(1, 48) g;
	CREATE TABLE public.ev (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	-- 0.1.0 partition_table('ev', 'ts', '1 day', premake => 2, retention => '3 days',
	--                       start_at => 5 days ago): daily partitions and a default one
	DO $$
	DECLARE
		d date;
	BEGIN
		FOR d IN SELECT g::date FROM generate_series(current_date - 5, current_date + 2, interval '1 day') g
		LOOP
			EXECUTE format('CREATE TABLE public.%I PARTITION OF public.ev FOR VALUES FROM (%L) TO (%L)',
						   'ev_p' || to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz);
		END LOOP;
	END
	$$;
	CREATE TABLE public.ev_default PARTITION OF public.ev DEFAULT;
	INSERT INTO public.ev SELECT now() - g * interval '1 hour', g FROM generate_series(0, 119) g;
	RESET ROLE;
	GRANT EXECUTE ON FUNCTION steward.alter_job(text, text, text, bool, text, interval, int) TO alice;

	INSERT INTO steward.job (job_name, kind, schedule, command, owner, enabled, timezone,
							 max_runtime, max_retries, retry_delay)
	VALUES ('tick', 'sql', '1 second', 'INSERT INTO public.ticks DEFAULT VALUES', 'alice',
			true, NULL, NULL, 0, '1 minute'),
		   ('nightly', 'sql', '30 3 * * *', 'VACUUM public.ticks', 'postgres',
			false, 'Europe/Paris', '5 minutes', 2, '30 seconds'),
		   -- its owner was dropped in another database (no hook saw it)
		   ('orphan', 'sql', '1 second', 'INSERT INTO public.ticks DEFAULT VALUES',
			'4000000'::oid::regrole, true, NULL, NULL, 0, '1 minute');
	INSERT INTO steward.job_state (job_id, schedule_key, next_run_at, retry_at, retry_attempt,
								   consecutive_failures, skipped_runs)
	SELECT job_id, '1 second|UTC', now(), NULL::timestamptz, 0, 0, 3 FROM steward.job WHERE job_name = 'tick'
	UNION ALL
	SELECT job_id, NULL, NULL, NULL, 0, 1, 0 FROM steward.job WHERE job_name = 'nightly';
	INSERT INTO steward.job_run (job_id, scheduled_for, started_at, finished_at, status, attempt, pid, message)
	SELECT job_id, now() - interval '1 minute', now() - interval '1 minute', now() - interval '59 seconds',
		   'succeeded', 1, 12345, 'INSERT 0 1' FROM steward.job WHERE job_name = 'tick'
	UNION ALL
	SELECT job_id, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day',
		   'failed', 3, 12346, 'canceling statement due to statement timeout'
	  FROM steward.job WHERE job_name = 'nightly';

	INSERT INTO steward.partition_set (parent, control, step, premake, retention, retention_mode,
									   default_partition, name_template, timezone)
	VALUES ('public.ev', 'ts', '1 day', 2, '3 days', 'drop', true, '{parent}_p{YYYY}{MM}{DD}', 'UTC');
	INSERT INTO steward.partition_state (parent, last_maintained_at, last_status, last_message)
	VALUES ('public.ev', now() - interval '10 minutes', 'ok', 'created 9 partitions');

	INSERT INTO steward.retention (tbl, time_column, keep, batch_rows)
	VALUES ('public.logt', 'ts', '1 day', 10);
});

# What must survive the update: every row of the catalog tables, in the
# columns 0.1.0 had.
my $rows_sql = q{
	SELECT j FROM (SELECT job_id, job_name, kind, schedule, command, config, owner, enabled,
						  timezone, max_runtime, max_retries, retry_delay, created_at
					 FROM steward.job WHERE kind NOT IN ('audit_seal', 'health_snapshot') ORDER BY job_id) j;  -- 0.2.0 adds audit_seal, 0.3.0 health_snapshot
	SELECT s FROM (SELECT job_id, schedule_key, next_run_at, retry_at, retry_attempt,
						  consecutive_failures, skipped_runs
					 FROM steward.job_state ORDER BY job_id) s;
	SELECT r FROM (SELECT * FROM steward.job_run ORDER BY run_id) r;
	SELECT p FROM (SELECT * FROM steward.partition_set ORDER BY parent) p;
	SELECT p FROM (SELECT parent, last_maintained_at, last_status, last_message, fingerprint,
						  quiet_until
					 FROM steward.partition_state ORDER BY parent) p;
	SELECT r FROM (SELECT * FROM steward.retention ORDER BY tbl) r;
	SELECT last_value - (SELECT count(*) FROM steward.job WHERE kind IN ('audit_seal', 'health_snapshot')) FROM steward.job_job_id_seq;
	SELECT count(*) FROM public.ev;
	SELECT count(*) FROM public.logt;
};
my $before = sql($rows_sql);
like($before, qr/tick.*nightly.*orphan/s, 'the 0.1.0 database has jobs');

# Until the update the scheduler runs nothing and says why, once.
ok($node->wait_for_log(qr/scheduler of database "upgraded" runs no jobs: the extension is at version \Q$oldest\E, the library at \Q$default\E/),
	'before the update the scheduler waits and says why');
my $runs0 = sql('SELECT count(*) FROM steward.job_run');
sql(q{CREATE FUNCTION public.passes() RETURNS bigint
	  AS '$libdir/pg_steward', 'steward_scheduler_passes' LANGUAGE C});
my $p0 = sql('SELECT public.passes()');
ok($node->poll_query_until('upgraded', "SELECT public.passes() >= $p0 + 2"),
	'the scheduler goes on with its passes');
is(sql('SELECT count(*) FROM steward.job_run'), $runs0, 'no job ran against the old catalog');
sql('DROP FUNCTION public.passes()');

# ---------------------------------------------------------------------
# The update.  The snapshot is taken in its transaction, before the
# scheduler can act on the updated catalog.
# ---------------------------------------------------------------------
my ($ret, $out, $err) = $node->psql('upgraded', "BEGIN; ALTER EXTENSION pg_steward UPDATE; $rows_sql COMMIT;");
is($ret, 0, "ALTER EXTENSION pg_steward UPDATE from $oldest") or diag($err);
is($out, $before, 'every row of the catalog tables is kept');
like($err, qr/privileges on steward\.alter_job\(.*\) were changed after installation and are not carried over/,
	'a GRANT on a function whose signature changed is reported');
is(sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'"), $default,
	"the extension is at the default version $default");

# ---------------------------------------------------------------------
# The catalog: everything the extension owns, as in a fresh install.
# ---------------------------------------------------------------------
my $tmp = PostgreSQL::Test::Utils::tempdir;
my %catalog;
for my $db (qw(fresh upgraded))
{
	$catalog{$db} = sql($catalog_sql, $db) . "\n";
	open my $fh, '>', "$tmp/$db.txt" or die "$tmp/$db.txt: $!";
	print $fh $catalog{$db};
	close $fh;
}
# The description is not empty or partial by mistake.
my $members = sql("SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                      AND e.extname = 'pg_steward'", 'fresh');
cmp_ok($members, '>', 20, "a fresh install has $members member objects");
is(scalar(() = $catalog{fresh} =~ /\| member of the extension \| yes$/mg), $members,
	'the description lists every member');
ok($catalog{fresh} =~ /^table steward\.job \| columns \| job_id, job_name, /m,
	'the description has the columns of the tables in order');

my $diff = '';
IPC::Run::run([ 'diff', '-u', '--label', "fresh install of $default",
				'--label', "updated from $oldest", "$tmp/fresh.txt", "$tmp/upgraded.txt" ],
	'>', \$diff);
ok($diff eq '', "the catalog updated from $oldest is that of a fresh install")
  or diag("objects differ (- fresh install, + updated; a missing statement in "
	  . "updates/pg_steward--*.sql?):\n$diff");

# ---------------------------------------------------------------------
# The updated database works.
# ---------------------------------------------------------------------
is(sql("SELECT string_agg(job_name || ':' || owner_name, ',' ORDER BY job_id) FROM steward.job WHERE kind = 'sql'"),
	'tick:alice,nightly:postgres,orphan:',
	"jobs record their owner's name (none for a dropped owner)");
is(sql("SELECT last_ok_at = last_maintained_at AND skipped_runs = 0 FROM steward.partition_state"),
	't', "partition_state.last_ok_at is the last maintenance that ended 'ok'");

my $ticks = sql('SELECT count(*) FROM public.ticks');
ok($node->poll_query_until('upgraded', "SELECT count(*) >= $ticks + 3 FROM public.ticks"),
	'the sql job runs again after the update');
is(sql("SELECT count(*) > 0 FROM steward.job_run r JOIN steward.job j USING (job_id)
         WHERE j.job_name = 'tick' AND r.status = 'succeeded' AND r.pid <> 12345"),
	't', 'its runs are recorded as succeeded');
ok($node->poll_query_until('upgraded',
		"SELECT problem LIKE '%no longer exists%' FROM steward.jobs WHERE name = 'orphan'"),
	'a job whose owner is gone is skipped, with the reason');
is(sql("SELECT string_agg(format('%s %s %s', j.enabled, r.status, r.message), ',')
          FROM steward.job_run r JOIN steward.job j USING (job_id) WHERE j.job_name = 'orphan'"),
	'f failed job disabled: its owner "" (OID 4000000) no longer exists',
	'and is disabled without running, with a failed run that says why');
is(sql("SELECT format('%s %s %s %s %s %s', enabled, schedule, timezone, max_runtime, max_retries, retry_delay)
          FROM steward.jobs WHERE name = 'nightly'"),
	'f 30 3 * * * Europe/Paris 00:05:00 2 00:00:30', 'a disabled job keeps its settings');

# The built-in jobs, run now, maintain the set and apply the retention.
for my $job (qw(partition_maintenance row_retention))
{
	my $rid = sql("SELECT steward.run_job('$job')");
	is(sql("SELECT status FROM steward.job_run WHERE run_id = $rid"), 'succeeded',
		"built-in job $job runs after the update")
	  or diag(sql("SELECT message, detail FROM steward.job_run WHERE run_id = $rid"));
}
is(sql("SELECT count(*) FROM public.logt WHERE ts < now() - interval '1 day'"), '0',
	'row retention deleted the old rows');
is(sql("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'public.ev'::regclass AND c.relname LIKE 'ev\\_p%'
           AND c.relname < 'ev_p' || to_char(now() AT TIME ZONE 'UTC' - interval '3 days', 'YYYYMMDD')"),
	'0', 'partition retention dropped the old partitions');
is(sql("SELECT last_status || ' ' || (last_ok_at > now() - interval '1 minute') FROM steward.partition_status"),
	'ok true', 'partition_status shows the maintenance');

# Row-level security added by the update applies to the rows of 0.1.0.
is($node->safe_psql('upgraded', 'SELECT (SELECT count(*) FROM steward.partition_set)::text || (SELECT count(*) FROM steward.retention)',
		extra_params => [ '-U', 'alice' ]), '11', 'the owner of the tables sees their set and retention');
is($node->safe_psql('upgraded', 'SELECT (SELECT count(*) FROM steward.partition_set)::text || (SELECT count(*) FROM steward.retention)',
		extra_params => [ '-U', 'bob' ]), '00', 'another role does not');

($ret, $out, $err) = $node->psql('upgraded', 'ALTER EXTENSION pg_steward UPDATE');
like($err, qr/version "\Q$default\E" of extension "pg_steward" is already installed/,
	'a second update does nothing');

# Audit in a database still at 0.2.0 under this library: the trigger goes on
# logging, sealing asks for the update, and after it history has every row.
$node->safe_psql('postgres', 'CREATE DATABASE at020');
$node->safe_psql('at020', "CREATE EXTENSION pg_steward VERSION '0.2.0';
	CREATE TABLE t (id int PRIMARY KEY, v int);
	SELECT steward.audit_enable('t');
	INSERT INTO t VALUES (1, 1);
	UPDATE t SET v = 2;");
is($node->safe_psql('at020', "SELECT string_agg(op, ' ' ORDER BY event_id) FROM steward.audit_log"),
	'INSERT UPDATE', 'a 0.2.0 catalog under the new library: the audit trigger logs');
($ret, $out, $err) = $node->psql('at020', 'SELECT steward.audit_seal_now()');
like($err, qr/audit rows cannot be sealed before the extension is updated/,
	'sealing a 0.2.0 catalog asks for ALTER EXTENSION UPDATE');
$node->safe_psql('at020', 'ALTER EXTENSION pg_steward UPDATE');
is($node->safe_psql('at020', q{SELECT steward.audit_seal_now(),
	(SELECT string_agg(op, ' ' ORDER BY event_id) FROM steward.audit_history('t', '{"id": 1}')),
	(SELECT bool_and(ok) FROM steward.audit_verify())}),
	'2|INSERT UPDATE|t', 'after the update: sealed, history has both versions, the chain verifies');

$node->stop;
done_testing();
