/*
 * llm/llm.h - the LLM module: one engine thread (llm/engine.c) runs every
 * provider call of the process on a libcurl multi handle, so any number
 * of turns can wait on providers without a thread each.
 *
 * A call is described in our own canonical form (the persisted message
 * format of notes/agent-core.md 4.5) and translated by the driver of the
 * target's wire style:
 *
 *	request = {
 *	  "system": "...",			(optional)
 *	  "messages": [Message...],		(4.5: role user|assistant,
 *						 content string or blocks
 *						 text|image|tool_use|
 *						 tool_result|thinking)
 *	  "tools": [{"name","description","input_schema"}],	(optional)
 *	  "max_tokens": 4096, "temperature": 0.7,		(optional)
 *	  "thinking": {...},		(optional, Anthropic only, as is)
 *	  "extra_body": {...},		(optional, merged into the wire body)
 *	  "stream": true|false
 *	}
 *
 * Wire translation (the drivers, llm/driver.h: llm/openai.c,
 * llm/anthropic.c, llm/gemini.c, llm/ollama.c): the system prompt (and
 * any system-role message) becomes OpenAI's first "system" message,
 * Anthropic's "system", Gemini's systemInstruction; tool_result blocks
 * become OpenAI role "tool" messages, Anthropic tool_result blocks,
 * Gemini functionResponse parts ({"name", "response": {"content"|"error":
 * text}}); tool_use blocks become tool_calls / tool_use / functionCall.
 * Thinking blocks go back only to the provider that signed them
 * (provider_metadata.signature for Anthropic, .thoughtSignature for
 * Gemini); text and tool_use blocks carry Gemini's thoughtSignature back
 * the same way.  OpenAI o1/o3/o4/gpt-5
 * models get max_completion_tokens and no temperature.
 *
 * The chain is the primary target followed by the agent's fallbacks.  The
 * engine walks it (notes 6.3 and the issue): 401/403 -> next target, with
 * an error naming the key's environment variable; 429 -> wait Retry-After
 * (bounded by LLM_RETRY_AFTER_MAX_MS) and retry the same target at most
 * once, then the next target; 5xx, connection errors and dropped streams
 * -> up to LLM_RETRIES retries with exponential backoff from
 * LLM_BACKOFF_MS, then the next target; a 400 or a body it cannot parse
 * -> the next target.  When every target failed, done gets an error whose
 * text lists each target tried and why.
 *
 * The response handed to done (new reference, the callee owns it):
 *	{
 *	  "content": [Block...],	text / tool_use (input is an object) /
 *					thinking blocks, in order
 *	  "stop_reason": "end_turn"|"tool_use"|"max_tokens"|
 *			 "stop_sequence"|"content_filtered",
 *				(a missing or plain "stop" reason is
 *				 tool_use when there are tool calls)
 *	  "usage": {"input_tokens", "output_tokens",
 *		    "cache_creation_input_tokens", "cache_read_input_tokens"},
 *	  "provider": "<target provider that answered>",
 *	  "model": "<target model that answered>",
 *	  "attempts": [{"provider","model","error"}...]	(failed tries, if any)
 *	}
 * Tool-call arguments that are not a JSON object are kept as
 * {"__args_invalid": "<raw text>"} so the loop can hand an error back to
 * the model instead of failing the turn.
 *
 * Stream events (only when the request has "stream": true), each a new
 * object passed to ev and released by the engine after ev returns:
 *	{"type":"text_delta","text"}
 *	{"type":"thinking_delta","text"}
 *	{"type":"tool_use_start","id","name"}
 *	{"type":"tool_input_delta","text"}
 *	{"type":"tool_use_end","id","name","input"}
 * A retry (same or next target) after some deltas were delivered emits
 *	{"type":"restart"}
 * as soon as the retry is decided, so a consumer can discard what it
 * showed of the failed attempt.  Deltas are passed on as each piece
 * arrives; tool_use_end comes when the provider ends the block (Anthropic,
 * Gemini) or at the end of the response (OpenAI).
 *
 * A stream counts as dropped (retried like a 5xx) when the connection
 * breaks, when no byte came for LLM_IDLE_TIMEOUT_MS, or when it ends
 * without its end marker ([DONE] or a finish_reason; message_stop or a
 * stop_reason; for Gemini, any content).  t_timeout_ms bounds each attempt;
 * reaching it moves to the next target without retrying.  Provider error
 * text quoted in errors never contains the key.
 *
 * Threads: llm_start(), llm_cancel() and llm_engine_stop() may be called
 * from any thread.  ev and done always run on the engine thread and must
 * not block; done must not call llm_cancel() on its own call (it is gone),
 * ev may (the call ends once ev returns: done follows with SH_ECANCELED,
 * or with the answer when the transfer completed first).  done runs
 * exactly once per started call (also after llm_cancel(), with
 * SH_ECANCELED), after which the engine forgets the call.
 *
 * Cancelling from another thread races with done: keep the handle under
 * a mutex of your own, clear it in done (under that mutex) and call
 * llm_cancel() only while holding it and the handle is set.  (done may
 * take such a short mutex; llm_cancel() never waits for the engine.)
 */
#ifndef LLM_H
#define LLM_H

#include <stddef.h>

#include <jansson.h>

#define LLM_RETRIES		2	/* 5xx / transport retries per target */
#define LLM_BACKOFF_MS		250	/* doubled per retry */
#define LLM_RETRY_AFTER_MAX_MS	10000	/* longest Retry-After honoured */
#define LLM_CONNECT_TIMEOUT_MS	10000
#define LLM_IDLE_TIMEOUT_MS	120000	/* no byte for this long: dropped */
#define LLM_MAX_RESPONSE	(32 * 1024 * 1024)
#define LLM_ERRLEN		1024
#define LLM_RECV_BUFFER		4096L	/* curl's receive buffer per call
					   (its default, 16 KiB, times
					   1,000 waiting calls is 16 MB) */

enum llm_style {
	LLM_OPENAI = 0,		/* chat-completions */
	LLM_ANTHROPIC,		/* Messages */
	LLM_GEMINI,		/* generateContent */
	LLM_OLLAMA		/* native /api/chat (NDJSON) */
};

/* One slot of the chain.  Strings are copied by llm_start(). */
struct llm_target {
	const char	*t_provider;	/* "openai" */
	const char	*t_model;	/* wire model id, prefix stripped */
	const char	*t_base_url;	/* "https://api.openai.com/v1" */
	const char	*t_api_key;	/* NULL or "" for keyless providers */
	const char	*t_key_env;	/* "OPENAI_API_KEY", for messages */
	enum llm_style	 t_style;
	int		 t_timeout_ms;	/* whole call; 0: no limit */
};

struct llm_engine;
struct llm_call;

typedef void (*llm_event_fn)(void *arg, json_t *ev);
/* err 0: resp is the response.  Otherwise resp is {"error": "...",
 * "attempts": [...]} and err is SH_EUNAVAIL (every target failed),
 * SH_ECANCELED or SH_ENOMEM. */
typedef void (*llm_done_fn)(void *arg, int err, json_t *resp);

/* Starts the engine thread.  NULL on failure. */
struct llm_engine *llm_engine_start(void);
/* Cancels every call (their done runs), joins, frees. */
void	 llm_engine_stop(struct llm_engine *e);
/* Calls in flight (for health and bench). */
long long llm_engine_active(struct llm_engine *e);

/*
 * Starts a call: request is borrowed: its "messages" are copied, its other
 * members are referenced, so the caller must never change them in place
 * (the tool definitions and the system prompt are shared and read-only;
 * see tool/tool.c).  targets[0..ntargets) are copied.  ev may be NULL.
 * Returns a handle valid until done has run, or NULL (ENOMEM, engine
 * stopping: done is not called).
 */
struct llm_call *llm_start(struct llm_engine *e, json_t *request,
	    const struct llm_target *targets, size_t ntargets,
	    llm_event_fn ev, llm_done_fn done, void *arg);
/* Asks the engine to abort the call; done follows with SH_ECANCELED
 * unless it already ran. */
void	 llm_cancel(struct llm_call *c);

/* The style named "openai" | "anthropic" | "gemini" | "ollama" (the
 * drivers' names, llm/driver.c), or -1. */
int	 llm_style_parse(const char *name);
/* The driver's name of a style ("unknown" for a value out of range). */
const char *llm_style_name(enum llm_style s);

/* ---- blocking calls outside the engine (llm/probe.c) ---------------- */

/*
 * For providers.test and providers.ollama_detect, which answer one API
 * request each: one request on the calling thread (libshared httpc.h),
 * bounded by short timeouts, never through the engine, never retried.
 */
#define LLM_PROBE_TIMEOUT_MS	30000
#define LLM_PROBE_CONNECT_MS	10000
#define LLM_DETECT_TIMEOUT_MS	3000
#define LLM_DETECT_CONNECT_MS	1500

struct llm_probe {
	long		 lp_status;	/* the provider's status, 0: none */
	long long	 lp_ms;		/* how long the request took */
	char		 lp_error[LLM_ERRLEN];	/* no answer: why; an error
						   status: the provider's
						   text, the key redacted */
};

/* One minimal request ("ping", a few output tokens) to t through the
 * driver of its style.  0 when the provider answered, whatever the status
 * (lp_status), -1 when it did not (lp_error). */
int	 llm_probe(const struct llm_target *t, struct llm_probe *p);
/* Ollama's native base: base_url without trailing slashes and "/v1"
 * (new), NULL on ENOMEM. */
char	*llm_ollama_native(const char *base_url);
/* The names of the models an Ollama server has (GET <native
 * base>/api/tags): a new array, or NULL with err set. */
json_t	*llm_ollama_models(const char *base_url, char *err, size_t errlen);

#endif /* LLM_H */
