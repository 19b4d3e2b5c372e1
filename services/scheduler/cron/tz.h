/*
 * cron/tz.h - IANA time zones read from TZif files (RFC 8536), the other
 * half of cron.h: what cron.c needs to turn wall-clock times into instants.
 *
 * A zone is read once per process from $TZDIR or /usr/share/zoneinfo and
 * kept in a cache that lives until exit, so tz_get() hands out borrowed
 * pointers no one frees and a struct cron holds one without counting
 * references.  The cache is bounded by the files the directory holds
 * (names that match no TZif file are not cached).  tz_get() is thread-safe
 * (one mutex around the cache); a zone is immutable once cached, so
 * tz_offset() takes no lock.
 *
 * Past the last transition of the file a zone follows the POSIX TZ rule of
 * its footer ("EST5EDT,M3.2.0,M11.1.0"), computed per year on demand.
 */
#ifndef CRON_TZ_H
#define CRON_TZ_H

#include <stddef.h>
#include <stdint.h>

/* The open ends of a span (about 36 million years: no overflow when a
 * day or an offset is added or subtracted). */
#define TZ_TIME_MIN	(-(INT64_C(1) << 60))
#define TZ_TIME_MAX	(INT64_C(1) << 60)
/* No zone's offset reaches this far from UTC (RFC 8536 3.2: the range
 * recommended is -24:59:59 to 25:59:59). */
#define TZ_OFFSET_MAX	93599

struct tz_zone;

/*
 * The zone called name ("Europe/Berlin"): borrowed, valid until exit.
 * NULL with the reason in err if the name is malformed (empty, absolute,
 * "..", characters other than letters, digits and "/_+-") or names no
 * readable TZif file.  "UTC" and "Etc/UTC" are read like any other zone.
 */
const struct tz_zone	*tz_get(const char *name, char *err, size_t errlen);

/*
 * The UTC offset in seconds in force at instant t (epoch seconds) in zone
 * z (NULL: UTC), and in *start, *end the span [start, end) around t over
 * which it does not change (TZ_TIME_MIN, TZ_TIME_MAX at the open ends).
 * Neighbouring spans may have the same offset.
 */
int32_t	 tz_offset(const struct tz_zone *z, int64_t t, int64_t *start,
	    int64_t *end);

/* Civil calendar helpers shared with cron.c (proleptic Gregorian). */
int64_t	 tz_days_from_civil(int64_t y, int m, int d);
void	 tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int	 tz_days_in_month(int64_t y, int m);

#endif /* CRON_TZ_H */
