/*
 * ad_frame.c - the sidecar protocol's frames: the line reader, commands
 * parsed, events built (spec/notes/protocols.md 1.3).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define AD_LINES_KEEP	(64 * 1024)	/* a line buffer kept between lines */

static const struct {
	const char		*name;
	enum ad_cmd_type	 type;
} ad_cmds[] = {
	{ "ready_ack",		AD_CMD_READY_ACK },
	{ "send",		AD_CMD_SEND },
	{ "typing",		AD_CMD_TYPING },
	{ "reaction",		AD_CMD_REACTION },
	{ "interactive",	AD_CMD_INTERACTIVE },
	{ "stream_start",	AD_CMD_STREAM_START },
	{ "stream_delta",	AD_CMD_STREAM_DELTA },
	{ "stream_end",		AD_CMD_STREAM_END },
	{ "heartbeat",		AD_CMD_HEARTBEAT },
	{ "shutdown",		AD_CMD_SHUTDOWN },
};

enum ad_cmd_type
ad_cmd_type(const char *method)
{
	size_t	i;

	for (i = 0; i < sizeof(ad_cmds) / sizeof(ad_cmds[0]); i++)
		if (strcmp(ad_cmds[i].name, method) == 0)
			return (ad_cmds[i].type);
	return (AD_CMD_UNKNOWN);
}

/* The string member key of o, NULL when absent or null; *bad is set when
 * it is there but not a string. */
static const char *
ad_str(const json_t *o, const char *key, int *bad)
{
	const json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return (NULL);
	if (!json_is_string(v)) {
		*bad = 1;
		return (NULL);
	}
	return (json_string_value(v));
}

void
ad_cmd_release(struct ad_cmd *c)
{
	json_decref(c->ac_root);
	memset(c, 0, sizeof(*c));
}

int
ad_cmd_parse(const char *line, size_t len, struct ad_cmd *c)
{
	json_error_t	 jerr;
	const json_t	*p, *u;
	int		 bad = 0;

	memset(c, 0, sizeof(*c));
	c->ac_root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (c->ac_root == NULL || !json_is_object(c->ac_root) ||
	    (c->ac_method = ad_str(c->ac_root, "method", &bad)) == NULL)
		goto bad;
	c->ac_type = ad_cmd_type(c->ac_method);
	p = json_object_get(c->ac_root, "params");
	if (p != NULL && !json_is_null(p) && !json_is_object(p))
		goto bad;
	if (p == NULL || json_is_null(p)) {
		/* Only these may come without params. */
		switch (c->ac_type) {
		case AD_CMD_UNKNOWN:
		case AD_CMD_READY_ACK:
		case AD_CMD_HEARTBEAT:
		case AD_CMD_SHUTDOWN:
			return (0);
		default:
			goto bad;
		}
	}
	c->ac_channel_id = ad_str(p, "channel_id", &bad);
	c->ac_text = ad_str(p, "text", &bad);
	c->ac_thread_id = ad_str(p, "thread_id", &bad);
	c->ac_message_id = ad_str(p, "message_id", &bad);
	c->ac_reaction = ad_str(p, "reaction", &bad);
	c->ac_phase = ad_str(p, "phase", &bad);
	c->ac_tool_name = ad_str(p, "tool_name", &bad);
	c->ac_stream_id = ad_str(p, "stream_id", &bad);
	if ((u = json_object_get(p, "user")) != NULL && json_is_object(u)) {
		c->ac_user_id = ad_str(u, "platform_id", &bad);
		c->ac_user_name = ad_str(u, "display_name", &bad);
	}
	c->ac_content = json_object_get(p, "content");
	if (c->ac_content != NULL && json_is_null(c->ac_content))
		c->ac_content = NULL;
	c->ac_message = json_object_get(p, "message");
	/* A field of the wrong type in an unknown command is no concern of
	 * ours: only known commands are checked. */
	if (c->ac_type == AD_CMD_UNKNOWN)
		return (0);
	if (bad)
		goto bad;
	switch (c->ac_type) {
	case AD_CMD_SEND:
		if (c->ac_channel_id == NULL || c->ac_text == NULL)
			goto bad;
		break;
	case AD_CMD_TYPING:
		if (c->ac_channel_id == NULL)
			goto bad;
		break;
	case AD_CMD_REACTION:
		if (c->ac_channel_id == NULL || c->ac_message_id == NULL ||
		    c->ac_reaction == NULL)
			goto bad;
		break;
	case AD_CMD_INTERACTIVE:
		if (c->ac_channel_id == NULL || !json_is_object(c->ac_message))
			goto bad;
		break;
	case AD_CMD_STREAM_START:
		if (c->ac_channel_id == NULL || c->ac_stream_id == NULL)
			goto bad;
		break;
	case AD_CMD_STREAM_DELTA:
		if (c->ac_stream_id == NULL || c->ac_text == NULL)
			goto bad;
		break;
	case AD_CMD_STREAM_END:
		if (c->ac_stream_id == NULL)
			goto bad;
		break;
	default:
		break;
	}
	return (0);
 bad:
	ad_cmd_release(c);
	return (SH_EPROTO);
}

/* ---- the line reader -------------------------------------------------- */

void
ad_lines_init(struct ad_lines *lr, size_t max)
{
	memset(lr, 0, sizeof(*lr));
	lr->lr_max = max;
}

void
ad_lines_release(struct ad_lines *lr)
{
	free(lr->lr_buf);
	ad_lines_init(lr, lr->lr_max);
}

/* Appends n bytes of a line being read, or starts skipping it when it
 * grows past the bound.  0 or SH_ENOMEM. */
static int
ad_lines_add(struct ad_lines *lr, const char *data, size_t n)
{
	size_t	 cap;
	char	*nb;

	if (lr->lr_skipping)
		return (0);
	if (lr->lr_len + n > lr->lr_max) {
		log_warnx("%s: a line longer than %zu bytes; dropped",
		    __func__, lr->lr_max);
		lr->lr_skipping = 1;
		lr->lr_dropped++;
		lr->lr_len = 0;
		return (0);
	}
	if (lr->lr_len + n + 1 > lr->lr_cap) {
		cap = lr->lr_cap ? lr->lr_cap : 512;
		while (cap < lr->lr_len + n + 1)
			cap *= 2;
		if ((nb = realloc(lr->lr_buf, cap)) == NULL)
			return (SH_ENOMEM);
		lr->lr_buf = nb;
		lr->lr_cap = cap;
	}
	memcpy(lr->lr_buf + lr->lr_len, data, n);
	lr->lr_len += n;
	lr->lr_buf[lr->lr_len] = '\0';
	return (0);
}

int
ad_lines_feed(struct ad_lines *lr, const char *data, size_t n,
    ad_line_fn fn, void *arg)
{
	const char	*nl;
	size_t		 k;
	int		 rv;

	while (n > 0) {
		if (lr->lr_raw > 0) {
			k = n < lr->lr_raw ? n : lr->lr_raw;
			lr->lr_raw -= k;
			fn(arg, data, k);
			n -= k;
			data += k;
			continue;
		}
		nl = memchr(data, '\n', n);
		k = nl != NULL ? (size_t)(nl - data) : n;
		if ((rv = ad_lines_add(lr, data, k)) != 0)
			return (rv);
		if (nl == NULL)
			break;
		if (!lr->lr_skipping) {
			k = lr->lr_len;
			if (k > 0 && lr->lr_buf[k - 1] == '\r')
				k--;
			fn(arg, lr->lr_buf != NULL ? lr->lr_buf : "", k);
		}
		lr->lr_skipping = 0;
		lr->lr_len = 0;
		/* One long line (up to lr_max) must not keep its buffer
		 * for the life of the process: adapters count their memory
		 * (2 MB PSS each). */
		if (lr->lr_cap > AD_LINES_KEEP) {
			free(lr->lr_buf);
			lr->lr_buf = NULL;
			lr->lr_cap = 0;
		}
		n -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	return (0);
}

void
ad_lines_raw(struct ad_lines *lr, size_t n)
{
	lr->lr_raw = n;
}

/* ---- events ----------------------------------------------------------- */

static json_t *
ad_frame(const char *method, json_t *params)
{
	json_t	*f;

	if ((f = json_object()) == NULL ||
	    json_object_set_new(f, "method", json_string(method)) != 0)
		goto fail;
	if (params != NULL && json_object_set_new(f, "params", params) != 0) {
		params = NULL;
		goto fail;
	}
	return (f);
 fail:
	json_decref(params);
	json_decref(f);
	return (NULL);
}

/* Sets key to the string v when v is not NULL; -1 out of memory. */
static int
ad_set_str(json_t *o, const char *key, const char *v)
{
	if (v == NULL)
		return (0);
	return (json_object_set_new(o, key, json_string(v)));
}

json_t *
ad_ev_ready(const struct ad_ready *r)
{
	json_t	*p, *caps = NULL;
	size_t	 i;
	int	 rv = 0;

	if ((p = json_object()) == NULL)
		return (NULL);
	if (r->ar_capabilities != NULL) {
		if ((caps = json_array()) == NULL)
			rv = -1;
		for (i = 0; caps != NULL && r->ar_capabilities[i] != NULL; i++)
			rv |= json_array_append_new(caps,
			    json_string(r->ar_capabilities[i]));
		rv |= json_object_set_new(p, "capabilities", caps);
	}
	rv |= ad_set_str(p, "account_id", r->ar_account_id);
	if (r->ar_suppress_errors >= 0)
		rv |= json_object_set_new(p, "suppress_error_responses",
		    json_boolean(r->ar_suppress_errors));
	if (r->ar_recipients != NULL)
		rv |= json_object_set(p, "notification_recipients",
		    r->ar_recipients);
	if (r->ar_header_rules != NULL)
		rv |= json_object_set(p, "header_rules", r->ar_header_rules);
	if (r->ar_protocol_version > 0)
		rv |= json_object_set_new(p, "protocol_version",
		    json_integer(r->ar_protocol_version));
	if (rv != 0) {
		json_decref(p);
		return (NULL);
	}
	/* A bare ready is {"method": "ready"}, as the corpus has it. */
	if (json_object_size(p) == 0) {
		json_decref(p);
		p = NULL;
	}
	return (ad_frame("ready", p));
}

json_t *
ad_ev_message(const struct ad_msg *m)
{
	json_t	*p;
	int	 rv = 0;

	if (m->am_user_id == NULL || m->am_user_name == NULL ||
	    (p = json_object()) == NULL)
		return (NULL);
	rv |= ad_set_str(p, "user_id", m->am_user_id);
	rv |= ad_set_str(p, "user_name", m->am_user_name);
	if (m->am_content != NULL)
		rv |= json_object_set(p, "content", m->am_content);
	rv |= ad_set_str(p, "text", m->am_text);
	rv |= ad_set_str(p, "channel_id", m->am_channel_id);
	rv |= ad_set_str(p, "platform", m->am_platform);
	rv |= ad_set_str(p, "message_id", m->am_message_id);
	rv |= ad_set_str(p, "username", m->am_username);
	rv |= ad_set_str(p, "thread_id", m->am_thread_id);
	if (m->am_is_group)
		rv |= json_object_set_new(p, "is_group", json_true());
	if (m->am_metadata != NULL)
		rv |= json_object_set(p, "metadata", m->am_metadata);
	if (rv != 0) {
		json_decref(p);
		return (NULL);
	}
	return (ad_frame("message", p));
}

json_t *
ad_ev_typing(const char *user_id, const char *user_name, int is_typing)
{
	json_t	*p;

	if (user_id == NULL || user_name == NULL ||
	    (p = json_pack("{s:s, s:s, s:b}", "user_id", user_id,
	    "user_name", user_name, "is_typing", is_typing)) == NULL)
		return (NULL);
	return (ad_frame("typing", p));
}

json_t *
ad_ev_error(const char *message)
{
	json_t	*p;

	if (message == NULL ||
	    (p = json_pack("{s:s}", "message", message)) == NULL)
		return (NULL);
	return (ad_frame("error", p));
}

json_t *
ad_ev_qr_ready(const char *qr_code, const char *qr_url, const char *message,
    const char *expires_at)
{
	json_t	*p;

	if (qr_code == NULL ||
	    (p = json_pack("{s:s}", "qr_code", qr_code)) == NULL)
		return (NULL);
	if (ad_set_str(p, "qr_url", qr_url) != 0 ||
	    ad_set_str(p, "message", message) != 0 ||
	    ad_set_str(p, "expires_at", expires_at) != 0) {
		json_decref(p);
		return (NULL);
	}
	return (ad_frame("qr_ready", p));
}

json_t *
ad_ev_qr_status(const char *status, const char *message)
{
	json_t	*p;

	if (status == NULL ||
	    (p = json_pack("{s:s}", "status", status)) == NULL)
		return (NULL);
	if (ad_set_str(p, "message", message) != 0) {
		json_decref(p);
		return (NULL);
	}
	return (ad_frame("qr_status", p));
}

json_t *
ad_content_from_text(const char *text)
{
	json_t		*args;
	const char	*s, *e;

	if (text[0] != '/' || text[1] == '\0' || text[1] == ' ' ||
	    text[1] == '/')
		return (json_pack("{s:s}", "Text", text));
	if ((args = json_array()) == NULL)
		return (NULL);
	/* "/cmd a  b" -> name "cmd", args ["a", "b"]. */
	s = text + 1;
	e = s + strcspn(s, " \t");
	for (s = e; *s != '\0'; s += strcspn(s, " \t")) {
		s += strspn(s, " \t");
		if (*s == '\0')
			break;
		if (json_array_append_new(args,
		    json_stringn(s, strcspn(s, " \t"))) != 0) {
			json_decref(args);
			return (NULL);
		}
	}
	return (json_pack("{s:{s:s%, s:o}}", "Command", "name", text + 1,
	    (size_t)(e - text - 1), "args", args));
}

char *
ad_frame_line(const json_t *frame)
{
	/* ensure_ascii is not asked: frames are UTF-8 (1.3). */
	return (json_dumps(frame, JSON_COMPACT));
}

char *
ad_utf8_clean(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out, *o;
	size_t			 i, k;

	/* A Latin-1 byte grows to two bytes, NUL to three. */
	if ((out = malloc(n * 3 + 1)) == NULL)
		return (NULL);
	for (i = 0, o = out; i < n; ) {
		if (p[i] != 0 && (k = util_utf8_len(p + i, n - i)) > 0) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		if (p[i] == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
		} else {
			*o++ = (char)(0xc0 | (p[i] >> 6));
			*o++ = (char)(0x80 | (p[i] & 0x3f));
		}
		i++;
	}
	*o = '\0';
	return (out);
}

/* The length of the UTF-8 sequence at s (at most n bytes) and its UTF-16
 * units; a byte that starts none is one byte, one unit. */
static size_t
ad_char(const unsigned char *s, size_t n, size_t *units)
{
	size_t	k, i;

	*units = 1;
	if (s[0] < 0x80)
		return (1);
	if ((s[0] & 0xe0) == 0xc0)
		k = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		k = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		k = 4;
	else
		return (1);
	if (k > n)
		return (1);
	for (i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return (1);
	/* Past the BMP: a surrogate pair, two units. */
	if (k == 4)
		*units = 2;
	return (k);
}

size_t
ad_utf16_len(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, units = 0, u;

	while (i < n) {
		i += ad_char(p + i, n - i, &u);
		units += u;
	}
	return (units);
}

size_t
ad_text_cut(const char *s, size_t n, size_t limit, enum ad_text_unit unit)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, used = 0, u, k, j;

	while (i < n) {
		k = ad_char(p + i, n - i, &u);
		if (unit == AD_UNIT_BYTE)
			u = k;
		if (used + u > limit)
			break;
		used += u;
		i += k;
	}
	if (i == n)
		return (n);
	/* A line break, else a space, that leaves something before it. */
	for (j = i; j > 0; j--)
		if (s[j - 1] == '\n')
			return (j);
	for (j = i; j > 0; j--)
		if (s[j - 1] == ' ')
			return (j);
	if (i == 0)
		i = ad_char(p, n, &u);	/* a limit under one character */
	return (i);
}
