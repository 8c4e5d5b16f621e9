/*-------------------------------------------------------------------------
 *
 * listen.c
 *	  steward.metrics_listen: a background worker that serves GET /metrics
 *	  over plain HTTP, so Prometheus scrapes the server directly.
 *
 * The worker ("pg_steward metrics") is registered at server start when
 * the setting is not empty.  It connects to no database (it reads only
 * pg_database) and handles one connection at a time: it reads the request
 * (at most METRICS_MAX_REQUEST bytes within METRICS_READ_TIMEOUT_MS), and
 * answers only "GET /metrics": 404 for another path, 405 for another
 * method, 400 for anything it cannot read.  For a scrape it starts, one
 * database after the other, a short-lived worker ("pg_steward metrics
 * collector") connected to each database of steward.database_list that
 * runs the fixed statement SELECT steward.metrics() (when the extension
 * is installed there) and hands the text back in a dynamic shared memory
 * segment.  Nothing of the request reaches SQL.  The listener merges the
 * texts, one HELP and TYPE per metric family, every sample with a
 * database label, and adds steward_up{database} (1: collected).
 *
 * The scheduler is never involved: the listener and its collectors are
 * workers of their own, and a scrape that takes too long is cut off
 * (METRICS_DB_TIMEOUT_MS per database, the collector terminated).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/pg_steward.h"
#include "health/health.h"
#include "health/health_int.h"

#define METRICS_MAX_REQUEST		8192	/* bytes of request line and headers */
#define METRICS_READ_TIMEOUT_MS 5000	/* to receive them */
#define METRICS_WRITE_TIMEOUT_MS 10000	/* to send the answer */
#define METRICS_DB_TIMEOUT_MS	10000	/* a database's collector */
#define METRICS_MAX_TEXT		(8 * 1024 * 1024)	/* one database's text */

/* What a collector hands back. */
typedef struct MetricsShared
{
	int			status;			/* METRICS_* */
	Size		len;
	char		text[FLEXIBLE_ARRAY_MEMBER];
} MetricsShared;

#define METRICS_PENDING		0
#define METRICS_DONE		1
#define METRICS_NO_EXTENSION 2
#define METRICS_TOO_LARGE	3

/* A metric family of the merged text, in the order first seen. */
typedef struct MetricsFamily
{
	char	   *name;
	char	   *help;			/* the whole "# HELP" line, or NULL */
	char	   *type;			/* the whole "# TYPE" line, or NULL */
	StringInfoData samples;
} MetricsFamily;

void
steward_metrics_register(void)
{
	BackgroundWorker worker = {0};

	if (steward_metrics_listen == NULL || steward_metrics_listen[0] == '\0')
		return;
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* a failed bind (address in use) is retried, but not in a tight loop */
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, STEWARD_LIBRARY_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "steward_metrics_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "pg_steward metrics", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "pg_steward metrics", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ----------------------------------------------------------------------
 * The collector: one database's steward.metrics()
 * ----------------------------------------------------------------------
 */
void
steward_metrics_collect_main(Datum main_arg)
{
	dsm_segment *seg;
	MetricsShared *shared;
	char		dbname[NAMEDATALEN];
	int			ret;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		proc_exit(0);			/* the listener gave up on it */
	shared = dsm_segment_address(seg);
	strlcpy(dbname, MyBgworkerEntry->bgw_extra, NAMEDATALEN);

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname("pg_steward metrics collector");
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("statement_timeout", "10s", PGC_USERSET, PGC_S_SESSION);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT steward.metrics()");
	/* fixed statements: nothing of the request reaches them */
	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_steward'", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		shared->status = METRICS_NO_EXTENSION;
	else
	{
		bool		isnull;
		Datum		d;
		text	   *t;
		Size		len;

		ret = SPI_execute("SELECT steward.metrics()", false, 0);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		t = isnull ? NULL : DatumGetTextPP(d);
		len = t ? VARSIZE_ANY_EXHDR(t) : 0;
		if (len > METRICS_MAX_TEXT)
			shared->status = METRICS_TOO_LARGE;
		else
		{
			if (len > 0)
				memcpy(shared->text, VARDATA_ANY(t), len);
			shared->len = len;
			pg_write_barrier();
			shared->status = METRICS_DONE;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/* ----------------------------------------------------------------------
 * The listener
 * ----------------------------------------------------------------------
 */

static int
metrics_cmp_names(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/* The names of the databases to collect (those the workers serve), sorted. */
static List *
metrics_databases(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, steward_served_databases())
		result = lappend(result, ((StewardDatabase *) lfirst(lc))->name);
	list_sort(result, metrics_cmp_names);
	return result;
}

/*
 * Run a collector for 'dbname' and wait for it, at most
 * METRICS_DB_TIMEOUT_MS.  The text (palloc'd) or NULL; *installed is
 * false when the database has no pg_steward.
 */
static char *
metrics_collect(const char *dbname, bool *installed)
{
	dsm_segment *seg;
	MetricsShared *shared;
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;
	TimestampTz deadline;
	char	   *result = NULL;
	pid_t		pid;

	*installed = true;
	seg = dsm_create(offsetof(MetricsShared, text) + METRICS_MAX_TEXT, 0);
	shared = dsm_segment_address(seg);
	shared->status = METRICS_PENDING;
	shared->len = 0;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, STEWARD_LIBRARY_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "steward_metrics_collect_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward metrics collector %s", dbname);
	strlcpy(worker.bgw_type, "pg_steward metrics collector", BGW_MAXLEN);
	strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("pg_steward metrics could not start a collector for database \"%s\"", dbname),
				 errhint("Increase max_worker_processes.")));
		dsm_detach(seg);
		return NULL;
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), METRICS_DB_TIMEOUT_MS);
	for (;;)
	{
		if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
			break;
		if (GetCurrentTimestamp() >= deadline)
		{
			ereport(LOG,
					(errmsg("pg_steward metrics: the collector for database \"%s\" took longer than %d ms",
							dbname, METRICS_DB_TIMEOUT_MS)));
			TerminateBackgroundWorker(handle);
			break;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pg_read_barrier();
	if (shared->status == METRICS_DONE)
		result = pnstrdup(shared->text, shared->len);
	else if (shared->status == METRICS_NO_EXTENSION)
		*installed = false;
	else if (shared->status == METRICS_TOO_LARGE)
		ereport(LOG,
				(errmsg("pg_steward metrics: the metrics of database \"%s\" exceed %d bytes",
						dbname, METRICS_MAX_TEXT)));
	dsm_detach(seg);
	return result;
}

/* A label value escaped for the text format. */
static void
metrics_append_label(StringInfo buf, const char *value)
{
	const char *p;

	for (p = value; *p; p++)
	{
		if (*p == '\\' || *p == '"')
			appendStringInfoChar(buf, '\\');
		if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *p);
	}
}

static MetricsFamily *
metrics_family(List **families, const char *name, int len)
{
	ListCell   *lc;
	MetricsFamily *f;

	foreach(lc, *families)
	{
		f = lfirst(lc);
		if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
			return f;
	}
	f = palloc0(sizeof(MetricsFamily));
	f->name = pnstrdup(name, len);
	initStringInfo(&f->samples);
	*families = lappend(*families, f);
	return f;
}

/* Add one database's text to the families, each sample labelled with it. */
static void
metrics_merge(List **families, const char *dbname, char *text)
{
	char	   *line;
	char	   *next;

	for (line = text; line && *line; line = next)
	{
		MetricsFamily *f;
		int			namelen;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)
		{
			namelen = strcspn(line + 7, " ");
			f = metrics_family(families, line + 7, namelen);
			if (line[2] == 'H' && f->help == NULL)
				f->help = pstrdup(line);
			else if (line[2] == 'T' && f->type == NULL)
				f->type = pstrdup(line);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		namelen = strcspn(line, "{ ");
		f = metrics_family(families, line, namelen);
		appendBinaryStringInfo(&f->samples, line, namelen);
		appendStringInfoString(&f->samples, "{database=\"");
		metrics_append_label(&f->samples, dbname);
		appendStringInfoChar(&f->samples, '"');
		if (line[namelen] == '{')
		{
			if (line[namelen + 1] != '}')
				appendStringInfoChar(&f->samples, ',');
			appendStringInfoString(&f->samples, line + namelen + 1);
		}
		else
		{
			appendStringInfoChar(&f->samples, '}');
			appendStringInfoString(&f->samples, line + namelen);
		}
		appendStringInfoChar(&f->samples, '\n');
	}
}

/* The body of a scrape: every database's metrics, merged. */
static void
metrics_scrape(StringInfo body)
{
	List	   *dbs = metrics_databases();
	List	   *families = NIL;
	StringInfoData up;
	ListCell   *lc;

	initStringInfo(&up);
	foreach(lc, dbs)
	{
		char	   *dbname = lfirst(lc);
		bool		installed;
		char	   *text = metrics_collect(dbname, &installed);

		if (!installed)
			continue;
		appendStringInfoString(&up, "steward_up{database=\"");
		metrics_append_label(&up, dbname);
		appendStringInfo(&up, "\"} %d\n", text != NULL ? 1 : 0);
		if (text)
			metrics_merge(&families, dbname, text);
	}
	appendStringInfoString(body,
						   "# HELP steward_up Whether the metrics of a database with pg_steward were collected (1) or not (0).\n"
						   "# TYPE steward_up gauge\n");
	appendStringInfoString(body, up.data);
	foreach(lc, families)
	{
		MetricsFamily *f = lfirst(lc);

		if (f->help)
			appendStringInfo(body, "%s\n", f->help);
		if (f->type)
			appendStringInfo(body, "%s\n", f->type);
		appendStringInfoString(body, f->samples.data);
	}
}

/*
 * Wait until 'sock' is readable or writable, or the deadline passes
 * (false).
 */
static bool
metrics_wait(int sock, int event, TimestampTz deadline)
{
	for (;;)
	{
		long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		int			rc;

		if (ms <= 0)
			return false;
		rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | event,
							   sock, ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & event)
			return true;
	}
}

static void
metrics_send(int sock, const char *status, const char *body, Size bodylen)
{
	StringInfoData out;
	Size		done = 0;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   METRICS_WRITE_TIMEOUT_MS);

	initStringInfo(&out);
	appendStringInfo(&out,
					 "HTTP/1.0 %s\r\n"
					 "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
					 "Content-Length: %zu\r\n"
					 "Connection: close\r\n\r\n", status, bodylen);
	appendBinaryStringInfo(&out, body, bodylen);
	while (done < out.len)
	{
		ssize_t		n = send(sock, out.data + done, out.len - done, 0);

		if (n > 0)
			done += n;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		{
			if (!metrics_wait(sock, WL_SOCKET_WRITEABLE, deadline))
				break;
		}
		else
			break;
	}
	pfree(out.data);
}

static void
metrics_send_text(int sock, const char *status, const char *text)
{
	metrics_send(sock, status, text, strlen(text));
}

/* One connection: read the request head, answer, close. */
static void
metrics_serve(int sock)
{
	char		buf[METRICS_MAX_REQUEST + 1];
	int			len = 0;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   METRICS_READ_TIMEOUT_MS);
	char	   *eol;

	for (;;)
	{
		ssize_t		n;

		if (len >= METRICS_MAX_REQUEST)
		{
			metrics_send_text(sock, "431 Request Header Fields Too Large", "request too large\n");
			return;
		}
		n = recv(sock, buf + len, METRICS_MAX_REQUEST - len, 0);
		if (n > 0)
		{
			len += n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
				break;
			continue;
		}
		if (n == 0)
			break;				/* the client finished sending */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		{
			if (!metrics_wait(sock, WL_SOCKET_READABLE, deadline))
			{
				metrics_send_text(sock, "408 Request Timeout", "request timeout\n");
				return;
			}
			continue;
		}
		return;
	}
	buf[len] = '\0';
	eol = strpbrk(buf, "\r\n");
	if (eol == NULL)
	{
		metrics_send_text(sock, "400 Bad Request", "bad request\n");
		return;
	}
	*eol = '\0';
	if (strncmp(buf, "GET ", 4) != 0)
	{
		metrics_send_text(sock, "405 Method Not Allowed", "only GET /metrics\n");
		return;
	}
	if (strcmp(buf, "GET /metrics HTTP/1.0") != 0 && strcmp(buf, "GET /metrics HTTP/1.1") != 0 &&
		strncmp(buf, "GET /metrics?", 13) != 0)
	{
		metrics_send_text(sock, "404 Not Found", "only GET /metrics\n");
		return;
	}
	{
		StringInfoData body;

		initStringInfo(&body);
		pgstat_report_activity(STATE_RUNNING, "GET /metrics");
		metrics_scrape(&body);
		pgstat_report_activity(STATE_IDLE, NULL);
		metrics_send(sock, "200 OK", body.data, body.len);
	}
}

/* The listening socket, non-blocking. */
static int
metrics_listen_socket(void)
{
	char	   *host;
	int			port;
	char		portstr[16];
	struct addrinfo hints = {0};
	struct addrinfo *addrs;
	struct addrinfo *ai;
	int			sock = -1;
	int			rc;

	if (!steward_parse_listen(steward_metrics_listen, &host, &port))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for steward.metrics_listen: \"%s\"", steward_metrics_listen)));
	snprintf(portstr, sizeof(portstr), "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, portstr, &hints, &addrs);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not resolve steward.metrics_listen \"%s\": %s",
						steward_metrics_listen, gai_strerror(rc))));
	for (ai = addrs; ai != NULL; ai = ai->ai_next)
	{
		int			one = 1;

		sock = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (sock < 0)
			continue;
		(void) setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(sock, ai->ai_addr, ai->ai_addrlen) == 0 && listen(sock, 8) == 0)
			break;
		close(sock);
		sock = -1;
	}
	freeaddrinfo(addrs);
	if (sock < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not listen on steward.metrics_listen \"%s\": %m", steward_metrics_listen)));
	if (!pg_set_noblock(sock))
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not set the metrics socket non-blocking: %m")));
	return sock;
}

void
steward_metrics_main(Datum main_arg)
{
	int			listener;
	MemoryContext scratch;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_steward metrics");

	listener = metrics_listen_socket();
	ereport(LOG, (errmsg("pg_steward metrics listening on %s", steward_metrics_listen)));
	scratch = AllocSetContextCreate(TopMemoryContext, "pg_steward metrics request",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			rc;

		rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
							   listener, -1, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (rc & WL_SOCKET_READABLE)
		{
			int			conn = accept(listener, NULL, NULL);
			MemoryContext old;

			if (conn < 0)
				continue;
			if (!pg_set_noblock(conn))
			{
				close(conn);
				continue;
			}
			/* (an error ends the worker, which closes the connection) */
			old = MemoryContextSwitchTo(scratch);
			metrics_serve(conn);
			close(conn);
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
		}
	}
}
