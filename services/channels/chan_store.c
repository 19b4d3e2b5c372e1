/*
 * chan_store.c - what the supervisor keeps in PostgreSQL: inbound
 * messages, channel leases and adapter status (sql/002_core.sql).
 * Each call is one statement on the caller's connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "channels.h"
#include "log.h"
#include "util.h"

#define LEASE_SECS_STR	"10"	/* CHAN_LEASE_SECS, as SQL text */

static const char SQL_INBOUND[] =
	"INSERT INTO inbound (channel, platform_msg_id, agent, user_id, "
	"    user_name, channel_id, thread_id, is_group, text, frame) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8::boolean, $9, $10::jsonb) "
	"ON CONFLICT (channel, platform_msg_id) DO NOTHING RETURNING id";

int
chan_store_inbound(struct db *db, const char *channel, const char *agent,
    const struct chan_event *ev)
{
	PGresult	*res;
	char		 made[UTIL_UUID_LEN], *frame;
	const char	*mid, *p[10];
	int		 rv = -1;

	if ((mid = ev->ce_message_id) == NULL || *mid == '\0') {
		/* No platform id: nothing to deduplicate on (§1.3 says
		 * upstream makes one up too). */
		util_uuid4(made);
		mid = made;
	}
	if ((frame = json_dumps(ev->ce_root, JSON_COMPACT)) == NULL) {
		log_warnx("%s: could not store a message of '%s': out of "
		    "memory", __func__, channel);
		return (-1);
	}
	p[0] = channel;
	p[1] = mid;
	p[2] = agent;
	p[3] = ev->ce_user_id;
	p[4] = ev->ce_user_name;
	/* The reply goes to channel_id; a DM adapter may leave it out and
	 * mean the user (send's channel_id is user.platform_id). */
	p[5] = ev->ce_channel_id != NULL ? ev->ce_channel_id : ev->ce_user_id;
	p[6] = ev->ce_thread_id;
	p[7] = ev->ce_is_group == 1 ? "true" : "false";
	p[8] = chan_event_text(ev);
	p[9] = frame;
	if ((res = db_exec(db, SQL_INBOUND, 10, p)) == NULL)
		log_warnx("%s: could not store a message of '%s': %s",
		    __func__, channel, db_errmsg(db));
	else
		rv = PQntuples(res) == 1 ? 1 : 0;
	PQclear(res);
	free(frame);
	return (rv);
}

int
chan_store_lease(struct db *db, const char *channel, const char *owner)
{
	PGresult	*res;
	const char	*p[2] = { channel, owner };
	int		 rv;

	res = db_exec(db, "INSERT INTO channel_leases (channel, owner, "
	    "expires_at) VALUES ($1, $2, clock_timestamp() + interval '"
	    LEASE_SECS_STR " seconds') ON CONFLICT (channel) DO UPDATE "
	    "SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at "
	    "WHERE channel_leases.owner = EXCLUDED.owner "
	    "OR channel_leases.expires_at < clock_timestamp() RETURNING 1",
	    2, p);
	if (res == NULL) {
		log_warnx("%s: could not renew the lease of '%s': %s",
		    __func__, channel, db_errmsg(db));
		return (-1);
	}
	rv = PQntuples(res) == 1;
	PQclear(res);
	return (rv);
}

void
chan_store_unlease(struct db *db, const char *owner)
{
	const char	*p[1] = { owner };

	if (db_cmd(db, "DELETE FROM channel_leases WHERE owner = $1", 1,
	    p) != 0)
		log_warnx("%s: could not give up the leases of '%s': %s",
		    __func__, owner, db_errmsg(db));
}

void
chan_store_renew_turns(struct db *db, const char *owner)
{
	const char	*p[1] = { owner };

	if (db_cmd(db, "UPDATE inbound SET lease_until = clock_timestamp() "
	    "+ interval '" LEASE_SECS_STR " seconds' WHERE state = 'running' "
	    "AND claimed_by = $1", 1, p) != 0)
		log_warnx("%s: could not renew the turns of '%s': %s",
		    __func__, owner, db_errmsg(db));
}

void
chan_store_status(struct db *db, const char *channel, const char *owner,
    const char *state, long long restarts, const char *last_error,
    json_t *capabilities, json_t *recipients, long long pid)
{
	char		 nrest[32], npid[32], *caps, *rcpt;
	const char	*p[8];

	snprintf(nrest, sizeof(nrest), "%lld", restarts);
	snprintf(npid, sizeof(npid), "%lld", pid);
	caps = capabilities != NULL ? json_dumps(capabilities,
	    JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	rcpt = json_is_array(recipients) ? json_dumps(recipients,
	    JSON_COMPACT) : NULL;
	p[0] = channel;
	p[1] = owner;
	p[2] = state;
	p[3] = nrest;
	p[4] = last_error;
	p[5] = caps != NULL ? caps : "[]";
	p[6] = pid > 0 ? npid : NULL;
	p[7] = rcpt != NULL ? rcpt : "[]";
	if (db_cmd(db, "INSERT INTO adapter_status (channel, owner, state, "
	    "restarts, last_error, capabilities, pid, recipients) VALUES "
	    "($1, $2, $3, $4::bigint, $5, $6::jsonb, $7::bigint, $8::jsonb) "
	    "ON CONFLICT (channel) "
	    "DO UPDATE SET owner = EXCLUDED.owner, state = EXCLUDED.state, "
	    "restarts = EXCLUDED.restarts, last_error = EXCLUDED.last_error, "
	    "capabilities = EXCLUDED.capabilities, pid = EXCLUDED.pid, "
	    "recipients = EXCLUDED.recipients, updated_at = now()", 8,
	    p) != 0)
		log_warnx("%s: could not record the state of '%s': %s",
		    __func__, channel, db_errmsg(db));
	free(caps);
	free(rcpt);
}

void
chan_store_qr(struct db *db, const char *channel, json_t *params,
    int fresh)
{
	char		*s;
	const char	*p[2];

	if (params == NULL || (s = json_dumps(params, JSON_COMPACT)) == NULL)
		return;
	p[0] = channel;
	p[1] = s;
	/* A new code's login has no status yet: an old "expired" must not
	 * stick to it. */
	if (db_cmd(db, fresh ? "UPDATE adapter_status SET qr = $2::jsonb, "
	    "updated_at = now() WHERE channel = $1" : "UPDATE adapter_status "
	    "SET qr = coalesce(qr, '{}') || $2::jsonb, updated_at = now() "
	    "WHERE channel = $1", 2, p) != 0)
		log_warnx("%s: could not cache the QR state of '%s': %s",
		    __func__, channel, db_errmsg(db));
	free(s);
}
