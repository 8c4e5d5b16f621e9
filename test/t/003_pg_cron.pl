# pg_cron next to pg_steward: a pg_cron job can call steward.run_job(), and
# steward.import_pg_cron() copies pg_cron's jobs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('with_pg_cron',
	preload => 'pg_cron,pg_steward',
	settings => {
		'cron.database_name' => 'postgres',
		'cron.use_background_workers' => 'on',
		'max_worker_processes' => 32,
	});
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
create_roles($node, ['cron_user']);

# import_pg_cron: same names, schedules, commands and owners; disabled.
$node->safe_psql('postgres', q{
	SELECT cron.schedule('nightly', '0 3 * * *', 'VACUUM');
	SELECT cron.schedule('0 * * * *', 'SELECT 1');
	SELECT cron.schedule('every-5', '*/5 * * * *', 'SELECT 2');
	UPDATE cron.job SET username = 'cron_user' WHERE jobname = 'nightly';
	UPDATE cron.job SET active = false WHERE jobname = 'nightly';
	SELECT steward.schedule('every-5', '@daily', 'SELECT 3');
});
my $n = $node->safe_psql('postgres', 'SELECT steward.import_pg_cron()');
is($n, '2', 'two jobs imported, the clashing name skipped');
is($node->safe_psql('postgres',
	"SELECT string_agg(name || ':' || schedule || ':' || owner || ':' || enabled || ':' || timezone, ' ' ORDER BY name)
	   FROM steward.jobs WHERE kind = 'sql'"),
	'every-5:@daily:postgres:true:UTC nightly:0 3 * * *:cron_user:false:UTC pg_cron_2:0 * * * *:postgres:false:UTC',
	'imported jobs keep name, schedule and owner, and start disabled');
is($node->safe_psql('postgres', 'SELECT steward.import_pg_cron(true)'), '0',
	'importing again adds nothing');
$node->safe_psql('postgres', "SELECT steward.unschedule(job_name) FROM steward.job WHERE kind = 'sql'");
$node->safe_psql('postgres', "SELECT cron.unschedule(jobid) FROM cron.job");

# A pg_cron job (in one of pg_cron's background workers) runs a steward job
# through run_job().  The installed pg_cron (1.4) has no schedules in
# seconds and would run a '* * * * *' job only at the next minute; an
# '@reboot' job runs as soon as pg_cron's launcher starts, so a restart
# runs it at once.
$node->safe_psql('postgres', q{
	CREATE TABLE ran (at timestamptz);
	SELECT steward.schedule('via-cron', '@yearly', 'INSERT INTO ran VALUES (now())');
	SELECT cron.schedule('call-steward', '@reboot', $$SELECT steward.run_job('via-cron')$$);
});
$node->restart;
wait_for($node,
	"SELECT count(*) >= 1 FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name = 'via-cron' AND r.status = 'succeeded'", 't',
	'a pg_cron job ran a steward job through run_job()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ran'), '1', 'the steward job did its work');
wait_for($node,
	"SELECT count(*) >= 1 FROM cron.job_run_details d JOIN cron.job c USING (jobid)
	  WHERE c.jobname = 'call-steward' AND d.status = 'succeeded'", 't',
	'and the pg_cron job succeeded');

$node->stop;
done_testing();
