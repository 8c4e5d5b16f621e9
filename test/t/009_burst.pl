# A burst of due runs larger than the run queue used to be (1,024 runs):
# every run is queued and runs exactly once, by runners that take over
# queued runs, with two owners sharing the runners.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $njobs = 1500;
my $node = steward_node('burst',
	settings => {
		max_worker_processes => 16,
		'steward.max_workers' => 4,
		'steward.max_jobs_per_role' => 0,
	});
create_roles($node, ['burst_a', 'burst_b'], job_api => 1);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql("CREATE TABLE public.hit (name text, owner name, at timestamptz DEFAULT clock_timestamp());
     GRANT INSERT ON public.hit TO burst_a, burst_b");
# half the jobs each, interleaved by id: both owners' runs wait in the queue
for my $i (0 .. $njobs / 100 - 1)
{
	my $role = $i % 2 ? 'burst_b' : 'burst_a';
	my ($lo, $hi) = ($i * 100 + 1, $i * 100 + 100);
	sql("SET ROLE $role;
	     SELECT count(steward.schedule('b' || i, '1 hours',
	            format('INSERT INTO public.hit (name, owner) VALUES (%L, current_user)', 'b' || i)))
	       FROM generate_series($lo, $hi) i");
}
is(sql("SELECT count(DISTINCT owner_name) || ' ' || count(*) FROM steward.job WHERE job_name LIKE 'b%'"),
	"2 $njobs", "$njobs jobs of two owners");

make_due($node, 'b%', count => $njobs, wake => 'b1');
wait_for($node, "SELECT count(*) FROM public.hit", $njobs, "all $njobs runs ran");
wait_for($node,
	"SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
	  WHERE j.job_name LIKE 'b%' AND r.status = 'succeeded'", $njobs,
	'and recorded their success');

# nothing runs twice: two more passes, then count again
wait_for_passes($node, 2);
is(sql("SELECT count(*) || ' ' || count(DISTINCT name) FROM public.hit"), "$njobs $njobs",
	'each job ran exactly once');
is(sql("SELECT count(*) FROM (SELECT job_id FROM steward.job_run GROUP BY job_id HAVING count(*) > 1) x"),
	'0', 'no job has two runs');
is(sql("SELECT count(*) FROM public.hit h JOIN steward.job j ON j.job_name = h.name
         WHERE j.owner_name <> h.owner"), '0', 'each run ran as its job\'s owner');
is(sql("SELECT count(*) FROM steward.job_state s JOIN steward.job j USING (job_id)
         WHERE j.job_name LIKE 'b%' AND s.next_run_at > now() + interval '50 minutes'"),
	$njobs, 'every job is next due an hour later');

$node->stop;
done_testing();
