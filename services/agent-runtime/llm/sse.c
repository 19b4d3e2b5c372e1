/*
 * llm/sse.c - the line parser of provider streams: server-sent events
 * (OpenAI, Anthropic, Gemini) and NDJSON (Ollama), fed as bytes arrive.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"

void
llm_sse_init(struct llm_sse *s, int ndjson, size_t max)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->s_line, max);
	buf_init(&s->s_data, max);
	s->s_ndjson = ndjson;
}

void
llm_sse_release(struct llm_sse *s)
{
	buf_release(&s->s_line);
	buf_release(&s->s_data);
	s->s_event[0] = '\0';
	s->s_have_data = 0;
	s->s_cr = 0;
}

static int
sse_dispatch(struct llm_sse *s, llm_sse_fn fn, void *arg)
{
	int	 rc = 0;

	if (s->s_have_data)
		rc = fn(arg, s->s_event[0] != '\0' ? s->s_event : NULL,
		    s->s_data.b_data != NULL ? s->s_data.b_data : "",
		    s->s_data.b_len);
	buf_reset(&s->s_data);
	s->s_event[0] = '\0';
	s->s_have_data = 0;
	return (rc);
}

static int
sse_line(struct llm_sse *s, const char *line, size_t len, llm_sse_fn fn,
    void *arg)
{
	size_t	 flen, i;
	const char *val;
	size_t	 vlen;
	int	 rc;

	if (s->s_ndjson) {
		for (i = 0; i < len; i++)
			if (!isspace((unsigned char)line[i]))
				break;
		if (i == len)
			return (0);
		return (fn(arg, NULL, line, len));
	}
	if (len == 0)
		return (sse_dispatch(s, fn, arg));
	if (line[0] == ':')
		return (0);
	for (flen = 0; flen < len && line[flen] != ':'; flen++)
		;
	if (flen < len) {
		val = line + flen + 1;
		vlen = len - flen - 1;
		if (vlen > 0 && val[0] == ' ') {
			val++;
			vlen--;
		}
	} else {
		val = "";
		vlen = 0;
	}
	if (flen == 4 && memcmp(line, "data", 4) == 0) {
		if (s->s_have_data && (rc = buf_add(&s->s_data, "\n", 1)) != 0)
			return (rc);
		if ((rc = buf_add(&s->s_data, val, vlen)) != 0)
			return (rc);
		if (s->s_data.b_data == NULL &&
		    (rc = buf_add(&s->s_data, "", 1)) == 0)
			s->s_data.b_len = 0;
		s->s_have_data = 1;
	} else if (flen == 5 && memcmp(line, "event", 5) == 0) {
		if (vlen >= sizeof(s->s_event))
			vlen = sizeof(s->s_event) - 1;
		memcpy(s->s_event, val, vlen);
		s->s_event[vlen] = '\0';
	}
	return (0);
}

int
llm_sse_feed(struct llm_sse *s, const char *p, size_t n, llm_sse_fn fn,
    void *arg)
{
	size_t	 i, start = 0;
	int	 rc;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n' && p[i] != '\r') {
			s->s_cr = 0;
			continue;
		}
		if (p[i] == '\n' && s->s_cr && i == start &&
		    s->s_line.b_len == 0) {
			/* The LF of a CRLF. */
			s->s_cr = 0;
			start = i + 1;
			continue;
		}
		s->s_cr = (p[i] == '\r');
		if (s->s_line.b_len > 0) {
			if ((rc = buf_add(&s->s_line, p + start,
			    i - start)) != 0)
				return (rc);
			rc = sse_line(s, s->s_line.b_data, s->s_line.b_len,
			    fn, arg);
			buf_reset(&s->s_line);
		} else
			rc = sse_line(s, p + start, i - start, fn, arg);
		if (rc != 0)
			return (rc);
		start = i + 1;
	}
	if (start < n)
		return (buf_add(&s->s_line, p + start, n - start));
	return (0);
}

int
llm_sse_end(struct llm_sse *s, llm_sse_fn fn, void *arg)
{
	int	 rc;

	if (s->s_line.b_len > 0) {
		rc = sse_line(s, s->s_line.b_data, s->s_line.b_len, fn, arg);
		buf_reset(&s->s_line);
		if (rc != 0)
			return (rc);
	}
	if (!s->s_ndjson)
		return (sse_dispatch(s, fn, arg));
	return (0);
}
