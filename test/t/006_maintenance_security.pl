# Maintenance of users' tables runs as each table's owner, on the right
# tables, and one role's broken table or foreign set cannot hurt the others.
# Roles: eve and bob are ordinary roles with CREATE on schemas; the
# built-in jobs belong to the superuser who created the extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardTest;

my $node = steward_node('maint_security');
my $db = 'postgres';
sub sql { return $node->safe_psql($db, $_[0]); }
sub as { my ($role, $q) = @_; return $node->safe_psql($db, "SET ROLE $role;\n$q"); }

sub as_err
{
	my ($role, $q) = @_;
	my ($ret, $out, $err) = $node->psql($db, "SET ROLE $role;\n$q");
	return $err;
}

sub is_super { return sql("SELECT rolsuper FROM pg_roles WHERE rolname = '$_[0]'"); }

create_roles($node, [qw(eve bob)], create_on => 'public');
sql(q{
	CREATE SCHEMA eve_s AUTHORIZATION eve;
	-- built-in jobs run only when asked
	SELECT steward.alter_job('row_retention', enabled => false);
	SELECT steward.alter_job('partition_maintenance', enabled => false);
});

# eve's trap: a function that makes eve superuser when run by a superuser,
# and records who ran it.
as('eve', q{
	CREATE TABLE public.eve_seen (who text, what text);
	CREATE FUNCTION public.eve_trap() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.eve_seen VALUES (current_user, TG_TABLE_NAME || ' ' || TG_OP);
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			ALTER ROLE eve SUPERUSER;
		END IF;
		RETURN COALESCE(OLD, NEW);
	END $$;
});

# --- 1. row retention runs eve's trigger as eve, never as the superuser ---
as('eve', q{
	CREATE TABLE public.eve_log (ts timestamptz, x int);
	INSERT INTO public.eve_log VALUES (now() - interval '3 days', 1), (now(), 2);
	CREATE TRIGGER trap BEFORE DELETE ON public.eve_log
		FOR EACH ROW EXECUTE FUNCTION public.eve_trap();
	SELECT steward.retention_add('public.eve_log', 'ts', '1 day');
});
sql("SELECT steward.run_job('row_retention')");
is(sql("SELECT last_status FROM steward.jobs WHERE name = 'row_retention'"), 'succeeded',
	'row_retention ran');
is(is_super('eve'), 'f', 'eve is not superuser after the row_retention job');
is(sql("SELECT count(*) FROM public.eve_log"), '1', 'the expired row was deleted');
is(sql("SELECT string_agg(DISTINCT who, ',') FROM public.eve_seen WHERE what = 'eve_log DELETE'"),
	'eve', "eve's trigger ran as eve");

as('eve', "INSERT INTO public.eve_log VALUES (now() - interval '3 days', 3)");
is(sql("SELECT steward.retention_run('public.eve_log')"), '1',
	'retention_run() by a superuser deletes the expired row');
is(is_super('eve'), 'f', 'eve is not superuser after a superuser ran retention_run()');
like(as_err('bob', "SELECT steward.retention_run('public.eve_log')"),
	qr/must be owner of table eve_log/, 'bob cannot run the retention of eve\'s table');

# --- 2. partition maintenance does the work as the set's owner ---
# A row of a future period in the default partition is moved out by
# maintenance (DELETE on the default partition fires the cloned trigger;
# the CHECK constraint copied by LIKE runs eve's function on the new rows).
as('eve', q{
	CREATE FUNCTION public.eve_check(int) RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.eve_seen VALUES (current_user, 'check');
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			ALTER ROLE eve SUPERUSER;
		END IF;
		RETURN true;
	END $$;
	CREATE TABLE public.eve_p (ts timestamptz NOT NULL, x int CHECK (public.eve_check(x)))
		PARTITION BY RANGE (ts);
	CREATE TRIGGER trap BEFORE DELETE ON public.eve_p
		FOR EACH ROW EXECUTE FUNCTION public.eve_trap();
	SELECT steward.partition_table('public.eve_p', 'ts', '1 day', premake => 1);
	INSERT INTO public.eve_p VALUES (now() + interval '3 days', 1);
	SELECT steward.partition_alter('public.eve_p', premake => 5);
});
is(sql("SELECT count(*) FROM ONLY public.eve_p_default"), '1', 'a row waits in the default partition');
sql("TRUNCATE public.eve_seen");
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT last_status FROM steward.jobs WHERE name = 'partition_maintenance'"), 'succeeded',
	'partition_maintenance ran');
is(sql("SELECT count(*) FROM ONLY public.eve_p_default"), '0',
	'the row was moved out of the default partition');
is(is_super('eve'), 'f', 'eve is not superuser after the partition_maintenance job');
is(sql("SELECT string_agg(DISTINCT who, ',') FROM public.eve_seen"), 'eve',
	"eve's trigger and CHECK function ran as eve");
ok(sql("SELECT count(*) FROM public.eve_seen WHERE what = 'eve_p_default DELETE'") > 0,
	'the trigger did fire during the move');

as('eve', q{
	INSERT INTO public.eve_p VALUES (now() + interval '8 days', 2);
	SELECT steward.partition_alter('public.eve_p', premake => 10);
});
sql("TRUNCATE public.eve_seen");
is(sql("SELECT status FROM steward.partition_maintain('public.eve_p')"), 'ok',
	'partition_maintain() by a superuser');
is(is_super('eve'), 'f', 'eve is not superuser after a superuser ran partition_maintain()');
is(sql("SELECT string_agg(DISTINCT who, ',') FROM public.eve_seen"), 'eve',
	'and her code ran as eve');
is(sql("SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class c
         JOIN pg_inherits i ON i.inhrelid = c.oid WHERE i.inhparent = 'public.eve_p'::regclass"),
	'eve', "every partition of eve's set is eve's");

# The owner creates the partitions, so the owner needs CREATE on the schema.
sql(q{
	CREATE SCHEMA locked;
	CREATE TABLE locked.t (ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
	ALTER TABLE locked.t OWNER TO bob;
	GRANT USAGE ON SCHEMA locked TO bob;
});
like(as_err('postgres', "SELECT steward.partition_table('locked.t', 'ts', '1 day')"),
	qr/owner bob of table "t" may not create partitions in schema "locked".*HINT:  GRANT CREATE ON SCHEMA locked TO bob;/s,
	'a superuser cannot create partitions where the owner may not');

# Describing a table runs its partition key expression: as the owner.
as('eve', q{
	CREATE FUNCTION public.eve_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN
		INSERT INTO public.eve_seen VALUES (current_user, 'key');
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			ALTER ROLE eve SUPERUSER;
		END IF;
		RETURN $1;
	END $$;
	CREATE TABLE public.eve_k (x int) PARTITION BY RANGE ((public.eve_key(x)));
});
like(as_err('postgres', "SELECT steward.partition_table('public.eve_k', 'x', '10')"),
	qr/partitioned on an expression/, 'a set on a key expression is refused');
is(is_super('eve'), 'f', 'and describing it did not run the key expression as superuser');

# A parent given to another role: partitions still owned by eve (with her
# triggers) are not maintained with the new owner's rights.
as('eve', q{
	CREATE TABLE public.eve_given (ts timestamptz NOT NULL, x int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('public.eve_given', 'ts', '1 day', premake => 1);
	CREATE TRIGGER trap BEFORE DELETE ON public.eve_given_default
		FOR EACH ROW EXECUTE FUNCTION public.eve_trap();
	INSERT INTO public.eve_given VALUES (now() + interval '3 days', 1);
	SELECT steward.partition_alter('public.eve_given', premake => 5);
});
sql("ALTER TABLE public.eve_given OWNER TO postgres");
sql("TRUNCATE public.eve_seen");
my ($given_status, $given_msg) = split /\|/, sql("SELECT status, message FROM steward.partition_maintain('public.eve_given')");
is($given_status, 'failed', "a set whose partitions belong to another role than the parent's owner fails");
like($given_msg, qr/partition public\.eve_given_\w+ of "eve_given" is owned by eve, not by the set's owner postgres/,
	'naming the partition and both owners');
is(sql("SELECT count(*) FROM public.eve_seen"), '0', "no code of eve's ran");
is(is_super('eve'), 'f', 'eve is still not superuser');
sql("SELECT steward.partition_forget('public.eve_given'); DROP TABLE public.eve_given");

# --- 3. partitions in other schemas: the worker acts on them, not on
# same-named tables of the parent's schema ---
as('bob', q{
	CREATE TABLE public.bob_important (v int);
	INSERT INTO public.bob_important VALUES (1);
	CREATE TABLE public.bob_data (ts timestamptz, v int);
	INSERT INTO public.bob_data SELECT now() + interval '2 days', g FROM generate_series(1, 5) g;
});
as('eve', q{
	CREATE TABLE public.eve_q (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
	SELECT steward.partition_table('public.eve_q', 'ts', '1 day', premake => 1,
	       retention => '2 days', default_partition => false);
	CREATE TABLE eve_s.bob_important PARTITION OF public.eve_q
		FOR VALUES FROM ('2000-01-01') TO ('2000-01-02');
	CREATE TABLE eve_s.bob_data PARTITION OF public.eve_q DEFAULT;
	INSERT INTO public.eve_q VALUES (now() + interval '3 days', 42);
	SELECT steward.partition_alter('public.eve_q', premake => 5);
});
sql("SELECT steward.run_job('partition_maintenance')");
is(sql("SELECT last_status FROM steward.jobs WHERE name = 'partition_maintenance'"), 'succeeded',
	'maintenance of a set with partitions in another schema');
is(sql("SELECT to_regclass('eve_s.bob_important') IS NULL"), 't',
	'the expired partition in eve_s was dropped');
is(sql("SELECT count(*) FROM public.bob_important"), '1', "bob's same-named table is untouched");
is(sql("SELECT count(*) FROM public.bob_data"), '5',
	"bob's rows stay in bob's table named like eve's default partition");
is(sql("SELECT count(*) FROM ONLY eve_s.bob_data"), '0',
	"eve's default partition in eve_s was drained");
is(sql("SELECT count(*) FROM public.eve_q WHERE v = 42"), '1', "and eve's row kept");

# --- 6. one broken table does not stop row retention for the others ---
as('bob', q{
	CREATE TABLE public.bob_log (ts timestamptz);
	INSERT INTO public.bob_log VALUES (now() - interval '3 days'), (now());
	SELECT steward.retention_add('public.bob_log', 'ts', '1 day');
	CREATE TABLE public.bob_renamed (ts timestamptz);
	SELECT steward.retention_add('public.bob_renamed', 'ts', '1 day');
	ALTER TABLE public.bob_renamed RENAME COLUMN ts TO at;
});
as('eve', q{
	CREATE TABLE public.eve_raises (ts timestamptz);
	INSERT INTO public.eve_raises VALUES (now() - interval '3 days');
	CREATE FUNCTION public.eve_raise() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'no deleting here'; END $$;
	CREATE TRIGGER no_delete BEFORE DELETE ON public.eve_raises
		FOR EACH ROW EXECUTE FUNCTION public.eve_raise();
	SELECT steward.retention_add('public.eve_raises', 'ts', '1 day');
	-- a trigger that pretends to be a cancel must not end the run for all
	CREATE TABLE public.aaa_eve_cancel (ts timestamptz);
	INSERT INTO public.aaa_eve_cancel VALUES (now() - interval '3 days');
	CREATE FUNCTION public.eve_fake_cancel() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'fake cancel' USING ERRCODE = '57014'; END $$;
	CREATE TRIGGER fake BEFORE DELETE ON public.aaa_eve_cancel
		FOR EACH ROW EXECUTE FUNCTION public.eve_fake_cancel();
	SELECT steward.retention_add('public.aaa_eve_cancel', 'ts', '1 day');
	INSERT INTO public.eve_log VALUES (now() - interval '3 days', 4);
});
sql("SELECT steward.run_job('row_retention')");
is(sql("SELECT last_status FROM steward.jobs WHERE name = 'row_retention'"), 'failed',
	'row_retention reports the broken tables as a failure');
is(sql("SELECT count(*) FROM public.bob_log"), '1', "bob's healthy table was cleaned");
is(sql("SELECT count(*) FROM public.eve_log"), '1', "eve's healthy table was cleaned");
my $detail = sql("SELECT detail->>'detail' FROM steward.job_run r JOIN steward.job j USING (job_id)
                   WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1");
like($detail, qr/public\.bob_renamed: column "ts" of relation public\.bob_renamed does not exist/,
	'the run detail names the table with the renamed column');
like($detail, qr/public\.eve_raises: no deleting here/, 'and the table whose trigger raises');
like($detail, qr/public\.aaa_eve_cancel: fake cancel/,
	'a trigger raising SQLSTATE 57014 fails its own table only');
as('eve', "SELECT steward.retention_remove('public.aaa_eve_cancel')");

# A table locked by someone else fails after the retries, naming the table;
# the others are still cleaned.
as('eve', "INSERT INTO public.eve_log VALUES (now() - interval '3 days', 5)");
my $locker = $node->background_psql($db);
$locker->query_safe("BEGIN; LOCK TABLE public.bob_log IN ACCESS EXCLUSIVE MODE;");
sql("ALTER DATABASE $db SET steward.partition_lock_timeout = 100");
sql("SELECT steward.run_job('row_retention')");
sql("ALTER DATABASE $db RESET steward.partition_lock_timeout");
$locker->query_safe("COMMIT");
$locker->quit;
like(sql("SELECT detail->>'detail' FROM steward.job_run r JOIN steward.job j USING (job_id)
           WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1"),
	qr/public\.bob_log: could not get a lock within steward\.partition_lock_timeout \(\d+ ms, 4 tries\) to delete from public\.bob_log/,
	'a locked table fails after 4 tries, named in the run detail');
is(sql("SELECT count(*) FROM public.eve_log"), '1', 'while the other tables are cleaned');

# A table whose trigger takes forever fails on its own after
# steward.maintenance_statement_timeout; the tables after it are cleaned.
as('eve', q{
	CREATE TABLE public.aab_eve_slow (ts timestamptz);
	INSERT INTO public.aab_eve_slow VALUES (now() - interval '3 days');
	CREATE FUNCTION public.eve_stall() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_sleep(3600); RETURN OLD; END $$;
	CREATE TRIGGER stall BEFORE DELETE ON public.aab_eve_slow
		FOR EACH ROW EXECUTE FUNCTION public.eve_stall();
	SELECT steward.retention_add('public.aab_eve_slow', 'ts', '1 day');
	INSERT INTO public.eve_log VALUES (now() - interval '3 days', 6);
});
as('bob', "INSERT INTO public.bob_log VALUES (now() - interval '3 days')");
sql("ALTER DATABASE $db SET steward.maintenance_statement_timeout = 500");
sql("SELECT steward.run_job('row_retention')");
sql("ALTER DATABASE $db RESET steward.maintenance_statement_timeout");
like(sql("SELECT detail->>'detail' FROM steward.job_run r JOIN steward.job j USING (job_id)
           WHERE j.job_name = 'row_retention' ORDER BY run_id DESC LIMIT 1"),
	qr/public\.aab_eve_slow: canceling statement due to statement timeout/,
	'a table whose trigger stalls fails on its own after the maintenance time limit');
is(sql("SELECT count(*) FROM public.bob_log"), '1', "bob's table after it is still cleaned");
is(sql("SELECT count(*) FROM public.eve_log"), '1', "so is eve's other table");
as('eve', "SELECT steward.retention_remove('public.aab_eve_slow')");
as('eve', "SELECT steward.retention_remove('public.eve_raises')");
as('bob', "SELECT steward.retention_remove('public.bob_renamed')");

# --- 7 and 10: each role sees only its own sets and retentions ---
as('bob', q{
	CREATE TABLE public.bob_ids (id bigint NOT NULL) PARTITION BY RANGE (id);
	SELECT steward.partition_table('public.bob_ids', 'id', '100', premake => 2);
	INSERT INTO public.bob_ids SELECT generate_series(1, 150);
	SELECT steward.partition_maintain('public.bob_ids');
	REVOKE ALL ON public.bob_ids FROM PUBLIC;
});
is(as('eve', "SELECT string_agg(parent::text, ',' ORDER BY parent::text) FROM steward.partition_status"),
	'eve_p,eve_q', 'eve reads partition_status without error and sees only her sets');
is(as('bob', "SELECT periods_ahead FROM steward.partition_status WHERE parent = 'public.bob_ids'::regclass"),
	'2', 'bob sees his id set premade ahead of its largest id');
is(as('eve', "SELECT count(*) FROM steward.partition_set WHERE parent::text LIKE 'bob%'"), '0',
	"eve cannot read bob's rows of partition_set");
is(as('eve', "SELECT count(*) FROM steward.partition_state WHERE parent::text LIKE 'bob%'"), '0',
	'nor of partition_state');
is(as('eve', "SELECT string_agg(tbl::text, ',') FROM steward.retention"), 'eve_log',
	'eve sees only her own retention rows');
is(as('eve', "SELECT string_agg(tbl::text, ',') FROM steward.retentions"), 'eve_log',
	'and only her own tables in steward.retentions');
is(sql("SELECT count(*) FROM steward.partition_status"), '3', 'a superuser sees every set');

# Views are security barriers: a cheap function of eve's in the WHERE clause
# never sees bob's rows.
as('eve', q{
	CREATE TABLE public.eve_leaks (v text);
	CREATE FUNCTION public.eve_leak(text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS
		$$ BEGIN INSERT INTO public.eve_leaks VALUES ($1); RETURN true; END $$;
	SELECT count(*) FROM steward.retentions WHERE public.eve_leak(tbl::text || keep::text);
	SELECT count(*) FROM steward.partition_status WHERE public.eve_leak(parent::text || step);
});
is(sql("SELECT count(*) FROM public.eve_leaks WHERE v LIKE '%bob%'"), '0',
	"a leaky function sees none of bob's rows through the views");

# A set that cannot be read does not break the view for anyone.
as('eve', "ALTER TABLE public.eve_p RENAME COLUMN ts TO ts2");
my ($ret, $out, $err) = $node->psql($db,
	"SELECT parent, partitions IS NULL FROM steward.partition_status WHERE parent = 'public.eve_p'::regclass");
is($out, 'eve_p|t', 'partition_status still answers with a set whose column was renamed');
like($err, qr/WARNING:  could not read partition set "eve_p": table "eve_p" is partitioned on column "ts2", not "ts"/,
	'with a warning that says why');
as('eve', "ALTER TABLE public.eve_p RENAME COLUMN ts2 TO ts");

# Ownership is checked before a set is looked up: no oracle for bob's sets.
like(as_err('eve', "SELECT steward.partition_forget('public.bob_ids')"),
	qr/must be owner of table bob_ids/, 'partition_forget of bob\'s set: must be owner');
like(as_err('eve', "SELECT steward.partition_forget('public.bob_log')"),
	qr/must be owner of table bob_log/, 'the same error for a table of bob\'s that is no set');

# --- 8. a non-owner's partition_maintain() leaves bob's state alone ---
my $before = sql("SELECT last_status || coalesce(fingerprint::text, '-') FROM steward.partition_state
                   WHERE parent = 'public.bob_ids'::regclass");
like(as_err('eve', "SELECT * FROM steward.partition_maintain('public.bob_ids')"),
	qr/must be owner of table bob_ids/, "eve cannot maintain bob's set");
is(sql("SELECT last_status || coalesce(fingerprint::text, '-') FROM steward.partition_state
         WHERE parent = 'public.bob_ids'::regclass"), $before, "and bob's state is unchanged");

# --- 9. a maintenance of all of a role's sets dates only the sets it covers ---
# (quiet sets are not written again: partition_status takes the time of
# the newest maintenance of every set that covered them)
as('eve', "SELECT count(*) FROM steward.partition_maintain()") for 1 .. 2;
is(sql("SELECT count(*) FROM steward.partition_status v, steward.partition_sweep w
         WHERE w.runner = 'eve'::regrole AND v.last_maintained_at = w.swept_at
           AND v.parent = 'public.eve_p'::regclass"), '1',
	"eve's maintenance of all her sets dates hers");
is(sql("SELECT count(*) FROM steward.partition_status v, steward.partition_sweep w
         WHERE w.runner = 'eve'::regrole AND v.last_maintained_at = w.swept_at
           AND v.parent::text LIKE '%bob%'"), '0',
	"but not bob's");

$node->stop;
done_testing();
