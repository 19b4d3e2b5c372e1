// api.js - talking to the gateway: JSON calls, server-sent events and
// WebSocket addresses.
//
// The session is the HttpOnly cookie the gateway sets at login
// (/api/auth/dashboard-login); this module only holds the session's CSRF
// token, sent as X-CSRF-Token on every call that changes something.  When
// the gateway has no dashboard login (an older build), the API key the
// user typed is held in memory only (never stored) and sent as a Bearer
// token instead.  A 401 calls the handler set by onAuthLost() (the shell
// shows the login view).

let csrfToken = null;
let bearerKey = null;
let authLost = null;

export function setCsrf(token) { csrfToken = token || null; }
export function setBearer(key) { bearerKey = key || null; }
export function hasBearer() { return bearerKey !== null; }
export function clearAuth() { csrfToken = null; bearerKey = null; }
export function onAuthLost(fn) { authLost = fn; }

function headers(method, extra) {
  const h = { Accept: 'application/json', ...extra };
  if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(method)) {
    h['X-CSRF-Token'] = csrfToken;
  }
  if (bearerKey) h.Authorization = `Bearer ${bearerKey}`;
  return h;
}

function errorText(data, res) {
  if (data && typeof data === 'object' && data.error) {
    return typeof data.error === 'string' ? data.error
      : data.error.message || JSON.stringify(data.error);
  }
  if (typeof data === 'string' && data) return data.slice(0, 300);
  return `${res.status} ${res.statusText || 'error'}`;
}

// api(method, path, body?, opts?) -> parsed JSON (or text, or null).
// body: an object (sent as JSON) or a FormData (sent as multipart).
// Throws an Error with .status, .body and the server's error text.
// opts.noAuthRedirect: a 401 is thrown, the login view is not shown.
export async function api(method, path, body, opts = {}) {
  const extra = {};
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    extra['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers: headers(method, extra), body: payload,
      credentials: 'same-origin', signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    const err = new Error(`network error: ${e.message}`);
    err.status = 0;
    throw err;
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const err = new Error(errorText(data, res));
    err.status = res.status;
    err.body = data;
    if (res.status === 401 && !opts.noAuthRedirect && authLost) {
      authLost(err.message);
    }
    throw err;
  }
  return data;
}

// sse(path, onEvent, opts?) -> close().  Server-sent events read with
// fetch (so the Bearer fallback works too, and every event name arrives):
// onEvent({event, data, id}) with data parsed as JSON when it is JSON.
// A dropped stream is reopened with backoff (1 s doubling to 30 s) and
// Last-Event-ID; opts.onState('open'|'retry'|'closed', info) reports it.
export function sse(path, onEvent, opts = {}) {
  let closed = false;
  let ctl = null;
  let lastId = null;
  let delay = 1000;
  let timer = null;

  async function run() {
    ctl = new AbortController();
    const h = headers('GET', { Accept: 'text/event-stream' });
    if (lastId !== null) h['Last-Event-ID'] = lastId;
    try {
      const res = await fetch(path, {
        headers: h, credentials: 'same-origin', signal: ctl.signal,
      });
      if (res.status === 401) {
        if (authLost) authLost('session expired');
        closed = true;
        if (opts.onState) opts.onState('closed', { status: 401 });
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      delay = 1000;
      if (opts.onState) opts.onState('open');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let ev = { event: 'message', data: [], id: null };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r?\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(buf[nl] === '\r' ? nl + 2 : nl + 1);
          if (line === '') {
            if (ev.data.length) {
              const raw = ev.data.join('\n');
              let data = raw;
              try { data = JSON.parse(raw); } catch { /* text */ }
              if (ev.id !== null) lastId = ev.id;
              onEvent({ event: ev.event, data, id: ev.id });
            }
            ev = { event: 'message', data: [], id: null };
            continue;
          }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          let val = c < 0 ? '' : line.slice(c + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') ev.event = val;
          else if (field === 'data') ev.data.push(val);
          else if (field === 'id') ev.id = val;
        }
      }
    } catch (e) {
      if (closed) return;
      if (opts.onState) opts.onState('retry', { error: e.message, delay });
    }
    if (closed) return;
    timer = setTimeout(run, delay);
    delay = Math.min(delay * 2, 30000);
  }
  run();
  return () => {
    closed = true;
    clearTimeout(timer);
    if (ctl) ctl.abort();
  };
}

// The ws:// or wss:// address of a path on this server.
export function wsUrl(path) {
  const u = new URL(path, window.location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

// The sub-protocols to open a WebSocket with: the key as
// "bearer.<key>" in the Bearer fallback; none with the cookie (the
// gateway checks it and the Origin).
export function wsProtocols() {
  return bearerKey ? [`bearer.${bearerKey}`] : [];
}
