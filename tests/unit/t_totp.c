/*
 * t_totp.c - approval/totp.c: RFC 6238 appendix B (SHA-1, 8 digits as
 * there, 6 as used), RFC 4226 appendix D, the skew window, RFC 4648
 * base32 vectors, the otpauth URI, the vault's sealing, recovery codes.
 */
#include <stdlib.h>
#include <string.h>

#include "approval/totp.h"
#include "tap.h"

static const unsigned char seed[] = "12345678901234567890";	/* 20 bytes */
#define SEED_LEN	20

static const struct {
	int64_t		 t;
	const char	*code8;
} rfc6238[] = {
	{ 59LL, "94287082" },
	{ 1111111109LL, "07081804" },
	{ 1111111111LL, "14050471" },
	{ 1234567890LL, "89005924" },
	{ 2000000000LL, "69279037" },
	{ 20000000000LL, "65353130" },
};

static int
t_rfc6238_8(void)
{
	char	out[16];
	size_t	i;

	for (i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		T_EQ_INT(totp_code(seed, SEED_LEN, rfc6238[i].t, 8, out,
		    sizeof(out)), 0);
		T_EQ_STR(out, rfc6238[i].code8);
	}
	return (0);
}

static int
t_rfc6238_6(void)
{
	char	out[16];
	size_t	i;

	/* 6 digits are the 8's last six (the same number mod 10^6). */
	for (i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		T_EQ_INT(totp_code(seed, SEED_LEN, rfc6238[i].t, 6, out,
		    sizeof(out)), 0);
		T_EQ_STR(out, rfc6238[i].code8 + 2);
	}
	T_EQ_INT(totp_code(seed, SEED_LEN, 59, 6, out, 6), -1);
	T_EQ_INT(totp_code(seed, SEED_LEN, 59, 5, out, sizeof(out)), -1);
	T_EQ_INT(totp_code(seed, SEED_LEN, -1, 6, out, sizeof(out)), -1);
	return (0);
}

static int
t_rfc4226(void)
{
	static const long	want[] = { 755224, 287082, 359152, 969429,
	    338314, 254676, 287922, 162583, 399871, 520489 };
	uint64_t		i;

	for (i = 0; i < 10; i++)
		T_EQ_INT(totp_hotp(seed, SEED_LEN, i, 6), want[i]);
	T_EQ_INT(totp_hotp(seed, SEED_LEN, 0, 9), -1);
	return (0);
}

static int
t_check_vectors(void)
{
	int64_t	step = -1;
	size_t	i;

	for (i = 0; i < sizeof(rfc6238) / sizeof(rfc6238[0]); i++) {
		T_EQ_INT(totp_check(seed, SEED_LEN, rfc6238[i].t,
		    rfc6238[i].code8 + 2, &step), 1);
		T_EQ_INT(step, rfc6238[i].t / 30);
	}
	return (0);
}

static int
t_skew(void)
{
	const int64_t	t = 1111111111LL;	/* step 37037037, second 1 */
	int64_t		step = -1;
	const char	*code = "050471";

	T_EQ_INT(totp_check(seed, SEED_LEN, t + 30, code, &step), 1);
	T_EQ_INT(step, 37037037);
	T_EQ_INT(totp_check(seed, SEED_LEN, t - 30, code, &step), 1);
	T_EQ_INT(totp_check(seed, SEED_LEN, t + 58, code, &step), 1);
	T_EQ_INT(totp_check(seed, SEED_LEN, t - 31, code, &step), 1);
	T_EQ_INT(totp_check(seed, SEED_LEN, t - 32, code, &step), 0);
	T_EQ_INT(totp_check(seed, SEED_LEN, t + 59, code, &step), 0);
	T_EQ_INT(totp_check(seed, SEED_LEN, t + 60, code, &step), 0);
	T_EQ_INT(totp_check(seed, SEED_LEN, t - 60, code, &step), 0);
	T_EQ_INT(totp_check(seed, SEED_LEN, t, "050472", &step), 0);
	return (0);
}

static int
t_check_malformed(void)
{
	static const char *const bad[] = { "", "05047", "0504711", "05047a",
	    " 50471", "050471 ", "+50471", "-50471", NULL };
	int64_t		step;
	size_t		i;

	for (i = 0; bad[i] != NULL; i++)
		T_EQ_INT(totp_check(seed, SEED_LEN, 1111111111LL, bad[i],
		    &step), -1);
	T_EQ_INT(totp_check(seed, SEED_LEN, 1111111111LL, NULL, &step), -1);
	return (0);
}

static const struct {
	const char	*in, *b32;
} rfc4648[] = {
	{ "", "" }, { "f", "MY======" }, { "fo", "MZXQ====" },
	{ "foo", "MZXW6===" }, { "foob", "MZXW6YQ=" },
	{ "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI======" },
};

static int
t_base32(void)
{
	unsigned char	out[64];
	char		enc[64];
	size_t		i;
	int		n;

	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		n = totp_b32_encode((const unsigned char *)rfc4648[i].in,
		    strlen(rfc4648[i].in), enc, sizeof(enc));
		T_EQ_INT(n, strlen(rfc4648[i].b32));
		T_EQ_STR(enc, rfc4648[i].b32);
		n = totp_b32_decode(rfc4648[i].b32, out, sizeof(out));
		T_EQ_INT(n, strlen(rfc4648[i].in));
		T_OK(memcmp(out, rfc4648[i].in, (size_t)n) == 0);
	}
	/* Unpadded and lowercase decode too; the seed's base32. */
	T_EQ_INT(totp_b32_decode("mzxw6ytboi", out, sizeof(out)), 6);
	T_OK(memcmp(out, "foobar", 6) == 0);
	T_EQ_INT(totp_b32_encode(seed, SEED_LEN, enc, sizeof(enc)), 32);
	T_EQ_STR(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	return (0);
}

static int
t_base32_bad(void)
{
	static const char *const bad[] = { "MY=====", "M1======",
	    "M=======", "MY==MY==", "MZX", "MZXW6Y", "MY=======", NULL };
	unsigned char	out[64];
	char		enc[8];
	size_t		i;

	for (i = 0; bad[i] != NULL; i++)
		if (totp_b32_decode(bad[i], out, sizeof(out)) != -1) {
			printf("# '%s' decoded\n", bad[i]);
			return (-1);
		}
	T_EQ_INT(totp_b32_decode("MZXW6YTBOI======", out, 5), -1);
	T_EQ_INT(totp_b32_encode((const unsigned char *)"foobar", 6, enc,
	    sizeof(enc)), -1);
	return (0);
}

static int
t_uri(void)
{
	char	*u;

	u = totp_uri("Libre Fang", "admin@x", "JBSWY3DPEHPK3PXP");
	T_EQ_STR(u, "otpauth://totp/Libre%20Fang:admin%40x?secret="
	    "JBSWY3DPEHPK3PXP&issuer=Libre%20Fang&algorithm=SHA1&digits=6"
	    "&period=30");
	free(u);
	u = totp_uri("a:b&c=d/é", "admin", "GEZDGNBV");
	T_EQ_STR(u, "otpauth://totp/a%3Ab%26c%3Dd%2F%C3%A9:admin?secret="
	    "GEZDGNBV&issuer=a%3Ab%26c%3Dd%2F%C3%A9&algorithm=SHA1&digits=6"
	    "&period=30");
	free(u);
	return (0);
}

static int
t_seal(void)
{
	unsigned char	 k1[TOTP_KEY_BYTES], k2[TOTP_KEY_BYTES], out[64];
	char		*a, *b, id1[17], id2[17];

	T_EQ_INT(totp_key_from_text("short", k1), -1);
	T_EQ_INT(totp_key_from_text("0123456789abcdef0123456789abcdef", k1),
	    0);
	T_EQ_INT(totp_key_from_text("0123456789abcdef0123456789abcdeF", k2),
	    0);
	totp_key_id(k1, id1);
	totp_key_id(k2, id2);
	T_EQ_INT(strlen(id1), 16);
	T_OK(strcmp(id1, id2) != 0);
	T_OK((a = totp_seal(k1, seed, SEED_LEN)) != NULL);
	T_OK((b = totp_seal(k1, seed, SEED_LEN)) != NULL);
	/* A fresh nonce each time: the same secret seals differently. */
	T_EQ_INT(strlen(a), 2 * (12 + SEED_LEN + 16));
	T_OK(strcmp(a, b) != 0);
	T_OK(strstr(a, "3132333435") == NULL);
	T_EQ_INT(totp_open(k1, a, out, sizeof(out)), SEED_LEN);
	T_OK(memcmp(out, seed, SEED_LEN) == 0);
	T_EQ_INT(totp_open(k2, a, out, sizeof(out)), -1);
	T_EQ_INT(totp_open(k1, a, out, 10), -1);
	a[30] = a[30] == '0' ? '1' : '0';
	T_EQ_INT(totp_open(k1, a, out, sizeof(out)), -1);
	T_EQ_INT(totp_open(k1, "zz", out, sizeof(out)), -1);
	T_EQ_INT(totp_open(k1, "", out, sizeof(out)), -1);
	free(a);
	free(b);
	return (0);
}

static int
t_recovery(void)
{
	unsigned char	k[TOTP_KEY_BYTES];
	char		n[16], h1[65], h2[65];

	T_EQ_INT(totp_recovery_norm("AbC123xyz9", n, sizeof(n)), 0);
	T_EQ_STR(n, "abc123xyz9");
	T_EQ_INT(totp_recovery_norm("abc123xyz", n, sizeof(n)), -1);
	T_EQ_INT(totp_recovery_norm("abc123xyz90", n, sizeof(n)), -1);
	T_EQ_INT(totp_recovery_norm("abc-23xyz9", n, sizeof(n)), -1);
	T_EQ_INT(totp_recovery_norm("abc123xyz9", n, 10), -1);
	T_EQ_INT(totp_key_from_text("0123456789abcdef0123456789abcdef", k), 0);
	totp_hash(k, "recovery:abc123xyz9", h1);
	totp_hash(k, "recovery:abc123xyz8", h2);
	T_EQ_INT(strlen(h1), 64);
	T_OK(strcmp(h1, h2) != 0);
	return (0);
}

static const struct tap_case cases[] = {
	{ "RFC 6238 appendix B, SHA-1, 8 digits", t_rfc6238_8 },
	{ "the same at 6 digits; bad arguments refused", t_rfc6238_6 },
	{ "RFC 4226 appendix D HOTP values", t_rfc4226 },
	{ "totp_check accepts each vector at its time, names its step",
	    t_check_vectors },
	{ "skew: one step either way, not two; a wrong code refused", t_skew },
	{ "malformed codes are -1, not a miss", t_check_malformed },
	{ "RFC 4648 base32 vectors both ways, unpadded/lowercase decode",
	    t_base32 },
	{ "bad base32 (padding, alphabet, length, room) refused",
	    t_base32_bad },
	{ "otpauth URI percent-encodes issuer and account", t_uri },
	{ "AES-256-GCM seal: fresh nonce, wrong key/tamper/short refused",
	    t_seal },
	{ "recovery codes: 10 alphanumerics, case folded; hashes differ",
	    t_recovery },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
