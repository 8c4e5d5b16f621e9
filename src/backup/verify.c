/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Checking a physical backup against its backup manifest while
 *	  pg_basebackup writes it, and sealing its files as they are checked.
 *
 * pg_basebackup (plain format) writes the files of the backup one after
 * another, then backup_manifest.tmp, then fsyncs them all.  On Linux the
 * runner watches data/ with inotify while it waits for pg_basebackup.
 * The files it closes are queued for checksum processes (hasher.c) that
 * hash them (SHA-256, from the page cache) at a low priority, so that the
 * checks take no CPU from the copy; with a key, they seal each file in
 * place in the same read (crypt.c).  What the runner learns about each
 * file is kept with the file's identity then (device, inode, size, mtime,
 * ctime).
 *
 * When pg_basebackup has finished, backup_verifier_finish() makes the
 * checks of pg_verifybackup, and a few more, itself:
 *	- backup_manifest's own SHA-256 (Manifest-Checksum) and its version;
 *	- every file of the manifest is on disk, a regular file, of its size and
 *	  SHA-256 (our backups ask for SHA-256; any other algorithm fails); a
 *	  file hashed earlier whose identity has changed since is hashed again,
 *	  a sealed one that has changed fails;
 *	- every file on disk (outside pg_wal/, besides backup_manifest) is in
 *	  the manifest, and no entry of the directory is anything but a file or
 *	  a directory; duplicate or unsafe paths in the manifest fail.
 *	  pg_verifybackup skips postgresql.auto.conf, recovery.signal and
 *	  standby.signal (pg_basebackup -R writes them); ours are made without
 *	  -R and these are checked like every other file;
 *	- the WAL of every WAL-Ranges entry parses: pg_waldump --quiet over it,
 *	  as pg_verifybackup does.
 * Every problem is listed; any fails the backup.  Files never seen closed
 * (other systems, a full inotify queue, a directory watched too late) are
 * hashed here.  With a key, backup_manifest and pg_wal/ are sealed last,
 * after the checks read them, then every file and directory is fsynced
 * (pg_basebackup ran with --no-sync: its plaintext files are gone).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/inotify.h>
#define VERIFY_INOTIFY 1
#endif

#include <openssl/evp.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "archive/archive.h"
#include "archive/crypt.h"
#include "backup/backup_int.h"
#include "core/guc.h"
#include "core/json.h"
#include "core/spi_util.h"
#include "core/xact.h"

#define VERIFY_BUFSIZE		(1024 * 1024)
/* problems listed in the error's detail (all are counted) */
#define VERIFY_MAX_LISTED	20
#define VERIFY_MANIFEST		"backup_manifest"
#define VERIFY_WAL_DIR		"pg_wal"

/* What the verifier knows about one file of data/. */
typedef struct VerifyFile
{
	char		path[MAXPGPATH];	/* relative to data/; the hash key */
	bool		done;			/* hashed (and sealed) */
	bool		pending;		/* with the checksum processes */
	bool		sealed;			/* the plaintext was replaced */
	bool		listed;			/* in the manifest */
	int64		size;			/* of the plaintext */
	char		sha256[CRYPT_SHA256_HEX];
	int64		sealed_size;
	char		sealed_sha256[CRYPT_SHA256_HEX];
	/* the file when it was hashed or sealed */
	dev_t		dev;
	ino_t		ino;
	off_t		st_size;
	struct timespec mtime;
	struct timespec ctime;
} VerifyFile;

/* An entry of the manifest's Files. */
typedef struct VerifyListed
{
	char	   *path;			/* NULL: neither Path nor a valid Encoded-Path */
	int64		size;			/* -1: none */
	char	   *algorithm;
	char	   *checksum;
} VerifyListed;

typedef struct VerifyWalRange
{
	char	   *tli;
	char	   *start;
	char	   *end;
} VerifyWalRange;

/* What backup_manifest says (verify_parse_manifest()). */
typedef struct VerifyManifest
{
	char	   *text;
	size_t		len;
	char	   *version;
	char	   *recorded;		/* Manifest-Checksum */
	uint64		nfiles;
	VerifyListed *files;
	uint64		nwal;
	VerifyWalRange *wal;
} VerifyManifest;

struct BackupVerifier
{
	MemoryContext cxt;
	char	   *data;			/* absolute path of data/ */
	HTAB	   *files;
	WalKey	   *keys;			/* keys[0] seals, when 'encrypt' */
	int			nkeys;
	bool		encrypt;
	int			ifd;			/* inotify, -1: none */
	int			efd;			/* epoll of ifd and the hasher's results */
	char	  **wd_dirs;		/* watch descriptor -> directory, relative */
	int			nwd;
	char	  **queue;			/* files closed, to take */
	int			qhead;
	int			qtail;
	int			qsize;
	EVP_MD_CTX *md;
	unsigned char *buf;
	BackupHasher *hasher;		/* NULL: hashed by this process */
	bool		streamed;		/* pg_basebackup has written the manifest */
	bool		manifest_tried; /* read early, or tried to */
	VerifyManifest *m;
	bool		m_early;		/* v->m is from backup_manifest.tmp */
	int64		early_files;	/* handled while pg_basebackup ran */
	int64		early_bytes;
	int			nproblems;
	StringInfoData problems;
};

static void verify_early_manifest(BackupVerifier *v);

/* For the error cleanup: the verifier of this run and a file it reads. */
static BackupVerifier *verify_current = NULL;
static int	verify_open_fd = -1;

static void
verify_problem(BackupVerifier *v, const char *fmt,...) pg_attribute_printf(2, 3);

static void
verify_problem(BackupVerifier *v, const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	v->nproblems++;
	if (v->nproblems > VERIFY_MAX_LISTED)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	appendStringInfo(&v->problems, "%s%s", v->problems.len > 0 ? "; " : "", buf);
}

static void
verify_hex(const unsigned char *md, char *hex)
{
	int			i;

	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* The SHA-256 of a file that is open as verify_open_fd. */
static void
verify_hash_fd(BackupVerifier *v, const char *path, char *hex, int64 *size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int64		total = 0;

	if (EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1)
		elog(ERROR, "could not initialize SHA-256");
	for (;;)
	{
		ssize_t		r;

		CHECK_FOR_INTERRUPTS();
		r = read(verify_open_fd, v->buf, VERIFY_BUFSIZE);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (r == 0)
			break;
		if (EVP_DigestUpdate(v->md, v->buf, r) != 1)
			elog(ERROR, "could not compute SHA-256");
		total += r;
	}
	if (EVP_DigestFinal_ex(v->md, md, &mdlen) != 1)
		elog(ERROR, "could not compute SHA-256");
	verify_hex(md, hex);
	*size = total;
}

static void
verify_remember(VerifyFile *f, const struct stat *st)
{
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->st_size = st->st_size;
	f->mtime = BACKUP_MTIME(st);
	f->ctime = BACKUP_CTIME(st);
}

/* Is the file what it was when it was hashed or sealed? */
static bool
verify_unchanged(const VerifyFile *f, const struct stat *st)
{
	struct timespec m = BACKUP_MTIME(st);
	struct timespec c = BACKUP_CTIME(st);

	return f->dev == st->st_dev && f->ino == st->st_ino &&
		f->st_size == st->st_size &&
		f->mtime.tv_sec == m.tv_sec && f->mtime.tv_nsec == m.tv_nsec &&
		f->ctime.tv_sec == c.tv_sec && f->ctime.tv_nsec == c.tv_nsec;
}

/*
 * Start writing data/<rel> to disk now: pg_basebackup fsyncs every file
 * only when it has copied them all, so that the disk idles during the copy
 * and then holds up the end.  (Whatever the server's fsync setting: this
 * is a backup's durability.)
 */
static void
verify_start_writeback(BackupVerifier *v, const char *rel)
{
	int			fd = open(psprintf("%s/%s", v->data, rel), O_RDONLY | PG_BINARY, 0);

	if (fd < 0)
		return;
#ifdef __linux__
	(void) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
	pg_flush_data(fd, 0, 0);
#endif
	close(fd);
}

/*
 * Hash the regular file data/<f->path> (and seal it, with a key): its
 * plaintext SHA-256 and size, its sealed ones, and its identity.
 */
static void
verify_take(BackupVerifier *v, VerifyFile *f)
{
	char	   *path = psprintf("%s/%s", v->data, f->path);
	struct stat st;

	if (v->encrypt)
	{
		char	   *err;

		/* in place: a new file per file would cost an inode each */
		CHECK_FOR_INTERRUPTS();
		err = crypt_seal_file_inplace(path, &v->keys[0], f->sealed_sha256,
									  &f->sealed_size, f->sha256, &f->size);
		if (err)
			ereport(ERROR,
					(errcode(ERRCODE_IO_ERROR),
					 errmsg("could not encrypt the backup"),
					 errdetail("%s.", err)));
		if (lstat(path, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", path)));
		/* written to while it was sealed: the manifest check reports it */
		if (st.st_size != f->sealed_size)
			st.st_size = -1;
		verify_start_writeback(v, f->path);
		f->sealed = true;
	}
	else
	{
		verify_open_fd = open(path, O_RDONLY | PG_BINARY, 0);
		if (verify_open_fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", path)));
		verify_hash_fd(v, path, f->sha256, &f->size);
		if (fstat(verify_open_fd, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", path)));
		close(verify_open_fd);
		verify_open_fd = -1;
		/* a file that grew or shrank while it was read is read again later */
		if (st.st_size != f->size)
			st.st_size = -1;
	}
	verify_remember(f, &st);
	f->done = true;
	pfree(path);
}

/* Paths that the checks after pg_basebackup handle themselves. */
static bool
verify_late_path(const char *rel)
{
	size_t		len = strlen(rel);
	size_t		slen = strlen(CRYPT_TEMP_SUFFIX);

	return strcmp(rel, VERIFY_WAL_DIR) == 0 ||
		strncmp(rel, VERIFY_WAL_DIR "/", strlen(VERIFY_WAL_DIR) + 1) == 0 ||
		strncmp(rel, VERIFY_MANIFEST, strlen(VERIFY_MANIFEST)) == 0 ||
		(len > slen && strcmp(rel + len - slen, CRYPT_TEMP_SUFFIX) == 0);
}

#ifdef VERIFY_INOTIFY
static void
verify_enqueue(BackupVerifier *v, char *rel)
{
	if (v->qtail == v->qsize)
	{
		if (v->qhead > 0)
		{
			memmove(v->queue, v->queue + v->qhead, sizeof(char *) * (v->qtail - v->qhead));
			v->qtail -= v->qhead;
			v->qhead = 0;
		}
		if (v->qtail == v->qsize)
		{
			v->qsize = Max(256, v->qsize * 2);
			v->queue = v->queue == NULL ? palloc(sizeof(char *) * v->qsize) :
				repalloc(v->queue, sizeof(char *) * v->qsize);
		}
	}
	v->queue[v->qtail++] = rel;
}

/*
 * Is data/<rel> open for writing, by anyone?  A read lease is refused
 * while it is (Linux); true when that cannot be told.
 */
static bool
verify_held_open(BackupVerifier *v, const char *rel)
{
	int			fd = open(psprintf("%s/%s", v->data, rel), O_RDONLY | PG_BINARY, 0);
	bool		held = true;

	if (fd < 0)
		return true;
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0)
	{
		held = false;
		(void) fcntl(fd, F_SETLEASE, F_UNLCK);
	}
	close(fd);
	return held;
}

/* Watch data/<rel> and, recursively, the directories already in it. */
static void
verify_watch(BackupVerifier *v, const char *rel)
{
	char	   *path = rel[0] ? psprintf("%s/%s", v->data, rel) : pstrdup(v->data);
	int			wd;
	DIR		   *d;
	struct dirent *de;

	if (verify_late_path(rel))
		return;
	wd = inotify_add_watch(v->ifd, path,
						   IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
	if (wd < 0)
		return;					/* its files are hashed at the end */
	if (wd >= v->nwd)
	{
		int			n = Max(wd + 1, v->nwd * 2);

		v->wd_dirs = v->nwd == 0 ? palloc0(sizeof(char *) * n) :
			repalloc(v->wd_dirs, sizeof(char *) * n);
		memset(v->wd_dirs + v->nwd, 0, sizeof(char *) * (n - v->nwd));
		v->nwd = n;
	}
	if (v->wd_dirs[wd] == NULL)
		v->wd_dirs[wd] = pstrdup(rel);

	/*
	 * What was made before the watch existed: subdirectories are watched,
	 * files taken.  One of them may still be open for writing: hashed, it
	 * is hashed again when it is closed, since its identity changes; but it
	 * must not be replaced by a sealed copy: with a key, only files that
	 * no one holds open for writing are taken (pg_basebackup never reopens
	 * one).
	 */
	d = opendir(path);
	while (d != NULL && (de = readdir(d)) != NULL)
	{
		struct stat st;
		char	   *sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		if (lstat(psprintf("%s/%s", path, de->d_name), &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			verify_watch(v, sub);
		else if (S_ISREG(st.st_mode) &&
				 (!v->encrypt || !verify_held_open(v, sub)))
			verify_enqueue(v, sub);
	}
	if (d != NULL)
		closedir(d);
	pfree(path);
}

/* A file closed after writing, while pg_basebackup runs. */
static void
verify_early(BackupVerifier *v, const char *rel)
{
	VerifyFile *f;
	bool		found;
	struct stat st;

	if (verify_late_path(rel) || strlen(rel) >= MAXPGPATH)
		return;
	if (lstat(psprintf("%s/%s", v->data, rel), &st) != 0 || !S_ISREG(st.st_mode))
		return;
	f = hash_search(v->files, rel, HASH_ENTER, &found);
	if (!found)
		memset((char *) f + MAXPGPATH, 0, sizeof(VerifyFile) - MAXPGPATH);
	/* sealed: ours; hashed and unchanged: closed again (a sync) */
	if (f->pending || f->sealed || (f->done && verify_unchanged(f, &st)))
		return;
	if (v->hasher != NULL)
	{
		/* with a key, only the sealed file goes to disk (the children) */
		if (!v->encrypt)
			verify_start_writeback(v, rel);
		f->pending = true;
		backup_hasher_add(v->hasher, rel, st.st_size);
		return;
	}
	verify_take(v, f);
	v->early_files++;
	v->early_bytes += f->size;
}
#endif

/*
 * Start watching data/ (created here, empty, before pg_basebackup runs).
 * With steward.backup_encryption_key_file set, files are sealed as they
 * are checked (backup_verifier_encrypts()).
 */
BackupVerifier *
backup_verifier_begin(const char *data, const char *log_dir)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "pg_steward backup verifier",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	BackupVerifier *v = palloc0(sizeof(BackupVerifier));
	HASHCTL		ctl;
	bool		current;

	v->cxt = cxt;
	v->data = pstrdup(data);
	v->ifd = -1;
	v->efd = -1;
	initStringInfo(&v->problems);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MAXPGPATH;
	ctl.entrysize = sizeof(VerifyFile);
	ctl.hcxt = cxt;
	v->files = hash_create("pg_steward backup files", 2048, &ctl,
						   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	v->buf = palloc(VERIFY_BUFSIZE);
	verify_current = v;
	v->md = EVP_MD_CTX_new();
	if (v->md == NULL)
		elog(ERROR, "out of memory");
	v->nkeys = steward_wal_keys(&v->keys, &current);
	v->encrypt = current;

	if (MakePGDirectory(data) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create folder \"%s\": %m", data)));
#ifdef VERIFY_INOTIFY
	v->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (v->ifd >= 0)
		verify_watch(v, "");
	if (v->ifd >= 0)
	{
		struct epoll_event ev = {.events = EPOLLIN};

		v->hasher = backup_hasher_start(data, steward_backup_jobs, steward_backup_nice,
										psprintf("%s/checksums.log", log_dir),
										v->encrypt ? &v->keys[0] : NULL);
		/* one descriptor to wait on for both (backup_verifier_fd()) */
		v->efd = epoll_create1(EPOLL_CLOEXEC);
		if (v->efd < 0 ||
			epoll_ctl(v->efd, EPOLL_CTL_ADD, v->ifd, &ev) != 0 ||
			epoll_ctl(v->efd, EPOLL_CTL_ADD, backup_hasher_fd(v->hasher), &ev) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not create an epoll descriptor: %m")));
	}
#endif
	MemoryContextSwitchTo(old);
	return v;
}

bool
backup_verifier_encrypts(BackupVerifier *v)
{
	return v->encrypt;
}

/*
 * What to wait on besides the latch (PGINVALID_SOCKET: nothing): files
 * closed while pg_basebackup copies, and the checksums' results.
 */
pgsocket
backup_verifier_fd(BackupVerifier *v)
{
	if (v->efd >= 0)
		return v->efd;
	return v->ifd >= 0 ? v->ifd : PGINVALID_SOCKET;
}

#ifdef VERIFY_INOTIFY
/*
 * Read every event there is: new directories are watched at once (their
 * files would be missed otherwise), closed files queued.
 */
static void
verify_read_events(BackupVerifier *v)
{
	char		buf[8192] pg_attribute_aligned(8);

	for (;;)
	{
		ssize_t		n = read(v->ifd, buf, sizeof(buf));
		char	   *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;				/* EAGAIN: nothing more for now */
		for (p = buf; p < buf + n;)
		{
			const struct inotify_event *ev = (const struct inotify_event *) p;
			const char *dir;
			char	   *rel;

			p += sizeof(struct inotify_event) + ev->len;
			/* IN_Q_OVERFLOW among them: missed files are taken at the end */
			if (ev->len == 0 || ev->wd < 0 || ev->wd >= v->nwd ||
				v->wd_dirs[ev->wd] == NULL)
				continue;
			dir = v->wd_dirs[ev->wd];
			rel = dir[0] ? psprintf("%s/%s", dir, ev->name) : pstrdup(ev->name);
			if (ev->mask & IN_ISDIR)
			{
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					verify_watch(v, rel);
				pfree(rel);
			}
			else if (ev->mask & IN_CLOSE_WRITE)
			{
				if (strcmp(rel, VERIFY_MANIFEST ".tmp") == 0)
					v->streamed = true;
				verify_enqueue(v, rel);
			}
			else
				pfree(rel);
		}
	}
}
#endif

/* Stop watching: pg_basebackup is done. */
static void
verify_unwatch(BackupVerifier *v)
{
	if (v->ifd >= 0)
		close(v->ifd);
	v->ifd = -1;
}

/* A file the checksum processes have hashed. */
static void
verify_hashed(BackupVerifier *v, const BackupHashed *r)
{
	VerifyFile *f = hash_search(v->files, r->rel, HASH_FIND, NULL);
	struct stat st = r->st;

	if (f == NULL)
		return;
	f->pending = false;
	if (v->encrypt)
	{
		/* sealed in place: a failure left the file damaged */
		if (r->err != 0)
			ereport(ERROR,
					(errcode(ERRCODE_IO_ERROR),
					 errmsg("could not encrypt the backup"),
					 errdetail("%s.", r->errmsg[0] ? r->errmsg : strerror(r->err))));
		memcpy(f->sealed_sha256, r->sealed_sha256, CRYPT_SHA256_HEX);
		f->sealed_size = r->sealed_size;
		f->sealed = true;
	}
	else if (r->err != 0)
		return;					/* read again at the end, which reports it */
	memcpy(f->sha256, r->sha256, CRYPT_SHA256_HEX);
	f->size = r->size;
	/* a file that grew or shrank while it was read is read again later */
	if (!f->sealed && st.st_size != f->size)
		st.st_size = -1;
	verify_remember(f, &st);
	f->done = true;
	v->early_files++;
	v->early_bytes += f->size;
}

/* Take in the checksum processes' results and hand them more files. */
static void
verify_collect(BackupVerifier *v)
{
	BackupHashed r;

	for (;;)
	{
		backup_hasher_dispatch(v->hasher);
		if (!backup_hasher_next(v->hasher, &r))
			break;
		verify_hashed(v, &r);
	}
}

/*
 * Take the files closed since the last call (hash and seal them here, or
 * queue them for the checksum processes), and the checksums' results;
 * never waits.
 */
void
backup_verifier_poll(BackupVerifier *v)
{
#ifdef VERIFY_INOTIFY
	MemoryContext old = MemoryContextSwitchTo(v->cxt);

	for (;;)
	{
		char	   *rel;

		if (v->ifd >= 0)
			verify_read_events(v);
		if (v->qhead == v->qtail)
			break;
		rel = v->queue[v->qhead++];
		verify_early(v, rel);
		pfree(rel);
		CHECK_FOR_INTERRUPTS();
	}
	if (v->hasher != NULL)
	{
		/* no data file is written after the manifest */
		if (v->streamed)
			verify_unwatch(v);
		verify_collect(v);
	}
	if (v->streamed)
		verify_early_manifest(v);
	MemoryContextSwitchTo(old);
#endif
}

/* Error cleanup of a run: close what is open, forget the keys. */
void
backup_verifier_abandon(void)
{
	if (verify_open_fd >= 0)
		close(verify_open_fd);
	verify_open_fd = -1;
	backup_hasher_abandon();
	if (verify_current != NULL)
	{
		BackupVerifier *v = verify_current;

		verify_current = NULL;
		verify_unwatch(v);
		if (v->efd >= 0)
			close(v->efd);
		v->efd = -1;
		if (v->nkeys > 0)
			explicit_bzero(v->keys, sizeof(WalKey) * v->nkeys);
		v->nkeys = 0;
		EVP_MD_CTX_free(v->md);
		v->md = NULL;
	}
}

/* The verifier is no longer needed. */
void
backup_verifier_end(BackupVerifier *v)
{
	MemoryContext cxt = v->cxt;

	backup_verifier_abandon();
	MemoryContextDelete(cxt);
}

/*
 * Test hook: wait while steward.debug_backup_pause_file exists, showing
 * 'activity' in pg_stat_activity.
 */
void
backup_debug_pause(const char *activity)
{
	struct stat st;

	if (steward_debug_backup_pause_file == NULL ||
		steward_debug_backup_pause_file[0] == '\0')
		return;
	pgstat_report_activity(STATE_RUNNING, activity);
	while (stat(steward_debug_backup_pause_file, &st) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static int
verify_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "Encoded-Path": hex of the bytes of the path. */
static char *
verify_decode_path(const char *hex)
{
	size_t		len = strlen(hex);
	char	   *out;
	size_t		i;

	if (len % 2 != 0)
		return NULL;
	out = palloc(len / 2 + 1);
	for (i = 0; i < len / 2; i++)
	{
		int			hi = verify_hex_digit(hex[2 * i]);
		int			lo = verify_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return NULL;
		out[i] = (char) (hi * 16 + lo);
	}
	out[len / 2] = '\0';
	if (strlen(out) != len / 2)
		return NULL;			/* a NUL byte */
	return out;
}

/* A manifest path that stays inside data/. */
static bool
verify_safe_path(const char *p)
{
	const char *s;

	if (p[0] == '\0' || p[0] == '/' || strlen(p) >= MAXPGPATH)
		return false;
	for (s = p; *s;)
	{
		const char *e = strchr(s, '/');
		size_t		n = e ? (size_t) (e - s) : strlen(s);

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
		if (*s == '/')
			s++;
	}
	return true;
}

/*
 * The SHA-256 (hex) of a manifest's text but its last line, which holds
 * the checksum: returns where that line starts, 0 if there is none.
 */
static size_t
verify_manifest_hash(BackupVerifier *v, const char *text, size_t len, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t		i;
	int			newlines = 0;

	for (i = len; i > 0; i--)
		if (text[i - 1] == '\n' && ++newlines == 2)
			break;
	if (newlines < 2)
		return 0;
	if (EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1 ||
		EVP_DigestUpdate(v->md, text, i) != 1 ||
		EVP_DigestFinal_ex(v->md, md, &mdlen) != 1)
		elog(ERROR, "could not compute SHA-256");
	verify_hex(md, hex);
	return i;
}

/*
 * backup_manifest's Manifest-Checksum: the SHA-256 of everything up to and
 * including the newline before its last line.
 */
static void
verify_manifest_checksum(BackupVerifier *v, const char *text, size_t len,
						 const char *recorded)
{
	char		hex[CRYPT_SHA256_HEX];

	if (verify_manifest_hash(v, text, len, hex) == 0 || recorded == NULL)
	{
		verify_problem(v, "backup_manifest has no manifest checksum");
		return;
	}
	if (pg_strcasecmp(hex, recorded) != 0)
		verify_problem(v, "backup_manifest does not match its manifest checksum");
}

/*
 * Is 'text' a whole manifest as the server wrote it: does its last line
 * hold the checksum of the rest?  (Read before pg_basebackup has renamed
 * it, it is parsed only then.)
 */
static bool
verify_manifest_whole(BackupVerifier *v, const char *text, size_t len)
{
	static const char key[] = "\"Manifest-Checksum\": \"";
	char		hex[CRYPT_SHA256_HEX];
	size_t		i = verify_manifest_hash(v, text, len, hex);

	return i > 0 && len - i >= sizeof(key) - 1 + 64 &&
		strncmp(text + i, key, sizeof(key) - 1) == 0 &&
		pg_strncasecmp(text + i + sizeof(key) - 1, hex, 64) == 0;
}

/* One file listed in the manifest. */
static void
verify_listed(BackupVerifier *v, const char *rel, int64 size, const char *algorithm,
			  const char *checksum)
{
	VerifyFile *f;
	bool		found;
	struct stat st;
	char	   *path;

	if (!verify_safe_path(rel) || strcmp(rel, VERIFY_MANIFEST) == 0)
	{
		verify_problem(v, "backup_manifest lists the path \"%s\", which a backup cannot hold", rel);
		return;
	}
	/* pg_wal/ is checked with pg_waldump, as pg_verifybackup does */
	if (strncmp(rel, VERIFY_WAL_DIR "/", strlen(VERIFY_WAL_DIR) + 1) == 0)
		return;
	f = hash_search(v->files, rel, HASH_ENTER, &found);
	if (!found)
		memset((char *) f + MAXPGPATH, 0, sizeof(VerifyFile) - MAXPGPATH);
	if (f->listed)
	{
		verify_problem(v, "backup_manifest lists \"%s\" twice", rel);
		return;
	}
	f->listed = true;
	path = psprintf("%s/%s", v->data, rel);
	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s\": %m", path)));
		verify_problem(v, "\"%s\" is in the manifest but not in the backup", rel);
		return;
	}
	if (!S_ISREG(st.st_mode))
	{
		verify_problem(v, "\"%s\" is not a regular file", rel);
		return;
	}
	if (f->sealed)
	{
		if (!verify_unchanged(f, &st))
		{
			verify_problem(v, "\"%s\" changed after it was encrypted", rel);
			return;
		}
	}
	else if (!f->done || !verify_unchanged(f, &st))
	{
		/* size first, as pg_verifybackup: a file of the wrong size is not read */
		if (st.st_size != size)
		{
			verify_problem(v, "\"%s\" has " INT64_FORMAT " bytes, the manifest says " INT64_FORMAT,
						   rel, (int64) st.st_size, size);
			return;
		}
		verify_take(v, f);
	}
	if (f->size != size)
		verify_problem(v, "\"%s\" has " INT64_FORMAT " bytes, the manifest says " INT64_FORMAT,
					   rel, f->size, size);
	else if (algorithm == NULL || pg_strcasecmp(algorithm, "SHA256") != 0)
		verify_problem(v, "\"%s\" has no SHA-256 checksum in the manifest", rel);
	else if (checksum == NULL || pg_strcasecmp(checksum, f->sha256) != 0)
		verify_problem(v, "\"%s\" does not match its checksum in the manifest", rel);
}

/* Everything on disk under data/<rel> must be in the manifest. */
static void
verify_extra(BackupVerifier *v, const char *rel)
{
	char	   *path = rel[0] ? psprintf("%s/%s", v->data, rel) : pstrdup(v->data);
	DIR		   *d = AllocateDir(path);
	struct dirent *de;

	while ((de = ReadDir(d, path)) != NULL)
	{
		char	   *sub;
		struct stat st;
		VerifyFile *f;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		sub = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		if (strcmp(sub, VERIFY_WAL_DIR) == 0 || strcmp(sub, VERIFY_MANIFEST) == 0)
			continue;
		/* like pg_verifybackup, through symbolic links (pg_tblspc) */
		if (stat(psprintf("%s/%s", path, de->d_name), &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat \"%s/%s\": %m", path, de->d_name)));
		if (S_ISDIR(st.st_mode))
			verify_extra(v, sub);
		else if (!S_ISREG(st.st_mode))
			verify_problem(v, "\"%s\" is neither a file nor a directory", sub);
		else
		{
			f = strlen(sub) < MAXPGPATH ? hash_search(v->files, sub, HASH_FIND, NULL) : NULL;
			if (f == NULL || !f->listed)
				verify_problem(v, "\"%s\" is in the backup but not in the manifest", sub);
		}
		pfree(sub);
	}
	FreeDir(d);
	pfree(path);
}

static void
verify_seal_file(const char *path, const char *rel, void *arg)
{
	BackupVerifier *v = (BackupVerifier *) arg;
	VerifyFile *f;
	bool		found;

	if (strlen(rel) >= MAXPGPATH)
		elog(ERROR, "path \"%s\" is too long", rel);
	f = hash_search(v->files, rel, HASH_ENTER, &found);
	if (!found)
		memset((char *) f + MAXPGPATH, 0, sizeof(VerifyFile) - MAXPGPATH);
	if (!f->sealed)
		verify_take(v, f);
}

/* Seal every file under data/<rel> not sealed yet (pg_wal/, the manifest). */
static void
verify_seal_rest(BackupVerifier *v, const char *rel)
{
	backup_walk_tree(v->data, rel, verify_seal_file, NULL, v);
}

/* Add "data/<path>": {size, sha256} of every sealed file to the metadata. */
static void
verify_add_sealed(BackupVerifier *v, StringInfo meta)
{
	HASH_SEQ_STATUS seq;
	VerifyFile *f;

	hash_seq_init(&seq, v->files);
	while ((f = hash_seq_search(&seq)) != NULL)
	{
		if (!f->sealed)
			continue;
		steward_json_add_object(meta, psprintf("data/%s", f->path));
		steward_json_add_int64(meta, "size", f->sealed_size);
		steward_json_add_str(meta, "sha256", f->sealed_sha256);
		steward_json_end(meta);
	}
}

/*
 * Read backup_manifest's text 'text' with jsonb into v->m, once for the
 * whole check; a transaction of its own.
 */
static void
verify_parse_manifest(BackupVerifier *v, char *text)
{
	MemoryContext old = MemoryContextSwitchTo(v->cxt);
	VerifyManifest *m = palloc0(sizeof(VerifyManifest));
	Datum		arg;
	uint64		i;

	m->text = text;
	m->len = strlen(text);
	steward_xact_begin();
	arg = CStringGetTextDatum(text);
	steward_spi_exec("SELECT m ->> 'PostgreSQL-Backup-Manifest-Version', m ->> 'Manifest-Checksum'"
					 "  FROM (SELECT $1::pg_catalog.jsonb AS m) s",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, &arg, NULL);
	MemoryContextSwitchTo(v->cxt);
	m->version = steward_spi_gettext(0, 1);
	m->recorded = steward_spi_gettext(0, 2);

	steward_spi_exec("SELECT f.\"Path\", f.\"Encoded-Path\", f.\"Size\","
					 "       f.\"Checksum-Algorithm\", f.\"Checksum\""
					 "  FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb -> 'Files')"
					 "       AS f(\"Path\" text, \"Encoded-Path\" text, \"Size\" bigint,"
					 "            \"Checksum-Algorithm\" text, \"Checksum\" text)",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, &arg, NULL);
	MemoryContextSwitchTo(v->cxt);
	m->nfiles = SPI_processed;
	m->files = palloc0(sizeof(VerifyListed) * Max(m->nfiles, 1));
	for (i = 0; i < m->nfiles; i++)
	{
		VerifyListed *e = &m->files[i];
		char	   *path = steward_spi_gettext(i, 1);
		char	   *encoded = steward_spi_gettext(i, 2);
		bool		isnull;
		Datum		size = steward_spi_getdatum(i, 3, &isnull);

		e->path = path != NULL ? path : encoded != NULL ? verify_decode_path(encoded) : NULL;
		e->size = isnull ? -1 : DatumGetInt64(size);
		e->algorithm = steward_spi_gettext(i, 4);
		e->checksum = steward_spi_gettext(i, 5);
	}

	steward_spi_exec("SELECT w.\"Timeline\"::text, w.\"Start-LSN\", w.\"End-LSN\""
					 "  FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb -> 'WAL-Ranges')"
					 "       AS w(\"Timeline\" bigint, \"Start-LSN\" text, \"End-LSN\" text)",
					 SPI_OK_SELECT, 1, (Oid[]) {TEXTOID}, &arg, NULL);
	MemoryContextSwitchTo(v->cxt);
	m->nwal = SPI_processed;
	m->wal = palloc0(sizeof(VerifyWalRange) * Max(m->nwal, 1));
	for (i = 0; i < m->nwal; i++)
	{
		m->wal[i].tli = steward_spi_gettext(i, 1);
		m->wal[i].start = steward_spi_gettext(i, 2);
		m->wal[i].end = steward_spi_gettext(i, 3);
	}
	steward_xact_commit();
	v->m = m;
	MemoryContextSwitchTo(old);
}

/*
 * pg_basebackup has written backup_manifest.tmp (renamed when its fsync
 * is done): it is read now, while the fsync runs, and again at the end
 * only if the final text differs.
 */
static void
verify_early_manifest(BackupVerifier *v)
{
	char	   *text;

	if (v->m != NULL || v->manifest_tried)
		return;
	v->manifest_tried = true;
	text = backup_read_file(psprintf("%s/%s.tmp", v->data, VERIFY_MANIFEST), true);
	if (text != NULL && verify_manifest_whole(v, text, strlen(text)))
	{
		verify_parse_manifest(v, MemoryContextStrdup(v->cxt, text));
		v->m_early = true;
	}
}

/* Start pg_waldump over WAL range 'r'; false if the manifest lacks parts. */
static bool
verify_start_waldump(BackupVerifier *v, const VerifyWalRange *r, BackupChild *c,
					 const char *log)
{
	if (r->tli == NULL || r->start == NULL || r->end == NULL)
	{
		verify_problem(v, "backup_manifest has an incomplete WAL range");
		return false;
	}
	backup_child_start(c, (char *[]) {backup_program_path("pg_waldump"), "--quiet",
			psprintf("--path=%s/%s", v->data, VERIFY_WAL_DIR),
			psprintf("--timeline=%s", r->tli), psprintf("--start=%s", r->start),
			psprintf("--end=%s", r->end), NULL}, NULL, log);
	return true;
}

static void
verify_end_waldump(BackupVerifier *v, const VerifyWalRange *r, BackupChild *c,
				   const char *log)
{
	int			code,
				signo;

	(void) backup_child_wait(c, -1);
	code = backup_child_exit_code(c, &signo);
	if (code != 0)
		verify_problem(v, "the WAL from %s to %s on timeline %s does not parse: %s",
					   r->start, r->end, r->tli, backup_log_tail(log));
}

/*
 * After pg_basebackup exited with success: the checks (see the header),
 * an error listing the problems if any; then, with a key, the sealing of
 * what is left and the fsync of the whole backup.  Adds "files" (and
 * "encryption", "encryption_key_id") and "manifest_verified" to 'meta'.
 * 'log_dir' receives pg_waldump's log.  Runs transactions of its own.
 */
void
backup_verifier_finish(BackupVerifier *v, const char *log_dir, StringInfo meta)
{
	MemoryContext outer = CurrentMemoryContext;
	char	   *manifest;
	size_t		mlen;
	uint64		i;
	VerifyManifest *m;
	char		manifest_sha[CRYPT_SHA256_HEX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int64		listed = 0;
	char	   *log = psprintf("%s/pg_waldump.log", log_dir);
	BackupChild wal0;
	bool		wal0_started = false;

	backup_verifier_poll(v);
	verify_unwatch(v);
	backup_debug_pause("pg_steward backup: paused before the manifest check");
	if (v->hasher != NULL)
	{
		char	   *rel;

		/*
		 * The checksum processes yield to everything else; what they have
		 * not taken yet, this process hashes at the server's priority.
		 */
		pgstat_report_activity(STATE_RUNNING, "pg_steward backup: checksums");
		MemoryContextSwitchTo(v->cxt);
		for (;;)
		{
			verify_collect(v);
			if (!backup_hasher_busy(v->hasher))
				break;
			if ((rel = backup_hasher_take(v->hasher)) != NULL)
			{
				VerifyFile *f = hash_search(v->files, rel, HASH_FIND, NULL);

				if (f != NULL)
				{
					f->pending = false;
					verify_take(v, f);
				}
				pfree(rel);
			}
			else
				backup_hasher_wait(v->hasher);
		}
		backup_hasher_stop(v->hasher);
		v->hasher = NULL;
		MemoryContextSwitchTo(outer);
	}
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: checking the backup manifest");

	MemoryContextSwitchTo(v->cxt);
	manifest = backup_read_file(psprintf("%s/%s", v->data, VERIFY_MANIFEST), false);
	mlen = strlen(manifest);
	if (EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1 ||
		EVP_DigestUpdate(v->md, manifest, mlen) != 1 ||
		EVP_DigestFinal_ex(v->md, md, &mdlen) != 1)
		elog(ERROR, "could not compute SHA-256");
	verify_hex(md, manifest_sha);
	if (v->m == NULL || v->m->len != mlen || memcmp(v->m->text, manifest, mlen) != 0)
	{
		v->m_early = false;
		verify_parse_manifest(v, manifest);
	}
	m = v->m;
	MemoryContextSwitchTo(v->cxt);
	if (m->version == NULL || strcmp(m->version, "1") != 0)
		verify_problem(v, "backup_manifest has version %s, not 1", m->version ? m->version : "(none)");
	verify_manifest_checksum(v, manifest, mlen, m->recorded);
	if (m->nfiles == 0)
		verify_problem(v, "backup_manifest lists no files");
	if (m->nwal == 0)
		verify_problem(v, "backup_manifest has no WAL range");

	/* directory reads and child processes: in a transaction, for the cleanup */
	StartTransactionCommand();
	MemoryContextSwitchTo(v->cxt);

	/* the WAL the backup needs parses, on the plaintext: the first meanwhile */
	pgstat_report_activity(STATE_RUNNING, "pg_steward backup: checking the backup manifest and pg_waldump");
	if (m->nwal > 0)
		wal0_started = verify_start_waldump(v, &m->wal[0], &wal0, log);
	for (i = 0; i < m->nfiles; i++)
	{
		VerifyListed *e = &m->files[i];

		if (e->path == NULL || e->size < 0)
		{
			verify_problem(v, "backup_manifest has an entry without a valid path or size");
			continue;
		}
		verify_listed(v, e->path, e->size, e->algorithm, e->checksum);
		listed++;
	}
	verify_extra(v, "");
	if (wal0_started)
		verify_end_waldump(v, &m->wal[0], &wal0, log);
	for (i = 1; i < m->nwal; i++)
	{
		BackupChild c;

		if (verify_start_waldump(v, &m->wal[i], &c, log))
			verify_end_waldump(v, &m->wal[i], &c, log);
	}

	if (v->nproblems > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the backup does not match its backup manifest: %s%s",
						v->problems.data,
						v->nproblems > VERIFY_MAX_LISTED ? "; ..." : ""),
				 errdetail_plural("%d problem was found.", "%d problems were found.",
								  v->nproblems, v->nproblems)));

	MemoryContextSwitchTo(outer);
	steward_json_add_object(meta, "manifest_verified");
	steward_json_add_int64(meta, "files", listed);
	steward_json_add_int64(meta, "wal_ranges", (int64) m->nwal);
	steward_json_add_int64(meta, "checked_while_copying", v->early_files);
	steward_json_add_int64(meta, "bytes_checked_while_copying", v->early_bytes);
	steward_json_add_bool(meta, "manifest_read_early", v->m_early);
	steward_json_end(meta);
	if (v->encrypt)
	{
		pgstat_report_activity(STATE_RUNNING, "pg_steward backup: encrypting");
		MemoryContextSwitchTo(v->cxt);
		verify_seal_rest(v, VERIFY_MANIFEST);
		verify_seal_rest(v, VERIFY_WAL_DIR);
		MemoryContextSwitchTo(outer);
		steward_json_add_str(meta, "encryption", CRYPT_ALGORITHM);
		steward_json_add_str(meta, "encryption_key_id", walfile_key_id_hex(v->keys[0].id));
		steward_json_add_object(meta, "files");
		verify_add_sealed(v, meta);
		steward_json_end(meta);
		/* pg_basebackup ran with --no-sync: all of it is synced here */
		pgstat_report_activity(STATE_RUNNING, "pg_steward backup: fsync");
		backup_sync_tree(v->data, true);
		backup_sync_tree(v->data, false);
	}
	else
	{
		steward_json_add_object(meta, "files");
		steward_json_add_object(meta, "data/" VERIFY_MANIFEST);
		steward_json_add_int64(meta, "size", (int64) mlen);
		steward_json_add_str(meta, "sha256", manifest_sha);
		steward_json_end(meta);
		steward_json_end(meta);
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
}
