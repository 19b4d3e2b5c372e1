/*
 * tz.c - TZif files (RFC 8536) and their POSIX TZ footer, without the C
 * library's time zone state: localtime() reads the one process-wide TZ,
 * and the scheduler evaluates many zones from many threads.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron/tz.h"
#include "util.h"

#define TZ_DIR_DEFAULT	"/usr/share/zoneinfo"
#define TZ_NAME_MAX	128
#define TZ_FILE_MAX	(256 * 1024)	/* the largest zone is under 10 KB */
#define TZ_TIMES_MAX	8192
#define TZ_TYPES_MAX	256
#define TZ_FOOTER_MAX	128
#define TZ_HDR_LEN	44

/* A day of the year in a POSIX TZ rule, and the local time of the change. */
struct tz_rdate {
	char		 rd_kind;	/* 'J' Julian 1-365, 'N' 0-365, 'M' */
	int		 rd_n;		/* J, N: the day */
	int		 rd_m, rd_w, rd_d;	/* M: month, week 1-5, weekday */
	int32_t		 rd_secs;	/* -167h..167h after local midnight */
};

/* The footer: standard time only, or standard and daylight time. */
struct tz_rule {
	int		 tr_has;	/* 0: no footer, the last type holds */
	int		 tr_dst;
	int32_t		 tr_std;	/* UTC offsets (east positive) */
	int32_t		 tr_dstoff;
	struct tz_rdate	 tr_start, tr_end;	/* to daylight, to standard */
};

struct tz_zone {
	struct tz_zone	*tz_next;	/* the cache */
	char		*tz_path;
	int64_t		*tz_times;	/* ascending transition instants */
	uint8_t		*tz_idx;	/* type after each transition */
	size_t		 tz_ntimes;
	int32_t		*tz_offs;	/* offset of each type */
	size_t		 tz_ntypes;
	struct tz_rule	 tz_rule;
};

static pthread_mutex_t	 tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_zone	*tz_cache;	/* guarded by tz_lock */

int64_t
tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	/* Days since 1970-01-01: years start in March, so the leap day is
	 * the last of its year, and eras of 400 years repeat exactly. */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

void
tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t	 z, era, doe, yoe, doy, mp;

	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
tz_leap(int64_t y)
{
	return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

int
tz_days_in_month(int64_t y, int m)
{
	static const int	 dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
				    31, 30, 31 };

	return (m == 2 && tz_leap(y) ? 29 : dim[m - 1]);
}

static int64_t
tz_floor_div(int64_t a, int64_t b)
{
	return (a / b - (a % b != 0 && (a < 0) != (b < 0)));
}

/* ---- the POSIX TZ footer ------------------------------------------------ */

static int
tzs_num(const char **pp, int min, int max, int *out)
{
	const char	*p = *pp;
	int		 v = 0, n = 0;

	while (isdigit((unsigned char)*p) && n < 3) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0 || isdigit((unsigned char)*p) || v < min || v > max)
		return (-1);
	*pp = p;
	*out = v;
	return (0);
}

/* [+-]hh[:mm[:ss]], hours up to maxh: offsets (24), rule times (167). */
static int
tzs_hms(const char **pp, int maxh, int32_t *out)
{
	const char	*p = *pp;
	int		 sign = 1, h, mi = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (tzs_num(&p, 0, maxh, &h) != 0)
		return (-1);
	if (*p == ':') {
		p++;
		if (tzs_num(&p, 0, 59, &mi) != 0)
			return (-1);
		if (*p == ':') {
			p++;
			if (tzs_num(&p, 0, 59, &s) != 0)
				return (-1);
		}
	}
	*pp = p;
	*out = sign * (h * 3600 + mi * 60 + s);
	return (0);
}

/* "EST" or "<+0545>"; only skipped, the abbreviation is not kept. */
static int
tzs_name(const char **pp)
{
	const char	*p = *pp, *q;

	if (*p == '<') {
		for (q = p + 1; *q != '>'; q++)
			if (!isalnum((unsigned char)*q) && *q != '+' &&
			    *q != '-')
				return (-1);
		if (q - p - 1 < 3)
			return (-1);
		*pp = q + 1;
		return (0);
	}
	for (q = p; isalpha((unsigned char)*q); q++)
		;
	if (q - p < 3)
		return (-1);
	*pp = q;
	return (0);
}

static int
tzs_date(const char **pp, struct tz_rdate *rd)
{
	const char	*p = *pp;

	memset(rd, 0, sizeof(*rd));
	if (*p == 'J') {
		p++;
		rd->rd_kind = 'J';
		if (tzs_num(&p, 1, 365, &rd->rd_n) != 0)
			return (-1);
	} else if (*p == 'M') {
		p++;
		rd->rd_kind = 'M';
		if (tzs_num(&p, 1, 12, &rd->rd_m) != 0 || *p++ != '.' ||
		    tzs_num(&p, 1, 5, &rd->rd_w) != 0 || *p++ != '.' ||
		    tzs_num(&p, 0, 6, &rd->rd_d) != 0)
			return (-1);
	} else {
		rd->rd_kind = 'N';
		if (tzs_num(&p, 0, 365, &rd->rd_n) != 0)
			return (-1);
	}
	rd->rd_secs = 7200;
	if (*p == '/') {
		p++;
		if (tzs_hms(&p, 167, &rd->rd_secs) != 0)
			return (-1);
	}
	*pp = p;
	return (0);
}

/* s: the footer without its newlines, "" when the file has none. */
static int
tzs_parse(const char *s, struct tz_rule *r)
{
	const char	*p = s;
	int32_t		 v;

	memset(r, 0, sizeof(*r));
	if (*s == '\0')
		return (0);
	r->tr_has = 1;
	/* POSIX offsets count west of Greenwich: "EST5" is UTC-5. */
	if (tzs_name(&p) != 0 || tzs_hms(&p, 24, &v) != 0)
		return (-1);
	r->tr_std = -v;
	if (*p == '\0')
		return (0);
	r->tr_dst = 1;
	if (tzs_name(&p) != 0)
		return (-1);
	r->tr_dstoff = r->tr_std + 3600;
	if (*p != ',' && *p != '\0') {
		if (tzs_hms(&p, 24, &v) != 0)
			return (-1);
		r->tr_dstoff = -v;
	}
	if (*p == '\0') {
		/* No rule given: the US rule, as glibc assumes. */
		p = ",M3.2.0,M11.1.0";
	}
	if (*p++ != ',' || tzs_date(&p, &r->tr_start) != 0 ||
	    *p++ != ',' || tzs_date(&p, &r->tr_end) != 0 || *p != '\0')
		return (-1);
	if (r->tr_std < -TZ_OFFSET_MAX || r->tr_std > TZ_OFFSET_MAX ||
	    r->tr_dstoff < -TZ_OFFSET_MAX || r->tr_dstoff > TZ_OFFSET_MAX)
		return (-1);
	return (0);
}

/* The wall-clock instant (local seconds as if UTC) of rd in year y. */
static int64_t
tzs_when(const struct tz_rdate *rd, int64_t y)
{
	int64_t	 days, first;
	int	 wd, day, dim;

	switch (rd->rd_kind) {
	case 'J':
		/* 1-365, February 29 never counted. */
		days = tz_days_from_civil(y, 1, 1) + rd->rd_n - 1 +
		    (tz_leap(y) && rd->rd_n >= 60);
		break;
	case 'N':
		days = tz_days_from_civil(y, 1, 1) + rd->rd_n;
		break;
	default:
		first = tz_days_from_civil(y, rd->rd_m, 1);
		wd = (int)((first % 7 + 11) % 7);	/* 1970-01-01: Thu */
		day = 1 + (rd->rd_d - wd + 7) % 7 + (rd->rd_w - 1) * 7;
		dim = tz_days_in_month(y, rd->rd_m);
		while (day > dim)
			day -= 7;	/* week 5: the last such weekday */
		days = first + day - 1;
		break;
	}
	return (days * 86400 + rd->rd_secs);
}

static int32_t
tz_rule_offset(const struct tz_rule *r, int64_t t, int64_t *start,
    int64_t *end)
{
	struct {
		int64_t	 at;
		int32_t	 off;
		int	 to_std;
	}		 ev[6], tmp;
	int64_t		 y, yy;
	int		 m, d, n = 0, i, j, found = 0;
	int32_t		 off;

	*start = TZ_TIME_MIN;
	*end = TZ_TIME_MAX;
	if (!r->tr_dst)
		return (r->tr_std);
	/* The changes of the year around t and of its neighbours: the
	 * last one at or before t gives the offset, the next ends it. */
	tz_civil_from_days(tz_floor_div(t, 86400), &y, &m, &d);
	for (yy = y - 1; yy <= y + 1; yy++) {
		/* A change happens at a local time of the offset it ends. */
		ev[n].at = tzs_when(&r->tr_start, yy) - r->tr_std;
		ev[n].off = r->tr_dstoff;
		ev[n++].to_std = 0;
		ev[n].at = tzs_when(&r->tr_end, yy) - r->tr_dstoff;
		ev[n].off = r->tr_std;
		ev[n++].to_std = 1;
	}
	/* Sorted by time; at a tie (daylight all year, "J365/25" ending
	 * where the next year starts) the change to daylight comes last. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && (ev[j - 1].at > ev[j].at ||
		    (ev[j - 1].at == ev[j].at && !ev[j - 1].to_std &&
		    ev[j].to_std)); j--) {
			tmp = ev[j];
			ev[j] = ev[j - 1];
			ev[j - 1] = tmp;
		}
	off = ev[0].to_std ? r->tr_dstoff : r->tr_std;
	for (i = 0; i < n; i++) {
		if (ev[i].at > t) {
			*end = ev[i].at;
			break;
		}
		off = ev[i].off;
		*start = ev[i].at;
		found = 1;
	}
	if (!found)
		*start = TZ_TIME_MIN;
	return (off);
}

/* ---- TZif ---------------------------------------------------------------- */

static uint32_t
tz_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

static int64_t
tz_be64(const unsigned char *p)
{
	return ((int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4)));
}

/*
 * Reads the counts of the header at p; *size gets the length of the data
 * block after it, with times of tsize bytes.  -1 if they are out of the
 * bounds this code accepts.
 */
static int
tz_header(const unsigned char *p, size_t tsize, uint32_t cnt[6],
    size_t *size)
{
	int	 i;

	if (memcmp(p, "TZif", 4) != 0)
		return (-1);
	for (i = 0; i < 6; i++)
		cnt[i] = tz_be32(p + 20 + 4 * i);
	/* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
	if (cnt[3] > TZ_TIMES_MAX || cnt[4] == 0 || cnt[4] > TZ_TYPES_MAX ||
	    cnt[5] > 4096 || cnt[2] > 1024 ||
	    (cnt[0] != 0 && cnt[0] != cnt[4]) ||
	    (cnt[1] != 0 && cnt[1] != cnt[4]))
		return (-1);
	*size = cnt[3] * (tsize + 1) + cnt[4] * 6 + cnt[5] +
	    cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
	return (0);
}

static int
tz_parse(struct tz_zone *z, const unsigned char *p, size_t len,
    const char **why)
{
	uint32_t		 cnt[6];
	size_t			 size, tsize = 4, i;
	const unsigned char	*d, *nl;
	char			 footer[TZ_FOOTER_MAX];
	int64_t			 t;

	*why = "not a TZif file";
	if (len < TZ_HDR_LEN || tz_header(p, 4, cnt, &size) != 0)
		return (-1);
	if (p[4] >= '2') {
		/* Version 2+: skip the 32-bit block, read the 64-bit one. */
		if (len < TZ_HDR_LEN * 2 + size)
			return (-1);
		p += TZ_HDR_LEN + size;
		len -= TZ_HDR_LEN + size;
		tsize = 8;
		if (tz_header(p, 8, cnt, &size) != 0)
			return (-1);
	}
	if (len < TZ_HDR_LEN + size)
		return (-1);
	if (cnt[2] != 0) {
		*why = "leap seconds (a right/ zone) are not supported";
		return (-1);
	}
	z->tz_ntimes = cnt[3];
	z->tz_ntypes = cnt[4];
	if ((z->tz_times = calloc(cnt[3] + 1, sizeof(*z->tz_times))) == NULL ||
	    (z->tz_idx = calloc(cnt[3] + 1, 1)) == NULL ||
	    (z->tz_offs = calloc(cnt[4], sizeof(*z->tz_offs))) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	*why = "malformed TZif data";
	d = p + TZ_HDR_LEN;
	for (i = 0; i < cnt[3]; i++, d += tsize) {
		t = tsize == 8 ? tz_be64(d) : (int32_t)tz_be32(d);
		if (t <= TZ_TIME_MIN || t >= TZ_TIME_MAX ||
		    (i > 0 && t <= z->tz_times[i - 1]))
			return (-1);
		z->tz_times[i] = t;
	}
	for (i = 0; i < cnt[3]; i++, d++) {
		if (*d >= cnt[4])
			return (-1);
		z->tz_idx[i] = *d;
	}
	for (i = 0; i < cnt[4]; i++, d += 6) {
		z->tz_offs[i] = (int32_t)tz_be32(d);
		if (z->tz_offs[i] < -TZ_OFFSET_MAX ||
		    z->tz_offs[i] > TZ_OFFSET_MAX)
			return (-1);
	}
	if (tsize == 4)
		return (0);	/* version 1: no footer */
	d = p + TZ_HDR_LEN + size;
	len -= TZ_HDR_LEN + size;
	if (len < 2 || *d != '\n' ||
	    (nl = memchr(d + 1, '\n', len - 1)) == NULL ||
	    (size_t)(nl - d - 1) >= sizeof(footer))
		return (-1);
	memcpy(footer, d + 1, (size_t)(nl - d - 1));
	footer[nl - d - 1] = '\0';
	if (tzs_parse(footer, &z->tz_rule) != 0) {
		*why = "malformed POSIX TZ footer";
		return (-1);
	}
	return (0);
}

static void
tz_zone_free(struct tz_zone *z)
{
	if (z == NULL)
		return;
	free(z->tz_path);
	free(z->tz_times);
	free(z->tz_idx);
	free(z->tz_offs);
	free(z);
}

/* Letters, digits and "/_+-" in components that are not empty: no "..",
 * no absolute path, nothing a shell or a log line would trip on. */
static int
tz_name_ok(const char *name)
{
	const char	*p;
	size_t		 len = strlen(name);

	if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' ||
	    name[len - 1] == '/' || strstr(name, "//") != NULL ||
	    strstr(name, "..") != NULL)
		return (0);
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
			return (0);
	return (1);
}

const struct tz_zone *
tz_get(const char *name, char *err, size_t errlen)
{
	struct tz_zone	*z = NULL;
	const char	*dir, *why = NULL;
	char		 path[512], *data = NULL;
	size_t		 len;
	int		 n;

	if (name == NULL || !tz_name_ok(name)) {
		/* Not echoed: it may hold anything, bytes that are not
		 * UTF-8 included, and errors end up in JSON and logs. */
		snprintf(err, errlen, "malformed time zone name (letters, "
		    "digits and \"/_+-\" only, not starting with \"/\")");
		return (NULL);
	}
	if ((dir = getenv("TZDIR")) == NULL || *dir == '\0')
		dir = TZ_DIR_DEFAULT;
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "unknown time zone '%.64s'", name);
		return (NULL);
	}
	pthread_mutex_lock(&tz_lock);
	for (z = tz_cache; z != NULL; z = z->tz_next)
		if (strcmp(z->tz_path, path) == 0)
			goto done;
	if ((data = util_read_file(path, TZ_FILE_MAX, &len)) == NULL) {
		snprintf(err, errlen, "unknown time zone '%.64s'", name);
		goto done;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL ||
	    (z->tz_path = strdup(path)) == NULL) {
		why = "out of memory";
		goto fail;
	}
	if (tz_parse(z, (const unsigned char *)data, len, &why) != 0)
		goto fail;
	z->tz_next = tz_cache;
	tz_cache = z;
	goto done;
 fail:
	snprintf(err, errlen, "time zone '%.64s': %s", name, why);
	tz_zone_free(z);
	z = NULL;
 done:
	pthread_mutex_unlock(&tz_lock);
	free(data);
	return (z);
}

int32_t
tz_offset(const struct tz_zone *z, int64_t t, int64_t *start, int64_t *end)
{
	size_t	 lo, hi, mid, n;
	int32_t	 off;

	if (z == NULL) {
		*start = TZ_TIME_MIN;
		*end = TZ_TIME_MAX;
		return (0);
	}
	n = z->tz_ntimes;
	if (n == 0 && z->tz_rule.tr_has)
		return (tz_rule_offset(&z->tz_rule, t, start, end));
	if (n == 0 || t < z->tz_times[0]) {
		/* Before the first transition: type 0 (RFC 8536 3.2). */
		*start = TZ_TIME_MIN;
		*end = n == 0 ? TZ_TIME_MAX : z->tz_times[0];
		return (z->tz_offs[0]);
	}
	/* The last transition at or before t. */
	lo = 0;
	hi = n;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (z->tz_times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (lo + 1 < n) {
		*start = z->tz_times[lo];
		*end = z->tz_times[lo + 1];
		return (z->tz_offs[z->tz_idx[lo]]);
	}
	if (!z->tz_rule.tr_has) {
		*start = z->tz_times[lo];
		*end = TZ_TIME_MAX;
		return (z->tz_offs[z->tz_idx[lo]]);
	}
	off = tz_rule_offset(&z->tz_rule, t, start, end);
	if (*start < z->tz_times[lo])
		*start = z->tz_times[lo];
	return (off);
}
