// memory.js - the memory store: totals, search (all agents or one),
// the newest items, add one, delete one.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import { pageHead, card, actionButton, actionForm, loadInto, stat, select, qs, shortId } from './kit.js';

const enc = encodeURIComponent;

export default {
  id: 'memory',
  title: 'Memory',
  render(root) {
    const stats = h('div', { class: 'stats' });
    const results = h('div', { 'aria-live': 'polite' });
    const recent = h('div');
    const names = new Map();
    const q = h('input', { type: 'search', name: 'q', required: true, placeholder: 'what to look for' });
    const agent = h('select', { name: 'agent_id' }, h('option', { value: '' }, 'All agents'));

    const itemsTable = (items, caption) => table([
      { key: 'content', label: 'Content', render: (m) => h('div', { class: 'pre-wrap' }, m.content) },
      { key: 'agent', label: 'Agent', render: (m) => names.get(m.agent_id) || shortId(m.agent_id) },
      { key: 'level', label: 'Level' },
      { key: 'category', label: 'Category' },
      { key: 'score', label: 'Score', render: (m) => (m.score != null ? Number(m.score).toFixed(2) : (m.confidence != null ? Number(m.confidence).toFixed(2) : '')) },
      { key: 'created_at', label: 'Created', render: (m) => fmtTime(m.created_at) },
      {
        key: 'del', label: '', render: (m) => actionButton('Delete', async () => {
          if (!await confirmDialog('Delete this memory?', { ok: 'Delete', danger: true })) return;
          await api('DELETE', `/api/memory/items/${enc(m.id)}`);
          loadRecent();
          loadStats();
        }, { small: true, danger: true, what: 'Delete', ariaLabel: 'Delete this memory' }),
      },
    ], items, { caption, empty: 'Nothing found.' });

    const loadStats = () => loadInto(stats, async () => {
      const s = await api('GET', '/api/memory/stats');
      const lv = s.by_level || {};
      return [stat('Memories', s.total), stat('User level', lv.user), stat('Session level', lv.session),
        stat('Agent level', lv.agent), stat('Relations', s.relations), stat('Newest', s.newest ? fmtTime(s.newest) : '—')];
    });
    const loadRecent = () => loadInto(recent, async () => {
      const r = await api('GET', '/api/memory?limit=50');
      return itemsTable(r.memories || [], `Newest (${r.total} in all)`);
    });

    const search = actionForm({ role: 'search', class: 'row' }, [
      field('Search', q), field('Agent', agent), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search'),
    ], () => loadInto(results, async () => {
      const r = await api('GET', `/api/memory/search${qs({ q: q.value.trim(), agent_id: agent.value, limit: 50 })}`);
      const items = (r.memories || []).map((m) => (m.item ? { ...m.item, score: m.score } : m));
      return itemsTable(items, `${r.total} found for "${r.query}"`);
    }), { what: 'Search' });

    const content = h('textarea', { name: 'content', rows: 2, required: true });
    const addAgent = h('select', { name: 'agent_id', required: true });
    const level = select({ name: 'level' }, ['agent', 'user', 'session'], 'agent');
    const add = actionForm({ 'aria-label': 'Add a memory' }, [
      field('Content', content), h('div', { class: 'row' }, field('Agent', addAgent), field('Level', level)),
      h('button', { type: 'submit', class: 'btn' }, 'Add'),
    ], async () => {
      const r = await api('POST', '/api/memory', { agent_id: addAgent.value, content: content.value, level: level.value });
      content.value = '';
      loadRecent();
      loadStats();
      return r;
    }, { ok: (r) => (r.added ? 'Added.' : 'Already known (not added again).'), what: 'Add' });

    api('GET', '/api/agents').then((agents) => {
      for (const a of agents) {
        names.set(a.id, a.name);
        agent.appendChild(h('option', { value: a.id }, a.name));
        addAgent.appendChild(h('option', { value: a.id }, a.name));
      }
      loadRecent();
    }).catch(() => {});

    mount(root,
      pageHead('Memory', actionButton('Refresh', () => { loadStats(); loadRecent(); })),
      stats, card(null, search, results), card(null, recent), card('Add a memory', add));
    loadStats();
    loadRecent();
  },
};
