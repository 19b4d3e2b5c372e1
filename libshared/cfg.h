/*
 * cfg.h - configuration shared by every process.
 *
 * One table (cfg.c, like Redis' static_configs[]) describes every key:
 * its dotted TOML path, type, default, bounds and environment override.
 * Loading applies, in order: the defaults, then $LIBREFANG_HOME/config.toml
 * (or the file named with -f), then the environment.  Numbers are bounds-
 * checked.  Keys the table does not know are kept in cf_warnings (and make
 * loading fail when strict_config = true); the whole parsed document stays
 * in cf_doc for sections that later code reads itself.
 */
#ifndef SH_CFG_H
#define SH_CFG_H

#include <stddef.h>

#include <jansson.h>

struct buf;

#define CFG_STR_MAX	1024

struct sh_config {
	char	 home_dir[512];			/* LIBREFANG_HOME */
	char	 data_dir[CFG_STR_MAX];
	char	 api_listen[256];		/* LIBREFANG_API_LISTEN */
	char	 api_key[512];			/* LIBREFANG_API_KEY, secret */
	char	 database_url[CFG_STR_MAX];	/* LIBREFANG_DATABASE_URL */
	char	 vault_key[512];		/* LIBREFANG_VAULT_KEY, secret */
	char	 bus_url[CFG_STR_MAX];		/* LIBREFANG_BUS_URL */
	char	 log_level[16];
	int	 log_json;
	int	 strict_config;
	char	 default_provider[128];		/* [default_model] provider */
	char	 default_model[256];		/* [default_model] model */
	char	 default_base_url[512];		/* [default_model] base_url */
	char	 default_key_env[128];		/* [default_model] api_key_env */
	long long max_request_body_bytes;
	long long rl_requests_per_minute;	/* [rate_limit] */
	long long rl_retry_after_secs;
	int	 rl_exempt_loopback;		/* loopback peers not limited */
	long long bus_timeout_ms;		/* [bus] request_timeout_ms */
	long long bus_workers;			/* [bus] workers per service */
	long long turn_timeout_secs;		/* [bus] longest agent turn */
	long long http_threads;			/* [api] threads */
	long long http_conn_timeout_secs;	/* [api] connection_timeout_secs */
	long long http_max_connections;		/* [api] max_connections */
	long long http_max_conn_per_ip;		/* [api] 0 = max_connections/4 */
	long long http_header_memory;		/* [api] header_memory_bytes */
	long long idem_ttl_secs;		/* [api] idempotency_key_ttl_secs */
	int	 allow_no_auth;			/* LIBREFANG_ALLOW_NO_AUTH=1 */
	char	 webhook_token[512];		/* LIBREFANG_WEBHOOK_TOKEN, secret */
	long long rl_auth_per_ip;		/* [rate_limit] logins / 15 min */
	char	 dash_user[256];		/* dashboard_user */
	char	 dash_pass[512];		/* dashboard_pass, secret */
	char	 dash_pass_hash[512];		/* dashboard_pass_hash, secret */
	long long dash_session_ttl_secs;	/* dashboard_session_ttl_secs */

	char	 cf_path[CFG_STR_MAX];		/* file read, "" if none */
	json_t	*cf_warnings;			/* array of strings */
	json_t	*cf_doc;			/* parsed file, {} if none */
	json_t	*cf_old;			/* documents replaced by a
						   reload, kept (read) */
};

/*
 * Fills cfg.  path may be NULL (use $LIBREFANG_HOME/config.toml, which may
 * be absent).  Returns 0, or -1 with a message in err ("config.toml: line 3:
 * ..."); cfg must then still be passed to cfg_release().
 */
int	 cfg_load(struct sh_config *cfg, const char *path, char *err,
	    size_t errlen);
void	 cfg_release(struct sh_config *cfg);
/* The effective configuration as JSON, secrets redacted (new reference). */
json_t	*cfg_to_json(const struct sh_config *cfg);
/* Prints cfg_to_json() to stdout (for -n). */
void	 cfg_print(const struct sh_config *cfg);
/* Registers the configured secrets with the log redactor. */
void	 cfg_register_secrets(const struct sh_config *cfg);

/* cfg_load() of text (the file's contents, from elsewhere) instead of
 * the file; path (NULL: the default) is only named in cf_path. */
int	 cfg_load_text(struct sh_config *cfg, const char *path,
	    const char *text, size_t len, char *err, size_t errlen);

/*
 * Live configuration.  A running process keeps one struct sh_config;
 * a reload (cfgsync.h) writes its hot keys in place under a lock
 * (cfg_apply_hot()) and swaps cf_doc (the old one kept until the
 * release).  Strings a worker reads while a reload may run are copied
 * under the lock: cfg_default_model(), or cfg_rdlock()/cfg_unlock().
 * The other keys need a restart and never change in place.
 */
struct cfg_model {
	char	cm_provider[128];
	char	cm_model[256];
	char	cm_base_url[512];
	char	cm_key_env[128];
};
void	 cfg_default_model(const struct sh_config *cfg, struct cfg_model *m);
void	 cfg_rdlock(void);
void	 cfg_unlock(void);
/*
 * The plan of going from old to nc (kernel.md 8.4), from the key table's
 * reload column and the file's own sections (new): {restart_required,
 * restart_reasons[], hot_actions[], noop_changes[], changed[]}.
 */
json_t	*cfg_plan(const struct sh_config *old, const struct sh_config *nc);
/* Copies nc's hot and no-op keys into live, and its document. */
void	 cfg_apply_hot(struct sh_config *live, struct sh_config *nc);

/* The JSON Schema (draft-07) generated from the key table, with
 * x-sections, x-ui-options and x-non-writable (kernel.md 8.5); new. */
json_t	*cfg_schema(void);
/* The effective configuration as TOML text (new, *lenp its length):
 * every key of the table, then the file's other sections; secrets left
 * out.  NULL on ENOMEM. */
char	*cfg_export(const struct sh_config *cfg, size_t *lenp);
/* 1 if a key of that name holds a secret (api_key, token, password..,
 * not the name of a variable that holds one: *_env). */
int	 cfg_secret_name(const char *name);
/*
 * Checks /api/config/set's path and value against the key table: the
 * path's segments are [A-Za-z0-9_], at most two; it names a key of the
 * table that is writable and no secret; value has its type and bounds.
 * 0 with its table ("" for the root) and key, and value as a TOML
 * literal appended to literal; -1 with a message in err.
 */
int	 cfg_set_check(const char *path, json_t *value, char *table,
	    size_t tlen, char *key, size_t klen, struct buf *literal,
	    char *err, size_t errlen);
/* 1 if the table knows key; the table's i-th key, NULL past the end. */
int	 cfg_key_known(const char *key);
const char *cfg_key_at(size_t i);

#endif /* SH_CFG_H */
