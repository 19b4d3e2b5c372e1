/*
 * memory.h - what the memory service's files share.
 */
#ifndef MEMORY_H
#define MEMORY_H

#include <jansson.h>

#include "svc.h"

/* kv.c: memory.kv.* */
extern const struct svc_op kv_ops[];

/* Publishes body (borrowed) on topic; best effort, thread-safe (main.c). */
void	 memory_publish(const char *topic, json_t *body);

#endif
