/*
 * gw_config.c - the configuration endpoints the gateway answers itself,
 * from its own live config (which follows every change: cfgsync.h), and
 * POST /api/shutdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cfgsync.h"
#include "gateway.h"
#include "log.h"

static struct sh_config	*gw_cfg;

/* The gateway's part of a change: the rate limit. */
static void
gw_config_apply(struct sh_config *cfg, json_t *plan, void *arg)
{
	json_t	*hot = json_object_get(plan, "hot_actions");
	size_t	 i;

	(void)arg;
	for (i = 0; i < json_array_size(hot); i++)
		if (strcmp(json_string_value(json_array_get(hot, i)),
		    "UpdateRateLimit") == 0) {
			gw_rl_configure(cfg);
			gw_conn_configure(cfg);
			gw_security_init(cfg);
			log_info("rate limit: %lld a minute, retry after %lld "
			    "s, loopback %s", cfg->rl_requests_per_minute,
			    cfg->rl_retry_after_secs, cfg->rl_exempt_loopback ?
			    "exempt" : "limited");
		}
}

int
gw_config_start(struct sh_config *cfg)
{
	gw_cfg = cfg;
	return (cfgsync_start(cfg, "api-gateway", gw_config_apply, NULL));
}

void
gw_config_stop(void)
{
	cfgsync_stop();
}

int
gw_config_get(struct gw_req *gr)
{
	json_t	*o = cfg_to_json(gw_cfg);

	if (o != NULL) {
		json_object_set_new(o, "api_key_set",
		    json_boolean(gw_cfg->api_key[0] != '\0'));
		json_object_set_new(o, "config_version",
		    json_integer(cfgsync_version()));
	}
	gw_reply_json(gr, 200, o);
	return (0);
}

int
gw_config_schema(struct gw_req *gr)
{
	gw_reply_json(gr, 200, cfg_schema());
	return (0);
}

int
gw_config_export(struct gw_req *gr)
{
	char	*text;
	size_t	 len;

	if ((text = cfg_export(gw_cfg, &len)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	gw_reply_data(gr, 200, "application/toml; charset=utf-8", text, len);
	free(text);
	return (0);
}

int
gw_shutdown(struct gw_req *gr)
{
	char	detail[256];

	snprintf(detail, sizeof(detail), "shutdown asked by %s from %s",
	    gr->gr_principal != NULL ? gr->gr_principal : "?",
	    gw_conn_ip(gr->gr_conn));
	(void)audit_post(AUDIT_CONFIG_CHANGE, NULL, detail, "ok");
	log_info("%s", detail);
	/* The answer leaves first; the audit relay has its moment. */
	if (cfgsync_shutdown("POST /api/shutdown", 500) != 0) {
		gw_reply_error(gr, 500, "could not start the shutdown");
		return (0);
	}
	gw_reply_json(gr, 200, json_pack("{s:s}", "status", "shutting_down"));
	return (0);
}
