/*
 * agent/edit.c - the operations that change one agent in place: update,
 * patch, mode, identity, config and model.
 *
 * All six have one shape (agent_edit()): check the id and the body
 * without the database, then in one transaction lock the row (FOR UPDATE),
 * change copies of its manifest and identity, normalise the manifest, write
 * back only if the row's version is still the one read, commit, and
 * publish agent_updated.  Two replicas patching different fields of one
 * agent at once therefore both keep their change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "audit.h"
#include "catalog/catalog.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define AGENT_FALLBACKS_MAX	16

static const char *const agent_archetypes[] = {
	"researcher", "coder", "assistant", "writer", "devops", "support",
	"analyst", NULL
};
static const char *const agent_vibes[] = {
	"professional", "friendly", "technical", "creative", "concise",
	"mentor", NULL
};
static const char *const agent_greetings[] = {
	"warm", "formal", "playful", "brief", NULL
};

const char *const agent_identity_keys[] = {
	"emoji", "avatar_url", "color", "archetype", "vibe", "greeting_style",
	NULL
};

/* An agent being changed under its row lock (see agent_edit()). */
struct agent_edit {
	json_t		*ae_row;	/* borrowed: the locked row */
	json_t		*ae_manifest;	/* new: the manifest to write */
	json_t		*ae_identity;	/* new: the identity to write */
	char		 ae_name[AGENT_NAME_MAX + 1];
	char		 ae_mode[16];
	const char	*ae_source;	/* borrowed: new source_toml, or NULL */
	json_t		*ae_reply;	/* new: extra reply fields, or NULL */
};

/* Checks what can be checked without the row; 0 or -1 (replied). */
typedef int (*agent_check_fn)(struct svc_ctx *c, json_t *body,
	    struct svc_reply *rp);
/* Applies body to ed; 0 or -1 (replied). */
typedef int (*agent_apply_fn)(struct svc_ctx *c, json_t *body,
	    struct agent_edit *ed, struct svc_reply *rp);

/* ---- checks ---------------------------------------------------------- */

static int
agent_check_tags(json_t *body, struct svc_reply *rp)
{
	json_t	*v = json_object_get(body, "tags"), *e;
	size_t	 i;

	if (v == NULL)
		return (0);
	if (!json_is_array(v) || json_array_size(v) > AGENT_TAGS_MAX) {
		svc_reply_error(rp, 400, "'tags' must be an array of at most "
		    "%d strings", AGENT_TAGS_MAX);
		return (-1);
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > AGENT_TAG_MAX) {
			svc_reply_error(rp, 400, "'tags[%zu]' must be a "
			    "string of 1-%d bytes", i, AGENT_TAG_MAX);
			return (-1);
		}
	}
	return (0);
}

/* Each key one of the text fields within its bound (agent_get_text()). */
static int
agent_check_strings(json_t *body, const char *const *keys,
    struct svc_reply *rp)
{
	const char	*s;

	for (; *keys != NULL; keys++)
		if (agent_get_text(body, *keys, 0, &s, rp) != 0)
			return (-1);
	return (0);
}

static int
agent_is_hex(char ch)
{
	return ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F'));
}

/* No control characters or spaces (URLs, env names, emoji). */
static int
agent_is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return (0);
	return (1);
}

/*
 * The identity fields: null or absent keeps the current value, "" clears
 * it, anything else is checked (notes §2.2).
 */
static int
agent_check_identity(json_t *body, struct svc_reply *rp)
{
	const char	*s;
	size_t		 i;

	if (agent_get_str(body, "emoji", 1, 64, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && !agent_is_printable(s)) {
		svc_reply_error(rp, 400, "'emoji' must be printable");
		return (-1);
	}
	if (agent_get_str(body, "avatar_url", 1, AGENT_URL_MAX, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && (!agent_is_printable(s) ||
	    (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0 &&
	    strncmp(s, "data:image/", 11) != 0 && s[0] != '/'))) {
		svc_reply_error(rp, 400, "'avatar_url' must be an http(s) URL, "
		    "a data:image/ URL or a path");
		return (-1);
	}
	if (agent_get_str(body, "color", 1, 16, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0') {
		for (i = 1; i < 7 && agent_is_hex(s[i]); i++)
			;
		if (s[0] != '#' || i != 7 || s[7] != '\0') {
			svc_reply_error(rp, 400, "'color' must be #RRGGBB");
			return (-1);
		}
	}
	if (agent_get_str(body, "archetype", 1, 64, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && !agent_in_list(s, agent_archetypes)) {
		svc_reply_error(rp, 400, "'archetype' must be one of "
		    "researcher, coder, assistant, writer, devops, support, "
		    "analyst");
		return (-1);
	}
	if (agent_get_str(body, "vibe", 1, 64, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && !agent_in_list(s, agent_vibes)) {
		svc_reply_error(rp, 400, "'vibe' must be one of professional, "
		    "friendly, technical, creative, concise, mentor");
		return (-1);
	}
	if (agent_get_str(body, "greeting_style", 1, 64, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && !agent_in_list(s, agent_greetings)) {
		svc_reply_error(rp, 400, "'greeting_style' must be one of "
		    "warm, formal, playful, brief");
		return (-1);
	}
	return (0);
}

static void
agent_apply_identity(json_t *body, json_t *identity)
{
	const char *const	*k;
	json_t			*v;

	for (k = agent_identity_keys; *k != NULL; k++) {
		v = json_object_get(body, *k);
		if (!json_is_string(v))
			continue;
		if (json_string_length(v) == 0)
			json_object_del(identity, *k);
		else
			json_object_set(identity, *k, v);
	}
}

json_t *
agent_identity_view(json_t *identity)
{
	const char *const	*k;
	json_t			*o, *v;

	if ((o = json_object()) == NULL)
		return (NULL);
	for (k = agent_identity_keys; *k != NULL; k++) {
		v = json_object_get(identity, *k);
		json_object_set_new(o, *k, json_is_string(v) ? json_incref(v) :
		    json_null());
	}
	return (o);
}

/* ---- read-modify-write ----------------------------------------------- */

int
agent_edit_begin(struct svc_ctx *c, const char *id, json_t **rowp,
    json_t **mp, struct svc_reply *rp)
{
	json_t	*row = NULL, *m = NULL;
	int	 ret = -1;

	if (agent_store_begin(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	if ((row = agent_fetch(c, id, 1, rp)) == NULL)
		goto done;
	if ((m = json_deep_copy(json_object_get(row, "manifest"))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	*rowp = row;
	*mp = m;
	row = m = NULL;
	ret = 0;
 done:
	if (ret != 0)
		agent_store_rollback(c->sc_db);
	json_decref(row);
	json_decref(m);
	return (ret);
}

int
agent_edit_commit(struct svc_ctx *c, json_t *row, const char *name,
    json_t *m, const char *source, json_t *identity, const char *mode,
    struct svc_reply *rp)
{
	int	 rv;

	rv = agent_store_update(c->sc_db, row, name, m, source, identity,
	    mode);
	if (rv == AGENT_EEXIST) {
		svc_reply_error(rp, 409, "Agent '%s' already exists", name);
		return (-1);
	}
	if (rv == AGENT_ECONFLICT) {
		svc_reply_error(rp, 409, "agent was changed concurrently; "
		    "retry");
		return (-1);
	}
	if (rv == SH_ENOTFOUND) {
		svc_reply_error(rp, 404, "Agent not found");
		return (-1);
	}
	if (rv != 0 || agent_store_commit(c->sc_db) != 0) {
		svc_reply_db_error(rp, c);
		return (-1);
	}
	return (0);
}

/*
 * The shape of every change to one agent: check the id and the body,
 * lock the row, let apply change copies of the manifest and identity,
 * normalise, write back (version-checked), commit, publish agent_updated.
 */
static void
agent_edit(struct svc_ctx *c, const struct msg_req *rq, struct svc_reply *rp,
    const char *const *allowed, agent_check_fn check, agent_apply_fn apply)
{
	struct agent_edit	 ed;
	char			 id[UTIL_UUID_LEN], err[AGENT_ERRLEN];
	json_t			*body = rq->mr_body, *out;
	const char		*k, *m;
	json_t			*v;
	int			 rv, in_tx = 0;

	memset(&ed, 0, sizeof(ed));
	if (svc_param_agent_id(rq, rp, id) != 0 ||
	    agent_body_keys(body, allowed, rp) != 0 ||
	    (check != NULL && check(c, body, rp) != 0))
		return;
	if (agent_edit_begin(c, id, &ed.ae_row, &ed.ae_manifest, rp) != 0)
		return;
	in_tx = 1;
	if ((ed.ae_identity = json_deep_copy(json_object_get(ed.ae_row,
	    "identity"))) == NULL) {
		svc_reply_error(rp, 500, "out of memory");
		goto done;
	}
	snprintf(ed.ae_name, sizeof(ed.ae_name), "%s", json_string_value(
	    json_object_get(ed.ae_row, "name")));
	snprintf(ed.ae_mode, sizeof(ed.ae_mode), "%s", json_string_value(
	    json_object_get(ed.ae_row, "mode")));
	if (apply(c, body, &ed, rp) != 0)
		goto done;
	json_object_set_new(ed.ae_manifest, "name", json_string(ed.ae_name));
	if (agent_manifest_normalize(ed.ae_manifest, err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		goto done;
	}
	if ((rv = agent_check_models(c->sc_db, ed.ae_manifest,
	    json_object_get(ed.ae_row, "manifest"), err, sizeof(err))) != 0) {
		svc_reply_error(rp, rv, "%s", err);
		goto done;
	}
	/* Recorded in the change's own transaction (libshared/audit.h). */
	m = json_string_value(json_object_get(ed.ae_reply, "model"));
	snprintf(err, sizeof(err), "%s: agent '%s'%s%s%s", rq->mr_op,
	    ed.ae_name, m != NULL ? " model '" : "", m != NULL ? m : "",
	    m != NULL ? "'" : "");
	if (audit_record(c->sc_db, AUDIT_CONFIG_CHANGE, id, err, "ok") != 0) {
		svc_reply_db_error(rp, c);
		goto done;
	}
	if (agent_edit_commit(c, ed.ae_row, ed.ae_name, ed.ae_manifest,
	    ed.ae_source, ed.ae_identity, ed.ae_mode, rp) != 0)
		goto done;
	in_tx = 0;
	agent_publish(c->sc_arg, rq, "agent_updated", id, ed.ae_name);
	out = json_pack("{s:s, s:s}", "status", "updated", "agent_id", id);
	if (out != NULL && ed.ae_reply != NULL)
		json_object_foreach(ed.ae_reply, k, v)
			json_object_set(out, k, v);
	svc_reply_json(rp, 200, out);
 done:
	if (in_tx)
		agent_store_rollback(c->sc_db);
	json_decref(ed.ae_row);
	json_decref(ed.ae_manifest);
	json_decref(ed.ae_identity);
	json_decref(ed.ae_reply);
}

/* Sets manifest.model.<key> = value (borrowed). */
static void
agent_set_model_key(json_t *m, const char *key, json_t *value)
{
	json_t	*model = json_object_get(m, "model");

	if (!json_is_object(model)) {
		model = json_object();
		json_object_set_new(m, "model", model);
	}
	if (model != NULL)
		json_object_set(model, key, value);
}

/* Copies the plain keys of body that live at the manifest's top level. */
static void
agent_copy_keys(json_t *body, json_t *m, const char *const *keys)
{
	json_t	*v;

	for (; *keys != NULL; keys++)
		if ((v = json_object_get(body, *keys)) != NULL)
			json_object_set(m, *keys, v);
}

/* agents.update: PUT /api/agents/{id}/update */

static const char *const update_keys[] = {
	"description", "system_prompt", "tags", NULL
};

static int
check_update(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	static const char *const	strs[] = {
		"description", "system_prompt", NULL
	};

	(void)c;
	return (agent_check_strings(body, strs, rp) != 0 ||
	    agent_check_tags(body, rp) != 0 ? -1 : 0);
}

static int
apply_update(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	static const char *const	top[] = { "description", "tags", NULL };
	json_t				*v;

	(void)c;
	(void)rp;
	agent_copy_keys(body, ed->ae_manifest, top);
	if ((v = json_object_get(body, "system_prompt")) != NULL)
		agent_set_model_key(ed->ae_manifest, "system_prompt", v);
	return (0);
}

void
agent_op_update(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, update_keys, check_update, apply_update);
}

/* agents.patch: PATCH /api/agents/{id} */

static const char *const patch_keys[] = {
	"manifest_toml", "name", "description", "model", "provider",
	"system_prompt", "tags", "auto_evolve", "schedule", NULL
};

static int
check_patch(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	static const char *const	strs[] = {
		"description", "model", "provider", "system_prompt", NULL
	};
	json_t				*v;
	const char			*s;
	int				 b;

	(void)c;
	if ((v = json_object_get(body, "manifest_toml")) != NULL) {
		if (json_object_size(body) != 1) {
			svc_reply_error(rp, 400, "manifest_toml replaces the "
			    "whole manifest and cannot be combined with other "
			    "fields");
			return (-1);
		}
		if (agent_get_str(body, "manifest_toml", 0, AGENT_MANIFEST_MAX,
		    &s, rp) != 0)
			return (-1);
		if (strlen(s) != json_string_length(v)) {
			svc_reply_error(rp, 400, "invalid manifest: NUL "
			    "character");
			return (-1);
		}
		return (0);
	}
	v = json_object_get(body, "schedule");
	if (v != NULL && !json_is_string(v) && !json_is_object(v)) {
		svc_reply_error(rp, 400, "'schedule' must be a string or an "
		    "object");
		return (-1);
	}
	return (agent_check_name(body, "name", rp) != 0 ||
	    agent_check_strings(body, strs, rp) != 0 ||
	    agent_check_tags(body, rp) != 0 ||
	    agent_get_bool(body, "auto_evolve", &b, rp) != 0 ? -1 : 0);
}

static int
apply_patch(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	static const char *const	top[] = {
		"description", "tags", "auto_evolve", "schedule", NULL
	};
	json_t				*v, *m;
	const char			*s;
	char				 err[AGENT_ERRLEN];

	(void)c;
	if ((v = json_object_get(body, "manifest_toml")) != NULL) {
		/* The whole manifest; the agent keeps its name. */
		if ((m = agent_manifest_parse(json_string_value(v),
		    json_string_length(v), err, sizeof(err))) == NULL) {
			svc_reply_error(rp, 400, "%s", err);
			return (-1);
		}
		json_decref(ed->ae_manifest);
		ed->ae_manifest = m;
		ed->ae_source = json_string_value(v);
		return (0);
	}
	if ((s = json_string_value(json_object_get(body, "name"))) != NULL)
		snprintf(ed->ae_name, sizeof(ed->ae_name), "%s", s);
	agent_copy_keys(body, ed->ae_manifest, top);
	if ((v = json_object_get(body, "model")) != NULL)
		agent_set_model_key(ed->ae_manifest, "model", v);
	if ((v = json_object_get(body, "provider")) != NULL)
		agent_set_model_key(ed->ae_manifest, "provider", v);
	if ((v = json_object_get(body, "system_prompt")) != NULL)
		agent_set_model_key(ed->ae_manifest, "system_prompt", v);
	ed->ae_reply = json_pack("{s:s}", "name", ed->ae_name);
	return (0);
}

void
agent_op_patch(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, patch_keys, check_patch, apply_patch);
}

/* agents.mode: PUT /api/agents/{id}/mode */

static const char *const mode_keys[] = { "mode", NULL };

/* The canonical spelling of a mode, NULL if unknown. */
static const char *
agent_mode_name(const char *s)
{
	static const char *const	modes[] = {
		"Stable", "Normal", "observe", "assist", "full", NULL
	};
	const char *const		*m;

	for (m = modes; s != NULL && *m != NULL; m++)
		if (strcasecmp(s, *m) == 0)
			return (*m);
	return (NULL);
}

static int
check_mode(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	const char	*s;

	(void)c;
	if (agent_get_str(body, "mode", 0, 64, &s, rp) != 0)
		return (-1);
	if (s == NULL) {
		svc_reply_error(rp, 400, "'mode' is required");
		return (-1);
	}
	if (agent_mode_name(s) == NULL) {
		svc_reply_error(rp, 400, "invalid mode '%s': use Stable, "
		    "Normal, observe, assist or full", s);
		return (-1);
	}
	return (0);
}

static int
apply_mode(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	json_t		*given = json_object_get(body, "mode");
	const char	*mode = agent_mode_name(json_string_value(given));

	(void)rp;
	if (strcmp(mode, "Stable") == 0)
		/* Pin what runs now, the global default resolved. */
		json_object_set_new(ed->ae_manifest, "pinned_model",
		    json_string(agent_model_shown(c, ed->ae_manifest)));
	else if (strcmp(mode, "Normal") == 0)
		json_object_del(ed->ae_manifest, "pinned_model");
	else
		snprintf(ed->ae_mode, sizeof(ed->ae_mode), "%s", mode);
	ed->ae_reply = json_pack("{s:O}", "mode", given);
	return (0);
}

void
agent_op_mode(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, mode_keys, check_mode, apply_mode);
}

/* agents.identity: PATCH /api/agents/{id}/identity */

static int
check_identity(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	(void)c;
	return (agent_check_identity(body, rp));
}

static int
apply_identity(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	(void)c;
	(void)rp;
	agent_apply_identity(body, ed->ae_identity);
	ed->ae_reply = json_pack("{s:o}", "identity",
	    agent_identity_view(ed->ae_identity));
	return (0);
}

void
agent_op_identity(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, agent_identity_keys, check_identity,
	    apply_identity);
}

/* agents.config: PATCH /api/agents/{id}/config (notes §2.7) */

static const char *const config_keys[] = {
	"name", "description", "system_prompt", "model", "provider",
	"api_key_env", "base_url", "max_tokens", "temperature",
	"fallback_models", "web_search_augmentation",
	"emoji", "avatar_url", "color", "archetype", "vibe", "greeting_style",
	NULL
};

static int
agent_check_url(const char *s)
{
	return (agent_is_printable(s) && (strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "http://", 7) == 0));
}

/*
 * The [model] endpoint overrides of config and PUT .../model: api_key_env
 * (an allowed key variable, catalog_key_env_check()) and base_url
 * (http(s)); null or "" clears either.
 */
static int
agent_check_endpoint(json_t *body, struct svc_reply *rp)
{
	const char	*s;
	char		 err[AGENT_ERRLEN];

	if (agent_get_str(body, "api_key_env", 1, AGENT_ENV_MAX, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && catalog_key_env_check("api_key_env", s,
	    err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return (-1);
	}
	if (agent_get_str(body, "base_url", 1, AGENT_URL_MAX, &s, rp) != 0)
		return (-1);
	if (s != NULL && *s != '\0' && !agent_check_url(s)) {
		svc_reply_error(rp, 400, "'base_url' must be an http:// or "
		    "https:// URL");
		return (-1);
	}
	return (0);
}

/* Applies what agent_check_endpoint() let through to manifest m. */
static void
agent_apply_endpoint(json_t *body, json_t *m)
{
	static const char *const	keys[] = {
		"api_key_env", "base_url", NULL
	};
	const char *const		*k;
	json_t				*v;

	for (k = keys; *k != NULL; k++) {
		if ((v = json_object_get(body, *k)) == NULL)
			continue;
		if (json_is_null(v) || json_string_length(v) == 0)
			json_object_del(json_object_get(m, "model"), *k);
		else
			agent_set_model_key(m, *k, v);
	}
}

static int
agent_check_fallbacks(json_t *body, struct svc_reply *rp)
{
	json_t		*v = json_object_get(body, "fallback_models"), *e, *f;
	const char	*k, *s;
	char		 what[64], err[AGENT_ERRLEN];
	size_t		 i, max;

	if (v == NULL)
		return (0);
	if (!json_is_array(v) || json_array_size(v) > AGENT_FALLBACKS_MAX) {
		svc_reply_error(rp, 400, "'fallback_models' must be an array "
		    "of at most %d objects", AGENT_FALLBACKS_MAX);
		return (-1);
	}
	json_array_foreach(v, i, e) {
		if (!json_is_object(e)) {
			svc_reply_error(rp, 400, "'fallback_models[%zu]' must "
			    "be an object", i);
			return (-1);
		}
		json_object_foreach(e, k, f) {
			if (json_is_object(f) || json_is_array(f) ||
			    json_is_null(f)) {
				svc_reply_error(rp, 400, "'fallback_models[%zu]"
				    ".%s' must be a scalar", i, k);
				return (-1);
			}
			s = json_string_value(f);
			if ((strcmp(k, "provider") == 0 ||
			    strcmp(k, "model") == 0 ||
			    strcmp(k, "api_key_env") == 0 ||
			    strcmp(k, "base_url") == 0) && s == NULL) {
				svc_reply_error(rp, 400, "'fallback_models[%zu]"
				    ".%s' must be a string", i, k);
				return (-1);
			}
			max = strcmp(k, "provider") == 0 ? AGENT_PROVIDER_MAX :
			    strcmp(k, "model") == 0 ? AGENT_MODEL_MAX : 0;
			if (max > 0 && (*s == '\0' ||
			    json_string_length(f) > max)) {
				svc_reply_error(rp, 400, "'fallback_models[%zu]"
				    ".%s' must be 1 to %zu bytes", i, k, max);
				return (-1);
			}
			if (strcmp(k, "api_key_env") == 0) {
				snprintf(what, sizeof(what), "fallback_models"
				    "[%zu].api_key_env", i);
				if (catalog_key_env_check(what, s, err,
				    sizeof(err)) != 0) {
					svc_reply_error(rp, 400, "%s", err);
					return (-1);
				}
			}
			if (strcmp(k, "base_url") == 0 &&
			    (!agent_check_url(s) ||
			    json_string_length(f) > AGENT_URL_MAX)) {
				svc_reply_error(rp, 400, "'fallback_models[%zu]"
				    ".%s' is not valid", i, k);
				return (-1);
			}
		}
	}
	return (0);
}

static int
check_config(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	static const char *const	strs[] = {
		"description", "system_prompt", "model", "provider", NULL
	};
	json_t				*v;
	const char			*s;
	char				 err[AGENT_ERRLEN];

	(void)c;
	if (agent_check_name(body, "name", rp) != 0 ||
	    agent_check_strings(body, strs, rp) != 0 ||
	    agent_check_identity(body, rp) != 0 ||
	    agent_check_fallbacks(body, rp) != 0)
		return (-1);
	if (agent_check_endpoint(body, rp) != 0)
		return (-1);
	if ((v = json_object_get(body, "max_tokens")) != NULL &&
	    agent_check_max_tokens(v, "max_tokens", err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return (-1);
	}
	if ((v = json_object_get(body, "temperature")) != NULL &&
	    agent_check_temperature(v, "temperature", err, sizeof(err)) != 0) {
		svc_reply_error(rp, 400, "%s", err);
		return (-1);
	}
	if (agent_get_str(body, "web_search_augmentation", 0, 16, &s, rp) != 0)
		return (-1);
	if (s != NULL && strcmp(s, "off") != 0 && strcmp(s, "auto") != 0 &&
	    strcmp(s, "always") != 0) {
		svc_reply_error(rp, 400, "'web_search_augmentation' must be "
		    "off, auto or always");
		return (-1);
	}
	return (0);
}

static int
apply_config(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	static const char *const	top[] = {
		"description", "fallback_models", "web_search_augmentation",
		NULL
	};
	static const char *const	model_keys[] = {
		"system_prompt", "model", "provider", "max_tokens",
		"temperature", NULL
	};
	const char *const		*k;
	json_t				*v;
	const char			*s;

	(void)c;
	(void)rp;
	if ((s = json_string_value(json_object_get(body, "name"))) != NULL)
		snprintf(ed->ae_name, sizeof(ed->ae_name), "%s", s);
	agent_copy_keys(body, ed->ae_manifest, top);
	for (k = model_keys; *k != NULL; k++)
		if ((v = json_object_get(body, *k)) != NULL)
			agent_set_model_key(ed->ae_manifest, *k, v);
	agent_apply_endpoint(body, ed->ae_manifest);
	agent_apply_identity(body, ed->ae_identity);
	return (0);
}

void
agent_op_config(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, config_keys, check_config, apply_config);
}

/*
 * agents.set_model: PUT /api/agents/{id}/model (notes 2.7).  Without a
 * provider in the body, the provider is the one the catalog gives the
 * model (catalog_model_provider()), unless the agent has an endpoint of
 * its own (base_url) or nothing tells: then it keeps its provider, as the
 * reference does, so a model only the agent's own server knows (Ollama,
 * vLLM) can still be chosen.  A new provider drops the agent's
 * api_key_env and base_url, which belonged to the old one (a key must not
 * go to another provider's endpoint), unless the body sets them.
 */

static const char *const set_model_keys[] = {
	"model", "provider", "api_key_env", "base_url", NULL
};

static int
check_set_model(struct svc_ctx *c, json_t *body, struct svc_reply *rp)
{
	const char	*model, *prov;

	(void)c;
	if (agent_get_text(body, "model", 0, &model, rp) != 0 ||
	    agent_get_text(body, "provider", 1, &prov, rp) != 0 ||
	    agent_check_endpoint(body, rp) != 0)
		return (-1);
	if (model == NULL) {
		svc_reply_error(rp, 400, "'model' is required");
		return (-1);
	}
	return (0);
}

static int
apply_set_model(struct svc_ctx *c, json_t *body, struct agent_edit *ed,
    struct svc_reply *rp)
{
	json_t		*mm, *url;
	const char	*model, *prov, *old;
	char		 found[CATALOG_PROVIDER_MAX + 1];
	int		 rv;

	model = json_string_value(json_object_get(body, "model"));
	prov = json_string_value(json_object_get(body, "provider"));
	if (!json_is_object(mm = json_object_get(ed->ae_manifest, "model"))) {
		svc_reply_error(rp, 500, "stored manifest has no [model]");
		return (-1);
	}
	old = json_string_value(json_object_get(mm, "provider"));
	/* The endpoint the agent will have: the body's, else its own. */
	if ((url = json_object_get(body, "base_url")) == NULL)
		url = json_object_get(mm, "base_url");
	if (prov == NULL && json_string_length(url) == 0) {
		rv = catalog_model_provider(c->sc_db, model, found,
		    sizeof(found));
		if (rv == SH_EUNAVAIL) {
			svc_reply_db_error(rp, c);
			return (-1);
		}
		if (rv == 0)
			prov = found;
	}
	if (prov != NULL && (old == NULL || strcasecmp(prov, old) != 0)) {
		/* A case-insensitive compare only: a provider named another
		 * way ("google" for gemini) counts as new, the safe side. */
		json_object_del(mm, "api_key_env");
		json_object_del(mm, "base_url");
	}
	agent_set_model_key(ed->ae_manifest, "model", json_object_get(body,
	    "model"));
	if (prov != NULL)
		json_object_set_new(mm, "provider", json_string(prov));
	agent_apply_endpoint(body, ed->ae_manifest);
	ed->ae_reply = json_pack("{s:s, s:s}", "model", model, "provider",
	    json_string_value(json_object_get(mm, "provider")) ?: "");
	return (0);
}

void
agent_op_set_model(struct svc_ctx *c, const struct msg_req *rq,
    struct svc_reply *rp)
{
	agent_edit(c, rq, rp, set_model_keys, check_set_model, apply_set_model);
}
