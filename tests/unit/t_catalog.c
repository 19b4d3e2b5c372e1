/*
 * t_catalog.c - the model catalog: the whole shipped catalog parses (from
 * the compiled-in copy and from the directory), lookups, alias and prefix
 * resolution, provider inference, styles, keys from the environment, the
 * config's [provider_urls] and [provider_api_keys], and reloads.
 *
 * No database: catalog_resolve() is given a NULL one.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "tap.h"

#define SHIPPED_PROVIDERS	57
#define SHIPPED_MODELS		267

static struct sh_config	cfg;

static int
resolve(const char *prov, const char *model, struct catalog_target *t)
{
	char	err[512];
	int	r;

	r = catalog_resolve(NULL, 0, prov, model, NULL, NULL, t, err,
	    sizeof(err));
	if (r != 0)
		printf("# resolve(%s, %s): %s\n", prov ? prov : "(null)",
		    model ? model : "(null)", err);
	return (r);
}

static int
t_builtin_counts(void)
{
	struct catalog_snap	*s;
	size_t			 i, n = 0;

	T_OK(catalog_init(&cfg, NULL) == 0);
	T_OK((s = catalog_acquire()) != NULL);
	T_EQ_INT(s->cs_nproviders, SHIPPED_PROVIDERS);
	T_EQ_INT(s->cs_nmodels, SHIPPED_MODELS);
	for (i = 0; i < s->cs_nproviders; i++)
		n += s->cs_providers[i].cp_nmodels;
	T_EQ_INT(n, SHIPPED_MODELS);
	/* 138 model-level and 10 global aliases, first one wins. */
	T_OK(json_object_size(s->cs_aliases) >= 130);
	T_EQ_STR(s->cs_source, "built-in");
	catalog_release(s);
	return (0);
}

static int
t_dir_counts(void)
{
	struct catalog_snap	*s;

	T_OK(catalog_init(&cfg, "services/agent-runtime/catalog/registry") == 0);
	T_OK((s = catalog_acquire()) != NULL);
	T_EQ_INT(s->cs_nproviders, SHIPPED_PROVIDERS);
	T_EQ_INT(s->cs_nmodels, SHIPPED_MODELS);
	T_EQ_STR(s->cs_source, "services/agent-runtime/catalog/registry");
	catalog_release(s);
	T_OK(catalog_init(&cfg, "/nonexistent/catalog") != 0);
	T_OK(catalog_init(&cfg, NULL) == 0);
	return (0);
}

static int
t_every_provider(void)
{
	struct catalog_snap		*s = catalog_acquire();
	const struct catalog_provider	*p;
	const struct catalog_model	*m;
	size_t				 i, j;
	int				 bad = 0, empty = 0;

	T_OK(s != NULL);
	for (i = 0; i < s->cs_nproviders; i++) {
		p = &s->cs_providers[i];
		if (p->cp_nmodels == 0)
			empty++;
		if (*p->cp_display == '\0' ||
		    catalog_provider_find(s, p->cp_id) != p) {
			printf("# provider %s\n", p->cp_id);
			bad++;
		}
		for (j = 0; j < p->cp_nmodels; j++) {
			m = &s->cs_models[p->cp_first + j];
			if (strcmp(m->cm_provider, p->cp_id) != 0 ||
			    (strcmp(m->cm_modality, "text") == 0 &&
			    (m->cm_context <= 0 || m->cm_max_output <= 0)))
				bad++;
		}
	}
	catalog_release(s);
	T_EQ_INT(bad, 0);
	/* elevenlabs, siliconflow and volcengine_coding list no model. */
	T_EQ_INT(empty, 3);
	return (0);
}

static int
t_lookups(void)
{
	struct catalog_snap		*s = catalog_acquire();
	const struct catalog_model	*m;

	T_OK(s != NULL);
	T_OK((m = catalog_model_find(s, NULL, "gpt-5")) != NULL);
	T_EQ_STR(m->cm_provider, "openai");
	T_OK((m = catalog_model_find(s, "codex", "gpt-4.1")) != NULL);
	T_EQ_STR(m->cm_id, "codex/gpt-4.1");
	T_OK((m = catalog_model_find(s, "groq",
	    "llama-3.3-70b-versatile")) != NULL);
	T_EQ_STR(m->cm_provider, "groq");
	T_OK(catalog_model_find(s, "openai", "llama-3.3-70b-versatile") ==
	    NULL);
	/* Case-insensitive ids; display names and aliases in lookup. */
	T_OK((m = catalog_model_find(s, NULL, "GPT-5")) != NULL);
	T_OK((m = catalog_model_lookup(s, "GPT-5 Mini")) != NULL);
	T_EQ_STR(m->cm_id, "gpt-5-mini");
	T_OK((m = catalog_model_lookup(s, "gpt5-mini")) != NULL);
	T_EQ_STR(m->cm_id, "gpt-5-mini");
	T_EQ_STR(catalog_alias_target(s, "COPILOT"), "copilot/gpt-4o");
	T_OK(catalog_alias_target(s, "no-such-alias") == NULL);
	/* Provider names: ids, name aliases, '-' for '_'. */
	T_EQ_STR(catalog_provider_find(s, "google")->cp_id, "gemini");
	T_EQ_STR(catalog_provider_find(s, "kimi")->cp_id, "moonshot");
	T_EQ_STR(catalog_provider_find(s, "copilot")->cp_id,
	    "github-copilot");
	T_EQ_STR(catalog_provider_find(s, "kimi-coding")->cp_id,
	    "kimi_coding");
	T_OK(catalog_provider_find(s, "nope") == NULL);
	T_OK(catalog_provider_find(s, "") == NULL);
	T_EQ_STR(catalog_default_model(s, catalog_provider_find(s,
	    "ollama"))->cm_provider, "ollama");
	catalog_release(s);
	return (0);
}

static int
t_inference(void)
{
	T_EQ_STR(catalog_infer_provider("claude-sonnet-4-6"), "anthropic");
	T_EQ_STR(catalog_infer_provider("gpt-4o"), "openai");
	T_EQ_STR(catalog_infer_provider("o3-mini"), "openai");
	T_EQ_STR(catalog_infer_provider("gemini-2.5-flash"), "gemini");
	T_EQ_STR(catalog_infer_provider("grok-4"), "xai");
	T_EQ_STR(catalog_infer_provider("codestral-latest"), "mistral");
	T_EQ_STR(catalog_infer_provider("sonar-pro"), "perplexity");
	T_EQ_STR(catalog_infer_provider("kimi-k2"), "moonshot");
	T_OK(catalog_infer_provider("llama-3.3-70b") == NULL);
	T_OK(catalog_infer_provider("qwen3") == NULL);
	T_OK(catalog_infer_provider("mixtral-8x7b") == NULL);
	T_EQ_INT(catalog_style("anthropic"), LLM_ANTHROPIC);
	T_EQ_INT(catalog_style("gemini"), LLM_GEMINI);
	T_EQ_INT(catalog_style("groq"), LLM_OPENAI);
	T_EQ_INT(catalog_style("ollama"), LLM_OPENAI);
	return (0);
}

static int
t_resolve(void)
{
	struct catalog_target	t;
	char			 err[256];

	/* Inferred provider, catalog figures. */
	T_OK(resolve("", "claude-sonnet-4-6", &t) == 0);
	T_EQ_STR(t.ct_provider, "anthropic");
	T_EQ_INT(t.ct_style, LLM_ANTHROPIC);
	T_EQ_STR(t.ct_base_url, "https://api.anthropic.com");
	T_EQ_STR(t.ct_key_env, "ANTHROPIC_API_KEY");
	T_OK(t.ct_known && t.ct_context_window == 200000);
	/* An alias. */
	T_OK(resolve(NULL, "gpt5-mini", &t) == 0);
	T_EQ_STR(t.ct_provider, "openai");
	T_EQ_STR(t.ct_model, "gpt-5-mini");
	/* Prefix stripping: "provider/x" and "provider:x". */
	T_OK(resolve("", "openai/gpt-5", &t) == 0);
	T_EQ_STR(t.ct_provider, "openai");
	T_EQ_STR(t.ct_model, "gpt-5");
	T_OK(t.ct_known && t.ct_context_window == 400000);
	T_OK(resolve("openai", "codex/gpt-4.1", &t) == 0);
	T_EQ_STR(t.ct_model, "gpt-4.1");
	T_OK(t.ct_known);
	T_OK(resolve("", "groq:llama-3.3-70b-versatile", &t) == 0);
	T_EQ_STR(t.ct_provider, "groq");
	T_EQ_STR(t.ct_model, "llama-3.3-70b-versatile");
	T_OK(t.ct_known);
	/* A catalog id carrying its provider's prefix. */
	T_OK(resolve("openrouter", "openrouter/google/gemini-2.5-flash",
	    &t) == 0);
	T_EQ_STR(t.ct_model, "google/gemini-2.5-flash");
	T_OK(t.ct_known && t.ct_context_window == 1048576);
	T_OK(resolve("openrouter", "google/gemini-2.5-flash", &t) == 0);
	T_EQ_STR(t.ct_model, "google/gemini-2.5-flash");
	T_OK(t.ct_known);
	T_OK(resolve("github-copilot", "copilot/gpt-4o", &t) == 0);
	T_EQ_STR(t.ct_model, "gpt-4o");
	T_OK(resolve("", "copilot", &t) == 0);
	T_EQ_STR(t.ct_provider, "github-copilot");
	T_EQ_STR(t.ct_model, "gpt-4o");
	/* The prefix of another provider stays in a named provider's id. */
	T_OK(resolve("openrouter", "meta-llama/llama-3-70b", &t) == 0);
	T_EQ_STR(t.ct_provider, "openrouter");
	T_EQ_STR(t.ct_model, "meta-llama/llama-3-70b");
	/* An unknown model: defaults. */
	T_OK(resolve("openai", "ft:my-model", &t) == 0);
	T_OK(!t.ct_known);
	T_EQ_INT(t.ct_context_window, CATALOG_DEFAULT_CONTEXT);
	T_OK(t.ct_in_per_m == CATALOG_DEFAULT_IN_PER_M);
	/* Ollama speaks OpenAI at base + /v1, no key needed. */
	T_OK(resolve("ollama", "llama4", &t) == 0);
	T_EQ_INT(t.ct_style, LLM_OPENAI);
	T_EQ_STR(t.ct_base_url, "http://127.0.0.1:11434/v1");
	T_EQ_INT(t.ct_key_required, 0);
	/* Gemini, and the provider's default model. */
	T_OK(resolve("google", "", &t) == 0);
	T_EQ_STR(t.ct_provider, "gemini");
	T_EQ_INT(t.ct_style, LLM_GEMINI);
	T_OK(t.ct_model[0] != '\0');
	/* Errors. */
	T_EQ_INT(catalog_resolve(NULL, 0, "", "llama-3-unknown", NULL, NULL, &t,
	    err, sizeof(err)), SH_ENOTFOUND);
	T_OK(strstr(err, "llama-3-unknown") != NULL);
	T_EQ_INT(catalog_resolve(NULL, 0, "nosuch", "x", NULL, NULL, &t, err,
	    sizeof(err)), SH_ENOTFOUND);
	T_OK(strstr(err, "unknown provider 'nosuch'") != NULL);
	T_EQ_INT(catalog_resolve(NULL, 0, "claude-code", "x", NULL, NULL, &t,
	    err, sizeof(err)), SH_ENOTFOUND);
	return (0);
}

static int
t_keys_and_urls(void)
{
	struct catalog_target	t;
	char			 err[256];

	unsetenv("OPENAI_API_KEY");
	unsetenv("GROQ_API_KEY");
	/* "auto" with no key anywhere says so ... */
	T_EQ_INT(catalog_resolve(NULL, 0, "default", "default", NULL, NULL, &t,
	    err, sizeof(err)), CATALOG_ENOPROVIDER);
	T_OK(strstr(err, "OPENAI_API_KEY") != NULL);
	/* ... and finds the provider whose variable is set. */
	setenv("GROQ_API_KEY", "gsk-unit", 1);
	T_OK(resolve("default", "default", &t) == 0);
	T_EQ_STR(t.ct_provider, "groq");
	T_EQ_STR(t.ct_api_key, "gsk-unit");
	T_OK(t.ct_model[0] != '\0');
	/* The manifest's own variable and URL come first. */
	setenv("MY_API_KEY", "mine", 1);
	T_OK(catalog_resolve(NULL, 0, "groq", "llama-3.3-70b-versatile",
	    "http://127.0.0.1:9/v1", "MY_API_KEY", &t, err,
	    sizeof(err)) == 0);
	T_EQ_STR(t.ct_api_key, "mine");
	T_EQ_STR(t.ct_key_env, "MY_API_KEY");
	T_EQ_STR(t.ct_base_url, "http://127.0.0.1:9/v1");
	/* [provider_urls] and [provider_api_keys]; a provider only the
	 * config knows speaks OpenAI. */
	json_object_set_new(cfg.cf_doc, "provider_urls", json_pack(
	    "{s:s, s:s}", "groq", "http://127.0.0.1:8/v1", "mylocal",
	    "http://127.0.0.1:7/v1/"));
	json_object_set_new(cfg.cf_doc, "provider_api_keys", json_pack(
	    "{s:s}", "groq", "MY_API_KEY"));
	T_OK(resolve("groq", "llama-3.3-70b-versatile", &t) == 0);
	T_EQ_STR(t.ct_base_url, "http://127.0.0.1:8/v1");
	T_EQ_STR(t.ct_api_key, "mine");
	T_OK(resolve("mylocal", "some-model", &t) == 0);
	T_EQ_STR(t.ct_base_url, "http://127.0.0.1:7/v1");
	T_EQ_INT(t.ct_style, LLM_OPENAI);
	T_EQ_STR(t.ct_key_env, "MYLOCAL_API_KEY");
	T_OK(resolve("", "mylocal/some-model", &t) == 0);
	T_EQ_STR(t.ct_provider, "mylocal");
	T_EQ_STR(t.ct_model, "some-model");
	json_object_del(cfg.cf_doc, "provider_urls");
	json_object_del(cfg.cf_doc, "provider_api_keys");
	unsetenv("GROQ_API_KEY");
	unsetenv("MY_API_KEY");
	return (0);
}

static int
t_reload(void)
{
	struct catalog_snap	*old, *now;
	int			 added, updated;
	char			 err[256];

	T_OK((old = catalog_acquire()) != NULL);
	T_OK(catalog_reload(&added, &updated, err, sizeof(err)) == 0);
	T_EQ_INT(added, 0);
	T_EQ_INT(updated, 0);
	T_OK((now = catalog_acquire()) != NULL);
	T_OK(now != old);
	/* The old snapshot is still whole for its holder. */
	T_EQ_INT(old->cs_nmodels, SHIPPED_MODELS);
	T_OK(catalog_model_find(old, NULL, "gpt-5") != NULL);
	catalog_release(old);
	catalog_release(now);
	return (0);
}

static int
t_key_rules(void)
{
	struct catalog_target	t;
	char			 err[256], big[CATALOG_KEY_MAX + 2];

	T_OK(!catalog_key_ok(NULL));
	T_OK(!catalog_key_ok(""));
	T_OK(!catalog_key_ok("abc"));
	T_OK(catalog_key_ok("abcd"));
	T_OK(!catalog_key_ok("ab cd"));
	T_OK(!catalog_key_ok("ab\"cd"));
	T_OK(!catalog_key_ok("ab\\cd"));
	T_OK(!catalog_key_ok("abcd\n"));
	T_OK(!catalog_key_ok("ab\xc3\xa9" "cd"));
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_OK(!catalog_key_ok(big));
	big[CATALOG_KEY_MAX] = '\0';
	T_OK(catalog_key_ok(big));
	/* A value too short to be a key is no key: auto finds nothing. */
	unsetenv("OPENAI_API_KEY");
	setenv("GROQ_API_KEY", "abc", 1);
	T_EQ_INT(catalog_resolve(NULL, 0, "default", "default", NULL, NULL, &t,
	    err, sizeof(err)), CATALOG_ENOPROVIDER);
	T_OK(resolve("groq", "llama-3.3-70b-versatile", &t) == 0);
	T_EQ_STR(t.ct_api_key, "");
	setenv("GROQ_API_KEY", "gsk-unit", 1);
	T_OK(resolve("groq", "llama-3.3-70b-versatile", &t) == 0);
	T_EQ_STR(t.ct_api_key, "gsk-unit");
	unsetenv("GROQ_API_KEY");
	return (0);
}

static int
t_provider_check(void)
{
	char	err[512];

	T_EQ_INT(catalog_provider_check(NULL, "default", NULL, err,
	    sizeof(err)), 0);
	T_EQ_INT(catalog_provider_check(NULL, "auto", NULL, err,
	    sizeof(err)), 0);
	T_EQ_INT(catalog_provider_check(NULL, "groq", NULL, err,
	    sizeof(err)), 0);
	T_EQ_INT(catalog_provider_check(NULL, "google", NULL, err,
	    sizeof(err)), 0);	/* a name of gemini */
	T_EQ_INT(catalog_provider_check(NULL, "nosuch", NULL, err,
	    sizeof(err)), SH_ENOTFOUND);
	T_OK(strstr(err, "unknown provider 'nosuch'") != NULL);
	T_EQ_INT(catalog_provider_check(NULL, "nosuch", "http://h/v1", err,
	    sizeof(err)), 0);
	T_EQ_INT(catalog_provider_check(NULL, "claude-code", NULL, err,
	    sizeof(err)), SH_ENOTFOUND);
	T_OK(strstr(err, "local CLI") != NULL);
	json_object_set_new(cfg.cf_doc, "provider_urls", json_pack("{s:s}",
	    "mylocal", "http://127.0.0.1:7/v1"));
	T_EQ_INT(catalog_provider_check(NULL, "mylocal", NULL, err,
	    sizeof(err)), 0);
	json_object_del(cfg.cf_doc, "provider_urls");
	T_EQ_INT(catalog_provider_check(NULL, "mylocal", NULL, err,
	    sizeof(err)), SH_ENOTFOUND);
	return (0);
}

/* 1 if an agent may name variable name (catalog_key_env_check()). */
static int
key_env_ok(const char *name)
{
	char	err[512];

	return (catalog_key_env_check("api_key_env", name, err,
	    sizeof(err)) == 0);
}

static int
t_key_env(void)
{
	static const char *const	 refused[] = {
		"LIBREFANG_DATABASE_URL", "LIBREFANG_API_KEY",
		"LIBREFANG_VAULT_KEY", "HOME", "PATH", "DATABASE_URL",
		"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "FAKE_KEY",
		"CORP_LLM_SECRET", "my_api_key", "1ABC_API_KEY", "_API_KEY",
		"A B_API_KEY", "A-B_API_KEY", "API_KEY", "", NULL
	};
	static const char *const	 allowed[] = {
		"OPENAI_API_KEY", "GITHUB_TOKEN", "REPLICATE_API_TOKEN",
		"AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS",
		"GOOGLE_API_KEY", "MY_LLM_API_KEY", "A_API_KEY",
		"LLM2_API_KEY", NULL
	};
	const char *const		*n;
	struct catalog_target		 t;
	char				 err[512];
	char				 big[CATALOG_KEY_ENV_MAX + 2];

	for (n = refused; *n != NULL; n++)
		if (key_env_ok(*n)) {
			printf("# '%s' allowed\n", *n);
			return (-1);
		}
	for (n = allowed; *n != NULL; n++)
		if (!key_env_ok(*n)) {
			printf("# '%s' refused\n", *n);
			return (-1);
		}
	T_OK(!key_env_ok(NULL));
	/* <NAME>_API_KEY up to the bound, and no further. */
	memset(big, 'K', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 1 - 8, "_API_KEY", 8);
	T_OK(!key_env_ok(big));
	T_OK(key_env_ok(big + 1));
	/* The error names the field and the variable, nothing else. */
	T_EQ_INT(catalog_key_env_check("fallback_models[2].api_key_env",
	    "HOME", err, sizeof(err)), SH_EINVAL);
	T_OK(strstr(err, "'fallback_models[2].api_key_env' may not name "
	    "'HOME'") != NULL);
	T_EQ_INT(catalog_key_env_check("api_key_env", "A B", err,
	    sizeof(err)), SH_EINVAL);
	T_OK(strstr(err, "must be an environment variable name") != NULL);
	/* A variable the configuration names as a key is one. */
	snprintf(cfg.default_key_env, sizeof(cfg.default_key_env),
	    "CORP_LLM_SECRET");
	T_OK(key_env_ok("CORP_LLM_SECRET"));
	cfg.default_key_env[0] = '\0';
	T_OK(!key_env_ok("CORP_LLM_SECRET"));
	json_object_set_new(cfg.cf_doc, "provider_api_keys", json_pack(
	    "{s:s}", "groq", "CORP_LLM_SECRET"));
	T_OK(key_env_ok("CORP_LLM_SECRET"));
	/* ... but never a LIBREFANG_ one. */
	json_object_set_new(cfg.cf_doc, "provider_api_keys", json_pack(
	    "{s:s}", "groq", "LIBREFANG_DATABASE_URL"));
	T_OK(!key_env_ok("LIBREFANG_DATABASE_URL"));
	json_object_del(cfg.cf_doc, "provider_api_keys");
	T_OK(!key_env_ok("CORP_LLM_SECRET"));
	/* Resolve refuses one too, before it reads the variable. */
	setenv("LIBREFANG_DATABASE_URL", "postgres://u:s3cr3t-pw@db/x", 1);
	memset(&t, 0, sizeof(t));
	T_EQ_INT(catalog_resolve(NULL, 0, "my-own", "m", "http://127.0.0.1:9/v1",
	    "LIBREFANG_DATABASE_URL", &t, err, sizeof(err)), CATALOG_EKEYENV);
	T_EQ_STR(t.ct_api_key, "");
	T_OK(strstr(err, "LIBREFANG_DATABASE_URL") != NULL);
	T_OK(strstr(err, "s3cr3t") == NULL);
	unsetenv("LIBREFANG_DATABASE_URL");
	return (0);
}

/* The provider catalog_model_provider() finds for model ("" for none). */
static const char *
model_provider(const char *model)
{
	static char	out[CATALOG_PROVIDER_MAX + 1];
	int		r;

	r = catalog_model_provider(NULL, model, out, sizeof(out));
	if (r != 0 && r != SH_ENOTFOUND)
		return ("(error)");
	return (r == 0 ? out : "");
}

static int
t_model_provider(void)
{
	/* The catalog entry: id, alias. */
	T_EQ_STR(model_provider("gpt-4o"), "openai");
	T_EQ_STR(model_provider("llama-3.3-70b-versatile"), "groq");
	T_EQ_STR(model_provider("LLAMA-3.3-70B-VERSATILE"), "groq");
	T_EQ_STR(model_provider("sonnet"), "anthropic");
	/* An explicit provider prefix, by id or name. */
	T_EQ_STR(model_provider("openrouter/nosuch/model"), "openrouter");
	T_EQ_STR(model_provider("copilot/nosuch"), "github-copilot");
	T_EQ_STR(model_provider("groq:nosuch"), "groq");
	/* The name prefix. */
	T_EQ_STR(model_provider("claude-unreleased-9"), "anthropic");
	T_EQ_STR(model_provider("gemini-9-ultra"), "gemini");
	/* Nothing tells: ambiguous or unknown names. */
	T_EQ_STR(model_provider("llama-unknown"), "");
	T_EQ_STR(model_provider("my-finetune"), "");
	T_EQ_STR(model_provider("nosuch/model"), "");
	T_EQ_STR(model_provider(""), "");
	/* A prefix only [provider_urls] configures. */
	json_object_set_new(cfg.cf_doc, "provider_urls", json_pack("{s:s}",
	    "mylocal", "http://127.0.0.1:7/v1"));
	T_EQ_STR(model_provider("mylocal/some-model"), "mylocal");
	json_object_del(cfg.cf_doc, "provider_urls");
	return (0);
}

static const struct tap_case cases[] = {
	{ "the built-in catalog: 57 providers, 267 models", t_builtin_counts },
	{ "the same from the directory; a missing one fails", t_dir_counts },
	{ "every provider file loads with its models", t_every_provider },
	{ "lookups: ids, display names, aliases, provider names", t_lookups },
	{ "provider inference and styles", t_inference },
	{ "resolve: aliases, prefixes, defaults, errors", t_resolve },
	{ "resolve: keys, auto-detection, URLs", t_keys_and_urls },
	{ "keys: 4 to 511 printable characters, else none", t_key_rules },
	{ "providers an agent may name", t_provider_check },
	{ "key variables an agent may name", t_key_env },
	{ "the provider a model name implies", t_model_provider },
	{ "reload swaps snapshots, old readers keep theirs", t_reload },
	{ NULL, NULL }
};

int
main(void)
{
	int	ret;

	log_init("t_catalog", LOG_LVL_WARN, 0);
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.default_provider, sizeof(cfg.default_provider), "auto");
	cfg.cf_doc = json_object();
	ret = tap_main(cases);
	catalog_fini();
	json_decref(cfg.cf_doc);
	return (ret);
}
