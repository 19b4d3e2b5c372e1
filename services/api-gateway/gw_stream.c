/*
 * gw_stream.c - turns streamed as server-sent events (stub: replaced by
 * the streaming work).
 */
#include "gateway.h"

int
gw_stream_message(struct gw_req *gr)
{
	gw_reply_error(gr, 501, "not implemented: streaming");
	return (0);
}
