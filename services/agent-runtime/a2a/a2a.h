/*
 * a2a/a2a.h - A2A (Agent2Agent, notes/protocols.md 4): the tasks other
 * agent systems give our agents, and the external agents we call.
 *
 * The gateway (gw_a2a.c) is the protocol edge: it speaks JSON-RPC (A2A
 * v0.3 and v1.0) and the reference's REST routes, and asks this module
 * for neutral task objects:
 *	{id, direction, context_id, agent_id, peer_id, remote_id, state,
 *	 input, message, response, error, created_at, updated_at,
 *	 completed_at}
 * with state one of the spec's lowercase v0.3 states (completed,
 * canceled, ...).  Tasks and peers live in runtime.a2a_tasks and
 * runtime.a2a_peers (sql/007_a2a.sql), so any replica answers for any
 * task and they survive restarts.
 *
 * Module by file:
 *	a2a/pool.c	 the few threads that wait for what a bus worker must
 *			 not: an inbound task's turn (agents.message, the
 *			 same operation as the native message route) and
 *			 every outbound HTTP call: a libshared pool (pool.h)
 *			 per lane; each thread owns a database connection
 *	a2a/server.c	 a2a.agents, a2a.tasks.send, a2a.tasks.get,
 *			 a2a.tasks.cancel
 *	a2a/client.c	 a2a.discover, a2a.peers.list, a2a.peers.get,
 *			 a2a.send, a2a.out.get, a2a.out.status: the peers
 *			 and the tasks given to them
 *	a2a/hook.c	 hooks.wake, hooks.agent: POST /hooks/wake and
 *			 /hooks/agent (the gateway checked the token)
 *	a2a/peer.c	 talking to a peer: the SSRF rules every outbound
 *			 URL passes ([a2a] trusted_peers re-admits private
 *			 hosts), one bounded request, the dialects
 *
 * Configuration (config.toml, read from the document): [a2a]
 * trusted_peers = ["host", "host:port", ...], timeout_secs (1..600,
 * default 30) for one outbound request, whose answer is capped at
 * A2A_BODY_MAX bytes.
 */
#ifndef A2A_H
#define A2A_H

#include <jansson.h>

#include "agent/agent.h"
#include "buf.h"
#include "db.h"
#include "svc.h"

#define A2A_WORKERS		8		/* pool threads per lane */
#define A2A_QUEUE_MAX		256		/* jobs waiting: past it, 503 */
#define A2A_TEXT_MAX		(1024 * 1024)	/* bytes of one message */
#define A2A_BODY_MAX		(1024 * 1024)	/* bytes of a peer's answer */
#define A2A_TIMEOUT_DEFAULT	30		/* [a2a] timeout_secs */
#define A2A_URL_MAX		2048
#define A2A_REAP_GRACE		5		/* s past the turn deadline */

extern const struct svc_op a2a_ops[];
/* hooks.wake and hooks.agent (a2a/hook.c): the inbound webhooks. */
extern const struct svc_op a2a_hook_ops[];

/* ---- a2a/pool.c --------------------------------------------------------- */

/* One job: runs on a pool thread with that thread's connection (which may
 * be broken: check the calls); must answer sp (svc_pending_reply). */
typedef void (*a2a_job_fn)(struct agent_state *as, struct db *db,
	    struct svc_pending *sp, json_t *arg);

/* The pool's lanes, each with its own threads and queue. */
enum a2a_lane_id {
	A2A_LANE_IN = 0,	/* inbound tasks: a local turn */
	A2A_LANE_OUT,		/* outbound calls: a peer */
	A2A_NLANES
};

/* Starts the pool.  0 or -1 (logged). */
int	 a2a_start(struct agent_state *as);
/* Runs the jobs still queued, then joins the threads (before the bus
 * workers stop, so the jobs' bus calls can be answered). */
void	 a2a_stop(void);
/*
 * Defers rq's reply and queues fn with arg (stolen, even on failure) on
 * lane.  0 (a full queue or a stopping pool answers 503 at once), or -1
 * with rp set to an error.
 */
int	 a2a_queue(const struct msg_req *rq, struct svc_reply *rp,
	    enum a2a_lane_id lane, a2a_job_fn fn, json_t *arg);

/* ---- a2a/server.c ------------------------------------------------------- */

/* The neutral task (new) by id, NULL with *errp SH_ENOTFOUND or -1. */
json_t	*a2a_task_get(struct db *db, const char *id, int *errp);

/* ---- a2a/peer.c --------------------------------------------------------- */

/* The JSON-RPC dialect a peer's card announces. */
enum a2a_dialect {
	A2A_V01 = 0,		/* the reference's tasks/send */
	A2A_V03,		/* message/send */
	A2A_V10			/* SendMessage */
};

/* The send and get methods of each dialect (index: enum a2a_dialect). */
extern const char *const a2a_send_methods[];
extern const char *const a2a_get_methods[];

/*
 * GET (body NULL) or POST body (borrowed) to url, after the SSRF rules,
 * with the header A2A-Version: version.  The answer's JSON object (new)
 * with its HTTP status in *status, or NULL with the reason in err and
 * *httperr the status to answer with (400 refused URL, 502 no or bad
 * answer, 504 none in time).  Blocks up to [a2a] timeout_secs.
 */
json_t	*a2a_http(const struct sh_config *cfg, const char *url, json_t *body,
	    const char *version, long *status, int *httperr, char *err,
	    size_t errlen);
/* The JSON-RPC endpoint (borrowed from card) and dialect of a card, or
 * NULL when it names none. */
const char *a2a_card_endpoint(json_t *card, enum a2a_dialect *d);
/* Appends the text parts of parts (any dialect) to b, one per line. */
void	 a2a_parts_text(json_t *parts, struct buf *b);
/* A peer's Task or Message (any dialect, borrowed) as {remote_id?,
 * context_id?, state (v0.3 name), response} (new), or NULL if neither. */
json_t	*a2a_remote_task(json_t *result);
/* One JSON-RPC call (params borrowed): the result object (new), or NULL
 * with err and *httperr as a2a_http() (a JSON-RPC error is 502). */
json_t	*a2a_rpc_call(const struct sh_config *cfg, const char *url,
	    enum a2a_dialect d, const char *method, json_t *params,
	    int *httperr, char *err, size_t errlen);
/* The send params for text in dialect d (new); ctx may be NULL. */
json_t	*a2a_send_params(enum a2a_dialect d, const char *text,
	    const char *ctx);

/* ---- a2a/client.c ------------------------------------------------------- */

/* The client side's operations (listed in a2a_ops[]). */
void	 a2a_op_discover(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 a2a_op_peers_list(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 a2a_op_peers_get(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 a2a_op_send(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 a2a_op_out_get(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 a2a_op_out_status(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);

#endif /* A2A_H */
