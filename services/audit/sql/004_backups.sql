-- Backup and restore (audit/backup.c, kernel.md 9).  In a schema of its
-- own, "backups", which no archive holds: a restore drops and re-creates
-- every schema an archive holds, and this one must outlive it -- the
-- installation's id (an archive made elsewhere is recognised as foreign)
-- and the list of archives (every audit replica, on any host, lists the
-- same ones; the archives themselves are files under
-- $LIBREFANG_HOME/backups).  Idempotent: a restored audit schema whose
-- ledger predates this migration runs it again.
CREATE SCHEMA IF NOT EXISTS backups;

CREATE TABLE IF NOT EXISTS backups.installation (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	id		uuid NOT NULL DEFAULT gen_random_uuid(),
	created_at	timestamptz NOT NULL DEFAULT now()
);
INSERT INTO backups.installation (one) VALUES (true)
ON CONFLICT (one) DO NOTHING;

CREATE TABLE IF NOT EXISTS backups.archives (
	filename	text PRIMARY KEY,
	path		text NOT NULL,
	size_bytes	bigint NOT NULL,
	sha256		text NOT NULL,
	host		text NOT NULL,
	created_at	text NOT NULL,
	manifest	jsonb NOT NULL
);
