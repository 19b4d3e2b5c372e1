/*
 * gw_idem.c - the Idempotency-Key request header on the routes that run
 * a turn or make agents (GW_RT_IDEM; README.md, "Idempotency-Key").
 *
 * The gateway keeps nothing: it checks the header, scopes it to the
 * route and the principal (one client's key never meets another's, and
 * a key used on POST /api/agents means nothing on a message route), and
 * hashes the request (path, query, body) into a fingerprint.  Both go to
 * agent-runtime in the caller object with the key's time to live
 * (api.idempotency_key_ttl_secs); agent-runtime stores the key and the
 * first answer in PostgreSQL (turn/idem.c), so a retry through any
 * gateway and any runtime replica gets that answer and runs nothing.
 *
 * The header's value is kept as sent, or without its quotes when it is
 * a structured-field string ("..."), as the IETF draft writes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cfg.h"
#include "gateway.h"

#define IDEM_STR(x)	#x
#define IDEM_XSTR(x)	IDEM_STR(x)

static const struct sh_config	*gw_idem_cfg;

void
gw_idem_init(const struct sh_config *cfg)
{
	gw_idem_cfg = cfg;
}

/* sha-256 of the NUL-separated parts, as lowercase hex into out. */
static int
gw_idem_hash(const char *const *parts, const size_t *lens, int n,
    char out[65])
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;
	int		 k, rv = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return (-1);
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	for (k = 0; k < n; k++)
		if (EVP_DigestUpdate(ctx, parts[k], lens[k]) != 1 ||
		    EVP_DigestUpdate(ctx, "", 1) != 1)
			goto done;
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto done;
	for (i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rv = 0;
 done:
	EVP_MD_CTX_free(ctx);
	return (rv);
}

/* Counts the request's Idempotency-Key headers. */
static enum MHD_Result
gw_idem_count(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	int	*n = arg;

	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, "Idempotency-Key") == 0)
		(*n)++;
	return (MHD_YES);
}

/* A key's text (len bytes at h, its quotes already taken off): NULL if
 * usable, else what is wrong with it. */
static const char *
gw_idem_invalid(const char *h, size_t len)
{
	size_t	i;

	if (len == 0)
		return ("must not be empty");
	if (len > GW_IDEM_HEADER_MAX)
		return ("is too long (the limit is "
		    IDEM_XSTR(GW_IDEM_HEADER_MAX) " bytes)");
	for (i = 0; i < len; i++)
		if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e ||
		    h[i] == '"' || h[i] == '\\')
			return ("must be printable ASCII with no quote or "
			    "backslash");
	return (NULL);
}

int
gw_idem_check(struct gw_req *gr)
{
	const char	*h, *parts[4], *bad;
	size_t		 len, lens[4], i;
	char		 hex[65];
	int		 n = 0;

	gr->gr_idem[0] = '\0';
	if (gr->gr_route == NULL || !(gr->gr_route->rt_flags & GW_RT_IDEM))
		return (0);
	h = MHD_lookup_connection_value(gr->gr_mhd, MHD_HEADER_KIND,
	    "Idempotency-Key");
	if (h == NULL)
		return (0);
	MHD_get_connection_values(gr->gr_mhd, MHD_HEADER_KIND, gw_idem_count,
	    &n);
	if (n > 1) {
		gw_reply_error(gr, 400, "one Idempotency-Key header at most");
		return (-1);
	}
	len = strlen(h);
	if (len >= 2 && h[0] == '"' && h[len - 1] == '"') {
		h++;
		len -= 2;
	}
	if ((bad = gw_idem_invalid(h, len)) != NULL) {
		gw_reply_error(gr, 400, "Idempotency-Key %s", bad);
		return (-1);
	}
	parts[0] = gw_method_name(gr->gr_route->rt_method);
	parts[1] = gr->gr_route->rt_pattern;
	parts[2] = gr->gr_principal != NULL ? gr->gr_principal : "anonymous";
	parts[3] = h;
	for (i = 0; i < 3; i++)
		lens[i] = strlen(parts[i]);
	lens[3] = len;
	if (gw_idem_hash(parts, lens, 4, hex) != 0) {
		gw_reply_error(gr, 500, "could not hash the Idempotency-Key");
		return (-1);
	}
	snprintf(gr->gr_idem, sizeof(gr->gr_idem), "http:%s", hex);
	return (0);
}

void
gw_idem_fingerprint(struct gw_req *gr)
{
	const char	*parts[3];
	size_t		 lens[3];

	gr->gr_idem_fp[0] = '\0';
	if (gr->gr_idem[0] == '\0')
		return;
	parts[0] = gr->gr_path;
	parts[1] = gr->gr_query != NULL ? gr->gr_query : "";
	parts[2] = gr->gr_body.b_data != NULL ? gr->gr_body.b_data : "";
	lens[0] = strlen(parts[0]);
	lens[1] = strlen(parts[1]);
	lens[2] = gr->gr_body.b_data != NULL ? gr->gr_body.b_len : 0;
	/* Unhashed, the key still works, without the reuse check. */
	if (gw_idem_hash(parts, lens, 3, gr->gr_idem_fp) != 0)
		gr->gr_idem_fp[0] = '\0';
}

json_t *
gw_idem_caller(const struct gw_req *gr)
{
	if (gr == NULL || gr->gr_idem[0] == '\0')
		return (NULL);
	return (json_pack("{s:s, s:s?, s:I}", "idempotency_key", gr->gr_idem,
	    "idempotency_fingerprint", gr->gr_idem_fp[0] != '\0' ?
	    gr->gr_idem_fp : NULL, "idempotency_ttl_secs",
	    (json_int_t)gw_idem_cfg->idem_ttl_secs));
}

json_t *
gw_idem_chat(const char *agent_id, const char *key, json_t *body,
    const char **errp)
{
	const char	*parts[3];
	size_t		 lens[3];
	char		 hex[65], fp[65], *text;
	int		 rv;

	if ((*errp = gw_idem_invalid(key, strlen(key))) != NULL)
		return (NULL);
	parts[0] = "ws";
	parts[1] = agent_id;
	parts[2] = key;
	lens[0] = 2;
	lens[1] = strlen(agent_id);
	lens[2] = strlen(key);
	*errp = "could not hash the idempotency_key";
	if (gw_idem_hash(parts, lens, 3, hex) != 0)
		return (NULL);
	/* The fingerprint: the turn's body as it goes to the runtime. */
	if ((text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return (NULL);
	lens[0] = strlen(text);
	rv = gw_idem_hash((const char *const *)&text, lens, 1, fp);
	free(text);
	if (rv != 0)
		return (NULL);
	*errp = NULL;
	return (json_pack("{s:s+, s:s, s:I}", "idempotency_key", "ws:", hex,
	    "idempotency_fingerprint", fp, "idempotency_ttl_secs",
	    (json_int_t)gw_idem_cfg->idem_ttl_secs));
}
