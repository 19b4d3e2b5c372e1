#!/usr/bin/env node
// turnload.mjs - the load generator behind tests/bench/turns.sh: agent
// turns through the gateway, each next to the same request sent straight
// to the fake LLM provider (tests/fakes/fake-llm.mjs) as its floor.
// Plain node:http, no dependencies.  Every command prints one JSON object
// on stdout (spawn: one agent id a line); problems go to stderr.
//
//   spawn     --gw H:P --base URL --model M --prefix P --n N [--conc 8]
//   probe     --gw H:P --agent ID [--stream | --openai]
//   overhead  --gw H:P --agent ID --fake H:P --model M --n N [--warm W]
//   paired    --gw H:P --agent ID --n N [--warm W]
//   rate      --gw H:P --agents ID,.. --fake H:P --model M --conns C
//             --secs S [--warm S] [--only floor|turns|openai] [--reset]
//   storm     --gw H:P --agents-file F [--pids name:pid,..] [--timeout S]
//   firstbyte --gw H:P --agent ID --fake H:P --model M --n N --delay MS
//
// "fake H:P" is the fake's control address; the floor replays, with the
// model renamed to MODEL-floor (same length class, its own script queue),
// the last request the runtime sent for MODEL, so the floor carries the
// same body (history included), the same "stream" flag and the same key.

import http from 'node:http';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

// ---- command line ---------------------------------------------------------

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
	process.stderr.write(`turnload: ${msg}\n`);
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

const now = () => performance.now();			// ms, monotonic
const wall = () => performance.timeOrigin + performance.now();	// ms, Unix

// ---- HTTP -----------------------------------------------------------------

// One request; resolves {status, body (string), ms} once the whole
// response has arrived (an SSE response: once the server ends it), or
// {status: 0} after --req-timeout ms (15000): a request the stack loses
// is an error of its run, not a bench that never ends.
const REQ_TIMEOUT_MS = Number(opt['req-timeout'] || 15000);

function request(agent, hp, method, path, body, headers) {
	return new Promise((resolve) => {
		const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		const h = { ...(headers || {}) };
		if (data) {
			h['content-type'] = 'application/json';
			h['content-length'] = data.length;
		}
		const t0 = now();
		const req = http.request({ agent, host: hp.host, port: hp.port, method, path, headers: h }, (res) => {
			const parts = [];
			res.on('data', (c) => parts.push(c));
			res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8'), ms: now() - t0 }));
			res.on('error', (e) => resolve({ status: 0, body: String(e), ms: now() - t0 }));
		});
		req.on('error', (e) => resolve({ status: 0, body: String(e.message || e), ms: now() - t0 }));
		req.setTimeout(REQ_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQ_TIMEOUT_MS} ms: ${method} ${path}`)));
		if (data) req.write(data);
		req.end();
	});
}

function pct(sorted, p) {
	if (sorted.length === 0) return null;
	const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1));
	return sorted[i];
}

function stats(xs) {
	const s = [...xs].sort((a, b) => a - b);
	const r = (v) => (v === null ? null : Math.round(v * 1000) / 1000);
	return { n: s.length, p50: r(pct(s, 50)), p90: r(pct(s, 90)), p99: r(pct(s, 99)),
		min: r(s[0] ?? null), max: r(s[s.length - 1] ?? null) };
}

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

const gw = () => hostPort(need('gw'));
const turnPath = (id, stream) => `/api/agents/${id}/message${stream ? '/stream' : ''}`;
// The same turn through the OpenAI-compatible edge: the agent named by
// its id as the model (resolved with agents.list), the message as the
// one user message.
const oaiBody = (id) => ({ model: id, messages: [{ role: 'user', content: 'ping' }] });

// The last provider request the runtime made for MODEL, ready to replay
// against the fake as MODEL-floor: {path, body, headers}.
async function lastProviderRequest(ka, fake, model) {
	const r = await request(ka, fake, 'GET', `/__fake/requests?model=${encodeURIComponent(model)}`);
	if (r.status !== 200) return null;
	let recs;
	try { recs = JSON.parse(r.body); } catch { return null; }
	if (!Array.isArray(recs) || recs.length === 0) return null;
	const rec = recs[recs.length - 1];
	if (!rec.body) return null;
	const body = { ...rec.body, model: `${model}-floor` };
	const headers = {};
	for (const k of ['authorization', 'x-api-key', 'anthropic-version', 'accept'])
		if (rec.headers[k] !== undefined) headers[k] = rec.headers[k];
	return { path: rec.path, body: JSON.stringify(body), headers, stream: body.stream === true,
		bytes: Buffer.byteLength(JSON.stringify(rec.body)), at_ms: rec.at_ms };
}

// ---- spawn ----------------------------------------------------------------

async function spawn() {
	const g = gw();
	const n = Number(need('n'));
	const conc = Number(opt.conc || 8);
	const base = need('base');
	const model = need('model');
	const prefix = need('prefix');
	const ka = new http.Agent({ keepAlive: true, maxSockets: conc });
	const ids = new Array(n);
	let next = 0;
	let failed = null;
	const t0 = now();
	const worker = async () => {
		while (next < n && !failed) {
			const i = next++;
			const toml = `name = "${prefix}-${i + 1}"\n[model]\nprovider = "openai"\nmodel = "${model}"\n` +
			    `base_url = "${base}"\napi_key_env = "BENCH_FAKE_API_KEY"\n`;
			const r = await request(ka, g, 'POST', '/api/agents', { manifest_toml: toml });
			let id = null;
			try { const b = JSON.parse(r.body); id = b.agent_id || b.id || (b.agent && b.agent.id); } catch { /* below */ }
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
	process.stderr.write(`turnload: spawned ${n} agents in ${((now() - t0) / 1000).toFixed(1)} s\n`);
	process.stdout.write(ids.join('\n') + '\n');
}

// ---- probe: does the endpoint work yet? -------------------------------------

async function probe() {
	const g = gw();
	const ka = new http.Agent({ keepAlive: false });
	const r = opt.openai ?
	    await request(ka, g, 'POST', '/v1/chat/completions', oaiBody(need('agent'))) :
	    await request(ka, g, 'POST', turnPath(need('agent'), opt.stream), { message: 'probe' });
	let ok = r.status === 200;
	if (ok && opt.openai) ok = /"object":"chat\.completion"/.test(r.body);
	if (ok && opt.stream) ok = /event: done/.test(r.body);
	out({ status: r.status, ok, ms: Math.round(r.ms * 10) / 10, body: r.body.slice(0, 300) });
}

// ---- overhead: turn latency minus the provider's own ------------------------

// Pairs, one after the other on quiet connections: a blocking turn through
// the gateway, then the provider request that turn made, replayed straight
// to the fake.  overhead = turn - direct, per pair.
async function overhead() {
	const g = gw();
	const fake = hostPort(need('fake'));
	const id = need('agent');
	const model = need('model');
	const n = Number(need('n'));
	const warm = Number(opt.warm || 20);
	const kg = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const kf = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const kc = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const turn = [], direct = [], diff = [];
	let errors = 0, lastErr = '', bytes = 0, provCalls = 0, stream = null;
	for (let i = 0; i < warm + n; i++) {
		// Empty the fake's records, so what it holds after the turn is
		// exactly the provider calls this turn made.
		await request(kc, fake, 'POST', '/__fake/reset');
		const t = await request(kg, g, 'POST', turnPath(id), { message: 'ping' });
		if (t.status !== 200) {
			errors++;
			lastErr = `${t.status} ${t.body.slice(0, 200)}`;
			continue;
		}
		const recs = await request(kc, fake, 'GET', `/__fake/requests?model=${model}`);
		let nCalls = 0;
		try { nCalls = JSON.parse(recs.body).length; } catch { /* 0 */ }
		const rec = await lastProviderRequest(kc, fake, model);
		if (!rec) {
			errors++;
			lastErr = 'no provider request recorded';
			continue;
		}
		stream = rec.stream;
		const d = await request(kf, fake, 'POST', rec.path, rec.body, rec.headers);
		if (d.status !== 200) {
			errors++;
			lastErr = `direct ${d.status} ${d.body.slice(0, 200)}`;
			continue;
		}
		if (i < warm) continue;
		turn.push(t.ms);
		direct.push(d.ms);
		diff.push(t.ms - d.ms);
		bytes = rec.bytes;
		provCalls += nCalls;
	}
	for (const k of [kg, kf, kc]) k.destroy();
	out({ turn: stats(turn), direct: stats(direct), overhead: stats(diff), errors, last_error: lastErr,
		provider_body_bytes: bytes, provider_calls_per_turn: turn.length ? provCalls / turn.length : null,
		stream_to_provider: stream });
}

// ---- paired: the same turn through both routes, request by request ------------

// The native route and /v1/chat/completions alternately on one keep-alive
// connection each, the same agent and message, the order swapped every
// pair: whatever the machine's load does during the run, both see it, so
// the difference per pair is the OpenAI edge's own cost.  The session is
// reset every 50 pairs (a turn costs more the longer its history).
async function paired() {
	const g = gw();
	const id = need('agent');
	const n = Number(need('n'));
	const warm = Number(opt.warm || 20);
	const kn = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const ko = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const kr = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const nat = [], oai = [], diff = [];
	let errors = 0, lastErr = '';
	const one = async (w) => {
		const r = w === 'native' ?
		    await request(kn, g, 'POST', turnPath(id), { message: 'ping' }) :
		    await request(ko, g, 'POST', '/v1/chat/completions', oaiBody(id));
		if (r.status !== 200) {
			errors++;
			lastErr = `${w} ${r.status} ${r.body.slice(0, 200)}`;
			return null;
		}
		return r.ms;
	};
	for (let i = 0; i < warm + n; i++) {
		if (i % 50 === 0)
			await request(kr, g, 'POST', `/api/agents/${id}/session/reset`);
		const order = i % 2 ? ['openai', 'native'] : ['native', 'openai'];
		const ms = {};
		for (const w of order) ms[w] = await one(w);
		if (i < warm || ms.native === null || ms.openai === null) continue;
		nat.push(ms.native);
		oai.push(ms.openai);
		diff.push(ms.openai - ms.native);
	}
	for (const k of [kn, ko, kr]) k.destroy();
	out({ native: stats(nat), openai: stats(oai), diff: stats(diff), errors, last_error: lastErr });
}

// ---- rate: closed loop, one connection per agent ------------------------------

async function closedLoop(conns, secs, warmSecs, fire) {
	const lat = [];
	let done = 0, total = 0, errors = 0, lastErr = '';
	let measuring = false, stop = false;
	const loop = async (c) => {
		while (!stop) {
			const r = await fire(c);
			if (stop) break;
			if (r.status !== 200) {
				errors++;
				lastErr = `${r.status} ${r.body.slice(0, 160)}`;
				if (r.status === 0) await new Promise((res) => setTimeout(res, 10));
			} else if (total++, measuring) {
				done++;
				lat.push(r.ms);
			}
		}
	};
	const loops = Array.from({ length: conns }, (_, c) => loop(c));
	await new Promise((res) => setTimeout(res, warmSecs * 1000));
	measuring = true;
	const t0 = now();
	await new Promise((res) => setTimeout(res, secs * 1000));
	measuring = false;
	const el = (now() - t0) / 1000;
	stop = true;
	await Promise.all(loops);
	return { rps: Math.round(done / el), done, total, latency_ms: stats(lat), errors, last_error: lastErr };
}

async function rate() {
	const g = gw();
	const fake = hostPort(need('fake'));
	const model = need('model');
	const ids = need('agents').split(',');
	const conns = Number(need('conns'));
	const secs = Number(need('secs'));
	const warmSecs = Number(opt.warm || 1);
	if (ids.length < conns) die(`rate: ${conns} connections need ${conns} agents`);
	const ctl = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const rec = await lastProviderRequest(ctl, fake, model);
	ctl.destroy();
	const res = {};
	const which = opt.only ? [opt.only] : ['floor', 'turns'];
	// Each run from empty sessions: a turn's cost grows with the history
	// it loads and saves, so two runs one after the other compare fairly.
	if (opt.reset) {
		const kr = new http.Agent({ keepAlive: true, maxSockets: 1 });
		for (const id of ids.slice(0, conns)) {
			const r = await request(kr, g, 'POST', `/api/agents/${id}/session/reset`);
			if (r.status !== 200) die(`rate: session reset of ${id}: ${r.status} ${r.body.slice(0, 160)}`);
		}
		kr.destroy();
	}
	for (const w of which) {
		const kas = Array.from({ length: conns }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
		if (w === 'floor') {
			if (!rec) { res.floor = null; continue; }
			res.floor = await closedLoop(conns, secs, warmSecs,
			    (c) => request(kas[c], fake, 'POST', rec.path, rec.body, rec.headers));
		} else if (w === 'openai') {
			res.openai = await closedLoop(conns, secs, warmSecs,
			    (c) => request(kas[c], g, 'POST', '/v1/chat/completions', oaiBody(ids[c])));
		} else {
			res.turns = await closedLoop(conns, secs, warmSecs,
			    (c) => request(kas[c], g, 'POST', turnPath(ids[c]), { message: 'ping' }));
		}
		for (const k of kas) k.destroy();
	}
	out({ conns, ...res });
}

// ---- SSE client ---------------------------------------------------------------

// One streaming turn on a fresh connection.  Resolves {status, first (Unix
// ms of the first chunk event), end (Unix ms), done (saw event done),
// error (an error event or a transport error), text}.
function streamTurn(agent, hp, id, message) {
	return new Promise((resolve) => {
		const data = Buffer.from(JSON.stringify({ message }));
		const r = { status: 0, sent: wall(), first: null, end: null, done: false, error: null, text: '' };
		const req = http.request({ agent, host: hp.host, port: hp.port, method: 'POST', path: turnPath(id, true),
			headers: { 'content-type': 'application/json', 'content-length': data.length, accept: 'text/event-stream' } }, (res) => {
			r.status = res.statusCode;
			let buf = '';
			res.setEncoding('utf8');
			res.on('data', (c) => {
				if (r.first === null && r.status === 200) {
					// Time-stamp before parsing; kept only if it holds a chunk.
					const t = wall();
					buf += c;
					if (/(^|\n)event: chunk\n/.test(buf)) r.first = t;
				} else {
					buf += c;
				}
				let k;
				while ((k = buf.indexOf('\n\n')) >= 0) {
					const ev = buf.slice(0, k);
					buf = buf.slice(k + 2);
					const m = /^event: (\S+)$/m.exec(ev);
					const d = /^data: (.*)$/m.exec(ev);
					if (!m) continue;
					if (m[1] === 'chunk' && d) {
						try { r.text += JSON.parse(d[1]).content || ''; } catch { /* ignore */ }
					} else if (m[1] === 'done') {
						r.done = true;
					} else if (m[1] === 'error') {
						r.error = d ? d[1].slice(0, 200) : 'error event';
					}
				}
			});
			res.on('end', () => {
				r.end = wall();
				if (r.status !== 200 && !r.error) r.error = `${r.status} ${buf.slice(0, 200)}`;
				resolve(r);
			});
			res.on('error', (e) => { r.end = wall(); r.error = String(e.message || e); resolve(r); });
		});
		req.on('error', (e) => { r.end = wall(); r.error = String(e.message || e); resolve(r); });
		req.setTimeout(Number(opt.timeout || 30) * 1000, () => req.destroy(new Error('client timeout')));
		req.end(data);
	});
}

// ---- memory of a process ------------------------------------------------------

function rssKb(pid) {
	try {
		const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : null;
	} catch { return null; }
}

function pssKb(pid) {
	try {
		const m = /^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
		return m ? Number(m[1]) : null;
	} catch { return null; }
}

function threads(pid) {
	try {
		const m = /Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : null;
	} catch { return null; }
}

// ---- storm: N concurrent streaming turns, one agent each --------------------------

async function storm() {
	const g = gw();
	const ids = fs.readFileSync(need('agents-file'), 'utf8').split('\n').filter(Boolean);
	const pids = (opt.pids && opt.pids !== true ? opt.pids.split(',') : []).map((s) => {
		const [name, pid] = s.split(':');
		return { name, pid: Number(pid) };
	});
	const mem = {};
	for (const p of pids) {
		mem[p.name] = { rss_before_kb: rssKb(p.pid), pss_before_kb: pssKb(p.pid), threads_before: threads(p.pid),
			rss_peak_kb: rssKb(p.pid), threads_peak: threads(p.pid) };
	}
	const sample = () => {
		for (const p of pids) {
			const m = mem[p.name];
			const r = rssKb(p.pid), t = threads(p.pid);
			if (r !== null && r > m.rss_peak_kb) m.rss_peak_kb = r;
			if (t !== null && t > m.threads_peak) m.threads_peak = t;
		}
	};
	const timer = setInterval(sample, 20);
	const ka = new http.Agent({ keepAlive: false, maxSockets: Infinity });
	const t0 = wall();
	const rs = await Promise.all(ids.map((id, i) => streamTurn(ka, g, id, `storm ${i}`)));
	const t1 = wall();
	sample();
	for (const p of pids) {
		const m = mem[p.name];
		m.pss_peak_kb = pssKb(p.pid);	// right after the last turn ended
		m.rss_after_kb = rssKb(p.pid);
	}
	await new Promise((res) => setTimeout(res, 1000));
	for (const p of pids) mem[p.name].rss_1s_after_kb = rssKb(p.pid);
	clearInterval(timer);
	const okRs = rs.filter((r) => r.done && !r.error);
	const ends = okRs.map((r) => r.end - t0);
	const firsts = okRs.filter((r) => r.first !== null).map((r) => r.first - t0);
	const errs = {};
	for (const r of rs) if (!(r.done && !r.error)) {
		const k = (r.error || `status ${r.status}, no done event`).slice(0, 120);
		errs[k] = (errs[k] || 0) + 1;
	}
	const completedBy = (s) => okRs.filter((r) => r.end - t0 <= s * 1000).length;
	// When the provider calls reached the fake, from the start: tells time
	// spent before the provider (gateway, bus, turn start) from after it.
	let arrivals = null;
	if (opt.fake && opt.model) {
		const fake = hostPort(opt.fake);
		const kc = new http.Agent({ keepAlive: false });
		const r = await request(kc, fake, 'GET', `/__fake/requests?model=${encodeURIComponent(opt.model)}`);
		try {
			const at = JSON.parse(r.body).map((x) => x.at_ms - t0).filter((x) => x >= -1);
			arrivals = stats(at);
		} catch { /* none */ }
	}
	let floor = null;
	if (opt.fake && opt.model) floor = await stormFloor(hostPort(opt.fake), opt.model, ids.length);
	out({ turns: ids.length, completed: okRs.length, wall_ms: Math.round(t1 - t0),
		completed_within_3s: completedBy(3), end_ms: stats(ends), first_chunk_ms: stats(firsts),
		provider_arrival_ms: arrivals, errors: errs, memory: mem, floor });
}

// The storm's floor: the same number of concurrent streaming requests,
// fresh connections, straight to the (slow) fake.
async function stormFloor(fake, model, n) {
	const ka = new http.Agent({ keepAlive: false, maxSockets: Infinity });
	const body = JSON.stringify({ model: `${model}-floor`, stream: true,
		messages: [{ role: 'user', content: 'storm' }] });
	const t0 = wall();
	const rs = await Promise.all(Array.from({ length: n }, () => request(ka, fake, 'POST', '/v1/chat/completions', body,
		{ authorization: 'Bearer x' }).then((r) => ({ ok: r.status === 200 && r.body.includes('[DONE]'), end: wall() }))));
	const ok = rs.filter((r) => r.ok);
	return { completed: ok.length, wall_ms: Math.round(wall() - t0), end_ms: stats(ok.map((r) => r.end - t0)) };
}

// ---- firstbyte: provider's first byte -> client's first SSE chunk --------------

// The fake streams a one-word answer with chunk_delay_ms DELAY between its
// events, so the content event leaves it DELAY ms after the response
// starts (at_ms + DELAY: at_ms is when it read the request, the same
// clock as ours).  delay = first chunk - (at_ms + DELAY), via the gateway
// and straight to the fake (the floor: timer lateness, at_ms rounding and
// loopback, which both share).
async function firstbyte() {
	const g = gw();
	const fake = hostPort(need('fake'));
	const id = need('agent');
	const model = need('model');
	const n = Number(need('n'));
	const delay = Number(need('delay'));
	const kc = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const kf = new http.Agent({ keepAlive: true, maxSockets: 1 });
	const step = { text: 'hello', chunk_delay_ms: delay };
	const viaGw = [], direct = [];
	let errors = 0, lastErr = '', template = null;
	const lastAt = async (m) => {
		const r = await request(kc, fake, 'GET', `/__fake/requests?model=${encodeURIComponent(m)}`);
		try { const a = JSON.parse(r.body); return a.length ? a[a.length - 1].at_ms : null; } catch { return null; }
	};
	for (let i = 0; i < n + 1; i++) {
		await request(kc, fake, 'POST', '/__fake/script', { model, steps: [step] });
		const r = await streamTurn(new http.Agent({ keepAlive: false }), g, id, 'first byte');
		const at = await lastAt(model);
		if (!r.done || r.error || r.first === null || at === null) {
			errors++;
			lastErr = r.error || `no chunk (status ${r.status})`;
			continue;
		}
		if (template === null) template = await lastProviderRequest(kc, fake, model);
		if (i > 0) viaGw.push(r.first - (at + delay));
		if (!template) continue;
		// The floor: the same request straight to the fake, streamed.
		const body = JSON.parse(template.body);
		body.stream = true;
		await request(kc, fake, 'POST', '/__fake/script', { model: body.model, steps: [step] });
		const d = await new Promise((resolve) => {
			const data = Buffer.from(JSON.stringify(body));
			const req = http.request({ agent: kf, host: fake.host, port: fake.port, method: 'POST', path: template.path,
				headers: { ...template.headers, 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
				let first = null, buf = '';
				res.setEncoding('utf8');
				res.on('data', (c) => {
					const t = wall();
					buf += c;
					if (first === null && /"content":"hello"/.test(buf)) first = t;
				});
				res.on('end', () => resolve({ first }));
			});
			req.on('error', () => resolve({ first: null }));
			req.end(data);
		});
		const atD = await lastAt(body.model);
		if (d.first !== null && atD !== null && i > 0) direct.push(d.first - (atD + delay));
	}
	for (const k of [kc, kf]) k.destroy();
	const sg = stats(viaGw), sd = stats(direct);
	out({ via_gateway: sg, direct: sd, delay_p50: sg.p50 !== null && sd.p50 !== null ? Math.round((sg.p50 - sd.p50) * 1000) / 1000 : null,
		chunk_delay_ms: delay, errors, last_error: lastErr, stream_to_provider: template ? template.stream : null });
}

const cmds = { spawn, probe, overhead, paired, rate, storm, firstbyte };
if (!cmds[cmd]) die(`usage: turnload.mjs ${Object.keys(cmds).join('|')} [--options]`);
cmds[cmd]().catch((e) => { process.stderr.write(`turnload: ${e && e.stack || e}\n`); process.exit(1); });
