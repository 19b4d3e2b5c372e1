// markdown.js - a small Markdown renderer that builds DOM nodes.
//
// What an agent writes is untrusted: every piece of text becomes a text
// node (HTML in it is shown as text, never parsed), and a link is made
// only for http:// and https:// targets, opening with rel="noopener
// noreferrer".  Supported: paragraphs, # headings, fenced and indented
// code, > quotes, - * + and 1. lists, --- rules, simple | tables; inline
// `code`, **strong**, *em* / _em_, ~~strike~~, [text](url) and bare
// http(s) links, hard breaks (two trailing spaces or a backslash).

import { h } from './ui.js';

const SAFE_URL = /^https?:\/\/[^\s<>"]+$/i;

function link(href, children) {
  if (!SAFE_URL.test(href)) return null;
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, children);
}

// Inline spans of one block's text -> an array of nodes.
export function inline(text) {
  const out = [];
  let buf = '';
  const flush = () => { if (buf) { out.push(document.createTextNode(buf)); buf = ''; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    let m;
    if (c === '\\' && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!~|>]/.test(text[i + 1])) {
      buf += text[i + 1]; i += 2; continue;
    }
    if (c === '\\' && text[i + 1] === '\n') {
      flush(); out.push(h('br')); i += 2; continue;
    }
    if (c === '`' && (m = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest))) {
      flush(); out.push(h('code', null, m[2].replace(/^ (.*) $/, '$1'))); i += m[0].length; continue;
    }
    if (c === '*' && (m = /^\*\*(?=\S)([\s\S]*?\S)\*\*/.exec(rest))) {
      flush(); out.push(h('strong', null, inline(m[1]))); i += m[0].length; continue;
    }
    // Underscores only at word edges: snake_case and __init__ stay text.
    if (c === '_' && (i === 0 || /\W/.test(text[i - 1])) &&
        (m = /^__(?=\S)([\s\S]*?\S)__(?!\w)/.exec(rest))) {
      flush(); out.push(h('strong', null, inline(m[1]))); i += m[0].length; continue;
    }
    if (c === '*' && (m = /^\*(?=\S)([\s\S]*?\S)\*(?!\*)/.exec(rest))) {
      flush(); out.push(h('em', null, inline(m[1]))); i += m[0].length; continue;
    }
    if (c === '_' && (i === 0 || /\W/.test(text[i - 1])) &&
        (m = /^_(?=\S)([\s\S]*?\S)_(?!\w)/.exec(rest))) {
      flush(); out.push(h('em', null, inline(m[1]))); i += m[0].length; continue;
    }
    if (c === '~' && (m = /^~~(?=\S)([\s\S]*?\S)~~/.exec(rest))) {
      flush(); out.push(h('del', null, inline(m[1]))); i += m[0].length; continue;
    }
    if (c === '[' && (m = /^\[([^\]\n]*)\]\(\s*<?([^\s)>]*)>?(?:\s+"[^"]*")?\s*\)/.exec(rest))) {
      const a = link(m[2], inline(m[1]));
      flush();
      out.push(a || document.createTextNode(m[0]));
      i += m[0].length; continue;
    }
    if ((c === 'h' || c === 'H') && (i === 0 || /[\s(]/.test(text[i - 1])) &&
        (m = /^https?:\/\/[^\s<>"]+/i.exec(rest))) {
      let url = m[0].replace(/[.,;:!?)\]]+$/, '');
      flush(); out.push(link(url, url)); i += url.length; continue;
    }
    if (c === ' ' && (m = /^ {2,}\n/.exec(rest))) {
      flush(); out.push(h('br')); i += m[0].length; continue;
    }
    buf += c;
    i += 1;
  }
  flush();
  return out;
}

function isBlank(l) { return /^\s*$/.test(l); }
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ULIST = /^( {0,3})([-*+])\s+(.*)$/;
const OLIST = /^( {0,3})(\d{1,9})[.)]\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

function blocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (isBlank(line)) { i += 1; continue; }
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const lang = m[2];
      const body = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[i])) {
        body.push(lines[i]); i += 1;
      }
      i += 1;
      out.push(h('pre', null, h('code', { class: lang ? `lang-${lang.replace(/[^\w-]/g, '')}` : null },
        body.join('\n'))));
      continue;
    }
    if (/^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || isBlank(lines[i]))) {
        body.push(lines[i].replace(/^( {4}|\t)/, '')); i += 1;
      }
      while (body.length && isBlank(body[body.length - 1])) body.pop();
      out.push(h('pre', null, h('code', null, body.join('\n'))));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      out.push(h(`h${Math.min(6, m[1].length + 2)}`, { class: 'md-h' }, inline(m[2])));
      i += 1; continue;
    }
    if (RULE.test(line)) { out.push(h('hr')); i += 1; continue; }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && !isBlank(lines[i]) && (QUOTE.test(lines[i]) || body.length)) {
        body.push(lines[i].replace(QUOTE, '')); i += 1;
      }
      out.push(h('blockquote', null, depth < 8 ? blocks(body, depth + 1) : body.join('\n')));
      continue;
    }
    if (ULIST.test(line) || OLIST.test(line)) {
      const ordered = !ULIST.test(line);
      const re = ordered ? OLIST : ULIST;
      const start = ordered ? Number(OLIST.exec(line)[2]) : null;
      const items = [];
      let cur = null;
      while (i < lines.length) {
        const l = lines[i];
        const im = re.exec(l);
        if (im) { cur = [im[3]]; items.push(cur); i += 1; continue; }
        if (isBlank(l)) {
          if (i + 1 < lines.length && (re.test(lines[i + 1]) || /^\s{2,}\S/.test(lines[i + 1]))) {
            cur.push(''); i += 1; continue;
          }
          break;
        }
        if (/^\s{2,}\S/.test(l) || !(ULIST.test(l) || OLIST.test(l) || HEADING.test(l) || FENCE.test(l))) {
          if (/^\s{2,}/.test(l) || !isBlank(cur[cur.length - 1])) {
            cur.push(l.replace(/^\s{2,4}/, '')); i += 1; continue;
          }
        }
        break;
      }
      const lis = items.map((it) => {
        const inner = depth < 8 ? blocks(it, depth + 1) : [it.join('\n')];
        // A tight item: its one paragraph without the <p>.
        if (inner.length === 1 && inner[0].tagName === 'P') return h('li', null, [...inner[0].childNodes]);
        return h('li', null, inner);
      });
      out.push(h(ordered ? 'ol' : 'ul', { start: ordered && start !== 1 ? start : null }, lis));
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
      const head = splitRow(line);
      i += 2;
      const rows = [];
      while (i < lines.length && !isBlank(lines[i]) && lines[i].includes('|')) {
        rows.push(splitRow(lines[i])); i += 1;
      }
      out.push(h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, head.map((c) => h('th', null, inline(c))))),
        h('tbody', null, rows.map((r) => h('tr', null, head.map((_, k) => h('td', null, inline(r[k] || '')))))))));
      continue;
    }
    const para = [];
    while (i < lines.length && !isBlank(lines[i]) && !FENCE.test(lines[i]) &&
        !HEADING.test(lines[i]) && !QUOTE.test(lines[i]) && !RULE.test(lines[i]) &&
        !(para.length && (ULIST.test(lines[i]) || OLIST.test(lines[i])))) {
      para.push(lines[i]); i += 1;
    }
    if (para.length === 0) { para.push(lines[i]); i += 1; }
    out.push(h('p', null, inline(para.join('\n'))));
  }
  return out;
}

// renderMarkdown(text) -> a DocumentFragment of safe nodes.
export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const src = String(text ?? '').replace(/\r\n?/g, '\n');
  for (const n of blocks(src.split('\n'), 0)) frag.appendChild(n);
  return frag;
}
