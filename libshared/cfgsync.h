/*
 * cfgsync.h - live configuration across every process and replica, and
 * the stack's shutdown.
 *
 * config.toml changes through /api/config/set and /api/config/reload
 * (the operations below, served by SVC_CONFIG_OWNER, whose schema holds
 * the table config_versions).  Each change is a row: the whole file's
 * text, numbered; the row is announced on TOPIC_CONFIG.  Every process
 * (svc_main() for the services, the gateway itself) runs one cfgsync
 * thread: on an announcement, at start, and every CFGSYNC_POLL_MS (a
 * missed announcement, a broker that came back, a process on another host
 * that rejoins), it asks config.current for a newer version, loads its
 * text as its config (its own environment still overriding), plans the
 * change with the key table (cfg_plan()), applies the hot part in place
 * (cfg_apply_hot(): log_level here, the rest by the service's apply
 * hook) and logs what needs a restart.
 *
 * At start a process has read its own config.toml; the newest version
 * replaces it unless it is the same text or the file was written after
 * the version (a hand edit, shared with /api/config/reload).
 *
 * TOPIC_SHUTDOWN asks every process to stop: one run by librefangd
 * (LIBREFANG_SUPERVISOR_PID is its parent) has librefangd stop the whole
 * stack in order (SIGTERM to it, as Ctrl-C); any other one stops itself
 * (SIGTERM to itself: svc_wait() returns, exit 0).  The broker, which
 * runs no cfgsync thread, sees the event go through it and stops once
 * the processes it carried have left (services/bus/main.c), unless
 * librefangd runs it (svc_supervisor()).
 */
#ifndef SH_CFGSYNC_H
#define SH_CFGSYNC_H

#include <jansson.h>

#include "cfg.h"
#include "svc.h"

#define CFGSYNC_POLL_MS		5000

/*
 * A service's part of a change: runs after the hot keys were written
 * into cfg (the live one), with the plan (borrowed; cfg_plan()), on the
 * cfgsync thread or an operation's worker, one change at a time.
 */
typedef void (*cfgsync_apply_fn)(struct sh_config *cfg, json_t *plan,
	    void *arg);

/* Starts the thread for the live cfg (borrowed until cfgsync_stop()),
 * naming the process service.  0, or -1 (logged; the process runs on
 * without live changes). */
int	 cfgsync_start(struct sh_config *cfg, const char *service,
	    cfgsync_apply_fn fn, void *arg);
void	 cfgsync_stop(void);
/* The config version applied here (0: none yet). */
long long cfgsync_version(void);
/* Publishes TOPIC_SHUTDOWN, then stops this process the same way
 * (after delay_ms, so that a reply can leave first).  0 or -1. */
int	 cfgsync_shutdown(const char *reason, int delay_ms);

/*
 * config.toml as it is now (under cfg_file_lock()): stored as a new
 * version, audited with detail, unless it is the newest version's text
 * (force: stored all the same -- a restore, which put back an archive's
 * versions, older than those the processes applied: only a version past
 * theirs is applied); applied here and announced, so every process
 * applies it.  What config.reload does, and the channels service's
 * reloads with it (on SVC_CONFIG_OWNER, whose schema holds
 * config_versions).  0 with *plan (new; NULL: not wanted) and *version;
 * -1 with rp set (400: the file does not load as a config; 5xx).
 */
int	 cfgsync_reload_file(struct svc_ctx *c, struct svc_reply *rp,
	    const char *detail, int force, json_t **plan, long long *version);

/*
 * SVC_CONFIG_OWNER's own catch-up, from its database (db: its schema's):
 * applies the newest version past ours now, rather than at the next
 * announcement or poll.  1 when a version was applied, else 0.
 */
int	 cfgsync_catch_up(struct db *db);

/* config.set, config.reload, config.current (SVC_CONFIG_OWNER). */
extern const struct svc_op cfgsync_ops[];

/* One writer of config.toml at a time, in this process and across the
 * processes sharing the file (flock of "<path>.lock").  Held briefly. */
void	 cfg_file_lock(const char *path);
void	 cfg_file_unlock(void);

#endif /* SH_CFGSYNC_H */
