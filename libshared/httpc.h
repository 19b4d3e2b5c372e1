/*
 * httpc.h - one blocking HTTP request with libcurl's easy interface, for
 * the few outgoing calls that may hold their thread for a while: a
 * provider test or a model list on a bus worker, a web_fetch hop on a
 * tool thread.  Provider calls of a turn go through agent-runtime's LLM
 * engine instead, which waits for any number of them on one thread.
 *
 * Only http and https; no redirects followed (the caller decides, and
 * gets the Location); no signals.  Every request has a total and a
 * connect timeout and a cap on the answer kept.  Thread-safe.
 */
#ifndef SH_HTTPC_H
#define SH_HTTPC_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"

/* Extra options on the handle before it runs (web_fetch pins the
 * address, refuses other sockets and watches an interrupt flag); 0, or
 * -1 to give up (hs_err says "out of memory"). */
typedef int (*httpc_setup_fn)(CURL *h, void *arg);

struct httpc_req {
	const char	*hr_url;	/* or hr_setup sets CURLOPT_CURLU */
	const char	*hr_method;	/* NULL: GET, or POST with a body */
	const struct curl_slist *hr_headers;	/* borrowed, or NULL */
	/* CURLOPT_RESOLVE (borrowed, or NULL): the address ssrf_check()
	 * checked, so a second resolution cannot swap it */
	const struct curl_slist *hr_resolve;
	const char	*hr_body;	/* borrowed, or NULL */
	size_t		 hr_bodylen;
	long		 hr_timeout_ms;	/* the whole request */
	long		 hr_connect_ms;
	size_t		 hr_max;	/* bytes of the answer kept */
	int		 hr_truncate;	/* past hr_max: keep hr_max bytes and
					   succeed (1), or fail (0) */
	const char	*hr_agent;	/* User-Agent; NULL: "librefang" */
	httpc_setup_fn	 hr_setup;	/* or NULL */
	void		*hr_arg;
};

struct httpc_resp {
	long		 hs_status;	/* 0 when no answer came */
	struct buf	 hs_body;	/* the answer, at most hr_max bytes */
	int		 hs_truncated;
	char		*hs_ctype;	/* Content-Type (new), or NULL */
	char		*hs_location;	/* a redirect's target (new), or NULL */
	int		 hs_curlcode;	/* CURLcode of the transfer */
	char		 hs_err[CURL_ERROR_SIZE];	/* why it failed */
};

/*
 * Runs rq.  0 when an answer came, whatever its status; -1 when none did
 * (connection, timeout, an answer over hr_max without hr_truncate, out
 * of memory) with hs_err and hs_curlcode saying why.  rs is filled
 * either way; httpc_resp_release() frees it.
 */
int	 httpc_do(const struct httpc_req *rq, struct httpc_resp *rs);
void	 httpc_resp_release(struct httpc_resp *rs);

#endif /* SH_HTTPC_H */
