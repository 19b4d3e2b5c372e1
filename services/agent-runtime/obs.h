/*
 * obs.h - what agents did, kept for operators (agent_obs.c,
 * sql/006_turn_log.sql): per turn its decision traces and timings
 * (runtime.turn_records), per agent its recent log lines
 * (runtime.agent_logs, the newest OBS_LOG_KEEP kept), and the operations
 * agents.traces, agents.metrics and agents.logs that read them back.
 * Everything lives in PostgreSQL, so any replica serves any agent.
 *
 * The turn hooks are called by turn.c.  obs_llm_start() and
 * obs_llm_done() only do arithmetic (the latter runs on the LLM engine
 * thread); the others run on a job thread and write with that job's
 * connection: one statement per log line, one per turn.  Recording is
 * best effort: a failed write is logged and never fails the turn.
 */
#ifndef OBS_H
#define OBS_H

#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "svc.h"

#define OBS_LOG_KEEP		1000	/* log lines kept per agent */
#define OBS_LINE_MAX		1000	/* bytes of one log line */
#define OBS_ERROR_MAX		4000	/* bytes of a turn's stored error */
#define OBS_INPUT_MAX		4096	/* bytes of a trace's stored input */
#define OBS_TRACES_DEFAULT	20	/* turns per agents.traces */
#define OBS_LOGS_DEFAULT	100	/* lines per agents.logs */
#define OBS_LIMIT_MAX		1000

/* A turn's own counters, embedded in struct turn (zeroed by turn_new()). */
struct obs_turn {
	uint64_t	ot_llm_t0;	/* util_now_ms() when the call began */
	long long	ot_llm_ms;	/* time in provider calls, summed */
	int		ot_llm_calls;
	int		ot_started;	/* "turn started" was written */
	int		ot_interrupted;	/* the turn ends as interrupted */
};

struct turn;

/* The first job of a turn: writes "turn started" (once per turn). */
void	 obs_turn_start(struct turn *t, struct db *db);
/* A provider call begins / ends (engine thread: no I/O). */
void	 obs_llm_start(struct turn *t);
void	 obs_llm_done(struct turn *t);
/* The answer of a provider call (resp borrowed, may be NULL): one warn
 * line per target that failed before another answered, or per target
 * tried when none did. */
void	 obs_llm_answer(struct turn *t, struct db *db, int err, json_t *resp);
/* One tool call ran: trace (borrowed, may be NULL) is its decision trace,
 * status "success", "error" or "skipped". */
void	 obs_tool(struct turn *t, struct db *db, json_t *trace,
	    const char *status);
/* The turn was interrupted (stop, interrupt): it ends as "interrupted". */
void	 obs_interrupted(struct turn *t, struct db *db);
/* The turn answers status with body (borrowed, may be NULL): writes its
 * record and its last log line. */
void	 obs_turn_end(struct turn *t, struct db *db, int status,
	    json_t *body);

/* Writes one log line for agent_id (sid may be NULL); level is "info",
 * "warn" or "error".  Prunes the agent's lines to OBS_LOG_KEEP. */
void	 obs_log(struct db *db, const char *agent_id, const char *sid,
	    const char *level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));

/* agents.traces, agents.metrics, agents.logs. */
extern const struct svc_op obs_ops[];

#endif /* OBS_H */
