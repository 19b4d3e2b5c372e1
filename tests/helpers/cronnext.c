/*
 * cronnext - the next fire times of a cron expression (services/scheduler/
 * cron/cron.h), for tests/integration/t5000-cron.sh and by hand.
 *
 *   cronnext [-n N] EXPR [TZ [AFTER]]
 *	prints the next N (default 5) fire times after AFTER (epoch seconds,
 *	default now), one a line: epoch seconds and the UTC time.
 *   cronnext -b [-n N]
 *	batch: reads lines "AFTER<TAB>TZ<TAB>EXPR" from stdin and prints,
 *	per line, the next N fire times (epoch seconds, space-separated;
 *	fewer if the five-year horizon ends them), or "error: <reason>".
 *
 * Exits 0, or 1 on bad usage or (single mode) a rejected expression.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cron/cron.h"
#include "util.h"

static void
usage(void)
{
	fprintf(stderr, "usage: cronnext [-n N] EXPR [TZ [AFTER]]\n"
	    "       cronnext -b [-n N] < cases\n");
	exit(1);
}

/* Prints the next n fires of expr in tz after `after` as one line. */
static void
batch_line(const char *expr, const char *tz, int64_t after, int n)
{
	struct cron	*c = NULL;
	char		 err[256];
	int64_t		 t = after;
	int		 i;

	if (cron_parse(expr, tz, &c, err, sizeof(err)) != 0) {
		printf("error: %s\n", err);
		return;
	}
	for (i = 0; i < n && cron_next(c, t, &t) == 0; i++)
		printf("%s%lld", i > 0 ? " " : "", (long long)t);
	printf("\n");
	cron_free(c);
}

static int
batch(int n)
{
	char		 line[1024], *tab1, *tab2;
	long long	 after;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((tab1 = strchr(line, '\t')) == NULL ||
		    (tab2 = strchr(tab1 + 1, '\t')) == NULL) {
			printf("error: bad input line\n");
			continue;
		}
		*tab1 = *tab2 = '\0';
		if (util_strtonum(line, -(1LL << 40), 1LL << 40, &after) != 0) {
			printf("error: bad instant '%s'\n", line);
			continue;
		}
		batch_line(tab2 + 1, tab1 + 1, after, n);
		fflush(stdout);
	}
	return (0);
}

int
main(int argc, char *argv[])
{
	struct cron	*c = NULL;
	char		 err[256], when[32];
	long long	 v, n = 5, after;
	int64_t		 t;
	int		 ch, bflag = 0, i;

	while ((ch = getopt(argc, argv, "bn:")) != -1) {
		switch (ch) {
		case 'b':
			bflag = 1;
			break;
		case 'n':
			if (util_strtonum(optarg, 1, 100000, &n) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (bflag)
		return (argc == 0 ? batch((int)n) : 1);
	if (argc < 1 || argc > 3)
		usage();
	after = (long long)time(NULL);
	if (argc == 3) {
		if (util_strtonum(argv[2], -(1LL << 40), 1LL << 40, &v) != 0)
			usage();
		after = v;
	}
	if (cron_parse(argv[0], argc > 1 ? argv[1] : NULL, &c, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "cronnext: %s\n", err);
		return (1);
	}
	t = after;
	for (i = 0; i < n && cron_next(c, t, &t) == 0; i++) {
		util_rfc3339(t * 1000, when);
		printf("%lld %s\n", (long long)t, when);
	}
	cron_free(c);
	return (0);
}
