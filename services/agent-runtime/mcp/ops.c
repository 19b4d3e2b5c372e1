/*
 * mcp/ops.c - mcp.* and integrations.*: the MCP servers as the API shows
 * them (GET/POST /api/mcp/servers, /api/mcp/servers/{name}, reconnect,
 * the catalog, health, reload) and Integrations, the catalog-backed view
 * of the same rows (those with a template_id).
 *
 * The table is the truth for what is configured; the runtime state
 * (connected, tools, failures) is this replica's registry, which every
 * read brings up to date with the table first (mcp_sync()).  A spec's
 * environment values and header values are never shown: they hold
 * credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "mcp/mcp.h"
#include "ops.h"
#include "svc.h"

#define MCP_SQLSTATE_UNIQUE	"23505"

static const char SQL_LIST[] =
	"SELECT name, template_id, spec, version, "
	"    created_at::text AS created_at, updated_at::text AS updated_at "
	"FROM mcp_servers ORDER BY created_at, name";
static const char SQL_GET[] =
	"SELECT name, template_id, spec, version, "
	"    created_at::text AS created_at, updated_at::text AS updated_at "
	"FROM mcp_servers WHERE name = $1";
static const char SQL_ADD[] =
	"INSERT INTO mcp_servers (name, template_id, spec) "
	"VALUES ($1, $2, $3::jsonb)";
static const char SQL_UPDATE[] =
	"UPDATE mcp_servers SET template_id = $2, spec = $3::jsonb, "
	"    version = version + 1, updated_at = clock_timestamp() "
	"WHERE name = $1 RETURNING name";
static const char SQL_DELETE[] =
	"DELETE FROM mcp_servers WHERE name = $1 RETURNING name";

/* ---- views ------------------------------------------------------------ */

static json_t *
keys_of(json_t *o)
{
	json_t		*a = json_array(), *v;
	const char	*k;

	json_object_foreach(o, k, v)
		json_array_append_new(a, json_string(k));
	return (a);
}

/* A row with this replica's runtime state. */
static json_t *
server_view(json_t *row)
{
	json_t		*spec = json_object_get(row, "spec");
	json_t		*tr = json_object_get(spec, "transport"), *st, *out;
	const char	*name = json_string_value(json_object_get(row, "name"));

	out = json_pack("{s:s, s:O, s:O, s:O?, s:O?, s:O?, s:o, s:o, s:O, "
	    "s:O, s:O}",
	    "name", name,
	    "template_id", json_object_get(row, "template_id"),
	    "transport", json_object_get(tr, "type"),
	    "command", json_object_get(tr, "command"),
	    "args", json_object_get(tr, "args"),
	    "url", json_object_get(tr, "url"),
	    "env", keys_of(json_object_get(spec, "env")),
	    "headers", keys_of(json_object_get(tr, "headers")),
	    "timeout_secs", json_object_get(spec, "timeout_secs"),
	    "created_at", json_object_get(row, "created_at"),
	    "updated_at", json_object_get(row, "updated_at"));
	if (out == NULL)
		return (NULL);
	if ((st = mcp_state(name)) == NULL)
		st = json_pack("{s:s, s:b, s:b, s:[], s:i, s:n, s:n, s:b, "
		    "s:i, s:i}", "status", "connecting", "connected", 0,
		    "healthy", 0, "tools", "tool_count", 0, "last_ok",
		    "last_error", "reconnecting", 1, "consecutive_failures",
		    0, "restarts", 0);
	if (st == NULL || json_object_update(out, st) != 0) {
		json_decref(st);
		json_decref(out);
		return (NULL);
	}
	json_decref(st);
	return (out);
}

/* Every row (new array), or NULL after a 503. */
static json_t *
rows_all(struct svc_ctx *c, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*rows;
	int		 i;

	if ((res = db_exec(c->sc_db, SQL_LIST, 0, NULL)) == NULL) {
		svc_reply_db_error(rp, c);
		return (NULL);
	}
	if ((rows = json_array()) != NULL)
		for (i = 0; i < PQntuples(res); i++)
			json_array_append_new(rows, db_row_json(res, i));
	PQclear(res);
	if (rows == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (rows);
}

/* One row (new), NULL after a 404 or 503. */
static json_t *
row_get(struct svc_ctx *c, struct svc_reply *rp, const char *name,
    const char *what)
{
	const char	*p[1] = { name };
	json_t		*row;
	int		 e = 0;

	if (!mcp_name_valid(name)) {
		svc_reply_not_found(rp, what, name);
		return (NULL);
	}
	row = db_one_json(db_exec(c->sc_db, SQL_GET, 1, p), &e);
	if (row == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_not_found(rp, what, name);
		else
			svc_reply_db_error(rp, c);
	}
	return (row);
}

/* params.name or params.id. */
static const char *
param_name(const struct msg_req *rq)
{
	return (json_string_value(json_object_get(rq->mr_params, "name")) ?:
	    json_string_value(json_object_get(rq->mr_params, "id")) ?: "");
}

static void
sync_quietly(struct svc_ctx *c)
{
	if (mcp_sync(c->sc_db) != 0)
		log_debug("%s: could not sync: %s", __func__,
		    db_errmsg(c->sc_db));
}

/* ---- mcp.servers.* ---------------------------------------------------- */

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*rows, *row, *list;
	size_t	 i;

	(void)rq;
	sync_quietly(c);
	if ((rows = rows_all(c, rp)) == NULL)
		return;
	list = json_array();
	json_array_foreach(rows, i, row)
		svc_list_add(&list, server_view(row));
	json_decref(rows);
	svc_reply_list(rp, "servers", list);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*row;

	sync_quietly(c);
	if ((row = row_get(c, rp, param_name(rq), "MCP server")) == NULL)
		return;
	svc_reply_json(rp, 200, server_view(row));
	json_decref(row);
}

/* Inserts a normalised spec; 0, or -1 after the reply. */
static int
spec_insert(struct svc_ctx *c, struct svc_reply *rp, json_t *spec,
    const char *what)
{
	const char	*p[3];
	char		*text;
	int		 rv;

	if ((text = json_dumps(spec, JSON_COMPACT)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	p[0] = json_string_value(json_object_get(spec, "name"));
	p[1] = json_string_value(json_object_get(spec, "template_id"));
	p[2] = text;
	rv = db_cmd(c->sc_db, SQL_ADD, 3, p);
	free(text);
	if (rv == 0)
		return (0);
	if (strcmp(db_sqlstate(c->sc_db), MCP_SQLSTATE_UNIQUE) == 0)
		svc_reply_error(rp, 409, "%s '%s' already exists (or one "
		    "whose tools would have the same names)", what, p[0]);
	else
		svc_reply_db_error(rp, c);
	return (-1);
}

static void
op_add(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t	*spec, *row;
	char	 err[256];
	int	 status;

	if ((spec = mcp_spec_normalise(rq->mr_body, NULL, &status, err,
	    sizeof(err))) == NULL) {
		svc_reply_error(rp, status, "%s", err);
		return;
	}
	if (spec_insert(c, rp, spec, "MCP server") == 0) {
		sync_quietly(c);
		if ((row = row_get(c, rp, json_string_value(json_object_get(
		    spec, "name")), "MCP server")) != NULL) {
			svc_reply_json(rp, 201, server_view(row));
			json_decref(row);
		}
	}
	json_decref(spec);
}

static void
op_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*name = param_name(rq), *p[3];
	json_t		*spec, *row;
	PGresult	*res;
	char		 err[256], *text;
	int		 status;

	if (!mcp_name_valid(name)) {
		svc_reply_not_found(rp, "MCP server", name);
		return;
	}
	if ((spec = mcp_spec_normalise(rq->mr_body, name, &status, err,
	    sizeof(err))) == NULL) {
		svc_reply_error(rp, status, "%s", err);
		return;
	}
	if ((text = json_dumps(spec, JSON_COMPACT)) == NULL) {
		json_decref(spec);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	p[0] = name;
	p[1] = json_string_value(json_object_get(spec, "template_id"));
	p[2] = text;
	res = db_exec(c->sc_db, SQL_UPDATE, 3, p);
	free(text);
	json_decref(spec);
	if (res == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	status = PQntuples(res);
	PQclear(res);
	if (status == 0) {
		svc_reply_not_found(rp, "MCP server", name);
		return;
	}
	sync_quietly(c);
	if ((row = row_get(c, rp, name, "MCP server")) != NULL) {
		svc_reply_json(rp, 200, server_view(row));
		json_decref(row);
	}
}

/* Deletes name; 0, or -1 after a 404/503. */
static int
row_delete(struct svc_ctx *c, struct svc_reply *rp, const char *name,
    const char *what)
{
	const char	*p[1] = { name };
	PGresult	*res;
	int		 n;

	if (!mcp_name_valid(name)) {
		svc_reply_not_found(rp, what, name);
		return (-1);
	}
	if ((res = db_exec(c->sc_db, SQL_DELETE, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		svc_reply_not_found(rp, what, name);
		return (-1);
	}
	sync_quietly(c);
	return (0);
}

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*name = param_name(rq);

	if (row_delete(c, rp, name, "MCP server") == 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
		    "removed", "name", name));
}

static void
op_reconnect(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name = param_name(rq);
	json_t		*row;

	sync_quietly(c);
	if ((row = row_get(c, rp, name, "MCP server")) == NULL)
		return;
	json_decref(row);
	(void)mcp_reconnect(name);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status",
	    "reconnecting", "name", name));
}

/* ---- catalog, health, reload ------------------------------------------ */

static void
op_catalog_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*rows, *row, *t, *v, *list = json_array();
	size_t	 i, j;
	int	 installed;

	(void)rq;
	if ((rows = rows_all(c, rp)) == NULL) {
		json_decref(list);
		return;
	}
	json_array_foreach(mcp_catalog_all(), i, t) {
		installed = 0;
		json_array_foreach(rows, j, row)
			if (json_equal(json_object_get(row, "template_id"),
			    json_object_get(t, "id")))
				installed = 1;
		if ((v = mcp_catalog_view(t)) != NULL)
			json_object_set_new(v, "installed",
			    json_boolean(installed));
		svc_list_add(&list, v);
	}
	json_decref(rows);
	svc_reply_list(rp, "entries", list);
}

static void
op_catalog_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*t;

	(void)c;
	if ((t = mcp_catalog_get(param_name(rq))) == NULL) {
		svc_reply_not_found(rp, "Catalog entry", param_name(rq));
		return;
	}
	svc_reply_json(rp, 200, mcp_catalog_view(t));
}

static void
op_health(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*rows, *row, *v, *sv, *list = json_array();
	size_t		 i;
	int		 healthy = 0, n = 0;

	(void)rq;
	sync_quietly(c);
	if ((rows = rows_all(c, rp)) == NULL) {
		json_decref(list);
		return;
	}
	json_array_foreach(rows, i, row) {
		if ((sv = server_view(row)) == NULL) {
			svc_list_add(&list, NULL);
			continue;
		}
		n++;
		healthy += json_is_true(json_object_get(sv, "healthy"));
		v = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, "
		    "s:O}", "name", json_object_get(sv, "name"), "status",
		    json_object_get(sv, "status"), "healthy",
		    json_object_get(sv, "healthy"), "tool_count",
		    json_object_get(sv, "tool_count"), "last_ok",
		    json_object_get(sv, "last_ok"), "last_error",
		    json_object_get(sv, "last_error"), "consecutive_failures",
		    json_object_get(sv, "consecutive_failures"), "restarts",
		    json_object_get(sv, "restarts"), "reconnecting",
		    json_object_get(sv, "reconnecting"), "transport",
		    json_object_get(sv, "transport"));
		json_decref(sv);
		svc_list_add(&list, v);
	}
	json_decref(rows);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:o, s:i, s:i, s:i}",
	    "status", healthy == n ? "ok" : "degraded", "servers", list,
	    "total", n, "healthy", healthy, "unhealthy", n - healthy));
}

static void
op_reload(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	int	n;

	(void)rq;
	if (mcp_sync(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	n = mcp_reconnect_all();
	svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:i}", "status",
	    "reloaded", "servers", n, "new_connections", n));
}

/* ---- integrations.* --------------------------------------------------- */

static const char *
integ_status(json_t *v)
{
	const char	*s = json_string_value(json_object_get(v, "status"));

	if (s != NULL && strcmp(s, "ready") == 0)
		return ("ready");
	if (s != NULL && strcmp(s, "error") == 0)
		return ("error");
	return ("installed");
}

static void
op_integ_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*rows, *row, *v, *t, *list = json_array();
	size_t	 i;

	(void)rq;
	sync_quietly(c);
	if ((rows = rows_all(c, rp)) == NULL) {
		json_decref(list);
		return;
	}
	json_array_foreach(rows, i, row) {
		t = mcp_catalog_get(json_string_value(json_object_get(row,
		    "template_id")));
		if (t == NULL || (v = server_view(row)) == NULL)
			continue;
		svc_list_add(&list, json_pack("{s:O, s:O?, s:O?, s:O?, s:s, "
		    "s:O, s:O, s:O}", "id", json_object_get(row, "name"),
		    "name", json_object_get(t, "name"), "icon",
		    json_object_get(t, "icon"), "category",
		    json_object_get(t, "category"), "status", integ_status(v),
		    "tool_count", json_object_get(v, "tool_count"),
		    "installed_at", json_object_get(row, "created_at"),
		    "template_id", json_object_get(row, "template_id")));
		json_decref(v);
	}
	json_decref(rows);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I}", "installed", list,
	    "count", (json_int_t)json_array_size(list)));
}

static void
op_integ_available(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	op_catalog_list(c, rq, rp);
	if (rp->sr_status == 200 && json_object_get(rp->sr_body, "entries")) {
		json_object_set(rp->sr_body, "integrations",
		    json_object_get(rp->sr_body, "entries"));
		json_object_set(rp->sr_body, "count",
		    json_object_get(rp->sr_body, "total"));
		json_object_del(rp->sr_body, "entries");
		json_object_del(rp->sr_body, "total");
	}
}

static void
op_integ_add(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*body, *spec, *id;
	char		 err[256];
	int		 status;

	id = json_object_get(rq->mr_body, "id");
	if (!json_is_object(rq->mr_body) || !json_is_string(id) ||
	    json_string_length(id) == 0) {
		svc_reply_error(rp, 400, "'id' is required");
		return;
	}
	if (json_object_size(rq->mr_body) > 2 || (json_object_size(
	    rq->mr_body) == 2 && json_object_get(rq->mr_body,
	    "credentials") == NULL)) {
		svc_reply_error(rp, 400, "only 'id' and 'credentials' are "
		    "accepted");
		return;
	}
	if ((body = json_pack("{s:O, s:O, s:O?}", "template_id", id, "name",
	    id, "credentials", json_object_get(rq->mr_body,
	    "credentials"))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	spec = mcp_spec_normalise(body, NULL, &status, err, sizeof(err));
	json_decref(body);
	if (spec == NULL) {
		if (status == 404)
			svc_reply_error(rp, 404, "Integration '%s' not found",
			    mcp_name_valid(json_string_value(id)) ?
			    json_string_value(id) : "?");
		else
			svc_reply_error(rp, status, "%s", err);
		return;
	}
	if (spec_insert(c, rp, spec, "Integration") == 0) {
		sync_quietly(c);
		svc_reply_json(rp, 201, json_pack("{s:O, s:s, s:b, s:o}",
		    "id", id, "status", "installed", "connected", 0,
		    "message", json_sprintf("Integration '%s' installed",
		    json_string_value(id))));
	}
	json_decref(spec);
}

static void
op_integ_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name = param_name(rq);
	json_t		*row;

	if ((row = row_get(c, rp, name, "Integration")) == NULL)
		return;
	if (json_is_null(json_object_get(row, "template_id"))) {
		json_decref(row);
		svc_reply_not_found(rp, "Integration", name);
		return;
	}
	json_decref(row);
	if (row_delete(c, rp, name, "Integration") == 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "id", name,
		    "status", "removed"));
}

static void
op_integ_reconnect(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name = param_name(rq);
	json_t		*row, *v;

	sync_quietly(c);
	if ((row = row_get(c, rp, name, "Integration")) == NULL)
		return;
	(void)mcp_reconnect(name);
	v = server_view(row);
	json_decref(row);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:O?}", "id", name,
	    "status", "reconnecting", "tool_count", json_object_get(v,
	    "tool_count")));
	json_decref(v);
}

static void
op_integ_health(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*rows, *row, *v, *list = json_array();
	size_t	 i;

	(void)rq;
	sync_quietly(c);
	if ((rows = rows_all(c, rp)) == NULL) {
		json_decref(list);
		return;
	}
	json_array_foreach(rows, i, row) {
		if (json_is_null(json_object_get(row, "template_id")) ||
		    (v = server_view(row)) == NULL)
			continue;
		svc_list_add(&list, json_pack("{s:O, s:s, s:O, s:O, s:O, "
		    "s:O, s:O}", "id", json_object_get(row, "name"),
		    "status", json_is_true(json_object_get(v, "healthy")) ?
		    "Ready" : strcmp(integ_status(v), "error") == 0 ?
		    "Error" : "Connecting", "tool_count",
		    json_object_get(v, "tool_count"), "last_ok",
		    json_object_get(v, "last_ok"), "last_error",
		    json_object_get(v, "last_error"), "consecutive_failures",
		    json_object_get(v, "consecutive_failures"), "reconnecting",
		    json_object_get(v, "reconnecting")));
		json_decref(v);
	}
	json_decref(rows);
	if (list == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I}", "health", list,
	    "count", (json_int_t)json_array_size(list)));
}

const struct svc_op mcp_ops[] = {
	{ OP_MCP_SERVERS_LIST, op_list },
	{ OP_MCP_SERVERS_ADD, op_add },
	{ OP_MCP_SERVERS_GET, op_get },
	{ OP_MCP_SERVERS_UPDATE, op_update },
	{ OP_MCP_SERVERS_DELETE, op_delete },
	{ OP_MCP_SERVERS_RECONNECT, op_reconnect },
	{ OP_MCP_CATALOG_LIST, op_catalog_list },
	{ OP_MCP_CATALOG_GET, op_catalog_get },
	{ OP_MCP_HEALTH, op_health },
	{ OP_MCP_RELOAD, op_reload },
	{ OP_INTEGRATIONS_LIST, op_integ_list },
	{ OP_INTEGRATIONS_AVAILABLE, op_integ_available },
	{ OP_INTEGRATIONS_ADD, op_integ_add },
	{ OP_INTEGRATIONS_DELETE, op_integ_delete },
	{ OP_INTEGRATIONS_RECONNECT, op_integ_reconnect },
	{ OP_INTEGRATIONS_HEALTH, op_integ_health },
	{ OP_INTEGRATIONS_RELOAD, op_reload },
	{ NULL, NULL }
};
