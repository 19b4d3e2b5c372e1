/*
 * trigger/ops.c - triggers.*: the /api/triggers routes (notes/kernel.md
 * 2.6; the shapes of the spec's "Trigger Endpoints").
 *
 * Table scheduler.triggers (sql/003_triggers.sql).  Owners and target
 * agents are checked with agent-runtime (agents.get), never in its
 * tables.  The cap of TRIGGER_MAX_PER_AGENT is counted under an advisory
 * lock on the owner, so two replicas creating at once cannot pass it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "core/sched.h"
#include "db.h"
#include "err.h"
#include "interest.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "trigger/trigger.h"
#include "util.h"

#define TRIGGER_BUS_TIMEOUT_MS	5000

#define TS(col)								\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A trigger as GET shows it, field for field. */
#define TRIGGER_COLS							\
	"id::text AS id, agent_id::text AS agent_id, pattern, "		\
	"prompt_template, enabled, fire_count, max_fires, "		\
	TS("created_at") " AS created_at, cooldown_secs, session_mode, "\
	"target_agent_id::text AS target_agent_id, workflow_id"

static const char SQL_GET[] =
	"SELECT " TRIGGER_COLS " FROM triggers WHERE id = $1::uuid";
static const char SQL_LIST[] =
	"SELECT " TRIGGER_COLS " FROM triggers "
	"WHERE $1::uuid IS NULL OR agent_id = $1::uuid "
	"ORDER BY created_at, id";
static const char SQL_LOCK_OWNER[] =
	"SELECT pg_advisory_xact_lock(hashtext('scheduler.triggers'), "
	"    hashtext($1))";
static const char SQL_COUNT[] =
	"SELECT count(*) FROM triggers WHERE agent_id = $1::uuid";
static const char SQL_INSERT[] =
	"INSERT INTO triggers (id, agent_id, pattern, prompt_template, "
	"    enabled, max_fires, cooldown_secs, session_mode, target_agent_id, "
	"    workflow_id) "
	"VALUES ($1::uuid, $2::uuid, $3::jsonb, $4, $5::boolean, $6::bigint, "
	"    $7::bigint, $8, $9::uuid, $10)";
static const char SQL_DELETE[] =
	"DELETE FROM triggers WHERE id = $1::uuid RETURNING agent_id::text";

/* What a body may set: create takes all but fire_count; PATCH and PUT
 * all but agent_id. */
static const char *const create_keys[] = {
	"agent_id", "pattern", "prompt_template", "max_fires",
	"cooldown_secs", "session_mode", "target_agent_id", "workflow_id",
	"enabled", NULL
};

/* The checked fields of a create or update body; a NULL json_t member
 * was absent, JSON null (where allowed) clears. */
struct trigger_in {
	json_t		*ti_pattern;		/* new, normalised */
	const char	*ti_template;		/* borrowed from the body */
	json_t		*ti_enabled;
	json_t		*ti_max_fires;
	json_t		*ti_cooldown;
	json_t		*ti_session_mode;
	json_t		*ti_target;
	json_t		*ti_workflow;
	char		 ti_target_id[UTIL_UUID_LEN];
};

int
trigger_agent_lookup(const char *id, char *name, size_t namelen)
{
	struct msg_rep	 rep;
	json_t		*req;
	const char	*s;
	int		 status;

	if (name != NULL && namelen > 0)
		name[0] = '\0';
	if (sched.s_bus == NULL)
		return (503);
	if ((req = msg_request(OP_AGENTS_GET, NULL, util_wall_ms() +
	    TRIGGER_BUS_TIMEOUT_MS, json_pack("{s:s}", "principal",
	    "scheduler"), json_pack("{s:s}", PARAM_ID, id), NULL, NULL)) ==
	    NULL)
		return (503);
	if (bus_call(sched.s_bus, SVC_AGENT_RUNTIME, req,
	    TRIGGER_BUS_TIMEOUT_MS, &rep) != 0) {
		json_decref(req);
		return (503);
	}
	json_decref(req);
	status = rep.mp_status;
	if (status == 200 && name != NULL && namelen > 0 &&
	    (s = json_string_value(json_object_get(rep.mp_body, "name"))) !=
	    NULL)
		snprintf(name, namelen, "%s", s);
	msg_rep_release(&rep);
	return (status == 200 || status == 404 ? status : 503);
}

/* params.id as a trigger id: 0, or -1 after a 400. */
static int
param_trigger_id(const struct msg_req *rq, struct svc_reply *rp,
    char id[UTIL_UUID_LEN])
{
	if (svc_uuid_lower(json_string_value(json_object_get(rq->mr_params,
	    PARAM_ID)), id) != 0) {
		svc_reply_error(rp, 400, "Invalid trigger ID");
		return (-1);
	}
	return (0);
}

/* v, when present, must be an integer in [0, max] (null if nullable). */
static int
check_count(json_t *v, const char *what, long long max, int nullable,
    struct svc_reply *rp)
{
	if (v == NULL || (nullable && json_is_null(v)))
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max) {
		svc_reply_error(rp, 400, "'%s' must be an integer in 0..%lld%s",
		    what, max, nullable ? " or null" : "");
		return (-1);
	}
	return (0);
}

static void
trigger_in_release(struct trigger_in *ti)
{
	json_decref(ti->ti_pattern);
	ti->ti_pattern = NULL;
}

/*
 * Checks body's fields into ti (keys: the allowed ones).  Returns 0, or
 * -1 after a 4xx/503 in rp.  The target agent is looked up here; the
 * owner by the caller.
 */
static int
trigger_in_parse(json_t *body, const char *const *keys, struct trigger_in *ti,
    struct svc_reply *rp)
{
	const char	*s;
	json_t		*v;
	char		 err[256];
	size_t		 len;
	int		 status;

	memset(ti, 0, sizeof(*ti));
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return (-1);
	}
	if (svc_known_fields(body, keys, rp) != 0)
		return (-1);
	if ((v = json_object_get(body, "pattern")) != NULL &&
	    (ti->ti_pattern = trigger_pattern_parse(v, err, sizeof(err))) ==
	    NULL) {
		svc_reply_error(rp, 400, "Invalid pattern: %s", err);
		return (-1);
	}
	if ((v = json_object_get(body, "prompt_template")) != NULL) {
		if (!json_is_string(v) ||
		    (len = json_string_length(v)) > TRIGGER_TEMPLATE_MAX ||
		    strlen(json_string_value(v)) != len) {
			svc_reply_error(rp, 400, "'prompt_template' must be a "
			    "string of at most %d bytes", TRIGGER_TEMPLATE_MAX);
			goto fail;
		}
		ti->ti_template = json_string_value(v);
	}
	if ((v = json_object_get(body, "enabled")) != NULL &&
	    !json_is_boolean(v)) {
		svc_reply_error(rp, 400, "'enabled' must be true or false");
		goto fail;
	}
	ti->ti_enabled = v;
	ti->ti_max_fires = json_object_get(body, "max_fires");
	ti->ti_cooldown = json_object_get(body, "cooldown_secs");
	if (check_count(ti->ti_max_fires, "max_fires", TRIGGER_MAX_FIRES_MAX,
	    0, rp) != 0 || check_count(ti->ti_cooldown, "cooldown_secs",
	    TRIGGER_COOLDOWN_MAX, 1, rp) != 0)
		goto fail;
	if ((v = json_object_get(body, "session_mode")) != NULL &&
	    !json_is_null(v) && ((s = json_string_value(v)) == NULL ||
	    (strcmp(s, "new") != 0 && strcmp(s, "persistent") != 0))) {
		svc_reply_error(rp, 400, "'session_mode' must be \"new\", "
		    "\"persistent\" or null");
		goto fail;
	}
	ti->ti_session_mode = v;
	if ((v = json_object_get(body, "workflow_id")) != NULL &&
	    !json_is_null(v) && (!json_is_string(v) ||
	    (len = json_string_length(v)) == 0 || len > TRIGGER_WORKFLOW_MAX ||
	    strlen(json_string_value(v)) != len)) {
		svc_reply_error(rp, 400, "'workflow_id' must be a non-empty "
		    "string of at most %d bytes, or null",
		    TRIGGER_WORKFLOW_MAX);
		goto fail;
	}
	ti->ti_workflow = v;
	if ((v = json_object_get(body, "target_agent_id")) != NULL &&
	    !json_is_null(v)) {
		if (svc_uuid_lower(json_string_value(v), ti->ti_target_id) != 0) {
			svc_reply_error(rp, 400, "'target_agent_id' must be an "
			    "agent UUID or null");
			goto fail;
		}
		if ((status = trigger_agent_lookup(ti->ti_target_id, NULL,
		    0)) != 200) {
			if (status == 404)
				svc_reply_error(rp, 404, "Target agent not "
				    "found");
			else
				svc_reply_error(rp, 503, "agent-runtime is "
				    "unavailable");
			goto fail;
		}
	}
	ti->ti_target = v;
	return (0);
 fail:
	trigger_in_release(ti);
	return (-1);
}

/* v as SQL text (new), NULL for absent or JSON null. */
static char *
sql_text(json_t *v)
{
	char	n[24];

	if (v == NULL || json_is_null(v))
		return (NULL);
	if (json_is_string(v))
		return (strdup(json_string_value(v)));
	if (json_is_boolean(v))
		return (strdup(json_is_true(v) ? "true" : "false"));
	if (json_is_integer(v)) {
		snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(v));
		return (strdup(n));
	}
	return (json_dumps(v, MSG_JSON_FLAGS));
}

/* One row of res as the API shows it (new) into a reply. */
static void
reply_row(struct svc_reply *rp, int status, PGresult *res)
{
	if (PQntuples(res) == 0)
		svc_reply_error(rp, 404, "Trigger not found");
	else
		svc_reply_json(rp, status, db_row_json(res, 0));
}

/* ---- list, get ---------------------------------------------------------- */

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*v = json_object_get(rq->mr_query, "agent_id"), *list;
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { NULL };

	if (v != NULL) {
		if (svc_uuid_lower(json_string_value(v), id) != 0) {
			svc_reply_error(rp, 400, "Invalid agent ID");
			return;
		}
		p[0] = id;
	}
	/* The spec's shape: a bare array. */
	if ((list = svc_rows(c, SQL_LIST, 1, p, NULL, rp)) != NULL)
		svc_reply_json(rp, 200, list);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	PGresult	*res;

	if (param_trigger_id(rq, rp, id) != 0)
		return;
	if ((res = db_exec(c->sc_db, SQL_GET, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	reply_row(rp, 200, res);
	PQclear(res);
}

/* ---- create ------------------------------------------------------------- */

/* Inserts the trigger unless its owner has the cap already, with its
 * audit entry (op the operation): 0, 1 (the cap), or -1 (database). */
static int
trigger_insert(struct db *db, const char *const p[10], const char *op)
{
	PGresult	*res = NULL;
	int		 rv = -1, began = 0;

	if (db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	began = 1;
	if (db_cmd(db, SQL_LOCK_OWNER, 1, &p[1]) != 0 ||
	    (res = db_exec(db, SQL_COUNT, 1, &p[1])) == NULL)
		goto done;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) >=
	    TRIGGER_MAX_PER_AGENT) {
		rv = 1;
		goto done;
	}
	if (db_cmd(db, SQL_INSERT, 10, p) != 0)
		goto done;
	began = 0;	/* committed, or rolled back on failure */
	if (sched_tx_commit(db, p[1], "%s: trigger (%s) on %.256s%s%s", op,
	    p[0], p[2], p[9] != NULL ? " running workflow " : "",
	    p[9] != NULL ? p[9] : "") != 0)
		goto done;
	rv = 0;
 done:
	PQclear(res);
	if (began)
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
	return (rv);
}

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct trigger_in	 ti;
	json_t			*v;
	char			 id[UTIL_UUID_LEN], owner[UTIL_UUID_LEN];
	char			*pat = NULL, *text[5] = { NULL };
	const char		*p[10];
	int			 status, rv, i;

	if (trigger_in_parse(rq->mr_body, create_keys, &ti, rp) != 0)
		return;
	v = json_object_get(rq->mr_body, "agent_id");
	if (v == NULL || ti.ti_pattern == NULL) {
		svc_reply_error(rp, 400, "'agent_id' and 'pattern' are "
		    "required");
		goto done;
	}
	if (svc_uuid_lower(json_string_value(v), owner) != 0) {
		svc_reply_error(rp, 400, "Invalid agent ID");
		goto done;
	}
	if ((status = trigger_agent_lookup(owner, NULL, 0)) != 200) {
		if (status == 404)
			svc_reply_error(rp, 404, "Agent not found");
		else
			svc_reply_error(rp, 503, "agent-runtime is "
			    "unavailable");
		goto done;
	}
	if ((pat = json_dumps(ti.ti_pattern, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	util_uuid4(id);
	text[0] = sql_text(ti.ti_enabled);
	text[1] = sql_text(ti.ti_max_fires);
	text[2] = sql_text(ti.ti_cooldown);
	text[3] = sql_text(ti.ti_session_mode);
	text[4] = sql_text(ti.ti_workflow);
	p[0] = id;
	p[1] = owner;
	p[2] = pat;
	p[3] = ti.ti_template != NULL ? ti.ti_template :
	    TRIGGER_TEMPLATE_DEFAULT;
	p[4] = text[0] != NULL ? text[0] : "true";
	p[5] = text[1] != NULL ? text[1] : "0";
	p[6] = text[2];
	p[7] = text[3];
	p[8] = ti.ti_target != NULL && !json_is_null(ti.ti_target) ?
	    ti.ti_target_id : NULL;
	p[9] = text[4];
	if ((rv = trigger_insert(c->sc_db, p, rq->mr_op)) == 1)
		svc_reply_error(rp, 400, "Agent already has %d triggers (the "
		    "limit)", TRIGGER_MAX_PER_AGENT);
	else if (rv != 0)
		svc_reply_db_error(rp, c);
	else
		svc_reply_json(rp, 201, json_pack("{s:s, s:s, s:s*, s:s*}",
		    "trigger_id", id, "agent_id", owner, "target_agent_id",
		    p[8], "workflow_id", p[9]));
 done:
	for (i = 0; i < 5; i++)
		free(text[i]);
	free(pat);
	trigger_in_release(&ti);
}

/* ---- update (PATCH, PUT) ------------------------------------------------ */

static const char *const update_keys[] = {
	"pattern", "prompt_template", "max_fires", "cooldown_secs",
	"session_mode", "target_agent_id", "workflow_id", "enabled", NULL
};

/*
 * Applies body to trigger id: only the fields it names change (a null
 * clears cooldown_secs, session_mode, target_agent_id, workflow_id), so
 * a fire counting at the same time loses nothing; the change and its
 * audit entry (naming the fields changed) commit together.  Returns the
 * updated row (new result) or NULL after an error in rp.
 */
static PGresult *
trigger_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *id)
{
	struct trigger_in	 ti;
	struct buf		 sql = BUF_INIT(4096);
	const char		*p[9], *k;
	char			*text[9] = { NULL }, *s;
	char			 changed[160] = "";
	json_t			*v;
	PGresult		*res = NULL;
	int			 n = 0, i, bad = 0;
	static const struct {
		const char	*col;
		const char	*cast;
	} cols[] = {
		{ "pattern", "::jsonb" }, { "prompt_template", "" },
		{ "max_fires", "::bigint" }, { "cooldown_secs", "::bigint" },
		{ "session_mode", "" }, { "target_agent_id", "::uuid" },
		{ "workflow_id", "" }, { "enabled", "::boolean" },
	};

	if (json_is_object(rq->mr_body) &&
	    json_object_get(rq->mr_body, "agent_id") != NULL) {
		svc_reply_error(rp, 400, "'agent_id' cannot be changed");
		return (NULL);
	}
	if (json_is_object(rq->mr_body))
		json_object_foreach(rq->mr_body, k, v)
			if (json_is_null(v) && (strcmp(k, "pattern") == 0 ||
			    strcmp(k, "prompt_template") == 0 ||
			    strcmp(k, "max_fires") == 0 ||
			    strcmp(k, "enabled") == 0)) {
				svc_reply_error(rp, 400, "'%s' cannot be null",
				    k);
				return (NULL);
			}
	if (trigger_in_parse(rq->mr_body, update_keys, &ti, rp) != 0)
		return (NULL);
	p[n++] = id;
	(void)buf_adds(&sql, "UPDATE triggers SET id = id");
	for (i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
		if ((v = json_object_get(rq->mr_body, cols[i].col)) == NULL)
			continue;
		if (i == 0)
			s = json_dumps(ti.ti_pattern, MSG_JSON_FLAGS);
		else if (i == 5)
			s = json_is_null(v) ? NULL : strdup(ti.ti_target_id);
		else
			s = sql_text(v);
		if (s == NULL && !json_is_null(v))
			bad = 1;
		text[n] = s;
		p[n] = s;
		n++;
		(void)buf_addf(&sql, ", %s = $%d%s", cols[i].col, n,
		    cols[i].cast);
		(void)snprintf(changed + strlen(changed), sizeof(changed) -
		    strlen(changed), "%s%s", *changed != '\0' ? ", " : "",
		    cols[i].col);
	}
	if (buf_adds(&sql, " WHERE id = $1::uuid RETURNING " TRIGGER_COLS)
	    != 0 || bad) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, sql.b_data, n, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
	} else if (PQntuples(res) == 0) {
		sched_tx_rollback(c->sc_db);
		svc_reply_error(rp, 404, "Trigger not found");
		PQclear(res);
		res = NULL;
	} else if (sched_tx_commit(c->sc_db, PQgetvalue(res, 0,
	    PQfnumber(res, "agent_id")), "%s: trigger (%s) %s", rq->mr_op,
	    id, *changed != '\0' ? changed : "unchanged") != 0) {
		svc_reply_db_error(rp, c);
		PQclear(res);
		res = NULL;
	}
 done:
	for (i = 0; i < n; i++)
		free(text[i]);
	buf_release(&sql);
	trigger_in_release(&ti);
	return (res);
}

/* PATCH: 200 with the whole updated trigger. */
static void
op_patch(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;

	if (param_trigger_id(rq, rp, id) != 0 ||
	    (res = trigger_update(c, rq, rp, id)) == NULL)
		return;
	reply_row(rp, 200, res);
	PQclear(res);
}

/* PUT, the older form: the same change, 200 {status, trigger_id}. */
static void
op_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;

	if (param_trigger_id(rq, rp, id) != 0 ||
	    (res = trigger_update(c, rq, rp, id)) == NULL)
		return;
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "updated",
	    "trigger_id", id));
}

/* ---- delete ------------------------------------------------------------- */

/* Idempotent as upstream: a second delete says "already-deleted". */
static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN];
	const char	*p[1] = { id };
	PGresult	*res;
	int		 n;

	if (param_trigger_id(rq, rp, id) != 0)
		return;
	/* A trigger already gone changed nothing: no entry. */
	if (sched_tx_begin(c->sc_db) != 0 ||
	    (res = db_exec(c->sc_db, SQL_DELETE, 1, p)) == NULL) {
		sched_tx_rollback(c->sc_db);
		svc_reply_db_error(rp, c);
		return;
	}
	n = PQntuples(res);
	if (n == 0)
		sched_tx_rollback(c->sc_db);
	else if (sched_tx_commit(c->sc_db, PQgetvalue(res, 0, 0),
	    "%s: trigger (%s)", rq->mr_op, id) != 0) {
		PQclear(res);
		svc_reply_db_error(rp, c);
		return;
	}
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
	    n > 0 ? "removed" : "already-deleted", "trigger_id", id));
}

/* ---- the event interest -------------------------------------------------- */

/* After a change of the triggers, before the answer: agent-runtime is told
 * whether a turn's Message events are wanted (a pattern all or
 * content_match), so the very next turn publishes them (or stops;
 * trigger/fire.c's TRIGGER_INTEREST_SQL, interest.h). */
#define CHANGE_OP(name, fn)						\
static void								\
name(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)	\
{									\
	fn(c, rq, rp);							\
	if (rp->sr_status >= 200 && rp->sr_status < 300)		\
		(void)interest_send(c->sc_db);				\
}
CHANGE_OP(op_create_i, op_create)
CHANGE_OP(op_patch_i, op_patch)
CHANGE_OP(op_update_i, op_update)
CHANGE_OP(op_delete_i, op_delete)

const struct svc_op trigger_ops[] = {
	{ OP_TRIGGERS_LIST,	op_list },
	{ OP_TRIGGERS_CREATE,	op_create_i },
	{ OP_TRIGGERS_GET,	op_get },
	{ OP_TRIGGERS_PATCH,	op_patch_i },
	{ OP_TRIGGERS_UPDATE,	op_update_i },
	{ OP_TRIGGERS_DELETE,	op_delete_i },
	{ NULL,			NULL }
};
