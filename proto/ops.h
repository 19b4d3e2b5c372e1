/*
 * ops.h - the name of every bus operation, one place (proto/messages.md
 * documents each).  The gateway's route table and every service's
 * operation table use these constants, so a name typed wrong fails the
 * build instead of answering 501 at run time.  A new operation is one
 * line here, one row in its service's table and one in messages.md.
 */
#ifndef PROTO_OPS_H
#define PROTO_OPS_H

/* Every service (libshared/svc.c). */
#define OP_SYS_HEALTH		"sys.health"

/* ---- live configuration (libshared/cfgsync.c, served by channels) ---- */
#define OP_CONFIG_SET		"config.set"
#define OP_CONFIG_RELOAD	"config.reload"
#define OP_CONFIG_CURRENT	"config.current"

/* ---- dashboard sessions (services/channels/dashsess/, issue 14) -------- */
#define OP_DASHSESS_CREATE	"dashsess.create"
#define OP_DASHSESS_VALIDATE	"dashsess.validate"
#define OP_DASHSESS_DELETE	"dashsess.delete"

/* ---- agent-runtime: agents (agent/ops.c, agent/edit.c, agent/lists.c) --- */
#define OP_AGENTS_LIST		"agents.list"
#define OP_AGENTS_GET		"agents.get"
#define OP_AGENTS_SPAWN		"agents.spawn"
#define OP_AGENTS_DELETE	"agents.delete"
#define OP_AGENTS_PATCH		"agents.patch"
#define OP_AGENTS_UPDATE	"agents.update"
#define OP_AGENTS_MODE		"agents.mode"
#define OP_AGENTS_IDENTITY	"agents.identity"
#define OP_AGENTS_CONFIG	"agents.config"
#define OP_AGENTS_CLONE		"agents.clone"
#define OP_AGENTS_BULK_CREATE	"agents.bulk_create"
#define OP_AGENTS_BULK_DELETE	"agents.bulk_delete"
#define OP_AGENTS_BULK_START	"agents.bulk_start"
#define OP_AGENTS_BULK_STOP	"agents.bulk_stop"
#define OP_AGENTS_TOOLS_GET	"agents.tools_get"
#define OP_AGENTS_TOOLS_SET	"agents.tools_set"
#define OP_AGENTS_SKILLS_GET	"agents.skills_get"
#define OP_AGENTS_SKILLS_SET	"agents.skills_set"
#define OP_AGENTS_MCP_GET	"agents.mcp_get"
#define OP_AGENTS_MCP_SET	"agents.mcp_set"

/* ---- agent-runtime: turns and sessions (turn/ops.c) -------------------- */
#define OP_AGENTS_MESSAGE	"agents.message"
#define OP_AGENTS_STOP		"agents.stop"
#define OP_AGENTS_SET_MODEL	"agents.set_model"
#define OP_SESSIONS_CURRENT	"sessions.current"
#define OP_SESSIONS_LIST	"sessions.list"
#define OP_SESSIONS_CREATE	"sessions.create"
#define OP_SESSIONS_SWITCH	"sessions.switch"
#define OP_SESSIONS_BY_LABEL	"sessions.by_label"
#define OP_SESSIONS_CLEAR_HISTORY	"sessions.clear_history"
#define OP_SESSIONS_RESET	"sessions.reset"
#define OP_SESSIONS_COMPACT	"sessions.compact"
#define OP_SESSIONS_INTERRUPT	"sessions.interrupt"
#define OP_SESSIONS_TRAJECTORY	"sessions.trajectory"
#define OP_SESSIONS_LIST_ALL	"sessions.list_all"
#define OP_SESSIONS_GET		"sessions.get"
#define OP_SESSIONS_DELETE	"sessions.delete"
#define OP_SESSIONS_LABEL	"sessions.label"
#define OP_SESSIONS_CLEANUP	"sessions.cleanup"
#define OP_SESSIONS_SEARCH	"sessions.search"
/* services tell whether they want turn Message events (turn/notify.c) */
#define OP_EVENTS_INTEREST	"events.interest"

/* ---- agent-runtime: traces, metrics and logs (agent/obs.c) ------------- */
#define OP_AGENTS_TRACES	"agents.traces"
#define OP_AGENTS_METRICS	"agents.metrics"
#define OP_AGENTS_LOGS		"agents.logs"

/* ---- agent-runtime: models, providers and the catalog (catalog/ops.c) --- */
#define OP_MODELS_LIST		"models.list"
#define OP_MODELS_GET		"models.get"
#define OP_MODELS_ALIASES	"models.aliases"
#define OP_MODELS_ALIAS_CREATE	"models.alias_create"
#define OP_MODELS_ALIAS_DELETE	"models.alias_delete"
#define OP_MODELS_CUSTOM_ADD	"models.custom_add"
#define OP_MODELS_CUSTOM_DELETE	"models.custom_delete"
#define OP_PROVIDERS_LIST	"providers.list"
#define OP_PROVIDERS_GET	"providers.get"
#define OP_PROVIDERS_KEY_SET	"providers.key_set"
#define OP_PROVIDERS_KEY_DELETE	"providers.key_delete"
#define OP_PROVIDERS_TEST	"providers.test"
#define OP_PROVIDERS_URL_SET	"providers.url_set"
#define OP_PROVIDERS_OLLAMA_DETECT	"providers.ollama_detect"
#define OP_CATALOG_STATUS	"catalog.status"
#define OP_CATALOG_UPDATE	"catalog.update"

/* ---- agent-runtime: tools and profiles (tool/tool.c, tool/profile.c) --- */
#define OP_TOOLS_LIST		"tools.list"
#define OP_TOOLS_GET		"tools.get"
#define OP_PROFILES_LIST	"profiles.list"
#define OP_PROFILES_GET		"profiles.get"

/* ---- agent-runtime: tools run outside the agent loop, for direct
 * invocation and the gateway's MCP server (issue 8, mcpserver:
 * tool/invoke.c) ---------------------------------------------------------- */
#define OP_TOOLS_INVOKE		"tools.invoke"
#define PARAM_VIA		"via"		/* "mcp": the MCP server */

/* ---- agent-runtime: templates and slash commands (agent/templates.c) --- */
#define OP_TEMPLATES_LIST	"templates.list"
#define OP_TEMPLATES_GET	"templates.get"
#define OP_TEMPLATES_TOML	"templates.toml"
#define OP_COMMANDS_LIST	"commands.list"
#define OP_COMMANDS_GET		"commands.get"

/* ---- agent-runtime: uploads and workspace files (files/files.c) -------- */
#define OP_UPLOADS_CREATE	"uploads.create"
#define OP_UPLOADS_GET		"uploads.get"
#define OP_AGENTS_FILES_LIST	"agents.files_list"
#define OP_AGENTS_FILES_GET	"agents.files_get"
#define OP_AGENTS_FILES_PUT	"agents.files_put"
#define OP_AGENTS_FILES_DELETE	"agents.files_delete"

/* ---- agent-runtime: the MCP client, issue 8 mcpclient (mcp/ops.c) ----- */
#define OP_MCP_SERVERS_LIST		"mcp.servers.list"
#define OP_MCP_SERVERS_ADD		"mcp.servers.add"
#define OP_MCP_SERVERS_GET		"mcp.servers.get"
#define OP_MCP_SERVERS_UPDATE		"mcp.servers.update"
#define OP_MCP_SERVERS_DELETE		"mcp.servers.delete"
#define OP_MCP_SERVERS_RECONNECT	"mcp.servers.reconnect"
#define OP_MCP_CATALOG_LIST		"mcp.catalog.list"
#define OP_MCP_CATALOG_GET		"mcp.catalog.get"
#define OP_MCP_HEALTH			"mcp.health"
#define OP_MCP_RELOAD			"mcp.reload"
#define OP_INTEGRATIONS_LIST		"integrations.list"
#define OP_INTEGRATIONS_AVAILABLE	"integrations.available"
#define OP_INTEGRATIONS_ADD		"integrations.add"
#define OP_INTEGRATIONS_DELETE		"integrations.delete"
#define OP_INTEGRATIONS_RECONNECT	"integrations.reconnect"
#define OP_INTEGRATIONS_HEALTH		"integrations.health"
#define OP_INTEGRATIONS_RELOAD		"integrations.reload"

/* ---- agent-runtime: skills (skill/ops.c; issue 15) --------------------- */
#define OP_SKILLS_LIST		"skills.list"
#define OP_SKILLS_GET		"skills.get"
#define OP_SKILLS_FILE		"skills.file"
#define OP_SKILLS_CREATE	"skills.create"
#define OP_SKILLS_INSTALL	"skills.install"
#define OP_SKILLS_UNINSTALL	"skills.uninstall"
#define OP_SKILLS_RELOAD	"skills.reload"
#define OP_SKILLS_REGISTRY	"skills.registry"
#define OP_MARKETPLACE_SEARCH	"marketplace.search"

/* ---- memory: key-value memory (services/memory/kv.c) ------------------- */
#define OP_MEMORY_KV_GET	"memory.kv.get"
#define OP_MEMORY_KV_SET	"memory.kv.set"
#define OP_MEMORY_KV_DELETE	"memory.kv.delete"
#define OP_MEMORY_KV_LIST	"memory.kv.list"
#define OP_MEMORY_KV_PAIRS	"memory.kv.pairs"	/* {kv_pairs} */
#define OP_MEMORY_KV_EXPORT	"memory.kv.export"
#define OP_MEMORY_KV_IMPORT	"memory.kv.import"

/* ---- memory: proactive memory (services/memory/items.c, search.c,
 * relations.c) and auto-dream (dream.c); issue 10, part "memory" -------- */
#define OP_MEMORY_ITEMS_ADD		"memory.items.add"
#define OP_MEMORY_ITEMS_LIST		"memory.items.list"	/* all, by
								   user, by
								   agent */
#define OP_MEMORY_ITEMS_UPDATE		"memory.items.update"
#define OP_MEMORY_ITEMS_DELETE		"memory.items.delete"
#define OP_MEMORY_ITEMS_HISTORY		"memory.items.history"
#define OP_MEMORY_ITEMS_BULK_DELETE	"memory.items.bulk_delete"
#define OP_MEMORY_ITEMS_CLEAR		"memory.items.clear"	/* agent,
								   level */
#define OP_MEMORY_ITEMS_COUNT		"memory.items.count"
#define OP_MEMORY_STATS			"memory.stats"
#define OP_MEMORY_CLEANUP		"memory.cleanup"
#define OP_MEMORY_DECAY			"memory.decay"
#define OP_MEMORY_EXPORT		"memory.export"
#define OP_MEMORY_IMPORT		"memory.import"
#define OP_MEMORY_SEARCH		"memory.search"
#define OP_MEMORY_DUPLICATES		"memory.duplicates"
#define OP_MEMORY_CONSOLIDATE		"memory.consolidate"
#define OP_MEMORY_RELATIONS_GET		"memory.relations.get"
#define OP_MEMORY_RELATIONS_STORE	"memory.relations.store"
#define OP_AUTODREAM_STATUS		"autodream.status"
#define OP_AUTODREAM_TRIGGER		"autodream.trigger"
#define OP_AUTODREAM_ENABLE		"autodream.enable"
#define OP_AUTODREAM_ABORT		"autodream.abort"
/* agent-runtime, for auto-dream only: each agent's manifest gates and
 * the sessions it touched since a given instant (agent/ops.c). */
#define OP_AGENTS_DREAM			"agents.dream"

/* ---- agent-runtime: A2A, both ways (a2a/; issue 8, part "a2a") ---------- */
#define OP_A2A_AGENTS		"a2a.agents"		/* local agents */
#define OP_A2A_TASKS_SEND	"a2a.tasks.send"	/* inbound task */
#define OP_A2A_TASKS_GET	"a2a.tasks.get"
#define OP_A2A_TASKS_CANCEL	"a2a.tasks.cancel"
#define OP_A2A_TASKS_LIST	"a2a.tasks.list"	/* inbound, filtered */
#define OP_A2A_DISCOVER		"a2a.discover"		/* fetch a peer's card */
#define OP_A2A_PEERS_LIST	"a2a.peers.list"	/* known peers */
#define OP_A2A_PEERS_GET	"a2a.peers.get"
#define OP_A2A_SEND		"a2a.send"		/* outbound task */
#define OP_A2A_OUT_GET		"a2a.out.get"
#define OP_A2A_OUT_STATUS	"a2a.out.status"

/* ---- agent-runtime: comms, inter-agent messages (comms/ops.c; issue 8,
 * part "comms") ---------------------------------------------------------- */
#define OP_COMMS_TOPOLOGY	"comms.topology"
#define OP_COMMS_EVENTS		"comms.events"
#define OP_COMMS_SEND		"comms.send"
#define OP_COMMS_TASK		"comms.task"

/* ---- scheduler: schedules and cron jobs, one store (job/ops.c; issue 9,
 * part "jobs") ----------------------------------------------------------- */
#define OP_CRON_JOBS_LIST	"cron.jobs.list"
#define OP_CRON_JOBS_CREATE	"cron.jobs.create"
#define OP_CRON_JOBS_GET	"cron.jobs.get"
#define OP_CRON_JOBS_UPDATE	"cron.jobs.update"
#define OP_CRON_JOBS_DELETE	"cron.jobs.delete"
#define OP_CRON_JOBS_ENABLE	"cron.jobs.enable"
#define OP_CRON_JOBS_STATUS	"cron.jobs.status"
#define OP_SCHEDULES_LIST	"schedules.list"
#define OP_SCHEDULES_CREATE	"schedules.create"
#define OP_SCHEDULES_GET	"schedules.get"
#define OP_SCHEDULES_UPDATE	"schedules.update"
#define OP_SCHEDULES_DELETE	"schedules.delete"
#define OP_SCHEDULES_RUN	"schedules.run"		/* fires now */

/* ---- scheduler: triggers (trigger/ops.c; issue 9, part "triggers") ------ */
#define OP_TRIGGERS_LIST	"triggers.list"
#define OP_TRIGGERS_CREATE	"triggers.create"
#define OP_TRIGGERS_GET		"triggers.get"
#define OP_TRIGGERS_PATCH	"triggers.patch"	/* PATCH: the trigger */
#define OP_TRIGGERS_UPDATE	"triggers.update"	/* PUT: {status} */
#define OP_TRIGGERS_DELETE	"triggers.delete"

/* ---- agent-runtime: budgets and usage (budget/; issue 10, part
 * "budget") ------------------------------------------------------------- */
#define OP_BUDGET_GET		"budget.get"
#define OP_BUDGET_PUT		"budget.put"
#define OP_BUDGET_AGENTS	"budget.agents"
#define OP_BUDGET_AGENT_GET	"budget.agent.get"
#define OP_BUDGET_AGENT_PUT	"budget.agent.put"
#define OP_USAGE_STATS		"usage.stats"
#define OP_USAGE_SUMMARY	"usage.summary"
#define OP_USAGE_BY_MODEL	"usage.by_model"
#define OP_USAGE_DAILY		"usage.daily"

/* ---- agent-runtime: approvals (approval/; issue 12, part
 * "approvals") ------------------------------------------------------------ */
#define OP_APPROVALS_LIST	"approvals.list"
#define OP_APPROVALS_CREATE	"approvals.create"
#define OP_APPROVALS_GET	"approvals.get"
#define OP_APPROVALS_APPROVE	"approvals.approve"
#define OP_APPROVALS_REJECT	"approvals.reject"
#define OP_APPROVALS_MODIFY	"approvals.modify"
#define OP_APPROVALS_BATCH	"approvals.batch"
#define OP_APPROVALS_COUNT	"approvals.count"
#define OP_APPROVALS_AUDIT	"approvals.audit"
#define OP_APPROVALS_SESSION	"approvals.session"

/* ---- agent-runtime: the TOTP second factor of approvals
 * (approval/totp_ops.c; issue 12, part "totp") ----------------------------- */
#define OP_APPROVALS_TOTP_SETUP		"approvals.totp.setup"
#define OP_APPROVALS_TOTP_CONFIRM	"approvals.totp.confirm"
#define OP_APPROVALS_TOTP_STATUS	"approvals.totp.status"
#define OP_APPROVALS_TOTP_REVOKE	"approvals.totp.revoke"

/* ---- scheduler: goals, the task queue and the inbox (goal/, task/;
 * issue 9, part "goals") -------------------------------------------------- */
#define OP_GOALS_LIST		"goals.list"
#define OP_GOALS_CREATE		"goals.create"
#define OP_GOALS_GET		"goals.get"
#define OP_GOALS_UPDATE		"goals.update"
#define OP_GOALS_DELETE		"goals.delete"		/* and descendants */
#define OP_GOALS_CHILDREN	"goals.children"
#define OP_GOALS_TEMPLATES	"goals.templates"
#define OP_TASKS_POST		"tasks.post"		/* task_post tool */
#define OP_TASKS_CLAIM		"tasks.claim"		/* task_claim tool */
#define OP_TASKS_COMPLETE	"tasks.complete"	/* task_complete tool */
#define OP_TASKS_GET		"tasks.get"		/* task_status tool */
#define OP_TASKS_LIST		"tasks.list"		/* and task_list */
#define OP_TASKS_STATUS		"tasks.status"		/* counts */
#define OP_TASKS_CANCEL		"tasks.cancel"
#define OP_TASKS_RETRY		"tasks.retry"
#define OP_QUEUE_STATUS		"queue.status"
#define OP_INBOX_STATUS		"inbox.status"

/* ---- scheduler: workflows and their runs (workflow/ops.c; issue 9, part
 * "workflows") ------------------------------------------------------------ */
#define OP_WORKFLOWS_LIST	"workflows.list"
#define OP_WORKFLOWS_CREATE	"workflows.create"
#define OP_WORKFLOWS_GET	"workflows.get"
#define OP_WORKFLOWS_UPDATE	"workflows.update"
#define OP_WORKFLOWS_DELETE	"workflows.delete"
#define OP_WORKFLOWS_RUN	"workflows.run"		/* also for schedules
							   and triggers */
#define OP_WORKFLOWS_RUNS	"workflows.runs"

/* ---- audit: the chain (services/audit/chain.c; issue 10, part "audit") -- */
#define OP_AUDIT_APPEND		"audit.append"	/* from the outbox relays */
#define OP_AUDIT_RECENT		"audit.recent"
#define OP_AUDIT_VERIFY		"audit.verify"
/* Backup and restore (the audit service: services/audit/README.md). */
#define OP_BACKUP_CREATE	"backup.create"
#define OP_BACKUP_LIST		"backup.list"
#define OP_BACKUP_DELETE	"backup.delete"
#define OP_BACKUP_RESTORE	"backup.restore"

/* ---- channels: adapters, messages, deliveries (services/channels/
 * chan_ops.c; issue 13) ---------------------------------------------------- */
#define OP_CHANNELS_LIST	"channels.list"
#define OP_CHANNELS_GET		"channels.get"
#define OP_CHANNELS_DELIVERIES	"channels.deliveries"
#define OP_CHANNELS_QR		"channels.qr"
#define OP_CHANNELS_CONFIGURE	"channels.configure"
#define OP_CHANNELS_UNCONFIGURE	"channels.unconfigure"
#define OP_CHANNELS_RELOAD	"channels.reload"
#define OP_CHANNELS_TEST	"channels.test"
#define OP_CHANNELS_WA_QR_START	"channels.whatsapp_qr_start"
#define OP_CHANNELS_WA_QR_STATUS "channels.whatsapp_qr_status"
#define OP_CHANNELS_APPROVAL_PROMPT "channels.approval_prompt"
#define OP_BINDINGS_LIST	"bindings.list"
#define OP_BINDINGS_ADD		"bindings.add"
#define OP_BINDINGS_REMOVE	"bindings.remove"

/* ---- channels: outbound webhooks (chan_webhook.c, chan_hookout.c; issue
 * 12, part "webhooks") ----------------------------------------------------- */
#define OP_WEBHOOKS_LIST	"webhooks.list"
#define OP_WEBHOOKS_CREATE	"webhooks.create"
#define OP_WEBHOOKS_GET		"webhooks.get"
#define OP_WEBHOOKS_UPDATE	"webhooks.update"
#define OP_WEBHOOKS_DELETE	"webhooks.delete"
#define OP_WEBHOOKS_TEST	"webhooks.test"
#define OP_WEBHOOK_EVENTS_LIST	"webhooks.events.list"
#define OP_WEBHOOK_EVENTS_CREATE "webhooks.events.create"
#define OP_WEBHOOK_EVENTS_UPDATE "webhooks.events.update"
#define OP_WEBHOOK_EVENTS_DELETE "webhooks.events.delete"

/* ---- agent-runtime: inbound webhooks (a2a/hook.c; issue 12, part
 * "webhooks"): the gateway has checked LIBREFANG_WEBHOOK_TOKEN ------------ */
#define OP_HOOKS_WAKE		"hooks.wake"
#define OP_HOOKS_AGENT		"hooks.agent"

/* ---- route parameters ---------------------------------------------------- */

/*
 * What the gateway puts in a request's params, named after the {name} of
 * the route's path (proto/messages.md, "Route parameters").
 */
#define PARAM_ID		"id"		/* the resource a path names */
#define PARAM_NAME		"name"		/* a resource known by name */
#define PARAM_SESSION_ID	"session_id"	/* a session under an agent */
#define PARAM_LABEL		"label"		/* a session's label */
#define PARAM_KEY		"key"		/* a memory key */

#endif /* PROTO_OPS_H */
