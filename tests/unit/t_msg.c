/*
 * t_msg.c - the envelope codec, driven by proto/examples: every ok-*.json
 * must decode, every bad-*.json must be refused with a reason.  Adding a
 * message case means adding a file there.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "msg.h"
#include "util.h"

static int	passed, failed;

/*
 * msg_rep_decode_raw() must agree with msg_rep_decode() on every example,
 * and its body, as text or decoded on demand, must be the same value.
 */
static void
raw_same(const char *path, const char *data, size_t len, int want)
{
	struct msg_rep	 full, raw;
	char		 err[256] = "", *a = NULL, *b = NULL;
	size_t		 alen, blen;
	int		 rc, ok;

	rc = msg_rep_decode_raw(data, len, &raw, err, sizeof(err));
	ok = (rc == 0) == (want == 0) && (rc == 0 || err[0] != '\0');
	if (ok && rc == 0 && msg_rep_decode(data, len, &full, err,
	    sizeof(err)) == 0) {
		ok = raw.mp_status == full.mp_status &&
		    strcmp(raw.mp_id, full.mp_id) == 0 &&
		    (raw.mp_ctype == NULL) == (full.mp_ctype == NULL) &&
		    json_equal(msg_rep_body(&raw), full.mp_body) &&
		    (raw.mp_headers == NULL ? full.mp_headers == NULL :
		    json_equal(raw.mp_headers, full.mp_headers));
		a = msg_rep_body_text(&raw, &alen);
		b = msg_rep_body_text(&full, &blen);
		/* The raw text is the sender's bytes: compare values. */
		if (ok && a != NULL && b != NULL) {
			json_t *ja = json_loads(a, JSON_DECODE_ANY, NULL);
			json_t *jb = json_loads(b, JSON_DECODE_ANY, NULL);

			ok = json_equal(ja, jb) && strlen(a) == alen;
			json_decref(ja);
			json_decref(jb);
		} else
			ok = 0;
		msg_rep_release(&full);
	}
	if (rc == 0)
		msg_rep_release(&raw);
	printf("%s - %s (decoded as text)%s%s\n", ok ? "ok" : "not ok", path,
	    ok ? "" : ": ", ok ? "" : err);
	ok ? passed++ : failed++;
	free(a);
	free(b);
}

/* Replies the text decoder must refuse, and bodies it must keep as sent. */
static void
raw_cases(void)
{
	static const struct {
		const char	*text;
		const char	*body;	/* NULL: refused */
	} cases[] = {
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":[1, {\"a\":"
		    "\"\\u00e9\\n\"}, -0.5e+3, true, null]}",
		    "[1, {\"a\":\"\\u00e9\\n\"}, -0.5e+3, true, null]" },
		{ " {\"body\" : {} , \"status\":204,\"id\":\"a\",\"v\":1} \n",
		    "{}" },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"\xc3\xa9\"}",
		    "\"\xc3\xa9\"" },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":[1,]}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":{\"a\"}}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":[}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":01}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"\xc3\"}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"\xed\xa0\x80\"}",
		    NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"a\tb\"}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"\\x\"}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":tru}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":1} x", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":1,\"v\":1}", NULL },
		{ "{\"v\":2,\"id\":\"a\",\"status\":200,\"body\":1}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":99,\"body\":1}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200.0,\"body\":1}", NULL },
		{ "{\"v\":1,\"id\":\"a\",\"status\":200}", NULL },
		{ "[]", NULL },
		{ "", NULL },
	};
	struct msg_rep	 r;
	char		 err[256], *deep, *t;
	size_t		 i, n, len;
	int		 ok, rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = msg_rep_decode_raw(cases[i].text, strlen(cases[i].text),
		    &r, err, sizeof(err));
		if (cases[i].body == NULL)
			ok = rc == SH_EPROTO;
		else {
			t = rc == 0 ? msg_rep_body_text(&r, &len) : NULL;
			ok = t != NULL && strcmp(t, cases[i].body) == 0 &&
			    len == strlen(t);
			free(t);
		}
		if (rc == 0)
			msg_rep_release(&r);
		printf("%s - text decoder case %zu\n", ok ? "ok" : "not ok",
		    i);
		ok ? passed++ : failed++;
	}
	/* Nesting: jansson's bound, and no recursion to exhaust. */
	for (n = 2048; n <= 2049; n++) {
		deep = malloc(2 * n + 64);
		len = (size_t)snprintf(deep, 2 * n + 64, "{\"v\":1,\"id\":\"a\","
		    "\"status\":200,\"body\":");
		memset(deep + len, '[', n);
		memset(deep + len + n, ']', n);
		memcpy(deep + len + 2 * n, "}", 2);
		rc = msg_rep_decode_raw(deep, strlen(deep), &r, err,
		    sizeof(err));
		ok = n == 2048 ? rc == 0 : rc == SH_EPROTO;
		if (rc == 0)
			msg_rep_release(&r);
		printf("%s - text decoder: %zu levels %s\n", ok ? "ok" :
		    "not ok", n, n == 2048 ? "accepted" : "refused");
		ok ? passed++ : failed++;
		free(deep);
	}
}

static void
check(const char *dir, const char *name, int is_req)
{
	struct msg_req	 rq;
	struct msg_rep	 rp;
	char		 path[512], err[256] = "";
	char		*data;
	size_t		 len;
	int		 rc, want_ok = strncmp(name, "ok-", 3) == 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((data = util_read_file(path, 1 << 20, &len)) == NULL) {
		printf("not ok - %s: unreadable\n", path);
		failed++;
		return;
	}
	if (is_req) {
		rc = msg_req_decode(data, len, &rq, err, sizeof(err));
		if (rc == 0)
			msg_req_release(&rq);
	} else {
		rc = msg_rep_decode(data, len, &rp, err, sizeof(err));
		if (rc == 0)
			msg_rep_release(&rp);
		raw_same(path, data, len, rc);
	}
	free(data);
	if ((rc == 0) == want_ok && (want_ok || err[0] != '\0')) {
		printf("ok - %s\n", path);
		passed++;
	} else {
		printf("not ok - %s: rc %d (%s)\n", path, rc, err);
		failed++;
	}
}

static void
walk(const char *dir, int is_req)
{
	struct dirent	**ents;
	int		  i, n;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		printf("not ok - %s: missing\n", dir);
		failed++;
		return;
	}
	for (i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, ".json") != NULL)
			check(dir, ents[i]->d_name, is_req);
		free(ents[i]);
	}
	free(ents);
}

static void
roundtrip(void)
{
	struct msg_req	 rq;
	json_t		*env;
	char		*frame, pfx[64], err[128];
	const char	*payload;
	size_t		 len, plen;
	int		 ok = 0;

	env = msg_request("agents.get", NULL, 5, NULL,
	    json_pack("{s:s}", "id", "x"), NULL, NULL);
	frame = msg_frame("agent-runtime", env, &len);
	payload = frame ? msg_unframe(frame, len, pfx, sizeof(pfx), &plen) :
	    NULL;
	if (payload != NULL && strcmp(pfx, "agent-runtime") == 0 &&
	    msg_req_decode(payload, plen, &rq, err, sizeof(err)) == 0) {
		ok = strcmp(rq.mr_op, "agents.get") == 0 &&
		    util_uuid_valid(rq.mr_id) && rq.mr_deadline == 5 &&
		    strcmp(json_string_value(json_object_get(rq.mr_params,
		    "id")), "x") == 0 && json_is_null(rq.mr_body);
		msg_req_release(&rq);
	}
	ok = ok && msg_unframe("noframe", 7, pfx, sizeof(pfx), &plen) == NULL;
	printf("%s - request encode/frame/unframe/decode round trip\n",
	    ok ? "ok" : "not ok");
	ok ? passed++ : failed++;
	free(frame);
	json_decref(env);
}

int
main(void)
{
	walk("proto/examples/request", 1);
	walk("proto/examples/reply", 0);
	roundtrip();
	raw_cases();
	printf("%d passed, %d failed\n", passed, failed);
	return (failed == 0 ? 0 : 1);
}
