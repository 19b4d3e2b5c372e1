/*
 * agent/agent.h - the agent-runtime service: persistent agents.
 *
 * PostgreSQL (schema "runtime") is the only registry: every request reads
 * and writes the agents table through its worker's own connection, so any
 * number of replicas agree without talking to each other.  A read-modify-
 * write (patch, config, identity, mode) locks the row with FOR UPDATE inside
 * a transaction and also checks the row's version on write, so a lost lock
 * can never let one writer overwrite another.
 *
 * Four modules:
 *	agent/manifest.c  manifest TOML -> normalised JSON manifest, checks,
 *			  and JSON -> TOML rendering (pure, no I/O)
 *	agent/store.c	  the SQL (one function per statement shape)
 *	agent/ops.c	  the operation table, shared input checks, views,
 *			  spawn, delete, clone, bulk
 *	agent/edit.c	  the in-place changes: update, patch, mode, identity,
 *			  config, model
 *
 * Ownership follows jansson's words: "new" (caller frees or decrefs),
 * "borrowed" (valid while its owner lives).  Everything here is thread-safe
 * as long as each thread passes its own struct db.
 */
#ifndef AGENT_H
#define AGENT_H

#include <pthread.h>
#include <stddef.h>

#include <jansson.h>

#include "bus.h"
#include "cfg.h"
#include "db.h"
#include "svc.h"
#include "util.h"

/* The namespace of name-derived agent ids (UUID v5 over "agent:<name>"). */
#define AGENT_ID_NAMESPACE	"9b6ae32d-7a4f-4c1e-8d0f-a1b2c3d4e5f6"
#define AGENT_NAME_MAX		64
#define AGENT_RESERVED_PREFIX	"_operator:"
#define AGENT_BULK_MAX		100
#define AGENT_MANIFEST_MAX	(1024 * 1024)	/* bytes of manifest_toml */
#define AGENT_MAX_TOKENS_MAX	10000000LL
#define AGENT_ERRLEN		320
/* Bounds of the text fields (bytes), checked on every way in (the TOML
 * manifest, the JSON edits).  Provider, model and api_key_env are the
 * catalog's (CATALOG_PROVIDER_MAX, CATALOG_ID_MAX, CATALOG_KEY_ENV_MAX),
 * so a stored model resolves. */
#define AGENT_PROVIDER_MAX	63
#define AGENT_MODEL_MAX		255
#define AGENT_DESCRIPTION_MAX	4096
#define AGENT_PROMPT_MAX	(64 * 1024)	/* system_prompt */
#define AGENT_SHORT_MAX		256	/* version, author, module */
#define AGENT_ENV_MAX		127	/* api_key_env */
#define AGENT_URL_MAX		2048	/* base_url, avatar_url */
#define AGENT_TAGS_MAX		100
#define AGENT_TAG_MAX		256
#define AGENT_REAL_DIGITS	15	/* significant digits of stored reals */

/* Return codes beyond err.h's SH_E* set. */
#define AGENT_EEXIST		-100	/* unique name taken */
#define AGENT_ECONFLICT		-101	/* row changed under us */

/* The service's own state, shared by every worker (svc_def.sd_arg). */
struct agent_state {
	const struct sh_config	*as_cfg;	/* borrowed, lives in main */
	struct bus_pub		*as_pub;	/* NULL: events are not sent */
	pthread_mutex_t		 as_pub_mtx;
	struct bus_client	*as_bus;	/* tools' bus calls; NULL: none */
};

/* ---- agent/ops.c ------------------------------------------------------ */

/* The operation tables (each ends with a NULL name), for svc_def.sd_ops:
 * agents.* (agent/ops.c, agent/edit.c) and one agent's tool, skill and
 * MCP server lists (agent/lists.c). */
extern const struct svc_op agent_ops[];
extern const struct svc_op agent_list_ops[];

/* Publishes {"event", "agent_id", "name"} on TOPIC_LIFECYCLE; best effort,
 * never fails the caller.  Thread-safe.  "agent_spawned" and
 * "agent_killed" also go on TOPIC_EVENTS as the Lifecycle events
 * Spawned {agent_id, name} and Terminated {agent_id, reason} (what
 * triggers match), at the depth of rq's caller event_depth (rq may be
 * NULL: 0). */
void	 agent_publish(struct agent_state *as, const struct msg_req *rq,
	    const char *event, const char *id, const char *name);

/*
 * Input checks shared by the operations.  Each returns 0, or -1 after
 * putting a 400 reply in rp.  Borrowed strings stay valid while rq lives.
 */
/* 1 if s is one of the NULL-terminated list. */
int	 agent_in_list(const char *s, const char *const *list);
/* body is an object whose keys are all in allowed ("unknown field"). */
int	 agent_body_keys(json_t *body, const char *const *allowed,
	    struct svc_reply *rp);
/* body.key, when present, is a string of at most max bytes (or null if
 * nullable); *out is it (borrowed) or NULL. */
int	 agent_get_str(json_t *body, const char *key, int nullable,
	    size_t max, const char **out, struct svc_reply *rp);
/* body.key, when present, is one of the agent's text fields (provider,
 * model, description, system_prompt) within its bound (AGENT_*_MAX),
 * without NUL, and not "" for provider and model; null too if nullable.
 * *out is it (borrowed) or NULL. */
int	 agent_get_text(json_t *body, const char *key, int nullable,
	    const char **out, struct svc_reply *rp);
/* body.key, when present, is a boolean, stored in *out. */
int	 agent_get_bool(json_t *body, const char *key, int *out,
	    struct svc_reply *rp);
/* body.key, when present, is a valid agent name (agent_name_check()). */
int	 agent_check_name(json_t *body, const char *key,
	    struct svc_reply *rp);

/*
 * Whether every provider manifest m names ([model] and each fallback, each
 * with its own base_url) can be resolved (catalog_provider_check()), so
 * that a turn never meets one that cannot, and whether each api_key_env is
 * one an agent may name (catalog_key_env_check()).  With old (the stored
 * manifest), only entries whose provider or base_url changed are checked
 * (and their api_key_env, also when only it changed): an agent whose
 * provider the catalog has since lost can still be edited in other ways
 * (its turns answer provider_not_configured).  0, or the HTTP status (400
 * naming the provider or the variable, 503) with err set.
 */
int	 agent_check_models(struct db *db, json_t *m, json_t *old, char *err,
	    size_t errlen);

/* The agent row with this id (new), or NULL after replying 404 or 503. */
json_t	*agent_fetch(struct svc_ctx *c, const char *id, int for_update,
	    struct svc_reply *rp);
/* The model a manifest runs, with the "default" sentinel shown as the
 * configured [default_model] (borrowed from manifest or config). */
const char *agent_model_shown(struct svc_ctx *c, json_t *manifest);

/* ---- agent/edit.c ----------------------------------------------------- */

/* The identity fields, in display order (NULL-terminated). */
extern const char *const agent_identity_keys[];
/* All six identity fields, null where unset (new). */
json_t	*agent_identity_view(json_t *identity);
/*
 * The start of every change to one agent: begins a transaction and locks
 * agent id's row (FOR UPDATE).  0 with the transaction open, *rowp the row
 * (new) and *mp a copy of its manifest (new) to change; or -1 after
 * replying (404, 500, 503), with nothing held and no transaction open.
 */
int	 agent_edit_begin(struct svc_ctx *c, const char *id, json_t **rowp,
	    json_t **mp, struct svc_reply *rp);
/*
 * The end: writes the changed agent back (agent_store_update(), all
 * arguments borrowed) and commits.  0, or -1 after replying (409 on a name
 * taken or a concurrent change, 404, 503); the caller then rolls back.
 */
int	 agent_edit_commit(struct svc_ctx *c, json_t *row, const char *name,
	    json_t *m, const char *source, json_t *identity, const char *mode,
	    struct svc_reply *rp);

void	 agent_op_update(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 agent_op_patch(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 agent_op_mode(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 agent_op_identity(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 agent_op_config(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);
void	 agent_op_set_model(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);

/* ---- agent/manifest.c ---------------------------------------------- */

/*
 * Checks an agent name: 1..AGENT_NAME_MAX of [A-Za-z0-9_.-], not "." or
 * "..", not starting with AGENT_RESERVED_PREFIX.  0, or -1 with the reason
 * in err.
 */
int	 agent_name_check(const char *name, char *err, size_t errlen);

/*
 * Parses manifest TOML text[0..len) and normalises it (see below).
 * Returns a new object, or NULL with err set to "invalid manifest: ..."
 * (a TOML syntax error keeps the parser's "line N: ..." text).  The name
 * is not required here: the caller decides (spawn requires one, a whole-
 * manifest patch keeps the agent's own).
 */
json_t	*agent_manifest_parse(const char *text, size_t len, char *err,
	    size_t errlen);

/*
 * Normalises manifest m in place: applies the defaults of the reference
 * manifest (model "default"/"default", max_tokens 4096, temperature 0.7,
 * module "builtin:chat", ...), turns wrong-typed lists and maps into empty
 * ones (the reference parser is lenient there), and rejects wrong-typed
 * scalars, unknown enumeration values and absurd numbers.  Keys it does not
 * know are kept untouched.  Idempotent.  0, or -1 with err set to
 * "invalid manifest: ...".
 */
int	 agent_manifest_normalize(json_t *m, char *err, size_t errlen);

/*
 * Checks the [model] numbers shared by the manifest and agents.config:
 * max_tokens in 1..AGENT_MAX_TOKENS_MAX, temperature in 0..2.  0 or -1
 * with err set.
 */
int	 agent_check_max_tokens(json_t *v, const char *what, char *err,
	    size_t errlen);
int	 agent_check_temperature(json_t *v, const char *what, char *err,
	    size_t errlen);

/* The manifest as TOML text (new, caller frees), NULL on ENOMEM.  Tables
 * that sit directly under the root become [sections]; deeper ones are
 * inline; JSON nulls are left out.  toml_parse() of the result gives m
 * back, floats to AGENT_REAL_DIGITS significant digits. */
char	*agent_manifest_to_toml(json_t *m);

/* ---- agent/store.c -------------------------------------------------- */

/*
 * An agent row as JSON (new): id, name, state, mode, session_id,
 * created_at, last_active (RFC 3339 strings), version (integer), manifest
 * and identity (objects).
 */

/* Inserts a new running agent.  manifest borrowed, source_toml may be NULL.
 * The id is v5(name); if a renamed agent holds that id already a random
 * one is used.  identity may be NULL ({}).  Writes the id into id_out.
 * 0, AGENT_EEXIST (name taken) or -1 (database, logged by the caller). */
int	 agent_store_insert(struct db *db, const char *name, json_t *manifest,
	    const char *source_toml, json_t *identity, const char *mode,
	    char id_out[UTIL_UUID_LEN]);
/* One agent (new), NULL if absent (*errp = SH_ENOTFOUND) or on a database
 * error (*errp = -1).  for_update locks the row (inside a transaction). */
json_t	*agent_store_get(struct db *db, const char *id, int for_update,
	    int *errp);
/* Every agent, oldest first (new array), NULL on a database error. */
json_t	*agent_store_list(struct db *db);
/* Every row of res as db_row_json() objects (new array); clears res.  NULL
 * on ENOMEM or a NULL res. */
json_t	*agent_store_rows(PGresult *res);
/* The names of at most limit agents other than except, oldest first (new
 * array of strings), NULL on a database error. */
json_t	*agent_store_names(struct db *db, const char *except, int limit);
/*
 * Writes back a row read with agent_store_get(): name, manifest, identity,
 * mode (all borrowed), and source_toml if not NULL (else kept).  Succeeds
 * only if the row still has the version it was read with.  0, AGENT_EEXIST,
 * AGENT_ECONFLICT, SH_ENOTFOUND or -1.
 */
int	 agent_store_update(struct db *db, json_t *row, const char *name,
	    json_t *manifest, const char *source_toml, json_t *identity,
	    const char *mode);
/* Runs sql (n parameters p), which returns the row it touched or none,
 * and copies that row's first column into name_out (may be NULL).  0,
 * SH_ENOTFOUND or -1. */
int	 agent_store_named(struct db *db, const char *sql, int n,
	    const char **p, char *name_out, size_t namelen);
/* Deletes one agent; copies its name into name_out.  0, SH_ENOTFOUND or
 * -1. */
int	 agent_store_delete(struct db *db, const char *id, char *name_out,
	    size_t namelen);
/* Sets state ("running" or "suspended").  0, SH_ENOTFOUND or -1. */
int	 agent_store_set_state(struct db *db, const char *id,
	    const char *state, char *name_out, size_t namelen);
/* Number of agents, -1 on a database error. */
long long agent_store_count(struct db *db);

/* Transactions: 0 or -1.  agent_store_rollback() never fails loudly. */
int	 agent_store_begin(struct db *db);
int	 agent_store_commit(struct db *db);
void	 agent_store_rollback(struct db *db);

#endif /* AGENT_H */
