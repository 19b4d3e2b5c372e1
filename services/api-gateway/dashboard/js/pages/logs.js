// logs.js - the live log of every service and replica
// (/api/logs/stream, server-sent events) with the server's level and
// service filters, a text filter, pause and clear.

import { sse } from '../api.js';
import { h, mount, field } from '../ui.js';
import { pageHead, badge, select, qs } from './kit.js';

const MAX_LINES = 1000;
const SERVICES = ['', 'api-gateway', 'agent-runtime', 'scheduler', 'memory', 'audit', 'channels'];
const LEVEL_KIND = { ERROR: 'err', WARN: 'warn', INFO: 'ok', DEBUG: 'info' };

export default {
  id: 'logs',
  title: 'Logs',
  render(root) {
    const level = select({ name: 'level' }, [
      { value: '', label: 'Any level' }, { value: 'error', label: 'Error' }, { value: 'warn', label: 'Warn and worse' },
      { value: 'info', label: 'Info and worse' }, { value: 'debug', label: 'Debug (all)' }], '');
    const service = select({ name: 'service' }, SERVICES.map((s) => ({ value: s, label: s || 'Every service' })), '');
    const text = h('input', { type: 'search', name: 'text', placeholder: 'words' });
    const state = h('span', { class: 'muted stream-state', 'aria-live': 'polite' }, 'connecting…');
    const lines = h('ol', { class: 'log-lines', role: 'log', 'aria-label': 'Log lines', tabindex: 0 });
    const pauseBtn = h('button', { type: 'button', class: 'btn', 'aria-pressed': 'false' }, 'Pause');
    let paused = false;
    let held = [];
    let close = null;

    const matches = (li) => {
      const f = text.value.trim().toLowerCase();
      return !f || li.textContent.toLowerCase().includes(f);
    };
    const add = (l) => {
      const li = h('li', { class: 'log-line', dataset: { level: l.level || '' } },
        h('span', { class: 'log-time' }, String(l.timestamp || '').replace('T', ' ').replace(/\.\d+Z?$|Z$/, '')),
        ' ', badge(l.level || '?', LEVEL_KIND[l.level] || 'warn'),
        ' ', h('span', { class: 'log-svc' }, l.service || ''),
        l.pid ? h('span', { class: 'muted' }, `[${l.pid}]`) : null,
        ' ', h('span', { class: 'log-msg' }, l.message || ''));
      li.hidden = !matches(li);
      const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 30;
      lines.appendChild(li);
      while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
      if (atBottom) lines.scrollTop = lines.scrollHeight;
    };

    const open = () => {
      if (close) close();
      state.textContent = 'connecting…';
      close = sse(`/api/logs/stream${qs({ level: level.value, service: service.value })}`, (ev) => {
        if (ev.event !== 'log' || typeof ev.data !== 'object') return;
        if (paused) {
          held.push(ev.data);
          if (held.length > MAX_LINES) held = held.slice(-MAX_LINES);
          pauseBtn.textContent = `Resume (${held.length} new)`;
        } else {
          add(ev.data);
        }
      }, {
        onState: (s, info) => {
          state.textContent = s === 'open' ? 'live' : s === 'retry'
            ? `disconnected (${info && info.error}); retrying in ${Math.round((info && info.delay || 0) / 1000)} s`
            : 'closed';
          state.dataset.state = s;
        },
      });
    };
    level.addEventListener('change', open);
    service.addEventListener('change', open);
    text.addEventListener('input', () => { for (const li of lines.children) li.hidden = !matches(li); });
    pauseBtn.addEventListener('click', () => {
      paused = !paused;
      pauseBtn.setAttribute('aria-pressed', String(paused));
      if (!paused) {
        for (const l of held) add(l);
        held = [];
      }
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
    });
    const clearBtn = h('button', { type: 'button', class: 'btn' }, 'Clear');
    clearBtn.addEventListener('click', () => mount(lines));

    mount(root,
      pageHead('Logs', state, pauseBtn, clearBtn),
      h('div', { class: 'row filters' }, field('Level', level), field('Service', service), field('Contains', text)),
      lines);
    open();
    return () => { if (close) close(); close = null; };
  },
};
