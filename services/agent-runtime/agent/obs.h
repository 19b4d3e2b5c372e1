/*
 * agent/obs.h - what agents did, kept for operators (agent/obs.c,
 * sql/006_turn_log.sql): per turn its decision traces and timings
 * (runtime.turn_records), per agent its recent log lines
 * (runtime.agent_logs, the newest OBS_LOG_KEEP kept), and the operations
 * agents.traces, agents.metrics and agents.logs that read them back.
 * Everything lives in PostgreSQL, so any replica serves any agent.
 *
 * The turn hooks are called by turn/machine.c on the turn's job thread (but
 * obs_llm_done(), on the LLM engine thread under the turn's t_mtx).  They
 * only keep what happened in the turn; obs_flush() writes the log lines
 * kept so far (one statement), and obs_turn_end() writes the rest in one
 * statement together with the turn's final session save and usage row,
 * so a turn without tools commits once after its provider answered.
 * Recording is best effort: a failed write is logged and never fails the
 * turn, and never costs the session save.
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
	int		ot_started;	/* "turn started" was kept */
	int		ot_interrupted;	/* the turn ends as interrupted */
	json_t		*ot_lines;	/* log lines not yet written, or NULL */
};

/* A turn's final session save (obs_turn_end()); strings borrowed. */
struct obs_save {
	long long	 os_fence;
	const char	*os_messages;	/* JSON text */
	long long	 os_tokens;	/* context_window_tokens */
	int		 os_set_summary;
	const char	*os_summary;	/* NULL clears it (with set_summary) */
};

struct turn;

/* The first job of a turn: keeps "turn started" (once per turn). */
void	 obs_turn_start(struct turn *t);
/* A provider call begins / ends (engine thread: no I/O). */
void	 obs_llm_start(struct turn *t);
void	 obs_llm_done(struct turn *t);
/* The answer of a provider call (resp borrowed, may be NULL): one warn
 * line per target that failed before another answered, or per target
 * tried when none did. */
void	 obs_llm_answer(struct turn *t, int err, json_t *resp);
/* One tool call ran: trace (borrowed, may be NULL) is its decision trace,
 * status "success", "error" or "skipped". */
void	 obs_tool(struct turn *t, json_t *trace, const char *status);
/* The turn was interrupted (stop, interrupt): it ends as "interrupted". */
void	 obs_interrupted(struct turn *t);
/* Writes the log lines kept so far (one statement, no pruning). */
void	 obs_flush(struct turn *t, struct db *db);
/*
 * The turn answers status with body (borrowed, may be NULL): writes, in
 * one statement, its record, its kept log lines and its last one, its
 * usage row (when a provider answered), the final session save when sv
 * is not NULL, a message turn's AgentMessage audit entry (its outcome,
 * iterations and tokens, or its error), and prunes the agent's lines to
 * OBS_LOG_KEEP.  If that fails (say the agent was deleted meanwhile), the
 * save, the usage row and the entry are written on their own.  Returns the save's result: 0 (also without
 * sv), SESSION_EFENCE or -1.
 */
int	 obs_turn_end(struct turn *t, struct db *db, int status,
	    json_t *body, const struct obs_save *sv);
/* Frees what the turn kept (turn_free()). */
void	 obs_turn_release(struct turn *t);

/* agents.traces, agents.metrics, agents.logs. */
extern const struct svc_op obs_ops[];

#endif /* OBS_H */
