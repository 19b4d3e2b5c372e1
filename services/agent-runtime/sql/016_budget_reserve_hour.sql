-- An agent's hourly cost limit alone, checked by a function of one
-- statement (issue 10: the check's added cost per turn).
--
-- 015's budget_reserve() under that limit (the commonest) ran three
-- statements (the limits and the locks, two sums, the upsert) and
-- assigned some forty variables per call, although the statement that
-- calls it has just read the limits.  budget_reserve_hour() takes the
-- limit from its caller (budget/budget.c reads the limits in the calling
-- statement and sends every other case to budget_reserve(), whose
-- answers are unchanged), takes the agent's lock, and then, in one
-- statement, sums the agent's live reservations and rolling hour and
-- writes the reservation when the call fits.  Same answers as
-- budget_reserve() for that limit: NULL is never returned, 'ok' once
-- reserved, else the QuotaExceeded text.
--
-- The lock is the agent's advisory lock, as budget_reserve()'s, so both
-- functions queue on it; the sums are a statement of their own, after
-- the lock, so they see every reservation committed before it (t6042).
-- The limit is the one the calling statement read: one changed while
-- this call waits for the lock is seen by the next call, as in 015.
CREATE FUNCTION budget_reserve_hour(p_key uuid, p_agent uuid,
    p_want double precision, p_wtok bigint, p_ttl_s integer,
    p_limit double precision)
    RETURNS text
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	s	double precision;	-- live reservations + the hour's spend
BEGIN
	-- Other replicas see what this writes at commit, flushed or not; a
	-- database crash that lost it also ends the turn holding it.
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_xact_lock(hashtext('budget.agent'),
	    hashtext(p_agent::text));
	-- `at < inf` keeps the generic plan on (agent_id, at), as in 013.
	WITH x AS (SELECT (SELECT coalesce(sum(cost_usd), 0)
		FROM budget_reservations WHERE agent_id = p_agent
		AND expires_at > clock_timestamp() AND turn_key <> p_key) +
		(SELECT coalesce(sum(cost_usd), 0) FROM usage_records
		WHERE agent_id = p_agent AND at < 'infinity'
		AND at > now() - interval '1 hour') AS spent),
	    r AS (INSERT INTO budget_reservations AS br (turn_key, agent_id,
		cost_usd, tokens, expires_at)
		SELECT p_key, p_agent, p_want, p_wtok, clock_timestamp() +
		make_interval(secs => p_ttl_s) FROM x
		WHERE x.spent + p_want <= p_limit
		ON CONFLICT (turn_key) DO UPDATE SET cost_usd =
		EXCLUDED.cost_usd, tokens = EXCLUDED.tokens,
		expires_at = EXCLUDED.expires_at)
	SELECT x.spent INTO s FROM x;
	IF s + p_want > p_limit THEN
		RETURN format('Agent %s exceeded hourly cost quota: $%s / $%s',
		    p_agent, round((s + p_want)::numeric, 6), p_limit);
	END IF;
	RETURN 'ok';
END
$$;
