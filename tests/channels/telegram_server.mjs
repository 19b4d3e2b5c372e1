#!/usr/bin/env node
// telegram_server.mjs - the Bot API peer of channel-telegram's tests:
// telegram-test-api (npm, 4.2.1; tests/e2e/package.json), the real
// emulator, on 127.0.0.1, with a thin front for what it lacks and what
// the tests must see:
//
//   - a token check (--tokens a,b): any other token is answered as the
//     Bot API answers an unknown one, 401 {"ok": false, "error_code":
//     401, "description": "Unauthorized"} (the emulator takes any token);
//   - sendChatAction and setMessageReaction answered {"ok": true,
//     "result": true} (the emulator answers 500 "not supported");
//   - faults on demand: POST /__fault {method, status, count,
//     retry_after?, description?} answers the next count calls of method
//     with status (and parameters.retry_after and Retry-After), or with
//     close: true drops their connection without an answer;
//   - a record: GET /__calls lists every Bot API call as {n, method,
//     body, conn, t} (conn: the TCP connection's number, so a test sees
//     keep-alive), GET /__stats {connections, calls}.
//
// Everything else is the emulator's own: getMe, getUpdates (quirks: it
// answers at once, no long poll, and ignores offset, marking what it
// returned read; a sent message's `date` is in ms), sendMessage, and the
// client side a user plays (POST /sendMessage, /sendCallback,
// /getUpdatesHistory; its README).
//
// usage: telegram_server.mjs [--port N] [--tokens T1,T2]
// Prints {"port": N} on stdout once listening; runs until SIGTERM.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../e2e/package.json', import.meta.url));
const TelegramServer = require('telegram-test-api');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const tokens = opt('--tokens', '') ? new Set(opt('--tokens', '').split(',')) : null;

// The emulator's express app, without its own listener: ours is in
// front.  storeTimeout: what was not fetched is kept 10 minutes.
const tg = new TelegramServer({ port: 1, host: '127.0.0.1', storeTimeout: 600 });
tg.started = true;

const calls = [];
const faults = [];
let conns = 0;

function json(res, status, obj, headers = {}) {
  const b = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json',
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

const server = http.createServer(async (req, res) => {
  let raw;
  try {
    raw = await readBody(req);
  } catch {
    return;
  }
  let body = {};
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw);
    } catch {
      json(res, 400, { ok: false, error_code: 400,
        description: 'Bad Request: the body is not JSON' });
      return;
    }
  }
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/__calls') {
    json(res, 200, calls);
    return;
  }
  if (url.pathname === '/__stats') {
    json(res, 200, { connections: conns, calls: calls.length });
    return;
  }
  if (url.pathname === '/__fault' && req.method === 'POST') {
    faults.push({ ...body });
    json(res, 200, { ok: true });
    return;
  }
  const m = url.pathname.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
  if (m) {
    const [, token, method] = m;
    for (const [k, v] of url.searchParams) body[k] = v;
    calls.push({ n: calls.length + 1, method, body, conn: req.socket.lfConn,
      t: Date.now(), token_ok: !tokens || tokens.has(token) });
    if (tokens && !tokens.has(token)) {
      json(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
      return;
    }
    const f = faults.find((x) => x.method === method && x.count > 0);
    if (f) {
      f.count -= 1;
      if (f.close) {
        // The connection dropped under the request, no byte answered
        // (a server closing an idle kept-alive connection as it came).
        req.socket.destroy();
        return;
      }
      const out = { ok: false, error_code: f.status,
        description: f.description || `Fault ${f.status}` };
      const hdr = {};
      if (f.retry_after !== undefined) {
        out.parameters = { retry_after: f.retry_after };
        hdr['Retry-After'] = String(f.retry_after);
      }
      json(res, f.status, out, hdr);
      return;
    }
    if (method === 'sendChatAction' || method === 'setMessageReaction') {
      json(res, 200, { ok: true, result: true });
      return;
    }
  }
  // The emulator's body parser sees the body as read already.
  req.body = body;
  req._body = true;
  tg.webServer(req, res);
});
server.on('connection', (s) => {
  conns += 1;
  s.lfConn = conns;
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
