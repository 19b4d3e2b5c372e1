-- What agents did, for operators (agent_obs.c; GET /api/agents/{id}/traces,
-- /metrics and /logs).  Rows are written by the replica that ran the turn
-- and read by any replica.  An agent's rows go with it.
--
-- One row per answered turn (and per compaction): its outcome, the
-- provider and model that answered, tokens and cost summed over its
-- iterations, total latency (from the request to the answer, waits for the
-- session lock included), the time spent in provider calls, and its
-- decision traces (notes/agent-core.md 4.4) as one JSONB array.
CREATE TABLE turn_records (
	id		bigserial PRIMARY KEY,
	agent_id	uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	session_id	uuid,
	kind		text NOT NULL CHECK (kind IN ('message', 'compact')),
	outcome		text NOT NULL
			CHECK (outcome IN ('ok', 'error', 'silent',
			    'interrupted')),
	status		integer NOT NULL,
	error		text,
	provider	text,
	model		text,
	iterations	integer NOT NULL DEFAULT 0,
	input_tokens	bigint NOT NULL DEFAULT 0,
	output_tokens	bigint NOT NULL DEFAULT 0,
	cache_read_tokens bigint NOT NULL DEFAULT 0,
	cache_creation_tokens bigint NOT NULL DEFAULT 0,
	cost_usd	double precision NOT NULL DEFAULT 0,
	latency_ms	bigint NOT NULL DEFAULT 0,
	llm_ms		bigint NOT NULL DEFAULT 0,
	llm_calls	integer NOT NULL DEFAULT 0,
	tool_calls	integer NOT NULL DEFAULT 0,
	tool_errors	integer NOT NULL DEFAULT 0,
	traces		jsonb NOT NULL DEFAULT '[]'
			CHECK (jsonb_typeof(traces) = 'array'),
	started_at	timestamptz NOT NULL,
	ended_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX turn_records_agent_idx ON turn_records (agent_id, id);

-- Short log lines per agent (turn started and ended, each tool call and
-- its outcome, provider fallbacks, errors, interrupts).  Every insert
-- prunes the agent's lines to the newest 1000 (OBS_LOG_KEEP).
CREATE TABLE agent_logs (
	id		bigserial PRIMARY KEY,
	agent_id	uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	session_id	uuid,
	level		text NOT NULL CHECK (level IN ('info', 'warn', 'error')),
	event		text NOT NULL,
	message		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX agent_logs_agent_idx ON agent_logs (agent_id, id);
