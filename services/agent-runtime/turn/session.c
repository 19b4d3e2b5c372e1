/*
 * turn/session.c - the SQL of runtime.sessions and runtime.usage_records
 * (sql/004_sessions.sql).  One function per statement shape; every
 * statement is parameterised.
 *
 * "active" (a turn runs on the session now, on any replica) is read from
 * pg_locks: a turn holds the advisory lock whose bigint key is the first
 * 64 bits of the session id, and PostgreSQL shows a bigint key as classid
 * (high half) and objid (low half) with objsubid 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "err.h"
#include "log.h"
#include "turn/session.h"
#include "util.h"

#define SQLSTATE_UNIQUE	"23505"

#define SESSION_TS(col)							\
	"to_char(s." col " AT TIME ZONE 'UTC', "			\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " col

#define SESSION_KEY							\
	"(('x' || translate(s.id::text, '-', ''))::bit(64)::bigint)"

#define SESSION_ACTIVE							\
	"EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' " \
	"AND l.granted AND l.objsubid = 1 "				\
	"AND l.classid::bigint = ((" SESSION_KEY " >> 32) & 4294967295) " \
	"AND l.objid::bigint = (" SESSION_KEY " & 4294967295)) AS active"

#define SESSION_COLUMNS							\
	"s.id::text AS session_id, s.agent_id::text AS agent_id, "	\
	"s.label, s.message_count, s.context_window_tokens, "		\
	"s.model_override, " SESSION_TS("created_at") ", "		\
	SESSION_TS("updated_at") ", " SESSION_ACTIVE

/*
 * The lock and the take in one statement, on the replica's lock
 * connection (the advisory lock is the connection's): the take runs only
 * when the lock was got.  One row: got, then the take's columns (NULL
 * when busy, or when the session belongs to another agent).
 */
static const char SQL_TAKE[] =
	"WITH l AS MATERIALIZED (SELECT pg_try_advisory_lock($5::bigint) "
	"    AS got), "
	"t AS (INSERT INTO sessions (id, agent_id, fence) "
	"    SELECT $1::uuid, $2::uuid, 1 FROM l WHERE l.got "
	"    ON CONFLICT (id) DO UPDATE SET fence = sessions.fence + 1, "
	"    interrupt = false, updated_at = clock_timestamp() "
	"    WHERE sessions.agent_id = $2::uuid "
	"    RETURNING fence, messages::text AS messages, summary, "
	"    model_override) "
	"SELECT l.got, t.fence, t.messages, t.summary, t.model_override, "
	/* As agent/store.c's agent_store_names(). */
	"    (SELECT coalesce(json_agg(p.name ORDER BY p.created_at, p.id), "
	"     '[]')::text FROM (SELECT name, created_at, id FROM agents "
	"     WHERE name <> $3 ORDER BY created_at, id LIMIT $4::integer) p), "
	/* turn/notify.c: whether any service wants Message events. */
	"    EXISTS (SELECT 1 FROM event_interest WHERE messages), "
	/* catalog/catalog.c: what users changed, as resolve last read. */
	"    (SELECT v FROM catalog_version), "
	/* skill/prompt.c: the skills, as its snapshot last read them. */
	"    (SELECT v FROM skill_version) "
	"FROM l LEFT JOIN t ON true";
static const char SQL_SAVE[] =
	"UPDATE sessions SET messages = $3::jsonb, "
	"    context_window_tokens = $4::bigint, "
	"    summary = CASE WHEN $5::boolean THEN $6 ELSE summary END, "
	"    updated_at = clock_timestamp() "
	"WHERE id = $1::uuid AND fence = $2::bigint RETURNING interrupt";
static const char SQL_INTERRUPTED[] =
	"SELECT interrupt OR fence <> $2::bigint FROM sessions "
	"WHERE id = $1::uuid";
static const char SQL_SET_INTERRUPT[] =
	"UPDATE sessions SET interrupt = true "
	"WHERE agent_id = $1::uuid AND ($2::uuid IS NULL OR id = $2::uuid)";
static const char SQL_ENSURE[] =
	"WITH ins AS (INSERT INTO sessions (id, agent_id) "
	"    VALUES ($1::uuid, $2::uuid) ON CONFLICT (id) DO NOTHING "
	"    RETURNING agent_id) "
	"SELECT agent_id::text FROM ins UNION ALL "
	"SELECT agent_id::text FROM sessions WHERE id = $1::uuid";
static const char SQL_GET[] =
	"SELECT " SESSION_COLUMNS ", s.messages AS messages_json, "
	"    s.summary FROM sessions s WHERE s.id = $1::uuid";
static const char SQL_GET_SHORT[] =
	"SELECT " SESSION_COLUMNS " FROM sessions s WHERE s.id = $1::uuid";
static const char SQL_LIST[] =
	"SELECT " SESSION_COLUMNS " FROM sessions s "
	"WHERE $1::uuid IS NULL OR s.agent_id = $1::uuid "
	"ORDER BY s.created_at DESC, s.id LIMIT $2::bigint OFFSET $3::bigint";
static const char SQL_BY_LABEL[] =
	"SELECT " SESSION_COLUMNS " FROM sessions s "
	"WHERE s.agent_id = $1::uuid AND s.label = $2";
static const char SQL_CREATE[] =
	"INSERT INTO sessions (id, agent_id, label) "
	"VALUES ($1::uuid, $2::uuid, $3)";
static const char SQL_DELETE[] =
	"DELETE FROM sessions WHERE id = $1::uuid RETURNING agent_id::text";
static const char SQL_DELETE_AGENT[] =
	"DELETE FROM sessions WHERE agent_id = $1::uuid";
static const char SQL_LABEL[] =
	"UPDATE sessions SET label = $2, updated_at = clock_timestamp() "
	"WHERE id = $1::uuid RETURNING 1";
static const char SQL_POINT[] =
	"UPDATE agents SET session_id = $2::uuid, "
	"    last_active = clock_timestamp() "
	"WHERE id = $1::uuid RETURNING 1";
static const char SQL_CLEANUP[] =
	"DELETE FROM sessions s WHERE NOT EXISTS "
	"    (SELECT 1 FROM agents a WHERE a.id = s.agent_id)";
static const char SQL_SEARCH[] =
	"SELECT s.id::text AS session_id, s.agent_id::text AS agent_id, "
	"    s.label, s.message_count, "
	"    substr(s.messages::text, greatest(strpos(lower(s.messages::text),"
	"    lower($1)) - 60, 1), 160) AS snippet "
	"FROM sessions s "
	"WHERE strpos(lower(s.messages::text), lower($1)) > 0 "
	"    AND ($2::uuid IS NULL OR s.agent_id = $2::uuid) "
	"ORDER BY s.updated_at DESC LIMIT $3::bigint";
static const char SQL_USAGE[] =
	"INSERT INTO usage_records (agent_id, session_id, provider, model, "
	"    input_tokens, output_tokens, cache_read_tokens, "
	"    cache_creation_tokens, cost_usd, iterations) "
	"VALUES ($1::uuid, $2::uuid, $3, $4, $5::bigint, $6::bigint, "
	"    $7::bigint, $8::bigint, $9::double precision, $10::integer)";

long long
session_lock_key(const char *sid)
{
	unsigned long long	 k = 0;
	const char		*p;
	int			 n = 0, d;

	for (p = sid; *p != '\0' && n < 16; p++) {
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			continue;
		k = (k << 4) | (unsigned long long)d;
		n++;
	}
	return ((long long)k);
}

int
session_take(struct db *lockdb, const char *sid, const char *agent_id,
    const char *self, int peers_max, struct session_take *out)
{
	PGresult	*res;
	const char	*p[5] = { sid, agent_id, self, NULL, NULL };
	json_error_t	 e;
	long long	 fence;
	char		 lim[16], key[24];
	int		 ret = -1;

	memset(out, 0, sizeof(*out));
	snprintf(lim, sizeof(lim), "%d", peers_max);
	p[3] = lim;
	snprintf(key, sizeof(key), "%lld", session_lock_key(sid));
	p[4] = key;
	if ((res = db_exec(lockdb, SQL_TAKE, 5, p)) == NULL)
		return (-1);
	if (PQntuples(res) != 1)
		goto done;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		ret = SESSION_EBUSY;
		goto done;
	}
	if (PQgetisnull(res, 0, 1)) {
		ret = SESSION_EOTHER;
		goto done;
	}
	if (util_strtonum(PQgetvalue(res, 0, 1), 0, INT64_MAX, &fence) != 0)
		goto done;
	out->st_fence = fence;
	out->st_messages = json_loads(PQgetvalue(res, 0, 2), 0, &e);
	if (!json_is_array(out->st_messages)) {
		/* Cannot happen (CHECK constraint), but never trust it. */
		log_warnx("%s: session %s: unreadable messages: %s", __func__,
		    sid, e.text);
		json_decref(out->st_messages);
		out->st_messages = json_array();
	}
	if (!PQgetisnull(res, 0, 3))
		out->st_summary = strdup(PQgetvalue(res, 0, 3));
	if (!PQgetisnull(res, 0, 4))
		out->st_model_override = strdup(PQgetvalue(res, 0, 4));
	/* Unreadable peers only cost the prompt's reading them apart. */
	out->st_peers = json_loads(PQgetvalue(res, 0, 5), 0, &e);
	if (!json_is_array(out->st_peers)) {
		json_decref(out->st_peers);
		out->st_peers = NULL;
	}
	out->st_msg_events = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
	if (util_strtonum(PQgetvalue(res, 0, 7), 1, INT64_MAX,
	    &out->st_catalog_ver) != 0)
		out->st_catalog_ver = 0;	/* resolve reads it */
	if (util_strtonum(PQgetvalue(res, 0, 8), 1, INT64_MAX,
	    &out->st_skill_ver) != 0)
		out->st_skill_ver = 0;		/* the prompt reads it */
	ret = out->st_messages != NULL ? 0 : SH_ENOMEM;
 done:
	PQclear(res);
	if (ret != 0)
		session_take_release(out);
	return (ret);
}

void
session_take_release(struct session_take *st)
{
	json_decref(st->st_messages);
	free(st->st_summary);
	free(st->st_model_override);
	json_decref(st->st_peers);
	memset(st, 0, sizeof(*st));
}

int
session_save(struct db *db, const char *sid, long long fence,
    json_t *messages, long long ctx_tokens, int set_summary,
    const char *summary, int *interrupted)
{
	char	*js;
	int	 ret;

	if ((js = json_dumps(messages, JSON_COMPACT)) == NULL)
		return (SH_ENOMEM);
	ret = session_save_js(db, sid, fence, js, ctx_tokens, set_summary,
	    summary, interrupted);
	free(js);
	return (ret);
}

int
session_save_js(struct db *db, const char *sid, long long fence,
    const char *js, long long ctx_tokens, int set_summary,
    const char *summary, int *interrupted)
{
	PGresult	*res;
	char		 f[24], t[24];
	const char	*p[6];
	int		 ret;

	if (interrupted != NULL)
		*interrupted = 0;
	snprintf(f, sizeof(f), "%lld", fence);
	snprintf(t, sizeof(t), "%lld", ctx_tokens);
	p[0] = sid;
	p[1] = f;
	p[2] = js;
	p[3] = t;
	p[4] = set_summary ? "true" : "false";
	p[5] = summary;
	if ((res = db_exec(db, SQL_SAVE, 6, p)) == NULL)
		return (-1);
	ret = PQntuples(res) == 1 ? 0 : SESSION_EFENCE;
	if (ret == 0 && interrupted != NULL)
		*interrupted = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (ret);
}

int
session_interrupted(struct db *db, const char *sid, long long fence)
{
	PGresult	*res;
	char		 f[24];
	const char	*p[2] = { sid, f };
	int		 ret;

	snprintf(f, sizeof(f), "%lld", fence);
	if ((res = db_exec(db, SQL_INTERRUPTED, 2, p)) == NULL)
		return (-1);
	ret = PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (ret);
}

int
session_set_interrupt(struct db *db, const char *agent_id, const char *sid)
{
	PGresult	*res;
	const char	*p[2] = { agent_id, sid };
	long long	 n = 0;

	if ((res = db_exec(db, SQL_SET_INTERRUPT, 2, p)) == NULL)
		return (-1);
	(void)util_strtonum(PQcmdTuples(res), 0, INT32_MAX, &n);
	PQclear(res);
	return ((int)n);
}

int
session_ensure(struct db *db, const char *sid, const char *agent_id)
{
	PGresult	*res;
	const char	*p[2] = { sid, agent_id };
	int		 ret;

	if ((res = db_exec(db, SQL_ENSURE, 2, p)) == NULL)
		return (-1);
	if (PQntuples(res) < 1)
		ret = -1;
	else
		ret = strcmp(PQgetvalue(res, 0, 0), agent_id) == 0 ? 0 :
		    SESSION_EOTHER;
	PQclear(res);
	return (ret);
}

json_t *
session_get(struct db *db, const char *sid, int with_messages, int *errp)
{
	const char	*p[1] = { sid };
	json_t		*row;

	row = db_one_json(db_exec(db, with_messages ? SQL_GET : SQL_GET_SHORT,
	    1, p), errp);
	if (row != NULL && with_messages) {
		json_object_set(row, "messages", json_object_get(row,
		    "messages_json"));
		json_object_del(row, "messages_json");
	}
	return (row);
}

json_t *
session_list(struct db *db, const char *agent_id, long long limit,
    long long offset)
{
	char		 l[24], o[24];
	const char	*p[3] = { agent_id, l, o };

	snprintf(l, sizeof(l), "%lld", limit);
	snprintf(o, sizeof(o), "%lld", offset);
	return (agent_store_rows(db_exec(db, SQL_LIST, 3, p)));
}

json_t *
session_by_label(struct db *db, const char *agent_id, const char *label,
    int *errp)
{
	const char	*p[2] = { agent_id, label };

	return (db_one_json(db_exec(db, SQL_BY_LABEL, 2, p), errp));
}

int
session_create(struct db *db, const char *sid, const char *agent_id,
    const char *label)
{
	const char	*p[3] = { sid, agent_id, label };

	if (db_cmd(db, SQL_CREATE, 3, p) == 0)
		return (0);
	return (strcmp(db_sqlstate(db), SQLSTATE_UNIQUE) == 0 ?
	    SESSION_ELABEL : -1);
}

int
session_delete(struct db *db, const char *sid, char *agent_out)
{
	const char	*p[1] = { sid };

	return (agent_store_named(db, SQL_DELETE, 1, p, agent_out,
	    UTIL_UUID_LEN));
}

/* Runs a statement and returns the rows it touched, or -1. */
static long long
session_count_cmd(struct db *db, const char *sql, int n, const char **p)
{
	PGresult	*res;
	long long	 c = 0;

	if ((res = db_exec(db, sql, n, p)) == NULL)
		return (-1);
	(void)util_strtonum(PQcmdTuples(res), 0, INT64_MAX, &c);
	PQclear(res);
	return (c);
}

long long
session_delete_agent(struct db *db, const char *agent_id)
{
	const char	*p[1] = { agent_id };

	return (session_count_cmd(db, SQL_DELETE_AGENT, 1, p));
}

int
session_set_label(struct db *db, const char *sid, const char *label)
{
	PGresult	*res;
	const char	*p[2] = { sid, label };
	int		 ret;

	if ((res = db_exec(db, SQL_LABEL, 2, p)) == NULL)
		return (strcmp(db_sqlstate(db), SQLSTATE_UNIQUE) == 0 ?
		    SESSION_ELABEL : -1);
	ret = PQntuples(res) == 1 ? 0 : SH_ENOTFOUND;
	PQclear(res);
	return (ret);
}

int
session_point(struct db *db, const char *agent_id, const char *sid)
{
	PGresult	*res;
	const char	*p[2] = { agent_id, sid };
	int		 ret;

	if ((res = db_exec(db, SQL_POINT, 2, p)) == NULL)
		return (-1);
	ret = PQntuples(res) == 1 ? 0 : SH_ENOTFOUND;
	PQclear(res);
	return (ret);
}

long long
session_cleanup(struct db *db)
{
	return (session_count_cmd(db, SQL_CLEANUP, 0, NULL));
}

json_t *
session_search(struct db *db, const char *q, const char *agent_id,
    long long limit)
{
	char		 l[24];
	const char	*p[3] = { q, agent_id, l };

	snprintf(l, sizeof(l), "%lld", limit);
	return (agent_store_rows(db_exec(db, SQL_SEARCH, 3, p)));
}

int
session_usage_insert(struct db *db, const char *agent_id, const char *sid,
    const char *provider, const char *model, long long in, long long out,
    long long cache_read, long long cache_create, double cost,
    int iterations)
{
	char		 a[24], b[24], c[24], d[24], e[40], f[16];
	const char	*p[10];

	snprintf(a, sizeof(a), "%lld", in);
	snprintf(b, sizeof(b), "%lld", out);
	snprintf(c, sizeof(c), "%lld", cache_read);
	snprintf(d, sizeof(d), "%lld", cache_create);
	snprintf(e, sizeof(e), "%.10g", cost);
	snprintf(f, sizeof(f), "%d", iterations);
	p[0] = agent_id;
	p[1] = sid;
	p[2] = provider;
	p[3] = model;
	p[4] = a;
	p[5] = b;
	p[6] = c;
	p[7] = d;
	p[8] = e;
	p[9] = f;
	return (db_cmd(db, SQL_USAGE, 10, p));
}
