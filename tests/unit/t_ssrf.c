/*
 * t_ssrf.c - unit tests for libshared/ssrf.c, the SSRF rules of every
 * outbound URL (web_fetch, A2A peers, MCP servers): each class of
 * address and host name, every IP spelling, the allowlist, and the whole
 * check on URLs.  No network: the names resolved are localhost and this
 * machine's own name (/etc/hosts).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ssrf.h"
#include "tap.h"

/* ---- the classifiers --------------------------------------------------- */

static int
t_ssrf_classifier(void)
{
	static const char *const blocked[] = {
		"127.0.0.1", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
		"169.254.169.254", "10.0.0.1", "100.64.0.1", "172.16.5.4",
		"172.31.255.255", "192.168.1.1", "224.0.0.1",
		"255.255.255.255", "2130706433", "0x7f000001", "0x7f.1",
		"0177.0.0.1", "127.1", "017700000001", "localhost",
		"LOCALHOST", "localhost.", "foo.localhost", "ip6-localhost",
		"metadata.google.internal", "[fd00:ec2::254]", "[fe80::1]",
		"[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[::]",
		"1.2.3.4.5", "0x7g", "192.0.0.192", "100.100.100.200",
		"[2002:7f00:1::]", "[fe80::1%25eth0]", "",
	};
	static const char *const allowed[] = {
		"8.8.8.8", "93.184.216.34", "[2606:4700::1111]",
		"example.com", "a-b.example.org", "172.32.0.1", "100.128.0.1",
	};
	size_t	i;
	int	is_ip;

	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (ssrf_host_blocked(blocked[i], &is_ip) == NULL)
			printf("# not blocked: %s\n", blocked[i]);
		T_OK(ssrf_host_blocked(blocked[i], &is_ip) != NULL);
	}
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (ssrf_host_blocked(allowed[i], &is_ip) != NULL)
			printf("# blocked: %s (%s)\n", allowed[i],
			    ssrf_host_blocked(allowed[i], &is_ip));
		T_OK(ssrf_host_blocked(allowed[i], &is_ip) == NULL);
	}
	T_OK(ssrf_host_blocked("2130706433", &is_ip) != NULL && is_ip);
	T_OK(ssrf_host_blocked("example.com", &is_ip) == NULL && !is_ip);
	return (0);
}

static int
t_ssrf_addresses(void)
{
	struct sockaddr_in	s4;
	struct sockaddr_in6	s6;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.169.254", &s4.sin_addr);
	T_OK(ssrf_addr_metadata((struct sockaddr *)&s4));
	T_OK(ssrf_addr_blocked((struct sockaddr *)&s4) != NULL);
	inet_pton(AF_INET, "1.1.1.1", &s4.sin_addr);
	T_OK(!ssrf_addr_metadata((struct sockaddr *)&s4));
	T_OK(ssrf_addr_blocked((struct sockaddr *)&s4) == NULL);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:169.254.169.254", &s6.sin6_addr);
	T_OK(ssrf_addr_metadata((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "fd00:ec2::254", &s6.sin6_addr);
	T_OK(ssrf_addr_metadata((struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr);
	T_OK(ssrf_addr_blocked((struct sockaddr *)&s6) != NULL);
	inet_pton(AF_INET6, "2606:4700::1111", &s6.sin6_addr);
	T_OK(ssrf_addr_blocked((struct sockaddr *)&s6) == NULL);
	return (0);
}

static int
t_ssrf_allowlist(void)
{
	json_t	*allow;

	allow = json_loads("[\"127.0.0.1:8080\",\"intranet.example\",7]", 0,
	    NULL);
	T_OK(allow != NULL);
	T_OK(ssrf_allowed(allow, "127.0.0.1", 8080));
	T_OK(!ssrf_allowed(allow, "127.0.0.1", 8081));
	T_OK(ssrf_allowed(allow, "intranet.example", 443));
	T_OK(ssrf_allowed(allow, "INTRANET.example", 80));
	T_OK(!ssrf_allowed(allow, "localhost", 8080));
	T_OK(!ssrf_allowed(NULL, "127.0.0.1", 8080));
	T_OK(!ssrf_allowed(allow, NULL, 8080));
	json_decref(allow);
	return (0);
}

/* ---- the check on a URL ---------------------------------------------- */

/* ssrf_check() on url with the allowlist allow_json (or NULL); its code,
 * with the refusal in err and the target in t. */
static int
check(const char *url, const char *allow_json, const char *allow_name,
    struct ssrf_target *t, char *err, size_t errlen)
{
	json_t	*allow = NULL;
	CURLU	*u;
	int	 rv;

	err[0] = '\0';
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return (99);
	}
	if (allow_json != NULL)
		allow = json_loads(allow_json, 0, NULL);
	rv = ssrf_check(u, allow, allow_name, t, err, errlen);
	json_decref(allow);
	curl_url_cleanup(u);
	return (rv);
}

/* Each rule refuses on its own, with a reason that names it. */
static int
t_ssrf_check_refusals(void)
{
	static const struct {
		const char	*url;
		const char	*want;
	} cases[] = {
		{ "file:///etc/passwd", "only http:// and https://" },
		{ "ftp://example.com/", "only http:// and https://" },
		{ "gopher://example.com/", "only http:// and https://" },
		{ "http://user:pw@example.com/", "credentials" },
		{ "http://user@example.com/", "credentials" },
		{ "http://127.0.0.1:8080/", "is a loopback address" },
		{ "http://2130706433/", "is a loopback address" },
		{ "http://0x7f.1/", "is a loopback address" },
		{ "http://[::1]/", "is a loopback address" },
		{ "http://[::ffff:127.0.0.1]/", "is a loopback address" },
		{ "http://0.0.0.0/", "unspecified address" },
		{ "http://10.1.2.3/", "is a private address" },
		{ "http://192.168.0.1/", "is a private address" },
		{ "http://[::ffff:10.1.2.3]/", "is a private address" },
		{ "http://100.64.0.1/", "shared (CGNAT) address" },
		{ "http://224.0.0.1/", "multicast address" },
		{ "http://[fe80::1]/", "link-local address" },
		{ "http://[fd00::1]/", "unique-local address" },
		{ "http://[2001:db8::1]/", "documentation address" },
		{ "http://169.254.169.254/latest/", "cloud metadata address" },
		{ "http://[fd00:ec2::254]/", "cloud metadata address" },
		{ "http://100.100.100.200/", "cloud metadata address" },
		{ "http://localhost:8080/", "is a local host name" },
		{ "http://foo.localhost/", "is a local host name" },
		{ "http://metadata.google.internal/", "is a local host name" },
		{ "http://db.internal/", "is a internal host name" },
		{ "http://1.2.3.4.5/", "unusual IP address spelling" },
	};
	struct ssrf_target	t;
	char			err[512];
	size_t			i;
	int			rv;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rv = check(cases[i].url, NULL, NULL, &t, err, sizeof(err));
		if (rv != SSRF_EREFUSED || strstr(err, cases[i].want) == NULL)
			printf("# %s: %d %s\n", cases[i].url, rv, err);
		T_EQ_INT(rv, SSRF_EREFUSED);
		T_OK(strncmp(err, "SSRF blocked: ", 14) == 0);
		T_OK(strstr(err, cases[i].want) != NULL);
	}
	return (0);
}

/* A public IP literal passes, pinned to itself with nothing to resolve;
 * the allowlist re-admits a host (by port or not), never a metadata
 * address, and a refusal names where the list is configured. */
static int
t_ssrf_check_allowlist(void)
{
	const struct sockaddr_in	*s4;
	struct ssrf_target		 t;
	char				 err[512];

	T_EQ_INT(check("https://93.184.216.34/x", NULL, NULL, &t, err,
	    sizeof(err)), 0);
	T_EQ_INT(t.st_addr.ss_family, AF_INET);
	s4 = (const struct sockaddr_in *)&t.st_addr;
	T_EQ_INT(ntohl(s4->sin_addr.s_addr), 0x5db8d822);
	T_EQ_STR(t.st_resolve, "");
	T_EQ_INT(check("http://[2606:4700::1111]/", NULL, NULL, &t, err,
	    sizeof(err)), 0);
	T_EQ_INT(t.st_addr.ss_family, AF_INET6);

	T_EQ_INT(check("http://127.0.0.1:8080/", "[\"127.0.0.1:8080\"]", NULL,
	    &t, err, sizeof(err)), 0);
	T_EQ_INT(t.st_addr.ss_family, AF_INET);
	T_EQ_INT(check("http://127.0.0.1:8081/", "[\"127.0.0.1:8080\"]",
	    "[x] hosts", &t, err, sizeof(err)), SSRF_EREFUSED);
	T_OK(strstr(err, "(add it to [x] hosts to allow it)") != NULL);
	T_EQ_INT(check("http://10.0.0.7/", "[\"10.0.0.7\"]", NULL, &t, err,
	    sizeof(err)), 0);
	T_EQ_INT(check("http://169.254.169.254/", "[\"169.254.169.254\"]",
	    NULL, &t, err, sizeof(err)), SSRF_EREFUSED);
	T_OK(strstr(err, "cloud metadata address") != NULL);
	return (0);
}

/* A name: resolved, every address checked, the first one pinned. */
static int
t_ssrf_check_names(void)
{
	struct ssrf_target	t;
	char			err[512], host[256], url[300];

	/* localhost is refused by name; admitted, it resolves to loopback,
	 * which the list then admits too, and the transfer is pinned. */
	T_EQ_INT(check("http://localhost:8080/", "[\"localhost\"]", NULL, &t,
	    err, sizeof(err)), 0);
	T_OK(strncmp(t.st_resolve, "localhost:8080:", 15) == 0);
	T_OK(t.st_addr.ss_family == AF_INET || t.st_addr.ss_family == AF_INET6);
	/* This machine's own name resolves to a loopback or private
	 * address (or to nothing): never fetched. */
	if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0' &&
	    strchr(host, '.') == NULL) {
		snprintf(url, sizeof(url), "http://%s/", host);
		T_OK(check(url, NULL, NULL, &t, err, sizeof(err)) != 0);
		printf("# %s: %s\n", url, err);
	}
	return (0);
}

static const struct tap_case cases[] = {
	{ "SSRF host classifier", t_ssrf_classifier },
	{ "SSRF address classifier", t_ssrf_addresses },
	{ "SSRF allowlist", t_ssrf_allowlist },
	{ "SSRF check: each rule refuses", t_ssrf_check_refusals },
	{ "SSRF check: literals and the allowlist", t_ssrf_check_allowlist },
	{ "SSRF check: names are resolved and pinned", t_ssrf_check_names },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
