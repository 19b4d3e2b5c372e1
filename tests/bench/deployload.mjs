#!/usr/bin/env node
// deployload.mjs - the load generator behind tests/bench/deploy.sh: agent
// turns through a gateway of the compose stack, with its API key (the
// published port is not loopback to the gateway, so the key is needed;
// tests/bench/turnload.mjs sends none).  Plain node:http, no
// dependencies.  Every command prints one JSON object on stdout (spawn:
// one agent id a line); problems go to stderr.  KEY comes from the
// environment (LIBREFANG_API_KEY), not the command line, so ps does not
// show it.
//
//   spawn  --gw H:P --base URL --model M --prefix P --n N [--conc 8]
//   rate   --gw H:P --agents ID,.. --conns C --secs S [--warm S]
//   burst  --gw H:P --agents-file F --mark FILE [--sent FILE] [--timeout S]
//   first  --gw H:P --agent ID [--timeout S]
//   keyed  --gw H:P[,H:P..] --agents-file F --per N --out FILE
//          [--kill-after N --kill-cmd CMD] [--timeout S] [--retry-secs S]
//   steady --gw H:P[,H:P..] --agents ID,.. --stop-file F --out FILE
//          [--timeout S]
//
// burst: one turn per agent, all at once; when every one has ended (or
// timed out: status 0, "lost"), reads a Unix time in ms from FILE (the
// moment deploy.sh killed a runtime) and says when, after it, the last
// answer (200 or not) came; --sent FILE is written once every request
// is under way.  first: one turn after another (20 ms apart,
// 2 s each at most) until one answers 200; prints the Unix ms it did.
//
// keyed (tests/deploy/t9010-failover.sh, deploy.sh figure 16): N turns
// per agent ("<agent index>-<n>", so the fake's echo names its turn), all
// at once, each with its own Idempotency-Key, over the gateways in turn.
// After --kill-after answers it runs CMD (sh -c) once and notes when.
// Then every turn answered 503 is retried with its key and body until
// it answers anything but 503 or 409 (409: still running), 200 ms apart,
// for --retry-secs; and every turn answered 200 is asked once more with
// its key, which must give the same answer without a run.  FILE gets one
// JSON object per turn {agent, text, key, first, first_ms, first_end,
// retries, final, final_end, final_body, again, again_body}; stdout the
// summary (all_200_after_kill_ms: from the kill until every turn had its
// 200, retries included).
//
// steady (t9010): a closed loop per agent (one connection each, over
// the gateways in turn) until FILE exists; FILE gets every request
// {gw, start, end, status, body} (Unix ms), stdout the counts.

import http from 'node:http';
import fs from 'node:fs';
import { exec } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const argv = process.argv.slice(2);
const cmd = argv.shift();
const opt = {};
for (let i = 0; i < argv.length; i++) {
	const a = argv[i];
	if (!a.startsWith('--')) die(`unexpected argument ${a}`);
	const k = a.slice(2);
	if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opt[k] = argv[++i];
	else opt[k] = true;
}

function die(msg) {
	process.stderr.write(`deployload: ${msg}\n`);
	process.exit(2);
}

function need(k) {
	if (opt[k] === undefined || opt[k] === true) die(`${cmd}: --${k} is required`);
	return opt[k];
}

function hostPort(s) {
	const i = s.lastIndexOf(':');
	return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const now = () => performance.now();
const wall = () => performance.timeOrigin + performance.now();
const KEY = process.env.LIBREFANG_API_KEY || '';
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// One request with the key; resolves {status, body, ms, end (Unix ms)},
// status 0 on a transport error or after timeoutMs: a request the stack
// loses ends the run, it does not hang it.
function request(agent, hp, method, path, body, timeoutMs, extra) {
	return new Promise((resolve) => {
		const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
		const h = { authorization: `Bearer ${KEY}`, ...(extra || {}) };
		if (data) {
			h['content-type'] = 'application/json';
			h['content-length'] = data.length;
		}
		const t0 = now();
		let done = false;
		const end = (status, text) => {
			if (done) return;
			done = true;
			resolve({ status, body: text, ms: now() - t0, end: wall() });
		};
		const req = http.request({ agent, host: hp.host, port: hp.port, method, path, headers: h }, (res) => {
			const parts = [];
			res.on('data', (c) => parts.push(c));
			res.on('end', () => end(res.statusCode, Buffer.concat(parts).toString('utf8')));
			res.on('error', (e) => end(0, String(e)));
		});
		req.setTimeout(timeoutMs, () => {
			req.destroy(new Error(`no answer in ${timeoutMs} ms`));
		});
		req.on('error', (e) => end(0, String(e.message || e)));
		if (data) req.write(data);
		req.end();
	});
}

function pct(sorted, p) {
	if (sorted.length === 0) return null;
	return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] * 100) / 100;
}

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

const turn = (ka, g, id, t) => request(ka, g, 'POST', `/api/agents/${id}/message`, { message: 'ping' }, t);

async function spawn() {
	const g = hostPort(need('gw'));
	const n = Number(need('n'));
	const conc = Number(opt.conc || 8);
	const toml = (i) => `name = "${need('prefix')}-${i + 1}"\n[model]\nprovider = "openai"\n` +
	    `model = "${need('model')}"\nbase_url = "${need('base')}"\napi_key_env = "FAKE_API_KEY"\n`;
	const ka = new http.Agent({ keepAlive: true, maxSockets: conc });
	const ids = new Array(n);
	let next = 0, failed = null;
	const worker = async () => {
		while (next < n && !failed) {
			const i = next++;
			const r = await request(ka, g, 'POST', '/api/agents', { manifest_toml: toml(i) }, 15000);
			let id = null;
			try { const b = JSON.parse(r.body); id = b.agent_id || b.id; } catch { /* below */ }
			if ((r.status !== 200 && r.status !== 201) || !id) {
				failed = `POST /api/agents -> ${r.status} ${r.body.slice(0, 200)}`;
				return;
			}
			ids[i] = id;
		}
	};
	await Promise.all(Array.from({ length: conc }, worker));
	ka.destroy();
	if (failed) die(failed);
	process.stdout.write(ids.join('\n') + '\n');
}

// Closed loop, one keep-alive connection per agent (so no turn waits on
// another's session).
async function rate() {
	const g = hostPort(need('gw'));
	const ids = need('agents').split(',');
	const conns = Number(need('conns'));
	const secs = Number(need('secs'));
	const warm = Number(opt.warm || 1);
	if (ids.length < conns) die(`rate: ${conns} connections need ${conns} agents`);
	const kas = Array.from({ length: conns }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
	const lat = [];
	let done = 0, errors = 0, lastErr = '', measuring = false, stop = false;
	const loop = async (c) => {
		while (!stop) {
			const r = await turn(kas[c], g, ids[c], 15000);
			if (stop) break;
			if (r.status !== 200) {
				if (measuring) errors++;
				lastErr = `${r.status} ${r.body.slice(0, 160)}`;
				await sleep(10);
			} else if (measuring) {
				done++;
				lat.push(r.ms);
			}
		}
	};
	const loops = Array.from({ length: conns }, (_, c) => loop(c));
	await sleep(warm * 1000);
	measuring = true;
	const t0 = now();
	await sleep(secs * 1000);
	measuring = false;
	const el = (now() - t0) / 1000;
	stop = true;
	await Promise.all(loops);
	for (const k of kas) k.destroy();
	lat.sort((a, b) => a - b);
	out({ conns, rps: Math.round(done / el * 10) / 10, done, errors, last_error: lastErr,
		p50: pct(lat, 0.5), p99: pct(lat, 0.99) });
}

async function burst() {
	const g = hostPort(need('gw'));
	const ids = fs.readFileSync(need('agents-file'), 'utf8').split('\n').filter(Boolean);
	const timeoutMs = Number(opt.timeout || 60) * 1000;
	const start = wall();
	const all = Promise.all(ids.map((id) =>
		turn(new http.Agent({ keepAlive: false }), g, id, timeoutMs)));
	// Every request is on its way (written once the loop runs again):
	// deploy.sh waits for this file before it kills.
	if (opt.sent) setTimeout(() => fs.writeFileSync(opt.sent, `${Math.round(wall())}\n`), 0);
	const rs = await all;
	let kill = Number(fs.readFileSync(need('mark'), 'utf8').trim());
	if (!(kill > 0)) kill = start;
	const by = {};
	let last = null, lastBad = null, after = 0, lastErr = '', lostErr = '', lostAt = null;
	for (const r of rs) {
		const k = r.status === 0 ? 'lost' : String(r.status);
		by[k] = (by[k] || 0) + 1;
		if (r.status === 0) {
			lostErr = r.body.slice(0, 160);
			lostAt = Math.max(lostAt ?? 0, r.end - kill);
			continue;
		}
		if (r.end >= kill) {
			after++;
			last = Math.max(last ?? 0, r.end - kill);
			if (r.status !== 200) {
				lastBad = Math.max(lastBad ?? 0, r.end - kill);
				lastErr = `${r.status} ${r.body.slice(0, 160)}`;
			}
		}
	}
	const r1 = (x) => (x === null ? null : Math.round(x));
	out({ turns: ids.length, by_status: by, kill_after_start_ms: Math.round(kill - start),
		answered_after_kill: after, last_answer_after_kill_ms: r1(last),
		last_error_after_kill_ms: r1(lastBad), last_error: lastErr,
		lost_error: lostErr, last_lost_after_kill_ms: r1(lostAt) });
}

async function first() {
	const g = hostPort(need('gw'));
	const id = need('agent');
	const end = now() + Number(opt.timeout || 30) * 1000;
	let tries = 0, lastErr = '';
	while (now() < end) {
		tries++;
		const r = await turn(new http.Agent({ keepAlive: false }), g, id, 2000);
		if (r.status === 200) {
			out({ ok: true, at: Math.round(r.end), tries });
			return;
		}
		lastErr = `${r.status} ${r.body.slice(0, 160)}`;
		await sleep(20);
	}
	out({ ok: false, tries, last_error: lastErr });
}

const gws = () => need('gw').split(',').map(hostPort);
const reply = (r) => {
	try { return JSON.parse(r.body); } catch { return null; }
};

async function keyed() {
	const g = gws();
	const ids = fs.readFileSync(need('agents-file'), 'utf8').split('\n').filter(Boolean);
	const per = Number(need('per'));
	const outFile = need('out');
	const timeoutMs = Number(opt.timeout || 60) * 1000;
	const retryMs = Number(opt['retry-secs'] || 30) * 1000;
	const killAfter = opt['kill-after'] === undefined ? -1 : Number(opt['kill-after']);
	const run = Math.random().toString(36).slice(2, 10);
	const turns = [];
	ids.forEach((id, a) => {
		for (let k = 1; k <= per; k++)
			turns.push({ agent: id, text: `${a + 1}-${k}`, key: `t9010-${run}-${a + 1}-${k}` });
	});
	let answered = 0, killAt = null, killDone = null, killErr = '';
	const kill = () => {
		killAt = wall();
		exec(need('kill-cmd'), { timeout: 20000 }, (e, so, se) => {
			killDone = wall();
			if (e) killErr = `${e.message} ${se}`.slice(0, 300);
		});
	};
	const start = wall();
	const send = (t, i, body) => request(new http.Agent({ keepAlive: false }), g[i % g.length], 'POST',
	    `/api/agents/${t.agent}/message`, body, timeoutMs, { 'idempotency-key': t.key });
	await Promise.all(turns.map(async (t, i) => {
		const r = await send(t, i, { message: t.text });
		t.first = r.status;
		t.first_ms = Math.round(r.ms);
		t.first_end = Math.round(r.end);
		t.first_body = r.body.slice(0, 300);
		const b = reply(r);
		t.response = b && typeof b.response === 'string' ? b.response : null;
		if (++answered === killAfter) kill();
	}));
	const firstDone = wall();
	// Retries of each 503 (and what follows it: 409 while the turn runs
	// elsewhere), until an answer that is neither or the time is up.
	const until = now() + retryMs;
	await Promise.all(turns.filter((t) => t.first === 503).map(async (t, i) => {
		t.retries = [];
		for (;;) {
			const r = await send(t, i + 1, { message: t.text });
			t.retries.push(r.status);
			t.final = r.status;
			t.final_end = Math.round(r.end);
			t.final_body = r.body.slice(0, 300);
			if ((r.status !== 503 && r.status !== 409) || now() > until) break;
			await sleep(200);
		}
		const b = reply({ body: t.final_body });
		t.response = b && typeof b.response === 'string' ? b.response : null;
	}));
	// Every 200 asked again: the same answer, from the stored key.
	await Promise.all(turns.filter((t) => t.first === 200).map(async (t, i) => {
		const r = await send(t, i + 1, { message: t.text });
		t.again = r.status;
		const b = reply(r);
		t.again_body = b && typeof b.response === 'string' ? b.response : r.body.slice(0, 300);
	}));
	fs.writeFileSync(outFile, turns.map((t) => JSON.stringify(t)).join('\n') + '\n');
	const by = {};
	for (const t of turns) by[t.first === 0 ? 'lost' : String(t.first)] = (by[t.first === 0 ? 'lost' : String(t.first)] || 0) + 1;
	let lastAfterKill = null;
	if (killAt !== null)
		for (const t of turns)
			if (t.first !== 0 && t.first_end >= killAt)
				lastAfterKill = Math.max(lastAfterKill ?? 0, t.first_end - killAt);
	const dead = turns.filter((t) => t.first === 503);
	const deadEnd = dead.length ? Math.max(...dead.map((t) => t.first_end)) : null;
	out({ turns: turns.length, by_status: by, answered_before_kill: killAfter,
		kill_after_start_ms: killAt === null ? null : Math.round(killAt - start),
		kill_cmd_ms: killDone === null || killAt === null ? null : Math.round(killDone - killAt),
		kill_error: killErr, kill_at: killAt === null ? null : Math.round(killAt),
		last_answer_after_kill_ms: lastAfterKill === null ? null : Math.round(lastAfterKill),
		last_503_after_kill_ms: deadEnd === null || killAt === null ? null : Math.round(deadEnd - killAt),
		first_round_ms: Math.round(firstDone - start),
		retried: dead.length, retried_200: dead.filter((t) => t.final === 200).length,
		all_200_after_kill_ms: killAt === null || turns.some((t) => (t.final ?? t.first) !== 200) ? null :
		    Math.round(Math.max(...turns.map((t) => t.final_end ?? t.first_end)) - killAt) });
}

async function steady() {
	const g = gws();
	const ids = need('agents').split(',');
	const stopFile = need('stop-file');
	const timeoutMs = Number(opt.timeout || 30) * 1000;
	const recs = [];
	let stop = false;
	const watch = setInterval(() => { if (fs.existsSync(stopFile)) stop = true; }, 50);
	await Promise.all(ids.map(async (id, c) => {
		const ka = new http.Agent({ keepAlive: true, maxSockets: 1 });
		const hp = g[c % g.length];
		let n = 0;
		while (!stop) {
			const t0 = wall();
			const r = await turn(ka, hp, id, timeoutMs);
			recs.push({ gw: c % g.length + 1, start: Math.round(t0), end: Math.round(r.end),
				status: r.status, body: r.status === 200 ? '' : r.body.slice(0, 200) });
			if (r.status !== 200) await sleep(10);
			n++;
		}
		ka.destroy();
	}));
	clearInterval(watch);
	fs.writeFileSync(need('out'), JSON.stringify(recs) + '\n');
	const by = {};
	for (const r of recs) by[String(r.status)] = (by[String(r.status)] || 0) + 1;
	out({ requests: recs.length, by_status: by });
}

const cmds = { spawn, rate, burst, first, keyed, steady };
if (!cmds[cmd]) die(`unknown command ${cmd}; one of ${Object.keys(cmds).join(' ')}`);
await cmds[cmd]();
