/*
 * chan_ops.c - the channels service's bus operations (proto/messages.md,
 * "channels").  Each answers from the configuration (read at start or
 * at a reload, the same file in every replica) and the tables the lease
 * holders write, so any replica answers alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "cfgsync.h"
#include "channels.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "util.h"

#define DELIVERIES_MAX	500

/* has_token, and never shown. */
int
chan_secret_key(const char *k)
{
	return (strstr(k, "TOKEN") != NULL || strstr(k, "SECRET") != NULL ||
	    strstr(k, "PASSWORD") != NULL || strstr(k, "KEY") != NULL);
}

/* 1 if the adapter program can be run: a path that is executable, or a
 * name found in PATH. */
static int
chan_program_exists(const char *cmd)
{
	const char	*path, *p, *e;
	char		 full[1024];

	if (strchr(cmd, '/') != NULL)
		return (access(cmd, X_OK) == 0);
	if ((path = getenv("PATH")) == NULL)
		return (0);
	for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		snprintf(full, sizeof(full), "%.*s/%s", (int)(e - p), p, cmd);
		if (e > p && access(full, X_OK) == 0)
			return (1);
	}
	return (0);
}

/* 1 if channel-<name>, our adapter program for that platform, is
 * installed: beside this program, or in PATH. */
static int
chan_adapter_here(const char *name)
{
	char	self[1024], path[1200], *slash;
	ssize_t	n;

	snprintf(path, sizeof(path), "channel-%s", name);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/channel-%s", self,
			    name);
			if (access(path, X_OK) == 0)
				return (1);
		}
	}
	snprintf(path, sizeof(path), "channel-%s", name);
	return (chan_program_exists(path));
}

/* The catalogue's fields of ct: [{key, label, type, required}]. */
static json_t *
chan_fields(const struct chan_catalog *ct)
{
	json_t		*a = json_array();
	const char	*lists[2] = { ct->ct_required, ct->ct_optional };
	char		 key[128];
	const char	*p, *e;
	int		 i;

	for (i = 0; i < 2 && a != NULL; i++) {
		for (p = lists[i]; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
			if ((e = strchr(p, ' ')) == NULL)
				e = p + strlen(p);
			if (e == p || (size_t)(e - p) >= sizeof(key))
				continue;
			snprintf(key, sizeof(key), "%.*s", (int)(e - p), p);
			svc_list_add(&a, json_pack("{s:s, s:s, s:s, s:b}",
			    "key", key, "label", key, "type",
			    chan_secret_key(key) ? "secret" : "text",
			    "required", i == 0));
		}
	}
	return (a);
}

/* An adapter of the catalogue that no channel configures. */
static json_t *
chan_unconfigured(const struct chan_catalog *ct)
{
	char	prog[128];

	snprintf(prog, sizeof(prog), "channel-%s", ct->ct_name);
	return (json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:s, s:b, s:o, "
	    "s:n}", "name", ct->ct_name, "display_name", ct->ct_display,
	    "channel_type", ct->ct_name, "enabled", 0, "configured", 0,
	    "has_token", 0, "command", prog, "adapter_installed",
	    chan_adapter_here(ct->ct_name), "fields", chan_fields(ct),
	    "status"));
}

/* The catalogue entry a configured channel is an instance of, or NULL. */
static const struct chan_catalog *
chan_catalog_of(const struct chan_conf *cc)
{
	const struct chan_catalog	*ct;

	for (ct = chan_catalog; ct->ct_name != NULL; ct++)
		if (strcmp(ct->ct_name, cc->cc_channel_type) == 0 ||
		    strcmp(ct->ct_name, cc->cc_name) == 0)
			return (ct);
	return (NULL);
}

/* The view of one configured channel, with its recorded status (status
 * row res, row i, or i < 0 when none). */
static json_t *
chan_view(const struct chan_conf *cc, PGresult *res, int i)
{
	const struct chan_catalog *ct;
	json_t		*o, *env, *st, *jv, *args;
	const char	*k;
	int		 has_token = 0;

	if ((env = json_object()) == NULL)
		return (NULL);
	json_object_foreach(cc->cc_env, k, jv) {
		if (chan_secret_key(k)) {
			has_token |= *json_string_value(jv) != '\0';
			continue;
		}
		json_object_set(env, k, jv);
	}
	if (i >= 0) {
		st = db_row_json(res, i);
		json_object_del(st, "channel");
	} else
		st = json_pack("{s:s, s:I, s:[]}", "state", "pending",
		    "restarts", (json_int_t)0, "capabilities");
	args = json_array();
	for (i = 1; args != NULL && cc->cc_argv[i] != NULL; i++)
		json_array_append_new(args, json_string(cc->cc_argv[i]));
	o = json_pack("{s:s, s:s, s:b, s:b, s:b, s:s, s:o, s:b, s:s?, s:o, "
	    "s:o}", "name", cc->cc_name, "channel_type", cc->cc_channel_type,
	    "enabled", 1, "configured", 1, "has_token", has_token,
	    "command", cc->cc_command, "args", args,
	    "adapter_installed", chan_program_exists(cc->cc_command),
	    "agent", cc->cc_agent, "env", env, "status", st);
	if (o != NULL && (ct = chan_catalog_of(cc)) != NULL) {
		json_object_set_new(o, "display_name",
		    json_string(ct->ct_display));
		json_object_set_new(o, "fields", chan_fields(ct));
	}
	return (o);
}

static PGresult *
chan_status_rows(struct svc_ctx *c)
{
	return (db_exec(c->sc_db, "SELECT channel, state, restarts, "
	    "last_error, capabilities, owner AS instance, "
	    "pid, qr, to_char(updated_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS updated_at "
	    "FROM adapter_status", 0, NULL));
}

static int
chan_status_find(PGresult *res, const char *name)
{
	int	i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), name) == 0)
			return (i);
	return (-1);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const struct chan_conf	*conf;
	const struct chan_catalog *ct;
	PGresult		*res;
	json_t			*list;
	size_t			 i, n;
	int			 found;

	(void)rq;
	chan_sync(c->sc_db);
	conf = chan_confs(&n);
	if ((res = chan_status_rows(c)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	/* The catalogue in its order, each adapter as its configured
	 * instances or else unconfigured; then the channels of no
	 * catalogued type (custom sidecars). */
	list = json_array();
	for (ct = chan_catalog; ct->ct_name != NULL; ct++) {
		found = 0;
		for (i = 0; i < n; i++)
			if (chan_catalog_of(&conf[i]) == ct) {
				found = 1;
				svc_list_add(&list, chan_view(&conf[i], res,
				    chan_status_find(res, conf[i].cc_name)));
			}
		if (!found)
			svc_list_add(&list, chan_unconfigured(ct));
	}
	for (i = 0; i < n; i++)
		if (chan_catalog_of(&conf[i]) == NULL)
			svc_list_add(&list, chan_view(&conf[i], res,
			    chan_status_find(res, conf[i].cc_name)));
	PQclear(res);
	svc_reply_list(rp, "channels", list);
}

static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const struct chan_conf	*conf;
	const struct chan_catalog *ct;
	const char		*name;
	PGresult		*res;
	size_t			 i, n;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	chan_sync(c->sc_db);
	conf = chan_confs(&n);
	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, name) == 0)
			break;
	if (i == n) {
		for (ct = chan_catalog; ct->ct_name != NULL; ct++)
			if (strcmp(ct->ct_name, name) == 0) {
				svc_reply_json(rp, 200, chan_unconfigured(ct));
				return;
			}
		svc_reply_not_found(rp, "Channel", name);
		return;
	}
	if ((res = chan_status_rows(c)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	svc_reply_json(rp, 200, chan_view(&conf[i], res, chan_status_find(res,
	    name)));
	PQclear(res);
}

static void
op_deliveries(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	char		 id[UTIL_UUID_LEN], lim[16];
	const char	*p[2] = { id, lim }, *s;
	long long	 limit = 100;
	PGresult	*res;
	json_t		*list;
	int		 i;

	if (svc_param_agent_id(rq, rp, id) != 0)
		return;
	if ((s = json_string_value(json_object_get(rq->mr_query,
	    "limit"))) != NULL && util_strtonum(s, 1, DELIVERIES_MAX,
	    &limit) != 0) {
		svc_reply_error(rp, 400, "limit must be an integer in 1..%d",
		    DELIVERIES_MAX);
		return;
	}
	snprintf(lim, sizeof(lim), "%lld", limit);
	if ((res = db_exec(c->sc_db, "SELECT o.id, o.idem_key, o.channel, "
	    "o.channel_id, o.recipient, o.thread_id, o.text AS message, "
	    "o.state AS status, o.attempts, o.kind, o.parts, o.streamed, "
	    "i.platform_msg_id AS "
	    "in_reply_to, to_char(o.created_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, "
	    "to_char(o.sent_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS sent_at "
	    "FROM outbox o LEFT JOIN inbound i ON i.id = o.inbound_id "
	    "WHERE o.agent_id = $1::uuid ORDER BY o.id DESC LIMIT "
	    "$2::integer", 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res); i++)
		svc_list_add(&list, db_row_json(res, i));
	PQclear(res);
	svc_reply_list(rp, "deliveries", list);
}

/* The QR login state an adapter last sent (qr_ready, then qr_status
 * merged over it), cached in adapter_status.qr. */
static void
op_qr(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*name, *p[1];
	PGresult	*res;
	json_t		*qr;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	p[0] = name;
	if ((res = db_exec(c->sc_db, "SELECT qr FROM adapter_status WHERE "
	    "channel = $1 AND qr IS NOT NULL", 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		svc_reply_not_found(rp, "QR code of channel", name);
		return;
	}
	qr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (qr != NULL)
		json_object_set_new(qr, "channel", json_string(name));
	svc_reply_json(rp, 200, qr);
}

/*
 * The WhatsApp channel a QR route is about: the one named by the query's
 * session_id, else the first of channel_type "whatsapp" (or so named).
 * 0 and *out (NULL when no channel is WhatsApp's); -1 with 404 in rp
 * for a session_id that names none.
 */
static int
chan_whatsapp(const struct msg_req *rq, struct svc_reply *rp,
    const struct chan_conf **out)
{
	const struct chan_conf	*conf;
	const char		*sid;
	size_t			 i, n;

	conf = chan_confs(&n);
	sid = json_string_value(json_object_get(rq->mr_query, "session_id"));
	for (i = 0; i < n; i++) {
		if (sid != NULL && *sid != '\0' ?
		    strcmp(conf[i].cc_name, sid) == 0 :
		    strcmp(conf[i].cc_channel_type, "whatsapp") == 0 ||
		    strcmp(conf[i].cc_name, "whatsapp") == 0) {
			*out = &conf[i];
			return (0);
		}
	}
	*out = NULL;
	if (sid == NULL || *sid == '\0')
		return (0);
	svc_reply_not_found(rp, "WhatsApp session", sid);
	return (-1);
}

/*
 * The QR login of the WhatsApp channel, from what its adapter sent
 * (qr_ready, then qr_status; cached in adapter_status.qr by the lease
 * holder, so any replica answers alike).  §1.3 has no command that
 * starts a login: an adapter in QR mode starts one as it starts, and a
 * new qr_ready replaces an expired code.  No WhatsApp channel: 200
 * {available: false, ...}, as upstream answers without its gateway.
 */
static void
chan_wa_qr(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    int start)
{
	const struct chan_conf	*cc;
	const char		*p[1], *st, *url, *status, *msg;
	PGresult		*res;
	json_t			*qr = NULL, *o;

	if (chan_whatsapp(rq, rp, &cc) != 0)
		return;
	if (cc == NULL) {
		svc_reply_json(rp, 200, json_pack("{s:b, s:b, s:b, s:s, s:n, "
		    "s:n, s:s, s:s}", "available", 0, "connected", 0,
		    "expired", 0, "status", "unavailable", "session_id",
		    "qr_data_url", "message", "No WhatsApp channel is "
		    "configured", "help", "Configure a [[sidecar_channels]] "
		    "entry with channel_type = \"whatsapp\" whose adapter "
		    "logs in by QR code (it sends qr_ready)"));
		return;
	}
	p[0] = cc->cc_name;
	if ((res = db_exec(c->sc_db, "SELECT state, qr FROM adapter_status "
	    "WHERE channel = $1", 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1))
		qr = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	st = json_string_value(json_object_get(qr, "status"));
	/* The adapter's statuses (§1.3) as the spec's session states. */
	if (qr == NULL || st == NULL)
		status = "pending";
	else if (strcmp(st, "scanning") == 0)
		status = "scanned";
	else if (strcmp(st, "confirmed") == 0)
		status = "authenticated";
	else if (strcmp(st, "expired") == 0)
		status = "expired";
	else
		status = "failed";
	msg = json_string_value(json_object_get(qr, "message"));
	if (msg == NULL)
		msg = qr == NULL ? "Waiting for the adapter's QR code" :
		    strcmp(status, "authenticated") == 0 ? "Connected" :
		    "Scan the QR code with WhatsApp (Linked devices)";
	o = json_pack("{s:b, s:s, s:s, s:b, s:b, s:s, s:s}", "available", 1,
	    "session_id", cc->cc_name, "status", status, "connected",
	    strcmp(status, "authenticated") == 0, "expired",
	    strcmp(status, "expired") == 0, "message", msg, "adapter_state",
	    PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "pending");
	PQclear(res);
	if (o != NULL && start) {
		/* A data: URL is the image itself; any other URL is a page. */
		url = json_string_value(json_object_get(qr, "qr_url"));
		json_object_set_new(o, "qr_data_url", url != NULL &&
		    strncmp(url, "data:", 5) == 0 ? json_string(url) :
		    json_null());
		json_object_set(o, "qr_code", json_object_get(qr, "qr_code") !=
		    NULL ? json_object_get(qr, "qr_code") : json_null());
		json_object_set(o, "qr_url", url != NULL ?
		    json_object_get(qr, "qr_url") : json_null());
		json_object_set(o, "expires_at", json_object_get(qr,
		    "expires_at") != NULL ? json_object_get(qr, "expires_at") :
		    json_null());
	}
	json_decref(qr);
	svc_reply_json(rp, 200, o);
}

static void
op_wa_qr_start(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	chan_wa_qr(c, rq, rp, 1);
}

static void
op_wa_qr_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	chan_wa_qr(c, rq, rp, 0);
}

/*
 * Reads config.toml's channels again here, then stores the file as a
 * config version, as POST /api/config/reload does (cfgsync.h): every
 * other replica, on any host, applies that version's text (its
 * [[sidecar_channels]] through channels_reload_cfg()), and so does every
 * other process for the rest of the file.  The whole file must load: a
 * bad key elsewhere is a 400 too, and nothing changes.
 *
 * {"restore": "<archive>"} (POST /api/restore, after it put back the
 * database and config.toml): the file is stored as a new version even
 * when it is the newest one's text -- the restored versions are older
 * than those the processes applied, and the restore moved the sequence
 * past both (services/audit/backup.c) -- and audited as the restore's.
 *
 * {"store": false} (an older release's restore): no version is stored;
 * the other replicas are told with a config_reloads row to read their
 * file again.
 */
static void
op_reload(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*p[1] = { svc_instance() }, *restore = NULL;
	json_t		*diff, *v;
	char		 err[600], detail[256];
	int		 store;

	store = !json_is_false(json_object_get(rq->mr_body, "store"));
	if ((v = json_object_get(rq->mr_body, "restore")) != NULL) {
		/* The audit service's, after POST /api/restore: an HTTP
		 * caller may not have its reload audited as a restore. */
		if (strcmp(json_string_value(json_object_get(rq->mr_caller,
		    "principal")) ?: "", SVC_AUDIT) != 0) {
			svc_reply_error(rp, 400, "unknown field 'restore' "
			    "(set only by POST /api/restore)");
			return;
		}
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 128) {
			svc_reply_error(rp, 400, "restore must be the name of "
			    "the archive restored");
			return;
		}
		restore = json_string_value(v);
		store = 1;
	}
	if ((store && chan_config_check(err, sizeof(err)) != 0) ||
	    chan_reload(err, sizeof(err), &diff) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if (restore != NULL)
		snprintf(detail, sizeof(detail), "config restored from backup "
		    "%s (POST /api/restore)", restore);
	else
		snprintf(detail, sizeof(detail), "channels reloaded (POST "
		    "/api/channels/reload)");
	if (store && cfgsync_reload_file(c, rp, detail, restore != NULL, NULL,
	    NULL) != 0) {
		json_decref(diff);
		return;
	}
	if (!store && db_cmd(c->sc_db, "INSERT INTO config_reloads "
	    "(instance) VALUES ($1)", 1, p) != 0) {
		json_decref(diff);
		svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(diff, "status", json_string("reloaded"));
	svc_reply_json(rp, 200, diff);
}

const struct svc_op chan_ops[] = {
	{ OP_CHANNELS_LIST,		op_list },
	{ OP_CHANNELS_GET,		op_get },
	{ OP_CHANNELS_DELIVERIES,	op_deliveries },
	{ OP_CHANNELS_QR,		op_qr },
	{ OP_CHANNELS_RELOAD,		op_reload },
	{ OP_CHANNELS_WA_QR_START,	op_wa_qr_start },
	{ OP_CHANNELS_WA_QR_STATUS,	op_wa_qr_status },
	{ NULL, NULL },
};
