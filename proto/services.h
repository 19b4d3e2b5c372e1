/*
 * services.h - the service types on the bus, one place.
 *
 * A REQ frame starts with one of these names; the broker keeps one backend
 * socket per name and load-balances each over however many replicas dial
 * it.  The order fixes the tcp:// port offsets (proto/messages.md).
 */
#ifndef PROTO_SERVICES_H
#define PROTO_SERVICES_H

#define SVC_AGENT_RUNTIME	"agent-runtime"
#define SVC_SCHEDULER		"scheduler"
#define SVC_MEMORY		"memory"
#define SVC_AUDIT		"audit"
#define SVC_CHANNELS		"channels"

/* Every service that answers requests, in port-offset order. */
#define SVC_LIST	{ SVC_AGENT_RUNTIME, SVC_SCHEDULER, SVC_MEMORY, \
			  SVC_AUDIT, SVC_CHANNELS, NULL }
#define SVC_COUNT	5

/* The operations (OP_*) and route parameters (PARAM_*). */
#include "ops.h"

/* Published topics (the frame prefix; subscribers add the "\n"). */
#define TOPIC_LIFECYCLE	"lifecycle"	/* agent spawned/killed/updated */
#define TOPIC_TURN_CONTROL "turn.control"	/* stop a turn: {agent_id,
						   session_id?} */
/* A gateway's stream of turn events: this prefix and the gateway's id. */
#define TOPIC_TURN_STREAM "turn."
/* The channels service's stream of turn events (every replica subscribes;
 * the one running the channel's adapter acts): the caller's stream of the
 * agents.message a channel's message asks, stream_id "<channel>:<row>". */
#define TOPIC_CHAN_STREAM "turn.channels"
#define TOPIC_COMMS	"comms"		/* an inter-agent event (comms/) */
/* A decided approval (approval/): {id, agent_id, status}; wakes the
 * replica whose turn waits on it. */
#define TOPIC_APPROVALS	"approvals"
/* What triggers match (notes/kernel.md 2.1): every service publishes its
 * events here, built by msg_event(); proto/messages.md lists them. */
#define TOPIC_EVENTS	"events"
/* Log lines of every service and replica (libshared/log.c, best effort):
 * {timestamp, level, service, target, pid, host, message}. */
#define TOPIC_LOGS	"logs"
/* Every process's heartbeat and goodbye (libshared/beat.h): {service,
 * instance, host, pid, version, started_ms, uptime_seconds, interval_ms,
 * seq, state: "up"/"leaving"}; each gateway keeps the table. */
#define TOPIC_HEARTBEAT	"heartbeat"
/* A new config version was stored (libshared/cfgsync.h): {version,
 * instance}; every process fetches it with config.current and applies
 * its hot part. */
#define TOPIC_CONFIG	"config"
/* POST /api/shutdown: {instance, reason}; every process stops (exit 0),
 * or, under librefangd, has librefangd stop the stack in order. */
#define TOPIC_SHUTDOWN	"shutdown"
/* The service that stores the config versions (its schema). */
#define SVC_CONFIG_OWNER	SVC_CHANNELS
/* A dashboard session was deleted (a logout): {token_hash}; every
 * gateway drops its cached copy. */
#define TOPIC_DASHSESS	"dashsess"
/* The service that stores the dashboard sessions (dashsess.*). */
#define SVC_SESSION_OWNER	SVC_CHANNELS

#endif /* PROTO_SERVICES_H */
