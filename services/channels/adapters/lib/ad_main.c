/*
 * ad_main.c - an adapter process: --describe, the configuration, the
 * poll() loop over stdin, the platform's socket and a timer, the ready
 * handshake, the reconnect backoff, and a clean exit on shutdown or EOF.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "adapter.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define AD_READ_CHUNK	65536
#define AD_ENV_MAX	64	/* "<PREFIX>_ALLOW_LOOPBACK" */

struct ad {
	const struct ad_def	*a_def;
	void			*a_arg;
	struct ad_lines		 a_in;
	struct pollfd		 a_watch[AD_WATCH_MAX];	/* the platform's */
	int			 a_nwatch;
	uint64_t		 a_timer;	/* ms, 0 = none */
	uint64_t		 a_connect_at;	/* ms, 0 = connected/-ing */
	unsigned int		 a_failures;	/* since the last ad_platform_up */
	int			 a_acked;
	int			 a_readies;	/* sent so far */
	uint64_t		 a_ready_at;	/* next ready, 0 = none */
	int			 a_done;	/* 1: leave the loop */
	int			 a_status;	/* ad_main()'s */
	char			 a_loopback_key[AD_ENV_MAX];
};

/* The one adapter of this process: ad_conf() looks fields up in it. */
static const struct ad_def	*ad_self;

/* ---- configuration ---------------------------------------------------- */

static const struct ad_field *
ad_field_find(const char *key)
{
	const struct ad_field	*f;

	if (ad_self == NULL || ad_self->ad_fields == NULL)
		return (NULL);
	for (f = ad_self->ad_fields; f->af_key != NULL; f++)
		if (strcmp(f->af_key, key) == 0)
			return (f);
	return (NULL);
}

const char *
ad_conf(const char *key)
{
	const struct ad_field	*f;
	const char		*v;

	if ((v = getenv(key)) != NULL && v[0] != '\0')
		return (v);
	if ((f = ad_field_find(key)) != NULL)
		return (f->af_default);
	return (NULL);
}

static int
ad_truthy(const char *v)
{
	return (v != NULL && (strcmp(v, "1") == 0 ||
	    strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "on") == 0));
}

int
ad_conf_bool(const char *key)
{
	return (ad_truthy(ad_conf(key)));
}

int
ad_conf_num(const char *key, long long min, long long max, long long *out)
{
	const char	*v = ad_conf(key);

	if (v == NULL || util_strtonum(v, min, max, out) != 0) {
		log_warnx("%s: %s is '%s', not a number in [%lld, %lld]",
		    __func__, key, v ? v : "", min, max);
		return (SH_EINVAL);
	}
	return (0);
}

void
ad_list_free(char **list)
{
	size_t	i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

char **
ad_conf_list(const char *key)
{
	const char	*v = ad_conf(key), *s, *e;
	char		**list;
	size_t		 n = 0, k;

	if (v == NULL)
		v = "";
	/* At most one item per comma, plus one, plus the NULL. */
	for (s = v, k = 2; *s != '\0'; s++)
		k += (*s == ',');
	if ((list = calloc(k, sizeof(*list))) == NULL)
		return (NULL);
	for (s = v; *s != '\0'; s = *e != '\0' ? e + 1 : e) {
		e = s + strcspn(s, ",");
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		k = (size_t)(e - s);
		while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
			k--;
		if (k == 0)
			continue;
		if ((list[n++] = strndup(s, k)) == NULL) {
			ad_list_free(list);
			return (NULL);
		}
	}
	return (list);
}

/* ---- --describe ------------------------------------------------------- */

static const char *const ad_type_names[] = {
	[AD_FIELD_TEXT] = "text",	[AD_FIELD_SECRET] = "secret",
	[AD_FIELD_NUMBER] = "number",	[AD_FIELD_LIST] = "list",
	[AD_FIELD_BOOL] = "bool",	[AD_FIELD_SELECT] = "select",
};

static json_t *
ad_field_json(const struct ad_field *f)
{
	json_t	*o, *opts;
	size_t	 i;

	o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:b}", "key", f->af_key,
	    "label", f->af_label, "type", ad_type_names[f->af_type],
	    "required", f->af_required, "placeholder",
	    f->af_placeholder != NULL ? f->af_placeholder : "",
	    "advanced", f->af_advanced);
	if (o == NULL || f->af_options == NULL)
		return (o);
	if ((opts = json_array()) == NULL ||
	    json_object_set_new(o, "options", opts) != 0) {
		json_decref(o);
		return (NULL);
	}
	for (i = 0; f->af_options[i] != NULL; i++)
		if (json_array_append_new(opts,
		    json_string(f->af_options[i])) != 0) {
			json_decref(o);
			return (NULL);
		}
	return (o);
}

json_t *
ad_describe(const struct ad_def *def)
{
	const struct ad_field	*f;
	struct ad_field		 lb;
	char			 key[AD_ENV_MAX];
	json_t			*d, *fields;
	int			 rv = 0;

	d = json_pack("{s:s, s:s, s:s, s:[]}", "name", def->ad_name,
	    "display_name", def->ad_display_name, "description",
	    def->ad_description, "fields");
	if (d == NULL)
		return (NULL);
	fields = json_object_get(d, "fields");
	for (f = def->ad_fields; f != NULL && f->af_key != NULL; f++)
		rv |= json_array_append_new(fields, ad_field_json(f));
	memset(&lb, 0, sizeof(lb));
	snprintf(key, sizeof(key), "%s_ALLOW_LOOPBACK", def->ad_env);
	lb.af_key = key;
	lb.af_label = "Allow loopback and private addresses";
	lb.af_type = AD_FIELD_BOOL;
	lb.af_advanced = 1;
	rv |= json_array_append_new(fields, ad_field_json(&lb));
	if (rv != 0) {
		json_decref(d);
		return (NULL);
	}
	return (d);
}

/* ---- events out ------------------------------------------------------- */

/* Writes all of p, one write() unless the pipe takes less. */
static int
ad_write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

int
ad_emit(struct ad *a, json_t *frame)
{
	char	*line = NULL;
	size_t	 n;
	int	 ret = -1;

	if (frame == NULL) {
		log_warnx("%s: could not build an event: out of memory",
		    __func__);
		goto done;
	}
	if ((line = ad_frame_line(frame)) == NULL)
		goto done;
	/* The newline goes in the same write as the frame. */
	n = strlen(line);
	line[n] = '\n';
	if (ad_write_all(STDOUT_FILENO, line, n + 1) != 0) {
		log_warn("%s: could not write to the daemon", __func__);
		if (a != NULL)
			a->a_done = 1;
		goto done;
	}
	ret = 0;
 done:
	free(line);
	json_decref(frame);
	return (ret);
}

void
ad_error(struct ad *a, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s", msg);
	ad_emit(a, ad_ev_error(msg));
}

/* ---- the process ------------------------------------------------------ */

void *
ad_arg(struct ad *a)
{
	return (a->a_arg);
}

int
ad_watch(struct ad *a, int fd, short events)
{
	int	i;

	if (fd < 0)
		return (0);
	for (i = 0; i < a->a_nwatch && a->a_watch[i].fd != fd; i++)
		;
	if (events == 0) {
		if (i < a->a_nwatch)
			a->a_watch[i] = a->a_watch[--a->a_nwatch];
		return (0);
	}
	if (i == a->a_nwatch) {
		if (a->a_nwatch == AD_WATCH_MAX) {
			log_warnx("%s: more than %d sockets to watch", __func__,
			    AD_WATCH_MAX);
			return (-1);
		}
		a->a_nwatch++;
	}
	a->a_watch[i].fd = fd;
	a->a_watch[i].events = events;
	return (0);
}

void
ad_unwatch_all(struct ad *a)
{
	a->a_nwatch = 0;
}

void
ad_timer(struct ad *a, uint64_t at_ms)
{
	a->a_timer = at_ms;
}

int
ad_allow_loopback(struct ad *a)
{
	return (ad_truthy(getenv(a->a_loopback_key)));
}

uint64_t
ad_backoff_ms(unsigned int n)
{
	uint64_t	ms = AD_BACKOFF_INITIAL_MS;
	uint32_t	r;

	while (n-- > 0 && ms < AD_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > AD_BACKOFF_MAX_MS)
		ms = AD_BACKOFF_MAX_MS;
	/* Up to 20 % less, so adapters of one platform do not come back in
	 * step after a platform restart. */
	r = (uint32_t)random();
	return (ms - (ms / 5) * (r % 1000) / 1000);
}

void
ad_platform_up(struct ad *a)
{
	a->a_failures = 0;
}

/* Schedules the next ad_connect after the backoff; tell: say why in an
 * `error` event too (the channel's status shows it), else only log it. */
static void
ad_retry(struct ad *a, const char *why, int tell)
{
	uint64_t	delay = ad_backoff_ms(a->a_failures);

	a->a_failures++;
	ad_unwatch_all(a);
	a->a_connect_at = util_now_ms() + delay;
	if (tell)
		ad_error(a, "%s: %s; reconnecting in %llu ms",
		    a->a_def->ad_name, why, (unsigned long long)delay);
	else
		log_info("%s: %s; trying again in %llu ms", __func__, why,
		    (unsigned long long)delay);
}

void
ad_platform_down(struct ad *a, const char *why)
{
	ad_retry(a, why, 1);
}

static void
ad_send_ready(struct ad *a)
{
	struct ad_ready	r;

	memset(&r, 0, sizeof(r));
	r.ar_capabilities = a->a_def->ad_capabilities;
	r.ar_suppress_errors = -1;
	r.ar_protocol_version = AD_PROTOCOL_VERSION;
	ad_emit(a, ad_ev_ready(&r));
	a->a_readies++;
	/* Again every 2 s until acked, 5 times in all; then an old daemon
	 * is assumed and we carry on (1.3, handshake 3). */
	a->a_ready_at = a->a_readies < AD_READY_TRIES ?
	    util_now_ms() + AD_READY_EVERY_MS : 0;
}

static void
ad_on_line(void *arg, const char *line, size_t len)
{
	struct ad	*a = arg;
	struct ad_cmd	 c;

	if (a->a_done)
		return;
	if (ad_cmd_parse(line, len, &c) != 0) {
		log_warnx("%s: a malformed command of %zu bytes; ignored",
		    __func__, len);
		return;
	}
	switch (c.ac_type) {
	case AD_CMD_UNKNOWN:
		log_debug("%s: unknown method '%s'; ignored", __func__,
		    c.ac_method);
		break;
	case AD_CMD_READY_ACK:
		a->a_acked = 1;
		a->a_ready_at = 0;
		break;
	case AD_CMD_SHUTDOWN:
		log_info("%s: shutdown", __func__);
		a->a_done = 1;
		break;
	default:
		if (a->a_def->ad_command != NULL)
			a->a_def->ad_command(a, &c);
		break;
	}
	ad_cmd_release(&c);
}

/* Reads what stdin has; EOF or a read error ends the loop. */
static void
ad_read_stdin(struct ad *a)
{
	static char	 chunk[AD_READ_CHUNK];
	ssize_t		 n;

	if ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		log_warn("%s: could not read stdin", __func__);
		a->a_done = 1;
		return;
	}
	if (n == 0) {
		log_info("%s: end of stdin", __func__);
		a->a_done = 1;
		return;
	}
	if (ad_lines_feed(&a->a_in, chunk, (size_t)n, ad_on_line, a) != 0) {
		log_warnx("%s: out of memory", __func__);
		a->a_done = 1;
		a->a_status = 1;
	}
}

/* The earliest of the deadlines, as a poll() timeout. */
static int
ad_poll_timeout(const struct ad *a, uint64_t now)
{
	uint64_t	at[3] = { a->a_timer, a->a_connect_at, a->a_ready_at };
	uint64_t	min = 0;
	int		i;

	for (i = 0; i < 3; i++)
		if (at[i] != 0 && (min == 0 || at[i] < min))
			min = at[i];
	if (min == 0)
		return (-1);
	if (min <= now)
		return (0);
	return (min - now > 60000 ? 60000 : (int)(min - now));
}

/* Whether fd is still watched (a callback may have dropped it). */
static int
ad_watched(const struct ad *a, int fd)
{
	int	i;

	for (i = 0; i < a->a_nwatch; i++)
		if (a->a_watch[i].fd == fd)
			return (1);
	return (0);
}

static void
ad_loop(struct ad *a)
{
	struct pollfd	pfd[1 + AD_WATCH_MAX];
	uint64_t	now;
	int		i, n, rv;

	while (!a->a_done) {
		now = util_now_ms();
		if (a->a_ready_at != 0 && now >= a->a_ready_at)
			ad_send_ready(a);
		if (a->a_connect_at != 0 && now >= a->a_connect_at) {
			a->a_connect_at = 0;
			if (a->a_def->ad_connect(a) != 0)
				ad_retry(a, "could not connect", 0);
		}
		if (a->a_timer != 0 && now >= a->a_timer) {
			a->a_timer = 0;
			if (a->a_def->ad_tick != NULL)
				a->a_def->ad_tick(a);
		}
		if (a->a_done)
			break;
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < a->a_nwatch; i++) {
			pfd[1 + i] = a->a_watch[i];
			pfd[1 + i].revents = 0;
		}
		n = 1 + a->a_nwatch;
		rv = poll(pfd, (nfds_t)n, ad_poll_timeout(a, util_now_ms()));
		if (rv < 0) {
			if (errno == EINTR)
				continue;
			log_warn("%s: poll", __func__);
			a->a_status = 1;
			break;
		}
		/* Commands first: a shutdown must not wait behind the
		 * platform's traffic. */
		if (pfd[0].revents != 0)
			ad_read_stdin(a);
		for (i = 1; i < n && !a->a_done; i++)
			if (pfd[i].revents != 0 && ad_watched(a, pfd[i].fd))
				a->a_def->ad_io(a, pfd[i].fd, pfd[i].revents);
	}
}

static void
ad_usage(const struct ad_def *def)
{
	fprintf(stderr, "usage: channel-%s [--describe] [-d]\n"
	    "configured from the environment (see --describe); speaks the "
	    "sidecar protocol on stdin and stdout\n", def->ad_name);
}

int
ad_main(const struct ad_def *def, void *arg, int argc, char **argv)
{
	struct ad	 a;
	json_t		*d;
	const char	*lvl;
	char		 prog[64];
	int		 i, level = LOG_LVL_INFO;

	ad_self = def;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--describe") == 0) {
			if ((d = ad_describe(def)) == NULL)
				return (1);
			return (ad_emit(NULL, d) == 0 ? 0 : 1);
		} else if (strcmp(argv[i], "-d") == 0)
			level = LOG_LVL_DEBUG;
		else {
			ad_usage(def);
			return (2);
		}
	}
	if ((lvl = getenv("LIBREFANG_LOG_LEVEL")) != NULL &&
	    log_parse_level(lvl) >= 0 && level != LOG_LVL_DEBUG)
		level = log_parse_level(lvl);
	snprintf(prog, sizeof(prog), "channel-%s", def->ad_name);
	log_init(prog, level, 0);
	/* A daemon gone away is EPIPE on the next write, not a death. */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned int)(util_now_ns() ^ (uint64_t)getpid()));

	memset(&a, 0, sizeof(a));
	a.a_def = def;
	a.a_arg = arg;
	snprintf(a.a_loopback_key, sizeof(a.a_loopback_key),
	    "%s_ALLOW_LOOPBACK", def->ad_env);
	ad_lines_init(&a.a_in, AD_LINE_MAX);
	if (def->ad_init != NULL && def->ad_init(&a) != 0) {
		ad_emit(&a, ad_ev_error("configuration refused; see the "
		    "adapter's log"));
		ad_lines_release(&a.a_in);
		return (1);
	}
	ad_send_ready(&a);
	a.a_connect_at = util_now_ms();
	ad_loop(&a);
	if (def->ad_stop != NULL)
		def->ad_stop(&a);
	ad_lines_release(&a.a_in);
	log_info("%s: exiting", __func__);
	return (a.a_status);
}
