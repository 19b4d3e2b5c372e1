/*
 * channels.h - the channels service's modules and their contracts.
 *
 *	chan_proto.c	the sidecar protocol (spec/notes/protocols.md §1.3):
 *			events parsed into struct chan_event, commands built
 *			as JSON values.  Pure: no I/O, thread-safe.
 *	chan_conf.c	[[sidecar_channels]] from config.toml.
 *	chan_store.c	PostgreSQL: inbound messages, the outbox, leases,
 *			adapter status (sql/002_core.sql).
 *	chan_supervise.c one thread that runs every adapter child this
 *			replica holds the lease of: frames in and out,
 *			restarts with backoff, the outbox's sends.
 *	chan_router.c	a few threads that run the turns of committed
 *			inbound messages on agent-runtime and put the
 *			replies in the outbox.
 *
 * Durability (ARCHITECTURE.md §4): an inbound message is a row before
 * anything else happens to it; its turn is keyed by the row, so a turn that
 * is retried after a crash is answered from agent-runtime's idempotency key
 * instead of running twice; the reply is an outbox row, one per inbound
 * message, marked sent once its frame is wholly written to the adapter's
 * stdin.  No bus worker ever waits on an adapter or a turn.
 */
#ifndef CHANNELS_H
#define CHANNELS_H

#include <sys/types.h>

#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "svc.h"
#include "util.h"

/* ---- chan_proto.c ------------------------------------------------- */

/* The longest frame (one line) an adapter may write; longer is garbage. */
#define CHAN_FRAME_MAX		(1024 * 1024)

enum chan_ev_type {
	CHAN_EV_UNKNOWN,	/* a method we do not know: ignored */
	CHAN_EV_READY,
	CHAN_EV_MESSAGE,
	CHAN_EV_TYPING,
	CHAN_EV_ERROR,
	CHAN_EV_QR_READY,
	CHAN_EV_QR_STATUS,
	CHAN_EV_HEARTBEAT,	/* not in §1.3's events: our adapters answer
				   a heartbeat command with it (README) */
};

/* Capabilities a ready frame declares (bits of ce_caps). */
#define CHAN_CAP_TYPING		0x01
#define CHAN_CAP_REACTION	0x02
#define CHAN_CAP_INTERACTIVE	0x04
#define CHAN_CAP_THREAD		0x08
#define CHAN_CAP_STREAMING	0x10
#define CHAN_CAP_TYPING_EVENTS	0x20

/*
 * One event.  Every pointer borrows from ce_root, which chan_event_parse()
 * owns and chan_event_release() frees.  A string field that the frame
 * leaves out is NULL; a JSON field left out is NULL; an int left out is
 * -1 where the comment says so.
 */
struct chan_event {
	json_t		*ce_root;
	const char	*ce_method;
	enum chan_ev_type ce_type;

	/* ready */
	json_t		*ce_capabilities;	/* array of strings */
	unsigned int	 ce_caps;		/* CHAN_CAP_* known among them */
	const char	*ce_account_id;
	int		 ce_suppress_errors;	/* -1 left out */
	json_t		*ce_recipients;		/* notification_recipients */
	json_t		*ce_header_rules;
	json_t		*ce_protocol_version;	/* integer */

	/* message (user_id, user_name also typing) */
	const char	*ce_user_id;
	const char	*ce_user_name;
	const char	*ce_text;		/* the text field as given */
	json_t		*ce_content;		/* ChannelContent */
	const char	*ce_channel_id;
	const char	*ce_platform;
	const char	*ce_message_id;
	const char	*ce_username;
	const char	*ce_librefang_user;
	int		 ce_is_group;		/* -1 left out (false) */
	const char	*ce_thread_id;
	json_t		*ce_group_members;
	json_t		*ce_group_participants;
	json_t		*ce_metadata;

	/* typing */
	int		 ce_is_typing;		/* -1 left out */

	/* error, qr_ready, qr_status: message */
	const char	*ce_message;
	const char	*ce_qr_code;
	const char	*ce_qr_url;
	const char	*ce_expires_at;
	const char	*ce_status;		/* qr_status */
};

/*
 * Parses one line (without its newline).  0 and *ev filled; or -1 with why
 * in err when the line is no frame: not JSON, not an object, no string
 * method, params neither an object nor null, or a known event without its
 * required fields or with a field of the wrong type (garbage).  An unknown
 * method parses (CHAN_EV_UNKNOWN).  Thread-safe.
 */
int	 chan_event_parse(const char *line, size_t len, struct chan_event *ev,
	    char *err, size_t errlen);
void	 chan_event_release(struct chan_event *ev);
/* The event back as a frame (new reference; NULL on ENOMEM), from the
 * struct's fields alone: what the conformance test compares. */
json_t	*chan_event_encode(const struct chan_event *ev);
/* The text a message event carries: content's Text when it is one, else
 * text, else "" (borrowed from ev). */
const char *chan_event_text(const struct chan_event *ev);

/* Commands (daemon -> adapter), each a new reference or NULL on ENOMEM.
 * Optional arguments are NULL to leave the field out. */
json_t	*chan_cmd_bare(const char *method);	/* ready_ack, shutdown,
						   heartbeat */
json_t	*chan_cmd_send(const char *channel_id, const char *text,
	    const char *display_name, const char *librefang_user,
	    json_t *content, const char *thread_id);	/* content borrowed */
json_t	*chan_cmd_typing(const char *channel_id);
json_t	*chan_cmd_reaction(const char *channel_id, const char *message_id,
	    const char *reaction, const char *phase, const char *tool_name);
json_t	*chan_cmd_interactive(const char *channel_id, const char *text,
	    json_t *buttons);				/* buttons borrowed */
json_t	*chan_cmd_stream_start(const char *channel_id, const char *stream_id,
	    const char *thread_id);
json_t	*chan_cmd_stream_delta(const char *stream_id, const char *text);
json_t	*chan_cmd_stream_end(const char *stream_id);
/* How a platform counts a message's length. */
enum chan_text_unit {
	CHAN_UNIT_CHAR,		/* Unicode characters (code points) */
	CHAN_UNIT_UTF16,	/* UTF-16 code units (Telegram) */
	CHAN_UNIT_BYTE,		/* UTF-8 bytes */
};
/* The longest message channel_type's platform takes, in *unit (may be
 * NULL); 0: no limit known (the adapter splits, if it must). */
size_t	 chan_text_limit(const char *channel_type, enum chan_text_unit *unit);
/* The length of s (len bytes of UTF-8) in unit. */
size_t	 chan_text_units(const char *s, size_t len, enum chan_text_unit unit);
/* How many bytes of s (len bytes of UTF-8) the first message of at most
 * limit units takes: up to a paragraph break in its second half, else a
 * newline, else a space where there is one, never inside a character;
 * at least one character.  len when it all fits or limit is 0.  The
 * chunks of a text concatenate back to it. */
size_t	 chan_text_chunk(const char *s, size_t len, size_t limit,
	    enum chan_text_unit unit);
/* The reaction (emoji) of a lifecycle phase of §1.3 (queued, thinking,
 * tool_use, streaming, done, error), NULL for another (a constant). */
const char *chan_phase_emoji(const char *phase);
/* A frame as one line, newline included, into b (appended): 0 or -1. */
int	 chan_frame_line(json_t *frame, struct buf *b);

/* ---- chan_conf.c -------------------------------------------------- */

#define CHAN_NAME_MAX	64

/* Upstream's dm_policy and group_policy values (protocols.md §1.3). */
enum chan_dm_policy {
	CHAN_DM_RESPOND,		/* every direct message */
	CHAN_DM_ALLOWED_ONLY,		/* those of allowed_users */
	CHAN_DM_IGNORE,
};

enum chan_group_policy {
	CHAN_GROUP_ALL,
	CHAN_GROUP_MENTION_ONLY,	/* metadata.was_mentioned true */
	CHAN_GROUP_COMMANDS_ONLY,	/* a leading '/' or a Command */
	CHAN_GROUP_IGNORE,
};

/* One [[sidecar_channels]] entry; strings owned. */
struct chan_conf {
	char		 cc_name[CHAN_NAME_MAX];
	char		*cc_command;
	char		**cc_argv;		/* command, args..., NULL */
	json_t		*cc_env;		/* object of strings (owned) */
	char		*cc_channel_type;
	char		*cc_agent;		/* name or id; NULL: none */
	int		 cc_restart;
	long long	 cc_ready_timeout_secs;
	long long	 cc_shutdown_grace_secs;
	long long	 cc_backoff_initial_ms;
	long long	 cc_backoff_max_ms;
	long long	 cc_max_retries;
	long long	 cc_reset_after_secs;
	long long	 cc_heartbeat_secs;	/* ours: 0 off */
	enum chan_dm_policy cc_dm_policy;
	enum chan_group_policy cc_group_policy;
	json_t		*cc_allowed_users;	/* ours: array of strings
						   (owned), ids or names */
	json_t		*cc_src;		/* the entry as read (owned):
						   a reload compares it */
	json_t		*cc_env_from;		/* ours: child variable ->
						   the name of one of ours */
};

/*
 * Reads every [[sidecar_channels]] entry of doc (the parsed config.toml).
 * 0 and *out (free with chan_conf_free_all), *n entries; -1 with why in
 * err for a bad entry (missing name or command, a duplicate name, a field
 * of the wrong type or out of bounds).
 */
int	 chan_conf_load(json_t *doc, struct chan_conf **out, size_t *n,
	    char *err, size_t errlen);
void	 chan_conf_free_all(struct chan_conf *cc, size_t n);
/* 1 if s is a valid channel name (1-63 of A-Z a-z 0-9 - _ .). */
int	 chan_conf_name_ok(const char *s);
/* 1 if s is an environment variable's name ([A-Za-z_][A-Za-z0-9_]*). */
int	 chan_env_name_ok(const char *s);
struct child_env;
/* The adapter's environment into e, with home's secrets.env (release it
 * with child_env_release(), also on failure): 0, or -1 out of memory. */
int	 chan_conf_env(const struct chan_conf *cc, const char *home,
	    struct child_env *e);
/*
 * Whether cc's dm_policy or group_policy lets a message through: NULL
 * when it does, else why not (a constant string).  mentioned: the
 * adapter's metadata.was_mentioned; command: the message is a command
 * (a leading '/' or a Command content).
 */
const char *chan_policy_drop(const struct chan_conf *cc, int is_group,
	    const char *user_id, const char *user_name, int mentioned,
	    int command);

/* ---- chan_store.c ------------------------------------------------- */

/* How long a channel's or a turn's lease lasts unless renewed, and how
 * often the holder renews it. */
#define CHAN_LEASE_SECS		10
#define CHAN_RENEW_MS		3000

/* Stores a message event of channel name.  1 new, 0 a duplicate of a
 * stored one (same channel and message_id), -1 database error (logged). */
int	 chan_store_inbound(struct db *db, const char *channel,
	    const char *agent, const struct chan_event *ev);
/* Takes or renews the lease of channel for owner: 1 held, 0 someone else
 * holds it, -1 error. */
int	 chan_store_lease(struct db *db, const char *channel, const char *owner);
/* Gives up every lease of owner (a clean stop). */
void	 chan_store_unlease(struct db *db, const char *owner);
/* Renews the leases of owner's running turns. */
void	 chan_store_renew_turns(struct db *db, const char *owner);
/* Records a channel's supervision state for GET /api/channels, with the
 * capabilities and notification_recipients of its last ready (borrowed;
 * NULL: none) for the router (streaming, notify_owner). */
void	 chan_store_status(struct db *db, const char *channel,
	    const char *owner, const char *state, long long restarts,
	    const char *last_error, json_t *capabilities, json_t *recipients,
	    long long pid);
/* Caches a qr_ready / qr_status event of channel (params borrowed): a
 * qr_ready (fresh: 1) starts a new login and replaces what was cached, a
 * qr_status is merged over it. */
void	 chan_store_qr(struct db *db, const char *channel, json_t *params,
	    int fresh);

/* ---- chan_supervise.c --------------------------------------------- */

struct chan_sup;

/* Starts the supervisor thread over conf (borrowed until
 * chan_sup_stop() returns).  NULL on failure (logged). */
struct chan_sup *chan_sup_start(const struct sh_config *cfg,
	    struct chan_conf *conf, size_t n);
/* Passes frame (stolen) to channel's adapter if it is ready and declared
 * capability cap ("typing", "reaction"); else drops it.  Best effort,
 * for what may be lost.  Thread-safe. */
void	 chan_sup_notify(struct chan_sup *s, const char *channel,
	    const char *cap, json_t *frame);
/*
 * Hands the supervisor a new set of channels (conf borrowed until
 * chan_sup_stop(): never freed before).  It applies it in its thread: a
 * channel whose entry is unchanged keeps its adapter; a changed one's
 * adapter is stopped and the new one started once the old has exited; a
 * removed one's is stopped and its lease given up; a new one is started.
 * Thread-safe.
 */
void	 chan_sup_reload(struct chan_sup *s, struct chan_conf *conf, size_t n);
/* Wakes the supervisor: the outbox has rows to send. Thread-safe. */
void	 chan_sup_wake(struct chan_sup *s);
/* Stops every adapter (shutdown, EOF, kill after the grace), gives up
 * the leases, joins and frees. */
void	 chan_sup_stop(struct chan_sup *s);

/* ---- chan_router.c ------------------------------------------------ */

struct chan_router;

/* Starts nthreads turn threads; NULL on failure (logged). sup is woken
 * when a reply is in the outbox. */
struct chan_router *chan_router_start(const struct sh_config *cfg,
	    struct chan_sup *sup, int nthreads);
/* Wakes a turn thread: a new inbound row. Thread-safe. */
void	 chan_router_wake(struct chan_router *r);
/* Stops: a turn under way is abandoned (its row's lease runs out and the
 * turn is re-asked, idempotently, by whoever takes it); joins, frees. */
void	 chan_router_stop(struct chan_router *r);

/* ---- chan_stream.c ------------------------------------------------ */

/* The most text one reply streams; past it, the end sends the rest. */
#define CHAN_STREAM_MAX		(1024 * 1024)

struct chan_sub;

/*
 * Subscribes to TOPIC_CHAN_STREAM on bus_url and starts a thread that
 * queues each event and calls wake(arg) when the queue was empty.  NULL
 * on failure (logged).
 */
struct chan_sub *chan_sub_open(const char *bus_url, void (*wake)(void *),
	    void *arg);
/* The events received since the last call, oldest first: a new array, or
 * NULL when none.  Past 4096 waiting, new ones are dropped (as a full SUB
 * queue drops).  Thread-safe. */
json_t	*chan_sub_take(struct chan_sub *cs);
/* Stops the thread (within 250 ms), unsubscribes, frees; NULL is a no-op. */
void	 chan_sub_close(struct chan_sub *cs);

/* The stream_id of channel's inbound row: "<channel>:<row>". */
void	 chan_stream_id(char *buf, size_t len, const char *channel,
	    long long row);
/* Its parts back: 0 (channel into buf, *row), or -1 when id is none. */
int	 chan_stream_parse(const char *id, char *channel, size_t len,
	    long long *row);

/*
 * What one reply (inbound row st_row) streamed to an adapter.  Owned by
 * the supervisor's thread.  st_shown is every byte shown (deltas
 * written); st_seg where the current segment -- the text after the last
 * tool call -- starts in it; st_att the segment's text as the current
 * provider attempt sends it.
 */
struct chan_stream {
	long long	 st_row;
	char		 st_id[CHAN_NAME_MAX + 24];	/* stream_id */
	char		*st_channel_id;		/* the row's (owned) */
	char		*st_thread_id;		/* NULL: none */
	char		*st_message_id;		/* NULL: no reactions */
	int		 st_nostream;	/* reactions only: no streaming
					   capability, joined late, or the
					   adapter it began on died */
	int		 st_started;	/* stream_start written */
	int		 st_bad;	/* the segment diverged */
	int		 st_capped;	/* the platform's message is full */
	long long	 st_seq;	/* the last event's seq */
	uint64_t	 st_last_ms;	/* the last event, monotonic */
	struct buf	 st_shown;
	size_t		 st_seg;
	size_t		 st_units;	/* st_shown in the platform's unit */
	struct buf	 st_att;
};

/* NULL on ENOMEM; free with chan_stream_free() (NULL is a no-op). */
struct chan_stream *chan_stream_new(long long row, const char *id);
void	 chan_stream_free(struct chan_stream *st);
/*
 * A text_delta of the turn.  Returns how many bytes are newly to show
 * (*show borrowed from st until its next call), 0 when none: the text is
 * one a retried call sends again, diverges from what was shown, opens
 * with a directive, or would pass limit (units of unit; 0 none).
 */
size_t	 chan_stream_delta(struct chan_stream *st, const char *text,
	    size_t len, size_t limit, enum chan_text_unit unit,
	    const char **show);
/* The provider call is retried: its text comes again from the start. */
void	 chan_stream_restart(struct chan_stream *st);
/* A tool runs: the text after it starts a new segment. */
void	 chan_stream_segment(struct chan_stream *st);
/* How many bytes at the start of the reply text the stream showed (in its
 * last segment), or -1 when that is not the text's start. */
long long chan_stream_covered(const struct chan_stream *st, const char *text,
	    size_t len);

/* ---- main.c ------------------------------------------------------- */

/* The service's router, for the supervisor to wake (NULL before start). */
struct chan_router *chan_router(void);
/* The configured channels now: borrowed, valid until the service stops
 * (a reload's new set replaces them, the old ones are kept). */
const struct chan_conf *chan_confs(size_t *n);
/*
 * Reads config.toml's [[sidecar_channels]] again and, when they are
 * valid, makes them the service's (the supervisor applies them).  0 and,
 * when out is not NULL, {added, changed, removed, unchanged} (names; new)
 * in *out; -1 with why in err, nothing changed.  Thread-safe.
 */
int	 chan_reload(char *err, size_t errlen, json_t **out);
/* Whether config.toml, as it is now, loads whole as a config (cfg.h):
 * 0, or -1 with err.  A reload stores it as a config version. */
int	 chan_config_check(char *err, size_t errlen);
/*
 * Catches up with a reload another replica (or worker) made: applies the
 * newest config version past ours (cfgsync_catch_up(): POST
 * /api/channels/reload, a configure and the /api/config routes store
 * one), and reads the file again when a config_reloads row (an older
 * release's reload) is past the last one seen.  1 when it reloaded, else 0.
 * Called at each lease tick and before answering what is configured, so
 * a replica never answers from a config older than a configure another
 * one has acknowledged.
 */
int	 chan_sync(struct db *db);

/* ---- chan_ops.c --------------------------------------------------- */

extern const struct svc_op chan_ops[];

/* ---- chan_approve.c ----------------------------------------------- */

/* An approval decided in a chat (chan_approve_parse()). */
struct chan_approve_cmd {
	int	ac_approve;		/* else reject */
	int	ac_button;		/* a ButtonCallback, not a command */
	int	ac_bad;			/* no approval id in it */
	char	ac_id[UTIL_UUID_LEN];	/* lowercased */
	char	ac_arg[256];		/* the code, the reason: "" none */
};

/*
 * 1 when an inbound message is an approval's decision: action (a
 * ButtonCallback's, borrowed, or NULL) "approve:<id>" / "reject:<id>",
 * else text "/approve <id> [code]" / "/reject <id> [reason]"; cmd
 * filled (ac_bad: the id is missing or no UUID).  0: not one.
 */
int	 chan_approve_parse(const char *text, const char *action,
	    struct chan_approve_cmd *cmd);
/* What the chat is told of cmd's decision: agent-runtime's status and
 * body (borrowed: the request, or {error}), who decided (new text). */
char	*chan_approve_answer(const struct chan_approve_cmd *cmd, int status,
	    json_t *body, const char *who);

extern const struct svc_op chan_approve_ops[];

/* ---- chan_test.c -------------------------------------------------- */

/* The longest POST /api/channels/{name}/test waits for the adapter. */
#define CHAN_TEST_SECS	15

extern const struct svc_op chan_test_ops[];

/* ---- chan_file.c, chan_configure.c -------------------------------- */

/*
 * Replaces the [[sidecar_channels]] entry of name in the TOML file path
 * by entry (text; NULL removes it; appended when there is none), keeping
 * the rest of the file as it is; written atomically.  0 (*found: there
 * was one), or -1 with why in err.
 */
int	 chan_file_set(const char *path, const char *name, const char *entry,
	    int *found, char *err, size_t errlen);
/* The config file the service was started with ("" none). */
const char *chan_config_path(void);
/* $LIBREFANG_HOME, where secrets.env lives ("" before the start). */
const char *chan_home_dir(void);
/* 1 if an env key names a secret (*TOKEN*, *SECRET*, *PASSWORD*, *KEY*). */
int	 chan_secret_key(const char *k);

extern const struct svc_op chan_configure_ops[];

/* ---- chan_catalog.c ---------------------------------------------- */

/* One adapter of the reference; keys space-separated. */
struct chan_catalog {
	const char	*ct_name;
	const char	*ct_display;
	const char	*ct_required;
	const char	*ct_optional;
};
extern const struct chan_catalog chan_catalog[];	/* NULL-ended */

/* ---- chan_bind.c -------------------------------------------------- */

extern const struct svc_op chan_bind_ops[];
/* The agent of the binding that matches a message best, into agent: 1,
 * 0 when none matches, -1 on a database error (logged). */
int	 chan_bind_match(struct db *db, const char *channel,
	    const char *user_id, const char *channel_id,
	    const char *thread_id, int is_group, char *agent, size_t len);

/* ---- chan_webhook.c, chan_hookout.c: outbound webhooks ---------------- */

#define HOOK_ATTEMPTS_DEFAULT	6	/* [webhooks] max_attempts */
#define HOOK_BACKOFF_MS_DEFAULT	1000	/* [webhooks] backoff_base_ms */
#define HOOK_BACKOFF_MAX_DEFAULT 600	/* [webhooks] backoff_max_secs */
#define HOOK_TIMEOUT_DEFAULT	10	/* [webhooks] timeout_secs */
#define HOOK_WORKERS_DEFAULT	2	/* [webhooks] workers */
#define HOOK_WORKERS_MAX	16
#define CHAN_HOOK_SIG_LEN	(7 + 64)	/* "sha256=" and hex */

/* [webhooks], read once at start (chan_hook_conf_load()). */
struct chan_hook_conf {
	json_t		*hc_allow;	/* allowed_hosts (borrowed) or NULL */
	long long	 hc_attempts;	/* attempts before a delivery fails */
	long long	 hc_backoff_ms;	/* first retry delay, then doubled */
	long long	 hc_backoff_max_ms;
	long long	 hc_timeout_ms;	/* one POST */
	int		 hc_workers;	/* delivery threads per replica */
};

/* What one POST came to. */
struct chan_hook_result {
	long	 hr_status;	/* HTTP status, 0 when no answer came */
	long	 hr_ms;		/* how long it took */
	int	 hr_final;	/* not worth retrying (refused URL, 4xx) */
	char	 hr_err[512];	/* why it failed, "" when it did not */
};

extern const struct svc_op chan_webhook_ops[];
/* Reads [webhooks] of cfg's document (which must outlive the service):
 * 0, or -1 with why in err. */
int	 chan_hook_conf_load(const struct sh_config *cfg, char *err,
	    size_t errlen);
const struct chan_hook_conf *chan_hook_conf(void);
/* The create/update rules for a URL, without DNS: 0, or -1 with why. */
int	 chan_hook_url_check(const char *url, char *err, size_t errlen);
/* "sha256=<hex HMAC-SHA256>" of "<ts>.<body>" (ts NULL: of body) keyed
 * with secret, into out: 0 or -1. */
int	 chan_hook_sign(const char *secret, const char *ts, const char *body,
	    char out[CHAN_HOOK_SIG_LEN + 1]);
/* POSTs body, signed, to url (SSRF-checked, pinned): 0 on a 2xx answer,
 * else -1; r says what happened either way.  Blocks up to timeout_secs. */
int	 chan_hook_post(const char *url, const char *secret,
	    const char *delivery, const char *event, const char *body,
	    struct chan_hook_result *r);
/* The delivery's JSON body (new): {id, event, webhook_id, timestamp,
 * data}, data the payload's JSON text. */
char	*chan_hook_body(const char *delivery, const char *webhook,
	    const char *event, const char *created_at, const char *payload);

/* The event subscriber and the delivery threads (chan_hookout.c). */
int	 chan_hookout_start(const struct sh_config *cfg);
void	 chan_hookout_stop(void);
/* Something was queued: the delivery threads look now. */
void	 chan_hookout_wake(void);
/* A webhook was created, changed or deleted here: the subscriber reads
 * the subscribed event names again before its next event. */
void	 chan_hookout_changed(void);

#endif /* CHANNELS_H */
