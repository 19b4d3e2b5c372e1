/*
 * bus.h - the message bus over nng (see proto/messages.md).
 *
 * Topology: a stateless broker (services/bus) listens on
 *   <base>.front        REQ from any client (raw REP at the broker)
 *   <base>.<service>    one per service type (raw REP at the broker)
 *   <base>.pub          publishers dial here (SUB at the broker)
 *   <base>.sub          subscribers dial here (PUB at the broker)
 * for ipc:// bases; for tcp://host:P the same five roles take ports
 * P, P+1 (pub), P+2 (sub), P+3.. (services in SVC_LIST order).
 * A bus URL may list several brokers, comma-separated; every socket dials
 * all of them (HA), and redials at once after a broker restarts (a dialer
 * without a connection for 1 s over tcp is made anew: bus.c says why).
 *
 * Clients: bus_call() blocks; bus_call_start() is asynchronous and calls
 * back on an nng thread.  Servers: bus_server_open() runs a pool of worker
 * threads, each with its own worker state (for example a database
 * connection), and calls the handler for each request.  Servers pull:
 * each worker asks every broker for work (a REQ context per broker), so
 * a broker always knows which replica holds a request and answers it 503
 * at once when that replica is lost (services/bus/README.md).
 *
 * No call here relies on nng_close() to wake a blocked receive (nng's
 * close/receive race, nanomsg/nng#1813): receives have deadlines, or are
 * cancelled with nng_aio_stop() before the socket closes.
 */
#ifndef SH_BUS_H
#define SH_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <nng/nng.h>

#include "msg.h"

/* Derives the address of role ("front", "pub", "sub" or a service name)
 * from one base URL.  Returns 0 or SH_EINVAL. */
int	 bus_addr(const char *base, const char *role, char *out, size_t outlen);

/* ---- clients -------------------------------------------------------- */
struct bus_client;

/* Opens one REQ socket per broker in url, waiting until one is connected
 * or every dial has failed once (no broker there), or 2 s pass; then up
 * to 250 ms more until every broker is connected or has failed once.
 * NULL on failure.  Calls go to the connected brokers in turn; one that a
 * broker answers "service 'x' unavailable" goes once more through another
 * connected broker, time permitting.  While no broker is connected, or
 * 2048 calls of the client are in flight, calls fail at once with
 * SH_EUNAVAIL (bus_call_start: NULL). */
struct bus_client *bus_client_open(const char *url);
void	 bus_client_close(struct bus_client *bc);
/* How many brokers are connected now.  A call sent on a broker's pipe
 * fails when that pipe goes; one still queued for a pipe when the last
 * one went waits for a redial, until its deadline. */
int	 bus_client_brokers(struct bus_client *bc);

/*
 * Sends req (borrowed) to service svc and waits up to timeout_ms for the
 * reply.  Returns 0 and fills *rep (release with msg_rep_release), or
 * SH_ETIMEDOUT / SH_EUNAVAIL / SH_EPROTO.  Thread-safe.
 */
int	 bus_call(struct bus_client *bc, const char *svc, json_t *req,
	    int timeout_ms, struct msg_rep *rep);

/*
 * Asynchronous call.  cb runs exactly once, on an nng thread, with err 0
 * and *rep filled (cb must msg_rep_release it) or err < 0 and rep NULL.
 * NULL (cb not called) when it cannot start, e.g. no broker connected.
 * The returned handle is freed with bus_call_free() -- never from inside
 * cb, and only after cb has run (or to cancel: bus_call_free cancels and
 * waits).  NULL if the call could not be started (cb is not called).
 * Every call is freed before its client is closed.
 */
struct bus_call;
typedef void (*bus_call_cb)(void *arg, int err, struct msg_rep *rep);
struct bus_call *bus_call_start(struct bus_client *bc, const char *svc,
	    json_t *req, int timeout_ms, bus_call_cb cb, void *arg);
/* The same, but the reply is decoded with msg_rep_decode_raw(): its body
 * stays text, for a relay that passes it on unchanged. */
struct bus_call *bus_call_start_raw(struct bus_client *bc, const char *svc,
	    json_t *req, int timeout_ms, bus_call_cb cb, void *arg);
void	 bus_call_free(struct bus_call *call);

/* ---- servers -------------------------------------------------------- */
struct bus_server;

/*
 * Handler: answers one request.  Runs on a worker thread with that
 * worker's state.  Returns a reply envelope (new reference) built with
 * msg_reply(); NULL means "no reply" (the caller times out).
 */
typedef json_t *(*bus_handler_fn)(void *worker, const struct msg_req *req);
typedef void *(*bus_worker_init_fn)(void *arg, int index);
typedef void (*bus_worker_fini_fn)(void *worker);

struct bus_server *bus_server_open(const char *url, const char *svc,
	    int nworkers, bus_handler_fn fn, bus_worker_init_fn init,
	    bus_worker_fini_fn fini, void *arg);
/* Stops asking for work, lets running handlers send their replies (each
 * waits at most 5 s for its broker), joins, frees.  Work that arrived but
 * did not run is answered 503 by the broker when the sockets close, and
 * so are replies still deferred (answer or drop them first). */
void	 bus_server_close(struct bus_server *bs);

/*
 * Deferred replies, for operations that take long (an agent turn): called
 * inside a handler, bus_defer() notes the request (its broker and tag) for
 * a later answer and the handler returns NULL; the worker goes on with new
 * work.  bus_deferred_reply() sends rep (borrowed; NULL tells the broker
 * to forget the request, whose caller then times out) from any thread,
 * waits up to 5 s for the broker's connection to take it (the broker
 * answers nothing), and frees bd.  It may
 * run after bus_server_close() (it then fails with SH_EUNAVAIL).  NULL
 * outside a handler or on ENOMEM.
 */
struct bus_deferred;
struct bus_deferred *bus_defer(void);
int	 bus_deferred_reply(struct bus_deferred *bd, json_t *rep);

/* ---- publish / subscribe ------------------------------------------- */
struct bus_pub;
struct bus_sub;

struct bus_pub *bus_pub_open(const char *url);
void	 bus_pub_close(struct bus_pub *bp);
/* Publishes body (borrowed) under topic; best effort, never blocks. */
int	 bus_publish(struct bus_pub *bp, const char *topic, json_t *body);

struct bus_sub *bus_sub_open(const char *url);
void	 bus_sub_close(struct bus_sub *bs);
/* Subscribes to topic (the "\n" delimiter is added here). */
int	 bus_subscribe(struct bus_sub *bs, const char *topic);
/* Waits up to timeout_ms (< 0: without a deadline); 0 and new *topic
 * (free) and *body (decref), SH_ETIMEDOUT, or SH_ECANCELED for a
 * bus_sub_wake().  One thread at a time; a thread that loops on it stops
 * by a flag it checks between calls -- set, then bus_sub_wake(), then
 * join -- never by bus_sub_close() from another thread. */
int	 bus_sub_recv(struct bus_sub *bs, int timeout_ms, char **topic,
	    json_t **body);
/* From any thread: the receive that waits returns SH_ECANCELED now, or,
 * when none waits, the next one does at once; never lost, so a loop
 * waiting without a deadline sees a flag set before the call.  Does not
 * block.  NULL: nothing. */
void	 bus_sub_wake(struct bus_sub *bs);

/* ---- uplinks: this process's brokers --------------------------------- */

/*
 * What a process tells of its own connections (its heartbeat carries
 * them: beat.h).  One uplink per broker of the bus URL, in the order the
 * process first dialled them; connected when every socket of the process
 * that dials that broker has a connection to it, so whatever the process
 * does may go through it.
 */
#define BUS_UPLINK_URL_MAX	128
struct bus_uplink {
	char		 ul_url[BUS_UPLINK_URL_MAX];	/* as in the bus URL */
	int		 ul_connected;
	int64_t		 ul_since_ms;	/* wall clock: the last change */
};
/* Copies at most max uplinks to out; returns how many.  Thread-safe. */
int	 bus_uplinks(struct bus_uplink *out, int max);
/* fn (static; NULL: none) runs after each change of an uplink's state,
 * on whatever thread saw it (an nng one, mostly), with no lock of
 * bus.c held; it must not block or call into bus.c. */
void	 bus_uplinks_watch(void (*fn)(void));

/* ---- the wire, for the broker (proto/messages.md, "Frames") --------- */

/*
 * A request frame starts with one line, "<service> <timeout ms> <id>\n",
 * then the envelope: the broker routes, sets a deadline and answers an
 * error without parsing JSON.  bus_route_parse() reads that line from
 * data (borrowed); 0, or SH_EPROTO for a malformed line.
 */
#define BUS_SVC_MAX	32
#define BUS_ID_MAX	64
struct bus_route {
	char		 ro_svc[BUS_SVC_MAX];
	char		 ro_id[BUS_ID_MAX];	/* "-" when the frame has none */
	long long	 ro_timeout_ms;		/* 0 when the frame has none */
	size_t		 ro_len;		/* the line, newline included */
};
int	 bus_route_parse(const void *data, size_t len, struct bus_route *ro);

/*
 * Between a broker and a server's worker (a REQ context), each message a
 * worker sends starts with one of these bytes; a tag (8 bytes, network
 * order) follows all but READY, and the reply envelope follows REPLY and
 * LATE.  The broker answers READY, REPLY and DROP with work -- the tag,
 * then the client's frame as it came -- whenever it has some; LATE and
 * FORGET get no answer (their sender does not wait for one).
 */
#define BUS_BK_READY	'R'	/* give me work */
#define BUS_BK_REPLY	'P'	/* the reply to tag; give me work */
#define BUS_BK_DROP	'D'	/* no reply to tag (the caller times out); work */
#define BUS_BK_LATE	'L'	/* a deferred reply to tag; no work */
#define BUS_BK_FORGET	'F'	/* no reply to deferred tag; no work */
#define BUS_TAG_LEN	8

/*
 * nng 1.5.2 can hang in its own teardown: its reaper may wait forever on a
 * pipe's receive that was prepared but never scheduled (nanomsg/nng#1813,
 * fixed in nng 1.8), so nng_close() or nng_fini() may never return,
 * whatever the application does.  Between bus_teardown_enter() and
 * bus_teardown_leave() a watchdog thread ends the process (a warning, then
 * status 0, or bus_teardown_status()'s: nothing of ours is left to do)
 * once 2 s have passed; it runs from the process's first socket on.  Every
 * close function here and bus_fini() wrap nng's teardown in them; the
 * broker wraps its own close.
 */
void	 bus_teardown_enter(void);
void	 bus_teardown_leave(void);
/* The watchdog's exit status (0 unless set): svc_main() sets 1 while the
 * service starts, so that a teardown cut during a failed start -- inside
 * the failing step's own cleanup too -- still says it failed. */
void	 bus_teardown_status(int);

/*
 * The statistics scope named scope (nng_stats_get()) under st whose child
 * key has value id, or NULL: for "listener"/"id", "dialer"/"socket".
 * nng 1.5.2's nng_stat_find_listener() and kin return the first scope of
 * that name whatever its id.
 */
nng_stat *bus_stat_scope(nng_stat *st, const char *scope, const char *key,
	    int id);

/* The last call of a process's main(): in sanitizer builds, closes
 * whatever nng still holds and waits for its threads to release it (for
 * LeakSanitizer); otherwise nothing (bus.c says why). */
void	 bus_fini(void);

#endif /* SH_BUS_H */
