// chat.js - chat with an agent over its WebSocket (/api/agents/{id}/ws).
//
// Route: #/chat/<agent id>/<session id> (both optional).  The transcript
// is the session's history (GET /api/sessions/{id}) plus what the socket
// streams: text and thinking deltas, tool cards, approvals (approve or
// reject inline), command results.  A socket that drops is reopened with
// backoff; the history is then read again and is the truth: a turn still
// running server-side (the session is "active") is waited for by reading
// the history until its answer lands, and a message that never reached
// the server (not in the history, nothing running) is sent again.  So an
// answer is shown once, and no message is lost.

import { api, wsUrl, wsProtocols } from '../api.js';
import { h, mount, field, toast, fmtCost, fmtTime, errorBox } from '../ui.js';
import { renderMarkdown } from '../markdown.js';

const BACKOFF_MIN = 500;
const BACKOFF_MAX = 15000;
const POLL_MS = 1000;
const POLL_MAX_MS = 10 * 60 * 1000;

function contentText(c) {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    return c.map((b) => {
      if (typeof b === 'string') return b;
      if (b && b.type === 'text') return b.text || '';
      if (b && b.type === 'image') return '[image]';
      return '';
    }).filter(Boolean).join('\n');
  }
  return c == null ? '' : JSON.stringify(c);
}

function short(v, n = 2000) {
  const s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return s && s.length > n ? `${s.slice(0, n)}\n… (${s.length - n} more characters)` : s || '';
}

export default {
  id: 'chat',
  title: 'Chat',
  async render(root, params) {
    let agentId = params[0] || null;
    let sessionId = params[1] || null;
    let closed = false;
    let ws = null;
    let wsGen = 0;
    let backoff = BACKOFF_MIN;
    let retryTimer = null;
    let pollTimer = null;
    let live = null;          // the assistant message being streamed
    let inflight = null;      // {content, attachments, id, base, sent}
    const outbox = [];        // messages typed while the socket is down
    let userCount = 0;        // user messages in the history shown
    let commands = [];
    let attachments = [];
    let seq = 0;
    const cards = new Map();  // tool id / approval id -> card parts

    const status = h('span', { class: 'badge', role: 'status', 'aria-live': 'polite' }, 'connecting');
    const log = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
    const agentSel = h('select', { name: 'agent' });
    const sessSel = h('select', { name: 'session' });
    const spawnBox = h('div', { class: 'card spawn', hidden: true });
    const input = h('textarea', {
      name: 'message', rows: 3, placeholder: 'Message (Enter sends, Shift+Enter for a new line, / for commands)',
      autocomplete: 'off',
    });
    const fileIn = h('input', { type: 'file', multiple: true, class: 'file-input' });
    const attachList = h('ul', { class: 'attach-list', 'aria-label': 'Attachments' });
    const cmdHint = h('ul', { class: 'cmd-hint', hidden: true, 'aria-label': 'Commands' });
    const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send');
    const form = h('form', { class: 'composer', 'aria-label': 'Send a message' },
      cmdHint,
      field('Message', input),
      h('div', { class: 'row' },
        field('Attach files', fileIn),
        attachList,
        h('span', { class: 'grow' }),
        sendBtn));

    // ---- the agent and session pickers -------------------------------------

    function go(agent, session) {
      window.location.hash = `#/chat${agent ? `/${encodeURIComponent(agent)}` : ''}${session ? `/${encodeURIComponent(session)}` : ''}`;
    }

    async function loadAgents() {
      const list = await api('GET', '/api/agents');
      const agents = Array.isArray(list) ? list : (list && (list.agents || list.items)) || [];
      mount(agentSel, h('option', { value: '' }, agents.length ? 'Choose an agent…' : 'No agents yet'),
        agents.map((a) => h('option', { value: a.id, selected: a.id === agentId }, `${a.name}${a.state && a.state !== 'Running' ? ` (${a.state})` : ''}`)));
      return agents;
    }

    async function showSpawn() {
      spawnBox.hidden = false;
      mount(spawnBox, h('p', { class: 'muted' }, 'Loading templates…'));
      let tmpl;
      try {
        tmpl = await api('GET', '/api/templates');
      } catch (e) {
        mount(spawnBox, errorBox(e));
        return;
      }
      const list = (tmpl && tmpl.templates) || [];
      const sel = h('select', { name: 'template', required: true },
        list.map((t) => h('option', { value: t.name }, `${t.name} — ${t.description || ''}`)));
      const name = h('input', { type: 'text', name: 'name', placeholder: 'optional', autocomplete: 'off' });
      const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Spawn');
      const f = h('form', { class: 'spawn-form', 'aria-label': 'Spawn an agent' },
        h('h2', null, 'Spawn an agent from a template'),
        field('Template', sel), field('Name', name, 'Leave empty for the template\'s name.'),
        h('div', { class: 'row' }, btn,
          h('button', { type: 'button', class: 'btn', onclick: () => { spawnBox.hidden = true; } }, 'Cancel')));
      f.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        btn.disabled = true;
        try {
          const body = { template: sel.value };
          if (name.value.trim()) body.name = name.value.trim();
          const r = await api('POST', '/api/agents', body);
          toast(`Spawned ${r.name}.`, 'ok');
          go(r.agent_id, null);
        } catch (e) {
          toast(`Spawn failed: ${e.message}`, 'error');
          btn.disabled = false;
        }
      });
      mount(spawnBox, f);
      sel.focus();
    }

    async function loadSessions() {
      const r = await api('GET', `/api/agents/${encodeURIComponent(agentId)}/sessions`);
      const list = (r && r.sessions) || [];
      if (!sessionId) {
        const canon = list.find((s) => s.is_canonical) || list[0];
        sessionId = canon ? canon.session_id : null;
      }
      mount(sessSel, list.map((s) => h('option', { value: s.session_id, selected: s.session_id === sessionId },
        `${s.label || s.session_id.slice(0, 8)} · ${s.message_count} msg · ${fmtTime(s.updated_at || s.created_at)}${s.is_canonical ? ' · current' : ''}`)));
      return list;
    }

    // ---- the transcript --------------------------------------------------------

    function scroll() {
      const near = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
      if (near || log.dataset.pin !== 'off') log.scrollTop = log.scrollHeight;
    }

    function bubble(role, kind) {
      const body = h('div', { class: 'msg-body' });
      const el = h('div', { class: ['msg', `msg-${role}`, kind ? `msg-${kind}` : null] },
        h('div', { class: 'msg-role' }, role === 'user' ? 'You' : role === 'assistant' ? 'Agent' : 'System'),
        body);
      log.appendChild(el);
      return { el, body };
    }

    function toolCard(t) {
      const state = h('span', { class: 'badge' }, t.is_error ? 'error' : t.result !== undefined ? 'done' : 'running');
      const inputPre = h('pre', { class: 'tool-io' }, t.input !== undefined && t.input !== null ? short(t.input) : '');
      const resultPre = h('pre', { class: 'tool-io' }, t.result !== undefined ? short(t.result) : '');
      const el = h('details', { class: ['tool-card', t.is_error ? 'tool-error' : null], 'data-tool-id': t.id || '' },
        h('summary', null, h('span', { class: 'tool-name' }, `Tool: ${t.name || t.tool || '?'}`), ' ', state),
        h('div', { class: 'tool-label' }, 'Input'), inputPre,
        h('div', { class: 'tool-label' }, 'Result'), resultPre);
      return { el, state, inputPre, resultPre };
    }

    // A user message the person wrote (not one carrying tool results).
    function isUserTurn(m) {
      if (String(m.role || '').toLowerCase() !== 'user') return false;
      if (!Array.isArray(m.content)) return true;
      return m.content.some((b) => typeof b === 'string' || (b && b.type !== 'tool_result'));
    }

    // The history: a person's messages, and each answer (the assistant
    // messages and tool results of one turn) in one bubble, its thinking,
    // tool cards with their results, then its text.
    function renderHistory(messages) {
      log.replaceChildren();
      cards.clear();
      let cur = null;
      const toolCards = new Map();
      for (const m of messages) {
        const role = String(m.role || '').toLowerCase();
        const blocks = Array.isArray(m.content) ? m.content : null;
        if (role === 'user' && isUserTurn(m)) {
          cur = null;
          const b = bubble('user');
          b.body.appendChild(h('div', { class: 'msg-text' }, contentText(m.content)));
        } else if (role === 'user') {
          for (const r of blocks || []) {
            const c = r && r.type === 'tool_result' ? toolCards.get(r.tool_use_id) : null;
            if (!c) continue;
            c.resultPre.textContent = short(contentText(r.content));
            c.state.textContent = r.is_error ? 'error' : 'done';
            c.state.className = `badge ${r.is_error ? 'badge-err' : 'badge-ok'}`;
            if (r.is_error) c.el.classList.add('tool-error');
          }
        } else if (role === 'assistant') {
          if (!cur) cur = bubble('assistant');
          for (const t of m.tools || []) cur.body.appendChild(toolCard(t).el);
          if (!blocks) {
            const text = contentText(m.content);
            if (text) cur.body.appendChild(h('div', { class: 'md' }, renderMarkdown(text)));
            continue;
          }
          for (const blk of blocks) {
            if (!blk) continue;
            if (blk.type === 'thinking' && blk.thinking) {
              cur.body.appendChild(h('details', { class: 'thinking' }, h('summary', null, 'Thinking'),
                h('div', { class: 'thinking-text' }, String(blk.thinking))));
            } else if (blk.type === 'tool_use') {
              const c = toolCard({ id: blk.id, name: blk.name, input: blk.input });
              c.state.textContent = 'no result';
              toolCards.set(blk.id, c);
              cur.body.appendChild(c.el);
            } else if (blk.type === 'text' && blk.text) {
              cur.body.appendChild(h('div', { class: 'md' }, renderMarkdown(blk.text)));
            } else if (blk.type === 'image') {
              cur.body.appendChild(h('div', { class: 'muted' }, '[image]'));
            }
          }
        } else {
          const text = contentText(m.content);
          if (!text) continue;
          cur = null;
          const b = bubble('system');
          b.body.appendChild(h('div', { class: 'msg-text' }, text));
        }
      }
      userCount = messages.filter(isUserTurn).length;
      log.scrollTop = log.scrollHeight;
    }

    async function fetchSession() {
      if (!sessionId) {
        const cur = await api('GET', `/api/agents/${encodeURIComponent(agentId)}/session`);
        sessionId = cur.session_id;
        return { messages: cur.messages || [], active: false };
      }
      return api('GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
    }

    function liveMsg() {
      if (live) return live;
      const b = bubble('assistant', 'live');
      const thinking = h('details', { class: 'thinking', hidden: true },
        h('summary', null, 'Thinking'), h('div', { class: 'thinking-text' }));
      const tools = h('div', { class: 'tools' });
      const text = h('div', { class: 'md' });
      const typing = h('div', { class: 'typing muted' }, 'working…');
      b.body.append(thinking, tools, text, typing);
      live = { ...b, thinking, tools, text, typing, raw: '', raf: 0 };
      return live;
    }

    function paintLive() {
      if (!live || live.raf) return;
      live.raf = requestAnimationFrame(() => {
        if (!live) return;
        live.raf = 0;
        live.text.replaceChildren(renderMarkdown(live.raw));
        scroll();
      });
    }

    function finishLive(final, meta) {
      const m = liveMsg();
      if (m.raf) cancelAnimationFrame(m.raf);
      m.raf = 0;
      if (final !== undefined) m.raw = final;
      m.text.replaceChildren(renderMarkdown(m.raw));
      m.typing.remove();
      m.el.classList.remove('msg-live');
      if (meta) m.body.appendChild(h('div', { class: 'msg-meta muted' }, meta));
      live = null;
      scroll();
    }

    function note(text, kind) {
      const b = bubble('system', kind);
      b.body.appendChild(h('div', { class: 'msg-text' }, text));
      scroll();
    }

    function approvalCard(f) {
      const msg = liveMsg();
      const result = h('span', { class: 'badge badge-warn' }, 'waiting for a decision');
      const approve = h('button', { type: 'button', class: 'btn btn-primary btn-small' }, 'Approve');
      const reject = h('button', { type: 'button', class: 'btn btn-danger btn-small' }, 'Reject');
      const decide = async (how) => {
        approve.disabled = true;
        reject.disabled = true;
        try {
          await api('POST', `/api/approvals/${encodeURIComponent(f.approval_id)}/${how}`, {});
        } catch (e) {
          toast(`${how === 'approve' ? 'Approve' : 'Reject'} failed: ${e.message}`, 'error');
          approve.disabled = false;
          reject.disabled = false;
        }
      };
      approve.addEventListener('click', () => decide('approve'));
      reject.addEventListener('click', () => decide('reject'));
      const el = h('div', { class: 'approval-card', role: 'group', 'aria-label': `Approval for ${f.tool_name}` },
        h('div', null, h('strong', null, `Approval needed: ${f.tool_name || 'tool'}`), ' ',
          h('span', { class: 'badge badge-err' }, String(f.risk_level || 'risk'))),
        h('div', { class: 'approval-desc' }, String(f.description || '')),
        h('div', { class: 'row' }, approve, reject, result));
      msg.tools.appendChild(el);
      cards.set(`approval:${f.approval_id}`, { el, approve, reject, result });
      scroll();
      approve.focus();
    }

    // ---- the socket --------------------------------------------------------------

    function setStatus(text, kind) {
      status.textContent = text;
      status.className = `badge ${kind ? `badge-${kind}` : ''}`;
    }

    function onFrame(f) {
      switch (f.type) {
        case 'connected':
          backoff = BACKOFF_MIN;
          setStatus('connected', 'ok');
          resync();
          break;
        case 'thinking':
          liveMsg();
          scroll();
          break;
        case 'thinking_delta': {
          const m = liveMsg();
          m.thinking.hidden = false;
          m.thinking.lastChild.appendChild(document.createTextNode(f.content || ''));
          scroll();
          break;
        }
        case 'text_delta':
          liveMsg().raw += f.content || '';
          paintLive();
          break;
        case 'tool_start': {
          const c = toolCard({ id: f.id, name: f.tool });
          cards.set(`tool:${f.id}`, c);
          liveMsg().tools.appendChild(c.el);
          scroll();
          break;
        }
        case 'tool_end': {
          const c = cards.get(`tool:${f.id}`);
          if (c && f.input !== undefined) c.inputPre.textContent = short(f.input);
          break;
        }
        case 'tool_result': {
          let c = cards.get(`tool:${f.id}`);
          if (!c) {
            c = toolCard({ id: f.id, name: f.tool });
            cards.set(`tool:${f.id}`, c);
            liveMsg().tools.appendChild(c.el);
          }
          if (f.input !== undefined) c.inputPre.textContent = short(f.input);
          c.resultPre.textContent = f.result !== undefined ? short(f.result) : '(result not shown: /verbose on shows it)';
          c.state.textContent = f.is_error ? 'error' : 'done';
          c.state.className = `badge ${f.is_error ? 'badge-err' : 'badge-ok'}`;
          if (f.is_error) c.el.classList.add('tool-error');
          scroll();
          break;
        }
        case 'phase':
          if (live) live.typing.textContent = `${f.phase || 'working'}${f.detail ? `: ${f.detail}` : ''}…`;
          break;
        case 'approval_requested':
          approvalCard(f);
          break;
        case 'approval_resolved': {
          const c = cards.get(`approval:${f.approval_id}`);
          if (c) {
            c.approve.disabled = true;
            c.reject.disabled = true;
            c.result.textContent = String(f.decision || 'resolved');
            c.result.className = `badge ${f.decision === 'approved' ? 'badge-ok' : 'badge-err'}`;
          }
          break;
        }
        case 'response':
        case 'silent_complete': {
          const bits = [];
          if (f.input_tokens || f.output_tokens) bits.push(`${f.input_tokens || 0} in / ${f.output_tokens || 0} out tokens`);
          if (f.cost_usd) bits.push(fmtCost(f.cost_usd));
          finishLive(f.type === 'response' ? contentText(f.content) : '', bits.join(' · ') || null);
          if (f.type === 'silent_complete') note('(the agent chose not to reply)');
          if (f.session_id && !sessionId) sessionId = f.session_id;
          recount();
          break;
        }
        case 'error':
          if (f.code === 'turn_in_progress' && inflight && f.message_id === inflight.id) {
            // Sent again after a reconnect while its first run goes on.
            liveMsg().typing.textContent = 'reconnected: waiting for the answer…';
            pollUntilAnswered(Date.now());
            break;
          }
          if (live) finishLive();
          note(String(f.content || 'error'), 'error');
          recount();
          break;
        case 'command_result':
          note(`/${f.command}: ${f.message}`);
          if (['new', 'reset', 'reboot'].includes(f.command)) {
            sessionId = null;
            loadSessions().then(() => go(agentId, sessionId)).catch(() => {});
          }
          if (inflight && inflight.command) turnOver();
          break;
        case 'agents_updated':
        case 'pong':
        default:
          break;
      }
    }

    function connect() {
      if (closed || !agentId) return;
      const gen = ++wsGen;
      setStatus('connecting', 'warn');
      const qs = sessionId ? `?session_id=${encodeURIComponent(sessionId)}` : '';
      let sock;
      try {
        sock = new WebSocket(wsUrl(`/api/agents/${encodeURIComponent(agentId)}/ws${qs}`), wsProtocols());
      } catch (e) {
        scheduleReconnect();
        return;
      }
      ws = sock;
      sock.addEventListener('message', (ev) => {
        if (gen !== wsGen) return;
        let f;
        try { f = JSON.parse(ev.data); } catch { return; }
        onFrame(f);
      });
      sock.addEventListener('close', () => {
        if (gen !== wsGen || closed) return;
        ws = null;
        if (live) {
          live.typing.textContent = 'connection lost: reconnecting…';
        }
        scheduleReconnect();
      });
    }

    function scheduleReconnect() {
      if (closed) return;
      const wait = Math.min(BACKOFF_MAX, backoff) * (0.8 + Math.random() * 0.4);
      setStatus(`reconnecting in ${Math.ceil(wait / 1000)} s`, 'err');
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, wait);
      backoff = Math.min(BACKOFF_MAX, backoff * 2);
    }

    function sendNow(msg) {
      const frame = msg.command
        ? { type: 'command', command: msg.command, args: msg.args || undefined, message_id: msg.id }
        : {
          type: 'message', content: msg.content, message_id: msg.id,
          // A message sent again after a reconnect runs once: the server
          // answers the repeat with the first run's answer.
          idempotency_key: msg.id,
          attachments: msg.attachments && msg.attachments.length ? msg.attachments : undefined,
        };
      ws.send(JSON.stringify(frame));
      msg.sent = true;
    }

    // A turn ended: count the person's messages the server holds (the
    // base of the next message's check after a reconnect), then go on.
    async function recount() {
      try {
        const s = await fetchSession();
        if (!closed) userCount = (s.messages || []).filter(isUserTurn).length;
      } catch {
        if (inflight && !inflight.command) userCount = inflight.base + 1;
      }
      turnOver();
    }

    function turnOver() {
      inflight = null;
      sendBtn.disabled = false;
      pump();
    }

    // Sends the next message of the outbox when nothing is running.
    function pump() {
      if (inflight || !ws || ws.readyState !== WebSocket.OPEN || outbox.length === 0) return;
      inflight = outbox.shift();
      inflight.base = userCount;
      sendNow(inflight);
    }

    // After (re)connecting: the history is the truth.
    async function resync() {
      let s;
      try {
        s = await fetchSession();
      } catch (e) {
        note(`Could not read the history: ${e.message}`, 'error');
        return;
      }
      if (closed) return;
      const msgs = s.messages || [];
      const users = msgs.filter(isUserTurn).length;
      live = null;
      renderHistory(msgs);
      if (inflight && !inflight.command && inflight.sent) {
        const arrived = users > inflight.base;
        if (arrived && !s.active) {
          turnOver();                  // over meanwhile: shown above
        } else if (arrived || s.active) {
          // Still running on the server: wait for its answer there.
          liveMsg().typing.textContent = 'reconnected: waiting for the answer…';
          pollUntilAnswered(Date.now());
        } else {
          inflight.sent = false;       // it never arrived: send it again
        }
      } else if (inflight && inflight.command) {
        inflight = null;
      }
      if (inflight && !inflight.sent) {
        const b = bubble('user');
        b.body.appendChild(h('div', { class: 'msg-text' }, inflight.content));
        inflight.base = userCount;
        sendNow(inflight);
      }
      // What was typed while the socket was down, shown again below.
      for (const m of outbox) {
        if (m.command) continue;
        const b = bubble('user', 'queued');
        b.body.appendChild(h('div', { class: 'msg-text' }, m.content));
      }
      if (!inflight) sendBtn.disabled = false;
      pump();
    }

    function pollUntilAnswered(t0) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(async () => {
        if (closed || !inflight) return;
        let s;
        try { s = await fetchSession(); } catch { s = null; }
        if (closed || !inflight) return;
        const msgs = (s && s.messages) || [];
        if (s && !s.active) {
          live = null;
          renderHistory(msgs);
          turnOver();
          return;
        }
        if (Date.now() - t0 > POLL_MAX_MS) {
          note('The answer did not arrive; reload the page to check the history.', 'error');
          turnOver();
          return;
        }
        pollUntilAnswered(t0);
      }, POLL_MS);
    }

    // ---- the composer ------------------------------------------------------------

    function showCmdHint() {
      const v = input.value;
      if (!v.startsWith('/') || v.includes(' ') || v.includes('\n')) { cmdHint.hidden = true; return; }
      const hits = commands.filter((c) => `/${c.name}`.startsWith(v)).slice(0, 12);
      cmdHint.hidden = hits.length === 0;
      mount(cmdHint, hits.map((c) => h('li', null,
        h('button', {
          type: 'button', class: 'cmd',
          onclick: () => { input.value = `/${c.name}${c.no_args ? '' : ' '}`; cmdHint.hidden = true; input.focus(); },
        }, h('code', null, c.usage || `/${c.name}`), ' ', h('span', { class: 'muted' }, c.desc || '')))));
    }

    function clientCommand(name) {
      if (name === 'help') {
        note(commands.map((c) => `${c.usage || `/${c.name}`} — ${c.desc || ''}`).join('\n'));
        return true;
      }
      if (name === 'clear') { log.replaceChildren(); return true; }
      if (name === 'agents') { go(null, null); return true; }
      if (name === 'exit') { go(null, null); return true; }
      if (name === 'info') {
        note(`Agent ${agentSel.selectedOptions[0] ? agentSel.selectedOptions[0].textContent : agentId}\nSession ${sessionId || '(new)'}`);
        return true;
      }
      return false;
    }

    function submit() {
      const text = input.value.trim();
      if (!text && attachments.length === 0) return;
      seq += 1;
      const id = `web-${Date.now().toString(36)}-${seq}-${Math.random().toString(36).slice(2, 8)}`;
      let msg;
      const cm = /^\/([a-z0-9_-]+)(?:\s+([\s\S]*))?$/i.exec(text);
      const known = cm && commands.find((c) => c.name === cm[1].toLowerCase());
      if (known && attachments.length === 0) {
        if (known.exec === 'client' && clientCommand(known.name)) {
          input.value = '';
          cmdHint.hidden = true;
          return;
        }
        msg = { id, command: known.name, args: cm[2] ? cm[2].trim() : '' };
        note(`/${known.name}${msg.args ? ` ${msg.args}` : ''}`, 'command');
      } else {
        msg = { id, content: text, attachments: attachments.map((a) => ({ file_id: a.file_id, filename: a.filename, content_type: a.content_type })) };
        const b = bubble('user');
        b.body.appendChild(h('div', { class: 'msg-text' }, text));
        if (msg.attachments.length) {
          b.body.appendChild(h('div', { class: 'muted' }, `Attached: ${msg.attachments.map((a) => a.filename).join(', ')}`));
        }
      }
      input.value = '';
      attachments = [];
      mount(attachList);
      cmdHint.hidden = true;
      scroll();
      outbox.push(msg);
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        note('Not connected: the message will be sent once the connection is back.', 'warn');
      }
      pump();
    }

    async function upload(files) {
      for (const file of files) {
        const fd = new FormData();
        fd.append('file', file, file.name);
        const item = h('li', null, `${file.name} (uploading…)`);
        attachList.appendChild(item);
        try {
          const r = await api('POST', `/api/agents/${encodeURIComponent(agentId)}/upload`, fd);
          attachments.push(r);
          mount(item, `${r.filename} `, h('button', {
            type: 'button', class: 'btn btn-small', 'aria-label': `Remove ${r.filename}`,
            onclick: () => { attachments = attachments.filter((a) => a !== r); item.remove(); },
          }, '×'));
        } catch (e) {
          item.remove();
          toast(`Upload of ${file.name} failed: ${e.message}`, 'error');
        }
      }
      fileIn.value = '';
    }

    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submit();
      } else if (ev.key === 'Escape') {
        cmdHint.hidden = true;
      }
    });
    input.addEventListener('input', showCmdHint);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
    fileIn.addEventListener('change', () => upload([...fileIn.files]));
    agentSel.addEventListener('change', () => go(agentSel.value || null, null));
    sessSel.addEventListener('change', async () => {
      try {
        await api('POST', `/api/agents/${encodeURIComponent(agentId)}/sessions/${encodeURIComponent(sessSel.value)}/switch`, {});
      } catch (e) {
        toast(`Switch failed: ${e.message}`, 'error');
      }
      go(agentId, sessSel.value);
    });
    const newSessBtn = h('button', {
      type: 'button', class: 'btn',
      onclick: async () => {
        try {
          const r = await api('POST', `/api/agents/${encodeURIComponent(agentId)}/sessions`, {});
          go(agentId, r.session_id);
        } catch (e) {
          toast(`New session failed: ${e.message}`, 'error');
        }
      },
    }, 'New session');

    // ---- layout ---------------------------------------------------------------------

    const agentBar = h('div', { class: 'chat-bar row' },
      field('Agent', agentSel),
      h('button', { type: 'button', class: 'btn', onclick: showSpawn }, 'New agent'),
      agentId ? field('Session', sessSel) : null,
      agentId ? newSessBtn : null,
      h('span', { class: 'grow' }),
      agentId ? status : null);
    mount(root, h('h1', { class: 'visually-hidden' }, 'Chat'), agentBar, spawnBox);

    let agents;
    try {
      agents = await loadAgents();
    } catch (e) {
      root.appendChild(errorBox(e));
      return undefined;
    }
    api('GET', '/api/commands').then((r) => {
      commands = ((r && r.commands) || []).filter((c) => !c.scopes || c.scopes.includes('web'));
    }).catch(() => {});

    if (!agentId) {
      root.appendChild(h('p', { class: 'muted' }, agents.length
        ? 'Choose an agent to chat with, or spawn a new one.'
        : 'There are no agents yet: spawn one from a template.'));
      if (agents.length === 0) showSpawn();
      return () => { closed = true; };
    }
    if (!agents.some((a) => a.id === agentId)) {
      root.appendChild(errorBox(`No agent ${agentId}.`));
      return () => { closed = true; };
    }
    try {
      await loadSessions();
      const s = await fetchSession();
      renderHistory(s.messages || []);
    } catch (e) {
      root.appendChild(errorBox(e));
      return () => { closed = true; };
    }
    root.append(log, form);
    root.classList.add('chat-page');
    connect();
    input.focus();

    return () => {
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(pollTimer);
      wsGen += 1;
      if (ws) ws.close(1000, 'left the page');
      ws = null;
    };
  },
};
