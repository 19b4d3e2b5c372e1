/*
 * skillbench - the skills figure of `make bench` (tests/bench/skills.sh;
 * issue 15 "the added cost to a turn of 10 prompt-context skills"): the
 * time skill_prompt() adds to a turn's system prompt when the agent's
 * skills are ten prompt-context skills of about 1,500 characters each
 * and the replica's snapshot holds the version the take read (the
 * common case: no statement), beside an agent with skills_disabled (the
 * call and nothing else) as the floor.
 *
 *   skillbench [N]	N calls each (default 20000, after N/10 warm-up)
 *
 * Prints one line a figure: "<label> p50_us <x> p99_us <y> bytes <n>",
 * with microseconds to two decimals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "skill/skill.h"
#include "util.h"

#define NSKILLS	10

static int
cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
measure(const char *label, json_t *am, long n)
{
	struct buf	 b = BUF_INIT(1024 * 1024);
	uint64_t	*ns = calloc((size_t)n, sizeof(*ns)), t0;
	size_t		 bytes = 0;
	long		 i;

	if (ns == NULL)
		exit(1);
	for (i = -n / 10; i < n; i++) {
		buf_reset(&b);
		t0 = util_now_ns();
		if (skill_prompt(&b, am, 1, NULL) != 0) {
			printf("%s failed\n", label);
			exit(1);
		}
		if (i >= 0)
			ns[i] = util_now_ns() - t0;
		bytes = b.b_len;
	}
	qsort(ns, (size_t)n, sizeof(*ns), cmp);
	printf("%s p50_us %.2f p99_us %.2f bytes %zu\n", label,
	    (double)ns[n / 2] / 1000.0, (double)ns[n * 99 / 100] / 1000.0,
	    bytes);
	free(ns);
	buf_release(&b);
}

int
main(int argc, char **argv)
{
	json_t	*rows = json_array(), *all, *none;
	char	 name[32], prompt[1600];
	long	 n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	int	 i;

	if (n < 10)
		n = 10;
	for (i = 0; i < (int)sizeof(prompt) - 1; i++)
		prompt[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
	prompt[sizeof(prompt) - 1] = '\0';
	for (i = 0; i < NSKILLS; i++) {
		snprintf(name, sizeof(name), "bench-skill-%02d", i);
		json_array_append_new(rows, json_pack("{s:s, s:{s:{s:s, s:s, "
		    "s:[s]}}, s:s}", "name", name, "manifest", "skill", "name",
		    name, "description", "A skill for the bench, with a "
		    "description of a usual length.", "tags", i % 2 ? "alpha" :
		    "beta", "prompt_context", prompt));
	}
	if (skill_snapshot_load(rows, 1) != 0)
		return (1);
	all = json_object();
	none = json_pack("{s:b}", "skills_disabled", 1);
	measure("10_skills", all, n);
	measure("floor_no_skills", none, n);
	json_decref(all);
	json_decref(none);
	json_decref(rows);
	skill_snapshot_drop();
	return (0);
}
