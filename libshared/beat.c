/*
 * beat.c - heartbeats: the publisher every process runs, the table and the
 * watcher a gateway runs (beat.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beat.h"
#include "cfgsync.h"
#include "bus.h"
#include "err.h"
#include "log.h"
#include "services.h"
#include "svc.h"
#include "util.h"
#include "version.h"

/*
 * After the first beat, and after each change of the process's uplinks
 * (a broker lost or connected: bus_uplinks_watch), two more come soon,
 * BEAT_SOON_MS apart, before the interval resumes: a publisher's dial is
 * not waited for, so the first beat of a process is often sent before its
 * broker is connected, and the beat that says a broker is back may reach
 * it before a gateway's subscriber has redialled it too.  Beats are at
 * least BEAT_GAP_MS apart, however often the uplinks change.
 */
static const unsigned int beat_soon_ms[] = { 250, 750 };
#define BEAT_GAP_MS		20
#define BEAT_LINGER_MS		50
#define BEAT_INTERVAL_MIN	100
#define BEAT_INTERVAL_MAX	60000

/* ---- the publisher ------------------------------------------------- */

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	int		 stop;		/* under mtx */
	int		 kick;		/* under mtx: an uplink changed */
	struct bus_pub	*pub;
	const char	*service;
	long long	 started_ms;
	long long	 seq;		/* the thread's, then beat_leave()'s */
	pthread_t	 thread;
	int		 running;	/* the thread runs */
	int		 left;		/* the goodbye is out */
	uint64_t	 left_at;
} beat_pub = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/* The process's uplinks (bus.h) as the beat's "brokers": [{url,
 * connected, since_ms}]; NULL on ENOMEM.  A character of a URL that a
 * beat may not carry (an ipc path with a space) is sent as '_'. */
static json_t *
beat_brokers(void)
{
	struct bus_uplink	ul[BEAT_BROKERS_MAX];
	json_t			*a;
	char			*c;
	int			 i, n;

	n = bus_uplinks(ul, BEAT_BROKERS_MAX);
	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		for (c = ul[i].ul_url; *c != '\0'; c++)
			if (*c <= ' ' || *c > '~' || *c == '"' || *c == '\\')
				*c = '_';
		if (json_array_append_new(a, json_pack("{s:s, s:b, s:I}",
		    "url", ul[i].ul_url, "connected", ul[i].ul_connected,
		    "since_ms", (json_int_t)ul[i].ul_since_ms)) != 0) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}

static void
beat_send(const char *state)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:i, s:I, s:s, "
	    "s:o*}", "service", beat_pub.service, "instance", svc_instance(),
	    "host", svc_host_name(), "pid", (int)getpid(), "version",
	    LIBREFANG_VERSION, "started_ms", (json_int_t)beat_pub.started_ms,
	    "uptime_seconds", (json_int_t)svc_uptime(), "interval_ms",
	    BEAT_INTERVAL_MS, "seq", (json_int_t)++beat_pub.seq, "state",
	    state, "brokers", beat_brokers());
	if (o != NULL)
		json_object_set_new(o, "config_version",
		    json_integer(cfgsync_version()));
	/* Best effort: a beat lost is made up for by the next. */
	if (o != NULL)
		(void)bus_publish(beat_pub.pub, TOPIC_HEARTBEAT, o);
	json_decref(o);
}

/* bus_uplinks_watch()'s: a beat at once.  On an nng thread. */
static void
beat_kick(void)
{
	pthread_mutex_lock(&beat_pub.mtx);
	beat_pub.kick = 1;
	pthread_cond_signal(&beat_pub.cv);
	pthread_mutex_unlock(&beat_pub.mtx);
}

/* Waits under beat_pub.mtx until ms have passed, or stop, or (when
 * kickable) a kick. */
static void
beat_wait(unsigned int ms, int kickable)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	while (!beat_pub.stop && !(kickable && beat_pub.kick) &&
	    pthread_cond_timedwait(&beat_pub.cv, &beat_pub.mtx, &ts) !=
	    ETIMEDOUT)
		;
}

static void *
beat_main(void *arg)
{
	size_t	soon = 0;	/* beats of beat_soon_ms[] sent */

	(void)arg;
	pthread_mutex_lock(&beat_pub.mtx);
	while (!beat_pub.stop) {
		if (beat_pub.kick)
			soon = 0;
		beat_pub.kick = 0;
		pthread_mutex_unlock(&beat_pub.mtx);
		beat_send("up");
		pthread_mutex_lock(&beat_pub.mtx);
		beat_wait(BEAT_GAP_MS, 0);
		if (soon < sizeof(beat_soon_ms) / sizeof(beat_soon_ms[0]))
			beat_wait(beat_soon_ms[soon++] - BEAT_GAP_MS, 1);
		else
			beat_wait(BEAT_INTERVAL_MS - BEAT_GAP_MS, 1);
	}
	pthread_mutex_unlock(&beat_pub.mtx);
	return (NULL);
}

int
beat_start(const char *bus_url, const char *service)
{
	int	e;

	if ((beat_pub.pub = bus_pub_open(bus_url)) == NULL) {
		log_warnx("%s: could not open a publisher on '%s'; this "
		    "process sends no heartbeat", __func__, bus_url);
		return (-1);
	}
	beat_pub.service = service;
	beat_pub.started_ms = svc_started_at_ms();
	beat_pub.stop = 0;
	beat_pub.kick = 0;
	beat_pub.left = 0;
	if ((e = pthread_create(&beat_pub.thread, NULL, beat_main,
	    NULL)) != 0) {
		log_warnx("%s: could not start the heartbeat thread: %s",
		    __func__, strerror(e));
		bus_pub_close(beat_pub.pub);
		beat_pub.pub = NULL;
		return (-1);
	}
	beat_pub.running = 1;
	bus_uplinks_watch(beat_kick);
	return (0);
}

void
beat_leave(void)
{
	if (!beat_pub.running)
		return;
	bus_uplinks_watch(NULL);
	pthread_mutex_lock(&beat_pub.mtx);
	beat_pub.stop = 1;
	pthread_cond_signal(&beat_pub.cv);
	pthread_mutex_unlock(&beat_pub.mtx);
	pthread_join(beat_pub.thread, NULL);
	beat_pub.running = 0;
	/* After the join: the goodbye has the highest seq, so no beat of
	 * this process can be taken for newer than it. */
	beat_send("leaving");
	beat_pub.left = 1;
	beat_pub.left_at = util_now_ms();
}

void
beat_stop(void)
{
	uint64_t	since;

	if (beat_pub.pub == NULL)
		return;
	beat_leave();
	since = util_now_ms() - beat_pub.left_at;
	if (beat_pub.left && since < BEAT_LINGER_MS)
		util_sleep_ms((unsigned int)(BEAT_LINGER_MS - since));
	bus_pub_close(beat_pub.pub);
	beat_pub.pub = NULL;
}

/* ---- the table ------------------------------------------------------ */

struct beat_table {
	struct beat_entry	 bt_e[BEAT_MAX];
	int			 bt_n;
};

struct beat_table *
beat_table_new(void)
{
	return (calloc(1, sizeof(struct beat_table)));
}

void
beat_table_free(struct beat_table *bt)
{
	free(bt);
}

/* 1 when s has at most max - 1 characters (at least min), each printable
 * ASCII other than space, '"' and '\\': safe in a label as it is. */
static int
beat_word(const char *s, size_t min, size_t max)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i + 1 >= max || s[i] <= ' ' || s[i] > '~' ||
		    s[i] == '"' || s[i] == '\\')
			return (0);
	return (i >= min);
}

enum beat_state
beat_entry_state(const struct beat_entry *be, uint64_t now)
{
	if (be->be_gone)
		return (BEAT_GONE);
	if (now > be->be_seen && now - be->be_seen >
	    (uint64_t)(BEAT_MISSED * be->be_interval_ms))
		return (BEAT_DOWN);
	return (BEAT_UP);
}

const char *
beat_state_name(enum beat_state st)
{
	switch (st) {
	case BEAT_UP:	return ("up");
	case BEAT_DOWN:	return ("down");
	case BEAT_GONE:	return ("gone");
	}
	return ("unknown");
}

/* The slot for a process not in the table: a free one, else that of the
 * entry not up heard from longest ago; NULL when every entry is up. */
static struct beat_entry *
beat_table_slot(struct beat_table *bt, uint64_t now)
{
	struct beat_entry	*victim = NULL, *be;
	int			 i;

	if (bt->bt_n < BEAT_MAX)
		return (&bt->bt_e[bt->bt_n++]);
	for (i = 0; i < bt->bt_n; i++) {
		be = &bt->bt_e[i];
		if (beat_entry_state(be, now) != BEAT_UP && (victim == NULL ||
		    be->be_seen < victim->be_seen))
			victim = be;
	}
	return (victim);
}

/* Reads a beat's "brokers" (borrowed; NULL: absent) into be; 0, or
 * SH_EINVAL when it is not an array of at most BEAT_BROKERS_MAX {url,
 * connected, since_ms}. */
static int
beat_brokers_read(json_t *a, struct beat_entry *be)
{
	json_t		*o;
	const char	*url;
	json_int_t	 since;
	int		 conn;
	size_t		 i;

	be->be_nbrokers = 0;
	if (a == NULL)
		return (0);
	if (!json_is_array(a) || json_array_size(a) > BEAT_BROKERS_MAX)
		return (SH_EINVAL);
	json_array_foreach(a, i, o) {
		if (json_unpack(o, "{s:s, s:b, s:I}", "url", &url,
		    "connected", &conn, "since_ms", &since) != 0 ||
		    !beat_word(url, 1, BEAT_URL_MAX) || since < 0)
			return (SH_EINVAL);
		snprintf(be->be_brokers[i].bb_url, BEAT_URL_MAX, "%s", url);
		be->be_brokers[i].bb_connected = conn;
		be->be_brokers[i].bb_since_ms = since;
	}
	be->be_nbrokers = (int)json_array_size(a);
	return (0);
}

int
beat_table_note(struct beat_table *bt, json_t *body, uint64_t now,
    long long wall)
{
	struct beat_entry	*be = NULL, br;
	json_error_t		 je;
	const char		*svc, *inst, *host, *ver, *state;
	json_int_t		 pid, started, uptime, interval, seq;
	int			 i, gone;

	/* Not JSON_STRICT: a newer process may say more. */
	if (json_unpack_ex(body, &je, 0, "{s:s, s:s, s:s, s:I, s:s, s:I, s:I, "
	    "s:I, s:I, s:s}", "service", &svc, "instance", &inst, "host",
	    &host, "pid", &pid, "version", &ver, "started_ms", &started,
	    "uptime_seconds", &uptime, "interval_ms", &interval, "seq", &seq,
	    "state", &state) != 0)
		return (SH_EINVAL);
	if (!beat_word(svc, 1, sizeof(be->be_service)) ||
	    !beat_word(inst, 1, sizeof(be->be_instance)) ||
	    !beat_word(host, 0, sizeof(be->be_host)) ||
	    !beat_word(ver, 0, sizeof(be->be_version)) || pid <= 0 ||
	    interval < BEAT_INTERVAL_MIN || interval > BEAT_INTERVAL_MAX ||
	    seq < 0 || started < 0 || uptime < 0)
		return (SH_EINVAL);
	if (beat_brokers_read(json_object_get(body, "brokers"), &br) != 0)
		return (SH_EINVAL);
	if (strcmp(state, "up") == 0)
		gone = 0;
	else if (strcmp(state, "leaving") == 0)
		gone = 1;
	else
		return (SH_EINVAL);
	for (i = 0; i < bt->bt_n; i++)
		if (strcmp(bt->bt_e[i].be_service, svc) == 0 &&
		    strcmp(bt->bt_e[i].be_instance, inst) == 0) {
			be = &bt->bt_e[i];
			break;
		}
	if (be != NULL) {
		/* A copy through another broker, or a late one of a
		 * process that another took the name of. */
		if (started < be->be_started_ms ||
		    (started == be->be_started_ms && seq <= be->be_seq))
			return (0);
	} else if ((be = beat_table_slot(bt, now)) == NULL)
		return (SH_ETOOBIG);
	memset(be, 0, sizeof(*be));
	snprintf(be->be_service, sizeof(be->be_service), "%s", svc);
	snprintf(be->be_instance, sizeof(be->be_instance), "%s", inst);
	snprintf(be->be_host, sizeof(be->be_host), "%s", host);
	snprintf(be->be_version, sizeof(be->be_version), "%s", ver);
	be->be_pid = pid;
	be->be_started_ms = started;
	be->be_uptime = uptime;
	be->be_seq = seq;
	be->be_interval_ms = interval;
	be->be_seen = now;
	be->be_seen_wall = wall;
	be->be_gone = gone;
	be->be_nbrokers = br.be_nbrokers;
	be->be_config_version = json_integer_value(json_object_get(body,
	    "config_version"));
	memcpy(be->be_brokers, br.be_brokers, sizeof(be->be_brokers));
	return (0);
}

static int
beat_cmp(const void *a, const void *b)
{
	const struct beat_entry	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->be_service, y->be_service)) != 0)
		return (c);
	return (strcmp(x->be_instance, y->be_instance));
}

int
beat_table_list(struct beat_table *bt, uint64_t now, struct beat_entry **outp)
{
	struct beat_entry	*be;
	uint64_t		 age;
	int			 i;

	*outp = NULL;
	for (i = 0; i < bt->bt_n; ) {
		be = &bt->bt_e[i];
		age = now > be->be_seen ? now - be->be_seen : 0;
		if ((be->be_gone && age > BEAT_FORGET_GONE_MS) ||
		    age > BEAT_FORGET_DOWN_MS) {
			*be = bt->bt_e[--bt->bt_n];
			continue;
		}
		i++;
	}
	/* One more than needed: calloc(0) may be NULL. */
	if ((*outp = calloc((size_t)bt->bt_n + 1, sizeof(**outp))) == NULL)
		return (-1);
	memcpy(*outp, bt->bt_e, (size_t)bt->bt_n * sizeof(**outp));
	qsort(*outp, (size_t)bt->bt_n, sizeof(**outp), beat_cmp);
	return (bt->bt_n);
}

/* ---- the watcher ---------------------------------------------------- */

static struct {
	pthread_mutex_t	 mtx;		/* the table */
	struct beat_table *table;
	struct bus_sub	*sub;
	pthread_t	 thread;
	int		 running;
	atomic_int	 quit;
} beat_watch = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
};

static void *
beat_watch_main(void *arg)
{
	char	*topic;
	json_t	*body;
	int	 rv, warned_bad = 0, warned_full = 0;

	(void)arg;
	/* No deadline: beat_watch_stop() wakes the receive. */
	while (!atomic_load(&beat_watch.quit)) {
		if (bus_sub_recv(beat_watch.sub, -1, &topic, &body) != 0)
			continue;
		pthread_mutex_lock(&beat_watch.mtx);
		rv = beat_table_note(beat_watch.table, body, util_now_ms(),
		    (long long)util_wall_ms());
		pthread_mutex_unlock(&beat_watch.mtx);
		/* Once each: a bad publisher would repeat every interval. */
		if (rv == SH_EINVAL && !warned_bad++)
			log_warnx("%s: a heartbeat that is none, ignored (no "
			    "more such warnings)", __func__);
		else if (rv == SH_ETOOBIG && !warned_full++)
			log_warnx("%s: %d processes up, more than the table "
			    "holds: the others are not shown", __func__,
			    BEAT_MAX);
		free(topic);
		json_decref(body);
	}
	return (NULL);
}

int
beat_watch_start(const char *bus_url)
{
	int	e;

	if ((beat_watch.table = beat_table_new()) == NULL)
		return (-1);
	if ((beat_watch.sub = bus_sub_open(bus_url)) == NULL ||
	    bus_subscribe(beat_watch.sub, TOPIC_HEARTBEAT) != 0) {
		log_warnx("%s: could not subscribe to '%s' on '%s'", __func__,
		    TOPIC_HEARTBEAT, bus_url);
		goto fail;
	}
	atomic_store(&beat_watch.quit, 0);
	if ((e = pthread_create(&beat_watch.thread, NULL, beat_watch_main,
	    NULL)) != 0) {
		log_warnx("%s: could not start the heartbeat watcher: %s",
		    __func__, strerror(e));
		goto fail;
	}
	beat_watch.running = 1;
	return (0);
 fail:
	bus_sub_close(beat_watch.sub);
	beat_watch.sub = NULL;
	pthread_mutex_lock(&beat_watch.mtx);
	beat_table_free(beat_watch.table);
	beat_watch.table = NULL;
	pthread_mutex_unlock(&beat_watch.mtx);
	return (-1);
}

void
beat_watch_stop(void)
{
	if (!beat_watch.running)
		return;
	atomic_store(&beat_watch.quit, 1);
	bus_sub_wake(beat_watch.sub);
	pthread_join(beat_watch.thread, NULL);
	beat_watch.running = 0;
	bus_sub_close(beat_watch.sub);
	beat_watch.sub = NULL;
	pthread_mutex_lock(&beat_watch.mtx);
	beat_table_free(beat_watch.table);
	beat_watch.table = NULL;
	pthread_mutex_unlock(&beat_watch.mtx);
}

int
beat_watch_list(struct beat_entry **outp, uint64_t *nowp)
{
	int	n;

	*nowp = util_now_ms();
	pthread_mutex_lock(&beat_watch.mtx);
	if (beat_watch.table != NULL)
		n = beat_table_list(beat_watch.table, *nowp, outp);
	else
		n = (*outp = calloc(1, sizeof(**outp))) == NULL ? -1 : 0;
	pthread_mutex_unlock(&beat_watch.mtx);
	return (n);
}
