/*
 * goal/goal.h - goals: a hierarchy of objectives (notes/kernel.md 4.1),
 * the operations goals.* behind /api/goals, and the request checks that
 * the task queue (task/) shares.
 *
 * Table scheduler.goals (sql/005_goals_tasks.sql).  A goal's parent must
 * exist; a change of parent that would make a goal its own ancestor is
 * refused (400 "Circular parent reference detected"); deleting a goal
 * deletes its descendants.  The check and the change run in one
 * transaction under an advisory lock, so two replicas changing parents at
 * once cannot build a cycle between them.
 */
#ifndef GOAL_H
#define GOAL_H

#include <jansson.h>

#include "svc.h"
#include "util.h"

extern const struct svc_op goal_ops[];

/* Timestamps as the API shows them: RFC 3339 UTC, microseconds. */
#define GOAL_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " col

/* query[key]: a decimal integer in [min, max], def when absent.  0, or -1
 * after a 400. */
int	 goal_query_num(const struct msg_req *rq, const char *key,
	    long long min, long long max, long long def, long long *out,
	    struct svc_reply *rp);
/* Answers the row sql ($1 params.id, a lowercase UUID) returns: 200 with
 * it, 404 "<Noun> '<id>' not found" when there is none, 503 when the
 * database failed, 400 ("Invalid <what>") for a bad id. */
void	 goal_reply_row(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp, const char *sql, const char *what,
	    const char *noun);
/* The body as an object whose every key is in known (NULL-ended), or
 * NULL after a 400.  Borrowed from rq. */
json_t	*goal_body(const struct msg_req *rq, const char *const *known,
	    struct svc_reply *rp);
/* body[key] as UTF-8 text of min..max characters, with no NUL: 0 with
 * *out (borrowed; NULL when absent and min is 0), or -1 after a 400. */
int	 goal_text(json_t *body, const char *key, size_t min, size_t max,
	    const char **out, struct svc_reply *rp);

#endif
