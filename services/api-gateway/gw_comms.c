/*
 * gw_comms.c - GET /api/comms/events/stream: the inter-agent events the
 * runtime publishes on TOPIC_COMMS (services/agent-runtime/comms/), as
 * server-sent events, live:
 *
 *	event: comms	{"id","timestamp","kind","source_id","source_name",
 *			 "target_id","target_name","detail"}
 *	: keep-alive	every GW_TURN_IDLE_MS without an event
 *
 * Every event goes to every open stream; the machinery (one subscriber,
 * the streams, keep-alives, a client that leaves, shutdown) is
 * gw_topic.c's.  PUB/SUB may drop an event under load; GET
 * /api/comms/events is the record.
 */
#include "gateway.h"
#include "services.h"

struct gw_topic	gw_comms_topic = GW_TOPIC_INIT(TOPIC_COMMS, "comms",
    ": comms events\n\n", "comms event stream", NULL);

int
gw_comms_stream(struct gw_req *gr)
{
	return (gw_topic_stream(&gw_comms_topic, gr, NULL, 0));
}
