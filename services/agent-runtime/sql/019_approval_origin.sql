-- Where a turn's approval request came from (approval/gate.c): a turn the
-- channels router started names its chat (channel, platform user id and
-- name, the platform's chat id, the thread), so the request is asked
-- there with buttons, and decided there by the person who asked (or one
-- the channel trusts).  NULL: a turn over the API, a manual request.
ALTER TABLE approvals ADD COLUMN chat_origin jsonb;
