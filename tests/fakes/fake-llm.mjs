#!/usr/bin/env node
// fake-llm.mjs - a scripted stand-in for LLM providers, for tests and the
// bench.  One port, three wire styles (OpenAI chat-completions, Anthropic
// Messages, Gemini generateContent), streaming and not.  No dependencies.
//
//   node tests/fakes/fake-llm.mjs --port 0 [--latency-ms N] [--key SECRET]
//                                 [--record-limit N] [--host ADDR]
//
// The first line on stdout is "listening <port>"; nothing else is printed
// there.  The contract (steps, control routes) is in tests/fakes/README.md.

import http from 'node:http';
import { randomBytes } from 'node:crypto';

// ---- command line -----------------------------------------------------------

function parseArgs(argv) {
	const o = { port: 0, host: '127.0.0.1', latencyMs: 0, key: null, recordLimit: 100000 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const eq = a.indexOf('=');
		const name = eq > 0 ? a.slice(0, eq) : a;
		const val = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
		switch (name) {
		case '--port': o.port = Number(val()); break;
		case '--host': o.host = val(); break;
		case '--latency-ms': o.latencyMs = Number(val()); break;
		case '--key': o.key = val(); break;
		case '--record-limit': o.recordLimit = Number(val()); break;
		case '-h': case '--help':
			process.stderr.write('usage: fake-llm.mjs --port N [--latency-ms N] [--key SECRET] [--record-limit N] [--host ADDR]\n');
			process.exit(0);
			break;
		default:
			process.stderr.write(`fake-llm: unknown argument ${a}\n`);
			process.exit(2);
		}
	}
	for (const k of ['port', 'latencyMs', 'recordLimit']) {
		if (!Number.isInteger(o[k]) || o[k] < 0) {
			process.stderr.write(`fake-llm: bad value for ${k}\n`);
			process.exit(2);
		}
	}
	return o;
}

const OPT = parseArgs(process.argv.slice(2));
const MAX_BODY = 64 * 1024 * 1024;

// ---- state ------------------------------------------------------------------

const queues = new Map();	// model -> [step, ...]
const scripted = new Set();	// every model ever scripted (for GET .../models)
let records = [];		// every provider request, oldest first
let recordHead = 0;		// records[recordHead..] are live (cheap drop of the oldest)

function record(rec) {
	records.push(rec);
	if (OPT.recordLimit > 0 && records.length - recordHead > OPT.recordLimit) {
		recordHead++;
		if (recordHead > 4096 && recordHead * 2 > records.length) {
			records = records.slice(recordHead);
			recordHead = 0;
		}
	}
}

function nextStep(model) {
	const q = queues.get(model);
	if (!q || q.length === 0) return null;
	const s = q.shift();
	if (q.length === 0) queues.delete(model);
	return s;
}

// ---- small helpers -----------------------------------------------------------

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function rid(n) {
	const b = randomBytes(n);
	let s = '';
	for (let i = 0; i < n; i++) s += ALNUM[b[i] % 62];
	return s;
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const parts = [];
		let len = 0;
		req.on('data', (c) => {
			len += c.length;
			if (len > MAX_BODY) {
				reject(new Error('body too large'));
				req.destroy();
				return;
			}
			parts.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
		req.on('error', reject);
	});
}

function sendJson(res, status, obj, extra) {
	if (res.destroyed) return;
	const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
	const h = {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(body),
		...(extra || {}),
	};
	res.writeHead(status, h);
	res.end(body);
}

function later(ms, fn) {
	if (ms > 0) setTimeout(fn, ms);
	else fn();
}

// Pieces of a text as a provider would stream them: a word with its
// leading white space, so that joining the pieces gives the text back.
function pieces(text) {
	if (!text) return [];
	return text.match(/\s*\S+|\s+$/g) || [text];
}

// Small fragments of a string (by code point), for split_tool_args.
function fragments(s, size) {
	const cps = Array.from(s);
	const out = [];
	for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
	return out.length ? out : [''];
}

// Characters of the text in a message list: every string value except
// those of "role" and "type" keys.
function textChars(v, key) {
	if (typeof v === 'string') return key === 'role' || key === 'type' ? 0 : v.length;
	if (Array.isArray(v)) return v.reduce((n, x) => n + textChars(x, null), 0);
	if (v && typeof v === 'object') {
		let n = 0;
		for (const k of Object.keys(v)) n += textChars(v[k], k);
		return n;
	}
	return 0;
}

// ---- the reply a step describes, independent of the wire style ---------------

// Returns {text, reasoning, toolCalls: [{id?, name, args (string), obj}],
// finish, usage: {input, output}} for a provider request.
function plan(step, lastUserText, inChars) {
	const s = step || {};
	const toolCalls = Array.isArray(s.tool_calls) ? s.tool_calls.map((tc) => {
		const raw = typeof tc.arguments === 'string';
		const args = raw ? tc.arguments : JSON.stringify(tc.arguments === undefined ? {} : tc.arguments);
		let obj;
		try { obj = JSON.parse(args); } catch { obj = args; }	// invalid JSON stays a string
		return { id: typeof tc.id === 'string' ? tc.id : null, name: String(tc.name ?? ''), args, obj };
	}) : [];
	let text;
	if (typeof s.text === 'string') text = s.text;
	else if (toolCalls.length) text = '';
	else text = `echo: ${lastUserText}`;
	const reasoning = typeof s.reasoning === 'string' ? s.reasoning : '';
	const outChars = text.length + reasoning.length +
	    toolCalls.reduce((n, t) => n + t.name.length + t.args.length, 0);
	const u = s.usage && typeof s.usage === 'object' ? s.usage : {};
	return {
		text, reasoning, toolCalls,
		finish: typeof s.finish_reason === 'string' ? s.finish_reason : null,
		omitFinish: s.omit_finish_reason === true,
		usage: {
			input: Number.isFinite(u.input_tokens) ? u.input_tokens : Math.ceil(inChars / 4),
			output: Number.isFinite(u.output_tokens) ? u.output_tokens : Math.ceil(outChars / 4),
		},
		splitArgs: s.split_tool_args === true,
	};
}

// ---- streaming ----------------------------------------------------------------

// Writes SSE events (strings, each a whole event) with the step's timing and
// breakage.  A dropped stream writes the first n events, then destroys the
// socket once they are flushed.
function streamEvents(res, events, step, contentType) {
	const s = step || {};
	if (res.destroyed) return;
	res.writeHead(200, {
		'content-type': contentType || 'text/event-stream',
		'cache-control': 'no-cache',
	});
	const brk = Number.isInteger(s.break_after_chunks) && s.break_after_chunks >= 0 ?
	    s.break_after_chunks : -1;
	const list = brk >= 0 ? events.slice(0, brk) : events;
	// The last write: a dropped stream destroys the socket once the data
	// before it is flushed (an SSE comment flushes the headers when n is 0).
	const last = (data) => {
		if (brk < 0) {
			res.end(data);
			return;
		}
		res.write(data || ':\n\n', () => res.socket && res.socket.destroy());
	};
	const delay = Number.isFinite(s.chunk_delay_ms) && s.chunk_delay_ms > 0 ? s.chunk_delay_ms : 0;
	if (!delay || list.length < 2) {
		last(list.join(''));
		return;
	}
	let i = 0;
	const tick = () => {
		if (res.destroyed) return;
		if (i < list.length - 1) {
			res.write(list[i++]);
			setTimeout(tick, delay);
		} else {
			last(list[i]);
		}
	};
	tick();
}

const sse = (obj) => `data: ${JSON.stringify(obj)}\n\n`;
const sseNamed = (ev, obj) => `event: ${ev}\ndata: ${JSON.stringify(obj)}\n\n`;
const sseCrlf = (obj) => `data: ${JSON.stringify(obj)}\r\n\r\n`;

// ---- OpenAI chat-completions ----------------------------------------------------

const openai = {
	name: 'openai',
	error(status, message) {
		const t = {
			400: ['invalid_request_error', null], 401: ['invalid_request_error', 'invalid_api_key'],
			403: ['permission_denied', null], 404: ['invalid_request_error', 'model_not_found'],
			429: ['rate_limit_exceeded', 'rate_limit_exceeded'],
		}[status] || ['server_error', null];
		return { error: { message, type: t[0], param: null, code: t[1] } };
	},
	keyOk(req) {
		return req.headers.authorization === `Bearer ${OPT.key}`;
	},
	model(body) { return body.model; },
	lastUserText(body) { return lastText(body.messages, (m) => m.role === 'user', contentText); },
	inChars(body) { return textChars(body.messages, null); },
	wantsStream(body) { return body.stream === true; },
	finish(p) {
		if (p.finish) return p.finish;
		return p.toolCalls.length ? 'tool_calls' : 'stop';
	},
	usage(p) {
		return { prompt_tokens: p.usage.input, completion_tokens: p.usage.output,
			total_tokens: p.usage.input + p.usage.output };
	},
	reply(model, p) {
		const msg = { role: 'assistant', content: p.text || (p.toolCalls.length ? null : ''), refusal: null };
		if (p.reasoning) msg.reasoning_content = p.reasoning;
		if (p.toolCalls.length) {
			msg.tool_calls = p.toolCalls.map((t) => ({
				id: t.id || `call_${rid(24)}`, type: 'function',
				function: { name: t.name, arguments: t.args },
			}));
		}
		const choice = { index: 0, message: msg, logprobs: null };
		if (!p.omitFinish) choice.finish_reason = this.finish(p);
		return {
			id: `chatcmpl-${rid(29)}`, object: 'chat.completion',
			created: Math.floor(Date.now() / 1000), model,
			choices: [choice], usage: this.usage(p),
		};
	},
	events(model, p, body) {
		const id = `chatcmpl-${rid(29)}`;
		const created = Math.floor(Date.now() / 1000);
		const withUsage = body.stream_options && body.stream_options.include_usage === true;
		const chunk = (delta, finish) => {
			const c = { id, object: 'chat.completion.chunk', created, model,
				choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
			if (withUsage) c.usage = null;
			return sse(c);
		};
		const ev = [chunk({ role: 'assistant', content: '' }, null)];
		for (const r of pieces(p.reasoning)) ev.push(chunk({ reasoning_content: r }, null));
		for (const t of pieces(p.text)) ev.push(chunk({ content: t }, null));
		p.toolCalls.forEach((t, index) => {
			ev.push(chunk({ tool_calls: [{ index, id: t.id || `call_${rid(24)}`, type: 'function',
				function: { name: t.name, arguments: '' } }] }, null));
			for (const f of p.splitArgs ? fragments(t.args, 4) : [t.args])
				ev.push(chunk({ tool_calls: [{ index, function: { arguments: f } }] }, null));
		});
		if (!p.omitFinish) ev.push(chunk({}, this.finish(p)));
		if (withUsage) {
			ev.push(sse({ id, object: 'chat.completion.chunk', created, model, choices: [],
				usage: this.usage(p) }));
		}
		ev.push('data: [DONE]\n\n');
		return ev;
	},
	garbage(stream) {
		return stream ? 'data: {"id": "chatcmpl-garbage", "choices": [{\n\nthis is not an event stream\n\n' :
		    '<html><body>502 Bad Gateway</body></html> {"choices": [';
	},
	models(list) {
		return { object: 'list', data: list.map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake-llm' })) };
	},
};

// ---- Anthropic Messages ------------------------------------------------------------

function anthropicStop(p) {
	const map = { length: 'max_tokens', stop: 'end_turn', tool_calls: 'tool_use' };
	if (p.finish) return map[p.finish] || p.finish;
	return p.toolCalls.length ? 'tool_use' : 'end_turn';
}

const anthropic = {
	name: 'anthropic',
	error(status, message) {
		const type = {
			400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
			404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 529: 'overloaded_error',
		}[status] || 'api_error';
		return { type: 'error', error: { type, message } };
	},
	keyOk(req) { return req.headers['x-api-key'] === OPT.key; },
	check(req) {
		return req.headers['anthropic-version'] ? null : 'anthropic-version: header is required';
	},
	model(body) { return body.model; },
	lastUserText(body) { return lastText(body.messages, (m) => m.role === 'user', contentText); },
	inChars(body) { return textChars(body.messages, null) + textChars(body.system, null); },
	wantsStream(body) { return body.stream === true; },
	blocks(p) {
		const out = [];
		if (p.reasoning) out.push({ type: 'thinking', thinking: p.reasoning, signature: `sig_${rid(32)}` });
		if (p.text || !p.toolCalls.length) out.push({ type: 'text', text: p.text });
		for (const t of p.toolCalls)
			out.push({ type: 'tool_use', id: t.id || `toolu_${rid(24)}`, name: t.name, input: t.obj, _args: t.args });
		return out;
	},
	reply(model, p) {
		const content = this.blocks(p).map((b) => { const c = { ...b }; delete c._args; return c; });
		return {
			id: `msg_${rid(24)}`, type: 'message', role: 'assistant', model, content,
			stop_reason: p.omitFinish ? null : anthropicStop(p), stop_sequence: null,
			usage: { input_tokens: p.usage.input, output_tokens: p.usage.output },
		};
	},
	events(model, p) {
		const ev = [];
		ev.push(sseNamed('message_start', { type: 'message_start', message: {
			id: `msg_${rid(24)}`, type: 'message', role: 'assistant', model, content: [],
			stop_reason: null, stop_sequence: null,
			usage: { input_tokens: p.usage.input, output_tokens: 1 } } }));
		ev.push(sseNamed('ping', { type: 'ping' }));
		this.blocks(p).forEach((b, index) => {
			const delta = (d) => ev.push(sseNamed('content_block_delta', { type: 'content_block_delta', index, delta: d }));
			if (b.type === 'thinking') {
				ev.push(sseNamed('content_block_start', { type: 'content_block_start', index,
					content_block: { type: 'thinking', thinking: '', signature: '' } }));
				for (const r of pieces(b.thinking)) delta({ type: 'thinking_delta', thinking: r });
				delta({ type: 'signature_delta', signature: b.signature });
			} else if (b.type === 'text') {
				ev.push(sseNamed('content_block_start', { type: 'content_block_start', index,
					content_block: { type: 'text', text: '' } }));
				for (const t of pieces(b.text)) delta({ type: 'text_delta', text: t });
			} else {
				ev.push(sseNamed('content_block_start', { type: 'content_block_start', index,
					content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }));
				for (const f of p.splitArgs ? fragments(b._args, 4) : [b._args])
					delta({ type: 'input_json_delta', partial_json: f });
			}
			ev.push(sseNamed('content_block_stop', { type: 'content_block_stop', index }));
		});
		ev.push(sseNamed('message_delta', { type: 'message_delta',
			delta: { stop_reason: p.omitFinish ? null : anthropicStop(p), stop_sequence: null },
			usage: { input_tokens: p.usage.input, output_tokens: p.usage.output } }));
		ev.push(sseNamed('message_stop', { type: 'message_stop' }));
		return ev;
	},
	garbage(stream) {
		return stream ? 'event: message_start\ndata: {"type": "message_start", "message": {\n\nnot an event stream at all\n\n' :
		    '<html><body>502 Bad Gateway</body></html> {"content": [';
	},
	models(list) {
		const data = list.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
		return { data, has_more: false, first_id: data.length ? data[0].id : null,
			last_id: data.length ? data[data.length - 1].id : null };
	},
};

// ---- Gemini generateContent ------------------------------------------------------------

function geminiFinish(p) {
	const map = { length: 'MAX_TOKENS', stop: 'STOP', tool_calls: 'STOP', max_tokens: 'MAX_TOKENS' };
	if (p.finish) return map[p.finish] || p.finish;
	return 'STOP';
}

const gemini = {
	name: 'gemini',
	error(status, message) {
		const st = {
			400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
			429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
		}[status] || 'UNKNOWN';
		return { error: { code: status, message, status: st } };
	},
	keyOk(req, url) {
		return req.headers['x-goog-api-key'] === OPT.key || url.searchParams.get('key') === OPT.key;
	},
	lastUserText(body) {
		return lastText(body.contents, (m) => m.role === 'user' || m.role === undefined,
			(m) => partsText(m.parts));
	},
	inChars(body) { return textChars(body.contents, null) + textChars(body.systemInstruction, null); },
	usage(p) {
		return { promptTokenCount: p.usage.input, candidatesTokenCount: p.usage.output,
			totalTokenCount: p.usage.input + p.usage.output };
	},
	parts(p) {
		const out = [];
		if (p.reasoning) out.push({ text: p.reasoning, thought: true });
		if (p.text) out.push({ text: p.text });
		for (const t of p.toolCalls) {
			const fc = { name: t.name, args: t.obj };
			if (t.id) fc.id = t.id;
			out.push({ functionCall: fc });
		}
		if (!out.length) out.push({ text: '' });
		return out;
	},
	reply(model, p) {
		const cand = { content: { role: 'model', parts: this.parts(p) }, index: 0 };
		if (!p.omitFinish) cand.finishReason = geminiFinish(p);
		return { candidates: [cand], usageMetadata: this.usage(p), modelVersion: model, responseId: rid(20) };
	},
	chunks(model, p) {
		const responseId = rid(20);
		const out = [];
		const add = (parts) => out.push({ candidates: [{ content: { role: 'model', parts }, index: 0 }],
			modelVersion: model, responseId });
		for (const r of pieces(p.reasoning)) add([{ text: r, thought: true }]);
		for (const t of pieces(p.text)) add([{ text: t }]);
		for (const t of p.toolCalls) {
			const fc = { name: t.name, args: t.obj };
			if (t.id) fc.id = t.id;
			add([{ functionCall: fc }]);
		}
		if (!out.length) add([{ text: '' }]);
		const last = out[out.length - 1];
		if (!p.omitFinish) last.candidates[0].finishReason = geminiFinish(p);
		last.usageMetadata = this.usage(p);
		return out;
	},
	events(model, p) { return this.chunks(model, p).map(sseCrlf); },
	garbage(stream) {
		return stream ? 'data: {"candidates": [{"content": \r\n\r\nnot an event stream\r\n\r\n' :
		    '<html><body>502 Bad Gateway</body></html> {"candidates": [';
	},
	models(list) {
		return { models: list.map((id) => ({ name: `models/${id}`, displayName: id,
			supportedGenerationMethods: ['generateContent', 'streamGenerateContent'] })) };
	},
};

function contentText(m) {
	const c = m.content;
	if (typeof c === 'string') return c;
	if (!Array.isArray(c)) return null;
	const t = c.filter((b) => b && (b.type === 'text' || b.type === 'input_text') && typeof b.text === 'string');
	return t.length ? t.map((b) => b.text).join('\n') : null;
}

function partsText(parts) {
	if (!Array.isArray(parts)) return null;
	const t = parts.filter((x) => x && typeof x.text === 'string' && !x.thought);
	return t.length ? t.map((x) => x.text).join('\n') : null;
}

// The text of the last message that matches isUser and has text (a message
// with only tool results has none).
function lastText(msgs, isUser, textOf) {
	if (!Array.isArray(msgs)) return '';
	for (let i = msgs.length - 1; i >= 0; i--) {
		const m = msgs[i];
		if (!m || typeof m !== 'object' || !isUser(m)) continue;
		const t = textOf(m);
		if (t !== null) return t;
	}
	return '';
}

// ---- routing ----------------------------------------------------------------------------

function styleOf(method, path, req) {
	if (method === 'POST' && /\/chat\/completions$/.test(path)) return { style: openai };
	if (method === 'POST' && /\/messages$/.test(path)) return { style: anthropic };
	const g = /\/models\/([^/].*):(generateContent|streamGenerateContent)$/.exec(path);
	if (method === 'POST' && g) {
		let model;
		try { model = decodeURIComponent(g[1]); } catch { model = g[1]; }
		return { style: gemini, model, stream: g[2] === 'streamGenerateContent' };
	}
	if (method === 'GET' && /\/models$/.test(path)) {
		if (/\/v1beta\//.test(path) || req.headers['x-goog-api-key']) return { style: gemini, list: true };
		if (req.headers['anthropic-version'] || req.headers['x-api-key']) return { style: anthropic, list: true };
		return { style: openai, list: true };
	}
	return null;
}

async function handleControl(req, res, url) {
	const path = url.pathname;
	if (req.method === 'POST' && path === '/__fake/script') {
		let body;
		try { body = JSON.parse(await readBody(req)); } catch {
			return sendJson(res, 400, { error: 'body is not JSON' });
		}
		if (!body || typeof body.model !== 'string' || !Array.isArray(body.steps) ||
		    body.steps.some((s) => !s || typeof s !== 'object' || Array.isArray(s)))
			return sendJson(res, 400, { error: 'want {"model": string, "steps": [object, ...]}' });
		scripted.add(body.model);
		const q = queues.get(body.model) || [];
		q.push(...body.steps);
		queues.set(body.model, q);
		return sendJson(res, 200, { ok: true, model: body.model, queued: q.length });
	}
	if (req.method === 'GET' && path === '/__fake/requests') {
		const m = url.searchParams.get('model');
		let list = records.slice(recordHead);
		if (m !== null) list = list.filter((r) => r.model === m);
		return sendJson(res, 200, list.map(({ model, ...r }) => r));
	}
	if (req.method === 'POST' && path === '/__fake/reset') {
		await readBody(req).catch(() => '');
		queues.clear();
		scripted.clear();
		records = [];
		recordHead = 0;
		return sendJson(res, 200, { ok: true });
	}
	if (req.method === 'GET' && path === '/__fake/script') {
		const out = {};
		for (const [m, q] of queues) out[m] = q;
		return sendJson(res, 200, out);
	}
	return sendJson(res, 404, { error: `no such control route ${req.method} ${path}` });
}

async function handleProvider(req, res, url, route) {
	const S = route.style;
	let raw;
	try { raw = await readBody(req); } catch {
		return sendJson(res, 413, S.error(413, 'request body too large'));
	}
	let body = null;
	let bad = null;
	if (!route.list) {
		try { body = JSON.parse(raw); } catch { bad = 'request body is not valid JSON'; }
		if (!bad && (!body || typeof body !== 'object' || Array.isArray(body))) bad = 'request body must be a JSON object';
	}
	const model = route.list ? '' : route.model ?? (body && typeof body.model === 'string' ? body.model : '');
	record({ style: S.name, path: url.pathname, query: Object.fromEntries(url.searchParams),
		headers: req.headers, body: bad ? null : body, at_ms: Date.now(), model });

	if (OPT.key !== null && !S.keyOk(req, url))
		return sendJson(res, 401, S.error(401, 'invalid or missing API key'));
	if (!bad && S.check) bad = S.check(req);
	if (!bad && !route.list && !route.model && !model) bad = 'model: field required';
	if (bad) return sendJson(res, 400, S.error(400, bad));

	if (route.list) {
		return later(OPT.latencyMs, () => sendJson(res, 200, S.models([...scripted])));
	}

	const step = nextStep(model);
	const stream = route.stream !== undefined ? route.stream : S.wantsStream(body);
	const sseMode = route.style !== gemini || url.searchParams.get('alt') === 'sse';
	const wait = OPT.latencyMs + (step && Number.isFinite(step.delay_ms) && step.delay_ms > 0 ? step.delay_ms : 0);

	later(wait, () => {
		if (res.destroyed) return;
		const s = step || {};
		if (Number.isInteger(s.status) && s.status !== 200) {
			const extra = {};
			if (s.retry_after !== undefined && s.retry_after !== null) extra['retry-after'] = String(s.retry_after);
			const eb = s.error_body !== undefined ? s.error_body :
			    S.error(s.status, `scripted error ${s.status} for model ${model}`);
			return sendJson(res, s.status, eb, extra);
		}
		if (s.garbage === true) {
			const g = S.garbage(stream);
			if (stream) return streamEvents(res, [g], null, sseMode ? 'text/event-stream' : 'application/json');
			return sendJson(res, 200, g);
		}
		const p = plan(step, S.lastUserText(body), S.inChars(body));
		if (!stream) return sendJson(res, 200, S.reply(model, p));
		if (!sseMode) {
			// Gemini's streamGenerateContent without alt=sse: one JSON array.
			const arr = S.chunks(model, p).map((c) => JSON.stringify(c));
			const ev = arr.map((c, i) => (i === 0 ? '[' : ',\r\n') + c);
			ev.push(']');
			return streamEvents(res, ev, s, 'application/json');
		}
		return streamEvents(res, S.events(model, p, body), s);
	});
}

const server = http.createServer({ keepAlive: true }, (req, res) => {
	let url;
	try { url = new URL(req.url, 'http://fake'); } catch {
		return sendJson(res, 400, { error: 'bad request target' });
	}
	const done = (e) => {
		process.stderr.write(`fake-llm: ${e && e.stack || e}\n`);
		if (!res.headersSent) sendJson(res, 500, { error: 'fake-llm internal error' });
		else res.destroy();
	};
	if (url.pathname.startsWith('/__fake/')) return handleControl(req, res, url).catch(done);
	const route = styleOf(req.method, url.pathname, req);
	if (!route) {
		return sendJson(res, 404, openai.error(404, `no route for ${req.method} ${url.pathname}`));
	}
	return handleProvider(req, res, url, route).catch(done);
});

server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.on('clientError', (err, socket) => {
	if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
	else socket.destroy();
});

server.listen({ port: OPT.port, host: OPT.host, backlog: 4096 }, () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
	process.on(sig, () => process.exit(0));
}
