/*
 * memory - owns KV memory (kv.c), proactive memory (items.c, search.c,
 * relations.c) and auto-dream (dream.c).
 *
 * It applies its schema's migrations, opens its publisher (the
 * MemoryUpdate events that triggers match) and a bus client (to ask
 * agent-runtime whether an agent exists, and to run dream turns), then
 * answers its operations over the bus with a pool of workers until
 * SIGINT or SIGTERM (svc_main()).
 */
#include <pthread.h>

#include "bus.h"
#include "log.h"
#include "memory.h"
#include "services.h"
#include "svc.h"

static struct {
	struct bus_pub		*pub;	/* NULL: events are not sent */
	pthread_mutex_t		 mtx;
} memory_pub = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
};

/* Opened before the workers serve and closed after they stopped, so a
 * handler never sees it change (bus_call() is thread-safe). */
static struct bus_client	*memory_client;

struct bus_client *
memory_bus(void)
{
	return (memory_client);
}

void
memory_publish(const char *topic, json_t *body)
{
	pthread_mutex_lock(&memory_pub.mtx);
	if (memory_pub.pub != NULL &&
	    bus_publish(memory_pub.pub, topic, body) != 0)
		log_debug("%s: could not publish on '%s'", __func__, topic);
	pthread_mutex_unlock(&memory_pub.mtx);
}

/* No step here fails: each logs and degrades.  One that comes to fail
 * calls memory_stop() (safe after a partial start) before returning -1,
 * so that no thread or bus socket outlives it (svc.h, sd_start). */
static int
memory_start(const struct sh_config *cfg, void *arg)
{
	(void)arg;
	/* Events are best effort: without a publisher we still serve. */
	if ((memory_pub.pub = bus_pub_open(cfg->bus_url)) == NULL)
		log_warnx("could not open the publisher on '%s'; memory "
		    "events are off", cfg->bus_url);
	if ((memory_client = bus_client_open(cfg->bus_url)) == NULL)
		log_warnx("could not open a bus client on '%s'; per-agent "
		    "memory answers 503", cfg->bus_url);
	dream_start(cfg);
	maint_start(cfg);
	return (0);
}

/* Safe after a partial memory_start(). */
static void
memory_stop(void *arg)
{
	(void)arg;
	maint_stop();
	dream_stop();
	bus_client_close(memory_client);
	memory_client = NULL;
	pthread_mutex_lock(&memory_pub.mtx);
	bus_pub_close(memory_pub.pub);
	memory_pub.pub = NULL;
	pthread_mutex_unlock(&memory_pub.mtx);
}

static const struct svc_op *const memory_tables[] = {
	kv_ops, items_ops, search_ops, relations_ops, dream_ops, NULL
};

static const struct svc_def memory_def = {
	.sd_name = SVC_MEMORY,
	.sd_schema = "memory",
	.sd_migrations = svc_migrations,
	.sd_ops = memory_tables,
	.sd_start = memory_start,
	.sd_stop = memory_stop,
	.sd_audit = 1,			/* dreams: sql/004_dream.sql */
};

SVC_MAIN(memory_def)
