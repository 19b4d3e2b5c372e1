/*
 * approval/totp_ops.c - the TOTP enrollment in PostgreSQL, the gate the
 * approvals call, and the operations approvals.totp.setup, .confirm,
 * .status and .revoke (POST /api/approvals/totp/{setup,confirm,revoke},
 * GET /api/approvals/totp/status, DELETE /api/approvals/totp); totp.h.
 *
 * Every check runs in one transaction that first locks the enrollment
 * row (FOR UPDATE): the failure count, the lockout, a spent code and
 * what the check allows commit together, whichever replica answers.
 * A wrong code commits its count (and its AuthAttempt entry) before the
 * 400 is answered, never rolls it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "agent/agent.h"
#include "approval/totp.h"
#include "audit.h"
#include "log.h"
#include "services.h"
#include "util.h"

#define TOTP_BIND_MAX		200
#define TOTP_SEALED_MAX		1024
#define TOTP_VAULT_FILE		"vault.key"

/* Set once by totp_init() before the workers serve; read-only after. */
static struct {
	char		tc_issuer[128];
	long long	tc_grace;
	char		tc_second_factor[8];
	unsigned char	tc_key[TOTP_KEY_BYTES];
	char		tc_key_id[17];
	int		tc_have_key;
	char		tc_key_err[1600];
} tc = { TOTP_ISSUER_DEFAULT, TOTP_GRACE_DEFAULT, "none", { 0 }, "", 0,
    "the vault key was not loaded" };

/* The enrollment as a check's transaction sees it (locked). */
struct totp_row {
	int		tr_exists;
	int		tr_confirmed;
	int		tr_locked;	/* locked_until is ahead */
	long long	tr_lock_left;	/* its seconds */
	int		tr_grace;	/* grace_until is ahead */
	char		tr_sealed[TOTP_SEALED_MAX];
	char		tr_key_id[17];
};

static const char SQL_LOCK[] =
    "SELECT secret_sealed, key_id, confirmed, "
    "coalesce(locked_until > now(), false), "
    "greatest(ceil(extract(epoch FROM locked_until - now())), 0)::bigint, "
    "coalesce(grace_until > now(), false) "
    "FROM totp_enrollment WHERE id FOR UPDATE";

/* A wrong code: counted, and the fifth locks for TOTP_LOCKOUT_SECS (the
 * count then starts again).  Returns whether it locked. */
static const char SQL_FAIL[] =
    "UPDATE totp_enrollment SET "
    "failures = CASE WHEN failures + 1 >= $1::int THEN 0 "
    "ELSE failures + 1 END, "
    "locked_until = CASE WHEN failures + 1 >= $1::int "
    "THEN now() + make_interval(secs => $2::int) ELSE locked_until END "
    "WHERE id RETURNING locked_until > now()";

/* A success: the count reset, the grace window opened ($1 seconds; 0
 * leaves it as it was). */
static const char SQL_OK[] =
    "UPDATE totp_enrollment SET failures = 0, locked_until = NULL, "
    "grace_until = CASE WHEN $1::int > 0 "
    "THEN now() + make_interval(secs => $1::int) ELSE grace_until END "
    "WHERE id";

static const char SQL_SPEND[] =
    "WITH gone AS (DELETE FROM totp_used_codes "
    "WHERE used_at < now() - make_interval(secs => $3::int)) "
    "INSERT INTO totp_used_codes (code_hash, bound_to) VALUES ($1, $2) "
    "ON CONFLICT (code_hash) DO NOTHING RETURNING 1";

static const char SQL_RECOVER[] =
    "UPDATE totp_recovery SET used_at = now() "
    "WHERE code_hash = $1 AND used_at IS NULL RETURNING 1";

/* ---- configuration and the vault key ---------------------------------- */

/* Reads (or, when absent, creates 0600) $home/vault.key: its text is
 * the key's text, as LIBREFANG_VAULT_KEY's would be.  0 or -1 (err). */
static int
totp_key_file(const char *home, char *text, size_t textlen, char *err,
    size_t errlen)
{
	unsigned char	 raw[32];
	char		 path[600], tmp[640], hex[65];
	char		*s = NULL;
	struct stat	 st;
	size_t		 i, len;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", home, TOTP_VAULT_FILE);
	if ((s = util_read_file(path, 4096, &len)) == NULL && errno == ENOENT) {
		/* Written whole under another name, then linked: a replica
		 * starting at the same time reads either nothing or the
		 * whole key, and link() lets only one of them create it. */
		if (RAND_bytes(raw, sizeof(raw)) != 1) {
			snprintf(err, errlen, "no random bytes for the vault "
			    "key");
			return (-1);
		}
		for (i = 0; i < sizeof(raw); i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		OPENSSL_cleanse(raw, sizeof(raw));
		(void)mkdir(home, 0700);
		snprintf(tmp, sizeof(tmp), "%s/.%s.%ld", home, TOTP_VAULT_FILE,
		    (long)getpid());
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) < 0 || write(fd, hex, 64) != 64 ||
		    write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
			snprintf(err, errlen, "could not write '%s': %s", tmp,
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			(void)unlink(tmp);
			OPENSSL_cleanse(hex, sizeof(hex));
			return (-1);
		}
		close(fd);
		OPENSSL_cleanse(hex, sizeof(hex));
		if (link(tmp, path) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "could not create '%s': %s",
			    path, strerror(errno));
			(void)unlink(tmp);
			return (-1);
		}
		(void)unlink(tmp);
		log_info("created the vault key '%s' (every replica needs the "
		    "same key: copy it, or set LIBREFANG_VAULT_KEY)", path);
		s = util_read_file(path, 4096, &len);
	}
	if (s == NULL) {
		snprintf(err, errlen, "could not read '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("%s: '%s' is readable by others (mode %o): chmod "
		    "600 it", __func__, path, (unsigned)(st.st_mode & 0777));
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' ||
	    s[len - 1] == ' '))
		s[--len] = '\0';
	if (len >= textlen || len < TOTP_VAULT_KEY_MIN) {
		snprintf(err, errlen, "'%s' does not hold a key of %d to %zu "
		    "characters", path, TOTP_VAULT_KEY_MIN, textlen - 1);
		OPENSSL_cleanse(s, len);
		free(s);
		return (-1);
	}
	memcpy(text, s, len + 1);
	OPENSSL_cleanse(s, len);
	free(s);
	return (0);
}

static void
totp_cfg_approval(const struct sh_config *cfg)
{
	json_t		*sec = json_object_get(cfg->cf_doc, "approval"), *v;
	const char	*s;

	if (sec == NULL || !json_is_object(sec))
		return;
	if ((v = json_object_get(sec, "totp_issuer")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || *s == '\0' || strlen(s) >= sizeof(tc.tc_issuer))
			log_warnx("%s: config.toml [approval] totp_issuer must "
			    "be a string of 1 to %zu bytes; '%s' kept",
			    __func__, sizeof(tc.tc_issuer) - 1, tc.tc_issuer);
		else
			snprintf(tc.tc_issuer, sizeof(tc.tc_issuer), "%s", s);
	}
	if ((v = json_object_get(sec, "totp_grace_period_secs")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > TOTP_GRACE_MAX)
			log_warnx("%s: config.toml [approval] "
			    "totp_grace_period_secs must be an integer from 0 "
			    "to %d; %lld kept", __func__, TOTP_GRACE_MAX,
			    tc.tc_grace);
		else
			tc.tc_grace = json_integer_value(v);
	}
	if ((v = json_object_get(sec, "second_factor")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || (strcmp(s, "none") != 0 &&
		    strcmp(s, "totp") != 0 && strcmp(s, "login") != 0 &&
		    strcmp(s, "both") != 0))
			log_warnx("%s: config.toml [approval] second_factor "
			    "must be none, totp, login or both; '%s' kept",
			    __func__, tc.tc_second_factor);
		else
			snprintf(tc.tc_second_factor,
			    sizeof(tc.tc_second_factor), "%s", s);
	}
}

int
totp_init(const struct sh_config *cfg)
{
	char	text[512];

	totp_cfg_approval(cfg);
	tc.tc_have_key = 0;
	if (cfg->vault_key[0] != '\0') {
		if (totp_key_from_text(cfg->vault_key, tc.tc_key) != 0) {
			snprintf(tc.tc_key_err, sizeof(tc.tc_key_err),
			    "vault_key (LIBREFANG_VAULT_KEY) must be at least "
			    "%d characters", TOTP_VAULT_KEY_MIN);
			log_warnx("%s: %s; TOTP is unavailable", __func__,
			    tc.tc_key_err);
			return (0);
		}
	} else {
		if (totp_key_file(cfg->home_dir, text, sizeof(text),
		    tc.tc_key_err, sizeof(tc.tc_key_err)) != 0) {
			log_warnx("%s: %s; TOTP is unavailable", __func__,
			    tc.tc_key_err);
			return (0);
		}
		(void)totp_key_from_text(text, tc.tc_key);
		OPENSSL_cleanse(text, sizeof(text));
	}
	totp_key_id(tc.tc_key, tc.tc_key_id);
	tc.tc_have_key = 1;
	return (0);
}

/* ---- one check, inside the caller's transaction ------------------------ */

/* BEGIN and the locked enrollment into r: 0, or 503 (rolled back). */
static int
totp_begin(struct db *db, struct totp_row *r, char *err, size_t errlen)
{
	PGresult	*res;

	memset(r, 0, sizeof(*r));
	if (db_cmd(db, "BEGIN", 0, NULL) != 0 ||
	    (res = db_exec(db, SQL_LOCK, 0, NULL)) == NULL) {
		log_warnx("%s: could not read the TOTP enrollment: %s",
		    __func__, db_errmsg(db));
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		snprintf(err, errlen, "database unavailable");
		return (503);
	}
	if (PQntuples(res) == 1) {
		r->tr_exists = 1;
		snprintf(r->tr_sealed, sizeof(r->tr_sealed), "%s",
		    PQgetvalue(res, 0, 0));
		snprintf(r->tr_key_id, sizeof(r->tr_key_id), "%s",
		    PQgetvalue(res, 0, 1));
		r->tr_confirmed = *PQgetvalue(res, 0, 2) == 't';
		r->tr_locked = *PQgetvalue(res, 0, 3) == 't';
		r->tr_lock_left = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
		r->tr_grace = *PQgetvalue(res, 0, 5) == 't';
	}
	PQclear(res);
	return (0);
}

/* COMMIT (ok) or ROLLBACK: 0, or 503 when the commit failed. */
static int
totp_end(struct db *db, int ok, char *err, size_t errlen)
{
	if (!ok) {
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		return (0);
	}
	if (db_cmd(db, "COMMIT", 0, NULL) != 0) {
		log_warnx("%s: could not commit a TOTP check: %s", __func__,
		    db_errmsg(db));
		(void)db_cmd(db, "ROLLBACK", 0, NULL);
		snprintf(err, errlen, "database unavailable");
		return (503);
	}
	return (0);
}

static int
totp_locked_err(const struct totp_row *r, char *err, size_t errlen)
{
	snprintf(err, errlen, "too many failed TOTP attempts; try again in "
	    "%lld s", r->tr_lock_left > 0 ? r->tr_lock_left : 1);
	return (429);
}

/* The secret of r into key: its length, or -1 with a 503 in err. */
static int
totp_secret(const struct totp_row *r, unsigned char *key, size_t keylen,
    char *err, size_t errlen)
{
	int	n;

	if (!tc.tc_have_key) {
		snprintf(err, errlen, "TOTP is unavailable: %s",
		    tc.tc_key_err);
		return (-1);
	}
	if (strcmp(r->tr_key_id, tc.tc_key_id) != 0) {
		snprintf(err, errlen, "the TOTP secret was sealed under "
		    "another vault key (every replica needs the same "
		    "LIBREFANG_VAULT_KEY or vault.key)");
		return (-1);
	}
	if ((n = totp_open(tc.tc_key, r->tr_sealed, key, keylen)) <= 0) {
		snprintf(err, errlen, "the TOTP secret could not be opened "
		    "with the vault key");
		return (-1);
	}
	return (n);
}

/* Counts a wrong code (and audits it): 400 with msg in err, or 503. */
static int
totp_fail(struct db *db, const char *bind, const char *msg, char *err,
    size_t errlen)
{
	PGresult	*res;
	char		 n[16], secs[16], detail[300];
	const char	*p[2];
	int		 locked;

	snprintf(n, sizeof(n), "%d", TOTP_FAIL_MAX);
	snprintf(secs, sizeof(secs), "%d", TOTP_LOCKOUT_SECS);
	p[0] = n;
	p[1] = secs;
	snprintf(detail, sizeof(detail), "totp code rejected for %s", bind);
	if ((res = db_exec(db, SQL_FAIL, 2, p)) == NULL ||
	    audit_record(db, AUDIT_AUTH_ATTEMPT, NULL, detail, "denied") != 0) {
		PQclear(res);
		log_warnx("%s: could not count a TOTP failure: %s", __func__,
		    db_errmsg(db));
		snprintf(err, errlen, "database unavailable");
		return (503);
	}
	locked = PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (locked) {
		log_warnx("TOTP locked for %d s after %d wrong codes",
		    TOTP_LOCKOUT_SECS, TOTP_FAIL_MAX);
		snprintf(err, errlen, "%s; too many failed attempts, TOTP is "
		    "locked for %d s", msg, TOTP_LOCKOUT_SECS);
	} else
		snprintf(err, errlen, "%s", msg);
	return (400);
}

/*
 * Checks code against the locked enrollment r (confirmed or not) and
 * records the outcome in the open transaction: 0 when right (the code
 * spent, bound to bind, the count reset, the grace window opened when
 * grace), else the status with err (400 wrong, malformed or replayed,
 * 429 locked, 503).  A recovery code counts only when recovery is set.
 * The caller commits in every case but a 503.
 */
static int
totp_verify(struct db *db, const struct totp_row *r, const char *bind,
    const char *code, int recovery, int grace, char *err, size_t errlen)
{
	PGresult	*res;
	unsigned char	 key[64];
	char		 norm[TOTP_RECOVERY_LEN + 1], msg[64], hash[65];
	char		 window[16], gsecs[16];
	const char	*p[3];
	int64_t		 step = 0;
	int		 n, rv, hit;

	if (r->tr_locked)
		return (totp_locked_err(r, err, errlen));
	if (code == NULL || *code == '\0') {
		snprintf(err, errlen, "a TOTP code is required");
		return (400);
	}
	if ((n = totp_secret(r, key, sizeof(key), err, errlen)) < 0)
		return (503);
	rv = totp_check(key, (size_t)n, (int64_t)time(NULL), code, &step);
	OPENSSL_cleanse(key, sizeof(key));
	if (rv == 0)
		return (totp_fail(db, bind, "invalid TOTP code", err, errlen));
	if (rv > 0) {
		/* The step and the code: the same digits in another
		 * window are another code. */
		snprintf(msg, sizeof(msg), "totp:%lld:%s", (long long)step,
		    code);
		totp_hash(tc.tc_key, msg, hash);
		snprintf(window, sizeof(window), "%d", TOTP_REPLAY_SECS);
		p[0] = hash;
		p[1] = bind;
		p[2] = window;
		if ((res = db_exec(db, SQL_SPEND, 3, p)) == NULL) {
			log_warnx("%s: could not spend a TOTP code: %s",
			    __func__, db_errmsg(db));
			snprintf(err, errlen, "database unavailable");
			return (503);
		}
		hit = PQntuples(res) == 1;
		PQclear(res);
		if (!hit) {
			snprintf(err, errlen, "TOTP code has already been "
			    "used; wait for the next code");
			return (400);
		}
	} else {
		if (!recovery || totp_recovery_norm(code, norm,
		    sizeof(norm)) != 0) {
			snprintf(err, errlen, recovery ? "the code must be %d "
			    "digits or a %d-character recovery code" :
			    "the code must be %d digits", TOTP_DIGITS,
			    TOTP_RECOVERY_LEN);
			return (400);
		}
		snprintf(msg, sizeof(msg), "recovery:%s", norm);
		totp_hash(tc.tc_key, msg, hash);
		p[0] = hash;
		if ((res = db_exec(db, SQL_RECOVER, 1, p)) == NULL) {
			log_warnx("%s: could not use a recovery code: %s",
			    __func__, db_errmsg(db));
			snprintf(err, errlen, "database unavailable");
			return (503);
		}
		hit = PQntuples(res) == 1;
		PQclear(res);
		if (!hit)
			return (totp_fail(db, bind, "invalid recovery code",
			    err, errlen));
		log_info("a TOTP recovery code was used for %s", bind);
	}
	snprintf(gsecs, sizeof(gsecs), "%lld", grace ? tc.tc_grace : 0);
	p[0] = gsecs;
	if (db_cmd(db, SQL_OK, 1, p) != 0) {
		log_warnx("%s: could not record a TOTP success: %s", __func__,
		    db_errmsg(db));
		snprintf(err, errlen, "database unavailable");
		return (503);
	}
	return (0);
}

int
totp_gate(struct db *db, const char *bind, const char *code, char *err,
    size_t errlen)
{
	struct totp_row	 r;
	char		 detail[300];
	int		 rv, cv;

	if (bind == NULL || *bind == '\0' || strlen(bind) > TOTP_BIND_MAX) {
		snprintf(err, errlen, "bad TOTP binding");
		return (400);
	}
	if ((rv = totp_begin(db, &r, err, errlen)) != 0)
		return (rv);
	if (!r.tr_exists || !r.tr_confirmed || r.tr_grace) {
		(void)totp_end(db, 0, err, errlen);
		return (0);
	}
	rv = totp_verify(db, &r, bind, code, 1, 1, err, errlen);
	if (rv == 0) {
		snprintf(detail, sizeof(detail), "totp verified for %s", bind);
		if (audit_record(db, AUDIT_AUTH_ATTEMPT, NULL, detail,
		    "ok") != 0) {
			snprintf(err, errlen, "database unavailable");
			rv = 503;
		}
	}
	/* A refusal commits too: its count and its entry stay. */
	if ((cv = totp_end(db, rv != 503, err, errlen)) != 0)
		return (cv);
	return (rv);
}

/* ---- the operations ----------------------------------------------------- */

static void
totp_reply_status(struct svc_reply *rp, int status, const char *err)
{
	svc_reply_error(rp, status, "%s", err);
}

/* body is null/absent or an object of the allowed keys; *code is the
 * string named key (borrowed; NULL when absent).  0, or -1 after a 400. */
static int
totp_body(const struct msg_req *rq, const char *key, int required,
    const char **code, struct svc_reply *rp)
{
	const char *const	 allowed[] = { key, NULL };
	json_t			*b = rq->mr_body, *v;

	*code = NULL;
	if ((b == NULL || json_is_null(b)) && !required)
		return (0);
	if (!json_is_object(b)) {
		svc_reply_error(rp, 400, "the body must be a JSON object%s%s%s",
		    required ? " with '" : "", required ? key : "",
		    required ? "'" : "");
		return (-1);
	}
	if (agent_body_keys(b, allowed, rp) != 0)
		return (-1);
	if ((v = json_object_get(b, key)) == NULL || json_is_null(v)) {
		if (required) {
			svc_reply_error(rp, 400, "'%s' is required", key);
			return (-1);
		}
		return (0);
	}
	if (!json_is_string(v) || json_string_length(v) > 64) {
		svc_reply_error(rp, 400, "'%s' must be a string (a %d-digit "
		    "code or a recovery code)", key, TOTP_DIGITS);
		return (-1);
	}
	*code = json_string_value(v);
	return (0);
}

/* 10 recovery codes of [a-z0-9] (no modulo bias). */
static int
totp_recovery_codes(char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_LEN + 1])
{
	static const char	alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char		b[64];
	size_t			i, j, k = sizeof(b);

	for (i = 0; i < TOTP_RECOVERY_COUNT; i++)
		for (j = 0; j < TOTP_RECOVERY_LEN; ) {
			if (k == sizeof(b)) {
				if (RAND_bytes(b, sizeof(b)) != 1)
					return (-1);
				k = 0;
			}
			if (b[k] < 252)
				codes[i][j++] = alpha[b[k] % 36];
			k++;
		}
	for (i = 0; i < TOTP_RECOVERY_COUNT; i++)
		codes[i][TOTP_RECOVERY_LEN] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return (0);
}

static const char SQL_SETUP[] =
    "INSERT INTO totp_enrollment AS e (id, secret_sealed, key_id) "
    "VALUES (true, $1, $2) ON CONFLICT (id) DO UPDATE SET "
    "secret_sealed = EXCLUDED.secret_sealed, key_id = EXCLUDED.key_id, "
    "confirmed = false, created_at = now(), confirmed_at = NULL, "
    "failures = 0, locked_until = NULL, grace_until = NULL";

static const char SQL_SETUP_CODES[] =
    "WITH gone AS (DELETE FROM totp_recovery) "
    "INSERT INTO totp_recovery (code_hash) "
    "SELECT unnest(string_to_array($1, ','))";

/*
 * POST /api/approvals/totp/setup {current_code?}: a new secret, its URI
 * and 10 recovery codes, not active until confirmed.  A confirmed
 * enrollment is replaced only with a valid current_code (TOTP or
 * recovery code); one waiting for confirmation is a 409 (revoke it
 * first), so a second setup never silently voids the first's QR code.
 */
static void
op_totp_setup(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct totp_row	 r;
	unsigned char	 secret[TOTP_SECRET_BYTES];
	char		 b32[TOTP_SECRET_B32_LEN + 8], err[256], msg[32];
	char		 codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_LEN + 1];
	char		 hashes[TOTP_RECOVERY_COUNT * 65], *sealed = NULL;
	char		*uri = NULL;
	const char	*code, *p[3];
	json_t		*list = NULL, *out;
	int		 rv, cv, in_tx = 0, replaced = 0;
	size_t		 i;

	if (totp_body(rq, "current_code", 0, &code, rp) != 0)
		return;
	if (!tc.tc_have_key) {
		svc_reply_error(rp, 503, "TOTP is unavailable: %s",
		    tc.tc_key_err);
		return;
	}
	if ((rv = totp_begin(c->sc_db, &r, err, sizeof(err))) != 0) {
		totp_reply_status(rp, rv, err);
		return;
	}
	in_tx = 1;
	if (r.tr_exists && !r.tr_confirmed) {
		svc_reply_error(rp, 409, "TOTP enrollment already in progress: "
		    "confirm it or revoke it first");
		goto done;
	}
	if (r.tr_exists) {
		if (r.tr_locked) {
			totp_locked_err(&r, err, sizeof(err));
			svc_reply_error(rp, 429, "%s", err);
			goto done;
		}
		if (code == NULL) {
			svc_reply_error(rp, 400, "TOTP is already enrolled: give "
			    "current_code (a TOTP or recovery code) to reset "
			    "it");
			goto done;
		}
		if ((rv = totp_verify(c->sc_db, &r, "setup", code, 1, 0, err,
		    sizeof(err))) != 0) {
			/* A wrong code's count stays: commit but on a 503. */
			in_tx = 0;
			if ((cv = totp_end(c->sc_db, rv != 503, err,
			    sizeof(err))) != 0)
				rv = cv;
			totp_reply_status(rp, rv, err);
			goto done;
		}
		replaced = 1;
	}
	if (RAND_bytes(secret, sizeof(secret)) != 1 ||
	    totp_recovery_codes(codes) != 0 ||
	    totp_b32_encode(secret, sizeof(secret), b32, sizeof(b32)) < 0 ||
	    (sealed = totp_seal(tc.tc_key, secret, sizeof(secret))) == NULL ||
	    (uri = totp_uri(tc.tc_issuer, TOTP_ACCOUNT, b32)) == NULL) {
		svc_reply_error(rp, 500, "could not make a TOTP secret");
		goto done;
	}
	hashes[0] = '\0';
	for (i = 0; i < TOTP_RECOVERY_COUNT; i++) {
		snprintf(msg, sizeof(msg), "recovery:%.10s", codes[i]);
		totp_hash(tc.tc_key, msg, hashes + i * 65);
		if (i + 1 < TOTP_RECOVERY_COUNT)
			hashes[i * 65 + 64] = ',';
	}
	p[0] = sealed;
	p[1] = tc.tc_key_id;
	p[2] = hashes;
	if (db_cmd(c->sc_db, SQL_SETUP, 2, p) != 0 ||
	    db_cmd(c->sc_db, SQL_SETUP_CODES, 1, p + 2) != 0 ||
	    audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, NULL, replaced ?
	    "totp enrollment replaced (not confirmed yet)" :
	    "totp enrollment created (not confirmed yet)", "ok") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	in_tx = 0;
	if ((rv = totp_end(c->sc_db, 1, err, sizeof(err))) != 0) {
		totp_reply_status(rp, rv, err);
		goto done;
	}
	log_info("TOTP enrollment %s, waiting for confirmation",
	    replaced ? "replaced" : "created");
	list = json_array();
	for (i = 0; i < TOTP_RECOVERY_COUNT && list != NULL; i++)
		svc_list_add(&list, json_string(codes[i]));
	out = json_pack("{s:s, s:s, s:o*, s:s}", "otpauth_uri", uri,
	    "secret", b32, "recovery_codes", list, "message",
	    "Enter the secret (or the otpauth URI) in your authenticator "
	    "app, then POST /api/approvals/totp/confirm with a code from "
	    "it. Keep the recovery codes somewhere safe: each works once.");
	list = NULL;
	svc_reply_json(rp, 200, out);
 done:
	if (in_tx)
		(void)totp_end(c->sc_db, 0, err, sizeof(err));
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(b32, sizeof(b32));
	OPENSSL_cleanse(codes, sizeof(codes));
	free(sealed);
	free(uri);
}

/* POST /api/approvals/totp/confirm {code}: a code from the app
 * activates the enrollment (a confirmed one answers the same). */
static void
op_totp_confirm(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct totp_row	 r;
	char		 err[256];
	const char	*code;
	int		 rv, cv;

	if (totp_body(rq, "code", 1, &code, rp) != 0)
		return;
	if ((rv = totp_begin(c->sc_db, &r, err, sizeof(err))) != 0) {
		totp_reply_status(rp, rv, err);
		return;
	}
	if (!r.tr_exists) {
		(void)totp_end(c->sc_db, 0, err, sizeof(err));
		svc_reply_error(rp, 400, "no TOTP enrollment: POST "
		    "/api/approvals/totp/setup first");
		return;
	}
	rv = totp_verify(c->sc_db, &r, "confirm", code, 0, 0, err,
	    sizeof(err));
	if (rv == 0 && !r.tr_confirmed &&
	    (db_cmd(c->sc_db, "UPDATE totp_enrollment SET confirmed = true, "
	    "confirmed_at = now() WHERE id", 0, NULL) != 0 ||
	    audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, NULL,
	    "totp enrollment confirmed", "ok") != 0)) {
		snprintf(err, sizeof(err), "database unavailable");
		rv = 503;
	}
	if ((cv = totp_end(c->sc_db, rv != 503, err, sizeof(err))) != 0)
		rv = cv;
	if (rv != 0) {
		totp_reply_status(rp, rv, err);
		return;
	}
	if (!r.tr_confirmed)
		log_info("TOTP enrollment confirmed");
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "confirmed",
	    "message", "TOTP is now active. Set [approval] second_factor = "
	    "\"totp\" in config.toml to require it for approvals."));
}

static const char SQL_STATUS[] =
    "SELECT e.confirmed, (SELECT count(*) FROM totp_recovery "
    "WHERE used_at IS NULL) FROM (SELECT true AS one) o "
    "LEFT JOIN totp_enrollment e ON e.id";

/* GET /api/approvals/totp/status. */
static void
op_totp_status(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	PGresult	*res;
	int		 enrolled, confirmed;
	long long	 left;

	(void)rq;
	if ((res = db_exec(c->sc_db, SQL_STATUS, 0, NULL)) == NULL ||
	    PQntuples(res) != 1) {
		PQclear(res);
		svc_reply_db_error(rp, c);
		return;
	}
	enrolled = !PQgetisnull(res, 0, 0);
	confirmed = enrolled && *PQgetvalue(res, 0, 0) == 't';
	left = enrolled ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	PQclear(res);
	svc_reply_json(rp, 200, json_pack("{s:b, s:b, s:b, s:s, s:I}",
	    "enrolled", enrolled, "confirmed", confirmed, "enforced",
	    strcmp(tc.tc_second_factor, "none") != 0, "scope",
	    tc.tc_second_factor, "remaining_recovery_codes",
	    (json_int_t)left));
}

/*
 * POST /api/approvals/totp/revoke and DELETE /api/approvals/totp {code}:
 * a confirmed enrollment goes only with a valid TOTP or recovery code;
 * one never confirmed protects nothing yet and goes without (its code,
 * if any, is not checked).
 */
static void
op_totp_revoke(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	struct totp_row	 r;
	char		 err[256];
	const char	*code;
	int		 rv, cv;

	if (totp_body(rq, "code", 0, &code, rp) != 0)
		return;
	if ((rv = totp_begin(c->sc_db, &r, err, sizeof(err))) != 0) {
		totp_reply_status(rp, rv, err);
		return;
	}
	if (!r.tr_exists) {
		(void)totp_end(c->sc_db, 0, err, sizeof(err));
		svc_reply_error(rp, 400, "TOTP is not enrolled");
		return;
	}
	rv = 0;
	if (r.tr_confirmed)
		rv = totp_verify(c->sc_db, &r, "revoke", code, 1, 0, err,
		    sizeof(err));
	if (rv == 0 && (db_cmd(c->sc_db, "DELETE FROM totp_enrollment",
	    0, NULL) != 0 || db_cmd(c->sc_db, "DELETE FROM totp_recovery", 0,
	    NULL) != 0 || audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, NULL,
	    r.tr_confirmed ? "totp enrollment revoked" :
	    "totp enrollment discarded before confirmation", "ok") != 0)) {
		snprintf(err, sizeof(err), "database unavailable");
		rv = 503;
	}
	if ((cv = totp_end(c->sc_db, rv != 503, err, sizeof(err))) != 0)
		rv = cv;
	if (rv != 0) {
		totp_reply_status(rp, rv, err);
		return;
	}
	log_info("TOTP enrollment revoked");
	svc_reply_json(rp, 200, json_pack("{s:s, s:s}", "status", "revoked",
	    "message", "TOTP has been revoked. Set [approval] second_factor "
	    "= \"none\" in config.toml to stop requiring it."));
}

const struct svc_op totp_ops[] = {
	{ OP_APPROVALS_TOTP_SETUP, op_totp_setup },
	{ OP_APPROVALS_TOTP_CONFIRM, op_totp_confirm },
	{ OP_APPROVALS_TOTP_STATUS, op_totp_status },
	{ OP_APPROVALS_TOTP_REVOKE, op_totp_revoke },
	{ NULL, NULL }
};
