/*
 * gw_auth.c - authentication and CORS (kernel.md 6.3).
 *
 * With an api_key every route but the public ones (GET /api/health and
 * GET /) needs "Authorization: Bearer <key>" or "X-API-Key: <key>",
 * compared in constant time, or a dashboard session cookie (gw_dashauth.c;
 * a dashboard password alone also makes credentials required).  Without
 * either the gateway refuses to start on a non-loopback address unless
 * allow_no_auth (LIBREFANG_ALLOW_NO_AUTH=1) says so, and then serves
 * everyone.
 *
 * CORS: without a key, only http://localhost[:port] and
 * http://127.0.0.1[:port] origins are echoed, so a page on another site
 * cannot drive a local, unauthenticated gateway from a browser.  With a
 * key no origin is echoed: browsers on other origins get no access, and
 * the dashboard, served from the gateway itself, needs none.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "audit.h"
#include "gateway.h"
#include "log.h"

static char	gw_key[512];
static size_t	gw_keylen;
static int	gw_allow_remote;

int
gw_is_loopback_host(const char *host)
{
	return (strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "[::1]") == 0);
}

int
gw_auth_init(const struct sh_config *cfg, char *err, size_t errlen)
{
	char		 host[256];
	const char	*colon;
	size_t		 len;

	gw_keylen = strlen(cfg->api_key);
	memcpy(gw_key, cfg->api_key, gw_keylen + 1);
	gw_allow_remote = cfg->allow_no_auth;
	if (gw_dauth_init(cfg, err, errlen) != 0)
		return (-1);
	if (gw_auth_required())
		return (0);
	if ((colon = strrchr(cfg->api_listen, ':')) == NULL)
		colon = cfg->api_listen + strlen(cfg->api_listen);
	len = (size_t)(colon - cfg->api_listen);
	snprintf(host, sizeof(host), "%.*s", (int)len, cfg->api_listen);
	if (gw_is_loopback_host(host) || cfg->allow_no_auth) {
		if (!gw_is_loopback_host(host))
			log_warnx("serving '%s' without authentication "
			    "(allow_no_auth)", cfg->api_listen);
		return (0);
	}
	snprintf(err, errlen, "refusing to listen on '%s' without an "
	    "api_key: set api_key in config.toml (or LIBREFANG_API_KEY), "
	    "listen on a loopback address, or set LIBREFANG_ALLOW_NO_AUTH=1",
	    cfg->api_listen);
	return (-1);
}

void
gw_auth_fini(void)
{
	explicit_bzero(gw_key, sizeof(gw_key));
	gw_keylen = 0;
}

int
gw_auth_required(void)
{
	return (gw_keylen > 0 || gw_dauth_password());
}

int
gw_auth_allow_remote(void)
{
	return (gw_allow_remote);
}

int
gw_auth_has_key(void)
{
	return (gw_keylen > 0);
}

int
gw_auth_key_ok(const char *tok)
{
	return (gw_keylen > 0 && util_ct_equal(tok, strlen(tok), gw_key,
	    gw_keylen));
}

const char *
gw_auth_header_token(struct gw_req *gr)
{
	const char	*h, *tok;

	h = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		for (tok = h + 7; *tok == ' '; tok++)
			;
	} else
		tok = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
		    "X-API-Key");
	return (tok != NULL && *tok != '\0' ? tok : NULL);
}

/* An auth failure, for the audit chain: best effort through the
 * in-memory queue (the gateway has no database; libshared/audit.h). */
void
gw_auth_audit(struct gw_req *gr, const char *why)
{
	char	detail[512];

	snprintf(detail, sizeof(detail), "%s from %s: %s %.256s", why,
	    gw_conn_ip(gr->gr_conn), gw_method_name(gr->gr_method),
	    gr->gr_path != NULL ? gr->gr_path : "");
	(void)audit_post(AUDIT_AUTH_ATTEMPT, NULL, detail, "denied");
}

int
gw_auth_check(struct gw_req *gr)
{
	const char	*tok;
	int		 rv;

	if (!gw_auth_required()) {
		if (gw_conn_loopback(gr->gr_conn) || gw_allow_remote) {
			gr->gr_principal = "owner";
			return (0);
		}
		gw_reply_error(gr, 401, "authentication required: no api_key "
		    "is configured and only loopback clients are served");
		gw_auth_audit(gr, "remote client without an api_key");
		gr->gr_www_auth = 1;
		return (-1);
	}
	if ((tok = gw_auth_header_token(gr)) != NULL) {
		if (!gw_auth_key_ok(tok)) {
			gw_reply_error(gr, 401, "invalid API key");
			gw_auth_audit(gr, "invalid API key");
			gr->gr_www_auth = 1;
			return (-1);
		}
		gr->gr_principal = "owner";
		return (0);
	}
	/* Browsers send a WebSocket's key as a sub-protocol. */
	if (gr->gr_route != NULL && gr->gr_route->rt_local == gw_ws_agent &&
	    gw_ws_auth(gr) == 0) {
		gr->gr_principal = "owner";
		return (0);
	}
	if ((rv = gw_dauth_cookie_auth(gr)) != 1)
		return (rv);
	gw_reply_error(gr, 401, "missing API key: send "
	    "'Authorization: Bearer <api_key>'");
	gw_auth_audit(gr, "missing API key");
	gr->gr_www_auth = 1;
	return (-1);
}

int
gw_same_origin(struct gw_req *gr)
{
	const char	*o, *host;

	o = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "Origin");
	host = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (o == NULL || host == NULL || *host == '\0')
		return (0);
	if (strncasecmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncasecmp(o, "https://", 8) == 0)
		o += 8;
	else
		return (0);
	return (strcasecmp(o, host) == 0);
}

const char *
gw_cors_origin(struct MHD_Connection *c)
{
	const char	*o, *p;

	if (gw_auth_required())
		return (NULL);
	o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (o == NULL)
		return (NULL);
	if (strncmp(o, "http://localhost", 16) == 0)
		p = o + 16;
	else if (strncmp(o, "http://127.0.0.1", 16) == 0)
		p = o + 16;
	else
		return (NULL);
	if (*p == '\0')
		return (o);
	if (*p++ != ':' || *p == '\0' || strlen(p) > 5)
		return (NULL);
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return (NULL);
	return (o);
}
