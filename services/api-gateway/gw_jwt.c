/*
 * gw_jwt.c - JSON Web Tokens signed by an OpenID provider (RFC 7515,
 * 7517, 7518, 7519): base64url, a JWK as an OpenSSL key, and the
 * signature check of a compact JWS against a key set.
 *
 * Only asymmetric algorithms are taken: RS256/384/512, PS256/384/512,
 * ES256/384.  "none" and every HS* are refused whatever the key set
 * holds, so a token cannot choose to be checked with a public key used
 * as an HMAC secret.  The key is the one whose "kid" the token names
 * (and whose kty fits the algorithm; a key marked for another use or
 * algorithm is skipped); a token without a kid takes the only key that
 * fits.  The claims are checked by the caller (gw_oidc.c): this file
 * says only that the key set's owner signed these bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "gateway.h"

#define JWT_MAX		(16 * 1024)	/* bytes of a token taken */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
gw_b64url_encode(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	size_t		i, o = 0;
	uint32_t	v;

	if (outlen < (n + 2) / 3 * 4 + 1)
		return (-1);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return ((int)o);
}

static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

unsigned char *
gw_b64url_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char	*out;
	size_t		 i, o = 0;
	uint32_t	 acc = 0;
	int		 bits = 0, v;

	if (n % 4 == 1 || (out = malloc(n / 4 * 3 + 3)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		if ((v = b64url_val((unsigned char)s[i])) < 0) {
			free(out);
			return (NULL);
		}
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*outlen = o;
	return (out);
}

/* A base64url member of a JWK as a big number (new), or NULL. */
static BIGNUM *
jwk_bn(const json_t *jwk, const char *name)
{
	const char	*s = json_string_value(json_object_get(jwk, name));
	unsigned char	*raw;
	size_t		 len;
	BIGNUM		*bn;

	if (s == NULL || (raw = gw_b64url_decode(s, strlen(s), &len)) ==
	    NULL)
		return (NULL);
	bn = len > 0 && len <= 1024 ? BN_bin2bn(raw, (int)len, NULL) : NULL;
	free(raw);
	return (bn);
}

EVP_PKEY *
gw_jwk_key(const json_t *jwk)
{
	const char	*kty = json_string_value(json_object_get(jwk, "kty"));
	const char	*crv, *group;
	OSSL_PARAM_BLD	*bld = NULL;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*n = NULL, *e = NULL, *x = NULL, *y = NULL;
	unsigned char	 pub[1 + 2 * 66];
	int		 sz, ok = 0;

	if (kty == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL)
		return (NULL);
	if (strcmp(kty, "RSA") == 0) {
		if ((n = jwk_bn(jwk, "n")) == NULL ||
		    (e = jwk_bn(jwk, "e")) == NULL || BN_num_bits(n) < 2048)
			goto done;
		ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		ctx = ok ? EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL) : NULL;
	} else if (strcmp(kty, "EC") == 0) {
		crv = json_string_value(json_object_get(jwk, "crv"));
		if (crv != NULL && strcmp(crv, "P-256") == 0) {
			group = "prime256v1";
			sz = 32;
		} else if (crv != NULL && strcmp(crv, "P-384") == 0) {
			group = "secp384r1";
			sz = 48;
		} else
			goto done;
		if ((x = jwk_bn(jwk, "x")) == NULL ||
		    (y = jwk_bn(jwk, "y")) == NULL ||
		    BN_num_bytes(x) > sz || BN_num_bytes(y) > sz)
			goto done;
		pub[0] = 0x04;		/* uncompressed point */
		if (BN_bn2binpad(x, pub + 1, sz) != sz ||
		    BN_bn2binpad(y, pub + 1 + sz, sz) != sz)
			goto done;
		ok = OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
		    OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pub, (size_t)(1 + 2 * sz));
		ctx = ok ? EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL) : NULL;
	}
	if (ctx == NULL || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
 done:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	BN_free(x);
	BN_free(y);
	return (pkey);
}

struct jwt_alg {
	const char	*a_name;
	const char	*a_kty;
	const char	*a_md;
	int		 a_pss;
	int		 a_ecsz;	/* bytes of r (and of s) */
};

static const struct jwt_alg jwt_algs[] = {
	{ "RS256", "RSA", "SHA256", 0, 0 },
	{ "RS384", "RSA", "SHA384", 0, 0 },
	{ "RS512", "RSA", "SHA512", 0, 0 },
	{ "PS256", "RSA", "SHA256", 1, 0 },
	{ "PS384", "RSA", "SHA384", 1, 0 },
	{ "PS512", "RSA", "SHA512", 1, 0 },
	{ "ES256", "EC", "SHA256", 0, 32 },
	{ "ES384", "EC", "SHA384", 0, 48 },
	{ NULL, NULL, NULL, 0, 0 }
};

/* The key of set jwks for a token with kid (NULL: none) and alg: NULL
 * when none, or (no kid) when more than one fits. */
static const json_t *
jwt_pick(const json_t *jwks, const char *kid, const struct jwt_alg *a)
{
	const json_t	*keys = json_object_get(jwks, "keys"), *k, *found =
			    NULL;
	const char	*s;
	size_t		 i;

	json_array_foreach(keys, i, k) {
		if ((s = json_string_value(json_object_get(k, "kty"))) ==
		    NULL || strcmp(s, a->a_kty) != 0)
			continue;
		if ((s = json_string_value(json_object_get(k, "use"))) !=
		    NULL && strcmp(s, "sig") != 0)
			continue;
		if ((s = json_string_value(json_object_get(k, "alg"))) !=
		    NULL && strcmp(s, a->a_name) != 0)
			continue;
		s = json_string_value(json_object_get(k, "kid"));
		if (kid != NULL) {
			if (s != NULL && strcmp(s, kid) == 0)
				return (k);
			continue;
		}
		if (found != NULL)
			return (NULL);
		found = k;
	}
	return (found);
}

/* An ECDSA signature r||s as DER (new), or NULL. */
static unsigned char *
jwt_ecdsa_der(const unsigned char *sig, size_t len, int sz, size_t *derlen)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	unsigned char	*der = NULL;
	int		 n;

	if (len != (size_t)sz * 2 || (es = ECDSA_SIG_new()) == NULL)
		return (NULL);
	r = BN_bin2bn(sig, sz, NULL);
	s = BN_bin2bn(sig + sz, sz, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return (NULL);
	}
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return (NULL);
	*derlen = (size_t)n;
	return (der);
}

/* A base64url JSON object (new), or NULL. */
static json_t *
jwt_part(const char *s, size_t len)
{
	unsigned char	*raw;
	size_t		 n;
	json_t		*o;

	if ((raw = gw_b64url_decode(s, len, &n)) == NULL)
		return (NULL);
	o = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

json_t *
gw_jwt_peek(const char *jwt)
{
	const char	*d1, *d2;

	if (jwt == NULL || strlen(jwt) > JWT_MAX ||
	    (d1 = strchr(jwt, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL)
		return (NULL);
	return (jwt_part(d1 + 1, (size_t)(d2 - d1 - 1)));
}

int
gw_jwt_verify(const char *jwt, const json_t *jwks, json_t **claims,
    char *err, size_t errlen)
{
	const struct jwt_alg	*a;
	const json_t		*jwk;
	const char		*d1, *d2, *alg, *kid;
	json_t			*hdr = NULL, *body = NULL;
	EVP_PKEY		*pkey = NULL;
	EVP_MD_CTX		*md = NULL;
	EVP_PKEY_CTX		*pctx = NULL;
	unsigned char		*sig = NULL, *der = NULL;
	size_t			 siglen, derlen;
	int			 rv = GW_JWT_EBAD;

	*claims = NULL;
	if (jwt == NULL || strlen(jwt) > JWT_MAX ||
	    (d1 = strchr(jwt, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL) {
		snprintf(err, errlen, "not a signed JWT (three "
		    "base64url parts)");
		goto done;
	}
	if ((hdr = jwt_part(jwt, (size_t)(d1 - jwt))) == NULL ||
	    (body = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL) {
		snprintf(err, errlen, "malformed JWT: a part is not a "
		    "base64url JSON object");
		goto done;
	}
	if ((alg = json_string_value(json_object_get(hdr, "alg"))) == NULL) {
		snprintf(err, errlen, "JWT header has no alg");
		goto done;
	}
	for (a = jwt_algs; a->a_name != NULL; a++)
		if (strcmp(a->a_name, alg) == 0)
			break;
	if (a->a_name == NULL) {
		snprintf(err, errlen, "JWT algorithm '%.32s' is not accepted "
		    "(RS*, PS*, ES256, ES384 only)", alg);
		goto done;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		snprintf(err, errlen, "JWT header has critical extensions");
		goto done;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	if ((jwk = jwt_pick(jwks, kid, a)) == NULL) {
		snprintf(err, errlen, "no %s key in the provider's JWKS for "
		    "kid '%.64s'", a->a_kty, kid != NULL ? kid : "(none)");
		rv = GW_JWT_ENOKEY;
		goto done;
	}
	if ((pkey = gw_jwk_key(jwk)) == NULL) {
		snprintf(err, errlen, "the provider's key '%.64s' is not a "
		    "usable %s key", kid != NULL ? kid : "(none)", a->a_kty);
		goto done;
	}
	if ((sig = gw_b64url_decode(d2 + 1, strlen(d2 + 1), &siglen)) ==
	    NULL) {
		snprintf(err, errlen, "malformed JWT signature");
		goto done;
	}
	if (a->a_ecsz > 0) {
		if ((der = jwt_ecdsa_der(sig, siglen, a->a_ecsz, &derlen)) ==
		    NULL) {
			snprintf(err, errlen, "malformed %s signature",
			    a->a_name);
			goto done;
		}
		free(sig);
		sig = malloc(derlen);
		if (sig == NULL)
			goto done;
		memcpy(sig, der, derlen);
		siglen = derlen;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(md, &pctx, a->a_md, NULL, NULL, pkey,
	    NULL) != 1 || (a->a_pss &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
	    1))) {
		snprintf(err, errlen, "could not set up the %s check",
		    a->a_name);
		goto done;
	}
	if (EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
	    (size_t)(d2 - jwt)) != 1) {
		snprintf(err, errlen, "JWT signature does not verify");
		goto done;
	}
	*claims = body;
	body = NULL;
	rv = 0;
 done:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	OPENSSL_free(der);
	free(sig);
	json_decref(hdr);
	json_decref(body);
	return (rv);
}
