/*
 * librefangd - runs the whole stack on one machine (what `make run` does).
 *
 * Unless LIBREFANG_DATABASE_URL names a database, it starts a private
 * PostgreSQL cluster under $LIBREFANG_HOME/pg (deploy/pg.sh), then the
 * broker, the five services and the gateway over ipc://, and supervises
 * them: a child that dies is restarted with exponential backoff, and told
 * how many times it was (LIBREFANG_RESTART_COUNT, which sys.health and
 * /api/health report).  It says the stack is up once the gateway's
 * /api/ready answers 200 -- the broker reached, every service joined,
 * PostgreSQL answering -- and, when that takes longer than
 * LD_READY_WARN_MS, what is still missing.  SIGINT or SIGTERM stops the
 * children (SIGTERM, then SIGKILL after a grace period) and PostgreSQL,
 * within five seconds in all; so does POST /api/shutdown, whose child
 * signals us (LIBREFANG_SUPERVISOR_PID).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "svc.h"
#include "util.h"

#define LD_BACKOFF_MIN_MS	200
#define LD_BACKOFF_MAX_MS	10000
#define LD_STABLE_MS		10000	/* a child up this long is healthy */
#define LD_GRACE_MS		3500	/* SIGTERM to SIGKILL */
#define LD_READY_POLL_MS	100	/* /api/ready until it says 200 */
#define LD_READY_WARN_MS	30000	/* then say what is missing */
#define LD_READY_BODY_MAX	4096

struct ld_child {
	const char	*lc_name;
	pid_t		 lc_pid;
	uint64_t	 lc_started;	/* monotonic ms */
	uint64_t	 lc_restart_at;	/* 0 = not scheduled */
	unsigned int	 lc_backoff;
	unsigned int	 lc_restarts;
};

/* Start order; shutdown runs in reverse (gateway first, broker last). */
static struct ld_child ld_children[] = {
	{ "bus", 0, 0, 0, 0, 0 },
	{ "agent-runtime", 0, 0, 0, 0, 0 },
	{ "scheduler", 0, 0, 0, 0, 0 },
	{ "memory", 0, 0, 0, 0, 0 },
	{ "audit", 0, 0, 0, 0, 0 },
	{ "channels", 0, 0, 0, 0, 0 },
	{ "api-gateway", 0, 0, 0, 0, 0 },
};
#define LD_NCHILDREN	(sizeof(ld_children) / sizeof(ld_children[0]))

static char	ld_bindir[PATH_MAX - 64];
static char	ld_pgscript[PATH_MAX];

static void
ld_find_paths(void)
{
	char		 exe[PATH_MAX], tmp[PATH_MAX];
	const char	*env;
	ssize_t		 n;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		fatal("readlink /proc/self/exe");
	exe[n] = '\0';
	snprintf(tmp, sizeof(tmp), "%s", exe);
	snprintf(ld_bindir, sizeof(ld_bindir), "%s", dirname(tmp));
	if ((env = getenv("LIBREFANG_PG_SCRIPT")) != NULL)
		snprintf(ld_pgscript, sizeof(ld_pgscript), "%s", env);
	else	/* build/<variant>/bin -> the tree's deploy/pg.sh */
		snprintf(ld_pgscript, sizeof(ld_pgscript),
		    "%s/../../../deploy/pg.sh", ld_bindir);
}

/* Runs argv to completion with default signal handling; exit status. */
static int
ld_run(char *const argv[])
{
	sigset_t	 none;
	pid_t		 pid;
	int		 st;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return (-1);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static int
ld_pg(const char *cmd, const char *home)
{
	char	sh[] = "/bin/sh", verb[16], dir[512];
	char	*argv[] = { sh, ld_pgscript, verb, dir, NULL };

	snprintf(verb, sizeof(verb), "%s", cmd);
	snprintf(dir, sizeof(dir), "%s", home);
	return (ld_run(argv));
}

static void
ld_spawn(struct ld_child *lc)
{
	char		 path[PATH_MAX + 64], n[16];
	sigset_t	 none;
	pid_t		 pid;

	snprintf(path, sizeof(path), "%s/%s", ld_bindir, lc->lc_name);
	/* Set here, not in the child: fork leaves only async-signal-safe
	 * calls to it.  The next spawn overwrites it. */
	snprintf(n, sizeof(n), "%u", lc->lc_restarts);
	if (setenv("LIBREFANG_RESTART_COUNT", n, 1) != 0)
		log_warn("could not pass '%s' its restart count", lc->lc_name);
	if ((pid = fork()) == -1) {
		log_warn("could not fork '%s'", lc->lc_name);
		lc->lc_restart_at = util_now_ms() + LD_BACKOFF_MAX_MS;
		return;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(path, lc->lc_name, (char *)NULL);
		fprintf(stderr, "librefangd: exec '%s': %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	lc->lc_pid = pid;
	lc->lc_started = util_now_ms();
	lc->lc_restart_at = 0;
}

static struct ld_child *
ld_by_pid(pid_t pid)
{
	size_t	i;

	for (i = 0; i < LD_NCHILDREN; i++)
		if (ld_children[i].lc_pid == pid)
			return (&ld_children[i]);
	return (NULL);
}

/* Reaps exited children and schedules their restart. */
static void
ld_reap(int stopping)
{
	struct ld_child	*lc;
	uint64_t	 now = util_now_ms();
	pid_t		 pid;
	int		 st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((lc = ld_by_pid(pid)) == NULL)
			continue;
		lc->lc_pid = 0;
		if (stopping)
			continue;
		if (now - lc->lc_started >= LD_STABLE_MS)
			lc->lc_backoff = 0;
		lc->lc_backoff = lc->lc_backoff == 0 ? LD_BACKOFF_MIN_MS :
		    lc->lc_backoff * 2;
		if (lc->lc_backoff > LD_BACKOFF_MAX_MS)
			lc->lc_backoff = LD_BACKOFF_MAX_MS;
		lc->lc_restart_at = now + lc->lc_backoff;
		lc->lc_restarts++;
		if (WIFSIGNALED(st))
			log_warnx("'%s' killed by signal %d; restart in %u ms",
			    lc->lc_name, WTERMSIG(st), lc->lc_backoff);
		else
			log_warnx("'%s' exited with status %d; restart in "
			    "%u ms", lc->lc_name, WEXITSTATUS(st),
			    lc->lc_backoff);
	}
}

static void
ld_restart_due(void)
{
	uint64_t	now = util_now_ms();
	size_t		i;

	for (i = 0; i < LD_NCHILDREN; i++)
		if (ld_children[i].lc_pid == 0 &&
		    ld_children[i].lc_restart_at != 0 &&
		    now >= ld_children[i].lc_restart_at)
			ld_spawn(&ld_children[i]);
}

static int
ld_alive(void)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < LD_NCHILDREN; i++)
		if (ld_children[i].lc_pid != 0)
			n++;
	return (n);
}

static void
ld_stop_all(void)
{
	uint64_t	deadline = util_now_ms() + LD_GRACE_MS;
	size_t		i;

	for (i = LD_NCHILDREN; i-- > 0;)
		if (ld_children[i].lc_pid != 0)
			kill(ld_children[i].lc_pid, SIGTERM);
	while (ld_alive() > 0 && util_now_ms() < deadline) {
		util_sleep_ms(20);
		ld_reap(1);
	}
	for (i = 0; i < LD_NCHILDREN; i++)
		if (ld_children[i].lc_pid != 0) {
			log_warnx("'%s' did not stop in time; killing",
			    ld_children[i].lc_name);
			kill(ld_children[i].lc_pid, SIGKILL);
		}
	while (ld_alive() > 0) {
		util_sleep_ms(10);
		ld_reap(1);
	}
}

struct ld_body {
	char	b_data[LD_READY_BODY_MAX];
	size_t	b_len;
};

static size_t
ld_body_write(char *p, size_t size, size_t n, void *arg)
{
	struct ld_body	*b = arg;
	size_t		 len = size * n, room = sizeof(b->b_data) - 1 - b->b_len;

	/* What does not fit is dropped: only "missing" is of interest. */
	memcpy(b->b_data + b->b_len, p, len < room ? len : room);
	b->b_len += len < room ? len : room;
	return (len);
}

/*
 * Asks the gateway at listen for GET /api/ready once (500 ms at most).
 * Returns 1 when it says 200; otherwise 0 and, in missing, what it names
 * (comma-separated) or why there is no answer.
 */
static int
ld_ready(const char *listen, char *missing, size_t len)
{
	CURL		*c;
	struct ld_body	 b;
	json_t		*o, *v;
	char		 url[512];
	long		 code = 0;
	size_t		 i, off = 0;
	CURLcode	 rv;

	snprintf(missing, len, "the gateway does not answer");
	if ((c = curl_easy_init()) == NULL)
		return (0);
	b.b_len = 0;
	snprintf(url, sizeof(url), "http://%s/api/ready", listen);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ld_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rv = curl_easy_perform(c);
	if (rv == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (code == 200)
		return (1);
	if (rv != CURLE_OK)
		return (0);
	b.b_data[b.b_len] = '\0';
	o = json_loads(b.b_data, 0, NULL);
	v = json_object_get(o, "missing");
	if (json_array_size(v) > 0)
		for (i = 0, missing[0] = '\0'; i < json_array_size(v) &&
		    off < len; i++)
			off += (size_t)snprintf(missing + off, len - off, "%s%s",
			    i > 0 ? ", " : "", json_string_value(
			    json_array_get(v, i)) ? json_string_value(
			    json_array_get(v, i)) : "?");
	else
		snprintf(missing, len, "/api/ready answered %ld", code);
	json_decref(o);
	return (0);
}

static void
ld_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("could not create '%s'", path);
}

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct timespec		 tick = { 0, 250 * 1000000L };
	struct timespec		 fast = { 0, LD_READY_POLL_MS * 1000000L };
	sigset_t		 set;
	char			 path[PATH_MAX], missing[256];
	uint64_t		 started;
	size_t			 i;
	int			 sig, embedded_pg, up = 0, warned = 0;

	svc_init(argc, argv, "librefangd", &so);
	svc_config(&so, &cfg);
	ld_find_paths();
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	ld_mkdir(cfg.home_dir);
	snprintf(path, sizeof(path), "%s/run", cfg.home_dir);
	ld_mkdir(path);
	ld_mkdir(cfg.data_dir);

	embedded_pg = cfg.database_url[0] == '\0';
	if (embedded_pg) {
		log_info("starting PostgreSQL in %s/pg", cfg.home_dir);
		if (ld_pg("start", cfg.home_dir) != 0)
			fatalx("could not start PostgreSQL (see %s/pg/"
			    "postgresql.log)", cfg.home_dir);
	}
	/* POST /api/shutdown reaches us through our children: one that
	 * hears it signals this pid (libshared/cfgsync.h), and the stack
	 * stops as on Ctrl-C. */
	snprintf(path, sizeof(path), "%ld", (long)getpid());
	if (setenv("LIBREFANG_SUPERVISOR_PID", path, 1) != 0)
		log_warn("POST /api/shutdown cannot reach librefangd");
	for (i = 0; i < LD_NCHILDREN; i++)
		ld_spawn(&ld_children[i]);

	/* Supervise from the start; until the stack is ready, ask the
	 * gateway each LD_READY_POLL_MS whether it is. */
	started = util_now_ms();
	for (;;) {
		sig = sigtimedwait(&set, NULL, up ? &tick : &fast);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		ld_reap(0);
		ld_restart_due();
		if (up)
			continue;
		if (ld_ready(cfg.api_listen, missing, sizeof(missing))) {
			up = 1;
			log_info("LibreFang is up: http://%s (home %s); Ctrl-C "
			    "stops it", cfg.api_listen, cfg.home_dir);
		} else if (!warned && util_now_ms() - started >=
		    LD_READY_WARN_MS) {
			warned = 1;
			log_warnx("LibreFang is not ready after %d s (missing: "
			    "%s); still trying", LD_READY_WARN_MS / 1000,
			    missing);
		}
	}
	log_info("stopping");
	ld_stop_all();
	if (embedded_pg && ld_pg("stop", cfg.home_dir) != 0)
		log_warnx("could not stop PostgreSQL cleanly");
	log_info("stopped");
	cfg_release(&cfg);
	return (0);
}
