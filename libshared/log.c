/*
 * log.c - leveled logging to stderr with secret redaction.
 *
 * The secret list only grows (secrets are registered at start-up), so
 * readers copy nothing: a mutex guards appends and the redaction pass.
 */
#include <errno.h>
#include <pthread.h>
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
#define LOG_SECRETS_MAX	32
#define LOG_REDACTED	"[REDACTED]"

static const char	*log_prog = "librefang";
static int		 log_level = LOG_LVL_INFO;
static int		 log_json;
static char		*log_secrets[LOG_SECRETS_MAX];
static int		 log_nsecrets;
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *progname, int level, int json)
{
	log_prog = progname;
	log_level = level;
	log_json = json;
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
	int	i;

	/* Very short strings would redact ordinary words. */
	if (secret == NULL || strlen(secret) < 4)
		return;
	pthread_mutex_lock(&log_mtx);
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], secret) == 0)
			break;
	if (i == log_nsecrets && log_nsecrets < LOG_SECRETS_MAX) {
		if ((log_secrets[log_nsecrets] = strdup(secret)) != NULL)
			log_nsecrets++;
	}
	pthread_mutex_unlock(&log_mtx);
}

/* Length of a registered secret starting at p, or 0. Caller holds log_mtx. */
static size_t
log_secret_at(const char *p)
{
	int	i;
	size_t	n;

	for (i = 0; i < log_nsecrets; i++) {
		n = strlen(log_secrets[i]);
		if (strncmp(p, log_secrets[i], n) == 0)
			return (n);
	}
	return (0);
}

void
log_redact(const char *line, char *out, size_t outlen)
{
	const char	*p = line;
	size_t		 o = 0, n;

	if (outlen == 0)
		return;
	pthread_mutex_lock(&log_mtx);
	while (*p != '\0' && o + 1 < outlen) {
		if ((n = log_secret_at(p)) > 0) {
			p += n;
		} else if (strncasecmp(p, "bearer ", 7) == 0) {
			n = 7;
			if (o + n >= outlen)
				break;
			memcpy(out + o, p, n);
			o += n;
			p += n;
			while (*p != '\0' && *p != ' ' && *p != '"' &&
			    *p != '\'' && *p != ',')
				p++;
		} else {
			out[o++] = *p++;
			continue;
		}
		n = strlen(LOG_REDACTED);
		if (o + n >= outlen)
			break;
		memcpy(out + o, LOG_REDACTED, n);
		o += n;
	}
	out[o] = '\0';
	pthread_mutex_unlock(&log_mtx);
}

static void
log_emit(int level, int with_errno, const char *fmt, va_list ap)
{
	char	 raw[LOG_LINE_MAX], line[LOG_LINE_MAX], ts[32];
	char	*js;
	int	 saved = errno;
	json_t	*o;
	size_t	 n;

	if (level > log_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (with_errno) {
		n = strlen(raw);
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(saved));
	}
	log_redact(raw, line, sizeof(line));
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
	errno = saved;
}

#define LOG_FN(name, lvl, err)						\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
									\
	va_start(ap, fmt);						\
	log_emit(lvl, err, fmt, ap);					\
	va_end(ap);							\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
