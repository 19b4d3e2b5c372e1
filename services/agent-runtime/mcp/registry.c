/*
 * mcp/registry.c - this replica's MCP servers: one struct mcp_server per
 * row of runtime.mcp_servers, each supervised by a thread of its own, and
 * the agents' view of their tools (mcp.h).
 *
 * Locks, always taken in this order: reg.mtx (the list and the reference
 * counts), then a server's ms_io (its connection: read-locked by every
 * call, which may run side by side -- mcp/conn.c matches answers to
 * calls -- and write-locked by the supervisor alone, to swap the
 * connection), then its ms_mtx (its state).  Nobody holds ms_mtx across
 * I/O, so a view of the state never waits for a slow server; a call holds
 * ms_io for at most the server's timeout, and a waiting writer goes
 * before new readers, so a stream of calls cannot keep a broken
 * connection from being replaced.
 *
 * The supervisor thread is the only one that opens or closes a server's
 * connection and reaps its child.  A caller whose request failed at the
 * transport sets ms_broken; the thread then closes the connection and
 * reconnects after the backoff (MCP_BACKOFF_MIN_MS doubling to
 * MCP_BACKOFF_MAX_MS, reset by a good connection or a reconnect request).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "mcp/mcp.h"
#include "tool/tool.h"
#include "util.h"

enum srv_state {
	SRV_CONNECTING,
	SRV_READY,
	SRV_ERROR,
};

static const char *const srv_state_names[] = { "connecting", "ready",
	"error" };

struct mcp_server {
	struct mcp_server *ms_next;	/* reg.list */
	char		*ms_name;
	json_t		*ms_spec;	/* normalised, read-only */
	long long	 ms_version;	/* the row's version */
	int		 ms_refs;	/* reg.mtx */
	int64_t		 ms_timeout_ms;

	pthread_rwlock_t ms_io;
	struct mcp_conn	*ms_conn;	/* ms_io; set by the thread only */
	atomic_int	 ms_calls;	/* tool calls in flight */

	pthread_mutex_t	 ms_mtx;
	pthread_cond_t	 ms_cond;
	atomic_int	 ms_stop;	/* also ends waits on the server */
	int		 ms_kick;	/* reconnect now */
	int		 ms_broken;	/* a call failed at the transport */
	enum srv_state	 ms_state;
	json_t		*ms_tools;	/* [{name, original_name, description,
					   input_schema}] */
	char		 ms_error[256];
	int64_t		 ms_last_ok;	/* wall ms, 0 never */
	int64_t		 ms_last_err;	/* wall ms, 0 never */
	int		 ms_failures;	/* consecutive */
	int		 ms_restarts;
	char		 ms_stderr[MCP_STDERR_TAIL];
};

static struct {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;	/* nthreads changed, stop */
	struct mcp_server	*list;
	int			 nthreads;	/* supervisors alive */
	int			 stop;
	int			 started;
	pthread_t		 sync;
	struct db		*db;
} reg = { .mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER };

/* ---- servers ---------------------------------------------------------- */

static void
srv_unref(struct mcp_server *s)
{
	int	last;

	pthread_mutex_lock(&reg.mtx);
	last = --s->ms_refs == 0;
	pthread_mutex_unlock(&reg.mtx);
	if (!last)
		return;
	pthread_rwlock_destroy(&s->ms_io);
	pthread_mutex_destroy(&s->ms_mtx);
	pthread_cond_destroy(&s->ms_cond);
	json_decref(s->ms_tools);
	json_decref(s->ms_spec);
	free(s->ms_name);
	free(s);
}

/* The tools as agents see them, from the server's tools/list. */
static json_t *
srv_map_tools(const char *server, json_t *tools)
{
	json_t		*out = json_array(), *t, *schema, *d;
	const char	*tn;
	char		 name[80], *text;
	size_t		 i, n;

	if (out == NULL)
		return (NULL);
	json_array_foreach(tools, i, t) {
		tn = json_string_value(json_object_get(t, "name"));
		if (tn == NULL)
			continue;
		if (mcp_tool_name(server, tn, name, sizeof(name)) != 0) {
			log_warnx("mcp %s: tool '%.64s': the name is too long "
			    "for providers: left out", server, tn);
			continue;
		}
		schema = json_object_get(t, "inputSchema");
		if (!json_is_object(schema))
			schema = NULL;
		/* A huge schema would go to the provider on every turn. */
		if (schema != NULL) {
			if ((text = json_dumps(schema, JSON_COMPACT)) == NULL)
				continue;
			n = strlen(text);
			free(text);
			if (n > MCP_SCHEMA_MAX) {
				log_warnx("mcp %s: tool '%.64s': its schema "
				    "is %zu bytes, over %d: left out", server,
				    tn, n, MCP_SCHEMA_MAX);
				continue;
			}
		}
		d = json_pack("{s:s, s:s, s:s, s:o}", "name", name,
		    "original_name", tn, "description",
		    json_string_value(json_object_get(t, "description")) ?: "",
		    "input_schema", schema ? json_deep_copy(schema) :
		    json_pack("{s:s, s:{}}", "type", "object", "properties"));
		if (d != NULL)
			json_array_append_new(out, d);
	}
	return (out);
}

static void
srv_wait_ms(struct mcp_server *s, int64_t ms)
{
	struct timespec	ts;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&s->ms_cond, &s->ms_mtx, &ts);
}

/* Closes the connection (the supervisor only). */
static void
srv_drop(struct mcp_server *s)
{
	struct mcp_conn	*mc;

	pthread_rwlock_wrlock(&s->ms_io);
	mc = s->ms_conn;
	s->ms_conn = NULL;
	pthread_rwlock_unlock(&s->ms_io);
	mcp_conn_close(mc);
}

/* Records a failure; ms_mtx held. */
static void
srv_failed(struct mcp_server *s, const char *why)
{
	snprintf(s->ms_error, sizeof(s->ms_error), "%s", why);
	s->ms_last_err = util_wall_ms();
	s->ms_failures++;
}

static void *
srv_main(void *arg)
{
	struct mcp_server	*s = arg;
	struct mcp_conn		*mc;
	struct pollfd		 p;
	json_t			*tools, *mapped;
	char			 err[256];
	int64_t			 backoff = MCP_BACKOFF_MIN_MS, next_try = 0;
	int64_t			 next_ping = 0, now;
	int			 err_eof = 0, rv;

	pthread_mutex_lock(&s->ms_mtx);
	while (!s->ms_stop) {
		now = (int64_t)util_now_ms();
		if (s->ms_conn == NULL) {
			if (!s->ms_kick && now < next_try) {
				srv_wait_ms(s, next_try - now);
				continue;
			}
			if (s->ms_kick)
				backoff = MCP_BACKOFF_MIN_MS;
			s->ms_kick = 0;
			s->ms_broken = 0;
			s->ms_state = SRV_CONNECTING;
			s->ms_stderr[0] = '\0';
			pthread_mutex_unlock(&s->ms_mtx);
			mc = mcp_conn_open(s->ms_name, s->ms_spec,
			    (int64_t)util_now_ms() + s->ms_timeout_ms,
			    &s->ms_stop, &tools, err, sizeof(err));
			mapped = mc ? srv_map_tools(s->ms_name, tools) : NULL;
			json_decref(tools);
			if (mc != NULL && mapped == NULL) {
				mcp_conn_close(mc);
				mc = NULL;
				snprintf(err, sizeof(err), "out of memory");
			}
			if (mc == NULL)
				log_warnx("mcp %s: could not connect: %s",
				    s->ms_name, err);
			else
				log_info("mcp %s: connected, %zu tools",
				    s->ms_name, json_array_size(mapped));
			pthread_rwlock_wrlock(&s->ms_io);
			s->ms_conn = mc;
			pthread_rwlock_unlock(&s->ms_io);
			pthread_mutex_lock(&s->ms_mtx);
			err_eof = 0;
			if (mc == NULL) {
				s->ms_state = SRV_ERROR;
				srv_failed(s, err);
				next_try = (int64_t)util_now_ms() + backoff;
				backoff = backoff * 2 > MCP_BACKOFF_MAX_MS ?
				    MCP_BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			json_decref(s->ms_tools);
			s->ms_tools = mapped;
			s->ms_state = SRV_READY;
			/* last_error stays: what went wrong last is worth
			 * seeing after the recovery too (last_error_at). */
			s->ms_failures = 0;
			s->ms_last_ok = util_wall_ms();
			next_ping = (int64_t)util_now_ms() + MCP_PING_MS;
			continue;
		}
		/* Connected: drain stderr, watch the child, ping. */
		pthread_mutex_unlock(&s->ms_mtx);
		p.fd = err_eof ? -1 : mcp_conn_stderr_fd(s->ms_conn);
		p.events = POLLIN;
		if (p.fd == -1)
			util_sleep_ms(250);
		else
			(void)poll(&p, 1, 250);
		pthread_mutex_lock(&s->ms_mtx);
		if (!err_eof && mcp_conn_drain_stderr(s->ms_conn,
		    s->ms_stderr) == 1)
			err_eof = 1;
		if (mcp_conn_exited(s->ms_conn, err, sizeof(err))) {
			log_warnx("mcp %s: %s", s->ms_name, err);
			s->ms_broken = 1;
			srv_failed(s, err);
		}
		if (s->ms_broken || s->ms_kick || s->ms_stop) {
			if (!s->ms_kick)
				s->ms_state = SRV_ERROR;
			pthread_mutex_unlock(&s->ms_mtx);
			srv_drop(s);
			pthread_mutex_lock(&s->ms_mtx);
			s->ms_restarts++;
			if (!s->ms_kick) {
				next_try = (int64_t)util_now_ms() + backoff;
				backoff = backoff * 2 > MCP_BACKOFF_MAX_MS ?
				    MCP_BACKOFF_MAX_MS : backoff * 2;
			}
			continue;
		}
		/* The server said its tools changed: list them again. */
		pthread_mutex_unlock(&s->ms_mtx);
		mapped = NULL;
		rv = 0;
		if (pthread_rwlock_tryrdlock(&s->ms_io) == 0) {
			if (mcp_conn_take_changed(s->ms_conn)) {
				rv = mcp_conn_list_tools(s->ms_conn,
				    (int64_t)util_now_ms() + s->ms_timeout_ms,
				    &tools, err, sizeof(err));
				if (rv == 0) {
					mapped = srv_map_tools(s->ms_name,
					    tools);
					json_decref(tools);
				}
			}
			pthread_rwlock_unlock(&s->ms_io);
		}
		pthread_mutex_lock(&s->ms_mtx);
		if (mapped != NULL) {
			log_info("mcp %s: tools changed, %zu tools",
			    s->ms_name, json_array_size(mapped));
			json_decref(s->ms_tools);
			s->ms_tools = mapped;
		} else if (rv != 0) {
			log_warnx("mcp %s: tools/list: %s", s->ms_name, err);
			s->ms_broken = 1;
			srv_failed(s, err);
			continue;
		}
		if ((int64_t)util_now_ms() < next_ping)
			continue;
		next_ping = (int64_t)util_now_ms() + MCP_PING_MS;
		pthread_mutex_unlock(&s->ms_mtx);
		/* A call in progress is liveness enough (and a server busy
		 * with a long call may not answer a ping in time). */
		rv = 0;
		if (atomic_load(&s->ms_calls) == 0 &&
		    pthread_rwlock_tryrdlock(&s->ms_io) == 0) {
			json_t	*res = NULL, *rerr = NULL;

			rv = mcp_conn_request(s->ms_conn, "ping", NULL,
			    (int64_t)util_now_ms() + MCP_PING_TIMEOUT_MS,
			    &res, &rerr, err, sizeof(err));
			pthread_rwlock_unlock(&s->ms_io);
			json_decref(res);
			json_decref(rerr);
		}
		pthread_mutex_lock(&s->ms_mtx);
		if (rv == -1) {
			log_warnx("mcp %s: ping: %s", s->ms_name, err);
			s->ms_broken = 1;
			srv_failed(s, err);
		} else
			s->ms_last_ok = util_wall_ms();
	}
	pthread_mutex_unlock(&s->ms_mtx);
	srv_drop(s);
	srv_unref(s);
	pthread_mutex_lock(&reg.mtx);
	reg.nthreads--;
	pthread_cond_broadcast(&reg.cond);
	pthread_mutex_unlock(&reg.mtx);
	return (NULL);
}

/* A new server with its thread, holding two references (the list's and
 * the thread's); reg.mtx held. */
static struct mcp_server *
srv_start(const char *name, json_t *spec, long long version)
{
	struct mcp_server	*s;
	pthread_attr_t		 attr;
	pthread_t		 th;
	pthread_rwlockattr_t	 rwa;
	json_t			*t;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ms_name = strdup(name)) == NULL) {
		free(s);
		return (NULL);
	}
	s->ms_spec = json_incref(spec);
	s->ms_version = version;
	s->ms_refs = 2;
	t = json_object_get(spec, "timeout_secs");
	s->ms_timeout_ms = (json_is_integer(t) ? json_integer_value(t) :
	    MCP_TIMEOUT_DEF) * 1000;
	s->ms_tools = json_array();
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->ms_io, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	pthread_mutex_init(&s->ms_mtx, NULL);
	pthread_cond_init(&s->ms_cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, srv_main, s) != 0) {
		pthread_attr_destroy(&attr);
		log_warnx("%s: could not start a thread for '%s'", __func__,
		    name);
		pthread_rwlock_destroy(&s->ms_io);
		pthread_mutex_destroy(&s->ms_mtx);
		pthread_cond_destroy(&s->ms_cond);
		json_decref(s->ms_tools);
		json_decref(s->ms_spec);
		free(s->ms_name);
		free(s);
		return (NULL);
	}
	pthread_attr_destroy(&attr);
	reg.nthreads++;
	return (s);
}

/* Asks s's thread to stop and drops the list's reference; reg.mtx held,
 * s already unlinked. */
static void
srv_stop(struct mcp_server *s)
{
	pthread_mutex_lock(&s->ms_mtx);
	s->ms_stop = 1;
	pthread_cond_signal(&s->ms_cond);
	pthread_mutex_unlock(&s->ms_mtx);
	s->ms_refs--;	/* never the last: the thread holds one */
}

/* ---- the table -------------------------------------------------------- */

static const char SQL_SYNC[] =
	"SELECT name, spec, version FROM mcp_servers "
	"ORDER BY name";

int
mcp_sync(struct db *db)
{
	PGresult		*res;
	struct mcp_server	**pp, *s;
	json_t			*rows, *r;
	const char		*name;
	long long		 ver;
	size_t			 i;
	int			 found;

	if ((res = db_exec(db, SQL_SYNC, 0, NULL)) == NULL)
		return (-1);
	if ((rows = json_array()) == NULL) {
		PQclear(res);
		return (-1);
	}
	for (i = 0; i < (size_t)PQntuples(res); i++)
		json_array_append_new(rows, db_row_json(res, (int)i));
	PQclear(res);
	pthread_mutex_lock(&reg.mtx);
	if (reg.stop) {
		pthread_mutex_unlock(&reg.mtx);
		json_decref(rows);
		return (0);
	}
	/* Gone or changed: stopped. */
	for (pp = &reg.list; (s = *pp) != NULL;) {
		found = 0;
		json_array_foreach(rows, i, r)
			if (strcmp(json_string_value(json_object_get(r,
			    "name")) ?: "", s->ms_name) == 0 &&
			    json_integer_value(json_object_get(r,
			    "version")) == s->ms_version)
				found = 1;
		if (found) {
			pp = &s->ms_next;
			continue;
		}
		*pp = s->ms_next;
		log_info("mcp %s: stopped (removed or changed)", s->ms_name);
		srv_stop(s);
	}
	/* New: started. */
	json_array_foreach(rows, i, r) {
		name = json_string_value(json_object_get(r, "name"));
		ver = json_integer_value(json_object_get(r, "version"));
		if (name == NULL || !json_is_object(json_object_get(r,
		    "spec")))
			continue;
		for (s = reg.list; s != NULL; s = s->ms_next)
			if (strcmp(s->ms_name, name) == 0)
				break;
		if (s != NULL)
			continue;
		if ((s = srv_start(name, json_object_get(r, "spec"),
		    ver)) != NULL) {
			s->ms_next = reg.list;
			reg.list = s;
		}
	}
	pthread_mutex_unlock(&reg.mtx);
	json_decref(rows);
	return (0);
}

static void *
reg_sync_main(void *arg)
{
	struct timespec	ts;

	(void)arg;
	pthread_mutex_lock(&reg.mtx);
	while (!reg.stop) {
		pthread_mutex_unlock(&reg.mtx);
		if (mcp_sync(reg.db) != 0)
			log_debug("%s: could not read mcp_servers: %s",
			    __func__, db_errmsg(reg.db));
		pthread_mutex_lock(&reg.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += MCP_SYNC_MS / 1000;
		if (!reg.stop)
			(void)pthread_cond_timedwait(&reg.cond, &reg.mtx, &ts);
	}
	pthread_mutex_unlock(&reg.mtx);
	return (NULL);
}

int
mcp_init(const struct sh_config *cfg)
{
	char	conninfo[2048];

	if (mcp_catalog_init() != 0)
		return (-1);
	db_conninfo(cfg->database_url, cfg->home_dir, conninfo,
	    sizeof(conninfo));
	if ((reg.db = db_open(conninfo, "runtime")) == NULL)
		return (-1);
	if (pthread_create(&reg.sync, NULL, reg_sync_main, NULL) != 0) {
		db_close(reg.db);
		reg.db = NULL;
		return (-1);
	}
	reg.started = 1;
	return (0);
}

void
mcp_fini(void)
{
	struct mcp_server	*s;
	struct timespec		 ts;

	pthread_mutex_lock(&reg.mtx);
	reg.stop = 1;
	pthread_cond_broadcast(&reg.cond);
	while ((s = reg.list) != NULL) {
		reg.list = s->ms_next;
		srv_stop(s);
	}
	pthread_mutex_unlock(&reg.mtx);
	if (reg.started)
		pthread_join(reg.sync, NULL);
	reg.started = 0;
	/* Children are killed and reaped by their threads.  A stdio
	 * handshake under way ends at ms_stop; a thread still stuck (an
	 * HTTP server's slow connect) is left to the exit (a child has
	 * PDEATHSIG). */
	pthread_mutex_lock(&reg.mtx);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	while (reg.nthreads > 0)
		if (pthread_cond_timedwait(&reg.cond, &reg.mtx, &ts) ==
		    ETIMEDOUT)
			break;
	pthread_mutex_unlock(&reg.mtx);
	db_close(reg.db);
	reg.db = NULL;
}

/* The server of that name with a reference, or NULL. */
static struct mcp_server *
reg_find(const char *name)
{
	struct mcp_server	*s;

	pthread_mutex_lock(&reg.mtx);
	for (s = reg.list; s != NULL; s = s->ms_next)
		if (strcmp(s->ms_name, name) == 0) {
			s->ms_refs++;
			break;
		}
	pthread_mutex_unlock(&reg.mtx);
	return (s);
}

static void
srv_kick(struct mcp_server *s)
{
	pthread_mutex_lock(&s->ms_mtx);
	s->ms_kick = 1;
	pthread_cond_signal(&s->ms_cond);
	pthread_mutex_unlock(&s->ms_mtx);
}

int
mcp_reconnect(const char *name)
{
	struct mcp_server	*s;

	if ((s = reg_find(name)) == NULL)
		return (SH_ENOTFOUND);
	srv_kick(s);
	srv_unref(s);
	return (0);
}

int
mcp_reconnect_all(void)
{
	struct mcp_server	*s;
	int			 n = 0;

	pthread_mutex_lock(&reg.mtx);
	for (s = reg.list; s != NULL; s = s->ms_next, n++)
		srv_kick(s);
	pthread_mutex_unlock(&reg.mtx);
	return (n);
}

json_t *
mcp_server_names(void)
{
	struct mcp_server	*s;
	json_t			*out = json_array();

	pthread_mutex_lock(&reg.mtx);
	for (s = reg.list; s != NULL && out != NULL; s = s->ms_next)
		if (json_array_append_new(out, json_string(s->ms_name)) != 0) {
			json_decref(out);
			out = NULL;
		}
	pthread_mutex_unlock(&reg.mtx);
	return (out);
}

static json_t *
srv_time(int64_t ms)
{
	char	t[32];

	if (ms == 0)
		return (json_null());
	util_rfc3339(ms, t);
	return (json_string(t));
}

json_t *
mcp_state(const char *name)
{
	struct mcp_server	*s;
	json_t			*out, *tools, *t;
	size_t			 i;

	if ((s = reg_find(name)) == NULL)
		return (NULL);
	pthread_mutex_lock(&s->ms_mtx);
	if ((tools = json_array()) != NULL)
		json_array_foreach(s->ms_tools, i, t)
			json_array_append_new(tools, json_pack("{s:O, s:O, "
			    "s:O}", "name", json_object_get(t, "name"),
			    "original_name", json_object_get(t,
			    "original_name"), "description",
			    json_object_get(t, "description")));
	out = json_pack("{s:s, s:b, s:b, s:o, s:I, s:o, s:o, s:s?, s:i, "
	    "s:i, s:b, s:s}",
	    "status", srv_state_names[s->ms_state],
	    "connected", s->ms_state == SRV_READY,
	    "healthy", s->ms_state == SRV_READY,
	    "tools", tools ? tools : json_array(),
	    "tool_count", (json_int_t)json_array_size(s->ms_tools),
	    "last_ok", srv_time(s->ms_last_ok),
	    "last_error_at", srv_time(s->ms_last_err),
	    "last_error", s->ms_error[0] ? s->ms_error : NULL,
	    "consecutive_failures", s->ms_failures,
	    "restarts", s->ms_restarts,
	    "reconnecting", s->ms_state != SRV_READY,
	    "stderr_tail", s->ms_stderr);
	pthread_mutex_unlock(&s->ms_mtx);
	srv_unref(s);
	return (out);
}

/* ---- agents' tools ---------------------------------------------------- */

int
mcp_is_tool(const char *name)
{
	return (name != NULL && strncmp(name, "mcp_", 4) == 0);
}

static int
mcp_allowed(json_t *manifest, const char *server)
{
	json_t	*l = json_object_get(manifest, "mcp_servers");

	if (json_is_true(json_object_get(manifest, "mcp_disabled")) ||
	    json_array_size(l) == 0)
		return (0);
	return (tool_glob_any(l, server));
}

json_t *
mcp_tool_defs(json_t *manifest)
{
	struct mcp_server	*s;
	json_t			*out = json_array(), *t;
	size_t			 i;

	if (out == NULL)
		return (NULL);
	pthread_mutex_lock(&reg.mtx);
	for (s = reg.list; s != NULL; s = s->ms_next) {
		if (!mcp_allowed(manifest, s->ms_name))
			continue;
		pthread_mutex_lock(&s->ms_mtx);
		if (s->ms_state == SRV_READY)
			json_array_foreach(s->ms_tools, i, t)
				json_array_append_new(out, json_pack(
				    "{s:O, s:O, s:O}", "name",
				    json_object_get(t, "name"), "description",
				    json_object_get(t, "description"),
				    "input_schema", json_object_get(t,
				    "input_schema")));
		pthread_mutex_unlock(&s->ms_mtx);
	}
	pthread_mutex_unlock(&reg.mtx);
	return (out);
}

/* The server and the original tool name of an agent-facing name. */
static struct mcp_server *
reg_find_tool(const char *name, char **origp)
{
	struct mcp_server	*s;
	json_t			*t;
	size_t			 i;

	*origp = NULL;
	pthread_mutex_lock(&reg.mtx);
	for (s = reg.list; s != NULL; s = s->ms_next) {
		pthread_mutex_lock(&s->ms_mtx);
		json_array_foreach(s->ms_tools, i, t)
			if (strcmp(json_string_value(json_object_get(t,
			    "name")), name) == 0) {
				*origp = strdup(json_string_value(
				    json_object_get(t, "original_name")));
				break;
			}
		pthread_mutex_unlock(&s->ms_mtx);
		if (*origp != NULL) {
			s->ms_refs++;
			break;
		}
	}
	pthread_mutex_unlock(&reg.mtx);
	return (s);
}

/* The text of a tools/call result for the model. */
static int
mcp_result_text(json_t *res, struct tool_result *r)
{
	struct buf	 b;
	json_t		*c, *v;
	const char	*type;
	char		*text;
	size_t		 i;
	int		 rv;

	buf_init(&b, TOOL_RESULT_MAX * 2);
	json_array_foreach(json_object_get(res, "content"), i, c) {
		type = json_string_value(json_object_get(c, "type")) ?: "";
		if (b.b_len > 0)
			(void)buf_adds(&b, "\n");
		if (strcmp(type, "text") == 0)
			(void)buf_adds(&b, json_string_value(json_object_get(c,
			    "text")) ?: "");
		else if (strcmp(type, "resource") == 0 &&
		    json_is_string(v = json_object_get(json_object_get(c,
		    "resource"), "text")))
			(void)buf_adds(&b, json_string_value(v));
		else if (strcmp(type, "resource_link") == 0 ||
		    strcmp(type, "resource") == 0)
			(void)buf_addf(&b, "[%s: %.512s]", type,
			    json_string_value(json_object_get(c, "uri")) ?:
			    json_string_value(json_object_get(json_object_get(
			    c, "resource"), "uri")) ?: "");
		else
			(void)buf_addf(&b, "[%.32s content: %.64s]", type,
			    json_string_value(json_object_get(c,
			    "mimeType")) ?: "");
	}
	if (b.b_len == 0 && (v = json_object_get(res,
	    "structuredContent")) != NULL) {
		if ((text = json_dumps(v, JSON_COMPACT)) != NULL)
			(void)buf_adds(&b, text);
		free(text);
	}
	rv = tool_result_take(r, json_is_true(json_object_get(res,
	    "isError")), 0, b.b_data ? b.b_data : "", b.b_len);
	buf_release(&b);
	return (rv);
}

int
mcp_tool_run(json_t *manifest, const char *mode, const char *name,
    json_t *input, struct tool_result *r)
{
	struct mcp_server	*s;
	json_t			*params = NULL, *res = NULL, *rerr = NULL;
	char			*orig = NULL, err[256];
	int			 rv = -1, ret, connected = 0;

	if ((s = reg_find_tool(name, &orig)) == NULL)
		return (tool_result_set(r, 1, 0, "Unknown tool '%s': no "
		    "connected MCP server offers it", name));
	if (!mcp_allowed(manifest, s->ms_name) || mode == NULL ||
	    strcmp(mode, "full") != 0) {
		ret = tool_result_set(r, 1, 0, "Permission denied: agent "
		    "does not have capability to use tool '%s'", name);
		goto done;
	}
	if (!json_is_object(input)) {
		ret = tool_result_set(r, 1, 0, "Invalid arguments for '%s': "
		    "a JSON object is required", name);
		goto done;
	}
	if ((params = json_pack("{s:s, s:O}", "name", orig, "arguments",
	    input)) == NULL) {
		ret = SH_ENOMEM;
		goto done;
	}
	atomic_fetch_add(&s->ms_calls, 1);
	pthread_rwlock_rdlock(&s->ms_io);
	if (s->ms_conn == NULL)
		snprintf(err, sizeof(err), "not connected");
	else if ((connected = 1))
		rv = mcp_conn_request(s->ms_conn, "tools/call", params,
		    (int64_t)util_now_ms() + s->ms_timeout_ms, &res, &rerr,
		    err, sizeof(err));
	pthread_rwlock_unlock(&s->ms_io);
	atomic_fetch_sub(&s->ms_calls, 1);
	pthread_mutex_lock(&s->ms_mtx);
	if (rv == -1 && connected) {
		/* The transport failed: unhealthy, and reconnected. */
		s->ms_broken = 1;
		srv_failed(s, err);
		pthread_cond_signal(&s->ms_cond);
	} else if (rv != -1)
		s->ms_last_ok = util_wall_ms();
	pthread_mutex_unlock(&s->ms_mtx);
	if (rv == -1)
		ret = tool_result_set(r, 1, 0, "MCP server '%s' failed: %s",
		    s->ms_name, err);
	else if (rv == 1)
		ret = tool_result_set(r, 1, 0, "MCP error %lld: %.1000s",
		    json_integer_value(json_object_get(rerr, "code")),
		    json_string_value(json_object_get(rerr, "message")) ?: "");
	else
		ret = mcp_result_text(res, r);
 done:
	json_decref(params);
	json_decref(res);
	json_decref(rerr);
	free(orig);
	srv_unref(s);
	return (ret);
}
