/*
 * adapter.h - what every channel adapter program is built on: the
 * upstream sidecar protocol (spec/notes/protocols.md 1.3) on stdin and
 * stdout, the handshake, --describe, the configuration from the
 * environment, one poll() loop over stdin, the platform's sockets and one
 * timer, and the reconnect to the platform with backoff.
 *
 * An adapter is a struct ad_def (its description, its capabilities and
 * its callbacks) and a main() that calls ad_main().  The library owns the
 * process: it answers --describe, reads commands and writes events, polls
 * the sockets the adapter asks it to (ad_watch()) and one timer, sends
 * `ready` (again every 2 s until `ready_ack`, 5 times at most), calls the
 * adapter's ad_connect when the platform is to be (re)connected, and
 * returns from ad_main() with 0 on `shutdown` or EOF on stdin.
 *
 * Frames.  One JSON object per line each way, UTF-8, "\n"-terminated;
 * a line longer than AD_LINE_MAX is dropped whole (logged), unparseable or
 * malformed lines are logged and dropped, unknown methods are ignored.
 * Each event is written with one write() of the whole line, from the one
 * thread, so frames never interleave.  stdout carries frames only: logs
 * go to stderr (log.h), which the daemon copies into its own log.
 *
 * Single-threaded: nothing here may be called from another thread.
 */
#ifndef AD_ADAPTER_H
#define AD_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AD_LINE_MAX		(1024 * 1024)	/* a command line, bytes */
#define AD_READY_EVERY_MS	2000
#define AD_READY_TRIES		5
#define AD_BACKOFF_INITIAL_MS	500
#define AD_BACKOFF_MAX_MS	30000
#define AD_PROTOCOL_VERSION	1
#define AD_WATCH_MAX		16	/* platform sockets polled at once */

/* ---- self-description (--describe) ---------------------------------- */

enum ad_field_type {
	AD_FIELD_TEXT,
	AD_FIELD_SECRET,	/* goes to secrets.env; never logged */
	AD_FIELD_NUMBER,
	AD_FIELD_LIST,		/* comma-separated in the environment */
	AD_FIELD_BOOL,		/* "1", "true", "yes", "on" */
	AD_FIELD_SELECT,
};

/* One configuration field: its environment variable is af_key. */
struct ad_field {
	const char		*af_key;
	const char		*af_label;
	enum ad_field_type	 af_type;
	int			 af_required;
	const char		*af_placeholder;	/* or NULL */
	int			 af_advanced;
	const char *const	*af_options;	/* select: NULL-ended */
	const char		*af_default;	/* when unset, or NULL */
};

/* ---- commands (daemon -> adapter) ------------------------------------- */

enum ad_cmd_type {
	AD_CMD_UNKNOWN = 0,	/* ignored */
	AD_CMD_READY_ACK,
	AD_CMD_SEND,
	AD_CMD_TYPING,
	AD_CMD_REACTION,
	AD_CMD_INTERACTIVE,
	AD_CMD_STREAM_START,
	AD_CMD_STREAM_DELTA,
	AD_CMD_STREAM_END,
	AD_CMD_HEARTBEAT,
	AD_CMD_SHUTDOWN,
};

/*
 * A parsed command.  Every pointer is borrowed from ac_root, which the
 * struct owns until ad_cmd_release(); a field the command does not carry
 * is NULL.  ad_cmd_parse() has checked that the fields the protocol
 * requires for ac_type are there and are strings (or objects).
 */
struct ad_cmd {
	enum ad_cmd_type	 ac_type;
	const char		*ac_method;
	const char		*ac_channel_id;	/* send typing reaction
						   interactive stream_start */
	const char		*ac_text;	/* send stream_delta */
	const char		*ac_thread_id;	/* send stream_start */
	const char		*ac_user_id;	/* send: user.platform_id */
	const char		*ac_user_name;	/* send: user.display_name */
	const json_t		*ac_content;	/* send, or NULL */
	const char		*ac_message_id;	/* reaction */
	const char		*ac_reaction;	/* reaction */
	const char		*ac_phase;	/* reaction, optional */
	const char		*ac_tool_name;	/* reaction, optional */
	const json_t		*ac_message;	/* interactive: {text, buttons} */
	const char		*ac_stream_id;	/* stream_* */
	json_t			*ac_root;	/* owned */
};

/*
 * Parses one line (len bytes, no newline needed).  0 with c filled (an
 * unknown method is AD_CMD_UNKNOWN, not an error); SH_EPROTO when the line
 * is not a JSON object with a string "method", or a known command lacks a
 * required field; c is then empty.  Either way ad_cmd_release() is safe.
 */
int	 ad_cmd_parse(const char *line, size_t len, struct ad_cmd *c);
void	 ad_cmd_release(struct ad_cmd *c);
/* The method name's type (AD_CMD_UNKNOWN for any other). */
enum ad_cmd_type ad_cmd_type(const char *method);

/*
 * The line reader: feeds bytes in, hands complete lines out.  A line
 * past lr_max bytes is skipped up to its newline and counted in
 * lr_dropped.  A final line without a newline at EOF is dropped.
 */
struct ad_lines {
	char	*lr_buf;
	size_t	 lr_len;
	size_t	 lr_cap;
	size_t	 lr_max;
	int	 lr_skipping;	/* inside an oversized line */
	uint64_t lr_dropped;
	size_t	 lr_raw;	/* bytes still to hand out as they are */
};
typedef void (*ad_line_fn)(void *arg, const char *line, size_t len);
void	 ad_lines_init(struct ad_lines *lr, size_t max);
/* Calls fn for each complete line in data (the "\n" and a "\r" before it
 * removed).  0, or SH_ENOMEM (lines so far were handed out).  While
 * lr_raw is not 0 (ad_lines_raw()), the bytes are handed out as they
 * come, in pieces of any size, lr_raw counted down: fn tells them apart
 * by the count it asked for. */
int	 ad_lines_feed(struct ad_lines *lr, const char *data, size_t n,
	    ad_line_fn fn, void *arg);
void	 ad_lines_release(struct ad_lines *lr);
/* The next n bytes are raw (an IMAP literal, a length-counted body):
 * called from fn, after the line that announced them. */
void	 ad_lines_raw(struct ad_lines *lr, size_t n);

/* ---- events (adapter -> daemon) --------------------------------------- */

/* A `ready`; NULL/0 members are left out.  ar_suppress_errors: -1 leaves
 * it out, 0 or 1 is written as false or true. */
struct ad_ready {
	const char *const	*ar_capabilities;	/* NULL-ended, or NULL */
	const char		*ar_account_id;
	int			 ar_suppress_errors;
	json_t			*ar_recipients;		/* borrowed */
	json_t			*ar_header_rules;	/* borrowed */
	int			 ar_protocol_version;
};

/* A `message`; am_user_id and am_user_name are required, NULL members are
 * left out, am_is_group is written only when true. */
struct ad_msg {
	const char	*am_user_id;
	const char	*am_user_name;
	const char	*am_text;
	json_t		*am_content;	/* borrowed, or NULL */
	const char	*am_channel_id;
	const char	*am_platform;
	const char	*am_message_id;
	const char	*am_username;
	const char	*am_thread_id;
	int		 am_is_group;
	json_t		*am_metadata;	/* borrowed, or NULL */
};

/* Each returns a new frame (caller owns), or NULL out of memory or when a
 * required member is NULL. */
json_t	*ad_ev_ready(const struct ad_ready *r);
json_t	*ad_ev_message(const struct ad_msg *m);
json_t	*ad_ev_typing(const char *user_id, const char *user_name,
	    int is_typing);
json_t	*ad_ev_error(const char *message);
json_t	*ad_ev_qr_ready(const char *qr_code, const char *qr_url,
	    const char *message, const char *expires_at);
json_t	*ad_ev_qr_status(const char *status, const char *message);
/*
 * The content of a plain-text message, by the SDK's convention: "/cmd a b"
 * is {"Command": {"name": "cmd", "args": ["a", "b"]}}, anything else
 * {"Text": text}.  New, or NULL out of memory.
 */
json_t	*ad_content_from_text(const char *text);
/*
 * n bytes of platform text as UTF-8: well-formed sequences are kept, any
 * other byte is taken as Latin-1 (what IRC clients send when not UTF-8),
 * NUL as U+FFFD.  New (free()), or NULL out of memory.
 */
char	*ad_utf8_clean(const char *s, size_t n);
/* How a platform counts a message's length. */
enum ad_text_unit {
	AD_UNIT_BYTE,		/* UTF-8 bytes (Matrix) */
	AD_UNIT_UTF16,		/* UTF-16 code units (Telegram, Discord) */
};
/* n bytes of text in UTF-16 code units (a byte that starts no UTF-8
 * sequence counts one). */
size_t	 ad_utf16_len(const char *s, size_t n);
/*
 * How many bytes of s (n bytes) the next message takes, at most limit
 * units: all of it when it fits, else up to its last line break, else
 * its last space, within the limit, else as many whole characters as
 * fit (one at least); never inside a character.
 */
size_t	 ad_text_cut(const char *s, size_t n, size_t limit,
	    enum ad_text_unit unit);
/* One frame as the line written for it (no newline).  New (free()). */
char	*ad_frame_line(const json_t *frame);

/* ---- configuration ---------------------------------------------------- */

/*
 * The value of field key from the environment (empty counts as unset),
 * or its af_default.  NULL
 * when unset without a default (or key is not a field of the adapter's).
 * Borrowed: valid until the environment changes.
 */
const char *ad_conf(const char *key);
/* The same as a bool (1/0), a number in [min, max] (SH_EINVAL if not
 * one, logged), or a newly allocated NULL-ended list of the non-empty
 * comma-separated items, each trimmed (ad_list_free()). */
int	 ad_conf_bool(const char *key);
int	 ad_conf_num(const char *key, long long min, long long max,
	    long long *out);
char	**ad_conf_list(const char *key);
void	 ad_list_free(char **list);

/* ---- the process ------------------------------------------------------ */

struct ad;

/*
 * An adapter.  ad_env is the prefix of its environment variables ("IRC");
 * the library adds <PREFIX>_ALLOW_LOOPBACK (a bool: may the platform be on
 * a loopback or private address, for tests and local servers) to its
 * fields.  The callbacks run on the loop's thread; each may call the
 * ad_* functions below.
 */
struct ad_def {
	const char		*ad_name;
	const char		*ad_display_name;
	const char		*ad_description;
	const char		*ad_env;
	const struct ad_field	*ad_fields;	/* ended by af_key NULL */
	const char *const	*ad_capabilities;	/* for `ready` */

	/* Once, before the loop: check the configuration.  0, or -1 (logged):
	 * ad_main() then sends an `error` event and exits 1. */
	int	(*ad_init)(struct ad *a);
	/* Start connecting to the platform: 0 after ad_watch() of the new
	 * socket, or -1 (told with ad_error()), retried after the
	 * backoff. */
	int	(*ad_connect)(struct ad *a);
	/* A watched fd is ready (poll revents). */
	void	(*ad_io)(struct ad *a, int fd, int revents);
	/* The timer set with ad_timer() is due. */
	void	(*ad_tick)(struct ad *a);
	/* A command from the daemon (never ready_ack: the library's). */
	void	(*ad_command)(struct ad *a, const struct ad_cmd *c);
	/* Leaving (shutdown, EOF, stdout gone): close the platform
	 * politely, without blocking long. */
	void	(*ad_stop)(struct ad *a);
};

/*
 * Runs the adapter: --describe (prints the description, returns 0), else
 * the loop until shutdown or EOF (0) or a fatal error (1).  The return
 * value is main()'s.  One adapter per process: ad_conf() looks fields up
 * in def from here on.  arg is borrowed (ad_arg()).
 */
int	 ad_main(const struct ad_def *def, void *arg, int argc, char **argv);
/* def's self-description, as --describe prints it (new; NULL out of
 * memory): {name, display_name, description, fields: [{key, label, type,
 * required, placeholder, advanced, options?}]}, the library's
 * <PREFIX>_ALLOW_LOOPBACK last. */
json_t	*ad_describe(const struct ad_def *def);

/* The adapter's own state, as given to ad_main() (borrowed). */
void	*ad_arg(struct ad *a);
/*
 * Polls fd for events (POLLIN, POLLOUT) from now on, replacing what was
 * asked for it; events 0 stops watching it (do that before closing it).
 * Up to AD_WATCH_MAX fds (a curl multi's sockets, a listener and its
 * clients).  0, or -1 when the table is full (logged).  A negative fd is
 * ignored.
 */
int	 ad_watch(struct ad *a, int fd, short events);
/* Stops watching every fd. */
void	 ad_unwatch_all(struct ad *a);
/* Calls ad_tick at util_now_ms() >= at_ms; 0 cancels. */
void	 ad_timer(struct ad *a, uint64_t at_ms);
/* Sends one event (steals frame, also on failure; a NULL frame, an
 * event builder's out of memory, is logged and dropped).  0, or -1 when
 * it was not sent; stdout gone ends the loop.  Blocks while the daemon
 * does not read. */
int	 ad_emit(struct ad *a, json_t *frame);
/* Sends an `error` event with a printf-style message, and logs it. */
void	 ad_error(struct ad *a, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The platform session is up (registered): the backoff starts over. */
void	 ad_platform_up(struct ad *a);
/* The platform connection is gone (the adapter has closed its sockets):
 * stop watching every fd, say why in an `error` event and call
 * ad_connect again after the backoff. */
void	 ad_platform_down(struct ad *a, const char *why);
/* Whether <PREFIX>_ALLOW_LOOPBACK is set. */
int	 ad_allow_loopback(struct ad *a);
/* The next backoff delay in ms (doubling from AD_BACKOFF_INITIAL_MS to
 * AD_BACKOFF_MAX_MS, 20 % jitter below), for n failures so far. */
uint64_t ad_backoff_ms(unsigned int n);

#endif /* AD_ADAPTER_H */
