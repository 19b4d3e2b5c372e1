// kit.js - small pieces the operator pages share (not a page: index.js
// does not list it).  Everything builds DOM with ui.js's h(); text from
// the server always goes in as text.

import { h, mount, toast, errorBox } from '../ui.js';

// The page's heading with buttons on its right.
export function pageHead(title, ...actions) {
  return h('div', { class: 'page-head row' }, h('h1', { class: 'grow' }, title), ...actions);
}

// A titled card.
export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, ...children);
}

// A button running fn(ev) once at a time: disabled meanwhile; an error is
// shown as a toast with the server's words (and passed to opts.onError);
// opts.ok is the toast after success (a string, or a function of fn's
// result).
export function actionButton(label, fn, opts = {}) {
  const btn = h('button', {
    type: opts.type || 'button',
    class: ['btn', opts.primary ? 'btn-primary' : null, opts.danger ? 'btn-danger' : null,
      opts.small ? 'btn-small' : null],
    'aria-label': opts.ariaLabel || null,
    title: opts.title || null,
    dataset: opts.dataset || null,
  }, label);
  btn.addEventListener('click', (ev) => runAction(btn, () => fn(ev), opts));
  return btn;
}

// Runs fn with btn disabled; toasts its outcome.  Returns fn's result,
// or undefined after an error.
export async function runAction(btn, fn, opts = {}) {
  if (btn) btn.disabled = true;
  try {
    const r = await fn();
    if (opts.ok) toast(typeof opts.ok === 'function' ? opts.ok(r) : opts.ok, 'ok');
    return r;
  } catch (e) {
    toast(`${opts.what || 'Failed'}: ${e.message}`, 'error');
    if (opts.onError) opts.onError(e);
    return undefined;
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
  }
}

// A form whose submit runs fn(form) like an action button (the submit
// button disabled meanwhile); opts.reset clears the form after success.
export function actionForm(attrs, children, fn, opts = {}) {
  const form = h('form', attrs, ...children);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const btn = form.querySelector('button[type="submit"]');
    runAction(btn, async () => {
      const r = await fn(form);
      if (opts.reset) form.reset();
      return r;
    }, opts);
  });
  return form;
}

// Fills el with what build() returns, "Loading…" meanwhile and the
// error if it throws.  Returns build's result (undefined on error).
export async function loadInto(el, build) {
  if (!el.firstChild) mount(el, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const node = await build();
    mount(el, node);
    return node;
  } catch (e) {
    mount(el, errorBox(e));
    return undefined;
  }
}

// Runs fn every ms until the returned stop(); a run never overlaps the
// previous one, and runs pause while the tab is hidden.
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch (e) { /* the page shows its own errors */ }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}

// A coloured badge for a status word.
const GOOD = new Set(['ok', 'up', 'running', 'connected', 'valid', 'active', 'approved',
  'completed', 'configured', 'enabled', 'ready', 'authenticated', 'true']);
const BAD = new Set(['error', 'down', 'failed', 'invalid', 'rejected', 'critical', 'disconnected',
  'unreachable', 'expired', 'false', 'missing', 'crashed']);
export function badge(text, kind) {
  const t = String(text ?? '');
  const k = kind || (GOOD.has(t.toLowerCase()) ? 'ok' : BAD.has(t.toLowerCase()) ? 'err' : 'warn');
  return h('span', { class: ['badge', `badge-${k}`] }, t || '—');
}

// A big number with a label (the overview's tiles).
export function stat(label, value, sub) {
  return h('div', { class: 'stat' },
    h('div', { class: 'stat-value' }, value === null || value === undefined ? '—' : String(value)),
    h('div', { class: 'stat-label' }, label),
    sub ? h('div', { class: 'stat-sub muted' }, sub) : null);
}

// The first 8 characters of a UUID, the whole in a title.
export function shortId(id) {
  if (!id) return '';
  return h('code', { title: id }, String(id).slice(0, 8));
}

// "3 min ago" from an ISO time.
export function ago(t) {
  if (!t) return '';
  const ms = Date.now() - new Date(t).getTime();
  if (!Number.isFinite(ms)) return String(t);
  const s = Math.round(ms / 1000);
  if (s < 0) return `in ${fmtSecs(-s)}`;
  return `${fmtSecs(s)} ago`;
}
export function fmtSecs(s) {
  const n = Math.round(Number(s) || 0);
  if (n < 60) return `${n} s`;
  if (n < 3600) return `${Math.floor(n / 60)} min`;
  if (n < 86400) return `${Math.floor(n / 3600)} h ${Math.floor((n % 3600) / 60)} min`;
  return `${Math.floor(n / 86400)} d ${Math.floor((n % 86400) / 3600)} h`;
}

// A query string from an object, leaving out empty values.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

// A <select> of options [{value, label}] or strings.
export function select(attrs, options, value) {
  return h('select', attrs, options.map((o) => {
    const opt = typeof o === 'string' ? { value: o, label: o } : o;
    return h('option', { value: opt.value, selected: String(opt.value) === String(value ?? '') }, opt.label);
  }));
}
