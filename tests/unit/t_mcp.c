/*
 * t_mcp.c - the MCP client's parts that need no database (mcp/mcp.h):
 * tool names, server names, every request shape mcp_spec_normalise()
 * takes or refuses, the embedded catalog, and one stdio connection
 * against small sh scripts: the handshake with pagination, a server ping
 * answered in the middle of it, garbage and notifications skipped, a
 * call's answer, stderr kept; a silent child and a flooding one cost a
 * timeout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcp/mcp.h"
#include "tap.h"
#include "util.h"

static int
t_tool_names(void)
{
	static const struct {
		const char	*server, *tool, *want;
	} cases[] = {
		{ "filesystem", "read_text_file", "mcp_filesystem_read_text_file" },
		{ "everything", "get-sum", "mcp_everything_get_sum" },
		{ "My-Server", "Do.It/now", "mcp_my_server_do_it_now" },
		{ NULL, NULL, NULL }
	};
	char	out[80];
	int	i;

	for (i = 0; cases[i].server != NULL; i++) {
		T_EQ_INT(mcp_tool_name(cases[i].server, cases[i].tool, out,
		    sizeof(out)), 0);
		T_EQ_STR(out, cases[i].want);
	}
	/* Over 64 bytes: providers refuse such names. */
	T_EQ_INT(mcp_tool_name("s", "0123456789012345678901234567890123456"
	    "789012345678901234567890", out, sizeof(out)), -1);
	T_OK(mcp_name_valid("a-b_C9"));
	T_OK(!mcp_name_valid(""));
	T_OK(!mcp_name_valid("../x"));
	T_OK(!mcp_name_valid("a b"));
	T_OK(!mcp_name_valid(NULL));
	return (0);
}

static int
t_specs(void)
{
	static const struct {
		const char	*body;
		int		 status;	/* 0: accepted */
		const char	*want;		/* part of the result or error */
	} cases[] = {
		{ "{\"name\":\"a\",\"transport\":{\"type\":\"stdio\","
		  "\"command\":\"x\",\"args\":[\"1\"]}}", 0,
		  "\"transport\":{\"type\":\"stdio\",\"command\":\"x\","
		  "\"args\":[\"1\"]}" },
		{ "{\"name\":\"a\",\"transport\":\"stdio\",\"command\":\"x\","
		  "\"env\":{\"K\":\"v\"}}", 0, "\"env\":{\"K\":\"v\"}" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"env\":[\"K=v=w\"]}", 0,
		  "\"env\":{\"K\":\"v=w\"}" },
		{ "{\"name\":\"a\",\"url\":\"https://h/mcp\",\"headers\":"
		  "{\"X\":\"y\"}}", 0, "\"type\":\"http\",\"url\":\"https://h/mcp\"" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"timeout_secs\":5}", 0,
		  "\"timeout_secs\":5" },
		{ "{\"template_id\":\"filesystem\"}", 0,
		  "\"name\":\"filesystem\"" },
		{ "{\"template_id\":\"github\",\"credentials\":"
		  "{\"GITHUB_PERSONAL_ACCESS_TOKEN\":\"t\"}}", 0,
		  "\"template_id\":\"github\"" },
		{ "{\"template_id\":\"github\"}", 400, "is required by" },
		{ "{\"template_id\":\"nope\"}", 404, "not found" },
		{ "{\"template_id\":5}", 400, "must name" },
		{ "{\"command\":\"x\"}", 400, "'name' is required" },
		{ "{\"name\":\"a\"}", 400, "'command' is required" },
		{ "{\"name\":\"a\",\"command\":\"\"}", 400, "'command'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"args\":\"-v\"}", 400,
		  "'args'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"env\":{\"LD_PRELOAD\":"
		  "\"/x\"}}", 400, "'env'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"env\":{\"A=B\":\"x\"}}",
		  400, "'env'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"env\":[\"NOEQ\"]}", 400,
		  "'env'" },
		{ "{\"name\":\"a\",\"url\":\"ftp://h\"}", 400, "http or https" },
		{ "{\"name\":\"a\",\"url\":\"http://h\",\"headers\":{\"X\":"
		  "\"a\\r\\nB: c\"}}", 400, "'headers'" },
		{ "{\"name\":\"a\",\"transport\":{\"type\":\"pigeon\"}}", 400,
		  "unknown transport" },
		{ "{\"name\":\"a\",\"transport\":7}", 400, "'transport'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"timeout_secs\":601}",
		  400, "'timeout_secs'" },
		{ "{\"name\":\"a\",\"command\":\"x\",\"bogus\":1}", 400,
		  "unknown field 'bogus'" },
		{ "[]", 400, "JSON object" },
		{ NULL, 0, NULL }
	};
	json_t	*body, *spec;
	char	 err[256], *text;
	int	 i, status;

	for (i = 0; cases[i].body != NULL; i++) {
		body = json_loads(cases[i].body, 0, NULL);
		T_OK(body != NULL);
		spec = mcp_spec_normalise(body, NULL, &status, err,
		    sizeof(err));
		json_decref(body);
		if (cases[i].status == 0) {
			if (spec == NULL)
				printf("# case %d: %s\n", i, err);
			T_OK(spec != NULL);
			text = json_dumps(spec, JSON_COMPACT);
			json_decref(spec);
			if (strstr(text, cases[i].want) == NULL)
				printf("# case %d: %s\n", i, text);
			T_OK(strstr(text, cases[i].want) != NULL);
			free(text);
		} else {
			T_OK(spec == NULL);
			if (status != cases[i].status ||
			    strstr(err, cases[i].want) == NULL)
				printf("# case %d: %d %s\n", i, status, err);
			T_EQ_INT(status, cases[i].status);
			T_OK(strstr(err, cases[i].want) != NULL);
		}
	}
	/* PUT: the name is the row's. */
	body = json_loads("{\"command\":\"x\"}", 0, NULL);
	spec = mcp_spec_normalise(body, "fixed", &status, err, sizeof(err));
	T_OK(spec != NULL);
	T_EQ_STR(json_string_value(json_object_get(spec, "name")), "fixed");
	json_decref(spec);
	json_decref(body);
	body = json_loads("{\"name\":\"other\",\"command\":\"x\"}", 0, NULL);
	spec = mcp_spec_normalise(body, "fixed", &status, err, sizeof(err));
	T_OK(spec == NULL);
	json_decref(body);
	return (0);
}

static int
t_catalog(void)
{
	json_t	*t, *v;

	T_EQ_INT(json_array_size(mcp_catalog_all()), 33);
	T_OK((t = mcp_catalog_get("github")) != NULL);
	T_OK(mcp_catalog_get("nope") == NULL);
	T_OK((v = mcp_catalog_view(t)) != NULL);
	T_EQ_STR(json_string_value(json_object_get(v, "id")), "github");
	T_OK(json_is_true(json_object_get(v, "has_oauth")));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(v, "required_env"), 0), "name")),
	    "GITHUB_PERSONAL_ACCESS_TOKEN");
	json_decref(v);
	return (0);
}

/* A stdio spec running script with sh -c. */
static json_t *
sh_spec(const char *script)
{
	return (json_pack("{s:s, s:{s:s, s:s, s:[s, s]}, s:{}, s:i}", "name",
	    "t", "transport", "type", "stdio", "command", "sh", "args", "-c",
	    script, "env", "timeout_secs", 5));
}

static const char GOOD[] =
	"echo hello-stderr >&2\n"
	"read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	"{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}'\n"
	"read l\n"
	"read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":"
	"[{\"name\":\"a-b\",\"inputSchema\":{\"type\":\"object\"}}],"
	"\"nextCursor\":\"c1\"}}'\n"
	"read l; case \"$l\" in *'\"cursor\":\"c1\"'*) ;; *) exit 3;; esac\n"
	"echo '{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":\"p1\"}'\n"
	"echo 'this is garbage'\n"
	"echo '{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/"
	"list_changed\"}'\n"
	"echo '{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":"
	"[{\"name\":\"c\"}]}}'\n"
	"read pong\n"
	"read l\n"
	"case \"$pong\" in *'\"id\":\"p1\"'*'\"result\"'*) r=pong-ok;; "
	"*) r=pong-bad;; esac\n"
	"echo \"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":4,\\\"result\\\":"
	"{\\\"content\\\":[{\\\"type\\\":\\\"text\\\",\\\"text\\\":"
	"\\\"$r\\\"}]}}\"\n"
	"read l\n";

static int
t_conn_good(void)
{
	struct mcp_conn	*mc;
	json_t		*spec = sh_spec(GOOD), *tools = NULL, *res = NULL;
	json_t		*rerr = NULL;
	char		 err[256], tail[MCP_STDERR_TAIL] = "";
	int		 rv;

	mc = mcp_conn_open("t", spec, (int64_t)util_now_ms() + 5000, NULL,
	    &tools, err, sizeof(err));
	json_decref(spec);
	if (mc == NULL)
		printf("# %s\n", err);
	T_OK(mc != NULL);
	T_EQ_INT(json_array_size(tools), 2);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(tools, 1),
	    "name")), "c");
	json_decref(tools);
	rv = mcp_conn_request(mc, "tools/call", NULL,
	    (int64_t)util_now_ms() + 5000, &res, &rerr, err, sizeof(err));
	if (rv != 0)
		printf("# %d %s\n", rv, err);
	T_EQ_INT(rv, 0);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(res, "content"), 0), "text")), "pong-ok");
	json_decref(res);
	util_sleep_ms(50);
	(void)mcp_conn_drain_stderr(mc, tail);
	T_OK(strstr(tail, "hello-stderr") != NULL);
	mcp_conn_close(mc);
	return (0);
}

/* Answers "fast" at once and "slow" a second later, whatever their
 * order: the two calls overlap. */
static const char CONCURRENT[] =
	"read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	"{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}'\n"
	"read l\n"
	"read l; echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":"
	"[{\"name\":\"x\"}]}}'\n"
	"for n in 1 2; do\n"
	"  read l\n"
	"  id=$(echo \"$l\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/')\n"
	"  case \"$l\" in\n"
	"  *'\"method\":\"fast\"'*) echo \"{\\\"jsonrpc\\\":\\\"2.0\\\","
	"\\\"id\\\":$id,\\\"result\\\":{\\\"t\\\":\\\"fast\\\"}}\";;\n"
	"  *'\"method\":\"slow\"'*) (sleep 1; echo \"{\\\"jsonrpc\\\":"
	"\\\"2.0\\\",\\\"id\\\":$id,\\\"result\\\":{\\\"t\\\":"
	"\\\"slow\\\"}}\") & ;;\n"
	"  esac\n"
	"done\n"
	"wait\n"
	"read l\n";

struct slow_call {
	struct mcp_conn	*sc_mc;
	json_t		*sc_res;
	int		 sc_rv;
	char		 sc_err[256];
};

static void *
slow_main(void *arg)
{
	struct slow_call	*sc = arg;
	json_t			*rerr = NULL;

	sc->sc_rv = mcp_conn_request(sc->sc_mc, "slow", NULL,
	    (int64_t)util_now_ms() + 5000, &sc->sc_res, &rerr, sc->sc_err,
	    sizeof(sc->sc_err));
	json_decref(rerr);
	return (NULL);
}

static int
t_conn_concurrent(void)
{
	struct slow_call	 sc;
	pthread_t		 th;
	json_t			*spec = sh_spec(CONCURRENT), *tools = NULL;
	json_t			*res = NULL, *rerr = NULL;
	char			 err[256];
	uint64_t		 t0, fast_ms;
	int			 rv;

	memset(&sc, 0, sizeof(sc));
	sc.sc_mc = mcp_conn_open("t", spec, (int64_t)util_now_ms() + 5000,
	    NULL, &tools, err, sizeof(err));
	json_decref(spec);
	json_decref(tools);
	if (sc.sc_mc == NULL)
		printf("# %s\n", err);
	T_OK(sc.sc_mc != NULL);
	t0 = util_now_ms();
	T_OK(pthread_create(&th, NULL, slow_main, &sc) == 0);
	util_sleep_ms(100);	/* "slow" goes first */
	rv = mcp_conn_request(sc.sc_mc, "fast", NULL,
	    (int64_t)util_now_ms() + 5000, &res, &rerr, err, sizeof(err));
	fast_ms = util_now_ms() - t0;
	pthread_join(th, NULL);
	printf("# fast answered after %llu ms, slow after %llu ms\n",
	    (unsigned long long)fast_ms,
	    (unsigned long long)(util_now_ms() - t0));
	T_EQ_INT(rv, 0);
	T_EQ_STR(json_string_value(json_object_get(res, "t")), "fast");
	/* Not behind the slow call's second. */
	T_OK(fast_ms < 900);
	T_EQ_INT(sc.sc_rv, 0);
	T_EQ_STR(json_string_value(json_object_get(sc.sc_res, "t")), "slow");
	json_decref(res);
	json_decref(sc.sc_res);
	mcp_conn_close(sc.sc_mc);
	return (0);
}

static int
t_conn_hostile(void)
{
	static const char *const scripts[] = {
		"exec sleep 30",
		"while :; do echo 'garbage garbage garbage'; done",
		"head -c 5000000 /dev/zero | tr '\\0' x",
		"exit 0",
		NULL
	};
	struct mcp_conn	*mc;
	json_t		*spec, *tools;
	char		 err[256];
	uint64_t	 t0;
	int		 i;

	for (i = 0; scripts[i] != NULL; i++) {
		spec = sh_spec(scripts[i]);
		t0 = util_now_ms();
		mc = mcp_conn_open("t", spec, (int64_t)t0 + 700, NULL, &tools,
		    err, sizeof(err));
		json_decref(spec);
		T_OK(mc == NULL);
		printf("# %s: %s in %llu ms\n", scripts[i], err,
		    (unsigned long long)(util_now_ms() - t0));
		/* The deadline, plus the close (TERM after 300 ms), with
		 * room for a loaded machine and a sanitizer build. */
		T_OK(util_now_ms() - t0 < 5000);
	}
	return (0);
}

static void *
cancel_later(void *arg)
{
	util_sleep_ms(300);
	atomic_store((atomic_int *)arg, 1);
	return (NULL);
}

/* A stop during the handshake of a server that never answers ends it
 * at once, not at the handshake's deadline (mcp_fini). */
static int
t_conn_cancel(void)
{
	struct mcp_conn	*mc;
	json_t		*spec, *tools;
	pthread_t	 th;
	atomic_int	 cancel = 0;
	char		 err[256];
	uint64_t	 t0;

	spec = sh_spec("exec sleep 60");
	T_OK(pthread_create(&th, NULL, cancel_later, &cancel) == 0);
	t0 = util_now_ms();
	mc = mcp_conn_open("t", spec, (int64_t)t0 + 30000, &cancel, &tools,
	    err, sizeof(err));
	json_decref(spec);
	pthread_join(th, NULL);
	T_OK(mc == NULL);
	T_EQ_STR(err, "stopping");
	printf("# cancelled after 300 ms: open returned in %llu ms\n",
	    (unsigned long long)(util_now_ms() - t0));
	/* Far below the 30 s deadline: the wait, the close (TERM after
	 * 300 ms) and a loaded machine's slack. */
	T_OK(util_now_ms() - t0 < 10000);
	return (0);
}

static const struct tap_case cases[] = {
	{ "tool names and server names", t_tool_names },
	{ "request shapes accepted and refused", t_specs },
	{ "the embedded catalog", t_catalog },
	{ "a stdio handshake, pages, a ping, garbage, a call, stderr",
	  t_conn_good },
	{ "silent, flooding, oversized and exiting children time out",
	  t_conn_hostile },
	{ "two calls at once: the fast one is not behind the slow one",
	  t_conn_concurrent },
	{ "a stop ends a handshake under way", t_conn_cancel },
	{ NULL, NULL }
};

int
main(void)
{
	if (mcp_catalog_init() != 0) {
		printf("Bail out! the catalog did not load\n");
		return (1);
	}
	return (tap_main(cases));
}
