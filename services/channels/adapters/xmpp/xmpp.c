/*
 * xmpp.c - channel-xmpp: an XMPP client (RFC 6120/6121, XEP-0045 rooms,
 * XEP-0085 chat states, XEP-0359 stanza ids) on libstrophe, speaking the
 * sidecar protocol (README.md).
 *
 * libstrophe's event loop runs inside the library's poll loop: its socket
 * (handed to us by the sockopt callback, the one public way to learn it
 * in 0.12) is watched with ad_watch(), and each time it is ready we call
 * xmpp_run_once(ctx, 0), which never blocks.  That call reads at most
 * one buffer and writes what handlers queued only on the next call, so
 * we call it a few times in a row (XA_DRAIN), and while the stream is
 * being negotiated (libstrophe's own writes, which we cannot see) the
 * timer calls it every XA_NEGOTIATE_TICK_MS; once the session is up,
 * every XA_TICK_MS for libstrophe's timed handlers and our ping.
 */
#include <sys/socket.h>

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/x509.h>
#include <strophe.h>

#include "adapter.h"
#include "log.h"
#include "ssrf.h"
#include "util.h"
#include "xmpp.h"

#define XA_TICK_MS		1000
#define XA_NEGOTIATE_TICK_MS	50
#define XA_SESSION_MS		30000	/* for the session after connecting */
#define XA_PING_EVERY_MS	90000	/* XEP-0199 ping of a quiet link */
#define XA_PING_WAIT_MS		60000
#define XA_DRAIN		6	/* xmpp_run_once() calls per event */
#define XA_QUEUE_MAX		1000	/* messages waiting for the session */
#define XA_NICK_MAX		256
#define XA_ROOM_TRIES		3	/* nicks tried per join */
#define XA_ADDRS		8

#define NS_MUC		"http://jabber.org/protocol/muc"
#define NS_MUC_USER	"http://jabber.org/protocol/muc#user"
#define NS_CHATSTATES	"http://jabber.org/protocol/chatstates"
#define NS_SID		"urn:xmpp:sid:0"
#define NS_DELAY	"urn:xmpp:delay"
#define NS_PING		"urn:xmpp:ping"
#define NS_STANZAS	"urn:ietf:params:xml:ns:xmpp-stanzas"

enum xa_group_policy { XA_GROUP_ALL, XA_GROUP_MENTION, XA_GROUP_IGNORE };
enum xa_tls { XA_TLS_REQUIRED, XA_TLS_DIRECT, XA_TLS_OFF };

struct xa_room {
	char	*xr_jid;		/* bare, lower-case */
	char	 xr_nick[XA_NICK_MAX];	/* the one asked for or in use */
	int	 xr_joined;
	int	 xr_tries;
};

/* A message waiting for the session (one piece of a split text). */
struct xa_out {
	struct xa_out	*xo_next;
	int		 xo_group;
	char		*xo_to;
	char		*xo_body;
};

struct xa {
	/* configuration */
	const char	*x_jid;
	const char	*x_password;
	const char	*x_server;	/* the JID's domain unless set */
	long long	 x_port;
	enum xa_tls	 x_tls;
	int		 x_tls_verify;
	const char	*x_ca_file;
	const char	*x_nick;
	enum xa_group_policy x_group;
	long long	 x_max_chars;
	struct xa_room	*x_rooms;
	size_t		 x_nrooms;
	char		 x_bare[XMPP_JID_MAX + 1];	/* ours, lower-case */
	char		 x_domain[1024];
	/* the session */
	struct ad	*x_ad;
	xmpp_ctx_t	*x_ctx;
	xmpp_conn_t	*x_conn;
	int		 x_fd;		/* watched, or -1 */
	int		 x_online;	/* the session is established */
	int		 x_dead;	/* the connection ended: reap it */
	int		 x_stopping;
	char		 x_why[512];
	char		 x_last_err[256];	/* libstrophe's last complaint */
	unsigned int	 x_attempt;	/* picks the address to try */
	uint64_t	 x_connected_at;
	uint64_t	 x_ping_at;	/* the next ping */
	uint64_t	 x_ping_sent;	/* 0: none outstanding */
	/* messages waiting for the session */
	struct xa_out	*x_head;
	struct xa_out	**x_tail;
	size_t		 x_queued;
};

static const char *const xa_group_opts[] = { "mention", "all", "ignore",
    NULL };
static const char *const xa_tls_opts[] = { "required", "direct", "off",
    NULL };

static const struct ad_field xa_fields[] = {
	{ "XMPP_JID", "Bot JID", AD_FIELD_TEXT, 1, "bot@example.org", 0,
	    NULL, NULL },
	{ "XMPP_PASSWORD", "Password", AD_FIELD_SECRET, 1, NULL, 0, NULL,
	    NULL },
	{ "XMPP_SERVER", "Server (host)", AD_FIELD_TEXT, 0,
	    "the JID's domain", 0, NULL, NULL },
	{ "XMPP_PORT", "Port", AD_FIELD_NUMBER, 0,
	    "5222 (5223 with XMPP_TLS direct)", 0, NULL, NULL },
	{ "XMPP_ROOMS", "Rooms (MUC) to join", AD_FIELD_LIST, 0,
	    "ops@conference.example.org", 0, NULL, NULL },
	{ "XMPP_NICK", "Nick in rooms", AD_FIELD_TEXT, 0, "the JID's local part",
	    0, NULL, NULL },
	{ "XMPP_GROUP_POLICY", "Room messages", AD_FIELD_SELECT, 0, NULL, 1,
	    xa_group_opts, "mention" },
	{ "XMPP_TLS", "TLS", AD_FIELD_SELECT, 0, NULL, 1, xa_tls_opts,
	    "required" },
	{ "XMPP_TLS_VERIFY", "Verify the server's certificate", AD_FIELD_BOOL,
	    0, NULL, 1, NULL, "1" },
	{ "XMPP_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT, 0,
	    "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ "XMPP_ALLOW_INSECURE", "Allow XMPP_TLS=off (tests only)",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "0" },
	{ "XMPP_MAX_CHARS", "Split messages longer than (characters)",
	    AD_FIELD_NUMBER, 0, "4000", 1, NULL, "4000" },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* typing: XEP-0085 "composing" to the chat or room. */
static const char *const xa_caps[] = { "typing", NULL };

/* ---- libstrophe's log --------------------------------------------------- */

/*
 * Warnings and errors go to our log and are kept: the next `error` event
 * says why a connection ended.  Debug lines are dropped whole: they carry
 * the raw stream, with the SASL exchange (the password in base64).
 */
static void
xa_strophe_log(void *arg, xmpp_log_level_t level, const char *area,
    const char *msg)
{
	struct xa	*x = arg;

	if (level == XMPP_LEVEL_DEBUG)
		return;
	if (level == XMPP_LEVEL_INFO) {
		log_debug("xmpp: %s: %s", area, msg);
		return;
	}
	log_warnx("xmpp: %s: %s", area, msg);
	snprintf(x->x_last_err, sizeof(x->x_last_err), "%s", msg);
}

/* ---- rooms and output --------------------------------------------------- */

static struct xa_room *
xa_room_find(struct xa *x, const char *jid)
{
	char	bare[XMPP_JID_MAX + 1];
	size_t	i;

	if (xmpp_bare(jid, bare, sizeof(bare)) != 0)
		return (NULL);
	for (i = 0; i < x->x_nrooms; i++)
		if (strcmp(x->x_rooms[i].xr_jid, bare) == 0)
			return (&x->x_rooms[i]);
	return (NULL);
}

/* Sends a stanza built from text by libstrophe (it escapes the XML). */
static void
xa_send_stanza(struct xa *x, xmpp_stanza_t *s)
{
	if (s == NULL) {
		log_warnx("%s: could not build a stanza: out of memory",
		    __func__);
		return;
	}
	xmpp_send(x->x_conn, s);
	xmpp_stanza_release(s);
}

/* A child <name xmlns=ns/> added to s; 0 or -1 (out of memory). */
static int
xa_add_child(struct xa *x, xmpp_stanza_t *s, const char *name,
    const char *ns, xmpp_stanza_t **out)
{
	xmpp_stanza_t	*c;

	if ((c = xmpp_stanza_new(x->x_ctx)) == NULL)
		return (-1);
	if (xmpp_stanza_set_name(c, name) != 0 ||
	    (ns != NULL && xmpp_stanza_set_ns(c, ns) != 0) ||
	    xmpp_stanza_add_child(s, c) != 0) {
		xmpp_stanza_release(c);
		return (-1);
	}
	if (out != NULL)
		*out = c;
	xmpp_stanza_release(c);		/* s holds it */
	return (0);
}

static void
xa_send_body(struct xa *x, const char *to, int group, const char *body)
{
	xmpp_stanza_t	*m;
	char		*id;

	id = xmpp_uuid_gen(x->x_ctx);
	m = xmpp_message_new(x->x_ctx, group ? "groupchat" : "chat", to, id);
	if (m != NULL && (xmpp_message_set_body(m, body) != 0 ||
	    /* The reply ends "composing" (XEP-0085). */
	    xa_add_child(x, m, "active", NS_CHATSTATES, NULL) != 0)) {
		xmpp_stanza_release(m);
		m = NULL;
	}
	xa_send_stanza(x, m);
	if (id != NULL)
		xmpp_free(x->x_ctx, id);
}

static void
xa_queue_clear(struct xa *x)
{
	struct xa_out	*o;

	while ((o = x->x_head) != NULL) {
		x->x_head = o->xo_next;
		free(o->xo_to);
		free(o->xo_body);
		free(o);
	}
	x->x_tail = &x->x_head;
	x->x_queued = 0;
}

static void
xa_queue_flush(struct xa *x)
{
	struct xa_out	*o;

	while (x->x_online && (o = x->x_head) != NULL) {
		x->x_head = o->xo_next;
		xa_send_body(x, o->xo_to, o->xo_group, o->xo_body);
		free(o->xo_to);
		free(o->xo_body);
		free(o);
		x->x_queued--;
	}
	if (x->x_head == NULL)
		x->x_tail = &x->x_head;
}

/* One piece: sent now when the session is up, else queued for it.  0, or
 * -1 (the queue is full, out of memory). */
static int
xa_say_piece(struct xa *x, const char *to, int group, const char *p,
    size_t n)
{
	struct xa_out	*o = NULL;
	char		*body;
	int		 ret = -1;

	if ((body = strndup(p, n)) == NULL)
		goto done;
	if (x->x_online && x->x_head == NULL) {
		xa_send_body(x, to, group, body);
		ret = 0;
		goto done;
	}
	if (x->x_queued >= XA_QUEUE_MAX ||
	    (o = calloc(1, sizeof(*o))) == NULL ||
	    (o->xo_to = strdup(to)) == NULL)
		goto done;
	o->xo_group = group;
	o->xo_body = body;
	body = NULL;
	*x->x_tail = o;
	x->x_tail = &o->xo_next;
	x->x_queued++;
	o = NULL;
	ret = 0;
 done:
	free(o);
	free(body);
	return (ret);
}

/* text to `to`, split at x_max_chars characters.  0 or -1. */
static int
xa_say(struct xa *x, const char *to, int group, const char *text)
{
	char	*clean;
	size_t	 n, k, skip, off = 0;
	int	 ret = 0;

	if ((clean = xmpp_xml_clean(text)) == NULL)
		return (-1);
	n = strlen(clean);
	while (off < n && ret == 0) {
		k = xmpp_split(clean + off, n - off, (size_t)x->x_max_chars,
		    &skip);
		ret = xa_say_piece(x, to, group, clean + off, k);
		off += k + skip;
	}
	free(clean);
	return (ret);
}

static void
xa_join(struct xa *x, struct xa_room *r)
{
	xmpp_stanza_t	*p, *mx, *h;
	char		 to[XMPP_JID_MAX + XA_NICK_MAX + 2];

	snprintf(to, sizeof(to), "%s/%s", r->xr_jid, r->xr_nick);
	r->xr_joined = 0;
	/* No history: what was said before we came is not for the agent
	 * (and would be answered again after every reconnect). */
	if ((p = xmpp_presence_new(x->x_ctx)) == NULL ||
	    xmpp_stanza_set_to(p, to) != 0 ||
	    xa_add_child(x, p, "x", NS_MUC, &mx) != 0 ||
	    xa_add_child(x, mx, "history", NULL, &h) != 0 ||
	    xmpp_stanza_set_attribute(h, "maxstanzas", "0") != 0) {
		if (p != NULL)
			xmpp_stanza_release(p);
		p = NULL;
	}
	xa_send_stanza(x, p);
	log_info("xmpp: joining '%s' as '%s'", r->xr_jid, r->xr_nick);
}

/* ---- input -------------------------------------------------------------- */

/* The defined condition of a stanza's <error/>, or "error". */
static const char *
xa_error_condition(xmpp_stanza_t *s)
{
	xmpp_stanza_t	*e, *c;
	const char	*name;

	if ((e = xmpp_stanza_get_child_by_name(s, "error")) == NULL)
		return ("error");
	for (c = xmpp_stanza_get_children(e); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		name = xmpp_stanza_get_name(c);
		if (xmpp_stanza_is_tag(c) && name != NULL &&
		    strcmp(name, "text") != 0)
			return (name);
	}
	return ("error");
}

/* The XEP-0359 stanza-id that by (our bare JID, or the room's) put on s,
 * else s's own id; or NULL.  Only the id stamped by the entity we trust
 * is taken: anyone can put a stanza-id on what they send. */
static const char *
xa_message_id(xmpp_stanza_t *s, const char *by)
{
	xmpp_stanza_t	*c;
	const char	*name, *ns, *b, *id;
	char		 bare[XMPP_JID_MAX + 1];

	for (c = xmpp_stanza_get_children(s); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		name = xmpp_stanza_get_name(c);
		ns = xmpp_stanza_get_ns(c);
		if (!xmpp_stanza_is_tag(c) || name == NULL || ns == NULL ||
		    strcmp(name, "stanza-id") != 0 || strcmp(ns, NS_SID) != 0)
			continue;
		b = xmpp_stanza_get_attribute(c, "by");
		id = xmpp_stanza_get_attribute(c, "id");
		if (b != NULL && id != NULL && id[0] != '\0' &&
		    xmpp_bare(b, bare, sizeof(bare)) == 0 &&
		    strcmp(bare, by) == 0)
			return (id);
	}
	id = xmpp_stanza_get_id(s);
	return (id != NULL && id[0] != '\0' ? id : NULL);
}

static void
xa_emit_message(struct xa *x, xmpp_stanza_t *s, const char *from,
    struct xa_room *r, const char *body)
{
	struct ad_msg	 m;
	json_t		*content = NULL, *meta = NULL;
	const char	*rest = body, *nick, *type, *mid;
	char		 bare[XMPP_JID_MAX + 1], name[XMPP_JID_MAX + 1];
	char		*clean = NULL;
	int		 mentioned = 0;

	if (xmpp_bare(from, bare, sizeof(bare)) != 0)
		return;
	if (r != NULL) {
		nick = strchr(from, '/') + 1;
		mentioned = xmpp_mentions(body, r->xr_nick, &rest);
		if (x->x_group == XA_GROUP_IGNORE ||
		    (x->x_group == XA_GROUP_MENTION && !mentioned))
			return;
		snprintf(name, sizeof(name), "%s", nick);
	} else {
		/* The local part, else the domain (a service). */
		snprintf(name, sizeof(name), "%.*s",
		    (int)strcspn(bare, "@"), bare);
		if (strchr(bare, '@') == NULL)
			snprintf(name, sizeof(name), "%s", bare);
	}
	type = xmpp_stanza_get_type(s);
	mid = xa_message_id(s, r != NULL ? r->xr_jid : x->x_bare);
	if ((clean = ad_utf8_clean(rest, strlen(rest))) == NULL ||
	    (content = ad_content_from_text(clean)) == NULL ||
	    (meta = json_pack("{s:s, s:s, s:b}", "xmpp_from", from,
	    "xmpp_type", type != NULL ? type : "normal", "was_mentioned",
	    mentioned)) == NULL)
		goto done;
	memset(&m, 0, sizeof(m));
	/* In a room the sender is its occupant JID (room/nick: a room
	 * need not tell us the real one); in a chat, the bare JID.  A
	 * private message from a room's occupant keeps the full JID: its
	 * bare one is the room. */
	m.am_user_id = r != NULL || xa_room_find(x, from) != NULL ? from :
	    bare;
	m.am_user_name = name;
	m.am_username = m.am_user_id;
	m.am_text = clean;
	m.am_content = content;
	m.am_channel_id = r != NULL ? r->xr_jid : m.am_user_id;
	m.am_platform = "xmpp";
	m.am_message_id = mid;
	m.am_is_group = r != NULL;
	m.am_metadata = meta;
	ad_emit(x->x_ad, ad_ev_message(&m));
 done:
	json_decref(content);
	json_decref(meta);
	free(clean);
}

static int
xa_on_message(xmpp_conn_t *conn, xmpp_stanza_t *s, void *arg)
{
	struct xa	*x = arg;
	struct xa_room	*r = NULL;
	xmpp_stanza_t	*b;
	const char	*from, *type, *slash;
	char		*body = NULL;

	(void)conn;
	from = xmpp_stanza_get_from(s);
	type = xmpp_stanza_get_type(s);
	if (from == NULL || !xmpp_valid_jid(from))
		return (1);
	if (type != NULL && strcmp(type, "error") == 0) {
		/* What we sent did not arrive: say so, as a delivery
		 * error the daemon can record. */
		ad_error(x->x_ad, "xmpp: could not deliver to '%s': %s", from,
		    xa_error_condition(s));
		return (1);
	}
	if (type != NULL && strcmp(type, "headline") == 0)
		return (1);
	if ((b = xmpp_stanza_get_child_by_name(s, "body")) == NULL ||
	    (body = xmpp_stanza_get_text(b)) == NULL || body[0] == '\0')
		goto done;
	if (type != NULL && strcmp(type, "groupchat") == 0) {
		slash = strchr(from, '/');
		/* Not a configured room; the room itself (a subject, a
		 * notice); our own message reflected; or history (with a
		 * delay) sent all the same. */
		if ((r = xa_room_find(x, from)) == NULL || slash == NULL ||
		    strcmp(slash + 1, r->xr_nick) == 0 ||
		    xmpp_stanza_get_child_by_name_and_ns(s, "delay",
		    NS_DELAY) != NULL)
			goto done;
	}
	xa_emit_message(x, s, from, r, body);
 done:
	if (body != NULL)
		xmpp_free(x->x_ctx, body);
	return (1);
}

/* 1 if the MUC presence s carries status code. */
static int
xa_muc_status(xmpp_stanza_t *s, const char *code)
{
	xmpp_stanza_t	*mx, *c;
	const char	*name, *v;

	if ((mx = xmpp_stanza_get_child_by_name_and_ns(s, "x",
	    NS_MUC_USER)) == NULL)
		return (0);
	for (c = xmpp_stanza_get_children(mx); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		name = xmpp_stanza_get_name(c);
		if (xmpp_stanza_is_tag(c) && name != NULL &&
		    strcmp(name, "status") == 0 &&
		    (v = xmpp_stanza_get_attribute(c, "code")) != NULL &&
		    strcmp(v, code) == 0)
			return (1);
	}
	return (0);
}

static int
xa_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *s, void *arg)
{
	struct xa	*x = arg;
	struct xa_room	*r;
	const char	*from, *type, *cond, *slash;
	size_t		 n;

	(void)conn;
	from = xmpp_stanza_get_from(s);
	type = xmpp_stanza_get_type(s);
	if (from == NULL || (r = xa_room_find(x, from)) == NULL)
		return (1);
	slash = strchr(from, '/');
	if (type != NULL && strcmp(type, "error") == 0) {
		cond = xa_error_condition(s);
		/* The nick is taken: another, a few times. */
		if (strcmp(cond, "conflict") == 0 &&
		    ++r->xr_tries < XA_ROOM_TRIES &&
		    (n = strlen(r->xr_nick)) + 1 < sizeof(r->xr_nick)) {
			r->xr_nick[n] = '_';
			r->xr_nick[n + 1] = '\0';
			xa_join(x, r);
			return (1);
		}
		ad_error(x->x_ad, "xmpp: could not join '%s': %s", r->xr_jid,
		    cond);
		return (1);
	}
	/* Status 110: this presence is about us. */
	if (slash == NULL || !xa_muc_status(s, "110"))
		return (1);
	if (type == NULL) {
		/* The room may have changed our nick (status 210). */
		snprintf(r->xr_nick, sizeof(r->xr_nick), "%s", slash + 1);
		if (!r->xr_joined)
			log_info("xmpp: joined '%s' as '%s'", r->xr_jid,
			    r->xr_nick);
		r->xr_joined = 1;
	} else if (strcmp(type, "unavailable") == 0) {
		r->xr_joined = 0;
		if (xa_muc_status(s, "307")) {
			log_warnx("xmpp: kicked from '%s'; joining again",
			    r->xr_jid);
			xa_join(x, r);
		} else if (!xa_muc_status(s, "303"))
			ad_error(x->x_ad, "xmpp: out of '%s'", r->xr_jid);
	}
	return (1);
}

/* iq get/set to us: a ping is answered, anything else refused (RFC 6120
 * 8.2.3: every iq request gets an answer). */
static int
xa_on_iq(xmpp_conn_t *conn, xmpp_stanza_t *s, void *arg)
{
	struct xa	*x = arg;
	xmpp_stanza_t	*r;
	const char	*type = xmpp_stanza_get_type(s);
	int		 ping;

	(void)conn;
	if (type == NULL || (strcmp(type, "get") != 0 &&
	    strcmp(type, "set") != 0))
		return (1);
	ping = strcmp(type, "get") == 0 &&
	    xmpp_stanza_get_child_by_name_and_ns(s, "ping", NS_PING) != NULL;
	if (ping) {
		if ((r = xmpp_stanza_reply(s)) != NULL &&
		    xmpp_stanza_set_type(r, "result") != 0) {
			xmpp_stanza_release(r);
			r = NULL;
		}
	} else
		r = xmpp_stanza_reply_error(s, "cancel",
		    "service-unavailable", NULL);
	xa_send_stanza(x, r);
	return (1);
}

static int
xa_on_pong(xmpp_conn_t *conn, xmpp_stanza_t *s, void *arg)
{
	struct xa	*x = arg;

	(void)conn;
	(void)s;
	x->x_ping_sent = 0;
	return (0);		/* one answer per ping */
}

static void
xa_ping(struct xa *x)
{
	xmpp_stanza_t	*iq;
	char		*id;

	if ((id = xmpp_uuid_gen(x->x_ctx)) == NULL)
		return;
	if ((iq = xmpp_iq_new(x->x_ctx, "get", id)) != NULL &&
	    (xmpp_stanza_set_to(iq, x->x_domain) != 0 ||
	    xa_add_child(x, iq, "ping", NS_PING, NULL) != 0)) {
		xmpp_stanza_release(iq);
		iq = NULL;
	}
	if (iq != NULL) {
		xmpp_id_handler_add(x->x_conn, xa_on_pong, id, x);
		x->x_ping_sent = util_now_ms();
	}
	xa_send_stanza(x, iq);
	xmpp_free(x->x_ctx, id);
}

/* ---- the connection ----------------------------------------------------- */

static void
xa_on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct xa	*x = arg;
	size_t		 i;

	(void)conn;
	if (x->x_stopping)
		return;
	if (ev == XMPP_CONN_CONNECT) {
		x->x_online = 1;
		x->x_last_err[0] = '\0';
		log_info("xmpp: online as '%s'%s",
		    xmpp_conn_get_bound_jid(x->x_conn),
		    xmpp_conn_is_secured(x->x_conn) ? " (TLS)" : "");
		ad_platform_up(x->x_ad);
		/* Available, so that the server routes chats to us. */
		xa_send_stanza(x, xmpp_presence_new(x->x_ctx));
		for (i = 0; i < x->x_nrooms; i++) {
			x->x_rooms[i].xr_tries = 0;
			snprintf(x->x_rooms[i].xr_nick,
			    sizeof(x->x_rooms[i].xr_nick), "%s", x->x_nick);
			xa_join(x, &x->x_rooms[i]);
		}
		xa_queue_flush(x);
		x->x_ping_at = util_now_ms() + XA_PING_EVERY_MS;
		x->x_ping_sent = 0;
		return;
	}
	/* Already dead: we dropped it (a ping unanswered, no session in
	 * time) and are releasing it, which calls us; our why stands. */
	if ((ev != XMPP_CONN_DISCONNECT && ev != XMPP_CONN_FAIL) || x->x_dead)
		return;
	x->x_dead = 1;
	if (se != NULL)
		snprintf(x->x_why, sizeof(x->x_why), "the server ended the "
		    "stream (error %d%s%s)", (int)se->type, se->text ? ": " :
		    "", se->text ? se->text : "");
	else if (!x->x_online && strstr(x->x_last_err, "authenticate") != NULL)
		/* libstrophe's words for a SASL failure. */
		snprintf(x->x_why, sizeof(x->x_why), "the login was refused "
		    "(wrong XMPP_JID or XMPP_PASSWORD?): %s", x->x_last_err);
	else if (!x->x_online && x->x_last_err[0] != '\0')
		snprintf(x->x_why, sizeof(x->x_why), "no session: %s",
		    x->x_last_err);
	else if (!x->x_online)
		snprintf(x->x_why, sizeof(x->x_why), "no session (%s)",
		    error != 0 ? strerror(error) : "the server closed it");
	else
		snprintf(x->x_why, sizeof(x->x_why), "the connection ended "
		    "(%s)", error != 0 ? strerror(error) : "closed");
}

/* The one adapter of this process, for xa_sockopt (libstrophe gives a
 * sockopt callback no user data). */
static struct xa	*xa_self;

/* libstrophe made a socket for conn: watch it (the one way 0.12 tells
 * it). */
static int
xa_sockopt(xmpp_conn_t *conn, void *sock)
{
	struct xa	*x = xa_self;
	int		 fd = *(int *)sock;

	(void)conn;
	if (x->x_fd >= 0 && x->x_fd != fd)
		ad_watch(x->x_ad, x->x_fd, 0);
	x->x_fd = fd;
	ad_watch(x->x_ad, fd, POLLIN);
	return (0);
}

/* The certificate did not verify: the attempt ends, and says why. */
static int
xa_certfail(const xmpp_tlscert_t *cert, const char *const errormsg)
{
	(void)cert;
	snprintf(xa_self->x_last_err, sizeof(xa_self->x_last_err),
	    "the server's certificate is not trusted (%s; see "
	    "XMPP_TLS_CA_FILE)", errormsg != NULL ? errormsg : "?");
	return (0);
}

/* After libstrophe's turn: a dead connection is released and the retry
 * scheduled; else the socket is polled for what the queue needs. */
static void
xa_settle(struct xa *x)
{
	size_t	i;
	short	ev = POLLIN;

	if (x->x_conn == NULL)
		return;
	if (x->x_dead) {
		ad_watch(x->x_ad, x->x_fd, 0);
		x->x_fd = -1;
		xmpp_conn_release(x->x_conn);
		x->x_conn = NULL;
		x->x_online = 0;
		x->x_dead = 0;
		for (i = 0; i < x->x_nrooms; i++)
			x->x_rooms[i].xr_joined = 0;
		ad_platform_down(x->x_ad, x->x_why);
		return;
	}
	if (x->x_online && xmpp_conn_send_queue_len(x->x_conn) > 0)
		ev |= POLLOUT;
	ad_watch(x->x_ad, x->x_fd, ev);
}

static void
xa_run(struct xa *x)
{
	int	i;

	for (i = 0; i < XA_DRAIN && x->x_conn != NULL && !x->x_dead; i++)
		xmpp_run_once(x->x_ctx, 0);
	xa_settle(x);
}

/* The server's addresses, each checked (a loopback or private one needs
 * the switch, a metadata one is refused); the numeric form of the one to
 * try this time in out.  0, or -1 with why in err. */
static int
xa_resolve(struct xa *x, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	const char	*why;
	char		 svc[16];
	int		 rv, n = 0, pick, ret = -1;

	snprintf(svc, sizeof(svc), "%lld", x->x_port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(x->x_server, svc, &hints, &res)) != 0) {
		snprintf(err, errlen, "could not resolve '%s': %s",
		    x->x_server, gai_strerror(rv));
		goto done;
	}
	/* Every address must pass, not only the one used. */
	for (ai = res; ai != NULL; ai = ai->ai_next, n++) {
		if (ssrf_addr_metadata(ai->ai_addr)) {
			snprintf(err, errlen, "'%s' is a %s; refused",
			    x->x_server, SSRF_WHY_METADATA);
			goto done;
		}
		if ((why = ssrf_addr_blocked(ai->ai_addr)) != NULL &&
		    !ad_allow_loopback(x->x_ad)) {
			snprintf(err, errlen, "'%s' is a %s; refused without "
			    "the allow-loopback switch", x->x_server, why);
			goto done;
		}
	}
	/* Each attempt the next address (at most XA_ADDRS of them). */
	pick = (int)(x->x_attempt++ % (unsigned int)(n < XA_ADDRS ? n :
	    XA_ADDRS));
	for (ai = res; pick-- > 0; ai = ai->ai_next)
		;
	if ((rv = getnameinfo(ai->ai_addr, ai->ai_addrlen, out,
	    (socklen_t)outlen, NULL, 0, NI_NUMERICHOST)) != 0) {
		snprintf(err, errlen, "'%s': %s", x->x_server,
		    gai_strerror(rv));
		goto done;
	}
	ret = 0;
 done:
	if (res != NULL)
		freeaddrinfo(res);
	return (ret);
}

static int
xa_connect(struct ad *a)
{
	struct xa	*x = ad_arg(a);
	char		 addr[NI_MAXHOST], err[512];
	long		 flags = XMPP_CONN_FLAG_DISABLE_SM;

	if (xa_resolve(x, addr, sizeof(addr), err, sizeof(err)) != 0) {
		ad_error(a, "xmpp: %s", err);
		return (-1);
	}
	if ((x->x_conn = xmpp_conn_new(x->x_ctx)) == NULL) {
		ad_error(a, "xmpp: out of memory");
		return (-1);
	}
	switch (x->x_tls) {
	case XA_TLS_REQUIRED:
		flags |= XMPP_CONN_FLAG_MANDATORY_TLS;
		break;
	case XA_TLS_DIRECT:
		flags |= XMPP_CONN_FLAG_LEGACY_SSL;
		break;
	case XA_TLS_OFF:
		flags |= XMPP_CONN_FLAG_DISABLE_TLS;
		break;
	}
	if (!x->x_tls_verify)
		flags |= XMPP_CONN_FLAG_TRUST_TLS;
	xmpp_conn_set_flags(x->x_conn, flags);
	xmpp_conn_set_jid(x->x_conn, x->x_jid);
	xmpp_conn_set_pass(x->x_conn, x->x_password);
	if (x->x_ca_file != NULL)
		xmpp_conn_set_cafile(x->x_conn, x->x_ca_file);
	xmpp_conn_set_certfail_handler(x->x_conn, xa_certfail);
	xmpp_conn_set_sockopt_callback(x->x_conn, xa_sockopt);
	xmpp_handler_add(x->x_conn, xa_on_message, NULL, "message", NULL, x);
	xmpp_handler_add(x->x_conn, xa_on_presence, NULL, "presence", NULL,
	    x);
	xmpp_handler_add(x->x_conn, xa_on_iq, NULL, "iq", NULL, x);
	x->x_online = 0;
	x->x_dead = 0;
	x->x_last_err[0] = '\0';
	x->x_connected_at = util_now_ms();
	/* The checked address, not the name: libstrophe would resolve it
	 * again (and look up SRV records we did not check).  Its
	 * certificate is still verified against the JID's domain. */
	if (xmpp_connect_client(x->x_conn, addr, (unsigned short)x->x_port,
	    xa_on_conn, x) != XMPP_EOK) {
		ad_error(a, "xmpp: could not connect to '%s' (%s:%lld)%s%s",
		    x->x_server, addr, x->x_port, x->x_last_err[0] ? ": " : "",
		    x->x_last_err);
		if (x->x_fd >= 0)
			ad_watch(a, x->x_fd, 0);
		x->x_fd = -1;
		xmpp_conn_release(x->x_conn);
		x->x_conn = NULL;
		return (-1);
	}
	log_info("xmpp: connecting to '%s' (%s:%lld) as '%s'", x->x_server,
	    addr, x->x_port, x->x_jid);
	ad_timer(a, util_now_ms() + XA_NEGOTIATE_TICK_MS);
	xa_run(x);
	return (0);
}

static void
xa_io(struct ad *a, int fd, int revents)
{
	struct xa	*x = ad_arg(a);

	(void)fd;
	(void)revents;
	xa_run(x);
}

static void
xa_tick(struct ad *a)
{
	struct xa	*x = ad_arg(a);
	uint64_t	 now = util_now_ms();

	if (x->x_conn == NULL)
		return;
	if (!x->x_online && now - x->x_connected_at > XA_SESSION_MS) {
		snprintf(x->x_why, sizeof(x->x_why), "no session within %d s%s%s",
		    XA_SESSION_MS / 1000, x->x_last_err[0] ? ": " : "",
		    x->x_last_err);
		x->x_dead = 1;
		xa_settle(x);
		return;
	}
	if (x->x_online) {
		/* A link that went silent may be dead without a FIN. */
		if (x->x_ping_sent != 0 &&
		    now - x->x_ping_sent > XA_PING_WAIT_MS) {
			snprintf(x->x_why, sizeof(x->x_why),
			    "no answer to our ping");
			x->x_dead = 1;
			xa_settle(x);
			return;
		}
		if (x->x_ping_sent == 0 && now >= x->x_ping_at) {
			xa_ping(x);
			x->x_ping_at = now + XA_PING_EVERY_MS;
		}
	}
	ad_timer(a, now + (x->x_online ? XA_TICK_MS : XA_NEGOTIATE_TICK_MS));
	xa_run(x);
}

static void
xa_typing(struct xa *x, const char *to)
{
	xmpp_stanza_t	*m;
	int		 group = xa_room_find(x, to) != NULL &&
			    strchr(to, '/') == NULL;

	if (!x->x_online)
		return;		/* stale by the time we are back */
	m = xmpp_message_new(x->x_ctx, group ? "groupchat" : "chat", to,
	    NULL);
	if (m != NULL && xa_add_child(x, m, "composing", NS_CHATSTATES,
	    NULL) != 0) {
		xmpp_stanza_release(m);
		m = NULL;
	}
	xa_send_stanza(x, m);
}

static void
xa_command(struct ad *a, const struct ad_cmd *c)
{
	struct xa	*x = ad_arg(a);
	int		 group;

	switch (c->ac_type) {
	case AD_CMD_SEND:
	case AD_CMD_TYPING:
		if (!xmpp_valid_jid(c->ac_channel_id)) {
			ad_error(a, "xmpp: cannot send to '%.64s': not a JID",
			    c->ac_channel_id);
			break;
		}
		if (c->ac_type == AD_CMD_TYPING) {
			xa_typing(x, c->ac_channel_id);
			break;
		}
		/* A room's bare JID is the room; room/nick is a private
		 * message to an occupant, a chat. */
		group = xa_room_find(x, c->ac_channel_id) != NULL &&
		    strchr(c->ac_channel_id, '/') == NULL;
		if (xa_say(x, c->ac_channel_id, group, c->ac_text) != 0)
			ad_error(a, "xmpp: could not queue a message to '%s': "
			    "%zu messages wait already", c->ac_channel_id,
			    x->x_queued);
		break;
	default:
		log_debug("xmpp: '%s' ignored", c->ac_method);
		return;
	}
	xa_run(x);
}

static void
xa_stop(struct ad *a)
{
	struct xa	*x = ad_arg(a);
	uint64_t	 end = util_now_ms() + 500;

	x->x_stopping = 1;
	if (x->x_conn != NULL && x->x_online) {
		/* </stream:stream>, and a moment for the server's. */
		xmpp_disconnect(x->x_conn);
		while (!xmpp_conn_is_disconnected(x->x_conn) &&
		    util_now_ms() < end)
			xmpp_run_once(x->x_ctx, 20);
	}
	if (x->x_conn != NULL) {
		xmpp_conn_release(x->x_conn);
		x->x_conn = NULL;
	}
	xa_queue_clear(x);
}

/*
 * libstrophe loads OpenSSL's default verify paths on every connection:
 * the default CA file is the whole system bundle, about 1 MB of heap
 * for as long as the connection lasts (2.8 MB PSS in all, over the
 * issue's 2 MB).  OpenSSL reads that path from SSL_CERT_FILE, so we
 * point it at the configured CA file (XMPP_TLS_CA_FILE wins over the
 * environment), or, when the operator did not set it and the system's
 * hashed directory is there (Debian's /etc/ssl/certs), at nothing: that
 * directory is looked up per certificate and trusts the same CAs.
 */
static void
xa_trim_ca(const char *ca_file)
{
	DIR		*d;
	struct dirent	*e;
	size_t		 n;
	int		 hashed = 0;

	if (ca_file != NULL) {
		setenv("SSL_CERT_FILE", ca_file, 1);
		return;
	}
	if (getenv("SSL_CERT_FILE") != NULL)
		return;		/* the operator's choice */
	if ((d = opendir(X509_get_default_cert_dir())) == NULL)
		return;
	while (!hashed && (e = readdir(d)) != NULL)
		hashed = (n = strlen(e->d_name)) > 2 &&
		    strcmp(e->d_name + n - 2, ".0") == 0;
	closedir(d);
	if (hashed)
		setenv("SSL_CERT_FILE", "/dev/null", 1);
}

static int
xa_init(struct ad *a)
{
	struct xa	*x = ad_arg(a);
	static xmpp_log_t log;
	const char	*g, *t, *at;
	char		**rooms;
	size_t		 i, n;
	int		 ret = -1;

	x->x_ad = a;
	x->x_jid = ad_conf("XMPP_JID");
	x->x_password = ad_conf("XMPP_PASSWORD");
	if (x->x_jid == NULL || x->x_password == NULL) {
		log_warnx("%s: XMPP_JID and XMPP_PASSWORD are required",
		    __func__);
		return (-1);
	}
	log_add_secret(x->x_password);
	if (!xmpp_valid_jid(x->x_jid) || (at = strchr(x->x_jid, '@')) ==
	    NULL || xmpp_bare(x->x_jid, x->x_bare, sizeof(x->x_bare)) != 0) {
		log_warnx("%s: XMPP_JID '%s' is not a user@domain JID",
		    __func__, x->x_jid);
		return (-1);
	}
	snprintf(x->x_domain, sizeof(x->x_domain), "%s", strchr(x->x_bare,
	    '@') + 1);
	x->x_server = ad_conf("XMPP_SERVER") != NULL ? ad_conf("XMPP_SERVER") :
	    x->x_domain;
	if (ad_conf_num("XMPP_MAX_CHARS", 16, 1000000, &x->x_max_chars) != 0)
		return (-1);
	t = ad_conf("XMPP_TLS");
	if (strcmp(t, "required") == 0)
		x->x_tls = XA_TLS_REQUIRED;
	else if (strcmp(t, "direct") == 0)
		x->x_tls = XA_TLS_DIRECT;
	else if (strcmp(t, "off") == 0 && ad_conf_bool("XMPP_ALLOW_INSECURE"))
		x->x_tls = XA_TLS_OFF;
	else {
		log_warnx("%s: XMPP_TLS '%s' is not one of required, direct, "
		    "off (off needs XMPP_ALLOW_INSECURE)", __func__, t);
		return (-1);
	}
	x->x_port = x->x_tls == XA_TLS_DIRECT ? 5223 : 5222;
	if (ad_conf("XMPP_PORT") != NULL &&
	    ad_conf_num("XMPP_PORT", 1, 65535, &x->x_port) != 0)
		return (-1);
	x->x_tls_verify = ad_conf_bool("XMPP_TLS_VERIFY");
	x->x_ca_file = ad_conf("XMPP_TLS_CA_FILE");
	x->x_nick = ad_conf("XMPP_NICK");
	if (x->x_nick == NULL) {
		/* The local part: a static copy, the environment's is
		 * not NUL-ended there. */
		static char nick[XA_NICK_MAX];

		snprintf(nick, sizeof(nick), "%.*s", (int)(at - x->x_jid),
		    x->x_jid);
		x->x_nick = nick;
	}
	if (x->x_nick[0] == '\0' || strlen(x->x_nick) >= XA_NICK_MAX - 4 ||
	    strpbrk(x->x_nick, "\r\n\t/") != NULL) {
		log_warnx("%s: XMPP_NICK '%s' is not a nick", __func__,
		    x->x_nick);
		return (-1);
	}
	g = ad_conf("XMPP_GROUP_POLICY");
	if (strcmp(g, "all") == 0)
		x->x_group = XA_GROUP_ALL;
	else if (strcmp(g, "mention") == 0)
		x->x_group = XA_GROUP_MENTION;
	else if (strcmp(g, "ignore") == 0)
		x->x_group = XA_GROUP_IGNORE;
	else {
		log_warnx("%s: XMPP_GROUP_POLICY '%s' is not one of mention, "
		    "all, ignore", __func__, g);
		return (-1);
	}
	if ((rooms = ad_conf_list("XMPP_ROOMS")) == NULL)
		return (-1);
	for (n = 0; rooms[n] != NULL; n++)
		;
	if ((x->x_rooms = calloc(n + 1, sizeof(*x->x_rooms))) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		if (!xmpp_valid_jid(rooms[i]) || strchr(rooms[i], '/') !=
		    NULL || strchr(rooms[i], '@') == NULL) {
			log_warnx("%s: '%s' in XMPP_ROOMS is not a room JID",
			    __func__, rooms[i]);
			goto done;
		}
		if ((x->x_rooms[i].xr_jid = strdup(rooms[i])) == NULL)
			goto done;
		xmpp_bare(rooms[i], x->x_rooms[i].xr_jid, strlen(rooms[i]) + 1);
		x->x_nrooms++;
	}
	xa_trim_ca(x->x_ca_file);
	xmpp_initialize();
	log.handler = xa_strophe_log;
	log.userdata = x;
	if ((x->x_ctx = xmpp_ctx_new(NULL, &log)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		goto done;
	}
	ret = 0;
 done:
	ad_list_free(rooms);
	return (ret);
}

static const struct ad_def xa_def = {
	.ad_name = "xmpp",
	.ad_display_name = "XMPP",
	.ad_description = "An XMPP client (libstrophe): chats and room "
	    "(XEP-0045) messages to the agent, replies as messages; TLS "
	    "required by default.",
	.ad_env = "XMPP",
	.ad_fields = xa_fields,
	.ad_capabilities = xa_caps,
	.ad_init = xa_init,
	.ad_connect = xa_connect,
	.ad_io = xa_io,
	.ad_tick = xa_tick,
	.ad_command = xa_command,
	.ad_stop = xa_stop,
};

int
main(int argc, char **argv)
{
	struct xa	x;
	size_t		i;
	int		rv;

	memset(&x, 0, sizeof(x));
	x.x_tail = &x.x_head;
	x.x_fd = -1;
	xa_self = &x;
	rv = ad_main(&xa_def, &x, argc, argv);
	if (x.x_conn != NULL)
		xmpp_conn_release(x.x_conn);
	xa_queue_clear(&x);
	if (x.x_ctx != NULL) {
		xmpp_ctx_free(x.x_ctx);
		xmpp_shutdown();
	}
	for (i = 0; i < x.x_nrooms; i++)
		free(x.x_rooms[i].xr_jid);
	free(x.x_rooms);
	return (rv);
}
