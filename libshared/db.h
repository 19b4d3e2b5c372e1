/*
 * db.h - PostgreSQL access over libpq.
 *
 * A struct db is one connection, used by one thread at a time (each bus
 * worker owns one).  Queries are parameterised only (PQexecParams), with
 * search_path set to the owning service's schema.  A broken connection is
 * re-established on the next call, with exponential backoff (100 ms to
 * 5 s) so a database outage answers fast instead of piling up.
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

/* Opens lazily: never fails for a down database (NULL only on ENOMEM). */
struct db	*db_open(const char *conninfo, const char *schema);
void		 db_close(struct db *db);
/* 1 if the last operation left a healthy connection (tries to connect). */
int		 db_ping(struct db *db);
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
