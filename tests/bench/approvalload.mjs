#!/usr/bin/env node
// approvalload.mjs - the client behind tests/bench/approvals.sh: streamed
// turns that each run one shell_exec call, alternately on agent A (no
// approval needed) and agent B (shell_exec gated); on B's
// approval_requested event the client approves at once (POST
// /api/approvals/{id}/approve on a connection of its own).  Before each
// turn it resets the agent's session and queues the model's two steps
// at the fake (untimed).  Prints one
// JSON object: p50/p99 of each and the p50 of B - A per pair (what an
// approval granted at once adds to a turn).  Plain node:http.
//
//   node approvalload.mjs --gw H:P --fake H:P --a ID --b ID --model M --n N [--warm W]

import http from 'node:http';
import { performance } from 'node:perf_hooks';

const opt = {};
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2)
	opt[argv[i].replace(/^--/, '')] = argv[i + 1];
for (const k of ['gw', 'fake', 'a', 'b', 'model', 'n'])
	if (!opt[k]) {
		process.stderr.write(`approvalload: --${k} is required\n`);
		process.exit(2);
	}
const hp = (s) => [s.slice(0, s.lastIndexOf(':')),
    Number(s.slice(s.lastIndexOf(':') + 1))];
const [host, port] = hp(opt.gw);
const [fhost, fport] = hp(opt.fake);
const n = Number(opt.n), warm = Number(opt.warm || 10);

function post(agent, h, p, path, obj) {
	const body = JSON.stringify(obj);
	return new Promise((resolve) => {
		const req = http.request({ host: h, port: p, agent, method: 'POST',
		    path, timeout: 30000, headers: {
		    'content-type': 'application/json',
		    'content-length': Buffer.byteLength(body) } }, (res) => {
			let s = '';
			res.on('data', (c) => { s += c; });
			res.on('end', () => resolve({ status: res.statusCode,
			    body: s }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ status: 0, body: String(e) }));
		req.end(body);
	});
}

const kf = new http.Agent({ keepAlive: false });
const kd = new http.Agent({ keepAlive: true, maxSockets: 1 });

// One streamed turn; approves what it is asked to.  {ok, ms, why}.
function turn(agent, id) {
	const body = JSON.stringify({ message: 'run it' });
	return new Promise((resolve) => {
		const t0 = performance.now();
		let buf = '', done = false, approved = 0, why = '', seen = [];
		const req = http.request({ host, port, agent, method: 'POST',
		    path: `/api/agents/${id}/message/stream`, timeout: 30000,
		    headers: { 'content-type': 'application/json',
		    'content-length': Buffer.byteLength(body) } }, (res) => {
			res.setEncoding('utf8');
			res.on('data', (c) => {
				buf += c;
				let k;
				while ((k = buf.indexOf('\n\n')) >= 0) {
					const frame = buf.slice(0, k);
					buf = buf.slice(k + 2);
					const ev = /^event: (.*)$/m.exec(frame);
					const data = /^data: (.*)$/m.exec(frame);
					if (!ev)
						continue;
					seen.push(ev[1]);
					if (ev[1] === 'done')
						done = true;
					if (ev[1] === 'error')
						why = data ? data[1] : 'error';
					if (ev[1] === 'approval_requested' && data) {
						const a = JSON.parse(data[1]);
						approved++;
						post(kd, host, port,
						    `/api/approvals/${a.approval_id}/approve`,
						    {}).then((r) => {
							if (r.status !== 200)
								why = `approve ${r.status} ${r.body}`;
						});
					}
				}
			});
			res.on('end', () => resolve({ ok: done && !why &&
			    res.statusCode === 200, ms: performance.now() - t0,
			    approved, why: why || (done ? seen.join(',') :
			    `${res.statusCode} ${buf.slice(0, 200)}`) }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ ok: false, ms: 0, approved,
		    why: String(e) }));
		req.end(body);
	});
}

function pct(a, p) {
	if (a.length === 0)
		return null;
	const s = [...a].sort((x, y) => x - y);
	return Number(s[Math.min(s.length - 1, Math.floor(p * s.length))]
	    .toFixed(3));
}

const steps = { model: opt.model, steps: [
	{ tool_calls: [{ name: 'shell_exec', arguments: { command: 'true' } }] },
	{ text: 'Done.' }] };
const ka = new http.Agent({ keepAlive: true, maxSockets: 1 });
const kb = new http.Agent({ keepAlive: true, maxSockets: 1 });
const A = [], B = [], D = [];
let errors = 0, last = '';
for (let i = 0; i < warm + n; i++) {
	const order = i % 2 ? ['b', 'a'] : ['a', 'b'];
	const r = {};
	for (const w of order) {
		// A fresh session each turn: a long history would be
		// compacted, and the summary call would take a step.
		await post(kf, host, port, `/api/agents/${opt[w]}/session/reset`,
		    {});
		await post(kf, fhost, fport, '/__fake/script', steps);
		r[w] = await turn(w === 'a' ? ka : kb, opt[w]);
		if (!r[w].ok || r[w].approved !== (w === 'b' ? 1 : 0)) {
			errors++;
			last = `${w} approved ${r[w].approved}: ${r[w].why}`;
			r[w].ok = false;
		}
	}
	if (i < warm || !r.a.ok || !r.b.ok)
		continue;
	A.push(r.a.ms);
	B.push(r.b.ms);
	D.push(r.b.ms - r.a.ms);
}
for (const k of [ka, kb, kd, kf])
	k.destroy();
process.stdout.write(JSON.stringify({
	pairs: D.length, errors, last_error: last,
	without: { p50: pct(A, 0.5), p99: pct(A, 0.99) },
	with: { p50: pct(B, 0.5), p99: pct(B, 0.99) },
	added: { p50: pct(D, 0.5) },
}) + '\n');
