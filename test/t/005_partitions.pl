# Partition maintenance by the worker: the built-in job maintains every set,
# each in its own transaction, and detaches concurrently where asked.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('partitions');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_steward'
steward.naptime = 500
max_worker_processes = 16
});
$node->start;
my $db = 'postgres';
sub sql { return $node->safe_psql($db, $_[0]); }

sql(q{
	CREATE EXTENSION pg_steward;
	CREATE TABLE conc (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	CREATE TABLE dropped (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
	CREATE TABLE ahead (id bigint NOT NULL) PARTITION BY RANGE (id);
	SELECT steward.partition_table('conc', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '6 days')::text, retention => '3 days',
	       retention_mode => 'detach_concurrently', default_partition => false);
	SELECT steward.partition_table('dropped', 'ts', '1 day', premake => 1,
	       start_at => (now() - interval '6 days')::text, retention => '3 days');
	SELECT steward.partition_table('ahead', 'id', '1000', premake => 2);
	INSERT INTO ahead SELECT generate_series(1, 2500);
});

# Called from SQL, concurrent detaching is left to the worker.
like(sql("SELECT message FROM steward.partition_maintain('conc')"),
	qr/left to the worker/, 'partition_maintain() leaves DETACH CONCURRENTLY to the worker');

# The built-in job, run now (without waiting: DETACH ... CONCURRENTLY waits
# for older transactions, which would include ours).
sql("SELECT steward.run_job('partition_maintenance', wait => false)");
ok($node->poll_query_until($db,
	"SELECT last_status = 'succeeded' FROM steward.jobs WHERE name = 'partition_maintenance'"),
	'maintenance job succeeded');
like(sql("SELECT last_message FROM steward.jobs WHERE name = 'partition_maintenance'"),
	qr/3 sets maintained/, 'job message counts the sets');

is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'conc'::regclass"), '5',
	'old partitions of conc are detached');
is(sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'conc_p%' AND relkind = 'r' AND NOT relispartition"),
	'3', 'and kept as plain tables');
is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'dropped'::regclass"), '6',
	'old partitions of dropped are dropped (5 days + default)');
is(sql("SELECT count(*) FROM ONLY ahead_default"), '0',
	'id set: rows that outran premake were moved out of the default partition');
is(sql("SELECT periods_ahead FROM steward.partition_status WHERE parent = 'ahead'::regclass"), '2',
	'id set: premade ahead of the largest id');

# One set failing does not stop the others: 'dropped' gets a broken step,
# while 'late' lost a partition that maintenance must re-create.
sql("UPDATE steward.partition_set SET step = 'not a step' WHERE parent = 'dropped'::regclass");
sql("CREATE TABLE late (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)");
sql("SELECT steward.partition_table('late', 'ts', '1 day', premake => 1)");
sql("ALTER TABLE late DETACH PARTITION " . sql("SELECT relname FROM pg_class WHERE relname LIKE 'late_p%' ORDER BY relname DESC LIMIT 1"));
sql("SELECT steward.run_job('partition_maintenance', wait => false)");
ok($node->poll_query_until($db,
	"SELECT last_status = 'failed' FROM steward.jobs WHERE name = 'partition_maintenance'"),
	'a failing set makes the run fail');
like(sql("SELECT last_message FROM steward.jobs WHERE name = 'partition_maintenance'"),
	qr/1 of 4 partition sets failed/, 'the message says which part failed');
is(sql("SELECT last_status FROM steward.partition_status WHERE parent = 'late'::regclass"), 'ok',
	'the other sets were maintained');
is(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'late'::regclass"), '3',
	'the missing partition of late was re-created');

# Row retention of a plain table, by the worker, in batches.
sql(q{
	CREATE TABLE notes (id bigserial PRIMARY KEY, at timestamptz NOT NULL);
	CREATE INDEX ON notes (at);
	INSERT INTO notes (at) SELECT now() - g * interval '1 minute' FROM generate_series(1, 5000) g;
	SELECT steward.retention_add('notes', 'at', '1 hour', batch_rows => 1000);
});
sql("SELECT steward.run_job('row_retention')");
is(sql("SELECT count(*) FROM notes"), '59', 'row_retention deleted the expired rows');
is(sql("SELECT last_status || ': ' || last_message FROM steward.jobs WHERE name = 'row_retention'"),
	'succeeded: deleted 4941 rows from 1 tables', 'the job reports the rows deleted');
is(sql("SELECT detail->>'notes' FROM steward.job_run r JOIN steward.job j USING (job_id)
         WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1"),
	'4941', 'and the rows per table in the run detail');

$node->stop;
done_testing();
