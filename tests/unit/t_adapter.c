/*
 * t_adapter.c - the channel adapters' library (services/channels/
 * adapters/lib): the line reader, commands parsed, events built, and the
 * upstream conformance corpus (shared/data/sidecar-conformance): every
 * event the library can emit equals its corpus frame by JSON value, every
 * corpus command parses to its fields.
 *
 * usage: t_adapter [SHARED]   (default ../shared, or $LF_SHARED)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "err.h"
#include "log.h"
#include "tap.h"

static const char	*shared = "../shared";

/* ---- the line reader -------------------------------------------------- */

struct got {
	char	lines[8][64];
	size_t	lens[8];
	int	n;
};

static void
on_line(void *arg, const char *line, size_t len)
{
	struct got	*g = arg;

	if (g->n < 8) {
		snprintf(g->lines[g->n], sizeof(g->lines[0]), "%.*s", (int)len,
		    line);
		g->lens[g->n] = len;
	}
	g->n++;
}

static int
t_lines_split(void)
{
	struct ad_lines	lr;
	struct got	g;
	const char	*in = "{\"a\":1}\n{\"b\"";

	memset(&g, 0, sizeof(g));
	ad_lines_init(&lr, 1024);
	/* A line given a byte at a time, then two at once, then CRLF. */
	T_OK(ad_lines_feed(&lr, in, 3, on_line, &g) == 0);
	T_EQ_INT(g.n, 0);
	T_OK(ad_lines_feed(&lr, in + 3, strlen(in) - 3, on_line, &g) == 0);
	T_EQ_INT(g.n, 1);
	T_EQ_STR(g.lines[0], "{\"a\":1}");
	T_OK(ad_lines_feed(&lr, ":2}\r\n\nx\ny", 10, on_line, &g) == 0);
	T_EQ_INT(g.n, 4);
	T_EQ_STR(g.lines[1], "{\"b\":2}");
	T_EQ_INT(g.lens[2], 0);		/* an empty line is a line */
	T_EQ_STR(g.lines[3], "x");
	/* "y" waits for its newline; at EOF it would be dropped. */
	ad_lines_release(&lr);
	return (0);
}

static int
t_lines_oversized(void)
{
	struct ad_lines	 lr;
	struct got	 g;
	char		*big;
	size_t		 i;

	memset(&g, 0, sizeof(g));
	ad_lines_init(&lr, 100);
	big = malloc(1000);
	T_OK(big != NULL);
	memset(big, 'x', 1000);
	/* 1000 bytes in pieces, no newline yet: dropped, not kept. */
	for (i = 0; i < 1000; i += 250)
		T_OK(ad_lines_feed(&lr, big + i, 250, on_line, &g) == 0);
	T_OK(lr.lr_len <= 100);
	/* Its end, then a good line: only the good one comes out. */
	T_OK(ad_lines_feed(&lr, "xx\nok\n", 6, on_line, &g) == 0);
	T_EQ_INT(g.n, 1);
	T_EQ_STR(g.lines[0], "ok");
	T_EQ_INT(lr.lr_dropped, 1);
	/* A line of exactly the bound passes. */
	big[100] = '\n';
	T_OK(ad_lines_feed(&lr, big, 101, on_line, &g) == 0);
	T_EQ_INT(g.n, 2);
	T_EQ_INT(g.lens[1], 100);
	free(big);
	ad_lines_release(&lr);
	return (0);
}

/* ---- commands --------------------------------------------------------- */

static int
t_cmd_bad(void)
{
	static const char *const bad[] = {
		"", "garbage", "\xff\xfe", "[1,2]", "{}", "{\"method\":5}",
		"{\"method\":\"send\"}",
		"{\"method\":\"send\",\"params\":[]}",
		"{\"method\":\"send\",\"params\":{\"channel_id\":\"c\"}}",
		"{\"method\":\"send\",\"params\":{\"channel_id\":5,"
		    "\"text\":\"t\"}}",
		"{\"method\":\"typing\",\"params\":{}}",
		"{\"method\":\"reaction\",\"params\":{\"channel_id\":\"c\","
		    "\"message_id\":\"m\"}}",
		"{\"method\":\"stream_delta\",\"params\":{\"stream_id\":\"s\"}}",
		"{\"method\":\"interactive\",\"params\":{\"channel_id\":\"c\","
		    "\"message\":\"no\"}}",
		"{\"method\":\"send\",\"method\":\"send\"}",
		NULL
	};
	struct ad_cmd	c;
	int		i;

	for (i = 0; bad[i] != NULL; i++) {
		if (ad_cmd_parse(bad[i], strlen(bad[i]), &c) != SH_EPROTO) {
			printf("# accepted: %s\n", bad[i]);
			return (-1);
		}
		T_OK(c.ac_root == NULL);
		ad_cmd_release(&c);
	}
	return (0);
}

static int
t_cmd_unknown(void)
{
	const char	*l = "{\"method\":\"frobnicate\",\"params\":{\"x\":[1]}}";
	const char	*l2 = "{\"method\":\"future\",\"params\":{\"text\":5}}";
	struct ad_cmd	 c;

	T_OK(ad_cmd_parse(l, strlen(l), &c) == 0);
	T_EQ_INT(c.ac_type, AD_CMD_UNKNOWN);
	T_EQ_STR(c.ac_method, "frobnicate");
	ad_cmd_release(&c);
	/* A field of an unknown command is not checked against ours. */
	T_OK(ad_cmd_parse(l2, strlen(l2), &c) == 0);
	T_EQ_INT(c.ac_type, AD_CMD_UNKNOWN);
	ad_cmd_release(&c);
	return (0);
}

/* Reads a corpus file as text (new) and as JSON (new). */
static char *
corpus(const char *rel, json_t **j)
{
	char		 path[1024];
	FILE		*f;
	char		*buf;
	long		 n;
	json_error_t	 e;

	snprintf(path, sizeof(path), "%s/data/sidecar-conformance/corpus/%s",
	    shared, rel);
	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		return (NULL);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	if ((buf = calloc(1, (size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	fclose(f);
	if ((*j = json_loads(buf, 0, &e)) == NULL) {
		printf("# %s: %s\n", path, e.text);
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* A corpus command parses (as the pretty-printed file, newlines and
 * all: JSON does not care) to the type and fields listed. */
static int
t_cmd_corpus(void)
{
	static const struct {
		const char		*file;
		enum ad_cmd_type	 type;
		const char		*channel, *text, *thread, *stream;
	} cases[] = {
		{ "heartbeat.json", AD_CMD_HEARTBEAT, NULL, NULL, NULL, NULL },
		{ "ready_ack.json", AD_CMD_READY_ACK, NULL, NULL, NULL, NULL },
		{ "shutdown.json", AD_CMD_SHUTDOWN, NULL, NULL, NULL, NULL },
		{ "send_minimal.json", AD_CMD_SEND, "c1", "hi", NULL, NULL },
		{ "send_full.json", AD_CMD_SEND, "c1", "hello", "t1", NULL },
		{ "typing.json", AD_CMD_TYPING, "c1", NULL, NULL, NULL },
		{ "reaction.json", AD_CMD_REACTION, "c1", NULL, NULL, NULL },
		{ "interactive.json", AD_CMD_INTERACTIVE, "c1", NULL, NULL,
		    NULL },
		{ "stream_start.json", AD_CMD_STREAM_START, "c1", NULL, NULL,
		    "s1" },
		{ "stream_start_threaded.json", AD_CMD_STREAM_START, "c1", NULL,
		    "t1", "s1" },
		{ "stream_delta.json", AD_CMD_STREAM_DELTA, NULL, "Hel", NULL,
		    "s1" },
		{ "stream_end.json", AD_CMD_STREAM_END, NULL, NULL, NULL, "s1" },
	};
	struct ad_cmd	 c;
	json_t		*j = NULL;
	char		 rel[128], *text;
	size_t		 i;
	int		 rv;

#define T_OPT_STR(a, b) do {						\
	if ((b) == NULL) T_OK((a) == NULL); else T_EQ_STR((a), (b));	\
} while (0)
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(rel, sizeof(rel), "commands/%s", cases[i].file);
		T_OK((text = corpus(rel, &j)) != NULL);
		rv = ad_cmd_parse(text, strlen(text), &c);
		free(text);
		json_decref(j);
		if (rv != 0) {
			printf("# %s did not parse\n", cases[i].file);
			return (-1);
		}
		T_EQ_INT(c.ac_type, cases[i].type);
		T_OPT_STR(c.ac_channel_id, cases[i].channel);
		T_OPT_STR(c.ac_text, cases[i].text);
		T_OPT_STR(c.ac_thread_id, cases[i].thread);
		T_OPT_STR(c.ac_stream_id, cases[i].stream);
		if (c.ac_type == AD_CMD_SEND) {
			T_EQ_STR(c.ac_user_id, "c1");
			T_OK(c.ac_thread_id == NULL ||
			    json_equal(c.ac_content,
			    json_object_get(json_object_get(c.ac_root,
			    "params"), "content")));
		}
		if (c.ac_type == AD_CMD_REACTION) {
			T_EQ_STR(c.ac_message_id, "55");
			T_EQ_STR(c.ac_reaction, "\xf0\x9f\x91\x8d");
			T_OK(c.ac_phase == NULL && c.ac_tool_name == NULL);
		}
		if (c.ac_type == AD_CMD_INTERACTIVE)
			T_EQ_STR(json_string_value(json_object_get(
			    c.ac_message, "text")), "pick");
		ad_cmd_release(&c);
	}
	return (0);
}

/* ---- events ----------------------------------------------------------- */

/* ev equals the corpus event file by JSON value, and its line (what is
 * written) parses back to the same value.  Steals ev. */
static int
same_as(json_t *ev, const char *file)
{
	json_t	*want = NULL, *back = NULL;
	char	 rel[128], *text, *line = NULL;
	int	 ret = -1;

	snprintf(rel, sizeof(rel), "events/%s", file);
	if (ev == NULL || (text = corpus(rel, &want)) == NULL)
		goto done;
	free(text);
	if (!json_equal(ev, want)) {
		line = ad_frame_line(ev);
		printf("# %s: built %s\n", file, line ? line : "?");
		goto done;
	}
	if ((line = ad_frame_line(ev)) == NULL ||
	    strchr(line, '\n') != NULL ||
	    (back = json_loads(line, 0, NULL)) == NULL ||
	    !json_equal(back, want))
		goto done;
	ret = 0;
 done:
	free(line);
	json_decref(back);
	json_decref(want);
	json_decref(ev);
	return (ret);
}

static int
t_ev_corpus(void)
{
	static const char *const caps[] = { "typing", "reaction",
	    "interactive", "thread", "streaming", NULL };
	struct ad_ready	 r;
	struct ad_msg	 m;
	json_t		*empty = json_array(), *content;

	memset(&r, 0, sizeof(r));
	r.ar_suppress_errors = -1;
	T_OK(same_as(ad_ev_ready(&r), "ready_minimal.json") == 0);
	r.ar_capabilities = caps;
	r.ar_account_id = "bot-1";
	r.ar_suppress_errors = 0;
	r.ar_recipients = empty;
	r.ar_header_rules = empty;
	r.ar_protocol_version = 1;
	T_OK(same_as(ad_ev_ready(&r), "ready_full.json") == 0);
	json_decref(empty);

	memset(&m, 0, sizeof(m));
	m.am_user_id = "1";
	m.am_user_name = "Bob";
	m.am_text = "hi";
	T_OK(same_as(ad_ev_message(&m), "message_minimal.json") == 0);
	memset(&m, 0, sizeof(m));
	m.am_user_id = "42";
	m.am_user_name = "Alice";
	m.am_text = "hello";
	content = ad_content_from_text("hello");
	m.am_content = content;
	m.am_channel_id = "-100123";
	m.am_platform = "telegram";
	T_OK(same_as(ad_ev_message(&m), "message_text.json") == 0);
	json_decref(content);

	T_OK(same_as(ad_ev_typing("u", "n", 1), "typing.json") == 0);
	T_OK(same_as(ad_ev_error("boom"), "error.json") == 0);
	T_OK(same_as(ad_ev_qr_ready("wxp://f2f0YGcQ-xxxxxxxxxxxxxxxxxxxx",
	    "https://login.example/qr?code=abc", "Scan within 5 minutes",
	    "2026-05-28T20:00:00Z"), "qr_ready.json") == 0);
	T_OK(same_as(ad_ev_qr_status("confirmed", "Login confirmed"),
	    "qr_status.json") == 0);
	return (0);
}

static int
t_ev_required(void)
{
	struct ad_msg	m;

	memset(&m, 0, sizeof(m));
	m.am_user_id = "1";
	T_OK(ad_ev_message(&m) == NULL);	/* no user_name */
	T_OK(ad_ev_error(NULL) == NULL);
	T_OK(ad_ev_typing(NULL, "n", 0) == NULL);
	T_OK(ad_ev_qr_ready(NULL, NULL, NULL, NULL) == NULL);
	/* Text that is not UTF-8 is refused by jansson, not written. */
	m.am_user_name = "n";
	m.am_text = "\xff";
	T_OK(ad_ev_message(&m) == NULL);
	return (0);
}

static int
t_content(void)
{
	static const struct {
		const char	*text, *want;
	} cases[] = {
		{ "hello", "{\"Text\":\"hello\"}" },
		{ "/", "{\"Text\":\"/\"}" },
		{ "/ x", "{\"Text\":\"/ x\"}" },
		{ "//not a command", "{\"Text\":\"//not a command\"}" },
		{ "/help", "{\"Command\":{\"name\":\"help\",\"args\":[]}}" },
		{ "/agent  use\tcoder ", "{\"Command\":{\"name\":\"agent\","
		    "\"args\":[\"use\",\"coder\"]}}" },
	};
	json_t	*got, *want;
	size_t	 i;
	int	 eq;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = ad_content_from_text(cases[i].text);
		want = json_loads(cases[i].want, 0, NULL);
		eq = got != NULL && want != NULL && json_equal(got, want);
		json_decref(got);
		json_decref(want);
		if (!eq) {
			printf("# content of '%s'\n", cases[i].text);
			return (-1);
		}
	}
	return (0);
}

static int
t_utf8_clean(void)
{
	char	*s;

	T_OK((s = ad_utf8_clean("caf\xe9 \xc3\xa9 \xf0\x9f\x98\x80", 12)) !=
	    NULL);
	T_EQ_STR(s, "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80");
	free(s);
	/* A cut sequence and a NUL: Latin-1 and U+FFFD. */
	T_OK((s = ad_utf8_clean("a\xe2\x82\0b", 5)) != NULL);
	T_EQ_STR(s, "a\xc3\xa2\xc2\x82\xef\xbf\xbd" "b");
	free(s);
	return (0);
}

static int
t_conf(void)
{
	static const struct ad_field fields[] = {
		{ "T_AD_HOST", "Host", AD_FIELD_TEXT, 1, "h", 0, NULL,
		    "default.example" },
		{ "T_AD_LIST", "List", AD_FIELD_LIST, 0, NULL, 0, NULL, NULL },
		{ "T_AD_N", "N", AD_FIELD_NUMBER, 0, NULL, 0, NULL, "7" },
		{ "T_AD_SECRET", "Secret", AD_FIELD_SECRET, 0, NULL, 0, NULL,
		    NULL },
		{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
	};
	static const struct ad_def def = { .ad_name = "t", .ad_display_name =
	    "T", .ad_description = "d", .ad_env = "T_AD", .ad_fields =
	    fields };
	char		 a0[] = "t", a1[] = "--describe";
	char		*argv[] = { a0, a1, NULL };
	json_t		*d;
	char		**l;
	long long	 n;

	/* ad_main() with --describe registers def and prints (to stdout:
	 * a line the harness ignores as not TAP). */
	printf("# ");
	fflush(stdout);
	T_EQ_INT(ad_main(&def, NULL, 2, argv), 0);
	unsetenv("T_AD_HOST");
	T_EQ_STR(ad_conf("T_AD_HOST"), "default.example");
	setenv("T_AD_HOST", "irc.example", 1);
	T_EQ_STR(ad_conf("T_AD_HOST"), "irc.example");
	setenv("T_AD_LIST", " #a, ,#b ,,", 1);
	T_OK((l = ad_conf_list("T_AD_LIST")) != NULL);
	T_EQ_STR(l[0], "#a");
	T_EQ_STR(l[1], "#b");
	T_OK(l[2] == NULL);
	ad_list_free(l);
	T_OK(ad_conf_num("T_AD_N", 1, 10, &n) == 0 && n == 7);
	setenv("T_AD_N", "11", 1);
	T_OK(ad_conf_num("T_AD_N", 1, 10, &n) == SH_EINVAL);

	T_OK((d = ad_describe(&def)) != NULL);
	T_EQ_INT(json_array_size(json_object_get(d, "fields")), 5);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(d, "fields"), 3), "type")), "secret");
	T_EQ_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(d, "fields"), 4), "key")), "T_AD_ALLOW_LOOPBACK");
	json_decref(d);
	return (0);
}

static int
t_backoff(void)
{
	uint64_t	ms;
	unsigned int	i;

	for (i = 0; i < 200; i++) {
		ms = ad_backoff_ms(i % 12);
		if (i % 12 == 0)
			T_OK(ms > 400 && ms <= 500);
		T_OK(ms >= 400 && ms <= AD_BACKOFF_MAX_MS);
	}
	T_OK(ad_backoff_ms(3) > 3200 && ad_backoff_ms(3) <= 4000);
	T_OK(ad_backoff_ms(100) > 24000);
	return (0);
}

static const struct tap_case cases[] = {
	{ "lines split across reads, CRLF and empty lines", t_lines_split },
	{ "a line past the bound is dropped whole, the next one kept",
	    t_lines_oversized },
	{ "malformed commands are refused", t_cmd_bad },
	{ "unknown methods parse as unknown (ignored), not as errors",
	    t_cmd_unknown },
	{ "every corpus command parses to its fields", t_cmd_corpus },
	{ "every corpus event equals the library's by JSON value",
	    t_ev_corpus },
	{ "an event without its required fields is not built",
	    t_ev_required },
	{ "message content: Text, or Command for /cmd", t_content },
	{ "platform text made UTF-8 (Latin-1 fallback)", t_utf8_clean },
	{ "configuration from the environment, and --describe", t_conf },
	{ "reconnect backoff doubles to 30 s with jitter", t_backoff },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char	*e;

	if (argc > 1)
		shared = argv[1];
	else if ((e = getenv("LF_SHARED")) != NULL)
		shared = e;
	log_init("t_adapter", LOG_LVL_ERROR, 0);
	return (tap_main(cases));
}
