/*
 * dashsess.h - dashboard sessions: server-side rows behind the gateway's
 * librefang_session cookie (issue 14; proto/messages.md "Dashboard
 * sessions").
 *
 * The channels service owns them (it owns the live configuration too:
 * the gateway has no database).  dashsess.create makes a row and returns
 * the one copy of its token; only the token's SHA-256 is stored, and the
 * gateway looks a cookie up by that hash (dashsess.validate).
 * dashsess.delete (a logout) removes a row and publishes TOPIC_DASHSESS
 * {token_hash}, so every gateway replica drops what it cached at once.
 * Expired rows are refused, and purged by the next create and by a
 * look-up that meets one.
 */
#ifndef CHAN_DASHSESS_H
#define CHAN_DASHSESS_H

#include "cfg.h"
#include "svc.h"

/* Opens the invalidation publisher.  0, or -1 (logged: a logout is then
 * seen by other gateways only when their cache entry lapses). */
int	 dashsess_start(const struct sh_config *cfg);
void	 dashsess_stop(void);

extern const struct svc_op dashsess_ops[];

#endif /* CHAN_DASHSESS_H */
