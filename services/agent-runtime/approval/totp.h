/*
 * approval/totp.h - the TOTP second factor of approvals (notes/kernel.md
 * 4.3, "TOTP"; sql/018_totp.sql).
 *
 * One enrollment for the whole system (the operator holding the API key),
 * kept in PostgreSQL so that every replica sees it:
 *   runtime.totp_enrollment	the secret, sealed with AES-256-GCM under
 *				the vault key (never stored in clear), the
 *				confirmed flag, the failure counter and
 *				lockout, the end of the grace window;
 *   runtime.totp_recovery	10 single-use recovery codes, stored as
 *				HMAC-SHA256 under the vault key;
 *   runtime.totp_used_codes	codes already accepted (a hash of the code
 *				and its time step), bound to what they
 *				were used for ("approval:<id>", "login",
 *				"confirm", ...), kept 90 s: a code is
 *				accepted once.
 *
 * Codes: RFC 6238, HMAC-SHA1, 6 digits, 30 s steps, one step of skew
 * either way.  A recovery code is 10 characters [a-z0-9] (case folded).
 * Five wrong codes in a row lock every check out for 300 s (a code, even
 * right, is then answered 429); a right code resets the count.
 *
 * The vault key: config.toml vault_key / LIBREFANG_VAULT_KEY (at least
 * 32 characters, hashed to the AES key), else the file
 * $LIBREFANG_HOME/vault.key, created 0600 with 32 random bytes on first
 * use.  Every replica of a multi-host deployment needs the same key
 * (docs/configuration.md).  The enrollment row records the key's
 * fingerprint, so a wrong key is a clear 503, not a wrong code.
 *
 * The pure functions (codes, base32, the URI, sealing) are thread-safe
 * and touch no database.  totp_init() runs once before the workers serve;
 * the rest runs on a bus worker with its own connection.
 */
#ifndef APPROVAL_TOTP_H
#define APPROVAL_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "svc.h"

#define TOTP_STEP_SECS		30
#define TOTP_DIGITS		6
#define TOTP_SKEW_STEPS		1	/* steps accepted either side */
#define TOTP_SECRET_BYTES	20	/* 160 bits: RFC 4226's advice */
#define TOTP_SECRET_B32_LEN	32	/* its base32, no padding needed */
#define TOTP_RECOVERY_COUNT	10
#define TOTP_RECOVERY_LEN	10
#define TOTP_FAIL_MAX		5	/* wrong codes before the lockout */
#define TOTP_LOCKOUT_SECS	300
#define TOTP_REPLAY_SECS	90	/* a used code is remembered */
#define TOTP_GRACE_DEFAULT	300	/* [approval] totp_grace_period_secs */
#define TOTP_GRACE_MAX		3600
#define TOTP_ISSUER_DEFAULT	"LibreFang"
#define TOTP_ACCOUNT		"admin"
#define TOTP_VAULT_KEY_MIN	32	/* characters of vault_key */
#define TOTP_KEY_BYTES		32	/* AES-256 */

/*
 * The gate the approvals call (and a login would).  bind (borrowed) names
 * what the code is spent on: "approval:<id>" or "login".  code (borrowed,
 * may be NULL) is a 6-digit TOTP code or a recovery code.
 *
 * Returns 0 when the action may go on:
 *   - no confirmed enrollment (nothing to check: whether a second factor
 *     is required at all is the caller's policy, [approval] second_factor
 *     and totp_tools);
 *   - within the grace window a previous success opened
 *     ([approval] totp_grace_period_secs, default 300; the code, if any,
 *     is then neither checked nor spent);
 *   - a valid TOTP code not used before (it is then spent, bound to
 *     bind), or an unused recovery code (then used up).
 * A success resets the failure count and opens the grace window.
 * Otherwise it returns the HTTP status to answer, with the message for
 * {"error": ...} in err:
 *   400  no code, a malformed one (neither 6 digits nor a recovery code:
 *        not counted), a wrong one (counted: the spec answers 400), or
 *        one already used (not counted);
 *   429  locked out (5 wrong codes; for 300 s from the fifth);
 *   503  the database, or the vault key cannot open the secret.
 * Failures and spent codes are recorded by the gate itself, in one
 * transaction that holds the enrollment's row lock (so replicas checking
 * at once count every failure and spend a code once); a wrong code is
 * also an AuthAttempt audit entry.  Thread-safe given one db per thread.
 * Must not be called inside the caller's own transaction (it commits).
 */
int	 totp_gate(struct db *db, const char *bind, const char *code,
	    char *err, size_t errlen);

/*
 * Reads [approval] totp_issuer, totp_grace_period_secs and second_factor
 * from cfg's document (a bad value is logged and the default kept) and
 * loads or creates the vault key.  A key that cannot be had is logged,
 * not fatal: the TOTP routes then answer 503 and totp_gate() 503 once an
 * enrollment is confirmed.  0 always (the signature leaves room).
 */
int	 totp_init(const struct sh_config *cfg);

/* The operations (totp_ops.c): approvals.totp.{setup,confirm,status,
 * revoke}. */
extern const struct svc_op totp_ops[];

/* ---- the pure parts (totp.c), unit-tested by tests/unit/t_totp.c ---- */

/*
 * RFC 4226 HOTP of key at counter with digits (6 to 8): the number, or -1
 * on bad arguments.
 */
long	 totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter,
	    int digits);
/* The code of key at unix time t (step TOTP_STEP_SECS), zero-padded to
 * digits in out (at least digits + 1 bytes): 0 or -1. */
int	 totp_code(const unsigned char *key, size_t keylen, int64_t t,
	    int digits, char *out, size_t outlen);
/*
 * Checks a TOTP_DIGITS code against key at time t with TOTP_SKEW_STEPS
 * steps of skew, in constant time per step: 1 with the matching step in
 * *step, 0 when no step matches, -1 when code is not TOTP_DIGITS digits.
 */
int	 totp_check(const unsigned char *key, size_t keylen, int64_t t,
	    const char *code, int64_t *step);

/* RFC 4648 base32 of n bytes into out with '=' padding: the length
 * written (NUL-terminated), or -1 when out is too small. */
int	 totp_b32_encode(const unsigned char *in, size_t n, char *out,
	    size_t outlen);
/* Decodes RFC 4648 base32 (case-insensitive, padding optional): the
 * number of bytes, or -1 (a bad character, bad padding or length, or
 * more than outlen bytes). */
int	 totp_b32_decode(const char *in, unsigned char *out, size_t outlen);

/* The provisioning URI
 * otpauth://totp/<issuer>:<account>?secret=..&issuer=..&algorithm=SHA1
 * &digits=6&period=30 with issuer and account percent-encoded (new;
 * NULL on ENOMEM). */
char	*totp_uri(const char *issuer, const char *account,
	    const char *secret_b32);

/* Seals n bytes under key (AES-256-GCM, a random 12-byte nonce, fixed
 * associated data) as hex of nonce || ciphertext || tag (new; NULL on
 * failure). */
char	*totp_seal(const unsigned char key[TOTP_KEY_BYTES],
	    const unsigned char *in, size_t n);
/* Opens totp_seal()'s text into out (outlen bytes at most): the length,
 * or -1 (not hex, too short or long, or the tag does not verify: a wrong
 * key or a changed text). */
int	 totp_open(const unsigned char key[TOTP_KEY_BYTES], const char *hex,
	    unsigned char *out, size_t outlen);
/* The vault key from text (hashed with SHA-256) into key: 0, or -1 when
 * text is shorter than TOTP_VAULT_KEY_MIN. */
int	 totp_key_from_text(const char *text, unsigned char key[TOTP_KEY_BYTES]);
/* The key's fingerprint (16 hex characters, not the key) into out. */
void	 totp_key_id(const unsigned char key[TOTP_KEY_BYTES], char out[17]);
/* HMAC-SHA256 of s under key, hex (64 characters + NUL) into out. */
void	 totp_hash(const unsigned char key[TOTP_KEY_BYTES], const char *s,
	    char out[65]);
/* A recovery code's canonical form (lowercase) into out (at least
 * TOTP_RECOVERY_LEN + 1): 0, or -1 when s is not TOTP_RECOVERY_LEN
 * characters of [A-Za-z0-9]. */
int	 totp_recovery_norm(const char *s, char *out, size_t outlen);

#endif /* APPROVAL_TOTP_H */
