/*
 * chan_webhook.c - outbound webhooks (sql/007_webhooks.sql): the
 * operations behind /api/webhooks and /api/webhooks/events, the
 * [webhooks] configuration, the URL rules and one signed POST.
 * chan_hookout.c queues and delivers; docs: services/channels/README.md,
 * "Outbound webhooks".
 *
 * Two kinds of subscription share one table and one delivery path:
 * "outbound" ({name, url, secret?, events[], enabled?}, upstream's
 * webhook_store) and "event" ({url, event_type | events[], secret?,
 * enabled?}, upstream's event webhooks, here persistent too).  A secret
 * not given is generated; the create answer shows it once, every other
 * answer shows "***".
 *
 * A URL must be http(s), at most 2048 bytes, without user or password,
 * and its host must pass libshared's SSRF rules (ssrf.h): a loopback,
 * private, link-local, ... address or a local or internal name is
 * refused unless [webhooks] allowed_hosts lists it; a cloud metadata
 * address never passes.  At delivery the name is resolved, every address
 * checked and the transfer pinned to the checked one (ssrf_check()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "channels.h"
#include "err.h"
#include "httpc.h"
#include "interest.h"
#include "log.h"
#include "ops.h"
#include "ssrf.h"
#include "util.h"

#define HOOK_NAME_MAX		128
#define HOOK_URL_MAX		2048
#define HOOK_SECRET_MAX		256
#define HOOK_MAX		100	/* subscriptions of each kind */
#define HOOK_ANSWER_MAX		(64 * 1024)	/* bytes of an answer kept */
#define HOOK_RECENT		20	/* deliveries a GET shows */

/* Every event name a subscription may name ("all": every one). */
static const char *const hook_event_names[] = {
	"agent_spawned", "agent_stopped", "agent_error", "message_received",
	"message_completed", "cron_fired", "trigger_fired", "webhook_wake",
	"memory_updated", "task_posted", "task_claimed", "task_completed",
	"workflow_completed", "workflow_failed", "approval_requested",
	"approval_resolved", "all", NULL
};

static struct chan_hook_conf	hook_conf = {
	NULL, HOOK_ATTEMPTS_DEFAULT, HOOK_BACKOFF_MS_DEFAULT,
	HOOK_BACKOFF_MAX_DEFAULT * 1000LL, HOOK_TIMEOUT_DEFAULT * 1000LL,
	HOOK_WORKERS_DEFAULT
};

#define HOOK_TS_AS(col, name)						\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS " name
#define HOOK_TS(col)	HOOK_TS_AS(col, col)

#define HOOK_COLUMNS							\
	"id::text AS id, name, url, events, enabled, "			\
	HOOK_TS("created_at") ", " HOOK_TS("updated_at")

/* ---- configuration ------------------------------------------------------ */

/* [webhooks] key, an integer in [min, max], else def; -1 when present
 * and wrong. */
static int
hook_conf_int(json_t *sec, const char *key, long long min, long long max,
    long long def, long long *out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(sec, key);

	*out = def;
	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen, "[webhooks] %s must be an integer from "
		    "%lld to %lld", key, min, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (0);
}

int
chan_hook_conf_load(const struct sh_config *cfg, char *err, size_t errlen)
{
	json_t		*sec = json_object_get(cfg->cf_doc, "webhooks"), *v;
	long long	 n;
	size_t		 i;

	if (sec != NULL && !json_is_object(sec)) {
		snprintf(err, errlen, "[webhooks] must be a table");
		return (-1);
	}
	v = json_object_get(sec, "allowed_hosts");
	if (v != NULL) {
		if (!json_is_array(v)) {
			snprintf(err, errlen, "[webhooks] allowed_hosts must "
			    "be an array of \"host\" or \"host:port\"");
			return (-1);
		}
		for (i = 0; i < json_array_size(v); i++) {
			if (!json_is_string(json_array_get(v, i))) {
				snprintf(err, errlen, "[webhooks] "
				    "allowed_hosts must hold strings");
				return (-1);
			}
		}
	}
	hook_conf.hc_allow = v;
	if (hook_conf_int(sec, "max_attempts", 1, 100, HOOK_ATTEMPTS_DEFAULT,
	    &hook_conf.hc_attempts, err, errlen) != 0 ||
	    hook_conf_int(sec, "backoff_base_ms", 10, 3600000,
	    HOOK_BACKOFF_MS_DEFAULT, &hook_conf.hc_backoff_ms, err,
	    errlen) != 0 ||
	    hook_conf_int(sec, "backoff_max_secs", 1, 86400,
	    HOOK_BACKOFF_MAX_DEFAULT, &n, err, errlen) != 0)
		return (-1);
	hook_conf.hc_backoff_max_ms = n * 1000;
	if (hook_conf_int(sec, "timeout_secs", 1, 120, HOOK_TIMEOUT_DEFAULT,
	    &n, err, errlen) != 0)
		return (-1);
	hook_conf.hc_timeout_ms = n * 1000;
	if (hook_conf_int(sec, "workers", 1, HOOK_WORKERS_MAX,
	    HOOK_WORKERS_DEFAULT, &n, err, errlen) != 0)
		return (-1);
	hook_conf.hc_workers = (int)n;
	return (0);
}

const struct chan_hook_conf *
chan_hook_conf(void)
{
	return (&hook_conf);
}

/* ---- URLs ---------------------------------------------------------------- */

int
chan_hook_url_check(const char *url, char *err, size_t errlen)
{
	CURLU		*u;
	char		*scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
	char		*port = NULL;
	const char	*why;
	long long	 pn = 0;
	int		 is_ip, rv = -1;

	if (strlen(url) > HOOK_URL_MAX) {
		snprintf(err, errlen, "'url' is longer than %d bytes",
		    HOOK_URL_MAX);
		return (-1);
	}
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(err, errlen, "'url' is not a valid URL");
		goto done;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "'url' scheme '%s' is not allowed: only "
		    "http and https", scheme);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		snprintf(err, errlen, "'url' must not carry a user or "
		    "password");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK)
		(void)util_strtonum(port, 0, 65535, &pn);
	if ((why = ssrf_host_blocked(host, &is_ip)) != NULL &&
	    (strcmp(why, SSRF_WHY_METADATA) == 0 ||
	    !ssrf_allowed(hook_conf.hc_allow, host, (long)pn))) {
		snprintf(err, errlen, "'url' is refused: SSRF blocked: %s "
		    "(%s)%s", host, why, strcmp(why, SSRF_WHY_METADATA) == 0 ?
		    "" : "; [webhooks] allowed_hosts admits a trusted host");
		goto done;
	}
	rv = 0;
 done:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(pass);
	curl_free(port);
	curl_url_cleanup(u);
	return (rv);
}

/* ---- one signed POST ------------------------------------------------------ */

struct hook_pin {
	struct curl_slist	*p_resolve;
};

static int
hook_setup(CURL *h, void *arg)
{
	struct hook_pin	*pin = arg;

	if (pin->p_resolve != NULL &&
	    curl_easy_setopt(h, CURLOPT_RESOLVE, pin->p_resolve) != CURLE_OK)
		return (-1);
	return (0);
}

int
chan_hook_sign(const char *secret, const char *ts, const char *body,
    char out[CHAN_HOOK_SIG_LEN + 1])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE], *msg;
	unsigned int	 maclen = 0, i;
	size_t		 tl = ts != NULL ? strlen(ts) : 0, n = strlen(body);
	size_t		 off = 0;

	if ((msg = malloc(tl + 1 + n + 1)) == NULL)
		return (-1);
	if (ts != NULL) {
		memcpy(msg, ts, tl);
		msg[tl] = '.';
		off = tl + 1;
	}
	memcpy(msg + off, body, n);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, off + n, mac,
	    &maclen) == NULL || maclen != 32) {
		free(msg);
		return (-1);
	}
	free(msg);
	memcpy(out, "sha256=", 7);
	for (i = 0; i < maclen; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	return (0);
}

int
chan_hook_post(const char *url, const char *secret, const char *delivery,
    const char *event, const char *body, struct chan_hook_result *r)
{
	struct httpc_req	 rq;
	struct httpc_resp	 rs;
	struct hook_pin		 pin = { NULL };
	struct ssrf_target	 t;
	struct curl_slist	*hdrs = NULL, *h;
	CURLU			*u = NULL;
	char			 sig[CHAN_HOOK_SIG_LEN + 1], sig2[sizeof(sig)];
	char			 line[512], ts[32], why[512];
	uint64_t		 t0;
	int			 rv = -1, i;

	memset(r, 0, sizeof(*r));
	memset(&rs, 0, sizeof(rs));
	t0 = util_now_ms();
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		snprintf(r->hr_err, sizeof(r->hr_err), "invalid URL");
		r->hr_final = 1;
		goto done;
	}
	switch (ssrf_check(u, hook_conf.hc_allow, "[webhooks] allowed_hosts",
	    &t, why, sizeof(why))) {
	case 0:
		break;
	case SSRF_ERESOLVE:
		snprintf(r->hr_err, sizeof(r->hr_err), "%s", why);
		goto done;		/* may resolve later */
	default:
		snprintf(r->hr_err, sizeof(r->hr_err), "%s", why);
		r->hr_final = 1;
		goto done;
	}
	if (t.st_resolve[0] != '\0' &&
	    (pin.p_resolve = curl_slist_append(NULL, t.st_resolve)) == NULL)
		goto nomem;
	snprintf(ts, sizeof(ts), "%lld", (long long)(util_wall_ms() / 1000));
	if (chan_hook_sign(secret, ts, body, sig) != 0 ||
	    chan_hook_sign(secret, NULL, body, sig2) != 0)
		goto nomem;
	for (i = 0; i < 7; i++) {
		switch (i) {
		case 0:
			snprintf(line, sizeof(line), "Content-Type: "
			    "application/json");
			break;
		case 1:
			snprintf(line, sizeof(line), "X-LibreFang-Event: %s",
			    event);
			break;
		case 2:
			snprintf(line, sizeof(line), "X-LibreFang-Delivery: "
			    "%s", delivery);
			break;
		case 3:
			snprintf(line, sizeof(line), "X-LibreFang-Timestamp: "
			    "%s", ts);
			break;
		case 4:
			snprintf(line, sizeof(line), "X-LibreFang-Signature: "
			    "%s", sig);
			break;
		case 5:
			/* upstream's header: the body alone */
			snprintf(line, sizeof(line), "X-Webhook-Signature: "
			    "%s", sig2);
			break;
		default:
			snprintf(line, sizeof(line), "Expect:");
			break;
		}
		if ((h = curl_slist_append(hdrs, line)) == NULL)
			goto nomem;
		hdrs = h;
	}
	memset(&rq, 0, sizeof(rq));
	rq.hr_url = url;
	rq.hr_method = "POST";
	rq.hr_headers = hdrs;
	rq.hr_body = body;
	rq.hr_bodylen = strlen(body);
	rq.hr_timeout_ms = (long)hook_conf.hc_timeout_ms;
	rq.hr_connect_ms = rq.hr_timeout_ms;
	rq.hr_max = HOOK_ANSWER_MAX;
	rq.hr_truncate = 1;
	rq.hr_agent = "LibreFang-Webhook/1.0";
	rq.hr_setup = hook_setup;
	rq.hr_arg = &pin;
	if (httpc_do(&rq, &rs) != 0) {
		snprintf(r->hr_err, sizeof(r->hr_err), "%s",
		    rs.hs_curlcode == CURLE_OPERATION_TIMEDOUT ?
		    "timed out" : rs.hs_err[0] != '\0' ? rs.hs_err :
		    "no answer");
		goto done;
	}
	r->hr_status = rs.hs_status;
	if (rs.hs_status >= 200 && rs.hs_status < 300)
		rv = 0;
	else {
		snprintf(r->hr_err, sizeof(r->hr_err), "HTTP %ld",
		    rs.hs_status);
		/* A refusal stays one, except "later" and "too many". */
		r->hr_final = rs.hs_status >= 400 && rs.hs_status < 500 &&
		    rs.hs_status != 408 && rs.hs_status != 429;
	}
	goto done;
 nomem:
	snprintf(r->hr_err, sizeof(r->hr_err), "out of memory");
 done:
	r->hr_ms = (long)(util_now_ms() - t0);
	httpc_resp_release(&rs);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(pin.p_resolve);
	curl_url_cleanup(u);
	return (rv);
}

char *
chan_hook_body(const char *delivery, const char *webhook, const char *event,
    const char *created_at, const char *payload)
{
	json_error_t	 je;
	json_t		*data, *o;
	char		*s;

	if ((data = json_loads(payload, JSON_DECODE_ANY, &je)) == NULL)
		data = json_null();
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", delivery, "event",
	    event, "webhook_id", webhook, "timestamp", created_at, "data",
	    data);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return (s);
}

/* ---- input ----------------------------------------------------------------- */

/* The canonical name of an event ("agent.spawned" -> "agent_spawned"),
 * copied into out; 0, or -1 when unknown. */
static int
hook_event_name(const char *in, char *out, size_t len)
{
	size_t	i;

	snprintf(out, len, "%s", in);
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] == '.')
			out[i] = '_';
	if (strcmp(out, "agent_terminated") == 0)
		snprintf(out, len, "agent_stopped");
	for (i = 0; hook_event_names[i] != NULL; i++)
		if (strcmp(out, hook_event_names[i]) == 0)
			return (0);
	return (-1);
}

/* The events of body (events[], or event_type when event_type_ok) as a
 * canonical JSON array text (new); NULL with 400 sent. */
static char *
hook_events(json_t *body, int event_type_ok, struct svc_reply *rp)
{
	json_t		*v = json_object_get(body, "events"), *out, *e;
	char		 name[64], *s;
	size_t		 i, j;

	if (event_type_ok && v == NULL &&
	    json_object_get(body, "event_type") != NULL) {
		if (!json_is_string(json_object_get(body, "event_type")) ||
		    hook_event_name(json_string_value(json_object_get(body,
		    "event_type")), name, sizeof(name)) != 0) {
			svc_reply_error(rp, 400, "'event_type' is not an event "
			    "a webhook can subscribe to");
			return (NULL);
		}
		out = json_pack("[s]", name);
		goto dump;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > 32) {
		svc_reply_error(rp, 400, "'events' must be an array of 1 to "
		    "32 event names%s", event_type_ok ? " (or give "
		    "'event_type')" : "");
		return (NULL);
	}
	out = json_array();
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) >= 48 ||
		    hook_event_name(json_string_value(e), name,
		    sizeof(name)) != 0) {
			json_decref(out);
			svc_reply_error(rp, 400, "unknown event '%.48s': "
			    "agent_spawned, agent_stopped, agent_error, "
			    "message_received, message_completed, cron_fired, "
			    "trigger_fired, webhook_wake, memory_updated, "
			    "task_posted, task_claimed, task_completed, "
			    "workflow_completed, workflow_failed, "
			    "approval_requested, approval_resolved or all",
			    json_is_string(e) ? json_string_value(e) :
			    "(not a string)");
			return (NULL);
		}
		for (j = 0; j < json_array_size(out); j++)
			if (strcmp(json_string_value(json_array_get(out, j)),
			    name) == 0)
				break;
		if (j == json_array_size(out))
			json_array_append_new(out, json_string(name));
	}
 dump:
	s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
	json_decref(out);
	if (s == NULL)
		svc_reply_error(rp, 500, "out of memory");
	return (s);
}

/* body[key]: absent (NULL, 0), or a string of 1..max bytes without NUL;
 * -1 with 400 sent. */
static int
hook_str(json_t *body, const char *key, size_t max, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		svc_reply_error(rp, 400, "'%s' must be a string of 1 to %zu "
		    "bytes", key, max);
		return (-1);
	}
	*out = json_string_value(v);
	return (0);
}

/* body.enabled: -1 absent, 0 or 1; -2 with 400 sent. */
static int
hook_enabled(json_t *body, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, "enabled");

	if (v == NULL || json_is_null(v))
		return (-1);
	if (!json_is_boolean(v)) {
		svc_reply_error(rp, 400, "'enabled' must be true or false");
		return (-2);
	}
	return (json_is_true(v));
}

static const char *const hook_keys[] = {
	"name", "url", "secret", "events", "enabled", "event_type", NULL
};

/* ---- answers ------------------------------------------------------------------ */

/* A subscription as the API shows it: the secret hidden, or shown
 * (secret non-NULL, the create answer). */
static json_t *
hook_row(PGresult *res, int row)
{
	json_t	*o = db_row_json(res, row);

	if (o != NULL)
		json_object_set_new(o, "secret", json_string("***"));
	return (o);
}

/* The id param of kind's subscription as a lowercase uuid; -1 with 400
 * (outbound) or 404 (event, as upstream) sent. */
static int
hook_id(const struct msg_req *rq, const char *kind, char id[UTIL_UUID_LEN],
    struct svc_reply *rp)
{
	if (svc_uuid_lower(json_string_value(json_object_get(rq->mr_params,
	    PARAM_ID)), id) == 0)
		return (0);
	if (strcmp(kind, "event") == 0)
		svc_reply_error(rp, 404, "webhook not found");
	else
		svc_reply_error(rp, 400, "invalid webhook id: not a uuid");
	return (-1);
}

static void
hook_list(struct svc_ctx *c, struct svc_reply *rp, const char *kind,
    int bare)
{
	const char	*p[1] = { kind };
	json_t		*list;

	if ((list = svc_rows(c, "SELECT " HOOK_COLUMNS " FROM webhooks "
	    "WHERE kind = $1 ORDER BY created_at, id", 1, p, hook_row,
	    rp)) == NULL)
		return;
	if (bare)
		svc_reply_json(rp, 200, list);
	else
		svc_reply_list(rp, "webhooks", list);
}

static void
hook_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *kind)
{
	json_t		*body = rq->mr_body, *o;
	const char	*name, *url, *secret, *p[6];
	char		 id[UTIL_UUID_LEN], gen[7 + 64 + 1], err[512];
	char		*events = NULL;
	unsigned char	 rnd[32];
	int		 en, e;
	size_t		 i;
	PGresult	*res;

	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	if (svc_known_fields(body, hook_keys, rp) != 0 ||
	    hook_str(body, "name", HOOK_NAME_MAX, &name, rp) != 0 ||
	    hook_str(body, "url", HOOK_URL_MAX + 1, &url, rp) != 0 ||
	    hook_str(body, "secret", HOOK_SECRET_MAX, &secret, rp) != 0 ||
	    (en = hook_enabled(body, rp)) == -2)
		return;
	if (url == NULL) {
		svc_reply_error(rp, 400, "'url' is required");
		return;
	}
	if (name == NULL && strcmp(kind, "outbound") == 0) {
		svc_reply_error(rp, 400, "'name' is required");
		return;
	}
	if (chan_hook_url_check(url, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if ((events = hook_events(body, strcmp(kind, "event") == 0, rp)) ==
	    NULL)
		return;
	if (secret == NULL) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			svc_reply_error(rp, 500, "no random bytes");
			goto done;
		}
		memcpy(gen, "whsec_", 6);
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(gen + 6 + 2 * i, 3, "%02x", rnd[i]);
		secret = gen;
	}
	util_uuid4(id);
	p[0] = id;
	p[1] = kind;
	p[2] = name != NULL ? name : "event webhook";
	p[3] = url;
	p[4] = secret;
	p[5] = events;
	/* Bounded in the statement, so two creates cannot both pass. */
	if ((res = db_exec(c->sc_db, "INSERT INTO webhooks (id, kind, name, "
	    "url, secret, events, enabled) SELECT $1::uuid, $2, $3, $4, $5, "
	    "$6::jsonb, " "coalesce($7::boolean, true) "
	    "WHERE (SELECT count(*) FROM webhooks WHERE kind = $2) < "
	    "100 RETURNING " HOOK_COLUMNS, 7, (const char *[]){ p[0], p[1],
	    p[2], p[3], p[4], p[5], en < 0 ? NULL : en ? "true" :
	    "false" })) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		svc_reply_error(rp, 409, "there are %d webhooks of this kind "
		    "already", HOOK_MAX);
		goto done;
	}
	o = db_one_json(res, &e);
	if (o != NULL)
		json_object_set_new(o, "secret", json_string(secret));
	svc_reply_json(rp, 201, o);
 done:
	explicit_bzero(gen, sizeof(gen));
	free(events);
}

static void
hook_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *kind)
{
	json_t		*body = rq->mr_body, *o;
	const char	*name, *url, *secret, *p[7];
	char		 id[UTIL_UUID_LEN], err[512], *events = NULL;
	int		 en, e;

	if (hook_id(rq, kind, id, rp) != 0)
		return;
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	if (svc_known_fields(body, hook_keys, rp) != 0 ||
	    hook_str(body, "name", HOOK_NAME_MAX, &name, rp) != 0 ||
	    hook_str(body, "url", HOOK_URL_MAX + 1, &url, rp) != 0 ||
	    hook_str(body, "secret", HOOK_SECRET_MAX, &secret, rp) != 0 ||
	    (en = hook_enabled(body, rp)) == -2)
		return;
	if (url != NULL && chan_hook_url_check(url, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if ((json_object_get(body, "events") != NULL ||
	    json_object_get(body, "event_type") != NULL) &&
	    (events = hook_events(body, strcmp(kind, "event") == 0, rp)) ==
	    NULL)
		return;
	p[0] = id;
	p[1] = kind;
	p[2] = name;
	p[3] = url;
	p[4] = secret;
	p[5] = events;
	p[6] = en < 0 ? NULL : en ? "true" : "false";
	o = db_one_json(db_exec(c->sc_db, "UPDATE webhooks SET "
	    "name = coalesce($3, name), url = coalesce($4, url), "
	    "secret = coalesce($5, secret), "
	    "events = coalesce($6::jsonb, events), "
	    "enabled = coalesce($7::boolean, enabled), updated_at = now() "
	    "WHERE id = $1::uuid AND kind = $2 RETURNING " HOOK_COLUMNS, 7, p),
	    &e);
	free(events);
	if (o == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "webhook not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(o, "secret", json_string("***"));
	svc_reply_json(rp, 200, o);
}

static void
hook_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp, const char *kind)
{
	const char	*p[2];
	char		 id[UTIL_UUID_LEN];
	PGresult	*res;

	if (hook_id(rq, kind, id, rp) != 0)
		return;
	p[0] = id;
	p[1] = kind;
	if ((res = db_exec(c->sc_db, "DELETE FROM webhooks WHERE id = "
	    "$1::uuid AND kind = $2 RETURNING 1", 2, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0)
		svc_reply_error(rp, 404, "webhook not found");
	else
		svc_reply_json(rp, 204, json_null());
	PQclear(res);
}

/* ---- /api/webhooks ---------------------------------------------------------------- */

/* After a change of the subscriptions (either kind: every enabled webhook
 * naming an event gets it): the names are read again, and agent-runtime
 * is told before the answer whether a turn's Message events are wanted,
 * so the very next turn publishes them (or stops). */
static void
hook_changed(struct svc_ctx *c, struct svc_reply *rp)
{
	chan_hookout_changed();
	if (rp->sr_status >= 200 && rp->sr_status < 300)
		(void)interest_send(c->sc_db);
}

static void
op_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	(void)rq;
	hook_list(c, rp, "outbound", 0);
}

static void
op_create(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	hook_create(c, rq, rp, "outbound");
	hook_changed(c, rp);
}

static void
op_update(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	hook_update(c, rq, rp, "outbound");
	hook_changed(c, rp);
}

static void
op_delete(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	hook_delete(c, rq, rp, "outbound");
	hook_changed(c, rp);
}

/* The subscription and its last deliveries, each with its attempts. */
static void
op_get(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const char	*p[2];
	char		 id[UTIL_UUID_LEN], n[16];
	json_t		*o, *d;
	int		 e;

	if (hook_id(rq, "outbound", id, rp) != 0)
		return;
	p[0] = id;
	o = db_one_json(db_exec(c->sc_db, "SELECT " HOOK_COLUMNS " FROM "
	    "webhooks WHERE id = $1::uuid AND kind = 'outbound'", 1, p), &e);
	if (o == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "webhook not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	json_object_set_new(o, "secret", json_string("***"));
	snprintf(n, sizeof(n), "%d", HOOK_RECENT);
	p[1] = n;
	if ((d = svc_rows(c, "SELECT d.id::text AS id, d.event, d.state, "
	    "d.attempts, d.last_status, d.last_error, "
	    HOOK_TS_AS("d.created_at", "created_at") ", "
	    HOOK_TS_AS("d.delivered_at", "delivered_at") ", "
	    "coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', "
	    "a.attempt, 'status', a.status, 'latency_ms', a.latency_ms, "
	    "'error', a.error, 'replica', a.replica) ORDER BY a.id) "
	    "FROM webhook_attempts a WHERE a.delivery_id = d.id), "
	    "'[]'::jsonb) AS attempt_log "
	    "FROM webhook_deliveries d WHERE d.webhook_id = $1::uuid "
	    "ORDER BY d.created_at DESC, d.id LIMIT $2::integer", 2, p, NULL,
	    rp)) == NULL) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "recent_deliveries", d);
	svc_reply_json(rp, 200, o);
}

/*
 * Sends a test event now, from this worker, signed like any delivery,
 * and records it as a delivery with its one attempt.  200 {status:
 * "sent", response_status, webhook_id, delivery_id} when an answer came
 * (whatever its status), 502 {status: "error", error, webhook_id} when
 * none did or the URL is refused at send time.
 */
static void
op_test(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct chan_hook_result	 r;
	const char		*p[8];
	char			 id[UTIL_UUID_LEN], did[UTIL_UUID_LEN];
	char			 ts[32], st[16], ms[16], *body = NULL;
	json_t			*o;
	int			 e, ok;

	if (hook_id(rq, "outbound", id, rp) != 0)
		return;
	p[0] = id;
	o = db_one_json(db_exec(c->sc_db, "SELECT url, secret FROM webhooks "
	    "WHERE id = $1::uuid AND kind = 'outbound'", 1, p), &e);
	if (o == NULL) {
		if (e == SH_ENOTFOUND)
			svc_reply_error(rp, 404, "webhook not found");
		else
			svc_reply_db_error(rp, c);
		return;
	}
	util_uuid4(did);
	util_rfc3339(util_wall_ms(), ts);
	if ((body = chan_hook_body(did, id, "test", ts, "{\"message\": "
	    "\"This is a test event from LibreFang.\"}")) == NULL) {
		json_decref(o);
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	ok = chan_hook_post(json_string_value(json_object_get(o, "url")),
	    json_string_value(json_object_get(o, "secret")), did, "test",
	    body, &r) == 0;
	json_decref(o);
	snprintf(st, sizeof(st), "%ld", r.hr_status);
	snprintf(ms, sizeof(ms), "%ld", r.hr_ms);
	p[0] = did;
	p[1] = id;
	p[2] = ok ? "delivered" : "failed";
	p[3] = r.hr_status > 0 ? st : NULL;
	p[4] = ok ? NULL : r.hr_err;
	p[5] = ms;
	p[6] = svc_instance();
	p[7] = body;
	if (db_cmd(c->sc_db, "WITH d AS (INSERT INTO webhook_deliveries (id, "
	    "webhook_id, event, event_id, payload, state, attempts, "
	    "last_status, last_error, delivered_at) VALUES ($1::uuid, "
	    "$2::uuid, 'test', 'test:' || $1, ($8::jsonb)->'data', $3, 1, "
	    "$4::integer, $5, CASE WHEN $3 = 'delivered' THEN now() END) "
	    "RETURNING id) INSERT INTO webhook_attempts (delivery_id, attempt, "
	    "status, latency_ms, error, replica) SELECT id, 1, $4::integer, "
	    "$6::integer, $5, $7 FROM d", 8, p) != 0)
		log_warnx("%s: could not record the test delivery of '%s': %s",
		    __func__, id, db_errmsg(c->sc_db));
	free(body);
	if (r.hr_status > 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:i, s:s, s:s}",
		    "status", "sent", "response_status", (int)r.hr_status,
		    "webhook_id", id, "delivery_id", did));
	else
		svc_reply_json(rp, 502, json_pack("{s:s, s:s, s:s}", "status",
		    "error", "error", r.hr_err, "webhook_id", id));
}

/* ---- /api/webhooks/events --------------------------------------------------------- */

static void
op_ev_list(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	(void)rq;
	hook_list(c, rp, "event", 1);
}

static void
op_ev_create(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	hook_create(c, rq, rp, "event");
	hook_changed(c, rp);
}

static void
op_ev_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	hook_update(c, rq, rp, "event");
	hook_changed(c, rp);
}

static void
op_ev_delete(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	hook_delete(c, rq, rp, "event");
	hook_changed(c, rp);
}

const struct svc_op chan_webhook_ops[] = {
	{ OP_WEBHOOKS_LIST,		op_list },
	{ OP_WEBHOOKS_CREATE,		op_create },
	{ OP_WEBHOOKS_GET,		op_get },
	{ OP_WEBHOOKS_UPDATE,		op_update },
	{ OP_WEBHOOKS_DELETE,		op_delete },
	{ OP_WEBHOOKS_TEST,		op_test },
	{ OP_WEBHOOK_EVENTS_LIST,	op_ev_list },
	{ OP_WEBHOOK_EVENTS_CREATE,	op_ev_create },
	{ OP_WEBHOOK_EVENTS_UPDATE,	op_ev_update },
	{ OP_WEBHOOK_EVENTS_DELETE,	op_ev_delete },
	{ NULL, NULL },
};
