/*
 * agent/lists.c - one agent's tool, skill and MCP server lists:
 *
 *	agents.tools_get   GET /api/agents/{id}/tools
 *	agents.tools_set   PUT /api/agents/{id}/tools
 *	agents.skills_get  GET /api/agents/{id}/skills
 *	agents.skills_set  PUT /api/agents/{id}/skills
 *	agents.mcp_get     GET /api/agents/{id}/mcp_servers
 *	agents.mcp_set     PUT /api/agents/{id}/mcp_servers
 *
 * A set is a read-modify-write of the manifest like agent/edit.c's: lock
 * the row, change a copy, normalise, write back only if the version is
 * unchanged, commit, publish agent_updated.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "err.h"
#include "mcp/mcp.h"
#include "skill/skill.h"
#include "ops.h"

#define LIST_MAX	256	/* entries of one list */
#define LIST_ENTRY_MAX	256	/* bytes of one entry */

/* Applies body to manifest m (a copy); 0, or -1 after replying. */
typedef int (*list_apply_fn)(json_t *body, json_t *m, struct svc_reply *rp);
/* The reply body for the manifest after the change (new). */
typedef json_t *(*list_view_fn)(struct svc_ctx *c, json_t *m);

static json_t *
list_or_empty(json_t *m, const char *key)
{
	json_t	*v = json_object_get(m, key);

	return (json_is_array(v) ? json_incref(v) : json_array());
}

/* body.key is absent (0, *out NULL), or an array of strings (0). */
static int
list_arg(json_t *body, const char *key, json_t **out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key), *e;
	size_t	 i;

	*out = NULL;
	if (v == NULL)
		return (0);
	if (!json_is_array(v) || json_array_size(v) > LIST_MAX) {
		svc_reply_error(rp, 400, "'%s' must be an array of at most %d "
		    "strings", key, LIST_MAX);
		return (-1);
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > LIST_ENTRY_MAX ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			svc_reply_error(rp, 400, "'%s[%zu]' must be a string "
			    "of 1-%d bytes", key, i, LIST_ENTRY_MAX);
			return (-1);
		}
	}
	*out = v;
	return (0);
}

/* ---- views ------------------------------------------------------------ */

static json_t *
tools_view(struct svc_ctx *c, json_t *m)
{
	(void)c;
	return (json_pack("{s:o, s:o, s:o, s:b}",
	    "capabilities_tools", list_or_empty(json_object_get(m,
	    "capabilities"), "tools"),
	    "tool_allowlist", list_or_empty(m, "tool_allowlist"),
	    "tool_blocklist", list_or_empty(m, "tool_blocklist"),
	    "disabled", json_is_true(json_object_get(m, "tools_disabled"))));
}

static json_t *
skills_view(struct svc_ctx *c, json_t *m)
{
	json_t	*avail;

	/* available: the enabled skills (skill/), by name. */
	if ((avail = skill_enabled_names(c->sc_db)) == NULL)
		avail = json_array();
	return (json_pack("{s:o, s:o, s:s, s:b}",
	    "assigned", list_or_empty(m, "skills"), "available", avail,
	    "mode", skill_mode(m),
	    "disabled", json_is_true(json_object_get(m, "skills_disabled"))));
}

static const char *
mcp_mode(json_t *m)
{
	json_t		*l = json_object_get(m, "mcp_servers"), *e;
	size_t		 i;

	if (json_array_size(l) == 0)
		return ("none");
	json_array_foreach(l, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), "*") == 0)
			return ("all");
	return ("allowlist");
}

static json_t *
mcp_view(struct svc_ctx *c, json_t *m)
{
	(void)c;
	/* available: the servers configured (mcp/), by name. */
	return (json_pack("{s:o, s:o, s:s}",
	    "assigned", list_or_empty(m, "mcp_servers"), "available",
	    mcp_server_names(), "mode", mcp_mode(m)));
}

/* ---- gets ------------------------------------------------------------- */

static void
list_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    list_view_fn view)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*row;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if ((row = agent_fetch(c, id, 0, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, view(c, json_object_get(row, "manifest")));
	json_decref(row);
}

static void
op_tools_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_get(c, rq, rp, tools_view);
}

static void
op_skills_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_get(c, rq, rp, skills_view);
}

static void
op_mcp_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_get(c, rq, rp, mcp_view);
}

/* ---- sets ------------------------------------------------------------- */

static void
list_set(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    const char *const *allowed, list_apply_fn apply, list_view_fn view)
{
	char		 id[UTIL_UUID_LEN], err[AGENT_ERRLEN];
	json_t		*row = NULL, *m = NULL, *body = rq->mr_body;
	const char	*name, *mode;
	int		 in_tx = 0;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    agent_body_keys(body, allowed, rp) != 0)
		return;
	/* Check the body fully before the database (apply on a dummy). */
	if ((m = json_object()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	if (apply(body, m, rp) != 0)
		goto done;
	json_decref(m);
	m = NULL;
	if (agent_edit_begin(c, id, &row, &m, rp) != 0)
		return;
	in_tx = 1;
	if (apply(body, m, rp) != 0)
		goto done;
	if (agent_manifest_normalize(m, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		goto done;
	}
	name = json_string_value(json_object_get(row, "name"));
	mode = json_string_value(json_object_get(row, "mode"));
	if (agent_edit_commit(c, row, name, m, NULL, json_object_get(row,
	    "identity"), mode, rp) != 0)
		goto done;
	in_tx = 0;
	agent_publish(c->sc_arg, rq, "agent_updated", id, name);
	svc_reply_json(rp, 200, view(c, m));
 done:
	if (in_tx)
		agent_store_rollback(c->sc_db);
	json_decref(row);
	json_decref(m);
}

/* agents.tools_set: {capabilities_tools?, tool_allowlist?,
 * tool_blocklist?}, at least one; a write enables tools again. */

static const char *const tools_keys[] = {
	"capabilities_tools", "tool_allowlist", "tool_blocklist", NULL
};

static int
apply_tools(json_t *body, json_t *m, struct svc_reply *rp)
{
	json_t	*caps, *t, *a, *b;

	if (!json_is_object(body) || json_object_size(body) == 0) {
		svc_reply_error(rp, 400, "give at least one of "
		    "capabilities_tools, tool_allowlist, tool_blocklist");
		return (-1);
	}
	if (list_arg(body, "capabilities_tools", &t, rp) != 0 ||
	    list_arg(body, "tool_allowlist", &a, rp) != 0 ||
	    list_arg(body, "tool_blocklist", &b, rp) != 0)
		return (-1);
	if (t != NULL) {
		caps = json_object_get(m, "capabilities");
		if (!json_is_object(caps)) {
			caps = json_object();
			if (json_object_set_new(m, "capabilities", caps) != 0)
				goto nomem;
		}
		if (json_object_set(caps, "tools", t) != 0)
			goto nomem;
	}
	if ((a != NULL && json_object_set(m, "tool_allowlist", a) != 0) ||
	    (b != NULL && json_object_set(m, "tool_blocklist", b) != 0) ||
	    json_object_set_new(m, "tools_disabled", json_false()) != 0)
		goto nomem;
	return (0);
 nomem:
	svc_reply_error(rp, 500, "out of memory");
	return (-1);
}

static void
op_tools_set(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_set(c, rq, rp, tools_keys, apply_tools, tools_view);
}

/* agents.skills_set: {skills: [...]} */

static const char *const skills_keys[] = { "skills", NULL };

static int
apply_named_list(json_t *body, json_t *m, const char *key,
    struct svc_reply *rp)
{
	json_t	*l;

	if (list_arg(body, key, &l, rp) != 0)
		return (-1);
	if (l == NULL) {
		svc_reply_error(rp, 400, "'%s' is required", key);
		return (-1);
	}
	if (json_object_set(m, key, l) != 0) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	return (0);
}

static int
apply_skills(json_t *body, json_t *m, struct svc_reply *rp)
{
	return (apply_named_list(body, m, "skills", rp));
}

static json_t *
skills_set_view(struct svc_ctx *c, json_t *m)
{
	(void)c;
	return (json_pack("{s:s, s:o}", "status", "ok", "skills",
	    list_or_empty(m, "skills")));
}

static void
op_skills_set(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_set(c, rq, rp, skills_keys, apply_skills, skills_set_view);
}

/* agents.mcp_set: {mcp_servers: [...]} */

static const char *const mcp_keys[] = { "mcp_servers", NULL };

static int
apply_mcp(json_t *body, json_t *m, struct svc_reply *rp)
{
	return (apply_named_list(body, m, "mcp_servers", rp));
}

static json_t *
mcp_set_view(struct svc_ctx *c, json_t *m)
{
	(void)c;
	return (json_pack("{s:s, s:o}", "status", "ok", "mcp_servers",
	    list_or_empty(m, "mcp_servers")));
}

static void
op_mcp_set(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	list_set(c, rq, rp, mcp_keys, apply_mcp, mcp_set_view);
}

const struct svc_op agent_list_ops[] = {
	{ OP_AGENTS_TOOLS_GET, op_tools_get },
	{ OP_AGENTS_TOOLS_SET, op_tools_set },
	{ OP_AGENTS_SKILLS_GET, op_skills_get },
	{ OP_AGENTS_SKILLS_SET, op_skills_set },
	{ OP_AGENTS_MCP_GET, op_mcp_get },
	{ OP_AGENTS_MCP_SET, op_mcp_set },
	{ NULL, NULL }
};
