/*
 * agent/templates.c - agent templates and chat slash commands: the
 * templates.* and commands.* operations (GET /api/templates,
 * /api/commands and their {name} forms).  Tool profiles are in
 * tool/profile.c.
 *
 * Templates are the embedded manifests of agent/templates/ (tmpl_files[],
 * made by deploy/file2c.sh); each answer parses the text again with the
 * manifest parser, so what is listed is exactly what a spawn would get.
 * Commands (notes 9) are a static table.  Unknown names are 404
 * {"error": "..."}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/templates.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "svc.h"

#define TMPL_CTYPE_TOML	"text/plain; charset=utf-8"

/* ---- templates ------------------------------------------------------- */

const struct embed_file *
tmpl_find(const char *name)
{
	const struct embed_file	*tf;

	if (name == NULL)
		return (NULL);
	for (tf = tmpl_files; tf->ef_name != NULL; tf++)
		if (strcmp(tf->ef_name, name) == 0)
			return (tf);
	return (NULL);
}

/* The template named by params.name, or NULL after a 400/404 reply. */
static const struct embed_file *
tmpl_param(const struct msg_req *rq, struct svc_reply *rp)
{
	const struct embed_file	*tf;
	const char		*name;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return (NULL);
	if ((tf = tmpl_find(name)) == NULL)
		svc_reply_not_found(rp, "Template", name);
	return (tf);
}

/* The normalised manifest of a template (new), or NULL after a 500
 * reply: an embedded template that does not parse is our bug. */
static json_t *
tmpl_manifest(const struct embed_file *tf, struct svc_reply *rp)
{
	json_t	*m;
	char	 err[AGENT_ERRLEN];

	if ((m = agent_manifest_parse(tf->ef_text, tf->ef_len, err,
	    sizeof(err))) == NULL) {
		log_warnx("template '%s': %s", tf->ef_name, err);
		svc_reply_error(rp, 500, "template '%s' is broken: %s",
		    tf->ef_name, err);
	}
	return (m);
}

static json_t *
tmpl_list_or_empty(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_array(v) ? json_incref(v) : json_array());
}

static json_t *
tmpl_summary(const struct embed_file *tf, json_t *m)
{
	json_t	*model = json_object_get(m, "model");
	char	 path[AGENT_NAME_MAX + 16];

	snprintf(path, sizeof(path), "builtin:%s", tf->ef_name);
	return (json_pack("{s:s, s:O?, s:s, s:O?, s:O?, s:o, s:o}",
	    "name", tf->ef_name,
	    "description", json_object_get(m, "description"),
	    "path", path,
	    "provider", json_object_get(model, "provider"),
	    "model", json_object_get(model, "model"),
	    "tags", tmpl_list_or_empty(m, "tags"),
	    "tools", tmpl_list_or_empty(json_object_get(m, "capabilities"),
	    "tools")));
}

static void
op_templates_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct embed_file	*tf;
	json_t			*list, *m;

	(void)c;
	(void)rq;
	list = json_array();
	for (tf = tmpl_files; tf->ef_name != NULL; tf++) {
		if ((m = tmpl_manifest(tf, rp)) == NULL) {
			json_decref(list);
			return;
		}
		svc_list_add(&list, tmpl_summary(tf, m));
		json_decref(m);
	}
	svc_reply_list(rp, "templates", list);
}

static void
op_templates_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct embed_file	*tf;
	json_t			*m;

	(void)c;
	if ((tf = tmpl_param(rq, rp)) == NULL ||
	    (m = tmpl_manifest(tf, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, json_pack("{s:s, s:o, s:s%}", "name",
	    tf->ef_name, "manifest", m, "manifest_toml", tf->ef_text,
	    tf->ef_len));
}

static void
op_templates_toml(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct embed_file	*tf;

	(void)c;
	if ((tf = tmpl_param(rq, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, json_stringn(tf->ef_text, tf->ef_len));
	if (rp->sr_status == 200)
		rp->sr_ctype = TMPL_CTYPE_TOML;
}

/* ---- slash commands (notes 9) ---------------------------------------- */

/* Where a command is understood. */
#define TC_WEB		0x1	/* web chat and the WebSocket */
#define TC_CHANNEL	0x2	/* channel bots */

struct tmpl_command {
	const char	*tc_name;
	const char	*tc_alias;	/* NULL: none */
	const char	*tc_args;	/* NULL: takes no arguments */
	const char	*tc_desc;
	const char	*tc_exec;	/* web: "server" (a WebSocket command
					   frame), "client", or NULL */
	int		 tc_scope;
};

static const struct tmpl_command tmpl_commands[] = {
	/* Session */
	{ "help", NULL, NULL, "Show the available commands", "client",
	    TC_WEB | TC_CHANNEL },
	{ "new", NULL, NULL, "Start a new session (history kept aside)",
	    "server", TC_WEB | TC_CHANNEL },
	{ "reset", NULL, NULL, "Summarise and clear every session of the "
	    "agent, then start afresh", "server", TC_WEB },
	{ "reboot", NULL, NULL, "Clear the agent's context without a "
	    "summary", "server", TC_WEB | TC_CHANNEL },
	{ "compact", NULL, NULL, "Compact the session history with the "
	    "model", "server", TC_WEB | TC_CHANNEL },
	{ "model", NULL, "[name]", "Show the current model, or switch to "
	    "another one", "server", TC_WEB | TC_CHANNEL },
	{ "stop", NULL, NULL, "Cancel the agent's current run", "server",
	    TC_WEB | TC_CHANNEL },
	{ "usage", NULL, NULL, "Show the session's token usage and cost",
	    "server", TC_WEB | TC_CHANNEL },
	{ "think", NULL, "[on|off|stream]", "Turn extended thinking on or "
	    "off", NULL, TC_WEB | TC_CHANNEL },
	{ "context", NULL, NULL, "Show how full the context window is",
	    "server", TC_WEB },
	{ "verbose", NULL, "[off|on|full]", "Choose how much tool detail is "
	    "shown", "server", TC_WEB },
	{ "queue", NULL, NULL, "Show whether the agent is busy", "server",
	    TC_WEB },
	{ "status", NULL, NULL, "Show the system status", NULL,
	    TC_WEB | TC_CHANNEL },
	{ "budget", NULL, NULL, "Show spending limits and what is used",
	    "server", TC_WEB | TC_CHANNEL },
	{ "peers", NULL, NULL, "List the connected network peers", "server",
	    TC_WEB | TC_CHANNEL },
	{ "a2a", NULL, NULL, "List the known A2A agents", NULL,
	    TC_WEB | TC_CHANNEL },
	{ "agents", NULL, NULL, "List the agents", "client",
	    TC_WEB | TC_CHANNEL },
	{ "agent", NULL, "<name>", "Talk to another agent in this chat", NULL,
	    TC_CHANNEL },
	{ "clear", NULL, NULL, "Clear the chat window", "client", TC_WEB },
	{ "info", NULL, NULL, "Show details of the current agent", "client",
	    TC_WEB },
	{ "exit", "quit", NULL, "Leave the chat", "client", TC_WEB },
	/* Information (channels) */
	{ "models", NULL, NULL, "List the available models", NULL,
	    TC_CHANNEL },
	{ "providers", NULL, NULL, "List the model providers and whether "
	    "they have a key", NULL, TC_CHANNEL },
	{ "skills", NULL, NULL, "List the installed skills", NULL,
	    TC_CHANNEL },
	{ "hands", NULL, NULL, "List the available hands", NULL, TC_CHANNEL },
	/* Automation (channels) */
	{ "workflows", NULL, NULL, "List the workflows", NULL, TC_CHANNEL },
	{ "workflow", NULL, "run <name> [input]", "Run a workflow", NULL,
	    TC_CHANNEL },
	{ "triggers", NULL, NULL, "List the event triggers", NULL,
	    TC_CHANNEL },
	{ "trigger", NULL, "add <agent> <pattern> <prompt> | del <id>",
	    "Add or delete an event trigger", NULL, TC_CHANNEL },
	{ "schedules", NULL, NULL, "List the schedules", NULL, TC_CHANNEL },
	{ "schedule", NULL, "add <agent> <cron> <message> | del <id> | "
	    "run <id>", "Add, delete or run a schedule", NULL, TC_CHANNEL },
	{ "approvals", NULL, NULL, "List the pending approvals", NULL,
	    TC_CHANNEL },
	{ "approve", NULL, "<id>", "Approve a pending action", NULL,
	    TC_CHANNEL },
	{ "reject", NULL, "<id>", "Reject a pending action", NULL,
	    TC_CHANNEL },
	/* Misc (channels) */
	{ "btw", NULL, "<question>", "Ask a side question that is not kept "
	    "in the history", NULL, TC_CHANNEL },
	{ "start", NULL, NULL, "Say hello and show how to begin", NULL,
	    TC_CHANNEL },
	{ NULL, NULL, NULL, NULL, NULL, 0 }
};

static json_t *
tmpl_command_view(const struct tmpl_command *tc)
{
	json_t	*o, *sc;
	char	 cmd[64];

	snprintf(cmd, sizeof(cmd), "/%s", tc->tc_name);
	sc = json_array();
	if (sc != NULL && (tc->tc_scope & TC_WEB))
		json_array_append_new(sc, json_string("web"));
	if (sc != NULL && (tc->tc_scope & TC_CHANNEL))
		json_array_append_new(sc, json_string("channel"));
	o = json_pack("{s:s, s:s, s:s, s:b, s:o}", "cmd", cmd, "name",
	    tc->tc_name, "desc", tc->tc_desc, "no_args", tc->tc_args == NULL,
	    "scopes", sc);
	if (o == NULL)
		return (NULL);
	if (tc->tc_args != NULL) {
		snprintf(cmd, sizeof(cmd), "/%s %s", tc->tc_name, tc->tc_args);
		if (json_object_set_new(o, "args_hint",
		    json_string(tc->tc_args)) != 0 ||
		    json_object_set_new(o, "usage", json_string(cmd)) != 0)
			goto fail;
	} else if (json_object_set_new(o, "usage", json_string(cmd)) != 0)
		goto fail;
	if (tc->tc_alias != NULL && json_object_set_new(o, "aliases",
	    json_pack("[s]", tc->tc_alias)) != 0)
		goto fail;
	if (tc->tc_exec != NULL && (tc->tc_scope & TC_WEB) &&
	    json_object_set_new(o, "exec", json_string(tc->tc_exec)) != 0)
		goto fail;
	return (o);
 fail:
	json_decref(o);
	return (NULL);
}

/* query.scope: "web" (the default: the web chat's menu), "channel" or
 * "all"; -1 after a 400 reply. */
static int
tmpl_command_scope(const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, "scope");
	const char	*s;

	if (v == NULL)
		return (TC_WEB);
	s = json_string_value(v);
	if (s != NULL && strcmp(s, "web") == 0)
		return (TC_WEB);
	if (s != NULL && strcmp(s, "channel") == 0)
		return (TC_CHANNEL);
	if (s != NULL && strcmp(s, "all") == 0)
		return (TC_WEB | TC_CHANNEL);
	svc_reply_error(rp, 400, "'scope' must be web, channel or all");
	return (-1);
}

static void
op_commands_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct tmpl_command	*tc;
	json_t				*list;
	int				 scope;

	(void)c;
	if ((scope = tmpl_command_scope(rq, rp)) < 0)
		return;
	list = json_array();
	for (tc = tmpl_commands; tc->tc_name != NULL; tc++)
		if ((tc->tc_scope & scope) != 0)
			svc_list_add(&list, tmpl_command_view(tc));
	svc_reply_list(rp, "commands", list);
}

/* GET /api/commands/{name}: with or without the slash, any case, aliases
 * too, on any surface. */
static void
op_commands_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct tmpl_command	*tc;
	const char			*name;

	(void)c;
	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	if (*name == '/')
		name++;
	for (tc = tmpl_commands; tc->tc_name != NULL; tc++)
		if (strcasecmp(tc->tc_name, name) == 0 ||
		    (tc->tc_alias != NULL && strcasecmp(tc->tc_alias,
		    name) == 0)) {
			svc_reply_json(rp, 200, tmpl_command_view(tc));
			return;
		}
	svc_reply_not_found(rp, "Command", name);
}

const struct svc_op tmpl_ops[] = {
	{ OP_TEMPLATES_LIST,	op_templates_list },
	{ OP_TEMPLATES_GET,	op_templates_get },
	{ OP_TEMPLATES_TOML,	op_templates_toml },
	{ OP_COMMANDS_LIST,	op_commands_list },
	{ OP_COMMANDS_GET,	op_commands_get },
	{ NULL,			NULL }
};
