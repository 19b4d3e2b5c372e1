-- Triggers (trigger/): an agent's standing order to be told about events
-- that match a pattern (notes/kernel.md 2).  pattern is the normalised
-- object form {"<kind>": {...}}; NULL cooldown_secs / session_mode mean
-- "the default" ([scheduler] trigger_cooldown_secs, the agent's session).
CREATE TABLE triggers (
	id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL,
	pattern		jsonb NOT NULL,
	prompt_template	text NOT NULL,
	enabled		boolean NOT NULL DEFAULT true,
	fire_count	bigint NOT NULL DEFAULT 0,
	max_fires	bigint NOT NULL DEFAULT 0,
	cooldown_secs	bigint,
	session_mode	text CHECK (session_mode IN ('new', 'persistent')),
	target_agent_id	uuid,
	workflow_id	text,
	last_fired_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX triggers_agent ON triggers (agent_id);

-- When a trigger last fired for a cooldown subject (a task id, a memory
-- key, an agent id; '' for none).  The upsert that takes a fire checks
-- and moves it in one statement, so replicas cannot both pass a cooldown.
CREATE TABLE trigger_cooldowns (
	trigger_id	uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
	subject		text NOT NULL,
	last_fired_at	timestamptz NOT NULL,
	PRIMARY KEY (trigger_id, subject)
);

-- One row per (trigger, event) that matched: the unique key decides the
-- fire once across replicas, and the row is written before the turn is
-- asked for.  status: running (the turn is out, lease_until bounds it),
-- completed, failed, refused (the chain-depth limit: no turn).
CREATE TABLE trigger_fires (
	trigger_id	uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
	event_id	uuid NOT NULL,
	event_type	text NOT NULL,
	description	text NOT NULL,
	depth		integer NOT NULL,
	recipient	uuid NOT NULL,
	message		text NOT NULL,
	session_id	uuid,
	status		text NOT NULL CHECK (status IN
			    ('running', 'completed', 'failed', 'refused')),
	delivery	text NOT NULL,
	response	text,
	error		text,
	input_tokens	bigint,
	output_tokens	bigint,
	claimed_by	text NOT NULL,
	lease_until	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	completed_at	timestamptz,
	PRIMARY KEY (trigger_id, event_id)
);
CREATE INDEX trigger_fires_running ON trigger_fires (lease_until)
    WHERE status = 'running';
