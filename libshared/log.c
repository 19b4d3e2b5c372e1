/*
 * log.c - leveled logging to stderr with secret redaction.
 *
 * The secret list only grows (secrets are registered at start-up and as
 * provider keys become known), so readers copy nothing: a mutex guards
 * appends and the redaction pass.  Every text is redacted whole and only
 * then cut, at a character boundary, so a secret that straddles a cut is
 * never half-written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "util.h"

#define LOG_LINE_MAX	4096
#define LOG_REDACTED	"[REDACTED]"

/*
 * The registered secrets.  The list only grows, up to LOG_SECRETS_MAX;
 * past that a secret is not registered (and a warning says so once):
 * the callers that matter also redact the key they hold by value
 * (log_redact_text()'s extra), so a key is never unredacted where it is
 * used.
 */
struct log_secret {
	char	*ls_text;
	size_t	 ls_len;
};

static const char	*log_prog = "librefang";
static _Atomic int	 log_level = LOG_LVL_INFO;
static int		 log_json;
static struct log_secret *log_secrets;
static size_t		 log_nsecrets;
static size_t		 log_capsecrets;
static int		 log_full_warned;
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(log_hook_fn) log_hook;
static _Thread_local int log_in_hook;	/* this thread runs the hook */

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *progname, int level, int json)
{
	log_prog = progname;
	log_level = level;
	log_json = json;
}

void
log_set_level(int level)
{
	log_level = level;
}

void
log_set_hook(log_hook_fn fn)
{
	atomic_store(&log_hook, fn);
}

const char *
log_level_name(int level)
{
	if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
		return ("info");
	return (log_names[level]);
}

int
log_parse_level(const char *s)
{
	if (strcasecmp(s, "error") == 0)
		return (LOG_LVL_ERROR);
	if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		return (LOG_LVL_WARN);
	if (strcasecmp(s, "info") == 0)
		return (LOG_LVL_INFO);
	if (strcasecmp(s, "debug") == 0 || strcasecmp(s, "trace") == 0)
		return (LOG_LVL_DEBUG);
	return (-1);
}

void
log_add_secret(const char *secret)
{
	struct log_secret	*ns;
	size_t			 i, len, cap;
	int			 warn = 0;

	/* Very short strings would redact ordinary words. */
	if (secret == NULL || (len = strlen(secret)) < LOG_SECRET_MIN)
		return;
	pthread_mutex_lock(&log_mtx);
	for (i = 0; i < log_nsecrets; i++)
		if (log_secrets[i].ls_len == len &&
		    memcmp(log_secrets[i].ls_text, secret, len) == 0)
			goto done;
	if (log_nsecrets == log_capsecrets) {
		if (log_capsecrets >= LOG_SECRETS_MAX) {
			warn = !log_full_warned;
			log_full_warned = 1;
			goto done;
		}
		cap = log_capsecrets ? log_capsecrets * 2 : 16;
		if (cap > LOG_SECRETS_MAX)
			cap = LOG_SECRETS_MAX;
		if ((ns = realloc(log_secrets, cap * sizeof(*ns))) == NULL)
			goto done;
		log_secrets = ns;
		log_capsecrets = cap;
	}
	if ((log_secrets[log_nsecrets].ls_text = strdup(secret)) != NULL)
		log_secrets[log_nsecrets++].ls_len = len;
 done:
	pthread_mutex_unlock(&log_mtx);
	if (warn)
		log_warnx("%s: more than %d secrets: later ones are redacted "
		    "only where their users redact them", __func__,
		    LOG_SECRETS_MAX);
}

/*
 * Length of the longest secret starting at p (a registered one, or extra
 * of extralen bytes), or 0.  The longest, so that a secret that begins
 * with another is redacted whole.  Caller holds log_mtx.
 */
static size_t
log_secret_at(const char *p, const char *extra, size_t extralen)
{
	size_t	i, n = 0, l;

	if (extralen > 0 && strncmp(p, extra, extralen) == 0)
		n = extralen;
	for (i = 0; i < log_nsecrets; i++) {
		l = log_secrets[i].ls_len;
		if (l > n && *p == *log_secrets[i].ls_text &&
		    strncmp(p, log_secrets[i].ls_text, l) == 0)
			n = l;
	}
	return (n);
}

/* Bytes of the character that starts at p: its continuation bytes, up to
 * three, go with it (an invalid lead byte is a character of its own). */
static size_t
log_char_len(const char *p)
{
	unsigned char	c = (unsigned char)*p;
	size_t		n, want;

	want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	for (n = 1; n < want && ((unsigned char)p[n] & 0xc0) == 0x80; n++)
		;
	return (n);
}

/* Output of the redactor: out[0..outlen) when out is not NULL, cut at a
 * piece boundary (never half a character or half the mark). */
struct log_sink {
	char	*lk_out;
	size_t	 lk_outlen;
	size_t	 lk_used;	/* bytes written to lk_out */
	size_t	 lk_total;	/* bytes of the whole redacted text */
	int	 lk_full;
};

static void
log_put(struct log_sink *k, const char *s, size_t n)
{
	k->lk_total += n;
	if (k->lk_out == NULL || k->lk_full)
		return;
	if (k->lk_used + n >= k->lk_outlen) {
		k->lk_full = 1;
		return;
	}
	memcpy(k->lk_out + k->lk_used, s, n);
	k->lk_used += n;
}

/*
 * Redacts the whole of line into k: every secret (registered, or extra)
 * and the token after "Bearer " become the mark.  The whole text is
 * scanned even when the output is full, so what is cut off never decides
 * what is redacted.  Caller holds log_mtx.
 */
static void
log_scan(const char *line, const char *extra, struct log_sink *k)
{
	const char	*p = line;
	size_t		 n, el = extra != NULL ? strlen(extra) : 0;

	while (*p != '\0') {
		if ((n = log_secret_at(p, extra, el)) > 0) {
			p += n;
			log_put(k, LOG_REDACTED, strlen(LOG_REDACTED));
		} else if (strncasecmp(p, "bearer ", 7) == 0) {
			log_put(k, p, 7);
			p += 7;
			while (*p != '\0' && *p != ' ' && *p != '"' &&
			    *p != '\'' && *p != ',')
				p++;
			log_put(k, LOG_REDACTED, strlen(LOG_REDACTED));
		} else {
			n = log_char_len(p);
			log_put(k, p, n);
			p += n;
		}
	}
	if (k->lk_out != NULL && k->lk_outlen > 0)
		k->lk_out[k->lk_used] = '\0';
}

void
log_redact(const char *line, char *out, size_t outlen)
{
	struct log_sink	k;

	if (outlen == 0)
		return;
	memset(&k, 0, sizeof(k));
	k.lk_out = out;
	k.lk_outlen = outlen;
	pthread_mutex_lock(&log_mtx);
	log_scan(line, NULL, &k);
	pthread_mutex_unlock(&log_mtx);
}

char *
log_redact_text(const char *text, const char *extra, size_t max)
{
	struct log_sink	 k;
	char		*out = NULL;

	if (text == NULL)
		text = "";
	if (extra != NULL && *extra == '\0')
		extra = NULL;
	memset(&k, 0, sizeof(k));
	/* Both passes under one lock: the list cannot change in between. */
	pthread_mutex_lock(&log_mtx);
	log_scan(text, extra, &k);
	if (max == 0 || max > k.lk_total)
		max = k.lk_total;
	if ((out = malloc(max + 1)) != NULL) {
		k.lk_out = out;
		k.lk_outlen = max + 1;
		k.lk_used = k.lk_total = 0;
		log_scan(text, extra, &k);
	}
	pthread_mutex_unlock(&log_mtx);
	return (out);
}

char *
log_redactf(size_t max, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *r;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		return (NULL);
	r = log_redact_text(s, NULL, max);
	free(s);
	return (r);
}

static void
log_emit(int level, int with_errno, const char *fmt, va_list ap)
{
	char	 buf[LOG_LINE_MAX], line[LOG_LINE_MAX], ts[32];
	char	*heap = NULL, *full = NULL, *js;
	const char *text = buf;
	int	 saved = errno, n;
	va_list	 aq;
	json_t	*o;
	log_hook_fn hook;

	if (level > log_level)
		return;
	/* The whole line first: redaction must see a secret whole, so the
	 * line is cut only after it (log_redact()). */
	va_copy(aq, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		text = vasprintf(&heap, fmt, aq) < 0 ? NULL : heap;
	va_end(aq);
	if (text != NULL && with_errno)
		text = asprintf(&full, "%s: %s", text, strerror(saved)) < 0 ?
		    NULL : full;
	if (text == NULL)
		snprintf(line, sizeof(line), "(out of memory formatting a log "
		    "line)");
	else
		log_redact(text, line, sizeof(line));
	free(heap);
	free(full);
	util_rfc3339(util_wall_ms(), ts);
	if (log_json) {
		o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "timestamp", ts,
		    "level", log_names[level], "target", log_prog,
		    "pid", (int)getpid(), "message", line);
		js = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (js != NULL)
			fprintf(stderr, "%s\n", js);
		free(js);
		json_decref(o);
	} else
		fprintf(stderr, "%s %s[%d] %s: %s\n", ts, log_prog,
		    (int)getpid(), log_names[level], line);
	if ((hook = atomic_load(&log_hook)) != NULL && !log_in_hook) {
		log_in_hook = 1;
		hook(level, ts, line);
		log_in_hook = 0;
	}
	errno = saved;
}

/* The public entry points differ only in level, errno and, for fatal(),
 * what follows: one definition, so they cannot drift apart. */
#define LOG_FN(name, lvl, err, then)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
									\
	va_start(ap, fmt);						\
	log_emit(lvl, err, fmt, ap);					\
	va_end(ap);							\
	then;								\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1, (void)0)
LOG_FN(log_warnx, LOG_LVL_WARN, 0, (void)0)
LOG_FN(log_info, LOG_LVL_INFO, 0, (void)0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0, (void)0)
LOG_FN(fatal, LOG_LVL_ERROR, 1, exit(1))
LOG_FN(fatalx, LOG_LVL_ERROR, 0, exit(1))
