# Nothing runs on a hot standby; after promotion the scheduler starts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_steward'
steward.naptime = 500
max_worker_processes = 16
});
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pg_steward;
	SELECT steward.schedule('tick', '1 seconds', 'SELECT 1');
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
$primary->stop;

sleep 2;
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_steward%'"),
	'0', 'no pg_steward worker on a hot standby');

$standby->promote;
ok($standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_steward scheduler'"),
	'scheduler starts after promotion');
ok($standby->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM steward.job_run WHERE status = 'succeeded'"),
	'jobs run on the promoted server');

$standby->stop;
done_testing();
