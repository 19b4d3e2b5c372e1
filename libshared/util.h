/*
 * util.h - small helpers: time, ids, bounded number parsing, constant-time
 * comparison, timestamps.  All functions are thread-safe.
 */
#ifndef SH_UTIL_H
#define SH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_UUID_LEN	37	/* 36 characters and the NUL */

/* Monotonic clock in milliseconds, for timeouts and intervals. */
uint64_t	 util_now_ms(void);
/* Monotonic clock in nanoseconds, for latency measurement. */
uint64_t	 util_now_ns(void);
/* Wall clock in milliseconds since the epoch, for stored timestamps. */
int64_t		 util_wall_ms(void);

/* Writes a random (v4) UUID in canonical lowercase form into out. */
void		 util_uuid4(char out[UTIL_UUID_LEN]);
/*
 * Writes the name-based (v5, SHA-1) UUID of name in namespace ns (a
 * canonical UUID string).  Returns 0, or SH_EINVAL if ns is not a UUID.
 */
int		 util_uuid5(const char *ns, const char *name,
		    char out[UTIL_UUID_LEN]);
/* Returns 1 if s is a canonical hyphenated UUID (any case), else 0. */
int		 util_uuid_valid(const char *s);

/*
 * strtonum(3) in spirit: parses a whole decimal integer in [min, max].
 * Returns 0 and sets *out, or SH_EINVAL (not a number, trailing junk,
 * out of range).
 */
int		 util_strtonum(const char *s, long long min, long long max,
		    long long *out);

/* Formats ms since the epoch as RFC 3339 UTC, "2025-01-15T10:30:00Z". */
void		 util_rfc3339(int64_t ms, char out[32]);
/*
 * Parses an RFC 3339 time, "2025-01-15T10:30:00Z", with optional
 * fraction (ms kept) and a "Z" or "+hh:mm" offset ("t", "z" and a space
 * for "T" accepted).  Returns 0 and *ms since the epoch, or SH_EINVAL.
 */
int		 util_rfc3339_parse(const char *s, int64_t *ms);

/* Constant-time equality of two byte strings (length leaks, content not). */
int		 util_ct_equal(const char *a, size_t alen, const char *b,
		    size_t blen);
/* Writes in[0..n) as 2n lowercase hex digits and a NUL into out. */
void		 util_hex(const unsigned char *in, size_t n, char *out);

/*
 * Writes the SHA-256 of data[0..len) as 64 lowercase hex digits and a NUL
 * into out.  Returns 0, or SH_EIO (out is then "") if OpenSSL fails.
 */
int		 util_sha256_hex(const void *data, size_t len, char out[65]);

/* Length (1-4) of the well-formed UTF-8 sequence at s, with n > 0 bytes
 * left; 0 if it is not one (overlong, surrogate, past U+10FFFF, cut). */
size_t		 util_utf8_len(const unsigned char *s, size_t n);
/* Returns 1 if s[0..len) is well-formed UTF-8, else 0. */
int		 util_utf8_valid(const unsigned char *s, size_t len);

/* Reads a whole file into a new NUL-terminated buffer (caller frees). */
char		*util_read_file(const char *path, size_t max, size_t *lenp);
/*
 * Replaces path with text[0..len) atomically: a temporary file in the
 * same directory, written, synced, renamed over path, and the directory
 * synced; a reader sees the old file or the new one, never half of one.
 * The file keeps its permissions (0600 when new).  0, or -1 with a
 * message in err (path untouched).
 */
int		 util_write_atomic(const char *path, const char *text,
		    size_t len, char *err, size_t errlen);

/* Sleeps for ms milliseconds (restarts on EINTR). */
void		 util_sleep_ms(unsigned int ms);

#endif /* SH_UTIL_H */
