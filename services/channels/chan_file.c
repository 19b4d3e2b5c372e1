/*
 * chan_file.c - edits config.toml's [[sidecar_channels]] entries for
 * POST and DELETE /api/channels/{name}/configure (one key of any table is
 * set by libshared/toml_edit.c for /api/config/set).
 *
 * The file is edited as text, so everything else in it (comments, other
 * tables, their order and spelling) is kept byte for byte: an entry is
 * its [[sidecar_channels]] header up to the next header that is not one
 * of its own sub-tables ([sidecar_channels.env]), less the blank and
 * comment lines at its end; each is parsed alone to learn its name.  The
 * new text replaces the file atomically (util_write_atomic(), which
 * /api/config/set uses too): a reader sees the old file or the new,
 * never half of one.  One edit at a time
 * (a mutex): two configures must not both start from the old text.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "cfgsync.h"
#include "channels.h"
#include "toml.h"
#include "util.h"

#define CHAN_FILE_MAX	(4 * 1024 * 1024)

/* 1 if the line at p (up to e) is a table header, *own set when it is
 * [[sidecar_channels]] itself, *sub when one of its sub-tables. */
static int
chan_file_header(const char *p, const char *e, int *own, int *sub)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	*own = *sub = 0;
	if (p >= e || *p != '[')
		return (0);
	*own = (size_t)(e - p) >= 20 && strncmp(p, "[[sidecar_channels]]",
	    20) == 0;
	*sub = !*own && ((size_t)(e - p) > 18 && (strncmp(p,
	    "[sidecar_channels.", 18) == 0 || strncmp(p,
	    "[[sidecar_channels.", 19) == 0));
	return (1);
}

/* Where the entry start..end ends once the blank and comment lines at
 * its end are left to what follows (a comment there is most often about
 * the next table). */
static const char *
chan_file_trim(const char *start, const char *end)
{
	const char	*p = start, *q, *last = NULL, *c;

	while (p < end) {
		if ((q = memchr(p, '\n', (size_t)(end - p))) == NULL)
			q = end;
		for (c = p; c < q && (*c == ' ' || *c == '\t' ||
		    *c == '\r'); c++)
			;
		if (c < q && *c != '#')
			last = q < end ? q + 1 : end;
		p = q < end ? q + 1 : end;
	}
	return (last != NULL ? last : end);
}

/* The name of the entry text[0..len), or "" when it has none. */
static void
chan_file_name(const char *text, size_t len, char *name, size_t namelen)
{
	struct toml_err	 te;
	json_t		*doc;
	const char	*s;

	name[0] = '\0';
	if ((doc = toml_parse(text, len, 0, &te)) == NULL)
		return;
	s = json_string_value(json_object_get(json_array_get(
	    json_object_get(doc, "sidecar_channels"), 0), "name"));
	if (s != NULL)
		snprintf(name, namelen, "%s", s);
	json_decref(doc);
}

int
chan_file_set(const char *path, const char *name, const char *entry,
    int *found, char *err, size_t errlen)
{
	struct buf	 out;
	char		*text, ename[CHAN_NAME_MAX];
	const char	*p, *e, *start, *end, *q, *qe;
	size_t		 len;
	int		 own, sub, rv = -1;

	*found = 0;
	buf_init(&out, 2 * CHAN_FILE_MAX);
	cfg_file_lock(path);	/* /api/config/set edits it too */
	if ((text = util_read_file(path, CHAN_FILE_MAX, &len)) == NULL &&
	    errno != ENOENT) {
		snprintf(err, errlen, "could not read %s", path);
		goto done;
	}
	p = text != NULL ? text : "";
	e = p + (text != NULL ? len : 0);
	while (p < e) {
		start = p;
		if ((q = memchr(p, '\n', (size_t)(e - p))) == NULL)
			q = e;
		if (!chan_file_header(p, q, &own, &sub) || !own) {
			/* Not an entry: kept as it is. */
			p = q < e ? q + 1 : e;
			if (buf_add(&out, start, (size_t)(p - start)) != 0)
				goto enomem;
			continue;
		}
		/* An entry: up to the next header not its own sub-table. */
		end = q < e ? q + 1 : e;
		while (end < e) {
			if ((qe = memchr(end, '\n', (size_t)(e - end))) == NULL)
				qe = e;
			if (chan_file_header(end, qe, &own, &sub) && !sub)
				break;
			end = qe < e ? qe + 1 : e;
		}
		end = chan_file_trim(start, end);
		chan_file_name(start, (size_t)(end - start), ename,
		    sizeof(ename));
		if (strcmp(ename, name) == 0) {
			*found = 1;
			if (entry != NULL && buf_adds(&out, entry) != 0)
				goto enomem;
			entry = NULL;	/* in its old place */
		} else if (buf_add(&out, start, (size_t)(end - start)) != 0)
			goto enomem;
		p = end;
	}
	if (entry != NULL) {
		if ((out.b_len > 0 && out.b_data[out.b_len - 1] != '\n' &&
		    buf_adds(&out, "\n") != 0) || (out.b_len > 0 &&
		    buf_adds(&out, "\n") != 0) || buf_adds(&out, entry) != 0)
			goto enomem;
	}
	rv = util_write_atomic(path, out.b_len > 0 ? out.b_data : "",
	    out.b_len, err, errlen);
	goto done;
 enomem:
	snprintf(err, errlen, "out of memory");
 done:
	cfg_file_unlock();
	free(text);
	buf_release(&out);
	return (rv);
}
