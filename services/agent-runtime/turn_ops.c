/*
 * turn_ops.c - message turns and sessions (stub: replaced by the agent
 * loop work).
 */
#include "svc.h"
#include "turn.h"

const struct svc_op turn_ops[] = {
	{ NULL, NULL }
};
