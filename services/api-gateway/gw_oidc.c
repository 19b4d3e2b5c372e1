/*
 * gw_oidc.c - dashboard login through OpenID Connect providers
 * ([external_auth] in config.toml; docs/configuration.md).
 *
 *   GET  /api/auth/providers           the configured providers (public)
 *   GET  /api/auth/login[/{provider}]  302 to the provider (public)
 *   GET|POST /api/auth/callback        the code comes back (public)
 *   GET  /api/auth/userinfo            the caller's claims
 *   POST /api/auth/introspect          RFC 7662 {active, ...}
 *
 * The authorization code flow with PKCE (S256), a state and a nonce.
 * The gateway keeps no login rows: the state is sealed (AES-256-GCM under
 * LIBREFANG_STATE_SECRET) and carries the provider, the PKCE verifier,
 * the nonce, an expiry and the hash of a random value set as a cookie on
 * the browser that started the login, so the callback may reach any
 * replica sharing the secret, and a callback brought by another browser
 * (login CSRF) is refused.  A state is taken once per replica (a table
 * of the ones seen until they expire); the cookie is cleared by the
 * callback and the provider takes a code once, which covers the others.
 *
 * The provider's discovery document and JWKS are fetched with
 * libshared/httpc.c under the SSRF rules (ssrf.h), with the issuer's own
 * host and [external_auth] allowed_hosts admitted, and kept for an hour;
 * an ID token naming an unknown kid fetches the JWKS again (at most every
 * OIDC_JWKS_MIN_MS).  The ID token's signature is checked by gw_jwt.c,
 * its claims here (iss, aud/azp, exp, iat, nonce, sub).
 *
 * Network work never runs on a libmicrohttpd thread: the request is
 * suspended and a short-lived thread (at most OIDC_MAX_WORKERS at once)
 * does it and resumes the connection.  The dashboard session is created
 * through the session owner's op on the bus (dashauth's sessions).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "audit.h"
#include "bus.h"
#include "gateway.h"
#include "httpc.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "ssrf.h"

#define OIDC_MAX_PROVIDERS	16
#define OIDC_MAX_WORKERS	32
#define OIDC_DOC_MAX		(256 * 1024)	/* a provider's answer */
#define OIDC_CACHE_MS		(3600 * 1000)	/* discovery, JWKS */
#define OIDC_JWKS_MIN_MS	(5 * 1000)	/* refetch on unknown kid */
#define OIDC_SKEW_SECS		60		/* exp, iat leeway */
#define OIDC_STATE_MAX		2048		/* bytes of a state */
#define OIDC_USED_MAX		4096		/* states remembered */
#define OIDC_COOKIE		"librefang_oidc"
#define OIDC_AAD		"librefang-oidc-state-v1"


struct oidc_prov {
	char		*op_id;
	char		*op_name;
	char		*op_issuer;
	char		*op_client_id;
	char		*op_secret_env;
	char		*op_scopes;	/* space-separated */
	char		*op_redirect;
	char		*op_auth_method;	/* client_secret_basic|_post|none */
	json_t		*op_emails;	/* allowed_emails or NULL */
	json_t		*op_domains;	/* allowed_domains or NULL */
	json_t		*op_subjects;	/* allowed_subjects or NULL */
	json_t		*op_allow;	/* SSRF allowlist */

	pthread_mutex_t	 op_mtx;	/* the caches below */
	json_t		*op_disc;
	uint64_t	 op_disc_at;
	json_t		*op_jwks;
	uint64_t	 op_jwks_at;
};

struct oidc_used {
	unsigned char	 u_jti[16];
	int64_t		 u_exp;
};

static struct {
	struct oidc_prov	 o_prov[OIDC_MAX_PROVIDERS];
	int			 o_nprov;
	int			 o_default;
	unsigned char		 o_key[32];
	long			 o_timeout_ms;
	long			 o_state_ttl;
	struct bus_client	*o_bus;
	long			 o_bus_ms;
	atomic_int		 o_workers;
	pthread_mutex_t		 o_used_mtx;
	struct oidc_used	 o_used[OIDC_USED_MAX];
	size_t			 o_nused;
} gw_oidc = {
	.o_default = -1,
	.o_used_mtx = PTHREAD_MUTEX_INITIALIZER
};

/* ---- configuration ------------------------------------------------------ */

static char *
conf_str(const json_t *o, const char *key, const char *dflt)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (strdup(s != NULL ? s : dflt != NULL ? dflt : ""));
}

static int
conf_id_ok(const char *s)
{
	size_t	n = strlen(s), i;

	if (n == 0 || n > 64)
		return (0);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return (0);
	return (1);
}

/* A JSON array of strings, copied, or NULL (none, or empty). */
static json_t *
conf_list(const json_t *o, const char *key)
{
	const json_t	*a = json_object_get(o, key), *v;
	size_t		 i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return (NULL);
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return (NULL);
	return (json_deep_copy(a));
}

/* The issuer's "host:port" into the SSRF allowlist, with allowed_hosts. */
static json_t *
conf_allow(const char *issuer, const json_t *extra)
{
	CURLU	*u;
	char	*host = NULL, *port = NULL, hp[300];
	json_t	*a = json_array(), *v;
	size_t	 i;

	json_array_foreach(extra, i, v)
		if (json_is_string(v))
			json_array_append(a, v);
	if ((u = curl_url()) != NULL &&
	    curl_url_set(u, CURLUPART_URL, issuer, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK) {
		snprintf(hp, sizeof(hp), "%s:%s", host, port);
		json_array_append_new(a, json_string(hp));
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return (a);
}

static int
conf_url_ok(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "http://", 7) == 0);
}

/* LIBREFANG_STATE_SECRET: base64 (or base64url) of 32 bytes. */
static int
conf_state_key(char *err, size_t errlen)
{
	const char	*s = getenv("LIBREFANG_STATE_SECRET");
	unsigned char	*raw;
	char		 t[128];
	size_t		 n, i, len;

	if (s == NULL || *s == '\0') {
		if (RAND_bytes(gw_oidc.o_key, sizeof(gw_oidc.o_key)) != 1) {
			snprintf(err, errlen, "no random bytes for the OAuth "
			    "state key");
			return (-1);
		}
		log_warnx("external_auth: LIBREFANG_STATE_SECRET is not set: "
		    "a random state key for this process, so a login must "
		    "come back to this replica");
		return (0);
	}
	len = strlen(s);
	for (i = 0, n = 0; i < len && n < sizeof(t) - 1; i++) {
		if (s[i] == '=' || s[i] == '\n' || s[i] == ' ')
			continue;
		t[n++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
	}
	t[n] = '\0';
	if ((raw = gw_b64url_decode(t, n, &len)) == NULL || len != 32) {
		free(raw);
		snprintf(err, errlen, "LIBREFANG_STATE_SECRET must be the "
		    "base64 of 32 bytes (openssl rand -base64 32)");
		return (-1);
	}
	memcpy(gw_oidc.o_key, raw, 32);
	explicit_bzero(raw, len);
	free(raw);
	return (0);
}

static int
conf_provider(struct oidc_prov *p, const json_t *o, const json_t *ea,
    char *err, size_t errlen)
{
	const char	*dredir = json_string_value(json_object_get(ea,
			    "redirect_url"));
	const json_t	*sc = json_object_get(o, "scopes"), *v;
	struct buf	 b;
	size_t		 i;

	pthread_mutex_init(&p->op_mtx, NULL);
	p->op_id = conf_str(o, "id", NULL);
	p->op_name = conf_str(o, "display_name", p->op_id);
	p->op_issuer = conf_str(o, "issuer_url", NULL);
	p->op_client_id = conf_str(o, "client_id", NULL);
	p->op_secret_env = conf_str(o, "client_secret_env",
	    "LIBREFANG_OAUTH_CLIENT_SECRET");
	p->op_redirect = conf_str(o, "redirect_url", dredir);
	p->op_auth_method = conf_str(o, "token_auth", "client_secret_basic");
	if (p->op_id == NULL || p->op_name == NULL || p->op_issuer == NULL ||
	    p->op_client_id == NULL || p->op_secret_env == NULL ||
	    p->op_redirect == NULL || p->op_auth_method == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	/* A trailing slash is not part of the issuer's identity here. */
	while (strlen(p->op_issuer) > 8 &&
	    p->op_issuer[strlen(p->op_issuer) - 1] == '/')
		p->op_issuer[strlen(p->op_issuer) - 1] = '\0';
	if (!conf_id_ok(p->op_id)) {
		snprintf(err, errlen, "[[external_auth.providers]]: 'id' must "
		    "be 1 to 64 of [A-Za-z0-9_-]");
		return (-1);
	}
	if (!conf_url_ok(p->op_issuer) || *p->op_client_id == '\0' ||
	    !conf_url_ok(p->op_redirect)) {
		snprintf(err, errlen, "external_auth provider '%s': "
		    "issuer_url and redirect_url (http or https) and "
		    "client_id are required", p->op_id);
		return (-1);
	}
	if (strcmp(p->op_auth_method, "client_secret_basic") != 0 &&
	    strcmp(p->op_auth_method, "client_secret_post") != 0 &&
	    strcmp(p->op_auth_method, "none") != 0) {
		snprintf(err, errlen, "external_auth provider '%s': "
		    "token_auth is client_secret_basic, client_secret_post "
		    "or none", p->op_id);
		return (-1);
	}
	buf_init(&b, 1024);
	if (json_is_array(sc) && json_array_size(sc) > 0) {
		json_array_foreach(sc, i, v)
			if (json_is_string(v))
				buf_addf(&b, "%s%s", b.b_len > 0 ? " " : "",
				    json_string_value(v));
	} else
		buf_adds(&b, "openid email profile");
	if (b.b_data == NULL || strstr(b.b_data, "openid") == NULL) {
		buf_release(&b);
		snprintf(err, errlen, "external_auth provider '%s': scopes "
		    "must include \"openid\"", p->op_id);
		return (-1);
	}
	p->op_scopes = buf_detach(&b);
	p->op_emails = conf_list(o, "allowed_emails");
	p->op_domains = conf_list(o, "allowed_domains");
	p->op_subjects = conf_list(o, "allowed_subjects");
	p->op_allow = conf_allow(p->op_issuer, json_object_get(ea,
	    "allowed_hosts"));
	if (p->op_emails == NULL && p->op_domains == NULL &&
	    p->op_subjects == NULL)
		log_warnx("external_auth provider '%s': no allowed_emails, "
		    "allowed_domains or allowed_subjects: every account the "
		    "provider signs in may use the dashboard", p->op_id);
	return (0);
}

int
gw_oidc_init(const struct sh_config *cfg, struct bus_client *bc, char *err,
    size_t errlen)
{
	const json_t	*ea = json_object_get(cfg->cf_doc, "external_auth");
	const json_t	*provs = json_object_get(ea, "providers"), *o, *v;
	const char	*dflt;
	size_t		 i;
	int		 k;

	gw_oidc.o_bus = bc;
	gw_oidc.o_bus_ms = (long)cfg->bus_timeout_ms;
	gw_oidc.o_timeout_ms = 10000;
	gw_oidc.o_state_ttl = 600;
	if (!json_is_object(ea) || json_is_false(json_object_get(ea,
	    "enabled")))
		return (0);
	if (json_is_integer(v = json_object_get(ea, "http_timeout_secs")) &&
	    json_integer_value(v) >= 1 && json_integer_value(v) <= 60)
		gw_oidc.o_timeout_ms = (long)json_integer_value(v) * 1000;
	if (json_is_integer(v = json_object_get(ea, "state_ttl_secs")) &&
	    json_integer_value(v) >= 30 && json_integer_value(v) <= 3600)
		gw_oidc.o_state_ttl = (long)json_integer_value(v);
	if (!json_is_array(provs) || json_array_size(provs) == 0) {
		snprintf(err, errlen, "[external_auth] has no "
		    "[[external_auth.providers]]");
		return (-1);
	}
	if (json_array_size(provs) > OIDC_MAX_PROVIDERS) {
		snprintf(err, errlen, "[external_auth]: at most %d providers",
		    OIDC_MAX_PROVIDERS);
		return (-1);
	}
	json_array_foreach(provs, i, o) {
		if (!json_is_object(o)) {
			snprintf(err, errlen, "[[external_auth.providers]] "
			    "entries are tables");
			return (-1);
		}
		if (conf_provider(&gw_oidc.o_prov[gw_oidc.o_nprov++], o, ea,
		    err, errlen) != 0)
			return (-1);
		for (k = 0; k + 1 < gw_oidc.o_nprov; k++)
			if (strcmp(gw_oidc.o_prov[k].op_id,
			    gw_oidc.o_prov[gw_oidc.o_nprov - 1].op_id) == 0) {
				snprintf(err, errlen, "external_auth: provider "
				    "'%s' is configured twice",
				    gw_oidc.o_prov[k].op_id);
				return (-1);
			}
	}
	gw_oidc.o_default = 0;
	if ((dflt = json_string_value(json_object_get(ea,
	    "default_provider"))) != NULL) {
		for (k = 0; k < gw_oidc.o_nprov; k++)
			if (strcmp(gw_oidc.o_prov[k].op_id, dflt) == 0)
				break;
		if (k == gw_oidc.o_nprov) {
			snprintf(err, errlen, "external_auth: default_provider "
			    "'%s' is not configured", dflt);
			return (-1);
		}
		gw_oidc.o_default = k;
	}
	if (conf_state_key(err, errlen) != 0)
		return (-1);
	log_info("external_auth: %d OpenID provider%s, default '%s'",
	    gw_oidc.o_nprov, gw_oidc.o_nprov == 1 ? "" : "s",
	    gw_oidc.o_prov[gw_oidc.o_default].op_id);
	return (0);
}

void
gw_oidc_fini(void)
{
	struct oidc_prov	*p;
	int			 i;

	for (i = 0; i < gw_oidc.o_nprov; i++) {
		p = &gw_oidc.o_prov[i];
		free(p->op_id);
		free(p->op_name);
		free(p->op_issuer);
		free(p->op_client_id);
		free(p->op_secret_env);
		free(p->op_scopes);
		free(p->op_redirect);
		free(p->op_auth_method);
		json_decref(p->op_emails);
		json_decref(p->op_domains);
		json_decref(p->op_subjects);
		json_decref(p->op_allow);
		json_decref(p->op_disc);
		json_decref(p->op_jwks);
		pthread_mutex_destroy(&p->op_mtx);
	}
	gw_oidc.o_nprov = 0;
	explicit_bzero(gw_oidc.o_key, sizeof(gw_oidc.o_key));
}

int
gw_oidc_enabled(void)
{
	return (gw_oidc.o_nprov > 0);
}

static struct oidc_prov *
prov_find(const char *id)
{
	int	i;

	for (i = 0; id != NULL && i < gw_oidc.o_nprov; i++)
		if (strcmp(gw_oidc.o_prov[i].op_id, id) == 0)
			return (&gw_oidc.o_prov[i]);
	return (NULL);
}

/* ---- talking to the provider (worker threads only) ---------------------- */

/* Why a fetch failed: the provider's fault (502) or the caller's (400). */
#define FETCH_EDOWN	-1	/* no answer, refused by SSRF, not JSON */
#define FETCH_ESTATUS	-2	/* an answer with an error status */

/*
 * One request to the provider p: the URL passes the SSRF rules (the
 * issuer's host and allowed_hosts admitted) and the transfer is pinned to
 * the checked address.  0 with *out a JSON object (new) when it answered
 * 2xx; FETCH_ESTATUS with *out its body (new, or NULL) for another
 * status; FETCH_EDOWN otherwise.  err says why.
 */
static int
oidc_fetch(struct oidc_prov *p, const char *url, const char *form,
    const struct curl_slist *hdrs, json_t **out, char *err, size_t errlen)
{
	struct httpc_req	 rq;
	struct httpc_resp	 rs;
	struct ssrf_target	 t;
	struct curl_slist	*pin = NULL;
	CURLU			*u = NULL;
	char			 why[512];
	int			 rv = FETCH_EDOWN;

	*out = NULL;
	memset(&rs, 0, sizeof(rs));
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "provider '%s': invalid URL '%.200s'",
		    p->op_id, url);
		goto done;
	}
	if (ssrf_check(u, p->op_allow, "[external_auth] allowed_hosts", &t,
	    why, sizeof(why)) != 0) {
		snprintf(err, errlen, "provider '%s': %s", p->op_id, why);
		goto done;
	}
	if (t.st_resolve[0] != '\0' &&
	    (pin = curl_slist_append(NULL, t.st_resolve)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	memset(&rq, 0, sizeof(rq));
	rq.hr_url = url;
	rq.hr_headers = hdrs;
	rq.hr_body = form;
	rq.hr_bodylen = form != NULL ? strlen(form) : 0;
	rq.hr_timeout_ms = gw_oidc.o_timeout_ms;
	rq.hr_connect_ms = gw_oidc.o_timeout_ms;
	rq.hr_max = OIDC_DOC_MAX;
	rq.hr_resolve = pin;
	if (httpc_do(&rq, &rs) != 0) {
		snprintf(err, errlen, "provider '%s' did not answer: %s",
		    p->op_id, rs.hs_err);
		goto done;
	}
	*out = json_loadb(rs.hs_body.b_data != NULL ? rs.hs_body.b_data : "",
	    rs.hs_body.b_len, 0, NULL);
	if (*out != NULL && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
	}
	if (rs.hs_status < 200 || rs.hs_status > 299) {
		snprintf(err, errlen, "provider '%s' answered %ld",
		    p->op_id, rs.hs_status);
		rv = FETCH_ESTATUS;
		goto done;
	}
	if (*out == NULL) {
		snprintf(err, errlen, "provider '%s' answered with no JSON "
		    "object", p->op_id);
		goto done;
	}
	rv = 0;
 done:
	if (rv != 0 && rv != FETCH_ESTATUS) {
		json_decref(*out);
		*out = NULL;
	}
	httpc_resp_release(&rs);
	curl_slist_free_all(pin);
	curl_url_cleanup(u);
	return (rv);
}

/* The discovery document (new reference), fetched when not cached. */
static json_t *
oidc_discovery(struct oidc_prov *p, char *err, size_t errlen)
{
	json_t		*d = NULL;
	const char	*iss;
	char		 url[1100];
	uint64_t	 now = util_now_ms();
	int		 rv;

	pthread_mutex_lock(&p->op_mtx);
	if (p->op_disc != NULL && now - p->op_disc_at < OIDC_CACHE_MS)
		d = json_incref(p->op_disc);
	pthread_mutex_unlock(&p->op_mtx);
	if (d != NULL)
		return (d);
	snprintf(url, sizeof(url), "%s/.well-known/openid-configuration",
	    p->op_issuer);
	if ((rv = oidc_fetch(p, url, NULL, NULL, &d, err, errlen)) != 0) {
		json_decref(d);
		return (NULL);
	}
	iss = json_string_value(json_object_get(d, "issuer"));
	if (iss == NULL || strncmp(iss, p->op_issuer, strlen(p->op_issuer))
	    != 0 || (iss[strlen(p->op_issuer)] != '\0' &&
	    strcmp(iss + strlen(p->op_issuer), "/") != 0)) {
		snprintf(err, errlen, "provider '%s': the discovery document "
		    "names issuer '%.200s', not '%s'", p->op_id,
		    iss != NULL ? iss : "", p->op_issuer);
		json_decref(d);
		return (NULL);
	}
	if (!json_is_string(json_object_get(d, "authorization_endpoint")) ||
	    !json_is_string(json_object_get(d, "token_endpoint")) ||
	    !json_is_string(json_object_get(d, "jwks_uri"))) {
		snprintf(err, errlen, "provider '%s': the discovery document "
		    "lacks authorization_endpoint, token_endpoint or "
		    "jwks_uri", p->op_id);
		json_decref(d);
		return (NULL);
	}
	pthread_mutex_lock(&p->op_mtx);
	json_decref(p->op_disc);
	p->op_disc = json_incref(d);
	p->op_disc_at = now;
	pthread_mutex_unlock(&p->op_mtx);
	return (d);
}

/* The JWKS (new reference): cached, or fetched when older than an hour
 * or when refresh asks (an unknown kid) and the last fetch is not too
 * recent. */
static json_t *
oidc_jwks(struct oidc_prov *p, const json_t *disc, int refresh, char *err,
    size_t errlen)
{
	json_t		*k = NULL;
	uint64_t	 now = util_now_ms();

	pthread_mutex_lock(&p->op_mtx);
	if (p->op_jwks != NULL && (refresh ? now - p->op_jwks_at <
	    OIDC_JWKS_MIN_MS : now - p->op_jwks_at < OIDC_CACHE_MS))
		k = json_incref(p->op_jwks);
	pthread_mutex_unlock(&p->op_mtx);
	if (k != NULL)
		return (k);
	if (oidc_fetch(p, json_string_value(json_object_get(disc,
	    "jwks_uri")), NULL, NULL, &k, err, errlen) != 0) {
		json_decref(k);
		return (NULL);
	}
	if (!json_is_array(json_object_get(k, "keys"))) {
		snprintf(err, errlen, "provider '%s': the JWKS has no keys",
		    p->op_id);
		json_decref(k);
		return (NULL);
	}
	pthread_mutex_lock(&p->op_mtx);
	json_decref(p->op_jwks);
	p->op_jwks = json_incref(k);
	p->op_jwks_at = now;
	pthread_mutex_unlock(&p->op_mtx);
	return (k);
}

/*
 * Verifies a JWT signed by p (signature with the JWKS, refetched once on
 * an unknown kid; then iss, aud/azp, exp, iat; nonce when not NULL).
 * The claims (new), or NULL with why in err and *status 400 (the token)
 * or 502 (the provider).
 */
static json_t *
oidc_verify(struct oidc_prov *p, const json_t *disc, const char *jwt,
    const char *nonce, int *status, char *err, size_t errlen)
{
	json_t		*jwks, *claims = NULL, *aud, *v;
	const char	*s;
	int64_t		 now = util_wall_ms() / 1000;
	size_t		 i;
	int		 rv, found;

	*status = 502;
	if ((jwks = oidc_jwks(p, disc, 0, err, errlen)) == NULL)
		return (NULL);
	rv = gw_jwt_verify(jwt, jwks, &claims, err, errlen);
	json_decref(jwks);
	if (rv == GW_JWT_ENOKEY) {
		if ((jwks = oidc_jwks(p, disc, 1, err, errlen)) == NULL)
			return (NULL);
		rv = gw_jwt_verify(jwt, jwks, &claims, err, errlen);
		json_decref(jwks);
	}
	*status = 400;
	if (rv != 0)
		return (NULL);
	s = json_string_value(json_object_get(claims, "iss"));
	if (s == NULL || strcmp(s, p->op_issuer) != 0) {
		snprintf(err, errlen, "token issuer '%.200s' is not provider "
		    "'%s''s issuer", s != NULL ? s : "(none)", p->op_id);
		goto bad;
	}
	aud = json_object_get(claims, "aud");
	found = json_is_string(aud) &&
	    strcmp(json_string_value(aud), p->op_client_id) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), p->op_client_id) == 0)
			found = 1;
	if (!found) {
		snprintf(err, errlen, "token audience is not this client");
		goto bad;
	}
	if (json_array_size(aud) > 1 && ((s = json_string_value(
	    json_object_get(claims, "azp"))) == NULL ||
	    strcmp(s, p->op_client_id) != 0)) {
		snprintf(err, errlen, "token has several audiences and azp is "
		    "not this client");
		goto bad;
	}
	v = json_object_get(claims, "exp");
	if (!json_is_number(v) || (int64_t)json_number_value(v) +
	    OIDC_SKEW_SECS < now) {
		snprintf(err, errlen, "token expired (or has no exp)");
		goto bad;
	}
	v = json_object_get(claims, "iat");
	if (!json_is_number(v) || (int64_t)json_number_value(v) >
	    now + OIDC_SKEW_SECS) {
		snprintf(err, errlen, "token has no iat, or one in the "
		    "future");
		goto bad;
	}
	if (!json_is_string(json_object_get(claims, "sub")) ||
	    json_string_length(json_object_get(claims, "sub")) == 0) {
		snprintf(err, errlen, "token has no sub");
		goto bad;
	}
	if (nonce != NULL && ((s = json_string_value(json_object_get(claims,
	    "nonce"))) == NULL || !util_ct_equal(s, strlen(s), nonce,
	    strlen(nonce)))) {
		snprintf(err, errlen, "ID token nonce does not match the "
		    "login's");
		goto bad;
	}
	return (claims);
 bad:
	json_decref(claims);
	return (NULL);
}

/* ---- the sealed state --------------------------------------------------- */

static void
rand_b64url(size_t n, char *out, size_t outlen)
{
	unsigned char	r[64];

	if (n > sizeof(r) || RAND_bytes(r, (int)n) != 1)
		abort();	/* no randomness: nothing safe to do */
	gw_b64url_encode(r, n, out, outlen);
}

static void
sha256_b64url(const char *s, char *out, size_t outlen)
{
	unsigned char	md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	gw_b64url_encode(md, sizeof(md), out, outlen);
}

/* The state for plain (a JSON object): base64url(iv || ct || tag), new. */
static char *
state_seal(const json_t *plain)
{
	EVP_CIPHER_CTX	*c = NULL;
	unsigned char	*raw = NULL;
	char		*text, *out = NULL;
	size_t		 len, outlen;
	int		 n, m;

	if ((text = json_dumps(plain, JSON_COMPACT)) == NULL)
		return (NULL);
	len = strlen(text);
	if ((raw = malloc(12 + len + 16)) == NULL ||
	    RAND_bytes(raw, 12) != 1 || (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, gw_oidc.o_key,
	    raw) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)OIDC_AAD,
	    (int)strlen(OIDC_AAD)) != 1 ||
	    EVP_EncryptUpdate(c, raw + 12, &n, (unsigned char *)text,
	    (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, raw + 12 + n, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16,
	    raw + 12 + n + m) != 1)
		goto done;
	outlen = (12 + (size_t)(n + m) + 16 + 2) / 3 * 4 + 1;
	if ((out = malloc(outlen)) != NULL)
		gw_b64url_encode(raw, 12 + (size_t)(n + m) + 16, out, outlen);
 done:
	EVP_CIPHER_CTX_free(c);
	free(raw);
	free(text);
	return (out);
}

/* The object sealed in state s (new), or NULL if it was not ours. */
static json_t *
state_open(const char *s)
{
	EVP_CIPHER_CTX	*c = NULL;
	unsigned char	*raw = NULL, *pt = NULL;
	size_t		 len;
	json_t		*o = NULL;
	int		 n, m;

	if (strlen(s) > OIDC_STATE_MAX ||
	    (raw = gw_b64url_decode(s, strlen(s), &len)) == NULL ||
	    len < 12 + 16 + 2 || (pt = malloc(len)) == NULL ||
	    (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, gw_oidc.o_key,
	    raw) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)OIDC_AAD,
	    (int)strlen(OIDC_AAD)) != 1 ||
	    EVP_DecryptUpdate(c, pt, &n, raw + 12, (int)(len - 12 - 16)) !=
	    1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	    raw + len - 16) != 1 ||
	    EVP_DecryptFinal_ex(c, pt + n, &m) != 1)
		goto done;
	o = json_loadb((const char *)pt, (size_t)(n + m), 0, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
 done:
	EVP_CIPHER_CTX_free(c);
	free(raw);
	free(pt);
	return (o);
}

/* Takes state jti (until exp) on this replica (dry: only looks): 0, or
 * -1 if it was taken before. */
static int
state_take(const char *jti, int64_t exp, int dry)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	int64_t		 now = util_wall_ms() / 1000;
	size_t		 i, j;
	int		 rv = 0;

	SHA256((const unsigned char *)jti, strlen(jti), md);
	pthread_mutex_lock(&gw_oidc.o_used_mtx);
	for (i = j = 0; i < gw_oidc.o_nused; i++) {
		if (gw_oidc.o_used[i].u_exp < now)
			continue;
		if (memcmp(gw_oidc.o_used[i].u_jti, md, 16) == 0)
			rv = -1;
		gw_oidc.o_used[j++] = gw_oidc.o_used[i];
	}
	gw_oidc.o_nused = j;
	if (rv == 0 && !dry) {
		if (gw_oidc.o_nused == OIDC_USED_MAX) {
			/* Full of live states: the oldest goes. */
			memmove(gw_oidc.o_used, gw_oidc.o_used + 1,
			    (OIDC_USED_MAX - 1) * sizeof(gw_oidc.o_used[0]));
			gw_oidc.o_nused--;
		}
		memcpy(gw_oidc.o_used[gw_oidc.o_nused].u_jti, md, 16);
		gw_oidc.o_used[gw_oidc.o_nused++].u_exp = exp;
	}
	pthread_mutex_unlock(&gw_oidc.o_used_mtx);
	return (rv);
}

/* ---- replies ------------------------------------------------------------ */

/* Adds a Set-Cookie header (several may be set: an array). */
static void
reply_cookie(struct gw_req *gr, const char *cookie)
{
	json_t	*a;

	if (gr->gr_rheaders == NULL)
		gr->gr_rheaders = json_object();
	if ((a = json_object_get(gr->gr_rheaders, "Set-Cookie")) == NULL) {
		a = json_array();
		json_object_set_new(gr->gr_rheaders, "Set-Cookie", a);
	}
	json_array_append_new(a, json_string(cookie));
}

static void
reply_redirect(struct gw_req *gr, const char *location)
{
	gw_reply_json(gr, 302, json_pack("{s:s}", "location", location));
	if (gr->gr_rheaders == NULL)
		gr->gr_rheaders = json_object();
	json_object_set_new(gr->gr_rheaders, "Location",
	    json_string(location));
	json_object_set_new(gr->gr_rheaders, "Cache-Control",
	    json_string("no-store"));
}

/* Cookies are Secure when the provider sends the browser back over
 * https, or a proxy in front says the request came over TLS. */
static int
secure_cookies(const struct gw_req *gr, const struct oidc_prov *p)
{
	const char	*fp = MHD_lookup_connection_value(gr->gr_mhd,
			    MHD_HEADER_KIND, "X-Forwarded-Proto");

	return (strncmp(p->op_redirect, "https://", 8) == 0 ||
	    (fp != NULL && strcasecmp(fp, "https") == 0));
}

static void
audit_login(struct gw_req *gr, const char *prov, const char *why,
    const char *outcome)
{
	char	detail[900];

	snprintf(detail, sizeof(detail), "oidc login via '%.64s' from %s: "
	    "%.600s", prov, gw_conn_ip(gr->gr_conn), why);
	(void)audit_post(AUDIT_AUTH_ATTEMPT, NULL, detail, outcome);
}

/* ---- the worker --------------------------------------------------------- */

enum oidc_job {
	JOB_LOGIN,
	JOB_CALLBACK,
	JOB_USERINFO,		/* a provider's bearer token */
	JOB_INTROSPECT,		/* any token */
	JOB_SESSION		/* userinfo of a session cookie */
};

struct oidc_work {
	enum oidc_job		 w_job;
	struct gw_req		*w_gr;
	struct oidc_prov	*w_prov;
	json_t			*w_state;	/* the opened state */
	char			*w_code;
	char			*w_token;
	char			*w_return;	/* login: after-login path */
};

static void
work_free(struct oidc_work *w)
{
	json_decref(w->w_state);
	free(w->w_code);
	if (w->w_token != NULL)
		explicit_bzero(w->w_token, strlen(w->w_token));
	free(w->w_token);
	free(w->w_return);
	free(w);
}

static char *
url_esc(const char *s)
{
	return (curl_easy_escape(NULL, s, 0));
}

/* The login: the authorization URL, and the browser's binding cookie. */
static void
job_login(struct oidc_work *w)
{
	struct oidc_prov	*p = w->w_prov;
	struct gw_req		*gr = w->w_gr;
	json_t			*disc, *plain;
	char			 verifier[64], challenge[64], nonce[32];
	char			 jti[32], bind[64], bindh[64], cookie[256];
	char			*state = NULL, *e[6] = { 0 };
	const char		*ep;
	unsigned char		 md[SHA256_DIGEST_LENGTH];
	struct buf		 b;
	char			 err[600];
	int			 i;

	if ((disc = oidc_discovery(p, err, sizeof(err))) == NULL) {
		gw_reply_error(gr, 502, "%s", err);
		return;
	}
	rand_b64url(32, verifier, sizeof(verifier));
	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	gw_b64url_encode(md, sizeof(md), challenge, sizeof(challenge));
	rand_b64url(16, nonce, sizeof(nonce));
	rand_b64url(16, jti, sizeof(jti));
	rand_b64url(32, bind, sizeof(bind));
	sha256_b64url(bind, bindh, sizeof(bindh));
	plain = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "p",
	    p->op_id, "v", verifier, "n", nonce, "j", jti, "b", bindh, "x",
	    (json_int_t)(util_wall_ms() / 1000 + gw_oidc.o_state_ttl), "r",
	    w->w_return != NULL ? w->w_return : "/");
	if (plain == NULL || (state = state_seal(plain)) == NULL) {
		json_decref(plain);
		json_decref(disc);
		gw_reply_error(gr, 500, "out of memory");
		return;
	}
	json_decref(plain);
	ep = json_string_value(json_object_get(disc,
	    "authorization_endpoint"));
	e[0] = url_esc(p->op_client_id);
	e[1] = url_esc(p->op_redirect);
	e[2] = url_esc(p->op_scopes);
	e[3] = url_esc(state);
	buf_init(&b, 16 * 1024);
	buf_addf(&b, "%s%cresponse_type=code&client_id=%s&redirect_uri=%s"
	    "&scope=%s&state=%s&nonce=%s&code_challenge=%s"
	    "&code_challenge_method=S256", ep, strchr(ep, '?') ? '&' : '?',
	    e[0] ? e[0] : "", e[1] ? e[1] : "", e[2] ? e[2] : "",
	    e[3] ? e[3] : "", nonce, challenge);
	for (i = 0; i < 6; i++)
		curl_free(e[i]);
	json_decref(disc);
	free(state);
	if (b.b_data == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return;
	}
	reply_redirect(gr, b.b_data);
	buf_release(&b);
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/api; HttpOnly; "
	    "SameSite=Lax; Max-Age=%ld%s", OIDC_COOKIE, bind,
	    gw_oidc.o_state_ttl, secure_cookies(gr, p) ? "; Secure" : "");
	reply_cookie(gr, cookie);
}

/* The code for tokens at the token endpoint: the answer (new) or NULL
 * with a reply set. */
static json_t *
exchange_code(struct oidc_work *w, const json_t *disc)
{
	struct oidc_prov	*p = w->w_prov;
	struct gw_req		*gr = w->w_gr;
	struct curl_slist	*h = NULL;
	const char		*secret = getenv(p->op_secret_env), *s;
	json_t			*tok = NULL;
	struct buf		 form, basic;
	char			*e[5] = { 0 }, *b64 = NULL, err[600];
	int			 i, rv;

	if (secret == NULL)
		secret = "";
	e[0] = url_esc(w->w_code);
	e[1] = url_esc(p->op_redirect);
	e[2] = url_esc(json_string_value(json_object_get(w->w_state, "v")));
	e[3] = url_esc(p->op_client_id);
	e[4] = url_esc(secret);
	buf_init(&form, 16 * 1024);
	buf_addf(&form, "grant_type=authorization_code&code=%s"
	    "&redirect_uri=%s&code_verifier=%s&client_id=%s",
	    e[0] ? e[0] : "", e[1] ? e[1] : "", e[2] ? e[2] : "",
	    e[3] ? e[3] : "");
	if (strcmp(p->op_auth_method, "client_secret_post") == 0)
		buf_addf(&form, "&client_secret=%s", e[4] ? e[4] : "");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h,
	    "Content-Type: application/x-www-form-urlencoded");
	if (strcmp(p->op_auth_method, "client_secret_basic") == 0) {
		/* RFC 6749 2.3.1: each part form-encoded, then base64. */
		buf_init(&basic, 4096);
		buf_addf(&basic, "%s:%s", e[3] ? e[3] : "", e[4] ? e[4] : "");
		if (basic.b_data != NULL &&
		    (b64 = malloc(basic.b_len * 2 + 16)) != NULL) {
			EVP_EncodeBlock((unsigned char *)b64,
			    (const unsigned char *)basic.b_data,
			    (int)basic.b_len);
			buf_reset(&basic);
			buf_addf(&basic, "Authorization: Basic %s", b64);
			h = curl_slist_append(h, basic.b_data);
			explicit_bzero(b64, strlen(b64));
			free(b64);
		}
		if (basic.b_data != NULL)
			explicit_bzero(basic.b_data, basic.b_len);
		buf_release(&basic);
	}
	for (i = 0; i < 5; i++) {
		if (e[i] != NULL)
			explicit_bzero(e[i], strlen(e[i]));
		curl_free(e[i]);
	}
	if (form.b_data == NULL || h == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		goto done;
	}
	rv = oidc_fetch(p, json_string_value(json_object_get(disc,
	    "token_endpoint")), form.b_data, h, &tok, err, sizeof(err));
	if (rv == FETCH_ESTATUS) {
		/* invalid_grant: a used, expired or foreign code. */
		s = json_string_value(json_object_get(tok, "error"));
		gw_reply_error(gr, 400, "the provider refused the code: "
		    "%.64s%s%.200s", s != NULL ? s : "error",
		    json_is_string(json_object_get(tok,
		    "error_description")) ? ": " : "",
		    json_is_string(json_object_get(tok,
		    "error_description")) ? json_string_value(
		    json_object_get(tok, "error_description")) : "");
		json_decref(tok);
		tok = NULL;
	} else if (rv != 0)
		gw_reply_error(gr, 502, "%s", err);
	else if (!json_is_string(json_object_get(tok, "id_token"))) {
		gw_reply_error(gr, 502, "provider '%s' sent no id_token "
		    "(is \"openid\" among the scopes?)", p->op_id);
		json_decref(tok);
		tok = NULL;
	}
 done:
	if (form.b_data != NULL)
		explicit_bzero(form.b_data, form.b_len);
	buf_release(&form);
	curl_slist_free_all(h);
	return (tok);
}

/* 1 when the claims name a user p admits. */
static int
user_allowed(const struct oidc_prov *p, const json_t *claims)
{
	const char	*email = json_string_value(json_object_get(claims,
			    "email"));
	const char	*sub = json_string_value(json_object_get(claims,
			    "sub"));
	const char	*at;
	const json_t	*v;
	size_t		 i;
	int		 verified = !json_is_false(json_object_get(claims,
			    "email_verified"));

	if (p->op_emails == NULL && p->op_domains == NULL &&
	    p->op_subjects == NULL)
		return (1);
	json_array_foreach(p->op_subjects, i, v)
		if (sub != NULL && strcmp(json_string_value(v), sub) == 0)
			return (1);
	if (email == NULL || !verified)
		return (0);
	json_array_foreach(p->op_emails, i, v)
		if (strcasecmp(json_string_value(v), email) == 0)
			return (1);
	if ((at = strrchr(email, '@')) == NULL)
		return (0);
	json_array_foreach(p->op_domains, i, v)
		if (strcasecmp(json_string_value(v), at + 1) == 0)
			return (1);
	return (0);
}

/* The name a session is made for: the verified email, else the
 * preferred_username, else the subject; prefixed by the provider. */
static void
user_name(const struct oidc_prov *p, const json_t *claims, char *out,
    size_t outlen)
{
	const char	*s;

	if ((s = json_string_value(json_object_get(claims, "email"))) ==
	    NULL || json_is_false(json_object_get(claims, "email_verified")))
		if ((s = json_string_value(json_object_get(claims,
		    "preferred_username"))) == NULL)
			s = json_string_value(json_object_get(claims, "sub"));
	snprintf(out, outlen, "%s:%.200s", p->op_id, s != NULL ? s : "");
}

/*
 * The dashboard session for user, made by the session owner
 * (dashsess.create; blocking: a worker thread), then the redirect to
 * return_to with its cookie.  0, or -1 with an error reply.
 */
static int
session_create(struct gw_req *gr, const char *user, const char *return_to,
    int secure)
{
	struct msg_rep	 rep;
	json_t		*env, *caller, *body, *rb;
	const char	*ua, *tok, *m;
	char		 cookie[512];
	int		 err, rv = -1;

	ua = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_USER_AGENT);
	caller = json_pack("{s:s, s:s, s:s}", "ip", gw_conn_ip(gr->gr_conn),
	    "principal", "anonymous", "request_id", gr->gr_id);
	body = json_pack("{s:s, s:s, s:s, s:s}", "user", user, "method",
	    "oidc", "ip", gw_conn_ip(gr->gr_conn), "user_agent",
	    ua != NULL ? ua : "");
	env = msg_request(OP_DASHSESS_CREATE, NULL, util_wall_ms() +
	    gw_oidc.o_bus_ms, caller, json_object(), json_object(), body);
	if (env == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (-1);
	}
	memset(&rep, 0, sizeof(rep));
	if ((err = bus_call(gw_oidc.o_bus, SVC_SESSION_OWNER, env,
	    (int)gw_oidc.o_bus_ms, &rep)) != 0) {
		json_decref(env);
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return (-1);
	}
	json_decref(env);
	rb = msg_rep_body(&rep);
	tok = json_string_value(json_object_get(rb, "token"));
	if (rep.mp_status != 201 || tok == NULL) {
		m = json_string_value(json_object_get(rb, "error"));
		gw_reply_error(gr, rep.mp_status >= 400 && rep.mp_status < 600 ?
		    rep.mp_status : 502, "could not create the session: %s",
		    m != NULL ? m : "no token in the answer");
		goto done;
	}
	/* The same cookie as a dashboard login's (gw_dash.c). */
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; "
	    "SameSite=Strict%s; Max-Age=%lld", GW_SESS_COOKIE, tok,
	    secure ? "; Secure" : "",
	    (long long)json_integer_value(json_object_get(rb, "ttl_secs")));
	reply_redirect(gr, return_to != NULL ? return_to : "/");
	reply_cookie(gr, cookie);
	explicit_bzero(cookie, sizeof(cookie));
	rv = 0;
 done:
	msg_rep_release(&rep);
	return (rv);
}

static void
job_callback(struct oidc_work *w)
{
	struct oidc_prov	*p = w->w_prov;
	struct gw_req		*gr = w->w_gr;
	json_t			*disc, *tok = NULL, *claims = NULL;
	char			 err[600], user[300];
	int			 status;

	if ((disc = oidc_discovery(p, err, sizeof(err))) == NULL) {
		gw_reply_error(gr, 502, "%s", err);
		audit_login(gr, p->op_id, err, "error");
		return;
	}
	if ((tok = exchange_code(w, disc)) == NULL) {
		audit_login(gr, p->op_id, "code refused", "denied");
		goto done;
	}
	if ((claims = oidc_verify(p, disc, json_string_value(
	    json_object_get(tok, "id_token")), json_string_value(
	    json_object_get(w->w_state, "n")), &status, err,
	    sizeof(err))) == NULL) {
		gw_reply_error(gr, status, "ID token refused: %s", err);
		audit_login(gr, p->op_id, err, "denied");
		goto done;
	}
	if (!user_allowed(p, claims)) {
		gw_reply_error(gr, 403, "this account may not use the "
		    "dashboard (not in allowed_emails, allowed_domains or "
		    "allowed_subjects of provider '%s')", p->op_id);
		audit_login(gr, p->op_id, "account not allowed", "denied");
		goto done;
	}
	user_name(p, claims, user, sizeof(user));
	if (session_create(gr, user, json_string_value(json_object_get(
	    w->w_state, "r")), secure_cookies(gr, p)) == 0)
		audit_login(gr, p->op_id, user, "success");
 done:
	json_decref(claims);
	json_decref(tok);
	json_decref(disc);
}

/* The provider whose issuer is iss, or NULL. */
static struct oidc_prov *
prov_by_issuer(const char *iss)
{
	int	i;

	for (i = 0; iss != NULL && i < gw_oidc.o_nprov; i++)
		if (strcmp(gw_oidc.o_prov[i].op_issuer, iss) == 0)
			return (&gw_oidc.o_prov[i]);
	return (NULL);
}

/* The claims a caller is shown (new): a token's, without its plumbing. */
static json_t *
claims_public(const struct oidc_prov *p, const json_t *claims)
{
	static const char *const drop[] = { "nonce", "at_hash", "c_hash",
	    "s_hash", "sid", "auth_time", "jti", NULL };
	json_t	*o = json_deep_copy(claims);
	int	 i;

	for (i = 0; o != NULL && drop[i] != NULL; i++)
		json_object_del(o, drop[i]);
	if (o != NULL)
		json_object_set_new(o, "provider", json_string(p->op_id));
	return (o);
}

/* RFC 7662's answer for verified claims (new). */
static json_t *
claims_introspect(const struct oidc_prov *p, const json_t *claims,
    const char *type)
{
	static const char *const keep[] = { "iss", "sub", "aud", "exp", "iat",
	    "nbf", "scope", "email", "name", "preferred_username", NULL };
	json_t		*o = json_pack("{s:b, s:s, s:s}", "active", 1,
			    "token_type", type, "provider", p->op_id), *v;
	const char	*azp;
	int		 i;

	for (i = 0; o != NULL && keep[i] != NULL; i++)
		if ((v = json_object_get(claims, keep[i])) != NULL)
			json_object_set(o, keep[i], v);
	azp = json_string_value(json_object_get(claims, "azp"));
	if (o != NULL) {
		json_object_set_new(o, "client_id", json_string(azp != NULL ?
		    azp : p->op_client_id));
		if ((v = json_object_get(claims, "preferred_username")) !=
		    NULL || (v = json_object_get(claims, "email")) != NULL)
			json_object_set(o, "username", v);
	}
	return (o);
}

/*
 * A provider's opaque access token: its introspection endpoint when it
 * has one and this is an introspection, else its userinfo endpoint (a
 * token it takes there is live).  Fills gr's reply.
 */
static void
token_opaque(struct gw_req *gr, struct oidc_prov *p, const char *token,
    int userinfo)
{
	struct curl_slist	*h = NULL;
	json_t			*disc, *ans = NULL, *o;
	const char		*ep, *secret = getenv(p->op_secret_env);
	char			 err[600], *hdr = NULL, *e[3] = { 0 };
	struct buf		 form;
	int			 rv, i;

	buf_init(&form, 32 * 1024);
	if ((disc = oidc_discovery(p, err, sizeof(err))) == NULL) {
		gw_reply_error(gr, 502, "%s", err);
		return;
	}
	h = curl_slist_append(h, "Accept: application/json");
	if (!userinfo && (ep = json_string_value(json_object_get(disc,
	    "introspection_endpoint"))) != NULL) {
		e[0] = url_esc(token);
		e[1] = url_esc(p->op_client_id);
		e[2] = url_esc(secret != NULL ? secret : "");
		buf_addf(&form, "token=%s&client_id=%s&client_secret=%s",
		    e[0] ? e[0] : "", e[1] ? e[1] : "", e[2] ? e[2] : "");
		for (i = 0; i < 3; i++)
			curl_free(e[i]);
		h = curl_slist_append(h, "Content-Type: "
		    "application/x-www-form-urlencoded");
		rv = form.b_data != NULL ? oidc_fetch(p, ep, form.b_data, h,
		    &ans, err, sizeof(err)) : FETCH_EDOWN;
		if (rv == 0) {
			o = json_pack("{s:b}", "active",
			    json_is_true(json_object_get(ans, "active")));
			if (json_is_true(json_object_get(ans, "active"))) {
				json_object_update(o, ans);
				json_object_set_new(o, "provider",
				    json_string(p->op_id));
			}
			gw_reply_json(gr, 200, o);
		} else
			gw_reply_error(gr, 502, "%s", err);
		goto done;
	}
	if ((ep = json_string_value(json_object_get(disc,
	    "userinfo_endpoint"))) == NULL) {
		if (userinfo)
			gw_reply_error(gr, 401, "not a token this gateway "
			    "can check (provider '%s' has no userinfo "
			    "endpoint)", p->op_id);
		else
			gw_reply_json(gr, 200, json_pack("{s:b}", "active",
			    0));
		goto done;
	}
	if (asprintf(&hdr, "Authorization: Bearer %s", token) < 0) {
		hdr = NULL;
		gw_reply_error(gr, 500, "out of memory");
		goto done;
	}
	h = curl_slist_append(h, hdr);
	rv = oidc_fetch(p, ep, NULL, h, &ans, err, sizeof(err));
	if (rv == 0 && json_is_string(json_object_get(ans, "sub"))) {
		if (userinfo)
			gw_reply_json(gr, 200, claims_public(p, ans));
		else
			gw_reply_json(gr, 200, claims_introspect(p, ans,
			    "access_token"));
	} else if (rv == FETCH_ESTATUS || rv == 0) {
		if (userinfo) {
			gw_reply_error(gr, 401, "the provider did not take "
			    "the token");
			gr->gr_www_auth = 1;
		} else
			gw_reply_json(gr, 200, json_pack("{s:b}", "active",
			    0));
	} else
		gw_reply_error(gr, 502, "%s", err);
 done:
	if (hdr != NULL)
		explicit_bzero(hdr, strlen(hdr));
	free(hdr);
	if (form.b_data != NULL)
		explicit_bzero(form.b_data, form.b_len);
	buf_release(&form);
	curl_slist_free_all(h);
	json_decref(ans);
	json_decref(disc);
}

/* A bearer token of a provider: a JWT it signed (checked here), or an
 * opaque one (asked of w_prov).  Fills gr's reply. */
static void
job_token(struct oidc_work *w, int userinfo)
{
	struct gw_req		*gr = w->w_gr;
	struct oidc_prov	*p;
	json_t			*peek, *disc, *claims;
	char			 err[600];
	int			 status;

	if ((peek = gw_jwt_peek(w->w_token)) == NULL) {
		token_opaque(gr, w->w_prov, w->w_token, userinfo);
		return;
	}
	p = prov_by_issuer(json_string_value(json_object_get(peek, "iss")));
	json_decref(peek);
	if (p == NULL) {
		snprintf(err, sizeof(err), "token issuer is not a configured "
		    "provider");
		status = 400;
		claims = NULL;
	} else if ((disc = oidc_discovery(p, err, sizeof(err))) == NULL) {
		gw_reply_error(gr, 502, "%s", err);
		return;
	} else {
		claims = oidc_verify(p, disc, w->w_token, NULL, &status, err,
		    sizeof(err));
		json_decref(disc);
	}
	if (claims == NULL && status == 502)
		gw_reply_error(gr, 502, "%s", err);
	else if (claims == NULL && userinfo) {
		gw_reply_error(gr, 401, "token refused: %s", err);
		gr->gr_www_auth = 1;
	} else if (claims == NULL)
		gw_reply_json(gr, 200, json_pack("{s:b}", "active", 0));
	else if (userinfo)
		gw_reply_json(gr, 200, claims_public(p, claims));
	else
		gw_reply_json(gr, 200, claims_introspect(p, claims, "jwt"));
	json_decref(claims);
}

/*
 * A dashboard session's token (dashsess.validate by its SHA-256): 1 and
 * *row (new) when live, 0 when unknown or expired, -1 with an error
 * reply when the owner did not answer.
 */
static int
session_lookup(struct gw_req *gr, const char *token, json_t **row)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 hex[2 * SHA256_DIGEST_LENGTH + 1];
	struct msg_rep	 rep;
	json_t		*env, *caller;
	int		 err, i, rv;

	*row = NULL;
	SHA256((const unsigned char *)token, strlen(token), md);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	caller = json_pack("{s:s, s:s, s:s}", "ip", gw_conn_ip(gr->gr_conn),
	    "principal", "anonymous", "request_id", gr->gr_id);
	env = msg_request(OP_DASHSESS_VALIDATE, NULL, util_wall_ms() +
	    gw_oidc.o_bus_ms, caller, json_object(), json_object(),
	    json_pack("{s:s}", "token_hash", hex));
	if (env == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (-1);
	}
	memset(&rep, 0, sizeof(rep));
	err = bus_call(gw_oidc.o_bus, SVC_SESSION_OWNER, env,
	    (int)gw_oidc.o_bus_ms, &rep);
	json_decref(env);
	if (err != 0) {
		gw_reply_bus_error(gr, SVC_SESSION_OWNER, err);
		return (-1);
	}
	if (rep.mp_status == 200 && json_is_object(msg_rep_body(&rep))) {
		*row = json_incref(msg_rep_body(&rep));
		rv = 1;
	} else if (rep.mp_status == 404 || rep.mp_status == 400)
		rv = 0;
	else {
		gw_reply_error(gr, 502, "service '%s' answered %d to a "
		    "session look-up", SVC_SESSION_OWNER, rep.mp_status);
		rv = -1;
	}
	msg_rep_release(&rep);
	return (rv);
}

/* What a session row says about its user (new). */
static json_t *
session_claims(const json_t *row)
{
	const char	*user = json_string_value(json_object_get(row, "user"));
	const char	*method = json_string_value(json_object_get(row,
			    "method"));
	const char	*colon;
	json_t		*o;
	struct oidc_prov *p = NULL;

	o = json_pack("{s:s, s:s, s:O?, s:O?}", "sub", user != NULL ? user :
	    "", "method", method != NULL ? method : "", "session_created_at",
	    json_object_get(row, "created_at"), "session_expires_at",
	    json_object_get(row, "expires_at"));
	/* An OIDC session's user is "<provider>:<email or name>". */
	if (o != NULL && user != NULL && method != NULL &&
	    strcmp(method, "oidc") == 0 && (colon = strchr(user, ':')) !=
	    NULL) {
		for (int i = 0; i < gw_oidc.o_nprov; i++)
			if (strlen(gw_oidc.o_prov[i].op_id) ==
			    (size_t)(colon - user) && strncmp(
			    gw_oidc.o_prov[i].op_id, user,
			    (size_t)(colon - user)) == 0)
				p = &gw_oidc.o_prov[i];
		json_object_set_new(o, "provider", json_stringn(user,
		    (size_t)(colon - user)));
		json_object_set_new(o, strchr(colon + 1, '@') != NULL ?
		    "email" : "preferred_username", json_string(colon + 1));
		if (p != NULL)
			json_object_set_new(o, "iss",
			    json_string(p->op_issuer));
	}
	return (o);
}

static void
job_session(struct oidc_work *w)
{
	json_t	*row;
	int	 rv;

	if ((rv = session_lookup(w->w_gr, w->w_token, &row)) < 0)
		return;
	if (rv == 0) {
		gw_reply_error(w->w_gr, 401, "unknown or expired session");
		return;
	}
	gw_reply_json(w->w_gr, 200, session_claims(row));
	json_decref(row);
}

static void
job_introspect(struct oidc_work *w)
{
	json_t	*row, *o, *peek;
	int	 rv;

	if ((peek = gw_jwt_peek(w->w_token)) != NULL)
		json_decref(peek);
	else {
		if ((rv = session_lookup(w->w_gr, w->w_token, &row)) < 0)
			return;
		if (rv == 1) {
			o = session_claims(row);
			json_object_set_new(o, "active", json_true());
			json_object_set_new(o, "token_type",
			    json_string("session"));
			json_object_set(o, "username",
			    json_object_get(row, "user"));
			json_object_set_new(o, "exp", json_integer(
			    json_integer_value(json_object_get(row,
			    "expires_ms")) / 1000));
			gw_reply_json(w->w_gr, 200, o);
			json_decref(row);
			return;
		}
		if (w->w_prov == NULL) {
			gw_reply_json(w->w_gr, 200, json_pack("{s:b}",
			    "active", 0));
			return;
		}
	}
	job_token(w, 0);
}

static void *
oidc_worker(void *arg)
{
	struct oidc_work	*w = arg;
	struct gw_req		*gr = w->w_gr;

	switch (w->w_job) {
	case JOB_LOGIN:
		job_login(w);
		break;
	case JOB_CALLBACK:
		job_callback(w);
		break;
	case JOB_USERINFO:
		job_token(w, 1);
		break;
	case JOB_INTROSPECT:
		job_introspect(w);
		break;
	case JOB_SESSION:
		job_session(w);
		break;
	}
	work_free(w);
	atomic_fetch_sub(&gw_oidc.o_workers, 1);
	MHD_resume_connection(gr->gr_mhd);
	return (NULL);
}

/* Runs w on a thread while gr waits: GW_ASYNC, or 0 with a reply. */
static int
oidc_run(struct gw_req *gr, struct oidc_work *w)
{
	pthread_attr_t	attr;
	pthread_t	t;
	int		rv;

	w->w_gr = gr;
	if (atomic_fetch_add(&gw_oidc.o_workers, 1) >= OIDC_MAX_WORKERS) {
		atomic_fetch_sub(&gw_oidc.o_workers, 1);
		work_free(w);
		gr->gr_retry_after = 1;
		gw_reply_error(gr, 503, "too many logins in progress");
		return (0);
	}
	if ((rv = gw_suspend(gr)) != GW_ASYNC) {
		atomic_fetch_sub(&gw_oidc.o_workers, 1);
		work_free(w);
		return (rv);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, oidc_worker, w) != 0) {
		pthread_attr_destroy(&attr);
		atomic_fetch_sub(&gw_oidc.o_workers, 1);
		work_free(w);
		gw_reply_error(gr, 503, "could not start the login");
		MHD_resume_connection(gr->gr_mhd);
		return (GW_ASYNC);
	}
	pthread_attr_destroy(&attr);
	return (GW_ASYNC);
}

/* ---- handlers ----------------------------------------------------------- */

static int
not_configured(struct gw_req *gr)
{
	gw_reply_error(gr, 404, "no OpenID Connect provider is configured "
	    "([external_auth] in config.toml)");
	return (0);
}

int
gw_oidc_providers(struct gw_req *gr)
{
	json_t			*a = json_array();
	struct oidc_prov	*p;
	int			 i;

	for (i = 0; i < gw_oidc.o_nprov; i++) {
		p = &gw_oidc.o_prov[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:s, s:b, s:s}", "id", p->op_id, "display_name",
		    p->op_name, "issuer", p->op_issuer, "client_id",
		    p->op_client_id, "scopes", p->op_scopes, "default",
		    i == gw_oidc.o_default, "login_url", ""));
		json_object_set_new(json_array_get(a, json_array_size(a) - 1),
		    "login_url", json_sprintf("/api/auth/login/%s",
		    p->op_id));
	}
	gw_reply_json(gr, 200, json_pack("{s:o, s:b, s:s?}", "providers", a,
	    "enabled", gw_oidc.o_nprov > 0, "default",
	    gw_oidc.o_nprov > 0 ? gw_oidc.o_prov[gw_oidc.o_default].op_id :
	    NULL));
	return (0);
}

/* A path to go to after the login: local and absolute only. */
static int
return_ok(const char *s)
{
	size_t	i;

	if (s[0] != '/' || s[1] == '/' || s[1] == '\\' || strlen(s) > 512)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == '\\' ||
		    (unsigned char)s[i] >= 0x7f)
			return (0);
	return (1);
}

int
gw_oidc_login(struct gw_req *gr)
{
	struct oidc_work	*w;
	struct oidc_prov	*p;
	json_t			*params, *q;
	const char		*id = NULL, *ret;

	if (gw_oidc.o_nprov == 0)
		return (not_configured(gr));
	params = gw_route_params(gr->gr_route, gr->gr_path);
	q = gw_query_parse(gr->gr_query);
	if (params == NULL || q == NULL) {
		json_decref(params);
		json_decref(q);
		gw_reply_error(gr, 400, "malformed path or query");
		return (0);
	}
	id = json_string_value(json_object_get(params, "provider"));
	p = id != NULL ? prov_find(id) :
	    &gw_oidc.o_prov[gw_oidc.o_default];
	ret = json_string_value(json_object_get(q, "redirect"));
	if (p == NULL) {
		gw_reply_error(gr, 404, "unknown OpenID provider '%.64s'",
		    id);
	} else if (ret != NULL && !return_ok(ret)) {
		gw_reply_error(gr, 400, "'redirect' must be a local path "
		    "(starting with one '/')");
	} else if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (ret != NULL && (w->w_return = strdup(ret)) == NULL)) {
		free(w);
		gw_reply_error(gr, 500, "out of memory");
	} else {
		json_decref(params);
		json_decref(q);
		w->w_job = JOB_LOGIN;
		w->w_prov = p;
		return (oidc_run(gr, w));
	}
	json_decref(params);
	json_decref(q);
	return (0);
}

int
gw_oidc_callback(struct gw_req *gr)
{
	struct oidc_work	*w;
	struct oidc_prov	*p;
	json_t			*q, *st = NULL;
	const char		*code, *state, *perr, *ctype, *bind, *s;
	char			 bindh[64], clear[128];
	int64_t			 exp;

	if (gw_oidc.o_nprov == 0)
		return (not_configured(gr));
	if (gr->gr_method == GW_POST) {
		ctype = MHD_lookup_connection_value(gr->gr_mhd,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (ctype == NULL || strncasecmp(ctype,
		    "application/x-www-form-urlencoded", 33) != 0) {
			gw_reply_error(gr, 415, "the callback takes an "
			    "application/x-www-form-urlencoded body");
			return (0);
		}
		q = gw_query_parse(gr->gr_body.b_data != NULL ?
		    gr->gr_body.b_data : "");
	} else
		q = gw_query_parse(gr->gr_query);
	if (q == NULL) {
		gw_reply_error(gr, 400, "malformed callback parameters");
		return (0);
	}
	/* Whatever happens next, this login's binding cookie is spent. */
	snprintf(clear, sizeof(clear), "%s=; Path=/api; HttpOnly; "
	    "SameSite=Lax; Max-Age=0", OIDC_COOKIE);
	code = json_string_value(json_object_get(q, "code"));
	state = json_string_value(json_object_get(q, "state"));
	perr = json_string_value(json_object_get(q, "error"));
	if (perr != NULL) {
		s = json_string_value(json_object_get(q,
		    "error_description"));
		gw_reply_error(gr, 400, "the provider refused the login: "
		    "%.64s%s%.200s", perr, s != NULL ? ": " : "",
		    s != NULL ? s : "");
		goto out;
	}
	if (state == NULL || *state == '\0' || code == NULL ||
	    *code == '\0') {
		gw_reply_error(gr, 400, "the callback needs 'code' and "
		    "'state'");
		goto out;
	}
	if (strlen(code) > 2048) {
		gw_reply_error(gr, 400, "'code' is too long");
		goto out;
	}
	if ((st = state_open(state)) == NULL ||
	    !json_is_string(json_object_get(st, "j")) ||
	    !json_is_string(json_object_get(st, "v")) ||
	    !json_is_string(json_object_get(st, "n")) ||
	    !json_is_string(json_object_get(st, "b")) ||
	    !json_is_integer(json_object_get(st, "x"))) {
		gw_reply_error(gr, 400, "invalid state: not one this gateway "
		    "issued (start the login again)");
		audit_login(gr, "?", "invalid state", "denied");
		goto out;
	}
	exp = json_integer_value(json_object_get(st, "x"));
	if (exp < util_wall_ms() / 1000) {
		gw_reply_error(gr, 400, "the login expired: start it again");
		goto out;
	}
	if ((p = prov_find(json_string_value(json_object_get(st, "p")))) ==
	    NULL) {
		gw_reply_error(gr, 400, "the login's provider is no longer "
		    "configured");
		goto out;
	}
	if (state_take(json_string_value(json_object_get(st, "j")), exp, 1) !=
	    0) {
		gw_reply_error(gr, 400, "this login's state was already "
		    "used: start the login again");
		audit_login(gr, p->op_id, "state replayed", "denied");
		goto out;
	}
	bind = MHD_lookup_connection_value(gr->gr_mhd, MHD_COOKIE_KIND,
	    OIDC_COOKIE);
	if (bind != NULL)
		sha256_b64url(bind, bindh, sizeof(bindh));
	s = json_string_value(json_object_get(st, "b"));
	if (bind == NULL || !util_ct_equal(bindh, strlen(bindh), s,
	    strlen(s))) {
		gw_reply_error(gr, 400, "the login was not started by this "
		    "browser (its %s cookie is missing or differs)",
		    OIDC_COOKIE);
		audit_login(gr, p->op_id, "state of another browser",
		    "denied");
		goto out;
	}
	if (state_take(json_string_value(json_object_get(st, "j")), exp, 0) !=
	    0) {
		gw_reply_error(gr, 400, "this login's state was already "
		    "used: start the login again");
		audit_login(gr, p->op_id, "state replayed", "denied");
		goto out;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->w_code = strdup(code)) == NULL) {
		free(w);
		gw_reply_error(gr, 500, "out of memory");
		goto out;
	}
	w->w_job = JOB_CALLBACK;
	w->w_prov = p;
	w->w_state = st;
	json_decref(q);
	reply_cookie(gr, clear);
	return (oidc_run(gr, w));
 out:
	json_decref(st);
	json_decref(q);
	reply_cookie(gr, clear);
	return (0);
}

/* The provider a token is for: "provider" in q (borrowed), else the
 * default; NULL (and a 404) when named but unknown. */
static struct oidc_prov *
token_prov(struct gw_req *gr, const json_t *q)
{
	const char		*id = json_string_value(json_object_get(q,
				    "provider"));
	struct oidc_prov	*p;

	if (gw_oidc.o_nprov == 0)
		return (NULL);
	if (id == NULL)
		return (&gw_oidc.o_prov[gw_oidc.o_default]);
	if ((p = prov_find(id)) == NULL)
		gw_reply_error(gr, 404, "unknown OpenID provider '%.64s'", id);
	return (p);
}

static int
token_run(struct gw_req *gr, enum oidc_job job, const char *token,
    struct oidc_prov *p)
{
	struct oidc_work	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->w_token = strdup(token)) == NULL) {
		free(w);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	w->w_job = job;
	w->w_prov = p;
	return (oidc_run(gr, w));
}

/*
 * GET /api/auth/userinfo (public: it checks its own credentials).  A
 * bearer token: the api_key is the owner; another is a provider's token
 * (a signed JWT, or an opaque one its userinfo endpoint takes).  Else
 * the dashboard session cookie.  Else whatever gw_auth_check() admits
 * (a loopback client with no api_key).
 */
int
gw_oidc_userinfo(struct gw_req *gr)
{
	struct oidc_prov	*p;
	const char		*h, *tok = NULL;
	json_t			*q;
	int			 rv;

	h = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		for (tok = h + 7; *tok == ' '; tok++)
			;
	if (tok != NULL && *tok != '\0' && !gw_auth_key_ok(tok)) {
		if (gw_oidc.o_nprov == 0) {
			gw_reply_error(gr, 401, "invalid API key");
			gr->gr_www_auth = 1;
			return (0);
		}
		if ((q = gw_query_parse(gr->gr_query)) == NULL) {
			gw_reply_error(gr, 400, "malformed query string");
			return (0);
		}
		p = token_prov(gr, q);
		json_decref(q);
		if (p == NULL)
			return (0);
		return (token_run(gr, JOB_USERINFO, tok, p));
	}
	if (tok == NULL && (h = MHD_lookup_connection_value(gr->gr_mhd,
	    MHD_COOKIE_KIND, GW_SESS_COOKIE)) != NULL && *h != '\0') {
		if (strlen(h) > 512) {
			gw_reply_error(gr, 401, "unknown or expired session");
			return (0);
		}
		return (token_run(gr, JOB_SESSION, h, NULL));
	}
	if ((rv = gw_auth_check(gr)) != 0)
		return (0);
	gw_reply_json(gr, 200, json_pack("{s:s, s:s}", "sub", "owner",
	    "method", tok != NULL ? "api_key" : "none"));
	return (0);
}

/*
 * POST /api/auth/introspect {token[, provider]} (JSON or a form, as RFC
 * 7662 sends it).  The api_key, a dashboard session's token, a JWT one of
 * the providers signed, or a provider's opaque token (its introspection
 * or userinfo endpoint): {active: true, ...}, else {active: false}.
 */
int
gw_oidc_introspect(struct gw_req *gr)
{
	struct oidc_prov	*p = NULL;
	const char		*ctype, *tok;
	json_t			*q;
	json_error_t		 je;
	int			 rv;

	ctype = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (gr->gr_body.b_len == 0) {
		gw_reply_error(gr, 400, "the body must carry 'token'");
		return (0);
	}
	if (ctype != NULL && strncasecmp(ctype,
	    "application/x-www-form-urlencoded", 33) == 0)
		q = gw_query_parse(gr->gr_body.b_data);
	else if (gw_json_too_deep(gr->gr_body.b_data, gr->gr_body.b_len,
	    GW_MAX_JSON_DEPTH))
		q = NULL;
	else
		q = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len, 0, &je);
	if (!json_is_object(q)) {
		json_decref(q);
		gw_reply_error(gr, 400, "malformed body: a JSON object or a "
		    "form with 'token'");
		return (0);
	}
	tok = json_string_value(json_object_get(q, "token"));
	if (tok == NULL || *tok == '\0' || strlen(tok) > 16 * 1024) {
		json_decref(q);
		gw_reply_error(gr, 400, "'token' must be a non-empty string "
		    "(at most 16 KiB)");
		return (0);
	}
	if (gw_auth_key_ok(tok)) {
		json_decref(q);
		gw_reply_json(gr, 200, json_pack("{s:b, s:s, s:s}", "active",
		    1, "token_type", "api_key", "sub", "owner"));
		return (0);
	}
	if (json_object_get(q, "provider") != NULL &&
	    (p = token_prov(gr, q)) == NULL) {
		json_decref(q);
		if (gr->gr_status == 0)
			not_configured(gr);
		return (0);
	}
	if (p == NULL && gw_oidc.o_nprov > 0)
		p = &gw_oidc.o_prov[gw_oidc.o_default];
	rv = token_run(gr, JOB_INTROSPECT, tok, p);
	json_decref(q);
	return (rv);
}
