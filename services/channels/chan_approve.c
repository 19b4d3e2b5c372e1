/*
 * chan_approve.c - approvals asked and decided in the chat a turn came
 * from (notes/kernel.md 4.3; services/channels/README.md, "Approvals in
 * the chat").
 *
 * Asked: agent-runtime's gate calls channels.approval_prompt when a turn
 * the router started needs a human.  Any replica takes the call and
 * queues the question as an outbox row (kind 'approval', idempotency key
 * "channels:approval:<id>"), sent by the replica that runs the channel's
 * adapter: an `interactive` message with Approve / Reject buttons to an
 * adapter that declared the capability, else a plain `send` that says to
 * answer /approve <id> or /reject <id>.
 *
 * Decided: the router (chan_router.c) hands a claimed message that is a
 * ButtonCallback "approve:<id>" / "reject:<id>" or a command "/approve
 * <id> [code]" / "/reject <id> [reason]" to chan_approve_parse(), then
 * asks approvals.approve|reject -- the path of POST
 * /api/approvals/{id}/approve|reject -- as the platform user, and queues
 * chan_approve_answer()'s text in the message's place: no turn runs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "channels.h"
#include "log.h"
#include "ops.h"
#include "util.h"

#define APPROVE_SUMMARY_MAX	300	/* bytes of the arguments shown */

/* The id in s (a UUID, lowercased into id); 0, or -1. */
static int
approve_uuid(const char *s, size_t n, char id[UTIL_UUID_LEN])
{
	size_t	i;

	if (n != UTIL_UUID_LEN - 1)
		return (-1);
	for (i = 0; i < n; i++)
		id[i] = (char)tolower((unsigned char)s[i]);
	id[n] = '\0';
	return (util_uuid_valid(id) ? 0 : -1);
}

int
chan_approve_parse(const char *text, const char *action,
    struct chan_approve_cmd *cmd)
{
	const char	*s, *w;
	size_t		 n;

	memset(cmd, 0, sizeof(*cmd));
	if (action != NULL) {
		if (strncmp(action, "approve:", 8) == 0) {
			cmd->ac_approve = 1;
			s = action + 8;
		} else if (strncmp(action, "reject:", 7) == 0)
			s = action + 7;
		else
			return (0);	/* a button of another kind */
		cmd->ac_button = 1;
		if (approve_uuid(s, strlen(s), cmd->ac_id) != 0)
			cmd->ac_bad = 1;
		return (1);
	}
	if (text == NULL)
		return (0);
	s = text;
	while (isspace((unsigned char)*s))
		s++;
	if (strncmp(s, "/approve", 8) == 0 && (s[8] == '\0' ||
	    isspace((unsigned char)s[8]))) {
		cmd->ac_approve = 1;
		s += 8;
	} else if (strncmp(s, "/reject", 7) == 0 && (s[7] == '\0' ||
	    isspace((unsigned char)s[7])))
		s += 7;
	else
		return (0);
	while (isspace((unsigned char)*s))
		s++;
	for (w = s; *w != '\0' && !isspace((unsigned char)*w); w++)
		;
	if (approve_uuid(s, (size_t)(w - s), cmd->ac_id) != 0) {
		cmd->ac_bad = 1;
		return (1);
	}
	while (isspace((unsigned char)*w))
		w++;
	/* What follows: the TOTP code of an approval, a rejection's
	 * reason. */
	n = strlen(w);
	while (n > 0 && isspace((unsigned char)w[n - 1]))
		n--;
	if (n > 0)
		snprintf(cmd->ac_arg, sizeof(cmd->ac_arg), "%.*s", (int)n, w);
	return (1);
}

char *
chan_approve_answer(const struct chan_approve_cmd *cmd, int status,
    json_t *body, const char *who)
{
	const char	*e = json_string_value(json_object_get(body, "error"));
	const char	*tool = json_string_value(json_object_get(body,
	    "tool_name"));
	const char	*verb = cmd->ac_approve ? "approve" : "reject";
	char		*s = NULL;
	int		 rv;

	if (cmd->ac_bad)
		rv = asprintf(&s, "That is no approval id.  Answer /approve "
		    "<id> [code] or /reject <id> [reason] with the id the "
		    "request named.");
	else if (status == 200)
		rv = asprintf(&s, "%s %s: '%s' (approval %s), by %s.",
		    cmd->ac_approve ? "\u2705" : "\u274c", cmd->ac_approve ?
		    "Approved" : "Rejected", tool != NULL ? tool : "?",
		    cmd->ac_id, who);
	else if (status == 400 && cmd->ac_approve && cmd->ac_arg[0] == '\0')
		rv = asprintf(&s, "Approval %s needs your authenticator code: "
		    "answer /approve %s <code> (%s).", cmd->ac_id, cmd->ac_id,
		    e != NULL ? e : "a second factor is required");
	else if (status == 404)
		rv = asprintf(&s, "There is no approval %s (unknown id).",
		    cmd->ac_id);
	else if (status == 409)
		rv = asprintf(&s, "Approval %s was not changed: %s.", cmd->ac_id,
		    e != NULL ? e : "it was already decided");
	else if (status == 403)
		rv = asprintf(&s, "Sorry, you may not decide approval %s: only "
		    "the person who asked, or one this channel trusts, can.",
		    cmd->ac_id);
	else
		rv = asprintf(&s, "Could not %s approval %s: %s", verb,
		    cmd->ac_id, e != NULL ? e : "refused");
	return (rv < 0 ? NULL : s);
}

/* ---- channels.approval_prompt ---------------------------------------- */

/* body.key as a non-empty string (borrowed), or NULL. */
static const char *
approve_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return (s != NULL && *s != '\0' ? s : NULL);
}

/*
 * Queues the question of approval request body.approval_id in the chat
 * of body.origin: {approval_id, agent_id, tool_name, risk_level, summary,
 * timeout_secs, origin: {channel, user_id, channel_id, user_name?,
 * thread_id?}}.  With outcome "timed_out", the news that nobody decided
 * in time instead (its own key: it follows the question).  200 {status:
 * "queued"|"already_queued"}; 400 a field missing or wrong.
 */
static void
op_approval_prompt(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	json_t		*b = rq->mr_body, *o, *msg = NULL;
	const char	*id, *agent, *tool, *risk, *sum, *out, *p[9];
	char		 aid[UTIL_UUID_LEN], *text = NULL, *plain = NULL;
	char		*imsg = NULL, *cut = NULL, secs[24];
	PGresult	*res;
	json_int_t	 to;

	o = json_object_get(b, "origin");
	id = approve_str(b, "approval_id");
	agent = approve_str(b, "agent_id");
	tool = approve_str(b, "tool_name");
	risk = approve_str(b, "risk_level");
	sum = json_string_value(json_object_get(b, "summary"));
	to = json_integer_value(json_object_get(b, "timeout_secs"));
	out = json_string_value(json_object_get(b, "outcome"));
	if (json_object_get(b, "outcome") != NULL && (out == NULL ||
	    strcmp(out, "timed_out") != 0)) {
		svc_reply_error(rp, 400, "outcome must be \"timed_out\"");
		return;
	}
	if (id == NULL || approve_uuid(id, strlen(id), aid) != 0 ||
	    agent == NULL || !util_uuid_valid(agent) || tool == NULL ||
	    risk == NULL || !json_is_object(o) || approve_str(o,
	    "channel") == NULL || approve_str(o, "channel_id") == NULL) {
		svc_reply_error(rp, 400, "approval_id, agent_id, tool_name, "
		    "risk_level and origin {channel, channel_id} are "
		    "required");
		return;
	}
	if (sum == NULL)
		sum = "";
	cut = strndup(sum, chan_text_chunk(sum, strlen(sum),
	    APPROVE_SUMMARY_MAX, CHAN_UNIT_BYTE));
	snprintf(secs, sizeof(secs), "%lld", (long long)to);
	if (cut != NULL && out != NULL) {
		/* No buttons: there is nothing left to decide. */
		if (asprintf(&plain, "\u231b Approval %s timed out: nobody "
		    "decided within %s s, so '%s' was not run.", aid, secs,
		    tool) < 0) {
			plain = NULL;
			goto oom;
		}
	} else if (cut == NULL || asprintf(&text, "\u26a0\ufe0f Approval needed: "
	    "the agent wants to run '%s' (risk %s).\n%s%s%s(approval %s, "
	    "%s s to decide)", tool, risk, *cut != '\0' ? "\u2192 " : "", cut,
	    *cut != '\0' ? "\n" : "", aid, secs) < 0) {
		text = NULL;
		goto oom;
	}
	if (out == NULL) {
		if (asprintf(&plain, "%s\nAnswer /approve %s or /reject %s.",
		    text, aid, aid) < 0) {
			plain = NULL;
			goto oom;
		}
		msg = json_pack("{s:s, s:[[{s:s, s:s+}, {s:s, s:s+}]]}",
		    "text", text, "buttons", "label", "Approve", "action",
		    "approve:", aid, "label", "Reject", "action", "reject:",
		    aid);
		if (msg == NULL || (imsg = json_dumps(msg, JSON_COMPACT)) ==
		    NULL)
			goto oom;
	}
	p[0] = aid;
	p[1] = approve_str(o, "channel");
	p[2] = agent;
	p[3] = approve_str(o, "channel_id");
	p[4] = approve_str(o, "user_name") ?: "";
	p[5] = approve_str(o, "thread_id");
	p[6] = plain;
	p[7] = imsg;
	p[8] = out != NULL ? ":timed_out" : "";
	if ((res = db_exec(c->sc_db, "INSERT INTO outbox (idem_key, channel, "
	    "agent_id, channel_id, recipient, thread_id, text, kind, "
	    "interactive) VALUES ('channels:approval:' || $1 || $9, $2, "
	    "$3::uuid, $4, $5, $6, $7, 'approval', $8::jsonb) ON CONFLICT "
	    "(idem_key) DO NOTHING RETURNING id", 9, p)) == NULL) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (PQntuples(res) == 1)
		log_info("channel '%s': approval %s %s in chat '%s'", p[1],
		    aid, out != NULL ? "timed out: told" : "asked", p[3]);
	svc_reply_json(rp, 200, json_pack("{s:s}", "status",
	    PQntuples(res) == 1 ? "queued" : "already_queued"));
	PQclear(res);
	goto done;
 oom:
	svc_reply_error(rp, 500, "out of memory");
 done:
	json_decref(msg);
	free(imsg);
	free(plain);
	free(text);
	free(cut);
}

const struct svc_op chan_approve_ops[] = {
	{ OP_CHANNELS_APPROVAL_PROMPT,	op_approval_prompt },
	{ NULL, NULL },
};
