/*
 * approval/totp.c - RFC 6238 codes, RFC 4648 base32, the otpauth:// URI,
 * the vault's sealing (AES-256-GCM) and its key (totp.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "approval/totp.h"
#include "buf.h"
#include "log.h"

#define TOTP_NONCE_BYTES	12
#define TOTP_TAG_BYTES		16
#define TOTP_AAD		"librefang-vault-v1:totp_secret"

static const unsigned long totp_pow10[] = {
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000
};

long
totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter,
    int digits)
{
	unsigned char	 msg[8], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, off;
	unsigned long	 bin;
	int		 i;

	if (key == NULL || digits < 6 || digits > 8 || keylen > INT32_MAX)
		return (-1);
	for (i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), md,
	    &mdlen) == NULL || mdlen < 20)
		return (-1);
	/* RFC 4226 5.3: dynamic truncation. */
	off = md[mdlen - 1] & 0x0f;
	bin = ((unsigned long)(md[off] & 0x7f) << 24) |
	    ((unsigned long)md[off + 1] << 16) |
	    ((unsigned long)md[off + 2] << 8) | (unsigned long)md[off + 3];
	return ((long)(bin % totp_pow10[digits]));
}

int
totp_code(const unsigned char *key, size_t keylen, int64_t t, int digits,
    char *out, size_t outlen)
{
	long	v;
	int	i;

	if (t < 0 || outlen < (size_t)digits + 1 ||
	    (v = totp_hotp(key, keylen, (uint64_t)(t / TOTP_STEP_SECS),
	    digits)) < 0)
		return (-1);
	for (i = digits - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[digits] = '\0';
	return (0);
}

int
totp_check(const unsigned char *key, size_t keylen, int64_t t,
    const char *code, int64_t *step)
{
	char	want[TOTP_DIGITS + 1];
	int64_t	s, base;
	int	i, found = 0;

	if (code == NULL || strlen(code) != TOTP_DIGITS)
		return (-1);
	for (i = 0; i < TOTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			return (-1);
	base = t / TOTP_STEP_SECS;
	/* Every step is computed and compared, so the time taken does not
	 * say which one matched. */
	for (s = base - TOTP_SKEW_STEPS; s <= base + TOTP_SKEW_STEPS; s++) {
		if (s < 0 || totp_code(key, keylen, s * TOTP_STEP_SECS,
		    TOTP_DIGITS, want, sizeof(want)) != 0)
			continue;
		if (CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0 && !found) {
			found = 1;
			*step = s;
		}
	}
	return (found);
}

static const char totp_b32_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int
totp_b32_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t		 i, o = 0, need;
	unsigned int	 acc = 0;
	int		 bits = 0;

	need = (n + 4) / 5 * 8;
	if (outlen < need + 1)
		return (-1);
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = totp_b32_alpha[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = totp_b32_alpha[(acc << (5 - bits)) & 31];
	while (o < need)
		out[o++] = '=';
	out[o] = '\0';
	return ((int)o);
}

int
totp_b32_decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t		 i, len, data, n = 0;
	unsigned int	 acc = 0;
	int		 bits = 0, v, c;

	len = strlen(in);
	for (data = len; data > 0 && in[data - 1] == '='; data--)
		;
	/* Padding, when present, completes a block of 8; a data length of
	 * 1, 3 or 6 modulo 8 is never a whole number of bytes. */
	if ((data != len && len % 8 != 0) || len - data > 6 ||
	    data % 8 == 1 || data % 8 == 3 || data % 8 == 6)
		return (-1);
	for (i = 0; i < data; i++) {
		c = toupper((unsigned char)in[i]);
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return (-1);
		acc = (acc << 5) | (unsigned int)v;
		bits += 5;
		if (bits >= 8) {
			if (n >= outlen)
				return (-1);
			out[n++] = (unsigned char)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return ((int)n);
}

/* RFC 3986 unreserved characters pass, everything else is %XX. */
static int
totp_pct(struct buf *b, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 e[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~') {
			if (buf_add(b, p, 1) != 0)
				return (-1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		if (buf_add(b, e, 3) != 0)
			return (-1);
	}
	return (0);
}

char *
totp_uri(const char *issuer, const char *account, const char *secret_b32)
{
	struct buf	 b;
	char		*s = NULL;

	buf_init(&b, 8192);
	if (buf_adds(&b, "otpauth://totp/") == 0 &&
	    totp_pct(&b, issuer) == 0 && buf_adds(&b, ":") == 0 &&
	    totp_pct(&b, account) == 0 &&
	    buf_adds(&b, "?secret=") == 0 &&
	    totp_pct(&b, secret_b32) == 0 &&
	    buf_adds(&b, "&issuer=") == 0 && totp_pct(&b, issuer) == 0 &&
	    buf_addf(&b, "&algorithm=SHA1&digits=%d&period=%d", TOTP_DIGITS,
	    TOTP_STEP_SECS) == 0)
		s = buf_detach(&b);
	buf_release(&b);
	return (s);
}

static int
totp_unhex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

char *
totp_seal(const unsigned char key[TOTP_KEY_BYTES], const unsigned char *in,
    size_t n)
{
	EVP_CIPHER_CTX	*ctx = NULL;
	unsigned char	*raw = NULL;
	char		*hex = NULL;
	size_t		 rawlen;
	int		 len, ok = 0;

	if (n > 4096)
		return (NULL);
	rawlen = TOTP_NONCE_BYTES + n + TOTP_TAG_BYTES;
	if ((raw = malloc(rawlen)) == NULL ||
	    (hex = malloc(2 * rawlen + 1)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto done;
	if (RAND_bytes(raw, TOTP_NONCE_BYTES) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len,
	    (const unsigned char *)TOTP_AAD, (int)strlen(TOTP_AAD)) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + TOTP_NONCE_BYTES, &len, in,
	    (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, raw + TOTP_NONCE_BYTES + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TOTP_TAG_BYTES,
	    raw + TOTP_NONCE_BYTES + n) != 1)
		goto done;
	util_hex(raw, rawlen, hex);
	ok = 1;
 done:
	EVP_CIPHER_CTX_free(ctx);
	if (raw != NULL)
		OPENSSL_cleanse(raw, rawlen);
	free(raw);
	if (!ok) {
		free(hex);
		hex = NULL;
	}
	return (hex);
}

int
totp_open(const unsigned char key[TOTP_KEY_BYTES], const char *hex,
    unsigned char *out, size_t outlen)
{
	EVP_CIPHER_CTX	*ctx = NULL;
	unsigned char	 raw[TOTP_NONCE_BYTES + 256 + TOTP_TAG_BYTES];
	size_t		 hexlen, rawlen, n, i;
	int		 hi, lo, len, ret = -1;

	hexlen = strlen(hex);
	if (hexlen % 2 != 0 || hexlen / 2 > sizeof(raw) ||
	    hexlen / 2 < TOTP_NONCE_BYTES + TOTP_TAG_BYTES)
		return (-1);
	rawlen = hexlen / 2;
	for (i = 0; i < rawlen; i++) {
		if ((hi = totp_unhex_digit(hex[2 * i])) < 0 ||
		    (lo = totp_unhex_digit(hex[2 * i + 1])) < 0)
			return (-1);
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	n = rawlen - TOTP_NONCE_BYTES - TOTP_TAG_BYTES;
	if (n > outlen || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto done;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len,
	    (const unsigned char *)TOTP_AAD, (int)strlen(TOTP_AAD)) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &len, raw + TOTP_NONCE_BYTES,
	    (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TOTP_TAG_BYTES,
	    raw + TOTP_NONCE_BYTES + n) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + len, &len) != 1) {
		OPENSSL_cleanse(out, n);
		goto done;
	}
	ret = (int)n;
 done:
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(raw, sizeof(raw));
	return (ret);
}

int
totp_key_from_text(const char *text, unsigned char key[TOTP_KEY_BYTES])
{
	unsigned int	len = 0;

	if (text == NULL || strlen(text) < TOTP_VAULT_KEY_MIN)
		return (-1);
	if (EVP_Digest(text, strlen(text), key, &len, EVP_sha256(), NULL) !=
	    1 || len != TOTP_KEY_BYTES)
		return (-1);
	return (0);
}

void
totp_key_id(const unsigned char key[TOTP_KEY_BYTES], char out[17])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	len = 0;

	/* A hash of the key under a label, so the stored fingerprint says
	 * nothing usable about the key itself. */
	if (HMAC(EVP_sha256(), key, TOTP_KEY_BYTES,
	    (const unsigned char *)"librefang-vault-key-id", 22, md,
	    &len) == NULL)
		memset(md, 0, 8);
	util_hex(md, 8, out);
}

void
totp_hash(const unsigned char key[TOTP_KEY_BYTES], const char *s,
    char out[65])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	len = 0;

	if (HMAC(EVP_sha256(), key, TOTP_KEY_BYTES, (const unsigned char *)s,
	    strlen(s), md, &len) == NULL)
		memset(md, 0, 32);
	util_hex(md, 32, out);
}

int
totp_recovery_norm(const char *s, char *out, size_t outlen)
{
	size_t	i;

	if (s == NULL || strlen(s) != TOTP_RECOVERY_LEN ||
	    outlen < TOTP_RECOVERY_LEN + 1)
		return (-1);
	for (i = 0; i < TOTP_RECOVERY_LEN; i++) {
		if (!isalnum((unsigned char)s[i]))
			return (-1);
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[i] = '\0';
	return (0);
}
