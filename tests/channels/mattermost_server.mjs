#!/usr/bin/env node
// mattermost_server.mjs - the Mattermost peer of channel-mattermost's
// tests: the REST API v4 calls the adapter makes and the WebSocket API
// (on `ws` from tests/e2e's node_modules), on 127.0.0.1, as Mattermost
// documents and its server behaves (api.mattermost.com; the server's
// web_conn.go and the webapp's websocket client):
//
//   - GET /api/v4/users/me: the bot's user to "Authorization: Bearer
//     <token>", else 401 {id, message: "Invalid or expired session,
//     please login again.", status_code: 401};
//   - POST /api/v4/posts {channel_id, message, root_id?}: 201 with the
//     post (a message over 16383 characters is 400), and the post's
//     `posted` event to the WebSocket as Mattermost echoes it (the bot's
//     own post: the adapter must skip it);
//   - POST /api/v4/reactions {user_id, post_id, emoji_name}: 200, and
//     DELETE /api/v4/users/{uid}/posts/{pid}/reactions/{name}: 200;
//   - the WebSocket /api/v4/websocket, as the server's api4/websocket.go,
//     platform/hub.go and web_conn.go do it: an upgrade with
//     "Authorization: Bearer <token>" is authenticated at once; with
//     ?connection_id=&sequence_number= of a connection it knows, whose
//     dead queue still holds that seq, it is that connection again: the
//     events from sequence_number on are sent (replayed) and no `hello`;
//     else a new connection (a new id) and `hello` {connection_id}, seq
//     0.  Its authentication_challenge is then ignored (no answer).  An
//     upgrade without the header is a new connection whatever its query
//     (no session to look the id up with): its
//     authentication_challenge {seq, action, data: {token}} is answered
//     {status: "OK", seq_reply} then `hello`, or {status: "FAIL",
//     seq_reply, error}.  Every event numbered by seq from 0 per
//     connection id; the `ping` action answered {status: "OK",
//     seq_reply, data: {text: "pong"}}; user_typing answered OK.  Events
//     meanwhile are kept for the connection id while its socket is gone
//     (the dead queue, 128 events).
//
// Control (not Mattermost's):
//   POST /__say {channel_id, channel_type (D, O, P, G), user_id,
//     username, message, root_id?, mentions?: [ids], channel_name?,
//     team_id?} -> a `posted` event to the newest connection; {id, seq}.
//   POST /__fault {kind, ...}: "drop" (the TCP connection cut, no close
//     frame), "close" {code, reason}, "gap" (the next event not sent on
//     the socket but kept for a resume), "noping" {count} (the next count
//     ping actions not answered), "forget" (every connection id
//     forgotten: the next resume is a new connection), "ping" {data} (a
//     protocol ping; its pong recorded), "auth_fail" {count} (the next
//     count upgrades' Authorization ignored and their challenges answered
//     FAIL), "no_header" {count} (the next count upgrades' Authorization
//     ignored, as a proxy that drops it: the challenge authenticates),
//     "refuse_upgrade" {status,
//     count}, "rest" {match, status, count, retry_after?, reset?,
//     close?} (the next count REST calls whose "METHOD path" contains
//     match answered status; a 429 with X-Ratelimit-Reset: reset and,
//     when given, Retry-After; close: cut without an answer).
//   GET /__calls: every REST call {n, method, path, body, auth, t}.
//   GET /__ws: every WebSocket event {n, t, conn, what, ...}: what is
//     connect {query, auth}, auth {ok}, registered {connection_id,
//     resumed, from}, hello {connection_id, seq},
//     action {action, seq, data}, sent {event, seq}, closed {code}, pong
//     {data}, refused {status}.
//
// usage: mattermost_server.mjs [--port N] [--token T]
// Prints {"port": N, "bot_id": ID, "bot_username": NAME} once
// listening; runs until SIGTERM.
import http from 'node:http';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const TOKEN = opt('--token', 'test-token');
const MAX_RUNES = 16383;
const BOT = { id: 'b0tb0tb0tb0tb0tb0tb0tb0t01', username: 'fangbot',
  is_bot: true, first_name: '', last_name: '', roles: 'system_user' };

const calls = [];
const wsrec = [];
let faults = [];
let wsconns = 0;
const conns = new Map();   // connection_id -> {id, seq, events, ws}
let newest = null;
let gapNext = 0;
let noping = 0;
let refuseUpgrade = null;
let authFail = 0;
let noHeader = 0;

const t0 = Date.now();
const now = () => Date.now() - t0;
const record = (what, ws, extra = {}) =>
  wsrec.push({ n: wsrec.length + 1, t: now(), conn: ws ? ws.connNo : 0,
    what, ...extra });
// Mattermost's ids: 26 of [a-z0-9].
const newId = () => {
  const a = 'abcdefghijkmnopqrstuvwxyz13456789';
  let s = '';
  for (const b of crypto.randomBytes(26)) s += a[b % a.length];
  return s;
};
const idOk = (s) => typeof s === 'string' && /^[a-z0-9]{26}$/.test(s);

function json(res, status, obj, headers = {}) {
  const b = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { ...(b ? { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(b) } : { 'Content-Length': 0 }),
  ...headers });
  res.end(b);
}

function appErr(res, status, id, message, headers = {}) {
  return json(res, status, { id, message, detailed_error: '',
    request_id: newId(), status_code: status }, headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

// ---- the WebSocket ---------------------------------------------------------

function wsSend(ws, obj) {
  if (ws && ws.readyState === 1) ws.send(JSON.stringify(obj));
}

// An event to connection c: numbered, kept (for a resume), sent when it
// has a socket (unless a "gap" fault holds this one back).
function emit(c, event, data, broadcast) {
  const e = { event, data, broadcast: { omit_users: null, user_id: '',
    channel_id: '', team_id: '', connection_id: '', omit_connection_id: '',
    ...broadcast }, seq: c.seq++ };
  c.events.push(e);
  if (c.events.length > 128) c.events.shift();
  if (c.ws && c.ws.readyState === 1 && c.ws.ready) {
    if (gapNext > 0) {
      gapNext--;
      record('held', c.ws, { event, seq: e.seq });
      return e;
    }
    wsSend(c.ws, e);
    record('sent', c.ws, { event, seq: e.seq });
  }
  return e;
}

function hello(ws, c) {
  ws.ready = true;
  const e = emit(c, 'hello', { server_version: '9.11.0.fake',
    connection_id: c.id }, { user_id: BOT.id });
  record('hello', ws, { connection_id: c.id, seq: e.seq });
}

// An authenticated connection joins the hub: the one its query names
// again (resumable: at the upgrade only), else a new one.
function register(ws, resumable) {
  const q = ws.query;
  const cid = resumable ? q.get('connection_id') : null;
  const sn = Number(q.get('sequence_number'));
  const old = cid ? conns.get(cid) : null;
  const first = old && old.events.length ? old.events[0].seq : 0;
  if (old && Number.isInteger(sn) && sn >= first && sn <= old.seq) {
    // The dead queue: what the connection missed; no hello.
    if (old.ws && old.ws !== ws && old.ws.readyState === 1) old.ws.terminate();
    old.ws = ws;
    ws.mm = old;
    newest = old;
    ws.ready = true;
    record('registered', ws, { connection_id: old.id, resumed: true,
      from: sn });
    for (const e of old.events)
      if (e.seq >= sn) {
        wsSend(ws, e);
        record('sent', ws, { event: e.event, seq: e.seq, replay: true });
      }
    return;
  }
  const c = { id: newId(), seq: 0, events: [], ws };
  conns.set(c.id, c);
  ws.mm = c;
  newest = c;
  record('registered', ws, { connection_id: c.id, resumed: false });
  hello(ws, c);
}

function onWsMessage(ws, raw) {
  let m;
  try {
    m = JSON.parse(raw.toString('utf8'));
  } catch {
    record('garbage', ws);
    return;
  }
  const seq = m.seq;
  record('action', ws, { action: m.action, seq, data: m.data });
  if (m.action === 'authentication_challenge') {
    // Authenticated at the upgrade already: ignored, not answered.
    if (ws.authed) return;
    const ok = m.data && m.data.token === TOKEN && !ws.failAuth;
    record('auth', ws, { ok });
    if (!ok) {
      wsSend(ws, { status: 'FAIL', seq_reply: seq, error: {
        id: 'api.web_socket_router.not_authenticated.app_error',
        message: 'Invalid or expired session, please login again.' } });
      return;
    }
    ws.authed = true;
    wsSend(ws, { status: 'OK', seq_reply: seq });
    register(ws, false);
    return;
  }
  if (!ws.authed) {
    wsSend(ws, { status: 'FAIL', seq_reply: seq, error: {
      id: 'api.web_socket_router.not_authenticated.app_error',
      message: 'not authenticated' } });
    return;
  }
  if (m.action === 'ping') {
    if (noping > 0) {
      noping--;
      return;
    }
    wsSend(ws, { status: 'OK', seq_reply: seq, data: { text: 'pong',
      version: '9.11.0.fake', server_time: Date.now() } });
    return;
  }
  if (m.action === 'user_typing') {
    wsSend(ws, { status: 'OK', seq_reply: seq });
    return;
  }
  wsSend(ws, { status: 'FAIL', seq_reply: seq, error: {
    id: 'api.web_socket_router.bad_action.app_error',
    message: 'unknown action' } });
}

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws, req) => {
  ws.connNo = ++wsconns;
  ws.query = new URL(req.url, 'http://x').searchParams;
  const auth = req.headers.authorization || '';
  record('connect', ws, { query: Object.fromEntries(ws.query), auth });
  if (authFail > 0) {
    authFail--;
    ws.failAuth = true;
  } else if (noHeader > 0)
    noHeader--;
  else if (/^bearer /i.test(auth) && auth.slice(7) === TOKEN)
    ws.authed = true;
  ws.on('message', (raw) => onWsMessage(ws, raw));
  ws.on('close', (code) => {
    record('closed', ws, { code });
    if (ws.mm && ws.mm.ws === ws) ws.mm.ws = null;
  });
  ws.on('error', () => {});
  ws.on('pong', (data) => record('pong', ws, { data: data.toString('utf8') }));
  if (ws.authed) register(ws, true);
});

function wsFault(f) {
  const live = [...wss.clients].filter((w) => w.readyState === 1);
  switch (f.kind) {
    case 'drop': for (const w of live) w.terminate(); break;
    case 'close': for (const w of live) w.close(f.code || 1001, f.reason || ''); break;
    case 'gap': gapNext = f.count || 1; break;
    case 'noping': noping = f.count || 1; break;
    case 'auth_fail': authFail = f.count || 1; break;
    case 'no_header': noHeader = f.count || 1; break;
    case 'forget': conns.clear(); newest = null;
      for (const w of live) w.mm = null;
      break;
    case 'ping': for (const w of live) w.ping(f.data || 'are you there'); break;
    case 'refuse_upgrade': refuseUpgrade = { status: f.status || 503, count: f.count || 1 }; break;
    default: return false;
  }
  return live.length;
}

// ---- REST ------------------------------------------------------------------

function restFault(method, path) {
  const key = `${method} ${path}`;
  const i = faults.findIndex((f) => key.includes(f.match) && f.count > 0);
  if (i < 0) return null;
  const f = faults[i];
  f.count--;
  return f;
}

function postOf(b) {
  const t = Date.now();
  return { id: newId(), create_at: t, update_at: t, edit_at: 0, delete_at: 0,
    is_pinned: false, user_id: b.user_id, channel_id: b.channel_id,
    root_id: b.root_id || '', original_id: '', message: b.message,
    type: b.type || '', props: {}, hashtags: '', pending_post_id: '',
    reply_count: 0, metadata: {} };
}

// A post's `posted` event to the newest connection, as Mattermost sends it
// (data.post a JSON string, mentions one too).
function posted(post, s) {
  if (!newest) return null;
  const data = { channel_display_name: s.channel_type === 'D' ?
    `@${s.username}` : (s.channel_name || 'town-square'),
  channel_name: s.channel_type === 'D' ? `${BOT.id}__${post.user_id}` :
    (s.channel_name || 'town-square'),
  channel_type: s.channel_type || 'O', post: JSON.stringify(post),
  sender_name: `@${s.username}`, set_online: true,
  team_id: s.channel_type === 'D' ? '' : (s.team_id || 'teamteamteamteamteamteam01') };
  if (s.mentions && s.mentions.length) data.mentions = JSON.stringify(s.mentions);
  return emit(newest, 'posted', data, { channel_id: post.channel_id });
}

const channelTypes = new Map();   // channel_id -> type, from /__say

async function rest(req, res, path, body) {
  const auth = req.headers.authorization || '';
  const call = { n: calls.length + 1, method: req.method, path, body,
    auth, t: now() };
  calls.push(call);
  if (auth !== `Bearer ${TOKEN}`)
    return appErr(res, 401, 'api.context.session_expired.app_error',
      'Invalid or expired session, please login again.');
  const f = restFault(req.method, path);
  if (f && f.close) {
    req.socket.destroy();
    return undefined;
  }
  if (f) {
    if (f.status === 429) {
      const h = { 'X-Ratelimit-Limit': '10', 'X-Ratelimit-Remaining': '0',
        'X-Ratelimit-Reset': String(f.reset ?? 1) };
      if (f.retry_after !== undefined) h['Retry-After'] = String(f.retry_after);
      res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': 15, ...h });
      return res.end('limit exceeded\n');
    }
    return appErr(res, f.status, f.id || 'fake.fault.app_error',
      f.message || 'fault');
  }
  let m, b;
  if (req.method === 'GET' && path === '/users/me')
    return json(res, 200, { ...BOT, create_at: 0, update_at: 0,
      delete_at: 0, email: 'fangbot@localhost', locale: 'en' });
  if (req.method === 'POST' && (path === '/posts' || path === '/reactions')) {
    try {
      b = JSON.parse(body);
    } catch {
      return appErr(res, 400, 'api.context.invalid_body_param.app_error',
        'Invalid or missing post in request body.');
    }
  }
  if (req.method === 'POST' && path === '/posts') {
    if (!idOk(b.channel_id))
      return appErr(res, 400, 'api.context.invalid_body_param.app_error',
        'Invalid or missing channel_id in request body.');
    if (typeof b.message !== 'string' || b.message.length === 0)
      return appErr(res, 400, 'api.post.create_post.message.app_error',
        'Message must be set.');
    if ([...b.message].length > MAX_RUNES)
      return appErr(res, 400, 'model.post.is_valid.msg.app_error',
        'Invalid message.');
    if (b.root_id !== undefined && b.root_id !== '' && !idOk(b.root_id))
      return appErr(res, 400, 'model.post.is_valid.root_id.app_error',
        'Invalid root ID.');
    const post = postOf({ ...b, user_id: BOT.id });
    // Mattermost echoes the bot's own post on its WebSocket.
    posted(post, { channel_type: channelTypes.get(b.channel_id) || 'O',
      username: BOT.username });
    return json(res, 201, post);
  }
  if (req.method === 'POST' && path === '/reactions') {
    if (b.user_id !== BOT.id || !idOk(b.post_id) ||
        typeof b.emoji_name !== 'string' || !/^[a-z0-9_+-]{1,64}$/.test(b.emoji_name))
      return appErr(res, 400, 'model.reaction.is_valid.app_error',
        'Invalid reaction.');
    return json(res, 200, { user_id: b.user_id, post_id: b.post_id,
      emoji_name: b.emoji_name, create_at: Date.now() });
  }
  if (req.method === 'DELETE' &&
      (m = path.match(/^\/users\/([a-z0-9]{26})\/posts\/([a-z0-9]{26})\/reactions\/([a-z0-9_+-]+)$/)))
    return json(res, m[1] === BOT.id ? 200 : 403, { status: 'OK' });
  return appErr(res, 404, 'api.context.404.app_error',
    'Sorry, we could not find the page.');
}

const srv = http.createServer(async (req, res) => {
  const body = await readBody(req);
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (p.startsWith('/api/v4/'))
    return rest(req, res, p.slice('/api/v4'.length), body);
  if (req.method === 'GET' && p === '/__calls') return json(res, 200, calls);
  if (req.method === 'GET' && p === '/__ws') return json(res, 200, wsrec);
  if (req.method === 'POST' && p === '/__fault') {
    const f = JSON.parse(body || '{}');
    if (f.kind === 'rest') {
      faults.push(f);
      return json(res, 200, { ok: true });
    }
    return json(res, 200, { ok: true, connections: wsFault(f) });
  }
  if (req.method === 'POST' && p === '/__say') {
    const s = JSON.parse(body || '{}');
    if (!newest) return json(res, 409, { error: 'no connection' });
    channelTypes.set(s.channel_id, s.channel_type || 'O');
    const post = postOf(s);
    const e = posted(post, s);
    return json(res, 200, { id: post.id, seq: e.seq });
  }
  return json(res, 404, { error: 'not found' });
});
srv.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/api/v4/websocket') {
    sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  if (refuseUpgrade && refuseUpgrade.count > 0) {
    refuseUpgrade.count--;
    record('refused', null, { status: refuseUpgrade.status });
    const b = '{"message": "Service Unavailable"}';
    sock.end(`HTTP/1.1 ${refuseUpgrade.status} Refused\r\nContent-Type: ` +
      `application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    return;
  }
  wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req));
});
srv.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: srv.address().port,
    bot_id: BOT.id, bot_username: BOT.username }) + '\n');
});
process.on('SIGTERM', () => {
  for (const w of wss.clients) w.terminate();
  srv.close();
  process.exit(0);
});
