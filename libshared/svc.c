/*
 * svc.c - the skeleton every service shares: flags, signals, config,
 * migrations, the worker pool and operation dispatch.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>

#include "audit.h"
#include "beat.h"
#include "bus.h"
#include "cfgsync.h"
#include "err.h"
#include "log.h"
#include "memtrim.h"
#include "services.h"
#include "svc.h"
#include "util.h"
#include "version.h"

struct svc_server {
	const struct svc_def	*ss_def;
	const struct sh_config	*ss_cfg;
	struct bus_server	*ss_bus;
	char			 ss_conninfo[1024];
};

static struct {
	pthread_mutex_t	 mtx;
	struct bus_pub	*pub;		/* under mtx */
	const char	*service;
} svc_logpub = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
};

static uint64_t		 svc_started_ms;
static int64_t		 svc_started_wall;
static long long	 svc_restarts;
static char		 svc_host[64];
static char		 svc_inst[64];
static sigset_t		 svc_sigs;

static void
svc_usage(const char *name)
{
	fprintf(stderr, "usage: %s [-dnv] [-f config.toml]\n"
	    "  -f file  read this config file instead of "
	    "$LIBREFANG_HOME/config.toml\n"
	    "  -n       check the configuration, print it (secrets "
	    "redacted) and exit\n"
	    "  -d       debug logging\n"
	    "  -v       print the version and exit\n", name);
	exit(2);
}

void
svc_init(int argc, char **argv, const char *name, struct svc_opts *so)
{
	const char	*env;
	int		 ch;

	svc_started_ms = util_now_ms();
	svc_started_wall = util_wall_ms();
#ifndef __SANITIZE_ADDRESS__
	/*
	 * Our environment and memory hold secrets (the database URL, provider
	 * keys, the API key), and what agent-runtime runs (shell_exec, MCP
	 * servers) runs as our user: not dumpable, /proc/<pid>/environ and
	 * mem are root's, and no process of that user can ptrace us.
	 * LeakSanitizer needs to ptrace its own process: not in its builds.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		log_warn("%s: prctl(PR_SET_DUMPABLE)", __func__);
#endif
	/* Set by a supervisor (librefangd); junk counts as none. */
	if ((env = getenv("LIBREFANG_RESTART_COUNT")) == NULL ||
	    util_strtonum(env, 0, 1000000000LL, &svc_restarts) != 0)
		svc_restarts = 0;
	/* With pid, names this instance to the gateway: a container keeps
	 * its host name and often its pid across a restart. */
	if (gethostname(svc_host, sizeof(svc_host)) != 0)
		svc_host[0] = '\0';
	svc_host[sizeof(svc_host) - 1] = '\0';
	/* The host cut as the scheduler's lease owner always was, so the
	 * name in claimed_by and in the heartbeat is the same. */
	snprintf(svc_inst, sizeof(svc_inst), "%.47s:%ld", svc_host,
	    (long)getpid());
	memset(so, 0, sizeof(*so));
	so->so_name = name;
	while ((ch = getopt(argc, argv, "df:hnv")) != -1) {
		switch (ch) {
		case 'd':
			so->so_debug = 1;
			break;
		case 'f':
			so->so_conf = optarg;
			break;
		case 'n':
			so->so_check = 1;
			break;
		case 'v':
			printf("%s %s\n", name, LIBREFANG_VERSION);
			exit(0);
		default:
			svc_usage(name);
		}
	}
	if (optind != argc)
		svc_usage(name);
	/* Signals are taken synchronously by svc_wait() in the main thread;
	 * every thread started later inherits this mask. */
	sigemptyset(&svc_sigs);
	sigaddset(&svc_sigs, SIGINT);
	sigaddset(&svc_sigs, SIGTERM);
	sigaddset(&svc_sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &svc_sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void
svc_config(const struct svc_opts *so, struct sh_config *cfg)
{
	char	err[512];
	size_t	i;

	log_init(so->so_name, LOG_LVL_INFO, 0);
	if (cfg_load(cfg, so->so_conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", so->so_name, err);
		cfg_release(cfg);
		exit(1);
	}
	cfg_register_secrets(cfg);
	log_init(so->so_name, so->so_debug ? LOG_LVL_DEBUG :
	    log_parse_level(cfg->log_level), cfg->log_json);
	if (so->so_check) {
		cfg_print(cfg);
		cfg_release(cfg);
		exit(0);
	}
	for (i = 0; i < json_array_size(cfg->cf_warnings); i++)
		log_warnx("%s", json_string_value(json_array_get(
		    cfg->cf_warnings, i)));
}

/* Sleeps up to ms unless SIGINT/SIGTERM arrives; returns 1 if it did. */
static int
svc_sleep_or_signal(unsigned int ms)
{
	struct timespec	ts;
	int		sig;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	sig = sigtimedwait(&svc_sigs, NULL, &ts);
	return (sig == SIGINT || sig == SIGTERM);
}

int
svc_db_migrate(const struct svc_def *sd, const struct sh_config *cfg)
{
	struct db	*db;
	char		 ci[1024];
	unsigned int	 backoff = 100;
	int		 warned = 0;

	if (sd->sd_schema == NULL)
		return (0);
	db_conninfo(cfg->database_url, cfg->home_dir, ci, sizeof(ci));
	if ((db = db_open(ci, sd->sd_schema)) == NULL)
		fatalx("%s: out of memory", __func__);
	while (db_migrate(db, sd->sd_migrations) != 0) {
		if (!warned++)
			log_warnx("database not ready (%s); retrying",
			    db_errmsg(db));
		if (svc_sleep_or_signal(backoff)) {
			db_close(db);
			return (-1);
		}
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
	db_close(db);
	return (0);
}

/* The log hook: one line out on TOPIC_LOGS.  Upper-case level names, as
 * the reference's stream shows them. */
static void
svc_log_line(int level, const char *ts, const char *line)
{
	static const char *const up[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	json_t	*o;

	if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
		return;
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "timestamp", ts,
	    "level", up[level], "service", svc_logpub.service, "target",
	    svc_logpub.service, "pid", (int)getpid(), "host", svc_host,
	    "message", line);
	if (o == NULL)
		return;
	pthread_mutex_lock(&svc_logpub.mtx);
	if (svc_logpub.pub != NULL)
		(void)bus_publish(svc_logpub.pub, TOPIC_LOGS, o);
	pthread_mutex_unlock(&svc_logpub.mtx);
	json_decref(o);
}

int
svc_log_publish(const char *bus_url, const char *service)
{
	struct bus_pub	*bp;

	if ((bp = bus_pub_open(bus_url)) == NULL) {
		log_warnx("%s: could not open a publisher on '%s'; log lines "
		    "are not streamed", __func__, bus_url);
		return (-1);
	}
	pthread_mutex_lock(&svc_logpub.mtx);
	svc_logpub.service = service;
	svc_logpub.pub = bp;
	pthread_mutex_unlock(&svc_logpub.mtx);
	log_set_hook(svc_log_line);
	return (0);
}

void
svc_log_unpublish(void)
{
	struct bus_pub	*bp;

	log_set_hook(NULL);
	pthread_mutex_lock(&svc_logpub.mtx);
	bp = svc_logpub.pub;
	svc_logpub.pub = NULL;
	pthread_mutex_unlock(&svc_logpub.mtx);
	bus_pub_close(bp);
}

long long
svc_uptime(void)
{
	return ((long long)((util_now_ms() - svc_started_ms) / 1000));
}

int64_t
svc_started_at_ms(void)
{
	return (svc_started_wall);
}

const char *
svc_instance(void)
{
	return (svc_inst);
}

const char *
svc_host_name(void)
{
	return (svc_host);
}

long long
svc_restart_count(void)
{
	return (svc_restarts);
}

pid_t
svc_supervisor(void)
{
	const char	*env = getenv("LIBREFANG_SUPERVISOR_PID");
	long long	 sup;

	if (env != NULL && util_strtonum(env, 2, 1 << 30, &sup) == 0 &&
	    (pid_t)sup == getppid())
		return ((pid_t)sup);
	return (0);
}

void
svc_reply_json(struct svc_reply *rp, int status, json_t *body)
{
	json_decref(rp->sr_body);
	/* A body that could not be built is the caller's ENOMEM. */
	if (body == NULL) {
		status = 500;
		body = msg_error_body("out of memory");
	}
	rp->sr_status = status;
	rp->sr_body = body;
}

void
svc_reply_error(struct svc_reply *rp, int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	svc_reply_json(rp, status, msg_error_vbody(fmt, ap));
	va_end(ap);
}

void
svc_reply_list(struct svc_reply *rp, const char *key, json_t *list)
{
	json_int_t	n = (json_int_t)json_array_size(list);

	svc_reply_json(rp, 200, list == NULL ? NULL : json_pack("{s:o, s:I}",
	    key, list, "total", n));
}

void
svc_list_add(json_t **list, json_t *item)
{
	if (*list != NULL && item != NULL &&
	    json_array_append_new(*list, item) == 0)
		return;
	/* json_array_append_new() has freed item when it failed. */
	if (*list == NULL)
		json_decref(item);
	json_decref(*list);
	*list = NULL;
}

struct svc_tick {
	pthread_mutex_t	 st_mtx;
	pthread_cond_t	 st_cond;	/* on CLOCK_MONOTONIC */
	pthread_t	 st_thread;
	void		(*st_fn)(void *);
	void		*st_arg;
	long long	 st_ms;
	int		 st_at_once;
	int		 st_quit;	/* under st_mtx */
};

static void *
svc_tick_main(void *arg)
{
	struct svc_tick	*t = arg;
	struct timespec	 ts;
	int		 run = t->st_at_once;

	pthread_mutex_lock(&t->st_mtx);
	while (!t->st_quit) {
		if (run) {
			pthread_mutex_unlock(&t->st_mtx);
			t->st_fn(t->st_arg);
			pthread_mutex_lock(&t->st_mtx);
		}
		run = 1;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(t->st_ms / 1000);
		ts.tv_nsec += (long)(t->st_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		/* A spurious wakeup does not run the job early. */
		while (!t->st_quit && pthread_cond_timedwait(&t->st_cond,
		    &t->st_mtx, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&t->st_mtx);
	return (NULL);
}

struct svc_tick *
svc_tick_start(const char *what, long long ms, int at_once,
    void (*fn)(void *), void *arg)
{
	struct svc_tick		*t;
	pthread_condattr_t	 ca;
	int			 e;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_warnx("%s: could not start %s: %s", __func__, what,
		    strerror(ENOMEM));
		return (NULL);
	}
	t->st_fn = fn;
	t->st_arg = arg;
	t->st_ms = ms;
	t->st_at_once = at_once;
	pthread_mutex_init(&t->st_mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->st_cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((e = pthread_create(&t->st_thread, NULL, svc_tick_main, t)) !=
	    0) {
		log_warnx("%s: could not start %s: %s", __func__, what,
		    strerror(e));
		pthread_cond_destroy(&t->st_cond);
		pthread_mutex_destroy(&t->st_mtx);
		free(t);
		return (NULL);
	}
	return (t);
}

void
svc_tick_stop(struct svc_tick *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->st_mtx);
	t->st_quit = 1;
	pthread_cond_signal(&t->st_cond);
	pthread_mutex_unlock(&t->st_mtx);
	pthread_join(t->st_thread, NULL);
	pthread_cond_destroy(&t->st_cond);
	pthread_mutex_destroy(&t->st_mtx);
	free(t);
}

json_t *
svc_rows(struct svc_ctx *c, const char *sql, int n,
    const char *const *params, svc_row_fn row, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list;
	int		 i;

	if ((res = db_exec(c->sc_db, sql, n, params)) == NULL) {
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	if (row == NULL)
		row = db_row_json;
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, row(res, i));
	PQclear(res);
	if (list == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (list);
}

json_t *
svc_page(struct svc_ctx *c, const struct svc_page *pg, long long *total,
    struct svc_reply *rp)
{
	char		 lim[24], off[24];
	const char	*p[SVC_PAGE_FILTERS + 2];
	PGresult	*res;
	json_t		*list;
	int		 i;

	SH_ASSERT(pg->pg_n >= 0 && pg->pg_n <= SVC_PAGE_FILTERS);
	for (i = 0; i < pg->pg_n; i++)
		p[i] = pg->pg_filters[i];
	if (pg->pg_count != NULL) {
		if ((res = db_exec(c->sc_db, pg->pg_count, pg->pg_n, p)) ==
		    NULL) {
			svc_reply_db_error(rp, c);
			return (NULL);
		}
		*total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	/* The total and the page are two snapshots, the total first: a row
	 * written between them is on the page and counted too (never a
	 * total that promises a row the page lacks); one deleted between
	 * them is counted and missing, as across two pages anyway. */
	snprintf(lim, sizeof(lim), "%lld", pg->pg_limit);
	snprintf(off, sizeof(off), "%lld", pg->pg_offset);
	p[pg->pg_n] = lim;
	p[pg->pg_n + 1] = off;
	list = svc_rows(c, pg->pg_list, pg->pg_n + 2, p, pg->pg_row, rp);
	if (list != NULL && pg->pg_count != NULL &&
	    *total < pg->pg_offset + (long long)json_array_size(list))
		*total = pg->pg_offset + (long long)json_array_size(list);
	return (list);
}

void
svc_reply_db_error(struct svc_reply *rp, struct svc_ctx *c)
{
	/* An outage is logged once by db.c, not once per request. */
	if (!db_unavailable(c->sc_db))
		log_warnx("database error: %s", db_errmsg(c->sc_db));
	svc_reply_error(rp, 503, "database unavailable");
}

int
svc_uuid_lower(const char *s, char id[UTIL_UUID_LEN])
{
	size_t	i;

	if (s == NULL || !util_uuid_valid(s))
		return (-1);
	/* One spelling of each id: they are compared as text. */
	for (i = 0; i < UTIL_UUID_LEN - 1; i++)
		id[i] = (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 'a' :
		    s[i];
	id[UTIL_UUID_LEN - 1] = '\0';
	return (0);
}

int
svc_param_uuid(const struct msg_req *rq, const char *key, const char *what,
    char id[UTIL_UUID_LEN], struct svc_reply *rp)
{
	if (svc_uuid_lower(json_string_value(json_object_get(rq->mr_params,
	    key)), id) != 0) {
		svc_reply_error(rp, 400, "Invalid %s", what);
		return (-1);
	}
	return (0);
}

int
svc_param_agent_id(const struct msg_req *rq, struct svc_reply *rp,
    char id[UTIL_UUID_LEN])
{
	return (svc_param_uuid(rq, PARAM_ID, "agent ID", id, rp));
}

int
svc_known_fields(json_t *o, const char *const *allowed, struct svc_reply *rp)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	json_object_foreach(o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL) {
			svc_reply_error(rp, 400, "unknown field '%.64s'", k);
			return (-1);
		}
	}
	return (0);
}

int
svc_query_int(const struct msg_req *rq, const char *key, long long min,
    long long max, long long def, long long *out, struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, key);
	const char	*s = json_string_value(v);

	*out = def;
	if (v == NULL)
		return (0);
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (s == NULL || util_strtonum(s, min, max, out) != 0)
		goto bad;
	if (*out >= min && *out <= max)
		return (0);
 bad:
	svc_reply_error(rp, 400, "'%s' must be an integer from %lld to %lld",
	    key, min, max);
	return (-1);
}

const char *
svc_param_name(const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*s = json_string_value(json_object_get(rq->mr_params,
			    PARAM_NAME));

	if (s == NULL || *s == '\0') {
		svc_reply_error(rp, 400, "a name is required");
		return (NULL);
	}
	return (s);
}

/* 1 if name is short printable ASCII, safe to echo in an error. */
static int
svc_echoable(const char *name)
{
	size_t	i;

	for (i = 0; name[i] != '\0'; i++)
		if (i >= SVC_ECHO_MAX || (unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] > 0x7e)
			return (0);
	return (1);
}

void
svc_not_found_text(char *err, size_t errlen, const char *what,
    const char *name)
{
	if (name != NULL && svc_echoable(name))
		snprintf(err, errlen, "%s '%s' not found", what, name);
	else
		snprintf(err, errlen, "%s not found", what);
}

void
svc_reply_not_found(struct svc_reply *rp, const char *what, const char *name)
{
	char	err[SVC_ECHO_MAX + 128];

	svc_not_found_text(err, sizeof(err), what, name);
	svc_reply_error(rp, 404, "%s", err);
}

static void
svc_health(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct svc_server	*ss = c->sc_server;
	json_t			*o;
	int			 up = 1;

	(void)rq;
	if (ss->ss_def->sd_schema != NULL)
		up = db_ping(c->sc_db);
	o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:I}",
	    "service", ss->ss_def->sd_name, "status", up ? "ok" : "degraded",
	    "database", ss->ss_def->sd_schema == NULL ? "none" :
	    up ? "connected" : "disconnected",
	    "uptime_seconds", (json_int_t)svc_uptime(), "pid", (int)getpid(),
	    "host", svc_host, "instance", svc_inst, "version",
	    LIBREFANG_VERSION, "restart_count", (json_int_t)svc_restarts);
	if (o != NULL)
		json_object_set_new(o, "config_version",
		    json_integer(cfgsync_version()));
	if (o != NULL && up && ss->ss_def->sd_health != NULL)
		ss->ss_def->sd_health(c, o);
	svc_reply_json(rp, 200, o);
}

static const struct svc_op *
svc_find_op(const struct svc_def *sd, const char *name)
{
	const struct svc_op *const	*t;
	const struct svc_op		*op;

	for (t = sd->sd_ops; t != NULL && *t != NULL; t++)
		for (op = *t; op->op_name != NULL; op++)
			if (strcmp(op->op_name, name) == 0)
				return (op);
	return (NULL);
}

struct svc_pending {
	struct bus_deferred	*sp_bd;
	char			 sp_id[64];
	char			 sp_op[64];
};

struct svc_pending *
svc_defer(const struct msg_req *rq, struct svc_reply *rp)
{
	struct svc_pending	*sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return (NULL);
	if ((sp->sp_bd = bus_defer()) == NULL) {
		free(sp);
		return (NULL);
	}
	snprintf(sp->sp_id, sizeof(sp->sp_id), "%s", rq->mr_id);
	snprintf(sp->sp_op, sizeof(sp->sp_op), "%s", rq->mr_op);
	json_decref(rp->sr_body);
	rp->sr_body = NULL;
	rp->sr_status = SVC_DEFERRED;
	return (sp);
}

int
svc_pending_reply(struct svc_pending *sp, int status, json_t *body)
{
	json_t	*rep;
	int	 rv;

	if (body == NULL)
		body = msg_error_body("out of memory");
	rep = msg_reply(sp->sp_id, status, body);
	rv = bus_deferred_reply(sp->sp_bd, rep);
	json_decref(rep);
	if (rv != 0)
		log_warnx("%s: deferred reply to '%s' %s not delivered: %s",
		    __func__, sp->sp_op, sp->sp_id, sh_strerror(rv));
	free(sp);
	return (rv);
}

/* The bus handler: find the operation, run it, wrap the reply. */
static json_t *
svc_dispatch(void *worker, const struct msg_req *rq)
{
	struct svc_ctx		*c = worker;
	struct svc_server	*ss = c->sc_server;
	const struct svc_op	*op;
	struct svc_reply	 rp = { 0, NULL, NULL };
	json_t			*rep;
	uint64_t		 t0 = util_now_ms();

	if (strcmp(rq->mr_op, OP_SYS_HEALTH) == 0)
		svc_health(c, rq, &rp);
	else {
		op = svc_find_op(ss->ss_def, rq->mr_op);
		if (op == NULL)
			svc_reply_error(&rp, 501, "not implemented: "
			    "operation '%s'", rq->mr_op);
		else
			op->op_fn(c, rq, &rp);
	}
	if (rp.sr_status == SVC_DEFERRED) {
		log_debug("%s %s -> deferred", rq->mr_op, rq->mr_id);
		return (NULL);
	}
	if (rp.sr_status == 0) {
		json_decref(rp.sr_body);
		svc_reply_error(&rp, 500, "operation '%s' gave no reply",
		    rq->mr_op);
	}
	if (rp.sr_body == NULL)
		svc_reply_error(&rp, 500, "out of memory");
	log_debug("%s %s -> %d (%llu ms)", rq->mr_op, rq->mr_id, rp.sr_status,
	    (unsigned long long)(util_now_ms() - t0));
	rep = msg_reply(rq->mr_id, rp.sr_status, rp.sr_body);
	if (rep != NULL && rp.sr_ctype != NULL)
		json_object_set_new(rep, "content_type",
		    json_string(rp.sr_ctype));
	return (rep);
}

static void *
svc_worker_init(void *arg, int index)
{
	struct svc_server	*ss = arg;
	struct svc_ctx		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->sc_arg = ss->ss_def->sd_arg;
	c->sc_server = ss;
	c->sc_cfg = ss->ss_cfg;
	c->sc_index = index;
	if (ss->ss_def->sd_schema != NULL &&
	    (c->sc_db = db_open(ss->ss_conninfo, ss->ss_def->sd_schema)) ==
	    NULL) {
		free(c);
		return (NULL);
	}
	/* A request's statements fit its deadline: past it nobody waits
	 * for the answer (the gateway has said 503 already). */
	if (c->sc_db != NULL)
		db_set_timeout(c->sc_db, ss->ss_cfg->bus_timeout_ms < 1000 ?
		    1000 : (int)ss->ss_cfg->bus_timeout_ms);
	return (c);
}

static void
svc_worker_fini(void *worker)
{
	struct svc_ctx	*c = worker;

	if (c == NULL)
		return;
	db_close(c->sc_db);
	free(c);
}

struct svc_server *
svc_serve(const struct svc_def *sd, const struct sh_config *cfg)
{
	struct svc_server	*ss;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return (NULL);
	ss->ss_def = sd;
	ss->ss_cfg = cfg;
	db_conninfo(cfg->database_url, cfg->home_dir, ss->ss_conninfo,
	    sizeof(ss->ss_conninfo));
	ss->ss_bus = bus_server_open(cfg->bus_url, sd->sd_name,
	    (int)cfg->bus_workers, svc_dispatch, svc_worker_init,
	    svc_worker_fini, ss);
	if (ss->ss_bus == NULL) {
		log_warnx("%s: could not serve '%s' on '%s'", __func__,
		    sd->sd_name, cfg->bus_url);
		explicit_bzero(ss->ss_conninfo, sizeof(ss->ss_conninfo));
		free(ss);
		return (NULL);
	}
	log_info("serving '%s' on %s with %lld workers", sd->sd_name,
	    cfg->bus_url, cfg->bus_workers);
	return (ss);
}

int
svc_wait(void)
{
	int	sig;

	for (;;) {
		if (sigwait(&svc_sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: nothing to reload yet");
			continue;
		}
		log_info("%s: shutting down", strsignal(sig));
		return (sig);
	}
}

void
svc_stop(struct svc_server *ss)
{
	if (ss == NULL)
		return;
	bus_server_close(ss->ss_bus);
	explicit_bzero(ss->ss_conninfo, sizeof(ss->ss_conninfo));
	free(ss);
}

int
svc_main(int argc, char **argv, const struct svc_def *sd)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct svc_server	*ss = NULL;
	char			 ci[1024];
	int			 rv = 0;

	memtrim_init();		/* before any thread allocates */
	svc_init(argc, argv, sd->sd_name, &so);
	svc_config(&so, &cfg);
	/* Not the broker's own lines: it would publish to itself. */
	if (!sd->sd_no_service)
		(void)svc_log_publish(cfg.bus_url, sd->sd_name);
	if (svc_db_migrate(sd, &cfg) != 0)
		goto done;		/* asked to stop while waiting */
	/* A teardown cut by the bus watchdog while the service starts --
	 * a failed step closing what it opened, before sd_start returns
	 * -- is a failed start: status 1 (libshared/bus.h). */
	bus_teardown_status(1);
	if (sd->sd_start != NULL && sd->sd_start(&cfg, sd->sd_arg) != 0) {
		log_warnx("%s: could not start", sd->sd_name);
		rv = 1;
		goto done;
	}
	bus_teardown_status(0);
	if (!sd->sd_no_service && (ss = svc_serve(sd, &cfg)) == NULL)
		fatalx("could not join the bus at '%s'", cfg.bus_url);
	/* The outbox is durable: a relay that cannot start loses nothing,
	 * another replica's or the next start's relay sends the rows. */
	if (sd->sd_audit) {
		db_conninfo(cfg.database_url, cfg.home_dir, ci, sizeof(ci));
		(void)audit_relay_start(ci, sd->sd_schema, cfg.bus_url,
		    sd->sd_name);
		explicit_bzero(ci, sizeof(ci));
	}
	/* Once it serves, the gateways list it; the goodbye goes first when
	 * it stops, while it drains.  Not the broker: a publisher dialling
	 * its own process's listener makes nng 1.5.2's teardown hang
	 * (nanomsg/nng#1813) at one stop in 25 instead of one in 150
	 * (t0110); /api/ready says whether the bus answers. */
	if (!sd->sd_no_service) {
		(void)cfgsync_start(&cfg, sd->sd_name, sd->sd_reload,
		    sd->sd_arg);
		(void)beat_start(cfg.bus_url, sd->sd_name);
	}
	svc_wait();
	beat_leave();
	cfgsync_stop();
	if (sd->sd_drain != NULL)
		sd->sd_drain(sd->sd_arg);
	svc_stop(ss);
	audit_relay_stop();
	beat_stop();
	if (sd->sd_stop != NULL)
		sd->sd_stop(sd->sd_arg);
 done:
	svc_log_unpublish();
	cfg_release(&cfg);
	bus_fini();
	return (rv);
}
