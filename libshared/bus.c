/*
 * bus.c - REQ/REP and PUB/SUB over nng, through the broker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * Dials role at every broker listed in url (comma-separated).  Dials are
 * non-blocking: nng keeps redialing in the background, so a broker that
 * starts later, or restarts, is picked up.
 */
static int
bus_dial_all(nng_socket s, const char *url, const char *role)
{
	char	 copy[BUS_URL_MAX], addr[BUS_URL_MAX], *tok, *save = NULL;
	int	 rv, n = 0;

	if (strlen(url) >= sizeof(copy))
		return (SH_EINVAL);
	memcpy(copy, url, strlen(url) + 1);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 500);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (bus_addr(tok, role, addr, sizeof(addr)) != 0) {
			log_warnx("%s: bad bus url '%s'", __func__, tok);
			return (SH_EINVAL);
		}
		if ((rv = nng_dial(s, addr, NULL, NNG_FLAG_NONBLOCK)) != 0) {
			log_warnx("%s: could not dial '%s': %s", __func__,
			    addr, nng_strerror(rv));
			return (SH_EIO);
		}
		n++;
	}
	return (n > 0 ? 0 : SH_EINVAL);
}

static int
bus_nng_err(int rv)
{
	switch (rv) {
	case 0:			return (0);
	case NNG_ETIMEDOUT:	return (SH_ETIMEDOUT);
	case NNG_ENOMEM:	return (SH_ENOMEM);
	case NNG_ECLOSED:
	case NNG_ECANCELED:	return (SH_EUNAVAIL);
	default:		return (SH_EIO);
	}
}

/* ---- clients ---------------------------------------------------------- */

struct bus_client {
	nng_socket	bc_sock;
	atomic_int	bc_pipes;	/* brokers connected now */
};

/* Counts connected brokers, so a call with none fails at once instead of
 * waiting out its deadline. */
static void
bus_client_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct bus_client	*bc = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&bc->bc_pipes, 1);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_fetch_sub(&bc->bc_pipes, 1);
}

/* Gives a just-opened client a moment to finish its first dial. */
static void
bus_client_settle(struct bus_client *bc)
{
	int	i;

	for (i = 0; i < 100 && atomic_load(&bc->bc_pipes) == 0; i++)
		util_sleep_ms(1);
}

struct bus_client *
bus_client_open(const char *url)
{
	struct bus_client	*bc;

	if ((bc = calloc(1, sizeof(*bc))) == NULL)
		return (NULL);
	if (nng_req0_open(&bc->bc_sock) != 0) {
		free(bc);
		return (NULL);
	}
	/* Resends would repeat non-idempotent work; deadlines rule. */
	nng_socket_set_ms(bc->bc_sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	nng_pipe_notify(bc->bc_sock, NNG_PIPE_EV_ADD_POST, bus_client_pipe_ev,
	    bc);
	nng_pipe_notify(bc->bc_sock, NNG_PIPE_EV_REM_POST, bus_client_pipe_ev,
	    bc);
	if (bus_dial_all(bc->bc_sock, url, "front") != 0) {
		nng_close(bc->bc_sock);
		free(bc);
		return (NULL);
	}
	bus_client_settle(bc);
	return (bc);
}

void
bus_client_close(struct bus_client *bc)
{
	if (bc == NULL)
		return;
	nng_close(bc->bc_sock);
	free(bc);
}

static nng_msg *
bus_frame_msg(const char *svc, json_t *req)
{
	nng_msg	*m = NULL;
	char	*data;
	size_t	 len;

	if ((data = msg_frame(svc, req, &len)) == NULL)
		return (NULL);
	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, data, len) != 0) {
		nng_msg_free(m);
		m = NULL;
	}
	free(data);
	return (m);
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

int
bus_call(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, struct msg_rep *rep)
{
	nng_ctx		 ctx;
	nng_aio		*aio = NULL;
	nng_msg		*m;
	uint64_t	 start = util_now_ms(), used;
	int		 rv, rc = SH_EIO;

	memset(rep, 0, sizeof(*rep));
	if (atomic_load(&bc->bc_pipes) == 0)
		return (SH_EUNAVAIL);
	if ((m = bus_frame_msg(svc, req)) == NULL)
		return (SH_ENOMEM);
	if (nng_ctx_open(&ctx, bc->bc_sock) != 0) {
		nng_msg_free(m);
		return (SH_EIO);
	}
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		nng_msg_free(m);
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
	rc = bus_decode_reply(nng_aio_get_msg(aio), rep, 0);
 done:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return (rc);
}

enum bus_call_state { BC_SEND, BC_RECV, BC_DONE };

struct bus_call {
	nng_aio			*ca_aio;
	nng_ctx			 ca_ctx;
	enum bus_call_state	 ca_state;
	uint64_t		 ca_deadline;	/* monotonic ms */
	bus_call_cb		 ca_cb;
	void			*ca_arg;
	int			 ca_raw;	/* body left as text */
};

static void
bus_call_finish(struct bus_call *ca, int err, struct msg_rep *rep)
{
	ca->ca_state = BC_DONE;
	ca->ca_cb(ca->ca_arg, err, rep);
}

/* Runs on an nng thread for each completed step. */
static void
bus_call_step(void *arg)
{
	struct bus_call	*ca = arg;
	struct msg_rep	 rep;
	uint64_t	 now;
	int		 rv;

	rv = nng_aio_result(ca->ca_aio);
	switch (ca->ca_state) {
	case BC_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(ca->ca_aio));
			bus_call_finish(ca, bus_nng_err(rv), NULL);
			return;
		}
		now = util_now_ms();
		ca->ca_state = BC_RECV;
		nng_aio_set_timeout(ca->ca_aio, now >= ca->ca_deadline ? 1 :
		    (nng_duration)(ca->ca_deadline - now));
		nng_ctx_recv(ca->ca_ctx, ca->ca_aio);
		return;
	case BC_RECV:
		if (rv != 0) {
			bus_call_finish(ca, bus_nng_err(rv), NULL);
			return;
		}
		if (bus_decode_reply(nng_aio_get_msg(ca->ca_aio), &rep,
		    ca->ca_raw) != 0) {
			bus_call_finish(ca, SH_EPROTO, NULL);
			return;
		}
		bus_call_finish(ca, 0, &rep);
		return;
	case BC_DONE:
		return;
	}
}

static struct bus_call *
bus_call_begin(struct bus_client *bc, const char *svc, json_t *req,
    int timeout_ms, int raw, bus_call_cb cb, void *arg)
{
	struct bus_call	*ca;
	nng_msg		*m;

	if (atomic_load(&bc->bc_pipes) == 0)
		return (NULL);
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return (NULL);
	ca->ca_raw = raw;
	ca->ca_cb = cb;
	ca->ca_arg = arg;
	ca->ca_deadline = util_now_ms() + (uint64_t)timeout_ms;
	if (nng_ctx_open(&ca->ca_ctx, bc->bc_sock) != 0) {
		free(ca);
		return (NULL);
	}
	if (nng_aio_alloc(&ca->ca_aio, bus_call_step, ca) != 0 ||
	    (m = bus_frame_msg(svc, req)) == NULL) {
		nng_aio_free(ca->ca_aio);
		nng_ctx_close(ca->ca_ctx);
		free(ca);
		return (NULL);
	}
	ca->ca_state = BC_SEND;
	nng_aio_set_msg(ca->ca_aio, m);
	nng_aio_set_timeout(ca->ca_aio, timeout_ms);
	nng_ctx_send(ca->ca_ctx, ca->ca_aio);
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
	if (ca == NULL)
		return;
	nng_aio_stop(ca->ca_aio);	/* waits for a running callback */
	nng_aio_free(ca->ca_aio);
	nng_ctx_close(ca->ca_ctx);
	free(ca);
}

/* ---- servers ---------------------------------------------------------- */

struct bus_worker {
	struct bus_server	*bw_server;
	nng_aio			*bw_recv;	/* set while a receive is pending */
	nng_ctx			 bw_ctx;	/* the context being served */
	int			 bw_deferred;	/* bus_defer() took bw_ctx */
	pthread_t		 bw_thread;
	void			*bw_state;
	int			 bw_index;
	int			 bw_started;
};

struct bus_server {
	nng_socket		 bs_sock;
	const char		*bs_svc;
	int			 bs_n;
	struct bus_worker	*bs_workers;
	bus_handler_fn		 bs_fn;
	bus_worker_fini_fn	 bs_fini;
	pthread_mutex_t		 bs_mtx;	/* guards bs_stop, bw_recv */
	int			 bs_stop;
};

/* The worker whose handler runs on this thread (for bus_defer()). */
static __thread struct bus_worker	*bus_current;

struct bus_deferred {
	nng_ctx		 bd_ctx;
	nng_aio		*bd_aio;
};

static nng_msg *
bus_encode_reply(json_t *rep)
{
	nng_msg	*out = NULL;
	char	*js;

	if ((js = json_dumps(rep, MSG_JSON_FLAGS)) == NULL)
		return (NULL);
	if (nng_msg_alloc(&out, 0) != 0 ||
	    nng_msg_append(out, js, strlen(js)) != 0) {
		nng_msg_free(out);
		out = NULL;
	}
	free(js);
	return (out);
}

static nng_msg *
bus_handle(struct bus_worker *bw, nng_msg *in)
{
	struct bus_server	*bs = bw->bw_server;
	struct msg_req		 req;
	const char		*payload;
	char			 pfx[64], err[256];
	size_t			 plen;
	json_t			*rep = NULL;
	nng_msg			*out = NULL;

	payload = msg_unframe(nng_msg_body(in), nng_msg_len(in), pfx,
	    sizeof(pfx), &plen);
	if (payload == NULL || strcmp(pfx, bs->bs_svc) != 0) {
		log_warnx("%s: dropping unframed or misrouted request",
		    __func__);
		return (NULL);
	}
	if (msg_req_decode(payload, plen, &req, err, sizeof(err)) != 0) {
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
	if (rep == NULL)
		return (NULL);
	out = bus_encode_reply(rep);
	json_decref(rep);
	return (out);
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
	if (nng_aio_alloc(&bd->bd_aio, NULL, NULL) != 0) {
		free(bd);
		return (NULL);
	}
	bd->bd_ctx = bw->bw_ctx;
	bw->bw_deferred = 1;
	return (bd);
}

int
bus_deferred_reply(struct bus_deferred *bd, json_t *rep)
{
	nng_msg	*out = NULL;
	int	 rv = SH_ENOMEM;

	if (bd == NULL)
		return (SH_EINVAL);
	if (rep != NULL && (out = bus_encode_reply(rep)) != NULL) {
		nng_aio_set_msg(bd->bd_aio, out);
		nng_aio_set_timeout(bd->bd_aio, 5000);
		nng_ctx_send(bd->bd_ctx, bd->bd_aio);
		nng_aio_wait(bd->bd_aio);
		if ((rv = nng_aio_result(bd->bd_aio)) != 0) {
			nng_msg_free(nng_aio_get_msg(bd->bd_aio));
			rv = SH_EUNAVAIL;
		}
	}
	nng_ctx_close(bd->bd_ctx);
	nng_aio_free(bd->bd_aio);
	free(bd);
	return (rv);
}

static void *
bus_worker_main(void *arg)
{
	struct bus_worker	*bw = arg;
	struct bus_server	*bs = bw->bw_server;
	nng_ctx			 ctx;
	nng_aio			*aio;
	nng_msg			*in, *out;
	int			 rv;

	if (nng_ctx_open(&ctx, bs->bs_sock) != 0)
		return (NULL);
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		nng_ctx_close(ctx);
		return (NULL);
	}
	for (;;) {
		if (bw->bw_deferred) {
			/* The handler kept the context: take a new one. */
			bw->bw_deferred = 0;
			if (nng_ctx_open(&ctx, bs->bs_sock) != 0) {
				nng_aio_free(aio);
				return (NULL);
			}
		}
		bw->bw_ctx = ctx;
		/*
		 * The receive starts under the lock, so bus_server_close()
		 * either sees it pending and cancels it, or we see bs_stop
		 * first: an idle worker sleeps without polling, and a busy
		 * one still sends its reply before it stops.
		 */
		pthread_mutex_lock(&bs->bs_mtx);
		if (bs->bs_stop) {
			pthread_mutex_unlock(&bs->bs_mtx);
			break;
		}
		nng_ctx_recv(ctx, aio);
		bw->bw_recv = aio;
		pthread_mutex_unlock(&bs->bs_mtx);
		nng_aio_wait(aio);
		pthread_mutex_lock(&bs->bs_mtx);
		bw->bw_recv = NULL;
		pthread_mutex_unlock(&bs->bs_mtx);
		if ((rv = nng_aio_result(aio)) != 0) {
			if (rv == NNG_ECANCELED || rv == NNG_ECLOSED)
				break;
			continue;
		}
		in = nng_aio_get_msg(aio);
		out = bus_handle(bw, in);
		nng_msg_free(in);
		if (out == NULL || bw->bw_deferred) {
			nng_msg_free(out);
			continue;
		}
		nng_aio_set_msg(aio, out);
		nng_aio_set_timeout(aio, 5000);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		nng_aio_set_timeout(aio, NNG_DURATION_DEFAULT);
		if (nng_aio_result(aio) != 0)
			nng_msg_free(nng_aio_get_msg(aio));
	}
	nng_aio_free(aio);
	if (!bw->bw_deferred)
		nng_ctx_close(ctx);
	return (NULL);
}

struct bus_server *
bus_server_open(const char *url, const char *svc, int nworkers,
    bus_handler_fn fn, bus_worker_init_fn init, bus_worker_fini_fn fini,
    void *arg)
{
	struct bus_server	*bs;
	struct bus_worker	*bw;
	int			 i;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		return (NULL);
	pthread_mutex_init(&bs->bs_mtx, NULL);
	bs->bs_svc = svc;
	bs->bs_fn = fn;
	bs->bs_fini = fini;
	bs->bs_n = nworkers;
	if ((bs->bs_workers = calloc((size_t)nworkers, sizeof(*bw))) == NULL)
		goto fail;
	if (nng_rep0_open(&bs->bs_sock) != 0) {
		free(bs->bs_workers);
		goto fail;
	}
	if (bus_dial_all(bs->bs_sock, url, svc) != 0)
		goto fail_sock;
	for (i = 0; i < nworkers; i++) {
		bw = &bs->bs_workers[i];
		bw->bw_server = bs;
		bw->bw_index = i;
		bw->bw_state = init != NULL ? init(arg, i) : arg;
		if (init != NULL && bw->bw_state == NULL)
			goto fail_workers;
		if (pthread_create(&bw->bw_thread, NULL, bus_worker_main,
		    bw) != 0) {
			if (fini != NULL)
				fini(bw->bw_state);
			goto fail_workers;
		}
		bw->bw_started = 1;
	}
	return (bs);
 fail_workers:
	bus_server_close(bs);
	return (NULL);
 fail_sock:
	nng_close(bs->bs_sock);
	free(bs->bs_workers);
 fail:
	pthread_mutex_destroy(&bs->bs_mtx);
	free(bs);
	return (NULL);
}

void
bus_server_close(struct bus_server *bs)
{
	int	i;

	if (bs == NULL)
		return;
	pthread_mutex_lock(&bs->bs_mtx);
	bs->bs_stop = 1;
	for (i = 0; i < bs->bs_n; i++)
		if (bs->bs_workers[i].bw_recv != NULL)
			nng_aio_cancel(bs->bs_workers[i].bw_recv);
	pthread_mutex_unlock(&bs->bs_mtx);
	for (i = 0; i < bs->bs_n; i++) {
		if (!bs->bs_workers[i].bw_started)
			continue;
		pthread_join(bs->bs_workers[i].bw_thread, NULL);
		if (bs->bs_fini != NULL)
			bs->bs_fini(bs->bs_workers[i].bw_state);
	}
	nng_close(bs->bs_sock);
	pthread_mutex_destroy(&bs->bs_mtx);
	free(bs->bs_workers);
	free(bs);
}

/* ---- publish / subscribe ------------------------------------------------ */

struct bus_pub {
	nng_socket	bp_sock;
};

struct bus_sub {
	nng_socket	bb_sock;
};

struct bus_pub *
bus_pub_open(const char *url)
{
	struct bus_pub	*bp;

	if ((bp = calloc(1, sizeof(*bp))) == NULL)
		return (NULL);
	if (nng_pub0_open(&bp->bp_sock) != 0) {
		free(bp);
		return (NULL);
	}
	if (bus_dial_all(bp->bp_sock, url, "pub") != 0) {
		nng_close(bp->bp_sock);
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
	nng_close(bp->bp_sock);
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
	if (nng_sub0_open(&bb->bb_sock) != 0) {
		free(bb);
		return (NULL);
	}
	if (bus_dial_all(bb->bb_sock, url, "sub") != 0) {
		nng_close(bb->bb_sock);
		free(bb);
		return (NULL);
	}
	return (bb);
}

void
bus_sub_close(struct bus_sub *bb)
{
	if (bb == NULL)
		return;
	nng_close(bb->bb_sock);
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
	nng_socket_set_ms(bb->bb_sock, NNG_OPT_RECVTIMEO, timeout_ms);
	if ((rv = nng_recvmsg(bb->bb_sock, &m, 0)) != 0)
		return (bus_nng_err(rv));
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

void
bus_fini(void)
{
	nng_fini();
}
