/*
 * gw_ws.c - the agent WebSocket (stub: replaced by the streaming work).
 */
#include "gateway.h"

int
gw_ws_agent(struct gw_req *gr)
{
	gw_reply_error(gr, 501, "not implemented: websocket");
	return (0);
}
