/*
 * uploadblocks - upload_blocks() from the shell, for t1700-uploads.sh.
 *
 *   uploadblocks AGENT_ID 'ATTACHMENTS_JSON'
 *	prints {"rc": <int>, "error": "...", "blocks": [...]} on one line
 *
 * It connects to the configured database (LIBREFANG_DATABASE_URL, or the
 * private cluster under $LIBREFANG_HOME) in schema "runtime", as
 * agent-runtime does.  It links services/agent-runtime/files/upload.c alone
 * (tests/tests.mk): that file reads only the uploads table and needs
 * nothing else of the service.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "files/upload.h"

int
main(int argc, char **argv)
{
	struct sh_config	 cfg;
	struct db		*db;
	json_error_t		 je;
	json_t			*att, *blocks, *out;
	char			 conninfo[2048], err[UPLOAD_ERRLEN] = "";
	char			*js;
	int			 rc;

	if (argc != 3) {
		fprintf(stderr, "usage: uploadblocks AGENT_ID JSON\n");
		return (2);
	}
	if ((att = json_loads(argv[2], JSON_DECODE_ANY, &je)) == NULL) {
		fprintf(stderr, "uploadblocks: bad JSON: %s\n", je.text);
		return (2);
	}
	log_init("uploadblocks", LOG_LVL_WARN, 0);
	if (cfg_load(&cfg, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "uploadblocks: %s\n", err);
		cfg_release(&cfg);
		json_decref(att);
		return (1);
	}
	db_conninfo(cfg.database_url, cfg.home_dir, conninfo,
	    sizeof(conninfo));
	if ((db = db_open(conninfo, "runtime")) == NULL) {
		cfg_release(&cfg);
		json_decref(att);
		return (1);
	}
	blocks = json_array();
	rc = upload_blocks(db, argv[1], att, blocks, err, sizeof(err));
	out = json_pack("{s:i, s:s, s:o}", "rc", rc, "error", err, "blocks",
	    blocks);
	js = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
	printf("%s\n", js != NULL ? js : "{}");
	free(js);
	json_decref(out);
	json_decref(att);
	db_close(db);
	cfg_release(&cfg);
	return (0);
}
