# Without shared_preload_libraries, pure SQL features work and worker
# functions fail with a clear error and hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Test::More;
use StewardTest;

my $node = steward_node('not_preloaded', preload => '');

is($node->safe_psql('postgres', 'SELECT steward.version() = extversion FROM pg_extension WHERE extname = \'pg_steward\''),
	't', 'version() works without preloading');

# A fresh session has not loaded the library yet; the view must still list
# the settings.
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM steward.settings'),
	't', 'settings view works without preloading');

# Worker functions exist (a renamed or missing one fails here, not skipped)
# and fail with the cause and the hint.
is($node->safe_psql('postgres', "SELECT to_regprocedure('steward.run_job(text, boolean)') IS NOT NULL"),
	't', 'steward.run_job(text, boolean) exists');
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT steward.run_job('nothing')");
isnt($ret, 0, 'run_job fails without preloading');
like($stderr, qr/requires the pg_steward background worker/, 'error names the cause');
like($stderr, qr/HINT:  Add pg_steward to shared_preload_libraries/, 'error has the hint');

$node->stop;
done_testing();
