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
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cfg.h"
#include "gateway.h"

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

int
gw_idem_check(struct gw_req *gr)
{
	const char	*h, *parts[4];
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
	if (len == 0) {
		gw_reply_error(gr, 400, "Idempotency-Key must not be empty");
		return (-1);
	}
	if (len > GW_IDEM_HEADER_MAX) {
		gw_reply_error(gr, 400, "Idempotency-Key is too long: %zu "
		    "bytes (the limit is %d)", len, GW_IDEM_HEADER_MAX);
		return (-1);
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)h[i] < 0x20 || (unsigned char)h[i] > 0x7e ||
		    h[i] == '"' || h[i] == '\\') {
			gw_reply_error(gr, 400, "Idempotency-Key must be "
			    "printable ASCII with no quote or backslash");
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
