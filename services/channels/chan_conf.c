/*
 * chan_conf.c - [[sidecar_channels]] entries of config.toml, with
 * upstream's keys and defaults (protocols.md §1.3, "Config").
 *
 * dm_policy and group_policy decide which messages get a turn
 * (chan_policy_drop(), asked by the router); the other routing and
 * policy keys upstream knows (available_agents, command_policy, ...) are
 * accepted and not used yet.  A key nobody knows is an error, as a typo
 * in a supervision bound would otherwise pass unseen.
 */
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels.h"
#include "child.h"
#include "util.h"

/* Keys upstream defines that this service does not act on yet. */
static const char *const chan_conf_later[] = {
	"available_agents", "default_conversation", "command_policy",
	"allowed_commands", "blocked_commands", "message_coalesce_window_ms",
	"threading", "output_format", "message_buffer", "overflow", NULL
};

/* Upstream's values, in the order of the enums. */
static const char *const chan_dm_values[] = {
	"respond", "allowed_only", "ignore", NULL
};
static const char *const chan_group_values[] = {
	"all", "mention_only", "commands_only", "ignore", NULL
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

int
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

int
chan_env_name_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || s[i] == '_' || (i > 0 && s[i] >= '0' &&
		    s[i] <= '9')) || i >= 127)
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
	json_decref(cc->cc_allowed_users);
	json_decref(cc->cc_src);
	json_decref(cc->cc_env_from);
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

/*
 * The index in values of t's key (a string; '-' taken for '_', as in
 * "mention-only"), def when t has no such key, -1 with why in err.
 */
static int
chan_conf_enum(json_t *t, const char *name, const char *key,
    const char *const *values, int def, char *err, size_t errlen)
{
	json_t		*v = json_object_get(t, key);
	const char	*s = json_string_value(v);
	char		 word[32];
	size_t		 i;
	int		 j;

	if (v == NULL)
		return (def);
	for (i = 0; s != NULL && s[i] != '\0' && i < sizeof(word) - 1; i++)
		word[i] = s[i] == '-' ? '_' : s[i];
	word[i] = '\0';
	for (j = 0; s != NULL && s[i] == '\0' && values[j] != NULL; j++)
		if (strcmp(word, values[j]) == 0)
			return (j);
	snprintf(err, errlen, "'%s': '%s' is not one of", name, key);
	for (j = 0; values[j] != NULL; j++) {
		i = strlen(err);
		snprintf(err + i, errlen - i, "%s %s", j > 0 ? "," : "",
		    values[j]);
	}
	return (-1);
}

/* One entry t into cc; -1 with why in err. */
static int
chan_conf_one(json_t *t, struct chan_conf *cc, char *err, size_t errlen)
{
	const char	*k, *name, *s;
	json_t		*v, *args;
	size_t		 i, j, nargs;
	long long	*num;
	int		 known, e;

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
	if ((cc->cc_src = json_deep_copy(t)) == NULL)
		goto enomem;
	json_object_foreach(t, k, v) {
		known = 0;
		for (i = 0; chan_conf_later[i] != NULL; i++)
			known |= strcmp(k, chan_conf_later[i]) == 0;
		for (i = 0; i < NNUMS; i++)
			known |= strcmp(k, chan_conf_nums[i].key) == 0;
		if (!known && strcmp(k, "name") != 0 &&
		    strcmp(k, "command") != 0 && strcmp(k, "args") != 0 &&
		    strcmp(k, "env") != 0 && strcmp(k, "channel_type") != 0 &&
		    strcmp(k, "agent") != 0 && strcmp(k, "restart") != 0 &&
		    strcmp(k, "dm_policy") != 0 &&
		    strcmp(k, "group_policy") != 0 &&
		    strcmp(k, "allowed_users") != 0 &&
		    strcmp(k, "env_from") != 0) {
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
	/* Ours: a child variable taken from one of ours, by name, so that a
	 * secret is named in the file and never written there. */
	v = json_object_get(t, "env_from");
	if (v != NULL && !json_is_object(v)) {
		snprintf(err, errlen, "'%s': 'env_from' is not a table", name);
		return (-1);
	}
	json_object_foreach(v, k, args) {
		if (!json_is_string(args) || *k == '\0' || strchr(k, '=') ||
		    !chan_env_name_ok(json_string_value(args))) {
			snprintf(err, errlen, "'%s': env_from '%s' is not the "
			    "name of an environment variable", name, k);
			return (-1);
		}
	}
	if ((cc->cc_env_from = v != NULL ? json_deep_copy(v) :
	    json_object()) == NULL)
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
	if ((e = chan_conf_enum(t, name, "dm_policy", chan_dm_values,
	    CHAN_DM_RESPOND, err, errlen)) < 0)
		return (-1);
	cc->cc_dm_policy = (enum chan_dm_policy)e;
	/* all, not upstream's mention_only: an adapter that reports no
	 * was_mentioned (most) would otherwise silence every group. */
	if ((e = chan_conf_enum(t, name, "group_policy", chan_group_values,
	    CHAN_GROUP_ALL, err, errlen)) < 0)
		return (-1);
	cc->cc_group_policy = (enum chan_group_policy)e;
	v = json_object_get(t, "allowed_users");
	if (v != NULL && !json_is_array(v)) {
		snprintf(err, errlen, "'%s': 'allowed_users' is not an array",
		    name);
		return (-1);
	}
	json_array_foreach(v, i, args) {
		if (json_string_value(args) == NULL ||
		    *json_string_value(args) == '\0') {
			snprintf(err, errlen, "'%s': 'allowed_users' holds "
			    "something that is no user", name);
			return (-1);
		}
	}
	if (cc->cc_dm_policy == CHAN_DM_ALLOWED_ONLY && json_array_size(v) ==
	    0) {
		snprintf(err, errlen, "'%s': dm_policy 'allowed_only' needs "
		    "'allowed_users'", name);
		return (-1);
	}
	if ((cc->cc_allowed_users = v != NULL ? json_deep_copy(v) :
	    json_array()) == NULL)
		goto enomem;
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

const char *
chan_policy_drop(const struct chan_conf *cc, int is_group,
    const char *user_id, const char *user_name, int mentioned, int command)
{
	json_t	*u;
	size_t	 i;

	if (is_group) {
		switch (cc->cc_group_policy) {
		case CHAN_GROUP_ALL:
			return (NULL);
		case CHAN_GROUP_MENTION_ONLY:
			return (mentioned ? NULL : "group_policy mention_only: "
			    "the message does not mention the bot");
		case CHAN_GROUP_COMMANDS_ONLY:
			return (command ? NULL : "group_policy commands_only: "
			    "the message is no command");
		case CHAN_GROUP_IGNORE:
			break;
		}
		return ("group_policy ignore");
	}
	switch (cc->cc_dm_policy) {
	case CHAN_DM_RESPOND:
		return (NULL);
	case CHAN_DM_ALLOWED_ONLY:
		/* The platform's id, or the name the adapter gave. */
		json_array_foreach(cc->cc_allowed_users, i, u)
			if (strcmp(json_string_value(u), user_id) == 0 ||
			    strcmp(json_string_value(u), user_name) == 0)
				return (NULL);
		return ("dm_policy allowed_only: the sender is not in "
		    "allowed_users");
	case CHAN_DM_IGNORE:
		break;
	}
	return ("dm_policy ignore");
}

/*
 * $LIBREFANG_HOME/secrets.env (protocols.md 1.3, "Child environment"):
 * KEY=VALUE lines ("export " before, '#' comments and blank lines
 * skipped, a value in matching single or double quotes taken inside
 * them).  A key without "__" goes to every channel; NAME__KEY only to
 * the channel whose name, upper case with anything not alphanumeric as
 * '_', is NAME, as KEY; other channels' keys are withheld.  Read at each
 * start of an adapter, so an edited file applies at its next start.
 * 0 (no file is none), or -1 out of memory.
 */
#define CHAN_SECRETS_MAX	(256 * 1024)

static int
chan_conf_secrets(const struct chan_conf *cc, const char *home,
    struct child_env *e)
{
	char	 path[PATH_MAX], inst[CHAN_NAME_MAX + 3], *text, *line, *save;
	char	*eq, *k, *v, *end;
	size_t	 len, i;
	int	 rv = 0;

	if (home == NULL || home[0] == '\0' || snprintf(path, sizeof(path),
	    "%s/secrets.env", home) >= (int)sizeof(path) ||
	    (text = util_read_file(path, CHAN_SECRETS_MAX, &len)) == NULL)
		return (0);
	for (i = 0; cc->cc_name[i] != '\0' && i < CHAN_NAME_MAX; i++)
		inst[i] = isalnum((unsigned char)cc->cc_name[i]) ?
		    (char)toupper((unsigned char)cc->cc_name[i]) : '_';
	inst[i++] = '_';
	inst[i++] = '_';
	inst[i] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL && rv == 0;
	    line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		if (strncmp(line, "export ", 7) == 0)
			line += 7 + strspn(line + 7, " \t");
		if (*line == '#' || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		k = line;
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t');)
			*--end = '\0';
		v = eq + 1;
		v += strspn(v, " \t");
		end = v + strlen(v);
		while (end > v && strchr(" \t\r", end[-1]) != NULL)
			*--end = '\0';
		if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
			end[-1] = '\0';
			v++;
		}
		if (*k == '\0' || strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(k))
			continue;
		if (strstr(k, "__") == NULL)
			rv = child_env_add(e, k, v);
		else if (strncmp(k, inst, strlen(inst)) == 0 &&
		    k[strlen(inst)] != '\0')
			rv = child_env_add(e, k + strlen(inst), v);
	}
	explicit_bzero(text, len);
	free(text);
	return (rv);
}

/* A few variables of ours that programs need, then home's secrets.env,
 * then the channel's env_from and env tables, a later one winning.
 * Never the rest of ours: it holds the database URL and the provider
 * keys. */
int
chan_conf_env(const struct chan_conf *cc, const char *home,
    struct child_env *e)
{
	static const char *const pass[] = { "PATH", "HOME", "LANG",
		"LC_ALL", "TZ", "TMPDIR", NULL };
	const char	*k, *v;
	json_t		*jv;
	size_t		 i;

	child_env_init(e, CHILD_ENV_MAX);
	for (i = 0; pass[i] != NULL; i++)
		if ((v = getenv(pass[i])) != NULL &&
		    child_env_add(e, pass[i], v) != 0)
			return (-1);
	if (chan_conf_secrets(cc, home, e) != 0)
		return (-1);
	json_object_foreach(cc->cc_env_from, k, jv)
		if ((v = getenv(json_string_value(jv))) != NULL &&
		    child_env_add(e, k, v) != 0)
			return (-1);
	json_object_foreach(cc->cc_env, k, jv)
		if (child_env_add(e, k, json_string_value(jv)) != 0)
			return (-1);
	return (0);
}
