/*-------------------------------------------------------------------------
 *
 * wal.c
 *	  The archive seen from SQL and from the backup catalog: what it holds
 *	  (steward.wal_archive_status), retention below the oldest physical
 *	  backup, and the continuity check of backup_verify().
 *
 * All of it reads the backup directory itself, never the catalog: the
 * physical backups of every database that shares the directory count, and
 * a backup's start LSN comes from its backup.json.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "funcapi.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "archive/archive.h"
#include "backup/backup.h"
#include "backup/backup_int.h"
#include "core/guc.h"

PG_FUNCTION_INFO_V1(steward_wal_archive_summary);

typedef enum WalEntryKind
{
	WAL_SEGMENT,
	WAL_PARTIAL,
	WAL_BACKUP_HISTORY,
	WAL_TL_HISTORY
} WalEntryKind;

typedef struct WalEntry
{
	char	   *name;			/* the WAL file's name, without ".zst" */
	WalEntryKind kind;
	TimeLineID	tli;
	XLogSegNo	segno;
	off_t		size;
} WalEntry;

static int
wal_entry_cmp(const void *a, const void *b)
{
	const WalEntry *x = (const WalEntry *) a;
	const WalEntry *y = (const WalEntry *) b;

	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	if (x->tli != y->tli)
		return x->tli < y->tli ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The archived files of dir, sorted by segment; NULL when dir is missing. */
static WalEntry *
wal_list(const char *dir, int *count, int64 *total)
{
	DIR		   *d;
	struct dirent *de;
	WalEntry   *e;
	int			n = 0;
	int			cap = 64;
	struct stat st;

	*count = 0;
	*total = 0;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	e = palloc(sizeof(WalEntry) * cap);
	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		size_t		len = strlen(de->d_name);
		char	   *base;
		WalEntry   *w;

		if (len <= strlen(WALFILE_SUFFIX) ||
			strcmp(de->d_name + len - strlen(WALFILE_SUFFIX), WALFILE_SUFFIX) != 0 ||
			de->d_name[0] == '.')
			continue;
		base = pnstrdup(de->d_name, len - strlen(WALFILE_SUFFIX));
		if (n == cap)
		{
			cap *= 2;
			e = repalloc(e, sizeof(WalEntry) * cap);
		}
		w = &e[n];
		w->name = base;
		if (IsXLogFileName(base))
			w->kind = WAL_SEGMENT;
		else if (IsPartialXLogFileName(base))
			w->kind = WAL_PARTIAL;
		else if (IsBackupHistoryFileName(base))
			w->kind = WAL_BACKUP_HISTORY;
		else if (IsTLHistoryFileName(base))
			w->kind = WAL_TL_HISTORY;
		else
			continue;
		if (w->kind == WAL_TL_HISTORY)
		{
			w->segno = 0;
			w->tli = (TimeLineID) strtoul(base, NULL, 16);
		}
		else
			XLogFromFileName(base, &w->tli, &w->segno, wal_segment_size);
		w->size = 0;
		if (stat(psprintf("%s/%s", dir, de->d_name), &st) == 0)
			w->size = st.st_size;
		*total += w->size;
		n++;
	}
	FreeDir(d);
	qsort(e, n, sizeof(WalEntry), wal_entry_cmp);
	*count = n;
	return e;
}

/* .ready files in pg_wal/archive_status: segments waiting to be archived */
static int64
wal_ready_count(void)
{
	const char *dir = XLOGDIR "/archive_status";
	DIR		   *d;
	struct dirent *de;
	int64		n = 0;

	d = AllocateDir(dir);
	while ((de = ReadDir(d, dir)) != NULL)
	{
		size_t		len = strlen(de->d_name);

		if (len > 6 && strcmp(de->d_name + len - 6, ".ready") == 0)
			n++;
	}
	FreeDir(d);
	return n;
}

static char *
wal_sysid(const char *dir)
{
	char	   *data;
	size_t		len;
	bool		missing;

	if (walfile_read_all(psprintf("%s/%s", dir, WALFILE_SYSID_FILE), &data, &len,
						 &missing) != NULL || missing)
		return NULL;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	return data;
}

/*
 * steward.wal_archive_summary(): one row about the archive for the view
 * steward.wal_archive_status; no row for roles that may not see backups.
 */
Datum
steward_wal_archive_summary(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	char	   *dir = steward_wal_directory();
	WalEntry   *e = NULL;
	int			n = 0;
	int64		total = 0;
	int			i;
	int			first = -1;
	int			last = -1;
	char	   *sysid = NULL;
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		funcctx->max_calls =
			DatumGetBool(DirectFunctionCall1(steward_backup_allowed, (Datum) 0)) ? 1 : 0;
	}
	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr >= funcctx->max_calls)
		SRF_RETURN_DONE(funcctx);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (dir)
	{
		e = wal_list(dir, &n, &total);
		sysid = wal_sysid(dir);
	}
	for (i = 0; i < n; i++)
		if (e[i].kind == WAL_SEGMENT)
		{
			if (first < 0)
				first = i;
			last = i;
		}
	values[0] = dir ? CStringGetTextDatum(dir) : (Datum) 0;
	nulls[0] = dir == NULL;
	values[1] = Int64GetDatum(n);
	values[2] = Int64GetDatum(total);
	values[3] = first >= 0 ? CStringGetTextDatum(e[first].name) : (Datum) 0;
	nulls[3] = first < 0;
	values[4] = last >= 0 ? CStringGetTextDatum(e[last].name) : (Datum) 0;
	nulls[4] = last < 0;
	values[5] = Int64GetDatum(wal_ready_count());
	values[6] = BoolGetDatum(steward_backup_encryption_key_file &&
							 steward_backup_encryption_key_file[0] != '\0');
	values[7] = sysid ? CStringGetTextDatum(sysid) : (Datum) 0;
	nulls[7] = sysid == NULL;
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static bool
wal_all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * The oldest start LSN of the complete physical backups in the backup
 * directory that belong to the cluster whose WAL is archived (sysid).
 */
static bool
wal_oldest_backup(const char *sysid, XLogRecPtr *lsn, char **backup)
{
	DIR		   *d;
	struct dirent *de;
	bool		found = false;

	d = AllocateDir(steward_backup_directory);
	while ((de = ReadDir(d, steward_backup_directory)) != NULL)
	{
		char	   *json;
		size_t		len;
		bool		missing;
		char	   *kind;
		char	   *their;
		uint64		start;

		if (!wal_all_digits(de->d_name))
			continue;
		if (walfile_read_all(psprintf("%s/%s/backup.json", steward_backup_directory,
									  de->d_name), &json, &len, &missing) != NULL ||
			missing)
			continue;
		kind = walfile_json_field(json, "kind");
		their = walfile_json_field(json, "system_identifier");
		if (kind == NULL || strcmp(kind, "physical") != 0 ||
			(sysid && (their == NULL || strcmp(their, sysid) != 0)) ||
			!walfile_parse_lsn(walfile_json_field(json, "start_lsn"), &start))
			continue;
		if (!found || start < *lsn)
		{
			*lsn = start;
			*backup = pstrdup(de->d_name);
			found = true;
		}
	}
	FreeDir(d);
	return found;
}

/*
 * Retention: deletes archived segments (and partial segments and backup
 * history files) below the segment of the oldest physical backup's start;
 * timeline history files stay.  Without a physical backup nothing goes.
 * Returns how many files were deleted; *summary says what was done.
 */
int
steward_wal_prune(char **summary)
{
	char	   *dir = steward_wal_directory();
	WalEntry   *e;
	int			n;
	int64		total;
	char	   *sysid;
	XLogRecPtr	oldest = InvalidXLogRecPtr;
	char	   *backup = NULL;
	XLogSegNo	boundary;
	int			deleted = 0;
	int			i;

	*summary = NULL;
	if (dir == NULL || (e = wal_list(dir, &n, &total)) == NULL)
		return 0;
	sysid = wal_sysid(dir);
	if (!wal_oldest_backup(sysid, &oldest, &backup))
	{
		*summary = psprintf("archived WAL kept: no physical backup of this cluster in %s",
							steward_backup_directory);
		return 0;
	}
	XLByteToSeg(oldest, boundary, wal_segment_size);
	for (i = 0; i < n; i++)
	{
		char	   *path;

		if (e[i].kind == WAL_TL_HISTORY || e[i].segno >= boundary)
			continue;
		path = psprintf("%s/%s%s", dir, e[i].name, WALFILE_SUFFIX);
		if (unlink(path) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove archived WAL file \"%s\": %m", path)));
		else
			deleted++;
	}
	if (deleted > 0)
		fsync_fname(dir, true);
	*summary = psprintf("%d archived WAL files before %X/%X (the start of backup %s) deleted",
						deleted, LSN_FORMAT_ARGS(oldest), backup);
	return deleted;
}

/*
 * backup_verify(): every segment from the backup's start to the newest
 * archived one is in the archive (on the backup's timeline or a later one).
 * Adds check "wal_continuity"; nothing when WAL is not archived here.
 */
void
steward_wal_check_continuity(const char *meta_json, StringInfo checks, bool *ok)
{
	char	   *dir = steward_wal_directory();
	WalEntry   *e;
	int			n;
	int64		total;
	uint64		start;
	char	   *tli_text = walfile_json_field(meta_json, "timeline");
	TimeLineID	tli = tli_text ? (TimeLineID) strtoul(tli_text, NULL, 10) : 1;
	XLogSegNo	first;
	XLogSegNo	expect;
	XLogSegNo	newest = 0;
	bool		any = false;
	char		fname[MAXFNAMELEN];
	int			i;

	if (dir == NULL || (e = wal_list(dir, &n, &total)) == NULL)
		return;
	if (!walfile_parse_lsn(walfile_json_field(meta_json, "start_lsn"), &start))
	{
		backup_checks_add(checks, "wal_continuity", false,
						  "backup.json has no start_lsn");
		*ok = false;
		return;
	}
	XLByteToSeg((XLogRecPtr) start, first, wal_segment_size);
	expect = first;
	for (i = 0; i < n; i++)
	{
		if (e[i].kind != WAL_SEGMENT || e[i].tli < tli || e[i].segno < first)
			continue;
		if (e[i].segno > expect)
		{
			XLogFileName(fname, e[i].tli, expect, wal_segment_size);
			backup_checks_add(checks, "wal_continuity", false,
							  psprintf("archived WAL has a gap: segment %s (and %llu more) missing before %s",
									   fname,
									   (unsigned long long) (e[i].segno - expect - 1),
									   e[i].name));
			*ok = false;
			return;
		}
		if (e[i].segno == expect)
			expect++;
		newest = e[i].segno;
		any = true;
	}
	XLogFileName(fname, tli, first, wal_segment_size);
	if (!any)
		backup_checks_add(checks, "wal_continuity", true,
						  psprintf("no WAL archived from the backup's start (segment %s) yet",
								   fname));
	else
		backup_checks_add(checks, "wal_continuity", true,
						  psprintf("%llu archived segments from %s on, without a gap",
								   (unsigned long long) (newest - first + 1), fname));
}

/* 'text' for the shell */
static void
wal_shell_quote(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '\'');
	for (; *s; s++)
	{
		if (*s == '\'')
			appendStringInfoString(buf, "'\\''");
		else
			appendStringInfoChar(buf, *s);
	}
	appendStringInfoChar(buf, '\'');
}

/*
 * The restore drill of a physical backup replays archived WAL up to the
 * newest segment: with an archive in the backup directory, this writes
 * recovery.signal into the drill's copy and returns the restore_command
 * setting (as "restore_command=..." for postgres -c); without one, an
 * empty restore_command.
 */
char *
steward_wal_drill_setup(const char *datadir)
{
	char	   *dir = steward_wal_directory();
	struct stat st;
	StringInfoData cmd;
	List	   *paths = NIL;
	ListCell   *lc;

	if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return "restore_command=";
	backup_write_file(psprintf("%s/recovery.signal", datadir), "", 0);
	initStringInfo(&cmd);
	appendStringInfoString(&cmd, "restore_command=");
	wal_shell_quote(&cmd, backup_program_path("pg_steward_wal_restore"));
	appendStringInfoString(&cmd, " -B ");
	wal_shell_quote(&cmd, steward_backup_directory);
	if (steward_backup_encryption_key_file && steward_backup_encryption_key_file[0] != '\0')
	{
		appendStringInfoString(&cmd, " -k ");
		wal_shell_quote(&cmd, steward_backup_encryption_key_file);
	}
	if (steward_backup_encryption_old_key_files &&
		steward_backup_encryption_old_key_files[0] != '\0' &&
		SplitDirectoriesString(pstrdup(steward_backup_encryption_old_key_files), ',', &paths))
	{
		foreach(lc, paths)
		{
			appendStringInfoString(&cmd, " -K ");
			wal_shell_quote(&cmd, (char *) lfirst(lc));
		}
	}
	appendStringInfoString(&cmd, " %f %p");
	return cmd.data;
}
