/*
 * channels - owns channel configs, bindings, adapters, deliveries,
 * outbound webhooks and pairing.
 *
 * It applies its schema's migrations, then runs the adapter of every
 * [[sidecar_channels]] entry whose lease it takes (chan_supervise.c) and
 * the turns of their inbound messages (chan_router.c), and answers its
 * operations over the bus with a pool of workers until SIGINT or SIGTERM
 * (svc_main()).
 */
#include <stdlib.h>

#include "channels.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "svc.h"

#define CHAN_TURN_THREADS	2

static struct {
	struct chan_conf	*conf;
	size_t			 nconf;
	struct chan_sup		*sup;
	struct chan_router	*router;
} chan;

struct chan_router *
chan_router(void)
{
	return (chan.router);
}

const struct chan_conf *
chan_confs(size_t *n)
{
	*n = chan.nconf;
	return (chan.conf);
}

static int
channels_start(const struct sh_config *cfg, void *arg)
{
	char	err[512];

	(void)arg;
	if (chan_conf_load(cfg->cf_doc, &chan.conf, &chan.nconf, err,
	    sizeof(err)) != 0) {
		log_warnx("config: sidecar_channels: %s", err);
		return (-1);
	}
	if ((chan.sup = chan_sup_start(cfg, chan.conf, chan.nconf)) == NULL)
		goto fail;
	if ((chan.router = chan_router_start(cfg, chan.sup,
	    CHAN_TURN_THREADS)) == NULL)
		goto fail;
	/* A message stored before the router existed is found by its idle
	 * poll; wake it once anyway. */
	chan_router_wake(chan.router);
	log_info("%zu channel(s) configured", chan.nconf);
	return (0);
 fail:
	chan_sup_stop(chan.sup);
	chan.sup = NULL;
	chan_conf_free_all(chan.conf, chan.nconf);
	chan.conf = NULL;
	return (-1);
}

static void
channels_stop(void *arg)
{
	(void)arg;
	/* Turns first: an abandoned one is put back for whoever runs next,
	 * and the adapters then get their shutdown. */
	chan_router_stop(chan.router);
	chan.router = NULL;
	chan_sup_stop(chan.sup);
	chan.sup = NULL;
	chan_conf_free_all(chan.conf, chan.nconf);
	chan.conf = NULL;
}

static const struct svc_op *const channels_ops[] = {
	chan_ops,
	chan_bind_ops,
	chan_test_ops,
	NULL
};

static const struct svc_def channels_def = {
	.sd_name = SVC_CHANNELS,
	.sd_schema = "channels",
	.sd_migrations = svc_migrations,
	.sd_ops = channels_ops,
	.sd_start = channels_start,
	.sd_stop = channels_stop,
};

SVC_MAIN(channels_def)
