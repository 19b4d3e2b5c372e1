// providers.js - LLM providers and the model catalog: each provider's
// key status (set a key, remove it, test it, set its base URL) and the
// models.  A key goes from a password field straight to the API and the
// field is cleared: nothing here ever shows a key, and the API never
// returns one.

import { api } from '../api.js';
import { h, mount, field, table, fmtCost } from '../ui.js';
import { pageHead, card, badge, actionButton, actionForm, loadInto, select, qs } from './kit.js';

const enc = encodeURIComponent;
const AUTH_KIND = { configured: 'ok', no_key_needed: 'ok', missing: 'warn', invalid: 'err' };

export default {
  id: 'providers',
  title: 'Providers & models',
  render(root) {
    const list = h('div');
    const models = h('div');
    const only = h('input', { type: 'checkbox', name: 'configured_only' });
    const pfilter = h('input', { type: 'search', name: 'provider_filter', placeholder: 'name' });
    let providers = [];

    const provSel = h('select', { name: 'provider', required: true });
    const key = h('input', {
      type: 'password', name: 'api_key', required: true, autocomplete: 'off', spellcheck: 'false',
      placeholder: 'paste the key',
    });
    const keyForm = actionForm({ class: 'row key-form', 'aria-label': 'Set a provider key' }, [
      field('Provider', provSel), field('API key', key, 'Stored sealed on the server; never shown again.'),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Set key'),
    ], async () => {
      const name = provSel.value;
      const value = key.value;
      key.value = '';    // at once: the key stays on the page no longer than the request
      const r = await api('POST', `/api/providers/${enc(name)}/key`, { api_key: value });
      await refresh();
      return r;
    }, { ok: (r) => `Key set for ${r.provider || 'the provider'}.`, what: 'Key', onError: () => { key.value = ''; } });

    const url = h('input', { type: 'url', name: 'base_url', placeholder: 'an http(s) URL' });
    const urlSel = h('select', { name: 'provider' });
    const urlForm = actionForm({ class: 'row', 'aria-label': 'Set a provider base URL' }, [
      field('Provider', urlSel), field('Base URL', url),
      h('button', { type: 'submit', class: 'btn' }, 'Set URL'),
    ], async () => {
      await api('PUT', `/api/providers/${enc(urlSel.value)}/url`, { base_url: url.value.trim() });
      url.value = '';
      await refresh();
    }, { ok: 'Base URL set.', what: 'URL' });

    const draw = () => {
      const f = pfilter.value.trim().toLowerCase();
      const rows = providers.filter((p) => (!only.checked || p.auth_status === 'configured') &&
        (!f || p.name.includes(f) || String(p.display_name).toLowerCase().includes(f)));
      return table([
        { key: 'display_name', label: 'Provider', render: (p) => h('span', null, p.display_name, ' ', h('code', null, p.name)) },
        { key: 'auth_status', label: 'Key', render: (p) => badge(p.auth_status, AUTH_KIND[p.auth_status]) },
        { key: 'key_source', label: 'From', render: (p) => p.key_source || (p.env_var ? h('code', null, p.env_var) : '') },
        { key: 'model_count', label: 'Models' },
        { key: 'base_url', label: 'Base URL', render: (p) => h('span', { class: 'break' }, p.base_url || '') },
        {
          key: 'actions', label: 'Actions', render: (p) => h('div', { class: 'row' },
            actionButton('Test', () => api('POST', `/api/providers/${enc(p.name)}/test`, {}),
              { small: true, ok: (r) => `${p.name}: ${r.status}${r.latency_ms != null ? ` in ${r.latency_ms} ms` : ''}.`, what: `Test of ${p.name}` }),
            p.key_source && p.key_source !== 'env' && p.auth_status === 'configured'
              ? actionButton('Remove key', async () => { await api('DELETE', `/api/providers/${enc(p.name)}/key`); await refresh(); },
                { small: true, danger: true, ok: `Key of ${p.name} removed.`, what: 'Remove' })
              : null),
        },
      ], rows, { empty: 'No provider matches.' });
    };
    const refresh = () => loadInto(list, async () => {
      const r = await api('GET', '/api/providers');
      providers = r.providers || [];
      const keep = provSel.value;
      const opts = providers.map((p) => ({ value: p.name, label: `${p.display_name} (${p.name})` }));
      mount(provSel, Array.from(select({}, opts, keep).children));
      mount(urlSel, Array.from(select({}, opts, urlSel.value).children));
      if (keep) provSel.value = keep;
      return draw();
    });
    const redraw = () => mount(list, draw());
    only.addEventListener('change', redraw);
    pfilter.addEventListener('input', redraw);

    // Models.
    const mfilter = h('input', { type: 'search', name: 'model_filter', placeholder: 'id, name or provider' });
    const avail = h('input', { type: 'checkbox', name: 'available' });
    let catalog = [];
    const drawModels = () => {
      const f = mfilter.value.trim().toLowerCase();
      const rows = catalog.filter((m) => (!avail.checked || m.available) &&
        (!f || [m.id, m.display_name, m.provider].some((x) => String(x || '').toLowerCase().includes(f))));
      mount(models, table([
        { key: 'id', label: 'Model', render: (m) => h('span', null, h('code', null, m.id), m.display_name ? ` ${m.display_name}` : '') },
        { key: 'provider', label: 'Provider' },
        { key: 'tier', label: 'Tier' },
        { key: 'context_window', label: 'Context', render: (m) => Number(m.context_window || 0).toLocaleString() },
        { key: 'cost', label: 'Cost per 1M in / out', render: (m) => `${fmtCost(m.input_cost_per_1m)} / ${fmtCost(m.output_cost_per_1m)}` },
        { key: 'caps', label: 'Can', render: (m) => [m.supports_tools ? 'tools' : null, m.supports_vision ? 'vision' : null, m.supports_thinking ? 'thinking' : null].filter(Boolean).join(', ') },
        { key: 'available', label: 'Available', render: (m) => badge(m.available ? 'yes' : 'no', m.available ? 'ok' : 'warn') },
      ], rows.slice(0, 200), { caption: `${rows.length} models${rows.length > 200 ? ' (the first 200 shown)' : ''}`, empty: 'No model matches.' }));
    };
    const loadModels = () => loadInto(models, async () => {
      const r = await api('GET', '/api/models');
      catalog = r.models || [];
      drawModels();
      return models.firstChild;
    });
    mfilter.addEventListener('input', drawModels);
    avail.addEventListener('change', drawModels);

    mount(root,
      pageHead('Providers & models', actionButton('Refresh', () => { refresh(); loadModels(); })),
      card('Set a key', keyForm), card('Base URL', urlForm),
      card('Providers', h('div', { class: 'row' }, field('Filter', pfilter),
        h('label', { class: 'check' }, only, ' with a key only')), list),
      card('Models', h('div', { class: 'row' }, field('Filter', mfilter),
        h('label', { class: 'check' }, avail, ' available only')), models));
    refresh();
    loadModels();
  },
};
