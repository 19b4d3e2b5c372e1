-- The TOTP second factor of approvals (approval/totp.h, notes/kernel.md
-- 4.3 "TOTP").  One enrollment for the system: its secret sealed with
-- AES-256-GCM under the vault key (hex of nonce || ciphertext || tag,
-- never the secret in clear), the key's fingerprint to tell a wrong key
-- from a wrong code, whether an authenticator app confirmed it, the
-- failure count and lockout, and the end of the grace window a success
-- opened.  Every check takes the row's lock, so replicas count every
-- failure and spend a code once.
CREATE TABLE totp_enrollment (
	id		boolean PRIMARY KEY DEFAULT true CHECK (id),
	secret_sealed	text NOT NULL,
	key_id		text NOT NULL,
	confirmed	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	confirmed_at	timestamptz,
	failures	integer NOT NULL DEFAULT 0,
	locked_until	timestamptz,
	grace_until	timestamptz
);

-- The 10 single-use recovery codes of the enrollment, as HMAC-SHA256
-- under the vault key; used_at set when one is spent.
CREATE TABLE totp_recovery (
	code_hash	text PRIMARY KEY,
	used_at		timestamptz
);

-- Codes accepted in the last 90 s (a hash of the time step and the
-- code), and what each was spent on ('approval:<id>', 'login',
-- 'confirm', 'revoke', 'setup'): a code is accepted once.
CREATE TABLE totp_used_codes (
	code_hash	text PRIMARY KEY,
	bound_to	text NOT NULL,
	used_at		timestamptz NOT NULL DEFAULT now()
);
