/*
 * log.h - process logging, after OpenBSD's log.c.
 *
 * Lines go to stderr as text ("2025-01-15T10:30:00Z memory[123] warn: ...")
 * or as JSON lines.  Every line passes through the redactor: any string
 * registered with log_add_secret(), and the token after "Bearer ", is
 * replaced by "[REDACTED]", so secrets are never written.
 * All functions are thread-safe; log_init() is called once at start.
 */
#ifndef SH_LOG_H
#define SH_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

void	log_init(const char *progname, int level, int json);
/* Changes the level at run time (a config reload); thread-safe. */
void	log_set_level(int level);
/*
 * A hook called with every line written (after redaction; ts RFC 3339,
 * level LOG_LVL_*), e.g. to publish it (svc_log_publish()).  It runs on
 * the logging thread; a line logged from inside the hook is written but
 * not handed to the hook again.  NULL removes it.  Set it before other
 * threads log, or while they may miss a line.
 */
typedef void (*log_hook_fn)(int level, const char *ts, const char *line);
void	log_set_hook(log_hook_fn fn);
/* "error", "warn", "info", "debug" for a LOG_LVL_* (borrowed). */
const char *log_level_name(int level);
/* Parses "error"|"warn"|"info"|"debug"|"trace"; -1 if unknown. */
int	log_parse_level(const char *s);
/*
 * Registers a secret (copied) to be redacted from every later line and
 * every later log_redact*() text.  A secret shorter than LOG_SECRET_MIN
 * bytes is ignored (it would redact ordinary words): whoever accepts
 * secrets refuses shorter ones.  At most LOG_SECRETS_MAX are kept.
 */
#define LOG_SECRET_MIN	4
#define LOG_SECRETS_MAX	1024
void	log_add_secret(const char *secret);

void	log_warn(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));	/* appends strerror */
void	log_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Redacts secrets in line into out (always NUL-terminated): the whole line
 * is redacted, then cut to outlen - 1 bytes at a character boundary.
 * Exposed for tests and for code that echoes text somewhere other than
 * the log.
 */
void	log_redact(const char *line, char *out, size_t outlen);
/*
 * The same for text that leaves the process (replies, stored records):
 * every registered secret, extra (one more secret matched by value,
 * whatever its length, e.g. the key a provider call used; NULL or "" for
 * none) and the token after "Bearer " become "[REDACTED]" in the whole
 * text; then the result is cut to at most max bytes (0: no limit) at a
 * character boundary.  New string (caller frees), NULL on ENOMEM.
 */
char	*log_redact_text(const char *text, const char *extra, size_t max);
/* printf-style text, then log_redact_text(text, NULL, max).  New. */
char	*log_redactf(size_t max, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* SH_LOG_H */
