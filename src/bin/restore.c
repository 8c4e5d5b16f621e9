/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  pg_steward_restore: a new data directory from a physical backup in
 *	  the backup directory plus its archived WAL, set up for point-in-time
 *	  recovery.
 *
 *	  pg_steward_restore --backup-directory DIR --backup ID|latest
 *		  --pgdata NEWDIR [--target-time T | --target-lsn L | --target-name N]
 *		  [--target-action promote|pause|shutdown] [--key-file F] ...
 *
 * It needs only the backup directory (the server that made the backups may
 * be gone), refuses a non-empty target directory, copies <id>/data
 * (decrypting an encrypted backup's files with the keys given; on any
 * failure what it wrote is removed again), writes
 * recovery.signal and the recovery settings into postgresql.auto.conf with
 * pg_steward_wal_restore as restore_command, and prints how to start the
 * server.  It never starts a server itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/logging.h"
#include "getopt_long.h"
#include "lib/stringinfo.h"

#include "archive/crypt.h"
#include "restore_common.h"

static const char *progname;

/* an encrypted backup: the keys its files are decrypted with */
static RestoreKeys *copy_keys = NULL;

/* what to remove when the restore fails: nothing restored is left */
static char *cleanup_pgdata = NULL;
static bool cleanup_created = false;

/*
 * Removes what is under 'path' (and 'path' itself with 'top'); our own, as
 * rmtree() moved between headers in PostgreSQL 16.
 */
static bool
remove_tree(const char *path, bool top)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	bool		ok = true;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
	{
		char	   *p;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = psprintf("%s/%s", path, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			ok = remove_tree(p, true) && ok;
		else if (unlink(p) != 0)
			ok = false;
		pfree(p);
	}
	closedir(d);
	if (top && rmdir(path) != 0)
		ok = false;
	return ok;
}

static void
cleanup_at_exit(void)
{
	if (cleanup_pgdata == NULL)
		return;
	if (!remove_tree(cleanup_pgdata, cleanup_created))
		pg_log_warning("could not remove everything in \"%s\"", cleanup_pgdata);
	else
		pg_log_info("removed what was restored into \"%s\"", cleanup_pgdata);
}

static void
usage(void)
{
	printf("%s prepares a new data directory from a pg_steward physical backup\n"
		   "and its archived WAL, for point-in-time recovery.\n\n", progname);
	printf("Usage:\n  %s -B DIR -D NEWDIR [OPTION]...\n\n", progname);
	printf("Options:\n");
	printf("  -B, --backup-directory=DIR  the backup directory (steward.backup_directory)\n");
	printf("  -b, --backup=ID|latest      the physical backup to start from (default: latest)\n");
	printf("  -D, --pgdata=NEWDIR         new data directory (must not exist or be empty)\n");
	printf("      --target-time=TIME      recover up to this time (recovery_target_time)\n");
	printf("      --target-lsn=LSN        recover up to this WAL location\n");
	printf("      --target-name=NAME      recover up to this restore point\n");
	printf("      --target-action=ACTION  promote (default), pause or shutdown\n");
	printf("  -k, --key-file=FILE         key file of an encrypted backup and archive\n");
	printf("  -K, --old-key-file=FILE     an earlier key file (repeatable)\n");
	printf("  -?, --help                  show this help, then exit\n\n");
	printf("Without a target, recovery replays all archived WAL.\n");
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static char *
read_meta(const char *dir, const char *id)
{
	char	   *json;
	size_t		len;
	bool		missing;
	char	   *err = walfile_read_all(psprintf("%s/%s/backup.json", dir, id), &json, &len,
									   &missing);

	if (err)
		restore_fail("%s", err);
	return missing ? NULL : json;
}

static bool
is_physical(const char *json)
{
	char	   *kind = json ? walfile_json_field(json, "kind") : NULL;

	return kind && strcmp(kind, "physical") == 0;
}

/* The newest complete physical backup: ids sort by time. */
static char *
latest_backup(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char	   *best = NULL;

	if (d == NULL)
		restore_fail("could not open backup directory \"%s\": %m", dir);
	while ((de = readdir(d)) != NULL)
	{
		if (!all_digits(de->d_name) ||
			(best && (strlen(de->d_name) < strlen(best) ||
					  (strlen(de->d_name) == strlen(best) && strcmp(de->d_name, best) <= 0))))
			continue;
		if (is_physical(read_meta(dir, de->d_name)))
			best = pg_strdup(de->d_name);
	}
	closedir(d);
	if (best == NULL)
		restore_fail("no physical backup in \"%s\"", dir);
	return best;
}

/* NEWDIR: created, or an existing empty directory; never anything else. */
static void
prepare_pgdata(const char *pgdata)
{
	struct stat st;
	DIR		   *d;
	struct dirent *de;

	if (stat(pgdata, &st) != 0)
	{
		if (errno != ENOENT)
			restore_fail("could not access \"%s\": %m", pgdata);
		if (pg_mkdir_p(pg_strdup(pgdata), S_IRWXU) != 0)
			restore_fail("could not create directory \"%s\": %m", pgdata);
		cleanup_created = true;
		return;
	}
	if (!S_ISDIR(st.st_mode))
		restore_fail("\"%s\" exists and is not a directory", pgdata);
	d = opendir(pgdata);
	if (d == NULL)
		restore_fail("could not open directory \"%s\": %m", pgdata);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			restore_fail("directory \"%s\" exists and is not empty; pg_steward_restore only restores into a new or empty directory",
						 pgdata);
	closedir(d);
	if (chmod(pgdata, S_IRWXU) != 0)
		restore_fail("could not change permissions of \"%s\": %m", pgdata);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	static char buf[1024 * 1024];
	int			in = open(from, O_RDONLY | PG_BINARY, 0);
	int			out;
	ssize_t		n;

	if (in < 0)
		restore_fail("could not open file \"%s\": %m", from);
	if (copy_keys != NULL)
	{
		/* an encrypted backup: decrypted and authenticated on the way */
		char	   *err = crypt_unseal_file(from, to, copy_keys->keys, copy_keys->nkeys);

		close(in);
		if (err)
			restore_fail("could not decrypt the backup: %s", err);
		return;
	}
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, mode & S_IRWXU);
	if (out < 0)
		restore_fail("could not create file \"%s\": %m", to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			restore_fail("could not write file \"%s\": %m", to);
	if (n < 0)
		restore_fail("could not read file \"%s\": %m", from);
#ifdef HAVE_SYNC_FILE_RANGE
	/* start writing it back now; sync_tree() waits for it at the end */
	(void) sync_file_range(out, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	if (close(out) != 0)
		restore_fail("could not write file \"%s\": %m", to);
	close(in);
}

/*
 * fsync every file and folder under 'path' (the folders after their
 * entries).  Once, after the whole copy: a file's fsync right after its
 * copy would wait for the disk file by file instead of letting the
 * write-back run while the next files are copied.
 */
static void
sync_tree(const char *path)
{
	DIR		   *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		restore_fail("could not open directory \"%s\": %m", path);
	while ((de = readdir(d)) != NULL)
	{
		char	   *sub;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = psprintf("%s/%s", path, de->d_name);
		if (lstat(sub, &st) != 0)
			restore_fail("could not stat \"%s\": %m", sub);
		if (S_ISDIR(st.st_mode))
			sync_tree(sub);
		else if (S_ISREG(st.st_mode))
			restore_fsync_path(sub, false);
		pfree(sub);
	}
	closedir(d);
	restore_fsync_path(path, true);
}

static void
copy_tree(const char *from, const char *to)
{
	DIR		   *d = opendir(from);
	struct dirent *de;

	if (d == NULL)
		restore_fail("could not open directory \"%s\": %m", from);
	while ((de = readdir(d)) != NULL)
	{
		char	   *src;
		char	   *dst;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		src = psprintf("%s/%s", from, de->d_name);
		dst = psprintf("%s/%s", to, de->d_name);
		if (lstat(src, &st) != 0)
			restore_fail("could not stat \"%s\": %m", src);
		if (S_ISDIR(st.st_mode))
		{
			if (mkdir(dst, S_IRWXU) != 0)
				restore_fail("could not create directory \"%s\": %m", dst);
			copy_tree(src, dst);
		}
		else if (S_ISLNK(st.st_mode))
		{
			char		target[MAXPGPATH];
			ssize_t		n = readlink(src, target, sizeof(target) - 1);

			if (n < 0)
				restore_fail("could not read link \"%s\": %m", src);
			target[n] = '\0';
			if (symlink(target, dst) != 0)
				restore_fail("could not create link \"%s\": %m", dst);
		}
		else if (S_ISREG(st.st_mode))
			copy_file(src, dst, st.st_mode);
		pfree(src);
		pfree(dst);
	}
	closedir(d);
}

/* 'text' for the shell: single quotes, each ' as '\'' */
static void
append_shell_quoted(StringInfo buf, const char *s)
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

/* name = 'value' for postgresql.auto.conf (quotes doubled) */
static void
append_setting(StringInfo buf, const char *name, const char *value)
{
	appendStringInfo(buf, "%s = '", name);
	for (; *value; value++)
	{
		if (*value == '\'')
			appendStringInfoChar(buf, '\'');
		if (*value == '\n')
			restore_fail("a setting may not contain a line break");
		appendStringInfoChar(buf, *value);
	}
	appendStringInfoString(buf, "'\n");
}

static void
append_file(const char *path, const char *text)
{
	int			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY, S_IRUSR | S_IWUSR);

	if (fd < 0)
		restore_fail("could not open file \"%s\": %m", path);
	if (write(fd, text, strlen(text)) != (ssize_t) strlen(text) || fsync(fd) != 0 ||
		close(fd) != 0)
		restore_fail("could not write file \"%s\": %m", path);
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"backup-directory", required_argument, NULL, 'B'},
		{"backup", required_argument, NULL, 'b'},
		{"pgdata", required_argument, NULL, 'D'},
		{"target-time", required_argument, NULL, 1},
		{"target-lsn", required_argument, NULL, 2},
		{"target-name", required_argument, NULL, 3},
		{"target-action", required_argument, NULL, 4},
		{"key-file", required_argument, NULL, 'k'},
		{"old-key-file", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	const char *dir = NULL;
	const char *backup = "latest";
	char	   *pgdata = NULL;
	const char *target_kind = NULL;
	const char *target = NULL;
	const char *action = NULL;
	RestoreKeys keys = {0};
	char		self[MAXPGPATH];
	char	   *wal_restore;
	char	   *meta;
	char	   *sysid;
	char	   *archived_sysid = NULL;
	char	   *data_src;
	struct stat st;
	StringInfoData cmd;
	StringInfoData conf;
	uint64		lsn;
	int			c;
	int			i;

	pg_logging_init(argv[0]);
	progname = get_progname(argv[0]);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-?") == 0))
	{
		usage();
		exit(0);
	}
	while ((c = getopt_long(argc, argv, "B:b:D:k:K:", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'B':
				dir = optarg;
				break;
			case 'b':
				backup = optarg;
				break;
			case 'D':
				pgdata = pg_strdup(optarg);
				break;
			case 1:
			case 2:
			case 3:
				if (target_kind)
					restore_fail("give at most one of --target-time, --target-lsn and --target-name");
				target_kind = c == 1 ? "recovery_target_time" :
					c == 2 ? "recovery_target_lsn" : "recovery_target_name";
				target = optarg;
				break;
			case 4:
				action = optarg;
				break;
			case 'k':
			case 'K':
				restore_add_key(&keys, optarg);
				break;
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(1);
		}
	}
	if (optind < argc)
		restore_fail("unexpected argument \"%s\"", argv[optind]);
	if (dir == NULL || pgdata == NULL)
		restore_fail("--backup-directory and --pgdata are required");
	if (!is_absolute_path(dir))
		restore_fail("--backup-directory must be an absolute path");
	canonicalize_path(pgdata);
	if (action && strcmp(action, "promote") != 0 && strcmp(action, "pause") != 0 &&
		strcmp(action, "shutdown") != 0)
		restore_fail("--target-action must be promote, pause or shutdown");
	if (action && target == NULL)
		restore_fail("--target-action needs a target");
	if (target_kind && strcmp(target_kind, "recovery_target_lsn") == 0 &&
		!walfile_parse_lsn(target, &lsn))
		restore_fail("\"%s\" is not a WAL location (like 0/3000060)", target);

	/* the backup and its archive */
	if (strcmp(backup, "latest") == 0)
		backup = latest_backup(dir);
	else if (!all_digits(backup))
		restore_fail("--backup must be a backup id or latest");
	meta = read_meta(dir, backup);
	if (meta == NULL)
		restore_fail("backup %s is not in \"%s\" (no %s/%s/backup.json)", backup, dir, dir, backup);
	if (!is_physical(meta))
		restore_fail("backup %s is not a physical backup; logical ones are restored with steward.restore_logical()",
					 backup);
	data_src = psprintf("%s/%s/data", dir, backup);
	if (stat(psprintf("%s/backup_label", data_src), &st) != 0)
		restore_fail("backup %s has no data/backup_label; it is incomplete or damaged", backup);
	if (walfile_json_field(meta, "encryption") != NULL)
	{
		char	   *id = walfile_json_field(meta, "encryption_key_id");

		for (i = 0; id != NULL && i < keys.nkeys; i++)
			if (strcmp(walfile_key_id_hex(keys.keys[i].id), id) == 0)
				break;
		if (id == NULL || i == keys.nkeys)
			restore_fail("backup %s is encrypted (%s, key id %s) and %s; give its key file with --key-file or --old-key-file",
						 backup, walfile_json_field(meta, "encryption"), id ? id : "unknown",
						 keys.nkeys == 0 ? "no key file was given" : "no key file given holds that key");
		copy_keys = &keys;
	}
	sysid = walfile_json_field(meta, "system_identifier");
	{
		char	   *text;
		size_t		len;
		bool		missing;
		char	   *err = walfile_read_all(psprintf("%s/%s/%s", dir, WALFILE_DIR, WALFILE_SYSID_FILE),
										   &text, &len, &missing);

		if (err)
			restore_fail("%s", err);
		if (!missing)
		{
			while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
				text[--len] = '\0';
			archived_sysid = text;
		}
	}
	if (archived_sysid == NULL)
		pg_log_warning("no archived WAL in \"%s/%s\": recovery ends where the backup ends", dir,
					   WALFILE_DIR);
	else if (sysid && strcmp(sysid, archived_sysid) != 0)
		restore_fail("backup %s is of system %s but the WAL archive is of system %s", backup,
					 sysid, archived_sysid);

	/* the restore_command: our sibling program */
	if (find_my_exec(argv[0], self) != 0)
		restore_fail("could not find the path of this program");
	get_parent_directory(self);
	wal_restore = psprintf("%s/pg_steward_wal_restore", self);
	if (stat(wal_restore, &st) != 0)
		restore_fail("could not find \"%s\": %m", wal_restore);
	initStringInfo(&cmd);
	append_shell_quoted(&cmd, wal_restore);
	appendStringInfoString(&cmd, " -B ");
	append_shell_quoted(&cmd, dir);
	for (i = 0; i < keys.nkeys; i++)
	{
		appendStringInfoString(&cmd, i == 0 ? " -k " : " -K ");
		append_shell_quoted(&cmd, keys.paths[i]);
	}
	appendStringInfoString(&cmd, " %f %p");

	/* copy, then configure */
	prepare_pgdata(pgdata);
	cleanup_pgdata = pgdata;
	atexit(cleanup_at_exit);
	copy_tree(data_src, pgdata);
	append_file(psprintf("%s/recovery.signal", pgdata), "");
	initStringInfo(&conf);
	appendStringInfo(&conf, "\n# pg_steward_restore: backup %s from %s, point-in-time recovery\n",
					 backup, dir);
	append_setting(&conf, "restore_command", cmd.data);
	if (target_kind)
	{
		append_setting(&conf, target_kind, target);
		append_setting(&conf, "recovery_target_action", action ? action : "promote");
	}
	append_setting(&conf, "recovery_target_timeline", "latest");
	/* the original server may still archive into the same directory */
	append_setting(&conf, "archive_mode", "off");
	append_file(psprintf("%s/postgresql.auto.conf", pgdata), conf.data);
	sync_tree(pgdata);
	cleanup_pgdata = NULL;

	printf("%s: backup %s restored into \"%s\"\n", progname, backup, pgdata);
	printf("Recovery will replay archived WAL from \"%s/%s\" %s%s%s, then %s.\n", dir, WALFILE_DIR,
		   target ? "up to " : "to its end", target ? target : "",
		   target ? psprintf(" (%s)", target_kind) : "",
		   target ? (action ? action : "promote") : "promote");
	printf("Archiving is off in the new cluster (archive_mode = off in postgresql.auto.conf);\n"
		   "turn it on once it takes over from the original server.\n");
	printf("Check port and listen_addresses in \"%s/postgresql.conf\" if the original server\n"
		   "runs on this host, then start it:\n\n    pg_ctl -D %s -l %s/recovery.log start\n\n",
		   pgdata, pgdata, pgdata);
	return 0;
}
