/*
 * ssrf.h - the rules for a URL this process fetches on someone else's
 * word (notes/kernel.md 6.6): an agent's web_fetch, an A2A peer's card,
 * an MCP server's URL.  One classifier and one check, so every outbound
 * path refuses the same addresses.
 *
 * A URL passes when it is http or https, carries no user or password,
 * and its host is neither a non-public address (unspecified, loopback,
 * private, link-local, CGNAT, multicast, reserved, unique-local,
 * site-local, documentation; an IPv4 address inside an IPv6 one counts
 * as that IPv4 address) nor a local or internal name.  An IP literal is
 * read in every spelling inet_aton() takes (2130706433, 0x7f.1,
 * 0177.0.0.1), so no spelling slips past.  A name is resolved once and
 * every address it gives must pass, not only the one used; the caller
 * then pins the transfer to the checked address (CURLOPT_RESOLVE), so a
 * second resolution cannot swap it.
 *
 * An allowlist (a JSON array of "host" or "host:port" strings, from the
 * caller's configuration) re-admits chosen hosts; cloud metadata
 * addresses are never admitted, whatever the list says.
 *
 * No state: every function is thread-safe.
 */
#ifndef SH_SSRF_H
#define SH_SSRF_H

#include <sys/socket.h>

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#define SSRF_RESOLVE_MAX	384	/* "host:port:[address]" */

/* What the check hands to the transfer. */
struct ssrf_target {
	struct sockaddr_storage	st_addr;	/* the checked address */
	/* "host:port:address" for CURLOPT_RESOLVE when the host is a name,
	 * "" for an IP literal (nothing to resolve). */
	char			st_resolve[SSRF_RESOLVE_MAX];
};

/* ssrf_check()'s failures. */
#define SSRF_EURL	-1	/* no host: err says why */
#define SSRF_EREFUSED	-2	/* the rules refuse it: err starts "SSRF blocked: " */
#define SSRF_ERESOLVE	-3	/* the name did not resolve */
#define SSRF_ENOMEM	-4

/*
 * Checks the URL u (borrowed, already parsed by curl: the handle or its
 * text is what the caller fetches, so no second parser disagrees).
 * allow (borrowed, may be NULL) is the allowlist; allow_name, when not
 * NULL, is where it is configured ("[a2a] trusted_peers"), named in a
 * refusal so an operator knows where to admit a host.  0 with t filled,
 * or one of the SSRF_E* codes with why in err.  Blocks in getaddrinfo()
 * for a name.
 */
int	 ssrf_check(CURLU *u, const json_t *allow, const char *allow_name,
	    struct ssrf_target *t, char *err, size_t errlen);

/* Classifies a URL host (as curl gives it: brackets around IPv6) without
 * DNS.  NULL when it may be resolved and fetched, else why not ("loopback
 * address", "cloud metadata address", "local host name", "internal host
 * name", ...: static strings).  *is_ip is set for an IP literal. */
const char *ssrf_host_blocked(const char *host, int *is_ip);
/* The same for one address: NULL if public, else why not. */
const char *ssrf_addr_blocked(const struct sockaddr *sa);
/* 1 for the cloud metadata addresses (and anything not IPv4 or IPv6),
 * which no allowlist admits. */
int	 ssrf_addr_metadata(const struct sockaddr *sa);
/* 1 if host (as in the URL) or host:port is in allow (a JSON array of
 * strings, compared case-insensitively; NULL or not an array: none). */
int	 ssrf_allowed(const json_t *allow, const char *host, long port);

/* 1 and *ss filled if host is an IP literal in any spelling inet_aton()
 * takes, or an IPv6 one (brackets allowed); else 0.  For ssrf_url.c. */
int	 ssrf_literal(const char *host, struct sockaddr_storage *ss);
/* Two of the classifier's reasons, for callers that weigh them (a
 * metadata address is never admitted; mcp/http.c refuses internal names
 * even though it admits loopback and private servers). */
#define SSRF_WHY_METADATA	"cloud metadata address"
#define SSRF_WHY_INTERNAL	"internal host name"

#endif /* SH_SSRF_H */
