/*
 * tool/web.c - web_fetch with SSRF protection (notes kernel 6.6).
 *
 * Each hop: the URL is parsed once by curl's own parser (and that same
 * parsed handle is what curl fetches, so no parser disagrees with the
 * check); http/https only, no userinfo; the host is classified (IP
 * literals in every spelling inet_aton() takes, names like localhost);
 * the name is resolved once and every address checked; the connection is
 * pinned to the checked address (CURLOPT_RESOLVE) and the socket callback
 * refuses to connect anywhere else.  Redirects are followed here, each
 * one checked again, at most TOOL_WEB_REDIRECTS.  [web_fetch] allow_hosts
 * in config.toml admits chosen "host:port" or "host" entries (tests use
 * it for a local server); cloud metadata addresses are never admitted.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
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
#include "tool/tool.h"
#include "util.h"

#define TOOL_WEB_REDIRECTS	5
#define TOOL_WEB_MAX_BYTES	(2 * 1024 * 1024)	/* downloaded */
#define TOOL_WEB_MAX_CHARS	50000			/* returned */
#define TOOL_WEB_TIMEOUT_MS	30000			/* all hops */
#define TOOL_WEB_URL_MAX	8192
#define TOOL_WEB_BODY_MAX	(1024 * 1024)

/* ---- address classification ------------------------------------------ */

static const char *
v4_blocked(uint32_t a)
{
	if ((a >> 24) == 0)
		return ("unspecified address (0.0.0.0/8)");
	if ((a >> 24) == 127)
		return ("loopback address");
	if ((a >> 24) == 10 || (a & 0xfff00000U) == 0xac100000U ||
	    (a & 0xffff0000U) == 0xc0a80000U)
		return ("private address");
	if ((a & 0xffff0000U) == 0xa9fe0000U)
		return ("link-local or metadata address");
	if ((a & 0xffc00000U) == 0x64400000U)
		return ("shared (CGNAT) address");
	if ((a & 0xffffff00U) == 0xc0000000U)
		return ("reserved address (192.0.0.0/24)");
	if ((a & 0xfffe0000U) == 0xc6120000U)
		return ("benchmarking address");
	if ((a >> 28) == 0xe)
		return ("multicast address");
	if ((a >> 28) == 0xf)
		return ("reserved or broadcast address");
	return (NULL);
}

static int
v4_metadata(uint32_t a)
{
	return (a == 0xa9fea9feU ||	/* 169.254.169.254 */
	    a == 0x646464c8U ||		/* 100.100.100.200 */
	    a == 0xc00000c0U);		/* 192.0.0.192 */
}

/* The IPv4 address embedded in a v6 one (mapped, compatible, NAT64,
 * 6to4), or 0 with *has cleared. */
static uint32_t
v6_embedded(const unsigned char *b, int *has)
{
	static const unsigned char	mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	static const unsigned char	zero[12] = { 0 };
	static const unsigned char	nat64[12] = {
		0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
	};

	*has = 1;
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    (memcmp(b, zero, 12) == 0 && (b[12] | b[13]) != 0))
		return ((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		    (uint32_t)b[14] << 8 | b[15]);
	if (b[0] == 0x20 && b[1] == 0x02)	/* 2002::/16 */
		return ((uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
		    (uint32_t)b[4] << 8 | b[5]);
	*has = 0;
	return (0);
}

static const char *
v6_blocked(const unsigned char *b)
{
	static const unsigned char	zero[16] = { 0 };
	uint32_t			v4;
	int				has;

	if (memcmp(b, zero, 15) == 0 && b[15] == 0)
		return ("unspecified address (::)");
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return ("loopback address");
	v4 = v6_embedded(b, &has);
	if (has)
		return (v4_blocked(v4));
	if ((b[0] & 0xfe) == 0xfc)
		return ("unique-local address (fc00::/7)");
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return ("link-local address (fe80::/10)");
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return ("site-local address (fec0::/10)");
	if (b[0] == 0xff)
		return ("multicast address");
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return ("documentation address");
	return (NULL);
}

const char *
tool_addr_blocked(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa == NULL)
		return ("no address");
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return (v4_blocked(ntohl(s4->sin_addr.s_addr)));
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return (v6_blocked(s6->sin6_addr.s6_addr));
	}
	return ("not an internet address");
}

int
tool_addr_metadata(const struct sockaddr *sa)
{
	static const unsigned char	 ec2[16] = {
		0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54
	};
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;
	uint32_t			 v4;
	int				 has;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return (v4_metadata(ntohl(s4->sin_addr.s_addr)));
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (memcmp(s6->sin6_addr.s6_addr, ec2, 16) == 0)
			return (1);
		v4 = v6_embedded(s6->sin6_addr.s6_addr, &has);
		return (has && (v4_metadata(v4) ||
		    (v4 & 0xffff0000U) == 0xa9fe0000U));
	}
	return (1);
}

/* Host names refused without asking DNS. */
static const char *const web_bad_names[] = {
	"localhost", "ip6-localhost", "ip6-loopback", "localhost6",
	"metadata.google.internal", "metadata.aws.internal", "metadata",
	"instance-data", "instance-data.ec2.internal", NULL
};

/* Fills ss from an IP literal host (brackets allowed); 1 if it is one. */
static int
web_literal(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	char			 h[256];
	size_t			 n = strlen(host);

	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(h))
			return (0);
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
		if (inet_pton(AF_INET6, h, &s6->sin6_addr) != 1)
			return (0);
		s6->sin6_family = AF_INET6;
		return (1);
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return (1);
	}
	/* inet_aton takes every BSD spelling: 2130706433, 0x7f.1, 0177.1. */
	if (inet_aton(host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return (1);
	}
	return (0);
}

const char *
tool_host_blocked(const char *host, int *is_ip)
{
	struct sockaddr_storage	 ss;
	char			 h[256], *p;
	const char		*last;
	size_t			 i, n;

	*is_ip = 0;
	if (host == NULL || *host == '\0')
		return ("empty host");
	if (web_literal(host, &ss)) {
		*is_ip = 1;
		if (tool_addr_metadata((struct sockaddr *)&ss))
			return ("cloud metadata address");
		return (tool_addr_blocked((struct sockaddr *)&ss));
	}
	n = strlen(host);
	if (n >= sizeof(h))
		return ("host name too long");
	for (i = 0; i <= n; i++)
		h[i] = (host[i] >= 'A' && host[i] <= 'Z') ?
		    (char)(host[i] - 'A' + 'a') : host[i];
	while (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	if (n == 0)
		return ("empty host");
	for (p = h; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_'))
			return ("invalid host name");
	for (i = 0; web_bad_names[i] != NULL; i++)
		if (strcmp(h, web_bad_names[i]) == 0)
			return ("local host name");
	if (n > 10 && strcmp(h + n - 10, ".localhost") == 0)
		return ("local host name");
	if (n > 9 && strcmp(h + n - 9, ".internal") == 0)
		return ("internal host name");
	/* A numeric last label that inet_aton refused (1.2.3.4.5, 0x1g):
	 * some resolver might still read it as an address. */
	last = strrchr(h, '.');
	last = last != NULL ? last + 1 : h;
	if (strspn(last, "0123456789") == strlen(last) ||
	    strncmp(last, "0x", 2) == 0)
		return ("unusual IP address spelling");
	return (NULL);
}

int
tool_host_allowed(const struct sh_config *cfg, const char *host, long port)
{
	json_t		*list, *e;
	const char	*s;
	char		 hp[320];
	size_t		 i;

	if (cfg == NULL || host == NULL)
		return (0);
	list = json_object_get(json_object_get(cfg->cf_doc, "web_fetch"),
	    "allow_hosts");
	snprintf(hp, sizeof(hp), "%s:%ld", host, port);
	json_array_foreach(list, i, e) {
		if ((s = json_string_value(e)) == NULL)
			continue;
		if (strcasecmp(s, host) == 0 || strcasecmp(s, hp) == 0)
			return (1);
	}
	return (0);
}

/* ---- one fetch -------------------------------------------------------- */

/* What one hop's checks leave for its transfer (httpc.h's hr_arg). */
struct web_hop {
	struct sockaddr_storage	 wh_pin;	/* the checked address */
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
	const struct sockaddr_in	*p4, *a4;
	const struct sockaddr_in6	*p6, *a6;
	int				 same = 0;

	(void)purpose;
	if (a->family == AF_INET && h->wh_pin.ss_family == AF_INET) {
		p4 = (const struct sockaddr_in *)&h->wh_pin;
		a4 = (const struct sockaddr_in *)(void *)&a->addr;
		same = p4->sin_addr.s_addr == a4->sin_addr.s_addr;
	} else if (a->family == AF_INET6 && h->wh_pin.ss_family == AF_INET6) {
		p6 = (const struct sockaddr_in6 *)&h->wh_pin;
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
 * Checks and pins one URL.  0 and fills h->wh_pin and the resolve entry,
 * or -1 with the refusal (soft) in r.
 */
static int
web_check(struct tool_ctx *tc, CURLU *u, struct web_hop *h, char *resolve,
    size_t rlen, struct tool_result *r)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	char			*scheme = NULL, *host = NULL, *user = NULL;
	char			*pw = NULL, *port = NULL, bare[256], ip[64];
	const char		*why;
	long			 portn;
	int			 is_ip, allowed, rv = -1;
	size_t			 n;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		tool_result_set(r, 1, 0, "SSRF blocked: only http:// and "
		    "https:// URLs may be fetched");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK) {
		tool_result_set(r, 1, 0, "SSRF blocked: URLs with credentials "
		    "(user@host) are refused");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		tool_result_set(r, 1, 0, "invalid parameter 'url': no host");
		goto done;
	}
	portn = strtol(port, NULL, 10);
	allowed = tool_host_allowed(tc->tc_cfg, host, portn);
	why = tool_host_blocked(host, &is_ip);
	if (why != NULL && (!allowed || strcmp(why, "cloud metadata "
	    "address") == 0)) {
		tool_result_set(r, 1, 0, "SSRF blocked: %s is a %s", host, why);
		goto done;
	}
	n = strlen(host);
	if (n >= sizeof(bare)) {
		tool_result_set(r, 1, 0, "SSRF blocked: host name too long");
		goto done;
	}
	if (n >= 2 && host[0] == '[') {
		memcpy(bare, host + 1, n - 2);
		bare[n - 2] = '\0';
	} else
		memcpy(bare, host, n + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (is_ip) {
		if (!web_literal(host, &h->wh_pin)) {
			tool_result_set(r, 1, 0, "SSRF blocked: bad address");
			goto done;
		}
	} else {
		if (getaddrinfo(bare, port, &hints, &res) != 0 || res == NULL) {
			tool_result_set(r, 1, 1, "could not resolve '%s'", bare);
			goto done;
		}
		/* Every address must pass, not just the one used. */
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			if (tool_addr_metadata(ai->ai_addr) ||
			    (!allowed && (why = tool_addr_blocked(
			    ai->ai_addr)) != NULL)) {
				tool_result_set(r, 1, 0, "SSRF blocked: %s "
				    "resolves to a %s", bare, why != NULL ?
				    why : "cloud metadata address");
				goto done;
			}
		}
		memcpy(&h->wh_pin, res->ai_addr, res->ai_addrlen);
	}
	if (h->wh_pin.ss_family == AF_INET6) {
		char	a6[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&h->wh_pin)->
		    sin6_addr, a6, sizeof(a6));
		snprintf(ip, sizeof(ip), "[%s]", a6);
	} else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&h->wh_pin)->
		    sin_addr, ip, sizeof(ip));
	snprintf(resolve, rlen, "%s:%ld:%s", bare, portn, ip);
	rv = 0;
 done:
	if (res != NULL)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pw);
	curl_free(port);
	return (rv);
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
	char			 resolve[512], *line = NULL;
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
	if (web_check(tc, h->wh_url, h, resolve, sizeof(resolve), r) != 0)
		goto done;
	if (now >= deadline) {
		tool_result_set(r, 1, 1, "web_fetch timed out");
		goto done;
	}
	if ((h->wh_resolve = curl_slist_append(NULL, resolve)) == NULL)
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
