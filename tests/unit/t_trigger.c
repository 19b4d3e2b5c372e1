/*
 * t_trigger.c - the scheduler's trigger patterns (trigger/pattern.c):
 * parsing and normalising, matching every kind of notes/kernel.md 2.3
 * against events as msg_event() builds them, cooldown subjects, the
 * {{event}} descriptions of 2.4 and the rendering of templates.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "msg.h"
#include "tap.h"
#include "trigger/trigger.h"

#define OWNER	"11111111-2222-4333-8444-555555555555"
#define OTHER	"99999999-2222-4333-8444-555555555555"

static json_t *
pat(const char *text)
{
	json_t	*in = json_loads(text, JSON_DECODE_ANY, NULL), *out;
	char	 err[256];

	out = trigger_pattern_parse(in, err, sizeof(err));
	json_decref(in);
	return (out);
}

/* 1 if text parses to the normalised form want. */
static int
normalises(const char *text, const char *want)
{
	json_t	*p = pat(text), *w = json_loads(want, 0, NULL);
	int	 ok = p != NULL && w != NULL && json_equal(p, w);

	json_decref(p);
	json_decref(w);
	return (ok);
}

static int
refused(const char *text)
{
	json_t	*p = pat(text);

	json_decref(p);
	return (p == NULL);
}

static int
t_parse(void)
{
	T_OK(normalises("\"all\"", "{\"all\":{}}"));
	T_OK(normalises("{\"lifecycle\":{}}", "{\"lifecycle\":{}}"));
	T_OK(normalises("{\"lifecycle\":null}", "{\"lifecycle\":{}}"));
	T_OK(normalises("\"agent_spawned\"",
	    "{\"agent_spawned\":{\"name_pattern\":\"*\"}}"));
	T_OK(normalises("{\"agent_spawned\":{\"name_pattern\":\"co\"}}",
	    "{\"agent_spawned\":{\"name_pattern\":\"co\"}}"));
	T_OK(normalises("\"task_posted\"", "{\"task_posted\":{}}"));
	T_OK(normalises("{\"task_completed\":{\"creator_match\":\"self\"}}",
	    "{\"task_completed\":{\"creator_match\":\"self\"}}"));
	T_OK(refused("\"sometimes\""));
	T_OK(refused("42"));
	T_OK(refused("{}"));
	T_OK(refused("{\"all\":{},\"system\":{}}"));
	T_OK(refused("{\"all\":{\"x\":1}}"));
	T_OK(refused("{\"all\":[]}"));
	T_OK(refused("{\"content_match\":{}}"));
	T_OK(refused("{\"content_match\":{\"substring\":\"\"}}"));
	T_OK(refused("{\"system_keyword\":{\"keyword\":3}}"));
	T_OK(refused("{\"task_posted\":{\"creator_match\":\"x\"}}"));
	return (0);
}

/* Does pattern text match event? */
static int
m(const char *pattern, json_t *ev)
{
	json_t	*p = pat(pattern);
	int	 rv = p != NULL && trigger_pattern_match(p, ev, OWNER, "me");

	json_decref(p);
	return (rv);
}

static json_t *
spawned(const char *name)
{
	return (msg_event(OTHER, "Lifecycle", json_pack("{s:s, s:s, s:s}",
	    "event", "Spawned", "agent_id", OTHER, "name", name), 0));
}

static json_t *
task(const char *variant, const char *field, const char *who)
{
	json_t	*d = json_pack("{s:s, s:s, s:s}", "event", variant, "task_id",
	    "t-1", "title", "Fix the build");

	if (who != NULL)
		json_object_set_new(d, field, json_string(who));
	return (msg_event("", "System", d, 0));
}

static int
t_match(void)
{
	json_t	*sp = spawned("coder-7"), *term, *mem, *quota, *tp;
	int	 ok = 1;

	term = msg_event(OTHER, "Lifecycle", json_pack("{s:s, s:s, s:s}",
	    "event", "Terminated", "agent_id", OTHER, "reason", "killed"), 0);
	mem = msg_event(OWNER, "MemoryUpdate", json_pack("{s:s, s:s, s:s}",
	    "operation", "created", "key", "peer:1:todo", "agent_id", OWNER),
	    0);
	quota = msg_event("", "System", json_pack("{s:s, s:s, s:s, s:f}",
	    "event", "QuotaWarning", "agent_id", OWNER, "resource", "tokens",
	    "usage_percent", 91.5), 0);
	ok &= m("\"all\"", sp) && m("\"all\"", mem);
	ok &= m("\"lifecycle\"", sp) && m("\"lifecycle\"", term) &&
	    !m("\"lifecycle\"", mem);
	ok &= m("{\"agent_spawned\":{\"name_pattern\":\"*\"}}", sp);
	ok &= m("{\"agent_spawned\":{\"name_pattern\":\"der-\"}}", sp);
	/* a substring, case-sensitive, never a glob */
	ok &= !m("{\"agent_spawned\":{\"name_pattern\":\"Coder\"}}", sp);
	ok &= !m("{\"agent_spawned\":{\"name_pattern\":\"cod*\"}}", sp);
	ok &= !m("\"agent_spawned\"", term);
	ok &= m("\"agent_terminated\"", term) && !m("\"agent_terminated\"",
	    sp);
	ok &= m("\"memory_update\"", mem) && !m("\"memory_update\"", sp);
	ok &= m("{\"memory_key_pattern\":{\"key_pattern\":\"todo\"}}", mem);
	ok &= !m("{\"memory_key_pattern\":{\"key_pattern\":\"TODO\"}}", mem);
	ok &= m("\"system\"", quota) && !m("\"system\"", sp);
	/* the canonical text: "QuotaWarning { agent_id: ..., ... }" */
	ok &= m("{\"system_keyword\":{\"keyword\":\"QUOTAwarning\"}}", quota);
	ok &= m("{\"system_keyword\":{\"keyword\":\"resource: \\\"tokens\"}}",
	    quota);
	ok &= !m("{\"system_keyword\":{\"keyword\":\"spawned\"}}", sp);
	/* content_match: the description, case ignored */
	ok &= m("{\"content_match\":{\"substring\":\"WAS SPAWNED\"}}", sp);
	ok &= !m("{\"content_match\":{\"substring\":\"terminated\"}}", sp);
	json_decref(sp);
	json_decref(term);
	json_decref(mem);
	json_decref(quota);
	T_OK(ok);

	tp = task("TaskPosted", "assigned_to", OWNER);
	ok = m("\"task_posted\"", tp) &&
	    m("{\"task_posted\":{\"assignee_match\":\"self\"}}", tp) &&
	    m("{\"task_posted\":{\"assignee_match\":\"any\"}}", tp) &&
	    m("{\"task_posted\":{\"assignee_match\":\"" OWNER "\"}}", tp) &&
	    !m("{\"task_posted\":{\"assignee_match\":\"unassigned\"}}", tp) &&
	    !m("{\"task_posted\":{\"assignee_match\":\"" OTHER "\"}}", tp) &&
	    !m("\"task_claimed\"", tp);
	json_decref(tp);
	T_OK(ok);
	tp = task("TaskPosted", "assigned_to", "me");	/* the owner's name */
	ok = m("{\"task_posted\":{\"assignee_match\":\"self\"}}", tp);
	json_decref(tp);
	T_OK(ok);
	tp = task("TaskPosted", "assigned_to", NULL);
	ok = m("{\"task_posted\":{\"assignee_match\":\"unassigned\"}}", tp) &&
	    !m("{\"task_posted\":{\"assignee_match\":\"self\"}}", tp) &&
	    m("\"task_posted\"", tp);
	json_decref(tp);
	T_OK(ok);
	tp = task("TaskCompleted", "created_by", OWNER);
	ok = m("{\"task_completed\":{\"creator_match\":\"self\"}}", tp) &&
	    !m("{\"task_claimed\":{\"creator_match\":\"self\"}}", tp);
	json_decref(tp);
	T_OK(ok);
	return (0);
}

static int
t_subject(void)
{
	json_t	*sp = spawned("x"), *tp = task("TaskClaimed", "claimed_by",
	    "bob"), *p;
	int	 ok = 1;

	p = pat("\"agent_spawned\"");
	ok &= strcmp(trigger_subject(p, sp), OTHER) == 0;
	json_decref(p);
	p = pat("\"task_claimed\"");
	ok &= strcmp(trigger_subject(p, tp), "t-1") == 0;
	json_decref(p);
	p = pat("\"all\"");
	ok &= strcmp(trigger_subject(p, sp), "") == 0;
	json_decref(p);
	p = pat("\"lifecycle\"");
	ok &= strcmp(trigger_subject(p, sp), "") == 0;
	json_decref(p);
	json_decref(sp);
	json_decref(tp);
	T_OK(ok);
	return (0);
}

/* describe(ev) == want; ev is freed. */
static int
desc_is(json_t *ev, const char *want)
{
	char	*d = trigger_describe(ev);
	int	 ok = d != NULL && strcmp(d, want) == 0;

	if (!ok)
		printf("# got \"%s\", expected \"%s\"\n", d ? d : "(null)",
		    want);
	free(d);
	json_decref(ev);
	return (ok);
}

static int
t_describe(void)
{
	json_t	*ev;

	T_OK(desc_is(spawned("coder"), "Agent 'coder' (id: " OTHER
	    ") was spawned"));
	T_OK(desc_is(msg_event(OTHER, "Lifecycle", json_pack("{s:s, s:s, s:s}",
	    "event", "Terminated", "agent_id", OTHER, "reason", "killed"), 0),
	    "Agent " OTHER " terminated: killed"));
	T_OK(desc_is(task("TaskPosted", "assigned_to", NULL),
	    "Task posted: t-1 \"Fix the build\""));
	T_OK(desc_is(task("TaskClaimed", "claimed_by", "bob"),
	    "Task claimed: t-1 by bob"));
	ev = task("TaskCompleted", "completed_by", "bob");
	json_object_set_new(json_object_get(json_object_get(ev, "payload"),
	    "data"), "result", json_string("green"));
	T_OK(desc_is(ev, "Task completed: t-1 by bob result=green"));
	T_OK(desc_is(msg_event(OWNER, "MemoryUpdate", json_pack(
	    "{s:s, s:s, s:s}", "operation", "deleted", "key", "k", "agent_id",
	    OWNER), 0), "Memory Deleted on key 'k' for agent " OWNER));
	T_OK(desc_is(msg_event("", "System", json_pack("{s:s, s:s, s:s, s:f}",
	    "event", "QuotaWarning", "agent_id", OWNER, "resource", "tokens",
	    "usage_percent", 91.25), 0),
	    "Quota warning: agent " OWNER ", tokens at 91.2%"));
	T_OK(desc_is(msg_event("", "System", json_pack("{s:s}", "event",
	    "KernelStarted"), 0), "Kernel started"));
	T_OK(desc_is(msg_event("", "Custom", json_pack("{s:s, s:i}", "type",
	    "cron.daily", "n", 1), 0),
	    "Custom event: type=cron.daily, payload={\"type\":\"cron.daily\","
	    "\"n\":1}"));
	return (0);
}

static int
t_render(void)
{
	static char	 big[TRIGGER_TEMPLATE_MAX + 1], desc[TRIGGER_DESC_MAX + 1];
	char		*r;
	size_t		 n;

	r = trigger_render("Event: {{event}}", "X happened");
	T_EQ_STR(r, "Event: X happened");
	free(r);
	r = trigger_render("{{event}} and {{event}}; {{other}}", "e");
	T_EQ_STR(r, "e and e; {{other}}");
	free(r);
	r = trigger_render("no placeholder", "e");
	T_EQ_STR(r, "no placeholder");
	free(r);
	/* A template of nothing but placeholders cannot blow up memory. */
	for (n = 0; n + 9 <= TRIGGER_TEMPLATE_MAX; n += 9)
		memcpy(big + n, "{{event}}", 9);
	big[n] = '\0';
	memset(desc, 'd', TRIGGER_DESC_MAX);
	desc[TRIGGER_DESC_MAX] = '\0';
	r = trigger_render(big, desc);
	T_OK(r == NULL);
	return (0);
}

static const struct tap_case cases[] = {
	{ "patterns parse and normalise; bad ones are refused", t_parse },
	{ "every pattern kind matches what it should", t_match },
	{ "cooldown subjects", t_subject },
	{ "event descriptions ({{event}})", t_describe },
	{ "templates render; a huge rendering is refused", t_render },
	{ NULL, NULL }
};

int
main(void)
{
	return (tap_main(cases));
}
