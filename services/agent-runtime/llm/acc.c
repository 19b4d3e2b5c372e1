/*
 * llm/acc.c - the accumulator: turns a provider's pieces (whole or
 * streamed) into the canonical blocks of llm/llm.h, emitting the stream
 * events as the pieces arrive, and builds the canonical response.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"
#include "log.h"

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
	char	*s = NULL, *red = NULL;

	/* Parser messages quote what they choke on ("near '...'"), which
	 * may be the provider echoing a key: redacted whole, then cut. */
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s != NULL &&
	    (red = log_redact_text(s, NULL, sizeof(a->a_err) - 1)) != NULL)
		snprintf(a->a_err, sizeof(a->a_err), "%s", red);
	else
		snprintf(a->a_err, sizeof(a->a_err), "out of memory");
	free(s);
	free(red);
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
