/*
 * bus - the message broker: forwards REQ/REP per service type and
 * PUB/SUB events.  Stateless; run two and list both in LIBREFANG_BUS_URL
 * for high availability.  It serves no operations of its own: svc_main()
 * runs its start and stop around the wait for SIGINT or SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "svc.h"

static struct broker	*bus_broker;

static int
bus_start(const struct sh_config *cfg, void *arg)
{
	char	base[CFG_STR_MAX];

	(void)arg;
	/* A broker serves the first address of the bus URL list. */
	snprintf(base, sizeof(base), "%.*s", (int)strcspn(cfg->bus_url, ","),
	    cfg->bus_url);
	if ((bus_broker = broker_open(base)) == NULL) {
		log_warnx("could not start the broker on '%s'", base);
		return (-1);
	}
	return (0);
}

static void
bus_stop(void *arg)
{
	(void)arg;
	/* Bounds nng's own teardown (nanomsg/nng#1813): a stop never hangs. */
	bus_teardown_enter();
	broker_close(bus_broker);
	bus_teardown_leave();
	bus_broker = NULL;
}

static const struct svc_def bus_def = {
	.sd_name = "bus",
	.sd_no_service = 1,
	.sd_start = bus_start,
	.sd_stop = bus_stop,
};

SVC_MAIN(bus_def)
