/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The migration catalog: versions in natural order, checksums, and
 *	  steward.migration_add(), migration_replace() and baseline().
 *
 * Versions sort naturally: a version is split into parts at '.', '_' and
 * '-' and where digits meet other characters; numeric parts compare as
 * numbers (leading zeros ignored: 1 = 01 < 2 < 10), other parts byte by
 * byte, and a version that is a prefix of another sorts first (1 < 1.1).
 * migration_version_key() turns a version into a bytea whose byte order is
 * that order, so SQL sorts with ORDER BY and a unique index refuses two
 * spellings of one version ("1" and "001").
 *
 * The checksum is the SHA-256 of the normalized up_sql: line ends
 * (CR LF, CR) become LF, spaces and tabs at the end of each line go, and
 * so do blank lines at the start and the end.  Nothing else changes, and
 * the rule will not change between versions of pg_steward.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "core/spi_util.h"
#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migration_version_key);
PG_FUNCTION_INFO_V1(steward_migration_add);
PG_FUNCTION_INFO_V1(steward_migration_replace);
PG_FUNCTION_INFO_V1(steward_migration_baseline);

#define MIGRATION_VERSION_MAX	100

/* key bytes: a part that is not a number, a number */
#define MIGRATION_KEY_TEXT		0x01
#define MIGRATION_KEY_NUMBER	0x02

static bool
migration_is_separator(char c)
{
	return c == '.' || c == '_' || c == '-';
}

bytea *
migration_version_key(const char *version)
{
	StringInfoData buf;
	const char *p = version;
	bytea	   *key;

	initStringInfo(&buf);
	while (*p != '\0')
	{
		if (migration_is_separator(*p))
			p++;
		else if (*p >= '0' && *p <= '9')
		{
			const char *start;

			while (*p == '0')
				p++;
			start = p;
			while (*p >= '0' && *p <= '9')
				p++;
			if (p - start > 255)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a number in version \"%s\" has too many digits", version)));
			/* more digits sort later; then digit by digit */
			appendStringInfoChar(&buf, MIGRATION_KEY_NUMBER);
			appendStringInfoChar(&buf, (char) (p - start));
			appendBinaryStringInfo(&buf, start, p - start);
		}
		else
		{
			appendStringInfoChar(&buf, MIGRATION_KEY_TEXT);
			while (*p != '\0' && !migration_is_separator(*p) && !(*p >= '0' && *p <= '9'))
				appendStringInfoChar(&buf, *p++);
			/* "a" sorts before "ab" */
			appendStringInfoChar(&buf, '\0');
		}
	}
	key = (bytea *) palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(key, VARHDRSZ + buf.len);
	memcpy(VARDATA(key), buf.data, buf.len);
	pfree(buf.data);
	return key;
}

int
migration_version_cmp(const char *a, const char *b)
{
	bytea	   *ka = migration_version_key(a);
	bytea	   *kb = migration_version_key(b);
	int			la = VARSIZE(ka) - VARHDRSZ;
	int			lb = VARSIZE(kb) - VARHDRSZ;
	int			c = memcmp(VARDATA(ka), VARDATA(kb), Min(la, lb));

	if (c != 0)
		return c;
	return (la > lb) - (la < lb);
}

/* steward.migration_version_key(version text) RETURNS bytea */
Datum
steward_migration_version_key(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(migration_version_key(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

void
migration_check_version(const char *version, const char *what)
{
	const char *p;

	if (version[0] == '\0' || strlen(version) > MIGRATION_VERSION_MAX ||
		migration_is_separator(version[0]))
		goto bad;
	for (p = version; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= 'A' && *p <= 'Z') || migration_is_separator(*p)))
			goto bad;
	return;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", what, version),
			 errdetail("A version is 1 to %d letters, digits, '.', '_' and '-', starting with a letter or digit.",
					   MIGRATION_VERSION_MAX),
			 errhint("Examples: 1, 2.1, 2026.01.05, 20260105120000.")));
}

char *
migration_normalize(const char *sql)
{
	StringInfoData buf;
	const char *p = sql;
	int			keep;

	initStringInfo(&buf);
	while (*p != '\0')
	{
		const char *eol = p;
		const char *end;

		while (*eol != '\0' && *eol != '\n' && *eol != '\r')
			eol++;
		end = eol;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		/* no blank lines at the start */
		if (end > p || buf.len > 0)
		{
			appendBinaryStringInfo(&buf, p, end - p);
			if (*eol != '\0')
				appendStringInfoChar(&buf, '\n');
		}
		if (eol[0] == '\r' && eol[1] == '\n')
			eol++;
		p = *eol != '\0' ? eol + 1 : eol;
	}
	/* nor at the end */
	keep = buf.len;
	while (keep > 0 && buf.data[keep - 1] == '\n')
		keep--;
	buf.data[keep] = '\0';
	buf.len = keep;
	return buf.data;
}

bytea *
migration_checksum(const char *up_sql)
{
	char	   *norm = migration_normalize(up_sql);

	return DatumGetByteaPP(DirectFunctionCall1(sha256_bytea,
											   PointerGetDatum(cstring_to_text(norm))));
}

bool
migration_state_applied(const char *state)
{
	return strcmp(state, "applied") == 0 || strcmp(state, "changed") == 0 ||
		strcmp(state, "missing") == 0 || strcmp(state, "baseline") == 0;
}

/*
 * Every migration of migration_status with its registered definition, in
 * natural order, in the current memory context.
 */
List *
migration_catalog_load(void)
{
	StewardResult *res;
	List	   *result = NIL;
	uint64		i;

	res = steward_catalog_exec("SELECT s.version, COALESCE(m.name, ''), m.up_sql, m.down_sql,"
							   "       m.checksum, COALESCE(m.transactional, true),"
							   "       COALESCE(m.requires, '{}'), s.state,"
							   "       (SELECT COALESCE(pg_catalog.max(h.history_id), 0)"
							   "          FROM steward.migration_history h"
							   "         WHERE h.version = s.version AND h.status = 'succeeded'"
							   "           AND h.action IN ('apply', 'baseline'))"
							   "  FROM steward.migration_status s"
							   "  LEFT JOIN steward.migration m ON m.version = s.version"
							   " ORDER BY steward.migration_version_key(s.version)",
							   SPI_OK_SELECT, 0, NULL, NULL, NULL);
	for (i = 0; i < res->processed; i++)
	{
		Migration  *m = palloc0(sizeof(Migration));
		bool		isnull;
		Datum		d;
		Datum	   *elems;
		int			nelems;
		int			j;

		m->version = steward_result_text(res, i, 1);
		m->name = steward_result_text(res, i, 2);
		m->up_sql = steward_result_text(res, i, 3);
		m->down_sql = steward_result_text(res, i, 4);
		d = steward_result_datum(res, i, 5, &isnull);
		m->checksum = isnull ? NULL : DatumGetByteaPCopy(d);
		m->transactional = DatumGetBool(steward_result_datum(res, i, 6, &isnull));
		d = steward_result_datum(res, i, 7, &isnull);
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &nelems);
		for (j = 0; j < nelems; j++)
			m->requires = lappend(m->requires, TextDatumGetCString(elems[j]));
		m->state = steward_result_text(res, i, 8);
		m->applied_id = DatumGetInt64(steward_result_datum(res, i, 9, &isnull));
		m->key = migration_version_key(m->version);
		result = lappend(result, m);
	}
	return result;
}

/*
 * "rule: message" of each finding, as a text[] in *array (if not NULL), and
 * a one-line summary ("2 lint findings: rule-a, rule-b"), or NULL if none.
 */
char *
migration_lint_summary(List *findings, Datum *array)
{
	StringInfoData buf;
	Datum	   *elems;
	ListCell   *lc;
	int			n = 0;

	elems = palloc(sizeof(Datum) * Max(list_length(findings), 1));
	initStringInfo(&buf);
	foreach(lc, findings)
	{
		LintFinding *f = lfirst(lc);

		elems[n++] = CStringGetTextDatum(psprintf("%s: %s", f->rule, f->message));
		appendStringInfo(&buf, "%s%s", n > 1 ? ", " : "", f->rule);
	}
	if (array != NULL)
		*array = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (n == 0)
		return NULL;
	return psprintf("%d lint finding%s: %s", n, n > 1 ? "s" : "", buf.data);
}

/* Return 'findings' as rows of steward.lint_finding. */
static char *
migration_arg_text(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Statements migration_register() runs for every migration: planned once. */
static SPIPlanPtr same_version_plan = NULL;
static SPIPlanPtr applied_plan = NULL;
static SPIPlanPtr insert_plan = NULL;

/*
 * Register a migration (steward.migration_add and migration_replace; the
 * directory loader too).  Returns its lint findings.
 */
List *
migration_register(const char *version, const char *name, const char *up_sql,
				   const char *down_sql, ArrayType *requires, bool replace)
{
	char	   *what;
	List	   *up;
	List	   *findings;
	ListCell   *lc;
	bool		transactional = true;
	bytea	   *checksum;
	StewardResult *res;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	int			i;

	migration_check_version(version, "migration version");
	what = psprintf("up_sql of migration \"%s\"", version);
	up = migration_parse(up_sql, what);
	if (up == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no statement", what)));
	foreach(lc, up)
		if (!((MigrationStmt *) lfirst(lc))->transactional)
			transactional = false;
	if (down_sql != NULL)
	{
		what = psprintf("down_sql of migration \"%s\"", version);
		if (migration_parse(down_sql, what) == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has no statement", what),
					 errhint("Pass NULL when the migration cannot be rolled back.")));
	}
	deconstruct_array(requires, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		char	   *req;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("requires must not contain nulls")));
		req = TextDatumGetCString(elems[i]);
		migration_check_version(req, "required version");
		if (migration_version_cmp(req, version) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration \"%s\" cannot require itself", version)));
	}
	checksum = migration_checksum(up_sql);

	/* one version, one spelling: "1" and "001" are the same version */
	values[0] = CStringGetTextDatum(version);
	res = steward_catalog_exec_kept(&same_version_plan,
									"SELECT m.version FROM steward.migration m"
									" WHERE steward.migration_version_key(m.version) ="
									"       steward.migration_version_key($1) AND m.version <> $1",
							   SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, values, NULL);
	if (res->processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("migration version \"%s\" is already registered as \"%s\"",
						version, steward_result_text(res, 0, 1)),
				 errdetail("Versions compare as numbers: leading zeros do not count.")));

	/* an applied version keeps its text unless replaced on purpose */
	/*
	 * Applied (or queued): its latest apply, baseline or replace is not
	 * followed by a rollback.  One version's rows, by index: the status
	 * view would cost a plan and a pass over every migration per call.
	 */
	res = steward_catalog_exec_kept(&applied_plan,
									"SELECT h.checksum FROM ("
									"  SELECT h.action, h.checksum FROM steward.migration_history h"
									"   WHERE h.version = $1"
									"     AND h.action IN ('apply', 'baseline', 'replace', 'rollback')"
									"     AND h.status IN ('succeeded', 'queued', 'running')"
									"   ORDER BY h.history_id DESC LIMIT 1) h"
									" WHERE h.action <> 'rollback'",
							   SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, values, NULL);
	if (res->processed > 0)
	{
		bool		isnull;
		Datum		old = steward_result_datum(res, 0, 1, &isnull);

		if (!isnull && !DatumGetBool(DirectFunctionCall2(byteaeq, old, PointerGetDatum(checksum))))
		{
			if (!replace)
				ereport(ERROR,
						(errcode(ERRCODE_RAISE_EXCEPTION),
						 errmsg("migration \"%s\" is applied with a different up_sql", version),
						 errdetail("The checksum of the new up_sql differs from the one applied."),
						 errhint("Add a new version for the change, or call steward.migration_replace() to accept the new text as applied.")));
			values[1] = CStringGetTextDatum(name);
			values[2] = PointerGetDatum(checksum);
			values[3] = old;
			steward_catalog_exec("INSERT INTO steward.migration_history"
								 " (version, name, action, status, checksum, finished_at, duration,"
								 "  applied_by, applied_by_oid, detail)"
								 " VALUES ($1, $2, 'replace', 'succeeded', $3, pg_catalog.now(),"
								 "         interval '0', $5, $6,"
								 "         pg_catalog.jsonb_build_object('old_checksum',"
								 "           pg_catalog.encode($4, 'hex')))",
								 SPI_OK_INSERT, 6,
								 (Oid[]) {TEXTOID, TEXTOID, BYTEAOID, BYTEAOID, TEXTOID, OIDOID},
								 (Datum[]) {values[0], values[1], values[2], values[3],
									 CStringGetTextDatum(GetUserNameFromId(GetUserId(), false)),
								 ObjectIdGetDatum(GetUserId())}, NULL);
		}
	}

	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(up_sql);
	if (down_sql == NULL)
		nulls[3] = 'n';
	else
		values[3] = CStringGetTextDatum(down_sql);
	values[4] = PointerGetDatum(checksum);
	values[5] = BoolGetDatum(transactional);
	steward_catalog_exec_kept(&insert_plan,
							  "INSERT INTO steward.migration AS m"
							  " (version, name, up_sql, down_sql, checksum, transactional, requires, added_by)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
							  " ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name,"
							  "  up_sql = EXCLUDED.up_sql, down_sql = EXCLUDED.down_sql,"
							  "  checksum = EXCLUDED.checksum, transactional = EXCLUDED.transactional,"
							  "  requires = EXCLUDED.requires, added_at = EXCLUDED.added_at,"
							  "  added_by = EXCLUDED.added_by",
						 SPI_OK_INSERT, 8,
						 (Oid[]) {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, BOOLOID,
							 TEXTARRAYOID, TEXTOID},
						 (Datum[]) {values[0], values[1], values[2], values[3], values[4],
							 values[5], PointerGetDatum(requires),
						 CStringGetTextDatum(GetUserNameFromId(GetUserId(), false))},
						 (char[]) {' ', ' ', ' ', nulls[3], ' ', ' ', ' ', ' '});

	findings = migration_lint_stmts(up_sql, up);
	return findings;
}

static Datum
migration_add_internal(FunctionCallInfo fcinfo, bool replace)
{
	char	   *version = migration_arg_text(fcinfo, 0, "version");
	char	   *name = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *up_sql = migration_arg_text(fcinfo, 2, "up_sql");
	char	   *down_sql = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	ArrayType  *requires = PG_ARGISNULL(4) ? construct_empty_array(TEXTOID) :
		PG_GETARG_ARRAYTYPE_P(4);
	List	   *findings;

	steward_init_srf(fcinfo);
	findings = migration_register(version, name, up_sql, down_sql, requires, replace);
	migration_put_findings(fcinfo, findings);
	return (Datum) 0;
}

/* steward.migration_add(version, name, up_sql, down_sql, requires) */
Datum
steward_migration_add(PG_FUNCTION_ARGS)
{
	return migration_add_internal(fcinfo, false);
}

/* steward.migration_replace(version, name, up_sql, down_sql, requires) */
Datum
steward_migration_replace(PG_FUNCTION_ARGS)
{
	return migration_add_internal(fcinfo, true);
}

/*
 * steward.baseline(version text) RETURNS void: the database is at
 * 'version'.  Every registered version up to it is marked applied (its
 * checksum recorded), nothing runs; an unregistered 'version' gets a row of
 * its own (state "baseline").  Refused once anything is applied.
 */
Datum
steward_migration_baseline(PG_FUNCTION_ARGS)
{
	char	   *version = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Datum		values[3];
	StewardResult *res;

	migration_check_version(version, "baseline version");
	migration_lock();
	res = steward_catalog_exec("SELECT pg_catalog.string_agg(s.version, ', ')"
							   "  FROM steward.migration_status s"
							   " WHERE s.state NOT IN ('pending', 'failed')",
							   SPI_OK_SELECT, 0, NULL, NULL, NULL);
	if (steward_result_text(res, 0, 1) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot baseline a database with applied migrations"),
				 errdetail("Applied or queued: %s.", steward_result_text(res, 0, 1)),
				 errhint("A baseline marks a database that has never been migrated.")));
	values[0] = CStringGetTextDatum(version);
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[2] = ObjectIdGetDatum(GetUserId());
	steward_catalog_exec("INSERT INTO steward.migration_history"
						 " (version, name, action, status, checksum, finished_at, duration,"
						 "  applied_by, applied_by_oid)"
						 " SELECT m.version, m.name, 'baseline', 'succeeded', m.checksum,"
						 "        pg_catalog.now(), interval '0', $2, $3"
						 "   FROM steward.migration m"
						 "  WHERE steward.migration_version_key(m.version) <="
						 "        steward.migration_version_key($1)"
						 " UNION ALL"
						 " SELECT $1, 'baseline', 'baseline', 'succeeded', NULL,"
						 "        pg_catalog.now(), interval '0', $2, $3"
						 "  WHERE NOT EXISTS (SELECT FROM steward.migration m"
						 "    WHERE steward.migration_version_key(m.version) ="
						 "          steward.migration_version_key($1))",
						 SPI_OK_INSERT, 3, (Oid[]) {TEXTOID, TEXTOID, OIDOID}, values, NULL);
	PG_RETURN_VOID();
}
