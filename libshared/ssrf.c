/*
 * ssrf.c - the SSRF rules for outbound URLs (ssrf.h): the address and
 * host classifiers and the allowlist.  The check of a URL, which needs
 * libcurl, is in ssrf_url.c, so a program that classifies addresses only
 * (a channel adapter) does not load libcurl.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ssrf.h"

/* ---- addresses --------------------------------------------------------- */

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
ssrf_addr_blocked(const struct sockaddr *sa)
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
ssrf_addr_metadata(const struct sockaddr *sa)
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

/* ---- hosts ------------------------------------------------------------- */

/* Host names refused without asking DNS. */
static const char *const ssrf_bad_names[] = {
	"localhost", "ip6-localhost", "ip6-loopback", "localhost6",
	"metadata.google.internal", "metadata.aws.internal", "metadata",
	"instance-data", "instance-data.ec2.internal", NULL
};

/* Fills ss from an IP literal host (brackets allowed); 1 if it is one. */
int
ssrf_literal(const char *host, struct sockaddr_storage *ss)
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
ssrf_host_blocked(const char *host, int *is_ip)
{
	struct sockaddr_storage	 ss;
	char			 h[256], *p;
	const char		*last;
	size_t			 i, n;

	*is_ip = 0;
	if (host == NULL || *host == '\0')
		return ("empty host");
	if (ssrf_literal(host, &ss)) {
		*is_ip = 1;
		if (ssrf_addr_metadata((struct sockaddr *)&ss))
			return (SSRF_WHY_METADATA);
		return (ssrf_addr_blocked((struct sockaddr *)&ss));
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
	for (i = 0; ssrf_bad_names[i] != NULL; i++)
		if (strcmp(h, ssrf_bad_names[i]) == 0)
			return ("local host name");
	if (n > 10 && strcmp(h + n - 10, ".localhost") == 0)
		return ("local host name");
	if (n > 9 && strcmp(h + n - 9, ".internal") == 0)
		return (SSRF_WHY_INTERNAL);
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
ssrf_allowed(const json_t *allow, const char *host, long port)
{
	json_t		*e;
	const char	*s;
	char		 hp[320];
	size_t		 i;

	if (host == NULL || !json_is_array(allow))
		return (0);
	snprintf(hp, sizeof(hp), "%s:%ld", host, port);
	json_array_foreach(allow, i, e) {
		if ((s = json_string_value(e)) == NULL)
			continue;
		if (strcasecmp(s, host) == 0 || strcasecmp(s, hp) == 0)
			return (1);
	}
	return (0);
}
