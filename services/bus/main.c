/*
 * bus - the message broker: forwards REQ/REP per service type and
 * PUB/SUB events.  Stateless; run two and list both in LIBREFANG_BUS_URL
 * for high availability.
 */
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "bus.h"
#include "cfg.h"
#include "log.h"
#include "svc.h"

int
main(int argc, char **argv)
{
	struct svc_opts	 so;
	struct sh_config cfg;
	struct broker	*br;
	char		 base[CFG_STR_MAX];

	svc_init(argc, argv, "bus", &so);
	svc_config(&so, &cfg);
	/* A broker serves the first address of the bus URL list. */
	snprintf(base, sizeof(base), "%.*s", (int)strcspn(cfg.bus_url, ","),
	    cfg.bus_url);
	if ((br = broker_open(base)) == NULL)
		fatalx("could not start the broker on '%s'", base);
	svc_wait();
	/* Bounds nng's own teardown (nanomsg/nng#1813): a stop never hangs. */
	bus_teardown_enter();
	broker_close(br);
	bus_teardown_leave();
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
