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

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG
};

void	log_init(const char *progname, int level, int json);
/* Parses "error"|"warn"|"info"|"debug"|"trace"; -1 if unknown. */
int	log_parse_level(const char *s);
/* Registers a secret (copied) to be redacted from every later line. */
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
 * Redacts secrets in line into out (always NUL-terminated).  Exposed for
 * tests and for code that echoes text somewhere other than the log.
 */
void	log_redact(const char *line, char *out, size_t outlen);

#endif /* SH_LOG_H */
