/*
 * mcp/conn.c - one connection to an MCP server over stdio: a child process
 * speaking one JSON-RPC message per line on stdin/stdout
 * (notes/protocols.md 3.4), stderr kept as a short tail.
 *
 * Every read waits in poll() against the caller's deadline and every line
 * is bounded by MCP_LINE_MAX, so a child that never answers, floods, or
 * prints garbage costs a timeout, never a blocked thread or unbounded
 * memory.  Lines that are not JSON-RPC are skipped; notifications are
 * ignored; the server's own requests are answered (ping with {}, anything
 * else -32601: we declare no client capabilities, so server-filesystem
 * keeps the directories it was started with instead of asking for roots).
 *
 * The child is started by libshared/child.c (a process group of its own,
 * PDEATHSIG, only its three pipes); what it may see of our environment
 * is this file's rule (conn_env()).
 *
 * Any number of threads may call at once (JSON-RPC answers carry their
 * request's id).  Writes take mc_wmtx, one message at a time.  Reading is
 * a role, not a thread: a caller whose answer has not come, finding
 * nobody reading, reads one line, hands it to whoever waits for it (the
 * table mc_waits), and gives the role up again; the others sleep on
 * mc_cv until their answer, a broken connection or their own deadline.
 * So no thread exists only to read, and a slow call delays nobody's
 * answer.  A transport failure seen by any reader fails every call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mcp/mcp.h"
#include "child.h"
#include "util.h"
#include "version.h"

#define CONN_ENV_MAX	CHILD_ENV_MAX
#define CONN_ARGV_MAX	66
#define CONN_PAGES_MAX	32

enum conn_type {
	CONN_STDIO,
	CONN_HTTP,
};

/* A call waiting for its answer (on its caller's stack). */
struct conn_wait {
	struct conn_wait	*cw_next;
	long long		 cw_id;
	json_t			*cw_result;	/* new, once answered */
	json_t			*cw_error;	/* new, once answered */
	int			 cw_done;
};

struct mcp_conn {
	enum conn_type	 mc_type;
	char		*mc_name;
	pid_t		 mc_pid;	/* 0 once reaped */
	pid_t		 mc_pgid;	/* the child's process group */
	int		 mc_in;		/* child's stdin */
	int		 mc_out;	/* child's stdout, non-blocking */
	int		 mc_err;	/* child's stderr, non-blocking */
	pthread_mutex_t	 mc_wmtx;	/* one writer on mc_in */
	pthread_mutex_t	 mc_mtx;	/* everything below */
	pthread_cond_t	 mc_cv;		/* an answer, a reader left, broken */
	struct buf	 mc_rbuf;	/* stdout bytes not yet a line: the
					   reader's */
	int		 mc_reading;	/* a caller holds the reader role */
	int		 mc_broken;	/* the transport failed: mc_why */
	char		 mc_why[160];
	struct conn_wait *mc_waits;
	long long	 mc_next_id;
	int		 mc_changed;	/* tools/list_changed seen */
	const atomic_int *mc_cancel;	/* set: reads end (mcp_conn_open()) */
	/* http (mcp/http.c) */
	void		*mc_http;
};

/* Known versions: the server's answer must be one of them. */
static const char *const conn_versions[] = {
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL
};

/*
 * The child's environment: PATH, HOME, LANG, TMPDIR and USER of ours
 * and the spec's env, nothing else, so a server never sees the runtime's
 * database URL or provider keys it was not given.
 */
static int
conn_env(json_t *spec, struct child_env *env)
{
	static const char *const pass[] = { "PATH", "HOME", "LANG", "TMPDIR",
	    "USER", NULL };
	const char	*k, *v;
	json_t		*e;
	size_t		 i;

	child_env_init(env, CONN_ENV_MAX - 1);
	for (i = 0; pass[i] != NULL; i++) {
		if ((v = getenv(pass[i])) == NULL ||
		    json_object_get(json_object_get(spec, "env"),
		    pass[i]) != NULL)
			continue;
		if (child_env_add(env, pass[i], v) != 0)
			return (-1);
	}
	json_object_foreach(json_object_get(spec, "env"), k, e) {
		if ((v = json_string_value(e)) == NULL)
			continue;
		if (child_env_add(env, k, v) != 0)
			return (-1);
	}
	return (0);
}

static int
conn_spawn(struct mcp_conn *mc, json_t *spec, char *err, size_t errlen)
{
	json_t		*tr = json_object_get(spec, "transport"), *a;
	const char	*argv[CONN_ARGV_MAX];
	struct child_env env;
	struct child_req sr;
	struct child	 sp;
	size_t		 i, n = 0;
	int		 ret = -1;

	argv[n++] = json_string_value(json_object_get(tr, "command"));
	json_array_foreach(json_object_get(tr, "args"), i, a)
		if (n + 1 < CONN_ARGV_MAX && json_is_string(a))
			argv[n++] = json_string_value(a);
	argv[n] = NULL;
	if (argv[0] == NULL) {
		snprintf(err, errlen, "no command");
		return (-1);
	}
	/* Everything the child needs is built before fork(). */
	if (conn_env(spec, &env) != 0) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	memset(&sr, 0, sizeof(sr));
	sr.sr_path = argv[0];
	sr.sr_argv = (char *const *)(uintptr_t)argv;
	sr.sr_envp = env.se_v;
	sr.sr_io[0] = sr.sr_io[1] = sr.sr_io[2] = CHILD_IO_PIPE;
	/* Its own process group, so that closing kills what it started
	 * (npx); and if the runtime dies, the server goes too. */
	sr.sr_flags = CHILD_F_PATH | CHILD_F_PDEATHSIG;
	if (child_start(&sr, &sp, err, errlen) != 0)
		goto done;
	mc->mc_pid = mc->mc_pgid = sp.sp_pid;
	mc->mc_in = sp.sp_in;
	mc->mc_out = sp.sp_out;
	mc->mc_err = sp.sp_err;
	(void)fcntl(mc->mc_out, F_SETFL, O_NONBLOCK);
	(void)fcntl(mc->mc_err, F_SETFL, O_NONBLOCK);
	ret = 0;
 done:
	child_env_release(&env);
	return (ret);
}

/* Writes all of data before the deadline; 0 or -1. */
static int
conn_write(struct mcp_conn *mc, const char *data, size_t len,
    int64_t deadline, char *err, size_t errlen)
{
	struct pollfd	 p;
	ssize_t		 n;
	int64_t		 left;

	while (len > 0) {
		n = write(mc->mc_in, data, len);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "write: %s", strerror(errno));
			return (-1);
		}
		if ((left = deadline - (int64_t)util_now_ms()) <= 0) {
			snprintf(err, errlen, "timed out writing");
			return (-1);
		}
		p.fd = mc->mc_in;
		p.events = POLLOUT;
		(void)poll(&p, 1, (int)left);
	}
	return (0);
}

/*
 * Reads one line (new, NUL-terminated, without the newline) before the
 * deadline; the reader role's.  NULL on timeout (*timedout set), EOF, I/O
 * error or a line over MCP_LINE_MAX, err saying which.
 */
static char *
conn_read_line(struct mcp_conn *mc, int64_t deadline, int *timedout,
    char *err, size_t errlen)
{
	struct pollfd	 p;
	char		 chunk[16384], *nl, *line;
	size_t		 len;
	ssize_t		 n;
	int64_t		 left;

	for (;;) {
		/* Checked on every pass, not only when the pipe is empty:
		 * a child that floods would otherwise never let us see the
		 * deadline. */
		if ((left = deadline - (int64_t)util_now_ms()) <= 0) {
			snprintf(err, errlen, "timed out");
			*timedout = 1;
			return (NULL);
		}
		if (mc->mc_cancel != NULL && atomic_load(mc->mc_cancel)) {
			snprintf(err, errlen, "stopping");
			return (NULL);
		}
		if (mc->mc_rbuf.b_len > 0 && (nl = memchr(mc->mc_rbuf.b_data,
		    '\n', mc->mc_rbuf.b_len)) != NULL) {
			len = (size_t)(nl - mc->mc_rbuf.b_data);
			if ((line = malloc(len + 1)) == NULL) {
				snprintf(err, errlen, "out of memory");
				return (NULL);
			}
			memcpy(line, mc->mc_rbuf.b_data, len);
			line[len] = '\0';
			memmove(mc->mc_rbuf.b_data, nl + 1,
			    mc->mc_rbuf.b_len - len - 1);
			mc->mc_rbuf.b_len -= len + 1;
			return (line);
		}
		n = read(mc->mc_out, chunk, sizeof(chunk));
		if (n > 0) {
			if (buf_add(&mc->mc_rbuf, chunk, (size_t)n) != 0) {
				snprintf(err, errlen, "a message is longer "
				    "than %d bytes", MCP_LINE_MAX);
				return (NULL);
			}
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen, "the server closed its output");
			return (NULL);
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			return (NULL);
		}
		p.fd = mc->mc_out;
		p.events = POLLIN;
		(void)poll(&p, 1, left > 200 ? 200 : (int)left);
	}
}

static int
conn_send(struct mcp_conn *mc, json_t *msg, int64_t deadline, char *err,
    size_t errlen)
{
	char	*text;
	int	 rv;

	/* JSON_COMPACT never writes a newline inside a message. */
	if ((text = json_dumps(msg, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	pthread_mutex_lock(&mc->mc_wmtx);
	rv = conn_write(mc, text, strlen(text), deadline, err, errlen);
	if (rv == 0)
		rv = conn_write(mc, "\n", 1, deadline, err, errlen);
	pthread_mutex_unlock(&mc->mc_wmtx);
	free(text);
	return (rv);
}

/* Answers a request the server sent us (ping; anything else -32601). */
static void
conn_answer(struct mcp_conn *mc, json_t *m, int64_t deadline)
{
	const char	*method = json_string_value(json_object_get(m,
	    "method"));
	json_t		*a;
	char		 err[128];

	if (strcmp(method, "ping") == 0)
		a = json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id",
		    json_object_get(m, "id"), "result");
	else
		a = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
		    "id", json_object_get(m, "id"), "error", "code", -32601,
		    "message", "Method not found");
	if (a != NULL && mc->mc_type == CONN_STDIO)
		(void)conn_send(mc, a, deadline, err, sizeof(err));
	json_decref(a);
}

/*
 * Hands one message from the server to the call waiting for it (mc_mtx
 * held).  1 when it is a request of the server's, for the caller to
 * answer once it let go of the lock; 0 otherwise (an answer delivered, a
 * notification or a stray answer skipped: its caller gave up).
 */
static int
conn_dispatch(struct mcp_conn *mc, json_t *m)
{
	struct conn_wait	*w;
	const char		*method;
	json_t			*mid;

	if (!json_is_object(m))
		return (0);
	mid = json_object_get(m, "id");
	if ((method = json_string_value(json_object_get(m, "method"))) !=
	    NULL) {
		if (strcmp(method, "notifications/tools/list_changed") == 0)
			mc->mc_changed = 1;
		return (mid != NULL && !json_is_null(mid));
	}
	if (!json_is_integer(mid))
		return (0);
	for (w = mc->mc_waits; w != NULL; w = w->cw_next)
		if (w->cw_id == json_integer_value(mid) && !w->cw_done)
			break;
	if (w == NULL)
		return (0);
	if (json_is_object(json_object_get(m, "error")))
		w->cw_error = json_incref(json_object_get(m, "error"));
	else if ((w->cw_result = json_incref(json_object_get(m,
	    "result"))) == NULL)
		w->cw_result = json_object();
	w->cw_done = 1;
	pthread_cond_broadcast(&mc->mc_cv);
	return (0);
}

/* The transport failed: every call fails with why (mc_mtx not held). */
static void
conn_break(struct mcp_conn *mc, const char *why)
{
	pthread_mutex_lock(&mc->mc_mtx);
	if (!mc->mc_broken) {
		mc->mc_broken = 1;
		snprintf(mc->mc_why, sizeof(mc->mc_why), "%s", why);
	}
	pthread_cond_broadcast(&mc->mc_cv);
	pthread_mutex_unlock(&mc->mc_mtx);
}

/* Sleeps on mc_cv until deadline at the latest (mc_mtx held). */
static void
conn_sleep(struct mcp_conn *mc, int64_t deadline)
{
	struct timespec	ts;
	int64_t		ms = deadline - (int64_t)util_now_ms();

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&mc->mc_cv, &mc->mc_mtx, &ts);
}

/*
 * Waits until deadline for w's answer, taking the reader role whenever
 * nobody holds it (the file's comment).  0 once answered, -1 with err (a
 * timeout, or the transport failed).
 */
static int
conn_wait(struct mcp_conn *mc, struct conn_wait *w, int64_t deadline,
    char *err, size_t errlen)
{
	json_t	*m;
	char	*line, why[160];
	int	 timedout, request, rv = -1;

	pthread_mutex_lock(&mc->mc_mtx);
	for (;;) {
		if (w->cw_done) {
			rv = 0;
			break;
		}
		if (mc->mc_broken) {
			snprintf(err, errlen, "%s", mc->mc_why);
			break;
		}
		if ((int64_t)util_now_ms() >= deadline) {
			snprintf(err, errlen, "timed out");
			break;
		}
		if (mc->mc_reading) {
			conn_sleep(mc, deadline);
			continue;
		}
		mc->mc_reading = 1;
		pthread_mutex_unlock(&mc->mc_mtx);
		timedout = 0;
		line = conn_read_line(mc, deadline, &timedout, why,
		    sizeof(why));
		m = line != NULL ? json_loads(line, JSON_REJECT_DUPLICATES,
		    NULL) : NULL;	/* garbage on stdout: skipped */
		pthread_mutex_lock(&mc->mc_mtx);
		mc->mc_reading = 0;
		pthread_cond_broadcast(&mc->mc_cv);	/* another may read */
		if (line == NULL && !timedout && !mc->mc_broken) {
			mc->mc_broken = 1;
			snprintf(mc->mc_why, sizeof(mc->mc_why), "%s", why);
		}
		free(line);
		request = m != NULL && conn_dispatch(mc, m);
		if (request) {
			pthread_mutex_unlock(&mc->mc_mtx);
			conn_answer(mc, m, deadline);
			pthread_mutex_lock(&mc->mc_mtx);
		}
		json_decref(m);
	}
	pthread_mutex_unlock(&mc->mc_mtx);
	return (rv);
}

int
mcp_conn_request(struct mcp_conn *mc, const char *method, json_t *params,
    int64_t deadline_ms, json_t **resultp, json_t **errorp, char *err,
    size_t errlen)
{
	struct conn_wait	 w, **pp;
	json_t			*msg = NULL, *m, *answers = NULL;
	size_t			 i;
	int			 ret = -1, listed = 0;
	int			 notify = (resultp == NULL);

	*err = '\0';
	if (resultp != NULL)
		*resultp = NULL;
	if (errorp != NULL)
		*errorp = NULL;
	memset(&w, 0, sizeof(w));
	/* Listed before it is sent: the answer may come at once. */
	pthread_mutex_lock(&mc->mc_mtx);
	if (mc->mc_broken) {
		snprintf(err, errlen, "%s", mc->mc_why);
		pthread_mutex_unlock(&mc->mc_mtx);
		goto done;
	}
	if (!notify) {	/* notifications take no id */
		w.cw_id = ++mc->mc_next_id;
		w.cw_next = mc->mc_waits;
		mc->mc_waits = &w;
		listed = 1;
	}
	pthread_mutex_unlock(&mc->mc_mtx);
	msg = notify ?
	    json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method) :
	    json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id",
	    (json_int_t)w.cw_id, "method", method);
	if (msg == NULL || (params != NULL &&
	    json_object_set(msg, "params", params) != 0)) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (mc->mc_type == CONN_HTTP) {
		/* One POST each: its answer comes back on it. */
		if (mcp_http_send(mc->mc_http, msg, deadline_ms, &answers, err,
		    errlen) != 0)
			goto done;
		pthread_mutex_lock(&mc->mc_mtx);
		json_array_foreach(answers, i, m)
			(void)conn_dispatch(mc, m);
		pthread_mutex_unlock(&mc->mc_mtx);
		if (!notify && !w.cw_done) {
			snprintf(err, errlen, "no answer to '%s'", method);
			goto done;
		}
	} else if (conn_send(mc, msg, deadline_ms, err, errlen) != 0) {
		/* A message cut short leaves the stream unreadable. */
		conn_break(mc, err);
		goto done;
	} else if (!notify && conn_wait(mc, &w, deadline_ms, err,
	    errlen) != 0)
		goto done;
	ret = 0;
	if (w.cw_error != NULL) {
		*errorp = w.cw_error;
		w.cw_error = NULL;
		ret = 1;
	} else if (resultp != NULL) {
		*resultp = w.cw_result;
		w.cw_result = NULL;
	}
 done:
	if (listed) {
		pthread_mutex_lock(&mc->mc_mtx);
		for (pp = &mc->mc_waits; *pp != NULL; pp = &(*pp)->cw_next)
			if (*pp == &w) {
				*pp = w.cw_next;
				break;
			}
		pthread_mutex_unlock(&mc->mc_mtx);
	}
	json_decref(w.cw_result);
	json_decref(w.cw_error);
	json_decref(answers);
	json_decref(msg);
	if (ret == -1 && *err == '\0')
		snprintf(err, errlen, "'%s' failed", method);
	return (ret);
}

static int
conn_version_known(const char *v)
{
	size_t	i;

	for (i = 0; v != NULL && conn_versions[i] != NULL; i++)
		if (strcmp(conn_versions[i], v) == 0)
			return (1);
	return (0);
}

int
mcp_conn_list_tools(struct mcp_conn *mc, int64_t deadline, json_t **toolsp,
    char *err, size_t errlen)
{
	json_t		*params, *res = NULL, *rerr = NULL, *tools, *t;
	const char	*cursor;
	char		*ecopy = NULL;
	size_t		 i;
	int		 page, rv, ret = -1;

	*toolsp = NULL;
	if ((tools = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	cursor = NULL;
	for (page = 0; page < CONN_PAGES_MAX; page++) {
		json_decref(res);
		res = NULL;
		params = cursor ? json_pack("{s:s}", "cursor", cursor) : NULL;
		free(ecopy);
		ecopy = NULL;
		rv = mcp_conn_request(mc, "tools/list", params, deadline, &res,
		    &rerr, err, errlen);
		json_decref(params);
		if (rv == 1) {
			snprintf(err, errlen, "tools/list: %.200s",
			    json_string_value(json_object_get(rerr,
			    "message")) ?: "error");
			goto done;
		}
		if (rv != 0)
			goto done;
		json_array_foreach(json_object_get(res, "tools"), i, t)
			if (json_array_size(tools) < MCP_TOOLS_MAX &&
			    json_is_string(json_object_get(t, "name")))
				json_array_append(tools, t);
		cursor = json_string_value(json_object_get(res, "nextCursor"));
		if (cursor == NULL || *cursor == '\0' ||
		    json_array_size(tools) >= MCP_TOOLS_MAX)
			break;
		/* res is replaced on the next page: keep the cursor. */
		if ((ecopy = strdup(cursor)) == NULL)
			break;
		cursor = ecopy;
	}
	/* This listing is the current one. */
	pthread_mutex_lock(&mc->mc_mtx);
	mc->mc_changed = 0;
	pthread_mutex_unlock(&mc->mc_mtx);
	*toolsp = tools;
	tools = NULL;
	ret = 0;
 done:
	free(ecopy);
	json_decref(res);
	json_decref(rerr);
	json_decref(tools);
	return (ret);
}

int
mcp_conn_take_changed(struct mcp_conn *mc)
{
	int	c;

	pthread_mutex_lock(&mc->mc_mtx);
	c = mc->mc_changed;
	mc->mc_changed = 0;
	pthread_mutex_unlock(&mc->mc_mtx);
	return (c);
}

/* initialize, notifications/initialized, tools/list (every page). */
static int
conn_handshake(struct mcp_conn *mc, int64_t deadline, json_t **toolsp,
    char *err, size_t errlen)
{
	json_t		*params, *res = NULL, *rerr = NULL;
	const char	*v;
	int		 rv, ret = -1;

	*toolsp = NULL;
	if ((params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion",
	    MCP_PROTOCOL, "capabilities", "clientInfo", "name",
	    LIBREFANG_NAME, "version", LIBREFANG_VERSION)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rv = mcp_conn_request(mc, "initialize", params, deadline, &res, &rerr,
	    err, errlen);
	json_decref(params);
	if (rv == 1) {
		snprintf(err, errlen, "initialize: %.200s",
		    json_string_value(json_object_get(rerr, "message")) ?:
		    "error");
		goto done;
	}
	if (rv != 0)
		goto done;
	v = json_string_value(json_object_get(res, "protocolVersion"));
	if (!conn_version_known(v)) {
		snprintf(err, errlen, "initialize: unsupported protocol "
		    "version '%.40s'", v ? v : "");
		goto done;
	}
	if (mc->mc_type == CONN_HTTP)
		mcp_http_set_version(mc->mc_http, v);
	if (mcp_conn_request(mc, "notifications/initialized", NULL, deadline,
	    NULL, NULL, err, errlen) != 0)
		goto done;
	if (mcp_conn_list_tools(mc, deadline, toolsp, err, errlen) != 0)
		goto done;
	ret = 0;
 done:
	json_decref(res);
	json_decref(rerr);
	return (ret);
}

struct mcp_conn *
mcp_conn_open(const char *name, json_t *spec, int64_t deadline_ms,
    const atomic_int *cancel, json_t **toolsp, char *err, size_t errlen)
{
	struct mcp_conn		*mc;
	pthread_condattr_t	 ca;
	const char		*type = json_string_value(json_object_get(
	    json_object_get(spec, "transport"), "type")) ?: "";

	*toolsp = NULL;
	if ((mc = calloc(1, sizeof(*mc))) == NULL ||
	    (mc->mc_name = strdup(name)) == NULL) {
		free(mc);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	mc->mc_in = mc->mc_out = mc->mc_err = -1;
	mc->mc_cancel = cancel;
	buf_init(&mc->mc_rbuf, MCP_LINE_MAX);
	pthread_mutex_init(&mc->mc_wmtx, NULL);
	pthread_mutex_init(&mc->mc_mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mc->mc_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (strcmp(type, "http") == 0) {
		mc->mc_type = CONN_HTTP;
		if (mcp_http_open(&mc->mc_http, spec, err, errlen) != 0)
			goto fail;
	} else if (conn_spawn(mc, spec, err, errlen) != 0)
		goto fail;
	if (conn_handshake(mc, deadline_ms, toolsp, err, errlen) != 0)
		goto fail;
	return (mc);
 fail:
	mcp_conn_close(mc);
	return (NULL);
}

/* Waits up to ms for the child to exit; 1 once reaped. */
static int
conn_reap(struct mcp_conn *mc, int ms)
{
	if (mc->mc_pid <= 0)
		return (1);
	if (!child_reap(mc->mc_pid, ms, NULL))
		return (0);
	mc->mc_pid = 0;
	return (1);
}

void
mcp_conn_close(struct mcp_conn *mc)
{
	if (mc == NULL)
		return;
	if (mc->mc_type == CONN_HTTP)
		mcp_http_close(mc->mc_http);
	/* The spec's order: close stdin, wait, SIGTERM, then SIGKILL. */
	if (mc->mc_in != -1)
		close(mc->mc_in);
	if (mc->mc_pid > 0 && !conn_reap(mc, 300)) {
		child_kill(mc->mc_pid, SIGTERM);
		if (!conn_reap(mc, 1000)) {
			child_kill(mc->mc_pid, SIGKILL);
			(void)waitpid(mc->mc_pid, NULL, 0);
		}
	}
	/* Whatever the server started in its group goes too. */
	if (mc->mc_pgid > 0)
		(void)kill(-mc->mc_pgid, SIGKILL);
	if (mc->mc_out != -1)
		close(mc->mc_out);
	if (mc->mc_err != -1)
		close(mc->mc_err);
	buf_release(&mc->mc_rbuf);
	pthread_cond_destroy(&mc->mc_cv);
	pthread_mutex_destroy(&mc->mc_mtx);
	pthread_mutex_destroy(&mc->mc_wmtx);
	free(mc->mc_name);
	free(mc);
}

int
mcp_conn_stderr_fd(struct mcp_conn *mc)
{
	return (mc != NULL ? mc->mc_err : -1);
}

int
mcp_conn_drain_stderr(struct mcp_conn *mc, char *tail)
{
	char	chunk[4096];
	size_t	have, keep;
	ssize_t	n;

	if (mc == NULL || mc->mc_err == -1)
		return (1);
	while ((n = read(mc->mc_err, chunk, sizeof(chunk))) > 0) {
		/* Keep the newest MCP_STDERR_TAIL - 1 bytes. */
		have = strlen(tail);
		if ((size_t)n >= MCP_STDERR_TAIL - 1) {
			memcpy(tail, chunk + n - (MCP_STDERR_TAIL - 1),
			    MCP_STDERR_TAIL - 1);
			tail[MCP_STDERR_TAIL - 1] = '\0';
			continue;
		}
		keep = MCP_STDERR_TAIL - 1 - (size_t)n;
		if (have > keep) {
			memmove(tail, tail + have - keep, keep);
			have = keep;
		}
		memcpy(tail + have, chunk, (size_t)n);
		tail[have + (size_t)n] = '\0';
	}
	return (n == 0);
}

int
mcp_conn_exited(struct mcp_conn *mc, char *why, size_t whylen)
{
	int	status;

	if (mc == NULL || mc->mc_type != CONN_STDIO || mc->mc_pid <= 0)
		return (0);
	if (waitpid(mc->mc_pid, &status, WNOHANG) != mc->mc_pid)
		return (0);
	mc->mc_pid = 0;
	if (WIFEXITED(status))
		snprintf(why, whylen, "the server exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "the server was killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, whylen, "the server exited");
	return (1);
}
