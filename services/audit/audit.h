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

#include <openssl/evp.h>

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

#endif /* AUDIT_AUDIT_H */
