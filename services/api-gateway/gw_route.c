/*
 * gw_route.c - the route matcher, path normalisation, path parameters
 * and query strings.
 *
 * gw_route_init() turns the rows of gw_routes[] into a tree with one node
 * per path segment: static children by name, and at most one parameter
 * child.  Matching walks the tree trying the static child first and the
 * parameter child only when the static subtree has no route for the rest
 * of the path, so "/api/agents/bulk" is never taken as "/api/agents/{id}".
 * A route's last parameter may be written "{id...}": it then takes the
 * rest of the path, slashes included ("/api/models/{id...}" matches
 * "/api/models/openrouter/meta-llama/llama-3-70b"), and is tried only
 * after every static and one-segment route has failed.
 * The tree is built once at start and only read afterwards, so matching
 * takes no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gateway.h"
#include "log.h"

struct gw_rnode {
	char			*n_seg;		/* static name; NULL: param */
	struct gw_rnode		**n_kids;
	size_t			 n_nkids;
	struct gw_rnode		*n_param;
	struct gw_rnode		*n_rest;	/* "{name...}": the rest */
	const struct gw_route	*n_routes[GW_NMETHODS];
};

static struct gw_rnode	*gw_root;

static const char *const gw_method_names[] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"
};

const char *
gw_method_name(enum gw_method m)
{
	if ((int)m < 0 || m > GW_OTHER)
		return ("OTHER");
	return (gw_method_names[m]);
}

enum gw_method
gw_method_parse(const char *s, int *is_head)
{
	*is_head = 0;
	if (strcmp(s, "GET") == 0)
		return (GW_GET);
	if (strcmp(s, "HEAD") == 0) {
		*is_head = 1;
		return (GW_GET);
	}
	if (strcmp(s, "POST") == 0)
		return (GW_POST);
	if (strcmp(s, "PUT") == 0)
		return (GW_PUT);
	if (strcmp(s, "PATCH") == 0)
		return (GW_PATCH);
	if (strcmp(s, "DELETE") == 0)
		return (GW_DELETE);
	if (strcmp(s, "OPTIONS") == 0)
		return (GW_OPTIONS);
	return (GW_OTHER);
}

void
gw_method_list(unsigned int mask, char *out, size_t outlen)
{
	size_t	off = 0;
	int	m, n;

	out[0] = '\0';
	for (m = 0; m < GW_NMETHODS; m++) {
		if ((mask & (1U << m)) == 0)
			continue;
		n = snprintf(out + off, outlen - off, "%s%s", off ? ", " : "",
		    gw_method_names[m]);
		if (n < 0 || (size_t)n >= outlen - off)
			return;
		off += (size_t)n;
	}
	snprintf(out + off, outlen - off, "%sOPTIONS", off ? ", " : "");
}

static void
gw_rnode_free(struct gw_rnode *n)
{
	size_t	i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_nkids; i++)
		gw_rnode_free(n->n_kids[i]);
	gw_rnode_free(n->n_param);
	gw_rnode_free(n->n_rest);
	free(n->n_kids);
	free(n->n_seg);
	free(n);
}

/* 1 if the pattern segment seg (len bytes) is "{name...}". */
static int
gw_seg_rest(const char *seg, size_t len)
{
	return (len >= 6 && seg[0] == '{' && memcmp(seg + len - 4, "...}",
	    4) == 0);
}

/* Returns the child of n for segment seg (len bytes), creating it. */
static struct gw_rnode *
gw_rnode_child(struct gw_rnode *n, const char *seg, size_t len)
{
	struct gw_rnode	*k, **kids;
	size_t		 i;

	if (gw_seg_rest(seg, len)) {
		if (n->n_rest == NULL)
			n->n_rest = calloc(1, sizeof(*n->n_rest));
		return (n->n_rest);
	}
	if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') {
		if (n->n_param == NULL)
			n->n_param = calloc(1, sizeof(*n->n_param));
		return (n->n_param);
	}
	for (i = 0; i < n->n_nkids; i++)
		if (strlen(n->n_kids[i]->n_seg) == len &&
		    memcmp(n->n_kids[i]->n_seg, seg, len) == 0)
			return (n->n_kids[i]);
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->n_seg = strndup(seg, len)) == NULL) {
		free(k);
		return (NULL);
	}
	kids = reallocarray(n->n_kids, n->n_nkids + 1, sizeof(*kids));
	if (kids == NULL) {
		gw_rnode_free(k);
		return (NULL);
	}
	n->n_kids = kids;
	n->n_kids[n->n_nkids++] = k;
	return (k);
}

int
gw_route_init(void)
{
	const struct gw_route	*rt;
	struct gw_rnode		*n;
	const char		*p, *e;
	size_t			 i;

	if ((gw_root = calloc(1, sizeof(*gw_root))) == NULL)
		return (-1);
	for (i = 0; i < gw_nroutes; i++) {
		rt = &gw_routes[i];
		if (rt->rt_pattern[0] != '/' || rt->rt_method >= GW_NMETHODS) {
			log_warnx("%s: bad route '%s'", __func__,
			    rt->rt_pattern);
			return (-1);
		}
		n = gw_root;
		for (p = rt->rt_pattern + 1; n != NULL && *p != '\0'; p = e) {
			if ((e = strchr(p, '/')) == NULL)
				e = p + strlen(p);
			if (gw_seg_rest(p, (size_t)(e - p)) && *e != '\0') {
				log_warnx("%s: '%s': only the last segment may "
				    "take the rest", __func__, rt->rt_pattern);
				return (-1);
			}
			n = gw_rnode_child(n, p, (size_t)(e - p));
			if (*e == '/')
				e++;
		}
		if (n == NULL) {
			log_warnx("%s: out of memory", __func__);
			return (-1);
		}
		if (n->n_routes[rt->rt_method] != NULL) {
			log_warnx("%s: duplicate route %s '%s'", __func__,
			    gw_method_name(rt->rt_method), rt->rt_pattern);
			return (-1);
		}
		n->n_routes[rt->rt_method] = rt;
	}
	return (0);
}

void
gw_route_fini(void)
{
	gw_rnode_free(gw_root);
	gw_root = NULL;
}

static int
gw_rnode_terminal(const struct gw_rnode *n)
{
	int	m;

	for (m = 0; m < GW_NMETHODS; m++)
		if (n->n_routes[m] != NULL)
			return (1);
	return (0);
}

/* p is the rest of the path after a '/' (or "" at its end). */
static const struct gw_rnode *
gw_rnode_find(const struct gw_rnode *n, const char *p, int at_end)
{
	const struct gw_rnode	*found;
	const char		*e, *next;
	size_t			 len, i;

	if (at_end)
		return (gw_rnode_terminal(n) ? n : NULL);
	if ((e = strchr(p, '/')) == NULL) {
		e = p + strlen(p);
		next = e;
	} else
		next = e + 1;
	len = (size_t)(e - p);
	for (i = 0; i < n->n_nkids; i++) {
		if (strncmp(n->n_kids[i]->n_seg, p, len) == 0 &&
		    n->n_kids[i]->n_seg[len] == '\0') {
			found = gw_rnode_find(n->n_kids[i], next, *e == '\0');
			if (found != NULL)
				return (found);
			break;
		}
	}
	if (n->n_param != NULL && len > 0 &&
	    (found = gw_rnode_find(n->n_param, next, *e == '\0')) != NULL)
		return (found);
	if (n->n_rest != NULL && len > 0 && gw_rnode_terminal(n->n_rest))
		return (n->n_rest);
	return (NULL);
}

int
gw_route_match(const char *path, enum gw_method method, struct gw_match *m)
{
	const struct gw_rnode	*n;
	int			 i;

	m->m_route = NULL;
	m->m_allow = 0;
	if (gw_root == NULL || path[0] != '/')
		return (SH_ENOTFOUND);
	n = gw_rnode_find(gw_root, path + 1, path[1] == '\0');
	if (n == NULL)
		return (SH_ENOTFOUND);
	for (i = 0; i < GW_NMETHODS; i++)
		if (n->n_routes[i] != NULL)
			m->m_allow |= 1U << i;
	if (method < GW_NMETHODS)
		m->m_route = n->n_routes[method];
	return (0);
}

int
gw_path_normalise(const char *path, size_t len, char *out, size_t outlen)
{
	size_t	skip = 0;

	if (len >= 8 && memcmp(path, "/api/v1/", 8) == 0)
		skip = 3;		/* "/api/v1/x" -> "/api/x" */
	else if (len == 7 && memcmp(path, "/api/v1", 7) == 0)
		skip = 3;
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (skip > 0) {
		if (len - skip + 1 > outlen)
			return (SH_ETOOBIG);
		memcpy(out, path, 4);			/* "/api" */
		memcpy(out + 4, path + 7, len - 7);
		out[len - skip] = '\0';
		return (0);
	}
	if (len + 1 > outlen)
		return (SH_ETOOBIG);
	memcpy(out, path, len);
	out[len] = '\0';
	return (0);
}

static int
gw_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Percent-decodes s[0..len) as a JSON string (new reference), turning '+'
 * into a space when plus is set.  A malformed escape is kept as is.
 * NULL for a decoded NUL or invalid UTF-8.
 */
static json_t *
gw_decode(const char *s, size_t len, int plus)
{
	json_t	*v;
	char	*d;
	size_t	 i, n = 0;
	int	 hi, lo;

	if ((d = malloc(len + 1)) == NULL)
		return (NULL);
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    (hi = gw_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = gw_hexval((unsigned char)s[i + 2])) >= 0) {
			if (hi == 0 && lo == 0) {
				free(d);
				return (NULL);
			}
			d[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && s[i] == '+')
			d[n++] = ' ';
		else
			d[n++] = s[i];
	}
	d[n] = '\0';
	v = json_stringn(d, n);		/* NULL on invalid UTF-8 */
	free(d);
	return (v);
}

json_t *
gw_route_params(const struct gw_route *rt, const char *path)
{
	const char	*p, *pe, *q, *qe;
	json_t		*o, *v;

	if ((o = json_object()) == NULL)
		return (NULL);
	p = rt->rt_pattern + 1;
	q = path + 1;
	while (*p != '\0') {
		if ((pe = strchr(p, '/')) == NULL)
			pe = p + strlen(p);
		if ((qe = strchr(q, '/')) == NULL)
			qe = q + strlen(q);
		if (gw_seg_rest(p, (size_t)(pe - p))) {
			/* The rest of the path, slashes included. */
			if ((v = gw_decode(q, strlen(q), 0)) == NULL ||
			    json_object_setn_new(o, p + 1,
			    (size_t)(pe - p - 5), v) != 0) {
				json_decref(o);
				return (NULL);
			}
			break;
		}
		if (*p == '{') {
			if ((v = gw_decode(q, (size_t)(qe - q), 0)) == NULL ||
			    json_object_setn_new(o, p + 1,
			    (size_t)(pe - p - 2), v) != 0) {
				json_decref(o);
				return (NULL);
			}
		}
		p = *pe == '/' ? pe + 1 : pe;
		q = *qe == '/' ? qe + 1 : qe;
	}
	return (o);
}

json_t *
gw_query_parse(const char *qs)
{
	const char	*p, *e, *eq;
	json_t		*o, *k, *v;

	if ((o = json_object()) == NULL)
		return (NULL);
	for (p = qs; p != NULL && *p != '\0'; p = *e ? e + 1 : e) {
		if ((e = strchr(p, '&')) == NULL)
			e = p + strlen(p);
		if (e == p)
			continue;
		if ((eq = memchr(p, '=', (size_t)(e - p))) == NULL)
			eq = e;
		k = gw_decode(p, (size_t)(eq - p), 1);
		v = gw_decode(eq == e ? e : eq + 1,
		    eq == e ? 0 : (size_t)(e - eq - 1), 1);
		if (k == NULL || v == NULL) {
			json_decref(k);
			json_decref(v);
			json_decref(o);
			return (NULL);
		}
		/* Repeated keys: the last one wins. */
		if (json_string_length(k) > 0)
			json_object_setn_new(o, json_string_value(k),
			    json_string_length(k), v);
		else
			json_decref(v);
		json_decref(k);
	}
	return (o);
}
