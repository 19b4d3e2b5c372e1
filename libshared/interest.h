/*
 * interest.h - a service tells agent-runtime whether it wants a turn's
 * Message events (events.interest; services/agent-runtime/turn/
 * interest.c).  The service's own statement computes the fact from its
 * own tables: one row, (boolean, timestamptz), the time being
 * statement_timestamp() so that the newest answer agent-runtime keeps
 * saw every change committed before it.  interest_send() runs after every
 * change of what the service wants, before the change is answered;
 * interest_start()'s tick sends it again every INTEREST_TICK_MS (and
 * every INTEREST_RETRY_MS while agent-runtime did not take it), so a
 * missed call heals.  A failure is logged, never the caller's error.
 */
#ifndef SH_INTEREST_H
#define SH_INTEREST_H

#include "cfg.h"
#include "db.h"

#define INTEREST_TICK_MS	30000
#define INTEREST_RETRY_MS	2000
#define INTEREST_CALL_MS	2000	/* the bus call's bound */

/* Opens the bus client and starts the tick (first send at once), whose
 * own connection uses schema.  service is the row's name (SVC_*), sql the
 * statement (all static).  0, or -1 (logged). */
int	 interest_start(const struct sh_config *cfg, const char *schema,
	    const char *service, const char *sql);
/* Computes on db (the caller's worker connection) and sends, waiting up
 * to INTEREST_CALL_MS.  0, or -1 (logged).  A no-op before
 * interest_start(). */
int	 interest_send(struct db *db);
/* Stops the tick and closes the client.  Safe when not started. */
void	 interest_stop(void);

#endif
