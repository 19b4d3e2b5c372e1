/*
 * util.c - time, ids, number parsing, comparisons.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uuid/uuid.h>

#include "err.h"
#include "util.h"

uint64_t
util_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
util_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

int64_t
util_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* uuid_unparse_lower() without its sprintf: 16 bytes as 8-4-4-4-12 hex
 * digits (a measurable part of a short HTTP response's cost). */
static void
util_uuid_text(const unsigned char u[16], char out[UTIL_UUID_LEN])
{
	static const char	hex[] = "0123456789abcdef";
	int			i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 0x0f];
	}
	out[o] = '\0';
}

/*
 * Random bytes come from a per-thread buffer refilled by getrandom(2): one
 * system call per 256 ids, not one per id (every HTTP response needs one).
 */
void
util_uuid4(char out[UTIL_UUID_LEN])
{
	static _Thread_local unsigned char	 pool[4096];
	static _Thread_local size_t		 off = sizeof(pool);
	uuid_t					 u;

	if (off + sizeof(u) > sizeof(pool)) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool)) {
			uuid_generate_random(u);
			uuid_unparse_lower(u, out);
			return;
		}
		off = 0;
	}
	memcpy(u, pool + off, sizeof(u));
	off += sizeof(u);
	u[6] = (u[6] & 0x0f) | 0x40;		/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;		/* RFC 4122 variant */
	util_uuid_text(u, out);
}

int
util_uuid5(const char *ns, const char *name, char out[UTIL_UUID_LEN])
{
	uuid_t		 nsu;
	EVP_MD_CTX	*md_ctx;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	int		 ok;

	if (!util_uuid_valid(ns) || uuid_parse(ns, nsu) != 0)
		return (SH_EINVAL);
	if ((md_ctx = EVP_MD_CTX_new()) == NULL)
		return (SH_ENOMEM);
	ok = EVP_DigestInit_ex(md_ctx, EVP_sha1(), NULL) &&
	    EVP_DigestUpdate(md_ctx, nsu, sizeof(nsu)) &&
	    EVP_DigestUpdate(md_ctx, name, strlen(name)) &&
	    EVP_DigestFinal_ex(md_ctx, md, &mdlen);
	EVP_MD_CTX_free(md_ctx);
	if (!ok || mdlen < 16)
		return (SH_EIO);
	md[6] = (md[6] & 0x0f) | 0x50;		/* version 5 */
	md[8] = (md[8] & 0x3f) | 0x80;		/* RFC 4122 variant */
	uuid_unparse_lower(md, out);
	return (0);
}

int
util_uuid_valid(const char *s)
{
	static const char	hex[] = "0123456789abcdefABCDEF";
	int			i;

	if (s == NULL || strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (strchr(hex, s[i]) == NULL || s[i] == '\0')
			return (0);
	}
	return (1);
}

int
util_strtonum(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || min > max)
		return (SH_EINVAL);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
		return (SH_EINVAL);
	*out = v;
	return (0);
}

void
util_rfc3339(int64_t ms, char out[32])
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* n decimal digits at *sp, advancing it; -1 if not. */
static int
digits(const char **sp, int n)
{
	int	v = 0;

	for (; n > 0; n--, (*sp)++) {
		if (**sp < '0' || **sp > '9')
			return (-1);
		v = v * 10 + (**sp - '0');
	}
	return (v);
}

int
util_rfc3339_parse(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct tm	 tm;
	int		 y, mo, d, h, mi, sec, frac = 0, scale = 100, off = 0;
	int		 oh, om, leap;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if ((y = digits(&s, 4)) < 0 || *s++ != '-' ||
	    (mo = digits(&s, 2)) < 1 || mo > 12 || *s++ != '-' ||
	    (d = digits(&s, 2)) < 1 || d > mdays[mo - 1])
		return (SH_EINVAL);
	if (*s != 'T' && *s != 't' && *s != ' ')
		return (SH_EINVAL);
	s++;
	if ((h = digits(&s, 2)) < 0 || h > 23 || *s++ != ':' ||
	    (mi = digits(&s, 2)) < 0 || mi > 59 || *s++ != ':' ||
	    (sec = digits(&s, 2)) < 0 || sec > 60)
		return (SH_EINVAL);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return (SH_EINVAL);
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return (SH_EINVAL);
		for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
			frac += (*s - '0') * scale;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		off = *s++ == '-' ? -1 : 1;
		if ((oh = digits(&s, 2)) < 0 || oh > 23 || *s++ != ':' ||
		    (om = digits(&s, 2)) < 0 || om > 59)
			return (SH_EINVAL);
		off *= oh * 3600 + om * 60;
	} else
		return (SH_EINVAL);
	if (*s != '\0')
		return (SH_EINVAL);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*ms = ((int64_t)t - off) * 1000 + frac;
	return (0);
}

int
util_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return (0);
	return (CRYPTO_memcmp(a, b, alen) == 0);
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
util_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char		md[EVP_MAX_MD_SIZE];
	unsigned int		mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		out[0] = '\0';
		return (SH_EIO);
	}
	util_hex(md, mdlen, out);
	return (0);
}

char *
util_read_file(const char *path, size_t max, size_t *lenp)
{
	struct stat	 st;
	char		*data = NULL;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		errno = (errno == 0 || S_ISREG(st.st_mode)) ? EFBIG : EINVAL;
		goto fail;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)st.st_size) {
		n = read(fd, data + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	data[off] = '\0';
	close(fd);
	if (lenp != NULL)
		*lenp = off;
	return (data);
 fail:
	free(data);
	close(fd);
	return (NULL);
}

void
util_sleep_ms(unsigned int ms)
{
	struct timespec	ts, rem;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

size_t
util_utf8_len(const unsigned char *s, size_t n)
{
	size_t		len, i;
	unsigned int	cp;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return (0);
	if (n < len)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return (0);
	return (len);
}

int
util_utf8_valid(const unsigned char *s, size_t len)
{
	size_t	i, n;

	for (i = 0; i < len; i += n)
		if ((n = util_utf8_len(s + i, len - i)) == 0)
			return (0);
	return (1);
}

int
util_write_atomic(const char *path, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct stat	st;
	char		tmp[PATH_MAX + 32], dir[PATH_MAX];
	const char	*slash;
	size_t		off = 0;
	ssize_t		n;
	int		fd, dfd, rv = -1;
	mode_t		mode = 0600;

	if (strlen(path) >= PATH_MAX) {
		snprintf(err, errlen, "path too long");
		return (-1);
	}
	if (stat(path, &st) == 0)
		mode = st.st_mode & 0777;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) < 0) {
		snprintf(err, errlen, "could not create %s: %s", tmp,
		    strerror(errno));
		return (-1);
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "could not write %s: %s", tmp,
			    strerror(errno));
			goto done;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "could not sync %s: %s", tmp,
		    strerror(errno));
		goto done;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "could not rename %s: %s", tmp,
		    strerror(errno));
		goto done;
	}
	rv = 0;
	/* The rename itself is durable once the directory is synced. */
	if ((slash = strrchr(path, '/')) != NULL) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) > 0 ?
		    (int)(slash - path) : 1, path);
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >=
		    0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
 done:
	close(fd);
	if (rv != 0)
		(void)unlink(tmp);
	return (rv);
}
