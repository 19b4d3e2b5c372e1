/*
 * child.h - a child program with pipes, for what a service runs on
 * someone else's behalf: shell_exec's /bin/sh, an MCP stdio server, later
 * a channel adapter.
 *
 * What every such child gets, whoever starts it: a session of its own
 * (its pid is its process group, so killing the group also takes what it
 * started: npx, a shell's background jobs); the standard fds asked for and
 * no other fd of ours (close_range at exec); every signal's disposition
 * reset and its mask cleared (svc_init() blocks signals in every thread,
 * and a child would inherit that); exactly the environment given, never
 * ours.  Everything the child needs is built before fork(), which then
 * runs only async-signal-safe calls: a failed dup2 or chdir is exit status
 * 126, a failed exec 127.
 *
 * What differs stays with the caller: the program, its environment (what
 * is passed on is each caller's sandbox rule), the working directory,
 * PDEATHSIG, and how and when the child is stopped.
 *
 * Thread-safe (pipes are created O_CLOEXEC, so a child started at the
 * same time by another thread never inherits them).
 *
 * Not named spawn.h: -Ilibshared would shadow the system's <spawn.h>
 * (posix_spawn, which files/upload.c uses).
 */
#ifndef SH_CHILD_H
#define SH_CHILD_H

#include <sys/types.h>

#include <stddef.h>

#define CHILD_ENV_MAX	80	/* entries of a child's environment */

/* A child's environment, built entry by entry before the fork. */
struct child_env {
	char	*se_v[CHILD_ENV_MAX + 1];	/* "K=V" (owned), NULL-ended */
	size_t	 se_n;
	size_t	 se_max;	/* entries kept; later ones are dropped */
};

/* Empties e, keeping at most max (<= CHILD_ENV_MAX) entries. */
void	 child_env_init(struct child_env *e, size_t max);
/* Sets k to v (copied): replaces k's entry, else appends "k=v".  0, also
 * when e is full (then dropped), or -1 out of memory. */
int	 child_env_add(struct child_env *e, const char *k, const char *v);
void	 child_env_release(struct child_env *e);

/* What a child's stdin, stdout or stderr is. */
enum child_io {
	CHILD_IO_NULL,		/* /dev/null */
	CHILD_IO_PIPE,		/* a pipe to us */
	CHILD_IO_STDOUT,	/* stderr only: into stdout's pipe */
};

#define CHILD_F_PATH		0x1	/* search PATH for the program */
#define CHILD_F_PDEATHSIG	0x2	/* SIGTERM when we die */

struct child_req {
	const char	*sr_path;	/* the program (searched in PATH
					   with CHILD_F_PATH) */
	char *const	*sr_argv;	/* borrowed, NULL-ended */
	char *const	*sr_envp;	/* borrowed, NULL-ended */
	const char	*sr_dir;	/* working directory, or NULL */
	enum child_io	 sr_io[3];	/* stdin, stdout, stderr */
	int		 sr_flags;
};

/* A running child: its pid (and process group) and our pipe ends. */
struct child {
	pid_t	sp_pid;
	int	sp_in;		/* writes to its stdin, or -1 */
	int	sp_out;		/* reads its stdout, or -1 */
	int	sp_err;		/* reads its stderr, or -1 */
};

/*
 * Starts sr in sp.  0, or -1 with why in err (pipe or fork failed: the
 * child's own failures show as its exit status).  sp's fds are the
 * caller's to close; they are blocking and O_CLOEXEC.
 */
int	 child_start(const struct child_req *sr, struct child *sp, char *err,
	    size_t errlen);
/* Sends sig to pid's process group, or to pid alone when the group is
 * gone or refuses it. */
void	 child_kill(pid_t pid, int sig);
/* Waits up to ms for pid to exit.  1 once it is reaped (or was already:
 * ECHILD), *status set when status is not NULL and it was reaped here;
 * 0 if it still runs.  ms 0 only looks. */
int	 child_reap(pid_t pid, int ms, int *status);

#endif /* SH_CHILD_H */
