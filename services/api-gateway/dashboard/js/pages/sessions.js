// sessions.js - every agent's sessions: search, read one, label, delete.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import { pageHead, card, actionButton, actionForm, loadInto, shortId, qs } from './kit.js';

const enc = encodeURIComponent;

function text(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((b) => (typeof b === 'string' ? b : b.text || `[${b.type || 'block'}]`)).join('\n');
  }
  return JSON.stringify(content);
}

export default {
  id: 'sessions',
  title: 'Sessions',
  render(root) {
    const list = h('div');
    const view = h('div');
    const names = new Map();
    const q = h('input', { type: 'search', name: 'q', placeholder: 'words in the messages' });

    const show = (s) => loadInto(view, async () => {
      const d = await api('GET', `/api/sessions/${enc(s.session_id)}`);
      const msgs = d.messages || [];
      return card(`Session ${String(s.session_id).slice(0, 8)} of ${names.get(d.agent_id) || d.agent_id}`,
        h('p', { class: 'muted' }, `${msgs.length} messages${d.label ? ` · label "${d.label}"` : ''}`),
        h('ol', { class: 'transcript' }, msgs.map((m) => h('li', { class: ['tmsg', `tmsg-${String(m.role).toLowerCase()}`] },
          h('div', { class: 'tmsg-meta muted' }, `${m.role} · ${fmtTime(m.timestamp)}`),
          h('div', { class: 'tmsg-text' }, text(m.content))))));
    });

    const refresh = () => loadInto(list, async () => {
      const [agents, r] = await Promise.all([
        api('GET', '/api/agents').catch(() => []),
        q.value.trim() ? api('GET', `/api/sessions/search${qs({ q: q.value.trim() })}`)
          : api('GET', '/api/sessions'),
      ]);
      for (const a of agents) names.set(a.id, a.name);
      const rows = r.sessions || r.results || [];
      return table([
        { key: 'session_id', label: 'Session', render: (s) => shortId(s.session_id) },
        { key: 'agent', label: 'Agent', render: (s) => names.get(s.agent_id) || shortId(s.agent_id) },
        { key: 'label', label: 'Label' },
        { key: 'message_count', label: 'Messages' },
        { key: 'updated_at', label: 'Updated', render: (s) => fmtTime(s.updated_at || s.created_at) },
        {
          key: 'actions', label: 'Actions', render: (s) => h('div', { class: 'row' },
            actionButton('Open', () => show(s), { small: true }),
            actionButton('Label', async () => {
              const input = h('input', { name: 'label', value: s.label || '' });
              const dlg = labelDialog(input);
              if (!await dlg) return;
              await api('PUT', `/api/sessions/${enc(s.session_id)}/label`, { label: input.value.trim() || null });
              await refresh();
            }, { small: true, ok: 'Label saved.', what: 'Label' }),
            actionButton('Delete', async () => {
              if (!await confirmDialog('Delete this session and its messages?', { ok: 'Delete', danger: true })) return;
              await api('DELETE', `/api/sessions/${enc(s.session_id)}`);
              mount(view);
              await refresh();
            }, { small: true, danger: true, what: 'Delete' })),
        },
      ], rows, { empty: 'No session.' });
    });

    const search = actionForm({ class: 'row', role: 'search' }, [
      field('Search', q), h('button', { type: 'submit', class: 'btn' }, 'Search'),
    ], () => refresh());

    mount(root, pageHead('Sessions', actionButton('Refresh', refresh)), card(null, search, list), view);
    refresh();
  },
};

// A small dialog holding input: resolves true on Save.
function labelDialog(input) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog', 'aria-label': 'Session label' },
      h('form', { method: 'dialog' },
        h('h2', null, 'Session label'), field('Label', input),
        h('div', { class: 'row end' },
          h('button', { type: 'submit', value: 'cancel', class: 'btn' }, 'Cancel'),
          h('button', { type: 'submit', value: 'ok', class: 'btn btn-primary' }, 'Save'))));
    dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'ok'); dlg.remove(); });
    document.body.appendChild(dlg);
    dlg.showModal();
    input.focus();
  });
}
