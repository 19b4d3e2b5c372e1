#!/usr/bin/env node
// discord_server.mjs - the Discord peer of channel-discord's tests: the
// Gateway v10 (WebSocket, JSON encoding, on `ws` from tests/e2e's
// node_modules) and the REST calls the adapter makes, on 127.0.0.1, as
// Discord documents them (discord.com/developers/docs/topics/gateway):
//
//   - GET /api/v10/gateway/bot: {url, shards, session_start_limit} to
//     "Authorization: Bot <token>", else 401 {"message": "401:
//     Unauthorized", "code": 0};
//   - the Gateway at /gateway (and /resume, the resume_gateway_url):
//     HELLO {heartbeat_interval} first; op 1 heartbeats ACKed (op 11),
//     each recorded with its d (the last sequence); IDENTIFY checked
//     (token: else close 4004 "Authentication failed."; intents) and
//     answered READY {session_id, resume_gateway_url, user}; RESUME of a
//     known session replays the dispatches after its seq and says
//     RESUMED, of an unknown one op 9 false; dispatches carry s, counted
//     per session; a session's dispatches while it has no connection
//     are kept for its RESUME;
//   - REST: POST /channels/{id}/messages (the message answered),
//     POST /channels/{id}/typing and PUT and DELETE /channels/{id}/
//     messages/{mid}/reactions/{emoji}/@me (204), each token-checked and
//     recorded.
//
// Control (not Discord's):
//   POST /__say {channel_id, guild_id?, author: {id, username,
//     global_name?, bot?}, content, mentions?: [ids]} -> a MESSAGE_CREATE
//     to the newest session; {id} of the message.
//   POST /__fault {kind, ...}: "reconnect" (op 7 to each connection),
//     "invalid" {resumable} (op 9), "close" {code, reason} (a close
//     frame), "drop" (the TCP connection cut, no close frame), "noack"
//     {count} (the next count heartbeats not ACKed), "identify_close"
//     {code, count} (the next count IDENTIFYs answered by that close),
//     "rest" {match, status, count, retry_after?, close?} (the next count
//     REST calls whose "METHOD path" contains match answered status, a
//     429 with Discord's body and Retry-After; close: the connection
//     cut without an answer), "refuse_upgrade" {status, count} (the next
//     count WebSocket handshakes answered status, not 101), "fragment"
//     {count} (the next count dispatches sent as three frames), "ping"
//     {data} (a ping to each connection; its pong is recorded).
//   GET /__calls: every REST call {n, method, path, body, auth, conn, t}.
//   GET /__gw: every Gateway event {n, t, conn, path, what, ...}: what is
//     connect, identify {intents}, resume {session_id, seq}, heartbeat
//     {d}, closed {code}, sent {op, t, s}, pong {data}, refused {status}.
//
// usage: discord_server.mjs [--port N] [--token T] [--heartbeat MS]
// Prints {"port": N, "bot_id": ID} once listening; runs until SIGTERM.
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
const HB = Number(opt('--heartbeat', '41250'));
const BOT = { id: '900000000000000001', username: 'LibreFangBot', bot: true,
  discriminator: '0', global_name: null };
const INTENT_MESSAGE_CONTENT = 1 << 15;

const calls = [];
const gw = [];
let faults = [];
let conns = 0;
let gwconns = 0;
let msgid = 1000000000000000000n;
const sessions = new Map();   // session_id -> {seq, events: [payload], ws}
let newest = null;
let noack = 0;
let identifyClose = null;     // {code, count}
let refuseUpgrade = null;     // {status, count}
let fragmentNext = 0;

const t0 = Date.now();
const now = () => Date.now() - t0;
const record = (what, ws, extra = {}) =>
  gw.push({ n: gw.length + 1, t: now(), conn: ws ? ws.connNo : 0,
    path: ws ? ws.path : '', what, ...extra });

function json(res, status, obj, headers = {}) {
  const b = obj === undefined ? '' : JSON.stringify(obj);
  res.writeHead(status, { ...(b ? { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(b) } : { 'Content-Length': 0 }),
  ...headers });
  res.end(b);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

// ---- the Gateway ----------------------------------------------------------

function send(ws, payload) {
  if (ws.readyState !== 1) return;
  const text = JSON.stringify(payload);
  if (fragmentNext > 0 && payload.op === 0 && text.length >= 3) {
    // One text message in three frames: text, continuation, continuation.
    fragmentNext--;
    const k = Math.floor(text.length / 3);
    ws.send(text.slice(0, k), { fin: false });
    ws.send(text.slice(k, 2 * k), { fin: false });
    ws.send(text.slice(2 * k), { fin: true });
  } else
    ws.send(text);
  record('sent', ws, { op: payload.op, t_: payload.t || null,
    s: payload.s ?? null });
}

// A dispatch to session sess (kept for a RESUME when it has no socket).
function dispatch(sess, t, d) {
  const p = { op: 0, t, s: ++sess.seq, d };
  sess.events.push(p);
  if (sess.ws && sess.ws.readyState === 1 && sess.ws.ready) send(sess.ws, p);
}

function onGatewayMessage(ws, raw) {
  let m;
  try {
    m = JSON.parse(raw.toString('utf8'));
  } catch {
    ws.close(4002, 'Error while decoding payload.');
    return;
  }
  switch (m.op) {
    case 1:
      record('heartbeat', ws, { d: m.d });
      if (noack > 0) noack--;
      else send(ws, { op: 11 });
      break;
    case 2: {
      const d = m.d || {};
      record('identify', ws, { intents: d.intents, token_ok: d.token === TOKEN,
        properties: d.properties });
      if (identifyClose && identifyClose.count > 0) {
        identifyClose.count--;
        ws.close(identifyClose.code, 'Authentication failed.');
        return;
      }
      if (d.token !== TOKEN) {
        ws.close(4004, 'Authentication failed.');
        return;
      }
      if (typeof d.intents !== 'number') {
        ws.close(4013, 'Invalid intent(s).');
        return;
      }
      const sid = crypto.randomBytes(16).toString('hex');
      const sess = { id: sid, seq: 0, events: [], ws, intents: d.intents };
      sessions.set(sid, sess);
      newest = sess;
      ws.session = sess;
      ws.ready = true;
      dispatch(sess, 'READY', { v: 10, user: BOT, guilds: [],
        session_id: sid, resume_gateway_url: `ws://127.0.0.1:${srv.address().port}/resume`,
        application: { id: BOT.id, flags: 0 } });
      break;
    }
    case 6: {
      const d = m.d || {};
      record('resume', ws, { session_id: d.session_id, seq: d.seq,
        token_ok: d.token === TOKEN });
      const sess = sessions.get(d.session_id);
      if (d.token !== TOKEN) {
        ws.close(4004, 'Authentication failed.');
        return;
      }
      if (!sess) {
        send(ws, { op: 9, d: false });
        return;
      }
      if (sess.ws && sess.ws !== ws && sess.ws.readyState === 1)
        sess.ws.terminate();
      sess.ws = ws;
      ws.session = sess;
      ws.ready = true;
      newest = sess;
      for (const p of sess.events)
        if (p.s > (d.seq ?? 0)) send(ws, p);
      dispatch(sess, 'RESUMED', null);
      break;
    }
    default:
      ws.close(4001, 'Unknown opcode.');
  }
}

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', (ws, req) => {
  ws.connNo = ++gwconns;
  ws.path = req.url;
  record('connect', ws);
  ws.on('message', (raw) => onGatewayMessage(ws, raw));
  ws.on('close', (code) => {
    record('closed', ws, { code });
    if (ws.session && ws.session.ws === ws) ws.session.ws = null;
  });
  ws.on('error', () => {});
  ws.on('pong', (data) => record('pong', ws, { data: data.toString('utf8') }));
  send(ws, { op: 10, d: { heartbeat_interval: HB } });
});

function gatewayFault(f) {
  const live = [...wss.clients].filter((w) => w.readyState === 1);
  switch (f.kind) {
    case 'reconnect': for (const w of live) send(w, { op: 7, d: null }); break;
    case 'invalid': for (const w of live) send(w, { op: 9, d: !!f.resumable }); break;
    case 'close': for (const w of live) w.close(f.code, f.reason || ''); break;
    case 'drop': for (const w of live) w.terminate(); break;
    case 'noack': noack = f.count || 1; break;
    case 'identify_close': identifyClose = { code: f.code, count: f.count || 1 }; break;
    case 'refuse_upgrade': refuseUpgrade = { status: f.status || 503, count: f.count || 1 }; break;
    case 'fragment': fragmentNext = f.count || 1; break;
    case 'ping': for (const w of live) w.ping(f.data || 'are you there'); break;
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

async function rest(req, res, path, body) {
  const auth = req.headers.authorization || '';
  const call = { n: calls.length + 1, method: req.method, path, body,
    auth, conn: req.socket.connNo, t: now() };
  calls.push(call);
  if (auth !== `Bot ${TOKEN}`)
    return json(res, 401, { message: '401: Unauthorized', code: 0 });
  if (req.method === 'GET' && path === '/gateway/bot')
    return json(res, 200, { url: `ws://127.0.0.1:${srv.address().port}/gateway`,
      shards: 1, session_start_limit: { total: 1000, remaining: 999,
        reset_after: 14400000, max_concurrency: 1 } });
  const f = restFault(req.method, path);
  if (f && f.close) {
    req.socket.destroy();
    return undefined;
  }
  if (f) {
    if (f.status === 429) {
      const ra = f.retry_after ?? 1;
      return json(res, 429, { message: 'You are being rate limited.',
        retry_after: ra, global: false },
      { 'Retry-After': String(Math.ceil(ra)), 'X-RateLimit-Scope': 'user' });
    }
    return json(res, f.status, { message: f.message || 'fault', code: f.code || 0 });
  }
  let m;
  if (req.method === 'POST' && (m = path.match(/^\/channels\/(\d+)\/messages$/))) {
    let b;
    try {
      b = JSON.parse(body);
    } catch {
      return json(res, 400, { message: '400: Bad Request', code: 50109 });
    }
    if (typeof b.content !== 'string' || b.content.length === 0 ||
        [...b.content].length > 2000)
      return json(res, 400, { message: 'Invalid Form Body', code: 50035,
        errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH',
          message: 'Must be 2000 or fewer in length.' }] } } });
    msgid += 1n;
    return json(res, 200, { id: String(msgid), channel_id: m[1],
      content: b.content, author: BOT, type: 0,
      timestamp: new Date().toISOString() });
  }
  if (req.method === 'POST' && /^\/channels\/\d+\/typing$/.test(path))
    return json(res, 204);
  if ((req.method === 'PUT' || req.method === 'DELETE') &&
      /^\/channels\/\d+\/messages\/\d+\/reactions\/[^/]+\/@me$/.test(path))
    return json(res, 204);
  return json(res, 404, { message: '404: Not Found', code: 0 });
}

const srv = http.createServer(async (req, res) => {
  const body = await readBody(req);
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (p.startsWith('/api/v10/'))
    return rest(req, res, p.slice('/api/v10'.length), body);
  if (req.method === 'GET' && p === '/__calls') return json(res, 200, calls);
  if (req.method === 'GET' && p === '/__gw') return json(res, 200, gw);
  if (req.method === 'POST' && p === '/__fault') {
    const f = JSON.parse(body || '{}');
    if (f.kind === 'rest') {
      faults.push(f);
      return json(res, 200, { ok: true });
    }
    return json(res, 200, { ok: true, connections: gatewayFault(f) });
  }
  if (req.method === 'POST' && p === '/__say') {
    const s = JSON.parse(body || '{}');
    if (!newest) return json(res, 409, { error: 'no session' });
    msgid += 1n;
    const d = { id: String(msgid), channel_id: s.channel_id,
      author: { discriminator: '0', global_name: null, bot: false, ...s.author },
      content: s.content, timestamp: new Date().toISOString(), type: 0,
      mentions: (s.mentions || []).map((id) => ({ id, username: id === BOT.id ?
        BOT.username : 'someone' })),
      mention_roles: [], attachments: [], embeds: [], tts: false,
      mention_everyone: false, pinned: false };
    if (s.guild_id) d.guild_id = s.guild_id;
    dispatch(newest, 'MESSAGE_CREATE', d);
    return json(res, 200, { id: d.id, s: newest.seq });
  }
  return json(res, 404, { message: '404: Not Found', code: 0 });
});
srv.on('connection', (sock) => {
  sock.connNo = ++conns;
});
srv.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  if ((url.pathname !== '/gateway' && url.pathname !== '/resume' &&
       url.pathname !== '/gateway/' && url.pathname !== '/resume/') ||
      url.searchParams.get('v') !== '10' ||
      url.searchParams.get('encoding') !== 'json') {
    sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
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
    bot_id: BOT.id, intent_message_content: INTENT_MESSAGE_CONTENT }) + '\n');
});
process.on('SIGTERM', () => {
  for (const w of wss.clients) w.terminate();
  srv.close();
  process.exit(0);
});
