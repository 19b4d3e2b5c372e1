-- Outbound webhooks (chan_webhook.c, chan_hookout.c): subscriptions and
-- a durable outbox of deliveries, each attempt recorded.

-- A subscription: kind 'outbound' (/api/webhooks) or 'event'
-- (/api/webhooks/events); events is a JSON array of event names
-- ("all" matches every one).  The secret signs every delivery.
CREATE TABLE webhooks (
	id		uuid PRIMARY KEY,
	kind		text NOT NULL,
	name		text NOT NULL,
	url		text NOT NULL,
	secret		text NOT NULL,
	events		jsonb NOT NULL,
	enabled		boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- One row per (subscription, event): committed before anything is sent,
-- so an event is queued once however many replicas saw it, and a crash
-- loses nothing.  id is the delivery id the receiver sees
-- (X-LibreFang-Delivery), the same on every attempt.  state: pending
-- (next_at says when), running (claimed_by until lease_until), delivered,
-- failed (attempts used up, or refused for good).
CREATE TABLE webhook_deliveries (
	id		uuid PRIMARY KEY,
	webhook_id	uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event		text NOT NULL,
	event_id	text NOT NULL,
	payload		jsonb NOT NULL,
	state		text NOT NULL DEFAULT 'pending',
	attempts	integer NOT NULL DEFAULT 0,
	next_at		timestamptz NOT NULL DEFAULT now(),
	claimed_by	text,
	lease_until	timestamptz,
	last_status	integer,
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	delivered_at	timestamptz,
	UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_todo ON webhook_deliveries (next_at)
	WHERE state IN ('pending', 'running');
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id,
	created_at);

-- Every attempt: the answer's status (null: none came), how long it took,
-- why it failed, and which replica made it.
CREATE TABLE webhook_attempts (
	id		bigserial PRIMARY KEY,
	delivery_id	uuid NOT NULL REFERENCES webhook_deliveries (id)
			    ON DELETE CASCADE,
	attempt		integer NOT NULL,
	status		integer,
	latency_ms	integer NOT NULL,
	error		text,
	replica		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
