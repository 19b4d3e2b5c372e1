/*
 * a2a/peer.c - talking to an external agent (a2a/a2a.h): the SSRF rules,
 * one bounded HTTP request, a card's dialect and endpoint, the JSON-RPC
 * call and what its answer means.  No database: a2a/client.c keeps the
 * peers and tasks.
 *
 * Every request runs on a pool thread (a2a/pool.c) through
 * libshared/httpc.c: one total timeout ([a2a] timeout_secs), an answer
 * capped at A2A_BODY_MAX, no redirects.  Every URL passes libshared's
 * SSRF rules (ssrf.h, notes/kernel.md 6.6) first: http or https, no
 * credentials, no loopback, private, link-local or metadata address
 * (every address a name resolves to is checked, and the transfer is
 * pinned to the checked one, so a second resolution cannot swap it);
 * [a2a] trusted_peers re-admits named hosts ("host" or "host:port"),
 * never a metadata address.
 *
 * A peer is talked to in the dialect its card announces: A2A v1.0
 * (supportedInterfaces with a JSONRPC 1.0 interface: SendMessage,
 * GetTask), v0.3 (a 0.3 interface, or a top-level url with a
 * protocolVersion: message/send, tasks/get), or the pre-0.2 dialect of
 * the reference system (a url and no protocolVersion: tasks/send,
 * tasks/get).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "a2a/a2a.h"
#include "httpc.h"
#include "log.h"
#include "ssrf.h"

static const char *const a2a_states[] = {
	"submitted", "working", "completed", "failed", "canceled",
	"input-required", "rejected", "auth-required", "unknown", NULL
};
static const char *
str_of(json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

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
 * The SSRF rules for url (libshared/ssrf.c), with [a2a] trusted_peers as
 * the allowlist.  0 with pin filled (a name is pinned to its checked
 * address), or -1 with why in err.
 */
static int
a2a_url_check(const struct sh_config *cfg, const char *url,
    struct a2a_pin *pin, char *err, size_t errlen)
{
	struct ssrf_target	 t;
	CURLU			*u = NULL;
	char			 why[512];
	int			 rv = -1;

	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(err, errlen, "invalid URL");
		goto done;
	}
	switch (ssrf_check(u, a2a_conf(cfg, "trusted_peers"),
	    "[a2a] trusted_peers", &t, why, sizeof(why))) {
	case 0:
		break;
	case SSRF_EURL:
		snprintf(err, errlen, "invalid URL: %s", why);
		goto done;
	default:
		snprintf(err, errlen, "%s", why);
		goto done;
	}
	if (t.st_resolve[0] != '\0' &&
	    (pin->p_resolve = curl_slist_append(NULL, t.st_resolve)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rv = 0;
 done:
	curl_url_cleanup(u);
	return (rv);
}

/*
 * GET (body NULL) or POST body (borrowed) to url.  The answer's JSON
 * (new) with its HTTP status in *status, or NULL with the reason in err
 * and *httperr the status to answer with (400 refused URL, 502 no or bad
 * answer, 504 none in time).
 */
json_t *
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

/* The dialect and JSON-RPC endpoint (borrowed from card) of a card. */
const char *
a2a_card_endpoint(json_t *card, enum a2a_dialect *d)
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
void
a2a_parts_text(json_t *parts, struct buf *b)
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
json_t *
a2a_remote_task(json_t *r)
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
		a2a_parts_text(json_object_get(r, "parts"), &b);
	} else {
		buf_release(&b);
		return (NULL);
	}
	json_array_foreach(json_object_get(r, "artifacts"), i, e)
		a2a_parts_text(json_object_get(e, "parts"), &b);
	if (b.b_len == 0 && json_is_object(st))
		a2a_parts_text(json_object_get(json_object_get(st, "message"),
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
				a2a_parts_text(json_object_get(e, "parts"), &b);
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
json_t *
a2a_rpc_call(const struct sh_config *cfg, const char *url,
    enum a2a_dialect d, const char *method, json_t *params, int *httperr,
    char *err, size_t errlen)
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
json_t *
a2a_send_params(enum a2a_dialect d, const char *text, const char *ctx)
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

const char *const a2a_send_methods[] = { "tasks/send", "message/send",
	"SendMessage" };
const char *const a2a_get_methods[] = { "tasks/get", "tasks/get",
	"GetTask" };
