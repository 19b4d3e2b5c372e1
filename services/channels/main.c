/*
 * channels - owns channel configs, bindings, adapters, deliveries,
 * outbound webhooks and pairing.
 *
 * It also stores the live config's versions (config.set, config.reload,
 * config.current: libshared/cfgsync.c) and the dashboard's sessions
 * (dashsess.*: dashsess/).
 *
 * It applies its schema's migrations, then runs the adapter of every
 * [[sidecar_channels]] entry whose lease it takes (chan_supervise.c) and
 * the turns of their inbound messages (chan_router.c), and answers its
 * operations over the bus with a pool of workers until SIGINT or SIGTERM
 * (svc_main()).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgsync.h"
#include "channels.h"
#include "dashsess/dashsess.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "svc.h"
#include "toml.h"
#include "util.h"

#define CHAN_CONFIG_MAX		(4 * 1024 * 1024)	/* config.toml */

#define CHAN_TURN_THREADS	2

/* A set of channels a reload replaced: kept until the service stops, as
 * workers, turn threads and the supervisor may still hold its entries. */
struct chan_gen {
	struct chan_gen		*g_next;
	struct chan_conf	*g_conf;
	size_t			 g_n;
};

static struct {
	pthread_mutex_t		 mtx;		/* conf, nconf, old, reload */
	struct chan_conf	*conf;
	size_t			 nconf;
	struct chan_gen		*old;
	const struct sh_config	*cfg;
	struct chan_sup		*sup;
	struct chan_router	*router;
	pthread_mutex_t		 sync_mtx;	/* gen */
	long long		 gen;		/* last config_reloads id read */
} chan = { .mtx = PTHREAD_MUTEX_INITIALIZER,
    .sync_mtx = PTHREAD_MUTEX_INITIALIZER, .gen = -1 };

struct chan_router *
chan_router(void)
{
	return (chan.router);
}

const struct chan_conf *
chan_confs(size_t *n)
{
	const struct chan_conf	*c;

	pthread_mutex_lock(&chan.mtx);
	*n = chan.nconf;
	c = chan.conf;
	pthread_mutex_unlock(&chan.mtx);
	return (c);
}

const char *
chan_config_path(void)
{
	return (chan.cfg != NULL ? chan.cfg->cf_path : "");
}

const char *
chan_home_dir(void)
{
	return (chan.cfg != NULL ? chan.cfg->home_dir : "");
}

/* name's entry in conf, or NULL. */
static const struct chan_conf *
chan_find(const struct chan_conf *conf, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, name) == 0)
			return (&conf[i]);
	return (NULL);
}

/* Makes doc's channels (borrowed) the running set; *out the diff. */
static int
chan_reload_doc(json_t *doc, char *err, size_t errlen, json_t **out)
{
	struct chan_conf	*conf = NULL;
	struct chan_gen		*g = NULL;
	const struct chan_conf	*o;
	json_t			*diff = NULL;
	char			 why[512];
	size_t			 n = 0, i;
	int			 rv = -1;

	if (out != NULL)
		*out = NULL;
	if (chan_conf_load(doc, &conf, &n, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "sidecar_channels: %s", why);
		goto done;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL || (diff = json_pack("{s:[], "
	    "s:[], s:[], s:[]}", "added", "changed", "removed",
	    "unchanged")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	/* One reload at a time: the supervisor gets the sets in order. */
	pthread_mutex_lock(&chan.mtx);
	for (i = 0; i < n; i++) {
		o = chan_find(chan.conf, chan.nconf, conf[i].cc_name);
		json_array_append_new(json_object_get(diff, o == NULL ?
		    "added" : json_equal(o->cc_src, conf[i].cc_src) ?
		    "unchanged" : "changed"), json_string(conf[i].cc_name));
	}
	for (i = 0; i < chan.nconf; i++)
		if (chan_find(conf, n, chan.conf[i].cc_name) == NULL)
			json_array_append_new(json_object_get(diff, "removed"),
			    json_string(chan.conf[i].cc_name));
	g->g_conf = chan.conf;
	g->g_n = chan.nconf;
	g->g_next = chan.old;
	chan.old = g;
	g = NULL;
	chan.conf = conf;
	chan.nconf = n;
	if (chan.sup != NULL)
		chan_sup_reload(chan.sup, conf, n);
	pthread_mutex_unlock(&chan.mtx);
	conf = NULL;
	log_info("channels reloaded: %zu configured", n);
	if (out != NULL) {
		*out = diff;
		diff = NULL;
	}
	rv = 0;
 done:
	if (conf != NULL)
		chan_conf_free_all(conf, n);
	free(g);
	json_decref(diff);
	return (rv);
}

/* The config file's text (new; *len its bytes), or NULL with err set. */
static char *
chan_config_read(size_t *len, char *err, size_t errlen)
{
	char	*text;

	if (chan.cfg == NULL || chan.cfg->cf_path[0] == '\0') {
		snprintf(err, errlen, "the service was started without a "
		    "config file");
		return (NULL);
	}
	if ((text = util_read_file(chan.cfg->cf_path, CHAN_CONFIG_MAX,
	    len)) == NULL)
		snprintf(err, errlen, "could not read %s", chan.cfg->cf_path);
	return (text);
}

int
chan_reload(char *err, size_t errlen, json_t **out)
{
	json_t		*doc;
	struct toml_err	 te;
	char		*text;
	size_t		 len;
	int		 rv;

	if (out != NULL)
		*out = NULL;
	if ((text = chan_config_read(&len, err, errlen)) == NULL)
		return (-1);
	doc = toml_parse(text, len, 0, &te);
	free(text);
	if (doc == NULL) {
		snprintf(err, errlen, "%s: %s", chan.cfg->cf_path, te.te_msg);
		return (-1);
	}
	rv = chan_reload_doc(doc, err, errlen, out);
	json_decref(doc);
	return (rv);
}

int
chan_config_check(char *err, size_t errlen)
{
	struct sh_config	 nc;
	char			*text;
	size_t			 len;
	int			 rv;

	if ((text = chan_config_read(&len, err, errlen)) == NULL)
		return (-1);
	rv = cfg_load_text(&nc, chan.cfg->cf_path, text, len, err, errlen);
	cfg_release(&nc);
	free(text);
	return (rv);
}

/*
 * A live config change (cfgsync.h) that touches the channels: the new
 * document's set runs here.  Each replica applies the version itself, so
 * no config_reloads row is written.
 */
static void
channels_reload_cfg(struct sh_config *cfg, json_t *plan, void *arg)
{
	json_t	*hot = json_object_get(plan, "hot_actions");
	char	 err[600];
	size_t	 i;

	(void)arg;
	for (i = 0; i < json_array_size(hot); i++)
		if (strcmp(json_string_value(json_array_get(hot, i)),
		    "ReloadChannels") == 0)
			break;
	if (i == json_array_size(hot))
		return;
	if (chan_reload_doc(cfg->cf_doc, err, sizeof(err), NULL) != 0)
		log_warnx("channels: the new config's channels do not load: "
		    "%s; left as they were", err);
}

int
chan_sync(struct db *db)
{
	PGresult	*res;
	long long	 gen;
	char		 err[512];
	int		 rv;

	/* A reload or configure stores a config version (cfgsync.h). */
	rv = cfgsync_catch_up(db);
	/* A config_reloads row: written by a replica of an older release
	 * (each reads its own file again), during an upgrade. */
	if ((res = db_exec(db, "SELECT coalesce(max(id), 0) FROM "
	    "config_reloads", 0, NULL)) == NULL)
		return (rv);
	gen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	pthread_mutex_lock(&chan.sync_mtx);
	if (chan.gen < 0)
		chan.gen = gen;		/* at start: what we read is current */
	else if (gen > chan.gen) {
		chan.gen = gen;
		if (chan_reload(err, sizeof(err), NULL) != 0)
			log_warnx("channels: a reload was asked, but %s; the "
			    "channels are left as they were", err);
		else
			rv = 1;
	}
	pthread_mutex_unlock(&chan.sync_mtx);
	return (rv);
}

static int
channels_start(const struct sh_config *cfg, void *arg)
{
	char	err[512];

	(void)arg;
	chan.cfg = cfg;
	if (chan_conf_load(cfg->cf_doc, &chan.conf, &chan.nconf, err,
	    sizeof(err)) != 0) {
		log_warnx("config: sidecar_channels: %s", err);
		return (-1);
	}
	if (chan_hook_conf_load(cfg, err, sizeof(err)) != 0) {
		log_warnx("config: %s", err);
		goto fail;
	}
	if ((chan.sup = chan_sup_start(cfg, chan.conf, chan.nconf)) == NULL)
		goto fail;
	if ((chan.router = chan_router_start(cfg, chan.sup,
	    CHAN_TURN_THREADS)) == NULL)
		goto fail;
	/* A message stored before the router existed is found by its idle
	 * poll; wake it once anyway. */
	chan_router_wake(chan.router);
	if (chan_hookout_start(cfg) != 0)
		goto fail;
	(void)dashsess_start(cfg);
	log_info("%zu channel(s) configured", chan.nconf);
	return (0);
 fail:
	chan_router_stop(chan.router);
	chan.router = NULL;
	chan_sup_stop(chan.sup);
	chan.sup = NULL;
	chan_conf_free_all(chan.conf, chan.nconf);
	chan.conf = NULL;
	return (-1);
}

static void
channels_stop(void *arg)
{
	struct chan_gen	*g;

	(void)arg;
	dashsess_stop();
	chan_hookout_stop();
	/* Turns first: an abandoned one is put back for whoever runs next,
	 * and the adapters then get their shutdown. */
	chan_router_stop(chan.router);
	chan.router = NULL;
	chan_sup_stop(chan.sup);
	chan.sup = NULL;
	chan_conf_free_all(chan.conf, chan.nconf);
	chan.conf = NULL;
	while ((g = chan.old) != NULL) {
		chan.old = g->g_next;
		chan_conf_free_all(g->g_conf, g->g_n);
		free(g);
	}
}

static const struct svc_op *const channels_ops[] = {
	chan_ops,
	chan_bind_ops,
	chan_test_ops,
	chan_configure_ops,
	cfgsync_ops,
	chan_webhook_ops,
	chan_approve_ops,
	dashsess_ops,
	NULL
};

static const struct svc_def channels_def = {
	.sd_name = SVC_CHANNELS,
	.sd_schema = "channels",
	.sd_migrations = svc_migrations,
	.sd_ops = channels_ops,
	.sd_audit = 1,		/* config changes (cfgsync.c) */
	.sd_start = channels_start,
	.sd_stop = channels_stop,
	.sd_reload = channels_reload_cfg,
};

SVC_MAIN(channels_def)
