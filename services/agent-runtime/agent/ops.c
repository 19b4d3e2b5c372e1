/*
 * agent/ops.c - the agents.* operations: the table, the input checks every
 * operation shares, the views (get, list), spawn, delete, clone and bulk.
 * The operations that change one agent in place are in agent/edit.c.
 *
 * The gateway sends params ({"id"}), query and body; our status and body
 * go back to the HTTP client unchanged, errors always as {"error": "..."}.
 * Every input is checked before the database is touched: an id that is not
 * a UUID is 400 "Invalid agent ID", an unknown body field is 400 naming it,
 * a wrong JSON type is 400.  Nothing is cached here: each request reads
 * PostgreSQL through its worker's connection (c->sc_db), so replicas never
 * disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/templates.h"
#include "audit.h"
#include "catalog/catalog.h"
#include "comms/comms.h"
#include "err.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "skill/skill.h"
#include "turn/turn.h"
#include "util.h"

/* ---- events ---------------------------------------------------------- */

void
agent_publish(struct agent_state *as, const struct msg_req *rq,
    const char *event, const char *id, const char *name)
{
	json_t	*ev, *lc = NULL, *v;
	int	 depth = 0;

	if (as == NULL || as->as_pub == NULL)
		return;
	if ((ev = json_pack("{s:s, s:s, s:s}", "event", event, "agent_id", id,
	    "name", name)) == NULL)
		return;
	if (rq != NULL && json_is_integer(v = json_object_get(rq->mr_caller,
	    "event_depth")) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 1000)
		depth = (int)json_integer_value(v);
	if (strcmp(event, "agent_spawned") == 0)
		lc = msg_event(id, "Lifecycle", json_pack("{s:s, s:s, s:s}",
		    "event", "Spawned", "agent_id", id, "name", name), depth);
	else if (strcmp(event, "agent_killed") == 0)
		lc = msg_event(id, "Lifecycle", json_pack("{s:s, s:s, s:s}",
		    "event", "Terminated", "agent_id", id, "reason", "killed"),
		    depth);
	pthread_mutex_lock(&as->as_pub_mtx);
	if (bus_publish(as->as_pub, TOPIC_LIFECYCLE, ev) != 0)
		log_debug("%s: could not publish '%s' for '%s'", __func__,
		    event, id);
	if (lc != NULL && bus_publish(as->as_pub, TOPIC_EVENTS, lc) != 0)
		log_debug("%s: could not publish the Lifecycle event for "
		    "'%s'", __func__, id);
	pthread_mutex_unlock(&as->as_pub_mtx);
	json_decref(lc);
	json_decref(ev);
}

/* ---- input checks ---------------------------------------------------- */

int
agent_in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return (1);
	return (0);
}

/* body must be an object whose keys are all in allowed. */
int
agent_body_keys(json_t *body, const char *const *allowed,
    struct svc_reply *rp)
{
	const char	*k;
	json_t		*v;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return (-1);
	}
	json_object_foreach(body, k, v) {
		if (!agent_in_list(k, allowed)) {
			svc_reply_error(rp, 400, "unknown field '%s'", k);
			return (-1);
		}
	}
	return (0);
}

/* A present key must be a string of at most max bytes (null allowed
 * when nullable).  Sets *out (borrowed) or NULL when absent/null. */
int
agent_get_str(json_t *body, const char *key, int nullable, size_t max,
    const char **out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || (nullable && json_is_null(v)))
		return (0);
	if (!json_is_string(v)) {
		svc_reply_error(rp, 400, "'%s' must be a string", key);
		return (-1);
	}
	if (json_string_length(v) > max) {
		svc_reply_error(rp, 400, "'%s' is longer than %zu bytes", key,
		    max);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

int
agent_get_bool(json_t *body, const char *key, int *out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	if (v == NULL)
		return (0);
	if (!json_is_boolean(v)) {
		svc_reply_error(rp, 400, "'%s' must be true or false", key);
		return (-1);
	}
	*out = json_is_true(v);
	return (0);
}

/* What an agent stores must fit what the catalog resolves. */
_Static_assert(AGENT_PROVIDER_MAX == CATALOG_PROVIDER_MAX &&
    AGENT_MODEL_MAX == CATALOG_ID_MAX && AGENT_ENV_MAX == CATALOG_KEY_ENV_MAX,
    "agent bounds are the catalog's");

/* The text fields the JSON edits take: their bound in bytes, and
 * whether "" is refused (an empty provider or model would silently mean
 * "default"; a client that wants that says "default"). */
static const struct agent_text_rule {
	const char	*tr_key;
	size_t		 tr_max;
	int		 tr_nonempty;
} agent_text_rules[] = {
	{ "provider",		AGENT_PROVIDER_MAX,	1 },
	{ "model",		AGENT_MODEL_MAX,	1 },
	{ "description",	AGENT_DESCRIPTION_MAX,	0 },
	{ "system_prompt",	AGENT_PROMPT_MAX,	0 },
	{ NULL,			0,			0 }
};

int
agent_get_text(json_t *body, const char *key, int nullable,
    const char **out, struct svc_reply *rp)
{
	const struct agent_text_rule	*r;

	for (r = agent_text_rules; r->tr_key != NULL; r++)
		if (strcmp(r->tr_key, key) == 0)
			break;
	SH_ASSERT(r->tr_key != NULL);
	if (agent_get_str(body, key, nullable, r->tr_max, out, rp) != 0)
		return (-1);
	if (*out != NULL && strlen(*out) != json_string_length(
	    json_object_get(body, key))) {
		svc_reply_error(rp, 400, "'%s' contains a NUL character", key);
		return (-1);
	}
	if (r->tr_nonempty && *out != NULL && **out == '\0') {
		svc_reply_error(rp, 400, "'%s' must not be empty (\"default\" "
		    "means the configured default)", key);
		return (-1);
	}
	return (0);
}

/* json_equal(), with two absent values equal too. */
static int
agent_same(json_t *a, json_t *b)
{
	return (a == NULL ? b == NULL : json_equal(a, b));
}

/* Whether entry (a [model] or a fallback) names the provider and
 * base_url old does. */
static int
agent_same_target(json_t *entry, json_t *old)
{
	return (old != NULL &&
	    agent_same(json_object_get(entry, "provider"),
	    json_object_get(old, "provider")) &&
	    agent_same(json_object_get(entry, "base_url"),
	    json_object_get(old, "base_url")));
}

int
agent_check_models(struct db *db, json_t *m, json_t *old, char *err,
    size_t errlen)
{
	json_t		*e, *prev, *fb = json_object_get(m, "fallback_models");
	const char	*env;
	char		 why[AGENT_ERRLEN], what[64];
	size_t		 i;
	int		 rv, same;

	for (i = 0; i <= json_array_size(fb); i++) {
		if (i == 0) {
			e = json_object_get(m, "model");
			prev = json_object_get(old, "model");
		} else {
			e = json_array_get(fb, i - 1);
			prev = json_array_get(json_object_get(old,
			    "fallback_models"), i - 1);
		}
		if (!json_is_object(e))
			continue;
		/* The key variable: checked when it or the endpoint it
		 * would be sent to changes. */
		env = json_string_value(json_object_get(e, "api_key_env"));
		same = agent_same_target(e, prev);
		if (env != NULL && *env != '\0' && (!same || !agent_same(
		    json_object_get(e, "api_key_env"),
		    json_object_get(prev, "api_key_env")))) {
			if (i == 0)
				snprintf(what, sizeof(what), "api_key_env");
			else
				snprintf(what, sizeof(what), "fallback_models"
				    "[%zu].api_key_env", i - 1);
			if (catalog_key_env_check(what, env, err, errlen) != 0)
				return (400);
		}
		if (same)
			continue;
		rv = catalog_provider_check(db, json_string_value(
		    json_object_get(e, "provider")), json_string_value(
		    json_object_get(e, "base_url")), why, sizeof(why));
		if (rv == SH_EUNAVAIL) {
			snprintf(err, errlen, "database unavailable");
			return (503);
		}
		if (rv != 0) {
			if (i == 0)
				snprintf(err, errlen, "%s", why);
			else
				snprintf(err, errlen, "fallback_models[%zu]: %s",
				    i - 1, why);
			return (400);
		}
	}
	return (0);
}

int
agent_check_name(json_t *body, const char *key, struct svc_reply *rp)
{
	const char	*name;
	char		 err[AGENT_ERRLEN];

	if (agent_get_str(body, key, 0, AGENT_NAME_MAX, &name, rp) != 0)
		return (-1);
	if (name != NULL && agent_name_check(name, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return (-1);
	}
	return (0);
}

/* ---- views ----------------------------------------------------------- */

static const char *
agent_state_wire(const char *s)
{
	if (s != NULL && strcmp(s, "running") == 0)
		return ("Running");
	if (s != NULL && strcmp(s, "suspended") == 0)
		return ("Suspended");
	return (s ? s : "");
}

/*
 * "default" (the sentinel stored for "use the global default") shown as
 * the configured [default_model], when one is configured.
 */
static const char *
agent_resolve(const char *v, const char *configured)
{
	if (v == NULL || *v == '\0' || strcmp(v, "default") == 0) {
		if (configured != NULL && *configured != '\0' &&
		    strcmp(configured, "auto") != 0)
			return (configured);
		return ("default");
	}
	return (v);
}

static const char *
agent_provider(struct svc_ctx *c, json_t *manifest)
{
	return (agent_resolve(json_string_value(json_object_get(
	    json_object_get(manifest, "model"), "provider")),
	    c->sc_cfg->default_provider));
}

const char *
agent_model_shown(struct svc_ctx *c, json_t *manifest)
{
	return (agent_resolve(json_string_value(json_object_get(
	    json_object_get(manifest, "model"), "model")),
	    c->sc_cfg->default_model));
}

static json_t *
agent_list_or_empty(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_array(v) ? json_incref(v) : json_array());
}

/* The schedule as the reference dashboards show it. */
static json_t *
agent_schedule_text(json_t *manifest)
{
	json_t		*s = json_object_get(manifest, "schedule"), *b;
	const char	*kind;
	char		 text[64];

	if (!json_is_object(s) || json_object_size(s) != 1)
		return (json_string("manual"));
	kind = json_object_iter_key(json_object_iter(s));
	b = json_object_get(s, kind);
	if (strcmp(kind, "periodic") == 0 &&
	    json_is_string(json_object_get(b, "cron")))
		return (json_incref(json_object_get(b, "cron")));
	if (strcmp(kind, "continuous") == 0) {
		snprintf(text, sizeof(text), "continuous \xc2\xb7 %"
		    JSON_INTEGER_FORMAT "s", json_integer_value(
		    json_object_get(b, "check_interval_secs")));
		return (json_string(text));
	}
	return (json_string(kind));
}

static const char *
agent_mcp_mode(json_t *m)
{
	json_t	*l = json_object_get(m, "mcp_servers"), *e;
	size_t	 i;

	if (json_array_size(l) == 0)
		return ("none");
	json_array_foreach(l, i, e)
		if (strcmp(json_string_value(e) ? json_string_value(e) : "",
		    "*") == 0)
			return ("all");
	return ("allowlist");
}

static int
agent_is_hand(json_t *m)
{
	json_t		*e;
	const char	*t;
	size_t		 i;

	if (json_is_true(json_object_get(m, "is_hand")))
		return (1);
	json_array_foreach(json_object_get(m, "tags"), i, e)
		if ((t = json_string_value(e)) != NULL &&
		    strncmp(t, "hand:", 5) == 0)
			return (1);
	return (0);
}

static json_t *
agent_view_summary(struct svc_ctx *c, json_t *row)
{
	json_t	*m = json_object_get(row, "manifest");

	return (json_pack("{s:O, s:O, s:s, s:O, s:O, s:O, s:s, s:s, s:O?, "
	    "s:o}",
	    "id", json_object_get(row, "id"),
	    "name", json_object_get(row, "name"),
	    "state", agent_state_wire(json_string_value(json_object_get(row,
	    "state"))),
	    "mode", json_object_get(row, "mode"),
	    "created_at", json_object_get(row, "created_at"),
	    "last_active", json_object_get(row, "last_active"),
	    "model_provider", agent_provider(c, m),
	    "model_name", agent_model_shown(c, m),
	    "description", json_object_get(m, "description"),
	    "tags", agent_list_or_empty(m, "tags")));
}

/* GET /api/agents/{id}: notes §2.8, plus pinned_model. */
static json_t *
agent_view_full(struct svc_ctx *c, json_t *row)
{
	json_t	*m = json_object_get(row, "manifest");
	json_t	*model = json_object_get(m, "model");
	json_t	*caps = json_object_get(m, "capabilities");
	json_t	*o, *fb;

	fb = json_object_get(m, "fallback_models");
	o = json_pack("{s:O, s:O, s:b, s:s, s:O, s:O?, s:O, s:O, s:O,"
	    " s:{s:s, s:s, s:O?, s:O?},"
	    " s:{s:o, s:o},"
	    " s:O?, s:O?, s:o, s:o?, s:o, s:s, s:o,"
	    " s:b, s:b, s:o, s:s, s:b, s:o, s:b, s:O?, s:O?}",
	    "id", json_object_get(row, "id"),
	    "name", json_object_get(row, "name"),
	    "is_hand", agent_is_hand(m),
	    "state", agent_state_wire(json_string_value(json_object_get(row,
	    "state"))),
	    "mode", json_object_get(row, "mode"),
	    "profile", json_object_get(m, "profile"),
	    "created_at", json_object_get(row, "created_at"),
	    "last_active", json_object_get(row, "last_active"),
	    "session_id", json_object_get(row, "session_id"),
	    "model",
		"provider", agent_provider(c, m),
		"model", agent_model_shown(c, m),
		"max_tokens", json_object_get(model, "max_tokens"),
		"temperature", json_object_get(model, "temperature"),
	    "capabilities",
		"tools", agent_list_or_empty(caps, "tools"),
		"network", agent_list_or_empty(caps, "network"),
	    "system_prompt", json_object_get(model, "system_prompt"),
	    "description", json_object_get(m, "description"),
	    "tags", agent_list_or_empty(m, "tags"),
	    "identity", agent_identity_view(json_object_get(row, "identity")),
	    "skills", agent_list_or_empty(m, "skills"),
	    "skills_mode", skill_mode(m),
	    "schedule", agent_schedule_text(m),
	    "skills_disabled", json_is_true(json_object_get(m,
	    "skills_disabled")),
	    "tools_disabled", json_is_true(json_object_get(m,
	    "tools_disabled")),
	    "mcp_servers", agent_list_or_empty(m, "mcp_servers"),
	    "mcp_servers_mode", agent_mcp_mode(m),
	    "mcp_disabled", json_is_true(json_object_get(m, "mcp_disabled")),
	    "fallback_models", json_is_array(fb) ? json_incref(fb) :
	    json_array(),
	    "auto_evolve", !json_is_false(json_object_get(m, "auto_evolve")),
	    "web_search_augmentation", json_object_get(m,
	    "web_search_augmentation"),
	    "pinned_model", json_object_get(m, "pinned_model"));
	return (o);
}

/* ---- read ------------------------------------------------------------ */

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*rows, *out, *row, *v;
	size_t	 i;

	(void)rq;
	if ((rows = agent_store_list(c->sc_db)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if ((out = json_array()) != NULL) {
		json_array_foreach(rows, i, row) {
			if ((v = agent_view_summary(c, row)) == NULL ||
			    json_array_append_new(out, v) != 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
	}
	json_decref(rows);
	svc_reply_json(rp, 200, out);
}

/* Fetches the agent named by params.id; replies and returns NULL if it
 * cannot. */
json_t *
agent_fetch(struct svc_ctx *c, const char *id, int for_update,
    struct svc_reply *rp)
{
	json_t	*row;
	int	 err;

	if ((row = agent_store_get(c->sc_db, id, for_update, &err)) != NULL)
		return (row);
	if (err == SH_ENOTFOUND)
		svc_reply_error(rp, 404, "Agent not found");
	else
		svc_reply_db_error(rp, c);
	return (NULL);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	 id[UTIL_UUID_LEN];
	json_t	*row;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    (row = agent_fetch(c, id, 0, rp)) == NULL)
		return;
	svc_reply_json(rp, 200, agent_view_full(c, row));
	json_decref(row);
}

/*
 * agents.dream (memory's auto-dream, never routed): per agent, the
 * manifest's auto_dream_* gates and how many of its sessions were touched
 * after body.since[agent id] (ms since the epoch; absent: ever).  memory
 * asks this instead of reading our tables.
 */
static const char SQL_DREAM[] =
	"SELECT coalesce(json_agg(json_build_object('id', a.id, 'name', "
	"    a.name, 'auto_dream_enabled', coalesce(a.manifest -> "
	"    'auto_dream_enabled' = 'true'::jsonb, false), 'min_hours', "
	"    a.manifest -> 'auto_dream_min_hours', 'min_sessions', "
	"    a.manifest -> 'auto_dream_min_sessions', 'sessions_since', "
	"    (SELECT count(*) FROM sessions s WHERE s.agent_id = a.id AND "
	"    s.updated_at > coalesce(to_timestamp(($1::jsonb ->> a.id::text)"
	"    ::float8 / 1000), '-infinity'::timestamptz))) "
	"    ORDER BY a.created_at, a.id), '[]'::json) "
	"FROM agents a WHERE $2::uuid IS NULL OR a.id = $2::uuid";

static void
op_dream(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*since = json_object_get(rq->mr_body, "since"), *v;
	json_t		*list = NULL;
	const char	*p[2], *k;
	char		 id[UTIL_UUID_LEN], *text = NULL;
	PGresult	*res;

	p[1] = NULL;
	if (json_object_get(rq->mr_params, PARAM_ID) != NULL) {
		if (svc_param_agent_id(rq, rp, id) != 0)
			return;
		p[1] = id;
	}
	if (since != NULL && !json_is_object(since)) {
		svc_reply_error(rp, 400, "'since' must be an object");
		return;
	}
	json_object_foreach(since, k, v)
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			svc_reply_error(rp, 400, "'since' values must be "
			    "instants in ms");
			return;
		}
	if ((text = since != NULL ? json_dumps(since, JSON_COMPACT) :
	    strdup("{}")) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	p[0] = text;
	if ((res = db_exec(c->sc_db, SQL_DREAM, 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	list = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (!json_is_array(list))
		svc_reply_error(rp, 500, "out of memory");
	else if (p[1] != NULL && json_array_size(list) == 0)
		svc_reply_error(rp, 404, "Agent not found");
	else
		svc_reply_json(rp, 200, json_pack("{s:O}", "agents", list));
 done:
	json_decref(list);
	free(text);
}

/* ---- spawn ----------------------------------------------------------- */

static const char *const agent_spawn_keys[] = {
	"manifest_toml", "template", "name", "signed_manifest", NULL
};

/* ---- audited writes --------------------------------------------------- */

/*
 * agent_store_insert() and its AgentSpawn entry in one transaction
 * (libshared/audit.h): the agent and its audit entry commit together or
 * not at all.  Returns as agent_store_insert().
 */
static int
agent_insert_audited(struct svc_ctx *c, const char *name, json_t *m,
    const char *toml, json_t *identity, char id[UTIL_UUID_LEN])
{
	char		 detail[AGENT_NAME_MAX + 160];
	const char	*model;
	int		 rv;

	if (agent_store_begin(c->sc_db) != 0)
		return (-1);
	rv = agent_store_insert(c->sc_db, name, m, toml, identity, "full", id);
	if (rv == 0) {
		model = json_string_value(json_object_get(json_object_get(m,
		    "model"), "model"));
		snprintf(detail, sizeof(detail), "Agent '%s' spawned%s%.96s",
		    name, model != NULL ? " with model " : "",
		    model != NULL ? model : "");
		if (audit_record(c->sc_db, AUDIT_AGENT_SPAWN, id, detail,
		    "ok") != 0 || agent_store_commit(c->sc_db) != 0)
			rv = -1;
	}
	if (rv != 0)
		agent_store_rollback(c->sc_db);
	return (rv);
}

/* agent_store_delete() and its AgentKill entry in one transaction. */
static int
agent_delete_audited(struct svc_ctx *c, const char *id, char *name,
    size_t namelen)
{
	char	detail[AGENT_NAME_MAX + 64];
	int	rv;

	if (agent_store_begin(c->sc_db) != 0)
		return (-1);
	rv = agent_store_delete(c->sc_db, id, name, namelen);
	if (rv == 0) {
		snprintf(detail, sizeof(detail), "Agent '%s' killed", name);
		if (audit_record(c->sc_db, AUDIT_AGENT_KILL, id, detail,
		    "ok") != 0 || agent_store_commit(c->sc_db) != 0)
			rv = -1;
	}
	if (rv != 0)
		agent_store_rollback(c->sc_db);
	return (rv);
}


/*
 * One spawn request (POST /api/agents, or one item of a bulk create).
 * Returns the HTTP status; on 201 fills id and name, otherwise err.
 */
static int
agent_spawn_one(struct svc_ctx *c, json_t *body, char id[UTIL_UUID_LEN],
    char *name, size_t namelen, char *err, size_t errlen)
{
	const struct embed_file	*tf;
	json_t			*v, *m = NULL;
	const char		*toml = NULL, *tmpl = NULL, *over = NULL;
	const char		*k, *p;
	size_t			 tlen;
	int			 status = 400, rv;

	if (!json_is_object(body)) {
		snprintf(err, errlen, "request body must be a JSON object");
		return (400);
	}
	json_object_foreach(body, k, v) {
		if (!agent_in_list(k, agent_spawn_keys)) {
			snprintf(err, errlen, "unknown field '%s'", k);
			return (400);
		}
		if (!json_is_string(v) && !json_is_null(v)) {
			snprintf(err, errlen, "'%s' must be a string", k);
			return (400);
		}
	}
	toml = json_string_value(json_object_get(body, "manifest_toml"));
	tmpl = json_string_value(json_object_get(body, "template"));
	over = json_string_value(json_object_get(body, "name"));
	if (json_is_string(json_object_get(body, "signed_manifest"))) {
		snprintf(err, errlen, "signed manifests are not supported");
		return (400);
	}
	for (p = toml; p != NULL && *p != '\0' && strchr(" \t\r\n", *p); p++)
		;
	if (p == NULL || *p == '\0') {
		/* No manifest text: the template names one (notes 2.5). */
		if (tmpl == NULL || *tmpl == '\0') {
			snprintf(err, errlen, "manifest_toml or template is "
			    "required");
			return (400);
		}
		if ((tf = tmpl_find(tmpl)) == NULL) {
			svc_not_found_text(err, errlen, "Template", tmpl);
			return (404);
		}
		toml = tf->ef_text;
		tlen = tf->ef_len;
	} else {
		v = json_object_get(body, "manifest_toml");
		tlen = json_string_length(v);
		if (tlen > AGENT_MANIFEST_MAX) {
			snprintf(err, errlen, "manifest too large (max %d "
			    "bytes)", AGENT_MANIFEST_MAX);
			return (413);
		}
		if (strlen(toml) != tlen) {
			snprintf(err, errlen, "invalid manifest: NUL "
			    "character");
			return (400);
		}
	}
	if ((m = agent_manifest_parse(toml, tlen, err, errlen)) == NULL)
		return (400);
	if (over != NULL && *over != '\0')
		json_object_set_new(m, "name", json_string(over));
	/* Checked before it is copied: the copy would cut a long name. */
	if (agent_name_check(json_string_value(json_object_get(m, "name")),
	    err, errlen) != 0)
		goto done;
	snprintf(name, namelen, "%s", json_string_value(json_object_get(m,
	    "name")));
	if ((rv = agent_check_models(c->sc_db, m, NULL, err, errlen)) != 0) {
		status = rv;
		goto done;
	}
	rv = agent_insert_audited(c, name, m, toml, NULL, id);
	if (rv == 0)
		status = 201;
	else if (rv == AGENT_EEXIST) {
		snprintf(err, errlen, "Agent '%s' already exists", name);
		status = 409;
	} else {
		log_warnx("%s: could not store agent '%s': %s", __func__, name,
		    db_errmsg(c->sc_db));
		snprintf(err, errlen, "database unavailable");
		status = 503;
	}
 done:
	json_decref(m);
	return (status);
}

static void
op_spawn(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	id[UTIL_UUID_LEN], name[AGENT_NAME_MAX + 1];
	char	err[AGENT_ERRLEN];
	int	status;

	status = agent_spawn_one(c, rq->mr_body, id, name, sizeof(name), err,
	    sizeof(err));
	if (status != 201) {
		svc_reply_error(rp, status, "%s", err);
		return;
	}
	comms_on_spawn(c, rq, id);	/* spawned by an agent: its parent */
	agent_publish(c->sc_arg, rq, "agent_spawned", id, name);
	svc_reply_json(rp, 201, json_pack("{s:s, s:s}", "agent_id", id, "name",
	    name));
}

/* ---- delete ---------------------------------------------------------- */

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char	id[UTIL_UUID_LEN], name[AGENT_NAME_MAX + 1];
	int	rv;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if ((rv = agent_delete_audited(c, id, name, sizeof(name))) ==
	    SH_ENOTFOUND) {
		svc_reply_error(rp, 404, "Agent not found");
		return;
	}
	if (rv != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	agent_publish(c->sc_arg, rq, "agent_killed", id, name);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "killed",
	    "agent_id", id));
}

/* ---- clone ----------------------------------------------------------- */

static const char *const clone_keys[] = {
	"new_name", "include_skills", "include_tools", NULL
};

static void
op_clone(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], nid[UTIL_UUID_LEN];
	char		 err[AGENT_ERRLEN];
	json_t		*body = rq->mr_body, *row = NULL, *m = NULL;
	const char	*name;
	int		 skills = 1, tools = 1, rv;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    agent_body_keys(body, clone_keys, rp) != 0 ||
	    agent_get_bool(body, "include_skills", &skills, rp) != 0 ||
	    agent_get_bool(body, "include_tools", &tools, rp) != 0 ||
	    agent_check_name(body, "new_name", rp) != 0)
		return;
	if ((name = json_string_value(json_object_get(body, "new_name"))) ==
	    NULL) {
		svc_reply_error(rp, 400, "'new_name' is required");
		return;
	}
	if ((row = agent_fetch(c, id, 0, rp)) == NULL)
		return;
	if ((m = json_deep_copy(json_object_get(row, "manifest"))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	json_object_set_new(m, "name", json_string(name));
	/* The reference clone: excluded skills or tools are disabled, not
	 * emptied (an empty list would mean "all"). */
	if (!skills) {
		json_object_set_new(m, "skills", json_array());
		json_object_set_new(m, "skills_disabled", json_true());
	}
	if (!tools) {
		json_object_set_new(m, "tools", json_object());
		json_object_set_new(m, "tool_allowlist", json_array());
		json_object_set_new(m, "tool_blocklist", json_array());
		json_object_set_new(m, "tools_disabled", json_true());
	}
	if (agent_manifest_normalize(m, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		goto done;
	}
	/* A new agent: every provider it names must resolve now. */
	if ((rv = agent_check_models(c->sc_db, m, NULL, err,
	    sizeof(err))) != 0) {
		svc_reply_error(rp, rv, "%s", err);
		goto done;
	}
	rv = agent_insert_audited(c, name, m, NULL,
	    json_object_get(row, "identity"), nid);
	if (rv == AGENT_EEXIST)
		svc_reply_error(rp, 409, "Agent '%s' already exists", name);
	else if (rv != 0)
		svc_reply_db_error(rp, c);
	else {
		agent_publish(c->sc_arg, rq, "agent_spawned", nid, name);
		svc_reply_json(rp, 201, json_pack("{s:s, s:s}", "agent_id", nid,
		    "name", name));
	}
 done:
	json_decref(m);
	json_decref(row);
}

/* ---- bulk ------------------------------------------------------------ */

/* The list under key: an array of 1..AGENT_BULK_MAX items. */
static json_t *
agent_bulk_list(const struct msg_req *rq, const char *key,
    struct svc_reply *rp)
{
	const char *const	 keys[] = { key, NULL };
	json_t			*list;

	if (agent_body_keys(rq->mr_body, keys, rp) != 0)
		return (NULL);
	list = json_object_get(rq->mr_body, key);
	if (!json_is_array(list)) {
		svc_reply_error(rp, 400, "'%s' must be an array", key);
		return (NULL);
	}
	if (json_array_size(list) == 0) {
		svc_reply_error(rp, 400, "'%s' must not be empty", key);
		return (NULL);
	}
	if (json_array_size(list) > AGENT_BULK_MAX) {
		svc_reply_error(rp, 400, "too many items in '%s' (max %d)", key,
		    AGENT_BULK_MAX);
		return (NULL);
	}
	return (list);
}

static void
agent_bulk_reply(struct svc_reply *rp, json_t *results, int ok,
    const char *okname)
{
	json_t	*out;

	if (results == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	out = json_pack("{s:o, s:i, s:i, s:i}", "results", results,
	    "total", (int)json_array_size(results), "succeeded", ok,
	    "failed", (int)json_array_size(results) - ok);
	if (out != NULL && okname != NULL)
		json_object_set_new(out, okname, json_integer(ok));
	svc_reply_json(rp, 200, out);
}

static void
op_bulk_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*list, *results, *item, *r;
	char	 id[UTIL_UUID_LEN], name[AGENT_NAME_MAX + 1];
	char	 err[AGENT_ERRLEN];
	size_t	 i;
	int	 status, ok = 0;

	if ((list = agent_bulk_list(rq, "agents", rp)) == NULL)
		return;
	if ((results = json_array()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	json_array_foreach(list, i, item) {
		status = agent_spawn_one(c, item, id, name, sizeof(name), err,
		    sizeof(err));
		if (status == 201) {
			ok++;
			agent_publish(c->sc_arg, rq, "agent_spawned", id, name);
			r = json_pack("{s:i, s:i, s:b, s:s, s:s}", "index",
			    (int)i, "status", status, "success", 1,
			    "agent_id", id, "name", name);
		} else
			r = json_pack("{s:i, s:i, s:b, s:s}", "index", (int)i,
			    "status", status, "success", 0, "error", err);
		if (r == NULL || json_array_append_new(results, r) != 0) {
			json_decref(results);
			results = NULL;
			break;
		}
	}
	agent_bulk_reply(rp, results, ok, "created");
}

/* Runs one bulk action on each id; fn returns 0, SH_ENOTFOUND or -1. */
static void
agent_bulk_ids(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *state, const char *okstatus,
    const char *event)
{
	json_t		*list, *results, *item, *r;
	char		 id[UTIL_UUID_LEN], name[AGENT_NAME_MAX + 1];
	const char	*s;
	size_t		 i, k;
	int		 rv, ok = 0;

	if ((list = agent_bulk_list(rq, "agent_ids", rp)) == NULL)
		return;
	if ((results = json_array()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	json_array_foreach(list, i, item) {
		s = json_string_value(item);
		if (s == NULL || !util_uuid_valid(s)) {
			r = json_pack("{s:O, s:s, s:b, s:s}", "agent_id", item,
			    "status", "error", "success", 0, "error",
			    "Invalid agent ID");
			goto add;
		}
		for (k = 0; k < UTIL_UUID_LEN; k++)
			id[k] = (s[k] >= 'A' && s[k] <= 'F') ?
			    s[k] - 'A' + 'a' : s[k];
		if (state == NULL)
			rv = agent_delete_audited(c, id, name,
			    sizeof(name));
		else
			rv = agent_store_set_state(c->sc_db, id, state, name,
			    sizeof(name));
		if (rv == 0) {
			ok++;
			agent_publish(c->sc_arg, rq, event, id, name);
			r = json_pack("{s:s, s:s, s:b}", "agent_id", id,
			    "status", okstatus, "success", 1);
		} else if (rv == SH_ENOTFOUND)
			r = json_pack("{s:s, s:s, s:b, s:s}", "agent_id", id,
			    "status", "not_found", "success", 0, "error",
			    "Agent not found");
		else {
			log_warnx("%s: agent '%s': %s", __func__, id,
			    db_errmsg(c->sc_db));
			r = json_pack("{s:s, s:s, s:b, s:s}", "agent_id", id,
			    "status", "error", "success", 0, "error",
			    "database unavailable");
		}
 add:
		if (r == NULL || json_array_append_new(results, r) != 0) {
			json_decref(results);
			results = NULL;
			break;
		}
	}
	agent_bulk_reply(rp, results, ok, NULL);
}

static void
op_bulk_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_bulk_ids(c, rq, rp, NULL, "killed", "agent_killed");
}

static void
op_bulk_start(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_bulk_ids(c, rq, rp, "running", "running", "agent_updated");
}

static void
op_bulk_stop(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_bulk_ids(c, rq, rp, "suspended", "suspended", "agent_updated");
}

/* ---- idempotent spawns ------------------------------------------------ */

/* A spawn retried under the same caller.idempotency_key (the HTTP
 * Idempotency-Key header) gets the first one's answer: one agent. */
static void
op_spawn_keyed(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	turn_idem_op(c, rq, rp, op_spawn);
}

static void
op_clone_keyed(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	turn_idem_op(c, rq, rp, op_clone);
}

static void
op_bulk_create_keyed(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	turn_idem_op(c, rq, rp, op_bulk_create);
}

const struct svc_op agent_ops[] = {
	{ OP_AGENTS_LIST,	op_list },
	{ OP_AGENTS_GET,		op_get },
	{ OP_AGENTS_DREAM,	op_dream },
	{ OP_AGENTS_SPAWN,	op_spawn_keyed },
	{ OP_AGENTS_DELETE,	op_delete },
	{ OP_AGENTS_PATCH,	agent_op_patch },
	{ OP_AGENTS_UPDATE,	agent_op_update },
	{ OP_AGENTS_MODE,	agent_op_mode },
	{ OP_AGENTS_IDENTITY,	agent_op_identity },
	{ OP_AGENTS_CONFIG,	agent_op_config },
	{ OP_AGENTS_SET_MODEL,	agent_op_set_model },
	{ OP_AGENTS_CLONE,	op_clone_keyed },
	{ OP_AGENTS_BULK_CREATE,	op_bulk_create_keyed },
	{ OP_AGENTS_BULK_DELETE,	op_bulk_delete },
	{ OP_AGENTS_BULK_START,	op_bulk_start },
	{ OP_AGENTS_BULK_STOP,	op_bulk_stop },
	{ NULL,			NULL }
};
