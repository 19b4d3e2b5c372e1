/*
 * broker.h - the bus broker (see broker.c and proto/messages.md).
 */
#ifndef BROKER_H
#define BROKER_H

struct broker;

/* Listens on every address derived from base and starts forwarding.
 * NULL on failure (logged). */
struct broker	*broker_open(const char *base);
/* Closes every socket and joins the forwarding threads. */
void		 broker_close(struct broker *br);

#endif /* BROKER_H */
