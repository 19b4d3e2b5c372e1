/*
 * turn/notify.c - a message turn's facts on TOPIC_EVENTS, for the
 * scheduler's triggers and the outbound webhooks (channels):
 *
 *	the user's message taken	Message {role: "user", content,
 *					metadata}
 *	the answer			Message {role: "agent", content,
 *					metadata}
 *	a failed turn			Lifecycle Crashed {agent_id, error,
 *					status, session_id}
 *
 * (notes/kernel.md 2.1's payload kinds; proto/messages.md, "events").
 * The hot path's cost: one small publish at the start and one at the end,
 * no statement, and at most TURN_NOTIFY_TEXT_MAX bytes of the text (an
 * incognito turn's text is left out).  The events carry the turn's
 * event_depth and, for a trigger's turn, the trigger's id
 * (metadata.trigger_id, Crashed's trigger_id); the scheduler's triggers
 * match them only at depth 0, when no trigger caused the turn (a fire's
 * turn is asked the rendered event: its messages would match again;
 * trigger/fire.c, fire_report()).
 *
 * The Message events are published only when some service wants them
 * (issue 8: every SUB socket of every process receives every event, two
 * per turn cost about 30 receives): runtime.event_interest holds each
 * service's newest answer (events.interest below: channels when a
 * webhook subscribes to message_* or all, the scheduler when a trigger's
 * pattern is all or content_match), and the take's statement reads
 * EXISTS (... WHERE messages) into the turn, so the gate costs no
 * statement.  Crashed stays unconditional (failures are rare).
 *
 * A keyed turn's (caller.idempotency_key) Message events have ids its
 * key's run decides (v5 in NOTIFY_NS of "<run>:user" and "<run>:agent";
 * turn_idem_claim()): a retry that runs the turn again after its first
 * runner died (a takeover) publishes the same ids, and the consumers,
 * which key on them (the webhook deliveries' and the trigger fires'
 * primary keys), take each once; the key reused after it expired is a
 * new run, with new ids.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "db.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "turn/turn.h"

#define INTEREST_SERVICE_MAX	64
#define NOTIFY_NS		"6b0e4f7a-3c21-5d9e-8a47-1f2c9d3e5b60"

/* What this process's last take read (1 until one did: publishing an
 * event nobody wants costs less than losing one somebody wants). */
static atomic_int	notify_wanted = 1;
static atomic_llong	notify_sent, notify_skipped;

void
turn_notify_wanted(int wanted)
{
	atomic_store(&notify_wanted, wanted != 0);
}

int
turn_notify_wanted_last(void)
{
	return (atomic_load(&notify_wanted));
}

void
turn_notify_counts(long long *sent, long long *skipped)
{
	*sent = atomic_load(&notify_sent);
	*skipped = atomic_load(&notify_skipped);
}

/* A Message event: published when wanted, else counted as left out. */
static int
notify_message_wanted(struct turn *t)
{
	if (t->t_msg_events)
		return (1);
	atomic_fetch_add(&notify_skipped, 1);
	return (0);
}

/* The text of the user's message: a string, or the last text block once
 * attachments made it blocks (borrowed from t). */
static const char *
notify_user_text(struct turn *t)
{
	json_t	*b;
	size_t	 n;

	if (json_is_string(t->t_user))
		return (json_string_value(t->t_user));
	if ((n = json_array_size(t->t_user)) > 0 &&
	    (b = json_array_get(t->t_user, n - 1)) != NULL)
		return (json_string_value(json_object_get(b, "text")));
	return (NULL);
}

/* s cut to TURN_NOTIFY_TEXT_MAX bytes at a character boundary (new). */
static json_t *
notify_text(const char *s, int *cut)
{
	size_t	 n = s != NULL ? strlen(s) : 0;

	*cut = 0;
	if (n > TURN_NOTIFY_TEXT_MAX) {
		n = TURN_NOTIFY_TEXT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		*cut = 1;
	}
	return (json_stringn(s != NULL ? s : "", n));
}

/* Publishes event type with data (taken); role: a Message's, whose id a
 * keyed turn's key decides, or NULL. */
static void
notify_publish(struct turn *t, const char *type, json_t *data,
    const char *role)
{
	struct agent_state	*as = t->t_as;
	json_t			*ev;
	char			 name[UTIL_UUID_LEN + 8], id[UTIL_UUID_LEN];

	if (data == NULL)
		return;
	if ((ev = msg_event(t->t_agent_id, type, data, t->t_event_depth)) ==
	    NULL)
		return;
	if (role != NULL && t->t_idem_run[0] != '\0') {
		snprintf(name, sizeof(name), "%s:%s", t->t_idem_run, role);
		if (util_uuid5(NOTIFY_NS, name, id) == 0)
			json_object_set_new(ev, "id", json_string(id));
	}
	if (strcmp(type, "Message") == 0)
		atomic_fetch_add(&notify_sent, 1);
	pthread_mutex_lock(&as->as_pub_mtx);
	if (bus_publish(as->as_pub, TOPIC_EVENTS, ev) != 0)
		log_debug("%s: could not publish the %s event of agent '%s'",
		    __func__, type, t->t_agent_id);
	pthread_mutex_unlock(&as->as_pub_mtx);
	json_decref(ev);
}

/* A Message event's data: role, content, metadata (new; NULL: ENOMEM). */
static json_t *
notify_message(struct turn *t, const char *role, const char *text)
{
	json_t	*md, *content;
	int	 cut = 0;

	content = t->t_incognito ? json_string("") : notify_text(text, &cut);
	md = json_pack("{s:s, s:s}", "agent_id", t->t_agent_id, "agent_name",
	    t->t_agent_name);
	if (md != NULL && !t->t_ephemeral)
		json_object_set_new(md, "session_id",
		    json_string(t->t_session_id));
	if (md != NULL && t->t_trigger_id[0] != '\0')
		json_object_set_new(md, "trigger_id",
		    json_string(t->t_trigger_id));
	if (md != NULL && cut)
		json_object_set_new(md, "truncated", json_true());
	if (md != NULL && t->t_incognito)
		json_object_set_new(md, "incognito", json_true());
	return (json_pack("{s:o*, s:o*, s:s}", "content", content, "metadata",
	    md, "role", role));
}

void
turn_notify_received(struct turn *t)
{
	if (t->t_kind != TURN_MESSAGE || t->t_as == NULL ||
	    t->t_as->as_pub == NULL || !notify_message_wanted(t))
		return;
	notify_publish(t, "Message", notify_message(t, "user",
	    notify_user_text(t)), "user");
}

void
turn_notify_end(struct turn *t, int status, json_t *body)
{
	json_t		*data, *md;
	const char	*err;

	if (t->t_kind != TURN_MESSAGE || t->t_as == NULL ||
	    t->t_as->as_pub == NULL || t->t_agent_id[0] == '\0')
		return;
	if (status == 200) {
		if (!notify_message_wanted(t))
			return;
		data = notify_message(t, "agent", json_string_value(
		    json_object_get(body, "response")));
		md = json_object_get(data, "metadata");
		json_object_set_new(md, "input_tokens",
		    json_integer(t->t_usage.u_in));
		json_object_set_new(md, "output_tokens",
		    json_integer(t->t_usage.u_out));
		json_object_set_new(md, "iterations", json_integer(t->t_iter));
		if (json_is_true(json_object_get(body, "silent")))
			json_object_set_new(md, "silent", json_true());
		notify_publish(t, "Message", data, "agent");
		return;
	}
	/* A request refused (bad input, a busy session, an unknown
	 * session) is the caller's error, not the agent's. */
	if (status < 500 && status != 429)
		return;
	err = json_string_value(json_object_get(body, "error"));
	data = json_pack("{s:s, s:s, s:s, s:i}", "event", "Crashed",
	    "agent_id", t->t_agent_id, "error", err != NULL ? err :
	    "the turn failed", "status", status);
	if (data != NULL && !t->t_ephemeral && t->t_session_id[0] != '\0')
		json_object_set_new(data, "session_id",
		    json_string(t->t_session_id));
	if (data != NULL && t->t_trigger_id[0] != '\0')
		json_object_set_new(data, "trigger_id",
		    json_string(t->t_trigger_id));
	notify_publish(t, "Lifecycle", data, NULL);
}

/* ---- events.interest ------------------------------------------------ */

/* Keeps a service's newest answer only. */
static const char SQL_INTEREST[] =
	"INSERT INTO event_interest (service, messages, as_of) "
	"VALUES ($1, $2::boolean, $3::timestamptz) "
	"ON CONFLICT (service) DO UPDATE SET messages = EXCLUDED.messages, "
	"    as_of = EXCLUDED.as_of "
	"    WHERE event_interest.as_of <= EXCLUDED.as_of "
	"RETURNING messages";

/* {service, messages, as_of} -> 200 {service, messages, applied}:
 * applied false when a newer answer was already kept. */
static void
op_interest(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*b = rq->mr_body, *m;
	const char	*svc, *asof, *key, *p[3], *st;
	json_t		*v;
	PGresult	*res;
	int		 applied;

	if (!json_is_object(b)) {
		svc_reply_error(rp, 400, "request body must be a JSON object");
		return;
	}
	json_object_foreach(b, key, v)
		if (strcmp(key, "service") != 0 && strcmp(key, "messages") !=
		    0 && strcmp(key, "as_of") != 0) {
			svc_reply_error(rp, 400, "unknown field '%s'", key);
			return;
		}
	svc = json_string_value(json_object_get(b, "service"));
	m = json_object_get(b, "messages");
	asof = json_string_value(json_object_get(b, "as_of"));
	if (svc == NULL || svc[0] == '\0' ||
	    strlen(svc) > INTEREST_SERVICE_MAX) {
		svc_reply_error(rp, 400, "service must be a string of 1 to %d "
		    "bytes", INTEREST_SERVICE_MAX);
		return;
	}
	if (!json_is_boolean(m)) {
		svc_reply_error(rp, 400, "messages must be a boolean");
		return;
	}
	if (asof == NULL || asof[0] == '\0') {
		svc_reply_error(rp, 400, "as_of must be a timestamp string");
		return;
	}
	p[0] = svc;
	p[1] = json_is_true(m) ? "true" : "false";
	p[2] = asof;
	if ((res = db_exec(c->sc_db, SQL_INTEREST, 3, p)) == NULL) {
		st = db_sqlstate(c->sc_db);
		if (strncmp(st, "22", 2) == 0)
			svc_reply_error(rp, 400, "as_of must be a timestamp "
			    "string");
		else
			svc_reply_error(rp, 503, "database unavailable");
		return;
	}
	applied = PQntuples(res) == 1;
	PQclear(res);
	log_debug("event interest of '%s': messages %s (%s)", svc, p[1],
	    applied ? "kept" : "older than the one kept");
	svc_reply_json(rp, 200, json_pack("{s:s, s:b, s:b}", "service", svc,
	    "messages", json_is_true(m), "applied", applied));
}

const struct svc_op turn_interest_ops[] = {
	{ OP_EVENTS_INTEREST,	op_interest },
	{ NULL,			NULL }
};
