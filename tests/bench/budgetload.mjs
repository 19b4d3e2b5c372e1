#!/usr/bin/env node
// budgetload.mjs - the client behind tests/bench/budget.sh: blocking
// turns on two agents, alternately, one keep-alive connection each, the
// order swapped every pair, so that both see whatever the machine's load
// does: agent A runs without any limit, agent B under one.  Prints one
// JSON object: the p50/p99 turn latency of each and the p50 of B - A per
// pair (what an enforced budget adds to a turn).  Plain node:http.
//
//   node budgetload.mjs --gw H:P --a ID --b ID --n N [--warm W]

import http from 'node:http';
import { performance } from 'node:perf_hooks';

const opt = {};
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2)
	opt[argv[i].replace(/^--/, '')] = argv[i + 1];
for (const k of ['gw', 'a', 'b', 'n'])
	if (!opt[k]) {
		process.stderr.write(`budgetload: --${k} is required\n`);
		process.exit(2);
	}
const [host, port] = [opt.gw.slice(0, opt.gw.lastIndexOf(':')),
    Number(opt.gw.slice(opt.gw.lastIndexOf(':') + 1))];
const n = Number(opt.n), warm = Number(opt.warm || 20);

function turn(agent, id) {
	const body = JSON.stringify({ message: 'ping' });
	return new Promise((resolve) => {
		const t0 = performance.now();
		const req = http.request({ host, port, agent, method: 'POST',
		    path: `/api/agents/${id}/message`, timeout: 30000,
		    headers: { 'content-type': 'application/json',
		    'content-length': Buffer.byteLength(body) } }, (res) => {
			let s = '';
			res.on('data', (c) => { s += c; });
			res.on('end', () => resolve({ status: res.statusCode,
			    ms: performance.now() - t0, body: s }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ status: 0, ms: 0,
		    body: String(e) }));
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

const ka = new http.Agent({ keepAlive: true, maxSockets: 1 });
const kb = new http.Agent({ keepAlive: true, maxSockets: 1 });
const A = [], B = [], D = [];
let errors = 0, last = '';
for (let i = 0; i < warm + n; i++) {
	const order = i % 2 ? ['b', 'a'] : ['a', 'b'];
	const r = {};
	for (const w of order) {
		r[w] = await turn(w === 'a' ? ka : kb, opt[w]);
		if (r[w].status !== 200) {
			errors++;
			last = `${w} ${r[w].status} ${r[w].body.slice(0, 200)}`;
		}
	}
	if (i < warm || r.a.status !== 200 || r.b.status !== 200)
		continue;
	A.push(r.a.ms);
	B.push(r.b.ms);
	D.push(r.b.ms - r.a.ms);
}
ka.destroy();
kb.destroy();
process.stdout.write(JSON.stringify({
	pairs: D.length, errors, last_error: last,
	without: { p50: pct(A, 0.5), p99: pct(A, 0.99) },
	with: { p50: pct(B, 0.5), p99: pct(B, 0.99) },
	added: { p50: pct(D, 0.5) },
}) + '\n');
