/*
 * mem.c - the request helpers the memory service's operations share:
 * bounded numbers and strings from the query or the body, metadata
 * checks, transactions, and whether an agent exists (asked of
 * agent-runtime over the bus: a service never reads another's tables),
 * with the per-agent read built on it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bus.h"
#include "db.h"
#include "err.h"
#include "memory.h"
#include "msg.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "util.h"

#define MEM_AGENT_TIMEOUT_MS	3000

int
mem_query_num(const struct msg_req *rq, const char *k, long long min,
    long long max, long long *out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(rq->mr_query, k);

	if (v == NULL)
		return (0);
	if (json_is_integer(v) && json_integer_value(v) >= min &&
	    json_integer_value(v) <= max) {
		*out = json_integer_value(v);
		return (0);
	}
	if (json_is_string(v) && util_strtonum(json_string_value(v), min, max,
	    out) == 0)
		return (0);
	svc_reply_error(rp, 400, "'%s' must be an integer in %lld..%lld", k,
	    min, max);
	return (-1);
}

/* v as a finite number in min..max: 0, or -1. */
static int
mem_real(json_t *v, double min, double max, double *out)
{
	const char	*s;
	char		*end;
	double		 d;

	if (json_is_number(v))
		d = json_number_value(v);
	else if ((s = json_string_value(v)) != NULL && *s != '\0') {
		d = strtod(s, &end);
		if (*end != '\0')
			return (-1);
	} else
		return (-1);
	if (!isfinite(d) || d < min || d > max)
		return (-1);
	*out = d;
	return (0);
}

int
mem_query_real(const struct msg_req *rq, const char *k, double min,
    double max, double *out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(rq->mr_query, k);

	if (v == NULL)
		return (0);
	if (mem_real(v, min, max, out) == 0)
		return (0);
	svc_reply_error(rp, 400, "'%s' must be a number in %g..%g", k, min,
	    max);
	return (-1);
}

int
mem_obj_real(json_t *o, const char *k, double min, double max, double *out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return (0);
	if (json_is_number(v) && mem_real(v, min, max, out) == 0)
		return (0);
	svc_reply_error(rp, 400, "'%s' must be a number in %g..%g", k, min,
	    max);
	return (-1);
}

/* v as a string of 1..max bytes without NUL: 0, -1 (400) or -2 (413). */
static int
mem_str(json_t *v, size_t max, const char **out)
{
	size_t	n;

	if (!json_is_string(v) || (n = json_string_length(v)) == 0 ||
	    strlen(json_string_value(v)) != n)
		return (-1);
	if (n > max)
		return (-2);
	*out = json_string_value(v);
	return (0);
}

int
mem_query_str(const struct msg_req *rq, const char *k, size_t max,
    const char **out, struct svc_reply *rp)
{
	json_t	*v = json_object_get(rq->mr_query, k);

	if (v == NULL)
		return (0);
	if (mem_str(v, max, out) == 0)
		return (0);
	svc_reply_error(rp, 400, "'%s' must be a string of 1-%zu bytes", k,
	    max);
	return (-1);
}

int
mem_obj_str(json_t *o, const char *k, size_t max, const char **out,
    struct svc_reply *rp)
{
	json_t	*v = json_object_get(o, k);
	int	 rv;

	if (v == NULL || json_is_null(v))
		return (0);
	if ((rv = mem_str(v, max, out)) == 0)
		return (0);
	if (rv == -2)
		svc_reply_error(rp, 413, "'%s' is larger than %zu bytes", k,
		    max);
	else
		svc_reply_error(rp, 400, "'%s' must be a non-empty string "
		    "without NUL characters", k);
	return (-1);
}

int
mem_level_ok(const char *level)
{
	return (level != NULL && (strcmp(level, "user") == 0 ||
	    strcmp(level, "session") == 0 || strcmp(level, "agent") == 0));
}

int
mem_json_depth(json_t *v)
{
	const char	*k;
	json_t		*e;
	size_t		 i;
	int		 d, max = 0;

	/* Bounded by the decoder: the bus envelope parser already refuses
	 * more nesting than jansson's own limit, so this recursion is. */
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			if ((d = mem_json_depth(e)) > max)
				max = d;
		return (max + 1);
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if ((d = mem_json_depth(e)) > max)
				max = d;
		return (max + 1);
	}
	return (0);
}

int
mem_metadata_text(json_t *metadata, char **text, struct svc_reply *rp)
{
	char	*t;

	*text = NULL;
	if (metadata == NULL || json_is_null(metadata))
		return (0);
	if (!json_is_object(metadata)) {
		svc_reply_error(rp, 400, "'metadata' must be an object");
		return (-1);
	}
	if (mem_json_depth(metadata) > MEM_JSON_DEPTH_MAX) {
		svc_reply_error(rp, 400, "'metadata' is nested deeper than %d "
		    "levels", MEM_JSON_DEPTH_MAX);
		return (-1);
	}
	if ((t = json_dumps(metadata, MSG_JSON_FLAGS)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	if (strlen(t) > MEM_METADATA_MAX) {
		free(t);
		svc_reply_error(rp, 413, "'metadata' is larger than %d bytes",
		    MEM_METADATA_MAX);
		return (-1);
	}
	/* jsonb cannot hold \u0000 */
	if (strstr(t, "\\u0000") != NULL) {
		free(t);
		svc_reply_error(rp, 400, "'metadata' must not contain NUL "
		    "characters");
		return (-1);
	}
	*text = t;
	return (0);
}

int
mem_agent_known(const char *id, struct svc_reply *rp)
{
	struct bus_client	*bc = memory_bus();
	struct msg_rep		 rep;
	json_t			*req;
	int			 rv, ret = -1;

	if (bc == NULL) {
		svc_reply_error(rp, 503, "agent-runtime is unavailable");
		return (-1);
	}
	if ((req = msg_request(OP_AGENTS_GET, NULL, util_wall_ms() +
	    MEM_AGENT_TIMEOUT_MS, json_pack("{s:s}", "principal", "memory"),
	    json_pack("{s:s}", PARAM_ID, id), NULL, NULL)) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		return (-1);
	}
	rv = bus_call(bc, SVC_AGENT_RUNTIME, req, MEM_AGENT_TIMEOUT_MS, &rep);
	json_decref(req);
	if (rv != 0) {
		svc_reply_error(rp, 503, "agent-runtime did not answer (%s)",
		    sh_strerror(rv));
		return (-1);
	}
	if (rep.mp_status == 200)
		ret = 0;
	else if (rep.mp_status == 404 || rep.mp_status == 400)
		svc_reply_error(rp, 404, "Agent not found");
	else
		svc_reply_error(rp, 503, "agent-runtime answered %d",
		    rep.mp_status);
	msg_rep_release(&rep);
	return (ret);
}

PGresult *
mem_agent_exec(struct svc_ctx *c, const struct msg_req *rq, const char *sql,
    char id[UTIL_UUID_LEN], struct svc_reply *rp)
{
	const char	*p[1] = { id };
	PGresult	*res;

	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    mem_agent_known(id, rp) != 0)
		return (NULL);
	if ((res = db_exec(c->sc_db, sql, 1, p)) == NULL)
		svc_reply_db_error(rp, c);
	return (res);
}

int
mem_begin(struct db *db)
{
	return (db_cmd(db, "BEGIN", 0, NULL));
}

int
mem_commit(struct db *db)
{
	return (db_cmd(db, "COMMIT", 0, NULL));
}

void
mem_rollback(struct db *db)
{
	(void)db_cmd(db, "ROLLBACK", 0, NULL);
}
