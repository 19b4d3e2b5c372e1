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
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "turn/turn.h"

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

static void
notify_publish(struct turn *t, const char *type, json_t *data)
{
	struct agent_state	*as = t->t_as;
	json_t			*ev;

	if (data == NULL)
		return;
	if ((ev = msg_event(t->t_agent_id, type, data, t->t_event_depth)) ==
	    NULL)
		return;
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
	    t->t_as->as_pub == NULL)
		return;
	notify_publish(t, "Message", notify_message(t, "user",
	    notify_user_text(t)));
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
		notify_publish(t, "Message", data);
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
	notify_publish(t, "Lifecycle", data);
}
