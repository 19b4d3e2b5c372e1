/*
 * tool/tool.c - the built-in tools: definitions and schemas, grants (notes
 * 3.4, 3.9), dispatch, results, the workspace, and tools.list/tools.get.
 *
 * The runners live in tool/fs.c, tool/web.c, tool/shell.c and
 * tool/agent.c; this file knows them only through the table below.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "ops.h"
#include "svc.h"
#include "tool/tool.h"

typedef int (*tool_fn)(struct tool_ctx *, json_t *, struct tool_result *);

#define TOOL_F_READONLY	0x01	/* offered in "assist" mode */
#define TOOL_F_AGENTLESS 0x02	/* needs no agent (no workspace, memory
				   namespace or sender): runs for a caller
				   outside any agent (tool/invoke.c) */

struct tool_def {
	const char	*td_name;
	const char	*td_alias;	/* the upstream name it also answers
					   to in grants, or NULL */
	int		 td_flags;	/* TOOL_F_* */
	tool_fn		 td_fn;
	const char	*td_desc;
	const char	*td_schema;	/* JSON text */
};

static const struct tool_def tool_table[] = {
	{ "file_read", NULL, TOOL_F_READONLY, tool_file_read,
	    "Read a file in the agent's workspace. The path is relative to "
	    "the workspace; '..', absolute paths and symlinks are refused.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\","
	    "\"description\":\"File path, relative to the workspace\"}},"
	    "\"required\":[\"path\"]}" },
	{ "file_write", NULL, 0, tool_file_write,
	    "Write (create or overwrite) a file in the agent's workspace, "
	    "creating parent directories.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\","
	    "\"description\":\"File path, relative to the workspace\"},"
	    "\"content\":{\"type\":\"string\",\"description\":\"The new "
	    "content of the file\"}},\"required\":[\"path\",\"content\"]}" },
	{ "file_list", NULL, TOOL_F_READONLY, tool_file_list,
	    "List a directory of the agent's workspace, one entry a line, "
	    "directories suffixed with '/'.",
	    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\","
	    "\"description\":\"Directory, relative to the workspace ('.' for "
	    "its root)\"},\"limit\":{\"type\":\"integer\",\"minimum\":1,"
	    "\"maximum\":1000},\"offset\":{\"type\":\"integer\",\"minimum\":0}},"
	    "\"required\":[\"path\"]}" },
	{ "web_fetch", NULL, TOOL_F_READONLY | TOOL_F_AGENTLESS,
	    tool_web_fetch,
	    "Fetch an http(s) URL and return its body as text (HTML is "
	    "reduced to text). Private, loopback and metadata addresses are "
	    "refused.",
	    "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\","
	    "\"description\":\"http:// or https:// URL\"},\"method\":{\"type\":"
	    "\"string\",\"enum\":[\"GET\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\"]},"
	    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":"
	    "\"string\"}},\"body\":{\"type\":\"string\"}},\"required\":[\"url\"]}" },
	{ "shell_exec", NULL, 0, tool_shell_exec,
	    "Run a shell command (sh -c) in the agent's workspace with a "
	    "cleared environment, a timeout and an output cap.",
	    "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":"
	    "\"string\",\"description\":\"The command line\"},"
	    "\"timeout_seconds\":{\"type\":\"integer\",\"minimum\":1,"
	    "\"maximum\":600}},\"required\":[\"command\"]}" },
	{ "kv_get", "memory_recall", TOOL_F_READONLY, tool_kv_get,
	    "Read a value from the agent's key-value memory by key, or "
	    "search the agent's proactive memories with a query instead.",
	    "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\","
	    "\"description\":\"1-256 characters of [A-Za-z0-9_.-]\"},"
	    "\"query\":{\"type\":\"string\",\"description\":\"Words to "
	    "search memories for (instead of a key)\"},\"limit\":{\"type\":"
	    "\"integer\",\"minimum\":1,\"maximum\":20}}}" },
	{ "kv_set", "memory_store", 0, tool_kv_set,
	    "Store a JSON value under a key in the agent's key-value memory, "
	    "or (with content instead of a key) a searchable memory.",
	    "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\","
	    "\"description\":\"1-256 characters of [A-Za-z0-9_.-]\"},"
	    "\"value\":{\"description\":\"Any JSON value\"},"
	    "\"content\":{\"type\":\"string\",\"description\":\"A fact "
	    "to remember and find later by query (instead of key and "
	    "value)\"},\"category\":{\"type\":\"string\"}}}" },
	{ "memory_list", NULL, TOOL_F_READONLY, tool_memory_list,
	    "List the keys of the agent's key-value memory.",
	    "{\"type\":\"object\",\"properties\":{\"limit\":{\"type\":"
	    "\"integer\",\"minimum\":1,\"maximum\":1000},\"offset\":"
	    "{\"type\":\"integer\",\"minimum\":0}}}" },
	{ "memory_forget", NULL, 0, tool_memory_forget,
	    "Delete a key from the agent's key-value memory, or a searchable "
	    "memory by its memory_id.",
	    "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\","
	    "\"description\":\"1-256 characters of [A-Za-z0-9_.-]\"},"
	    "\"memory_id\":{\"type\":\"string\",\"description\":\"A "
	    "memory's id (instead of a key)\"}}}" },
	{ "agent_send", NULL, 0, tool_agent_send,
	    "Send a message to another agent (by id or name) and return its "
	    "answer.",
	    "{\"type\":\"object\",\"properties\":{\"agent_id\":{\"type\":"
	    "\"string\",\"description\":\"The target agent's id or name\"},"
	    "\"message\":{\"type\":\"string\"}},"
	    "\"required\":[\"agent_id\",\"message\"]}" },
	{ "agent_list", NULL, TOOL_F_READONLY | TOOL_F_AGENTLESS,
	    tool_agent_list,
	    "List the agents: id, name, state, provider:model.",
	    "{\"type\":\"object\",\"properties\":{}}" },
	{ "agent_spawn", NULL, 0, tool_agent_spawn,
	    "Spawn a new agent (a child of this one) with a name, a system "
	    "prompt and tools this agent has itself; it runs this agent's "
	    "model.",
	    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":"
	    "\"string\",\"description\":\"The new agent's name\"},"
	    "\"system_prompt\":{\"type\":\"string\"},\"tools\":{\"type\":"
	    "\"array\",\"items\":{\"type\":\"string\"},\"description\":"
	    "\"Tools to grant (each one this agent has)\"}},"
	    "\"required\":[\"name\",\"system_prompt\"]}" },
	{ "notify_owner", NULL, 0, tool_notify_owner,
	    "Send a private note to the agent's owner, out of band. The "
	    "model only gets an acknowledgement.",
	    "{\"type\":\"object\",\"properties\":{\"reason\":{\"type\":"
	    "\"string\"},\"summary\":{\"type\":\"string\"}},"
	    "\"required\":[\"reason\",\"summary\"]}" },
	{ "task_post", NULL, 0, tool_task_post,
	    "Post a task to the shared task queue, optionally for one agent "
	    "(its id or name); it wakes that agent's task_posted triggers.",
	    "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":"
	    "\"string\"},\"description\":{\"type\":\"string\"},"
	    "\"assigned_to\":{\"type\":\"string\",\"description\":"
	    "\"An agent id or name; absent: anyone\"}},"
	    "\"required\":[\"title\",\"description\"]}" },
	{ "task_claim", NULL, 0, tool_task_claim,
	    "Claim the next pending task assigned to this agent or to "
	    "anyone (highest priority, then oldest).",
	    "{\"type\":\"object\",\"properties\":{}}" },
	{ "task_complete", NULL, 0, tool_task_complete,
	    "Complete a task this agent has claimed, with its result.",
	    "{\"type\":\"object\",\"properties\":{\"task_id\":{\"type\":"
	    "\"string\"},\"result\":{\"type\":\"string\"}},"
	    "\"required\":[\"task_id\",\"result\"]}" },
	{ "task_list", NULL, TOOL_F_READONLY, tool_task_list,
	    "List tasks of the shared queue, newest first, optionally by "
	    "status.",
	    "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":"
	    "\"string\",\"enum\":[\"pending\",\"in_progress\","
	    "\"completed\",\"failed\",\"cancelled\"]}}}" },
	{ "task_status", NULL, TOOL_F_READONLY, tool_task_status,
	    "Look up one task of the shared queue.",
	    "{\"type\":\"object\",\"properties\":{\"task_id\":{\"type\":"
	    "\"string\"}},\"required\":[\"task_id\"]}" },
	{ NULL, NULL, 0, NULL, NULL, NULL }
};

/* Names models use for our tools (notes 3.7). */
static const struct {
	const char	*a_from;
	const char	*a_to;
} tool_aliases[] = {
	{ "Read", "file_read" }, { "read", "file_read" },
	{ "read_file", "file_read" }, { "fs_read", "file_read" },
	{ "fs-read", "file_read" }, { "fsRead", "file_read" },
	{ "readFile", "file_read" },
	{ "Write", "file_write" }, { "write", "file_write" },
	{ "write_file", "file_write" }, { "fs_write", "file_write" },
	{ "fs-write", "file_write" }, { "fsWrite", "file_write" },
	{ "writeFile", "file_write" },
	{ "ls", "file_list" }, { "list_dir", "file_list" },
	{ "list_files", "file_list" },
	{ "Bash", "shell_exec" }, { "bash", "shell_exec" },
	{ "exec", "shell_exec" }, { "execute_command", "shell_exec" },
	{ "WebFetch", "web_fetch" }, { "fetch_url", "web_fetch" },
	{ "memory_store", "kv_set" }, { "memory_save", "kv_set" },
	{ "memory_recall", "kv_get" }, { "memory_search", "kv_get" },
	{ "memory_all", "memory_list" }, { "memory_delete", "memory_forget" },
	{ "sessions_send", "agent_send" }, { "agent_message", "agent_send" },
	{ "sessions_list", "agent_list" }, { "agents_list", "agent_list" },
	{ NULL, NULL }
};

static const struct tool_def *
tool_find(const char *name)
{
	const struct tool_def	*d;
	size_t			 i;

	if (name == NULL)
		return (NULL);
	for (d = tool_table; d->td_name != NULL; d++)
		if (strcmp(d->td_name, name) == 0)
			return (d);
	for (i = 0; tool_aliases[i].a_from != NULL; i++)
		if (strcmp(tool_aliases[i].a_from, name) == 0)
			return (tool_find(tool_aliases[i].a_to));
	return (NULL);
}

/* ---- definitions ------------------------------------------------------ */

/*
 * Every turn sends its tools' schemas: they are parsed once and shared,
 * read-only (jansson's reference counts are atomic), by every definition
 * handed out.  Nobody may change a definition's input_schema in place
 * (the Gemini driver cleans a deep copy).
 */
static pthread_once_t	  tool_schema_once = PTHREAD_ONCE_INIT;
static json_t		**tool_schemas;	/* by tool_table index, or NULL */

static void
tool_schema_init(void)
{
	size_t	i, n;

	for (n = 0; tool_table[n].td_name != NULL; n++)
		;
	if ((tool_schemas = calloc(n, sizeof(*tool_schemas))) == NULL)
		return;
	for (i = 0; i < n; i++)
		tool_schemas[i] = json_loads(tool_table[i].td_schema, 0, NULL);
}

static json_t *
tool_def_json(const struct tool_def *d)
{
	json_t	*schema = NULL;

	(void)pthread_once(&tool_schema_once, tool_schema_init);
	if (tool_schemas != NULL)
		schema = json_incref(tool_schemas[d - tool_table]);
	if (schema == NULL &&
	    (schema = json_loads(d->td_schema, 0, NULL)) == NULL)
		return (NULL);
	return (json_pack("{s:s, s:s, s:o}", "name", d->td_name,
	    "description", d->td_desc, "input_schema", schema));
}

json_t *
tool_defs(void)
{
	const struct tool_def	*d;
	json_t			*a, *o;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (d = tool_table; d->td_name != NULL; d++) {
		if ((o = tool_def_json(d)) == NULL ||
		    json_array_append_new(a, o) != 0) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}

json_t *
tool_def(const char *name)
{
	const struct tool_def	*d;

	for (d = tool_table; name != NULL && d->td_name != NULL; d++)
		if (strcmp(d->td_name, name) == 0)
			return (tool_def_json(d));
	return (NULL);
}

json_t *
tool_defs_granted(json_t *manifest)
{
	const struct tool_def	*d;
	json_t			*a, *o;

	if ((a = json_array()) == NULL)
		return (NULL);
	for (d = tool_table; d->td_name != NULL; d++) {
		if (!tool_granted(manifest, d->td_name))
			continue;
		if ((o = tool_def_json(d)) == NULL ||
		    json_array_append_new(a, o) != 0) {
			json_decref(a);
			return (NULL);
		}
	}
	return (a);
}

/* ---- globs (notes 3.9) ------------------------------------------------ */

/* "*" matches any run of characters (no segment rules). */
static int
glob_simple(const char *p, size_t plen, const char *v, size_t vlen)
{
	size_t	i;

	while (plen > 0 && *p != '*') {
		if (vlen == 0 || *p != *v)
			return (0);
		p++, plen--, v++, vlen--;
	}
	if (plen == 0)
		return (vlen == 0);
	/* *p == '*' */
	while (plen > 0 && *p == '*')
		p++, plen--;
	if (plen == 0)
		return (1);
	for (i = 0; i <= vlen; i++)
		if (glob_simple(p, plen, v + i, vlen - i))
			return (1);
	return (0);
}

static int
is_sep(char ch, const char *seps)
{
	return (ch != '\0' && strchr(seps, ch) != NULL);
}

/* Per-segment matching; "**" (when allowed) spans any number. */
static int
glob_segments(const char *p, const char *v, const char *seps, int dstar)
{
	size_t	pl, vl;

	for (pl = 0; p[pl] != '\0' && !is_sep(p[pl], seps); pl++)
		;
	if (dstar && pl == 2 && p[0] == '*' && p[1] == '*') {
		const char	*rest = p[pl] != '\0' ? p + pl + 1 : p + pl;

		if (*rest == '\0')
			return (1);
		for (;;) {
			if (glob_segments(rest, v, seps, dstar))
				return (1);
			for (vl = 0; v[vl] != '\0' && !is_sep(v[vl], seps);
			    vl++)
				;
			if (v[vl] == '\0')
				return (0);
			v += vl + 1;
		}
	}
	for (vl = 0; v[vl] != '\0' && !is_sep(v[vl], seps); vl++)
		;
	if (!glob_simple(p, pl, v, vl))
		return (0);
	if (p[pl] == '\0' || v[vl] == '\0')
		return (p[pl] == '\0' && v[vl] == '\0');
	return (glob_segments(p + pl + 1, v + vl + 1, seps, dstar));
}

/* 1 if v has a "." or ".." segment between "/" or "\". */
static int
has_dot_segment(const char *v)
{
	const char	*s = v, *e;
	size_t		 n;

	for (;;) {
		for (e = s; *e != '\0' && *e != '/' && *e != '\\'; e++)
			;
		n = (size_t)(e - s);
		if ((n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return (1);
		if (*e == '\0')
			return (0);
		s = e + 1;
	}
}

int
tool_glob_match(const char *pattern, const char *value)
{
	if (pattern == NULL || value == NULL)
		return (0);
	if (strcmp(pattern, value) == 0)
		return (1);
	if (strchr(pattern, '*') == NULL)
		return (0);
	if (has_dot_segment(value))
		return (0);
	if (strcmp(pattern, "*") == 0)
		return (1);
	if (strchr(pattern, '/') != NULL || strchr(pattern, '\\') != NULL)
		return (glob_segments(pattern, value, "/\\", 1));
	if (strchr(pattern, '.') != NULL && strchr(value, '.') != NULL)
		return (glob_segments(pattern, value, ".", 0));
	return (glob_simple(pattern, strlen(pattern), value, strlen(value)));
}

int
tool_glob_any(json_t *patterns, const char *value)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(patterns, i, e)
		if (tool_glob_match(json_string_value(e), value))
			return (1);
	return (0);
}

/* ---- grants (notes 3.4) ----------------------------------------------- */

const char *
tool_exec_mode(json_t *manifest)
{
	json_t		*p = json_object_get(manifest, "exec_policy");
	const char	*s;

	if (json_is_object(p))
		p = json_object_get(p, "mode");
	if ((s = json_string_value(p)) == NULL)
		/* No policy of its own: declaring shell_exec (the only way
		 * to get it) promotes to full (notes 3.6). */
		return ("full");
	if (strcasecmp(s, "deny") == 0 || strcasecmp(s, "none") == 0 ||
	    strcasecmp(s, "disabled") == 0)
		return ("deny");
	if (strcasecmp(s, "full") == 0 || strcasecmp(s, "allow") == 0 ||
	    strcasecmp(s, "all") == 0 || strcasecmp(s, "unrestricted") == 0)
		return ("full");
	return ("allowlist");
}

/* 1 if the glob list grants d by its name or its upstream alias. */
static int
tool_list_grants(json_t *list, const struct tool_def *d)
{
	return (tool_glob_any(list, d->td_name) ||
	    (d->td_alias != NULL && tool_glob_any(list, d->td_alias)));
}

static int
tool_has_star(json_t *list)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(list, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), "*") == 0)
			return (1);
	return (0);
}

int
tool_granted(json_t *manifest, const char *name)
{
	const struct tool_def	*d;
	const struct tool_profile *p;
	json_t			*caps, *list, *plist = NULL, *allow, *block;
	const char		*profile;
	int			 ok = 0, explicit = 0;

	if (!json_is_object(manifest) || (d = tool_find(name)) == NULL ||
	    strcmp(d->td_name, name) != 0)
		return (0);
	if (json_is_true(json_object_get(manifest, "tools_disabled")))
		return (0);
	caps = json_object_get(manifest, "capabilities");
	list = json_object_get(caps, "tools");
	profile = json_string_value(json_object_get(manifest, "profile"));
	if (json_array_size(list) == 0 && profile != NULL) {
		/* A profile is its list of tools (tool/profile.c); an
		 * unknown one grants nothing. */
		if ((p = tool_profile_find(profile)) == NULL ||
		    (plist = tool_profile_tools(p)) == NULL)
			return (0);
		list = plist;
	}
	if (json_array_size(list) > 0) {
		/* An explicit list; "*" in it grants everything, shell
		 * included (notes 3.6: declaring "*" promotes the policy). */
		ok = tool_has_star(list) || tool_list_grants(list, d);
		explicit = ok;
	} else
		ok = 1;
	json_decref(plist);
	if (!ok)
		return (0);
	allow = json_object_get(manifest, "tool_allowlist");
	block = json_object_get(manifest, "tool_blocklist");
	if (json_array_size(allow) > 0 && !tool_list_grants(allow, d))
		return (0);
	if (tool_list_grants(block, d))
		return (0);
	if (strcmp(d->td_name, "shell_exec") == 0 && (!explicit ||
	    strcmp(tool_exec_mode(manifest), "deny") == 0))
		return (0);
	/* Spawning, like the shell, is never a default (notes 2.5). */
	if (strcmp(d->td_name, "agent_spawn") == 0 && !explicit &&
	    !json_is_true(json_object_get(caps, "agent_spawn")))
		return (0);
	return (1);
}

int
tool_mode_allows(const char *mode, const char *name)
{
	const struct tool_def	*d = tool_find(name);

	if (d == NULL || mode == NULL)
		return (0);
	if (strcmp(mode, "observe") == 0)
		return (0);
	if (strcmp(mode, "assist") == 0)
		return ((d->td_flags & TOOL_F_READONLY) != 0);
	return (1);
}

const char *
tool_canonical(const char *name)
{
	const struct tool_def	*d = tool_find(name);

	return (d != NULL ? d->td_name : name);
}

int
tool_known(const char *name)
{
	const struct tool_def	*d;

	for (d = tool_table; name != NULL && d->td_name != NULL; d++)
		if (strcmp(d->td_name, name) == 0)
			return (1);
	return (0);
}

int
tool_agentless(const char *name)
{
	const struct tool_def	*d;

	for (d = tool_table; name != NULL && d->td_name != NULL; d++)
		if (strcmp(d->td_name, name) == 0)
			return ((d->td_flags & TOOL_F_AGENTLESS) != 0);
	return (0);
}

/* ---- results ---------------------------------------------------------- */

int
tool_result_take(struct tool_result *r, int is_error, int hard,
    const char *text, size_t len)
{
	static const char	 note[] = "\n[truncated: result exceeded "
	    "the size limit]";
	struct buf		 b = BUF_INIT(TOOL_RESULT_MAX + 1);
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 i = 0, n, room;
	int			 cut = 0;

	memset(r, 0, sizeof(*r));
	room = TOOL_RESULT_MAX - (sizeof(note) - 1);
	while (i < len) {
		n = util_utf8_len(s + i, len - i);
		if (s[i] == '\0')
			n = 0;
		if (b.b_len + (n == 0 ? 3 : n) > room) {
			cut = 1;
			break;
		}
		if (n == 0) {
			/* U+FFFD for a bad byte or a NUL. */
			if (buf_add(&b, "\xef\xbf\xbd", 3) != 0)
				return (SH_ENOMEM);
			i++;
			continue;
		}
		if (buf_add(&b, s + i, n) != 0)
			return (SH_ENOMEM);
		i += n;
	}
	if (cut && buf_add(&b, note, sizeof(note) - 1) != 0)
		return (SH_ENOMEM);
	if ((r->tr_content = buf_detach(&b)) == NULL)
		return (SH_ENOMEM);
	r->tr_is_error = is_error;
	r->tr_hard = is_error && hard;
	return (0);
}

int
tool_result_set(struct tool_result *r, int is_error, int hard,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;
	int	 n, rv;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		memset(r, 0, sizeof(*r));
		return (SH_ENOMEM);
	}
	rv = tool_result_take(r, is_error, hard, s, (size_t)n);
	free(s);
	return (rv);
}

void
tool_result_release(struct tool_result *r)
{
	free(r->tr_content);
	r->tr_content = NULL;
}

/* ---- arguments -------------------------------------------------------- */

int
tool_arg_str(json_t *in, const char *key, int required, const char **out,
    size_t *lenp, struct tool_result *r)
{
	json_t	*v = json_object_get(in, key);

	*out = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return (0);
		tool_result_set(r, 1, 0, "missing required parameter '%s'",
		    key);
		return (-1);
	}
	if (!json_is_string(v)) {
		tool_result_set(r, 1, 0, "invalid parameter '%s': must be a "
		    "string", key);
		return (-1);
	}
	*out = json_string_value(v);
	if (lenp != NULL)
		*lenp = json_string_length(v);
	return (0);
}

int
tool_arg_int(json_t *in, const char *key, long long min, long long max,
    long long *out, struct tool_result *r)
{
	json_t		*v = json_object_get(in, key);
	json_int_t	 n;

	if (v == NULL || json_is_null(v))
		return (0);
	if (json_is_real(v) && json_real_value(v) == (double)(json_int_t)
	    json_real_value(v))
		n = (json_int_t)json_real_value(v);
	else if (json_is_integer(v))
		n = json_integer_value(v);
	else {
		tool_result_set(r, 1, 0, "invalid parameter '%s': must be an "
		    "integer", key);
		return (-1);
	}
	if (n < min || n > max) {
		tool_result_set(r, 1, 0, "invalid parameter '%s': must be "
		    "between %lld and %lld", key, min, max);
		return (-1);
	}
	*out = n;
	return (0);
}

/* ---- dispatch --------------------------------------------------------- */

int
tool_run(struct tool_ctx *tc, const char *name, json_t *input,
    struct tool_result *r)
{
	const struct tool_def	*d;
	int			 rv;

	memset(r, 0, sizeof(*r));
	if ((d = tool_find(name)) == NULL)
		rv = tool_result_set(r, 1, 1, "Unknown tool '%s'",
		    name != NULL ? name : "");
	else if (!tool_granted(tc->tc_manifest, d->td_name))
		rv = tool_result_set(r, 1, 1, "Permission denied: agent does "
		    "not have capability to use tool '%s'", d->td_name);
	else if (!json_is_object(input))
		rv = tool_result_set(r, 1, 0, "invalid parameter: the input of "
		    "'%s' must be a JSON object", d->td_name);
	else if (tc->tc_interrupted != NULL && *tc->tc_interrupted)
		rv = tool_result_set(r, 1, 1, "interrupted: '%s' was not run",
		    d->td_name);
	else {
		rv = d->td_fn(tc, input, r);
		if (rv == 0 && r->tr_content == NULL)
			rv = tool_result_set(r, 1, 1, "tool '%s' failed",
			    d->td_name);
	}
	if (rv != 0) {
		tool_result_release(r);
		return (SH_ENOMEM);
	}
	return (0);
}

/* ---- the workspace ---------------------------------------------------- */

static int
tool_mkdir(const char *path)
{
	struct stat	st;

	if (mkdir(path, 0700) == 0)
		return (0);
	if (errno != EEXIST)
		return (-1);
	if (lstat(path, &st) != 0)
		return (-1);
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return (-1);
	}
	return (0);
}

/* 1 if path is a directory itself (not a symbolic link to one). */
static int
tool_is_dir(const char *path)
{
	struct stat	st;

	return (lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

int
tool_workspace(const struct sh_config *cfg, const char *agent_name,
    char *out, size_t outlen)
{
	char	base[CFG_STR_MAX + 64], wss[CFG_STR_MAX + 64 + 16], *p;
	int	n;

	if (agent_name == NULL || *agent_name == '\0' ||
	    strchr(agent_name, '/') != NULL ||
	    strcmp(agent_name, ".") == 0 || strcmp(agent_name, "..") == 0) {
		errno = EINVAL;
		return (-1);
	}
	if (cfg->data_dir[0] != '\0')
		n = snprintf(base, sizeof(base), "%s", cfg->data_dir);
	else
		n = snprintf(base, sizeof(base), "%s/data", cfg->home_dir);
	if (n < 0 || (size_t)n >= sizeof(base) - 16) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	snprintf(wss, sizeof(wss), "%s/workspaces", base);
	n = snprintf(out, outlen, "%s/%s", wss, agent_name);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	/* Made already (every turn asks): three lstat()s, not a mkdir per
	 * component, and the same rule: no symbolic link among ours. */
	if (tool_is_dir(out) && tool_is_dir(wss) && tool_is_dir(base))
		return (0);
	/* mkdir -p of the data directory (its parents keep their modes). */
	for (p = base + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(base, 0700) != 0 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (tool_mkdir(base) != 0 || tool_mkdir(wss) != 0)
		return (-1);
	return (tool_mkdir(out));
}

/* ---- tools.list, tools.get -------------------------------------------- */

static void
tool_op_list(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t	*defs;

	if (json_object_get(rq->mr_query, "agent_id") != NULL) {
		tool_op_list_agent(c, rq, rp);
		return;
	}
	if ((defs = tool_defs()) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:I, s:o}", "total",
	    (json_int_t)json_array_size(defs), "tools", defs));
}

static void
tool_op_get(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name;
	json_t		*d;

	(void)c;
	name = json_string_value(json_object_get(rq->mr_params, PARAM_NAME));
	if (name == NULL || *name == '\0') {
		svc_reply_error(rp, 400, "missing tool name");
		return;
	}
	if ((d = tool_def(name)) == NULL) {
		svc_reply_error(rp, 404, "Tool '%.128s' not found", name);
		return;
	}
	svc_reply_json(rp, 200, d);
}

const struct svc_op tool_ops[] = {
	{ OP_TOOLS_LIST,		tool_op_list },
	{ OP_TOOLS_GET,		tool_op_get },
	{ OP_TOOLS_INVOKE,	tool_op_invoke },
	{ OP_PROFILES_LIST,	tool_op_profiles_list },
	{ OP_PROFILES_GET,	tool_op_profiles_get },
	{ NULL,			NULL }
};
