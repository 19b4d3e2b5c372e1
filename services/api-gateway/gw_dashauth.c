/*
 * gw_dauth.c - the dashboard's login, its session cookie and CSRF
 * (issue 14; services/api-gateway/README.md "Dashboard login").
 *
 * POST /api/auth/dashboard-login takes {"api_key"} or, with
 * dashboard_user set, {"username", "password"} (dashboard_pass compared
 * in constant time, or dashboard_pass_hash: PBKDF2-HMAC-SHA256 in
 * Django's form "pbkdf2_sha256$<iterations>$<salt>$<base64 key>").  A
 * good one becomes a session row on SVC_SESSION_OWNER (dashsess.create);
 * the answer sets "librefang_session=<token>; Path=/; HttpOnly;
 * SameSite=Strict[; Secure]; Max-Age=<ttl>" and carries the session's
 * CSRF token, never the session token.  A wrong one is 401, audited and
 * counted by the login limiter (gw_ratelimit.c).
 *
 * Any route that needs credentials takes the cookie (gw_auth_check()):
 * the token's SHA-256 is looked up here, in a cache of sessions the owner
 * confirmed within GW_SESS_CACHE_MS, or else asked of the owner
 * (dashsess.validate) once the request's body is in (gw_http.c).  A
 * cookie-authenticated request that is not GET or HEAD must carry the
 * session's CSRF token in X-CSRF-Token (403 otherwise); a WebSocket
 * upgrade by cookie must come from a same-origin page (Origin's host is
 * Host).  An unknown or expired session is 401 and the cookie is
 * cleared.
 *
 * A logout deletes the row; the owner announces it on TOPIC_DASHSESS and
 * every gateway drops its cached copy on the spot (this one also at
 * once), so no replica serves the session after the logout's answer
 * (others: after the announcement's few milliseconds).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "bus.h"
#include "gateway.h"
#include "log.h"
#include "ops.h"
#include "services.h"

#define GW_SESS_TOKEN_LEN	43	/* base64url of 32 bytes */
#define GW_SESS_BUCKETS		256
#define GW_SESS_CACHE_MAX	4096
#define GW_DASH_BODY_MAX	(16 * 1024)
#define GW_DASH_FIELD_MAX	1024
#define GW_PBKDF2_ITER_MAX	10000000LL

/* ---- configuration ---------------------------------------------------- */

static struct {
	char		 user[256];
	char		 pass[512];
	/* dashboard_pass_hash, parsed */
	int		 hashed;
	long long	 iter;
	char		 salt[256];
	char		 key_b64[128];
} gw_dauth;

/* Parses "pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>". */
static int
gw_dauth_parse_hash(const char *h, char *err, size_t errlen)
{
	char		 copy[512], *p, *it, *salt, *key;
	unsigned char	 raw[96];
	int		 n;

	snprintf(copy, sizeof(copy), "%s", h);
	p = copy;
	if (strncmp(p, "pbkdf2_sha256$", 14) != 0)
		goto bad;
	p += 14;
	it = p;
	if ((salt = strchr(it, '$')) == NULL)
		goto bad;
	*salt++ = '\0';
	if ((key = strchr(salt, '$')) == NULL)
		goto bad;
	*key++ = '\0';
	if (util_strtonum(it, 1, GW_PBKDF2_ITER_MAX, &gw_dauth.iter) != 0 ||
	    *salt == '\0' || strlen(salt) >= sizeof(gw_dauth.salt) ||
	    strlen(key) != 44 || strchr(salt, '$') != NULL)
		goto bad;
	n = EVP_DecodeBlock(raw, (const unsigned char *)key, 44);
	if (n != 33 || key[43] != '=')	/* 32 bytes and one of padding */
		goto bad;
	snprintf(gw_dauth.salt, sizeof(gw_dauth.salt), "%s", salt);
	snprintf(gw_dauth.key_b64, sizeof(gw_dauth.key_b64), "%s", key);
	gw_dauth.hashed = 1;
	explicit_bzero(copy, sizeof(copy));
	return (0);
 bad:
	explicit_bzero(copy, sizeof(copy));
	snprintf(err, errlen, "dashboard_pass_hash must be "
	    "'pbkdf2_sha256$<iterations 1..%lld>$<salt>$<base64 of the "
	    "32-byte PBKDF2-HMAC-SHA256 key>' (docs/configuration.md)",
	    GW_PBKDF2_ITER_MAX);
	return (-1);
}

int
gw_dauth_init(const struct sh_config *cfg, char *err, size_t errlen)
{
	memset(&gw_dauth, 0, sizeof(gw_dauth));
	if (cfg->dash_user[0] == '\0')
		return (0);
	snprintf(gw_dauth.user, sizeof(gw_dauth.user), "%s", cfg->dash_user);
	if (cfg->dash_pass_hash[0] != '\0')
		return (gw_dauth_parse_hash(cfg->dash_pass_hash, err, errlen));
	if (cfg->dash_pass[0] == '\0') {
		snprintf(err, errlen, "dashboard_user is set without "
		    "dashboard_pass or dashboard_pass_hash");
		return (-1);
	}
	snprintf(gw_dauth.pass, sizeof(gw_dauth.pass), "%s", cfg->dash_pass);
	return (0);
}

int
gw_dauth_password(void)
{
	return (gw_dauth.user[0] != '\0');
}

static int
gw_dauth_password_ok(const char *user, const char *pass)
{
	unsigned char	key[32];
	char		b64[64];
	int		uok, pok;

	if (!gw_dauth_password())
		return (0);
	uok = util_ct_equal(user, strlen(user), gw_dauth.user,
	    strlen(gw_dauth.user));
	if (!gw_dauth.hashed)
		pok = util_ct_equal(pass, strlen(pass), gw_dauth.pass,
		    strlen(gw_dauth.pass));
	else {
		/* The work is done whatever the user name, so a wrong
		 * name takes as long as a wrong password. */
		pok = PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass),
		    (const unsigned char *)gw_dauth.salt,
		    (int)strlen(gw_dauth.salt), (int)gw_dauth.iter,
		    EVP_sha256(), sizeof(key), key) == 1;
		if (pok) {
			EVP_EncodeBlock((unsigned char *)b64, key,
			    sizeof(key));
			pok = util_ct_equal(b64, strlen(b64), gw_dauth.key_b64,
			    strlen(gw_dauth.key_b64));
		}
		explicit_bzero(key, sizeof(key));
	}
	return (uok && pok);
}

/* ---- the cache -------------------------------------------------------- */

struct gw_sess_ent {
	struct gw_sess_ent	*e_next;
	char			 e_hash[GW_SESS_HASH_LEN];
	char			 e_csrf[GW_SESS_HASH_LEN];
	char			 e_user[256];
	int64_t			 e_expires;	/* wall ms */
	uint64_t		 e_cached;	/* monotonic ms */
};

static pthread_mutex_t		 gw_sess_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct gw_sess_ent	*gw_sess_tab[GW_SESS_BUCKETS];
static size_t			 gw_sess_n;

static unsigned int
gw_sess_bucket(const char *hash)
{
	return ((unsigned int)strtoul((char[3]){ hash[0], hash[1], '\0' },
	    NULL, 16) % GW_SESS_BUCKETS);
}

/* Drops every entry.  gw_sess_mtx held. */
static void
gw_sess_clear(void)
{
	struct gw_sess_ent	*e;
	int			 b;

	for (b = 0; b < GW_SESS_BUCKETS; b++)
		while ((e = gw_sess_tab[b]) != NULL) {
			gw_sess_tab[b] = e->e_next;
			explicit_bzero(e, sizeof(*e));
			free(e);
		}
	gw_sess_n = 0;
}

static void
gw_sess_drop(const char *hash)
{
	struct gw_sess_ent	**ep, *e;

	pthread_mutex_lock(&gw_sess_mtx);
	for (ep = &gw_sess_tab[gw_sess_bucket(hash)]; (e = *ep) != NULL;
	    ep = &e->e_next)
		if (strcmp(e->e_hash, hash) == 0) {
			*ep = e->e_next;
			explicit_bzero(e, sizeof(*e));
			free(e);
			gw_sess_n--;
			break;
		}
	pthread_mutex_unlock(&gw_sess_mtx);
}

static void
gw_sess_put(const char *hash, const char *csrf, const char *user,
    int64_t expires)
{
	struct gw_sess_ent	*e;
	unsigned int		 b = gw_sess_bucket(hash);

	if (strlen(csrf) >= GW_SESS_HASH_LEN)
		return;
	gw_sess_drop(hash);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	snprintf(e->e_hash, sizeof(e->e_hash), "%s", hash);
	snprintf(e->e_csrf, sizeof(e->e_csrf), "%s", csrf);
	snprintf(e->e_user, sizeof(e->e_user), "%s", user);
	e->e_expires = expires;
	e->e_cached = util_now_ms();
	pthread_mutex_lock(&gw_sess_mtx);
	if (gw_sess_n >= GW_SESS_CACHE_MAX)
		gw_sess_clear();	/* rare: they are asked again */
	e->e_next = gw_sess_tab[b];
	gw_sess_tab[b] = e;
	gw_sess_n++;
	pthread_mutex_unlock(&gw_sess_mtx);
}

/* 1 with the CSRF token (and user, when asked) of a live cached session. */
static int
gw_sess_get(const char *hash, char *csrf, char *user, size_t ulen)
{
	struct gw_sess_ent	*e;
	int			 hit = 0;

	pthread_mutex_lock(&gw_sess_mtx);
	for (e = gw_sess_tab[gw_sess_bucket(hash)]; e != NULL; e = e->e_next)
		if (strcmp(e->e_hash, hash) == 0)
			break;
	if (e != NULL && util_now_ms() - e->e_cached < GW_SESS_CACHE_MS &&
	    util_wall_ms() < e->e_expires) {
		memcpy(csrf, e->e_csrf, GW_SESS_HASH_LEN);
		if (user != NULL)
			snprintf(user, ulen, "%s", e->e_user);
		hit = 1;
	}
	pthread_mutex_unlock(&gw_sess_mtx);
	return (hit);
}

/* ---- the invalidation subscriber ------------------------------------ */

static struct bus_sub	*gw_dauth_sub;
static pthread_t	 gw_dauth_thr;
static int		 gw_dauth_started;
static atomic_int	 gw_dauth_quit;

static void *
gw_dauth_main(void *arg)
{
	json_t		*ev, *h;
	char		*topic;

	(void)arg;
	/* No deadline: gw_dauth_stop() wakes the receive. */
	while (!atomic_load(&gw_dauth_quit)) {
		if (bus_sub_recv(gw_dauth_sub, -1, &topic, &ev) != 0)
			continue;
		h = json_object_get(ev, "token_hash");
		if (json_is_string(h) &&
		    json_string_length(h) == GW_SESS_HASH_LEN - 1)
			gw_sess_drop(json_string_value(h));
		free(topic);
		json_decref(ev);
	}
	return (NULL);
}

int
gw_dauth_start(const struct sh_config *cfg)
{
	if ((gw_dauth_sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(gw_dauth_sub, TOPIC_DASHSESS) != 0) {
		log_warnx("%s: could not subscribe to '%s'", __func__,
		    TOPIC_DASHSESS);
		bus_sub_close(gw_dauth_sub);
		gw_dauth_sub = NULL;
		return (-1);
	}
	atomic_store(&gw_dauth_quit, 0);
	if (pthread_create(&gw_dauth_thr, NULL, gw_dauth_main, NULL) != 0) {
		log_warnx("%s: could not start the subscriber", __func__);
		bus_sub_close(gw_dauth_sub);
		gw_dauth_sub = NULL;
		return (-1);
	}
	gw_dauth_started = 1;
	return (0);
}

void
gw_dauth_stop(void)
{
	if (gw_dauth_started) {
		atomic_store(&gw_dauth_quit, 1);
		bus_sub_wake(gw_dauth_sub);
		pthread_join(gw_dauth_thr, NULL);
		gw_dauth_started = 0;
		bus_sub_close(gw_dauth_sub);
		gw_dauth_sub = NULL;
	}
	pthread_mutex_lock(&gw_sess_mtx);
	gw_sess_clear();
	pthread_mutex_unlock(&gw_sess_mtx);
	explicit_bzero(&gw_dauth, sizeof(gw_dauth));
}

/* ---- cookies and headers -------------------------------------------- */

/*
 * The session cookie of gr's Cookie header(s): 1 with the token in tok
 * (GW_SESS_TOKEN_LEN + 1 bytes), 0 when there is none, -1 when there is
 * one that cannot be a token (too long, other characters).
 */
struct gw_cookie_scan {
	char	*cs_tok;
	int	 cs_rv;
};

static enum MHD_Result
gw_cookie_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct gw_cookie_scan	*cs = cls;
	const char		*p = value, *v, *end;
	size_t			 n, i;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_COOKIE) != 0 || value == NULL)
		return (MHD_YES);
	while (*p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		n = strlen(GW_SESS_COOKIE);
		if ((size_t)(end - p) > n && strncmp(p, GW_SESS_COOKIE, n) ==
		    0 && p[n] == '=') {
			v = p + n + 1;
			while (end > v && end[-1] == ' ')
				end--;
			if (end - v >= 2 && *v == '"' && end[-1] == '"') {
				v++;
				end--;
			}
			/* Two (set on other paths): the first token that
			 * can be one. */
			if (cs->cs_rv != 1) {
				cs->cs_rv = -1;
				if (end - v == GW_SESS_TOKEN_LEN) {
					for (i = 0; i < GW_SESS_TOKEN_LEN; i++)
						if (!isalnum((unsigned char)
						    v[i]) && v[i] != '-' &&
						    v[i] != '_')
							break;
					if (i == GW_SESS_TOKEN_LEN) {
						memcpy(cs->cs_tok, v, i);
						cs->cs_tok[i] = '\0';
						cs->cs_rv = 1;
					}
				}
			}
		} else if ((size_t)(end - p) == n &&
		    strncmp(p, GW_SESS_COOKIE, n) == 0)
			cs->cs_rv = -1;		/* a name without a value */
		p = end;
	}
	return (MHD_YES);
}

static int
gw_dauth_cookie(struct gw_req *gr, char *tok)
{
	struct gw_cookie_scan	cs = { tok, 0 };

	MHD_get_connection_values(gr->gr_mhd, MHD_HEADER_KIND, gw_cookie_one,
	    &cs);
	return (cs.cs_rv);
}

/* Whether the client reached us over TLS (a proxy in front says so). */
static int
gw_dauth_tls(struct gw_req *gr)
{
	const char	*p;

	p = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "X-Forwarded-Proto");
	return (p != NULL && strcasecmp(p, "https") == 0);
}

/* Sets the Set-Cookie header of gr's reply: the token for max_age
 * seconds, or (tok NULL) the cookie cleared. */
static void
gw_dauth_set_cookie(struct gw_req *gr, const char *tok, long long max_age)
{
	char	c[256];

	snprintf(c, sizeof(c), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s; "
	    "Max-Age=%lld", GW_SESS_COOKIE, tok != NULL ? tok : "",
	    gw_dauth_tls(gr) ? "; Secure" : "", tok != NULL ? max_age : 0);
	if (gr->gr_rheaders == NULL)
		gr->gr_rheaders = json_object();
	json_object_set_new(gr->gr_rheaders, "Set-Cookie", json_string(c));
	explicit_bzero(c, sizeof(c));
}

/* 401 for an unknown or expired session, the cookie cleared. */
static void
gw_dauth_reply_expired(struct gw_req *gr, const char *why)
{
	gw_reply_error(gr, 401, "%s: log in again", why);
	gw_dauth_set_cookie(gr, NULL, 0);
	gw_auth_audit(gr, why);
}

static int
gw_dauth_is_upgrade(struct gw_req *gr)
{
	const char	*u;

	u = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_UPGRADE);
	return (u != NULL && strcasecmp(u, "websocket") == 0);
}

/*
 * A request authenticated by its session (gr_csrf set): the CSRF token of
 * a state-changing method, the Origin of a WebSocket.  0, or -1 with a
 * 403.
 */
static int
gw_dauth_csrf(struct gw_req *gr)
{
	const char	*t;

	gr->gr_principal = "owner";
	if (gw_dauth_is_upgrade(gr)) {
		if (!gw_same_origin(gr)) {
			gw_reply_error(gr, 403, "a WebSocket authenticated by "
			    "the session cookie must come from this origin");
			gw_auth_audit(gr, "cross-origin WebSocket by cookie");
			return (-1);
		}
		return (0);
	}
	if (gr->gr_method == GW_GET)		/* and HEAD */
		return (0);
	t = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "X-CSRF-Token");
	if (t == NULL || *t == '\0') {
		gw_reply_error(gr, 403, "missing CSRF token: send the "
		    "session's csrf_token in X-CSRF-Token");
		gw_auth_audit(gr, "missing CSRF token");
		return (-1);
	}
	if (!util_ct_equal(t, strlen(t), gr->gr_csrf, strlen(gr->gr_csrf))) {
		gw_reply_error(gr, 403, "invalid CSRF token");
		gw_auth_audit(gr, "invalid CSRF token");
		return (-1);
	}
	return (0);
}

int
gw_dauth_cookie_auth(struct gw_req *gr)
{
	char	tok[GW_SESS_TOKEN_LEN + 1];
	int	rv;

	if ((rv = gw_dauth_cookie(gr, tok)) == 0)
		return (1);
	if (rv < 0) {
		gw_dauth_reply_expired(gr, "malformed session cookie");
		return (-1);
	}
	rv = util_sha256_hex(tok, strlen(tok), gr->gr_sess_hash);
	explicit_bzero(tok, sizeof(tok));
	if (rv != 0) {
		gw_reply_error(gr, 500, "could not hash the session cookie");
		return (-1);
	}
	if (gw_sess_get(gr->gr_sess_hash, gr->gr_csrf, NULL, 0)) {
		gr->gr_sess = GW_SESS_OK;
		return (gw_dauth_csrf(gr));
	}
	/* The owner is asked once the body is in (gw_http.c); the key of
	 * an Idempotency-Key is the principal's meanwhile. */
	gr->gr_sess = GW_SESS_PENDING;
	gr->gr_principal = "owner";
	return (0);
}

/* The fields of a dashsess.validate answer: 0, or -1 when malformed. */
static int
gw_dauth_took(struct gw_req *gr, json_t *b, const char **user)
{
	json_t	*csrf = json_object_get(b, "csrf_token");
	json_t	*exp = json_object_get(b, "expires_ms");

	if (!json_is_string(csrf) || json_string_length(csrf) >=
	    GW_SESS_HASH_LEN || !json_is_integer(exp))
		return (-1);
	*user = json_string_value(json_object_get(b, "user"));
	if (*user == NULL)
		*user = "";
	memcpy(gr->gr_csrf, json_string_value(csrf),
	    json_string_length(csrf) + 1);
	gw_sess_put(gr->gr_sess_hash, gr->gr_csrf, *user,
	    (int64_t)json_integer_value(exp));
	return (0);
}

/* On an nng thread: the owner's answer about gr's session. */
static void
gw_dauth_validated(struct gw_req *gr, int err, struct msg_rep *rep)
{
	const char	*user;
	json_t		*b;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return;
	}
	b = msg_rep_body(rep);
	if (rep->mp_status == 404)
		gw_dauth_reply_expired(gr, "unknown or expired session");
	else if (rep->mp_status != 200)
		gw_reply_relay(gr, rep);
	else if (gw_dauth_took(gr, b, &user) != 0)
		gw_reply_error(gr, 502, "service '%s' sent a malformed "
		    "session", SVC_SESSION_OWNER);
	else if (gw_dauth_csrf(gr) == 0)
		gr->gr_sess = GW_SESS_CHECKED;	/* gw_http.c dispatches */
	msg_rep_release(rep);
}

int
gw_dauth_validate(struct gw_req *gr)
{
	return (gw_call(gr, SVC_SESSION_OWNER, OP_DASHSESS_VALIDATE,
	    json_object(), json_object(), json_pack("{s:s}", "token_hash",
	    gr->gr_sess_hash), gw_dauth_validated));
}

/* ---- POST /api/auth/dashboard-login ---------------------------------- */

/* body's string field (borrowed), NULL when absent; -1 with a 400 when
 * it is not a string of 1..GW_DASH_FIELD_MAX bytes without NUL. */
static int
gw_dauth_field(struct gw_req *gr, json_t *body, const char *key,
    const char **out)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL)
		return (0);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > GW_DASH_FIELD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		gw_reply_error(gr, 400, "'%s' must be a non-empty string of "
		    "at most %d bytes", key, GW_DASH_FIELD_MAX);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

static json_t *
gw_dauth_methods(void)
{
	json_t	*m = json_array();

	if (gw_auth_has_key())
		json_array_append_new(m, json_string("api_key"));
	if (gw_dauth_password())
		json_array_append_new(m, json_string("password"));
	if (gw_oidc_enabled())
		json_array_append_new(m, json_string("oidc"));
	return (m);
}

/* On an nng thread: the new session. */
static void
gw_dauth_created(struct gw_req *gr, int err, struct msg_rep *rep)
{
	json_t		*b, *tok, *ttl;
	const char	*user;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return;
	}
	b = msg_rep_body(rep);
	tok = json_object_get(b, "token");
	ttl = json_object_get(b, "ttl_secs");
	if (rep->mp_status != 201)
		gw_reply_relay(gr, rep);
	else if (!json_is_string(tok) || json_string_length(tok) !=
	    GW_SESS_TOKEN_LEN || !json_is_integer(ttl) ||
	    util_sha256_hex(json_string_value(tok), json_string_length(tok),
	    gr->gr_sess_hash) != 0 ||
	    gw_dauth_took(gr, b, &user) != 0)
		gw_reply_error(gr, 502, "service '%s' sent a malformed "
		    "session", SVC_SESSION_OWNER);
	else {
		gw_reply_json(gr, 200, json_pack("{s:b, s:s, s:O, s:O, s:O, "
		    "s:O}", "ok", 1, "csrf_token", gr->gr_csrf,
		    "created_at", json_object_get(b, "created_at"),
		    "expires_at", json_object_get(b, "expires_at"),
		    "user", json_object_get(b, "user"),
		    "method", json_object_get(b, "method")));
		gw_dauth_set_cookie(gr, json_string_value(tok),
		    (long long)json_integer_value(ttl));
	}
	msg_rep_release(rep);
}

int
gw_dauth_login(struct gw_req *gr)
{
	json_error_t	 je;
	json_t		*body, *req;
	const char	*k, *key, *user, *pass, *ua, *method;
	json_t		*v;
	int		 ok;

	if (!gw_auth_required()) {
		gw_reply_json(gr, 200, json_pack("{s:b, s:s, s:s}", "ok", 1,
		    "token", "", "message", "No credentials required"));
		return (0);
	}
	if (gr->gr_body.b_len > GW_DASH_BODY_MAX) {
		gw_reply_error(gr, 413, "request body too large: %zu bytes "
		    "(a login takes %d at most)", gr->gr_body.b_len,
		    GW_DASH_BODY_MAX);
		return (0);
	}
	if (gr->gr_body.b_len == 0 || (body = json_loadb(gr->gr_body.b_data,
	    gr->gr_body.b_len, 0, &je)) == NULL) {
		gw_reply_error(gr, 400, "malformed JSON: send {\"api_key\": "
		    "...} or {\"username\": ..., \"password\": ...}");
		return (0);
	}
	buf_release(&gr->gr_body);
	if (!json_is_object(body)) {
		gw_reply_error(gr, 400, "the body must be a JSON object");
		json_decref(body);
		return (0);
	}
	json_object_foreach(body, k, v) {
		if (strcmp(k, "api_key") != 0 && strcmp(k, "username") != 0 &&
		    strcmp(k, "password") != 0) {
			gw_reply_error(gr, 400, "unknown field '%.64s'", k);
			json_decref(body);
			return (0);
		}
	}
	if (gw_dauth_field(gr, body, "api_key", &key) != 0 ||
	    gw_dauth_field(gr, body, "username", &user) != 0 ||
	    gw_dauth_field(gr, body, "password", &pass) != 0) {
		json_decref(body);
		return (0);
	}
	if ((key != NULL) == (user != NULL || pass != NULL) ||
	    (key == NULL && (user == NULL || pass == NULL))) {
		gw_reply_error(gr, 400, "send {\"api_key\": ...} or "
		    "{\"username\": ..., \"password\": ...}");
		json_decref(body);
		return (0);
	}
	if (key != NULL) {
		ok = gw_auth_key_ok(key);
		method = "api_key";
		user = "owner";
	} else {
		ok = gw_dauth_password_ok(user, pass);
		method = "password";
	}
	if (!ok) {
		json_decref(body);
		if (!gr->gr_rl_exempt)
			gw_authrl_count(gw_conn_key(gr->gr_conn));
		gw_auth_audit(gr, "dashboard login failed");
		gw_reply_error(gr, 401, "invalid credentials");
		return (0);
	}
	ua = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_USER_AGENT);
	/* The TTL is the owner's dashboard_session_ttl_secs (live). */
	req = json_pack("{s:s, s:s, s:s, s:s}", "user", user, "method",
	    method, "user_agent", ua != NULL && util_utf8_valid(
	    (const unsigned char *)ua, strlen(ua)) ? ua : "", "ip",
	    gw_conn_ip(gr->gr_conn));
	json_decref(body);
	if (req == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	return (gw_call(gr, SVC_SESSION_OWNER, OP_DASHSESS_CREATE,
	    json_object(), json_object(), req, gw_dauth_created));
}

/* ---- GET /api/auth/dashboard-check ----------------------------------- */

static json_t *
gw_dauth_check_body(int authenticated)
{
	return (json_pack("{s:b, s:b, s:o}", "auth_required",
	    gw_auth_required(), "authenticated", authenticated, "methods",
	    gw_dauth_methods()));
}

static void
gw_dauth_checked(struct gw_req *gr, int err, struct msg_rep *rep)
{
	const char	*user;
	json_t		*o;

	if (err != 0) {
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return;
	}
	if (rep->mp_status == 404) {
		gw_reply_json(gr, 200, gw_dauth_check_body(0));
		gw_dauth_set_cookie(gr, NULL, 0);
	} else if (rep->mp_status != 200)
		gw_reply_relay(gr, rep);
	else if (gw_dauth_took(gr, msg_rep_body(rep), &user) != 0)
		gw_reply_error(gr, 502, "service '%s' sent a malformed "
		    "session", SVC_SESSION_OWNER);
	else {
		o = gw_dauth_check_body(1);
		json_object_set_new(o, "csrf_token", json_string(gr->gr_csrf));
		json_object_set_new(o, "user", json_string(user));
		gw_reply_json(gr, 200, o);
	}
	msg_rep_release(rep);
}

int
gw_dauth_check(struct gw_req *gr)
{
	char		 tok[GW_SESS_TOKEN_LEN + 1], user[256];
	const char	*key;
	json_t		*o;
	int		 rv;

	if (!gw_auth_required()) {
		gw_reply_json(gr, 200, gw_dauth_check_body(
		    gw_conn_loopback(gr->gr_conn) || gw_auth_allow_remote()));
		return (0);
	}
	if ((key = gw_auth_header_token(gr)) != NULL) {
		gw_reply_json(gr, 200, gw_dauth_check_body(gw_auth_key_ok(key)));
		return (0);
	}
	if ((rv = gw_dauth_cookie(gr, tok)) <= 0) {
		gw_reply_json(gr, 200, gw_dauth_check_body(0));
		if (rv < 0)
			gw_dauth_set_cookie(gr, NULL, 0);
		return (0);
	}
	rv = util_sha256_hex(tok, strlen(tok), gr->gr_sess_hash);
	explicit_bzero(tok, sizeof(tok));
	if (rv != 0) {
		gw_reply_error(gr, 500, "could not hash the session cookie");
		return (0);
	}
	if (gw_sess_get(gr->gr_sess_hash, gr->gr_csrf, user, sizeof(user))) {
		o = gw_dauth_check_body(1);
		json_object_set_new(o, "csrf_token", json_string(gr->gr_csrf));
		json_object_set_new(o, "user", json_string(user));
		gw_reply_json(gr, 200, o);
		return (0);
	}
	return (gw_call(gr, SVC_SESSION_OWNER, OP_DASHSESS_VALIDATE,
	    json_object(), json_object(), json_pack("{s:s}", "token_hash",
	    gr->gr_sess_hash), gw_dauth_checked));
}

/* ---- POST /auth/logout, POST /api/auth/logout ------------------------ */

static void
gw_dauth_deleted(struct gw_req *gr, int err, struct msg_rep *rep)
{
	if (err != 0) {
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return;
	}
	if (rep->mp_status == 200) {
		gw_sess_drop(gr->gr_sess_hash);
		gw_reply_json(gr, 200, json_pack("{s:b}", "ok", 1));
		gw_dauth_set_cookie(gr, NULL, 0);
	} else
		gw_reply_relay(gr, rep);
	msg_rep_release(rep);
}

int
gw_dauth_logout(struct gw_req *gr)
{
	char		 tok[GW_SESS_TOKEN_LEN + 1];
	const char	*t;
	int		 rv;

	if ((rv = gw_dauth_cookie(gr, tok)) <= 0) {
		/* Nothing to delete: the cookie goes all the same. */
		gw_reply_json(gr, 200, json_pack("{s:b}", "ok", 1));
		gw_dauth_set_cookie(gr, NULL, 0);
		return (0);
	}
	rv = util_sha256_hex(tok, strlen(tok), gr->gr_sess_hash);
	explicit_bzero(tok, sizeof(tok));
	if (rv != 0) {
		gw_reply_error(gr, 500, "could not hash the session cookie");
		return (0);
	}
	/* A page of another site must not end the session: the CSRF token
	 * is checked by the owner, against the row. */
	t = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "X-CSRF-Token");
	if (t == NULL || *t == '\0' || strlen(t) > 256) {
		gw_reply_error(gr, 403, "missing CSRF token: send the "
		    "session's csrf_token in X-CSRF-Token");
		return (0);
	}
	return (gw_call(gr, SVC_SESSION_OWNER, OP_DASHSESS_DELETE,
	    json_object(), json_object(), json_pack("{s:s, s:s}",
	    "token_hash", gr->gr_sess_hash, "csrf_token", t),
	    gw_dauth_deleted));
}
