-- Whether a service wants a turn's Message events (turn/notify.c;
-- events.interest): channels when a webhook subscribes to message_* or
-- all, the scheduler when a trigger's pattern is all or content_match.
-- Each row is the service's newest answer (as_of: when its statement
-- ran); an older answer arriving late never overwrites it.  Every
-- non-ephemeral turn reads EXISTS (... WHERE messages) in its take.
CREATE TABLE event_interest (
	service		text PRIMARY KEY,
	messages	boolean NOT NULL,
	as_of		timestamptz NOT NULL
);
