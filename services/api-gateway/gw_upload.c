/*
 * gw_upload.c - the two endpoints that carry raw bytes.
 *
 * POST /api/agents/{id}/upload takes a multipart/form-data body with one
 * file field.  gw_http.c buffers it like any body, but up to
 * GW_UPLOAD_BODY_MAX (max_upload_size_bytes and room for the framing)
 * and without the JSON checks.  Here it is parsed (RFC 7578: boundaries,
 * each part's Content-Disposition name and filename, its Content-Type),
 * and the file goes to agent-runtime's uploads.create as JSON {filename,
 * content_type, data (base64)}.
 *
 * GET /api/uploads/{file_id} asks uploads.get, whose reply carries the
 * bytes as base64 in "data" (a bus reply is JSON); they are decoded here
 * and served with their content type.  Only images, PDFs and plain text
 * are served inline; anything else (HTML, SVG, scripts) comes as an
 * attachment, so an upload never runs as a page of this origin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "err.h"
#include "gateway.h"
#include "log.h"

#define GW_MP_LINE_MAX		2048	/* one part header line */
#define GW_MP_BOUNDARY_MAX	70	/* RFC 2046 */

struct gw_part {
	const char	*p_data;
	size_t		 p_len;
	int		 p_has_filename;
	char		 p_filename[1024];
	char		 p_ctype[256];
};

/* ---- multipart ------------------------------------------------------- */

static const char *
gw_mp_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return (p);
}

/*
 * Finds parameter key in a header value ("form-data; name="a";
 * filename="b"") and copies its value, unquoted, into out.  1 if found,
 * 0 if absent, -1 if malformed or longer than out.
 */
static int
gw_mp_param(const char *v, const char *key, char *out, size_t outlen)
{
	const char	*p, *k;
	size_t		 klen, n;
	int		 match;

	if ((p = strchr(v, ';')) == NULL)
		return (0);
	while (*p == ';') {
		p = gw_mp_skip_ws(p + 1);
		k = p;
		while (*p != '\0' && *p != '=' && *p != ';' && *p != ' ' &&
		    *p != '\t')
			p++;
		klen = (size_t)(p - k);
		match = klen == strlen(key) && strncasecmp(k, key, klen) == 0;
		n = 0;
		p = gw_mp_skip_ws(p);
		if (*p == '=') {
			p = gw_mp_skip_ws(p + 1);
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++) {
					if (*p == '\\' && (p[1] == '"' ||
					    p[1] == '\\'))
						p++;
					if (match && n + 1 >= outlen)
						return (-1);
					if (match)
						out[n++] = *p;
				}
				if (*p++ != '"')
					return (-1);
			} else {
				for (; *p != '\0' && *p != ';' && *p != ' ' &&
				    *p != '\t'; p++) {
					if (match && n + 1 >= outlen)
						return (-1);
					if (match)
						out[n++] = *p;
				}
			}
		}
		if (match) {
			out[n] = '\0';
			return (1);
		}
		p = gw_mp_skip_ws(p);
		if (*p != ';' && *p != '\0')
			return (-1);
	}
	return (0);
}

/* One part's headers, h[0..len), into part.  0, or -1 with err. */
static int
gw_mp_headers(const char *h, size_t len, struct gw_part *part, char *err,
    size_t errlen)
{
	const char	*s, *e, *end = h + len, *v;
	char		 line[GW_MP_LINE_MAX];
	size_t		 n;
	int		 rv;

	for (s = h; s < end; s = e + 2) {
		if ((e = memmem(s, (size_t)(end - s), "\r\n", 2)) == NULL)
			e = end;
		if ((n = (size_t)(e - s)) >= sizeof(line)) {
			snprintf(err, errlen, "a part header is longer than "
			    "%d bytes", GW_MP_LINE_MAX);
			return (-1);
		}
		memcpy(line, s, n);
		line[n] = '\0';
		if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
			v = gw_mp_skip_ws(line + 20);
			if (strncasecmp(v, "form-data", 9) != 0) {
				snprintf(err, errlen, "a part is not "
				    "form-data");
				return (-1);
			}
			rv = gw_mp_param(v, "filename", part->p_filename,
			    sizeof(part->p_filename));
			if (rv < 0) {
				snprintf(err, errlen, "malformed "
				    "Content-Disposition (or a file name "
				    "longer than %zu bytes)",
				    sizeof(part->p_filename) - 1);
				return (-1);
			}
			part->p_has_filename = rv;
		} else if (strncasecmp(line, "Content-Type:", 13) == 0) {
			v = gw_mp_skip_ws(line + 13);
			if (strlen(v) >= sizeof(part->p_ctype)) {
				snprintf(err, errlen, "a part's Content-Type "
				    "is too long");
				return (-1);
			}
			snprintf(part->p_ctype, sizeof(part->p_ctype), "%s", v);
		}
		if (e == end)
			break;
	}
	return (0);
}

/*
 * Parses body[0..len) with boundary.  The first part that has a filename
 * goes into file; *nfiles counts them.  0, or -1 with err.
 */
static int
gw_mp_parse(const char *body, size_t len, const char *boundary,
    struct gw_part *file, int *nfiles, char *err, size_t errlen)
{
	struct gw_part	 part;
	const char	*p = body, *end = body + len, *q, *h;
	char		 dl[GW_MP_BOUNDARY_MAX + 8];
	size_t		 dlen, hlen;

	*nfiles = 0;
	dlen = (size_t)snprintf(dl, sizeof(dl), "\r\n--%s", boundary);
	/* The first delimiter opens the body or ends a preamble. */
	if (len >= dlen - 2 && memcmp(body, dl + 2, dlen - 2) == 0)
		p = body + dlen - 2;
	else if ((q = memmem(body, len, dl, dlen)) != NULL)
		p = q + dlen;
	else {
		snprintf(err, errlen, "no boundary line");
		return (-1);
	}
	for (;;) {
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return (0);		/* the close delimiter */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || memcmp(p, "\r\n", 2) != 0) {
			snprintf(err, errlen, "malformed boundary line");
			return (-1);
		}
		p += 2;
		h = p;
		if (end - p >= 2 && memcmp(p, "\r\n", 2) == 0) {
			hlen = 0;		/* a part without headers */
			p += 2;
		} else if ((q = memmem(p, (size_t)(end - p), "\r\n\r\n",
		    4)) != NULL) {
			hlen = (size_t)(q - p);
			p = q + 4;
		} else {
			snprintf(err, errlen, "a part's headers do not end");
			return (-1);
		}
		if ((q = memmem(p, (size_t)(end - p), dl, dlen)) == NULL) {
			snprintf(err, errlen, "a part does not end (no "
			    "closing boundary)");
			return (-1);
		}
		memset(&part, 0, sizeof(part));
		if (gw_mp_headers(h, hlen, &part, err, errlen) != 0)
			return (-1);
		part.p_data = p;
		part.p_len = (size_t)(q - p);
		if (part.p_has_filename && (*nfiles)++ == 0)
			*file = part;
		p = q + dlen;
	}
}

/* The boundary of a multipart/form-data Content-Type.  0; SH_EPROTO if
 * the type is another; SH_EINVAL if the boundary is missing or bad. */
static int
gw_mp_boundary(const char *ct, char *out, size_t outlen)
{
	size_t	i;

	if (ct == NULL)
		return (SH_EPROTO);
	ct = gw_mp_skip_ws(ct);
	if (strncasecmp(ct, "multipart/form-data", 19) != 0 ||
	    (ct[19] != '\0' && ct[19] != ';' && ct[19] != ' '))
		return (SH_EPROTO);
	if (gw_mp_param(ct, "boundary", out, outlen) != 1 || out[0] == '\0')
		return (SH_EINVAL);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 ||
		    (unsigned char)out[i] > 0x7e)
			return (SH_EINVAL);
	return (0);
}

int
gw_upload_post(struct gw_req *gr)
{
	struct gw_part		 file;
	json_t			*body, *name;
	char			 boundary[GW_MP_BOUNDARY_MAX + 1], err[160];
	char			*b64;
	int			 nfiles, rv;

	rv = gw_mp_boundary(MHD_lookup_connection_value(gr->gr_mhd,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), boundary,
	    sizeof(boundary));
	if (rv == SH_EPROTO) {
		gw_reply_error(gr, 415, "unsupported media type: the body "
		    "must be multipart/form-data");
		return (0);
	}
	if (rv != 0) {
		gw_reply_error(gr, 400, "malformed multipart body: a boundary "
		    "of 1 to %d printable characters is required",
		    GW_MP_BOUNDARY_MAX);
		return (0);
	}
	memset(&file, 0, sizeof(file));
	if (gw_mp_parse(gr->gr_body.b_data != NULL ? gr->gr_body.b_data : "",
	    gr->gr_body.b_len, boundary, &file, &nfiles, err,
	    sizeof(err)) != 0) {
		gw_reply_error(gr, 400, "malformed multipart body: %s", err);
		return (0);
	}
	if (nfiles != 1) {
		gw_reply_error(gr, 400, nfiles == 0 ? "no file in the form: "
		    "send one field with a filename" : "one file per upload");
		return (0);
	}
	if (file.p_filename[0] == '\0') {
		gw_reply_error(gr, 400, "no file selected (the filename is "
		    "empty)");
		return (0);
	}
	if (file.p_len > GW_UPLOAD_MAX) {
		gw_reply_error(gr, 413, "file too large: %zu bytes (the limit "
		    "is %d)", file.p_len, GW_UPLOAD_MAX);
		return (0);
	}
	if ((name = json_string(file.p_filename)) == NULL) {
		gw_reply_error(gr, 400, "the file name is not valid UTF-8");
		return (0);
	}
	if ((b64 = malloc((file.p_len + 2) / 3 * 4 + 1)) == NULL) {
		json_decref(name);
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	b64[0] = '\0';
	if (file.p_len > 0)
		EVP_EncodeBlock((unsigned char *)b64,
		    (const unsigned char *)file.p_data, (int)file.p_len);
	/* The data is ASCII: skip jansson's UTF-8 check on megabytes. */
	body = json_pack("{s:o, s:s, s:o}", "filename", name, "content_type",
	    file.p_ctype, "data", json_stringn_nocheck(b64, strlen(b64)));
	free(b64);
	buf_release(&gr->gr_body);
	if (body == NULL) {
		gw_reply_error(gr, 400, "the part's Content-Type is not valid "
		    "UTF-8");
		return (0);
	}
	return (gw_call_route(gr, body));
}

/* ---- serving --------------------------------------------------------- */

static int
gw_upload_inline(const char *ct)
{
	static const char *const types[] = { "image/png", "image/jpeg",
	    "image/gif", "image/webp", "application/pdf", "text/plain", NULL };
	size_t	i, n;

	for (i = 0; types[i] != NULL; i++) {
		n = strlen(types[i]);
		if (strncasecmp(ct, types[i], n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return (1);
	}
	return (0);
}

/* "inline; filename="x.png"" with the name made safe for a header. */
static void
gw_upload_disposition(const char *ct, const char *name, char *out,
    size_t outlen)
{
	char	safe[128];
	size_t	i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(safe); i++)
		safe[i] = (unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] > 0x7e || name[i] == '"' ||
		    name[i] == '\\' || name[i] == ';' ? '_' : name[i];
	safe[i] = '\0';
	snprintf(out, outlen, "%s; filename=\"%s\"", gw_upload_inline(ct) ?
	    "inline" : "attachment", safe);
}

/* Runs on an nng thread: the reply of uploads.get, decoded. */
static void
gw_upload_got(struct gw_req *gr, int err, struct msg_rep *rep)
{
	const char	*ct, *b64, *name;
	unsigned char	*data = NULL;
	char		 disp[192];
	size_t		 len, pad = 0;

	if (err != 0) {
		gw_reply_bus_error(gr, gr->gr_svc, err);
		return;
	}
	if (rep->mp_status != 200) {
		gw_reply_relay(gr, rep);
		goto done;
	}
	ct = json_string_value(json_object_get(rep->mp_body, "content_type"));
	b64 = json_string_value(json_object_get(rep->mp_body, "data"));
	name = json_string_value(json_object_get(rep->mp_body, "filename"));
	len = b64 != NULL ? json_string_length(json_object_get(rep->mp_body,
	    "data")) : 0;
	if (ct == NULL || b64 == NULL || name == NULL || len % 4 != 0 ||
	    len > (size_t)MSG_MAX_SIZE || (data = malloc(len / 4 * 3 + 1)) ==
	    NULL || (len > 0 && EVP_DecodeBlock(data,
	    (const unsigned char *)b64, (int)len) < 0)) {
		gw_reply_error(gr, 502, "service '%s' sent a malformed upload",
		    gr->gr_svc);
		goto done;
	}
	if (len > 0 && b64[len - 1] == '=')
		pad = b64[len - 2] == '=' ? 2 : 1;
	gw_reply_data(gr, 200, ct, (const char *)data, len / 4 * 3 - pad);
	gw_upload_disposition(ct, name, disp, sizeof(disp));
	json_decref(gr->gr_rheaders);
	gr->gr_rheaders = json_pack("{s:s}", "content-disposition", disp);
done:
	free(data);
	msg_rep_release(rep);
}

int
gw_upload_get(struct gw_req *gr)
{
	json_t	*params;

	if ((params = gw_route_params(gr->gr_route, gr->gr_path)) == NULL) {
		gw_reply_error(gr, 400, "malformed path parameter");
		return (0);
	}
	return (gw_call(gr, gr->gr_route->rt_svc, gr->gr_route->rt_op, params,
	    NULL, NULL, gw_upload_got));
}
