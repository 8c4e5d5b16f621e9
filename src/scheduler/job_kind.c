/*-------------------------------------------------------------------------
 *
 * job_kind.c
 *	  The job-kind registry and steward.job_kinds().
 *
 * Kinds are registered by _PG_init, in the postmaster when the library is
 * preloaded, so schedulers, runners and backends inherit one registry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/spi_util.h"
#include "scheduler/job_kind.h"

#define JOB_KIND_MAX	32

static const StewardJobKind *job_kinds[JOB_KIND_MAX];
static int	job_nkinds = 0;

PG_FUNCTION_INFO_V1(steward_job_kinds);

void
steward_register_job_kind(const StewardJobKind *kind)
{
	if (job_nkinds >= JOB_KIND_MAX)
		elog(ERROR, "too many pg_steward job kinds");
	if (kind->name == NULL || strlen(kind->name) >= NAMEDATALEN ||
		kind->main == NULL)
		elog(ERROR, "invalid pg_steward job kind");
	if (steward_find_job_kind(kind->name) != NULL)
		elog(ERROR, "pg_steward job kind \"%s\" is registered twice", kind->name);
	job_kinds[job_nkinds++] = kind;
}

const StewardJobKind *
steward_find_job_kind(const char *name)
{
	int			i;

	for (i = 0; i < job_nkinds; i++)
		if (strcmp(job_kinds[i]->name, name) == 0)
			return job_kinds[i];
	return NULL;
}

const StewardJobKind *
steward_require_job_kind(const char *name)
{
	const StewardJobKind *kind = steward_find_job_kind(name);

	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job kind \"%s\" does not exist", name),
				 errhint("steward.job_kinds() lists the kinds.")));
	return kind;
}

void
steward_validate_job_config(const StewardJobKind *kind, const char *config)
{
	Jsonb	   *jb;

	/* well-formed JSON object first, whatever the kind */
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(config)));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("config of a job must be a JSON object")));
	if (kind->validate != NULL)
		kind->validate(config);
	else if (JB_ROOT_COUNT(jb) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jobs of kind %s take no config", kind->name)));
}

/* steward.job_kinds(): the registered kinds. */
Datum
steward_job_kinds(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	steward_init_srf(fcinfo);
	for (i = 0; i < job_nkinds; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(job_kinds[i]->name);
		values[1] = BoolGetDatum(job_kinds[i]->takes_command);
		if (job_kinds[i]->description)
			values[2] = CStringGetTextDatum(job_kinds[i]->description);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
