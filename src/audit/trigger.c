/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  The audit trigger: statement-level AFTER triggers with transition
 *	  tables, one per operation, that write one steward.audit_log row per
 *	  changed row.
 *
 * A statement's rows come from its transition tables, so a bulk statement
 * costs one trigger call and a few batched inserts, not a trigger call and
 * an insert per row.  Each row's values become jsonb here, in C: common
 * types directly, the others through to_jsonb.  Rows are written in
 * batches straight into the log's partition (writer.c) with the
 * extension's rights, in the audited statement's transaction: a change and
 * its audit rows commit or roll back together (savepoints included).
 *
 * The policy travels in the trigger's arguments (audit_int.h), so the
 * trigger reads no catalog of ours.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "audit/audit.h"
#include "audit/audit_int.h"
#include "core/guc.h"
#include "core/spi_util.h"

PG_FUNCTION_INFO_V1(steward_audit_trigger);

/* Size of the first block of the reused row context (one batch fits). */
#define AUDIT_ROW_CXT_SIZE	(8 * 1024 * 1024)

static MemoryContext audit_row_cxt = NULL;
static MemoryContext audit_scratch_cxt = NULL;
static struct AuditBatch *audit_batch = NULL;	/* the outermost call's */
static int	audit_depth = 0;	/* nesting of audit trigger calls */

/* Rows written per INSERT: bounds the memory of a bulk statement. */
#define AUDIT_BATCH_ROWS	5000

/* How a column's value becomes jsonb. */
typedef enum AuditJsonKind
{
	AUDIT_JSON_INT,				/* int2, int4, int8: a number */
	AUDIT_JSON_NUMERIC,			/* a number, or a string for NaN and infinity */
	AUDIT_JSON_BOOL,
	AUDIT_JSON_TEXT,			/* text, varchar: a string of the bytes */
	AUDIT_JSON_JSONB,			/* the value itself */
	AUDIT_JSON_DATETIME,		/* date, timestamp, timestamptz: ISO string */
	AUDIT_JSON_OTHER			/* to_jsonb() */
} AuditJsonKind;

typedef struct AuditColumn
{
	AttrNumber	attnum;
	char	   *name;
	int			namelen;
	bool		key;			/* one of the key columns */
	Oid			typid;			/* base type for the kinds above */
	int16		typlen;
	bool		typbyval;
	bool		hashed;			/* stored as the SHA-256 of its text */
	AuditJsonKind kind;
	FmgrInfo	out;			/* output function (hashing, OTHER fallbacks) */
	FmgrInfo   *tojsonb;		/* to_jsonb() typed for this column */
} AuditColumn;

typedef struct AuditTable
{
	Relation	rel;
	int			ncols;			/* stored columns */
	AuditColumn *cols;
	int			nkeys;			/* key columns (indexes into cols) */
	int		   *keys;
	int		   *order;			/* cols in jsonb key order */
	bool		flat;			/* every value is a jsonb scalar */
	bool		skip_unchanged;
	bool		capture_query;
	bool		query_known;	/* capture_query: looked up at the first write */
	bool		query_id_null;
	int64		query_id;
} AuditTable;

/* One batch of rows to write. */
typedef struct AuditBatch
{
	const char *op;
	int			n;
	Datum		keys[AUDIT_BATCH_ROWS];
	bool		keys_null[AUDIT_BATCH_ROWS];
	Datum		olds[AUDIT_BATCH_ROWS];
	bool		olds_null[AUDIT_BATCH_ROWS];
	Datum		news[AUDIT_BATCH_ROWS];
	bool		news_null[AUDIT_BATCH_ROWS];
	Datum		changed[AUDIT_BATCH_ROWS];	/* UPDATE: text[]; else 0 */
} AuditBatch;


/* ---------------------------------------------------------------------
 * The table's columns and policy
 * ---------------------------------------------------------------------
 */
static AuditJsonKind
audit_json_kind(Oid base)
{
	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return AUDIT_JSON_INT;
		case NUMERICOID:
			return AUDIT_JSON_NUMERIC;
		case BOOLOID:
			return AUDIT_JSON_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return AUDIT_JSON_TEXT;
		case JSONBOID:
			return AUDIT_JSON_JSONB;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return AUDIT_JSON_DATETIME;
		default:
			return AUDIT_JSON_OTHER;
	}
}

static bool
audit_arg_names(Trigger *trig, char prefix, const char *name)
{
	int			i;

	for (i = 1; i < trig->tgnargs; i++)
		if (trig->tgargs[i][0] == prefix && strcmp(trig->tgargs[i] + 1, name) == 0)
			return true;
	return false;
}

/* A deferrable primary key (the relcache's rd_pkindex has immediate ones). */
static Oid
audit_deferrable_pkey(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			continue;
		if (((Form_pg_index) GETSTRUCT(tup))->indisprimary)
			result = lfirst_oid(lc);
		ReleaseSysCache(tup);
		if (OidIsValid(result))
			break;
	}
	list_free(indexes);
	return result;
}

/* The key: primary key, else replica identity index, else none. */
int
audit_key_attnums(Relation rel, AttrNumber **attnums)
{
	Oid			indexoid;
	HeapTuple	tup;
	Form_pg_index idx;
	int			n;

	*attnums = NULL;
	(void) RelationGetIndexList(rel);
	indexoid = rel->rd_pkindex;
	if (!OidIsValid(indexoid))
		indexoid = audit_deferrable_pkey(rel);
	if (!OidIsValid(indexoid))
		indexoid = rel->rd_replidindex;
	if (!OidIsValid(indexoid))
		return 0;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		return 0;
	idx = (Form_pg_index) GETSTRUCT(tup);
	n = idx->indnkeyatts;
	*attnums = palloc(sizeof(AttrNumber) * Max(n, 1));
	memcpy(*attnums, idx->indkey.values, sizeof(AttrNumber) * n);
	ReleaseSysCache(tup);
	return n;
}

static void
audit_find_key(AuditTable *t)
{
	AttrNumber *attnums;
	int			n = audit_key_attnums(t->rel, &attnums);
	int			i,
				c;

	t->nkeys = 0;
	t->keys = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
		for (c = 0; c < t->ncols; c++)
			if (t->cols[c].attnum == attnums[i])
			{
				t->keys[t->nkeys++] = c;
				t->cols[c].key = true;
			}
}

/* jsonb's order of object keys: by length, then bytes */
static int
audit_key_order_cmp(const void *a, const void *b, void *arg)
{
	AuditColumn *cols = (AuditColumn *) arg;
	AuditColumn *ca = &cols[*(const int *) a];
	AuditColumn *cb = &cols[*(const int *) b];

	if (ca->namelen != cb->namelen)
		return ca->namelen < cb->namelen ? -1 : 1;
	return memcmp(ca->name, cb->name, ca->namelen);
}

static void
audit_describe_build(AuditTable *t, Relation rel, Trigger *trig)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	t->rel = rel;
	t->skip_unchanged = false;
	t->capture_query = false;
	t->query_known = false;
	t->query_id_null = true;
	t->query_id = 0;
	if (trig->tgnargs > 0)
	{
		t->skip_unchanged = strchr(trig->tgargs[0], AUDIT_ARG_SKIP_UNCHANGED) != NULL;
		t->capture_query = strchr(trig->tgargs[0], AUDIT_ARG_CAPTURE_QUERY) != NULL;
	}
	t->cols = palloc0(sizeof(AuditColumn) * desc->natts);
	t->ncols = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AuditColumn *c;
		Oid			outfn;
		bool		isvarlena;

		if (att->attisdropped ||
			audit_arg_names(trig, AUDIT_ARG_EXCLUDE, NameStr(att->attname)))
			continue;
		c = &t->cols[t->ncols++];
		c->attnum = att->attnum;
		c->name = pstrdup(NameStr(att->attname));
		c->namelen = strlen(c->name);
		c->typid = getBaseType(att->atttypid);
		c->typlen = att->attlen;
		c->typbyval = att->attbyval;
		c->hashed = audit_arg_names(trig, AUDIT_ARG_HASH, c->name);
		c->kind = audit_json_kind(c->typid);
		getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
		fmgr_info(outfn, &c->out);
		if (c->kind == AUDIT_JSON_OTHER && !c->hashed)
		{
			/* to_jsonb reads its argument's type from the call expression */
			c->tojsonb = palloc0(sizeof(FmgrInfo));
			fmgr_info(F_TO_JSONB, c->tojsonb);
			c->tojsonb->fn_expr = (Node *)
				makeFuncExpr(F_TO_JSONB, JSONBOID,
							 list_make1(makeNullConst(att->atttypid, att->atttypmod,
													  att->attcollation)),
							 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		}
	}
	audit_find_key(t);

	/*
	 * With scalar values only, a row's object is built directly with its
	 * pairs in jsonb's key order (shorter keys first, then bytewise), which
	 * saves the parse state and the sort of pushJsonbValue() per row.
	 */
	t->flat = true;
	t->order = palloc(sizeof(int) * Max(t->ncols, 1));
	for (i = 0; i < t->ncols; i++)
	{
		t->order[i] = i;
		if (!t->cols[i].hashed &&
			(t->cols[i].kind == AUDIT_JSON_JSONB || t->cols[i].kind == AUDIT_JSON_OTHER))
			t->flat = false;
	}
	qsort_arg(t->order, t->ncols, sizeof(int), audit_key_order_cmp, t->cols);
}

/*
 * Descriptions are kept per trigger across statements: building one looks
 * up every column's type and output function and the table's key, which
 * cost a single-row statement about as much as writing its log row.  Any
 * change that matters (columns, their types, the key, the trigger's policy)
 * comes with a relcache invalidation of the table, which marks its entries
 * stale.  An invalidation can arrive while a statement uses a description
 * (whenever a lock is taken), so stale memory is freed only by the next
 * outermost trigger call, when no call is using any description.
 */
typedef struct AuditDescEntry
{
	Oid			tgoid;			/* hash key */
	Oid			relid;
	bool		valid;
	MemoryContext cxt;			/* holds desc's arrays; NULL: none */
	AuditTable	desc;
} AuditDescEntry;

static HTAB *audit_desc_cache = NULL;
static bool audit_desc_stale = false;	/* some entry is not valid */
static uint64 audit_desc_invals = 0;	/* invalidations that hit an entry */

static void
audit_desc_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	AuditDescEntry *e;

	hash_seq_init(&status, audit_desc_cache);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (!OidIsValid(relid) || e->relid == relid)
		{
			e->valid = false;
			audit_desc_stale = true;
			audit_desc_invals++;
		}
	}
}

/* Free stale descriptions; only when no trigger call is using one. */
static void
audit_desc_sweep(void)
{
	HASH_SEQ_STATUS status;
	AuditDescEntry *e;

	hash_seq_init(&status, audit_desc_cache);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->valid)
			continue;
		if (e->cxt != NULL)
			MemoryContextDelete(e->cxt);
		(void) hash_search(audit_desc_cache, &e->tgoid, HASH_REMOVE, NULL);
	}
	audit_desc_stale = false;
}

/*
 * The description of the audited table for this call.  A call nested in
 * another one's statement (a user's function writing an audited table)
 * builds its own, in the statement's memory.
 */
static void
audit_describe(AuditTable *t, Relation rel, Trigger *trig, bool nested)
{
	AuditDescEntry *e;
	bool		found;
	MemoryContext cxt;
	MemoryContext old;
	uint64		invals;

	if (nested)
	{
		audit_describe_build(t, rel, trig);
		return;
	}
	if (audit_desc_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditDescEntry);
		audit_desc_cache = hash_create("pg_steward audit descriptions", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(audit_desc_invalidate, (Datum) 0);
	}
	if (audit_desc_stale)
		audit_desc_sweep();
	e = hash_search(audit_desc_cache, &trig->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		e->cxt = NULL;
		e->valid = false;
	}
	if (!e->valid || e->relid != RelationGetRelid(rel))
	{
		if (e->cxt != NULL)
			MemoryContextDelete(e->cxt);
		e->cxt = NULL;
		e->valid = false;
		e->relid = RelationGetRelid(rel);
		cxt = AllocSetContextCreate(CacheMemoryContext, "pg_steward audit description",
									ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		invals = audit_desc_invals;
		PG_TRY();
		{
			audit_describe_build(&e->desc, rel, trig);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		e->cxt = cxt;

		/*
		 * Valid unless an invalidation of the table arrived while it was
		 * built (catalog look-ups take locks): then it serves this statement
		 * only, and the next call builds it again.
		 */
		e->valid = (audit_desc_invals == invals);
	}
	*t = e->desc;
	t->rel = rel;
	t->query_known = false;
	t->query_id_null = true;
	t->query_id = 0;
}

/* ---------------------------------------------------------------------
 * Values to jsonb
 * ---------------------------------------------------------------------
 */
static void
audit_hash_value(AuditColumn *c, Datum value, JsonbValue *jv)
{
	char	   *text = OutputFunctionCall(&c->out, value);
	bytea	   *in = (bytea *) cstring_to_text(text);
	bytea	   *digest = DatumGetByteaPP(DirectFunctionCall1(sha256_bytea,
															 PointerGetDatum(in)));
	const unsigned char *d = (const unsigned char *) VARDATA_ANY(digest);
	int			len = VARSIZE_ANY_EXHDR(digest);
	char	   *hex = palloc(len * 2 + 1);
	static const char digits[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < len; i++)
	{
		hex[i * 2] = digits[d[i] >> 4];
		hex[i * 2 + 1] = digits[d[i] & 0x0f];
	}
	hex[len * 2] = '\0';
	jv->type = jbvString;
	jv->val.string.val = hex;
	jv->val.string.len = len * 2;
}

static void
audit_string(JsonbValue *jv, char *s)
{
	jv->type = jbvString;
	jv->val.string.val = s;
	jv->val.string.len = strlen(s);
}

/*
 * The last date or time value turned into text, with the time zone it was
 * shown in: the rows of a bulk statement often share one (now()).
 */
static Oid	audit_dt_typid = InvalidOid;
static int64 audit_dt_value;
static pg_tz *audit_dt_tz = NULL;
static char audit_dt_text[MAXDATELEN + 1];

static char *
audit_datetime_text(Oid typid, Datum value)
{
	int64		v = typid == DATEOID ? DatumGetDateADT(value) : DatumGetTimestamp(value);

	if (typid != audit_dt_typid || v != audit_dt_value || session_timezone != audit_dt_tz)
	{
		audit_dt_typid = InvalidOid;	/* until the text is complete */
		(void) JsonEncodeDateTime(audit_dt_text, value, typid, NULL);
		audit_dt_value = v;
		audit_dt_tz = session_timezone;
		audit_dt_typid = typid;
	}
	/* a copy: the row's other values are still to come */
	return pstrdup(audit_dt_text);
}

/* One column's value as a JsonbValue. */
static void
audit_column_value(AuditColumn *c, Datum value, bool isnull, JsonbValue *out)
{
	JsonbValue	jv;

	if (isnull)
		jv.type = jbvNull;
	else if (c->hashed)
		audit_hash_value(c, value, &jv);
	else
	{
		switch (c->kind)
		{
			case AUDIT_JSON_INT:
				jv.type = jbvNumeric;
				jv.val.numeric = int64_to_numeric(c->typid == INT2OID ? DatumGetInt16(value) :
												  c->typid == INT4OID ? DatumGetInt32(value) :
												  DatumGetInt64(value));
				break;
			case AUDIT_JSON_NUMERIC:
				{
					Numeric		num = DatumGetNumeric(value);

					if (numeric_is_nan(num) || numeric_is_inf(num))
						audit_string(&jv, OutputFunctionCall(&c->out, value));
					else
					{
						jv.type = jbvNumeric;
						jv.val.numeric = num;
					}
				}
				break;
			case AUDIT_JSON_BOOL:
				jv.type = jbvBool;
				jv.val.boolean = DatumGetBool(value);
				break;
			case AUDIT_JSON_TEXT:
				{
					text	   *t = DatumGetTextPP(value);

					jv.type = jbvString;
					jv.val.string.val = VARDATA_ANY(t);
					jv.val.string.len = VARSIZE_ANY_EXHDR(t);
				}
				break;
			case AUDIT_JSON_DATETIME:
				audit_string(&jv, audit_datetime_text(c->typid, value));
				break;
			case AUDIT_JSON_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(value);

					jv.type = jbvBinary;
					jv.val.binary.data = &jb->root;
					jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				}
				break;
			case AUDIT_JSON_OTHER:
				{
					Jsonb	   *jb = DatumGetJsonbP(FunctionCall1(c->tojsonb, value));

					jv.type = jbvBinary;
					jv.val.binary.data = &jb->root;
					jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				}
				break;
		}
	}
	*out = jv;
}

/*
 * The object of the columns of 'slot' selected by 'only' (NULL: all stored
 * columns), or of the key columns when 'key'.
 */
static Datum
audit_row_json(AuditTable *t, TupleTableSlot *slot, const bool *only, bool key)
{
	JsonbParseState *state = NULL;
	JsonbValue	obj;
	JsonbValue *res;
	JsonbPair  *pairs = NULL;
	int			n = 0;
	int			i;

	if (t->flat)
		pairs = palloc(sizeof(JsonbPair) * Max(t->ncols, 1));
	else
		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < t->ncols; i++)
	{
		int			ci = t->flat ? t->order[i] : i;
		AuditColumn *c = &t->cols[ci];
		JsonbValue	name;
		JsonbValue	jv;
		bool		isnull;
		Datum		value;

		if (key ? !c->key : (only != NULL && !only[ci]))
			continue;
		value = slot_getattr(slot, c->attnum, &isnull);
		name.type = jbvString;
		name.val.string.val = c->name;
		name.val.string.len = c->namelen;
		audit_column_value(c, value, isnull, &jv);
		if (t->flat)
		{
			pairs[n].key = name;
			pairs[n].value = jv;
			pairs[n].order = n;
			n++;
		}
		else
		{
			(void) pushJsonbValue(&state, WJB_KEY, &name);
			(void) pushJsonbValue(&state, WJB_VALUE, &jv);
		}
	}
	if (t->flat)
	{
		obj.type = jbvObject;
		obj.val.object.nPairs = n;
		obj.val.object.pairs = pairs;
		res = &obj;
	}
	else
		res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* text[] of the names of the changed columns, in column order. */
static Datum
audit_changed_names(AuditTable *t, const bool *changed, int nchanged)
{
	Datum	   *names = palloc(sizeof(Datum) * Max(nchanged, 1));
	int			n = 0;
	int			i;

	for (i = 0; i < t->ncols; i++)
		if (changed[i])
			names[n++] = CStringGetTextDatum(t->cols[i].name);
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Did column 'c' change between the two slots? */
static bool
audit_column_changed(AuditColumn *c, TupleTableSlot *old, TupleTableSlot *new)
{
	bool		oldnull,
				newnull;
	Datum		o = slot_getattr(old, c->attnum, &oldnull);
	Datum		n = slot_getattr(new, c->attnum, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	if (datumIsEqual(o, n, c->typbyval, c->typlen))
		return false;
	if (c->typlen == -1)
	{
		/* the same value stored differently (compressed, toasted) */
		struct varlena *ov = PG_DETOAST_DATUM_PACKED(o);
		struct varlena *nv = PG_DETOAST_DATUM_PACKED(n);

		return VARSIZE_ANY_EXHDR(ov) != VARSIZE_ANY_EXHDR(nv) ||
			memcmp(VARDATA_ANY(ov), VARDATA_ANY(nv), VARSIZE_ANY_EXHDR(ov)) != 0;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Writing the log
 * ---------------------------------------------------------------------
 */
/*
 * The statement's text (capture_query), stored once; its id.  Looked up
 * first, and inserted if this transaction cannot see it: no unique index,
 * which would make a session wait for any other transaction that stored the
 * same text and is still open, and fail a REPEATABLE READ transaction whose
 * snapshot predates another's insert.  Transactions that meet a text for the
 * first time at the same time may store it twice, under two ids.
 */
static int64
audit_query_id(bool *isnull)
{
	const char *query = debug_query_string;
	Datum		values[2];
	int64		id = 0;
	StewardCatalogAccess acc;

	*isnull = true;
	if (query == NULL)
		return 0;
	values[0] = DirectFunctionCall1(sha256_bytea, PointerGetDatum(cstring_to_text(query)));
	values[1] = CStringGetTextDatum(query);
	steward_catalog_enter(&acc);
	SPI_connect();
	steward_spi_exec("SELECT query_id FROM steward.audit_query WHERE query_hash = $1"
					 " ORDER BY query_id LIMIT 1",
					 SPI_OK_SELECT, 1, (Oid[]) {BYTEAOID}, values, NULL);
	if (SPI_processed == 0)
		steward_spi_exec("INSERT INTO steward.audit_query (query_hash, query) VALUES ($1, $2)"
						 " RETURNING query_id",
						 SPI_OK_INSERT_RETURNING, 2, (Oid[]) {BYTEAOID, TEXTOID}, values, NULL);
	id = DatumGetInt64(steward_spi_getdatum(0, 1, isnull));
	SPI_finish();
	steward_catalog_exit(&acc);
	return id;
}

/* Write the batch of a table's statement. */
static void
audit_flush(AuditTable *t, AuditBatch *b)
{
	if (b->n == 0)
		return;
	/* the statement's text only once it has rows to log */
	if (t->capture_query && !t->query_known)
	{
		t->query_id = audit_query_id(&t->query_id_null);
		t->query_known = true;
	}
	audit_write(RelationGetRelid(t->rel),
				get_namespace_name(RelationGetNamespace(t->rel)),
				RelationGetRelationName(t->rel), b->op, b->n,
				b->keys, b->keys_null, b->olds, b->olds_null, b->news, b->news_null,
				b->changed, Int64GetDatum(t->query_id), t->query_id_null);
	b->n = 0;
}

/* Read a transition table from its start with a read pointer of our own. */
static void
audit_rewind(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, 0);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

/* Copy a varlena value into the current context (unless null). */
static inline void
audit_keep(Datum *value, bool isnull)
{
	if (!isnull)
		*value = datumCopy(*value, false, -1);
}

/*
 * Read the statement's transition tables and write a log row per changed
 * row, in batches.
 */
static void
audit_capture(TriggerData *trigdata, AuditTable *tp, AuditBatch *b,
			  MemoryContext rowcxt, MemoryContext scratch,
			  TupleTableSlot *oldslot, TupleTableSlot *newslot, bool *changed)
{
	AuditTable	t = *tp;
	MemoryContext old;

	for (;;)
	{
		bool		have_old = false;
		bool		have_new = false;
		int			i;
		int			nchanged = 0;

		if (oldslot != NULL)
			have_old = tuplestore_gettupleslot(trigdata->tg_oldtable, true, false, oldslot);
		if (newslot != NULL)
			have_new = tuplestore_gettupleslot(trigdata->tg_newtable, true, false, newslot);
		if (!have_old && !have_new)
			break;
		if ((oldslot != NULL && !have_old) || (newslot != NULL && !have_new))
			elog(ERROR, "audit trigger: transition tables of different lengths");

		/*
		 * A row's values are built in a scratch context, reset per row, and
		 * only the results are copied to the batch: building them leaves
		 * several times their size behind.
		 */
		MemoryContextReset(scratch);
		old = MemoryContextSwitchTo(scratch);
		if (have_old && have_new)
		{
			/* UPDATE: only the stored columns that changed */
			for (i = 0; i < t.ncols; i++)
			{
				changed[i] = audit_column_changed(&t.cols[i], oldslot, newslot);
				if (changed[i])
					nchanged++;
			}
			if (nchanged == 0 && t.skip_unchanged)
			{
				MemoryContextSwitchTo(old);
				continue;
			}
			b->olds[b->n] = audit_row_json(&t, oldslot, changed, false);
			b->news[b->n] = audit_row_json(&t, newslot, changed, false);
			b->olds_null[b->n] = b->news_null[b->n] = false;
			b->changed[b->n] = audit_changed_names(&t, changed, nchanged);
		}
		else
		{
			TupleTableSlot *slot = have_new ? newslot : oldslot;
			Datum		row = audit_row_json(&t, slot, NULL, false);

			b->changed[b->n] = (Datum) 0;
			b->olds[b->n] = have_old ? row : (Datum) 0;
			b->olds_null[b->n] = !have_old;
			b->news[b->n] = have_new ? row : (Datum) 0;
			b->news_null[b->n] = !have_new;
		}
		if (t.nkeys > 0)
		{
			b->keys[b->n] = audit_row_json(&t, have_new ? newslot : oldslot, NULL, true);
			b->keys_null[b->n] = false;
		}
		else
			b->keys_null[b->n] = true;

		MemoryContextSwitchTo(rowcxt);
		audit_keep(&b->olds[b->n], b->olds_null[b->n]);
		audit_keep(&b->news[b->n], b->news_null[b->n]);
		audit_keep(&b->keys[b->n], b->keys_null[b->n]);
		audit_keep(&b->changed[b->n], b->changed[b->n] == (Datum) 0);
		MemoryContextSwitchTo(old);

		if (++b->n == AUDIT_BATCH_ROWS)
		{
			/* the batch's arrays go with its rows */
			old = MemoryContextSwitchTo(rowcxt);
			audit_flush(&t, b);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
	}
	old = MemoryContextSwitchTo(rowcxt);
	audit_flush(&t, b);
	MemoryContextSwitchTo(old);

}

Datum
steward_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	AuditTable	t;
	AuditBatch *b;
	MemoryContext rowcxt;
	MemoryContext scratch;
	TupleTableSlot *volatile oldslot = NULL;
	TupleTableSlot *volatile newslot = NULL;
	bool	   *changed;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_trigger() must be called as a trigger")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) || !TRIGGER_FIRED_FOR_STATEMENT(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_trigger() must be an AFTER ... FOR EACH STATEMENT trigger"),
				 errhint("Install it with steward.audit_enable().")));

	audit_describe(&t, trigdata->tg_relation, trigdata->tg_trigger, audit_depth > 0);
	/* a batch is large: the outermost call keeps one */
	if (audit_depth > 0)
		b = palloc(sizeof(AuditBatch));
	else
	{
		if (audit_batch == NULL)
			audit_batch = MemoryContextAlloc(TopMemoryContext, sizeof(AuditBatch));
		b = audit_batch;
	}
	b->n = 0;
	if (TRIGGER_FIRED_BY_INSERT(event))
		b->op = "INSERT";
	else if (TRIGGER_FIRED_BY_UPDATE(event))
		b->op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(event))
		b->op = "DELETE";
	else
		b->op = "TRUNCATE";
	if ((strcmp(b->op, "TRUNCATE") != 0) &&
		((strcmp(b->op, "DELETE") != 0 && trigdata->tg_newtable == NULL) ||
		 (strcmp(b->op, "INSERT") != 0 && trigdata->tg_oldtable == NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("steward.audit_trigger() needs the statement's transition tables"),
				 errhint("Install it with steward.audit_enable().")));

	/* no SPI connection: a single-row statement should not pay for one */
	if (strcmp(b->op, "TRUNCATE") == 0)
	{
		b->keys_null[0] = b->olds_null[0] = b->news_null[0] = true;
		b->changed[0] = (Datum) 0;
		b->n = 1;
		audit_flush(&t, b);
		return PointerGetDatum(NULL);
	}

	/*
	 * Per-row values live until their batch is written.  The outermost
	 * trigger call reuses one context whose first block holds a whole batch,
	 * so that a bulk statement does not return memory to the kernel and
	 * fault it in again at every batch; a trigger fired from inside (a
	 * user's cast writing an audited table) gets contexts of its own.
	 */
	if (audit_depth == 0)
	{
		if (audit_row_cxt == NULL)
		{
			audit_row_cxt = AllocSetContextCreate(TopMemoryContext, "pg_steward audit rows",
												  AUDIT_ROW_CXT_SIZE, AUDIT_ROW_CXT_SIZE,
												  AUDIT_ROW_CXT_SIZE);
			audit_scratch_cxt = AllocSetContextCreate(TopMemoryContext, "pg_steward audit row",
													  ALLOCSET_DEFAULT_SIZES);
		}
		rowcxt = audit_row_cxt;
		scratch = audit_scratch_cxt;
		MemoryContextReset(rowcxt);
	}
	else
	{
		rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_steward audit rows",
									   ALLOCSET_DEFAULT_SIZES);
		scratch = AllocSetContextCreate(rowcxt, "pg_steward audit row",
										ALLOCSET_DEFAULT_SIZES);
	}
	audit_depth++;
	changed = palloc(sizeof(bool) * Max(t.ncols, 1));
	if (trigdata->tg_oldtable != NULL)
	{
		oldslot = MakeSingleTupleTableSlot(RelationGetDescr(t.rel), &TTSOpsMinimalTuple);
		audit_rewind(trigdata->tg_oldtable);
	}
	if (trigdata->tg_newtable != NULL)
	{
		newslot = MakeSingleTupleTableSlot(RelationGetDescr(t.rel), &TTSOpsMinimalTuple);
		audit_rewind(trigdata->tg_newtable);
	}

	PG_TRY();
	{
		audit_capture(trigdata, &t, b, rowcxt, scratch, oldslot, newslot, changed);
	}
	PG_CATCH();
	{
		audit_depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (oldslot != NULL)
		ExecDropSingleTupleTableSlot(oldslot);
	if (newslot != NULL)
		ExecDropSingleTupleTableSlot(newslot);
	if (--audit_depth == 0)
	{
		MemoryContextReset(scratch);
		MemoryContextReset(rowcxt);
	}
	else
		MemoryContextDelete(rowcxt);
	return PointerGetDatum(NULL);
}
