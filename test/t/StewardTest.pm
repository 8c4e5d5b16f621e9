# Shared setup and waiting for pg_steward's TAP tests (test/t/*.pl).
#
# tools/test.sh puts test/t on PERL5LIB next to PostgreSQL's test modules.
#
#   my $node = steward_node('name', settings => { 'steward.naptime' => 500 });
#   wait_for($node, $query, $expected, 'what it shows');
#   my $p = scheduler_passes($node);
#   ...                                     # something that must not act
#   wait_for_passes($node, 2, from => $p);   # the scheduler had its chances
#   is(..., 'nothing happened');
#
# Every wait is a test: a condition that never comes fails the test file
# (after PG_TEST_TIMEOUT_DEFAULT seconds) instead of being ignored.
package StewardTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  steward_node
  create_roles
  psql_as
  safe_psql_as
  wait_for
  wait_for_logged
  scheduler_passes
  wait_for_passes
  make_due
  reload_settings
  $JOB_API
);

# The SQL API on jobs that a role needs EXECUTE on to schedule jobs.
our $JOB_API = 'steward.schedule(text, text, text, text, interval, int, interval, bool),
	steward.alter_job(text, text, text, bool, text, interval, int, interval),
	steward.unschedule(text), steward.run_job(text, bool)';

# Settings every cluster gets unless the test says otherwise: a short
# naptime so that schedulers and the launcher act within half a second.
my %DEFAULT_SETTINGS = ('steward.naptime' => 500);

=pod

=head1 FUNCTIONS

=over

=item steward_node($name, %opts)

Creates, configures and starts a PostgreSQL::Test::Cluster and returns it.

=over

=item preload => 'pg_steward'

The value of shared_preload_libraries; '' for none.

=item settings => { name => value, ... }

More postgresql.conf settings, written as C<name = 'value'>. Without
preloading, no default settings are written.

=item init => { ... }

Options for C<< $node->init >> (e.g. C<< allows_streaming => 1 >>).

=item port => number

The port (PostgreSQL::Test::Cluster's own choice when not given).

=item extension_in => [ 'postgres' ]

Databases in which to CREATE EXTENSION pg_steward (and CREATE DATABASE
first, for any but postgres).

=back

=cut

sub steward_node
{
	my ($name, %opts) = @_;
	my $preload = exists $opts{preload} ? $opts{preload} : 'pg_steward';
	my %settings = (($preload =~ /pg_steward/ ? %DEFAULT_SETTINGS : ()),
		%{ $opts{settings} // {} });
	my @dbs = @{ $opts{extension_in} // ['postgres'] };

	my $node = PostgreSQL::Test::Cluster->new($name, ($opts{port} ? (port => $opts{port}) : ()));
	$node->init(%{ $opts{init} // {} });
	my $conf = '';
	$conf .= "shared_preload_libraries = '$preload'\n" if $preload ne '';
	for my $k (sort keys %settings)
	{
		(my $v = $settings{$k}) =~ s/'/''/g;
		$conf .= "$k = '$v'\n";
	}
	$node->append_conf('postgresql.conf', $conf) if $conf ne '';
	$node->start;
	for my $db (@dbs)
	{
		$node->safe_psql('postgres', qq{CREATE DATABASE "$db"}) if $db ne 'postgres';
		$node->safe_psql($db, 'CREATE EXTENSION pg_steward');
	}
	return $node;
}

=pod

=item create_roles($node, [ roles ], %opts)

CREATE ROLE ... LOGIN for each role, in the cluster of $node.

=over

=item job_api => 1

GRANT EXECUTE on the jobs API ($JOB_API) in database C<db>.

=item create_on => 'schema'

GRANT CREATE ON SCHEMA to the roles in database C<db>.

=item db => 'postgres'

=back

=cut

sub create_roles
{
	my ($node, $roles, %opts) = @_;
	my $db = $opts{db} // 'postgres';
	my $list = join(', ', @$roles);
	my $q = join('', map { "CREATE ROLE $_ LOGIN;\n" } @$roles);
	$q .= "GRANT EXECUTE ON FUNCTION $JOB_API TO $list;\n" if $opts{job_api};
	$q .= "GRANT CREATE ON SCHEMA $opts{create_on} TO $list;\n" if $opts{create_on};
	$node->safe_psql($db, $q);
	return;
}

=pod

=item psql_as($node, $role, $query, db => 'postgres')

Runs $query in a session logged in as $role, with VERBOSITY verbose (errors
carry their SQLSTATE). Returns (exit code, stdout, stderr).

=item safe_psql_as($node, $role, $query, db => 'postgres')

The same, but dies on failure and returns stdout.

=cut

sub psql_as
{
	my ($node, $role, $query, %opts) = @_;
	my ($ret, $out, $err) = $node->psql($opts{db} // 'postgres',
		"\\set VERBOSITY verbose\n$query",
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

sub safe_psql_as
{
	my ($node, $role, $query, %opts) = @_;
	my ($ret, $out, $err) = psql_as($node, $role, $query, %opts);
	die "as $role: $query: $err" if $ret != 0;
	return $out;
}

=pod

=item wait_for($node, $query, $expected, $name, $db)

Polls $query in $db (default postgres) until it returns $expected, and
records the outcome as the test $name: ok when it came, not ok (with the
last result) when it did not within the timeout. Returns the outcome.

=cut

sub wait_for
{
	my ($node, $query, $expected, $name, $db) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return ok($node->poll_query_until($db // 'postgres', $query, $expected), $name);
}

=pod

=item wait_for_logged($node, $regexp, $offset, $name)

Waits until the server log, from byte $offset on, matches $regexp, and
records the outcome as the test $name.

=cut

sub wait_for_logged
{
	my ($node, $regexp, $offset, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $found = eval { $node->wait_for_log($regexp, $offset); 1 };
	ok($found, $name) or diag($@);
	return $found;
}

=pod

=item scheduler_passes($node, $db)

The number of scheduling passes the scheduler of $db (default postgres) has
completed since it started (steward.scheduler_passes(); 0 without a
scheduler).

=cut

sub scheduler_passes
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres', 'SELECT coalesce(steward.scheduler_passes(), 0)');
}

=pod

=item wait_for_passes($node, $n, %opts)

Waits, as a test, until the scheduler of C<db> (default postgres) has
completed $n more passes than C<from> (default: its count now). Each pass
evaluates the due jobs, so once it returns the scheduler has had $n chances
to act on what was done before C<from> was read: a test that something did
not happen reads the count, does the thing, waits, and then checks.

=cut

sub wait_for_passes
{
	my ($node, $n, %opts) = @_;
	my $db = $opts{db} // 'postgres';
	my $from = $opts{from} // scheduler_passes($node, $db);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return wait_for($node,
		"SELECT coalesce(steward.scheduler_passes(), 0) >= $from + $n", 't',
		$opts{name} // "the scheduler of $db completed $n more passes (after $from)", $db);
}

=pod

=item make_due($node, $jobs, %opts)

Makes jobs due now, as if their time had come (the clock is not mocked; the
scheduler's state is), and wakes the scheduler. $jobs is a LIKE pattern on
the job name or a list of them. Waits first, as a test, until the scheduler
has created the state of all C<count> (default: one per pattern) jobs.

=over

=item db => 'postgres'

=item count => number of jobs the patterns must match

=item wake => job name

The job whose alter_job() wakes the scheduler (default: the first pattern).

=back

=cut

sub make_due
{
	my ($node, $jobs, %opts) = @_;
	my @patterns = ref $jobs ? @$jobs : ($jobs);
	my $db = $opts{db} // 'postgres';
	my $count = $opts{count} // scalar(@patterns);
	my $wake = $opts{wake} // $patterns[0];
	my $where = join(' OR ', map { "j.job_name LIKE '$_'" } @patterns);
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	wait_for($node,
		"SELECT count(*) FROM steward.job_state s JOIN steward.job j USING (job_id) WHERE $where",
		$count, "the scheduler has the state of " . join(', ', @patterns), $db)
	  or return 0;
	$node->safe_psql($db, "UPDATE steward.job_state SET next_run_at = now() FROM steward.job j
	                        WHERE j.job_id = job_state.job_id AND ($where);
	                       SELECT steward.alter_job('$wake')");
	return 1;
}

=pod

=item reload_settings($node, { name => value, ... }, %opts)

ALTER SYSTEM SET each setting (RESET for an undefined value) and reloads
the configuration; then waits, as tests, until the server has reloaded it
(new sessions see the new values) and until the scheduler of C<db> (default
postgres) has completed C<passes> (default 2) more passes, so that it has
reloaded as well (0: do not wait for the scheduler).

=cut

sub reload_settings
{
	my ($node, $settings, %opts) = @_;
	my $db = $opts{db} // 'postgres';
	my $passes = $opts{passes} // 2;
	my $what = join(', ', map { defined $settings->{$_} ? "$_ = $settings->{$_}" : "RESET $_" }
		  sort keys %$settings);
	local $Test::Builder::Level = $Test::Builder::Level + 1;

	my $q = join('', map {
		defined $settings->{$_}
		  ? "ALTER SYSTEM SET $_ = '$settings->{$_}';\n"
		  : "ALTER SYSTEM RESET $_;\n"
	} sort keys %$settings);
	my $before = $node->safe_psql('postgres', 'SELECT pg_conf_load_time()');
	$node->safe_psql('postgres', $q . 'SELECT pg_reload_conf()');
	# The postmaster signals its children right after reloading: a pass
	# that completes after the one under way when the signal came started
	# with the new settings.
	my $ok = wait_for($node, "SELECT pg_conf_load_time() > '$before'", 't',
		"the server reloaded its configuration ($what)");
	$ok = wait_for_passes($node, $passes, db => $db,
		name => "the scheduler of $db completed $passes passes after the reload") && $ok
	  if $passes;
	return $ok;
}

=pod

=back

=cut

1;
