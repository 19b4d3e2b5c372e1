-- Budgets (budget/budget.h; notes/kernel.md 4.4).
--
-- Limits set at runtime (PUT /api/budget, PUT /api/budget/agents/{id}):
-- a NULL column falls back to config.toml [budget] (global) or to the
-- agent manifest's [resources] (per agent); 0 is unlimited everywhere.
CREATE TABLE budget_global (
	id		boolean PRIMARY KEY DEFAULT true CHECK (id),
	max_hourly_usd	double precision CHECK (max_hourly_usd >= 0),
	max_daily_usd	double precision CHECK (max_daily_usd >= 0),
	max_monthly_usd	double precision CHECK (max_monthly_usd >= 0),
	alert_threshold	double precision
			CHECK (alert_threshold BETWEEN 0 AND 1),
	default_max_llm_tokens_per_hour bigint
			CHECK (default_max_llm_tokens_per_hour >= 0),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE budget_agents (
	agent_id	uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
	max_cost_per_hour_usd double precision
			CHECK (max_cost_per_hour_usd >= 0),
	max_cost_per_day_usd double precision
			CHECK (max_cost_per_day_usd >= 0),
	max_cost_per_month_usd double precision
			CHECK (max_cost_per_month_usd >= 0),
	max_llm_tokens_per_hour bigint CHECK (max_llm_tokens_per_hour >= 0),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- What running turns may still spend: one row per turn that reserved,
-- holding what its finished provider calls cost plus the worst case of
-- the call it is making.  The turn's usage row replaces it at the end;
-- a replica that died leaves a row that stops counting at expires_at.
CREATE TABLE budget_reservations (
	turn_key	uuid PRIMARY KEY,
	agent_id	uuid NOT NULL,
	cost_usd	double precision NOT NULL,
	tokens		bigint NOT NULL,
	expires_at	timestamptz NOT NULL
);

-- No index but the key: the table holds only the turns running now, and
-- every call inserts and every turn deletes (an index would only bloat).
-- The global windows sum every agent's spend by time: the rolling hour
-- from the rows, days and months from complete hours rolled up (by
-- budget_reserve(), under the global lock) plus the rows since.  A row
-- written later with a time before the roll-up's end is not counted
-- there (turns write theirs at their end, minutes before it).
CREATE INDEX usage_records_at_idx ON usage_records (at);
CREATE TABLE budget_rollup (
	hour		timestamptz PRIMARY KEY,	-- UTC hour start
	cost_usd	double precision NOT NULL
);

-- One statement per provider call: reads the limits that apply (runtime
-- value, else the caller's config / manifest value), and when any does,
-- takes the budget's advisory locks (global, then the agent's) so that
-- replicas reserve one after the other, checks spend + reservations +
-- this call against each limit, and records the reservation.  Returns
-- NULL when no limit applies (nothing reserved), 'ok' once reserved,
-- else why not (the QuotaExceeded text of notes 4.4).  A call that
-- exactly reaches a limit is allowed.
CREATE FUNCTION budget_reserve(p_key uuid, p_agent uuid, p_cost double
    precision, p_tokens bigint, p_done_cost double precision, p_done_tokens
    bigint, p_ttl_s integer, c_hour double precision, c_day double
    precision, c_month double precision, c_tokens bigint, m_hour double
    precision, m_day double precision, m_month double precision, m_tokens
    bigint, m_burst double precision, c_burst double precision)
    RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	g	budget_global;
	a	budget_agents;
	gh	double precision;
	gd	double precision;
	gm	double precision;
	ah	double precision;
	ad	double precision;
	am	double precision;
	atok	bigint;
	want	double precision := p_done_cost + p_cost;
	wtok	bigint := p_done_tokens + p_tokens;
	day0	timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC';
	mon0	timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC';
	s	double precision;
	r	double precision;
	n	bigint;
	nh	bigint;
	nm	bigint;
	b	double precision;
	rt	timestamptz;
	rb	timestamptz;
BEGIN
	SELECT * INTO g FROM budget_global WHERE id;
	SELECT * INTO a FROM budget_agents WHERE agent_id = p_agent;
	gh := coalesce(g.max_hourly_usd, c_hour, 0);
	gd := coalesce(g.max_daily_usd, c_day, 0);
	gm := coalesce(g.max_monthly_usd, c_month, 0);
	ah := coalesce(a.max_cost_per_hour_usd, m_hour, 0);
	ad := coalesce(a.max_cost_per_day_usd, m_day, 0);
	am := coalesce(a.max_cost_per_month_usd, m_month, 0);
	atok := coalesce(a.max_llm_tokens_per_hour, m_tokens,
	    g.default_max_llm_tokens_per_hour, c_tokens, 0);
	IF gh = 0 AND gd = 0 AND gm = 0 AND ah = 0 AND ad = 0 AND am = 0 AND
	    atok = 0 THEN
		RETURN NULL;
	END IF;
	-- Other replicas see what this writes at commit, flushed or not; a
	-- database crash that lost it also ends the turn holding it.
	PERFORM set_config('synchronous_commit', 'off', true);
	IF gh > 0 OR gd > 0 OR gm > 0 THEN
		PERFORM pg_advisory_xact_lock(hashtext('budget.global'), 0);
	END IF;
	IF ah > 0 OR ad > 0 OR am > 0 OR atok > 0 THEN
		PERFORM pg_advisory_xact_lock(hashtext('budget.agent'),
		    hashtext(p_agent::text));
	END IF;
	IF gh > 0 OR gd > 0 OR gm > 0 THEN
		SELECT coalesce(sum(cost_usd), 0) INTO r
		    FROM budget_reservations
		    WHERE expires_at > clock_timestamp() AND turn_key <> p_key;
		IF gh > 0 THEN
			SELECT r + coalesce(sum(cost_usd), 0) INTO s FROM
			    usage_records WHERE at > now() - interval '1 hour';
			IF s + want > gh THEN
				RETURN format('Global hourly budget exceeded: '
				    '$%s / $%s', round((s + want)::numeric, 6),
				    gh);
			END IF;
		END IF;
	END IF;
	IF gd > 0 OR gm > 0 THEN
		-- Days and months sum the roll-up up to rt, then the rows
		-- since: complete hours are rolled up here, under the global
		-- lock, once each, 5 minutes after they end (so that a turn
		-- still writing its row has committed).
		rt := date_trunc('hour', (clock_timestamp() - interval
		    '5 minutes') AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
		SELECT max(hour) + interval '1 hour' INTO rb
		    FROM budget_rollup;
		IF rb IS NULL THEN
			SELECT date_trunc('hour', min(at) AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC' INTO rb FROM usage_records;
			rb := coalesce(rb, rt);
		END IF;
		IF rb < rt THEN
			INSERT INTO budget_rollup (hour, cost_usd)
			    SELECT date_trunc('hour', at AT TIME ZONE 'UTC')
			    AT TIME ZONE 'UTC', sum(cost_usd)
			    FROM usage_records WHERE at >= rb AND at < rt
			    GROUP BY 1;
			-- The mark of how far it went, even past quiet hours.
			INSERT INTO budget_rollup (hour, cost_usd)
			    VALUES (rt - interval '1 hour', 0)
			    ON CONFLICT (hour) DO NOTHING;
		ELSE
			rt := rb;
		END IF;
		IF gd > 0 THEN
			SELECT coalesce(sum(cost_usd), 0) INTO s FROM
			    budget_rollup WHERE hour >= day0 AND hour < rt;
			SELECT r + s + coalesce(sum(cost_usd), 0) INTO s FROM
			    usage_records WHERE at >= greatest(day0, rt);
			IF s + want > gd THEN
				RETURN format('Global daily budget exceeded: '
				    '$%s / $%s', round((s + want)::numeric, 6),
				    gd);
			END IF;
		END IF;
		IF gm > 0 THEN
			SELECT coalesce(sum(cost_usd), 0) INTO s FROM
			    budget_rollup WHERE hour >= mon0 AND hour < rt;
			SELECT r + s + coalesce(sum(cost_usd), 0) INTO s FROM
			    usage_records WHERE at >= greatest(mon0, rt);
			IF s + want > gm THEN
				RETURN format('Global monthly budget exceeded: '
				    '$%s / $%s', round((s + want)::numeric, 6),
				    gm);
			END IF;
		END IF;
	END IF;
	IF ah > 0 OR ad > 0 OR am > 0 OR atok > 0 THEN
		SELECT coalesce(sum(cost_usd), 0), coalesce(sum(tokens), 0)
		    INTO s, n FROM budget_reservations
		    WHERE agent_id = p_agent AND expires_at > clock_timestamp()
		    AND turn_key <> p_key;
		IF atok > 0 THEN
			SELECT coalesce(sum(input_tokens + output_tokens), 0),
			    coalesce(sum(input_tokens + output_tokens) FILTER
			    (WHERE at > now() - interval '1 minute'), 0)
			    INTO nh, nm FROM usage_records WHERE agent_id =
			    p_agent AND at > now() - interval '1 hour';
			IF n + nh + wtok > atok THEN
				RETURN format('Token limit exceeded: %s / %s',
				    n + nh + wtok, atok);
			END IF;
			-- The burst: in any minute at most burst_ratio of the
			-- hour's quota (manifest, else [budget], else 0.2).
			b := least(greatest(coalesce(m_burst, c_burst, 0.2),
			    0.01), 1);
			IF n + nm + wtok > b * atok THEN
				RETURN format('Token burst limit exceeded: %s / '
				    '%s tokens per minute', n + nm + wtok,
				    floor(b * atok));
			END IF;
		END IF;
		IF ah > 0 OR ad > 0 OR am > 0 THEN
			-- One scan from the earliest window that has a limit
			-- (least() ignores the NULL of a window without one).
			SELECT s + coalesce(sum(cost_usd) FILTER (WHERE at >
			    now() - interval '1 hour'), 0),
			    s + coalesce(sum(cost_usd) FILTER (WHERE at >=
			    day0), 0), s + coalesce(sum(cost_usd), 0)
			    INTO gh, gd, gm FROM usage_records
			    WHERE agent_id = p_agent AND at >= least(CASE
			    WHEN am > 0 THEN mon0 WHEN ad > 0 THEN day0 END,
			    now() - interval '1 hour');
			IF ah > 0 AND gh + want > ah THEN
				RETURN format('Agent %s exceeded hourly cost '
				    'quota: $%s / $%s', p_agent,
				    round((gh + want)::numeric, 6), ah);
			END IF;
			IF ad > 0 AND gd + want > ad THEN
				RETURN format('Agent %s exceeded daily cost '
				    'quota: $%s / $%s', p_agent,
				    round((gd + want)::numeric, 6), ad);
			END IF;
			IF am > 0 AND gm + want > am THEN
				RETURN format('Agent %s exceeded monthly cost '
				    'quota: $%s / $%s', p_agent,
				    round((gm + want)::numeric, 6), am);
			END IF;
		END IF;
	END IF;
	INSERT INTO budget_reservations AS r (turn_key, agent_id, cost_usd,
	    tokens, expires_at)
	    VALUES (p_key, p_agent, want, wtok, clock_timestamp() +
	    make_interval(secs => p_ttl_s))
	    ON CONFLICT (turn_key) DO UPDATE SET cost_usd = EXCLUDED.cost_usd,
	    tokens = EXCLUDED.tokens, expires_at = EXCLUDED.expires_at;
	RETURN 'ok';
END
$$;
