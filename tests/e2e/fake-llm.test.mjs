// fake-llm.test.mjs - checks tests/fakes/fake-llm.mjs against the official
// `openai` npm client (OpenAI style) and against the documented event
// order of the Anthropic and Gemini styles (plain fetch).  Prints TAP with
//   node --test-reporter=tap tests/e2e/fake-llm.test.mjs
// Run by tests/integration/t1100-fake-llm.sh.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
// FAKE_LLM points the checks at another copy (to see them fail on a broken one).
const FAKE = process.env.FAKE_LLM || path.resolve(here, '../fakes/fake-llm.mjs');

// ---- helpers ------------------------------------------------------------------

const procs = [];

function startFake(args = []) {
	return new Promise((resolve, reject) => {
		const p = spawn(process.execPath, [FAKE, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
		procs.push(p);
		let buf = '';
		const timer = setTimeout(() => reject(new Error('fake-llm did not print "listening <port>"')), 10000);
		p.stdout.on('data', (d) => {
			buf += d;
			const nl = buf.indexOf('\n');
			if (nl < 0) return;
			clearTimeout(timer);
			const m = /^listening (\d+)$/.exec(buf.slice(0, nl));
			if (!m) return reject(new Error(`bad first line: ${buf.slice(0, nl)}`));
			resolve({ proc: p, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}` });
		});
		p.on('exit', (code) => reject(new Error(`fake-llm exited with ${code}`)));
	});
}

after(() => {
	for (const p of procs) p.kill('SIGTERM');
});

async function script(fake, model, steps) {
	const r = await fetch(`${fake.url}/__fake/script`, {
		method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ model, steps }),
	});
	assert.equal(r.status, 200, 'POST /__fake/script is 200');
}

async function requests(fake, model) {
	const q = model === undefined ? '' : `?model=${encodeURIComponent(model)}`;
	const r = await fetch(`${fake.url}/__fake/requests${q}`);
	assert.equal(r.status, 200);
	return r.json();
}

async function postJson(url, body, headers = {}) {
	return fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	});
}

// Splits an SSE body into [{event, data}] (data parsed as JSON when it is).
function parseSse(text) {
	const out = [];
	for (const block of text.split(/\r?\n\r?\n/)) {
		if (!block.trim()) continue;
		let event = null;
		const data = [];
		for (const line of block.split(/\r?\n/)) {
			if (line.startsWith(':')) continue;
			const c = line.indexOf(':');
			const field = c < 0 ? line : line.slice(0, c);
			let value = c < 0 ? '' : line.slice(c + 1);
			if (value.startsWith(' ')) value = value.slice(1);
			if (field === 'event') event = value;
			else if (field === 'data') data.push(value);
		}
		if (event === null && !data.length) continue;
		const raw = data.join('\n');
		let parsed;
		try { parsed = JSON.parse(raw); } catch { parsed = raw; }
		out.push({ event, data: parsed });
	}
	return out;
}

function headerOf(err, name) {
	const h = err.headers;
	if (!h) return undefined;
	return typeof h.get === 'function' ? h.get(name) : h[name];
}

const fake = await startFake();
const keyed = await startFake(['--key', 'sekrit']);
const client = new OpenAI({ apiKey: 'sk-test', baseURL: `${fake.url}/v1`, maxRetries: 0, timeout: 20000 });

// ---- OpenAI style, with the official client ------------------------------------------

test('openai: first line is "listening <port>" and the port answers', async () => {
	assert.ok(fake.port > 0);
	const r = await fetch(`${fake.url}/__fake/requests`);
	assert.equal(r.status, 200);
});

test('openai: non-streaming text reply', async () => {
	await script(fake, 'o-text', [{ text: 'Hello from the fake.' }]);
	const c = await client.chat.completions.create({
		model: 'o-text', messages: [{ role: 'user', content: 'say hello' }],
	});
	assert.match(c.id, /^chatcmpl-/);
	assert.equal(c.object, 'chat.completion');
	assert.equal(c.model, 'o-text');
	assert.equal(c.choices[0].message.role, 'assistant');
	assert.equal(c.choices[0].message.content, 'Hello from the fake.');
	assert.equal(c.choices[0].finish_reason, 'stop');
	// default usage: ceil(chars / 4) both ways
	assert.equal(c.usage.prompt_tokens, Math.ceil('say hello'.length / 4));
	assert.equal(c.usage.completion_tokens, Math.ceil('Hello from the fake.'.length / 4));
	assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
});

test('openai: empty queue echoes the last user text, tool results ignored', async () => {
	const c = await client.chat.completions.create({
		model: 'o-echo',
		messages: [
			{ role: 'system', content: 'be brief' },
			{ role: 'user', content: [{ type: 'text', text: 'what is 2+2?' }] },
			{ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'calc', arguments: '{}' } }] },
			{ role: 'tool', tool_call_id: 'call_1', content: '4' },
		],
	});
	assert.equal(c.choices[0].message.content, 'echo: what is 2+2?');
});

test('openai: streaming text assembles from deltas, usage in the last chunk', async () => {
	const text = 'The quick brown fox jumps over the lazy dog.';
	await script(fake, 'o-stream', [{ text, usage: { input_tokens: 11, output_tokens: 7 } }]);
	const stream = await client.chat.completions.create({
		model: 'o-stream', stream: true, stream_options: { include_usage: true },
		messages: [{ role: 'user', content: 'go' }],
	});
	let got = '';
	let deltas = 0;
	let usage = null;
	let finish = null;
	for await (const chunk of stream) {
		assert.equal(chunk.object, 'chat.completion.chunk');
		if (chunk.usage) usage = chunk.usage;
		const ch = chunk.choices[0];
		if (!ch) continue;
		if (ch.delta.content) { got += ch.delta.content; deltas++; }
		if (ch.finish_reason) finish = ch.finish_reason;
	}
	assert.equal(got, text);
	assert.ok(deltas > 1, `several content deltas (${deltas})`);
	assert.equal(finish, 'stop');
	assert.deepEqual(usage, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
});

test('openai: streaming without include_usage sends no usage', async () => {
	const stream = await client.chat.completions.create({
		model: 'o-nousage', stream: true, messages: [{ role: 'user', content: 'hi' }],
	});
	let got = '';
	for await (const chunk of stream) {
		assert.ok(!chunk.usage, 'no usage in any chunk');
		got += chunk.choices[0]?.delta?.content || '';
	}
	assert.equal(got, 'echo: hi');
});

test('openai: tool call, non-streaming', async () => {
	const args = { path: 'notes/a.txt', content: 'line one\nline "two"', n: 3 };
	await script(fake, 'o-tool', [{ tool_calls: [{ name: 'file_write', arguments: args }] }]);
	const c = await client.chat.completions.create({
		model: 'o-tool', messages: [{ role: 'user', content: 'write it' }],
		tools: [{ type: 'function', function: { name: 'file_write', parameters: { type: 'object' } } }],
	});
	const m = c.choices[0].message;
	assert.equal(c.choices[0].finish_reason, 'tool_calls');
	assert.equal(m.content, null);
	assert.equal(m.tool_calls.length, 1);
	assert.match(m.tool_calls[0].id, /^call_/);
	assert.equal(m.tool_calls[0].type, 'function');
	assert.equal(m.tool_calls[0].function.name, 'file_write');
	assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), args);
});

test('openai: two tool calls streamed with split args, accumulated by the client', async () => {
	const a1 = { path: 'x/y.txt', content: 'héllo wörld 🌍' };
	const a2 = { path: 'x/y.txt' };
	await script(fake, 'o-tools-stream', [{
		text: 'Let me do that.', split_tool_args: true,
		tool_calls: [{ id: 'call_given', name: 'file_write', arguments: a1 }, { name: 'file_read', arguments: a2 }],
	}]);
	const stream = client.chat.completions.stream({
		model: 'o-tools-stream', messages: [{ role: 'user', content: 'do it' }],
	});
	let fragments = 0;
	stream.on('chunk', (chunk) => {
		for (const tc of chunk.choices[0]?.delta?.tool_calls || [])
			if (tc.function?.arguments) fragments++;
	});
	const final = await stream.finalChatCompletion();
	const m = final.choices[0].message;
	assert.equal(final.choices[0].finish_reason, 'tool_calls');
	assert.equal(m.content, 'Let me do that.');
	assert.equal(m.tool_calls.length, 2);
	assert.equal(m.tool_calls[0].id, 'call_given');
	assert.match(m.tool_calls[1].id, /^call_/);
	assert.deepEqual(m.tool_calls.map((t) => t.function.name), ['file_write', 'file_read']);
	assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), a1);
	assert.deepEqual(JSON.parse(m.tool_calls[1].function.arguments), a2);
	assert.ok(fragments > 4, `arguments came in several fragments (${fragments})`);
});

test('openai: raw string arguments are sent as-is (invalid JSON)', async () => {
	await script(fake, 'o-raw', [{ tool_calls: [{ name: 'f', arguments: '{"a": 1,' }] }]);
	const c = await client.chat.completions.create({ model: 'o-raw', messages: [{ role: 'user', content: 'x' }] });
	assert.equal(c.choices[0].message.tool_calls[0].function.arguments, '{"a": 1,');
});

test('openai: reasoning_content before the text, streaming and not', async () => {
	await script(fake, 'o-reason', [
		{ reasoning: 'First, think about it.', text: 'Answer.' },
		{ reasoning: 'Think while streaming.', text: 'Streamed answer.' },
	]);
	const c = await client.chat.completions.create({ model: 'o-reason', messages: [{ role: 'user', content: 'q' }] });
	assert.equal(c.choices[0].message.reasoning_content, 'First, think about it.');
	assert.equal(c.choices[0].message.content, 'Answer.');
	const stream = await client.chat.completions.create({
		model: 'o-reason', stream: true, messages: [{ role: 'user', content: 'q' }],
	});
	let reasoning = '';
	let text = '';
	let textBeforeReasoningDone = false;
	for await (const chunk of stream) {
		const d = chunk.choices[0]?.delta || {};
		if (d.reasoning_content) {
			if (text) textBeforeReasoningDone = true;
			reasoning += d.reasoning_content;
		}
		if (d.content) text += d.content;
	}
	assert.equal(reasoning, 'Think while streaming.');
	assert.equal(text, 'Streamed answer.');
	assert.equal(textBeforeReasoningDone, false, 'all reasoning comes before the text');
});

test('openai: 429 with Retry-After is a RateLimitError carrying the header', async () => {
	await script(fake, 'o-429', [{ status: 429, retry_after: 7 }]);
	await assert.rejects(
		client.chat.completions.create({ model: 'o-429', messages: [{ role: 'user', content: 'x' }] }),
		(err) => {
			assert.ok(err instanceof OpenAI.RateLimitError, `RateLimitError, got ${err && err.constructor.name}`);
			assert.equal(err.status, 429);
			assert.equal(headerOf(err, 'retry-after'), '7');
			assert.equal(err.error?.type, 'rate_limit_exceeded');
			return true;
		});
	assert.equal((await requests(fake, 'o-429')).length, 1, 'maxRetries 0: one request');
});

test('openai: 500 is an InternalServerError, on a streaming request too', async () => {
	await script(fake, 'o-500', [{ status: 500 }, { status: 500, error_body: { error: { message: 'custom boom' } } }]);
	await assert.rejects(
		client.chat.completions.create({ model: 'o-500', messages: [{ role: 'user', content: 'x' }] }),
		(err) => err instanceof OpenAI.InternalServerError && err.status === 500);
	await assert.rejects(
		client.chat.completions.create({ model: 'o-500', stream: true, messages: [{ role: 'user', content: 'x' }] }),
		(err) => err instanceof OpenAI.InternalServerError && /custom boom/.test(err.message));
});

test('openai: --key: a wrong key is an AuthenticationError, the right one works', async () => {
	const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${keyed.url}/v1`, maxRetries: 0 });
	await assert.rejects(
		bad.chat.completions.create({ model: 'k', messages: [{ role: 'user', content: 'x' }] }),
		(err) => err instanceof OpenAI.AuthenticationError && err.status === 401 &&
		    typeof err.error?.message === 'string');
	const good = new OpenAI({ apiKey: 'sekrit', baseURL: `${keyed.url}/v1`, maxRetries: 0 });
	const c = await good.chat.completions.create({ model: 'k', messages: [{ role: 'user', content: 'hi' }] });
	assert.equal(c.choices[0].message.content, 'echo: hi');
	const rec = await requests(keyed, 'k');
	assert.deepEqual(rec.map((r) => r.headers.authorization), ['Bearer wrong', 'Bearer sekrit']);
});

test('openai: models.list lists the scripted models', async () => {
	const ids = [];
	for await (const m of client.models.list()) ids.push(m.id);
	for (const id of ['o-text', 'o-stream', 'o-tool']) assert.ok(ids.includes(id), `${id} listed`);
});

test('openai: finish_reason override and omit_finish_reason', async () => {
	await script(fake, 'o-finish', [{ text: 'cut', finish_reason: 'length' }, { text: 'no finish', omit_finish_reason: true }]);
	const c = await client.chat.completions.create({ model: 'o-finish', messages: [{ role: 'user', content: 'x' }] });
	assert.equal(c.choices[0].finish_reason, 'length');
	const stream = await client.chat.completions.create({
		model: 'o-finish', stream: true, messages: [{ role: 'user', content: 'x' }],
	});
	let text = '';
	for await (const chunk of stream) {
		assert.equal(chunk.choices[0].finish_reason, null);
		text += chunk.choices[0].delta.content || '';
	}
	assert.equal(text, 'no finish');
});

test('openai: a dropped stream (break_after_chunks) is an error to the client', async () => {
	await script(fake, 'o-drop', [{ text: 'one two three four five six', break_after_chunks: 3, chunk_delay_ms: 20 }]);
	const stream = await client.chat.completions.create({
		model: 'o-drop', stream: true, messages: [{ role: 'user', content: 'x' }],
	});
	let text = '';
	await assert.rejects((async () => {
		for await (const chunk of stream) text += chunk.choices[0]?.delta?.content || '';
	})());
	assert.equal(text, 'one two', 'two content chunks arrived before the drop');
});

test('openai: garbage body is an error to the client', async () => {
	await script(fake, 'o-garbage', [{ garbage: true }]);
	await assert.rejects(client.chat.completions.create({ model: 'o-garbage', messages: [{ role: 'user', content: 'x' }] }));
});

test('openai: delay_ms holds the response headers back', async () => {
	await script(fake, 'o-slow', [{ delay_ms: 300 }]);
	const t0 = Date.now();
	await client.chat.completions.create({ model: 'o-slow', messages: [{ role: 'user', content: 'x' }] });
	assert.ok(Date.now() - t0 >= 280, `took ${Date.now() - t0} ms`);
});

test('openai: malformed JSON body is a 400 in the OpenAI error shape', async () => {
	const r = await postJson(`${fake.url}/v1/chat/completions`, '{"model": "x", ');
	assert.equal(r.status, 400);
	const b = await r.json();
	assert.equal(typeof b.error.message, 'string');
	assert.equal(b.error.type, 'invalid_request_error');
});

test('openai: /__fake/requests records what the client sent', async () => {
	const rec = await requests(fake, 'o-text');
	assert.equal(rec.length, 1);
	assert.equal(rec[0].style, 'openai');
	assert.equal(rec[0].path, '/v1/chat/completions');
	assert.equal(rec[0].headers.authorization, 'Bearer sk-test');
	assert.deepEqual(rec[0].body.messages, [{ role: 'user', content: 'say hello' }]);
	assert.equal(typeof rec[0].at_ms, 'number');
});

// ---- Anthropic style, plain fetch --------------------------------------------------------

const AH = { 'x-api-key': 'ak', 'anthropic-version': '2023-06-01' };

test('anthropic: non-streaming reply with thinking, text and tool_use blocks', async () => {
	const input = { q: 'weather', days: [1, 2] };
	await script(fake, 'a-plain', [{ reasoning: 'hmm', text: 'Checking.', tool_calls: [{ name: 'web_fetch', arguments: input }] }]);
	const r = await postJson(`${fake.url}/v1/messages`, {
		model: 'a-plain', max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }],
	}, AH);
	assert.equal(r.status, 200);
	const b = await r.json();
	assert.match(b.id, /^msg_/);
	assert.equal(b.type, 'message');
	assert.equal(b.role, 'assistant');
	assert.deepEqual(b.content.map((c) => c.type), ['thinking', 'text', 'tool_use']);
	assert.equal(b.content[0].thinking, 'hmm');
	assert.equal(b.content[1].text, 'Checking.');
	assert.match(b.content[2].id, /^toolu_/);
	assert.deepEqual(b.content[2].input, input);
	assert.equal(b.stop_reason, 'tool_use');
	assert.equal(typeof b.usage.input_tokens, 'number');
	assert.equal(typeof b.usage.output_tokens, 'number');
});

test('anthropic: stream events in order, reassembling thinking, text and tool input', async () => {
	const input = { path: 'a/b.md', content: 'x'.repeat(40) };
	await script(fake, 'a-stream', [{
		reasoning: 'Let me think this through.', text: 'Writing the file now.',
		tool_calls: [{ name: 'file_write', arguments: input }], split_tool_args: true,
		usage: { input_tokens: 20, output_tokens: 9 },
	}]);
	const r = await postJson(`${fake.url}/v1/messages`, {
		model: 'a-stream', max_tokens: 100, stream: true,
		system: 'sys', messages: [{ role: 'user', content: [{ type: 'text', text: 'write' }] }],
	}, AH);
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^text\/event-stream/);
	const ev = parseSse(await r.text());
	for (const e of ev) assert.equal(e.event, e.data.type, 'event name matches data.type');
	const order = ev.filter((e) => e.event !== 'ping').map((e) =>
		e.event === 'content_block_delta' ? e.data.delta.type :
		e.event === 'content_block_start' ? `start:${e.data.content_block.type}` : e.event);
	const squeezed = order.filter((x, i) => x !== order[i - 1]);
	assert.deepEqual(squeezed, [
		'message_start',
		'start:thinking', 'thinking_delta', 'signature_delta', 'content_block_stop',
		'start:text', 'text_delta', 'content_block_stop',
		'start:tool_use', 'input_json_delta', 'content_block_stop',
		'message_delta', 'message_stop',
	]);
	const deltas = (t) => ev.filter((e) => e.event === 'content_block_delta' && e.data.delta.type === t);
	assert.equal(deltas('thinking_delta').map((e) => e.data.delta.thinking).join(''), 'Let me think this through.');
	assert.equal(deltas('text_delta').map((e) => e.data.delta.text).join(''), 'Writing the file now.');
	assert.ok(deltas('input_json_delta').length > 3, 'tool input in several fragments');
	assert.deepEqual(JSON.parse(deltas('input_json_delta').map((e) => e.data.delta.partial_json).join('')), input);
	const tool = ev.find((e) => e.event === 'content_block_start' && e.data.content_block.type === 'tool_use');
	assert.equal(tool.data.content_block.name, 'file_write');
	assert.match(tool.data.content_block.id, /^toolu_/);
	// each block's deltas carry its own index, and indexes count up from 0
	const starts = ev.filter((e) => e.event === 'content_block_start').map((e) => e.data.index);
	assert.deepEqual(starts, [0, 1, 2]);
	const md = ev.find((e) => e.event === 'message_delta');
	assert.equal(md.data.delta.stop_reason, 'tool_use');
	assert.equal(md.data.usage.output_tokens, 9);
	assert.equal(ev[0].data.message.usage.input_tokens, 20);
});

test('anthropic: /__fake/requests records headers and body', async () => {
	const rec = await requests(fake, 'a-stream');
	assert.equal(rec.length, 1);
	assert.equal(rec[0].style, 'anthropic');
	assert.equal(rec[0].path, '/v1/messages');
	assert.equal(rec[0].headers['x-api-key'], 'ak');
	assert.equal(rec[0].headers['anthropic-version'], '2023-06-01');
	assert.equal(rec[0].body.system, 'sys');
	assert.deepEqual(rec[0].body.messages, [{ role: 'user', content: [{ type: 'text', text: 'write' }] }]);
});

test('anthropic: echo skips tool_result-only user messages', async () => {
	const r = await postJson(`${fake.url}/v1/messages`, {
		model: 'a-echo', max_tokens: 10, messages: [
			{ role: 'user', content: 'first question' },
			{ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] },
			{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'result' }] },
		],
	}, AH);
	const b = await r.json();
	assert.equal(b.content[0].text, 'echo: first question');
	assert.equal(b.stop_reason, 'end_turn');
});

test('anthropic: errors in its own shape (429 + Retry-After, 401 with --key, missing version)', async () => {
	await script(fake, 'a-429', [{ status: 429, retry_after: 3 }]);
	let r = await postJson(`${fake.url}/v1/messages`, { model: 'a-429', max_tokens: 5, messages: [] }, AH);
	assert.equal(r.status, 429);
	assert.equal(r.headers.get('retry-after'), '3');
	assert.equal((await r.json()).error.type, 'rate_limit_error');
	r = await postJson(`${keyed.url}/v1/messages`, { model: 'k', max_tokens: 5, messages: [] }, AH);
	assert.equal(r.status, 401);
	const b = await r.json();
	assert.equal(b.type, 'error');
	assert.equal(b.error.type, 'authentication_error');
	r = await postJson(`${keyed.url}/v1/messages`, { model: 'k', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
		{ ...AH, 'x-api-key': 'sekrit' });
	assert.equal(r.status, 200);
	r = await postJson(`${fake.url}/v1/messages`, { model: 'a-nover', max_tokens: 5, messages: [] }, { 'x-api-key': 'ak' });
	assert.equal(r.status, 400);
	assert.equal((await r.json()).error.type, 'invalid_request_error');
	r = await postJson(`${fake.url}/v1/messages`, '{not json', AH);
	assert.equal(r.status, 400);
	assert.equal((await r.json()).error.type, 'invalid_request_error');
});

// ---- Gemini style, plain fetch ----------------------------------------------------------------

test('gemini: streamGenerateContent?alt=sse in order: thought, text, functionCall, then finish', async () => {
	const args = { city: 'Oslo', units: 'metric' };
	await script(fake, 'g-stream', [{ reasoning: 'Consider the city.', text: 'Looking it up for you.', tool_calls: [{ name: 'weather', arguments: args }] }]);
	const r = await postJson(`${fake.url}/v1beta/models/g-stream:streamGenerateContent?alt=sse`, {
		contents: [{ role: 'user', parts: [{ text: 'weather in Oslo' }] }],
	}, { 'x-goog-api-key': 'gk' });
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^text\/event-stream/);
	const ev = parseSse(await r.text());
	assert.ok(ev.length >= 3);
	const kinds = [];
	let thought = '';
	let text = '';
	let call = null;
	ev.forEach((e, i) => {
		const cand = e.data.candidates[0];
		for (const p of cand.content.parts) {
			if (p.thought) { thought += p.text; kinds.push('thought'); }
			else if (p.functionCall) { call = p.functionCall; kinds.push('call'); }
			else { text += p.text; kinds.push('text'); }
		}
		if (i < ev.length - 1) {
			assert.equal(cand.finishReason, undefined, 'finishReason only on the last chunk');
		} else {
			assert.equal(cand.finishReason, 'STOP');
			assert.equal(typeof e.data.usageMetadata.promptTokenCount, 'number');
			assert.equal(typeof e.data.usageMetadata.candidatesTokenCount, 'number');
		}
	});
	assert.deepEqual(kinds.filter((k, i) => k !== kinds[i - 1]), ['thought', 'text', 'call']);
	assert.equal(thought, 'Consider the city.');
	assert.equal(text, 'Looking it up for you.');
	assert.equal(call.name, 'weather');
	assert.deepEqual(call.args, args);
	const rec = await requests(fake, 'g-stream');
	assert.equal(rec.length, 1);
	assert.equal(rec[0].style, 'gemini');
	assert.equal(rec[0].path, '/v1beta/models/g-stream:streamGenerateContent');
	assert.equal(rec[0].headers['x-goog-api-key'], 'gk');
	assert.deepEqual(rec[0].body.contents, [{ role: 'user', parts: [{ text: 'weather in Oslo' }] }]);
});

test('gemini: generateContent, the key by ?key= or header, 401 otherwise', async () => {
	const body = { contents: [{ role: 'user', parts: [{ text: 'ping' }] }] };
	let r = await postJson(`${keyed.url}/v1beta/models/gk:generateContent?key=sekrit`, body);
	assert.equal(r.status, 200);
	let b = await r.json();
	assert.equal(b.candidates[0].content.role, 'model');
	assert.equal(b.candidates[0].content.parts[0].text, 'echo: ping');
	assert.equal(b.candidates[0].finishReason, 'STOP');
	assert.equal(b.usageMetadata.totalTokenCount, b.usageMetadata.promptTokenCount + b.usageMetadata.candidatesTokenCount);
	r = await postJson(`${keyed.url}/v1beta/models/gk:generateContent`, body, { 'x-goog-api-key': 'sekrit' });
	assert.equal(r.status, 200);
	r = await postJson(`${keyed.url}/v1beta/models/gk:generateContent?key=nope`, body);
	assert.equal(r.status, 401);
	b = await r.json();
	assert.equal(b.error.code, 401);
	assert.equal(b.error.status, 'UNAUTHENTICATED');
});

test('gemini: 429 and 500 in its error shape', async () => {
	await script(fake, 'g-err', [{ status: 429, retry_after: 2 }, { status: 500 }]);
	const body = { contents: [{ role: 'user', parts: [{ text: 'x' }] }] };
	let r = await postJson(`${fake.url}/v1beta/models/g-err:generateContent`, body);
	assert.equal(r.status, 429);
	assert.equal(r.headers.get('retry-after'), '2');
	assert.equal((await r.json()).error.status, 'RESOURCE_EXHAUSTED');
	r = await postJson(`${fake.url}/v1beta/models/g-err:streamGenerateContent?alt=sse`, body);
	assert.equal(r.status, 500);
	assert.equal((await r.json()).error.status, 'INTERNAL');
});

// ---- control routes and load ------------------------------------------------------------------

test('control: reset clears scripts and records', async () => {
	const f = await startFake();
	await script(f, 'r', [{ text: 'scripted' }]);
	await postJson(`${f.url}/v1/chat/completions`, { model: 'x', messages: [] });
	assert.equal((await requests(f)).length, 1);
	const r = await postJson(`${f.url}/__fake/reset`, {});
	assert.equal(r.status, 200);
	assert.equal((await requests(f)).length, 0);
	const c = await (await postJson(`${f.url}/v1/chat/completions`, { model: 'r', messages: [{ role: 'user', content: 'y' }] })).json();
	assert.equal(c.choices[0].message.content, 'echo: y', 'the script is gone');
	f.proc.kill('SIGTERM');
});

test('load: 1000 concurrent streaming requests with --latency-ms 500', async () => {
	const f = await startFake(['--latency-ms', '500']);
	const t = Date.now();
	await (await postJson(`${f.url}/v1/chat/completions`, { model: 'bench', messages: [{ role: 'user', content: 'x' }] })).json();
	assert.ok(Date.now() - t >= 490, `latency applied (${Date.now() - t} ms)`);
	const t0 = Date.now();
	const one = async (i) => {
		const r = await postJson(`${f.url}/v1/chat/completions`, {
			model: 'bench', stream: true, messages: [{ role: 'user', content: `request ${i}` }],
		});
		const ev = parseSse(await r.text());
		return ev.filter((e) => typeof e.data === 'object').map((e) => e.data.choices[0]?.delta?.content || '').join('');
	};
	const out = await Promise.all(Array.from({ length: 1000 }, (_, i) => one(i)));
	const ms = Date.now() - t0;
	out.forEach((t, i) => assert.equal(t, `echo: request ${i}`));
	// Served side by side, not one after the other (that would take
	// 500 s): a bound far from both, so a loaded machine does not fail it.
	assert.ok(ms < 100000, `1000 streams took ${ms} ms`);
	const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${f.proc.pid}/status`, 'utf8'))[1]);
	assert.ok(rss < 300 * 1024, `fake RSS ${rss} kB`);
	f.proc.kill('SIGTERM');
});
