-- A budget check that stays flat as history grows (issue 10; notes 4.4).
--
-- 012 summed an agent's usage rows over its whole day or month on every
-- provider call (100,000 turns this month: 100,000 rows a call), and the
-- global days and months over up to ~750 hourly roll-up rows.  Now each
-- scope that has a day or month limit keeps one row of totals: what its
-- usage rows of the current UTC day and month add up to before `upto`,
-- the end of the last complete hour summed.  A check reads that row and
-- the rows since `upto` (about an hour of them), nothing older.
--
-- `upto` advances under the scope's advisory lock (global, or the
-- agent's), once an hour, 5 minutes after the hour ends so that a turn
-- still writing its row has committed.  A usage row written later with
-- a time before `upto` (not something turns do: theirs is stamped at
-- insert) is not counted in days and months.
CREATE TABLE budget_totals (
	scope		uuid PRIMARY KEY,	-- an agent, or the nil uuid: all
	upto		timestamptz NOT NULL,	-- rows before it are summed
	day0		timestamptz NOT NULL,	-- UTC day of day_usd
	day_usd		double precision NOT NULL,  -- rows in [day0, upto)
	month0		timestamptz NOT NULL,	-- UTC month of month_usd
	month_usd	double precision NOT NULL   -- rows in [month0, upto)
);

-- The hourly roll-up it replaces (rebuilt from the rows by the first
-- check that needs the totals).
DROP TABLE budget_rollup;

-- Advances the totals of p_scope (p_agent's rows, or every row when
-- p_agent is NULL) to p_rt and returns them; the caller holds the
-- scope's lock.  Rows before this month count in no window, so a first
-- call (or one after a quiet month) reads at most this month's rows,
-- once.  Expired reservations (their replica died) go at the same time.
CREATE FUNCTION budget_totals_advance(p_scope uuid, p_agent uuid,
    p_rt timestamptz, p_day0 timestamptz, p_mon0 timestamptz)
    RETURNS budget_totals
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	t	budget_totals;
	s	timestamptz;
	d	double precision;
	m	double precision;
BEGIN
	SELECT * INTO t FROM budget_totals WHERE scope = p_scope;
	IF FOUND AND t.upto >= p_rt THEN
		RETURN t;	-- another call advanced it first
	END IF;
	s := greatest(t.upto, p_mon0);
	IF p_agent IS NULL THEN
		SELECT coalesce(sum(cost_usd) FILTER (WHERE at >= p_day0), 0),
		    coalesce(sum(cost_usd), 0) INTO d, m
		    FROM usage_records WHERE at >= s AND at < p_rt;
		DELETE FROM budget_reservations
		    WHERE expires_at < clock_timestamp();
	ELSE
		SELECT coalesce(sum(cost_usd) FILTER (WHERE at >= p_day0), 0),
		    coalesce(sum(cost_usd), 0) INTO d, m
		    FROM usage_records WHERE agent_id = p_agent AND at >= s
		    AND at < p_rt;
		DELETE FROM budget_reservations
		    WHERE agent_id = p_agent AND expires_at < clock_timestamp();
	END IF;
	-- A new day or month starts from 0: the old upto is then before
	-- its start, so no row of it was summed.
	t.day_usd := CASE WHEN t.day0 = p_day0 THEN t.day_usd ELSE 0 END + d;
	t.month_usd := CASE WHEN t.month0 = p_mon0 THEN t.month_usd ELSE 0
	    END + m;
	t.scope := p_scope;
	t.upto := p_rt;
	t.day0 := p_day0;
	t.month0 := p_mon0;
	INSERT INTO budget_totals VALUES (t.*)
	    ON CONFLICT (scope) DO UPDATE SET upto = EXCLUDED.upto,
	    day0 = EXCLUDED.day0, day_usd = EXCLUDED.day_usd,
	    month0 = EXCLUDED.month0, month_usd = EXCLUDED.month_usd;
	RETURN t;
END
$$;

-- As in 012 (same arguments, same answers), with fewer statements: the
-- limits in one read, the locks in one, each scope's totals read (and
-- advanced once an hour), then one statement for the reservations and
-- each scope's windows: its totals plus one scan of its rows since the
-- totals' end (or the rolling hour's start when earlier).
--
-- Each statement is planned once per connection (plan_cache_mode): the
-- custom plans PostgreSQL would otherwise keep making for the window
-- scans (their bounds are variables) cost more than the scans, about
-- 0.1 ms a call each.  The scans' `at < inf` keeps the generic plans on
-- the indexes: with both bounds unknown, the planner expects a narrow
-- range, not a third of the table.
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
	want	double precision := p_done_cost + p_cost;
	wtok	bigint := p_done_tokens + p_tokens;
	day0	timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC';
	mon0	timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC';
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
	SELECT coalesce(g.max_hourly_usd, c_hour, 0),
	    coalesce(g.max_daily_usd, c_day, 0),
	    coalesce(g.max_monthly_usd, c_month, 0),
	    coalesce(a.max_cost_per_hour_usd, m_hour, 0),
	    coalesce(a.max_cost_per_day_usd, m_day, 0),
	    coalesce(a.max_cost_per_month_usd, m_month, 0),
	    coalesce(a.max_llm_tokens_per_hour, m_tokens,
	    g.default_max_llm_tokens_per_hour, c_tokens, 0)
	    INTO gh, gd, gm, ah, ad, am, atok
	    FROM (SELECT) x LEFT JOIN budget_global g ON g.id
	    LEFT JOIN budget_agents a ON a.agent_id = p_agent;
	glob := gh > 0 OR gd > 0 OR gm > 0;
	agent := ah > 0 OR ad > 0 OR am > 0 OR atok > 0;
	IF NOT glob AND NOT agent THEN
		RETURN NULL;
	END IF;
	-- Other replicas see what this writes at commit, flushed or not; a
	-- database crash that lost it also ends the turn holding it.  The
	-- locks in their order, global then the agent's (the select list
	-- is evaluated left to right).
	PERFORM set_config('synchronous_commit', 'off', true),
	    CASE WHEN glob THEN pg_advisory_xact_lock(hashtext('budget.global'),
	    0) END, CASE WHEN agent THEN pg_advisory_xact_lock(
	    hashtext('budget.agent'), hashtext(p_agent::text)) END;
	IF gd > 0 OR ad > 0 OR gm > 0 OR am > 0 THEN
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
	END IF;
	IF ad > 0 OR am > 0 THEN
		SELECT * INTO ta FROM budget_totals WHERE scope = p_agent;
		IF NOT FOUND OR ta.upto < rt THEN
			ta := budget_totals_advance(p_agent, p_agent, rt, day0,
			    mon0);
		END IF;
	END IF;
	-- One statement: the reservations of the other running turns, and
	-- for each scope that has a limit one scan from the earliest of its
	-- windows that needs rows (least() ignores the NULL of a window
	-- without a limit).  A day or month is its totals (when of this
	-- day or month) plus the rows since their end.
	SELECT v.r, v.ar, v.an, g.sh, g.sd, g.sm, a.nh, a.nm, a.sh, a.sd,
	    a.sm INTO r, ar, an, gsh, gsd, gsm, nh, nm, ash, asd, asm
	    FROM (SELECT coalesce(sum(cost_usd), 0) AS r,
		coalesce(sum(cost_usd) FILTER (WHERE agent_id = p_agent), 0)
		AS ar, coalesce(sum(tokens) FILTER (WHERE agent_id = p_agent),
		0) AS an FROM budget_reservations
		WHERE expires_at > clock_timestamp() AND turn_key <> p_key) v,
	    (SELECT coalesce(sum(cost_usd) FILTER (WHERE at > now() -
		interval '1 hour'), 0) AS sh,
		CASE WHEN tg.day0 = day0 THEN tg.day_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE at >= greatest(day0,
		tg.upto)), 0) AS sd,
		CASE WHEN tg.month0 = mon0 THEN tg.month_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE at >= greatest(mon0,
		tg.upto)), 0) AS sm
		FROM usage_records
		WHERE glob AND at < inf AND at >= least(CASE WHEN gh > 0 THEN
		now() - interval '1 hour' END, CASE WHEN gm > 0 THEN
		greatest(mon0, tg.upto) WHEN gd > 0 THEN greatest(day0,
		tg.upto) END)) g,
	    (SELECT coalesce(sum(input_tokens + output_tokens) FILTER
		(WHERE at > now() - interval '1 hour'), 0) AS nh,
		coalesce(sum(input_tokens + output_tokens) FILTER
		(WHERE at > now() - interval '1 minute'), 0) AS nm,
		coalesce(sum(cost_usd) FILTER (WHERE at > now() -
		interval '1 hour'), 0) AS sh,
		CASE WHEN ta.day0 = day0 THEN ta.day_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE at >= greatest(day0,
		ta.upto)), 0) AS sd,
		CASE WHEN ta.month0 = mon0 THEN ta.month_usd ELSE 0 END +
		coalesce(sum(cost_usd) FILTER (WHERE at >= greatest(mon0,
		ta.upto)), 0) AS sm
		FROM usage_records
		WHERE agent AND agent_id = p_agent AND at < inf AND at >=
		least(CASE WHEN ah > 0 OR atok > 0 THEN now() -
		interval '1 hour' END, CASE WHEN am > 0 THEN greatest(mon0,
		ta.upto) WHEN ad > 0 THEN greatest(day0, ta.upto) END)) a;
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
	UPDATE budget_reservations SET cost_usd = want, tokens = wtok,
	    expires_at = clock_timestamp() + make_interval(secs => p_ttl_s)
	    WHERE turn_key = p_key;
	IF NOT FOUND THEN
		INSERT INTO budget_reservations (turn_key, agent_id, cost_usd,
		    tokens, expires_at)
		    VALUES (p_key, p_agent, want, wtok, clock_timestamp() +
		    make_interval(secs => p_ttl_s));
	END IF;
	RETURN 'ok';
END
$$;
