# Without shared_preload_libraries, pure SQL features work and worker
# functions fail with a clear error and hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_steward');
is($node->safe_psql('postgres', 'SELECT steward.version() = extversion FROM pg_extension WHERE extname = \'pg_steward\''),
	't', 'version() works without preloading');

# A fresh session has not loaded the library yet; the view must still list
# the settings.
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM steward.settings'),
	't', 'settings view works without preloading');

SKIP:
{
	skip 'no worker functions yet', 3
	  unless $node->safe_psql('postgres',
		"SELECT to_regproc('steward.run_job') IS NOT NULL") eq 't';
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SELECT steward.run_job('nothing')");
	isnt($ret, 0, 'run_job fails without preloading');
	like($stderr, qr/requires the pg_steward background worker/, 'error names the cause');
	like($stderr, qr/HINT:  Add pg_steward to shared_preload_libraries/, 'error has the hint');
}

$node->stop;
done_testing();
