/*
 * tool/profile.c - tool profiles (notes/agent-core.md 8.3): the one table
 * that both grants and shows them.  A manifest's "profile" applies when
 * its capabilities.tools is empty, and then stands for the profile's
 * tools exactly as if they were that list (tool_granted()), and for its
 * memory globs where the manifest's own memory_read / memory_write are
 * empty (the kv tools).  GET /api/profiles shows the same rows.
 */
#include <string.h>

#include "svc.h"
#include "tool/tool.h"

static const char *const tp_minimal[] = { "file_read", "file_list", NULL };
static const char *const tp_coding[] = {
	"file_read", "file_write", "file_list", "shell_exec", "web_fetch",
	NULL
};
static const char *const tp_research[] = {
	"web_fetch", "file_read", "file_write", "file_list", NULL
};
static const char *const tp_messaging[] = {
	"agent_send", "agent_list", "notify_owner", "kv_get", "kv_set", NULL
};
static const char *const tp_automation[] = {
	"file_read", "file_write", "file_list", "shell_exec", "web_fetch",
	"agent_send", "agent_list", "notify_owner", "kv_get", "kv_set", NULL
};
static const char *const tp_all[] = { "*", NULL };

/* memory_write is always "self.*" for a profile (notes 8.3). */
static const struct tool_profile tool_profiles[] = {
	{ "minimal", "Read-only look at the agent's own workspace.",
	    tp_minimal,
	    "{\"memory_read\": [\"self.*\"], \"memory_write\": [\"self.*\"]}" },
	{ "coding", "Write and run code: workspace files, the shell and "
	    "web pages.", tp_coding,
	    "{\"network\": [\"*\"], \"shell\": [\"*\"]}" },
	{ "research", "Read the web and keep notes in the workspace.",
	    tp_research,
	    "{\"network\": [\"*\"]}" },
	{ "messaging", "Talk to other agents and the owner, and remember "
	    "facts.", tp_messaging,
	    "{\"agent_spawn\": true, \"agent_message\": [\"*\"], "
	    "\"memory_read\": [\"*\"], \"memory_write\": [\"self.*\"]}" },
	{ "automation", "Everything of coding, research and messaging "
	    "together.", tp_automation,
	    "{\"network\": [\"*\"], \"shell\": [\"*\"], \"agent_spawn\": true, "
	    "\"agent_message\": [\"*\"], \"memory_read\": [\"*\"], "
	    "\"memory_write\": [\"self.*\"]}" },
	{ "full", "Every built-in tool.", tp_all,
	    "{\"network\": [\"*\"], \"shell\": [\"*\"], \"agent_spawn\": true, "
	    "\"agent_message\": [\"*\"], \"memory_read\": [\"*\"], "
	    "\"memory_write\": [\"self.*\"]}" },
	{ NULL, NULL, NULL, NULL }
};

const struct tool_profile *
tool_profile_find(const char *name)
{
	const struct tool_profile	*p;

	if (name == NULL)
		return (NULL);
	/* "custom" is the manifest's way of saying "full" (not listed). */
	if (strcmp(name, "custom") == 0)
		name = "full";
	for (p = tool_profiles; p->tp_name != NULL; p++)
		if (strcmp(p->tp_name, name) == 0)
			return (p);
	return (NULL);
}

json_t *
tool_profile_tools(const struct tool_profile *p)
{
	const char *const	*l;
	json_t			*a;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (l = p->tp_tools; *l != NULL; l++)
		if (json_array_append_new(a, json_string(*l)) != 0) {
			json_decref(a);
			return (NULL);
		}
	return (a);
}

json_t *
tool_profile_caps(const struct tool_profile *p)
{
	return (json_loads(p->tp_caps, 0, NULL));
}

static json_t *
tool_profile_view(const struct tool_profile *p)
{
	return (json_pack("{s:s, s:s, s:o, s:o}", "name", p->tp_name,
	    "description", p->tp_desc, "tools", tool_profile_tools(p),
	    "capabilities", tool_profile_caps(p)));
}

void
tool_op_profiles_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct tool_profile	*p;
	json_t				*list;

	(void)c;
	(void)rq;
	list = json_array();
	for (p = tool_profiles; p->tp_name != NULL; p++)
		svc_list_add(&list, tool_profile_view(p));
	svc_reply_list(rp, "profiles", list);
}

void
tool_op_profiles_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const struct tool_profile	*p;
	const char			*name;

	(void)c;
	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	/* Only the listed names: "custom" is not a profile one can show. */
	if ((p = tool_profile_find(name)) == NULL ||
	    strcmp(p->tp_name, name) != 0) {
		svc_reply_not_found(rp, "Profile", name);
		return;
	}
	svc_reply_json(rp, 200, tool_profile_view(p));
}
