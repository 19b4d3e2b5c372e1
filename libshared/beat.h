/*
 * beat.h - heartbeats: every process on the bus says it is alive, and a
 * gateway keeps the table of the processes it heard.
 *
 * Each process that serves on the bus (every service replica through
 * svc_main(), every gateway in its main; not the broker, svc.c says
 * why) publishes a beat on
 * TOPIC_HEARTBEAT every BEAT_INTERVAL_MS:
 *	{service, instance, host, pid, version, started_ms, uptime_seconds,
 *	 interval_ms, seq, state: "up", brokers: [{url, connected, since_ms}]}
 * and one with state "leaving" when it stops cleanly.  instance is
 * svc_instance() ("<host>:<pid>", the name the scheduler's leases carry).
 * brokers are the process's uplinks (bus.h): whether it is connected to
 * each broker, and since when (wall clock ms); a change of one sends a
 * beat at once, and two more soon after (beat.c), so a gateway knows
 * within milliseconds that a process has redialled a restarted broker.
 * A gateway has no database, so each one subscribes and keeps the table
 * in memory (beat_watch_*): any gateway answers the same after one
 * interval.  PUB/SUB may drop a beat: an entry is "down" only after
 * BEAT_MISSED intervals without one, "gone" at once after its goodbye.
 * With two brokers every beat arrives twice; seq (per process, started_ms
 * telling a new process with the same instance name from the old) drops
 * the copies, so a goodbye is never undone by a late copy of the beat
 * before it.  Entries are forgotten BEAT_FORGET_GONE_MS after a goodbye
 * and BEAT_FORGET_DOWN_MS after the last beat of a process that went
 * down without one; the table holds BEAT_MAX entries, making room by
 * forgetting the oldest entry not up.
 */
#ifndef SH_BEAT_H
#define SH_BEAT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define BEAT_INTERVAL_MS	2000
#define BEAT_MISSED		3
#define BEAT_FORGET_GONE_MS	(60 * 1000)
#define BEAT_FORGET_DOWN_MS	(10 * 60 * 1000)
#define BEAT_MAX		256
#define BEAT_BROKERS_MAX	4	/* in one beat */
#define BEAT_URL_MAX		128	/* a broker's URL, its NUL included */

/* ---- the publisher ------------------------------------------------- */

/*
 * Starts this process's beats as service (borrowed, static) on bus_url:
 * a thread that publishes one at once, then every interval.  0, or -1
 * (logged: the process runs on, unseen by the gateways).
 */
int	 beat_start(const char *bus_url, const char *service);
/* Publishes the goodbye and stops the thread; the socket stays open, so
 * the goodbye leaves before beat_stop() closes it.  A no-op when not
 * started or already left. */
void	 beat_leave(void);
/* beat_leave() if not done, then closes the publisher, no sooner than
 * 50 ms after the goodbye (nng has no flush: a message still queued when
 * its socket closes is lost). */
void	 beat_stop(void);

/* ---- the table ------------------------------------------------------ */

enum beat_state {
	BEAT_UP = 0,
	BEAT_DOWN,		/* no beat for BEAT_MISSED intervals */
	BEAT_GONE		/* said goodbye */
};

/* What the table knows of one process.  Strings are validated on
 * receipt: printable ASCII without quotes, backslashes or spaces, so
 * they go into JSON and Prometheus labels as they are. */
struct beat_broker {
	char		 bb_url[BEAT_URL_MAX];
	int		 bb_connected;
	long long	 bb_since_ms;	/* wall clock: its last change */
};

struct beat_entry {
	char		 be_service[32];
	char		 be_instance[80];
	char		 be_host[64];
	char		 be_version[32];
	long long	 be_pid;
	long long	 be_started_ms;	/* wall clock */
	long long	 be_uptime;	/* s, at the last beat */
	long long	 be_seq;
	long long	 be_interval_ms;
	uint64_t	 be_seen;	/* monotonic ms of the last beat */
	long long	 be_seen_wall;	/* wall clock ms of the same */
	int		 be_gone;
	long long	 be_config_version;	/* cfgsync.h; 0: none */
	int		 be_nbrokers;	/* 0: the beat had no "brokers" */
	struct beat_broker be_brokers[BEAT_BROKERS_MAX];
};

struct beat_table;

/* New empty table, or NULL.  Not thread-safe: its owner locks. */
struct beat_table *beat_table_new(void);
void	 beat_table_free(struct beat_table *bt);
/*
 * Notes one beat (body borrowed) heard at monotonic now and wall time
 * wall.  0 (noted, or a stale copy ignored), SH_EINVAL for a body that
 * is no beat, SH_ETOOBIG when the table is full of live processes.
 */
int	 beat_table_note(struct beat_table *bt, json_t *body, uint64_t now,
	    long long wall);
/*
 * Forgets what is due (see above), then copies the entries, sorted by
 * service and instance, into a new array (*outp, free()) and returns
 * their number; -1 (and *outp NULL) on ENOMEM.
 */
int	 beat_table_list(struct beat_table *bt, uint64_t now,
	    struct beat_entry **outp);
enum beat_state beat_entry_state(const struct beat_entry *be, uint64_t now);
/* "up", "down" or "gone". */
const char *beat_state_name(enum beat_state st);

/* ---- the watcher (one per process: the gateway's) ------------------- */

/* Subscribes to TOPIC_HEARTBEAT on bus_url and notes every beat in a
 * table of its own, on a thread.  0, or -1 (logged). */
int	 beat_watch_start(const char *bus_url);
void	 beat_watch_stop(void);
/* beat_table_list() of the watcher's table (thread-safe, never waits on
 * the bus), with the monotonic time it used in *nowp.  Without a watcher:
 * 0 entries. */
int	 beat_watch_list(struct beat_entry **outp, uint64_t *nowp);

#endif /* SH_BEAT_H */
