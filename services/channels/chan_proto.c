/*
 * chan_proto.c - the sidecar protocol's frames (protocols.md §1.3).
 *
 * A frame is {"method": M, "params": {...}}, params left out or null for
 * the bare ones.  There is no id and no jsonrpc field.  Frames compare by
 * JSON value, so the builders here only have to produce the right keys:
 * an optional field is left out, never written as null -- except
 * send's user.librefang_user, which upstream always writes, as null when
 * unknown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "channels.h"

static const struct {
	const char		*name;
	enum chan_ev_type	 type;
} chan_events[] = {
	{ "ready",	CHAN_EV_READY },
	{ "message",	CHAN_EV_MESSAGE },
	{ "typing",	CHAN_EV_TYPING },
	{ "error",	CHAN_EV_ERROR },
	{ "qr_ready",	CHAN_EV_QR_READY },
	{ "qr_status",	CHAN_EV_QR_STATUS },
	{ "heartbeat",	CHAN_EV_HEARTBEAT },
};

static const struct {
	const char	*name;
	unsigned int	 bit;
} chan_caps[] = {
	{ "typing",		CHAN_CAP_TYPING },
	{ "reaction",		CHAN_CAP_REACTION },
	{ "interactive",	CHAN_CAP_INTERACTIVE },
	{ "thread",		CHAN_CAP_THREAD },
	{ "streaming",		CHAN_CAP_STREAMING },
	{ "typing_events",	CHAN_CAP_TYPING_EVENTS },
};

/*
 * Field readers: each takes params p and a key; a field left out (or
 * null) leaves *out unset and succeeds; one of the wrong type fails.
 */
static int
pf_str(json_t *p, const char *key, const char **out)
{
	json_t	*v = json_object_get(p, key);

	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_string(v))
		return (-1);
	*out = json_string_value(v);
	return (0);
}

static int
pf_bool(json_t *p, const char *key, int *out)
{
	json_t	*v = json_object_get(p, key);

	if (v == NULL || json_is_null(v))
		return (0);
	if (!json_is_boolean(v))
		return (-1);
	*out = json_is_true(v);
	return (0);
}

/* type: 'a' array, 'o' object, 'i' integer, 'j' any */
static int
pf_json(json_t *p, const char *key, int type, json_t **out)
{
	json_t	*v = json_object_get(p, key);

	if (v == NULL || json_is_null(v))
		return (0);
	if ((type == 'a' && !json_is_array(v)) ||
	    (type == 'o' && !json_is_object(v)) ||
	    (type == 'i' && !json_is_integer(v)))
		return (-1);
	*out = v;
	return (0);
}

/* One event's fields; -1 with the offending field in *bad. */
static int
chan_event_fields(struct chan_event *ev, json_t *p, const char **bad)
{
	json_t	*v;
	size_t	 i, j;

#define F(call, key) do {						\
		if ((call) != 0) {					\
			*bad = (key);					\
			return (-1);					\
		}							\
	} while (0)
	switch (ev->ce_type) {
	case CHAN_EV_READY:
		F(pf_json(p, "capabilities", 'a', &ev->ce_capabilities),
		    "capabilities");
		json_array_foreach(ev->ce_capabilities, i, v) {
			if (!json_is_string(v)) {
				*bad = "capabilities";
				return (-1);
			}
			for (j = 0; j < sizeof(chan_caps) /
			    sizeof(chan_caps[0]); j++)
				if (strcmp(json_string_value(v),
				    chan_caps[j].name) == 0)
					ev->ce_caps |= chan_caps[j].bit;
		}
		F(pf_str(p, "account_id", &ev->ce_account_id), "account_id");
		F(pf_bool(p, "suppress_error_responses",
		    &ev->ce_suppress_errors), "suppress_error_responses");
		F(pf_json(p, "notification_recipients", 'a',
		    &ev->ce_recipients), "notification_recipients");
		F(pf_json(p, "header_rules", 'a', &ev->ce_header_rules),
		    "header_rules");
		F(pf_json(p, "protocol_version", 'i',
		    &ev->ce_protocol_version), "protocol_version");
		break;
	case CHAN_EV_MESSAGE:
		F(pf_str(p, "user_id", &ev->ce_user_id), "user_id");
		F(pf_str(p, "user_name", &ev->ce_user_name), "user_name");
		if (ev->ce_user_id == NULL) {
			*bad = "user_id";
			return (-1);
		}
		if (ev->ce_user_name == NULL) {
			*bad = "user_name";
			return (-1);
		}
		F(pf_str(p, "text", &ev->ce_text), "text");
		F(pf_json(p, "content", 'j', &ev->ce_content), "content");
		F(pf_str(p, "channel_id", &ev->ce_channel_id), "channel_id");
		F(pf_str(p, "platform", &ev->ce_platform), "platform");
		F(pf_str(p, "message_id", &ev->ce_message_id), "message_id");
		F(pf_str(p, "username", &ev->ce_username), "username");
		F(pf_str(p, "librefang_user", &ev->ce_librefang_user),
		    "librefang_user");
		F(pf_bool(p, "is_group", &ev->ce_is_group), "is_group");
		F(pf_str(p, "thread_id", &ev->ce_thread_id), "thread_id");
		F(pf_json(p, "group_members", 'a', &ev->ce_group_members),
		    "group_members");
		F(pf_json(p, "group_participants", 'a',
		    &ev->ce_group_participants), "group_participants");
		F(pf_json(p, "metadata", 'o', &ev->ce_metadata), "metadata");
		break;
	case CHAN_EV_TYPING:
		F(pf_str(p, "user_id", &ev->ce_user_id), "user_id");
		F(pf_str(p, "user_name", &ev->ce_user_name), "user_name");
		F(pf_bool(p, "is_typing", &ev->ce_is_typing), "is_typing");
		break;
	case CHAN_EV_ERROR:
		F(pf_str(p, "message", &ev->ce_message), "message");
		break;
	case CHAN_EV_QR_READY:
		F(pf_str(p, "qr_code", &ev->ce_qr_code), "qr_code");
		if (ev->ce_qr_code == NULL) {
			*bad = "qr_code";
			return (-1);
		}
		F(pf_str(p, "qr_url", &ev->ce_qr_url), "qr_url");
		F(pf_str(p, "message", &ev->ce_message), "message");
		F(pf_str(p, "expires_at", &ev->ce_expires_at), "expires_at");
		break;
	case CHAN_EV_QR_STATUS:
		F(pf_str(p, "status", &ev->ce_status), "status");
		F(pf_str(p, "message", &ev->ce_message), "message");
		break;
	case CHAN_EV_HEARTBEAT:
	case CHAN_EV_UNKNOWN:
		break;
	}
#undef F
	return (0);
}

int
chan_event_parse(const char *line, size_t len, struct chan_event *ev,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*p;
	const char	*bad = NULL;
	size_t		 i;

	memset(ev, 0, sizeof(*ev));
	ev->ce_suppress_errors = ev->ce_is_group = ev->ce_is_typing = -1;
	if ((ev->ce_root = json_loadb(line, len, JSON_REJECT_DUPLICATES,
	    &je)) == NULL) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return (-1);
	}
	if (!json_is_object(ev->ce_root)) {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	if ((ev->ce_method = json_string_value(json_object_get(ev->ce_root,
	    "method"))) == NULL) {
		snprintf(err, errlen, "no string 'method'");
		goto fail;
	}
	p = json_object_get(ev->ce_root, "params");
	if (p != NULL && !json_is_null(p) && !json_is_object(p)) {
		snprintf(err, errlen, "'params' is not an object");
		goto fail;
	}
	ev->ce_type = CHAN_EV_UNKNOWN;
	for (i = 0; i < sizeof(chan_events) / sizeof(chan_events[0]); i++)
		if (strcmp(ev->ce_method, chan_events[i].name) == 0)
			ev->ce_type = chan_events[i].type;
	/* json_object_get(NULL, ...) is NULL: a bare frame reads as one
	 * whose every field is left out. */
	if (json_is_null(p))
		p = NULL;
	if (chan_event_fields(ev, p, &bad) != 0) {
		snprintf(err, errlen, "'%s' event: '%s' is missing or of the "
		    "wrong type", ev->ce_method, bad);
		goto fail;
	}
	return (0);
 fail:
	chan_event_release(ev);
	return (-1);
}

void
chan_event_release(struct chan_event *ev)
{
	json_decref(ev->ce_root);
	memset(ev, 0, sizeof(*ev));
}

const char *
chan_event_text(const struct chan_event *ev)
{
	const char	*t;

	if ((t = json_string_value(json_object_get(ev->ce_content,
	    "Text"))) != NULL)
		return (t);
	return (ev->ce_text != NULL ? ev->ce_text : "");
}

/* Sets key to a boolean unless it was left out (-1). */
static int
set_bool(json_t *o, const char *key, int v)
{
	return (v < 0 ? 0 : json_object_set_new(o, key, json_boolean(v)));
}

/* {method} or {method, params} when params has a key; params stolen. */
static json_t *
chan_frame(const char *method, json_t *params)
{
	json_t	*f;

	if (params == NULL)
		return (NULL);
	if (json_object_size(params) == 0) {
		json_decref(params);
		return (json_pack("{s:s}", "method", method));
	}
	f = json_pack("{s:s, s:o}", "method", method, "params", params);
	return (f);
}

json_t *
chan_event_encode(const struct chan_event *ev)
{
	json_t	*p = NULL;

	switch (ev->ce_type) {
	case CHAN_EV_READY:
		p = json_pack("{s:O*, s:s*, s:O*, s:O*, s:O*}",
		    "capabilities", ev->ce_capabilities,
		    "account_id", ev->ce_account_id,
		    "notification_recipients", ev->ce_recipients,
		    "header_rules", ev->ce_header_rules,
		    "protocol_version", ev->ce_protocol_version);
		if (p != NULL && set_bool(p, "suppress_error_responses",
		    ev->ce_suppress_errors) != 0)
			goto fail;
		break;
	case CHAN_EV_MESSAGE:
		p = json_pack("{s:s, s:s, s:s*, s:O*, s:s*, s:s*, s:s*, s:s*, "
		    "s:s*, s:s*, s:O*, s:O*, s:O*}",
		    "user_id", ev->ce_user_id, "user_name", ev->ce_user_name,
		    "text", ev->ce_text, "content", ev->ce_content,
		    "channel_id", ev->ce_channel_id,
		    "platform", ev->ce_platform,
		    "message_id", ev->ce_message_id,
		    "username", ev->ce_username,
		    "librefang_user", ev->ce_librefang_user,
		    "thread_id", ev->ce_thread_id,
		    "group_members", ev->ce_group_members,
		    "group_participants", ev->ce_group_participants,
		    "metadata", ev->ce_metadata);
		if (p != NULL && set_bool(p, "is_group", ev->ce_is_group) != 0)
			goto fail;
		break;
	case CHAN_EV_TYPING:
		p = json_pack("{s:s*, s:s*}", "user_id", ev->ce_user_id,
		    "user_name", ev->ce_user_name);
		if (p != NULL && set_bool(p, "is_typing",
		    ev->ce_is_typing) != 0)
			goto fail;
		break;
	case CHAN_EV_ERROR:
		p = json_pack("{s:s*}", "message", ev->ce_message);
		break;
	case CHAN_EV_QR_READY:
		p = json_pack("{s:s, s:s*, s:s*, s:s*}",
		    "qr_code", ev->ce_qr_code, "qr_url", ev->ce_qr_url,
		    "message", ev->ce_message,
		    "expires_at", ev->ce_expires_at);
		break;
	case CHAN_EV_QR_STATUS:
		p = json_pack("{s:s*, s:s*}", "status", ev->ce_status,
		    "message", ev->ce_message);
		break;
	case CHAN_EV_HEARTBEAT:
	case CHAN_EV_UNKNOWN:
		p = json_object();
		break;
	}
	return (chan_frame(ev->ce_method, p));
 fail:
	json_decref(p);
	return (NULL);
}

json_t *
chan_cmd_bare(const char *method)
{
	return (json_pack("{s:s}", "method", method));
}

json_t *
chan_cmd_send(const char *channel_id, const char *text,
    const char *display_name, const char *librefang_user, json_t *content,
    const char *thread_id)
{
	json_t	*user;

	/* librefang_user is always written, null when unknown. */
	if ((user = json_pack("{s:s, s:s, s:s?}", "platform_id", channel_id,
	    "display_name", display_name != NULL ? display_name : "",
	    "librefang_user", librefang_user)) == NULL)
		return (NULL);
	return (chan_frame("send", json_pack("{s:s, s:s, s:o, s:O*, s:s*}",
	    "channel_id", channel_id, "text", text, "user", user,
	    "content", content, "thread_id", thread_id)));
}

json_t *
chan_cmd_typing(const char *channel_id)
{
	return (chan_frame("typing", json_pack("{s:s}", "channel_id",
	    channel_id)));
}

json_t *
chan_cmd_reaction(const char *channel_id, const char *message_id,
    const char *reaction, const char *phase, const char *tool_name)
{
	/* Empty phase and tool_name are left out, as upstream does. */
	if (phase != NULL && *phase == '\0')
		phase = NULL;
	if (tool_name != NULL && *tool_name == '\0')
		tool_name = NULL;
	return (chan_frame("reaction", json_pack("{s:s, s:s, s:s, s:s*, "
	    "s:s*}", "channel_id", channel_id, "message_id", message_id,
	    "reaction", reaction, "phase", phase, "tool_name", tool_name)));
}

json_t *
chan_cmd_interactive(const char *channel_id, const char *text,
    json_t *buttons)
{
	return (chan_frame("interactive", json_pack("{s:s, s:{s:s, s:O}}",
	    "channel_id", channel_id, "message", "text", text, "buttons",
	    buttons)));
}

json_t *
chan_cmd_stream_start(const char *channel_id, const char *stream_id,
    const char *thread_id)
{
	return (chan_frame("stream_start", json_pack("{s:s, s:s, s:s*}",
	    "channel_id", channel_id, "stream_id", stream_id, "thread_id",
	    thread_id)));
}

json_t *
chan_cmd_stream_delta(const char *stream_id, const char *text)
{
	return (chan_frame("stream_delta", json_pack("{s:s, s:s}",
	    "stream_id", stream_id, "text", text)));
}

json_t *
chan_cmd_stream_end(const char *stream_id)
{
	return (chan_frame("stream_end", json_pack("{s:s}", "stream_id",
	    stream_id)));
}

int
chan_frame_line(json_t *frame, struct buf *b)
{
	char	*s;
	int	 rv = -1;

	/* JSON_COMPACT never puts a newline inside the frame; strings keep
	 * theirs escaped. */
	if (frame == NULL || (s = json_dumps(frame, JSON_COMPACT)) == NULL)
		return (-1);
	if (buf_adds(b, s) == 0 && buf_add(b, "\n", 1) == 0)
		rv = 0;
	free(s);
	return (rv);
}

/*
 * Platforms' longest message, in the unit the platform counts: the
 * reference's notes (protocols.md §1.2: Telegram, Discord, Mastodon,
 * Twitch, ntfy, Bluesky, LINE), else the platform's API documentation
 * (Slack's chat.postMessage, Mattermost's post size, WhatsApp's text
 * body, Google Chat, Zulip, Rocket.Chat's default).  Telegram counts
 * UTF-16 code units (a character past U+FFFF is two), ntfy bytes.  IRC
 * is not here: its adapter splits each line to fit 512 bytes with its
 * own prefix, which only it knows (adapters/irc).  XMPP, email, MQTT
 * and webhooks take any length; Matrix events are cut at 16 KiB, as
 * channel-matrix does (an event may not pass 64 KiB).
 */
static const struct {
	const char		*type;
	size_t			 limit;
	enum chan_text_unit	 unit;
} chan_limits[] = {
	{ "telegram",	4096,	CHAN_UNIT_UTF16 },
	{ "discord",	2000,	CHAN_UNIT_CHAR },
	{ "mastodon",	500,	CHAN_UNIT_CHAR },
	{ "twitch",	500,	CHAN_UNIT_CHAR },
	{ "bluesky",	300,	CHAN_UNIT_CHAR },
	{ "line",	5000,	CHAN_UNIT_CHAR },
	{ "ntfy",	4096,	CHAN_UNIT_BYTE },
	{ "slack",	40000,	CHAN_UNIT_CHAR },
	{ "mattermost",	16383,	CHAN_UNIT_CHAR },
	{ "whatsapp",	4096,	CHAN_UNIT_CHAR },
	{ "google_chat", 4096,	CHAN_UNIT_CHAR },
	{ "zulip",	10000,	CHAN_UNIT_CHAR },
	{ "rocketchat",	5000,	CHAN_UNIT_CHAR },
	{ "matrix",	16384,	CHAN_UNIT_BYTE },
};

size_t
chan_text_limit(const char *channel_type, enum chan_text_unit *unit)
{
	size_t	i;

	for (i = 0; i < sizeof(chan_limits) / sizeof(chan_limits[0]); i++)
		if (strcmp(chan_limits[i].type, channel_type) == 0) {
			if (unit != NULL)
				*unit = chan_limits[i].unit;
			return (chan_limits[i].limit);
		}
	if (unit != NULL)
		*unit = CHAN_UNIT_CHAR;
	return (0);
}

/* What the character starting at s[0] counts in unit. */
static size_t
chan_unit_of(const char *s, enum chan_text_unit unit)
{
	unsigned char	c = (unsigned char)s[0];

	switch (unit) {
	case CHAN_UNIT_BYTE:
		/* A character's bytes: counted at its start byte. */
		if (c < 0x80)
			return (1);
		if (c >= 0xf0)
			return (4);
		if (c >= 0xe0)
			return (3);
		return (2);
	case CHAN_UNIT_UTF16:
		return (c >= 0xf0 ? 2 : 1);
	case CHAN_UNIT_CHAR:
		break;
	}
	return (1);
}

size_t
chan_text_units(const char *s, size_t len, enum chan_text_unit unit)
{
	size_t	i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n += chan_unit_of(s + i, unit);
	return (n);
}

size_t
chan_text_chunk(const char *s, size_t len, size_t limit,
    enum chan_text_unit unit)
{
	size_t	i, u, units = 0, para = 0, nl = 0, sp = 0;

	if (limit == 0)
		return (len);
	for (i = 0; i < len; i++) {
		/* Count at a character's first byte; a UTF-8 continuation
		 * byte is none. */
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			u = chan_unit_of(s + i, unit);
			if (units + u > limit)
				break;
			units += u;
		}
		if (s[i] == '\n') {
			if (i > 0 && s[i - 1] == '\n')
				para = i + 1;
			nl = i + 1;
		} else if (s[i] == ' ')
			sp = i + 1;
	}
	if (i == len)
		return (len);
	/* Cut after a paragraph (a blank line) in the chunk's second half,
	 * else after its last newline, else its last space; else mid-word,
	 * at a character's start (i), or after the first character when
	 * not even one fits the limit. */
	if (para > 0 && para >= i / 2)
		return (para);
	if (nl > 0)
		return (nl);
	if (sp > 0)
		return (sp);
	if (i == 0) {
		for (i = 1; i < len && ((unsigned char)s[i] & 0xc0) == 0x80;
		    i++)
			;
	}
	return (i);
}

/* The reaction of each phase of the agent's lifecycle (§1.3). */
static const struct {
	const char	*phase;
	const char	*emoji;
} chan_phases[] = {
	{ "queued",	"\xe2\x8f\xb3" },		/* hourglass, flowing */
	{ "thinking",	"\xf0\x9f\xa4\x94" },		/* thinking face */
	{ "tool_use",	"\xe2\x9a\x99\xef\xb8\x8f" },	/* gear */
	{ "streaming",	"\xe2\x9c\x8d\xef\xb8\x8f" },	/* writing hand */
	{ "done",	"\xe2\x9c\x85" },		/* check mark */
	{ "error",	"\xe2\x9d\x8c" },		/* cross mark */
};

const char *
chan_phase_emoji(const char *phase)
{
	size_t	i;

	for (i = 0; i < sizeof(chan_phases) / sizeof(chan_phases[0]); i++)
		if (strcmp(chan_phases[i].phase, phase) == 0)
			return (chan_phases[i].emoji);
	return (NULL);
}
