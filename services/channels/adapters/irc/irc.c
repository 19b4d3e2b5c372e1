/*
 * irc.c - channel-irc: an IRC client speaking the sidecar protocol
 * (README.md).  One connection; registration (PASS, optional SASL PLAIN,
 * NICK/USER, a free nick found on collision), the configured channels
 * joined after 001 and again after every reconnect, PRIVMSGs to us or to
 * a channel turned into `message` events, `send` commands turned into
 * PRIVMSGs that fit the line limit, paced by a token bucket.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ad_conn.h"
#include "adapter.h"
#include "err.h"
#include "irc.h"
#include "log.h"
#include "util.h"

#define IRC_TICK_MS		1000
#define IRC_REGISTER_MS		30000	/* for 001 after connecting */
#define IRC_IDLE_PING_MS	90000	/* silence before we PING */
#define IRC_PING_WAIT_MS	60000	/* then for any answer */
#define IRC_QUEUE_MAX		2000	/* lines waiting for the bucket */
#define IRC_NICK_MAX		30
#define IRC_NICK_TRIES		8
/* ":" nick "!" user "@" host before we have seen our own: the longest a
 * server is likely to make it (user 10, host 63). */
#define IRC_PREFIX_GUESS(nicklen)	(1 + (nicklen) + 1 + 10 + 1 + 63)

enum irc_group_policy { IRC_GROUP_ALL, IRC_GROUP_MENTION, IRC_GROUP_IGNORE };

/* A line waiting for a token of the flood bucket. */
struct irc_out {
	struct irc_out	*io_next;
	size_t		 io_len;
	char		 io_line[];	/* with CRLF */
};

struct irc {
	/* configuration */
	const char	*ic_server;
	long long	 ic_port;
	const char	*ic_nick;
	const char	*ic_realname;
	const char	*ic_password;
	const char	*ic_sasl_user;
	const char	*ic_sasl_password;
	char		**ic_channels;
	int		 ic_tls;
	int		 ic_tls_verify;
	const char	*ic_ca_file;
	enum irc_group_policy ic_group;
	long long	 ic_burst;
	long long	 ic_interval_ms;
	/* the session */
	struct ad	*ic_ad;
	struct ad_conn	 ic_conn;
	int		 ic_watched;	/* the fd the loop polls, or -1 */
	int		 ic_registered;
	int		 ic_dead;	/* a line said to drop the link */
	char		 ic_cur_nick[IRC_NICK_MAX + 16];
	unsigned int	 ic_nick_tries;
	uint64_t	 ic_reclaim_at;	/* next NICK for our own nick */
	long long	 ic_reclaim_ms;
	int		 ic_cap_sasl;	/* offered by the server */
	int		 ic_cap_tags;
	size_t		 ic_prefix_len;	/* ":nick!user@host", 0 unknown */
	uint64_t	 ic_connected_at;
	uint64_t	 ic_last_rx;
	uint64_t	 ic_ping_sent;
	/* the flood bucket and its queue */
	double		 ic_tokens;
	uint64_t	 ic_refilled;
	struct irc_out	*ic_head;
	struct irc_out	**ic_tail;
	size_t		 ic_queued;
};

static const char *const irc_group_opts[] = { "mention", "all", "ignore",
    NULL };

static const struct ad_field irc_fields[] = {
	{ "IRC_SERVER", "Server", AD_FIELD_TEXT, 1, "irc.libera.chat", 0,
	    NULL, NULL },
	{ "IRC_PORT", "Port", AD_FIELD_NUMBER, 0, "6667 (6697 with TLS)", 0,
	    NULL, NULL },
	{ "IRC_NICK", "Nick", AD_FIELD_TEXT, 1, "librefang", 0, NULL, NULL },
	{ "IRC_CHANNELS", "Channels", AD_FIELD_LIST, 0, "#librefang,#ops", 0,
	    NULL, NULL },
	{ "IRC_PASSWORD", "Server password", AD_FIELD_SECRET, 0, NULL, 0,
	    NULL, NULL },
	{ "IRC_TLS", "TLS", AD_FIELD_BOOL, 0, NULL, 0, NULL, "0" },
	{ "IRC_TLS_VERIFY", "Verify the server's certificate", AD_FIELD_BOOL,
	    0, NULL, 1, NULL, "1" },
	{ "IRC_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT, 0,
	    "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ "IRC_SASL_USER", "SASL PLAIN account", AD_FIELD_TEXT, 0, NULL, 1,
	    NULL, NULL },
	{ "IRC_SASL_PASSWORD", "SASL PLAIN password", AD_FIELD_SECRET, 0,
	    NULL, 1, NULL, NULL },
	{ "IRC_REALNAME", "Real name", AD_FIELD_TEXT, 0, "LibreFang", 1,
	    NULL, "LibreFang" },
	{ "IRC_GROUP_POLICY", "Channel messages", AD_FIELD_SELECT, 0, NULL, 1,
	    irc_group_opts, "mention" },
	{ "IRC_NICK_RECLAIM_SECS", "Ask for the nick again every (s)",
	    AD_FIELD_NUMBER, 0, "60", 1, NULL, "60" },
	{ "IRC_FLOOD_BURST", "Lines sent at once", AD_FIELD_NUMBER, 0, "5", 1,
	    NULL, "5" },
	{ "IRC_FLOOD_INTERVAL_MS", "Then one line per (ms)", AD_FIELD_NUMBER,
	    0, "1000", 1, NULL, "1000" },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* Plain-text send only: IRC has no typing, reactions or threads. */
static const char *const irc_caps[] = { NULL };

/* ---- output: the flood bucket ----------------------------------------- */

/* Writes what the bucket allows of the queue to the connection. */
static void
irc_pump(struct irc *ic)
{
	struct irc_out	*o;
	uint64_t	 now = util_now_ms();

	ic->ic_tokens += (double)(now - ic->ic_refilled) /
	    (double)ic->ic_interval_ms;
	if (ic->ic_tokens > (double)ic->ic_burst)
		ic->ic_tokens = (double)ic->ic_burst;
	ic->ic_refilled = now;
	while ((o = ic->ic_head) != NULL && ic->ic_tokens >= 1.0 &&
	    ic->ic_registered) {
		if (ad_conn_write(&ic->ic_conn, o->io_line, o->io_len) != 0)
			break;		/* the socket's queue is full */
		ic->ic_tokens -= 1.0;
		ic->ic_head = o->io_next;
		if (ic->ic_head == NULL)
			ic->ic_tail = &ic->ic_head;
		ic->ic_queued--;
		free(o);
	}
	/* Lines still wait: come back when the next token is due, not only
	 * at the next tick. */
	if (ic->ic_head != NULL && ic->ic_registered && ic->ic_tokens < 1.0)
		ad_timer(ic->ic_ad, now + (uint64_t)((1.0 - ic->ic_tokens) *
		    (double)ic->ic_interval_ms) + 1);
}

/* Sends a protocol line now, outside the bucket (registration, PONG,
 * JOIN: few, and a server answers them).  Truncated to the line limit. */
static void
irc_raw(struct irc *ic, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
irc_raw(struct irc *ic, const char *fmt, ...)
{
	char	line[IRC_LINE_MAX + 1];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	if (ad_conn_write(&ic->ic_conn, line, (size_t)n + 2) != 0)
		log_warnx("%s: could not queue a line: the output is full",
		    __func__);
}

/* Queues one PRIVMSG for the bucket.  0 or -1 (full, out of memory). */
static int
irc_queue(struct irc *ic, const char *target, const char *text, size_t n)
{
	struct irc_out	*o;
	size_t		 len;

	if (ic->ic_queued >= IRC_QUEUE_MAX)
		return (-1);
	len = strlen("PRIVMSG ") + strlen(target) + 2 + n + 2;
	if ((o = malloc(sizeof(*o) + len + 1)) == NULL)
		return (-1);
	o->io_next = NULL;
	o->io_len = (size_t)snprintf(o->io_line, len + 1, "PRIVMSG %s :%.*s\r\n",
	    target, (int)n, text);
	*ic->ic_tail = o;
	ic->ic_tail = &o->io_next;
	ic->ic_queued++;
	return (0);
}

static void
irc_queue_clear(struct irc *ic)
{
	struct irc_out	*o;

	while ((o = ic->ic_head) != NULL) {
		ic->ic_head = o->io_next;
		free(o);
	}
	ic->ic_tail = &ic->ic_head;
	ic->ic_queued = 0;
}

/*
 * Queues text for target as PRIVMSGs: one per line of text, each split
 * so that ":nick!user@host PRIVMSG target :piece\r\n" as the server
 * relays it fits 512 bytes.  0, or -1 if not all of it was queued.
 */
static int
irc_say(struct irc *ic, const char *target, const char *text)
{
	size_t	 prefix, overhead, room, n, k, skip;
	const char *line, *end;

	prefix = ic->ic_prefix_len ? ic->ic_prefix_len :
	    IRC_PREFIX_GUESS(strlen(ic->ic_cur_nick));
	overhead = prefix + strlen(" PRIVMSG ") + strlen(target) +
	    strlen(" :") + 2;
	if (overhead + 16 > IRC_LINE_MAX) {
		log_warnx("%s: target '%s' leaves no room for text", __func__,
		    target);
		return (-1);
	}
	room = IRC_LINE_MAX - overhead;
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\r\n");
		for (n = (size_t)(end - line); n > 0; n -= k, line += k) {
			k = irc_split(line, n, room, &skip);
			if (irc_queue(ic, target, line, k) != 0)
				return (-1);
			k += skip;
		}
	}
	irc_pump(ic);
	return (0);
}

/* ---- input: events ---------------------------------------------------- */

static void
irc_emit_message(struct irc *ic, const struct irc_line *l, const char *to,
    char *text)
{
	struct ad_msg	 m;
	const char	*rest = text;
	json_t		*content = NULL, *meta = NULL;
	char		*clean = NULL;
	int		 group = irc_is_channel(to), mentioned = 0;

	/* Formatting out first: "\002fang\002: hi" names us too. */
	irc_strip_format(text);
	if (group) {
		mentioned = irc_mentions(text, ic->ic_cur_nick, &rest);
		if (ic->ic_group == IRC_GROUP_IGNORE ||
		    (ic->ic_group == IRC_GROUP_MENTION && !mentioned))
			return;
	}
	if ((clean = ad_utf8_clean(rest, strlen(rest))) == NULL ||
	    (content = ad_content_from_text(clean)) == NULL ||
	    (meta = json_pack("{s:s, s:s?, s:b}", "irc_target", to,
	    "irc_userhost", l->il_userhost, "was_mentioned", mentioned)) ==
	    NULL)
		goto done;
	memset(&m, 0, sizeof(m));
	m.am_user_id = l->il_nick;
	m.am_user_name = l->il_nick;
	m.am_username = l->il_nick;
	m.am_text = clean;
	m.am_content = content;
	/* A reply to a DM goes to the sender's nick, to a group message to
	 * the channel. */
	m.am_channel_id = group ? to : l->il_nick;
	m.am_platform = "irc";
	m.am_message_id = l->il_msgid;
	m.am_is_group = group;
	m.am_metadata = meta;
	ad_emit(ic->ic_ad, ad_ev_message(&m));
 done:
	json_decref(content);
	json_decref(meta);
	free(clean);
}

static void
irc_on_privmsg(struct irc *ic, const struct irc_line *l)
{
	const char	*to;
	char		*text, *end;

	if (l->il_nparams < 2 || l->il_nick == NULL)
		return;
	to = l->il_param[0];
	text = (char *)(uintptr_t)l->il_param[1];
	if (!irc_is_channel(to) && strcasecmp(to, ic->ic_cur_nick) != 0)
		return;
	/* CTCP: an ACTION is a message ("/me waves" -> "waves"); any other
	 * request (VERSION, PING, ...) is not for the agent. */
	if (text[0] == '\001') {
		if (strncmp(text + 1, "ACTION ", 7) != 0)
			return;
		text += 8;
		if ((end = strchr(text, '\001')) != NULL)
			*end = '\0';
	}
	if (text[0] == '\0')
		return;
	irc_emit_message(ic, l, to, text);
}

static void
irc_try_nick(struct irc *ic)
{
	size_t	n;

	/* nick_, nick__, then nick1..: within the length limit. */
	if (++ic->ic_nick_tries > IRC_NICK_TRIES) {
		ad_error(ic->ic_ad, "irc: no free nick after %d tries",
		    IRC_NICK_TRIES);
		ic->ic_dead = 1;
		return;
	}
	n = strlen(ic->ic_cur_nick);
	if (ic->ic_nick_tries <= 2 && n < IRC_NICK_MAX)
		snprintf(ic->ic_cur_nick + n, sizeof(ic->ic_cur_nick) - n, "_");
	else
		snprintf(ic->ic_cur_nick, sizeof(ic->ic_cur_nick), "%.*s%u",
		    IRC_NICK_MAX - 2, ic->ic_nick, ic->ic_nick_tries);
	irc_raw(ic, "NICK %s", ic->ic_cur_nick);
}

static void
irc_join_all(struct irc *ic)
{
	size_t	i;

	for (i = 0; ic->ic_channels[i] != NULL; i++)
		irc_raw(ic, "JOIN %s", ic->ic_channels[i]);
}

static void
irc_sasl_plain(struct irc *ic)
{
	unsigned char	 raw[512], b64[700];
	size_t		 u = strlen(ic->ic_sasl_user);
	size_t		 p = strlen(ic->ic_sasl_password);
	int		 n, i;

	if (2 * u + p + 2 > sizeof(raw)) {
		irc_raw(ic, "AUTHENTICATE *");
		return;
	}
	/* authzid NUL authcid NUL password, the one account twice. */
	memcpy(raw, ic->ic_sasl_user, u);
	raw[u] = '\0';
	memcpy(raw + u + 1, ic->ic_sasl_user, u);
	raw[2 * u + 1] = '\0';
	memcpy(raw + 2 * u + 2, ic->ic_sasl_password, p);
	n = EVP_EncodeBlock(b64, raw, (int)(2 * u + p + 2));
	/* In pieces of 400 bytes; one of exactly 400 is followed by "+"
	 * (IRCv3 SASL 3.1). */
	for (i = 0; i < n; i += 400)
		irc_raw(ic, "AUTHENTICATE %.*s", n - i < 400 ? n - i : 400,
		    (const char *)b64 + i);
	if (n % 400 == 0)
		irc_raw(ic, "AUTHENTICATE +");
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
}

/*
 * Capability negotiation (IRCv3): we ask for sasl when configured and
 * message-tags when offered (a message's msgid becomes its message_id).
 * A server without CAP never answers, and registers us all the same.
 */
static void
irc_on_cap(struct irc *ic, const struct irc_line *l)
{
	const char	*sub = l->il_param[1], *list;
	char		 req[64];
	int		 more, sasl = ic->ic_sasl_user != NULL &&
			    ic->ic_sasl_password != NULL;

	list = l->il_param[l->il_nparams - 1];
	if (strcmp(sub, "LS") == 0) {
		/* "CAP * LS * :..." says more lines follow. */
		more = l->il_nparams >= 4 && strcmp(l->il_param[2], "*") == 0;
		ic->ic_cap_sasl |= irc_cap_has(list, "sasl");
		ic->ic_cap_tags |= irc_cap_has(list, "message-tags");
		if (more)
			return;
		snprintf(req, sizeof(req), "%s%s%s",
		    sasl && ic->ic_cap_sasl ? "sasl" : "",
		    sasl && ic->ic_cap_sasl && ic->ic_cap_tags ? " " : "",
		    ic->ic_cap_tags ? "message-tags" : "");
		if (sasl && !ic->ic_cap_sasl)
			ad_error(ic->ic_ad, "irc: the server has no SASL; "
			    "going on without it");
		if (req[0] != '\0')
			irc_raw(ic, "CAP REQ :%s", req);
		else
			irc_raw(ic, "CAP END");
	} else if (strcmp(sub, "ACK") == 0) {
		/* With sasl, CAP END waits for the login's outcome. */
		if (sasl && irc_cap_has(list, "sasl"))
			irc_raw(ic, "AUTHENTICATE PLAIN");
		else
			irc_raw(ic, "CAP END");
	} else if (strcmp(sub, "NAK") == 0) {
		if (sasl)
			ad_error(ic->ic_ad, "irc: the server refused SASL; "
			    "going on without it");
		irc_raw(ic, "CAP END");
	}
}

static void
irc_on_line(void *arg, const char *line, size_t len)
{
	struct irc	*ic = arg;
	struct irc_line	 l;
	char		 buf[AD_CONN_LINE_MAX + 1];
	const char	*cmd;

	if (ic->ic_dead || len > AD_CONN_LINE_MAX)
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	ic->ic_last_rx = util_now_ms();
	ic->ic_ping_sent = 0;
	if (irc_parse(buf, &l) != 0)
		return;
	cmd = l.il_cmd;
	if (strcmp(cmd, "PING") == 0) {
		irc_raw(ic, "PONG :%s", l.il_nparams > 0 ? l.il_param[0] : "");
	} else if (strcmp(cmd, "PRIVMSG") == 0) {
		irc_on_privmsg(ic, &l);
	} else if (strcmp(cmd, "001") == 0) {
		if (l.il_nparams > 0)
			snprintf(ic->ic_cur_nick, sizeof(ic->ic_cur_nick), "%s",
			    l.il_param[0]);
		ic->ic_registered = 1;
		ic->ic_reclaim_at = util_now_ms() + ic->ic_reclaim_ms;
		log_info("irc: registered as '%s' on '%s'", ic->ic_cur_nick,
		    ic->ic_server);
		ad_platform_up(ic->ic_ad);
		irc_join_all(ic);
		irc_pump(ic);
	} else if (strcmp(cmd, "JOIN") == 0 && l.il_nick != NULL &&
	    strcasecmp(l.il_nick, ic->ic_cur_nick) == 0) {
		/* Our own prefix as others see it: the exact room a line
		 * of ours has. */
		ic->ic_prefix_len = 1 + strlen(l.il_nick) + 1 +
		    (l.il_userhost ? strlen(l.il_userhost) : 0);
		log_info("irc: joined '%s'", l.il_nparams > 0 ?
		    l.il_param[0] : "");
	} else if (strcmp(cmd, "NICK") == 0 && l.il_nick != NULL &&
	    l.il_nparams > 0 && strcasecmp(l.il_nick, ic->ic_cur_nick) == 0) {
		/* Our prefix grows or shrinks with the nick. */
		if (ic->ic_prefix_len != 0)
			ic->ic_prefix_len = ic->ic_prefix_len -
			    strlen(ic->ic_cur_nick) + strlen(l.il_param[0]);
		snprintf(ic->ic_cur_nick, sizeof(ic->ic_cur_nick), "%s",
		    l.il_param[0]);
		log_info("irc: now known as '%s'", ic->ic_cur_nick);
	} else if ((strcmp(cmd, "433") == 0 || strcmp(cmd, "436") == 0 ||
	    strcmp(cmd, "432") == 0) && !ic->ic_registered) {
		log_info("irc: nick '%s' refused (%s); trying another",
		    ic->ic_cur_nick, cmd);
		irc_try_nick(ic);
	} else if (strcmp(cmd, "KICK") == 0 && l.il_nparams >= 2 &&
	    strcasecmp(l.il_param[1], ic->ic_cur_nick) == 0) {
		log_warnx("irc: kicked from '%s'; joining again",
		    l.il_param[0]);
		irc_raw(ic, "JOIN %s", l.il_param[0]);
	} else if (strcmp(cmd, "CAP") == 0 && l.il_nparams >= 3) {
		irc_on_cap(ic, &l);
	} else if (strcmp(cmd, "AUTHENTICATE") == 0 && l.il_nparams > 0 &&
	    strcmp(l.il_param[0], "+") == 0) {
		irc_sasl_plain(ic);
	} else if (strcmp(cmd, "903") == 0) {
		log_info("irc: SASL login succeeded");
		irc_raw(ic, "CAP END");
	} else if (strcmp(cmd, "902") == 0 || strcmp(cmd, "904") == 0 ||
	    strcmp(cmd, "905") == 0 || strcmp(cmd, "906") == 0) {
		ad_error(ic->ic_ad, "irc: SASL login failed (%s)", cmd);
		irc_raw(ic, "CAP END");
	} else if (strcmp(cmd, "ERROR") == 0) {
		log_warnx("irc: the server says: %s", l.il_nparams > 0 ?
		    l.il_param[0] : "");
		ic->ic_dead = 1;
	} else if ((strcmp(cmd, "401") == 0 || strcmp(cmd, "403") == 0 ||
	    strcmp(cmd, "404") == 0) && l.il_nparams >= 2) {
		/* What we sent did not arrive: say so, as a delivery error
		 * the daemon can record. */
		ad_error(ic->ic_ad, "irc: could not deliver to '%s': %s",
		    l.il_param[1], l.il_nparams >= 3 ? l.il_param[2] : cmd);
	} else if (strcmp(cmd, "464") == 0) {
		ad_error(ic->ic_ad, "irc: the server refused the password");
	}
}

/* ---- the adapter's callbacks ------------------------------------------ */

/* Tells the loop what to poll the connection for (its fd may have changed:
 * the next address of the name was tried). */
static void
irc_rewatch(struct irc *ic)
{
	int	fd = ad_conn_fd(&ic->ic_conn);

	if (ic->ic_watched != fd) {
		ad_watch(ic->ic_ad, ic->ic_watched, 0);
		ic->ic_watched = fd;
	}
	ad_watch(ic->ic_ad, fd, ad_conn_events(&ic->ic_conn));
}

static void
irc_drop(struct irc *ic, const char *why)
{
	ad_watch(ic->ic_ad, ic->ic_watched, 0);
	ic->ic_watched = -1;
	ad_conn_close(&ic->ic_conn);
	ic->ic_registered = 0;
	ic->ic_dead = 0;
	ad_platform_down(ic->ic_ad, why);
}

static int
irc_connect(struct ad *a)
{
	struct irc	*ic = ad_arg(a);
	char		 err[256];
	int		 flags = 0;

	if (ic->ic_tls)
		flags |= AD_CONN_TLS | (ic->ic_tls_verify ? 0 :
		    AD_CONN_NOVERIFY);
	if (ad_allow_loopback(a))
		flags |= AD_CONN_ALLOW_PRIVATE;
	if (ad_conn_open(&ic->ic_conn, ic->ic_server, (int)ic->ic_port,
	    flags, ic->ic_ca_file, err, sizeof(err)) != 0) {
		ad_error(a, "irc: %s", err);
		return (-1);
	}
	ic->ic_registered = 0;
	ic->ic_dead = 0;
	ic->ic_nick_tries = 0;
	ic->ic_prefix_len = 0;
	ic->ic_connected_at = ic->ic_last_rx = util_now_ms();
	ic->ic_ping_sent = 0;
	snprintf(ic->ic_cur_nick, sizeof(ic->ic_cur_nick), "%s", ic->ic_nick);
	/* Queued now, sent once the connection (and TLS) is up. */
	if (ic->ic_password != NULL)
		irc_raw(ic, "PASS %s", ic->ic_password);
	/* Registration waits for CAP END once CAP LS is sent. */
	irc_raw(ic, "CAP LS 302");
	ic->ic_cap_sasl = ic->ic_cap_tags = 0;
	irc_raw(ic, "NICK %s", ic->ic_cur_nick);
	irc_raw(ic, "USER %s 0 * :%s", ic->ic_nick, ic->ic_realname);
	irc_rewatch(ic);
	ad_timer(a, util_now_ms() + IRC_TICK_MS);
	log_info("irc: connecting to '%s:%lld'%s", ic->ic_server, ic->ic_port,
	    ic->ic_tls ? " with TLS" : "");
	return (0);
}

static void
irc_io(struct ad *a, int fd, int revents)
{
	struct irc	*ic = ad_arg(a);
	char		 err[256];

	(void)fd;		/* one socket: always the connection's */
	if (ad_conn_io(&ic->ic_conn, revents, irc_on_line, ic, err,
	    sizeof(err)) != 0) {
		irc_drop(ic, err);
		return;
	}
	if (ic->ic_dead) {
		irc_drop(ic, "the server ended the session");
		return;
	}
	irc_pump(ic);
	irc_rewatch(ic);
}

static void
irc_tick(struct ad *a)
{
	struct irc	*ic = ad_arg(a);
	uint64_t	 now = util_now_ms();

	if (ad_conn_fd(&ic->ic_conn) < 0)
		return;
	if (!ic->ic_registered &&
	    now - ic->ic_connected_at > IRC_REGISTER_MS) {
		irc_drop(ic, "no welcome from the server in time");
		return;
	}
	/* Registered under another nick: ask for ours now and then (its
	 * holder may have gone; a refusal, 433, is ignored once
	 * registered). */
	if (ic->ic_registered && strcasecmp(ic->ic_cur_nick, ic->ic_nick) != 0 &&
	    now >= ic->ic_reclaim_at) {
		irc_raw(ic, "NICK %s", ic->ic_nick);
		ic->ic_reclaim_at = now + ic->ic_reclaim_ms;
	}
	/* A link that went silent may be dead without a FIN: ask. */
	if (ic->ic_ping_sent == 0 && now - ic->ic_last_rx > IRC_IDLE_PING_MS) {
		irc_raw(ic, "PING :librefang");
		ic->ic_ping_sent = now;
	} else if (ic->ic_ping_sent != 0 &&
	    now - ic->ic_ping_sent > IRC_PING_WAIT_MS) {
		irc_drop(ic, "no answer to our PING");
		return;
	}
	ad_timer(a, now + IRC_TICK_MS);
	irc_pump(ic);		/* may want an earlier tick */
	irc_rewatch(ic);
}

static void
irc_command(struct ad *a, const struct ad_cmd *c)
{
	struct irc	*ic = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		/* A target is one word: anything else would smuggle a
		 * second command into the line. */
		if (!irc_valid_target(c->ac_channel_id)) {
			ad_error(a, "irc: cannot send to '%.64s': not a nick "
			    "or channel", c->ac_channel_id);
			break;
		}
		if (irc_say(ic, c->ac_channel_id, c->ac_text) != 0)
			ad_error(a, "irc: could not queue a message to '%s': "
			    "%zu lines wait already", c->ac_channel_id,
			    ic->ic_queued);
		irc_rewatch(ic);
		break;
	default:
		/* Not among our capabilities: the daemon should not send
		 * it, and IRC has nothing to show for it. */
		log_debug("irc: '%s' ignored", c->ac_method);
		break;
	}
}

static void
irc_stop(struct ad *a)
{
	struct irc	*ic = ad_arg(a);

	if (ic->ic_conn.co_state == AD_CONN_UP) {
		irc_raw(ic, "QUIT :shutting down");
		ad_conn_flush(&ic->ic_conn);
	}
	ad_conn_close(&ic->ic_conn);
	irc_queue_clear(ic);
}

static int
irc_init(struct ad *a)
{
	struct irc	*ic = ad_arg(a);
	const char	*g;
	size_t		 i;

	ic->ic_ad = a;
	ic->ic_server = ad_conf("IRC_SERVER");
	ic->ic_nick = ad_conf("IRC_NICK");
	if (ic->ic_server == NULL || ic->ic_nick == NULL) {
		log_warnx("%s: IRC_SERVER and IRC_NICK are required",
		    __func__);
		return (-1);
	}
	if (strlen(ic->ic_nick) > IRC_NICK_MAX ||
	    strpbrk(ic->ic_nick, " ,:!@\r\n") != NULL) {
		log_warnx("%s: IRC_NICK '%s' is not a nick", __func__,
		    ic->ic_nick);
		return (-1);
	}
	ic->ic_tls = ad_conf_bool("IRC_TLS");
	ic->ic_tls_verify = ad_conf_bool("IRC_TLS_VERIFY");
	ic->ic_ca_file = ad_conf("IRC_TLS_CA_FILE");
	ic->ic_port = ic->ic_tls ? 6697 : 6667;
	if (ad_conf("IRC_PORT") != NULL &&
	    ad_conf_num("IRC_PORT", 1, 65535, &ic->ic_port) != 0)
		return (-1);
	if (ad_conf_num("IRC_FLOOD_BURST", 1, 100, &ic->ic_burst) != 0 ||
	    ad_conf_num("IRC_FLOOD_INTERVAL_MS", 0, 60000,
	    &ic->ic_interval_ms) != 0)
		return (-1);
	if (ad_conf_num("IRC_NICK_RECLAIM_SECS", 1, 86400,
	    &ic->ic_reclaim_ms) != 0)
		return (-1);
	ic->ic_reclaim_ms *= 1000;
	if (ic->ic_interval_ms == 0)
		ic->ic_interval_ms = 1;
	ic->ic_realname = ad_conf("IRC_REALNAME");
	ic->ic_password = ad_conf("IRC_PASSWORD");
	ic->ic_sasl_user = ad_conf("IRC_SASL_USER");
	ic->ic_sasl_password = ad_conf("IRC_SASL_PASSWORD");
	if (ic->ic_password != NULL)
		log_add_secret(ic->ic_password);
	if (ic->ic_sasl_password != NULL)
		log_add_secret(ic->ic_sasl_password);
	g = ad_conf("IRC_GROUP_POLICY");
	if (strcmp(g, "all") == 0)
		ic->ic_group = IRC_GROUP_ALL;
	else if (strcmp(g, "mention") == 0)
		ic->ic_group = IRC_GROUP_MENTION;
	else if (strcmp(g, "ignore") == 0)
		ic->ic_group = IRC_GROUP_IGNORE;
	else {
		log_warnx("%s: IRC_GROUP_POLICY '%s' is not one of mention, "
		    "all, ignore", __func__, g);
		return (-1);
	}
	if ((ic->ic_channels = ad_conf_list("IRC_CHANNELS")) == NULL)
		return (-1);
	for (i = 0; ic->ic_channels[i] != NULL; i++)
		if (!irc_is_channel(ic->ic_channels[i]) ||
		    strpbrk(ic->ic_channels[i], " \r\n\a") != NULL) {
			log_warnx("%s: '%s' in IRC_CHANNELS is not a channel",
			    __func__, ic->ic_channels[i]);
			return (-1);
		}
	ic->ic_tokens = (double)ic->ic_burst;
	ic->ic_refilled = util_now_ms();
	return (0);
}

static const struct ad_def irc_def = {
	.ad_name = "irc",
	.ad_display_name = "IRC",
	.ad_description = "An IRC client (RFC 1459/2812): DMs and channel "
	    "messages to the agent, replies as PRIVMSG; TLS and SASL PLAIN "
	    "optional.",
	.ad_env = "IRC",
	.ad_fields = irc_fields,
	.ad_capabilities = irc_caps,
	.ad_init = irc_init,
	.ad_connect = irc_connect,
	.ad_io = irc_io,
	.ad_tick = irc_tick,
	.ad_command = irc_command,
	.ad_stop = irc_stop,
};

int
main(int argc, char **argv)
{
	struct irc	ic;
	int		rv;

	memset(&ic, 0, sizeof(ic));
	ic.ic_tail = &ic.ic_head;
	ic.ic_watched = -1;
	ad_conn_init(&ic.ic_conn);
	rv = ad_main(&irc_def, &ic, argc, argv);
	ad_conn_close(&ic.ic_conn);
	irc_queue_clear(&ic);
	ad_list_free(ic.ic_channels);
	return (rv);
}
