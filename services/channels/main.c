/*
 * channels - owns channel configs, bindings, adapters, deliveries,
 * outbound webhooks and pairing.
 *
 * It applies its schema's migrations, then answers its operations over
 * the bus with a pool of workers until SIGINT or SIGTERM (svc_main()).
 */
#include "services.h"
#include "svc.h"

/* Only sys.health (libshared/svc.c) so far. */
static const struct svc_def channels_def = {
	.sd_name = SVC_CHANNELS,
	.sd_schema = "channels",
	.sd_migrations = svc_migrations,
};

SVC_MAIN(channels_def)
