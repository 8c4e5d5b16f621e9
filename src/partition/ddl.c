/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Lock-aware DDL on partition sets: create, attach, move rows out of the
 *	  default partition, detach and drop.
 *
 * DDL runs under a short lock_timeout (steward.partition_lock_timeout) and
 * is retried a few times with backoff, each try in a subtransaction, so
 * maintenance never queues behind long queries and then blocks everyone.
 * Callers run it as the set's owner (steward_owner_enter).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "core/pg_steward.h"
#include "scheduler/cron.h"
#include "core/guc.h"
#include "scheduler/job_runner.h"
#include "core/spi_util.h"
#include "partition/partition.h"
#include "partition/partition_int.h"

static void
part_ddl_try(void *arg)
{
	if (SPI_execute((const char *) arg, false, 0) < 0)
		elog(ERROR, "pg_steward: SPI_execute failed for \"%s\"", (const char *) arg);
}

/*
 * Run one DDL statement under steward.partition_lock_timeout, retrying with
 * backoff when the lock is not granted in time.  Each try runs in its own
 * subtransaction.  SPI must be connected.
 */
void
part_exec_ddl(const char *sql)
{
	/* the final error says which statement waited: it names the tables */
	ErrorData  *edata = steward_retry_on_lock_timeout(part_ddl_try, (void *) sql,
													  PART_DDL_TRIES,
													  psprintf("for: %s", sql));

	if (edata == NULL)
		return;
	if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ReThrowError(edata);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg_internal("%s", edata->message),
			 errhint("Another session holds a conflicting lock; the next maintenance tries again.")));
}

typedef struct PartGrant
{
	char	   *privilege;
	char	   *grantee;		/* quoted, or PUBLIC */
	bool		grantable;
} PartGrant;
/* The parent's privileges, to be given to each new partition. */
static List *
part_grants(PartSet *set)
{
	List	   *grants = NIL;
	Datum		arg = ObjectIdGetDatum(set->parent);
	uint64		i;

	steward_spi_exec("SELECT a.privilege_type,"
					 "       CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
					 "            ELSE pg_catalog.quote_ident(r.rolname) END,"
					 "       a.is_grantable"
					 "  FROM pg_catalog.pg_class c,"
					 "       LATERAL pg_catalog.aclexplode(c.relacl) a"
					 "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee"
					 " WHERE c.oid = $1 AND a.grantee <> c.relowner",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, &arg, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		PartGrant  *g = palloc(sizeof(PartGrant));

		g->privilege = steward_spi_gettext(i, 1);
		g->grantee = steward_spi_gettext(i, 2);
		g->grantable = strcmp(steward_spi_gettext(i, 3), "t") == 0;
		grants = lappend(grants, g);
	}
	return grants;
}

/* Give a new partition the parent's owner and privileges. */
static void
part_copy_access(PartSet *set, const char *qname, List *grants)
{
	Oid			owner = steward_rel_owner(set->parent);
	ListCell   *lc;

	if (owner != GetUserId())
		part_exec_ddl(psprintf("ALTER TABLE %s OWNER TO %s", qname,
							   quote_identifier(GetUserNameFromId(owner, false))));
	foreach(lc, grants)
	{
		PartGrant  *g = lfirst(lc);

		part_exec_ddl(psprintf("GRANT %s ON %s TO %s%s", g->privilege, qname,
							   g->grantee, g->grantable ? " WITH GRANT OPTION" : ""));
	}
}

/*
 * Partitions are created by the set's owner (the current user here): say
 * so clearly when the owner may not create tables in the parent's schema.
 */
static void
part_check_create(PartSet *set)
{
	Oid			nsp = get_rel_namespace(set->parent);

	if (!steward_may_create_in(nsp, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("owner %s of table \"%s\" may not create partitions in schema \"%s\"",
						quote_identifier(GetUserNameFromId(GetUserId(), false)), set->relname,
						set->nspname),
				 errdetail("Partitions are created with the rights of the table's owner."),
				 errhint("GRANT CREATE ON SCHEMA %s TO %s;", quote_identifier(set->nspname),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)))));
}

static char *
part_qparent(PartSet *set)
{
	return quote_qualified_identifier(set->nspname, set->relname);
}

static char *
part_bound(PartSet *set, int64 point, bool upper)
{
	/* the last id partition of a type reaches its end */
	if (upper && !set->is_time && point >= part_type_max(set->typid))
		return "MAXVALUE";
	return quote_literal_cstr(part_point_text(set, point));
}

/* Insertable columns of the parent, quoted and comma-separated. */
static char *
part_columns(PartSet *set)
{
	steward_spi_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum)"
					 "  FROM pg_catalog.pg_attribute"
					 " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
					 SPI_OK_SELECT, 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(set->parent)}, NULL);
	return steward_spi_gettext(0, 1);
}

/*
 * Move the rows of the default partition 'qdef' that match 'cond' into the
 * (not yet attached) table 'qname', at most 'batch' rows per statement
 * (0 = all at once).  Returns the number of rows moved.
 */
static int64
part_move_rows(const char *qdef, const char *qname, const char *cond,
			   const char *cols, int batch)
{
	int64		moved = 0;

	for (;;)
	{
		uint64		n;

		if (batch > 0)
			steward_spi_exec(psprintf("WITH moved AS (DELETE FROM %s WHERE ctid = ANY (ARRAY("
									  " SELECT ctid FROM %s WHERE %s LIMIT %d)) RETURNING %s)"
									  " INSERT INTO %s (%s) SELECT %s FROM moved",
									  qdef, qdef, cond, batch, cols, qname, cols, cols),
							 SPI_OK_INSERT, 0, NULL, NULL, NULL);
		else
			steward_spi_exec(psprintf("WITH moved AS (DELETE FROM %s WHERE %s RETURNING %s)"
									  " INSERT INTO %s (%s) SELECT %s FROM moved",
									  qdef, cond, cols, qname, cols, cols),
							 SPI_OK_INSERT, 0, NULL, NULL, NULL);
		n = SPI_processed;
		moved += n;
		if (batch <= 0 || n < (uint64) batch)
			break;
	}
	return moved;
}

/* SQL condition selecting the values of [lo, hi) of the control column. */
char *
part_range_cond(PartSet *set, int64 lo, int64 hi)
{
	const char *col = quote_identifier(set->control);
	char	   *upper = part_bound(set, hi, true);

	if (strcmp(upper, "MAXVALUE") == 0)
		return psprintf("%s >= %s", col, part_bound(set, lo, false));
	return psprintf("%s >= %s AND %s < %s", col, part_bound(set, lo, false), col, upper);
}

/*
 * Writers wait, instead of failing, while rows move out of the default
 * partition and a partition is attached next to it.  An INSERT that routed
 * a row to the default partition with the old partition bounds would fail
 * the default's new partition constraint once the attach commits; SHARE
 * ROW EXCLUSIVE on the parent alone (not its partitions) makes new writes
 * wait until the attach commits, then route to the new partition.  Readers
 * are not blocked.  Held until the end of the (sub)transaction, under the
 * lock timeout like all DDL.
 */
static void
part_lock_writers(const char *qparent)
{
	part_exec_ddl(psprintf("LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE", qparent));
}

/*
 * Create the missing partitions covering [from, to).  'attach' selects the
 * lock-friendly way for tables in use: the partition is created on its own,
 * given a CHECK constraint matching its bounds, and attached, which needs
 * only SHARE UPDATE EXCLUSIVE on the parent (CREATE TABLE ... PARTITION OF
 * needs ACCESS EXCLUSIVE).  Partitions that overlap a period with other
 * bounds are refused (error when 'strict', else reported in 'problems').
 */
int
part_create_range(PartSet *set, List **ranges, int64 from, int64 to,
				  bool attach, bool strict, StringInfo problems, int64 *moved)
{
	PartRange  *def = part_find_default(*ranges);
	char	   *cols = NULL;
	List	   *grants = NIL;
	bool		have_grants = false;
	char	   *qparent = part_qparent(set);
	int			created = 0;
	int64		lo,
				hi;

	for (lo = from; lo < to; lo = hi)
	{
		PartRange  *overlap;
		PartRange  *r;
		char	   *name;
		char	   *qname;
		char	   *bounds;

		hi = part_next(set, lo);
		if (part_match(*ranges, lo, hi, &overlap) != NULL)
			continue;
		if (overlap != NULL)
		{
			if (strict)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("existing partition \"%s\" overlaps the period from %s to %s",
								overlap->relname, part_point_display(set, lo),
								part_point_display(set, hi)),
						 errdetail("Partitions made by hand are adopted only when their bounds match the set's periods."),
						 errhint("Detach or re-create \"%s\", or choose a step that matches it.",
								 overlap->relname)));
			appendStringInfo(problems, "%s%s overlaps %s..%s", problems->len ? "; " : "",
							 overlap->relname, part_point_display(set, lo),
							 part_point_display(set, hi));
			continue;
		}

		if (!have_grants)
		{
			part_check_create(set);
			grants = part_grants(set);
			have_grants = true;
			if (attach && def != NULL)
				part_lock_writers(qparent);
		}
		name = part_name(set, lo, false);
		qname = quote_qualified_identifier(set->nspname, name);
		bounds = psprintf("FROM (%s) TO (%s)", part_bound(set, lo, false), part_bound(set, hi, true));
		if (!attach)
		{
			part_exec_ddl(psprintf("CREATE TABLE %s PARTITION OF %s FOR VALUES %s",
								   qname, qparent, bounds));
			part_copy_access(set, qname, grants);
		}
		else
		{
			char	   *cond = part_range_cond(set, lo, hi);

			part_exec_ddl(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
								   " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)",
								   qname, qparent));

			/*
			 * Rows of this period that landed in the default partition would
			 * block the attach: move them into the new partition first.
			 */
			if (def != NULL &&
				!(set->has_excl && lo >= set->excl_lo && hi <= set->excl_hi))
			{
				if (cols == NULL)
					cols = part_columns(set);
				*moved += part_move_rows(def->qname, qname, cond, cols, 0);
			}
			part_exec_ddl(psprintf("ALTER TABLE %s ADD CONSTRAINT steward_partition_bound"
								   " CHECK (%s IS NOT NULL AND %s)",
								   qname, quote_identifier(set->control), cond));
			part_copy_access(set, qname, grants);
			part_exec_ddl(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES %s",
								   qparent, qname, bounds));
			part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT steward_partition_bound", qname));
		}

		r = palloc0(sizeof(PartRange));
		r->relname = name;
		r->qname = qname;
		r->relid = get_relname_relid(name, get_namespace_oid(set->nspname, false));
		r->lo = lo;
		r->hi = hi;
		*ranges = lappend(*ranges, r);
		created++;
	}
	return created;
}

void
part_ensure_default(PartSet *set, List *ranges, bool *created)
{
	char	   *qname;

	*created = false;
	if (!set->default_partition || part_find_default(ranges) != NULL)
		return;
	qname = quote_qualified_identifier(set->nspname, part_name(set, 0, true));
	part_exec_ddl(psprintf("CREATE TABLE %s PARTITION OF %s DEFAULT", qname, part_qparent(set)));
	part_copy_access(set, qname, part_grants(set));
	*created = true;
}

/*
 * Finish concurrent detaches that were interrupted (cancelled, timed out,
 * crashed): the partition is already invisible to new queries, so only
 * FINALIZE is left.  It waits for older snapshots under the lock timeout.
 */
typedef struct PartFinalizeCall
{
	PartSet    *set;
	char	   *qname;
} PartFinalizeCall;
static void
part_finalize_try(void *arg)
{
	PartFinalizeCall *call = (PartFinalizeCall *) arg;

	part_exec_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE",
						   part_qparent(call->set), call->qname));
	if (call->set->retention_schema != NULL &&
		strcmp(call->set->retention_mode, "drop") != 0)
		part_exec_ddl(psprintf("ALTER TABLE %s SET SCHEMA %s", call->qname,
							   quote_identifier(call->set->retention_schema)));
}

/*
 * Returns the error of a detach that could not be finished (it waits for
 * older snapshots), or NULL; the rest of the maintenance goes on either way.
 */
char *
part_finalize_pending(PartSet *set, PartResult *res)
{
	ListCell   *lc;
	char	   *failure = NULL;

	foreach(lc, set->pending)
	{
		PartFinalizeCall call;
		ErrorData  *edata;

		call.qname = part_qualified_name(lfirst_oid(lc));
		if (call.qname == NULL)
			continue;
		call.set = set;
		edata = steward_in_subxact(part_finalize_try, &call);
		if (edata == NULL)
			res->detached++;
		else if (failure == NULL)
			failure = psprintf("could not finish the detach of %s: %s", call.qname, edata->message);
	}
	return failure;
}

/* Retire partitions entirely older than the retention. */
void
part_retire(PartSet *set, List *ranges, int64 current, bool in_worker, PartResult *res)
{
	int64		cutoff;
	ListCell   *lc;
	char	   *qparent = part_qparent(set);
	bool		has_default = part_find_default(ranges) != NULL;
	int			blocking = 0;

	if (set->retention == NULL)
		return;
	cutoff = part_retention_cutoff(set, current);

	foreach(lc, ranges)
	{
		PartRange  *r = lfirst(lc);
		char	   *qname;
		bool		concurrently = strcmp(set->retention_mode, "detach_concurrently") == 0;

		if (r->is_default || r->hi_unbounded || r->hi > cutoff)
			continue;
		qname = r->qname;
		if (strcmp(set->retention_mode, "drop") == 0)
		{
			part_exec_ddl(psprintf("DROP TABLE %s", qname));
			res->dropped++;
		}
		else if (!concurrently || (in_worker && has_default))
		{
			/*
			 * PostgreSQL refuses DETACH ... CONCURRENTLY while the set has a
			 * default partition; the plain DETACH needs ACCESS EXCLUSIVE on
			 * the parent, but only for a catalog change, under the lock
			 * timeout.
			 */
			part_exec_ddl(psprintf("ALTER TABLE %s DETACH PARTITION %s", qparent, qname));
			if (set->retention_schema != NULL)
				part_exec_ddl(psprintf("ALTER TABLE %s SET SCHEMA %s", qname,
									   quote_identifier(set->retention_schema)));
			res->detached++;
			if (concurrently)
				blocking++;
		}
		else if (in_worker)
		{
			PartDetach *d = palloc0(sizeof(PartDetach));

			d->qparent = qparent;
			d->qname = qname;
			d->relid = r->relid;
			d->owner = GetUserId();
			if (set->retention_schema != NULL)
				d->qschema = pstrdup(quote_identifier(set->retention_schema));
			res->concurrent_detach = lappend(res->concurrent_detach, d);
		}
		else
		{
			res->message = "retention by DETACH ... CONCURRENTLY is left to the worker";
			res->deferred = true;
		}
	}
	if (blocking > 0)
		res->message = psprintf("detached %d partitions without CONCURRENTLY: PostgreSQL cannot detach concurrently while the set has a default partition",
								blocking);
}

/*
 * Drop the default partition's exclusion constraint, once it served or when
 * an interrupted run left it behind (it would reject rows).
 */
void
part_drop_exclusion(PartSet *set)
{
	Oid			defoid = get_default_partition_oid(set->parent);
	char	   *qdef;

	if (!OidIsValid(defoid) ||
		!OidIsValid(get_relation_constraint_oid(defoid, PART_EXCLUSION_NAME, true)))
		return;
	qdef = part_qualified_name(defoid);
	if (qdef == NULL)
		return;
	part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS " PART_EXCLUSION_NAME,
						   qdef));
}

/*
 * Move the rows of the oldest period that has rows in the default partition
 * into a new partition for that period: a standalone table receives the
 * rows (DELETE ... RETURNING, 'batch' rows per statement), gets a CHECK
 * constraint matching its bounds and is attached.  A period is the unit of
 * atomicity: its rows move in one transaction, so readers never miss them.
 * Returns false when the default partition has no rows left to move.
 */
bool
part_drain_period(PartSet *set, List **ranges, PartRange *def, int batch,
				  int64 *moved)
{
	char	   *qdef = def->qname;
	const char *col = quote_identifier(set->control);
	bool		isnull;
	Datum		d;
	int64		lo,
				hi;
	char	   *name;
	char	   *qname;
	char	   *cond;
	PartRange  *overlap;
	PartRange  *r;

	steward_spi_exec(psprintf("SELECT min(%s) FROM %s", col, qdef),
					 SPI_OK_SELECT, 0, NULL, NULL, NULL);
	d = steward_spi_getdatum(0, 1, &isnull);
	if (isnull)
		return false;
	lo = part_floor(set, part_datum_to_point(set->typid, d));
	hi = part_next(set, lo);
	if (part_match(*ranges, lo, hi, &overlap) != NULL || overlap != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("cannot drain rows from %s to %s: a partition with other bounds overlaps",
						part_point_display(set, lo), part_point_display(set, hi))));

	name = part_name(set, lo, false);
	qname = quote_qualified_identifier(set->nspname, name);
	cond = part_range_cond(set, lo, hi);
	part_lock_writers(part_qparent(set));
	part_exec_ddl(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
						   " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)",
						   qname, part_qparent(set)));
	*moved += part_move_rows(qdef, qname, cond, part_columns(set), batch);
	part_exec_ddl(psprintf("ALTER TABLE %s ADD CONSTRAINT steward_partition_bound CHECK (%s IS NOT NULL AND %s)",
						   qname, col, cond));
	part_copy_access(set, qname, part_grants(set));
	part_exec_ddl(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
						   part_qparent(set), qname, part_bound(set, lo, false),
						   part_bound(set, hi, true)));
	part_exec_ddl(psprintf("ALTER TABLE %s DROP CONSTRAINT steward_partition_bound", qname));
	r = palloc0(sizeof(PartRange));
	r->relname = name;
	r->qname = qname;
	r->lo = lo;
	r->hi = hi;
	*ranges = lappend(*ranges, r);
	return true;
}
