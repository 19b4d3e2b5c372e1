/*
 * llm/driver.h - the provider drivers: one per wire style, one file each
 * (llm/openai.c, llm/anthropic.c, llm/gemini.c, llm/ollama.c), one row
 * each in llm_drivers[] (llm/driver.c).  Private to the drivers, the
 * engine and the unit tests.
 *
 * A driver is pure functions: one builds the wire body from the canonical
 * request (llm/llm.h), one sets the URL and the authentication headers,
 * one reads a whole (non-streaming) response, one reads one stream
 * event, one says whether a stream that ended is complete.  Both readers
 * feed a struct llm_acc (llm/acc.c), which collects the blocks in order,
 * emits the stream events as the pieces arrive, and at the end builds
 * the canonical response.  Nothing outside llm/driver.c looks at a style:
 * adding a fifth is a file, a value of enum llm_style and a row.
 */
#ifndef LLM_DRIVER_H
#define LLM_DRIVER_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "llm/llm.h"

#define LLM_ERRBODY_MAX		65536	/* kept of an error response */
#define LLM_BLOCKS_MAX		512	/* content blocks in one response */
#define LLM_PROVIDER_MSG_MAX	300	/* provider text quoted in errors */

/* ---- the accumulator (llm/acc.c) ---------------------------------- */

enum llm_kind {
	LLM_K_TEXT = 1,
	LLM_K_THINKING,
	LLM_K_TOOL
};

struct llm_block {
	int		 lb_kind;
	int		 lb_key;	/* tool index / content index, -1 */
	int		 lb_started;	/* tool_use_start emitted */
	int		 lb_ended;
	struct buf	 lb_text;	/* text, thinking or argument JSON */
	char		*lb_id;
	char		*lb_name;
	json_t		*lb_input;	/* whole arguments object, or NULL */
	json_t		*lb_meta;	/* provider_metadata, or NULL */
};

/* Steals ev. */
typedef void (*llm_emit_fn)(void *arg, json_t *ev);

struct llm_acc {
	struct llm_block *a_blocks;
	size_t		 a_n;
	size_t		 a_cap;
	char		 a_stop[32];	/* canonical stop reason, "" unknown */
	long long	 a_in;
	long long	 a_out;
	long long	 a_cache_w;
	long long	 a_cache_r;
	int		 a_finished;	/* the stream's terminal marker seen */
	int		 a_saw_stop;	/* a finish / stop reason seen */
	unsigned	 a_nsynth;	/* synthesised tool ids */
	llm_emit_fn	 a_emit;	/* NULL: no events (not streaming) */
	void		*a_arg;
	char		 a_err[LLM_ERRLEN / 2];	/* why a reader failed */
};

void	 llm_acc_init(struct llm_acc *a, llm_emit_fn emit, void *arg);
void	 llm_acc_release(struct llm_acc *a);
/* Appends text or thinking (kind) to the block with key (key >= 0) or
 * to the last block when it is open and of that kind, else opens one;
 * emits text_delta / thinking_delta.  0 or SH_ENOMEM / SH_ETOOBIG. */
int	 llm_acc_text(struct llm_acc *a, int kind, int key, const char *s,
	    size_t n);
/* Opens an empty text / thinking block with key (Anthropic's
 * content_block_start). */
int	 llm_acc_open(struct llm_acc *a, int kind, int key);
/* Sets provider_metadata key k to v (v borrowed) on the last block of
 * kind (or the block with key when key >= 0). */
int	 llm_acc_meta(struct llm_acc *a, int kind, int key, const char *k,
	    json_t *v);
/* Finds or opens the tool block with key (-1: always a new one) and sets
 * what is given of id and name; emits tool_use_start once the name is
 * known.  Returns the block, or NULL (no memory, too many blocks). */
struct llm_block *llm_acc_tool(struct llm_acc *a, int key, const char *id,
	    const char *name);
/* Appends an argument fragment to the tool block with key; emits
 * tool_input_delta. */
int	 llm_acc_tool_args(struct llm_acc *a, int key, const char *s,
	    size_t n);
/* Ends one block (tool blocks emit tool_use_end), or every open block
 * when key < 0. */
void	 llm_acc_end(struct llm_acc *a, int key);
/* Ends every block and builds {"content","stop_reason","usage"} (new),
 * or NULL on ENOMEM. */
json_t	*llm_acc_finish(struct llm_acc *a);
/* Sets a_err (printf-style, redacted whole then cut, log.h) and returns
 * SH_EPROTO. */
int	 llm_acc_fail(struct llm_acc *a, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* ---- SSE / NDJSON lines (llm/sse.c) -------------------------------- */

/* Called once per complete event: event is the "event:" field or NULL,
 * data the joined "data:" lines (NUL-terminated).  Non-zero stops. */
typedef int (*llm_sse_fn)(void *arg, const char *event, const char *data,
	    size_t len);

struct llm_sse {
	struct buf	 s_line;
	struct buf	 s_data;
	char		 s_event[64];
	int		 s_have_data;
	int		 s_cr;		/* the last byte was a CR */
	int		 s_ndjson;	/* each non-empty line is an event */
};

void	 llm_sse_init(struct llm_sse *s, int ndjson, size_t max);
void	 llm_sse_release(struct llm_sse *s);
/* 0, the callback's non-zero value, or SH_ETOOBIG (a line too long). */
int	 llm_sse_feed(struct llm_sse *s, const char *p, size_t n,
	    llm_sse_fn fn, void *arg);
/* Dispatches an unterminated last line / event. */
int	 llm_sse_end(struct llm_sse *s, llm_sse_fn fn, void *arg);

/* ---- the drivers (llm/driver.c) ------------------------------------ */

struct llm_wire {
	char		*w_url;		/* new */
	struct curl_slist *w_hdrs;	/* new */
	char		*w_body;	/* new */
	size_t		 w_bodylen;
};

struct llm_driver {
	const char	*d_name;	/* "openai": llm_style_name() */
	int		 d_ndjson;	/* streams NDJSON lines, not SSE */
	const char	*d_done;	/* a data line that ends the stream and
					   is no JSON ("[DONE]"), or NULL */
	const char	*d_ping;	/* an event to skip ("ping"), or NULL */
	/* The wire body of a call (new), or NULL with err set. */
	json_t		*(*d_body)(const json_t *req,
			    const struct llm_target *t, int stream, char *err,
			    size_t errlen);
	/* Sets w_url and the authentication headers of a call to t; the
	 * key in t_api_key may be "".  0 or SH_ENOMEM. */
	int		 (*d_endpoint)(const struct llm_target *t, int stream,
			    struct llm_wire *w);
	/* Reads a whole response (root borrowed, an object that carries no
	 * "error").  0, or an error with a_err set. */
	int		 (*d_read)(struct llm_acc *a, const json_t *root);
	/* Reads one stream event (data borrowed, likewise). */
	int		 (*d_event)(struct llm_acc *a, const char *event,
			    const json_t *data);
	/* Whether a stream that ended without a transport error is
	 * complete. */
	int		 (*d_complete)(const struct llm_acc *a);
};

extern const struct llm_driver llm_openai, llm_anthropic, llm_gemini,
	    llm_ollama;
/* The driver of style, or NULL for a value out of range. */
const struct llm_driver *llm_driver(enum llm_style style);

void	 llm_wire_release(struct llm_wire *w);
/* Builds URL, headers and body of a call to t.  0 or SH_EINVAL /
 * SH_ENOMEM with err set. */
int	 llm_wire_build(const json_t *req, const struct llm_target *t,
	    int stream, struct llm_wire *w, char *err, size_t errlen);

/*
 * Reads one stream event of style into a: skips the driver's d_ping
 * events, ends at its d_done line, parses the JSON and calls its
 * d_event.  0; SH_EPROTO (garbage, a_err says
 * why); SH_EUNAVAIL (the provider reported an error in the stream,
 * a_err has its text: retry).
 */
int	 llm_stream_event(struct llm_acc *a, enum llm_style style,
	    const char *event, const char *data, size_t len);
/* Reads a whole response body of style.  0 or SH_EPROTO (a_err). */
int	 llm_parse_body(struct llm_acc *a, enum llm_style style,
	    const char *body, size_t len);
/* Whether a stream that ended without a transport error is complete. */
int	 llm_stream_complete(const struct llm_acc *a, enum llm_style style);

/*
 * The provider's own text from an error body (any style: the error
 * object's message, else the body), on one line, with every secret the
 * redactor knows and key (when not NULL, by value, whatever its length)
 * redacted in the whole text before it is cut to at most outlen - 1 and
 * LLM_PROVIDER_MSG_MAX - 1 bytes at a character boundary (log.h).
 */
void	 llm_provider_error(const char *body, size_t len, const char *key,
	    char *out, size_t outlen);
/* llm_provider_error() without a key of its own. */
void	 llm_error_text(const char *body, size_t len, char *out,
	    size_t outlen);

/* ---- pieces the drivers share (llm/driver.c) ----------------------- */

/* d_complete of the styles with an end marker: the marker or at least a
 * stop reason was seen. */
int	 llm_stream_done(const struct llm_acc *a);
/* base without trailing slashes, then suffix (new). */
char	*llm_url_join(const char *base, const char *suffix);
/* 1 if url ends with suffix, trailing slashes aside. */
int	 llm_url_ends(const char *url, const char *suffix);
/* Adds "Authorization: Bearer <key>" unless key is "".  0 or SH_ENOMEM. */
int	 llm_hdr_bearer(struct curl_slist **l, const char *key);
/* Appends "Name: value" to *l.  0 or SH_ENOMEM. */
int	 llm_hdr_add(struct curl_slist **l, const char *name,
	    const char *value);

/* The drivers' wire bodies (d_body), for the unit tests. */
json_t	*llm_openai_body(const json_t *req, const struct llm_target *t,
	    int stream, char *err, size_t errlen);
json_t	*llm_anthropic_body(const json_t *req, const struct llm_target *t,
	    int stream, char *err, size_t errlen);
json_t	*llm_gemini_body(const json_t *req, const struct llm_target *t,
	    int stream, char *err, size_t errlen);
json_t	*llm_ollama_body(const json_t *req, const struct llm_target *t,
	    int stream, char *err, size_t errlen);

/* Helpers for the translators. */
/* The text of a message's content: a string, or its text blocks joined
 * (borrowed string when content is one, else written into b). */
int	 llm_content_text(const json_t *content, struct buf *b);
/* A block's field as a string, or "" (borrowed). */
const char *llm_str(const json_t *o, const char *key);
/* The request's system text into sys: req.system, then the text of each
 * system message, joined by blank lines.  0 or an error. */
int	 llm_system_text(const json_t *req, struct buf *sys);
/* A tool result block's content as one JSON string: a string as is, text
 * blocks joined, null as "", anything else as compact JSON (new reference,
 * NULL when out of memory). */
json_t	*llm_result_text(const json_t *blk);
/* A tool's input schema, or an empty object schema (new reference). */
json_t	*llm_tool_schema(const json_t *tool);
/* The request's tools as function tools in body's "tools", the shape OpenAI
 * and Ollama share; 0, or -1 when out of memory. */
int	 llm_function_tools(json_t *body, const json_t *req);
/* The request's messages (borrowed from req), or NULL with err set when
 * it has no messages array (every d_body's first check). */
json_t	*llm_req_messages(const json_t *req, char *err, size_t errlen);
/* The start of a body whose system prompt is its first message, the shape
 * OpenAI and Ollama share: {model, messages: [{role: "system", content:
 * req.system}, when it is not empty]} (new), with *msgs its messages
 * (borrowed from it); NULL when out of memory. */
json_t	*llm_chat_body(const json_t *req, const struct llm_target *t,
	    json_t **msgs);
/* The canonical stop reasons. */
#define LLM_STOP_END	"end_turn"
#define LLM_STOP_TOOL	"tool_use"
#define LLM_STOP_MAX	"max_tokens"
#define LLM_STOP_SEQ	"stop_sequence"
#define LLM_STOP_FILTER	"content_filtered"

#endif /* LLM_DRIVER_H */
