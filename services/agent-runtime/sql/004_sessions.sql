-- Sessions and usage records (docs/agent-turns.md).
--
-- A session is one conversation of one agent: its messages are one JSONB
-- array in the persisted format of notes/agent-core.md 4.5.  There is no
-- foreign key to agents: a re-spawned name gets its id back and finds its
-- old sessions (notes 10.12); sessions.cleanup removes orphans.
--
-- fence grows each time a turn takes the session; a turn writes only
-- WHERE fence = <its fence>, so a turn whose replica lost its advisory lock
-- can never overwrite the turn that took the session after it.
-- interrupt is the durable stop flag (sessions.interrupt, agents.stop),
-- cleared when a turn starts.  summary is what compaction kept of the
-- older messages; a turn shows it to the model as a leading user message.
CREATE TABLE sessions (
	id		uuid PRIMARY KEY,
	agent_id	uuid NOT NULL,
	messages	jsonb NOT NULL DEFAULT '[]'
			CHECK (jsonb_typeof(messages) = 'array'),
	message_count	integer GENERATED ALWAYS AS
			(jsonb_array_length(messages)) STORED,
	context_window_tokens bigint NOT NULL DEFAULT 0,
	summary		text,
	label		text CHECK (label IS NULL OR
			    char_length(label) BETWEEN 1 AND 128),
	model_override	text,
	fence		bigint NOT NULL DEFAULT 0,
	interrupt	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX sessions_agent_idx ON sessions (agent_id, created_at);
CREATE UNIQUE INDEX sessions_label_key ON sessions (agent_id, label)
	WHERE label IS NOT NULL;

-- One row per answered turn (or compaction), attributed to the provider
-- and model that actually served it (after a fallback).
CREATE TABLE usage_records (
	id		bigserial PRIMARY KEY,
	agent_id	uuid NOT NULL,
	session_id	uuid,
	provider	text NOT NULL,
	model		text NOT NULL,
	input_tokens	bigint NOT NULL DEFAULT 0,
	output_tokens	bigint NOT NULL DEFAULT 0,
	cache_read_tokens bigint NOT NULL DEFAULT 0,
	cache_creation_tokens bigint NOT NULL DEFAULT 0,
	cost_usd	double precision NOT NULL DEFAULT 0,
	iterations	integer NOT NULL DEFAULT 0,
	at		timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX usage_records_agent_idx ON usage_records (agent_id, at);
