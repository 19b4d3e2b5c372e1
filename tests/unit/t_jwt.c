/*
 * t_jwt.c - unit tests for services/api-gateway/gw_jwt.c: base64url both
 * ways, JWKs as keys, and the signature check of ID tokens made here
 * with OpenSSL (RS256, PS256, ES256) against what must be refused: a
 * changed byte, alg none, HS256 keyed with the public key, an unknown or
 * missing kid, a key of another type or use, a short RSA key, crit, and
 * malformed tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gateway.h"
#include "tap.h"

static int
t_b64url(void)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar", NULL };
	static const char *const out[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
	    "Zm9vYmE", "Zm9vYmFy" };
	unsigned char	 bin[3] = { 0xfb, 0xff, 0xfe }, *d;
	char		 buf[64];
	size_t		 n;
	int		 i;

	for (i = 0; in[i] != NULL; i++) {
		T_EQ_INT(gw_b64url_encode((const unsigned char *)in[i],
		    strlen(in[i]), buf, sizeof(buf)), strlen(out[i]));
		T_EQ_STR(buf, out[i]);
		T_OK((d = gw_b64url_decode(out[i], strlen(out[i]), &n)) !=
		    NULL);
		T_OK(n == strlen(in[i]) && memcmp(d, in[i], n) == 0);
		free(d);
	}
	gw_b64url_encode(bin, 3, buf, sizeof(buf));
	T_EQ_STR(buf, "-__-");		/* the url alphabet, not + and / */
	T_EQ_INT(gw_b64url_encode(bin, 3, buf, 4), -1);	/* no room */
	T_OK(gw_b64url_decode("Zm9v+", 5, &n) == NULL);
	T_OK(gw_b64url_decode("Zm9v/A", 6, &n) == NULL);
	T_OK(gw_b64url_decode("Zm9v=", 5, &n) == NULL);
	T_OK(gw_b64url_decode("Zm9vY", 5, &n) == NULL);	/* 1 char left */
	return (0);
}

/* ---- keys and tokens made here ----------------------------------------- */

static EVP_PKEY *
gen(const char *type, int bits_or_0)
{
	EVP_PKEY	*k = NULL;

	if (strcmp(type, "RSA") == 0)
		k = EVP_RSA_gen((unsigned int)bits_or_0);
	else
		k = EVP_EC_gen("P-256");
	return (k);
}

static json_t *
bn_member(EVP_PKEY *k, const char *param, int pad)
{
	BIGNUM		*bn = NULL;
	unsigned char	 raw[1024];
	char		 b64[2048];
	int		 n;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		return (NULL);
	n = pad > 0 ? BN_bn2binpad(bn, raw, pad) : BN_bn2bin(bn, raw);
	BN_free(bn);
	gw_b64url_encode(raw, (size_t)n, b64, sizeof(b64));
	return (json_string(b64));
}

/* The public JWK of k. */
static json_t *
jwk_of(EVP_PKEY *k, const char *kid, const char *alg)
{
	json_t	*j;

	if (EVP_PKEY_is_a(k, "RSA"))
		j = json_pack("{s:s, s:o, s:o}", "kty", "RSA", "n",
		    bn_member(k, OSSL_PKEY_PARAM_RSA_N, 0), "e",
		    bn_member(k, OSSL_PKEY_PARAM_RSA_E, 0));
	else
		j = json_pack("{s:s, s:s, s:o, s:o}", "kty", "EC", "crv",
		    "P-256", "x", bn_member(k, OSSL_PKEY_PARAM_EC_PUB_X, 32),
		    "y", bn_member(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
	if (kid != NULL)
		json_object_set_new(j, "kid", json_string(kid));
	if (alg != NULL)
		json_object_set_new(j, "alg", json_string(alg));
	return (j);
}

/* header.payload.signature, signed by k with alg (new). */
static char *
mint(const char *hdr, const char *payload, EVP_PKEY *k, const char *alg,
    const unsigned char *hkey, size_t hkeylen)
{
	char		 h64[512], p64[1024], s64[1024], *out;
	unsigned char	 sig[1024], *der;
	size_t		 siglen = sizeof(sig);
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	EVP_PKEY_CTX	*pc = NULL;
	unsigned int	 hl;
	size_t		 in;
	char		 input[1600];
	ECDSA_SIG	*es;
	const BIGNUM	*r, *s;
	const unsigned char *p;

	gw_b64url_encode((const unsigned char *)hdr, strlen(hdr), h64,
	    sizeof(h64));
	gw_b64url_encode((const unsigned char *)payload, strlen(payload), p64,
	    sizeof(p64));
	in = (size_t)snprintf(input, sizeof(input), "%s.%s", h64, p64);
	s64[0] = '\0';
	if (strcmp(alg, "HS256") == 0) {
		HMAC(EVP_sha256(), hkey, (int)hkeylen,
		    (const unsigned char *)input, in, sig, &hl);
		gw_b64url_encode(sig, hl, s64, sizeof(s64));
	} else if (strcmp(alg, "none") != 0) {
		EVP_DigestSignInit_ex(md, &pc, "SHA256", NULL, NULL, k, NULL);
		if (strcmp(alg, "PS256") == 0) {
			EVP_PKEY_CTX_set_rsa_padding(pc,
			    RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pc,
			    RSA_PSS_SALTLEN_DIGEST);
		}
		EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, in);
		if (strcmp(alg, "ES256") == 0) {
			/* DER to the JWS form r || s. */
			p = sig;
			es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
			ECDSA_SIG_get0(es, &r, &s);
			der = malloc(64);
			BN_bn2binpad(r, der, 32);
			BN_bn2binpad(s, der + 32, 32);
			gw_b64url_encode(der, 64, s64, sizeof(s64));
			free(der);
			ECDSA_SIG_free(es);
		} else
			gw_b64url_encode(sig, siglen, s64, sizeof(s64));
	}
	EVP_MD_CTX_free(md);
	if (asprintf(&out, "%s.%s", input, s64) < 0)
		return (NULL);
	return (out);
}

static const char payload[] = "{\"iss\":\"https://idp.test\",\"sub\":\"alice\","
    "\"aud\":\"librefang\",\"exp\":4102444800,\"iat\":1700000000}";

static int
verify(const char *jwt, json_t *jwks, char *err, size_t errlen)
{
	json_t	*claims = NULL;
	int	 rv;

	rv = gw_jwt_verify(jwt, jwks, &claims, err, errlen);
	if (rv == 0 && !json_is_string(json_object_get(claims, "sub")))
		rv = 99;
	json_decref(claims);
	return (rv);
}

static int
t_jwt_signatures(void)
{
	EVP_PKEY	*rsa = gen("RSA", 2048), *rsa2 = gen("RSA", 2048);
	EVP_PKEY	*ec = gen("EC", 0), *small = gen("RSA", 1024);
	json_t		*jwks;
	char		*t, err[256];
	unsigned char	*pem = NULL;
	size_t		 i;
	int		 pemlen;
	BIO		*bio;

	T_OK(rsa != NULL && rsa2 != NULL && ec != NULL && small != NULL);
	jwks = json_pack("{s:[o, o, o]}", "keys", jwk_of(rsa, "r1", "RS256"),
	    jwk_of(ec, "e1", NULL), jwk_of(small, "small", NULL));

	t = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", payload, rsa, "RS256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), 0);
	/* Each byte of the signature counts. */
	t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	T_OK(strstr(err, "does not verify") != NULL);
	free(t);
	/* ... and of the payload. */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", payload, rsa, "RS256",
	    NULL, 0);
	*strchr(t, '.') = '\0';
	{
		char	*forged;
		char	 p64[1024];
		const char *sig = strrchr(t + strlen(t) + 1, '.');

		gw_b64url_encode((const unsigned char *)"{\"sub\":\"mallory\"}",
		    17, p64, sizeof(p64));
		T_OK(asprintf(&forged, "%s.%s%s", t, p64, sig) > 0);
		T_EQ_INT(verify(forged, jwks, err, sizeof(err)), GW_JWT_EBAD);
		free(forged);
	}
	free(t);

	t = mint("{\"alg\":\"PS256\",\"kid\":\"r1\"}", payload, rsa, "PS256",
	    NULL, 0);
	/* The key says RS256 only: a PS256 token does not get it. */
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_ENOKEY);
	json_object_del(json_array_get(json_object_get(jwks, "keys"), 0),
	    "alg");
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), 0);
	free(t);

	t = mint("{\"alg\":\"ES256\",\"kid\":\"e1\"}", payload, ec, "ES256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), 0);
	free(t);
	/* An ES256 token naming the RSA key's kid: no key of its type. */
	t = mint("{\"alg\":\"ES256\",\"kid\":\"r1\"}", payload, ec, "ES256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_ENOKEY);
	free(t);

	/* A key the set does not hold. */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"r2\"}", payload, rsa2, "RS256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_ENOKEY);
	T_OK(strstr(err, "kid 'r2'") != NULL);
	free(t);
	/* Signed by another key under a known kid. */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", payload, rsa2, "RS256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	free(t);
	/* No kid: two RSA keys fit, so none is chosen. */
	t = mint("{\"alg\":\"RS256\"}", payload, rsa, "RS256", NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_ENOKEY);
	free(t);
	/* A short RSA key is not used. */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"small\"}", payload, small,
	    "RS256", NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	T_OK(strstr(err, "not a usable") != NULL);
	free(t);

	/* alg none, and HS256 keyed with the RSA key's public PEM. */
	t = mint("{\"alg\":\"none\",\"kid\":\"r1\"}", payload, NULL, "none",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	T_OK(strstr(err, "'none' is not accepted") != NULL);
	free(t);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, rsa);
	pemlen = (int)BIO_get_mem_data(bio, &pem);
	t = mint("{\"alg\":\"HS256\",\"kid\":\"r1\"}", payload, NULL, "HS256",
	    pem, (size_t)pemlen);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	T_OK(strstr(err, "'HS256' is not accepted") != NULL);
	free(t);
	BIO_free(bio);

	/* crit, and a key for encryption only. */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"x\"],"
	    "\"x\":1}", payload, rsa, "RS256", NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_EBAD);
	free(t);
	json_object_set_new(json_array_get(json_object_get(jwks, "keys"), 0),
	    "use", json_string("enc"));
	t = mint("{\"alg\":\"RS256\",\"kid\":\"r1\"}", payload, rsa, "RS256",
	    NULL, 0);
	T_EQ_INT(verify(t, jwks, err, sizeof(err)), GW_JWT_ENOKEY);
	free(t);

	/* Malformed tokens. */
	{
		static const char *const bad[] = { "", "a", "a.b", "a.b.c.d",
		    "e30.e30.", "!!.e30.AA", "WzFd.e30.AA", "e30.WzFd.AA",
		    "e30.e30.AA", NULL };

		for (i = 0; bad[i] != NULL; i++)
			T_EQ_INT(verify(bad[i], jwks, err, sizeof(err)),
			    GW_JWT_EBAD);
	}
	T_OK(gw_jwt_peek("a.b") == NULL);

	json_decref(jwks);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
	return (0);
}

static int
t_jwk_keys(void)
{
	static const char *const bad[] = {
		"{}", "{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"{\"kty\":\"RSA\",\"n\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
		NULL
	};
	json_t		*j;
	EVP_PKEY	*k;
	int		 i;

	for (i = 0; bad[i] != NULL; i++) {
		j = json_loads(bad[i], 0, NULL);
		k = gw_jwk_key(j);
		json_decref(j);
		if (k != NULL) {
			printf("# key made of %s\n", bad[i]);
			EVP_PKEY_free(k);
			return (-1);
		}
	}
	return (0);
}

static const struct tap_case cases[] = {
	{ "base64url both ways", t_b64url },
	{ "JWT signatures: RS256, PS256, ES256 and the refusals",
	    t_jwt_signatures },
	{ "JWKs that are no usable key", t_jwk_keys },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
