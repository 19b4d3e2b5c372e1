-- A2A (a2a/): the tasks other agent systems give our agents, the external
-- agents we know, and the tasks we give them (notes/protocols.md 4).
--
-- a2a_tasks holds both directions.  An inbound task ('in') is one turn of
-- a local agent; its state moves submitted -> working -> completed |
-- failed | canceled and never leaves a final state (a turn that ends after
-- a cancel does not revive the task).  An outbound task ('out') records
-- what a peer answered: remote_id is the peer's task id.
CREATE TABLE a2a_peers (
	id		uuid PRIMARY KEY,
	url		text NOT NULL UNIQUE,	-- the base URL discovered
	name		text NOT NULL,
	description	text NOT NULL DEFAULT '',
	card		jsonb NOT NULL,		-- the card as fetched
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE a2a_tasks (
	id		uuid PRIMARY KEY,
	direction	text NOT NULL CHECK (direction IN ('in', 'out')),
	context_id	text NOT NULL,
	agent_id	uuid,			-- 'in': the local agent
	peer_id		uuid REFERENCES a2a_peers (id) ON DELETE SET NULL,
	remote_id	text,			-- 'out': the peer's task id
	state		text NOT NULL CHECK (state IN ('submitted', 'working',
			    'completed', 'failed', 'canceled',
			    'input-required', 'rejected', 'auth-required',
			    'unknown')),
	input		text NOT NULL,
	message		jsonb,			-- the request's message
	response	text,
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	completed_at	timestamptz
);
CREATE INDEX a2a_tasks_context ON a2a_tasks (context_id);
