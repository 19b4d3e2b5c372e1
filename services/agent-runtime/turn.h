/*
 * turn.h - the agent loop: message turns and sessions.
 */
#ifndef TURN_H
#define TURN_H

#include "svc.h"

extern const struct svc_op turn_ops[];

#endif /* TURN_H */
