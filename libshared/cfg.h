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

#include <jansson.h>

#define CFG_STR_MAX	1024

struct sh_config {
	char	 home_dir[512];			/* LIBREFANG_HOME */
	char	 data_dir[CFG_STR_MAX];
	char	 api_listen[256];		/* LIBREFANG_API_LISTEN */
	char	 api_key[512];			/* LIBREFANG_API_KEY, secret */
	char	 database_url[CFG_STR_MAX];	/* LIBREFANG_DATABASE_URL */
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

	char	 cf_path[CFG_STR_MAX];		/* file read, "" if none */
	json_t	*cf_warnings;			/* array of strings */
	json_t	*cf_doc;			/* parsed file, {} if none */
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

#endif /* SH_CFG_H */
