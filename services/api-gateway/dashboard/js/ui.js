// ui.js - building the page safely: every node is made with h(), text
// always goes in as text nodes, never through innerHTML, so what an agent
// or a user wrote can never become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(el, attrs, svg) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'style' && typeof v === 'object') {
      Object.assign(el.style, v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'class' || k === 'className') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (!svg && (k === 'value' || k === 'checked' || k === 'disabled' ||
        k === 'selected' || k === 'hidden')) {
      el[k] = v;
    } else if (k === 'for') {
      el.setAttribute('for', v);
    } else {
      if (k === 'href' || k === 'src') {
        // No javascript: or other odd schemes from data.
        const s = String(v).trim().toLowerCase();
        if (!/^(https?:|#|\/|\.|blob:|data:image\/)/.test(s) && /^[a-z][a-z0-9+.-]*:/.test(s)) continue;
      }
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// h('button', {class: 'btn', onclick: fn}, 'Save') -> element.
// attrs: on<event> functions, class (string or array), style (an object:
// CSSOM, allowed by the CSP), dataset, anything else as an attribute.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs, false);
  append(el, children);
  return el;
}

// The same for SVG elements.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs, true);
  append(el, children);
  return el;
}

// Empties el and puts children in it.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;
export function uid(prefix = 'u') { idSeq += 1; return `${prefix}${idSeq}`; }

// A labelled form control: field('Name', h('input', {...})).
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label), control,
    hint ? h('small', { class: 'muted' }, hint) : null);
}

// table(columns, rows): columns are strings (a key, also the header) or
// {key, label, render(row) -> node|text, class}; rows are objects.
export function table(columns, rows, opts = {}) {
  const cols = columns.map((c) => (typeof c === 'string' ? { key: c, label: c } : c));
  const body = rows.length === 0
    ? h('tr', null, h('td', { colspan: cols.length, class: 'muted' }, opts.empty || 'Nothing yet.'))
    : rows.map((r) => h('tr', null, cols.map((c) => {
      const v = c.render ? c.render(r) : r[c.key];
      return h('td', { class: c.class }, v === null || v === undefined ? '' :
        (v instanceof Node || Array.isArray(v) ? v : String(v)));
    })));
  return h('div', { class: 'table-wrap' },
    h('table', null,
      opts.caption ? h('caption', null, opts.caption) : null,
      h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.class }, c.label ?? c.key)))),
      h('tbody', null, body)));
}

// toast(msg, kind): a short note at the corner; kind info|ok|error.
export function toast(msg, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : null },
    String(msg));
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A time: ISO text, epoch seconds or milliseconds -> local text.
export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '';
  let d;
  if (typeof t === 'number') d = new Date(t < 1e12 ? t * 1000 : t);
  else d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// US dollars: $0.0042, $1.25, $1,234.50.
export function fmtCost(usd) {
  const n = Number(usd);
  if (!Number.isFinite(n)) return '';
  if (n !== 0 && Math.abs(n) < 0.01) return `$${n.toFixed(4)}`;
  return `$${n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

// confirmDialog(message, {ok, cancel, danger}) -> Promise<boolean>.
export function confirmDialog(message, opts = {}) {
  return new Promise((resolve) => {
    const okBtn = h('button', { type: 'submit', value: 'ok', class: ['btn', opts.danger ? 'btn-danger' : 'btn-primary'] },
      opts.ok || 'OK');
    const dlg = h('dialog', { class: 'dialog', 'aria-label': opts.title || 'Confirm' },
      h('form', { method: 'dialog' },
        opts.title ? h('h2', null, opts.title) : null,
        h('p', null, message),
        h('div', { class: 'row end' },
          h('button', { type: 'submit', value: 'cancel', class: 'btn' }, opts.cancel || 'Cancel'),
          okBtn)));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    okBtn.focus();
  });
}

// Charts: points are [{label, value}]; an SVG sized by its viewBox.
function chartFrame(points, opts, draw) {
  const W = 600; const H = opts.height || 200; const pad = 28;
  const max = Math.max(1e-9, ...points.map((p) => Number(p.value) || 0));
  const fmt = opts.format || ((v) => String(Math.round(v * 100) / 100));
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': opts.label || 'chart',
  });
  svg.appendChild(s('line', { x1: pad, y1: H - pad, x2: W - 4, y2: H - pad, class: 'axis' }));
  svg.appendChild(s('text', { x: 2, y: 12, class: 'tick' }, fmt(max)));
  svg.appendChild(s('text', { x: 2, y: H - pad, class: 'tick' }, '0'));
  const n = points.length;
  const step = n ? (W - pad - 4) / n : 0;
  const y = (v) => H - pad - ((Number(v) || 0) / max) * (H - pad - 16);
  draw(svg, { W, H, pad, step, y, fmt, n });
  const every = Math.max(1, Math.ceil(n / 8));
  points.forEach((p, i) => {
    if (i % every !== 0) return;
    svg.appendChild(s('text', { x: pad + i * step + step / 2, y: H - 8, class: 'tick', 'text-anchor': 'middle' },
      String(p.label)));
  });
  return svg;
}

export function barChart(points, opts = {}) {
  return chartFrame(points, opts, (svg, g) => {
    points.forEach((p, i) => {
      const top = g.y(p.value);
      svg.appendChild(s('rect', {
        x: g.pad + i * g.step + g.step * 0.1, y: top,
        width: Math.max(1, g.step * 0.8), height: Math.max(0, g.H - g.pad - top), class: 'bar',
      }, s('title', null, `${p.label}: ${g.fmt(Number(p.value) || 0)}`)));
    });
  });
}

export function lineChart(points, opts = {}) {
  return chartFrame(points, opts, (svg, g) => {
    const xy = points.map((p, i) => [g.pad + i * g.step + g.step / 2, g.y(p.value)]);
    if (xy.length) {
      svg.appendChild(s('polyline', { points: xy.map((q) => q.join(',')).join(' '), class: 'line' }));
    }
    xy.forEach((q, i) => svg.appendChild(s('circle', { cx: q[0], cy: q[1], r: 3, class: 'dot' },
      s('title', null, `${points[i].label}: ${g.fmt(Number(points[i].value) || 0)}`))));
  });
}

// A small "loading / error / empty" helper for pages.
export function errorBox(err) {
  return h('div', { class: 'error-box', role: 'alert' },
    err && err.status ? `${err.status}: ${err.message}` : String(err && err.message ? err.message : err));
}
