/*
 * mcp/http.c - the Streamable HTTP transport under struct mcp_conn
 * (notes/protocols.md 3.3 and 3.4, client side).
 *
 * Each message is one POST (libshared/httpc.c: no redirects, http and
 * https only, a total timeout from the caller's deadline and a size cap)
 * with both Accept types; the answer is either one JSON message (or an
 * array of them) or an SSE stream whose events carry one message each
 * (several data lines joined with "\n"; comments, id, event and retry
 * lines and empty-data priming events are skipped).  The Mcp-Session-Id a
 * server gives is sent back, and MCP-Protocol-Version after initialize;
 * a 404 with a session means the server forgot it, which is a transport
 * failure: the supervisor reconnects, and initializes again.  Closing
 * sends DELETE with the session (best effort).
 *
 * Servers are configured by an operator, so loopback and private
 * addresses are allowed (that is where local MCP servers listen); cloud
 * metadata addresses and internal host names are not.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "httpc.h"
#include "log.h"
#include "mcp/mcp.h"
#include "ssrf.h"
#include "util.h"

#define HTTP_CONNECT_MS		5000
#define HTTP_SESSION_MAX	256

struct mcp_http {
	char			*mh_url;
	struct curl_slist	*mh_base;	/* Content-Type, Accept, the
						   spec's headers */
	char			 mh_session[HTTP_SESSION_MAX];
	char			 mh_version[32];
};

/* The Mcp-Session-Id of an answer (header callback). */
static size_t
http_header(char *data, size_t size, size_t n, void *arg)
{
	struct mcp_http	*mh = arg;
	size_t		 len = size * n, k = sizeof("mcp-session-id:") - 1;
	size_t		 i, j;

	if (len > k && strncasecmp(data, "mcp-session-id:", k) == 0) {
		for (i = k; i < len && (data[i] == ' ' || data[i] == '\t');
		    i++)
			;
		for (j = 0; i < len && j + 1 < sizeof(mh->mh_session) &&
		    data[i] > ' ' && data[i] < 0x7f; i++, j++)
			mh->mh_session[j] = data[i];
		mh->mh_session[j] = '\0';
	}
	return (len);
}

static int
http_setup(CURL *h, void *arg)
{
	if (curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header) !=
	    CURLE_OK || curl_easy_setopt(h, CURLOPT_HEADERDATA, arg) !=
	    CURLE_OK)
		return (-1);
	return (0);
}

int
mcp_http_open(void **hp, json_t *spec, char *err, size_t errlen)
{
	json_t		*tr = json_object_get(spec, "transport"), *v;
	struct mcp_http	*mh;
	const char	*url, *k, *why;
	char		*host = NULL, *line;
	CURLU		*u;
	int		 is_ip;

	*hp = NULL;
	url = json_string_value(json_object_get(tr, "url"));
	if (url == NULL || (u = curl_url()) == NULL) {
		snprintf(err, errlen, "no url");
		return (-1);
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		snprintf(err, errlen, "invalid url");
		return (-1);
	}
	why = ssrf_host_blocked(host, &is_ip);
	if (why != NULL && (strcmp(why, SSRF_WHY_METADATA) == 0 ||
	    strcmp(why, SSRF_WHY_INTERNAL) == 0)) {
		snprintf(err, errlen, "refused url: %s", why);
		curl_free(host);
		curl_url_cleanup(u);
		return (-1);
	}
	curl_free(host);
	curl_url_cleanup(u);
	if ((mh = calloc(1, sizeof(*mh))) == NULL ||
	    (mh->mh_url = strdup(url)) == NULL)
		goto nomem;
	if ((mh->mh_base = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL ||
	    curl_slist_append(mh->mh_base,
	    "Accept: application/json, text/event-stream") == NULL)
		goto nomem;
	json_object_foreach(json_object_get(tr, "headers"), k, v) {
		if (asprintf(&line, "%s: %s", k, json_string_value(v) ?: "") <
		    0)
			goto nomem;
		if (curl_slist_append(mh->mh_base, line) == NULL) {
			free(line);
			goto nomem;
		}
		explicit_bzero(line, strlen(line));
		free(line);
	}
	*hp = mh;
	return (0);
 nomem:
	mcp_http_close(mh);
	snprintf(err, errlen, "out of memory");
	return (-1);
}

void
mcp_http_set_version(void *h, const char *v)
{
	struct mcp_http	*mh = h;

	snprintf(mh->mh_version, sizeof(mh->mh_version), "%s", v);
}

/* Appends the JSON-RPC message(s) of text to answers. */
static void
http_take(json_t *answers, const char *text, size_t len)
{
	json_t	*m, *e;
	size_t	 i;

	if ((m = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL)
		return;
	if (json_is_array(m)) {
		json_array_foreach(m, i, e)
			json_array_append(answers, e);
	} else
		json_array_append(answers, m);
	json_decref(m);
}

/* The messages of an SSE body (each event's data lines joined). */
static void
http_sse(json_t *answers, const char *s, size_t len)
{
	struct buf	 data;
	const char	*end = s + len, *nl, *v;
	size_t		 n;

	buf_init(&data, MCP_LINE_MAX);
	while (s <= end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		n = (nl ? nl : end) - s;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0) {
			/* A blank line ends the event. */
			if (data.b_len > 0)
				http_take(answers, data.b_data, data.b_len);
			buf_reset(&data);
		} else if (n >= 5 && strncmp(s, "data:", 5) == 0) {
			v = s + 5;
			if (v < s + n && *v == ' ')
				v++;
			if (data.b_len > 0)
				(void)buf_add(&data, "\n", 1);
			(void)buf_add(&data, v, (size_t)(s + n - v));
		}
		/* event:, id:, retry: and ": comments" are skipped. */
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	if (data.b_len > 0)
		http_take(answers, data.b_data, data.b_len);
	buf_release(&data);
}

/* One request; the caller owns rs.  0 when an answer came. */
static int
http_do(struct mcp_http *mh, const char *method, const char *body,
    long timeout_ms, struct httpc_resp *rs)
{
	struct httpc_req	 rq;
	struct curl_slist	*hdrs = NULL, *p;
	char			 line[HTTP_SESSION_MAX + 64];
	int			 rv = -1;

	for (p = mh->mh_base; p != NULL; p = p->next)
		if ((hdrs = curl_slist_append(hdrs, p->data)) == NULL)
			goto done;
	if (mh->mh_session[0] != '\0') {
		snprintf(line, sizeof(line), "Mcp-Session-Id: %s",
		    mh->mh_session);
		if ((hdrs = curl_slist_append(hdrs, line)) == NULL)
			goto done;
	}
	if (mh->mh_version[0] != '\0') {
		snprintf(line, sizeof(line), "MCP-Protocol-Version: %s",
		    mh->mh_version);
		if ((hdrs = curl_slist_append(hdrs, line)) == NULL)
			goto done;
	}
	memset(&rq, 0, sizeof(rq));
	rq.hr_url = mh->mh_url;
	rq.hr_method = method;
	rq.hr_headers = hdrs;
	rq.hr_body = body;
	rq.hr_bodylen = body ? strlen(body) : 0;
	rq.hr_timeout_ms = timeout_ms;
	rq.hr_connect_ms = timeout_ms < HTTP_CONNECT_MS ? timeout_ms :
	    HTTP_CONNECT_MS;
	rq.hr_max = MCP_LINE_MAX;
	rq.hr_setup = http_setup;
	rq.hr_arg = mh;
	rv = httpc_do(&rq, rs);
 done:
	curl_slist_free_all(hdrs);
	if (rv != 0 && rs->hs_err[0] == '\0')
		snprintf(rs->hs_err, sizeof(rs->hs_err), "out of memory");
	return (rv);
}

int
mcp_http_send(void *h, json_t *msg, int64_t deadline_ms, json_t **answersp,
    char *err, size_t errlen)
{
	struct mcp_http		*mh = h;
	struct httpc_resp	 rs;
	json_t			*answers = NULL;
	char			*body;
	int64_t			 left = deadline_ms - (int64_t)util_now_ms();
	int			 had_session = mh->mh_session[0] != '\0';
	int			 ret = -1;

	*answersp = NULL;
	memset(&rs, 0, sizeof(rs));
	if (left <= 0) {
		snprintf(err, errlen, "timed out");
		return (-1);
	}
	if ((body = json_dumps(msg, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if (http_do(mh, "POST", body, (long)left, &rs) != 0) {
		snprintf(err, errlen, "%s", rs.hs_curlcode ==
		    CURLE_OPERATION_TIMEDOUT ? "timed out" : rs.hs_err);
		goto done;
	}
	if (rs.hs_status == 404 && had_session) {
		snprintf(err, errlen, "the server ended the session");
		goto done;
	}
	if (rs.hs_status < 200 || rs.hs_status > 299) {
		snprintf(err, errlen, "HTTP %ld from the server", rs.hs_status);
		/* A JSON-RPC error in the body is still an answer. */
		if ((answers = json_array()) != NULL && rs.hs_body.b_len > 0 &&
		    rs.hs_ctype != NULL && strncasecmp(rs.hs_ctype,
		    "application/json", 16) == 0)
			http_take(answers, rs.hs_body.b_data,
			    rs.hs_body.b_len);
		if (json_array_size(answers) == 0)
			goto done;
		*answersp = answers;
		answers = NULL;
		ret = 0;
		goto done;
	}
	if ((answers = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (rs.hs_body.b_len > 0 && rs.hs_ctype != NULL &&
	    strncasecmp(rs.hs_ctype, "text/event-stream", 17) == 0)
		http_sse(answers, rs.hs_body.b_data, rs.hs_body.b_len);
	else if (rs.hs_body.b_len > 0)
		http_take(answers, rs.hs_body.b_data, rs.hs_body.b_len);
	*answersp = answers;
	answers = NULL;
	ret = 0;
 done:
	json_decref(answers);
	httpc_resp_release(&rs);
	free(body);
	return (ret);
}

void
mcp_http_close(void *h)
{
	struct mcp_http		*mh = h;
	struct httpc_resp	 rs;

	if (mh == NULL)
		return;
	/* Ends the session on the server, briefly (best effort). */
	if (mh->mh_session[0] != '\0' && mh->mh_url != NULL) {
		memset(&rs, 0, sizeof(rs));
		(void)http_do(mh, "DELETE", NULL, 1000, &rs);
		httpc_resp_release(&rs);
	}
	curl_slist_free_all(mh->mh_base);
	free(mh->mh_url);
	free(mh);
}
