#!/usr/bin/env node
// slack_server.mjs - the Slack peer of channel-slack's tests: Socket Mode
// (a WebSocket on `ws` from tests/e2e's node_modules) and the Web API
// methods the adapter calls, on 127.0.0.1, as Slack documents them
// (api.slack.com/apis/socket-mode, api.slack.com/methods):
//
//   - POST /api/auth.test with "Authorization: Bearer <bot token>":
//     {ok, url, team, user, team_id, user_id, bot_id}; any other token
//     {ok: false, error: "invalid_auth"}, none "not_authed" (HTTP 200,
//     as Slack answers);
//   - POST /api/apps.connections.open with the app-level token (xapp-):
//     {ok: true, url: "ws://127.0.0.1:PORT/link/?ticket=T&app_id=A"}; a
//     bot token "not_allowed_token_type", another "invalid_auth".  Each
//     ticket opens one connection (another try is refused 401);
//   - the WebSocket: {"type": "hello", num_connections, debug_info,
//     connection_info} first; envelopes {envelope_id, type: events_api
//     | slash_commands | interactive, payload, accepts_response_payload,
//     retry_attempt, retry_reason}, each to be ACKed by a message
//     {"envelope_id": ...}; one not ACKed within --ack-ms is delivered
//     again (a new envelope_id, retry_attempt + 1, retry_reason
//     "timeout"), three times at most, as Slack does; envelopes with no
//     connection wait for one; {"type": "disconnect", reason,
//     debug_info} on demand;
//   - POST /api/chat.postMessage (JSON or form): channel (a C/D/G id,
//     else channel_not_found), text (no_text; over 40,000 characters
//     msg_too_long), thread_ts -> {ok, channel, ts, message};
//     reactions.add / reactions.remove {channel, timestamp, name} ->
//     {ok} (already_reacted, no_reaction).  Every call is checked for
//     the bot token and recorded.
//
// Control (not Slack's):
//   POST /__say {channel, user, text, channel_type?, thread_ts?, type?
//     ("message", "app_mention"), subtype?, bot_id?, mention?: also an
//     app_mention of the same ts, name?: the user_profile's display
//     name, ts?} -> {ts, event_id, envelopes: [ids]}.
//   POST /__command {channel_id, user_id, user_name, command, text} ->
//     {trigger_id, envelope}.
//   POST /__redeliver {envelope_id}: that envelope again (a new id,
//     retry_attempt + 1), ACKed or not.
//   POST /__fault {kind, ...}: "disconnect" {reason} (to each
//     connection; refresh_requested also closes it 300 ms later),
//     "drop" (the TCP connections cut), "close" {code}, "api" {match,
//     status?, error?, count, retry_after?} (the next count Web API
//     calls whose method contains match answered status (429: Slack's
//     body and Retry-After) or 200 {ok: false, error}), "noack" ignored.
//   GET /__calls: every Web API call {n, api, body, auth, t}.
//   GET /__ws: every Socket Mode event {n, t, conn, what, ...}: what is
//     connect {ticket}, refused {why}, sent {type, envelope_id,
//     retry_attempt}, ack {envelope_id, ms}, bad {text}, closed {code}.
//
// usage: slack_server.mjs [--port N] [--bot-token T] [--app-token T]
//        [--ack-ms MS]
// Prints {"port": N, "bot_user": ID, "team": ID} once listening; runs
// until SIGTERM.
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
const BOT_TOKEN = opt('--bot-token', 'xoxb-test');
const APP_TOKEN = opt('--app-token', 'xapp-test');
const ACK_MS = Number(opt('--ack-ms', '3000'));
const TEAM = 'T0FAKE0001';
const APP = 'A0FAKE0001';
const BOT_USER = 'U0BOT00001';
const BOT_ID = 'B0BOT00001';
const LIMIT = 40000;

const calls = [];
const wslog = [];
const tickets = new Set();
const envelopes = new Map();   // envelope_id -> {env, acked, timer}
const pending = [];            // envelopes with no connection to go to
let faults = [];
let tsn = 0;
let conns = 0;

const t0 = Date.now();
const now = () => Date.now() - t0;
const record = (what, ws, extra = {}) =>
  wslog.push({ n: wslog.length + 1, t: now(), conn: ws ? ws.connNo : 0,
    what, ...extra });
const rid = (p, n) => p + crypto.randomBytes(n).toString('hex').toUpperCase();
const newTs = () => `${Math.floor(Date.now() / 1000)}.${String(++tsn).padStart(6, '0')}`;

function json(res, status, obj, headers = {}) {
  const b = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(b), ...headers });
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

// ---- Socket Mode -------------------------------------------------------------

const wss = new WebSocketServer({ noServer: true });
const live = () => [...wss.clients].filter((w) => w.readyState === 1 && w.hello);

function sendEnvelope(e) {
  const targets = live();
  if (targets.length === 0) {
    pending.push(e);
    return;
  }
  const ws = targets[targets.length - 1];
  const rec = envelopes.get(e.envelope_id) || { env: e, acked: false };
  rec.sentAt = Date.now();
  envelopes.set(e.envelope_id, rec);
  ws.send(JSON.stringify(e));
  record('sent', ws, { type: e.type, envelope_id: e.envelope_id,
    retry_attempt: e.retry_attempt });
  clearTimeout(rec.timer);
  rec.timer = setTimeout(() => {
    if (!rec.acked && e.retry_attempt < 3) redeliver(e, 'timeout');
  }, ACK_MS);
}

function redeliver(e, reason) {
  const again = { ...e, envelope_id: crypto.randomUUID(),
    retry_attempt: e.retry_attempt + 1, retry_reason: reason };
  sendEnvelope(again);
  return again.envelope_id;
}

function envelope(type, payload) {
  const e = { envelope_id: crypto.randomUUID(), payload, type,
    accepts_response_payload: type !== 'events_api', retry_attempt: 0,
    retry_reason: '' };
  sendEnvelope(e);
  return e.envelope_id;
}

wss.on('connection', (ws, req, ticket) => {
  ws.connNo = ++conns;
  record('connect', ws, { ticket });
  ws.on('message', (raw) => {
    let m;
    try {
      m = JSON.parse(raw.toString('utf8'));
    } catch {
      record('bad', ws, { text: raw.toString('utf8').slice(0, 200) });
      return;
    }
    const rec = envelopes.get(m.envelope_id);
    record('ack', ws, { envelope_id: m.envelope_id, known: !!rec,
      ms: rec ? Date.now() - rec.sentAt : null, payload: m.payload ?? null });
    if (rec) {
      rec.acked = true;
      clearTimeout(rec.timer);
    }
  });
  ws.on('close', (code) => record('closed', ws, { code }));
  ws.on('error', () => {});
  ws.hello = true;
  ws.send(JSON.stringify({ type: 'hello', num_connections: live().length,
    debug_info: { host: 'applink-fake-1', build_number: 1,
      approximate_connection_time: 18060 },
    connection_info: { app_id: APP } }));
  record('sent', ws, { type: 'hello' });
  while (pending.length > 0) sendEnvelope(pending.shift());
});

function wsFault(f) {
  const ws = live();
  switch (f.kind) {
    case 'disconnect':
      for (const w of ws) {
        w.send(JSON.stringify({ type: 'disconnect', reason: f.reason,
          debug_info: { host: 'applink-fake-1' } }));
        record('sent', w, { type: 'disconnect', reason: f.reason });
        if (f.reason === 'refresh_requested')
          setTimeout(() => w.readyState === 1 && w.close(1000), 300);
      }
      break;
    case 'drop': for (const w of ws) w.terminate(); break;
    case 'close': for (const w of ws) w.close(f.code || 1011, f.reason || ''); break;
    default: return false;
  }
  return ws.length;
}

// ---- the Web API ---------------------------------------------------------------

function apiFault(api) {
  const i = faults.findIndex((f) => api.includes(f.match) && f.count > 0);
  if (i < 0) return null;
  faults[i].count--;
  return faults[i];
}

function parseBody(req, body) {
  const ct = req.headers['content-type'] || '';
  if (ct.startsWith('application/json')) return JSON.parse(body || '{}');
  return Object.fromEntries(new URLSearchParams(body));
}

const reactions = new Map();   // channel:ts -> Set(names)

function api(req, res, name, body) {
  const auth = req.headers.authorization || '';
  let b;
  try {
    b = parseBody(req, body);
  } catch {
    b = null;
  }
  const call = { n: calls.length + 1, api: name, body: b, raw: body,
    ctype: req.headers['content-type'] || '', auth, t: now() };
  calls.push(call);
  if (req.method !== 'POST' && req.method !== 'GET')
    return json(res, 405, { ok: false, error: 'method_not_allowed' });
  if (b === null) return json(res, 200, { ok: false, error: 'invalid_json' });
  const tok = auth.startsWith('Bearer ') ? auth.slice(7) : (b.token || '');
  if (tok === '') return json(res, 200, { ok: false, error: 'not_authed' });
  if (name === 'apps.connections.open') {
    if (tok === BOT_TOKEN)
      return json(res, 200, { ok: false, error: 'not_allowed_token_type' });
    if (tok !== APP_TOKEN) return json(res, 200, { ok: false, error: 'invalid_auth' });
  } else if (tok !== BOT_TOKEN) {
    return json(res, 200, { ok: false, error: tok === APP_TOKEN ?
      'not_allowed_token_type' : 'invalid_auth' });
  }
  const f = apiFault(name);
  if (f && f.close) {
    req.socket.destroy();
    return undefined;
  }
  if (f && f.status === 429)
    return json(res, 429, { ok: false, error: 'ratelimited' },
      { 'Retry-After': String(f.retry_after ?? 1) });
  if (f && f.status && f.status !== 200)
    return json(res, f.status, { ok: false, error: f.error || 'fault' });
  if (f) return json(res, 200, { ok: false, error: f.error });
  switch (name) {
    case 'auth.test':
      return json(res, 200, { ok: true, url: 'https://fake.slack.com/',
        team: 'Fake Team', user: 'librefang', team_id: TEAM,
        user_id: BOT_USER, bot_id: BOT_ID, is_enterprise_install: false });
    case 'apps.connections.open': {
      const ticket = crypto.randomUUID();
      tickets.add(ticket);
      return json(res, 200, { ok: true, url:
        `ws://127.0.0.1:${srv.address().port}/link/?ticket=${ticket}&app_id=${APP}` });
    }
    case 'chat.postMessage': {
      if (!/^[CDG][A-Z0-9]+$/.test(b.channel || ''))
        return json(res, 200, { ok: false, error: 'channel_not_found' });
      if (typeof b.text !== 'string' || b.text.length === 0)
        return json(res, 200, { ok: false, error: 'no_text' });
      if (b.text.length > LIMIT)
        return json(res, 200, { ok: false, error: 'msg_too_long' });
      const ts = newTs();
      const msg = { type: 'message', user: BOT_USER, bot_id: BOT_ID,
        text: b.text, ts, team: TEAM };
      if (b.thread_ts) msg.thread_ts = b.thread_ts;
      return json(res, 200, { ok: true, channel: b.channel, ts, message: msg });
    }
    case 'reactions.add':
    case 'reactions.remove': {
      if (!b.channel || !b.timestamp || !b.name)
        return json(res, 200, { ok: false, error: 'invalid_arguments' });
      const k = `${b.channel}:${b.timestamp}`;
      const set = reactions.get(k) || new Set();
      reactions.set(k, set);
      if (name === 'reactions.add') {
        if (set.has(b.name)) return json(res, 200, { ok: false, error: 'already_reacted' });
        set.add(b.name);
      } else {
        if (!set.has(b.name)) return json(res, 200, { ok: false, error: 'no_reaction' });
        set.delete(b.name);
      }
      return json(res, 200, { ok: true });
    }
    default:
      return json(res, 200, { ok: false, error: 'unknown_method' });
  }
}

function say(s) {
  const ts = s.ts || newTs();
  const eventId = rid('Ev', 5);
  const ev = { type: s.type || 'message', channel: s.channel, user: s.user,
    text: s.text, ts, event_ts: ts, team: TEAM,
    channel_type: s.channel_type || (s.channel.startsWith('D') ? 'im' : 'channel'),
    user_profile: { name: s.username || s.user, display_name: s.name ?? '',
      real_name: s.real_name || '' } };
  if (s.thread_ts) ev.thread_ts = s.thread_ts;
  if (s.subtype) ev.subtype = s.subtype;
  if (s.bot_id) ev.bot_id = s.bot_id;
  const wrap = (event, id) => ({ token: 'verification-token', team_id: TEAM,
    api_app_id: APP, event, type: 'event_callback', event_id: id,
    event_time: Math.floor(Date.now() / 1000), authorizations: [
      { team_id: TEAM, user_id: BOT_USER, is_bot: true }] });
  const out = [envelope('events_api', wrap(ev, eventId))];
  if (s.mention) {
    const am = { ...ev, type: 'app_mention' };
    delete am.channel_type;
    out.push(envelope('events_api', wrap(am, rid('Ev', 5))));
  }
  return { ts, event_id: eventId, envelopes: out };
}

const srv = http.createServer(async (req, res) => {
  const body = await readBody(req);
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (p.startsWith('/api/')) return api(req, res, p.slice(5), body);
  const b = body ? JSON.parse(body) : {};
  if (req.method === 'GET' && p === '/__calls') return json(res, 200, calls);
  if (req.method === 'GET' && p === '/__ws') return json(res, 200, wslog);
  if (req.method === 'POST' && p === '/__fault') {
    if (b.kind === 'api') {
      faults.push(b);
      return json(res, 200, { ok: true });
    }
    return json(res, 200, { ok: true, connections: wsFault(b) });
  }
  if (req.method === 'POST' && p === '/__say') {
    if (live().length === 0 && b.need_connection)
      return json(res, 409, { error: 'no connection' });
    return json(res, 200, say(b));
  }
  if (req.method === 'POST' && p === '/__command') {
    if (live().length === 0 && b.need_connection)
      return json(res, 409, { error: 'no connection' });
    const trig = `${Date.now()}.${rid('', 4)}`;
    const id = envelope('slash_commands', { token: 'verification-token',
      team_id: TEAM, team_domain: 'fake', channel_id: b.channel_id,
      channel_name: b.channel_id.startsWith('D') ? 'directmessage' : 'general',
      user_id: b.user_id, user_name: b.user_name, command: b.command,
      text: b.text || '', api_app_id: APP, is_enterprise_install: 'false',
      response_url: 'https://hooks.slack.com/commands/T0FAKE/1/x',
      trigger_id: trig });
    return json(res, 200, { trigger_id: trig, envelope: id });
  }
  if (req.method === 'POST' && p === '/__redeliver') {
    const rec = envelopes.get(b.envelope_id);
    if (!rec) return json(res, 404, { error: 'no such envelope' });
    return json(res, 200, { envelope_id: redeliver(rec.env, 'timeout') });
  }
  return json(res, 404, { ok: false, error: 'unknown_method' });
});
srv.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  const ticket = url.searchParams.get('ticket');
  if (url.pathname !== '/link/' || !tickets.has(ticket)) {
    record('refused', null, { why: 'bad ticket' });
    sock.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  tickets.delete(ticket);
  wss.handleUpgrade(req, sock, head, (ws) => wss.emit('connection', ws, req, ticket));
});
srv.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: srv.address().port,
    bot_user: BOT_USER, team: TEAM }) + '\n');
});
process.on('SIGTERM', () => {
  for (const w of wss.clients) w.terminate();
  srv.close();
  process.exit(0);
});
