/*
 * broker.h - the bus broker (see broker.c and proto/messages.md).
 */
#ifndef BROKER_H
#define BROKER_H

struct broker;

/* Listens on every address derived from base and starts forwarding.
 * NULL on failure (logged). */
struct broker	*broker_open(const char *base);
/*
 * The stack's shutdown, as the broker sees it: once a TOPIC_SHUTDOWN
 * event went through (forwarded like every event), fn(arg, left) is
 * called once, when no peer is connected any more (left 0: every
 * process of the stack has stopped) or wait_ms later (left: the
 * connections still open).  On an nng thread: fn must not block.  Not
 * set (librefangd stops the broker itself): the event is only forwarded.
 */
void		 broker_on_shutdown(struct broker *br, int wait_ms,
		    void (*fn)(void *arg, int left), void *arg);
/* Closes every socket and joins the forwarding threads. */
void		 broker_close(struct broker *br);

#endif /* BROKER_H */
