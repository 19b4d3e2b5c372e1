// usage.js - usage and budget: cost and tokens per day (SVG charts from
// ui.js), by model, by agent; the global budget (set the limits) and
// each agent's.

import { api } from '../api.js';
import { h, mount, field, table, fmtCost, barChart, lineChart } from '../ui.js';
import { pageHead, card, badge, actionForm, actionButton, loadInto, stat } from './kit.js';

const enc = encodeURIComponent;
const num = (n) => Number(n || 0).toLocaleString();

export default {
  id: 'usage',
  title: 'Usage & budget',
  render(root) {
    const tiles = h('div', { class: 'stats' });
    const charts = h('div', { class: 'grid2' });
    const byModel = h('div');
    const byAgent = h('div');
    const budget = h('div');
    const agentBudgets = h('div');

    const loadUsage = () => Promise.all([
      loadInto(tiles, async () => {
        const s = await api('GET', '/api/usage/summary');
        const t = s.today || {};
        return [stat('Cost today', fmtCost(t.cost_usd)), stat('Requests today', num(t.requests)),
          stat('Tokens today', num((t.input_tokens || 0) + (t.output_tokens || 0))),
          stat('Cost in all', fmtCost(s.total_cost_usd)), stat('Calls in all', num(s.call_count)),
          stat('Tool calls', num(s.total_tool_calls))];
      }),
      loadInto(charts, async () => {
        const d = await api('GET', '/api/usage/daily');
        const days = d.daily || [];
        const label = (x) => String(x.date).slice(5);
        return [
          card('Cost per day', barChart(days.map((x) => ({ label: label(x), value: x.cost_usd })),
            { label: 'Cost per day, US dollars', format: (v) => fmtCost(v) })),
          card('Tokens per day', lineChart(days.map((x) => ({ label: label(x), value: (x.input_tokens || 0) + (x.output_tokens || 0) })),
            { label: 'Tokens per day', format: (v) => num(Math.round(v)) })),
        ];
      }),
      loadInto(byModel, async () => {
        const r = await api('GET', '/api/usage/by-model');
        return table([
          { key: 'model', label: 'Model', render: (m) => `${m.provider}/${m.model}` },
          { key: 'request_count', label: 'Requests' },
          { key: 'input_tokens', label: 'Tokens in', render: (m) => num(m.input_tokens) },
          { key: 'output_tokens', label: 'Tokens out', render: (m) => num(m.output_tokens) },
          { key: 'cost_usd', label: 'Cost', render: (m) => fmtCost(m.cost_usd) },
        ], r.models || [], { caption: 'By model', empty: 'No usage yet.' });
      }),
      loadInto(byAgent, async () => {
        const r = await api('GET', '/api/usage');
        return table([
          { key: 'name', label: 'Agent' },
          { key: 'call_count', label: 'Calls' },
          { key: 'tool_calls', label: 'Tool calls' },
          { key: 'total_tokens', label: 'Tokens', render: (a) => num(a.total_tokens) },
          { key: 'total_cost_usd', label: 'Cost', render: (a) => fmtCost(a.total_cost_usd) },
        ], r.items || [], { caption: `By agent (${r.period || 'day'})`, empty: 'No usage yet.' });
      }),
    ]);

    const loadBudget = () => Promise.all([
      loadInto(budget, async () => {
        const b = await api('GET', '/api/budget');
        const lim = (v) => (Number(v) > 0 ? fmtCost(v) : 'none');
        const meter = (name, x) => h('div', { class: 'meter-row' },
          h('span', { class: 'meter-name' }, name),
          h('meter', { min: 0, max: 1, value: Math.min(1, Number(x.pct || 0)), 'aria-label': `${name} spend` }),
          h('span', null, `${fmtCost(x.spend)} of ${lim(x.limit)}`));
        const hourly = h('input', { name: 'max_hourly_usd', type: 'number', min: 0, step: 'any', value: b.hourly_limit });
        const daily = h('input', { name: 'max_daily_usd', type: 'number', min: 0, step: 'any', value: b.daily_limit });
        const monthly = h('input', { name: 'max_monthly_usd', type: 'number', min: 0, step: 'any', value: b.monthly_limit });
        const alert = h('input', { name: 'alert_threshold', type: 'number', min: 0, max: 1, step: 0.05, value: b.alert_threshold });
        const form = actionForm({ 'aria-label': 'Budget limits' }, [
          h('div', { class: 'row' }, field('Hourly limit (USD, 0 = none)', hourly), field('Daily limit', daily),
            field('Monthly limit', monthly), field('Alert at (0..1)', alert)),
          h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save limits'),
        ], async () => {
          await api('PUT', '/api/budget', {
            max_hourly_usd: Number(hourly.value), max_daily_usd: Number(daily.value),
            max_monthly_usd: Number(monthly.value), alert_threshold: Number(alert.value),
          });
          loadBudget();
        }, { ok: 'Budget saved.', what: 'Budget' });
        return [h('p', null, 'Status: ', badge(b.status)),
          meter('Hour', b.hourly || {}), meter('Day', b.daily || {}), meter('Month', b.monthly || {}), form];
      }),
      loadInto(agentBudgets, async () => {
        const r = await api('GET', '/api/budget/agents');
        return table([
          { key: 'name', label: 'Agent' },
          { key: 'today_cost_usd', label: 'Today', render: (a) => fmtCost(a.today_cost_usd) },
          { key: 'total_cost_usd', label: 'In all', render: (a) => fmtCost(a.total_cost_usd) },
          {
            key: 'daily_limit', label: 'Daily limit (USD)', render: (a) => {
              const inp = h('input', { type: 'number', min: 0, step: 'any', value: a.daily_limit, size: 6, 'aria-label': `Daily limit of ${a.name}` });
              return h('div', { class: 'row' }, inp, actionButton('Set', async () => {
                await api('PUT', `/api/budget/agents/${enc(a.agent_id)}`, { max_cost_per_day_usd: Number(inp.value) });
                loadBudget();
              }, { small: true, ok: `Limit of ${a.name} set.`, what: 'Limit' }));
            },
          },
        ], r.agents || [], { caption: 'Per agent', empty: 'No agent.' });
      }),
    ]);

    mount(root,
      pageHead('Usage & budget', actionButton('Refresh', () => { loadUsage(); loadBudget(); })),
      tiles, charts, h('div', { class: 'grid2' }, card(null, byModel), card(null, byAgent)),
      card('Budget', budget), card(null, agentBudgets));
    loadUsage();
    loadBudget();
  },
};
