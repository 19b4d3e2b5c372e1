/*
 * msg.h - the bus envelope (see proto/messages.md).
 *
 * A request on the wire is one nng message: the target service name, a
 * newline, then the JSON envelope
 *   {"v":1,"op":"agents.spawn","id":"<uuid>","deadline":<epoch ms>,
 *    "caller":{"ip":..,"principal":..,"request_id":..},
 *    "params":{..},"query":{..},"body":<any>}
 * and a reply is the JSON
 *   {"v":1,"id":"<uuid>","status":<http status>,"body":<any>
 *    [,"content_type":"text/plain"][,"headers":{..}]}
 * Published events are "topic\n{json}", subscribers filter on "topic\n".
 *
 * Decoders validate strictly (unknown envelope keys and wrong types are
 * SH_EPROTO) and return borrowed pointers into the root they keep.
 */
#ifndef SH_MSG_H
#define SH_MSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define MSG_VERSION	1
/* How every JSON text on the bus and over HTTP is written: compact, any
 * value, and floats with 15 significant digits so 0.7 stays "0.7". */
#define MSG_JSON_FLAGS	(JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))
#define MSG_MAX_SIZE	(16 * 1024 * 1024)

struct msg_req {
	json_t		*mr_root;	/* owns everything below */
	const char	*mr_op;
	const char	*mr_id;
	int64_t		 mr_deadline;	/* epoch ms; 0 = none */
	json_t		*mr_caller;	/* borrowed: object */
	json_t		*mr_params;	/* borrowed: object */
	json_t		*mr_query;	/* borrowed: object */
	json_t		*mr_body;	/* borrowed: any, JSON null if none */
};

struct msg_rep {
	json_t		*mp_root;	/* owns everything below */
	const char	*mp_id;
	int		 mp_status;
	json_t		*mp_body;	/* borrowed; NULL until msg_rep_body()
					   after msg_rep_decode_raw() */
	const char	*mp_ctype;	/* NULL for JSON */
	json_t		*mp_headers;	/* borrowed object or NULL */
	char		*mp_raw;	/* msg_rep_decode_raw(): owns a copy
					   of the envelope text */
	const char	*mp_body_text;	/* the body's JSON text in mp_raw */
	size_t		 mp_body_len;
};

/*
 * Builds a request envelope (new reference).  params, query, body and
 * caller are stolen (NULL allowed).  A fresh id is generated if id is NULL.
 */
json_t	*msg_request(const char *op, const char *id, int64_t deadline_ms,
	    json_t *caller, json_t *params, json_t *query, json_t *body);
/* Builds a reply envelope (new reference); body is stolen. */
json_t	*msg_reply(const char *id, int status, json_t *body);
/*
 * Builds an event for TOPIC_EVENTS (new reference; NULL on ENOMEM):
 * {id (a new uuid), source, target: {type: "Broadcast"}, payload:
 * {type, data}, timestamp (RFC 3339), depth}.  source is the agent the
 * event is about or "" for the system; type a payload kind of
 * notes/kernel.md 2.1 ("Lifecycle", "MemoryUpdate", "System", "Custom",
 * ...); data is stolen (NULL: {}).  depth counts the trigger fires that
 * led to it (0 for an event nobody's trigger caused), for the chain
 * limit.
 */
json_t	*msg_event(const char *source, const char *type, json_t *data,
	    int depth);
/* Builds {"error": "<fmt>"} (new reference; NULL only on ENOMEM).  The
 * one place error bodies are made, for services and the gateway alike. */
json_t	*msg_error_body(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
json_t	*msg_error_vbody(const char *fmt, va_list ap)
	    __attribute__((format(printf, 1, 0)));

/*
 * Parse and validate.  On success *out holds a new root (release with
 * msg_req_release / msg_rep_release).  On failure returns SH_EPROTO and
 * writes a reason into err.
 */
int	 msg_req_decode(const char *data, size_t len, struct msg_req *out,
	    char *err, size_t errlen);
int	 msg_req_validate(json_t *root, struct msg_req *out, char *err,
	    size_t errlen);	/* takes a new reference to root */
void	 msg_req_release(struct msg_req *r);
int	 msg_rep_decode(const char *data, size_t len, struct msg_rep *out,
	    char *err, size_t errlen);
/*
 * The same checks without building the body: the whole envelope is
 * checked as JSON text (syntax, UTF-8, nesting) and its small members
 * decoded, but the body stays text (mp_body_text, mp_body_len) for a
 * relay that passes it on unchanged.  mp_body is NULL until
 * msg_rep_body().  Unlike msg_rep_decode(), duplicate keys inside the
 * body are not looked for (the body is never turned into an object).
 */
int	 msg_rep_decode_raw(const char *data, size_t len, struct msg_rep *out,
	    char *err, size_t errlen);
/* The body as JSON (borrowed, owned by r), decoding the text on first
 * use; NULL when it cannot be decoded (out of memory). */
json_t	*msg_rep_body(struct msg_rep *r);
/*
 * The body as compact JSON text (new, NUL-terminated; *lenp set): the
 * envelope's own bytes after msg_rep_decode_raw() (r then no longer has
 * the text), else the body written out.  NULL on ENOMEM.
 */
char	*msg_rep_body_text(struct msg_rep *r, size_t *lenp);
void	 msg_rep_release(struct msg_rep *r);

/*
 * Frames a JSON value behind a prefix and a newline ("agent-runtime\n{..}").
 * Returns a new malloc'd buffer and its length, or NULL.
 */
char	*msg_frame(const char *prefix, json_t *v, size_t *lenp);
/*
 * Splits a frame at its first newline.  Returns the payload start and sets
 * *plen, copying the prefix into pfx (NUL-terminated); NULL if malformed.
 */
const char *msg_unframe(const char *data, size_t len, char *pfx,
	    size_t pfxlen, size_t *plen);

#endif /* SH_MSG_H */
