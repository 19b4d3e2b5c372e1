/*
 * gw_system.c - the gateway's own endpoints (/, /api/health,
 * /api/health/detail, /api/ready, /api/status, /api/version, /api/metrics)
 * and the background health poller behind them.
 *
 * A thread asks every service for sys.health once a second (five times a
 * second while one is down), all five in parallel with a short timeout,
 * and keeps the answers in a snapshot.  The first round runs in
 * gw_health_start, before the HTTP server answers anything, so a gateway
 * started after its services says "ok" from its first answer.  While the
 * snapshot is not all good, /api/health and /api/ready wake the poller
 * for a round at once (at most one every GW_POLL_MIN_MS), so whoever polls
 * them sees a service that joins within a few milliseconds.
 * /api/health, /api/ready and /api/metrics only read the snapshot, so they
 * never wait on the bus and stay as cheap as a static page.  Only
 * /api/status asks the bus on the request path (agents.list),
 * asynchronously.  The replicas /api/status and /api/metrics list come
 * from the heartbeat table (libshared/beat.h), not from this poller: a
 * health check reaches one replica of a service, whichever the broker
 * picks, and a heartbeat comes from every process.
 *
 * The bus counts as reached when the last round got any reply, a
 * broker's 503 for a service with no replica included; a broker that is
 * down fails every call at once, one that hangs times them all out.
 *
 * restart_count is, summed over the services, the larger of two counts:
 * what the supervisor says (each replica reports its
 * LIBREFANG_RESTART_COUNT, which librefangd sets; the largest seen counts)
 * and what this gateway saw: a replica (host and pid) that answers again
 * with a smaller uptime, or a service that stopped answering and came
 * back as a replica it had not seen.  A service that comes back as the
 * same process (after a broker restart, say) was not restarted.  The
 * gateway adds its own supervisor's count.
 */
#include <sys/utsname.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beat.h"
#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"
#include "services.h"
#include "svc.h"
#include "version.h"

#ifndef LF_GIT_SHA
#define LF_GIT_SHA	"unknown"
#endif
#ifndef LF_BUILD_DATE
#define LF_BUILD_DATE	"unknown"
#endif
#if defined(__clang__)
#define GW_CC		"clang " __clang_version__
#elif defined(__GNUC__)
#define GW_CC		"gcc " __VERSION__
#else
#define GW_CC		"unknown"
#endif

#define GW_POLL_MS		1000
#define GW_POLL_FAST_MS		200	/* while a service is down */
#define GW_POLL_MIN_MS		20	/* between rounds asked for */
#define GW_POLL_TIMEOUT_MS	800
#define GW_REPLICAS_MAX		16
#define GW_REPLICA_TTL_MS	10000

/* A process that answered a service's health check. */
struct gw_replica {
	long long	 r_pid;		/* 0: free slot */
	char		 r_host[64];
	long long	 r_uptime;	/* s, at the last answer */
	uint64_t	 r_seen;	/* ms */
};

struct gw_svc_state {
	int		 s_up;
	int		 s_was_up;
	int		 s_db;		/* 1 connected, 0 not, -1 none */
	char		 s_status[16];
	char		 s_version[32];
	long long	 s_uptime;
	long long	 s_pid;
	long long	 s_agents;	/* -1: not reported */
	long long	 s_restarts_seen;	/* by this gateway */
	long long	 s_restarts_said;	/* by a replica's supervisor */
	uint64_t	 s_last_ok;	/* ms */
	struct gw_replica s_rep[GW_REPLICAS_MAX];
};

/* One poll round: the calls and what they brought back. */
struct gw_poll {
	pthread_mutex_t	 p_mtx;
	pthread_cond_t	 p_cv;
	int		 p_pending;
	int		 p_err[SVC_COUNT];
	json_t		*p_body[SVC_COUNT];
	int		 p_status[SVC_COUNT];
};

struct gw_poll_slot {
	struct gw_poll	*ps_poll;
	int		 ps_index;
};

static const char *const gw_svcs[] = SVC_LIST;
#define GW_AR	0		/* SVC_AGENT_RUNTIME's index in SVC_LIST */
static pthread_mutex_t	 gw_hs_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 gw_hs_cv = PTHREAD_COND_INITIALIZER;
static struct gw_svc_state gw_hs[SVC_COUNT];
static int		 gw_hs_bus_ok;	/* the last round reached a broker */
static int		 gw_hs_kick;	/* a round is wanted now */
static int		 gw_hs_stop;
static pthread_t	 gw_hs_thread;
static int		 gw_hs_started;
static const struct sh_config *gw_hs_cfg;
static struct bus_client *gw_hs_bus;

/* ---- the poller ------------------------------------------------------ */

static void
gw_poll_cb(void *arg, int err, struct msg_rep *rep)
{
	struct gw_poll_slot	*ps = arg;
	struct gw_poll		*p = ps->ps_poll;

	pthread_mutex_lock(&p->p_mtx);
	p->p_err[ps->ps_index] = err;
	if (err == 0) {
		p->p_status[ps->ps_index] = rep->mp_status;
		p->p_body[ps->ps_index] = json_incref(rep->mp_body);
		msg_rep_release(rep);
	}
	if (--p->p_pending == 0)
		pthread_cond_signal(&p->p_cv);
	pthread_mutex_unlock(&p->p_mtx);
}

/*
 * Notes that replica host/pid answered with uptime and reports whether it
 * is one seen before.  A known replica whose uptime went back is a new
 * process in the old one's place (a container restarted keeps its host
 * name and often its pid): a restart.  Slots of replicas gone quiet are
 * kept until their room is needed, so a replica that comes back after a
 * long outage is still recognised.
 */
static int
gw_hs_replica(struct gw_svc_state *s, const char *host, long long pid,
    long long uptime, uint64_t now)
{
	struct gw_replica	*r;
	int			 i, victim = 0;

	for (i = 0; i < GW_REPLICAS_MAX; i++) {
		r = &s->s_rep[i];
		if (r->r_pid == pid && strcmp(r->r_host, host) == 0) {
			if (uptime < r->r_uptime)
				s->s_restarts_seen++;
			r->r_uptime = uptime;
			r->r_seen = now;
			return (1);
		}
		/* A free slot, else the replica seen longest ago. */
		if (s->s_rep[victim].r_pid != 0 && (r->r_pid == 0 ||
		    r->r_seen < s->s_rep[victim].r_seen))
			victim = i;
	}
	r = &s->s_rep[victim];
	r->r_pid = pid;
	snprintf(r->r_host, sizeof(r->r_host), "%s", host);
	r->r_uptime = uptime;
	r->r_seen = now;
	return (0);
}

static void
gw_hs_update(int i, int err, int status, json_t *body, uint64_t now)
{
	struct gw_svc_state	*s = &gw_hs[i];
	const char		*st, *db, *ver, *host;
	json_t			*v;
	long long		 uptime, said;
	int			 known;

	if (err != 0 || status != 200 || !json_is_object(body)) {
		if (s->s_up)
			log_warnx("service '%s' stopped answering its health "
			    "check (%s)", gw_svcs[i], err != 0 ?
			    sh_strerror(err) : "bad reply");
		s->s_up = 0;
		snprintf(s->s_status, sizeof(s->s_status), "down");
		return;
	}
	st = json_string_value(json_object_get(body, "status"));
	db = json_string_value(json_object_get(body, "database"));
	ver = json_string_value(json_object_get(body, "version"));
	host = json_string_value(json_object_get(body, "host"));
	uptime = json_integer_value(json_object_get(body, "uptime_seconds"));
	said = json_integer_value(json_object_get(body, "restart_count"));
	s->s_pid = json_integer_value(json_object_get(body, "pid"));
	known = gw_hs_replica(s, host != NULL ? host : "", s->s_pid, uptime,
	    now);
	/* Back after an outage as a process not seen before: the old one
	 * was replaced.  (A new replica while the service answered all
	 * along may as well be one more replica: not counted.) */
	if (!s->s_up && s->s_was_up && !known)
		s->s_restarts_seen++;
	if (said > s->s_restarts_said)
		s->s_restarts_said = said;
	if (!s->s_up && s->s_was_up)
		log_info("service '%s' is answering again", gw_svcs[i]);
	s->s_up = 1;
	s->s_was_up = 1;
	s->s_last_ok = now;
	snprintf(s->s_status, sizeof(s->s_status), "%s", st ? st : "ok");
	snprintf(s->s_version, sizeof(s->s_version), "%s", ver ? ver : "");
	s->s_db = db == NULL || strcmp(db, "none") == 0 ? -1 :
	    strcmp(db, "connected") == 0;
	s->s_uptime = uptime;
	v = json_object_get(body, "agent_count");
	s->s_agents = json_is_integer(v) ? json_integer_value(v) : -1;
}

static void
gw_poll_once(void)
{
	struct gw_poll		 p;
	struct gw_poll_slot	 slots[SVC_COUNT];
	struct bus_call		*calls[SVC_COUNT];
	struct timespec		 ts;
	json_t			*env, *caller;
	char			 id[UTIL_UUID_LEN];
	uint64_t		 now;
	int			 i, err, timeout = GW_POLL_TIMEOUT_MS;

	if (gw_hs_cfg->bus_timeout_ms < timeout)
		timeout = (int)gw_hs_cfg->bus_timeout_ms;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.p_mtx, NULL);
	pthread_cond_init(&p.p_cv, NULL);
	p.p_pending = SVC_COUNT;
	for (i = 0; i < SVC_COUNT; i++) {
		slots[i].ps_poll = &p;
		slots[i].ps_index = i;
		util_uuid4(id);
		caller = json_pack("{s:s, s:s, s:s}", "ip", "", "principal",
		    "gateway", "request_id", id);
		env = msg_request(OP_SYS_HEALTH, NULL, util_wall_ms() + timeout,
		    caller, NULL, NULL, NULL);
		/* Not started: no broker connected, or out of memory. */
		err = env == NULL ? SH_ENOMEM : SH_EUNAVAIL;
		calls[i] = env == NULL ? NULL : bus_call_start(gw_hs_bus,
		    gw_svcs[i], env, timeout, gw_poll_cb, &slots[i]);
		json_decref(env);
		if (calls[i] == NULL) {
			pthread_mutex_lock(&p.p_mtx);
			p.p_err[i] = err;
			p.p_pending--;
			pthread_mutex_unlock(&p.p_mtx);
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(timeout + 100) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&p.p_mtx);
	while (p.p_pending > 0)
		if (pthread_cond_timedwait(&p.p_cv, &p.p_mtx, &ts) != 0)
			break;
	pthread_mutex_unlock(&p.p_mtx);
	/* Cancels any straggler; its callback runs (with an error) before
	 * bus_call_free returns, so p outlives every callback. */
	for (i = 0; i < SVC_COUNT; i++)
		bus_call_free(calls[i]);
	now = util_now_ms();
	pthread_mutex_lock(&gw_hs_mtx);
	gw_hs_bus_ok = 0;
	for (i = 0; i < SVC_COUNT; i++) {
		if (p.p_err[i] == 0)
			gw_hs_bus_ok = 1;
		gw_hs_update(i, p.p_err[i], p.p_status[i], p.p_body[i], now);
	}
	pthread_mutex_unlock(&gw_hs_mtx);
	for (i = 0; i < SVC_COUNT; i++)
		json_decref(p.p_body[i]);
	pthread_mutex_destroy(&p.p_mtx);
	pthread_cond_destroy(&p.p_cv);
}

/* Whether every service answers and every database is connected.  Called
 * with gw_hs_mtx held. */
static int
gw_hs_ok(int *db_ok)
{
	int	i, ok = 1;

	*db_ok = 1;
	for (i = 0; i < SVC_COUNT; i++) {
		if (!gw_hs[i].s_up) {
			ok = 0;
			*db_ok = 0;	/* cannot tell: say so */
		} else if (gw_hs[i].s_db == 0) {
			ok = 0;
			*db_ok = 0;
		}
	}
	return (ok);
}

/* Asks the poller for a round now.  Called with gw_hs_mtx held. */
static void
gw_hs_kick_locked(void)
{
	if (!gw_hs_kick) {
		gw_hs_kick = 1;
		pthread_cond_signal(&gw_hs_cv);
	}
}

static void *
gw_health_main(void *arg)
{
	struct timespec	ts;
	uint64_t	t0, t_end, due, now, last_sweep = util_now_ms();
	int		interval, db_ok;

	(void)arg;
	/* gw_health_start ran the first round. */
	t0 = t_end = util_now_ms();
	for (;;) {
		/* Poll faster while something is down, so a stack that is
		 * starting reports "ok" soon after it is; sooner still when
		 * /api/health or /api/ready asks. */
		pthread_mutex_lock(&gw_hs_mtx);
		interval = gw_hs_ok(&db_ok) ? GW_POLL_MS : GW_POLL_FAST_MS;
		for (;;) {
			if (gw_hs_stop)
				break;
			now = util_now_ms();
			due = t0 + (uint64_t)interval;
			if (gw_hs_kick && t_end + GW_POLL_MIN_MS < due)
				due = t_end + GW_POLL_MIN_MS;
			if (now >= due)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(due - now) * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&gw_hs_cv, &gw_hs_mtx, &ts);
		}
		gw_hs_kick = 0;
		if (gw_hs_stop) {
			pthread_mutex_unlock(&gw_hs_mtx);
			break;
		}
		pthread_mutex_unlock(&gw_hs_mtx);
		t0 = util_now_ms();
		gw_poll_once();
		t_end = util_now_ms();
		if (t0 - last_sweep >= 60000) {
			gw_rl_sweep();
			last_sweep = t0;
		}
	}
	return (NULL);
}

int
gw_health_start(const struct sh_config *cfg, struct bus_client *bc)
{
	int	i;

	gw_hs_cfg = cfg;
	gw_hs_bus = bc;
	for (i = 0; i < SVC_COUNT; i++) {
		snprintf(gw_hs[i].s_status, sizeof(gw_hs[i].s_status),
		    "down");
		gw_hs[i].s_agents = -1;
	}
	gw_hs_stop = 0;
	gw_hs_kick = 0;
	SH_ASSERT(strcmp(gw_svcs[GW_AR], SVC_AGENT_RUNTIME) == 0);
	/* The first round before the first answer: the snapshot says what
	 * is, not "down" by default (bounded by the poll timeout). */
	gw_poll_once();
	if (pthread_create(&gw_hs_thread, NULL, gw_health_main, NULL) != 0) {
		log_warnx("%s: could not start the health poller", __func__);
		return (-1);
	}
	gw_hs_started = 1;
	return (0);
}

void
gw_health_stop(void)
{
	if (!gw_hs_started)
		return;
	pthread_mutex_lock(&gw_hs_mtx);
	gw_hs_stop = 1;
	pthread_cond_signal(&gw_hs_cv);
	pthread_mutex_unlock(&gw_hs_mtx);
	pthread_join(gw_hs_thread, NULL);
	gw_hs_started = 0;
}

int
gw_health_service_up(int i)
{
	int	up;

	if (i < 0 || i >= SVC_COUNT)
		return (0);
	pthread_mutex_lock(&gw_hs_mtx);
	up = gw_hs[i].s_up;
	pthread_mutex_unlock(&gw_hs_mtx);
	return (up);
}

long long
gw_health_agent_count(void)
{
	long long	n;

	pthread_mutex_lock(&gw_hs_mtx);
	n = gw_hs[GW_AR].s_up && gw_hs[GW_AR].s_agents >= 0 ?
	    gw_hs[GW_AR].s_agents : 0;
	pthread_mutex_unlock(&gw_hs_mtx);
	return (n);
}

long long
gw_uptime_seconds(void)
{
	return (svc_uptime());
}

/* Restarts of one service, and of all of them and this gateway (see the
 * top of the file).  Called with gw_hs_mtx held. */
static long long
gw_hs_svc_restarts(const struct gw_svc_state *s)
{
	return (s->s_restarts_seen > s->s_restarts_said ?
	    s->s_restarts_seen : s->s_restarts_said);
}

static long long
gw_hs_restarts(void)
{
	long long	n = svc_restart_count();
	int		i;

	for (i = 0; i < SVC_COUNT; i++)
		n += gw_hs_svc_restarts(&gw_hs[i]);
	return (n);
}

/* ---- the endpoints --------------------------------------------------- */

int
gw_sys_health(struct gw_req *gr)
{
	char		body[256];
	long long	restarts;
	int		ok, db_ok, n;

	pthread_mutex_lock(&gw_hs_mtx);
	ok = gw_hs_ok(&db_ok);
	if (!ok)
		gw_hs_kick_locked();
	restarts = gw_hs_restarts();
	pthread_mutex_unlock(&gw_hs_mtx);
	n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"version\":"
	    "\"%s\",\"uptime_seconds\":%lld,\"panic_count\":0,"
	    "\"restart_count\":%lld}", ok ? "ok" : "degraded",
	    LIBREFANG_VERSION, gw_uptime_seconds(), restarts);
	gw_reply_data(gr, 200, NULL, body, (size_t)n);
	return (0);
}

int
gw_sys_health_detail(struct gw_req *gr)
{
	struct gw_svc_state	*s;
	json_t			*o, *svcs, *so;
	uint64_t		 now = util_now_ms();
	int			 ok, db_ok, i, j, nrep;

	if ((svcs = json_object()) == NULL) {
		gw_reply_json(gr, 500, NULL);
		return (0);
	}
	pthread_mutex_lock(&gw_hs_mtx);
	ok = gw_hs_ok(&db_ok);
	for (i = 0; i < SVC_COUNT; i++) {
		s = &gw_hs[i];
		for (nrep = 0, j = 0; j < GW_REPLICAS_MAX; j++)
			if (s->s_rep[j].r_pid != 0 &&
			    now - s->s_rep[j].r_seen <= GW_REPLICA_TTL_MS)
				nrep++;
		so = json_pack("{s:s, s:s, s:i, s:I}", "status", s->s_status,
		    "database", !s->s_up ? "unknown" : s->s_db < 0 ? "none" :
		    s->s_db ? "connected" : "disconnected",
		    "replicas_seen", nrep, "restart_count",
		    (json_int_t)gw_hs_svc_restarts(s));
		if (so != NULL && s->s_up) {
			json_object_set_new(so, "version",
			    json_string(s->s_version));
			json_object_set_new(so, "uptime_seconds",
			    json_integer(s->s_uptime));
		}
		if (so != NULL && s->s_last_ok != 0)
			json_object_set_new(so, "last_seen_ms_ago",
			    json_integer((json_int_t)(now - s->s_last_ok)));
		json_object_set_new(svcs, gw_svcs[i], so);
	}
	o = json_pack("{s:s, s:s, s:I, s:i, s:I, s:I, s:s, s:o, s:o}",
	    "status", ok ? "ok" : "degraded", "version", LIBREFANG_VERSION,
	    "uptime_seconds", (json_int_t)gw_uptime_seconds(),
	    "panic_count", 0, "restart_count", (json_int_t)gw_hs_restarts(),
	    "agent_count", (json_int_t)(gw_hs[GW_AR].s_up &&
	    gw_hs[GW_AR].s_agents > 0 ? gw_hs[GW_AR].s_agents : 0),
	    "database", db_ok ? "connected" : "disconnected",
	    "config_warnings", json_deep_copy(gw_hs_cfg->cf_warnings),
	    "services", svcs);
	pthread_mutex_unlock(&gw_hs_mtx);
	gw_reply_json(gr, 200, o);
	return (0);
}

/* Appends {"name": name, "status": ok ? "ok" : bad} to checks and, when
 * not ok, name to missing. */
static void
gw_ready_check(json_t *checks, json_t *missing, const char *name, int ok,
    const char *bad)
{
	json_array_append_new(checks, json_pack("{s:s, s:s}", "name", name,
	    "status", ok ? "ok" : bad));
	if (!ok)
		json_array_append_new(missing, json_string(name));
}

/*
 * GET /api/ready: the readiness probe.  Ready when the last round reached
 * the broker, every service answered (a live replica), and PostgreSQL
 * answers: no service reports its database disconnected and at least one
 * that uses it says connected.  Names and coarse states only, as
 * /api/health: the detail is behind auth in /api/health/detail.
 */
int
gw_sys_ready(struct gw_req *gr)
{
	json_t	*checks, *missing, *o;
	int	 i, db_up = 0, db_down = 0;

	checks = json_array();
	missing = json_array();
	if (checks == NULL || missing == NULL) {
		json_decref(checks);
		json_decref(missing);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_lock(&gw_hs_mtx);
	gw_ready_check(checks, missing, "bus", gw_hs_bus_ok, "unreachable");
	for (i = 0; i < SVC_COUNT; i++) {
		gw_ready_check(checks, missing, gw_svcs[i], gw_hs[i].s_up,
		    "down");
		if (gw_hs[i].s_up && gw_hs[i].s_db == 1)
			db_up = 1;
		if (gw_hs[i].s_up && gw_hs[i].s_db == 0)
			db_down = 1;
	}
	gw_ready_check(checks, missing, "database", db_up && !db_down,
	    db_down ? "down" : "unknown");
	if (json_array_size(missing) > 0)
		gw_hs_kick_locked();
	pthread_mutex_unlock(&gw_hs_mtx);
	if (json_array_size(missing) == 0) {
		json_decref(missing);
		o = json_pack("{s:s, s:o}", "status", "ready", "checks",
		    checks);
		gw_reply_json(gr, 200, o);
	} else {
		o = json_pack("{s:s, s:o, s:o}", "error", "not ready",
		    "missing", missing, "checks", checks);
		gw_reply_json(gr, 503, o);
	}
	return (0);
}

/* An instance's brokers, as its last heartbeat said: [{url, connected,
 * since, since_ms}]; NULL on ENOMEM. */
static json_t *
gw_sys_brokers(const struct beat_entry *be)
{
	json_t	*list;
	char	 since[32];
	int	 i;

	list = json_array();
	for (i = 0; i < be->be_nbrokers; i++) {
		util_rfc3339(be->be_brokers[i].bb_since_ms, since);
		svc_list_add(&list, json_pack("{s:s, s:b, s:s, s:I}", "url",
		    be->be_brokers[i].bb_url, "connected",
		    be->be_brokers[i].bb_connected, "since", since, "since_ms",
		    (json_int_t)be->be_brokers[i].bb_since_ms));
	}
	return (list);
}

/*
 * Every process heard from (libshared/beat.h), for /api/status: service,
 * instance (host:pid), host, pid, version, status (up, down or gone),
 * started_at, uptime_seconds (as its last heartbeat said), last_seen,
 * last_seen_ms_ago, config_version (cfgsync.h) and brokers (its connection to each broker).  New
 * array, or NULL on ENOMEM.
 */
static json_t *
gw_sys_instances(void)
{
	struct beat_entry	*e;
	json_t			*list;
	char			 started[32], seen[32];
	uint64_t		 now;
	int			 i, n;

	if ((n = beat_watch_list(&e, &now)) < 0)
		return (NULL);
	list = json_array();
	for (i = 0; i < n; i++) {
		util_rfc3339(e[i].be_started_ms, started);
		util_rfc3339(e[i].be_seen_wall, seen);
		svc_list_add(&list, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, "
		    "s:s, s:I, s:s, s:I, s:I, s:o*}", "service",
		    e[i].be_service,
		    "instance", e[i].be_instance, "host", e[i].be_host, "pid",
		    (json_int_t)e[i].be_pid, "version", e[i].be_version,
		    "status", beat_state_name(beat_entry_state(&e[i], now)),
		    "started_at", started, "uptime_seconds",
		    (json_int_t)e[i].be_uptime, "last_seen", seen,
		    "last_seen_ms_ago", (json_int_t)(now > e[i].be_seen ?
		    now - e[i].be_seen : 0), "config_version",
		    (json_int_t)e[i].be_config_version, "brokers",
		    gw_sys_brokers(&e[i])));
	}
	free(e);
	return (list);
}

/* Runs on an nng thread with the answer to agents.list. */
static void
gw_sys_status_done(struct gw_req *gr, int err, struct msg_rep *rep)
{
	json_t	*agents = NULL, *o;

	if (err == 0 && rep->mp_status == 200) {
		if (json_is_array(rep->mp_body))
			agents = json_incref(rep->mp_body);
		else if (json_is_array(json_object_get(rep->mp_body,
		    "agents")))
			agents = json_incref(json_object_get(rep->mp_body,
			    "agents"));
		else if (json_is_array(json_object_get(rep->mp_body,
		    "items")))
			agents = json_incref(json_object_get(rep->mp_body,
			    "items"));
	}
	if (agents == NULL)
		agents = json_array();
	o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:o}",
	    "status", "running",
	    "agent_count", (json_int_t)(err == 0 && rep->mp_status == 200 ?
	    json_array_size(agents) : (size_t)gw_health_agent_count()),
	    "data_dir", gw_hs_cfg->data_dir,
	    "default_provider", gw_hs_cfg->default_provider,
	    "default_model", gw_hs_cfg->default_model,
	    "uptime_seconds", (json_int_t)gw_uptime_seconds(),
	    "agents", agents);
	if (o != NULL && (err != 0 || rep->mp_status != 200))
		json_object_set_new(o, "agents_error", json_string(err != 0 ?
		    "agent-runtime unavailable" : "agent-runtime refused "
		    OP_AGENTS_LIST));
	/* Beside the reference's fields: every replica of every service. */
	if (o != NULL && json_object_set_new(o, "instances",
	    gw_sys_instances()) != 0) {
		json_decref(o);
		o = NULL;
	}
	gw_reply_json(gr, 200, o);
	if (err == 0)
		msg_rep_release(rep);
}

int
gw_sys_status(struct gw_req *gr)
{
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_AGENTS_LIST, json_object(),
	    json_object(), json_null(), gw_sys_status_done));
}

int
gw_sys_version(struct gw_req *gr)
{
	struct utsname	u;

	if (uname(&u) != 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	gw_reply_json(gr, 200, json_pack("{s:s, s:s, s:s, s:s, s:n, s:s, "
	    "s:s, s:s}", "name", LIBREFANG_NAME, "version", LIBREFANG_VERSION,
	    "build_date", LF_BUILD_DATE, "git_sha", LF_GIT_SHA,
	    "rust_version", "c_compiler", GW_CC, "platform", "linux",
	    "arch", u.machine));
	return (0);
}

int
gw_sys_metrics(struct gw_req *gr)
{
	struct buf	b = BUF_INIT(8 * 1024 * 1024);

	if (gw_metrics_render(&b) != 0) {
		buf_release(&b);
		gw_reply_error(gr, 500, "could not render metrics");
		return (0);
	}
	gw_reply_data(gr, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.b_data, b.b_len);
	buf_release(&b);
	return (0);
}

