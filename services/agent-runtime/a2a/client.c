/*
 * a2a/client.c - the external agents we call (a2a/a2a.h): a2a.discover,
 * a2a.peers.list, a2a.peers.get, a2a.send, a2a.out.get, a2a.out.status.
 *
 * Every outbound request runs on a pool thread (a2a/pool.c) through
 * libshared/httpc.c: one total timeout ([a2a] timeout_secs), an answer
 * capped at A2A_BODY_MAX, no redirects.  Every URL passes the SSRF rules
 * of notes/kernel.md 6.6 first: http or https, no credentials, no
 * loopback, private, link-local or metadata address (every address a
 * name resolves to is checked, and the transfer is pinned to the checked
 * one, so a second resolution cannot swap it); [a2a] trusted_peers
 * re-admits named hosts ("host" or "host:port"), never a metadata
 * address.
 *
 * A peer is talked to in the dialect its card announces: A2A v1.0
 * (supportedInterfaces with a JSONRPC 1.0 interface: SendMessage,
 * GetTask), v0.3 (a top-level url and protocolVersion 0.3: message/send,
 * tasks/get), or the pre-0.2 dialect of the reference system (a url and
 * no protocolVersion: tasks/send, tasks/get).
 */
#include <sys/socket.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "a2a/a2a.h"
#include "buf.h"
#include "err.h"
#include "httpc.h"
#include "log.h"
#include "ops.h"
#include "tool/tool.h"

enum a2a_dialect {
	A2A_V01 = 0,		/* the reference's tasks/send */
	A2A_V03,		/* message/send */
	A2A_V10			/* SendMessage */
};

#define A2A_PEER_COLUMNS						\
	"id::text AS id, url, name, description, card"

static const char SQL_PEER_UPSERT[] =
	"INSERT INTO a2a_peers (id, url, name, description, card) "
	"VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (url) DO UPDATE SET "
	"name = EXCLUDED.name, description = EXCLUDED.description, "
	"card = EXCLUDED.card, updated_at = now() "
	"RETURNING " A2A_PEER_COLUMNS;
static const char SQL_PEER_LIST[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers ORDER BY created_at, id";
static const char SQL_PEER_BY_ID[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers WHERE id = $1";
static const char SQL_PEER_BY_URL[] =
	"SELECT " A2A_PEER_COLUMNS " FROM a2a_peers WHERE url = $1";
static const char SQL_OUT_INSERT[] =
	"INSERT INTO a2a_tasks (id, direction, context_id, peer_id, "
	"remote_id, state, input, response, completed_at) "
	"VALUES ($1, 'out', $2, $3, $4, $5, $6, $7, CASE WHEN $5 IN "
	"('completed', 'failed', 'canceled', 'rejected') THEN now() END)";
static const char SQL_OUT_UPDATE[] =
	"UPDATE a2a_tasks SET state = $2, response = coalesce($3, response), "
	"updated_at = now(), completed_at = CASE WHEN $2 IN ('completed', "
	"'failed', 'canceled', 'rejected') THEN now() END WHERE id = $1";

static const char *const a2a_states[] = {
	"submitted", "working", "completed", "failed", "canceled",
	"input-required", "rejected", "auth-required", "unknown", NULL
};

/* ---- configuration ------------------------------------------------------ */

static json_t *
a2a_conf(const struct sh_config *cfg, const char *key)
{
	return (json_object_get(json_object_get(cfg->cf_doc, "a2a"), key));
}

static long
a2a_timeout_ms(const struct sh_config *cfg)
{
	json_t	*v = a2a_conf(cfg, "timeout_secs");

	if (json_is_integer(v) && json_integer_value(v) >= 1 &&
	    json_integer_value(v) <= 600)
		return ((long)json_integer_value(v) * 1000);
	return (A2A_TIMEOUT_DEFAULT * 1000L);
}

/* 1 if host (as in the URL) or host:port is in [a2a] trusted_peers. */
static int
a2a_trusted(const struct sh_config *cfg, const char *host, long port)
{
	json_t		*e;
	const char	*s;
	char		 hp[320];
	size_t		 i;

	snprintf(hp, sizeof(hp), "%s:%ld", host, port);
	json_array_foreach(a2a_conf(cfg, "trusted_peers"), i, e) {
		if ((s = json_string_value(e)) == NULL)
			continue;
		if (strcasecmp(s, host) == 0 || strcasecmp(s, hp) == 0)
			return (1);
	}
	return (0);
}

/* ---- one outbound request ----------------------------------------------- */

struct a2a_pin {
	struct curl_slist	*p_resolve;	/* host:port:address or NULL */
};

static int
a2a_setup(CURL *h, void *arg)
{
	struct a2a_pin	*pin = arg;

	if (pin->p_resolve != NULL &&
	    curl_easy_setopt(h, CURLOPT_RESOLVE, pin->p_resolve) != CURLE_OK)
		return (-1);
	return (0);
}

/*
 * The SSRF rules for url.  0 with pin filled (a name is pinned to its
 * checked address), or -1 with why in err.
 */
static int
a2a_url_check(const struct sh_config *cfg, const char *url,
    struct a2a_pin *pin, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	CURLU		*u = NULL;
	char		*scheme = NULL, *host = NULL, *user = NULL, *pw = NULL;
	char		*port = NULL, bare[256], ip[INET6_ADDRSTRLEN + 2];
	char		 entry[sizeof(bare) + INET6_ADDRSTRLEN + 40];
	const char	*why = NULL;
	long		 portn;
	int		 is_ip = 0, trusted, rv = -1;
	size_t		 n;

	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "invalid URL");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		snprintf(err, errlen, "SSRF blocked: only http:// and https:// "
		    "URLs are allowed");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK) {
		snprintf(err, errlen, "SSRF blocked: URLs with credentials "
		    "(user@host) are refused");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK || (n = strlen(host)) >= sizeof(bare)) {
		snprintf(err, errlen, "invalid URL: no host");
		goto done;
	}
	portn = strtol(port, NULL, 10);
	trusted = a2a_trusted(cfg, host, portn);
	why = tool_host_blocked(host, &is_ip);
	if (why != NULL && (!trusted || strcmp(why, "cloud metadata "
	    "address") == 0)) {
		snprintf(err, errlen, "SSRF blocked: %.200s is a %s (add it to "
		    "[a2a] trusted_peers to allow it)", host, why);
		goto done;
	}
	if (is_ip) {
		rv = 0;
		goto done;
	}
	memcpy(bare, host, n + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(bare, port, &hints, &res) != 0 || res == NULL) {
		snprintf(err, errlen, "could not resolve '%.200s'", bare);
		goto done;
	}
	/* Every address must pass, not only the one used. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (tool_addr_metadata(ai->ai_addr) || (!trusted &&
		    (why = tool_addr_blocked(ai->ai_addr)) != NULL)) {
			snprintf(err, errlen, "SSRF blocked: %.200s resolves "
			    "to a %s", bare, why != NULL && !tool_addr_metadata(
			    ai->ai_addr) ? why : "cloud metadata address");
			goto done;
		}
	}
	if (res->ai_family == AF_INET6) {
		char	a6[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)
		    res->ai_addr)->sin6_addr, a6, sizeof(a6));
		snprintf(ip, sizeof(ip), "[%s]", a6);
	} else
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)
		    res->ai_addr)->sin_addr, ip, sizeof(ip));
	snprintf(entry, sizeof(entry), "%s:%ld:%s", bare, portn, ip);
	if ((pin->p_resolve = curl_slist_append(NULL, entry)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rv = 0;
 done:
	if (res != NULL)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pw);
	curl_free(port);
	curl_url_cleanup(u);
	return (rv);
}

/*
 * GET (body NULL) or POST body (borrowed) to url.  The answer's JSON
 * (new) with its HTTP status in *status, or NULL with the reason in err
 * and *httperr the status to answer with (400 refused URL, 502 no or bad
 * answer, 504 none in time).
 */
static json_t *
a2a_http(const struct sh_config *cfg, const char *url, json_t *body,
    const char *version, long *status, int *httperr, char *err,
    size_t errlen)
{
	struct httpc_req	 rq;
	struct httpc_resp	 rs;
	struct a2a_pin		 pin = { NULL };
	struct curl_slist	*hdrs = NULL, *h2;
	json_error_t		 je;
	json_t			*out = NULL;
	char			*text = NULL, vh[64];

	*status = 0;
	memset(&rs, 0, sizeof(rs));
	if (a2a_url_check(cfg, url, &pin, err, errlen) != 0) {
		*httperr = 400;
		return (NULL);
	}
	snprintf(vh, sizeof(vh), "A2A-Version: %s", version);
	if ((hdrs = curl_slist_append(NULL, "Accept: application/json")) ==
	    NULL || (h2 = curl_slist_append(hdrs, vh)) == NULL ||
	    (body != NULL && (curl_slist_append(h2, "Content-Type: "
	    "application/json") == NULL || (text = json_dumps(body,
	    JSON_COMPACT)) == NULL))) {
		snprintf(err, errlen, "out of memory");
		*httperr = 500;
		goto done;
	}
	memset(&rq, 0, sizeof(rq));
	rq.hr_url = url;
	rq.hr_headers = hdrs;
	rq.hr_body = text;
	rq.hr_bodylen = text != NULL ? strlen(text) : 0;
	rq.hr_timeout_ms = a2a_timeout_ms(cfg);
	rq.hr_connect_ms = rq.hr_timeout_ms < 10000 ? rq.hr_timeout_ms : 10000;
	rq.hr_max = A2A_BODY_MAX;
	rq.hr_setup = a2a_setup;
	rq.hr_arg = &pin;
	if (httpc_do(&rq, &rs) != 0) {
		if (rs.hs_curlcode == CURLE_OPERATION_TIMEDOUT) {
			snprintf(err, errlen, "the peer at %.300s did not "
			    "answer within %ld s", url,
			    rq.hr_timeout_ms / 1000);
			*httperr = 504;
		} else {
			snprintf(err, errlen, "could not reach the peer at "
			    "%.200s: %.200s", url, rs.hs_err);
			*httperr = 502;
		}
		goto done;
	}
	*status = rs.hs_status;
	if (rs.hs_status < 200 || rs.hs_status > 299) {
		snprintf(err, errlen, "the peer at %.300s answered HTTP %ld",
		    url, rs.hs_status);
		*httperr = 502;
		goto done;
	}
	out = json_loadb(rs.hs_body.b_data != NULL ? rs.hs_body.b_data : "",
	    rs.hs_body.b_len, 0, &je);
	if (out == NULL || !json_is_object(out)) {
		json_decref(out);
		out = NULL;
		snprintf(err, errlen, "the peer at %.300s sent an invalid "
		    "answer: not a JSON object", url);
		*httperr = 502;
	}
 done:
	curl_slist_free_all(hdrs);
	curl_slist_free_all(pin.p_resolve);
	free(text);
	httpc_resp_release(&rs);
	return (out);
}

/* ---- cards and peers ---------------------------------------------------- */

static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/* The dialect and JSON-RPC endpoint (borrowed from card) of a card. */
static const char *
card_endpoint(json_t *card, enum a2a_dialect *d)
{
	json_t		*e, *ifs = json_object_get(card, "supportedInterfaces");
	const char	*v03 = NULL, *pv;
	size_t		 i;

	json_array_foreach(ifs, i, e) {
		if (str_of(e, "protocolBinding") == NULL || strcasecmp(
		    str_of(e, "protocolBinding"), "JSONRPC") != 0 ||
		    str_of(e, "url") == NULL)
			continue;
		pv = str_of(e, "protocolVersion");
		if (pv != NULL && strncmp(pv, "1.", 2) == 0) {
			*d = A2A_V10;
			return (str_of(e, "url"));
		}
		if (v03 == NULL)
			v03 = str_of(e, "url");
	}
	if (v03 != NULL) {
		*d = A2A_V03;
		return (v03);
	}
	pv = str_of(card, "protocolVersion");
	*d = pv != NULL ? A2A_V03 : A2A_V01;
	return (str_of(card, "url"));
}

/* The peer as shown by the API (new): skills as names. */
static json_t *
peer_view(json_t *row)
{
	json_t		*card = json_object_get(row, "card"), *skills, *e;
	const char	*s;
	size_t		 i;

	skills = json_array();
	json_array_foreach(json_object_get(card, "skills"), i, e) {
		if ((s = str_of(e, "name")) != NULL ||
		    (s = str_of(e, "id")) != NULL ||
		    (s = json_string_value(e)) != NULL)
			json_array_append_new(skills, json_string(s));
	}
	return (json_pack("{s:O, s:O, s:O, s:O, s:o, s:O}",
	    "id", json_object_get(row, "id"),
	    "name", json_object_get(row, "name"),
	    "url", json_object_get(row, "url"),
	    "description", json_object_get(row, "description"),
	    "skills", skills,
	    "card", card));
}

/* Fetches and stores the card of base (a URL, or the card's own URL when
 * it ends in .json).  The peer row (new), or NULL with err and *httperr. */
static json_t *
peer_discover(const struct sh_config *cfg, struct db *db, const char *base,
    int *httperr, char *err, size_t errlen)
{
	json_t		*card = NULL, *row = NULL;
	const char	*p[5], *name;
	char		 url[A2A_URL_MAX + 64], id[UTIL_UUID_LEN], *text = NULL;
	size_t		 n = strlen(base);
	long		 status;
	int		 e;
	enum a2a_dialect d;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 5 && strncmp(base + n - 5, ".json", 5) == 0)
		snprintf(url, sizeof(url), "%.*s", (int)n, base);
	else
		snprintf(url, sizeof(url), "%.*s/.well-known/agent-card.json",
		    (int)n, base);
	card = a2a_http(cfg, url, NULL, "1.0", &status, httperr, err, errlen);
	if (card == NULL && status == 404) {
		/* The reference's (and pre-0.3 peers') location. */
		snprintf(url, sizeof(url), "%.*s/.well-known/agent.json",
		    (int)n, base);
		card = a2a_http(cfg, url, NULL, "0.3", &status, httperr, err,
		    errlen);
	}
	if (card == NULL)
		return (NULL);
	name = str_of(card, "name");
	if (name == NULL || *name == '\0' || strlen(name) > 256) {
		snprintf(err, errlen, "the peer at %.300s sent an invalid "
		    "agent card: no name", url);
		*httperr = 502;
		goto done;
	}
	if (card_endpoint(card, &d) == NULL) {
		snprintf(err, errlen, "the peer at %.300s sent an invalid "
		    "agent card: no JSON-RPC url", url);
		*httperr = 502;
		goto done;
	}
	if ((text = json_dumps(card, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		*httperr = 500;
		goto done;
	}
	util_uuid4(id);
	/* A peer is known by its base URL, without trailing slashes. */
	snprintf(url, sizeof(url), "%.*s", (int)n, base);
	p[0] = id;
	p[1] = url;
	p[2] = name;
	p[3] = str_of(card, "description") != NULL ?
	    str_of(card, "description") : "";
	p[4] = text;
	if ((row = db_one_json(db_exec(db, SQL_PEER_UPSERT, 5, p), &e)) ==
	    NULL) {
		snprintf(err, errlen, "could not store the peer");
		*httperr = 503;
	}
 done:
	free(text);
	json_decref(card);
	return (row);
}

/* ---- what a peer answers ------------------------------------------------ */

/* A state of any dialect ("TASK_STATE_INPUT_REQUIRED", "cancelled",
 * "inputRequired") as the spec's v0.3 name; "unknown" otherwise. */
static const char *
state_norm(const char *s, char *out, size_t outlen)
{
	size_t	 i, j = 0;

	if (s == NULL)
		return ("unknown");
	if (strncasecmp(s, "TASK_STATE_", 11) == 0)
		s += 11;
	for (i = 0; s[i] != '\0' && j + 2 < outlen; i++) {
		if (s[i] == '_')
			out[j++] = '-';
		else if (s[i] >= 'A' && s[i] <= 'Z') {
			/* camelCase (the reference's inputRequired) */
			if (i > 0 && s[i - 1] >= 'a' && s[i - 1] <= 'z')
				out[j++] = '-';
			out[j++] = (char)(s[i] - 'A' + 'a');
		} else
			out[j++] = s[i];
	}
	out[j] = '\0';
	if (strcmp(out, "cancelled") == 0)
		return ("canceled");
	for (i = 0; a2a_states[i] != NULL; i++)
		if (strcmp(out, a2a_states[i]) == 0)
			return (a2a_states[i]);
	return ("unknown");
}

/* Appends the text parts of parts to b. */
static void
parts_text(json_t *parts, struct buf *b)
{
	json_t		*e;
	const char	*t;
	size_t		 i;

	json_array_foreach(parts, i, e) {
		if ((t = str_of(e, "text")) == NULL)
			continue;
		if (b->b_len > 0)
			(void)buf_add(b, "\n", 1);
		(void)buf_add(b, t, strlen(t));
	}
}

/*
 * A peer's task or message (borrowed) as {remote_id, context_id, state,
 * response}: the text of its artifacts, else of its status message, else
 * of the last agent message of its history.  New, or NULL when it is
 * neither.
 */
static json_t *
remote_task(json_t *r)
{
	struct buf	 b;
	json_t		*out, *st, *hist, *e;
	const char	*state, *role;
	char		 sbuf[64];
	size_t		 i;

	if (json_is_object(json_object_get(r, "task")))
		r = json_object_get(r, "task");
	else if (json_is_object(json_object_get(r, "message")) &&
	    json_object_get(r, "status") == NULL)
		r = json_object_get(r, "message");
	if (!json_is_object(r))
		return (NULL);
	buf_init(&b, A2A_BODY_MAX);
	st = json_object_get(r, "status");
	if (json_is_string(st))
		state = state_norm(json_string_value(st), sbuf, sizeof(sbuf));
	else if (json_is_object(st))
		state = state_norm(str_of(st, "state"), sbuf, sizeof(sbuf));
	else if (json_is_array(json_object_get(r, "parts"))) {
		/* A Message: the answer itself. */
		state = "completed";
		parts_text(json_object_get(r, "parts"), &b);
	} else {
		buf_release(&b);
		return (NULL);
	}
	json_array_foreach(json_object_get(r, "artifacts"), i, e)
		parts_text(json_object_get(e, "parts"), &b);
	if (b.b_len == 0 && json_is_object(st))
		parts_text(json_object_get(json_object_get(st, "message"),
		    "parts"), &b);
	if (b.b_len == 0) {
		hist = json_object_get(r, "history");
		if (hist == NULL)
			hist = json_object_get(r, "messages");
		for (i = json_array_size(hist); i > 0 && b.b_len == 0; i--) {
			e = json_array_get(hist, i - 1);
			role = str_of(e, "role");
			if (role != NULL && (strcasecmp(role, "agent") == 0 ||
			    strcasecmp(role, "ROLE_AGENT") == 0))
				parts_text(json_object_get(e, "parts"), &b);
		}
	}
	out = json_pack("{s:s?, s:s?, s:s, s:s%}",
	    "remote_id", str_of(r, "id") != NULL ? str_of(r, "id") :
	    str_of(r, "taskId"),
	    "context_id", str_of(r, "contextId") != NULL ?
	    str_of(r, "contextId") : str_of(r, "sessionId"),
	    "state", state,
	    "response", b.b_data != NULL ? b.b_data : "", b.b_len);
	buf_release(&b);
	return (out);
}

/*
 * One JSON-RPC call to a peer.  The result (new), or NULL with err and
 * *httperr (a JSON-RPC error or a malformed answer is 502).
 */
static json_t *
rpc_call(const struct sh_config *cfg, const char *url, enum a2a_dialect d,
    const char *method, json_t *params, int *httperr, char *err,
    size_t errlen)
{
	json_t		*req, *ans, *res = NULL, *e;
	char		 id[UTIL_UUID_LEN];
	long		 status;

	util_uuid4(id);
	req = json_pack("{s:s, s:s, s:s, s:O}", "jsonrpc", "2.0", "id", id,
	    "method", method, "params", params);
	if (req == NULL) {
		snprintf(err, errlen, "out of memory");
		*httperr = 500;
		return (NULL);
	}
	ans = a2a_http(cfg, url, req, d == A2A_V10 ? "1.0" : "0.3", &status,
	    httperr, err, errlen);
	json_decref(req);
	if (ans == NULL)
		return (NULL);
	if (json_is_object(e = json_object_get(ans, "error"))) {
		snprintf(err, errlen, "the peer refused the request: %.300s "
		    "(JSON-RPC error %lld)", str_of(e, "message") != NULL ?
		    str_of(e, "message") : "no message",
		    json_integer_value(json_object_get(e, "code")));
		*httperr = 502;
	} else if (str_of(ans, "jsonrpc") == NULL ||
	    strcmp(str_of(ans, "jsonrpc"), "2.0") != 0 ||
	    !json_is_object(json_object_get(ans, "result"))) {
		snprintf(err, errlen, "the peer sent an invalid A2A response: "
		    "no JSON-RPC 2.0 result");
		*httperr = 502;
	} else
		res = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	return (res);
}

/* The send request's params in dialect d (new). */
static json_t *
send_params(enum a2a_dialect d, const char *text, const char *ctx)
{
	char	 mid[UTIL_UUID_LEN], tid[UTIL_UUID_LEN];
	json_t	*msg;

	util_uuid4(mid);
	switch (d) {
	case A2A_V10:
		msg = json_pack("{s:s, s:s, s:[{s:s}]}", "messageId", mid,
		    "role", "ROLE_USER", "parts", "text", text);
		if (msg != NULL && ctx != NULL)
			json_object_set_new(msg, "contextId", json_string(ctx));
		return (json_pack("{s:o, s:{s:b}}", "message", msg,
		    "configuration", "blocking", 1));
	case A2A_V03:
		msg = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "kind",
		    "message", "messageId", mid, "role", "user", "parts",
		    "kind", "text", "text", text);
		if (msg != NULL && ctx != NULL)
			json_object_set_new(msg, "contextId", json_string(ctx));
		return (json_pack("{s:o, s:{s:b, s:[s]}}", "message", msg,
		    "configuration", "blocking", 1, "acceptedOutputModes",
		    "text"));
	case A2A_V01:
	default:
		util_uuid4(tid);
		return (json_pack("{s:s, s:s?, s:{s:s, s:[{s:s, s:s}]}}",
		    "id", tid, "sessionId", ctx, "message", "role", "user",
		    "parts", "type", "text", "text", text));
	}
}

static const char *const send_methods[] = { "tasks/send", "message/send",
	"SendMessage" };
static const char *const get_methods[] = { "tasks/get", "tasks/get",
	"GetTask" };

/* ---- the jobs ----------------------------------------------------------- */

static void
job_discover(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	json_t	*row;
	char	 err[512];
	int	 status = 502;

	row = peer_discover(as->as_cfg, db, str_of(arg, "url"), &status, err,
	    sizeof(err));
	if (row == NULL) {
		svc_pending_reply(sp, status, msg_error_body("%s", err));
		return;
	}
	svc_pending_reply(sp, 200, peer_view(row));
	json_decref(row);
}

/* The outbound task as the API shows it (new). */
static json_t *
out_view(json_t *row)
{
	return (json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O,"
	    " s:O, s:O}",
	    "task_id", json_object_get(row, "id"),
	    "id", json_object_get(row, "id"),
	    "remote_task_id", json_object_get(row, "remote_id"),
	    "agent_id", json_object_get(row, "peer_id"),
	    "context_id", json_object_get(row, "context_id"),
	    "status", json_object_get(row, "state"),
	    "message", json_object_get(row, "input"),
	    "response", json_object_get(row, "response"),
	    "result", json_object_get(row, "response"),
	    "error", json_object_get(row, "error"),
	    "created_at", json_object_get(row, "created_at"),
	    "updated_at", json_object_get(row, "updated_at")));
}

static void
job_send(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	const struct sh_config *cfg = as->as_cfg;
	json_t		*peer = NULL, *params = NULL, *res = NULL, *rt = NULL;
	json_t		*row = NULL;
	const char	*p[7], *url, *ctx = str_of(arg, "context_id");
	const char	*pid = str_of(arg, "agent_id");
	enum a2a_dialect d;
	char		 err[512], id[UTIL_UUID_LEN], cid[UTIL_UUID_LEN];
	int		 status = 502, e;

	if (pid != NULL) {
		p[0] = pid;
		peer = util_uuid_valid(pid) ? db_one_json(db_exec(db,
		    SQL_PEER_BY_ID, 1, p), &e) : NULL;
		if (peer == NULL) {
			snprintf(err, sizeof(err), "external agent not found; "
			    "discover it first (POST /api/a2a/discover)");
			status = 404;
			goto fail;
		}
	} else {
		/* A URL: the known peer, or discovered now. */
		p[0] = str_of(arg, "url");
		peer = db_one_json(db_exec(db, SQL_PEER_BY_URL, 1, p), &e);
		if (peer == NULL && (peer = peer_discover(cfg, db,
		    str_of(arg, "url"), &status, err, sizeof(err))) == NULL)
			goto fail;
	}
	if ((url = card_endpoint(json_object_get(peer, "card"), &d)) ==
	    NULL) {
		snprintf(err, sizeof(err), "the external agent's card names "
		    "no JSON-RPC url");
		goto fail;
	}
	params = send_params(d, str_of(arg, "text"), ctx);
	if ((res = rpc_call(cfg, url, d, send_methods[d], params, &status,
	    err, sizeof(err))) == NULL)
		goto fail;
	if ((rt = remote_task(res)) == NULL) {
		snprintf(err, sizeof(err), "the peer sent an invalid A2A "
		    "response: the result is neither a task nor a message");
		status = 502;
		goto fail;
	}
	util_uuid4(id);
	if (str_of(rt, "context_id") == NULL && ctx == NULL)
		util_uuid4(cid);
	p[0] = id;
	p[1] = str_of(rt, "context_id") != NULL ? str_of(rt, "context_id") :
	    ctx != NULL ? ctx : cid;
	p[2] = str_of(peer, "id");
	p[3] = str_of(rt, "remote_id");
	p[4] = str_of(rt, "state");
	p[5] = str_of(arg, "text");
	p[6] = str_of(rt, "response");
	if (db_cmd(db, SQL_OUT_INSERT, 7, p) != 0 ||
	    (row = a2a_task_get(db, id, &e)) == NULL) {
		snprintf(err, sizeof(err), "could not store the task");
		status = 503;
		goto fail;
	}
	svc_pending_reply(sp, 200, out_view(row));
	goto done;
 fail:
	svc_pending_reply(sp, status, msg_error_body("%s", err));
 done:
	json_decref(row);
	json_decref(rt);
	json_decref(res);
	json_decref(params);
	json_decref(peer);
}

/* Asks the peer for a task that was not final yet, then answers. */
static void
job_refresh(struct agent_state *as, struct db *db, struct svc_pending *sp,
    json_t *arg)
{
	json_t		*row = NULL, *peer = NULL, *res = NULL, *rt = NULL;
	json_t		*params = NULL;
	const char	*p[3], *url, *id = str_of(arg, "id");
	enum a2a_dialect d;
	char		 err[512];
	int		 e, status;

	if ((row = a2a_task_get(db, id, &e)) == NULL) {
		svc_pending_reply(sp, e == SH_ENOTFOUND ? 404 : 503,
		    msg_error_body(e == SH_ENOTFOUND ? "Task not found" :
		    "database unavailable"));
		return;
	}
	p[0] = str_of(row, "peer_id");
	if (p[0] != NULL && str_of(row, "remote_id") != NULL &&
	    (peer = db_one_json(db_exec(db, SQL_PEER_BY_ID, 1, p), &e)) !=
	    NULL && (url = card_endpoint(json_object_get(peer, "card"),
	    &d)) != NULL) {
		params = json_pack("{s:s}", "id", str_of(row, "remote_id"));
		res = rpc_call(as->as_cfg, url, d, get_methods[d], params,
		    &status, err, sizeof(err));
		if (res != NULL && (rt = remote_task(res)) != NULL) {
			p[0] = id;
			p[1] = str_of(rt, "state");
			p[2] = *str_of(rt, "response") != '\0' ?
			    str_of(rt, "response") : NULL;
			if (db_cmd(db, SQL_OUT_UPDATE, 3, p) == 0) {
				json_decref(row);
				row = a2a_task_get(db, id, &e);
			}
		} else if (res == NULL)
			log_debug("%s: task '%s': %s", __func__, id, err);
	}
	if (row == NULL)
		svc_pending_reply(sp, 503, msg_error_body("database "
		    "unavailable"));
	else
		svc_pending_reply(sp, 200, out_view(row));
	json_decref(row);
	json_decref(peer);
	json_decref(params);
	json_decref(res);
	json_decref(rt);
}

/* ---- the operations ----------------------------------------------------- */

/* body.key: a URL string of at most A2A_URL_MAX bytes.  0 with *out, or
 * -1 after a 400. */
static int
body_url(json_t *body, const char *key, int required, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			svc_reply_error(rp, 400, "'%s' is required", key);
		return (required ? -1 : 0);
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > A2A_URL_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' must be a URL of at most %d "
		    "bytes", key, A2A_URL_MAX);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

void
a2a_op_discover(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*url;

	(void)c;
	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (body_url(rq->mr_body, "url", 1, &url, rp) != 0)
		return;
	(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_discover,
	    json_pack("{s:s}", "url", url));
}

void
a2a_op_peers_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list = json_array(), *row;
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_PEER_LIST, 0, NULL)) == NULL) {
		json_decref(list);
		svc_reply_db_error(rp, c);
		return;
	}
	for (i = 0; i < PQntuples(res); i++) {
		row = db_row_json(res, i);
		svc_list_add(&list, row != NULL ? peer_view(row) : NULL);
		json_decref(row);
	}
	PQclear(res);
	svc_reply_list(rp, "agents", list);
}

void
a2a_op_peers_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*id = str_of(rq->mr_params, PARAM_ID);
	json_t		*row;
	int		 e = SH_ENOTFOUND;

	row = id != NULL && util_uuid_valid(id) ? db_one_json(db_exec(
	    c->sc_db, SQL_PEER_BY_ID, 1, &id), &e) : NULL;
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "External agent not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, peer_view(row));
	json_decref(row);
}

/*
 * body: {agent_id | url | agent_url, message, context_id?}; message is a
 * string or an A2A message whose text parts are sent.
 */
void
a2a_op_send(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body = rq->mr_body, *m, *arg;
	const char	*url, *pid = NULL, *ctx = NULL;
	struct buf	 b;

	(void)c;
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body must be a JSON object");
		return;
	}
	if (agent_get_str(body, "agent_id", 1, 64, &pid, rp) != 0 ||
	    agent_get_str(body, "context_id", 1, 256, &ctx, rp) != 0 ||
	    body_url(body, "url", 0, &url, rp) != 0 ||
	    (url == NULL && body_url(body, "agent_url", 0, &url, rp) != 0))
		return;
	if (pid == NULL && url == NULL) {
		svc_reply_error(rp, 400, "'agent_id' or 'url' is required");
		return;
	}
	m = json_object_get(body, "message");
	buf_init(&b, A2A_TEXT_MAX);
	if (json_is_string(m))
		(void)buf_add(&b, json_string_value(m), json_string_length(m));
	else if (json_is_object(m))
		parts_text(json_object_get(m, "parts"), &b);
	if (b.b_len == 0 || memchr(b.b_data, '\0', b.b_len) != NULL) {
		buf_release(&b);
		svc_reply_error(rp, 400, "'message' must be a non-empty string "
		    "(or an A2A message with text parts) of at most %d bytes",
		    A2A_TEXT_MAX);
		return;
	}
	arg = json_pack("{s:s?, s:s?, s:s?, s:s%}", "agent_id", pid, "url",
	    url, "context_id", ctx, "text", b.b_data, b.b_len);
	buf_release(&b);
	if (arg == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_send, arg);
}

static json_t *
out_fetch(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*id = str_of(rq->mr_params, PARAM_ID);
	json_t		*row = NULL;
	int		 e = SH_ENOTFOUND;

	if (id != NULL)
		row = a2a_task_get(c->sc_db, id, &e);
	if (row != NULL && strcmp(str_of(row, "direction"), "out") != 0) {
		json_decref(row);
		row = NULL;
		e = SH_ENOTFOUND;
	}
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "Task not found");
		else
			svc_reply_db_error(rp, c);
	}
	return (row);
}

void
a2a_op_out_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*row;

	if ((row = out_fetch(c, rq, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, out_view(row));
	json_decref(row);
}

void
a2a_op_out_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*row;
	const char	*st;

	if ((row = out_fetch(c, rq, rp)) == NULL)
		return;
	st = str_of(row, "state");
	if (strcmp(st, "submitted") == 0 || strcmp(st, "working") == 0 ||
	    strcmp(st, "unknown") == 0)
		(void)a2a_queue(rq, rp, A2A_LANE_OUT, job_refresh,
		    json_pack("{s:O}", "id", json_object_get(row, "id")));
	else
		svc_reply_json(rp, 200, out_view(row));
	json_decref(row);
}
