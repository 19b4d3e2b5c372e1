// config.js - the configuration: every key of config.toml's table by
// section, its value as running, what a change takes (hot or restart),
// and set one (POST /api/config/set, typed by the schema).  Secrets are
// never shown and cannot be set here.

import { api } from '../api.js';
import { h, mount, table } from '../ui.js';
import { pageHead, card, badge, actionButton, loadInto, select } from './kit.js';

function editor(path, prop, value) {
  const label = `New value of ${path}`;
  if (Array.isArray(prop.enum)) return select({ name: path, 'aria-label': label }, prop.enum, value);
  if (prop.type === 'boolean') return select({ name: path, 'aria-label': label }, ['true', 'false'], String(value));
  if (prop.type === 'integer' || prop.type === 'number') {
    return h('input', {
      type: 'number', name: path, 'aria-label': label, value: value ?? '', min: prop.minimum, max: prop.maximum,
      step: prop.type === 'integer' ? 1 : 'any', class: 'num',
    });
  }
  return h('input', { type: 'text', name: path, 'aria-label': label, value: value ?? '', spellcheck: 'false' });
}

function typed(prop, raw) {
  if (prop.type === 'boolean') return raw === 'true';
  if (prop.type === 'integer' || prop.type === 'number') {
    if (raw.trim() === '' || !Number.isFinite(Number(raw))) throw new Error('not a number');
    return Number(raw);
  }
  return raw;
}

export default {
  id: 'config',
  title: 'Config',
  render(root) {
    const body = h('div');
    const file = h('div');
    const refresh = () => loadInto(body, async () => {
      const [cfg, schema] = await Promise.all([api('GET', '/api/config'), api('GET', '/api/config/schema')]);
      const nonWritable = new Set(schema['x-non-writable'] || []);
      const props = schema.properties || {};
      const head = h('div', { class: 'row' },
        h('span', null, `Config version ${cfg.config_version ?? '—'}`),
        cfg.config_file ? h('span', { class: 'muted' }, ` · ${cfg.config_file}`) : null,
        h('span', null, ' · API key: ', badge(cfg.api_key_set ? 'set' : 'not set', cfg.api_key_set ? 'ok' : 'warn')));
      const warnings = (cfg.config_warnings || []).length
        ? h('div', { class: 'error-box' }, 'Warnings: ', cfg.config_warnings.join('; ')) : null;
      const sections = (schema['x-sections'] || []).filter((s) => (s.fields || []).length).map((s) => {
        const rows = s.fields.map((f) => {
          const path = s.root_level ? f : `${s.key}.${f}`;
          const prop = (s.root_level ? props[f] : ((props[s.key] || {}).properties || {})[f]) || {};
          return { path, prop, value: cfg[path], ro: nonWritable.has(`/${path.replace(/\./g, '/')}`) || prop['x-secret'] };
        });
        return card(s.title, table([
          { key: 'path', label: 'Key', render: (r) => h('code', null, r.path) },
          {
            key: 'value', label: 'Value', render: (r) => {
              if (r.prop['x-secret']) return h('span', { class: 'muted' }, 'secret, not shown');
              if (r.ro) return h('code', { class: 'break' }, String(r.value ?? ''));
              const ed = editor(r.path, r.prop, r.value);
              const save = actionButton('Set', async () => {
                const v = typed(r.prop, ed.value);
                const res = await api('POST', '/api/config/set', { path: r.path, value: v });
                await refresh();
                return res;
              }, {
                small: true, what: `Set ${r.path}`, ariaLabel: `Set ${r.path}`,
                ok: (res) => `${r.path} set${res && res.restart_required ? ' (takes a restart)' : ''}.`,
              });
              return h('div', { class: 'row' }, ed, save);
            },
          },
          { key: 'reload', label: 'Takes', render: (r) => (r.prop['x-hot-reload'] ? badge('hot', 'ok') : badge('restart', 'warn')) },
          { key: 'desc', label: 'About', render: (r) => h('span', { class: 'muted' }, r.prop.description || '') },
        ], rows));
      });
      return [head, warnings, ...sections];
    });
    mount(root,
      pageHead('Config',
        actionButton('Show config.toml', () => loadInto(file, async () => {
          const t = await api('GET', '/api/config/export');
          return card('config.toml (secrets left out)', h('pre', { class: 'config-file' }, typeof t === 'string' ? t : JSON.stringify(t, null, 2)));
        })),
        actionButton('Reload from file', async () => { const r = await api('POST', '/api/config/reload', {}); await refresh(); return r; },
          { ok: 'Reloaded.', what: 'Reload' }),
        actionButton('Refresh', refresh)),
      file, body);
    refresh();
  },
};
