-- Agent bindings (GET/POST /api/bindings, DELETE /api/bindings/{index}):
-- which agent answers a message, by channel, user, group and thread.
-- A column left NULL matches anything; the most specific matching binding
-- wins (the most columns set), then the oldest.  A message no binding
-- matches goes to its channel's configured agent.  {index} is a row's
-- position in id order, as upstream's list index.
CREATE TABLE bindings (
	id		bigserial PRIMARY KEY,
	agent		text NOT NULL,
	channel		text,
	user_id		text,
	group_id	text,
	thread_id	text,
	filter		text NOT NULL DEFAULT '*',
	created_at	timestamptz NOT NULL DEFAULT now()
);
