/*
 * llm/sse.c - what the drivers share: the SSE / NDJSON line parser, the
 * accumulator that turns provider pieces into canonical blocks and
 * stream events, and small helpers.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"
#include "util.h"

/* ---- SSE ---------------------------------------------------------------- */

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

/* ---- the accumulator ---------------------------------------------------- */

void
llm_acc_init(struct llm_acc *a, llm_emit_fn emit, void *arg)
{
	memset(a, 0, sizeof(*a));
	a->a_emit = emit;
	a->a_arg = arg;
}

void
llm_acc_release(struct llm_acc *a)
{
	size_t	 i;

	for (i = 0; i < a->a_n; i++) {
		buf_release(&a->a_blocks[i].lb_text);
		free(a->a_blocks[i].lb_id);
		free(a->a_blocks[i].lb_name);
		json_decref(a->a_blocks[i].lb_input);
		json_decref(a->a_blocks[i].lb_meta);
	}
	free(a->a_blocks);
	a->a_blocks = NULL;
	a->a_n = a->a_cap = 0;
}

int
llm_acc_fail(struct llm_acc *a, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(a->a_err, sizeof(a->a_err), fmt, ap);
	va_end(ap);
	return (SH_EPROTO);
}

static void
acc_emit(struct llm_acc *a, json_t *ev)
{
	if (ev == NULL)
		return;
	if (a->a_emit == NULL) {
		json_decref(ev);
		return;
	}
	a->a_emit(a->a_arg, ev);
}

static struct llm_block *
acc_new(struct llm_acc *a, int kind, int key)
{
	struct llm_block *nb, *b;
	size_t	 ncap;

	if (a->a_n >= LLM_BLOCKS_MAX)
		return (NULL);
	if (a->a_n == a->a_cap) {
		ncap = a->a_cap == 0 ? 4 : a->a_cap * 2;
		nb = reallocarray(a->a_blocks, ncap, sizeof(*nb));
		if (nb == NULL)
			return (NULL);
		a->a_blocks = nb;
		a->a_cap = ncap;
	}
	b = &a->a_blocks[a->a_n++];
	memset(b, 0, sizeof(*b));
	b->lb_kind = kind;
	b->lb_key = key;
	buf_init(&b->lb_text, LLM_MAX_RESPONSE);
	return (b);
}

static struct llm_block *
acc_find(struct llm_acc *a, int kind, int key)
{
	size_t	 i;

	if (key >= 0) {
		for (i = a->a_n; i > 0; i--)
			if (a->a_blocks[i - 1].lb_key == key &&
			    a->a_blocks[i - 1].lb_kind == kind)
				return (&a->a_blocks[i - 1]);
		return (NULL);
	}
	if (a->a_n > 0 && a->a_blocks[a->a_n - 1].lb_kind == kind &&
	    !a->a_blocks[a->a_n - 1].lb_ended)
		return (&a->a_blocks[a->a_n - 1]);
	return (NULL);
}

int
llm_acc_open(struct llm_acc *a, int kind, int key)
{
	return (acc_new(a, kind, key) == NULL ? SH_ENOMEM : 0);
}

int
llm_acc_text(struct llm_acc *a, int kind, int key, const char *s, size_t n)
{
	struct llm_block *b;
	int	 rc;

	if (n == 0)
		return (0);
	if ((b = acc_find(a, kind, key)) == NULL || b->lb_ended) {
		/* Text after other blocks ends them (it is a new turn
		 * part). */
		if ((b = acc_new(a, kind, key)) == NULL)
			return (SH_ENOMEM);
	}
	if ((rc = buf_add(&b->lb_text, s, n)) != 0)
		return (rc);
	if (a->a_emit != NULL)
		acc_emit(a, json_pack("{s:s, s:s%}", "type",
		    kind == LLM_K_THINKING ? "thinking_delta" : "text_delta",
		    "text", s, n));
	return (0);
}

int
llm_acc_meta(struct llm_acc *a, int kind, int key, const char *k, json_t *v)
{
	struct llm_block *b;

	if ((b = acc_find(a, kind, key)) == NULL) {
		if (key < 0 && a->a_n > 0 &&
		    a->a_blocks[a->a_n - 1].lb_kind == kind)
			b = &a->a_blocks[a->a_n - 1];
		else if ((b = acc_new(a, kind, key)) == NULL)
			return (SH_ENOMEM);
	}
	if (b->lb_meta == NULL && (b->lb_meta = json_object()) == NULL)
		return (SH_ENOMEM);
	return (json_object_set(b->lb_meta, k, v) == 0 ? 0 : SH_ENOMEM);
}

static int
acc_set(char **dst, const char *s)
{
	char	*d;

	if (s == NULL || *s == '\0')
		return (0);
	if ((d = strdup(s)) == NULL)
		return (SH_ENOMEM);
	free(*dst);
	*dst = d;
	return (0);
}

static void
acc_tool_started(struct llm_acc *a, struct llm_block *b)
{
	char	 id[48];

	if (b->lb_started || b->lb_name == NULL)
		return;
	if (b->lb_id == NULL) {
		snprintf(id, sizeof(id), "call_%u", ++a->a_nsynth);
		if (acc_set(&b->lb_id, id) != 0)
			return;
	}
	b->lb_started = 1;
	if (a->a_emit != NULL)
		acc_emit(a, json_pack("{s:s, s:s, s:s}", "type",
		    "tool_use_start", "id", b->lb_id, "name", b->lb_name));
}

struct llm_block *
llm_acc_tool(struct llm_acc *a, int key, const char *id, const char *name)
{
	struct llm_block *b = NULL;

	if (key >= 0)
		b = acc_find(a, LLM_K_TOOL, key);
	if (b == NULL && (b = acc_new(a, LLM_K_TOOL, key)) == NULL)
		return (NULL);
	if (!b->lb_started && (acc_set(&b->lb_id, id) != 0 ||
	    acc_set(&b->lb_name, name) != 0))
		return (NULL);
	acc_tool_started(a, b);
	return (b);
}

int
llm_acc_tool_args(struct llm_acc *a, int key, const char *s, size_t n)
{
	struct llm_block *b;
	int	 rc;

	if (n == 0)
		return (0);
	if ((b = acc_find(a, LLM_K_TOOL, key)) == NULL &&
	    (b = llm_acc_tool(a, key, NULL, NULL)) == NULL)
		return (SH_ENOMEM);
	if ((rc = buf_add(&b->lb_text, s, n)) != 0)
		return (rc);
	if (a->a_emit != NULL)
		acc_emit(a, json_pack("{s:s, s:s%}", "type",
		    "tool_input_delta", "text", s, n));
	return (0);
}

/* The tool's input: an object, {} for no arguments, or the raw text kept
 * as {"__args_invalid": text}.  New. */
static json_t *
acc_tool_input(const struct llm_block *b)
{
	json_t		*v;
	const char	*s = b->lb_text.b_data;
	size_t		 i;

	if (b->lb_input != NULL && json_is_object(b->lb_input))
		return (json_incref(b->lb_input));
	if (b->lb_input != NULL)
		return (json_pack("{s:O}", "__args_invalid", b->lb_input));
	if (s == NULL)
		return (json_object());
	for (i = 0; s[i] != '\0' && isspace((unsigned char)s[i]); i++)
		;
	if (s[i] == '\0')
		return (json_object());
	v = json_loadb(s, b->lb_text.b_len, JSON_DECODE_ANY, NULL);
	if (v != NULL && json_is_object(v))
		return (v);
	json_decref(v);
	return (json_pack("{s:s%}", "__args_invalid", s, b->lb_text.b_len));
}

static void
acc_end_one(struct llm_acc *a, struct llm_block *b)
{
	json_t	*in;

	if (b->lb_ended)
		return;
	b->lb_ended = 1;
	if (b->lb_kind != LLM_K_TOOL || a->a_emit == NULL)
		return;
	if (b->lb_name == NULL && acc_set(&b->lb_name, "unknown") != 0)
		return;
	acc_tool_started(a, b);
	if ((in = acc_tool_input(b)) == NULL)
		return;
	acc_emit(a, json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use_end",
	    "id", b->lb_id, "name", b->lb_name, "input", in));
}

void
llm_acc_end(struct llm_acc *a, int key)
{
	size_t	 i;

	for (i = 0; i < a->a_n; i++)
		if (key < 0 || a->a_blocks[i].lb_key == key)
			acc_end_one(a, &a->a_blocks[i]);
}

json_t *
llm_acc_finish(struct llm_acc *a)
{
	json_t		*resp = NULL, *content, *blk, *in;
	struct llm_block *b;
	const char	*stop;
	size_t		 i;
	int		 tools = 0;
	char		 id[48];

	llm_acc_end(a, -1);
	if ((content = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < a->a_n; i++) {
		b = &a->a_blocks[i];
		blk = NULL;
		switch (b->lb_kind) {
		case LLM_K_TEXT:
			if (b->lb_text.b_len == 0 && b->lb_meta == NULL)
				continue;
			blk = json_pack("{s:s, s:s%}", "type", "text", "text",
			    b->lb_text.b_data ? b->lb_text.b_data : "",
			    b->lb_text.b_len);
			break;
		case LLM_K_THINKING:
			if (b->lb_text.b_len == 0 && b->lb_meta == NULL)
				continue;
			blk = json_pack("{s:s, s:s%}", "type", "thinking",
			    "thinking",
			    b->lb_text.b_data ? b->lb_text.b_data : "",
			    b->lb_text.b_len);
			break;
		case LLM_K_TOOL:
			tools++;
			if (b->lb_id == NULL) {
				snprintf(id, sizeof(id), "call_%u",
				    ++a->a_nsynth);
				if (acc_set(&b->lb_id, id) != 0)
					goto fail;
			}
			if ((in = acc_tool_input(b)) == NULL)
				goto fail;
			blk = json_pack("{s:s, s:s, s:s, s:o}", "type",
			    "tool_use", "id", b->lb_id, "name",
			    b->lb_name ? b->lb_name : "unknown", "input", in);
			break;
		}
		if (blk == NULL)
			goto fail;
		if (b->lb_meta != NULL &&
		    json_object_set(blk, "provider_metadata", b->lb_meta) != 0) {
			json_decref(blk);
			goto fail;
		}
		if (json_array_append_new(content, blk) != 0)
			goto fail;
	}
	stop = a->a_stop;
	if (tools > 0 && (*stop == '\0' || strcmp(stop, LLM_STOP_END) == 0))
		stop = LLM_STOP_TOOL;
	else if (*stop == '\0' || (tools == 0 &&
	    strcmp(stop, LLM_STOP_TOOL) == 0))
		stop = LLM_STOP_END;
	resp = json_pack("{s:o, s:s, s:{s:I, s:I, s:I, s:I}}",
	    "content", content, "stop_reason", stop, "usage",
	    "input_tokens", (json_int_t)a->a_in,
	    "output_tokens", (json_int_t)a->a_out,
	    "cache_creation_input_tokens", (json_int_t)a->a_cache_w,
	    "cache_read_input_tokens", (json_int_t)a->a_cache_r);
	return (resp);
 fail:
	json_decref(content);
	return (NULL);
}

/* ---- stream and body dispatch ------------------------------------------- */

/* An error object in a stream chunk or a 200 body: {"error": ...}. */
static int
acc_error_obj(struct llm_acc *a, const json_t *root)
{
	json_t	*e;
	char	*s;

	if (!json_is_object(root) || (e = json_object_get(root, "error")) ==
	    NULL || json_is_null(e))
		return (0);
	if ((s = json_dumps(e, JSON_COMPACT)) != NULL) {
		llm_error_text(s, strlen(s), a->a_err, sizeof(a->a_err));
		free(s);
	} else
		snprintf(a->a_err, sizeof(a->a_err), "provider error");
	return (1);
}

int
llm_stream_event(struct llm_acc *a, enum llm_style style, const char *event,
    const char *data, size_t len)
{
	json_t		*root;
	json_error_t	 jerr;
	int		 rc;

	if (style == LLM_OPENAI && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		a->a_finished = 1;
		return (0);
	}
	if (style == LLM_ANTHROPIC && event != NULL &&
	    strcmp(event, "ping") == 0)
		return (0);
	if ((root = json_loadb(data, len, 0, &jerr)) == NULL)
		return (llm_acc_fail(a, "invalid JSON in stream: %s",
		    jerr.text));
	if (!json_is_object(root)) {
		json_decref(root);
		return (llm_acc_fail(a, "stream event is not an object"));
	}
	if (acc_error_obj(a, root)) {
		json_decref(root);
		return (SH_EUNAVAIL);
	}
	switch (style) {
	case LLM_OPENAI:
		rc = llm_openai_chunk(a, root);
		break;
	case LLM_ANTHROPIC:
		rc = llm_anthropic_event(a, event, root);
		break;
	case LLM_GEMINI:
		rc = llm_gemini_read(a, root);
		break;
	case LLM_OLLAMA:
		rc = llm_ollama_read(a, root);
		break;
	default:
		rc = llm_acc_fail(a, "unknown style");
		break;
	}
	json_decref(root);
	return (rc);
}

static int
ollama_line(void *arg, const char *event, const char *data, size_t len)
{
	return (llm_stream_event(arg, LLM_OLLAMA, event, data, len));
}

int
llm_parse_body(struct llm_acc *a, enum llm_style style, const char *body,
    size_t len)
{
	json_t		*root;
	json_error_t	 jerr;
	int		 rc;

	if (style == LLM_OLLAMA) {
		/* A non-streaming answer is one line; tolerate several. */
		struct llm_sse	 s;

		llm_sse_init(&s, 1, LLM_MAX_RESPONSE);
		rc = llm_sse_feed(&s, body, len, ollama_line, a);
		if (rc == 0)
			rc = llm_sse_end(&s, ollama_line, a);
		llm_sse_release(&s);
		if (rc == 0 && a->a_n == 0 && !a->a_saw_stop)
			rc = llm_acc_fail(a, "empty response");
		return (rc == 0 ? 0 : SH_EPROTO);
	}
	if ((root = json_loadb(body, len, 0, &jerr)) == NULL)
		return (llm_acc_fail(a, "invalid JSON: %s", jerr.text));
	if (!json_is_object(root)) {
		json_decref(root);
		return (llm_acc_fail(a, "response is not an object"));
	}
	if (acc_error_obj(a, root)) {
		json_decref(root);
		return (SH_EPROTO);
	}
	switch (style) {
	case LLM_OPENAI:
		rc = llm_openai_read(a, root);
		break;
	case LLM_ANTHROPIC:
		rc = llm_anthropic_read(a, root);
		break;
	case LLM_GEMINI:
		rc = llm_gemini_read(a, root);
		if (rc == 0 && !a->a_saw_stop && a->a_n == 0)
			rc = llm_acc_fail(a, "no candidates in response");
		break;
	default:
		rc = llm_acc_fail(a, "unknown style");
		break;
	}
	json_decref(root);
	return (rc);
}

int
llm_stream_complete(const struct llm_acc *a, enum llm_style style)
{
	switch (style) {
	case LLM_OPENAI:
	case LLM_ANTHROPIC:
		/* [DONE] / message_stop, or at least the stop reason. */
		return (a->a_finished || a->a_saw_stop);
	case LLM_GEMINI:
		/* The stream simply ends; an empty one is not an answer. */
		return (a->a_saw_stop || a->a_n > 0);
	case LLM_OLLAMA:
		return (a->a_finished);
	}
	return (0);
}

/* ---- helpers ------------------------------------------------------------ */

static void
one_line(const char *s, size_t n, char *out, size_t outlen)
{
	size_t	 i, j = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < n && j + 1 < outlen; i++) {
		if (s[i] == '\0')
			break;
		out[j++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ?
		    ' ' : s[i];
	}
	out[j] = '\0';
}

void
llm_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	json_t		*root, *e, *m = NULL;
	size_t		 lim;

	lim = outlen < LLM_PROVIDER_MSG_MAX ? outlen : LLM_PROVIDER_MSG_MAX;
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	if (json_is_array(root) && json_array_size(root) > 0)
		e = json_array_get(root, 0);	/* Gemini sometimes */
	else
		e = root;
	if (json_is_object(e)) {
		m = json_object_get(e, "error");
		if (json_is_object(m))
			m = json_object_get(m, "message");
		if (!json_is_string(m))
			m = json_object_get(e, "message");
		if (!json_is_string(m))
			m = json_object_get(e, "detail");
	} else if (json_is_string(e))
		m = e;
	if (json_is_string(m))
		one_line(json_string_value(m), json_string_length(m), out,
		    lim);
	else
		one_line(body, len, out, lim);
	json_decref(root);
}

const char *
llm_str(const json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "");
}

int
llm_content_text(const json_t *content, struct buf *b)
{
	size_t	 i;
	json_t	*blk;
	int	 rc, n = 0;

	if (json_is_string(content))
		return (buf_add(b, json_string_value(content),
		    json_string_length(content)));
	json_array_foreach(content, i, blk) {
		if (strcmp(llm_str(blk, "type"), "text") != 0)
			continue;
		if (n++ > 0 && (rc = buf_add(b, "\n", 1)) != 0)
			return (rc);
		if ((rc = buf_adds(b, llm_str(blk, "text"))) != 0)
			return (rc);
	}
	if (b->b_data == NULL && (rc = buf_add(b, "", 1)) == 0)
		b->b_len = 0;
	return (0);
}

int
llm_system_text(const json_t *req, struct buf *sys)
{
	const json_t	*msgs = json_object_get(req, "messages");
	json_t		*v;
	const char	*s;
	size_t		 i;
	int		 rc;

	s = json_string_value(json_object_get(req, "system"));
	if (s != NULL && (rc = buf_adds(sys, s)) != 0)
		return (rc);
	json_array_foreach(msgs, i, v) {
		if (strcmp(llm_str(v, "role"), "system") != 0)
			continue;
		if (sys->b_len > 0 && (rc = buf_add(sys, "\n\n", 2)) != 0)
			return (rc);
		if ((rc = llm_content_text(json_object_get(v, "content"),
		    sys)) != 0)
			return (rc);
	}
	return (0);
}

json_t *
llm_result_text(const json_t *blk)
{
	json_t		*c = json_object_get(blk, "content");
	struct buf	 b = BUF_INIT(LLM_MAX_RESPONSE);
	json_t		*r;
	char		*d;

	if (json_is_string(c))
		return (json_incref(c));
	if (json_is_array(c)) {
		if (llm_content_text(c, &b) != 0)
			return (NULL);
		r = json_stringn(b.b_data ? b.b_data : "", b.b_len);
		buf_release(&b);
		return (r);
	}
	if (c == NULL || json_is_null(c))
		return (json_string(""));
	if ((d = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (NULL);
	r = json_string(d);
	free(d);
	return (r);
}

json_t *
llm_tool_schema(const json_t *tool)
{
	json_t	*c = json_object_get(tool, "input_schema");

	return (c != NULL ? json_incref(c) : json_pack("{s:s, s:{}}", "type",
	    "object", "properties"));
}

int
llm_function_tools(json_t *body, const json_t *req)
{
	json_t	*tools = json_object_get(req, "tools"), *tl, *v;
	size_t	 i;

	if (!json_is_array(tools) || json_array_size(tools) == 0)
		return (0);
	if ((tl = json_array()) == NULL ||
	    json_object_set_new(body, "tools", tl) != 0)
		return (-1);
	json_array_foreach(tools, i, v) {
		if (json_array_append_new(tl, json_pack("{s:s, s:{s:s, s:s, "
		    "s:o}}", "type", "function", "function", "name",
		    llm_str(v, "name"), "description", llm_str(v, "description"),
		    "parameters", llm_tool_schema(v))) != 0)
			return (-1);
	}
	return (0);
}

char *
llm_url_join(const char *base, const char *suffix)
{
	size_t	 n = strlen(base);
	char	*u;
	size_t	 sl = strlen(suffix);

	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((u = malloc(n + sl + 1)) == NULL)
		return (NULL);
	memcpy(u, base, n);
	memcpy(u + n, suffix, sl + 1);
	return (u);
}

int
llm_hdr_add(struct curl_slist **l, const char *name, const char *value)
{
	struct buf	 b = BUF_INIT(16384);
	struct curl_slist *n;

	if (buf_addf(&b, "%s: %s", name, value) != 0)
		return (SH_ENOMEM);
	n = curl_slist_append(*l, b.b_data);
	explicit_bzero(b.b_data, b.b_len);
	buf_release(&b);
	if (n == NULL)
		return (SH_ENOMEM);
	*l = n;
	return (0);
}

void
llm_wire_release(struct llm_wire *w)
{
	struct curl_slist *l;

	for (l = w->w_hdrs; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(w->w_hdrs);
	free(w->w_url);
	free(w->w_body);
	memset(w, 0, sizeof(*w));
}
