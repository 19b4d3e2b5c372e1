/*
 * llm/gemini.c - the Gemini generateContent wire style (notes 6.5).
 *
 * Roles are "user" and "model"; the system prompt goes in
 * systemInstruction; a tool call is a functionCall part and its result a
 * functionResponse part of a user turn, named after the call (Gemini has
 * no call ids, so ids are made up as call_<hex>).  A part's
 * thoughtSignature is kept in the block's provider_metadata and sent back
 * on the same part.  Streaming (streamGenerateContent?alt=sse) sends
 * whole response objects, each carrying the next parts, so one reader
 * serves both forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"
#include "util.h"

/* JSON Schema keywords Gemini's OpenAPI subset refuses. */
static void
gemini_schema_clean(json_t *s)
{
	static const char *const drop[] = { "$schema", "$id",
	    "additionalProperties", "$defs", "definitions" };
	const char	*k;
	json_t		*v;
	size_t		 i;
	void		*tmp;

	if (json_is_array(s)) {
		json_array_foreach(s, i, v)
			gemini_schema_clean(v);
		return;
	}
	if (!json_is_object(s))
		return;
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		json_object_del(s, drop[i]);
	json_object_foreach_safe(s, tmp, k, v)
		gemini_schema_clean(v);
}

static json_t *
gemini_sig(json_t *part, json_t *blk)
{
	json_t	*sig = json_object_get(json_object_get(blk,
	    "provider_metadata"), "thoughtSignature");

	if (part != NULL && json_is_string(sig) &&
	    json_object_set(part, "thoughtSignature", sig) != 0) {
		json_decref(part);
		return (NULL);
	}
	return (part);
}

static json_t *
gemini_result(json_t *blk, json_t *names)
{
	const char	*name = llm_str(blk, "tool_name");
	json_t		*r;

	if (*name == '\0')
		name = llm_str(names, llm_str(blk, "tool_use_id"));
	if ((r = llm_result_text(blk)) == NULL)
		return (NULL);
	return (json_pack("{s:{s:s, s:{s:o}}}", "functionResponse", "name",
	    name, "response", json_is_true(json_object_get(blk, "is_error")) ?
	    "error" : "content", r));
}

/* The parts of one canonical message (new), or NULL on ENOMEM. */
static json_t *
gemini_parts(json_t *c, json_t *names)
{
	json_t		*parts, *blk, *p, *in;
	const char	*type;
	size_t		 i;

	if ((parts = json_array()) == NULL)
		return (NULL);
	if (json_is_string(c)) {
		if (json_string_length(c) > 0 && json_array_append_new(parts,
		    json_pack("{s:O}", "text", c)) != 0)
			goto nomem;
		return (parts);
	}
	json_array_foreach(c, i, blk) {
		type = llm_str(blk, "type");
		p = NULL;
		if (strcmp(type, "text") == 0) {
			if (*llm_str(blk, "text") == '\0' &&
			    json_object_get(blk, "provider_metadata") == NULL)
				continue;
			p = gemini_sig(json_pack("{s:s}", "text",
			    llm_str(blk, "text")), blk);
		} else if (strcmp(type, "image") == 0) {
			p = json_pack("{s:{s:s, s:s}}", "inlineData",
			    "mimeType", llm_str(blk, "media_type"), "data",
			    llm_str(blk, "data"));
		} else if (strcmp(type, "tool_use") == 0) {
			in = json_object_get(blk, "input");
			p = gemini_sig(json_pack("{s:{s:s, s:o}}",
			    "functionCall", "name", llm_str(blk, "name"),
			    "args", json_is_object(in) ? json_incref(in) :
			    json_object()), blk);
		} else if (strcmp(type, "tool_result") == 0) {
			p = gemini_result(blk, names);
		} else if (strcmp(type, "thinking") == 0) {
			if (json_object_get(json_object_get(blk,
			    "provider_metadata"), "thoughtSignature") == NULL)
				continue;
			p = gemini_sig(json_pack("{s:s, s:b}", "text",
			    llm_str(blk, "thinking"), "thought", 1), blk);
		} else
			continue;
		if (p == NULL || json_array_append_new(parts, p) != 0)
			goto nomem;
	}
	return (parts);
 nomem:
	json_decref(parts);
	return (NULL);
}

json_t *
llm_gemini_body(const json_t *req, const struct llm_target *t, int stream,
    char *err, size_t errlen)
{
	json_t		*body = NULL, *msgs, *contents, *names = NULL, *v, *c;
	json_t		*blk, *parts, *decls, *x, *gc, *props;
	struct buf	 sys = BUF_INIT(LLM_MAX_RESPONSE);
	const char	*role;
	size_t		 i, j;

	(void)t;
	(void)stream;
	if ((msgs = llm_req_messages(req, err, errlen)) == NULL)
		return (NULL);
	/* Tool names by call id, for results that lack tool_name. */
	if ((names = json_object()) == NULL)
		goto nomem;
	json_array_foreach(msgs, i, v) {
		json_array_foreach(json_object_get(v, "content"), j, blk)
			if (strcmp(llm_str(blk, "type"), "tool_use") == 0 &&
			    json_object_set_new(names, llm_str(blk, "id"),
			    json_string(llm_str(blk, "name"))) != 0)
				goto nomem;
	}
	if ((body = json_pack("{s:[]}", "contents")) == NULL)
		goto nomem;
	contents = json_object_get(body, "contents");
	if (llm_system_text(req, &sys) != 0)
		goto nomem;
	json_array_foreach(msgs, i, v) {
		role = llm_str(v, "role");
		c = json_object_get(v, "content");
		if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
			continue;
		if ((parts = gemini_parts(c, names)) == NULL)
			goto nomem;
		if (json_array_size(parts) == 0) {
			json_decref(parts);
			continue;
		}
		if (json_array_append_new(contents, json_pack("{s:s, s:o}",
		    "role", strcmp(role, "user") == 0 ? "user" : "model",
		    "parts", parts)) != 0)
			goto nomem;
	}
	if (sys.b_len > 0 && json_object_set_new(body, "systemInstruction",
	    json_pack("{s:[{s:s%}]}", "parts", "text", sys.b_data,
	    sys.b_len)) != 0)
		goto nomem;
	v = json_object_get(req, "tools");
	if (json_is_array(v) && json_array_size(v) > 0) {
		if ((decls = json_array()) == NULL ||
		    json_object_set_new(body, "tools", json_pack("[{s:o}]",
		    "functionDeclarations", decls)) != 0)
			goto nomem;
		json_array_foreach(v, i, x) {
			if ((blk = json_pack("{s:s, s:s}", "name",
			    llm_str(x, "name"), "description",
			    llm_str(x, "description"))) == NULL ||
			    json_array_append_new(decls, blk) != 0)
				goto nomem;
			c = json_object_get(x, "input_schema");
			props = json_object_get(c, "properties");
			if (!json_is_object(props) || json_object_size(props) == 0)
				continue;
			if ((c = json_deep_copy(c)) == NULL)
				goto nomem;
			gemini_schema_clean(c);
			if (json_object_set_new(blk, "parameters", c) != 0)
				goto nomem;
		}
	}
	if ((gc = json_object()) == NULL ||
	    json_object_set_new(body, "generationConfig", gc) != 0)
		goto nomem;
	if (json_is_integer(v = json_object_get(req, "max_tokens")) &&
	    json_object_set(gc, "maxOutputTokens", v) != 0)
		goto nomem;
	if (json_is_number(v = json_object_get(req, "temperature")) &&
	    json_object_set(gc, "temperature", v) != 0)
		goto nomem;
	if (json_object_size(gc) == 0)
		json_object_del(body, "generationConfig");
	if (json_is_object(v = json_object_get(req, "extra_body")) &&
	    json_object_update(body, v) != 0)
		goto nomem;
	json_decref(names);
	buf_release(&sys);
	return (body);
 nomem:
	json_decref(names);
	buf_release(&sys);
	json_decref(body);
	snprintf(err, errlen, "out of memory building the request");
	return (NULL);
}

static void
gemini_stop(struct llm_acc *a, const char *fr)
{
	static const char *const filtered[] = { "SAFETY", "RECITATION",
	    "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY" };
	const char	*s = "";
	size_t		 i;

	if (fr == NULL)
		return;
	a->a_saw_stop = 1;
	if (strcmp(fr, "STOP") == 0)
		s = LLM_STOP_END;
	else if (strcmp(fr, "MAX_TOKENS") == 0)
		s = LLM_STOP_MAX;
	for (i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
		if (strcmp(fr, filtered[i]) == 0)
			s = LLM_STOP_FILTER;
	snprintf(a->a_stop, sizeof(a->a_stop), "%s", s);
}

static int
gemini_call(struct llm_acc *a, json_t *part)
{
	json_t		*fc = json_object_get(part, "functionCall");
	json_t		*args = json_object_get(fc, "args"), *sig;
	struct llm_block *b;
	char		 uuid[UTIL_UUID_LEN], id[48];
	const char	*gid = json_string_value(json_object_get(fc, "id"));
	char		*s;
	size_t		 i, j;
	int		 rc;

	if (gid == NULL || *gid == '\0') {
		util_uuid4(uuid);
		memcpy(id, "call_", 5);
		for (i = 0, j = 5; uuid[i] != '\0'; i++)
			if (uuid[i] != '-')
				id[j++] = uuid[i];
		id[j] = '\0';
		gid = id;
	}
	if ((b = llm_acc_tool(a, -1, gid, llm_str(fc, "name"))) == NULL)
		return (SH_ENOMEM);
	b->lb_input = args != NULL ? json_incref(args) : json_object();
	if (b->lb_input == NULL)
		return (SH_ENOMEM);
	if (json_is_string(sig = json_object_get(part, "thoughtSignature"))) {
		if (b->lb_meta == NULL && (b->lb_meta = json_object()) == NULL)
			return (SH_ENOMEM);
		if (json_object_set(b->lb_meta, "thoughtSignature", sig) != 0)
			return (SH_ENOMEM);
	}
	if (a->a_emit != NULL) {
		if ((s = json_dumps(b->lb_input, JSON_COMPACT |
		    JSON_ENCODE_ANY)) == NULL)
			return (SH_ENOMEM);
		rc = llm_acc_tool_args(a, -1, s, strlen(s));
		free(s);
		if (rc != 0)
			return (rc);
	}
	llm_acc_end(a, -1);
	return (0);
}

static int
gemini_read(struct llm_acc *a, const json_t *root)
{
	json_t		*cands, *cand, *parts, *part, *t, *sig, *u, *fb;
	size_t		 i;
	int		 rc, kind;

	cands = json_object_get(root, "candidates");
	if (cands != NULL && !json_is_array(cands))
		return (llm_acc_fail(a, "candidates is not an array"));
	if ((u = json_object_get(root, "usageMetadata")) != NULL) {
		a->a_in = json_integer_value(json_object_get(u,
		    "promptTokenCount"));
		a->a_out = json_integer_value(json_object_get(u,
		    "candidatesTokenCount")) + json_integer_value(
		    json_object_get(u, "thoughtsTokenCount"));
		a->a_cache_r = json_integer_value(json_object_get(u,
		    "cachedContentTokenCount"));
	}
	fb = json_object_get(root, "promptFeedback");
	if (json_array_size(cands) == 0) {
		if (json_is_string(json_object_get(fb, "blockReason"))) {
			a->a_saw_stop = 1;
			snprintf(a->a_stop, sizeof(a->a_stop), "%s",
			    LLM_STOP_FILTER);
		} else if (u == NULL)
			return (llm_acc_fail(a, "no candidates in response"));
		return (0);
	}
	cand = json_array_get(cands, 0);
	parts = json_object_get(json_object_get(cand, "content"), "parts");
	json_array_foreach(parts, i, part) {
		if (json_object_get(part, "functionCall") != NULL) {
			if ((rc = gemini_call(a, part)) != 0)
				return (rc);
			continue;
		}
		kind = json_is_true(json_object_get(part, "thought")) ?
		    LLM_K_THINKING : LLM_K_TEXT;
		t = json_object_get(part, "text");
		if (json_is_string(t) && (rc = llm_acc_text(a, kind, -1,
		    json_string_value(t), json_string_length(t))) != 0)
			return (rc);
		sig = json_object_get(part, "thoughtSignature");
		if (json_is_string(sig) && (rc = llm_acc_meta(a, kind, -1,
		    "thoughtSignature", sig)) != 0)
			return (rc);
	}
	gemini_stop(a, json_string_value(json_object_get(cand,
	    "finishReason")));
	return (0);
}

/* A whole response must have something: a candidate or a stop. */
static int
gemini_read_whole(struct llm_acc *a, const json_t *root)
{
	int	rc;

	if ((rc = gemini_read(a, root)) == 0 && !a->a_saw_stop && a->a_n == 0)
		rc = llm_acc_fail(a, "no candidates in response");
	return (rc);
}

/* Each streamed chunk is a response of its own. */
static int
gemini_event(struct llm_acc *a, const char *event, const json_t *data)
{
	(void)event;
	return (gemini_read(a, data));
}

/* The stream simply ends; an empty one is not an answer. */
static int
gemini_complete(const struct llm_acc *a)
{
	return (a->a_saw_stop || a->a_n > 0);
}

static int
gemini_endpoint(const struct llm_target *t, int stream, struct llm_wire *w)
{
	struct buf	 u = BUF_INIT(16384);
	const char	*model = t->t_model;
	char		*base;
	int		 rc = SH_ENOMEM;

	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	if ((base = llm_url_join(t->t_base_url, "")) == NULL)
		return (SH_ENOMEM);
	if (buf_addf(&u, "%s%s/models/%s:%s", base,
	    llm_url_ends(base, "/v1beta") ? "" : "/v1beta", model,
	    stream ? "streamGenerateContent?alt=sse" : "generateContent") != 0)
		goto done;
	w->w_url = buf_detach(&u);
	if (t->t_api_key != NULL && *t->t_api_key != '\0' &&
	    llm_hdr_add(&w->w_hdrs, "x-goog-api-key", t->t_api_key) != 0)
		goto done;
	rc = 0;
 done:
	buf_release(&u);
	free(base);
	return (rc);
}

const struct llm_driver llm_gemini = {
	.d_name = "gemini",
	.d_body = llm_gemini_body,
	.d_endpoint = gemini_endpoint,
	.d_read = gemini_read_whole,
	.d_event = gemini_event,
	.d_complete = gemini_complete,
};
