/*
 * db.h - PostgreSQL access over libpq.
 *
 * A struct db is one connection, used by one thread at a time (each bus
 * worker owns one).  Queries are parameterised only; a plain statement
 * (SELECT, INSERT, UPDATE, DELETE, WITH) is prepared on the connection at
 * its first use and run prepared from then on.  search_path is set to the
 * owning service's schema.  A broken connection is
 * re-established on the next call, with exponential backoff (100 ms to
 * 2 s; at once when another connection of the process got through) so a
 * database outage answers fast instead of piling up.
 *
 * Every call is bounded (db.c says how): connecting takes 3 s at most, a
 * statement db_set_timeout()'s time (the server cancels it) and 2 s more
 * at most when the server does not answer at all (stopped, or a host
 * gone): the connection is then dropped and the call fails as if the
 * database were down.  The conninfo may override the connection's
 * settings (connect_timeout, keepalives*, tcp_user_timeout).
 */
#ifndef SH_DB_H
#define SH_DB_H

#include <libpq-fe.h>
#include <jansson.h>

struct db;

struct db_migration {
	int		 dm_version;
	const char	*dm_name;
	const char	*dm_sql;
};

/* A statement's time unless db_set_timeout() says otherwise (ms). */
#define DB_TIMEOUT_MS	15000

/* Opens lazily: never fails for a down database (NULL only on ENOMEM). */
struct db	*db_open(const char *conninfo, const char *schema);
void		 db_close(struct db *db);
/* The statement timeout of db's next connections (ms; 0: none, the
 * client then waits 30 minutes at most).  Call it before the first
 * query: a bus worker's statements fit the bus deadline. */
void		 db_set_timeout(struct db *db, int ms);
/* 1 when the last call failed because the database could not be
 * reached (down, the connection lost, no answer in time), 0 when it
 * succeeded or the statement itself failed.  The outage is logged once
 * per process by db.c: a caller logs its own failure only when this
 * is 0, so a loop does not log a line per tick while it is down. */
int		 db_unavailable(struct db *db);
/* 1 if the last operation left a healthy connection (tries to connect). */
int		 db_ping(struct db *db);
/* A plain libpq connection (new: PQfinish) with db.c's bounds on
 * connecting and on TCP (not on statements, which block as long as the
 * server lets them), for what needs libpq itself (a COPY).  Never NULL
 * but on ENOMEM; check PQstatus(). */
PGconn		*db_connect_plain(const char *conninfo);
/* The last error, for logs (borrowed, valid until the next call). */
const char	*db_errmsg(struct db *db);

/*
 * Runs sql with n text parameters (NULL entries are SQL NULL).  Returns a
 * PGresult (caller PQclear's) whose status is COMMAND_OK or TUPLES_OK, or
 * NULL on any failure: then db_errmsg() says why and db_sqlstate() gives
 * the SQLSTATE ("23505" unique violation, "" when not connected).
 */
PGresult	*db_exec(struct db *db, const char *sql, int n,
		    const char *const *params);
const char	*db_sqlstate(struct db *db);
/*
 * Sends sql like db_exec() but does not wait for its answer: the next
 * call on db reads it first (a failure is then only logged).  For a
 * statement whose outcome the caller need not know before it goes on
 * (an advisory unlock: a broken connection drops the lock anyway).
 * 0 when it was sent, -1 when it could not be.
 */
int		 db_send(struct db *db, const char *sql, int n,
		    const char *const *params);
/* Runs a statement that returns no rows; 0 or -1. */
int		 db_cmd(struct db *db, const char *sql, int n,
		    const char *const *params);

/*
 * Creates schema (if missing) and applies every migration newer than the
 * recorded version, all in one transaction under an advisory lock, so any
 * number of replicas may start at once.  migs ends with dm_version 0.
 * Returns 0, or -1 (nothing applied).
 */
int		 db_migrate(struct db *db, const struct db_migration *migs);

/* Converts a row of res to a JSON object; columns named *_json are parsed
 * as JSON, booleans (type bool) become true/false, int2/4/8 integers.
 * Returns a new reference. */
json_t		*db_row_json(PGresult *res, int row);
/* The first row of res as db_row_json() (new); clears res.  NULL with
 * *errp SH_ENOTFOUND when res has no row, -1 on a NULL res or ENOMEM. */
json_t		*db_one_json(PGresult *res, int *errp);

/* Returns the PostgreSQL conninfo to use for cfg (borrowed static text
 * is never returned: writes into out). */
void		 db_conninfo(const char *database_url, const char *home_dir,
		    char *out, size_t outlen);

#endif /* SH_DB_H */
