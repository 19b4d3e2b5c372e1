/*
 * tool/task.c - the task board tools (notes/agent-core.md 3): task_post,
 * task_claim, task_complete, task_list and task_status, each one request
 * to the scheduler, which owns the queue (tasks.*, proto/messages.md).
 *
 * The calling agent is the creator of what it posts and the claimant of
 * what it claims; the scheduler publishes TaskPosted and the rest at the
 * turn's event_depth, so a task_posted trigger can wake the assignee
 * without an endless chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "err.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "tool/tool.h"

#define TASK_TIMEOUT_MS		10000

/* The caller of a request made for tc's agent (new); tool_bus_call()
 * adds the turn's event_depth. */
static json_t *
task_caller(struct tool_ctx *tc)
{
	char	principal[64];

	snprintf(principal, sizeof(principal), "agent:%s",
	    tc->tc_agent_id != NULL ? tc->tc_agent_id : "");
	return (json_pack("{s:s}", "principal", principal));
}

/* One tasks.* request (params, query, body stolen); 0 with rep filled,
 * or -1 with r filled. */
static int
task_req(struct tool_ctx *tc, const char *op, json_t *params, json_t *query,
    json_t *body, struct msg_rep *rep, struct tool_result *r)
{
	return (tool_bus_call(tc, SVC_SCHEDULER, op, params, query, body,
	    task_caller(tc), TASK_TIMEOUT_MS, rep, r));
}

static const char *
task_rep_error(struct msg_rep *rep)
{
	const char	*s = json_string_value(json_object_get(rep->mp_body,
	    "error"));

	return (s != NULL ? s : "unknown error");
}

/* The reply body as indented JSON for the model. */
static int
task_result_json(struct tool_result *r, json_t *v)
{
	char	*text;
	int	 rv;

	if ((text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY |
	    JSON_PRESERVE_ORDER)) == NULL)
		return (SH_ENOMEM);
	rv = tool_result_take(r, 0, 0, text, strlen(text));
	free(text);
	return (rv);
}

int
tool_task_post(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*title, *desc, *to;
	size_t		 len;
	json_t		*body;
	int		 rv;

	if (tool_arg_str(in, "title", 1, &title, &len, r) != 0 ||
	    tool_arg_str(in, "description", 1, &desc, &len, r) != 0 ||
	    tool_arg_str(in, "assigned_to", 0, &to, &len, r) != 0)
		return (0);
	if ((body = json_pack("{s:s, s:s, s:s}", "title", title,
	    "description", desc, "created_by", tc->tc_agent_id != NULL ?
	    tc->tc_agent_id : "")) == NULL)
		return (SH_ENOMEM);
	if (to != NULL)
		json_object_set_new(body, "assigned_to", json_string(to));
	if (task_req(tc, OP_TASKS_POST, NULL, NULL, body, &rep, r) != 0)
		return (0);
	if (rep.mp_status == 201)
		rv = tool_result_set(r, 0, 0, "Posted task %s.",
		    json_string_value(json_object_get(rep.mp_body, "id")));
	else
		rv = tool_result_set(r, 1, rep.mp_status >= 500,
		    "task_post failed: %s", task_rep_error(&rep));
	msg_rep_release(&rep);
	return (rv);
}

int
tool_task_claim(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	json_t		*body, *task;
	int		 rv;

	(void)in;
	if ((body = json_pack("{s:s}", "agent_id", tc->tc_agent_id != NULL ?
	    tc->tc_agent_id : "")) == NULL)
		return (SH_ENOMEM);
	if (tc->tc_agent_name != NULL)
		json_object_set_new(body, "agent_name",
		    json_string(tc->tc_agent_name));
	if (task_req(tc, OP_TASKS_CLAIM, NULL, NULL, body, &rep, r) != 0)
		return (0);
	task = json_object_get(rep.mp_body, "task");
	if (rep.mp_status != 200)
		rv = tool_result_set(r, 1, rep.mp_status >= 500,
		    "task_claim failed: %s", task_rep_error(&rep));
	else if (!json_is_object(task))
		rv = tool_result_set(r, 0, 0, "No task is available.");
	else
		rv = task_result_json(r, task);
	msg_rep_release(&rep);
	return (rv);
}

int
tool_task_complete(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*id, *result;
	size_t		 len;
	json_t		*body;
	int		 rv;

	if (tool_arg_str(in, "task_id", 1, &id, &len, r) != 0 ||
	    tool_arg_str(in, "result", 1, &result, &len, r) != 0)
		return (0);
	if ((body = json_pack("{s:s, s:s}", "result", result, "agent_id",
	    tc->tc_agent_id != NULL ? tc->tc_agent_id : "")) == NULL)
		return (SH_ENOMEM);
	if (tc->tc_agent_name != NULL)
		json_object_set_new(body, "agent_name",
		    json_string(tc->tc_agent_name));
	if (task_req(tc, OP_TASKS_COMPLETE, json_pack("{s:s}", PARAM_ID, id),
	    NULL, body, &rep, r) != 0)
		return (0);
	if (rep.mp_status == 200)
		rv = tool_result_set(r, 0, 0, "Task %s completed.", id);
	else
		rv = tool_result_set(r, 1, rep.mp_status >= 500,
		    "task_complete failed: %s", task_rep_error(&rep));
	msg_rep_release(&rep);
	return (rv);
}

int
tool_task_list(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*status;
	size_t		 len, i;
	json_t		*query, *list, *t;
	int		 rv;

	if (tool_arg_str(in, "status", 0, &status, &len, r) != 0)
		return (0);
	if ((query = json_pack("{s:s}", "limit", "50")) == NULL)
		return (SH_ENOMEM);
	if (status != NULL)
		json_object_set_new(query, "status", json_string(status));
	if (task_req(tc, OP_TASKS_LIST, NULL, query, NULL, &rep, r) != 0)
		return (0);
	if (rep.mp_status != 200 || (list = json_array()) == NULL) {
		rv = tool_result_set(r, 1, rep.mp_status >= 500,
		    "task_list failed: %s", task_rep_error(&rep));
		msg_rep_release(&rep);
		return (rv);
	}
	/* What a model needs to pick one; task_status has the rest. */
	json_array_foreach(json_object_get(rep.mp_body, "tasks"), i, t)
		json_array_append_new(list, json_pack("{s:O?, s:O?, s:O?, "
		    "s:O?}", "id", json_object_get(t, "id"), "title",
		    json_object_get(t, "title"), "status",
		    json_object_get(t, "status"), "assigned_to",
		    json_object_get(t, "assigned_to")));
	rv = task_result_json(r, list);
	json_decref(list);
	msg_rep_release(&rep);
	return (rv);
}

int
tool_task_status(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*id;
	size_t		 len;
	int		 rv;

	if (tool_arg_str(in, "task_id", 1, &id, &len, r) != 0)
		return (0);
	if (task_req(tc, OP_TASKS_GET, json_pack("{s:s}", PARAM_ID, id), NULL,
	    NULL, &rep, r) != 0)
		return (0);
	if (rep.mp_status == 200)
		rv = task_result_json(r, rep.mp_body);
	else
		rv = tool_result_set(r, 1, rep.mp_status >= 500,
		    "task_status failed: %s", task_rep_error(&rep));
	msg_rep_release(&rep);
	return (rv);
}
