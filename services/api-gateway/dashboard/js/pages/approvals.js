// approvals.js - the approvals queue: pending requests (approve, with a
// TOTP code when the agent's policy asks one; reject, with a reason) and
// the decided ones.  Refreshes every 3 s.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime } from '../ui.js';
import { pageHead, card, badge, actionButton, loadInto, every, select, qs, ago } from './kit.js';

const enc = encodeURIComponent;
const RISK = { Low: 'ok', Medium: 'warn', High: 'err', Critical: 'err' };

export default {
  id: 'approvals',
  title: 'Approvals',
  render(root) {
    const list = h('div');
    const status = select({ name: 'status', 'aria-label': 'Which requests' }, [
      { value: 'pending', label: 'Pending' }, { value: 'all', label: 'All' },
      { value: 'approved', label: 'Approved' }, { value: 'rejected', label: 'Rejected' },
      { value: 'timed_out', label: 'Timed out' }], 'pending');

    const decide = async (a, how, extra) => {
      await api('POST', `/api/approvals/${enc(a.id)}/${how}`, extra);
      await refresh();
    };

    const refresh = () => loadInto(list, async () => {
      const r = await api('GET', `/api/approvals${qs({ status: status.value })}`);
      const rows = r.approvals || [];
      return table([
        { key: 'requested_at', label: 'Requested', render: (a) => h('span', { title: fmtTime(a.requested_at) }, ago(a.requested_at)) },
        { key: 'agent_name', label: 'Agent' },
        { key: 'tool_name', label: 'Tool', render: (a) => h('code', null, a.tool_name) },
        {
          key: 'description', label: 'What', render: (a) => h('div', null,
            h('div', null, a.description || ''),
            a.action_summary ? h('div', { class: 'muted' }, a.action_summary) : null,
            a.payload ? h('pre', { class: 'clip' }, JSON.stringify(a.payload, null, 1)) : null),
        },
        { key: 'risk_level', label: 'Risk', render: (a) => badge(a.risk_level, RISK[a.risk_level]) },
        {
          key: 'status', label: 'Status', render: (a) => (a.status === 'pending'
            ? h('span', null, badge('pending', 'warn'), ' ', h('span', { class: 'muted' }, `expires ${ago(a.expires_at)}`))
            : h('span', null, badge(a.status), a.decided_by ? ` by ${a.decided_by}` : '', a.reason ? ` · ${a.reason}` : '')),
        },
        {
          key: 'actions', label: 'Decide', render: (a) => {
            if (a.status !== 'pending') return '';
            const code = h('input', {
              name: 'totp_code', inputmode: 'numeric', autocomplete: 'one-time-code', size: 7,
              placeholder: 'TOTP', 'aria-label': `TOTP code for ${a.tool_name}`,
            });
            const reason = h('input', { name: 'reason', placeholder: 'reason', 'aria-label': `Reason to reject ${a.tool_name}` });
            return h('div', { class: 'decide' },
              h('div', { class: 'row' }, code,
                actionButton('Approve', () => decide(a, 'approve', code.value.trim() ? { totp_code: code.value.trim() } : {}),
                  { small: true, primary: true, ok: `Approved ${a.tool_name}.`, what: 'Approve', dataset: { approval: a.id } })),
              h('div', { class: 'row' }, reason,
                actionButton('Reject', () => decide(a, 'reject', reason.value.trim() ? { reason: reason.value.trim() } : {}),
                  { small: true, danger: true, ok: `Rejected ${a.tool_name}.`, what: 'Reject', dataset: { approval: a.id } })));
          },
        },
      ], rows, { empty: status.value === 'pending' ? 'Nothing waits for a decision.' : 'None.' });
    });
    status.addEventListener('change', refresh);

    mount(root,
      pageHead('Approvals', field('Show', status), actionButton('Refresh', refresh)),
      card(null, list),
      h('p', { class: 'muted' }, 'A TOTP code is needed only when the agent\'s approval policy asks for a second factor.'));
    refresh();
    return every(3000, () => (list.contains(document.activeElement) ? null : refresh()));
  },
};
