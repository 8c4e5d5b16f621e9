/*-------------------------------------------------------------------------
 *
 * child.c
 *	  Running the server's own client programs as child processes.
 *
 * A backup, a verification or a drill runs pg_dump, pg_basebackup,
 * pg_verifybackup, pg_restore, psql or postgres from the server's own bin
 * directory: fork and exec, no shell, each child the leader of a process
 * group of its own (pg_dump -j and pg_basebackup -X stream fork helpers).
 * The parent waits on its latch, woken by SIGCHLD, and checks for
 * interrupts between waits, so a cancel, a job's max_runtime, a shutdown
 * (SIGTERM) or the postmaster's death end the wait at once; the error
 * cleanup and the exit callback then terminate every group still alive
 * (backup_child_stop_all): SIGTERM, a short grace period, SIGKILL.
 *
 * A child that crashes fails the operation: it is not a server process, so
 * the postmaster never sees it and never restarts the cluster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "backup/backup_int.h"

/* Children alive in this process, for the cleanup. */
#define CHILD_MAX	8
static pid_t child_live[CHILD_MAX];

/* A group that ignores SIGTERM is killed after this long. */
#define CHILD_GRACE_MS	5000

static void
child_sigchld(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

/* Full path of program 'name' in the server's bin directory. */
char *
backup_program_path(const char *name)
{
	char		bindir[MAXPGPATH];
	char	   *path;

	strlcpy(bindir, my_exec_path, MAXPGPATH);
	get_parent_directory(bindir);
	path = psprintf("%s/%s", bindir, name);
	if (access(path, X_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not find program \"%s\" in the server's bin directory: %m",
						path),
				 errhint("Install the PostgreSQL client programs of the server's version.")));
	return path;
}

static void
child_register(pid_t pid)
{
	int			i;

	for (i = 0; i < CHILD_MAX; i++)
		if (child_live[i] == 0)
		{
			child_live[i] = pid;
			return;
		}
}

static void
child_unregister(pid_t pid)
{
	int			i;

	for (i = 0; i < CHILD_MAX; i++)
		if (child_live[i] == pid)
			child_live[i] = 0;
}

/*
 * Fork a child process of 'c' (the leader of a process group of its own):
 * returns in both, 0 in the child.  The child's stdin is 'in_fd' (-1:
 * /dev/null), its stdout 'out_fd' or else 'out_path' (NULL: the log), its
 * stderr appended to 'log_path'; no other descriptor of the server stays
 * open in it.
 */
static pid_t
child_fork(BackupChild *c, const char *name, int in_fd, int out_fd,
		   const char *out_path, const char *log_path)
{
	pid_t		pid;
	int			i;

	for (i = 0; i < CHILD_MAX; i++)
		if (child_live[i] == 0)
			break;
	if (i == CHILD_MAX)
		elog(ERROR, "too many pg_steward child processes");

	memset(c, 0, sizeof(BackupChild));
	c->name = pstrdup(name);
	c->log_path = pstrdup(log_path);

	pqsignal(SIGCHLD, child_sigchld);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start %s: %m", c->name)));
	if (pid == 0)
	{
		/* the child: nothing of the server's state may be touched here */
		sigset_t	none;
		int			fd;
		long		maxfd;
		static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE,
		SIGALRM, SIGUSR1, SIGUSR2, SIGCHLD};

		(void) setpgid(0, 0);
		for (i = 0; i < lengthof(sigs); i++)
			signal(sigs[i], SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);

		fd = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(126);
		if (out_fd >= 0 && dup2(out_fd, 1) < 0)
			_exit(126);
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		if (out_fd < 0)
		{
			if (out_path != NULL)
				fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
		}
		/* the server's files, sockets and pipes stay with the server */
		maxfd = sysconf(_SC_OPEN_MAX);
		if (maxfd < 0 || maxfd > 65536)
			maxfd = 65536;
		for (fd = 3; fd < maxfd; fd++)
			(void) close(fd);
		return 0;
	}
	/* both sides set the group, so that a kill right away reaches it */
	(void) setpgid(pid, pid);
	c->pid = pid;
	c->running = true;
	child_register(pid);
	return pid;
}

/*
 * Start argv[0] (a full path) with stdin from /dev/null, stdout to
 * 'out_path' (NULL: the log) and stderr appended to 'log_path'.
 */
void
backup_child_start(BackupChild *c, char **argv, const char *out_path,
				   const char *log_path)
{
	const char *name = last_dir_separator(argv[0]) ? last_dir_separator(argv[0]) + 1 : argv[0];

	if (child_fork(c, name, -1, -1, out_path, log_path) == 0)
	{
		setenv("PGAPPNAME", "pg_steward backup", 1);
		unsetenv("PGOPTIONS");
		unsetenv("PGPASSWORD");
		execv(argv[0], argv);
		fprintf(stderr, "could not execute \"%s\": %s\n", argv[0], strerror(errno));
		_exit(127);
	}
}

/*
 * Run main(arg) in a child process, with stdin 'in_fd' and stdout
 * 'out_fd'; it must use nothing of the server but the memory it inherits
 * (no palloc, no ereport, no shared memory), and ends with _exit().
 */
void
backup_child_fork(BackupChild *c, const char *name, int in_fd, int out_fd,
				  const char *log_path, void (*main) (void *arg), void *arg)
{
	if (child_fork(c, name, in_fd, out_fd, NULL, log_path) == 0)
	{
		main(arg);
		_exit(0);
	}
}

/* Reap the child if it has exited; true then, with c->status set. */
static bool
child_reap(BackupChild *c, bool block)
{
	int			status;
	pid_t		r;

	if (!c->running)
		return true;
	r = waitpid(c->pid, &status, block ? 0 : WNOHANG);
	if (r == c->pid || (r < 0 && errno == ECHILD))
	{
		c->running = false;
		c->status = (r == c->pid) ? status : -1;
		/* helpers left behind by the leader go with it */
		(void) kill(-c->pid, SIGKILL);
		child_unregister(c->pid);
		return true;
	}
	return false;
}

/* Has the child exited?  Never waits; reaps it when it has. */
bool
backup_child_exited(BackupChild *c)
{
	return child_reap(c, false);
}

/*
 * Wait for the child to exit, processing interrupts; true when it exited,
 * false after timeout_ms (-1: no limit).
 */
bool
backup_child_wait(BackupChild *c, long timeout_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		long		wait_ms = 1000;

		CHECK_FOR_INTERRUPTS();
		if (child_reap(c, false))
			return true;
		if (timeout_ms >= 0)
		{
			long		left = timeout_ms -
				(long) ((GetCurrentTimestamp() - start) / 1000);

			if (left <= 0)
				return false;
			wait_ms = Min(wait_ms, left);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * backup_child_wait() that also returns (false) as soon as 'fd' is
 * readable (PGINVALID_SOCKET: never), so that the caller can work while the
 * child runs; true when the child has exited.
 */
bool
backup_child_wait_fd(BackupChild *c, pgsocket fd, long timeout_ms)
{
	if (fd == PGINVALID_SOCKET)
		return backup_child_wait(c, timeout_ms);
	CHECK_FOR_INTERRUPTS();
	if (child_reap(c, false))
		return true;
	(void) WaitLatchOrSocket(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_READABLE,
							 fd, timeout_ms < 0 ? 1000 : Min(timeout_ms, 1000),
							 PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	return child_reap(c, false);
}

/* The exit code, or -1 for a signal (with *signo set). */
int
backup_child_exit_code(BackupChild *c, int *signo)
{
	*signo = 0;
	if (c->status == -1)
		return -1;
	if (WIFEXITED(c->status))
		return WEXITSTATUS(c->status);
	if (WIFSIGNALED(c->status))
		*signo = WTERMSIG(c->status);
	return -1;
}

/*
 * End child group 'pid': 'sig' to the group, up to CHILD_GRACE_MS for the
 * leader to exit, then SIGKILL to the group.  No interrupts are processed
 * (this runs in error cleanup and at exit).
 */
static void
child_stop_pid(pid_t pid, int sig)
{
	int			waited = 0;
	int			status;

	(void) kill(-pid, sig);
	while (waitpid(pid, &status, WNOHANG) == 0)
	{
		if (waited >= CHILD_GRACE_MS)
		{
			(void) kill(-pid, SIGKILL);
			(void) waitpid(pid, &status, 0);
			break;
		}
		pg_usleep(10000L);
		waited += 10;
	}
	(void) kill(-pid, SIGKILL);
	child_unregister(pid);
}

/* Stop one child with 'sig' first (SIGINT: a postgres fast shutdown). */
void
backup_child_stop(BackupChild *c, int sig)
{
	if (!c->running)
		return;
	child_stop_pid(c->pid, sig);
	c->running = false;
	c->status = -1;
}

/* Every child group of this process: error cleanup and exit. */
void
backup_child_stop_all(void)
{
	int			i;

	for (i = 0; i < CHILD_MAX; i++)
		if (child_live[i] != 0)
			child_stop_pid(child_live[i], SIGTERM);
}

/* The last lines of a log file (at most about 1 kB), or "". */
char *
backup_log_tail(const char *path)
{
	int			fd = open(path, O_RDONLY);
	off_t		size;
	char		buf[1024];
	ssize_t		n;
	char	   *p;

	if (fd < 0)
		return pstrdup("");
	size = lseek(fd, 0, SEEK_END);
	(void) lseek(fd, size > (off_t) sizeof(buf) - 1 ? size - (off_t) sizeof(buf) + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return pstrdup("");
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	p = buf;
	/* start at a line boundary when the tail was cut */
	if (size > (off_t) sizeof(buf) - 1 && strchr(p, '\n'))
		p = strchr(p, '\n') + 1;
	return pstrdup(p);
}

/*
 * An exited child's exit code other than 0 is an error naming the program,
 * with the end of its log as the detail.
 */
void
backup_child_check(BackupChild *c)
{
	int			code;
	int			signo;

	code = backup_child_exit_code(c, &signo);
	if (code != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 signo ? errmsg("%s was terminated by signal %d", c->name, signo)
				 : errmsg("%s failed with exit code %d", c->name, code),
				 errdetail("%s", backup_log_tail(c->log_path))));
}

/* Run a program to its end; backup_child_check() then. */
void
backup_child_run(char **argv, const char *out_path, const char *log_path)
{
	BackupChild c;

	backup_child_start(&c, argv, out_path, log_path);
	(void) backup_child_wait(&c, -1);
	backup_child_check(&c);
}
