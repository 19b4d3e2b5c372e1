/*
 * db.c - libpq connection, queries, migrations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define DB_STMT_MAX		64	/* prepared statements per connection */
#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	5000

/* PostgreSQL type oids used by db_row_json(). */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_JSON	114
#define OID_JSONB	3802

/* A statement prepared on the current connection, keyed by its text. */
struct db_stmt {
	char		*ds_sql;
	char		 ds_name[16];
};

struct db {
	PGconn		*db_conn;
	struct db_stmt	 db_stmts[DB_STMT_MAX];
	int		 db_nstmts;
	char		*db_conninfo;
	char		 db_schema[64];
	char		 db_err[512];
	char		 db_state[6];
	uint64_t	 db_next_try;	/* monotonic ms */
	unsigned int	 db_backoff;
	int		 db_was_up;
	int		 db_txn_lost;	/* connection died inside BEGIN..END */
};

struct db *
db_open(const char *conninfo, const char *schema)
{
	struct db	*db;

	if ((db = calloc(1, sizeof(*db))) == NULL)
		return (NULL);
	if ((db->db_conninfo = strdup(conninfo)) == NULL) {
		free(db);
		return (NULL);
	}
	snprintf(db->db_schema, sizeof(db->db_schema), "%s",
	    schema ? schema : "public");
	return (db);
}

/* Prepared statements die with their connection. */
static void
db_forget_stmts(struct db *db)
{
	int	i;

	for (i = 0; i < db->db_nstmts; i++)
		free(db->db_stmts[i].ds_sql);
	db->db_nstmts = 0;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	db_forget_stmts(db);
	PQfinish(db->db_conn);
	explicit_bzero(db->db_conninfo, strlen(db->db_conninfo));
	free(db->db_conninfo);
	free(db);
}

const char *
db_errmsg(struct db *db)
{
	return (db->db_err);
}

const char *
db_sqlstate(struct db *db)
{
	return (db->db_state);
}

static void
db_set_err(struct db *db, const char *msg)
{
	size_t	n;

	snprintf(db->db_err, sizeof(db->db_err), "%s", msg ? msg : "");
	n = strlen(db->db_err);
	while (n > 0 && (db->db_err[n - 1] == '\n' || db->db_err[n - 1] == ' '))
		db->db_err[--n] = '\0';
}

/* Server NOTICEs ("schema already exists, skipping") are not ours to log. */
static void
db_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("postgres: %s", message);
}

/* Makes sure a usable connection exists; honours the backoff window. */
static int
db_connect(struct db *db)
{
	char		 sql[160];
	PGresult	*res;
	uint64_t	 now;

	if (db->db_conn != NULL && PQstatus(db->db_conn) == CONNECTION_OK)
		return (0);
	now = util_now_ms();
	if (now < db->db_next_try) {
		db->db_state[0] = '\0';
		if (db->db_err[0] == '\0')
			db_set_err(db, "database unavailable");
		return (SH_EUNAVAIL);
	}
	db_forget_stmts(db);
	PQfinish(db->db_conn);
	db->db_conn = PQconnectdb(db->db_conninfo);
	if (db->db_conn == NULL || PQstatus(db->db_conn) != CONNECTION_OK) {
		db_set_err(db, db->db_conn ? PQerrorMessage(db->db_conn) :
		    "out of memory");
		PQfinish(db->db_conn);
		db->db_conn = NULL;
		db->db_backoff = db->db_backoff == 0 ? DB_BACKOFF_MIN_MS :
		    db->db_backoff * 2;
		if (db->db_backoff > DB_BACKOFF_MAX_MS)
			db->db_backoff = DB_BACKOFF_MAX_MS;
		db->db_next_try = now + db->db_backoff;
		db->db_state[0] = '\0';
		if (db->db_was_up) {
			log_warnx("%s: lost the database: %s", __func__,
			    db->db_err);
			db->db_was_up = 0;
		}
		return (SH_EUNAVAIL);
	}
	PQsetNoticeProcessor(db->db_conn, db_notice, NULL);
	/* The schema name is ours (a constant), not input: safe to quote. */
	snprintf(sql, sizeof(sql), "SET search_path TO \"%s\", public",
	    db->db_schema);
	res = PQexec(db->db_conn, sql);
	PQclear(res);
	if (!db->db_was_up && db->db_backoff != 0)
		log_info("database connection re-established");
	db->db_backoff = 0;
	db->db_next_try = 0;
	db->db_was_up = 1;
	return (0);
}

int
db_ping(struct db *db)
{
	PGresult	*res;

	if ((res = db_exec(db, "SELECT 1", 0, NULL)) == NULL)
		return (0);
	PQclear(res);
	return (1);
}

/*
 * Returns the name of sql prepared on this connection, preparing it on
 * first use; NULL when it is not worth caching (not a plain DML/query, or
 * the cache is full) or could not be prepared -- then *res may hold the
 * failed result for the caller to report.
 */
static const char *
db_prepared(struct db *db, const char *sql, int n, PGresult **res)
{
	struct db_stmt	*st;
	const char	*p = sql;
	int		 i;

	*res = NULL;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (strncasecmp(p, "SELECT", 6) != 0 &&
	    strncasecmp(p, "INSERT", 6) != 0 &&
	    strncasecmp(p, "UPDATE", 6) != 0 &&
	    strncasecmp(p, "DELETE", 6) != 0 && strncasecmp(p, "WITH", 4) != 0)
		return (NULL);
	for (i = 0; i < db->db_nstmts; i++)
		if (strcmp(db->db_stmts[i].ds_sql, sql) == 0)
			return (db->db_stmts[i].ds_name);
	if (db->db_nstmts == DB_STMT_MAX)
		return (NULL);
	st = &db->db_stmts[db->db_nstmts];
	snprintf(st->ds_name, sizeof(st->ds_name), "lf%d", db->db_nstmts);
	*res = PQprepare(db->db_conn, st->ds_name, sql, n, NULL);
	if (*res == NULL || PQresultStatus(*res) != PGRES_COMMAND_OK)
		return (NULL);
	PQclear(*res);
	*res = NULL;
	if ((st->ds_sql = strdup(sql)) == NULL) {
		/* Unrecorded, the name would be prepared twice: drop it. */
		PQclear(PQexec(db->db_conn, "DEALLOCATE ALL"));
		db_forget_stmts(db);
		return (NULL);
	}
	db->db_nstmts++;
	return (st->ds_name);
}

static int
db_is_txn_end(const char *sql)
{
	return (strcasecmp(sql, "COMMIT") == 0 ||
	    strcasecmp(sql, "ROLLBACK") == 0 || strcasecmp(sql, "END") == 0);
}

PGresult *
db_exec(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult	*res;
	const char	*st, *name;
	int		 attempt, in_txn;

	/*
	 * A transaction whose connection died is gone: its later statements
	 * must fail rather than run, committed one by one, on a new
	 * connection.  Its COMMIT or ROLLBACK ends that state (COMMIT fails).
	 */
	if (db->db_txn_lost) {
		if (db_is_txn_end(sql))
			db->db_txn_lost = 0;
		db_set_err(db, "transaction aborted: the database connection "
		    "was lost");
		snprintf(db->db_state, sizeof(db->db_state), "08006");
		return (NULL);
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (db_connect(db) != 0)
			return (NULL);
		in_txn = PQtransactionStatus(db->db_conn) != PQTRANS_IDLE;
		if ((name = db_prepared(db, sql, n, &res)) != NULL)
			res = PQexecPrepared(db->db_conn, name, n, params,
			    NULL, NULL, 0);
		else if (res == NULL)
			res = PQexecParams(db->db_conn, sql, n, NULL, params,
			    NULL, NULL, 0);
		if (res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK)) {
			db->db_err[0] = '\0';
			db->db_state[0] = '\0';
			return (res);
		}
		db_set_err(db, res ? PQresultErrorMessage(res) :
		    PQerrorMessage(db->db_conn));
		st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		snprintf(db->db_state, sizeof(db->db_state), "%s",
		    st ? st : "");
		PQclear(res);
		/* Retry once only when the connection itself broke. */
		if (PQstatus(db->db_conn) == CONNECTION_OK)
			return (NULL);
		log_warnx("%s: connection lost, reconnecting", __func__);
		PQfinish(db->db_conn);
		db->db_conn = NULL;
		db->db_was_up = 0;
		if (in_txn) {
			if (!db_is_txn_end(sql))
				db->db_txn_lost = 1;
			return (NULL);
		}
	}
	return (NULL);
}

int
db_cmd(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult	*res;

	if ((res = db_exec(db, sql, n, params)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

int
db_migrate(struct db *db, const struct db_migration *migs)
{
	const struct db_migration	*m;
	PGresult			*res;
	char				 sql[256], ver[16];
	const char			*p[2];
	int				 applied = 0;

	if (db_connect(db) != 0)
		return (-1);
	if (db_cmd(db, "BEGIN", 0, NULL) != 0)
		return (-1);
	p[0] = db->db_schema;
	if (db_cmd(db, "SELECT pg_advisory_xact_lock(hashtext("
	    "'librefang.migrate.' || $1))", 1, p) != 0)
		goto fail;
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS \"%s\"",
	    db->db_schema);
	if (db_cmd(db, sql, 0, NULL) != 0)
		goto fail;
	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS \"%s\"."
	    "schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())", db->db_schema);
	if (db_cmd(db, sql, 0, NULL) != 0)
		goto fail;
	for (m = migs; m != NULL && m->dm_version != 0; m++) {
		snprintf(ver, sizeof(ver), "%d", m->dm_version);
		p[0] = ver;
		res = db_exec(db, "SELECT 1 FROM schema_migrations "
		    "WHERE version = $1::int", 1, p);
		if (res == NULL)
			goto fail;
		if (PQntuples(res) > 0) {
			PQclear(res);
			continue;
		}
		PQclear(res);
		/* Migration text may hold several statements: simple query. */
		res = PQexec(db->db_conn, m->dm_sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK &&
		    PQresultStatus(res) != PGRES_EMPTY_QUERY) {
			db_set_err(db, PQresultErrorMessage(res));
			log_warnx("%s: migration %s failed: %s", __func__,
			    m->dm_name, db->db_err);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
		p[1] = m->dm_name;
		if (db_cmd(db, "INSERT INTO schema_migrations (version, name) "
		    "VALUES ($1::int, $2)", 2, p) != 0)
			goto fail;
		applied++;
	}
	if (db_cmd(db, "COMMIT", 0, NULL) != 0)
		goto fail;
	if (applied > 0)
		log_info("schema '%s': applied %d migration%s", db->db_schema,
		    applied, applied == 1 ? "" : "s");
	return (0);
 fail:
	log_warnx("%s: schema '%s': %s", __func__, db->db_schema, db->db_err);
	res = PQexec(db->db_conn, "ROLLBACK");
	PQclear(res);
	return (-1);
}

json_t *
db_row_json(PGresult *res, int row)
{
	json_t		*o, *v;
	json_error_t	 je;
	const char	*name, *val;
	long long	 n;
	int		 i, nf = PQnfields(res);
	Oid		 t;

	if ((o = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < nf; i++) {
		name = PQfname(res, i);
		if (PQgetisnull(res, row, i)) {
			json_object_set_new(o, name, json_null());
			continue;
		}
		val = PQgetvalue(res, row, i);
		t = PQftype(res, i);
		if (t == OID_BOOL)
			v = json_boolean(val[0] == 't');
		else if ((t == OID_INT2 || t == OID_INT4 || t == OID_INT8) &&
		    util_strtonum(val, INT64_MIN, INT64_MAX, &n) == 0)
			v = json_integer(n);
		else if (t == OID_JSON || t == OID_JSONB)
			v = json_loads(val, JSON_DECODE_ANY, &je);
		else
			v = json_string(val);
		json_object_set_new(o, name, v ? v : json_null());
	}
	return (o);
}

json_t *
db_one_json(PGresult *res, int *errp)
{
	json_t	*row = NULL;

	*errp = -1;
	if (res == NULL)
		return (NULL);
	if (PQntuples(res) == 0)
		*errp = SH_ENOTFOUND;
	else if ((row = db_row_json(res, 0)) != NULL)
		*errp = 0;
	PQclear(res);
	return (row);
}

void
db_conninfo(const char *database_url, const char *home_dir, char *out,
    size_t outlen)
{
	if (database_url != NULL && *database_url != '\0')
		snprintf(out, outlen, "%s", database_url);
	else
		snprintf(out, outlen, "host=%s/pg port=5432 dbname=librefang "
		    "user=librefang connect_timeout=3", home_dir);
}
