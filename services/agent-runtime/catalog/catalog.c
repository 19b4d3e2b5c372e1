/*
 * catalog/catalog.c - the model catalog: loading the provider files into an
 * immutable snapshot, swapping snapshots on reload, lookups, and
 * catalog_resolve() (notes/agent-core.md 6.2, 6.4, 7).
 *
 * A snapshot is built from the parsed TOML documents, which it keeps:
 * every string in it is borrowed from them.  The current snapshot is one
 * pointer under a mutex held only to copy it and bump its reference count,
 * so readers never wait on a reload, and a reader's snapshot stays whole
 * until it releases it.
 *
 * catalog_resolve() reads what users changed (keys, URL overrides, custom
 * models, aliases) from PostgreSQL with one query per call, so a change
 * made through any replica counts on every replica at once.
 */
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "catalog/catalog.h"
#include "cfg.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "toml.h"
#include "util.h"

#define CAT_FILE_MAX	(4 * 1024 * 1024)

static pthread_mutex_t		 cat_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t		 cat_reload_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct catalog_snap	*cat_cur;
static const struct sh_config	*cat_cfg;
static char			*cat_dir;	/* NULL: built-in + overlay */
static int			 cat_curl;	/* curl_global_init() done */

/* Provider names that mean another provider (notes 6.2). */
static const char *const cat_provider_aliases[][2] = {
	{ "google", "gemini" },
	{ "codex", "openai" },
	{ "openai-codex", "openai" },
	{ "copilot", "github-copilot" },
	{ "github-models", "microsoft" },
	{ "kimi", "moonshot" },
	{ "kimi2", "moonshot" },
	{ "dashscope", "qwen" },
	{ "model_studio", "qwen" },
	{ "glm", "zhipu" },
	{ "codegeex", "zhipu_coding" },
	{ "z.ai", "zai" },
	{ "baidu", "qianfan" },
	{ "doubao", "volcengine" },
	{ "vertex", "vertex-ai" },
	{ "vertex_ai", "vertex-ai" },
	{ "nvidia", "nvidia-nim" },
	{ "nim", "nvidia-nim" },
	{ "novita-ai", "novita" },
	{ "aws-bedrock", "bedrock" },
	{ NULL, NULL }
};

/* Model name prefixes that name their provider (notes 6.4). */
static const char *const cat_name_prefixes[][2] = {
	{ "claude", "anthropic" },
	{ "gpt", "openai" },
	{ "o1", "openai" },
	{ "o3", "openai" },
	{ "o4", "openai" },
	{ "gemini", "gemini" },
	{ "grok", "xai" },
	{ "deepseek", "deepseek" },
	{ "mistral", "mistral" },
	{ "codestral", "mistral" },
	{ "pixtral", "mistral" },
	{ "command", "cohere" },
	{ "embed-", "cohere" },
	{ "sonar", "perplexity" },
	{ "glm", "zhipu" },
	{ "ernie", "qianfan" },
	{ "minimax", "minimax" },
	{ "abab", "minimax" },
	{ "moonshot", "moonshot" },
	{ "kimi", "moonshot" },
	{ NULL, NULL }
};

/* Auto-detection order of the default provider "auto" (notes 6.2). */
static const char *const cat_auto_order[] = {
	"openai", "anthropic", "gemini", "groq", "deepseek", "openrouter",
	"mistral", "together", "fireworks", "xai", "perplexity", "cohere",
	NULL
};

/* Providers whose bare model names are qualified to "org/model". */
static const char *const cat_qualify[] = {
	"openrouter", "together", "fireworks", "replicate", "huggingface",
	NULL
};

/*
 * Variables an agent's api_key_env never names, whatever else would allow
 * them (catalog_key_env_check()): LibreFang's own settings and secrets
 * (the database URL, the API key, the vault key) and the well-known
 * variables that hold no provider key.  A row ending in '_' is a prefix.
 */
static const char *const cat_env_never[] = {
	"LIBREFANG_", "DATABASE_URL", "PGPASSWORD", "PGPASSFILE", "HOME",
	"PATH", "USER", "SHELL", NULL
};

static const char *const cat_tiers[] = {
	"frontier", "smart", "balanced", "fast", "local", NULL
};

static int
cat_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return (1);
	return (0);
}

static void
cat_lower(const char *s, char *out, size_t outlen)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

static void
cat_copy(char *dst, size_t dstlen, const char *src)
{
	snprintf(dst, dstlen, "%s", src != NULL ? src : "");
}

/* ---- loading ----------------------------------------------------------- */

struct cat_src {
	json_t	*providers;	/* array of provider documents */
	json_t	*aliases;	/* the global aliases document or NULL */
};

static const char *
cat_str(json_t *o, const char *key, const char *def)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_string(v) ? json_string_value(v) : def);
}

static int
cat_bool(json_t *o, const char *key, int def)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_boolean(v) ? json_is_true(v) : def);
}

static long long
cat_int(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) && json_integer_value(v) > 0 ?
	    json_integer_value(v) : 0);
}

static double
cat_num(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);
	double	 d = json_is_number(v) ? json_number_value(v) : 0.0;

	return (d > 0.0 ? d : 0.0);
}

/* Adds one file's text to src; name says what it is.  0 or -1 (err). */
static int
cat_src_add(struct cat_src *src, const char *name, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct toml_err	 te;
	json_t		*doc, *prov, *e;
	const char	*id, *base;
	size_t		 i;

	if ((doc = toml_parse(text, len, 0, &te)) == NULL) {
		snprintf(err, errlen, "%s: %s", name, te.te_msg);
		return (-1);
	}
	base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	if (strcmp(base, "aliases.toml") == 0) {
		if (!json_is_object(json_object_get(doc, "aliases"))) {
			snprintf(err, errlen, "%s: no [aliases] table", name);
			json_decref(doc);
			return (-1);
		}
		json_decref(src->aliases);
		src->aliases = doc;
		return (0);
	}
	prov = json_object_get(doc, "provider");
	id = cat_str(prov, "id", NULL);
	if (id == NULL || *id == '\0' || strlen(id) > CATALOG_PROVIDER_MAX) {
		snprintf(err, errlen, "%s: [provider] needs an id of at most "
		    "%d bytes", name, CATALOG_PROVIDER_MAX);
		json_decref(doc);
		return (-1);
	}
	if (json_object_get(doc, "models") != NULL &&
	    !json_is_array(json_object_get(doc, "models"))) {
		snprintf(err, errlen, "%s: models must be [[models]]", name);
		json_decref(doc);
		return (-1);
	}
	/* A later file with the same id replaces the earlier one. */
	json_array_foreach(src->providers, i, e) {
		if (strcmp(cat_str(json_object_get(e, "provider"), "id", ""),
		    id) == 0)
			return (json_array_set_new(src->providers, i, doc));
	}
	return (json_array_append_new(src->providers, doc));
}

static int
cat_namecmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Adds dir/providers/ *.toml (sorted) and dir/aliases.toml.  A missing
 * directory or file is not an error unless required. */
static int
cat_src_dir(struct cat_src *src, const char *dir, int required, char *err,
    size_t errlen)
{
	char		 path[1024], **names = NULL, **nn;
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0, i, len;
	char		*text;
	int		 ret = -1;

	snprintf(path, sizeof(path), "%s/providers", dir);
	if ((d = opendir(path)) == NULL) {
		if (!required)
			goto aliases;
		snprintf(err, errlen, "%s: cannot open", path);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 5, ".toml") != 0)
			continue;
		if ((nn = reallocarray(names, n + 1, sizeof(*names))) == NULL)
			break;
		names = nn;
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cat_namecmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/providers/%s", dir, names[i]);
		if ((text = util_read_file(path, CAT_FILE_MAX, &len)) == NULL) {
			snprintf(err, errlen, "%s: cannot read", path);
			goto done;
		}
		if (cat_src_add(src, path, text, len, err, errlen) != 0) {
			free(text);
			goto done;
		}
		free(text);
	}
aliases:
	snprintf(path, sizeof(path), "%s/aliases.toml", dir);
	if ((text = util_read_file(path, CAT_FILE_MAX, &len)) != NULL) {
		if (cat_src_add(src, path, text, len, err, errlen) != 0) {
			free(text);
			goto done;
		}
		free(text);
	}
	ret = 0;
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return (ret);
}

static void
cat_snap_free(struct catalog_snap *s)
{
	if (s == NULL)
		return;
	free(s->cs_providers);
	free(s->cs_models);
	json_decref(s->cs_aliases);
	json_decref(s->cs_docs);
	json_decref(s->cs_ids);
	free(s);
}

/* Fills m from one [[models]] entry; -1 if the entry is unusable. */
static int
cat_model_fill(struct catalog_model *m, json_t *e, const char *provider,
    const char *file)
{
	const char	*tier;

	m->cm_id = cat_str(e, "id", NULL);
	if (m->cm_id == NULL || *m->cm_id == '\0' ||
	    strlen(m->cm_id) > CATALOG_ID_MAX) {
		log_warnx("catalog: %s: a model without a usable id is "
		    "skipped", file);
		return (-1);
	}
	m->cm_display = cat_str(e, "display_name", m->cm_id);
	m->cm_provider = provider;
	tier = cat_str(e, "tier", "custom");
	m->cm_tier = cat_in(tier, cat_tiers) ? tier : "custom";
	m->cm_modality = cat_str(e, "modality", "text");
	m->cm_context = cat_int(e, "context_window");
	m->cm_max_output = cat_int(e, "max_output_tokens");
	m->cm_in_per_m = cat_num(e, "input_cost_per_m");
	m->cm_out_per_m = cat_num(e, "output_cost_per_m");
	m->cm_tools = cat_bool(e, "supports_tools", 0);
	m->cm_vision = cat_bool(e, "supports_vision", 0);
	m->cm_streaming = cat_bool(e, "supports_streaming", 1);
	m->cm_thinking = cat_bool(e, "supports_thinking", 0);
	m->cm_aliases = json_object_get(e, "aliases");
	if (!json_is_array(m->cm_aliases))
		m->cm_aliases = NULL;
	/* notes 7.4: a text model without its window is rejected. */
	if (strcmp(m->cm_modality, "text") == 0 &&
	    (m->cm_context == 0 || m->cm_max_output == 0)) {
		log_warnx("catalog: %s: text model '%s' without "
		    "context_window or max_output_tokens is skipped", file,
		    m->cm_id);
		return (-1);
	}
	return (0);
}

static int
cat_alias_add(json_t *map, const char *alias, const char *target)
{
	char	low[CATALOG_ID_MAX + 1];

	if (alias == NULL || *alias == '\0' || target == NULL ||
	    *target == '\0' || strlen(alias) > CATALOG_ID_MAX)
		return (0);
	cat_lower(alias, low, sizeof(low));
	if (json_object_get(map, low) != NULL)
		return (0);		/* the first registration wins */
	return (json_object_set_new(map, low, json_string(target)));
}

/* Builds a snapshot from src (whose documents it takes). */
static struct catalog_snap *
cat_snap_build(struct cat_src *src, const char *source)
{
	struct catalog_snap	*s;
	struct catalog_provider	*p;
	struct catalog_model	*m;
	json_t			*doc, *prov, *models, *e, *a, *v;
	size_t			 i, j, k, nm = 0;
	const char		*key, *file;
	char			 low[CATALOG_ID_MAX + 1];

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (NULL);
	atomic_init(&s->cs_refs, 1);
	s->cs_docs = json_pack("{s:O, s:O*}", "providers", src->providers,
	    "aliases", src->aliases);
	s->cs_aliases = json_object();
	s->cs_ids = json_object();
	json_array_foreach(src->providers, i, doc)
		nm += json_array_size(json_object_get(doc, "models"));
	s->cs_providers = calloc(json_array_size(src->providers) + 1,
	    sizeof(*s->cs_providers));
	s->cs_models = calloc(nm + 1, sizeof(*s->cs_models));
	if (s->cs_docs == NULL || s->cs_aliases == NULL || s->cs_ids == NULL ||
	    s->cs_providers == NULL || s->cs_models == NULL)
		goto fail;
	json_array_foreach(src->providers, i, doc) {
		prov = json_object_get(doc, "provider");
		p = &s->cs_providers[s->cs_nproviders++];
		p->cp_id = cat_str(prov, "id", "");
		p->cp_display = cat_str(prov, "display_name", p->cp_id);
		p->cp_key_env = cat_str(prov, "api_key_env", "");
		p->cp_base_url = cat_str(prov, "base_url", "");
		p->cp_key_required = cat_bool(prov, "key_required", 1);
		p->cp_first = s->cs_nmodels;
		file = p->cp_id;
		models = json_object_get(doc, "models");
		json_array_foreach(models, j, e) {
			m = &s->cs_models[s->cs_nmodels];
			if (!json_is_object(e) ||
			    cat_model_fill(m, e, p->cp_id, file) != 0)
				continue;
			s->cs_nmodels++;
			p->cp_nmodels++;
			cat_lower(m->cm_id, low, sizeof(low));
			if (json_object_get(s->cs_ids, low) == NULL &&
			    json_object_set_new(s->cs_ids, low, json_integer(
			    (json_int_t)(s->cs_nmodels - 1))) != 0)
				goto fail;
			json_array_foreach(m->cm_aliases, k, a)
				if (cat_alias_add(s->cs_aliases,
				    json_string_value(a), m->cm_id) != 0)
					goto fail;
		}
	}
	json_object_foreach(json_object_get(src->aliases, "aliases"), key, v)
		if (cat_alias_add(s->cs_aliases, key,
		    json_string_value(v)) != 0)
			goto fail;
	s->cs_loaded_ms = util_wall_ms();
	cat_copy(s->cs_source, sizeof(s->cs_source), source);
	return (s);
fail:
	cat_snap_free(s);
	return (NULL);
}

/* Reads the configured sources into a new snapshot.  NULL with err. */
static struct catalog_snap *
cat_load(char *err, size_t errlen)
{
	struct cat_src		 src = { NULL, NULL };
	struct catalog_snap	*s = NULL;
	const struct embed_file	*f;
	char			 overlay[600], source[600];

	if ((src.providers = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	if (cat_dir != NULL) {
		if (cat_src_dir(&src, cat_dir, 1, err, errlen) != 0)
			goto done;
		cat_copy(source, sizeof(source), cat_dir);
	} else {
		for (f = catalog_builtin; f->ef_name != NULL; f++)
			if (cat_src_add(&src, f->ef_name, f->ef_text,
			    f->ef_len, err, errlen) != 0)
				goto done;
		cat_copy(source, sizeof(source), "built-in");
		if (cat_cfg != NULL && cat_cfg->home_dir[0] != '\0') {
			if (cat_src_dir(&src, cat_cfg->home_dir, 0, err,
			    errlen) != 0)
				goto done;
			snprintf(overlay, sizeof(overlay), "%s/providers",
			    cat_cfg->home_dir);
			if (access(overlay, F_OK) == 0)
				snprintf(source, sizeof(source), "built-in + "
				    "%.500s", overlay);
		}
	}
	if (json_array_size(src.providers) == 0) {
		snprintf(err, errlen, "the catalog has no provider");
		goto done;
	}
	if ((s = cat_snap_build(&src, source)) == NULL)
		snprintf(err, errlen, "out of memory");
done:
	json_decref(src.providers);
	json_decref(src.aliases);
	return (s);
}

static void cat_learn_env_keys(const struct catalog_snap *s);

int
catalog_init(const struct sh_config *cfg, const char *dir)
{
	struct catalog_snap	*s;
	char			 err[512];

	cat_cfg = cfg;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("catalog: libcurl would not start");
		return (-1);
	}
	cat_curl = 1;
	free(cat_dir);
	cat_dir = NULL;
	if (dir != NULL && (cat_dir = strdup(dir)) == NULL)
		return (-1);
	if ((s = cat_load(err, sizeof(err))) == NULL) {
		log_warnx("catalog: %s", err);
		return (-1);
	}
	pthread_mutex_lock(&cat_mtx);
	if (cat_cur != NULL)
		catalog_release(cat_cur);
	cat_cur = s;
	pthread_mutex_unlock(&cat_mtx);
	cat_learn_env_keys(s);
	log_info("catalog: %zu providers, %zu models, %zu aliases (%s)",
	    s->cs_nproviders, s->cs_nmodels, json_object_size(s->cs_aliases),
	    s->cs_source);
	return (0);
}

void
catalog_fini(void)
{
	struct catalog_snap	*s;

	pthread_mutex_lock(&cat_mtx);
	s = cat_cur;
	cat_cur = NULL;
	pthread_mutex_unlock(&cat_mtx);
	if (s != NULL)
		catalog_release(s);
	free(cat_dir);
	cat_dir = NULL;
	if (cat_curl)
		curl_global_cleanup();
	cat_curl = 0;
}

const struct sh_config *
catalog_config(void)
{
	return (cat_cfg);
}

struct catalog_snap *
catalog_acquire(void)
{
	struct catalog_snap	*s;

	pthread_mutex_lock(&cat_mtx);
	if ((s = cat_cur) != NULL)
		atomic_fetch_add(&s->cs_refs, 1);
	pthread_mutex_unlock(&cat_mtx);
	return (s);
}

void
catalog_release(struct catalog_snap *s)
{
	if (s != NULL &&
	    atomic_fetch_sub(&s->cs_refs, 1) == 1)
		cat_snap_free(s);
}

static int
cat_model_same(const struct catalog_model *a, const struct catalog_model *b)
{
	return (strcmp(a->cm_provider, b->cm_provider) == 0 &&
	    strcmp(a->cm_display, b->cm_display) == 0 &&
	    strcmp(a->cm_tier, b->cm_tier) == 0 &&
	    a->cm_context == b->cm_context &&
	    a->cm_max_output == b->cm_max_output &&
	    a->cm_in_per_m == b->cm_in_per_m &&
	    a->cm_out_per_m == b->cm_out_per_m &&
	    a->cm_tools == b->cm_tools && a->cm_vision == b->cm_vision &&
	    a->cm_streaming == b->cm_streaming &&
	    a->cm_thinking == b->cm_thinking);
}

int
catalog_reload(int *added, int *updated, char *err, size_t errlen)
{
	struct catalog_snap		*s, *old;
	const struct catalog_model	*m, *o;
	size_t				 i;

	*added = *updated = 0;
	pthread_mutex_lock(&cat_reload_mtx);
	if ((s = cat_load(err, errlen)) == NULL) {
		pthread_mutex_unlock(&cat_reload_mtx);
		return (-1);
	}
	old = catalog_acquire();
	for (i = 0; i < s->cs_nmodels; i++) {
		m = &s->cs_models[i];
		o = old ? catalog_model_find(old, m->cm_provider, m->cm_id) :
		    NULL;
		if (o == NULL || strcmp(o->cm_provider, m->cm_provider) != 0)
			(*added)++;
		else if (!cat_model_same(o, m))
			(*updated)++;
	}
	pthread_mutex_lock(&cat_mtx);
	if (cat_cur != NULL)
		catalog_release(cat_cur);	/* the current pointer's ref */
	cat_cur = s;
	pthread_mutex_unlock(&cat_mtx);
	cat_learn_env_keys(s);	/* s is current while we hold the reload */
	catalog_release(old);			/* ours */
	pthread_mutex_unlock(&cat_reload_mtx);
	log_info("catalog: reloaded, %zu providers, %zu models (%d new, %d "
	    "changed)", s->cs_nproviders, s->cs_nmodels, *added, *updated);
	return (0);
}

/* ---- lookups ------------------------------------------------------------ */

static const struct catalog_provider *
cat_provider_exact(const struct catalog_snap *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->cs_nproviders; i++)
		if (strcasecmp(s->cs_providers[i].cp_id, name) == 0)
			return (&s->cs_providers[i]);
	return (NULL);
}

const struct catalog_provider *
catalog_provider_find(const struct catalog_snap *s, const char *name)
{
	const struct catalog_provider	*p;
	char				 alt[CATALOG_PROVIDER_MAX + 1];
	size_t				 i;

	if (name == NULL || *name == '\0' ||
	    strlen(name) > CATALOG_PROVIDER_MAX)
		return (NULL);
	if ((p = cat_provider_exact(s, name)) != NULL)
		return (p);
	for (i = 0; cat_provider_aliases[i][0] != NULL; i++)
		if (strcasecmp(cat_provider_aliases[i][0], name) == 0)
			return (catalog_provider_find(s,
			    cat_provider_aliases[i][1]));
	cat_copy(alt, sizeof(alt), name);
	for (i = 0; alt[i] != '\0'; i++)
		if (alt[i] == '-')
			alt[i] = '_';
		else if (alt[i] == '_')
			alt[i] = '-';
	return (cat_provider_exact(s, alt));
}

static const struct catalog_model *
cat_model_in(const struct catalog_snap *s, const struct catalog_provider *p,
    const char *id)
{
	size_t	i;

	for (i = p->cp_first; i < p->cp_first + p->cp_nmodels; i++)
		if (strcasecmp(s->cs_models[i].cm_id, id) == 0)
			return (&s->cs_models[i]);
	return (NULL);
}

/* A model of p whose id is "<p or a name of p>/<id>", or NULL. */
static const struct catalog_model *
cat_model_prefixed(const struct catalog_snap *s,
    const struct catalog_provider *p, const char *id)
{
	const char	*mid;
	char		 pre[CATALOG_PROVIDER_MAX + 1];
	size_t		 i, n;

	for (i = p->cp_first; i < p->cp_first + p->cp_nmodels; i++) {
		mid = s->cs_models[i].cm_id;
		n = strcspn(mid, "/:");
		if (mid[n] == '\0' || n > CATALOG_PROVIDER_MAX ||
		    strcasecmp(mid + n + 1, id) != 0)
			continue;
		memcpy(pre, mid, n);
		pre[n] = '\0';
		if (catalog_provider_find(s, pre) == p)
			return (&s->cs_models[i]);
	}
	return (NULL);
}

const struct catalog_model *
catalog_model_find(const struct catalog_snap *s, const char *provider,
    const char *id)
{
	const struct catalog_provider	*p;
	const struct catalog_model	*m;
	const char			*hint;
	char				 low[CATALOG_ID_MAX + 1];
	json_t				*ix;

	if (id == NULL || *id == '\0' || strlen(id) > CATALOG_ID_MAX)
		return (NULL);
	if (provider != NULL) {
		if ((p = catalog_provider_find(s, provider)) == NULL)
			return (NULL);
		if ((m = cat_model_in(s, p, id)) != NULL)
			return (m);
		return (cat_model_prefixed(s, p, id));
	}
	if ((hint = catalog_infer_provider(id)) != NULL &&
	    (p = catalog_provider_find(s, hint)) != NULL &&
	    (m = cat_model_in(s, p, id)) != NULL)
		return (m);
	cat_lower(id, low, sizeof(low));
	ix = json_object_get(s->cs_ids, low);
	return (ix ? &s->cs_models[json_integer_value(ix)] : NULL);
}

const char *
catalog_alias_target(const struct catalog_snap *s, const char *alias)
{
	char	low[CATALOG_ID_MAX + 1];

	if (alias == NULL || strlen(alias) > CATALOG_ID_MAX)
		return (NULL);
	cat_lower(alias, low, sizeof(low));
	return (json_string_value(json_object_get(s->cs_aliases, low)));
}

const struct catalog_model *
catalog_model_lookup(const struct catalog_snap *s, const char *name)
{
	const struct catalog_model	*m;
	const char			*t;
	size_t				 i;

	if ((m = catalog_model_find(s, NULL, name)) != NULL)
		return (m);
	for (i = 0; i < s->cs_nmodels; i++)
		if (strcasecmp(s->cs_models[i].cm_display, name) == 0)
			return (&s->cs_models[i]);
	if ((t = catalog_alias_target(s, name)) != NULL)
		return (catalog_model_find(s, NULL, t));
	return (NULL);
}

const char *
catalog_infer_provider(const char *model)
{
	size_t	i, n;

	if (model == NULL)
		return (NULL);
	for (i = 0; cat_name_prefixes[i][0] != NULL; i++) {
		n = strlen(cat_name_prefixes[i][0]);
		if (strncasecmp(model, cat_name_prefixes[i][0], n) == 0)
			return (cat_name_prefixes[i][1]);
	}
	return (NULL);
}

const struct catalog_model *
catalog_default_model(const struct catalog_snap *s,
    const struct catalog_provider *p)
{
	const struct catalog_model	*m;
	const char			*t;
	size_t				 i;

	if ((t = catalog_alias_target(s, p->cp_id)) != NULL &&
	    (m = catalog_model_find(s, p->cp_id, t)) != NULL)
		return (m);
	for (i = p->cp_first; i < p->cp_first + p->cp_nmodels; i++)
		if (strcmp(s->cs_models[i].cm_modality, "text") == 0)
			return (&s->cs_models[i]);
	return (NULL);
}

enum llm_style
catalog_style(const char *provider)
{
	if (provider == NULL)
		return (LLM_OPENAI);
	if (strcmp(provider, "anthropic") == 0 ||
	    strcmp(provider, "kimi_coding") == 0 ||
	    strcmp(provider, "byteplus_coding") == 0)
		return (LLM_ANTHROPIC);
	if (strcmp(provider, "gemini") == 0 ||
	    strcmp(provider, "vertex-ai") == 0)
		return (LLM_GEMINI);
	return (LLM_OPENAI);
}

void
catalog_llm_target(const struct catalog_target *ct, struct llm_target *t)
{
	memset(t, 0, sizeof(*t));
	t->t_provider = ct->ct_provider;
	t->t_model = ct->ct_model;
	t->t_base_url = ct->ct_base_url;
	t->t_api_key = ct->ct_api_key;
	t->t_key_env = ct->ct_key_env;
	t->t_style = ct->ct_style;
}

/* The [provider_api_keys] variable configured for id, or NULL. */
static const char *
cat_cfg_key_env(const char *id)
{
	if (cat_cfg == NULL || id == NULL)
		return (NULL);
	return (json_string_value(json_object_get(json_object_get(
	    cat_cfg->cf_doc, "provider_api_keys"), id)));
}

/* The [provider_urls] URL configured for id, or NULL. */
static const char *
cat_cfg_url(const char *id)
{
	if (cat_cfg == NULL || id == NULL)
		return (NULL);
	return (json_string_value(json_object_get(json_object_get(
	    cat_cfg->cf_doc, "provider_urls"), id)));
}

int
catalog_key_ok(const char *key)
{
	size_t	n;

	if (key == NULL)
		return (0);
	for (n = 0; key[n] != '\0'; n++)
		if ((unsigned char)key[n] <= ' ' || key[n] == 0x7f ||
		    (unsigned char)key[n] >= 0x80 || key[n] == '"' ||
		    key[n] == '\\')
			return (0);
	return (n >= CATALOG_KEY_MIN && n <= CATALOG_KEY_MAX);
}

/* The key in variable name, or NULL when it is unset or not a key. */
static const char *
cat_env_key(const char *name)
{
	const char	*v;

	if (name == NULL || *name == '\0' || (v = getenv(name)) == NULL ||
	    !catalog_key_ok(v))
		return (NULL);
	return (v);
}

static int
cat_env_set(const char *name)
{
	return (cat_env_key(name) != NULL);
}

int
catalog_env_key(const struct catalog_provider *p, const char *id,
    char *env, size_t envlen)
{
	const char	*c = cat_cfg_key_env(p ? p->cp_id : id);
	const char	*k = p ? p->cp_key_env : "";

	env[0] = '\0';
	if (c != NULL && *c != '\0') {
		cat_copy(env, envlen, c);
		if (cat_env_set(c))
			return (1);
	}
	if (k != NULL && *k != '\0') {
		if (env[0] == '\0')
			cat_copy(env, envlen, k);
		if (cat_env_set(k)) {
			cat_copy(env, envlen, k);
			return (1);
		}
	}
	/* Gemini also reads GOOGLE_API_KEY (notes 6.2). */
	if (p != NULL && strcmp(p->cp_id, "gemini") == 0 &&
	    cat_env_set("GOOGLE_API_KEY")) {
		cat_copy(env, envlen, "GOOGLE_API_KEY");
		return (1);
	}
	return (0);
}

/* 1 if name matches a row of cat_env_never[]. */
static int
cat_env_reserved(const char *name)
{
	const char *const	*r;
	size_t			 n;

	for (r = cat_env_never; *r != NULL; r++) {
		n = strlen(*r);
		if ((*r)[n - 1] == '_' ? strncmp(name, *r, n) == 0 :
		    strcmp(name, *r) == 0)
			return (1);
	}
	return (0);
}

/* 1 if name is <NAME>_API_KEY, NAME [A-Z][A-Z0-9_]*: the variable a
 * provider the catalog does not know reads its key from (notes 6.2). */
static int
cat_env_conventional(const char *name)
{
	static const char	 suffix[] = "_API_KEY";
	size_t			 i, n = strlen(name);

	if (n <= sizeof(suffix) - 1 || name[0] < 'A' || name[0] > 'Z' ||
	    strcmp(name + n - (sizeof(suffix) - 1), suffix) != 0)
		return (0);
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return (0);
	return (1);
}

/* 1 if the catalog or the configuration names name as a key variable. */
static int
cat_env_declared(const char *name)
{
	struct catalog_snap	*s;
	const char		*k;
	json_t			*v;
	size_t			 i;
	int			 found = 0;

	if ((s = catalog_acquire()) != NULL) {
		for (i = 0; i < s->cs_nproviders && !found; i++)
			found = strcmp(s->cs_providers[i].cp_key_env,
			    name) == 0;
		catalog_release(s);
	}
	if (found || cat_cfg == NULL)
		return (found);
	if (strcmp(cat_cfg->default_key_env, name) == 0)
		return (1);
	json_object_foreach(json_object_get(cat_cfg->cf_doc,
	    "provider_api_keys"), k, v)
		if (strcmp(json_string_value(v) ?: "", name) == 0)
			return (1);
	return (0);
}

int
catalog_key_env_check(const char *what, const char *name, char *err,
    size_t errlen)
{
	size_t	i, n = name != NULL ? strlen(name) : 0;

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			break;
	if (n == 0 || n > CATALOG_KEY_ENV_MAX || i < n ||
	    isdigit((unsigned char)name[0])) {
		snprintf(err, errlen, "'%s' must be an environment variable "
		    "name: 1 to %d letters, digits or '_', not starting with "
		    "a digit", what, CATALOG_KEY_ENV_MAX);
		return (SH_EINVAL);
	}
	if (cat_env_reserved(name)) {
		snprintf(err, errlen, "'%s' may not name '%s': it is not a "
		    "provider key variable", what, name);
		return (SH_EINVAL);
	}
	if (cat_env_declared(name) || cat_env_conventional(name))
		return (0);
	snprintf(err, errlen, "'%s' may not name '%s': it is not a provider "
	    "key variable (a provider's env_var in GET /api/providers, one "
	    "the configuration names, or <NAME>_API_KEY)", what, name);
	return (SH_EINVAL);
}

/* Registers the key in variable name with the redactor; says (without
 * the value) when it holds something that is not a key. */
static void
cat_learn_env(const char *name)
{
	const char	*v;

	if (name == NULL || *name == '\0' || (v = getenv(name)) == NULL ||
	    *v == '\0')
		return;
	if (catalog_key_ok(v))
		log_add_secret(v);
	else
		log_warnx("catalog: '%s' holds no usable API key (%zu bytes; "
		    "a key is %d to %d printable ASCII characters without "
		    "spaces or quotes): ignored", name, strlen(v),
		    CATALOG_KEY_MIN, CATALOG_KEY_MAX);
}

/* Every key the environment holds for the providers of s and the
 * variables the configuration names, so the log never shows one. */
static void
cat_learn_env_keys(const struct catalog_snap *s)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	for (i = 0; i < s->cs_nproviders; i++)
		cat_learn_env(s->cs_providers[i].cp_key_env);
	cat_learn_env("GOOGLE_API_KEY");
	if (cat_cfg == NULL)
		return;
	cat_learn_env(cat_cfg->default_key_env);
	json_object_foreach(json_object_get(cat_cfg->cf_doc,
	    "provider_api_keys"), k, v)
		cat_learn_env(json_string_value(v));
}

int
catalog_provider_check(struct db *db, const char *provider,
    const char *base_url, char *err, size_t errlen)
{
	struct catalog_snap		*s;
	const struct catalog_provider	*p;
	const char			*id, *pv[1];
	PGresult			*res;
	int				 ret = 0;

	if (provider == NULL || *provider == '\0' ||
	    strcmp(provider, "default") == 0 || strcmp(provider, "auto") == 0)
		return (0);
	if (strlen(provider) > CATALOG_PROVIDER_MAX) {
		snprintf(err, errlen, "provider name longer than %d bytes",
		    CATALOG_PROVIDER_MAX);
		return (SH_ENOTFOUND);
	}
	if (base_url != NULL && *base_url != '\0')
		return (0);	/* its own endpoint: OpenAI-compatible */
	if ((s = catalog_acquire()) == NULL) {
		snprintf(err, errlen, "the model catalog is not loaded");
		return (SH_EUNAVAIL);
	}
	p = catalog_provider_find(s, provider);
	id = p != NULL ? p->cp_id : provider;
	if ((p != NULL && p->cp_base_url[0] != '\0') ||
	    (cat_cfg_url(id) != NULL && *cat_cfg_url(id) != '\0'))
		goto done;
	if (p != NULL && db != NULL) {
		/* A local CLI provider with a URL set through the API. */
		pv[0] = id;
		if ((res = db_exec(db, "SELECT 1 FROM provider_urls WHERE "
		    "provider = $1", 1, pv)) == NULL) {
			snprintf(err, errlen, "the database is unavailable: %s",
			    db_errmsg(db));
			ret = SH_EUNAVAIL;
			goto done;
		}
		ret = PQntuples(res) > 0 ? 0 : SH_ENOTFOUND;
		PQclear(res);
		if (ret == 0)
			goto done;
	}
	if (p != NULL)
		snprintf(err, errlen, "provider '%s' is a local CLI and cannot "
		    "be called here: give the agent a base_url", id);
	else
		snprintf(err, errlen, "unknown provider '%s': it is not in the "
		    "catalog (GET /api/providers) and has no base URL "
		    "([provider_urls] in config.toml, or the agent's "
		    "base_url)", provider);
	ret = SH_ENOTFOUND;
 done:
	catalog_release(s);
	return (ret);
}

/* ---- resolve ------------------------------------------------------------ */

/* What one query tells resolve about user changes. */
struct cat_user {
	json_t		*rows;		/* [[kind, name, value], ...] */
	const char	*alias;		/* the user alias's target (in rows) */
	json_t		*custom;	/* custom model rows, by lower id */
};

/* ... and the query, with the version of what it read (last row). */
static const char SQL_RESOLVE[] =
	"SELECT 'k' AS kind, provider AS name, api_key AS v1, NULL AS v2 "
	"    FROM provider_keys "
	"UNION ALL SELECT 'u', provider, base_url, NULL FROM provider_urls "
	"UNION ALL SELECT 'a', alias, model_id, NULL FROM model_aliases "
	"    WHERE alias = $1 "
	"UNION ALL SELECT 'c', c.id, c.provider, row_to_json(c)::text "
	"    FROM custom_models c WHERE lower(c.id) IN ($1, $2, "
	"    (SELECT lower(model_id) FROM model_aliases WHERE alias = $1)) "
	"UNION ALL SELECT 'v', v::text, NULL, NULL FROM catalog_version";

/*
 * The last cat_user read for a model name, with the catalog version it
 * read (sql/021): a turn that read the same version in its take
 * (catalog_resolve()'s ver) resolves from it without a query.  The
 * entries are never changed, only replaced: a reader holds references.
 */
#define CAT_UCACHE_SLOTS	64
static struct cat_ucached {
	char		 cu_name[CATALOG_ID_MAX + 1];
	long long	 cu_ver;
	json_t		*cu_rows;
	json_t		*cu_custom;
} cat_ucache[CAT_UCACHE_SLOTS];
static pthread_mutex_t	 cat_ucache_mtx = PTHREAD_MUTEX_INITIALIZER;

static struct cat_ucached *
cat_ucache_slot(const char *name)
{
	unsigned int	h = 5381;

	while (*name != '\0')
		h = h * 33 + (unsigned char)*name++;
	return (&cat_ucache[h % CAT_UCACHE_SLOTS]);
}

/* The value of kind/name in u's rows, or NULL. */
static const char *
cat_user_get(const struct cat_user *u, const char *kind, const char *name)
{
	json_t	*r;
	size_t	 i;

	if (name == NULL)
		return (NULL);
	json_array_foreach(u->rows, i, r)
		if (strcmp(json_string_value(json_array_get(r, 0)) ?: "",
		    kind) == 0 && strcmp(json_string_value(json_array_get(r,
		    1)) ?: "", name) == 0)
			return (json_string_value(json_array_get(r, 2)));
	return (NULL);
}

static void
cat_user_set(struct cat_user *u, json_t *rows, json_t *custom)
{
	json_t	*r;
	size_t	 i;

	u->rows = rows;
	u->custom = custom;
	u->alias = NULL;
	/* The query reads the alias of the model's name only. */
	json_array_foreach(rows, i, r)
		if (strcmp(json_string_value(json_array_get(r, 0)) ?: "",
		    "a") == 0)
			u->alias = json_string_value(json_array_get(r, 2));
}

/* Reads what users changed that bears on model (at catalog version ver
 * when it is not 0: from the cache when it holds that version). */
static int
cat_user_load(struct db *db, long long ver, const char *model,
    struct cat_user *u)
{
	char			 low[CATALOG_ID_MAX + 1], low2[CATALOG_ID_MAX + 1];
	const char		*p[2], *sl, *k;
	PGresult		*res;
	json_t			*rows, *custom, *row;
	struct cat_ucached	*cu;
	char			 lid[CATALOG_ID_MAX + 1];
	long long		 got = 0;
	int			 i;

	memset(u, 0, sizeof(*u));
	if (db == NULL)
		return (0);
	cat_lower(model, low, sizeof(low));
	cu = cat_ucache_slot(low);
	if (ver != 0) {
		pthread_mutex_lock(&cat_ucache_mtx);
		if (cu->cu_ver == ver && strcmp(cu->cu_name, low) == 0)
			cat_user_set(u, json_incref(cu->cu_rows),
			    json_incref(cu->cu_custom));
		pthread_mutex_unlock(&cat_ucache_mtx);
		if (u->rows != NULL)
			return (0);
	}
	sl = strpbrk(low, "/:");
	cat_copy(low2, sizeof(low2), sl ? sl + 1 : low);
	p[0] = low;
	p[1] = low2;
	if ((res = db_exec(db, SQL_RESOLVE, 2, p)) == NULL)
		return (SH_EUNAVAIL);
	rows = json_array();
	custom = json_object();
	for (i = 0; i < PQntuples(res) && rows != NULL && custom != NULL;
	    i++) {
		k = PQgetvalue(res, i, 0);
		if (strcmp(k, "v") == 0) {
			(void)util_strtonum(PQgetvalue(res, i, 1), 1,
			    INT64_MAX, &got);
			continue;
		}
		/* Keys set through the API, maybe on another replica: the
		 * redactor learns each before it can be used. */
		if (strcmp(k, "k") == 0 && catalog_key_ok(PQgetvalue(res, i, 2)))
			log_add_secret(PQgetvalue(res, i, 2));
		if (strcmp(k, "c") != 0) {
			json_array_append_new(rows, json_pack("[s, s, s?]", k,
			    PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ?
			    NULL : PQgetvalue(res, i, 2)));
			continue;
		}
		row = json_loads(PQgetvalue(res, i, 3), 0, NULL);
		cat_lower(PQgetvalue(res, i, 1), lid, sizeof(lid));
		if (row != NULL)
			json_object_set_new(custom, lid, row);
	}
	PQclear(res);
	if (rows == NULL || custom == NULL) {
		json_decref(rows);
		json_decref(custom);
		return (SH_ENOMEM);
	}
	if (got != 0) {
		pthread_mutex_lock(&cat_ucache_mtx);
		json_decref(cu->cu_rows);
		json_decref(cu->cu_custom);
		snprintf(cu->cu_name, sizeof(cu->cu_name), "%s", low);
		cu->cu_ver = got;
		cu->cu_rows = json_incref(rows);
		cu->cu_custom = json_incref(custom);
		pthread_mutex_unlock(&cat_ucache_mtx);
	}
	cat_user_set(u, rows, custom);
	return (0);
}

static void
cat_user_free(struct cat_user *u)
{
	json_decref(u->rows);
	json_decref(u->custom);
	memset(u, 0, sizeof(*u));
}

/* A custom model named name (under provider when not NULL), borrowed. */
static json_t *
cat_user_custom(const struct cat_user *u, const struct catalog_snap *s,
    const char *provider, const char *name)
{
	char		 low[CATALOG_ID_MAX + 1];
	json_t		*c;
	const struct catalog_provider *cp, *rp;

	if (u->custom == NULL || name == NULL)
		return (NULL);
	cat_lower(name, low, sizeof(low));
	if ((c = json_object_get(u->custom, low)) == NULL)
		return (NULL);
	if (provider == NULL)
		return (c);
	cp = catalog_provider_find(s, provider);
	rp = catalog_provider_find(s, cat_str(c, "provider", ""));
	if ((cp != NULL && cp == rp) ||
	    strcmp(cat_str(c, "provider", ""), provider) == 0)
		return (c);
	return (NULL);
}

/* Auto-detection: the first provider with a key.  NULL if none. */
static const char *
cat_auto(const struct catalog_snap *s, const struct cat_user *u)
{
	const struct catalog_provider	*p;
	char				 env[128];
	size_t				 i;

	for (i = 0; cat_auto_order[i] != NULL; i++) {
		if ((p = catalog_provider_find(s, cat_auto_order[i])) == NULL)
			continue;
		if (catalog_env_key(p, p->cp_id, env, sizeof(env)) ||
		    catalog_key_ok(cat_user_get(u, "k", p->cp_id)))
			return (p->cp_id);
	}
	for (i = 0; i < s->cs_nproviders; i++) {
		p = &s->cs_providers[i];
		if (!p->cp_key_required || p->cp_base_url[0] == '\0')
			continue;
		if (catalog_env_key(p, p->cp_id, env, sizeof(env)) ||
		    catalog_key_ok(cat_user_get(u, "k", p->cp_id)))
			return (p->cp_id);
	}
	return (NULL);
}

/* Strips a "<provider>/" or "<provider>:" prefix naming pid from id. */
static const char *
cat_strip(const struct catalog_snap *s, const char *pid, const char *id)
{
	const struct catalog_provider	*a, *b;
	char				 pre[CATALOG_PROVIDER_MAX + 1];
	size_t				 n = strcspn(id, "/:");

	if (id[n] == '\0' || n == 0 || n > CATALOG_PROVIDER_MAX)
		return (id);
	memcpy(pre, id, n);
	pre[n] = '\0';
	if (strcasecmp(pre, pid) == 0)
		return (id + n + 1);
	a = catalog_provider_find(s, pre);
	b = catalog_provider_find(s, pid);
	return (a != NULL && a == b ? id + n + 1 : id);
}

/* For providers whose ids are "org/model": a model of p ending in
 * "/name", or NULL. */
static const struct catalog_model *
cat_qualified(const struct catalog_snap *s, const struct catalog_provider *p,
    const char *name)
{
	size_t	i, n = strlen(name), l;
	const char *id;

	if (strchr(name, '/') != NULL || !cat_in(p->cp_id, cat_qualify))
		return (NULL);
	for (i = p->cp_first; i < p->cp_first + p->cp_nmodels; i++) {
		id = s->cs_models[i].cm_id;
		l = strlen(id);
		if (l > n && id[l - n - 1] == '/' &&
		    strcasecmp(id + l - n, name) == 0)
			return (&s->cs_models[i]);
	}
	return (NULL);
}

static void
cat_fill_model(struct catalog_target *t, const struct catalog_model *m)
{
	t->ct_known = 1;
	t->ct_context_window = m->cm_context > 0 ? m->cm_context :
	    CATALOG_DEFAULT_CONTEXT;
	t->ct_max_output = m->cm_max_output;
	t->ct_in_per_m = m->cm_in_per_m;
	t->ct_out_per_m = m->cm_out_per_m;
	t->ct_vision = m->cm_vision;
}

static void
cat_fill_custom(struct catalog_target *t, json_t *c)
{
	t->ct_known = 1;
	t->ct_context_window = cat_int(c, "context_window");
	if (t->ct_context_window == 0)
		t->ct_context_window = CATALOG_DEFAULT_CONTEXT;
	t->ct_max_output = cat_int(c, "max_output_tokens");
	t->ct_in_per_m = cat_num(c, "input_cost_per_m");
	t->ct_out_per_m = cat_num(c, "output_cost_per_m");
	t->ct_vision = cat_bool(c, "supports_vision", 0);
}

static int
cat_is_default(const char *s)
{
	return (s == NULL || *s == '\0' || strcmp(s, "default") == 0);
}

int
catalog_resolve(struct db *db, long long ver, const char *provider,
    const char *model,
    const char *base_url, const char *key_env, struct catalog_target *t,
    char *err, size_t errlen)
{
	struct catalog_snap		*s;
	struct cat_user			 u;
	const struct catalog_provider	*p = NULL;
	const struct catalog_model	*m = NULL;
	json_t				*c = NULL;
	const struct cfg_model		*dm;
	struct cfg_model		 dmc;	/* [default_model], now */
	const char			*prov, *name, *target, *url, *key;
	const char			*hint, *rest;
	char				 pid[CATALOG_PROVIDER_MAX + 1];
	char				 nbuf[CATALOG_ID_MAX + 1], env[128];
	int				 ret = SH_ENOTFOUND, use_default = 0;
	size_t				 n;

	memset(t, 0, sizeof(*t));
	/* A live config change may rewrite it (cfgsync.h): one copy per
	 * resolution, so a new turn takes the new default whole. */
	memset(&dmc, 0, sizeof(dmc));
	snprintf(dmc.cm_provider, sizeof(dmc.cm_provider), "auto");
	if (cat_cfg != NULL)
		cfg_default_model(cat_cfg, &dmc);
	t->ct_context_window = CATALOG_DEFAULT_CONTEXT;
	t->ct_in_per_m = CATALOG_DEFAULT_IN_PER_M;
	t->ct_out_per_m = CATALOG_DEFAULT_OUT_PER_M;
	/* Before anything reads it: a manifest may be older than the rule. */
	if (key_env != NULL && *key_env != '\0' &&
	    catalog_key_env_check("api_key_env", key_env, err, errlen) != 0)
		return (CATALOG_EKEYENV);
	if ((s = catalog_acquire()) == NULL) {
		snprintf(err, errlen, "the model catalog is not loaded");
		return (SH_EUNAVAIL);
	}
	prov = provider != NULL ? provider : "";
	name = model != NULL ? model : "";
	if (strcmp(prov, "default") == 0 ||
	    (*prov == '\0' && cat_is_default(name))) {
		prov = dmc.cm_provider;
		use_default = 1;
		if (cat_is_default(name))
			name = dmc.cm_model;
	} else if (strcmp(name, "default") == 0) {
		if (cat_cfg != NULL && strcmp(prov, dmc.cm_provider) == 0)
			name = dmc.cm_model;
		else
			name = "";
	}
	if (strlen(prov) > CATALOG_PROVIDER_MAX ||
	    strlen(name) > CATALOG_ID_MAX) {
		snprintf(err, errlen, "provider or model name too long");
		catalog_release(s);
		return (SH_ENOTFOUND);
	}
	if (cat_user_load(db, ver, name, &u) != 0) {
		snprintf(err, errlen, "the database is unavailable: %s",
		    db_errmsg(db));
		catalog_release(s);
		return (SH_EUNAVAIL);
	}
	if (strcmp(prov, "auto") == 0) {
		if ((prov = cat_auto(s, &u)) == NULL) {
			snprintf(err, errlen, "No LLM provider is configured: "
			    "set an API key in the environment (e.g. "
			    "OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY) "
			    "or with POST /api/providers/{name}/key, or name "
			    "a provider in the agent's manifest.");
			ret = CATALOG_ENOPROVIDER;
			goto done;
		}
	}
	pid[0] = '\0';
	if (*prov != '\0') {
		if ((p = catalog_provider_find(s, prov)) != NULL)
			cat_copy(pid, sizeof(pid), p->cp_id);
		else
			cat_copy(pid, sizeof(pid), prov);
	}
	if (*name == '\0') {
		if (p == NULL || (m = catalog_default_model(s, p)) == NULL) {
			snprintf(err, errlen, *pid ? "no model named and "
			    "provider '%s' has no default model" :
			    "no model named", pid);
			goto done;
		}
		name = m->cm_id;
	}

	/* The model: custom, catalog, alias, prefix (notes 6.4). */
	c = cat_user_custom(&u, s, *pid ? pid : NULL, name);
	if (c == NULL)
		m = catalog_model_find(s, *pid ? pid : NULL, name);
	if (c == NULL && m == NULL) {
		target = u.alias ? u.alias : catalog_alias_target(s, name);
		if (target != NULL) {
			cat_copy(nbuf, sizeof(nbuf), target);
			name = nbuf;
			c = cat_user_custom(&u, s, *pid ? pid : NULL, name);
			if (c == NULL)
				m = catalog_model_find(s, *pid ? pid : NULL,
				    name);
		}
	}
	if (c == NULL && m == NULL && (n = strcspn(name, "/:")) > 0 &&
	    name[n] != '\0' && n <= CATALOG_PROVIDER_MAX) {
		char			 pre[CATALOG_PROVIDER_MAX + 1];
		const struct catalog_provider *pp;

		memcpy(pre, name, n);
		pre[n] = '\0';
		pp = catalog_provider_find(s, pre);
		if ((pp != NULL && (*pid == '\0' ||
		    catalog_provider_find(s, pid) == pp)) ||
		    (pp == NULL && *pid == '\0' && cat_cfg_url(pre) != NULL) ||
		    strcasecmp(pre, pid) == 0) {
			if (*pid == '\0') {
				p = pp;
				cat_copy(pid, sizeof(pid), pp ? pp->cp_id :
				    pre);
			}
			name += n + 1;
			c = cat_user_custom(&u, s, pid, name);
			if (c == NULL && p != NULL)
				m = catalog_model_find(s, pid, name);
		}
	}
	if (c == NULL && m == NULL && p != NULL)
		m = cat_qualified(s, p, name);
	if (c == NULL && m == NULL)
		m = catalog_model_find(s, NULL, name);	/* figures only */

	/* The provider, when the manifest did not name one. */
	if (*pid == '\0') {
		if (c != NULL)
			cat_copy(pid, sizeof(pid), cat_str(c, "provider", ""));
		else if ((hint = catalog_infer_provider(name)) != NULL)
			cat_copy(pid, sizeof(pid), hint);
		else if (m != NULL)
			cat_copy(pid, sizeof(pid), m->cm_provider);
		else {
			snprintf(err, errlen, "cannot tell which provider "
			    "serves model '%s': name the provider", name);
			goto done;
		}
		if ((p = catalog_provider_find(s, pid)) != NULL)
			cat_copy(pid, sizeof(pid), p->cp_id);
	}

	/* Wire id: the catalog's, without a prefix naming the provider. */
	if (c != NULL)
		rest = cat_str(c, "id", name);
	else if (m != NULL && p != NULL && m->cm_provider == p->cp_id)
		rest = m->cm_id;
	else
		rest = name;
	rest = cat_strip(s, pid, rest);
	cat_copy(t->ct_provider, sizeof(t->ct_provider), pid);
	cat_copy(t->ct_model, sizeof(t->ct_model), rest);
	if (c != NULL)
		cat_fill_custom(t, c);
	else if (m != NULL)
		cat_fill_model(t, m);

	/* Base URL: manifest, API override, [provider_urls], catalog. */
	dm = use_default ? &dmc : NULL;	/* [default_model] applies */
	url = base_url;
	if (url == NULL || *url == '\0')
		url = cat_user_get(&u, "u", pid);
	if (url == NULL || *url == '\0')
		url = cat_cfg_url(pid);
	if ((url == NULL || *url == '\0') && dm != NULL)
		url = dm->cm_base_url;
	if ((url == NULL || *url == '\0') && p != NULL)
		url = p->cp_base_url;
	if (url == NULL || *url == '\0') {
		if (p != NULL && p->cp_key_env[0] == '\0')
			snprintf(err, errlen, "provider '%s' is a local CLI "
			    "and cannot be called here", pid);
		else
			snprintf(err, errlen, "unknown provider '%s': set "
			    "its base URL ([provider_urls] or PUT "
			    "/api/providers/%s/url)", pid, pid);
		goto done;
	}
	t->ct_style = catalog_style(pid);
	cat_copy(t->ct_base_url, sizeof(t->ct_base_url), url);
	n = strlen(t->ct_base_url);
	while (n > 0 && t->ct_base_url[n - 1] == '/')
		t->ct_base_url[--n] = '\0';
	if (strcmp(pid, "ollama") == 0 &&
	    (n < 3 || strcmp(t->ct_base_url + n - 3, "/v1") != 0))
		snprintf(t->ct_base_url + n, sizeof(t->ct_base_url) - n,
		    "/v1");
	t->ct_key_required = p != NULL ? p->cp_key_required : 1;

	/* Key: manifest variable, API key, [default_model], provider's.
	 * A value that is not a key (catalog_key_ok()) counts as none. */
	key = NULL;
	if (key_env != NULL && *key_env != '\0') {
		cat_copy(t->ct_key_env, sizeof(t->ct_key_env), key_env);
		key = cat_env_key(key_env);
	}
	if (key == NULL) {
		if ((key = cat_user_get(&u, "k", pid)) != NULL &&
		    t->ct_key_env[0] == '\0')
			catalog_env_key(p, pid, t->ct_key_env,
			    sizeof(t->ct_key_env));
		if (!catalog_key_ok(key))
			key = NULL;
	}
	if (key == NULL && dm != NULL && dm->cm_key_env[0] != '\0') {
		cat_copy(env, sizeof(env), dm->cm_key_env);
		if (t->ct_key_env[0] == '\0')
			cat_copy(t->ct_key_env, sizeof(t->ct_key_env), env);
		key = cat_env_key(env);
	}
	if (key == NULL) {
		if (catalog_env_key(p, pid, env, sizeof(env)))
			key = cat_env_key(env);
		if (t->ct_key_env[0] == '\0')
			cat_copy(t->ct_key_env, sizeof(t->ct_key_env), env);
	}
	if (t->ct_key_env[0] == '\0' && p == NULL) {
		/* The naming convention: "my-llm" -> MY_LLM_API_KEY. */
		for (n = 0; pid[n] != '\0' && n + 9 < sizeof(env); n++)
			env[n] = isalnum((unsigned char)pid[n]) ?
			    (char)toupper((unsigned char)pid[n]) : '_';
		snprintf(env + n, sizeof(env) - n, "_API_KEY");
		cat_copy(t->ct_key_env, sizeof(t->ct_key_env), env);
		key = cat_env_key(env);
	}
	if (key != NULL) {
		/* Whatever the source, the redactor knows the key before
		 * anything can echo it. */
		log_add_secret(key);
		cat_copy(t->ct_api_key, sizeof(t->ct_api_key), key);
	}
	ret = 0;
done:
	cat_user_free(&u);
	catalog_release(s);
	return (ret);
}

int
catalog_model_provider(struct db *db, const char *model, char *out,
    size_t outlen)
{
	struct catalog_snap		*s;
	struct cat_user			 u;
	const struct catalog_provider	*p;
	const struct catalog_model	*m = NULL;
	json_t				*c = NULL;
	const char			*prov = NULL;
	char				 pre[CATALOG_PROVIDER_MAX + 1];
	size_t				 n;
	int				 ret = SH_ENOTFOUND;

	out[0] = '\0';
	if (model == NULL || *model == '\0' || strlen(model) > CATALOG_ID_MAX)
		return (SH_ENOTFOUND);
	if ((s = catalog_acquire()) == NULL)
		return (SH_EUNAVAIL);
	if (cat_user_load(db, 0, model, &u) != 0) {
		catalog_release(s);
		return (SH_EUNAVAIL);
	}
	/* The catalog entry first (notes 2.7), as resolve looks it up. */
	if ((c = cat_user_custom(&u, s, NULL, model)) == NULL &&
	    u.alias != NULL && (c = cat_user_custom(&u, s, NULL,
	    u.alias)) == NULL)
		m = catalog_model_lookup(s, u.alias);
	if (c == NULL && m == NULL)
		m = catalog_model_lookup(s, model);
	if (c != NULL)
		prov = cat_str(c, "provider", NULL);
	else if (m != NULL)
		prov = m->cm_provider;
	else if ((n = strcspn(model, "/:")) > 0 && model[n] != '\0' &&
	    n <= CATALOG_PROVIDER_MAX) {
		/* Then the name: an explicit provider prefix ... */
		memcpy(pre, model, n);
		pre[n] = '\0';
		if ((p = catalog_provider_find(s, pre)) != NULL)
			prov = p->cp_id;
		else if (cat_cfg_url(pre) != NULL)
			prov = pre;
	}
	if (prov == NULL || *prov == '\0')
		prov = catalog_infer_provider(model);	/* ... its name */
	if (prov != NULL && *prov != '\0') {
		if ((p = catalog_provider_find(s, prov)) != NULL)
			prov = p->cp_id;
		cat_copy(out, outlen, prov);
		ret = 0;
	}
	cat_user_free(&u);
	catalog_release(s);
	return (ret);
}
