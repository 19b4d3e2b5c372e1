/*
 * ssrf_url.c - the SSRF check of a URL (ssrf.h): resolves its host and
 * checks every address with the classifiers of ssrf.c.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ssrf.h"

/* ---- a URL -------------------------------------------------------------- */

/* Resolves the name host and checks every address it gives; on success
 * t holds the first one and its CURLOPT_RESOLVE entry. */
static int
ssrf_resolve(const char *host, const char *port, long portn, int allowed,
    struct ssrf_target *t, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 a[INET6_ADDRSTRLEN], ip[INET6_ADDRSTRLEN + 2];
	const char	*why;
	int		 n, rv = SSRF_EREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
		snprintf(err, errlen, "could not resolve '%.200s'", host);
		rv = SSRF_ERESOLVE;
		goto done;
	}
	/* Every address must pass, not only the one used: a resolver
	 * asked again might hand out another. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ssrf_addr_metadata(ai->ai_addr))
			why = SSRF_WHY_METADATA;
		else
			why = allowed ? NULL : ssrf_addr_blocked(ai->ai_addr);
		if (why != NULL) {
			snprintf(err, errlen, "SSRF blocked: %.200s resolves "
			    "to a %s", host, why);
			goto done;
		}
	}
	if (res->ai_addrlen > sizeof(t->st_addr)) {
		snprintf(err, errlen, "SSRF blocked: %.200s resolves to an "
		    "address of an unknown kind", host);
		goto done;
	}
	memcpy(&t->st_addr, res->ai_addr, res->ai_addrlen);
	if (res->ai_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)
		    res->ai_addr)->sin6_addr, a, sizeof(a));
		snprintf(ip, sizeof(ip), "[%s]", a);
	} else
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)
		    res->ai_addr)->sin_addr, ip, sizeof(ip));
	n = snprintf(t->st_resolve, sizeof(t->st_resolve), "%s:%ld:%s", host,
	    portn, ip);
	if (n < 0 || (size_t)n >= sizeof(t->st_resolve)) {
		t->st_resolve[0] = '\0';
		snprintf(err, errlen, "SSRF blocked: host name too long");
		goto done;
	}
	rv = 0;
 done:
	if (res != NULL)
		freeaddrinfo(res);
	return (rv);
}

int
ssrf_check(CURLU *u, const json_t *allow, const char *allow_name,
    struct ssrf_target *t, char *err, size_t errlen)
{
	char		*scheme = NULL, *host = NULL, *user = NULL, *pw = NULL;
	char		*port = NULL;
	const char	*why;
	long		 portn;
	int		 is_ip, allowed, rv = SSRF_EREFUSED;

	memset(t, 0, sizeof(*t));
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
	    CURLUE_OK) {
		snprintf(err, errlen, "no host");
		rv = SSRF_EURL;
		goto done;
	}
	portn = strtol(port, NULL, 10);
	allowed = ssrf_allowed(allow, host, portn);
	why = ssrf_host_blocked(host, &is_ip);
	if (why != NULL && (!allowed || strcmp(why, SSRF_WHY_METADATA) == 0)) {
		snprintf(err, errlen, "SSRF blocked: %.200s is a %s%s%s%s", host,
		    why, allow_name != NULL ? " (add it to " : "",
		    allow_name != NULL ? allow_name : "",
		    allow_name != NULL ? " to allow it)" : "");
		goto done;
	}
	if (is_ip) {
		/* Nothing to resolve: the literal is the address. */
		if (!ssrf_literal(host, &t->st_addr)) {
			snprintf(err, errlen, "SSRF blocked: bad address");
			goto done;
		}
		rv = 0;
		goto done;
	}
	rv = ssrf_resolve(host, port, portn, allowed, t, err, errlen);
 done:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pw);
	curl_free(port);
	return (rv);
}
