/*
 * agent-runtime - owns the agents, their sessions and turns, the model
 * catalog and providers, the tools, MCP links, skills, approvals and the
 * budget ledger.  One folder per module; README.md
 * maps them.
 *
 * It applies its schema's migrations, loads the catalog, opens the
 * lifecycle publisher and the tools' bus client, starts the agent loop,
 * then answers its operations over the bus until SIGINT or SIGTERM.
 */
#include <pthread.h>

#include <jansson.h>

#include "a2a/a2a.h"
#include "agent/agent.h"
#include "agent/obs.h"
#include "agent/templates.h"
#include "approval/approval.h"
#include "approval/totp.h"
#include "budget/budget.h"
#include "bus.h"
#include "catalog/catalog.h"
#include "comms/comms.h"
#include "files/upload.h"
#include "log.h"
#include "mcp/mcp.h"
#include "services.h"
#include "skill/skill.h"
#include "svc.h"
#include "tool/tool.h"
#include "turn/turn.h"

/* sys.health: how many agents the shared registry holds. */
static void
agent_health(struct svc_ctx *c, json_t *out)
{
	long long	n = agent_store_count(c->sc_db);

	long long	sent, skipped;

	if (n >= 0)
		json_object_set_new(out, "agent_count", json_integer(n));
	/* turn/notify.c: Message events published, and left out because
	 * no service wanted them (runtime.event_interest). */
	turn_notify_counts(&sent, &skipped);
	json_object_set_new(out, "message_events_sent", json_integer(sent));
	json_object_set_new(out, "message_events_skipped",
	    json_integer(skipped));
}

static void	agent_drain(void *);
static void	agent_stop(void *);

/* A step that fails stops what the steps before it started (agent_drain
 * and agent_stop are safe after any of them): the process exits 1 with
 * none of its threads or sockets left, where nng_fini() would panic over
 * a bus socket still open. */
static int
agent_start(const struct sh_config *cfg, void *arg)
{
	struct agent_state	*as = arg;

	as->as_cfg = cfg;
	pthread_mutex_init(&as->as_pub_mtx, NULL);
	if (budget_init(cfg) != 0 || approval_init(cfg) != 0)
		goto fail;
	(void)totp_init(cfg);
	if (catalog_init(cfg, NULL) != 0) {
		log_warnx("could not load the model catalog");
		goto fail;
	}
	/* Events are best effort: without a publisher we still serve. */
	if ((as->as_pub = bus_pub_open(cfg->bus_url)) == NULL)
		log_warnx("could not open the publisher on '%s'; lifecycle "
		    "events are off", cfg->bus_url);
	/* Tools' own bus calls (kv_*, agent_send). */
	if ((as->as_bus = bus_client_open(cfg->bus_url)) == NULL)
		log_warnx("could not open a bus client on '%s'; kv and "
		    "agent tools are off", cfg->bus_url);
	/* Skills: the bundled set parsed, scanned and written. */
	if (skill_start(cfg) != 0) {
		log_warnx("could not load the bundled skills");
		goto fail;
	}
	/* MCP servers: the catalog, the registry and its supervisors. */
	if (mcp_init(cfg) != 0) {
		log_warnx("could not start the MCP client");
		goto fail;
	}
	/* The job pool, the LLM engine, the session lock, turn.control. */
	if (turn_init(cfg) != 0) {
		log_warnx("could not start the agent loop");
		goto fail;
	}
	/* Paused turns wait for decisions (after the pool they resume on). */
	if (approval_start(cfg) != 0)
		goto fail;
	if (a2a_start(as) != 0)
		goto fail;
	comms_start(as);
	return (0);
 fail:
	agent_drain(as);
	agent_stop(as);
	return (-1);
}

/* Turns and direct tool calls still running answer before the bus
 * closes.  Safe after a partial agent_start(). */
static void
agent_drain(void *arg)
{
	(void)arg;
	turn_shutdown();
	a2a_stop();
	mcp_fini();
	tool_invoke_shutdown();
}

/* Safe after a partial agent_start(). */
static void
agent_stop(void *arg)
{
	struct agent_state	*as = arg;

	comms_stop();
	approval_stop();
	bus_client_close(as->as_bus);
	as->as_bus = NULL;
	bus_pub_close(as->as_pub);
	as->as_pub = NULL;
	pthread_mutex_destroy(&as->as_pub_mtx);
	mcp_catalog_fini();
	skill_fini();
	skill_snapshot_drop();
	catalog_fini();
}

static struct agent_state	agent_st;

static const struct svc_op *const agent_tables[] = {
	agent_ops, agent_list_ops, catalog_ops, tool_ops, turn_ops, tmpl_ops,
	upload_ops, obs_ops, a2a_ops, a2a_hook_ops, comms_ops, mcp_ops,
	budget_ops, usage_ops, approval_ops, skill_ops,
	totp_ops, turn_interest_ops,
	NULL
};

static const struct svc_def agent_def = {
	.sd_name = SVC_AGENT_RUNTIME,
	.sd_schema = "runtime",
	.sd_migrations = svc_migrations,
	.sd_ops = agent_tables,
	.sd_health = agent_health,
	.sd_arg = &agent_st,
	.sd_start = agent_start,
	.sd_drain = agent_drain,
	.sd_stop = agent_stop,
	.sd_audit = 1,
};

SVC_MAIN(agent_def)
