/*
 * trigger/trigger.h - triggers: an agent's standing order to be told,
 * with a turn, about the events that match a pattern (notes/kernel.md 2).
 *
 * Three files:
 *	trigger/pattern.c  patterns: parse and normalise, match an event,
 *			   describe an event ({{event}}), cooldown subjects
 *			   (pure, no I/O)
 *	trigger/ops.c	   triggers.* (the /api/triggers routes), table
 *			   scheduler.triggers (sql/003_triggers.sql)
 *	trigger/fire.c	   the events thread: every replica subscribes to
 *			   TOPIC_EVENTS; a fire is decided once across
 *			   replicas by inserting its (trigger, event) row in
 *			   trigger_fires, then its turn is asked for
 *
 * Events carry depth: 0 for one nobody's trigger caused, else the depth
 * of the event whose fire's turn caused it plus one.  A fire asks for its
 * turn with caller event_depth = the event's depth + 1; agent-runtime
 * passes the caller's event_depth on to what the turn's tools ask of
 * other services, and each publisher stamps its events with the
 * event_depth of the request that caused them.  An event whose depth has
 * reached [scheduler] trigger_max_depth fires nothing: the matching
 * triggers get a fire row with status "refused" instead of a turn.
 *
 * Ownership follows jansson's words; everything is thread-safe.
 */
#ifndef TRIGGER_H
#define TRIGGER_H

#include <stddef.h>

#include <jansson.h>

#include "cfg.h"
#include "svc.h"

#define TRIGGER_MAX_PER_AGENT	50
#define TRIGGER_TEMPLATE_DEFAULT "Event: {{event}}"
#define TRIGGER_TEMPLATE_MAX	16384		/* bytes */
#define TRIGGER_PATTERN_STR_MAX	1024		/* bytes of a pattern's text */
#define TRIGGER_WORKFLOW_MAX	256		/* bytes of workflow_id */
#define TRIGGER_COOLDOWN_MAX	(366LL * 86400)	/* seconds */
#define TRIGGER_MAX_FIRES_MAX	1000000000LL
#define TRIGGER_DESC_MAX	4096		/* bytes of a description */

/* Defaults of the [scheduler] keys read by trigger_conf(). */
#define TRIGGER_DEPTH_DEFAULT		5
#define TRIGGER_COOLDOWN_DEFAULT	5
#define TRIGGER_PER_EVENT_DEFAULT	10

/* The operation table (ops.c), registered in main.c. */
extern const struct svc_op trigger_ops[];

/* Starts and stops the events thread (fire.c): main.c's module hooks. */
int	 trigger_start(void);
void	 trigger_stop(void);

/*
 * [scheduler] key (an integer in [min, max]) of cfg's document, else def:
 * trigger_max_depth, trigger_cooldown_secs, trigger_max_per_event.
 */
long long trigger_conf(const struct sh_config *cfg, const char *key,
	    long long min, long long max, long long def);

/*
 * Asks agent-runtime whether agent id (a lowercase uuid) exists
 * (agents.get): 200 with its name copied into name (may be NULL), 404,
 * or 503 when agent-runtime did not answer.  Blocks up to 5 s.
 */
int	 trigger_agent_lookup(const char *id, char *name, size_t namelen);

/* ---- pattern.c ---------------------------------------------------------- */

/*
 * Parses a pattern as the API takes it: a bare string ("all",
 * "lifecycle", "task_posted", ...) or an object with one key naming the
 * kind, whose value is an object of that kind's fields ({} or null for
 * none).  Returns the normalised object form {"<kind>": {...}} (new), or
 * NULL with why in err.
 */
json_t	*trigger_pattern_parse(json_t *in, char *err, size_t errlen);

/*
 * 1 if the event matches pattern (a normalised pattern, borrowed).  owner
 * and owner_name (NULL: unknown) are the trigger's agent, for the "self"
 * identity filter of the task patterns.
 */
int	 trigger_pattern_match(json_t *pattern, json_t *event,
	    const char *owner, const char *owner_name);

/* 1 if pattern's identity filter needs the owner's name (assignee_match
 * or creator_match "self" against a candidate that is not a uuid). */
int	 trigger_pattern_wants_name(json_t *pattern, json_t *event);

/*
 * The cooldown subject of an event for pattern (notes 2.4): the task id
 * for the task patterns, the key for the memory patterns, the agent id
 * for agent_spawned and agent_terminated; "" for none.  Borrowed from
 * event.
 */
const char *trigger_subject(json_t *pattern, json_t *event);

/* The event's one-line description, {{event}} (new, at most
 * TRIGGER_DESC_MAX bytes); NULL on ENOMEM. */
char	*trigger_describe(json_t *event);

/* template with every {{event}} replaced by desc (new); NULL on ENOMEM. */
char	*trigger_render(const char *template, const char *desc);

#endif
