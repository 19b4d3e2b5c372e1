/*
 * core/audit.c - a change and its audit entry in one transaction
 * (core/sched.h, "Audit").
 */
#include <stdarg.h>
#include <stdio.h>

#include "audit.h"
#include "core/sched.h"
#include "log.h"

int
sched_tx_begin(struct db *db)
{
	return (db_cmd(db, "BEGIN", 0, NULL));
}

int
sched_tx_commit(struct db *db, const char *agent_id, const char *fmt, ...)
{
	char	detail[1024];
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* A failed insert aborts the transaction: the change goes with it,
	 * so no change is ever left without its entry. */
	if (audit_record(db, AUDIT_CONFIG_CHANGE, agent_id, detail,
	    "ok") != 0 || db_cmd(db, "COMMIT", 0, NULL) != 0) {
		log_warnx("%s: could not record '%s': %s", __func__, detail,
		    db_errmsg(db));
		sched_tx_rollback(db);
		return (-1);
	}
	return (0);
}

void
sched_tx_rollback(struct db *db)
{
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
}
