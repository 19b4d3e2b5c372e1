/*
 * llm/anthropic.c - the Anthropic Messages wire style (notes 6.5).
 *
 * The canonical format is already Anthropic's in shape: the system prompt
 * (and any system-role message) goes in "system", blocks map one to one,
 * empty text blocks are dropped (the API refuses them), and thinking
 * blocks go back only with the signature they came with (kept in
 * provider_metadata.signature).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"

#define ANTHROPIC_VERSION	"2023-06-01"
#define ANTHROPIC_MAX_TOKENS	4096	/* required on the wire */

static json_t *
anthropic_result(json_t *blk)
{
	json_t	*r;

	if ((r = llm_result_text(blk)) == NULL)
		return (NULL);
	return (json_pack("{s:s, s:s, s:o, s:b}", "type", "tool_result",
	    "tool_use_id", llm_str(blk, "tool_use_id"), "content", r,
	    "is_error", json_is_true(json_object_get(blk, "is_error"))));
}

/* One canonical block on the wire (new), or NULL to drop it (*nomem set
 * when that is for lack of memory). */
static json_t *
anthropic_block(json_t *blk, int *nomem)
{
	const char	*type = llm_str(blk, "type");
	json_t		*in, *sig, *r = NULL;

	*nomem = 0;
	if (strcmp(type, "text") == 0) {
		if (*llm_str(blk, "text") == '\0')
			return (NULL);
		r = json_pack("{s:s, s:s}", "type", "text", "text",
		    llm_str(blk, "text"));
	} else if (strcmp(type, "image") == 0) {
		r = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "image",
		    "source", "type", "base64", "media_type",
		    llm_str(blk, "media_type"), "data", llm_str(blk, "data"));
	} else if (strcmp(type, "tool_use") == 0) {
		in = json_object_get(blk, "input");
		r = json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use",
		    "id", llm_str(blk, "id"), "name", llm_str(blk, "name"),
		    "input", json_is_object(in) ? json_incref(in) :
		    json_object());
	} else if (strcmp(type, "tool_result") == 0) {
		r = anthropic_result(blk);
	} else if (strcmp(type, "thinking") == 0) {
		sig = json_object_get(json_object_get(blk,
		    "provider_metadata"), "signature");
		if (!json_is_string(sig))
			return (NULL);
		r = json_pack("{s:s, s:s, s:O}", "type", "thinking",
		    "thinking", llm_str(blk, "thinking"), "signature", sig);
	} else
		return (NULL);
	if (r == NULL)
		*nomem = 1;
	return (r);
}

json_t *
llm_anthropic_body(const json_t *req, const struct llm_target *t, int stream,
    char *err, size_t errlen)
{
	json_t		*body = NULL, *msgs, *m, *c, *v, *x, *blocks, *wb;
	json_t		*tl;
	struct buf	 sys = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*role;
	size_t		 i, j;
	int		 nomem;

	if ((msgs = llm_req_messages(req, err, errlen)) == NULL)
		return (NULL);
	v = json_object_get(req, "max_tokens");
	if ((body = json_pack("{s:s, s:I, s:[]}", "model", t->t_model,
	    "max_tokens", json_is_integer(v) ? json_integer_value(v) :
	    (json_int_t)ANTHROPIC_MAX_TOKENS, "messages")) == NULL)
		goto nomem;
	m = json_object_get(body, "messages");
	if (llm_system_text(req, &sys) != 0)
		goto nomem;
	json_array_foreach(msgs, i, v) {
		role = llm_str(v, "role");
		c = json_object_get(v, "content");
		if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
			continue;
		if (json_is_string(c)) {
			if (json_string_length(c) == 0)
				continue;
			if (json_array_append_new(m, json_pack("{s:s, s:O}",
			    "role", role, "content", c)) != 0)
				goto nomem;
			continue;
		}
		if (!json_is_array(c) || (blocks = json_array()) == NULL)
			continue;
		json_array_foreach(c, j, x) {
			if ((wb = anthropic_block(x, &nomem)) == NULL) {
				if (nomem) {
					json_decref(blocks);
					goto nomem;
				}
				continue;
			}
			if (json_array_append_new(blocks, wb) != 0) {
				json_decref(blocks);
				goto nomem;
			}
		}
		if (json_array_size(blocks) == 0) {
			json_decref(blocks);
			continue;
		}
		if (json_array_append_new(m, json_pack("{s:s, s:o}", "role",
		    role, "content", blocks)) != 0)
			goto nomem;
	}
	if (sys.b_len > 0 && json_object_set_new(body, "system",
	    json_stringn(sys.b_data, sys.b_len)) != 0)
		goto nomem;
	v = json_object_get(req, "tools");
	if (json_is_array(v) && json_array_size(v) > 0) {
		if ((tl = json_array()) == NULL ||
		    json_object_set_new(body, "tools", tl) != 0)
			goto nomem;
		json_array_foreach(v, i, x) {
			if (json_array_append_new(tl, json_pack("{s:s, s:s, "
			    "s:o}", "name", llm_str(x, "name"), "description",
			    llm_str(x, "description"), "input_schema",
			    llm_tool_schema(x))) != 0)
				goto nomem;
		}
	}
	if ((v = json_object_get(req, "temperature")) != NULL &&
	    json_is_number(v) && json_object_set(body, "temperature", v) != 0)
		goto nomem;
	if (json_is_object(v = json_object_get(req, "thinking")) &&
	    json_object_set(body, "thinking", v) != 0)
		goto nomem;
	if (stream && json_object_set_new(body, "stream", json_true()) != 0)
		goto nomem;
	if (json_is_object(v = json_object_get(req, "extra_body")) &&
	    json_object_update(body, v) != 0)
		goto nomem;
	buf_release(&sys);
	return (body);
 nomem:
	buf_release(&sys);
	json_decref(body);
	snprintf(err, errlen, "out of memory building the request");
	return (NULL);
}

static void
anthropic_stop(struct llm_acc *a, const char *sr)
{
	if (sr == NULL)
		return;
	a->a_saw_stop = 1;
	if (strcmp(sr, "refusal") == 0)
		sr = LLM_STOP_FILTER;
	else if (strcmp(sr, LLM_STOP_END) != 0 &&
	    strcmp(sr, LLM_STOP_TOOL) != 0 && strcmp(sr, LLM_STOP_MAX) != 0 &&
	    strcmp(sr, LLM_STOP_SEQ) != 0)
		sr = "";
	snprintf(a->a_stop, sizeof(a->a_stop), "%s", sr);
}

static void
anthropic_usage(struct llm_acc *a, const json_t *u)
{
	json_t	*v;

	if (!json_is_object(u))
		return;
	if (json_is_integer(v = json_object_get(u, "input_tokens")))
		a->a_in = json_integer_value(v);
	if (json_is_integer(v = json_object_get(u, "output_tokens")))
		a->a_out = json_integer_value(v);
	if (json_is_integer(v = json_object_get(u,
	    "cache_creation_input_tokens")))
		a->a_cache_w = json_integer_value(v);
	if (json_is_integer(v = json_object_get(u, "cache_read_input_tokens")))
		a->a_cache_r = json_integer_value(v);
}

static int
anthropic_read(struct llm_acc *a, const json_t *root)
{
	json_t		*content, *blk, *v;
	struct llm_block *b;
	const char	*type;
	size_t		 i;
	int		 rc;

	content = json_object_get(root, "content");
	if (!json_is_array(content))
		return (llm_acc_fail(a, "no content in response"));
	json_array_foreach(content, i, blk) {
		type = llm_str(blk, "type");
		if (strcmp(type, "text") == 0) {
			if ((rc = llm_acc_open(a, LLM_K_TEXT, (int)i)) != 0 ||
			    (rc = llm_acc_text(a, LLM_K_TEXT, (int)i,
			    llm_str(blk, "text"),
			    strlen(llm_str(blk, "text")))) != 0)
				return (rc);
		} else if (strcmp(type, "thinking") == 0) {
			if ((rc = llm_acc_open(a, LLM_K_THINKING,
			    (int)i)) != 0 || (rc = llm_acc_text(a,
			    LLM_K_THINKING, (int)i, llm_str(blk, "thinking"),
			    strlen(llm_str(blk, "thinking")))) != 0)
				return (rc);
			if (json_is_string(v = json_object_get(blk,
			    "signature")) && (rc = llm_acc_meta(a,
			    LLM_K_THINKING, (int)i, "signature", v)) != 0)
				return (rc);
		} else if (strcmp(type, "tool_use") == 0) {
			if ((b = llm_acc_tool(a, (int)i, llm_str(blk, "id"),
			    llm_str(blk, "name"))) == NULL)
				return (SH_ENOMEM);
			v = json_object_get(blk, "input");
			b->lb_input = json_incref(v);
		}
	}
	anthropic_stop(a, json_string_value(json_object_get(root,
	    "stop_reason")));
	anthropic_usage(a, json_object_get(root, "usage"));
	return (0);
}

static int
anthropic_event(struct llm_acc *a, const char *event, const json_t *data)
{
	const char	*type = json_string_value(json_object_get(data, "type"));
	json_t		*cb, *d, *v;
	int		 idx, rc;

	if (type == NULL)
		type = event != NULL ? event : "";
	idx = (int)json_integer_value(json_object_get(data, "index"));
	if (idx < 0 || idx > 100000)
		return (llm_acc_fail(a, "bad content block index"));
	if (strcmp(type, "message_start") == 0) {
		anthropic_usage(a, json_object_get(json_object_get(data,
		    "message"), "usage"));
	} else if (strcmp(type, "content_block_start") == 0) {
		cb = json_object_get(data, "content_block");
		type = llm_str(cb, "type");
		if (strcmp(type, "text") == 0) {
			if ((rc = llm_acc_open(a, LLM_K_TEXT, idx)) != 0)
				return (rc);
			v = json_object_get(cb, "text");
			return (llm_acc_text(a, LLM_K_TEXT, idx,
			    llm_str(cb, "text"), json_string_length(v)));
		} else if (strcmp(type, "thinking") == 0) {
			if ((rc = llm_acc_open(a, LLM_K_THINKING, idx)) != 0)
				return (rc);
		} else if (strcmp(type, "tool_use") == 0) {
			if (llm_acc_tool(a, idx, llm_str(cb, "id"),
			    llm_str(cb, "name")) == NULL)
				return (SH_ENOMEM);
		}
	} else if (strcmp(type, "content_block_delta") == 0) {
		d = json_object_get(data, "delta");
		type = llm_str(d, "type");
		if (strcmp(type, "text_delta") == 0) {
			v = json_object_get(d, "text");
			return (llm_acc_text(a, LLM_K_TEXT, idx,
			    llm_str(d, "text"), json_string_length(v)));
		} else if (strcmp(type, "thinking_delta") == 0) {
			v = json_object_get(d, "thinking");
			return (llm_acc_text(a, LLM_K_THINKING, idx,
			    llm_str(d, "thinking"), json_string_length(v)));
		} else if (strcmp(type, "input_json_delta") == 0) {
			v = json_object_get(d, "partial_json");
			return (llm_acc_tool_args(a, idx,
			    llm_str(d, "partial_json"),
			    json_string_length(v)));
		} else if (strcmp(type, "signature_delta") == 0) {
			v = json_object_get(d, "signature");
			if (json_is_string(v))
				return (llm_acc_meta(a, LLM_K_THINKING, idx,
				    "signature", v));
		}
	} else if (strcmp(type, "content_block_stop") == 0) {
		llm_acc_end(a, idx);
	} else if (strcmp(type, "message_delta") == 0) {
		anthropic_stop(a, json_string_value(json_object_get(
		    json_object_get(data, "delta"), "stop_reason")));
		anthropic_usage(a, json_object_get(data, "usage"));
	} else if (strcmp(type, "message_stop") == 0) {
		a->a_finished = 1;
	}
	return (0);
}

static int
anthropic_endpoint(const struct llm_target *t, int stream, struct llm_wire *w)
{
	(void)stream;
	if ((w->w_url = llm_url_join(t->t_base_url,
	    llm_url_ends(t->t_base_url, "/v1") ? "/messages" :
	    "/v1/messages")) == NULL)
		return (SH_ENOMEM);
	if (t->t_api_key != NULL && *t->t_api_key != '\0' &&
	    llm_hdr_add(&w->w_hdrs, "x-api-key", t->t_api_key) != 0)
		return (SH_ENOMEM);
	return (llm_hdr_add(&w->w_hdrs, "anthropic-version",
	    ANTHROPIC_VERSION));
}

const struct llm_driver llm_anthropic = {
	.d_name = "anthropic",
	.d_ping = "ping",
	.d_body = llm_anthropic_body,
	.d_endpoint = anthropic_endpoint,
	.d_read = anthropic_read,
	.d_event = anthropic_event,
	.d_complete = llm_stream_done,
};
