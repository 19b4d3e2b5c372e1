/*
 * tool/shell.c - shell_exec (notes 3.2, 3.6; kernel 6.8).
 *
 * The command runs as /bin/sh -c <command> (that is the tool's contract)
 * in a new session (libshared/child.c), so it and everything it starts
 * share one process group; the working directory is the workspace and
 * the environment is rebuilt from an allowlist (shell_env(), this
 * tool's own rule).  Output (stdout and stderr together) is
 * capped; on timeout or interrupt, and also when the shell exits, the
 * whole group gets SIGKILL, so no process outlives the call.
 *
 * exec_policy "allowlist" (a manifest that sets exec_policy without
 * mode = "full") admits only simple commands whose programs are in
 * safe_bins or allowed_commands, with no shell metacharacters;
 * capabilities.shell, when non-empty, must glob-match the command (a
 * choice stricter than the reference, notes 3.5).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "child.h"
#include "tool/tool.h"
#include "util.h"

#define SHELL_TIMEOUT_DEF	30
#define SHELL_TIMEOUT_MAX	600
#define SHELL_OUTPUT_DEF	102400
#define SHELL_CMD_MAX		(64 * 1024)
#define SHELL_GRACE_MS		200	/* output after the shell exits */
#define SHELL_ENV_MAX		64

static const char *const shell_safe_bins[] = {
	"sleep", "true", "false", "cat", "sort", "uniq", "cut", "tr", "head",
	"tail", "wc", "date", "echo", "printf", "basename", "dirname", "pwd",
	"env", NULL
};

/* Never passed on, whatever exec_policy.allowed_env_vars says. */
static const char *const shell_reserved_env[] = {
	"LIBREFANG_VAULT_KEY", "LIBREFANG_API_KEY", "LIBREFANG_DATABASE_URL",
	"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GROQ_API_KEY",
	"GEMINI_API_KEY", "GITHUB_TOKEN", "NPM_TOKEN", "AWS_SECRET_ACCESS_KEY",
	"AWS_SESSION_TOKEN", NULL
};

static json_t *
shell_policy(json_t *manifest, const char *key)
{
	json_t	*p = json_object_get(manifest, "exec_policy");

	return (json_is_object(p) ? json_object_get(p, key) : NULL);
}

static int
shell_in(const char *s, size_t n, const char *const *list, json_t *more)
{
	json_t		*e;
	const char	*t;
	size_t		 i;

	for (i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
			return (1);
	json_array_foreach(more, i, e)
		if ((t = json_string_value(e)) != NULL && strlen(t) == n &&
		    strncmp(t, s, n) == 0)
			return (1);
	return (0);
}

/* exec_policy allowlist mode: NULL if cmd passes, else why not. */
static const char *
shell_allowlist_check(json_t *manifest, const char *cmd, char *why,
    size_t whylen)
{
	json_t		*allowed = shell_policy(manifest, "allowed_commands");
	json_t		*safe = shell_policy(manifest, "safe_bins");
	const char	*s, *base, *e;

	if (strpbrk(cmd, ";|&<>`$(){}\n\r\\*?[]~!#") != NULL) {
		snprintf(why, whylen, "shell metacharacters are not allowed "
		    "under exec_policy allowlist");
		return (why);
	}
	s = cmd + strspn(cmd, " \t");
	/* env VAR=... prefixes */
	for (;;) {
		e = s + strcspn(s, " \t");
		if (memchr(s, '=', (size_t)(e - s)) == NULL &&
		    !((size_t)(e - s) == 3 && strncmp(s, "env", 3) == 0 &&
		    strchr(e, '=') != NULL))
			break;
		s = e + strspn(e, " \t");
	}
	e = s + strcspn(s, " \t");
	for (base = e; base > s && base[-1] != '/'; base--)
		;
	if (base == e) {
		snprintf(why, whylen, "empty command");
		return (why);
	}
	if (!shell_in(base, (size_t)(e - base), json_is_array(safe) ?
	    (const char *const[]){ NULL } : shell_safe_bins, safe) &&
	    !shell_in(base, (size_t)(e - base), (const char *const[]){ NULL },
	    allowed)) {
		snprintf(why, whylen, "'%.*s' is not in exec_policy safe_bins "
		    "or allowed_commands", (int)(e - base), base);
		return (why);
	}
	return (NULL);
}

/* The command's environment, rebuilt from nothing: a fixed PATH, the
 * workspace as HOME and PWD, and what exec_policy.allowed_env_vars names
 * of ours, never a reserved secret. */
static int
shell_env(struct tool_ctx *tc, struct child_env *env)
{
	json_t		*extra = shell_policy(tc->tc_manifest,
	    "allowed_env_vars"), *e;
	const char	*k, *v;
	size_t		 i;

	child_env_init(env, SHELL_ENV_MAX - 1);
	if (child_env_add(env, "PATH", "/usr/local/bin:/usr/bin:/bin") != 0 ||
	    child_env_add(env, "HOME", tc->tc_workspace) != 0 ||
	    child_env_add(env, "PWD", tc->tc_workspace) != 0 ||
	    child_env_add(env, "TMPDIR", "/tmp") != 0 ||
	    child_env_add(env, "LANG", "C.UTF-8") != 0 ||
	    child_env_add(env, "TERM", "dumb") != 0 ||
	    (tc->tc_agent_id != NULL && child_env_add(env,
	    "LIBREFANG_AGENT_ID", tc->tc_agent_id) != 0) ||
	    child_env_add(env, "LIBREFANG_WORKDIR", tc->tc_workspace) != 0)
		return (-1);
	json_array_foreach(extra, i, e) {
		if ((k = json_string_value(e)) == NULL || *k == '\0' ||
		    strchr(k, '=') != NULL ||
		    shell_in(k, strlen(k), shell_reserved_env, NULL) ||
		    (v = getenv(k)) == NULL)
			continue;
		if (child_env_add(env, k, v) != 0)
			return (-1);
	}
	return (0);
}

int
tool_shell_exec(struct tool_ctx *tc, json_t *in, struct tool_result *r)
{
	struct buf	 out;
	struct pollfd	 pfd;
	struct child_env env;
	struct child_req sr;
	struct child	 sp;
	const char	*cmd, *mode;
	char		 why[256], chunk[8192], err[128];
	char		*argv[4];
	json_t		*v;
	size_t		 clen, cap;
	ssize_t		 n;
	long long	 timeout = SHELL_TIMEOUT_DEF, maxout = SHELL_OUTPUT_DEF;
	uint64_t	 deadline, exited_at = 0, now;
	pid_t		 pid;
	int		 status = 0, done = 0;
	int		 eof = 0, timed_out = 0, interrupted = 0, truncated = 0;
	int		 rv;

	if (tool_arg_str(in, "command", 1, &cmd, &clen, r) != 0)
		return (0);
	if ((v = shell_policy(tc->tc_manifest, "timeout_secs")) != NULL &&
	    json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= SHELL_TIMEOUT_MAX)
		timeout = json_integer_value(v);
	if ((v = shell_policy(tc->tc_manifest, "max_output_bytes")) != NULL &&
	    json_is_integer(v) && json_integer_value(v) > 0)
		maxout = json_integer_value(v);
	if (tool_arg_int(in, "timeout_seconds", 1, SHELL_TIMEOUT_MAX, &timeout,
	    r) != 0)
		return (0);
	if (clen == 0 || clen > SHELL_CMD_MAX || strlen(cmd) != clen)
		return (tool_result_set(r, 1, 0, "invalid parameter 'command': "
		    "1-%d bytes, no NUL", SHELL_CMD_MAX));
	if (tc->tc_workspace == NULL)
		return (tool_result_set(r, 1, 1, "this agent has no workspace"));
	mode = tool_exec_mode(tc->tc_manifest);
	if (strcmp(mode, "deny") == 0)
		return (tool_result_set(r, 1, 1, "Permission denied: "
		    "exec_policy denies shell_exec"));
	if (strcmp(mode, "allowlist") == 0 &&
	    shell_allowlist_check(tc->tc_manifest, cmd, why, sizeof(why)) !=
	    NULL)
		return (tool_result_set(r, 1, 1, "Permission denied: %s", why));
	v = json_object_get(json_object_get(tc->tc_manifest, "capabilities"),
	    "shell");
	if (json_array_size(v) > 0 && !tool_glob_any(v, cmd))
		return (tool_result_set(r, 1, 1, "Permission denied: the "
		    "command does not match capabilities.shell"));
	if (tc->tc_interrupted != NULL && *tc->tc_interrupted)
		return (tool_result_set(r, 1, 1, "interrupted: the command was "
		    "not run"));
	cap = (size_t)maxout;
	if (cap > TOOL_RESULT_MAX - 512)
		cap = TOOL_RESULT_MAX - 512;
	buf_init(&out, cap + 512);	/* room for the notes */

	/* Everything the child needs is built before fork(). */
	if (shell_env(tc, &env) != 0) {
		child_env_release(&env);
		buf_release(&out);
		return (SH_ENOMEM);
	}
	argv[0] = (char *)(uintptr_t)"sh";
	argv[1] = (char *)(uintptr_t)"-c";
	argv[2] = (char *)(uintptr_t)cmd;
	argv[3] = NULL;
	memset(&sr, 0, sizeof(sr));
	sr.sr_path = "/bin/sh";
	sr.sr_argv = argv;
	sr.sr_envp = env.se_v;
	sr.sr_dir = tc->tc_workspace;
	sr.sr_io[0] = CHILD_IO_NULL;
	sr.sr_io[1] = CHILD_IO_PIPE;
	sr.sr_io[2] = CHILD_IO_STDOUT;	/* stdout and stderr together */
	rv = child_start(&sr, &sp, err, sizeof(err));
	child_env_release(&env);
	if (rv != 0) {
		buf_release(&out);
		return (tool_result_set(r, 1, 1, "shell_exec: %s", err));
	}
	pid = sp.sp_pid;
	deadline = util_now_ms() + (uint64_t)timeout * 1000;
	pfd.fd = sp.sp_out;
	while (!(done && eof)) {
		now = util_now_ms();
		if (tc->tc_interrupted != NULL && *tc->tc_interrupted) {
			interrupted = 1;
			break;
		}
		if (now >= deadline) {
			timed_out = !done;
			break;
		}
		/* The shell is gone but something it started holds the
		 * pipe: a short grace for its output, then the group goes. */
		if (done && now >= exited_at + SHELL_GRACE_MS)
			break;
		if (!eof) {
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (poll(&pfd, 1, 50) > 0) {
				n = read(sp.sp_out, chunk, sizeof(chunk));
				if (n > 0) {
					size_t	room = cap - out.b_len;

					if ((size_t)n > room) {
						truncated = 1;
						n = (ssize_t)room;
					}
					if (n > 0 && buf_add(&out, chunk,
					    (size_t)n) != 0)
						truncated = 1;
				} else if (n == 0 || (errno != EINTR &&
				    errno != EAGAIN))
					eof = 1;
			}
		} else
			util_sleep_ms(20);
		if (!done && child_reap(pid, 0, &status)) {
			done = 1;
			exited_at = util_now_ms();
		}
	}
	child_kill(pid, SIGKILL);
	if (!done)
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	close(sp.sp_out);
	if (timed_out || interrupted || (!eof && !done))
		buf_addf(&out, "%s[%s; the process group was killed]",
		    out.b_len > 0 ? "\n" : "", interrupted ? "interrupted" :
		    "timed out");
	else if (truncated)
		buf_addf(&out, "\n[truncated: output exceeded %zu bytes]", cap);
	if (!timed_out && !interrupted && done) {
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			buf_addf(&out, "%s[exit code: %d]", out.b_len > 0 ?
			    "\n" : "", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			buf_addf(&out, "%s[killed by signal %d]", out.b_len >
			    0 ? "\n" : "", WTERMSIG(status));
	}
	rv = tool_result_take(r, timed_out || interrupted ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0, 0,
	    out.b_data != NULL ? out.b_data : "", out.b_len);
	buf_release(&out);
	return (rv);
}
