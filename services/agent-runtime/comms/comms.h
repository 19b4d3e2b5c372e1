/*
 * comms/comms.h - inter-agent communication (issue 8, "Comms"): the
 * record of agents talking to each other and the operations behind
 * /api/comms/... .
 *
 * What is recorded (table comms_events, sql/009_comms.sql), each event
 * also published on TOPIC_COMMS for GET /api/comms/events/stream:
 *	AgentMessage	an agent's message to another: the agent_send tool
 *			(agents.message called by principal "agent:<id>",
 *			seen by comms_on_message()) or comms.send
 *	TaskPosted	comms.task handed a prompt to an agent
 *	TaskCompleted	and the answer came back (recorded by the comms
 *			thread, comms/ops.c)
 *	AgentSpawned	an agent made another with the agent_spawn tool
 *			(agents.spawn called by principal "agent:<id>",
 *			seen by comms_on_spawn(), which also sets the
 *			child's parent_id: the topology's ParentChild edge)
 *
 * comms.send and comms.task run the target's turn through the same door
 * as the agent_send tool: an agents.message call over the bus, by
 * principal "agent:<from>", which any replica may serve.  The operation
 * defers its reply (svc_defer) and the call is asynchronous, so no bus
 * worker waits for a turn; comms_start()/comms_stop() own the calls in
 * flight.
 *
 * Everything here is thread-safe.
 */
#ifndef COMMS_H
#define COMMS_H

#include <jansson.h>

#include "svc.h"

struct agent_state;

#define COMMS_DETAIL_MAX	4096	/* bytes of an event's detail kept */
#define COMMS_KEEP		10000	/* events kept (the newest) */
#define COMMS_LIMIT_DEFAULT	100	/* GET /api/comms/events */
#define COMMS_LIMIT_MAX		1000	/* larger limits are clamped */
#define COMMS_MESSAGE_MAX	(1024 * 1024)	/* bytes, as agents.message */

/* Records one event with kind (one of the four above), the two agents'
 * ids (borrowed; NULL for none: the name is then "") and detail (cut to
 * COMMS_DETAIL_MAX bytes on a character boundary), publishes it, and
 * returns it in the events' shape (new), or NULL (logged). */
json_t	*comms_record(struct db *db, struct agent_state *as, const char *kind,
	    const char *source_id, const char *target_id, const char *detail);

/* Hooks of agents.message and agents.spawn: when the caller is an agent
 * (principal "agent:<uuid>"), record the message to target_id (and, for
 * a spawn, make the caller the child's parent).  Best effort: a failure
 * is logged and the operation goes on.  All arguments borrowed. */
void	 comms_on_message(struct svc_ctx *c, const struct msg_req *rq,
	    const char *target_id, const char *message);
void	 comms_on_spawn(struct svc_ctx *c, const struct msg_req *rq,
	    const char *child_id);

/* The asynchronous calls of comms.send and comms.task: comms_start()
 * before serving, comms_stop() (cancels the calls still running, whose
 * requests are answered 503) before the bus client closes. */
void	 comms_start(struct agent_state *as);
void	 comms_stop(void);

/* comms.topology, comms.events, comms.send, comms.task. */
extern const struct svc_op comms_ops[];

#endif /* COMMS_H */
