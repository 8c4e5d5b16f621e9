# WAL archiving with archive_library = 'pg_steward' and point-in-time
# recovery with pg_steward_restore (issue 14): PITR to a time, an LSN, a
# restore point and the end of the archive; re-archiving the same segment;
# a conflicting archived file refused; a failing archive directory that
# recovers without losing a segment; retention below the oldest physical
# backup; encrypted archives, wrong keys and a modified file.
use strict;
use warnings;

use File::Compare;
use File::Copy;
use IPC::Run;
use Time::HiRes;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StewardTest;
use Test::More;

my $bdir = PostgreSQL::Test::Utils::tempdir('backups');
my $wal = "$bdir/wal";
my $node = steward_node('pitr',
	init => { allows_streaming => 1 },
	settings => {
		'steward.backup_directory' => $bdir,
		'archive_mode' => 'on',
		'archive_library' => 'pg_steward',
	});
my $bindir = $node->config_data('--bindir');

sub sql { return $node->safe_psql('postgres', shift) }

sub run_prog
{
	my ($out, $err) = ('', '');
	IPC::Run::run(\@_, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# Writes something, switches to the next segment and waits until the one
# that was current is archived.
sub switch_and_wait
{
	my ($what) = @_;
	my $seg = sql("INSERT INTO filler SELECT 1; SELECT pg_walfile_name(pg_current_wal_lsn())");
	sql('SELECT pg_switch_wal()');
	wait_for($node, "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver", 't',
		"$what: $seg archived");
	return $seg;
}

sub wait_for_file
{
	my ($path, $name) = @_;
	for (1 .. 600)
	{
		last if -e $path;
		Time::HiRes::usleep(100_000);
	}
	ok(-e $path, $name);
	return;
}

sub restore_and_check
{
	my ($name, $expected, @opts) = @_;
	my $r = PostgreSQL::Test::Cluster->new($name);
	my ($code, $out, $err) = run_prog("$bindir/pg_steward_restore",
		'--backup-directory', $bdir, '--backup', 'latest', '--pgdata', $r->data_dir, @opts);
	is($code, 0, "$name: pg_steward_restore succeeds") or diag($err);
	like($out, qr/pg_ctl -D/, "$name: it prints how to start the server");
	ok(-f $r->data_dir . '/recovery.signal', "$name: recovery.signal written");
	$r->append_conf('postgresql.conf',
		"port = " . $r->port . "\nunix_socket_directories = '" . $r->host . "'\n");
	$r->start;
	$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "$name: recovery did not finish";
	ok(!-e $r->data_dir . '/pg_wal/steward_prefetch',
		"$name: the prefetch folder is gone once recovery ended");
	is($r->safe_psql('postgres', q(SELECT string_agg(id::text, ',' ORDER BY id) FROM t)),
		$expected, "$name: exactly the rows committed before the target");
	$r->stop;
	File::Path::rmtree($r->data_dir);
	return;
}

sql('CREATE TABLE t (id int); CREATE TABLE filler (x int)');
my $b1 = sql(q(SELECT steward.backup_now('physical', 'base')));
ok($b1 > 0, 'a physical backup');
switch_and_wait('first segment');
ok(-f "$wal/system_identifier", 'the archive is bound to the cluster');
my @files = glob("$wal/0*.zst");
ok(@files > 0, 'segments are archived as .zst files');
open(my $fh, '<:raw', $files[0]) or die;
read($fh, my $magic, 4);
close($fh);
is(unpack('H8', $magic), '28b52ffd', 'an archived segment is a zstd frame');

# rows around the targets
sql('INSERT INTO t VALUES (1)');
my $t1 = sql('SELECT clock_timestamp()');
sql('INSERT INTO t VALUES (2)');
my $lsn2 = sql('SELECT pg_current_wal_insert_lsn()');
sql('INSERT INTO t VALUES (3)');
sql(q(SELECT pg_create_restore_point('after3')));
sql('INSERT INTO t VALUES (4)');
switch_and_wait('the rows');

restore_and_check('pitr_time', '1', '--target-time', $t1);
restore_and_check('pitr_lsn', '1,2', '--target-lsn', $lsn2);
restore_and_check('pitr_name', '1,2,3', '--target-name', 'after3', '--target-action', 'promote');
restore_and_check('pitr_latest', '1,2,3,4');

# a restore never touches a non-empty directory
my $busy = PostgreSQL::Test::Utils::tempdir('busy');
PostgreSQL::Test::Utils::append_to_file("$busy/keep", 'mine');
my ($code, $out, $err) = run_prog("$bindir/pg_steward_restore", '-B', $bdir, '-D', $busy);
isnt($code, 0, 'restore into a non-empty directory is refused');
like($err, qr/not empty/, 'and says why');
is(PostgreSQL::Test::Utils::slurp_file("$busy/keep"), 'mine', 'the directory is untouched');

# restore_command's statuses
my $tmpd = PostgreSQL::Test::Utils::tempdir('out');
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '0000000100000FFF000000FF',
	"$tmpd/x");
is($code, 1, 'a segment not in the archive: exit status 1');
($code, $out, $err) = run_prog("$bindir/pg_steward_wal_restore", '-B', "$bdir/nowhere",
	'000000010000000000000001', "$tmpd/x");
is($code, 255, 'a missing archive directory stops recovery (exit status above 125)');
my $seg = (sort map { m{/([0-9A-F]{24})\.zst$} ? $1 : () } glob("$wal/*.zst"))[-1];
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, $seg, "$tmpd/seg");
is($code, 0, 'an archived segment is restored');
is(-s "$tmpd/seg", 16 * 1024 * 1024, 'with its full size');

# prefetching: the next segments are restored ahead into steward_prefetch/
# next to the destination, served from there, and never from another archive
my @run = map { switch_and_wait("prefetch $_") } 1 .. 3;
my $pd = "$tmpd/p";
mkdir $pd;
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-P', '2', $run[0],
	"$pd/RECOVERYXLOG");
is($code, 0, 'a segment restored with prefetching');
wait_for_file("$pd/steward_prefetch/$run[2]", 'the next two are prefetched meanwhile');
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-P', '0', $run[1], "$tmpd/direct1");
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-P', '0', $run[1],
	"$pd/RECOVERYXLOG");
is($code, 0, 'the next one is asked for');
ok(!-e "$pd/steward_prefetch/$run[1]", 'it was taken from the prefetch folder');
is(compare("$pd/RECOVERYXLOG", "$tmpd/direct1"), 0, 'with the archived content');
PostgreSQL::Test::Utils::append_to_file("$pd/steward_prefetch/source", '/elsewhere');
unlink("$pd/steward_prefetch/$run[2]");
PostgreSQL::Test::Utils::append_to_file("$pd/steward_prefetch/$run[2]", 'not WAL');
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-P', '0', $run[2],
	"$pd/RECOVERYXLOG");
is(-s "$pd/RECOVERYXLOG", 16 * 1024 * 1024,
	'a prefetch folder filled from another archive is not used');
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-P', '2', $run[2],
	"$pd/RECOVERYXLOG");
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '0000000100000FFF000000FF',
	"$pd/RECOVERYXLOG");
is($code, 1, 'the end of the archive');
ok(!-e "$pd/steward_prefetch", 'removes the prefetch folder');

# re-archiving a segment with the same content succeeds
my $last = sql('SELECT last_archived_wal FROM pg_stat_archiver');
my $failed0 = sql('SELECT failed_count FROM pg_stat_archiver');
my $status = $node->data_dir . '/pg_wal/archive_status';
SKIP:
{
	skip 'segment already recycled', 2 unless -f "$status/$last.done";
	rename("$status/$last.done", "$status/$last.ready") or die;
	switch_and_wait('re-archive');
	ok(-f "$status/$last.done", 'the same segment archived twice succeeds');
	is(sql('SELECT failed_count FROM pg_stat_archiver'), $failed0, 'without a failure');
}

# a different file under the same name is refused and kept
my $cur = sql('INSERT INTO filler SELECT 1; SELECT pg_walfile_name(pg_current_wal_lsn())');
ok(!-e "$wal/$cur.zst", "$cur is not archived yet");
copy("$wal/$last.zst", "$wal/$cur.zst") or die;
my $before = PostgreSQL::Test::Utils::slurp_file("$wal/$cur.zst");
my $logpos = -s $node->logfile;
sql('INSERT INTO filler SELECT 1; SELECT pg_switch_wal()');
wait_for($node, "SELECT failed_count > $failed0 AND last_failed_wal = '$cur' FROM pg_stat_archiver",
	't', 'a conflicting archived file makes archiving fail');
ok($node->log_contains('already exists with different content', $logpos),
	'loudly, in the server log');
is(sql('SELECT failing FROM steward.wal_archive_status'), 't', 'wal_archive_status shows it');
is(PostgreSQL::Test::Utils::slurp_file("$wal/$cur.zst"), $before,
	'the archived file is not overwritten');
ok($node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity WHERE backend_type = \'archiver\''),
	'the archiver is still running');
unlink("$wal/$cur.zst");
switch_and_wait('after removing the conflict');
is(sql('SELECT failing FROM steward.wal_archive_status'), 'f', 'archiving recovers');

# a read-only archive directory: failures, then recovery without a gap
chmod(0500, $wal) or die;
my $failed1 = sql('SELECT failed_count FROM pg_stat_archiver');
sql('INSERT INTO filler SELECT 1; SELECT pg_switch_wal()');
wait_for($node, "SELECT failed_count > $failed1 FROM pg_stat_archiver", 't',
	'a read-only archive directory makes archiving fail');
is(sql('SELECT failing AND segments_waiting > 0 FROM steward.wal_archive_status'), 't',
	'wal_archive_status: failing, segments waiting');
chmod(0700, $wal) or die;
switch_and_wait('after the directory is writable again');
wait_for($node, 'SELECT segments_waiting = 0 AND NOT failing FROM steward.wal_archive_status',
	't', 'every waiting segment archived');
my $checks = sql(qq(SELECT check_name || ':' || ok FROM steward.backup_verify($b1)
	WHERE check_name = 'wal_continuity'));
is($checks, 'wal_continuity:true', 'backup_verify: no segment lost');

# retention: a second backup, keep_last 1
my $b2 = sql(q(SELECT steward.backup_now('physical', 'second')));
switch_and_wait('after the second backup');
my $b2start = sql(qq(SELECT pg_walfile_name(start_lsn) FROM steward.backups WHERE backup_id = $b2));
PostgreSQL::Test::Utils::append_to_file("$wal/00000009.history.zst", 'history');
sql(q(SELECT steward.backup_schedule('physical', '0 0 1 1 *', keep_last => 1, verify => 'none')));
my $pruned = sql('SELECT kind || \':\' || coalesce(backup_id::text, reason) FROM steward.backup_prune() ORDER BY 1');
like($pruned, qr/physical:$b1/, 'prune expires the first backup');
like($pruned, qr/wal:\d+ archived WAL files before/, 'and deletes WAL below the second one');
my @left = sort map { m{/([0-9A-F]{24})\.zst$} ? $1 : () } glob("$wal/*.zst");
is($left[0], $b2start, 'the oldest segment kept is the second backup\'s start segment');
ok(-f "$wal/00000009.history.zst", 'timeline history files are kept');
is(sql(qq(SELECT ok FROM steward.backup_verify($b2) WHERE check_name = 'wal_continuity')), 't',
	'the retained backup still has all its WAL');

is(sql(qq(SELECT string_agg(check_name, ',' ORDER BY check_name) FILTER (WHERE NOT ok)
	FROM steward.backup_verify($b2, deep => true))), '',
	'the restore drill replays the archived WAL and passes');

# encryption
my $kdir = PostgreSQL::Test::Utils::tempdir('keys');
sub key_file
{
	my ($name, $hex, $mode) = @_;
	PostgreSQL::Test::Utils::append_to_file("$kdir/$name", "$hex\n");
	chmod($mode, "$kdir/$name") or die;
	return "$kdir/$name";
}
my $key = key_file('k1', 'ab' x 32, 0600);
my $other = key_file('k2', 'cd' x 32, 0600);
my $open = key_file('k3', 'ef' x 32, 0644);
my ($ret, $o, $e) = $node->psql('postgres',
	"ALTER SYSTEM SET steward.backup_encryption_key_file = '$open'");
like($e, qr/group or others/, 'a key file readable by others is refused');
sql("ALTER SYSTEM SET steward.backup_encryption_key_file = '$key'; SELECT pg_reload_conf()");
wait_for($node, 'SELECT encryption FROM steward.wal_archive_status', 't', 'encryption is on');
sql('INSERT INTO t VALUES (5)');
my $enc = switch_and_wait('encrypted');
open($fh, '<:raw', "$wal/$enc.zst") or die;
read($fh, $magic, 8);
close($fh);
is($magic, 'PGSTWE01', 'archived WAL is sealed');
($code) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-k', $key, $enc, "$tmpd/e");
is($code, 0, 'decrypted with the key');
is(-s "$tmpd/e", 16 * 1024 * 1024, 'to the whole segment');
($code, $out, $err) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, $enc, "$tmpd/e2");
is($code, 255, 'without a key: failure that stops recovery');
like($err, qr/no key is configured/, 'and says so');
($code, $out, $err) = run_prog("$bindir/pg_steward_wal_restore", '-B', $bdir, '-k', $other, $enc,
	"$tmpd/e3");
is($code, 255, 'a wrong key fails');
like($err, qr/key that is not configured/, 'naming the missing key by its id');
ok(!-e "$tmpd/e3", 'and writes nothing');
my $tamper = PostgreSQL::Test::Utils::tempdir('tamper');
mkdir("$tamper/wal") or die;
copy("$wal/$enc.zst", "$tamper/wal/$enc.zst") or die;
open($fh, '+<:raw', "$tamper/wal/$enc.zst") or die;
seek($fh, 100, 0);
read($fh, my $byte, 1);
seek($fh, 100, 0);
print $fh chr(ord($byte) ^ 1);
close($fh);
($code, $out, $err) = run_prog("$bindir/pg_steward_wal_restore", '-B', $tamper, '-k', $key, $enc,
	"$tmpd/e4");
is($code, 255, 'a modified file fails');
like($err, qr/authentication failed/, 'its authentication');

# key rotation: the old key reads what it sealed
sql("ALTER SYSTEM SET steward.backup_encryption_key_file = '$other';
   ALTER SYSTEM SET steward.backup_encryption_old_key_files = '$key'; SELECT pg_reload_conf()");
sql('INSERT INTO t VALUES (6)');
switch_and_wait('after rotation');
restore_and_check('pitr_encrypted', '1,2,3,4,5,6', '--key-file', $other, '--old-key-file', $key);

$node->stop;

# the archive module without shared_preload_libraries
my $bdir2 = PostgreSQL::Test::Utils::tempdir('backups2');
my $plain = steward_node('archive_only',
	preload => '',
	extension_in => [],
	init => { allows_streaming => 1 },
	settings => {
		'steward.backup_directory' => $bdir2,
		'archive_mode' => 'on',
		'archive_library' => 'pg_steward',
	});
my $pseg = $plain->safe_psql('postgres',
	'CREATE TABLE x AS SELECT 1; SELECT pg_walfile_name(pg_current_wal_lsn())');
$plain->safe_psql('postgres', 'SELECT pg_switch_wal()');
wait_for($plain, "SELECT last_archived_wal >= '$pseg' FROM pg_stat_archiver", 't',
	'archive_library = pg_steward works without the preload');
ok(-f "$bdir2/wal/$pseg.zst", 'into the backup directory');
$plain->stop;
done_testing();
