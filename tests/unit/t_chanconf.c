/*
 * t_chanconf.c - the channels service's policies (chan_conf.c's
 * chan_policy_drop()) and its config.toml editing (chan_file.c's
 * chan_file_set()): the rest of the file kept byte for byte, an entry
 * replaced in place with its sub-tables, appended, removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "channels.h"
#include "tap.h"
#include "toml.h"
#include "util.h"

static char	dir[] = "/tmp/t_chanconf.XXXXXX";
static char	path[64];

/* The one entry of toml text, loaded (the caller frees it). */
static struct chan_conf *
conf_of(const char *text)
{
	struct chan_conf	*cc = NULL;
	struct toml_err		 te;
	json_t			*doc;
	size_t			 n;
	char			 err[256];

	if ((doc = toml_parse(text, strlen(text), 0, &te)) == NULL)
		return (NULL);
	if (chan_conf_load(doc, &cc, &n, err, sizeof(err)) != 0 || n != 1)
		printf("# %s\n", err);
	json_decref(doc);
	return (cc);
}

static int
t_policy(void)
{
	struct chan_conf	*cc;

	cc = conf_of("[[sidecar_channels]]\nname = \"a\"\ncommand = \"x\"\n"
	    "dm_policy = \"allowed_only\"\nallowed_users = [\"u1\", "
	    "\"Carol\"]\ngroup_policy = \"mention-only\"\n");
	T_OK(cc != NULL);
	T_OK(chan_policy_drop(cc, 0, "u1", "Alice", 0, 0) == NULL);
	T_OK(chan_policy_drop(cc, 0, "u9", "Carol", 0, 0) == NULL);
	T_OK(chan_policy_drop(cc, 0, "u2", "Bob", 0, 0) != NULL);
	T_OK(chan_policy_drop(cc, 1, "u2", "Bob", 1, 0) == NULL);
	T_OK(chan_policy_drop(cc, 1, "u1", "Alice", 0, 1) != NULL);
	chan_conf_free_all(cc, 1);
	cc = conf_of("[[sidecar_channels]]\nname = \"a\"\ncommand = \"x\"\n"
	    "dm_policy = \"ignore\"\ngroup_policy = \"commands_only\"\n");
	T_OK(cc != NULL);
	T_OK(chan_policy_drop(cc, 0, "u1", "Alice", 1, 1) != NULL);
	T_OK(chan_policy_drop(cc, 1, "u1", "Alice", 0, 1) == NULL);
	T_OK(chan_policy_drop(cc, 1, "u1", "Alice", 1, 0) != NULL);
	chan_conf_free_all(cc, 1);
	/* The defaults: everything passes. */
	cc = conf_of("[[sidecar_channels]]\nname = \"a\"\ncommand = \"x\"\n");
	T_OK(cc != NULL);
	T_OK(chan_policy_drop(cc, 0, "u", "n", 0, 0) == NULL);
	T_OK(chan_policy_drop(cc, 1, "u", "n", 0, 0) == NULL);
	chan_conf_free_all(cc, 1);
	return (0);
}

/* path's text (static), or "" when it cannot be read. */
static const char *
file(void)
{
	static char	*text;
	size_t		 len;

	free(text);
	text = util_read_file(path, 1 << 20, &len);
	return (text != NULL ? text : "");
}

static int
put(const char *text)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		return (-1);
	fputs(text, f);
	return (fclose(f));
}

static int
t_file(void)
{
	static const char head[] = "# notes\nlog_level = \"info\"\n\n";
	static const char a[] = "[[sidecar_channels]]\nname = \"a\"\n"
	    "command = \"x\"\n[sidecar_channels.env]\nK = \"v\"\n\n";
	static const char b[] = "[[sidecar_channels]] # b\nname = \"b\"\n"
	    "command = \"y\"\n";
	static const char tail[] = "\n[other]\nz = 1 # kept\n";
	char	 want[1024], err[256];
	int	 found;

	/* No file yet: created with the entry alone. */
	T_EQ_INT(chan_file_set(path, "a", "E\n", &found, err, sizeof(err)),
	    0);
	T_EQ_INT(found, 0);
	T_EQ_STR(file(), "E\n");
	/* a (with a sub-table) replaced in place; the rest kept. */
	snprintf(want, sizeof(want), "%s%s%s%s", head, a, b, tail);
	T_OK(put(want) == 0);
	T_EQ_INT(chan_file_set(path, "a", "NEW\n", &found, err, sizeof(err)),
	    0);
	T_EQ_INT(found, 1);
	snprintf(want, sizeof(want), "%sNEW\n\n%s%s", head, b, tail);
	T_EQ_STR(file(), want);
	/* b removed; the blank line after it is left to the next table. */
	T_EQ_INT(chan_file_set(path, "b", NULL, &found, err, sizeof(err)), 0);
	T_EQ_INT(found, 1);
	snprintf(want, sizeof(want), "%sNEW\n\n%s", head, tail);
	T_EQ_STR(file(), want);
	/* One that is not there: appended after a blank line; removing one
	 * that is not there changes nothing. */
	T_OK(put("x = 1") == 0);
	T_EQ_INT(chan_file_set(path, "c", "C\n", &found, err, sizeof(err)),
	    0);
	T_EQ_INT(found, 0);
	T_EQ_STR(file(), "x = 1\n\nC\n");
	T_EQ_INT(chan_file_set(path, "zz", NULL, &found, err, sizeof(err)),
	    0);
	T_EQ_INT(found, 0);
	T_EQ_STR(file(), "x = 1\n\nC\n");
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "dm_policy and group_policy", t_policy },
		{ "config.toml entries edited in place", t_file },
		{ NULL, NULL },
	};
	int	rv;

	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(path, sizeof(path), "%s/config.toml", dir);
	rv = tap_main(cases);
	(void)unlink(path);
	(void)rmdir(dir);
	return (rv);
}
