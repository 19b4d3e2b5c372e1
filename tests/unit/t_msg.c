/*
 * t_msg.c - the envelope codec, driven by proto/examples: every ok-*.json
 * must decode, every bad-*.json must be refused with a reason.  Adding a
 * message case means adding a file there.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "util.h"

static int	passed, failed;

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
	printf("%d passed, %d failed\n", passed, failed);
	return (failed == 0 ? 0 : 1);
}
