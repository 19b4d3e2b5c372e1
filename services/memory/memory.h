/*
 * memory.h - what the memory service's files share.
 *
 * Each file is one job and exports one operation table, registered in
 * main.c: kv.c (key-value memory), items.c (proactive memory items: add,
 * list, update, delete, history, stats, cleanup, decay, export, import),
 * search.c (full-text and trigram search, duplicates, consolidation),
 * relations.c (the knowledge graph) and dream.c (auto-dream).  mem.c
 * holds the request helpers they share.
 */
#ifndef MEMORY_H
#define MEMORY_H

#include <jansson.h>

#include "svc.h"

struct bus_client;
struct db;

extern const struct svc_op kv_ops[];
extern const struct svc_op items_ops[];
extern const struct svc_op search_ops[];
extern const struct svc_op relations_ops[];
extern const struct svc_op dream_ops[];

/* Bounds shared by every writer of items (and enforced again by the
 * table's CHECKs). */
#define MEM_CONTENT_MAX		65536	/* bytes of an item's content */
#define MEM_METADATA_MAX	65536	/* bytes of its metadata as JSON */
#define MEM_JSON_DEPTH_MAX	16	/* nesting of metadata and values */
#define MEM_QUERY_MAX		1000	/* bytes of a search string */

/* The RFC 3339 text of a timestamptz column c, in SQL. */
#define MEM_TS(c)							\
	"to_char(" c " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* items.c: confidence decay (notes 7.2, mechanism 1) at rate per day on
 * db: 0 with the number of items decayed in *n, or -1 (db_errmsg). */
int	 items_decay(struct db *db, double rate, long long *n);

/* maint.c: the hourly decay, run by one replica per hour (cfg borrowed
 * until maint_stop). */
void	 maint_start(const struct sh_config *cfg);
void	 maint_stop(void);

/* dream.c: opens the dream's own database connection and reads
 * [auto_dream] (cfg borrowed until dream_stop); dream_stop waits for (or
 * cancels) the dreams still running and frees. */
void	 dream_start(const struct sh_config *cfg);
void	 dream_stop(void);

/* Publishes body (borrowed) on topic; best effort, thread-safe (main.c). */
void	 memory_publish(const char *topic, json_t *body);
/* The service's bus client for calls to other services (borrowed; NULL
 * when it could not be opened); thread-safe (main.c). */
struct bus_client *memory_bus(void);

/*
 * Request helpers (mem.c).  Each returns 0, or -1 after filling rp with
 * a 400.  An absent value leaves *out untouched (the caller's default).
 */
/* query[k] (or body[k] for mem_body_num), an integer or a decimal string
 * in min..max. */
int	 mem_query_num(const struct msg_req *rq, const char *k, long long min,
	    long long max, long long *out, struct svc_reply *rp);
/* query[k] as a number (or numeric string) in min..max. */
int	 mem_query_real(const struct msg_req *rq, const char *k, double min,
	    double max, double *out, struct svc_reply *rp);
/* query[k] as a string of 1..max bytes without NUL (borrowed). */
int	 mem_query_str(const struct msg_req *rq, const char *k, size_t max,
	    const char **out, struct svc_reply *rp);
/* o[k] (an object such as the body) as a string of 1..max bytes. */
int	 mem_obj_str(json_t *o, const char *k, size_t max, const char **out,
	    struct svc_reply *rp);
/* o[k] as a number in min..max. */
int	 mem_obj_real(json_t *o, const char *k, double min, double max,
	    double *out, struct svc_reply *rp);
/* 1 if level is one of user, session, agent. */
int	 mem_level_ok(const char *level);
/* The nesting depth of v (0 for a scalar). */
int	 mem_json_depth(json_t *v);
/* metadata (borrowed) checked (an object, depth and size bounded) and
 * dumped into *text (new); -1 after a 400 or 413. */
int	 mem_metadata_text(json_t *metadata, char **text, struct svc_reply *rp);

/*
 * Asks agent-runtime whether agent id exists (agents.get): 0 when it
 * does, or -1 after a 404 ("Agent not found") or a 503 (agent-runtime
 * did not answer).  Blocks for at most a few seconds.
 */
int	 mem_agent_known(const char *id, struct svc_reply *rp);

/*
 * A per-agent read: params.id checked (400 "Invalid agent ID") into id,
 * the agent asked of agent-runtime (mem_agent_known()), then sql run with
 * $1 the id.  Its result (the caller PQclear's), or NULL after a reply
 * (400, 404, 503).
 */
PGresult *mem_agent_exec(struct svc_ctx *c, const struct msg_req *rq,
	    const char *sql, char id[UTIL_UUID_LEN], struct svc_reply *rp);

/* Runs BEGIN / COMMIT / ROLLBACK on this worker's connection. */
int	 mem_begin(struct db *db);
int	 mem_commit(struct db *db);
void	 mem_rollback(struct db *db);

#endif
