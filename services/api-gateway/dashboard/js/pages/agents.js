// agents.js - the agents: list, spawn (from a template or a TOML
// manifest), and for one agent (#/agents/<id>): edit, model, mode, stop
// its turn, suspend/resume, delete.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import {
  pageHead, card, badge, actionButton, actionForm, loadInto, select, shortId,
} from './kit.js';

const enc = encodeURIComponent;

async function suspend(a, on) {
  const r = await api('POST', `/api/agents/bulk/${on ? 'stop' : 'start'}`, { agent_ids: [a.id] });
  const res = (r.results || [])[0];
  if (res && res.success === false) throw new Error(res.error || res.status);
  return r;
}

async function remove(a) {
  if (!await confirmDialog(`Delete agent "${a.name}"? Its sessions go with it.`,
    { ok: 'Delete', danger: true, title: 'Delete agent' })) return false;
  await api('DELETE', `/api/agents/${enc(a.id)}`);
  return true;
}

function listView(root) {
  const list = h('div');
  const refresh = () => loadInto(list, async () => {
    const agents = await api('GET', '/api/agents');
    return table([
      { key: 'name', label: 'Name', render: (a) => h('a', { href: `#/agents/${a.id}` }, a.name) },
      { key: 'id', label: 'Id', render: (a) => shortId(a.id) },
      { key: 'state', label: 'State', render: (a) => badge(a.state) },
      { key: 'model', label: 'Model', render: (a) => `${a.model_provider}/${a.model_name}` },
      { key: 'mode', label: 'Mode' },
      { key: 'last_active', label: 'Last active', render: (a) => fmtTime(a.last_active) },
      {
        key: 'actions', label: 'Actions', render: (a) => h('div', { class: 'row' },
          h('a', { class: 'btn btn-small', href: `#/chat/${a.id}` }, 'Chat'),
          a.state === 'Suspended'
            ? actionButton('Resume', async () => { await suspend(a, false); await refresh(); },
              { small: true, ok: `Resumed ${a.name}.` })
            : actionButton('Suspend', async () => { await suspend(a, true); await refresh(); },
              { small: true, ok: `Suspended ${a.name}.` }),
          actionButton('Delete', async () => { if (await remove(a)) await refresh(); },
            { small: true, danger: true, ariaLabel: `Delete ${a.name}`, dataset: { agent: a.name } })),
      },
    ], agents, { empty: 'No agent yet: spawn one below.' });
  });

  // Spawn from a template.
  const tplSel = h('select', { name: 'template', required: true });
  const tplName = h('input', { name: 'name', placeholder: 'the template\'s name', autocomplete: 'off' });
  const tplDesc = h('p', { class: 'muted' });
  const templates = [];
  api('GET', '/api/templates').then((r) => {
    templates.push(...(r.templates || []));
    mount(tplSel, templates.map((t) => h('option', { value: t.name }, t.name)));
    tplSel.dispatchEvent(new Event('change'));
  }).catch((e) => mount(tplDesc, `Templates: ${e.message}`));
  tplSel.addEventListener('change', () => {
    const t = templates.find((x) => x.name === tplSel.value);
    tplDesc.textContent = t ? t.description : '';
  });
  const fromTemplate = actionForm({ class: 'spawn-template', 'aria-label': 'Spawn from a template' }, [
    field('Template', tplSel), tplDesc, field('Name (optional)', tplName),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Spawn'),
  ], async () => {
    const body = { template: tplSel.value };
    if (tplName.value.trim()) body.name = tplName.value.trim();
    const r = await api('POST', '/api/agents', body);
    refresh();
    return r;
  }, { ok: (r) => `Spawned ${r.name}.`, what: 'Spawn', reset: false });

  // Spawn from a manifest.
  const toml = h('textarea', {
    name: 'manifest_toml', rows: 10, spellcheck: 'false', class: 'mono', required: true,
    placeholder: 'name = "my-agent"\n\n[model]\nprovider = "openai"\nmodel = "gpt-5-mini"',
  });
  const fromToml = actionForm({ class: 'spawn-toml', 'aria-label': 'Spawn from a manifest' }, [
    field('Manifest (agent.toml)', toml),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Spawn from TOML'),
  ], async () => {
    const r = await api('POST', '/api/agents', { manifest_toml: toml.value });
    toml.value = '';
    refresh();
    return r;
  }, { ok: (r) => `Spawned ${r.name}.`, what: 'Spawn' });

  mount(root,
    pageHead('Agents', actionButton('Refresh', refresh)),
    card(null, list),
    h('div', { class: 'grid2' },
      card('Spawn from a template', fromTemplate),
      card('Spawn from a manifest', fromToml)));
  refresh();
}

function detailView(root, id) {
  const body = h('div');
  mount(root, pageHead('Agent', h('a', { class: 'btn', href: '#/agents' }, 'All agents')), body);
  const refresh = () => loadInto(body, async () => {
    const a = await api('GET', `/api/agents/${enc(id)}`);
    root.querySelector('h1').textContent = `Agent ${a.name}`;

    const facts = h('dl', { class: 'facts' }, [
      ['Id', a.id], ['State', badge(a.state)], ['Mode', a.mode],
      ['Model', `${a.model.provider}/${a.model.model}`], ['Session', a.session_id],
      ['Created', fmtTime(a.created_at)], ['Last active', fmtTime(a.last_active)],
      ['Schedule', a.schedule], ['Tools', (a.capabilities && a.capabilities.tools || []).join(', ') || 'none'],
    ].map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));

    const name = h('input', { name: 'name', value: a.name, required: true });
    const desc = h('input', { name: 'description', value: a.description || '' });
    const tags = h('input', { name: 'tags', value: (a.tags || []).join(', ') });
    const prompt = h('textarea', { name: 'system_prompt', rows: 6 });
    prompt.value = a.system_prompt || '';
    const edit = actionForm({ 'aria-label': 'Edit agent' }, [
      field('Name', name), field('Description', desc), field('Tags (comma separated)', tags),
      field('System prompt', prompt),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'),
    ], async () => {
      await api('PATCH', `/api/agents/${enc(id)}`, {
        name: name.value.trim(), description: desc.value, system_prompt: prompt.value,
        tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
      });
      await refresh();
    }, { ok: 'Saved.', what: 'Save' });

    const models = h('datalist', { id: 'agent-models' });
    api('GET', '/api/models').then((r) => mount(models, (r.models || [])
      .map((m) => h('option', { value: m.id }, `${m.provider}: ${m.display_name || m.id}`))))
      .catch(() => {});
    const model = h('input', { name: 'model', value: a.model.model, list: 'agent-models', required: true, autocomplete: 'off' });
    const provider = h('input', { name: 'provider', value: '', placeholder: `from the catalog (now ${a.model.provider})` });
    const modelForm = actionForm({ 'aria-label': 'Change model' }, [
      field('Model', model), models, field('Provider (optional)', provider),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change model'),
    ], async () => {
      const b = { model: model.value.trim() };
      if (provider.value.trim()) b.provider = provider.value.trim();
      const r = await api('PUT', `/api/agents/${enc(id)}/model`, b);
      await refresh();
      return r;
    }, { ok: (r) => `Model: ${r.provider}/${r.model}.`, what: 'Model' });

    const mode = select({ name: 'mode' }, ['observe', 'assist', 'full'], a.mode);
    const modeForm = actionForm({ class: 'row', 'aria-label': 'Tool mode' }, [
      field('Tool mode', mode),
      h('button', { type: 'submit', class: 'btn' }, 'Set mode'),
    ], async () => { await api('PUT', `/api/agents/${enc(id)}/mode`, { mode: mode.value }); await refresh(); },
    { ok: 'Mode set.', what: 'Mode' });

    const actions = h('div', { class: 'row' },
      h('a', { class: 'btn', href: `#/chat/${a.id}` }, 'Chat'),
      actionButton('Stop turn', () => api('POST', `/api/agents/${enc(id)}/stop`),
        { ok: 'Stop requested.', what: 'Stop', title: 'Stop the turn it is running' }),
      a.state === 'Suspended'
        ? actionButton('Resume', async () => { await suspend(a, false); await refresh(); }, { ok: 'Resumed.' })
        : actionButton('Suspend', async () => { await suspend(a, true); await refresh(); }, { ok: 'Suspended.' }),
      actionButton('Delete', async () => {
        if (await remove(a)) window.location.hash = '#/agents';
      }, { danger: true, ok: null, what: 'Delete' }));

    return h('div', null,
      card(null, actions, facts),
      h('div', { class: 'grid2' }, card('Edit', edit), h('div', null, card('Model', modelForm), card('Mode', modeForm))));
  });
  refresh();
}

export default {
  id: 'agents',
  title: 'Agents',
  render(root, params) {
    if (params && params[0]) detailView(root, params[0]);
    else listView(root);
  },
};
