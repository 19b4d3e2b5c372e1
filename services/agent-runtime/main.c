/*
 * agent-runtime - owns agents (and, in later issues, sessions, messages,
 * the model catalog, providers, tools, approvals and the budget ledger).
 *
 * It applies its schema's migrations, opens the lifecycle publisher, then
 * answers its operations over the bus with a pool of workers until SIGINT
 * or SIGTERM.
 */
#include <pthread.h>

#include <jansson.h>

#include "agent/agent.h"
#include "bus.h"
#include "catalog/catalog.h"
#include "cfg.h"
#include "log.h"
#include "agent/obs.h"
#include "services.h"
#include "svc.h"
#include "agent/templates.h"
#include "tool/tool.h"
#include "turn/turn.h"
#include "files/upload.h"

/* sys.health: how many agents the shared registry holds. */
static void
agent_health(struct svc_ctx *c, json_t *out)
{
	long long	n = agent_store_count(c->sc_db);

	if (n >= 0)
		json_object_set_new(out, "agent_count", json_integer(n));
}

static struct agent_state	agent_st;

static const struct svc_op *const agent_tables[] = {
	agent_ops, agent_list_ops, catalog_ops, tool_ops, turn_ops, tmpl_ops,
	upload_ops, obs_ops,
	NULL
};

static struct svc_def agent_def = {
	SVC_AGENT_RUNTIME, "runtime", svc_migrations, agent_tables,
	agent_health, &agent_st
};

int
main(int argc, char **argv)
{
	struct svc_opts		 so;
	struct sh_config	 cfg;
	struct svc_server	*ss;

	svc_init(argc, argv, SVC_AGENT_RUNTIME, &so);
	svc_config(&so, &cfg);
	if (svc_db_migrate(&agent_def, &cfg) != 0)
		return (0);
	agent_st.as_cfg = &cfg;
	if (catalog_init(&cfg, NULL) != 0)
		fatalx("could not load the model catalog");
	pthread_mutex_init(&agent_st.as_pub_mtx, NULL);
	/* Events are best effort: without a publisher we still serve. */
	if ((agent_st.as_pub = bus_pub_open(cfg.bus_url)) == NULL)
		log_warnx("could not open the publisher on '%s'; lifecycle "
		    "events are off", cfg.bus_url);
	/* Tools' own bus calls (kv_*, agent_send). */
	if ((agent_st.as_bus = bus_client_open(cfg.bus_url)) == NULL)
		log_warnx("could not open a bus client on '%s'; kv and "
		    "agent tools are off", cfg.bus_url);
	/* The job pool, the LLM engine, the session lock, turn.control. */
	if (turn_init(&cfg) != 0)
		fatalx("could not start the agent loop");
	if ((ss = svc_serve(&agent_def, &cfg)) == NULL)
		fatalx("could not join the bus at '%s'", cfg.bus_url);
	svc_wait();
	/* Turns still running answer (503) before the bus closes. */
	turn_shutdown();
	svc_stop(ss);
	bus_client_close(agent_st.as_bus);
	bus_pub_close(agent_st.as_pub);
	pthread_mutex_destroy(&agent_st.as_pub_mtx);
	catalog_fini();
	cfg_release(&cfg);
	bus_fini();
	return (0);
}
