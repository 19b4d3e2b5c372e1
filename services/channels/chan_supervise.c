/*
 * chan_supervise.c - one thread that runs the adapter of every channel
 * whose lease this replica holds (protocols.md §1.3).
 *
 * The thread owns every child, every pipe and its own database
 * connection; nothing else touches them, so there is no lock.  It loops on
 * poll() over the children's stdout, stderr and (when a command waits)
 * stdin, and a wake pipe (chan_sup_wake(): the outbox has rows), with a
 * timeout no longer than the next timer.  All fds are non-blocking: a
 * child that does not read, write or exit can delay nothing but itself.
 *
 * A child is restarted alone, with upstream's backoff, when it:
 *	exits without being asked to;
 *	sends no ready within ready_timeout_secs;
 *	leaves CHAN_STALL_MS without reading a command we wrote, or lets
 *	CHAN_WBUF_MAX bytes of commands pile up (it hangs);
 *	with heartbeat_timeout_secs (ours, 0 = off: upstream's adapters do
 *	not answer heartbeats) sends no frame for that long although we sent
 *	a heartbeat half-way (it hangs);
 *	writes more than CHAN_GARBAGE_MAX lines that are no frame within
 *	CHAN_GARBAGE_WINDOW_MS (it floods garbage).
 * Fewer garbage lines are counted and logged and skipped.
 *
 * Outbound: pending outbox rows of a ready channel are written as send
 * frames; a row is marked sent once the child has read its frame whole
 * from its stdin pipe (what it has not read yet is the pipe's FIONREAD).
 * A child that dies before that leaves the row pending, and it goes to
 * the next child.  (A frame the child read but did not pass on before
 * dying is lost: §1.3 has no acknowledgement.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/wait.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "buf.h"
#include "bus.h"
#include "channels.h"
#include "child.h"
#include "log.h"
#include "services.h"
#include "util.h"

#define CHAN_WBUF_MAX		(4 * 1024 * 1024)
#define CHAN_STALL_MS		10000
#define CHAN_GARBAGE_MAX	64
#define CHAN_GARBAGE_WINDOW_MS	10000
#define CHAN_ERRLINE_MAX	2048	/* a stderr line logged, at most */
#define CHAN_OUTBOX_MS		1000	/* outbox poll without a wake */
#define CHAN_SENDS_POLL_MS	10	/* sends read yet? while some wait */
#define CHAN_SENDS_MAX		64	/* send frames in flight per child */
#define CHAN_HELD_MAX		256	/* messages waiting for the database */
#define CHAN_HELD_RETRY_MS	500
#define CHAN_NOTES_MAX		256	/* typing, reactions waiting */
#define CHAN_STREAMS_MAX	64	/* replies tracked per child */
#define CHAN_ENDED_MAX		32	/* replies ended, remembered */
#define CHAN_STREAM_IDLE_MS	5000	/* then whether its turn still runs */

enum chan_state {
	CH_IDLE,		/* no lease here */
	CH_STARTING,		/* waiting for ready */
	CH_READY,
	CH_STOPPING,		/* asked to stop, or killed for a fault */
	CH_BACKOFF,		/* waiting to restart */
	CH_FAILED,		/* the circuit is open */
	CH_DISABLED,		/* exited with restart = false */
};

static const char *const chan_state_names[] = {
	"standby", "starting", "running", "stopping", "backoff",
	"circuit_open", "stopped",
};

/*
 * A part of an outbox row in flight: once the child has read past se_end
 * (ch_wdone less what its pipe still holds), the row
 * has reached the adapter up to byte se_upto of its text, and is sent when
 * se_last.  se_stream: the part is a stream's end.
 */
struct chan_send {
	long long	se_id;
	uint64_t	se_end;
	long long	se_upto;
	int		se_last;
	int		se_stream;
};

struct chan_child {
	struct chan_conf	*ch_conf;
	enum chan_state		 ch_state;
	int			 ch_leased;
	pid_t			 ch_pid;
	int			 ch_in, ch_out, ch_err;
	struct buf		 ch_rbuf;	/* stdout's partial line */
	int			 ch_skipping;	/* in a line too long */
	struct buf		 ch_ebuf;	/* stderr's partial line */
	struct buf		 ch_wbuf;	/* commands to write */
	size_t			 ch_woff;	/* of ch_wbuf, written */
	uint64_t		 ch_wtotal;	/* bytes ever queued */
	uint64_t		 ch_wdone;	/* bytes ever written */
	uint64_t		 ch_wprogress;	/* last write progress, ms */
	struct chan_send	*ch_sends;	/* in write order */
	size_t			 ch_nsends, ch_sendcap;
	struct chan_stream	*ch_streams[CHAN_STREAMS_MAX];
	size_t			 ch_nstreams;
	long long		 ch_ended[CHAN_ENDED_MAX];	/* a ring */
	size_t			 ch_nended;
	long long		 ch_last_sent;	/* highest outbox id queued */
	uint64_t		 ch_started;
	uint64_t		 ch_deadline;	/* ready or stop deadline */
	uint64_t		 ch_restart_at;
	uint64_t		 ch_last_frame;
	uint64_t		 ch_hb_sent;	/* 0: none outstanding */
	const char		*ch_kill_why;	/* set: a fault, not a stop */
	char			 ch_error[256];
	long long		 ch_failures;	/* consecutive */
	long long		 ch_restarts;
	json_t			*ch_caps;
	json_t			*ch_recipients;	/* notification_recipients */
	int			 ch_garbage;
	uint64_t		 ch_garbage_since;
	int			 ch_dirty;	/* status to record */
	int			 ch_retired;	/* a reload removed or changed
					   its entry: stopped for good */
	struct chan_child	*ch_prev;	/* the retired child of the same
					   name: started once it exited */
};

struct chan_sup {
	pthread_t		 s_thread;
	int			 s_started;
	int			 s_wake[2];
	int			 s_quit;	/* under s_mtx */
	pthread_mutex_t		 s_mtx;
	struct db		*s_db;
	struct chan_child	**s_ch;		/* each allocated: held
						   messages point at them */
	struct chan_sub		*s_sub;		/* turn events; NULL: none */
	/* Notes for the replica that runs the channel (chan_sup_notify()),
	 * on TOPIC_CHAN_STREAM; NULL: kept here. */
	struct bus_pub		*s_pub;
	pthread_mutex_t		 s_pub_mtx;
	size_t			 s_n;
	/* A set of channels from chan_sup_reload(), under s_mtx. */
	struct chan_conf	*s_next;
	size_t			 s_nnext;
	int			 s_reload;
	int			 s_outbox_due;
	/* Message frames the database refused (it is down): stored again
	 * every CHAN_HELD_RETRY_MS, oldest first (upstream's bounded
	 * message_buffer, 256). */
	struct {
		struct chan_child	*h_ch;
		json_t			*h_frame;
	}			 s_held[CHAN_HELD_MAX];
	size_t			 s_nheld;
	uint64_t		 s_held_at;
	/* Frames other threads ask to pass on (chan_sup_notify()), under
	 * s_mtx; best effort: dropped when full. */
	struct {
		char			 n_channel[CHAN_NAME_MAX];
		char			 n_cap[16];
		json_t			*n_frame;
	}			 s_notes[CHAN_NOTES_MAX];
	size_t			 s_nnotes;
};

static int	chan_has_cap(json_t *, const char *);
static void	chan_sup_wake_cb(void *);
static void	chan_sup_note(struct chan_sup *, const char *, const char *,
		    json_t *);
static void	chan_write(struct chan_sup *, struct chan_child *);
static void	chan_fault(struct chan_child *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
chan_set_state(struct chan_child *ch, enum chan_state st)
{
	if (ch->ch_state != st)
		ch->ch_dirty = 1;
	ch->ch_state = st;
}

/* Queues a command; a child whose queue overflows hangs (chan_fault). */
static int
chan_queue(struct chan_child *ch, json_t *frame)
{
	size_t	before = ch->ch_wbuf.b_len;
	int	rv;

	if (frame == NULL)
		return (-1);	/* not built (ENOMEM): nothing queued */
	if (ch->ch_in < 0) {
		json_decref(frame);
		return (-1);
	}
	rv = chan_frame_line(frame, &ch->ch_wbuf);
	json_decref(frame);
	if (rv != 0) {
		/* buf resets on a failed append: what was queued is lost
		 * with the child, which is now restarted. */
		chan_fault(ch, "does not read its stdin (%d bytes of "
		    "commands wait)", CHAN_WBUF_MAX);
		return (-1);
	}
	if (before == ch->ch_woff)
		ch->ch_wprogress = util_now_ms();
	ch->ch_wtotal += ch->ch_wbuf.b_len - before;
	return (0);
}

static void
chan_nonblock(int fd)
{
	int	fl;

	if (fd >= 0 && (fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A child exited or never started: backoff, the circuit, or stop. */
static void
chan_failed(struct chan_child *ch, uint64_t now)
{
	struct chan_conf	*cc = ch->ch_conf;
	long long		 delay;
	int			 i;

	if (ch->ch_retired) {
		chan_set_state(ch, CH_IDLE);
		return;
	}
	ch->ch_restarts++;
	ch->ch_dirty = 1;
	/* Long enough up: it was working; the count starts over. */
	if (ch->ch_started != 0 && now - ch->ch_started >=
	    (uint64_t)cc->cc_reset_after_secs * 1000)
		ch->ch_failures = 0;
	ch->ch_failures++;
	if (!cc->cc_restart) {
		log_warnx("channel '%s': adapter stopped (%s); restart = "
		    "false", cc->cc_name, ch->ch_error);
		chan_set_state(ch, CH_DISABLED);
		return;
	}
	if (ch->ch_failures >= cc->cc_max_retries) {
		log_warnx("channel '%s': adapter failed %lld times in a row "
		    "(last: %s); circuit open, not restarted", cc->cc_name,
		    ch->ch_failures, ch->ch_error);
		chan_set_state(ch, CH_FAILED);
		return;
	}
	delay = cc->cc_backoff_initial_ms;
	for (i = 1; i < ch->ch_failures && delay < cc->cc_backoff_max_ms; i++)
		delay *= 2;
	if (delay > cc->cc_backoff_max_ms)
		delay = cc->cc_backoff_max_ms;
	/* Up to 20 % more, so adapters failing together spread out. */
	delay += (long long)((double)delay * 0.2 * (random() / (double)
	    RAND_MAX));
	log_warnx("channel '%s': adapter failed (%s); restart %lld in %lld ms",
	    cc->cc_name, ch->ch_error, ch->ch_failures, delay);
	ch->ch_restart_at = now + (uint64_t)delay;
	chan_set_state(ch, CH_BACKOFF);
}

static void
chan_spawn(struct chan_sup *s, struct chan_child *ch)
{
	struct chan_conf	*cc = ch->ch_conf;
	struct child_req	 rq;
	struct child		 c;
	struct child_env	 e;
	char			 err[256];
	uint64_t		 now = util_now_ms();

	(void)s;
	memset(&rq, 0, sizeof(rq));
	if (chan_conf_env(cc, chan_home_dir(), &e) != 0) {
		child_env_release(&e);
		snprintf(ch->ch_error, sizeof(ch->ch_error), "out of memory");
		ch->ch_started = 0;
		chan_failed(ch, now);
		return;
	}
	rq.sr_path = cc->cc_command;
	rq.sr_argv = cc->cc_argv;
	rq.sr_envp = e.se_v;
	rq.sr_io[0] = rq.sr_io[1] = rq.sr_io[2] = CHILD_IO_PIPE;
	/* PDEATHSIG: a channels service killed with -9 takes its adapters
	 * along, so a channel never runs twice once another replica takes
	 * its lease. */
	rq.sr_flags = CHILD_F_PATH | CHILD_F_PDEATHSIG;
	if (child_start(&rq, &c, err, sizeof(err)) != 0) {
		child_env_release(&e);
		snprintf(ch->ch_error, sizeof(ch->ch_error), "could not start "
		    "'%.64s': %.160s", cc->cc_command, err);
		ch->ch_started = 0;
		chan_failed(ch, now);
		return;
	}
	child_env_release(&e);
	ch->ch_pid = c.sp_pid;
	ch->ch_in = c.sp_in;
	ch->ch_out = c.sp_out;
	ch->ch_err = c.sp_err;
	chan_nonblock(ch->ch_in);
	chan_nonblock(ch->ch_out);
	chan_nonblock(ch->ch_err);
	ch->ch_started = ch->ch_last_frame = now;
	ch->ch_deadline = now + (uint64_t)cc->cc_ready_timeout_secs * 1000;
	ch->ch_hb_sent = 0;
	ch->ch_kill_why = NULL;
	ch->ch_garbage = 0;
	ch->ch_garbage_since = now;
	ch->ch_last_sent = 0;
	ch->ch_nsends = 0;
	log_info("channel '%s': adapter '%s' started (pid %ld)", cc->cc_name,
	    cc->cc_command, (long)ch->ch_pid);
	chan_set_state(ch, CH_STARTING);
}

/* Kills a faulty child at once; the exit then counts as a failure. */
static void
chan_fault(struct chan_child *ch, const char *fmt, ...)
{
	va_list	ap;

	if (ch->ch_pid <= 0 || ch->ch_kill_why != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(ch->ch_error, sizeof(ch->ch_error), fmt, ap);
	va_end(ap);
	ch->ch_kill_why = ch->ch_error;
	log_warnx("channel '%s': adapter %s; killing it", ch->ch_conf->cc_name,
	    ch->ch_error);
	child_kill(ch->ch_pid, SIGKILL);
	chan_set_state(ch, CH_STOPPING);
	ch->ch_deadline = util_now_ms();
}

static void	chan_sends_done(struct chan_sup *, struct chan_child *, int);

/* Asks a child to stop: shutdown, then EOF; killed after the grace.
 * The sends it has read are recorded first: the rest go to the next. */
static void
chan_stop_child(struct chan_sup *s, struct chan_child *ch)
{
	if (ch->ch_pid <= 0 || ch->ch_state == CH_STOPPING)
		return;
	chan_sends_done(s, ch, 0);
	(void)chan_queue(ch, chan_cmd_bare("shutdown"));
	/* The shutdown frame is small: one try to write it before EOF. */
	if (ch->ch_in >= 0 && ch->ch_woff < ch->ch_wbuf.b_len)
		(void)!write(ch->ch_in, ch->ch_wbuf.b_data + ch->ch_woff,
		    ch->ch_wbuf.b_len - ch->ch_woff);
	if (ch->ch_in >= 0)
		close(ch->ch_in);
	ch->ch_in = -1;
	buf_reset(&ch->ch_wbuf);
	ch->ch_woff = 0;
	ch->ch_deadline = util_now_ms() +
	    (uint64_t)ch->ch_conf->cc_shutdown_grace_secs * 1000;
	chan_set_state(ch, CH_STOPPING);
}

/* The child exited (reaped): close up and decide what comes next. */
static void
chan_exited(struct chan_sup *s, struct chan_child *ch, int status)
{
	uint64_t	now = util_now_ms();
	size_t		i;
	int		fault;

	/*
	 * Its pipe still holds what it never read: the rest it did.  One
	 * that exited 0 when asked to stop read all it was sent (up to the
	 * shutdown and EOF that came after it): though its pipe is closed
	 * on our side, nothing it read is sent again.
	 */
	chan_sends_done(s, ch, ch->ch_state == CH_STOPPING &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (ch->ch_in >= 0)
		close(ch->ch_in);
	if (ch->ch_out >= 0)
		close(ch->ch_out);
	if (ch->ch_err >= 0)
		close(ch->ch_err);
	ch->ch_in = ch->ch_out = ch->ch_err = -1;
	buf_reset(&ch->ch_rbuf);
	buf_reset(&ch->ch_ebuf);
	buf_reset(&ch->ch_wbuf);
	ch->ch_woff = 0;
	/* What was queued and never written is gone with the buffer: the
	 * counts start level again, or every later send would be marked
	 * only once as many bytes more were written -- a reply delivered
	 * but still pending, sent again after a restart. */
	ch->ch_wtotal = ch->ch_wdone;
	ch->ch_skipping = 0;
	/* Sends in flight stay pending in the outbox, for the next child. */
	ch->ch_nsends = 0;
	ch->ch_last_sent = 0;
	ch->ch_pid = 0;
	/* A stream dies with the child that showed it: the next child never
	 * saw its start, so the reply reaches it as plain sends. */
	for (i = 0; i < ch->ch_nstreams; i++) {
		ch->ch_streams[i]->st_nostream = 1;
		ch->ch_streams[i]->st_started = 0;
	}
	fault = ch->ch_kill_why != NULL || ch->ch_state != CH_STOPPING;
	if (!fault) {
		log_info("channel '%s': adapter stopped", ch->ch_conf->cc_name);
		chan_set_state(ch, ch->ch_leased ? CH_DISABLED : CH_IDLE);
		return;
	}
	if (ch->ch_kill_why == NULL) {
		if (WIFEXITED(status))
			snprintf(ch->ch_error, sizeof(ch->ch_error),
			    "exited with status %d", WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			snprintf(ch->ch_error, sizeof(ch->ch_error),
			    "killed by signal %d", WTERMSIG(status));
		else
			snprintf(ch->ch_error, sizeof(ch->ch_error), "exited");
	}
	ch->ch_kill_why = NULL;
	chan_failed(ch, now);
}

/* Records the parts of outbox rows whose frames the child has read (all
 * it was written, when all). */
static void
chan_sends_done(struct chan_sup *s, struct chan_child *ch, int all)
{
	struct chan_send	*se;
	char			 id[32], upto[32];
	const char		*p[4];
	uint64_t		 read;
	size_t			 i = 0;
	int			 unread = 0;

	if (ch->ch_nsends == 0)
		return;
	/* Not readable (the pipe closed): nothing more was read. */
	if (!all && (ch->ch_in < 0 ||
	    ioctl(ch->ch_in, FIONREAD, &unread) != 0))
		return;
	read = ch->ch_wdone - (uint64_t)unread;
	p[0] = id;
	p[1] = upto;
	while (i < ch->ch_nsends && ch->ch_sends[i].se_end <= read) {
		se = &ch->ch_sends[i];
		snprintf(id, sizeof(id), "%lld", se->se_id);
		snprintf(upto, sizeof(upto), "%lld", se->se_upto);
		p[2] = se->se_last ? "true" : "false";
		p[3] = se->se_stream ? "true" : "false";
		if (db_cmd(s->s_db, "UPDATE outbox SET sent_upto = "
		    "greatest(sent_upto, $2::integer), parts = parts + 1, "
		    "streamed = streamed OR $4::boolean, "
		    "state = CASE WHEN $3::boolean THEN 'sent' ELSE state END, "
		    "sent_at = CASE WHEN $3::boolean THEN now() ELSE sent_at "
		    "END, attempts = attempts + CASE WHEN $3::boolean THEN 1 "
		    "ELSE 0 END WHERE id = $1::bigint AND state = 'pending'",
		    4, p) != 0)
			/* Left where it was: sent again (from there) to the
			 * next child, the only way to be sure it is sent. */
			log_warnx("%s: could not mark reply %s of '%s' sent: "
			    "%s", __func__, id, ch->ch_conf->cc_name,
			    db_errmsg(s->s_db));
		i++;
	}
	if (i > 0) {
		memmove(ch->ch_sends, ch->ch_sends + i,
		    (ch->ch_nsends - i) * sizeof(ch->ch_sends[0]));
		ch->ch_nsends -= i;
	}
}

/* A part queued up to here: recorded once it is written.  -1 ENOMEM. */
static int
chan_send_add(struct chan_child *ch, long long id, long long upto, int last,
    int stream)
{
	struct chan_send	*grown;
	size_t			 cap;

	if (ch->ch_nsends == ch->ch_sendcap) {
		cap = ch->ch_sendcap == 0 ? 16 : ch->ch_sendcap * 2;
		if ((grown = reallocarray(ch->ch_sends, cap,
		    sizeof(*grown))) == NULL)
			return (-1);
		ch->ch_sends = grown;
		ch->ch_sendcap = cap;
	}
	ch->ch_sends[ch->ch_nsends].se_id = id;
	ch->ch_sends[ch->ch_nsends].se_end = ch->ch_wtotal;
	ch->ch_sends[ch->ch_nsends].se_upto = upto;
	ch->ch_sends[ch->ch_nsends].se_last = last;
	ch->ch_sends[ch->ch_nsends].se_stream = stream;
	ch->ch_nsends++;
	return (0);
}

static void
chan_write(struct chan_sup *s, struct chan_child *ch)
{
	ssize_t	n;

	while (ch->ch_in >= 0 && ch->ch_woff < ch->ch_wbuf.b_len) {
		n = write(ch->ch_in, ch->ch_wbuf.b_data + ch->ch_woff,
		    ch->ch_wbuf.b_len - ch->ch_woff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* EPIPE: it closed stdin; its exit tells the rest. */
			close(ch->ch_in);
			ch->ch_in = -1;
			break;
		}
		ch->ch_woff += (size_t)n;
		ch->ch_wdone += (uint64_t)n;
		ch->ch_wprogress = util_now_ms();
	}
	if (ch->ch_woff == ch->ch_wbuf.b_len) {
		buf_reset(&ch->ch_wbuf);
		ch->ch_woff = 0;
	}
	chan_sends_done(s, ch, 0);
}

static int
chan_has_cap(json_t *caps, const char *name)
{
	json_t	*v;
	size_t	 i;

	json_array_foreach(caps, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v),
		    name) == 0)
			return (1);
	return (0);
}

/* ---- replies that stream (chan_stream.c) -------------------------- */

static struct chan_stream *
chan_stream_find(struct chan_child *ch, long long row)
{
	size_t	i;

	for (i = 0; i < ch->ch_nstreams; i++)
		if (ch->ch_streams[i]->st_row == row)
			return (ch->ch_streams[i]);
	return (NULL);
}

static int
chan_ended(struct chan_child *ch, long long row)
{
	size_t	i;

	for (i = 0; i < CHAN_ENDED_MAX && i < ch->ch_nended; i++)
		if (ch->ch_ended[i] == row)
			return (1);
	return (0);
}

static void
chan_end_row(struct chan_child *ch, long long row)
{
	ch->ch_ended[ch->ch_nended++ % CHAN_ENDED_MAX] = row;
}

/* Forgets st: its reply ended (later events of its turn are dropped). */
static void
chan_stream_drop(struct chan_child *ch, struct chan_stream *st)
{
	size_t	i;

	for (i = 0; i < ch->ch_nstreams; i++)
		if (ch->ch_streams[i] == st) {
			ch->ch_streams[i] = ch->ch_streams[--ch->ch_nstreams];
			break;
		}
	chan_end_row(ch, st->st_row);
	chan_stream_free(st);
}

/* A lifecycle reaction on the platform's message (message_id NULL: it
 * has none), for an adapter that declared "reaction". */
static void
chan_react(struct chan_child *ch, const char *channel_id,
    const char *message_id, const char *phase, const char *tool_name)
{
	if (message_id == NULL || !chan_has_cap(ch->ch_caps, "reaction"))
		return;
	(void)chan_queue(ch, chan_cmd_reaction(channel_id, message_id,
	    chan_phase_emoji(phase), phase, tool_name));
}

/*
 * The tracker of row's reply on ch, made at its turn's first event that
 * reaches us; NULL when the row is no running turn of ch's (or it ended,
 * or too many run).  A turn joined after its first event (seq 1) -- this
 * replica started meanwhile, or the event was dropped -- gets reactions
 * only: a stream must show the reply from its start.
 */
static struct chan_stream *
chan_stream_get(struct chan_sup *s, struct chan_child *ch, long long row,
    const char *id, long long seq)
{
	struct chan_stream	*st;
	PGresult		*res;
	char			 r[32];
	const char		*p[2] = { r, ch->ch_conf->cc_name };

	if ((st = chan_stream_find(ch, row)) != NULL)
		return (st);
	if (chan_ended(ch, row) || ch->ch_nstreams == CHAN_STREAMS_MAX)
		return (NULL);
	snprintf(r, sizeof(r), "%lld", row);
	res = db_exec(s->s_db, "SELECT channel_id, thread_id, "
	    "frame->'params'->>'message_id', state IN ('pending', 'running') "
	    "FROM inbound WHERE id = $1::bigint AND channel = $2", 2, p);
	if (res == NULL || PQntuples(res) != 1 ||
	    *PQgetvalue(res, 0, 3) != 't') {
		if (res != NULL && PQntuples(res) == 1)
			chan_end_row(ch, row);
		PQclear(res);
		return (NULL);
	}
	if ((st = chan_stream_new(row, id)) == NULL ||
	    (st->st_channel_id = strdup(PQgetvalue(res, 0, 0))) == NULL ||
	    (!PQgetisnull(res, 0, 1) && (st->st_thread_id =
	    strdup(PQgetvalue(res, 0, 1))) == NULL) ||
	    (!PQgetisnull(res, 0, 2) && (st->st_message_id =
	    strdup(PQgetvalue(res, 0, 2))) == NULL)) {
		PQclear(res);
		chan_stream_free(st);
		return (NULL);
	}
	PQclear(res);
	st->st_nostream = seq != 1 || !chan_has_cap(ch->ch_caps, "streaming");
	ch->ch_streams[ch->ch_nstreams++] = st;
	return (st);
}

/* One event of a turn (TOPIC_CHAN_STREAM), for the channel's adapter if
 * it runs here, is ready and declared "streaming" or "reaction". */
static void
chan_turn_event(struct chan_sup *s, json_t *ev)
{
	struct chan_child	*ch = NULL;
	struct chan_stream	*st;
	enum chan_text_unit	 unit;
	const char		*id, *type, *text, *show;
	char			 name[CHAN_NAME_MAX], *piece;
	long long		 row, seq;
	size_t			 i, n, limit;

	id = json_string_value(json_object_get(ev, "stream_id"));
	type = json_string_value(json_object_get(ev, "type"));
	if (type != NULL && strcmp(type, "chan_note") == 0) {
		/* chan_sup_notify()'s, from any replica: chan_notes() passes
		 * it on if this one runs the channel. */
		if (json_is_object(json_object_get(ev, "frame")))
			chan_sup_note(s, json_string_value(json_object_get(ev,
			    "channel")) ?: "", json_string_value(
			    json_object_get(ev, "cap")) ?: "", json_incref(
			    json_object_get(ev, "frame")));
		return;
	}
	if (type == NULL || chan_stream_parse(id, name, sizeof(name),
	    &row) != 0)
		return;
	for (i = 0; i < s->s_n; i++)
		if (!s->s_ch[i]->ch_retired && strcmp(s->s_ch[i]->ch_conf->
		    cc_name, name) == 0) {
			ch = s->s_ch[i];
			break;
		}
	if (ch == NULL || !ch->ch_leased || ch->ch_state != CH_READY ||
	    (!chan_has_cap(ch->ch_caps, "streaming") &&
	    !chan_has_cap(ch->ch_caps, "reaction")))
		return;
	seq = json_integer_value(json_object_get(ev, "seq"));
	if ((st = chan_stream_get(s, ch, row, id, seq)) == NULL)
		return;
	st->st_last_ms = util_now_ms();
	/* A seq that does not grow: the turn runs again from its start. */
	if (seq > 0 && seq <= st->st_seq)
		chan_stream_restart(st);
	st->st_seq = seq;
	if (strcmp(type, "restart") == 0)
		chan_stream_restart(st);
	else if (strcmp(type, "tool_use") == 0) {
		chan_stream_segment(st);
		chan_react(ch, st->st_channel_id, st->st_message_id,
		    "tool_use", json_string_value(json_object_get(ev,
		    "name")));
	} else if (strcmp(type, "text_delta") == 0 &&
	    (text = json_string_value(json_object_get(ev, "text"))) != NULL &&
	    *text != '\0') {
		if (st->st_nostream)
			goto out;
		limit = chan_text_limit(ch->ch_conf->cc_channel_type, &unit);
		if ((n = chan_stream_delta(st, text, strlen(text), limit, unit,
		    &show)) == 0)
			goto out;
		if (!st->st_started) {
			/* The "streaming" phase is the stream's start. */
			st->st_started = 1;
			chan_react(ch, st->st_channel_id, st->st_message_id,
			    "streaming", NULL);
			(void)chan_queue(ch, chan_cmd_stream_start(
			    st->st_channel_id, st->st_id, chan_has_cap(
			    ch->ch_caps, "thread") ? st->st_thread_id : NULL));
		}
		if ((piece = strndup(show, n)) != NULL)
			(void)chan_queue(ch, chan_cmd_stream_delta(st->st_id,
			    piece));
		free(piece);
	}
 out:
	chan_write(s, ch);
}

static void
chan_turn_events(struct chan_sup *s)
{
	json_t	*q, *ev;
	size_t	 i;

	if ((q = chan_sub_take(s->s_sub)) == NULL)
		return;
	json_array_foreach(q, i, ev)
		chan_turn_event(s, ev);
	json_decref(q);
}

/*
 * Replies whose turn fell silent: a stream whose row is no longer running
 * and has no reply waiting (a silent or failed turn, or one whose reply
 * another replica's adapter took) is ended, and forgotten.
 */
static void
chan_streams_idle(struct chan_sup *s, struct chan_child *ch, uint64_t now)
{
	struct chan_stream	*st;
	PGresult		*res;
	char			 r[32];
	const char		*p[1] = { r };
	size_t			 i;
	int			 live;

	for (i = 0; i < ch->ch_nstreams; i++) {
		st = ch->ch_streams[i];
		if (now - st->st_last_ms < CHAN_STREAM_IDLE_MS)
			continue;
		snprintf(r, sizeof(r), "%lld", st->st_row);
		res = db_exec(s->s_db, "SELECT state IN ('pending', "
		    "'running') OR EXISTS (SELECT 1 FROM outbox o WHERE "
		    "o.inbound_id = i.id AND o.state = 'pending') "
		    "FROM inbound i WHERE i.id = $1::bigint", 1, p);
		if (res == NULL) {
			PQclear(res);
			return;		/* the database: next time */
		}
		live = PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't';
		PQclear(res);
		st->st_last_ms = now;
		if (live)
			continue;
		if (st->st_started && ch->ch_state == CH_READY)
			(void)chan_queue(ch, chan_cmd_stream_end(st->st_id));
		chan_stream_drop(ch, st);
		i--;
	}
}

/*
 * Queues text[from..] of outbox row id as send frames, split at the
 * platform's limit; each part is recorded once written.  0, or -1 (the
 * child is gone or out of memory).
 */
static int
chan_send_parts(struct chan_child *ch, PGresult *res, int i, long long id,
    const char *text, size_t len, size_t from)
{
	enum chan_text_unit	 unit;
	size_t			 limit, take;
	char			*chunk;
	json_t			*f;

	limit = chan_text_limit(ch->ch_conf->cc_channel_type, &unit);
	if (from >= len)	/* all written, the mark was lost: mark it */
		return (chan_send_add(ch, id, (long long)len, 1, 0));
	while (from < len) {
		take = chan_text_chunk(text + from, len - from, limit, unit);
		if ((chunk = strndup(text + from, take)) == NULL)
			return (-1);
		/* thread_id only to an adapter that declared "thread". */
		f = chan_cmd_send(PQgetvalue(res, i, 1), chunk,
		    PQgetvalue(res, i, 2), NULL, NULL, !PQgetisnull(res, i,
		    3) && chan_has_cap(ch->ch_caps, "thread") ?
		    PQgetvalue(res, i, 3) : NULL);
		free(chunk);
		if (f == NULL || chan_queue(ch, f) != 0)
			return (-1);
		from += take;
		if (chan_send_add(ch, id, (long long)from, from == len, 0) != 0)
			return (-1);
	}
	return (0);
}

/*
 * Ends the stream st of outbox row id (text): what the stream has not
 * shown of the reply goes as its last delta (as much as the platform's
 * message takes) and stream_end; the rest, or all of it when the stream
 * showed something else, as plain sends.  Returns the byte of text the
 * sends start from, or -1 (the child is gone or out of memory).
 */
static long long
chan_stream_finish(struct chan_child *ch, struct chan_stream *st,
    long long id, const char *text, size_t len)
{
	enum chan_text_unit	 unit;
	size_t			 limit, rlen, take;
	long long		 cov;
	char			*piece;

	cov = chan_stream_covered(st, text, len);
	if (cov < 0) {
		log_info("channel '%s': reply %lld streamed text it does not "
		    "end with; sent whole after the stream", ch->ch_conf->
		    cc_name, id);
		return (chan_queue(ch, chan_cmd_stream_end(st->st_id)) != 0 ?
		    -1 : 0);
	}
	limit = chan_text_limit(ch->ch_conf->cc_channel_type, &unit);
	rlen = len - (size_t)cov;
	if (limit == 0 || st->st_units + chan_text_units(text + cov, rlen,
	    unit) <= limit)
		take = rlen;
	else if (st->st_units < limit)
		take = chan_text_chunk(text + cov, rlen, limit - st->st_units,
		    unit);
	else
		take = 0;
	if (take > 0) {
		if ((piece = strndup(text + cov, take)) == NULL)
			return (-1);
		if (chan_queue(ch, chan_cmd_stream_delta(st->st_id,
		    piece)) != 0) {
			free(piece);
			return (-1);
		}
		free(piece);
	}
	if (chan_queue(ch, chan_cmd_stream_end(st->st_id)) != 0 ||
	    chan_send_add(ch, id, cov + (long long)take, (size_t)cov + take ==
	    len, 1) != 0)
		return (-1);
	return (cov + (long long)take);
}

/* Queues outbox row id's interactive message (column 8 of row i of res)
 * as one frame, recorded as the whole row once written.  0, or -1. */
static int
chan_send_interactive(struct chan_child *ch, PGresult *res, int i,
    long long id, size_t len)
{
	json_t		*m, *f;
	json_error_t	 je;

	if ((m = json_loads(PQgetvalue(res, i, 8), 0, &je)) == NULL ||
	    !json_is_string(json_object_get(m, "text")) ||
	    !json_is_array(json_object_get(m, "buttons"))) {
		json_decref(m);
		log_warnx("channel '%s': outbox row %lld: no interactive "
		    "message; sent as text", ch->ch_conf->cc_name, id);
		return (chan_send_parts(ch, res, i, id, PQgetvalue(res, i, 4),
		    len, 0));
	}
	f = chan_cmd_interactive(PQgetvalue(res, i, 1), json_string_value(
	    json_object_get(m, "text")), json_object_get(m, "buttons"));
	json_decref(m);
	if (f == NULL || chan_queue(ch, f) != 0)
		return (-1);
	return (chan_send_add(ch, id, (long long)len, 1, 0));
}

/* Queues the channel's pending outbox rows: a streamed reply's end, or
 * send frames. */
static void
chan_outbox(struct chan_sup *s, struct chan_child *ch)
{
	struct chan_stream	*st;
	PGresult		*res;
	char			 after[32];
	const char		*p[2], *text;
	long long		 id, from;
	size_t			 len;
	int			 i, n, streamed;

	if (ch->ch_state != CH_READY || ch->ch_nsends >= CHAN_SENDS_MAX)
		return;
	snprintf(after, sizeof(after), "%lld", ch->ch_last_sent);
	p[0] = ch->ch_conf->cc_name;
	p[1] = after;
	res = db_exec(s->s_db, "SELECT id, channel_id, recipient, thread_id, "
	    "text, sent_upto, inbound_id, (SELECT i.frame->'params'->>"
	    "'message_id' FROM inbound i WHERE i.id = outbox.inbound_id), "
	    "interactive FROM outbox WHERE channel = $1 AND state = 'pending' AND "
	    "id > $2::bigint ORDER BY id LIMIT 16", 2, p);
	if (res == NULL) {
		log_warnx("%s: could not read the outbox of '%s': %s",
		    __func__, p[0], db_errmsg(s->s_db));
		return;
	}
	n = PQntuples(res);
	for (i = 0; i < n && ch->ch_nsends < CHAN_SENDS_MAX; i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		text = PQgetvalue(res, i, 4);
		len = strlen(text);
		from = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		if (from < 0 || (size_t)from > len)
			from = (long long)len;
		st = PQgetisnull(res, i, 6) ? NULL : chan_stream_find(ch,
		    strtoll(PQgetvalue(res, i, 6), NULL, 10));
		/* A stream of this child that showed its start ends the
		 * reply; what it did not carry (or any other reply) is
		 * sent, from where a previous child left it. */
		streamed = 0;
		if (st != NULL && st->st_started && !st->st_nostream &&
		    from == 0) {
			from = chan_stream_finish(ch, st, id, text, len);
			streamed = 1;
		}
		if (st != NULL)
			chan_stream_drop(ch, st);
		if (from < 0)
			break;
		ch->ch_last_sent = id;
		/* An approval's question: its buttons to an adapter that
		 * takes them (chan_approve.c), else its text. */
		if (!PQgetisnull(res, i, 8) && from == 0 &&
		    chan_has_cap(ch->ch_caps, "interactive")) {
			if (chan_send_interactive(ch, res, i, id, len) != 0)
				break;
			continue;
		}
		if ((!streamed || (size_t)from < len) && chan_send_parts(ch,
		    res, i, id, text, len, (size_t)from) != 0)
			break;
		/* The last phase, once the whole reply is on its way. */
		chan_react(ch, PQgetvalue(res, i, 1), PQgetisnull(res, i, 7) ?
		    NULL : PQgetvalue(res, i, 7), "done", NULL);
	}
	PQclear(res);
	chan_write(s, ch);
}

/* Queues a note for this replica's adapters (steals frame). */
static void
chan_sup_note(struct chan_sup *s, const char *channel, const char *cap,
    json_t *frame)
{
	int	queued = 0;

	pthread_mutex_lock(&s->s_mtx);
	if (s->s_nnotes < CHAN_NOTES_MAX) {
		snprintf(s->s_notes[s->s_nnotes].n_channel, CHAN_NAME_MAX, "%s",
		    channel);
		snprintf(s->s_notes[s->s_nnotes].n_cap, sizeof(s->s_notes[0].
		    n_cap), "%s", cap);
		s->s_notes[s->s_nnotes++].n_frame = frame;
		queued = 1;
	}
	pthread_mutex_unlock(&s->s_mtx);
	if (queued)
		chan_sup_wake(s);
	else
		json_decref(frame);
}

/*
 * A note goes to whichever replica runs the channel's adapter, which may
 * not be the one whose router ran the turn: it is published on
 * TOPIC_CHAN_STREAM with the turn's events, which every replica takes
 * (chan_turn_event()) and acts on for the channels it holds.  Best
 * effort, as the notes are.  Without a publisher it is kept here.
 */
void
chan_sup_notify(struct chan_sup *s, const char *channel, const char *cap,
    json_t *frame)
{
	json_t	*ev;
	int	 rv = -1;

	if (s == NULL || frame == NULL) {
		json_decref(frame);
		return;
	}
	if (s->s_pub == NULL) {
		chan_sup_note(s, channel, cap, frame);
		return;
	}
	if ((ev = json_pack("{s:s, s:s, s:s, s:o}", "type", "chan_note",
	    "channel", channel, "cap", cap, "frame", frame)) != NULL) {
		pthread_mutex_lock(&s->s_pub_mtx);
		rv = bus_publish(s->s_pub, TOPIC_CHAN_STREAM, ev);
		pthread_mutex_unlock(&s->s_pub_mtx);
		json_decref(ev);
	}
	if (rv != 0)
		log_debug("%s: a '%s' note for channel '%s' was dropped",
		    __func__, cap, channel);
}

/* Passes the notes on to the ready adapters that declared their
 * capability; the others' are dropped (§1.3: without the capability, an
 * adapter gets plain-text send only). */
static void
chan_notes(struct chan_sup *s)
{
	struct chan_child	*ch;
	size_t			 i, j, n;
	json_t			*frames[CHAN_NOTES_MAX];
	char			 names[CHAN_NOTES_MAX][CHAN_NAME_MAX];
	char			 caps[CHAN_NOTES_MAX][16];

	pthread_mutex_lock(&s->s_mtx);
	n = s->s_nnotes;
	for (i = 0; i < n; i++) {
		frames[i] = s->s_notes[i].n_frame;
		memcpy(names[i], s->s_notes[i].n_channel, CHAN_NAME_MAX);
		memcpy(caps[i], s->s_notes[i].n_cap, sizeof(caps[i]));
	}
	s->s_nnotes = 0;
	pthread_mutex_unlock(&s->s_mtx);
	for (i = 0; i < n; i++) {
		for (j = 0; j < s->s_n; j++) {
			ch = s->s_ch[j];
			if (ch->ch_retired || strcmp(ch->ch_conf->cc_name,
			    names[i]) != 0)
				continue;
			if (ch->ch_state == CH_READY &&
			    chan_has_cap(ch->ch_caps, caps[i])) {
				(void)chan_queue(ch, frames[i]);
				frames[i] = NULL;
				chan_write(s, ch);
			}
			break;
		}
		json_decref(frames[i]);
	}
}

/*
 * The first phase of the agent's lifecycle (§1.3): "queued" on the
 * platform's message once it is committed, for an adapter that declared
 * "reaction" -- unless the channel's policies leave the message alone
 * (the router then runs no turn, and nothing follows the reaction).
 */
static void
chan_queued(struct chan_child *ch, const struct chan_event *ev)
{
	const char	*text = chan_event_text(ev);
	json_t		*w;
	int		 command;

	if (ch->ch_state != CH_READY || ev->ce_message_id == NULL ||
	    !chan_has_cap(ch->ch_caps, "reaction"))
		return;
	w = json_object_get(ev->ce_metadata, "was_mentioned");
	command = (text != NULL && text[0] == '/') ||
	    json_object_get(ev->ce_content, "Command") != NULL;
	if (chan_policy_drop(ch->ch_conf, ev->ce_is_group == 1,
	    ev->ce_user_id != NULL ? ev->ce_user_id : "",
	    ev->ce_user_name != NULL ? ev->ce_user_name : "", json_is_true(w),
	    command) != NULL)
		return;
	/* channel_id as stored: a DM may leave it out and mean the user. */
	(void)chan_queue(ch, chan_cmd_reaction(ev->ce_channel_id != NULL ?
	    ev->ce_channel_id : ev->ce_user_id, ev->ce_message_id,
	    chan_phase_emoji("queued"), "queued", NULL));
}

/* Stores a message event; one the database refuses waits in s_held. */
static void
chan_message(struct chan_sup *s, struct chan_child *ch, struct chan_event *ev)
{
	struct chan_conf	*cc = ch->ch_conf;
	int			 rv;

	/* Order is kept: nothing overtakes a held message. */
	rv = s->s_nheld > 0 ? -1 : chan_store_inbound(s->s_db, cc->cc_name,
	    cc->cc_agent, ev);
	if (rv == 1)
		chan_queued(ch, ev);
	if (rv == 1 && chan_router() != NULL)
		chan_router_wake(chan_router());
	else if (rv == 0)
		log_info("channel '%s': message '%s' seen before; ignored",
		    cc->cc_name, ev->ce_message_id);
	else if (rv < 0 && s->s_nheld < CHAN_HELD_MAX) {
		s->s_held[s->s_nheld].h_ch = ch;
		s->s_held[s->s_nheld].h_frame = json_incref(ev->ce_root);
		if (s->s_nheld++ == 0)
			log_warnx("channel '%s': messages wait for the "
			    "database (at most %d)", cc->cc_name,
			    CHAN_HELD_MAX);
	} else if (rv < 0)
		log_warnx("channel '%s': message '%s' dropped: the database "
		    "is down and %d messages wait already", cc->cc_name,
		    ev->ce_message_id != NULL ? ev->ce_message_id : "?",
		    CHAN_HELD_MAX);
}

/* Stores held messages, oldest first, until one is refused again. */
static void
chan_held(struct chan_sup *s)
{
	struct chan_event	 ev;
	struct chan_conf	*cc;
	char			*line, err[256];
	size_t			 i = 0;
	int			 rv = 1;

	for (; i < s->s_nheld; i++) {
		cc = s->s_held[i].h_ch->ch_conf;
		line = json_dumps(s->s_held[i].h_frame, JSON_COMPACT);
		if (line == NULL)
			break;
		rv = chan_event_parse(line, strlen(line), &ev, err,
		    sizeof(err));
		free(line);
		if (rv != 0)
			break;
		rv = chan_store_inbound(s->s_db, cc->cc_name, cc->cc_agent,
		    &ev);
		chan_event_release(&ev);
		if (rv < 0)
			break;
		json_decref(s->s_held[i].h_frame);
	}
	if (i > 0) {
		log_info("%zu held message(s) stored", i);
		memmove(s->s_held, s->s_held + i, (s->s_nheld - i) *
		    sizeof(s->s_held[0]));
		s->s_nheld -= i;
		if (chan_router() != NULL)
			chan_router_wake(chan_router());
	}
}

static void
chan_event(struct chan_sup *s, struct chan_child *ch, struct chan_event *ev)
{
	struct chan_conf	*cc = ch->ch_conf;
	json_t			*params;

	ch->ch_last_frame = util_now_ms();
	ch->ch_hb_sent = 0;
	switch (ev->ce_type) {
	case CHAN_EV_READY:
		/* Every ready is answered and replaces the capabilities;
		 * the SDK repeats it until acknowledged. */
		json_decref(ch->ch_caps);
		ch->ch_caps = ev->ce_capabilities != NULL ?
		    json_incref(ev->ce_capabilities) : json_array();
		json_decref(ch->ch_recipients);
		ch->ch_recipients = json_is_array(ev->ce_recipients) ?
		    json_incref(ev->ce_recipients) : NULL;
		(void)chan_queue(ch, chan_cmd_bare("ready_ack"));
		if (ch->ch_state == CH_STARTING) {
			log_info("channel '%s': adapter ready", cc->cc_name);
			chan_set_state(ch, CH_READY);
			s->s_outbox_due = 1;
		}
		ch->ch_dirty = 1;
		break;
	case CHAN_EV_MESSAGE:
		chan_message(s, ch, ev);
		break;
	case CHAN_EV_TYPING:
		log_debug("channel '%s': '%s' is typing", cc->cc_name,
		    ev->ce_user_id != NULL ? ev->ce_user_id : "?");
		break;
	case CHAN_EV_ERROR:
		log_warnx("channel '%s': adapter reports: %s", cc->cc_name,
		    ev->ce_message != NULL ? ev->ce_message : "(no message)");
		snprintf(ch->ch_error, sizeof(ch->ch_error), "%s",
		    ev->ce_message != NULL ? ev->ce_message : "error");
		ch->ch_dirty = 1;
		break;
	case CHAN_EV_QR_READY:
	case CHAN_EV_QR_STATUS:
		params = json_object_get(ev->ce_root, "params");
		chan_store_qr(s->s_db, cc->cc_name, params,
		    ev->ce_type == CHAN_EV_QR_READY);
		break;
	case CHAN_EV_HEARTBEAT:
		break;
	case CHAN_EV_UNKNOWN:
		log_debug("channel '%s': unknown event '%s' ignored",
		    cc->cc_name, ev->ce_method);
		break;
	}
}

static void
chan_garbage(struct chan_child *ch, const char *why)
{
	uint64_t	now = util_now_ms();

	if (now - ch->ch_garbage_since > CHAN_GARBAGE_WINDOW_MS) {
		ch->ch_garbage = 0;
		ch->ch_garbage_since = now;
	}
	ch->ch_garbage++;
	if (ch->ch_garbage <= 3 || ch->ch_garbage % 100 == 0)
		log_warnx("channel '%s': adapter wrote a line that is no "
		    "frame (%d in %d s): %s", ch->ch_conf->cc_name,
		    ch->ch_garbage, CHAN_GARBAGE_WINDOW_MS / 1000, why);
	if (ch->ch_garbage > CHAN_GARBAGE_MAX)
		chan_fault(ch, "floods garbage (%d lines that are no frame "
		    "in %d s)", ch->ch_garbage, CHAN_GARBAGE_WINDOW_MS / 1000);
}

static void
chan_line(struct chan_sup *s, struct chan_child *ch, const char *line,
    size_t len)
{
	struct chan_event	ev;
	char			err[256];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;		/* a blank line is no frame, and harmless */
	if (chan_event_parse(line, len, &ev, err, sizeof(err)) != 0) {
		chan_garbage(ch, err);
		return;
	}
	chan_event(s, ch, &ev);
	chan_event_release(&ev);
}

/* Reads what stdout has; splits lines.  0, or -1 at EOF. */
static int
chan_read_out(struct chan_sup *s, struct chan_child *ch)
{
	char	 chunk[16384], *nl;
	ssize_t	 n;
	size_t	 off, take;

	for (;;) {
		n = read(ch->ch_out, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return (0);
		if (n <= 0)
			return (-1);
		for (off = 0; off < (size_t)n; off += take) {
			nl = memchr(chunk + off, '\n', (size_t)n - off);
			take = nl != NULL ? (size_t)(nl - (chunk + off)) + 1 :
			    (size_t)n - off;
			if (ch->ch_skipping) {
				if (nl != NULL)
					ch->ch_skipping = 0;
				continue;
			}
			if (buf_add(&ch->ch_rbuf, chunk + off,
			    nl != NULL ? take - 1 : take) != 0) {
				/* Longer than a frame may be: skip to its
				 * end (buf_add reset the buffer). */
				chan_garbage(ch, "a line longer than the "
				    "largest frame");
				ch->ch_skipping = nl == NULL;
				continue;
			}
			if (nl == NULL)
				continue;
			chan_line(s, ch, ch->ch_rbuf.b_data != NULL ?
			    ch->ch_rbuf.b_data : "", ch->ch_rbuf.b_len);
			buf_reset(&ch->ch_rbuf);
			if (ch->ch_out < 0)
				return (-1);
		}
	}
}

/* Copies stderr into our log, line by line, control characters as '?'. */
static int
chan_read_err(struct chan_child *ch)
{
	char	 chunk[4096];
	ssize_t	 n, i;

	for (;;) {
		n = read(ch->ch_err, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return (0);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n' || ch->ch_ebuf.b_len >=
			    CHAN_ERRLINE_MAX) {
				if (ch->ch_ebuf.b_len > 0)
					log_info("channel '%s': %s",
					    ch->ch_conf->cc_name,
					    ch->ch_ebuf.b_data);
				buf_reset(&ch->ch_ebuf);
				if (chunk[i] == '\n')
					continue;
			}
			if ((unsigned char)chunk[i] < 0x20 && chunk[i] != '\t')
				chunk[i] = '?';
			(void)buf_add(&ch->ch_ebuf, chunk + i, 1);
		}
	}
	if (ch->ch_ebuf.b_len > 0)
		log_info("channel '%s': %s", ch->ch_conf->cc_name,
		    ch->ch_ebuf.b_data);
	buf_reset(&ch->ch_ebuf);
	return (-1);
}

/* Timers of one child; returns ms until its next one (or a long time). */
static uint64_t
chan_timers(struct chan_sup *s, struct chan_child *ch, uint64_t now)
{
	struct chan_conf	*cc = ch->ch_conf;
	uint64_t		 next = 1000, hb;

	switch (ch->ch_state) {
	case CH_STARTING:
		if (now >= ch->ch_deadline)
			chan_fault(ch, "sent no ready within %lld s",
			    cc->cc_ready_timeout_secs);
		else
			next = ch->ch_deadline - now;
		break;
	case CH_READY:
		if (cc->cc_heartbeat_secs <= 0)
			break;
		hb = (uint64_t)cc->cc_heartbeat_secs * 1000;
		if (ch->ch_hb_sent == 0 && now - ch->ch_last_frame >= hb / 2) {
			(void)chan_queue(ch, chan_cmd_bare("heartbeat"));
			ch->ch_hb_sent = now;
			chan_write(s, ch);
		} else if (ch->ch_hb_sent != 0 && now - ch->ch_last_frame >=
		    hb)
			chan_fault(ch, "sent no frame for %lld s, not even "
			    "after a heartbeat", cc->cc_heartbeat_secs);
		next = 250;
		break;
	case CH_STOPPING:
		if (ch->ch_pid > 0 && now >= ch->ch_deadline) {
			if (ch->ch_kill_why == NULL)
				log_warnx("channel '%s': adapter still runs "
				    "%lld s after shutdown; killing it",
				    cc->cc_name, cc->cc_shutdown_grace_secs);
			child_kill(ch->ch_pid, SIGKILL);
			ch->ch_deadline = now + 1000;
		}
		next = 50;
		break;
	case CH_BACKOFF:
		if (!ch->ch_leased)
			chan_set_state(ch, CH_IDLE);
		else if (now >= ch->ch_restart_at)
			chan_spawn(s, ch);
		else
			next = ch->ch_restart_at - now;
		break;
	case CH_IDLE:
	case CH_FAILED:
	case CH_DISABLED:
		break;
	}
	/* A child that does not read its stdin hangs. */
	if (ch->ch_pid > 0 && ch->ch_in >= 0 && ch->ch_woff <
	    ch->ch_wbuf.b_len && now - ch->ch_wprogress > CHAN_STALL_MS)
		chan_fault(ch, "read no command for %d s", CHAN_STALL_MS /
		    1000);
	return (next);
}

/* Starts a leased, idle child, unless the retired child it replaces
 * still runs (then the next lease tick does): one adapter per channel. */
static void
chan_start_after(struct chan_sup *s, struct chan_child *ch)
{
	if (!ch->ch_leased || ch->ch_state != CH_IDLE || ch->ch_retired)
		return;
	if (ch->ch_prev != NULL && ch->ch_prev->ch_pid > 0)
		return;
	ch->ch_prev = NULL;
	chan_spawn(s, ch);
}

static struct chan_child *
chan_child_new(struct chan_conf *cc)
{
	struct chan_child	*ch;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return (NULL);
	ch->ch_conf = cc;
	ch->ch_in = ch->ch_out = ch->ch_err = -1;
	buf_init(&ch->ch_rbuf, CHAN_FRAME_MAX);
	buf_init(&ch->ch_ebuf, CHAN_ERRLINE_MAX + 1);
	buf_init(&ch->ch_wbuf, CHAN_WBUF_MAX);
	return (ch);
}

static void
chan_child_free(struct chan_child *ch)
{
	if (ch == NULL)
		return;
	buf_release(&ch->ch_rbuf);
	buf_release(&ch->ch_ebuf);
	buf_release(&ch->ch_wbuf);
	json_decref(ch->ch_caps);
	json_decref(ch->ch_recipients);
	free(ch->ch_sends);
	while (ch->ch_nstreams > 0)
		chan_stream_free(ch->ch_streams[--ch->ch_nstreams]);
	free(ch);
}

/*
 * Stops ch for good: a reload removed its entry.  Its lease is not given
 * up but left to expire (CHAN_LEASE_SECS): by then every replica has
 * reloaded too (each looks every CHAN_RENEW_MS), so none that still has
 * the old entry takes it up meanwhile.
 */
static void
chan_retire(struct chan_sup *s, struct chan_child *ch)
{
	ch->ch_retired = 1;
	ch->ch_leased = 0;
	if (ch->ch_state == CH_BACKOFF)
		chan_set_state(ch, CH_IDLE);
	chan_stop_child(s, ch);
}

/*
 * Applies the set chan_sup_reload() handed over.  The children array
 * grows by the new ones; retired children stay in it (stopped, skipped)
 * until the service stops, as held messages may point at them.
 */
static void
chan_apply(struct chan_sup *s)
{
	struct chan_conf	*conf;
	struct chan_child	**grown, *ch, *old;
	size_t			 n, i, j, m;
	int			 keep;

	pthread_mutex_lock(&s->s_mtx);
	conf = s->s_next;
	n = s->s_nnext;
	s->s_reload = 0;
	pthread_mutex_unlock(&s->s_mtx);
	if (n > 0) {
		if ((grown = reallocarray(s->s_ch, s->s_n + n,
		    sizeof(*grown))) == NULL) {
			log_warnx("%s: out of memory; the reload is not "
			    "applied", __func__);
			return;
		}
		s->s_ch = grown;
	}
	m = s->s_n;
	/* Removed: every live child whose name the new set lacks. */
	for (i = 0; i < m; i++) {
		ch = s->s_ch[i];
		if (ch->ch_retired)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(conf[j].cc_name, ch->ch_conf->cc_name) == 0)
				break;
		if (j == n) {
			log_info("channel '%s': removed by a reload",
			    ch->ch_conf->cc_name);
			chan_retire(s, ch);
		}
	}
	for (j = 0; j < n; j++) {
		old = NULL;
		for (i = 0; i < m; i++)
			if (!s->s_ch[i]->ch_retired && strcmp(s->s_ch[i]->
			    ch_conf->cc_name, conf[j].cc_name) == 0)
				old = s->s_ch[i];
		keep = old != NULL && json_equal(old->ch_conf->cc_src,
		    conf[j].cc_src);
		if (keep) {
			/* The same entry: the running adapter stays. */
			old->ch_conf = &conf[j];
			continue;
		}
		if ((ch = chan_child_new(&conf[j])) == NULL) {
			log_warnx("%s: out of memory; channel '%s' is not "
			    "started", __func__, conf[j].cc_name);
			continue;
		}
		if (old != NULL) {
			log_info("channel '%s': changed by a reload; its "
			    "adapter restarts", conf[j].cc_name);
			ch->ch_restarts = old->ch_restarts;
			/* The lease stays ours: the new child takes it over
			 * at the next tick, once the old one has exited. */
			ch->ch_leased = old->ch_leased;
			chan_retire(s, old);
			ch->ch_prev = old;
			ch->ch_dirty = 1;
		} else
			log_info("channel '%s': added by a reload",
			    conf[j].cc_name);
		s->s_ch[s->s_n++] = ch;
	}
}

/* Takes or renews each lease; starts or stops children to match. */
static void
chan_leases(struct chan_sup *s)
{
	struct chan_child	*ch;
	size_t			 i;
	int			 held;

	for (i = 0; i < s->s_n; i++) {
		ch = s->s_ch[i];
		if (ch->ch_retired)
			continue;
		held = chan_store_lease(s->s_db, ch->ch_conf->cc_name,
		    svc_instance());
		if (held < 0)
			continue;	/* unknown: keep what we do */
		if (held && !ch->ch_leased) {
			log_info("channel '%s': lease taken", ch->ch_conf->cc_name);
			ch->ch_failures = 0;
			ch->ch_leased = 1;
			ch->ch_dirty = 1;
			chan_start_after(s, ch);
		} else if (!held && ch->ch_leased) {
			log_warnx("channel '%s': lease lost to another replica",
			    ch->ch_conf->cc_name);
			ch->ch_leased = 0;
			chan_stop_child(s, ch);
			if (ch->ch_pid <= 0)
				chan_set_state(ch, CH_IDLE);
		}
	}
	for (i = 0; i < s->s_n; i++)
		chan_start_after(s, s->s_ch[i]);
	chan_store_renew_turns(s->s_db, svc_instance());
}

static void
chan_status(struct chan_sup *s, struct chan_child *ch)
{
	/* A channel another replica holds is that replica's to record. */
	if (!ch->ch_dirty || ch->ch_retired || (!ch->ch_leased &&
	    ch->ch_state == CH_IDLE))
		return;
	ch->ch_dirty = 0;
	chan_store_status(s->s_db, ch->ch_conf->cc_name, svc_instance(),
	    chan_state_names[ch->ch_state], ch->ch_restarts,
	    ch->ch_error[0] != '\0' ? ch->ch_error : NULL, ch->ch_caps,
	    ch->ch_recipients, ch->ch_pid);
}

static void *
chan_sup_main(void *arg)
{
	struct chan_sup		*s = arg;
	struct chan_child	*ch;
	struct pollfd		*pfd = NULL, *grown;
	size_t			 i, k, npfd = 0;
	uint64_t		 now, next_lease = 0, next_outbox = 0, wait,
				 t, stop_by = 0;
	int			 quit, status, alive, reload;
	char			 drain[64];

	for (;;) {
		now = util_now_ms();
		pthread_mutex_lock(&s->s_mtx);
		quit = s->s_quit;
		reload = s->s_reload;
		pthread_mutex_unlock(&s->s_mtx);
		if (reload && !quit) {
			chan_apply(s);
			next_lease = now;	/* new children start now */
		}
		if (quit && stop_by == 0) {
			/* Every adapter is asked at once; the longest grace
			 * bounds the wait. */
			stop_by = now + 1000;
			for (i = 0; i < s->s_n; i++) {
				ch = s->s_ch[i];
				ch->ch_leased = 0;
				if (ch->ch_state == CH_BACKOFF)
					chan_set_state(ch, CH_IDLE);
				chan_stop_child(s, ch);
				t = now + 1000 + (uint64_t)
				    ch->ch_conf->cc_shutdown_grace_secs * 1000;
				if (t > stop_by)
					stop_by = t;
			}
		}
		if (s->s_nheld > 0 && now >= s->s_held_at) {
			chan_held(s);
			s->s_held_at = now + CHAN_HELD_RETRY_MS;
		}
		if (!quit && now >= next_lease) {
			if (chan_sync(s->s_db))
				chan_apply(s);	/* before this tick's leases */
			chan_leases(s);
			next_lease = now + CHAN_RENEW_MS;
		}
		/* Reap first: a dead child's fds must not be polled. */
		alive = 0;
		for (i = 0; i < s->s_n; i++) {
			ch = s->s_ch[i];
			if (ch->ch_pid > 0 && child_reap(ch->ch_pid, 0,
			    &status) == 1)
				chan_exited(s, ch, status);
			alive += ch->ch_pid > 0;
		}
		if (quit && (alive == 0 || now >= stop_by + 2000))
			break;
		wait = next_lease > now ? next_lease - now : 0;
		if (!quit && (s->s_outbox_due || now >= next_outbox)) {
			s->s_outbox_due = 0;
			/* Turn events first: a reply's last deltas before
			 * its end. */
			chan_turn_events(s);
			for (i = 0; i < s->s_n; i++) {
				chan_outbox(s, s->s_ch[i]);
				chan_streams_idle(s, s->s_ch[i], now);
			}
			next_outbox = now + CHAN_OUTBOX_MS;
		}
		for (i = 0; i < s->s_n; i++) {
			/* Sends the child has read since: it reads as it
			 * likes, so while some wait, a pass every
			 * CHAN_SENDS_POLL_MS looks (a kill -9 of the service
			 * sends again what was read since the last look). */
			chan_sends_done(s, s->s_ch[i], 0);
			t = chan_timers(s, s->s_ch[i], now);
			if (s->s_ch[i]->ch_nsends > 0 &&
			    t > CHAN_SENDS_POLL_MS)
				t = CHAN_SENDS_POLL_MS;
			if (t < wait)
				wait = t;
			chan_status(s, s->s_ch[i]);
		}
		if (wait > 250)
			wait = 250;
		/* A reload (chan_apply(), above or in chan_sync() at a tick)
		 * adds children: room for each one's three fds. */
		if (npfd < 1 + 3 * s->s_n) {
			if ((grown = reallocarray(pfd, 1 + 3 * s->s_n,
			    sizeof(*pfd))) == NULL) {
				log_warnx("%s: out of memory", __func__);
				util_sleep_ms(100);
				continue;
			}
			pfd = grown;
			npfd = 1 + 3 * s->s_n;
		}
		pfd[0].fd = s->s_wake[0];
		pfd[0].events = POLLIN;
		for (i = 0; i < s->s_n; i++) {
			ch = s->s_ch[i];
			k = 1 + 3 * i;
			pfd[k].fd = ch->ch_out;
			pfd[k].events = POLLIN;
			pfd[k + 1].fd = ch->ch_err;
			pfd[k + 1].events = POLLIN;
			pfd[k + 2].fd = ch->ch_woff < ch->ch_wbuf.b_len ?
			    ch->ch_in : -1;
			pfd[k + 2].events = POLLOUT;
		}
		if (poll(pfd, 1 + 3 * s->s_n, (int)wait) < 0 &&
		    errno != EINTR) {
			log_warn("%s: poll", __func__);
			util_sleep_ms(100);
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			while (read(s->s_wake[0], drain, sizeof(drain)) > 0)
				;
			s->s_outbox_due = 1;
		}
		chan_notes(s);
		chan_turn_events(s);
		for (i = 0; i < s->s_n; i++) {
			ch = s->s_ch[i];
			k = 1 + 3 * i;
			if (pfd[k].fd >= 0 && pfd[k].revents != 0 &&
			    ch->ch_out >= 0 && chan_read_out(s, ch) != 0) {
				close(ch->ch_out);
				ch->ch_out = -1;
			}
			if (pfd[k + 1].fd >= 0 && pfd[k + 1].revents != 0 &&
			    ch->ch_err >= 0 && chan_read_err(ch) != 0) {
				close(ch->ch_err);
				ch->ch_err = -1;
			}
			if (ch->ch_in >= 0 && ch->ch_woff < ch->ch_wbuf.b_len)
				chan_write(s, ch);
		}
	}
	/* Whatever outlived its grace and the kill (a zombie we could not
	 * reap is impossible: SIGKILL was sent) is reaped here, bounded. */
	for (i = 0; i < s->s_n; i++) {
		ch = s->s_ch[i];
		if (ch->ch_pid > 0) {
			child_kill(ch->ch_pid, SIGKILL);
			if (child_reap(ch->ch_pid, 2000, &status) == 1)
				chan_exited(s, ch, status);
		}
		chan_set_state(ch, CH_IDLE);
		if (!ch->ch_retired)
			chan_store_status(s->s_db, ch->ch_conf->cc_name,
			    svc_instance(), "stopped", ch->ch_restarts,
			    ch->ch_error[0] != '\0' ? ch->ch_error : NULL,
			    ch->ch_caps, ch->ch_recipients, 0);
	}
	chan_store_unlease(s->s_db, svc_instance());
	free(pfd);
	return (NULL);
}

struct chan_sup *
chan_sup_start(const struct sh_config *cfg, struct chan_conf *conf, size_t n)
{
	struct chan_sup	*s;
	char		 ci[1024];
	size_t		 i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto enomem;
	s->s_wake[0] = s->s_wake[1] = -1;
	pthread_mutex_init(&s->s_mtx, NULL);
	pthread_mutex_init(&s->s_pub_mtx, NULL);
	if (n > 0 && (s->s_ch = calloc(n, sizeof(*s->s_ch))) == NULL)
		goto enomem;
	for (i = 0; i < n; i++) {
		if ((s->s_ch[i] = chan_child_new(&conf[i])) == NULL)
			goto enomem;
		s->s_n++;
	}
	db_conninfo(cfg->database_url, cfg->home_dir, ci, sizeof(ci));
	if ((s->s_db = db_open(ci, "channels")) == NULL)
		goto enomem;
	if (pipe2(s->s_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_warn("%s: pipe", __func__);
		goto fail;
	}
	/* Without it nothing streams: every reply goes as sends. */
	if ((s->s_sub = chan_sub_open(cfg->bus_url, chan_sup_wake_cb,
	    s)) == NULL)
		log_warnx("%s: replies will not stream", __func__);
	else if ((s->s_pub = bus_pub_open(cfg->bus_url)) == NULL)
		log_warnx("%s: typing and reactions reach only this replica's "
		    "adapters", __func__);
	srandom((unsigned int)(util_now_ns() ^ (uint64_t)getpid()));
	if (pthread_create(&s->s_thread, NULL, chan_sup_main, s) != 0) {
		log_warnx("%s: could not start the supervisor thread",
		    __func__);
		goto fail;
	}
	s->s_started = 1;
	return (s);
 enomem:
	log_warnx("%s: out of memory", __func__);
 fail:
	chan_sup_stop(s);
	return (NULL);
}

void
chan_sup_reload(struct chan_sup *s, struct chan_conf *conf, size_t n)
{
	pthread_mutex_lock(&s->s_mtx);
	s->s_next = conf;
	s->s_nnext = n;
	s->s_reload = 1;
	pthread_mutex_unlock(&s->s_mtx);
	chan_sup_wake(s);
}

void
chan_sup_wake(struct chan_sup *s)
{
	if (s != NULL && s->s_wake[1] >= 0)
		(void)!write(s->s_wake[1], "w", 1);
}

/* The subscriber's thread: turn events wait. */
static void
chan_sup_wake_cb(void *arg)
{
	chan_sup_wake(arg);
}

void
chan_sup_stop(struct chan_sup *s)
{
	size_t	i;

	if (s == NULL)
		return;
	if (s->s_started) {
		pthread_mutex_lock(&s->s_mtx);
		s->s_quit = 1;
		pthread_mutex_unlock(&s->s_mtx);
		chan_sup_wake(s);
		pthread_join(s->s_thread, NULL);
	}
	chan_sub_close(s->s_sub);
	bus_pub_close(s->s_pub);
	pthread_mutex_destroy(&s->s_pub_mtx);
	if (s->s_nheld > 0)
		log_warnx("%s: %zu message(s) never reached the database",
		    __func__, s->s_nheld);
	for (i = 0; i < s->s_nheld; i++)
		json_decref(s->s_held[i].h_frame);
	for (i = 0; i < s->s_nnotes; i++)
		json_decref(s->s_notes[i].n_frame);
	for (i = 0; i < s->s_n; i++)
		chan_child_free(s->s_ch[i]);
	free(s->s_ch);
	if (s->s_wake[0] >= 0)
		close(s->s_wake[0]);
	if (s->s_wake[1] >= 0)
		close(s->s_wake[1]);
	db_close(s->s_db);
	pthread_mutex_destroy(&s->s_mtx);
	free(s);
}
