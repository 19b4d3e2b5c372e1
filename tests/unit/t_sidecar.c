/*
 * t_sidecar.c - the sidecar protocol's frames (services/channels/
 * chan_proto.c) against upstream's conformance corpus.
 *
 * Usage: t_sidecar [corpus-dir]; the corpus defaults to
 * $LF_SHARED/data/sidecar-conformance/corpus, then ../shared/....
 *
 * Every events/X.json parses to our struct, and the struct encodes back
 * to a frame equal to the file by JSON value (so no field was dropped or
 * misread).  Every commands/X.json equals, by JSON value, the frame our
 * builder makes from the values the table below gives.  Both directories
 * are listed, so a frame added to the corpus without a case here fails.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels.h"
#include "tap.h"
#include "util.h"

static char	corpus[1024];

/* The file's frame (new) or NULL. */
static json_t *
load(const char *dir, const char *name)
{
	char		path[1200];
	json_error_t	je;
	json_t		*j;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, dir, name);
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL)
		printf("# %s: %s\n", path, je.text);
	return (j);
}

/* Reads a file's text (new) for the line parser. */
static char *
load_text(const char *dir, const char *name, size_t *len)
{
	char	path[1200];

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, dir, name);
	return (util_read_file(path, 1 << 20, len));
}

static const struct {
	const char		*file;
	enum chan_ev_type	 type;
} ev_cases[] = {
	{ "error.json",		CHAN_EV_ERROR },
	{ "message_minimal.json", CHAN_EV_MESSAGE },
	{ "message_text.json",	CHAN_EV_MESSAGE },
	{ "qr_ready.json",	CHAN_EV_QR_READY },
	{ "qr_status.json",	CHAN_EV_QR_STATUS },
	{ "ready_full.json",	CHAN_EV_READY },
	{ "ready_minimal.json",	CHAN_EV_READY },
	{ "typing.json",	CHAN_EV_TYPING },
};

/* The command frame a case builds (new). */
static json_t *
cmd_build(const char *file)
{
	json_t	*content, *buttons, *f = NULL;

	if (strcmp(file, "heartbeat.json") == 0)
		f = chan_cmd_bare("heartbeat");
	else if (strcmp(file, "ready_ack.json") == 0)
		f = chan_cmd_bare("ready_ack");
	else if (strcmp(file, "shutdown.json") == 0)
		f = chan_cmd_bare("shutdown");
	else if (strcmp(file, "interactive.json") == 0) {
		buttons = json_pack("[[{s:s, s:s}, {s:s, s:s, s:s}]]",
		    "label", "Yes", "action", "y",
		    "label", "Docs", "action", "d", "url", "https://x");
		f = chan_cmd_interactive("c1", "pick", buttons);
		json_decref(buttons);
	} else if (strcmp(file, "reaction.json") == 0)
		f = chan_cmd_reaction("c1", "55", "\xf0\x9f\x91\x8d", "", NULL);
	else if (strcmp(file, "send_full.json") == 0) {
		content = json_pack("{s:s}", "Text", "hello");
		f = chan_cmd_send("c1", "hello", "Alice", NULL, content, "t1");
		json_decref(content);
	} else if (strcmp(file, "send_minimal.json") == 0)
		f = chan_cmd_send("c1", "hi", "Bob", NULL, NULL, NULL);
	else if (strcmp(file, "stream_delta.json") == 0)
		f = chan_cmd_stream_delta("s1", "Hel");
	else if (strcmp(file, "stream_end.json") == 0)
		f = chan_cmd_stream_end("s1");
	else if (strcmp(file, "stream_start.json") == 0)
		f = chan_cmd_stream_start("c1", "s1", NULL);
	else if (strcmp(file, "stream_start_threaded.json") == 0)
		f = chan_cmd_stream_start("c1", "s1", "t1");
	else if (strcmp(file, "typing.json") == 0)
		f = chan_cmd_typing("c1");
	return (f);
}

/* Every .json file of dir must pass fn. */
static int
each_file(const char *dir, int (*fn)(const char *))
{
	char		 path[1100];
	DIR		*d;
	struct dirent	*de;
	size_t		 n;
	int		 bad = 0, seen = 0;

	snprintf(path, sizeof(path), "%s/%s", corpus, dir);
	if ((d = opendir(path)) == NULL) {
		printf("# cannot open %s\n", path);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		seen++;
		if (fn(de->d_name) != 0) {
			printf("# %s/%s failed\n", dir, de->d_name);
			bad++;
		}
	}
	closedir(d);
	return (bad == 0 && seen > 0 ? 0 : -1);
}

static int
event_one(const char *file)
{
	struct chan_event	 ev;
	json_t			*want = NULL, *got = NULL;
	char			*text, err[256];
	size_t			 len, i;
	int			 rv = -1, type = -1;

	for (i = 0; i < sizeof(ev_cases) / sizeof(ev_cases[0]); i++)
		if (strcmp(ev_cases[i].file, file) == 0)
			type = (int)ev_cases[i].type;
	if (type < 0) {
		printf("# no case for event %s\n", file);
		return (-1);
	}
	if ((text = load_text("events", file, &len)) == NULL)
		return (-1);
	/* The files are pretty-printed: the parser takes any JSON text. */
	if (chan_event_parse(text, len, &ev, err, sizeof(err)) != 0) {
		printf("# %s: %s\n", file, err);
		free(text);
		return (-1);
	}
	want = load("events", file);
	got = chan_event_encode(&ev);
	if ((int)ev.ce_type != type)
		printf("# %s: type %d, expected %d\n", file, ev.ce_type, type);
	else if (want == NULL || got == NULL || !json_equal(want, got)) {
		char *s = got ? json_dumps(got, JSON_COMPACT) : NULL;
		printf("# %s: re-encoded as %s\n", file, s ? s : "(null)");
		free(s);
	} else
		rv = 0;
	json_decref(want);
	json_decref(got);
	chan_event_release(&ev);
	free(text);
	return (rv);
}

static int
command_one(const char *file)
{
	json_t	*want, *got;
	char	*s;
	int	 rv = -1;

	want = load("commands", file);
	got = cmd_build(file);
	if (got == NULL)
		printf("# no builder case for command %s\n", file);
	else if (want != NULL && json_equal(want, got))
		rv = 0;
	else {
		s = json_dumps(got, JSON_COMPACT);
		printf("# %s: we emit %s\n", file, s ? s : "(null)");
		free(s);
	}
	json_decref(want);
	json_decref(got);
	return (rv);
}

static int
t_events(void)
{
	return (each_file("events", event_one));
}

static int
t_commands(void)
{
	return (each_file("commands", command_one));
}

static int
t_event_fields(void)
{
	struct chan_event	 ev;
	char			 err[256];
	const char		*l;

	l = "{\"method\":\"message\",\"params\":{\"user_id\":\"42\","
	    "\"user_name\":\"Alice\",\"content\":{\"Text\":\"hello\"},"
	    "\"text\":\"other\",\"message_id\":\"7\",\"is_group\":true}}";
	T_OK(chan_event_parse(l, strlen(l), &ev, err, sizeof(err)) == 0);
	T_EQ_STR(chan_event_text(&ev), "hello");	/* content wins */
	T_EQ_STR(ev.ce_message_id, "7");
	T_EQ_INT(ev.ce_is_group, 1);
	chan_event_release(&ev);
	l = "{\"method\":\"ready\",\"params\":{\"capabilities\":[\"typing\","
	    "\"streaming\",\"future\"]}}";
	T_OK(chan_event_parse(l, strlen(l), &ev, err, sizeof(err)) == 0);
	T_EQ_INT(ev.ce_caps, CHAN_CAP_TYPING | CHAN_CAP_STREAMING);
	chan_event_release(&ev);
	l = "{\"method\":\"ready\",\"params\":null}";
	T_OK(chan_event_parse(l, strlen(l), &ev, err, sizeof(err)) == 0);
	T_EQ_INT(ev.ce_type, CHAN_EV_READY);
	chan_event_release(&ev);
	l = "{\"method\":\"future_thing\",\"params\":{\"x\":1}}";
	T_OK(chan_event_parse(l, strlen(l), &ev, err, sizeof(err)) == 0);
	T_EQ_INT(ev.ce_type, CHAN_EV_UNKNOWN);
	chan_event_release(&ev);
	return (0);
}

/* Lines that are no frame: each is refused with a reason. */
static int
t_garbage(void)
{
	static const char *const bad[] = {
		"", "hello", "[1,2]", "{\"params\":{}}", "{\"method\":7}",
		"{\"method\":\"message\",\"params\":[]}",
		"{\"method\":\"message\",\"params\":{\"user_name\":\"a\"}}",
		"{\"method\":\"message\",\"params\":{\"user_id\":1,"
		    "\"user_name\":\"a\"}}",
		"{\"method\":\"ready\",\"params\":{\"capabilities\":\"x\"}}",
		"{\"method\":\"qr_ready\",\"params\":{}}",
		"{\"method\":\"a\",\"method\":\"b\"}",
		"{\"method\":\"ready\"} trailing",
		"\xff\xfe{",
	};
	struct chan_event	ev;
	char			err[256];
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (chan_event_parse(bad[i], strlen(bad[i]), &ev, err,
		    sizeof(err)) == 0) {
			printf("# accepted: %s\n", bad[i]);
			chan_event_release(&ev);
			return (-1);
		}
		T_OK(err[0] != '\0');
	}
	return (0);
}

static int
t_frame_line(void)
{
	struct buf	 b = BUF_INIT(1024);
	json_t		*f = chan_cmd_send("c", "two\nlines", "n", NULL, NULL,
			    NULL);

	T_OK(chan_frame_line(f, &b) == 0);
	json_decref(f);
	T_OK(b.b_len > 0 && b.b_data[b.b_len - 1] == '\n');
	T_OK(memchr(b.b_data, '\n', b.b_len - 1) == NULL);
	buf_release(&b);
	return (0);
}

/* Long replies split at a platform's limit: where, and back together. */
static int
t_chunks(void)
{
	static const struct {
		const char		*text;
		size_t			 limit;
		enum chan_text_unit	 unit;
		const char		*want;	/* the chunks, joined by '|' */
	} c[] = {
		{ "short", 10, CHAN_UNIT_CHAR, "short" },
		{ "aaa bbb ccc", 5, CHAN_UNIT_CHAR, "aaa |bbb |ccc" },
		{ "one two\nthree four", 12, CHAN_UNIT_CHAR,
		    "one two\n|three four" },
		{ "abcdefgh", 3, CHAN_UNIT_CHAR, "abc|def|gh" },
		/* 2-byte characters: never cut inside one */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 2, CHAN_UNIT_CHAR,
		    "\xc3\xa9\xc3\xa9|\xc3\xa9" },
		{ "no limit at all", 0, CHAN_UNIT_CHAR, "no limit at all" },
		/* a paragraph break in the chunk's second half wins over a
		 * later newline; one in its first half does not */
		{ "aaaaa\n\nbbb\ncc dd", 14, CHAN_UNIT_CHAR,
		    "aaaaa\n\n|bbb\ncc dd" },
		{ "aa\n\nbb\ncc dd", 10, CHAN_UNIT_CHAR, "aa\n\nbb\n|cc dd" },
		/* UTF-16 units (Telegram): a character past U+FFFF is two */
		{ "a\xf0\x9f\x98\x80" "bc", 3, CHAN_UNIT_UTF16,
		    "a\xf0\x9f\x98\x80|bc" },
		{ "\xf0\x9f\x98\x80x", 1, CHAN_UNIT_UTF16,
		    "\xf0\x9f\x98\x80|x" },
		/* bytes (ntfy): whole characters still */
		{ "\xc3\xa9\xc3\xa9", 3, CHAN_UNIT_BYTE, "\xc3\xa9|\xc3\xa9" },
		{ "ab cd", 4, CHAN_UNIT_BYTE, "ab |cd" },
	};
	enum chan_text_unit	unit;
	char	got[256];
	size_t	i, off, len, take, g;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		len = strlen(c[i].text);
		g = 0;
		for (off = 0; off < len; off += take) {
			take = chan_text_chunk(c[i].text + off, len - off,
			    c[i].limit, c[i].unit);
			T_OK(take > 0);
			if (c[i].limit > 0)
				T_OK(chan_text_units(c[i].text + off, take,
				    c[i].unit) <= c[i].limit || take <= 4);
			if (g > 0)
				got[g++] = '|';
			memcpy(got + g, c[i].text + off, take);
			g += take;
		}
		got[g] = '\0';
		T_EQ_STR(got, c[i].want);
	}
	T_EQ_INT(chan_text_limit("discord", &unit), 2000);
	T_EQ_INT(unit, CHAN_UNIT_CHAR);
	T_EQ_INT(chan_text_limit("telegram", &unit), 4096);
	T_EQ_INT(unit, CHAN_UNIT_UTF16);
	T_EQ_INT(chan_text_limit("custom", NULL), 0);
	T_EQ_INT(chan_text_units("a\xf0\x9f\x98\x80\xc3\xa9", 7,
	    CHAN_UNIT_UTF16), 4);
	T_EQ_INT(chan_text_units("a\xf0\x9f\x98\x80\xc3\xa9", 7,
	    CHAN_UNIT_CHAR), 3);
	T_EQ_STR(chan_phase_emoji("done"), "\xe2\x9c\x85");
	T_OK(chan_phase_emoji("tool_use") != NULL &&
	    chan_phase_emoji("streaming") != NULL &&
	    chan_phase_emoji("nope") == NULL);
	return (0);
}

/* Feeds delta d to st; returns what it shows, as a string ("" none). */
static const char *
t_show(struct chan_stream *st, const char *d, size_t limit)
{
	static char	 out[256];
	const char	*show;
	size_t		 n;

	n = chan_stream_delta(st, d, strlen(d), limit, CHAN_UNIT_CHAR, &show);
	snprintf(out, sizeof(out), "%.*s", (int)n, n > 0 ? show : "");
	return (out);
}

/* What a stream shows of a turn's deltas, and how its end is found. */
static int
t_stream(void)
{
	struct chan_stream	*st;
	char			 ch[CHAN_NAME_MAX];
	long long		 row;

	T_OK((st = chan_stream_new(7, "demo:7")) != NULL);
	T_EQ_STR(t_show(st, "Hel", 0), "Hel");
	T_EQ_STR(t_show(st, "lo", 0), "lo");
	/* a retried provider call sends its text again: only what is new */
	chan_stream_restart(st);
	T_EQ_STR(t_show(st, "He", 0), "");
	T_EQ_STR(t_show(st, "llo w", 0), " w");
	T_EQ_INT(chan_stream_covered(st, "Hello world", 11), 7);
	T_EQ_INT(chan_stream_covered(st, "Goodbye", 7), -1);
	/* a retry that says something else shows nothing more */
	chan_stream_restart(st);
	T_EQ_STR(t_show(st, "Hi there, friend", 0), "");
	T_EQ_INT(chan_stream_covered(st, "Hi there, friend", 16), -1);
	/* the text after a tool call is the answer's */
	chan_stream_segment(st);
	T_EQ_STR(t_show(st, "The answer", 0), "The answer");
	T_EQ_INT(chan_stream_covered(st, "The answer is 4", 15), 10);
	chan_stream_free(st);

	/* a directive opening the text is not shown; "[" waits to see */
	T_OK((st = chan_stream_new(8, "demo:8")) != NULL);
	T_EQ_STR(t_show(st, "[", 0), "");
	T_EQ_STR(t_show(st, "[silent]] x", 0), "");
	chan_stream_segment(st);
	T_EQ_STR(t_show(st, "[", 0), "");
	T_EQ_STR(t_show(st, "1] ok", 0), "[1] ok");
	chan_stream_free(st);

	/* the platform's limit: nothing past it is shown */
	T_OK((st = chan_stream_new(9, "demo:9")) != NULL);
	T_EQ_STR(t_show(st, "Hello", 5), "Hello");
	T_EQ_STR(t_show(st, " world", 5), "");
	T_EQ_INT(chan_stream_covered(st, "Hello world", 11), 5);
	T_EQ_INT(st->st_units, 5);
	chan_stream_free(st);

	chan_stream_id(ch, sizeof(ch), "my.chan-1", 42);
	T_EQ_STR(ch, "my.chan-1:42");
	T_EQ_INT(chan_stream_parse("my.chan-1:42", ch, sizeof(ch), &row), 0);
	T_EQ_STR(ch, "my.chan-1");
	T_EQ_INT(row, 42);
	T_EQ_INT(chan_stream_parse("demo:", ch, sizeof(ch), &row), -1);
	T_EQ_INT(chan_stream_parse("demo:0", ch, sizeof(ch), &row), -1);
	T_EQ_INT(chan_stream_parse(":5", ch, sizeof(ch), &row), -1);
	T_EQ_INT(chan_stream_parse("a b:5", ch, sizeof(ch), &row), -1);
	T_EQ_INT(chan_stream_parse("demo:5x", ch, sizeof(ch), &row), -1);
	T_EQ_INT(chan_stream_parse(NULL, ch, sizeof(ch), &row), -1);
	return (0);
}

static const struct tap_case cases[] = {
	{ "every corpus event parses and re-encodes equal", t_events },
	{ "every corpus command equals the frame we emit", t_commands },
	{ "message text, capabilities, bare params, unknown methods",
	    t_event_fields },
	{ "garbage lines are refused with a reason", t_garbage },
	{ "a frame is one line", t_frame_line },
	{ "long replies split at the limit, on words, whole characters",
	    t_chunks },
	{ "a stream shows only text consistent with the reply", t_stream },
	{ NULL, NULL },
};

int
main(int argc, char **argv)
{
	const char	*s;

	if (argc > 1)
		snprintf(corpus, sizeof(corpus), "%s", argv[1]);
	else if ((s = getenv("LF_SHARED")) != NULL)
		snprintf(corpus, sizeof(corpus),
		    "%s/data/sidecar-conformance/corpus", s);
	else
		snprintf(corpus, sizeof(corpus),
		    "../shared/data/sidecar-conformance/corpus");
	return (tap_main(cases));
}
