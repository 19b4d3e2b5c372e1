/*
 * httpc.c - one blocking HTTP request (httpc.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

static pthread_once_t	httpc_once = PTHREAD_ONCE_INIT;
static CURLcode		httpc_init_rc;

/* curl_global_init() is not thread-safe with old libcurl: once. */
static void
httpc_global_init(void)
{
	httpc_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct httpc_sink {
	struct httpc_resp	*hk_rs;
	size_t			 hk_max;
	int			 hk_truncate;
	int			 hk_toobig;
};

static size_t
httpc_write(char *data, size_t size, size_t n, void *arg)
{
	struct httpc_sink	*k = arg;
	struct buf		*b = &k->hk_rs->hs_body;
	size_t			 len = size * n, room;

	room = k->hk_max - b->b_len;
	if (len > room) {
		if (!k->hk_truncate) {
			k->hk_toobig = 1;
			return (0);	/* stops the transfer */
		}
		if (room > 0 && buf_add(b, data, room) != 0)
			return (0);
		k->hk_rs->hs_truncated = 1;
		return (0);
	}
	if (buf_add(b, data, len) != 0)
		return (0);
	return (len);
}

static int
httpc_dup(char **dst, const char *s)
{
	if (s == NULL)
		return (0);
	return ((*dst = strdup(s)) == NULL ? -1 : 0);
}

int
httpc_do(const struct httpc_req *rq, struct httpc_resp *rs)
{
	struct httpc_sink	 k;
	CURL			*h = NULL;
	char			*ct = NULL, *loc = NULL;
	int			 rv = -1;

	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->hs_body, rq->hr_max + 1);
	rs->hs_curlcode = CURLE_OUT_OF_MEMORY;
	memset(&k, 0, sizeof(k));
	k.hk_rs = rs;
	k.hk_max = rq->hr_max;
	k.hk_truncate = rq->hr_truncate;
	pthread_once(&httpc_once, httpc_global_init);
	if (httpc_init_rc != CURLE_OK || (h = curl_easy_init()) == NULL)
		goto nomem;
	if ((rq->hr_url != NULL &&
	    curl_easy_setopt(h, CURLOPT_URL, rq->hr_url) != CURLE_OK) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->hr_timeout_ms) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    rq->hr_connect_ms) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rs->hs_err) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, httpc_write) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, rq->hr_agent != NULL ?
	    rq->hr_agent : "librefang") != CURLE_OK ||
	    (rq->hr_resolve != NULL && curl_easy_setopt(h, CURLOPT_RESOLVE,
	    rq->hr_resolve) != CURLE_OK) ||
	    (rq->hr_headers != NULL && curl_easy_setopt(h, CURLOPT_HTTPHEADER,
	    rq->hr_headers) != CURLE_OK) ||
	    (rq->hr_method != NULL && curl_easy_setopt(h,
	    CURLOPT_CUSTOMREQUEST, rq->hr_method) != CURLE_OK) ||
	    (rq->hr_body != NULL && (curl_easy_setopt(h, CURLOPT_POSTFIELDS,
	    rq->hr_body) != CURLE_OK || curl_easy_setopt(h,
	    CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->hr_bodylen) !=
	    CURLE_OK)))
		goto nomem;
	if (rq->hr_setup != NULL && rq->hr_setup(h, rq->hr_arg) != 0)
		goto nomem;
	rs->hs_err[0] = '\0';
	rs->hs_curlcode = curl_easy_perform(h);
	/* A write callback stops the transfer to truncate it. */
	if (rs->hs_curlcode == CURLE_WRITE_ERROR && rs->hs_truncated)
		rs->hs_curlcode = CURLE_OK;
	if (rs->hs_curlcode != CURLE_OK) {
		if (k.hk_toobig)
			snprintf(rs->hs_err, sizeof(rs->hs_err), "the answer "
			    "is larger than %zu bytes", rq->hr_max);
		else if (rs->hs_err[0] == '\0')
			snprintf(rs->hs_err, sizeof(rs->hs_err), "%s",
			    curl_easy_strerror((CURLcode)rs->hs_curlcode));
		goto done;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->hs_status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK)
		ct = NULL;
	if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK ||
	    rs->hs_status < 300 || rs->hs_status >= 400)
		loc = NULL;
	if (httpc_dup(&rs->hs_ctype, ct) != 0 ||
	    httpc_dup(&rs->hs_location, loc) != 0)
		goto nomem;
	rv = 0;
	goto done;
 nomem:
	rs->hs_curlcode = CURLE_OUT_OF_MEMORY;
	snprintf(rs->hs_err, sizeof(rs->hs_err), "out of memory");
 done:
	if (h != NULL)
		curl_easy_cleanup(h);
	return (rv);
}

void
httpc_resp_release(struct httpc_resp *rs)
{
	if (rs == NULL)
		return;
	buf_release(&rs->hs_body);
	free(rs->hs_ctype);
	free(rs->hs_location);
	rs->hs_ctype = rs->hs_location = NULL;
}
