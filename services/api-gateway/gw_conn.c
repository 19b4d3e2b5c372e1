/*
 * gw_conn.c - connection tracking: the per-IP connection cap and the
 * deadline for receiving a request.
 *
 * libmicrohttpd 0.9.75's connection timeout is an idle timeout: every
 * byte received restarts it, so a client that sends one byte a second
 * holds its connection for ever, and the application is not called until
 * the headers are complete.  It also cannot queue a response once it has
 * started reading a body.  So the gateway tracks every connection here
 * (MHD_OPTION_NOTIFY_CONNECTION) with the phase it is in:
 *
 *	NEW -> REQUEST -> TAKEN -> REPLYING -> IDLE -> REQUEST ...
 *	(accepted) (request line) (handler) (final call) (keep-alive)
 *
 * A reaper thread looks at the list every GW_REAP_MS: a connection still
 * in NEW, REQUEST or TAKEN (headers or body still arriving) past
 * api.connection_timeout_secs is answered directly on its socket with a
 * complete 408 JSON response (all the usual headers) and half-closed
 * (shutdown SHUT_WR), and moves to ABORTED; a second later its read side
 * is shut too, so libmicrohttpd sees end-of-file and releases it.  An
 * IDLE keep-alive connection past the timeout is shut silently.
 *
 * Writing to a socket libmicrohttpd owns is safe here because in these
 * phases libmicrohttpd itself writes nothing (it only writes once a
 * response is queued, which the REPLYING transition excludes); the phase
 * is an atomic that moves by compare-and-swap, so either the reaper or
 * the handler wins a request, never both; and the reaper writes only
 * while holding gw_conn_mtx, which MHD_CONNECTION_NOTIFY_CLOSED takes to
 * unlink the connection before libmicrohttpd closes its descriptor, so a
 * reused descriptor is never written to.  The one exception is an error
 * libmicrohttpd detects itself while parsing headers (400, 431), which
 * could in theory race with a reap of the same connection.
 *
 * gw_head.c answers the same way, from inside libmicrohttpd's read, a
 * request head libmicrohttpd would answer badly itself (a Content-Length
 * it cannot read): gw_conn_withheld() claims the connection (from a
 * keep-alive wait too), writes the 400 and withholds the bytes, so
 * libmicrohttpd never parses them; the reaper then shuts the read side
 * after the usual linger.  gw_conn_by_fd() finds the connection of a
 * descriptor for it.
 *
 * The request path takes no lock here (the benchmarks compare the
 * gateway with a bare libmicrohttpd server): only accepting and closing
 * a connection, and the reaper's scan, take gw_conn_mtx.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "log.h"
#include "memtrim.h"

#define GW_REAP_MS		200
#define GW_LINGER_MS		1000	/* time to read a 408 before EOF */
#define GW_IP_BUCKETS		1024
#define GW_CONN_PER_IP_MIN	16

enum gw_conn_state {
	GC_NEW = 0,
	GC_REQUEST,
	GC_TAKEN,
	GC_REPLYING,
	GC_IDLE,
	GC_ABORTED,
	GC_CLOSING
};

struct gw_ipcount {
	struct gw_ipcount	*ic_next;
	unsigned char		 ic_key[16];
	int			 ic_n;
};

struct gw_conn {
	struct gw_conn		*gc_next;	/* under gw_conn_mtx */
	struct gw_conn		*gc_prev;
	int			 gc_fd;
	atomic_int		 gc_state;	/* enum gw_conn_state */
	atomic_ullong		 gc_since;	/* ms, start of the deadline */
	atomic_ullong		 gc_aborted;	/* ms */
	atomic_int		 gc_openai;	/* the request is under /v1:
						   the reaper's 408 in
						   OpenAI's shape */
	int			 gc_rdshut;	/* reaper only */
	struct gw_head		 gc_head;	/* the reading thread's */
	int			 gc_withhold;	/* head refused: no more
						   bytes to libmicrohttpd */
	int			 gc_loopback;
	int			 gc_over;
	unsigned char		 gc_key[16];
	char			 gc_ip[INET6_ADDRSTRLEN];
};

static pthread_mutex_t	 gw_conn_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 gw_conn_cv = PTHREAD_COND_INITIALIZER;
static struct gw_conn	*gw_conn_head;
static struct gw_ipcount *gw_ipc[GW_IP_BUCKETS];
static pthread_t	 gw_reaper;
static int		 gw_reaper_started;
static int		 gw_conn_stop;
static uint64_t		 gw_conn_timeout_ms;
static int		 gw_conn_per_ip;
static _Atomic int	 gw_conn_exempt_loopback;
static atomic_llong	 gw_conn_n;
static atomic_llong	 gw_conn_nreaped;
/* Descriptor -> connection, for recv() (gw_head.c).  A slot is set and
 * cleared by the thread that owns the connection, so a reader never
 * sees its own connection change; a reused descriptor's new owner may
 * set the slot before the old one clears it, hence the exchange. */
static _Atomic(struct gw_conn *) *gw_conn_fds;
static size_t			  gw_conn_nfds;

/* ---- addresses ------------------------------------------------------- */

/* Maps an address to 16 bytes (IPv4 as ::ffff:a.b.c.d) and text. */
static int
gw_conn_addr(const struct sockaddr *sa, unsigned char key[16], char *ip,
    size_t iplen, int *loopback)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	memset(key, 0, 16);
	if (sa == NULL)
		return (-1);
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(key, &s6->sin6_addr, 16);
	} else
		return (-1);
	if (key[10] == 0xff && key[11] == 0xff &&
	    memcmp(key, "\0\0\0\0\0\0\0\0\0\0", 10) == 0) {
		inet_ntop(AF_INET, key + 12, ip, (socklen_t)iplen);
		*loopback = key[12] == 127;
	} else {
		inet_ntop(AF_INET6, key, ip, (socklen_t)iplen);
		*loopback = memcmp(key, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1",
		    16) == 0;
	}
	return (0);
}

static struct gw_ipcount **
gw_ipc_slot(const unsigned char key[16])
{
	struct gw_ipcount	**ip;
	uint32_t		  h = 2166136261U;
	int			  i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 16777619U;
	}
	for (ip = &gw_ipc[h % GW_IP_BUCKETS]; *ip != NULL;
	    ip = &(*ip)->ic_next)
		if (memcmp((*ip)->ic_key, key, 16) == 0)
			break;
	return (ip);
}

/* ---- raw responses --------------------------------------------------- */

int
gw_raw_response(char *out, size_t outlen, const char *path, int status,
    const char *message)
{
	const struct gw_header	*h;
	json_t			*body;
	char			*js, id[UTIL_UUID_LEN], date[64];
	struct tm		 tm;
	time_t			 now = time(NULL);
	size_t			 off;
	int			 n;

	body = gw_error_body(path, status, message);
	js = body != NULL ? json_dumps(body, MSG_JSON_FLAGS) : NULL;
	json_decref(body);
	if (js == NULL)
		return (-1);
	util_uuid4(id);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	n = snprintf(out, outlen, "HTTP/1.1 %d %s\r\nConnection: close\r\n"
	    "Date: %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nx-request-id: %s\r\n", status,
	    MHD_get_reason_phrase_for((unsigned int)status), date, strlen(js), id);
	if (n < 0 || (size_t)n >= outlen)
		goto toolong;
	off = (size_t)n;
	for (h = gw_sec_headers; h->h_name != NULL; h++) {
		n = snprintf(out + off, outlen - off, "%s: %s\r\n", h->h_name,
		    h->h_value);
		if (n < 0 || (size_t)n >= outlen - off)
			goto toolong;
		off += (size_t)n;
	}
	n = snprintf(out + off, outlen - off, "\r\n%s", js);
	if (n < 0 || (size_t)n >= outlen - off)
		goto toolong;
	free(js);
	return ((int)(off + (size_t)n));
 toolong:
	free(js);
	return (-1);
}

/* Writes the response and half-closes.  The caller has moved the
 * connection to ABORTED. */
static void
gw_conn_write_abort(struct gw_conn *gc, const char *path, int status,
    const char *message)
{
	char	resp[4096];
	int	n;

	if ((n = gw_raw_response(resp, sizeof(resp), path, status,
	    message)) > 0 &&
	    send(gc->gc_fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("%s: could not answer %s: %s", __func__, gc->gc_ip,
		    strerror(errno));
	shutdown(gc->gc_fd, SHUT_WR);
}

/* Moves gc from one of the receiving phases (or, with idle, from a
 * keep-alive wait) to ABORTED; 0 if it did. */
static int
gw_conn_claim(struct gw_conn *gc, int idle)
{
	int	s = atomic_load(&gc->gc_state);

	while (s == GC_NEW || s == GC_REQUEST || s == GC_TAKEN ||
	    (idle && s == GC_IDLE)) {
		atomic_store(&gc->gc_aborted, util_now_ms());
		if (atomic_compare_exchange_weak(&gc->gc_state, &s,
		    GC_ABORTED))
			return (0);
	}
	return (-1);
}

int
gw_conn_abort(struct gw_conn *gc, const char *path, int status,
    const char *message)
{
	/* On the connection's MHD thread: its descriptor cannot close
	 * under us, so no lock is needed. */
	if (gc == NULL || gw_conn_claim(gc, 0) != 0)
		return (-1);
	gw_conn_write_abort(gc, path, status, message);
	return (0);
}

int
gw_conn_withheld(struct gw_conn *gc, const void *buf, size_t n)
{
	int	status;

	if (gc->gc_withhold)
		return (-1);
	if ((status = gw_head_scan(&gc->gc_head, buf, n)) == 0)
		return (0);
	/* On the connection's thread, inside libmicrohttpd's read: the
	 * descriptor cannot close under us. */
	if (gw_conn_claim(gc, 1) != 0)
		return (0);
	log_info("request head from %s refused: %s", gc->gc_ip,
	    gc->gc_head.gh_why);
	gw_conn_write_abort(gc, NULL, status, gc->gc_head.gh_why);
	gc->gc_withhold = 1;
	return (-1);
}

struct gw_conn *
gw_conn_by_fd(int fd)
{
	if (fd < 0 || (size_t)fd >= gw_conn_nfds)
		return (NULL);
	return (atomic_load_explicit(&gw_conn_fds[fd], memory_order_acquire));
}

/* ---- the reaper ------------------------------------------------------ */

/* Called with gw_conn_mtx held. */
static void
gw_conn_reap(uint64_t now)
{
	struct gw_conn	*gc;
	char		 msg[128];
	int		 s;

	snprintf(msg, sizeof(msg), "request timeout: the request was not "
	    "received within %llu seconds",
	    (unsigned long long)(gw_conn_timeout_ms / 1000));
	for (gc = gw_conn_head; gc != NULL; gc = gc->gc_next) {
		s = atomic_load(&gc->gc_state);
		switch (s) {
		case GC_NEW:
		case GC_REQUEST:
		case GC_TAKEN:
			if (now - atomic_load(&gc->gc_since) <
			    gw_conn_timeout_ms || gw_conn_claim(gc, 0) != 0)
				break;
			log_info("request from %s not received in time, "
			    "answering 408", gc->gc_ip);
			atomic_fetch_add(&gw_conn_nreaped, 1);
			gw_conn_write_abort(gc,
			    atomic_load(&gc->gc_openai) ? "/v1" : NULL, 408,
			    msg);
			break;
		case GC_IDLE:
			if (now - atomic_load(&gc->gc_since) <
			    gw_conn_timeout_ms ||
			    !atomic_compare_exchange_strong(&gc->gc_state, &s,
			    GC_CLOSING))
				break;
			shutdown(gc->gc_fd, SHUT_RDWR);
			gc->gc_rdshut = 1;
			break;
		case GC_ABORTED:
			if (gc->gc_rdshut || now - atomic_load(&gc->gc_aborted) <
			    GW_LINGER_MS)
				break;
			shutdown(gc->gc_fd, SHUT_RD);
			gc->gc_rdshut = 1;
			break;
		default:
			break;
		}
	}
}

static void *
gw_conn_reaper(void *arg)
{
	struct timespec	ts;

	(void)arg;
	pthread_mutex_lock(&gw_conn_mtx);
	while (!gw_conn_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += GW_REAP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&gw_conn_cv, &gw_conn_mtx, &ts);
		if (gw_conn_stop)
			break;
		gw_conn_reap(util_now_ms());
		/* The reaper's timer also gives memory back after a burst
		 * of large requests (at most once a second). */
		pthread_mutex_unlock(&gw_conn_mtx);
		memtrim_tick(util_now_ms(), MEMTRIM_MIN_FREE);
		pthread_mutex_lock(&gw_conn_mtx);
	}
	pthread_mutex_unlock(&gw_conn_mtx);
	return (NULL);
}

void
gw_conn_configure(const struct sh_config *cfg)
{
	gw_conn_exempt_loopback = cfg->rl_exempt_loopback;
}

int
gw_conn_init(const struct sh_config *cfg)
{
	struct rlimit	rl;

	/* Untouched pages cost nothing: size it for every descriptor. */
	gw_conn_nfds = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > gw_conn_nfds &&
	    rl.rlim_cur <= (1U << 22))
		gw_conn_nfds = (size_t)rl.rlim_cur;
	if ((gw_conn_fds = calloc(gw_conn_nfds, sizeof(*gw_conn_fds))) ==
	    NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	gw_conn_timeout_ms = (uint64_t)cfg->http_conn_timeout_secs * 1000;
	if (cfg->http_max_conn_per_ip > 0)
		gw_conn_per_ip = (int)cfg->http_max_conn_per_ip;
	else {
		gw_conn_per_ip = (int)(cfg->http_max_connections / 4);
		if (gw_conn_per_ip < GW_CONN_PER_IP_MIN)
			gw_conn_per_ip = GW_CONN_PER_IP_MIN;
	}
	gw_conn_exempt_loopback = cfg->rl_exempt_loopback;
	gw_conn_stop = 0;
	if (pthread_create(&gw_reaper, NULL, gw_conn_reaper, NULL) != 0) {
		log_warnx("%s: could not start the reaper thread", __func__);
		return (-1);
	}
	gw_reaper_started = 1;
	return (0);
}

void
gw_conn_fini(void)
{
	struct gw_ipcount	*ic, *next;
	int			 i;

	if (gw_reaper_started) {
		pthread_mutex_lock(&gw_conn_mtx);
		gw_conn_stop = 1;
		pthread_cond_signal(&gw_conn_cv);
		pthread_mutex_unlock(&gw_conn_mtx);
		pthread_join(gw_reaper, NULL);
		gw_reaper_started = 0;
	}
	for (i = 0; i < GW_IP_BUCKETS; i++) {
		for (ic = gw_ipc[i]; ic != NULL; ic = next) {
			next = ic->ic_next;
			free(ic);
		}
		gw_ipc[i] = NULL;
	}
	free(gw_conn_fds);
	gw_conn_fds = NULL;
	gw_conn_nfds = 0;
}

/* ---- libmicrohttpd callbacks ----------------------------------------- */

enum MHD_Result
gw_conn_accept(void *cls, const struct sockaddr *sa, socklen_t salen)
{
	struct gw_ipcount	*ic;
	unsigned char		 key[16];
	char			 ip[INET6_ADDRSTRLEN];
	int			 loopback, ok = 1;

	(void)cls;
	(void)salen;
	if (gw_conn_addr(sa, key, ip, sizeof(ip), &loopback) != 0)
		return (MHD_YES);
	if (loopback && gw_conn_exempt_loopback)
		return (MHD_YES);
	pthread_mutex_lock(&gw_conn_mtx);
	ic = *gw_ipc_slot(key);
	if (ic != NULL && ic->ic_n >= gw_conn_per_ip)
		ok = 0;
	pthread_mutex_unlock(&gw_conn_mtx);
	if (!ok)
		log_debug("refusing a connection from %s: %d already open",
		    ip, gw_conn_per_ip);
	return (ok ? MHD_YES : MHD_NO);
}

static void
gw_conn_started(struct MHD_Connection *c, void **socket_context)
{
	const union MHD_ConnectionInfo	*ci;
	struct gw_ipcount		**slot, *ic;
	struct gw_conn			*gc;

	if ((gc = calloc(1, sizeof(*gc))) == NULL)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	gc->gc_fd = ci != NULL ? ci->connect_fd : -1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || gw_conn_addr(ci->client_addr, gc->gc_key,
	    gc->gc_ip, sizeof(gc->gc_ip), &gc->gc_loopback) != 0)
		snprintf(gc->gc_ip, sizeof(gc->gc_ip), "unknown");
	atomic_store(&gc->gc_since, util_now_ms());
	atomic_store(&gc->gc_state, GC_NEW);
	gw_head_reset(&gc->gc_head);
	if (gc->gc_fd >= 0 && (size_t)gc->gc_fd < gw_conn_nfds)
		atomic_store_explicit(&gw_conn_fds[gc->gc_fd], gc,
		    memory_order_release);
	pthread_mutex_lock(&gw_conn_mtx);
	slot = gw_ipc_slot(gc->gc_key);
	if ((ic = *slot) == NULL && (ic = calloc(1, sizeof(*ic))) != NULL) {
		memcpy(ic->ic_key, gc->gc_key, 16);
		*slot = ic;
	}
	if (ic != NULL && ++ic->ic_n > gw_conn_per_ip &&
	    !(gc->gc_loopback && gw_conn_exempt_loopback))
		gc->gc_over = 1;
	gc->gc_next = gw_conn_head;
	if (gw_conn_head != NULL)
		gw_conn_head->gc_prev = gc;
	gw_conn_head = gc;
	pthread_mutex_unlock(&gw_conn_mtx);
	atomic_fetch_add(&gw_conn_n, 1);
	*socket_context = gc;
}

static void
gw_conn_closed(struct gw_conn *gc)
{
	struct gw_ipcount	**slot, *ic;
	struct gw_conn		 *mine = gc;

	if (gc->gc_fd >= 0 && (size_t)gc->gc_fd < gw_conn_nfds)
		atomic_compare_exchange_strong(&gw_conn_fds[gc->gc_fd], &mine,
		    NULL);

	pthread_mutex_lock(&gw_conn_mtx);
	if (gc->gc_prev != NULL)
		gc->gc_prev->gc_next = gc->gc_next;
	else
		gw_conn_head = gc->gc_next;
	if (gc->gc_next != NULL)
		gc->gc_next->gc_prev = gc->gc_prev;
	slot = gw_ipc_slot(gc->gc_key);
	if ((ic = *slot) != NULL && --ic->ic_n <= 0) {
		*slot = ic->ic_next;
		free(ic);
	}
	pthread_mutex_unlock(&gw_conn_mtx);
	atomic_fetch_sub(&gw_conn_n, 1);
	free(gc);
}

void
gw_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		gw_conn_started(c, socket_context);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED &&
	    *socket_context != NULL) {
		gw_conn_closed(*socket_context);
		*socket_context = NULL;
	}
}

struct gw_conn *
gw_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return (ci != NULL ? ci->socket_context : NULL);
}

/* ---- phase transitions (MHD threads) --------------------------------- */

void
gw_conn_request(struct gw_conn *gc, const char *uri)
{
	int	s;

	if (gc == NULL)
		return;
	atomic_store(&gc->gc_openai, gw_openai_path(uri));
	s = atomic_load(&gc->gc_state);
	if (s == GC_IDLE) {
		/* The deadline of a keep-alive request starts at its
		 * request line: the bytes before it are not seen here. */
		atomic_store(&gc->gc_since, util_now_ms());
		atomic_compare_exchange_strong(&gc->gc_state, &s, GC_REQUEST);
	} else if (s == GC_NEW)		/* the deadline runs from accept */
		atomic_compare_exchange_strong(&gc->gc_state, &s, GC_REQUEST);
}

/* Moves gc to a phase; -1 when the reaper has taken the request. */
static int
gw_conn_move(struct gw_conn *gc, int to)
{
	int	s;

	if (gc == NULL)
		return (0);
	s = atomic_load(&gc->gc_state);
	do {
		if (s == GC_ABORTED || s == GC_CLOSING)
			return (-1);
	} while (!atomic_compare_exchange_weak(&gc->gc_state, &s, to));
	return (0);
}

int
gw_conn_take(struct gw_conn *gc)
{
	return (gw_conn_move(gc, GC_TAKEN));
}

int
gw_conn_reply(struct gw_conn *gc)
{
	return (gw_conn_move(gc, GC_REPLYING));
}

void
gw_conn_idle(struct gw_conn *gc)
{
	int	s;

	if (gc == NULL)
		return;
	gw_head_reset(&gc->gc_head);	/* the next request's head */
	atomic_store(&gc->gc_since, util_now_ms());
	s = atomic_load(&gc->gc_state);
	if (s == GC_REPLYING || s == GC_TAKEN)
		atomic_compare_exchange_strong(&gc->gc_state, &s, GC_IDLE);
}

int
gw_conn_over_limit(const struct gw_conn *gc)
{
	return (gc != NULL && gc->gc_over);
}

int
gw_conn_loopback(const struct gw_conn *gc)
{
	return (gc != NULL && gc->gc_loopback);
}

const char *
gw_conn_ip(const struct gw_conn *gc)
{
	return (gc != NULL ? gc->gc_ip : "unknown");
}

const unsigned char *
gw_conn_key(const struct gw_conn *gc)
{
	static const unsigned char	zero[16];

	return (gc != NULL ? gc->gc_key : zero);
}

long long
gw_conn_count(void)
{
	return (atomic_load(&gw_conn_n));
}

long long
gw_conn_reaped(void)
{
	return (atomic_load(&gw_conn_nreaped));
}
