/*
 * cfgsync.c - config versions: stored, announced, fetched and applied
 * (cfgsync.h), and the stack's shutdown.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "buf.h"
#include "bus.h"
#include "cfgsync.h"
#include "err.h"
#include "log.h"
#include "services.h"
#include "toml.h"
#include "util.h"

#define CFGSYNC_FILE_MAX	(1024 * 1024)
#define CFGSYNC_CALL_MS		2000
#define CFGSYNC_RETRY_MS	1000	/* until the first answer */

static struct {
	pthread_mutex_t		 mtx;		/* one change at a time */
	struct sh_config	*cfg;
	char			 service[64];
	cfgsync_apply_fn	 fn;
	void			*arg;
	char			 path[1024];	/* the file written */
	_Atomic long long	 version;
	json_t			*last_plan;	/* version's, under mtx */
	pthread_t		 thread;
	int			 running;
	_Atomic int		 quit;
	_Atomic int		 stopping;
	struct bus_client	*bc;
	struct bus_sub		*sub;
	pthread_mutex_t		 pub_mtx;
	struct bus_pub		*pub;
} cs = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.pub_mtx = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_mutex_t	cs_file_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		cs_file_fd = -1;

void
cfg_file_lock(const char *path)
{
	char	lock[1100];

	pthread_mutex_lock(&cs_file_mtx);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	if ((cs_file_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >=
	    0) {
		while (flock(cs_file_fd, LOCK_EX) != 0 && errno == EINTR)
			;
	}
}

void
cfg_file_unlock(void)
{
	if (cs_file_fd >= 0) {
		(void)flock(cs_file_fd, LOCK_UN);
		close(cs_file_fd);
		cs_file_fd = -1;
	}
	pthread_mutex_unlock(&cs_file_mtx);
}

long long
cfgsync_version(void)
{
	return (cs.version);
}

/* An empty plan (new). */
static json_t *
cs_empty_plan(void)
{
	return (json_pack("{s:b, s:[], s:[], s:[], s:[]}", "restart_required",
	    0, "restart_reasons", "hot_actions", "noop_changes", "changed"));
}

/* The modification time of path in wall ms, or 0. */
static int64_t
cs_mtime_ms(const char *path)
{
	struct stat	st;

	if (stat(path, &st) != 0)
		return (0);
	return ((int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000);
}

/*
 * Applies version (text[0..len), stored at created_ms) here.  initial:
 * the first version this process hears of, which its own file may be
 * newer than.  Returns the plan (new), or NULL when nothing was applied.
 */
static json_t *
cs_apply(long long version, const char *text, size_t len, int64_t created_ms,
    int initial)
{
	struct sh_config	 nc;
	json_t			*plan = NULL;
	char			*own, err[600];
	size_t			 olen, i;

	if (cs.cfg == NULL)
		return (NULL);
	pthread_mutex_lock(&cs.mtx);
	if (version <= cs.version) {
		/* Applied already (the announcement came first). */
		plan = version == cs.version && cs.last_plan != NULL ?
		    json_incref(cs.last_plan) : cs_empty_plan();
		goto done;
	}
	if (initial) {
		own = util_read_file(cs.path, CFGSYNC_FILE_MAX, &olen);
		if (own != NULL && olen == len && memcmp(own, text, len) == 0) {
			free(own);
			cs.version = version;	/* what we read at start */
			goto done;
		}
		free(own);
		if (cs_mtime_ms(cs.path) > created_ms) {
			log_info("config: %s was written after config "
			    "version %lld: it is kept here (POST "
			    "/api/config/reload shares it)", cs.path, version);
			cs.version = version;
			goto done;
		}
	}
	if (cfg_load_text(&nc, cs.cfg->cf_path[0] != '\0' ? cs.cfg->cf_path :
	    cs.path, text, len, err, sizeof(err)) != 0) {
		log_warnx("config version %lld does not load here: %s; kept "
		    "as it was", version, err);
		cfg_release(&nc);
		cs.version = version;
		goto done;
	}
	if ((plan = cfg_plan(cs.cfg, &nc)) == NULL) {
		cfg_release(&nc);
		goto done;
	}
	cfg_apply_hot(cs.cfg, &nc);
	cfg_release(&nc);
	log_set_level(log_parse_level(cs.cfg->log_level));
	if (cs.fn != NULL)
		cs.fn(cs.cfg, plan, cs.arg);
	for (i = 0; i < json_array_size(json_object_get(plan,
	    "restart_reasons")); i++)
		log_warnx("config version %lld: %s: restart %s to apply it",
		    version, json_string_value(json_array_get(json_object_get(
		    plan, "restart_reasons"), i)), cs.service);
	if (json_array_size(json_object_get(plan, "changed")) > 0)
		log_info("config version %lld applied", version);
	cs.version = version;
	json_decref(cs.last_plan);
	cs.last_plan = json_incref(plan);
 done:
	pthread_mutex_unlock(&cs.mtx);
	return (plan);
}

/* Asks the owner for a version past ours and applies it.  0 once the
 * owner answered, -1 otherwise. */
static int
cs_fetch(int initial)
{
	struct msg_rep	 rep;
	json_t		*req, *b, *plan;
	const char	*text;
	int		 rv;

	req = msg_request(OP_CONFIG_CURRENT, NULL, 0, NULL, NULL, NULL,
	    json_pack("{s:I}", "since", (json_int_t)cs.version));
	if (req == NULL)
		return (-1);
	rv = bus_call(cs.bc, SVC_CONFIG_OWNER, req, CFGSYNC_CALL_MS, &rep);
	json_decref(req);
	if (rv != 0)
		return (-1);
	if (rep.mp_status != 200) {
		msg_rep_release(&rep);
		return (-1);
	}
	b = rep.mp_body;
	text = json_string_value(json_object_get(b, "text"));
	if (text != NULL && json_integer_value(json_object_get(b, "version")) >
	    cs.version) {
		plan = cs_apply(json_integer_value(json_object_get(b,
		    "version")), text, json_string_length(json_object_get(b,
		    "text")), json_integer_value(json_object_get(b,
		    "created_at_ms")), initial);
		json_decref(plan);
	}
	msg_rep_release(&rep);
	return (0);
}

/* Stops this process, or the stack when librefangd runs it. */
static void
cs_stop_process(const char *why)
{
	pid_t	sup;

	if (atomic_exchange(&cs.stopping, 1))
		return;
	if ((sup = svc_supervisor()) != 0) {
		log_info("shutdown asked (%s): librefangd stops the stack",
		    why);
		(void)kill(sup, SIGTERM);
		return;
	}
	log_info("shutdown asked (%s): stopping", why);
	(void)kill(getpid(), SIGTERM);
}

static void *
cs_main(void *arg)
{
	uint64_t	 next = 0, now;
	char		*topic;
	json_t		*body;
	int		 synced = 0;

	(void)arg;
	while (!cs.quit) {
		now = util_now_ms();
		if (now >= next) {
			if (cs_fetch(!synced) == 0)
				synced = 1;
			next = util_now_ms() + (synced ? CFGSYNC_POLL_MS :
			    CFGSYNC_RETRY_MS);
		}
		if (cs.sub == NULL) {
			util_sleep_ms(100);
			continue;
		}
		/* Until the next fetch is due: cfgsync_stop() wakes the
		 * receive, so it needs no shorter deadline. */
		now = util_now_ms();
		if (bus_sub_recv(cs.sub, next > now ? (int)(next - now) : 0,
		    &topic, &body) != 0)
			continue;
		if (strcmp(topic, TOPIC_SHUTDOWN) == 0)
			cs_stop_process(json_string_value(json_object_get(body,
			    "reason")) != NULL ? json_string_value(
			    json_object_get(body, "reason")) : "bus");
		else if (strcmp(topic, TOPIC_CONFIG) == 0 &&
		    json_integer_value(json_object_get(body, "version")) >
		    cs.version)
			next = 0;	/* fetch it now */
		free(topic);
		json_decref(body);
	}
	return (NULL);
}

int
cfgsync_start(struct sh_config *cfg, const char *service,
    cfgsync_apply_fn fn, void *arg)
{
	int	e;

	cs.cfg = cfg;
	cs.fn = fn;
	cs.arg = arg;
	snprintf(cs.service, sizeof(cs.service), "%s", service);
	if (cfg->cf_path[0] != '\0')
		snprintf(cs.path, sizeof(cs.path), "%s", cfg->cf_path);
	else
		snprintf(cs.path, sizeof(cs.path), "%s/config.toml",
		    cfg->home_dir);
	if ((cs.bc = bus_client_open(cfg->bus_url)) == NULL) {
		log_warnx("%s: no bus client: config changes are not applied "
		    "here", __func__);
		return (-1);
	}
	if ((cs.sub = bus_sub_open(cfg->bus_url)) == NULL ||
	    bus_subscribe(cs.sub, TOPIC_CONFIG) != 0 ||
	    bus_subscribe(cs.sub, TOPIC_SHUTDOWN) != 0)
		log_warnx("%s: no subscription: config changes arrive within "
		    "%d s, and /api/shutdown is not heard", __func__,
		    CFGSYNC_POLL_MS / 1000);
	cs.pub = bus_pub_open(cfg->bus_url);
	cs.quit = 0;
	if ((e = pthread_create(&cs.thread, NULL, cs_main, NULL)) != 0) {
		log_warnx("%s: %s", __func__, strerror(e));
		bus_sub_close(cs.sub);
		bus_pub_close(cs.pub);
		bus_client_close(cs.bc);
		cs.sub = NULL;
		cs.pub = NULL;
		cs.bc = NULL;
		return (-1);
	}
	cs.running = 1;
	return (0);
}

void
cfgsync_stop(void)
{
	if (!cs.running)
		return;
	cs.quit = 1;
	bus_sub_wake(cs.sub);
	pthread_join(cs.thread, NULL);
	cs.running = 0;
	bus_sub_close(cs.sub);
	pthread_mutex_lock(&cs.pub_mtx);
	bus_pub_close(cs.pub);
	cs.pub = NULL;
	pthread_mutex_unlock(&cs.pub_mtx);
	bus_client_close(cs.bc);
	cs.sub = NULL;
	cs.bc = NULL;
	pthread_mutex_lock(&cs.mtx);
	json_decref(cs.last_plan);
	cs.last_plan = NULL;
	cs.cfg = NULL;
	pthread_mutex_unlock(&cs.mtx);
}

static void
cs_publish(const char *topic, json_t *body)
{
	pthread_mutex_lock(&cs.pub_mtx);
	if (cs.pub != NULL && body != NULL)
		(void)bus_publish(cs.pub, topic, body);
	pthread_mutex_unlock(&cs.pub_mtx);
	json_decref(body);
}

struct cs_shutdown {
	char	reason[128];
	int	delay_ms;
};

static void *
cs_shutdown_main(void *arg)
{
	struct cs_shutdown	*sd = arg;

	util_sleep_ms((unsigned int)sd->delay_ms);
	cs_publish(TOPIC_SHUTDOWN, json_pack("{s:s, s:s}", "instance",
	    svc_instance(), "reason", sd->reason));
	cs_stop_process(sd->reason);
	free(sd);
	return (NULL);
}

int
cfgsync_shutdown(const char *reason, int delay_ms)
{
	struct cs_shutdown	*sd;
	pthread_attr_t		 at;
	pthread_t		 t;
	int			 e;

	if ((sd = calloc(1, sizeof(*sd))) == NULL)
		return (-1);
	snprintf(sd->reason, sizeof(sd->reason), "%s", reason);
	sd->delay_ms = delay_ms;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &at, cs_shutdown_main, sd);
	pthread_attr_destroy(&at);
	if (e != 0) {
		free(sd);
		return (-1);
	}
	return (0);
}

/* ---- the operations (SVC_CONFIG_OWNER) -------------------------------- */

/*
 * Stores text as a new version, with its audit entry, in one
 * transaction.  0 with *version and *created_ms, or -1 (rolled back).
 */
static int
cs_store(struct svc_ctx *c, const char *text, const char *origin,
    const char *path, const char *detail, long long *version,
    int64_t *created_ms)
{
	PGresult	*res = NULL;
	const char	*p[4] = { svc_instance(), origin, path, text };

	if (db_cmd(c->sc_db, "BEGIN", 0, NULL) != 0)
		return (-1);
	if ((res = db_exec(c->sc_db, "INSERT INTO config_versions (instance, "
	    "origin, path, text) VALUES ($1, $2, $3, $4) RETURNING version, "
	    "(extract(epoch FROM created_at) * 1000)::bigint", 4, p)) == NULL)
		goto fail;
	*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*created_ms = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, NULL, detail, "ok") !=
	    0 || db_cmd(c->sc_db, "COMMIT", 0, NULL) != 0)
		goto fail;
	return (0);
 fail:
	(void)db_cmd(c->sc_db, "ROLLBACK", 0, NULL);
	return (-1);
}

/* Puts config.toml back as it was (old NULL: it did not exist). */
static void
cs_restore(const char *old, size_t len)
{
	char	err[600];

	if (old == NULL) {
		if (unlink(cs.path) != 0 && errno != ENOENT)
			log_warn("could not remove %s", cs.path);
	} else if (util_write_atomic(cs.path, old, len, err,
	    sizeof(err)) != 0)
		log_warnx("could not restore %s: %s", cs.path, err);
}

static void
cs_announce(long long version)
{
	cs_publish(TOPIC_CONFIG, json_pack("{s:I, s:s}", "version",
	    (json_int_t)version, "instance", svc_instance()));
}

static void
op_set(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	struct sh_config	 nc;
	struct buf		 lit, out;
	struct toml_err		 te;
	const char		*path;
	json_t			*value, *doc = NULL, *got, *plan;
	char			*old = NULL, table[64], key[128], err[700];
	char			 detail[512];
	size_t			 olen = 0;
	long long		 version;
	int64_t			 created;
	int			 locked = 0, loaded = 0;

	buf_init(&lit, 64 * 1024);
	buf_init(&out, 2 * CFGSYNC_FILE_MAX);
	if (!json_is_object(rq->mr_body)) {
		svc_reply_error(rp, 400, "a JSON object {path, value} is "
		    "required");
		goto done;
	}
	path = json_string_value(json_object_get(rq->mr_body, "path"));
	value = json_object_get(rq->mr_body, "value");
	if (cfg_set_check(path, value, table, sizeof(table), key, sizeof(key),
	    &lit, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		goto done;
	}
	if (cs.cfg == NULL) {
		svc_reply_error(rp, 503, "live configuration is not running");
		goto done;
	}
	cfg_file_lock(cs.path);
	locked = 1;
	if ((old = util_read_file(cs.path, CFGSYNC_FILE_MAX, &olen)) == NULL &&
	    errno != ENOENT) {
		svc_reply_error(rp, 500, "could not read config.toml");
		goto done;
	}
	if (toml_edit_set(old != NULL ? old : "", olen, table, key,
	    lit.b_data, &out) != 0) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	/* What would be written must read back as asked and load whole. */
	doc = toml_parse(out.b_data != NULL ? out.b_data : "", out.b_len, 0,
	    &te);
	got = *table != '\0' ? json_object_get(json_object_get(doc, table),
	    key) : json_object_get(doc, key);
	if (doc == NULL || got == NULL || !json_equal(got, value)) {
		svc_reply_error(rp, 409, "config.toml defines '%s%s%s' in a "
		    "way this edit cannot follow (inline or dotted); edit the "
		    "file and POST /api/config/reload", table, *table ? "." :
		    "", key);
		goto done;
	}
	loaded = 1;
	if (cfg_load_text(&nc, cs.path, out.b_data, out.b_len, err,
	    sizeof(err)) != 0) {
		svc_reply_error(rp, 409, "config.toml would not load: %s",
		    err);
		goto done;
	}
	if (util_write_atomic(cs.path, out.b_data, out.b_len, err,
	    sizeof(err)) != 0) {
		log_warnx("config set: %s", err);
		svc_reply_error(rp, 500, "could not write config.toml");
		goto done;
	}
	snprintf(detail, sizeof(detail), "config set %s = %.200s", path,
	    lit.b_data);
	if (cs_store(c, out.b_data, "set", path, detail, &version,
	    &created) != 0) {
		cs_restore(old, olen);
		svc_reply_db_error(rp, c);
		goto done;
	}
	cfg_file_unlock();
	locked = 0;
	log_info("config: %s set (version %lld)", path, version);
	plan = cs_apply(version, out.b_data, out.b_len, created, 0);
	cs_announce(version);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:I, s:O, s:O}",
	    "status", "applied", "path", path, "version", (json_int_t)version,
	    "restart_required", plan != NULL ? json_object_get(plan,
	    "restart_required") : json_false(), "restart_reasons",
	    plan != NULL ? json_object_get(plan, "restart_reasons") :
	    json_array()));
	json_decref(plan);
 done:
	if (loaded)
		cfg_release(&nc);
	if (locked)
		cfg_file_unlock();
	json_decref(doc);
	free(old);
	buf_release(&lit);
	buf_release(&out);
}

int
cfgsync_reload_file(struct svc_ctx *c, struct svc_reply *rp,
    const char *detail, int force, json_t **planp, long long *versionp)
{
	struct sh_config	 nc;
	PGresult		*res;
	json_t			*plan = NULL;
	char			*text = NULL, err[700];
	size_t			 len = 0;
	long long		 version = 0;
	int64_t			 created = 0;
	int			 same = 0, loaded = 0, rv = -1;

	if (cs.cfg == NULL) {
		svc_reply_error(rp, 503, "live configuration is not running");
		return (-1);
	}
	cfg_file_lock(cs.path);
	if ((text = util_read_file(cs.path, CFGSYNC_FILE_MAX, &len)) == NULL) {
		if (errno != ENOENT) {
			svc_reply_error(rp, 500, "could not read config.toml");
			goto done;
		}
		if ((text = strdup("")) == NULL) {
			svc_reply_error(rp, 500, "out of memory");
			goto done;
		}
		len = 0;
	}
	loaded = 1;
	if (cfg_load_text(&nc, cs.path, text, len, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		goto done;
	}
	if ((res = db_exec(c->sc_db, "SELECT version, text = $1, "
	    "(extract(epoch FROM created_at) * 1000)::bigint FROM "
	    "config_versions ORDER BY version DESC LIMIT 1", 1,
	    (const char *const[]){ text })) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (!force && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		same = 1;
		version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		created = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	if (!same && cs_store(c, text, "reload", NULL, detail, &version,
	    &created) != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	cfg_file_unlock();
	if (same && version <= cs.version)
		plan = cs_empty_plan();
	else {
		plan = cs_apply(version, text, len, created, 0);
		if (!same)
			cs_announce(version);
	}
	if (plan == NULL)
		plan = cs_empty_plan();
	if (versionp != NULL)
		*versionp = version;
	if (planp != NULL)
		*planp = plan;
	else
		json_decref(plan);
	cfg_release(&nc);
	free(text);
	return (0);
 done:
	cfg_file_unlock();
	if (loaded)
		cfg_release(&nc);
	free(text);
	return (rv);
}

int
cfgsync_catch_up(struct db *db)
{
	PGresult	*res;
	json_t		*plan = NULL;
	long long	 have = cs.version;
	char		 sn[24];

	if (cs.cfg == NULL)
		return (0);
	snprintf(sn, sizeof(sn), "%lld", have);
	if ((res = db_exec(db, "SELECT version, (extract(epoch FROM "
	    "created_at) * 1000)::bigint, text FROM config_versions WHERE "
	    "version > $1::bigint ORDER BY version DESC LIMIT 1", 1,
	    (const char *const[]){ sn })) == NULL)
		return (0);
	if (PQntuples(res) == 1)
		plan = cs_apply(strtoll(PQgetvalue(res, 0, 0), NULL, 10),
		    PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2),
		    strtoll(PQgetvalue(res, 0, 1), NULL, 10), have == 0);
	PQclear(res);
	json_decref(plan);
	return (cs.version > have);
}

static void
op_reload(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	json_t		*plan;
	const char	*status;
	char		 detail[1200];
	long long	 version;

	(void)rq;
	snprintf(detail, sizeof(detail), "config reloaded from %s", cs.path);
	if (cfgsync_reload_file(c, rp, detail, 0, &plan, &version) != 0)
		return;
	status = json_is_true(json_object_get(plan, "restart_required")) ?
	    "partial" : json_array_size(json_object_get(plan,
	    "hot_actions")) > 0 || json_array_size(json_object_get(plan,
	    "noop_changes")) > 0 ? "applied" : "no_changes";
	svc_reply_json(rp, 200, json_pack("{s:s, s:O, s:O, s:O, s:O, s:I}",
	    "status", status, "restart_required", json_object_get(plan,
	    "restart_required"), "restart_reasons", json_object_get(plan,
	    "restart_reasons"), "hot_actions_applied", json_object_get(plan,
	    "hot_actions"), "noop_changes", json_object_get(plan,
	    "noop_changes"), "version", (json_int_t)version));
	json_decref(plan);
}

static void
op_current(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp)
{
	PGresult	*res;
	json_t		*o;
	long long	 since = 0, version;
	char		 sn[24];

	if (json_is_integer(json_object_get(rq->mr_body, "since")))
		since = json_integer_value(json_object_get(rq->mr_body,
		    "since"));
	snprintf(sn, sizeof(sn), "%lld", since);
	if ((res = db_exec(c->sc_db, "SELECT version, (extract(epoch FROM "
	    "created_at) * 1000)::bigint, CASE WHEN version > $1::bigint "
	    "THEN text END, instance, origin FROM config_versions ORDER BY "
	    "version DESC LIMIT 1", 1, (const char *const[]){ sn })) ==
	    NULL) {
		svc_reply_db_error(rp, c);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		svc_reply_json(rp, 200, json_pack("{s:i}", "version", 0));
		return;
	}
	version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	o = json_pack("{s:I, s:I, s:s, s:s}", "version", (json_int_t)version,
	    "created_at_ms", (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL,
	    10), "instance", PQgetvalue(res, 0, 3), "origin",
	    PQgetvalue(res, 0, 4));
	if (o != NULL && version > since)
		json_object_set_new(o, "text", json_string(PQgetvalue(res, 0,
		    2)));
	PQclear(res);
	svc_reply_json(rp, 200, o);
}

const struct svc_op cfgsync_ops[] = {
	{ OP_CONFIG_SET,	op_set },
	{ OP_CONFIG_RELOAD,	op_reload },
	{ OP_CONFIG_CURRENT,	op_current },
	{ NULL, NULL },
};
