/*
 * catalog/catalog.h - the model catalog and provider registry
 * (notes/agent-core.md 6.2, 6.4 and 7).
 *
 * The catalog is the reference registry's data (catalog/registry/, MIT,
 * its LICENSE kept beside it): one TOML file per provider
 * and aliases.toml, parsed at start into an immutable snapshot.  A reload
 * (POST /api/catalog/update) builds a new snapshot and swaps it in; readers
 * hold a reference, so a reload never blocks a turn.  What users change
 * lives in PostgreSQL (schema "runtime"), so every replica sees it at once:
 * provider keys (never returned by any operation), base-URL overrides,
 * custom models and aliases.
 *
 * catalog_resolve() turns what a manifest names into everything a driver
 * call needs; the agent loop calls it for the primary model and each
 * fallback, on a job thread with that thread's database connection.
 */
#ifndef CATALOG_H
#define CATALOG_H

#include "svc.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "embed.h"
#include "log.h"
#include "llm/llm.h"

struct db;
struct sh_config;

/*
 * An API key, from any source (the environment, POST /api/providers/
 * {name}/key, the variables the config or a manifest names), is
 * CATALOG_KEY_MIN to CATALOG_KEY_MAX bytes of printable ASCII without
 * spaces, quotes or backslashes (catalog_key_ok()).  Shorter keys are
 * refused because every key in use is redacted by value from whatever
 * leaves the process (log.h), and a shorter one would redact ordinary
 * words; a value that breaks these rules is treated as no key at all.
 */
#define CATALOG_KEY_MIN		LOG_SECRET_MIN
#define CATALOG_KEY_MAX		511
#define CATALOG_KEY_ENV_MAX	127	/* a key variable's name */
#define CATALOG_DEFAULT_CONTEXT	8192	/* unknown model (notes 4.1.7) */
#define CATALOG_DEFAULT_IN_PER_M	1.0	/* unknown pricing (4.11) */
#define CATALOG_DEFAULT_OUT_PER_M	3.0

/* A resolved model.  Fixed buffers so it can live on a turn. */
struct catalog_target {
	char		 ct_provider[64];
	char		 ct_model[256];		/* wire id, prefix stripped */
	char		 ct_base_url[512];
	char		 ct_key_env[CATALOG_KEY_ENV_MAX + 1]; /* "OPENAI_
							   API_KEY" */
	char		 ct_api_key[CATALOG_KEY_MAX + 1]; /* "" when none
							   is set */
	enum llm_style	 ct_style;
	int		 ct_key_required;
	int		 ct_known;		/* the model is in the catalog */
	long long	 ct_context_window;	/* CATALOG_DEFAULT_CONTEXT */
	long long	 ct_max_output;		/* 0: unknown */
	double		 ct_in_per_m;		/* USD per million tokens */
	double		 ct_out_per_m;
	int		 ct_vision;
};

/* Loads the catalog from dir (NULL: the built-in directory).  0 or -1
 * (logged).  Call once before serving. */
int	 catalog_init(const struct sh_config *cfg, const char *dir);
void	 catalog_fini(void);

/*
 * Resolves provider/model as a manifest names them ("default" provider
 * and model mean the configured [default_model]; an empty provider is
 * inferred from the model name, notes 6.4).  base_url and key_env, when
 * not NULL and not empty, are the manifest's own overrides.  Fills t with
 * the catalog's figures (or the defaults above for an unknown model) and
 * the key from, in order: key_env's variable, a key set through the API,
 * the provider's own variable.  0, or SH_ENOTFOUND with err naming the
 * problem ("unknown provider 'x'"), CATALOG_ENOPROVIDER when provider
 * "auto" finds no provider with a key (err says what to set),
 * CATALOG_EKEYENV when key_env is not one an agent may name
 * (catalog_key_env_check(); the variable is then never read), or
 * SH_EUNAVAIL when the database cannot be read (err says so).  A missing
 * key is not an error here: ct_api_key is "" and ct_key_required says
 * whether that matters.  ver, when not 0, is the catalog version
 * (sql/021) the caller read in a statement of its own: what users
 * changed is then read from this replica's copy of that version when it
 * has one, without a query.
 */
#define CATALOG_ENOPROVIDER	-200
#define CATALOG_EKEYENV		-201	/* key_env refused (err: why) */
int	 catalog_resolve(struct db *db, long long ver, const char *provider,
	    const char *model, const char *base_url, const char *key_env,
	    struct catalog_target *t, char *err, size_t errlen);

/* 1 if key is a usable API key (see CATALOG_KEY_MIN). */
int	 catalog_key_ok(const char *key);

/*
 * Whether name may be an agent's api_key_env ([model] or a fallback
 * entry).  The runtime sends that variable's value as the bearer token to
 * the agent's base_url, and both are chosen by whoever may create agents,
 * so the name must be a provider key's, never another of the process's
 * secrets or settings (LIBREFANG_DATABASE_URL, HOME, ...).  Allowed:
 *	- the api_key_env of a provider of the current catalog (GITHUB_TOKEN
 *	  for github-copilot, say, or a provider file's own);
 *	- a variable the configuration names as a key ([default_model]
 *	  api_key_env, a [provider_api_keys] value);
 *	- <NAME>_API_KEY, NAME upper-case letters, digits and '_' starting
 *	  with a letter: the convention a provider the catalog does not know
 *	  reads its key by (notes 6.2);
 * never a LIBREFANG_ variable, whatever names it (cat_env_never[]).  The
 * name itself is 1 to CATALOG_KEY_ENV_MAX of [A-Za-z0-9_], not starting
 * with a digit.  what names the field in err ("api_key_env",
 * "fallback_models[1].api_key_env").  0, or SH_EINVAL with err set;
 * err never holds anything but the name.  Every way in checks it when it
 * is set (agent_check_models()) and catalog_resolve() again before it
 * reads the variable, so an agent stored before the rule cannot use one.
 * Thread-safe.
 */
int	 catalog_key_env_check(const char *what, const char *name, char *err,
	    size_t errlen);

/*
 * The provider that serves model, when a request names none (PUT
 * /api/agents/{id}/model, notes 2.7 and 6.4): the catalog entry's (a
 * custom model, a user alias's target, a catalog id, display name or
 * alias), else the model's "<provider>/" or "<provider>:" prefix when it
 * names a catalog provider or one [provider_urls] configures, else its
 * name prefix (claude -> anthropic, ...).  0 with the provider's id in
 * out; SH_ENOTFOUND when nothing tells; SH_EUNAVAIL when the database
 * (custom models, user aliases; db may be NULL for none) cannot be read.
 */
int	 catalog_model_provider(struct db *db, const char *model, char *out,
	    size_t outlen);

/*
 * Whether an agent may name provider (with base_url, the manifest's own
 * endpoint override, NULL or "" for none): "default", "auto", a provider
 * of the catalog (id or name) that can be called, one [provider_urls]
 * configures, or any name when base_url is set (an OpenAI-compatible
 * endpoint, notes 6.2).  0; SH_ENOTFOUND with err naming the provider and
 * what would make it resolvable; SH_EUNAVAIL (err says why) when the
 * database cannot be read.  db may be NULL (no API URL overrides).
 */
int	 catalog_provider_check(struct db *db, const char *provider,
	    const char *base_url, char *err, size_t errlen);

/* The operation table for models.*, providers.* and catalog.* (ends with
 * a NULL name); catalog/ops.c. */

extern const struct svc_op catalog_ops[];

/* ---- the snapshot (catalog.c), for catalog/ops.c and the tests ----- */

/*
 * Where the catalog comes from: the files under services/agent-runtime/
 * catalog/ are compiled in (catalog_builtin[], generated by service.mk);
 * files in $LIBREFANG_HOME/providers/ *.toml add providers or replace the
 * built-in one of the same id, and $LIBREFANG_HOME/aliases.toml replaces
 * the built-in global aliases.  catalog_init() with a directory reads
 * that directory's providers/ and aliases.toml instead of both.
 */
extern const struct embed_file catalog_builtin[];	/* NULL-ended; names
							   such as
							   "providers/openai.toml" */

#define CATALOG_ID_MAX		255	/* longest model id */
#define CATALOG_PROVIDER_MAX	63	/* longest provider id */
#define CATALOG_URL_MAX		511	/* fits ct_base_url */

/* Every string is borrowed from the snapshot that holds it. */
struct catalog_model {
	const char	*cm_id;
	const char	*cm_display;
	const char	*cm_provider;	/* the provider's id */
	const char	*cm_tier;	/* frontier|smart|balanced|fast|local|
					   custom */
	const char	*cm_modality;	/* text|image|audio|video|music */
	long long	 cm_context;
	long long	 cm_max_output;
	double		 cm_in_per_m;
	double		 cm_out_per_m;
	int		 cm_tools;
	int		 cm_vision;
	int		 cm_streaming;
	int		 cm_thinking;
	json_t		*cm_aliases;	/* array of strings, as written */
};

struct catalog_provider {
	const char	*cp_id;
	const char	*cp_display;
	const char	*cp_key_env;	/* "" for CLI providers */
	const char	*cp_base_url;	/* "" for CLI providers */
	int		 cp_key_required;
	size_t		 cp_first;	/* its models: cs_models[cp_first .. */
	size_t		 cp_nmodels;	/* .. cp_first + cp_nmodels) */
};

/* An immutable catalog.  Hold it with catalog_acquire() and give it back
 * with catalog_release(); a reload never changes one in place. */
struct catalog_snap {
	struct catalog_provider	*cs_providers;
	size_t			 cs_nproviders;
	struct catalog_model	*cs_models;
	size_t			 cs_nmodels;
	json_t			*cs_aliases;	/* {"alias": "model id"},
						   lowercase keys */
	json_t			*cs_docs;	/* owns the strings */
	json_t			*cs_ids;	/* lowercase id -> index */
	int64_t			 cs_loaded_ms;	/* wall clock */
	char			 cs_source[600];
	atomic_int		 cs_refs;
};

/* The current snapshot, with a reference (never NULL after a successful
 * catalog_init()).  Never blocks for longer than a pointer copy. */
struct catalog_snap *catalog_acquire(void);
void	 catalog_release(struct catalog_snap *s);
/*
 * Reads the sources again and swaps the new snapshot in; the old one is
 * freed when its last reader lets go.  0 with *added / *updated (models
 * new, models whose figures changed), or -1 with err (the old snapshot
 * stays).
 */
int	 catalog_reload(int *added, int *updated, char *err, size_t errlen);

/* The provider named name: its id, a name alias ("google", "kimi",
 * "copilot", ...) or the id with '-' and '_' swapped.  NULL if none. */
const struct catalog_provider *catalog_provider_find(
	    const struct catalog_snap *s, const char *name);
/* Exact id (case-insensitive) under provider (NULL: any, preferring the
 * provider the name suggests), then under "<provider>/<id>". NULL if
 * none. */
const struct catalog_model *catalog_model_find(const struct catalog_snap *s,
	    const char *provider, const char *id);
/* find_model (notes 6.4): exact id, display name, then alias.  NULL. */
const struct catalog_model *catalog_model_lookup(
	    const struct catalog_snap *s, const char *name);
/* The model an alias names (case-insensitive), or NULL (borrowed). */
const char *catalog_alias_target(const struct catalog_snap *s,
	    const char *alias);
/* The provider a model name suggests by its prefix (notes 6.4: "claude"
 * -> "anthropic", ...), or NULL.  Static text. */
const char *catalog_infer_provider(const char *model);
/* The default model of a provider: the alias named like the provider,
 * else its first text model.  NULL if it has none. */
const struct catalog_model *catalog_default_model(
	    const struct catalog_snap *s, const struct catalog_provider *p);
/* The wire style a provider speaks (notes 6.2). */
enum llm_style catalog_style(const char *provider);
/* The LLM engine's view of a resolved target: t's strings are borrowed
 * from ct; t_timeout_ms is 0. */
void	 catalog_llm_target(const struct catalog_target *ct,
	    struct llm_target *t);
/* 1 if the provider's key is set in the environment: its catalog variable
 * or the one [provider_api_keys] names.  Writes the variable's name. */
int	 catalog_env_key(const struct catalog_provider *p, const char *id,
	    char *env, size_t envlen);
/* The configuration catalog_init() was given (borrowed). */
const struct sh_config *catalog_config(void);

#endif /* CATALOG_H */
