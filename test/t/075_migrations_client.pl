# pg_steward_migrate, the client program, against a running server over
# TCP with password authentication (scram-sha-256 on 127.0.0.1; the
# password from a .pgpass file, the connection from libpq environment
# variables, options or a connection string).  Both file styles (Flyway,
# golang-migrate), bad file names, migrate, --target, --dry-run, status,
# rollback, lint exit codes, and files whose quotes, backslashes, psql
# meta-commands and names arrive verbatim.
#
# What needs the server side of migrations (steward.migration_add(),
# migrate(), rollback(), migration_status) is skipped when the installed
# build does not have it; lint runs with the linter on main.
use strict;
use warnings;
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

# The port STEWARD_TEST_PORT + 60 when set (a run by hand stays in a range
# of its own; PostgreSQL::Test::Cluster picks from 10200-32767 otherwise).
my $node = steward_node('mclient',
	settings => { listen_addresses => '127.0.0.1' },
	($ENV{STEWARD_TEST_PORT} ? (port => $ENV{STEWARD_TEST_PORT} + 60) : ()),
	extension_in => [ 'postgres', 'app' ]);
my $port = $node->port;

# Local connections (the harness) trust; TCP wants a password.
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
$node->reload;
$node->safe_psql('postgres', q{
	SET password_encryption = 'scram-sha-256';
	CREATE ROLE migrator LOGIN SUPERUSER PASSWORD 'se''cret:pw';
	CREATE ROLE nobody LOGIN PASSWORD 'nobody';
});

my $base = PostgreSQL::Test::Utils::tempdir;
my $tmpdir = "$base/tmp";
make_path($tmpdir);
my $pgpass = "$base/pgpass";
open my $pp, '>', $pgpass or die $!;
# .pgpass: ':' and '\' in a password are escaped with '\'
print $pp "127.0.0.1:$port:*:migrator:se'cret\\:pw\n127.0.0.1:$port:*:nobody:nobody\n";
close $pp;
chmod 0600, $pgpass;

my $prog = $ENV{PG_STEWARD_MIGRATE} // 'pg_steward_migrate';

# client(@args, { stdin => ..., env => { ... } }): runs the client with
# the connection in libpq's environment; returns (exit code, stdout, stderr).
sub client
{
	my $opts = ref $_[-1] eq 'HASH' ? pop : {};
	my @args = @_;
	local $ENV{PGHOST} = '127.0.0.1';
	local $ENV{PGPORT} = $port;
	local $ENV{PGUSER} = 'migrator';
	local $ENV{PGDATABASE} = 'app';
	local $ENV{PGPASSFILE} = $pgpass;
	local $ENV{TMPDIR} = $tmpdir;
	local $ENV{PGCLIENTENCODING};
	delete $ENV{PGPASSWORD};
	my %env = %{ $opts->{env} // {} };
	local @ENV{ keys %env } = values %env;
	for my $k (keys %env) { delete $ENV{$k} unless defined $env{$k} }
	my ($in, $out, $err) = ($opts->{stdin} // '', '', '');
	IPC::Run::run([ $prog, @args ], '<', \$in, '>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	note("$prog @args: exit $rc\n$out$err");
	return ($rc, $out, $err);
}

sub sql { my ($q, $db) = @_; return $node->safe_psql($db // 'app', $q); }

# write_files($dir, { name => content, ... })
sub write_files
{
	my ($dir, $files) = @_;
	make_path($dir);
	for my $f (keys %$files)
	{
		open my $fh, '>', "$dir/$f" or die "$dir/$f: $!";
		binmode $fh;
		print $fh $files->{$f};
		close $fh;
	}
	return $dir;
}

# ---------------------------------------------------------------- basics
my ($rc, $out, $err) = client('--help');
is($rc, 0, '--help exits 0');
like($out, qr/^Usage:.*add DIR.*migrate \[--target V\] \[--dry-run\].*status.*rollback V.*lint FILE/ms,
	'--help shows the commands');
($rc, $out) = client('--version');
my $version = sql('SELECT steward.version()', 'postgres');
is($out, "pg_steward_migrate (pg_steward) $version\n", '--version names the extension version');
($rc, $out, $err) = client('frobnicate');
is($rc, 2, 'an unknown command exits 2');
like($err, qr/unknown command: frobnicate/, '... and says so');
($rc, $out, $err) = client();
is($rc, 2, 'no command exits 2');
($rc, $out, $err) = client('migrate', '--bogus');
is($rc, 2, 'an unknown option exits 2');

# ---------------------------------------------------------------- lint
# (the linter of the installed build; a clean file, a syntax error, and,
# when the build reports one, a finding of severity error)
my $lint = write_files("$base/lint", {
	'clean.sql' => "CREATE TABLE lint_new (id bigint PRIMARY KEY);\n",
	'broken.sql' => "CREATE TABLE (;\n",
});
($rc, $out, $err) = client('lint', "$lint/clean.sql");
is($rc, 0, 'lint of a clean file exits 0');
like($out, qr/1 file linted, 0 finding\(s\), 0 of severity error/, '... and counts');
($rc, $out, $err) = client('lint', "$lint/clean.sql", "$lint/broken.sql");
is($rc, 2, 'lint of a file with a syntax error exits 2');
like($err, qr/\Q$lint\E\/broken\.sql: ERROR: +syntax error/, '... naming the file');
($rc, $out, $err) = client('lint', "$lint/nonexistent.sql");
is($rc, 2, 'lint of a missing file exits 2');
($rc, $out, $err) = client('lint', '-', { stdin => "SELECT 1;\n" });
is($rc, 0, 'lint - reads standard input');
like($out, qr/1 file linted/, '... one file');

sql('CREATE TABLE lint_big (id int, a text, b int); INSERT INTO lint_big SELECT g, g::text, g FROM generate_series(1, 1000) g; ANALYZE lint_big');
my $error_sql;
for my $cand ('DROP TABLE lint_big;', 'ALTER TABLE lint_big ALTER COLUMN b TYPE bigint;',
	'ALTER TABLE lint_big ADD COLUMN c int NOT NULL;', 'CREATE INDEX ON lint_big (a);',
	'ALTER TABLE lint_big ADD COLUMN d timestamptz DEFAULT clock_timestamp();',
	'ALTER TABLE lint_big ADD CONSTRAINT u UNIQUE (a);', 'ALTER TABLE lint_big RENAME COLUMN a TO z;')
{
	(my $q = $cand) =~ s/'/''/g;
	if (sql("SELECT count(*) FROM steward.migration_lint('$q') WHERE severity = 'error'") > 0)
	{
		$error_sql = $cand;
		last;
	}
}
SKIP:
{
	skip 'the installed linter reports no finding of severity error for any candidate', 3
	  unless defined $error_sql;
	write_files($lint, { 'bad.sql' => "$error_sql\n" });
	($rc, $out, $err) = client('lint', "$lint/clean.sql", "$lint/bad.sql");
	is($rc, 1, "lint with a finding of severity error exits 1 ($error_sql)");
	like($out, qr/^ *\Q$lint\E\/bad\.sql *\| *[a-z-]+ *\| error/m, '... and prints it in a table');
	like($out, qr/2 files linted, \d+ finding\(s\), [1-9]\d* of severity error/, '... and counts it');
}

# ---------------------------------------------------------------- connections
($rc, $out, $err) = client('lint', '-', { stdin => "SELECT 1;\n", env => { PGPASSFILE => "$base/none" } });
is($rc, 2, 'no password: exits 2');
like($err, qr/password/, '... and says why');
($rc, $out, $err) = client('lint', '-', { stdin => "SELECT 1;\n", env => { PGPASSFILE => "$base/none", PGPASSWORD => "se'cret:pw" } });
is($rc, 0, 'PGPASSWORD works');
($rc, $out, $err) = client('-h', '127.0.0.1', '-p', $port, '-U', 'migrator', '-d', 'app', 'lint', '-',
	{ stdin => "SELECT 1;\n", env => { PGHOST => undef, PGPORT => undef, PGUSER => undef, PGDATABASE => undef } });
is($rc, 0, '-h -p -U -d with .pgpass');
($rc, $out, $err) = client("host=127.0.0.1 port=$port user=migrator dbname=app", 'lint', '-',
	{ stdin => "SELECT 1;\n", env => { PGHOST => undef, PGPORT => undef, PGUSER => undef, PGDATABASE => undef } });
is($rc, 0, 'a connection string before the command');
($rc, $out, $err) = client("postgresql://migrator\@127.0.0.1:$port/nosuchdb", 'lint', '-', { stdin => "SELECT 1;\n" });
is($rc, 2, 'a URI naming a database that does not exist: exits 2');
like($err, qr/database "nosuchdb" does not exist/, '... with the server\'s message');

# ---------------------------------------------------------------- bad names
my $badd = write_files("$base/bad", {
	'V1__ok.sql' => "SELECT 1;\n",
	'1_dup.up.sql' => "SELECT 1;\n",
	'Vx__letters.sql' => "SELECT 1;\n",
	'V2__.sql' => "SELECT 1;\n",
	'R__repeatable.sql' => "SELECT 1;\n",
	'init.sql' => "SELECT 1;\n",
	'3_orphan.down.sql' => "SELECT 1;\n",
	'4_a.up.sql' => "SELECT 1;\n",
	'4_b.down.sql' => "SELECT 1;\n",
	'7.up.sql' => "SELECT 1;\n",
	'README.md' => "not a migration\n",
});
($rc, $out, $err) = client('add', $badd);
is($rc, 2, 'add of a folder with bad file names exits 2');
for my $re (qr/1_dup\.up\.sql, V1__ok\.sql: several up files for version 1/,
	qr/Vx__letters\.sql: bad version 'x'/, qr/V2__\.sql: no name/,
	qr/R__repeatable\.sql: repeatable migrations/, qr/init\.sql: not a migration file name/,
	qr/3_orphan\.down\.sql: no up file for version 3/,
	qr/4_b\.down\.sql: its name differs from that of 4_a\.up\.sql/, qr/7\.up\.sql: expected/,
	qr/8 problem\(s\) with the file names in .*; nothing was added/)
{
	like($err, $re, "reported: $re");
}
unlike($err, qr/README/, 'files not ending in .sql are ignored');

# ---------------------------------------------------------------- the server side
my $have = sql("SELECT to_regprocedure('steward.migration_add(text,text,text,text,text[])') IS NOT NULL
                   AND to_regprocedure('steward.migrate(text,boolean)') IS NOT NULL
                   AND to_regprocedure('steward.rollback(text)') IS NOT NULL
                   AND to_regclass('steward.migration_status') IS NOT NULL") eq 't';
SKIP:
{
	skip 'the installed build has no steward.migration_add(), migrate(), rollback() or migration_status', 1
	  unless $have;
	# What psql would take for meta-commands, variables and backticks, in
	# comments and literals of valid SQL, and a \ at the end of the file
	# with no newline after it.
	my $tricky = "-- a comment ending in a backslash \\\n"
	  . "\\! touch $base/PWNED\n"
	  . "CREATE TABLE quotes (t text DEFAULT 'it''s a \\ backslash', u text DEFAULT E'\\\\! x');\n"
	  . "/* `touch $base/PWNED2` :'x' :x :\"x\" \\q */\n"
	  . "COMMENT ON TABLE quotes IS \$\$\n\\! touch $base/PWNED3\n\\q\n'); DROP TABLE quotes; --\n\$\$;\n"
	  . "COMMENT ON COLUMN quotes.t IS \$q\$\x{00e9}\\\$q\$; -- \\";
	utf8::encode($tricky);
	# The line "\! touch" at the top is not SQL: it is in the file to show
	# it reaches the server (which rejects it); the migration that applies
	# starts after it.
	(my $applied = $tricky) =~ s/^\\! touch [^\n]*\n//m;
	my $dir = write_files("$base/app", {
		'V1__create_a.sql' => "CREATE TABLE a (id bigint PRIMARY KEY);\n",
		'U1__create_a.sql' => "DROP TABLE a;\n",
		'V1_1__add_b.sql' => "ALTER TABLE a ADD COLUMN b text;\n",
		'U1_1__add_b.sql' => "ALTER TABLE a DROP COLUMN b;\n",
		'2_golang_c.up.sql' => "CREATE TABLE c (id bigint PRIMARY KEY);\n",
		'2_golang_c.down.sql' => "DROP TABLE c;\n",
		'10_quotes.up.sql' => $applied,
		'10_quotes.down.sql' => "DROP TABLE quotes;\n",
		"11_it's a \"name\" \$(touch x) `y` \\z.up.sql" => "CREATE TABLE odd ();\n",
		"11_it's a \"name\" \$(touch x) `y` \\z.down.sql" => "DROP TABLE odd;\n",
		'notes.txt' => "ignored\n",
	});

	my $broken = write_files("$base/broken", { 'V1__meta.sql' => $tricky });
	($rc, $out, $err) = client('add', $broken);
	is($rc, 2, 'add of a file that is not SQL (a \\! line) exits 2');
	like($err, qr/V1__meta\.sql: ERROR:/, '... naming the file');
	is(sql('SELECT count(*) FROM steward.migration'), '0', '... and adds nothing');

	($rc, $out, $err) = client('add', $dir);
	is($rc, 0, 'add of both file styles exits 0') or diag($err);
	like($out, qr/5 migrations sent/, '... five migrations sent');
	is(sql("SELECT string_agg(version || ':' || name || ':' || (down_sql IS NOT NULL), ' '
	         ORDER BY steward.migration_version_key(version)) FROM steward.migration"),
		"1:create_a:true 1.1:add_b:true 2:golang_c:true 10:quotes:true 11:it's a \"name\" \$(touch x) `y` \\z:true",
		'... registered with their names and downs (Flyway 1_1 reads 1.1)');
	my $got = sql("SELECT encode(convert_to(up_sql, 'UTF8'), 'hex') FROM steward.migration WHERE version = '10'");
	is($got, unpack('H*', $applied), 'the file with quotes, backslashes and meta-commands arrives byte for byte');
	ok(!-e "$base/PWNED" && !-e "$base/PWNED2" && !-e "$base/PWNED3", 'nothing in the files ran on the client');

	($rc, $out, $err) = client('add', $dir);
	is($rc, 0, 'adding the same folder again exits 0');

	($rc, $out, $err) = client('migrate', '--dry-run');
	is($rc, 0, 'migrate --dry-run exits 0');
	like($out, qr/^ *version *\| *name *\| *action *\| *duration *\| *notes/m, '... prints a table');
	is(sql("SELECT to_regclass('a') IS NULL AND to_regclass('quotes') IS NULL"), 't', '... and changes nothing');

	($rc, $out, $err) = client('migrate', '--target', '1.1');
	is($rc, 0, 'migrate --target 1.1 exits 0');
	is(sql("SELECT (to_regclass('a') IS NOT NULL) || ' ' || (to_regclass('c') IS NULL)"), 'true true',
		'... and applies up to 1.1 only');

	($rc, $out, $err) = client('migrate');
	is($rc, 0, 'migrate exits 0') or diag($err);
	like($out, qr/^ *10 *\| *quotes *\|/m, '... lists what it applied');
	is(sql("SELECT obj_description('quotes'::regclass, 'pg_class')"),
		"\n\\! touch $base/PWNED3\n\\q\n'); DROP TABLE quotes; --\n",
		'... the migration with meta-commands in a dollar quote ran as written');
	is(sql("SELECT col_description('quotes'::regclass, 1) = U&'\\00e9\\005c'"), 't', '... in UTF-8');
	is(sql("SELECT count(*) FROM pg_class WHERE relname IN ('a', 'c', 'quotes', 'odd') AND relkind = 'r'"),
		'4', '... all tables exist');

	($rc, $out, $err) = client('status');
	is($rc, 0, 'status exits 0');
	like($out, qr/^ *version *\| *name *\| *state *\| *applied_at *\| *duration/m, '... prints a table');
	like($out, qr/^ *1 *\| *create_a *\| *applied.*\n *1\.1 *\| *add_b *\| *applied.*\n *2 *\| *golang_c *\| *applied.*\n *10 *\| *quotes *\| *applied/m,
		'... in natural order, all applied');
	like($out, qr/\(5 rows\)/, '... five rows');

	($rc, $out, $err) = client('rollback', '1.1');
	is($rc, 0, 'rollback 1.1 exits 0') or diag($err);
	is(sql("SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relname IN ('a', 'c', 'quotes', 'odd') AND relkind = 'r'"),
		'a', '... only the table of version 1 is left');
	is(sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'a'::regclass AND attname = 'b'"), '1',
		'... with the column of 1.1');
	($rc, $out, $err) = client('status');
	like($out, qr/^ *2 *\| *golang_c *\| *pending/m, 'status shows rolled back versions as pending');

	# an applied migration changed on disk: refused, naming the version
	write_files($dir, { 'V1__create_a.sql' => "CREATE TABLE a (id int PRIMARY KEY);\n" });
	($rc, $out, $err) = client('add', $dir);
	is($rc, 2, 'add of a changed applied migration exits 2');
	like($err, qr/V1__create_a\.sql: ERROR: .*\b1\b/, '... naming the file and the version');
	write_files($dir, { 'V1__create_a.sql' => "CREATE TABLE a (id bigint PRIMARY KEY);\n" });

	# a migration that fails
	write_files($dir, { '12_fails.up.sql' => "CREATE TABLE fine ();\nSELECT 1 / 0;\n" });
	($rc, $out, $err) = client('add', $dir);
	is($rc, 0, 'add of a migration that will fail exits 0');
	($rc, $out, $err) = client('migrate');
	is($rc, 2, 'migrate that fails exits 2');
	like($err, qr/division by zero/, '... with the server\'s error');
	is(sql("SELECT to_regclass('c') IS NULL AND to_regclass('fine') IS NULL"), 't',
		'... and leaves nothing half-applied');

	# a non-transactional migration: queued for the worker; --wait waits
	# for it, then applies what follows it
	# (and the failed one, fixed: a version not applied may change)
	write_files($dir, {
		'12_fails.up.sql' => "CREATE TABLE fine ();\n",
		'V13__concurrent_index.sql' => "CREATE INDEX CONCURRENTLY a_id_b ON a (id, b);\n",
		'V14__after.sql' => "CREATE TABLE after_cic ();\n",
	});
	($rc, $out, $err) = client('add', $dir);
	is($rc, 0, 'add of a CREATE INDEX CONCURRENTLY migration exits 0');
	($rc, $out, $err) = client('migrate', '--wait');
	is($rc, 0, 'migrate --wait exits 0') or diag($err);
	like($out, qr/^ *13 *\| *concurrent_index *\| *queued/m, '... the concurrent index was queued');
	like($out, qr/waiting for the worker to apply 13/, '... it waited for it');
	is(sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_id_b'::regclass"), 't', '... the index is valid');
	is(sql("SELECT to_regclass('after_cic') IS NOT NULL AND to_regclass('fine') IS NOT NULL"), 't',
		'... and the next version was applied after it');

	# rights: a role without them gets the server's refusal, exit 2
	($rc, $out, $err) = client('add', $dir, { env => { PGUSER => 'nobody' } });
	is($rc, 2, 'add as a role without rights exits 2');
	like($err, qr/permission denied/, '... permission denied');
}

# no temporary files are left behind
opendir my $dh, $tmpdir or die $!;
is(join(' ', grep { !/^\.\.?$/ } readdir $dh), '', 'the client leaves no temporary files');
closedir $dh;

$node->stop;
done_testing();
