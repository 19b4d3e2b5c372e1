/*
 * cron.c - five-field cron expressions (cron.h): a bit set per field, and
 * a next-fire search that steps by fields (month, day, hour, minute) in
 * the zone's wall clock, then maps the wall time to an instant (tz.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron/cron.h"
#include "cron/tz.h"

#define CRON_EXPR_MAX	256
#define CRON_NFIELDS	5
/* Five years of 365.25 days, rounded up: the search horizon. */
#define CRON_HORIZON	(INT64_C(1827) * 86400)
/* Instants cron_next() accepts: far past any schedule, far from overflow. */
#define CRON_TIME_LIMIT	(INT64_C(1) << 40)
/* Wall times tried per call: each failed try skips a DST gap or overlap,
 * of which five years hold a few dozen at most. */
#define CRON_TRIES_MAX	1000

enum { F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

/* A day field given as "*" or "?" (even "*" "/2"): the day rule below. */
#define CRON_DOM_STAR	0x1
#define CRON_DOW_STAR	0x2

struct cron {
	uint64_t		 cr_bits[CRON_NFIELDS];	/* bit v: value v */
	int			 cr_flags;
	const struct tz_zone	*cr_zone;	/* borrowed (tz.h); NULL: UTC */
};

static const char *const cron_months[] = { "jan", "feb", "mar", "apr",
	"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const cron_days[] = { "sun", "mon", "tue", "wed", "thu",
	"fri", "sat", NULL };

static const struct cron_field {
	const char		*cf_name;
	int			 cf_lo, cf_hi;	/* values accepted */
	int			 cf_top;	/* where "*" and "a/n" end */
	const char *const	*cf_names;	/* NULL: numbers only */
	int			 cf_base;	/* the value of cf_names[0] */
	int			 cf_day;	/* "?" allowed */
} cron_fields[CRON_NFIELDS] = {
	{ "minute",		0, 59, 59, NULL,	0, 0 },
	{ "hour",		0, 23, 23, NULL,	0, 0 },
	{ "day-of-month",	1, 31, 31, NULL,	0, 1 },
	{ "month",		1, 12, 12, cron_months,	1, 0 },
	/* 7 is Sunday too; "*" stops at 6 so that Sunday is counted once. */
	{ "day-of-week",	0, 7,  6,  cron_days,	0, 1 },
};

static int	 cron_fail(char *, size_t, const struct cron_field *,
		    const char *, size_t, const char *, ...)
		    __attribute__((format(printf, 6, 7)));

/*
 * Writes "<field> field '<text>': <why>" into err; returns -1.  The text
 * is user input bound for a JSON error body and the logs: bytes outside
 * printable ASCII become '?', so the message is always valid UTF-8.
 */
static int
cron_fail(char *err, size_t errlen, const struct cron_field *f,
    const char *s, size_t len, const char *fmt, ...)
{
	va_list	 ap;
	char	 text[33];
	size_t	 i;
	int	 n;

	for (i = 0; i < len && i < sizeof(text) - 1; i++)
		text[i] = s[i] > ' ' && s[i] < 0x7f ? s[i] : '?';
	text[i] = '\0';
	n = snprintf(err, errlen, "%s field '%s': ", f->cf_name, text);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return (-1);
}

/*
 * One value at *pp (before end): a number, or a three-letter name in the
 * fields that have them.  Returns it, -1 when it is not a value, -2 when
 * it is out of range.
 */
static int
cron_value(const struct cron_field *f, const char **pp, const char *end)
{
	const char	*p = *pp;
	int		 v = 0, n, i;

	if (p < end && isdigit((unsigned char)*p)) {
		for (n = 0; p < end && isdigit((unsigned char)*p); n++, p++)
			if (n < 4)
				v = v * 10 + (*p - '0');
		*pp = p;
		return (n > 3 || v < f->cf_lo || v > f->cf_hi ? -2 : v);
	}
	for (n = 0; p + n < end && isalpha((unsigned char)p[n]); n++)
		;
	if (n != 3 || f->cf_names == NULL)
		return (-1);
	for (i = 0; f->cf_names[i] != NULL; i++)
		if (strncasecmp(p, f->cf_names[i], 3) == 0) {
			*pp = p + 3;
			return (f->cf_base + i);
		}
	return (-1);
}

/* One element of a list: "*", "a", "a-b", each with an optional "/n". */
static int
cron_elem(const struct cron_field *f, const char *s, const char *end,
    uint64_t *bits, char *err, size_t errlen)
{
	const char	*p = s;
	int		 a, b, n = 1, bounded = 1, i, count;
	size_t		 len = (size_t)(end - s);

	if (p < end && *p == '*') {
		a = f->cf_lo;
		b = f->cf_top;
		p++;
	} else {
		if ((a = cron_value(f, &p, end)) == -2)
			return (cron_fail(err, errlen, f, s, len,
			    "value out of range %d-%d", f->cf_lo, f->cf_hi));
		if (a < 0)
			return (cron_fail(err, errlen, f, s, len,
			    "expected a number%s, '*' or '?'",
			    f->cf_names != NULL ? " or a name" : ""));
		b = a;
		bounded = 0;
		if (p < end && *p == '-') {
			p++;
			bounded = 1;
			if ((b = cron_value(f, &p, end)) == -2)
				return (cron_fail(err, errlen, f, s, len,
				    "value out of range %d-%d", f->cf_lo,
				    f->cf_hi));
			if (b < 0)
				return (cron_fail(err, errlen, f, s, len,
				    "a range needs an end"));
		}
	}
	if (p < end && *p == '/') {
		p++;
		for (n = 0, i = 0; p < end && isdigit((unsigned char)*p);
		    p++, i++)
			if (i < 4)
				n = n * 10 + (*p - '0');
		if (i == 0 || i > 3 || n < 1 || n > f->cf_top - f->cf_lo + 1)
			return (cron_fail(err, errlen, f, s, len,
			    "step must be 1-%d", f->cf_top - f->cf_lo + 1));
		/* "a/n": from a to the end of the field. */
		if (!bounded) {
			if (a == 7 && f == &cron_fields[F_DOW])
				a = 0;
			b = f->cf_top;
		}
	}
	if (p != end)
		return (cron_fail(err, errlen, f, s, len,
		    *p > ' ' && *p < 0x7f ? "unexpected '%c'" :
		    "unexpected byte 0x%02x", (unsigned char)*p));
	if (a <= b) {
		for (i = a; i <= b; i += n)
			*bits |= UINT64_C(1) << i;
		return (0);
	}
	if (f != &cron_fields[F_DOW])
		return (cron_fail(err, errlen, f, s, len,
		    "range %d-%d runs backwards", a, b));
	/* Days of the week wrap through Sunday: fri-mon is 5,6,0,1. */
	count = b + 7 - a + 1;
	for (i = 0; i < count; i += n)
		*bits |= UINT64_C(1) << ((a + i) % 7);
	return (0);
}

static int
cron_field(const struct cron_field *f, const char *s, size_t len,
    uint64_t *bits, int *star, char *err, size_t errlen)
{
	const char	*p = s, *end = s + len, *comma;

	*bits = 0;
	*star = s[0] == '*' || s[0] == '?';
	if (s[0] == '?') {
		if (!f->cf_day)
			return (cron_fail(err, errlen, f, s, len,
			    "'?' is only for the day fields"));
		if (len != 1)
			return (cron_fail(err, errlen, f, s, len,
			    "'?' stands alone"));
		p = "*";
		end = p + 1;
	}
	for (;;) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		if (comma == p)
			return (cron_fail(err, errlen, f, s, len,
			    "empty list element"));
		if (cron_elem(f, p, comma, bits, err, errlen) != 0)
			return (-1);
		if (comma == end)
			break;
		p = comma + 1;
	}
	if (f == &cron_fields[F_DOW] && (*bits & (UINT64_C(1) << 7)))
		*bits = (*bits & ~(UINT64_C(1) << 7)) | 1;
	return (0);
}

/*
 * 1 if some month of the expression has a day it names.  Only a day of
 * the month alone can rule every date out: with a day of the week, some
 * date always matches.
 */
static int
cron_can_fire(const struct cron *c)
{
	int	 m, d;

	if ((c->cr_flags & CRON_DOM_STAR) || !(c->cr_flags & CRON_DOW_STAR))
		return (1);
	for (m = 1; m <= 12; m++) {
		if (!(c->cr_bits[F_MON] & (UINT64_C(1) << m)))
			continue;
		/* 29 for February: leap years. */
		for (d = 1; d <= tz_days_in_month(2000, m); d++)
			if (c->cr_bits[F_DOM] & (UINT64_C(1) << d))
				return (1);
	}
	return (0);
}

int
cron_parse(const char *expr, const char *tz, struct cron **out, char *err,
    size_t errlen)
{
	struct cron	*c = NULL;
	const char	*p, *start[CRON_NFIELDS];
	size_t		 len[CRON_NFIELDS], n = 0, tok;
	int		 i, star, ret = -1;

	*out = NULL;
	if (expr == NULL || strlen(expr) > CRON_EXPR_MAX) {
		snprintf(err, errlen, "cron expression missing or longer "
		    "than %d characters", CRON_EXPR_MAX);
		goto done;
	}
	for (p = expr; *p != '\0'; p += tok) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		tok = strcspn(p, " \t");
		if (n < CRON_NFIELDS) {
			start[n] = p;
			len[n] = tok;
		}
		n++;
	}
	if (n != CRON_NFIELDS) {
		snprintf(err, errlen, "cron expression needs 5 fields "
		    "(minute hour day-of-month month day-of-week), got %zu",
		    n);
		goto done;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	for (i = 0; i < CRON_NFIELDS; i++) {
		if (cron_field(&cron_fields[i], start[i], len[i],
		    &c->cr_bits[i], &star, err, errlen) != 0)
			goto done;
		if (star && i == F_DOM)
			c->cr_flags |= CRON_DOM_STAR;
		if (star && i == F_DOW)
			c->cr_flags |= CRON_DOW_STAR;
	}
	if (!cron_can_fire(c)) {
		snprintf(err, errlen, "cron expression '%.64s' never fires: "
		    "no month it names has the days it names", expr);
		goto done;
	}
	if (tz != NULL && *tz != '\0' && strcmp(tz, "UTC") != 0 &&
	    (c->cr_zone = tz_get(tz, err, errlen)) == NULL)
		goto done;
	*out = c;
	c = NULL;
	ret = 0;
 done:
	free(c);
	return (ret);
}

void
cron_free(struct cron *c)
{
	free(c);	/* the zone belongs to the cache (tz.h) */
}

int
cron_tz_valid(const char *tz)
{
	char	 err[128];

	if (tz == NULL || *tz == '\0')
		return (0);
	return (strcmp(tz, "UTC") == 0 || tz_get(tz, err, sizeof(err)) != NULL);
}

static int64_t
cron_floor_div(int64_t a, int64_t b)
{
	return (a / b - (a % b != 0 && (a < 0) != (b < 0)));
}

static int64_t
cron_ceil_minute(int64_t t)
{
	return (-cron_floor_div(-t, 60) * 60);
}

/* The smallest v in [from, hi] with bit v set, or -1. */
static int
cron_next_bit(uint64_t bits, int from, int hi)
{
	int	 v;

	if (from > hi)
		return (-1);
	bits >>= from;
	if (bits == 0)
		return (-1);
	v = from + __builtin_ctzll(bits);
	return (v <= hi ? v : -1);
}

/* The day rule of Vixie cron: when either day field is "*" a date must
 * match both (one of them matches all), else either. */
static int
cron_day_ok(const struct cron *c, int64_t y, int m, int d)
{
	int64_t	 days = tz_days_from_civil(y, m, d);
	int	 wd = (int)((days % 7 + 11) % 7);	/* 1970-01-01: Thu */
	int	 dom, dow;

	dom = (c->cr_bits[F_DOM] >> d) & 1;
	dow = (c->cr_bits[F_DOW] >> wd) & 1;
	if (c->cr_flags & (CRON_DOM_STAR | CRON_DOW_STAR))
		return (dom && dow);
	return (dom || dow);
}

/*
 * The first wall-clock minute at or after w (local seconds as if UTC,
 * a multiple of 60) that the fields match, into *out: 0, or -1 if none
 * within six years.  Steps by the coarsest field that fails.
 */
static int
cron_next_wall(const struct cron *c, int64_t w, int64_t *out)
{
	int64_t	 days, secs, y, ylimit;
	int	 m, d, h, mi, v;

	days = cron_floor_div(w, 86400);
	secs = w - days * 86400;
	h = (int)(secs / 3600);
	mi = (int)(secs % 3600 / 60);
	tz_civil_from_days(days, &y, &m, &d);
	ylimit = y + 6;
	for (;;) {
		if (y > ylimit)
			return (-1);
		if (!(c->cr_bits[F_MON] & (UINT64_C(1) << m))) {
			if ((v = cron_next_bit(c->cr_bits[F_MON], m, 12)) < 0) {
				y++;
				v = cron_next_bit(c->cr_bits[F_MON], 1, 12);
			}
			m = v;
			d = 1;
			h = mi = 0;
			continue;
		}
		if (d > tz_days_in_month(y, m)) {
			if (++m > 12) {
				m = 1;
				y++;
			}
			d = 1;
			h = mi = 0;
			continue;
		}
		if (!cron_day_ok(c, y, m, d)) {
			d++;
			h = mi = 0;
			continue;
		}
		if ((v = cron_next_bit(c->cr_bits[F_HOUR], h, 23)) < 0) {
			d++;
			h = mi = 0;
			continue;
		}
		if (v != h) {
			h = v;
			mi = 0;
		}
		if ((v = cron_next_bit(c->cr_bits[F_MIN], mi, 59)) < 0) {
			mi = 0;
			if (++h > 23) {
				h = 0;
				d++;
			}
			continue;
		}
		*out = tz_days_from_civil(y, m, d) * 86400 + h * 3600 +
		    v * 60;
		return (0);
	}
}

/*
 * The first instant at which zone z shows wall time w, into *u, and in
 * *resume the wall time at which the offset found stops applying: 0.
 * Or 1 when w does not exist (a spring-forward skipped it), with *resume
 * the wall time at which walls exist again.
 *
 * The spans of the offsets around w are walked forward from a day before
 * it (no offset reaches further), so the first span that holds w minus
 * its offset gives the earlier of two occurrences.
 */
static int
cron_wall_utc(const struct tz_zone *z, int64_t w, int64_t *u,
    int64_t *resume)
{
	int64_t	 t, s, e, cand;
	int32_t	 off;
	int	 i;

	t = w - TZ_OFFSET_MAX - 1;
	for (i = 0; i < 16; i++) {
		off = tz_offset(z, t, &s, &e);
		cand = w - off;
		if (cand < s) {
			*resume = s + off;
			return (1);
		}
		if (cand < e) {
			*u = cand;
			*resume = e + off;
			return (0);
		}
		t = e;
	}
	*resume = w + 60;	/* sixteen spans in two days: not a real zone */
	return (1);
}

int
cron_next(const struct cron *c, int64_t after, int64_t *next)
{
	int64_t	 start, limit, w, u, resume, s, e;
	int	 i, r;

	if (after < -CRON_TIME_LIMIT || after > CRON_TIME_LIMIT)
		return (-1);
	/* Strictly after: the minute after the one `after` falls in. */
	start = (cron_floor_div(after, 60) + 1) * 60;
	limit = start + CRON_HORIZON;
	w = cron_ceil_minute(start + tz_offset(c->cr_zone, start, &s, &e));
	for (i = 0; i < CRON_TRIES_MAX; i++) {
		if (cron_next_wall(c, w, &w) != 0 ||
		    w - TZ_OFFSET_MAX > limit)
			return (-1);
		r = cron_wall_utc(c->cr_zone, w, &u, &resume);
		if (r == 0 && u >= start) {
			if (u > limit)
				return (-1);
			*next = u;
			return (0);
		}
		/*
		 * w was skipped by a spring-forward; or a fall-back repeats
		 * it and its first occurrence is already before start (start
		 * lies in the repeat), so it does not fire again.  Either way
		 * the walls up to resume are out: their first occurrences
		 * come in order of wall time.
		 */
		resume = cron_ceil_minute(resume);
		w = resume > w ? resume : w + 60;
	}
	return (-1);
}
