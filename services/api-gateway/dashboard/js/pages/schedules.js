// schedules.js - schedules and cron jobs (one store, two views in the
// API): list with last and next runs, create (cron text or an interval),
// run now, enable/disable, recent runs, delete.  Refreshes every 5 s.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import {
  pageHead, card, badge, actionButton, actionForm, loadInto, every, select, ago,
} from './kit.js';

const enc = encodeURIComponent;

export default {
  id: 'schedules',
  title: 'Schedules',
  render(root) {
    const list = h('div');
    const history = h('div');
    const names = new Map();
    let shown = null;   // the schedule whose runs are shown

    const showRuns = (s) => {
      shown = s;
      return loadInto(history, async () => {
        const st = await api('GET', `/api/cron/jobs/${enc(s.id)}/status`);
        return card(`Recent runs of "${s.name}"`,
          h('p', { class: 'muted' }, `${st.run_count} runs, ${st.consecutive_errors} errors in a row`,
            st.auto_disabled ? ` · disabled: ${st.disabled_reason}` : ''),
          table([
            { key: 'fired_at', label: 'Fired', render: (f) => fmtTime(f.fired_at || f.slot) },
            { key: 'state', label: 'State', render: (f) => badge(f.state) },
            { key: 'manual', label: 'How', render: (f) => (f.manual ? 'run now' : 'scheduled') },
            { key: 'duration_ms', label: 'Took', render: (f) => (f.duration_ms != null ? `${f.duration_ms} ms` : '') },
            { key: 'claimed_by', label: 'Replica' },
            { key: 'error', label: 'Error' },
          ], st.recent_fires || [], { empty: 'Not run yet.' }));
      });
    };

    const refresh = () => loadInto(list, async () => {
      const r = await api('GET', '/api/schedules');
      const rows = r.schedules || [];
      if (shown && rows.some((s) => s.id === shown.id)) showRuns(shown);
      return table([
        { key: 'name', label: 'Name' },
        { key: 'agent', label: 'Agent', render: (s) => names.get(s.agent_id) || s.agent_id || (s.workflow_id ? 'workflow' : '') },
        { key: 'cron', label: 'When', render: (s) => (s.tz ? `${s.cron} (${s.tz})` : s.cron) },
        { key: 'enabled', label: 'Enabled', render: (s) => badge(s.enabled ? 'enabled' : 'disabled') },
        {
          key: 'last_run', label: 'Last run',
          render: (s) => (s.last_run ? h('span', { class: 'last-run', title: fmtTime(s.last_run) },
            badge(s.last_status || '?'), ' ', ago(s.last_run)) : h('span', { class: 'muted' }, 'never')),
        },
        { key: 'next_run', label: 'Next run', render: (s) => (s.next_run ? fmtTime(s.next_run) : '') },
        { key: 'run_count', label: 'Runs' },
        {
          key: 'actions', label: 'Actions', render: (s) => h('div', { class: 'row' },
            actionButton('Run now', async () => {
              const out = await api('POST', `/api/schedules/${enc(s.id)}/run`);
              await refresh();
              return out;
            }, { small: true, ok: (o) => `Ran "${s.name}": ${String(o.output ?? o.status ?? '').slice(0, 120)}`, what: 'Run' }),
            actionButton(s.enabled ? 'Disable' : 'Enable', async () => {
              await api('PUT', `/api/schedules/${enc(s.id)}`, { enabled: !s.enabled });
              await refresh();
            }, { small: true, what: 'Update' }),
            actionButton('Runs', () => showRuns(s), { small: true }),
            actionButton('Delete', async () => {
              if (!await confirmDialog(`Delete schedule "${s.name}"?`, { ok: 'Delete', danger: true })) return;
              await api('DELETE', `/api/schedules/${enc(s.id)}`);
              if (shown && shown.id === s.id) { shown = null; mount(history); }
              await refresh();
            }, { small: true, danger: true, what: 'Delete' })),
        },
      ], rows, { empty: 'No schedule yet.' });
    });

    // Create.
    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const agent = h('select', { name: 'agent_id', required: true });
    const kind = select({ name: 'kind' }, [
      { value: 'cron', label: 'Cron expression' }, { value: 'every', label: 'Every N seconds' }], 'cron');
    const cron = h('input', { name: 'cron', value: '0 9 * * *', placeholder: 'min hour day month weekday', autocomplete: 'off' });
    const tz = h('input', { name: 'tz', placeholder: 'UTC', autocomplete: 'off' });
    const secs = h('input', { name: 'every_secs', type: 'number', min: 1, value: 3600 });
    const prompt = h('textarea', { name: 'prompt', rows: 3, required: true });
    const cronFields = h('div', { class: 'row' }, field('Cron', cron), field('Time zone (optional)', tz));
    const everyFields = h('div', { class: 'row', hidden: true }, field('Seconds', secs));
    kind.addEventListener('change', () => {
      cronFields.hidden = kind.value !== 'cron';
      everyFields.hidden = kind.value === 'cron';
    });
    const form = actionForm({ class: 'schedule-form', 'aria-label': 'New schedule' }, [
      h('div', { class: 'row' }, field('Name', name), field('Agent', agent), field('Kind', kind)),
      cronFields, everyFields, field('Message to the agent', prompt),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create schedule'),
    ], async () => {
      const b = { name: name.value.trim(), agent_id: agent.value, prompt: prompt.value };
      if (kind.value === 'cron') {
        b.cron = cron.value.trim();
        if (tz.value.trim()) b.tz = tz.value.trim();
      } else {
        b.schedule = { kind: 'every', every_secs: Number(secs.value) };
      }
      const r = await api('POST', '/api/schedules', b);
      name.value = '';
      prompt.value = '';
      await refresh();
      return r;
    }, { ok: (r) => `Created "${r.name}", next run ${fmtTime(r.next_run)}.`, what: 'Create' });

    api('GET', '/api/agents').then((agents) => {
      for (const a of agents) names.set(a.id, a.name);
      mount(agent, agents.map((a) => h('option', { value: a.id }, a.name)));
      refresh();
    }).catch((e) => mount(agent, h('option', { value: '' }, `no agents: ${e.message}`)));

    mount(root,
      pageHead('Schedules', actionButton('Refresh', refresh)),
      card(null, list), history, card('New schedule', form));
    refresh();
    // Not while a control in the list has the focus (a keyboard user
    // would lose their place).
    return every(5000, () => (list.contains(document.activeElement) ? null : refresh()));
  },
};
