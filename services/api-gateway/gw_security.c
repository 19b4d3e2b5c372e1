/*
 * gw_security.c - GET /api/security: the 16 security systems of the
 * reference (notes/kernel.md 6) and the real state of each here.
 *
 *	active		built and on (for the audit trail: the audit
 *			service answers its health check)
 *	degraded	built, but the service behind it is not answering
 *	disabled	built, and turned off by the configuration
 *	absent		not built in this port: never reported as active
 *
 * The table says where each one lives, so that a system that arrives
 * (or goes) changes its row here with it.
 */
#include <stddef.h>
#include <string.h>

#include "gateway.h"
#include "services.h"

enum gw_sec_state {
	GW_SEC_ACTIVE,
	GW_SEC_ABSENT,
	GW_SEC_RATE,		/* active unless the rate limit is off */
	GW_SEC_AUDIT		/* active while the audit service answers */
};

static const struct gw_sec {
	const char		*s_name;
	enum gw_sec_state	 s_state;
} gw_secs[] = {
	{ "merkle_audit_trail", GW_SEC_AUDIT },		/* services/audit */
	{ "taint_tracking", GW_SEC_ABSENT },
	{ "wasm_dual_metering", GW_SEC_ABSENT },	/* no WASM runtime */
	{ "security_headers", GW_SEC_ACTIVE },		/* gw_http.c */
	{ "health_redaction", GW_SEC_ACTIVE },		/* /api/health: liveness
							   only (gw_system.c) */
	{ "subprocess_sandbox", GW_SEC_ACTIVE },	/* tool/shell.c */
	{ "manifest_signing", GW_SEC_ABSENT },		/* signed manifests are
							   refused */
	{ "gcra_rate_limiter", GW_SEC_RATE },		/* gw_ratelimit.c */
	{ "secret_zeroization", GW_SEC_ACTIVE },	/* explicit_bzero, log
							   redaction */
	{ "path_traversal_prevention", GW_SEC_ACTIVE },	/* tool/fs.c */
	{ "ssrf_protection", GW_SEC_ACTIVE },		/* libshared/ssrf.c */
	{ "capability_inheritance_validation", GW_SEC_ACTIVE },
							/* tool/agent.c */
	{ "ofp_hmac_auth", GW_SEC_ABSENT },		/* no OFP wire */
	{ "prompt_injection_scanning", GW_SEC_ABSENT },
	{ "loop_guard", GW_SEC_ACTIVE },		/* turn/ */
	{ "session_repair", GW_SEC_ACTIVE },		/* turn/repair.c */
};

static int	gw_sec_rate_on;

void
gw_security_init(const struct sh_config *cfg)
{
	gw_sec_rate_on = cfg->rl_requests_per_minute > 0;
}

/* The index of the audit service in SVC_LIST. */
static int
gw_sec_audit_index(void)
{
	static const char *const svcs[] = SVC_LIST;
	int			 i;

	for (i = 0; svcs[i] != NULL; i++)
		if (strcmp(svcs[i], SVC_AUDIT) == 0)
			return (i);
	return (-1);
}

int
gw_security(struct gw_req *gr)
{
	const char	*st;
	json_t		*sys, *out;
	size_t		 i, n = sizeof(gw_secs) / sizeof(gw_secs[0]);
	int		 active = 0;

	if ((sys = json_object()) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (0);
	}
	for (i = 0; i < n; i++) {
		switch (gw_secs[i].s_state) {
		case GW_SEC_ACTIVE:
			st = "active";
			break;
		case GW_SEC_RATE:
			st = gw_sec_rate_on ? "active" : "disabled";
			break;
		case GW_SEC_AUDIT:
			st = gw_health_service_up(gw_sec_audit_index()) ?
			    "active" : "degraded";
			break;
		default:
			st = "absent";
			break;
		}
		active += st[0] == 'a' && st[1] == 'c';
		json_object_set_new(sys, gw_secs[i].s_name, json_string(st));
	}
	out = json_pack("{s:o, s:I, s:I, s:b}", "security_systems", sys,
	    "total_systems", (json_int_t)n, "active_systems",
	    (json_int_t)active, "all_active", active == (int)n);
	gw_reply_json(gr, 200, out);
	return (0);
}
