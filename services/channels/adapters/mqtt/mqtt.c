/*
 * mqtt.c - channel-mqtt: an MQTT client (libmosquitto, MQTT 5 or 3.1.1)
 * speaking the sidecar protocol (README.md).  One persistent session
 * (clean start off, a stable client id), the inbound topic filters
 * subscribed at QoS 1 after every CONNACK, each message turned into a
 * `message` event, each `send` published at QoS 1 to the reply topic or
 * to the MQTT 5 response topic the user's last message asked for.
 *
 * libmosquitto runs threadless inside the library's poll() loop:
 * mosquitto_socket() is watched with ad_watch(), loop_read/loop_write
 * run when poll() says so and loop_misc (keepalive) on the timer.  Its
 * callbacks run inside those calls, so they only record what happened
 * (mq_dead); the connection is dropped after the call returns.
 */
#include <sys/time.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "adapter.h"
#include "err.h"
#include "log.h"
#include "mqtt.h"
#include "ssrf.h"
#include "util.h"

#define MQTT_TICK_MS		1000
#define MQTT_CONNACK_MS		30000	/* for CONNACK after connecting */
#define MQTT_CONNECT_MS		10000	/* for the TCP connect itself */
#define MQTT_IN_MAX		(1024 * 1024)	/* an inbound payload */
#define MQTT_OUT_MAX		1000	/* replies not yet acked */
#define MQTT_ROUTES		256	/* users with a response topic */
#define MQTT_STOP_FLUSH_MS	500	/* for PUBACKs at shutdown */
#define MQTT_SYSTEM_CA_DIR	"/etc/ssl/certs"

/* Where the replies to one user go: the response topic and correlation
 * data of the user's last message (MQTT 5 request/response). */
struct mqtt_route {
	char		*mr_user;
	char		*mr_topic;
	void		*mr_corr;	/* or NULL */
	uint16_t	 mr_corrlen;
	uint64_t	 mr_used;	/* the oldest is replaced */
};

/* A reply waiting to be published: while the broker is away, and for
 * the moment between a `send` and mqtt_flush(). */
struct mqtt_out {
	struct mqtt_out	*mo_next;
	char		*mo_topic;
	void		*mo_corr;	/* correlation data, or NULL */
	uint16_t	 mo_corrlen;
	size_t		 mo_len;
	char		 mo_payload[];
};

struct mqtt {
	/* configuration */
	const char	*mq_host;
	long long	 mq_port;
	char		 mq_client_id[128];
	const char	*mq_username;
	const char	*mq_password;
	char		**mq_topics;
	const char	*mq_reply_topic;
	int		 mq_reply_json;
	int		 mq_v5;
	long long	 mq_session_expiry;
	long long	 mq_keepalive;
	long long	 mq_max_bytes;
	int		 mq_tls;
	int		 mq_tls_verify;
	const char	*mq_ca_file;
	const char	*mq_cert_file;
	const char	*mq_key_file;
	/* the session */
	struct ad	*mq_ad;
	struct mosquitto *mq_m;
	int		 mq_watched;	/* the fd the loop polls, or -1 */
	int		 mq_up;		/* CONNACK accepted */
	int		 mq_dead;	/* a callback said to drop the link */
	char		 mq_why[256];	/* why, for ad_platform_down() */
	uint64_t	 mq_connected_at;
	unsigned int	 mq_outstanding;	/* publishes not yet acked */
	struct mqtt_out	*mq_head;	/* not yet published */
	struct mqtt_out	**mq_tail;
	unsigned int	 mq_pending;
	struct mqtt_route mq_routes[MQTT_ROUTES];
};

static const char *const mqtt_format_opts[] = { "json", "text", NULL };
static const char *const mqtt_protocol_opts[] = { "5", "3.1.1", NULL };

static const struct ad_field mqtt_fields[] = {
	{ "MQTT_HOST", "Broker", AD_FIELD_TEXT, 1, "broker.example.com", 0,
	    NULL, NULL },
	{ "MQTT_PORT", "Port", AD_FIELD_NUMBER, 0, "1883 (8883 with TLS)", 0,
	    NULL, NULL },
	{ "MQTT_USERNAME", "Username", AD_FIELD_TEXT, 0, NULL, 0, NULL, NULL },
	{ "MQTT_PASSWORD", "Password", AD_FIELD_SECRET, 0, NULL, 0, NULL,
	    NULL },
	{ "MQTT_TOPICS", "Inbound topic filters", AD_FIELD_LIST, 0,
	    "librefang/in/#", 0, NULL, "librefang/in/#" },
	{ "MQTT_REPLY_TOPIC", "Reply topic ({user_id} is replaced)",
	    AD_FIELD_TEXT, 0, "librefang/out/{user_id}", 0, NULL,
	    "librefang/out/{user_id}" },
	{ "MQTT_CLIENT_ID", "Client id (stable: the session is kept under it)",
	    AD_FIELD_TEXT, 0, "librefang-<host name>", 1, NULL, NULL },
	{ "MQTT_TLS", "TLS", AD_FIELD_BOOL, 0, NULL, 0, NULL, "0" },
	{ "MQTT_TLS_VERIFY", "Verify the broker's certificate", AD_FIELD_BOOL,
	    0, NULL, 1, NULL, "1" },
	{ "MQTT_TLS_CA_FILE", "CA certificates (PEM file)", AD_FIELD_TEXT, 0,
	    "/etc/ssl/certs/ca-certificates.crt", 1, NULL, NULL },
	{ "MQTT_TLS_CERT_FILE", "Client certificate (PEM file)",
	    AD_FIELD_TEXT, 0, NULL, 1, NULL, NULL },
	{ "MQTT_TLS_KEY_FILE", "Client key (PEM file)", AD_FIELD_TEXT, 0,
	    NULL, 1, NULL, NULL },
	{ "MQTT_PROTOCOL", "MQTT version", AD_FIELD_SELECT, 0, NULL, 1,
	    mqtt_protocol_opts, "5" },
	{ "MQTT_REPLY_FORMAT", "Reply payload", AD_FIELD_SELECT, 0, NULL, 1,
	    mqtt_format_opts, "json" },
	{ "MQTT_SESSION_EXPIRY_SECS", "Session kept while away (s, MQTT 5)",
	    AD_FIELD_NUMBER, 0, "604800", 1, NULL, "604800" },
	{ "MQTT_KEEPALIVE_SECS", "Keepalive (s)", AD_FIELD_NUMBER, 0, "60", 1,
	    NULL, "60" },
	{ "MQTT_MAX_MESSAGE_BYTES", "Longest reply text in one message",
	    AD_FIELD_NUMBER, 0, "65536", 1, NULL, "65536" },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* thread: a `send` carries the thread_id the message came with. */
static const char *const mqtt_caps[] = { "thread", NULL };

static void
mqtt_out_free(struct mqtt_out *o)
{
	if (o == NULL)
		return;
	free(o->mo_topic);
	free(o->mo_corr);
	free(o);
}

static void
mqtt_out_clear(struct mqtt *mq)
{
	struct mqtt_out	*o;

	while ((o = mq->mq_head) != NULL) {
		mq->mq_head = o->mo_next;
		mqtt_out_free(o);
	}
	mq->mq_tail = &mq->mq_head;
	mq->mq_pending = 0;
}

static void	 mqtt_flush(struct mqtt *);

/* ---- the loop: libmosquitto threadless -------------------------------- */

/* Tells the loop what to poll the socket for (its fd changes with every
 * connect). */
static void
mqtt_rewatch(struct mqtt *mq)
{
	int	fd = mq->mq_m != NULL ? mosquitto_socket(mq->mq_m) : -1;

	if (mq->mq_watched != fd) {
		ad_watch(mq->mq_ad, mq->mq_watched, 0);
		mq->mq_watched = fd;
	}
	if (fd >= 0)
		ad_watch(mq->mq_ad, fd, POLLIN |
		    (mosquitto_want_write(mq->mq_m) ? POLLOUT : 0));
}

static void
mqtt_drop(struct mqtt *mq, const char *why)
{
	char	buf[sizeof(mq->mq_why)];

	snprintf(buf, sizeof(buf), "%s", why);
	ad_watch(mq->mq_ad, mq->mq_watched, 0);
	mq->mq_watched = -1;
	/* A DISCONNECT if the socket still stands (the next connect
	 * closes it); the session and the unacked publishes stay in
	 * libmosquitto, resent after the next CONNACK. */
	mosquitto_disconnect(mq->mq_m);
	mq->mq_up = 0;
	mq->mq_dead = 0;
	ad_platform_down(mq->mq_ad, buf);
}

/* After a loop_* call: drops the link when it failed or a callback said
 * so, else polls for what it wants next. */
static void
mqtt_after(struct mqtt *mq, int rc)
{
	if (mq->mq_dead) {
		mqtt_drop(mq, mq->mq_why);
		return;
	}
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mq->mq_m) < 0) {
		mqtt_drop(mq, rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    rc == MOSQ_ERR_SUCCESS ? "the connection closed" :
		    mosquitto_strerror(rc));
		return;
	}
	/* After a CONNACK: what waited goes out (not from inside the
	 * callback, where libmosquitto only queues). */
	mqtt_flush(mq);
	mqtt_rewatch(mq);
}

/* ---- the routes: MQTT 5 response topics ------------------------------- */

static struct mqtt_route *
mqtt_route_find(struct mqtt *mq, const char *user)
{
	int	i;

	for (i = 0; i < MQTT_ROUTES; i++)
		if (mq->mq_routes[i].mr_user != NULL &&
		    strcmp(mq->mq_routes[i].mr_user, user) == 0)
			return (&mq->mq_routes[i]);
	return (NULL);
}

static void
mqtt_route_clear(struct mqtt_route *r)
{
	free(r->mr_user);
	free(r->mr_topic);
	free(r->mr_corr);
	memset(r, 0, sizeof(*r));
}

/* Records where user's replies go (topic NULL: to the reply topic);
 * corr is copied. */
static void
mqtt_route_set(struct mqtt *mq, const char *user, const char *topic,
    const void *corr, uint16_t corrlen)
{
	struct mqtt_route	*r = mqtt_route_find(mq, user);
	int			 i;

	if (r == NULL && topic == NULL)
		return;
	if (r == NULL) {
		r = &mq->mq_routes[0];
		for (i = 1; i < MQTT_ROUTES; i++)
			if (mq->mq_routes[i].mr_used < r->mr_used)
				r = &mq->mq_routes[i];
	}
	mqtt_route_clear(r);
	if (topic == NULL)
		return;
	if ((r->mr_user = strdup(user)) == NULL ||
	    (r->mr_topic = strdup(topic)) == NULL ||
	    (corr != NULL && corrlen > 0 &&
	    (r->mr_corr = malloc(corrlen)) == NULL)) {
		log_warnx("%s: out of memory; replies to '%s' go to the reply "
		    "topic", __func__, user);
		mqtt_route_clear(r);
		return;
	}
	if (r->mr_corr != NULL) {
		memcpy(r->mr_corr, corr, corrlen);
		r->mr_corrlen = corrlen;
	}
	r->mr_used = util_now_ms();
}

/* ---- input ------------------------------------------------------------ */

/* The filter of ours that topic matches (the first), or NULL. */
static const char *
mqtt_filter_of(struct mqtt *mq, const char *topic)
{
	bool	match;
	size_t	i;

	for (i = 0; mq->mq_topics[i] != NULL; i++)
		if (mosquitto_topic_matches_sub(
		    mqtt_filter_body(mq->mq_topics[i]), topic, &match) ==
		    MOSQ_ERR_SUCCESS && match)
			return (mq->mq_topics[i]);
	return (NULL);
}

static void
mqtt_on_message(struct mosquitto *m, void *arg,
    const struct mosquitto_message *msg, const mosquitto_property *props)
{
	struct mqtt		*mq = arg;
	struct mqtt_payload	 p;
	struct ad_msg		 am;
	const char		*filter, *user, *thread;
	char			 tuser[MQTT_LEVEL_MAX + 1];
	char			 tthread[MQTT_LEVEL_MAX + 1];
	char			*rtopic = NULL, *pname = NULL, *pval = NULL;
	char			*msgid = NULL;
	void			*corr = NULL;
	uint16_t		 corrlen = 0;
	const mosquitto_property *pr;
	json_t			*content = NULL, *meta = NULL;

	(void)m;
	memset(&p, 0, sizeof(p));
	/* A retained message is an old one the broker replays on every
	 * subscribe: answering it would answer it again at each
	 * reconnect. */
	if (msg->retain || msg->payloadlen == 0)
		goto done;
	if (msg->payloadlen > MQTT_IN_MAX) {
		ad_error(mq->mq_ad, "mqtt: a message of %d bytes on '%.128s' "
		    "is over %d; dropped", msg->payloadlen, msg->topic,
		    MQTT_IN_MAX);
		goto done;
	}
	if ((filter = mqtt_filter_of(mq, msg->topic)) == NULL)
		goto done;	/* left over from an old subscription */
	mqtt_topic_ids(filter, msg->topic, tuser, tthread);
	if (mqtt_payload_read(msg->payload, (size_t)msg->payloadlen,
	    &p) != 0) {
		log_warnx("%s: out of memory", __func__);
		goto done;
	}
	user = p.mp_user_id != NULL ? p.mp_user_id : tuser;
	thread = p.mp_thread_id != NULL ? p.mp_thread_id :
	    tthread[0] != '\0' ? tthread : NULL;
	if (!mqtt_valid_id(user)) {
		ad_error(mq->mq_ad, "mqtt: a message on '%.128s' names no "
		    "usable user (a topic level after the filter, or "
		    "user_id in JSON); dropped", msg->topic);
		goto done;
	}
	if (thread != NULL && !mqtt_valid_id(thread))
		thread = NULL;
	if (p.mp_text == NULL || p.mp_text[0] == '\0') {
		ad_error(mq->mq_ad, "mqtt: a message on '%.128s' has no "
		    "text; dropped", msg->topic);
		goto done;
	}
	/* MQTT 5 request/response: replies go where the message says,
	 * with its correlation data; a message without one sends them
	 * back to the reply topic. */
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC,
	    &rtopic, false);
	if (rtopic != NULL && mosquitto_pub_topic_check(rtopic) !=
	    MOSQ_ERR_SUCCESS) {
		free(rtopic);
		rtopic = NULL;
	}
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA,
	    &corr, &corrlen, false);
	mqtt_route_set(mq, user, rtopic, corr, corrlen);
	/* An id to deduplicate on: JSON's message_id, else a user property
	 * "message_id" (a QoS 1 message can come twice). */
	if (p.mp_message_id == NULL &&
	    (pr = mosquitto_property_read_string_pair(props,
	    MQTT_PROP_USER_PROPERTY, &pname, &pval, false)) != NULL) {
		while (pname != NULL && strcmp(pname, "message_id") != 0) {
			free(pname);
			free(pval);
			pname = pval = NULL;
			pr = mosquitto_property_read_string_pair(pr,
			    MQTT_PROP_USER_PROPERTY, &pname, &pval, true);
		}
		msgid = pval;
		pval = NULL;
	}
	if ((content = ad_content_from_text(p.mp_text)) == NULL ||
	    (meta = json_pack("{s:s, s:i, s:s*}", "mqtt_topic", msg->topic,
	    "mqtt_qos", msg->qos, "mqtt_response_topic", rtopic)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		goto done;
	}
	memset(&am, 0, sizeof(am));
	am.am_user_id = user;
	am.am_user_name = p.mp_user_name != NULL ? p.mp_user_name : user;
	am.am_text = p.mp_text;
	am.am_content = content;
	/* Replies to a user go to its reply topic: the user is the
	 * channel. */
	am.am_channel_id = user;
	am.am_platform = "mqtt";
	am.am_message_id = p.mp_message_id != NULL ? p.mp_message_id : msgid;
	am.am_thread_id = thread;
	am.am_metadata = meta;
	ad_emit(mq->mq_ad, ad_ev_message(&am));
 done:
	mqtt_payload_release(&p);
	json_decref(content);
	json_decref(meta);
	free(rtopic);
	free(corr);
	free(pname);
	free(pval);
	free(msgid);
}

static void
mqtt_on_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct mqtt	*mq = arg;
	int		 opts = 0, n = 0;

	(void)props;
	if (rc != 0) {
		/* Refused (bad credentials, not authorised, ...): the
		 * broker closes the link; the backoff applies. */
		snprintf(mq->mq_why, sizeof(mq->mq_why), "the broker refused "
		    "the connection: %s", mq->mq_v5 ?
		    mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
		mq->mq_dead = 1;
		return;
	}
	mq->mq_up = 1;
	log_info("mqtt: connected to '%s:%lld' as '%s' (%s session)",
	    mq->mq_host, mq->mq_port, mq->mq_client_id,
	    (flags & 1) ? "a kept" : "a new");
	ad_platform_up(mq->mq_ad);
	/* Subscribed again even with a kept session: the broker may have
	 * restarted without its store.  MQTT 5: not our own publishes (a
	 * reply topic inside a filter would loop), and no retained ones. */
	if (mq->mq_v5)
		opts = MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_SEND_RETAIN_NEVER;
	while (mq->mq_topics[n] != NULL)
		n++;
	if (mosquitto_subscribe_multiple(m, NULL, n, mq->mq_topics, 1, opts,
	    NULL) != MOSQ_ERR_SUCCESS) {
		snprintf(mq->mq_why, sizeof(mq->mq_why), "could not "
		    "subscribe");
		mq->mq_dead = 1;
	}
}

static void
mqtt_on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
    const int *granted, const mosquitto_property *props)
{
	struct mqtt	*mq = arg;
	int		 i;

	(void)m;
	(void)mid;
	(void)props;
	for (i = 0; i < n && mq->mq_topics[i] != NULL; i++)
		if (granted[i] >= 0x80)
			ad_error(mq->mq_ad, "mqtt: the broker refused the "
			    "subscription to '%s': %s", mq->mq_topics[i],
			    mosquitto_reason_string(granted[i]));
		else
			log_info("mqtt: subscribed to '%s' (QoS %d)",
			    mq->mq_topics[i], granted[i]);
}

static void
mqtt_on_publish(struct mosquitto *m, void *arg, int mid, int rc,
    const mosquitto_property *props)
{
	struct mqtt	*mq = arg;

	(void)m;
	(void)props;
	if (mq->mq_outstanding > 0)
		mq->mq_outstanding--;
	if (rc >= 0x80)
		ad_error(mq->mq_ad, "mqtt: the broker refused message %d: %s",
		    mid, mosquitto_reason_string(rc));
}

static void
mqtt_on_disconnect(struct mosquitto *m, void *arg, int rc,
    const mosquitto_property *props)
{
	struct mqtt	*mq = arg;

	(void)m;
	(void)props;
	/* rc 0 is ours (mosquitto_disconnect()); a reason code (0x80 and
	 * up) the broker's DISCONNECT (MQTT 5); else a MOSQ_ERR_* of the
	 * network or the keepalive. */
	if (rc != 0 && !mq->mq_dead) {
		snprintf(mq->mq_why, sizeof(mq->mq_why), "the connection "
		    "ended: %s", rc == MOSQ_ERR_KEEPALIVE ? "no answer to "
		    "the keepalive ping" : mq->mq_v5 && rc >= 0x80 &&
		    rc < 0x100 ? mosquitto_reason_string(rc) :
		    mosquitto_strerror(rc));
		mq->mq_dead = 1;
	}
}

static void
mqtt_on_log(struct mosquitto *m, void *arg, int level, const char *str)
{
	(void)m;
	(void)arg;
	(void)level;
	log_debug("mqtt: libmosquitto: %s", str);
}

/* ---- output ----------------------------------------------------------- */

/* Publishes what waits, in order, while the broker takes it. */
static void
mqtt_flush(struct mqtt *mq)
{
	struct mqtt_out		*o;
	mosquitto_property	*props;
	int			 rc;

	while (mq->mq_up && (o = mq->mq_head) != NULL) {
		props = NULL;
		if (o->mo_corr != NULL && mosquitto_property_add_binary(&props,
		    MQTT_PROP_CORRELATION_DATA, o->mo_corr, o->mo_corrlen) !=
		    MOSQ_ERR_SUCCESS) {
			log_warnx("%s: out of memory", __func__);
			break;
		}
		rc = mosquitto_publish_v5(mq->mq_m, NULL, o->mo_topic,
		    (int)o->mo_len, o->mo_payload, 1, false, props);
		mosquitto_property_free_all(&props);
		if (rc == MOSQ_ERR_NO_CONN)
			break;		/* after the next CONNACK */
		if (rc != MOSQ_ERR_SUCCESS)
			ad_error(mq->mq_ad, "mqtt: could not publish to "
			    "'%.128s': %s", o->mo_topic,
			    mosquitto_strerror(rc));
		else
			mq->mq_outstanding++;
		mq->mq_head = o->mo_next;
		if (mq->mq_head == NULL)
			mq->mq_tail = &mq->mq_head;
		mq->mq_pending--;
		mqtt_out_free(o);
	}
}

/* Queues one piece of a reply for mqtt_flush().  0, or -1 (told with an
 * error). */
static int
mqtt_queue(struct mqtt *mq, const char *topic, const struct ad_cmd *c,
    const char *text, size_t n, int part, int parts,
    const struct mqtt_route *r)
{
	struct mqtt_out	*o = NULL;
	json_t		*j = NULL;
	char		*payload = NULL;
	const char	*data = text;
	size_t		 len = n;
	int		 ret = -1;

	if (mq->mq_reply_json) {
		j = json_pack("{s:s, s:s%, s:s*}", "user_id", c->ac_channel_id,
		    "text", text, n, "thread_id", c->ac_thread_id);
		if (j != NULL && parts > 1 && (json_object_set_new(j, "part",
		    json_integer(part)) != 0 || json_object_set_new(j,
		    "parts", json_integer(parts)) != 0)) {
			json_decref(j);
			j = NULL;
		}
		if (j == NULL || (payload = json_dumps(j, JSON_COMPACT)) ==
		    NULL)
			goto done;
		data = payload;
		len = strlen(payload);
	}
	if ((o = calloc(1, sizeof(*o) + len)) == NULL ||
	    (o->mo_topic = strdup(topic)) == NULL)
		goto done;
	/* Correlation data is MQTT 5's; 3.1.1 has no properties. */
	if (r != NULL && r->mr_corr != NULL && mq->mq_v5) {
		if ((o->mo_corr = malloc(r->mr_corrlen)) == NULL)
			goto done;
		memcpy(o->mo_corr, r->mr_corr, r->mr_corrlen);
		o->mo_corrlen = r->mr_corrlen;
	}
	memcpy(o->mo_payload, data, len);
	o->mo_len = len;
	*mq->mq_tail = o;
	mq->mq_tail = &o->mo_next;
	mq->mq_pending++;
	o = NULL;
	ret = 0;
 done:
	if (ret != 0)
		ad_error(mq->mq_ad, "mqtt: out of memory");
	mqtt_out_free(o);
	json_decref(j);
	free(payload);
	return (ret);
}

/*
 * A `send`: published to the user's response topic (MQTT 5, when its
 * last message named one) or reply topic, split into pieces of at most
 * MQTT_MAX_MESSAGE_BYTES of text.  While the broker is away the pieces
 * wait here and go out after the next CONNACK (libmosquitto refuses a
 * publish without a connection); those published but not yet acked wait
 * in libmosquitto, which sends them again after a reconnect.
 * MQTT_OUT_MAX of both at most.
 */
static void
mqtt_send(struct mqtt *mq, const struct ad_cmd *c)
{
	const struct mqtt_route	*r;
	const char		*text = c->ac_text, *topic;
	char			*own = NULL;
	size_t			 n = strlen(text), off, k;
	int			 parts, part;

	if ((r = mqtt_route_find(mq, c->ac_channel_id)) != NULL) {
		topic = r->mr_topic;
	} else {
		if (!mqtt_valid_id(c->ac_channel_id)) {
			ad_error(mq->mq_ad, "mqtt: cannot send to '%.64s': not "
			    "a user id (a topic level)", c->ac_channel_id);
			return;
		}
		if ((own = mqtt_reply_topic(mq->mq_reply_topic,
		    c->ac_channel_id)) == NULL) {
			ad_error(mq->mq_ad, "mqtt: out of memory");
			return;
		}
		topic = own;
	}
	for (parts = 0, off = 0; off < n || parts == 0; parts++)
		off += mqtt_split(text + off, n - off,
		    (size_t)mq->mq_max_bytes);
	if (mq->mq_outstanding + mq->mq_pending + (unsigned int)parts >
	    MQTT_OUT_MAX) {
		ad_error(mq->mq_ad, "mqtt: could not send to '%s': %u messages "
		    "wait for the broker already", c->ac_channel_id,
		    mq->mq_outstanding + mq->mq_pending);
		goto done;
	}
	for (part = 1, off = 0; part <= parts; part++, off += k) {
		k = mqtt_split(text + off, n - off, (size_t)mq->mq_max_bytes);
		if (mqtt_queue(mq, topic, c, text + off, k, part, parts,
		    r) != 0)
			break;
	}
	mqtt_flush(mq);
 done:
	free(own);
	if (mq->mq_watched >= 0)
		mqtt_rewatch(mq);
}

/* ---- the adapter's callbacks ------------------------------------------ */

static void
mqtt_alarm(int sig)
{
	(void)sig;	/* only to interrupt connect() */
}

/*
 * Resolves the broker and checks every address (loopback and private
 * ones need the switch, metadata ones never pass).  Without TLS the
 * address checked is the one connected to (into addr); with TLS the
 * name goes to libmosquitto, since the certificate is verified against
 * it (and a name that resolves elsewhere later fails that check).
 */
static int
mqtt_resolve(struct mqtt *mq, char *addr, size_t addrlen, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	const char	*why;
	int		 rv, ret = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rv = getaddrinfo(mq->mq_host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "could not resolve '%s': %s",
		    mq->mq_host, gai_strerror(rv));
		goto done;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ssrf_addr_metadata(ai->ai_addr)) {
			snprintf(err, errlen, "'%s' is a %s; refused",
			    mq->mq_host, SSRF_WHY_METADATA);
			goto done;
		}
		if ((why = ssrf_addr_blocked(ai->ai_addr)) != NULL &&
		    !ad_allow_loopback(mq->mq_ad)) {
			snprintf(err, errlen, "'%s' is a %s; refused without "
			    "the allow-loopback switch", mq->mq_host, why);
			goto done;
		}
	}
	if (mq->mq_tls)
		snprintf(addr, addrlen, "%s", mq->mq_host);
	else if ((rv = getnameinfo(res->ai_addr, res->ai_addrlen, addr,
	    (socklen_t)addrlen, NULL, 0, NI_NUMERICHOST)) != 0) {
		snprintf(err, errlen, "could not use '%s': %s", mq->mq_host,
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
mqtt_connect(struct ad *a)
{
	struct mqtt		*mq = ad_arg(a);
	struct sigaction	 sa, old;
	struct itimerval	 it;
	mosquitto_property	*props = NULL;
	char			 addr[256], err[256];
	int			 rc, ret = -1;

	if (mqtt_resolve(mq, addr, sizeof(addr), err, sizeof(err)) != 0) {
		ad_error(a, "mqtt: %s", err);
		goto done;
	}
	/* MQTT 5 ends a session when the link closes unless told to keep
	 * it; and no inbound packet over what we take. */
	if (mq->mq_v5 && (mosquitto_property_add_int32(&props,
	    MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	    (uint32_t)mq->mq_session_expiry) != MOSQ_ERR_SUCCESS ||
	    mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
	    MQTT_IN_MAX + 65536) != MOSQ_ERR_SUCCESS)) {
		ad_error(a, "mqtt: out of memory");
		goto done;
	}
	/*
	 * libmosquitto's connect with properties is the blocking one; only
	 * its TCP connect blocks (the socket is non-blocking after it, TLS
	 * included).  A timer bounds it: a black-holed address gives up
	 * after MQTT_CONNECT_MS, not the kernel's two minutes.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mqtt_alarm;	/* no SA_RESTART: connect() EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = MQTT_CONNECT_MS / 1000;
	setitimer(ITIMER_REAL, &it, NULL);
	rc = mosquitto_connect_bind_v5(mq->mq_m, addr, (int)mq->mq_port,
	    (int)mq->mq_keepalive, NULL, props);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, &old, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		ad_error(a, "mqtt: could not connect to '%s:%lld': %s",
		    mq->mq_host, mq->mq_port, rc == MOSQ_ERR_ERRNO ?
		    (errno == EINTR ? "timed out" : strerror(errno)) :
		    mosquitto_strerror(rc));
		goto done;
	}
	mq->mq_up = 0;
	mq->mq_dead = 0;
	mq->mq_connected_at = util_now_ms();
	mqtt_rewatch(mq);
	ad_timer(a, util_now_ms() + MQTT_TICK_MS);
	log_info("mqtt: connecting to '%s:%lld'%s", mq->mq_host, mq->mq_port,
	    mq->mq_tls ? " with TLS" : "");
	ret = 0;
 done:
	mosquitto_property_free_all(&props);
	return (ret);
}

static void
mqtt_io(struct ad *a, int fd, int revents)
{
	struct mqtt	*mq = ad_arg(a);
	int		 rc = MOSQ_ERR_SUCCESS;

	(void)fd;		/* one socket: always the broker's */
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = mosquitto_loop_read(mq->mq_m, 1);
	if (rc == MOSQ_ERR_SUCCESS && !mq->mq_dead &&
	    (revents & POLLOUT) && mosquitto_socket(mq->mq_m) >= 0)
		rc = mosquitto_loop_write(mq->mq_m, 1);
	mqtt_after(mq, rc);
}

static void
mqtt_tick(struct ad *a)
{
	struct mqtt	*mq = ad_arg(a);
	int		 rc;

	if (mq->mq_watched < 0)
		return;		/* down: ad_connect comes after the backoff */
	if (!mq->mq_up && util_now_ms() - mq->mq_connected_at >
	    MQTT_CONNACK_MS) {
		mqtt_drop(mq, "no CONNACK from the broker in time");
		return;
	}
	/* Keepalive: PINGREQ when due, and the link dropped when the
	 * PINGRESP does not come. */
	rc = mosquitto_loop_misc(mq->mq_m);
	ad_timer(a, util_now_ms() + MQTT_TICK_MS);
	mqtt_after(mq, rc);
}

static void
mqtt_command(struct ad *a, const struct ad_cmd *c)
{
	struct mqtt	*mq = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		mqtt_send(mq, c);
		break;
	default:
		/* Not among our capabilities: MQTT has no typing,
		 * reactions or buttons. */
		log_debug("mqtt: '%s' ignored", c->ac_method);
		break;
	}
}

static void
mqtt_stop(struct ad *a)
{
	struct mqtt	*mq = ad_arg(a);
	struct pollfd	 pfd;
	uint64_t	 end = util_now_ms() + MQTT_STOP_FLUSH_MS;
	int		 fd;

	/* Replies just published: give their PUBACKs a moment, so the
	 * broker has them (they are in the session otherwise, resent by
	 * the next run only if it still has them). */
	while (mq->mq_up && mq->mq_outstanding > 0 && util_now_ms() < end &&
	    (fd = mosquitto_socket(mq->mq_m)) >= 0) {
		pfd.fd = fd;
		pfd.events = POLLIN | (mosquitto_want_write(mq->mq_m) ?
		    POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, 50) < 0 && errno != EINTR)
			break;
		if ((pfd.revents & POLLOUT) &&
		    mosquitto_loop_write(mq->mq_m, 1) != MOSQ_ERR_SUCCESS)
			break;
		if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) &&
		    mosquitto_loop_read(mq->mq_m, 1) != MOSQ_ERR_SUCCESS)
			break;
	}
	if (mq->mq_pending > 0)
		log_warnx("%s: %u reply messages never reached the broker",
		    __func__, mq->mq_pending);
	if (mq->mq_m != NULL && mosquitto_socket(mq->mq_m) >= 0) {
		/* A DISCONNECT keeps the session (no will, expiry as set
		 * at connect). */
		mosquitto_disconnect(mq->mq_m);
		mosquitto_loop_write(mq->mq_m, 1);
	}
}

static int
mqtt_init(struct ad *a)
{
	struct mqtt	*mq = ad_arg(a);
	const char	*v;
	char		 host[64];
	char		*sample = NULL;
	size_t		 i;
	int		 ret = -1;

	mq->mq_ad = a;
	if ((mq->mq_host = ad_conf("MQTT_HOST")) == NULL) {
		log_warnx("%s: MQTT_HOST is required", __func__);
		goto done;
	}
	mq->mq_tls = ad_conf_bool("MQTT_TLS");
	mq->mq_tls_verify = ad_conf_bool("MQTT_TLS_VERIFY");
	mq->mq_ca_file = ad_conf("MQTT_TLS_CA_FILE");
	mq->mq_cert_file = ad_conf("MQTT_TLS_CERT_FILE");
	mq->mq_key_file = ad_conf("MQTT_TLS_KEY_FILE");
	mq->mq_port = mq->mq_tls ? 8883 : 1883;
	if (ad_conf("MQTT_PORT") != NULL &&
	    ad_conf_num("MQTT_PORT", 1, 65535, &mq->mq_port) != 0)
		goto done;
	if (ad_conf_num("MQTT_SESSION_EXPIRY_SECS", 0, UINT32_MAX,
	    &mq->mq_session_expiry) != 0 ||
	    ad_conf_num("MQTT_KEEPALIVE_SECS", 5, 65535,
	    &mq->mq_keepalive) != 0 ||
	    ad_conf_num("MQTT_MAX_MESSAGE_BYTES", 64, 256 * 1024 * 1024,
	    &mq->mq_max_bytes) != 0)
		goto done;
	v = ad_conf("MQTT_PROTOCOL");
	if (strcmp(v, "5") == 0)
		mq->mq_v5 = 1;
	else if (strcmp(v, "3.1.1") != 0) {
		log_warnx("%s: MQTT_PROTOCOL '%s' is not one of 5, 3.1.1",
		    __func__, v);
		goto done;
	}
	v = ad_conf("MQTT_REPLY_FORMAT");
	if (strcmp(v, "json") == 0)
		mq->mq_reply_json = 1;
	else if (strcmp(v, "text") != 0) {
		log_warnx("%s: MQTT_REPLY_FORMAT '%s' is not one of json, text",
		    __func__, v);
		goto done;
	}
	if ((v = ad_conf("MQTT_CLIENT_ID")) != NULL)
		snprintf(mq->mq_client_id, sizeof(mq->mq_client_id), "%s", v);
	else {
		/* Stable across restarts on this host: the session (and
		 * what arrived while we were away) is found under it. */
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "host");
		host[sizeof(host) - 1] = '\0';
		snprintf(mq->mq_client_id, sizeof(mq->mq_client_id),
		    "librefang-%s", host);
	}
	if (strlen(mq->mq_client_id) > 100 ||
	    !util_utf8_valid((const unsigned char *)mq->mq_client_id,
	    strlen(mq->mq_client_id))) {
		log_warnx("%s: MQTT_CLIENT_ID is not a client id", __func__);
		goto done;
	}
	mq->mq_username = ad_conf("MQTT_USERNAME");
	mq->mq_password = ad_conf("MQTT_PASSWORD");
	if (mq->mq_password != NULL)
		log_add_secret(mq->mq_password);
	if ((mq->mq_topics = ad_conf_list("MQTT_TOPICS")) == NULL)
		goto done;
	if (mq->mq_topics[0] == NULL) {
		log_warnx("%s: MQTT_TOPICS has no topic filter", __func__);
		goto done;
	}
	for (i = 0; mq->mq_topics[i] != NULL; i++)
		if (mosquitto_sub_topic_check(mq->mq_topics[i]) !=
		    MOSQ_ERR_SUCCESS) {
			log_warnx("%s: '%s' in MQTT_TOPICS is not a topic "
			    "filter", __func__, mq->mq_topics[i]);
			goto done;
		}
	mq->mq_reply_topic = ad_conf("MQTT_REPLY_TOPIC");
	if ((sample = mqtt_reply_topic(mq->mq_reply_topic, "u")) == NULL ||
	    mosquitto_pub_topic_check(sample) != MOSQ_ERR_SUCCESS) {
		log_warnx("%s: MQTT_REPLY_TOPIC '%s' is not a topic", __func__,
		    mq->mq_reply_topic);
		goto done;
	}
	/* MQTT 3.1.1 has no "not my own": we would hear our replies. */
	if (!mq->mq_v5 && mqtt_filter_of(mq, sample) != NULL) {
		log_warnx("%s: MQTT_REPLY_TOPIC '%s' is inside MQTT_TOPICS; "
		    "with MQTT 3.1.1 the adapter would read its own replies",
		    __func__, mq->mq_reply_topic);
		goto done;
	}
	if ((mq->mq_m = mosquitto_new(mq->mq_client_id, false, mq)) == NULL) {
		log_warnx("%s: could not create the client: %s", __func__,
		    strerror(errno));
		goto done;
	}
	mosquitto_int_option(mq->mq_m, MOSQ_OPT_PROTOCOL_VERSION,
	    mq->mq_v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_connect_v5_callback_set(mq->mq_m, mqtt_on_connect);
	mosquitto_disconnect_v5_callback_set(mq->mq_m, mqtt_on_disconnect);
	mosquitto_message_v5_callback_set(mq->mq_m, mqtt_on_message);
	mosquitto_subscribe_v5_callback_set(mq->mq_m, mqtt_on_subscribe);
	mosquitto_publish_v5_callback_set(mq->mq_m, mqtt_on_publish);
	mosquitto_log_callback_set(mq->mq_m, mqtt_on_log);
	if (mq->mq_username != NULL && mosquitto_username_pw_set(mq->mq_m,
	    mq->mq_username, mq->mq_password) != MOSQ_ERR_SUCCESS) {
		log_warnx("%s: could not set the username", __func__);
		goto done;
	}
	if (mq->mq_tls) {
		/* The system's CAs without a file; libmosquitto's
		 * tls_set wants a CA file or directory, so a client
		 * certificate alone names the system's directory. */
		if (mq->mq_ca_file == NULL)
			mosquitto_int_option(mq->mq_m,
			    MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		if ((mq->mq_ca_file != NULL || mq->mq_cert_file != NULL) &&
		    mosquitto_tls_set(mq->mq_m, mq->mq_ca_file,
		    mq->mq_ca_file == NULL ? MQTT_SYSTEM_CA_DIR : NULL,
		    mq->mq_cert_file, mq->mq_key_file, NULL) !=
		    MOSQ_ERR_SUCCESS) {
			log_warnx("%s: could not use the TLS files (CA '%s', "
			    "certificate '%s', key '%s')", __func__,
			    mq->mq_ca_file ? mq->mq_ca_file : "system",
			    mq->mq_cert_file ? mq->mq_cert_file : "none",
			    mq->mq_key_file ? mq->mq_key_file : "none");
			goto done;
		}
		if (!mq->mq_tls_verify) {
			/* 0: SSL_VERIFY_NONE; and no host name check. */
			mosquitto_tls_opts_set(mq->mq_m, 0, NULL, NULL);
			mosquitto_tls_insecure_set(mq->mq_m, true);
		}
	}
	ret = 0;
 done:
	free(sample);
	return (ret);
}

static const struct ad_def mqtt_def = {
	.ad_name = "mqtt",
	.ad_display_name = "MQTT",
	.ad_description = "An MQTT client (MQTT 5 or 3.1.1): messages on the "
	    "inbound topics to the agent, replies published to the reply "
	    "topic or the message's response topic, QoS 1 both ways, a "
	    "persistent session; TLS and a username and password optional.",
	.ad_env = "MQTT",
	.ad_fields = mqtt_fields,
	.ad_capabilities = mqtt_caps,
	.ad_init = mqtt_init,
	.ad_connect = mqtt_connect,
	.ad_io = mqtt_io,
	.ad_tick = mqtt_tick,
	.ad_command = mqtt_command,
	.ad_stop = mqtt_stop,
};

int
main(int argc, char **argv)
{
	struct mqtt	mq;
	int		rv, i;

	memset(&mq, 0, sizeof(mq));
	mq.mq_watched = -1;
	mq.mq_tail = &mq.mq_head;
	mosquitto_lib_init();
	rv = ad_main(&mqtt_def, &mq, argc, argv);
	mosquitto_destroy(mq.mq_m);
	mosquitto_lib_cleanup();
	for (i = 0; i < MQTT_ROUTES; i++)
		mqtt_route_clear(&mq.mq_routes[i]);
	mqtt_out_clear(&mq);
	ad_list_free(mq.mq_topics);
	return (rv);
}
