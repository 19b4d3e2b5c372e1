/*
 * llm/openai.c - the OpenAI chat-completions wire style (OpenAI, Groq,
 * DeepSeek, OpenRouter, Together, Mistral, xAI, Ollama's /v1, vLLM, LM
 * Studio and every catalog provider that speaks it); notes 6.5.
 *
 * Canonical -> wire: the system prompt is the first "system" message;
 * tool_result blocks of a user message become separate role "tool"
 * messages (placed first, right after the assistant's tool_calls); the
 * assistant's tool_use blocks become tool_calls with the input as a JSON
 * string; thinking blocks are not sent back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"

/* Reasoning models take max_completion_tokens and no temperature. */
static int
openai_reasoning_model(const char *model)
{
	const char	*m = strrchr(model, '/');

	m = m != NULL ? m + 1 : model;
	return (strncmp(m, "o1", 2) == 0 || strncmp(m, "o3", 2) == 0 ||
	    strncmp(m, "o4", 2) == 0 || strncmp(m, "gpt-5", 5) == 0);
}

static int
openai_user(json_t *msgs, const json_t *content)
{
	json_t		*parts = NULL, *blk, *p, *rc;
	struct buf	 text = BUF_INIT(LLM_MAX_RESPONSE);
	struct buf	 url = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*type;
	size_t		 i;
	int		 images = 0, ntext = 0, ret = SH_ENOMEM;

	if ((parts = json_array()) == NULL)
		goto done;
	json_array_foreach(content, i, blk) {
		type = llm_str(blk, "type");
		if (strcmp(type, "tool_result") == 0) {
			if ((rc = llm_result_text(blk)) == NULL)
				goto done;
			if (json_array_append_new(msgs, json_pack("{s:s, s:s, "
			    "s:o}", "role", "tool", "tool_call_id",
			    llm_str(blk, "tool_use_id"), "content", rc)) != 0)
				goto done;
		} else if (strcmp(type, "text") == 0) {
			if (ntext++ > 0 && buf_add(&text, "\n", 1) != 0)
				goto done;
			if (buf_adds(&text, llm_str(blk, "text")) != 0)
				goto done;
			p = json_pack("{s:s, s:s}", "type", "text", "text",
			    llm_str(blk, "text"));
			if (json_array_append_new(parts, p) != 0)
				goto done;
		} else if (strcmp(type, "image") == 0) {
			buf_reset(&url);
			if (buf_addf(&url, "data:%s;base64,%s",
			    llm_str(blk, "media_type"),
			    llm_str(blk, "data")) != 0)
				goto done;
			p = json_pack("{s:s, s:{s:s}}", "type", "image_url",
			    "image_url", "url", url.b_data);
			if (json_array_append_new(parts, p) != 0)
				goto done;
			images++;
		}
	}
	if (images > 0)
		p = json_pack("{s:s, s:O}", "role", "user", "content", parts);
	else if (ntext > 0)
		p = json_pack("{s:s, s:s%}", "role", "user", "content",
		    text.b_data ? text.b_data : "", text.b_len);
	else {
		ret = 0;
		goto done;
	}
	if (json_array_append_new(msgs, p) != 0)
		goto done;
	ret = 0;
 done:
	json_decref(parts);
	buf_release(&text);
	buf_release(&url);
	return (ret);
}

static int
openai_assistant(json_t *msgs, const json_t *content)
{
	json_t		*calls = NULL, *blk, *m = NULL;
	struct buf	 text = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*type;
	char		*args;
	size_t		 i;
	int		 ntext = 0, ret = SH_ENOMEM;

	if ((calls = json_array()) == NULL)
		goto done;
	json_array_foreach(content, i, blk) {
		type = llm_str(blk, "type");
		if (strcmp(type, "text") == 0) {
			if (ntext++ > 0 && buf_add(&text, "\n", 1) != 0)
				goto done;
			if (buf_adds(&text, llm_str(blk, "text")) != 0)
				goto done;
		} else if (strcmp(type, "tool_use") == 0) {
			json_t	*in = json_object_get(blk, "input");

			args = in != NULL ? json_dumps(in, JSON_COMPACT) :
			    strdup("{}");
			if (args == NULL)
				goto done;
			if (json_array_append_new(calls, json_pack("{s:s, s:s, "
			    "s:{s:s, s:s}}", "id", llm_str(blk, "id"), "type",
			    "function", "function", "name",
			    llm_str(blk, "name"), "arguments", args)) != 0) {
				free(args);
				goto done;
			}
			free(args);
		}
	}
	if (ntext == 0 && json_array_size(calls) == 0) {
		ret = 0;
		goto done;
	}
	if (ntext > 0)
		m = json_pack("{s:s, s:s%}", "role", "assistant", "content",
		    text.b_data ? text.b_data : "", text.b_len);
	else
		m = json_pack("{s:s, s:n}", "role", "assistant", "content");
	if (m == NULL)
		goto done;
	if (json_array_size(calls) > 0 &&
	    json_object_set(m, "tool_calls", calls) != 0)
		goto done;
	if (json_array_append(msgs, m) != 0)
		goto done;
	ret = 0;
 done:
	json_decref(m);
	json_decref(calls);
	buf_release(&text);
	return (ret);
}

json_t *
llm_openai_body(const json_t *req, const struct llm_target *t, int stream,
    char *err, size_t errlen)
{
	json_t		*body = NULL, *msgs, *m, *c, *v;
	struct buf	 b = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*role;
	size_t		 i;

	if ((msgs = llm_req_messages(req, err, errlen)) == NULL)
		return (NULL);
	if ((body = llm_chat_body(req, t, &m)) == NULL)
		goto nomem;
	json_array_foreach(msgs, i, v) {
		role = llm_str(v, "role");
		c = json_object_get(v, "content");
		if (strcmp(role, "system") == 0 ||
		    (json_is_string(c) && (strcmp(role, "user") == 0 ||
		    strcmp(role, "assistant") == 0))) {
			buf_reset(&b);
			if (llm_content_text(c, &b) != 0)
				goto nomem;
			if (json_array_append_new(m, json_pack("{s:s, s:s%}",
			    "role", role, "content", b.b_data ? b.b_data : "",
			    b.b_len)) != 0)
				goto nomem;
		} else if (!json_is_array(c)) {
			continue;
		} else if (strcmp(role, "assistant") == 0) {
			if (openai_assistant(m, c) != 0)
				goto nomem;
		} else if (strcmp(role, "user") == 0) {
			if (openai_user(m, c) != 0)
				goto nomem;
		}
	}
	if (llm_function_tools(body, req) != 0)
		goto nomem;
	if ((v = json_object_get(req, "max_tokens")) != NULL &&
	    json_is_integer(v) && json_object_set(body,
	    openai_reasoning_model(t->t_model) ? "max_completion_tokens" :
	    "max_tokens", v) != 0)
		goto nomem;
	if ((v = json_object_get(req, "temperature")) != NULL &&
	    json_is_number(v) && !openai_reasoning_model(t->t_model) &&
	    json_object_set(body, "temperature", v) != 0)
		goto nomem;
	if (stream && (json_object_set_new(body, "stream", json_true()) != 0 ||
	    json_object_set_new(body, "stream_options",
	    json_pack("{s:b}", "include_usage", 1)) != 0))
		goto nomem;
	if (json_is_object(v = json_object_get(req, "extra_body")) &&
	    json_object_update(body, v) != 0)
		goto nomem;
	buf_release(&b);
	return (body);
 nomem:
	buf_release(&b);
	json_decref(body);
	snprintf(err, errlen, "out of memory building the request");
	return (NULL);
}

static const char *
openai_stop(const char *fr)
{
	if (strcmp(fr, "stop") == 0)
		return (LLM_STOP_END);
	if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
		return (LLM_STOP_TOOL);
	if (strcmp(fr, "length") == 0)
		return (LLM_STOP_MAX);
	if (strcmp(fr, "content_filter") == 0)
		return (LLM_STOP_FILTER);
	return ("");
}

static void
openai_usage(struct llm_acc *a, const json_t *u)
{
	json_t	*d;

	if (!json_is_object(u))
		return;
	a->a_in = json_integer_value(json_object_get(u, "prompt_tokens"));
	a->a_out = json_integer_value(json_object_get(u, "completion_tokens"));
	d = json_object_get(u, "prompt_tokens_details");
	a->a_cache_r = json_integer_value(json_object_get(d, "cached_tokens"));
}

static int
openai_finish(struct llm_acc *a, const json_t *choice)
{
	const char	*fr;

	fr = json_string_value(json_object_get(choice, "finish_reason"));
	if (fr != NULL) {
		snprintf(a->a_stop, sizeof(a->a_stop), "%s", openai_stop(fr));
		a->a_saw_stop = 1;
	}
	return (0);
}

/* Reasoning text: "reasoning_content" (DeepSeek, vLLM) or "reasoning"
 * (OpenRouter, Ollama). */
static const json_t *
openai_reasoning(const json_t *m)
{
	const json_t	*r = json_object_get(m, "reasoning_content");

	if (!json_is_string(r))
		r = json_object_get(m, "reasoning");
	return (json_is_string(r) ? r : NULL);
}

static int
openai_read(struct llm_acc *a, const json_t *root)
{
	const json_t	*choices, *ch, *m, *s, *calls, *tc, *fn, *args;
	struct llm_block *b;
	size_t		 i;
	int		 rc;

	choices = json_object_get(root, "choices");
	if (!json_is_array(choices) || json_array_size(choices) == 0)
		return (llm_acc_fail(a, "no choices in response"));
	ch = json_array_get(choices, 0);
	m = json_object_get(ch, "message");
	if (!json_is_object(m))
		return (llm_acc_fail(a, "no message in response"));
	if ((s = openai_reasoning(m)) != NULL && (rc = llm_acc_text(a,
	    LLM_K_THINKING, -1, json_string_value(s),
	    json_string_length(s))) != 0)
		return (rc);
	s = json_object_get(m, "content");
	if (json_is_string(s) && (rc = llm_acc_text(a, LLM_K_TEXT, -1,
	    json_string_value(s), json_string_length(s))) != 0)
		return (rc);
	calls = json_object_get(m, "tool_calls");
	json_array_foreach(calls, i, tc) {
		fn = json_object_get(tc, "function");
		b = llm_acc_tool(a, -1, json_string_value(json_object_get(tc,
		    "id")), json_string_value(json_object_get(fn, "name")));
		if (b == NULL)
			return (SH_ENOMEM);
		args = json_object_get(fn, "arguments");
		if (json_is_string(args)) {
			if ((rc = buf_add(&b->lb_text, json_string_value(args),
			    json_string_length(args))) != 0)
				return (rc);
		} else if (args != NULL && !json_is_null(args))
			b->lb_input = json_incref((json_t *)(uintptr_t)args);
	}
	openai_finish(a, ch);
	openai_usage(a, json_object_get(root, "usage"));
	return (0);
}

static int
openai_event(struct llm_acc *a, const char *event, const json_t *chunk)
{
	const json_t	*choices, *ch, *d, *s, *calls, *tc, *fn, *args, *idx;
	size_t		 i;
	int		 rc, key;

	(void)event;
	openai_usage(a, json_object_get(chunk, "usage"));
	choices = json_object_get(chunk, "choices");
	if (!json_is_array(choices) || json_array_size(choices) == 0)
		return (0);
	ch = json_array_get(choices, 0);
	d = json_object_get(ch, "delta");
	if ((s = openai_reasoning(d)) != NULL && (rc = llm_acc_text(a,
	    LLM_K_THINKING, -1, json_string_value(s),
	    json_string_length(s))) != 0)
		return (rc);
	s = json_object_get(d, "content");
	if (json_is_string(s) && (rc = llm_acc_text(a, LLM_K_TEXT, -1,
	    json_string_value(s), json_string_length(s))) != 0)
		return (rc);
	calls = json_object_get(d, "tool_calls");
	json_array_foreach(calls, i, tc) {
		idx = json_object_get(tc, "index");
		key = json_is_integer(idx) ? (int)json_integer_value(idx) :
		    (int)i;
		if (key < 0 || key > 10000)
			return (llm_acc_fail(a, "bad tool call index"));
		fn = json_object_get(tc, "function");
		if (llm_acc_tool(a, key, json_string_value(json_object_get(tc,
		    "id")), json_string_value(json_object_get(fn,
		    "name"))) == NULL)
			return (SH_ENOMEM);
		args = json_object_get(fn, "arguments");
		if (json_is_string(args) && (rc = llm_acc_tool_args(a, key,
		    json_string_value(args), json_string_length(args))) != 0)
			return (rc);
	}
	return (openai_finish(a, ch));
}

static int
openai_endpoint(const struct llm_target *t, int stream, struct llm_wire *w)
{
	(void)stream;
	if ((w->w_url = llm_url_join(t->t_base_url, "/chat/completions")) ==
	    NULL)
		return (SH_ENOMEM);
	return (llm_hdr_bearer(&w->w_hdrs, t->t_api_key));
}

const struct llm_driver llm_openai = {
	.d_name = "openai",
	.d_done = "[DONE]",
	.d_body = llm_openai_body,
	.d_endpoint = openai_endpoint,
	.d_read = openai_read,
	.d_event = openai_event,
	.d_complete = llm_stream_done,
};
