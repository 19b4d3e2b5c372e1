/*
 * llm/probe.c - the two blocking calls the catalog's operations make
 * (llm/llm.h): a provider test through the driver of the target's style,
 * and the model list of an Ollama server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "httpc.h"
#include "llm/driver.h"
#include "util.h"

#define LLM_PROBE_MAX		(1024 * 1024)	/* bytes of an answer */
#define LLM_PROBE_TOKENS	16

int
llm_probe(const struct llm_target *t, struct llm_probe *p)
{
	struct llm_wire		 w;
	struct httpc_req	 hr;
	struct httpc_resp	 rs;
	json_t			*req;
	uint64_t		 t0;
	int			 rv = -1;

	memset(p, 0, sizeof(*p));
	memset(&w, 0, sizeof(w));
	memset(&rs, 0, sizeof(rs));
	req = json_pack("{s:[{s:s, s:s}], s:i, s:b}", "messages", "role",
	    "user", "content", "ping", "max_tokens", LLM_PROBE_TOKENS,
	    "stream", 0);
	if (req == NULL) {
		snprintf(p->lp_error, sizeof(p->lp_error), "out of memory");
		goto done;
	}
	if (llm_wire_build(req, t, 0, &w, p->lp_error,
	    sizeof(p->lp_error)) != 0)
		goto done;
	memset(&hr, 0, sizeof(hr));
	hr.hr_url = w.w_url;
	hr.hr_headers = w.w_hdrs;
	hr.hr_body = w.w_body;
	hr.hr_bodylen = w.w_bodylen;
	hr.hr_timeout_ms = LLM_PROBE_TIMEOUT_MS;
	hr.hr_connect_ms = LLM_PROBE_CONNECT_MS;
	hr.hr_max = LLM_PROBE_MAX;
	hr.hr_truncate = 1;
	t0 = util_now_ms();
	if (httpc_do(&hr, &rs) != 0) {
		snprintf(p->lp_error, sizeof(p->lp_error), "%s", rs.hs_err);
		goto done;
	}
	p->lp_ms = (long long)(util_now_ms() - t0);
	p->lp_status = rs.hs_status;
	if (rs.hs_status < 200 || rs.hs_status >= 300)
		llm_provider_error(rs.hs_body.b_data, rs.hs_body.b_len,
		    t->t_api_key, p->lp_error, sizeof(p->lp_error));
	rv = 0;
 done:
	httpc_resp_release(&rs);
	llm_wire_release(&w);
	json_decref(req);
	return (rv);
}

char *
llm_ollama_native(const char *base_url)
{
	char	*base;

	if ((base = llm_url_join(base_url, "")) != NULL &&
	    llm_url_ends(base, "/v1"))
		base[strlen(base) - 3] = '\0';
	return (base);
}

json_t *
llm_ollama_models(const char *base_url, char *err, size_t errlen)
{
	struct httpc_req	 hr;
	struct httpc_resp	 rs;
	json_t			*j = NULL, *names = NULL, *e;
	char			*base, *url = NULL;
	size_t			 i;

	memset(&rs, 0, sizeof(rs));
	if ((base = llm_ollama_native(base_url)) != NULL) {
		url = llm_url_join(base, "/api/tags");
		free(base);
	}
	if (url == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	memset(&hr, 0, sizeof(hr));
	hr.hr_url = url;
	hr.hr_timeout_ms = LLM_DETECT_TIMEOUT_MS;
	hr.hr_connect_ms = LLM_DETECT_CONNECT_MS;
	hr.hr_max = LLM_PROBE_MAX;
	if (httpc_do(&hr, &rs) != 0) {
		snprintf(err, errlen, "%s", rs.hs_err);
		goto done;
	}
	if (rs.hs_status != 200 || (j = json_loadb(rs.hs_body.b_data != NULL ?
	    rs.hs_body.b_data : "", rs.hs_body.b_len, 0, NULL)) == NULL ||
	    !json_is_array(json_object_get(j, "models"))) {
		snprintf(err, errlen, "%s answered HTTP %ld without a model "
		    "list", url, rs.hs_status);
		goto done;
	}
	if ((names = json_array()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	json_array_foreach(json_object_get(j, "models"), i, e)
		if (json_is_string(json_object_get(e, "name")) &&
		    json_array_append(names, json_object_get(e, "name")) != 0) {
			json_decref(names);
			names = NULL;
			snprintf(err, errlen, "out of memory");
			break;
		}
 done:
	httpc_resp_release(&rs);
	json_decref(j);
	free(url);
	return (names);
}
