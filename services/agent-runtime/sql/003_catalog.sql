-- What users change in the model catalog (catalog.c, catalog_ops.c).  The
-- catalog itself is data shipped with the program; these rows are read on
-- every resolve, so a change made through any replica counts at once on
-- all of them.  Provider names are the catalog's canonical ids.
--
-- provider_keys.api_key is a secret: no operation ever returns it.
CREATE TABLE provider_keys (
	provider	text PRIMARY KEY CHECK (provider <> ''),
	api_key		text NOT NULL CHECK (api_key <> ''),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE provider_urls (
	provider	text PRIMARY KEY CHECK (provider <> ''),
	base_url	text NOT NULL CHECK (base_url <> ''),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Custom models (tier "custom"): they win over a catalog model of the
-- same id.  Ids are unique without regard to case.
CREATE TABLE custom_models (
	id			text PRIMARY KEY CHECK (id <> ''),
	provider		text NOT NULL CHECK (provider <> ''),
	display_name		text NOT NULL,
	context_window		bigint NOT NULL CHECK (context_window > 0),
	max_output_tokens	bigint NOT NULL CHECK (max_output_tokens >= 0),
	input_cost_per_m	double precision NOT NULL DEFAULT 0
				CHECK (input_cost_per_m >= 0),
	output_cost_per_m	double precision NOT NULL DEFAULT 0
				CHECK (output_cost_per_m >= 0),
	supports_tools		boolean NOT NULL DEFAULT false,
	supports_vision		boolean NOT NULL DEFAULT false,
	supports_streaming	boolean NOT NULL DEFAULT true,
	supports_thinking	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE UNIQUE INDEX custom_models_lower_id_idx ON custom_models (lower(id));

-- User aliases: lowercase names, never one the catalog already defines.
CREATE TABLE model_aliases (
	alias		text PRIMARY KEY CHECK (alias <> '' AND alias = lower(alias)),
	model_id	text NOT NULL CHECK (model_id <> ''),
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
