/*
 * bus.h - the message bus over nng (see proto/messages.md).
 *
 * Topology: a stateless broker (services/bus) listens on
 *   <base>.front        REQ from any client (raw REP at the broker)
 *   <base>.<service>    one per service type (raw REQ at the broker)
 *   <base>.pub          publishers dial here (SUB at the broker)
 *   <base>.sub          subscribers dial here (PUB at the broker)
 * for ipc:// bases; for tcp://host:P the same five roles take ports
 * P, P+1 (pub), P+2 (sub), P+3.. (services in SVC_LIST order).
 * A bus URL may list several brokers, comma-separated; every socket dials
 * all of them (HA), and nng redials after a broker restarts.
 *
 * Clients: bus_call() blocks; bus_call_start() is asynchronous and calls
 * back on an nng thread.  Servers: bus_server_open() runs a pool of worker
 * threads, each with its own nng context and its own worker state (for
 * example a database connection), and calls the handler for each request.
 */
#ifndef SH_BUS_H
#define SH_BUS_H

#include <stddef.h>
#include <jansson.h>

#include "msg.h"

/* Derives the address of role ("front", "pub", "sub" or a service name)
 * from one base URL.  Returns 0 or SH_EINVAL. */
int	 bus_addr(const char *base, const char *role, char *out, size_t outlen);

/* ---- clients -------------------------------------------------------- */
struct bus_client;

/* Opens a REQ socket dialing every broker in url (waiting up to 100 ms
 * for a first connection).  NULL on failure.  While no broker is
 * connected, calls fail at once with SH_EUNAVAIL (bus_call_start: NULL). */
struct bus_client *bus_client_open(const char *url);
void	 bus_client_close(struct bus_client *bc);

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
/* Stops receiving, lets in-flight handlers finish, joins, frees.  Replies
 * still deferred then fail (answer or drop them first). */
void	 bus_server_close(struct bus_server *bs);

/*
 * Deferred replies, for operations that take long (an agent turn): called
 * inside a handler, bus_defer() keeps the request's context for a later
 * answer and the handler returns NULL; the worker goes on with a new
 * context.  bus_deferred_reply() sends rep (borrowed; NULL just drops the
 * request) from any thread, may block up to 5 s on a full pipe, and frees
 * bd.  NULL outside a handler or on ENOMEM.
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
/* Waits up to timeout_ms; 0 and new *topic (free) and *body (decref). */
int	 bus_sub_recv(struct bus_sub *bs, int timeout_ms, char **topic,
	    json_t **body);

/* Closes whatever nng still holds and waits for its threads to finish
 * releasing it; the last call of a process's main(). */
void	 bus_fini(void);

#endif /* SH_BUS_H */
