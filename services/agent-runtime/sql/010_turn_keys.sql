-- Idempotent turns (turn/idem.c): a caller that may ask twice for the same
-- turn -- the scheduler's fire, retried by a surviving replica after the
-- one that asked was killed -- names it with caller.idempotency_key.  The
-- first request claims the key and runs the turn; its answer is stored
-- here, and every later request with the key gets that answer (409 while
-- the turn still runs; 503 "lost" once its deadline has passed without an
-- answer, as when the replica running it died).  Rows go with their agent.
CREATE TABLE turn_keys (
	key		text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
	agent_id	uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	state		text NOT NULL DEFAULT 'running'
			CHECK (state IN ('running', 'done')),
	status		integer,
	reply		jsonb,
	deadline	timestamptz NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX turn_keys_created_idx ON turn_keys (created_at);
