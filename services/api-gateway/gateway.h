/*
 * gateway.h - the api-gateway's internal interfaces.
 *
 * The gateway owns nothing durable.  A request's head is read on the wire
 * first (gw_head.c: framing libmicrohttpd would mishandle), then flows
 * through gw_http.c (libmicrohttpd callbacks, one struct gw_req per
 * request), which applies in order: request id, framing, header and query
 * parameter counts, rate limit (gw_ratelimit.c, the route's cost), CORS
 * preflight and auth (gw_auth.c, unless the route is GW_RT_PUBLIC), the
 * route table (gw_route.c over the rows of gw_routes.c), body limits and
 * JSON checks; then either a local handler (gw_system.c) answers, or the
 * request becomes a bus operation whose reply body is relayed as the
 * service's own bytes.  Every response carries the security headers and a
 * fresh x-request-id.
 *
 * Threads: libmicrohttpd's worker threads run the handlers; bus replies
 * arrive on nng threads, which only fill the request's reply and resume
 * its connection.  gw_conn.c runs one reaper thread (slow clients) and
 * gw_system.c one health poller thread.  Nothing here ever blocks an MHD
 * thread on the bus.
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "buf.h"
#include "cfg.h"
#include "msg.h"
#include "util.h"

struct bus_client;
struct bus_sub;
struct bus_call;
struct gw_conn;
struct gw_req;

/* ---- routes (gw_route.c, gw_routes.c) -------------------------------- */

enum gw_method {
	GW_GET = 0,
	GW_POST,
	GW_PUT,
	GW_PATCH,
	GW_DELETE,
	GW_NMETHODS,
	GW_OPTIONS = GW_NMETHODS,	/* answered by the gateway itself */
	GW_OTHER
};

#define GW_RT_PUBLIC	0x01		/* no credentials required */
#define GW_RT_TURN	0x02		/* runs an agent turn: the bus call
					   waits bus.turn_timeout_secs */
#define GW_RT_LONG	0x10		/* a long read (verifying the audit
					   chain) or up to 10 MiB each way
					   (an upload): waits as long as a
					   turn */
#define GW_RT_UPLOAD	0x04		/* a multipart upload: any content
					   type, up to GW_UPLOAD_BODY_MAX,
					   read by gw_upload_post() */
#define GW_RT_BODY	0x08		/* a local handler that reads the
					   request's JSON body (others have
					   it ignored) */
#define GW_RT_IDEM	0x20		/* honours the Idempotency-Key
					   header (gw_idem.c) */
#define GW_RT_FORM	0x40		/* with GW_RT_BODY: also takes an
					   application/x-www-form-urlencoded
					   body */

#define GW_UPLOAD_MAX		(10 * 1024 * 1024)	/* max_upload_size_bytes */
#define GW_UPLOAD_BODY_MAX	(GW_UPLOAD_MAX + 64 * 1024)	/* + framing */

#define GW_ASYNC	1		/* a handler started a bus call */

#define GW_IDEM_HEADER_MAX	255	/* Idempotency-Key: bytes */
#define GW_IDEM_KEY_LEN		(5 + 64 + 1)	/* "http:" sha-256 hex */
#define GW_IDEM_FP_LEN		(64 + 1)	/* sha-256 hex */
#define GW_SESS_HASH_LEN	(64 + 1)	/* sha-256 hex */

#define GW_SESS_NONE		0	/* no cookie used */
#define GW_SESS_PENDING		1	/* a cookie not in the cache: asked
					   once the body is in */
#define GW_SESS_CHECKED		2	/* the service said it is live */
#define GW_SESS_OK		3	/* authenticated by the cookie */

/*
 * A gateway-local handler.  Runs on an MHD thread.  Either fills gr's
 * reply (gw_reply_*) and returns 0, or starts a bus call with gw_call()
 * and returns what gw_call() returned.
 */
typedef int (*gw_local_fn)(struct gw_req *gr);

struct gw_route {
	enum gw_method	 rt_method;
	const char	*rt_pattern;	/* "/api/agents/{id}" */
	const char	*rt_svc;	/* SVC_*; NULL: local or not yet */
	const char	*rt_op;		/* bus operation or NULL */
	int		 rt_cost;	/* rate-limit tokens (kernel.md 6.2) */
	gw_local_fn	 rt_local;	/* gateway-local handler or NULL */
	int		 rt_flags;	/* GW_RT_* */
};

extern const struct gw_route	gw_routes[];
extern const size_t		gw_nroutes;

struct gw_match {
	const struct gw_route	*m_route;	/* NULL: path known, method not */
	unsigned int		 m_allow;	/* methods at the path, 1 << GW_* */
};

/* Builds the matcher from gw_routes[].  0, or -1 on a bad table. */
int		 gw_route_init(void);
void		 gw_route_fini(void);
/*
 * Finds the route for a normalised, still percent-encoded path.  Static
 * segments win over parameters ("/api/agents/bulk" is not "{id}").
 * Returns 0 and fills m when the path is known, SH_ENOTFOUND otherwise.
 */
int		 gw_route_match(const char *path, enum gw_method method,
		    struct gw_match *m);
/*
 * Path normalisation (kernel.md 6.3): "/api/v1/..." becomes "/api/...",
 * a trailing slash is dropped.  Writes into out; SH_ETOOBIG if it does
 * not fit.
 */
int		 gw_path_normalise(const char *path, size_t len, char *out,
		    size_t outlen);
/* The route's {param} values from path, percent-decoded (new object), or
 * NULL when a value is not valid UTF-8 or holds a NUL. */
json_t		*gw_route_params(const struct gw_route *rt, const char *path);
/* Parses a query string ("a=1&b=x+y"); the last of repeated keys wins.
 * New object, or NULL when malformed. */
json_t		*gw_query_parse(const char *qs);
enum gw_method	 gw_method_parse(const char *s, int *is_head);
const char	*gw_method_name(enum gw_method m);
/* Writes "GET, POST, OPTIONS" for a method mask. */
void		 gw_method_list(unsigned int mask, char *out, size_t outlen);

/* ---- requests (gw_http.c) ------------------------------------------- */

enum gw_phase {
	GR_HEADERS = 0,		/* before the first handler call */
	GR_BODY,		/* reading the body */
	GR_WAIT,		/* suspended on a bus call */
	GR_DONE			/* response queued */
};

/*
 * One HTTP request.  Allocated when libmicrohttpd has the request line,
 * freed by gw_req_free() from the request-completed callback only.  It
 * owns every allocation made for the request.
 */
struct gw_req {
	struct MHD_Connection	*gr_mhd;
	struct gw_conn		*gr_conn;
	enum gw_phase		 gr_phase;
	uint64_t		 gr_start_ns;
	char			*gr_uri;	/* raw request target */
	char			*gr_path;	/* normalised, encoded */
	const char		*gr_query;	/* into gr_uri, or NULL */
	enum gw_method		 gr_method;
	int			 gr_head;
	const struct gw_route	*gr_route;
	char			 gr_id[UTIL_UUID_LEN];
	const char		*gr_principal;	/* static string */
	int			 gr_body_len_known;
	int			 gr_body_expected;
	int			 gr_body_ignored;
	int			 gr_aborted;	/* raw error already sent */
	int			 gr_close;	/* answer, then close */
	struct buf		 gr_body;
	/* Idempotency-Key (gw_idem.c): the key scoped to the route and the
	 * principal, and the request's fingerprint; "": no header */
	char			 gr_idem[GW_IDEM_KEY_LEN];
	char			 gr_idem_fp[GW_IDEM_FP_LEN];
	/* A dashboard session cookie (gw_dashauth.c): GW_SESS_*, the token's
	 * SHA-256 (hex) and, once known, the session's CSRF token */
	int			 gr_sess;
	char			 gr_sess_hash[GW_SESS_HASH_LEN];
	char			 gr_csrf[GW_SESS_HASH_LEN];
	int			 gr_rl_exempt;	/* not rate limited */

	/* the reply */
	int			 gr_status;	/* 0: none yet */
	char			*gr_rdata;
	size_t			 gr_rlen;
	char			*gr_rctype;	/* NULL: application/json */
	json_t			*gr_rheaders;	/* extra headers or NULL */
	unsigned int		 gr_allow;	/* for 405 and preflight */
	int			 gr_retry_after;
	int			 gr_www_auth;
	int			 gr_dash;	/* a dashboard file: its own
						   CSP and Cache-Control */

	/* the bus call */
	struct bus_call		*gr_call;
	const char		*gr_svc;
	void			(*gr_done)(struct gw_req *, int,
				    struct msg_rep *);

	/* a handler that answers with its own response (SSE, WebSocket):
	 * gr_queue replaces the buffered reply when gr_status is 0, and
	 * gr_cleanup runs first thing in the request's free */
	enum MHD_Result		(*gr_queue)(struct gw_req *);
	void			(*gr_cleanup)(struct gw_req *);
	void			*gr_ctx;
};

/* Sets the reply to status with body (stolen; NULL gives a 500). */
void		 gw_reply_json(struct gw_req *gr, int status, json_t *body);
/*
 * The one place an error body is shaped (new): {"error": "<msg>"}, or,
 * for a path under /v1 (normalised, borrowed; NULL: unknown), OpenAI's
 * {"error": {message, type, param, code}} (gw_openai_error()), which
 * OpenAI clients need to surface any error, the gateway's own checks
 * (401, 404, 405, 413, 415, 429, 503 ...) included.
 */
json_t		*gw_error_body(const char *path, int status, const char *msg);
/* Sets the reply to gw_error_body() of gr's path and "<fmt>". */
void		 gw_reply_error(struct gw_req *gr, int status, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/* Sets a non-JSON reply; data is copied. */
void		 gw_reply_data(struct gw_req *gr, int status, const char *ctype,
		    const char *data, size_t len);
/* Relays a bus reply envelope into gr's reply. */
void		 gw_reply_relay(struct gw_req *gr, struct msg_rep *rep);
/* Maps a failed bus call (SH_E*) for service svc to a reply: 503 when
 * it is down or did not answer in time, 502 for a malformed reply. */
void		 gw_reply_bus_error(struct gw_req *gr, const char *svc, int err);
/*
 * Sends op to svc; params, query and body are stolen.  When the reply
 * (or failure) arrives, done runs on an nng thread with err 0 and rep, or
 * err < 0 and rep NULL, must fill gr's reply and release rep; done NULL
 * relays.  Returns GW_ASYNC once the connection is suspended (a call that
 * cannot start leaves a 503 and resumes it at once), or 0 with an error
 * reply when nothing was started (shutting down, out of memory).
 */
int		 gw_call(struct gw_req *gr, const char *svc, const char *op,
		    json_t *params, json_t *query, json_t *body,
		    void (*done)(struct gw_req *, int, struct msg_rep *));
/* 1 when the JSON text nests deeper than max (strings skipped): the
 * gateway refuses bodies deeper than GW_MAX_JSON_DEPTH before parsing. */
#define GW_MAX_JSON_DEPTH	32
int		 gw_json_too_deep(const char *s, size_t len, int max);
/* gw_call() of gr's route with body (stolen), the route's path parameters
 * and the query string; 0 with a 400 reply when those are malformed. */
int		 gw_call_route(struct gw_req *gr, json_t *body);

/*
 * For a local handler that waits on something other than gw_call(): the
 * connection is suspended in GR_WAIT (GW_ASYNC), or 0 with a 503 reply
 * when the gateway is stopping.  Whoever finishes the wait fills the reply
 * (or sets gr_queue) and calls MHD_resume_connection(gr->gr_mhd).
 */
int		 gw_suspend(struct gw_req *gr);
/* Queues resp (consumed) with status and the headers every response
 * carries; for gr_queue hooks.  Marks gr done. */
enum MHD_Result	 gw_queue_response(struct gw_req *gr,
		    unsigned int status, struct MHD_Response *resp);

/* Starts the HTTP daemon on cfg->api_listen.  0 or -1 (logged). */
int		 gw_http_start(const struct sh_config *cfg,
		    struct bus_client *bc);
/* Stops accepting, lets in-flight requests finish (bounded), stops.
 * -1 if requests were still waiting on the bus at the bound: the daemon
 * is then left running and the caller must exit without freeing. */
int		 gw_http_stop(void);

/* The security headers every response carries (kernel.md 6.4). */
struct gw_header {
	const char	*h_name;
	const char	*h_value;
};
extern const struct gw_header	gw_sec_headers[];

/* ---- request heads on the wire (gw_head.c) -------------------------- */

/* The scan of one request head; zeroed by gw_head_reset(). */
struct gw_head {
	unsigned char	 gh_state;
	unsigned char	 gh_cr;		/* a CR waits for its LF */
	unsigned char	 gh_reqline;	/* before the request line's end */
	unsigned char	 gh_match;	/* name bytes that match */
	unsigned char	 gh_digits;
	unsigned char	 gh_nondigit;
	unsigned char	 gh_big;
	uint64_t	 gh_val;
	const char	*gh_why;	/* static: why it was refused */
};

void		 gw_head_reset(struct gw_head *h);
/*
 * Scans n more bytes of a connection's input.  0 while the head can be
 * read (or is over), or the 4xx status that refuses it (gh_why says why).
 */
int		 gw_head_scan(struct gw_head *h, const unsigned char *p,
		    size_t n);

/* ---- connections (gw_conn.c) ---------------------------------------- */

/*
 * Per-connection state for the limits libmicrohttpd 0.9.75 does not
 * provide: a per-IP connection cap, and a total deadline for receiving a
 * request (its idle timeout restarts on every byte, so a client sending a
 * byte a second would never time out).  A reaper thread answers such a
 * request itself with a raw 408 and half-closes the socket.
 */
int		 gw_conn_init(const struct sh_config *cfg);
/* Takes rate_limit.exempt_loopback from cfg again. */
void		 gw_conn_configure(const struct sh_config *cfg);
void		 gw_conn_fini(void);
enum MHD_Result	 gw_conn_accept(void *cls, const struct sockaddr *sa,
		    socklen_t salen);
void		 gw_conn_notify(void *cls, struct MHD_Connection *c,
		    void **socket_context,
		    enum MHD_ConnectionNotificationCode code);
/* Borrowed; valid until the connection closes.  NULL if untracked. */
struct gw_conn	*gw_conn_of(struct MHD_Connection *c);
/* A request line arrived, for uri (the raw target, borrowed). */
void		 gw_conn_request(struct gw_conn *gc, const char *uri);
/* The handler took the request (first call) / is about to reply.  -1 if
 * the reaper answered it already: the caller must drop the connection. */
int		 gw_conn_take(struct gw_conn *gc);
int		 gw_conn_reply(struct gw_conn *gc);
/* The request finished; the connection idles (keep-alive). */
void		 gw_conn_idle(struct gw_conn *gc);
/* Answers now with a raw JSON error (gw_error_body() of path, borrowed,
 * NULL when unknown) and half-closes (mid-body errors, which
 * libmicrohttpd 0.9.75 cannot queue).  0, or -1 if already done. */
int		 gw_conn_abort(struct gw_conn *gc, const char *path, int status,
		    const char *message);
int		 gw_conn_over_limit(const struct gw_conn *gc);
int		 gw_conn_loopback(const struct gw_conn *gc);
const char	*gw_conn_ip(const struct gw_conn *gc);
const unsigned char *gw_conn_key(const struct gw_conn *gc);	/* 16 bytes */
long long	 gw_conn_count(void);
long long	 gw_conn_reaped(void);
/* The tracked connection on descriptor fd, or NULL.  From the thread
 * that reads fd only. */
struct gw_conn	*gw_conn_by_fd(int fd);
/* recv() has n bytes for libmicrohttpd: 0 to hand them on, -1 when the
 * connection's head was refused (answered here) and they are dropped. */
int		 gw_conn_withheld(struct gw_conn *gc, const void *buf,
		    size_t n);
/* Formats a complete HTTP/1.1 error response (for raw writes) with
 * gw_error_body(path, ...) (path NULL: not known). */
int		 gw_raw_response(char *out, size_t outlen, const char *path,
		    int status, const char *message);

/* ---- the Idempotency-Key header (gw_idem.c) ------------------------- */

/* Keeps cfg (borrowed, for as long as the gateway runs). */
void		 gw_idem_init(const struct sh_config *cfg);
/* On a GW_RT_IDEM route, checks the header and sets gr_idem: 0, or -1
 * with a 400 in gr's reply (empty, over GW_IDEM_HEADER_MAX bytes, not
 * printable ASCII).  After auth (the key is the principal's). */
int		 gw_idem_check(struct gw_req *gr);
/* Sets gr_idem_fp from the request's path, query and body (still in
 * gr_body), when gr_idem is set. */
void		 gw_idem_fingerprint(struct gw_req *gr);
/* The caller fields that carry gr's key to the service (new; NULL with
 * no key): idempotency_key, idempotency_fingerprint,
 * idempotency_ttl_secs. */
json_t		*gw_idem_caller(const struct gw_req *gr);
/* The same fields for a chat message's idempotency_key (the agent's
 * WebSocket, gw_wschat.c): the key scoped to agent_id, body (the turn's
 * request, borrowed) fingerprinted.  NULL with *errp saying why. */
json_t		*gw_idem_chat(const char *agent_id, const char *key,
		    json_t *body, const char **errp);

/* ---- auth and CORS (gw_auth.c) -------------------------------------- */

/* Checks the listen address against the auth settings.  0, or -1 with a
 * message in err (the gateway must not start). */
int		 gw_auth_init(const struct sh_config *cfg, char *err,
		    size_t errlen);
void		 gw_auth_fini(void);
/*
 * 0 and gr_principal set, or -1 with a 401 (or 403) in gr's reply.  In
 * order: "Authorization: Bearer <api_key>" or "X-API-Key", the
 * sub-protocol "bearer.<api_key>" on the WebSocket route, the dashboard
 * session cookie (gw_dauth_cookie_auth(): gr_sess may be left
 * GW_SESS_PENDING, for gw_dauth_validate() at dispatch).
 */
int		 gw_auth_check(struct gw_req *gr);
/* 1 when requests need credentials: an api_key or a dashboard password
 * is configured. */
int		 gw_auth_required(void);
/* 1 when the API key is configured. */
int		 gw_auth_has_key(void);
/* 1 when allow_no_auth serves remote clients without credentials. */
int		 gw_auth_allow_remote(void);
/* 1 when tok (NUL-terminated) is the API key (constant time). */
int		 gw_auth_key_ok(const char *tok);
/* The key gr sends in "Authorization: Bearer" or "X-API-Key" (borrowed
 * from the headers), or NULL. */
const char	*gw_auth_header_token(struct gw_req *gr);
/* An auth failure on the audit chain (best effort). */
void		 gw_auth_audit(struct gw_req *gr, const char *why);
/* The Origin to echo in Access-Control-Allow-Origin, or NULL. */
const char	*gw_cors_origin(struct MHD_Connection *c);
/* 1 when gr's Origin is http[s]://<its Host> (a page of this server);
 * 0 when it is another, or either header is missing or empty. */
int		 gw_same_origin(struct gw_req *gr);
int		 gw_is_loopback_host(const char *host);

/* ---- JSON Web Tokens (gw_jwt.c) ------------------------------------- */

#define GW_JWT_EBAD	-1	/* malformed, refused or not verified */
#define GW_JWT_ENOKEY	-2	/* no key of the set fits its kid and alg */

/* base64url without padding into out (NUL-terminated): its length, or
 * -1 when out is too small. */
int		 gw_b64url_encode(const unsigned char *p, size_t n, char *out,
		    size_t outlen);
/* The bytes of base64url text s (new, *outlen set), or NULL. */
unsigned char	*gw_b64url_decode(const char *s, size_t n, size_t *outlen);
/* A JWK (RSA of 2048 bits or more, EC P-256 or P-384) as a public key
 * (new), or NULL. */
struct evp_pkey_st *gw_jwk_key(const json_t *jwk);
/* The claims of a compact JWS, not verified (new), or NULL. */
json_t		*gw_jwt_peek(const char *jwt);
/*
 * Checks jwt's signature with the key of set jwks ({keys: [...]}) its
 * header names: RS256/384/512, PS256/384/512, ES256/384 only ("none"
 * and HS* refused).  0 with *claims (new), or GW_JWT_* with why in err.
 * The claims themselves are not looked at.
 */
int		 gw_jwt_verify(const char *jwt, const json_t *jwks,
		    json_t **claims, char *err, size_t errlen);

/* ---- OpenID Connect login (gw_oidc.c) ------------------------------- */

/* Reads [external_auth] from cfg.  0 (also when it is absent), or -1
 * with why in err (the gateway must not start). */
int		 gw_oidc_init(const struct sh_config *cfg,
		    struct bus_client *bc, char *err, size_t errlen);
void		 gw_oidc_fini(void);
/* 1 when a provider is configured. */
int		 gw_oidc_enabled(void);
int		 gw_oidc_providers(struct gw_req *gr);
int		 gw_oidc_login(struct gw_req *gr);
int		 gw_oidc_callback(struct gw_req *gr);
int		 gw_oidc_userinfo(struct gw_req *gr);
int		 gw_oidc_introspect(struct gw_req *gr);

/* ---- inbound webhooks (gw_hooks.c) ---------------------------------- */

/* Takes LIBREFANG_WEBHOOK_TOKEN from cfg (borrowed, lives in main). */
void		 gw_hooks_init(const struct sh_config *cfg);
/* POST /hooks/wake, /hooks/agent (and under /api): the token, an
 * optional signature, then hooks.wake or hooks.agent. */
int		 gw_hook_wake(struct gw_req *gr);
int		 gw_hook_agent(struct gw_req *gr);

/* ---- dashboard login and sessions (gw_dashauth.c) ------------------- */

/*
 * POST /api/auth/dashboard-login, GET /api/auth/dashboard-check, POST
 * /auth/logout (and /api/auth/logout): the librefang_session cookie, a
 * session row owned by SVC_SESSION_OWNER (dashsess.*), cached here for
 * GW_SESS_CACHE_MS and dropped at once on TOPIC_DASHSESS.
 */
#define GW_SESS_CACHE_MS	5000
#define GW_SESS_COOKIE		"librefang_session"

/* Reads dashboard_user/pass/pass_hash: 0, or -1 with err (a malformed
 * hash, a user without a password). */
int		 gw_dauth_init(const struct sh_config *cfg, char *err,
		    size_t errlen);
/* 1 when a dashboard password login is configured. */
int		 gw_dauth_password(void);
/* The invalidation subscriber.  0 or -1 (logged). */
int		 gw_dauth_start(const struct sh_config *cfg);
void		 gw_dauth_stop(void);
/* gw_auth_check()'s cookie step: 1 when gr carries no session cookie;
 * 0 when it is authenticated (GW_SESS_OK) or to be checked at dispatch
 * (GW_SESS_PENDING); -1 with a 401 or 403 reply. */
int		 gw_dauth_cookie_auth(struct gw_req *gr);
/* A GW_SESS_PENDING request, body read: asks the session owner.
 * GW_ASYNC, or 0 with a reply. */
int		 gw_dauth_validate(struct gw_req *gr);
int		 gw_dauth_login(struct gw_req *gr);
int		 gw_dauth_check(struct gw_req *gr);
int		 gw_dauth_logout(struct gw_req *gr);

/* ---- rate limit (gw_ratelimit.c) ------------------------------------ */

int		 gw_rl_init(const struct sh_config *cfg);
/* Takes [rate_limit] from cfg again (a live config change). */
void		 gw_rl_configure(const struct sh_config *cfg);
void		 gw_rl_fini(void);
/* Paths never limited ("/", "/favicon.ico", "/dashboard/..."). */
int		 gw_rl_exempt_path(const char *path);
/* Charges cost tokens to key (16 bytes).  0 allowed, 1 limited. */
int		 gw_rl_charge(const unsigned char *key, int cost);
/* Drops entries whose bucket is full again.  Thread-safe. */
void		 gw_rl_sweep(void);
long long	 gw_rl_entries(void);
/* The login brute-force limiter: a fixed 15-minute window per client
 * (the same 16-byte key), rate_limit.auth_rate_limit_per_ip attempts. */
#define GW_AUTHRL_RETRY_SECS	900
void		 gw_authrl_configure(const struct sh_config *cfg);
void		 gw_authrl_fini(void);
/* 1 for a login-class path (normalised). */
int		 gw_authrl_path(const char *path);
/* 1 when key has used its attempts in the current window. */
int		 gw_authrl_over(const unsigned char *key);
/* Counts one attempt of key. */
void		 gw_authrl_count(const unsigned char *key);

/* ---- metrics (gw_metrics.c) ----------------------------------------- */

int		 gw_metrics_init(void);
void		 gw_metrics_fini(void);
/* route: index into gw_routes[] or -1 (unmatched).  Thread-safe. */
void		 gw_metrics_request(int route, enum gw_method m, int status,
		    uint64_t dur_ns);
void		 gw_metrics_rate_limited(void);
/* Appends the Prometheus text exposition to b. */
int		 gw_metrics_render(struct buf *b);

/* ---- health and system endpoints (gw_system.c) ---------------------- */

/* Runs a first round of every service's sys.health (bounded by the poll
 * timeout), then starts the background poller. */
int		 gw_health_start(const struct sh_config *cfg,
		    struct bus_client *bc);
void		 gw_health_stop(void);
/* Snapshot accessors (thread-safe, never wait on the bus). */
int		 gw_health_service_up(int i);	/* index in SVC_LIST */
long long	 gw_health_agent_count(void);
long long	 gw_uptime_seconds(void);

/* ---- the dashboard's files (gw_dash.c) ------------------------------ */

int		 gw_dash_root(struct gw_req *gr);	/* GET / */
int		 gw_dash_file(struct gw_req *gr);	/* GET /dashboard/... */

int		 gw_sys_health(struct gw_req *gr);
int		 gw_sys_health_detail(struct gw_req *gr);
int		 gw_sys_ready(struct gw_req *gr);
int		 gw_sys_status(struct gw_req *gr);
int		 gw_sys_version(struct gw_req *gr);
int		 gw_sys_metrics(struct gw_req *gr);

/* ---- live configuration and shutdown (gw_config.c) ----------------- */

/*
 * GET /api/config (the effective config, secrets redacted), GET
 * /api/config/schema and /api/registry/schema (generated from the key
 * table), GET /api/config/export (TOML), POST /api/shutdown.  set and
 * reload are bus operations (libshared/cfgsync.c).  gw_config_start()
 * keeps cfg (the live one) and follows config changes: the gateway's own
 * hot part is [rate_limit].
 */
int		 gw_config_start(struct sh_config *cfg);
void		 gw_config_stop(void);
int		 gw_config_get(struct gw_req *gr);
int		 gw_config_schema(struct gw_req *gr);
int		 gw_config_export(struct gw_req *gr);
int		 gw_shutdown(struct gw_req *gr);

/* ---- GET /api/security (gw_security.c) -------------------------------- */
/* Notes what the configuration turns off (the rate limit). */
void		 gw_security_init(const struct sh_config *cfg);
int		 gw_security(struct gw_req *gr);

/* ---- turns streamed to the client (gw_turns.c, gw_stream.c, gw_ws.c) */

/*
 * A streamed turn: agents.message (or an operation that runs one, such
 * as a2a.tasks.send) sent to agent-runtime with
 * caller.stream = "turn.<this gateway's instance id>" and caller.stream_id
 * = the turn's id; the runtime publishes the turn's events on that topic
 * ({"stream_id","seq","type",..}) and replies with the whole response
 * plus "events": N.  gw_turns.c runs the one subscriber of the topic and
 * routes each event to its turn by stream_id, drops duplicates (seq not
 * above the last one delivered), and after the reply waits up to
 * GW_TURN_GRACE_MS for events it has not seen before it ends the turn.
 *
 * The callbacks run on the subscriber thread or an nng thread, one at a
 * time per turn, and must not block or call gw_turn_free().
 */
#define GW_TURN_GRACE_MS	200
#define GW_TURN_IDLE_MS		15000	/* SSE keep-alive period */

struct gw_turn;
struct gw_turn_ops {
	/* One event (borrowed). */
	void	(*to_event)(void *arg, json_t *ev);
	/* The end, exactly once: err 0 and rep (borrowed: status and body
	 * of the runtime's reply) or err < 0 (SH_E*) and rep NULL. */
	void	(*to_done)(void *arg, int err, struct msg_rep *rep);
	/* Nothing delivered for GW_TURN_IDLE_MS; NULL for none. */
	void	(*to_idle)(void *arg);
};

/* Opens the subscriber (and its thread).  0 or -1 (logged). */
int		 gw_turns_start(const struct sh_config *cfg,
		    struct bus_client *bc);
void		 gw_turns_stop(void);
/*
 * Starts a streamed call of op (borrowed) to agent-runtime with params
 * and body (both stolen; params NULL fails with SH_ENOMEM), waiting
 * bus.turn_timeout_secs; ip, principal and request_id (borrowed) go into
 * the caller object with "stream" and "stream_id", and the fields of idem
 * (borrowed, NULL: none; gw_idem_caller()).  op is agents.message
 * or an operation that passes those on to the agents.message it sends
 * and puts the turn's "events" count on its reply (a2a.tasks.send).
 * NULL with *errp set (SH_EUNAVAIL, SH_ENOMEM) when it could not start:
 * no callback runs.
 */
struct gw_turn	*gw_turn_start_op(const char *op, json_t *params,
		    json_t *body, const char *ip, const char *principal,
		    const char *request_id, json_t *idem,
		    const struct gw_turn_ops *ops,
		    void *arg, int *errp);
/* gw_turn_start_op() of agents.message for agent_id (borrowed) with body
 * (stolen: the client's JSON object, as for POST
 * /api/agents/{id}/message). */
struct gw_turn	*gw_turn_start(const char *agent_id, json_t *body,
		    const char *ip, const char *principal,
		    const char *request_id, json_t *idem,
		    const struct gw_turn_ops *ops,
		    void *arg, int *errp);
/* Cancels (the runtime's turn goes on) and frees; once it returns no
 * callback runs or will run.  Never from inside a callback. */
void		 gw_turn_free(struct gw_turn *t);

/*
 * The server-sent events writer (gw_sse.c), embedded in each stream's own
 * state (gw_stream.c, gw_openai.c, gw_a2a.c, gw_topic.c).  Text waits in
 * ss_out until libmicrohttpd's content reader pulls it; the reader
 * suspends the connection when there is nothing, and gw_sse_wake()
 * resumes it.  The first wake ends the request's GR_WAIT (its gr_queue
 * hook then calls gw_sse_respond(), unless a plain reply was set), so
 * the response starts with the first event.
 *
 * Functions marked "held" are called with ss_mtx held: turn callbacks
 * take it around their work.  Those that lock it themselves say so.
 */
struct gw_sse {
	pthread_mutex_t		 ss_mtx;	/* everything below */
	struct gw_req		*ss_gr;		/* borrowed */
	struct MHD_Connection	*ss_mhd;
	struct buf		 ss_out;	/* text not yet sent */
	size_t			 ss_off;	/* sent from ss_out */
	struct buf		 ss_text;	/* content streamed so far */
	int			 ss_text_off;	/* ss_text is not the whole */
	int			 ss_started;	/* left GR_WAIT */
	int			 ss_suspended;	/* by the reader */
	int			 ss_finished;	/* nothing after ss_out */
	int			 ss_closed;	/* request over: never resume */

	/* the registry (gw_sse_suspend), under its own mutex */
	struct gw_sse		*ss_next;
	struct gw_sse		*ss_prev;
	int			 ss_listed;
	void			(*ss_stop)(void *);
	void			*ss_stop_arg;
};

void		 gw_sse_init(struct gw_sse *s, struct gw_req *gr);
/* Frees s's buffers (and takes it off the registry).  Locks. */
void		 gw_sse_release(struct gw_sse *s);
/* Back to the state of gw_sse_init(), off the registry (a turn that
 * never started is started again).  Locks. */
void		 gw_sse_reset(struct gw_sse *s);
/* The request is over: no wake resumes its connection, and s is off the
 * registry.  Locks. */
void		 gw_sse_close(struct gw_sse *s);
/*
 * gw_suspend() of s's request and, when that returns GW_ASYNC, s listed
 * in the registry of live streams until gw_sse_close() (or
 * gw_sse_reset(), gw_sse_release()).  stop(arg) is the stream's own end
 * at shutdown (an error event or status, then gw_sse_end()): it runs with
 * ss_mtx held, once the stream has started and while it is not finished.
 * Returns what gw_suspend() returned.  Locks.
 */
int		 gw_sse_suspend(struct gw_sse *s, void (*stop)(void *),
		    void *arg);
/* Ends every listed stream at shutdown: a 503 JSON reply if it has not
 * started, else its stop callback.  gw_sse_count() then falls to 0 as
 * their connections finish. */
void		 gw_sse_shutdown(void);
long long	 gw_sse_count(void);
/* Wakes the connection if it sleeps.  Held. */
void		 gw_sse_wake(struct gw_sse *s);
/* Appends "event: <event>\ndata: <json>\n\n", or "data: <json>\n\n"
 * when event is NULL; data is stolen (NULL: nothing).  Held. */
void		 gw_sse_frame(struct gw_sse *s, const char *event,
		    json_t *data);
/* Appends text as is ("data: [DONE]\n\n").  Held. */
void		 gw_sse_raw(struct gw_sse *s, const char *text);
/* Nothing follows what is queued: wake to send it and end.  Held. */
void		 gw_sse_end(struct gw_sse *s);
/* The to_idle of a turn: a ": keep-alive" comment.  Locks. */
void		 gw_sse_idle(struct gw_sse *s);
/*
 * The text of a turn's event (ev borrowed), shared by every stream that
 * relays turns: a text_delta with text is recorded for gw_sse_rest() and
 * its text (borrowed from ev) put in *textp: 1, for the caller to send.
 * A restart (a provider retry after deltas went out: the reply's text no
 * longer extends what was sent) and an empty delta are handled here, with
 * nothing to send: 0.  Any other event is the caller's: -1.  Held.
 */
int		 gw_sse_delta(struct gw_sse *s, json_t *ev,
		    const char **textp);
/* The part of the reply's response (a JSON string, borrowed) beyond the
 * text streamed, when it extends it (events were lost at the end): a
 * pointer into response with *lenp bytes, or NULL.  Held. */
const char	*gw_sse_rest(struct gw_sse *s, json_t *response,
		    size_t *lenp);
/* Queues the event-stream response reading s; for gr_queue hooks. */
enum MHD_Result	 gw_sse_respond(struct gw_req *gr, struct gw_sse *s);

/* POST /api/agents/{id}/message/stream: the turn as server-sent events
 * (ended at shutdown by gw_sse_shutdown(): an error event). */
int		 gw_stream_message(struct gw_req *gr);

/* GET /api/agents/{id}/ws: the agent's WebSocket (gw_ws.h: the RFC 6455
 * codec, the sockets, the chat).  All sockets run on one thread (epoll),
 * started and stopped here. */
int		 gw_ws_start(const struct sh_config *cfg, struct bus_client *bc);
/* Closes every socket (1001 going away) and joins the thread. */
void		 gw_ws_stop(void);
int		 gw_ws_agent(struct gw_req *gr);
/* 0 when gr (the WebSocket route) carries the API key the way browsers
 * can send it: the sub-protocol "bearer.<key>". */
int		 gw_ws_auth(struct gw_req *gr);

/* ---- bus topics streamed to the client (gw_topic.c) ------------------ */

/*
 * A topic's subscriber and its open streams: each message (a JSON
 * object) goes out as "event: <tp_event>" to every stream whose filter
 * wants it.  The route's module owns one, static, written
 * GW_TOPIC_INIT(...); the fields after tp_want are gw_topic.c's.
 */
struct gw_tstream;
struct gw_topic {
	const char		*tp_topic;	/* TOPIC_* */
	const char		*tp_event;	/* the SSE event name */
	const char		*tp_hello;	/* the first comment, whole:
						   ": ...\n\n" */
	const char		*tp_what;	/* "the <what> is unavailable" */
	/* 1 when a stream opened with filter wants ev (borrowed, an
	 * object); NULL: every stream wants every message. */
	int			(*tp_want)(const void *filter, json_t *ev);

	pthread_mutex_t		 tp_mtx;	/* the list */
	struct gw_tstream	*tp_head;
	long long		 tp_n;
	int			 tp_stopping;
	struct bus_sub		*tp_sub;
	pthread_t		 tp_thr;
	int			 tp_started;
	atomic_int		 tp_quit;
};
#define GW_TOPIC_INIT(topic, event, hello, what, want) {		\
	.tp_topic = (topic), .tp_event = (event), .tp_hello = (hello),	\
	.tp_what = (what), .tp_want = (want),				\
	.tp_mtx = PTHREAD_MUTEX_INITIALIZER,				\
}

/* Opens the subscriber of tp's topic (and its thread).  0 or -1 (logged:
 * its streams then answer 503). */
int		 gw_topic_start(struct gw_topic *tp,
		    const struct sh_config *cfg);
void		 gw_topic_stop(struct gw_topic *tp);
/* gr as a stream of tp; filter (size bytes, copied; NULL and 0: none)
 * is what tp_want is given.  Returns 0 (an error reply set, or the
 * stream queued). */
int		 gw_topic_stream(struct gw_topic *tp, struct gw_req *gr,
		    const void *filter, size_t size);
/* Ends every stream at shutdown; gw_topic_count() then falls to 0. */
void		 gw_topic_shutdown(struct gw_topic *tp);
long long	 gw_topic_count(struct gw_topic *tp);

/* GET /api/comms/events/stream (gw_comms.c): TOPIC_COMMS. */
extern struct gw_topic	 gw_comms_topic;
int		 gw_comms_stream(struct gw_req *gr);
/* GET /api/logs/stream?level=&service= (gw_logs.c): TOPIC_LOGS. */
extern struct gw_topic	 gw_logs_topic;
int		 gw_logs_stream(struct gw_req *gr);

/* ---- the MCP server (gw_mcp.c) -------------------------------------- */

/* POST /mcp and POST /api/mcp (GW_RT_BODY): one JSON-RPC message over
 * Streamable HTTP, stateless; tools/list and tools/call go to
 * agent-runtime's tools.list and tools.invoke. */
int		 gw_mcp(struct gw_req *gr);

/* ---- the OpenAI-compatible API (gw_openai.c) ------------------------- */

/* 1 when a normalised path (borrowed, may be NULL) is the OpenAI API's:
 * "/v1" or under "/v1/". */
int		 gw_openai_path(const char *path);
/* OpenAI's error object (new): {"error": {"message": msg, "type" (from
 * status), "param" (NULL: null), "code"}}; code NULL is the code OpenAI
 * gives status (invalid_api_key for 401, rate_limit_exceeded for 429)
 * or null. */
json_t		*gw_openai_error(int status, const char *param,
		    const char *code, const char *msg);
/* POST /v1/chat/completions: a turn of the agent "model" names, answered
 * as a chat.completion or streamed as chat.completion.chunk events (at
 * shutdown, gw_sse_shutdown() ends a stream with an error chunk and
 * [DONE]). */
int		 gw_openai_chat(struct gw_req *gr);
/* GET /v1/models: the agents as OpenAI models (agents.list). */
int		 gw_openai_models(struct gw_req *gr);
/* Frees what completions share (once the daemon has stopped). */
void		 gw_openai_fini(void);

/* ---- uploads (gw_upload.c) ------------------------------------------ */

/* POST /api/agents/{id}/upload (a GW_RT_UPLOAD route): the multipart body
 * to uploads.create.  Called by gw_http.c once the body is in. */
int		 gw_upload_post(struct gw_req *gr);
/* GET /api/uploads/{file_id}: uploads.get, served as the file's bytes. */
int		 gw_upload_get(struct gw_req *gr);

/* ---- A2A (gw_a2a.c) --------------------------------------------------- */

/* GET /.well-known/agent.json (v0.3 card) and agent-card.json (v1.0). */
int		 gw_a2a_card(struct gw_req *gr);
/* GET /a2a/agents. */
int		 gw_a2a_agents(struct gw_req *gr);
/* POST /a2a: JSON-RPC (v0.3, v1.0 and the reference's tasks/send). */
int		 gw_a2a_rpc(struct gw_req *gr);
/* POST /a2a/tasks/send, GET /a2a/tasks/{id}, POST .../cancel. */
int		 gw_a2a_rest_send(struct gw_req *gr);
int		 gw_a2a_rest_get(struct gw_req *gr);
int		 gw_a2a_rest_cancel(struct gw_req *gr);

#endif /* GW_GATEWAY_H */
