/*
 * llm/driver.c - the table of provider drivers, one row per wire style,
 * and what is the same for every style: building the wire request,
 * reading a whole response or one stream event through the style's
 * driver, and the translation helpers the drivers share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm/driver.h"
#include "log.h"

/* The wire styles; enum llm_style (llm/llm.h) indexes this table. */
static const struct llm_driver *const llm_drivers[] = {
	[LLM_OPENAI] = &llm_openai,
	[LLM_ANTHROPIC] = &llm_anthropic,
	[LLM_GEMINI] = &llm_gemini,
	[LLM_OLLAMA] = &llm_ollama,
};
#define LLM_NDRIVERS	(sizeof(llm_drivers) / sizeof(llm_drivers[0]))

const struct llm_driver *
llm_driver(enum llm_style style)
{
	if ((unsigned int)style >= LLM_NDRIVERS)
		return (NULL);
	return (llm_drivers[style]);
}

int
llm_style_parse(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < LLM_NDRIVERS; i++)
		if (llm_drivers[i] != NULL &&
		    strcmp(name, llm_drivers[i]->d_name) == 0)
			return ((int)i);
	return (-1);
}

const char *
llm_style_name(enum llm_style s)
{
	const struct llm_driver	*d = llm_driver(s);

	return (d != NULL ? d->d_name : "unknown");
}

/* ---- wire requests ------------------------------------------------------ */

int
llm_wire_build(const json_t *req, const struct llm_target *t, int stream,
    struct llm_wire *w, char *err, size_t errlen)
{
	const struct llm_driver	*d = llm_driver(t->t_style);
	json_t			*body = NULL;
	int			 rc = SH_EINVAL;

	memset(w, 0, sizeof(*w));
	if (d == NULL) {
		snprintf(err, errlen, "unknown wire style %d", t->t_style);
		return (SH_EINVAL);
	}
	if (t->t_base_url == NULL || *t->t_base_url == '\0') {
		snprintf(err, errlen, "no base URL");
		return (SH_EINVAL);
	}
	if (t->t_model == NULL || *t->t_model == '\0') {
		snprintf(err, errlen, "no model");
		return (SH_EINVAL);
	}
	if ((body = d->d_body(req, t, stream, err, errlen)) == NULL)
		goto done;
	rc = SH_ENOMEM;
	if (d->d_endpoint(t, stream, w) != 0 || w->w_url == NULL ||
	    llm_hdr_add(&w->w_hdrs, "Content-Type", "application/json") != 0 ||
	    llm_hdr_add(&w->w_hdrs, "Accept", stream && !d->d_ndjson ?
	    "text/event-stream" : "application/json") != 0 ||
	    (w->w_hdrs = curl_slist_append(w->w_hdrs, "Expect:")) == NULL ||
	    (w->w_body = json_dumps(body, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory building the request");
		goto done;
	}
	w->w_bodylen = strlen(w->w_body);
	rc = 0;
 done:
	json_decref(body);
	if (rc != 0)
		llm_wire_release(w);
	return (rc);
}

/* ---- reading through the driver ----------------------------------------- */

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
	const struct llm_driver	*d = llm_driver(style);
	json_t			*root;
	json_error_t		 jerr;
	int			 rc;

	if (d == NULL)
		return (llm_acc_fail(a, "unknown style"));
	if (d->d_done != NULL && len == strlen(d->d_done) &&
	    memcmp(data, d->d_done, len) == 0) {
		a->a_finished = 1;
		return (0);
	}
	if (d->d_ping != NULL && event != NULL && strcmp(event, d->d_ping) == 0)
		return (0);
	if ((root = json_loadb(data, len, 0, &jerr)) == NULL)
		return (llm_acc_fail(a, "invalid JSON in stream: %s",
		    jerr.text));
	if (!json_is_object(root)) {
		json_decref(root);
		return (llm_acc_fail(a, "stream event is not an object"));
	}
	if (acc_error_obj(a, root))
		rc = SH_EUNAVAIL;
	else
		rc = d->d_event(a, event, root);
	json_decref(root);
	return (rc);
}

struct body_lines {
	struct llm_acc	*bl_acc;
	enum llm_style	 bl_style;
};

static int
body_line(void *arg, const char *event, const char *data, size_t len)
{
	struct body_lines	*bl = arg;

	return (llm_stream_event(bl->bl_acc, bl->bl_style, event, data, len));
}

int
llm_parse_body(struct llm_acc *a, enum llm_style style, const char *body,
    size_t len)
{
	const struct llm_driver	*d = llm_driver(style);
	struct body_lines	 bl = { a, style };
	struct llm_sse		 s;
	json_t			*root;
	json_error_t		 jerr;
	int			 rc;

	if (d == NULL)
		return (llm_acc_fail(a, "unknown style"));
	if (d->d_ndjson) {
		/* A non-streaming answer is one line; tolerate several. */
		llm_sse_init(&s, 1, LLM_MAX_RESPONSE);
		rc = llm_sse_feed(&s, body, len, body_line, &bl);
		if (rc == 0)
			rc = llm_sse_end(&s, body_line, &bl);
		llm_sse_release(&s);
		if (rc == 0 && a->a_n == 0 && !a->a_saw_stop)
			rc = llm_acc_fail(a, "empty response");
		return (rc == 0 ? 0 : SH_EPROTO);
	}
	if ((root = json_loadb(body, len, 0, &jerr)) == NULL)
		return (llm_acc_fail(a, "invalid JSON: %s", jerr.text));
	if (!json_is_object(root))
		rc = llm_acc_fail(a, "response is not an object");
	else if (acc_error_obj(a, root))
		rc = SH_EPROTO;
	else
		rc = d->d_read(a, root);
	json_decref(root);
	return (rc);
}

int
llm_stream_done(const struct llm_acc *a)
{
	return (a->a_finished || a->a_saw_stop);
}

int
llm_stream_complete(const struct llm_acc *a, enum llm_style style)
{
	const struct llm_driver	*d = llm_driver(style);

	return (d != NULL && d->d_complete(a));
}

/* ---- helpers the drivers share ----------------------------------------- */

/* s[0..n) as one line (new): stops at a NUL, line breaks and tabs
 * become spaces.  NULL on ENOMEM. */
static char *
one_line(const char *s, size_t n)
{
	char	*out;
	size_t	 i;

	if ((out = malloc(n + 1)) == NULL)
		return (NULL);
	for (i = 0; i < n && s[i] != '\0'; i++)
		out[i] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ?
		    ' ' : s[i];
	out[i] = '\0';
	return (out);
}

/*
 * The provider's own text from an error body, whole and on one line
 * (new, NULL on ENOMEM or for an empty body): the error object's
 * message, else the body.
 */
static char *
error_text(const char *body, size_t len)
{
	json_t		*root, *e, *m = NULL;
	char		*out;

	if (body == NULL || len == 0)
		return (NULL);
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
		out = one_line(json_string_value(m), json_string_length(m));
	else
		out = one_line(body, len);
	json_decref(root);
	return (out);
}

void
llm_provider_error(const char *body, size_t len, const char *key, char *out,
    size_t outlen)
{
	char	*line, *red = NULL;
	size_t	 lim;

	if (outlen == 0)
		return;
	out[0] = '\0';
	lim = outlen < LLM_PROVIDER_MSG_MAX ? outlen : LLM_PROVIDER_MSG_MAX;
	/* Redacted whole, then cut: a key that straddles the cut is never
	 * half-kept.  The key is matched by value whatever its length. */
	if ((line = error_text(body, len)) != NULL &&
	    (red = log_redact_text(line, key, lim - 1)) != NULL)
		snprintf(out, outlen, "%s", red);
	free(line);
	free(red);
}

void
llm_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	llm_provider_error(body, len, NULL, out, outlen);
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

json_t *
llm_req_messages(const json_t *req, char *err, size_t errlen)
{
	json_t	*msgs = json_object_get(req, "messages");

	if (!json_is_array(msgs)) {
		snprintf(err, errlen, "request has no messages array");
		return (NULL);
	}
	return (msgs);
}

json_t *
llm_chat_body(const json_t *req, const struct llm_target *t, json_t **msgs)
{
	json_t		*body;
	const char	*sys;

	if ((body = json_pack("{s:s, s:[]}", "model", t->t_model,
	    "messages")) == NULL)
		return (NULL);
	*msgs = json_object_get(body, "messages");
	sys = json_string_value(json_object_get(req, "system"));
	if (sys != NULL && *sys != '\0' && json_array_append_new(*msgs,
	    json_pack("{s:s, s:s}", "role", "system", "content", sys)) != 0) {
		json_decref(body);
		return (NULL);
	}
	return (body);
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
llm_url_ends(const char *url, const char *suffix)
{
	size_t	 n = strlen(url), m = strlen(suffix);

	while (n > 0 && url[n - 1] == '/')
		n--;
	return (n >= m && strncmp(url + n - m, suffix, m) == 0);
}

int
llm_hdr_bearer(struct curl_slist **l, const char *key)
{
	struct buf	 b = BUF_INIT(16384);
	int		 rc;

	if (*key == '\0')
		return (0);
	if ((rc = buf_addf(&b, "Bearer %s", key)) == 0)
		rc = llm_hdr_add(l, "Authorization", b.b_data);
	if (b.b_data != NULL)
		explicit_bzero(b.b_data, b.b_len);
	buf_release(&b);
	return (rc != 0 ? SH_ENOMEM : 0);
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
