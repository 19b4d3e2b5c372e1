/*
 * audit - owns the Merkle audit chain (chain.c), its anchor file
 * (anchor.c) and its retention trim (retention.c).
 *
 * It applies its schema's migrations, reads its [audit] config, starts
 * the retention timer, then answers its operations over the bus with a
 * pool of workers until SIGINT or SIGTERM (svc_main()).  The entries
 * arrive from the acting services' outbox relays (libshared/audit.h) as
 * audit.append.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "services.h"
#include "svc.h"

#define AUDIT_RETENTION_DAYS	90	/* the reference's default */
#define AUDIT_TRIM_SECS		3600	/* its suggested interval */
#define AUDIT_DAYS_MAX		36500

struct audit_conf	audit_conf;

/* An integer key of sec from 0 to max into *out (left as it is when
 * absent); 0, or -1 (logged). */
static int
audit_conf_int(json_t *sec, const char *table, const char *key,
    long long max, long long *out)
{
	json_t	*v = json_object_get(sec, key);

	if (v == NULL)
		return (0);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max) {
		log_warnx("config: [%s] %s must be an integer from 0 to %lld",
		    table, key, max);
		return (-1);
	}
	*out = json_integer_value(v);
	return (0);
}

/* [audit] and [audit.retention] into audit_conf; 0, or -1 (logged). */
static int
audit_conf_load(const struct sh_config *cfg)
{
	json_t		*sec = json_object_get(cfg->cf_doc, "audit");
	json_t		*rsec = json_object_get(sec, "retention"), *v, *d;
	const char	*path = NULL, *k;
	int		 n;

	audit_conf.ac_retention_days = AUDIT_RETENTION_DAYS;
	audit_conf.ac_trim_secs = AUDIT_TRIM_SECS;
	if ((audit_conf.ac_by_action = json_object()) == NULL)
		return (-1);
	if ((v = json_object_get(sec, "anchor_path")) != NULL &&
	    (path = json_string_value(v)) == NULL) {
		log_warnx("config: [audit] anchor_path must be a string");
		return (-1);
	}
	/* Off unless asked for: the file is one host's (README). */
	if (v == NULL || path[0] == '\0')
		n = 0;
	else if (strcmp(path, "default") == 0 || path[0] != '/')
		n = snprintf(audit_conf.ac_anchor, sizeof(audit_conf.ac_anchor),
		    "%s/%s", cfg->data_dir, strcmp(path, "default") == 0 ?
		    "audit.anchor" : path);
	else
		n = snprintf(audit_conf.ac_anchor, sizeof(audit_conf.ac_anchor),
		    "%s", path);
	if (n < 0 || (size_t)n >= sizeof(audit_conf.ac_anchor) - 8) {
		log_warnx("config: [audit] anchor_path is too long");
		return (-1);
	}
	if (audit_conf_int(sec, "audit", "retention_days", AUDIT_DAYS_MAX,
	    &audit_conf.ac_retention_days) != 0 ||
	    audit_conf_int(rsec, "audit.retention", "trim_interval_secs",
	    30 * 86400, &audit_conf.ac_trim_secs) != 0)
		return (-1);
	v = json_object_get(rsec, "retention_days_by_action");
	if (v != NULL && !json_is_object(v)) {
		log_warnx("config: [audit.retention] retention_days_by_action "
		    "must be a table of action names to days");
		return (-1);
	}
	json_object_foreach(v, k, d) {
		if (!chain_action_known(k) || !json_is_integer(d) ||
		    json_integer_value(d) < 0 ||
		    json_integer_value(d) > AUDIT_DAYS_MAX) {
			log_warnx("config: [audit.retention] "
			    "retention_days_by_action: '%s' must be an action "
			    "name and its days an integer from 0 to %d", k,
			    AUDIT_DAYS_MAX);
			return (-1);
		}
	}
	if (v != NULL && json_object_update(audit_conf.ac_by_action, v) != 0)
		return (-1);
	return (0);
}

static int
audit_start(const struct sh_config *cfg, void *arg)
{
	char	dir[sizeof(audit_conf.ac_anchor)], *slash;

	(void)arg;
	if (audit_conf_load(cfg) != 0)
		return (-1);
	if (audit_conf.ac_anchor[0] != '\0') {
		/* data_dir may not exist yet; the file's own directory is
		 * made, not its parents. */
		snprintf(dir, sizeof(dir), "%s", audit_conf.ac_anchor);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				log_warnx("could not make %s: %s", dir,
				    strerror(errno));
		}
		log_info("anchor file %s", audit_conf.ac_anchor);
	}
	if (backup_start(cfg) != 0)
		return (-1);
	retention_start(cfg);
	return (0);
}

static void
audit_stop(void *arg)
{
	(void)arg;
	retention_stop();
	json_decref(audit_conf.ac_by_action);
	audit_conf.ac_by_action = NULL;
}

static const struct svc_op *const audit_tables[] = { chain_ops, backup_ops,
	NULL };

static const struct svc_def audit_def = {
	.sd_name = SVC_AUDIT,
	.sd_schema = "audit",
	.sd_migrations = svc_migrations,
	.sd_ops = audit_tables,
	.sd_start = audit_start,
	.sd_stop = audit_stop,
};

SVC_MAIN(audit_def)
