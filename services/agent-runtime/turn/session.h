/*
 * turn/session.h - sessions: the SQL of runtime.sessions and
 * runtime.usage_records (turn/session.c) and the pure history repair of
 * notes/agent-core.md 4.8 (turn/repair.c).  A session is changed by one
 * turn at a time (turn/turn.c holds the lock); every save checks the
 * fence the turn took with it.
 */
#ifndef TURN_SESSION_H
#define TURN_SESSION_H

#include <jansson.h>

#include "db.h"

/* ---- turn/repair.c ------------------------------------------------- */

#define REPAIR_RESULT_MAX	(64 * 1024)	/* bytes of one tool result */

struct repair_stats {
	int	rs_orphans;	/* 1: results without a tool_use */
	int	rs_empty;	/* 2: empty messages dropped */
	int	rs_moved;	/* 3, 4: results moved next to their call */
	int	rs_synthetic;	/* 5: error results made up */
	int	rs_duplicates;	/* 6: duplicate results (and calls) */
	int	rs_merged;	/* 7: same-role messages merged */
	int	rs_sanitized;	/* 8: results cut or defused */
	int	rs_leading;	/* 9: leading non-user messages dropped */
};

/*
 * Repairs a history (notes 4.8; borrowed array of 4.5 messages) into a
 * new array in which every assistant tool_use is answered, in the very
 * next (user) message, by exactly one tool_result, roles alternate, no
 * message is empty and the first message is a user's.  System messages
 * are kept where they are.  NULL only on ENOMEM.  st may be NULL.
 */
json_t	*session_repair(json_t *messages, struct repair_stats *st);
/* The total of st's counters. */
int	 session_repair_count(const struct repair_stats *st);
/* The text of a message's content (string, or its text blocks joined by
 * newlines), new; "" when none.  NULL on ENOMEM. */
char	*session_content_text(json_t *content);

/* ---- turn/session.c ------------------------------------------------ */

#define SESSION_EFENCE		-110	/* another turn took the session */
#define SESSION_EOTHER		-111	/* it belongs to another agent */
#define SESSION_ELABEL		-112	/* label taken */
#define SESSION_EBUSY		-113	/* another turn has the session */

/* What a turn reads when it takes a session. */
struct session_take {
	long long	 st_fence;
	json_t		*st_messages;	/* new */
	char		*st_summary;	/* new or NULL */
	char		*st_model_override;	/* new or NULL */
	json_t		*st_peers;	/* new: up to peers_max names of the
					   other agents, oldest first */
	int		 st_msg_events;	/* a service wants Message events
					   (event_interest) */
	long long	 st_catalog_ver; /* catalog_resolve()'s ver */
	long long	 st_skill_ver;	/* skill_prompt()'s ver */
};

/* The advisory-lock key of a session (its first 64 bits). */
long long session_lock_key(const char *sid);
/*
 * Takes session sid for a turn, in one statement on lockdb (the replica's
 * lock connection): pg_try_advisory_lock(session_lock_key(sid)), and
 * only when it was got the take: creates the session if missing, bumps
 * its fence, clears its interrupt flag and reads it, with the names of up
 * to peers_max agents other than self (the prompt's peers, which would
 * otherwise cost the turn a round trip) and the catalog's and the
 * skills' versions.  0 (locked and taken),
 * SESSION_EBUSY (not locked), SESSION_EOTHER (locked, not taken: the
 * caller unlocks), SH_ENOMEM or -1 (the lock's state unknown: the
 * caller unlocks).
 */
int	 session_take(struct db *lockdb, const char *sid, const char *agent_id,
	    const char *self, int peers_max, struct session_take *out);
void	 session_take_release(struct session_take *st);
/* Writes messages (borrowed), the token estimate and, when set_summary,
 * the summary (NULL clears it) if the fence still holds, and reads the
 * session's interrupt flag in the same statement (*interrupted, may be
 * NULL).  0, SESSION_EFENCE or -1. */
int	 session_save(struct db *db, const char *sid, long long fence,
	    json_t *messages, long long ctx_tokens, int set_summary,
	    const char *summary, int *interrupted);
/* The same with the messages already as JSON text (borrowed). */
int	 session_save_js(struct db *db, const char *sid, long long fence,
	    const char *js, long long ctx_tokens, int set_summary,
	    const char *summary, int *interrupted);
/* 1 if the session's interrupt flag is set (or its fence moved on), 0,
 * or -1. */
int	 session_interrupted(struct db *db, const char *sid, long long fence);
/* Sets the interrupt flag of one session (sid) or of every session of
 * the agent (sid NULL).  Returns the rows touched, or -1. */
int	 session_set_interrupt(struct db *db, const char *agent_id,
	    const char *sid);
/* Makes sure a session row exists for agent_id (no fence bump).  0,
 * SESSION_EOTHER or -1. */
int	 session_ensure(struct db *db, const char *sid, const char *agent_id);
/* One session (new object: session_id, agent_id, label, message_count,
 * context_window_tokens, model_override, created_at, updated_at, active,
 * and messages when with_messages), NULL with *errp SH_ENOTFOUND or -1. */
json_t	*session_get(struct db *db, const char *sid, int with_messages,
	    int *errp);
/* The sessions of one agent (agent_id) or of all (NULL), newest first,
 * without messages (new array), NULL on a database error. */
json_t	*session_list(struct db *db, const char *agent_id, long long limit,
	    long long offset);
/* The session of agent_id labelled label (new), NULL as session_get. */
json_t	*session_by_label(struct db *db, const char *agent_id,
	    const char *label, int *errp);
/* Creates a session.  0, SESSION_ELABEL or -1. */
int	 session_create(struct db *db, const char *sid, const char *agent_id,
	    const char *label);
/* Deletes one session (0, SH_ENOTFOUND, -1), or every session of an
 * agent (returns the count or -1). */
int	 session_delete(struct db *db, const char *sid, char *agent_out);
long long session_delete_agent(struct db *db, const char *agent_id);
/* Sets or clears (NULL) a label.  0, SH_ENOTFOUND, SESSION_ELABEL, -1. */
int	 session_set_label(struct db *db, const char *sid, const char *label);
/* Moves agents.session_id.  0, SH_ENOTFOUND or -1. */
int	 session_point(struct db *db, const char *agent_id, const char *sid);
/* Deletes sessions whose agent is gone; the count or -1. */
long long session_cleanup(struct db *db);
/* Sessions whose messages contain q (case-insensitive), newest first
 * (new array of {session_id, agent_id, label, message_count, snippet}). */
json_t	*session_search(struct db *db, const char *q, const char *agent_id,
	    long long limit);
/* Records one usage row.  0 or -1. */
int	 session_usage_insert(struct db *db, const char *agent_id,
	    const char *sid, const char *provider, const char *model,
	    long long in, long long out, long long cache_read,
	    long long cache_create, double cost, int iterations);

#endif /* TURN_SESSION_H */
