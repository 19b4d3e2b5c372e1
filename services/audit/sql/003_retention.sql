-- Retention (kernel.md 5): a trim deletes a contiguous prefix of the
-- chain; head then keeps where the retained chain starts (first_seq) and
-- the hash of the last entry dropped (anchor_hash), which verify takes
-- as the prev_hash expected of entry first_seq instead of the genesis.
ALTER TABLE head
	ADD COLUMN first_seq bigint NOT NULL DEFAULT 0 CHECK (first_seq >= 0),
	ADD COLUMN anchor_hash text NOT NULL DEFAULT repeat('0', 64);
