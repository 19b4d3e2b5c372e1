/*
 * msg.c - envelope encode, decode and validation.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"

json_t *
msg_request(const char *op, const char *id, int64_t deadline_ms,
    json_t *caller, json_t *params, json_t *query, json_t *body)
{
	char	 fresh[UTIL_UUID_LEN];
	json_t	*r;

	if (id == NULL) {
		util_uuid4(fresh);
		id = fresh;
	}
	r = json_pack("{s:i, s:s, s:s, s:I, s:o, s:o, s:o, s:o}",
	    "v", MSG_VERSION, "op", op, "id", id, "deadline",
	    (json_int_t)deadline_ms,
	    "caller", caller ? caller : json_object(),
	    "params", params ? params : json_object(),
	    "query", query ? query : json_object(),
	    "body", body ? body : json_null());
	return (r);
}

json_t *
msg_reply(const char *id, int status, json_t *body)
{
	return (json_pack("{s:i, s:s, s:i, s:o}", "v", MSG_VERSION,
	    "id", id ? id : "", "status", status,
	    "body", body ? body : json_null()));
}

json_t *
msg_error_vbody(const char *fmt, va_list ap)
{
	char	text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	return (json_pack("{s:s}", "error", text));
}

json_t *
msg_error_body(const char *fmt, ...)
{
	json_t	*o;
	va_list	 ap;

	va_start(ap, fmt);
	o = msg_error_vbody(fmt, ap);
	va_end(ap);
	return (o);
}

json_t *
msg_event(const char *source, const char *type, json_t *data, int depth)
{
	char	id[UTIL_UUID_LEN], ts[32];

	util_uuid4(id);
	util_rfc3339(util_wall_ms(), ts);
	if (data == NULL)
		data = json_object();
	return (json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:o}, s:s, s:i}",
	    "id", id, "source", source != NULL ? source : "", "target",
	    "type", "Broadcast", "payload", "type", type, "data", data,
	    "timestamp", ts, "depth", depth));
}

int
msg_req_validate(json_t *root, struct msg_req *out, char *err, size_t errlen)
{
	json_error_t	 je;
	json_int_t	 v = 0, deadline = 0;
	const char	*op = NULL, *id = NULL;
	json_t		*caller = NULL, *params = NULL, *query = NULL;
	json_t		*body = NULL;

	memset(out, 0, sizeof(*out));
	if (json_unpack_ex(root, &je, JSON_STRICT,
	    "{s:I, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "v", &v, "op", &op,
	    "id", &id, "deadline", &deadline, "caller", &caller,
	    "params", &params, "query", &query, "body", &body) != 0) {
		snprintf(err, errlen, "bad request envelope: %s", je.text);
		return (SH_EPROTO);
	}
	if (v != MSG_VERSION) {
		snprintf(err, errlen, "unsupported envelope version %lld",
		    (long long)v);
		return (SH_EPROTO);
	}
	if (*op == '\0' || *id == '\0' || deadline < 0 ||
	    !json_is_object(caller) || !json_is_object(params) ||
	    !json_is_object(query)) {
		snprintf(err, errlen, "bad request envelope: empty op or id, "
		    "or caller/params/query not objects");
		return (SH_EPROTO);
	}
	out->mr_root = json_incref(root);
	out->mr_op = op;
	out->mr_id = id;
	out->mr_deadline = deadline;
	out->mr_caller = caller;
	out->mr_params = params;
	out->mr_query = query;
	out->mr_body = body;
	return (0);
}

int
msg_req_decode(const char *data, size_t len, struct msg_req *out, char *err,
    size_t errlen)
{
	json_error_t	 je;
	json_t		*root;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (len > MSG_MAX_SIZE) {
		snprintf(err, errlen, "envelope too big");
		return (SH_ETOOBIG);
	}
	if ((root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		snprintf(err, errlen, "malformed envelope: %s", je.text);
		return (SH_EPROTO);
	}
	rc = msg_req_validate(root, out, err, errlen);
	json_decref(root);
	return (rc);
}

void
msg_req_release(struct msg_req *r)
{
	json_decref(r->mr_root);
	memset(r, 0, sizeof(*r));
}

int
msg_rep_decode(const char *data, size_t len, struct msg_rep *out, char *err,
    size_t errlen)
{
	json_error_t	 je;
	json_t		*root;
	json_int_t	 v = 0, status = 0;
	const char	*id = NULL, *ctype = NULL;
	json_t		*body = NULL, *headers = NULL;

	memset(out, 0, sizeof(*out));
	if ((root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		snprintf(err, errlen, "malformed reply: %s", je.text);
		return (SH_EPROTO);
	}
	if (json_unpack_ex(root, &je, JSON_STRICT,
	    "{s:I, s:s, s:I, s:o, s?:s, s?:o}", "v", &v, "id", &id,
	    "status", &status, "body", &body, "content_type", &ctype,
	    "headers", &headers) != 0 || v != MSG_VERSION ||
	    status < 100 || status > 599 ||
	    (headers != NULL && !json_is_object(headers))) {
		snprintf(err, errlen, "bad reply envelope: %s", je.text);
		json_decref(root);
		return (SH_EPROTO);
	}
	out->mp_root = root;
	out->mp_id = id;
	out->mp_status = (int)status;
	out->mp_body = body;
	out->mp_ctype = ctype;
	out->mp_headers = headers;
	return (0);
}

/* ---- replies left as text -------------------------------------------- */

/*
 * The gateway relays most reply bodies unchanged, so decoding them into
 * jansson values only to write them out again costs more than the rest
 * of the relay together (about 60 us to parse and 25 us to write a list
 * of ten agents).  msg_rep_decode_raw() checks the envelope as text
 * instead: one pass that accepts exactly RFC 8259 JSON (strict UTF-8, no
 * control characters in strings, nesting bounded as jansson bounds it),
 * noting where each top-level member's value lies; the small members are
 * then decoded from their spans.
 */
#define MSG_JSON_MAX_DEPTH	2048	/* jansson's JSON_PARSER_MAX_DEPTH */

/* Past the string starting at p ('"'), or NULL if malformed. */
static const unsigned char *
msg_json_string(const unsigned char *p, const unsigned char *end)
{
	size_t	n8;
	int	i;

	for (p++; p < end; ) {
		if (*p == '"')
			return (p + 1);
		if (*p < 0x20)
			return (NULL);
		if (*p >= 0x80) {
			if ((n8 = util_utf8_len(p, (size_t)(end - p))) == 0)
				return (NULL);
			p += n8;
			continue;
		}
		if (*p++ != '\\')
			continue;
		if (p >= end)
			return (NULL);
		if (*p == 'u') {
			if (end - p < 5)
				return (NULL);
			for (i = 1; i <= 4; i++)
				if (!isxdigit(p[i]))
					return (NULL);
			p += 5;
		} else if (strchr("\"\\/bfnrt", *p) != NULL && *p != '\0')
			p++;
		else
			return (NULL);
	}
	return (NULL);
}

/* Past the number starting at p, or NULL if malformed. */
static const unsigned char *
msg_json_number(const unsigned char *p, const unsigned char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end || !isdigit(*p))
		return (NULL);
	if (*p == '0')
		p++;
	else
		while (p < end && isdigit(*p))
			p++;
	if (p < end && *p == '.') {
		if (++p >= end || !isdigit(*p))
			return (NULL);
		while (p < end && isdigit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit(*p))
			return (NULL);
		while (p < end && isdigit(*p))
			p++;
	}
	return (p);
}

static const unsigned char *
msg_json_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return (p);
}

/*
 * Past the one JSON value at p (leading whitespace skipped, trailing
 * not), or NULL if it is not one.  Iterative: the open containers are a
 * bit each, so a hostile nesting costs no stack.
 */
static const unsigned char *
msg_json_value(const unsigned char *p, const unsigned char *end)
{
	unsigned char	 objs[MSG_JSON_MAX_DEPTH / 8];	/* 1: object */
	size_t		 depth = 0;
	size_t		 n;

 value:
	p = msg_json_ws(p, end);
	if (p >= end)
		return (NULL);
	switch (*p) {
	case '{':
	case '[':
		if (depth == MSG_JSON_MAX_DEPTH)
			return (NULL);
		if (*p == '{')
			objs[depth / 8] |= (unsigned char)(1 << (depth % 8));
		else
			objs[depth / 8] &= (unsigned char)~(1 << (depth % 8));
		depth++;
		p = msg_json_ws(p + 1, end);
		if (p < end && (*p == '}' || *p == ']')) {
			if ((*p == '}') != ((objs[(depth - 1) / 8] >>
			    ((depth - 1) % 8)) & 1))
				return (NULL);
			depth--;
			p++;
			goto next;
		}
		if (objs[(depth - 1) / 8] & (1 << ((depth - 1) % 8)))
			goto key;
		goto value;
	case '"':
		p = msg_json_string(p, end);
		break;
	case 't':
	case 'f':
	case 'n':
		n = *p == 'f' ? 5 : 4;
		if ((size_t)(end - p) < n || memcmp(p, *p == 't' ? "true" :
		    *p == 'f' ? "false" : "null", n) != 0)
			return (NULL);
		p += n;
		break;
	default:
		p = msg_json_number(p, end);
		break;
	}
	if (p == NULL)
		return (NULL);
 next:
	if (depth == 0)
		return (p);
	p = msg_json_ws(p, end);
	if (p >= end)
		return (NULL);
	if (*p == ',') {
		p++;
		if (objs[(depth - 1) / 8] & (1 << ((depth - 1) % 8)))
			goto key;
		goto value;
	}
	if (*p != ((objs[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1 ? '}' :
	    ']'))
		return (NULL);
	depth--;
	p++;
	goto next;
 key:
	p = msg_json_ws(p, end);
	if (p >= end || *p != '"' || (p = msg_json_string(p, end)) == NULL)
		return (NULL);
	p = msg_json_ws(p, end);
	if (p >= end || *p != ':')
		return (NULL);
	p++;
	goto value;
}

/* The envelope members msg_rep_decode_raw() knows. */
enum { RAW_V, RAW_ID, RAW_STATUS, RAW_BODY, RAW_CTYPE, RAW_HEADERS, RAW_N };

/* Decodes one small member from its span into root under key. */
static int
msg_raw_member(json_t *root, const char *key, const char *text, size_t len)
{
	json_t	*v;

	if ((v = json_loadb(text, len, JSON_DECODE_ANY, NULL)) == NULL)
		return (-1);
	return (json_object_set_new(root, key, v));
}

int
msg_rep_decode_raw(const char *data, size_t len, struct msg_rep *out,
    char *err, size_t errlen)
{
	static const char *const names[RAW_N] = { "v", "id", "status", "body",
	    "content_type", "headers" };
	const unsigned char	*p, *end, *k, *v[RAW_N], *ve[RAW_N];
	const char		*msg = NULL;
	json_t			*root = NULL, *j;
	char			*raw;
	int			 i, rc = SH_EPROTO;

	memset(out, 0, sizeof(*out));
	memset(v, 0, sizeof(v));
	if (len > MSG_MAX_SIZE) {
		snprintf(err, errlen, "reply too big");
		return (SH_ETOOBIG);
	}
	if ((raw = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (SH_ENOMEM);
	}
	memcpy(raw, data, len);
	raw[len] = '\0';
	p = (const unsigned char *)raw;
	end = p + len;

	/* The envelope object, member by member. */
	p = msg_json_ws(p, end);
	if (p >= end || *p++ != '{') {
		msg = "malformed reply: not an object";
		goto done;
	}
	p = msg_json_ws(p, end);
	if (p < end && *p == '}')
		p++;
	else for (;;) {
		p = msg_json_ws(p, end);
		k = p;
		if (p >= end || *p != '"' || (p = msg_json_string(p, end)) ==
		    NULL) {
			msg = "malformed reply: bad member name";
			goto done;
		}
		for (i = 0; i < RAW_N; i++)
			if ((size_t)(p - k) == strlen(names[i]) + 2 &&
			    memcmp(k + 1, names[i], strlen(names[i])) == 0)
				break;
		if (i == RAW_N || v[i] != NULL) {
			msg = i == RAW_N ? "bad reply envelope: unknown member" :
			    "malformed reply: duplicate member";
			goto done;
		}
		p = msg_json_ws(p, end);
		if (p >= end || *p++ != ':') {
			msg = "malformed reply: ':' expected";
			goto done;
		}
		v[i] = msg_json_ws(p, end);
		if ((p = ve[i] = msg_json_value(v[i], end)) == NULL) {
			msg = "malformed reply: bad JSON value";
			goto done;
		}
		p = msg_json_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}') {
			p++;
			break;
		}
		msg = "malformed reply: ',' or '}' expected";
		goto done;
	}
	if (msg_json_ws(p, end) != end) {
		msg = "malformed reply: text after the envelope";
		goto done;
	}

	/* The small members, decoded; the body stays text. */
	if (v[RAW_V] == NULL || v[RAW_ID] == NULL || v[RAW_STATUS] == NULL ||
	    v[RAW_BODY] == NULL) {
		msg = "bad reply envelope: v, id, status and body are required";
		goto done;
	}
	if ((root = json_object()) == NULL) {
		rc = SH_ENOMEM;
		msg = "out of memory";
		goto done;
	}
	for (i = 0; i < RAW_N; i++)
		if (i != RAW_BODY && v[i] != NULL &&
		    msg_raw_member(root, names[i], (const char *)v[i],
		    (size_t)(ve[i] - v[i])) != 0) {
			msg = "malformed reply: a member could not be read";
			goto done;
		}
	j = json_object_get(root, "status");
	if (!json_is_integer(json_object_get(root, "v")) ||
	    json_integer_value(json_object_get(root, "v")) != MSG_VERSION ||
	    !json_is_string(json_object_get(root, "id")) ||
	    !json_is_integer(j) || json_integer_value(j) < 100 ||
	    json_integer_value(j) > 599 ||
	    (v[RAW_CTYPE] != NULL &&
	    !json_is_string(json_object_get(root, "content_type"))) ||
	    (v[RAW_HEADERS] != NULL &&
	    !json_is_object(json_object_get(root, "headers")))) {
		msg = "bad reply envelope: a member has the wrong type or value";
		goto done;
	}
	out->mp_root = root;
	out->mp_id = json_string_value(json_object_get(root, "id"));
	out->mp_status = (int)json_integer_value(j);
	out->mp_ctype = json_string_value(json_object_get(root,
	    "content_type"));
	out->mp_headers = json_object_get(root, "headers");
	out->mp_raw = raw;
	out->mp_body_text = (const char *)v[RAW_BODY];
	out->mp_body_len = (size_t)(ve[RAW_BODY] - v[RAW_BODY]);
	root = NULL;
	raw = NULL;
	rc = 0;
 done:
	if (rc != 0)
		snprintf(err, errlen, "%s", msg);
	json_decref(root);
	free(raw);
	return (rc);
}

json_t *
msg_rep_body(struct msg_rep *r)
{
	json_t	*b;

	if (r->mp_body != NULL || r->mp_body_text == NULL)
		return (r->mp_body);
	/* Checked already: only memory can fail here. */
	b = json_loadb(r->mp_body_text, r->mp_body_len, JSON_DECODE_ANY,
	    NULL);
	if (b == NULL || json_object_set_new(r->mp_root, "body", b) != 0)
		return (NULL);
	r->mp_body = b;
	return (b);
}

char *
msg_rep_body_text(struct msg_rep *r, size_t *lenp)
{
	char	*text;

	if (r->mp_raw != NULL && r->mp_body_text != NULL) {
		/* The body to the front of the envelope's copy, which the
		 * caller then owns: no allocation, no copy elsewhere. */
		text = r->mp_raw;
		*lenp = r->mp_body_len;
		memmove(text, r->mp_body_text, r->mp_body_len);
		text[r->mp_body_len] = '\0';
		r->mp_raw = NULL;
		r->mp_body_text = NULL;
		r->mp_body_len = 0;
		return (text);
	}
	if (r->mp_body == NULL ||
	    (text = json_dumps(r->mp_body, MSG_JSON_FLAGS)) == NULL)
		return (NULL);
	*lenp = strlen(text);
	return (text);
}

void
msg_rep_release(struct msg_rep *r)
{
	json_decref(r->mp_root);
	free(r->mp_raw);
	memset(r, 0, sizeof(*r));
}

char *
msg_frame(const char *prefix, json_t *v, size_t *lenp)
{
	char	*js, *out;
	size_t	 plen = strlen(prefix), jlen;

	if ((js = json_dumps(v, MSG_JSON_FLAGS)) == NULL)
		return (NULL);
	jlen = strlen(js);
	if ((out = malloc(plen + 1 + jlen + 1)) != NULL) {
		memcpy(out, prefix, plen);
		out[plen] = '\n';
		memcpy(out + plen + 1, js, jlen + 1);
		*lenp = plen + 1 + jlen;
	}
	free(js);
	return (out);
}

const char *
msg_unframe(const char *data, size_t len, char *pfx, size_t pfxlen,
    size_t *plen)
{
	const char	*nl;
	size_t		 n;

	if ((nl = memchr(data, '\n', len)) == NULL)
		return (NULL);
	n = (size_t)(nl - data);
	if (n == 0 || n >= pfxlen)
		return (NULL);
	memcpy(pfx, data, n);
	pfx[n] = '\0';
	*plen = len - n - 1;
	return (nl + 1);
}
