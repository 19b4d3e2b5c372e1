/*
 * turn/turn.h - the agent loop: message turns (docs/agent-turns.md,
 * notes/agent-core.md 4 and 5).
 *
 * The module, file by file:
 *	turn/turn.c	 a turn's life, the registry of running turns, the
 *			 session lock, turn.control, answers and stream
 *			 events, the LLM engine glue, start and shutdown
 *	turn/machine.c	 one turn as a state machine: load, prompt, provider
 *			 call, tools, loop guard, save, answer; compaction
 *	turn/pool.c	 the job pool the states run on (turn/pool.h)
 *	turn/loop.c	 the pure pieces of an iteration: loop guard, cost,
 *			 token estimate, <think> stripping
 *	turn/prompt.c	 system prompt assembly (notes 4.2)
 *	turn/ops.c	 agents.message, agents.stop and the sessions.*
 *			 operations
 *	turn/session.c	 the SQL of sessions and usage (turn/session.h)
 *	turn/repair.c	 the pure history repair of notes 4.8
 *
 * A turn never holds a thread while a provider thinks: its blocking steps
 * run as jobs on the pool (each pool thread owns a database connection)
 * and its provider calls run in the LLM engine, whose done callback only
 * queues the next job.
 */
#ifndef TURN_H
#define TURN_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/obs.h"
#include "buf.h"
#include "catalog/catalog.h"
#include "llm/llm.h"
#include "services.h"
#include "svc.h"
#include "turn/pool.h"
#include "turn/session.h"
#include "util.h"

#define TURN_MESSAGE_MAX	(1024 * 1024)	/* bytes of one user message */
#define TURN_TEMPERATURE_MAX	2.0		/* agents.message temperature */
#define TURN_MAX_TOKENS_MAX	1000000000LL	/* max_tokens of a model whose
						   max output is unknown */
#define TURN_ITERATIONS_DEFAULT	50
#define TURN_ITERATIONS_MAX	1000
#define TURN_LOCK_RETRY_MS	25		/* busy session: retry after */
#define TURN_CHAIN_MAX		8		/* primary + fallbacks */
#define TURN_ERROR_MAX		1023		/* bytes of a failed turn's error */
#define TURN_HISTORY_DEFAULT	60		/* max_history_messages */
#define TURN_COMPACT_MESSAGES	30		/* threshold_messages */
#define TURN_KEEP_RECENT	10		/* keep_recent */
#define TURN_COMPACT_RATIO	0.7		/* token_threshold_ratio */
#define TURN_SUMMARY_MAX	8000		/* chars of a stored summary */
#define TURN_SUMMARY_TOKENS	1024		/* max_summary_tokens */
#define TURN_STOP_GRACE_MS	15000		/* shutdown: wait for turns */
#define TURN_NOTIFY_TEXT_MAX	4096		/* bytes of a text in a
						   Message event */
#define TURN_EMPTY_TEXT		"[The agent completed processing but " \
				"returned no text response. (%lld in / " \
				"%lld out | %d iter)]"

/* ---- turn/turn.c: a turn, the registry, the lock ------------------ */

enum turn_kind {
	TURN_MESSAGE = 0,
	TURN_COMPACT
};

struct turn_usage {
	long long	 u_in;
	long long	 u_out;
	long long	 u_cache_read;
	long long	 u_cache_create;
	double		 u_cost;
};

struct loop_guard;

/* caller.idempotency_key of agents.message: at most this many bytes. */
#define TURN_IDEM_KEY_MAX	128

struct turn {
	pthread_mutex_t		 t_mtx;		/* t_call, t_llm_* */
	struct turn		*t_next;	/* registry */
	struct agent_state	*t_as;
	enum turn_kind		 t_kind;
	struct svc_pending	*t_pending;	/* NULL once answered */
	int64_t			 t_deadline;	/* epoch ms, 0: none */
	uint64_t		 t_started_ms;
	char			 t_agent_id[UTIL_UUID_LEN];
	char			 t_session_id[UTIL_UUID_LEN];
	char			 t_agent_name[AGENT_NAME_MAX + 1];
	int			 t_pinned;	/* the caller named the session */
	int			 t_ephemeral;	/* no history loaded or saved */
	int			 t_incognito;	/* nothing saved */
	int			 t_show_thinking;
	int			 t_depth;	/* agent_send nesting */
	int			 t_msg_events;	/* publish Message events */
	int			 t_event_depth;	/* trigger chain: caller
						   event_depth, passed on
						   by the tools */
	char			 t_trigger_id[UTIL_UUID_LEN]; /* caller
						   trigger_id: the trigger
						   whose fire this is, or "" */
	char			 t_idem_key[TURN_IDEM_KEY_MAX + 1]; /* "": none */
	char			 t_idem_run[UTIL_UUID_LEN]; /* its run
						   (turn_idem_claim()) */
	int			 t_idem_locked;	/* turn_key_lock() held:
						   turn_free() lets go */
	int			 t_idem_takeover; /* the key's first run
						   died: its partial
						   exchange is dropped */
	int			 t_idem_stored;	/* the end's statement
						   stored the answer */
	char			*t_stream;	/* topic or NULL */
	char			*t_stream_id;
	json_t			*t_row;		/* the agent row */
	json_t			*t_manifest;	/* borrowed from t_row */
	json_t			*t_user;	/* the user message */
	json_t			*t_attachments;	/* to resolve, or NULL */
	/* The caller's sampling for this turn's provider calls only
	 * (agents.message temperature, max_tokens), over the manifest's. */
	json_t			*t_temperature;	/* a number, or NULL */
	long long		 t_max_tokens;	/* 0: the manifest's */

	/* Session, once taken. */
	int			 t_registered;
	int			 t_locked;
	long long		 t_fence;
	long long		 t_catalog_ver;	/* the take read it (catalog_resolve()) */
	long long		 t_skill_ver;	/* the take read it (skill_prompt()) */
	int			 t_save_at_end;	/* turn_end() saves */
	int			 t_flag_known;	/* the last save read... */
	int			 t_flag;	/* ...the interrupt flag */
	int			 t_save_due;	/* the user's message: saved
						   with the first call's
						   reservation */
	json_t			*t_messages;
	char			*t_summary;
	char			*t_model_override;
	json_t			*t_peers;	/* read by the take, for the
						   prompt; or NULL */

	/* The model chain and the request pieces. */
	struct catalog_target	*t_chain;	/* t_nchain, or NULL */
	size_t			 t_nchain;
	json_t			*t_system;	/* string */
	json_t			*t_tools;	/* granted definitions */
	json_t			*t_tool_allow;	/* caller tool_allow: only
						   these tools (and no MCP),
						   or NULL */
	char			*t_workspace;	/* or NULL */

	/* Loop state. */
	int			 t_iter;
	int			 t_max_iter;
	int			 t_empty_retry;
	int			 t_fail_streak;
	int			 t_stall;
	int			 t_no_tools;
	int			 t_compact_split; /* messages summarised */
	int			 t_compact_kept;
	struct turn_usage	 t_usage;
	char			 t_provider[64];	/* who answered */
	char			 t_model[256];
	json_t			*t_traces;
	json_t			*t_notices;
	struct loop_guard	*t_guard;
	json_t			*t_text;	/* text of the final answer */
	atomic_int		 t_interrupted;

	/* The provider call. */
	struct llm_call		*t_call;
	int			 t_llm_done;
	int			 t_llm_err;
	json_t			*t_llm_resp;
	turn_job_fn		 t_after_llm;

	/* budget/budget.c: the turn's reservation, once it made one. */
	char			 t_budget_key[UTIL_UUID_LEN]; /* "": none */
	int			 t_budget_held;
	/* What the current call reserved (budget_turn_reserve()): its
	 * output tokens (0: no limit applies, nothing to cut), its
	 * estimated input and the prices it was reserved at. */
	long long		 t_budget_out;
	long long		 t_budget_in;
	double			 t_budget_in_per_m;
	double			 t_budget_out_per_m;
	/*
	 * The streaming cut (turn.c): a streamed call with a reservation
	 * counts its output deltas (~4 characters a token) and the text
	 * the client was shown; past the reserved output it stops
	 * showing, cancels the call and sets t_budget_cut.  Engine thread
	 * while the call runs, the job thread after its done.
	 */
	size_t			 t_stream_chars;
	struct buf		 t_stream_text;
	int			 t_budget_cut;

	/*
	 * The tool round under way (turn/machine.c), kept on the turn so
	 * that it survives a pause for an approval: the answer's content,
	 * the results so far, the next block and the round's counts.
	 */
	json_t			*t_round;
	json_t			*t_results;
	size_t			 t_round_i;
	int			 t_round_calls;
	int			 t_round_ok;
	int			 t_round_hard;
	int			 t_round_soft;
	int			 t_round_skip;
	int			 t_round_wrote;
	/* approval/gate.c: the request the turn waits on ("": none), when
	 * it expires (epoch ms) and what its timeout does. */
	char			 t_appr_id[UTIL_UUID_LEN];
	int64_t			 t_appr_expires;
	int			 t_appr_timeout;
	int			 t_appr_skip;
	/* A turn the channels router started: where its message came from
	 * ({channel, user_id, user_name, channel_id, thread_id?}; new or
	 * NULL), recorded on its approval requests and asked there. */
	json_t			*t_chat_origin;

	atomic_llong		 t_seq;		/* stream events sent */
	struct obs_turn		 t_obs;		/* agent/obs.c: timings */
};

/* Starts the pool, the engine, the lock connection and the turn.control
 * listener.  0 or -1 (logged). */
int	 turn_init(const struct sh_config *cfg);
/* Answers every turn still running with an error, then stops all of it;
 * call before svc_stop(). */
void	 turn_shutdown(void);
/* 1 once turn_shutdown() has begun. */
int	 turn_stopping(void);

/* A new turn (zeroed, mutex ready), NULL on ENOMEM; turn_free() after it
 * has been answered. */
struct turn *turn_new(struct agent_state *as, enum turn_kind kind);
void	 turn_free(struct turn *t);
/* Takes the session for t (session_take() into st): no other turn of
 * this process runs it and this replica holds its advisory lock.  1
 * taken, 0 busy, SESSION_EOTHER (another agent's session) or -1 (a
 * database error); t then holds nothing. */
int	 turn_take(struct turn *t, int peers_max, struct session_take *st);

/* ---- turn/idem.c: idempotent turns (caller.idempotency_key) -------- */

/*
 * Claims key for a turn of agent_id (NULL: a spawn-like operation) whose
 * caller (rq) waits until its deadline (none: the turn timeout); rq's
 * caller.idempotency_fingerprint and idempotency_ttl_secs, when present,
 * are kept with it.  1: claimed, run the turn; 2: claimed from a first
 * run whose replica died before it ended (nothing of it was answered:
 * run it afresh); then the caller holds turn_key_lock(key) and lets go
 * once the answer is stored, and run (unless NULL) is the key's run: new
 * with each claim anew, the first run's after a takeover.  0: rp holds the answer (the first
 * request's, 409 while it runs, 503 once lost, 422 for another
 * fingerprint); -1: rp holds a database error.
 */
int	 turn_idem_claim(struct svc_ctx *c, const struct msg_req *rq,
	    const char *key, const char *agent_id, char run[UTIL_UUID_LEN],
	    struct svc_reply *rp);
/* Runs the synchronous operation fn once per caller.idempotency_key
 * (none: every time), its answer kept under the key unless a 5xx. */
void	 turn_idem_op(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp, svc_op_fn fn);
/*
 * The owner's lock on a key while its turn runs: an in-process registry
 * and pg_try_advisory_lock on the replica's lock connection, which
 * PostgreSQL releases when the replica dies, so a retry can tell a dead
 * run from a live one.  turn_key_lock(): 1 taken, 0 held by a live
 * turn (here or elsewhere), -1 database error.  turn_key_unlock() lets
 * go of a key taken here (no-op otherwise).
 */
int	 turn_key_lock(const char *key);
void	 turn_key_unlock(const char *key);
/* 1 when key's turn has not ended (its row is running), 0 when it has or
 * the key is unknown, -1 on a database error. */
int	 turn_key_running(struct db *db, const char *key);
/* Stores the answer (body borrowed) of the turn that claimed key. */
void	 turn_idem_finish(struct db *db, const char *key, int status,
	    json_t *body);
/* The session of caller.session_key key for agent_id (uuid5 in the
 * agent's namespace): 0, or -1 (agent_id is not a uuid). */
int	 turn_key_session(const char *agent_id, const char *key,
	    char out[UTIL_UUID_LEN]);
void	 turn_unlock(struct turn *t);
/* Adds / removes t from the registry of running turns. */
void	 turn_register(struct turn *t);
void	 turn_unregister(struct turn *t);
/* Publishes {agent_id, session_id?} on turn.control and cancels the
 * matching turns of this process at once. */
void	 turn_control(struct agent_state *as, const char *agent_id,
	    const char *sid);
/* Answers t (status, body stolen) if not yet answered. */
void	 turn_reply(struct turn *t, int status, json_t *body);
/* Publishes one stream event (ev borrowed; stream_id and seq added). */
void	 turn_event(struct turn *t, json_t *ev);

/* ---- turn/notify.c: a message turn's facts on TOPIC_EVENTS ---------- */

/* Message {role: "user"}: the user's message is taken into the turn.
 * Both Message events are published only when some service wants them
 * (t_msg_events: the take's event_interest, or for an ephemeral turn
 * the value the last take of this process read). */
void	 turn_notify_received(struct turn *t);
/* The take read event_interest: remembers it for ephemeral turns. */
void	 turn_notify_wanted(int wanted);
/* What the last take read (1 before any). */
int	 turn_notify_wanted_last(void);
/* Message events published and left out (agents.metrics-like gauges). */
void	 turn_notify_counts(long long *sent, long long *skipped);
/* Message {role: "agent"} for status 200 (body: the answer, borrowed),
 * Lifecycle Crashed for a 5xx or 429; nothing for a refused request. */
void	 turn_notify_end(struct turn *t, int status, json_t *body);
/* Starts a provider call with request (borrowed); on its end, after()
 * runs on the pool with t_llm_err / t_llm_resp set.  0 or -1. */
int	 turn_llm(struct turn *t, json_t *request, int stream,
	    turn_job_fn after);
/* The first job of a message or compaction turn (turn/machine.c). */
void	 turn_job_start(struct turn *t, struct db *db);

/* ---- turn/loop.c ------------------------------------------------------ */

/* Cost of usage at the given prices (notes 4.11). */
double	 turn_cost(const struct turn_usage *u, double in_per_m,
	    double out_per_m);
/* Estimated tokens of a history (notes 4.9). */
long long turn_estimate_tokens(json_t *messages);
/* Strips <think>...</think> from text (new), putting the thinking in
 * *thinking (new or NULL). */
char	*turn_strip_think(const char *text, char **thinking);

/* Loop guard verdicts (notes 4.7). */
enum guard_verdict {
	GUARD_ALLOW = 0,
	GUARD_WARN,
	GUARD_BLOCK,
	GUARD_BREAK
};
struct loop_guard *loop_guard_new(int max_iterations);
void	 loop_guard_free(struct loop_guard *g);
/* Judges one call before it runs; msg (may be "") says why. */
enum guard_verdict loop_guard_check(struct loop_guard *g, const char *name,
	    json_t *input, char *msg, size_t msglen);
/* Records a call's result; returns GUARD_WARN with msg when the same
 * call keeps giving the same result. */
enum guard_verdict loop_guard_outcome(struct loop_guard *g, const char *name,
	    json_t *input, const char *result, char *msg, size_t msglen);

/* ---- turn/prompt.c ---------------------------------------------------- */

/* The system prompt for t (new string), notes 4.2. */
#define PROMPT_PEERS_MAX	20	/* peer agents the prompt names */
char	*turn_prompt(struct turn *t, struct db *db);

/* ---- turn/ops.c ------------------------------------------------------- */

extern const struct svc_op turn_ops[];
extern const struct svc_op turn_interest_ops[];

#endif /* TURN_H */
