/*
 * chan_configure.c - POST and DELETE /api/channels/{name}/configure:
 * a channel's [[sidecar_channels]] entry written to (or removed from)
 * config.toml (chan_file.c), then the channels reloaded as by POST
 * /api/channels/reload, here and in every replica.
 *
 * A secret never reaches the file: an env key that names one (*TOKEN*,
 * *SECRET*, *PASSWORD*, *KEY*) given a value is 400; it goes in
 * env_from instead, as the name of an environment variable of the
 * service's that holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "cfgsync.h"
#include "channels.h"
#include "log.h"
#include "ops.h"

#define ENTRY_MAX	(256 * 1024)

static const char *const chan_cfg_keys[] = {
	"command", "args", "channel_type", "agent", "agent_name", "env",
	"env_from", "dm_policy", "group_policy", "allowed_users", NULL
};

/* s as a TOML basic string, quotes included. */
static int
chan_toml_str(struct buf *b, const char *s)
{
	int	rv = buf_adds(b, "\"");

	for (; rv == 0 && *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			rv = buf_addf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			rv = buf_addf(b, "\\u%04x", (unsigned char)*s);
		else
			rv = buf_add(b, s, 1);
	}
	return (rv != 0 ? rv : buf_adds(b, "\""));
}

/* A value of the entry (a string, an array of strings or a table of
 * strings, as validated) as TOML. */
static int
chan_toml_val(struct buf *b, json_t *v)
{
	const char	*k;
	json_t		*x;
	size_t		 i;
	int		 rv = 0, first = 1;

	if (json_is_string(v))
		return (chan_toml_str(b, json_string_value(v)));
	if (json_is_array(v)) {
		rv = buf_adds(b, "[");
		json_array_foreach(v, i, x)
			if (rv == 0 && (rv = buf_adds(b, i > 0 ? ", " : "")) ==
			    0)
				rv = chan_toml_str(b, json_string_value(x));
		return (rv != 0 ? rv : buf_adds(b, "]"));
	}
	rv = buf_adds(b, "{ ");
	json_object_foreach(v, k, x) {
		if (rv == 0)
			rv = buf_adds(b, first ? "" : ", ");
		/* A variable's name is a bare key. */
		if (rv == 0)
			rv = chan_env_name_ok(k) ? buf_adds(b, k) :
			    chan_toml_str(b, k);
		if (rv == 0)
			rv = buf_adds(b, " = ");
		if (rv == 0)
			rv = chan_toml_str(b, json_string_value(x));
		first = 0;
	}
	return (rv != 0 ? rv : buf_adds(b, first ? "}" : " }"));
}

/* 1 if s looks like a URL we can use: a scheme we know and a host. */
static int
chan_url_ok(const char *s)
{
	static const char *const schemes[] = { "http://", "https://",
		"ws://", "wss://", NULL };
	size_t	i, n;

	for (i = 0; schemes[i] != NULL; i++) {
		n = strlen(schemes[i]);
		if (strncmp(s, schemes[i], n) == 0)
			return (s[n] != '\0' && s[n] != '/' && s[n] != ':' &&
			    strpbrk(s, " \t\r\n") == NULL);
	}
	return (0);
}

/* The catalogue's adapter of that name, or NULL. */
static const struct chan_catalog *
chan_catalogued(const char *name)
{
	const struct chan_catalog	*ct;

	for (ct = chan_catalog; ct->ct_name != NULL; ct++)
		if (strcmp(ct->ct_name, name) == 0)
			return (ct);
	return (NULL);
}

/* The configured channel of that name, or NULL. */
static const struct chan_conf *
chan_configured(const char *name)
{
	const struct chan_conf	*conf;
	size_t			 i, n;

	conf = chan_confs(&n);
	for (i = 0; i < n; i++)
		if (strcmp(conf[i].cc_name, name) == 0)
			return (&conf[i]);
	return (NULL);
}

/*
 * Checks the body and builds the entry (new, in *entry); 0, or -1 with
 * the 4xx in rp.
 */
static int
chan_cfg_entry(const char *name, json_t *body, struct svc_reply *rp,
    json_t **entry)
{
	const struct chan_catalog	*ct = chan_catalogued(name);
	const char			*k, *p, *e;
	json_t				*v, *x, *env, *from, *doc;
	struct chan_conf		*cc;
	struct buf			 miss = BUF_INIT(4096);
	char				 key[128], err[512];
	size_t				 i, n;
	int				 known;

	*entry = NULL;
	if (!json_is_object(body)) {
		svc_reply_error(rp, 400, "the body is not a JSON object");
		return (-1);
	}
	json_object_foreach(body, k, v) {
		for (known = 0, i = 0; chan_cfg_keys[i] != NULL; i++)
			known |= strcmp(k, chan_cfg_keys[i]) == 0;
		if (!known) {
			svc_reply_error(rp, 400, "unknown field '%s'", k);
			return (-1);
		}
	}
	env = json_object_get(body, "env");
	from = json_object_get(body, "env_from");
	if ((env != NULL && !json_is_object(env)) || (from != NULL &&
	    !json_is_object(from))) {
		svc_reply_error(rp, 400, "env and env_from must be objects");
		return (-1);
	}
	json_object_foreach(env, k, x) {
		if (!json_is_string(x) || !chan_env_name_ok(k)) {
			svc_reply_error(rp, 400, "env '%s' is not a string "
			    "under a variable's name", k);
			return (-1);
		}
		if (chan_secret_key(k)) {
			svc_reply_error(rp, 400, "env '%s' names a secret: "
			    "give it in env_from, as the name of an "
			    "environment variable that holds it", k);
			return (-1);
		}
		if (strstr(k, "URL") != NULL && !chan_url_ok(
		    json_string_value(x))) {
			svc_reply_error(rp, 400, "env '%s' is not a URL "
			    "(http, https, ws or wss, with a host)", k);
			return (-1);
		}
	}
	json_object_foreach(from, k, x) {
		if (!json_is_string(x) || !chan_env_name_ok(k) ||
		    !chan_env_name_ok(json_string_value(x))) {
			svc_reply_error(rp, 400, "env_from '%s' is not the name "
			    "of an environment variable", k);
			return (-1);
		}
	}
	/* The catalogue's required keys, in env or env_from. */
	for (p = ct != NULL ? ct->ct_required : ""; *p != '\0';
	    p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, ' ')) == NULL)
			e = p + strlen(p);
		if (e == p || (size_t)(e - p) >= sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(e - p), p);
		if (json_object_get(env, key) == NULL &&
		    json_object_get(from, key) == NULL)
			(void)buf_addf(&miss, "%s%s", miss.b_len > 0 ? ", " :
			    "", key);
	}
	if (miss.b_len > 0) {
		svc_reply_error(rp, 400, "missing required fields: %s",
		    miss.b_data);
		buf_release(&miss);
		return (-1);
	}
	buf_release(&miss);
	*entry = json_deep_copy(body);
	if (*entry == NULL) {
		svc_reply_error(rp, 503, "out of memory");
		return (-1);
	}
	/* Upstream's agent_name is our agent. */
	if ((v = json_object_get(*entry, "agent_name")) != NULL) {
		if (json_object_get(*entry, "agent") == NULL)
			json_object_set(*entry, "agent", v);
		json_object_del(*entry, "agent_name");
	}
	json_object_set_new(*entry, "name", json_string(name));
	if (json_object_get(*entry, "command") == NULL) {
		snprintf(key, sizeof(key), "channel-%s", name);
		json_object_set_new(*entry, "command", json_string(key));
	}
	/* Everything else is checked as at start. */
	doc = json_pack("{s:[O]}", "sidecar_channels", *entry);
	if (doc == NULL || chan_conf_load(doc, &cc, &n, err,
	    sizeof(err)) != 0) {
		json_decref(doc);
		json_decref(*entry);
		*entry = NULL;
		svc_reply_error(rp, 400, "%s", doc == NULL ? "out of memory" :
		    err);
		return (-1);
	}
	chan_conf_free_all(cc, n);
	json_decref(doc);
	return (0);
}

/* The entry as a [[sidecar_channels]] table, in a fixed key order. */
static char *
chan_cfg_text(json_t *entry)
{
	static const char *const order[] = { "name", "command", "args",
		"channel_type", "agent", "env", "env_from", "dm_policy",
		"group_policy", "allowed_users", NULL };
	struct buf	b = BUF_INIT(ENTRY_MAX);
	json_t		*v;
	size_t		i;
	int		rv;

	rv = buf_adds(&b, "[[sidecar_channels]]\n");
	for (i = 0; rv == 0 && order[i] != NULL; i++) {
		if ((v = json_object_get(entry, order[i])) == NULL)
			continue;
		if ((rv = buf_addf(&b, "%s = ", order[i])) == 0 &&
		    (rv = chan_toml_val(&b, v)) == 0)
			rv = buf_adds(&b, "\n");
	}
	if (rv != 0) {
		buf_release(&b);
		return (NULL);
	}
	return (buf_detach(&b));
}

/* Applies the edited file here and has the other replicas do so (a
 * config version, cfgsync.h). */
static void
chan_cfg_apply(struct svc_ctx *c, struct svc_reply *rp, const char *name,
    const char *status)
{
	struct svc_reply	 tell = { 0, NULL, NULL };
	json_t			*diff;
	char			 err[600], detail[300];

	if (chan_reload(err, sizeof(err), &diff) != 0) {
		/* Our own entry was checked: someone else's edit broke it. */
		log_warnx("channel '%s': configured, but the reload failed: "
		    "%s", name, err);
		svc_reply_error(rp, 409, "written, but config.toml does not "
		    "load: %s", err);
		return;
	}
	snprintf(detail, sizeof(detail), "channel '%s' %s", name, status);
	if (cfgsync_reload_file(c, &tell, detail, 0, NULL, NULL) != 0)
		log_warnx("channel '%s': the other replicas were not told: %s",
		    name, json_string_value(json_object_get(tell.sr_body,
		    "error")) != NULL ? json_string_value(json_object_get(
		    tell.sr_body, "error")) : "?");
	json_decref(tell.sr_body);
	svc_reply_json(rp, 200, json_pack("{s:s, s:s, s:o}", "status", status,
	    "channel", name, "reload", diff));
}

static void
op_configure(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name, *path = chan_config_path();
	json_t		*entry = NULL;
	char		*text = NULL, err[600];
	int		 found;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	if (!chan_conf_name_ok(name) || (chan_catalogued(name) == NULL &&
	    chan_configured(name) == NULL)) {
		svc_reply_not_found(rp, "Channel", name);
		return;
	}
	if (*path == '\0') {
		svc_reply_error(rp, 409, "the service was started without a "
		    "config file");
		return;
	}
	if (chan_cfg_entry(name, rq->mr_body, rp, &entry) != 0)
		return;
	if ((text = chan_cfg_text(entry)) == NULL)
		svc_reply_error(rp, 400, "the entry is too large");
	else if (chan_file_set(path, name, text, &found, err,
	    sizeof(err)) != 0) {
		log_warnx("channel '%s': could not write %s: %s", name, path,
		    err);
		svc_reply_error(rp, 503, "could not write config.toml");
	} else
		chan_cfg_apply(c, rp, name, "configured");
	free(text);
	json_decref(entry);
}

static void
op_unconfigure(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	const char	*name, *path = chan_config_path();
	char		 err[600];
	int		 found;

	if ((name = svc_param_name(rq, rp)) == NULL)
		return;
	if (*path == '\0' || chan_configured(name) == NULL) {
		svc_reply_not_found(rp, "Channel configuration", name);
		return;
	}
	if (chan_file_set(path, name, NULL, &found, err, sizeof(err)) != 0) {
		log_warnx("channel '%s': could not write %s: %s", name, path,
		    err);
		svc_reply_error(rp, 503, "could not write config.toml");
		return;
	}
	if (!found) {
		svc_reply_not_found(rp, "Channel configuration", name);
		return;
	}
	chan_cfg_apply(c, rp, name, "removed");
}

const struct svc_op chan_configure_ops[] = {
	{ OP_CHANNELS_CONFIGURE,	op_configure },
	{ OP_CHANNELS_UNCONFIGURE,	op_unconfigure },
	{ NULL, NULL },
};
