// channels.js - chat channels: status of each, configure one (a form
// from the catalogue's fields; a secret is never typed here: the form
// names the server's environment variable that holds it), test, remove,
// reload, and the QR login code when an adapter offers one.

import { api } from '../api.js';
import { h, mount, field, table, fmtTime, confirmDialog } from '../ui.js';
import { pageHead, card, badge, actionButton, actionForm, loadInto, every } from './kit.js';

const enc = encodeURIComponent;

function stateOf(c) {
  if (!c.configured) return badge('not configured', 'warn');
  const st = c.status || {};
  return h('span', null, badge(st.state || 'unknown'), st.restarts ? ` ${st.restarts} restarts` : '',
    st.last_error ? h('div', { class: 'muted' }, st.last_error) : null);
}

// The QR login view: a data: image when the adapter sent one, else the
// code's text or its page's link.
function qrView(q) {
  if (!q || q.available === false) {
    return h('p', { class: 'muted' }, (q && (q.message || q.help)) || 'This channel offers no QR login now.');
  }
  const img = !q.connected && q.qr_data_url && /^data:image\//.test(q.qr_data_url)
    ? h('img', { class: 'qr', src: q.qr_data_url, alt: 'QR code to scan with the phone', width: 240, height: 240 }) : null;
  return h('div', { class: 'qr-box' },
    h('p', null, 'Login: ', badge(q.connected ? 'connected' : q.status || 'pending'),
      q.expires_at ? ` · expires ${fmtTime(q.expires_at)}` : '', q.message ? ` · ${q.message}` : ''),
    img,
    !img && !q.connected && q.qr_code ? h('pre', { class: 'break' }, q.qr_code) : null,
    !img && !q.connected && q.qr_url && /^https?:/.test(q.qr_url) ? h('a', { href: q.qr_url, rel: 'noopener noreferrer', target: '_blank' }, 'Open the code\'s page') : null);
}

export default {
  id: 'channels',
  title: 'Channels',
  render(root, params) {
    const list = h('div');
    const panel = h('div');
    let stopQr = null;
    let agents = [];

    // The QR login.  WhatsApp's routes: start answers the code (it starts
    // nothing: the adapter logs in as it starts), status the login's state
    // (asked every 3 s; the code is asked again while there is none yet,
    // and by the button after it expired).  Another channel: its cached
    // QR events as sent.
    const openQr = (c, box) => {
      if (stopQr) stopQr();
      const wa = c.channel_type === 'whatsapp';
      const sid = `session_id=${enc(c.name)}`;
      let code = null;
      const getCode = async () => {
        const r = await api('POST', `/api/channels/whatsapp/qr/start?${sid}`, {});
        code = r && (r.qr_data_url || r.qr_code || r.qr_url) ? r : null;
        return r;
      };
      const fetchQr = async () => {
        if (!wa) {
          const q = await api('GET', `/api/channels/${enc(c.name)}/qr`);
          return { available: true, ...q, qr_data_url: /^data:image\//.test(q.qr_url || '') ? q.qr_url : null };
        }
        const st = code ? await api('GET', `/api/channels/whatsapp/qr/status?${sid}`) : await getCode();
        return code && !st.connected && !st.expired
          ? { ...st, qr_data_url: code.qr_data_url, qr_code: code.qr_code, qr_url: code.qr_url, expires_at: code.expires_at }
          : st;
      };
      const again = wa ? actionButton('Get a new code', async () => { code = null; await draw(); }, { small: true }) : null;
      const draw = () => loadInto(box, async () => h('div', null, qrView(await fetchQr()), again));
      draw();
      stopQr = every(3000, () => (box.contains(document.activeElement) ? null : draw()));
    };

    const configure = (c) => {
      if (stopQr) { stopQr(); stopQr = null; }
      const inputs = [];
      const controls = (c.fields || []).map((f) => {
        const secret = f.type === 'secret';
        const inp = h('input', {
          name: f.key, autocomplete: 'off', spellcheck: 'false',
          value: secret ? '' : ((c.env || {})[f.key] || ''),
          placeholder: secret ? 'NAME_OF_THE_SERVER_VARIABLE' : '',
          pattern: secret ? '[A-Za-z_][A-Za-z0-9_]*' : null,
        });
        inputs.push({ f, inp, secret });
        return field(`${f.label}${f.required ? ' *' : ''}`, inp,
          secret ? 'A secret: the name of the environment variable of the channels service that holds it.' : null);
      });
      const agentSel = h('select', { name: 'agent_name' }, h('option', { value: '' }, '(the default agent)'),
        agents.map((a) => h('option', { value: a.name, selected: c.agent === a.name }, a.name)));
      const form = actionForm({ 'aria-label': `Configure ${c.name}` }, [
        field('Agent', agentSel), ...controls,
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save and reload')),
      ], async () => {
        const env = {};
        const envFrom = {};
        for (const { f, inp, secret } of inputs) {
          const v = inp.value.trim();
          if (!v) continue;
          if (secret) envFrom[f.key] = v; else env[f.key] = v;
        }
        const body = { env };
        if (Object.keys(envFrom).length) body.env_from = envFrom;
        if (agentSel.value) body.agent_name = agentSel.value;
        const r = await api('POST', `/api/channels/${enc(c.name)}/configure`, body);
        await refresh();
        return r;
      }, { ok: (r) => `${c.name}: ${r.status}.`, what: 'Configure' });
      const qrBox = h('div', { 'aria-live': 'polite' });
      mount(panel, card(`Channel ${c.display_name || c.name}`,
        h('p', null, stateOf(c), c.adapter_installed ? '' : h('span', { class: 'muted' }, ' · its adapter is not installed on this host')),
        form,
        h('div', { class: 'row' },
          actionButton('Test', () => api('POST', `/api/channels/${enc(c.name)}/test`, {}),
            { ok: `${c.name}: the adapter started and said ready.`, what: `Test of ${c.name}` }),
          actionButton('Show QR login', () => openQr(c, qrBox)),
          c.configured ? actionButton('Remove', async () => {
            if (!await confirmDialog(`Remove channel ${c.name} from the configuration?`, { ok: 'Remove', danger: true })) return;
            await api('DELETE', `/api/channels/${enc(c.name)}/configure`);
            mount(panel);
            await refresh();
          }, { danger: true, ok: `${c.name} removed.`, what: 'Remove' }) : null),
        qrBox));
      if (c.channel_type === 'whatsapp' && c.configured) openQr(c, qrBox);
      panel.scrollIntoView({ block: 'start' });
      const first = panel.querySelector('select, input');
      if (first) first.focus();
    };

    const refresh = () => loadInto(list, async () => {
      const [r, ag] = await Promise.all([api('GET', '/api/channels'), api('GET', '/api/agents').catch(() => [])]);
      agents = ag;
      const rows = (r.channels || []).slice().sort((a, b) => (b.configured - a.configured) || a.name.localeCompare(b.name));
      const want = params && params[0];
      if (want && !panel.firstChild) {
        const c = rows.find((x) => x.name === want);
        if (c) configure(c);
      }
      return table([
        { key: 'name', label: 'Channel', render: (c) => h('span', null, c.display_name || c.name, ' ', h('code', null, c.name)) },
        { key: 'state', label: 'State', render: stateOf },
        { key: 'agent', label: 'Agent' },
        { key: 'adapter_installed', label: 'Adapter', render: (c) => badge(c.adapter_installed ? 'installed' : 'absent', c.adapter_installed ? 'ok' : 'warn') },
        { key: 'cfg', label: '', render: (c) => actionButton(c.configured ? 'Open' : 'Configure', () => configure(c), { small: true, ariaLabel: `Configure ${c.name}` }) },
      ], rows, { empty: 'No channel.' });
    });

    mount(root,
      pageHead('Channels',
        actionButton('Reload config', async () => { const r = await api('POST', '/api/channels/reload', {}); await refresh(); return r; },
          { ok: (r) => `Reloaded: ${['added', 'changed', 'removed'].map((k) => `${(r[k] || []).length} ${k}`).join(', ')}.`, what: 'Reload' }),
        actionButton('Refresh', refresh)),
      panel, card(null, list));
    refresh();
    return () => { if (stopQr) stopQr(); };
  },
};
