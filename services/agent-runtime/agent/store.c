/*
 * agent/store.c - the agents table (schema "runtime", sql/001_agents.sql).
 *
 * Every statement is parameterised.  Uniqueness is left to PostgreSQL: a
 * duplicate name is the UNIQUE constraint's 23505, never a check-then-
 * insert, so two replicas spawning the same name at once get one 201 and
 * one 409.  Timestamps are formatted by the server as RFC 3339 UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define SQLSTATE_UNIQUE	"23505"

#define AGENT_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " col

#define AGENT_COLUMNS							\
	"id::text AS id, name, state, mode, "				\
	"session_id::text AS session_id, "				\
	AGENT_TS("created_at") ", " AGENT_TS("last_active") ", "	\
	"version, manifest, identity"

static const char SQL_INSERT[] =
	"INSERT INTO agents (id, name, manifest, manifest_toml, source_toml, "
	"    identity, mode, session_id) "
	"VALUES ($1::uuid, $2, $3::jsonb, $4, $5, $6::jsonb, $7, $8::uuid) "
	"ON CONFLICT (id) DO NOTHING RETURNING id::text";
static const char SQL_GET[] =
	"SELECT " AGENT_COLUMNS " FROM agents WHERE id = $1::uuid";
static const char SQL_GET_LOCKED[] =
	"SELECT " AGENT_COLUMNS " FROM agents WHERE id = $1::uuid FOR UPDATE";
/* The list needs only a few manifest fields, kept in the generated
 * summary column (sql/002_agent_summary.sql). */
static const char SQL_LIST[] =
	"SELECT id::text AS id, name, state, mode, "
	"    session_id::text AS session_id, "
	AGENT_TS("created_at") ", " AGENT_TS("last_active") ", version, "
	"    summary AS manifest "
	"FROM agents ORDER BY created_at, id";
static const char SQL_NAMES[] =
	"SELECT name FROM agents WHERE name <> $1 "
	"ORDER BY created_at, id LIMIT $2";
static const char SQL_UPDATE[] =
	"UPDATE agents SET name = $2, manifest = $3::jsonb, "
	"    manifest_toml = $4, source_toml = COALESCE($5, source_toml), "
	"    identity = $6::jsonb, mode = $7, version = version + 1, "
	"    updated_at = clock_timestamp() "
	"WHERE id = $1::uuid AND version = $8::bigint RETURNING id";
static const char SQL_DELETE[] =
	"DELETE FROM agents WHERE id = $1::uuid RETURNING name";
static const char SQL_SET_STATE[] =
	"UPDATE agents SET state = $2, version = version + 1, "
	"    updated_at = clock_timestamp() "
	"WHERE id = $1::uuid RETURNING name";
static const char SQL_COUNT[] = "SELECT count(*) FROM agents";

int
agent_store_begin(struct db *db)
{
	return (db_cmd(db, "BEGIN", 0, NULL));
}

int
agent_store_commit(struct db *db)
{
	return (db_cmd(db, "COMMIT", 0, NULL));
}

void
agent_store_rollback(struct db *db)
{
	/* Fails only when the connection is gone, which ends the
	 * transaction anyway. */
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
}

/* Both texts a row stores for its manifest: jsonb input and TOML. */
static int
agent_store_texts(json_t *manifest, json_t *identity, char **mjs,
    char **toml, char **ijs)
{
	/* 15 digits: 0.7 is stored as 0.7, not 0.69999999999999996. */
	*mjs = json_dumps(manifest, JSON_COMPACT |
	    JSON_REAL_PRECISION(AGENT_REAL_DIGITS));
	*toml = agent_manifest_to_toml(manifest);
	*ijs = identity ? json_dumps(identity, JSON_COMPACT) : strdup("{}");
	if (*mjs == NULL || *toml == NULL || *ijs == NULL) {
		free(*mjs);
		free(*toml);
		free(*ijs);
		*mjs = *toml = *ijs = NULL;
		return (SH_ENOMEM);
	}
	return (0);
}

int
agent_store_insert(struct db *db, const char *name, json_t *manifest,
    const char *source_toml, json_t *identity, const char *mode,
    char id_out[UTIL_UUID_LEN])
{
	PGresult	*res = NULL;
	char		 id[UTIL_UUID_LEN], sid[UTIL_UUID_LEN], *seed = NULL;
	char		*mjs = NULL, *toml = NULL, *ijs = NULL;
	const char	*p[8];
	size_t		 len;
	int		 attempt, ret = -1;

	len = strlen("agent:") + strlen(name) + 1;
	if ((seed = malloc(len)) == NULL)
		return (SH_ENOMEM);
	snprintf(seed, len, "agent:%s", name);
	if (util_uuid5(AGENT_ID_NAMESPACE, seed, id) != 0 ||
	    agent_store_texts(manifest, identity, &mjs, &toml, &ijs) != 0)
		goto done;
	util_uuid4(sid);
	p[1] = name;
	p[2] = mjs;
	p[3] = toml;
	p[4] = source_toml;
	p[5] = ijs;
	p[6] = mode ? mode : "full";
	p[7] = sid;
	/*
	 * The id is v5(name), unless a renamed agent already holds it: then
	 * ON CONFLICT (id) inserts nothing and a random id is used.  A taken
	 * name is still the unique constraint's error, on either attempt.
	 */
	for (attempt = 0; attempt < 2; attempt++) {
		p[0] = id;
		if ((res = db_exec(db, SQL_INSERT, 8, p)) == NULL) {
			if (strcmp(db_sqlstate(db), SQLSTATE_UNIQUE) == 0)
				ret = AGENT_EEXIST;
			goto done;
		}
		if (PQntuples(res) == 1) {
			snprintf(id_out, UTIL_UUID_LEN, "%s",
			    PQgetvalue(res, 0, 0));
			ret = 0;
			goto done;
		}
		PQclear(res);
		res = NULL;
		util_uuid4(id);
	}
 done:
	PQclear(res);
	free(seed);
	free(mjs);
	free(toml);
	free(ijs);
	return (ret);
}

json_t *
agent_store_get(struct db *db, const char *id, int for_update, int *errp)
{
	const char	*p[1] = { id };

	return (db_one_json(db_exec(db, for_update ? SQL_GET_LOCKED : SQL_GET,
	    1, p), errp));
}

json_t *
agent_store_list(struct db *db)
{
	return (agent_store_rows(db_exec(db, SQL_LIST, 0, NULL)));
}

json_t *
agent_store_rows(PGresult *res)
{
	json_t	*arr, *row;
	int	 i, n;

	if (res == NULL)
		return (NULL);
	if ((arr = json_array()) == NULL) {
		PQclear(res);
		return (NULL);
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if ((row = db_row_json(res, i)) == NULL ||
		    json_array_append_new(arr, row) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	PQclear(res);
	return (arr);
}

json_t *
agent_store_names(struct db *db, const char *except, int limit)
{
	PGresult	*res;
	json_t		*arr;
	const char	*p[2];
	char		 lim[16];
	int		 i, n;

	snprintf(lim, sizeof(lim), "%d", limit);
	p[0] = except;
	p[1] = lim;
	if ((res = db_exec(db, SQL_NAMES, 2, p)) == NULL)
		return (NULL);
	if ((arr = json_array()) != NULL) {
		n = PQntuples(res);
		for (i = 0; i < n; i++)
			if (json_array_append_new(arr,
			    json_string(PQgetvalue(res, i, 0))) != 0) {
				json_decref(arr);
				arr = NULL;
				break;
			}
	}
	PQclear(res);
	return (arr);
}

int
agent_store_update(struct db *db, json_t *row, const char *name,
    json_t *manifest, const char *source_toml, json_t *identity,
    const char *mode)
{
	PGresult	*res;
	char		*mjs = NULL, *toml = NULL, *ijs = NULL, ver[24];
	const char	*p[8];
	int		 ret = -1;

	if (agent_store_texts(manifest, identity, &mjs, &toml, &ijs) != 0)
		return (SH_ENOMEM);
	snprintf(ver, sizeof(ver), "%" JSON_INTEGER_FORMAT,
	    json_integer_value(json_object_get(row, "version")));
	p[0] = json_string_value(json_object_get(row, "id"));
	p[1] = name;
	p[2] = mjs;
	p[3] = toml;
	p[4] = source_toml;
	p[5] = ijs;
	p[6] = mode;
	p[7] = ver;
	if ((res = db_exec(db, SQL_UPDATE, 8, p)) == NULL) {
		if (strcmp(db_sqlstate(db), SQLSTATE_UNIQUE) == 0)
			ret = AGENT_EEXIST;
	} else
		ret = PQntuples(res) == 1 ? 0 : AGENT_ECONFLICT;
	PQclear(res);
	free(mjs);
	free(toml);
	free(ijs);
	return (ret);
}

int
agent_store_named(struct db *db, const char *sql, int n, const char **p,
    char *name_out, size_t namelen)
{
	PGresult	*res;
	int		 ret;

	if ((res = db_exec(db, sql, n, p)) == NULL)
		return (-1);
	if (PQntuples(res) == 0)
		ret = SH_ENOTFOUND;
	else {
		if (name_out != NULL)
			snprintf(name_out, namelen, "%s",
			    PQgetvalue(res, 0, 0));
		ret = 0;
	}
	PQclear(res);
	return (ret);
}

int
agent_store_delete(struct db *db, const char *id, char *name_out,
    size_t namelen)
{
	const char	*p[1] = { id };

	return (agent_store_named(db, SQL_DELETE, 1, p, name_out, namelen));
}

int
agent_store_set_state(struct db *db, const char *id, const char *state,
    char *name_out, size_t namelen)
{
	const char	*p[2] = { id, state };

	return (agent_store_named(db, SQL_SET_STATE, 2, p, name_out,
	    namelen));
}

long long
agent_store_count(struct db *db)
{
	PGresult	*res;
	long long	 n = -1;

	if ((res = db_exec(db, SQL_COUNT, 0, NULL)) == NULL)
		return (-1);
	if (PQntuples(res) != 1 || util_strtonum(PQgetvalue(res, 0, 0), 0,
	    INT64_MAX, &n) != 0)
		n = -1;
	PQclear(res);
	return (n);
}
