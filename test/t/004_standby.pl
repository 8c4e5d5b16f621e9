# Nothing runs on a hot standby; after promotion the scheduler starts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $primary = steward_node('primary',
	init => { allows_streaming => 1 },
	settings => { max_worker_processes => 16 });
$primary->safe_psql('postgres', "SELECT steward.schedule('tick', '1 seconds', 'SELECT 1')");
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# The standby has no scheduler of its own to count passes; it runs while the
# primary's scheduler completes two more passes (and its job runs), then
# shows no pg_steward process and no passes.
wait_for_passes($primary, 2);
wait_for($primary,
	"SELECT count(*) >= 2 FROM steward.job_run WHERE status = 'succeeded'", 't',
	'the job runs on the primary');
$primary->wait_for_catchup($standby);
$primary->stop;

is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_steward%'"),
	'0', 'no pg_steward worker on a hot standby');
is($standby->safe_psql('postgres', 'SELECT coalesce(steward.scheduler_passes(), 0)'),
	'0', 'and no scheduling pass on the standby');

my ($rc, $out, $err) = $standby->psql('postgres', "SELECT steward.run_job('standby-probe')");
like($err, qr/cannot run a job during recovery/, 'run_job() on a hot standby is refused at once');

$standby->promote;
wait_for($standby,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler'", 't',
	'scheduler starts after promotion');
my $before = $standby->safe_psql('postgres', "SELECT count(*) FROM steward.job_run WHERE status = 'succeeded'");
wait_for($standby,
	"SELECT count(*) >= $before + 2 FROM steward.job_run WHERE status = 'succeeded'", 't',
	'jobs run on the promoted server');

$standby->stop;
done_testing();
