/*
 * matrix.c - channel-matrix: a Matrix bot over the client-server API v3
 * (README.md), on the library's HTTP client (ad_http, no libcurl).
 *
 * Two connections to the homeserver.  One asks whoami when the platform
 * is to be (re)connected, then syncs: a first /sync without `since` only
 * for its next_batch (history is not answered: its timeline events are
 * dropped; member counts, direct rooms and pending invites are kept),
 * then /sync long polls with `since` and `timeout`.  The other carries
 * the calls, one at a time and in order: messages and reactions (PUT
 * .../send/{type}/{txnId}, the txn id fixed when the call is queued, so
 * a retry of it is the same transaction, which the homeserver dedupes),
 * typing, redactions of our earlier reactions, and joins of rooms the
 * bot is invited to.  A 429 (M_LIMIT_EXCEEDED) is retried after its
 * retry_after_ms, a 5xx or a lost connection after a doubling delay; a
 * 401 (M_UNKNOWN_TOKEN, M_MISSING_TOKEN) anywhere, a lost sync
 * connection and a sync refused are an `error` event and a reconnect
 * after the library's backoff (a call waiting then goes when whoami
 * succeeds again).
 */
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ad_http.h"
#include "adapter.h"
#include "log.h"
#include "matrix.h"
#include "util.h"

#define MX_QUEUE_MAX		1000	/* calls waiting */
#define MX_ATTEMPTS		8	/* tries of one call */
#define MX_RETRY_MS		1000	/* the first retry's delay, doubling */
#define MX_RETRY_MAX_MS		30000
#define MX_CALL_TIMEOUT_MS	30000
#define MX_RESP_MAX		(8 * 1024 * 1024)	/* a sync's body */
#define MX_ROOMS_MAX		10000	/* rooms whose counts are kept */
#define MX_TYPING_MS		30000	/* how long a typing notice lasts */
#define MX_REACTED_MAX		1000	/* messages whose reaction is kept */
/* An empty sync answered sooner than this is not a long poll: the next
 * one waits MX_EMPTY_PAUSE_MS instead of spinning. */
#define MX_EMPTY_FAST_MS	500
#define MX_EMPTY_PAUSE_MS	300
/* The first sync: one timeline event per room at most (it is dropped
 * anyway); the filter inline, URL-encoded. */
#define MX_FIRST_FILTER	\
	"%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A1%7D%7D%7D"

enum mx_state {
	MX_DOWN = 0,		/* waiting for the library's reconnect */
	MX_WHOAMI,		/* whoami asked */
	MX_FIRST,		/* the first sync asked */
	MX_SYNCING,		/* a sync asked, or due at m_sync_at */
};

/* A client-server API call waiting to be made. */
struct mx_out {
	struct mx_out	*o_next;
	char		 o_what[24];	/* for logs: "message", "typing" */
	char		 o_method[8];	/* PUT, POST */
	char		*o_path;	/* with its txn id: fixed */
	char		*o_body;	/* JSON */
	size_t		 o_len;
	int		 o_best_effort;	/* typing, reactions, joins: no
					   error event */
	char		*o_target;	/* a reaction's: the event reacted
					   to, or NULL */
	char		*o_room;	/* and its room */
	unsigned int	 o_attempts;
	uint64_t	 o_next_at;
};

struct mx {
	struct ad	*m_ad;
	/* configuration */
	const char	*m_token;
	char		 m_auth[1100];		/* the header lines */
	const char	*m_conf_user;		/* MATRIX_USER_ID */
	struct ad_url	 m_base;
	char		 m_prefix[1100];	/* base path + /_matrix/... */
	long long	 m_sync_secs;
	int		 m_auto_join;
	const char	*m_ca_file;
	char		**m_rooms;		/* MATRIX_ALLOWED_ROOMS */
	/* the session */
	enum mx_state	 m_state;
	struct mx_self	 m_self;
	int		 m_fixed_display;	/* MATRIX_DISPLAY_NAME set */
	struct ad_http	 m_sync;	/* whoami, sync */
	char		*m_since;	/* next_batch, or NULL */
	uint64_t	 m_sync_at;	/* the next sync, 0 none */
	uint64_t	 m_sync_started;
	json_t		*m_members;	/* room -> joined member count */
	json_t		*m_names;	/* room -> {user -> display name} */
	json_t		*m_direct;	/* room -> true: m.direct's */
	json_t		*m_direct_acct;	/* m.direct's content: {user: [room]} */
	json_t		*m_joining;	/* room -> true: join queued */
	json_t		*m_reacted;	/* event -> {room, ours}: the last
					   reaction of ours on it */
	/* the calls */
	struct ad_http	 m_out;
	struct mx_out	*m_head;
	struct mx_out	**m_tail;
	struct mx_out	*m_last;	/* the last queued (a borrow) */
	size_t		 m_queued;
	int		 m_inflight;
	uint64_t	 m_boot;	/* of the txn ids */
	uint64_t	 m_txn;
};

static const struct ad_field mx_fields[] = {
	{ "MATRIX_HOMESERVER_URL", "Homeserver URL", AD_FIELD_TEXT, 1,
	    "https://matrix.org", 0, NULL, NULL },
	{ "MATRIX_USER_ID", "Bot user id", AD_FIELD_TEXT, 1,
	    "@librefang:matrix.org", 0, NULL, NULL },
	{ "MATRIX_ACCESS_TOKEN", "Access token", AD_FIELD_SECRET, 1,
	    "syt_...", 0, NULL, NULL },
	{ "MATRIX_ALLOWED_ROOMS", "Allowed rooms (ids; empty: all)",
	    AD_FIELD_LIST, 0, "!abc:matrix.org", 0, NULL, NULL },
	{ "MATRIX_AUTO_JOIN", "Join rooms the bot is invited to",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "1" },
	{ "MATRIX_DISPLAY_NAME", "Display name (for mentions; default: the "
	    "bot's in each room)", AD_FIELD_TEXT, 0, "LibreFang", 1, NULL,
	    NULL },
	{ "MATRIX_MAX_UPLOAD_BYTES", "Largest upload (bytes; no media is "
	    "sent yet)", AD_FIELD_NUMBER, 0, "52428800", 1, NULL, NULL },
	{ "MATRIX_API_BASE", "Client-server API base URL (default: the "
	    "homeserver URL)", AD_FIELD_TEXT, 0, "https://matrix-client."
	    "matrix.org", 1, NULL, NULL },
	{ "MATRIX_SYNC_TIMEOUT_SECS", "Sync long poll timeout (s)",
	    AD_FIELD_NUMBER, 0, "30", 1, NULL, "30" },
	{ "MATRIX_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT,
	    0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* What is done (README.md): no buttons, no streaming. */
static const char *const mx_caps[] = { "typing", "reaction", "thread",
    NULL };

struct mx_out;

static void	mx_sync(struct mx *m);
static void	mx_pump(struct mx *m);
static void	mx_reacted(struct mx *m, const struct mx_out *o,
		    const char *eid);

/* ---- the session: whoami, sync ----------------------------------------- */

/* The platform is gone: both connections closed, a call in flight goes
 * again (the same txn id) after the reconnect, and the library says why
 * and reconnects after its backoff. */
static void
mx_down(struct mx *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mx_down(struct mx *m, const char *fmt, ...)
{
	va_list	ap;
	char	why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ad_http_close(&m->m_sync);
	ad_http_close(&m->m_out);
	m->m_inflight = 0;
	m->m_state = MX_DOWN;
	m->m_sync_at = 0;
	ad_platform_down(m->m_ad, why);
}

/* A response's status and error body for the logs: "HTTP 401
 * M_UNKNOWN_TOKEN: Invalid token" (or the connection's error). */
static void
mx_why(const struct ad_http_resp *r, const json_t *j, char *buf, size_t n,
    long long *retry_ms)
{
	const char	*code, *err;

	mx_error_body(j, &code, &err, retry_ms);
	if (*retry_ms < 0 && r->ar_retry_after >= 0)
		*retry_ms = r->ar_retry_after * 1000;
	if (r->ar_status < 0)
		snprintf(buf, n, "%s", r->ar_err != NULL ? r->ar_err :
		    "no answer");
	else
		snprintf(buf, n, "HTTP %d%s%s%s%.200s", r->ar_status,
		    *code != '\0' ? " " : "", code, *err != '\0' ? ": " : "",
		    err);
}

static void
mx_on_whoami(void *arg, const struct ad_http_resp *r)
{
	struct mx	*m = arg;
	json_t		*j = ad_http_resp_json(r);
	const char	*uid = json_string_value(json_object_get(j,
			    "user_id"));
	char		 why[320];
	long long	 ra;

	mx_why(r, j, why, sizeof(why), &ra);
	if (r->ar_status == 401)
		mx_down(m, "the homeserver refused the access token "
		    "(%s)", why);
	else if (r->ar_status != 200 || !mx_user_id_ok(uid))
		mx_down(m, "whoami: %s", why);
	else {
		if (strcmp(uid, m->m_conf_user) != 0)
			ad_error(m->m_ad, "matrix: the access token is %s's, "
			    "not MATRIX_USER_ID's (%s); acting as %s", uid,
			    m->m_conf_user, uid);
		mx_self_set(&m->m_self, uid);
		log_info("matrix: connected as %s", uid);
		m->m_state = m->m_since == NULL ? MX_FIRST : MX_SYNCING;
		mx_sync(m);
	}
	json_decref(j);
}

static int
mx_room_allowed(const struct mx *m, const char *room)
{
	size_t	i;

	if (m->m_rooms == NULL || m->m_rooms[0] == NULL)
		return (1);
	for (i = 0; m->m_rooms[i] != NULL; i++)
		if (strcmp(m->m_rooms[i], room) == 0)
			return (1);
	return (0);
}

/* Queues a call (steals body, also on failure; NULL body: none).  0, or
 * -1 (the queue is full or out of memory; an `error` event unless best
 * effort). */
static int
mx_enqueue(struct mx *m, const char *what, const char *method,
    const char *path, json_t *body, int best_effort)
{
	struct mx_out	*o = NULL;
	char		*s = NULL, *p = NULL;

	if (m->m_queued >= MX_QUEUE_MAX) {
		if (!best_effort)
			ad_error(m->m_ad, "matrix: %zu calls wait already; "
			    "a %s is dropped", m->m_queued, what);
		goto fail;
	}
	if (body == NULL || (s = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (p = strdup(path)) == NULL || (o = calloc(1, sizeof(*o))) ==
	    NULL) {
		if (!best_effort)
			ad_error(m->m_ad, "matrix: out of memory; a %s is "
			    "dropped", what);
		goto fail;
	}
	snprintf(o->o_what, sizeof(o->o_what), "%s", what);
	snprintf(o->o_method, sizeof(o->o_method), "%s", method);
	o->o_path = p;
	o->o_body = s;
	o->o_len = strlen(s);
	o->o_best_effort = best_effort;
	*m->m_tail = o;
	m->m_tail = &o->o_next;
	m->m_last = o;
	m->m_queued++;
	json_decref(body);
	return (0);
 fail:
	free(s);
	free(p);
	free(o);
	json_decref(body);
	return (-1);
}

/*
 * An invite to a direct chat (is_direct in the bot's invite member
 * event): the room goes into the bot's m.direct account data, as a
 * client does (spec: direct messaging), so that it is still known as one
 * after a restart.
 */
static void
mx_direct_add(struct mx *m, const char *room, const char *inviter)
{
	json_t	*rooms;
	char	 esc[3 * MX_ID_MAX + 1], path[4096];

	json_object_set_new(m->m_direct, room, json_true());
	if (m->m_direct_acct == NULL &&
	    (m->m_direct_acct = json_object()) == NULL)
		return;
	if ((rooms = json_object_get(m->m_direct_acct, inviter)) == NULL) {
		rooms = json_array();
		json_object_set_new(m->m_direct_acct, inviter, rooms);
	}
	if (!json_is_array(rooms) || json_array_size(rooms) > 1000 ||
	    json_array_append_new(rooms, json_string(room)) != 0 ||
	    mx_path_escape(m->m_self.ms_user_id, esc, sizeof(esc)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/user/%s/account_data/m.direct",
	    m->m_prefix, esc);
	mx_enqueue(m, "m.direct", "PUT", path, json_deep_copy(
	    m->m_direct_acct), 1);
}

/* The bot's own member event in an invite's stripped state: who invited
 * it, and whether to a direct chat. */
static void
mx_invite_of(const struct mx *m, const json_t *jr, const char **inviter,
    int *is_direct)
{
	const json_t	*ev, *c;
	const char	*type, *who;
	size_t		 i;

	*inviter = NULL;
	*is_direct = 0;
	json_array_foreach(json_object_get(json_object_get(jr,
	    "invite_state"), "events"), i, ev) {
		type = json_string_value(json_object_get(ev, "type"));
		who = json_string_value(json_object_get(ev, "state_key"));
		if (type == NULL || strcmp(type, "m.room.member") != 0 ||
		    who == NULL || strcmp(who, m->m_self.ms_user_id) != 0)
			continue;
		c = json_object_get(ev, "content");
		*inviter = json_string_value(json_object_get(ev, "sender"));
		*is_direct = json_is_true(json_object_get(c, "is_direct"));
	}
}

/* A join of an invited room, once per invite. */
static void
mx_join(struct mx *m, const char *room, const json_t *jr)
{
	char		 esc[3 * MX_ID_MAX + 1], path[4096];
	const char	*inviter;
	int		 is_direct;

	if (json_object_get(m->m_joining, room) != NULL)
		return;
	if (!m->m_auto_join || !mx_room_allowed(m, room)) {
		log_info("matrix: invited to %s; not joined (%s)", room,
		    m->m_auto_join ? "not in MATRIX_ALLOWED_ROOMS" :
		    "MATRIX_AUTO_JOIN is off");
		json_object_set_new(m->m_joining, room, json_true());
		return;
	}
	if (mx_path_escape(room, esc, sizeof(esc)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/join/%s", m->m_prefix, esc);
	mx_invite_of(m, jr, &inviter, &is_direct);
	log_info("matrix: invited to %s%s by %s; joining", room,
	    is_direct ? " (direct)" : "", inviter != NULL ? inviter : "?");
	if (json_object_size(m->m_joining) < MX_ROOMS_MAX)
		json_object_set_new(m->m_joining, room, json_true());
	mx_enqueue(m, "join", "POST", path, json_object(), 1);
	if (is_direct && inviter != NULL && mx_user_id_ok(inviter))
		mx_direct_add(m, room, inviter);
}

/* m.room.member events of a room's state or timeline: display names
 * (the bot's own too, for mentions). */
static void
mx_members(struct mx *m, const char *room, const json_t *events)
{
	const json_t	*ev;
	json_t		*names;
	const char	*who, *name, *type;
	size_t		 i;

	json_array_foreach(events, i, ev) {
		type = json_string_value(json_object_get(ev, "type"));
		who = json_string_value(json_object_get(ev, "state_key"));
		if (type == NULL || strcmp(type, "m.room.member") != 0 ||
		    who == NULL)
			continue;
		name = json_string_value(json_object_get(json_object_get(ev,
		    "content"), "displayname"));
		if (name == NULL || *name == '\0')
			continue;
		if (strcmp(who, m->m_self.ms_user_id) == 0 &&
		    !m->m_fixed_display)
			snprintf(m->m_self.ms_display,
			    sizeof(m->m_self.ms_display), "%s", name);
		if ((names = json_object_get(m->m_names, room)) == NULL) {
			if (json_object_size(m->m_names) >= MX_ROOMS_MAX)
				continue;
			names = json_object();
			json_object_set_new(m->m_names, room, names);
		}
		if (names != NULL && json_object_size(names) < 1000)
			json_object_set_new(names, who, json_string(name));
	}
}

/* A joined room of a sync: its counts and names kept; its timeline's
 * messages emitted unless this is the first sync. */
static void
mx_room(struct mx *m, const char *room, const json_t *jr, int first)
{
	const json_t	*cnt, *tl, *ev;
	json_t		*out;
	const char	*sender, *skip, *name;
	long long	 members;
	size_t		 i;
	int		 is_group;

	cnt = json_object_get(json_object_get(jr, "summary"),
	    "m.joined_member_count");
	if (json_is_integer(cnt) && (json_object_get(m->m_members, room) !=
	    NULL || json_object_size(m->m_members) < MX_ROOMS_MAX))
		json_object_set_new(m->m_members, room,
		    json_integer(json_integer_value(cnt)));
	mx_members(m, room, json_object_get(json_object_get(jr, "state"),
	    "events"));
	tl = json_object_get(json_object_get(jr, "timeline"), "events");
	mx_members(m, room, tl);
	if (first)
		return;
	if (!mx_room_allowed(m, room)) {
		if (json_array_size(tl) > 0)
			log_debug("matrix: %s is not in MATRIX_ALLOWED_ROOMS",
			    room);
		return;
	}
	/* A group: more than two members, or a room that is not a direct
	 * chat (m.direct does not name it). */
	cnt = json_object_get(m->m_members, room);
	members = json_is_integer(cnt) ? json_integer_value(cnt) : -1;
	is_group = members > 2 || json_object_get(m->m_direct, room) == NULL;
	json_array_foreach(tl, i, ev) {
		sender = json_string_value(json_object_get(ev, "sender"));
		name = sender == NULL ? NULL : json_string_value(
		    json_object_get(json_object_get(m->m_names, room),
		    sender));
		out = mx_event_message(ev, room, name, is_group, &m->m_self,
		    &skip);
		if (out == NULL) {
			log_debug("matrix: an event in %s skipped: %s", room,
			    skip);
			continue;
		}
		ad_emit(m->m_ad, out);
	}
}

/* m.direct (account data): {user: [room, ...]} into a set of rooms. */
static void
mx_direct(struct mx *m, const json_t *account_data)
{
	const json_t	*ev, *rooms, *r;
	const char	*type, *user;
	size_t		 i, k;

	json_array_foreach(json_object_get(account_data, "events"), i, ev) {
		type = json_string_value(json_object_get(ev, "type"));
		if (type == NULL || strcmp(type, "m.direct") != 0)
			continue;
		json_object_clear(m->m_direct);
		json_decref(m->m_direct_acct);
		m->m_direct_acct = json_is_object(json_object_get(ev,
		    "content")) ? json_deep_copy(json_object_get(ev,
		    "content")) : NULL;
		json_object_foreach((json_t *)(uintptr_t)json_object_get(ev,
		    "content"), user, rooms)
			json_array_foreach(rooms, k, r)
				if (json_is_string(r) && json_object_size(
				    m->m_direct) < MX_ROOMS_MAX)
					json_object_set_new(m->m_direct,
					    json_string_value(r),
					    json_true());
	}
}

static void
mx_on_sync(void *arg, const struct ad_http_resp *r)
{
	struct mx	*m = arg;
	json_t		*j = ad_http_resp_json(r);
	const json_t	*rooms, *jr, *nb;
	const char	*room;
	char		 why[320], *since;
	long long	 ra;
	uint64_t	 now = util_now_ms();
	int		 first = m->m_state == MX_FIRST, events = 0;

	mx_why(r, j, why, sizeof(why), &ra);
	nb = json_object_get(j, "next_batch");
	if (r->ar_status < 0)
		mx_down(m, "sync: %s", why);
	else if (r->ar_status == 401)
		mx_down(m, "the homeserver refused the access token "
		    "(%s)", why);
	else if (r->ar_status == 429) {
		if (ra < 0 || ra > 3600000)
			ra = 5000;
		log_warnx("matrix: sync: %s; again in %lld ms", why, ra);
		m->m_sync_at = now + (uint64_t)ra;
	} else if (r->ar_status != 200 || !json_is_string(nb) ||
	    json_string_length(nb) == 0 || json_string_length(nb) > 4096)
		mx_down(m, "sync: %s", r->ar_status == 200 ?
		    "no next_batch" : why);
	else if ((since = strdup(json_string_value(nb))) == NULL)
		mx_down(m, "sync: out of memory");
	else {
		free(m->m_since);
		m->m_since = since;
		mx_direct(m, json_object_get(j, "account_data"));
		rooms = json_object_get(j, "rooms");
		json_object_foreach((json_t *)(uintptr_t)json_object_get(rooms,
		    "invite"), room, jr)
			mx_join(m, room, jr);
		json_object_foreach((json_t *)(uintptr_t)json_object_get(rooms,
		    "join"), room, jr) {
			json_object_del(m->m_joining, room);
			events += (int)json_array_size(json_object_get(
			    json_object_get(jr, "timeline"), "events"));
			mx_room(m, room, jr, first);
		}
		json_object_foreach((json_t *)(uintptr_t)json_object_get(rooms,
		    "leave"), room, jr) {
			json_object_del(m->m_members, room);
			json_object_del(m->m_names, room);
			json_object_del(m->m_joining, room);
		}
		if (first) {
			log_info("matrix: first sync: %d events of history "
			    "skipped", events);
			ad_platform_up(m->m_ad);
		}
		m->m_state = MX_SYNCING;
		if (events == 0 && !first && m->m_sync_secs > 0 &&
		    now - m->m_sync_started < MX_EMPTY_FAST_MS)
			m->m_sync_at = now + MX_EMPTY_PAUSE_MS;
		else
			m->m_sync_at = now;
	}
	json_decref(j);
	mx_pump(m);
}

/* Asks /sync: the first without since (and no wait), the rest a long
 * poll of m_sync_secs from m_since. */
static void
mx_sync(struct mx *m)
{
	char		path[6000];
	long long	secs;

	m->m_sync_at = 0;
	if (m->m_since == NULL) {
		secs = 0;
		snprintf(path, sizeof(path), "%s/sync?timeout=0&filter=%s",
		    m->m_prefix, MX_FIRST_FILTER);
	} else {
		secs = m->m_sync_secs;
		/* next_batch is opaque: escaped as a query value. */
		snprintf(path, sizeof(path), "%s/sync?timeout=%lld&since=",
		    m->m_prefix, secs * 1000);
		if (mx_path_escape(m->m_since, path + strlen(path),
		    sizeof(path) - strlen(path)) != 0) {
			mx_down(m, "a next_batch too long");
			return;
		}
	}
	m->m_sync_started = util_now_ms();
	if (ad_http_request(&m->m_sync, "GET", path, m->m_auth, NULL, 0,
	    (uint64_t)secs * 1000 + 15000, mx_on_sync, m) != 0) {
		log_warnx("matrix: could not ask sync; again in 1 s");
		m->m_sync_at = util_now_ms() + 1000;
	}
}

/* ---- the calls ----------------------------------------------------------- */

static void
mx_out_pop(struct mx *m)
{
	struct mx_out	*o = m->m_head;

	m->m_head = o->o_next;
	if (m->m_head == NULL)
		m->m_tail = &m->m_head;
	if (m->m_last == o)
		m->m_last = NULL;
	m->m_queued--;
	free(o->o_target);
	free(o->o_room);
	free(o->o_path);
	free(o->o_body);
	free(o);
}

static void
mx_on_sent(void *arg, const struct ad_http_resp *r)
{
	struct mx	*m = arg;
	struct mx_out	*o = m->m_head;
	json_t		*j;
	char		 why[320];
	long long	 ra;
	uint64_t	 delay;
	unsigned int	 i;

	m->m_inflight = 0;
	if (o == NULL)
		return;
	o->o_attempts++;
	j = ad_http_resp_json(r);
	mx_why(r, j, why, sizeof(why), &ra);
	if (r->ar_err == NULL && r->ar_status == 200) {
		log_debug("matrix: %s done (attempt %u)", o->o_what,
		    o->o_attempts);
		if (o->o_target != NULL)
			mx_reacted(m, o, json_string_value(json_object_get(j,
			    "event_id")));
		mx_out_pop(m);
	} else if (r->ar_status == 401) {
		/* The call stays first: it goes again (the same txn id)
		 * once whoami succeeds. */
		json_decref(j);
		o->o_attempts--;
		mx_down(m, "%s: the homeserver refused the access "
		    "token (%s)", o->o_what, why);
		return;
	} else if (r->ar_status == 429 && o->o_attempts < MX_ATTEMPTS) {
		if (ra < 0 || ra > 3600000)
			ra = 1000;
		log_warnx("matrix: %s: %s; again in %lld ms", o->o_what, why,
		    ra);
		o->o_next_at = util_now_ms() + (uint64_t)ra;
	} else if ((r->ar_status < 0 || r->ar_status >= 500) &&
	    !o->o_best_effort && o->o_attempts < MX_ATTEMPTS) {
		delay = MX_RETRY_MS;
		for (i = 1; i < o->o_attempts && delay < MX_RETRY_MAX_MS; i++)
			delay *= 2;
		if (delay > MX_RETRY_MAX_MS)
			delay = MX_RETRY_MAX_MS;
		log_warnx("matrix: %s failed (%s); attempt %u in %llu ms",
		    o->o_what, why, o->o_attempts + 1,
		    (unsigned long long)delay);
		o->o_next_at = util_now_ms() + delay;
	} else {
		if (o->o_best_effort)
			log_info("matrix: %s failed (%s); not retried",
			    o->o_what, why);
		else
			ad_error(m->m_ad, "matrix: %s failed after %u "
			    "attempt%s: %s", o->o_what, o->o_attempts,
			    o->o_attempts == 1 ? "" : "s", why);
		mx_out_pop(m);
	}
	json_decref(j);
	mx_pump(m);
}

/*
 * A reaction of ours is on o_target now: the one before it on the same
 * message (the turn's earlier phase) is redacted, so the message shows
 * the turn's state, not its history (Matrix keeps every annotation).
 */
static void
mx_reacted(struct mx *m, const struct mx_out *o, const char *eid)
{
	json_t		*prev;
	const char	*room, *old;
	char		 resc[3 * MX_ID_MAX + 1], eesc[3 * MX_ID_MAX + 1];
	char		 txn[64], path[4096];

	if (eid == NULL)
		return;
	prev = json_object_get(m->m_reacted, o->o_target);
	room = json_string_value(json_object_get(prev, "room"));
	old = json_string_value(json_object_get(prev, "ours"));
	if (room != NULL && old != NULL && strcmp(old, eid) != 0 &&
	    mx_path_escape(room, resc, sizeof(resc)) == 0 &&
	    mx_path_escape(old, eesc, sizeof(eesc)) == 0) {
		mx_txn_id(txn, sizeof(txn), m->m_boot, ++m->m_txn);
		snprintf(path, sizeof(path), "%s/rooms/%s/redact/%s/%s",
		    m->m_prefix, resc, eesc, txn);
		mx_enqueue(m, "redaction", "PUT", path, json_pack("{s:s}",
		    "reason", "the turn moved on"), 1);
	}
	if (json_object_size(m->m_reacted) >= MX_REACTED_MAX &&
	    prev == NULL)
		json_object_clear(m->m_reacted);
	json_object_set_new(m->m_reacted, o->o_target, json_pack("{s:s, "
	    "s:s}", "room", o->o_room, "ours", eid));
}

/* Makes the head call if it is due, none is in flight and the session
 * is up (whoami answered). */
static void
mx_pump(struct mx *m)
{
	struct mx_out	*o;
	char		 extra[1200];

	if (m->m_state != MX_SYNCING && m->m_state != MX_FIRST)
		return;
	snprintf(extra, sizeof(extra), "%sContent-Type: application/json\r\n",
	    m->m_auth);
	while (!m->m_inflight && (o = m->m_head) != NULL &&
	    util_now_ms() >= o->o_next_at) {
		if (ad_http_request(&m->m_out, o->o_method, o->o_path, extra,
		    o->o_body, o->o_len, MX_CALL_TIMEOUT_MS, mx_on_sent,
		    m) != 0) {
			ad_error(m->m_ad, "matrix: out of memory; a %s is "
			    "dropped", o->o_what);
			mx_out_pop(m);
			continue;
		}
		m->m_inflight = 1;
	}
}

/* PUT .../rooms/{room}/send/{type}/{txn} of body (stolen), its txn id
 * taken now.  0 when queued (m_last), else -1. */
static int
mx_send_event(struct mx *m, const char *what, const char *room,
    const char *type, json_t *body, int best_effort)
{
	char	esc[3 * MX_ID_MAX + 1], txn[64], path[4096];

	if (mx_path_escape(room, esc, sizeof(esc)) != 0 ||
	    strlen(room) > MX_ID_MAX) {
		if (!best_effort)
			ad_error(m->m_ad, "matrix: a %s to '%.64s': not a room "
			    "id; dropped", what, room);
		json_decref(body);
		return (-1);
	}
	mx_txn_id(txn, sizeof(txn), m->m_boot, ++m->m_txn);
	snprintf(path, sizeof(path), "%s/rooms/%s/send/%s/%s", m->m_prefix,
	    esc, type, txn);
	return (mx_enqueue(m, what, "PUT", path, body, best_effort));
}

static void
mx_cmd_send(struct mx *m, const struct ad_cmd *c)
{
	const char	*text = c->ac_text;
	size_t		 n = strlen(text), k, parts = 0;
	json_t		*body;
	char		*piece;

	if (c->ac_channel_id[0] != '!') {
		ad_error(m->m_ad, "matrix: a send to '%.64s' is not to a room "
		    "id (!...); dropped", c->ac_channel_id);
		return;
	}
	if (n == 0) {
		log_info("matrix: an empty send to '%.64s' dropped",
		    c->ac_channel_id);
		return;
	}
	while (n > 0) {
		k = ad_text_cut(text, n, MX_TEXT_LIMIT, AD_UNIT_BYTE);
		if ((piece = strndup(text, k)) == NULL)
			body = NULL;
		else
			body = json_pack("{s:s, s:s}", "msgtype", "m.text",
			    "body", piece);
		/* A reply in a thread stays in it. */
		if (body != NULL && c->ac_thread_id != NULL &&
		    c->ac_thread_id[0] == '$')
			json_object_set_new(body, "m.relates_to", json_pack(
			    "{s:s, s:s}", "rel_type", "m.thread", "event_id",
			    c->ac_thread_id));
		free(piece);
		mx_send_event(m, "message", c->ac_channel_id,
		    "m.room.message", body, 0);
		parts++;
		text += k;
		n -= k;
	}
	if (parts > 1)
		log_info("matrix: a text of %zu bytes goes as %zu messages",
		    strlen(c->ac_text), parts);
}

static void
mx_cmd_reaction(struct mx *m, const struct ad_cmd *c)
{
	if (c->ac_channel_id == NULL || c->ac_message_id == NULL ||
	    c->ac_message_id[0] != '$' || c->ac_reaction == NULL ||
	    *c->ac_reaction == '\0') {
		log_debug("matrix: a reaction without a room, an event id or "
		    "a key; dropped");
		return;
	}
	if (mx_send_event(m, "reaction", c->ac_channel_id, "m.reaction",
	    json_pack("{s:{s:s, s:s, s:s}}", "m.relates_to", "rel_type",
	    "m.annotation", "event_id", c->ac_message_id, "key",
	    c->ac_reaction), 1) != 0 || m->m_last == NULL)
		return;
	/* Remembered, to redact it when the next phase's comes. */
	m->m_last->o_target = strdup(c->ac_message_id);
	m->m_last->o_room = strdup(c->ac_channel_id);
	if (m->m_last->o_target == NULL || m->m_last->o_room == NULL) {
		free(m->m_last->o_target);
		free(m->m_last->o_room);
		m->m_last->o_target = m->m_last->o_room = NULL;
	}
}

static void
mx_cmd_typing(struct mx *m, const struct ad_cmd *c)
{
	char	room[3 * MX_ID_MAX + 1], user[3 * MX_ID_MAX + 1], path[4096];

	if (m->m_self.ms_user_id[0] == '\0' ||
	    mx_path_escape(c->ac_channel_id, room, sizeof(room)) != 0 ||
	    mx_path_escape(m->m_self.ms_user_id, user, sizeof(user)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/rooms/%s/typing/%s", m->m_prefix,
	    room, user);
	mx_enqueue(m, "typing", "PUT", path, json_pack("{s:b, s:i}",
	    "typing", 1, "timeout", MX_TYPING_MS), 1);
}

/* ---- the adapter's callbacks ------------------------------------------ */

static void
mx_arm(struct mx *m)
{
	uint64_t	at = 0, v[4];
	int		i;

	v[0] = ad_http_deadline(&m->m_sync);
	v[1] = ad_http_deadline(&m->m_out);
	v[2] = m->m_state == MX_SYNCING && !ad_http_busy(&m->m_sync) ?
	    m->m_sync_at : 0;
	v[3] = (m->m_state == MX_SYNCING || m->m_state == MX_FIRST) &&
	    !m->m_inflight && m->m_head != NULL ?
	    (m->m_head->o_next_at ? m->m_head->o_next_at : 1) : 0;
	for (i = 0; i < 4; i++)
		if (v[i] != 0 && (at == 0 || v[i] < at))
			at = v[i];
	ad_timer(m->m_ad, at);
}

static int
mx_connect(struct ad *a)
{
	struct mx	*m = ad_arg(a);
	char		 path[1200];

	ad_http_close(&m->m_sync);
	snprintf(path, sizeof(path), "%s/account/whoami", m->m_prefix);
	if (ad_http_request(&m->m_sync, "GET", path, m->m_auth, NULL, 0,
	    MX_CALL_TIMEOUT_MS, mx_on_whoami, m) != 0) {
		ad_error(a, "matrix: could not ask whoami");
		return (-1);
	}
	m->m_state = MX_WHOAMI;
	mx_arm(m);
	return (0);
}

static void
mx_io(struct ad *a, int fd, int revents)
{
	struct mx	*m = ad_arg(a);

	if (ad_http_owns(&m->m_sync, fd))
		ad_http_io(&m->m_sync, revents);
	else if (ad_http_owns(&m->m_out, fd))
		ad_http_io(&m->m_out, revents);
	mx_pump(m);
	mx_arm(m);
}

static void
mx_tick(struct ad *a)
{
	struct mx	*m = ad_arg(a);

	ad_http_tick(&m->m_sync);
	ad_http_tick(&m->m_out);
	if (m->m_state == MX_SYNCING && !ad_http_busy(&m->m_sync) &&
	    m->m_sync_at != 0 && util_now_ms() >= m->m_sync_at)
		mx_sync(m);
	mx_pump(m);
	mx_arm(m);
}

static void
mx_command(struct ad *a, const struct ad_cmd *c)
{
	struct mx	*m = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		mx_cmd_send(m, c);
		break;
	case AD_CMD_TYPING:
		mx_cmd_typing(m, c);
		break;
	case AD_CMD_REACTION:
		mx_cmd_reaction(m, c);
		break;
	default:
		log_debug("matrix: '%s' ignored", c->ac_method);
		break;
	}
	mx_pump(m);
	mx_arm(m);
}

static void
mx_stop(struct ad *a)
{
	struct mx	*m = ad_arg(a);

	ad_http_close(&m->m_sync);
	ad_http_close(&m->m_out);
	if (m->m_queued > 0)
		log_warnx("matrix: %zu calls not made at exit", m->m_queued);
	while (m->m_head != NULL)
		mx_out_pop(m);
}

static int
mx_init(struct ad *a)
{
	struct mx	*m = ad_arg(a);
	const char	*base, *disp;
	long long	 v;
	size_t		 pl;
	int		 flags;

	m->m_ad = a;
	m->m_token = ad_conf("MATRIX_ACCESS_TOKEN");
	if (!mx_token_ok(m->m_token)) {
		log_warnx("%s: MATRIX_ACCESS_TOKEN is %s", __func__,
		    m->m_token == NULL ? "required" : "not a token (printable "
		    "ASCII, no space)");
		return (-1);
	}
	log_add_secret(m->m_token);
	snprintf(m->m_auth, sizeof(m->m_auth), "Authorization: Bearer %s\r\n",
	    m->m_token);
	m->m_conf_user = ad_conf("MATRIX_USER_ID");
	if (!mx_user_id_ok(m->m_conf_user)) {
		log_warnx("%s: MATRIX_USER_ID is %s", __func__,
		    m->m_conf_user == NULL ? "required" : "not a user id "
		    "(@name:server)");
		return (-1);
	}
	mx_self_set(&m->m_self, m->m_conf_user);
	if ((disp = ad_conf("MATRIX_DISPLAY_NAME")) != NULL) {
		snprintf(m->m_self.ms_display, sizeof(m->m_self.ms_display),
		    "%s", disp);
		m->m_fixed_display = 1;
	}
	if ((base = ad_conf("MATRIX_API_BASE")) == NULL &&
	    (base = ad_conf("MATRIX_HOMESERVER_URL")) == NULL) {
		log_warnx("%s: MATRIX_HOMESERVER_URL is required", __func__);
		return (-1);
	}
	if (ad_api_base(a, "the homeserver URL", base, &m->m_base, &pl) != 0)
		return (-1);
	snprintf(m->m_prefix, sizeof(m->m_prefix), "%.*s/_matrix/client/v3",
	    (int)pl, m->m_base.au_path);
	if (ad_conf_num("MATRIX_SYNC_TIMEOUT_SECS", 0, 120,
	    &m->m_sync_secs) != 0)
		return (-1);
	if (ad_conf("MATRIX_MAX_UPLOAD_BYTES") != NULL &&
	    ad_conf_num("MATRIX_MAX_UPLOAD_BYTES", 0, 1LL << 40, &v) != 0)
		return (-1);
	m->m_auto_join = ad_conf_bool("MATRIX_AUTO_JOIN");
	m->m_ca_file = ad_conf("MATRIX_TLS_CA_FILE");
	if ((m->m_rooms = ad_conf_list("MATRIX_ALLOWED_ROOMS")) == NULL ||
	    (m->m_members = json_object()) == NULL ||
	    (m->m_names = json_object()) == NULL ||
	    (m->m_direct = json_object()) == NULL ||
	    (m->m_joining = json_object()) == NULL ||
	    (m->m_reacted = json_object()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	/* Txn ids are scoped to the access token: a restarted adapter must
	 * not reuse its predecessor's. */
	m->m_boot = ((uint64_t)util_wall_ms() << 16) ^ (uint64_t)getpid();
	flags = ad_allow_loopback(a) ? AD_CONN_ALLOW_PRIVATE : 0;
	ad_http_init(&m->m_sync, a, &m->m_base, flags, m->m_ca_file,
	    MX_RESP_MAX);
	ad_http_init(&m->m_out, a, &m->m_base, flags, m->m_ca_file,
	    64 * 1024);
	log_info("matrix: homeserver at %s:%d%s, sync long poll %lld s",
	    m->m_base.au_host, m->m_base.au_port, m->m_base.au_tls ?
	    " (TLS)" : "", m->m_sync_secs);
	return (0);
}

static const struct ad_def mx_def = {
	.ad_name = "matrix",
	.ad_display_name = "Matrix",
	.ad_description = "A Matrix bot: the client-server API's /sync long "
	    "poll in, room messages out (typing, reactions, auto-join).",
	.ad_env = "MATRIX",
	.ad_fields = mx_fields,
	.ad_capabilities = mx_caps,
	.ad_init = mx_init,
	.ad_connect = mx_connect,
	.ad_io = mx_io,
	.ad_tick = mx_tick,
	.ad_command = mx_command,
	.ad_stop = mx_stop,
};

int
main(int argc, char **argv)
{
	struct ad_url	none;
	struct mx	m;
	int		rv;

	memset(&m, 0, sizeof(m));
	memset(&none, 0, sizeof(none));
	m.m_tail = &m.m_head;
	/* Closed and harmless until mx_init() aims them at the server. */
	ad_http_init(&m.m_sync, NULL, &none, 0, NULL, 0);
	ad_http_init(&m.m_out, NULL, &none, 0, NULL, 0);
	rv = ad_main(&mx_def, &m, argc, argv);
	ad_http_close(&m.m_sync);
	ad_http_close(&m.m_out);
	while (m.m_head != NULL)
		mx_out_pop(&m);
	ad_list_free(m.m_rooms);
	free(m.m_since);
	json_decref(m.m_members);
	json_decref(m.m_names);
	json_decref(m.m_direct);
	json_decref(m.m_direct_acct);
	json_decref(m.m_joining);
	json_decref(m.m_reacted);
	return (rv);
}
