/*
 * bus.c - REQ/REP and PUB/SUB over nng, through the broker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bus.h"
#include "err.h"
#include "log.h"
#include "services.h"
#include "util.h"

#define BUS_URL_MAX	512
#define BUS_MAX_BROKERS	4	/* in one bus URL */
#define BUS_REPLY_MS	5000	/* a reply may wait this long for its broker */
#define BUS_STOP_GRACE_MS 1000	/* ... but only this long once we stop */
#define BUS_TEARDOWN_MS	2000	/* bus_teardown_enter() */
#define BUS_TIMEOUT_MAX	86400000	/* ms, in a route line */
#define BUS_EVENT_BUF	1024	/* events a pub/sub socket queues per pipe */
#define BUS_SETTLE_MS	2000	/* bus_client_open() waits for a broker */
#define BUS_SETTLE_MORE_MS 250	/* ... and then for the other brokers */
#define BUS_RETRY_MIN_MS 50	/* a second broker only with this much left */

/* Waits on cv, mtx held, until it is signalled or ms have passed. */
static void
bus_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mtx, uint64_t ms)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	(void)pthread_cond_timedwait(cv, mtx, &ts);
}

static int
bus_role_offset(const char *role)
{
	static const char *const svcs[] = SVC_LIST;
	int			 i;

	if (strcmp(role, "front") == 0)
		return (0);
	if (strcmp(role, "pub") == 0)
		return (1);
	if (strcmp(role, "sub") == 0)
		return (2);
	for (i = 0; svcs[i] != NULL; i++)
		if (strcmp(role, svcs[i]) == 0)
			return (3 + i);
	return (-1);
}

int
bus_addr(const char *base, const char *role, char *out, size_t outlen)
{
	const char	*colon;
	long long	 port;
	char		 num[16];
	int		 off, n;

	if ((off = bus_role_offset(role)) < 0)
		return (SH_EINVAL);
	if (strncmp(base, "ipc://", 6) == 0 ||
	    strncmp(base, "inproc://", 9) == 0) {
		n = snprintf(out, outlen, "%s.%s", base, role);
		return (n < 0 || (size_t)n >= outlen ? SH_EINVAL : 0);
	}
	if (strncmp(base, "tcp://", 6) != 0 ||
	    (colon = strrchr(base, ':')) == NULL || colon < base + 6)
		return (SH_EINVAL);
	if (util_strtonum(colon + 1, 1, 65535 - 3 - SVC_COUNT, &port) != 0)
		return (SH_EINVAL);
	snprintf(num, sizeof(num), "%lld", port + off);
	n = snprintf(out, outlen, "%.*s:%s", (int)(colon - base), base, num);
	return (n < 0 || (size_t)n >= outlen ? SH_EINVAL : 0);
}

/*
 * Splits url (comma-separated brokers) into at most max addresses of
 * role, written to addrs, and each broker's own URL to bases (when not
 * NULL).  Returns how many, or SH_EINVAL.
 */
static int
bus_url_addrs(const char *url, const char *role,
    char addrs[][BUS_URL_MAX], char bases[][BUS_URL_MAX], int max)
{
	char	 copy[BUS_URL_MAX], *tok, *save = NULL;
	int	 n = 0;

	if (strlen(url) >= sizeof(copy))
		return (SH_EINVAL);
	memcpy(copy, url, strlen(url) + 1);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (n == max) {
			log_warnx("%s: more than %d brokers in '%s'", __func__,
			    max, url);
			return (SH_EINVAL);
		}
		if (bus_addr(tok, role, addrs[n], BUS_URL_MAX) != 0) {
			log_warnx("%s: bad bus url '%s'", __func__, tok);
			return (SH_EINVAL);
		}
		if (bases != NULL)
			snprintf(bases[n], BUS_URL_MAX, "%s", tok);
		n++;
	}
	return (n > 0 ? n : SH_EINVAL);
}

/* ---- dialing ------------------------------------------------------------ */

/*
 * Dials are watched, so that every process is back within 2 s of a
 * broker's restart (issue 11).  nng redials by itself after a failed
 * attempt, with a backoff we keep short (BUS_RECONN_MIN_MS doubling up to
 * BUS_RECONN_MAX_MS, a random part of it each time); but one attempt can
 * last far longer than that: over tcp, a connect to the address of a
 * stopped container waits for ARP to give up (about 3 s), and only then
 * does nng try again, with the broker long back.  So a dialer that has had
 * no connection for BUS_REDIAL_MS is closed and made anew, which starts
 * an attempt at once (one thread for the process, bus_redial_main, which
 * sleeps until the first dialer without a connection is due, and without
 * a deadline while every dialer has one: an idle process does not wake
 * for it).  An
 * ipc dial fails at once when no broker listens, so nng's own backoff
 * suffices there; its dialers are renewed only after BUS_REDIAL_IPC_MS,
 * for a dialer stuck for whatever reason.  A connection only ends its
 * handshake mid-way when a renewal falls inside that handshake's few
 * microseconds: the broker's watch (services/bus/broker.c, "Listeners")
 * covers that.
 *
 * A dialer's state lives in bus_redials under bus_redial_mtx; its pipes
 * are counted from their ADD_POST and REM_POST events (bus_redial_note),
 * found by dialer id -- which is why a dialer is created, registered,
 * and only then started.  rd_busy marks one being renewed outside the
 * lock; bus_sock_close() waits for it before the socket closes.
 */
#define BUS_RECONN_MIN_MS 20	/* nng's redial backoff, first */
#define BUS_RECONN_MAX_MS 500	/* ... and largest */
#define BUS_REDIAL_MS	1000	/* tcp: no connection this long: dial anew */
#define BUS_REDIAL_IPC_MS 2000	/* ipc: the same */

struct bus_redial {
	struct bus_redial	*rd_next;
	nng_socket		 rd_sock;
	nng_dialer		 rd_dialer;
	int			 rd_tcp;
	int			 rd_up;		/* its pipes connected now */
	int			 rd_busy;	/* being renewed, unlocked */
	int			 rd_link;	/* its broker in bus_link_st, or -1 */
	uint64_t		 rd_since;	/* monotonic ms: dialed, or lost */
	char			 rd_addr[BUS_URL_MAX];
};

static pthread_mutex_t	 bus_redial_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 bus_redial_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	 bus_redial_due = PTHREAD_COND_INITIALIZER; /* a
				    dialer without a connection: look again */
static struct bus_redial *bus_redials;
static pthread_once_t	 bus_redial_once = PTHREAD_ONCE_INIT;

/*
 * Uplinks (bus.h): the process's state towards each broker it dialled, for
 * its heartbeat.  A broker is connected when every dialer to it, of every
 * socket, has a pipe: then anything the process does can go through it.
 * Recomputed from the dialers on each of their pipe events, under
 * bus_redial_mtx; a change calls bus_links_fn once the lock is released,
 * so the heartbeat says it at once instead of at its next interval.
 */
#define BUS_LINKS_MAX	8
static struct {
	char		 ls_url[BUS_UPLINK_URL_MAX];
	int		 ls_up;
	int64_t		 ls_since;	/* wall clock ms of the last change */
} bus_link_st[BUS_LINKS_MAX];
static int		 bus_nlink;
static void		(*bus_links_fn)(void);

/* The index of broker base's link, made when new; -1 when the table is
 * full.  Under bus_redial_mtx. */
static int
bus_link_find(const char *base)
{
	int	i;

	for (i = 0; i < bus_nlink; i++)
		if (strcmp(bus_link_st[i].ls_url, base) == 0)
			return (i);
	if (bus_nlink == BUS_LINKS_MAX)
		return (-1);
	snprintf(bus_link_st[i].ls_url, sizeof(bus_link_st[i].ls_url), "%s",
	    base);
	bus_link_st[i].ls_up = 0;
	bus_link_st[i].ls_since = util_wall_ms();
	bus_nlink++;
	return (i);
}

/* Recomputes link i from its dialers; 1 when its state changed.  Under
 * bus_redial_mtx. */
static int
bus_link_update(int i)
{
	struct bus_redial	*rd;
	int			 n = 0, up = 1;

	if (i < 0)
		return (0);
	for (rd = bus_redials; rd != NULL; rd = rd->rd_next)
		if (rd->rd_link == i) {
			n++;
			if (rd->rd_up == 0)
				up = 0;
		}
	if (n == 0)
		up = 0;
	if (up == bus_link_st[i].ls_up)
		return (0);
	bus_link_st[i].ls_up = up;
	bus_link_st[i].ls_since = util_wall_ms();
	return (1);
}

/* Calls the watcher after a change, outside bus_redial_mtx. */
static void
bus_links_changed(void (*fn)(void), int changed)
{
	if (changed && fn != NULL)
		fn();
}

int
bus_uplinks(struct bus_uplink *out, int max)
{
	int	i;

	pthread_mutex_lock(&bus_redial_mtx);
	for (i = 0; i < bus_nlink && i < max; i++) {
		memcpy(out[i].ul_url, bus_link_st[i].ls_url,
		    sizeof(out[i].ul_url));
		out[i].ul_connected = bus_link_st[i].ls_up;
		out[i].ul_since_ms = bus_link_st[i].ls_since;
	}
	pthread_mutex_unlock(&bus_redial_mtx);
	return (i);
}

void
bus_uplinks_watch(void (*fn)(void))
{
	pthread_mutex_lock(&bus_redial_mtx);
	bus_links_fn = fn;
	pthread_mutex_unlock(&bus_redial_mtx);
}

/* A new dialer of s to addr, its backoff set, not started.  0 or -1. */
static int
bus_dialer_new(nng_socket s, const char *addr, nng_dialer *d)
{
	int	rv;

	if ((rv = nng_dialer_create(d, s, addr)) != 0) {
		log_warnx("%s: could not dial '%s': %s", __func__, addr,
		    nng_strerror(rv));
		return (-1);
	}
	nng_dialer_set_ms(*d, NNG_OPT_RECONNMINT, BUS_RECONN_MIN_MS);
	nng_dialer_set_ms(*d, NNG_OPT_RECONNMAXT, BUS_RECONN_MAX_MS);
	return (0);
}

/* Renews one dialer that has had no connection for its time, if any; 1
 * if it did (the list may have changed: look again), else 0. */
static int
bus_redial_one(void)
{
	struct bus_redial	*rd;
	nng_dialer		 nd;
	uint64_t		 now = util_now_ms();
	int			 ok;

	pthread_mutex_lock(&bus_redial_mtx);
	for (rd = bus_redials; rd != NULL; rd = rd->rd_next)
		if (!rd->rd_up && !rd->rd_busy && now - rd->rd_since >=
		    (uint64_t)(rd->rd_tcp ? BUS_REDIAL_MS : BUS_REDIAL_IPC_MS))
			break;
	if (rd == NULL) {
		pthread_mutex_unlock(&bus_redial_mtx);
		return (0);
	}
	rd->rd_busy = 1;
	pthread_mutex_unlock(&bus_redial_mtx);

	log_debug("%s: no connection to '%s' for %llu ms: dialing anew",
	    __func__, rd->rd_addr, (unsigned long long)(now - rd->rd_since));
	nng_dialer_close(rd->rd_dialer);
	ok = bus_dialer_new(rd->rd_sock, rd->rd_addr, &nd) == 0;
	pthread_mutex_lock(&bus_redial_mtx);
	if (ok)
		rd->rd_dialer = nd;
	rd->rd_up = 0;
	rd->rd_since = util_now_ms();
	pthread_mutex_unlock(&bus_redial_mtx);
	/* Registered first: its pipes' events find it by its id. */
	if (ok)
		nng_dialer_start(nd, NNG_FLAG_NONBLOCK);
	pthread_mutex_lock(&bus_redial_mtx);
	rd->rd_busy = 0;
	pthread_cond_broadcast(&bus_redial_cv);
	pthread_mutex_unlock(&bus_redial_mtx);
	return (1);
}

/* The ms until the first dialer without a connection is due for renewal
 * (0: one is), or UINT64_MAX when every dialer has one.  Under
 * bus_redial_mtx. */
static uint64_t
bus_redial_next(uint64_t now)
{
	struct bus_redial	*rd;
	uint64_t		 due, next = UINT64_MAX;

	for (rd = bus_redials; rd != NULL; rd = rd->rd_next) {
		if (rd->rd_up || rd->rd_busy)
			continue;
		due = rd->rd_since +
		    (uint64_t)(rd->rd_tcp ? BUS_REDIAL_MS : BUS_REDIAL_IPC_MS);
		if (due <= now)
			return (0);
		if (due - now < next)
			next = due - now;
	}
	return (next);
}

static void *
bus_redial_main(void *arg)
{
	uint64_t	wait;

	(void)arg;
	for (;;) {
		while (bus_redial_one())
			;
		/* Dialing and losing a pipe signal bus_redial_due under
		 * the lock, so neither is missed between the look and the
		 * wait. */
		pthread_mutex_lock(&bus_redial_mtx);
		if ((wait = bus_redial_next(util_now_ms())) == UINT64_MAX)
			pthread_cond_wait(&bus_redial_due, &bus_redial_mtx);
		else if (wait > 0)
			bus_cond_wait_ms(&bus_redial_due, &bus_redial_mtx,
			    wait);
		pthread_mutex_unlock(&bus_redial_mtx);
	}
	return (NULL);
}

static void
bus_redial_start(void)
{
	pthread_t	t;

	if (pthread_create(&t, NULL, bus_redial_main, NULL) == 0)
		pthread_detach(t);
	else
		log_warnx("%s: could not start the redial thread: nng's "
		    "backoff alone redials", __func__);
}

/* Counts the pipes of the watched dialer p came from.  On an nng thread. */
static void
bus_redial_note(nng_pipe p, nng_pipe_ev ev)
{
	struct bus_redial	*rd;
	nng_dialer		 d = nng_pipe_dialer(p);
	void			(*fn)(void);
	int			 changed;

	if (nng_dialer_id(d) <= 0 ||
	    (ev != NNG_PIPE_EV_ADD_POST && ev != NNG_PIPE_EV_REM_POST))
		return;
	pthread_mutex_lock(&bus_redial_mtx);
	for (rd = bus_redials; rd != NULL; rd = rd->rd_next)
		if (nng_dialer_id(rd->rd_dialer) == nng_dialer_id(d))
			break;
	if (rd != NULL && ev == NNG_PIPE_EV_ADD_POST)
		rd->rd_up++;
	else if (rd != NULL && rd->rd_up > 0 && --rd->rd_up == 0) {
		rd->rd_since = util_now_ms();
		pthread_cond_signal(&bus_redial_due);
	}
	changed = rd != NULL && bus_link_update(rd->rd_link);
	fn = bus_links_fn;
	pthread_mutex_unlock(&bus_redial_mtx);
	bus_links_changed(fn, changed);
}

/* Forgets s's dialers, waiting for one being renewed.  Before nng_close. */
static void
bus_redial_forget(nng_socket s)
{
	struct bus_redial	**rp, *rd;
	void			(*fn)(void);
	int			 changed = 0, i;

	pthread_mutex_lock(&bus_redial_mtx);
	rp = &bus_redials;
	while ((rd = *rp) != NULL) {
		if (nng_socket_id(rd->rd_sock) != nng_socket_id(s)) {
			rp = &rd->rd_next;
			continue;
		}
		if (rd->rd_busy) {
			pthread_cond_wait(&bus_redial_cv, &bus_redial_mtx);
			rp = &bus_redials;	/* the list may have changed */
			continue;
		}
		*rp = rd->rd_next;
		free(rd);
	}
	for (i = 0; i < bus_nlink; i++)
		changed |= bus_link_update(i);
	fn = bus_links_fn;
	pthread_mutex_unlock(&bus_redial_mtx);
	bus_links_changed(fn, changed);
}

/*
 * Dials addr, a role of broker base, without blocking: nng keeps
 * redialing in the background, so a broker that starts later, or
 * restarts, is picked up; and the dialer is watched (above).  The socket's pipe events must call bus_redial_note().
 */
static int
bus_dial(nng_socket s, const char *addr, const char *base)
{
	struct bus_redial	*rd;
	nng_dialer		 d;
	void			(*fn)(void);
	int			 rv, changed;

	pthread_once(&bus_redial_once, bus_redial_start);
	if ((rd = calloc(1, sizeof(*rd))) == NULL ||
	    strlen(addr) >= sizeof(rd->rd_addr)) {
		free(rd);
		return (SH_ENOMEM);
	}
	if (bus_dialer_new(s, addr, &d) != 0) {
		free(rd);
		return (SH_EIO);
	}
	rd->rd_sock = s;
	rd->rd_dialer = d;
	rd->rd_tcp = strncmp(addr, "tcp", 3) == 0;
	rd->rd_since = util_now_ms();
	memcpy(rd->rd_addr, addr, strlen(addr) + 1);
	pthread_mutex_lock(&bus_redial_mtx);
	rd->rd_link = bus_link_find(base);
	rd->rd_next = bus_redials;
	bus_redials = rd;
	pthread_cond_signal(&bus_redial_due);	/* not connected yet */
	changed = bus_link_update(rd->rd_link);
	fn = bus_links_fn;
	pthread_mutex_unlock(&bus_redial_mtx);
	bus_links_changed(fn, changed);
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("%s: could not dial '%s': %s", __func__, addr,
		    nng_strerror(rv));
		return (SH_EIO);	/* forgotten when s closes */
	}
	return (0);
}

/* Dials role at every broker listed in url. */
static int
bus_dial_all(nng_socket s, const char *url, const char *role)
{
	char	addrs[BUS_MAX_BROKERS][BUS_URL_MAX];
	char	bases[BUS_MAX_BROKERS][BUS_URL_MAX];
	int	i, n;

	if ((n = bus_url_addrs(url, role, addrs, bases, BUS_MAX_BROKERS)) < 0)
		return (n);
	for (i = 0; i < n; i++)
		if (bus_dial(s, addrs[i], bases[i]) != 0)
			return (SH_EIO);
	return (0);
}

static int
bus_nng_err(int rv)
{
	switch (rv) {
	case 0:			return (0);
	case NNG_ETIMEDOUT:	return (SH_ETIMEDOUT);
	case NNG_ENOMEM:	return (SH_ENOMEM);
	case NNG_ECLOSED:
	case NNG_ECANCELED:
	case NNG_ECONNRESET:	return (SH_EUNAVAIL);	/* broker lost */
	default:		return (SH_EIO);
	}
}

/*
 * Refuses a pipe that connects while its socket closes (arg: the socket's
 * closing flag).  nng 1.5.2 adds a pipe whose dial completes during
 * nng_close() after it closed the others, then waits for it to go: without
 * this, nng_close() can wait as long as the broker stays up.
 */
static void
bus_pipe_guard(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	atomic_int	*closing = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE && atomic_load(closing))
		nng_pipe_close(p);
	bus_redial_note(p, ev);
}

/* Registers bus_pipe_guard for every pipe event of s. */
static void
bus_pipe_notify(nng_socket s, atomic_int *closing)
{
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_PRE, bus_pipe_guard, closing);
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, bus_pipe_guard, closing);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, bus_pipe_guard, closing);
}

/* ---- teardown ----------------------------------------------------------- */

static pthread_once_t	bus_watchdog_once = PTHREAD_ONCE_INIT;
static atomic_int	bus_teardown_active;
static atomic_ullong	bus_teardown_deadline;	/* monotonic ms */
static atomic_int	bus_teardown_code;	/* the watchdog's exit status */
static pthread_mutex_t	bus_watchdog_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	bus_watchdog_cv = PTHREAD_COND_INITIALIZER;

/*
 * Sleeps without a deadline while no teardown runs, so that an idle
 * process does not wake for it; bus_teardown_enter() signals it under
 * bus_watchdog_mtx, so the signal cannot fall between its look and its
 * wait.  A teardown that has left before the deadline finds it asleep
 * again at the deadline's wake-up.
 */
static void *
bus_watchdog_main(void *arg)
{
	uint64_t	now, deadline;

	(void)arg;
	pthread_mutex_lock(&bus_watchdog_mtx);
	for (;;) {
		if (atomic_load(&bus_teardown_active) <= 0) {
			pthread_cond_wait(&bus_watchdog_cv, &bus_watchdog_mtx);
			continue;
		}
		now = util_now_ms();
		deadline = atomic_load(&bus_teardown_deadline);
		if (now > deadline)
			break;
		bus_cond_wait_ms(&bus_watchdog_cv, &bus_watchdog_mtx,
		    deadline - now + 1);
	}
	pthread_mutex_unlock(&bus_watchdog_mtx);
	log_warnx("%s: nng's teardown still runs after %d ms "
	    "(nanomsg/nng#1813, fixed in nng 1.8): exiting", __func__,
	    BUS_TEARDOWN_MS);
	_exit(atomic_load(&bus_teardown_code));
}

static void
bus_watchdog_start(void)
{
	pthread_t	t;

	if (pthread_create(&t, NULL, bus_watchdog_main, NULL) == 0)
		pthread_detach(t);
	else
		log_warnx("%s: could not start the teardown watchdog",
		    __func__);
}

/*
 * Started with the process's first socket, not at its first teardown: a
 * process whose start failed for want of threads (or memory) must still
 * have its watchdog when it closes what it opened (t0401's stub).
 */
static void
bus_watchdog_arm(void)
{
	pthread_once(&bus_watchdog_once, bus_watchdog_start);
}

void
bus_teardown_enter(void)
{
	atomic_store(&bus_teardown_deadline, util_now_ms() + BUS_TEARDOWN_MS);
	atomic_fetch_add(&bus_teardown_active, 1);
	bus_watchdog_arm();
	pthread_mutex_lock(&bus_watchdog_mtx);
	pthread_cond_signal(&bus_watchdog_cv);
	pthread_mutex_unlock(&bus_watchdog_mtx);
}

void
bus_teardown_status(int code)
{
	atomic_store(&bus_teardown_code, code);
}

void
bus_teardown_leave(void)
{
	atomic_fetch_sub(&bus_teardown_active, 1);
}

/* Closes s, refusing pipes that still connect (closing: its flag). */
static void
bus_sock_close(nng_socket s, atomic_int *closing)
{
	atomic_store(closing, 1);
	bus_teardown_enter();
	bus_redial_forget(s);
	nng_close(s);
	bus_teardown_leave();
}

/* ---- clients ---------------------------------------------------------- */

struct bus_call;
static void	bus_call_spare_free(struct bus_client *);

/*
 * A client has at most BUS_CALLS_MAX calls in flight: the broker holds a
 * context for each (services/bus/broker.c, "Replies"), and a gateway with
 * thousands of waiting connections must not make that unbounded.  Past
 * it a call fails at once with SH_EUNAVAIL (the gateway's 503).
 */
#define BUS_CALLS_MAX	2048

/*
 * One REQ socket per broker, so that a call can choose its broker: a
 * call goes to the next connected one in turn, and a call that a broker
 * answers "service 'x' unavailable" (its replicas have not joined it yet:
 * it has just restarted) is sent once more through another connected
 * broker, if there is one and time is left, before that answer counts
 * (issue 11: the other broker carries the traffic meanwhile).  Only the
 * broker says that of the very service called (a replica never answers
 * it about itself), and it says it before forwarding anything, so the
 * second send never runs a request twice.
 */
struct bus_client {
	nng_socket	 bc_socks[BUS_MAX_BROKERS];
	int		 bc_n;
	atomic_int	 bc_up[BUS_MAX_BROKERS];	/* pipes of each */
	atomic_uint	 bc_next;	/* round robin over the brokers */
	atomic_int	 bc_calls;	/* in flight now */
	atomic_int	 bc_pipes;	/* brokers connected now */
	atomic_int	 bc_closing;
	pthread_mutex_t	 bc_mtx;	/* guards bc_spare, bc_nspare */
	struct bus_call	*bc_spare;	/* finished calls, for reuse */
	int		 bc_nspare;
};

/* Counts connected brokers, so a call with none fails at once instead of
 * waiting out its deadline. */
static void
bus_client_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct bus_client	*bc = arg;
	int			 i, d;

	bus_pipe_guard(p, ev, &bc->bc_closing);
	if (ev == NNG_PIPE_EV_ADD_POST)
		d = 1;
	else if (ev == NNG_PIPE_EV_REM_POST)
		d = -1;
	else
		return;
	for (i = 0; i < bc->bc_n; i++)
		if (nng_socket_id(bc->bc_socks[i]) ==
		    nng_socket_id(nng_pipe_socket(p)))
			atomic_fetch_add(&bc->bc_up[i], d);
	atomic_fetch_add(&bc->bc_pipes, d);
}

/* The next connected broker in turn, other than not (-1: any); -1 if
 * none. */
static int
bus_client_pick(struct bus_client *bc, int not)
{
	unsigned	start = atomic_fetch_add(&bc->bc_next, 1);
	int		i, j;

	for (i = 0; i < bc->bc_n; i++) {
		j = (int)((start + (unsigned)i) % (unsigned)bc->bc_n);
		if (j != not && atomic_load(&bc->bc_up[j]) > 0)
			return (j);
	}
	return (-1);
}

/*
 * Whether m is a broker's "service 'svc' unavailable" (services/bus):
 * a short reply, status 503, that error.  Read as bytes: the text is the
 * broker's own (msg_reply and MSG_JSON_FLAGS), and most replies are not
 * 503s.
 */
static int
bus_unavailable(nng_msg *m, const char *svc)
{
	char	want[BUS_SVC_MAX + 48];
	int	n;

	if (nng_msg_len(m) > 256 || memmem(nng_msg_body(m), nng_msg_len(m),
	    "\"status\":503", 12) == NULL)
		return (0);
	n = snprintf(want, sizeof(want), "\"error\":\"service '%s' "
	    "unavailable\"", svc);
	return (n > 0 && (size_t)n < sizeof(want) &&
	    memmem(nng_msg_body(m), nng_msg_len(m), want, (size_t)n) != NULL);
}

nng_stat *
bus_stat_scope(nng_stat *st, const char *scope, const char *key, int id)
{
	nng_stat	*c, *found;

	if (nng_stat_type(st) != NNG_STAT_SCOPE)
		return (NULL);
	if (strcmp(nng_stat_name(st), scope) == 0)
		for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
			if (strcmp(nng_stat_name(c), key) == 0 &&
			    nng_stat_value(c) == (uint64_t)id)
				return (st);
	for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
		if ((found = bus_stat_scope(c, scope, key, id)) != NULL)
			return (found);
	return (NULL);
}

/*
 * Whether every dialer of s has failed an attempt so far (a broker that
 * refused, or no broker at the address): by their statistics' error
 * counters, everything but "connect".
 */
static int
bus_dials_failed(nng_socket s)
{
	nng_stat	*all, *st, *c;
	int		 dialers = 0, failed = 0, err;

	if (nng_stats_get(&all) != 0)
		return (0);
	for (st = nng_stat_child(all); st != NULL; st = nng_stat_next(st)) {
		if (bus_stat_scope(st, "dialer", "socket", nng_socket_id(s)) !=
		    st)
			continue;
		dialers++;
		err = 0;
		for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
			if (nng_stat_type(c) == NNG_STAT_COUNTER &&
			    strcmp(nng_stat_name(c), "connect") != 0 &&
			    nng_stat_value(c) > 0)
				err = 1;
		failed += err;
	}
	nng_stats_free(all);
	return (dialers > 0 && failed == dialers);
}

/*
 * Gives a just-opened client time to finish its first dials: until a
 * broker is connected or every dial has failed once, or BUS_SETTLE_MS;
 * then, with several brokers, until every one is connected or has failed
 * once, or BUS_SETTLE_MORE_MS more.
 * Giving up sooner on a broker that is only slow (a loaded machine) made
 * the client fail its calls as unavailable, and hang up in the middle of
 * the handshake -- which stops nng 1.5.2's listener at the broker
 * (services/bus/broker.c, "Listeners").  Settling on the first broker
 * alone sent every call of a short-lived client to it while the other's
 * connection was still on its way (t0110's "the second broker forwarded
 * some of them", failed on a loaded CI machine).
 */
static void
bus_client_settle(struct bus_client *bc)
{
	int	i, j, settled;

	for (i = 0; i < BUS_SETTLE_MS && atomic_load(&bc->bc_pipes) == 0; i++) {
		util_sleep_ms(1);
		for (j = 0, settled = 0; i % 10 == 9 && j < bc->bc_n; j++)
			settled += bus_dials_failed(bc->bc_socks[j]);
		if (settled == bc->bc_n)
			break;
	}
	/* One broker is there: the others get BUS_SETTLE_MORE_MS more. */
	for (i = 0; bc->bc_n > 1 && atomic_load(&bc->bc_pipes) > 0 &&
	    i < BUS_SETTLE_MORE_MS; i++) {
		for (j = 0, settled = 0; j < bc->bc_n; j++)
			if (atomic_load(&bc->bc_up[j]) > 0 ||
			    (i % 10 == 9 && bus_dials_failed(bc->bc_socks[j])))
				settled++;
		if (settled == bc->bc_n)
			break;
		util_sleep_ms(1);
	}
}

struct bus_client *
bus_client_open(const char *url)
{
	char			 addrs[BUS_MAX_BROKERS][BUS_URL_MAX];
	char			 bases[BUS_MAX_BROKERS][BUS_URL_MAX];
	struct bus_client	*bc;
	int			 i, n;

	if ((n = bus_url_addrs(url, "front", addrs, bases,
	    BUS_MAX_BROKERS)) < 0)
		return (NULL);
	if ((bc = calloc(1, sizeof(*bc))) == NULL)
		return (NULL);
	pthread_mutex_init(&bc->bc_mtx, NULL);
	for (i = 0; i < n; i++) {
		bus_watchdog_arm();
		if (nng_req0_open(&bc->bc_socks[i]) != 0)
			goto fail;
		bc->bc_n++;
		/* Resends would repeat non-idempotent work; deadlines rule. */
		nng_socket_set_ms(bc->bc_socks[i], NNG_OPT_REQ_RESENDTIME,
		    NNG_DURATION_INFINITE);
		nng_pipe_notify(bc->bc_socks[i], NNG_PIPE_EV_ADD_PRE,
		    bus_client_pipe_ev, bc);
		nng_pipe_notify(bc->bc_socks[i], NNG_PIPE_EV_ADD_POST,
		    bus_client_pipe_ev, bc);
		nng_pipe_notify(bc->bc_socks[i], NNG_PIPE_EV_REM_POST,
		    bus_client_pipe_ev, bc);
		if (bus_dial(bc->bc_socks[i], addrs[i], bases[i]) != 0)
			goto fail;
	}
	bus_client_settle(bc);
	return (bc);
 fail:
	bus_client_close(bc);
	return (NULL);
}

int
bus_client_brokers(struct bus_client *bc)
{
	return (atomic_load(&bc->bc_pipes));
}

void
bus_client_close(struct bus_client *bc)
{
	int	i;

	if (bc == NULL)
		return;
	bus_call_spare_free(bc);
	for (i = 0; i < bc->bc_n; i++)
		bus_sock_close(bc->bc_socks[i], &bc->bc_closing);
	pthread_mutex_destroy(&bc->bc_mtx);
	free(bc);
}

/* ---- frames ------------------------------------------------------------ */

/* Copies the request id for the route line: printable, no blanks. */
static void
bus_route_id(json_t *req, char out[BUS_ID_MAX])
{
	const char	*id = json_string_value(json_object_get(req, "id"));
	size_t		 i;

	for (i = 0; id != NULL && id[i] != '\0' && i < BUS_ID_MAX - 1; i++) {
		if (id[i] <= ' ' || id[i] > '~')
			break;
		out[i] = id[i];
	}
	if (id == NULL || id[i] != '\0' || i == 0)
		i = snprintf(out, BUS_ID_MAX, "-");
	out[i] = '\0';
}

/*
 * Builds a request frame, "<svc> <timeout> <id>\n<envelope>", in one nng
 * message (one copy of the JSON text).  NULL on failure.
 */
static nng_msg *
bus_frame_msg(const char *svc, json_t *req, int timeout_ms)
{
	nng_msg	*m = NULL;
	char	 line[BUS_SVC_MAX + BUS_ID_MAX + 24], id[BUS_ID_MAX], *js;
	size_t	 jlen;
	int	 n;

	bus_route_id(req, id);
	/* The broker reads at most a day (bus_route_parse). */
	n = snprintf(line, sizeof(line), "%s %d %s\n", svc, timeout_ms < 0 ?
	    0 : timeout_ms > BUS_TIMEOUT_MAX ? BUS_TIMEOUT_MAX : timeout_ms, id);
	if (n < 0 || (size_t)n >= sizeof(line) || strlen(svc) >= BUS_SVC_MAX)
		return (NULL);
	if ((js = json_dumps(req, MSG_JSON_FLAGS)) == NULL)
		return (NULL);
	jlen = strlen(js);
	if (nng_msg_alloc(&m, (size_t)n + jlen) == 0) {
		memcpy(nng_msg_body(m), line, (size_t)n);
		memcpy((char *)nng_msg_body(m) + n, js, jlen);
	}
	free(js);
	return (m);
}

/* Copies the token at *pp (up to a blank or the end) and moves past it. */
static int
bus_route_token(const char **pp, const char *end, char *out, size_t outlen)
{
	const char	*p = *pp;
	size_t		 n = 0;

	while (p < end && *p != ' ') {
		if (*p < ' ' || *p > '~' || n + 1 >= outlen)
			return (SH_EPROTO);
		out[n++] = *p++;
	}
	out[n] = '\0';
	if (p < end)
		p++;		/* the blank */
	*pp = p;
	return (n > 0 ? 0 : SH_EPROTO);
}

int
bus_route_parse(const void *data, size_t len, struct bus_route *ro)
{
	const char	*p = data, *nl, *end;
	char		 num[16];
	long long	 t;

	memset(ro, 0, sizeof(*ro));
	/* The line is short: look no further than it can be. */
	if (len > BUS_SVC_MAX + BUS_ID_MAX + 16)
		len = BUS_SVC_MAX + BUS_ID_MAX + 16;
	if ((nl = memchr(p, '\n', len)) == NULL)
		return (SH_EPROTO);
	end = nl;
	if (bus_route_token(&p, end, ro->ro_svc, sizeof(ro->ro_svc)) != 0)
		return (SH_EPROTO);
	if (p < end) {
		if (bus_route_token(&p, end, num, sizeof(num)) != 0 ||
		    util_strtonum(num, 0, BUS_TIMEOUT_MAX, &t) != 0)
			return (SH_EPROTO);
		ro->ro_timeout_ms = t;
	}
	if (p < end) {
		if (bus_route_token(&p, end, ro->ro_id, sizeof(ro->ro_id)) != 0
		    || p != end)
			return (SH_EPROTO);
	} else
		snprintf(ro->ro_id, sizeof(ro->ro_id), "-");
	ro->ro_len = (size_t)(nl - (const char *)data) + 1;
	return (0);
}

static int
bus_decode_reply(nng_msg *m, struct msg_rep *rep, int raw)
{
	char	err[256];
	int	rc;

	rc = (raw ? msg_rep_decode_raw : msg_rep_decode)(nng_msg_body(m),
	    nng_msg_len(m), rep, err, sizeof(err));
	if (rc != 0)
		log_warnx("%s: %s", __func__, err);
	nng_msg_free(m);
	return (rc);
}

/* One send and receive of m (stolen) on socket s, within timeout_ms;
 * 0 and *out (new), or an SH_E* code. */
static int
bus_call_once(nng_socket s, nng_msg *m, int timeout_ms, nng_msg **out)
{
	nng_ctx		 ctx;
	nng_aio		*aio = NULL;
	uint64_t	 start = util_now_ms(), used;
	int		 rv, rc;

	*out = NULL;
	if (nng_ctx_open(&ctx, s) != 0) {
		nng_msg_free(m);
		return (SH_EIO);
	}
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		nng_msg_free(m);
		rc = SH_ENOMEM;
		goto done;
	}
	nng_aio_set_msg(aio, m);
	nng_aio_set_timeout(aio, timeout_ms);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		rc = bus_nng_err(rv);
		goto done;
	}
	used = util_now_ms() - start;
	nng_aio_set_timeout(aio, used >= (uint64_t)timeout_ms ? 1 :
	    timeout_ms - (int)used);
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		rc = bus_nng_err(rv);
		goto done;
	}
	*out = nng_aio_get_msg(aio);
	rc = 0;
 done:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return (rc);
}

int
bus_call(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, struct msg_rep *rep)
{
	nng_msg		*m = NULL, *copy = NULL, *out = NULL;
	uint64_t	 start = util_now_ms(), used;
	int		 i, rc;

	memset(rep, 0, sizeof(*rep));
	if ((i = bus_client_pick(bc, -1)) < 0)
		return (SH_EUNAVAIL);
	if (atomic_fetch_add(&bc->bc_calls, 1) >= BUS_CALLS_MAX) {
		rc = SH_EUNAVAIL;
		goto done;
	}
	if ((m = bus_frame_msg(svc, req, timeout_ms)) == NULL) {
		rc = SH_ENOMEM;
		goto done;
	}
	/* Kept for a second broker (see struct bus_client). */
	if (bc->bc_n > 1 && nng_msg_dup(&copy, m) != 0)
		copy = NULL;
	rc = bus_call_once(bc->bc_socks[i], m, timeout_ms, &out);
	used = util_now_ms() - start;
	if (rc == 0 && copy != NULL && bus_unavailable(out, svc) &&
	    used + BUS_RETRY_MIN_MS < (uint64_t)timeout_ms &&
	    (i = bus_client_pick(bc, i)) >= 0) {
		nng_msg_free(out);
		rc = bus_call_once(bc->bc_socks[i], copy, timeout_ms -
		    (int)used, &out);
		copy = NULL;
	}
	if (rc == 0)
		rc = bus_decode_reply(out, rep, 0);
 done:
	nng_msg_free(copy);
	atomic_fetch_sub(&bc->bc_calls, 1);
	return (rc);
}

/*
 * An asynchronous call owns a REQ context and two aios: the request's
 * send, which has no callback (nng completes it in whichever thread
 * takes it off the queue), and the reply's receive, which is posted
 * right after the send is queued, not from the send's completion: that
 * saves one hand-off to an nng task thread per call.  nng 1.5.2's req0
 * context accepts a receive once a send is queued, and a send that fails
 * after it left (its pipe closes) fails the pending receive with
 * ECONNRESET.  A send still queued when the receive ends (its deadline
 * passed while no broker pipe was free) is left pointing at a freed
 * request: only closing the context completes it (cancelling it while
 * the receive waits trips an assertion, and afterwards dereferences the
 * freed request), so bus_call_free() closes the context of every call
 * that got no reply, and never cancels the send.
 *
 * Calls that got their reply go back to their client (up to
 * BUS_CALL_SPARE) with their context and aios, so a call costs no
 * nng_ctx_open (the socket's lock and a getrandom) and no aio
 * allocation.  Their aios are waited for, never nng_aio_stop()ped: a
 * stopped aio cannot start again.
 */
#define BUS_CALL_SPARE	64

struct bus_call {
	struct bus_client	*ca_bc;
	struct bus_call		*ca_next;	/* on bc_spare */
	nng_aio			*ca_send;	/* no callback */
	nng_aio			*ca_recv;	/* bus_call_done */
	nng_ctx			 ca_ctx[BUS_MAX_BROKERS];	/* one each */
	int			 ca_ctx_open[BUS_MAX_BROKERS];
	int			 ca_sock;	/* the broker it went to */
	nng_msg			*ca_copy;	/* the frame, for a second */
	uint64_t		 ca_deadline;	/* monotonic ms */
	char			 ca_svc[BUS_SVC_MAX];
	int			 ca_freeing;	/* under bc_mtx */
	atomic_int		 ca_replied;	/* the receive got a reply */
	bus_call_cb		 ca_cb;
	void			*ca_arg;
	int			 ca_raw;	/* body left as text */
};

/* ca's context on broker i, opened on first use; 0 or -1. */
static int
bus_call_ctx(struct bus_call *ca, int i)
{
	if (!ca->ca_ctx_open[i]) {
		if (nng_ctx_open(&ca->ca_ctx[i], ca->ca_bc->bc_socks[i]) != 0)
			return (-1);
		ca->ca_ctx_open[i] = 1;
	}
	return (0);
}

/*
 * Sends the frame on the aios (the send's idle) through broker i and
 * posts the receive, which ends at ca_deadline.  m is stolen.  0, or -1
 * when the send was refused at once.
 */
static int
bus_call_send(struct bus_call *ca, int i, nng_msg *m)
{
	uint64_t	now = util_now_ms();

	if (bus_call_ctx(ca, i) != 0) {
		nng_msg_free(m);
		return (-1);
	}
	ca->ca_sock = i;
	/* The receive holds the deadline: see above. */
	nng_aio_set_msg(ca->ca_send, m);
	nng_aio_set_timeout(ca->ca_send, NNG_DURATION_INFINITE);
	atomic_store(&ca->ca_replied, 0);
	nng_ctx_send(ca->ca_ctx[i], ca->ca_send);
	/* Without a callback, a send refused at once (socket closing) has
	 * its error set on return; a queued one reads 0 until it fails. */
	if (nng_aio_result(ca->ca_send) != 0) {
		nng_msg_free(nng_aio_get_msg(ca->ca_send));
		nng_aio_set_msg(ca->ca_send, NULL);
		return (-1);
	}
	nng_aio_set_timeout(ca->ca_recv, ca->ca_deadline > now ?
	    (nng_duration)(ca->ca_deadline - now) : 1);
	nng_ctx_recv(ca->ca_ctx[i], ca->ca_recv);
	return (0);
}

/*
 * The broker ca went to said the service is unavailable: sends the frame
 * once more through another connected broker, if time is left.  1 if it
 * did (the reply will come to bus_call_done again), else 0.  On the
 * receive's callback: the first send completed before its reply matched
 * (nng_aio_wait() only waits for its completion's bookkeeping).
 */
static int
bus_call_again(struct bus_call *ca)
{
	struct bus_client	*bc = ca->ca_bc;
	nng_msg			*m = ca->ca_copy;
	int			 i, ok;

	if (m == NULL || util_now_ms() + BUS_RETRY_MIN_MS >= ca->ca_deadline ||
	    (i = bus_client_pick(bc, ca->ca_sock)) < 0)
		return (0);
	/* A bus_call_free() that cancels meanwhile closes the context in
	 * ca_sock: it must be the one the second send uses, or none. */
	pthread_mutex_lock(&bc->bc_mtx);
	if ((ok = !ca->ca_freeing && bus_call_ctx(ca, i) == 0))
		ca->ca_sock = i;
	pthread_mutex_unlock(&bc->bc_mtx);
	if (!ok)
		return (0);
	ca->ca_copy = NULL;
	nng_aio_wait(ca->ca_send);
	return (bus_call_send(ca, i, m) == 0);
}

/* Runs on an nng thread once the reply's receive ends. */
static void
bus_call_done(void *arg)
{
	struct bus_call	*ca = arg;
	struct msg_rep	 rep;
	nng_msg		*m;
	int		 rv;

	if ((rv = nng_aio_result(ca->ca_recv)) == 0 && ca->ca_copy != NULL &&
	    bus_unavailable(nng_aio_get_msg(ca->ca_recv), ca->ca_svc)) {
		m = nng_aio_get_msg(ca->ca_recv);
		nng_aio_set_msg(ca->ca_recv, NULL);
		if (bus_call_again(ca)) {
			nng_msg_free(m);
			return;
		}
		nng_aio_set_msg(ca->ca_recv, m);	/* that answer stands */
	}
	nng_msg_free(ca->ca_copy);
	ca->ca_copy = NULL;
	atomic_fetch_sub(&ca->ca_bc->bc_calls, 1);
	if (rv != 0)
		ca->ca_cb(ca->ca_arg, bus_nng_err(rv), NULL);
	else {
		atomic_store(&ca->ca_replied, 1);
		m = nng_aio_get_msg(ca->ca_recv);
		nng_aio_set_msg(ca->ca_recv, NULL);	/* freed below */
		if (bus_decode_reply(m, &rep, ca->ca_raw) != 0)
			ca->ca_cb(ca->ca_arg, SH_EPROTO, NULL);
		else
			ca->ca_cb(ca->ca_arg, 0, &rep);
	}
}

static void
bus_call_destroy(struct bus_call *ca)
{
	int	i;

	nng_aio_free(ca->ca_recv);
	nng_aio_free(ca->ca_send);
	for (i = 0; i < BUS_MAX_BROKERS; i++)
		if (ca->ca_ctx_open[i])
			nng_ctx_close(ca->ca_ctx[i]);
	nng_msg_free(ca->ca_copy);
	free(ca);
}

/* Frees bc's spare calls, before its socket closes. */
static void
bus_call_spare_free(struct bus_client *bc)
{
	struct bus_call	*ca;

	while ((ca = bc->bc_spare) != NULL) {
		bc->bc_spare = ca->ca_next;
		bus_call_destroy(ca);
	}
	bc->bc_nspare = 0;
}

/* A spare call of bc, or a new one; NULL on failure. */
static struct bus_call *
bus_call_get(struct bus_client *bc)
{
	struct bus_call	*ca;

	pthread_mutex_lock(&bc->bc_mtx);
	if ((ca = bc->bc_spare) != NULL) {
		bc->bc_spare = ca->ca_next;
		bc->bc_nspare--;
	}
	pthread_mutex_unlock(&bc->bc_mtx);
	if (ca != NULL)
		return (ca);
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return (NULL);
	ca->ca_bc = bc;
	if (nng_aio_alloc(&ca->ca_send, NULL, NULL) != 0 ||
	    nng_aio_alloc(&ca->ca_recv, bus_call_done, ca) != 0) {
		log_warnx("%s: could not allocate a call", __func__);
		bus_call_destroy(ca);
		return (NULL);
	}
	return (ca);
}

/* Keeps a finished call (its aios idle) for reuse, or frees it. */
static void
bus_call_put(struct bus_call *ca, int reusable)
{
	struct bus_client	*bc = ca->ca_bc;

	if (reusable) {
		pthread_mutex_lock(&bc->bc_mtx);
		if ((reusable = bc->bc_nspare < BUS_CALL_SPARE)) {
			ca->ca_next = bc->bc_spare;
			bc->bc_spare = ca;
			bc->bc_nspare++;
		}
		pthread_mutex_unlock(&bc->bc_mtx);
	}
	if (!reusable)
		bus_call_destroy(ca);
}

static struct bus_call *
bus_call_begin(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, int raw, bus_call_cb cb, void *arg)
{
	struct bus_call	*ca;
	nng_msg		*m, *copy = NULL;
	int		 i;

	if ((i = bus_client_pick(bc, -1)) < 0 || strlen(svc) >= BUS_SVC_MAX)
		return (NULL);
	if (atomic_fetch_add(&bc->bc_calls, 1) >= BUS_CALLS_MAX) {
		atomic_fetch_sub(&bc->bc_calls, 1);
		log_debug("%s: %d calls in flight: refused", __func__,
		    BUS_CALLS_MAX);
		return (NULL);
	}
	if ((m = bus_frame_msg(svc, req, timeout_ms)) == NULL ||
	    (ca = bus_call_get(bc)) == NULL) {
		nng_msg_free(m);
		atomic_fetch_sub(&bc->bc_calls, 1);
		return (NULL);
	}
	/* Kept for a second broker (see struct bus_client). */
	if (bc->bc_n > 1 && nng_msg_dup(&copy, m) != 0)
		copy = NULL;
	ca->ca_copy = copy;
	ca->ca_raw = raw;
	ca->ca_cb = cb;
	ca->ca_arg = arg;
	ca->ca_deadline = util_now_ms() + (uint64_t)(timeout_ms > 0 ?
	    timeout_ms : 1);
	memcpy(ca->ca_svc, svc, strlen(svc) + 1);
	ca->ca_freeing = 0;
	if (bus_call_send(ca, i, m) != 0) {
		nng_msg_free(ca->ca_copy);
		ca->ca_copy = NULL;
		atomic_fetch_sub(&bc->bc_calls, 1);
		bus_call_put(ca, 0);
		return (NULL);
	}
	return (ca);
}

struct bus_call *
bus_call_start(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, bus_call_cb cb, void *arg)
{
	return (bus_call_begin(bc, svc, req, timeout_ms, 0, cb, arg));
}

struct bus_call *
bus_call_start_raw(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, bus_call_cb cb, void *arg)
{
	return (bus_call_begin(bc, svc, req, timeout_ms, 1, cb, arg));
}

void
bus_call_free(struct bus_call *ca)
{
	nng_msg	*m;
	int	 replied, i;

	if (ca == NULL)
		return;
	/*
	 * A reply matched only once the send left the queue, so its
	 * completion is at most on its way (req0_send_cb) and the context
	 * is clean.  Otherwise (running, failed, timed out) the send may
	 * still be queued, which nng 1.5.2 has no call to tell: closing
	 * the context ends both aios whatever their state (a callback that
	 * has not run yet runs with SH_EUNAVAIL), and the call is not kept.
	 */
	if (!(replied = atomic_load(&ca->ca_replied))) {
		pthread_mutex_lock(&ca->ca_bc->bc_mtx);
		ca->ca_freeing = 1;	/* no second broker now */
		i = ca->ca_sock;
		pthread_mutex_unlock(&ca->ca_bc->bc_mtx);
		if (ca->ca_ctx_open[i]) {
			nng_ctx_close(ca->ca_ctx[i]);
			ca->ca_ctx_open[i] = 0;
		}
	}
	nng_aio_wait(ca->ca_recv);	/* the callback has returned */
	nng_aio_wait(ca->ca_send);
	/* A closed context hands a queued request back to its aio. */
	if ((m = nng_aio_get_msg(ca->ca_send)) != NULL) {
		nng_aio_set_msg(ca->ca_send, NULL);
		nng_msg_free(m);
	}
	bus_call_put(ca, replied);
}

/* ---- servers ---------------------------------------------------------- */

/*
 * A server pulls its work.  Each worker keeps one link per broker: a REQ
 * context that says READY (or sends its last reply and says READY), and
 * whose reply is the next request.  The link's callback only moves
 * messages and states; the worker thread waits on its condition variable
 * for a link holding work, runs the handler, and answers on that link,
 * so a reply always returns to the broker that sent the work.
 *
 *	IDLE --ready--> SEND --sent--> RECV --work--> WORK --taken--> BUSY
 *	                 ^  \__ (stop) IDLE   \__ broker lost: SEND again  |
 *	                 \_______________________ reply _____________________/
 */
enum bus_link_state {
	BL_IDLE,	/* nothing pending: before start, or stopped */
	BL_SEND,	/* READY (maybe with a reply) on its way */
	BL_RECV,	/* waiting for work */
	BL_WORK,	/* work arrived, for the worker to take */
	BL_BUSY,	/* the worker runs it */
};

struct bus_link {
	struct bus_worker	*bl_worker;
	int			 bl_broker;	/* index in bs_socks */
	int			 bl_open;	/* bl_ctx and bl_aio exist */
	nng_ctx			 bl_ctx;
	nng_aio			*bl_aio;
	enum bus_link_state	 bl_state;	/* under bs_mtx */
	int			 bl_reply;	/* the send carries a reply */
	nng_msg			*bl_work;	/* in BL_WORK */
};

struct bus_worker {
	struct bus_server	*bw_server;
	pthread_cond_t		 bw_cv;		/* a link has work; stop */
	struct bus_link		 bw_links[BUS_MAX_BROKERS];
	int			 bw_next;	/* round robin over links */
	struct bus_link		*bw_cur;	/* whose request runs */
	uint64_t		 bw_tag;	/* its tag */
	int			 bw_deferred;	/* bus_defer() took it */
	pthread_t		 bw_thread;
	void			*bw_state;
	int			 bw_index;
	int			 bw_started;
};

struct bus_server {
	nng_socket		 bs_socks[BUS_MAX_BROKERS];	/* one each */
	int			 bs_nsocks;
	const char		*bs_svc;
	int			 bs_n;
	struct bus_worker	*bs_workers;
	bus_handler_fn		 bs_fn;
	bus_worker_fini_fn	 bs_fini;
	pthread_mutex_t		 bs_mtx;	/* link states, bs_stop */
	int			 bs_stop;
	atomic_int		 bs_closing;	/* bus_pipe_guard() */
};

/* The worker whose handler runs on this thread (for bus_defer()). */
static __thread struct bus_worker	*bus_current;

struct bus_deferred {
	nng_socket	 bd_sock;	/* the broker that sent the work */
	uint64_t	 bd_tag;
};

/*
 * Builds kind + tag + rep (borrowed; NULL for none) in one nng message.
 * The JSON text is copied once.  NULL on failure.
 */
static nng_msg *
bus_back_msg(char kind, uint64_t tag, json_t *rep)
{
	nng_msg		*m = NULL;
	unsigned char	*b;
	char		*js = NULL;
	size_t		 jlen = 0;
	int		 i;

	if (rep != NULL) {
		if ((js = json_dumps(rep, MSG_JSON_FLAGS)) == NULL)
			return (NULL);
		jlen = strlen(js);
	}
	if (nng_msg_alloc(&m, 1 + (kind == BUS_BK_READY ? 0 : BUS_TAG_LEN) +
	    jlen) != 0) {
		free(js);
		return (NULL);
	}
	b = nng_msg_body(m);
	*b++ = (unsigned char)kind;
	if (kind != BUS_BK_READY)
		for (i = BUS_TAG_LEN - 1; i >= 0; i--)
			*b++ = (unsigned char)(tag >> (8 * i));
	if (jlen > 0)
		memcpy(b, js, jlen);
	free(js);
	return (m);
}

/* Starts a send on bl (state BL_SEND already set by the caller).  m is
 * stolen; NULL (out of memory) leaves the link idle. */
static void
bus_link_send(struct bus_link *bl, nng_msg *m, int reply)
{
	struct bus_server	*bs = bl->bl_worker->bw_server;

	if (m == NULL) {
		log_warnx("%s: '%s' worker %d: out of memory, link idle",
		    __func__, bs->bs_svc, bl->bl_worker->bw_index);
		pthread_mutex_lock(&bs->bs_mtx);
		bl->bl_state = BL_IDLE;
		pthread_mutex_unlock(&bs->bs_mtx);
		return;
	}
	nng_aio_set_msg(bl->bl_aio, m);
	/* A reply waits a bounded time for its broker; READY waits until
	 * a broker is there (or stop cancels it). */
	nng_aio_set_timeout(bl->bl_aio, reply ? BUS_REPLY_MS :
	    NNG_DURATION_INFINITE);
	nng_ctx_send(bl->bl_ctx, bl->bl_aio);
}

/* Runs on an nng thread for each completed send or receive of a link. */
static void
bus_link_cb(void *arg)
{
	struct bus_link		*bl = arg;
	struct bus_worker	*bw = bl->bl_worker;
	struct bus_server	*bs = bw->bw_server;
	int			 rv = nng_aio_result(bl->bl_aio);
	int			 recv = 0, ready = 0;

	pthread_mutex_lock(&bs->bs_mtx);
	switch (bl->bl_state) {
	case BL_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(bl->bl_aio));
			nng_aio_set_msg(bl->bl_aio, NULL);
		}
		bl->bl_reply = 0;
		if (bs->bs_stop || rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			bl->bl_state = BL_IDLE;
		else if (rv != 0)
			ready = 1;	/* the reply is lost: ask again */
		else {
			bl->bl_state = BL_RECV;
			recv = 1;
		}
		break;
	case BL_RECV:
		if (rv == 0) {
			bl->bl_work = nng_aio_get_msg(bl->bl_aio);
			nng_aio_set_msg(bl->bl_aio, NULL);
			bl->bl_state = BL_WORK;
			pthread_cond_signal(&bw->bw_cv);
		} else if (bs->bs_stop || rv == NNG_ECLOSED ||
		    rv == NNG_ECANCELED)
			bl->bl_state = BL_IDLE;
		else {
			/* NNG_ECONNRESET: the broker went away (our resend
			 * is off).  Ask again; nng redials. */
			bl->bl_state = BL_SEND;
			ready = 1;
		}
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&bs->bs_mtx);
	if (recv) {
		/*
		 * The wait for work has no deadline: the aio still carries
		 * the reply's send timeout, and a receive that timed out
		 * would ask again with a new READY while the broker still
		 * held the old one as an idle slot; work sent to that slot
		 * later finds no request of ours and nng drops it -- a
		 * lost request, found idle 5 s after a reply (t0113).
		 */
		nng_aio_set_timeout(bl->bl_aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(bl->bl_ctx, bl->bl_aio);
	} else if (ready)
		bus_link_send(bl, bus_back_msg(BUS_BK_READY, 0, NULL), 0);
}

/* Runs one request (the work's frame, borrowed): the reply (new), or
 * NULL for none. */
static json_t *
bus_handle(struct bus_worker *bw, const char *data, size_t len)
{
	struct bus_server	*bs = bw->bw_server;
	struct bus_route	 ro;
	struct msg_req		 req;
	char			 err[256];
	json_t			*rep;

	if (bus_route_parse(data, len, &ro) != 0 ||
	    strcmp(ro.ro_svc, bs->bs_svc) != 0) {
		log_warnx("%s: dropping unframed or misrouted request",
		    __func__);
		return (NULL);
	}
	if (msg_req_decode(data + ro.ro_len, len - ro.ro_len, &req, err,
	    sizeof(err)) != 0) {
		/* Without an id the caller cannot match a reply: drop. */
		log_warnx("%s: %s", __func__, err);
		return (NULL);
	}
	if (req.mr_deadline != 0 && util_wall_ms() > req.mr_deadline) {
		log_debug("%s: '%s' %s past its deadline, dropped", __func__,
		    req.mr_op, req.mr_id);
		msg_req_release(&req);
		return (NULL);
	}
	bus_current = bw;
	rep = bs->bs_fn(bw->bw_state, &req);
	bus_current = NULL;
	msg_req_release(&req);
	return (rep);
}

struct bus_deferred *
bus_defer(void)
{
	struct bus_worker	*bw = bus_current;
	struct bus_deferred	*bd;

	if (bw == NULL || bw->bw_deferred)
		return (NULL);
	if ((bd = calloc(1, sizeof(*bd))) == NULL)
		return (NULL);
	bd->bd_sock = bw->bw_server->bs_socks[bw->bw_cur->bl_broker];
	bd->bd_tag = bw->bw_tag;
	bw->bw_deferred = 1;
	return (bd);
}

int
bus_deferred_reply(struct bus_deferred *bd, json_t *rep)
{
	nng_ctx		 ctx;
	nng_aio		*aio = NULL;
	nng_msg		*m;
	int		 rv = SH_ENOMEM, open = 0;

	if (bd == NULL)
		return (SH_EINVAL);
	m = rep != NULL ? bus_back_msg(BUS_BK_LATE, bd->bd_tag, rep) :
	    bus_back_msg(BUS_BK_FORGET, bd->bd_tag, NULL);
	if (m == NULL || nng_aio_alloc(&aio, NULL, NULL) != 0)
		goto done;
	if (nng_ctx_open(&ctx, bd->bd_sock) != 0) {
		rv = SH_EUNAVAIL;	/* the server has closed */
		goto done;
	}
	open = 1;
	/*
	 * A fresh context on the socket of the broker that sent the work
	 * (its only pipe).  The send completes once the message is handed
	 * to that pipe, and the broker answers nothing: closing the context
	 * then leaves the message on its way.  Should the pipe die first,
	 * the broker answers the request 503 itself, as for any request a
	 * lost replica held.
	 */
	nng_aio_set_msg(aio, m);
	m = NULL;
	nng_aio_set_timeout(aio, BUS_REPLY_MS);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if (nng_aio_result(aio) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		rv = SH_EUNAVAIL;
		goto done;
	}
	rv = 0;
 done:
	if (open)
		nng_ctx_close(ctx);
	nng_aio_free(aio);
	nng_msg_free(m);
	free(bd);
	return (rv);
}

/* Takes the next link holding work, round robin.  bs_mtx held. */
static struct bus_link *
bus_worker_take(struct bus_worker *bw)
{
	struct bus_server	*bs = bw->bw_server;
	struct bus_link		*bl;
	int			 i;

	for (i = 0; i < bs->bs_nsocks; i++) {
		bl = &bw->bw_links[(bw->bw_next + i) % bs->bs_nsocks];
		if (bl->bl_state == BL_WORK) {
			bw->bw_next = (bl->bl_broker + 1) % bs->bs_nsocks;
			bl->bl_state = BL_BUSY;
			return (bl);
		}
	}
	return (NULL);
}

static void *
bus_worker_main(void *arg)
{
	struct bus_worker	*bw = arg;
	struct bus_server	*bs = bw->bw_server;
	struct bus_link		*bl;
	nng_msg			*in, *out;
	json_t			*rep;
	uint64_t		 tag;
	char			 kind;
	int			 stop, ok;

	pthread_mutex_lock(&bs->bs_mtx);
	for (;;) {
		/* Work already here still runs after stop: its broker
		 * holds it, and nothing new comes once we stop asking. */
		if ((bl = bus_worker_take(bw)) == NULL) {
			if (bs->bs_stop)
				break;
			pthread_cond_wait(&bw->bw_cv, &bs->bs_mtx);
			continue;
		}
		in = bl->bl_work;
		bl->bl_work = NULL;
		pthread_mutex_unlock(&bs->bs_mtx);

		ok = nng_msg_trim_u64(in, &tag) == 0;
		bw->bw_cur = bl;
		bw->bw_tag = tag;
		bw->bw_deferred = 0;
		rep = ok ? bus_handle(bw, nng_msg_body(in), nng_msg_len(in)) :
		    NULL;
		nng_msg_free(in);

		pthread_mutex_lock(&bs->bs_mtx);
		stop = bs->bs_stop;
		pthread_mutex_unlock(&bs->bs_mtx);
		/* Once stopping, answer without asking for more. */
		if (!ok || bw->bw_deferred)
			kind = stop ? 0 : BUS_BK_READY;
		else if (rep != NULL)
			kind = stop ? BUS_BK_LATE : BUS_BK_REPLY;
		else
			kind = stop ? BUS_BK_FORGET : BUS_BK_DROP;
		out = kind == 0 ? NULL : bus_back_msg(kind, tag,
		    bw->bw_deferred ? NULL : rep);
		json_decref(rep);

		pthread_mutex_lock(&bs->bs_mtx);
		bl->bl_state = kind == 0 ? BL_IDLE : BL_SEND;
		bl->bl_reply = kind != 0 && kind != BUS_BK_READY;
		pthread_mutex_unlock(&bs->bs_mtx);
		if (kind != 0)
			bus_link_send(bl, out, bl->bl_reply);
		pthread_mutex_lock(&bs->bs_mtx);
	}
	pthread_mutex_unlock(&bs->bs_mtx);
	return (NULL);
}

struct bus_server *
bus_server_open(const char *url, const char *svc, int nworkers,
    bus_handler_fn fn, bus_worker_init_fn init, bus_worker_fini_fn fini,
    void *arg)
{
	char			 addrs[BUS_MAX_BROKERS][BUS_URL_MAX];
	char			 bases[BUS_MAX_BROKERS][BUS_URL_MAX];
	struct bus_server	*bs;
	struct bus_worker	*bw;
	struct bus_link		*bl;
	int			 i, j, n;

	if ((n = bus_url_addrs(url, svc, addrs, bases, BUS_MAX_BROKERS)) < 0)
		return (NULL);
	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		return (NULL);
	pthread_mutex_init(&bs->bs_mtx, NULL);
	bs->bs_svc = svc;
	bs->bs_fn = fn;
	bs->bs_fini = fini;
	bs->bs_n = nworkers;
	if ((bs->bs_workers = calloc((size_t)nworkers, sizeof(*bw))) == NULL)
		goto fail;
	for (i = 0; i < nworkers; i++)
		pthread_cond_init(&bs->bs_workers[i].bw_cv, NULL);
	/* One socket per broker, so a deferred reply returns to the broker
	 * that sent the work (a REQ socket picks any of its pipes). */
	for (j = 0; j < n; j++) {
		bus_watchdog_arm();
		if (nng_req0_open(&bs->bs_socks[j]) != 0)
			goto fail;
		bs->bs_nsocks++;
		/* A resend would run the request twice; with it off, a
		 * lost broker fails the pending READY at once. */
		nng_socket_set_ms(bs->bs_socks[j], NNG_OPT_REQ_RESENDTIME,
		    NNG_DURATION_INFINITE);
		bus_pipe_notify(bs->bs_socks[j], &bs->bs_closing);
		if (bus_dial(bs->bs_socks[j], addrs[j], bases[j]) != 0)
			goto fail;
	}
	for (i = 0; i < nworkers; i++) {
		bw = &bs->bs_workers[i];
		bw->bw_server = bs;
		bw->bw_index = i;
		for (j = 0; j < bs->bs_nsocks; j++) {
			bl = &bw->bw_links[j];
			bl->bl_worker = bw;
			bl->bl_broker = j;
			if (nng_aio_alloc(&bl->bl_aio, bus_link_cb, bl) != 0)
				goto fail;
			if (nng_ctx_open(&bl->bl_ctx, bs->bs_socks[j]) != 0) {
				nng_aio_free(bl->bl_aio);
				goto fail;
			}
			bl->bl_open = 1;
		}
		bw->bw_state = init != NULL ? init(arg, i) : arg;
		if (init != NULL && bw->bw_state == NULL)
			goto fail;
		if (pthread_create(&bw->bw_thread, NULL, bus_worker_main,
		    bw) != 0) {
			if (fini != NULL)
				fini(bw->bw_state);
			goto fail;
		}
		bw->bw_started = 1;
	}
	/* Every worker stands in line at every broker. */
	for (i = 0; i < nworkers; i++)
		for (j = 0; j < bs->bs_nsocks; j++) {
			bl = &bs->bs_workers[i].bw_links[j];
			pthread_mutex_lock(&bs->bs_mtx);
			bl->bl_state = BL_SEND;
			pthread_mutex_unlock(&bs->bs_mtx);
			bus_link_send(bl, bus_back_msg(BUS_BK_READY, 0, NULL),
			    0);
		}
	return (bs);
 fail:
	bus_server_close(bs);
	return (NULL);
}

void
bus_server_close(struct bus_server *bs)
{
	struct bus_worker	*bw;
	struct bus_link		*bl;
	uint64_t		 grace;
	int			 i, j, wait;

	if (bs == NULL)
		return;
	pthread_mutex_lock(&bs->bs_mtx);
	bs->bs_stop = 1;
	for (i = 0; bs->bs_workers != NULL && i < bs->bs_n; i++)
		pthread_cond_broadcast(&bs->bs_workers[i].bw_cv);
	pthread_mutex_unlock(&bs->bs_mtx);
	for (i = 0; bs->bs_workers != NULL && i < bs->bs_n; i++) {
		bw = &bs->bs_workers[i];
		if (!bw->bw_started)
			continue;
		pthread_join(bw->bw_thread, NULL);
		if (bs->bs_fini != NULL)
			bs->bs_fini(bw->bw_state);
	}
	/*
	 * Replies on their way get BUS_STOP_GRACE_MS in all (the callback,
	 * seeing stop, starts nothing after them): enough for a broker that
	 * is there, and no reason to wait out BUS_REPLY_MS for one that
	 * stopped with us.  Then every pending operation -- a late reply, a
	 * READY, a wait for work -- is cancelled and waited for.  No receive
	 * is left for nng_close() to interrupt.
	 */
	grace = util_now_ms() + BUS_STOP_GRACE_MS;
	for (i = 0; bs->bs_workers != NULL && i < bs->bs_n; i++)
		for (j = 0; j < bs->bs_nsocks; j++) {
			bl = &bs->bs_workers[i].bw_links[j];
			if (!bl->bl_open)
				continue;
			for (;;) {
				pthread_mutex_lock(&bs->bs_mtx);
				wait = bl->bl_state == BL_SEND && bl->bl_reply;
				pthread_mutex_unlock(&bs->bs_mtx);
				if (!wait || util_now_ms() >= grace)
					break;
				util_sleep_ms(10);
			}
			nng_aio_stop(bl->bl_aio);
			/* A send cancelled by the stop hands its message back
			 * without a callback to free it. */
			nng_msg_free(nng_aio_get_msg(bl->bl_aio));
			nng_aio_set_msg(bl->bl_aio, NULL);
		}
	for (i = 0; bs->bs_workers != NULL && i < bs->bs_n; i++) {
		bw = &bs->bs_workers[i];
		for (j = 0; j < bs->bs_nsocks; j++) {
			bl = &bw->bw_links[j];
			if (!bl->bl_open)
				continue;
			nng_msg_free(bl->bl_work);
			nng_ctx_close(bl->bl_ctx);
			nng_aio_free(bl->bl_aio);
		}
		pthread_cond_destroy(&bw->bw_cv);
	}
	/* The broker answers 503 for whatever it still had sent here. */
	for (j = 0; j < bs->bs_nsocks; j++)
		bus_sock_close(bs->bs_socks[j], &bs->bs_closing);
	pthread_mutex_destroy(&bs->bs_mtx);
	free(bs->bs_workers);
	free(bs);
}

/* ---- publish / subscribe ------------------------------------------------ */

struct bus_pub {
	nng_socket	bp_sock;
	atomic_int	bp_closing;
};

/*
 * A subscriber receives on its own aio rather than with nng_recvmsg(), so
 * that a receive may wait without a deadline -- an idle process then sleeps
 * instead of waking at each timeout to look at a flag -- and still be
 * ended from another thread: bus_sub_wake() cancels it.  The receive is
 * started and the cancel made under bb_mtx, and a wake with no receive in
 * flight is kept in bb_woken for the next one, so no wake falls between
 * a loop's look at its flags and its receive.  nng_close() is not what
 * ends a receive (bus.h).
 */
struct bus_sub {
	nng_socket	 bb_sock;
	nng_aio		*bb_aio;
	pthread_mutex_t	 bb_mtx;
	int		 bb_woken;	/* under bb_mtx */
	atomic_int	 bb_closing;
};

struct bus_pub *
bus_pub_open(const char *url)
{
	struct bus_pub	*bp;

	if ((bp = calloc(1, sizeof(*bp))) == NULL)
		return (NULL);
	bus_watchdog_arm();
	if (nng_pub0_open(&bp->bp_sock) != 0) {
		free(bp);
		return (NULL);
	}
	/* A turn's deltas come in bursts: nng's default queue (16 per
	 * pipe) drops from the middle of a streamed answer. */
	nng_socket_set_int(bp->bp_sock, NNG_OPT_SENDBUF, BUS_EVENT_BUF);
	bus_pipe_notify(bp->bp_sock, &bp->bp_closing);
	if (bus_dial_all(bp->bp_sock, url, "pub") != 0) {
		bus_sock_close(bp->bp_sock, &bp->bp_closing);
		free(bp);
		return (NULL);
	}
	return (bp);
}

void
bus_pub_close(struct bus_pub *bp)
{
	if (bp == NULL)
		return;
	bus_sock_close(bp->bp_sock, &bp->bp_closing);
	free(bp);
}

int
bus_publish(struct bus_pub *bp, const char *topic, json_t *body)
{
	char	*data;
	size_t	 len;
	int	 rv;

	if ((data = msg_frame(topic, body, &len)) == NULL)
		return (SH_ENOMEM);
	rv = nng_send(bp->bp_sock, data, len, NNG_FLAG_NONBLOCK);
	free(data);
	return (bus_nng_err(rv));
}

struct bus_sub *
bus_sub_open(const char *url)
{
	struct bus_sub	*bb;

	if ((bb = calloc(1, sizeof(*bb))) == NULL)
		return (NULL);
	bus_watchdog_arm();
	if (nng_aio_alloc(&bb->bb_aio, NULL, NULL) != 0) {
		free(bb);
		return (NULL);
	}
	if (nng_sub0_open(&bb->bb_sock) != 0) {
		nng_aio_free(bb->bb_aio);
		free(bb);
		return (NULL);
	}
	pthread_mutex_init(&bb->bb_mtx, NULL);
	nng_socket_set_int(bb->bb_sock, NNG_OPT_RECVBUF, BUS_EVENT_BUF);
	bus_pipe_notify(bb->bb_sock, &bb->bb_closing);
	if (bus_dial_all(bb->bb_sock, url, "sub") != 0) {
		bus_sub_close(bb);
		return (NULL);
	}
	return (bb);
}

void
bus_sub_wake(struct bus_sub *bb)
{
	if (bb == NULL)
		return;
	pthread_mutex_lock(&bb->bb_mtx);
	bb->bb_woken = 1;
	nng_aio_cancel(bb->bb_aio);	/* no callback: it runs no code of ours */
	pthread_mutex_unlock(&bb->bb_mtx);
}

void
bus_sub_close(struct bus_sub *bb)
{
	if (bb == NULL)
		return;
	/* No receive is left waiting on the socket as it closes. */
	nng_aio_stop(bb->bb_aio);
	bus_sock_close(bb->bb_sock, &bb->bb_closing);
	nng_aio_free(bb->bb_aio);
	pthread_mutex_destroy(&bb->bb_mtx);
	free(bb);
}

int
bus_subscribe(struct bus_sub *bb, const char *topic)
{
	char	t[256];
	int	n;

	n = snprintf(t, sizeof(t), "%s\n", topic);
	if (n < 0 || (size_t)n >= sizeof(t))
		return (SH_EINVAL);
	return (bus_nng_err(nng_socket_set(bb->bb_sock, NNG_OPT_SUB_SUBSCRIBE,
	    t, (size_t)n)));
}

int
bus_sub_recv(struct bus_sub *bb, int timeout_ms, char **topic, json_t **body)
{
	json_error_t	 je;
	const char	*payload;
	char		 pfx[256];
	size_t		 plen;
	nng_msg		*m;
	int		 rv;

	*topic = NULL;
	*body = NULL;
	pthread_mutex_lock(&bb->bb_mtx);
	if (bb->bb_woken) {
		bb->bb_woken = 0;
		pthread_mutex_unlock(&bb->bb_mtx);
		return (SH_ECANCELED);
	}
	nng_aio_set_timeout(bb->bb_aio, timeout_ms < 0 ?
	    NNG_DURATION_INFINITE : timeout_ms);
	nng_recv_aio(bb->bb_sock, bb->bb_aio);
	pthread_mutex_unlock(&bb->bb_mtx);
	nng_aio_wait(bb->bb_aio);
	rv = nng_aio_result(bb->bb_aio);
	pthread_mutex_lock(&bb->bb_mtx);
	if (rv == NNG_ECANCELED)
		bb->bb_woken = 0;	/* this wake is spent */
	pthread_mutex_unlock(&bb->bb_mtx);
	if (rv != 0)
		return (rv == NNG_ECANCELED ? SH_ECANCELED : bus_nng_err(rv));
	m = nng_aio_get_msg(bb->bb_aio);
	payload = msg_unframe(nng_msg_body(m), nng_msg_len(m), pfx,
	    sizeof(pfx), &plen);
	if (payload == NULL ||
	    (*body = json_loadb(payload, plen, JSON_DECODE_ANY, &je)) ==
	    NULL || (*topic = strdup(pfx)) == NULL) {
		json_decref(*body);
		*body = NULL;
		nng_msg_free(m);
		return (SH_EPROTO);
	}
	nng_msg_free(m);
	return (0);
}

/*
 * nng 1.5.2's nng_fini() destroys the pipe lock before it drains the
 * reaper, so a pipe still being torn down -- a broker that died just
 * before exit -- can lock a destroyed mutex and panic ("pthread_mutex_lock:
 * Invalid argument", seen in t0111).  A process that exits needs none of
 * it; only LeakSanitizer wants nng's memory released, so sanitizer
 * builds alone run it.
 */
void
bus_fini(void)
{
#ifdef __SANITIZE_ADDRESS__
	bus_teardown_enter();
	nng_fini();
	bus_teardown_leave();
#endif
}
