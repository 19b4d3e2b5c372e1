// workflows.js - workflows: list, steps, runs (with each step's result
// for a run started here), run with an input, create from JSON, delete.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import { pageHead, card, badge, actionButton, actionForm, loadInto, shortId } from './kit.js';

const enc = encodeURIComponent;

const EXAMPLE = JSON.stringify({
  name: 'review',
  description: 'analyse, then summarise',
  steps: [
    { name: 'analyze', agent_name: 'analyst', prompt: 'Analyze: {{input}}', output_var: 'analysis' },
    { name: 'summarize', agent_name: 'writer', prompt: 'Summarize {{analysis}}' },
  ],
}, null, 2);

function stepResults(r) {
  return h('div', { class: 'wf-result' },
    h('p', null, 'Run ', shortId(r.run_id), ' ', badge(r.status)),
    table([
      { key: 'step_name', label: 'Step' },
      { key: 'agent_name', label: 'Agent' },
      { key: 'duration_ms', label: 'Took', render: (s) => `${s.duration_ms} ms` },
      { key: 'tokens', label: 'Tokens', render: (s) => `${s.input_tokens || 0} in / ${s.output_tokens || 0} out` },
      { key: 'output', label: 'Output', render: (s) => h('div', { class: 'pre-wrap' }, s.output || s.error || '') },
    ], r.step_results || [], { caption: 'Steps of this run' }),
    r.output ? card('Output', h('div', { class: 'pre-wrap' }, r.output)) : null);
}

function detail(box, w, refreshList) {
  return loadInto(box, async () => {
    const [def, runs] = await Promise.all([
      api('GET', `/api/workflows/${enc(w.id)}`),
      api('GET', `/api/workflows/${enc(w.id)}/runs`),
    ]);
    const out = h('div', { 'aria-live': 'polite' });
    const input = h('textarea', { name: 'input', rows: 2 });
    const runForm = actionForm({ 'aria-label': 'Run workflow' }, [
      field('Input', input),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Run'),
    ], async () => {
      mount(out, h('p', { class: 'muted' }, 'Running…'));
      try {
        const r = await api('POST', `/api/workflows/${enc(w.id)}/run`, { input: input.value });
        mount(out, stepResults(r));
        refreshRuns();
        return r;
      } catch (e) {
        mount(out);
        throw e;
      }
    }, { ok: (r) => `Workflow ${r.status}.`, what: 'Run' });
    const runsBox = h('div');
    const showRuns = (list) => mount(runsBox, table([
      { key: 'id', label: 'Run', render: (r) => shortId(r.id) },
      { key: 'state', label: 'State', render: (r) => badge(r.state) },
      { key: 'steps_completed', label: 'Steps done' },
      { key: 'started_at', label: 'Started', render: (r) => fmtTime(r.started_at) },
      { key: 'completed_at', label: 'Ended', render: (r) => fmtTime(r.completed_at) },
      { key: 'input', label: 'Input' },
      { key: 'output', label: 'Output / error', render: (r) => h('div', { class: 'pre-wrap clip' }, r.error || r.output || '') },
    ], list, { caption: 'Runs', empty: 'Never run.' }));
    const refreshRuns = () => api('GET', `/api/workflows/${enc(w.id)}/runs`).then(showRuns).catch(() => {});
    showRuns(runs);
    return card(`Workflow "${def.name}"`,
      def.description ? h('p', null, def.description) : null,
      table([
        { key: 'name', label: 'Step' },
        { key: 'agent', label: 'Agent', render: (s) => (s.agent ? s.agent.agent_name || s.agent.agent_id : '') },
        { key: 'mode', label: 'Mode' },
        { key: 'prompt_template', label: 'Prompt', render: (s) => h('code', null, s.prompt_template || s.prompt || '') },
        { key: 'timeout_secs', label: 'Timeout', render: (s) => (s.timeout_secs ? `${s.timeout_secs} s` : '') },
        { key: 'error_mode', label: 'On error' },
      ], def.steps || [], { caption: 'Steps' }),
      h('div', { class: 'row' }, runForm,
        actionButton('Delete workflow', async () => {
          if (!await confirmDialog(`Delete workflow "${def.name}"?`, { ok: 'Delete', danger: true })) return;
          await api('DELETE', `/api/workflows/${enc(w.id)}`);
          mount(box);
          refreshList();
        }, { danger: true, what: 'Delete' })),
      out, runsBox);
  });
}

export default {
  id: 'workflows',
  title: 'Workflows',
  render(root, params) {
    const list = h('div');
    const box = h('div');
    const refresh = () => loadInto(list, async () => {
      const wfs = await api('GET', '/api/workflows');
      const want = params && params[0];
      const pick = want && wfs.find((w) => w.id === want);
      if (pick && !box.firstChild) detail(box, pick, refresh);
      return table([
        { key: 'name', label: 'Name', render: (w) => h('a', { href: `#/workflows/${w.id}` }, w.name) },
        { key: 'description', label: 'Description' },
        { key: 'steps', label: 'Steps' },
        { key: 'created_at', label: 'Created', render: (w) => fmtTime(w.created_at) },
        { key: 'open', label: '', render: (w) => actionButton('Open', () => detail(box, w, refresh), { small: true }) },
      ], wfs, { empty: 'No workflow yet.' });
    });
    const json = h('textarea', { name: 'workflow', rows: 12, spellcheck: 'false', class: 'mono' });
    json.value = EXAMPLE;
    const create = actionForm({ 'aria-label': 'New workflow' }, [
      field('Workflow (JSON)', json, 'Steps name their agent by agent_name or agent_id; {{input}} and output_var values fill the prompts.'),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create workflow'),
    ], async () => {
      let body;
      try { body = JSON.parse(json.value); } catch (e) { throw new Error(`not JSON: ${e.message}`); }
      const r = await api('POST', '/api/workflows', body);
      refresh();
      return r;
    }, { ok: 'Workflow created.', what: 'Create' });
    mount(root, pageHead('Workflows', actionButton('Refresh', refresh)), card(null, list), box,
      card('New workflow', create));
    refresh();
  },
};
