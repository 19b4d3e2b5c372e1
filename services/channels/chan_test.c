/*
 * chan_test.c - POST /api/channels/{name}/test: a real check of a
 * channel's configuration.  A second copy of its adapter is started with
 * the channel's command, arguments and environment, and watched until it
 * sends `ready` (it logged in: the check passed), reports an `error`,
 * exits, or CHAN_TEST_SECS (or the channel's ready_timeout_secs, if
 * shorter) pass; then it is told to shut down and killed if it lingers.
 *
 * The worker that answers waits for it, unlike every other operation of
 * this service (adapters are otherwise only the supervisor's): the wait
 * is bounded, and one test runs at a time (a second one is 409), so at
 * most one worker is held.  The running adapter, if any, is not touched.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "channels.h"
#include "child.h"
#include "log.h"
#include "ops.h"
#include "util.h"

#define TEST_LINE_MAX	(64 * 1024)	/* longer stdout lines: skipped */
#define TEST_GRACE_MS	2000		/* after shutdown, then killed */

static pthread_mutex_t	chan_test_mtx = PTHREAD_MUTEX_INITIALIZER;

/* What the adapter said or did, filled by chan_test_read(). */
struct chan_test {
	char		 t_line[TEST_LINE_MAX];
	size_t		 t_len;
	int		 t_skip;	/* inside an over-long line */
	int		 t_done;	/* 1 ready, -1 error or exit */
	char		 t_why[512];
	json_t		*t_caps;	/* of its ready (owned) */
	char		 t_stderr[256];	/* its last stderr line */
};

/* One complete stdout line: ready or error settles the test. */
static void
chan_test_line(struct chan_test *t, const char *line, size_t len)
{
	struct chan_event	ev;
	char			err[128];

	if (chan_event_parse(line, len, &ev, err, sizeof(err)) != 0)
		return;
	if (ev.ce_type == CHAN_EV_READY) {
		t->t_done = 1;
		t->t_caps = json_incref(ev.ce_capabilities);
	} else if (ev.ce_type == CHAN_EV_ERROR) {
		t->t_done = -1;
		snprintf(t->t_why, sizeof(t->t_why), "the adapter reported: "
		    "%s", ev.ce_message != NULL ? ev.ce_message : "an error");
	}
	chan_event_release(&ev);
}

/* Reads what fd has (stdout: frames, else stderr: its last line).
 * 0, or -1 at EOF. */
static int
chan_test_read(struct chan_test *t, int fd, int is_out)
{
	char	buf[4096], *nl, *p;
	ssize_t	n;
	size_t	k;

	if ((n = read(fd, buf, sizeof(buf))) == 0)
		return (-1);
	if (n < 0)
		return (errno == EINTR || errno == EAGAIN ? 0 : -1);
	if (!is_out) {
		/* The last non-empty line, for an adapter that dies with its
		 * reason on stderr. */
		for (p = buf; p < buf + n && t->t_done == 0; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(buf + n - p))) ==
			    NULL)
				nl = buf + n;
			if (nl > p)
				snprintf(t->t_stderr, sizeof(t->t_stderr),
				    "%.*s", (int)(nl - p), p);
		}
		return (0);
	}
	for (p = buf; p < buf + n && t->t_done == 0; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(buf + n - p))) == NULL)
			nl = buf + n;
		k = (size_t)(nl - p);
		if (t->t_skip || t->t_len + k >= sizeof(t->t_line)) {
			t->t_skip = 1;
			t->t_len = 0;
		} else {
			memcpy(t->t_line + t->t_len, p, k);
			t->t_len += k;
		}
		if (nl < buf + n) {
			if (!t->t_skip)
				chan_test_line(t, t->t_line, t->t_len);
			t->t_len = 0;
			t->t_skip = 0;
		}
	}
	return (0);
}

/* Runs cc's adapter until it settles or ms pass; t says how it went. */
static void
chan_test_run(const struct chan_conf *cc, int ms, struct chan_test *t)
{
	static const char	 shutdown_line[] = "{\"method\":\"shutdown\"}\n";
	struct child_req	 rq;
	struct child		 c;
	struct child_env	 e;
	struct pollfd		 pfd[2];
	uint64_t		 deadline = util_now_ms() + (uint64_t)ms, now;
	int			 status, open_out = 1, open_err = 1, i;
	char			 err[256];

	memset(&rq, 0, sizeof(rq));
	if (chan_conf_env(cc, chan_home_dir(), &e) != 0) {
		child_env_release(&e);
		t->t_done = -1;
		snprintf(t->t_why, sizeof(t->t_why), "out of memory");
		return;
	}
	rq.sr_path = cc->cc_command;
	rq.sr_argv = cc->cc_argv;
	rq.sr_envp = e.se_v;
	rq.sr_io[0] = rq.sr_io[1] = rq.sr_io[2] = CHILD_IO_PIPE;
	rq.sr_flags = CHILD_F_PATH | CHILD_F_PDEATHSIG;
	i = child_start(&rq, &c, err, sizeof(err));
	child_env_release(&e);
	if (i != 0) {
		t->t_done = -1;
		snprintf(t->t_why, sizeof(t->t_why), "could not start '%.64s': "
		    "%.160s", cc->cc_command, err);
		return;
	}
	while (t->t_done == 0 && open_out) {
		if ((now = util_now_ms()) >= deadline) {
			t->t_done = -1;
			snprintf(t->t_why, sizeof(t->t_why), "the adapter sent "
			    "no ready within %d s", (ms + 999) / 1000);
			break;
		}
		pfd[0].fd = c.sp_out;
		pfd[0].events = POLLIN;
		pfd[1].fd = open_err ? c.sp_err : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		/* stderr first: a dying adapter's last words come before
		 * its stdout's EOF is seen. */
		if (open_err && pfd[1].revents != 0 &&
		    chan_test_read(t, c.sp_err, 0) != 0)
			open_err = 0;
		if (pfd[0].revents != 0 && chan_test_read(t, c.sp_out, 1) != 0)
			open_out = 0;
	}
	/* §1.3's stop: shutdown, EOF, then a kill when it lingers.  A
	 * child already gone is EPIPE here (svc_init ignores SIGPIPE). */
	(void)write(c.sp_in, shutdown_line, sizeof(shutdown_line) - 1);
	close(c.sp_in);
	status = -1;
	if (!child_reap(c.sp_pid, TEST_GRACE_MS, &status)) {
		child_kill(c.sp_pid, SIGKILL);
		(void)child_reap(c.sp_pid, TEST_GRACE_MS, &status);
	}
	if (t->t_done == 0) {
		t->t_done = -1;
		if (status >= 0 && WIFEXITED(status))
			snprintf(t->t_why, sizeof(t->t_why), "the adapter "
			    "exited with status %d before ready%s%s",
			    WEXITSTATUS(status), t->t_stderr[0] != '\0' ?
			    ": " : "", t->t_stderr);
		else
			snprintf(t->t_why, sizeof(t->t_why), "the adapter "
			    "stopped before ready%s%s", t->t_stderr[0] !=
			    '\0' ? ": " : "", t->t_stderr);
	}
	close(c.sp_out);
	close(c.sp_err);
}

static void
op_test(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	const struct chan_conf	*conf;
	struct chan_test	*t;
	const char		*name;
	size_t			 i, n;
	uint64_t		 t0;
	int			 ms;

	(void)c;
	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	conf = chan_confs(&n);
	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, name) == 0)
			break;
	if (i == n) {
		svc_reply_not_found(rp, "Channel", name);
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		svc_reply_error(rp, 503, "out of memory");
		return;
	}
	if (pthread_mutex_trylock(&chan_test_mtx) != 0) {
		free(t);
		svc_reply_error(rp, 409, "another channel test is running");
		return;
	}
	ms = (int)(conf[i].cc_ready_timeout_secs < CHAN_TEST_SECS ?
	    conf[i].cc_ready_timeout_secs : CHAN_TEST_SECS) * 1000;
	t0 = util_now_ms();
	chan_test_run(&conf[i], ms, t);
	pthread_mutex_unlock(&chan_test_mtx);
	if (t->t_done > 0)
		svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:s, s:O, s:I}",
		    "status", "ok", "channel", name, "message", "the adapter "
		    "started and reported ready", "capabilities", t->t_caps !=
		    NULL ? t->t_caps : json_array(), "latency_ms",
		    (json_int_t)(util_now_ms() - t0)));
	else {
		log_info("channel '%s': test failed: %s", name, t->t_why);
		/* As providers.test: the check ran, what it checked failed. */
		svc_reply_json(rp, 502, json_pack("{s:s, s:s, s:s, s:I}",
		    "status", "failed", "channel", name, "error", t->t_why,
		    "latency_ms", (json_int_t)(util_now_ms() - t0)));
	}
	json_decref(t->t_caps);
	free(t);
}

const struct svc_op chan_test_ops[] = {
	{ OP_CHANNELS_TEST,	op_test },
	{ NULL, NULL },
};
