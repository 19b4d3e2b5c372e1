/*
 * webhook_msg.c - the webhook adapter's helpers (webhook.h): signing,
 * the request head, the inbound body, the retry rule.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util.h"
#include "webhook.h"

int
wh_sign(const char *secret, const char *ts, const char *body, size_t n,
    char out[WH_SIG_LEN + 1])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE], *msg = NULL;
	unsigned int	 maclen = 0;
	size_t		 tl = strlen(ts);
	int		 ret = -1;

	/* "<timestamp>.<body>": the timestamp is signed too, so an old
	 * body cannot be replayed under a fresh one. */
	if ((msg = malloc(tl + 1 + n + 1)) == NULL)
		goto done;
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	if (n > 0)
		memcpy(msg + tl + 1, body, n);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + n,
	    mac, &maclen) == NULL || maclen != 32)
		goto done;
	memcpy(out, "sha256=", 7);
	util_hex(mac, maclen, out + 7);
	ret = 0;
 done:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(msg);
	return (ret);
}

int
wh_verify(const char *secret, const char *ts, const char *sig,
    const char *body, size_t n, int64_t now, int64_t window)
{
	char		 want[WH_SIG_LEN + 1];
	long long	 t;
	char		 lower[WH_SIG_LEN + 1];
	size_t		 i, sl;
	int		 ret;

	if (ts == NULL || sig == NULL || *ts == '\0' || *sig == '\0')
		return (WH_EUNSIGNED);
	if (strspn(ts, "0123456789") != strlen(ts) || strlen(ts) > 12 ||
	    util_strtonum(ts, 0, 999999999999LL, &t) != 0)
		return (WH_EBADTS);
	if (t < now - window || t > now + window)
		return (WH_ESTALE);
	if (wh_sign(secret, ts, body, n, want) != 0)
		return (WH_EBADSIG);
	/* Hex digits either case; the length is no secret. */
	sl = strlen(sig);
	if (sl != WH_SIG_LEN)
		return (WH_EBADSIG);
	for (i = 0; i < sl; i++)
		lower[i] = (char)tolower((unsigned char)sig[i]);
	lower[sl] = '\0';
	ret = util_ct_equal(lower, sl, want, WH_SIG_LEN) ? WH_OK : WH_EBADSIG;
	OPENSSL_cleanse(want, sizeof(want));
	return (ret);
}

/* The value of a header line "name: value" if name is hname, else NULL;
 * blanks around the value removed (in place). */
static char *
wh_header_value(char *line, const char *hname)
{
	size_t	 hl = strlen(hname);
	char	*v, *e;

	if (strncasecmp(line, hname, hl) != 0 || line[hl] != ':')
		return (NULL);
	for (v = line + hl + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
		*--e = '\0';
	return (v);
}

long
wh_head_parse(char *buf, size_t n, struct wh_head *h)
{
	char		*end, *line, *next, *sp, *v;
	long long	 len;

	buf[n] = '\0';
	memset(h, 0, sizeof(*h));
	h->wr_length = -1;
	if ((end = memmem(buf, n, "\r\n\r\n", 4)) == NULL)
		return (memchr(buf, '\0', n) != NULL ? -1 : 0);
	/* A NUL in the head would end it early for strstr() below. */
	if (memchr(buf, '\0', (size_t)(end - buf)) != NULL)
		return (-1);
	end[2] = '\0';		/* the last header's CRLF stays */
	/* The request line: METHOD SP target SP HTTP/1.x */
	line = buf;
	if ((next = strstr(line, "\r\n")) == NULL)
		return (-1);
	*next = '\0';
	next += 2;
	if ((sp = strchr(line, ' ')) == NULL || sp == line)
		return (-1);
	*sp++ = '\0';
	h->wr_method = line;
	line = sp;
	if ((sp = strchr(line, ' ')) == NULL || sp == line)
		return (-1);
	*sp++ = '\0';
	h->wr_path = line;
	if (strcmp(sp, "HTTP/1.1") != 0 && strcmp(sp, "HTTP/1.0") != 0)
		return (-1);
	if (h->wr_path[0] != '/')
		return (-1);
	for (line = next; *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) == NULL)
			return (-1);
		*next = '\0';
		next += 2;
		/* A name, then ":" (no blank before it: RFC 9112 5.1). */
		if ((sp = strchr(line, ':')) == NULL || sp == line ||
		    strcspn(line, " \t") < (size_t)(sp - line))
			return (-1);
		if ((v = wh_header_value(line, "Content-Length")) != NULL) {
			if (h->wr_length != -1 || *v == '\0' ||
			    strspn(v, "0123456789") != strlen(v) ||
			    strlen(v) > 15 ||
			    util_strtonum(v, 0, 999999999999999LL, &len) != 0)
				return (-1);
			h->wr_length = len;
		} else if (wh_header_value(line, "Transfer-Encoding") != NULL)
			h->wr_chunked = 1;
		else if ((v = wh_header_value(line, "Expect")) != NULL)
			h->wr_continue = strcasecmp(v, "100-continue") == 0;
		else if ((v = wh_header_value(line,
		    "X-Webhook-Timestamp")) != NULL)
			h->wr_ts = v;
		else if ((v = wh_header_value(line,
		    "X-Webhook-Signature")) != NULL)
			h->wr_sig = v;
	}
	return ((long)(end - buf) + 4);
}

/* The member key of o as a string: *out borrowed, or NULL when absent.
 * -1 when it is there and not a string (or empty while required). */
static int
wh_str(json_t *o, const char *key, int required, const char **out)
{
	json_t	*v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (required ? -1 : 0);
	if (!json_is_string(v))
		return (-1);
	*out = json_string_value(v);
	if (**out == '\0') {
		/* An empty optional member is as good as absent. */
		*out = NULL;
		return (required ? -1 : 0);
	}
	return (0);
}

int
wh_in_parse(const char *body, size_t n, struct wh_in *in, const char **why)
{
	json_t		*root;
	json_error_t	 jerr;

	memset(in, 0, sizeof(in[0]));
	/* JSON_REJECT_DUPLICATES: two user_ids are not a message we can
	 * read one way only. */
	root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		*why = "the body is not a JSON object";
		goto fail;
	}
	if (wh_str(root, "user_id", 1, &in->wi_user_id) != 0 ||
	    wh_str(root, "user_name", 1, &in->wi_user_name) != 0 ||
	    wh_str(root, "text", 1, &in->wi_text) != 0) {
		*why = "user_id, user_name and text must be non-empty strings";
		goto fail;
	}
	if (wh_str(root, "message_id", 0, &in->wi_message_id) != 0 ||
	    wh_str(root, "thread_id", 0, &in->wi_thread_id) != 0 ||
	    wh_str(root, "channel_id", 0, &in->wi_channel_id) != 0) {
		*why = "message_id, thread_id and channel_id must be strings";
		goto fail;
	}
	in->wi_root = root;
	return (0);
 fail:
	json_decref(root);
	memset(in, 0, sizeof(in[0]));
	return (-1);
}

void
wh_in_release(struct wh_in *in)
{
	json_decref(in->wi_root);
	memset(in, 0, sizeof(in[0]));
}

int
wh_status_retry(int status)
{
	return (status == 429 || (status >= 500 && status <= 599));
}
