// audit.js - the audit trail: the newest entries (filter by words or
// event type) and a check of the whole hash chain.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime } from '../ui.js';
import { pageHead, card, badge, actionButton, loadInto, select, shortId, qs } from './kit.js';

export default {
  id: 'audit',
  title: 'Audit',
  render(root) {
    const list = h('div');
    const verdict = h('div', { 'aria-live': 'polite' });
    const limit = select({ name: 'limit' }, ['50', '100', '200', '500'], '100');
    const filter = h('input', { type: 'search', name: 'filter', placeholder: 'type, agent or words' });
    let entries = [];

    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      const rows = entries.filter((e) => !f || [e.event_type, e.action, e.agent_id, e.detail, e.details, e.outcome]
        .some((x) => x && String(x).toLowerCase().includes(f)));
      mount(list, table([
        { key: 'seq', label: '#' },
        { key: 'timestamp', label: 'Time', render: (e) => fmtTime(e.timestamp) },
        { key: 'event_type', label: 'Event', render: (e) => h('code', null, e.event_type || e.action) },
        { key: 'agent_id', label: 'Agent', render: (e) => shortId(e.agent_id) },
        { key: 'detail', label: 'Detail', render: (e) => h('div', { class: 'pre-wrap' }, e.detail ?? e.details ?? '') },
        { key: 'outcome', label: 'Outcome', render: (e) => badge(e.outcome) },
        { key: 'hash', label: 'Hash', render: (e) => h('code', { title: e.hash }, String(e.hash || '').slice(0, 10)) },
      ], rows.slice().reverse(), { caption: `${rows.length} of the newest ${entries.length} entries`, empty: 'No entry.' }));
    };
    const refresh = () => loadInto(list, async () => {
      const r = await api('GET', `/api/audit/recent${qs({ limit: limit.value })}`);
      entries = r.entries || [];
      draw();
      return list.firstChild;
    });
    filter.addEventListener('input', draw);
    limit.addEventListener('change', refresh);

    const verify = actionButton('Verify the chain', () => loadInto(verdict, async () => {
      const v = await api('GET', '/api/audit/verify');
      return h('div', { class: ['verdict', v.valid ? 'verdict-ok' : 'verdict-bad'] },
        h('p', null, badge(v.valid ? 'valid' : 'invalid'), ' ',
          v.valid ? `The chain of ${v.chain_length} entries is intact.`
            : `The chain is broken${v.error ? `: ${v.error}` : ''}${v.broken_at != null ? ` at entry ${v.broken_at}` : ''}.`),
        h('dl', { class: 'facts' },
          h('dt', null, 'Entries'), h('dd', null, String(v.entries ?? v.chain_length)),
          h('dt', null, 'First'), h('dd', null, fmtTime(v.first_entry)),
          h('dt', null, 'Last'), h('dd', null, fmtTime(v.last_entry)),
          h('dt', null, 'Tip hash'), h('dd', null, h('code', { class: 'break' }, v.tip_hash || '')),
          h('dt', null, 'Anchor'), h('dd', null, v.anchor_enabled ? `${v.anchor_status}` : 'not enabled')));
    }), { primary: true, what: 'Verify' });

    mount(root,
      pageHead('Audit', verify, actionButton('Refresh', refresh)),
      verdict,
      card(null, h('div', { class: 'row' }, field('Filter', filter), field('Entries', limit)), list));
    refresh();
  },
};
