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
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

struct mcp_conn {
	enum conn_type	 mc_type;
	char		*mc_name;
	pid_t		 mc_pid;	/* 0 once reaped */
	pid_t		 mc_pgid;	/* the child's process group */
	int		 mc_in;		/* child's stdin */
	int		 mc_out;	/* child's stdout, non-blocking */
	int		 mc_err;	/* child's stderr, non-blocking */
	struct buf	 mc_rbuf;	/* stdout bytes not yet a line */
	long long	 mc_next_id;
	int		 mc_changed;	/* tools/list_changed seen */
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
 * deadline.  NULL on timeout, EOF, I/O error or a line over MCP_LINE_MAX,
 * err saying which.
 */
static char *
conn_read_line(struct mcp_conn *mc, int64_t deadline, char *err,
    size_t errlen)
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
		(void)poll(&p, 1, left > 1000 ? 1000 : (int)left);
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
	rv = conn_write(mc, text, strlen(text), deadline, err, errlen);
	if (rv == 0)
		rv = conn_write(mc, "\n", 1, deadline, err, errlen);
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
 * Looks at one message from the server: 1 when it is the answer to id
 * (*resultp or *errorp set, new), 0 otherwise (a request is answered, a
 * notification or a stray answer skipped).
 */
static int
conn_take(struct mcp_conn *mc, json_t *m, long long id, int64_t deadline,
    json_t **resultp, json_t **errorp)
{
	json_t	*mid;

	if (!json_is_object(m))
		return (0);
	mid = json_object_get(m, "id");
	if (json_is_string(json_object_get(m, "method")) &&
	    strcmp(json_string_value(json_object_get(m, "method")),
	    "notifications/tools/list_changed") == 0)
		mc->mc_changed = 1;
	if (json_is_string(json_object_get(m, "method"))) {
		if (mid != NULL && !json_is_null(mid))
			conn_answer(mc, m, deadline);
		return (0);
	}
	if (!json_is_integer(mid) || json_integer_value(mid) != id)
		return (0);
	if (json_is_object(json_object_get(m, "error"))) {
		*errorp = json_incref(json_object_get(m, "error"));
		return (1);
	}
	*resultp = json_incref(json_object_get(m, "result"));
	if (*resultp == NULL)
		*resultp = json_object();
	return (1);
}

int
mcp_conn_request(struct mcp_conn *mc, const char *method, json_t *params,
    int64_t deadline_ms, json_t **resultp, json_t **errorp, char *err,
    size_t errlen)
{
	json_t		*msg, *m, *answers = NULL;
	char		*line;
	long long	 id;
	size_t		 i;
	int		 ret = -1, notify = (resultp == NULL);

	/* Notifications take no id. */
	id = notify ? 0 : ++mc->mc_next_id;

	*err = '\0';
	if (resultp != NULL)
		*resultp = NULL;
	if (errorp != NULL)
		*errorp = NULL;
	msg = notify ?
	    json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method) :
	    json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id,
	    "method", method);
	if (msg == NULL || (params != NULL &&
	    json_object_set(msg, "params", params) != 0)) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (mc->mc_type == CONN_HTTP) {
		if (mcp_http_send(mc->mc_http, msg, deadline_ms, &answers, err,
		    errlen) != 0)
			goto done;
		if (notify) {
			ret = 0;
			goto done;
		}
		json_array_foreach(answers, i, m)
			if (conn_take(mc, m, id, deadline_ms, resultp, errorp)) {
				ret = *resultp != NULL ? 0 : 1;
				goto done;
			}
		snprintf(err, errlen, "no answer to '%s'", method);
		goto done;
	}
	if (conn_send(mc, msg, deadline_ms, err, errlen) != 0)
		goto done;
	if (notify) {
		ret = 0;
		goto done;
	}
	for (;;) {
		if ((line = conn_read_line(mc, deadline_ms, err,
		    errlen)) == NULL)
			goto done;
		m = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		free(line);
		if (m == NULL)
			continue;	/* garbage on stdout: skipped */
		if (conn_take(mc, m, id, deadline_ms, resultp, errorp)) {
			json_decref(m);
			ret = *resultp != NULL ? 0 : 1;
			goto done;
		}
		json_decref(m);
	}
 done:
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
	mc->mc_changed = 0;
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
	int	c = mc->mc_changed;

	mc->mc_changed = 0;
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
    json_t **toolsp, char *err, size_t errlen)
{
	struct mcp_conn	*mc;
	const char	*type = json_string_value(json_object_get(
	    json_object_get(spec, "transport"), "type")) ?: "";

	*toolsp = NULL;
	if ((mc = calloc(1, sizeof(*mc))) == NULL ||
	    (mc->mc_name = strdup(name)) == NULL) {
		free(mc);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	mc->mc_in = mc->mc_out = mc->mc_err = -1;
	buf_init(&mc->mc_rbuf, MCP_LINE_MAX);
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
