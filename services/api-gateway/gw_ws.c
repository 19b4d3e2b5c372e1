/*
 * gw_ws.c - the sockets of GET /api/agents/{id}/ws (see gw_ws.h for the
 * three parts of the WebSocket).
 *
 * The handshake is an ordinary request: the codec checks the headers,
 * the agent is looked up with agents.get (a JSON 400/404 when it is bad
 * or unknown), then a 101 is queued with libmicrohttpd's upgrade API and
 * its handler hands the socket to the one WebSocket thread.  That thread
 * owns every socket: one epoll set, an eventfd that other threads write
 * to when they have left something for a socket (gw_ws_post,
 * gw_ws_wake), and the timer of the chat's agents_updated poller.
 *
 * Per socket, the thread reads into a buffer the codec parses; a text
 * message goes to the chat, a ping is answered, a protocol error or the
 * peer's close starts the closing handshake (RFC 6455 7: our close frame,
 * then the peer's, or GW_WS_CLOSE_MS, then the socket is dropped).
 * Output is buffered (at most GW_WS_MAX_OUT unsent: past it the socket
 * is closed) and flushed as the socket takes it.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "gw_ws.h"
#include "log.h"
#include "services.h"

#define GW_WS_MAX_OUT		(16 * 1024 * 1024)	/* unsent bytes */
#define GW_WS_CLOSE_MS		1000	/* wait for the peer's close */

struct gw_ws {
	struct gw_ws		*w_next;	/* the thread's list */
	struct gw_ws		*w_prev;
	struct gw_ws		*w_dnext;	/* dirty list, gw_ws_mtx */
	int			 w_dirty;	/* under gw_ws_mtx */
	int			 w_fd;
	struct MHD_UpgradeResponseHandle *w_urh;
	struct gw_chat		*w_chat;
	/* what the handshake learnt (for gw_chat_new) */
	char			*w_agent_id;
	char			*w_agent_name;
	char			*w_session;	/* ?session_id= or NULL */
	char			*w_proto;	/* sub-protocol echoed */
	char			 w_accept[GW_WS_ACCEPT_LEN];
	char			 w_ip[64];

	/* WebSocket thread only */
	unsigned char		*w_in;		/* bytes not yet parsed */
	size_t			 w_inlen;
	size_t			 w_incap;
	struct gw_wsc		 w_codec;
	struct buf		 w_out;
	size_t			 w_outoff;
	int			 w_pollout;
	int			 w_closing;	/* close frame sent */
	uint64_t		 w_close_at;
	int			 w_dead;	/* drop after this pass */

	/* from other threads, under w_mtx */
	pthread_mutex_t		 w_mtx;
	struct buf		 w_pending;	/* frames for w_out */
	int			 w_overflow;	/* w_pending was full */
};

static const struct sh_config	*gw_ws_cfg;
static pthread_t		 gw_ws_thr;
static int			 gw_ws_started;
static int			 gw_ws_epfd = -1;
static int			 gw_ws_evfd = -1;
static atomic_int		 gw_ws_quit;

/* Under gw_ws_mtx: what other threads hand to the WebSocket thread. */
static pthread_mutex_t		 gw_ws_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_ws		*gw_ws_new;	/* upgraded, not yet seen */
static struct gw_ws		*gw_ws_dirty;
static int			 gw_ws_accepting;

/* WebSocket thread only. */
static struct gw_ws		*gw_ws_head;

/* ---- waking the thread ------------------------------------------------ */

static void
gw_ws_kick(void)
{
	uint64_t	one = 1;

	if (write(gw_ws_evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: %s", __func__, strerror(errno));
}

void
gw_ws_wake(struct gw_ws *ws)
{
	if (ws != NULL) {
		pthread_mutex_lock(&gw_ws_mtx);
		if (!ws->w_dirty) {
			ws->w_dirty = 1;
			ws->w_dnext = gw_ws_dirty;
			gw_ws_dirty = ws;
		}
		pthread_mutex_unlock(&gw_ws_mtx);
	}
	gw_ws_kick();
}

int
gw_ws_post(struct gw_ws *ws, json_t *v)
{
	int	rv;

	pthread_mutex_lock(&ws->w_mtx);
	if ((rv = gw_wsc_json(&ws->w_pending, v)) != 0)
		ws->w_overflow = 1;	/* the thread closes it */
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_wake(ws);
	return (rv != 0 ? -1 : 0);
}

const char *
gw_ws_ip(const struct gw_ws *ws)
{
	return (ws->w_ip);
}

/* ---- output (WebSocket thread) --------------------------------------- */

static void
gw_ws_want_out(struct gw_ws *ws, int on)
{
	struct epoll_event	ev;

	if (ws->w_pollout == on)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	ev.data.ptr = ws;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_MOD, ws->w_fd, &ev) == 0)
		ws->w_pollout = on;
}

static void
gw_ws_flush(struct gw_ws *ws)
{
	ssize_t	n;

	while (ws->w_outoff < ws->w_out.b_len) {
		n = send(ws->w_fd, ws->w_out.b_data + ws->w_outoff,
		    ws->w_out.b_len - ws->w_outoff, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				gw_ws_want_out(ws, 1);
				return;
			}
			ws->w_dead = 1;
			return;
		}
		ws->w_outoff += (size_t)n;
	}
	buf_reset(&ws->w_out);
	ws->w_outoff = 0;
	gw_ws_want_out(ws, 0);
}

void
gw_ws_send(struct gw_ws *ws, json_t *v)
{
	if (ws->w_closing || ws->w_dead) {
		json_decref(v);
		return;
	}
	if (gw_wsc_json(&ws->w_out, v) != 0) {
		log_info("websocket from %s: too much unsent output, closing",
		    ws->w_ip);
		ws->w_dead = 1;
		return;
	}
	gw_ws_flush(ws);
}

void
gw_ws_broadcast(json_t *v)
{
	struct gw_ws	*ws;

	for (ws = gw_ws_head; ws != NULL; ws = ws->w_next)
		gw_ws_send(ws, json_incref(v));
}

/* Starts the closing handshake with code and reason. */
static void
gw_ws_close(struct gw_ws *ws, int code, const char *reason)
{
	if (ws->w_closing || ws->w_dead)
		return;
	if (gw_wsc_close(&ws->w_out, code, reason) != 0) {
		ws->w_dead = 1;
		return;
	}
	ws->w_closing = 1;
	ws->w_close_at = util_now_ms() + GW_WS_CLOSE_MS;
	gw_ws_flush(ws);
	/* No more data from us: the peer sees the close, then EOF. */
	if (!ws->w_pollout)
		shutdown(ws->w_fd, SHUT_WR);
	log_debug("websocket from %s: closing %d (%s)", ws->w_ip, code,
	    reason);
}

/* ---- input (WebSocket thread) ---------------------------------------- */

/* Acts on the frames in w_in; returns the bytes consumed. */
static size_t
gw_ws_frames(struct gw_ws *ws)
{
	struct gw_wsc_event	 ev;
	unsigned char		*n;
	size_t			 used = 0;

	while (!ws->w_dead && used < ws->w_inlen) {
		gw_wsc_next(&ws->w_codec, ws->w_in + used, ws->w_inlen - used,
		    &ev);
		if (ev.e_kind == WSC_MORE) {
			/* Room for the whole frame (bounded by the codec). */
			if (ev.e_need > ws->w_incap &&
			    (n = realloc(ws->w_in, ev.e_need)) != NULL) {
				ws->w_in = n;
				ws->w_incap = ev.e_need;
			}
			break;
		}
		if (ev.e_kind == WSC_FAIL) {
			gw_ws_close(ws, ev.e_code, ev.e_reason);
			return (ws->w_inlen);
		}
		used += ev.e_used;
		if (ws->w_closing) {
			/* Draining until the peer's close. */
			if (ev.e_kind == WSC_CLOSE) {
				ws->w_dead = 1;	/* handshake complete */
				return (ws->w_inlen);
			}
			continue;
		}
		switch (ev.e_kind) {
		case WSC_TEXT:
			gw_chat_text(ws->w_chat, (const char *)ev.e_data,
			    ev.e_len);
			break;
		case WSC_PING:
			if (gw_wsc_frame(&ws->w_out, WS_OP_PONG, ev.e_data,
			    ev.e_len) != 0)
				ws->w_dead = 1;
			else
				gw_ws_flush(ws);
			break;
		case WSC_CLOSE:
			gw_ws_close(ws, ev.e_code, "");
			if (!ws->w_pollout)
				ws->w_dead = 1;	/* answered: done */
			return (ws->w_inlen);
		default:
			break;
		}
	}
	return (used);
}

/* Appends what arrived and acts on it. */
static void
gw_ws_input(struct gw_ws *ws, const void *data, size_t len)
{
	unsigned char	*n;
	size_t		 used;

	if (len > 0) {
		if (ws->w_inlen + len > ws->w_incap) {
			if ((n = realloc(ws->w_in, ws->w_inlen + len)) ==
			    NULL) {
				ws->w_dead = 1;
				return;
			}
			ws->w_in = n;
			ws->w_incap = ws->w_inlen + len;
		}
		memcpy(ws->w_in + ws->w_inlen, data, len);
		ws->w_inlen += len;
	}
	used = gw_ws_frames(ws);
	if (used >= ws->w_inlen)
		ws->w_inlen = 0;
	else if (used > 0) {
		memmove(ws->w_in, ws->w_in + used, ws->w_inlen - used);
		ws->w_inlen -= used;
	}
}

static void
gw_ws_read(struct gw_ws *ws)
{
	unsigned char	b[16384];
	ssize_t		n;
	int		i;

	/* A bounded number of reads per pass: no socket starves others. */
	for (i = 0; i < 16 && !ws->w_dead; i++) {
		n = recv(ws->w_fd, b, sizeof(b), 0);
		if (n == 0) {
			ws->w_dead = 1;	/* EOF */
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ws->w_dead = 1;
			return;
		}
		gw_ws_input(ws, b, (size_t)n);
	}
}

/* ---- sockets (WebSocket thread) -------------------------------------- */

static void
gw_ws_free(struct gw_ws *ws)
{
	if (ws == NULL)
		return;
	free(ws->w_agent_id);
	free(ws->w_agent_name);
	free(ws->w_session);
	free(ws->w_proto);
	free(ws->w_in);
	gw_wsc_release(&ws->w_codec);
	buf_release(&ws->w_out);
	buf_release(&ws->w_pending);
	pthread_mutex_destroy(&ws->w_mtx);
	free(ws);
}

static void
gw_ws_drop(struct gw_ws *ws)
{
	struct gw_ws	**pp;

	epoll_ctl(gw_ws_epfd, EPOLL_CTL_DEL, ws->w_fd, NULL);
	/* No chat callback runs after this. */
	gw_chat_free(ws->w_chat);
	ws->w_chat = NULL;
	pthread_mutex_lock(&gw_ws_mtx);
	if (ws->w_dirty) {
		for (pp = &gw_ws_dirty; *pp != NULL; pp = &(*pp)->w_dnext)
			if (*pp == ws) {
				*pp = ws->w_dnext;
				break;
			}
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	if (ws->w_prev != NULL)
		ws->w_prev->w_next = ws->w_next;
	else
		gw_ws_head = ws->w_next;
	if (ws->w_next != NULL)
		ws->w_next->w_prev = ws->w_prev;
	shutdown(ws->w_fd, SHUT_RDWR);
	/* libmicrohttpd closes the socket and ends the request. */
	MHD_upgrade_action(ws->w_urh, MHD_UPGRADE_ACTION_CLOSE);
	log_debug("websocket from %s closed", ws->w_ip);
	gw_ws_free(ws);
}

/* A socket handed over by the upgrade handler. */
static void
gw_ws_adopt(struct gw_ws *ws)
{
	struct epoll_event	ev;
	int			one = 1, fl;

	if ((fl = fcntl(ws->w_fd, F_GETFL)) != -1)
		fcntl(ws->w_fd, F_SETFL, fl | O_NONBLOCK);
	setsockopt(ws->w_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ws->w_next = gw_ws_head) != NULL)
		ws->w_next->w_prev = ws;
	ws->w_prev = NULL;
	gw_ws_head = ws;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = ws;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_ADD, ws->w_fd, &ev) != 0) {
		log_warnx("%s: epoll_ctl: %s", __func__, strerror(errno));
		ws->w_dead = 1;
		return;
	}
	if ((ws->w_chat = gw_chat_new(ws, ws->w_agent_id, ws->w_agent_name,
	    ws->w_session)) == NULL) {
		ws->w_dead = 1;
		return;
	}
	log_debug("websocket from %s for agent %s", ws->w_ip,
	    ws->w_agent_id);
	gw_chat_open(ws->w_chat);
	/* Bytes that came with the handshake. */
	if (ws->w_inlen > 0)
		gw_ws_input(ws, NULL, 0);
}

/* What other threads left for ws. */
static void
gw_ws_service(struct gw_ws *ws)
{
	pthread_mutex_lock(&ws->w_mtx);
	if (ws->w_overflow || (ws->w_pending.b_len > 0 && !ws->w_closing &&
	    buf_add(&ws->w_out, ws->w_pending.b_data, ws->w_pending.b_len) !=
	    0)) {
		log_info("websocket from %s: too much unsent output, closing",
		    ws->w_ip);
		ws->w_dead = 1;
	}
	buf_reset(&ws->w_pending);
	pthread_mutex_unlock(&ws->w_mtx);
	gw_ws_flush(ws);
	if (ws->w_chat != NULL)
		gw_chat_service(ws->w_chat, !ws->w_closing && !ws->w_dead);
}

/* ---- the thread ------------------------------------------------------ */

static void *
gw_ws_main(void *arg)
{
	struct epoll_event	 evs[64];
	struct gw_ws		*ws, *next, *batch;
	uint64_t		 now, poll_next, buf;
	int			 n, i, timeout;

	(void)arg;
	poll_next = util_now_ms() + GW_WS_POLL_MS;	/* gw_chat_poll() */
	while (!atomic_load(&gw_ws_quit)) {
		now = util_now_ms();
		timeout = poll_next > now ? (int)(poll_next - now) : 0;
		if (gw_ws_head == NULL)
			timeout = -1;	/* a new socket kicks the eventfd */
		for (ws = gw_ws_head; ws != NULL; ws = ws->w_next)
			if (ws->w_closing && timeout > GW_WS_CLOSE_MS)
				timeout = GW_WS_CLOSE_MS;
		n = epoll_wait(gw_ws_epfd, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (read(gw_ws_evfd, &buf, sizeof(buf)) < 0 &&
				    errno != EAGAIN)
					log_debug("%s: eventfd: %s", __func__,
					    strerror(errno));
				continue;
			}
			ws = evs[i].data.ptr;
			if (ws->w_dead)
				continue;
			if (evs[i].events & EPOLLOUT)
				gw_ws_flush(ws);
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				gw_ws_read(ws);
		}

		pthread_mutex_lock(&gw_ws_mtx);
		batch = gw_ws_new;
		gw_ws_new = NULL;
		pthread_mutex_unlock(&gw_ws_mtx);
		for (ws = batch; ws != NULL; ws = next) {
			next = ws->w_next;
			gw_ws_adopt(ws);
		}

		pthread_mutex_lock(&gw_ws_mtx);
		batch = gw_ws_dirty;
		gw_ws_dirty = NULL;
		for (ws = batch; ws != NULL; ws = ws->w_dnext)
			ws->w_dirty = 0;
		pthread_mutex_unlock(&gw_ws_mtx);
		/* w_dnext stays valid: only this thread frees sockets. */
		for (ws = batch; ws != NULL; ws = next) {
			next = ws->w_dnext;
			if (!ws->w_dead)
				gw_ws_service(ws);
		}

		now = util_now_ms();
		gw_chat_poll(now, &poll_next, gw_ws_head != NULL);
		for (ws = gw_ws_head; ws != NULL; ws = next) {
			next = ws->w_next;
			if (ws->w_closing && !ws->w_pollout)
				shutdown(ws->w_fd, SHUT_WR);
			if (ws->w_dead || (ws->w_closing &&
			    now >= ws->w_close_at))
				gw_ws_drop(ws);
		}
	}

	/* Stopping: a close frame for everyone, then drop. */
	pthread_mutex_lock(&gw_ws_mtx);
	gw_ws_accepting = 0;
	batch = gw_ws_new;
	gw_ws_new = NULL;
	pthread_mutex_unlock(&gw_ws_mtx);
	for (ws = batch; ws != NULL; ws = next) {
		next = ws->w_next;
		gw_ws_adopt(ws);
	}
	for (ws = gw_ws_head; ws != NULL; ws = next) {
		next = ws->w_next;
		gw_ws_close(ws, 1001, "the gateway is shutting down");
		gw_ws_drop(ws);
	}
	gw_chat_poll_stop();
	return (NULL);
}

int
gw_ws_start(const struct sh_config *cfg, struct bus_client *bc)
{
	struct epoll_event	ev;

	gw_ws_cfg = cfg;
	gw_chat_init(cfg, bc);
	if ((gw_ws_epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (gw_ws_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_warn("%s: epoll/eventfd", __func__);
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(gw_ws_epfd, EPOLL_CTL_ADD, gw_ws_evfd, &ev) != 0) {
		log_warn("%s: epoll_ctl", __func__);
		goto fail;
	}
	atomic_store(&gw_ws_quit, 0);
	gw_ws_accepting = 1;
	if (pthread_create(&gw_ws_thr, NULL, gw_ws_main, NULL) != 0) {
		log_warnx("%s: could not start the WebSocket thread",
		    __func__);
		goto fail;
	}
	gw_ws_started = 1;
	return (0);
 fail:
	gw_ws_accepting = 0;
	if (gw_ws_epfd >= 0)
		close(gw_ws_epfd);
	if (gw_ws_evfd >= 0)
		close(gw_ws_evfd);
	gw_ws_epfd = gw_ws_evfd = -1;
	return (-1);
}

void
gw_ws_stop(void)
{
	if (!gw_ws_started)
		return;
	pthread_mutex_lock(&gw_ws_mtx);
	gw_ws_accepting = 0;
	pthread_mutex_unlock(&gw_ws_mtx);
	atomic_store(&gw_ws_quit, 1);
	gw_ws_kick();
	pthread_join(gw_ws_thr, NULL);
	gw_ws_started = 0;
	close(gw_ws_epfd);
	close(gw_ws_evfd);
	gw_ws_epfd = gw_ws_evfd = -1;
}

/* ---- the handshake (MHD threads) ------------------------------------- */

int
gw_ws_auth(struct gw_req *gr)
{
	const char	*key = gw_ws_cfg != NULL ? gw_ws_cfg->api_key : "";
	char		 proto[600];

	if (*key == '\0' || gw_wsc_bearer(MHD_lookup_connection_value(
	    gr->gr_mhd, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"), proto,
	    sizeof(proto)) == NULL)
		return (-1);
	return (util_ct_equal(proto + 7, strlen(proto + 7), key,
	    strlen(key)) ? 0 : -1);
}

/* Runs on the MHD thread once the 101 is out: the socket is ours. */
static void
gw_ws_upgraded(void *cls, struct MHD_Connection *c, void *con_cls,
    const char *extra, size_t extra_len, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct gw_ws	*ws = cls;
	struct gw_req	*gr = con_cls;
	int		 ok;

	(void)c;
	if (gr != NULL && gr->gr_ctx == ws)
		gr->gr_ctx = NULL;	/* the thread owns it now */
	ws->w_fd = sock;
	ws->w_urh = urh;
	if (extra_len > 0 && (ws->w_in = malloc(extra_len)) != NULL) {
		memcpy(ws->w_in, extra, extra_len);
		ws->w_inlen = ws->w_incap = extra_len;
	}
	pthread_mutex_lock(&gw_ws_mtx);
	if ((ok = gw_ws_accepting)) {
		ws->w_next = gw_ws_new;
		gw_ws_new = ws;
	}
	pthread_mutex_unlock(&gw_ws_mtx);
	if (!ok) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		gw_ws_free(ws);
		return;
	}
	gw_ws_kick();
}

static void
gw_ws_req_cleanup(struct gw_req *gr)
{
	/* Never upgraded (refused, or the client left first). */
	gw_ws_free(gr->gr_ctx);
	gr->gr_ctx = NULL;
}

static enum MHD_Result
gw_ws_queue(struct gw_req *gr)
{
	struct gw_ws		*ws = gr->gr_ctx;
	struct MHD_Response	*resp;

	if ((resp = MHD_create_response_for_upgrade(gw_ws_upgraded, ws)) ==
	    NULL) {
		gr->gr_phase = GR_DONE;	/* the connection closes */
		return (MHD_NO);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", ws->w_accept);
	if (ws->w_proto != NULL)
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol",
		    ws->w_proto);
	return (gw_queue_response(gr, MHD_HTTP_SWITCHING_PROTOCOLS, resp));
}

/* agents.get answered (nng thread). */
static void
gw_ws_got_agent(struct gw_req *gr, int err, struct msg_rep *rep)
{
	struct gw_ws	*ws = gr->gr_ctx;
	const char	*id, *name;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_AGENT_RUNTIME, err);
		return;
	}
	if (rep->mp_status != 200)
		gw_reply_relay(gr, rep);
	else {
		id = json_string_value(json_object_get(rep->mp_body, "id"));
		name = json_string_value(json_object_get(rep->mp_body,
		    "name"));
		if (id == NULL ||
		    (ws->w_agent_id = strdup(id)) == NULL ||
		    (ws->w_agent_name = strdup(name != NULL ? name : "")) ==
		    NULL)
			gw_reply_error(gr, 502, "agent-runtime sent an agent "
			    "without an id");
		/* else: gr_status stays 0 and gw_ws_queue() answers 101 */
	}
	msg_rep_release(rep);
}

static const char *
gw_ws_hdr(struct gw_req *gr, const char *name)
{
	return (MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    name));
}

int
gw_ws_agent(struct gw_req *gr)
{
	struct gw_ws	*ws;
	char		 accept[GW_WS_ACCEPT_LEN], proto[600];
	const char	*why, *sid;
	json_t		*params, *query;

	switch (gw_wsc_handshake(gw_ws_hdr(gr, MHD_HTTP_HEADER_UPGRADE),
	    gw_ws_hdr(gr, MHD_HTTP_HEADER_CONNECTION),
	    gw_ws_hdr(gr, "Sec-WebSocket-Version"),
	    gw_ws_hdr(gr, "Sec-WebSocket-Key"), accept, &why)) {
	case WSC_HS_OK:
		break;
	case WSC_HS_NOT_WS:
		gw_reply_error(gr, 426, "%s", why);
		gr->gr_rheaders = json_pack("{s:s}", "Upgrade", "websocket");
		return (0);
	case WSC_HS_VERSION:
		gw_reply_error(gr, 426, "%s", why);
		gr->gr_rheaders = json_pack("{s:s}", "Sec-WebSocket-Version",
		    "13");
		return (0);
	case WSC_HS_KEY:
		gw_reply_error(gr, 400, "%s", why);
		return (0);
	}
	if ((params = gw_route_params(gr->gr_route, gr->gr_path)) == NULL) {
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	query = gw_query_parse(gr->gr_query);
	sid = json_string_value(json_object_get(query, "session_id"));
	if (query == NULL || (sid != NULL && !util_uuid_valid(sid))) {
		json_decref(params);
		json_decref(query);
		gw_reply_error(gr, 400, "malformed query string: session_id "
		    "must be a UUID");
		return (0);
	}
	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		json_decref(params);
		json_decref(query);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	pthread_mutex_init(&ws->w_mtx, NULL);
	ws->w_fd = -1;
	gw_wsc_init(&ws->w_codec);
	buf_init(&ws->w_out, GW_WS_MAX_OUT);
	buf_init(&ws->w_pending, GW_WS_MAX_OUT);
	memcpy(ws->w_accept, accept, sizeof(ws->w_accept));
	snprintf(ws->w_ip, sizeof(ws->w_ip), "%s", gw_conn_ip(gr->gr_conn));
	if (sid != NULL)
		ws->w_session = strdup(sid);
	if (gw_wsc_bearer(gw_ws_hdr(gr, "Sec-WebSocket-Protocol"), proto,
	    sizeof(proto)) != NULL)
		ws->w_proto = strdup(proto);
	json_decref(query);
	gr->gr_ctx = ws;
	gr->gr_cleanup = gw_ws_req_cleanup;
	gr->gr_queue = gw_ws_queue;
	return (gw_call(gr, SVC_AGENT_RUNTIME, OP_AGENTS_GET, params, NULL,
	    NULL, gw_ws_got_agent));
}
