/*
 * t_tool.c - unit tests for the built-in tools (services/agent-runtime/
 * tool*.c): the workspace path corpus, web_fetch refusals (the SSRF
 * rules themselves are tests/unit/t_ssrf.c's), shell sandboxing (environment, timeout and process group, output cap),
 * grants and globs, argument checks and results.  No network is used.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cfg.h"
#include "err.h"
#include "tap.h"
#include "tool/tool.h"
#include "util.h"

static char	ws[256];	/* the workspace */
static char	outside[256];	/* a directory beside it */

static void
rm_rf(const char *path)
{
	char	cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", path);
}

static int
setup_dirs(void)
{
	char	tmpl[] = "/tmp/t_tool.XXXXXX", p[600], *d;
	int	fd;

	if ((d = mkdtemp(tmpl)) == NULL)
		return (-1);
	snprintf(ws, sizeof(ws), "%s/ws", d);
	snprintf(outside, sizeof(outside), "%s/outside", d);
	if (mkdir(ws, 0700) != 0 || mkdir(outside, 0700) != 0)
		return (-1);
	snprintf(p, sizeof(p), "%s/secret", outside);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0600)) == -1)
		return (-1);
	if (write(fd, "TOPSECRET\n", 10) != 10)
		return (-1);
	close(fd);
	snprintf(p, sizeof(p), "%s/link", ws);
	if (symlink("../outside/secret", p) != 0)
		return (-1);
	snprintf(p, sizeof(p), "%s/ldir", ws);
	if (symlink(outside, p) != 0)
		return (-1);
	return (0);
}

static void
ctx_init(struct tool_ctx *tc, json_t *manifest, json_t *notices)
{
	memset(tc, 0, sizeof(*tc));
	tc->tc_manifest = manifest;
	tc->tc_workspace = ws;
	tc->tc_agent_id = "9b6ae32d-7a4f-4c1e-8d0f-a1b2c3d4e5f6";
	tc->tc_agent_name = "tester";
	tc->tc_notices = notices;
}

/* Runs name with input (JSON text) under manifest (JSON text). */
static int
run(const char *manifest, const char *name, const char *input,
    struct tool_result *r)
{
	struct tool_ctx	 tc;
	json_t		*m, *in, *notices;
	int		 rv;

	m = json_loads(manifest, 0, NULL);
	in = json_loads(input, JSON_DECODE_ANY, NULL);
	notices = json_array();
	ctx_init(&tc, m, notices);
	rv = tool_run(&tc, name, in, r);
	json_decref(m);
	json_decref(in);
	json_decref(notices);
	return (rv);
}

static int
contains(const char *hay, const char *needle)
{
	return (hay != NULL && strstr(hay, needle) != NULL);
}

/* ---- paths ------------------------------------------------------------ */

static int
t_path_corpus_refused(void)
{
	static const struct {
		const char	*p;
		size_t		 len;
		const char	*why;
	} bad[] = {
		{ "../x", 4, "traversal" },
		{ "a/../../x", 9, "traversal" },
		{ "a/..", 4, "traversal" },
		{ "..", 2, "traversal" },
		{ "/etc/passwd", 11, "absolute" },
		{ "a\0b", 3, "NUL" },
		{ "link", 4, "symlink" },
		{ "ldir/secret", 11, "symlink" },
		{ "ldir", 4, "symlink" },
		{ "ldir/", 5, "symlink" },
		{ "a\\..\\x", 6, "backslash" },
	};
	char	err[512];
	size_t	i;
	int	fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		fd = tool_path_open(ws, bad[i].p, bad[i].len, O_RDONLY, 0, err,
		    sizeof(err));
		if (fd != -1)
			printf("# %s opened\n", bad[i].p);
		T_OK(fd == -1);
		if (!contains(err, bad[i].why))
			printf("# %s: %s\n", bad[i].p, err);
		T_OK(contains(err, bad[i].why));
	}
	return (0);
}

static int
t_path_symlink_dir_no_create(void)
{
	char		err[512], p[600];
	struct stat	st;
	int		fd;

	fd = tool_path_open(ws, "ldir/new/file", 13, O_WRONLY | O_CREAT, 1,
	    err, sizeof(err));
	T_EQ_INT(fd, -1);
	snprintf(p, sizeof(p), "%s/new", outside);
	T_OK(stat(p, &st) != 0);	/* nothing made outside */
	return (0);
}

static int
t_path_deep_ok(void)
{
	char	err[512];
	int	fd;

	fd = tool_path_open(ws, "d1/d2/d3/d4/./f.txt", 19,
	    O_WRONLY | O_CREAT | O_TRUNC, 1, err, sizeof(err));
	if (fd == -1)
		printf("# %s\n", err);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, "deep", 4), 4);
	close(fd);
	fd = tool_path_open(ws, "d1//d2/d3/d4/f.txt", 18, O_RDONLY, 0, err,
	    sizeof(err));
	T_OK(fd >= 0);
	close(fd);
	/* The root itself, as a directory. */
	fd = tool_path_open(ws, ".", 1, O_RDONLY | O_DIRECTORY, 0, err,
	    sizeof(err));
	T_OK(fd >= 0);
	close(fd);
	return (0);
}

static int
t_file_tools(void)
{
	struct tool_result	r;
	const char		*m = "{}";

	T_EQ_INT(run(m, "file_write", "{\"path\":\"notes/a.md\","
	    "\"content\":\"hello \\u00e9\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	T_OK(contains(r.tr_content, "Successfully wrote 8 bytes"));
	tool_result_release(&r);
	T_EQ_INT(run(m, "file_read", "{\"path\":\"notes/a.md\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	T_EQ_STR(r.tr_content, "hello \xc3\xa9");
	tool_result_release(&r);
	T_EQ_INT(run(m, "file_list", "{\"path\":\".\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	T_OK(contains(r.tr_content, "notes/\n"));
	T_OK(contains(r.tr_content, "link\n"));
	tool_result_release(&r);
	/* Reading through the symlink is a soft refusal. */
	T_EQ_INT(run(m, "file_read", "{\"path\":\"link\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	T_EQ_INT(r.tr_hard, 0);
	T_OK(!contains(r.tr_content, "TOPSECRET"));
	tool_result_release(&r);
	T_EQ_INT(run(m, "file_write", "{\"path\":\"../escape\","
	    "\"content\":\"x\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	tool_result_release(&r);
	/* A hard link to a file elsewhere is not overwritten. */
	{
		char	a[600], b[600];

		snprintf(a, sizeof(a), "%s/secret", outside);
		snprintf(b, sizeof(b), "%s/hard", ws);
		if (link(a, b) == 0) {
			T_EQ_INT(run(m, "file_write", "{\"path\":\"hard\","
			    "\"content\":\"pwned\"}", &r), 0);
			T_EQ_INT(r.tr_is_error, 1);
			tool_result_release(&r);
		}
	}
	return (0);
}

static int
t_bad_inputs(void)
{
	static const struct {
		const char	*name;
		const char	*input;
		const char	*want;
	} cases[] = {
		{ "file_read", "[]", "JSON object" },
		{ "file_read", "\"x\"", "JSON object" },
		{ "file_read", "null", "JSON object" },
		{ "file_read", "{}", "missing required parameter 'path'" },
		{ "file_read", "{\"path\":5}", "must be a string" },
		{ "file_write", "{\"path\":\"x\"}", "'content'" },
		{ "file_list", "{\"path\":\".\",\"limit\":\"x\"}", "integer" },
		{ "web_fetch", "{}", "'url'" },
		{ "web_fetch", "{\"url\":[1]}", "'url'" },
		{ "web_fetch", "{\"url\":\"http://example.com\","
		    "\"method\":\"TRACE\"}", "'method'" },
		{ "web_fetch", "{\"url\":\"http://example.com\","
		    "\"headers\":{\"a\\nb\":\"c\"}}", "'headers'" },
		{ "kv_get", "{\"key\":\"a b\"}", "'key'" },
		{ "kv_set", "{\"key\":\"self.a\"}", "'value'" },
		{ "agent_send", "{\"agent_id\":\"x\"}", "'message'" },
		{ "notify_owner", "{\"reason\":1,\"summary\":\"s\"}",
		    "'reason'" },
		{ "no_such_tool", "{}", "Unknown tool" },
	};
	struct tool_result	r;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_EQ_INT(run("{}", cases[i].name, cases[i].input, &r), 0);
		if (!contains(r.tr_content, cases[i].want))
			printf("# %s %s: %s\n", cases[i].name, cases[i].input,
			    r.tr_content);
		T_EQ_INT(r.tr_is_error, 1);
		T_OK(contains(r.tr_content, cases[i].want));
		tool_result_release(&r);
	}
	return (0);
}

/* web_fetch refusals that need no network. */
static int
t_web_fetch_refusals(void)
{
	static const char *const urls[] = {
		"http://127.0.0.1:1/", "http://[::1]:1/", "http://2130706433/",
		"http://0x7f.1/", "http://localhost:1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:127.0.0.1]/", "file:///etc/passwd",
		"ftp://example.com/", "gopher://example.com/",
		"http://user:pw@example.com/", "not a url",
	};
	struct tool_result	r;
	char			in[256];
	size_t			i;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		snprintf(in, sizeof(in), "{\"url\":\"%s\"}", urls[i]);
		T_EQ_INT(run("{}", "web_fetch", in, &r), 0);
		if (r.tr_is_error != 1 || r.tr_hard != 0)
			printf("# %s: %s\n", urls[i], r.tr_content);
		T_EQ_INT(r.tr_is_error, 1);
		T_EQ_INT(r.tr_hard, 0);
		tool_result_release(&r);
	}
	return (0);
}

/* ---- shell ------------------------------------------------------------ */

static const char shell_m[] = "{\"capabilities\":{\"tools\":"
    "[\"shell_exec\"]}}";

/* 1 if any live process has arg in its command line. */
static int
proc_running(const char *arg)
{
	struct dirent	*de;
	DIR		*d;
	char		 p[300], buf[512];
	ssize_t		 n, i;
	int		 fd, found = 0;

	if ((d = opendir("/proc")) == NULL)
		return (0);
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", de->d_name);
		if ((fd = open(p, O_RDONLY)) == -1)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, arg) != NULL)
			found = 1;
	}
	closedir(d);
	return (found);
}

static int
t_shell_env_cleared(void)
{
	struct tool_result	r;
	char			home[300];

	setenv("LF_T_TOOL_SECRET", "hunter2", 1);
	T_EQ_INT(run(shell_m, "shell_exec", "{\"command\":\"env; pwd\"}", &r),
	    0);
	T_EQ_INT(r.tr_is_error, 0);
	snprintf(home, sizeof(home), "HOME=%s\n", ws);
	T_OK(contains(r.tr_content, home));
	T_OK(contains(r.tr_content, "PATH=/usr/local/bin:/usr/bin:/bin"));
	T_OK(!contains(r.tr_content, "LF_T_TOOL_SECRET"));
	T_OK(!contains(r.tr_content, "hunter2"));
	snprintf(home, sizeof(home), "\n%s\n", ws);
	T_OK(contains(r.tr_content, home));	/* pwd is the workspace */
	tool_result_release(&r);
	return (0);
}

static int
t_shell_timeout_kills_group(void)
{
	struct tool_result	r;
	uint64_t		t0 = util_now_ms(), dt;
	int			i;

	T_EQ_INT(run(shell_m, "shell_exec", "{\"command\":\"sleep 98761 & "
	    "sleep 98762\",\"timeout_seconds\":1}", &r), 0);
	dt = util_now_ms() - t0;
	T_OK(dt >= 900 && dt < 5000);
	T_EQ_INT(r.tr_is_error, 1);
	T_OK(contains(r.tr_content, "timed out"));
	tool_result_release(&r);
	for (i = 0; i < 20 && (proc_running("sleep 98761") ||
	    proc_running("sleep 98762")); i++)
		util_sleep_ms(50);
	T_OK(!proc_running("sleep 98761"));
	T_OK(!proc_running("sleep 98762"));
	/* A background job outliving its shell is killed too, quickly. */
	t0 = util_now_ms();
	T_EQ_INT(run(shell_m, "shell_exec", "{\"command\":\"sleep 98763 & "
	    "echo started\"}", &r), 0);
	T_OK(util_now_ms() - t0 < 3000);
	T_OK(contains(r.tr_content, "started"));
	tool_result_release(&r);
	for (i = 0; i < 20 && proc_running("sleep 98763"); i++)
		util_sleep_ms(50);
	T_OK(!proc_running("sleep 98763"));
	return (0);
}

static int
t_shell_output_cap_and_exit(void)
{
	struct tool_result	r;

	T_EQ_INT(run(shell_m, "shell_exec", "{\"command\":\"head -c 300000 "
	    "/dev/zero | tr '\\\\0' a\"}", &r), 0);
	T_OK(strlen(r.tr_content) <= TOOL_RESULT_MAX);
	T_OK(strlen(r.tr_content) > 32 * 1024);
	T_OK(contains(r.tr_content, "truncated"));
	tool_result_release(&r);
	T_EQ_INT(run(shell_m, "shell_exec", "{\"command\":\"echo out; "
	    "echo err >&2; exit 3\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	T_OK(contains(r.tr_content, "out\n"));
	T_OK(contains(r.tr_content, "err\n"));
	T_OK(contains(r.tr_content, "[exit code: 3]"));
	tool_result_release(&r);
	return (0);
}

static int
t_shell_policy(void)
{
	struct tool_result	r;
	const char		*allow = "{\"capabilities\":{\"tools\":"
	    "[\"shell_exec\"]},\"exec_policy\":{\"mode\":\"allowlist\"}}";
	const char		*pat = "{\"capabilities\":{\"tools\":"
	    "[\"shell_exec\"],\"shell\":[\"echo *\"]}}";

	/* Not granted: no explicit grant, or exec_policy deny. */
	T_EQ_INT(run("{}", "shell_exec", "{\"command\":\"true\"}", &r), 0);
	T_OK(contains(r.tr_content, "Permission denied"));
	T_EQ_INT(r.tr_hard, 1);
	tool_result_release(&r);
	T_EQ_INT(run("{\"capabilities\":{\"tools\":[\"shell_exec\"]},"
	    "\"exec_policy\":\"deny\"}", "shell_exec",
	    "{\"command\":\"true\"}", &r), 0);
	T_OK(contains(r.tr_content, "Permission denied"));
	tool_result_release(&r);
	T_EQ_INT(run(allow, "shell_exec", "{\"command\":\"echo hi\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	T_EQ_STR(r.tr_content, "hi\n");
	tool_result_release(&r);
	T_EQ_INT(run(allow, "shell_exec", "{\"command\":\"echo hi; id\"}", &r),
	    0);
	T_OK(contains(r.tr_content, "Permission denied"));
	tool_result_release(&r);
	T_EQ_INT(run(allow, "shell_exec", "{\"command\":\"rm -rf x\"}", &r),
	    0);
	T_OK(contains(r.tr_content, "Permission denied"));
	tool_result_release(&r);
	T_EQ_INT(run(pat, "shell_exec", "{\"command\":\"echo ok\"}", &r), 0);
	T_EQ_STR(r.tr_content, "ok\n");
	tool_result_release(&r);
	T_EQ_INT(run(pat, "shell_exec", "{\"command\":\"id\"}", &r), 0);
	T_OK(contains(r.tr_content, "capabilities.shell"));
	tool_result_release(&r);
	return (0);
}

static int
t_shell_interrupted(void)
{
	struct tool_ctx		tc;
	struct tool_result	r;
	atomic_int		stop = 1;
	json_t			*m, *in;

	m = json_loads(shell_m, 0, NULL);
	in = json_pack("{s:s}", "command", "touch ran-anyway");
	ctx_init(&tc, m, NULL);
	tc.tc_interrupted = &stop;
	T_EQ_INT(tool_run(&tc, "shell_exec", in, &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	T_OK(contains(r.tr_content, "interrupted"));
	tool_result_release(&r);
	{
		char		p[600];
		struct stat	st;

		snprintf(p, sizeof(p), "%s/ran-anyway", ws);
		T_OK(stat(p, &st) != 0);
	}
	json_decref(m);
	json_decref(in);
	return (0);
}

/* ---- grants and globs ------------------------------------------------- */

static int
t_globs(void)
{
	T_OK(tool_glob_match("*", "anything"));
	T_OK(tool_glob_match("file_*", "file_read"));
	T_OK(!tool_glob_match("file_*", "web_fetch"));
	T_OK(tool_glob_match("git *", "git status"));
	T_OK(tool_glob_match("*_read", "file_read"));
	T_OK(tool_glob_match("f*e_r*d", "file_read"));
	T_OK(tool_glob_match("self.*", "self.notes"));
	T_OK(!tool_glob_match("self.*", "self.a.b"));
	T_OK(!tool_glob_match("self.*", "shared.a"));
	T_OK(tool_glob_match("*.example.com", "api.example.com"));
	T_OK(!tool_glob_match("*.example.com", "evil.com"));
	T_OK(tool_glob_match("data/*", "data/x"));
	T_OK(!tool_glob_match("data/*", "data/x/y"));
	T_OK(tool_glob_match("data/**", "data/x/y"));
	T_OK(!tool_glob_match("data/*", "data/.."));
	T_OK(!tool_glob_match("*", "../etc"));
	T_OK(tool_glob_match("exact", "exact"));
	T_OK(!tool_glob_match("exact", "exactly"));
	return (0);
}

static int
t_grants(void)
{
	json_t	*m;

	m = json_loads("{}", 0, NULL);
	T_OK(tool_granted(m, "file_read"));
	T_OK(tool_granted(m, "web_fetch"));
	T_OK(!tool_granted(m, "shell_exec"));	/* explicit only */
	T_OK(!tool_granted(m, "nope"));
	json_decref(m);
	m = json_loads("{\"capabilities\":{\"tools\":[\"file_*\","
	    "\"memory_store\"]}}", 0, NULL);
	T_OK(tool_granted(m, "file_read") && tool_granted(m, "file_write"));
	T_OK(!tool_granted(m, "web_fetch"));
	T_OK(tool_granted(m, "kv_set"));	/* by its upstream name */
	T_OK(!tool_granted(m, "kv_get"));
	json_decref(m);
	m = json_loads("{\"capabilities\":{\"tools\":[\"*\"]},"
	    "\"tool_blocklist\":[\"file_w*\"]}", 0, NULL);
	T_OK(tool_granted(m, "shell_exec"));
	T_OK(!tool_granted(m, "file_write"));
	T_OK(tool_granted(m, "file_read"));
	json_decref(m);
	m = json_loads("{\"tool_allowlist\":[\"file_read\"]}", 0, NULL);
	T_OK(tool_granted(m, "file_read"));
	T_OK(!tool_granted(m, "file_list"));
	json_decref(m);
	m = json_loads("{\"tools_disabled\":true}", 0, NULL);
	T_OK(!tool_granted(m, "file_read"));
	json_decref(m);
	m = json_loads("{\"profile\":\"minimal\"}", 0, NULL);
	T_OK(tool_granted(m, "file_read") && tool_granted(m, "file_list"));
	T_OK(!tool_granted(m, "file_write"));
	json_decref(m);
	m = json_loads("{\"profile\":\"coding\"}", 0, NULL);
	T_OK(tool_granted(m, "shell_exec"));
	json_decref(m);
	T_OK(tool_mode_allows("full", "shell_exec"));
	T_OK(tool_mode_allows("assist", "file_read"));
	T_OK(!tool_mode_allows("assist", "file_write"));
	T_OK(!tool_mode_allows("observe", "file_read"));
	return (0);
}

/* A profile grants exactly the tools it shows (tool/profile.c). */
static int
t_profiles_grant_what_they_show(void)
{
	static const char *const names[] = { "minimal", "coding", "research",
	    "messaging", "automation", "full", "custom", NULL };
	const struct tool_profile	*p;
	json_t				*defs, *d, *shown, *m;
	const char			*tool;
	size_t				 i, j;
	int				 listed, bad = 0;

	defs = tool_defs();
	T_OK(json_array_size(defs) >= 10);
	for (i = 0; names[i] != NULL; i++) {
		T_OK((p = tool_profile_find(names[i])) != NULL);
		shown = tool_profile_tools(p);
		m = json_pack("{s:s}", "profile", names[i]);
		json_array_foreach(defs, j, d) {
			tool = json_string_value(json_object_get(d, "name"));
			listed = tool_glob_any(shown, tool);
			if (tool_granted(m, tool) != listed) {
				printf("# profile %s: %s granted %d, shown %d\n",
				    names[i], tool, !listed, listed);
				bad++;
			}
		}
		json_decref(m);
		json_decref(shown);
	}
	json_decref(defs);
	T_EQ_INT(bad, 0);
	T_OK(tool_profile_find("custom") == tool_profile_find("full"));
	T_OK(tool_profile_find("godmode") == NULL);
	m = json_loads("{\"profile\":\"godmode\"}", 0, NULL);
	T_OK(!tool_granted(m, "file_read"));	/* unknown: nothing */
	json_decref(m);
	return (0);
}

static int
t_defs(void)
{
	json_t	*a, *e, *m;
	size_t	 i;

	a = tool_defs();
	T_OK(json_array_size(a) >= 10);
	json_array_foreach(a, i, e) {
		T_OK(json_is_string(json_object_get(e, "name")));
		T_OK(json_is_string(json_object_get(e, "description")));
		T_OK(json_is_object(json_object_get(e, "input_schema")));
		T_EQ_STR(json_string_value(json_object_get(json_object_get(e,
		    "input_schema"), "type")), "object");
	}
	json_decref(a);
	e = tool_def("file_write");
	T_OK(e != NULL);
	T_EQ_INT(json_array_size(json_object_get(json_object_get(e,
	    "input_schema"), "required")), 2);
	json_decref(e);
	T_OK(tool_def("nope") == NULL);
	m = json_loads("{\"capabilities\":{\"tools\":[\"file_read\"]}}", 0,
	    NULL);
	a = tool_defs_granted(m);
	T_EQ_INT(json_array_size(a), 1);
	json_decref(a);
	json_decref(m);
	return (0);
}

static int
t_permission_denied(void)
{
	struct tool_result	r;

	T_EQ_INT(run("{\"capabilities\":{\"tools\":[\"file_list\"]}}",
	    "file_read", "{\"path\":\"x\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	T_EQ_INT(r.tr_hard, 1);
	T_OK(contains(r.tr_content, "Permission denied"));
	tool_result_release(&r);
	/* An alias a model uses maps onto the real tool. */
	T_EQ_INT(run("{}", "read_file", "{\"path\":\"notes/a.md\"}", &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	tool_result_release(&r);
	return (0);
}

/* ---- kv, agents, notices ---------------------------------------------- */

static int
t_kv_and_agents_without_bus(void)
{
	struct tool_ctx		tc;
	struct tool_result	r;
	json_t			*m, *in;

	/* memory_read is deny-by-default. */
	T_EQ_INT(run("{}", "kv_get", "{\"key\":\"self.a\"}", &r), 0);
	T_OK(contains(r.tr_content, "memory_read"));
	tool_result_release(&r);
	/* Allowed, but no bus: an error result, not a crash. */
	T_EQ_INT(run("{\"capabilities\":{\"memory_write\":[\"self.*\"]}}",
	    "kv_set", "{\"key\":\"self.a\",\"value\":{\"x\":1}}", &r), 0);
	T_EQ_INT(r.tr_is_error, 1);
	T_OK(contains(r.tr_content, "unavailable"));
	tool_result_release(&r);
	/* agent_send beyond the depth limit. */
	m = json_object();
	in = json_pack("{s:s, s:s}", "agent_id",
	    "00000000-0000-4000-8000-000000000001", "message", "hi");
	ctx_init(&tc, m, NULL);
	tc.tc_depth = TOOL_AGENT_DEPTH_MAX;
	T_EQ_INT(tool_run(&tc, "agent_send", in, &r), 0);
	T_OK(contains(r.tr_content, "depth"));
	tool_result_release(&r);
	tc.tc_depth = 0;
	T_EQ_INT(tool_run(&tc, "agent_send", in, &r), 0);
	T_OK(contains(r.tr_content, "unavailable"));
	tool_result_release(&r);
	json_decref(m);
	json_decref(in);
	return (0);
}

/* agent_spawn: never a default, and every refusal comes before the bus
 * (there is none here). */
static int
t_agent_spawn_refusals(void)
{
	static const char granted[] = "{\"capabilities\":{\"tools\":"
	    "[\"agent_spawn\",\"file_read\"]}}";
	static const struct {
		const char	*manifest;
		const char	*input;
		const char	*want;
	} cases[] = {
		{ "{}", "{\"name\":\"c\",\"system_prompt\":\"p\"}",
		    "Permission denied" },
		{ "{\"capabilities\":{\"tools\":[\"file_read\"]}}",
		    "{\"name\":\"c\",\"system_prompt\":\"p\"}",
		    "Permission denied" },
		{ granted, "{\"system_prompt\":\"p\"}", "'name'" },
		{ granted, "{\"name\":\"c\"}", "'system_prompt'" },
		{ granted, "{\"name\":\"\",\"system_prompt\":\"p\"}",
		    "'name'" },
		{ granted, "{\"name\":\"c\",\"system_prompt\":\"p\","
		    "\"tools\":\"file_read\"}", "'tools'" },
		{ granted, "{\"name\":\"c\",\"system_prompt\":\"p\","
		    "\"tools\":[1]}", "'tools'" },
		{ granted, "{\"name\":\"c\",\"system_prompt\":\"p\","
		    "\"tools\":[\"file_read\",\"shell_exec\"]}",
		    "Privilege escalation denied" },
		{ granted, "{\"name\":\"c\",\"system_prompt\":\"p\","
		    "\"network\":true}", "not supported" },
	};
	struct tool_result	r;
	json_t			*none;
	size_t			i;
	int			granted_none;

	none = json_object();
	granted_none = tool_granted(none, "agent_spawn");
	json_decref(none);
	T_OK(!granted_none);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		T_EQ_INT(run(cases[i].manifest, "agent_spawn", cases[i].input,
		    &r), 0);
		if (!contains(r.tr_content, cases[i].want))
			printf("# %s: %s\n", cases[i].input, r.tr_content);
		T_EQ_INT(r.tr_is_error, 1);
		T_OK(contains(r.tr_content, cases[i].want));
		tool_result_release(&r);
	}
	/* Granted and well formed: it gets as far as the (missing) bus. */
	T_EQ_INT(run(granted, "agent_spawn", "{\"name\":\"c\","
	    "\"system_prompt\":\"say \\\"hi\\\"\",\"tools\":"
	    "[\"file_read\"]}", &r), 0);
	T_OK(contains(r.tr_content, "no bus"));
	tool_result_release(&r);
	return (0);
}

static int
t_notify_owner(void)
{
	struct tool_ctx		tc;
	struct tool_result	r;
	json_t			*m, *in, *notices;

	m = json_object();
	notices = json_array();
	in = json_pack("{s:s, s:s}", "reason", "r", "summary", "disk full");
	ctx_init(&tc, m, notices);
	T_EQ_INT(tool_run(&tc, "notify_owner", in, &r), 0);
	T_EQ_INT(r.tr_is_error, 0);
	T_OK(!contains(r.tr_content, "disk full"));	/* opaque ack */
	tool_result_release(&r);
	T_EQ_INT(json_array_size(notices), 1);
	T_EQ_STR(json_string_value(json_array_get(notices, 0)), "disk full");
	json_decref(m);
	json_decref(notices);
	json_decref(in);
	return (0);
}

static int
t_results(void)
{
	struct tool_result	r;
	char			*big;

	T_EQ_INT(tool_result_take(&r, 0, 0, "a\xff" "b\0c", 5), 0);
	T_EQ_STR(r.tr_content, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c");
	tool_result_release(&r);
	big = malloc(TOOL_RESULT_MAX * 2);
	T_OK(big != NULL);
	memset(big, 'z', TOOL_RESULT_MAX * 2);
	T_EQ_INT(tool_result_take(&r, 1, 1, big, TOOL_RESULT_MAX * 2), 0);
	free(big);
	T_OK(strlen(r.tr_content) <= TOOL_RESULT_MAX);
	T_OK(contains(r.tr_content, "truncated"));
	T_EQ_INT(r.tr_hard, 1);
	tool_result_release(&r);
	return (0);
}

static int
t_workspace(void)
{
	struct sh_config	cfg;
	char			out[1200], want[1200];
	struct stat		st;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.home_dir, sizeof(cfg.home_dir), "%s/home", outside);
	T_EQ_INT(tool_workspace(&cfg, "alpha", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/home/data/workspaces/alpha", outside);
	T_EQ_STR(out, want);
	T_OK(stat(out, &st) == 0 && S_ISDIR(st.st_mode));
	T_EQ_INT(st.st_mode & 0777, 0700);
	T_EQ_INT(tool_workspace(&cfg, "alpha", out, sizeof(out)), 0);
	T_EQ_INT(tool_workspace(&cfg, "../x", out, sizeof(out)), -1);
	T_EQ_INT(tool_workspace(&cfg, "..", out, sizeof(out)), -1);
	snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s/dd", outside);
	T_EQ_INT(tool_workspace(&cfg, "beta", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/dd/workspaces/beta", outside);
	T_EQ_STR(out, want);
	return (0);
}

/* [tool_invoke]: off unless enabled and allowlisted (tool/invoke.c). */
static int
t_invoke_permits(void)
{
	static const struct {
		const char	*doc;
		const char	*name;
		int		 want;
	} tc[] = {
		{ "{}", "agent_list", 1 },
		{ "{\"tool_invoke\":{\"allowlist\":[\"agent_list\"]}}",
		    "agent_list", 1 },
		{ "{\"tool_invoke\":{\"enabled\":\"true\",\"allowlist\":"
		    "[\"agent_list\"]}}", "agent_list", 1 },
		{ "{\"tool_invoke\":{\"enabled\":true}}", "agent_list", 2 },
		{ "{\"tool_invoke\":{\"enabled\":true,\"allowlist\":"
		    "[\"agent_list\"]}}", "agent_list", 0 },
		{ "{\"tool_invoke\":{\"enabled\":true,\"allowlist\":"
		    "[\"agent_list\"]}}", "web_fetch", 2 },
		{ "{\"tool_invoke\":{\"enabled\":true,\"allowlist\":"
		    "[\"file_*\"]}}", "file_read", 0 },
		{ "{\"tool_invoke\":{\"enabled\":true,\"allowlist\":"
		    "[\"file_*\"]}}", "shell_exec", 2 },
		{ "{\"tool_invoke\":{\"enabled\":true,\"allowlist\":"
		    "\"agent_list\"}}", "agent_list", 2 },
	};
	struct sh_config	cfg;
	size_t			i;
	int			got;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		cfg.cf_doc = json_loads(tc[i].doc, 0, NULL);
		T_OK(cfg.cf_doc != NULL);
		got = tool_invoke_permits(&cfg, tc[i].name);
		json_decref(cfg.cf_doc);
		if (got != tc[i].want)
			printf("# case %zu: %s %s\n", i, tc[i].doc, tc[i].name);
		T_EQ_INT(got, tc[i].want);
	}
	/* Only the tools that need no agent run outside one. */
	T_OK(tool_agentless("web_fetch") && tool_agentless("agent_list"));
	T_OK(!tool_agentless("file_read") && !tool_agentless("shell_exec"));
	T_OK(!tool_agentless("kv_get") && !tool_agentless("nope"));
	T_OK(tool_known("file_read") && tool_known("notify_owner"));
	T_OK(!tool_known("read_file") && !tool_known("nope") &&
	    !tool_known(NULL));
	return (0);
}

static const struct tap_case cases[] = {
	{ "path corpus refused", t_path_corpus_refused },
	{ "symlinked dir: nothing created outside",
	    t_path_symlink_dir_no_create },
	{ "deep legit paths open", t_path_deep_ok },
	{ "file_read/write/list", t_file_tools },
	{ "bad inputs are error results", t_bad_inputs },
	{ "web_fetch refusals", t_web_fetch_refusals },
	{ "shell: environment cleared", t_shell_env_cleared },
	{ "shell: timeout kills the process group",
	    t_shell_timeout_kills_group },
	{ "shell: output cap and exit code", t_shell_output_cap_and_exit },
	{ "shell: policy", t_shell_policy },
	{ "shell: interrupted before spawning", t_shell_interrupted },
	{ "globs", t_globs },
	{ "grants", t_grants },
	{ "profiles grant what they show", t_profiles_grant_what_they_show },
	{ "definitions", t_defs },
	{ "permission denied and aliases", t_permission_denied },
	{ "kv and agent_send without a bus", t_kv_and_agents_without_bus },
	{ "notify_owner", t_notify_owner },
	{ "agent_spawn refusals", t_agent_spawn_refusals },
	{ "results: UTF-8 and cap", t_results },
	{ "workspace", t_workspace },
	{ "[tool_invoke] and agentless tools", t_invoke_permits },
	{ NULL, NULL }
};

int
main(void)
{
	char	top[256], *s;
	int	rv;

	if (setup_dirs() != 0) {
		printf("Bail out! cannot set up the workspace\n");
		return (1);
	}
	rv = tap_main(cases);
	snprintf(top, sizeof(top), "%s", ws);
	if ((s = strrchr(top, '/')) != NULL)
		*s = '\0';
	rm_rf(top);
	return (rv);
}
