# Backups end to end: logical and physical backups, restore_logical,
# verification and drills, the catalog against the directory (missing,
# rescan), retention, directory faults, one backup of a kind at a time,
# cancellation, max_runtime, shutdown, the scheduler, and privileges.
#
# Slow backups are made by a session that holds a lock on a table: pg_dump
# waits for it, so the backup is running for as long as the test needs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path qw(rmtree);
use Time::HiRes qw(usleep);
use StewardTest;

my $bdir = PostgreSQL::Test::Utils::tempdir('backups');
my $node = steward_node('backups',
	init => { allows_streaming => 1 },
	settings => {
		max_worker_processes => 16,
		'steward.backup_directory' => $bdir,
		'steward.backup_jobs' => 2,
	});
my $pgdata = $node->data_dir;

sub sql { return $node->safe_psql($_[1] // 'postgres', $_[0]); }

# The SQLSTATE of a statement that must fail.
sub sqlstate
{
	my ($query, %opts) = @_;
	my ($ret, $out, $err) = $node->psql($opts{db} // 'postgres',
		"\\set VERBOSITY verbose\n$query",
		$opts{user} ? (extra_params => [ '-U', $opts{user} ]) : ());
	return $ret == 0 ? 'no error' : ($err =~ /ERROR:\s+([0-9A-Z]{5})/ ? $1 : $err);
}

# Processes that the backups started: their command lines name the backup
# directory (pg_dump -f, pg_basebackup -D, pg_restore, postgres -D).
sub children
{
	my @lines = grep { index($_, $bdir) >= 0 && !/\bps\b/ }
	  split /\n/, `ps -eo pid,pgid,args`;
	return scalar(@lines);
}

sub wait_no_children
{
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $left;
	foreach my $i (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		$left = children();
		last if $left == 0;
		usleep(100_000);
	}
	is($left, 0, $name);
	return;
}

sub folders
{
	opendir(my $d, $bdir) or die "$bdir: $!";
	my @f = sort grep { !/^\./ } readdir($d);
	closedir($d);
	return join(',', @f);
}

sub md5_of
{
	my ($table, $db) = @_;
	return sql("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM $table t", $db);
}

# --- data: two tables with a foreign key, a table to lock, a job ---
sql(q{
	CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL);
	CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent,
	                    amount numeric, note text);
	INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 300) g;
	INSERT INTO child SELECT g, 1 + g % 300, g * 1.25, repeat('x', g % 50)
	  FROM generate_series(1, 3000) g;
	CREATE SCHEMA app;
	CREATE TABLE app.locked (id int);
	INSERT INTO app.locked VALUES (1), (2);
	CREATE TABLE ticks (at timestamptz);
	SELECT steward.schedule('tick', '1 seconds', 'INSERT INTO ticks VALUES (now())');
	SELECT steward.audit_enable('parent');
	UPDATE parent SET name = name || '!' WHERE id <= 10;
});
ok(sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward.audit_log'::regclass") > 1,
	'the audit log has daily partitions');
wait_for($node, 'SELECT count(*) > 0 FROM ticks', 't', 'the tick job runs');

# --- privileges: an ordinary role gets 42501 and sees nothing ---
create_roles($node, [ 'ordinary', 'operator' ]);
sql('CREATE ROLE steward_backup NOLOGIN; GRANT steward_backup TO operator');
is(sqlstate("SELECT steward.backup_now()", user => 'ordinary'), '42501',
	'an ordinary role may not take a backup (42501)');
is(sqlstate("SELECT * FROM steward.backup_rescan()", user => 'ordinary'), '42501',
	'nor rescan');
is(sqlstate("SELECT steward.restore_logical(1, 'x')", user => 'ordinary'), '42501',
	'nor restore');
is(sqlstate("SELECT steward.backup_schedule('logical', '0 3 * * *')", user => 'ordinary'),
	'42501', 'nor schedule backups');

# --- logical backup and restore_logical: same contents, foreign keys kept ---
my $lid = safe_psql_as($node, 'operator', "SELECT steward.backup_now('logical', 'first')");
like($lid, qr/^\d{16}$/, 'a member of steward_backup takes a logical backup');
sql("SELECT steward.unschedule('tick')");
is(sql("SELECT kind || ' ' || status || ' ' || label || ' ' || (size_bytes > 0) FROM steward.backups WHERE backup_id = $lid"),
	'logical succeeded first true', 'it is listed as succeeded');
is(safe_psql_as($node, 'operator', 'SELECT count(*) FROM steward.backups'), '1',
	'the member sees it');
is(safe_psql_as($node, 'ordinary', 'SELECT count(*) FROM steward.backups'), '0',
	'an ordinary role sees no rows in steward.backups');
is(sqlstate('SELECT count(*) FROM steward.backup', user => 'ordinary'), '42501',
	'nor in the table');
ok(-f "$bdir/$lid/backup.json" && -f "$bdir/$lid/dump/toc.dat" && -f "$bdir/$lid/globals.sql",
	'the folder holds backup.json, the dump and the globals');
is(sql("SELECT (metadata -> 'tables' ->> 'public.child')::int FROM steward.backup WHERE backup_id = $lid"),
	'3000', 'the metadata has the row counts of the dump');
is(sql("SELECT metadata ->> 'tables_counted_apart' FROM steward.backup WHERE backup_id = $lid"),
	'0', 'pg_dump\'s sessions reported every table\'s rows (none counted apart)');
is(sql("SELECT bool_and(ok) FROM steward.backup_verify($lid)"), 't',
	'the logical backup verifies (checksums, table of contents)');

# Stale staging databases, as a crash leaves them: a template named
# steward_restore_<id>_<pid> or steward_drill_<id>_<pid> whose pid is no
# live process's is dropped at the start of a restore; a name that only
# looks like one, or a database that is not a template, is never touched.
my $dead = 999999;
$dead-- while kill(0, $dead) || $!{EPERM};
my %staging = (
	restore => "steward_restore_${lid}_$dead",
	drill => "steward_drill_${lid}_$dead",
	lookalike => "steward_restore_${lid}_${dead}x",
	not_template => "steward_drill_${lid}_" . ($dead - 1));
sql("CREATE DATABASE $staging{$_} IS_TEMPLATE true") for qw(restore drill lookalike);
sql("CREATE DATABASE $staging{not_template}");

# The databases whose names start with steward_, or are 'restored'.
sub staging_dbs
{
	return join(',', sort split /\n/,
		sql("SELECT datname || ':' || datistemplate FROM pg_database WHERE datname LIKE 'steward\\_%' OR datname = 'restored'"));
}

# The restore waits before it renames its database while $hold exists.
my $hold = PostgreSQL::Test::Utils::tempdir('hold') . '/restore';
PostgreSQL::Test::Utils::append_to_file($hold, '');
reload_settings($node, { 'steward.debug_backup_pause_file' => $hold }, passes => 0);
my $restore_log = -s $node->logfile;
my $restorer = $node->background_psql('postgres');
$restorer->query_until(qr/started/, "\\echo started\nSELECT steward.restore_logical($lid, 'restored');\n");
wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE query = 'pg_steward restore: paused before the rename'",
	'1', 'restore_logical restores, then waits before its rename');
my $worker = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward backup'");
is(staging_dbs(),
	join(',', sort("steward_restore_${lid}_$worker:true", "$staging{lookalike}:true", "$staging{not_template}:false")),
	'meanwhile it restores into a template named after the backup and its worker, not into the new name;'
	  . ' the stale staging databases are gone, the others kept');
wait_for_logged($node, qr/pg_steward dropped the stale staging database "$staging{restore}"/, $restore_log,
	'the stale staging database of a restore is dropped and logged');
wait_for_logged($node, qr/pg_steward dropped the stale staging database "$staging{drill}"/, $restore_log,
	'and so is that of a drill');
unlink($hold) or die "unlink $hold: $!";
ok($restorer->quit, 'restore_logical succeeds');
is(staging_dbs(), join(',', sort('restored:false', "$staging{lookalike}:true", "$staging{not_template}:false")),
	'the restored database has its new name and is no template; no staging database is left');
sql("ALTER DATABASE $staging{lookalike} IS_TEMPLATE false");
sql("DROP DATABASE $_") for @staging{qw(lookalike not_template)};
reload_settings($node, { 'steward.debug_backup_pause_file' => undef }, passes => 0);
for my $t ('parent', 'child', 'app.locked')
{
	is(md5_of($t, 'restored'), md5_of($t), "restore_logical: $t has identical contents");
}
is(sql("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'child'::regclass", 'restored'),
	'1', 'and the foreign key is kept');
is(sql('SELECT count(*) FROM steward.audit_log', 'restored'), '10',
	'and the audit log with its daily partitions (their indexes come from the extension)');
is(sql("SELECT string_agg(job_name || ':' || enabled, ',') FROM steward.job WHERE NOT builtin", 'restored'),
	'tick:false', 'the restored database has the jobs of the backup, disabled');
my $ticks = sql('SELECT count(*) FROM ticks', 'restored');
wait_for_passes($node, 3, db => 'restored');
is(sql('SELECT count(*) FROM ticks', 'restored'), $ticks, 'and they do not run there');
is(sqlstate("SELECT steward.restore_logical($lid, 'restored')"), '42P04',
	'a restore to an existing database is refused (42P04)');
sql('DROP DATABASE restored');

# --- physical backup and its manifest ---
my $pid = sql("SELECT steward.backup_now('physical')");
is(sql("SELECT status || ' ' || (start_lsn IS NOT NULL) || ' ' || (stop_lsn >= start_lsn) || ' ' || timeline FROM steward.backups WHERE backup_id = $pid"),
	'succeeded true true 1', 'a physical backup succeeds with its LSNs and timeline');
ok(-f "$bdir/$pid/data/backup_manifest", 'it has a backup manifest');
is(sql("SELECT string_agg(check_name || ':' || ok, ',') FROM steward.backup_verify($pid)"),
	'metadata:true,checksums:true,manifest:true', 'it verifies against its manifest');
is(sql("SELECT verify_status FROM steward.backups WHERE backup_id = $pid"), 'ok',
	'the verification is recorded');

# --- the manifest check while pg_basebackup writes, and what it catches ---
my $pmeta = PostgreSQL::Test::Utils::slurp_file("$bdir/$pid/backup.json");
like($pmeta, qr/"manifest_verified": \{"files": \d+, "wal_ranges": 1/,
	'the backup records its manifest check');
if ($^O eq 'linux')
{
	my ($early) = $pmeta =~ /"checked_while_copying": (\d+)/;
	cmp_ok($early, '>', 0, 'files are checked as pg_basebackup closes them (inotify)');
	# read before pg_basebackup renames it, if the worker saw it in time
	like($pmeta, qr/"manifest_read_early": (true|false)[,}]/, 'the backup records when it read the manifest');
}

# A backup held before its manifest check (steward.debug_backup_pause_file)
# is changed by $change (given its data folder), then must fail.
my $pause = PostgreSQL::Test::Utils::tempdir('pause') . '/hold';
reload_settings($node, { 'steward.debug_backup_pause_file' => $pause }, passes => 0);
sub tampered
{
	my ($what, $change) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	PostgreSQL::Test::Utils::append_to_file($pause, '');
	my $id = sql("SELECT steward.backup_now('physical', 'tampered', wait => false)");
	wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE query = 'pg_steward backup: paused before the manifest check'",
		'1', "$what: the backup waits before its manifest check");
	$change->("$bdir/$id.partial/data");
	unlink($pause) or die "unlink $pause: $!";
	wait_for($node, "SELECT status FROM steward.backups WHERE backup_id = $id", 'failed',
		"$what: the backup fails");
	ok(!-e "$bdir/$id.partial" && !-e "$bdir/$id", "$what: its folder is removed");
	return sql("SELECT message FROM steward.backups WHERE backup_id = $id");
}
sub first_file
{
	my ($dir) = @_;
	opendir(my $dh, $dir) or die "$dir: $!";
	my @f = sort grep { -f "$dir/$_" && -s "$dir/$_" >= 8192 } readdir($dh);
	closedir($dh);
	return "$dir/$f[0]";
}
like(tampered('a corrupted file', sub {
	my $f = first_file("$_[0]/global");
	open(my $fh, '+<', $f) or die "$f: $!";
	binmode $fh;
	seek($fh, 100, 0);
	print $fh 'corrupted';
	close($fh);
}), qr/"global\/\d+" does not match its checksum in the manifest/,
	'a file changed in place (same size) is found by its checksum');
like(tampered('a longer file', sub {
	PostgreSQL::Test::Utils::append_to_file("$_[0]/PG_VERSION", "x");
}), qr/"PG_VERSION" has 4 bytes, the manifest says 3/, 'a file of another size is found');
like(tampered('a missing file', sub { unlink("$_[0]/global/pg_control") or die $!; }),
	qr/"global\/pg_control" is in the manifest but not in the backup/, 'a missing file is found');
like(tampered('an extra file', sub { PostgreSQL::Test::Utils::append_to_file("$_[0]/base/extra", "x"); }),
	qr/"base\/extra" is in the backup but not in the manifest/, 'an extra file is found');
like(tampered('a changed manifest', sub {
	my $m = PostgreSQL::Test::Utils::slurp_file("$_[0]/backup_manifest");
	$m =~ s/"Size": (\d+)/'"Size": ' . ($1 + 1)/e;
	open(my $fh, '>', "$_[0]/backup_manifest") or die $!;
	print $fh $m;
	close($fh);
}), qr/backup_manifest does not match its manifest checksum/, 'a changed manifest is found');
like(tampered('missing WAL', sub { unlink(glob("$_[0]/pg_wal/0*")) or die "no WAL: $!"; }),
	qr/the WAL from \S+ to \S+ on timeline 1 does not parse/, 'missing WAL is found (pg_waldump)');

# The files are hashed by checksum processes, children of the worker, at
# steward.backup_nice; the worker keeps the server's priority.
if ($^O eq 'linux')
{
	reload_settings($node, { 'steward.backup_nice' => 7, 'steward.backup_jobs' => 3 }, passes => 0);
	my $nice_of = sub {
		my $stat = PostgreSQL::Test::Utils::slurp_file("/proc/$_[0]/stat");
		$stat =~ s/^.*\)\s+//s;    # fields from the third (state) on
		return (split(' ', $stat))[16];
	};
	my ($wnice, @cnice);
	like(tampered('a backup at a lower priority', sub {
		my $wpid = sql("SELECT pid FROM pg_stat_activity WHERE query = 'pg_steward backup: paused before the manifest check'");
		$wnice = $nice_of->($wpid);
		my $kids = PostgreSQL::Test::Utils::slurp_file("/proc/$wpid/task/$wpid/children");
		@cnice = map { $nice_of->($_) } split(' ', $kids);
		unlink("$_[0]/PG_VERSION") or die $!;
	}), qr/"PG_VERSION" is in the manifest but not in the backup/, 'it checks the files as at the server\'s priority');
	is($wnice, 0, 'the backup worker keeps the server\'s priority');
	is(join(',', @cnice), '7,7,7', 'steward.backup_jobs checksum processes run at steward.backup_nice');
	reload_settings($node, { 'steward.backup_nice' => undef, 'steward.backup_jobs' => undef }, passes => 0);

	# a checksum process that dies fails the backup, like any child program
	my @kids;
	like(tampered('a checksum process killed', sub {
		my $wpid = sql("SELECT pid FROM pg_stat_activity WHERE query = 'pg_steward backup: paused before the manifest check'");
		@kids = split(' ', PostgreSQL::Test::Utils::slurp_file("/proc/$wpid/task/$wpid/children"));
		kill('KILL', $kids[0]) or die "kill $kids[0]: $!";
	}), qr/the checksum process was terminated by signal 9/, 'a killed checksum process fails the backup');
	wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward backup'", '0',
		'the backup worker exits after the failure');
	is(scalar(grep { kill(0, $_) } @kids), 0, 'no checksum process is left');
}
reload_settings($node, { 'steward.debug_backup_pause_file' => undef }, passes => 0);

# --- drills: good backups pass ---
sql("CREATE DATABASE $staging{drill} IS_TEMPLATE true");
my $drill_log = -s $node->logfile;
is(sql("SELECT string_agg(check_name || ':' || ok, ',') FROM steward.backup_verify($pid, deep => true)"),
	'metadata:true,checksums:true,manifest:true,drill_instance:true',
	'the physical drill starts an instance from the backup');
is(sql("SELECT bool_and(ok) FROM steward.backup_verify($lid, deep => true)"), 't',
	'the logical drill restores with the row counts of the dump');
is(sql("SELECT string_agg(drill_status || ' ' || (drill_duration > '0'), ',' ORDER BY backup_id) FROM steward.backups"),
	'ok true,ok true', 'both drills are recorded with their duration');
is(sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'steward_drill%'"), '0',
	'no drill database is left');
wait_for_logged($node, qr/pg_steward dropped the stale staging database "$staging{drill}"/, $drill_log,
	'a drill drops a stale staging database first');
is(folders(), join(',', sort($lid, $pid)), 'no drill folder is left');

# --- corrupted files fail the drill ---
# 250 more tables, every data file corrupted: the checks' details run past
# the worker's outcome slot (2 kB) and must still come back whole.
sql("DO \$\$BEGIN FOR i IN 1..250 LOOP EXECUTE format('CREATE TABLE many_%s (id int)', i); END LOOP; END\$\$");
my $bad = sql("SELECT steward.backup_now('logical', 'to corrupt')");
sql("DO \$\$BEGIN FOR i IN 1..250 LOOP EXECUTE format('DROP TABLE many_%s', i); END LOOP; END\$\$");
my @datfiles = glob("$bdir/$bad/dump/*.dat.gz");
cmp_ok(scalar(@datfiles), '>', 250, 'the dump has a data file per table');
foreach my $datfile (@datfiles)
{
	open(my $fh, '+<', $datfile) or die "$datfile: $!";
	binmode $fh;
	seek($fh, 20, 0);
	print $fh "corrupted";
	close($fh);
}
my ($checks, $longest) = split(/\|/, sql("SELECT string_agg(check_name || ':' || ok, ',') || '|' || max(length(detail))"
		. " FROM steward.backup_verify($bad, deep => true)"));
like($checks, qr/checksums:false/, 'the drill of a backup with corrupted files finds them');
cmp_ok($longest, '>', 2048, 'a check detail longer than the worker\'s outcome slot comes back whole');
like($checks, qr/drill:false|row_counts:false/, 'and its restore fails');
is(sql("SELECT drill_status FROM steward.backups WHERE backup_id = $bad"), 'failed',
	'the failed drill is recorded');
is(sql("SELECT verify_status FROM steward.backups WHERE backup_id = $bad"), 'failed',
	'and so is its failed verification');
is(sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'steward_drill%'"), '0',
	'the failed drill left no database');

# --- a folder removed by hand is missing; rescan rebuilds the catalog ---
rmtree("$bdir/$bad");
is(sql("SELECT status FROM steward.backups WHERE backup_id = $bad"), 'missing',
	'a folder removed by hand shows as missing');
is(sql("SELECT string_agg(backup_id || ':' || action, ',') FROM steward.backup_rescan()"),
	"$bad:missing", 'backup_rescan reports it');
sql('DELETE FROM steward.backup');
is(sql("SELECT string_agg(action, ',' ORDER BY backup_id) FROM steward.backup_rescan()"),
	'added,added', 'backup_rescan adds every backup of the directory back');
is(sql("SELECT string_agg(backup_id || ' ' || kind || ' ' || status || ' ' || verify_status || ' ' || drill_status, ',' ORDER BY backup_id) FROM steward.backups"),
	"$lid logical succeeded ok ok,$pid physical succeeded ok ok",
	'with their kind, status and verification');
is(sql("SELECT count(*) FROM steward.backup_rescan()"), '0', 'a second rescan changes nothing');

# --- the backup directory: read-only, inside PGDATA ---
chmod(0555, $bdir) or die "chmod: $!";
is(sqlstate("SELECT steward.backup_now('logical')"), '42501',
	'a backup into a read-only directory fails (42501)');
chmod(0755, $bdir) or die "chmod: $!";
is(sql("SELECT count(*) FROM steward.backups WHERE status <> 'succeeded'"), '0',
	'and nothing is recorded for it');
is(folders(), join(',', sort($lid, $pid)), 'nor written');
is(sqlstate("ALTER SYSTEM SET steward.backup_directory = '$pgdata/backups'"), '22023',
	'a backup directory inside PGDATA is refused');
symlink("$pgdata/pg_wal", "$bdir/../into_pgdata") or die "symlink: $!";
reload_settings($node, { 'steward.backup_directory' => "$bdir/../into_pgdata" }, passes => 0);
is(sqlstate("SELECT steward.backup_now('logical')"), '55000',
	'and so is one that resolves into it through a link');
reload_settings($node, { 'steward.backup_directory' => $bdir }, passes => 0);

# A backup that fails in its child program: nothing good, no folder.
reload_settings($node, { 'steward.backup_role' => 'no_such_role' }, passes => 0);
like((($node->psql('postgres', "SELECT steward.backup_now('logical')"))[2]),
	qr/pg_dumpall failed with exit code 1/, 'a failing child program fails the backup');
reload_settings($node, { 'steward.backup_role' => undef }, passes => 0);
is(sql("SELECT status FROM steward.backups ORDER BY backup_id DESC LIMIT 1"), 'failed',
	'it is recorded as failed');
is(folders(), join(',', sort($lid, $pid)), 'and its folder is removed');

# --- one backup of a kind at a time; cancellation kills the children ---
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE app.locked');
my $slow = sql("SELECT steward.backup_now('logical', 'slow', wait => false)");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'a logical backup waits for the locked table');
is(sql("SELECT status FROM steward.backups WHERE backup_id = $slow"), 'running', 'it shows as running');
ok(children() > 0, 'its pg_dump is running');
is(sqlstate("SELECT steward.backup_now('logical')"), '55006',
	'a second logical backup meanwhile is refused (55006)');

# a child that crashes fails the backup, not the cluster
my $start_time = sql('SELECT pg_postmaster_start_time()');
my ($dump_pid) = map { /^\s*(\d+)\s+(\d+)/ && $1 == $2 ? $1 : () }
  grep { /pg_dump -Fd/ && index($_, $bdir) >= 0 } split /\n/, `ps -eo pid,pgid,args`;
ok($dump_pid, 'pg_dump leads its own process group');
kill 'KILL', $dump_pid;
wait_for($node, "SELECT status FROM steward.backups WHERE backup_id = $slow", 'failed',
	'a crashed pg_dump fails the backup');
like(sql("SELECT message FROM steward.backups WHERE backup_id = $slow"),
	qr/pg_dump was terminated by signal 9/, 'and says how');
wait_no_children('no child of the crashed backup is left');
is(sql('SELECT pg_postmaster_start_time()'), $start_time, 'the cluster did not restart');
ok(!-e "$bdir/$slow.partial", 'its .partial folder is removed');

# cancel of the waiting caller
my $caller = $node->background_psql('postgres');
$caller->query_until(qr/started/, "\\echo started\nSELECT steward.backup_now('logical', 'cancel me');\n");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'the caller\'s backup waits for the lock');
sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT steward.backup_now(%cancel me%' AND pid <> pg_backend_pid()");
wait_no_children('pg_cancel_backend of the caller kills the child group');
wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward backup'", '0',
	'and the backup worker');
wait_for($node, "SELECT status FROM steward.backups WHERE label = 'cancel me'", 'failed',
	'the cancelled backup is failed');
wait_for($node, "SELECT status || ': ' || message FROM steward.backup WHERE label = 'cancel me'",
	'failed: backup was cancelled', 'and the table says so too, not running');
eval { $caller->quit };

# cancel of the worker
my $w = sql("SELECT steward.backup_now('logical', 'cancel worker', wait => false)");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'the next backup waits for the lock');
sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_steward backup'");
wait_no_children('pg_cancel_backend of the worker kills the child group');
wait_for($node, "SELECT status || ': ' || message FROM steward.backups WHERE backup_id = $w",
	'failed: backup was cancelled', 'the backup is failed: cancelled');
ok(!-e "$bdir/$w.partial", 'its .partial folder is removed');

# max_runtime of a scheduled backup
safe_psql_as($node, 'operator', "SELECT steward.backup_schedule('logical', '0 3 * * *', keep_last => 2)");
sql("SELECT steward.alter_job('backup_logical', max_runtime => '2 seconds')");
make_due($node, 'backup_logical');
wait_for($node, "SELECT last_status FROM steward.jobs WHERE name = 'backup_logical'", 'timed_out',
	'a scheduled backup past max_runtime times out');
wait_no_children('max_runtime kills the child group');
is(sql("SELECT status || ': ' || message FROM steward.backups WHERE job_id IS NOT NULL"),
	'failed: backup was cancelled', 'the backup is failed: cancelled');
is(folders(), join(',', sort($lid, $pid)), 'no folder is left');

# --- shutdown during a backup ---
my $sd = sql("SELECT steward.backup_now('logical', 'shutdown', wait => false)");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'a backup runs at shutdown');
$node->stop('fast');
eval { $locker->quit };
wait_no_children('a fast shutdown leaves no child');
ok(!-e "$bdir/$sd.partial", 'and removes the .partial folder');
$node->start;
is(sql("SELECT status FROM steward.backups WHERE backup_id = $sd"), 'failed',
	'the backup shows failed after the restart');
# (cancelled, or pg_dump failed first when the server ended its session)
is(sql("SELECT status FROM steward.backup WHERE backup_id = $sd"), 'failed',
	'the worker recorded it in the table before it exited');

$locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE app.locked');
my $im = sql("SELECT steward.backup_now('logical', 'immediate', wait => false)");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'a backup runs at an immediate shutdown');
$node->stop('immediate');
wait_no_children('an immediate shutdown leaves no child either');
ok(-e "$bdir/$im.partial", 'but leaves the .partial folder');
# what an interrupted restore_logical() leaves: its log and table of contents
for my $f ("drill-$lid-restore-4242.log", "drill-$lid-restore-4242.log.list")
{
	open(my $fh, '>', "$bdir/$f") or die "$f: $!";
	close($fh);
}
my $log_offset = -s $node->logfile;
$node->start;
wait_for_logged($node, qr/removed the unfinished backup folder "[^"]*$im\.partial"/, $log_offset,
	'the next start removes the .partial folder and reports it');
ok(!-e "$bdir/$im.partial", 'it is gone');
wait_for_logged($node, qr/removed the file "[^"]*drill-$lid-restore-4242\.log\.list" of an unfinished restore/,
	$log_offset, 'and the files of an interrupted restore');
ok(!-e "$bdir/drill-$lid-restore-4242.log" && !-e "$bdir/drill-$lid-restore-4242.log.list",
	'they are gone');
is(sql("SELECT status FROM steward.backup WHERE backup_id = $im"), 'running',
	'the table still has the interrupted backup as running');
is(sql("SELECT status || ': ' || message FROM steward.backups WHERE backup_id = $im"),
	'failed: interrupted: no process is writing this backup any more',
	'the backup shows failed (interrupted)');
eval { $locker->quit };

# --- a scheduled backup runs from the scheduler, then retention ---
make_due($node, 'backup_logical');
wait_for($node, "SELECT last_status FROM steward.jobs WHERE name = 'backup_logical'", 'succeeded',
	'a scheduled backup runs from the scheduler');
is(sql("SELECT count(*) FROM steward.backups WHERE job_id IS NOT NULL AND status = 'succeeded' AND verify_status = 'ok'"),
	'1', 'its backup succeeded and was verified')
  or diag(sql("SELECT * FROM steward.backups"), sql("SELECT * FROM steward.job_run ORDER BY run_id DESC LIMIT 2"));
is(sql("SELECT status || ': ' || message FROM steward.backup WHERE backup_id = $im"),
	'failed: interrupted: no process was writing this backup any more',
	'the next backup marks the interrupted one failed in the table');

# four good logical backups now: $lid, two more, the scheduled one
my @more = map { sql("SELECT steward.backup_now('logical', 'more $_')") } 1 .. 2;
my @good = split /\n/, sql("SELECT backup_id FROM steward.backups WHERE kind = 'logical' AND status = 'succeeded' ORDER BY backup_id");
is(scalar(@good), 4, 'four good logical backups');
is(sql("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM steward.backup_prune()"),
	"$good[0],$good[1]", 'backup_prune (keep_last 2) deletes the two oldest');
is(sql("SELECT string_agg(status, ',' ORDER BY backup_id) FROM steward.backups WHERE kind = 'logical' AND backup_id IN ($good[0], $good[1], $good[2], $good[3])"),
	'expired,expired,succeeded,succeeded', 'they are expired, the two newest kept');
ok(!-e "$bdir/$good[0]" && -e "$bdir/$good[3]", 'their folders are deleted');
is(sql("SELECT count(*) FROM steward.backups WHERE kind = 'physical' AND status = 'succeeded'"), '1',
	'a kind without a backup job is not pruned');

# keep_within: keep_last 1, but what started within a day is kept too
my @n = map { sql("SELECT steward.backup_now('logical', 'within $_')") } 1 .. 2;
safe_psql_as($node, 'operator', "SELECT steward.backup_schedule('logical', '0 3 * * *', keep_last => 1, keep_within => '1 day')");
sql("UPDATE steward.backup SET started_at = now() - interval '3 days' WHERE backup_id = $good[2];
     UPDATE steward.backup SET started_at = now() - interval '2 days' WHERE backup_id = $good[3];
     UPDATE steward.backup SET started_at = now() - interval '2 hours' WHERE backup_id = $n[0]");
is(sql("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM steward.backup_prune()"),
	"$good[2],$good[3]", 'keep_within keeps what started within a day, beyond keep_last');
# the newest good one stays even when everything is old and newer ones failed
sql("UPDATE steward.backup SET started_at = now() - interval '5 days' WHERE backup_id IN ($n[0], $n[1])");
is(sql("SELECT string_agg(backup_id::text, ',' ORDER BY backup_id) FROM steward.backup_prune()"),
	"$n[0]", 'with everything old, only the newest good one is kept');
is(sql("SELECT count(*) FROM steward.backups WHERE kind = 'logical' AND status = 'succeeded'"), '1',
	'one good logical backup remains');

# --- a scheduled physical backup, verify => 'manifest' ---
# The check made while the backup was written is its verification: the
# job does not read every file again.
sql("SELECT steward.backup_schedule('physical', '0 3 * * *')");
make_due($node, 'backup_physical');
wait_for($node, "SELECT last_status FROM steward.jobs WHERE name = 'backup_physical'", 'succeeded',
	'a scheduled physical backup succeeds');
is(sql("SELECT b.status || ' ' || b.verify_status || ' ' || (d.verify_detail::text LIKE '%while the backup was made%')
          FROM steward.backups b JOIN steward.backup d USING (backup_id)
         WHERE b.job_id IS NOT NULL AND b.kind = 'physical'"),
	'succeeded ok true', 'its verification is the manifest check made while it was written');

# --- row counts: pg_dump's own COPY reports; a second report is not trusted ---
sql('GRANT SELECT ON child TO ordinary');
$locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE app.locked');
my $rc = sql("SELECT steward.backup_now('logical', 'counts', wait => false)");
wait_for($node, "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_steward backup' AND wait_event_type = 'Lock'",
	't', 'a backup waits for the locked table before it dumps anything');
{
	# sessions that look like pg_dump's: the backup role's is taken as a
	# second report of parent; an ordinary role's report of child is ignored
	local $ENV{PGAPPNAME} = 'pg_steward backup';
	sql('COPY public.parent TO stdout');
	safe_psql_as($node, 'ordinary', 'COPY public.child TO stdout');
}
$locker->query_safe('COMMIT');
$locker->quit;
wait_for($node, "SELECT status FROM steward.backups WHERE backup_id = $rc", 'succeeded',
	'the backup finishes');
is(sql("SELECT metadata ->> 'tables_counted_apart' FROM steward.backup WHERE backup_id = $rc"),
	'1', 'a table reported twice is counted apart, an ordinary role\'s report is ignored');
is(sql("SELECT (metadata -> 'tables' ->> 'public.parent') || ' ' || (metadata -> 'tables' ->> 'public.child') || ' ' || (metadata -> 'tables' ->> 'app.locked') FROM steward.backup WHERE backup_id = $rc"),
	'300 3000 2', 'the counts are the tables\' rows');

# --- a backup directory that fills up during the backup ---
# Needs a small file system: STEWARD_TEST_SMALL_FS names an empty folder,
# writable by the server, on one of 8 MB (e.g. a tmpfs that root mounted:
# mount -t tmpfs -o size=8m tmpfs DIR; chown postgres DIR).
SKIP:
{
	my $small = $ENV{STEWARD_TEST_SMALL_FS};
	skip 'STEWARD_TEST_SMALL_FS does not name a folder on an 8 MB file system', 7
	  unless $small && -d $small && -w $small;
	# 12 MB that do not compress: the dump does not fit, but the up-front
	# estimate (a quarter of the database) does
	sql(q{CREATE TABLE big (b bytea);
		INSERT INTO big SELECT (SELECT decode(string_agg(md5(random()::text || g || i), ''), 'hex')
		                         FROM generate_series(1, 16384) i)
		  FROM generate_series(1, 48) g});
	reload_settings($node, { 'steward.backup_directory' => $small }, passes => 0);
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT steward.backup_now('logical', 'disk full')");
	isnt($ret, 0, 'a backup that fills its directory fails');
	like($err, qr/pg_dump failed with exit code 1/, 'pg_dump fails writing, and the error says so')
	  or diag($err);
	is(sql("SELECT status FROM steward.backup WHERE label = 'disk full'"), 'failed',
		'the backup is recorded as failed');
	opendir(my $dh, $small) or die "$small: $!";
	my @left = grep { !/^\.\.?$/ } readdir($dh);
	closedir($dh);
	is(join(',', @left), '', 'nothing is left in the full directory');
	reload_settings($node, { 'steward.backup_directory' => $bdir }, passes => 0);
	sql('DROP TABLE big');
	like(sql("SELECT steward.backup_now('logical', 'after disk full')"), qr/^\d{16}$/,
		'backups work again in a directory with room');
}

# --- a crash during restore_logical: nothing under the new name ---
# The worker is killed (SIGKILL: the postmaster restarts the cluster; the
# test framework turns restart_after_crash off) while its staging database
# is complete but not yet renamed.
my $rid = sql("SELECT max(backup_id) FROM steward.backups WHERE kind = 'logical' AND status = 'succeeded'");
PostgreSQL::Test::Utils::append_to_file($hold, '');
reload_settings($node, { 'steward.debug_backup_pause_file' => $hold, restart_after_crash => 'on' },
	passes => 0);
my $crashing = $node->background_psql('postgres');
$crashing->query_until(qr/started/, "\\echo started\nSELECT steward.restore_logical($rid, 'crashed');\n");
wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE query = 'pg_steward restore: paused before the rename'",
	'1', 'a restore waits before its rename');
$worker = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_steward backup'");
my $left = "steward_restore_${rid}_$worker";
is(sql("SELECT datistemplate FROM pg_database WHERE datname = '$left'"), 't',
	'its staging database exists, a template');
my $crash_log = -s $node->logfile;
kill 'KILL', $worker or die "kill $worker: $!";
wait_for_logged($node, qr/all server processes terminated; reinitializing/, $crash_log,
	'killing the restore\'s worker restarts the cluster');
wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_steward launcher'", '1',
	'the cluster is up again');
eval { $crashing->quit };
unlink($hold) or die "unlink $hold: $!";
reload_settings($node, { 'steward.debug_backup_pause_file' => undef, restart_after_crash => undef },
	passes => 0);
is(sql("SELECT count(*) FROM pg_database WHERE datname = 'crashed'"), '0',
	'after the crash, no database has the new name');
is(sql("SELECT datistemplate FROM pg_database WHERE datname = '$left'"), 't',
	'the staging database is left, a template');
is(sql("SELECT string_agg(backup_id || ':' || action, ',') FROM steward.backup_rescan() WHERE action = 'dropped'"),
	"$rid:dropped", 'backup_rescan drops it and reports it');
is(sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'steward\\_%'"), '0',
	'no staging database is left');
wait_for_logged($node, qr/pg_steward dropped the stale staging database "$left"/, $crash_log,
	'and the drop is logged');
is(sql("SELECT count(*) FROM steward.backup_rescan() WHERE action = 'dropped'"), '0',
	'a second rescan drops nothing');

$node->stop;
done_testing();
