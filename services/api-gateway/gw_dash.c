/*
 * gw_dash.c - the web dashboard's files: GET / (index.html) and
 * GET /dashboard/<path> (every other file of dashboard/), public.
 *
 * The files are compiled in (deploy/file2c.sh -z, service.mk) with a
 * `gzip -9n` copy of each, so nothing is read from disk or compressed at
 * run time.  Each answer carries:
 *
 *	Content-Type		from the name's extension
 *	ETag			strong: the first 128 bits of the SHA-256
 *				of the text, "-gz" appended for the gzip
 *				copy (a different representation)
 *	Cache-Control		no-cache: the URLs are not versioned, so
 *				the browser revalidates each time and gets
 *				a 304 while the file is unchanged
 *	Content-Encoding	gzip, when Accept-Encoding allows it
 *	Vary			Accept-Encoding
 *	Content-Security-Policy	GW_DASH_CSP (the dashboard's, strict),
 *				in place of the API's
 *
 * If-None-Match naming the chosen representation's ETag (or "*") gives a
 * 304.  HEAD is GET without the body (libmicrohttpd).  An unknown path is
 * the usual 404 JSON.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "embed.h"
#include "gateway.h"
#include "log.h"

#define GW_DASH_PREFIX	"/dashboard/"
#define GW_DASH_ETAG	40	/* '"' 32 hex "-gz" '"' NUL */

extern const struct embed_file gw_dash_files[];	/* generated */

struct gw_dash_asset {
	const struct embed_file	*da_file;
	const char		*da_ctype;
	char			 da_etag[GW_DASH_ETAG];
	char			 da_etag_gz[GW_DASH_ETAG];
};

static struct gw_dash_asset	*gw_dash;
static size_t			 gw_ndash;
static pthread_once_t		 gw_dash_once = PTHREAD_ONCE_INIT;

static const struct {
	const char	*ext;
	const char	*ctype;
} gw_dash_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".mjs",	"text/javascript; charset=utf-8" },
	{ ".json",	"application/json" },
	{ ".svg",	"image/svg+xml" },
	{ ".txt",	"text/plain; charset=utf-8" },
	{ ".webmanifest", "application/manifest+json" },
	{ NULL,		NULL }
};

static const char *
gw_dash_ctype(const char *name)
{
	const char	*dot = strrchr(name, '.');
	int		 i;

	for (i = 0; dot != NULL && gw_dash_types[i].ext != NULL; i++)
		if (strcmp(dot, gw_dash_types[i].ext) == 0)
			return (gw_dash_types[i].ctype);
	return ("application/octet-stream");
}

static void
gw_dash_init(void)
{
	const struct embed_file	*f;
	struct gw_dash_asset	*a;
	char			 h[65];
	size_t			 n = 0;

	for (f = gw_dash_files; f->ef_name != NULL; f++)
		n++;
	if ((gw_dash = calloc(n, sizeof(*gw_dash))) == NULL) {
		log_warnx("dashboard: out of memory");
		return;
	}
	for (f = gw_dash_files; f->ef_name != NULL; f++) {
		a = &gw_dash[gw_ndash];
		if (util_sha256_hex(f->ef_text, f->ef_len, h) != 0) {
			log_warnx("dashboard: cannot hash %s", f->ef_name);
			continue;
		}
		a->da_file = f;
		a->da_ctype = gw_dash_ctype(f->ef_name);
		/* The first 128 bits of the SHA-256 name the asset. */
		snprintf(a->da_etag, sizeof(a->da_etag), "\"%.32s\"", h);
		snprintf(a->da_etag_gz, sizeof(a->da_etag_gz), "\"%.32s-gz\"",
		    h);
		gw_ndash++;
	}
}

static const struct gw_dash_asset *
gw_dash_find(const char *name)
{
	size_t	i;

	pthread_once(&gw_dash_once, gw_dash_init);
	for (i = 0; i < gw_ndash; i++)
		if (strcmp(gw_dash[i].da_file->ef_name, name) == 0)
			return (&gw_dash[i]);
	return (NULL);
}

/*
 * 1 if an Accept-Encoding value takes gzip: a "gzip", "x-gzip" or "*"
 * coding whose q is not 0 (RFC 9110 12.5.3; "gzip;q=0" refuses it).
 */
static int
gw_dash_accepts_gzip(const char *ae)
{
	const char	*p = ae, *end, *semi, *q;
	size_t		 n;
	int		 star = 0, gz = -1, ok;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		semi = memchr(p, ';', (size_t)(end - p));
		n = (size_t)((semi != NULL ? semi : end) - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		ok = 1;
		if (semi != NULL && (q = strstr(semi, "q=")) != NULL &&
		    q < end && strtod(q + 2, NULL) <= 0.0)
			ok = 0;
		if ((n == 4 && strncasecmp(p, "gzip", 4) == 0) ||
		    (n == 6 && strncasecmp(p, "x-gzip", 6) == 0))
			gz = ok;
		else if (n == 1 && *p == '*')
			star = ok;
		p = end;
	}
	return (gz >= 0 ? gz : star);
}

/* 1 if an If-None-Match value names etag (weak comparison) or is "*". */
static int
gw_dash_etag_match(const char *inm, const char *etag)
{
	const char	*p = inm, *end;
	size_t		 elen = strlen(etag);

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return (1);
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return (0);		/* malformed: no match */
		if ((end = strchr(p + 1, '"')) == NULL)
			return (0);
		if ((size_t)(end + 1 - p) == elen && memcmp(p, etag, elen) == 0)
			return (1);
		p = end + 1;
	}
	return (0);
}

static enum MHD_Result
gw_dash_queue(struct gw_req *gr)
{
	const struct gw_dash_asset	*a = gr->gr_ctx;
	const struct embed_file		*f = a->da_file;
	struct MHD_Response		*resp;
	const char			*etag, *inm;
	unsigned int			 status = 200;
	int				 gz;

	gz = f->ef_gz != NULL && gw_dash_accepts_gzip(MHD_lookup_connection_value(
	    gr->gr_mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING) ?: "");
	etag = gz ? a->da_etag_gz : a->da_etag;
	inm = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm != NULL && gw_dash_etag_match(inm, etag)) {
		status = 304;
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
	} else if (gz)
		resp = MHD_create_response_from_buffer(f->ef_gzlen,
		    (void *)(uintptr_t)f->ef_gz, MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(f->ef_len,
		    (void *)(uintptr_t)f->ef_text, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return (MHD_NO);
	if (status == 200) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    a->da_ctype);
		if (gz)
			MHD_add_response_header(resp,
			    MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-cache");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	return (gw_queue_response(gr, status, resp));
}

static int
gw_dash_serve(struct gw_req *gr, const char *name)
{
	const struct gw_dash_asset	*a;

	gr->gr_dash = 1;
	if ((a = gw_dash_find(name)) == NULL) {
		gw_reply_error(gr, 404, "not found: %s", gr->gr_path);
		return (0);
	}
	gr->gr_ctx = (void *)(uintptr_t)a;
	gr->gr_queue = gw_dash_queue;
	return (0);
}

int
gw_dash_root(struct gw_req *gr)
{
	return (gw_dash_serve(gr, "index.html"));
}

int
gw_dash_file(struct gw_req *gr)
{
	const char	*p = gr->gr_path;

	if (strncmp(p, GW_DASH_PREFIX, sizeof(GW_DASH_PREFIX) - 1) != 0) {
		gw_reply_error(gr, 404, "not found: %s", gr->gr_path);
		return (0);
	}
	return (gw_dash_serve(gr, p + sizeof(GW_DASH_PREFIX) - 1));
}
