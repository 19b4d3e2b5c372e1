/*
 * chan_conf.c - [[sidecar_channels]] entries of config.toml, with
 * upstream's keys and defaults (protocols.md §1.3, "Config").
 *
 * Routing and policy keys upstream knows (available_agents,
 * command_policy, dm_policy, ...) are accepted and not used yet; a key
 * nobody knows is an error, as a typo in a supervision bound would
 * otherwise pass unseen.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels.h"

/* Keys upstream defines that this service does not act on yet. */
static const char *const chan_conf_later[] = {
	"available_agents", "default_conversation", "command_policy",
	"allowed_commands", "blocked_commands", "message_coalesce_window_ms",
	"dm_policy", "group_policy", "threading", "output_format",
	"message_buffer", "overflow", NULL
};

static const struct {
	const char	*key;
	size_t		 off;
	long long	 def, min, max;
} chan_conf_nums[] = {
	{ "ready_timeout_secs", offsetof(struct chan_conf,
	    cc_ready_timeout_secs), 30, 1, 3600 },
	{ "shutdown_grace_secs", offsetof(struct chan_conf,
	    cc_shutdown_grace_secs), 5, 0, 600 },
	{ "restart_initial_backoff_ms", offsetof(struct chan_conf,
	    cc_backoff_initial_ms), 500, 1, 3600000 },
	{ "restart_max_backoff_ms", offsetof(struct chan_conf,
	    cc_backoff_max_ms), 30000, 1, 3600000 },
	{ "restart_max_retries", offsetof(struct chan_conf, cc_max_retries),
	    10, 0, 1000000 },
	{ "restart_reset_after_secs", offsetof(struct chan_conf,
	    cc_reset_after_secs), 60, 1, 86400 },
	{ "heartbeat_timeout_secs", offsetof(struct chan_conf,
	    cc_heartbeat_secs), 0, 0, 3600 },
};

#define NNUMS	(sizeof(chan_conf_nums) / sizeof(chan_conf_nums[0]))

static int
chan_conf_name_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= CHAN_NAME_MAX - 1 || !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return (0);
	return (i > 0);
}

static void
chan_conf_release(struct chan_conf *cc)
{
	size_t	i;

	free(cc->cc_command);
	for (i = 0; cc->cc_argv != NULL && cc->cc_argv[i] != NULL; i++)
		free(cc->cc_argv[i]);
	free(cc->cc_argv);
	json_decref(cc->cc_env);
	free(cc->cc_channel_type);
	free(cc->cc_agent);
	memset(cc, 0, sizeof(*cc));
}

void
chan_conf_free_all(struct chan_conf *cc, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		chan_conf_release(&cc[i]);
	free(cc);
}

/* One entry t into cc; -1 with why in err. */
static int
chan_conf_one(json_t *t, struct chan_conf *cc, char *err, size_t errlen)
{
	const char	*k, *name, *s;
	json_t		*v, *args;
	size_t		 i, j, nargs;
	long long	*num;
	int		 known;

	if (!json_is_object(t)) {
		snprintf(err, errlen, "an entry is not a table");
		return (-1);
	}
	name = json_string_value(json_object_get(t, "name"));
	if (name == NULL || !chan_conf_name_ok(name)) {
		snprintf(err, errlen, "an entry has no valid 'name' (1 to %d "
		    "of A-Z a-z 0-9 - _ .)", CHAN_NAME_MAX - 1);
		return (-1);
	}
	snprintf(cc->cc_name, sizeof(cc->cc_name), "%s", name);
	json_object_foreach(t, k, v) {
		known = 0;
		for (i = 0; chan_conf_later[i] != NULL; i++)
			known |= strcmp(k, chan_conf_later[i]) == 0;
		for (i = 0; i < NNUMS; i++)
			known |= strcmp(k, chan_conf_nums[i].key) == 0;
		if (!known && strcmp(k, "name") != 0 &&
		    strcmp(k, "command") != 0 && strcmp(k, "args") != 0 &&
		    strcmp(k, "env") != 0 && strcmp(k, "channel_type") != 0 &&
		    strcmp(k, "agent") != 0 && strcmp(k, "restart") != 0) {
			snprintf(err, errlen, "'%s': unknown key '%s'", name, k);
			return (-1);
		}
	}
	if ((s = json_string_value(json_object_get(t, "command"))) == NULL ||
	    *s == '\0') {
		snprintf(err, errlen, "'%s': 'command' is required", name);
		return (-1);
	}
	args = json_object_get(t, "args");
	if (args != NULL && !json_is_array(args)) {
		snprintf(err, errlen, "'%s': 'args' is not an array", name);
		return (-1);
	}
	nargs = json_array_size(args);
	if ((cc->cc_command = strdup(s)) == NULL ||
	    (cc->cc_argv = calloc(nargs + 2, sizeof(char *))) == NULL ||
	    (cc->cc_argv[0] = strdup(s)) == NULL)
		goto enomem;
	for (j = 0; j < nargs; j++) {
		if ((s = json_string_value(json_array_get(args, j))) == NULL) {
			snprintf(err, errlen, "'%s': 'args' holds a non-string",
			    name);
			return (-1);
		}
		if ((cc->cc_argv[j + 1] = strdup(s)) == NULL)
			goto enomem;
	}
	v = json_object_get(t, "env");
	if (v != NULL && !json_is_object(v)) {
		snprintf(err, errlen, "'%s': 'env' is not a table", name);
		return (-1);
	}
	json_object_foreach(v, k, args) {
		if (!json_is_string(args) || *k == '\0' || strchr(k, '=')) {
			snprintf(err, errlen, "'%s': env '%s' is not a string "
			    "under a valid name", name, k);
			return (-1);
		}
	}
	if ((cc->cc_env = v != NULL ? json_deep_copy(v) : json_object()) ==
	    NULL)
		goto enomem;
	s = json_string_value(json_object_get(t, "channel_type"));
	if (json_object_get(t, "channel_type") != NULL && s == NULL) {
		snprintf(err, errlen, "'%s': 'channel_type' is not a string",
		    name);
		return (-1);
	}
	/* Upstream's default is custom(name). */
	if ((cc->cc_channel_type = strdup(s != NULL ? s : name)) == NULL)
		goto enomem;
	s = json_string_value(json_object_get(t, "agent"));
	if (json_object_get(t, "agent") != NULL && (s == NULL || *s == '\0')) {
		snprintf(err, errlen, "'%s': 'agent' is not a name", name);
		return (-1);
	}
	if (s != NULL && (cc->cc_agent = strdup(s)) == NULL)
		goto enomem;
	v = json_object_get(t, "restart");
	if (v != NULL && !json_is_boolean(v)) {
		snprintf(err, errlen, "'%s': 'restart' is not a boolean", name);
		return (-1);
	}
	cc->cc_restart = v == NULL || json_is_true(v);
	for (i = 0; i < NNUMS; i++) {
		num = (long long *)(void *)((char *)cc + chan_conf_nums[i].off);
		*num = chan_conf_nums[i].def;
		if ((v = json_object_get(t, chan_conf_nums[i].key)) == NULL)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) <
		    chan_conf_nums[i].min || json_integer_value(v) >
		    chan_conf_nums[i].max) {
			snprintf(err, errlen, "'%s': '%s' is not an integer "
			    "in %lld..%lld", name, chan_conf_nums[i].key,
			    chan_conf_nums[i].min, chan_conf_nums[i].max);
			return (-1);
		}
		*num = json_integer_value(v);
	}
	return (0);
 enomem:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

int
chan_conf_load(json_t *doc, struct chan_conf **out, size_t *n, char *err,
    size_t errlen)
{
	struct chan_conf	*cc = NULL;
	json_t			*arr = json_object_get(doc, "sidecar_channels");
	size_t			 i, j, len;
	int			 rv = -1;

	*out = NULL;
	*n = 0;
	if (arr != NULL && !json_is_array(arr)) {
		snprintf(err, errlen, "'sidecar_channels' is not an array of "
		    "tables ([[sidecar_channels]])");
		return (-1);
	}
	len = json_array_size(arr);
	if (len == 0)
		return (0);
	if ((cc = calloc(len, sizeof(*cc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < len; i++) {
		if (chan_conf_one(json_array_get(arr, i), &cc[i], err,
		    errlen) != 0)
			goto done;
		for (j = 0; j < i; j++)
			if (strcmp(cc[j].cc_name, cc[i].cc_name) == 0) {
				snprintf(err, errlen, "two channels are named "
				    "'%s'", cc[i].cc_name);
				goto done;
			}
	}
	*out = cc;
	*n = len;
	cc = NULL;
	rv = 0;
 done:
	/* Entries past the failed one are zeroed: releasing them is a
	 * no-op. */
	if (cc != NULL)
		chan_conf_free_all(cc, len);
	return (rv);
}
