/*
 * t_llm.c - the LLM drivers' pure parts: the SSE parser, canonical
 * request -> each wire body, wire responses and stream chunk sequences ->
 * canonical responses and events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "llm/driver.h"
#include "tap.h"

/* ---- helpers ------------------------------------------------------------- */

static json_t *
J(const char *s)
{
	json_error_t	 e;
	json_t		*v = json_loads(s, JSON_DECODE_ANY, &e);

	if (v == NULL)
		printf("# bad test JSON: %s: %s\n", e.text, s);
	return (v);
}

/* 1 when json_path(v, path) (jq-like ".a.b[0].c") equals the JSON want. */
static json_t *
jget(json_t *v, const char *path)
{
	char		 key[128];
	size_t		 n;
	long		 idx;
	char		*end;

	while (v != NULL && *path != '\0') {
		if (*path == '.') {
			path++;
			n = strcspn(path, ".[");
			if (n >= sizeof(key))
				return (NULL);
			memcpy(key, path, n);
			key[n] = '\0';
			v = json_object_get(v, key);
			path += n;
		} else if (*path == '[') {
			idx = strtol(path + 1, &end, 10);
			if (*end != ']')
				return (NULL);
			v = json_array_get(v, (size_t)idx);
			path = end + 1;
		} else
			return (NULL);
	}
	return (v);
}

static int
jis(json_t *v, const char *path, const char *want)
{
	json_t	*w = J(want), *got = jget(v, path);
	int	 ok = got != NULL && w != NULL && json_equal(got, w);
	char	*s;

	if (!ok) {
		s = got != NULL ? json_dumps(got, JSON_COMPACT |
		    JSON_ENCODE_ANY) : NULL;
		printf("# %s: got %s, expected %s\n", path, s ? s : "(none)",
		    want);
		free(s);
	}
	json_decref(w);
	return (ok);
}

/* A path in a JSON value and the JSON it must be there (NULL: absent). */
struct jwant {
	const char	*jw_path;
	const char	*jw_want;
};

/* 1 when every path of want (ended by a NULL path) is as it says; each
 * one that is not is printed. */
static int
jis_all(json_t *v, const struct jwant *want)
{
	int	ok = 1;

	for (; want->jw_path != NULL; want++)
		if (want->jw_want == NULL ? jget(v, want->jw_path) != NULL :
		    !jis(v, want->jw_path, want->jw_want)) {
			if (want->jw_want == NULL)
				printf("# %s: present, expected absent\n",
				    want->jw_path);
			ok = 0;
		}
	return (ok);
}

static struct llm_target
target(enum llm_style st, const char *model)
{
	struct llm_target t;

	memset(&t, 0, sizeof(t));
	t.t_provider = "p";
	t.t_model = model;
	t.t_base_url = "http://127.0.0.1:9/v1";
	t.t_api_key = "sk-secret-1234";
	t.t_key_env = "P_API_KEY";
	t.t_style = st;
	return (t);
}

/* Events collected from an accumulator. */
static json_t *events;

static void
collect(void *arg, json_t *ev)
{
	(void)arg;
	json_array_append_new(events, ev);
}

/* A conversation with a system prompt, a tool round and an image. */
static const char *CONV =
    "{\"system\": \"You are terse.\","
    " \"messages\": ["
    "  {\"role\": \"user\", \"content\": \"write a file\"},"
    "  {\"role\": \"assistant\", \"content\": ["
    "    {\"type\": \"thinking\", \"thinking\": \"hmm\","
    "     \"provider_metadata\": {\"signature\": \"sig1\","
    "      \"thoughtSignature\": \"ts1\"}},"
    "    {\"type\": \"text\", \"text\": \"Sure.\"},"
    "    {\"type\": \"tool_use\", \"id\": \"call_1\", \"name\": \"file_write\","
    "     \"input\": {\"path\": \"a.txt\"},"
    "     \"provider_metadata\": {\"thoughtSignature\": \"ts2\"}}]},"
    "  {\"role\": \"user\", \"content\": ["
    "    {\"type\": \"tool_result\", \"tool_use_id\": \"call_1\","
    "     \"tool_name\": \"\", \"content\": \"ok\", \"is_error\": false},"
    "    {\"type\": \"text\", \"text\": \"and now?\"},"
    "    {\"type\": \"image\", \"media_type\": \"image/png\", \"data\": \"AAA=\"}]}],"
    " \"tools\": [{\"name\": \"file_write\", \"description\": \"writes\","
    "   \"input_schema\": {\"type\": \"object\", \"$schema\": \"x\","
    "    \"additionalProperties\": false,"
    "    \"properties\": {\"path\": {\"type\": \"string\"}}}}],"
    " \"max_tokens\": 100, \"temperature\": 0.5}";

/* CONV as style st's wire body to model (streaming or not), built by the
 * style's driver: new, or NULL (the error printed). */
static json_t *
conv_body(enum llm_style st, const char *model, int stream)
{
	struct llm_target	 t = target(st, model);
	json_t			*req = J(CONV), *b = NULL;
	char			 err[256] = "";

	if (req != NULL && (b = llm_driver(st)->d_body(req, &t, stream, err,
	    sizeof(err))) == NULL)
		printf("# %s body: %s\n", llm_style_name(st), err);
	json_decref(req);
	return (b);
}

/* ---- SSE ------------------------------------------------------------------ */

static int
sse_cb(void *arg, const char *event, const char *data, size_t len)
{
	json_t	*out = arg;

	json_array_append_new(out, json_pack("{s:s?, s:s%}", "event", event,
	    "data", data, len));
	return (0);
}

static int
t_sse_split(void)
{
	const char	*in = ": comment\r\nevent: one\r\ndata: {\"a\":1}\r\n\r\n"
	    "data:x\ndata: y\n\nevent: last\ndata: tail";
	json_t		*out;
	struct llm_sse	 s;
	size_t		 step, i, n = strlen(in);
	int		 ok = 1;

	/* Every way of cutting the input gives the same events. */
	for (step = 1; step <= n; step++) {
		out = json_array();
		llm_sse_init(&s, 0, 4096);
		for (i = 0; i < n; i += step)
			T_EQ_INT(llm_sse_feed(&s, in + i, i + step > n ?
			    n - i : step, sse_cb, out), 0);
		T_EQ_INT(llm_sse_end(&s, sse_cb, out), 0);
		llm_sse_release(&s);
		ok = jis(out, "", "[{\"event\": \"one\", \"data\": \"{\\\"a\\\":1}\"},"
		    "{\"event\": null, \"data\": \"x\\ny\"},"
		    "{\"event\": \"last\", \"data\": \"tail\"}]");
		json_decref(out);
		if (!ok) {
			printf("# step %zu\n", step);
			return (-1);
		}
	}
	return (0);
}

static int
t_sse_ndjson_and_limit(void)
{
	json_t		*out = json_array();
	struct llm_sse	 s;
	char		 big[200];

	llm_sse_init(&s, 1, 64);
	T_EQ_INT(llm_sse_feed(&s, "{\"a\":1}\n\n  \n{\"b\"", 16, sse_cb,
	    out), 0);
	T_EQ_INT(llm_sse_feed(&s, ":2}", 3, sse_cb, out), 0);
	T_EQ_INT(llm_sse_end(&s, sse_cb, out), 0);
	T_OK(jis(out, "[0].data", "\"{\\\"a\\\":1}\""));
	T_OK(jis(out, "[1].data", "\"{\\\"b\\\":2}\""));
	T_EQ_INT(json_array_size(out), 2);
	/* A line longer than the ceiling fails. */
	memset(big, 'x', sizeof(big));
	T_EQ_INT(llm_sse_feed(&s, big, sizeof(big), sse_cb, out), SH_ETOOBIG);
	llm_sse_release(&s);
	json_decref(out);
	return (0);
}

/* ---- canonical -> wire ------------------------------------------------------ */

static const struct jwant openai_body_conv[] = {
	{ ".model", "\"gpt-x\"" },
	{ ".messages[0]", "{\"role\": \"system\", \"content\": "
	    "\"You are terse.\"}" },
	{ ".messages[1]", "{\"role\": \"user\", \"content\": "
	    "\"write a file\"}" },
	{ ".messages[2].role", "\"assistant\"" },
	{ ".messages[2].content", "\"Sure.\"" },
	{ ".messages[2].tool_calls", "[{\"id\": \"call_1\", "
	    "\"type\": \"function\", \"function\": {\"name\": \"file_write\", "
	    "\"arguments\": \"{\\\"path\\\":\\\"a.txt\\\"}\"}}]" },
	{ ".messages[3]", "{\"role\": \"tool\", \"tool_call_id\": "
	    "\"call_1\", \"content\": \"ok\"}" },
	{ ".messages[4].role", "\"user\"" },
	{ ".messages[4].content[0]", "{\"type\": \"text\", "
	    "\"text\": \"and now?\"}" },
	{ ".messages[4].content[1].image_url.url",
	    "\"data:image/png;base64,AAA=\"" },
	{ NULL, NULL }
};

static const struct jwant openai_body_opts[] = {
	{ ".tools[0].type", "\"function\"" },
	{ ".tools[0].function.name", "\"file_write\"" },
	{ ".tools[0].function.parameters.properties.path.type", "\"string\"" },
	{ ".stream", "true" },
	{ ".stream_options", "{\"include_usage\": true}" },
	{ ".max_tokens", "100" },
	{ ".temperature", "0.5" },
	{ NULL, NULL }
};

static const struct jwant openai_body_reasoning[] = {
	{ ".max_completion_tokens", "100" },
	{ ".max_tokens", NULL },
	{ ".temperature", NULL },
	{ ".stream", NULL },
	{ ".stream_options", NULL },
	{ NULL, NULL }
};

static int
t_openai_body(void)
{
	json_t			*req, *b;
	struct llm_target	 t = target(LLM_OPENAI, "o3-mini");
	char			 err[256] = "";

	T_OK((b = conv_body(LLM_OPENAI, "gpt-x", 1)) != NULL);
	T_OK(jis_all(b, openai_body_conv));
	T_EQ_INT(json_array_size(json_object_get(b, "messages")), 5);
	T_OK(jis_all(b, openai_body_opts));
	json_decref(b);

	/* Reasoning models: max_completion_tokens, no temperature; no
	 * stream fields when not streaming. */
	T_OK((b = conv_body(LLM_OPENAI, "o3-mini", 0)) != NULL);
	T_OK(jis_all(b, openai_body_reasoning));
	json_decref(b);

	/* No messages: a clear error. */
	req = J("{\"system\": \"x\"}");
	T_OK(llm_openai_body(req, &t, 0, err, sizeof(err)) == NULL);
	T_OK(strstr(err, "messages") != NULL);
	json_decref(req);
	return (0);
}

static const struct jwant anthropic_body_conv[] = {
	{ ".system", "\"You are terse.\"" },
	{ ".model", "\"claude-y\"" },
	{ ".max_tokens", "100" },
	{ ".stream", "true" },
	{ ".messages[0]", "{\"role\": \"user\", \"content\": "
	    "\"write a file\"}" },
	{ ".messages[1].content[0]", "{\"type\": \"thinking\", "
	    "\"thinking\": \"hmm\", \"signature\": \"sig1\"}" },
	{ ".messages[1].content[2]", "{\"type\": \"tool_use\", "
	    "\"id\": \"call_1\", \"name\": \"file_write\", \"input\": "
	    "{\"path\": \"a.txt\"}}" },
	{ ".messages[2].role", "\"user\"" },
	{ ".messages[2].content[0]", "{\"type\": \"tool_result\", "
	    "\"tool_use_id\": \"call_1\", \"content\": \"ok\", "
	    "\"is_error\": false}" },
	{ ".messages[2].content[2].source", "{\"type\": \"base64\", "
	    "\"media_type\": \"image/png\", \"data\": \"AAA=\"}" },
	{ ".tools[0].input_schema.properties.path.type", "\"string\"" },
	{ NULL, NULL }
};

static const struct jwant anthropic_body_bare[] = {
	{ ".max_tokens", "4096" },
	{ ".messages[1].content", "[{\"type\": \"text\", "
	    "\"text\": \"yo\"}]" },
	{ ".system", NULL },
	{ ".stream", NULL },
	{ NULL, NULL }
};

static int
t_anthropic_body(void)
{
	json_t			*req, *b;
	struct llm_target	 t = target(LLM_ANTHROPIC, "claude-y");
	char			 err[256] = "";

	T_OK((b = conv_body(LLM_ANTHROPIC, "claude-y", 1)) != NULL);
	T_OK(jis_all(b, anthropic_body_conv));
	T_OK(json_object_get(json_array_get(json_object_get(b, "tools"), 0),
	    "type") == NULL);
	json_decref(b);

	/* max_tokens is required on the wire; a thinking block without its
	 * signature is not sent back; empty text is dropped. */
	req = J("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"},"
	    "{\"role\": \"assistant\", \"content\": [{\"type\": \"thinking\","
	    "\"thinking\": \"x\"}, {\"type\": \"text\", \"text\": \"\"},"
	    "{\"type\": \"text\", \"text\": \"yo\"}]}]}");
	b = llm_anthropic_body(req, &t, 0, err, sizeof(err));
	T_OK(b != NULL);
	T_OK(jis_all(b, anthropic_body_bare));
	json_decref(b);
	json_decref(req);
	return (0);
}

static const struct jwant gemini_body_conv[] = {
	{ ".systemInstruction", "{\"parts\": [{\"text\": "
	    "\"You are terse.\"}]}" },
	{ ".contents[0]", "{\"role\": \"user\", \"parts\": "
	    "[{\"text\": \"write a file\"}]}" },
	{ ".contents[1].role", "\"model\"" },
	{ ".contents[1].parts[0]", "{\"text\": \"hmm\", "
	    "\"thought\": true, \"thoughtSignature\": \"ts1\"}" },
	{ ".contents[1].parts[1]", "{\"text\": \"Sure.\"}" },
	{ ".contents[1].parts[2]", "{\"functionCall\": {\"name\": "
	    "\"file_write\", \"args\": {\"path\": \"a.txt\"}}, "
	    "\"thoughtSignature\": \"ts2\"}" },
	/* The result's name comes from the call (tool_name was empty). */
	{ ".contents[2].role", "\"user\"" },
	{ ".contents[2].parts[0]", "{\"functionResponse\": "
	    "{\"name\": \"file_write\", \"response\": "
	    "{\"content\": \"ok\"}}}" },
	{ ".contents[2].parts[1]", "{\"text\": \"and now?\"}" },
	{ ".contents[2].parts[2]", "{\"inlineData\": {\"mimeType\": "
	    "\"image/png\", \"data\": \"AAA=\"}}" },
	{ ".tools[0].functionDeclarations[0].name", "\"file_write\"" },
	{ ".tools[0].functionDeclarations[0].parameters",
	    "{\"type\": \"object\", \"properties\": {\"path\": {\"type\": "
	    "\"string\"}}}" },
	{ ".generationConfig", "{\"maxOutputTokens\": 100, "
	    "\"temperature\": 0.5}" },
	{ ".messages", NULL },
	{ NULL, NULL }
};

static int
t_gemini_body(void)
{
	json_t	*b;

	T_OK((b = conv_body(LLM_GEMINI, "gemini-z", 1)) != NULL);
	T_OK(jis_all(b, gemini_body_conv));
	json_decref(b);
	return (0);
}

static const struct jwant ollama_body_conv[] = {
	{ ".stream", "true" },
	{ ".messages[0].role", "\"system\"" },
	{ ".messages[2].tool_calls[0].function.arguments",
	    "{\"path\": \"a.txt\"}" },
	{ ".messages[3]", "{\"role\": \"tool\", \"content\": \"ok\","
	    " \"tool_name\": \"\"}" },
	{ ".messages[4].images", "[\"AAA=\"]" },
	{ ".options.num_predict", "100" },
	{ NULL, NULL }
};

static int
t_ollama_body(void)
{
	json_t	*b;

	T_OK((b = conv_body(LLM_OLLAMA, "llama3", 1)) != NULL);
	T_OK(jis_all(b, ollama_body_conv));
	json_decref(b);
	return (0);
}

static int
t_wire_build(void)
{
	json_t			*req = J(CONV);
	struct llm_target	 t = target(LLM_OPENAI, "gpt-x");
	struct llm_wire		 w;
	struct curl_slist	*l;
	char			 err[256] = "";
	int			 auth = 0;

	T_EQ_INT(llm_wire_build(req, &t, 1, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://127.0.0.1:9/v1/chat/completions");
	for (l = w.w_hdrs; l != NULL; l = l->next)
		if (strcmp(l->data, "Authorization: Bearer sk-secret-1234") == 0)
			auth = 1;
	T_OK(auth);
	T_OK(w.w_bodylen > 0 && strstr(w.w_body, "include_usage") != NULL);
	llm_wire_release(&w);

	t = target(LLM_ANTHROPIC, "claude-y");
	t.t_base_url = "http://h:1/";
	T_EQ_INT(llm_wire_build(req, &t, 0, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://h:1/v1/messages");
	auth = 0;
	for (l = w.w_hdrs; l != NULL; l = l->next)
		if (strcmp(l->data, "x-api-key: sk-secret-1234") == 0 ||
		    strcmp(l->data, "anthropic-version: 2023-06-01") == 0)
			auth++;
	T_EQ_INT(auth, 2);
	llm_wire_release(&w);
	t.t_base_url = "http://h:1/v1";
	T_EQ_INT(llm_wire_build(req, &t, 0, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://h:1/v1/messages");
	llm_wire_release(&w);

	t = target(LLM_GEMINI, "gemini-z");
	t.t_base_url = "http://h:1";
	T_EQ_INT(llm_wire_build(req, &t, 1, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://h:1/v1beta/models/gemini-z:"
	    "streamGenerateContent?alt=sse");
	auth = 0;
	for (l = w.w_hdrs; l != NULL; l = l->next)
		if (strcmp(l->data, "x-goog-api-key: sk-secret-1234") == 0)
			auth = 1;
	T_OK(auth);
	llm_wire_release(&w);
	T_EQ_INT(llm_wire_build(req, &t, 0, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://h:1/v1beta/models/gemini-z:generateContent");
	llm_wire_release(&w);

	t = target(LLM_OLLAMA, "llama3");
	t.t_base_url = "http://h:11434/v1";
	T_EQ_INT(llm_wire_build(req, &t, 1, &w, err, sizeof(err)), 0);
	T_EQ_STR(w.w_url, "http://h:11434/api/chat");
	llm_wire_release(&w);

	t.t_base_url = "";
	T_EQ_INT(llm_wire_build(req, &t, 1, &w, err, sizeof(err)), SH_EINVAL);
	json_decref(req);
	return (0);
}

/* ---- wire -> canonical ------------------------------------------------------ */

static json_t *
parse_whole(enum llm_style st, const char *body, int *rc)
{
	struct llm_acc	 a;
	json_t		*r = NULL;

	llm_acc_init(&a, NULL, NULL);
	*rc = llm_parse_body(&a, st, body, strlen(body));
	if (*rc == 0)
		r = llm_acc_finish(&a);
	else
		printf("# (parse: %s)\n", a.a_err);
	llm_acc_release(&a);
	return (r);
}

static const struct jwant openai_read_tools[] = {
	{ ".content[0]", "{\"type\": \"thinking\", \"thinking\": "
	    "\"think\"}" },
	{ ".content[1]", "{\"type\": \"tool_use\", \"id\": \"c1\", "
	    "\"name\": \"f\", \"input\": {\"x\": 1}}" },
	{ ".content[2].input", "{\"__args_invalid\": "
	    "\"{not json\"}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage", "{\"input_tokens\": 11, \"output_tokens\": 7, "
	    "\"cache_creation_input_tokens\": 0, "
	    "\"cache_read_input_tokens\": 3}" },
	{ NULL, NULL }
};

static int
t_openai_read(void)
{
	json_t	*r;
	int	 rc;

	r = parse_whole(LLM_OPENAI, "{\"choices\": [{\"message\": {"
	    "\"role\": \"assistant\", \"content\": null, \"reasoning_content\": "
	    "\"think\", \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
	    " \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}},"
	    "{\"id\": \"c2\", \"function\": {\"name\": \"g\", \"arguments\": "
	    "\"{not json\"}}]}, \"finish_reason\": \"tool_calls\"}],"
	    "\"usage\": {\"prompt_tokens\": 11, \"completion_tokens\": 7,"
	    "\"prompt_tokens_details\": {\"cached_tokens\": 3}}}", &rc);
	T_EQ_INT(rc, 0);
	T_OK(jis_all(r, openai_read_tools));
	json_decref(r);

	/* No finish_reason: decided by the tool calls; length -> max. */
	r = parse_whole(LLM_OPENAI, "{\"choices\": [{\"message\": {"
	    "\"content\": \"hi\"}}]}", &rc);
	T_OK(jis(r, ".stop_reason", "\"end_turn\""));
	T_OK(jis(r, ".content", "[{\"type\": \"text\", \"text\": \"hi\"}]"));
	json_decref(r);
	r = parse_whole(LLM_OPENAI, "{\"choices\": [{\"message\": {"
	    "\"content\": \"hi\"}, \"finish_reason\": \"length\"}]}", &rc);
	T_OK(jis(r, ".stop_reason", "\"max_tokens\""));
	json_decref(r);

	/* Garbage and shapes that are not answers. */
	r = parse_whole(LLM_OPENAI, "this is not json", &rc);
	T_OK(r == NULL && rc == SH_EPROTO);
	r = parse_whole(LLM_OPENAI, "{\"id\": 1}", &rc);
	T_OK(r == NULL && rc == SH_EPROTO);
	r = parse_whole(LLM_OPENAI, "{\"error\": {\"message\": \"bad\"}}", &rc);
	T_OK(r == NULL && rc == SH_EPROTO);
	return (0);
}

static const struct jwant anthropic_read_blocks[] = {
	{ ".content[0]", "{\"type\": \"thinking\", \"thinking\": "
	    "\"t\", \"provider_metadata\": {\"signature\": \"s\"}}" },
	{ ".content[1]", "{\"type\": \"text\", \"text\": \"ok\"}" },
	{ ".content[2]", "{\"type\": \"tool_use\", \"id\": "
	    "\"toolu_1\", \"name\": \"f\", \"input\": {\"a\": [1]}}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.cache_read_input_tokens", "2" },
	{ ".usage.output_tokens", "6" },
	{ NULL, NULL }
};

static int
t_anthropic_read(void)
{
	json_t	*r;
	int	 rc;

	r = parse_whole(LLM_ANTHROPIC, "{\"type\": \"message\", \"content\": ["
	    "{\"type\": \"thinking\", \"thinking\": \"t\", \"signature\": \"s\"},"
	    "{\"type\": \"text\", \"text\": \"ok\"},"
	    "{\"type\": \"tool_use\", \"id\": \"toolu_1\", \"name\": \"f\","
	    " \"input\": {\"a\": [1]}}],"
	    "\"stop_reason\": \"tool_use\", \"usage\": {\"input_tokens\": 5,"
	    "\"output_tokens\": 6, \"cache_read_input_tokens\": 2}}", &rc);
	T_EQ_INT(rc, 0);
	T_OK(jis_all(r, anthropic_read_blocks));
	json_decref(r);
	r = parse_whole(LLM_ANTHROPIC, "{\"type\": \"message\", \"content\": "
	    "[{\"type\": \"text\", \"text\": \"no\"}], \"stop_reason\": "
	    "\"refusal\"}", &rc);
	T_OK(jis(r, ".stop_reason", "\"content_filtered\""));
	json_decref(r);
	r = parse_whole(LLM_ANTHROPIC, "{\"type\": \"message\"}", &rc);
	T_OK(r == NULL && rc == SH_EPROTO);
	return (0);
}

static const struct jwant gemini_read_parts[] = {
	{ ".content[0]", "{\"type\": \"thinking\", \"thinking\": "
	    "\"th\"}" },
	{ ".content[1]", "{\"type\": \"text\", \"text\": \"Hi\"}" },
	{ ".content[2].name", "\"f\"" },
	{ ".content[2].input", "{\"q\": 2}" },
	{ ".content[2].provider_metadata", "{\"thoughtSignature\": "
	    "\"SIG\"}" },
	{ NULL, NULL }
};

static const struct jwant gemini_read_stop[] = {
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.input_tokens", "4" },
	{ ".usage.output_tokens", "6" },
	{ NULL, NULL }
};

static int
t_gemini_read(void)
{
	json_t	*r;
	int	 rc;

	r = parse_whole(LLM_GEMINI, "{\"candidates\": [{\"content\": {"
	    "\"role\": \"model\", \"parts\": [{\"text\": \"th\", \"thought\": "
	    "true}, {\"text\": \"Hi\"}, {\"functionCall\": {\"name\": \"f\","
	    " \"args\": {\"q\": 2}}, \"thoughtSignature\": \"SIG\"}]},"
	    " \"finishReason\": \"STOP\"}], \"usageMetadata\": {"
	    "\"promptTokenCount\": 4, \"candidatesTokenCount\": 5,"
	    "\"thoughtsTokenCount\": 1}}", &rc);
	T_EQ_INT(rc, 0);
	T_OK(jis_all(r, gemini_read_parts));
	T_OK(strncmp(json_string_value(jget(r, ".content[2].id")), "call_",
	    5) == 0 && json_string_length(jget(r, ".content[2].id")) == 37);
	/* STOP with a function call is tool use. */
	T_OK(jis_all(r, gemini_read_stop));
	json_decref(r);
	r = parse_whole(LLM_GEMINI, "{\"candidates\": [{\"content\": {"
	    "\"parts\": [{\"text\": \"x\"}]}, \"finishReason\": \"SAFETY\"}]}",
	    &rc);
	T_OK(jis(r, ".stop_reason", "\"content_filtered\""));
	json_decref(r);
	r = parse_whole(LLM_GEMINI, "{\"foo\": 1}", &rc);
	T_OK(r == NULL && rc == SH_EPROTO);
	return (0);
}

/* Feeds a whole SSE text in small pieces into an accumulator. */
struct feed {
	struct llm_acc	*f_acc;
	enum llm_style	 f_style;
};

static int
feed_cb(void *arg, const char *event, const char *data, size_t len)
{
	struct feed	*f = arg;

	return (llm_stream_event(f->f_acc, f->f_style, event, data, len));
}

static int
feed_stream(struct llm_acc *a, enum llm_style st, const char *text,
    size_t step)
{
	struct llm_sse	 s;
	struct feed	 f = { a, st };
	size_t		 i, n = strlen(text);
	int		 rc = 0;

	llm_sse_init(&s, st == LLM_OLLAMA, LLM_MAX_RESPONSE);
	for (i = 0; i < n && rc == 0; i += step)
		rc = llm_sse_feed(&s, text + i, i + step > n ? n - i : step,
		    feed_cb, &f);
	if (rc == 0)
		rc = llm_sse_end(&s, feed_cb, &f);
	llm_sse_release(&s);
	return (rc);
}

/*
 * Streams text (style st) in pieces of step into a fresh accumulator,
 * whose events go to events (a new array, the caller's to free): the
 * answer (new), or NULL when the stream failed or was not complete
 * (printed).  *finished and *saw_stop get the accumulator's flags.
 */
static json_t *
stream_whole(enum llm_style st, const char *text, size_t step,
    int *finished, int *saw_stop)
{
	struct llm_acc	 a;
	json_t		*r = NULL;
	int		 rc;

	events = json_array();
	llm_acc_init(&a, collect, NULL);
	if ((rc = feed_stream(&a, st, text, step)) != 0)
		printf("# stream: %d (%s)\n", rc, a.a_err);
	else if (!llm_stream_complete(&a, st))
		printf("# stream: not complete\n");
	else
		r = llm_acc_finish(&a);
	*finished = a.a_finished;
	*saw_stop = a.a_saw_stop;
	llm_acc_release(&a);
	return (r);
}

static const char *OPENAI_STREAM =
    "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Let me\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c0\","
    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c1\","
    "\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"b\\\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,"
    "\"function\":{\"arguments\":\":2}\"}}]}}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":8}}\n\n"
    "data: [DONE]\n\n";

static const struct jwant openai_stream_answer[] = {
	{ ".content[0]", "{\"type\": \"thinking\", "
	    "\"thinking\": \"Let me\"}" },
	{ ".content[1]", "{\"type\": \"text\", \"text\": "
	    "\"Hello\"}" },
	{ ".content[2]", "{\"type\": \"tool_use\", \"id\": "
	    "\"c0\", \"name\": \"f\", \"input\": {\"a\": 1}}" },
	{ ".content[3]", "{\"type\": \"tool_use\", \"id\": "
	    "\"c1\", \"name\": \"g\", \"input\": {\"b\": 2}}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.input_tokens", "9" },
	{ ".usage.output_tokens", "8" },
	{ NULL, NULL }
};

static const struct jwant openai_stream_events[] = {
	{ "[0]", "{\"type\": \"thinking_delta\", "
	    "\"text\": \"Let me\"}" },
	{ "[1]", "{\"type\": \"text_delta\", \"text\": "
	    "\"Hel\"}" },
	{ "[3]", "{\"type\": \"tool_use_start\", "
	    "\"id\": \"c0\", \"name\": \"f\"}" },
	{ "[4]", "{\"type\": \"tool_use_start\", "
	    "\"id\": \"c1\", \"name\": \"g\"}" },
	{ "[9]", "{\"type\": \"tool_use_end\", "
	    "\"id\": \"c0\", \"name\": \"f\", \"input\": {\"a\": 1}}" },
	{ "[10]", "{\"type\": \"tool_use_end\", "
	    "\"id\": \"c1\", \"name\": \"g\", \"input\": {\"b\": 2}}" },
	{ NULL, NULL }
};

static int
t_openai_stream(void)
{
	struct llm_acc	 a;
	json_t		*r;
	size_t		 step;
	int		 fin, stop;

	for (step = 1; step < 64; step += 7) {
		r = stream_whole(LLM_OPENAI, OPENAI_STREAM, step, &fin, &stop);
		T_OK(r != NULL);
		T_OK(fin);
		/* No finish_reason anywhere: complete thanks to [DONE]. */
		T_OK(!stop);
		T_OK(jis_all(r, openai_stream_answer));
		T_OK(jis_all(events, openai_stream_events));
		T_EQ_INT(json_array_size(events), 11);
		json_decref(r);
		json_decref(events);
	}

	/* Cut before [DONE] with no finish reason: not complete. */
	llm_acc_init(&a, NULL, NULL);
	T_EQ_INT(feed_stream(&a, LLM_OPENAI, "data: {\"choices\":[{\"delta\":"
	    "{\"content\":\"Hel\"}}]}\n\n", 5), 0);
	T_OK(!llm_stream_complete(&a, LLM_OPENAI));
	/* Garbage, and an error reported inside the stream. */
	T_EQ_INT(feed_stream(&a, LLM_OPENAI, "data: {\"choices\": [{\n\n", 3),
	    SH_EPROTO);
	T_EQ_INT(feed_stream(&a, LLM_OPENAI, "data: {\"error\": {\"message\": "
	    "\"overloaded\"}}\n\n", 3), SH_EUNAVAIL);
	T_EQ_STR(a.a_err, "overloaded");
	llm_acc_release(&a);
	return (0);
}

static const char *ANTHROPIC_STREAM =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
    "{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\","
    "\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"S1\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\","
    "\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Yes\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\","
    "\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_9\","
    "\"name\":\"f\",\"input\":{}}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"k\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
    "\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\":3}\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
    "{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":30}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static const struct jwant anthropic_stream_answer[] = {
	{ ".content[0]", "{\"type\": \"thinking\", \"thinking\": "
	    "\"hm\", \"provider_metadata\": {\"signature\": \"S1\"}}" },
	{ ".content[1]", "{\"type\": \"text\", \"text\": \"Yes\"}" },
	{ ".content[2]", "{\"type\": \"tool_use\", \"id\": "
	    "\"toolu_9\", \"name\": \"f\", \"input\": {\"k\": 3}}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.input_tokens", "12" },
	{ ".usage.output_tokens", "30" },
	{ NULL, NULL }
};

static int
t_anthropic_stream(void)
{
	struct llm_acc	 a;
	json_t		*r;
	int		 fin, stop;

	r = stream_whole(LLM_ANTHROPIC, ANTHROPIC_STREAM, 13, &fin, &stop);
	T_OK(r != NULL && fin);
	T_OK(jis_all(r, anthropic_stream_answer));
	T_OK(jis(events, "", "[{\"type\": \"thinking_delta\", \"text\": \"hm\"},"
	    "{\"type\": \"text_delta\", \"text\": \"Yes\"},"
	    "{\"type\": \"tool_use_start\", \"id\": \"toolu_9\", \"name\": \"f\"},"
	    "{\"type\": \"tool_input_delta\", \"text\": \"{\\\"k\"},"
	    "{\"type\": \"tool_input_delta\", \"text\": \"\\\":3}\"},"
	    "{\"type\": \"tool_use_end\", \"id\": \"toolu_9\", \"name\": \"f\","
	    " \"input\": {\"k\": 3}}]"));
	json_decref(r);
	json_decref(events);

	/* Without message_stop and stop reason: dropped. */
	llm_acc_init(&a, NULL, NULL);
	T_EQ_INT(feed_stream(&a, LLM_ANTHROPIC, "event: message_start\ndata: "
	    "{\"type\":\"message_start\",\"message\":{}}\n\n", 9), 0);
	T_OK(!llm_stream_complete(&a, LLM_ANTHROPIC));
	T_EQ_INT(feed_stream(&a, LLM_ANTHROPIC, "event: error\ndata: {\"type\":"
	    "\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
	    "\"Overloaded\"}}\n\n", 9), SH_EUNAVAIL);
	T_EQ_STR(a.a_err, "Overloaded");
	llm_acc_release(&a);
	return (0);
}

static const struct jwant gemini_stream_answer[] = {
	{ ".content[0]", "{\"type\": \"thinking\", \"thinking\": "
	    "\"plan\"}" },
	{ ".content[1]", "{\"type\": \"text\", \"text\": \"AB\", "
	    "\"provider_metadata\": {\"thoughtSignature\": \"TS\"}}" },
	{ ".content[2]", "{\"type\": \"tool_use\", \"id\": \"g1\", "
	    "\"name\": \"f\", \"input\": {\"z\": true}}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.output_tokens", "4" },
	{ NULL, NULL }
};

static const struct jwant gemini_stream_events[] = {
	{ "[0]", "{\"type\": \"thinking_delta\", \"text\": "
	    "\"plan\"}" },
	{ "[2]", "{\"type\": \"text_delta\", \"text\": \"B\"}" },
	{ "[3]", "{\"type\": \"tool_use_start\", \"id\": "
	    "\"g1\", \"name\": \"f\"}" },
	{ "[5]", "{\"type\": \"tool_use_end\", \"id\": \"g1\", "
	    "\"name\": \"f\", \"input\": {\"z\": true}}" },
	{ NULL, NULL }
};

static int
t_gemini_stream(void)
{
	struct llm_acc	 a;
	json_t		*r;
	int		 fin, stop;
	const char	*s =
	    "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
	    "[{\"text\":\"plan\",\"thought\":true}]}}]}\r\n\r\n"
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}]}\r\n\r\n"
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\","
	    "\"thoughtSignature\":\"TS\"}]}}]}\r\n\r\n"
	    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
	    "{\"name\":\"f\",\"args\":{\"z\":true},\"id\":\"g1\"}}]},"
	    "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,"
	    "\"candidatesTokenCount\":4}}\r\n\r\n";

	T_OK((r = stream_whole(LLM_GEMINI, s, 11, &fin, &stop)) != NULL);
	T_OK(jis_all(r, gemini_stream_answer));
	T_OK(jis_all(events, gemini_stream_events));
	T_EQ_INT(json_array_size(events), 6);
	json_decref(r);
	json_decref(events);

	/* An empty stream is not an answer. */
	llm_acc_init(&a, NULL, NULL);
	T_EQ_INT(feed_stream(&a, LLM_GEMINI, ": nothing\r\n", 4), 0);
	T_OK(!llm_stream_complete(&a, LLM_GEMINI));
	llm_acc_release(&a);
	return (0);
}

static const struct jwant ollama_stream_answer[] = {
	{ ".content[0].text", "\"Hi\"" },
	{ ".content[1].input", "{\"a\": 1}" },
	{ ".stop_reason", "\"tool_use\"" },
	{ ".usage.input_tokens", "7" },
	{ NULL, NULL }
};

static int
t_ollama_stream(void)
{
	json_t		*r;
	int		 fin, stop;

	r = stream_whole(LLM_OLLAMA,
	    "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
	    "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
	    "[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}}]},\"done\":false}\n"
	    "{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
	    "\"prompt_eval_count\":7,\"eval_count\":2}\n", 5, &fin, &stop);
	T_OK(r != NULL);
	T_OK(jis_all(r, ollama_stream_answer));
	json_decref(r);
	json_decref(events);
	return (0);
}

static int
t_error_text(void)
{
	char	 out[LLM_PROVIDER_MSG_MAX];
	char	 big[2000];
	const char *b;

	b = "{\"error\": {\"message\": \"Incorrect API key\", \"type\": \"x\"}}";
	llm_error_text(b, strlen(b), out, sizeof(out));
	T_EQ_STR(out, "Incorrect API key");
	b = "{\"type\": \"error\", \"error\": {\"type\": \"rate_limit_error\","
	    " \"message\": \"Slow\\ndown\"}}";
	llm_error_text(b, strlen(b), out, sizeof(out));
	T_EQ_STR(out, "Slow down");
	b = "[{\"error\": {\"code\": 429, \"message\": \"Quota\", "
	    "\"status\": \"RESOURCE_EXHAUSTED\"}}]";
	llm_error_text(b, strlen(b), out, sizeof(out));
	T_EQ_STR(out, "Quota");
	b = "<html>Bad Gateway</html>";
	llm_error_text(b, strlen(b), out, sizeof(out));
	T_EQ_STR(out, "<html>Bad Gateway</html>");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	llm_error_text(big, strlen(big), out, sizeof(out));
	T_EQ_INT(strlen(out), sizeof(out) - 1);
	llm_error_text(NULL, 0, out, sizeof(out));
	T_EQ_STR(out, "");
	return (0);
}

static int
t_error_redacts(void)
{
	static const char key40[] = "sk-LlmKey40-0123456789abcdefghijklmnopqr";
	char	 out[LLM_PROVIDER_MSG_MAX], body[1200], run[9];
	size_t	 i;
	int	 n;

	/* A 7-character key quoted by a 401. */
	snprintf(body, sizeof(body), "{\"error\": {\"message\": "
	    "\"Incorrect API key provided: Ab3dE7g.\"}}");
	llm_provider_error(body, strlen(body), "Ab3dE7g", out, sizeof(out));
	T_EQ_STR(out, "Incorrect API key provided: [REDACTED].");
	/* Even a 2-character one, when it is the call's key. */
	llm_provider_error("bad key k9!", 11, "k9", out, sizeof(out));
	T_EQ_STR(out, "bad key [REDACTED]!");
	/* A 40-character key at offset 290 of a long text: the cut at 300
	 * keeps no run of 8 of its characters. */
	for (n = 280; n <= 300; n += 5) {
		i = (size_t)snprintf(body, sizeof(body),
		    "{\"error\": {\"message\": \"%.*s%s and more\"}}", n,
		    "....................................................."
		    "....................................................."
		    "....................................................."
		    "....................................................."
		    "....................................................."
		    "....................................................."
		    "....................................................", key40);
		llm_provider_error(body, i, key40, out, sizeof(out));
		T_OK(strlen(out) < LLM_PROVIDER_MSG_MAX);
		for (i = 0; i + 8 <= strlen(key40); i++) {
			memcpy(run, key40 + i, 8);
			run[8] = '\0';
			T_OK(strstr(out, run) == NULL);
		}
	}
	return (0);
}

static int
t_style_names(void)
{
	T_EQ_INT(llm_style_parse("openai"), LLM_OPENAI);
	T_EQ_INT(llm_style_parse("gemini"), LLM_GEMINI);
	T_EQ_INT(llm_style_parse("nope"), -1);
	T_EQ_STR(llm_style_name(LLM_ANTHROPIC), "anthropic");
	T_EQ_STR(llm_style_name(LLM_OLLAMA), "ollama");
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "SSE: any cut gives the same events", t_sse_split },
		{ "NDJSON lines and the line ceiling", t_sse_ndjson_and_limit },
		{ "canonical -> OpenAI body", t_openai_body },
		{ "canonical -> Anthropic body", t_anthropic_body },
		{ "canonical -> Gemini body", t_gemini_body },
		{ "canonical -> Ollama body", t_ollama_body },
		{ "URLs and headers per style", t_wire_build },
		{ "OpenAI response -> canonical", t_openai_read },
		{ "Anthropic response -> canonical", t_anthropic_read },
		{ "Gemini response -> canonical", t_gemini_read },
		{ "OpenAI stream: split tool args, no finish_reason",
		    t_openai_stream },
		{ "Anthropic stream: thinking, text, tool_use",
		    t_anthropic_stream },
		{ "Gemini stream: thought, signature, functionCall",
		    t_gemini_stream },
		{ "Ollama NDJSON stream", t_ollama_stream },
		{ "provider error text", t_error_text },
		{ "provider error text: keys redacted before the cut",
		    t_error_redacts },
		{ "style names", t_style_names },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
