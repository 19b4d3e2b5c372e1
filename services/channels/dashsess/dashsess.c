/*
 * dashsess.c - dashboard sessions (dashsess.h; proto/messages.md).
 *
 * A token is 32 random bytes, base64url without padding (43 characters);
 * its row is keyed by the SHA-256 of those 43 characters, in hex.  The
 * CSRF token is 32 more random bytes, in hex.  Neither is logged.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "bus.h"
#include "dashsess/dashsess.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "util.h"

#define DS_TOKEN_BYTES	32
#define DS_TOKEN_LEN	43		/* base64url, no padding */
#define DS_HASH_LEN	64		/* sha-256, hex */
#define DS_USER_MAX	256
#define DS_METHOD_MAX	32
#define DS_UA_MAX	512
#define DS_IP_MAX	64
#define DS_TTL_MAX	(366LL * 86400)

static struct bus_pub	*ds_pub;

int
dashsess_start(const struct sh_config *cfg)
{
	if ((ds_pub = bus_pub_open(cfg->bus_url)) == NULL) {
		log_warnx("dashsess: no publisher: a logout reaches other "
		    "gateways only when their cached copy lapses");
		return (-1);
	}
	return (0);
}

void
dashsess_stop(void)
{
	bus_pub_close(ds_pub);
	ds_pub = NULL;
}

/* out: DS_TOKEN_LEN + 1 bytes. */
static int
ds_token(char *out)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		 r[DS_TOKEN_BYTES + 1];
	unsigned int		 v;
	size_t			 i, o = 0;

	if (RAND_bytes(r, DS_TOKEN_BYTES) != 1)
		return (-1);
	r[DS_TOKEN_BYTES] = 0;
	for (i = 0; i < DS_TOKEN_BYTES; i += 3) {
		v = (unsigned int)r[i] << 16 | (unsigned int)r[i + 1] << 8 |
		    (i + 2 < DS_TOKEN_BYTES ? r[i + 2] : 0);
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (o < DS_TOKEN_LEN)
			out[o++] = b64[(v >> 6) & 63];
		if (o < DS_TOKEN_LEN)
			out[o++] = b64[v & 63];
	}
	out[DS_TOKEN_LEN] = '\0';
	explicit_bzero(r, sizeof(r));
	return (0);
}

/* out: 65 bytes. */
static int
ds_hex_random(char *out)
{
	unsigned char	r[32];
	size_t		i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return (-1);
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	explicit_bzero(r, sizeof(r));
	return (0);
}

/* The body's keys are all in allowed (NULL-ended): 0, or -1 with a 400. */
static int
ds_known_keys(json_t *body, const char *const *allowed, struct svc_reply *rp)
{
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return (-1);
	}
	return (svc_known_fields(body, allowed, rp));
}

/* body's string field key (NULL when absent), at most max bytes, printable
 * (no control characters). */
static int
ds_str(json_t *body, const char *key, size_t max, int required,
    const char **out, struct svc_reply *rp)
{
	json_t		*v = json_object_get(body, key);
	const char	*s;
	size_t		 i, n;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			svc_reply_error(rp, 400, "'%s' is required", key);
			return (-1);
		}
		return (0);
	}
	if (!json_is_string(v)) {
		svc_reply_error(rp, 400, "'%s' must be a string", key);
		return (-1);
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > max || (required && n == 0)) {
		svc_reply_error(rp, 400, "'%s' must be 1 to %zu bytes", key,
		    max);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			svc_reply_error(rp, 400, "'%s' holds a control "
			    "character", key);
			return (-1);
		}
	*out = s;
	return (0);
}

static int
ds_hash_arg(json_t *body, const char **out, struct svc_reply *rp)
{
	const char	*h;
	size_t		 i;

	if (ds_str(body, "token_hash", DS_HASH_LEN, 1, &h, rp) != 0)
		return (-1);
	for (i = 0; h[i] != '\0'; i++)
		if (!isxdigit((unsigned char)h[i]) || isupper((unsigned char)h[i]))
			break;
	if (i != DS_HASH_LEN || h[i] != '\0') {
		svc_reply_error(rp, 400, "'token_hash' must be 64 lowercase "
		    "hex digits (the SHA-256 of the token)");
		return (-1);
	}
	*out = h;
	return (0);
}

#define DS_TIMES "(extract(epoch FROM created_at) * 1000)::bigint, " \
	"(extract(epoch FROM expires_at) * 1000)::bigint, " \
	"(extract(epoch FROM last_seen) * 1000)::bigint"

/* {user, method, created_at, expires_at, expires_ms, last_seen} of a row
 * whose columns from col are username, method, then DS_TIMES. */
static json_t *
ds_row(PGresult *res, int col)
{
	char		 c[32], e[32], l[32];
	long long	 cm, em, lm;

	cm = strtoll(PQgetvalue(res, 0, col + 2), NULL, 10);
	em = strtoll(PQgetvalue(res, 0, col + 3), NULL, 10);
	lm = strtoll(PQgetvalue(res, 0, col + 4), NULL, 10);
	util_rfc3339(cm, c);
	util_rfc3339(em, e);
	util_rfc3339(lm, l);
	return (json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}",
	    "user", PQgetvalue(res, 0, col), "method",
	    PQgetvalue(res, 0, col + 1), "created_at", c, "expires_at", e,
	    "expires_ms", (json_int_t)em, "last_seen", l));
}

/*
 * dashsess.create {user, method, user_agent?, ip?, ttl_secs?}: 201
 * {token, csrf_token, token_hash, user, method, created_at, expires_at,
 * expires_ms, last_seen, ttl_secs}.
 */
static void
ds_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	static const char *const keys[] = { "user", "method", "user_agent",
	    "ip", "ttl_secs", NULL };
	json_t		*body = rq->mr_body, *v, *o;
	const char	*user, *method, *ua, *ip;
	char		 tok[DS_TOKEN_LEN + 1], hash[DS_HASH_LEN + 1];
	char		 csrf[DS_HASH_LEN + 1], ttls[24], uab[DS_UA_MAX + 1];
	long long	 ttl = c->sc_cfg->dash_session_ttl_secs;
	PGresult	*res;
	size_t		 i;

	if (ds_known_keys(body, keys, rp) != 0 ||
	    ds_str(body, "user", DS_USER_MAX, 1, &user, rp) != 0 ||
	    ds_str(body, "method", DS_METHOD_MAX, 1, &method, rp) != 0 ||
	    ds_str(body, "ip", DS_IP_MAX, 0, &ip, rp) != 0)
		return;
	for (i = 0; method[i] != '\0'; i++)
		if (!islower((unsigned char)method[i]) && method[i] != '_') {
			svc_reply_error(rp, 400, "'method' must be lowercase "
			    "letters and '_' (api_key, password, oidc)");
			return;
		}
	/* A browser's User-Agent can be anything: kept, cut to size. */
	v = json_object_get(body, "user_agent");
	ua = "";
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			svc_reply_error(rp, 400, "'user_agent' must be a "
			    "string");
			return;
		}
		snprintf(uab, sizeof(uab), "%s", json_string_value(v));
		for (i = 0; uab[i] != '\0'; i++)
			if ((unsigned char)uab[i] < 0x20 || uab[i] == 0x7f)
				uab[i] = ' ';
		/* Not in the middle of a UTF-8 sequence. */
		while (i > 0 && !util_utf8_valid((unsigned char *)uab, i))
			uab[--i] = '\0';
		ua = uab;
	}
	if ((v = json_object_get(body, "ttl_secs")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > DS_TTL_MAX) {
			svc_reply_error(rp, 400, "'ttl_secs' must be an integer "
			    "from 1 to %lld", DS_TTL_MAX);
			return;
		}
		ttl = json_integer_value(v);
	}
	if (ds_token(tok) != 0 || ds_hex_random(csrf) != 0 ||
	    util_sha256_hex(tok, strlen(tok), hash) != 0) {
		svc_reply_error(rp, 500, "no random bytes");
		goto done;
	}
	snprintf(ttls, sizeof(ttls), "%lld", ttl);
	/* The expired rows go first: a login is the periodic work. */
	if (db_cmd(c->sc_db, "DELETE FROM dash_sessions WHERE expires_at <= "
	    "now()", 0, NULL) != 0 && db_unavailable(c->sc_db)) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if ((res = db_exec(c->sc_db, "INSERT INTO dash_sessions "
	    "(token_sha256, csrf_token, username, method, user_agent, ip, "
	    "expires_at) VALUES ($1, $2, $3, $4, $5, $6, now() + "
	    "make_interval(secs => $7::bigint)) RETURNING username, method, "
	    DS_TIMES, 7, (const char *[]){ hash, csrf, user, method, ua,
	    ip != NULL ? ip : "", ttls })) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	o = ds_row(res, 0);
	PQclear(res);
	if (o != NULL) {
		json_object_set_new(o, "token", json_string(tok));
		json_object_set_new(o, "csrf_token", json_string(csrf));
		json_object_set_new(o, "token_hash", json_string(hash));
		json_object_set_new(o, "ttl_secs", json_integer(ttl));
	}
	log_info("dashboard session for '%s' (%s) created", user, method);
	svc_reply_json(rp, 201, o);
 done:
	explicit_bzero(tok, sizeof(tok));
	explicit_bzero(csrf, sizeof(csrf));
}

/*
 * dashsess.validate {token_hash}: 200 {user, method, csrf_token,
 * created_at, expires_at, expires_ms, last_seen}, or 404 when no live
 * session has that hash (an expired one is deleted).  last_seen is
 * brought up to date.
 */
static void
ds_validate(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	static const char *const keys[] = { "token_hash", NULL };
	const char	*hash;
	PGresult	*res;
	json_t		*o;

	if (ds_known_keys(rq->mr_body, keys, rp) != 0 ||
	    ds_hash_arg(rq->mr_body, &hash, rp) != 0)
		return;
	if ((res = db_exec(c->sc_db, "UPDATE dash_sessions SET last_seen = "
	    "now() WHERE token_sha256 = $1 AND expires_at > now() RETURNING "
	    "username, method, " DS_TIMES ", csrf_token", 1,
	    (const char *[]){ hash })) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		(void)db_cmd(c->sc_db, "DELETE FROM dash_sessions WHERE "
		    "token_sha256 = $1 AND expires_at <= now()", 1,
		    (const char *[]){ hash });
		svc_reply_error(rp, 404, "unknown or expired session");
		return;
	}
	o = ds_row(res, 0);
	if (o != NULL)
		json_object_set_new(o, "csrf_token",
		    json_string(PQgetvalue(res, 0, 5)));
	PQclear(res);
	svc_reply_json(rp, 200, o);
}

/*
 * dashsess.delete {token_hash, csrf_token?}: 200 {ok: true, deleted}.
 * With csrf_token, a live session whose CSRF token differs is left and
 * answered 403.  A deleted row is announced on TOPIC_DASHSESS.
 */
static void
ds_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	static const char *const keys[] = { "token_hash", "csrf_token",
	    NULL };
	const char	*hash, *csrf;
	PGresult	*res;
	json_t		*ev;
	int		 deleted;

	if (ds_known_keys(rq->mr_body, keys, rp) != 0 ||
	    ds_hash_arg(rq->mr_body, &hash, rp) != 0 ||
	    ds_str(rq->mr_body, "csrf_token", 256, 0, &csrf, rp) != 0)
		return;
	if (csrf != NULL) {
		if ((res = db_exec(c->sc_db, "SELECT csrf_token FROM "
		    "dash_sessions WHERE token_sha256 = $1 AND expires_at > "
		    "now()", 1, (const char *[]){ hash })) == NULL) {
			svc_reply_db_error(rp, c);
			return;
		}
		if (PQntuples(res) > 0 && !util_ct_equal(csrf, strlen(csrf),
		    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0))) {
			PQclear(res);
			svc_reply_error(rp, 403, "invalid CSRF token");
			return;
		}
		PQclear(res);
	}
	if ((res = db_exec(c->sc_db, "DELETE FROM dash_sessions WHERE "
	    "token_sha256 = $1 RETURNING username", 1,
	    (const char *[]){ hash })) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	deleted = PQntuples(res) > 0;
	if (deleted)
		log_info("dashboard session of '%s' deleted",
		    PQgetvalue(res, 0, 0));
	PQclear(res);
	if (deleted && ds_pub != NULL &&
	    (ev = json_pack("{s:s}", "token_hash", hash)) != NULL) {
		(void)bus_publish(ds_pub, TOPIC_DASHSESS, ev);
		json_decref(ev);
	}
	svc_reply_json(rp, 200, json_pack("{s:b, s:b}", "ok", 1, "deleted",
	    deleted));
}

const struct svc_op dashsess_ops[] = {
	{ OP_DASHSESS_CREATE,	ds_create },
	{ OP_DASHSESS_VALIDATE,	ds_validate },
	{ OP_DASHSESS_DELETE,	ds_delete },
	{ NULL, NULL }
};
