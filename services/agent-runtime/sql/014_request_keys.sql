-- The HTTP Idempotency-Key header (api-gateway gw_idem.c) on the turn and
-- spawn routes reaches turn/idem.c as caller.idempotency_key (the route,
-- the principal and the header's value, hashed), with the request's
-- fingerprint (its path, query and body, hashed) and the key's time to
-- live.  A spawn's key has no agent: its row holds the spawn's answer.
-- A key reused with another fingerprint is refused (422); a key past
-- expires_at counts as unused and is claimed again, once its turn can no
-- longer be running.  Service callers' keys (no fingerprint) keep their
-- week.
ALTER TABLE turn_keys ALTER COLUMN agent_id DROP NOT NULL;
ALTER TABLE turn_keys ADD COLUMN fingerprint text;
ALTER TABLE turn_keys ADD COLUMN expires_at timestamptz NOT NULL
	DEFAULT clock_timestamp() + interval '7 days';
UPDATE turn_keys SET expires_at = created_at + interval '7 days';
DROP INDEX turn_keys_created_idx;
CREATE INDEX turn_keys_expires_idx ON turn_keys (expires_at);
