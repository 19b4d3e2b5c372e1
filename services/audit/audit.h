/*
 * audit.h - the audit service's modules.
 *
 * chain.c keeps the one audit chain of notes/kernel.md 5 in the schema
 * "audit": entries (seq from 0, no gap) and head (the tip).  Every append
 * locks head's row first, so any number of audit replicas, each with any
 * number of workers, append one after another: no fork, no gap.  The
 * entries come from the outboxes of the acting services (libshared/
 * audit.h), at least once, and are deduplicated by their entry id.
 */
#ifndef AUDIT_AUDIT_H
#define AUDIT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "cfg.h"
#include "db.h"
#include "svc.h"

#define AUDIT_HASH_HEX	65		/* 64 lowercase hex digits and NUL */
#define AUDIT_APPEND_MAX 500		/* entries per audit.append */
#define AUDIT_RECENT_MAX 500		/* GET /api/audit/recent?limit= */
#define AUDIT_RECENT_DEFAULT 50

/* One entry's fields, all borrowed; user_id and channel may be NULL. */
struct audit_fields {
	long long	 af_seq;
	const char	*af_ts;
	const char	*af_agent;
	const char	*af_action;
	const char	*af_detail;
	const char	*af_outcome;
	const char	*af_user;
	const char	*af_channel;
	const char	*af_prev;
};

/* head's one row: the chain is [at_first, at_next), at_anchor the hash
 * before at_first (genesis, or the last entry a retention trim dropped),
 * at_tip the hash of at_next - 1. */
struct audit_tip {
	long long	 at_next;
	long long	 at_first;
	char		 at_tip[AUDIT_HASH_HEX];
	char		 at_anchor[AUDIT_HASH_HEX];
};

/* The v2 hash of kernel.md 5 into out (lowercase hex), with ctx (reused
 * between calls of one thread) or, NULL, a context of its own.  0, or -1
 * when OpenSSL fails. */
int	 audit_chain_hash(EVP_MD_CTX *ctx, const struct audit_fields *f,
	    char out[AUDIT_HASH_HEX]);

/* audit.append, audit.recent, audit.verify. */
extern const struct svc_op	chain_ops[];

/* audit.verify's walk and answer into rp (backup.c asks it after a
 * restore). */
void	 chain_verify(struct svc_ctx *c, struct svc_reply *rp);
/* 1 if s is an action name of kernel.md 5, else 0. */
int	 chain_action_known(const char *s);
/* Reads head's row into *t; 0, or -1 on a database error. */
int	 chain_head(struct db *db, struct audit_tip *t);
/* In the caller's transaction: locks head's row and reads it into *t;
 * 0, or -1 on a database error. */
int	 chain_lock_head(struct db *db, struct audit_tip *t);
/* Under that lock: chains the entries of list (checked by the caller,
 * those whose id is already chained skipped) after *t, moving *t and
 * head.  The number chained, or -1 on a database error or ENOMEM. */
int	 chain_append_locked(struct db *db, json_t *list, const char *source,
	    struct audit_tip *t);

/*
 * The service's [audit] config (main.c), set before the workers serve
 * and read-only after:
 *	anchor_path			"" (off), "default" (data_dir/
 *					audit.anchor) or a path
 *	retention_days			0 = forever; any action
 *	[audit.retention]
 *	trim_interval_secs		0 = no trim
 *	retention_days_by_action	{Action: days}, before retention_days
 */
struct audit_conf {
	char		 ac_anchor[1024];	/* "" = no anchor file */
	long long	 ac_retention_days;
	long long	 ac_trim_secs;
	json_t		*ac_by_action;		/* owned; {} if none */
};
extern struct audit_conf	audit_conf;

/*
 * The external anchor file (anchor.c), kernel.md 5 step 4: one line,
 * "<next_seq> <tip_hash>\n", rewritten (tmp file and rename) after each
 * committed append, never backwards.  Both do nothing when it is off.
 */
void	 anchor_write(long long next, const char *tip);
/* The same, backwards too: after a restore put an older chain back. */
void	 anchor_reset(long long next, const char *tip);
/* Checks the file against head (re-read when appends raced the walk):
 * 0 it agrees, 1 it does not or cannot be read (err says why, *at the
 * first entry in doubt), -1 a database error. */
int	 anchor_check(struct db *db, const struct audit_tip *t, char *err,
	    size_t errlen, long long *at);

/* The retention trim's timer (retention.c); start logs and runs without
 * it when it cannot start. */
void	 retention_start(const struct sh_config *cfg);
void	 retention_stop(void);
/* One trim in its own transaction; the entries dropped, or -1. */
long long retention_trim(struct db *db, int64_t now_ms);

/*
 * Backup and restore (backup.c): backup.create, backup.list,
 * backup.delete, backup.restore.  backup_start() notes the config (the
 * database URL, the home and data directories); 0, or -1 (logged).
 */
extern const struct svc_op	backup_ops[];
int	 backup_start(const struct sh_config *cfg);

#endif /* AUDIT_AUDIT_H */
