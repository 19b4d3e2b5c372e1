/*
 * gw_hooks.c - the inbound webhooks' edge: POST /hooks/wake, /hooks/agent
 * and their /api/hooks/ twins (kernel.md 8.6, spec 000 "Webhook
 * Endpoints").
 *
 * These routes are public to the API key: they take their own bearer
 * token, LIBREFANG_WEBHOOK_TOKEN, which must be at least 32 characters.
 * Unset or shorter, every request is refused (404, webhook triggers not
 * enabled, as upstream answers); a missing or wrong token is a 401 with
 * "WWW-Authenticate: Bearer realm="librefang-webhook"".  The token is
 * compared in constant time (CRYPTO_memcmp, util_ct_equal()).
 *
 * A caller may also sign: X-LibreFang-Timestamp (unix seconds) and
 * X-LibreFang-Signature "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>'
 * keyed with the token>".  A timestamp more than GW_HOOK_WINDOW seconds
 * away from now, a signature that does not match, or one without the
 * other is refused (401), and a signature this gateway has already
 * accepted within the window is a replay (409).  The replay memory is
 * this process's: behind several gateways, a replay that reaches another
 * one within the window is not caught (the window still bounds it).
 *
 * The body then goes to agent-runtime as hooks.wake (an event for the
 * triggers) or hooks.agent (a turn; the route waits as long as a turn).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway.h"
#include "log.h"
#include "ops.h"
#include "services.h"
#include "util.h"

#define GW_HOOK_TOKEN_MIN	32
#define GW_HOOK_WINDOW		300	/* seconds either side of now */
#define GW_HOOK_SEEN		1024	/* signatures remembered */
#define GW_HOOK_SIG_LEN		(7 + 64)	/* "sha256=" hex */

static const char	*gw_hook_token;
static size_t		 gw_hook_toklen;

/* Accepted signatures, until their timestamp leaves the window. */
static struct {
	pthread_mutex_t	 mtx;
	struct {
		char	 sig[GW_HOOK_SIG_LEN + 1];
		time_t	 until;
	}		 e[GW_HOOK_SEEN];
	size_t		 next;
} gw_hook_seen = { .mtx = PTHREAD_MUTEX_INITIALIZER };

void
gw_hooks_init(const struct sh_config *cfg)
{
	gw_hook_token = cfg->webhook_token;
	gw_hook_toklen = strlen(cfg->webhook_token);
	if (gw_hook_toklen > 0 && gw_hook_toklen < GW_HOOK_TOKEN_MIN)
		log_warnx("LIBREFANG_WEBHOOK_TOKEN is shorter than %d "
		    "characters: the inbound webhooks refuse every request",
		    GW_HOOK_TOKEN_MIN);
}

static const char *
gw_hook_header(struct gw_req *gr, const char *name)
{
	return (MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    name));
}

static void
gw_hook_unauthorized(struct gw_req *gr, const char *why)
{
	gw_reply_error(gr, 401, "%s", why);
	if (gr->gr_rheaders == NULL)
		gr->gr_rheaders = json_object();
	json_object_set_new(gr->gr_rheaders, "WWW-Authenticate",
	    json_string("Bearer realm=\"librefang-webhook\""));
}

/* 1 if sig was accepted before (a replay), else remembers it; 0. */
static int
gw_hook_replayed(const char *sig, time_t now)
{
	size_t	i;
	int	rv = 0;

	pthread_mutex_lock(&gw_hook_seen.mtx);
	for (i = 0; i < GW_HOOK_SEEN; i++)
		if (gw_hook_seen.e[i].until >= now &&
		    strcmp(gw_hook_seen.e[i].sig, sig) == 0) {
			rv = 1;
			break;
		}
	if (!rv) {
		i = gw_hook_seen.next++ % GW_HOOK_SEEN;
		snprintf(gw_hook_seen.e[i].sig, sizeof(gw_hook_seen.e[i].sig),
		    "%s", sig);
		gw_hook_seen.e[i].until = now + 2 * GW_HOOK_WINDOW;
	}
	pthread_mutex_unlock(&gw_hook_seen.mtx);
	return (rv);
}

/*
 * The optional signature.  0 when absent or good; -1 with the reply set
 * otherwise.
 */
static int
gw_hook_signature(struct gw_req *gr)
{
	const char	*ts = gw_hook_header(gr, "X-LibreFang-Timestamp");
	const char	*sig = gw_hook_header(gr, "X-LibreFang-Signature");
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	char		 want[GW_HOOK_SIG_LEN + 1];
	long long	 t;
	time_t		 now = time(NULL);
	unsigned char	*msg;
	size_t		 tl, n = gr->gr_body.b_len;
	unsigned int	 i;

	if (ts == NULL && sig == NULL)
		return (0);
	if (ts == NULL || sig == NULL) {
		gw_hook_unauthorized(gr, "a signed webhook needs both "
		    "X-LibreFang-Timestamp and X-LibreFang-Signature");
		return (-1);
	}
	if (util_strtonum(ts, 0, 253402300799LL, &t) != 0) {
		gw_hook_unauthorized(gr, "X-LibreFang-Timestamp must be unix "
		    "seconds");
		return (-1);
	}
	if (t < (long long)now - GW_HOOK_WINDOW ||
	    t > (long long)now + GW_HOOK_WINDOW) {
		gw_hook_unauthorized(gr, "X-LibreFang-Timestamp is outside "
		    "the replay window (300 seconds)");
		return (-1);
	}
	tl = strlen(ts);
	if ((msg = malloc(tl + 1 + n + 1)) == NULL) {
		gw_reply_error(gr, 500, "out of memory");
		return (-1);
	}
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	if (n > 0)
		memcpy(msg + tl + 1, gr->gr_body.b_data, n);
	if (HMAC(EVP_sha256(), gw_hook_token, (int)gw_hook_toklen, msg,
	    tl + 1 + n, mac, &maclen) == NULL || maclen != 32) {
		free(msg);
		gw_reply_error(gr, 500, "could not compute the signature");
		return (-1);
	}
	free(msg);
	memcpy(want, "sha256=", 7);
	for (i = 0; i < maclen; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	if (!util_ct_equal(sig, strlen(sig), want, strlen(want))) {
		gw_hook_unauthorized(gr, "X-LibreFang-Signature does not "
		    "match");
		return (-1);
	}
	if (gw_hook_replayed(want, now)) {
		gw_reply_error(gr, 409, "this signed webhook was already "
		    "accepted (a replay)");
		return (-1);
	}
	return (0);
}

/* The token, the signature and the body; 0 and *bodyp (new), or -1 with
 * the reply set. */
static int
gw_hook_check(struct gw_req *gr, json_t **bodyp)
{
	const char	*a = gw_hook_header(gr, MHD_HTTP_HEADER_AUTHORIZATION);
	json_error_t	 je;
	json_t		*body;

	*bodyp = NULL;
	gr->gr_principal = "webhook";
	if (gw_hook_toklen < GW_HOOK_TOKEN_MIN) {
		gw_reply_error(gr, 404, "webhook triggers are not enabled: "
		    "LIBREFANG_WEBHOOK_TOKEN is unset or shorter than %d "
		    "characters", GW_HOOK_TOKEN_MIN);
		return (-1);
	}
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0) {
		gw_hook_unauthorized(gr, "missing webhook bearer token");
		return (-1);
	}
	a += 7;
	if (!util_ct_equal(a, strlen(a), gw_hook_token, gw_hook_toklen)) {
		gw_hook_unauthorized(gr, "invalid webhook token");
		return (-1);
	}
	if (gw_hook_signature(gr) != 0)
		return (-1);
	if (gr->gr_body.b_len == 0) {
		gw_reply_error(gr, 400, "request body must be a JSON object");
		return (-1);
	}
	if (gw_json_too_deep(gr->gr_body.b_data, gr->gr_body.b_len,
	    GW_MAX_JSON_DEPTH)) {
		gw_reply_error(gr, 400, "malformed JSON: nested deeper than "
		    "%d levels", GW_MAX_JSON_DEPTH);
		return (-1);
	}
	if ((body = json_loadb(gr->gr_body.b_data, gr->gr_body.b_len, 0,
	    &je)) == NULL) {
		gw_reply_error(gr, 400, "malformed JSON: %s at line %d column "
		    "%d", je.text, je.line, je.column);
		return (-1);
	}
	if (!json_is_object(body)) {
		json_decref(body);
		gw_reply_error(gr, 400, "request body must be a JSON object");
		return (-1);
	}
	*bodyp = body;
	return (0);
}

static int
gw_hook_call(struct gw_req *gr, const char *op)
{
	json_t	*body;

	if (gw_hook_check(gr, &body) != 0)
		return (0);
	buf_release(&gr->gr_body);
	return (gw_call(gr, SVC_AGENT_RUNTIME, op, json_object(),
	    json_object(), body, NULL));
}

int
gw_hook_wake(struct gw_req *gr)
{
	return (gw_hook_call(gr, OP_HOOKS_WAKE));
}

int
gw_hook_agent(struct gw_req *gr)
{
	return (gw_hook_call(gr, OP_HOOKS_AGENT));
}
