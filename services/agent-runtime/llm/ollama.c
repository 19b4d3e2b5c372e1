/*
 * llm/ollama.c - Ollama's native /api/chat (NDJSON streaming; notes 6.5).
 * Ollama's OpenAI-compatible /v1 goes through llm/openai.c instead.
 *
 * Messages are OpenAI-like, but tool-call arguments are objects, images
 * are a list of base64 strings on the message, tool results are role
 * "tool" messages with tool_name, and the reply's lines carry message
 * pieces until one says "done": true.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"

static int
ollama_message(json_t *msgs, const char *role, json_t *c)
{
	json_t		*m = NULL, *images = NULL, *calls = NULL, *blk, *in;
	struct buf	 text = BUF_INIT(LLM_MAX_RESPONSE);
	struct buf	 rt = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*type;
	size_t		 i;
	int		 ret = SH_ENOMEM;

	if ((images = json_array()) == NULL || (calls = json_array()) == NULL)
		goto done;
	if (json_is_string(c) && buf_add(&text, json_string_value(c),
	    json_string_length(c)) != 0)
		goto done;
	json_array_foreach(c, i, blk) {
		type = llm_str(blk, "type");
		if (strcmp(type, "text") == 0) {
			if (text.b_len > 0 && buf_add(&text, "\n", 1) != 0)
				goto done;
			if (buf_adds(&text, llm_str(blk, "text")) != 0)
				goto done;
		} else if (strcmp(type, "image") == 0) {
			if (json_array_append_new(images,
			    json_string(llm_str(blk, "data"))) != 0)
				goto done;
		} else if (strcmp(type, "tool_use") == 0) {
			in = json_object_get(blk, "input");
			if (json_array_append_new(calls, json_pack("{s:{s:s, "
			    "s:o}}", "function", "name", llm_str(blk, "name"),
			    "arguments", json_is_object(in) ? json_incref(in) :
			    json_object())) != 0)
				goto done;
		} else if (strcmp(type, "tool_result") == 0) {
			buf_reset(&rt);
			if (json_is_string(json_object_get(blk, "content"))) {
				if (buf_adds(&rt, llm_str(blk, "content")) != 0)
					goto done;
			} else if (llm_content_text(json_object_get(blk,
			    "content"), &rt) != 0)
				goto done;
			if (json_array_append_new(msgs, json_pack("{s:s, s:s%, "
			    "s:s}", "role", "tool", "content",
			    rt.b_data ? rt.b_data : "", rt.b_len, "tool_name",
			    llm_str(blk, "tool_name"))) != 0)
				goto done;
		}
	}
	if (text.b_len == 0 && json_array_size(images) == 0 &&
	    json_array_size(calls) == 0) {
		ret = 0;
		goto done;
	}
	if ((m = json_pack("{s:s, s:s%}", "role", role, "content",
	    text.b_data ? text.b_data : "", text.b_len)) == NULL)
		goto done;
	if (json_array_size(images) > 0 &&
	    json_object_set(m, "images", images) != 0)
		goto done;
	if (json_array_size(calls) > 0 &&
	    json_object_set(m, "tool_calls", calls) != 0)
		goto done;
	if (json_array_append(msgs, m) != 0)
		goto done;
	ret = 0;
 done:
	json_decref(m);
	json_decref(images);
	json_decref(calls);
	buf_release(&text);
	buf_release(&rt);
	return (ret);
}

json_t *
llm_ollama_body(const json_t *req, const struct llm_target *t, int stream,
    char *err, size_t errlen)
{
	json_t		*body = NULL, *msgs, *m, *v, *opt;
	const char	*role;
	size_t		 i;

	if ((msgs = llm_req_messages(req, err, errlen)) == NULL)
		return (NULL);
	if ((body = llm_chat_body(req, t, &m)) == NULL ||
	    json_object_set_new(body, "stream", json_boolean(stream)) != 0)
		goto nomem;
	json_array_foreach(msgs, i, v) {
		role = llm_str(v, "role");
		if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
		    strcmp(role, "assistant") != 0)
			continue;
		if (ollama_message(m, role, json_object_get(v, "content")) != 0)
			goto nomem;
	}
	if (llm_function_tools(body, req) != 0)
		goto nomem;
	if ((opt = json_object()) == NULL ||
	    json_object_set_new(body, "options", opt) != 0)
		goto nomem;
	if (json_is_integer(v = json_object_get(req, "max_tokens")) &&
	    json_object_set(opt, "num_predict", v) != 0)
		goto nomem;
	if (json_is_number(v = json_object_get(req, "temperature")) &&
	    json_object_set(opt, "temperature", v) != 0)
		goto nomem;
	if (json_object_size(opt) == 0)
		json_object_del(body, "options");
	if (json_is_object(v = json_object_get(req, "extra_body")) &&
	    json_object_update(body, v) != 0)
		goto nomem;
	return (body);
 nomem:
	json_decref(body);
	snprintf(err, errlen, "out of memory building the request");
	return (NULL);
}

static int
ollama_read(struct llm_acc *a, const json_t *root)
{
	json_t		*m, *s, *calls, *tc, *fn, *args;
	struct llm_block *b;
	const char	*dr;
	size_t		 i;
	int		 rc;

	m = json_object_get(root, "message");
	if (m == NULL && json_object_get(root, "done") == NULL)
		return (llm_acc_fail(a, "no message in response line"));
	s = json_object_get(m, "thinking");
	if (json_is_string(s) && (rc = llm_acc_text(a, LLM_K_THINKING, -1,
	    json_string_value(s), json_string_length(s))) != 0)
		return (rc);
	s = json_object_get(m, "content");
	if (json_is_string(s) && (rc = llm_acc_text(a, LLM_K_TEXT, -1,
	    json_string_value(s), json_string_length(s))) != 0)
		return (rc);
	calls = json_object_get(m, "tool_calls");
	json_array_foreach(calls, i, tc) {
		fn = json_object_get(tc, "function");
		if ((b = llm_acc_tool(a, -1, json_string_value(
		    json_object_get(tc, "id")), llm_str(fn, "name"))) == NULL)
			return (SH_ENOMEM);
		args = json_object_get(fn, "arguments");
		if (json_is_string(args)) {
			if ((rc = buf_add(&b->lb_text, json_string_value(args),
			    json_string_length(args))) != 0)
				return (rc);
		} else
			b->lb_input = args != NULL ? json_incref(args) :
			    json_object();
		llm_acc_end(a, -1);
	}
	if (json_is_true(json_object_get(root, "done"))) {
		a->a_finished = 1;
		dr = json_string_value(json_object_get(root, "done_reason"));
		a->a_saw_stop = 1;
		snprintf(a->a_stop, sizeof(a->a_stop), "%s",
		    dr != NULL && strcmp(dr, "length") == 0 ? LLM_STOP_MAX :
		    LLM_STOP_END);
		a->a_in = json_integer_value(json_object_get(root,
		    "prompt_eval_count"));
		a->a_out = json_integer_value(json_object_get(root,
		    "eval_count"));
	}
	return (0);
}

static int
ollama_event(struct llm_acc *a, const char *event, const json_t *line)
{
	(void)event;
	return (ollama_read(a, line));
}

/* The last line says "done": true. */
static int
ollama_complete(const struct llm_acc *a)
{
	return (a->a_finished);
}

static int
ollama_endpoint(const struct llm_target *t, int stream, struct llm_wire *w)
{
	char	*base;

	(void)stream;
	if ((base = llm_ollama_native(t->t_base_url)) == NULL)
		return (SH_ENOMEM);
	w->w_url = llm_url_join(base, "/api/chat");
	free(base);
	if (w->w_url == NULL)
		return (SH_ENOMEM);
	return (llm_hdr_bearer(&w->w_hdrs, t->t_api_key));
}

const struct llm_driver llm_ollama = {
	.d_name = "ollama",
	.d_ndjson = 1,
	.d_body = llm_ollama_body,
	.d_endpoint = ollama_endpoint,
	.d_read = ollama_read,
	.d_event = ollama_event,
	.d_complete = ollama_complete,
};
