# Migrations: what needs several sessions, the worker or tools.  Two
# sessions migrating at once; a migration the worker applies (CREATE INDEX
# CONCURRENTLY, run as the role that called migrate(), retried on lock
# timeouts, its INVALID index dropped after a failed build); a failure in
# the middle of a batch; a role without rights; pg_dump/pg_restore;
# migrations_load with both file styles.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('migrations', settings => { max_worker_processes => 32 });

sub sql { my ($db, $q) = @_; return $node->safe_psql($db, $q); }

my $API = 'steward.migration_add(text, text, text, text, text[]),
	steward.migration_replace(text, text, text, text, text[]), steward.migrate(text, boolean),
	steward.rollback(text), steward.baseline(text)';

# A database with the extension; 'deployer' may migrate it, 'nobody' not.
sub new_db
{
	my ($db) = @_;
	sql('postgres', "CREATE DATABASE $db");
	sql($db, "CREATE EXTENSION pg_steward;
	          GRANT EXECUTE ON FUNCTION $API TO deployer;
	          GRANT SELECT ON steward.migration, steward.migration_history,
	                          steward.migration_status TO deployer;
	          GRANT CREATE ON SCHEMA public TO deployer;");
	return $db;
}

create_roles($node, [ 'deployer', 'nobody' ]);

###########################################################################
# 1. Two sessions migrating at once: the second waits for the first's
#    transaction, then sees its work and applies nothing twice.
###########################################################################
my $db = new_db('conc');
safe_psql_as($node, 'deployer', "
	SELECT count(*) FROM steward.migration_add('1', 'a', 'CREATE TABLE a (id int)');
	SELECT count(*) FROM steward.migration_add('2', 'b', 'CREATE TABLE b (id int)');",
	db => $db);
my $first = $node->background_psql($db, extra_params => [ '-U', 'deployer' ]);
my $out = $first->query_safe("BEGIN; SELECT string_agg(version, ',') FROM steward.migrate()");
like($out, qr/1,2/, 'the first session applies 1 and 2 (not committed yet)');
my $second = $node->background_psql($db, extra_params => [ '-U', 'deployer' ]);
$second->query_until(qr/started/,
	"\\echo started\nSELECT 'applied:' || count(*) FROM steward.migrate();\n");
wait_for($node, "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event = 'advisory' AND query LIKE '%steward.migrate()%'",
	'1', 'the second session waits for the first one\'s lock', $db);
$first->query_safe('COMMIT');
$out = $second->query_safe("SELECT 'done'");
like($out, qr/applied:0\s+done/, 'then it applies nothing');
is(sql($db, "SELECT string_agg(version || ':' || action || ':' || status, ',' ORDER BY history_id)
             FROM steward.migration_history WHERE action <> 'untracked'"),
	'1:apply:succeeded,2:apply:succeeded', 'each version applied once');
$first->quit;
$second->quit;

###########################################################################
# 2. A failure in the middle of a batch: the schema is untouched and the
#    history says what failed, by whom.
###########################################################################
safe_psql_as($node, 'deployer', "
	SELECT count(*) FROM steward.migration_add('3', 'c', 'CREATE TABLE c (id int)');
	SELECT count(*) FROM steward.migration_add('4', 'd', 'INSERT INTO c VALUES (1); INSERT INTO nowhere VALUES (1)');
	SELECT count(*) FROM steward.migration_add('5', 'e', 'CREATE TABLE e (id int)');",
	db => $db);
my ($ret, $stdout, $stderr) = psql_as($node, 'deployer', 'SELECT * FROM steward.migrate()', db => $db);
isnt($ret, 0, 'migrate() fails');
like($stderr, qr/42P01.*relation "nowhere" does not exist/s, 'with the migration\'s error');
like($stderr, qr/migration "4" \(d\), up_sql statement 2/, 'naming the migration and statement');
is(sql($db, "SELECT to_regclass('c') IS NULL AND to_regclass('e') IS NULL"), 't',
	'nothing of the batch is left');
is(sql($db, "SELECT version || ':' || status || ':' || applied_by || ':' || (detail->>'statement')
             || ':' || error FROM steward.migration_history WHERE status = 'failed'"),
	'4:failed:deployer:2:relation "nowhere" does not exist', 'the history tells what failed');
is(sql($db, "SELECT string_agg(version || ':' || state, ',') FROM steward.migration_status"),
	'1:applied,2:applied,3:pending,4:failed,5:pending', 'migration_status shows it');

###########################################################################
# 3. A role without rights can neither add nor apply migrations.
###########################################################################
($ret, $stdout, $stderr) = psql_as($node, 'nobody',
	"SELECT * FROM steward.migration_add('9', 'x', 'DROP TABLE a')", db => $db);
like($stderr, qr/42501.*permission denied for function migration_add/s, 'nobody cannot add');
($ret, $stdout, $stderr) = psql_as($node, 'nobody', 'SELECT * FROM steward.migrate()', db => $db);
like($stderr, qr/42501.*permission denied for function migrate/s, 'nobody cannot apply');
($ret, $stdout, $stderr) = psql_as($node, 'nobody', "SELECT * FROM steward.rollback('0')", db => $db);
like($stderr, qr/42501.*permission denied for function rollback/s, 'nobody cannot roll back');
($ret, $stdout, $stderr) = psql_as($node, 'nobody',
	"DELETE FROM steward.migration_history; INSERT INTO steward.migration_history (action, status) VALUES ('apply', 'succeeded')",
	db => $db);
like($stderr, qr/permission denied for table migration_history/, 'nobody cannot write the history');
($ret, $stdout, $stderr) = psql_as($node, 'deployer',
	"SELECT steward.migrations_load('/tmp')", db => $db);
like($stderr, qr/permission denied/, 'loading server files takes more than EXECUTE');

###########################################################################
# 4. The worker: CREATE INDEX CONCURRENTLY is queued, applied by the
#    worker as the role that called migrate(), retried while a lock is
#    held, and the next migrate() continues after it.
###########################################################################
$db = new_db('worker');
sql($db, "ALTER ROLE deployer IN DATABASE worker SET steward.migration_lock_timeout = '100ms'");
safe_psql_as($node, 'deployer', "
	SELECT count(*) FROM steward.migration_add('1', 't', 'CREATE TABLE t (id int, v int); INSERT INTO t SELECT g, g % 3 FROM generate_series(1, 1000) g');
	SELECT count(*) FROM steward.migration_add('2', 'cic', 'CREATE INDEX CONCURRENTLY t_id ON t (id)');
	SELECT count(*) FROM steward.migration_add('3', 'after', 'CREATE TABLE after_cic (id int)');",
	db => $db);
$out = safe_psql_as($node, 'deployer',
	"SELECT string_agg(version || ':' || action, ',') FROM steward.migrate('1')", db => $db);
is($out, '1:applied', 'migrate(\'1\') applies 1');
# Hold a lock on t: the worker's statement times out and is tried again.
my $locker = $node->background_psql($db);
$locker->query_safe('BEGIN; LOCK TABLE t IN SHARE MODE');
$out = safe_psql_as($node, 'deployer',
	"SELECT string_agg(version || ':' || action, ',') FROM steward.migrate()", db => $db);
is($out, '2:queued', 'migrate() queues the concurrent index');
is(sql($db, "SELECT state FROM steward.migration_status WHERE version = '2'"), 'queued',
	'the status says queued');
# 'Extension': the backoff wait between tries, after a lock timeout
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity
                 WHERE backend_type = 'pg_steward runner' AND wait_event = 'Extension'",
	't', 'the worker timed out on the lock and waits to try again', $db);
$locker->query_safe('COMMIT');
$locker->quit;
wait_for($node, "SELECT state FROM steward.migration_status WHERE version = '2'", 'applied',
	'the worker applied the migration', $db);
is(sql($db, "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 't_id'::regclass"), 't',
	'the index is valid');
is(sql($db, "SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = 't_id'::regclass"),
	'deployer', 'built as the role that called migrate()');
is(sql($db, "SELECT j.owner::regrole || ':' || r.status FROM steward.job_run r JOIN steward.job j USING (job_id)
             WHERE j.kind = 'migration' ORDER BY r.run_id DESC LIMIT 1"),
	'deployer:succeeded', 'the migration job ran as deployer');
$out = safe_psql_as($node, 'deployer',
	"SELECT string_agg(version || ':' || action, ',') FROM steward.migrate()", db => $db);
is($out, '3:applied', 'the next migrate() continues after it');
is(sql($db, "SELECT count(*) FROM steward.migration_history WHERE action = 'untracked'
             AND name <> 'GRANT'"), '0',
	'the worker\'s DDL is not reported as untracked');

# A failed concurrent build leaves an INVALID index: the worker drops it.
safe_psql_as($node, 'deployer', "
	SELECT count(*) FROM steward.migration_add('4', 'unique', 'CREATE UNIQUE INDEX CONCURRENTLY t_v ON t (v)');",
	db => $db);
$out = safe_psql_as($node, 'deployer',
	"SELECT string_agg(version || ':' || action, ',') FROM steward.migrate()", db => $db);
is($out, '4:queued', 'a unique index on duplicates is queued');
wait_for($node, "SELECT state FROM steward.migration_status WHERE version = '4'", 'failed',
	'the worker reports the failure', $db);
like(sql($db, "SELECT error FROM steward.migration_history WHERE version = '4' AND status = 'failed'"),
	qr/could not create unique index "t_v"/, 'with the error');
is(sql($db, "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND NOT indisvalid"), '0',
	'no INVALID index is left');
wait_for($node, "SELECT NOT enabled FROM steward.job WHERE kind = 'migration'", 't',
	'the migration job disables itself when nothing is queued', $db);

###########################################################################
# 5. pg_dump / pg_restore keeps the catalog and the history.
###########################################################################
$db = 'conc';
my $cat_q = "SELECT version, name, up_sql, down_sql, encode(checksum, 'hex'), transactional, requires
             FROM steward.migration ORDER BY version";
my $hist_q = "SELECT history_id, version, action, status, error, applied_by
              FROM steward.migration_history ORDER BY history_id";
my $status_q = "SELECT version, state FROM steward.migration_status";
my ($cat, $hist, $status) = (sql($db, $cat_q), sql($db, $hist_q), sql($db, $status_q));
my $dump = "${PostgreSQL::Test::Utils::tmp_check}/migrations.dump";
$node->command_ok([ 'pg_dump', '--format=custom', '--file', $dump, '--host', $node->host,
	'--port', $node->port, $db ], 'pg_dump');
sql('postgres', 'CREATE DATABASE restored');
my ($rout, $rerr) = run_command([ 'pg_restore', '--dbname', 'restored', '--host', $node->host,
	'--port', $node->port, $dump ]);
is(join("\n", grep { /error:/ } split /\n/, $rerr), '', 'pg_restore without errors');
is(sql('restored', $cat_q), $cat, 'steward.migration is restored');
is(sql('restored', $hist_q), $hist, 'steward.migration_history is restored (no untracked rows from the restore)');
is(sql('restored', $status_q), $status, 'and so is the status');
sql('restored', "INSERT INTO steward.migration_history (action, status) VALUES ('untracked', 'succeeded')");
is(sql('restored', "SELECT max(history_id) > (SELECT max(history_id) FROM steward.migration_history WHERE action = 'apply') FROM steward.migration_history"),
	't', 'the history numbering goes on');

###########################################################################
# 6. migrations_load: both file styles; bad names reported.
###########################################################################
$db = new_db('load');
my $dir = PostgreSQL::Test::Utils::tempdir();
my %files = (
	'V1__create_t.sql' => 'CREATE TABLE lt (id int);',
	'V1_1__add_col.sql' => 'ALTER TABLE lt ADD v text;',
	'2_index.up.sql' => 'CREATE INDEX lt_v ON lt (v);',
	'2_index.down.sql' => 'DROP INDEX lt_v;',
	'10_more.up.sql' => "ALTER TABLE lt ADD w text;\r\n",
	'notes.sql' => 'SELECT 1;',
	'V3_missing_separator.sql' => 'SELECT 1;',
	'7_orphan.down.sql' => 'SELECT 1;',
	'README.md' => 'not SQL',
);
for my $f (keys %files)
{
	open(my $fh, '>', "$dir/$f") or die "$dir/$f: $!";
	print $fh $files{$f};
	close($fh);
}
($ret, $stdout, $stderr) = $node->psql($db, "SELECT steward.migrations_load('$dir')");
is($stdout, '4', 'migrations_load registers 4 migrations');
like($stderr, qr/skipped "notes.sql": not a migration file name/, 'a bad name is reported');
like($stderr, qr/skipped "V3_missing_separator.sql"/, 'a Flyway name without __ is reported');
like($stderr, qr/skipped migration "7": it has a \.down\.sql file but no \.up\.sql/,
	'a down without an up is reported');
unlike($stderr, qr/README/, 'other files are ignored');
is(sql($db, "SELECT string_agg(version || ':' || name || ':' || (down_sql IS NOT NULL), ','
             ORDER BY steward.migration_version_key(version)) FROM steward.migration"),
	'1:create_t:false,1.1:add_col:false,2:index:true,10:more:false', 'both styles, natural order');
is(sql($db, "SELECT string_agg(version, ',') FROM steward.migrate()"), '1,1.1,2,10',
	'and they apply in order');
is(sql($db, "SELECT steward.migrations_load('$dir')"), '4', 'loading again changes nothing');
open(my $fh, '>', "$dir/V1__create_t.sql") or die;
print $fh 'CREATE TABLE lt (id bigint);';
close($fh);
($ret, $stdout, $stderr) = $node->psql($db, "SELECT steward.migrations_load('$dir')");
like($stderr, qr/P0001|migration "1" is applied with a different up_sql/,
	'a changed file of an applied migration is refused');

done_testing();
