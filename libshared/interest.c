/*
 * interest.c - events.interest, the sending side (interest.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "err.h"
#include "interest.h"
#include "log.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "util.h"

static struct {
	pthread_mutex_t		 mtx;
	struct bus_client	*bc;
	struct svc_tick		*tick;
	struct db		*db;		/* the tick's own */
	const char		*service;
	const char		*sql;
	const char		*schema;
	char			 conninfo[1024];
	uint64_t		 sent_ms;	/* last taken (monotonic) */
	uint64_t		 tried_ms;
	int			 failing;	/* logged once per failure run */
} in = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static void
interest_failed(const char *what, const char *why)
{
	int	first;

	pthread_mutex_lock(&in.mtx);
	first = !in.failing;
	in.failing = 1;
	pthread_mutex_unlock(&in.mtx);
	if (first)
		log_warnx("%s: %s: %s", in.service, what, why);
	else
		log_debug("%s: %s: %s", in.service, what, why);
}

int
interest_send(struct db *db)
{
	struct msg_rep	 rep;
	PGresult	*res;
	json_t		*req;
	uint64_t	 now = util_now_ms();
	char		 why[32];
	int		 rv, wants;

	if (in.bc == NULL || db == NULL)
		return (-1);
	pthread_mutex_lock(&in.mtx);
	in.tried_ms = now;
	pthread_mutex_unlock(&in.mtx);
	if ((res = db_exec(db, in.sql, 0, NULL)) == NULL ||
	    PQntuples(res) != 1 || PQnfields(res) != 2) {
		interest_failed("could not compute the event interest",
		    db_errmsg(db));
		PQclear(res);
		return (-1);
	}
	wants = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	req = msg_request(OP_EVENTS_INTEREST, NULL, util_wall_ms() +
	    INTEREST_CALL_MS, NULL, NULL, NULL, json_pack("{s:s, s:b, s:s}",
	    "service", in.service, "messages", wants, "as_of",
	    PQgetvalue(res, 0, 1)));
	PQclear(res);
	if (req == NULL) {
		interest_failed("could not send the event interest",
		    "out of memory");
		return (-1);
	}
	rv = bus_call(in.bc, SVC_AGENT_RUNTIME, req, INTEREST_CALL_MS, &rep);
	json_decref(req);
	if (rv != 0) {
		interest_failed("could not send the event interest",
		    sh_strerror(rv));
		return (-1);
	}
	rv = rep.mp_status;
	msg_rep_release(&rep);
	if (rv != 200) {
		snprintf(why, sizeof(why), "status %d", rv);
		interest_failed("agent-runtime refused the event interest",
		    why);
		return (-1);
	}
	pthread_mutex_lock(&in.mtx);
	if (in.failing)
		log_info("%s: event interest sent (messages: %s)", in.service,
		    wants ? "wanted" : "not wanted");
	in.failing = 0;
	in.sent_ms = now;
	pthread_mutex_unlock(&in.mtx);
	return (0);
}

static void
interest_tick(void *arg)
{
	uint64_t	now = util_now_ms();
	int		due;

	(void)arg;
	pthread_mutex_lock(&in.mtx);
	due = in.sent_ms == 0 || now - in.sent_ms >= INTEREST_TICK_MS ||
	    (in.failing && now - in.tried_ms >= INTEREST_RETRY_MS);
	pthread_mutex_unlock(&in.mtx);
	if (!due)
		return;
	if (in.db == NULL && (in.db = db_open(in.conninfo, in.schema)) ==
	    NULL)
		return;
	(void)interest_send(in.db);
}

int
interest_start(const struct sh_config *cfg, const char *schema,
    const char *service, const char *sql)
{
	in.service = service;
	in.sql = sql;
	in.schema = schema;
	db_conninfo(cfg->database_url, cfg->home_dir, in.conninfo,
	    sizeof(in.conninfo));
	if ((in.bc = bus_client_open(cfg->bus_url)) == NULL) {
		log_warnx("%s: could not open a bus client on '%s'", __func__,
		    cfg->bus_url);
		return (-1);
	}
	if ((in.tick = svc_tick_start("event interest", INTEREST_RETRY_MS, 1,
	    interest_tick, NULL)) == NULL) {
		interest_stop();
		return (-1);
	}
	return (0);
}

void
interest_stop(void)
{
	svc_tick_stop(in.tick);
	in.tick = NULL;
	bus_client_close(in.bc);
	in.bc = NULL;
	db_close(in.db);
	in.db = NULL;
}
