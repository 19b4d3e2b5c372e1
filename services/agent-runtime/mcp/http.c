/*
 * mcp/http.c - the Streamable HTTP transport (notes/protocols.md 3.3,
 * 3.4): not yet; an http server is shown unhealthy with this reason.
 */
#include <stdio.h>

#include <jansson.h>

#include "mcp/mcp.h"

int
mcp_http_open(struct mcp_conn *mc, json_t *spec, char *err, size_t errlen)
{
	(void)mc;
	(void)spec;
	snprintf(err, errlen, "the http transport is not supported yet");
	return (-1);
}

void
mcp_http_close(struct mcp_conn *mc)
{
	(void)mc;
}

int
mcp_http_send(struct mcp_conn *mc, json_t *msg, int64_t deadline_ms,
    json_t **answersp, char *err, size_t errlen)
{
	(void)mc;
	(void)msg;
	(void)deadline_ms;
	*answersp = NULL;
	snprintf(err, errlen, "the http transport is not supported yet");
	return (-1);
}

void
mcp_http_set_version(struct mcp_conn *mc, const char *v)
{
	(void)mc;
	(void)v;
}
