/*
 * db.c - libpq connection, queries, migrations.
 *
 * Every call is bounded.  libpq blocks for as long as the server lets it,
 * and a server that is stopped (SIGSTOP, a host gone, packets dropped)
 * closes nothing: so the connection is made with connect_timeout, TCP
 * keepalives and tcp_user_timeout, the server cancels a statement after
 * the connection's timeout (statement_timeout), and the client waits for
 * the answer in non-blocking mode, DB_GRACE_MS longer at most, then drops
 * the connection as if it had broken.  A failure to reach the database
 * is logged once per process (the first connection to notice), not once
 * per call: loops check db_unavailable() before logging theirs.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
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
#define DB_BACKOFF_MAX_MS	2000
#define DB_SLOW_MS		250	/* a failure this slow backs off */
/* The client waits this much longer than statement_timeout: the server's
 * cancel (57014, the connection kept) normally comes first. */
#define DB_GRACE_MS		2000
/* A migration may rewrite a big table: no statement_timeout, and the
 * client waits this long. */
#define DB_MIGRATE_WAIT_MS	(30 * 60 * 1000)
/* What every connection sets unless its conninfo says otherwise: TCP
 * (ignored over a unix socket) notices a dead peer within about 20 s
 * when idle and 10 s when sending. */
#define DB_CONNECT_TIMEOUT	"3"
#define DB_TCP_USER_TIMEOUT	"10000"

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
	int		 db_timeout_ms;	/* statement_timeout, 0: none */
	int		 db_unavail;	/* the last failure: not reached */
	unsigned int	 db_gen;	/* db_back_gen when it dropped */
	int		 db_txn_lost;	/* connection died inside BEGIN..END */
	int		 db_sent;	/* db_send()'s answer not read yet */
};

/* 1 while this process has found the database unreachable and not yet
 * reached it again: one line when it goes, one when it comes back. */
static atomic_int db_outage;
/* Counts the ends of outages: a connection waiting out its backoff tries
 * at once when another has reached the database since it dropped. */
static atomic_uint db_back_gen;

static void
db_went_down(struct db *db)
{
	if (atomic_exchange(&db_outage, 1) == 0)
		log_warnx("%s: lost the database: %s", __func__, db->db_err);
}

static void
db_came_back(void)
{
	if (atomic_exchange(&db_outage, 0) == 1) {
		atomic_fetch_add(&db_back_gen, 1);
		log_info("database connection re-established");
	}
}

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
	db->db_timeout_ms = DB_TIMEOUT_MS;
	return (db);
}

void
db_set_timeout(struct db *db, int ms)
{
	db->db_timeout_ms = ms < 0 ? 0 : ms;
}

int
db_unavailable(struct db *db)
{
	return (db->db_unavail);
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

/*
 * The connection is dropped; the next call reconnects.  After a slow
 * failure (no answer in time) not before the backoff window ends, so an
 * outage of that kind answers fast instead of piling up; a refused
 * connection costs nothing to try again, and waiting would only delay
 * the first calls once the database is back.
 */
static void
db_drop(struct db *db, int slow)
{
	db_forget_stmts(db);
	PQfinish(db->db_conn);
	db->db_conn = NULL;
	db->db_sent = 0;
	db->db_unavail = 1;
	db->db_state[0] = '\0';
	if (slow) {
		db->db_backoff = db->db_backoff == 0 ? DB_BACKOFF_MIN_MS :
		    db->db_backoff * 2;
		if (db->db_backoff > DB_BACKOFF_MAX_MS)
			db->db_backoff = DB_BACKOFF_MAX_MS;
		db->db_next_try = util_now_ms() + db->db_backoff;
		db->db_gen = atomic_load(&db_back_gen);
	}
	db_went_down(db);
}

/* The client's wait for a statement's answer (ms). */
static int
db_wait_ms(struct db *db)
{
	return (db->db_timeout_ms > 0 ? db->db_timeout_ms + DB_GRACE_MS :
	    DB_MIGRATE_WAIT_MS);
}

/*
 * Sends what is queued and collects the answer of the statement just
 * sent, wait_ms at most: the first failed result, else the last one (as
 * PQexec() does), or NULL with db_err set (the connection then broken,
 * or silent that long: the caller drops it).
 */
static PGresult *
db_collect(struct db *db, int wait_ms)
{
	struct pollfd	 pfd;
	PGresult	*res, *keep = NULL;
	uint64_t	 until = util_now_ms() + (uint64_t)wait_ms, now;
	int		 rv;

	pfd.fd = PQsocket(db->db_conn);
	for (;;) {
		rv = PQflush(db->db_conn);
		if (rv < 0)
			goto broken;
		if (rv == 0 && !PQisBusy(db->db_conn)) {
			if ((res = PQgetResult(db->db_conn)) == NULL)
				return (keep);
			if (keep == NULL ||
			    PQresultStatus(keep) == PGRES_COMMAND_OK ||
			    PQresultStatus(keep) == PGRES_TUPLES_OK) {
				PQclear(keep);
				keep = res;
			} else
				PQclear(res);
			continue;
		}
		if ((now = util_now_ms()) >= until) {
			snprintf(db->db_err, sizeof(db->db_err), "the database "
			    "did not answer within %d ms", wait_ms);
			PQclear(keep);
			return (NULL);
		}
		pfd.events = POLLIN | (rv == 1 ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(until - now)) < 0 && errno != EINTR) {
			db_set_err(db, strerror(errno));
			PQclear(keep);
			return (NULL);
		}
		if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
		    PQconsumeInput(db->db_conn) == 0)
			goto broken;
	}
 broken:
	db_set_err(db, PQerrorMessage(db->db_conn));
	PQclear(keep);
	return (NULL);
}

PGconn *
db_connect_plain(const char *conninfo)
{
	/* Ours first: the conninfo, expanded last, overrides any of them. */
	const char *const keys[] = { "connect_timeout", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "dbname", NULL };
	const char	*vals[8];

	vals[0] = DB_CONNECT_TIMEOUT;
	vals[1] = "1";
	vals[2] = "10";
	vals[3] = "3";
	vals[4] = "3";
	vals[5] = DB_TCP_USER_TIMEOUT;
	vals[6] = conninfo;
	vals[7] = NULL;
	return (PQconnectdbParams(keys, vals, 1));
}

/* Makes sure a usable connection exists; honours the backoff window. */
static int
db_connect(struct db *db)
{
	char		 sql[200];
	PGresult	*res = NULL;
	uint64_t	 now;

	if (db->db_conn != NULL && PQstatus(db->db_conn) == CONNECTION_OK)
		return (0);
	now = util_now_ms();
	if (now < db->db_next_try && db->db_gen == atomic_load(&db_back_gen)) {
		db->db_state[0] = '\0';
		db->db_unavail = 1;
		if (db->db_err[0] == '\0')
			db_set_err(db, "database unavailable");
		return (SH_EUNAVAIL);
	}
	db_forget_stmts(db);
	PQfinish(db->db_conn);
	db->db_sent = 0;
	db->db_conn = db_connect_plain(db->db_conninfo);
	if (db->db_conn == NULL || PQstatus(db->db_conn) != CONNECTION_OK) {
		db_set_err(db, db->db_conn ? PQerrorMessage(db->db_conn) :
		    "out of memory");
		db_drop(db, util_now_ms() - now >= DB_SLOW_MS);
		return (SH_EUNAVAIL);
	}
	PQsetNoticeProcessor(db->db_conn, db_notice, NULL);
	/* The schema name is ours (a constant), not input: safe to quote. */
	snprintf(sql, sizeof(sql), "SET search_path TO \"%s\", public; "
	    "SET statement_timeout = %d", db->db_schema, db->db_timeout_ms);
	if (PQsetnonblocking(db->db_conn, 1) != 0 ||
	    PQsendQuery(db->db_conn, sql) == 0 ||
	    (res = db_collect(db, db_wait_ms(db))) == NULL ||
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (res != NULL)
			db_set_err(db, PQresultErrorMessage(res));
		else if (db->db_err[0] == '\0')
			db_set_err(db, PQerrorMessage(db->db_conn));
		PQclear(res);
		db_drop(db, util_now_ms() - now >= DB_SLOW_MS);
		return (SH_EUNAVAIL);
	}
	PQclear(res);
	db->db_backoff = 0;
	db->db_next_try = 0;
	db_came_back();
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
 * Finds the name of sql prepared on this connection, preparing it on first
 * use, into *name: NULL when it is not worth caching (not a plain
 * DML/query, or the cache is full).  0, or -1 when it could not be
 * prepared: then *res holds the failed result, or NULL when the
 * connection broke or went silent (db_err says which).
 */
static int
db_prepared(struct db *db, const char *sql, int n, const char **name,
    PGresult **res)
{
	struct db_stmt	*st;
	const char	*p = sql;
	int		 i;

	*res = NULL;
	*name = NULL;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (strncasecmp(p, "SELECT", 6) != 0 &&
	    strncasecmp(p, "INSERT", 6) != 0 &&
	    strncasecmp(p, "UPDATE", 6) != 0 &&
	    strncasecmp(p, "DELETE", 6) != 0 && strncasecmp(p, "WITH", 4) != 0)
		return (0);
	for (i = 0; i < db->db_nstmts; i++)
		if (strcmp(db->db_stmts[i].ds_sql, sql) == 0) {
			*name = db->db_stmts[i].ds_name;
			return (0);
		}
	if (db->db_nstmts == DB_STMT_MAX)
		return (0);
	st = &db->db_stmts[db->db_nstmts];
	snprintf(st->ds_name, sizeof(st->ds_name), "lf%d", db->db_nstmts);
	if (PQsendPrepare(db->db_conn, st->ds_name, sql, n, NULL) == 0) {
		db_set_err(db, PQerrorMessage(db->db_conn));
		return (-1);
	}
	if ((*res = db_collect(db, db_wait_ms(db))) == NULL ||
	    PQresultStatus(*res) != PGRES_COMMAND_OK)
		return (-1);
	PQclear(*res);
	*res = NULL;
	if ((st->ds_sql = strdup(sql)) == NULL) {
		/* Unrecorded, the name would be prepared twice: drop it. */
		if (PQsendQuery(db->db_conn, "DEALLOCATE ALL") != 0)
			PQclear(db_collect(db, db_wait_ms(db)));
		db_forget_stmts(db);
		return (0);
	}
	db->db_nstmts++;
	*name = st->ds_name;
	return (0);
}

static int
db_is_txn_end(const char *sql)
{
	return (strcasecmp(sql, "COMMIT") == 0 ||
	    strcasecmp(sql, "ROLLBACK") == 0 || strcasecmp(sql, "END") == 0);
}

/* Reads the answer of the statement db_send() sent: an error is only
 * logged; a connection that broke or went silent is dropped. */
static void
db_settle(struct db *db)
{
	PGresult	*res;

	db->db_sent = 0;
	if ((res = db_collect(db, db_wait_ms(db))) == NULL) {
		log_warnx("%s: a statement sent without waiting failed: %s",
		    __func__, db->db_err);
		db_drop(db, PQstatus(db->db_conn) == CONNECTION_OK);
		return;
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warnx("%s: a statement sent without waiting failed: %s",
		    __func__, PQresultErrorMessage(res));
	PQclear(res);
}

int
db_send(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult	*res = NULL;
	const char	*name;
	struct pollfd	 pfd;
	uint64_t	 until;
	int		 rv;

	if (db->db_sent)
		db_settle(db);
	if (db->db_txn_lost || db_connect(db) != 0 ||
	    db_prepared(db, sql, n, &name, &res) != 0) {
		PQclear(res);
		return (-1);
	}
	if ((name != NULL ? PQsendQueryPrepared(db->db_conn, name, n, params,
	    NULL, NULL, 0) : PQsendQueryParams(db->db_conn, sql, n, NULL,
	    params, NULL, NULL, 0)) == 0) {
		db_set_err(db, PQerrorMessage(db->db_conn));
		return (-1);
	}
	db->db_sent = 1;
	/* On its way now, not with the next statement. */
	until = util_now_ms() + (uint64_t)db_wait_ms(db);
	pfd.fd = PQsocket(db->db_conn);
	pfd.events = POLLOUT;
	while ((rv = PQflush(db->db_conn)) == 1 && util_now_ms() < until)
		(void)poll(&pfd, 1, 100);
	return (rv == 0 ? 0 : -1);
}

PGresult *
db_exec(struct db *db, const char *sql, int n, const char *const *params)
{
	PGresult	*res;
	const char	*st, *name;
	int		 attempt, in_txn;

	if (db->db_sent)
		db_settle(db);

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
		if (db_prepared(db, sql, n, &name, &res) == 0) {
			if ((name != NULL ? PQsendQueryPrepared(db->db_conn,
			    name, n, params, NULL, NULL, 0) :
			    PQsendQueryParams(db->db_conn, sql, n, NULL, params,
			    NULL, NULL, 0)) == 0)
				db_set_err(db, PQerrorMessage(db->db_conn));
			else
				res = db_collect(db, db_wait_ms(db));
		}
		if (res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK)) {
			db->db_err[0] = '\0';
			db->db_state[0] = '\0';
			db->db_unavail = 0;
			return (res);
		}
		if (res != NULL) {
			db_set_err(db, PQresultErrorMessage(res));
			st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			snprintf(db->db_state, sizeof(db->db_state), "%s",
			    st ? st : "");
			PQclear(res);
			/* An error of the statement, on a healthy connection. */
			if (PQstatus(db->db_conn) == CONNECTION_OK) {
				db->db_unavail = 0;
				return (NULL);
			}
		}
		if (in_txn && !db_is_txn_end(sql))
			db->db_txn_lost = 1;
		if (PQstatus(db->db_conn) == CONNECTION_OK || in_txn) {
			/* Silent past the wait (its answer may still come:
			 * the connection is of no further use), or broken
			 * inside a transaction: no second try. */
			db_drop(db, PQstatus(db->db_conn) == CONNECTION_OK);
			snprintf(db->db_state, sizeof(db->db_state), "08006");
			return (NULL);
		}
		/* Broken (the server restarted, say): one more try, at once,
		 * on a new connection. */
		log_debug("%s: connection lost, reconnecting: %s", __func__,
		    db->db_err);
		db_forget_stmts(db);
		PQfinish(db->db_conn);
		db->db_conn = NULL;
		db->db_unavail = 1;
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
	int				 applied = 0, saved = db->db_timeout_ms;
	int				 ret = -1;

	/* Statements here wait DB_MIGRATE_WAIT_MS (see the SET below). */
	db->db_timeout_ms = 0;
	if (db_connect(db) != 0 || db_cmd(db, "BEGIN", 0, NULL) != 0)
		goto done;
	/* A migration may take long (a table rewritten): no
	 * statement_timeout for it; the lock wait below neither (another
	 * replica is migrating). */
	if (db_cmd(db, "SET LOCAL statement_timeout = 0", 0, NULL) != 0)
		goto fail;
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
		res = NULL;
		if (PQsendQuery(db->db_conn, m->dm_sql) == 0)
			db_set_err(db, PQerrorMessage(db->db_conn));
		else
			res = db_collect(db, DB_MIGRATE_WAIT_MS);
		if (res == NULL) {
			log_warnx("%s: migration %s failed: %s", __func__,
			    m->dm_name, db->db_err);
			db_drop(db, 1);
			goto fail;
		}
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
	ret = 0;
	goto done;
 fail:
	log_warnx("%s: schema '%s': %s", __func__, db->db_schema, db->db_err);
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
 done:
	db->db_timeout_ms = saved;
	return (ret);
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
