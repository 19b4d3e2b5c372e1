-- Streaming replies, long replies in parts, owner notices (chan_stream.c,
-- chan_supervise.c, chan_router.c).

-- How much of an outbox row's text has reached its adapter: sent_upto
-- bytes of text (a part's end, or what a stream showed), in parts frames
-- (a stream counts as one); streamed when a stream_end carried it.  A
-- restart sends what is left, from sent_upto on, as plain sends: a part
-- written is not written again.  kind: 'reply' (to an inbound message),
-- 'notice' (an agent's notify_owner, to one of the channel's
-- notification_recipients; inbound_id is then NULL).
ALTER TABLE outbox
	ADD COLUMN sent_upto	integer NOT NULL DEFAULT 0,
	ADD COLUMN parts	integer NOT NULL DEFAULT 0,
	ADD COLUMN streamed	boolean NOT NULL DEFAULT false,
	ADD COLUMN kind		text NOT NULL DEFAULT 'reply';

-- The notification_recipients of the adapter's last ready ([ChannelUser]).
ALTER TABLE adapter_status
	ADD COLUMN recipients	jsonb NOT NULL DEFAULT '[]';
