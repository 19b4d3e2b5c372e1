/*
 * cron/cron.h - five-field cron expressions evaluated in an IANA time
 * zone (notes/kernel.md 3.3): the next fire time after a given instant.
 *
 * Dialect: minute hour day-of-month month day-of-week, each field "*",
 * a value, a range "a-b", a step "*" "/n" or "a-b/n" or "a/n", or a comma
 * list of those; month names jan-dec and day names sun-sat (any case);
 * day-of-week 0 or 7 is Sunday, ranges may wrap through Sunday; "?" is
 * "*" in the day fields.  When both day fields are restricted a day
 * matches if either does (POSIX cron); a day field that starts with "*"
 * or "?" ("*" "/2" too) is not restricted, and then a day must match both
 * (Vixie cron).
 *
 * Time zones are read from the system's TZif files (/usr/share/zoneinfo,
 * or $TZDIR): no setenv("TZ"), so any thread may evaluate any zone.  DST:
 * a wall time skipped by a spring-forward moves to the next time that
 * matches and exists; a wall time repeated by a fall-back fires once, at
 * its first (earlier UTC) occurrence.
 */
#ifndef CRON_H
#define CRON_H

#include <stddef.h>
#include <stdint.h>

struct cron;

/*
 * Parses expr in zone tz (NULL, "" or "UTC": UTC).  Returns 0 and *out
 * (free with cron_free), or -1 with a reason in err: a malformed field,
 * a value out of range, an unknown zone, or an expression that never
 * fires (0 0 30 2 *).
 */
int	 cron_parse(const char *expr, const char *tz, struct cron **out,
	    char *err, size_t errlen);
void	 cron_free(struct cron *c);

/* The first fire time strictly after `after` (epoch seconds, UTC) into
 * *next; 0, or -1 if there is none within the next five years. */
int	 cron_next(const struct cron *c, int64_t after, int64_t *next);

/* 1 if tz names a zone this machine knows ("UTC" included), else 0. */
int	 cron_tz_valid(const char *tz);

#endif
