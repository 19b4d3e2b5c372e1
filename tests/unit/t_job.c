/*
 * t_job.c - the scheduler's jobs (job/): the next slot of each schedule
 * kind, and what a due job fires under each catch-up policy after a
 * downtime (job_decide()), as a table of cases.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "job/job.h"
#include "tap.h"

static struct job_sched
every(long long secs)
{
	struct job_sched s;

	memset(&s, 0, sizeof(s));
	snprintf(s.js_kind, sizeof(s.js_kind), "every");
	s.js_every = secs;
	return (s);
}

static struct job_sched
at(int64_t t)
{
	struct job_sched s;

	memset(&s, 0, sizeof(s));
	snprintf(s.js_kind, sizeof(s.js_kind), "at");
	s.js_at = t;
	return (s);
}

static struct job_sched
cron(const char *expr, const char *tz)
{
	struct job_sched s;

	memset(&s, 0, sizeof(s));
	snprintf(s.js_kind, sizeof(s.js_kind), "cron");
	s.js_expr = expr;
	s.js_tz = tz;
	return (s);
}

static int
t_next(void)
{
	struct job_sched s;
	int64_t		 n;
	char		 err[256];

	s = every(60);
	T_EQ_INT(job_next_slot(&s, 1000, &n, err, sizeof(err)), 0);
	T_EQ_INT(n, 1060);
	s = at(5000);
	T_EQ_INT(job_next_slot(&s, 1000, &n, err, sizeof(err)), 0);
	T_EQ_INT(n, 5000);
	T_EQ_INT(job_next_slot(&s, 5000, &n, err, sizeof(err)), -1);
	T_OK(strstr(err, "past") != NULL);
	/* 2026-01-01T00:00:00Z is 1767225600, a Thursday. */
	s = cron("*/15 * * * *", NULL);
	T_EQ_INT(job_next_slot(&s, 1767225600, &n, err, sizeof(err)), 0);
	T_EQ_INT(n, 1767225600 + 900);
	s = cron("0 9 * * *", "Europe/Paris");	/* 08:00 UTC in winter */
	T_EQ_INT(job_next_slot(&s, 1767225600, &n, err, sizeof(err)), 0);
	T_EQ_INT(n, 1767225600 + 8 * 3600);
	s = cron("0 0 30 2 *", NULL);
	T_EQ_INT(job_next_slot(&s, 1767225600, &n, err, sizeof(err)), -1);
	T_OK(strstr(err, "never") != NULL);
	return (0);
}

/* One case of job_decide(): a schedule, policy and one_shot, the due
 * slot and now; the slot fired, the next_run and the missed count. */
static const struct decide_case {
	const char	*dc_what;
	char		 dc_kind;	/* e every 10 s, a at, c cron */
	const char	*dc_policy;
	int		 dc_one_shot;
	int64_t		 dc_due, dc_now;
	int64_t		 dc_fire, dc_next;
	long long	 dc_missed;
} decide_cases[] = {
	{ "on time", 'e', "once", 0, 100, 100, 100, 110, 0 },
	{ "on time, late in the slot", 'e', "once", 0, 100, 109, 100, 110, 0 },
	{ "once after downtime: the latest", 'e', "once", 0, 100, 155,
	    150, 160, 5 },
	{ "skip after downtime: none", 'e', "skip", 0, 100, 155, -1, 160, 6 },
	{ "skip on time fires", 'e', "skip", 0, 100, 101, 100, 110, 0 },
	{ "all: the oldest first", 'e', "all", 0, 100, 125, 100, 110, 0 },
	{ "all beyond max_catch_up (3)", 'e', "all", 0, 100, 155, 130, 140,
	    3 },
	{ "all, one slot", 'e', "all", 0, 100, 100, 100, 110, 0 },
	{ "one_shot interval: nothing next", 'e', "once", 1, 100, 100, 100,
	    -1, 0 },
	{ "at: fires once, late or not", 'a', "once", 0, 100, 4000, 100, -1,
	    0 },
	{ "cron once after downtime", 'c', "once", 0, 1767225600,
	    1767225600 + 17 * 60, 1767225600 + 15 * 60, 1767225600 + 20 * 60,
	    3 },
	{ "cron all beyond max_catch_up (7 due, 3 kept)", 'c', "all", 0,
	    1767225600, 1767225600 + 30 * 60, 1767225600 + 20 * 60,
	    1767225600 + 25 * 60, 4 },
	{ NULL, 0, NULL, 0, 0, 0, 0, 0, 0 }
};

static int
t_decide(void)
{
	const struct decide_case *dc;
	struct job_sched s;
	int64_t		 fire, next;
	long long	 missed;

	job_conf.jc_max_catch_up = 3;
	job_conf.jc_grace_secs = 30;
	for (dc = decide_cases; dc->dc_what != NULL; dc++) {
		if (dc->dc_kind == 'e')
			s = every(10);
		else if (dc->dc_kind == 'a')
			s = at(dc->dc_due);
		else
			s = cron("*/5 * * * *", "UTC");
		job_decide(&s, dc->dc_policy, dc->dc_one_shot, dc->dc_due,
		    dc->dc_now, &fire, &next, &missed);
		if (fire != dc->dc_fire || next != dc->dc_next ||
		    missed != dc->dc_missed) {
			printf("# %s: fire %lld next %lld missed %lld, expected "
			    "%lld %lld %lld\n", dc->dc_what, (long long)fire,
			    (long long)next, missed, (long long)dc->dc_fire,
			    (long long)dc->dc_next, dc->dc_missed);
			return (-1);
		}
	}
	return (0);
}

/* A slot late by more than the grace, alone: skip lets it go. */
static int
t_grace(void)
{
	struct job_sched s = every(600);
	int64_t		 fire, next;
	long long	 missed;

	job_conf.jc_grace_secs = 30;
	job_decide(&s, "skip", 0, 1000, 1040, &fire, &next, &missed);
	T_EQ_INT(fire, -1);
	T_EQ_INT(next, 1600);
	T_EQ_INT(missed, 1);
	job_decide(&s, "once", 0, 1000, 1040, &fire, &next, &missed);
	T_EQ_INT(fire, 1000);
	T_EQ_INT(missed, 0);
	return (0);
}

static const struct tap_case cases[] = {
	{ "the next slot of every, at and cron schedules", t_next },
	{ "catch-up: once, skip and all after a downtime", t_decide },
	{ "skip: a slot later than the grace does not fire", t_grace },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
