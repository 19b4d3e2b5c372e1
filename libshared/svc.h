/*
 * svc.h - what every service's main.c shares: flags, signals, the
 * operation table and its dispatch, the built-in sys.health operation.
 *
 * A service's main.c is its table: a struct svc_def naming the service,
 * its schema and its operation tables, and SVC_MAIN(def), a main() that
 * calls svc_main().  svc_main() runs the steps every service takes, each
 * of which is also callable alone:
 *	svc_init(argc, argv, "memory", &so);	flags, signals blocked
 *	svc_config(&so, &cfg);			config, log
 *	svc_db_migrate(...);			schema
 *	sd_start				the service's own start
 *	svc_serve(...);				bus workers
 *	svc_wait();				until SIGINT/SIGTERM
 *	sd_drain, svc_stop(...), sd_stop	drain, close
 */
#ifndef SH_SVC_H
#define SH_SVC_H

#include <sys/types.h>

#include <jansson.h>

#include "cfg.h"
#include "db.h"
#include "msg.h"
#include "util.h"

struct svc_opts {
	const char	*so_name;
	const char	*so_conf;	/* -f */
	int		 so_check;	/* -n */
	int		 so_debug;	/* -d */
	int		 so_verbose;	/* -v */
};

struct svc_server;

/* Per-worker state handed to every handler. */
struct svc_ctx {
	struct db	*sc_db;		/* this worker's connection */
	void		*sc_arg;	/* the service's own state (sd_arg) */
	struct svc_server *sc_server;	/* internal */
	const struct sh_config *sc_cfg;
	int		 sc_index;
};

/* What a handler produces: a status and a JSON body (owned here). */
struct svc_reply {
	int		 sr_status;
	json_t		*sr_body;
	const char	*sr_ctype;	/* NULL = application/json */
};

typedef void (*svc_op_fn)(struct svc_ctx *c, const struct msg_req *rq,
	    struct svc_reply *rp);

struct svc_op {
	const char	*op_name;
	svc_op_fn	 op_fn;
};

/* Optional extra fields for sys.health (gauges such as agent_count). */
typedef void (*svc_health_fn)(struct svc_ctx *c, json_t *out);

struct svc_def {
	const char			*sd_name;	/* SVC_* */
	const char			*sd_schema;	/* NULL: no database */
	const struct db_migration	*sd_migrations;
	const struct svc_op *const	*sd_ops;	/* tables, NULL-ended;
							   each ends with a
							   NULL name; NULL:
							   sys.health only */
	svc_health_fn			 sd_health;
	void				*sd_arg;
	int				 sd_no_service;	/* 1: answers no bus
							   operation at all
							   (the broker) */
	/* 1: the schema has an audit_outbox table, and svc_main() runs
	 * its relay (audit.h). */
	int				 sd_audit;
	/* svc_main()'s optional hooks, each given sd_arg.  sd_start runs
	 * after the migrations, before the workers serve (cfg lives until
	 * sd_stop has returned); 0, or -1 to exit 1 (it logged why, and
	 * stopped what it had started: svc_main() then closes the bus,
	 * and nng_fini() panics over a socket left open).
	 * sd_drain runs on SIGINT/SIGTERM while the workers still serve
	 * (answer what was deferred); sd_stop after they stopped (free
	 * what sd_start made). */
	int				(*sd_start)(const struct sh_config *cfg,
					    void *arg);
	void				(*sd_drain)(void *arg);
	void				(*sd_stop)(void *arg);
	/* The service's part of a live config change (cfgsync.h): runs
	 * with the live config once its hot keys changed, and the plan;
	 * NULL: log_level is all it applies. */
	void				(*sd_reload)(struct sh_config *cfg,
					    json_t *plan, void *arg);
};

/* Runs the service sd from start to exit (see above); returns the exit
 * status for main(). */
int	 svc_main(int argc, char **argv, const struct svc_def *sd);
/* A service's main(), written SVC_MAIN(memory_def) on a line of its
 * own (no semicolon: it is a function definition). */
#define SVC_MAIN(def)							\
int									\
main(int argc, char **argv)						\
{									\
	return (svc_main(argc, argv, &(def)));				\
}

/* Parses -f -n -d -v -h, blocks SIGINT/SIGTERM/SIGHUP/SIGPIPE for every
 * thread.  Exits on bad usage. */
void	 svc_init(int argc, char **argv, const char *name,
	    struct svc_opts *so);
/* Loads config and starts logging; exits 1 on bad config. With -n prints
 * the effective config and exits 0. */
void	 svc_config(const struct svc_opts *so, struct sh_config *cfg);
/* Connects and migrates, retrying with backoff until it works or a
 * signal asks to stop; returns 0, or -1 when asked to stop. */
int	 svc_db_migrate(const struct svc_def *sd, const struct sh_config *cfg);
/* Starts the bus workers for sd. NULL on failure (logged). */
struct svc_server *svc_serve(const struct svc_def *sd,
	    const struct sh_config *cfg);
/* Waits for SIGINT or SIGTERM (SIGHUP is logged and ignored for now). */
int	 svc_wait(void);
/* Drains in-flight requests and frees. */
void	 svc_stop(struct svc_server *ss);

/*
 * Long operations: inside an operation, svc_defer() keeps the request for
 * a later answer (rp is marked so that nothing is sent now) and returns a
 * handle; svc_pending_reply() answers it from any thread (body stolen;
 * it may block briefly) and frees the handle.  svc_defer() returns NULL
 * (rp untouched) on ENOMEM.
 */
#define SVC_DEFERRED	-1
struct svc_pending;
struct svc_pending *svc_defer(const struct msg_req *rq, struct svc_reply *rp);
int	 svc_pending_reply(struct svc_pending *sp, int status, json_t *body);

/*
 * A periodic job on a thread of its own: fn(arg) runs every ms
 * milliseconds (the first run at once when at_once is set, else after
 * one interval) until svc_tick_stop().  The wait is on the monotonic
 * clock (a wall-clock step neither stalls nor hurries it) and ends at
 * once on stop; a run in progress is waited for.  svc_tick_start()
 * returns the job (new; svc_tick_stop() frees it), or NULL when the
 * thread could not start (logged, naming what).
 */
struct svc_tick;
struct svc_tick *svc_tick_start(const char *what, long long ms, int at_once,
	    void (*fn)(void *arg), void *arg);
/* NULL is a no-op. */
void	 svc_tick_stop(struct svc_tick *t);

/* Reply helpers: set status and body (body stolen; NULL, a body that
 * could not be built, makes the reply 500 "out of memory"). */
void	 svc_reply_json(struct svc_reply *rp, int status, json_t *body);
void	 svc_reply_error(struct svc_reply *rp, int status, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
/* 200 {key: list, total: <its length>} (list stolen); a NULL list (it
 * could not be built) is 500 "out of memory". */
void	 svc_reply_list(struct svc_reply *rp, const char *key, json_t *list);
/* Appends item (stolen) to *list; when either is NULL or the append
 * fails, frees both and leaves *list NULL, so a loop that builds a list
 * checks once, at the end (svc_reply_list()). */
void	 svc_list_add(json_t **list, json_t *item);
/* A row of res as JSON (new; NULL when it could not be built). */
typedef json_t *(*svc_row_fn)(PGresult *res, int row);

/*
 * Runs sql with n text parameters (NULL entries are SQL NULL) on the
 * worker's connection: its rows, each made JSON by row (NULL:
 * db_row_json()), as an array (new), or NULL after a 503 (the database,
 * logged) or a 500 (out of memory).
 */
json_t	*svc_rows(struct svc_ctx *c, const char *sql, int n,
	    const char *const *params, svc_row_fn row, struct svc_reply *rp);

/*
 * One page of a list and the size of the whole list, in two statements
 * over the same filters: pg_count ($1..$n the filters) returns one row,
 * the count (NULL: not asked); pg_list takes the filters, then $n+1 the
 * limit and $n+2 the offset.  All borrowed.
 */
#define SVC_PAGE_FILTERS	4
struct svc_page {
	const char	*pg_count;
	const char	*pg_list;
	const char	*pg_filters[SVC_PAGE_FILTERS];	/* NULL: SQL NULL */
	int		 pg_n;				/* filters used */
	long long	 pg_limit;
	long long	 pg_offset;
	svc_row_fn	 pg_row;			/* NULL: db_row_json() */
};
/* The page's rows (new) with the list's size in *total (untouched when
 * pg_count is NULL), or NULL after a 503 or a 500 (svc_rows()). */
json_t	*svc_page(struct svc_ctx *c, const struct svc_page *pg,
	    long long *total, struct svc_reply *rp);

/* The standard 503 for a database failure (logs db_errmsg once). */
void	 svc_reply_db_error(struct svc_reply *rp, struct svc_ctx *c);
/* Copies s, lowercased, into id when it is a UUID: 0, or -1 (s NULL or
 * no UUID; id untouched). */
int	 svc_uuid_lower(const char *s, char id[UTIL_UUID_LEN]);
/* params[key] as a UUID, lowercased into id: 0, or -1 after a 400
 * ("Invalid <what>"). */
int	 svc_param_uuid(const struct msg_req *rq, const char *key,
	    const char *what, char id[UTIL_UUID_LEN], struct svc_reply *rp);
/* svc_param_uuid() of params.id, "agent ID". */
int	 svc_param_agent_id(const struct msg_req *rq, struct svc_reply *rp,
	    char id[UTIL_UUID_LEN]);
/* 0 when every key of o (borrowed; not an object: no keys) is one of
 * allowed (NULL-ended), else -1 after a 400 "unknown field '<key>'". */
int	 svc_known_fields(json_t *o, const char *const *allowed,
	    struct svc_reply *rp);

/* query.key as an integer in min..max (absent: def) into *out: 0, or -1
 * after a 400 "'<key>' must be an integer from <min> to <max>". */
int	 svc_query_int(const struct msg_req *rq, const char *key,
	    long long min, long long max, long long def, long long *out,
	    struct svc_reply *rp);
/* params.name (borrowed), or NULL after a 400 ("a name is required"). */
const char *svc_param_name(const struct msg_req *rq, struct svc_reply *rp);
/* "<what> '<name>' not found" into err, or "<what> not found" when name
 * is longer than SVC_ECHO_MAX or not printable ASCII (never echoed). */
#define SVC_ECHO_MAX	64
void	 svc_not_found_text(char *err, size_t errlen, const char *what,
	    const char *name);
/* A 404 with that text. */
void	 svc_reply_not_found(struct svc_reply *rp, const char *what,
	    const char *name);

/* The service's numbered migrations, generated from its sql/ directory
 * by deploy/sql2c.sh (only services with a schema define it). */
extern const struct db_migration svc_migrations[];

/*
 * Publishes every log line of this process on TOPIC_LOGS (best effort:
 * PUB/SUB may drop) as {timestamp, level, service, target, pid, host,
 * message}, for GET /api/logs/stream.  svc_main() calls it for every
 * service; the gateway calls it itself.  0, or -1 (logged; lines still
 * go to stderr).  svc_log_unpublish() stops and closes.
 */
int	 svc_log_publish(const char *bus_url, const char *service);
void	 svc_log_unpublish(void);

/* Seconds since this process started. */
long long svc_uptime(void);
/* When it started (svc_init), wall clock ms. */
int64_t	 svc_started_at_ms(void);
/* This process's name among the replicas, "<host>:<pid>" (the host cut
 * to 47 characters; set by svc_init, borrowed, static): the instance of
 * its heartbeats (beat.h) and the owner of the scheduler's leases. */
const char *svc_instance(void);
/* The host name (gethostname(), set by svc_init; "" if it failed). */
const char *svc_host_name(void);
/* How many times this program's supervisor restarted it before this start:
 * LIBREFANG_RESTART_COUNT as librefangd sets it, read by svc_init; 0 when
 * unset.  sys.health reports it as restart_count. */
long long svc_restart_count(void);
/* librefangd's pid when it runs this process (LIBREFANG_SUPERVISOR_PID,
 * which librefangd sets, names our parent), else 0: POST /api/shutdown
 * then asks librefangd to stop the stack (libshared/cfgsync.h). */
pid_t	 svc_supervisor(void);

#endif /* SH_SVC_H */
