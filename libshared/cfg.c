/*
 * cfg.c - the configuration table and its loader.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "log.h"
#include "toml.h"
#include "util.h"

#define CFG_FILE_MAX	(1024 * 1024)

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

struct cfg_opt {
	const char	*co_key;	/* dotted TOML path */
	enum cfg_type	 co_type;
	size_t		 co_off;	/* offset in struct sh_config */
	size_t		 co_size;	/* for CFG_STR */
	const char	*co_def;
	long long	 co_min, co_max;
	const char	*co_env;	/* environment override or NULL */
	int		 co_secret;
	/* What a change of it takes once the processes run (kernel.md
	 * 8.4): the hot action that applies it (CFG_R_HOT), nothing
	 * (CFG_R_NOOP: read when used), or a restart (CFG_R_RESTART:
	 * read at start).  The one column /api/config/reload plans with. */
	int		 co_reload;
	const char	*co_action;	/* CFG_R_HOT: its action's name */
	int		 co_ro;		/* 1: /api/config/set refuses it */
	const char	*co_desc;
};

/* Held to write the hot keys of a running process's config; readers of
 * its strings copy them under it (cfg_default_model()). */
static pthread_rwlock_t	cfg_lock = PTHREAD_RWLOCK_INITIALIZER;

#define CFG_R_RESTART	0
#define CFG_R_HOT	1
#define CFG_R_NOOP	2

/* rl is RST, NOOP or HOT(action): two initialisers. */
#define S(k, f, d, env, sec, rl, ro, desc)	{ k, CFG_STR, \
	offsetof(struct sh_config, f), sizeof(((struct sh_config *)0)->f), \
	d, 0, 0, env, sec, rl, ro, desc }
#define I(k, f, d, lo, hi, env, rl, desc)	{ k, CFG_INT, \
	offsetof(struct sh_config, f), 0, d, lo, hi, env, 0, rl, 0, desc }
#define B(k, f, d, env, rl, desc)	{ k, CFG_BOOL, \
	offsetof(struct sh_config, f), 0, d, 0, 1, env, 0, rl, 0, desc }

#define RST	CFG_R_RESTART, NULL
#define NOOP	CFG_R_NOOP, NULL
#define HOT(a)	CFG_R_HOT, a

/*
 * Every key a LibreFang process reads.  home_dir is resolved before the
 * file is read (it says where the file is), so its row only documents it.
 * Secrets (co_secret) are redacted wherever the config is shown and are
 * never written by /api/config/set.
 */
static const struct cfg_opt cfg_opts[] = {
	S("home_dir", home_dir, "", "LIBREFANG_HOME", 0, RST, 1,
	    "Home directory (config.toml, data, run); from LIBREFANG_HOME"),
	S("data_dir", data_dir, "", NULL, 0, RST, 0,
	    "Data directory (default <home>/data)"),
	S("api_listen", api_listen, "127.0.0.1:4545", "LIBREFANG_API_LISTEN",
	    0, RST, 0, "Address the API gateway listens on"),
	S("api_key", api_key, "", "LIBREFANG_API_KEY", 1, RST, 1,
	    "Bearer token the API requires (secret)"),
	S("database_url", database_url, "", "LIBREFANG_DATABASE_URL", 1, RST,
	    1, "PostgreSQL URL (secret; empty: the private cluster)"),
	/* The key sealing secrets at rest (the TOTP secret); empty: the
	 * file $LIBREFANG_HOME/vault.key, made on first use. */
	S("vault_key", vault_key, "", "LIBREFANG_VAULT_KEY", 1, RST, 1,
	    "Key sealing secrets at rest (secret; empty: <home>/vault.key)"),
	S("bus_url", bus_url, "", "LIBREFANG_BUS_URL", 0, RST, 0,
	    "Message bus URL(s) (default ipc://<home>/run/bus)"),
	S("log_level", log_level, "info", "LIBREFANG_LOG_LEVEL", 0,
	    HOT("ReloadLogLevel"), 0, "error, warn, info or debug"),
	B("log_json", log_json, "false", "LIBREFANG_LOG_JSON", RST,
	    "Log lines as JSON"),
	B("strict_config", strict_config, "false", NULL, NOOP,
	    "Refuse unknown keys when the file is loaded"),
	S("default_model.provider", default_provider, "auto", NULL, 0,
	    HOT("UpdateDefaultModel"), 0, "Provider of agents without one"),
	S("default_model.model", default_model, "", NULL, 0,
	    HOT("UpdateDefaultModel"), 0, "Model of agents without one"),
	S("default_model.base_url", default_base_url, "", NULL, 0,
	    HOT("UpdateDefaultModel"), 0, "Base URL of the default provider"),
	S("default_model.api_key_env", default_key_env, "", NULL, 0,
	    HOT("UpdateDefaultModel"), 0,
	    "Environment variable holding the default provider's key"),
	I("max_request_body_bytes", max_request_body_bytes, "8388608",
	    1024, 1073741824LL, NULL, RST, "Largest request body accepted"),
	/* Behind compose's port publishing or a proxy every client can share
	 * one address, so the per-IP limits must be settable there too, where
	 * the environment is the whole configuration. */
	I("rate_limit.api_requests_per_minute", rl_requests_per_minute, "500",
	    0, 100000000LL, "LIBREFANG_RATE_LIMIT_PER_MINUTE",
	    HOT("UpdateRateLimit"), "Cost units per minute per client IP; "
	    "0 turns the limit off"),
	I("rate_limit.retry_after_secs", rl_retry_after_secs, "60", 1, 86400,
	    NULL, HOT("UpdateRateLimit"), "Retry-After of a 429"),
	B("rate_limit.exempt_loopback", rl_exempt_loopback, "true", NULL,
	    HOT("UpdateRateLimit"), "Loopback clients are not limited"),
	I("rate_limit.auth_rate_limit_per_ip", rl_auth_per_ip, "10", 0,
	    1000000, NULL, HOT("UpdateRateLimit"), "Login attempts per client "
	    "IP in 15 minutes (failed dashboard logins; 0 turns it off)"),
	I("bus.request_timeout_ms", bus_timeout_ms, "5000", 10, 3600000, NULL,
	    RST, "How long a bus request waits for its reply"),
	I("bus.workers", bus_workers, "4", 1, 256, NULL, RST,
	    "Workers per service replica"),
	I("bus.turn_timeout_secs", turn_timeout_secs, "600", 1, 86400, NULL,
	    RST, "Longest agent turn"),
	I("api.threads", http_threads, "2", 1, 64, NULL, RST,
	    "HTTP worker threads"),
	I("api.connection_timeout_secs", http_conn_timeout_secs, "10", 1, 3600,
	    NULL, RST, "Idle HTTP connection timeout"),
	I("api.max_connections", http_max_connections, "1024", 1, 65536,
	    NULL, RST, "Concurrent HTTP connections"),
	I("api.header_memory_bytes", http_header_memory, "32768", 8192,
	    16777216, NULL, RST, "Memory for one request's headers"),
	I("api.max_connections_per_ip", http_max_conn_per_ip, "0", 0, 65536,
	    "LIBREFANG_API_MAX_CONNECTIONS_PER_IP", RST,
	    "Concurrent connections per client IP (0: max_connections/4)"),
	I("api.idempotency_key_ttl_secs", idem_ttl_secs, "86400", 1,
	    30 * 86400, NULL, RST, "How long an Idempotency-Key is kept"),
	B("allow_no_auth", allow_no_auth, "false", "LIBREFANG_ALLOW_NO_AUTH",
	    RST, "Serve a non-loopback address without an API key"),
	/* The inbound webhooks' bearer token (the hooks routes): from
	 * the environment only, as upstream keeps it out of the file. */
	S("webhook_triggers.token", webhook_token, "",
	    "LIBREFANG_WEBHOOK_TOKEN", 1, RST, 1,
	    "Bearer token of the inbound webhooks (secret; environment only)"),
	/* The dashboard's login (services/api-gateway/gw_dash.c). */
	S("dashboard_user", dash_user, "", "LIBREFANG_DASHBOARD_USER", 0, RST,
	    0, "User name of the dashboard's password login (empty: none)"),
	S("dashboard_pass", dash_pass, "", "LIBREFANG_DASHBOARD_PASS", 1, RST,
	    1, "Password of dashboard_user (secret; prefer the hash)"),
	S("dashboard_pass_hash", dash_pass_hash, "",
	    "LIBREFANG_DASHBOARD_PASS_HASH", 1, RST, 1, "Password hash of "
	    "dashboard_user: pbkdf2_sha256$<iterations>$<salt>$<base64>"),
	I("dashboard_session_ttl_secs", dash_session_ttl_secs, "2592000", 1,
	    366LL * 86400, NULL, NOOP, "How long a dashboard login lasts"),
	{ NULL, 0, 0, 0, NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL }
};

/*
 * The file's sections no row above owns, read by the code that uses them:
 * what a change of each takes.  A section not listed needs a restart.
 */
static const struct {
	const char	*cs_name;
	int		 cs_reload;
	const char	*cs_action;
} cfg_sections[] = {
	{ "sidecar_channels", HOT("ReloadChannels") },
	{ "channels", HOT("ReloadChannels") },
	{ NULL, 0, NULL }
};

/* Tables whose every key this file owns; unknown keys in them warn. */
static const char *const cfg_owned_tables[] = {
	"default_model", "rate_limit", "bus", "api", NULL
};

static const struct cfg_opt *
cfg_find(const char *key)
{
	const struct cfg_opt	*o;

	for (o = cfg_opts; o->co_key != NULL; o++)
		if (strcmp(o->co_key, key) == 0)
			return (o);
	return (NULL);
}

static int
cfg_set_text(struct sh_config *cfg, const struct cfg_opt *o, const char *v,
    const char *origin, char *err, size_t errlen)
{
	char		*p = (char *)cfg + o->co_off;
	long long	 n;

	switch (o->co_type) {
	case CFG_STR:
		if (strlen(v) >= o->co_size) {
			snprintf(err, errlen, "%s: '%s' is too long", origin,
			    o->co_key);
			return (-1);
		}
		memcpy(p, v, strlen(v) + 1);
		return (0);
	case CFG_INT:
		if (util_strtonum(v, o->co_min, o->co_max, &n) != 0) {
			snprintf(err, errlen, "%s: '%s' must be an integer "
			    "from %lld to %lld", origin, o->co_key, o->co_min,
			    o->co_max);
			return (-1);
		}
		*(long long *)(void *)p = n;
		return (0);
	case CFG_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			*(int *)(void *)p = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
		    *v == '\0')
			*(int *)(void *)p = 0;
		else {
			snprintf(err, errlen, "%s: '%s' must be true or false",
			    origin, o->co_key);
			return (-1);
		}
		return (0);
	}
	return (-1);
}

static int
cfg_set_json(struct sh_config *cfg, const struct cfg_opt *o, json_t *v,
    const char *origin, char *err, size_t errlen)
{
	char	num[32];

	switch (o->co_type) {
	case CFG_STR:
		if (!json_is_string(v))
			break;
		return (cfg_set_text(cfg, o, json_string_value(v), origin,
		    err, errlen));
	case CFG_INT:
		if (!json_is_integer(v))
			break;
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		return (cfg_set_text(cfg, o, num, origin, err, errlen));
	case CFG_BOOL:
		if (!json_is_boolean(v))
			break;
		return (cfg_set_text(cfg, o, json_is_true(v) ? "true" :
		    "false", origin, err, errlen));
	}
	snprintf(err, errlen, "%s: '%s' must be a%s", origin, o->co_key,
	    o->co_type == CFG_STR ? " string" : o->co_type == CFG_INT ?
	    "n integer" : " boolean");
	return (-1);
}

static int
cfg_owned_table(const char *name)
{
	int	i;

	for (i = 0; cfg_owned_tables[i] != NULL; i++)
		if (strcmp(cfg_owned_tables[i], name) == 0)
			return (1);
	return (0);
}

/* Applies the parsed file; unknown keys become warnings. */
static int
cfg_apply_doc(struct sh_config *cfg, char *err, size_t errlen)
{
	const struct cfg_opt	*o;
	const char		*k, *k2;
	json_t			*v, *v2;
	char			 path[256];

	json_object_foreach(cfg->cf_doc, k, v) {
		if (json_is_object(v) && cfg_owned_table(k)) {
			json_object_foreach(v, k2, v2) {
				snprintf(path, sizeof(path), "%s.%s", k, k2);
				if ((o = cfg_find(path)) == NULL) {
					json_array_append_new(cfg->cf_warnings,
					    json_sprintf("unknown config key "
					    "'%s'", path));
					continue;
				}
				if (cfg_set_json(cfg, o, v2, cfg->cf_path,
				    err, errlen) != 0)
					return (-1);
			}
			continue;
		}
		if (json_is_object(v) || json_is_array(v))
			continue;	/* sections read by their own code */
		if ((o = cfg_find(k)) == NULL || strcmp(k, "home_dir") == 0) {
			if (o == NULL)
				json_array_append_new(cfg->cf_warnings,
				    json_sprintf("unknown config key '%s'", k));
			continue;
		}
		if (cfg_set_json(cfg, o, v, cfg->cf_path, err, errlen) != 0)
			return (-1);
	}
	return (0);
}

static int
cfg_read_file(struct sh_config *cfg, int must_exist, const char *given,
    size_t glen, char *err, size_t errlen)
{
	struct toml_err	 te;
	char		*text;
	size_t		 len;

	if (given != NULL) {
		json_decref(cfg->cf_doc);
		cfg->cf_doc = toml_parse(given, glen, 0, &te);
		if (cfg->cf_doc == NULL) {
			snprintf(err, errlen, "%s: %s", cfg->cf_path,
			    te.te_msg);
			return (-1);
		}
		return (0);
	}
	if ((text = util_read_file(cfg->cf_path, CFG_FILE_MAX, &len)) ==
	    NULL) {
		if (errno == ENOENT && !must_exist) {
			cfg->cf_path[0] = '\0';
			return (0);
		}
		snprintf(err, errlen, "could not read '%s': %s", cfg->cf_path,
		    strerror(errno));
		return (-1);
	}
	json_decref(cfg->cf_doc);
	cfg->cf_doc = toml_parse(text, len, 0, &te);
	free(text);
	if (cfg->cf_doc == NULL) {
		snprintf(err, errlen, "%s: %s", cfg->cf_path, te.te_msg);
		return (-1);
	}
	return (0);
}

static int
cfg_load_src(struct sh_config *cfg, const char *path, const char *text,
    size_t len, char *err, size_t errlen)
{
	const struct cfg_opt	*o;
	const char		*env, *home;
	char			 origin[64];

	memset(cfg, 0, sizeof(*cfg));
	cfg->cf_warnings = json_array();
	cfg->cf_doc = json_object();
	cfg->cf_old = json_array();
	if (cfg->cf_warnings == NULL || cfg->cf_doc == NULL ||
	    cfg->cf_old == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (o = cfg_opts; o->co_key != NULL; o++)
		if (cfg_set_text(cfg, o, o->co_def, "default", err, errlen))
			return (-1);

	if ((env = getenv("LIBREFANG_HOME")) != NULL && *env != '\0')
		snprintf(cfg->home_dir, sizeof(cfg->home_dir), "%s", env);
	else {
		home = getenv("HOME");
		snprintf(cfg->home_dir, sizeof(cfg->home_dir), "%s/.librefang",
		    home != NULL && *home != '\0' ? home : "/tmp");
	}
	if (path != NULL)
		snprintf(cfg->cf_path, sizeof(cfg->cf_path), "%s", path);
	else
		snprintf(cfg->cf_path, sizeof(cfg->cf_path), "%s/config.toml",
		    cfg->home_dir);
	if (cfg_read_file(cfg, path != NULL, text, len, err, errlen) != 0)
		return (-1);
	if (cfg_apply_doc(cfg, err, errlen) != 0)
		return (-1);

	for (o = cfg_opts; o->co_key != NULL; o++) {
		if (o->co_env == NULL || strcmp(o->co_key, "home_dir") == 0 ||
		    (env = getenv(o->co_env)) == NULL)
			continue;
		snprintf(origin, sizeof(origin), "environment %s", o->co_env);
		if (cfg_set_text(cfg, o, env, origin, err, errlen) != 0)
			return (-1);
	}
	if (cfg->data_dir[0] == '\0')
		snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/data",
		    cfg->home_dir);
	if (cfg->bus_url[0] == '\0')
		snprintf(cfg->bus_url, sizeof(cfg->bus_url), "ipc://%s/run/bus",
		    cfg->home_dir);
	if (log_parse_level(cfg->log_level) < 0) {
		snprintf(err, errlen, "log_level '%s' is not one of error, "
		    "warn, info, debug", cfg->log_level);
		return (-1);
	}
	if (cfg->strict_config && json_array_size(cfg->cf_warnings) > 0) {
		snprintf(err, errlen, "%s: %s (strict_config)", cfg->cf_path,
		    json_string_value(json_array_get(cfg->cf_warnings, 0)));
		return (-1);
	}
	return (0);
}

int
cfg_load(struct sh_config *cfg, const char *path, char *err, size_t errlen)
{
	return (cfg_load_src(cfg, path, NULL, 0, err, errlen));
}

int
cfg_load_text(struct sh_config *cfg, const char *path, const char *text,
    size_t len, char *err, size_t errlen)
{
	return (cfg_load_src(cfg, path, text, len, err, errlen));
}

void
cfg_release(struct sh_config *cfg)
{
	explicit_bzero(cfg->api_key, sizeof(cfg->api_key));
	explicit_bzero(cfg->database_url, sizeof(cfg->database_url));
	json_decref(cfg->cf_warnings);
	json_decref(cfg->cf_doc);
	json_decref(cfg->cf_old);
	cfg->cf_warnings = NULL;
	cfg->cf_doc = NULL;
	cfg->cf_old = NULL;
}

json_t *
cfg_to_json(const struct sh_config *cfg)
{
	const struct cfg_opt	*o;
	const char		*p;
	json_t			*out, *v;

	if ((out = json_object()) == NULL)
		return (NULL);
	pthread_rwlock_rdlock(&cfg_lock);
	for (o = cfg_opts; o->co_key != NULL; o++) {
		p = (const char *)cfg + o->co_off;
		if (o->co_secret)
			v = json_string(*p ? "[REDACTED]" : "");
		else if (o->co_type == CFG_STR)
			v = json_string(p);
		else if (o->co_type == CFG_INT)
			v = json_integer(*(const long long *)(const void *)p);
		else
			v = json_boolean(*(const int *)(const void *)p);
		json_object_set_new(out, o->co_key, v);
	}
	json_object_set_new(out, "config_file", json_string(cfg->cf_path));
	json_object_set(out, "config_warnings", cfg->cf_warnings);
	pthread_rwlock_unlock(&cfg_lock);
	return (out);
}

void
cfg_print(const struct sh_config *cfg)
{
	json_t	*j = cfg_to_json(cfg);

	if (j != NULL) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	}
	json_decref(j);
}

void
cfg_register_secrets(const struct sh_config *cfg)
{
	log_add_secret(cfg->api_key);
	/* A URL's password would be a substring; redact the whole URL. */
	if (strchr(cfg->database_url, '@') != NULL)
		log_add_secret(cfg->database_url);
}

/* ---- live configuration ----------------------------------------------- */


void
cfg_rdlock(void)
{
	pthread_rwlock_rdlock(&cfg_lock);
}

void
cfg_unlock(void)
{
	pthread_rwlock_unlock(&cfg_lock);
}

void
cfg_default_model(const struct sh_config *cfg, struct cfg_model *m)
{
	pthread_rwlock_rdlock(&cfg_lock);
	snprintf(m->cm_provider, sizeof(m->cm_provider), "%s",
	    cfg->default_provider);
	snprintf(m->cm_model, sizeof(m->cm_model), "%s", cfg->default_model);
	snprintf(m->cm_base_url, sizeof(m->cm_base_url), "%s",
	    cfg->default_base_url);
	snprintf(m->cm_key_env, sizeof(m->cm_key_env), "%s",
	    cfg->default_key_env);
	pthread_rwlock_unlock(&cfg_lock);
}

static int
cfg_opt_equal(const struct cfg_opt *o, const struct sh_config *a,
    const struct sh_config *b)
{
	const char	*pa = (const char *)a + o->co_off;
	const char	*pb = (const char *)b + o->co_off;

	switch (o->co_type) {
	case CFG_STR:
		return (strcmp(pa, pb) == 0);
	case CFG_INT:
		return (*(const long long *)(const void *)pa ==
		    *(const long long *)(const void *)pb);
	case CFG_BOOL:
		return (*(const int *)(const void *)pa ==
		    *(const int *)(const void *)pb);
	}
	return (1);
}

static int
cfg_section_kind(const char *name, const char **action)
{
	int	i;

	for (i = 0; cfg_sections[i].cs_name != NULL; i++)
		if (strcmp(cfg_sections[i].cs_name, name) == 0) {
			*action = cfg_sections[i].cs_action;
			return (cfg_sections[i].cs_reload);
		}
	*action = NULL;
	return (CFG_R_RESTART);
}

static void
cfg_add_unique(json_t *a, const char *s)
{
	size_t	i;

	for (i = 0; i < json_array_size(a); i++)
		if (strcmp(json_string_value(json_array_get(a, i)), s) == 0)
			return;
	json_array_append_new(a, json_string(s));
}

/* 1 if key k of the file is a section that no table row owns. */
static int
cfg_free_section(const char *k, json_t *v)
{
	return ((json_is_object(v) && !cfg_owned_table(k)) ||
	    json_is_array(v));
}

json_t *
cfg_plan(const struct sh_config *old, const struct sh_config *nc)
{
	const struct cfg_opt	*o;
	const char		*k, *act;
	json_t			*plan, *reasons, *hot, *noop, *changed, *v, *ov;
	char			 why[256];
	int			 kind;

	plan = json_pack("{s:b, s:[], s:[], s:[], s:[]}", "restart_required",
	    0, "restart_reasons", "hot_actions", "noop_changes", "changed");
	if (plan == NULL)
		return (NULL);
	reasons = json_object_get(plan, "restart_reasons");
	hot = json_object_get(plan, "hot_actions");
	noop = json_object_get(plan, "noop_changes");
	changed = json_object_get(plan, "changed");
	pthread_rwlock_rdlock(&cfg_lock);
	for (o = cfg_opts; o->co_key != NULL; o++) {
		if (cfg_opt_equal(o, old, nc))
			continue;
		json_array_append_new(changed, json_string(o->co_key));
		if (o->co_reload == CFG_R_HOT)
			cfg_add_unique(hot, o->co_action);
		else if (o->co_reload == CFG_R_NOOP)
			json_array_append_new(noop, json_string(o->co_key));
		else {
			snprintf(why, sizeof(why), "%s changed (read at "
			    "start)", o->co_key);
			json_array_append_new(reasons, json_string(why));
		}
	}
	pthread_rwlock_unlock(&cfg_lock);
	/* The sections their own code reads: added, changed or removed. */
	json_object_foreach(nc->cf_doc, k, v) {
		if (!cfg_free_section(k, v))
			continue;
		if ((ov = json_object_get(old->cf_doc, k)) != NULL &&
		    json_equal(ov, v))
			continue;
		json_array_append_new(changed, json_string(k));
		kind = cfg_section_kind(k, &act);
		if (kind == CFG_R_HOT)
			cfg_add_unique(hot, act);
		else {
			snprintf(why, sizeof(why), "[%s] changed (read at "
			    "start)", k);
			json_array_append_new(reasons, json_string(why));
		}
	}
	json_object_foreach(old->cf_doc, k, ov) {
		if (!cfg_free_section(k, ov) ||
		    json_object_get(nc->cf_doc, k) != NULL)
			continue;
		json_array_append_new(changed, json_string(k));
		kind = cfg_section_kind(k, &act);
		if (kind == CFG_R_HOT)
			cfg_add_unique(hot, act);
		else {
			snprintf(why, sizeof(why), "[%s] removed (read at "
			    "start)", k);
			json_array_append_new(reasons, json_string(why));
		}
	}
	json_object_set_new(plan, "restart_required",
	    json_boolean(json_array_size(reasons) > 0));
	return (plan);
}

void
cfg_apply_hot(struct sh_config *live, struct sh_config *nc)
{
	const struct cfg_opt	*o;
	char			*pl;
	const char		*pn;

	pthread_rwlock_wrlock(&cfg_lock);
	for (o = cfg_opts; o->co_key != NULL; o++) {
		if (o->co_reload == CFG_R_RESTART)
			continue;
		pl = (char *)live + o->co_off;
		pn = (const char *)nc + o->co_off;
		if (o->co_type == CFG_STR)
			memcpy(pl, pn, strlen(pn) + 1);
		else if (o->co_type == CFG_INT)
			*(long long *)(void *)pl =
			    *(const long long *)(const void *)pn;
		else
			*(int *)(void *)pl = *(const int *)(const void *)pn;
	}
	/* The old document may still be read: kept until the release. */
	if (json_array_append(live->cf_old, live->cf_doc) == 0) {
		json_decref(live->cf_doc);
		live->cf_doc = json_incref(nc->cf_doc);
	}
	json_decref(live->cf_warnings);
	live->cf_warnings = json_incref(nc->cf_warnings);
	pthread_rwlock_unlock(&cfg_lock);
}

/* ---- the schema, the export, /api/config/set's checks ------------------ */

static const char *
cfg_type_name(enum cfg_type t)
{
	return (t == CFG_STR ? "string" : t == CFG_INT ? "integer" :
	    "boolean");
}

/* The default of o as JSON (new). */
static json_t *
cfg_default_json(const struct cfg_opt *o)
{
	long long	n = 0;

	if (o->co_type == CFG_STR)
		return (json_string(o->co_def));
	if (o->co_type == CFG_INT) {
		(void)util_strtonum(o->co_def, o->co_min, o->co_max, &n);
		return (json_integer(n));
	}
	return (json_boolean(strcmp(o->co_def, "true") == 0));
}

/* "a.b" -> section "a" and field "b"; "a" -> "" and "a". */
static void
cfg_split(const char *key, char *sec, size_t seclen, const char **field)
{
	const char	*dot = strchr(key, '.');

	if (dot == NULL) {
		sec[0] = '\0';
		*field = key;
		return;
	}
	snprintf(sec, seclen, "%.*s", (int)(dot - key), key);
	*field = dot + 1;
}

static const char *const cfg_log_levels[] = {
	"error", "warn", "info", "debug", NULL
};

static int
cfg_writable(const struct cfg_opt *o)
{
	return (!o->co_secret && !o->co_ro);
}

json_t *
cfg_schema(void)
{
	const struct cfg_opt	*o;
	const char		*field;
	json_t			*doc, *props, *secs, *ui, *nw, *p, *sec, *tgt;
	json_t			*lv;
	char			 name[64], ptr[300];
	size_t			 i;
	int			 r;

	doc = json_pack("{s:s, s:s, s:s, s:s, s:{}, s:[], s:{}, s:[]}",
	    "$schema", "http://json-schema.org/draft-07/schema#", "title",
	    "LibreFang configuration", "description", "config.toml: every "
	    "key is optional; generated from libshared/cfg.c's key table",
	    "type", "object", "properties", "x-sections", "x-ui-options",
	    "x-non-writable");
	if (doc == NULL)
		return (NULL);
	props = json_object_get(doc, "properties");
	secs = json_object_get(doc, "x-sections");
	ui = json_object_get(doc, "x-ui-options");
	nw = json_object_get(doc, "x-non-writable");
	json_array_append_new(secs, json_pack("{s:s, s:s, s:b, s:b, s:[], "
	    "s:b}", "key", "general", "title", "General", "root_level", 1,
	    "hot_reloadable", 0, "fields", "virtual", 1));
	for (o = cfg_opts; o->co_key != NULL; o++) {
		cfg_split(o->co_key, name, sizeof(name), &field);
		p = json_pack("{s:s, s:s, s:o, s:b, s:s}", "type",
		    cfg_type_name(o->co_type), "description", o->co_desc,
		    "default", cfg_default_json(o), "x-hot-reload",
		    o->co_reload != CFG_R_RESTART, "x-reload",
		    o->co_reload == CFG_R_HOT ? o->co_action :
		    o->co_reload == CFG_R_NOOP ? "none" : "restart");
		if (p == NULL)
			goto enomem;
		if (o->co_env != NULL)
			json_object_set_new(p, "x-env", json_string(o->co_env));
		if (o->co_secret) {
			json_object_set_new(p, "writeOnly", json_true());
			json_object_set_new(p, "x-secret", json_true());
		}
		snprintf(ptr, sizeof(ptr), "/%s%s%s", name, *name ? "/" : "",
		    field);
		if (o->co_type == CFG_INT) {
			json_object_set_new(p, "minimum",
			    json_integer(o->co_min));
			json_object_set_new(p, "maximum",
			    json_integer(o->co_max));
			json_object_set_new(ui, ptr, json_pack("{s:I, s:I}",
			    "min", (json_int_t)o->co_min, "max",
			    (json_int_t)o->co_max));
			if (strcmp(o->co_key,
			    "rate_limit.api_requests_per_minute") == 0)
				json_object_set_new(json_object_get(ui, ptr),
				    "step", json_integer(100));
		}
		if (strcmp(o->co_key, "log_level") == 0) {
			lv = json_array();
			for (i = 0; cfg_log_levels[i] != NULL; i++)
				json_array_append_new(lv,
				    json_string(cfg_log_levels[i]));
			json_object_set(p, "enum", lv);
			json_object_set_new(ui, ptr, json_pack("{s:o}",
			    "select", lv));
		}
		if (!cfg_writable(o))
			json_array_append_new(nw, json_string(ptr));
		/* The section: its properties and its x-sections entry. */
		if (*name == '\0') {
			tgt = props;
			sec = json_array_get(secs, 0);
		} else {
			if ((tgt = json_object_get(props, name)) == NULL) {
				json_object_set_new(props, name, json_pack(
				    "{s:s, s:{}}", "type", "object",
				    "properties"));
				tgt = json_object_get(props, name);
				json_array_append_new(secs, json_pack("{s:s, "
				    "s:s, s:b, s:s, s:b, s:[], s:b}", "key", name,
				    "title", name, "root_level", 0,
				    "struct_field", name, "hot_reloadable", 1,
				    "fields", "virtual", 0));
			}
			tgt = json_object_get(tgt, "properties");
			sec = json_array_get(secs, json_array_size(secs) - 1);
			for (i = 0; i < json_array_size(secs); i++)
				if (strcmp(json_string_value(json_object_get(
				    json_array_get(secs, i), "key")), name) == 0)
					sec = json_array_get(secs, i);
			/* A section is hot when every key of it is. */
			r = o->co_reload != CFG_R_RESTART;
			if (!r)
				json_object_set_new(sec, "hot_reloadable",
				    json_false());
		}
		if (tgt == NULL || sec == NULL)
			goto enomem;
		json_object_set_new(tgt, field, p);
		json_array_append_new(json_object_get(sec, "fields"),
		    json_string(field));
	}
	/* The sections their own code reads (not keys of the table). */
	for (i = 0; cfg_sections[i].cs_name != NULL; i++)
		json_array_append_new(secs, json_pack("{s:s, s:s, s:b, s:s, "
		    "s:b, s:[], s:b}", "key", cfg_sections[i].cs_name, "title",
		    cfg_sections[i].cs_name, "root_level", 0, "struct_field",
		    cfg_sections[i].cs_name, "hot_reloadable",
		    cfg_sections[i].cs_reload == CFG_R_HOT, "fields",
		    "virtual", 0));
	return (doc);
 enomem:
	json_decref(doc);
	return (NULL);
}

int
cfg_secret_name(const char *name)
{
	static const char *const words[] = { "api_key", "token", "secret",
	    "password", "pass", "key", NULL };
	size_t	n = strlen(name), w;
	int	i;

	/* A variable's name (api_key_env) is not the secret itself. */
	if (n >= 4 && strcmp(name + n - 4, "_env") == 0)
		return (0);
	for (i = 0; words[i] != NULL; i++) {
		w = strlen(words[i]);
		if (n >= w && strcmp(name + n - w, words[i]) == 0 &&
		    (n == w || name[n - w - 1] == '_'))
			return (1);
	}
	return (strstr(name, "secret") != NULL ||
	    strstr(name, "password") != NULL || strstr(name, "token") != NULL);
}

/* A copy of v with the values of secret-looking keys redacted (new). */
static json_t *
cfg_redact_doc(json_t *v, int depth)
{
	const char	*k;
	json_t		*out, *e;
	size_t		 i;

	if (depth > 64)
		return (json_string("[REDACTED]"));
	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach(v, k, e)
			json_object_set_new(out, k, cfg_secret_name(k) &&
			    json_is_string(e) && *json_string_value(e) != '\0' ?
			    json_string("[REDACTED]") :
			    cfg_redact_doc(e, depth + 1));
		return (out);
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, e)
			json_array_append_new(out, cfg_redact_doc(e,
			    depth + 1));
		return (out);
	}
	return (json_incref(v));
}

char *
cfg_export(const struct sh_config *cfg, size_t *lenp)
{
	const struct cfg_opt	*o;
	const char		*field, *k;
	struct buf		 b;
	json_t			*rest = NULL, *v, *val;
	char			 sec[64], cur[64], ts[32];
	int			 rv = 0, pass;

	buf_init(&b, 2 * CFG_FILE_MAX);
	util_rfc3339(util_wall_ms(), ts);
	rv |= buf_addf(&b, "# LibreFang: the effective configuration, "
	    "exported %s\n# (defaults, %s, environment; secrets left out)\n",
	    ts, cfg->cf_path[0] != '\0' ? cfg->cf_path : "no config file");
	cur[0] = '\0';
	pthread_rwlock_rdlock(&cfg_lock);
	/* The root's keys first (pass 0), then each table's (pass 1). */
	for (pass = 0; pass < 2; pass++)
	for (o = cfg_opts; o->co_key != NULL && rv == 0; o++) {
		cfg_split(o->co_key, sec, sizeof(sec), &field);
		if ((*sec != '\0') != pass)
			continue;
		if (strcmp(sec, cur) != 0) {
			rv |= buf_addf(&b, "\n[%s]\n", sec);
			snprintf(cur, sizeof(cur), "%s", sec);
		}
		if (o->co_secret) {
			rv |= buf_addf(&b, "# %s = (%s)\n", field,
			    *((const char *)cfg + o->co_off) != '\0' ?
			    "set, redacted" : "not set");
			continue;
		}
		if (o->co_type == CFG_STR)
			val = json_string((const char *)cfg + o->co_off);
		else if (o->co_type == CFG_INT)
			val = json_integer(*(const long long *)(const void *)
			    ((const char *)cfg + o->co_off));
		else
			val = json_boolean(*(const int *)(const void *)
			    ((const char *)cfg + o->co_off));
		rv |= buf_addf(&b, "%s = ", field);
		rv |= toml_write_value(&b, val);
		rv |= buf_adds(&b, "\n");
		json_decref(val);
	}
	/* The rest of the file: the sections their own code reads. */
	rest = json_object();
	json_object_foreach(cfg->cf_doc, k, v)
		if (cfg_free_section(k, v))
			json_object_set_new(rest, k, cfg_redact_doc(v, 0));
	pthread_rwlock_unlock(&cfg_lock);
	if (rv == 0 && json_object_size(rest) > 0)
		rv |= toml_write_doc(&b, rest);
	json_decref(rest);
	if (rv != 0) {
		buf_release(&b);
		return (NULL);
	}
	*lenp = b.b_len;
	return (buf_detach(&b));
}

int
cfg_set_check(const char *path, json_t *value, char *table, size_t tlen,
    char *key, size_t klen, struct buf *literal, char *err, size_t errlen)
{
	const struct cfg_opt	*o;
	struct sh_config	 tmp;
	const char		*p, *field;
	int			 segs = 1, rv;

	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "'path' must be a non-empty string");
		return (-1);
	}
	for (p = path; *p != '\0'; p++) {
		if (*p == '.') {
			if (p == path || p[1] == '\0' || p[1] == '.' ||
			    ++segs > 2)
				break;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			break;
	}
	if (*p != '\0' || p - path > 200) {
		snprintf(err, errlen, "invalid config path: segments are "
		    "[A-Za-z0-9_], at most two, dot-separated");
		return (-1);
	}
	if ((o = cfg_find(path)) == NULL) {
		snprintf(err, errlen, "%sunknown config key '%s'",
		    cfg_secret_name(strrchr(path, '.') ? strrchr(path, '.') + 1 :
		    path) ? "a secret cannot be written in clear: " : "", path);
		return (-1);
	}
	if (o->co_secret) {
		snprintf(err, errlen, "'%s' holds a secret and cannot be "
		    "written in clear (use its environment variable %s)",
		    path, o->co_env != NULL ? o->co_env : "");
		return (-1);
	}
	if (o->co_ro) {
		snprintf(err, errlen, "'%s' is not writable", path);
		return (-1);
	}
	if (value == NULL) {
		snprintf(err, errlen, "'value' is required");
		return (-1);
	}
	/* The table's own checks: type and bounds. */
	memset(&tmp, 0, sizeof(tmp));
	if (cfg_set_json(&tmp, o, value, "value", err, errlen) != 0)
		return (-1);
	if (strcmp(o->co_key, "log_level") == 0 &&
	    log_parse_level(json_string_value(value)) < 0) {
		snprintf(err, errlen, "log_level must be one of error, warn, "
		    "info, debug");
		return (-1);
	}
	cfg_split(o->co_key, table, tlen, &field);
	snprintf(key, klen, "%s", field);
	if (o->co_type == CFG_BOOL)
		rv = buf_adds(literal, json_is_true(value) ? "true" : "false");
	else
		rv = toml_write_value(literal, value);
	if (rv != 0) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	(void)segs;
	return (0);
}

int
cfg_key_known(const char *key)
{
	return (cfg_find(key) != NULL);
}

const char *
cfg_key_at(size_t i)
{
	return (i < sizeof(cfg_opts) / sizeof(cfg_opts[0]) - 1 ?
	    cfg_opts[i].co_key : NULL);
}
