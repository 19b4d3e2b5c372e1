/*
 * bus - the message broker: forwards REQ/REP per service type and
 * PUB/SUB events.  Stateless; run two and list both in LIBREFANG_BUS_URL
 * for high availability.  It serves no operations of its own: svc_main()
 * runs its start and stop around the wait for SIGINT or SIGTERM.  After
 * POST /api/shutdown (a TOPIC_SHUTDOWN event through it) it stops by
 * itself once the processes it carries have left, at most
 * BUS_SHUTDOWN_WAIT_MS later -- unless librefangd runs it, which stops
 * it after the services.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "svc.h"

/* After the stack's shutdown went through, how long the broker waits
 * for the processes it carries to leave before it stops anyway. */
#define BUS_SHUTDOWN_WAIT_MS	10000

static struct broker	*bus_broker;

/* Every process has left (or the wait is over): stop, as on SIGTERM
 * (svc_wait() returns; exit 0).  On an nng thread. */
static void
bus_shutdown(void *arg, int left)
{
	(void)arg;
	log_info("shutdown asked (POST /api/shutdown): stopping the broker%s",
	    left > 0 ? " with connections still open" : " last");
	(void)kill(getpid(), SIGTERM);
}

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
	/* POST /api/shutdown: under librefangd, it stops the broker after
	 * the services (SIGTERM); on our own (docker compose, systemd) we
	 * stop once they have left. */
	if (svc_supervisor() == 0)
		broker_on_shutdown(bus_broker, BUS_SHUTDOWN_WAIT_MS,
		    bus_shutdown, NULL);
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
