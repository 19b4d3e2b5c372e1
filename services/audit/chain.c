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
 * Verify streams the retained chain by seq (binary COPY) from its anchor
 * and recomputes every hash in C; it also checks head, so that deleting
 * the last entries is seen, and the anchor file (anchor.c), so that
 * cutting them off with head is.
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
	"SELECT next_seq, tip_hash, first_seq, anchor_hash FROM head "
	"WHERE id = 1 FOR UPDATE";
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
	"SELECT next_seq, tip_hash, first_seq, anchor_hash FROM head "
	"WHERE id = 1";
static const char SQL_RECENT[] =
	"SELECT seq, ts, agent_id, action, detail, outcome, user_id, channel, "
	"    prev_hash, hash FROM entries "
	"WHERE seq >= $1::bigint ORDER BY seq";
/*
 * SHA-256 fetched once: in OpenSSL 3, EVP_DigestInit_ex() with
 * EVP_sha256() looks the implementation up by name at every call, under a
 * lock, and that lookup cost verify more than the hashing itself.
 */
static pthread_once_t	 audit_md_once = PTHREAD_ONCE_INIT;
static EVP_MD		*audit_md_fetched;

static void
audit_md_init(void)
{
	audit_md_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
audit_md(void)
{
	(void)pthread_once(&audit_md_once, audit_md_init);
	return (audit_md_fetched != NULL ? audit_md_fetched : EVP_sha256());
}

/* The decimal text of v (>= 0) into buf; its length. */
static size_t
audit_utoa(long long v, char buf[24])
{
	char	tmp[24];
	size_t	n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && n < sizeof(tmp));
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return (n);
}

/* The fields of one entry as spans (verify reads them unterminated from
 * binary COPY); a NULL p is an absent user_id or channel. */
enum { AS_TS, AS_AGENT, AS_ACTION, AS_DETAIL, AS_OUTCOME, AS_USER,
	AS_CHANNEL, AS_PREV, AS_N };

struct audit_span {
	const char	*as_p;
	size_t		 as_n;
};

/* The v2 hash of seq and sp into out (lowercase hex, not terminated);
 * 0, or -1 when OpenSSL fails. */
static int
audit_hash_spans(EVP_MD_CTX *md, long long seq,
    const struct audit_span sp[AS_N], char out[64])
{
	static const char	 hex[] = "0123456789abcdef";
	static const char *const tags[AS_N] = { "\x1ftimestamp=",
	    "\x1f" "agent_id=", "\x1f" "action=", "\x1f" "detail=",
	    "\x1f" "outcome=", "\x1fuser_id=", "\x1f" "channel=",
	    "\x1fprev_hash=" };
	unsigned char		 h[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;
	char			 num[24];
	size_t			 nl;
	int			 ok, k;

	nl = audit_utoa(seq, num);
	/* kernel.md 5, v2: each field tagged and led by 0x1f; user_id and
	 * channel only when present. */
	ok = EVP_DigestInit_ex(md, audit_md(), NULL) &&
	    EVP_DigestUpdate(md, "\x1fseq=", 5) &&
	    EVP_DigestUpdate(md, num, nl);
	for (k = 0; ok && k < AS_N; k++) {
		if (sp[k].as_p == NULL)
			continue;
		ok = EVP_DigestUpdate(md, tags[k], strlen(tags[k])) &&
		    EVP_DigestUpdate(md, sp[k].as_p, sp[k].as_n);
	}
	if (!ok || !EVP_DigestFinal_ex(md, h, &n) || n != 32)
		return (-1);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	return (0);
}

int
audit_chain_hash(EVP_MD_CTX *ctx, const struct audit_fields *f,
    char out[AUDIT_HASH_HEX])
{
	struct audit_span	 sp[AS_N];
	const char		*v[AS_N];
	EVP_MD_CTX		*md = ctx;
	int			 k, ret;

	if (md == NULL && (md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	v[AS_TS] = f->af_ts;
	v[AS_AGENT] = f->af_agent;
	v[AS_ACTION] = f->af_action;
	v[AS_DETAIL] = f->af_detail;
	v[AS_OUTCOME] = f->af_outcome;
	v[AS_USER] = f->af_user;
	v[AS_CHANNEL] = f->af_channel;
	v[AS_PREV] = f->af_prev;
	for (k = 0; k < AS_N; k++) {
		sp[k].as_p = v[k];
		sp[k].as_n = v[k] != NULL ? strlen(v[k]) : 0;
	}
	ret = audit_hash_spans(md, f->af_seq, sp, out);
	out[64] = '\0';
	if (ctx == NULL)
		EVP_MD_CTX_free(md);
	return (ret);
}

int
chain_action_known(const char *s)
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
		if (!chain_action_known(s)) {
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

/* Reads head's row with sql (SQL_HEAD or SQL_LOCK_HEAD) into t. */
static int
chain_head_read(struct db *db, const char *sql, struct audit_tip *t)
{
	PGresult	*res;
	int		 ret = -1;

	if ((res = db_exec(db, sql, 0, NULL)) == NULL)
		return (-1);
	if (PQntuples(res) == 1 && util_strtonum(PQgetvalue(res, 0, 0), 0,
	    INT64_MAX, &t->at_next) == 0 && util_strtonum(PQgetvalue(res, 0,
	    2), 0, INT64_MAX, &t->at_first) == 0) {
		snprintf(t->at_tip, AUDIT_HASH_HEX, "%s", PQgetvalue(res, 0, 1));
		snprintf(t->at_anchor, AUDIT_HASH_HEX, "%s",
		    PQgetvalue(res, 0, 3));
		ret = 0;
	}
	PQclear(res);
	return (ret);
}

int
chain_lock_head(struct db *db, struct audit_tip *t)
{
	return (chain_head_read(db, SQL_LOCK_HEAD, t));
}

int
chain_append_locked(struct db *db, json_t *list, const char *source,
    struct audit_tip *t)
{
	json_t		*seen;
	const char	*p[2];
	char		 seqs[32];
	int		 added = -1;

	/* Under the lock: an id is either chained or not, for good. */
	if ((seen = audit_seen(db, list)) == NULL ||
	    (added = audit_chain(db, list, seen, source, &t->at_next,
	    t->at_tip)) <= 0)
		goto done;
	snprintf(seqs, sizeof(seqs), "%lld", t->at_next);
	p[0] = seqs;
	p[1] = t->at_tip;
	if (db_cmd(db, SQL_MOVE_HEAD, 2, p) != 0)
		added = -1;
 done:
	json_decref(seen);
	return (added);
}

static void
op_append(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct audit_tip t;
	json_t		*list = json_object_get(rq->mr_body, "entries");
	const char	*source;
	char		 err[256];
	int		 added, intx = 0;

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
	if (chain_lock_head(c->sc_db, &t) != 0 ||
	    (added = chain_append_locked(c->sc_db, list, source, &t)) < 0 ||
	    db_cmd(c->sc_db, "COMMIT", 0, NULL) != 0)
		goto fail;
	if (added > 0)
		anchor_write(t.at_next, t.at_tip);
	svc_reply_json(rp, 200, json_pack("{s:i, s:i, s:I, s:s}", "appended",
	    added, "duplicates", (int)json_array_size(list) - added,
	    "next_seq", (json_int_t)t.at_next, "tip_hash", t.at_tip));
	return;
 fail:
	svc_reply_db_error(rp, c);
	if (intx)
		(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
}

/* One row of SQL_RECENT as an entry of GET /api/audit/recent:
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

int
chain_head(struct db *db, struct audit_tip *t)
{
	return (chain_head_read(db, SQL_HEAD, t));
}

/* GET /api/audit/recent?limit=: the last limit entries, oldest first. */
static void
op_recent(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct audit_tip	 t;
	PGresult		*res = NULL;
	json_t			*v = json_object_get(rq->mr_query, "limit");
	json_t			*list;
	const char		*p[1];
	char			 from[32];
	long long		 limit = AUDIT_RECENT_DEFAULT, lo;
	int			 i;

	if (v == NULL)
		v = json_object_get(rq->mr_query, "n");	/* the upstream name */
	if (v != NULL && (!json_is_string(v) ||
	    util_strtonum(json_string_value(v), 1, AUDIT_RECENT_MAX,
	    &limit) != 0)) {
		svc_reply_error(rp, 400, "limit must be an integer from 1 to "
		    "%d", AUDIT_RECENT_MAX);
		return;
	}
	if (chain_head(c->sc_db, &t) != 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	/* By seq, not by LIMIT over a descending scan: seq has no gap
	 * from the first retained entry on. */
	lo = t.at_next > limit ? t.at_next - limit : 0;
	if (lo < t.at_first)
		lo = t.at_first;
	snprintf(from, sizeof(from), "%lld", lo);
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
	svc_reply_json(rp, 200, json_pack("{s:o, s:I, s:I, s:I, s:s, s:I}",
	    "entries", list, "total", (json_int_t)t.at_next, "offset",
	    (json_int_t)0, "limit", (json_int_t)limit, "tip_hash", t.at_tip,
	    "first_seq", (json_int_t)t.at_first));
}

/*
 * Verify walks [aw_from, aw_to) of the chain, streamed by a COPY ...
 * (FORMAT binary) on a connection of its own: no page of 50,000 rows
 * allocated and freed (the page faults cost as much as the hashing), no
 * seq parsed from text, no field measured with strlen().  The first
 * range starts at the chain's anchor (genesis, or the last trimmed
 * entry's hash); a later one learns its first prev_hash from its first
 * row (aw_head_prev), and op_verify() checks it against the range before.
 */
struct audit_walk {
	const char	*aw_conninfo;		/* borrowed */
	long long	 aw_from;
	long long	 aw_to;
	long long	 aw_seq;		/* the next expected seq */
	int		 aw_known;		/* aw_prev is expected */
	int		 aw_header;		/* COPY's header was read */
	char		 aw_prev[AUDIT_HASH_HEX];
	char		 aw_head_prev[AUDIT_HASH_HEX];
	char		 aw_first[64];
	char		 aw_last[64];
	int		 aw_status;		/* 0 ok, 1 broken, -1 db */
	long long	 aw_break;
	char		 aw_err[160];
};

#define AUDIT_COPY_FIELDS	10
static const char AUDIT_COPY_SIG[11] = "PGCOPY\n\377\r\n";	/* and NUL */

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

static uint32_t
audit_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

/*
 * Checks one row of the binary COPY (buf, len: one CopyData message, the
 * first also carrying the header).  0, 1 at the trailer, or -1 when the
 * chain broke or the data is not what was asked for (aw_status says).
 */
static int
audit_walk_row(struct audit_walk *w, EVP_MD_CTX *md, const char *buf,
    size_t len)
{
	const unsigned char	*p = (const unsigned char *)buf;
	const unsigned char	*e = p + len;
	struct audit_span	 sp[AS_N + 2];	/* and seq's, hash's */
	char			 hash[64];
	long long		 seq = 0;
	uint32_t		 n;
	int			 k, nf;

	if (!w->aw_header) {
		if (len < 19 || memcmp(p, AUDIT_COPY_SIG, 11) != 0)
			goto bad;
		n = audit_be32(p + 15);
		if (n > len - 19)
			goto bad;
		p += 19 + n;
		w->aw_header = 1;
		if (p == e)
			return (0);
	}
	if (e - p < 2)
		goto bad;
	nf = (int16_t)(p[0] << 8 | p[1]);
	p += 2;
	if (nf == -1)
		return (1);
	if (nf != AUDIT_COPY_FIELDS)
		goto bad;
	/* sp[0] seq, sp[1..8] the hashed fields, sp[9] hash. */
	for (k = 0; k < AUDIT_COPY_FIELDS; k++) {
		if (e - p < 4)
			goto bad;
		n = audit_be32(p);
		p += 4;
		if (n == 0xffffffffU) {
			sp[k].as_p = NULL;
			sp[k].as_n = 0;
			continue;
		}
		if (n > (size_t)(e - p))
			goto bad;
		sp[k].as_p = (const char *)p;
		sp[k].as_n = n;
		p += n;
	}
	if (sp[0].as_n != 8)
		goto bad;
	for (k = 0; k < 8; k++)
		seq = (long long)((unsigned long long)seq << 8 |
		    (unsigned char)sp[0].as_p[k]);
	for (k = 1; k <= AS_N; k++)
		if (sp[k].as_p == NULL && k - 1 != AS_USER &&
		    k - 1 != AS_CHANNEL)
			goto bad;
	if (sp[9].as_p == NULL)
		goto bad;
	if (seq != w->aw_seq) {
		audit_walk_broken(w, w->aw_seq, "the entry is missing");
		return (-1);
	}
	if (!w->aw_known) {
		snprintf(w->aw_head_prev, AUDIT_HASH_HEX, "%.*s",
		    (int)sp[1 + AS_PREV].as_n, sp[1 + AS_PREV].as_p);
		memcpy(w->aw_prev, w->aw_head_prev, AUDIT_HASH_HEX);
		w->aw_known = 1;
	}
	if (sp[1 + AS_PREV].as_n != 64 ||
	    memcmp(sp[1 + AS_PREV].as_p, w->aw_prev, 64) != 0) {
		audit_walk_broken(w, seq, "prev_hash does not match the entry "
		    "before");
		return (-1);
	}
	if (audit_hash_spans(md, seq, sp + 1, hash) != 0 ||
	    sp[9].as_n != 64 || memcmp(hash, sp[9].as_p, 64) != 0) {
		audit_walk_broken(w, seq, "Hash mismatch");
		return (-1);
	}
	if (seq == w->aw_from)
		snprintf(w->aw_first, sizeof(w->aw_first), "%.*s",
		    (int)sp[1 + AS_TS].as_n, sp[1 + AS_TS].as_p);
	if (seq == w->aw_to - 1)
		snprintf(w->aw_last, sizeof(w->aw_last), "%.*s",
		    (int)sp[1 + AS_TS].as_n, sp[1 + AS_TS].as_p);
	memcpy(w->aw_prev, hash, 64);
	w->aw_seq++;
	return (0);
 bad:
	log_warnx("%s: could not read the COPY of entry %lld", __func__,
	    w->aw_seq);
	w->aw_status = -1;
	return (-1);
}

static void *
audit_walk_range(void *arg)
{
	struct audit_walk	*w = arg;
	EVP_MD_CTX		*md = NULL;
	PGconn			*conn = NULL;
	PGresult		*res = NULL;
	char			 q[512], *buf;
	int			 n, r = 0;

	w->aw_seq = w->aw_from;
	if (w->aw_from >= w->aw_to)
		return (NULL);
	snprintf(q, sizeof(q), "COPY (SELECT seq, ts, agent_id, action, "
	    "detail, outcome, user_id, channel, prev_hash, hash "
	    "FROM audit.entries WHERE seq >= %lld AND seq < %lld "
	    "ORDER BY seq) TO STDOUT (FORMAT binary)", w->aw_from, w->aw_to);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    (conn = db_connect_plain(w->aw_conninfo)) == NULL ||
	    PQstatus(conn) != CONNECTION_OK ||
	    (res = PQexec(conn, q)) == NULL ||
	    PQresultStatus(res) != PGRES_COPY_OUT) {
		log_warnx("%s: could not read the chain (%s): %s", __func__,
		    res != NULL ? PQresStatus(PQresultStatus(res)) : "-",
		    conn != NULL ? PQerrorMessage(conn) : "out of memory");
		w->aw_status = -1;
		goto done;
	}
	/* Until the end of the COPY (-1), past the trailer. */
	while (r >= 0 && (n = PQgetCopyData(conn, &buf, 0)) > 0) {
		r = r == 0 ? audit_walk_row(w, md, buf, (size_t)n) : r;
		PQfreemem(buf);
	}
	/* A break stops the walk; closing the connection ends the COPY. */
	if (r < 0)
		goto done;
	PQclear(res);
	if ((res = PQgetResult(conn)) == NULL ||
	    PQresultStatus(res) != PGRES_COMMAND_OK || r != 1) {
		log_warnx("%s: could not read the chain to its end: %s",
		    __func__, PQerrorMessage(conn));
		w->aw_status = -1;
		goto done;
	}
	/* A range cut short: rows missing at its end. */
	if (w->aw_seq < w->aw_to)
		audit_walk_broken(w, w->aw_seq, "the entry is missing");
 done:
	PQclear(res);
	PQfinish(conn);
	EVP_MD_CTX_free(md);
	return (NULL);
}

/*
 * A long chain is cut into AUDIT_VERIFY_WALKS ranges, each walked on a
 * thread of its own with its own connection: while one walk waits for
 * its rows another hashes, and PostgreSQL reads the ranges on both
 * cores.  Below AUDIT_VERIFY_SPLIT entries one walk does.
 */
#define AUDIT_VERIFY_SPLIT	100000
#define AUDIT_VERIFY_WALKS	4
#define AUDIT_VERIFY_TRIES	3	/* walks, when trims race them */

/*
 * Walks the retained chain [t->at_first, t->at_next) from its anchor.
 * Returns 0 with *bw the walk that broke first (NULL: valid) and first
 * and last the timestamps of its ends, or -1 when the database failed.
 */
static int
audit_walk_chain(struct svc_ctx *c, const struct audit_tip *t,
    struct audit_walk *w, struct audit_walk **bwp)
{
	struct audit_walk	*bw = NULL;
	pthread_t		 th[AUDIT_VERIFY_WALKS];
	int			 started[AUDIT_VERIFY_WALKS];
	char			 ci[1024];
	long long		 n = t->at_next - t->at_first;
	int			 i, nw = 1, dberr = 0;

	memset(started, 0, sizeof(started));
	db_conninfo(c->sc_cfg->database_url, c->sc_cfg->home_dir, ci,
	    sizeof(ci));
	if (n >= AUDIT_VERIFY_SPLIT)
		nw = AUDIT_VERIFY_WALKS;
	for (i = 0; i < nw; i++) {
		w[i].aw_conninfo = ci;
		w[i].aw_from = t->at_first + n * i / nw;
		w[i].aw_to = t->at_first + n * (i + 1) / nw;
	}
	w[0].aw_known = 1;
	memcpy(w[0].aw_prev, t->at_anchor, AUDIT_HASH_HEX);
	for (i = 1; i < nw; i++)
		started[i] = pthread_create(&th[i], NULL, audit_walk_range,
		    &w[i]) == 0;
	audit_walk_range(&w[0]);
	for (i = 1; i < nw; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			audit_walk_range(&w[i]);
	}
	explicit_bzero(ci, sizeof(ci));
	for (i = 0; i < nw; i++)
		dberr |= w[i].aw_status < 0;
	if (dberr)
		return (-1);
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
	if (bw == NULL && strcmp(w[nw - 1].aw_prev, t->at_tip) != 0) {
		bw = &w[nw - 1];
		audit_walk_broken(bw, t->at_next > 0 ? t->at_next - 1 : 0,
		    "the tip does not match");
	}
	*bwp = bw;
	return (nw);
}

static void
op_verify(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	(void)rq;
	chain_verify(c, rp);
}

void
chain_verify(struct svc_ctx *c, struct svc_reply *rp)
{
	struct audit_walk	 w[AUDIT_VERIFY_WALKS], *bw = NULL;
	struct audit_tip	 t, now;
	json_t			*o;
	const char		*anchor = NULL, *err;
	char			 aerr[256];
	long long		 at = 0;
	int			 nw = 1, ar = 0, try;

	/*
	 * head first: entries appended during the walk are not judged.  A
	 * retention trim that ran during the walk deleted entries it
	 * expected: when head's first_seq moved, the walk is done again.
	 */
	for (try = 0; try < AUDIT_VERIFY_TRIES; try++) {
		memset(w, 0, sizeof(w));
		bw = NULL;
		if (chain_head(c->sc_db, &t) != 0 ||
		    (nw = audit_walk_chain(c, &t, w, &bw)) < 0 ||
		    (bw != NULL && chain_head(c->sc_db, &now) != 0)) {
			svc_reply_db_error(rp, c);
			return;
		}
		if (bw == NULL || now.at_first == t.at_first)
			break;
	}
	if ((ar = anchor_check(c->sc_db, &t, aerr, sizeof(aerr), &at)) < 0) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (audit_conf.ac_anchor[0] != '\0')
		anchor = ar == 0 ? "ok" : "error";
	/* A break in the chain is reported before the anchor's. */
	if (bw != NULL || ar != 0) {
		err = bw != NULL ? bw->aw_err : aerr;
		o = json_pack("{s:s, s:b, s:I, s:I, s:s, s:s, s:I}", "status",
		    "broken", "valid", 0, "chain_length", (json_int_t)t.at_next,
		    "break_at", (json_int_t)(bw != NULL ? bw->aw_break : at),
		    "error", err, "anchor_status", anchor != NULL ? anchor :
		    "none", "first_seq", (json_int_t)t.at_first);
	} else
		o = json_pack("{s:s, s:b, s:I, s:I, s:s*, s:s*, s:s, s:b, "
		    "s:s, s:I}", "status", "valid", "valid", 1,
		    "chain_length", (json_int_t)t.at_next, "entries",
		    (json_int_t)(t.at_next - t.at_first),
		    "first_entry", t.at_next > t.at_first ? w[0].aw_first :
		    NULL, "last_entry", t.at_next > t.at_first ?
		    w[nw - 1].aw_last : NULL, "tip_hash", t.at_tip,
		    "anchor_enabled", anchor != NULL, "anchor_status",
		    anchor != NULL ? anchor : "none", "first_seq",
		    (json_int_t)t.at_first);
	if (o != NULL && anchor != NULL) {
		json_object_set_new(o, "anchor_enabled", json_true());
		json_object_set_new(o, "anchor_path",
		    json_string(audit_conf.ac_anchor));
	}
	if (o != NULL && bw != NULL && ar != 0)
		json_object_set_new(o, "anchor_error", json_string(aerr));
	svc_reply_json(rp, 200, o);
}

const struct svc_op chain_ops[] = {
	{ OP_AUDIT_APPEND,	op_append },
	{ OP_AUDIT_RECENT,	op_recent },
	{ OP_AUDIT_VERIFY,	op_verify },
	{ NULL, NULL }
};
