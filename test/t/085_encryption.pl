# Encryption at rest of backups (issue 14): with
# steward.backup_encryption_key_file, logical and physical backups are
# sealed with AES-256-GCM before their folder is renamed; restore_logical(),
# the drills and pg_steward_restore decrypt; no plaintext is left in the
# backup folder; a missing or wrong key and a modified file fail and restore
# nothing; after a key rotation old backups stay readable with the old key
# listed.  Also: leftover temporary files of the archive are removed.
use strict;
use warnings;

use File::Find;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StewardTest;
use Test::More;

my $bdir = PostgreSQL::Test::Utils::tempdir('backups');
my $kdir = PostgreSQL::Test::Utils::tempdir('keys');

sub key_file
{
	my ($name, $hex) = @_;
	PostgreSQL::Test::Utils::append_to_file("$kdir/$name", "$hex\n");
	chmod(0600, "$kdir/$name") or die;
	return "$kdir/$name";
}
my $k1 = key_file('k1', '1f' x 32);
my $k2 = key_file('k2', '2e' x 32);

my $node = steward_node('crypt',
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

# every file under a folder: [path, contents]
sub files_of
{
	my ($dir) = @_;
	my @f;
	find({ no_chdir => 1, wanted => sub { push @f, $_ if -f $_ } }, $dir);
	return map { [ $_, PostgreSQL::Test::Utils::slurp_file($_) ] } sort @f;
}

sub with_marker
{
	my ($dir) = @_;
	return map { $_->[0] } grep { index($_->[1], 'XYZZY') >= 0 } files_of($dir);
}

# Start a physical backup that pauses before its manifest check; returns
# its id, the pause file (remove it to go on) and its data folder.
sub paused_backup
{
	my ($label, $name) = @_;
	my $pause = PostgreSQL::Test::Utils::tempdir($label) . '/hold';
	reload_settings($node, { 'steward.debug_backup_pause_file' => $pause }, passes => 0);
	PostgreSQL::Test::Utils::append_to_file($pause, '');
	my $id = sql("SELECT steward.backup_now('physical', '$label', wait => false)");
	wait_for($node, "SELECT count(*) FROM pg_stat_activity WHERE query = 'pg_steward backup: paused before the manifest check'",
		'1', $name);
	return ($id, $pause, "$bdir/$id.partial/data");
}

# The smallest file of a backup's data folder (not pg_wal/, not the
# manifest) that is sealed already, or not yet; undef if none.
sub smallest_file
{
	my ($data, $sealed) = @_;
	my ($f) = map { $_->[0] }
	  sort { length($a->[1]) <=> length($b->[1]) || $a->[0] cmp $b->[0] }
	  grep { $_->[0] !~ m{/data/(pg_wal/|backup_manifest)} && (substr($_->[1], 0, 8) eq 'PGSTWE01') == $sealed }
	  files_of($data);
	return $f;
}

sub set_keys
{
	my ($current, $old) = @_;
	sql("ALTER SYSTEM SET steward.backup_encryption_key_file = '$current';
	     ALTER SYSTEM SET steward.backup_encryption_old_key_files = '$old';
	     SELECT pg_reload_conf()");
	wait_for($node, 'SELECT current_setting(\'steward.backup_encryption_key_file\')',
		$current, "key file set to '$current'");
	return;
}

my $MD5 = q(SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM secret s);

# the marker is in the catalog (role, comment: uncompressed in a dump) and
# in the rows (uncompressed in the data files of a physical backup)
sql(q(CREATE ROLE xyzzy_role;
	CREATE TABLE secret (id int PRIMARY KEY, note text);
	COMMENT ON TABLE secret IS 'the XYZZY table';
	INSERT INTO secret SELECT g, 'XYZZY row ' || g FROM generate_series(1, 3000) g;
	CHECKPOINT));
my $md5 = sql($MD5);

# a plaintext backup, to show the marker check finds what it looks for
my $b0 = sql(q(SELECT steward.backup_now('logical', 'plain')));
ok(scalar(with_marker("$bdir/$b0")) > 0, 'a plaintext logical backup holds the marker');

set_keys($k1, '');
my $b1 = sql(q(SELECT steward.backup_now('logical', 'sealed')));
my $b2 = sql(q(SELECT steward.backup_now('physical', 'sealed')));
for my $b ($b1, $b2)
{
	my $meta = PostgreSQL::Test::Utils::slurp_file("$bdir/$b/backup.json");
	like($meta, qr/"encryption": "AES-256-GCM"/, "$b: backup.json records the encryption");
	like($meta, qr/"encryption_key_id": "[0-9a-f]{16}"/, "$b: and the key id");
	is(join(', ', with_marker("$bdir/$b")), '', "$b: no file of the backup holds plaintext");
	my @unsealed = map { $_->[0] }
	  grep { $_->[0] !~ m{/(backup\.json|log/[^/]+)$} && substr($_->[1], 0, 8) ne 'PGSTWE01' }
	  files_of("$bdir/$b");
	is(join(', ', @unsealed), '', "$b: every data file is sealed");
	ok(!grep({ $_->[0] =~ /\.steward-seal$/ } files_of($bdir)), "$b: no temporary file left");
	is(sql(qq(SELECT string_agg(check_name || ': ' || detail, '; ') FILTER (WHERE NOT ok)
		FROM steward.backup_verify($b))), '', "$b: verify passes (checksums of the sealed files)");
	is(sql(qq(SELECT string_agg(check_name || ': ' || detail, '; ') FILTER (WHERE NOT ok)
		FROM steward.backup_verify($b, deep => true))), '', "$b: the deep verify decrypts and drills");
	like(sql(qq(SELECT string_agg(check_name, ',') FROM steward.backup_verify($b, deep => true))),
		qr/decrypt/, "$b: the drill reports the decryption");
}
my $k1id = sql(qq(SELECT (pg_read_file('$bdir/$b1/backup.json')::jsonb) ->> 'encryption_key_id'));

# physical: each file is sealed in the same read that checks it against the
# manifest, as pg_basebackup closes it (Linux); a sealed file that changes
# before the end fails the backup
like(PostgreSQL::Test::Utils::slurp_file("$bdir/$b2/backup.json"),
	qr/"manifest_verified": \{[^}]*"checked_while_copying": [1-9]/,
	'the physical backup was checked (and sealed) while it was copied')
  if $^O eq 'linux';
{
	my ($id, $pause, $data) = paused_backup('tampered', 'an encrypted backup waits before its manifest check');
	# the smallest file sealed by now (sealing is over for it), or pg_control
	my $f = smallest_file($data, 1);
	ok(defined $f, 'its files are sealed while pg_basebackup copies') if $^O eq 'linux';
	$f //= "$data/global/pg_control";
	(my $frel = $f) =~ s{^\Q$data/\E}{};
	if ($^O eq 'linux')
	{
		# by the checksum processes, at steward.backup_nice (19 by default)
		my $wpid = sql("SELECT pid FROM pg_stat_activity WHERE query = 'pg_steward backup: paused before the manifest check'");
		my @nices = map {
			my $st = PostgreSQL::Test::Utils::slurp_file("/proc/$_/stat");
			$st =~ s/^.*\)\s+//s;
			(split(' ', $st))[16];
		} split(' ', PostgreSQL::Test::Utils::slurp_file("/proc/$wpid/task/$wpid/children"));
		ok(@nices > 0 && !grep({ $_ != 19 } @nices),
			'the files of an encrypted backup are sealed by its checksum processes at a low priority');
	}
	PostgreSQL::Test::Utils::append_to_file($f, 'x');
	unlink($pause) or die "unlink $pause: $!";
	wait_for($node, "SELECT status FROM steward.backups WHERE backup_id = $id", 'failed',
		'a sealed file changed before the end fails the backup');
	like(sql("SELECT message FROM steward.backups WHERE backup_id = $id"),
		qr/"\Q$frel\E" (changed after it was encrypted|has \d+ bytes)/, 'naming the file');
	ok(!-e "$bdir/$id.partial", 'and removes the folder');
	reload_settings($node, { 'steward.debug_backup_pause_file' => undef }, passes => 0);
}
# A file that cannot be sealed (here: not writable) fails the backup.
if ($^O eq 'linux')
{
	my ($id, $pause, $data) = paused_backup('unsealable', 'another encrypted backup waits before its manifest check');
	# the smallest file not sealed yet waits for the sealing after the pause
	my $f = smallest_file($data, 0);
	SKIP:
	{
		skip 'every file was sealed before the pause', 2 unless defined $f;
		chmod(0400, $f) or die "chmod $f: $!";
		(my $frel = $f) =~ s{^\Q$data/\E}{};
		unlink($pause) or die "unlink $pause: $!";
		wait_for($node, "SELECT status FROM steward.backups WHERE backup_id = $id", 'failed',
			'a file that cannot be sealed fails the backup');
		like(sql("SELECT message FROM steward.backups WHERE backup_id = $id"),
			qr/could not encrypt the backup.*\Q$frel\E.*Permission denied/s, 'naming the file and the error');
	}
	unlink($pause);
	wait_for($node, "SELECT count(*) FROM steward.backups WHERE backup_id = $id AND status <> 'running'", '1',
		'the unsealable backup has ended');
	reload_settings($node, { 'steward.debug_backup_pause_file' => undef }, passes => 0);
}
ok(!-e "$bdir/drill-$b1" && !-e "$bdir/drill-$b2", 'the drills removed their plaintext copies');

# logical round trip
sql("SELECT steward.restore_logical($b1, 'copy1')");
is($node->safe_psql('copy1', $MD5), $md5, 'restore_logical of an encrypted backup: same rows');
ok(!-e "$bdir/drill-$b1", 'its decrypted copy is removed');

# physical round trip: pg_steward_restore needs the key
my $r = PostgreSQL::Test::Cluster->new('restored');
my ($code, $out, $err) = run_prog("$bindir/pg_steward_restore", '-B', $bdir, '-b', $b2,
	'-D', $r->data_dir);
isnt($code, 0, 'pg_steward_restore without a key fails');
like($err, qr/encrypted .*no key file was given/, 'saying the backup is encrypted');
ok(!-e $r->data_dir, 'and restores nothing');
($code, $out, $err) = run_prog("$bindir/pg_steward_restore", '-B', $bdir, '-b', $b2,
	'-D', $r->data_dir, '-k', $k2);
isnt($code, 0, 'with a wrong key it fails');
like($err, qr/no key file given holds that key/, 'naming the key');
ok(!-e $r->data_dir, 'and restores nothing');
($code, $out, $err) = run_prog("$bindir/pg_steward_restore", '-B', $bdir, '-b', $b2,
	'-D', $r->data_dir, '-k', $k1);
is($code, 0, 'with its key it restores') or diag($err);
is(join(', ', map { $_->[0] } grep { substr($_->[1], 0, 8) eq 'PGSTWE01' } files_of($r->data_dir)),
	'', 'into plaintext files');
$r->append_conf('postgresql.conf',
	"port = " . $r->port . "\nunix_socket_directories = '" . $r->host . "'\n");
$r->start;
$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the restored cluster did not finish recovery';
is($r->safe_psql('postgres', $MD5), $md5, 'the restored cluster has the same rows');
$r->stop;

# rotation: a new key for new backups; old ones need the old key listed
set_keys($k2, '');
($code, $out, $err) = $node->psql('postgres', "SELECT steward.restore_logical($b1, 'copy2')");
like($err, qr/encrypted with a key that is not configured/, 'without the old key: a clear error');
is(sql(q(SELECT count(*) FROM pg_database WHERE datname = 'copy2')), '0', 'and no database');
like(sql(qq(SELECT detail FROM steward.backup_verify($b1) WHERE check_name = 'encryption')),
	qr/not configured/, 'verify says the key is missing');
set_keys($k2, $k1);
sql("SELECT steward.restore_logical($b1, 'copy3')");
is($node->safe_psql('copy3', $MD5), $md5, 'with the old key listed the old backup restores');
my $b3 = sql(q(SELECT steward.backup_now('logical', 'rotated')));
my $k2id = sql(qq(SELECT (pg_read_file('$bdir/$b3/backup.json')::jsonb) ->> 'encryption_key_id'));
isnt($k2id, $k1id, 'a new backup uses the new key');
sql("SELECT steward.restore_logical($b3, 'copy4')");
is($node->safe_psql('copy4', $MD5), $md5, 'and restores');

# a modified file: verify, restore_logical and pg_steward_restore fail
sub flip_byte
{
	my ($path, $at) = @_;
	open(my $fh, '+<:raw', $path) or die "$path: $!";
	seek($fh, $at, 0);
	read($fh, my $byte, 1);
	seek($fh, $at, 0);
	print $fh chr(ord($byte) ^ 1);
	close($fh);
	return;
}
flip_byte("$bdir/$b1/dump/toc.dat", 40);
is(sql(qq(SELECT ok FROM steward.backup_verify($b1) WHERE check_name = 'checksums')), 'f',
	'verify finds the modified file');
($code, $out, $err) = $node->psql('postgres', "SELECT steward.restore_logical($b1, 'copy5')");
like($err, qr/modified or damaged/, 'restore_logical of a modified backup fails clearly');
is(sql(q(SELECT count(*) FROM pg_database WHERE datname = 'copy5')), '0', 'and creates nothing');
ok(!-e "$bdir/drill-$b1", 'nor leaves plaintext');
flip_byte("$bdir/$b2/data/global/pg_control", 100);
my $r2 = PostgreSQL::Test::Cluster->new('restored2');
($code, $out, $err) = run_prog("$bindir/pg_steward_restore", '-B', $bdir, '-b', $b2,
	'-D', $r2->data_dir, '-k', $k1);
isnt($code, 0, 'pg_steward_restore of a modified backup fails');
like($err, qr/modified or damaged/, 'saying so');
ok(!-e $r2->data_dir, 'and leaves nothing');

# a temporary file left in wal/ by an archiver that died is removed when
# the next archiver starts archiving
my $dead = open(my $child, '-|', 'true') or die;
close($child);    # reaped: its pid is no live process
my $left = "$bdir/wal/.000000010000000000000099.tmp.$dead";
PostgreSQL::Test::Utils::append_to_file($left, 'partial');
$node->restart;
my $seg = sql(q(INSERT INTO secret VALUES (0, 'x'); SELECT pg_walfile_name(pg_current_wal_lsn())));
sql('SELECT pg_switch_wal()');
wait_for($node, "SELECT last_archived_wal >= '$seg' FROM pg_stat_archiver", 't',
	'archiving goes on after a restart');
ok(!-e $left, 'the leftover temporary file of a dead archiver is removed');

$node->stop;
done_testing();
