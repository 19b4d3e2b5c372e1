/*
 * msg.c - envelope encode, decode and validation.
 */
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

void
msg_rep_release(struct msg_rep *r)
{
	json_decref(r->mp_root);
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
