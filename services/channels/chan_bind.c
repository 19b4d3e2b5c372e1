/*
 * chan_bind.c - agent bindings (sql/003_bindings.sql): the operations
 * behind /api/bindings, and the lookup the router makes for each message.
 *
 * Upstream keeps bindings in config.toml ([[bindings]], an agent and a
 * match_rule); ours are rows, so every replica sees a change at once.  The
 * body takes either shape: {agent, channel?, filter?} as the API reference
 * shows it, with user_id, group_id, thread_id beside, or upstream's
 * {agent, match_rule: {channel?, peer_id?, guild_id?, thread_id?}}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "channels.h"
#include "log.h"
#include "ops.h"
#include "util.h"

#define BIND_FIELD_MAX	256
#define BINDINGS_MAX	1000

/* The most specific binding first, then the oldest. */
static const char SQL_MATCH[] =
	"SELECT agent FROM bindings WHERE "
	"(channel IS NULL OR channel = $1) AND "
	"(user_id IS NULL OR user_id = $2) AND "
	"(group_id IS NULL OR ($5::boolean AND group_id = $3)) AND "
	"(thread_id IS NULL OR thread_id = $4) "
	"ORDER BY (channel IS NOT NULL)::int + (user_id IS NOT NULL)::int + "
	"(group_id IS NOT NULL)::int + (thread_id IS NOT NULL)::int DESC, id "
	"LIMIT 1";

int
chan_bind_match(struct db *db, const char *channel, const char *user_id,
    const char *channel_id, const char *thread_id, int is_group,
    char *agent, size_t len)
{
	PGresult	*res;
	const char	*p[5];
	int		 rv = 0;

	p[0] = channel;
	p[1] = user_id;
	p[2] = channel_id;
	p[3] = thread_id;
	p[4] = is_group ? "true" : "false";
	if ((res = db_exec(db, SQL_MATCH, 5, p)) == NULL) {
		log_warnx("%s: could not read the bindings: %s", __func__,
		    db_errmsg(db));
		return (-1);
	}
	if (PQntuples(res) == 1) {
		snprintf(agent, len, "%s", PQgetvalue(res, 0, 0));
		rv = 1;
	}
	PQclear(res);
	return (rv);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*list, *b;
	int		 i;

	(void)rq;
	if ((res = db_exec(c->sc_db, "SELECT agent, channel, user_id, "
	    "group_id, thread_id, filter FROM bindings ORDER BY id", 0,
	    NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++) {
		b = db_row_json(res, i);
		if (b != NULL) {
			json_object_set_new(b, "index", json_integer(i));
			/* Upstream's shape, beside the reference's. */
			json_object_set_new(b, "match_rule", json_pack(
			    "{s:O, s:O, s:O, s:O}",
			    "channel", json_object_get(b, "channel"),
			    "peer_id", json_object_get(b, "user_id"),
			    "guild_id", json_object_get(b, "group_id"),
			    "thread_id", json_object_get(b, "thread_id")));
		}
		svc_list_add(&list, b);
	}
	PQclear(res);
	svc_reply_list(rp, "bindings", list);
}

/* A field from the body or its match_rule (aliases), or NULL; -1 (400
 * sent) when it is there but no short non-empty string. */
static int
bind_field(json_t *body, const char *key, const char *rule_key,
    const char **out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	if ((v == NULL || json_is_null(v)) && rule_key != NULL)
		v = json_object_get(json_object_get(body, "match_rule"),
		    rule_key);
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > BIND_FIELD_MAX) {
		svc_reply_error(rp, 400, "'%s' must be a string of 1 to %d "
		    "bytes", key, BIND_FIELD_MAX);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

static void
op_add(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*body = rq->mr_body;
	const char	*p[6], *filter;
	PGresult	*res;
	long long	 n;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	if (json_object_get(body, "match_rule") != NULL &&
	    !json_is_object(json_object_get(body, "match_rule"))) {
		svc_reply_error(rp, 400, "'match_rule' must be an object");
		return;
	}
	if (bind_field(body, "agent", NULL, &p[0], rp) != 0 ||
	    bind_field(body, "channel", "channel", &p[1], rp) != 0 ||
	    bind_field(body, "user_id", "peer_id", &p[2], rp) != 0 ||
	    bind_field(body, "group_id", "guild_id", &p[3], rp) != 0 ||
	    bind_field(body, "thread_id", "thread_id", &p[4], rp) != 0 ||
	    bind_field(body, "filter", NULL, &filter, rp) != 0)
		return;
	if (p[0] == NULL) {
		svc_reply_error(rp, 400, "'agent' is required");
		return;
	}
	p[5] = filter != NULL ? filter : "*";
	/* Bounded, so the table and each router lookup stay small. */
	if ((res = db_exec(c->sc_db, "SELECT count(*) FROM bindings", 0,
	    NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (n >= BINDINGS_MAX) {
		svc_reply_error(rp, 409, "there are %d bindings already",
		    BINDINGS_MAX);
		return;
	}
	if (db_cmd(c->sc_db, "INSERT INTO bindings (agent, channel, user_id, "
	    "group_id, thread_id, filter) VALUES ($1, $2, $3, $4, $5, $6)", 6,
	    p) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 201, json_pack("{s:s}", "status", "created"));
}

static void
op_remove(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*s = json_string_value(json_object_get(rq->mr_params,
			    "index"));
	const char	*p[1];
	long long	 idx;
	PGresult	*res;

	if (s == NULL || util_strtonum(s, 0, BINDINGS_MAX, &idx) != 0) {
		svc_reply_error(rp, 400, "the index must be an integer in "
		    "0..%d", BINDINGS_MAX);
		return;
	}
	p[0] = s;
	if ((res = db_exec(c->sc_db, "DELETE FROM bindings WHERE id = "
	    "(SELECT id FROM bindings ORDER BY id OFFSET $1::integer LIMIT 1) "
	    "RETURNING 1", 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0)
		svc_reply_error(rp, 404, "Binding index out of range");
	else
		svc_reply_json(rp, 200, json_pack("{s:s}", "status",
		    "removed"));
	PQclear(res);
}

const struct svc_op chan_bind_ops[] = {
	{ OP_BINDINGS_LIST,	op_list },
	{ OP_BINDINGS_ADD,	op_add },
	{ OP_BINDINGS_REMOVE,	op_remove },
	{ NULL, NULL },
};
