/*
 * cronbench - the cron_next() figure of `make bench` (tests/bench/cron.sh):
 * calls per second for a few expressions and zones, from instants spread
 * over ten years, beside gmtime_r() over the same instants as the floor
 * (the cheapest conversion from an instant to fields there is) and, for
 * reference, glibc's localtime_r() in America/New_York.
 *
 *   cronbench [SECS]	about SECS (default 0.5) per figure
 *
 * Prints one line a figure: "<label>\t<calls/s>\t<ns/call>".  This process
 * is single-threaded, so setting TZ for localtime_r() is harmless here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cron/cron.h"
#include "util.h"

#define SPAN	(INT64_C(3652) * 86400)
#define BATCH	4096

static const struct {
	const char	*expr;
	const char	*tz;
} cases[] = {
	{ "* * * * *",			NULL },
	{ "*/15 9-17 * * mon-fri",	"America/New_York" },
	{ "30 2 * * *",			"Europe/Berlin" },
	{ "0 0 13 * 5",			"Australia/Lord_Howe" },
	{ "0 9 * * 1",			"Asia/Kathmandu" },
	{ "0 0 29 2 *",			NULL },
};

static volatile int64_t	 sink;

static int64_t
instant(uint64_t i)
{
	return (INT64_C(1767225600) + (int64_t)((i * 7919) % SPAN));
}

/* kind 0: cron_next(c); 1: gmtime_r; 2: localtime_r. */
static void
measure(const char *label, int kind, const struct cron *c, double secs)
{
	struct tm	 tm;
	time_t		 tt;
	uint64_t	 t0, el, n = 0, k;
	int64_t		 next;

	t0 = util_now_ns();
	do {
		for (k = 0; k < BATCH; k++, n++) {
			tt = (time_t)instant(n);
			if (kind == 0) {
				if (cron_next(c, tt, &next) == 0)
					sink += next;
			} else if (kind == 1) {
				sink += gmtime_r(&tt, &tm)->tm_min;
			} else {
				sink += localtime_r(&tt, &tm)->tm_min;
			}
		}
		el = util_now_ns() - t0;
	} while (el < (uint64_t)(secs * 1e9));
	printf("%s\t%.0f\t%.0f\n", label, (double)n * 1e9 / (double)el,
	    (double)el / (double)n);
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	struct cron	*c;
	char		 err[256], label[128];
	double		 secs = argc > 1 ? strtod(argv[1], NULL) : 0.5;
	size_t		 i;

	if (secs <= 0 || secs > 60)
		secs = 0.5;
	measure("gmtime_r (floor)", 1, NULL, secs);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cron_parse(cases[i].expr, cases[i].tz, &c, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "cronbench: %s\n", err);
			return (1);
		}
		snprintf(label, sizeof(label), "%s  %s", cases[i].expr,
		    cases[i].tz != NULL ? cases[i].tz : "UTC");
		measure(label, 0, c, secs);
		cron_free(c);
	}
	setenv("TZ", "America/New_York", 1);
	tzset();
	measure("localtime_r America/New_York", 2, NULL, secs);
	return (0);
}
