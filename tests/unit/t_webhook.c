/*
 * t_webhook.c - the webhook adapter's helpers (services/channels/
 * adapters/webhook/webhook_msg.c): signatures made and checked (values
 * from Python's hmac module), request heads parsed, inbound bodies read,
 * which answers are retried.  The callback's URL and answer are the
 * library's (t_ad_http.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "webhook.h"

#define KEY	"key-0123456789abcdef"
#define SIG_A	"sha256=8a091117e0b1ccf5034d0d8c06ab42b29a4451a72f95b56f22" \
		"afaf6bfb7af0d3"
#define SIG_EMPTY "sha256=3ccef60c6d76d14e263bfbc1d048af916d182ba7d7c67b4" \
		"8cbf9868a5505b4fb"

static int
t_sign(void)
{
	char	sig[WH_SIG_LEN + 1];

	T_OK(wh_sign(KEY, "1700000000", "{\"a\":1}", 7, sig) == 0);
	T_EQ_STR(sig, SIG_A);
	/* An empty body signs "<ts>." alone. */
	T_OK(wh_sign(KEY, "1700000000", NULL, 0, sig) == 0);
	T_EQ_STR(sig, SIG_EMPTY);
	return (0);
}

static int
t_verify(void)
{
	const char	*b = "{\"a\":1}";
	char		 upper[] = SIG_A;
	char		*p;
	int64_t		 now = 1700000000;

	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A, b, 7, now, 300), WH_OK);
	/* Hex digits in capitals are the same signature. */
	for (p = upper + 7; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	T_EQ_INT(wh_verify(KEY, "1700000000", upper, b, 7, now, 300), WH_OK);
	/* The window, both ways, and its edge. */
	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A, b, 7, now + 300, 300),
	    WH_OK);
	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A, b, 7, now + 301, 300),
	    WH_ESTALE);
	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A, b, 7, now - 301, 300),
	    WH_ESTALE);
	/* Missing headers, a timestamp that is no number. */
	T_EQ_INT(wh_verify(KEY, NULL, SIG_A, b, 7, now, 300), WH_EUNSIGNED);
	T_EQ_INT(wh_verify(KEY, "1700000000", NULL, b, 7, now, 300),
	    WH_EUNSIGNED);
	T_EQ_INT(wh_verify(KEY, "", SIG_A, b, 7, now, 300), WH_EUNSIGNED);
	T_EQ_INT(wh_verify(KEY, "17e8", SIG_A, b, 7, now, 300), WH_EBADTS);
	T_EQ_INT(wh_verify(KEY, "-1700000000", SIG_A, b, 7, now, 300),
	    WH_EBADTS);
	T_EQ_INT(wh_verify(KEY, "17000000000000", SIG_A, b, 7, now, 300),
	    WH_EBADTS);
	/* Another body, another timestamp, another key, a cut signature,
	 * the bare hex. */
	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A, "{\"a\":2}", 7, now,
	    300), WH_EBADSIG);
	T_EQ_INT(wh_verify(KEY, "1700000001", SIG_A, b, 7, now, 300),
	    WH_EBADSIG);
	T_EQ_INT(wh_verify("key-other-0000000", "1700000000", SIG_A, b, 7, now,
	    300), WH_EBADSIG);
	T_EQ_INT(wh_verify(KEY, "1700000000", "sha256=8a09", b, 7, now, 300),
	    WH_EBADSIG);
	T_EQ_INT(wh_verify(KEY, "1700000000", SIG_A + 7, b, 7, now, 300),
	    WH_EBADSIG);
	return (0);
}

/* Parses s (copied: the parser writes into it) into h. */
static long
head(const char *s, struct wh_head *h, char **keep)
{
	size_t	n = strlen(s);

	free(*keep);
	if ((*keep = malloc(n + 1)) == NULL)
		return (-99);
	memcpy(*keep, s, n);
	return (wh_head_parse(*keep, n, h));
}

static int
t_head(void)
{
	struct wh_head	 h;
	char		*k = NULL;
	const char	*ok = "POST /hook?x=1 HTTP/1.1\r\nHost: a\r\n"
			    "content-length:  12 \r\n"
			    "X-Webhook-Timestamp: 17\r\n"
			    "x-webhook-signature:sha256=ab\r\n"
			    "Expect: 100-continue\r\n\r\n{\"body\": 1}";
	int		 rv = -1;

	if (head(ok, &h, &k) != (long)(strlen(ok) - 11))
		goto done;
	T_EQ_STR(h.wr_method, "POST");
	T_EQ_STR(h.wr_path, "/hook?x=1");
	T_EQ_INT(h.wr_length, 12);
	T_EQ_STR(h.wr_ts, "17");
	T_EQ_STR(h.wr_sig, "sha256=ab");
	T_OK(h.wr_continue && !h.wr_chunked);
	/* The body is left as it was. */
	T_EQ_STR(k + strlen(ok) - 11, "{\"body\": 1}");
	/* Not complete yet. */
	T_EQ_INT(head("POST / HTTP/1.1\r\nHost: a\r\n", &h, &k), 0);
	T_EQ_INT(head("POST / HTTP/1.1\r\nHost: a\r\n\r\n", &h, &k) > 0, 1);
	T_EQ_INT(h.wr_length, -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
	    &h, &k) > 0, 1);
	T_OK(h.wr_chunked);
	/* Malformed: each is -1. */
	T_EQ_INT(head("HELLO\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST / HTTP/2\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST hook HTTP/1.1\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nNoColon\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nBad Name: x\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &h,
	    &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &h,
	    &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Content-Length: 1\r\n\r\n", &h, &k), -1);
	T_EQ_INT(head("POST / HTTP/1.1\r\nContent-Length: "
	    "99999999999999999999\r\n\r\n", &h, &k), -1);
	rv = 0;
 done:
	free(k);
	return (rv);
}

static int
t_head_nul(void)
{
	char		buf[64] = "POST / HTTP/1.1\r\nA: b\0c\r\n\r\nxyz";
	char		buf2[64] = "POST / HTTP/1.1\r\n\r\nx\0y";
	struct wh_head	h;

	/* A NUL in the head is refused; one in the body is not the head's
	 * business. */
	T_EQ_INT(wh_head_parse(buf, 31, &h), -1);
	T_EQ_INT(wh_head_parse(buf2, 22, &h), 19);
	return (0);
}

static int
t_in(void)
{
	struct wh_in	 in;
	const char	*why = NULL;
	const char	*full = "{\"user_id\":\"u1\",\"user_name\":\"Al\","
			    "\"text\":\"hi\",\"message_id\":\"m\","
			    "\"thread_id\":\"t\",\"channel_id\":\"c\","
			    "\"other\":[1]}";
	const char	*nul = "{\"user_id\":\"u\",\"user_name\":\"n\","
			    "\"text\":\"t\",\"message_id\":null}";
	const char	*empty = "{\"user_id\":\"u\",\"user_name\":\"n\","
			    "\"text\":\"t\",\"channel_id\":\"\","
			    "\"thread_id\":\"\"}";
	const char	*bad[] = {
		"", "[]", "\"s\"", "{",
		"{\"user_id\":\"u\",\"user_name\":\"n\"}",
		"{\"user_id\":\"\",\"user_name\":\"n\",\"text\":\"t\"}",
		"{\"user_id\":1,\"user_name\":\"n\",\"text\":\"t\"}",
		"{\"user_id\":\"u\",\"user_name\":\"n\",\"text\":\"t\","
		    "\"thread_id\":5}",
		"{\"user_id\":\"u\",\"user_id\":\"v\",\"user_name\":\"n\","
		    "\"text\":\"t\"}",
		"{\"user_id\":\"u\",\"user_name\":\"n\",\"text\":\"\\xff\"}",
		NULL };
	int		 i;

	T_OK(wh_in_parse(full, strlen(full), &in, &why) == 0);
	T_EQ_STR(in.wi_user_id, "u1");
	T_EQ_STR(in.wi_user_name, "Al");
	T_EQ_STR(in.wi_text, "hi");
	T_EQ_STR(in.wi_message_id, "m");
	T_EQ_STR(in.wi_thread_id, "t");
	T_EQ_STR(in.wi_channel_id, "c");
	wh_in_release(&in);
	T_OK(wh_in_parse(nul, strlen(nul), &in, &why) == 0);
	T_OK(in.wi_message_id == NULL && in.wi_channel_id == NULL);
	wh_in_release(&in);
	T_OK(wh_in_parse(empty, strlen(empty), &in, &why) == 0);
	T_OK(in.wi_channel_id == NULL && in.wi_thread_id == NULL);
	wh_in_release(&in);
	for (i = 0; bad[i] != NULL; i++) {
		why = NULL;
		if (wh_in_parse(bad[i], strlen(bad[i]), &in, &why) != -1 ||
		    why == NULL || in.wi_root != NULL) {
			printf("# accepted: %s\n", bad[i]);
			return (-1);
		}
	}
	return (0);
}

static int
t_status(void)
{
	T_OK(wh_status_retry(429) && wh_status_retry(500) &&
	    wh_status_retry(503) && wh_status_retry(599));
	T_OK(!wh_status_retry(200) && !wh_status_retry(400) &&
	    !wh_status_retry(404) && !wh_status_retry(301));
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "signatures match Python's hmac", t_sign },
		{ "signatures checked: window, headers, body, key", t_verify },
		{ "request heads parsed, malformed ones refused", t_head },
		{ "a NUL in the head refused, in the body not", t_head_nul },
		{ "inbound bodies read, bad ones refused", t_in },
		{ "which answers are retried", t_status },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
