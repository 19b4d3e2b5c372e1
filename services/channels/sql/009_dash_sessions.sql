-- Dashboard sessions (dashsess/): one row per login.  The token itself
-- is never stored, only its SHA-256 (hex), which is what the gateway
-- sends to look a cookie up.  Rows past expires_at are refused and
-- purged (by the next login, and by a look-up that finds one).
CREATE TABLE dash_sessions (
	token_sha256	text PRIMARY KEY,
	csrf_token	text NOT NULL,
	username	text NOT NULL,
	method		text NOT NULL,
	user_agent	text NOT NULL DEFAULT '',
	ip		text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	last_seen	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dash_sessions_expires ON dash_sessions (expires_at);
