/*
 * child.c - a child program with pipes (child.h).
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "util.h"

void
child_env_init(struct child_env *e, size_t max)
{
	memset(e, 0, sizeof(*e));
	e->se_max = max < CHILD_ENV_MAX ? max : CHILD_ENV_MAX;
}

int
child_env_add(struct child_env *e, const char *k, const char *v)
{
	char	*kv;
	size_t	 i, kl = strlen(k);

	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return (-1);
	for (i = 0; i < e->se_n; i++)
		if (strncmp(e->se_v[i], k, kl) == 0 && e->se_v[i][kl] == '=') {
			free(e->se_v[i]);
			e->se_v[i] = kv;
			return (0);
		}
	if (e->se_n >= e->se_max) {
		free(kv);
		return (0);
	}
	e->se_v[e->se_n++] = kv;
	return (0);
}

void
child_env_release(struct child_env *e)
{
	size_t	i;

	for (i = 0; i < e->se_n; i++) {
		free(e->se_v[i]);
		e->se_v[i] = NULL;
	}
	e->se_n = 0;
}

/* The child, after fork(): async-signal-safe calls only. */
static void
child_child(const struct child_req *sr, const int fd[3])
{
	struct sigaction	sa;
	sigset_t		all;
	int			s;

	/* Its own process group, so that killing the group takes
	 * whatever it started. */
	setsid();
	if (dup2(fd[0], 0) == -1 || dup2(fd[1], 1) == -1 ||
	    dup2(fd[2], 2) == -1)
		_exit(126);
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	if (sr->sr_flags & CHILD_F_PDEATHSIG)
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (sr->sr_dir != NULL && chdir(sr->sr_dir) != 0)
		_exit(126);
	if (sr->sr_flags & CHILD_F_PATH)
		execvpe(sr->sr_path, sr->sr_argv, sr->sr_envp);
	else
		execve(sr->sr_path, sr->sr_argv, sr->sr_envp);
	_exit(127);
}

int
child_start(const struct child_req *sr, struct child *sp, char *err,
    size_t errlen)
{
	/* p[i]: the pipe of fd i, [0] the read end, [1] the write end. */
	int	p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int	cfd[3], devnull = -1, i, ret = -1;
	pid_t	pid;

	sp->sp_pid = 0;
	sp->sp_in = sp->sp_out = sp->sp_err = -1;
	for (i = 0; i < 3; i++) {
		if (sr->sr_io[i] == CHILD_IO_PIPE &&
		    pipe2(p[i], O_CLOEXEC) != 0) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			goto done;
		}
		if (sr->sr_io[i] == CHILD_IO_NULL && devnull == -1 &&
		    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "/dev/null: %s", strerror(errno));
			goto done;
		}
	}
	cfd[0] = sr->sr_io[0] == CHILD_IO_PIPE ? p[0][0] : devnull;
	cfd[1] = sr->sr_io[1] == CHILD_IO_PIPE ? p[1][1] : devnull;
	if (sr->sr_io[2] == CHILD_IO_PIPE)
		cfd[2] = p[2][1];
	else if (sr->sr_io[2] == CHILD_IO_STDOUT)
		cfd[2] = cfd[1];
	else
		cfd[2] = devnull;
	switch ((pid = fork())) {
	case -1:
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto done;
	case 0:
		child_child(sr, cfd);
		_exit(127);		/* not reached */
	default:
		break;
	}
	sp->sp_pid = pid;
	/* Our ends move to sp; the child's are closed below. */
	sp->sp_in = p[0][1];
	sp->sp_out = p[1][0];
	sp->sp_err = p[2][0];
	p[0][1] = p[1][0] = p[2][0] = -1;
	ret = 0;
 done:
	for (i = 0; i < 3; i++) {
		if (p[i][0] != -1)
			close(p[i][0]);
		if (p[i][1] != -1)
			close(p[i][1]);
	}
	if (devnull != -1)
		close(devnull);
	return (ret);
}

void
child_kill(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	if (kill(-pid, sig) != 0)
		(void)kill(pid, sig);
}

int
child_reap(pid_t pid, int ms, int *status)
{
	uint64_t	until = util_now_ms() + (uint64_t)(ms > 0 ? ms : 0);
	pid_t		w;
	int		st;

	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			if (status != NULL)
				*status = st;
			return (1);
		}
		if (w == -1 && errno == ECHILD)
			return (1);
		if (w == -1 && errno == EINTR)
			continue;
		if (util_now_ms() >= until)
			return (0);
		util_sleep_ms(20);
	}
}
