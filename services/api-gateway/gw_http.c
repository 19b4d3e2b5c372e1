/*
 * gw_http.c - the HTTP side: the libmicrohttpd daemon, one struct gw_req
 * per request, the checks every request goes through, and the relay of
 * bus operations with suspend/resume.
 *
 * libmicrohttpd (0.9.75, epoll, a pool of api.threads threads) calls us:
 *
 *	gw_http_uri		request line read: allocate the gw_req
 *	gw_http_handler		first call: headers are in, run every
 *				check that needs no body; then once per
 *				body chunk; then a final call: parse the
 *				body and dispatch
 *	gw_http_completed	the request is over: metrics, free
 *
 * A response must be queued from the final call, not the first: one
 * queued while a body may still follow makes libmicrohttpd close the
 * connection afterwards, which is right for a refused upload but would
 * cost every keep-alive client its connection.  So the first call only
 * records its verdict, unless a body is on its way.
 *
 * A bus operation suspends the connection (MHD_suspend_connection) and
 * starts an asynchronous call; its callback, on an nng thread, fills the
 * reply and resumes the connection; libmicrohttpd then calls the handler
 * again, which queues the reply.  No MHD thread ever waits on the bus.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bus.h"
#include "err.h"
#include "gateway.h"
#include "log.h"

#define GW_MAX_HEADERS		100
#define GW_MAX_QUERY_PARAMS	100
#define GW_PATH_MAX		4096
#define GW_RL_DEFAULT_COST	5	/* kernel.md 6.2: "anything else" */
/*
 * libmicrohttpd's idle timeout only backs up gw_conn.c's reaper, which
 * answers a request still arriving after api.connection_timeout_secs
 * with a 408 and closes an idle keep-alive connection.  Were the two
 * equal, libmicrohttpd would usually close a client that stalled
 * mid-body first, and silently: its timer runs from the last byte, which
 * is about when the reaper's deadline started.
 */
#define GW_MHD_TIMEOUT_MARGIN	5	/* seconds */
#define GW_STOP_NOBUS_MS	500	/* gw_http_stop(): no broker, give up */
/*
 * libmicrohttpd keeps a request's line and headers in a per-connection
 * pool (api.header_memory_bytes) and clears all of it between keep-alive
 * requests, so its size is paid on every request: 32 KiB keeps
 * GET /api/health near the bare server's rate, 256 KiB costs half of it
 * (docs/benchmarks.md).  Past the pool (about 500 short headers, or a
 * request line near 30 KB) libmicrohttpd answers a bare 431 or 414
 * itself and closes; everyone else is still served.
 */

#define GW_CSP	"default-src 'self'; script-src 'self'; style-src 'self' " \
	"'unsafe-inline' https://fonts.googleapis.com https://fonts.gstatic.com; " \
	"img-src 'self' data: blob:; connect-src 'self' ws://localhost:* " \
	"ws://127.0.0.1:* wss://localhost:* wss://127.0.0.1:*; font-src 'self' " \
	"https://fonts.gstatic.com; media-src 'self' blob:; frame-src 'self' " \
	"blob:; object-src 'none'; base-uri 'self'; form-action 'self'"

/* The dashboard's (gw_dash.c): its pages need nothing else. */
#define GW_DASH_CSP "default-src 'self'; script-src 'self'; " \
	"style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " \
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " \
	"form-action 'self'"

const struct gw_header gw_sec_headers[] = {
	{ "x-content-type-options", "nosniff" },
	{ "x-frame-options", "DENY" },
	{ "x-xss-protection", "1; mode=block" },
	{ "referrer-policy", "strict-origin-when-cross-origin" },
	{ "cache-control", "no-store, no-cache, must-revalidate" },
	{ "strict-transport-security", "max-age=63072000; includeSubDomains" },
	{ "content-security-policy", GW_CSP },
	{ "x-api-version", "v1" },
	{ NULL, NULL }
};

struct gw_http {
	const struct sh_config	*h_cfg;
	struct bus_client	*h_bus;
	struct MHD_Daemon	*h_mhd;
	pthread_mutex_t		 h_mtx;
	int			 h_stopping;	/* under h_mtx */
	int			 h_waiting;	/* suspended, under h_mtx */
	atomic_int		 h_inflight;
};

static struct gw_http	gw_h = { .h_mtx = PTHREAD_MUTEX_INITIALIZER };

/* ---- replies --------------------------------------------------------- */

static void
gw_reply_set(struct gw_req *gr, int status, char *data, size_t len,
    const char *ctype)
{
	free(gr->gr_rdata);
	free(gr->gr_rctype);
	gr->gr_status = status;
	gr->gr_rdata = data;
	gr->gr_rlen = len;
	gr->gr_rctype = ctype != NULL ? strdup(ctype) : NULL;
}

void
gw_reply_json(struct gw_req *gr, int status, json_t *body)
{
	char	*js;

	js = body != NULL ? json_dumps(body, MSG_JSON_FLAGS) :
	    NULL;
	json_decref(body);
	if (js == NULL) {
		status = 500;
		js = strdup("{\"error\":\"out of memory\"}");
	}
	gw_reply_set(gr, status, js, js != NULL ? strlen(js) : 0, NULL);
}

json_t *
gw_error_body(const char *path, int status, const char *msg)
{
	if (gw_openai_path(path))
		return (gw_openai_error(status, NULL, NULL, msg));
	return (json_pack("{s:s}", "error", msg));
}

void
gw_reply_error(struct gw_req *gr, int status, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_reply_json(gr, status, gw_error_body(gr->gr_path, status, msg));
}

void
gw_reply_data(struct gw_req *gr, int status, const char *ctype,
    const char *data, size_t len)
{
	char	*copy;

	if ((copy = malloc(len + 1)) == NULL) {
		gw_reply_json(gr, 500, NULL);
		return;
	}
	memcpy(copy, data, len);
	copy[len] = '\0';
	gw_reply_set(gr, status, copy, len, ctype);
}

void
gw_reply_relay(struct gw_req *gr, struct msg_rep *rep)
{
	int	 status = rep->mp_status;
	json_t	*body;
	char	*text;
	size_t	 len;

	if (status < 100 || status > 599) {
		gw_reply_error(gr, 502, "service '%s' gave an invalid status "
		    "%d", gr->gr_svc, status);
		return;
	}
	if (rep->mp_ctype != NULL && json_is_string(body = msg_rep_body(rep)))
		gw_reply_data(gr, status, rep->mp_ctype,
		    json_string_value(body), json_string_length(body));
	else if ((status == 204 || status == 304) &&
	    (rep->mp_body_text != NULL ? rep->mp_body_len == 4 &&
	    memcmp(rep->mp_body_text, "null", 4) == 0 :
	    json_is_null(rep->mp_body)))
		gw_reply_set(gr, status, NULL, 0, NULL);
	else if ((text = msg_rep_body_text(rep, &len)) == NULL)
		gw_reply_json(gr, 500, NULL);
	else {
		/* The service's own bytes when it sent text: the body is
		 * relayed, never decoded and written again. */
		gw_reply_set(gr, status, text, len, rep->mp_ctype);
	}
	if (json_is_object(rep->mp_headers)) {
		json_decref(gr->gr_rheaders);
		gr->gr_rheaders = json_incref(rep->mp_headers);
	}
}

void
gw_reply_bus_error(struct gw_req *gr, const char *svc, int err)
{
	switch (err) {
	case SH_ETIMEDOUT:
		gw_reply_error(gr, 503, "service '%s' did not answer in time",
		    svc);
		break;
	case SH_EPROTO:
		gw_reply_error(gr, 502, "service '%s' sent a malformed reply",
		    svc);
		break;
	default:
		gw_reply_error(gr, 503, "service '%s' unavailable", svc);
		break;
	}
}

/* ---- the bus --------------------------------------------------------- */

/* Runs on an nng thread: fill the reply, wake the connection. */
static void
gw_http_bus_cb(void *arg, int err, struct msg_rep *rep)
{
	struct gw_req	*gr = arg;

	if (gr->gr_done != NULL)
		gr->gr_done(gr, err, rep);
	else if (err != 0)
		gw_reply_bus_error(gr, gr->gr_svc, err);
	else {
		gw_reply_relay(gr, rep);
		msg_rep_release(rep);
	}
	if (err != 0 && err != SH_ETIMEDOUT)
		log_debug("%s: %s %s: %s", __func__, gr->gr_svc, gr->gr_id,
		    sh_strerror(err));
	MHD_resume_connection(gr->gr_mhd);
}

int
gw_call(struct gw_req *gr, const char *svc, const char *op, json_t *params,
    json_t *query, json_t *body, void (*done)(struct gw_req *, int,
    struct msg_rep *))
{
	json_t	*env, *caller, *idem;
	int	 timeout = (int)gw_h.h_cfg->bus_timeout_ms, stopping;

	if (gr->gr_route != NULL &&
	    (gr->gr_route->rt_flags & (GW_RT_TURN | GW_RT_LONG)))
		timeout = (int)(gw_h.h_cfg->turn_timeout_secs * 1000);

	caller = json_pack("{s:s, s:s, s:s}", "ip", gw_conn_ip(gr->gr_conn),
	    "principal", gr->gr_principal != NULL ? gr->gr_principal :
	    "anonymous", "request_id", gr->gr_id);
	if (caller != NULL && (idem = gw_idem_caller(gr)) != NULL) {
		json_object_update(caller, idem);
		json_decref(idem);
	}
	env = msg_request(op, NULL, util_wall_ms() + timeout, caller, params,
	    query, body);
	if (env == NULL) {
		gw_reply_error(gr, 500, "could not build the request for '%s'",
		    op);
		return (0);
	}
	pthread_mutex_lock(&gw_h.h_mtx);
	if (!(stopping = gw_h.h_stopping))
		gw_h.h_waiting++;
	pthread_mutex_unlock(&gw_h.h_mtx);
	if (stopping) {
		json_decref(env);
		gw_reply_error(gr, 503, "shutting down");
		return (0);
	}
	gr->gr_svc = svc;
	gr->gr_done = done;
	gr->gr_phase = GR_WAIT;
	/* Suspend first: the callback may resume before we return. */
	MHD_suspend_connection(gr->gr_mhd);
	/* A plain relay never looks inside the reply's body. */
	gr->gr_call = (done == NULL ? bus_call_start_raw : bus_call_start)(
	    gw_h.h_bus, svc, env, timeout, gw_http_bus_cb, gr);
	json_decref(env);
	if (gr->gr_call == NULL) {
		gw_reply_bus_error(gr, svc, SH_EUNAVAIL);
		MHD_resume_connection(gr->gr_mhd);
	}
	return (GW_ASYNC);
}

int
gw_suspend(struct gw_req *gr)
{
	int	stopping;

	pthread_mutex_lock(&gw_h.h_mtx);
	if (!(stopping = gw_h.h_stopping))
		gw_h.h_waiting++;
	pthread_mutex_unlock(&gw_h.h_mtx);
	if (stopping) {
		gw_reply_error(gr, 503, "shutting down");
		return (0);
	}
	gr->gr_phase = GR_WAIT;
	MHD_suspend_connection(gr->gr_mhd);
	return (GW_ASYNC);
}

/* ---- requests -------------------------------------------------------- */

static struct gw_req *
gw_req_new(struct MHD_Connection *c, const char *uri)
{
	struct gw_req	*gr;

	if ((gr = calloc(1, sizeof(*gr))) == NULL)
		return (NULL);
	if ((gr->gr_uri = strdup(uri)) == NULL) {
		free(gr);
		return (NULL);
	}
	gr->gr_mhd = c;
	gr->gr_conn = gw_conn_of(c);
	gr->gr_start_ns = util_now_ns();
	util_uuid4(gr->gr_id);
	buf_init(&gr->gr_body, (size_t)gw_h.h_cfg->max_request_body_bytes);
	return (gr);
}

static void
gw_req_free(struct gw_req *gr)
{
	if (gr == NULL)
		return;
	if (gr->gr_cleanup != NULL)
		gr->gr_cleanup(gr);
	/* Waits for a callback still running on an nng thread. */
	bus_call_free(gr->gr_call);
	buf_release(&gr->gr_body);
	json_decref(gr->gr_rheaders);
	free(gr->gr_rdata);
	free(gr->gr_rctype);
	free(gr->gr_path);
	free(gr->gr_uri);
	free(gr);
}

static int
gw_is_json_ctype(const char *ct)
{
	size_t	n;

	if (ct == NULL)
		return (0);
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", 16) != 0)
		return (0);
	ct += 16;
	n = strspn(ct, " ");
	return (ct[n] == '\0' || ct[n] == ';');
}

/* What one pass over a request's headers learns. */
struct gw_hdrs {
	int		 h_n;		/* headers */
	int		 h_ncl;		/* Content-Length, Transfer-Encoding */
	int		 h_nte;
	const char	*h_cl;		/* the first of each */
	const char	*h_te;
	int		 h_cl_differ;
	int		 h_forwarded;	/* X-Forwarded-For, X-Real-IP, Forwarded */
};

static enum MHD_Result
gw_hdrs_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct gw_hdrs	*h = cls;

	(void)kind;
	h->h_n++;
	switch (key[0]) {
	case 'C':
	case 'c':
		if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
			break;
		if (h->h_ncl++ == 0)
			h->h_cl = value;
		else if (strcmp(h->h_cl, value) != 0)
			h->h_cl_differ = 1;
		break;
	case 'T':
	case 't':
		if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 &&
		    h->h_nte++ == 0)
			h->h_te = value;
		break;
	case 'X':
	case 'x':
	case 'F':
	case 'f':
		if (strcasecmp(key, "X-Forwarded-For") == 0 ||
		    strcasecmp(key, "X-Real-IP") == 0 ||
		    strcasecmp(key, "Forwarded") == 0)
			h->h_forwarded = 1;
		break;
	}
	return (MHD_YES);
}

/*
 * The body's framing, as libmicrohttpd will read it: a Content-Length
 * (the same value however often it is sent), or "Transfer-Encoding:
 * chunked" alone.  0 with *lenp set, or -1 with a 400 that closes the
 * connection.  (A Content-Length libmicrohttpd cannot read never gets
 * here: gw_head.c answers it before.)
 */
static int
gw_framing(struct gw_req *gr, const struct gw_hdrs *h, long long *lenp)
{
	const char	*msg = NULL;

	if (h->h_cl_differ)
		msg = "conflicting Content-Length headers";
	else if (h->h_nte > 0 && h->h_ncl > 0)
		msg = "both Content-Length and Transfer-Encoding";
	else if (h->h_nte > 1 || (h->h_nte == 1 &&
	    strcasecmp(h->h_te, "chunked") != 0))
		msg = "unsupported Transfer-Encoding: only 'chunked' is read";
	else if (h->h_ncl > 0 && util_strtonum(h->h_cl, 0,
	    0x7fffffffffffffffLL, lenp) != 0)
		msg = "invalid Content-Length";
	if (msg != NULL) {
		gr->gr_close = 1;
		gr->gr_body_expected = 1;	/* queue now, then close */
		gw_reply_error(gr, 400, "%s", msg);
		return (-1);
	}
	if (h->h_nte > 0)
		gr->gr_body_expected = 1;
	else if (h->h_ncl > 0) {
		gr->gr_body_len_known = 1;
		gr->gr_body_expected = *lenp > 0;
	}
	return (0);
}

/* The number of parameters in a query string ("a=1&b&&c" has 3). */
static int
gw_query_count(const char *qs)
{
	int	n = 0;

	for (; qs != NULL && *qs != '\0'; qs++)
		if (*qs != '&' && (qs[1] == '&' || qs[1] == '\0'))
			n++;
	return (n);
}

/*
 * The first call: everything that can be decided from the request line
 * and headers, in the order of kernel.md 6.1.  Leaves a reply in gr when
 * the request is refused.
 */
static void
gw_req_headers(struct gw_req *gr, const char *method)
{
	const struct sh_config	*cfg = gw_h.h_cfg;
	struct MHD_Connection	*c = gr->gr_mhd;
	struct gw_match		 m;
	struct gw_hdrs		 h;
	const char		*q, *rawpath = gr->gr_uri, *ctype;
	size_t			 plen;
	long long		 len = 0;
	int			 nq, found;

	gr->gr_method = gw_method_parse(method, &gr->gr_head);
	if ((q = strchr(gr->gr_uri, '?')) != NULL)
		gr->gr_query = q + 1;
	plen = q != NULL ? (size_t)(q - gr->gr_uri) : strlen(gr->gr_uri);
	if ((gr->gr_path = malloc(plen + 1)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return;
	}
	if (plen == 0 || rawpath[0] != '/' || plen > GW_PATH_MAX ||
	    gw_path_normalise(rawpath, plen, gr->gr_path, plen + 1) != 0) {
		gr->gr_path[0] = '\0';
		gw_reply_error(gr, 400, "malformed request target");
		return;
	}

	/* Framing (RFC 9112 6.1, 6.3): libmicrohttpd reads the body by the
	 * first Content-Length, or as chunked; anything it would read
	 * differently from a proxy in front is refused, and the connection
	 * closed, since the body's end is unknown. */
	memset(&h, 0, sizeof(h));
	MHD_get_connection_values(c, MHD_HEADER_KIND, gw_hdrs_one, &h);
	if (gw_framing(gr, &h, &len) != 0)
		return;

	if (h.h_n > GW_MAX_HEADERS) {
		gw_reply_error(gr, 431, "too many request headers: %d (the "
		    "limit is %d)", h.h_n, GW_MAX_HEADERS);
		return;
	}
	if ((nq = gw_query_count(gr->gr_query)) > GW_MAX_QUERY_PARAMS) {
		gw_reply_error(gr, 400, "too many query parameters: %d (the "
		    "limit is %d)", nq, GW_MAX_QUERY_PARAMS);
		return;
	}
	if (gw_conn_over_limit(gr->gr_conn)) {
		gw_reply_error(gr, 429, "too many connections from this "
		    "address");
		return;
	}

	found = gw_route_match(gr->gr_path, gr->gr_method, &m) == 0;
	gr->gr_route = m.m_route;
	gr->gr_allow = m.m_allow;

	/* The rate limit: the route's cost, or the default for a path or
	 * method no route takes. */
	gr->gr_rl_exempt = cfg->rl_exempt_loopback &&
	    gw_conn_loopback(gr->gr_conn) && !h.h_forwarded;
	if (!gw_rl_exempt_path(gr->gr_path) && !gr->gr_rl_exempt &&
	    gw_rl_charge(gw_conn_key(gr->gr_conn), m.m_route != NULL ?
	    m.m_route->rt_cost : GW_RL_DEFAULT_COST) != 0) {
		gw_metrics_rate_limited();
		gr->gr_retry_after = (int)cfg->rl_retry_after_secs;
		gw_reply_error(gr, 429, "Rate limit exceeded");
		return;
	}
	/* The login brute-force limiter: its own window (gw_ratelimit.c).
	 * A dashboard login counts its failures only (gw_dashauth.c). */
	if (!gr->gr_rl_exempt && gr->gr_method != GW_OPTIONS &&
	    gw_authrl_path(gr->gr_path)) {
		if (gw_authrl_over(gw_conn_key(gr->gr_conn))) {
			gr->gr_retry_after = GW_AUTHRL_RETRY_SECS;
			gw_reply_error(gr, 429, "Too many login attempts. "
			    "Please wait before trying again.");
			return;
		}
		if (strcmp(gr->gr_path, "/api/auth/dashboard-login") != 0)
			gw_authrl_count(gw_conn_key(gr->gr_conn));
	}

	if (gr->gr_method == GW_OPTIONS) {
		/* A CORS preflight: browsers send no credentials. */
		if (!found)
			gw_reply_error(gr, 404, "not found: %.*s", (int)plen,
			    rawpath);
		else
			gw_reply_set(gr, 204, NULL, 0, NULL);
		return;
	}

	if (!(m.m_route != NULL && (m.m_route->rt_flags & GW_RT_PUBLIC)) &&
	    gw_auth_check(gr) != 0)
		return;
	if (gr->gr_principal == NULL)
		gr->gr_principal = "anonymous";

	if (!found) {
		gw_reply_error(gr, 404, "not found: %.*s", (int)plen, rawpath);
		return;
	}
	if (m.m_route == NULL) {
		gw_reply_error(gr, 405, "method not allowed: %s %.*s", method,
		    (int)plen, rawpath);
		return;
	}
	if (gw_idem_check(gr) != 0)
		return;
	/* An upload takes a larger body, of its own type (gw_upload.c). */
	if (m.m_route->rt_flags & GW_RT_UPLOAD)
		gr->gr_body.b_max = GW_UPLOAD_BODY_MAX;
	if (gr->gr_body_len_known && len > (long long)gr->gr_body.b_max) {
		gw_reply_error(gr, 413, "request body too large: %lld bytes "
		    "(the limit is %zu)", len, gr->gr_body.b_max);
		return;
	}
	if (m.m_route->rt_svc == NULL && m.m_route->rt_local == NULL) {
		gw_reply_error(gr, 501, "not implemented: %s %s",
		    gw_method_name(m.m_route->rt_method),
		    m.m_route->rt_pattern);
		return;
	}
	/* Local handlers read no body, unless their route says so. */
	if (gr->gr_body_expected && (gr->gr_method == GW_GET ||
	    (m.m_route->rt_local != NULL &&
	    !(m.m_route->rt_flags & GW_RT_BODY)))) {
		gr->gr_body_ignored = 1;	/* nothing reads it */
		return;
	}
	ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (gr->gr_body_expected && !(m.m_route->rt_flags & GW_RT_UPLOAD) &&
	    !gw_is_json_ctype(ctype) && !((m.m_route->rt_flags & GW_RT_FORM) &&
	    ctype != NULL && strncasecmp(ctype,
	    "application/x-www-form-urlencoded", 33) == 0)) {
		gw_reply_error(gr, 415, "unsupported media type: the body "
		    "must be application/json");
		return;
	}
}

static void
gw_req_upload(struct gw_req *gr, const char *data, size_t len)
{
	char	msg[128];

	if (gr->gr_status != 0 || gr->gr_body_ignored || gr->gr_aborted)
		return;
	if (buf_add(&gr->gr_body, data, len) == SH_ETOOBIG) {
		/* A chunked body past the limit: libmicrohttpd cannot queue
		 * a response in the middle of a body, so answer directly. */
		snprintf(msg, sizeof(msg), "request body too large (the "
		    "limit is %zu bytes)", gr->gr_body.b_max);
		gr->gr_aborted = 1;
		gr->gr_status = 413;
		gw_conn_abort(gr->gr_conn, gr->gr_path, 413, msg);
	}
}

int
gw_json_too_deep(const char *s, size_t len, int max)
{
	size_t	i;
	int	depth = 0, in_str = 0;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"')
			in_str = 1;
		else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max)
				return (1);
		} else if (s[i] == ']' || s[i] == '}')
			depth--;
	}
	return (0);
}

/* The final call: the body is in; answer locally or start a bus call. */
static int
gw_req_dispatch(struct gw_req *gr)
{
	const struct gw_route	*rt = gr->gr_route;
	json_error_t		 je;
	json_t			*body;

	gw_idem_fingerprint(gr);	/* before the body is let go */
	if (rt->rt_local != NULL)
		return (rt->rt_local(gr));
	if (rt->rt_flags & GW_RT_UPLOAD)
		return (gw_upload_post(gr));
	if (gr->gr_body.b_len == 0)
		body = json_null();
	else if (gw_json_too_deep(gr->gr_body.b_data, gr->gr_body.b_len,
	    GW_MAX_JSON_DEPTH)) {
		gw_reply_error(gr, 400, "malformed JSON: nested deeper than "
		    "%d levels", GW_MAX_JSON_DEPTH);
		return (0);
	} else if ((body = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len,
	    JSON_DECODE_ANY, &je)) == NULL) {
		gw_reply_error(gr, 400, "malformed JSON: %s at line %d column "
		    "%d", je.text, je.line, je.column);
		return (0);
	}
	buf_release(&gr->gr_body);
	return (gw_call_route(gr, body));
}

int
gw_call_route(struct gw_req *gr, json_t *body)
{
	const struct gw_route	*rt = gr->gr_route;
	json_t			*params, *query;

	if ((params = gw_route_params(rt, gr->gr_path)) == NULL) {
		json_decref(body);
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	if ((query = gw_query_parse(gr->gr_query)) == NULL) {
		json_decref(body);
		json_decref(params);
		gw_reply_error(gr, 400, "malformed query string");
		return (0);
	}
	return (gw_call(gr, rt->rt_svc, rt->rt_op, params, query, body,
	    NULL));
}

/* ---- responses ------------------------------------------------------- */

static int
gw_header_reserved(const char *name)
{
	static const char *const reserved[] = { "x-request-id",
	    "content-length", "content-type", "connection",
	    "transfer-encoding", "date", NULL };
	const struct gw_header	*h;
	int			 i;

	for (h = gw_sec_headers; h->h_name != NULL; h++)
		if (strcasecmp(h->h_name, name) == 0)
			return (1);
	for (i = 0; reserved[i] != NULL; i++)
		if (strcasecmp(reserved[i], name) == 0)
			return (1);
	return (0);
}

/* The headers every response carries. */
static void
gw_common_headers(struct gw_req *gr, struct MHD_Response *resp)
{
	const struct gw_header	*h;
	const char		*origin;

	for (h = gw_sec_headers; h->h_name != NULL; h++) {
		if (gr->gr_dash && (strcmp(h->h_name, "cache-control") == 0 ||
		    strcmp(h->h_name, "content-security-policy") == 0))
			continue;	/* gw_dash.c sets its own */
		MHD_add_response_header(resp, h->h_name, h->h_value);
	}
	if (gr->gr_dash)
		MHD_add_response_header(resp, "content-security-policy",
		    GW_DASH_CSP);
	MHD_add_response_header(resp, "x-request-id", gr->gr_id);
	if ((origin = gw_cors_origin(gr->gr_mhd)) != NULL) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin",
		    origin);
		MHD_add_response_header(resp, "Vary", "Origin");
	}
}

enum MHD_Result
gw_queue_response(struct gw_req *gr, unsigned int status,
    struct MHD_Response *resp)
{
	enum MHD_Result	ret;

	gw_common_headers(gr, resp);
	ret = MHD_queue_response(gr->gr_mhd, status, resp);
	MHD_destroy_response(resp);
	gr->gr_status = (int)status;
	gr->gr_phase = GR_DONE;
	return (ret);
}

static enum MHD_Result
gw_http_queue(struct gw_req *gr)
{
	struct MHD_Response	*resp;
	enum MHD_Result		 ret;
	const char		*k;
	json_t			*v, *e;
	size_t			 i;
	char			 allow[96], num[16];

	if (gr->gr_status == 0 && gr->gr_queue != NULL)
		return (gr->gr_queue(gr));
	if (gr->gr_status == 0)
		gw_reply_error(gr, 500, "no reply");
	resp = MHD_create_response_from_buffer(gr->gr_rlen, gr->gr_rdata,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return (MHD_NO);
	gr->gr_rdata = NULL;		/* the response owns it now */
	if (gr->gr_status != 204)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    gr->gr_rctype != NULL ? gr->gr_rctype :
		    "application/json");
	gw_common_headers(gr, resp);
	if (gr->gr_status == 405 || (gr->gr_method == GW_OPTIONS &&
	    gr->gr_status == 204)) {
		gw_method_list(gr->gr_allow, allow, sizeof(allow));
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
		if (gr->gr_status == 204) {
			MHD_add_response_header(resp,
			    "Access-Control-Allow-Methods", allow);
			/* The MCP headers too, for an MCP client in a
			 * page (gw_mcp.c). */
			MHD_add_response_header(resp,
			    "Access-Control-Allow-Headers",
			    "authorization, content-type, x-api-key, x-csrf-token, "
			    "mcp-protocol-version, mcp-session-id, "
			    "last-event-id, x-librefang-agent-id");
			MHD_add_response_header(resp,
			    "Access-Control-Max-Age", "600");
		}
	}
	if (gr->gr_retry_after > 0) {
		snprintf(num, sizeof(num), "%d", gr->gr_retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (gr->gr_www_auth)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer");
	if (gr->gr_close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	json_object_foreach(gr->gr_rheaders, k, v) {
		if (gw_header_reserved(k))
			continue;
		if (json_is_string(v))
			MHD_add_response_header(resp, k, json_string_value(v));
		/* An array: the header once per string (Set-Cookie). */
		json_array_foreach(v, i, e)
			if (json_is_string(e))
				MHD_add_response_header(resp, k,
				    json_string_value(e));
	}
	ret = MHD_queue_response(gr->gr_mhd, (unsigned int)gr->gr_status,
	    resp);
	MHD_destroy_response(resp);
	gr->gr_phase = GR_DONE;
	return (ret);
}

/* ---- libmicrohttpd callbacks ----------------------------------------- */

/*
 * The request line is in.  The gateway reads the query string from its
 * own copy (gw_query_parse), never libmicrohttpd's argument table, and
 * libmicrohttpd 0.9.75 fails badly filling that table: thousands of
 * parameters overflow the connection's pool, and it then neither answers
 * nor closes (the client waits for the timeout).  It looks for the '?'
 * before calling us and parses what follows it after, in the same
 * writable buffer, so ending the string just past the '?' leaves it
 * nothing to parse; gw_req_headers() limits the parameters instead.
 */
static void *
gw_http_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct gw_req	*gr;
	char		*q;

	(void)cls;
	gr = gw_req_new(c, uri);
	if ((q = strchr(uri, '?')) != NULL)
		q[1] = '\0';
	if (gr == NULL)
		return (NULL);
	gw_conn_request(gr->gr_conn, gr->gr_uri);
	atomic_fetch_add(&gw_h.h_inflight, 1);
	return (gr);
}

static enum MHD_Result
gw_http_handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct gw_req	*gr = *con_cls;

	(void)cls;
	(void)c;
	(void)url;
	(void)version;
	if (gr == NULL)
		return (MHD_NO);
	switch (gr->gr_phase) {
	case GR_HEADERS:
		if (gw_conn_take(gr->gr_conn) != 0)
			return (MHD_NO);	/* the reaper answered */
		gw_req_headers(gr, method);
		gr->gr_phase = GR_BODY;
		/* Refusing a body that is on its way: answer now, and
		 * libmicrohttpd closes the connection after. */
		if (gr->gr_status != 0 && gr->gr_body_expected)
			return (gw_http_queue(gr));
		return (MHD_YES);
	case GR_BODY:
		if (*upload_data_size > 0) {
			gw_req_upload(gr, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return (MHD_YES);
		}
		if (gr->gr_aborted || gw_conn_reply(gr->gr_conn) != 0)
			return (MHD_NO);	/* answered directly */
		/* A session cookie not in the cache is asked for first. */
		if (gr->gr_status == 0 && gr->gr_sess == GW_SESS_PENDING &&
		    gw_dauth_validate(gr) == GW_ASYNC)
			return (MHD_YES);
		if (gr->gr_status == 0 && gw_req_dispatch(gr) == GW_ASYNC)
			return (MHD_YES);
		return (gw_http_queue(gr));
	case GR_WAIT:
		/* Resumed: the callback has left the reply. */
		pthread_mutex_lock(&gw_h.h_mtx);
		gw_h.h_waiting--;
		pthread_mutex_unlock(&gw_h.h_mtx);
		if (gr->gr_sess == GW_SESS_CHECKED) {
			/* The session is live: now the request itself. */
			gr->gr_sess = GW_SESS_OK;
			gr->gr_phase = GR_BODY;
			bus_call_free(gr->gr_call);
			gr->gr_call = NULL;
			gr->gr_done = NULL;
			if (gr->gr_status == 0 &&
			    gw_req_dispatch(gr) == GW_ASYNC)
				return (MHD_YES);
		}
		return (gw_http_queue(gr));
	case GR_DONE:
		break;
	}
	return (MHD_YES);
}

static void
gw_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct gw_req	*gr = *con_cls;
	uint64_t	 dur;

	(void)cls;
	(void)c;
	if (gr == NULL)
		return;
	*con_cls = NULL;
	dur = util_now_ns() - gr->gr_start_ns;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		gw_conn_idle(gr->gr_conn);
	if (gr->gr_status != 0) {
		gw_metrics_request(gr->gr_route != NULL ?
		    (int)(gr->gr_route - gw_routes) : -1, gr->gr_method,
		    gr->gr_status, dur);
		log_debug("%s %s %s %s -> %d (%.3f ms)", gr->gr_id,
		    gw_conn_ip(gr->gr_conn), gw_method_name(gr->gr_method),
		    gr->gr_path != NULL ? gr->gr_path : "-", gr->gr_status,
		    (double)dur / 1e6);
	}
	if (gr->gr_phase == GR_WAIT) {
		/* Closed while suspended (only at daemon stop). */
		pthread_mutex_lock(&gw_h.h_mtx);
		gw_h.h_waiting--;
		pthread_mutex_unlock(&gw_h.h_mtx);
	}
	gw_req_free(gr);
	atomic_fetch_sub(&gw_h.h_inflight, 1);
}

/* libmicrohttpd keeps the path as sent; gw_route.c decodes segments. */
static size_t
gw_http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return (strlen(s));
}

static void gw_http_log(void *cls, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

static void
gw_http_log(void *cls, const char *fmt, va_list ap)
{
	char	line[512];
	size_t	n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* Most messages are about one misbehaving client: not warnings. */
	if (strcasestr(line, "connection") != NULL ||
	    strcasestr(line, "client") != NULL ||
	    strcasestr(line, "socket") != NULL)
		log_debug("httpd: %s", line);
	else
		log_warnx("httpd: %s", line);
}

/* Resolves "host:port" or "[v6]:port" into ss. */
static int
gw_http_addr(const char *listen, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256];
	const char	*colon, *h = listen;
	size_t		 hlen;
	int		 rv;

	if ((colon = strrchr(listen, ':')) == NULL)
		return (-1);
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return (-1);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if ((rv = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		log_warnx("%s: '%s': %s", __func__, listen, gai_strerror(rv));
		return (-1);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return (0);
}

int
gw_http_start(const struct sh_config *cfg, struct bus_client *bc)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	unsigned int		 flags;

	gw_h.h_cfg = cfg;
	gw_h.h_bus = bc;
	gw_idem_init(cfg);
	if (gw_http_addr(cfg->api_listen, &ss, &sslen) != 0) {
		log_warnx("%s: bad api_listen '%s'", __func__,
		    cfg->api_listen);
		return (-1);
	}
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	gw_h.h_mhd = MHD_start_daemon(flags, 0, gw_conn_accept, NULL,
	    gw_http_handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, gw_http_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http_threads,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)cfg->http_max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)(cfg->http_conn_timeout_secs +
	    GW_MHD_TIMEOUT_MARGIN),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http_header_memory,
	    MHD_OPTION_URI_LOG_CALLBACK, gw_http_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, gw_http_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, gw_conn_notify, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, gw_http_unescape, NULL,
	    MHD_OPTION_END);
	if (gw_h.h_mhd == NULL) {
		log_warnx("could not listen on '%s'", cfg->api_listen);
		return (-1);
	}
	log_info("listening on http://%s (%lld threads)", cfg->api_listen,
	    cfg->http_threads);
	return (0);
}

int
gw_http_stop(void)
{
	MHD_socket	fd;
	uint64_t	start, drain, hard, nobus, now;
	int		waiting;

	if (gw_h.h_mhd == NULL)
		return (0);
	/* Stop accepting; connections already open are still served. */
	if ((fd = MHD_quiesce_daemon(gw_h.h_mhd)) != MHD_INVALID_SOCKET)
		close(fd);
	pthread_mutex_lock(&gw_h.h_mtx);
	gw_h.h_stopping = 1;		/* no new bus calls from here */
	pthread_mutex_unlock(&gw_h.h_mtx);
	/* WebSockets get a close frame, SSE streams an error event: both
	 * must be over before the daemon stops (a suspended connection
	 * there aborts libmicrohttpd). */
	gw_ws_stop();
	gw_sse_shutdown();
	gw_topic_shutdown(&gw_comms_topic);
	gw_topic_shutdown(&gw_logs_topic);
	/*
	 * In-flight requests get up to two seconds to finish; requests
	 * suspended on the bus always end by their bus deadline, and must
	 * (libmicrohttpd aborts when stopped with a suspended connection).
	 * With no broker left (stopped with us), a call still queued for
	 * its pipe would wait out its deadline for a redial: after
	 * GW_STOP_NOBUS_MS without one, we exit as at the hard deadline.
	 */
	start = util_now_ms();
	drain = start + 2000;
	hard = start + (uint64_t)gw_h.h_cfg->bus_timeout_ms + 2000;
	nobus = 0;
	for (;;) {
		pthread_mutex_lock(&gw_h.h_mtx);
		waiting = gw_h.h_waiting;
		pthread_mutex_unlock(&gw_h.h_mtx);
		now = util_now_ms();
		if (waiting == 0 && gw_sse_count() == 0 &&
		    gw_topic_count(&gw_comms_topic) == 0 &&
		    gw_topic_count(&gw_logs_topic) == 0 &&
		    (atomic_load(&gw_h.h_inflight) == 0 || now >= drain))
			break;
		if (waiting == 0 || bus_client_brokers(gw_h.h_bus) > 0)
			nobus = 0;
		else if (nobus == 0)
			nobus = now;
		if (now >= hard || (nobus != 0 &&
		    now >= nobus + GW_STOP_NOBUS_MS)) {
			log_warnx("%d requests still waiting on the %s; exiting "
			    "without closing them", waiting, now >= hard ?
			    "bus" : "bus, and no broker is connected");
			return (-1);
		}
		util_sleep_ms(20);
	}
	MHD_stop_daemon(gw_h.h_mhd);
	gw_h.h_mhd = NULL;
	gw_openai_fini();
	log_info("HTTP stopped after %llu ms",
	    (unsigned long long)(util_now_ms() - start));
	return (0);
}
