// overview.js - the system at a glance: health of every service and of
// every replica (process) heard from, agents, turns, LLM calls and cost
// today, pending approvals.  Refreshes every 5 s.

import { api } from '../api.js';
import { h, mount, table, fmtTime, fmtCost, errorBox } from '../ui.js';
import { pageHead, card, badge, stat, every, fmtSecs, actionButton } from './kit.js';

// Turns: every agent's own count (agents.metrics, all time), asked at
// most every 30 s and for the first 50 agents only.
const MAX_AGENTS = 50;
let turnsCache = { at: 0, value: null, errors: 0 };
async function turns(agents) {
  if (Date.now() - turnsCache.at < 30000) return turnsCache;
  const list = agents.slice(0, MAX_AGENTS);
  const rs = await Promise.allSettled(list.map((a) => api('GET', `/api/agents/${encodeURIComponent(a.id)}/metrics`)));
  let sum = 0;
  let errors = 0;
  for (const r of rs) {
    if (r.status === 'fulfilled') sum += Number(r.value.turns) || 0; else errors += 1;
  }
  turnsCache = { at: Date.now(), value: sum, errors, partial: agents.length > MAX_AGENTS };
  return turnsCache;
}

async function load(parts) {
  // Each source on its own: one failing (a service down) must not hide
  // the others.
  const [detail, status, usage, approvals] = await Promise.allSettled([
    api('GET', '/api/health/detail'),
    api('GET', '/api/status'),
    api('GET', '/api/usage/summary'),
    api('GET', '/api/approvals/count'),
  ]);
  const val = (r) => (r.status === 'fulfilled' ? r.value : null);
  const d = val(detail);
  const st = val(status);
  const u = val(usage);
  const ap = val(approvals);

  const tc = st && st.agents ? await turns(st.agents).catch(() => null) : null;
  const today = (u && u.today) || {};
  const instances = (st && st.instances) || [];
  const up = instances.filter((i) => i.status === 'up').length;
  mount(parts.tiles,
    stat('Status', d ? d.status : 'unknown', d ? `up ${fmtSecs(d.uptime_seconds)}` : null),
    stat('Agents', st ? st.agent_count : (d ? d.agent_count : null)),
    stat('Turns', tc ? tc.value : null,
      tc ? `all time${tc.partial ? `, first ${MAX_AGENTS} agents` : ''}${tc.errors ? `, ${tc.errors} not counted` : ''}` : null),
    stat('LLM calls today', u ? today.requests ?? 0 : null,
      u ? `${(today.input_tokens || 0) + (today.output_tokens || 0)} tokens` : null),
    stat('Cost today', u ? fmtCost(today.cost_usd || 0) : null),
    stat('Pending approvals', ap ? ap.pending : null),
    stat('Processes up', `${up}/${instances.length}`));
  if (d && d.status) parts.tiles.firstChild.classList.add(`stat-${d.status === 'ok' ? 'ok' : 'warn'}`);

  if (detail.status === 'rejected') {
    mount(parts.services, errorBox(detail.reason));
  } else {
    const rows = Object.entries(d.services || {}).map(([name, s]) => ({ name, ...s }));
    mount(parts.services,
      d.database ? h('p', null, 'Database: ', badge(d.database)) : null,
      (d.config_warnings || []).length
        ? h('div', { class: 'error-box' }, 'Config warnings: ', d.config_warnings.join('; ')) : null,
      table([
        { key: 'name', label: 'Service' },
        { key: 'status', label: 'Status', render: (r) => badge(r.status) },
        { key: 'database', label: 'Database', render: (r) => (r.database ? badge(r.database) : '') },
        { key: 'replicas_seen', label: 'Replicas' },
        { key: 'restart_count', label: 'Restarts' },
        { key: 'version', label: 'Version' },
        { key: 'uptime_seconds', label: 'Uptime', render: (r) => (r.uptime_seconds != null ? fmtSecs(r.uptime_seconds) : '') },
      ], rows, { caption: 'Services', empty: 'No service answered.' }));
  }

  if (status.status === 'rejected') {
    mount(parts.instances, errorBox(status.reason));
    mount(parts.agents);
  } else {
    mount(parts.instances, table([
      { key: 'service', label: 'Service' },
      { key: 'instance', label: 'Instance' },
      { key: 'status', label: 'Status', render: (r) => badge(r.status) },
      { key: 'version', label: 'Version' },
      { key: 'uptime_seconds', label: 'Uptime', render: (r) => fmtSecs(r.uptime_seconds) },
      { key: 'last_seen', label: 'Last seen', render: (r) => `${fmtSecs((r.last_seen_ms_ago || 0) / 1000)} ago` },
      {
        key: 'brokers', label: 'Brokers',
        render: (r) => (r.brokers || []).map((b) => badge(b.connected ? 'connected' : 'disconnected')),
      },
    ], instances, { caption: 'Processes (every replica)', empty: 'No heartbeat heard yet.' }));

    const agents = (st.agents || []).slice(0, 10);
    mount(parts.agents, table([
      { key: 'name', label: 'Agent', render: (a) => h('a', { href: `#/agents/${a.id}` }, a.name) },
      { key: 'state', label: 'State', render: (a) => badge(a.state) },
      { key: 'model_name', label: 'Model', render: (a) => `${a.model_provider}/${a.model_name}` },
      { key: 'last_active', label: 'Last active', render: (a) => fmtTime(a.last_active) },
    ], agents, { caption: `Agents (${st.agent_count})`, empty: 'No agent yet.' }),
    st.agents_error ? errorBox(st.agents_error) : null);
  }
  parts.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

export default {
  id: 'overview',
  title: 'Overview',
  render(root) {
    turnsCache.at = 0;
    const loading = () => h('p', { class: 'muted' }, 'Loading…');
    const parts = {
      tiles: h('div', { class: 'stats' }, loading()),
      services: h('div', null, loading()),
      instances: h('div', null, loading()),
      agents: h('div', null, loading()),
      updated: h('span', { class: 'muted', 'aria-live': 'off' }),
    };
    const refresh = () => load(parts).catch((e) => mount(parts.tiles, errorBox(e)));
    mount(root,
      pageHead('Overview', parts.updated, actionButton('Refresh', refresh)),
      parts.tiles,
      card(null, parts.services),
      card(null, parts.instances),
      card(null, parts.agents));
    refresh();
    return every(5000, () => (parts.agents.contains(document.activeElement) ? null : refresh()));
  },
};
