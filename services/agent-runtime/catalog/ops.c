/*
 * catalog/ops.c - models.*, providers.* and catalog.*: the catalog as the
 * API shows it, and what users change in it (keys, base-URL overrides,
 * custom models, aliases; sql/003_catalog.sql).
 *
 * Every read takes the current snapshot (catalog_acquire()) and the rows of
 * PostgreSQL through the worker's connection; nothing is cached, so every
 * replica shows the same thing.  An API key is written and read only to
 * call the provider: no reply carries it, nor any part of it (a provider's
 * own error text is not passed on for an authentication failure, since
 * some echo part of the key).
 *
 * providers.test and providers.ollama_detect call out through the LLM
 * module's blocking calls (llm/probe.c) on the bus worker, bounded by
 * short timeouts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "audit.h"
#include "buf.h"
#include "catalog/catalog.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "util.h"

#define CAT_ALIAS_MAX		64
#define CAT_DISPLAY_MAX		256
#define CAT_CONTEXT_MAX		100000000LL
#define CAT_COST_MAX		1000000.0
#define CAT_SQLSTATE_UNIQUE	"23505"

static const char SQL_SETTINGS[] =
	"SELECT 'k' AS kind, provider, NULL AS base_url FROM provider_keys "
	"UNION ALL SELECT 'u', provider, base_url FROM provider_urls";
static const char SQL_CUSTOM_LIST[] =
	"SELECT id, provider, display_name, context_window, "
	"    max_output_tokens, input_cost_per_m, output_cost_per_m, "
	"    supports_tools, supports_vision, supports_streaming, "
	"    supports_thinking "
	"FROM custom_models ORDER BY created_at, id";
static const char SQL_CUSTOM_GET[] =
	"SELECT id, provider, display_name, context_window, "
	"    max_output_tokens, input_cost_per_m, output_cost_per_m, "
	"    supports_tools, supports_vision, supports_streaming, "
	"    supports_thinking "
	"FROM custom_models WHERE lower(id) = lower($1)";
static const char SQL_CUSTOM_ADD[] =
	"INSERT INTO custom_models (id, provider, display_name, "
	"    context_window, max_output_tokens, input_cost_per_m, "
	"    output_cost_per_m, supports_tools, supports_vision, "
	"    supports_streaming, supports_thinking) "
	"VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::float8, $7::float8, "
	"    $8::bool, $9::bool, $10::bool, $11::bool)";
static const char SQL_CUSTOM_DEL[] =
	"DELETE FROM custom_models WHERE lower(id) = lower($1) RETURNING id";
static const char SQL_ALIAS_LIST[] =
	"SELECT alias, model_id FROM model_aliases ORDER BY alias";
static const char SQL_ALIAS_GET[] =
	"SELECT model_id FROM model_aliases WHERE alias = $1";
static const char SQL_ALIAS_ADD[] =
	"INSERT INTO model_aliases (alias, model_id) VALUES ($1, $2)";
static const char SQL_ALIAS_DEL[] =
	"DELETE FROM model_aliases WHERE alias = $1 RETURNING model_id";
static const char SQL_KEY_SET[] =
	"INSERT INTO provider_keys (provider, api_key) VALUES ($1, $2) "
	"ON CONFLICT (provider) DO UPDATE SET api_key = EXCLUDED.api_key, "
	"    updated_at = clock_timestamp()";
static const char SQL_KEY_DEL[] =
	"DELETE FROM provider_keys WHERE provider = $1";
static const char SQL_URL_SET[] =
	"INSERT INTO provider_urls (provider, base_url) VALUES ($1, $2) "
	"ON CONFLICT (provider) DO UPDATE SET base_url = EXCLUDED.base_url, "
	"    updated_at = clock_timestamp()";
static const char SQL_URL_DEL[] =
	"DELETE FROM provider_urls WHERE provider = $1";
static const char SQL_COUNTS[] =
	"SELECT (SELECT count(*) FROM custom_models) AS custom_models, "
	"    (SELECT count(*) FROM model_aliases) AS aliases";

/* ---- shared pieces ------------------------------------------------------ */

static void
cat_lower(const char *s, char *out, size_t outlen)
{
	size_t	i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* What the database says about providers: {"keys": {id: true},
 * "urls": {id: url}} (new), or NULL after a 503. */
static json_t *
cat_settings(struct svc_ctx *c, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*o, *keys, *urls;
	int		 i;

	if ((res = db_exec(c->sc_db, SQL_SETTINGS, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	keys = json_object();
	urls = json_object();
	for (i = 0; i < PQntuples(res); i++) {
		if (*PQgetvalue(res, i, 0) == 'k')
			json_object_set_new(keys, PQgetvalue(res, i, 1),
			    json_true());
		else
			json_object_set_new(urls, PQgetvalue(res, i, 1),
			    json_string(PQgetvalue(res, i, 2)));
	}
	PQclear(res);
	o = json_pack("{s:o, s:o}", "keys", keys, "urls", urls);
	if (o == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (o);
}

/* A provider as the API knows it: the catalog's, or one only named in
 * [provider_urls]. */
struct cat_pv {
	const struct catalog_provider *pv_cat;		/* NULL: config only */
	char		 pv_id[CATALOG_PROVIDER_MAX + 1];
	const char	*pv_display;
	const char	*pv_catalog_url;
	int		 pv_key_required;
	int		 pv_cli;
};

static const char *
cat_cfg_section(const char *section, const char *id)
{
	const struct sh_config	*cfg = catalog_config();

	if (cfg == NULL)
		return (NULL);
	return (json_string_value(json_object_get(json_object_get(
	    cfg->cf_doc, section), id)));
}

static int
cat_pv_find(const struct catalog_snap *s, const char *name,
    struct cat_pv *pv)
{
	const char	*u;

	memset(pv, 0, sizeof(*pv));
	if (name == NULL || *name == '\0' ||
	    strlen(name) > CATALOG_PROVIDER_MAX)
		return (-1);
	if ((pv->pv_cat = catalog_provider_find(s, name)) != NULL) {
		snprintf(pv->pv_id, sizeof(pv->pv_id), "%s",
		    pv->pv_cat->cp_id);
		pv->pv_display = pv->pv_cat->cp_display;
		pv->pv_catalog_url = pv->pv_cat->cp_base_url;
		pv->pv_key_required = pv->pv_cat->cp_key_required;
		pv->pv_cli = pv->pv_cat->cp_base_url[0] == '\0' &&
		    pv->pv_cat->cp_key_env[0] == '\0';
		return (0);
	}
	if ((u = cat_cfg_section("provider_urls", name)) == NULL)
		return (-1);
	snprintf(pv->pv_id, sizeof(pv->pv_id), "%s", name);
	pv->pv_display = pv->pv_id;
	pv->pv_catalog_url = "";
	pv->pv_key_required = 0;
	return (0);
}

/* The provider's key variable (the one that counts) and whether a key is
 * set anywhere; never the key. */
static int
cat_pv_keyed(const struct cat_pv *pv, json_t *settings, char *env,
    size_t envlen, const char **source)
{
	size_t	n;
	const char *v;

	*source = NULL;
	if (catalog_env_key(pv->pv_cat, pv->pv_id, env, envlen)) {
		*source = "env";
		return (1);
	}
	if (env[0] == '\0' && !pv->pv_cli) {
		for (n = 0; pv->pv_id[n] != '\0' && n + 9 < envlen; n++)
			env[n] = isalnum((unsigned char)pv->pv_id[n]) ?
			    (char)toupper((unsigned char)pv->pv_id[n]) : '_';
		snprintf(env + n, envlen - n, "_API_KEY");
		if ((v = getenv(env)) != NULL && *v != '\0') {
			*source = "env";
			return (1);
		}
	}
	if (json_object_get(json_object_get(settings, "keys"), pv->pv_id)) {
		*source = "api";
		return (1);
	}
	return (0);
}

/* The base URL that counts and where it comes from. */
static const char *
cat_pv_url(const struct cat_pv *pv, json_t *settings, const char **source)
{
	const char	*u;

	if ((u = json_string_value(json_object_get(json_object_get(settings,
	    "urls"), pv->pv_id))) != NULL) {
		*source = "api";
		return (u);
	}
	if ((u = cat_cfg_section("provider_urls", pv->pv_id)) != NULL) {
		*source = "config";
		return (u);
	}
	*source = "catalog";
	return (pv->pv_catalog_url);
}

static int
cat_pv_available(const struct cat_pv *pv, json_t *settings)
{
	char		 env[128];
	const char	*src;

	if (pv->pv_cli)
		return (0);
	return (cat_pv_keyed(pv, settings, env, sizeof(env), &src) ||
	    !pv->pv_key_required);
}

static json_t *
cat_provider_json(const struct catalog_snap *s, const struct cat_pv *pv,
    json_t *settings, json_t *customs)
{
	char		 env[128];
	const char	*key_src, *url_src, *url, *status, *pr;
	json_int_t	 count;
	json_t		*e;
	size_t		 i;
	int		 keyed;

	(void)s;
	keyed = cat_pv_keyed(pv, settings, env, sizeof(env), &key_src);
	url = cat_pv_url(pv, settings, &url_src);
	if (pv->pv_cli)
		status = "cli_not_installed";
	else if (keyed)
		status = "configured";
	else if (!pv->pv_key_required)
		status = "no_key_needed";
	else
		status = "missing";
	count = pv->pv_cat ? (json_int_t)pv->pv_cat->cp_nmodels : 0;
	json_array_foreach(customs, i, e) {
		pr = json_string_value(json_object_get(e, "provider"));
		if (pr != NULL && strcmp(pr, pv->pv_id) == 0)
			count++;
	}
	return (json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:b, s:s?, s:I, "
	    "s:s}",
	    "name", pv->pv_id,
	    "display_name", pv->pv_display,
	    "auth_status", status,
	    "env_var", env[0] ? env : NULL,
	    "base_url", url,
	    "base_url_source", url_src,
	    "key_required", pv->pv_key_required,
	    "key_source", key_src,
	    "model_count", count,
	    "api_style", llm_style_name(catalog_style(pv->pv_id))));
}

static json_t *
cat_model_json(const struct catalog_model *m, int available)
{
	return (json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:f, "
	    "s:b, s:b, s:b, s:b, s:o, s:b}",
	    "id", m->cm_id,
	    "provider", m->cm_provider,
	    "display_name", m->cm_display,
	    "tier", m->cm_tier,
	    "modality", m->cm_modality,
	    "context_window", (json_int_t)m->cm_context,
	    "max_output_tokens", (json_int_t)m->cm_max_output,
	    "input_cost_per_1m", m->cm_in_per_m,
	    "output_cost_per_1m", m->cm_out_per_m,
	    "supports_tools", m->cm_tools,
	    "supports_vision", m->cm_vision,
	    "supports_streaming", m->cm_streaming,
	    "supports_thinking", m->cm_thinking,
	    "aliases", m->cm_aliases ? json_incref(m->cm_aliases) :
	    json_array(), "available", available));
}

/* A float8 column as db_row_json leaves it (text) or a number. */
static double
cat_row_num(json_t *row, const char *key)
{
	json_t	*v = json_object_get(row, key);

	if (json_is_number(v))
		return (json_number_value(v));
	return (json_is_string(v) ? strtod(json_string_value(v), NULL) : 0.0);
}

/* A custom_models row (db_row_json) in the shape of cat_model_json. */
static json_t *
cat_custom_json(json_t *row, int available)
{
	json_t	*o = json_object();

	if (o == NULL)
		return (NULL);
	json_object_set(o, "id", json_object_get(row, "id"));
	json_object_set(o, "provider", json_object_get(row, "provider"));
	json_object_set(o, "display_name",
	    json_object_get(row, "display_name"));
	json_object_set_new(o, "tier", json_string("custom"));
	json_object_set_new(o, "modality", json_string("text"));
	json_object_set(o, "context_window",
	    json_object_get(row, "context_window"));
	json_object_set(o, "max_output_tokens",
	    json_object_get(row, "max_output_tokens"));
	json_object_set_new(o, "input_cost_per_1m",
	    json_real(cat_row_num(row, "input_cost_per_m")));
	json_object_set_new(o, "output_cost_per_1m",
	    json_real(cat_row_num(row, "output_cost_per_m")));
	json_object_set(o, "supports_tools",
	    json_object_get(row, "supports_tools"));
	json_object_set(o, "supports_vision",
	    json_object_get(row, "supports_vision"));
	json_object_set(o, "supports_streaming",
	    json_object_get(row, "supports_streaming"));
	json_object_set(o, "supports_thinking",
	    json_object_get(row, "supports_thinking"));
	json_object_set_new(o, "aliases", json_array());
	json_object_set_new(o, "available", json_boolean(available));
	return (o);
}

/* Every custom model row (new array), or NULL after a 503. */
static json_t *
cat_customs(struct svc_ctx *c, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*a;
	int		 i;

	if ((res = db_exec(c->sc_db, SQL_CUSTOM_LIST, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	a = json_array();
	for (i = 0; a != NULL && i < PQntuples(res); i++)
		json_array_append_new(a, db_row_json(res, i));
	PQclear(res);
	if (a == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (a);
}

static int
cat_custom_available(const struct catalog_snap *s, json_t *row,
    json_t *settings)
{
	struct cat_pv	pv;

	if (cat_pv_find(s, json_string_value(json_object_get(row,
	    "provider")), &pv) != 0)
		return (0);
	return (cat_pv_available(&pv, settings));
}

/* params.<key> as a string, or a 400. */
static const char *
cat_param(const struct msg_req *rq, const char *key, struct svc_reply *rp)
{
	const char	*v = json_string_value(json_object_get(rq->mr_params,
			    key));

	if (v == NULL || *v == '\0') {
		svc_reply_error(rp, 400, "missing '%s'", key);
		return (NULL);
	}
	return (v);
}

/* 1 if s is printable text without spaces or control characters. */
static int
cat_token_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return (0);
	return (1);
}

/* A body that may be absent (JSON null) or an object of allowed keys. */
static int
cat_opt_body(const struct msg_req *rq, const char *const *allowed,
    struct svc_reply *rp)
{
	if (json_is_null(rq->mr_body) || rq->mr_body == NULL)
		return (0);
	return (agent_body_keys(rq->mr_body, allowed, rp));
}

/* The loaded catalog (catalog_release() it), or NULL after a 503. */
static struct catalog_snap *
cat_acquire(struct svc_reply *rp)
{
	struct catalog_snap	*s;

	if ((s = catalog_acquire()) == NULL)
		svc_reply_error(rp, 503, "the model catalog is not loaded");
	return (s);
}

/* ---- models.* ----------------------------------------------------------- */

static void
cat_op_models_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap		*s;
	const struct catalog_model	*m;
	const struct catalog_provider	*fp = NULL;
	struct cat_pv			 pv;
	json_t				*settings = NULL, *customs = NULL;
	json_t				*list = NULL, *seen = NULL, *row;
	const char			*fprov, *ftier, *favail, *fmod;
	char				 low[CATALOG_ID_MAX + 1];
	int				 want = -1, avail;
	json_int_t			 navail = 0;
	size_t				 i, j;

	fprov = json_string_value(json_object_get(rq->mr_query, "provider"));
	ftier = json_string_value(json_object_get(rq->mr_query, "tier"));
	favail = json_string_value(json_object_get(rq->mr_query,
	    "available"));
	fmod = json_string_value(json_object_get(rq->mr_query, "modality"));
	if (favail != NULL) {
		if (strcmp(favail, "true") == 0 || strcmp(favail, "1") == 0)
			want = 1;
		else if (strcmp(favail, "false") == 0 ||
		    strcmp(favail, "0") == 0)
			want = 0;
		else {
			svc_reply_error(rp, 400, "'available' must be true "
			    "or false");
			return;
		}
	}
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (fprov != NULL && *fprov != '\0')
		fp = catalog_provider_find(s, fprov);
	if ((settings = cat_settings(c, rp)) == NULL ||
	    (customs = cat_customs(c, rp)) == NULL)
		goto done;
	list = json_array();
	seen = json_object();
	json_array_foreach(customs, i, row) {
		cat_lower(json_string_value(json_object_get(row, "id")), low,
		    sizeof(low));
		json_object_set_new(seen, low, json_true());
	}
	for (i = 0; i < s->cs_nproviders; i++) {
		if (fprov != NULL && *fprov != '\0' &&
		    fp != &s->cs_providers[i])
			continue;
		cat_pv_find(s, s->cs_providers[i].cp_id, &pv);
		avail = cat_pv_available(&pv, settings);
		if (want != -1 && avail != want)
			continue;
		for (j = 0; j < s->cs_providers[i].cp_nmodels; j++) {
			m = &s->cs_models[s->cs_providers[i].cp_first + j];
			if (ftier != NULL && *ftier != '\0' &&
			    strcasecmp(ftier, m->cm_tier) != 0)
				continue;
			if (fmod != NULL && *fmod != '\0' &&
			    strcasecmp(fmod, m->cm_modality) != 0)
				continue;
			cat_lower(m->cm_id, low, sizeof(low));
			if (json_object_get(seen, low) != NULL)
				continue;	/* a custom model wins */
			json_array_append_new(list, cat_model_json(m, avail));
			navail += avail;
		}
	}
	json_array_foreach(customs, i, row) {
		const char *pr = json_string_value(json_object_get(row,
		    "provider"));

		if (fprov != NULL && *fprov != '\0' &&
		    (fp ? strcmp(fp->cp_id, pr) != 0 :
		    strcasecmp(fprov, pr) != 0))
			continue;
		if (ftier != NULL && *ftier != '\0' &&
		    strcasecmp(ftier, "custom") != 0)
			continue;
		if (fmod != NULL && *fmod != '\0' &&
		    strcasecmp(fmod, "text") != 0)
			continue;
		avail = cat_custom_available(s, row, settings);
		if (want != -1 && avail != want)
			continue;
		json_array_append_new(list, cat_custom_json(row, avail));
		navail += avail;
	}
	svc_reply_json(rp, 200, json_pack("{s:O, s:I, s:I}", "models", list,
	    "total", (json_int_t)json_array_size(list), "available", navail));
done:
	json_decref(list);
	json_decref(seen);
	json_decref(settings);
	json_decref(customs);
	catalog_release(s);
}

/* The custom model named id (new row) or NULL; *dberr on failure. */
static json_t *
cat_custom_get(struct svc_ctx *c, const char *id, int *dberr)
{
	PGresult	*res;
	json_t		*row = NULL;

	*dberr = 0;
	if ((res = db_exec(c->sc_db, SQL_CUSTOM_GET, 1, &id)) == NULL) {
		*dberr = 1;
		return (NULL);
	}
	if (PQntuples(res) > 0)
		row = db_row_json(res, 0);
	PQclear(res);
	return (row);
}

/* The user alias's target (new string) or NULL; *dberr on failure. */
static char *
cat_user_alias(struct svc_ctx *c, const char *alias, int *dberr)
{
	PGresult	*res;
	char		 low[CATALOG_ID_MAX + 1], *t = NULL;
	const char	*p[1];

	*dberr = 0;
	if (strlen(alias) > CATALOG_ID_MAX)
		return (NULL);
	cat_lower(alias, low, sizeof(low));
	p[0] = low;
	if ((res = db_exec(c->sc_db, SQL_ALIAS_GET, 1, p)) == NULL) {
		*dberr = 1;
		return (NULL);
	}
	if (PQntuples(res) > 0)
		t = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (t);
}

/*
 * Finds a model as the API names it: a custom model, the catalog's
 * find_model, "<provider>/<id>" for a catalog id without the prefix, then
 * a user alias.  Sets *m or *row (new); 0, SH_ENOTFOUND or -1 (503 sent).
 */
static int
cat_find_any(struct svc_ctx *c, const struct catalog_snap *s,
    const char *id, const struct catalog_model **m, json_t **row,
    struct svc_reply *rp, int depth)
{
	char		 pre[CATALOG_PROVIDER_MAX + 1], *t;
	size_t		 n;
	int		 dberr, ret;

	*m = NULL;
	*row = NULL;
	if (strlen(id) > CATALOG_ID_MAX)
		return (SH_ENOTFOUND);
	if ((*row = cat_custom_get(c, id, &dberr)) != NULL)
		return (0);
	if (dberr) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if ((*m = catalog_model_lookup(s, id)) != NULL)
		return (0);
	n = strcspn(id, "/:");
	if (id[n] != '\0' && n > 0 && n <= CATALOG_PROVIDER_MAX) {
		memcpy(pre, id, n);
		pre[n] = '\0';
		if (catalog_provider_find(s, pre) != NULL &&
		    (*m = catalog_model_find(s, pre, id + n + 1)) != NULL)
			return (0);
	}
	if (depth > 0)
		return (SH_ENOTFOUND);
	if ((t = cat_user_alias(c, id, &dberr)) != NULL) {
		ret = cat_find_any(c, s, t, m, row, rp, depth + 1);
		free(t);
		return (ret);
	}
	if (dberr) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	return (SH_ENOTFOUND);
}

static void
cat_op_models_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap		*s;
	const struct catalog_model	*m;
	struct cat_pv			 pv;
	json_t				*row = NULL, *settings;
	const char			*id;
	int				 r;

	if ((id = cat_param(rq, PARAM_ID, rp)) == NULL)
		return;
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if ((r = cat_find_any(c, s, id, &m, &row, rp, 0)) == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "Model '%s' not found in catalog",
		    id);
	else if (r == 0 && (settings = cat_settings(c, rp)) != NULL) {
		if (row != NULL)
			svc_reply_json(rp, 200, cat_custom_json(row,
			    cat_custom_available(s, row, settings)));
		else {
			cat_pv_find(s, m->cm_provider, &pv);
			svc_reply_json(rp, 200, cat_model_json(m,
			    cat_pv_available(&pv, settings)));
		}
		json_decref(settings);
	}
	json_decref(row);
	catalog_release(s);
}

static void
cat_op_models_aliases(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	PGresult		*res;
	json_t			*all, *user;
	int			 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_ALIAS_LIST, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if ((s = cat_acquire(rp)) == NULL) {
		PQclear(res);
		return;
	}
	all = json_deep_copy(s->cs_aliases);
	user = json_object();
	for (i = 0; all != NULL && user != NULL && i < PQntuples(res); i++) {
		json_object_set_new(all, PQgetvalue(res, i, 0),
		    json_string(PQgetvalue(res, i, 1)));
		json_object_set_new(user, PQgetvalue(res, i, 0),
		    json_string(PQgetvalue(res, i, 1)));
	}
	PQclear(res);
	catalog_release(s);
	if (all == NULL || user == NULL) {
		json_decref(all);
		json_decref(user);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:o}", "aliases", all,
	    "total", (json_int_t)json_object_size(all), "custom", user));
}

static void
cat_op_alias_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const allowed[] = { "alias", "model_id", NULL };
	struct catalog_snap		*s;
	const struct catalog_model	*m;
	json_t				*row = NULL;
	const char			*alias, *target, *p[2];
	char				 low[CAT_ALIAS_MAX + 1];
	int				 r;

	if (agent_body_keys(rq->mr_body, allowed, rp) != 0 ||
	    agent_get_str(rq->mr_body, "alias", 0, CAT_ALIAS_MAX, &alias,
	    rp) != 0 ||
	    agent_get_str(rq->mr_body, "model_id", 0, CATALOG_ID_MAX, &target,
	    rp) != 0)
		return;
	if (alias == NULL || *alias == '\0' || !cat_token_ok(alias) ||
	    strchr(alias, '/') != NULL) {
		svc_reply_error(rp, 400, "'alias' must be a non-empty name "
		    "without spaces or '/'");
		return;
	}
	if (target == NULL || *target == '\0') {
		svc_reply_error(rp, 400, "'model_id' is required");
		return;
	}
	cat_lower(alias, low, sizeof(low));
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (catalog_alias_target(s, low) != NULL ||
	    catalog_model_find(s, NULL, low) != NULL) {
		svc_reply_error(rp, 409, "Alias '%s' already exists in the "
		    "catalog", low);
		goto done;
	}
	r = cat_find_any(c, s, target, &m, &row, rp, 1);
	if (r == SH_ENOTFOUND) {
		svc_reply_error(rp, 404, "Model '%s' not found in catalog",
		    target);
		goto done;
	}
	if (r != 0)
		goto done;
	target = row ? json_string_value(json_object_get(row, "id")) :
	    m->cm_id;
	p[0] = low;
	p[1] = target;
	if (db_cmd(c->sc_db, SQL_ALIAS_ADD, 2, p) != 0) {
		if (strcmp(db_sqlstate(c->sc_db), CAT_SQLSTATE_UNIQUE) == 0)
			svc_reply_error(rp, 409, "Alias '%s' already exists",
			    low);
		else
			svc_reply_db_error(rp, c);
		goto done;
	}
	svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s}", "status", "created",
	    "alias", low, "model_id", target));
done:
	json_decref(row);
	catalog_release(s);
}

static void
cat_op_alias_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	PGresult		*res;
	const char		*alias, *p[1];
	char			 low[CATALOG_ID_MAX + 1];
	int			 n;

	if ((alias = cat_param(rq, PARAM_NAME, rp)) == NULL)
		return;
	if (strlen(alias) > CATALOG_ID_MAX) {
		svc_reply_error(rp, 404, "Alias not found");
		return;
	}
	cat_lower(alias, low, sizeof(low));
	p[0] = low;
	if ((res = db_exec(c->sc_db, SQL_ALIAS_DEL, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	n = PQntuples(res);
	PQclear(res);
	if (n > 0) {
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
		    "removed", "alias", low));
		return;
	}
	if ((s = catalog_acquire()) != NULL &&
	    catalog_alias_target(s, low) != NULL)
		svc_reply_error(rp, 403, "Alias '%s' is part of the catalog "
		    "and cannot be deleted", low);
	else
		svc_reply_error(rp, 404, "Alias '%s' not found", low);
	catalog_release(s);
}

/* body.key, when present, an integer in [min, max]; *out keeps its
 * default otherwise. */
static int
cat_get_int(json_t *body, const char *key, long long min, long long max,
    long long *out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		svc_reply_error(rp, 400, "'%s' must be an integer from %lld "
		    "to %lld", key, min, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (0);
}

static int
cat_get_cost(json_t *body, const char *key, double *out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	if (v == NULL)
		return (0);
	if (!json_is_number(v) || json_number_value(v) < 0.0 ||
	    json_number_value(v) > CAT_COST_MAX) {
		svc_reply_error(rp, 400, "'%s' must be a number from 0 to "
		    "%.0f", key, CAT_COST_MAX);
		return (-1);
	}
	*out = json_number_value(v);
	return (0);
}

static void
cat_op_custom_add(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const allowed[] = { "id", "provider",
	    "display_name", "context_window", "max_output_tokens",
	    "input_cost_per_1m", "output_cost_per_1m", "supports_tools",
	    "supports_vision", "supports_streaming", "supports_thinking",
	    NULL };
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	json_t			*b = rq->mr_body;
	const char		*id, *prov, *disp, *p[11];
	long long		 ctx = CATALOG_DEFAULT_CONTEXT, out = -1;
	double			 in_c = 0.0, out_c = 0.0;
	int			 tools = 0, vision = 0, stream = 1, think = 0;
	char			 sctx[32], sout[32], sin[64], sout_c[64];

	if (agent_body_keys(b, allowed, rp) != 0 ||
	    agent_get_str(b, "id", 0, CATALOG_ID_MAX, &id, rp) != 0 ||
	    agent_get_str(b, "provider", 0, CATALOG_PROVIDER_MAX, &prov,
	    rp) != 0 ||
	    agent_get_str(b, "display_name", 0, CAT_DISPLAY_MAX, &disp,
	    rp) != 0 ||
	    cat_get_int(b, "context_window", 1, CAT_CONTEXT_MAX, &ctx,
	    rp) != 0 ||
	    cat_get_int(b, "max_output_tokens", 0, CAT_CONTEXT_MAX, &out,
	    rp) != 0 ||
	    cat_get_cost(b, "input_cost_per_1m", &in_c, rp) != 0 ||
	    cat_get_cost(b, "output_cost_per_1m", &out_c, rp) != 0 ||
	    agent_get_bool(b, "supports_tools", &tools, rp) != 0 ||
	    agent_get_bool(b, "supports_vision", &vision, rp) != 0 ||
	    agent_get_bool(b, "supports_streaming", &stream, rp) != 0 ||
	    agent_get_bool(b, "supports_thinking", &think, rp) != 0)
		return;
	if (id == NULL || *id == '\0' || !cat_token_ok(id)) {
		svc_reply_error(rp, 400, "'id' must be a non-empty model id "
		    "without spaces");
		return;
	}
	if (out == -1)
		out = ctx < 4096 ? ctx : 4096;
	if (out > ctx) {
		svc_reply_error(rp, 400, "'max_output_tokens' is larger than "
		    "'context_window'");
		return;
	}
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (prov == NULL || *prov == '\0')
		prov = catalog_infer_provider(id);
	if (prov == NULL) {
		svc_reply_error(rp, 400, "'provider' is required");
		goto done;
	}
	if (cat_pv_find(s, prov, &pv) != 0 || pv.pv_cli) {
		svc_reply_error(rp, 400, "unknown provider '%s'", prov);
		goto done;
	}
	snprintf(sctx, sizeof(sctx), "%lld", ctx);
	snprintf(sout, sizeof(sout), "%lld", out);
	snprintf(sin, sizeof(sin), "%.17g", in_c);
	snprintf(sout_c, sizeof(sout_c), "%.17g", out_c);
	p[0] = id;
	p[1] = pv.pv_id;
	p[2] = disp != NULL && *disp != '\0' ? disp : id;
	p[3] = sctx;
	p[4] = sout;
	p[5] = sin;
	p[6] = sout_c;
	p[7] = tools ? "true" : "false";
	p[8] = vision ? "true" : "false";
	p[9] = stream ? "true" : "false";
	p[10] = think ? "true" : "false";
	if (db_cmd(c->sc_db, SQL_CUSTOM_ADD, 11, p) != 0) {
		if (strcmp(db_sqlstate(c->sc_db), CAT_SQLSTATE_UNIQUE) == 0)
			svc_reply_error(rp, 409, "Model '%s' already exists",
			    id);
		else
			svc_reply_db_error(rp, c);
		goto done;
	}
	svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s}", "status", "added",
	    "model_id", id, "provider", pv.pv_id));
done:
	catalog_release(s);
}

static void
cat_op_custom_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	const char	*id;
	json_t		*body;

	if ((id = cat_param(rq, PARAM_ID, rp)) == NULL)
		return;
	if ((res = db_exec(c->sc_db, SQL_CUSTOM_DEL, 1, &id)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0)
		svc_reply_error(rp, 404, "Custom model '%s' not found", id);
	else {
		body = json_pack("{s:s, s:s}", "status", "removed",
		    "model_id", PQgetvalue(res, 0, 0));
		svc_reply_json(rp, 200, body);
	}
	PQclear(res);
}

/* ---- providers.* -------------------------------------------------------- */

static void
cat_op_providers_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	json_t			*settings, *customs = NULL, *list, *urls;
	const char		*k;
	json_t			*v;
	size_t			 i;

	(void)rq;
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if ((settings = cat_settings(c, rp)) == NULL ||
	    (customs = cat_customs(c, rp)) == NULL)
		goto done;
	list = json_array();
	for (i = 0; i < s->cs_nproviders; i++) {
		cat_pv_find(s, s->cs_providers[i].cp_id, &pv);
		json_array_append_new(list, cat_provider_json(s, &pv,
		    settings, customs));
	}
	/* Providers only [provider_urls] names. */
	urls = catalog_config() ? json_object_get(catalog_config()->cf_doc,
	    "provider_urls") : NULL;
	json_object_foreach(urls, k, v) {
		if (!json_is_string(v) || catalog_provider_find(s, k) != NULL ||
		    cat_pv_find(s, k, &pv) != 0)
			continue;
		json_array_append_new(list, cat_provider_json(s, &pv,
		    settings, customs));
	}
	svc_reply_list(rp, "providers", list);
done:
	json_decref(settings);
	json_decref(customs);
	catalog_release(s);
}

/* Takes params.name to a provider, or replies 404. */
static int
cat_param_provider(const struct msg_req *rq, const struct catalog_snap *s,
    struct cat_pv *pv, struct svc_reply *rp)
{
	const char	*name;

	if ((name = cat_param(rq, PARAM_NAME, rp)) == NULL)
		return (-1);
	if (cat_pv_find(s, name, pv) != 0) {
		svc_reply_error(rp, 404, "Provider '%s' not found", name);
		return (-1);
	}
	return (0);
}

static void
cat_op_providers_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	json_t			*settings = NULL, *customs = NULL, *o, *models;
	json_t			*row;
	const char		*pr;
	size_t			 i;
	int			 avail;

	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (cat_param_provider(rq, s, &pv, rp) != 0 ||
	    (settings = cat_settings(c, rp)) == NULL ||
	    (customs = cat_customs(c, rp)) == NULL)
		goto done;
	o = cat_provider_json(s, &pv, settings, customs);
	avail = cat_pv_available(&pv, settings);
	models = json_array();
	for (i = 0; pv.pv_cat != NULL && i < pv.pv_cat->cp_nmodels; i++)
		json_array_append_new(models, cat_model_json(
		    &s->cs_models[pv.pv_cat->cp_first + i], avail));
	json_array_foreach(customs, i, row) {
		pr = json_string_value(json_object_get(row, "provider"));
		if (pr != NULL && strcmp(pr, pv.pv_id) == 0)
			json_array_append_new(models, cat_custom_json(row,
			    avail));
	}
	json_object_set_new(o, "models", models);
	svc_reply_json(rp, 200, o);
done:
	json_decref(settings);
	json_decref(customs);
	catalog_release(s);
}

static void
cat_op_key_set(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const allowed[] = { "api_key", NULL };
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	const char		*key, *p[2];
	char			 detail[160];

	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (cat_param_provider(rq, s, &pv, rp) != 0 ||
	    agent_body_keys(rq->mr_body, allowed, rp) != 0 ||
	    agent_get_str(rq->mr_body, "api_key", 0, CATALOG_KEY_MAX, &key,
	    rp) != 0)
		goto done;
	if (pv.pv_cli) {
		svc_reply_error(rp, 400, "provider '%s' is a local CLI and "
		    "takes no key", pv.pv_id);
		goto done;
	}
	/* Every accepted key is redacted by value wherever text leaves the
	 * process; a shorter one could not be without mangling words. */
	if (!catalog_key_ok(key)) {
		svc_reply_error(rp, 400, "'api_key' must be a key of %d to %d "
		    "printable ASCII characters without spaces, quotes or "
		    "backslashes", CATALOG_KEY_MIN, CATALOG_KEY_MAX);
		goto done;
	}
	log_add_secret(key);
	p[0] = pv.pv_id;
	p[1] = key;
	snprintf(detail, sizeof(detail), "API key set for provider '%s'",
	    pv.pv_id);
	if (audit_cmd(c->sc_db, SQL_KEY_SET, 2, p, AUDIT_CONFIG_CHANGE, NULL,
	    detail, "ok") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	log_info("providers: API key set for '%s'", pv.pv_id);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "configured",
	    "provider", pv.pv_id));
done:
	catalog_release(s);
}

static void
cat_op_key_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	const char		*p[1];
	char			 detail[160];

	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (cat_param_provider(rq, s, &pv, rp) != 0)
		goto done;
	p[0] = pv.pv_id;
	snprintf(detail, sizeof(detail), "API key removed for provider '%s'",
	    pv.pv_id);
	if (audit_cmd(c->sc_db, SQL_KEY_DEL, 1, p, AUDIT_CONFIG_CHANGE, NULL,
	    detail, "ok") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	log_info("providers: API key removed for '%s'", pv.pv_id);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "removed",
	    "provider", pv.pv_id));
done:
	catalog_release(s);
}

/* An http(s) URL with a host, no spaces or control characters. */
static int
cat_url_ok(const char *u)
{
	const char	*h;

	if (strncasecmp(u, "http://", 7) == 0)
		h = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		h = u + 8;
	else
		return (0);
	if (*h == '\0' || *h == '/' || *h == '?' || *h == '#' || *h == ':')
		return (0);
	return (cat_token_ok(u) && strchr(u, '#') == NULL &&
	    strchr(u, '?') == NULL);
}

static void
cat_op_url_set(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const allowed[] = { "base_url", NULL };
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	const char		*url, *p[2], *src;
	json_t			*settings;

	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (cat_param_provider(rq, s, &pv, rp) != 0 ||
	    agent_body_keys(rq->mr_body, allowed, rp) != 0 ||
	    agent_get_str(rq->mr_body, "base_url", 1, CATALOG_URL_MAX, &url,
	    rp) != 0)
		goto done;
	if (json_object_get(rq->mr_body, "base_url") == NULL) {
		svc_reply_error(rp, 400, "'base_url' is required");
		goto done;
	}
	p[0] = pv.pv_id;
	if (url == NULL || *url == '\0') {
		/* null or "": back to the configured or catalog URL. */
		if (db_cmd(c->sc_db, SQL_URL_DEL, 1, p) != 0) {
			svc_reply_db_error(rp, c);
			goto done;
		}
	} else {
		if (!cat_url_ok(url)) {
			svc_reply_error(rp, 400, "'base_url' must be an http "
			    "or https URL with a host");
			goto done;
		}
		p[1] = url;
		if (db_cmd(c->sc_db, SQL_URL_SET, 2, p) != 0) {
			svc_reply_db_error(rp, c);
			goto done;
		}
	}
	if ((settings = cat_settings(c, rp)) == NULL)
		goto done;
	log_info("providers: base URL of '%s' set", pv.pv_id);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s}", "status", "ok",
	    "provider", pv.pv_id, "base_url", cat_pv_url(&pv, settings,
	    &src)));
	json_decref(settings);
done:
	catalog_release(s);
}

/* ---- calling out (llm/probe.c) ------------------------------------------ */

static void
cat_op_test(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	static const char *const allowed[] = { "model", NULL };
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	struct catalog_target	 t;
	struct llm_target	 lt;
	struct llm_probe	 p;
	char			 err[LLM_ERRLEN];
	const char		*model = NULL, *env;
	int			 r, from_env;

	if ((s = cat_acquire(rp)) == NULL)
		return;
	r = cat_param_provider(rq, s, &pv, rp);
	catalog_release(s);
	if (r != 0 || cat_opt_body(rq, allowed, rp) != 0 ||
	    agent_get_str(rq->mr_body, "model", 0, CATALOG_ID_MAX, &model,
	    rp) != 0)
		return;
	if (pv.pv_cli) {
		svc_reply_error(rp, 400, "provider '%s' is a local CLI and "
		    "cannot be tested here", pv.pv_id);
		return;
	}
	r = catalog_resolve(c->sc_db, 0, pv.pv_id, model ? model : "", NULL,
	    NULL, &t, err, sizeof(err));
	if (r == SH_EUNAVAIL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (r != 0) {
		svc_reply_json(rp, 400, json_pack("{s:s, s:s, s:s}", "status",
		    "failed", "provider", pv.pv_id, "error", err));
		return;
	}
	if (t.ct_api_key[0] == '\0' && t.ct_key_required) {
		snprintf(err, sizeof(err), "no API key for provider '%s': set "
		    "%s or POST /api/providers/%s/key", pv.pv_id,
		    t.ct_key_env[0] ? t.ct_key_env : "its key variable",
		    pv.pv_id);
		svc_reply_json(rp, 401, json_pack("{s:s, s:s, s:s, s:s}",
		    "status", "failed", "provider", pv.pv_id, "error", err,
		    "env_var", t.ct_key_env));
		goto done;
	}
	env = t.ct_key_env[0] ? getenv(t.ct_key_env) : NULL;
	from_env = env != NULL && strcmp(env, t.ct_api_key) == 0;
	catalog_llm_target(&t, &lt);
	if (llm_probe(&lt, &p) != 0) {
		svc_reply_json(rp, 502, json_pack("{s:s, s:s, s:s, s:s}",
		    "status", "failed", "provider", pv.pv_id, "error",
		    p.lp_error, "model_tested", t.ct_model));
		goto done;
	}
	if (p.lp_status >= 200 && p.lp_status < 300) {
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:I, s:s}",
		    "status", "ok", "provider", pv.pv_id, "latency_ms",
		    (json_int_t)p.lp_ms, "model_tested", t.ct_model));
		goto done;
	}
	/* The provider's own text is not passed on for an authentication
	 * failure: some echo part of the key. */
	if (p.lp_status == 401 || p.lp_status == 403) {
		if (t.ct_api_key[0] == '\0')
			snprintf(err, sizeof(err), "Invalid API key: %s "
			    "answered HTTP %ld and no key is set: set %s or "
			    "POST /api/providers/%s/key", pv.pv_id,
			    p.lp_status, t.ct_key_env, pv.pv_id);
		else if (from_env)
			snprintf(err, sizeof(err), "Invalid API key: %s "
			    "answered HTTP %ld: check %s", pv.pv_id,
			    p.lp_status, t.ct_key_env);
		else
			snprintf(err, sizeof(err), "Invalid API key: %s "
			    "answered HTTP %ld: check the key set with POST "
			    "/api/providers/%s/key", pv.pv_id, p.lp_status,
			    pv.pv_id);
		svc_reply_json(rp, 401, json_pack("{s:s, s:s, s:s, s:s, s:I}",
		    "status", "failed", "provider", pv.pv_id, "error", err,
		    "env_var", t.ct_key_env, "http_status",
		    (json_int_t)p.lp_status));
		goto done;
	}
	snprintf(err, sizeof(err), "%s answered HTTP %ld%s%.400s", pv.pv_id,
	    p.lp_status, p.lp_error[0] ? ": " : "", p.lp_error);
	svc_reply_json(rp, p.lp_status == 429 ? 429 : 502, json_pack("{s:s, "
	    "s:s, s:s, s:s, s:I}", "status", "failed", "provider", pv.pv_id,
	    "error", err, "model_tested", t.ct_model, "http_status",
	    (json_int_t)p.lp_status));
 done:
	explicit_bzero(&t, sizeof(t));
	explicit_bzero(&lt, sizeof(lt));
}

static void
cat_op_ollama_detect(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	struct cat_pv		 pv;
	json_t			*settings = NULL, *names;
	const char		*src;
	char			*base = NULL, err[LLM_ERRLEN];

	(void)rq;
	if ((s = cat_acquire(rp)) == NULL)
		return;
	if (cat_pv_find(s, "ollama", &pv) != 0) {
		svc_reply_error(rp, 404, "Provider 'ollama' not found");
		goto done;
	}
	if ((settings = cat_settings(c, rp)) == NULL)
		goto done;
	if ((base = llm_ollama_native(cat_pv_url(&pv, settings, &src))) ==
	    NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if ((names = llm_ollama_models(base, err, sizeof(err))) != NULL)
		svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:o, s:I}",
		    "detected", 1, "base_url", base, "models", names,
		    "model_count", (json_int_t)json_array_size(names)));
	else
		svc_reply_json(rp, 200, json_pack("{s:b, s:s, s:[], s:i, s:s}",
		    "detected", 0, "base_url", base, "models", "model_count",
		    0, "reason", err));
 done:
	free(base);
	json_decref(settings);
	catalog_release(s);
}

/* ---- catalog.* ---------------------------------------------------------- */

static void
cat_op_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	PGresult		*res;
	char			 ts[32];

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_COUNTS, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if ((s = cat_acquire(rp)) == NULL) {
		PQclear(res);
		return;
	}
	util_rfc3339(s->cs_loaded_ms, ts);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
	    "last_sync", ts, "source", s->cs_source,
	    "model_count", (json_int_t)s->cs_nmodels,
	    "provider_count", (json_int_t)s->cs_nproviders,
	    "alias_count", (json_int_t)json_object_size(s->cs_aliases),
	    "custom_model_count", (json_int_t)strtoll(PQgetvalue(res, 0, 0),
	    NULL, 10),
	    "custom_alias_count", (json_int_t)strtoll(PQgetvalue(res, 0, 1),
	    NULL, 10)));
	PQclear(res);
	catalog_release(s);
}

static void
cat_op_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct catalog_snap	*s;
	char			 err[512], ts[32];
	int			 added, updated;

	(void)c;
	if (cat_opt_body(rq, (const char *const[]){ NULL }, rp) != 0)
		return;
	if (catalog_reload(&added, &updated, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 422, "catalog reload failed: %s", err);
		return;
	}
	if ((s = cat_acquire(rp)) == NULL)
		return;
	util_rfc3339(s->cs_loaded_ms, ts);
	svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:i, s:I, s:I, s:s, s:s}",
	    "status", "updated", "models_added", added, "models_updated",
	    updated, "model_count", (json_int_t)s->cs_nmodels,
	    "provider_count", (json_int_t)s->cs_nproviders, "last_sync", ts,
	    "source", s->cs_source));
	catalog_release(s);
}

const struct svc_op catalog_ops[] = {
	{ OP_MODELS_LIST, cat_op_models_list },
	{ OP_MODELS_GET, cat_op_models_get },
	{ OP_MODELS_ALIASES, cat_op_models_aliases },
	{ OP_MODELS_ALIAS_CREATE, cat_op_alias_create },
	{ OP_MODELS_ALIAS_DELETE, cat_op_alias_delete },
	{ OP_MODELS_CUSTOM_ADD, cat_op_custom_add },
	{ OP_MODELS_CUSTOM_DELETE, cat_op_custom_delete },
	{ OP_PROVIDERS_LIST, cat_op_providers_list },
	{ OP_PROVIDERS_GET, cat_op_providers_get },
	{ OP_PROVIDERS_KEY_SET, cat_op_key_set },
	{ OP_PROVIDERS_KEY_DELETE, cat_op_key_delete },
	{ OP_PROVIDERS_TEST, cat_op_test },
	{ OP_PROVIDERS_URL_SET, cat_op_url_set },
	{ OP_PROVIDERS_OLLAMA_DETECT, cat_op_ollama_detect },
	{ OP_CATALOG_UPDATE, cat_op_update },
	{ OP_CATALOG_STATUS, cat_op_status },
	{ NULL, NULL }
};
