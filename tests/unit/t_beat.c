/*
 * t_beat.c - the heartbeat table (libshared/beat.h): what is noted, what
 * is ignored, when an entry is down, gone and forgotten, and a full table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "beat.h"
#include "err.h"
#include "tap.h"

/* A beat of instance inst (service "memory") with seq and state. */
static json_t *
beat(const char *inst, long long started, long long seq, const char *state)
{
	return (json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:i, s:I, s:s}",
	    "service", "memory", "instance", inst, "host", "h", "pid", 42,
	    "version", "0.1.0", "started_ms", (json_int_t)started,
	    "uptime_seconds", (json_int_t)7, "interval_ms", 2000, "seq",
	    (json_int_t)seq, "state", state));
}

/* note() and drop the body; the result of beat_table_note(). */
static int
note(struct beat_table *bt, json_t *b, uint64_t now)
{
	int	rv = beat_table_note(bt, b, now, 1700000000000LL);

	json_decref(b);
	return (rv);
}

/* The state of the only entry (or -1 when the table does not hold one). */
static int
only_state(struct beat_table *bt, uint64_t now)
{
	struct beat_entry	*e;
	int			 n, st = -1;

	n = beat_table_list(bt, now, &e);
	if (n == 1)
		st = (int)beat_entry_state(&e[0], now);
	free(e);
	return (st);
}

static int
t_note_and_states(void)
{
	struct beat_table	*bt = beat_table_new();
	struct beat_entry	*e;
	int			 n;

	T_OK(bt != NULL);
	T_EQ_INT(note(bt, beat("h:42", 1000, 1, "up"), 10000), 0);
	n = beat_table_list(bt, 10000, &e);
	T_EQ_INT(n, 1);
	T_EQ_STR(e[0].be_service, "memory");
	T_EQ_STR(e[0].be_instance, "h:42");
	T_EQ_STR(e[0].be_version, "0.1.0");
	T_EQ_INT(e[0].be_pid, 42);
	T_EQ_INT(e[0].be_uptime, 7);
	T_EQ_INT(e[0].be_seen_wall, 1700000000000LL);
	free(e);
	/* Up for 3 intervals (6 s), down after. */
	T_EQ_INT(only_state(bt, 16000), BEAT_UP);
	T_EQ_INT(only_state(bt, 16001), BEAT_DOWN);
	/* A beat brings it back. */
	T_EQ_INT(note(bt, beat("h:42", 1000, 2, "up"), 17000), 0);
	T_EQ_INT(only_state(bt, 17000), BEAT_UP);
	/* The goodbye: gone at once. */
	T_EQ_INT(note(bt, beat("h:42", 1000, 3, "leaving"), 17500), 0);
	T_EQ_INT(only_state(bt, 17500), BEAT_GONE);
	T_OK(strcmp(beat_state_name(BEAT_GONE), "gone") == 0);
	beat_table_free(bt);
	return (0);
}

/* Copies through a second broker, and a process in an old one's place. */
static int
t_copies_and_restarts(void)
{
	struct beat_table	*bt = beat_table_new();

	T_OK(bt != NULL);
	T_EQ_INT(note(bt, beat("h:42", 1000, 5, "up"), 10000), 0);
	T_EQ_INT(note(bt, beat("h:42", 1000, 6, "leaving"), 10100), 0);
	/* A late copy of beat 5 does not undo the goodbye, nor refresh. */
	T_EQ_INT(note(bt, beat("h:42", 1000, 5, "up"), 10200), 0);
	T_EQ_INT(only_state(bt, 10200), BEAT_GONE);
	/* A new process with the same name (a container restarted) counts
	 * from 1 again: its later start tells it apart. */
	T_EQ_INT(note(bt, beat("h:42", 5000, 1, "up"), 11000), 0);
	T_EQ_INT(only_state(bt, 11000), BEAT_UP);
	/* A late copy of the old process's goodbye is the old one's. */
	T_EQ_INT(note(bt, beat("h:42", 1000, 6, "leaving"), 11100), 0);
	T_EQ_INT(only_state(bt, 11100), BEAT_UP);
	/* Another instance is another entry, listed in order. */
	T_EQ_INT(note(bt, beat("a:1", 1000, 1, "up"), 11200), 0);
	{
		struct beat_entry	*e;
		int			 n = beat_table_list(bt, 11200, &e);

		T_EQ_INT(n, 2);
		T_EQ_STR(e[0].be_instance, "a:1");
		T_EQ_STR(e[1].be_instance, "h:42");
		free(e);
	}
	beat_table_free(bt);
	return (0);
}

static int
t_forget(void)
{
	struct beat_table	*bt = beat_table_new();

	T_OK(bt != NULL);
	T_EQ_INT(note(bt, beat("gone:1", 1, 1, "leaving"), 1000), 0);
	T_EQ_INT(note(bt, beat("down:1", 1, 1, "up"), 1000), 0);
	{
		struct beat_entry	*e;

		/* A goodbye is kept a minute, a silent process 10. */
		T_EQ_INT(beat_table_list(bt, 1000 + BEAT_FORGET_GONE_MS, &e),
		    2);
		free(e);
		T_EQ_INT(beat_table_list(bt, 1001 + BEAT_FORGET_GONE_MS, &e),
		    1);
		T_EQ_STR(e[0].be_instance, "down:1");
		free(e);
		T_EQ_INT(beat_table_list(bt, 1001 + BEAT_FORGET_DOWN_MS, &e),
		    0);
		free(e);
	}
	beat_table_free(bt);
	return (0);
}

/* Bodies that are no beat: each is refused and nothing is listed. */
static int
t_bad(void)
{
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"service\":\"memory\"}",
		/* each of these is the good one below with one change */
		"{\"service\":\"memory\",\"instance\":\"a\\\"b\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"a b\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"a\\\\b\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory-memory-memory-memory-memory\","
		"\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":0,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":0,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"sleeping\"}",
		"{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":\"1\",\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
		"\"state\":\"up\"}",
		"{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"h\","
		"\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
		"\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":-1,"
		"\"state\":\"up\"}",
		NULL
	};
	static const char good[] =
	    "{\"service\":\"memory\",\"instance\":\"ab\",\"host\":\"\","
	    "\"pid\":1,\"version\":\"1\",\"started_ms\":1,"
	    "\"uptime_seconds\":1,\"interval_ms\":2000,\"seq\":1,"
	    "\"state\":\"up\",\"something_new\":true}";
	struct beat_table	*bt = beat_table_new();
	struct beat_entry	*e;
	json_t			*b;
	int			 i;

	T_OK(bt != NULL);
	for (i = 0; bad[i] != NULL; i++) {
		b = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		T_OK(b != NULL);
		if (note(bt, b, 1000) != SH_EINVAL) {
			printf("# accepted: %s\n", bad[i]);
			return (-1);
		}
	}
	T_EQ_INT(beat_table_list(bt, 1000, &e), 0);
	free(e);
	/* The good one, an empty host and a field it does not know. */
	T_EQ_INT(note(bt, json_loads(good, 0, NULL), 1000), 0);
	T_EQ_INT(beat_table_list(bt, 1000, &e), 1);
	free(e);
	beat_table_free(bt);
	return (0);
}

static int
t_full(void)
{
	struct beat_table	*bt = beat_table_new();
	struct beat_entry	*e;
	char			 name[32];
	int			 i;

	T_OK(bt != NULL);
	for (i = 0; i < BEAT_MAX; i++) {
		snprintf(name, sizeof(name), "h:%d", i + 1);
		T_EQ_INT(note(bt, beat(name, 1, 1, "up"), 1000 + (uint64_t)i),
		    0);
	}
	/* All up: no room, and nobody is pushed out. */
	T_EQ_INT(note(bt, beat("late:1", 1, 1, "up"), 2000), SH_ETOOBIG);
	/* One says goodbye: the newcomer takes its place. */
	T_EQ_INT(note(bt, beat("h:7", 1, 2, "leaving"), 2000), 0);
	T_EQ_INT(note(bt, beat("late:1", 1, 1, "up"), 2001), 0);
	T_EQ_INT(beat_table_list(bt, 2001, &e), BEAT_MAX);
	for (i = 0; i < BEAT_MAX; i++)
		T_OK(strcmp(e[i].be_instance, "h:7") != 0);
	free(e);
	beat_table_free(bt);
	return (0);
}

/* A beat's brokers: kept as said, replaced by the next beat, and a
 * malformed list refuses the beat. */
static int
t_brokers(void)
{
	static const char *const bad[] = {
		"{}",
		"[{\"url\":\"tcp://bus:7000\",\"connected\":1,"
		"\"since_ms\":5}]",
		"[{\"url\":\"tcp://b us:7000\",\"connected\":true,"
		"\"since_ms\":5}]",
		"[{\"url\":\"\",\"connected\":true,\"since_ms\":5}]",
		"[{\"url\":\"tcp://bus:7000\",\"connected\":true,"
		"\"since_ms\":-5}]",
		"[{\"url\":\"tcp://bus:7000\",\"connected\":true}]",
		"[1, 2, 3, 4, 5]",
		NULL
	};
	struct beat_table	*bt = beat_table_new();
	struct beat_entry	*e;
	json_t			*b;
	int			 i;

	T_OK(bt != NULL);
	b = beat("h:1", 1, 1, "up");
	json_object_set_new(b, "brokers", json_pack("[{s:s, s:b, s:I}, "
	    "{s:s, s:b, s:I}]", "url", "tcp://bus:7000", "connected", 1,
	    "since_ms", (json_int_t)1700000000123LL, "url", "tcp://bus2:7000",
	    "connected", 0, "since_ms", (json_int_t)1700000000456LL));
	T_EQ_INT(note(bt, b, 1000), 0);
	T_EQ_INT(beat_table_list(bt, 1000, &e), 1);
	T_EQ_INT(e[0].be_nbrokers, 2);
	T_OK(strcmp(e[0].be_brokers[0].bb_url, "tcp://bus:7000") == 0);
	T_EQ_INT(e[0].be_brokers[0].bb_connected, 1);
	T_OK(e[0].be_brokers[0].bb_since_ms == 1700000000123LL);
	T_OK(strcmp(e[0].be_brokers[1].bb_url, "tcp://bus2:7000") == 0);
	T_EQ_INT(e[0].be_brokers[1].bb_connected, 0);
	free(e);
	/* The next beat says nothing of brokers (an older process): none. */
	T_EQ_INT(note(bt, beat("h:1", 1, 2, "up"), 1100), 0);
	T_EQ_INT(beat_table_list(bt, 1100, &e), 1);
	T_EQ_INT(e[0].be_nbrokers, 0);
	free(e);
	for (i = 0; bad[i] != NULL; i++) {
		b = beat("h:1", 1, 3 + i, "up");
		json_object_set_new(b, "brokers", json_loads(bad[i],
		    JSON_DECODE_ANY, NULL));
		if (note(bt, b, 1200) != SH_EINVAL) {
			printf("# accepted brokers: %s\n", bad[i]);
			return (-1);
		}
	}
	beat_table_free(bt);
	return (0);
}

static const struct tap_case cases[] = {
	{ "a beat is noted: up, down after 3 intervals, gone after its "
	  "goodbye", t_note_and_states },
	{ "copies and late beats are ignored; a new process takes the name",
	  t_copies_and_restarts },
	{ "goodbyes are forgotten after a minute, silent ones after 10",
	  t_forget },
	{ "bodies that are no beat are refused", t_bad },
	{ "a full table makes room only from processes not up", t_full },
	{ "a beat's brokers are kept as said; a malformed list is refused",
	  t_brokers },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
