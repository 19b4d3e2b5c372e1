-- budget_reserve() with less work per call under a limit (issue 10: the
-- check's added cost per turn).  Same arguments, same answers as 013's.
--
-- 013's function ran up to six statements under a limit (limits, locks,
-- the windows, the reservation's UPDATE then INSERT) and its window scan
-- summed five FILTERed aggregates per usage row, each filter computing
-- now() - interval again, whatever limits applied.  Now:
--   * the limits and the locks are one statement (the select list is
--     evaluated left to right: the limits, then the global lock, then
--     the agent's -- the same order as before); a limit changed while
--     this call waits for a lock is seen by the next call, as a limit
--     changed just after the check always was;
--   * every window bound is a variable, computed once, and a window
--     without a limit is not summed (its filter is false before any
--     column is read);
--   * the reservation is one INSERT ... ON CONFLICT;
--   * an agent's hourly cost limit alone (the commonest) is checked by
--     a statement of two sums instead of the general one.
-- The windows are still read after the locks, by a statement of their
-- own (a new snapshot), so two replicas cannot both miss each other's
-- reservation (t6042).
--
-- The runtime calls it only when a limit applies: before a turn's first
-- call the statement that saves the user's message reads the limits and
-- calls it under one (budget/budget.c); a NULL here still means "no
-- limit" for the other callers.
CREATE OR REPLACE FUNCTION budget_reserve(p_key uuid, p_agent uuid, p_cost
    double precision, p_tokens bigint, p_done_cost double precision,
    p_done_tokens bigint, p_ttl_s integer, c_hour double precision, c_day
    double precision, c_month double precision, c_tokens bigint, m_hour
    double precision, m_day double precision, m_month double precision,
    m_tokens bigint, m_burst double precision, c_burst double precision)
    RETURNS text
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	gh	double precision;
	gd	double precision;
	gm	double precision;
	ah	double precision;
	ad	double precision;
	am	double precision;
	atok	bigint;
	glob	boolean;
	agent	boolean;
	want	double precision;
	wtok	bigint;
	day0	timestamptz;
	mon0	timestamptz;
	h1	timestamptz;		-- the rolling hour's start
	m1	timestamptz;		-- the burst minute's start
	gs	timestamptz;		-- where the global scan starts
	gds	timestamptz;		-- its rows of today, of this month
	gms	timestamptz;
	ast	timestamptz;		-- where the agent's scan starts
	ads	timestamptz;
	ams	timestamptz;
	rt	timestamptz;		-- the end of the hour to sum up to
	tg	budget_totals;		-- global
	ta	budget_totals;		-- the agent's
	r	double precision;	-- every other running turn's reservations
	ar	double precision;	-- the agent's, cost
	an	bigint;			-- and tokens
	gsh	double precision;	-- global spend: the rolling hour
	gsd	double precision;	-- today
	gsm	double precision;	-- this month
	ash	double precision;	-- the agent's
	asd	double precision;
	asm	double precision;
	nh	bigint;			-- its tokens in the rolling hour
	nm	bigint;			-- in the last minute
	b	double precision;
	inf	timestamptz := 'infinity';
BEGIN
	-- Other replicas see what this writes at commit, flushed or not; a
	-- database crash that lost it also ends the turn holding it.
	SELECT l.l_gh, l.l_gd, l.l_gm, l.l_ah, l.l_ad, l.l_am, l.l_atok,
	    l.l_glob, l.l_agent
	    INTO gh, gd, gm, ah, ad, am, atok, glob, agent
	    FROM (SELECT *, l_gh > 0 OR l_gd > 0 OR l_gm > 0 AS l_glob,
		l_ah > 0 OR l_ad > 0 OR l_am > 0 OR l_atok > 0 AS l_agent
		FROM (SELECT coalesce(g.max_hourly_usd, c_hour, 0) AS l_gh,
		    coalesce(g.max_daily_usd, c_day, 0) AS l_gd,
		    coalesce(g.max_monthly_usd, c_month, 0) AS l_gm,
		    coalesce(a.max_cost_per_hour_usd, m_hour, 0) AS l_ah,
		    coalesce(a.max_cost_per_day_usd, m_day, 0) AS l_ad,
		    coalesce(a.max_cost_per_month_usd, m_month, 0) AS l_am,
		    coalesce(a.max_llm_tokens_per_hour, m_tokens,
		    g.default_max_llm_tokens_per_hour, c_tokens, 0) AS l_atok
		    FROM (SELECT) x LEFT JOIN budget_global g ON g.id
		    LEFT JOIN budget_agents a ON a.agent_id = p_agent) y
		OFFSET 0) l,
	    -- Volatile, so evaluated although no column of it is read.
	    LATERAL (SELECT CASE WHEN l.l_glob OR l.l_agent THEN
		set_config('synchronous_commit', 'off', true) END,
		CASE WHEN l.l_glob THEN pg_advisory_xact_lock(
		hashtext('budget.global'), 0) END,
		CASE WHEN l.l_agent THEN pg_advisory_xact_lock(
		hashtext('budget.agent'), hashtext(p_agent::text)) END
		OFFSET 0) k;
	IF NOT glob AND NOT agent THEN
		RETURN NULL;
	END IF;
	want := p_done_cost + p_cost;
	wtok := p_done_tokens + p_tokens;
	h1 := now() - interval '1 hour';
	m1 := now() - interval '1 minute';
	-- The commonest limit alone, an agent's hourly cost: two sums, not
	-- the eleven of the statement below (whose start-up every call pays).
	IF NOT glob AND atok = 0 AND ad = 0 AND am = 0 THEN
		SELECT (SELECT coalesce(sum(cost_usd), 0) FROM budget_reservations
		    WHERE agent_id = p_agent AND expires_at > clock_timestamp()
		    AND turn_key <> p_key),
		    (SELECT coalesce(sum(cost_usd), 0) FROM usage_records
		    WHERE agent_id = p_agent AND at < inf AND at > h1)
		    INTO ar, ash;
		IF ar + ash + want > ah THEN
			RETURN format('Agent %s exceeded hourly cost quota: $%s / $%s',
			    p_agent, round((ar + ash + want)::numeric, 6), ah);
		END IF;
		INSERT INTO budget_reservations AS br (turn_key, agent_id,
		    cost_usd, tokens, expires_at)
		    VALUES (p_key, p_agent, want, wtok, clock_timestamp() +
		    make_interval(secs => p_ttl_s))
		    ON CONFLICT (turn_key) DO UPDATE SET cost_usd =
		    EXCLUDED.cost_usd, tokens = EXCLUDED.tokens,
		    expires_at = EXCLUDED.expires_at;
		RETURN 'ok';
	END IF;
	IF gd > 0 OR ad > 0 OR gm > 0 OR am > 0 THEN
		day0 := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE
		    'UTC';
		mon0 := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME
		    ZONE 'UTC';
		rt := date_trunc('hour', (clock_timestamp() - interval
		    '5 minutes') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
	END IF;
	IF gd > 0 OR gm > 0 THEN
		SELECT * INTO tg FROM budget_totals WHERE scope =
		    '00000000-0000-0000-0000-000000000000';
		IF NOT FOUND OR tg.upto < rt THEN
			tg := budget_totals_advance(
			    '00000000-0000-0000-0000-000000000000', NULL, rt,
			    day0, mon0);
		END IF;
		gds := greatest(day0, tg.upto);
		gms := greatest(mon0, tg.upto);
	END IF;
	IF ad > 0 OR am > 0 THEN
		SELECT * INTO ta FROM budget_totals WHERE scope = p_agent;
		IF NOT FOUND OR ta.upto < rt THEN
			ta := budget_totals_advance(p_agent, p_agent, rt, day0,
			    mon0);
		END IF;
		ads := greatest(day0, ta.upto);
		ams := greatest(mon0, ta.upto);
	END IF;
	-- Each scan starts at the earliest window of its scope that has a
	-- limit (least() ignores NULLs); NULL when the scope has none.
	gs := least(CASE WHEN gh > 0 THEN h1 END, CASE WHEN gm > 0 THEN gms
	    WHEN gd > 0 THEN gds END);
	ast := least(CASE WHEN ah > 0 OR atok > 0 THEN h1 END, CASE WHEN am > 0
	    THEN ams WHEN ad > 0 THEN ads END);
	-- One statement: the reservations of the other running turns, and
	-- for each scope that has a limit one scan of its rows, summing
	-- only the windows with a limit.  A day or month is its totals
	-- (when of this day or month) plus the rows since their end.
	SELECT v.r, v.ar, v.an, g.sh, g.sd, g.sm, a.nh, a.nm, a.sh, a.sd,
	    a.sm INTO r, ar, an, gsh, gsd, gsm, nh, nm, ash, asd, asm
	    FROM (SELECT coalesce(sum(cost_usd), 0) AS r,
		coalesce(sum(cost_usd) FILTER (WHERE agent_id = p_agent), 0)
		AS ar, coalesce(sum(tokens) FILTER (WHERE agent_id = p_agent),
		0) AS an FROM budget_reservations
		WHERE expires_at > clock_timestamp() AND turn_key <> p_key) v,
	    (SELECT coalesce(sum(cost_usd) FILTER (WHERE gh > 0 AND at > h1),
		0) AS sh,
		CASE WHEN tg.day0 = day0 THEN tg.day_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE gd > 0 AND at >= gds), 0)
		AS sd,
		CASE WHEN tg.month0 = mon0 THEN tg.month_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE gm > 0 AND at >= gms), 0)
		AS sm
		FROM usage_records WHERE glob AND at < inf AND at >= gs) g,
	    (SELECT coalesce(sum(input_tokens + output_tokens) FILTER
		(WHERE atok > 0 AND at > h1), 0) AS nh,
		coalesce(sum(input_tokens + output_tokens) FILTER
		(WHERE atok > 0 AND at > m1), 0) AS nm,
		coalesce(sum(cost_usd) FILTER (WHERE ah > 0 AND at > h1), 0)
		AS sh,
		CASE WHEN ta.day0 = day0 THEN ta.day_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE ad > 0 AND at >= ads), 0)
		AS sd,
		CASE WHEN ta.month0 = mon0 THEN ta.month_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE am > 0 AND at >= ams), 0)
		AS sm
		FROM usage_records
		WHERE agent AND agent_id = p_agent AND at < inf AND at >= ast) a;
	IF gh > 0 AND r + gsh + want > gh THEN
		RETURN format('Global hourly budget exceeded: $%s / $%s',
		    round((r + gsh + want)::numeric, 6), gh);
	END IF;
	IF gd > 0 AND r + gsd + want > gd THEN
		RETURN format('Global daily budget exceeded: $%s / $%s',
		    round((r + gsd + want)::numeric, 6), gd);
	END IF;
	IF gm > 0 AND r + gsm + want > gm THEN
		RETURN format('Global monthly budget exceeded: $%s / $%s',
		    round((r + gsm + want)::numeric, 6), gm);
	END IF;
	IF atok > 0 THEN
		IF an + nh + wtok > atok THEN
			RETURN format('Token limit exceeded: %s / %s',
			    an + nh + wtok, atok);
		END IF;
		-- The burst: in any minute at most burst_ratio of the hour's
		-- quota (manifest, else [budget], else 0.2).
		b := least(greatest(coalesce(m_burst, c_burst, 0.2), 0.01), 1);
		IF an + nm + wtok > b * atok THEN
			RETURN format('Token burst limit exceeded: %s / %s tokens '
			    'per minute', an + nm + wtok, floor(b * atok));
		END IF;
	END IF;
	IF ah > 0 AND ar + ash + want > ah THEN
		RETURN format('Agent %s exceeded hourly cost quota: $%s / $%s',
		    p_agent, round((ar + ash + want)::numeric, 6), ah);
	END IF;
	IF ad > 0 AND ar + asd + want > ad THEN
		RETURN format('Agent %s exceeded daily cost quota: $%s / $%s',
		    p_agent, round((ar + asd + want)::numeric, 6), ad);
	END IF;
	IF am > 0 AND ar + asm + want > am THEN
		RETURN format('Agent %s exceeded monthly cost quota: $%s / $%s',
		    p_agent, round((ar + asm + want)::numeric, 6), am);
	END IF;
	-- A turn's first call inserts its row, the next ones update it.
	INSERT INTO budget_reservations AS br (turn_key, agent_id, cost_usd,
	    tokens, expires_at)
	    VALUES (p_key, p_agent, want, wtok, clock_timestamp() +
	    make_interval(secs => p_ttl_s))
	    ON CONFLICT (turn_key) DO UPDATE SET cost_usd = EXCLUDED.cost_usd,
	    tokens = EXCLUDED.tokens, expires_at = EXCLUDED.expires_at;
	RETURN 'ok';
END
$$;
