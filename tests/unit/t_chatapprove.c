/*
 * t_chatapprove.c - approvals decided in a chat (chan_approve.c): which
 * messages are a decision (chan_approve_parse(): buttons' actions, the
 * /approve and /reject commands, their code and reason, ids missing or
 * malformed, texts and buttons that are none) and what the chat is told
 * of each answer of agent-runtime (chan_approve_answer()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels.h"
#include "tap.h"

#define ID	"5f0c3c4e-2b1a-4d8e-9f61-0a7b3c2d1e00"

static int
t_buttons(void)
{
	struct chan_approve_cmd	c;

	T_EQ_INT(chan_approve_parse("ignored", "approve:" ID, &c), 1);
	T_OK(c.ac_approve && c.ac_button && !c.ac_bad);
	T_EQ_STR(c.ac_id, ID);
	T_EQ_INT(chan_approve_parse(NULL, "reject:5F0C3C4E-2B1A-4D8E-9F61-"
	    "0A7B3C2D1E00", &c), 1);
	T_OK(!c.ac_approve && c.ac_button && !c.ac_bad);
	T_EQ_STR(c.ac_id, ID);	/* lowercased */
	T_EQ_INT(chan_approve_parse(NULL, "approve:nope", &c), 1);
	T_OK(c.ac_bad);
	T_EQ_INT(chan_approve_parse(NULL, "approve:" ID "x", &c), 1);
	T_OK(c.ac_bad);
	/* Another button: not ours, left to the agent. */
	T_EQ_INT(chan_approve_parse("/approve " ID, "opt_a", &c), 0);
	return (0);
}

static int
t_commands(void)
{
	struct chan_approve_cmd	c;

	T_EQ_INT(chan_approve_parse("/approve " ID, NULL, &c), 1);
	T_OK(c.ac_approve && !c.ac_button && !c.ac_bad);
	T_EQ_STR(c.ac_id, ID);
	T_EQ_STR(c.ac_arg, "");
	T_EQ_INT(chan_approve_parse("  /approve  " ID "  123456 \n", NULL,
	    &c), 1);
	T_EQ_STR(c.ac_arg, "123456");
	T_EQ_INT(chan_approve_parse("/reject " ID " not now, thanks", NULL,
	    &c), 1);
	T_OK(!c.ac_approve && !c.ac_bad);
	T_EQ_STR(c.ac_arg, "not now, thanks");
	T_EQ_INT(chan_approve_parse("/approve", NULL, &c), 1);
	T_OK(c.ac_bad);
	T_EQ_INT(chan_approve_parse("/reject 1234", NULL, &c), 1);
	T_OK(c.ac_bad);
	/* Not a decision: a turn runs. */
	T_EQ_INT(chan_approve_parse("/approved " ID, NULL, &c), 0);
	T_EQ_INT(chan_approve_parse("please /approve " ID, NULL, &c), 0);
	T_EQ_INT(chan_approve_parse("/status", NULL, &c), 0);
	T_EQ_INT(chan_approve_parse("", NULL, &c), 0);
	return (0);
}

/* The answer to cmd for (status, body as JSON text), freed; 1 when it
 * holds want. */
static int
says(const struct chan_approve_cmd *cmd, int status, const char *body,
    const char *want)
{
	json_t	*b = json_loads(body, 0, NULL);
	char	*s = chan_approve_answer(cmd, status, b, "Alice");
	int	 ok = s != NULL && strstr(s, want) != NULL;

	if (!ok)
		printf("# %d: \"%s\" lacks \"%s\"\n", status, s ? s : "(null)",
		    want);
	free(s);
	json_decref(b);
	return (ok);
}

static int
t_answers(void)
{
	struct chan_approve_cmd	c;

	(void)chan_approve_parse("/approve " ID, NULL, &c);
	T_OK(says(&c, 200, "{\"tool_name\":\"shell_exec\"}",
	    "Approved: 'shell_exec' (approval " ID "), by Alice."));
	T_OK(says(&c, 400, "{\"error\":\"a TOTP code is required\"}",
	    "answer /approve " ID " <code>"));
	T_OK(says(&c, 403, "{\"error\":\"x\"}", "you may not decide"));
	T_OK(says(&c, 404, "{\"error\":\"x\"}", "unknown id"));
	T_OK(says(&c, 409, "{\"error\":\"approval " ID " was already "
	    "decided: approved\"}", "already decided"));
	(void)chan_approve_parse("/approve " ID " 000000", NULL, &c);
	T_OK(says(&c, 400, "{\"error\":\"wrong code\"}",
	    "Could not approve approval " ID ": wrong code"));
	(void)chan_approve_parse(NULL, "reject:" ID, &c);
	T_OK(says(&c, 200, "{\"tool_name\":\"shell_exec\"}", "Rejected"));
	(void)chan_approve_parse("/reject", NULL, &c);
	T_OK(says(&c, 0, "null", "no approval id"));
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "buttons: approve:<id>, reject:<id>", t_buttons },
		{ "/approve <id> [code], /reject <id> [reason]", t_commands },
		{ "what the chat is told", t_answers },
		{ NULL, NULL },
	};

	return (tap_main(cases));
}
