/*
 * catalog.h - the model catalog and provider registry (notes/agent-core.md
 * 6.2, 6.4 and 7).
 *
 * The catalog is the reference registry's data (services/agent-runtime/
 * catalog/, MIT, its LICENSE kept beside it): one TOML file per provider
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

#include <stddef.h>

#include <jansson.h>

#include "llm.h"

struct db;
struct sh_config;

#define CATALOG_DEFAULT_CONTEXT	8192	/* unknown model (notes 4.1.7) */
#define CATALOG_DEFAULT_IN_PER_M	1.0	/* unknown pricing (4.11) */
#define CATALOG_DEFAULT_OUT_PER_M	3.0

/* A resolved model.  Fixed buffers so it can live on a turn. */
struct catalog_target {
	char		 ct_provider[64];
	char		 ct_model[256];		/* wire id, prefix stripped */
	char		 ct_base_url[512];
	char		 ct_key_env[128];	/* "OPENAI_API_KEY" */
	char		 ct_api_key[512];	/* "" when none is set */
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
 * problem ("unknown provider 'x'").  A missing key is not an error here:
 * ct_api_key is "" and ct_key_required says whether that matters.
 */
int	 catalog_resolve(struct db *db, const char *provider,
	    const char *model, const char *base_url, const char *key_env,
	    struct catalog_target *t, char *err, size_t errlen);

/* The operation table for models.*, providers.* and catalog.* (ends with
 * a NULL name). */

extern const struct svc_op catalog_ops[];

#endif /* CATALOG_H */
