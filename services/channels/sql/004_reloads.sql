-- POST /api/channels/reload (chan_ops.c): each reload is a row, and every
-- replica's supervisor, seeing a row past the last it saw (at its lease
-- tick, every 3 s), reads its own config.toml again.
CREATE TABLE config_reloads (
	id		bigserial PRIMARY KEY,
	instance	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
