/*
 * api-gateway - the HTTP face of LibreFang.
 *
 * It owns no data and no database: it checks each request (auth, rate
 * limit, limits), answers its own endpoints (health, status, version,
 * metrics) and turns every other route into a bus operation whose reply
 * it relays.  It runs until SIGINT or SIGTERM, then stops accepting,
 * lets in-flight requests finish and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "beat.h"
#include "bus.h"
#include "cfg.h"
#include "gateway.h"
#include "log.h"
#include "memtrim.h"
#include "svc.h"

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct bus_client	*bc;
	char			 err[512];

	memtrim_init();		/* large bodies mapped, unmapped when done */
	svc_init(argc, argv, "api-gateway", &so);
	svc_config(&so, &cfg);
	if (gw_auth_init(&cfg, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		cfg_release(&cfg);
		return (1);
	}
	(void)svc_log_publish(cfg.bus_url, "api-gateway");
	if ((bc = bus_client_open(cfg.bus_url)) == NULL)
		fatalx("could not open the bus at '%s'", cfg.bus_url);
	if (gw_oidc_init(&cfg, bc, err, sizeof(err)) != 0)
		fatalx("[external_auth]: %s", err);
	if (gw_route_init() != 0 || gw_metrics_init() != 0 ||
	    gw_rl_init(&cfg) != 0 || gw_conn_init(&cfg) != 0)
		fatalx("could not initialise the gateway");
	gw_security_init(&cfg);
	gw_hooks_init(&cfg);
	/* Every process's heartbeat, this one's included: /api/status and
	 * /api/metrics list the replicas from it. */
	if (beat_watch_start(cfg.bus_url) != 0)
		log_warnx("the replicas are not listed");
	if (gw_health_start(&cfg, bc) != 0)
		fatalx("could not start the health poller");
	if (gw_turns_start(&cfg, bc) != 0 || gw_ws_start(&cfg, bc) != 0)
		fatalx("could not start streamed turns");
	/* Logouts on other gateways drop the sessions cached here. */
	if (gw_dauth_start(&cfg) != 0)
		log_warnx("a logout elsewhere is seen here only when the "
		    "cached session lapses");
	if (gw_topic_start(&gw_comms_topic, &cfg) != 0)
		log_warnx("the comms event stream is off");
	if (gw_topic_start(&gw_logs_topic, &cfg) != 0)
		log_warnx("the log stream is off");
	/* Auth failures reach the audit chain through this relay. */
	if (audit_relay_start(NULL, NULL, cfg.bus_url, "api-gateway") != 0)
		log_warnx("auth failures are not audited");
	/* Live config changes and /api/shutdown (libshared/cfgsync.h). */
	if (gw_config_start(&cfg) != 0)
		log_warnx("config changes are not applied here");
	if (gw_http_start(&cfg, bc) != 0)
		fatalx("could not start the HTTP server on '%s'",
		    cfg.api_listen);
	(void)beat_start(cfg.bus_url, "api-gateway");
	svc_wait();
	beat_stop();		/* the goodbye, before the wait for requests */
	if (gw_http_stop() != 0)
		exit(0);	/* requests still on the bus: do not free */
	gw_config_stop();
	gw_health_stop();
	beat_watch_stop();
	gw_ws_stop();		/* already stopped by gw_http_stop() */
	gw_turns_stop();
	gw_topic_stop(&gw_comms_topic);
	gw_topic_stop(&gw_logs_topic);
	audit_relay_stop();
	gw_dauth_stop();
	gw_conn_fini();
	bus_client_close(bc);
	gw_rl_fini();
	gw_metrics_fini();
	gw_route_fini();
	gw_oidc_fini();
	gw_auth_fini();
	svc_log_unpublish();
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
