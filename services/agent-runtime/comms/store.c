/*
 * comms/store.c - the SQL of comms (sql/009_comms.sql): recording an
 * event (and publishing it), and the hooks agents.message and
 * agents.spawn call when an agent is the caller.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "bus.h"
#include "comms/comms.h"
#include "db.h"
#include "log.h"
#include "services.h"
#include "util.h"

#define COMMS_TS(col)							\
	"to_char(" col " AT TIME ZONE 'UTC', "				\
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The names are read here, so an event keeps them after a rename. */
static const char SQL_RECORD[] =
	"WITH ins AS ("
	"  INSERT INTO comms_events (id, kind, source_id, source_name, "
	"      target_id, target_name, detail) "
	"  VALUES ($1::uuid, $2, $3::uuid, "
	"      COALESCE((SELECT name FROM agents WHERE id = $3::uuid), ''), "
	"      $4::uuid, "
	"      COALESCE((SELECT name FROM agents WHERE id = $4::uuid), ''), "
	"      $5) "
	"  RETURNING *) "
	"SELECT id::text AS id, " COMMS_TS("at") " AS timestamp, kind, "
	"    source_id::text AS source_id, source_name, "
	"    target_id::text AS target_id, target_name, detail FROM ins";
/* seq is dense enough: pruning by it keeps about COMMS_KEEP rows. */
static const char SQL_PRUNE[] =
	"DELETE FROM comms_events "
	"WHERE seq <= (SELECT max(seq) FROM comms_events) - $1::bigint";
static const char SQL_SET_PARENT[] =
	"UPDATE agents SET parent_id = $1::uuid "
	"WHERE id = $2::uuid AND id <> $1::uuid "
	"    AND EXISTS (SELECT 1 FROM agents WHERE id = $1::uuid)";

/* The length of s cut to at most max bytes without splitting a UTF-8
 * character. */
static size_t
comms_cut(const char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n <= max)
		return (n);
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return (n);
}

static void
comms_publish(struct agent_state *as, json_t *ev)
{
	if (as == NULL || as->as_pub == NULL)
		return;
	pthread_mutex_lock(&as->as_pub_mtx);
	(void)bus_publish(as->as_pub, TOPIC_COMMS, ev);
	pthread_mutex_unlock(&as->as_pub_mtx);
}

json_t *
comms_record(struct db *db, struct agent_state *as, const char *kind,
    const char *source_id, const char *target_id, const char *detail)
{
	char		 id[UTIL_UUID_LEN], keep[32], *cut = NULL;
	const char	*p[5];
	json_t		*ev = NULL;
	size_t		 n;
	int		 err;

	util_uuid4(id);
	n = comms_cut(detail != NULL ? detail : "", COMMS_DETAIL_MAX);
	if ((cut = strndup(detail != NULL ? detail : "", n)) == NULL)
		goto done;
	p[0] = id;
	p[1] = kind;
	p[2] = source_id;
	p[3] = target_id;
	p[4] = cut;
	if ((ev = db_one_json(db_exec(db, SQL_RECORD, 5, p), &err)) == NULL) {
		log_warnx("%s: could not record a '%s' event: %s", __func__,
		    kind, db_errmsg(db));
		goto done;
	}
	snprintf(keep, sizeof(keep), "%d", COMMS_KEEP);
	p[0] = keep;
	if (db_cmd(db, SQL_PRUNE, 1, p) != 0)
		log_warnx("%s: could not prune the events: %s", __func__,
		    db_errmsg(db));
	comms_publish(as, ev);
 done:
	free(cut);
	return (ev);
}

/* The agent id of an agent caller ("agent:<uuid>", lowercased into id),
 * or NULL. */
static const char *
comms_caller_agent(const struct msg_req *rq, char id[UTIL_UUID_LEN])
{
	const char	*p = json_string_value(json_object_get(rq->mr_caller,
			    "principal"));
	size_t		 i;

	if (p == NULL || strncmp(p, "agent:", 6) != 0 ||
	    !util_uuid_valid(p + 6))
		return (NULL);
	for (i = 0; i < UTIL_UUID_LEN; i++)
		id[i] = (char)tolower((unsigned char)p[6 + i]);
	return (id);
}

void
comms_on_message(struct svc_ctx *c, const struct msg_req *rq,
    const char *target_id, const char *message)
{
	char	 from[UTIL_UUID_LEN];

	/* comms.send and comms.task recorded it already. */
	if (json_is_string(json_object_get(rq->mr_caller, "comms_event")) ||
	    comms_caller_agent(rq, from) == NULL)
		return;
	json_decref(comms_record(c->sc_db, c->sc_arg, "AgentMessage", from,
	    target_id, message));
}

void
comms_on_spawn(struct svc_ctx *c, const struct msg_req *rq,
    const char *child_id)
{
	char		 parent[UTIL_UUID_LEN];
	const char	*p[2];

	if (comms_caller_agent(rq, parent) == NULL)
		return;
	p[0] = parent;
	p[1] = child_id;
	if (db_cmd(c->sc_db, SQL_SET_PARENT, 2, p) != 0)
		log_warnx("%s: could not record '%s' as the parent of '%s': "
		    "%s", __func__, parent, child_id, db_errmsg(c->sc_db));
	json_decref(comms_record(c->sc_db, c->sc_arg, "AgentSpawned", parent,
	    child_id, "spawned"));
}
