/*
 * backup.c - backup and restore (notes/kernel.md 9, issue 12 part 4).
 *
 * An archive is a tar file $LIBREFANG_HOME/backups/
 * librefang_backup_YYYYMMDD_HHMMSS.tar holding
 *	manifest.json	{version, created_at, hostname, librefang_version,
 *			 installation_id, components, database: {format,
 *			 schemas}, entries: [{name, size, sha256}], skipped}
 *	database.dump	one pg_dump (custom format) of every LibreFang schema
 *			(those with a schema_migrations ledger): one
 *			snapshot, so the schemas agree with each other
 *	config.toml	the home directory's, when there is one
 *	workspaces/	data_dir/workspaces (regular files and directories)
 * written under a temporary name and renamed into place, then listed in
 * backups.archives (sql/004_backups.sql) so every replica lists it.
 *
 * A restore extracts into a temporary directory, checks the manifest and
 * every entry's size and SHA-256 (nothing missing, nothing more), that
 * the archive is this installation's and, when the list knows it, that
 * the file is the one written; only then, with no turn running, it
 * drops and re-creates every schema of the archive in ONE transaction
 * (pg_restore's SQL piped into psql --single-transaction; the config
 * versions' numbering kept going up), puts config.toml and the
 * workspaces back, chains a ConfigChange entry, resets the anchor file,
 * verifies the chain and asks agent-runtime (mcp.reload) and channels
 * (channels.reload) to re-read what they hold: the channels store the
 * restored config.toml as a new config version, which every process
 * applies.
 *
 * One backup or restore at a time across every replica: a session
 * advisory lock on the worker's connection.  pg_dump, pg_restore, psql
 * and tar run as child processes (posix_spawn), given the database's
 * connection parameters in their environment (never on a command line).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "audit.h"
#include "buf.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "services.h"
#include "util.h"
#include "version.h"

extern char	**environ;

#define BK_PREFIX	"librefang_backup_"
#define BK_EXT		".tar"
#define BK_NAME_LEN	(sizeof(BK_PREFIX) - 1 + 15 + sizeof(BK_EXT) - 1)
#define BK_MANIFEST	"manifest.json"
#define BK_DUMP		"database.dump"
#define BK_CONFIG	"config.toml"
#define BK_WORKSPACES	"workspaces"
#define BK_VERSION	1
#define BK_MANIFEST_MAX	(64 * 1024 * 1024)
#define BK_CHILD_MS	(6LL * 3600 * 1000)	/* a child's limit */
#define BK_RELOAD_MS	10000
#define BK_ERR_TAIL	400		/* of a child's stderr, in errors */
#define BK_PATH_MAX	4096

/* A backup or restore at a time, every replica (hashtext: an int4 key,
 * which the quiet check below tells from a session's). */
static const char SQL_LOCK[] =
	"SELECT pg_try_advisory_lock(hashtext('librefang.backup'))";
static const char SQL_UNLOCK[] =
	"SELECT pg_advisory_unlock(hashtext('librefang.backup'))";
static const char SQL_SCHEMAS[] =
	"SELECT table_schema FROM information_schema.tables "
	"WHERE table_name = 'schema_migrations' AND table_type = 'BASE TABLE' "
	"ORDER BY 1";
static const char SQL_INSTALLATION[] =
	"SELECT id::text FROM backups.installation";
/*
 * Turns running on any replica: a turn holds the advisory lock of its
 * session, a bigint key (the session id's first 64 bits: classid the
 * high half, objsubid 1), and a keyed turn the two-int lock of class
 * 7011 (agent-runtime turn/session.c, turn/turn.c).  hashtext() keys of
 * the services' short transaction locks (and ours) are int4, their high
 * half 0 or all ones: not counted.
 */
static const char SQL_TURNS[] =
	"SELECT count(*) FROM pg_locks l JOIN pg_database d "
	"ON d.oid = l.database AND d.datname = current_database() "
	"WHERE l.locktype = 'advisory' AND l.granted "
	"AND l.pid <> pg_backend_pid() "
	"AND ((l.objsubid = 1 AND l.classid::bigint NOT IN (0, 4294967295)) "
	"  OR (l.objsubid = 2 AND l.classid::bigint = 7011))";
static const char SQL_INSERT[] =
	"INSERT INTO backups.archives (filename, path, size_bytes, sha256, "
	"    host, created_at, manifest) "
	"VALUES ($1, $2, $3::bigint, $4, $5, $6, $7::jsonb) "
	"ON CONFLICT (filename) DO UPDATE SET path = EXCLUDED.path, "
	"    size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, "
	"    host = EXCLUDED.host, created_at = EXCLUDED.created_at, "
	"    manifest = EXCLUDED.manifest";
static const char SQL_LIST[] =
	"SELECT filename, path, size_bytes, sha256, host, created_at, "
	"    manifest::text FROM backups.archives ORDER BY created_at DESC, "
	"    filename DESC";
static const char SQL_ONE[] =
	"SELECT filename, path, size_bytes, sha256, host, created_at, "
	"    manifest::text FROM backups.archives WHERE filename = $1";
static const char SQL_DELETE[] =
	"DELETE FROM backups.archives WHERE filename = $1 RETURNING filename";

static struct {
	char	home[BK_PATH_MAX];
	char	dir[BK_PATH_MAX];	/* home/backups */
	char	data[BK_PATH_MAX];	/* data_dir */
	char	config[BK_PATH_MAX];	/* the config file */
	char	conninfo[BK_PATH_MAX];
	char	bus_url[BK_PATH_MAX];
} bk;

/* What went wrong, for the reply: a status and a message. */
struct bk_err {
	int	be_status;
	char	be_msg[1024];
};

/*
 * snprintf() for paths: the directories are bounded at start and a
 * path cut short fails where it is used (ENOENT, ENAMETOOLONG), so
 * this wrapper only keeps -Wformat-truncation quiet.
 */
static int bk_fmt(char *out, size_t outlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

static int
bk_fmt(char *out, size_t outlen, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	return (n);
}

static void bk_fail(struct bk_err *e, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

static void
bk_fail(struct bk_err *e, int status, const char *fmt, ...)
{
	va_list	ap;

	if (e->be_status != 0)
		return;			/* the first reason stands */
	e->be_status = status;
	va_start(ap, fmt);
	vsnprintf(e->be_msg, sizeof(e->be_msg), fmt, ap);
	va_end(ap);
}

int
backup_start(const struct sh_config *cfg)
{
	int	n;

	bk_fmt(bk.home, sizeof(bk.home), "%s", cfg->home_dir);
	n = bk_fmt(bk.dir, sizeof(bk.dir), "%s/backups", cfg->home_dir);
	if (cfg->data_dir[0] != '\0')
		bk_fmt(bk.data, sizeof(bk.data), "%s", cfg->data_dir);
	else
		bk_fmt(bk.data, sizeof(bk.data), "%s/data", cfg->home_dir);
	if (cfg->cf_path[0] != '\0')
		bk_fmt(bk.config, sizeof(bk.config), "%s", cfg->cf_path);
	else
		bk_fmt(bk.config, sizeof(bk.config), "%s/config.toml",
		    cfg->home_dir);
	if (n < 0 || (size_t)n >= sizeof(bk.dir) - 256 ||
	    strlen(bk.data) >= sizeof(bk.data) - 256) {
		log_warnx("backup: the home or data directory's path is too "
		    "long");
		return (-1);
	}
	db_conninfo(cfg->database_url, cfg->home_dir, bk.conninfo,
	    sizeof(bk.conninfo));
	bk_fmt(bk.bus_url, sizeof(bk.bus_url), "%s", cfg->bus_url);
	return (0);
}

/* ---- names ----------------------------------------------------------- */

/* 1 if s is a bare archive name: librefang_backup_YYYYMMDD_HHMMSS.tar. */
static int
bk_name_ok(const char *s)
{
	size_t	i, p = sizeof(BK_PREFIX) - 1;

	if (s == NULL || strlen(s) != BK_NAME_LEN ||
	    strncmp(s, BK_PREFIX, p) != 0 ||
	    strcmp(s + p + 15, BK_EXT) != 0)
		return (0);
	for (i = 0; i < 15; i++)
		if (i == 8 ? s[p + i] != '_' :
		    (s[p + i] < '0' || s[p + i] > '9'))
			return (0);
	return (1);
}

/* 1 if s is a schema name we create: [a-z_][a-z0-9_]{0,62}. */
static int
bk_schema_ok(const char *s)
{
	size_t	i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 63 || (s[0] >= '0' && s[0] <= '9'))
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return (0);
	return (1);
}

/* ---- files ----------------------------------------------------------- */

/* SHA-256 of the file at path (lowercase hex) and its size; 0 or -1. */
static int
bk_sha256_file(const char *path, char hex[AUDIT_HASH_HEX], long long *size)
{
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	unsigned char	 buf[65536], d[32];
	unsigned int	 dl = 0, i;
	long long	 total = 0;
	ssize_t		 r;
	int		 fd = -1, ret = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		goto done;
	for (;;) {
		if ((r = read(fd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			goto done;
		}
		if (r == 0)
			break;
		total += r;
		if (EVP_DigestUpdate(md, buf, (size_t)r) != 1)
			goto done;
	}
	if (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 32)
		goto done;
	for (i = 0; i < dl; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	*size = total;
	ret = 0;
 done:
	if (fd != -1)
		close(fd);
	EVP_MD_CTX_free(md);
	return (ret);
}

/* Writes all n bytes of p to fd; 0 or -1. */
static int
bk_write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/* Copies the regular file src to dst (new, mode 0600); 0 or -1. */
static int
bk_copy_file(const char *src, const char *dst)
{
	unsigned char	 buf[65536];
	ssize_t		 r;
	int		 in, out, ret = -1;

	if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (-1);
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		close(in);
		return (-1);
	}
	for (;;) {
		if ((r = read(in, buf, sizeof(buf))) < 0) {
			if (errno == EINTR)
				continue;
			goto done;
		}
		if (r == 0)
			break;
		if (bk_write_all(out, buf, (size_t)r) != 0)
			goto done;
	}
	ret = fsync(out);
 done:
	close(in);
	if (close(out) != 0)
		ret = -1;
	return (ret);
}

/*
 * The walks (nftw() takes no argument): one walk at a time per thread,
 * its state here.
 */
struct bk_walk {
	const char	*w_src;		/* the tree walked */
	size_t		 w_srclen;
	const char	*w_dst;		/* copy: where to */
	json_t		*w_list;	/* entries / skipped names */
	json_t		*w_skipped;
	json_t		*w_want;	/* verify: {name: {size, sha256}} */
	const char	*w_prefix;	/* the names' prefix in the archive */
	struct bk_err	*w_err;
	long long	 w_files;
};
static __thread struct bk_walk *bk_w;

/* The name of fpath in the archive: the prefix and its path below the
 * walk's root (no leading '/'). */
static void
bk_rel(const char *fpath, char *out, size_t outlen)
{
	const char	*r = fpath + bk_w->w_srclen;

	while (*r == '/')
		r++;
	if (bk_w->w_prefix[0] != '\0')
		bk_fmt(out, outlen, "%s%s%s", bk_w->w_prefix,
		    *r != '\0' ? "/" : "", r);
	else
		bk_fmt(out, outlen, "%s", r);
}

static int
bk_copy_cb(const char *fpath, const struct stat *sb, int type,
    struct FTW *ftw)
{
	char	dst[BK_PATH_MAX], rel[BK_PATH_MAX];

	(void)sb;
	(void)ftw;
	bk_rel(fpath, rel, sizeof(rel));
	if (bk_fmt(dst, sizeof(dst), "%s%s", bk_w->w_dst,
	    fpath + bk_w->w_srclen) >= (int)sizeof(dst)) {
		bk_fail(bk_w->w_err, 500, "path too long: %s", rel);
		return (1);
	}
	switch (type) {
	case FTW_D:
		if (mkdir(dst, 0700) != 0 && errno != EEXIST) {
			bk_fail(bk_w->w_err, 500, "could not make %s: %s",
			    dst, strerror(errno));
			return (1);
		}
		return (0);
	case FTW_F:
		if (bk_copy_file(fpath, dst) != 0) {
			bk_fail(bk_w->w_err, 500, "could not copy %s: %s",
			    fpath, strerror(errno));
			return (1);
		}
		bk_w->w_files++;
		return (0);
	default:		/* a symbolic link, a socket: not archived */
		if (bk_w->w_skipped != NULL)
			json_array_append_new(bk_w->w_skipped,
			    json_string(rel));
		return (0);
	}
}

/* Copies the tree src to dst (made; regular files and directories only,
 * the rest named in skipped when not NULL); 0 or -1 with e set. */
static int
bk_copy_tree(const char *src, const char *dst, json_t *skipped,
    struct bk_err *e)
{
	struct bk_walk	w = { .w_src = src, .w_srclen = strlen(src),
			    .w_dst = dst, .w_skipped = skipped,
			    .w_prefix = BK_WORKSPACES, .w_err = e };
	int		rv;

	bk_w = &w;
	rv = nftw(src, bk_copy_cb, 32, FTW_PHYS);
	bk_w = NULL;
	if (rv != 0)
		bk_fail(e, 500, "could not copy %s: %s", src, strerror(errno));
	return (rv == 0 ? 0 : -1);
}

static int
bk_rm_cb(const char *fpath, const struct stat *sb, int type,
    struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(fpath) != 0 && errno != ENOENT)
		log_warnx("backup: could not remove %s: %s", fpath,
		    strerror(errno));
	return (0);
}

/* rm -rf path (logged when something stays). */
static void
bk_rm_tree(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) != 0)
		return;
	(void)nftw(path, bk_rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

/* Entries of the manifest: every regular file under the staging root,
 * but the manifest. */
static int
bk_entry_cb(const char *fpath, const struct stat *sb, int type,
    struct FTW *ftw)
{
	char		 rel[BK_PATH_MAX], hex[AUDIT_HASH_HEX];
	long long	 size;

	(void)sb;
	(void)ftw;
	if (type == FTW_D)
		return (0);
	bk_rel(fpath, rel, sizeof(rel));
	if (type != FTW_F) {
		bk_fail(bk_w->w_err, 500, "unexpected entry %s", rel);
		return (1);
	}
	if (strcmp(rel, BK_MANIFEST) == 0)
		return (0);
	if (bk_sha256_file(fpath, hex, &size) != 0) {
		bk_fail(bk_w->w_err, 500, "could not read %s: %s", fpath,
		    strerror(errno));
		return (1);
	}
	if (json_array_append_new(bk_w->w_list, json_pack("{s:s, s:I, s:s}",
	    "name", rel, "size", (json_int_t)size, "sha256", hex)) != 0) {
		bk_fail(bk_w->w_err, 500, "out of memory");
		return (1);
	}
	return (0);
}

/*
 * The verify walk over an extracted archive: every regular file must be
 * an entry of the manifest with its size and SHA-256 (removed from
 * w_want as found), anything else but directories is refused.
 */
static int
bk_verify_cb(const char *fpath, const struct stat *sb, int type,
    struct FTW *ftw)
{
	json_t		*want;
	char		 rel[BK_PATH_MAX], hex[AUDIT_HASH_HEX];
	long long	 size;

	(void)sb;
	(void)ftw;
	if (type == FTW_D)
		return (0);
	bk_rel(fpath, rel, sizeof(rel));
	if (type != FTW_F) {
		bk_fail(bk_w->w_err, 400, "the archive holds '%s', which is "
		    "not a regular file or directory", rel);
		return (1);
	}
	if (strcmp(rel, BK_MANIFEST) == 0)
		return (0);
	if ((want = json_object_get(bk_w->w_want, rel)) == NULL) {
		bk_fail(bk_w->w_err, 400, "the archive holds '%s', which its "
		    "manifest does not list", rel);
		return (1);
	}
	if (bk_sha256_file(fpath, hex, &size) != 0) {
		bk_fail(bk_w->w_err, 500, "could not read %s: %s", fpath,
		    strerror(errno));
		return (1);
	}
	if (size != json_integer_value(json_object_get(want, "size")) ||
	    strcmp(hex, json_string_value(json_object_get(want,
	    "sha256"))) != 0) {
		bk_fail(bk_w->w_err, 400, "checksum mismatch: entry '%s' is "
		    "not the one the manifest lists (tampered or damaged)",
		    rel);
		return (1);
	}
	json_object_del(bk_w->w_want, rel);
	bk_w->w_files++;
	return (0);
}

/* ---- child processes -------------------------------------------------- */

/* A child's argument vector: copies, so literals stay const. */
#define BK_ARGS	64
struct bk_argv {
	char	*av_v[BK_ARGS + 1];
	int	 av_n;
	int	 av_bad;		/* a copy failed, or too many */
};

static void
bk_arg(struct bk_argv *a, const char *s)
{
	if (a->av_n >= BK_ARGS || s == NULL ||
	    (a->av_v[a->av_n] = strdup(s)) == NULL) {
		a->av_bad = 1;
		return;
	}
	a->av_v[++a->av_n] = NULL;
}

static void
bk_argv_free(struct bk_argv *a)
{
	int	i;

	for (i = 0; i < a->av_n; i++)
		free(a->av_v[i]);
	a->av_n = 0;
	a->av_v[0] = NULL;
}

/* The environment of a child: ours without PG*, and the database's
 * connection parameters as libpq's variables (PGHOST, PGPASSWORD, ...).
 * New (bk_env_free), or NULL. */
static char **
bk_env(void)
{
	PQconninfoOption	*opts, *o;
	char			**env, *err = NULL;
	size_t			 n = 0, i = 0, len;

	if ((opts = PQconninfoParse(bk.conninfo, &err)) == NULL) {
		log_warnx("backup: the database URL does not parse: %s",
		    err != NULL ? err : "out of memory");
		PQfreemem(err);
		return (NULL);
	}
	while (environ[n] != NULL)
		n++;
	for (o = opts; o->keyword != NULL; o++)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		goto done;
	for (n = 0; environ[n] != NULL; n++)
		if (strncmp(environ[n], "PG", 2) != 0 &&
		    (env[i] = strdup(environ[n])) != NULL)
			i++;
	for (o = opts; o->keyword != NULL; o++) {
		if (o->envvar == NULL || o->val == NULL || o->val[0] == '\0')
			continue;
		len = strlen(o->envvar) + strlen(o->val) + 2;
		if ((env[i] = malloc(len)) == NULL)
			continue;
		bk_fmt(env[i++], len, "%s=%s", o->envvar, o->val);
	}
	env[i++] = strdup("PGAPPNAME=librefang-backup");
	env[i] = NULL;
 done:
	PQconninfoFree(opts);
	return (env);
}

static void
bk_env_free(char **env)
{
	size_t	i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++) {
		explicit_bzero(env[i], strlen(env[i]));
		free(env[i]);
	}
	free(env);
}

/* Starts argv (argv[0] from PATH) with env, its stdin in (-1: /dev/null),
 * stdout out (-1: /dev/null), stderr errfd; 0 or an errno. */
static int
bk_spawn(char *const argv[], char *const env[], int in, int out, int errfd,
    pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 sa;
	sigset_t			 none, dfl;
	int				 rv;

	if ((rv = posix_spawn_file_actions_init(&fa)) != 0)
		return (rv);
	if ((rv = posix_spawnattr_init(&sa)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return (rv);
	}
	/* Our threads block SIGPIPE and friends; the child must not. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	rv = in != -1 ? posix_spawn_file_actions_adddup2(&fa, in, 0) :
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rv == 0)
		rv = out != -1 ? posix_spawn_file_actions_adddup2(&fa, out, 1) :
		    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
		    O_WRONLY, 0);
	if (rv == 0 &&
	    (rv = posix_spawn_file_actions_adddup2(&fa, errfd, 2)) == 0 &&
	    (rv = posix_spawnattr_setsigmask(&sa, &none)) == 0 &&
	    (rv = posix_spawnattr_setsigdefault(&sa, &dfl)) == 0 &&
	    (rv = posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF)) == 0)
		rv = posix_spawnp(pid, argv[0], &fa, &sa, argv,
		    env != NULL ? env : environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	return (rv);
}

/* Waits for pid, killed after BK_CHILD_MS; its exit status, 128+signal,
 * or -1. */
static int
bk_reap(pid_t pid)
{
	uint64_t	deadline = util_now_ms() + BK_CHILD_MS;
	int		st, killed = 0;
	pid_t		r;

	for (;;) {
		if ((r = waitpid(pid, &st, WNOHANG)) == pid)
			break;
		if (r < 0 && errno != EINTR)
			return (-1);
		if (!killed && util_now_ms() > deadline) {
			log_warnx("backup: child %d still running after %lld "
			    "ms: killed", (int)pid, BK_CHILD_MS);
			kill(pid, SIGKILL);
			killed = 1;
		}
		util_sleep_ms(10);
	}
	if (WIFEXITED(st))
		return (WEXITSTATUS(st));
	return (128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
}

/* The last BK_ERR_TAIL bytes of the file at fd, one line, into out. */
static void
bk_err_tail(int fd, char *out, size_t outlen)
{
	off_t	end = lseek(fd, 0, SEEK_END), from;
	ssize_t	r;
	size_t	i;

	out[0] = '\0';
	if (end <= 0 || outlen < 2)
		return;
	from = end > BK_ERR_TAIL ? end - BK_ERR_TAIL : 0;
	if (from >= end)
		return;
	if ((size_t)(end - from) >= outlen)
		from = end - (off_t)outlen + 1;
	if ((r = pread(fd, out, (size_t)(end - from), from)) < 0)
		r = 0;
	out[r] = '\0';
	while (r > 0 && (out[r - 1] == '\n' || out[r - 1] == ' '))
		out[--r] = '\0';
	for (i = 0; i < (size_t)r; i++)
		if (out[i] == '\n' || out[i] == '\t')
			out[i] = ' ';
}

/* A temporary file for a child's stderr (unlinked at once); fd or -1. */
static int
bk_errfile(void)
{
	char	path[BK_PATH_MAX];
	int	fd;

	if (mkdir(bk.dir, 0700) != 0 && errno != EEXIST)
		return (-1);
	bk_fmt(path, sizeof(path), "%s/.stderr.XXXXXX", bk.dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return (-1);
	unlink(path);
	return (fd);
}

/*
 * Runs argv to its end (stdout to out, -1: /dev/null; with the
 * database's environment when env is set); 0, or -1 with e set to
 * status and what the child said.
 */
static int
bk_run(char *const argv[], int env, int out, int status, const char *what,
    struct bk_err *e)
{
	char	**envp = NULL, tail[BK_ERR_TAIL + 1];
	pid_t	  pid;
	int	  errfd, rv, st = -1;

	if ((errfd = bk_errfile()) == -1) {
		bk_fail(e, 500, "%s: no temporary file: %s", what,
		    strerror(errno));
		return (-1);
	}
	if (env && (envp = bk_env()) == NULL) {
		close(errfd);
		bk_fail(e, 500, "%s: the database URL does not parse", what);
		return (-1);
	}
	if ((rv = bk_spawn(argv, envp, -1, out, errfd, &pid)) != 0)
		bk_fail(e, 500, "%s: could not run %s: %s", what, argv[0],
		    strerror(rv));
	else if ((st = bk_reap(pid)) != 0) {
		bk_err_tail(errfd, tail, sizeof(tail));
		bk_fail(e, status, "%s: %s exited %d: %s", what, argv[0], st,
		    tail);
	}
	bk_env_free(envp);
	close(errfd);
	return (st == 0 ? 0 : -1);
}

/* The member name of archive, up to max bytes (new, NUL-ended; *lenp),
 * or NULL. */
static char *
bk_read_member(const char *archive, const char *name, size_t max,
    size_t *lenp)
{
	struct bk_argv av = { { NULL }, 0, 0 };
	char	chunk[16384];
	struct buf b;
	ssize_t	r;
	pid_t	pid;
	int	p[2], errfd, rv, bad = 0;

	bk_arg(&av, "tar");
	bk_arg(&av, "-xOf");
	bk_arg(&av, archive);
	bk_arg(&av, name);
	if (av.av_bad || (errfd = bk_errfile()) == -1) {
		bk_argv_free(&av);
		return (NULL);
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		bk_argv_free(&av);
		close(errfd);
		return (NULL);
	}
	rv = bk_spawn(av.av_v, NULL, -1, p[1], errfd, &pid);
	bk_argv_free(&av);
	close(p[1]);
	close(errfd);
	if (rv != 0) {
		close(p[0]);
		return (NULL);
	}
	buf_init(&b, max + 1);
	for (;;) {
		if ((r = read(p[0], chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR)
				continue;
			bad = 1;
			break;
		}
		if (r == 0)
			break;
		if (!bad && buf_add(&b, chunk, (size_t)r) != 0)
			bad = 1;	/* read on: the child must end */
	}
	close(p[0]);
	if (bk_reap(pid) != 0 || bad || buf_add(&b, "", 1) != 0) {
		buf_release(&b);
		return (NULL);
	}
	*lenp = b.b_len - 1;
	return (buf_detach(&b));
}

/* ---- the audit entry ------------------------------------------------- */

/* Chains a ConfigChange entry (agent "system") with detail; after a
 * restore (reset) the anchor file is rewritten backwards too.  0 or -1
 * (logged). */
static int
bk_audit(struct db *db, const char *detail, int reset)
{
	struct audit_tip t;
	json_t		*list;
	char		 id[UTIL_UUID_LEN], ts[32];
	int		 ret = -1, intx = 0;

	util_uuid4(id);
	util_rfc3339(util_wall_ms(), ts);
	list = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s}]", "id", id,
	    "timestamp", ts, "agent_id", "system", "action", "ConfigChange",
	    "detail", detail, "outcome", "success");
	if (list == NULL || db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	intx = 1;
	if (chain_lock_head(db, &t) != 0 ||
	    chain_append_locked(db, list, "audit", &t) != 1 ||
	    db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto done;
	intx = 0;
	if (reset)
		anchor_reset(t.at_next, t.at_tip);
	else
		anchor_write(t.at_next, t.at_tip);
	ret = 0;
 done:
	if (ret != 0)
		log_warnx("backup: could not chain '%s': %s", detail,
		    db_errmsg(db));
	if (intx)
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
	json_decref(list);
	return (ret);
}

/* ---- the lock, the installation --------------------------------------- */

/* Takes the backup lock: 0, or -1 after a 409 or 503 reply. */
static int
bk_lock(struct svc_ctx *c, struct svc_reply *rp)
{
	PGresult	*res;
	int		 got;

	if ((res = db_exec(c->sc_db, SQL_LOCK, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got) {
		svc_reply_error(rp, 409, "a backup or restore is already "
		    "running; try again when it has finished");
		return (-1);
	}
	return (0);
}

static void
bk_unlock(struct svc_ctx *c)
{
	PGresult	*res = db_exec(c->sc_db, SQL_UNLOCK, 0, NULL);

	if (res == NULL)	/* a lost connection took the lock with it */
		log_warnx("backup: unlock: %s", db_errmsg(c->sc_db));
	PQclear(res);
}

/* This installation's id into id; 0, or -1. */
static int
bk_installation(struct db *db, char id[UTIL_UUID_LEN])
{
	PGresult	*res;
	int		 ret = -1;

	if ((res = db_exec(db, SQL_INSTALLATION, 0, NULL)) == NULL)
		return (-1);
	if (PQntuples(res) == 1) {
		bk_fmt(id, UTIL_UUID_LEN, "%s", PQgetvalue(res, 0, 0));
		ret = 0;
	}
	PQclear(res);
	return (ret);
}

/* ---- backup.create ---------------------------------------------------- */

/* The schemas to dump (new array), or NULL. */
static json_t *
bk_schemas(struct db *db)
{
	PGresult	*res;
	json_t		*a;
	int		 i;

	if ((res = db_exec(db, SQL_SCHEMAS, 0, NULL)) == NULL)
		return (NULL);
	if ((a = json_array()) != NULL)
		for (i = 0; i < PQntuples(res); i++)
			if (bk_schema_ok(PQgetvalue(res, i, 0)))
				json_array_append_new(a,
				    json_string(PQgetvalue(res, i, 0)));
	PQclear(res);
	return (a);
}

/* 1 if path is a directory, 0 if absent, -1 otherwise (errno). */
static int
bk_isdir(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) != 0)
		return (errno == ENOENT ? 0 : -1);
	if (S_ISDIR(st.st_mode))
		return (1);
	errno = ENOTDIR;
	return (-1);
}

/* Writes v as path (new file); 0 or -1. */
static int
bk_write_json(const char *path, json_t *v)
{
	char	*s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
	int	 fd, ret = -1;

	if (s == NULL)
		return (-1);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) != -1) {
		ret = bk_write_all(fd, (const unsigned char *)s, strlen(s));
		if (ret == 0)
			ret = fsync(fd);
		if (close(fd) != 0)
			ret = -1;
	}
	free(s);
	return (ret);
}

/* fsync of the directory dir (after a rename into it). */
static void
bk_sync_dir(const char *dir)
{
	int	fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The ISO time of ms and the archive's name made of it. */
static void
bk_stamp(int64_t ms, char ts[32], char name[BK_NAME_LEN + 1])
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;
	char		s[16];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y%m%d_%H%M%S", &tm);
	bk_fmt(name, BK_NAME_LEN + 1, "%s%s%s", BK_PREFIX, s, BK_EXT);
	util_rfc3339(ms, ts);
}

/* One list item of the spec from a row of SQL_LIST/SQL_ONE (new). */
static json_t *
bk_item(PGresult *res, int i)
{
	json_t		*m, *o;
	struct stat	 st;
	char		 mod[32];
	long long	 size = 0;
	const char	*path = PQgetvalue(res, i, 1);

	m = json_loads(PQgetvalue(res, i, 6), 0, NULL);
	(void)util_strtonum(PQgetvalue(res, i, 2), 0, LLONG_MAX, &size);
	if (stat(path, &st) == 0)
		util_rfc3339((int64_t)st.st_mtime * 1000, mod);
	else
		bk_fmt(mod, sizeof(mod), "%s", PQgetvalue(res, i, 5));
	o = json_pack("{s:s, s:s, s:I, s:s, s:O*, s:O*, s:s, s:s, s:s}",
	    "filename", PQgetvalue(res, i, 0), "path", path,
	    "size_bytes", (json_int_t)size, "modified_at", mod,
	    "components", json_object_get(m, "components"),
	    "librefang_version", json_object_get(m, "librefang_version"),
	    "created_at", PQgetvalue(res, i, 5), "host",
	    PQgetvalue(res, i, 4), "sha256", PQgetvalue(res, i, 3));
	json_decref(m);
	return (o);
}

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct bk_err	 e = { 0, "" };
	struct bk_walk	 w;
	json_t		*schemas = NULL, *comps = NULL, *entries = NULL,
			*skipped = NULL, *man = NULL, *v;
	char		 stage[BK_PATH_MAX], tmp[BK_PATH_MAX], fin[BK_PATH_MAX];
	char		 p1[BK_PATH_MAX], p2[BK_PATH_MAX], ts[32];
	char		 name[BK_NAME_LEN + 1], inst[UTIL_UUID_LEN];
	char		 hex[AUDIT_HASH_HEX], size_s[24], detail[256], *ms = NULL;
	struct bk_argv	 av = { { NULL }, 0, 0 };
	const char	*params[7];
	long long	 size = 0;
	size_t		 i;
	int		 try, have_conf, have_ws, rv;
	struct stat	 st;

	(void)rq;
	stage[0] = tmp[0] = '\0';
	if (bk_lock(c, rp) != 0)
		return;
	if (mkdir(bk.dir, 0700) != 0 && errno != EEXIST) {
		bk_fail(&e, 500, "could not make %s: %s", bk.dir,
		    strerror(errno));
		goto done;
	}
	if (bk_installation(c->sc_db, inst) != 0 ||
	    (schemas = bk_schemas(c->sc_db)) == NULL) {
		bk_fail(&e, 503, "database unavailable: %s",
		    db_errmsg(c->sc_db));
		goto done;
	}
	/* The name is the second: the lock makes backups one at a time, a
	 * second one within the same second waits for the next. */
	for (try = 0; ; try++) {
		bk_stamp(util_wall_ms(), ts, name);
		bk_fmt(fin, sizeof(fin), "%s/%s", bk.dir, name);
		if (lstat(fin, &st) != 0 || try == 3)
			break;
		util_sleep_ms(350);
	}
	if (lstat(fin, &st) == 0) {
		bk_fail(&e, 409, "%s exists already", name);
		goto done;
	}
	bk_fmt(stage, sizeof(stage), "%s/.stage-%s-%d", bk.dir, name,
	    (int)getpid());
	bk_fmt(tmp, sizeof(tmp), "%s/.%s.%d.tmp", bk.dir, name,
	    (int)getpid());
	bk_rm_tree(stage);
	if (mkdir(stage, 0700) != 0) {
		bk_fail(&e, 500, "could not make %s: %s", stage,
		    strerror(errno));
		goto done;
	}
	comps = json_array();
	skipped = json_array();
	entries = json_array();
	if (comps == NULL || skipped == NULL || entries == NULL) {
		bk_fail(&e, 500, "out of memory");
		goto done;
	}

	/* The database: one pg_dump, one snapshot of every schema. */
	bk_arg(&av, "pg_dump");
	bk_arg(&av, "--format=custom");
	bk_arg(&av, "--no-owner");
	bk_arg(&av, "--no-privileges");
	bk_fmt(p1, sizeof(p1), "--file=%s/%s", stage, BK_DUMP);
	bk_arg(&av, p1);
	for (i = 0; i < json_array_size(schemas); i++) {
		bk_arg(&av, "--schema");
		bk_arg(&av, json_string_value(json_array_get(schemas, i)));
	}
	if (json_array_size(schemas) == 0 || av.av_bad) {
		bk_fail(&e, 500, "no LibreFang schema to dump (or too many)");
		goto done;
	}
	rv = bk_run(av.av_v, 1, -1, 503, "pg_dump", &e);
	bk_argv_free(&av);
	if (rv != 0)
		goto done;
	json_array_append_new(comps, json_string("database"));

	/* config.toml and the workspaces. */
	bk_fmt(p1, sizeof(p1), "%s/%s", stage, BK_CONFIG);
	if ((have_conf = lstat(bk.config, &st) == 0 && S_ISREG(st.st_mode))) {
		if (bk_copy_file(bk.config, p1) != 0) {
			bk_fail(&e, 500, "could not copy %s: %s", bk.config,
			    strerror(errno));
			goto done;
		}
		json_array_append_new(comps, json_string("config"));
	}
	bk_fmt(p1, sizeof(p1), "%s/%s", bk.data, BK_WORKSPACES);
	bk_fmt(p2, sizeof(p2), "%s/%s", stage, BK_WORKSPACES);
	if ((have_ws = bk_isdir(p1)) < 0) {
		bk_fail(&e, 500, "%s: %s", p1, strerror(errno));
		goto done;
	}
	if (have_ws) {
		if (bk_copy_tree(p1, p2, skipped, &e) != 0)
			goto done;
		json_array_append_new(comps, json_string("workspaces"));
	}

	/* The manifest: every entry's size and SHA-256. */
	memset(&w, 0, sizeof(w));
	w.w_src = stage;
	w.w_srclen = strlen(stage);
	w.w_list = entries;
	w.w_prefix = "";
	w.w_err = &e;
	bk_w = &w;
	rv = nftw(stage, bk_entry_cb, 32, FTW_PHYS);
	bk_w = NULL;
	if (rv != 0) {
		bk_fail(&e, 500, "could not read the staged files: %s",
		    strerror(errno));
		goto done;
	}
	man = json_pack("{s:i, s:s, s:s, s:s, s:s, s:O, s:{s:s, s:O}, "
	    "s:O, s:O}", "version", BK_VERSION, "created_at", ts,
	    "hostname", svc_host_name(), "librefang_version",
	    LIBREFANG_VERSION, "installation_id", inst, "components", comps,
	    "database", "format", "pg_dump custom", "schemas", schemas,
	    "entries", entries, "skipped", skipped);
	bk_fmt(p1, sizeof(p1), "%s/%s", stage, BK_MANIFEST);
	if (man == NULL || bk_write_json(p1, man) != 0) {
		bk_fail(&e, 500, "could not write the manifest: %s",
		    strerror(errno));
		goto done;
	}

	/* The archive, under a temporary name, then renamed. */
	bk_arg(&av, "tar");
	bk_arg(&av, "--create");
	bk_arg(&av, "--format=gnu");
	bk_arg(&av, "--owner=0");
	bk_arg(&av, "--group=0");
	bk_arg(&av, "--numeric-owner");
	bk_fmt(p2, sizeof(p2), "--file=%s", tmp);
	bk_arg(&av, p2);
	bk_arg(&av, "-C");
	bk_arg(&av, stage);
	bk_arg(&av, BK_MANIFEST);
	bk_arg(&av, BK_DUMP);
	if (have_conf)
		bk_arg(&av, BK_CONFIG);
	if (have_ws)
		bk_arg(&av, BK_WORKSPACES);
	if (av.av_bad) {
		bk_fail(&e, 500, "out of memory");
		goto done;
	}
	rv = bk_run(av.av_v, 0, -1, 500, "tar", &e);
	bk_argv_free(&av);
	if (rv != 0)
		goto done;
	if (bk_sha256_file(tmp, hex, &size) != 0) {
		bk_fail(&e, 500, "could not read %s: %s", tmp,
		    strerror(errno));
		goto done;
	}
	{
		int	fd = open(tmp, O_RDONLY | O_CLOEXEC);

		if (fd == -1 || fsync(fd) != 0) {
			bk_fail(&e, 500, "could not sync %s: %s", tmp,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			goto done;
		}
		close(fd);
	}
	if (rename(tmp, fin) != 0) {
		bk_fail(&e, 500, "could not rename %s: %s", tmp,
		    strerror(errno));
		goto done;
	}
	tmp[0] = '\0';
	bk_sync_dir(bk.dir);

	/* Listed for every replica. */
	bk_fmt(size_s, sizeof(size_s), "%lld", size);
	if ((ms = json_dumps(man, JSON_COMPACT)) == NULL) {
		bk_fail(&e, 500, "out of memory");
		goto done;
	}
	params[0] = name;
	params[1] = fin;
	params[2] = size_s;
	params[3] = hex;
	params[4] = svc_host_name();
	params[5] = ts;
	params[6] = ms;
	if (db_cmd(c->sc_db, SQL_INSERT, 7, params) != 0) {
		bk_fail(&e, 503, "database unavailable: %s",
		    db_errmsg(c->sc_db));
		unlink(fin);
		goto done;
	}
	bk_fmt(detail, sizeof(detail), "backup created: %s (%lld bytes)",
	    name, size);
	(void)bk_audit(c->sc_db, detail, 0);
	log_info("backup %s: %lld bytes, %zu entries", fin, size,
	    json_array_size(entries));
	v = json_pack("{s:s, s:s, s:I, s:O, s:s, s:s, s:s, s:I, s:O}",
	    "filename", name, "path", fin, "size_bytes", (json_int_t)size,
	    "components", comps, "created_at", ts, "sha256", hex,
	    "installation_id", inst, "entries",
	    (json_int_t)json_array_size(entries), "skipped", skipped);
	svc_reply_json(rp, 200, v);
 done:
	if (e.be_status != 0) {
		log_warnx("backup failed: %s", e.be_msg);
		svc_reply_error(rp, e.be_status, "%s", e.be_msg);
	}
	if (stage[0] != '\0')
		bk_rm_tree(stage);
	if (tmp[0] != '\0')
		unlink(tmp);
	free(ms);
	json_decref(schemas);
	json_decref(comps);
	json_decref(entries);
	json_decref(skipped);
	json_decref(man);
	bk_argv_free(&av);
	bk_unlock(c);
}

/* ---- backup.list, backup.delete ---------------------------------------- */

/* An item for an archive in our directory that the list does not know
 * (copied in by hand, say): what its manifest says (new). */
static json_t *
bk_item_file(const char *name)
{
	char		 path[BK_PATH_MAX], mod[32], *txt;
	struct stat	 st;
	json_t		*m = NULL, *o;
	size_t		 len;

	bk_fmt(path, sizeof(path), "%s/%s", bk.dir, name);
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return (NULL);
	if ((txt = bk_read_member(path, BK_MANIFEST, BK_MANIFEST_MAX,
	    &len)) != NULL)
		m = json_loadb(txt, len, 0, NULL);
	free(txt);
	util_rfc3339((int64_t)st.st_mtime * 1000, mod);
	o = json_pack("{s:s, s:s, s:I, s:s, s:O*, s:O*, s:O*, s:s}",
	    "filename", name, "path", path, "size_bytes",
	    (json_int_t)st.st_size, "modified_at", mod,
	    "components", json_object_get(m, "components"),
	    "librefang_version", json_object_get(m, "librefang_version"),
	    "created_at", json_object_get(m, "created_at"),
	    "host", svc_host_name());
	json_decref(m);
	return (o);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list = json_array(), *known = json_object();
	struct dirent	*d;
	DIR		*dir;
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_LIST, 0, NULL)) == NULL) {
		json_decref(list);
		json_decref(known);
		svc_reply_db_error(rp, c);
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		json_object_set_new(known, PQgetvalue(res, i, 0), json_true());
		svc_list_add(&list, bk_item(res, i));
	}
	PQclear(res);
	if ((dir = opendir(bk.dir)) != NULL) {
		while ((d = readdir(dir)) != NULL)
			if (bk_name_ok(d->d_name) &&
			    json_object_get(known, d->d_name) == NULL)
				svc_list_add(&list, bk_item_file(d->d_name));
		closedir(dir);
	}
	json_decref(known);
	svc_reply_list(rp, "backups", list);
}

/* params.name as an archive name: borrowed, or NULL after a 400. */
static const char *
bk_param_name(const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*s = json_string_value(json_object_get(rq->mr_params,
			    PARAM_NAME));

	if (!bk_name_ok(s)) {
		svc_reply_error(rp, 400, "invalid backup filename: expected "
		    "a bare name librefang_backup_YYYYMMDD_HHMMSS.tar");
		return (NULL);
	}
	return (s);
}

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	const char	*name, *p[1];
	char		 path[BK_PATH_MAX], detail[256];
	int		 row, file;

	if ((name = bk_param_name(rq, rp)) == NULL)
		return;
	p[0] = name;
	bk_fmt(path, sizeof(path), "%s/%s", bk.dir, name);
	if ((res = db_exec(c->sc_db, SQL_DELETE, 1,
	    p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	row = PQntuples(res) > 0;
	PQclear(res);
	file = unlink(path) == 0;
	if (!file && errno != ENOENT) {
		svc_reply_error(rp, 500, "could not remove %s: %s", name,
		    strerror(errno));
		return;
	}
	if (!row && !file) {
		svc_reply_error(rp, 404, "backup '%s' not found", name);
		return;
	}
	bk_fmt(detail, sizeof(detail), "backup deleted: %s", name);
	(void)bk_audit(c->sc_db, detail, 0);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "deleted",
	    "filename", name));
}

/* ---- backup.restore --------------------------------------------------- */

/*
 * Checks the extracted archive at dir against its manifest (read into
 * *man): version, installation (unless foreign is allowed), schemas,
 * every entry.  0, or -1 with e set.
 */
static int
bk_verify(const char *dir, const char *inst, int allow_foreign,
    json_t **man, struct bk_err *e)
{
	struct bk_walk	 w;
	json_t		*m, *want = NULL, *ent, *s;
	json_error_t	 je;
	const char	*k, *name, *sha;
	char		 path[BK_PATH_MAX];
	size_t		 i;
	int		 rv;

	bk_fmt(path, sizeof(path), "%s/%s", dir, BK_MANIFEST);
	if ((m = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		bk_fail(e, 400, "the archive has no readable %s (%s)",
		    BK_MANIFEST, je.text);
		return (-1);
	}
	*man = m;
	if (json_integer_value(json_object_get(m, "version")) != BK_VERSION) {
		bk_fail(e, 400, "unsupported manifest version (expected %d)",
		    BK_VERSION);
		return (-1);
	}
	if (json_string_value(json_object_get(m, "installation_id")) ==
	    NULL || !json_is_array(json_object_get(m, "entries")) ||
	    !json_is_array(s = json_object_get(json_object_get(m, "database"), "schemas"))) {
		bk_fail(e, 400, "the manifest lacks installation_id, entries "
		    "or database.schemas");
		return (-1);
	}
	json_array_foreach(s, i, ent)
		if (!bk_schema_ok(json_string_value(ent))) {
			bk_fail(e, 400, "the manifest names a bad schema");
			return (-1);
		}
	if ((want = json_object()) == NULL) {
		bk_fail(e, 500, "out of memory");
		return (-1);
	}
	json_array_foreach(json_object_get(m, "entries"), i, ent) {
		name = json_string_value(json_object_get(ent, "name"));
		sha = json_string_value(json_object_get(ent, "sha256"));
		if (name == NULL || sha == NULL || strlen(sha) != 64 ||
		    !json_is_integer(json_object_get(ent, "size")) ||
		    json_object_get(want, name) != NULL) {
			bk_fail(e, 400, "the manifest's entry %zu is bad "
			    "(name, size, sha256; each name once)", i);
			goto fail;
		}
		json_object_set(want, name, ent);
	}
	if (json_object_get(want, BK_DUMP) == NULL) {
		bk_fail(e, 400, "the archive holds no %s", BK_DUMP);
		goto fail;
	}
	memset(&w, 0, sizeof(w));
	w.w_src = dir;
	w.w_srclen = strlen(dir);
	w.w_want = want;
	w.w_prefix = "";
	w.w_err = e;
	bk_w = &w;
	rv = nftw(dir, bk_verify_cb, 32, FTW_PHYS);
	bk_w = NULL;
	if (rv != 0) {
		bk_fail(e, 500, "could not read the archive's files: %s",
		    strerror(errno));
		goto fail;
	}
	json_object_foreach(want, k, ent) {
		bk_fail(e, 400, "entry '%s' of the manifest is missing from "
		    "the archive (truncated or damaged)", k);
		goto fail;
	}
	if (!allow_foreign && strcmp(inst, json_string_value(json_object_get(
	    m, "installation_id"))) != 0) {
		bk_fail(e, 400, "foreign archive: it was made by installation "
		    "%.40s, not this one (%s); pass \"allow_foreign\": true to "
		    "restore it anyway", json_string_value(json_object_get(m,
		    "installation_id")), inst);
		goto fail;
	}
	json_decref(want);
	return (0);
 fail:
	json_decref(want);
	return (-1);
}

/*
 * The live config's counters, kept going up across a restore: before the
 * drop, the newest channels.config_versions version and config_reloads id
 * (their tables locked against a change meanwhile) are kept in the
 * transaction's settings; after the dump's data, each sequence is set
 * past both the archive's and the running system's.  Every process skips
 * a config version at or below the one it applied (libshared/cfgsync.c),
 * and each channels replica a config_reloads id at or below the last it
 * saw: numbers that went back would be ignored until they restart.
 * A table absent (before its migration) is left alone.
 */
#define BK_CFG_COUNTERS(f) \
	f("config_versions", "version", "librefang.restore_cfg_version") \
	f("config_reloads", "id", "librefang.restore_cfg_reload")
#define BK_CFG_KEEP(t, col, guc) \
	"PERFORM pg_catalog.set_config('" guc "', '0', true); " \
	"IF pg_catalog.to_regclass('channels." t "') IS NOT NULL THEN " \
	"LOCK TABLE channels." t " IN EXCLUSIVE MODE; " \
	"PERFORM pg_catalog.set_config('" guc "', (SELECT " \
	"coalesce(max(" col "), 0) FROM channels." t ")::text, true); " \
	"END IF; "
#define BK_CFG_BUMP(t, col, guc) \
	"IF pg_catalog.to_regclass('channels." t "') IS NOT NULL THEN " \
	"PERFORM pg_catalog.setval(pg_catalog.pg_get_serial_sequence(" \
	"'channels." t "', '" col "'), greatest(1, " \
	"coalesce(pg_catalog.current_setting('" guc "', true), '0')" \
	"::bigint, (SELECT coalesce(max(" col "), 0) FROM channels." t \
	"))); END IF; "
#define BK_CFG_PRE \
	"DO $bk$ BEGIN " BK_CFG_COUNTERS(BK_CFG_KEEP) "END $bk$; "
#define BK_CFG_POST \
	"DO $bk$ BEGIN " BK_CFG_COUNTERS(BK_CFG_BUMP) "END $bk$;"

/*
 * The database back: every schema of the archive dropped and made again
 * from the dump, in one transaction (pg_restore's SQL into psql
 * --single-transaction): all or nothing; the config counters kept going
 * up (BK_CFG_PRE, BK_CFG_POST).  0, or -1 with e set.
 */
static int
bk_restore_db(const char *dir, json_t *schemas, struct bk_err *e)
{
	struct buf	 pre;
	json_t		*s;
	char		 dump[BK_PATH_MAX], tail[BK_ERR_TAIL + 1];
	struct bk_argv	 ra = { { NULL }, 0, 0 }, pa = { { NULL }, 0, 0 };
	char		**envp = NULL;
	pid_t		 rpid = -1, ppid = -1;
	size_t		 i;
	int		 p[2] = { -1, -1 }, rerr = -1, perr = -1, rv, rs = -1,
			 ps = -1;

	buf_init(&pre, 65536);
	if (buf_adds(&pre, "SET lock_timeout = '60s'; " BK_CFG_PRE) != 0)
		goto oom;
	json_array_foreach(schemas, i, s)
		if (buf_addf(&pre, "DROP SCHEMA IF EXISTS \"%s\" CASCADE; ",
		    json_string_value(s)) != 0)
			goto oom;
	if (buf_add(&pre, "", 1) != 0)
		goto oom;
	bk_fmt(dump, sizeof(dump), "%s/%s", dir, BK_DUMP);
	bk_arg(&ra, "pg_restore");
	bk_arg(&ra, "--no-owner");
	bk_arg(&ra, "--no-privileges");
	bk_arg(&ra, "--file=-");
	bk_arg(&ra, dump);
	bk_arg(&pa, "psql");
	bk_arg(&pa, "--no-psqlrc");
	bk_arg(&pa, "--quiet");
	bk_arg(&pa, "--set=ON_ERROR_STOP=1");
	bk_arg(&pa, "--single-transaction");
	bk_arg(&pa, "--command");
	bk_arg(&pa, pre.b_data);
	bk_arg(&pa, "--file=-");
	bk_arg(&pa, "--command");
	bk_arg(&pa, BK_CFG_POST);
	if (ra.av_bad || pa.av_bad)
		goto oom;
	if ((envp = bk_env()) == NULL) {
		bk_fail(e, 500, "the database URL does not parse");
		goto done;
	}
	if ((rerr = bk_errfile()) == -1 || (perr = bk_errfile()) == -1 ||
	    pipe2(p, O_CLOEXEC) != 0) {
		bk_fail(e, 500, "restore: %s", strerror(errno));
		goto done;
	}
	if ((rv = bk_spawn(ra.av_v, envp, -1, p[1], rerr, &rpid)) != 0) {
		bk_fail(e, 500, "could not run pg_restore: %s", strerror(rv));
		goto done;
	}
	close(p[1]);
	p[1] = -1;
	if ((rv = bk_spawn(pa.av_v, envp, p[0], -1, perr, &ppid)) != 0)
		bk_fail(e, 500, "could not run psql: %s", strerror(rv));
	close(p[0]);
	p[0] = -1;
	rs = bk_reap(rpid);
	if (ppid != -1 && ppid > 0 && e->be_status == 0)
		ps = bk_reap(ppid);
	if (e->be_status != 0)
		goto done;
	if (ps != 0) {
		bk_err_tail(perr, tail, sizeof(tail));
		bk_fail(e, 503, "the database restore was rolled back, "
		    "nothing changed: psql exited %d: %s", ps, tail);
	} else if (rs != 0) {
		/* psql committed what it read: a dump cut short is caught
		 * by the checksums first, so this is not expected. */
		bk_err_tail(rerr, tail, sizeof(tail));
		bk_fail(e, 500, "pg_restore exited %d: %s", rs, tail);
	}
	goto done;
 oom:
	bk_fail(e, 500, "out of memory");
 done:
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	if (rerr != -1)
		close(rerr);
	if (perr != -1)
		close(perr);
	bk_env_free(envp);
	bk_argv_free(&ra);
	bk_argv_free(&pa);
	buf_release(&pre);
	return (e->be_status == 0 ? 0 : -1);
}

/*
 * config.toml and the workspaces back from the extracted dir (each
 * renamed into place; the old workspaces moved aside, then removed).
 * The files restored counted in *files; failures appended to errors.
 */
static void
bk_restore_files(const char *dir, json_t *comps, json_t *errors,
    long long *files)
{
	struct bk_err	 e = { 0, "" };
	struct bk_walk	 w;
	char		 src[BK_PATH_MAX], dst[BK_PATH_MAX], old[BK_PATH_MAX];
	char		 tmp[BK_PATH_MAX];
	int		 have;

	bk_fmt(src, sizeof(src), "%s/%s", dir, BK_CONFIG);
	if (access(src, F_OK) == 0) {
		/* A copy beside the target, then a rename: atomic. */
		bk_fmt(tmp, sizeof(tmp), "%s.restore.%d", bk.config,
		    (int)getpid());
		unlink(tmp);
		if (bk_copy_file(src, tmp) != 0 || rename(tmp, bk.config) != 0) {
			json_array_append_new(errors, json_sprintf("config: "
			    "could not write %s: %s", bk.config,
			    strerror(errno)));
			unlink(tmp);
		} else {
			(*files)++;
			json_array_append_new(comps, json_string("config"));
		}
	}
	bk_fmt(src, sizeof(src), "%s/%s", dir, BK_WORKSPACES);
	if (bk_isdir(src) != 1)
		return;
	bk_fmt(dst, sizeof(dst), "%s/%s", bk.data, BK_WORKSPACES);
	bk_fmt(old, sizeof(old), "%s/.%s.pre-restore.%d", bk.data,
	    BK_WORKSPACES, (int)getpid());
	if (mkdir(bk.data, 0700) != 0 && errno != EEXIST) {
		json_array_append_new(errors, json_sprintf("workspaces: could "
		    "not make %s: %s", bk.data, strerror(errno)));
		return;
	}
	bk_rm_tree(old);
	if ((have = bk_isdir(dst)) == 1 && rename(dst, old) != 0) {
		json_array_append_new(errors, json_sprintf("workspaces: could "
		    "not move %s aside: %s", dst, strerror(errno)));
		return;
	}
	if (rename(src, dst) != 0 && (errno != EXDEV ||
	    bk_copy_tree(src, dst, NULL, &e) != 0)) {
		json_array_append_new(errors, json_sprintf("workspaces: could "
		    "not put them back in %s: %s", dst, e.be_status != 0 ?
		    e.be_msg : strerror(errno)));
		if (have == 1) {
			bk_rm_tree(dst);
			(void)rename(old, dst);
		}
		return;
	}
	bk_rm_tree(old);
	/* Count what is back. */
	memset(&w, 0, sizeof(w));
	w.w_src = dst;
	w.w_srclen = strlen(dst);
	w.w_list = json_array();
	w.w_prefix = BK_WORKSPACES;
	w.w_err = &e;
	bk_w = &w;
	(void)nftw(dst, bk_entry_cb, 32, FTW_PHYS);
	bk_w = NULL;
	*files += (long long)json_array_size(w.w_list);
	json_decref(w.w_list);
	json_array_append_new(comps, json_string("workspaces"));
}

/* The string member key of o, or "?". */
static const char *
bk_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "?");
}

/* Asks svc to run op (a reload) with body (stolen; NULL: none); its
 * status, or 503 when it does not answer. */
static int
bk_reload(struct bus_client *bc, const char *svc, const char *op,
    json_t *body)
{
	struct msg_rep	 rep;
	json_t		*req;
	int		 rv, status;

	if (bc == NULL) {
		json_decref(body);
		return (503);
	}
	if ((req = msg_request(op, NULL, util_wall_ms() + BK_RELOAD_MS,
	    json_pack("{s:s}", "principal", "audit"), NULL, NULL, body)) ==
	    NULL)
		return (503);
	rv = bus_call(bc, svc, req, BK_RELOAD_MS, &rep);
	json_decref(req);
	if (rv != 0)
		return (503);
	status = rep.mp_status;
	msg_rep_release(&rep);
	return (status);
}

static void
op_restore(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct bk_err	 e = { 0, "" };
	struct svc_reply vr = { 0, NULL, NULL };
	struct bus_client *bc;
	PGresult	*res = NULL;
	json_t		*man = NULL, *errors = NULL, *comps = NULL, *reloaded;
	json_t		*v;
	const char	*name, *p[1];
	char		 path[BK_PATH_MAX], dir[BK_PATH_MAX], arg[BK_PATH_MAX];
	char		 hex[AUDIT_HASH_HEX], inst[UTIL_UUID_LEN], detail[512];
	struct bk_argv	 av = { { NULL }, 0, 0 };
	long long	 size, files = 0, turns = 0;
	int		 allow_foreign, locked = 0;
	struct stat	 st;

	dir[0] = '\0';
	v = json_object_get(rq->mr_body, "filename");
	if (!json_is_object(rq->mr_body) || !json_is_string(v)) {
		svc_reply_error(rp, 400, "a body {\"filename\": \"...\"} is "
		    "required");
		return;
	}
	name = json_string_value(v);
	if (!bk_name_ok(name)) {
		svc_reply_error(rp, 400, "invalid backup filename: expected "
		    "a bare name librefang_backup_YYYYMMDD_HHMMSS.tar");
		return;
	}
	v = json_object_get(rq->mr_body, "allow_foreign");
	if (v != NULL && !json_is_boolean(v)) {
		svc_reply_error(rp, 400, "allow_foreign must be a boolean");
		return;
	}
	allow_foreign = json_is_true(v);
	bk_fmt(path, sizeof(path), "%s/%s", bk.dir, name);
	p[0] = name;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		if ((res = db_exec(c->sc_db, SQL_ONE, 1, p)) != NULL &&
		    PQntuples(res) == 1)
			svc_reply_error(rp, 404, "backup '%s' is not on this "
			    "host: it was made on %s, in its %s", name,
			    PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 1));
		else
			svc_reply_error(rp, 404, "backup '%s' not found",
			    name);
		PQclear(res);
		return;
	}
	if (bk_lock(c, rp) != 0)
		return;
	locked = 1;
	if (bk_installation(c->sc_db, inst) != 0) {
		bk_fail(&e, 503, "database unavailable: %s",
		    db_errmsg(c->sc_db));
		goto done;
	}

	/* 1. Extract into a directory of our own and check everything. */
	bk_fmt(dir, sizeof(dir), "%s/.restore-%d-%lld", bk.dir,
	    (int)getpid(), (long long)util_wall_ms());
	bk_rm_tree(dir);
	if (mkdir(dir, 0700) != 0) {
		bk_fail(&e, 500, "could not make %s: %s", dir,
		    strerror(errno));
		dir[0] = '\0';
		goto done;
	}
	bk_fmt(arg, sizeof(arg), "--file=%s", path);
	bk_arg(&av, "tar");
	bk_arg(&av, "--extract");
	bk_arg(&av, arg);
	bk_arg(&av, "--no-same-owner");
	bk_arg(&av, "--no-same-permissions");
	bk_arg(&av, "--no-overwrite-dir");
	bk_arg(&av, "-C");
	bk_arg(&av, dir);
	if (av.av_bad) {
		bk_fail(&e, 500, "out of memory");
		goto done;
	}
	if (bk_run(av.av_v, 0, -1, 400, "the archive could not be read "
	    "(truncated or damaged)", &e) != 0 ||
	    bk_verify(dir, inst, allow_foreign, &man, &e) != 0)
		goto done;
	/* The list knows what was written: the same bytes, manifest too. */
	if ((res = db_exec(c->sc_db, SQL_ONE, 1, p)) == NULL) {
		bk_fail(&e, 503, "database unavailable: %s",
		    db_errmsg(c->sc_db));
		goto done;
	}
	if (PQntuples(res) == 1 && (bk_sha256_file(path, hex, &size) != 0 ||
	    strcmp(hex, PQgetvalue(res, 0, 3)) != 0)) {
		bk_fail(&e, 400, "checksum mismatch: %s is not the archive "
		    "that was written (tampered or damaged)", name);
		goto done;
	}
	PQclear(res);
	res = NULL;

	/* 2. A quiet system: no turn running on any replica. */
	if ((res = db_exec(c->sc_db, SQL_TURNS, 0, NULL)) == NULL) {
		bk_fail(&e, 503, "database unavailable: %s",
		    db_errmsg(c->sc_db));
		goto done;
	}
	(void)util_strtonum(PQgetvalue(res, 0, 0), 0, LLONG_MAX, &turns);
	PQclear(res);
	res = NULL;
	if (turns > 0) {
		bk_fail(&e, 409, "%lld turn%s running: a restore needs a "
		    "quiet system; stop them or try again when they have "
		    "finished", turns, turns == 1 ? " is" : "s are");
		goto done;
	}

	/* 3. The database, all or nothing; then the files. */
	if (bk_restore_db(dir, json_object_get(json_object_get(man, "database"), "schemas"),
	    &e) != 0)
		goto done;
	errors = json_array();
	comps = json_array();
	json_array_append_new(comps, json_string("database"));
	bk_restore_files(dir, comps, errors, &files);

	/* 4. Recorded, the anchor moved back with the chain, caches. */
	bk_fmt(detail, sizeof(detail), "backup restored: %s (made %.40s "
	    "on %.64s): %zu schemas, %lld files", name,
	    bk_str(man, "created_at"), bk_str(man, "hostname"),
	    json_array_size(json_object_get(json_object_get(man, "database"), "schemas")),
	    files);
	if (bk_audit(c->sc_db, detail, 1) != 0)
		json_array_append_new(errors, json_string("the audit entry "
		    "of the restore could not be chained"));
	reloaded = json_object();
	bc = bus_client_open(bk.bus_url);
	json_object_set_new(reloaded, SVC_AGENT_RUNTIME, json_integer(
	    bk_reload(bc, SVC_AGENT_RUNTIME, OP_MCP_RELOAD, NULL)));
	/* The channels re-read the file, and store it as a new config
	 * version, numbered past every one applied (BK_CFG_POST), which
	 * every process applies, audited as the restore's. */
	json_object_set_new(reloaded, SVC_CHANNELS, json_integer(
	    bk_reload(bc, SVC_CHANNELS, OP_CHANNELS_RELOAD, json_pack("{s:s}",
	    "restore", name))));
	if (bc != NULL)
		bus_client_close(bc);
	chain_verify(c, &vr);
	log_info("restored %s: %lld files, %zu errors", name, files,
	    json_array_size(errors));
	v = json_pack("{s:I, s:O, s:O, s:s, s:O, s:o, s:o*}",
	    "restored_files", (json_int_t)files, "errors", errors,
	    "manifest", man, "message", "Restore complete: the database, "
	    "config.toml and the workspaces are back. Keys of config.toml "
	    "that are not applied live take effect when the services "
	    "restart.", "components", comps, "reloaded", reloaded,
	    "audit", vr.sr_status == 200 ? vr.sr_body : NULL);
	if (vr.sr_status != 200)
		json_decref(vr.sr_body);
	svc_reply_json(rp, 200, v);
 done:
	if (e.be_status != 0) {
		log_warnx("restore of %s refused: %s", name, e.be_msg);
		svc_reply_error(rp, e.be_status, "%s", e.be_msg);
	}
	PQclear(res);
	if (dir[0] != '\0')
		bk_rm_tree(dir);
	json_decref(man);
	json_decref(errors);
	json_decref(comps);
	bk_argv_free(&av);
	if (locked)
		bk_unlock(c);
}

const struct svc_op backup_ops[] = {
	{ OP_BACKUP_CREATE,	op_create },
	{ OP_BACKUP_LIST,	op_list },
	{ OP_BACKUP_DELETE,	op_delete },
	{ OP_BACKUP_RESTORE,	op_restore },
	{ NULL, NULL }
};
