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
//
// burst: one turn per agent, all at once; when every one has ended (or
// timed out: status 0, "lost"), reads a Unix time in ms from FILE (the
// moment deploy.sh killed a runtime) and says when, after it, the last
// answer (200 or not) came; --sent FILE is written once every request
// is under way.  first: one turn after another (20 ms apart,
// 2 s each at most) until one answers 200; prints the Unix ms it did.

import http from 'node:http';
import fs from 'node:fs';
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
function request(agent, hp, method, path, body, timeoutMs) {
	return new Promise((resolve) => {
		const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
		const h = { authorization: `Bearer ${KEY}` };
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

const cmds = { spawn, rate, burst, first };
if (!cmds[cmd]) die(`unknown command ${cmd}; one of ${Object.keys(cmds).join(' ')}`);
await cmds[cmd]();
