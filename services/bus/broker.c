/*
 * broker.c - the stateless bus broker.
 *
 * Requests.  Clients send to the front (raw REP).  Every worker of every
 * replica asks for work on its service's back socket (raw REP too) with a
 * REQ context: READY, or its last reply and READY.  The broker holds each
 * READY as an idle slot of that replica's pipe and answers it with the
 * next request for the service, round robin over the replicas; requests
 * that find no idle slot wait in a bounded queue.  So the broker always
 * knows which pipe holds which request: each one in flight is kept by a
 * tag (the front's header, to route the reply, and the pipe), and when a
 * replica's pipe closes -- a crash, kill -9, a lost connection -- every
 * request it held is answered 503 at once instead of waiting out its
 * deadline.  The frame's first line gives the service, the timeout and the
 * request id, so the hot path parses no JSON and copies no payload: a
 * message changes its header and gains or loses the 8-byte tag.  Wire
 * format: bus.h and proto/messages.md.
 *
 * Replies are never dropped.  Both the front and the back are cooked REP
 * sockets used through contexts: every message received holds its
 * context until its answer is sent on it (a request's reply or 503, a
 * worker's next work).  nng's REP context queues a
 * send while its pipe is busy and completes it once written, so a burst
 * of answers to one pipe waits its turn.  The raw REP socket we had
 * before routed by header through a queue of 64 messages per pipe, fixed
 * in nng 1.5.2 (xrep.c: nni_msgq_init(&p->sendq, 64)), and freed what did
 * not fit, silently: a killed replica's 89 requests answered 503 at once
 * reached their gateway as 77.  A larger NNG_OPT_SENDBUF only grows the
 * socket's queue in front of those, and a queue of our own could not know
 * when the pipe's had room: a raw send says nothing of it.  What bounds
 * the contexts: one per request queued (BROKER_QUEUE per service) or in
 * flight (at most what clients have in flight: libshared/bus.c bounds
 * each client), one per idle worker.
 * An answer whose peer reads nothing for BROKER_SEND_MS is given up, and
 * logged: that peer is stuck, and must not hold the broker's memory.
 *
 * Events.  A raw SUB socket (publishers dial) feeds a raw PUB socket
 * (subscribers dial), one message at a time so order is kept.
 *
 * Threads.  None of our own: everything runs in nng aio and pipe
 * callbacks, under br_mtx, and nothing in them blocks (sends are
 * asynchronous, on a context's aio).  The lookup of a pipe and the
 * registration of a request happen under one lock with the pipe's
 * removal, so a pipe that dies between "take a slot" and "send" still
 * has the request in its list when its REM_POST callback answers them.  A pipe is known from its
 * ADD_PRE callback, which runs before any of its messages can arrive, and
 * forgotten at REM_POST; a message from a pipe we do not know comes from
 * one already gone and is dropped.
 *
 * Listeners.  nng 1.5.2 can stop accepting on a listener for good, and
 * say nothing: when a peer hangs up during the SP handshake, the broker's
 * header write fails with EPIPE, which nng reports as NNG_ECLOSED to the
 * listener's pending accept -- and its accept loop takes ECLOSED for "the
 * socket closed" and never accepts again.  The transport below still
 * accepts and handshakes, so clients connect and send, but no pipe reaches
 * the socket: a front that forwards nothing, a replica that never joins.
 * Clients do hang up there: one that gives up its connect wait under load,
 * one that exits while nng redials during its close, one killed.  (Over
 * tcp the hang-up is a reset, which the listener survives.)  The failure
 * counts as an "other" error in the
 * listener's statistics, as do harmless ones the listener survives, so a
 * change of that count makes the broker connect to itself (a probe that
 * speaks the handshake, its pipe refused at ADD_PRE); a probe whose pipe
 * does not arrive within BROKER_PROBE_MS means the listener stopped, and
 * the broker listens anew (broker_watch).
 *
 * The stack's shutdown.  POST /api/shutdown is a TOPIC_SHUTDOWN event;
 * every process that hears it stops.  The broker forwards it as any
 * event, and notes when it went through; from then on the tick counts
 * the pipes still open on its sockets (nng's "pipes" statistic), and
 * once none is left, or a bounded wait later, tells its caller
 * (broker_on_shutdown), which stops the broker: last, after the
 * processes it carried (under docker compose; librefangd stops it
 * itself).
 *
 * Stop.  nng_aio_stop() on every aio, every context's included (it
 * cancels the pending receive or send and waits for the callback), then
 * nng_close(): no thread ever waits in a receive that only nng_close()
 * could end (nanomsg/nng#1813), and a pipe
 * accepted while a socket closes is refused (broker_pipe_guard).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>

#include "broker.h"
#include "bus.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "util.h"

#define BROKER_BUF	1024	/* messages a socket queues (bursts) */
#define BROKER_QUEUE	1024	/* requests waiting per service */
#define BROKER_RECVS	2	/* receives kept posted per request socket */
#define BROKER_SEND_MS	10000	/* an answer waits this long for its peer */
#define BROKER_TICK_MS	100	/* deadline sweep */
#define BROKER_GRACE_MS	1000	/* in flight past its deadline: forget */
#define BROKER_TIMEOUT	60000	/* a frame that gives no timeout */
#define BROKER_PIPES	64	/* pipe hash buckets */
#define BROKER_TAGS	4096	/* tag hash buckets */
#define BROKER_NLSN	(3 + SVC_COUNT)	/* front, pub, sub, services */
#define BROKER_WATCH_TICKS 2	/* listeners checked every 2 ticks */
#define BROKER_PROBE_MS	1000	/* a probe not seen by then: stopped */
#define BROKER_ADDR_MAX	512
#define BROKER_PEER_REQ	0x30	/* SP protocol numbers, for a probe */
#define BROKER_PEER_PUB	0x20
#define BROKER_PEER_SUB	0x21

/*
 * One listener of ours, watched (see "Listeners" above).  ls_fd, ls_port
 * and ls_seen are shared with the pipe callbacks under br_mtx; the rest
 * belongs to the tick.
 */
struct broker_lsn {
	nng_socket	 ls_sock;
	nng_listener	 ls_lsn;
	int		 ls_ok;		/* ls_lsn listens */
	char		 ls_addr[BROKER_ADDR_MAX];
	uint16_t	 ls_peer;	/* the protocol its peers speak */
	uint64_t	 ls_errs;	/* its "other" errors, as last seen */
	int		 ls_fd;		/* the probe's connection, or -1 */
	uint16_t	 ls_port;	/* its local port (tcp), network order */
	uint64_t	 ls_until;	/* monotonic ms: unseen by then, stopped */
	int		 ls_seen;	/* the probe's pipe reached the socket */
};

/*
 * A REP context of ours with its aio.  It receives one message (a client's
 * request at the front; a worker's READY, reply or LATE at the back), is
 * held while that message waits for its answer -- by a request at the
 * front, as an idle slot at the back -- sends the answer (a LATE or a
 * FORGET gets none), and goes back to its socket's spares.  cx_state is
 * written by whoever holds the context before it hands it to nng, and
 * read by the callback nng hands it back to.
 */
enum broker_cx_state {
	CX_SPARE,	/* on its socket's spares */
	CX_RECV,	/* a receive posted */
	CX_HELD,	/* holds a message's route, answer not sent yet */
	CX_SEND,	/* its answer on its way */
};

struct broker_cx {
	struct broker_cx	*cx_next;	/* spares, or a pipe's slots */
	struct broker_cx	*cx_all;	/* every context, for the stop */
	struct broker		*cx_broker;
	struct broker_svc	*cx_svc;	/* NULL: the front */
	nng_ctx			 cx_ctx;
	nng_aio			*cx_aio;
	enum broker_cx_state	 cx_state;
};

/* A request: queued (rq_pipe NULL, rq_msg set) or in flight at a pipe. */
struct broker_req {
	struct broker_req	*rq_hnext;	/* tag hash, in flight */
	TAILQ_ENTRY(broker_req)	 rq_entry;	/* its pipe's, or the queue */
	uint64_t		 rq_tag;
	uint64_t		 rq_deadline;	/* monotonic ms */
	struct broker_pipe	*rq_pipe;
	nng_msg			*rq_msg;
	struct broker_cx	*rq_cx;		/* the front's: its answer */
	char			 rq_id[BUS_ID_MAX];
};
TAILQ_HEAD(broker_reqs, broker_req);

/* A replica's connection to one service's back socket. */
struct broker_pipe {
	struct broker_pipe	*bp_hnext;	/* pipe hash */
	TAILQ_ENTRY(broker_pipe) bp_entry;	/* bs_ready, while bp_slots */
	uint32_t		 bp_id;
	struct broker_svc	*bp_svc;
	struct broker_cx	*bp_slots;	/* idle workers' READYs */
	struct broker_reqs	 bp_reqs;	/* in flight here */
};
TAILQ_HEAD(broker_pipes, broker_pipe);

struct broker_svc {
	struct broker		*bs_broker;
	const char		*bs_name;
	nng_socket		 bs_sock;
	struct broker_cx	*bs_spare;	/* its contexts not in use */
	int			 bs_npipes;	/* replicas connected */
	struct broker_pipes	 bs_ready;	/* with an idle slot, in turn */
	struct broker_reqs	 bs_queue;	/* waiting for a slot */
	int			 bs_queued;
};

struct broker {
	pthread_mutex_t		 br_mtx;	/* everything below the sockets */
	nng_socket		 br_front;
	nng_socket		 br_pub_in;	/* SUB: publishers dial */
	nng_socket		 br_pub_out;	/* PUB: subscribers dial */
	struct broker_cx	*br_spare;	/* the front's contexts not in use */
	struct broker_cx	*br_cxs;	/* every context (cx_all) */
	unsigned long long	 br_unsent;	/* answers a client did not read */
	nng_aio			*br_pub_aio;
	nng_aio			*br_tick;
	atomic_int		 br_stopping;
	struct broker_svc	 br_svc[SVC_COUNT];
	struct broker_pipe	*br_pipes[BROKER_PIPES];
	struct broker_req	*br_tags[BROKER_TAGS];
	uint64_t		 br_next_tag;
	unsigned long long	 br_forwarded;
	unsigned long long	 br_refused;
	unsigned long long	 br_lost;
	struct broker_lsn	 br_lsn[BROKER_NLSN];
	int			 br_nlsn;
	int			 br_ticks;
	/* The stack's shutdown (broker_on_shutdown), under br_mtx. */
	void			(*br_sd_fn)(void *, int);
	void			*br_sd_arg;
	int			 br_sd_wait_ms;
	uint64_t		 br_sd_seen;	/* monotonic ms; 0: not yet */
	int			 br_sd_done;
};

/* ---- tables (br_mtx held) ----------------------------------------------- */

static struct broker_pipe **
broker_pipe_slot(struct broker *br, uint32_t id)
{
	struct broker_pipe	**pp;

	for (pp = &br->br_pipes[id % BROKER_PIPES]; *pp != NULL;
	    pp = &(*pp)->bp_hnext)
		if ((*pp)->bp_id == id)
			break;
	return (pp);
}

/* Registers rq as in flight at bp under a new tag. */
static void
broker_req_start(struct broker *br, struct broker_req *rq,
    struct broker_pipe *bp)
{
	struct broker_req	**b;

	rq->rq_tag = br->br_next_tag++;
	rq->rq_pipe = bp;
	b = &br->br_tags[rq->rq_tag % BROKER_TAGS];
	rq->rq_hnext = *b;
	*b = rq;
	TAILQ_INSERT_TAIL(&bp->bp_reqs, rq, rq_entry);
	br->br_forwarded++;
}

/* Removes and returns the request in flight under tag at bp, or NULL. */
static struct broker_req *
broker_req_take(struct broker *br, uint64_t tag, struct broker_pipe *bp)
{
	struct broker_req	**rp, *rq;

	for (rp = &br->br_tags[tag % BROKER_TAGS]; *rp != NULL;
	    rp = &(*rp)->rq_hnext)
		if ((*rp)->rq_tag == tag)
			break;
	if ((rq = *rp) == NULL || (bp != NULL && rq->rq_pipe != bp))
		return (NULL);
	*rp = rq->rq_hnext;
	TAILQ_REMOVE(&rq->rq_pipe->bp_reqs, rq, rq_entry);
	rq->rq_pipe = NULL;
	return (rq);
}

/* Takes an idle slot of bs, round robin over its replicas, or NULL. */
static struct broker_cx *
broker_slot_take(struct broker_svc *bs, struct broker_pipe **bpp)
{
	struct broker_pipe	*bp;
	struct broker_cx	*sl;

	if ((bp = TAILQ_FIRST(&bs->bs_ready)) == NULL)
		return (NULL);
	sl = bp->bp_slots;
	bp->bp_slots = sl->cx_next;
	TAILQ_REMOVE(&bs->bs_ready, bp, bp_entry);
	if (bp->bp_slots != NULL)
		TAILQ_INSERT_TAIL(&bs->bs_ready, bp, bp_entry);
	sl->cx_next = NULL;
	*bpp = bp;
	return (sl);
}

/* ---- contexts ----------------------------------------------------------- */

static void	broker_cx_cb(void *);

static nng_socket
broker_cx_sock(struct broker_cx *cx)
{
	return (cx->cx_svc == NULL ? cx->cx_broker->br_front :
	    cx->cx_svc->bs_sock);
}

/*
 * A spare context of the front (bs NULL) or of bs's back socket, or a new
 * one; NULL when none can be made.  Contexts are freed only at the stop
 * (an aio cannot be freed from its own callback), so there are at most as
 * many as messages ever held at once.
 */
static struct broker_cx *
broker_cx_get(struct broker *br, struct broker_svc *bs)
{
	struct broker_cx	**spare, *cx;

	spare = bs == NULL ? &br->br_spare : &bs->bs_spare;
	pthread_mutex_lock(&br->br_mtx);
	if ((cx = *spare) != NULL)
		*spare = cx->cx_next;
	pthread_mutex_unlock(&br->br_mtx);
	if (cx != NULL) {
		cx->cx_next = NULL;
		return (cx);
	}
	if ((cx = calloc(1, sizeof(*cx))) == NULL)
		return (NULL);
	cx->cx_broker = br;
	cx->cx_svc = bs;
	if (nng_aio_alloc(&cx->cx_aio, broker_cx_cb, cx) != 0) {
		free(cx);
		return (NULL);
	}
	if (nng_ctx_open(&cx->cx_ctx, broker_cx_sock(cx)) != 0) {
		nng_aio_free(cx->cx_aio);
		free(cx);
		return (NULL);
	}
	pthread_mutex_lock(&br->br_mtx);
	cx->cx_all = br->br_cxs;
	br->br_cxs = cx;
	pthread_mutex_unlock(&br->br_mtx);
	return (cx);
}

/* Back to the spares: a context whose message gets no answer, or sent. */
static void
broker_cx_put(struct broker_cx *cx)
{
	struct broker		*br = cx->cx_broker;
	struct broker_cx	**spare;

	spare = cx->cx_svc == NULL ? &br->br_spare : &cx->cx_svc->bs_spare;
	pthread_mutex_lock(&br->br_mtx);
	cx->cx_state = CX_SPARE;
	cx->cx_next = *spare;
	*spare = cx;
	pthread_mutex_unlock(&br->br_mtx);
}

static void
broker_cx_recv(struct broker_cx *cx)
{
	cx->cx_state = CX_RECV;
	nng_aio_set_timeout(cx->cx_aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(cx->cx_ctx, cx->cx_aio);
}

/*
 * Sends m (stolen) on cx, the answer to the message cx received.  nng
 * queues it while the pipe is busy, and never drops it (see the head
 * comment); only a peer that reads nothing for BROKER_SEND_MS loses it.
 */
static void
broker_cx_send(struct broker_cx *cx, nng_msg *m)
{
	cx->cx_state = CX_SEND;
	nng_aio_set_msg(cx->cx_aio, m);
	nng_aio_set_timeout(cx->cx_aio, BROKER_SEND_MS);
	nng_ctx_send(cx->cx_ctx, cx->cx_aio);
}

/* ---- sending ------------------------------------------------------------ */

/*
 * Answers a request on the front with status and a JSON error, on its
 * context cx.  Error paths only: this is where JSON is built.
 */
static void
broker_answer(struct broker *br, struct broker_cx *cx, const char *id,
    int status, const char *fmt, ...)
{
	va_list	 ap;
	json_t	*rep;
	char	*js = NULL;
	nng_msg	*m = NULL;

	va_start(ap, fmt);
	rep = msg_reply(id, status, msg_error_vbody(fmt, ap));
	va_end(ap);
	if (rep == NULL || (js = json_dumps(rep, MSG_JSON_FLAGS)) == NULL ||
	    nng_msg_alloc(&m, 0) != 0 ||
	    nng_msg_append(m, js, strlen(js)) != 0) {
		log_warnx("%s: could not answer '%s' (%d): out of memory",
		    __func__, id, status);
		nng_msg_free(m);
		broker_cx_put(cx);
	} else
		broker_cx_send(cx, m);
	(void)br;
	free(js);
	json_decref(rep);
}

/* Sends work: m (stolen) to the worker whose READY slot sl holds, with
 * tag before the frame. */
static void
broker_send_work(struct broker_cx *sl, uint64_t tag, nng_msg *m)
{
	nng_msg_header_clear(m);
	if (nng_msg_insert_u64(m, tag) != 0) {
		/* Out of memory: the request stays in flight at the pipe
		 * and is forgotten at its deadline; the worker waits for
		 * its next work with a slot the broker no longer holds. */
		log_warnx("%s: out of memory, a request lost", __func__);
		nng_msg_free(m);
		broker_cx_put(sl);
		return;
	}
	broker_cx_send(sl, m);
}

/* ---- the front ---------------------------------------------------------- */

static struct broker_svc *
broker_svc_find(struct broker *br, const char *name)
{
	int	i;

	for (i = 0; i < SVC_COUNT; i++)
		if (strcmp(br->br_svc[i].bs_name, name) == 0)
			return (&br->br_svc[i]);
	return (NULL);
}

/* A client's request (m, stolen), received on cx (held until answered). */
static void
broker_front(struct broker *br, struct broker_cx *cx, nng_msg *m)
{
	struct bus_route	 ro;
	struct broker_svc	*bs;
	struct broker_req	*rq;
	struct broker_cx	*sl = NULL;
	struct broker_pipe	*bp;
	const char		*why = NULL;
	uint64_t		 tag = 0;

	if (bus_route_parse(nng_msg_body(m), nng_msg_len(m), &ro) != 0) {
		log_debug("%s: dropping a malformed request", __func__);
		nng_msg_free(m);
		broker_cx_put(cx);
		return;
	}
	if ((bs = broker_svc_find(br, ro.ro_svc)) == NULL) {
		broker_answer(br, cx, ro.ro_id, 404, "unknown service '%s'",
		    ro.ro_svc);
		nng_msg_free(m);
		return;
	}
	if ((rq = malloc(sizeof(*rq))) == NULL) {
		broker_answer(br, cx, ro.ro_id, 503, "out of memory");
		nng_msg_free(m);
		return;
	}
	rq->rq_msg = NULL;
	rq->rq_pipe = NULL;
	rq->rq_cx = cx;
	memcpy(rq->rq_id, ro.ro_id, sizeof(rq->rq_id));
	rq->rq_deadline = util_now_ms() + (uint64_t)(ro.ro_timeout_ms > 0 ?
	    ro.ro_timeout_ms : BROKER_TIMEOUT);

	pthread_mutex_lock(&br->br_mtx);
	if (bs->bs_npipes == 0)
		why = "unavailable";
	else if ((sl = broker_slot_take(bs, &bp)) != NULL) {
		broker_req_start(br, rq, bp);
		tag = rq->rq_tag;
		rq = NULL;	/* the tables own it now */
	} else if (bs->bs_queued < BROKER_QUEUE) {
		rq->rq_msg = m;
		TAILQ_INSERT_TAIL(&bs->bs_queue, rq, rq_entry);
		bs->bs_queued++;
		rq = NULL;
		m = NULL;
	} else
		why = "busy";
	if (why != NULL)
		br->br_refused++;
	pthread_mutex_unlock(&br->br_mtx);

	if (why != NULL) {
		broker_answer(br, cx, rq->rq_id, 503, "service '%s' %s",
		    bs->bs_name, why);
		free(rq);
		nng_msg_free(m);
		return;
	}
	if (sl != NULL)
		broker_send_work(sl, tag, m);
}

/* ---- the back ----------------------------------------------------------- */

static int
broker_tag(nng_msg *m, uint64_t *tag)
{
	const uint8_t	*b = nng_msg_body(m);
	int		 i;

	if (nng_msg_len(m) < 1 + BUS_TAG_LEN)
		return (-1);
	*tag = 0;
	for (i = 1; i <= BUS_TAG_LEN; i++)
		*tag = *tag << 8 | b[i];
	return (0);
}

/* A worker's message (m, stolen) received on cx: its reply, and READY or
 * not.  cx becomes an idle slot, carries work, or goes back to the
 * spares. */
static void
broker_back(struct broker_svc *bs, struct broker_cx *cx, nng_msg *m)
{
	struct broker		*br = bs->bs_broker;
	struct broker_pipe	*bp;
	struct broker_req	*rq = NULL, *work;
	nng_msg			*wm = NULL;
	uint64_t		 tag = 0, wtag = 0;
	uint32_t		 id = nng_pipe_id(nng_msg_get_pipe(m));
	char			 kind;
	int			 ready, late, held = 0;

	if (nng_msg_len(m) < 1)
		goto drop;
	kind = *(const char *)nng_msg_body(m);
	ready = kind == BUS_BK_READY || kind == BUS_BK_REPLY ||
	    kind == BUS_BK_DROP;
	late = kind == BUS_BK_LATE || kind == BUS_BK_FORGET;
	if ((!ready && !late) ||
	    (kind != BUS_BK_READY && broker_tag(m, &tag) != 0))
		goto drop;
	pthread_mutex_lock(&br->br_mtx);
	if ((bp = *broker_pipe_slot(br, id)) == NULL) {
		/* Left in the queue by a pipe already gone. */
		pthread_mutex_unlock(&br->br_mtx);
		goto drop;
	}
	if (kind != BUS_BK_READY)
		rq = broker_req_take(br, tag, bp);
	if (ready) {
		held = 1;
		if ((work = TAILQ_FIRST(&bs->bs_queue)) != NULL) {
			/* A request waited: it goes at once.  The tables
			 * keep it; only its message and tag are ours. */
			TAILQ_REMOVE(&bs->bs_queue, work, rq_entry);
			bs->bs_queued--;
			broker_req_start(br, work, bp);
			wm = work->rq_msg;
			work->rq_msg = NULL;
			wtag = work->rq_tag;
		} else {
			cx->cx_state = CX_HELD;
			if ((cx->cx_next = bp->bp_slots) == NULL)
				TAILQ_INSERT_TAIL(&bs->bs_ready, bp, bp_entry);
			bp->bp_slots = cx;
		}
	}
	pthread_mutex_unlock(&br->br_mtx);

	if (wm != NULL)
		broker_send_work(cx, wtag, wm);
	if (rq != NULL && (kind == BUS_BK_REPLY || kind == BUS_BK_LATE)) {
		/* The reply goes out in the worker's message: kind and tag
		 * trimmed, the envelope untouched. */
		if (nng_msg_trim(m, 1 + BUS_TAG_LEN) == 0) {
			broker_cx_send(rq->rq_cx, m);
			m = NULL;
		} else
			broker_cx_put(rq->rq_cx);
	} else if (rq != NULL)
		broker_cx_put(rq->rq_cx);	/* DROP, FORGET: no answer */
	free(rq);
 drop:
	/* LATE and FORGET get no answer: their sender does not wait. */
	if (!held)
		broker_cx_put(cx);
	nng_msg_free(m);
}

/* ---- listeners ---------------------------------------------------------- */

/*
 * Whether p is the pipe of a probe of ours (broker_probe): a pipe of a
 * probed listener's socket whose peer is this process (ipc) or our
 * probe's port (tcp).  Marks the probe seen.  On an nng thread.
 */
static int
broker_is_probe(struct broker *br, nng_pipe p)
{
	struct broker_lsn	*ls;
	nng_socket		 s = nng_pipe_socket(p);
	nng_sockaddr		 sa;
	uint64_t		 pid;
	int			 i, hit = 0;

	pthread_mutex_lock(&br->br_mtx);
	for (i = 0; i < br->br_nlsn && !hit; i++) {
		ls = &br->br_lsn[i];
		if (ls->ls_fd < 0 || ls->ls_sock.id != s.id)
			continue;
		if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0)
			hit = pid == (uint64_t)getpid();
		else if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0)
			hit = (sa.s_family == NNG_AF_INET &&
			    sa.s_in.sa_port == ls->ls_port) ||
			    (sa.s_family == NNG_AF_INET6 &&
			    sa.s_in6.sa_port == ls->ls_port);
		if (hit)
			ls->ls_seen = 1;
	}
	pthread_mutex_unlock(&br->br_mtx);
	return (hit);
}

/* Publishes fd as ls's probe (-1: none), for broker_is_probe(). */
static void
broker_probe_set(struct broker *br, struct broker_lsn *ls, int fd,
    uint16_t port)
{
	pthread_mutex_lock(&br->br_mtx);
	ls->ls_fd = fd;
	ls->ls_port = port;
	ls->ls_seen = 0;
	ls->ls_until = util_now_ms() + BROKER_PROBE_MS;
	pthread_mutex_unlock(&br->br_mtx);
}

/*
 * Connects to listener ls and starts the SP handshake as a peer would, so
 * that its pipe reaches the socket if the listener still accepts.  The
 * probe is published before it connects: its pipe may reach us before
 * connect() returns here.  The connection is ours until broker_watch()
 * closes it.  0, or -1 (tried again at the next check).
 */
static int
broker_probe(struct broker *br, struct broker_lsn *ls)
{
	struct sockaddr_un	 sun;
	struct sockaddr_storage	 ss;
	struct addrinfo		 hints, *ai = NULL;
	socklen_t		 slen = sizeof(ss);
	const char		*a = ls->ls_addr, *colon;
	char			 host[BROKER_ADDR_MAX];
	unsigned char		 hdr[8] = { 0, 'S', 'P', 0, 0, 0, 0, 0 };
	uint16_t		 port = 0;
	int			 fd = -1, rc = -1, published = 0;

	hdr[4] = (unsigned char)(ls->ls_peer >> 8);
	hdr[5] = (unsigned char)(ls->ls_peer & 0xff);
	if (strncmp(a, "ipc://", 6) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(a + 6) >= sizeof(sun.sun_path) ||
		    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			goto done;
		memcpy(sun.sun_path, a + 6, strlen(a + 6) + 1);
		broker_probe_set(br, ls, fd, 0);
		published = 1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
			goto done;
	} else if (strncmp(a, "tcp://", 6) == 0 &&
	    (colon = strrchr(a, ':')) != NULL && colon > a + 6) {
		/* A wildcard listens on loopback too. */
		snprintf(host, sizeof(host), "%.*s", (int)(colon - a - 6),
		    a + 6);
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		if (strcmp(host, "*") == 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "127.0.0.1");
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		/* Our own address: no name to look up beyond the config's.
		 * Bound first, so its port is known before it connects. */
		memset(&ss, 0, sizeof(ss));
		if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 ||
		    (fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) < 0)
			goto done;
		ss.ss_family = (sa_family_t)ai->ai_family;
		if (bind(fd, (struct sockaddr *)&ss, ai->ai_family ==
		    AF_INET6 ? sizeof(struct sockaddr_in6) :
		    sizeof(struct sockaddr_in)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
			goto done;
		port = ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port;
		broker_probe_set(br, ls, fd, port);
		published = 1;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
			goto done;
	} else
		goto done;
	/* Eight bytes into a new connection's empty buffer: never blocks. */
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		goto done;
	fd = -1;
	rc = 0;
 done:
	if (rc != 0) {
		log_debug("%s: could not probe '%s': %s", __func__, a,
		    strerror(errno));
		if (published)
			broker_probe_set(br, ls, -1, 0);
	}
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return (rc);
}

/* Its "other" errors so far (0 when the statistics do not say). */
static uint64_t
broker_lsn_errs(nng_stat *all, struct broker_lsn *ls)
{
	nng_stat	*st, *c;

	if (all == NULL || !ls->ls_ok ||
	    (st = bus_stat_scope(all, "listener", "id",
	    nng_listener_id(ls->ls_lsn))) == NULL)
		return (0);
	for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
		if (strcmp(nng_stat_name(c), "other") == 0)
			return (nng_stat_value(c));
	return (0);
}

/* Listens on ls's address; closes the listener it replaces first. */
static int
broker_listen_at(struct broker_lsn *ls)
{
	int	rv;

	if (ls->ls_ok)
		nng_listener_close(ls->ls_lsn);
	ls->ls_errs = 0;
	if ((rv = nng_listen(ls->ls_sock, ls->ls_addr, &ls->ls_lsn, 0)) != 0)
		log_warnx("%s: could not listen on '%s': %s", __func__,
		    ls->ls_addr, nng_strerror(rv));
	ls->ls_ok = rv == 0;
	return (rv == 0 ? 0 : -1);
}

/*
 * Every BROKER_WATCH_TICKS: ends the probes whose pipe arrived, listens
 * anew where one did not in time (closing the old listener closes the
 * pipes it made; their peers redial at once), and probes a listener whose
 * error count moved.  On the tick's nng thread.
 */
static void
broker_watch(struct broker *br)
{
	struct broker_lsn	*ls;
	nng_stat		*all = NULL;
	uint64_t		 now = util_now_ms(), errs;
	int			 i, fd, seen, late;

	if (nng_stats_get(&all) != 0)
		all = NULL;
	for (i = 0; i < br->br_nlsn; i++) {
		ls = &br->br_lsn[i];
		pthread_mutex_lock(&br->br_mtx);
		fd = ls->ls_fd;
		seen = ls->ls_seen;
		late = fd >= 0 && !seen && now >= ls->ls_until;
		if (fd >= 0 && (seen || late))
			ls->ls_fd = -1;
		pthread_mutex_unlock(&br->br_mtx);
		if (fd >= 0 && !(seen || late))
			continue;		/* still probing */
		if (fd >= 0)
			close(fd);
		if (seen)
			log_debug("%s: '%s' still accepts", __func__, ls->ls_addr);
		if (late) {
			log_warnx("the listener on '%s' stopped accepting "
			    "(nng 1.5.2 after a peer hung up in the "
			    "handshake): listening again", ls->ls_addr);
			broker_listen_at(ls);
			continue;
		}
		if (!ls->ls_ok) {
			broker_listen_at(ls);
			continue;
		}
		errs = broker_lsn_errs(all, ls);
		if (errs != ls->ls_errs && broker_probe(br, ls) == 0)
			ls->ls_errs = errs;
	}
	if (all != NULL)
		nng_stats_free(all);
}

/* Listens for role on s, a socket whose peers speak protocol peer. */
static int
broker_listen(struct broker *br, nng_socket s, const char *base,
    const char *role, uint16_t peer)
{
	struct broker_lsn	*ls;

	if (br->br_nlsn == BROKER_NLSN)
		return (-1);
	ls = &br->br_lsn[br->br_nlsn];
	if (bus_addr(base, role, ls->ls_addr, sizeof(ls->ls_addr)) != 0) {
		log_warnx("%s: bad bus address '%s'", __func__, base);
		return (-1);
	}
	ls->ls_sock = s;
	ls->ls_peer = peer;
	ls->ls_fd = -1;
	br->br_nlsn++;
	return (broker_listen_at(ls));
}

/* ---- replicas come and go ----------------------------------------------- */

static void
broker_pipe_add(struct broker_svc *bs, uint32_t id)
{
	struct broker		*br = bs->bs_broker;
	struct broker_pipe	*bp, **pp;

	if ((bp = calloc(1, sizeof(*bp))) == NULL) {
		/* Unknown, its messages are dropped: better refuse it. */
		log_warnx("%s: out of memory, refusing a replica of '%s'",
		    __func__, bs->bs_name);
		nng_pipe_close((nng_pipe){ .id = id });
		return;
	}
	bp->bp_id = id;
	bp->bp_svc = bs;
	TAILQ_INIT(&bp->bp_reqs);
	pthread_mutex_lock(&br->br_mtx);
	pp = broker_pipe_slot(br, id);
	if (*pp == NULL) {
		*pp = bp;
		bs->bs_npipes++;
		bp = NULL;
	}
	pthread_mutex_unlock(&br->br_mtx);
	free(bp);
	log_info("replica of '%s' connected", bs->bs_name);
}

/* The pipe is gone: answer what it held, forget its slots. */
static void
broker_pipe_gone(struct broker_svc *bs, uint32_t id)
{
	struct broker		*br = bs->bs_broker;
	struct broker_pipe	*bp, **pp;
	struct broker_reqs	 lost, orphans;
	struct broker_req	*rq;
	struct broker_cx	*sl;
	int			 nlost = 0;

	TAILQ_INIT(&lost);
	TAILQ_INIT(&orphans);
	pthread_mutex_lock(&br->br_mtx);
	pp = broker_pipe_slot(br, id);
	if ((bp = *pp) == NULL) {
		pthread_mutex_unlock(&br->br_mtx);
		return;
	}
	*pp = bp->bp_hnext;
	if (bp->bp_slots != NULL)
		TAILQ_REMOVE(&bs->bs_ready, bp, bp_entry);
	while ((rq = TAILQ_FIRST(&bp->bp_reqs)) != NULL) {
		rq = broker_req_take(br, rq->rq_tag, bp);
		TAILQ_INSERT_TAIL(&lost, rq, rq_entry);
		nlost++;
	}
	/* With no replica left, waiting is pointless: say so now. */
	if (--bs->bs_npipes == 0) {
		TAILQ_CONCAT(&orphans, &bs->bs_queue, rq_entry);
		bs->bs_queued = 0;
	}
	br->br_lost += (unsigned long long)nlost;
	pthread_mutex_unlock(&br->br_mtx);

	/* Its workers' READYs: nothing to answer, the pipe is gone. */
	while ((sl = bp->bp_slots) != NULL) {
		bp->bp_slots = sl->cx_next;
		broker_cx_put(sl);
	}
	free(bp);
	while ((rq = TAILQ_FIRST(&lost)) != NULL) {
		TAILQ_REMOVE(&lost, rq, rq_entry);
		broker_answer(br, rq->rq_cx, rq->rq_id, 503,
		    "replica of '%s' lost while handling the request",
		    bs->bs_name);
		free(rq);
	}
	while ((rq = TAILQ_FIRST(&orphans)) != NULL) {
		TAILQ_REMOVE(&orphans, rq, rq_entry);
		broker_answer(br, rq->rq_cx, rq->rq_id, 503,
		    "service '%s' unavailable", bs->bs_name);
		nng_msg_free(rq->rq_msg);
		free(rq);
	}
	if (nlost > 0)
		log_warnx("replica of '%s' disconnected with %d requests in "
		    "flight: answered 503", bs->bs_name, nlost);
	else
		log_info("replica of '%s' disconnected", bs->bs_name);
}

/*
 * Refuses a pipe that arrives while we close: nng (1.5.2) adds a pipe whose
 * accept completes during nng_close() after closing the others, and then
 * waits for it -- forever, if its peer stays connected.  On an nng thread.
 */
static void
broker_pipe_guard(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct broker	*br = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE && (atomic_load(&br->br_stopping) ||
	    broker_is_probe(br, p)))
		nng_pipe_close(p);
}

/* On an nng thread; ADD_PRE runs before any message of the pipe. */
static void
broker_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct broker_svc	*bs = arg;

	if (atomic_load(&bs->bs_broker->br_stopping)) {
		/* broker_close() frees what is left */
		broker_pipe_guard(p, ev, bs->bs_broker);
		return;
	}
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		/* Our own probe is no replica: refused, never counted. */
		if (broker_is_probe(bs->bs_broker, p))
			nng_pipe_close(p);
		else
			broker_pipe_add(bs, (uint32_t)nng_pipe_id(p));
	}
	else if (ev == NNG_PIPE_EV_REM_POST)
		broker_pipe_gone(bs, (uint32_t)nng_pipe_id(p));
}

/* ---- deadlines ---------------------------------------------------------- */

/*
 * Forgets what its caller no longer waits for: queued requests past their
 * deadline (never started, so never answered), and requests in flight
 * well past it (a late reply then finds no tag and is dropped).
 */
static void
broker_sweep(struct broker *br)
{
	struct broker_reqs	 gone;
	struct broker_req	*rq, *next;
	struct broker_pipe	*bp;
	uint64_t		 now = util_now_ms();
	int			 i;

	TAILQ_INIT(&gone);
	pthread_mutex_lock(&br->br_mtx);
	for (i = 0; i < SVC_COUNT; i++)
		for (rq = TAILQ_FIRST(&br->br_svc[i].bs_queue); rq != NULL;
		    rq = next) {
			next = TAILQ_NEXT(rq, rq_entry);
			if (rq->rq_deadline > now)
				continue;
			TAILQ_REMOVE(&br->br_svc[i].bs_queue, rq, rq_entry);
			br->br_svc[i].bs_queued--;
			TAILQ_INSERT_TAIL(&gone, rq, rq_entry);
		}
	for (i = 0; i < BROKER_PIPES; i++)
		for (bp = br->br_pipes[i]; bp != NULL; bp = bp->bp_hnext)
			for (rq = TAILQ_FIRST(&bp->bp_reqs); rq != NULL;
			    rq = next) {
				next = TAILQ_NEXT(rq, rq_entry);
				if (rq->rq_deadline + BROKER_GRACE_MS > now)
					continue;
				rq = broker_req_take(br, rq->rq_tag, bp);
				TAILQ_INSERT_TAIL(&gone, rq, rq_entry);
			}
	pthread_mutex_unlock(&br->br_mtx);
	while ((rq = TAILQ_FIRST(&gone)) != NULL) {
		TAILQ_REMOVE(&gone, rq, rq_entry);
		nng_msg_free(rq->rq_msg);
		broker_cx_put(rq->rq_cx);
		free(rq);
	}
}

/* ---- callbacks ---------------------------------------------------------- */

/*
 * A context's receive or send ended.  A receive hands its message on and
 * puts another context in its place, so every request socket keeps
 * BROKER_RECVS receives posted; a send gives the context back.
 */
static void
broker_cx_cb(void *arg)
{
	struct broker_cx	*cx = arg;
	struct broker		*br = cx->cx_broker;
	struct broker_cx	*nx;
	nng_msg			*m;
	int			 rv = nng_aio_result(cx->cx_aio);

	if (cx->cx_state == CX_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(cx->cx_aio));
			nng_aio_set_msg(cx->cx_aio, NULL);
			if (rv == NNG_ETIMEDOUT) {
				log_warnx("%s: an answer on the %s socket "
				    "waited %d ms for its peer to read: "
				    "dropped", __func__, cx->cx_svc == NULL ?
				    "front" : cx->cx_svc->bs_name,
				    BROKER_SEND_MS);
				pthread_mutex_lock(&br->br_mtx);
				br->br_unsent++;
				pthread_mutex_unlock(&br->br_mtx);
			}
		}
		broker_cx_put(cx);
		return;
	}
	if (rv != 0) {
		if (atomic_load(&br->br_stopping) || rv == NNG_ECLOSED)
			return;
		/* Only a stop cancels or closes a receive; anything else
		 * must not leave the socket with one fewer posted, or the
		 * broker would stop hearing that socket while it runs. */
		log_warnx("%s: a receive on the %s socket failed (%s); "
		    "receiving again", __func__, cx->cx_svc == NULL ?
		    "front" : cx->cx_svc->bs_name, nng_strerror(rv));
		broker_cx_recv(cx);
		return;
	}
	m = nng_aio_get_msg(cx->cx_aio);
	nng_aio_set_msg(cx->cx_aio, NULL);
	if ((nx = broker_cx_get(br, cx->cx_svc)) == NULL) {
		/* Out of memory: drop this one, keep receiving. */
		log_warnx("%s: out of memory, a message on the %s socket "
		    "dropped", __func__, cx->cx_svc == NULL ? "front" :
		    cx->cx_svc->bs_name);
		nng_msg_free(m);
		broker_cx_recv(cx);
		return;
	}
	if (!atomic_load(&br->br_stopping))
		broker_cx_recv(nx);
	else
		broker_cx_put(nx);
	cx->cx_state = CX_HELD;
	if (cx->cx_svc == NULL)
		broker_front(br, cx, m);
	else
		broker_back(cx->cx_svc, cx, m);
}

/* Whether event m (a frame: "<topic>\n<json>") is TOPIC_SHUTDOWN. */
static int
broker_is_shutdown(nng_msg *m)
{
	static const char	 topic[] = TOPIC_SHUTDOWN "\n";
	size_t			 n = sizeof(topic) - 1;

	return (nng_msg_len(m) > n && memcmp(nng_msg_body(m), topic, n) == 0);
}

/* The pipes open on our sockets (nng's statistics; -1 if they fail). */
static int
broker_peers(struct broker *br)
{
	nng_stat	*all, *st, *c;
	nng_socket	 socks[3 + SVC_COUNT];
	int		 i, n = 0;

	if (nng_stats_get(&all) != 0)
		return (-1);
	socks[0] = br->br_front;
	socks[1] = br->br_pub_in;
	socks[2] = br->br_pub_out;
	for (i = 0; i < SVC_COUNT; i++)
		socks[3 + i] = br->br_svc[i].bs_sock;
	for (i = 0; i < 3 + SVC_COUNT; i++) {
		if ((st = bus_stat_scope(all, "socket", "id",
		    nng_socket_id(socks[i]))) == NULL) {
			n = -1;
			break;
		}
		for (c = nng_stat_child(st); c != NULL; c = nng_stat_next(c))
			if (strcmp(nng_stat_name(c), "pipes") == 0)
				n += (int)nng_stat_value(c);
	}
	nng_stats_free(all);
	return (n);
}

/*
 * After TOPIC_SHUTDOWN went through: tells the caller once every peer has
 * left, or once br_sd_wait_ms have passed.  On the tick's thread.
 */
static void
broker_shutdown_watch(struct broker *br)
{
	void		(*fn)(void *, int) = NULL;
	void		*arg = NULL;
	uint64_t	 seen, now = util_now_ms();
	int		 left, wait_ms;

	pthread_mutex_lock(&br->br_mtx);
	seen = br->br_sd_seen;
	wait_ms = br->br_sd_wait_ms;
	pthread_mutex_unlock(&br->br_mtx);
	if (seen == 0)
		return;
	left = broker_peers(br);
	if (left != 0 && now < seen + (uint64_t)wait_ms)
		return;
	pthread_mutex_lock(&br->br_mtx);
	if (!br->br_sd_done) {
		br->br_sd_done = 1;
		fn = br->br_sd_fn;
		arg = br->br_sd_arg;
	}
	pthread_mutex_unlock(&br->br_mtx);
	if (fn == NULL)
		return;
	if (left == 0)
		log_info("every process has left, %llu ms after the shutdown "
		    "went through", (unsigned long long)(now - seen));
	else
		log_warnx("%d connections still open %d ms after the shutdown "
		    "went through", left, wait_ms);
	fn(arg, left < 0 ? 0 : left);
}

void
broker_on_shutdown(struct broker *br, int wait_ms, void (*fn)(void *, int),
    void *arg)
{
	pthread_mutex_lock(&br->br_mtx);
	br->br_sd_fn = fn;
	br->br_sd_arg = arg;
	br->br_sd_wait_ms = wait_ms;
	pthread_mutex_unlock(&br->br_mtx);
}

/* Forwards one event at a time, so subscribers see publishing order. */
static void
broker_pub_cb(void *arg)
{
	struct broker	*br = arg;
	nng_msg		*m;
	int		 rv = nng_aio_result(br->br_pub_aio), first;

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv == 0) {
		m = nng_aio_get_msg(br->br_pub_aio);
		nng_aio_set_msg(br->br_pub_aio, NULL);
		if (broker_is_shutdown(m)) {
			pthread_mutex_lock(&br->br_mtx);
			first = br->br_sd_fn != NULL && br->br_sd_seen == 0;
			if (first)
				br->br_sd_seen = util_now_ms();
			pthread_mutex_unlock(&br->br_mtx);
			if (first)
				log_info("the stack's shutdown went through: "
				    "stopping once every process has left");
		}
		/* PUB never blocks: a slow subscriber loses, not us. */
		if (nng_sendmsg(br->br_pub_out, m, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(m);
	}
	if (!atomic_load(&br->br_stopping))
		nng_recv_aio(br->br_pub_in, br->br_pub_aio);
}

static void
broker_tick_cb(void *arg)
{
	struct broker	*br = arg;
	int		 rv = nng_aio_result(br->br_tick);

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	broker_sweep(br);
	if (++br->br_ticks % BROKER_WATCH_TICKS == 0)
		broker_watch(br);
	broker_shutdown_watch(br);
	if (!atomic_load(&br->br_stopping))
		nng_sleep_aio(BROKER_TICK_MS, br->br_tick);
}

/* ---- open and close ----------------------------------------------------- */

/* Posts BROKER_RECVS receives on the front (bs NULL) or bs's socket. */
static int
broker_recv_start(struct broker *br, struct broker_svc *bs)
{
	struct broker_cx	*cx;
	int			 i;

	for (i = 0; i < BROKER_RECVS; i++) {
		if ((cx = broker_cx_get(br, bs)) == NULL)
			return (-1);
		broker_cx_recv(cx);
	}
	return (0);
}

struct broker *
broker_open(const char *base)
{
	static const char *const names[] = SVC_LIST;
	struct broker		*br;
	struct broker_svc	*bs;
	int			 i;

	if ((br = calloc(1, sizeof(*br))) == NULL)
		return (NULL);
	pthread_mutex_init(&br->br_mtx, NULL);
	/* Tags from a broker that ran before must not match ours. */
	br->br_next_tag = ((uint64_t)util_now_ns() << 20) ^
	    (uint64_t)arc4random() << 32 ^ arc4random();
	for (i = 0; i < SVC_COUNT; i++) {
		bs = &br->br_svc[i];
		bs->bs_broker = br;
		bs->bs_name = names[i];
		TAILQ_INIT(&bs->bs_ready);
		TAILQ_INIT(&bs->bs_queue);
	}
	/* Cooked REP at the front and the back: contexts (see the head
	 * comment); raw SUB and PUB for events. */
	if (nng_rep0_open(&br->br_front) != 0 ||
	    nng_sub0_open_raw(&br->br_pub_in) != 0 ||
	    nng_pub0_open_raw(&br->br_pub_out) != 0)
		goto fail;
	nng_socket_set_int(br->br_pub_in, NNG_OPT_RECVBUF, BROKER_BUF);
	nng_socket_set_int(br->br_pub_out, NNG_OPT_SENDBUF, BROKER_BUF);
	nng_pipe_notify(br->br_front, NNG_PIPE_EV_ADD_PRE, broker_pipe_guard,
	    br);
	nng_pipe_notify(br->br_pub_in, NNG_PIPE_EV_ADD_PRE, broker_pipe_guard,
	    br);
	nng_pipe_notify(br->br_pub_out, NNG_PIPE_EV_ADD_PRE, broker_pipe_guard,
	    br);
	for (i = 0; i < SVC_COUNT; i++) {
		bs = &br->br_svc[i];
		if (nng_rep0_open(&bs->bs_sock) != 0)
			goto fail;
		nng_pipe_notify(bs->bs_sock, NNG_PIPE_EV_ADD_PRE,
		    broker_pipe_ev, bs);
		nng_pipe_notify(bs->bs_sock, NNG_PIPE_EV_REM_POST,
		    broker_pipe_ev, bs);
	}
	if (nng_aio_alloc(&br->br_pub_aio, broker_pub_cb, br) != 0 ||
	    nng_aio_alloc(&br->br_tick, broker_tick_cb, br) != 0)
		goto fail;
	/* Peers: REQ at the front and back, PUB at pub, SUB at sub. */
	if (broker_listen(br, br->br_front, base, "front", BROKER_PEER_REQ) ||
	    broker_listen(br, br->br_pub_in, base, "pub", BROKER_PEER_PUB) ||
	    broker_listen(br, br->br_pub_out, base, "sub", BROKER_PEER_SUB))
		goto fail;
	for (i = 0; i < SVC_COUNT; i++)
		if (broker_listen(br, br->br_svc[i].bs_sock, base, names[i],
		    BROKER_PEER_REQ) != 0)
			goto fail;
	for (i = 0; i < SVC_COUNT; i++)
		if (broker_recv_start(br, &br->br_svc[i]) != 0)
			goto fail;
	if (broker_recv_start(br, NULL) != 0)
		goto fail;
	nng_recv_aio(br->br_pub_in, br->br_pub_aio);
	nng_sleep_aio(BROKER_TICK_MS, br->br_tick);
	log_info("broker listening on %s", base);
	return (br);
 fail:
	log_warnx("%s: could not start the broker on '%s'", __func__, base);
	broker_close(br);
	return (NULL);
}

/* Frees what the tables still hold (nothing runs any more). */
static void
broker_free_tables(struct broker *br)
{
	struct broker_pipe	*bp;
	struct broker_req	*rq;
	struct broker_cx	*cx;
	int			 i;

	for (i = 0; i < BROKER_PIPES; i++)
		while ((bp = br->br_pipes[i]) != NULL) {
			br->br_pipes[i] = bp->bp_hnext;
			while ((rq = TAILQ_FIRST(&bp->bp_reqs)) != NULL) {
				TAILQ_REMOVE(&bp->bp_reqs, rq, rq_entry);
				free(rq);
			}
			free(bp);	/* its slots: in br_cxs */
		}
	for (i = 0; i < SVC_COUNT; i++)
		while ((rq = TAILQ_FIRST(&br->br_svc[i].bs_queue)) != NULL) {
			TAILQ_REMOVE(&br->br_svc[i].bs_queue, rq, rq_entry);
			nng_msg_free(rq->rq_msg);
			free(rq);
		}
	while ((cx = br->br_cxs) != NULL) {
		br->br_cxs = cx->cx_all;
		/* A send the stop cancelled, or one posted after it. */
		nng_msg_free(nng_aio_get_msg(cx->cx_aio));
		nng_aio_free(cx->cx_aio);
		free(cx);
	}
}

/*
 * Stops every context's aio.  A receive that ends meanwhile may add a
 * context (broker_cx_cb), at the head of br_cxs: pass again until a pass
 * finds none new.  Once every aio is stopped, none can be added.
 */
static void
broker_cx_stop(struct broker *br)
{
	struct broker_cx	*cx, *head, *done = NULL;

	for (;;) {
		pthread_mutex_lock(&br->br_mtx);
		head = br->br_cxs;
		pthread_mutex_unlock(&br->br_mtx);
		if (head == done)
			break;
		for (cx = head; cx != done; cx = cx->cx_all)
			nng_aio_stop(cx->cx_aio);
		done = head;
	}
}

void
broker_close(struct broker *br)
{
	int	i;

	if (br == NULL)
		return;
	atomic_store(&br->br_stopping, 1);
	/* Cancel and wait: no callback runs after these. */
	nng_aio_stop(br->br_tick);
	nng_aio_stop(br->br_pub_aio);
	broker_cx_stop(br);
	/* The counts are final: no callback runs now.  Said before the
	 * closes, which nng 1.5.2 can hang in (nanomsg/nng#1813: the
	 * teardown watchdog then ends the process). */
	log_info("broker stopped: %llu forwarded, %llu refused, %llu lost "
	    "with their replica, %llu answers not read by their peer",
	    br->br_forwarded, br->br_refused, br->br_lost, br->br_unsent);
	/* Nothing waits on these sockets now; closing them only ends
	 * pipes, and refuses new ones (broker_pipe_guard). */
	for (i = 0; i < br->br_nlsn; i++)
		if (br->br_lsn[i].ls_fd >= 0)
			close(br->br_lsn[i].ls_fd);
	nng_close(br->br_front);
	nng_close(br->br_pub_in);
	nng_close(br->br_pub_out);
	for (i = 0; i < SVC_COUNT; i++)
		nng_close(br->br_svc[i].bs_sock);
	nng_aio_free(br->br_tick);
	nng_aio_free(br->br_pub_aio);
	broker_free_tables(br);
	pthread_mutex_destroy(&br->br_mtx);
	free(br);
}
