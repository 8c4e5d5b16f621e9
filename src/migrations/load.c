/*-------------------------------------------------------------------------
 *
 * load.c
 *	  steward.migrations_load(directory): register the migration files of
 *	  a server directory.
 *
 * Two file styles, which may be mixed:
 *	- Flyway: V<version>__<name>.sql (up only; '_' in the version reads as
 *	  '.', so V1_1__x.sql is version 1.1);
 *	- golang-migrate: <version>_<name>.up.sql and <version>_<name>.down.sql.
 * Other .sql files are reported (WARNING, one per file) and skipped; files
 * that do not end in .sql and subdirectories are ignored.  Migrations are
 * registered in natural version order, each as migration_add() would
 * (parsed, checksummed, refused if an applied version changed).  Reading
 * server files takes pg_read_server_files (or superuser).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "migrations/migrations.h"
#include "migrations/migrations_int.h"

PG_FUNCTION_INFO_V1(steward_migrations_load);

/* One migration found in the directory. */
typedef struct MigrationFile
{
	char	   *version;
	char	   *name;
	char	   *up_path;
	char	   *down_path;
} MigrationFile;

static bool
migration_ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s);
	size_t		lf = strlen(suffix);

	return ls >= lf && strcmp(s + ls - lf, suffix) == 0;
}

/* The whole file, checked to be valid in the database encoding. */
static char *
migration_read_file(const char *path)
{
	FILE	   *f = AllocateFile(path, PG_BINARY_R);
	StringInfoData buf;
	char		chunk[8192];
	size_t		n;

	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	initStringInfo(&buf);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	if (ferror(f))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	FreeFile(f);
	(void) pg_verify_mbstr(GetDatabaseEncoding(), buf.data, buf.len, false);
	return buf.data;
}

static MigrationFile *
migration_file_for(List **files, const char *version, const char *name)
{
	ListCell   *lc;
	MigrationFile *mf;

	foreach(lc, *files)
	{
		mf = lfirst(lc);
		if (strcmp(mf->version, version) == 0)
			return mf;
	}
	mf = palloc0(sizeof(MigrationFile));
	mf->version = pstrdup(version);
	mf->name = pstrdup(name);
	*files = lappend(*files, mf);
	return mf;
}

static bool
migration_valid_version(const char *v)
{
	const char *p;

	if (*v < '0' || *v > '9')
		return false;
	for (p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == '_'))
			return false;
	return strlen(v) <= 100;
}

/*
 * Which migration file 'fname' is; false for a name of neither style.
 */
static bool
migration_classify(List **files, const char *dir, const char *fname)
{
	char	   *path = psprintf("%s/%s", dir, fname);
	char	   *base;
	char	   *sep;
	MigrationFile *mf;

	if (fname[0] == 'V' && migration_ends_with(fname, ".sql") &&
		!migration_ends_with(fname, ".up.sql") && !migration_ends_with(fname, ".down.sql"))
	{
		char	   *p;

		base = pnstrdup(fname + 1, strlen(fname) - 1 - strlen(".sql"));
		sep = strstr(base, "__");
		if (sep == NULL || sep == base || sep[2] == '\0')
			return false;
		*sep = '\0';
		if (!migration_valid_version(base))
			return false;
		for (p = base; *p; p++)
			if (*p == '_')
				*p = '.';
		mf = migration_file_for(files, base, sep + 2);
		if (mf->up_path != NULL)
			return false;
		mf->up_path = path;
		return true;
	}
	if (migration_ends_with(fname, ".up.sql") || migration_ends_with(fname, ".down.sql"))
	{
		bool		up = migration_ends_with(fname, ".up.sql");

		base = pnstrdup(fname, strlen(fname) - strlen(up ? ".up.sql" : ".down.sql"));
		sep = strchr(base, '_');
		if (sep == NULL || sep == base || sep[1] == '\0')
			return false;
		*sep = '\0';
		if (!migration_valid_version(base) || strchr(base, '_') != NULL)
			return false;
		mf = migration_file_for(files, base, sep + 1);
		if (up)
			mf->up_path = path;
		else
			mf->down_path = path;
		return true;
	}
	return false;
}

static int
migration_file_cmp(const ListCell *a, const ListCell *b)
{
	return migration_version_cmp(((MigrationFile *) lfirst(a))->version,
								 ((MigrationFile *) lfirst(b))->version);
}

/* steward.migrations_load(directory text) RETURNS int */
Datum
steward_migrations_load(PG_FUNCTION_ARGS)
{
	char	   *dir = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *files = NIL;
	DIR		   *d;
	struct dirent *de;
	ListCell   *lc;
	int			loaded = 0;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read migrations from a server directory"),
				 errdetail("Only roles with privileges of the \"pg_read_server_files\" role may read server files."),
				 errhint("Send the files with steward.migration_add() or pg_steward_migrate add instead.")));
	if (!is_absolute_path(dir))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("directory must be an absolute path: \"%s\"", dir)));

	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		char	   *path;
		struct stat st;

		if (de->d_name[0] == '.' || !migration_ends_with(de->d_name, ".sql"))
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (!migration_classify(&files, dir, de->d_name))
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("skipped \"%s\": not a migration file name", de->d_name),
					 errhint("Name migrations V<version>__<name>.sql, or <version>_<name>.up.sql and <version>_<name>.down.sql.")));
	}
	FreeDir(d);

	list_sort(files, migration_file_cmp);
	foreach(lc, files)
	{
		MigrationFile *mf = lfirst(lc);

		if (mf->up_path == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("skipped migration \"%s\": it has a .down.sql file but no .up.sql",
							mf->version)));
			continue;
		}
		(void) migration_register(mf->version, mf->name, migration_read_file(mf->up_path),
								  mf->down_path ? migration_read_file(mf->down_path) : NULL,
								  construct_empty_array(TEXTOID), false);
		loaded++;
	}
	PG_RETURN_INT32(loaded);
}
