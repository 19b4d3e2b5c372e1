/*
 * cfg.c - the configuration table and its loader.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
};

#define S(k, f, d, env, sec)	{ k, CFG_STR, offsetof(struct sh_config, f), \
	sizeof(((struct sh_config *)0)->f), d, 0, 0, env, sec }
#define I(k, f, d, lo, hi, env)	{ k, CFG_INT, offsetof(struct sh_config, f), \
	0, d, lo, hi, env, 0 }
#define B(k, f, d, env)		{ k, CFG_BOOL, offsetof(struct sh_config, f), \
	0, d, 0, 1, env, 0 }

/*
 * Every key a LibreFang process reads.  home_dir is resolved before the
 * file is read (it says where the file is), so its row only documents it.
 */
static const struct cfg_opt cfg_opts[] = {
	S("home_dir", home_dir, "", "LIBREFANG_HOME", 0),
	S("data_dir", data_dir, "", NULL, 0),
	S("api_listen", api_listen, "127.0.0.1:4545", "LIBREFANG_API_LISTEN", 0),
	S("api_key", api_key, "", "LIBREFANG_API_KEY", 1),
	S("database_url", database_url, "", "LIBREFANG_DATABASE_URL", 1),
	S("bus_url", bus_url, "", "LIBREFANG_BUS_URL", 0),
	S("log_level", log_level, "info", "LIBREFANG_LOG_LEVEL", 0),
	B("log_json", log_json, "false", "LIBREFANG_LOG_JSON"),
	B("strict_config", strict_config, "false", NULL),
	S("default_model.provider", default_provider, "auto", NULL, 0),
	S("default_model.model", default_model, "", NULL, 0),
	S("default_model.base_url", default_base_url, "", NULL, 0),
	S("default_model.api_key_env", default_key_env, "", NULL, 0),
	I("max_request_body_bytes", max_request_body_bytes, "8388608",
	    1024, 1073741824LL, NULL),
	I("rate_limit.api_requests_per_minute", rl_requests_per_minute, "500",
	    0, 100000000LL, NULL),
	I("rate_limit.retry_after_secs", rl_retry_after_secs, "60", 1, 86400,
	    NULL),
	B("rate_limit.exempt_loopback", rl_exempt_loopback, "true", NULL),
	I("bus.request_timeout_ms", bus_timeout_ms, "5000", 10, 3600000, NULL),
	I("bus.workers", bus_workers, "4", 1, 256, NULL),
	I("bus.turn_timeout_secs", turn_timeout_secs, "600", 1, 86400, NULL),
	I("api.threads", http_threads, "2", 1, 64, NULL),
	I("api.connection_timeout_secs", http_conn_timeout_secs, "10", 1, 3600,
	    NULL),
	I("api.max_connections", http_max_connections, "1024", 1, 65536,
	    NULL),
	I("api.header_memory_bytes", http_header_memory, "32768", 8192,
	    16777216, NULL),
	I("api.max_connections_per_ip", http_max_conn_per_ip, "0", 0, 65536,
	    NULL),
	I("api.idempotency_key_ttl_secs", idem_ttl_secs, "86400", 1,
	    30 * 86400, NULL),
	B("allow_no_auth", allow_no_auth, "false", "LIBREFANG_ALLOW_NO_AUTH"),
	{ NULL, 0, 0, 0, NULL, 0, 0, NULL, 0 }
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
cfg_read_file(struct sh_config *cfg, int must_exist, char *err,
    size_t errlen)
{
	struct toml_err	 te;
	char		*text;
	size_t		 len;

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

int
cfg_load(struct sh_config *cfg, const char *path, char *err, size_t errlen)
{
	const struct cfg_opt	*o;
	const char		*env, *home;
	char			 origin[64];

	memset(cfg, 0, sizeof(*cfg));
	cfg->cf_warnings = json_array();
	cfg->cf_doc = json_object();
	if (cfg->cf_warnings == NULL || cfg->cf_doc == NULL) {
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
	if (cfg_read_file(cfg, path != NULL, err, errlen) != 0)
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

void
cfg_release(struct sh_config *cfg)
{
	explicit_bzero(cfg->api_key, sizeof(cfg->api_key));
	explicit_bzero(cfg->database_url, sizeof(cfg->database_url));
	json_decref(cfg->cf_warnings);
	json_decref(cfg->cf_doc);
	cfg->cf_warnings = NULL;
	cfg->cf_doc = NULL;
}

json_t *
cfg_to_json(const struct sh_config *cfg)
{
	const struct cfg_opt	*o;
	const char		*p;
	json_t			*out, *v;

	if ((out = json_object()) == NULL)
		return (NULL);
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
