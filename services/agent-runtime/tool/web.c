/*
 * tool/web.c - web_fetch with SSRF protection (notes kernel 6.6).
 *
 * Each hop: the URL is parsed once by curl's own parser (and that same
 * parsed handle is what curl fetches, so no parser disagrees with the
 * check) and passes libshared's SSRF rules (ssrf.h: http/https only, no
 * userinfo, no local or private host or address in any spelling, every
 * address of a name checked); the connection is pinned to the checked
 * address (CURLOPT_RESOLVE) and the socket callback refuses to connect
 * anywhere else.  Redirects are followed here, each
 * one checked again, at most TOOL_WEB_REDIRECTS.  [web_fetch] allow_hosts
 * in config.toml admits chosen "host:port" or "host" entries (tests use
 * it for a local server); cloud metadata addresses are never admitted.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "httpc.h"
#include "ssrf.h"
#include "tool/tool.h"
#include "util.h"

#define TOOL_WEB_REDIRECTS	5
#define TOOL_WEB_MAX_BYTES	(2 * 1024 * 1024)	/* downloaded */
#define TOOL_WEB_MAX_CHARS	50000			/* returned */
#define TOOL_WEB_TIMEOUT_MS	30000			/* all hops */
#define TOOL_WEB_URL_MAX	8192
#define TOOL_WEB_BODY_MAX	(1024 * 1024)

/* ---- one fetch -------------------------------------------------------- */

/* What one hop's checks leave for its transfer (httpc.h's hr_arg). */
struct web_hop {
	struct ssrf_target	 wh_target;	/* the checked address */
	CURLU			*wh_url;	/* the parsed, checked URL */
	struct curl_slist	*wh_resolve;	/* host:port:pinned address */
	const atomic_int	*wh_interrupted;
	int			 wh_refused;	/* the socket callback said no */
};

static int
web_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct web_hop	*h = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return (h->wh_interrupted != NULL && *h->wh_interrupted);
}

/* Connects only to the pinned address. */
static curl_socket_t
web_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct web_hop			*h = arg;
	const struct sockaddr_storage	*pin = &h->wh_target.st_addr;
	const struct sockaddr_in	*p4, *a4;
	const struct sockaddr_in6	*p6, *a6;
	int				 same = 0;

	(void)purpose;
	if (a->family == AF_INET && pin->ss_family == AF_INET) {
		p4 = (const struct sockaddr_in *)pin;
		a4 = (const struct sockaddr_in *)(void *)&a->addr;
		same = p4->sin_addr.s_addr == a4->sin_addr.s_addr;
	} else if (a->family == AF_INET6 && pin->ss_family == AF_INET6) {
		p6 = (const struct sockaddr_in6 *)pin;
		a6 = (const struct sockaddr_in6 *)(void *)&a->addr;
		same = memcmp(&p6->sin6_addr, &a6->sin6_addr, 16) == 0;
	}
	if (!same) {
		h->wh_refused = 1;
		return (CURL_SOCKET_BAD);
	}
	return (socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
}

/* HTML -> crude text: tags out, script/style out, a few entities,
 * whitespace collapsed, block tags become line breaks. */
static int
web_html_text(const char *s, size_t len, struct buf *out)
{
	static const char *const	blocks[] = {
		"p", "/p", "br", "br/", "div", "/div", "li", "tr", "/tr", "h1",
		"h2", "h3", "h4", "h5", "h6", "/h1", "/h2", "/h3", "/h4", "/h5",
		"/h6", "ul", "/ul", "ol", "/ol", "table", "/table", "title",
		"/title", "pre", "/pre", "blockquote", "hr", NULL
	};
	static const struct {
		const char	*e;
		const char	*t;
	} ents[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" },
		{ "&quot;", "\"" }, { "&#39;", "'" }, { "&apos;", "'" },
		{ "&nbsp;", " " }, { NULL, NULL }
	};
	size_t	i = 0, j, k, nl = 2;
	int	space = 0;
	char	tag[16];

	while (i < len) {
		if (s[i] == '<') {
			if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				const char	*e = memmem(s + i, len - i,
				    "-->", 3);
				i = e ? (size_t)(e - s) + 3 : len;
				continue;
			}
			for (j = i + 1, k = 0; j < len && k < sizeof(tag) - 1 &&
			    s[j] != '>' && s[j] != ' ' && s[j] != '\t' &&
			    s[j] != '\n'; j++)
				tag[k++] = (char)((s[j] >= 'A' && s[j] <= 'Z') ?
				    s[j] - 'A' + 'a' : s[j]);
			tag[k] = '\0';
			if (strcmp(tag, "script") == 0 ||
			    strcmp(tag, "style") == 0) {
				char	 end[16];
				size_t	 m;

				m = (size_t)snprintf(end, sizeof(end), "</%s",
				    tag);
				for (j = i + 1; j + m <= len; j++)
					if (strncasecmp(s + j, end, m) == 0)
						break;
				i = j;
			}
			while (i < len && s[i] != '>')
				i++;
			i++;
			for (k = 0; blocks[k] != NULL; k++)
				if (strcmp(tag, blocks[k]) == 0)
					break;
			if (blocks[k] != NULL && nl < 2) {
				if (buf_add(out, "\n", 1) != 0)
					return (-1);
				nl++;
				space = 0;
			} else if (blocks[k] == NULL)
				space = 1;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
		    s[i] == '\r') {
			space = 1;
			i++;
			continue;
		}
		if (space && nl == 0 && buf_add(out, " ", 1) != 0)
			return (-1);
		space = 0;
		nl = 0;
		if (s[i] == '&') {
			for (k = 0; ents[k].e != NULL; k++)
				if (strncasecmp(s + i, ents[k].e,
				    strlen(ents[k].e)) == 0)
					break;
			if (ents[k].e != NULL) {
				if (buf_adds(out, ents[k].t) != 0)
					return (-1);
				i += strlen(ents[k].e);
				continue;
			}
		}
		if (buf_add(out, s + i, 1) != 0)
			return (-1);
		i++;
	}
	return (0);
}

struct web_req {
	char		*wr_url;
	const char	*wr_method;
	const char	*wr_body;
	size_t		 wr_bodylen;
	json_t		*wr_headers;
};

/*
 * The SSRF rules for one hop (libshared/ssrf.c), with [web_fetch]
 * allow_hosts as the allowlist.  0 with h->wh_target filled, or -1 with
 * the refusal in r (soft; a name that does not resolve is hard).
 */
static int
web_check(struct tool_ctx *tc, struct web_hop *h, struct tool_result *r)
{
	const json_t	*allow = NULL;
	char		 err[512];

	if (tc->tc_cfg != NULL)
		allow = json_object_get(json_object_get(tc->tc_cfg->cf_doc,
		    "web_fetch"), "allow_hosts");
	switch (ssrf_check(h->wh_url, allow, NULL, &h->wh_target, err,
	    sizeof(err))) {
	case 0:
		return (0);
	case SSRF_EURL:
		tool_result_set(r, 1, 0, "invalid parameter 'url': %s", err);
		break;
	case SSRF_ERESOLVE:
		tool_result_set(r, 1, 1, "%s", err);
		break;
	default:
		tool_result_set(r, 1, 0, "%s", err);
		break;
	}
	return (-1);
}

/* The pinning and the checks on the handle (httpc.h's hr_setup). */
static int
web_setup(CURL *c, void *arg)
{
	struct web_hop	*h = arg;

	if (curl_easy_setopt(c, CURLOPT_CURLU, h->wh_url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_RESOLVE, h->wh_resolve) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, web_opensocket) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, web_progress) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)TOOL_WEB_MAX_BYTES * 4) != CURLE_OK)
		return (-1);
	return (0);
}

/*
 * Runs one hop.  Returns 0 with rs filled (its hs_location set for a
 * redirect), or -1 with r filled, or SH_ENOMEM.
 */
static int
web_hop(struct tool_ctx *tc, struct web_req *wr, struct web_hop *h,
    uint64_t deadline, struct httpc_resp *rs, struct tool_result *r)
{
	struct httpc_req	 hr;
	struct curl_slist	*hdrs = NULL, *l;
	char			*line = NULL;
	const char		*k;
	json_t			*v;
	uint64_t		 now = util_now_ms();
	int			 rv = -1;

	memset(rs, 0, sizeof(*rs));
	if ((h->wh_url = curl_url()) == NULL)
		return (SH_ENOMEM);
	if (curl_url_set(h->wh_url, CURLUPART_URL, wr->wr_url, 0) !=
	    CURLUE_OK) {
		tool_result_set(r, 1, 0, "invalid parameter 'url': not a "
		    "valid URL");
		goto done;
	}
	if (web_check(tc, h, r) != 0)
		goto done;
	if (now >= deadline) {
		tool_result_set(r, 1, 1, "web_fetch timed out");
		goto done;
	}
	if (h->wh_target.st_resolve[0] != '\0' && (h->wh_resolve =
	    curl_slist_append(NULL, h->wh_target.st_resolve)) == NULL)
		goto nomem;
	json_object_foreach(wr->wr_headers, k, v) {
		if (asprintf(&line, "%s: %s", k, json_string_value(v)) < 0)
			goto nomem;
		if ((l = curl_slist_append(hdrs, line)) == NULL)
			goto nomem;
		hdrs = l;
		free(line);
		line = NULL;
	}
	memset(&hr, 0, sizeof(hr));
	hr.hr_method = strcmp(wr->wr_method, "GET") != 0 ? wr->wr_method :
	    NULL;
	hr.hr_headers = hdrs;
	hr.hr_body = wr->wr_body;
	hr.hr_bodylen = wr->wr_bodylen;
	hr.hr_timeout_ms = (long)(deadline - now);
	hr.hr_connect_ms = 10000;
	hr.hr_max = TOOL_WEB_MAX_BYTES;
	hr.hr_truncate = 1;
	hr.hr_agent = "LibreFang-web_fetch/1";
	hr.hr_setup = web_setup;
	hr.hr_arg = h;
	if (httpc_do(&hr, rs) != 0) {
		if (rs->hs_curlcode == CURLE_OUT_OF_MEMORY)
			goto nomem;
		if (h->wh_refused)
			tool_result_set(r, 1, 0, "SSRF blocked: the connection "
			    "went to an address that was not checked");
		else if (rs->hs_curlcode == CURLE_ABORTED_BY_CALLBACK)
			tool_result_set(r, 1, 1, "interrupted");
		else
			tool_result_set(r, 1, 1, "web_fetch failed: %s",
			    rs->hs_err);
		goto done;
	}
	rv = 0;
	goto done;
 nomem:
	rv = SH_ENOMEM;
 done:
	free(line);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(h->wh_resolve);
	h->wh_resolve = NULL;
	curl_url_cleanup(h->wh_url);
	h->wh_url = NULL;
	return (rv);
}

int
tool_web_fetch(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	static const char *const	 methods[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE", NULL
	};
	struct web_req			 wr;
	struct web_hop			 h;
	struct httpc_resp		 rs;
	struct buf			 out = BUF_INIT(TOOL_WEB_MAX_BYTES * 2);
	const char			*url, *k, *text, *ctype;
	size_t				 ulen, i, tlen;
	json_t				*v;
	uint64_t			 deadline;
	long				 code;
	int				 hop, rv, isnote;

	memset(&wr, 0, sizeof(wr));
	if (tool_arg_str(in, "url", 1, &url, &ulen, r) != 0 ||
	    tool_arg_str(in, "method", 0, &wr.wr_method, NULL, r) != 0 ||
	    tool_arg_str(in, "body", 0, &wr.wr_body, &wr.wr_bodylen, r) != 0)
		return (0);
	if (ulen == 0 || ulen > TOOL_WEB_URL_MAX || strlen(url) != ulen)
		return (tool_result_set(r, 1, 0, "invalid parameter 'url'"));
	if (wr.wr_bodylen > TOOL_WEB_BODY_MAX)
		return (tool_result_set(r, 1, 0, "invalid parameter 'body': "
		    "too large"));
	if (wr.wr_method == NULL)
		wr.wr_method = "GET";
	for (i = 0; methods[i] != NULL; i++)
		if (strcmp(methods[i], wr.wr_method) == 0)
			break;
	if (methods[i] == NULL)
		return (tool_result_set(r, 1, 0, "invalid parameter 'method': "
		    "use GET, POST, PUT, PATCH or DELETE"));
	wr.wr_headers = json_object_get(in, "headers");
	if (wr.wr_headers != NULL && !json_is_null(wr.wr_headers)) {
		if (!json_is_object(wr.wr_headers) ||
		    json_object_size(wr.wr_headers) > 32)
			return (tool_result_set(r, 1, 0, "invalid parameter "
			    "'headers': an object of at most 32 strings"));
		json_object_foreach(wr.wr_headers, k, v) {
			if (!json_is_string(v) || *k == '\0' ||
			    strpbrk(k, ":\r\n \t") != NULL ||
			    strpbrk(json_string_value(v), "\r\n") != NULL ||
			    strlen(json_string_value(v)) !=
			    json_string_length(v))
				return (tool_result_set(r, 1, 0, "invalid "
				    "parameter 'headers': bad header '%s'", k));
		}
	} else
		wr.wr_headers = NULL;
	if ((wr.wr_url = strdup(url)) == NULL)
		return (SH_ENOMEM);
	deadline = util_now_ms() + TOOL_WEB_TIMEOUT_MS;
	memset(&rs, 0, sizeof(rs));
	for (hop = 0; ; hop++) {
		httpc_resp_release(&rs);
		memset(&h, 0, sizeof(h));
		h.wh_interrupted = tc->tc_interrupted;
		rv = web_hop(tc, &wr, &h, deadline, &rs, r);
		if (rv != 0) {
			if (rv == -1 && r->tr_content == NULL)
				rv = SH_ENOMEM;
			else if (rv == -1)
				rv = 0;
			goto done;
		}
		if (rs.hs_location == NULL)
			break;
		if (hop + 1 > TOOL_WEB_REDIRECTS) {
			rv = tool_result_set(r, 1, 1, "web_fetch: more than %d "
			    "redirects", TOOL_WEB_REDIRECTS);
			goto done;
		}
		/* A redirect is a new GET without our body and headers. */
		free(wr.wr_url);
		wr.wr_url = rs.hs_location;
		rs.hs_location = NULL;
		wr.wr_method = "GET";
		wr.wr_body = NULL;
		wr.wr_bodylen = 0;
		wr.wr_headers = NULL;
	}
	code = rs.hs_status;
	ctype = rs.hs_ctype;
	if (code >= 400 && buf_addf(&out, "HTTP %ld\n", code) != 0)
		goto nomem;
	if (ctype != NULL && strcasestr(ctype, "html") != NULL) {
		if (rs.hs_body.b_len > 0 && web_html_text(rs.hs_body.b_data,
		    rs.hs_body.b_len, &out) != 0)
			goto nomem;
	} else if (rs.hs_body.b_len > 0 &&
	    buf_add(&out, rs.hs_body.b_data, rs.hs_body.b_len) != 0)
		goto nomem;
	text = out.b_data != NULL ? out.b_data : "";
	tlen = out.b_len;
	isnote = 0;
	if (tlen > TOOL_WEB_MAX_CHARS) {
		tlen = TOOL_WEB_MAX_CHARS;
		isnote = 1;
	}
	if (isnote || rs.hs_truncated) {
		char	*t;

		if (asprintf(&t, "%.*s\n[truncated: the response was longer "
		    "than %d characters]", (int)tlen, text, isnote ?
		    TOOL_WEB_MAX_CHARS : TOOL_WEB_MAX_BYTES) < 0)
			goto nomem;
		rv = tool_result_take(r, code >= 400, 0, t, strlen(t));
		free(t);
	} else
		rv = tool_result_take(r, code >= 400, 0, text, tlen);
	goto done;
 nomem:
	rv = SH_ENOMEM;
 done:
	httpc_resp_release(&rs);
	buf_release(&out);
	free(wr.wr_url);
	return (rv);
}
