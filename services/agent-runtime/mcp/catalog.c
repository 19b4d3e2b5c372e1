/*
 * mcp/catalog.c - the MCP server templates (GET /api/mcp/catalog, the
 * Integrations view): mcp/catalog/<id>.toml, the reference's catalog (MIT,
 * LICENSE beside it), compiled in by service.mk (mcp_catalog_builtin[]),
 * parsed once at start and read-only after, so every replica serves the
 * same set.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "embed.h"
#include "log.h"
#include "mcp/mcp.h"
#include "toml.h"

extern const struct embed_file mcp_catalog_builtin[];	/* NULL-ended */

static json_t	*mcp_catalog;	/* array sorted by id */

static int
catalog_cmp(const void *a, const void *b)
{
	const json_t	*x = *(const json_t *const *)a;
	const json_t	*y = *(const json_t *const *)b;

	return (strcmp(json_string_value(json_object_get(x, "id")),
	    json_string_value(json_object_get(y, "id"))));
}

int
mcp_catalog_init(void)
{
	const struct embed_file	*f;
	struct toml_err		 te;
	json_t			**v = NULL, *t;
	size_t			 n = 0, i;
	int			 ret = -1;

	for (f = mcp_catalog_builtin; f->ef_name != NULL; f++)
		n++;
	if ((mcp_catalog = json_array()) == NULL ||
	    (v = calloc(n + 1, sizeof(*v))) == NULL)
		goto done;
	n = 0;
	for (f = mcp_catalog_builtin; f->ef_name != NULL; f++) {
		if ((t = toml_parse(f->ef_text, f->ef_len, 0, &te)) == NULL) {
			log_warnx("%s: could not parse '%s': %s", __func__,
			    f->ef_name, te.te_msg);
			goto done;
		}
		if (!json_is_string(json_object_get(t, "id")) ||
		    !json_is_object(json_object_get(t, "transport"))) {
			log_warnx("%s: '%s' has no id or transport", __func__,
			    f->ef_name);
			json_decref(t);
			goto done;
		}
		v[n++] = t;
	}
	qsort(v, n, sizeof(*v), catalog_cmp);
	for (i = 0; i < n; i++) {
		if (json_array_append_new(mcp_catalog, v[i]) != 0)
			goto done;
		v[i] = NULL;
	}
	ret = 0;
 done:
	for (i = 0; v != NULL && i < n; i++)
		json_decref(v[i]);
	free(v);
	if (ret != 0) {
		json_decref(mcp_catalog);
		mcp_catalog = NULL;
	}
	return (ret);
}

void
mcp_catalog_fini(void)
{
	json_decref(mcp_catalog);
	mcp_catalog = NULL;
}

json_t *
mcp_catalog_all(void)
{
	return (mcp_catalog);
}

json_t *
mcp_catalog_get(const char *id)
{
	json_t	*t;
	size_t	 i;

	if (id == NULL)
		return (NULL);
	json_array_foreach(mcp_catalog, i, t)
		if (strcmp(json_string_value(json_object_get(t, "id")),
		    id) == 0)
			return (t);
	return (NULL);
}

static json_t *
catalog_get_or(json_t *t, const char *key, json_t *dflt)
{
	json_t	*v = json_object_get(t, key);

	if (v == NULL) {
		return (dflt);
	}
	json_decref(dflt);
	return (json_incref(v));
}

json_t *
mcp_catalog_view(json_t *t)
{
	json_t	*req, *e, *out;
	size_t	 i;

	if ((req = json_array()) == NULL)
		return (NULL);
	json_array_foreach(json_object_get(t, "required_env"), i, e)
		json_array_append_new(req, json_pack("{s:O?, s:O?, s:O?, "
		    "s:b, s:O?}", "name", json_object_get(e, "name"), "label",
		    json_object_get(e, "label"), "help", json_object_get(e,
		    "help"), "is_secret", json_is_true(json_object_get(e,
		    "is_secret")), "get_url", json_object_get(e, "get_url")));
	out = json_pack("{s:O, s:O?, s:O?, s:O?, s:O?, s:o, s:O, s:o, s:b, "
	    "s:O?, s:O?}",
	    "id", json_object_get(t, "id"),
	    "name", json_object_get(t, "name"),
	    "description", json_object_get(t, "description"),
	    "category", json_object_get(t, "category"),
	    "icon", json_object_get(t, "icon"),
	    "tags", catalog_get_or(t, "tags", json_array()),
	    "transport", json_object_get(t, "transport"),
	    "required_env", req,
	    "has_oauth", json_object_get(t, "oauth") != NULL,
	    "setup_instructions", json_object_get(t, "setup_instructions"),
	    "health_check", json_object_get(t, "health_check"));
	return (out);
}
