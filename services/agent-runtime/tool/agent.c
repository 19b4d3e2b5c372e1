/*
 * tool/agent.c - the tools that talk to other services over the bus:
 * kv_get and kv_set (memory.kv.*), agent_send (agents.message),
 * agent_list (agents.list) and agent_spawn (agents.spawn, as the parent);
 * and notify_owner, which only records a note.
 *
 * kv keys live in the calling agent's own namespace (agent id, key) and
 * must match the manifest's memory_read / memory_write globs (notes 3.8,
 * 3.9): deny by default, except what a profile implies (tool/profile.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cfg.h"
#include "err.h"
#include "msg.h"
#include "services.h"
#include "tool/tool.h"
#include "util.h"

#define KV_KEY_MAX		256
#define KV_VALUE_MAX		(1024 * 1024)	/* bytes of JSON text */
#define KV_TIMEOUT_MS		5000
#define AGENT_MSG_MAX		(1024 * 1024)
#define AGENT_LIST_MAX		200

static int
kv_key_ok(const char *k, size_t len)
{
	size_t	i;

	if (len == 0 || len > KV_KEY_MAX || strlen(k) != len)
		return (0);
	for (i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= 'A' && k[i] <= 'Z') ||
		    (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
		    k[i] == '.' || k[i] == '-'))
			return (0);
	return (1);
}

/* 1 if the manifest lets the agent read (or write) key: its own
 * memory_read / memory_write globs, else its profile's (deny by
 * default). */
static int
kv_allowed(json_t *manifest, const char *key, int write)
{
	const char		*which = write ? "memory_write" :
				    "memory_read";
	const struct tool_profile *p;
	json_t			*l, *caps;
	int			 ok;

	l = json_object_get(json_object_get(manifest, "capabilities"), which);
	if (json_array_size(l) > 0)
		return (tool_glob_any(l, key));
	if ((p = tool_profile_find(json_string_value(json_object_get(
	    manifest, "profile")))) == NULL ||
	    (caps = tool_profile_caps(p)) == NULL)
		return (0);
	ok = tool_glob_any(json_object_get(caps, which), key);
	json_decref(caps);
	return (ok);
}

int
tool_bus_call(struct tool_ctx *tc, const char *svc, const char *op,
    json_t *params, json_t *query, json_t *body, json_t *caller,
    int timeout_ms, struct msg_rep *rep, struct tool_result *r)
{
	json_t	*req;
	int	 rv;

	if (caller == NULL)
		caller = json_pack("{s:s}", "principal", "agent-runtime");
	/* What the call causes continues the turn's trigger chain. */
	if (caller != NULL && tc->tc_event_depth > 0)
		json_object_set_new(caller, "event_depth",
		    json_integer(tc->tc_event_depth));
	req = msg_request(op, NULL, util_wall_ms() + timeout_ms, caller,
	    params, query, body);
	if (req == NULL) {
		tool_result_set(r, 1, 1, "out of memory");
		return (-1);
	}
	if (tc->tc_bus == NULL) {
		json_decref(req);
		tool_result_set(r, 1, 1, "%s is unavailable (no bus)", svc);
		return (-1);
	}
	rv = bus_call(tc->tc_bus, svc, req, timeout_ms, rep);
	json_decref(req);
	if (rv != 0) {
		tool_result_set(r, 1, 1, "%s did not answer (%s)", svc,
		    sh_strerror(rv));
		return (-1);
	}
	return (0);
}

/* tool_bus_call() without a query, for this file's tools. */
static int
tool_call(struct tool_ctx *tc, const char *svc, const char *op,
    json_t *params, json_t *body, json_t *caller, int timeout_ms,
    struct msg_rep *rep, struct tool_result *r)
{
	return (tool_bus_call(tc, svc, op, params, NULL, body, caller,
	    timeout_ms, rep, r));
}

static const char *
rep_error(struct msg_rep *rep)
{
	const char	*s = json_string_value(json_object_get(rep->mp_body,
	    "error"));

	return (s != NULL ? s : "unknown error");
}

/* The "key" argument of kv_get and kv_set, present and of kv_key_ok()'s
 * form: 0, or -1 after filling r (soft), as tool_arg_str(). */
static int
kv_arg_key(json_t *in, const char **keyp, struct tool_result *r)
{
	size_t	 len;

	if (tool_arg_str(in, "key", 1, keyp, &len, r) != 0)
		return (-1);
	if (!kv_key_ok(*keyp, len)) {
		tool_result_set(r, 1, 0, "invalid parameter 'key': 1-%d "
		    "characters of [A-Za-z0-9_.-]", KV_KEY_MAX);
		return (-1);
	}
	return (0);
}

int
tool_kv_get(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*key;
	char		*text;
	json_t		*v;
	int		 rv;

	if (kv_arg_key(in, &key, r) != 0)
		return (0);
	if (!kv_allowed(tc->tc_manifest, key, 0))
		return (tool_result_set(r, 1, 1, "Permission denied: "
		    "memory_read does not allow key '%s'", key));
	if (tool_call(tc, SVC_MEMORY, OP_MEMORY_KV_GET, json_pack(
	    "{s:s, s:s}", PARAM_ID, tc->tc_agent_id ? tc->tc_agent_id : "",
	    PARAM_KEY, key), NULL, NULL, KV_TIMEOUT_MS, &rep, r) != 0)
		return (0);
	if (rep.mp_status == 404)
		rv = tool_result_set(r, 0, 0, "No value found for key '%s'.",
		    key);
	else if (rep.mp_status != 200 ||
	    (v = json_object_get(rep.mp_body, "value")) == NULL)
		rv = tool_result_set(r, 1, 1, "kv_get failed: %s",
		    rep_error(&rep));
	else if ((text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY)) ==
	    NULL)
		rv = SH_ENOMEM;
	else {
		rv = tool_result_take(r, 0, 0, text, strlen(text));
		free(text);
	}
	msg_rep_release(&rep);
	return (rv);
}

int
tool_kv_set(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*key;
	size_t		 len;
	char		*text;
	json_t		*v;
	int		 rv;

	if (kv_arg_key(in, &key, r) != 0)
		return (0);
	if ((v = json_object_get(in, "value")) == NULL)
		return (tool_result_set(r, 1, 0, "missing required parameter "
		    "'value'"));
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return (SH_ENOMEM);
	len = strlen(text);
	free(text);
	if (len > KV_VALUE_MAX)
		return (tool_result_set(r, 1, 0, "invalid parameter 'value': "
		    "larger than %d bytes", KV_VALUE_MAX));
	if (!kv_allowed(tc->tc_manifest, key, 1))
		return (tool_result_set(r, 1, 1, "Permission denied: "
		    "memory_write does not allow key '%s'", key));
	if (tool_call(tc, SVC_MEMORY, OP_MEMORY_KV_SET, json_pack("{s:s, s:s}",
	    PARAM_ID, tc->tc_agent_id ? tc->tc_agent_id : "", PARAM_KEY, key),
	    json_pack("{s:O}", "value", v), NULL, KV_TIMEOUT_MS, &rep, r) != 0)
		return (0);
	if (rep.mp_status == 200)
		rv = tool_result_set(r, 0, 0, "Stored value under key '%s'.",
		    key);
	else
		rv = tool_result_set(r, 1, 1, "kv_set failed: %s",
		    rep_error(&rep));
	msg_rep_release(&rep);
	return (rv);
}

/* The agents (new array) or NULL with r filled. */
static json_t *
agents_list(struct tool_ctx *tc, struct tool_result *r)
{
	struct msg_rep	 rep;
	json_t		*a = NULL;

	if (tool_call(tc, SVC_AGENT_RUNTIME, OP_AGENTS_LIST, NULL, NULL, NULL,
	    KV_TIMEOUT_MS, &rep, r) != 0)
		return (NULL);
	if (rep.mp_status != 200 || !json_is_array(rep.mp_body))
		tool_result_set(r, 1, 1, "agents.list failed: %s",
		    rep_error(&rep));
	else
		a = json_incref(rep.mp_body);
	msg_rep_release(&rep);
	return (a);
}

/* o.key as a string, "?" when absent. */
static const char *
js(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "?");
}

int
tool_agent_list(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	char		*text = NULL;
	size_t		 i, size = 0;
	json_t		*a, *e;
	FILE		*f;
	int		 rv;

	(void)in;
	if ((a = agents_list(tc, r)) == NULL)
		return (r->tr_content != NULL ? 0 : SH_ENOMEM);
	if ((f = open_memstream(&text, &size)) == NULL) {
		json_decref(a);
		return (SH_ENOMEM);
	}
	if (json_array_size(a) == 0)
		fprintf(f, "No agents.\n");
	json_array_foreach(a, i, e) {
		if (i == AGENT_LIST_MAX) {
			fprintf(f, "... and %zu more\n",
			    json_array_size(a) - i);
			break;
		}
		fprintf(f, "%s  %s  %s  %s:%s\n", js(e, "id"), js(e, "name"),
		    js(e, "state"), js(e, "model_provider"),
		    js(e, "model_name"));
	}
	json_decref(a);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		return (SH_ENOMEM);
	}
	rv = tool_result_take(r, 0, 0, text, size);
	free(text);
	return (rv);
}

int
tool_agent_send(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*target, *msg, *s;
	char		 id[UTIL_UUID_LEN], principal[64];
	size_t		 tlen, mlen, i;
	json_t		*a, *e, *caller, *resp;
	long long	 secs;
	int		 rv, timeout_ms;

	if (tool_arg_str(in, "agent_id", 1, &target, &tlen, r) != 0 ||
	    tool_arg_str(in, "message", 1, &msg, &mlen, r) != 0)
		return (0);
	if (tlen == 0 || tlen > 256 || strlen(target) != tlen)
		return (tool_result_set(r, 1, 0, "invalid parameter "
		    "'agent_id'"));
	if (mlen == 0 || mlen > AGENT_MSG_MAX)
		return (tool_result_set(r, 1, 0, "invalid parameter 'message': "
		    "1-%d bytes", AGENT_MSG_MAX));
	if (tc->tc_depth + 1 > TOOL_AGENT_DEPTH_MAX)
		return (tool_result_set(r, 1, 1, "agent_send refused: call "
		    "depth would exceed %d", TOOL_AGENT_DEPTH_MAX));
	if (util_uuid_valid(target)) {
		for (i = 0; i < UTIL_UUID_LEN - 1; i++)
			id[i] = (char)((target[i] >= 'A' && target[i] <= 'F') ?
			    target[i] - 'A' + 'a' : target[i]);
		id[UTIL_UUID_LEN - 1] = '\0';
	} else {
		if ((a = agents_list(tc, r)) == NULL)
			return (r->tr_content != NULL ? 0 : SH_ENOMEM);
		id[0] = '\0';
		json_array_foreach(a, i, e) {
			s = json_string_value(json_object_get(e, "name"));
			if (s != NULL && strcmp(s, target) == 0) {
				snprintf(id, sizeof(id), "%s", js(e, "id"));
				break;
			}
		}
		json_decref(a);
		if (id[0] == '\0')
			return (tool_result_set(r, 1, 0, "invalid parameter "
			    "'agent_id': no agent named '%s'", target));
	}
	if (tc->tc_agent_id != NULL && strcmp(id, tc->tc_agent_id) == 0)
		return (tool_result_set(r, 1, 0, "invalid parameter "
		    "'agent_id': an agent cannot message itself"));
	snprintf(principal, sizeof(principal), "agent:%s",
	    tc->tc_agent_id ? tc->tc_agent_id : "");
	caller = json_pack("{s:s, s:i}", "principal", principal, "depth",
	    tc->tc_depth + 1);
	secs = tc->tc_cfg != NULL ? tc->tc_cfg->turn_timeout_secs : 300;
	if (secs <= 0 || secs > 86400)
		secs = 300;
	timeout_ms = (int)(secs * 1000);
	if (tool_call(tc, SVC_AGENT_RUNTIME, OP_AGENTS_MESSAGE,
	    json_pack("{s:s}", PARAM_ID, id), json_pack("{s:s%}", "message",
	    msg, mlen), caller, timeout_ms, &rep, r) != 0)
		return (0);
	if (rep.mp_status != 200)
		rv = tool_result_set(r, 1, 1, "agent_send failed (%d): %s",
		    rep.mp_status, rep_error(&rep));
	else if ((resp = json_object_get(rep.mp_body, "response")) != NULL &&
	    json_is_string(resp))
		rv = tool_result_take(r, 0, 0, json_string_value(resp),
		    json_string_length(resp));
	else
		rv = tool_result_set(r, 0, 0, "(the agent gave no text "
		    "answer)");
	msg_rep_release(&rep);
	return (rv);
}

/* ---- agent_spawn ------------------------------------------------------ */

#define SPAWN_TOOLS_MAX		64

/* 1 if the manifest may spawn agents: capabilities.agent_spawn, or
 * agent_spawn named in its own tool list, or its profile's capability
 * (an agent without a tool list would otherwise get it by default). */
static int
spawn_allowed(json_t *manifest)
{
	const struct tool_profile *p;
	json_t			*caps, *pc;
	int			 ok;

	caps = json_object_get(manifest, "capabilities");
	if (json_is_true(json_object_get(caps, "agent_spawn")))
		return (1);
	if (json_array_size(json_object_get(caps, "tools")) > 0)
		return (tool_glob_any(json_object_get(caps, "tools"),
		    "agent_spawn"));
	if ((p = tool_profile_find(json_string_value(json_object_get(
	    manifest, "profile")))) == NULL || (pc = tool_profile_caps(p)) ==
	    NULL)
		return (0);
	ok = json_is_true(json_object_get(pc, "agent_spawn"));
	json_decref(pc);
	return (ok);
}

/* s as a TOML basic string. */
static void
toml_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* key = "parent's [model] key", when it has one. */
static void
toml_model_key(FILE *f, json_t *model, const char *key)
{
	const char	*v = json_string_value(json_object_get(model, key));

	if (v == NULL || *v == '\0')
		return;
	fprintf(f, "%s = ", key);
	toml_quoted(f, v);
	fputc('\n', f);
}

/*
 * The child's manifest (new text) or NULL with r filled: the name and
 * system prompt given, the parent's model, and the tools asked for, each
 * of which the parent must hold itself (no privilege escalation).  No
 * tools asked for means none: an empty list would grant every tool.
 */
static char *
spawn_manifest(struct tool_ctx *tc, const char *name, const char *prompt,
    json_t *tools, struct tool_result *r)
{
	json_t		*e, *model;
	const char	*t;
	char		*text = NULL, desc[128];
	size_t		 i, size = 0;
	FILE		*f;

	json_array_foreach(tools, i, e) {
		if ((t = json_string_value(e)) == NULL || *t == '\0') {
			tool_result_set(r, 1, 0, "invalid parameter 'tools': "
			    "an array of tool names");
			return (NULL);
		}
		if (!tool_granted(tc->tc_manifest, t)) {
			tool_result_set(r, 1, 0, "Privilege escalation denied: "
			    "the child may not have tool '%s', which this "
			    "agent does not have", t);
			return (NULL);
		}
	}
	if ((f = open_memstream(&text, &size)) == NULL)
		return (NULL);
	fputs("name = ", f);
	toml_quoted(f, name);
	snprintf(desc, sizeof(desc), "Spawned by %s", tc->tc_agent_name != NULL ?
	    tc->tc_agent_name : "an agent");
	fputs("\ndescription = ", f);
	toml_quoted(f, desc);
	fprintf(f, "\ntools_disabled = %s\n", json_array_size(tools) == 0 ?
	    "true" : "false");
	fputs("[model]\n", f);
	model = json_object_get(tc->tc_manifest, "model");
	toml_model_key(f, model, "provider");
	toml_model_key(f, model, "model");
	toml_model_key(f, model, "base_url");
	toml_model_key(f, model, "api_key_env");
	fputs("system_prompt = ", f);
	toml_quoted(f, prompt);
	fputs("\n[capabilities]\ntools = [", f);
	json_array_foreach(tools, i, e) {
		fputs(i > 0 ? ", " : "", f);
		toml_quoted(f, json_string_value(e));
	}
	fputs("]\n", f);
	if (fclose(f) != 0) {
		free(text);
		return (NULL);
	}
	return (text);
}

int
tool_agent_spawn(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct msg_rep	 rep;
	const char	*name, *prompt, *id;
	char		 principal[64], *toml;
	size_t		 nlen, plen;
	json_t		*tools, *caller;
	int		 rv;

	if (tool_arg_str(in, "name", 1, &name, &nlen, r) != 0 ||
	    tool_arg_str(in, "system_prompt", 1, &prompt, &plen, r) != 0)
		return (0);
	if (nlen == 0 || strlen(name) != nlen)
		return (tool_result_set(r, 1, 0, "invalid parameter 'name'"));
	if (plen > 65536 || strlen(prompt) != plen)
		return (tool_result_set(r, 1, 0, "invalid parameter "
		    "'system_prompt': at most 65536 bytes"));
	tools = json_object_get(in, "tools");
	if (tools != NULL && !json_is_null(tools) && (!json_is_array(tools) ||
	    json_array_size(tools) > SPAWN_TOOLS_MAX))
		return (tool_result_set(r, 1, 0, "invalid parameter 'tools': "
		    "an array of at most %d tool names", SPAWN_TOOLS_MAX));
	if ((json_is_true(json_object_get(in, "network")) ||
	    json_array_size(json_object_get(in, "shell")) > 0))
		return (tool_result_set(r, 1, 0, "'network' and 'shell' are "
		    "not supported here: grant web_fetch or shell_exec in "
		    "'tools' (if this agent has them)"));
	if (!spawn_allowed(tc->tc_manifest))
		return (tool_result_set(r, 1, 1, "Permission denied: this "
		    "agent may not spawn agents (capabilities.agent_spawn)"));
	if ((toml = spawn_manifest(tc, name, prompt, tools, r)) == NULL)
		return (r->tr_content != NULL ? 0 : SH_ENOMEM);
	/* agents.spawn sees the agent as the caller and records it as the
	 * child's parent (comms/store.c). */
	snprintf(principal, sizeof(principal), "agent:%s",
	    tc->tc_agent_id ? tc->tc_agent_id : "");
	caller = json_pack("{s:s, s:i}", "principal", principal, "depth",
	    tc->tc_depth);
	rv = tool_call(tc, SVC_AGENT_RUNTIME, OP_AGENTS_SPAWN, NULL,
	    json_pack("{s:s}", "manifest_toml", toml), caller, KV_TIMEOUT_MS,
	    &rep, r);
	free(toml);
	if (rv != 0)
		return (0);
	if (rep.mp_status != 201 || (id = json_string_value(json_object_get(
	    rep.mp_body, "agent_id"))) == NULL)
		rv = tool_result_set(r, 1, 0, "agent_spawn failed (%d): %s",
		    rep.mp_status, rep_error(&rep));
	else
		rv = tool_result_set(r, 0, 0, "Agent spawned successfully.\n"
		    "  ID: %s\n  Name: %s", id, json_string_value(
		    json_object_get(rep.mp_body, "name")) ?: name);
	msg_rep_release(&rep);
	return (rv);
}

int
tool_notify_owner(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	const char	*reason, *summary;
	size_t		 rlen, slen;

	if (tool_arg_str(in, "reason", 1, &reason, &rlen, r) != 0 ||
	    tool_arg_str(in, "summary", 1, &summary, &slen, r) != 0)
		return (0);
	if (slen == 0 || slen > 16384)
		return (tool_result_set(r, 1, 0, "invalid parameter 'summary': "
		    "1-16384 bytes"));
	if (tc->tc_notices == NULL || !json_is_array(tc->tc_notices))
		return (tool_result_set(r, 1, 1, "notify_owner is not "
		    "available here"));
	if (json_array_append_new(tc->tc_notices, json_stringn(summary,
	    slen)) != 0)
		return (SH_ENOMEM);
	return (tool_result_set(r, 0, 0, "The owner has been notified."));
}
