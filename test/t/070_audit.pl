# Audit: what needs several sessions, restarts or tools.  Concurrent
# writers (the log matches the committed changes exactly, while the
# built-in audit_seal job seals under load); sealing with a transaction open
# across seal boundaries; tampering detected; retention keeps the chain
# verifiable; pg_dump/pg_restore; restart and crash; a hostile role.
# Each part has its own database (its own log and chain); the built-in
# audit_seal job is disabled except where a part says so.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

# allows_streaming: part 6 copies the cluster with pg_basebackup
my $node = steward_node('audit', init => { allows_streaming => 1 },
	settings => { max_worker_processes => 32, restart_after_crash => 'on' });

sub sql { my ($db, $q) = @_; return $node->safe_psql($db, $q); }

# A database with the extension, its audit_seal job disabled.
sub new_db
{
	my ($db) = @_;
	sql('postgres', "CREATE DATABASE $db");
	sql($db, "CREATE EXTENSION pg_steward;
	          SELECT steward.alter_job('audit_seal', enabled => false);");
	return $db;
}

# Seal until nothing that can be sealed is left: every log row of a
# finished transaction (none is open when this is called).  A transaction
# of another database (a scheduler's) can hold the snapshot's xmin back for
# a moment, hence the polling.
sub seal_all
{
	my ($db, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	return wait_for($node,
		"SELECT steward.audit_seal_now() IS NOT NULL AND
		        (SELECT count(*) FROM steward.audit_log) =
		        (SELECT count(*) FROM steward.audit_seal_digest)",
		't', $name, $db);
}

# The chain: every seal ok, and the rows of the sealed transactions
# (below the last seal's end) each covered by exactly one seal: as many
# as the seals count and as digests are kept.
sub chain_ok
{
	my ($db, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(sql($db, "SELECT count(*) FILTER (WHERE NOT ok) || ' bad of ' || count(*)
	              FROM steward.audit_verify()"),
		'0 bad of ' . sql($db, 'SELECT count(*) FROM steward.audit_seal'),
		"$name: audit_verify() finds every seal ok");
	my $in = "steward.audit_log l WHERE l.txid < (SELECT max(txid_to) FROM steward.audit_seal)";
	is(sql($db, "SELECT (SELECT count(*) FROM $in) || ' ' ||
	                    (SELECT sum(row_count) FROM steward.audit_seal) || ' ' ||
	                    (SELECT count(*) FROM steward.audit_seal_digest) || ' ' ||
	                    (SELECT count(DISTINCT event_id) FROM steward.audit_seal_digest) || ' ' ||
	                    (SELECT count(*) FROM $in
	                        AND (SELECT count(*) FROM steward.audit_seal s
	                              WHERE l.txid >= s.txid_from AND l.txid < s.txid_to) <> 1)"),
		join(' ', (sql($db, "SELECT count(*) FROM $in")) x 4, 0),
		"$name: sealed rows = rows counted by the seals = digests, each in exactly one seal");
}

###########################################################################
# 1. Concurrent writers, some transactions and savepoints rolled back,
#    while the built-in audit_seal job seals every second (3).
###########################################################################
my $db = new_db('conc');
sql($db, q{
	CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL, note text,
	                   tags text[], amount numeric);
	-- what the committed transactions did, written in the same statements
	CREATE TABLE journal (txid xid8, op text, id int);
	SELECT steward.audit_enable('acct');
	SELECT steward.alter_job('audit_seal', schedule => '1 seconds', enabled => true);
});

# Rows are locked in ascending id order: no deadlocks.  One transaction in
# ten rolls back; the savepoint's update always does.
my $script = q{
\set id random(1, 300)
\set r random(1, 10)
BEGIN;
WITH i AS (INSERT INTO acct AS a VALUES (:id, 0, 'new', ARRAY['t' || :r, NULL], :r * 1.5)
           ON CONFLICT (id) DO UPDATE SET balance = a.balance + 1, note = 'upsert ' || :r
           RETURNING id, xmax = 0 AS inserted)
INSERT INTO journal SELECT pg_current_xact_id(), CASE WHEN inserted THEN 'INSERT' ELSE 'UPDATE' END, id FROM i;
SAVEPOINT s;
WITH u AS (UPDATE acct SET balance = balance - 100000 WHERE id = :id RETURNING id)
INSERT INTO journal SELECT pg_current_xact_id(), 'UPDATE', id FROM u;
ROLLBACK TO SAVEPOINT s;
WITH u AS (UPDATE acct SET balance = balance + :r, note = NULL, amount = amount * 2 WHERE id = :id + 1 RETURNING id)
INSERT INTO journal SELECT pg_current_xact_id(), 'UPDATE', id FROM u;
WITH d AS (DELETE FROM acct WHERE id = :id + 2 AND :r <= 3 RETURNING id)
INSERT INTO journal SELECT pg_current_xact_id(), 'DELETE', id FROM d;
\if :r = 10
ROLLBACK;
\else
COMMIT;
\endif
};
# The job runs while the clients write: wait for its first run, then write
# for a few seconds.
wait_for($node, q{SELECT count(*) > 0 FROM steward.job_run r JOIN steward.job j USING (job_id)
                  WHERE j.job_name = 'audit_seal' AND r.status = 'succeeded'},
	't', 'the audit_seal job runs every second', $db);
my $seals_before = sql($db, 'SELECT count(*) FROM steward.audit_seal');
my $sfile = "${PostgreSQL::Test::Utils::tmp_check}/audit_conc.sql";
PostgreSQL::Test::Utils::append_to_file($sfile, $script);
my ($bout, $berr) = run_command([ 'pgbench', '--no-vacuum', '--client=4', '--jobs=2', '--time=4',
	'--max-tries=10', '--file', $sfile, '--host', $node->host, '--port', $node->port, $db ]);
my ($processed) = $bout =~ /number of transactions actually processed: (\d+)/;
ok(defined $processed && $processed > 100, 'pgbench: 4 clients for 4 seconds, '
	. ($processed // 'no') . ' transactions') or diag($bout, $berr);
$processed //= 0;
my $committed = sql($db, 'SELECT count(DISTINCT txid) FROM journal');
ok($committed > $processed * 0.8 && $committed < $processed,
	"some transactions rolled back ($committed of $processed committed)");
is(sql($db, q{SELECT count(*) FROM steward.audit_log WHERE relid = 'acct'::regclass
              AND op = 'INSERT'}),
	sql($db, "SELECT count(*) FROM journal WHERE op = 'INSERT'"),
	'as many INSERT audit rows as committed inserts');
is(sql($db, q{
	SELECT (SELECT count(*) FROM (SELECT txid, op, (row_key->>'id')::int FROM steward.audit_log
	                                 WHERE relid = 'acct'::regclass
	                              EXCEPT ALL SELECT txid, op, id FROM journal) x) || ' ' ||
	       (SELECT count(*) FROM (SELECT txid, op, id FROM journal
	                              EXCEPT ALL SELECT txid, op, (row_key->>'id')::int FROM steward.audit_log
	                                 WHERE relid = 'acct'::regclass) y) || ' ' ||
	       (SELECT count(*) FROM journal)}),
	'0 0 ' . sql($db, "SELECT count(*) FROM steward.audit_log"),
	'the audit rows are exactly the committed changes (transaction, operation, row)');
is(sql($db, q{SELECT count(*) FROM steward.audit_log
              WHERE (new_values->>'balance')::int < 0 OR (old_values->>'balance')::int < 0}),
	'0', 'no audit row of a rolled-back savepoint');
is(sql($db, q{SELECT count(*) FROM acct a
              WHERE steward.audit_row_as_of('acct', jsonb_build_object('id', a.id), now())
                    IS DISTINCT FROM to_jsonb(a)}),
	'0', 'every row: audit_row_as_of(now) is the row');
is(sql($db, q{SELECT count(*) FROM (SELECT DISTINCT row_key FROM steward.audit_log
                                    WHERE relid = 'acct'::regclass) k
              WHERE NOT EXISTS (SELECT FROM acct WHERE id = (k.row_key->>'id')::int)
                AND steward.audit_row_as_of('acct', k.row_key, now()) IS NOT NULL}),
	'0', 'every deleted row: audit_row_as_of(now) is NULL');
ok(sql($db, "SELECT count(*) FROM journal WHERE op = 'DELETE'") > 0
	  && sql($db, "SELECT count(*) FROM journal WHERE op = 'UPDATE'") > 0,
	'the run had updates and deletes');

# 3. The built-in job seals by itself.
wait_for($node, q{SELECT (SELECT count(*) FROM steward.audit_log) =
                         (SELECT count(*) FROM steward.audit_seal_digest)},
	't', 'the audit_seal job (every second) sealed every row by itself', $db);
my $seals = sql($db, 'SELECT count(*) FROM steward.audit_seal') - $seals_before;
ok($seals > 1, "in several seals ($seals) made while the clients wrote");
# (its latest run may be under way, with no message yet: wait for one that ended)
wait_for($node, q{SELECT last_message ~ '^sealed \d+ audit rows$' FROM steward.jobs WHERE name = 'audit_seal'},
	't', 'the job says how many rows it sealed', $db);
is(sql($db, "SELECT count(*) FROM steward.job_run r JOIN steward.job j USING (job_id)
             WHERE j.job_name = 'audit_seal' AND r.status NOT IN ('succeeded', 'running')"),
	'0', 'no run of the audit_seal job failed');
sql($db, "SELECT steward.alter_job('audit_seal', enabled => false)");
chain_ok($db, 'sealed under concurrent writers');

# History: sealed versions through the seal digests' index, newer ones from
# the end of the log; the same as a scan of the log, for every row.
my $history_differs = q{
	SELECT count(*) FROM (SELECT DISTINCT row_key FROM steward.audit_log
	                       WHERE relid = 'acct'::regclass) k
	 WHERE ARRAY(SELECT event_id FROM steward.audit_history('acct', k.row_key))
	       IS DISTINCT FROM
	       ARRAY(SELECT event_id FROM steward.audit_log
	              WHERE relid = 'acct'::regclass AND row_key = k.row_key ORDER BY event_id)};
sql($db, q{UPDATE acct SET balance = balance + 1 WHERE id % 3 = 0});
is(sql($db, "SELECT count(*) > 0 FROM steward.audit_log WHERE txid >= (steward.audit_sealed_to()).sealed_to"),
	't', 'some rows are not sealed yet');
is(sql($db, $history_differs), '0',
	'audit_history() of every row, sealed and not sealed versions, is what the log has');
# A seal that commits while a history read is under way: no version twice.
# The reader takes the sealed bound first, then waits for the digests.
my $hk = sql($db, 'SELECT id FROM acct ORDER BY id LIMIT 1');
sql($db, "UPDATE acct SET balance = balance + 1 WHERE id = $hk");
sql($db, "UPDATE acct SET balance = balance + 1 WHERE id = $hk");
my $expected_history = sql($db, "SELECT string_agg(event_id::text, ',' ORDER BY event_id)
                                 FROM steward.audit_log WHERE relid = 'acct'::regclass
                                  AND row_key = '{\"id\": $hk}'");
my $sealer = $node->background_psql($db);
$sealer->query_safe('BEGIN; SELECT steward.audit_seal_now();
                     LOCK TABLE steward.audit_seal_digest IN ACCESS EXCLUSIVE MODE;');
my $reader = $node->background_psql($db);
$reader->query_until(qr/started/, "\\echo started\nSELECT string_agg(event_id::text, ',' ORDER BY event_id)"
	. " FROM steward.audit_history('acct', '{\"id\": $hk}');\n");
wait_for($node, q{SELECT count(*) > 0 FROM pg_stat_activity
                  WHERE wait_event_type = 'Lock' AND query LIKE '%audit_history%'},
	't', 'the history read waits for the seal', $db);
$sealer->query_safe('COMMIT');
my $read = $reader->query_safe("SELECT 'done'");
$read =~ s/\s*done\s*$//;
is($read, $expected_history, 'a seal committed during a history read: each version once');
$reader->quit;
$sealer->quit;
# A log rewritten (as pg_restore, VACUUM FULL or CLUSTER would) moves the
# rows from where the seal saw them: they are found by transaction instead.
sql($db, q{
	BEGIN;
	CREATE TEMP TABLE moved AS SELECT * FROM steward.audit_log ORDER BY event_id DESC;
	DELETE FROM steward.audit_log;
	INSERT INTO steward.audit_log SELECT * FROM moved;
	COMMIT;
});
is(sql($db, q{SELECT count(*) FROM steward.audit_seal_digest d JOIN steward.audit_log l
               ON l.ctid = d.log_tid AND l.event_id = d.event_id}),
	'0', 'the rewritten log has its rows elsewhere');
is(sql($db, $history_differs), '0', 'audit_history() of every row of a rewritten log');
is(sql($db, q{SELECT count(*) FROM acct a
              WHERE steward.audit_row_as_of('acct', jsonb_build_object('id', a.id), now())
                    IS DISTINCT FROM to_jsonb(a)}),
	'0', 'audit_row_as_of(now) of every row of a rewritten log');
chain_ok($db, 'rewritten with the same rows');

###########################################################################
# 2. Sealing is exact with a transaction open across seal boundaries: a
#    seal covers the transactions below its snapshot's xmin, all finished;
#    the open one's rows (and those of later transactions) wait for a later
#    seal, and nothing is sealed twice or missed.
###########################################################################
$db = new_db('seal');
sql($db, q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('t');
});
my $sb = $node->background_psql($db);
my $sa = $node->background_psql($db);
# B gets its transaction id first, then A; B commits, A stays open.
my $xb = $sb->query_safe("BEGIN; INSERT INTO t VALUES (1, 'b'), (2, 'b'); SELECT pg_current_xact_id();");
my $xa = $sa->query_safe("BEGIN; INSERT INTO t VALUES (10, 'a'); SELECT pg_current_xact_id();");
$sb->query_safe("UPDATE t SET v = 'bb' WHERE id = 1; COMMIT;");
# C commits after A began: its transaction id is above A's.
my $xc = sql($db, "BEGIN; INSERT INTO t VALUES (20, 'c'); SELECT pg_current_xact_id(); COMMIT;");
ok($xb < $xa && $xa < $xc, "transaction ids: B $xb < A $xa < C $xc");

my $sealed = "SELECT count(*) FROM steward.audit_log l
               WHERE EXISTS (SELECT FROM steward.audit_seal_digest d WHERE d.event_id = l.event_id)";
wait_for($node,
	"SELECT steward.audit_seal_now() IS NOT NULL AND
	        ($sealed AND l.txid = '$xb') = 3", 't',
	"audit_seal_now() seals B's rows (committed, below the snapshot's xmin)", $db);
is(sql($db, "$sealed AND l.txid IN ('$xa', '$xc')"), '0',
	"A's row (A open) and C's row (after A began) are not sealed");
is(sql($db, "SELECT txid_to > '$xb' AND txid_to <= '$xa' FROM steward.audit_seal
             ORDER BY seal_id DESC LIMIT 1"), 't',
	"the seal ends above B, at most at A's transaction id (the snapshot's xmin)");
is(sql($db, "SELECT steward.audit_seal_now()"), '0', 'sealing again while A is open seals nothing');
is(sql($db, "SELECT count(*) FROM steward.audit_seal"), '1', 'and makes no empty seal');
chain_ok($db, 'while A is open');

# A writes more and commits; the next seal covers A's and C's rows.
$sa->query_safe("INSERT INTO t VALUES (11, 'a'); DELETE FROM t WHERE id = 2; COMMIT;");
seal_all($db, "after A commits, a seal covers A's and C's rows");
is(sql($db, "SELECT string_agg(op || ':' || (row_key->>'id'), ',' ORDER BY event_id)
             FROM steward.audit_log l
             WHERE l.txid IN ('$xa', '$xc')
               AND (SELECT d.seal_id FROM steward.audit_seal_digest d WHERE d.event_id = l.event_id)
                   > (SELECT min(seal_id) FROM steward.audit_seal)"),
	'INSERT:10,INSERT:20,INSERT:11,DELETE:2', "A's and C's rows are in a later seal");
is(sql($db, "SELECT bool_and(s.txid_from = p.txid_to) FROM steward.audit_seal s
             JOIN steward.audit_seal p ON p.seal_id = (SELECT max(seal_id) FROM steward.audit_seal
                                                        WHERE seal_id < s.seal_id)"),
	't', 'each seal starts where the one before it ended');
chain_ok($db, 'after A committed');

# A transaction that rolls back across a seal leaves nothing to seal.
$sa->query_safe("BEGIN; INSERT INTO t VALUES (30, 'rolled back');");
is(sql($db, "SELECT steward.audit_seal_now()"), '0', 'nothing to seal while A2 is open');
$sa->query_safe("ROLLBACK");
is(sql($db, "SELECT count(*) FROM steward.audit_log WHERE row_key = '{\"id\": 30}'"), '0',
	'a rolled-back transaction left no audit row');
sql($db, "INSERT INTO t VALUES (31, 'after')");
seal_all($db, 'the row after the rolled-back transaction is sealed');
chain_ok($db, 'after a rolled-back transaction');

# A sealer whose snapshot is older than another sealer's seal (REPEATABLE
# READ) must not seal the same rows again: the chain would fork.
sql($db, "INSERT INTO t VALUES (40, 'rr')");
my $srr = $node->background_psql($db, on_error_stop => 0);
$srr->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t;");
seal_all($db, 'another session seals the row');
$srr->query("SELECT steward.audit_seal_now()");
like($srr->{stderr}, qr/audit rows cannot be sealed in a REPEATABLE READ or SERIALIZABLE transaction/,
	'audit_seal_now() in a REPEATABLE READ transaction is refused');
$srr->quit;
# The job seals in READ COMMITTED whatever the default.
sql('postgres', "ALTER DATABASE $db SET default_transaction_isolation = 'repeatable read'");
sql($db, "INSERT INTO t VALUES (41, 'by the job')");
my $rid = sql($db, "SELECT steward.run_job('audit_seal', wait => false)");
wait_for($node, "SELECT status <> 'running' FROM steward.job_run WHERE run_id = $rid", 't',
	'the audit_seal job ran with default_transaction_isolation = repeatable read', $db);
like(sql($db, "SELECT status || ': ' || message FROM steward.job_run WHERE run_id = $rid"),
	qr/^succeeded: sealed \d+ audit rows$/, 'and succeeded');
sql('postgres', "ALTER DATABASE $db RESET default_transaction_isolation");
seal_all($db, 'everything is sealed');
is(sql($db, "SELECT count(*) FROM steward.audit_seal_digest d JOIN steward.audit_log l USING (event_id)
             WHERE l.row_key IN ('{\"id\": 40}', '{\"id\": 41}')"), '2', 'the rows are sealed once');
chain_ok($db, 'after a stale sealer');
$sa->quit;
$sb->quit;

# capture_query: a statement text met for the first time by an open
# transaction does not hold up other sessions running the same text (a
# lock wait would hit lock_timeout), nor fail a REPEATABLE READ transaction
# that meets it after another committed it.
sql($db, q{
	CREATE TABLE tq (id int PRIMARY KEY, v int);
	INSERT INTO tq SELECT g, 0 FROM generate_series(1, 10) g;
	SELECT steward.audit_enable('tq', capture_query => true);
});
my $sq = $node->background_psql($db, on_error_stop => 0);
my $text = "UPDATE tq SET v = v + 1 WHERE id = current_setting('my.id')::int";
$sq->query_safe("SET my.id = 1; BEGIN; $text;");
my ($qret, $qout, $qerr) = $node->psql($db, "SET lock_timeout = '1s'; SET my.id = 2; $text;");
is($qerr, '', 'the same new text in another session does not wait for the open transaction');
$sq->query_safe("COMMIT");
my $text2 = "UPDATE tq SET v = v + 10 WHERE id = current_setting('my.id')::int";
$sq->query_safe("SET my.id = 3; BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1;");
sql($db, "SET my.id = 4; $text2;");
($qret, $qout) = $sq->query("$text2;");
is($sq->{stderr}, '', 'a REPEATABLE READ transaction meets a text committed after its snapshot without error');
$sq->query_safe("COMMIT");
is(sql($db, "SELECT string_agg((row_key->>'id') || ':' || (q.query = CASE WHEN (row_key->>'id')::int <= 2
                                                                   THEN \$t\$$text;\$t\$ ELSE \$t\$$text2;\$t\$ END),
                               ',' ORDER BY event_id)
             FROM steward.audit_log l JOIN steward.audit_query q USING (query_id)
             WHERE l.relid = 'tq'::regclass"),
	'1:true,2:true,4:true,3:true', 'each audit row refers to its statement text');
my $stored = "SELECT count(*) FROM steward.audit_query WHERE query = \$t\$$text;\$t\$";
my $nstored = sql($db, $stored);
sql($db, "SET my.id = 5; $text;");
is(sql($db, $stored), $nstored, 'a text met again is looked up, not stored again');
is(sql($db, "SELECT q.query FROM steward.audit_log l JOIN steward.audit_query q USING (query_id)
             WHERE l.relid = 'tq'::regclass AND l.row_key = '{\"id\": 5}'"), "$text;",
	'and the audit row refers to it');
$sq->quit;

###########################################################################
# 4. Tampering, as a superuser with triggers disabled, is detected: the
#    seal is reported bad and names its first bad row; untouched seals stay
#    ok.
###########################################################################
$db = new_db('tamper');
sql($db, q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('t');
});
my @seal;
for my $batch ([1, 5], [6, 10], [11, 12], [13, 14])
{
	# one transaction, so one seal
	sql($db, "BEGIN;
	          INSERT INTO t SELECT g, 'v' || g FROM generate_series($batch->[0], $batch->[1]) g;
	          UPDATE t SET v = 'u' WHERE id = $batch->[0];
	          COMMIT;");
	seal_all($db, "rows $batch->[0]..$batch->[1] sealed");
	push @seal, sql($db, 'SELECT max(seal_id) FROM steward.audit_seal');
}
chain_ok($db, 'before tampering');
# event ids of a seal, oldest first
sub events
{
	my ($id) = @_;
	return split /\n/, sql($db, "SELECT event_id FROM steward.audit_seal_digest
	                             WHERE seal_id = $id ORDER BY event_id");
}
my @e1 = events($seal[0]);
my @e2 = events($seal[1]);
my @e4 = events($seal[3]);
sql($db, qq{
	SET session_replication_role = replica;
	DELETE FROM steward.audit_log WHERE event_id = $e1[2];
	UPDATE steward.audit_log SET new_values = '{"id": 7, "v": "forged"}' WHERE event_id = $e2[3];
	DELETE FROM steward.audit_log WHERE event_id = $e2[1];
	-- a forged row in a sealed range of transactions
	INSERT INTO steward.audit_log (txid, relid, schema_name, table_name, op, row_key, new_values,
	                               db_user, "session_user", backend_pid)
	SELECT txid, relid, schema_name, table_name, 'INSERT', '{"id": 99}', '{"id": 99, "v": "x"}',
	       db_user, "session_user", backend_pid
	  FROM steward.audit_log WHERE event_id = $e4[0];
});
my $forged = sql($db, q{SELECT max(event_id) FROM steward.audit_log});
my %v = map { my @f = split /\|/; ($f[0] => [ @f[1 .. $#f] ]) } split /\n/,
  sql($db, 'SELECT seal_id, ok, rows_checked, first_bad_event_id, detail FROM steward.audit_verify()');
is(join(',', map { $v{$_}[0] } @seal), 'f,f,t,f', 'audit_verify(): the tampered seals are bad, the other ok');
is($v{ $seal[0] }[2], $e1[2], 'a deleted row is named');
is($v{ $seal[1] }[2], $e2[1], 'of a deleted and an updated row, the first is named');
is($v{ $seal[3] }[2], $forged, 'a row added after sealing is named');
like($v{ $seal[1] }[3], qr/changed, deleted or added after sealing; sealed 6 rows, 6 digests kept, 5 rows found/,
	'the detail says what is wrong');
is(sql($db, "SELECT first_bad_event_id FROM steward.audit_verify(now() - interval '1 hour')
             WHERE seal_id = $seal[1]"), $e2[1], 'audit_verify(since) reports the same');

# Removing a whole seal's rows and its digests does not make it disappear
# from verification (the oldest seal here; retention has dropped nothing).
sql($db, qq{
	SET session_replication_role = replica;
	DELETE FROM steward.audit_log WHERE txid IN (SELECT txid FROM steward.audit_seal_digest WHERE seal_id = $seal[0]);
	DELETE FROM steward.audit_seal_digest WHERE seal_id = $seal[0];
});
is(sql($db, "SELECT ok || ' ' || rows_checked FROM steward.audit_verify() WHERE seal_id = $seal[0]"),
	'false 0', 'a seal whose rows and digests were all deleted is reported bad');

# A seal's hash rewritten: it no longer matches its digests, and the next
# seal no longer follows it.
sql($db, "UPDATE steward.audit_seal SET hash = sha256('x') WHERE seal_id = $seal[2]");
is(sql($db, "SELECT string_agg(seal_id || ':' || ok || ':' || coalesce(detail, ''), ' / ' ORDER BY seal_id)
             FROM steward.audit_verify() WHERE seal_id IN ($seal[2], $seal[3])"),
	"$seal[2]:false:the seal's hash does not match its digests / "
	  . "$seal[3]:false:a row was changed, deleted or added after sealing; sealed 3 rows, 3 digests kept, 4 rows found; "
	  . 'the seal does not follow the one before it',
	'a rewritten seal hash is detected, and the chain link after it');

###########################################################################
# 5. Retention drops old partitions of the log and of the digests: the
#    seals of the dropped rows are skipped, the remaining ones still verify.
###########################################################################
$db = new_db('retain');
sql($db, q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('t');
});
my $today = sql($db, "SELECT (now() AT TIME ZONE 'UTC')::date");
# Partitions for two past days, made by hand as the set would (adopted).
my %day = (old => sql($db, "SELECT date '$today' - 10"), recent => sql($db, "SELECT date '$today' - 2"));
for my $d (values %day)
{
	for my $set (qw(audit_log audit_seal_digest))
	{
		(my $suffix = $d) =~ s/-//g;
		sql($db, "CREATE TABLE steward.${set}_p$suffix PARTITION OF steward.$set
		          FOR VALUES FROM ('$d 00:00+00') TO ('$d 00:00+00'::timestamptz + interval '1 day')");
	}
}
# Rows of those days: written by the trigger, then moved back in time
# before they are sealed.
my %rseal;
for my $when (qw(old recent))
{
	sql($db, "BEGIN;
	          INSERT INTO t SELECT g, '$when' FROM generate_series(1, 3) g
	            ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
	          UPDATE steward.audit_log SET logged_at = '$day{$when} 12:00+00'
	           WHERE txid = pg_current_xact_id();
	          COMMIT;");
	seal_all($db, "the $when rows are sealed");
	$rseal{$when} = sql($db, 'SELECT max(seal_id) FROM steward.audit_seal');
}
chain_ok($db, 'before retention');
is(sql($db, "SELECT count(DISTINCT tableoid) FROM steward.audit_log"), '2',
	'the rows are in two partitions');

# steward.audit_retention is applied by the audit_seal job; partition
# maintenance then drops what is older.
reload_settings($node, { 'steward.audit_retention' => '5 days' }, db => $db);
sql($db, "SELECT steward.run_job('audit_seal')");
is(sql($db, "SELECT string_agg(retention, ',') FROM steward.partition_set
             WHERE parent IN ('steward.audit_log'::regclass, 'steward.audit_seal_digest'::regclass)"),
	'5 days,5 days', 'the audit_seal job applied steward.audit_retention to both partition sets');
sql($db, "SELECT steward.run_job('partition_maintenance')");
is(sql($db, "SELECT count(*) FROM pg_class WHERE relname LIKE 'audit%_p' || to_char(date '$day{old}', 'YYYYMMDD')"),
	'0', 'partition maintenance dropped the old partitions of the log and of the digests');
is(sql($db, "SELECT count(*) FROM pg_class WHERE relname LIKE 'audit%_p' || to_char(date '$day{recent}', 'YYYYMMDD')"),
	'2', 'and kept the recent ones');
is(sql($db, "SELECT string_agg(seal_id || ':' || ok, ',' ORDER BY seal_id) FROM steward.audit_verify()"),
	"$rseal{recent}:true",
	'audit_verify() skips the seal of the dropped rows; the remaining seal is ok');

# Later, retention drops the recent partitions too: no sealed row is left,
# and no seal is reported bad.
for my $set (qw(audit_log audit_seal_digest))
{
	(my $suffix = $day{recent}) =~ s/-//g;
	sql($db, "DROP TABLE steward.${set}_p$suffix");
}
is(sql($db, 'SELECT count(*) FROM steward.audit_log'), '0', 'every sealed row is gone');
is(sql($db, "SELECT count(*) FROM steward.audit_verify()"), '0',
	'audit_verify() skips every seal when all their rows were dropped');
# New rows, sealed, verify; the chain goes on from the skipped seals.
sql($db, "INSERT INTO t VALUES (10, 'new')");
seal_all($db, 'a new row is sealed');
is(sql($db, "SELECT string_agg(seal_id || ':' || ok, ',') FROM steward.audit_verify()"),
	sql($db, 'SELECT max(seal_id) FROM steward.audit_seal') . ':true',
	'its seal verifies');
# Removing seals is seen: the one after no longer follows its predecessor.
sql($db, "DELETE FROM steward.audit_seal WHERE seal_id = $rseal{recent}");
is(sql($db, "SELECT string_agg(seal_id || ':' || ok || ':' || detail, ',') FROM steward.audit_verify()"),
	sql($db, 'SELECT max(seal_id) FROM steward.audit_seal') . ':false:the seal does not follow the one before it',
	'a deleted seal breaks the chain');

###########################################################################
# 6. pg_dump / pg_restore into a new database: the policy, working
#    triggers (partitions included), the log, its seals and its numbering.
###########################################################################
$db = new_db('dumpsrc');
sql($db, q{
	CREATE TABLE plain (id int PRIMARY KEY, v text, secret text);
	CREATE TABLE parted (id int, ts date, v text, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
	CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM ('2020-01-01') TO ('2025-01-01');
	CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM ('2025-01-01') TO ('2030-01-01');
	CREATE INDEX ON parted (v);
	SELECT steward.audit_enable('plain', hash_columns => '{secret}', capture_query => true);
	SELECT steward.audit_enable('parted', exclude_columns => '{v}',
	                            operations => '{INSERT,UPDATE,DELETE}');
	INSERT INTO plain VALUES (1, 'a', 's1'), (2, 'b', 's2');
	INSERT INTO parted VALUES (1, '2021-06-01', 'x'), (2, '2026-06-01', 'y');
	UPDATE plain SET v = 'a2' WHERE id = 1;
});
seal_all($db, 'the source database is sealed');
sql($db, "DELETE FROM plain WHERE id = 2");	# sealed after the restore
my $policy_q = "SELECT tbl, exclude_columns, hash_columns, operations, skip_unchanged, capture_query
                FROM steward.audit_policy ORDER BY tbl::text";
my $policy = sql($db, $policy_q);
my $log_q = "SELECT event_id, txid, schema_name, table_name, op, row_key, old_values, new_values
             FROM steward.audit_log ORDER BY event_id";
my $log = sql($db, $log_q);
my $nseals = sql($db, 'SELECT count(*) FROM steward.audit_seal');
my $dump = "${PostgreSQL::Test::Utils::tmp_check}/audit.dump";
$node->command_ok([ 'pg_dump', '--format=custom', '--file', $dump, '--host', $node->host,
	'--port', $node->port, $db ], 'pg_dump of a database with audited tables');
sql('postgres', 'CREATE DATABASE restored');
# --exit-on-error: the restore must not meet a single error.
my ($rout, $rerr) = run_command([ 'pg_restore', '--exit-on-error', '--dbname', 'restored',
	'--host', $node->host, '--port', $node->port, $dump ]);
$db = 'restored';
my $seal_job_q = "SELECT enabled || ' ' || (config ? 'enabled_after_restore') FROM steward.job
                  WHERE builtin AND kind = 'audit_seal'";
is(sql($db, $seal_job_q), 'false false',
	'the restored database has the built-in audit_seal job of CREATE EXTENSION, disabled');
is(join("\n", grep { /error:/ } split /\n/, $rerr), '', 'pg_restore --exit-on-error without errors');
like($node->safe_psql('postgres', "SELECT 1"), qr/1/, 'the server is up');
is(sql($db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relnamespace = 'steward'::regnamespace AND c.relispartition
               AND c.relname ~ '^audit_(log|seal_digest)_p'
               AND NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)"), '0',
	'every index of a restored log partition is attached to the extension\'s index');
is(sql($db, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relname ~ '^audit_log_p'")
	, sql($db, "SELECT count(*) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
	            WHERE h.inhparent = 'steward.audit_log'::regclass AND c.relname ~ '^audit_log_p'")
	  * sql($db, "SELECT count(*) FROM pg_index WHERE indrelid = 'steward.audit_log'::regclass"),
	'each restored log partition has the log\'s indexes, once');
is(sql($db, $policy_q), $policy, 'steward.audit_policy is restored');
is(sql($db, "SELECT string_agg(tbl || ':' || triggers || ':' || active, ',' ORDER BY tbl::text)
             FROM steward.audited_tables"),
	'parted:3:true,plain:4:true', 'steward.audited_tables: both tables audited, triggers active');
is(sql($db, "SELECT string_agg(tgrelid::regclass || ':' || count, ',' ORDER BY tgrelid::regclass::text)
             FROM (SELECT tgrelid, count(*) FROM pg_trigger WHERE tgname LIKE 'steward_audit_%'
                   GROUP BY tgrelid) t"),
	'parted:3,parted_a:3,parted_b:3,plain:4', 'the triggers of the partitions are restored');
is(sql($db, "SELECT bool_and(indisvalid) FROM pg_index
             WHERE indrelid IN ('parted'::regclass, 'parted_a'::regclass, 'parted_b'::regclass)"),
	't', 'the indexes of the partitioned table are valid (ALTER INDEX ... ATTACH PARTITION works)');
is(sql($db, $log_q), $log, 'the log is restored');
is(sql($db, 'SELECT count(*) FROM steward.audit_seal'), $nseals, 'the seals are restored');
is(sql($db, "SELECT count(*) FILTER (WHERE NOT ok) || ' of ' || count(*) FROM steward.audit_verify()"),
	"0 of $nseals", 'the restored seals verify');

# DML on the restored tables is audited, with new event ids.
sql($db, q{
	INSERT INTO plain VALUES (3, 'c', 's3');
	UPDATE plain SET v = 'a3', secret = 's1b' WHERE id = 1;
	INSERT INTO parted VALUES (3, '2022-01-01', 'z');
	INSERT INTO parted_b VALUES (4, '2027-01-01', 'w');
	UPDATE parted SET ts = '2023-01-01' WHERE id = 2;
	DELETE FROM parted WHERE id = 1;
	CREATE TABLE parted_c PARTITION OF parted FOR VALUES FROM ('2030-01-01') TO ('2035-01-01');
	INSERT INTO parted_c VALUES (5, '2031-01-01', 'n');
});
is(sql($db, "SELECT string_agg(table_name || ' ' || op || ' ' || (row_key->>'id'), ', ' ORDER BY event_id)
             FROM steward.audit_log WHERE relid IN ('plain'::regclass, 'parted'::regclass,
                                                    'parted_b'::regclass, 'parted_c'::regclass)"),
	'plain INSERT 3, plain UPDATE 1, parted INSERT 3, parted_b INSERT 4, parted UPDATE 2, '
	  . 'parted DELETE 1, parted_c INSERT 5',
	'DML on the restored tables is audited (a new partition too)');
is(sql($db, "SELECT count(*) = count(DISTINCT event_id) FROM steward.audit_log"), 't',
	'event ids go on from the restored log');
like(sql($db, "SELECT new_values->>'secret' FROM steward.audit_log
               WHERE relid = 'plain'::regclass AND op = 'UPDATE'"),
	qr/^[0-9a-f]{64}$/, 'hash_columns still hashed');
is(sql($db, "SELECT q.query LIKE 'INSERT INTO plain VALUES (3%' FROM steward.audit_log l
             JOIN steward.audit_query q USING (query_id)
             WHERE l.relid = 'plain'::regclass AND l.op = 'INSERT'"),
	't', 'capture_query still captures, and query ids go on from the restored ones');
is(sql($db, "SELECT count(*) FROM steward.audit_log WHERE relid = 'parted'::regclass AND new_values ? 'v'"),
	'0', 'exclude_columns still excluded');
is(sql($db, $seal_job_q), 'true true',
	'the first audited write of the restored database enables its audit_seal job');
seal_all($db, 'the restored database seals the rows from before and after the restore');
chain_ok($db, 'restored');
sql($db, "SELECT steward.alter_job('audit_seal', enabled => false)");
sql($db, "INSERT INTO plain VALUES (6, 'f', 's6')");
is(sql($db, $seal_job_q), 'false true', 'once: an operator may disable it afterwards');
# The log names tables by OID, which the restore changed: the policy
# remembers the OIDs from before the dump.
is(sql($db, "SELECT cardinality(relids) > 1 AND NOT 'plain'::regclass::oid = relids[1]
             FROM steward.audit_policy WHERE tbl = 'plain'::regclass"),
	't', "the restored policy remembers the table's OID from before the dump, and learns the new one");
is(sql($db, "SELECT string_agg(op, ' ' ORDER BY event_id) FROM steward.audit_history('plain', '{\"id\": 1}')"),
	'INSERT UPDATE UPDATE',
	'audit_history() of a restored table includes the rows from before the dump');
is(sql($db, "SELECT steward.audit_row_as_of('plain', '{\"id\": 1}', now()) ->> 'v'"), 'a3',
	'audit_row_as_of() of a restored table builds on the rows from before the dump');
my $pkey = q{'{"id": 2, "ts": "2026-06-01"}'};
is(sql($db, "SELECT string_agg(event_id::text, ',' ORDER BY event_id) FROM steward.audit_history('parted', $pkey)"),
	sql($db, "SELECT string_agg(event_id::text, ',' ORDER BY event_id) FROM steward.audit_log
	          WHERE table_name IN ('parted', 'parted_a', 'parted_b', 'parted_c') AND row_key = $pkey"),
	'audit_history() of a restored partitioned table includes its partitions\' rows from before the dump');

# The same dump restored into another cluster: its transaction ids are not
# those of the seals (ranges of transaction ids of the first cluster).
my $other = steward_node('other');
$other->safe_psql('postgres', 'CREATE DATABASE restored');
run_command([ 'pg_restore', '--dbname', 'restored', '--host', $other->host,
	'--port', $other->port, $dump ]);
$other->safe_psql('restored', "INSERT INTO plain VALUES (9, 'other cluster', 's9');
                               UPDATE plain SET v = 'other cluster' WHERE id = 1;
                               SELECT steward.alter_job('audit_seal', enabled => false);");
like($other->safe_psql('restored', "SELECT detail FROM steward.health_audit_seal()"),
	qr/^3 audit rows are not sealed/,
	'another cluster: health counts the unsealed rows of both eras (one from before the dump, two new)');
# Its new rows lie below the restored seals, unsealed: history still has them.
is($other->safe_psql('restored', "SELECT string_agg(op, ' ' ORDER BY event_id)
                                  FROM steward.audit_history('plain', '{\"id\": 1}')"),
	'INSERT UPDATE UPDATE', 'another cluster: audit_history() has the rows from before and after the restore');
is($other->safe_psql('restored', "SELECT steward.audit_row_as_of('plain', '{\"id\": 1}', now()) ->> 'v'"),
	'other cluster', 'another cluster: audit_row_as_of(now) is the row');
is($other->safe_psql('restored', "SELECT count(*) FROM steward.audit_verify() WHERE NOT ok"), '0',
	'another cluster: a new row does not fall into a restored seal');
my $first_era = $other->safe_psql('restored', 'SELECT max(first_event_id) FROM steward.audit_era');
is($other->safe_psql('restored', "SELECT string_agg(format('%s %s', e.system_identifier = c.system_identifier,
                                                          e.closed_at IS NULL), ',' ORDER BY e.first_event_id)
                                  FROM steward.audit_era e, pg_control_system() c"),
	'f t,t t', 'another cluster: its first log row started a new era');
is($other->safe_psql('restored', "SELECT count(*) FROM steward.audit_log WHERE event_id >= $first_era"), '2',
	'another cluster: the new era has the new rows, by event id');
is($other->safe_psql('restored', 'SELECT steward.audit_seal_now() > 0'), 't',
	'another cluster: new rows are sealed');
is($other->safe_psql('restored', "SELECT string_agg(format('%s %s', era = $first_era, row_count), ',' ORDER BY seal_id)
                                  FROM steward.audit_seal WHERE seal_id > (SELECT max(seal_id) FROM steward.audit_seal) - 2"),
	'f 1,t 2', 'another cluster: the rest of the earlier era (the row logged after the last seal before the dump) is sealed whole, then the new era');
is($other->safe_psql('restored', "SELECT count(*) FROM steward.audit_era WHERE closed_at IS NULL"), '1',
	'another cluster: the earlier era is closed');
is($other->safe_psql('restored', "SELECT count(*) FILTER (WHERE NOT ok) || ' of ' || count(*) FROM steward.audit_verify()"),
	'0 of ' . ($nseals + 2), 'another cluster: every seal verifies, the restored ones and the new ones');
like($other->safe_psql('restored', "SELECT detail FROM steward.health_audit_seal()"),
	qr/^0 audit rows are not sealed/, 'another cluster: health counts nothing unsealed in the closed era');
# a row added to the closed era afterwards lies inside its last seal
$other->safe_psql('restored', "ALTER TABLE steward.audit_log DISABLE TRIGGER USER;
	INSERT INTO steward.audit_log (event_id, logged_at, txid, relid, schema_name, table_name, op,
	                               row_key, db_user, \"session_user\", backend_pid)
	SELECT $first_era - 1, now(), pg_current_xact_id(), 'plain'::regclass, 'public', 'plain', 'DELETE',
	       '{\"id\": 1}', 'x', 'x', 1;
	ALTER TABLE steward.audit_log ENABLE TRIGGER USER;");
like($other->safe_psql('restored', "SELECT string_agg(detail, '; ') FROM steward.audit_verify() WHERE NOT ok"),
	qr/^a row was changed, deleted or added after sealing/, 'another cluster: a row added to the closed era is reported');
$other->safe_psql('restored', "ALTER TABLE steward.audit_log DISABLE TRIGGER USER;
	DELETE FROM steward.audit_log WHERE event_id = $first_era - 1;
	ALTER TABLE steward.audit_log ENABLE TRIGGER USER;");
is($other->safe_psql('restored', "SELECT format('%s %s', era_start = $first_era, sealed_to > '0') FROM steward.audit_sealed_to()"),
	't t', 'another cluster: history counts the new era as sealed below its bound');
is($other->safe_psql('restored', "SELECT string_agg(op, ' ' ORDER BY event_id)
                                  FROM steward.audit_history('plain', '{\"id\": 1}')"),
	'INSERT UPDATE UPDATE', 'another cluster: audit_history() after sealing, through the digests of both eras');
$other->safe_psql('restored', "INSERT INTO plain VALUES (10, 'unsealed', 's10');
                               UPDATE plain SET v = 'unsealed too' WHERE id = 1");
is($other->safe_psql('restored', "SELECT string_agg(op, ' ' ORDER BY event_id)
                                  FROM steward.audit_history('plain', '{\"id\": 1}')"),
	'INSERT UPDATE UPDATE UPDATE', 'another cluster: and the new era\'s rows not sealed yet');
# Tampering in either era is still found.
$other->safe_psql('restored', "ALTER TABLE steward.audit_log DISABLE TRIGGER USER;
	UPDATE steward.audit_log SET app_user = 'forged' WHERE event_id = (SELECT min(event_id) FROM steward.audit_log);
	UPDATE steward.audit_log SET app_user = 'forged' WHERE event_id = (SELECT min(event_id) FROM steward.audit_log WHERE event_id >= $first_era);
	ALTER TABLE steward.audit_log ENABLE TRIGGER USER;");
is($other->safe_psql('restored', "SELECT count(*) FROM steward.audit_verify() WHERE NOT ok"), '2',
	'another cluster: a changed row of each era is found');
$other->stop;

# A copy of this cluster (same system identifier) made before a later dump:
# the dump's seals reach beyond the copy's transaction ids, so its own rows
# are another era too.
$node->backup('before_later_seals');
sql($db, "INSERT INTO plain VALUES (20, 'later', 's20'); UPDATE plain SET v = 'later' WHERE id = 1");
# more transactions than the restore below runs in the copy
sql($db, 'DO $$ BEGIN FOR i IN 1..20000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$');
seal_all($db, 'the restored database seals its later rows');
my $later_dump = "${PostgreSQL::Test::Utils::tmp_check}/audit_later.dump";
$node->command_ok([ 'pg_dump', '--format=custom', '--file', $later_dump, '--host', $node->host,
	'--port', $node->port, $db ], 'pg_dump after the later seals');
my $copy = PostgreSQL::Test::Cluster->new('copy');
$copy->init_from_backup($node, 'before_later_seals');
$copy->start;
$copy->safe_psql('postgres', 'CREATE DATABASE later');
run_command([ 'pg_restore', '--dbname', 'later', '--host', $copy->host, '--port', $copy->port, $later_dump ]);
$copy->safe_psql('later', "INSERT INTO plain VALUES (21, 'copy', 's21');
                           SELECT steward.alter_job('audit_seal', enabled => false);");
is($copy->safe_psql('later', "SELECT count(*) FILTER (WHERE e.system_identifier = c.system_identifier)
                               FROM steward.audit_era e, pg_control_system() c"), '2',
	'a copy of the cluster: its first log row after a later dump started a new era of the same cluster');
is($copy->safe_psql('later', 'SELECT steward.audit_seal_now() > 0'), 't', 'a copy of the cluster: it seals');
like($copy->safe_psql('later', "SELECT count(*) FILTER (WHERE NOT ok) || ' of ' || count(*)
                                FROM steward.audit_verify()"), qr/^0 of [1-9]/,
	'a copy of the cluster: every seal verifies, the restored ones and its own');
$copy->stop;

# A session that logged rows before the extension was made again (a
# restore into the same database) checks the era of the new log: here the
# new log holds another cluster's era, so its next row starts this one's.
$db = new_db('remade');
sql($db, "CREATE TABLE r (id int PRIMARY KEY, v text); SELECT steward.audit_enable('r')");
my $sr = $node->background_psql($db);
$sr->query_safe("INSERT INTO r VALUES (1, 'before')");
sql($db, "DROP EXTENSION pg_steward CASCADE; CREATE EXTENSION pg_steward;
          SELECT steward.alter_job('audit_seal', enabled => false);
          SELECT steward.audit_enable('r');
          INSERT INTO steward.audit_era (first_event_id, system_identifier) VALUES (0, 42)");
$sr->query_safe("UPDATE r SET v = 'after' WHERE id = 1");
$sr->quit;
is(sql($db, "SELECT string_agg(format('%s %s', e.system_identifier = c.system_identifier,
                                      e.first_event_id > 0), ',' ORDER BY e.first_event_id)
             FROM steward.audit_era e, pg_control_system() c"),
	'f f,t t', 'a session from before the extension was made again starts a new era for its next row');

# The restore's skipping of a CREATE INDEX that attaching a log partition
# made already is for the partition's owner and the same access method.
my ($lpart, $lidx) = split /\|/, sql($db, "SELECT c.relname, i.relname FROM pg_inherits h
	JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_index x ON x.indrelid = c.oid
	JOIN pg_class i ON i.oid = x.indexrelid AND i.relam = (SELECT oid FROM pg_am WHERE amname = 'brin')
	WHERE h.inhparent = 'steward.audit_log'::regclass ORDER BY 1 LIMIT 1");
sql($db, 'CREATE ROLE remade_user LOGIN');
my ($rc, $out, $err) = $node->psql($db, "SET ROLE remade_user;
	CREATE INDEX $lidx ON steward.$lpart USING brin (txid)");
ok($rc != 0 && $err =~ /ERROR/ && $err !~ /skipping/,
	'an ordinary role\'s CREATE INDEX on a log partition is refused, not skipped');
($rc, $out, $err) = $node->psql($db, "CREATE INDEX $lidx ON steward.$lpart USING btree (txid)");
like($err, qr/already exists/, 'a CREATE INDEX of another access method is not skipped');
($rc, $out, $err) = $node->psql($db, "CREATE INDEX $lidx ON steward.$lpart USING brin (txid)");
ok($rc == 0 && $err =~ /exists already, skipping/, 'the owner\'s CREATE INDEX of the same kind is skipped');

###########################################################################
# 7. Restart and crash: audited DML goes on after a restart; a transaction
#    cut by a crash leaves no audit row.
###########################################################################
$db = new_db('crash');
sql($db, q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('t');
	INSERT INTO t VALUES (1, 'before restart');
});
$node->restart;
sql($db, "INSERT INTO t VALUES (2, 'after restart'); UPDATE t SET v = 'updated' WHERE id = 1");
is(sql($db, "SELECT string_agg(op || ':' || (row_key->>'id'), ',' ORDER BY event_id) FROM steward.audit_log"),
	'INSERT:1,INSERT:2,UPDATE:1', 'audited DML after a restart is logged');

my $lost = "SELECT count(*) FROM steward.audit_log
            WHERE txid = '%s' OR row_key = '{\"id\": 100}' OR new_values->>'v' = 'lost'";
for my $how ('immediate shutdown', 'kill -9 of the backend')
{
	my $s = $node->background_psql($db);
	my ($xid, $pid) = split /\|/, $s->query_safe(
		"BEGIN; INSERT INTO t VALUES (100, 'lost'); UPDATE t SET v = 'lost' WHERE id = 1;
		 DELETE FROM t WHERE id = 2; SELECT pg_current_xact_id(), pg_backend_pid();");
	is(sql($db, sprintf($lost, $xid)), '0',
		"$how: the open transaction's audit rows are not visible to others");
	if ($how eq 'immediate shutdown')
	{
		$node->stop('immediate');
		$node->start;
	}
	else
	{
		my $offset = -s $node->logfile;
		kill 'KILL', $pid;
		wait_for_logged($node, qr/all server processes terminated; reinitializing/, $offset,
			"$how: the server restarts after the crash");
		wait_for_logged($node, qr/database system is ready to accept connections/, $offset,
			"$how: and accepts connections again");
	}
	eval { $s->quit; };
	is(sql($db, sprintf($lost, $xid)), '0', "$how: no audit row of the transaction cut by the crash");
	is(sql($db, "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM t"),
		'1:updated,2:after restart', "$how: and no change");
}
sql($db, "INSERT INTO t VALUES (3, 'after crash')");
is(sql($db, "SELECT count(*) FROM steward.audit_log WHERE row_key = '{\"id\": 3}'"), '1',
	'audited DML after the crash is logged');
seal_all($db, 'sealing after the crash');
chain_ok($db, 'after restart and crash');

###########################################################################
# 8. A hostile ordinary role (CREATE on a shared schema) cannot forge,
#    change or read the log, nor touch another role's auditing; user code
#    run while the trigger converts values runs as the role doing the DML.
###########################################################################
$db = new_db('hostile');
create_roles($node, [qw(mallory alice)], db => $db);
sql($db, q{
	CREATE SCHEMA shared;
	GRANT USAGE, CREATE ON SCHEMA shared TO mallory, alice;
});
sub as_user { my ($role, $q) = @_; return safe_psql_as($node, $role, $q, db => $db); }
sub err_as
{
	my ($role, $q) = @_;
	my ($ret, $out, $err) = psql_as($node, $role, $q, db => $db);
	return $ret == 0 ? 'no error' : $err =~ /ERROR:\s+(\w{5}): (.*)/ ? "$1 $2" : $err;
}
as_user('alice', q{
	CREATE TABLE shared.victim (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('shared.victim');
	INSERT INTO shared.victim VALUES (1, 'alice');
});
my $victim_triggers = "SELECT string_agg(oid || ':' || tgname || ':' || encode(tgargs, 'escape'), ','
                       ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'shared.victim'::regclass";
my $victim_before = sql($db, $victim_triggers);

as_user('mallory', q{
	CREATE TABLE shared.mine (id int PRIMARY KEY, v text);
	SELECT steward.audit_enable('shared.mine');
	INSERT INTO shared.mine VALUES (1, 'mine');
});
is(as_user('mallory', "SELECT string_agg(tbl::text || ':' || active, ',') FROM steward.audited_tables"),
	'shared.mine:true', "mallory audits her own table and sees only hers in audited_tables");

my %forge = (
	'INSERT INTO steward.audit_log' => q{INSERT INTO steward.audit_log (txid, relid, schema_name,
		table_name, op, db_user, "session_user", backend_pid)
		VALUES (pg_current_xact_id(), 'shared.victim'::regclass, 'shared', 'victim', 'DELETE',
		        'alice', 'alice', 1)},
	'INSERT INTO the default partition' => q{INSERT INTO steward.audit_log_default (txid, relid,
		schema_name, table_name, op, db_user, "session_user", backend_pid)
		VALUES (pg_current_xact_id(), 1, 'x', 'y', 'DELETE', 'alice', 'alice', 1)},
	'UPDATE steward.audit_log' => q{UPDATE steward.audit_log SET op = 'DELETE'},
	'DELETE FROM steward.audit_log' => q{DELETE FROM steward.audit_log},
	'SELECT FROM steward.audit_log' => q{SELECT count(*) FROM steward.audit_log},
	'INSERT INTO steward.audit_seal_digest' => q{INSERT INTO steward.audit_seal_digest
		VALUES (1, 1, '1', now(), '\x00')},
	'nextval of the event ids' => q{SELECT nextval('steward.audit_event_id_seq')},
	'audit_seal_now()' => q{SELECT steward.audit_seal_now()},
	'audit_verify()' => q{SELECT * FROM steward.audit_verify()},
	'audit_seal_head()' => q{SELECT steward.audit_seal_head()},
	'audit_history() of her own table' => q{SELECT * FROM steward.audit_history('shared.mine', '{"id": 1}')},
	"audit_row_as_of() of alice's table" => q{SELECT steward.audit_row_as_of('shared.victim', '{"id": 1}', now())},
	"audit_changes() of alice's table" => q{SELECT * FROM steward.audit_changes('shared.victim', now() - interval '1 day')},
	"audit_enable() of alice's table" => q{SELECT steward.audit_enable('shared.victim', operations => '{TRUNCATE}')},
	"audit_disable() of alice's table" => q{SELECT steward.audit_disable('shared.victim')},
	"a trigger with steward.audit_trigger() on alice's table" => q{CREATE TRIGGER steward_audit_insert2
		AFTER INSERT ON shared.victim REFERENCING NEW TABLE AS n
		FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger('-v')},
);
for my $what (sort keys %forge)
{
	like(err_as('mallory', $forge{$what}), qr/^42501 /, "mallory: $what is refused (42501)");
}
like(err_as('mallory', 'SELECT steward.audit_trigger()'), qr/^39P01 steward.audit_trigger\(\) must be called as a trigger/,
	'mallory: calling steward.audit_trigger() directly is refused');
as_user('mallory', q{
	CREATE TABLE shared.rowtrig (id int);
	CREATE TRIGGER t AFTER INSERT ON shared.rowtrig FOR EACH ROW EXECUTE FUNCTION steward.audit_trigger();
});
like(err_as('mallory', 'INSERT INTO shared.rowtrig VALUES (1)'),
	qr/^39P01 steward.audit_trigger\(\) must be an AFTER ... FOR EACH STATEMENT trigger/,
	'steward.audit_trigger() as a row trigger refuses to run');

# CREATE TABLE IF NOT EXISTS ... PARTITION OF her audited table, naming
# alice's existing table: a notice, and alice's triggers stay as they are.
as_user('mallory', q{
	CREATE TABLE shared.mparent (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
	SELECT steward.audit_enable('shared.mparent', operations => '{TRUNCATE}');
	CREATE TABLE IF NOT EXISTS shared.victim PARTITION OF shared.mparent FOR VALUES FROM (1) TO (10);
});
is(sql($db, $victim_triggers), $victim_before,
	"CREATE TABLE IF NOT EXISTS naming alice's table leaves its audit triggers alone");
as_user('alice', "UPDATE shared.victim SET v = 'still audited'");
is(sql($db, "SELECT count(*) FROM steward.audit_log WHERE relid = 'shared.victim'::regclass AND op = 'UPDATE'"),
	'1', "alice's updates are still audited");

# User code during the value conversion: a cast to json of an enum (used by
# to_jsonb, also inside a composite and an array), and operators named
# like pg_catalog's in a schema first on the search_path.  All of it records
# who it runs as, and tries to forge a log row.
as_user('mallory', q{
	CREATE TABLE shared.spy (who name, sess name, what text);
	GRANT INSERT, SELECT ON shared.spy TO PUBLIC;
	CREATE FUNCTION shared.note(what text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO shared.spy VALUES (current_user, session_user, what);
		BEGIN
			INSERT INTO steward.audit_log (txid, relid, schema_name, table_name, op, db_user,
			                               "session_user", backend_pid)
			VALUES (pg_current_xact_id(), 1, 'x', 'y', 'INSERT', 'forged', 'forged', 0);
			INSERT INTO shared.spy VALUES (current_user, session_user, 'forged a log row');
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;
		END;
	END $$;
	CREATE TYPE shared.mood AS ENUM ('calm', 'evil');
	CREATE FUNCTION shared.mood_json(m shared.mood) RETURNS json LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM shared.note('cast');
		RETURN to_json(m::text);
	END $$;
	CREATE CAST (shared.mood AS json) WITH FUNCTION shared.mood_json(shared.mood);
	CREATE TYPE shared.pair AS (n int, m shared.mood);
	CREATE FUNCTION shared.text_eq(a text, b text) RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM shared.note('text =');
		RETURN a OPERATOR(pg_catalog.=) b;
	END $$;
	CREATE OPERATOR shared.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shared.text_eq);
	CREATE FUNCTION shared.bytea_eq(a bytea, b bytea) RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM shared.note('bytea =');
		RETURN a OPERATOR(pg_catalog.=) b;
	END $$;
	CREATE OPERATOR shared.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = shared.bytea_eq);
	CREATE TABLE shared.moods (id int PRIMARY KEY, m shared.mood, p shared.pair, ms shared.mood[]);
	SELECT steward.audit_enable('shared.moods', capture_query => true);
	GRANT INSERT, UPDATE, DELETE, SELECT ON shared.moods TO alice;
});
my $dml = q{
	SET search_path = shared, pg_catalog;
	INSERT INTO shared.moods VALUES (%d, 'calm', ROW(1, 'evil'), ARRAY['evil', 'calm']::shared.mood[]);
	UPDATE shared.moods SET m = 'evil', p = ROW(2, 'calm') WHERE id = %d;
	DELETE FROM shared.moods WHERE id = %d;
};
as_user('mallory', sprintf($dml, 1, 1, 1) . "INSERT INTO shared.moods VALUES (10, 'calm', NULL, NULL);");
as_user('alice', sprintf($dml, 2, 2, 2));
is(sql($db, "SELECT string_agg(DISTINCT who || '/' || sess, ',') FROM shared.spy WHERE what = 'cast'"),
	'alice/alice,mallory/mallory',
	'the cast ran during conversion as the role doing the DML, never as another role');
is(sql($db, "SELECT count(*) FROM shared.spy WHERE who <> sess OR what = 'forged a log row'"), '0',
	'no user code ran as another role, and none could write the log');
is(sql($db, "SELECT count(*) FROM steward.audit_log WHERE db_user = 'forged'"), '0', 'no forged log row');
is(sql($db, "SELECT string_agg(db_user || ' ' || op || ' ' || (row_key->>'id'), ', ' ORDER BY event_id)
             FROM steward.audit_log WHERE relid = 'shared.moods'::regclass"),
	'mallory INSERT 1, mallory UPDATE 1, mallory DELETE 1, mallory INSERT 10, '
	  . 'alice INSERT 2, alice UPDATE 2, alice DELETE 2',
	'the DML on the table with the cast is audited, by the right users');
is(sql($db, "SELECT new_values::text FROM steward.audit_log
             WHERE relid = 'shared.moods'::regclass AND op = 'INSERT' AND db_user = 'alice'"),
	'{"m": "calm", "p": {"m": "evil", "n": 1}, "id": 2, "ms": ["evil", "calm"]}',
	'the values went through the cast');

# The owner can switch her own table's auditing off; it shows.
as_user('mallory', 'ALTER TABLE shared.mine DISABLE TRIGGER steward_audit_insert');
is(as_user('mallory', "SELECT active FROM steward.audited_tables WHERE tbl = 'shared.mine'::regclass"),
	'f', "a disabled trigger shows in audited_tables");

###########################################################################
# A session keeps each audited table's description between statements;
# another session's ALTER TABLE (a column, the key, the policy) reaches it.
###########################################################################
$db = new_db('desc_cache');
sql($db, q{
	CREATE TABLE dc (id int PRIMARY KEY, a int);
	SELECT steward.audit_enable('dc');
});
my $sd = $node->background_psql($db);
$sd->query_safe("INSERT INTO dc VALUES (1, 1)");
sql($db, "ALTER TABLE dc ADD COLUMN b text DEFAULT 'x'");
$sd->query_safe("INSERT INTO dc VALUES (2, 2)");
sql($db, "ALTER TABLE dc DROP CONSTRAINT dc_pkey, ADD PRIMARY KEY (a)");
$sd->query_safe("INSERT INTO dc VALUES (3, 3)");
sql($db, "SELECT steward.audit_enable('dc', exclude_columns => '{b}')");
$sd->query_safe("INSERT INTO dc VALUES (4, 4)");
$sd->quit;
is(sql($db, "SELECT string_agg(row_key::text || ' ' || new_values::text, ', ' ORDER BY event_id)
             FROM steward.audit_log WHERE relid = 'dc'::regclass"),
	'{"id": 1} {"a": 1, "id": 1}, {"id": 2} {"a": 2, "b": "x", "id": 2}, '
	  . '{"a": 3} {"a": 3, "b": "x", "id": 3}, {"a": 4} {"a": 4, "id": 4}',
	"a session's kept description follows another session's new column, new key and new policy");

done_testing();
