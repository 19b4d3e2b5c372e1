/*
 * turn/repair.c - history repair (notes/agent-core.md 4.8), pure: no
 * I/O, no globals, so tests/unit/t_session.c drives it directly.
 *
 * The repair rebuilds the history instead of patching it in place: it
 * first collects every tool_use (first occurrence of each id) and every
 * tool_result (first occurrence of each id, wherever it sits), then walks
 * the messages and emits, right after each assistant message that calls
 * tools, one user message holding exactly one result per call, in call
 * order: the one found, or a synthetic error.  Results elsewhere are
 * dropped from where they were (moved, orphaned or duplicate).  Then
 * blank messages go, same-role neighbours merge, results are sanitised,
 * and a history that would start with an assistant loses that message
 * (and the whole rebuild runs again, since its results became orphans).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "turn/session.h"

#define REPAIR_SYNTHETIC	"[tool call interrupted: no result was " \
				"recorded]"
#define REPAIR_FILTERED		"[filtered]"

static const char *const repair_markers[] = {
	"<|im_start|>", "<|im_end|>", "[SYSTEM]", "<<SYS>>",
	"ignore previous instructions", "ignore all previous instructions",
	NULL
};

static const char *
blk_type(json_t *b)
{
	return (json_string_value(json_object_get(b, "type")));
}

static int
blk_is(json_t *b, const char *type)
{
	const char	*t = blk_type(b);

	return (t != NULL && strcmp(t, type) == 0);
}

static int
str_blank(const char *s)
{
	if (s == NULL)
		return (1);
	for (; *s != '\0'; s++)
		if (!isspace((unsigned char)*s))
			return (0);
	return (1);
}

/* A block that carries nothing: a blank text block or no type at all. */
static int
blk_blank(json_t *b)
{
	if (!json_is_object(b) || blk_type(b) == NULL)
		return (1);
	if (blk_is(b, "text"))
		return (str_blank(json_string_value(json_object_get(b,
		    "text"))));
	return (0);
}

static int
msg_blank(json_t *m)
{
	json_t	*c = json_object_get(m, "content"), *b;
	size_t	 i;

	if (json_is_string(c))
		return (str_blank(json_string_value(c)));
	if (!json_is_array(c))
		return (1);
	json_array_foreach(c, i, b)
		if (!blk_blank(b))
			return (0);
	return (1);
}

static const char *
msg_role(json_t *m)
{
	const char	*r = json_string_value(json_object_get(m, "role"));

	if (r == NULL)
		return ("");
	return (r);
}

char *
session_content_text(json_t *content)
{
	struct buf	 b = BUF_INIT(64 * 1024 * 1024);
	json_t		*blk;
	const char	*s;
	size_t		 i;
	int		 n = 0;

	if (json_is_string(content))
		return (strdup(json_string_value(content)));
	json_array_foreach(content, i, blk) {
		if (!blk_is(blk, "text") ||
		    (s = json_string_value(json_object_get(blk, "text"))) ==
		    NULL)
			continue;
		if ((n++ > 0 && buf_adds(&b, "\n") != 0) ||
		    buf_adds(&b, s) != 0)
			return (NULL);
	}
	return (buf_detach(&b));
}

/* A new message {role, content, ...} copying m's other keys. */
static json_t *
msg_with(json_t *m, json_t *content)
{
	json_t	*o = json_copy(m);

	if (o == NULL || json_object_set_new(o, "content", content) != 0) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

static json_t *
synthetic_result(const char *id, const char *name)
{
	return (json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "type",
	    "tool_result", "tool_use_id", id, "tool_name", name ? name : "",
	    "content", REPAIR_SYNTHETIC, "is_error", 1, "status", "error"));
}

/* Replaces every marker in s (case-insensitive); new or NULL (ENOMEM). */
static char *
defuse(const char *s, int *changed)
{
	struct buf	 b = BUF_INIT(SIZE_MAX / 2);
	const char	*p = s, *hit, *best;
	size_t		 i, blen = 0;

	*changed = 0;
	for (;;) {
		best = NULL;
		for (i = 0; repair_markers[i] != NULL; i++) {
			hit = strcasestr(p, repair_markers[i]);
			if (hit != NULL && (best == NULL || hit < best)) {
				best = hit;
				blen = strlen(repair_markers[i]);
			}
		}
		if (best == NULL)
			break;
		*changed = 1;
		if (buf_add(&b, p, (size_t)(best - p)) != 0 ||
		    buf_adds(&b, REPAIR_FILTERED) != 0)
			return (NULL);
		p = best + blen;
	}
	if (buf_adds(&b, p) != 0)
		return (NULL);
	return (buf_detach(&b));
}

/* Rule 8 on one result block (in place). */
static int
sanitize_result(json_t *r, struct repair_stats *st)
{
	json_t	*c = json_object_get(r, "content");
	char	*text, *clean;
	size_t	 len;
	int	 changed, cut = 0;

	if (json_is_string(c))
		text = strdup(json_string_value(c));
	else if (json_is_array(c))
		text = session_content_text(c);
	else if (c == NULL || json_is_null(c))
		text = strdup("");
	else
		text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text == NULL)
		return (-1);
	if (!json_is_string(c))
		cut = 1;
	len = strlen(text);
	if (len > REPAIR_RESULT_MAX) {
		len = REPAIR_RESULT_MAX;
		/* Cut on a UTF-8 character boundary. */
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
		text[len] = '\0';
		cut = 1;
	}
	if ((clean = defuse(text, &changed)) == NULL) {
		free(text);
		return (-1);
	}
	free(text);
	if (changed || cut)
		st->rs_sanitized++;
	json_object_set_new(r, "content", json_string(clean));
	free(clean);
	if (!json_is_boolean(json_object_get(r, "is_error")))
		json_object_set_new(r, "is_error", json_false());
	if (!json_is_string(json_object_get(r, "tool_name")))
		json_object_set_new(r, "tool_name", json_string(""));
	if (!json_is_string(json_object_get(r, "status")))
		json_object_set_new(r, "status", json_string(
		    json_is_true(json_object_get(r, "is_error")) ? "error" :
		    "success"));
	return (0);
}

/* The content of m as a new array of blocks. */
static json_t *
content_blocks(json_t *m)
{
	json_t	*c = json_object_get(m, "content");

	if (json_is_string(c))
		return (json_pack("[{s:s, s:O}]", "type", "text", "text", c));
	if (json_is_array(c))
		return (json_copy(c));
	return (json_array());
}

/* Rule 2 (blank text blocks and messages) and 7 (merge), in place. */
static json_t *
tidy(json_t *in, struct repair_stats *st)
{
	json_t		*out = json_array(), *m, *last, *a, *b, *c, *blk;
	const char	*role;
	char		*s;
	size_t		 i, k, n;

	if (out == NULL)
		return (NULL);
	json_array_foreach(in, i, m) {
		if (msg_blank(m)) {
			st->rs_empty++;
			continue;
		}
		/* Blank blocks inside a message with content go too. */
		c = json_object_get(m, "content");
		if (json_is_array(c)) {
			for (k = 0; k < json_array_size(c);) {
				if (blk_blank(json_array_get(c, k)))
					json_array_remove(c, k);
				else
					k++;
			}
		}
		role = msg_role(m);
		n = json_array_size(out);
		last = n > 0 ? json_array_get(out, n - 1) : NULL;
		if (last == NULL || strcmp(msg_role(last), role) != 0) {
			if (json_array_append(out, m) != 0)
				goto fail;
			continue;
		}
		st->rs_merged++;
		a = json_object_get(last, "content");
		b = json_object_get(m, "content");
		if (json_is_string(a) && json_is_string(b)) {
			n = json_string_length(a) + json_string_length(b) + 3;
			if ((s = malloc(n)) == NULL)
				goto fail;
			snprintf(s, n, "%s\n\n%s", json_string_value(a),
			    json_string_value(b));
			json_object_set_new(last, "content", json_string(s));
			free(s);
		} else {
			if ((a = content_blocks(last)) == NULL ||
			    (b = content_blocks(m)) == NULL) {
				json_decref(a);
				goto fail;
			}
			json_array_foreach(b, k, blk)
				json_array_append(a, blk);
			json_decref(b);
			json_object_set_new(last, "content", a);
		}
		if (json_is_true(json_object_get(m, "pinned")))
			json_object_set_new(last, "pinned", json_true());
	}
	return (out);
 fail:
	json_decref(out);
	return (NULL);
}

/* One rebuild (rules 1, 3, 4, 5, 6, 8); new array or NULL. */
static json_t *
rebuild(json_t *msgs, struct repair_stats *st)
{
	json_t		*uses = json_object(), *results = json_object();
	json_t		*origin = json_object(), *emitted = json_object();
	json_t		*out = json_array(), *m, *c, *b, *nb, *calls, *rmsg, *r;
	const char	*id, *role;
	size_t		 i, k, nres;
	int		 ok = 0;

	if (uses == NULL || results == NULL || origin == NULL ||
	    emitted == NULL || out == NULL)
		goto done;
	/* Every call, then every result of a known call (first wins). */
	json_array_foreach(msgs, i, m) {
		if (strcmp(msg_role(m), "assistant") != 0)
			continue;
		json_array_foreach(json_object_get(m, "content"), k, b)
			if (blk_is(b, "tool_use") && (id = json_string_value(
			    json_object_get(b, "id"))) != NULL &&
			    json_object_get(uses, id) == NULL)
				json_object_set_new(uses, id,
				    json_integer((json_int_t)i));
	}
	json_array_foreach(msgs, i, m) {
		json_array_foreach(json_object_get(m, "content"), k, b) {
			if (!blk_is(b, "tool_result"))
				continue;
			id = json_string_value(json_object_get(b,
			    "tool_use_id"));
			if (id == NULL || json_object_get(uses, id) == NULL)
				st->rs_orphans++;
			else if (json_object_get(results, id) != NULL)
				st->rs_duplicates++;
			else {
				json_object_set(results, id, b);
				/* Where it should be: the message right
				 * after its call, a user's. */
				json_object_set_new(origin, id, json_boolean(
				    json_integer_value(json_object_get(uses,
				    id)) + 1 == (json_int_t)i &&
				    strcmp(msg_role(m), "user") == 0));
			}
		}
	}
	json_array_foreach(msgs, i, m) {
		role = msg_role(m);
		c = json_object_get(m, "content");
		if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0
		    && strcmp(role, "system") != 0) {
			st->rs_empty++;
			continue;
		}
		if (!json_is_array(c)) {
			if (json_array_append(out, m) != 0)
				goto done;
			continue;
		}
		if ((nb = json_array()) == NULL || (calls = json_array()) ==
		    NULL) {
			json_decref(nb);
			goto done;
		}
		nres = 0;
		json_array_foreach(c, k, b) {
			if (blk_is(b, "tool_result")) {
				nres++;		/* placed after its call */
				continue;
			}
			if (blk_is(b, "tool_use") && strcmp(role, "assistant")
			    == 0) {
				id = json_string_value(json_object_get(b,
				    "id"));
				if (id == NULL || json_object_get(emitted, id)
				    != NULL) {
					st->rs_duplicates++;
					continue;
				}
				json_object_set_new(emitted, id, json_true());
				if (!json_is_object(json_object_get(b,
				    "input")))
					json_object_set_new(b, "input",
					    json_object());
				json_array_append(calls, b);
			} else if (blk_is(b, "tool_use")) {
				/* A call in a user message is no call. */
				st->rs_orphans++;
				continue;
			}
			json_array_append(nb, b);
		}
		/* A message that only carried results is gone quietly:
		 * they were placed after their calls. */
		if (nres > 0 && json_array_size(nb) == 0) {
			json_decref(nb);
			json_decref(calls);
			continue;
		}
		if (json_array_append_new(out, msg_with(m, nb)) != 0) {
			json_decref(calls);
			goto done;
		}
		if (json_array_size(calls) == 0) {
			json_decref(calls);
			continue;
		}
		if ((rmsg = json_array()) == NULL) {
			json_decref(calls);
			goto done;
		}
		json_array_foreach(calls, k, b) {
			id = json_string_value(json_object_get(b, "id"));
			if ((r = json_object_get(results, id)) != NULL) {
				r = json_deep_copy(r);
				if (!json_is_true(json_object_get(origin, id)))
					st->rs_moved++;
			} else {
				r = synthetic_result(id, json_string_value(
				    json_object_get(b, "name")));
				st->rs_synthetic++;
			}
			if (r == NULL || sanitize_result(r, st) != 0 ||
			    json_array_append_new(rmsg, r) != 0) {
				json_decref(r);
				json_decref(rmsg);
				json_decref(calls);
				goto done;
			}
		}
		json_decref(calls);
		if (json_array_append_new(out, json_pack("{s:s, s:o}", "role",
		    "user", "content", rmsg)) != 0)
			goto done;
	}
	ok = 1;
 done:
	json_decref(uses);
	json_decref(results);
	json_decref(origin);
	json_decref(emitted);
	if (!ok) {
		json_decref(out);
		return (NULL);
	}
	return (out);
}

/* Index of the first non-system message, or -1. */
static int
first_turn(json_t *msgs)
{
	json_t	*m;
	size_t	 i;

	json_array_foreach(msgs, i, m)
		if (strcmp(msg_role(m), "system") != 0)
			return ((int)i);
	return (-1);
}

json_t *
session_repair(json_t *messages, struct repair_stats *stp)
{
	struct repair_stats	 dummy;
	struct repair_stats	*st = stp ? stp : &dummy;
	json_t			*cur, *next, *m;
	size_t			 i;
	int			 f;

	memset(st, 0, sizeof(*st));
	/* Work on a deep copy, without anything that is not a message. */
	if ((cur = json_array()) == NULL)
		return (NULL);
	json_array_foreach(messages, i, m) {
		if (!json_is_object(m) || *msg_role(m) == '\0') {
			st->rs_empty++;
			continue;
		}
		if (json_array_append_new(cur, json_deep_copy(m)) != 0) {
			json_decref(cur);
			return (NULL);
		}
	}
	for (;;) {
		next = rebuild(cur, st);
		json_decref(cur);
		if (next == NULL)
			return (NULL);
		cur = tidy(next, st);
		json_decref(next);
		if (cur == NULL)
			return (NULL);
		/* Rule 9: the history starts with a user's message. */
		if ((f = first_turn(cur)) < 0 || strcmp(msg_role(
		    json_array_get(cur, (size_t)f)), "user") == 0)
			break;
		json_array_remove(cur, (size_t)f);
		st->rs_leading++;
	}
	return (cur);
}

int
session_repair_count(const struct repair_stats *st)
{
	return (st->rs_orphans + st->rs_empty + st->rs_moved +
	    st->rs_synthetic + st->rs_duplicates + st->rs_merged +
	    st->rs_sanitized + st->rs_leading);
}
