/*-------------------------------------------------------------------------
 *
 * hasher.c
 *	  The SHA-256 of a backup's files, in child processes that read them in
 *	  parallel at a lower priority.
 *
 * A physical backup checks every file it holds against pg_basebackup's
 * manifest (verify.c).  The files are hashed by a few child processes of
 * the backup worker, forked without exec (backup_child_fork): each reads
 * requests (a path) from a pipe of its own and writes its results (the
 * digest, the bytes read and the file's identity after reading) to one
 * pipe that they share; a result is smaller than PIPE_BUF, so their writes
 * never interleave.  The largest file waiting goes first, and each process
 * has at most HASHER_DEPTH requests, so that the last to finish is not
 * the one that was handed the largest file last.
 *
 * With a key, a child seals each file in place as it hashes it (the
 * plaintext's digest and the sealed file's: crypt.c) and starts writing it
 * to disk.
 *
 * The children run at steward.backup_nice: the worker itself keeps the
 * server's priority.  A child that exits before it is told to fails the
 * backup, like any other child program.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "archive/crypt.h"
#include "archive/walfile.h"
#include "backup/backup_int.h"

#define HASHER_MAX		4
#define HASHER_DEPTH	2
#define HASHER_BUFSIZE	(1024 * 1024)

typedef struct HasherRequest
{
	char		rel[MAXPGPATH];
} HasherRequest;

typedef struct HasherResult
{
	int			proc;			/* the process's index */
	int			err;
	int64		size;
	int64		sealed_size;
	struct stat st;
	char		sha256[CRYPT_SHA256_HEX];
	char		sealed_sha256[CRYPT_SHA256_HEX];
	char		errmsg[CRYPT_ERRLEN];
	char		rel[MAXPGPATH];
} HasherResult;

StaticAssertDecl(sizeof(HasherResult) <= PIPE_BUF,
				 "a result must be written to the shared pipe at once");
StaticAssertDecl(sizeof(((BackupHashed *) NULL)->sha256) == CRYPT_SHA256_HEX,
				 "a digest in hex");
StaticAssertDecl(sizeof(HasherRequest) * HASHER_DEPTH <= PIPE_BUF,
				 "the requests in flight must fit in a pipe");

typedef struct HasherWaiting
{
	char	   *rel;
	int64		size;
} HasherWaiting;

struct BackupHasher
{
	const char *dir;
	int			nice;
	bool		seal;
	WalKey		key;			/* seal: inherited by the children */
	int			nprocs;
	BackupChild procs[HASHER_MAX];
	int			req_fd[HASHER_MAX]; /* write ends; -1: closed */
	int			inflight[HASHER_MAX];
	int			res_fd;			/* read end, non-blocking */
	HasherResult res;			/* being read */
	size_t		res_len;
	HasherWaiting *waiting;
	int			nwaiting;
	int			maxwaiting;
};

/* For the error cleanup: the pipes of this process's hasher. */
static BackupHasher *hasher_current = NULL;

/* In a child: its index (set before the fork). */
static int	hasher_self = 0;

/*
 * In the child: hash data/<rel>; 0, or the errno of what failed.
 */
static int
hasher_hash(const char *path, EVP_MD_CTX *md, unsigned char *buf,
			HasherResult *res)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	struct stat before;
	int			fd = open(path, O_RDONLY | PG_BINARY | O_CLOEXEC, 0);
	int			i;

	if (fd < 0)
		return errno;
	if (fstat(fd, &before) != 0 || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
	{
		close(fd);
		return ENOMEM;
	}
	for (;;)
	{
		ssize_t		r = read(fd, buf, HASHER_BUFSIZE);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
		{
			int			save = errno;

			close(fd);
			return save;
		}
		if (r == 0)
			break;
		if (EVP_DigestUpdate(md, buf, r) != 1)
		{
			close(fd);
			return ENOMEM;
		}
		res->size += r;
	}
	if (fstat(fd, &res->st) != 0 || EVP_DigestFinal_ex(md, digest, &dlen) != 1)
	{
		int			save = errno;

		close(fd);
		return save ? save : ENOMEM;
	}
	close(fd);
	/* changed while it was read: the parent reads it again (size -1) */
	if (before.st_size != res->st.st_size ||
		BACKUP_MTIME(&before).tv_sec != BACKUP_MTIME(&res->st).tv_sec ||
		BACKUP_MTIME(&before).tv_nsec != BACKUP_MTIME(&res->st).tv_nsec ||
		BACKUP_CTIME(&before).tv_sec != BACKUP_CTIME(&res->st).tv_sec ||
		BACKUP_CTIME(&before).tv_nsec != BACKUP_CTIME(&res->st).tv_nsec)
		res->st.st_size = -1;
	for (i = 0; i < 32; i++)
		snprintf(res->sha256 + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

/*
 * In the child: seal data/<rel> in place, with the digests of the
 * plaintext and of the sealed file; 0, or EIO with res->errmsg.
 */
static int
hasher_seal(BackupHasher *h, const char *path, HasherResult *res)
{
	int			fd;

	if (!crypt_seal_inplace_noalloc(path, &h->key, res->sealed_sha256, &res->sealed_size,
									res->sha256, &res->size, res->errmsg,
									sizeof(res->errmsg)))
		return EIO;
	if (lstat(path, &res->st) != 0)
	{
		snprintf(res->errmsg, sizeof(res->errmsg), "could not stat \"%s\": %s",
				 path, strerror(errno));
		return EIO;
	}
	/* written to while it was sealed: the manifest check reports it */
	if (res->st.st_size != res->sealed_size)
		res->st.st_size = -1;
	/* to disk now, not all at the end */
	fd = open(path, O_RDONLY | PG_BINARY | O_CLOEXEC, 0);
	if (fd >= 0)
	{
#ifdef __linux__
		(void) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
		close(fd);
	}
	return 0;
}

/* Read exactly 'len' bytes; false at the end of the pipe. */
static bool
hasher_read_full(int fd, void *p, size_t len)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		r = read(fd, (char *) p + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += r;
	}
	return true;
}

/* The child's main loop: a request from stdin, its result to stdout. */
static void
hasher_main(void *arg)
{
	BackupHasher *h = (BackupHasher *) arg;
	static HasherRequest req;
	static HasherResult res;
	char		path[MAXPGPATH * 2];
	unsigned char *buf = malloc(HASHER_BUFSIZE);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (buf == NULL || md == NULL)
		_exit(1);
	if (h->nice > 0)
		(void) setpriority(PRIO_PROCESS, 0, h->nice);
	while (hasher_read_full(0, &req, sizeof(req)))
	{
		memset(&res, 0, sizeof(res));
		res.proc = hasher_self;
		req.rel[MAXPGPATH - 1] = '\0';
		memcpy(res.rel, req.rel, MAXPGPATH);
		snprintf(path, sizeof(path), "%s/%s", h->dir, req.rel);
		if (h->seal)
			res.err = hasher_seal(h, path, &res);
		else
			res.err = hasher_hash(path, md, buf, &res);
		if (write(1, &res, sizeof(res)) != sizeof(res))
			_exit(1);
	}
	_exit(0);
}

/*
 * Start 'nprocs' processes (at most HASHER_MAX) that hash files under
 * 'dir' at nice value 'nice', and seal them with 'seal_key' unless it is
 * NULL; their errors go to 'log_path'.
 */
BackupHasher *
backup_hasher_start(const char *dir, int nprocs, int nice, const char *log_path,
					const WalKey *seal_key)
{
	BackupHasher *h = palloc0(sizeof(BackupHasher));
	int			res[2];
	int			i;

	h->dir = pstrdup(dir);
	h->nice = nice;
	if (seal_key != NULL)
	{
		h->seal = true;
		h->key = *seal_key;
	}
	h->res_fd = -1;
	for (i = 0; i < HASHER_MAX; i++)
		h->req_fd[i] = -1;
	h->maxwaiting = 256;
	h->waiting = palloc(sizeof(HasherWaiting) * h->maxwaiting);
	hasher_current = h;

	if (pipe(res) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not create a pipe: %m")));
	h->res_fd = res[0];
	for (i = 0; i < Min(Max(nprocs, 1), HASHER_MAX); i++)
	{
		int			req[2];

		if (pipe(req) != 0)
		{
			close(res[1]);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not create a pipe: %m")));
		}
		h->req_fd[i] = req[1];
		h->nprocs = i + 1;
		hasher_self = i;
		backup_child_fork(&h->procs[i], "the checksum process", req[0], res[1],
						  log_path, hasher_main, h);
		close(req[0]);
	}
	/* the children hold the write end: the parent keeps none */
	close(res[1]);
	if (fcntl(h->res_fd, F_SETFL, O_NONBLOCK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not set a pipe to non-blocking mode: %m")));
	return h;
}

/* Queue data/<rel>, of 'size' bytes, to be hashed. */
void
backup_hasher_add(BackupHasher *h, const char *rel, int64 size)
{
	if (h->nwaiting == h->maxwaiting)
	{
		h->maxwaiting *= 2;
		h->waiting = repalloc(h->waiting, sizeof(HasherWaiting) * h->maxwaiting);
	}
	h->waiting[h->nwaiting].rel = pstrdup(rel);
	h->waiting[h->nwaiting].size = size;
	h->nwaiting++;
}

/* A child that exits before its pipe is closed fails the backup. */
static void
hasher_check_alive(BackupHasher *h)
{
	int			i;

	for (i = 0; i < h->nprocs; i++)
		if (h->req_fd[i] >= 0 && backup_child_exited(&h->procs[i]))
		{
			backup_child_check(&h->procs[i]);
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("%s of the backup exited early", h->procs[i].name)));
		}
}

/* Hand the largest waiting files to the processes that have room. */
void
backup_hasher_dispatch(BackupHasher *h)
{
	hasher_check_alive(h);
	while (h->nwaiting > 0)
	{
		HasherRequest req;
		char	   *rel;
		int			best = -1;
		int			i;

		for (i = 0; i < h->nprocs; i++)
			if (h->inflight[i] < HASHER_DEPTH &&
				(best < 0 || h->inflight[i] < h->inflight[best]))
				best = i;
		if (best < 0)
			return;
		rel = backup_hasher_take(h);
		memset(&req, 0, sizeof(req));
		strlcpy(req.rel, rel, MAXPGPATH);
		if (write(h->req_fd[best], &req, sizeof(req)) != sizeof(req))
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not hand a file to %s of the backup: %m",
							h->procs[best].name)));
		h->inflight[best]++;
		pfree(rel);
	}
}

/*
 * A waiting file (the largest), for the caller to hash itself; NULL if
 * none waits.
 */
char *
backup_hasher_take(BackupHasher *h)
{
	char	   *rel;
	int			big = 0;
	int			i;

	if (h->nwaiting == 0)
		return NULL;
	for (i = 1; i < h->nwaiting; i++)
		if (h->waiting[i].size > h->waiting[big].size)
			big = i;
	rel = h->waiting[big].rel;
	h->waiting[big] = h->waiting[--h->nwaiting];
	return rel;
}

/* Files waiting or being hashed? */
bool
backup_hasher_busy(BackupHasher *h)
{
	int			i;

	if (h->nwaiting > 0)
		return true;
	for (i = 0; i < h->nprocs; i++)
		if (h->inflight[i] > 0)
			return true;
	return false;
}

/* What to wait on for results. */
pgsocket
backup_hasher_fd(BackupHasher *h)
{
	return h->res_fd;
}

/*
 * A result, if one is there (never waits): the file's path relative to
 * the directory, its SHA-256 and bytes read and its fstat() after reading,
 * or the errno of what failed (then nothing else is set).
 */
bool
backup_hasher_next(BackupHasher *h, BackupHashed *out)
{
	while (h->res_len < sizeof(HasherResult))
	{
		ssize_t		r = read(h->res_fd, (char *) &h->res + h->res_len,
							 sizeof(HasherResult) - h->res_len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (r < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read from the checksum processes: %m")));
		if (r == 0)
		{
			hasher_check_alive(h);
			return false;
		}
		h->res_len += r;
	}
	h->res_len = 0;
	if (h->res.proc < 0 || h->res.proc >= h->nprocs || h->inflight[h->res.proc] == 0)
		elog(ERROR, "unexpected result from the checksum processes");
	h->inflight[h->res.proc]--;
	h->res.rel[MAXPGPATH - 1] = '\0';
	out->rel = h->res.rel;
	out->err = h->res.err;
	out->size = h->res.size;
	out->st = h->res.st;
	memcpy(out->sha256, h->res.sha256, CRYPT_SHA256_HEX);
	out->sha256[CRYPT_SHA256_HEX - 1] = '\0';
	out->sealed_size = h->res.sealed_size;
	memcpy(out->sealed_sha256, h->res.sealed_sha256, CRYPT_SHA256_HEX);
	out->sealed_sha256[CRYPT_SHA256_HEX - 1] = '\0';
	h->res.errmsg[CRYPT_ERRLEN - 1] = '\0';
	out->errmsg = h->res.errmsg;
	return true;
}

/*
 * Wait until a result can be read (or the latch is set), processing
 * interrupts; a child that exited early fails.
 */
void
backup_hasher_wait(BackupHasher *h)
{
	hasher_check_alive(h);
	(void) WaitLatchOrSocket(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_READABLE,
							 h->res_fd, 1000, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/* Close the pipes; no child is waited for (the error cleanup stops them). */
void
backup_hasher_abandon(void)
{
	BackupHasher *h = hasher_current;
	int			i;

	if (h == NULL)
		return;
	hasher_current = NULL;
	explicit_bzero(&h->key, sizeof(h->key));
	for (i = 0; i < HASHER_MAX; i++)
		if (h->req_fd[i] >= 0)
		{
			close(h->req_fd[i]);
			h->req_fd[i] = -1;
		}
	if (h->res_fd >= 0)
		close(h->res_fd);
	h->res_fd = -1;
}

/* All is hashed: the children see the end of their pipes and exit. */
void
backup_hasher_stop(BackupHasher *h)
{
	int			i;

	backup_hasher_abandon();
	for (i = 0; i < h->nprocs; i++)
	{
		(void) backup_child_wait(&h->procs[i], -1);
		backup_child_check(&h->procs[i]);
	}
}
