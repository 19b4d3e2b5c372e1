/*
 * t_child.c - unit tests for libshared/child.c: the child's standard fds
 * in each mode, exactly the environment given, its own process group
 * (killed whole), a working directory, exit statuses 126 and 127, and the
 * environment's bound.
 */
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "tap.h"
#include "util.h"

/* Everything fd gives until EOF, at most 5 s; the bytes read, or -1. */
static ssize_t
slurp(int fd, char *out, size_t outlen)
{
	struct pollfd	p = { .fd = fd, .events = POLLIN };
	uint64_t	until = util_now_ms() + 5000;
	size_t		len = 0;
	ssize_t		n;

	while (util_now_ms() < until) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, out + len, outlen - 1 - len);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			return (-1);
		if (n > 0)
			len += (size_t)n;
		if (len + 1 >= outlen)
			break;
	}
	out[len] = '\0';
	return ((ssize_t)len);
}

/* Runs /bin/sh -c script with env, stdin NULL; its output and status. */
static int
sh(const char *script, struct child_env *env, const char *dir,
    enum child_io err_io, char *out, size_t outlen, int *status)
{
	char *const	argv[] = { (char *)(uintptr_t)"sh",
	    (char *)(uintptr_t)"-c", (char *)(uintptr_t)script, NULL };
	struct child_req sr;
	struct child	 sp;
	char		 err[128];

	memset(&sr, 0, sizeof(sr));
	sr.sr_path = "/bin/sh";
	sr.sr_argv = argv;
	sr.sr_envp = env->se_v;
	sr.sr_dir = dir;
	sr.sr_io[0] = CHILD_IO_NULL;
	sr.sr_io[1] = CHILD_IO_PIPE;
	sr.sr_io[2] = err_io;
	if (child_start(&sr, &sp, err, sizeof(err)) != 0) {
		printf("# child_start: %s\n", err);
		return (-1);
	}
	if (sp.sp_in != -1 || sp.sp_out == -1 || (err_io == CHILD_IO_PIPE) !=
	    (sp.sp_err != -1))
		return (-1);
	if (slurp(sp.sp_out, out, outlen) < 0)
		return (-1);
	close(sp.sp_out);
	if (sp.sp_err != -1)
		close(sp.sp_err);
	if (!child_reap(sp.sp_pid, 5000, status))
		return (-1);
	return (0);
}

static int
t_env_and_fds(void)
{
	struct child_env	env;
	char			out[512];
	int			status = -1;

	setenv("T_CHILD_SECRET", "leaked", 1);
	child_env_init(&env, 4);
	T_EQ_INT(child_env_add(&env, "PATH", "/usr/bin:/bin"), 0);
	T_EQ_INT(child_env_add(&env, "A", "1"), 0);
	/* stdout and stderr together; nothing of our environment. */
	T_EQ_INT(sh("echo out; echo err >&2; echo A=$A; "
	    "echo S=${T_CHILD_SECRET:-none}; cat; echo in=$?", &env, "/",
	    CHILD_IO_STDOUT, out, sizeof(out), &status), 0);
	T_EQ_STR(out, "out\nerr\nA=1\nS=none\nin=0\n");
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* stderr to /dev/null; the working directory. */
	T_EQ_INT(sh("echo err >&2; pwd; exit 3", &env, "/tmp", CHILD_IO_NULL,
	    out, sizeof(out), &status), 0);
	T_EQ_STR(out, "/tmp\n");
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	/* A working directory that is not there: 126. */
	T_EQ_INT(sh("echo ran", &env, "/nonexistent/t_child", CHILD_IO_PIPE,
	    out, sizeof(out), &status), 0);
	T_EQ_STR(out, "");
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 126);
	child_env_release(&env);
	unsetenv("T_CHILD_SECRET");
	return (0);
}

static int
t_env_bound(void)
{
	struct child_env	env;
	char			k[16];
	int			i;

	child_env_init(&env, 3);
	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "K%d", i);
		T_EQ_INT(child_env_add(&env, k, "v"), 0);
	}
	T_EQ_INT(env.se_n, 3);
	T_EQ_STR(env.se_v[2], "K2=v");
	T_OK(env.se_v[3] == NULL);
	child_env_release(&env);
	T_EQ_INT(env.se_n, 0);
	child_env_init(&env, CHILD_ENV_MAX + 10);
	T_EQ_INT(env.se_max, CHILD_ENV_MAX);
	return (0);
}

/* A missing program is 127; with CHILD_F_PATH it is looked up in PATH
 * (the given environment's). */
static int
t_exec_and_path(void)
{
	char *const	argv[] = { (char *)(uintptr_t)"true", NULL };
	char *const	envp[] = { (char *)(uintptr_t)"PATH=/usr/bin:/bin",
	    NULL };
	struct child_req sr;
	struct child	 sp;
	char		 err[128];
	int		 status = -1;

	memset(&sr, 0, sizeof(sr));
	sr.sr_path = "true";
	sr.sr_argv = argv;
	sr.sr_envp = envp;
	/* no PATH search: "true" is not a path */
	T_EQ_INT(child_start(&sr, &sp, err, sizeof(err)), 0);
	T_OK(sp.sp_in == -1 && sp.sp_out == -1 && sp.sp_err == -1);
	T_OK(child_reap(sp.sp_pid, 5000, &status));
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 127);
	sr.sr_flags = CHILD_F_PATH;
	T_EQ_INT(child_start(&sr, &sp, err, sizeof(err)), 0);
	T_OK(child_reap(sp.sp_pid, 5000, &status));
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return (0);
}

/* 1 if pid runs (exists and is not a zombie). */
static int
running(pid_t pid)
{
	char	 p[64], buf[256], *rp;
	FILE	*f;
	int	 alive = 0;

	snprintf(p, sizeof(p), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(p, "r")) == NULL)
		return (0);
	/* "pid (comm) S ...": the state follows the last ')'. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (rp = strrchr(buf, ')')) != NULL && rp[1] == ' ')
		alive = rp[2] != 'Z' && rp[2] != 'X';
	fclose(f);
	return (alive);
}

/* The child leads its own group: child_kill takes what it started. */
static int
t_group_killed(void)
{
	char *const	argv[] = { (char *)(uintptr_t)"sh",
	    (char *)(uintptr_t)"-c", (char *)(uintptr_t)
	    "sleep 30 & echo $!; echo ready; wait", NULL };
	char *const	envp[] = { (char *)(uintptr_t)"PATH=/usr/bin:/bin",
	    NULL };
	struct child_req sr;
	struct child	 sp;
	char		 err[128], out[64] = "";
	ssize_t		 n;
	size_t		 len = 0;
	long		 bg;
	int		 status = -1, i;

	memset(&sr, 0, sizeof(sr));
	sr.sr_path = "/bin/sh";
	sr.sr_argv = argv;
	sr.sr_envp = envp;
	sr.sr_io[1] = CHILD_IO_PIPE;
	T_EQ_INT(child_start(&sr, &sp, err, sizeof(err)), 0);
	/* Up to 5 s for "PID\nready\n". */
	for (i = 0; i < 50 && strstr(out, "ready") == NULL; i++) {
		struct pollfd	p = { .fd = sp.sp_out, .events = POLLIN };

		out[len] = '\0';
		if (poll(&p, 1, 100) > 0 && (n = read(sp.sp_out, out + len,
		    sizeof(out) - 1 - len)) > 0)
			len += (size_t)n;
		out[len] = '\0';
	}
	T_OK(strstr(out, "ready") != NULL);
	T_EQ_INT(getpgid(sp.sp_pid), sp.sp_pid);
	bg = strtol(out, NULL, 10);
	T_OK(bg > 1 && getpgid((pid_t)bg) == sp.sp_pid);
	T_OK(!child_reap(sp.sp_pid, 0, &status));
	child_kill(sp.sp_pid, SIGKILL);
	T_OK(child_reap(sp.sp_pid, 5000, &status));
	T_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The background sleep went with its group (gone, or a zombie
	 * until whoever adopted it reaps it), within 5 s. */
	for (i = 0; i < 250 && running((pid_t)bg); i++)
		util_sleep_ms(20);
	T_OK(!running((pid_t)bg));
	close(sp.sp_out);
	/* Reaped already: 1 at once. */
	T_OK(child_reap(sp.sp_pid, 0, NULL));
	return (0);
}

static const struct tap_case cases[] = {
	{ "child: fds in each mode, only the given environment",
	    t_env_and_fds },
	{ "child: the environment keeps at most its bound", t_env_bound },
	{ "child: 127 for a missing program, PATH only when asked",
	    t_exec_and_path },
	{ "child: its own process group, killed whole", t_group_killed },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
