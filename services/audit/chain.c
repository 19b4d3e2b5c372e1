/*
 * chain.c - the audit chain: audit.append (from the outbox relays),
 * audit.recent and audit.verify (GET /api/audit/recent and /verify).
 *
 * An append is one transaction: lock head's row, then for each entry
 * not yet chained (its entry_id unknown) hash it after the tip, insert
 * it at next_seq, and move the tip.  The lock makes every append, from
 * whatever replica, wait for the one before it to commit, and READ
 * COMMITTED reads the committed tip once the lock is granted: the chain
 * cannot fork, and a failed append rolls back whole, leaving no gap.
 *
 * Verify walks the chain in pages by seq and recomputes every hash in C
 * (a 1,000,000-entry chain in about a second); it also checks head, so
 * that deleting the last entries is seen.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "services.h"
#include "util.h"

#define AUDIT_VERIFY_PAGE	50000
#define AUDIT_FIELD_MAX		(16 * 1024)	/* bytes of one field */

/* The action names of kernel.md 5, append-only (the name is hashed). */
static const char *const audit_actions[] = {
	"ToolInvoke", "CapabilityCheck", "AgentSpawn", "AgentKill",
	"AgentMessage", "MemoryAccess", "FileAccess", "NetworkAccess",
	"ShellExec", "AuthAttempt", "WireConnect", "ConfigChange",
	"DreamConsolidation", "UserLogin", "RoleChange", "PermissionDenied",
	"BudgetExceeded", "RetentionTrim", "A2aDiscovered", "A2aTrusted",
	NULL
};

static const char SQL_LOCK_HEAD[] =
	"SELECT next_seq, tip_hash FROM head WHERE id = 1 FOR UPDATE";
/* A batch is one query to find the ids already chained and one insert
 * of the new rows, both as JSON (an array of ids, an array of rows). */
static const char SQL_SEEN[] =
	"SELECT entry_id::text FROM entries WHERE entry_id IN "
	"    (SELECT json_array_elements_text($1::json)::uuid)";
static const char SQL_INSERT[] =
	"INSERT INTO entries (seq, entry_id, ts, agent_id, action, detail, "
	"    outcome, user_id, channel, prev_hash, hash, source) "
	"SELECT seq, entry_id, ts, agent_id, action, detail, outcome, user_id, "
	"    channel, prev_hash, hash, source "
	"FROM json_to_recordset($1::json) AS x(seq bigint, entry_id uuid, "
	"    ts text, agent_id text, action text, detail text, outcome text, "
	"    user_id text, channel text, prev_hash text, hash text, "
	"    source text)";
static const char SQL_MOVE_HEAD[] =
	"UPDATE head SET next_seq = $1::bigint, tip_hash = $2 WHERE id = 1";
static const char SQL_HEAD[] =
	"SELECT next_seq, tip_hash FROM head WHERE id = 1";
static const char SQL_RECENT[] =
	"SELECT seq, ts, agent_id, action, detail, outcome, user_id, channel, "
	"    prev_hash, hash FROM entries "
	"WHERE seq >= $1::bigint ORDER BY seq";
static const char SQL_PAGE[] =
	"SELECT seq, ts, agent_id, action, detail, outcome, user_id, channel, "
	"    prev_hash, hash FROM entries "
	"WHERE seq >= $1::bigint AND seq < $2::bigint "
	"ORDER BY seq LIMIT 50000";	/* AUDIT_VERIFY_PAGE */

int
audit_chain_hash(EVP_MD_CTX *ctx, const struct audit_fields *f,
    char out[AUDIT_HASH_HEX])
{
	static const char	 hex[] = "0123456789abcdef";
	EVP_MD_CTX		*md = ctx;
	unsigned char		 h[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;
	char			 seq[32];
	int			 ok;

	if (md == NULL && (md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	snprintf(seq, sizeof(seq), "%lld", f->af_seq);
	/* kernel.md 5, v2: each field tagged and led by 0x1f; user_id and
	 * channel only when present. */
#define AUDIT_PART(tag, v)						\
	(EVP_DigestUpdate(md, "\x1f" tag "=", sizeof(tag) + 1) &&	\
	    EVP_DigestUpdate(md, (v), strlen(v)))
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    AUDIT_PART("seq", seq) &&
	    AUDIT_PART("timestamp", f->af_ts) &&
	    AUDIT_PART("agent_id", f->af_agent) &&
	    AUDIT_PART("action", f->af_action) &&
	    AUDIT_PART("detail", f->af_detail) &&
	    AUDIT_PART("outcome", f->af_outcome) &&
	    (f->af_user == NULL || AUDIT_PART("user_id", f->af_user)) &&
	    (f->af_channel == NULL || AUDIT_PART("channel", f->af_channel)) &&
	    AUDIT_PART("prev_hash", f->af_prev) &&
	    EVP_DigestFinal_ex(md, h, &n);
#undef AUDIT_PART
	if (ctx == NULL)
		EVP_MD_CTX_free(md);
	if (!ok || n != 32)
		return (-1);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[2 * n] = '\0';
	return (0);
}

static int
audit_action_known(const char *s)
{
	size_t	i;

	for (i = 0; audit_actions[i] != NULL; i++)
		if (strcmp(audit_actions[i], s) == 0)
			return (1);
	return (0);
}

/* A required (or, with opt, optional) string field of e: borrowed, or
 * NULL with err set. */
static const char *
audit_field(json_t *e, const char *key, int opt, char *err, size_t errlen)
{
	json_t		*v = json_object_get(e, key);
	const char	*s;

	if (v == NULL || json_is_null(v)) {
		if (!opt)
			snprintf(err, errlen, "entry field '%s' is required",
			    key);
		return (NULL);
	}
	if ((s = json_string_value(v)) == NULL ||
	    json_string_length(v) > AUDIT_FIELD_MAX ||
	    strlen(s) != json_string_length(v)) {
		snprintf(err, errlen, "entry field '%s' must be a string of at "
		    "most %d bytes", key, AUDIT_FIELD_MAX);
		return (NULL);
	}
	return (s);
}

/* Checks every entry before the lock is taken: a bad one refuses the
 * whole batch (400), so nothing is half-appended. */
static int
audit_check(json_t *list, char *err, size_t errlen)
{
	json_t		*e;
	const char	*s;
	size_t		 i;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > AUDIT_APPEND_MAX) {
		snprintf(err, errlen, "'entries' must be an array of 1 to %d "
		    "entries", AUDIT_APPEND_MAX);
		return (-1);
	}
	json_array_foreach(list, i, e) {
		err[0] = '\0';
		if (!json_is_object(e)) {
			snprintf(err, errlen, "an entry must be an object");
			return (-1);
		}
		if ((s = audit_field(e, "id", 0, err, errlen)) == NULL)
			return (-1);
		if (!util_uuid_valid(s)) {
			snprintf(err, errlen, "entry id must be a UUID");
			return (-1);
		}
		if ((s = audit_field(e, "action", 0, err, errlen)) == NULL)
			return (-1);
		if (!audit_action_known(s)) {
			snprintf(err, errlen, "unknown audit action");
			return (-1);
		}
		if (audit_field(e, "timestamp", 0, err, errlen) == NULL ||
		    audit_field(e, "agent_id", 0, err, errlen) == NULL ||
		    audit_field(e, "detail", 0, err, errlen) == NULL ||
		    audit_field(e, "outcome", 0, err, errlen) == NULL)
			return (-1);
		(void)audit_field(e, "user_id", 1, err, errlen);
		(void)audit_field(e, "channel", 1, err, errlen);
		if (err[0] != '\0')
			return (-1);
	}
	return (0);
}

/* The id of entry e, lowercased (ids are compared as PostgreSQL prints
 * them). */
static void
audit_entry_id(json_t *e, char id[UTIL_UUID_LEN])
{
	const char	*s = json_string_value(json_object_get(e, "id"));
	size_t		 i;

	for (i = 0; i < UTIL_UUID_LEN - 1; i++)
		id[i] = (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 'a' : s[i];
	id[UTIL_UUID_LEN - 1] = '\0';
}

/* The ids of list already chained, as the keys of a new object; NULL on
 * a database error or ENOMEM. */
static json_t *
audit_seen(struct db *db, json_t *list)
{
	PGresult	*res = NULL;
	json_t		*ids = json_array(), *e, *seen = NULL;
	char		 id[UTIL_UUID_LEN], *js = NULL;
	const char	*p[1];
	size_t		 i;
	int		 r;

	json_array_foreach(list, i, e) {
		audit_entry_id(e, id);
		if (json_array_append_new(ids, json_string(id)) != 0)
			goto done;
	}
	if ((js = json_dumps(ids, JSON_COMPACT)) == NULL)
		goto done;
	p[0] = js;
	if ((res = db_exec(db, SQL_SEEN, 1, p)) == NULL ||
	    (seen = json_object()) == NULL)
		goto done;
	for (r = 0; r < PQntuples(res); r++)
		if (json_object_set_new(seen, PQgetvalue(res, r, 0),
		    json_true()) != 0) {
			json_decref(seen);
			seen = NULL;
			goto done;
		}
 done:
	PQclear(res);
	free(js);
	json_decref(ids);
	return (seen);
}

/*
 * Chains the entries of list not in seen after *seq / prev (both moved
 * on): hashes them in order, then inserts them in one statement.  Adds
 * each to seen (an id twice in one batch is chained once).  Returns the
 * number chained, or -1 on a database error or ENOMEM.
 */
static int
audit_chain(struct db *db, json_t *list, json_t *seen, const char *source,
    long long *seq, char prev[AUDIT_HASH_HEX])
{
	struct audit_fields	 f;
	EVP_MD_CTX		*md = NULL;
	json_t			*rows = json_array(), *e, *row;
	char			 id[UTIL_UUID_LEN], hash[AUDIT_HASH_HEX];
	char			*js = NULL;
	const char		*p[1];
	size_t			 i;
	int			 n = 0, ret = -1;

	if (rows == NULL || (md = EVP_MD_CTX_new()) == NULL)
		goto done;
	json_array_foreach(list, i, e) {
		audit_entry_id(e, id);
		if (json_object_get(seen, id) != NULL)
			continue;
		memset(&f, 0, sizeof(f));
		f.af_seq = *seq;
		f.af_ts = json_string_value(json_object_get(e, "timestamp"));
		f.af_agent = json_string_value(json_object_get(e, "agent_id"));
		f.af_action = json_string_value(json_object_get(e, "action"));
		f.af_detail = json_string_value(json_object_get(e, "detail"));
		f.af_outcome = json_string_value(json_object_get(e, "outcome"));
		f.af_user = json_string_value(json_object_get(e, "user_id"));
		f.af_channel = json_string_value(json_object_get(e, "channel"));
		f.af_prev = prev;
		if (audit_chain_hash(md, &f, hash) != 0) {
			log_warnx("%s: could not hash entry %lld", __func__,
			    *seq);
			goto done;
		}
		row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, "
		    "s:s?, s:s, s:s, s:s}", "seq", (json_int_t)*seq,
		    "entry_id", id, "ts", f.af_ts, "agent_id", f.af_agent,
		    "action", f.af_action, "detail", f.af_detail, "outcome",
		    f.af_outcome, "user_id", f.af_user, "channel",
		    f.af_channel, "prev_hash", prev, "hash", hash, "source",
		    source);
		if (row == NULL || json_array_append_new(rows, row) != 0 ||
		    json_object_set_new(seen, id, json_true()) != 0)
			goto done;
		(*seq)++;
		memcpy(prev, hash, AUDIT_HASH_HEX);
		n++;
	}
	if (n > 0) {
		if ((js = json_dumps(rows, JSON_COMPACT)) == NULL)
			goto done;
		p[0] = js;
		if (db_cmd(db, SQL_INSERT, 1, p) != 0)
			goto done;
	}
	ret = n;
 done:
	EVP_MD_CTX_free(md);
	json_decref(rows);
	free(js);
	return (ret);
}

static void
op_append(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res = NULL;
	json_t		*list = json_object_get(rq->mr_body, "entries");
	json_t		*seen = NULL;
	const char	*source, *p[2];
	char		 err[256], prev[AUDIT_HASH_HEX], seqs[32];
	long long	 seq;
	int		 added, dups, intx = 0;

	if (audit_check(list, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return;
	}
	if ((source = json_string_value(json_object_get(rq->mr_body,
	    "source"))) == NULL)
		source = "";
	if (db_cmd(c->sc_db, "BEGIN", 0, NULL) != 0)
		goto fail;
	intx = 1;
	if ((res = db_exec(c->sc_db, SQL_LOCK_HEAD, 0, NULL)) == NULL ||
	    PQntuples(res) != 1 ||
	    util_strtonum(PQgetvalue(res, 0, 0), 0, INT64_MAX, &seq) != 0)
		goto fail;
	snprintf(prev, sizeof(prev), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	res = NULL;
	/* Under the lock: an id is either chained or not, for good. */
	if ((seen = audit_seen(c->sc_db, list)) == NULL ||
	    (added = audit_chain(c->sc_db, list, seen, source, &seq,
	    prev)) < 0)
		goto fail;
	dups = (int)json_array_size(list) - added;
	snprintf(seqs, sizeof(seqs), "%lld", seq);
	p[0] = seqs;
	p[1] = prev;
	if ((added > 0 && db_cmd(c->sc_db, SQL_MOVE_HEAD, 2, p) != 0) ||
	    db_cmd(c->sc_db, "COMMIT", 0, NULL) != 0)
		goto fail;
	json_decref(seen);
	svc_reply_json(rp, 200, json_pack("{s:i, s:i, s:I, s:s}", "appended",
	    added, "duplicates", dups, "next_seq", (json_int_t)seq, "tip_hash",
	    prev));
	return;
 fail:
	PQclear(res);
	json_decref(seen);
	svc_reply_db_error(rp, c);
	if (intx)
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
}

/* One row of SQL_RECENT/SQL_PAGE as an entry of GET /api/audit/recent:
 * the reference's fields and the chain's own (new). */
static json_t *
audit_row(PGresult *res, int i)
{
	long long	 seq = 0;
	json_t		*o;

	(void)util_strtonum(PQgetvalue(res, i, 0), 0, INT64_MAX, &seq);
	o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:s}",
	    "id", (json_int_t)seq, "seq", (json_int_t)seq,
	    "timestamp", PQgetvalue(res, i, 1),
	    "agent_id", PQgetvalue(res, i, 2),
	    "event_type", PQgetvalue(res, i, 3),
	    "action", PQgetvalue(res, i, 3),
	    "details", PQgetvalue(res, i, 4),
	    "detail", PQgetvalue(res, i, 4),
	    "outcome", PQgetvalue(res, i, 5),
	    "prev_hash", PQgetvalue(res, i, 8),
	    "hash", PQgetvalue(res, i, 9));
	if (o != NULL && !PQgetisnull(res, i, 6))
		json_object_set_new(o, "user_id",
		    json_string(PQgetvalue(res, i, 6)));
	if (o != NULL && !PQgetisnull(res, i, 7))
		json_object_set_new(o, "channel",
		    json_string(PQgetvalue(res, i, 7)));
	return (o);
}

/* head: 0 and its next_seq and tip, or -1. */
static int
audit_head(struct db *db, long long *next, char tip[AUDIT_HASH_HEX])
{
	PGresult	*res;
	int		 ret = -1;

	if ((res = db_exec(db, SQL_HEAD, 0, NULL)) == NULL)
		return (-1);
	if (PQntuples(res) == 1 && util_strtonum(PQgetvalue(res, 0, 0), 0,
	    INT64_MAX, next) == 0) {
		snprintf(tip, AUDIT_HASH_HEX, "%s", PQgetvalue(res, 0, 1));
		ret = 0;
	}
	PQclear(res);
	return (ret);
}

/* GET /api/audit/recent?limit=: the last limit entries, oldest first. */
static void
op_recent(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res = NULL;
	json_t		*v = json_object_get(rq->mr_query, "limit"), *list;
	const char	*p[1];
	char		 tip[AUDIT_HASH_HEX], from[32];
	long long	 limit = AUDIT_RECENT_DEFAULT, next;
	int		 i;

	if (v == NULL)
		v = json_object_get(rq->mr_query, "n");	/* the upstream name */
	if (v != NULL && (!json_is_string(v) ||
	    util_strtonum(json_string_value(v), 1, AUDIT_RECENT_MAX,
	    &limit) != 0)) {
		svc_reply_error(rp, 400, "limit must be an integer from 1 to "
		    "%d", AUDIT_RECENT_MAX);
		return;
	}
	if (audit_head(c->sc_db, &next, tip) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	/* By seq, not by LIMIT over a descending scan: seq has no gap. */
	snprintf(from, sizeof(from), "%lld", next > limit ? next - limit : 0);
	p[0] = from;
	if ((res = db_exec(c->sc_db, SQL_RECENT, 1, p)) == NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	list = json_array();
	for (i = 0; i < PQntuples(res) && i < limit; i++)
		svc_list_add(&list, audit_row(res, i));
	PQclear(res);
	if (list == NULL) {
		svc_reply_json(rp, 500, NULL);
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:I, s:I, s:s}",
	    "entries", list, "total", (json_int_t)next, "offset",
	    (json_int_t)0, "limit", (json_int_t)limit, "tip_hash", tip));
}

/*
 * Verify walks [aw_from, aw_to) of the chain.  The first range starts at
 * the genesis; a later one learns its first prev_hash from its first row
 * (aw_head_prev), and op_verify() checks it against the range before.
 */
struct audit_walk {
	struct db	*aw_db;			/* borrowed */
	long long	 aw_from;
	long long	 aw_to;
	long long	 aw_seq;		/* the next expected seq */
	int		 aw_known;		/* aw_prev is expected */
	char		 aw_prev[AUDIT_HASH_HEX];
	char		 aw_head_prev[AUDIT_HASH_HEX];
	char		 aw_first[64];
	char		 aw_last[64];
	int		 aw_status;		/* 0 ok, 1 broken, -1 db */
	long long	 aw_break;
	char		 aw_err[160];
};

static void
audit_walk_broken(struct audit_walk *w, long long at, const char *why)
{
	w->aw_status = 1;
	w->aw_break = at;
	/* The reference's two texts: a hash that does not match its entry,
	 * or a link that does not hold. */
	if (strcmp(why, "Hash mismatch") == 0)
		snprintf(w->aw_err, sizeof(w->aw_err), "Hash mismatch at "
		    "entry %lld", at);
	else
		snprintf(w->aw_err, sizeof(w->aw_err), "Chain break at entry "
		    "%lld: %s", at, why);
}

/* Checks one page; the number of rows, or -1 when the chain broke. */
static int
audit_walk_page(struct audit_walk *w, EVP_MD_CTX *md, PGresult *res)
{
	struct audit_fields	 f;
	char			 hash[AUDIT_HASH_HEX];
	long long		 seq;
	int			 i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		if (util_strtonum(PQgetvalue(res, i, 0), 0, INT64_MAX,
		    &seq) != 0 || seq != w->aw_seq) {
			audit_walk_broken(w, w->aw_seq, "the entry is missing");
			return (-1);
		}
		memset(&f, 0, sizeof(f));
		f.af_seq = seq;
		f.af_ts = PQgetvalue(res, i, 1);
		f.af_agent = PQgetvalue(res, i, 2);
		f.af_action = PQgetvalue(res, i, 3);
		f.af_detail = PQgetvalue(res, i, 4);
		f.af_outcome = PQgetvalue(res, i, 5);
		f.af_user = PQgetisnull(res, i, 6) ? NULL :
		    PQgetvalue(res, i, 6);
		f.af_channel = PQgetisnull(res, i, 7) ? NULL :
		    PQgetvalue(res, i, 7);
		f.af_prev = PQgetvalue(res, i, 8);
		if (!w->aw_known) {
			snprintf(w->aw_head_prev, AUDIT_HASH_HEX, "%s",
			    f.af_prev);
			snprintf(w->aw_prev, AUDIT_HASH_HEX, "%s", f.af_prev);
			w->aw_known = 1;
		}
		if (strcmp(f.af_prev, w->aw_prev) != 0) {
			audit_walk_broken(w, seq, "prev_hash does not match "
			    "the entry before");
			return (-1);
		}
		if (audit_chain_hash(md, &f, hash) != 0 ||
		    strcmp(hash, PQgetvalue(res, i, 9)) != 0) {
			audit_walk_broken(w, seq, "Hash mismatch");
			return (-1);
		}
		if (seq == 0)
			snprintf(w->aw_first, sizeof(w->aw_first), "%s",
			    f.af_ts);
		if (seq == w->aw_to - 1)
			snprintf(w->aw_last, sizeof(w->aw_last), "%s",
			    f.af_ts);
		memcpy(w->aw_prev, hash, AUDIT_HASH_HEX);
		w->aw_seq++;
	}
	return (n);
}

static void *
audit_walk_range(void *arg)
{
	struct audit_walk	*w = arg;
	EVP_MD_CTX		*md;
	PGresult		*res;
	const char		*p[2];
	char			 from[32], to[32];
	int			 n;

	if ((md = EVP_MD_CTX_new()) == NULL) {
		w->aw_status = -1;
		return (NULL);
	}
	w->aw_seq = w->aw_from;
	snprintf(to, sizeof(to), "%lld", w->aw_to);
	do {
		snprintf(from, sizeof(from), "%lld", w->aw_seq);
		p[0] = from;
		p[1] = to;
		if ((res = db_exec(w->aw_db, SQL_PAGE, 2, p)) == NULL) {
			w->aw_status = -1;
			break;
		}
		n = audit_walk_page(w, md, res);
		PQclear(res);
	} while (n == AUDIT_VERIFY_PAGE && w->aw_seq < w->aw_to);
	/* A range cut short: rows missing at its end. */
	if (w->aw_status == 0 && w->aw_seq < w->aw_to)
		audit_walk_broken(w, w->aw_seq, "the entry is missing");
	EVP_MD_CTX_free(md);
	return (NULL);
}

/*
 * A long chain is cut into AUDIT_VERIFY_WALKS ranges, each walked on a
 * thread of its own with its own connection: fetching and hashing a
 * million entries is the work of every core, and while one walk waits
 * for its page another hashes.  Below AUDIT_VERIFY_SPLIT entries one walk
 * on the worker's connection does.
 */
#define AUDIT_VERIFY_SPLIT	100000
#define AUDIT_VERIFY_WALKS	4

static void
op_verify(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct audit_walk	 w[AUDIT_VERIFY_WALKS], *bw = NULL;
	struct db		*dbs[AUDIT_VERIFY_WALKS];
	pthread_t		 th[AUDIT_VERIFY_WALKS];
	int			 started[AUDIT_VERIFY_WALKS];
	char			 tip[AUDIT_HASH_HEX], ci[1024];
	long long		 next;
	int			 i, nw = 1, dberr = 0;

	(void)rq;
	memset(w, 0, sizeof(w));
	memset(dbs, 0, sizeof(dbs));
	memset(started, 0, sizeof(started));
	/* head first: entries appended during the walk are not judged. */
	if (audit_head(c->sc_db, &next, tip) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (next >= AUDIT_VERIFY_SPLIT) {
		db_conninfo(c->sc_cfg->database_url, c->sc_cfg->home_dir, ci,
		    sizeof(ci));
		for (nw = 1; nw < AUDIT_VERIFY_WALKS; nw++)
			if ((dbs[nw] = db_open(ci, "audit")) == NULL)
				break;
		explicit_bzero(ci, sizeof(ci));
	}
	for (i = 0; i < nw; i++) {
		w[i].aw_db = i == 0 ? c->sc_db : dbs[i];
		w[i].aw_from = next * i / nw;
		w[i].aw_to = next * (i + 1) / nw;
	}
	w[0].aw_known = 1;
	memset(w[0].aw_prev, '0', 64);
	for (i = 1; i < nw; i++)
		started[i] = pthread_create(&th[i], NULL, audit_walk_range,
		    &w[i]) == 0;
	audit_walk_range(&w[0]);
	for (i = 1; i < nw; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			audit_walk_range(&w[i]);
		db_close(dbs[i]);
	}
	for (i = 0; i < nw; i++)
		dberr |= w[i].aw_status < 0;
	if (dberr) {
		svc_reply_db_error(rp, c);
		return;
	}
	/* The earliest break wins: in a range, then at its seam with the
	 * next, then the tip. */
	for (i = 0; i < nw && bw == NULL; i++) {
		if (w[i].aw_status != 0)
			bw = &w[i];
		else if (i + 1 < nw && w[i + 1].aw_known &&
		    strcmp(w[i + 1].aw_head_prev, w[i].aw_prev) != 0) {
			bw = &w[i + 1];
			audit_walk_broken(bw, w[i + 1].aw_from,
			    "prev_hash does not match the entry before");
		}
	}
	if (bw == NULL && strcmp(w[nw - 1].aw_prev, tip) != 0) {
		bw = &w[nw - 1];
		audit_walk_broken(bw, next > 0 ? next - 1 : 0,
		    "the tip does not match");
	}
	if (bw != NULL) {
		svc_reply_json(rp, 200, json_pack("{s:s, s:b, s:I, s:I, s:s, "
		    "s:s}", "status", "broken", "valid", 0, "chain_length",
		    (json_int_t)next, "break_at", (json_int_t)bw->aw_break,
		    "error", bw->aw_err, "anchor_status", "none"));
		return;
	}
	svc_reply_json(rp, 200, json_pack("{s:s, s:b, s:I, s:I, s:s*, s:s*, "
	    "s:s, s:b, s:s}", "status", "valid", "valid", 1, "chain_length",
	    (json_int_t)next, "entries", (json_int_t)next,
	    "first_entry", next > 0 ? w[0].aw_first : NULL,
	    "last_entry", next > 0 ? w[nw - 1].aw_last : NULL,
	    "tip_hash", tip, "anchor_enabled", 0, "anchor_status", "none"));
}

const struct svc_op chain_ops[] = {
	{ OP_AUDIT_APPEND,	op_append },
	{ OP_AUDIT_RECENT,	op_recent },
	{ OP_AUDIT_VERIFY,	op_verify },
	{ NULL, NULL }
};
