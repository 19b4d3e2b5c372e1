/*
 * matrix_msg.c - the Matrix adapter's helpers (matrix.h): ids, escapes,
 * transaction ids, text cut, error bodies, timeline events into
 * `message` events.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "adapter.h"
#include "matrix.h"

int
mx_user_id_ok(const char *s)
{
	const char	*c;
	size_t		 i, n;

	if (s == NULL || s[0] != '@' || (n = strlen(s)) > MX_ID_MAX)
		return (0);
	if ((c = strchr(s, ':')) == NULL || c == s + 1 || c[1] == '\0')
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return (0);
	return (1);
}

int
mx_token_ok(const char *s)
{
	size_t	i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 1024)
		return (0);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return (0);
	return (1);
}

void
mx_self_set(struct mx_self *self, const char *user_id)
{
	const char	*c = strchr(user_id, ':');

	snprintf(self->ms_user_id, sizeof(self->ms_user_id), "%s", user_id);
	if (user_id[0] == '@' && c != NULL)
		snprintf(self->ms_localpart, sizeof(self->ms_localpart), "%.*s",
		    (int)(c - user_id - 1), user_id + 1);
	else
		snprintf(self->ms_localpart, sizeof(self->ms_localpart), "%s",
		    user_id);
}

int
mx_path_escape(const char *s, char *buf, size_t n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0;
	unsigned char		 c;

	if (s == NULL || *s == '\0' || n == 0)
		return (-1);
	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			if (o + 1 >= n)
				return (-1);
			buf[o++] = (char)c;
		} else {
			if (o + 3 >= n)
				return (-1);
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return (0);
}

void
mx_txn_id(char *buf, size_t n, uint64_t boot, uint64_t seq)
{
	snprintf(buf, n, "lf%llx.%llu", (unsigned long long)boot,
	    (unsigned long long)seq);
}

void
mx_error_body(const json_t *body, const char **errcode, const char **error,
    long long *retry_ms)
{
	json_t	*r = json_object_get(body, "retry_after_ms");

	*errcode = json_string_value(json_object_get(body, "errcode"));
	*error = json_string_value(json_object_get(body, "error"));
	if (*errcode == NULL)
		*errcode = "";
	if (*error == NULL)
		*error = "";
	*retry_ms = json_is_integer(r) && json_integer_value(r) >= 0 ?
	    json_integer_value(r) : -1;
}

static const char *
mx_str(const json_t *o, const char *key)
{
	json_t	*j = json_object_get(o, key);

	return (json_is_string(j) && json_string_length(j) > 0 ?
	    json_string_value(j) : NULL);
}

/* Whether text holds name as a word (any case): not inside a longer
 * name on either side. */
static int
mx_names(const char *text, const char *name)
{
	size_t		 nl = strlen(name);
	const char	*p;

	if (nl == 0 || text == NULL)
		return (0);
	for (p = text; *p != '\0'; p++) {
		if (strncasecmp(p, name, nl) != 0)
			continue;
		if ((p == text || (!isalnum((unsigned char)p[-1]) &&
		    p[-1] != '_' && p[-1] != '@')) &&
		    !isalnum((unsigned char)p[nl]) && p[nl] != '_')
			return (1);
	}
	return (0);
}

int
mx_mentioned(const json_t *content, const struct mx_self *self)
{
	const json_t	*mm, *ids, *u;
	const char	*body, *html;
	char		 link[MX_ID_MAX + 32];
	size_t		 i;

	/* m.mentions (spec 1.7 on): when there, it alone counts. */
	mm = json_object_get(content, "m.mentions");
	if (json_is_object(mm)) {
		ids = json_object_get(mm, "user_ids");
		json_array_foreach(ids, i, u)
			if (json_is_string(u) && strcmp(json_string_value(u),
			    self->ms_user_id) == 0)
				return (1);
		return (0);
	}
	body = mx_str(content, "body");
	if (mx_names(body, self->ms_user_id) ||
	    mx_names(body, self->ms_display))
		return (1);
	html = mx_str(content, "formatted_body");
	snprintf(link, sizeof(link), "matrix.to/#/%s", self->ms_user_id);
	return (html != NULL && strstr(html, link) != NULL);
}

json_t *
mx_event_message(const json_t *ev, const char *room_id,
    const char *sender_name, int is_group, const struct mx_self *self,
    const char **skip)
{
	struct ad_msg	 m;
	const json_t	*content, *rel;
	json_t		*meta = NULL, *c = NULL, *out = NULL;
	const char	*type, *sender, *eid, *body, *msgtype, *rt, *thread;
	char		 local[MX_ID_MAX + 1];
	const char	*colon;

	*skip = NULL;
	type = mx_str(ev, "type");
	if (type == NULL || strcmp(type, "m.room.message") != 0) {
		*skip = "not an m.room.message";
		return (NULL);
	}
	content = json_object_get(ev, "content");
	if ((sender = mx_str(ev, "sender")) == NULL ||
	    (eid = mx_str(ev, "event_id")) == NULL) {
		*skip = "no sender or event id";
		return (NULL);
	}
	if (strcmp(sender, self->ms_user_id) == 0) {
		*skip = "the bot's own message";
		return (NULL);
	}
	if ((msgtype = mx_str(content, "msgtype")) == NULL ||
	    strcmp(msgtype, "m.text") != 0) {
		*skip = "not m.text (a notice, media, or redacted)";
		return (NULL);
	}
	if ((body = mx_str(content, "body")) == NULL) {
		*skip = "an empty body";
		return (NULL);
	}
	rel = json_object_get(content, "m.relates_to");
	rt = mx_str(rel, "rel_type");
	if (rt != NULL && strcmp(rt, "m.replace") == 0) {
		*skip = "an edit of an earlier message";
		return (NULL);
	}
	thread = rt != NULL && strcmp(rt, "m.thread") == 0 ?
	    mx_str(rel, "event_id") : NULL;
	if (sender_name == NULL) {
		colon = strchr(sender, ':');
		snprintf(local, sizeof(local), "%.*s", colon != NULL ?
		    (int)(colon - sender - 1) : (int)strlen(sender) - 1,
		    sender + 1);
		sender_name = local;
	}
	meta = json_pack("{s:b, s:s}", "was_mentioned",
	    mx_mentioned(content, self), "room_id", room_id);
	c = ad_content_from_text(body);
	if (meta == NULL || c == NULL) {
		*skip = "out of memory";
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.am_user_id = sender;
	m.am_user_name = sender_name;
	m.am_text = body;
	m.am_content = c;
	m.am_channel_id = room_id;
	m.am_platform = "matrix";
	m.am_message_id = eid;
	m.am_username = sender;
	m.am_thread_id = thread;
	m.am_is_group = is_group;
	m.am_metadata = meta;
	if ((out = ad_ev_message(&m)) == NULL)
		*skip = "out of memory";
 done:
	json_decref(meta);
	json_decref(c);
	return (out);
}
