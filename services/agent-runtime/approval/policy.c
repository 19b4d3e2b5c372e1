/*
 * approval/policy.c - config.toml [approval], an agent manifest's
 * [approval] over it, the risk table and the decision "does this call
 * need a human?" (approval/approval.h; notes/kernel.md 4.3).
 *
 * Without [approval] the gated set is ["shell_exec"] (the issue's
 * default); require_approval = true is the notes' default set, false is
 * none.
 */
#include <string.h>

#include "approval/approval.h"
#include "log.h"
#include "tool/tool.h"

/* Set once by approval_init() before the workers serve; read-only
 * after.  The arrays are owned here. */
static struct approval_policy	ac = {
	.ap_timeout_secs = APPROVAL_TIMEOUT_DEFAULT,
};

/* require_approval = true and false in a manifest (owned here). */
static json_t	*ac_default, *ac_none;

static const char *const approval_default_set[] = {
	"shell_exec", "file_write", "file_delete", "apply_patch",
	"skill_evolve_*", NULL
};

static const char *const approval_critical[] = {
	"shell_exec", "agent_spawn", "agent_kill", "config_set",
	"kernel_reload", NULL
};
static const char *const approval_high[] = {
	"file_write", "file_delete", "apply_patch", NULL
};
static const char *const approval_medium[] = {
	"web_fetch", "browser_navigate", NULL
};

static int
approval_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return (1);
	return (0);
}

enum approval_risk
approval_risk(const char *tool)
{
	if (approval_in(tool, approval_critical))
		return (APPROVAL_CRITICAL);
	if (approval_in(tool, approval_high) || strncmp(tool, "mcp_", 4) == 0)
		return (APPROVAL_HIGH);
	if (approval_in(tool, approval_medium))
		return (APPROVAL_MEDIUM);
	return (APPROVAL_LOW);
}

const char *
approval_risk_name(enum approval_risk r)
{
	static const char *const names[] = { "Low", "Medium", "High",
		"Critical" };

	return (r >= APPROVAL_LOW && r <= APPROVAL_CRITICAL ? names[r] :
	    "Low");
}

/* v is an array of at most max non-empty strings of at most 128 bytes. */
static int
approval_strings(json_t *v, size_t max)
{
	json_t	*s;
	size_t	 i;

	if (!json_is_array(v) || json_array_size(v) > max)
		return (0);
	json_array_foreach(v, i, s)
		if (!json_is_string(s) || json_string_length(s) == 0 ||
		    json_string_length(s) > 128)
			return (0);
	return (1);
}

/* require_approval: a list of globs, true (the default set) or false
 * (none).  New array, or NULL when v is none of these. */
static json_t *
approval_require(json_t *v)
{
	json_t	*a;
	size_t	 i;

	if (json_is_boolean(v)) {
		if ((a = json_array()) == NULL || !json_is_true(v))
			return (a);
		for (i = 0; approval_default_set[i] != NULL; i++)
			json_array_append_new(a,
			    json_string(approval_default_set[i]));
		return (a);
	}
	if (!approval_strings(v, APPROVAL_GLOBS_MAX))
		return (NULL);
	return (json_deep_copy(v));
}

/* channel_rules: at most APPROVAL_RULES_MAX {channel, allowed_tools?,
 * denied_tools?}. */
static int
approval_rules_ok(json_t *v)
{
	json_t		*r, *x;
	const char	*k;
	size_t		 i;

	if (!json_is_array(v) || json_array_size(v) > APPROVAL_RULES_MAX)
		return (0);
	json_array_foreach(v, i, r) {
		if (!json_is_object(r) ||
		    !json_is_string(json_object_get(r, "channel")))
			return (0);
		json_object_foreach(r, k, x) {
			if (strcmp(k, "channel") == 0)
				continue;
			if ((strcmp(k, "allowed_tools") != 0 &&
			    strcmp(k, "denied_tools") != 0) ||
			    !approval_strings(x, APPROVAL_GLOBS_MAX))
				return (0);
		}
	}
	return (1);
}

static int
approval_factor_parse(const char *s, enum approval_factor *f)
{
	static const char *const names[] = { "none", "totp", "login", "both",
		NULL };
	int	i;

	for (i = 0; s != NULL && names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0) {
			*f = (enum approval_factor)i;
			return (0);
		}
	return (-1);
}

/* timeout_fallback: "deny" or "skip" (an escalate table escalates to no
 * one here: it is a deny).  0, or -1 when v is neither. */
static int
approval_fallback_parse(json_t *v, int *skip)
{
	const char	*s = json_string_value(v);

	if (s != NULL && strcmp(s, "deny") == 0)
		*skip = 0;
	else if (s != NULL && strcmp(s, "skip") == 0)
		*skip = 1;
	else if (json_is_object(v) && json_object_get(v, "escalate") != NULL)
		*skip = 0;
	else
		return (-1);
	return (0);
}

/*
 * Applies one section (config's or a manifest's) over p; the arrays put
 * in p are new when own is set (the config), else borrowed.  The number
 * of bad values (each logged with where).
 */
static int
approval_apply(json_t *sec, struct approval_policy *p, int own,
    const char *where)
{
	json_t		*v, *a;
	const char	*k;
	long long	 n;
	int		 bad = 0;

	json_object_foreach(sec, k, v) {
		if (strcmp(k, "require_approval") == 0) {
			if (own) {
				if ((a = approval_require(v)) == NULL)
					goto bad;
				json_decref(p->ap_require);
				p->ap_require = a;
			} else if (json_is_true(v))
				p->ap_require = ac_default;
			else if (json_is_false(v))
				p->ap_require = ac_none;
			else if (approval_strings(v, APPROVAL_GLOBS_MAX))
				p->ap_require = v;
			else
				goto bad;
		} else if (strcmp(k, "timeout_secs") == 0) {
			n = json_integer_value(v);
			if (!json_is_integer(v) || n < APPROVAL_TIMEOUT_MIN ||
			    n > APPROVAL_TIMEOUT_MAX)
				goto bad;
			p->ap_timeout_secs = (int)n;
		} else if (strcmp(k, "timeout_fallback") == 0) {
			if (approval_fallback_parse(v, &p->ap_fallback_skip) !=
			    0)
				goto bad;
		} else if (strcmp(k, "auto_approve") == 0) {
			if (!json_is_boolean(v))
				goto bad;
			p->ap_auto_approve = json_is_true(v);
		} else if (strcmp(k, "trusted_senders") == 0) {
			if (!approval_strings(v, APPROVAL_TRUSTED_MAX))
				goto bad;
			if (own) {
				json_decref(p->ap_trusted);
				p->ap_trusted = json_deep_copy(v);
			} else
				p->ap_trusted = v;
		} else if (strcmp(k, "channel_rules") == 0) {
			if (!approval_rules_ok(v))
				goto bad;
			if (own) {
				json_decref(p->ap_rules);
				p->ap_rules = json_deep_copy(v);
			} else
				p->ap_rules = v;
		} else if (strcmp(k, "second_factor") == 0) {
			if (approval_factor_parse(json_string_value(v),
			    &p->ap_factor) != 0)
				goto bad;
		} else if (strcmp(k, "totp_tools") == 0) {
			if (!approval_strings(v, APPROVAL_GLOBS_MAX))
				goto bad;
			if (own) {
				json_decref(p->ap_totp_tools);
				p->ap_totp_tools = json_deep_copy(v);
			} else
				p->ap_totp_tools = v;
		} else if (strcmp(k, "totp_grace_period_secs") == 0) {
			n = json_integer_value(v);
			if (!json_is_integer(v) || n < 0 || n > 3600)
				goto bad;
		} else if (strcmp(k, "audit_retention_days") == 0) {
			n = json_integer_value(v);
			if (!json_is_integer(v) || n < 1 || n > 36500)
				goto bad;
		} else if (strcmp(k, "totp_issuer") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > 128)
				goto bad;
		} else if (strcmp(k, "auto_approve_autonomous") == 0 ||
		    strcmp(k, "cache_approvals_per_session") == 0) {
			if (!json_is_boolean(v))
				goto bad;
		} else if (strcmp(k, "routing") == 0) {
			if (!json_is_array(v))
				goto bad;
		} else
			log_warnx("%s: %s [approval]: unknown key '%s' ignored",
			    __func__, where, k);
		continue;
 bad:
		log_warnx("%s: %s [approval] %s: bad value (notes: "
		    "docs/configuration.md)", __func__, where, k);
		bad++;
	}
	return (bad);
}

int
approval_init(const struct sh_config *cfg)
{
	json_t	*sec = json_object_get(cfg->cf_doc, "approval");
	json_t	*t = json_true(), *f = json_false();

	ac_default = approval_require(t);
	ac_none = approval_require(f);
	if (ac_default == NULL || ac_none == NULL ||
	    (ac.ap_require = json_array()) == NULL ||
	    json_array_append_new(ac.ap_require, json_string("shell_exec")) !=
	    0 || (ac.ap_trusted = json_array()) == NULL ||
	    (ac.ap_rules = json_array()) == NULL ||
	    (ac.ap_totp_tools = json_array()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return (-1);
	}
	if (sec == NULL)
		return (0);
	if (!json_is_object(sec)) {
		log_warnx("%s: config.toml [approval] is not a table",
		    __func__);
		return (-1);
	}
	if (approval_apply(sec, &ac, 1, "config.toml") != 0 ||
	    ac.ap_require == NULL || ac.ap_trusted == NULL ||
	    ac.ap_rules == NULL || ac.ap_totp_tools == NULL)
		return (-1);
	if (ac.ap_auto_approve)
		json_array_clear(ac.ap_require);
	return (0);
}

void
approval_policy(json_t *manifest, struct approval_policy *out)
{
	json_t	*sec = json_object_get(manifest, "approval");

	*out = ac;
	if (!json_is_object(sec))
		return;
	(void)approval_apply(sec, out, 0, "agent manifest");
}

/* The first channel rule for channel: 1 (the tool must be decided), 0
 * (it runs), -1 (no rule speaks of it). */
static int
approval_channel(const struct approval_policy *p, const char *tool,
    const char *channel)
{
	json_t	*r;
	size_t	 i;

	if (channel == NULL)
		return (-1);
	json_array_foreach(p->ap_rules, i, r) {
		if (!tool_glob_match(json_string_value(json_object_get(r,
		    "channel")) ?: "", channel))
			continue;
		if (tool_glob_any(json_object_get(r, "denied_tools"), tool))
			return (1);
		if (tool_glob_any(json_object_get(r, "allowed_tools"), tool))
			return (0);
		return (-1);
	}
	return (-1);
}

int
approval_needed(const struct approval_policy *p, const char *tool,
    const char *sender, const char *channel)
{
	json_t	*s;
	size_t	 i;
	int	 rv;

	if (sender != NULL && approval_risk(tool) < APPROVAL_HIGH)
		json_array_foreach(p->ap_trusted, i, s)
			if (strcmp(json_string_value(s), sender) == 0)
				return (0);
	if ((rv = approval_channel(p, tool, channel)) >= 0)
		return (rv);
	if (p->ap_auto_approve)
		return (0);
	return (tool_glob_any(p->ap_require, tool));
}

int
approval_needs_totp(const struct approval_policy *p, const char *tool)
{
	if (p->ap_factor != APPROVAL_FACTOR_TOTP &&
	    p->ap_factor != APPROVAL_FACTOR_BOTH)
		return (0);
	return (json_array_size(p->ap_totp_tools) == 0 ||
	    tool_glob_any(p->ap_totp_tools, tool));
}
