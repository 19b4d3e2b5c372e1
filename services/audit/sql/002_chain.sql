-- The audit chain (kernel.md 5).  One row per entry, seq from 0 with no
-- gap; hash = SHA-256 over the v2 canonical text of the entry and
-- prev_hash (audit/chain.c).  entry_id is the id the acting service gave
-- the entry in its outbox: the relay sends at least once, and a second
-- copy finds its id here and is not chained again.
--
-- head is the chain's one tip, a single row: every append locks it
-- (SELECT ... FOR UPDATE) before it reads the tip and inserts, so
-- appends from any number of audit replicas are serialised and the chain
-- can neither fork nor skip a seq.
CREATE TABLE entries (
	seq		bigint PRIMARY KEY CHECK (seq >= 0),
	entry_id	uuid NOT NULL UNIQUE,
	ts		text NOT NULL,
	agent_id	text NOT NULL,
	action		text NOT NULL,
	detail		text NOT NULL,
	outcome		text NOT NULL,
	user_id		text,
	channel		text,
	prev_hash	text NOT NULL,
	hash		text NOT NULL,
	source		text NOT NULL DEFAULT ''
);

CREATE TABLE head (
	id		integer PRIMARY KEY CHECK (id = 1),
	next_seq	bigint NOT NULL,
	tip_hash	text NOT NULL
);

INSERT INTO head (id, next_seq, tip_hash)
VALUES (1, 0, repeat('0', 64));
