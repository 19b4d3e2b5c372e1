-- The adapters' supervision and the message path (chan_store.c,
-- chan_router.c): nothing lost, nothing twice.

-- One row per inbound message event, committed before anything else is
-- done with it.  (channel, platform_msg_id) makes a replayed or repeated
-- platform message a no-op; a message with no platform id gets a made-up
-- one (it cannot be told apart from a repeat).  state: pending (its turn
-- is to run), running (claimed_by runs it until lease_until, renewed),
-- done (reply in the outbox, or silent), failed (error says why).
CREATE TABLE inbound (
	id		bigserial PRIMARY KEY,
	channel		text NOT NULL,
	platform_msg_id	text NOT NULL,
	agent		text,
	user_id		text NOT NULL,
	user_name	text NOT NULL,
	channel_id	text NOT NULL,
	thread_id	text,
	is_group	boolean NOT NULL DEFAULT false,
	text		text NOT NULL,
	frame		jsonb NOT NULL,
	state		text NOT NULL DEFAULT 'pending',
	claimed_by	text,
	lease_until	timestamptz,
	next_at		timestamptz NOT NULL DEFAULT now(),
	attempts	integer NOT NULL DEFAULT 0,
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (channel, platform_msg_id)
);
CREATE INDEX inbound_todo ON inbound (next_at) WHERE state IN ('pending', 'running');

-- One reply per inbound message (inbound_id unique: a turn re-run after
-- a crash cannot queue a second one).  state: pending (to send), sent
-- (its frame was wholly written to the adapter's stdin).  The row is the
-- delivery record of GET /api/agents/{id}/deliveries.
CREATE TABLE outbox (
	id		bigserial PRIMARY KEY,
	inbound_id	bigint UNIQUE REFERENCES inbound (id),
	idem_key	text NOT NULL UNIQUE,
	channel		text NOT NULL,
	agent_id	uuid,
	channel_id	text NOT NULL,
	recipient	text NOT NULL,
	thread_id	text,
	text		text NOT NULL,
	state		text NOT NULL DEFAULT 'pending',
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	sent_at		timestamptz
);
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';
CREATE INDEX outbox_agent ON outbox (agent_id, id);

-- Which replica runs a channel's adapter: owner until expires_at, renewed
-- every few seconds; a replica that dies stops renewing, and another
-- takes the channel once it expired.
CREATE TABLE channel_leases (
	channel		text PRIMARY KEY,
	owner		text NOT NULL,
	expires_at	timestamptz NOT NULL
);

-- The supervision state of each channel, as its lease holder last wrote
-- it (any replica answers GET /api/channels from here).
CREATE TABLE adapter_status (
	channel		text PRIMARY KEY,
	owner		text NOT NULL,
	state		text NOT NULL,
	restarts	bigint NOT NULL DEFAULT 0,
	last_error	text,
	capabilities	jsonb NOT NULL DEFAULT '[]',
	pid		bigint,
	qr		jsonb,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
