// The agent WebSocket (GET /api/agents/{id}/ws) driven by the `ws` npm
// client, as a browser-side or Node integration would use it.
//
// Environment: LF_URL (http://127.0.0.1:PORT of the gateway), LF_AGENT
// (an agent id whose model is "ws-model" on the fake provider), FAKE_URL
// (the fake provider, for scripting), LF_API_KEY (optional).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const base = process.env.LF_URL;
const agent = process.env.LF_AGENT;
const fake = process.env.FAKE_URL;
const wsUrl = `${base.replace(/^http/, 'ws')}/api/agents/${agent}/ws`;

async function script(steps) {
	const r = await fetch(`${fake}/__fake/script`, {
		method: 'POST',
		body: JSON.stringify({ model: 'ws-model', steps }),
	});
	assert.equal(r.status, 200);
}

// Opens a socket and collects its JSON frames.
function open(url = wsUrl, protocols = undefined) {
	const ws = new WebSocket(url, protocols);
	const frames = [];
	const waiters = [];
	ws.on('message', (data, isBinary) => {
		assert.equal(isBinary, false, 'server frames are text');
		const f = JSON.parse(data.toString());
		frames.push(f);
		for (const w of waiters.splice(0))
			w();
	});
	const until = (pred, ms = 8000) => new Promise((resolve, reject) => {
		const t0 = Date.now();
		const check = () => {
			const f = frames.find(pred);
			if (f) return resolve(f);
			if (Date.now() - t0 > ms)
				return reject(new Error(`timed out; frames: ${JSON.stringify(frames)}`));
			waiters.push(check);
			setTimeout(check, 50);
		};
		check();
	});
	const opened = new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
		ws.once('unexpected-response', (req, res) =>
			reject(new Error(`HTTP ${res.statusCode}`)));
	});
	return { ws, frames, until, opened };
}

test('connected names the agent', async () => {
	const c = open();
	await c.opened;
	const f = await c.until((x) => x.type === 'connected');
	assert.equal(f.agent_id, agent);
	c.ws.close();
});

test('a message streams text_delta frames and ends with response', async () => {
	await script([{ text: 'Hello from the socket', chunk_delay_ms: 20,
	    usage: { input_tokens: 9, output_tokens: 4 } }]);
	const c = open();
	await c.opened;
	c.ws.send(JSON.stringify({ type: 'message', content: 'hi there',
	    message_id: 'm-1' }));
	const r = await c.until((x) => x.type === 'response');
	const text = c.frames.filter((x) => x.type === 'text_delta')
	    .map((x) => x.content).join('');
	assert.equal(text, 'Hello from the socket');
	assert.equal(r.content, 'Hello from the socket');
	assert.equal(r.input_tokens, 9);
	assert.equal(r.output_tokens, 4);
	assert.equal(r.message_id, 'm-1');
	c.ws.close();
});

test('ping gets pong', async () => {
	const c = open();
	await c.opened;
	c.ws.send(JSON.stringify({ type: 'ping' }));
	await c.until((x) => x.type === 'pong');
	c.ws.close();
});

test('/usage reports the turns and tokens so far', async () => {
	const c = open();
	await c.opened;
	c.ws.send(JSON.stringify({ type: 'command', command: 'usage' }));
	const f = await c.until((x) => x.type === 'command_result');
	assert.equal(f.command, 'usage');
	assert.match(f.message, /^Usage: [1-9][0-9]* turns, [0-9]+ input \+ [0-9]+ output tokens/);
	c.ws.close();
});

test('agents_updated arrives within six seconds', async () => {
	const c = open();
	await c.opened;
	const f = await c.until((x) => x.type === 'agents_updated', 6500);
	assert.ok(Array.isArray(f.agents), 'agents is a list');
	assert.ok(f.agents.some((a) => a.id === agent), 'the agent is listed');
	c.ws.close();
});

test('an unknown agent is refused before the upgrade', async () => {
	const c = open(`${base.replace(/^http/, 'ws')}/api/agents/00000000-0000-4000-8000-000000000000/ws`);
	await assert.rejects(c.opened, /HTTP 404/);
});

// The provider's recorded requests whose last message is text.
async function asked(text) {
	const r = await fetch(`${fake}/__fake/requests?model=ws-model`);
	const all = await r.json();
	return all.filter((q) => {
		const m = q.body.messages[q.body.messages.length - 1];
		return m && m.content === text;
	}).length;
}

async function connected() {
	const c = open();
	await c.opened;
	await c.until((x) => x.type === 'connected');
	return c;
}

test('a message sent again under its idempotency_key runs once', async () => {
	// A socket lost mid-turn, as a browser's when the network drops: the
	// client sends the message again on its next socket.
	await script([{ text: 'Said once', delay_ms: 3000 }]);
	const frame = JSON.stringify({ type: 'message', content: 'say it once',
	    message_id: 'i-1', idempotency_key: `chat-${process.pid}-1` });
	const a = await connected();
	a.ws.send(frame);
	for (let t0 = Date.now(); await asked('say it once') < 1; ) {
		assert.ok(Date.now() - t0 < 15000, 'the first send reached the provider');
		await new Promise((r) => setTimeout(r, 100));
	}
	a.ws.close();

	// While it runs: the repeat is told so, and runs nothing.
	const b = await connected();
	b.ws.send(frame);
	const busy = await b.until((x) => x.type === 'error' || x.type === 'response', 15000);
	assert.deepEqual([busy.type, busy.code, busy.message_id], ['error', 'turn_in_progress', 'i-1']);

	// Once it ended: the repeat gets the first run's answer.
	let r;
	for (let t0 = Date.now(); !r; ) {
		assert.ok(Date.now() - t0 < 30000, 'the stored answer came within 30 s');
		await new Promise((res) => setTimeout(res, 300));
		const n = b.frames.length;
		b.ws.send(frame);
		const f = await b.until((x) => b.frames.indexOf(x) >= n &&
		    (x.type === 'error' || x.type === 'response'), 15000);
		if (f.type === 'response') r = f;
		else assert.equal(f.code, 'turn_in_progress', JSON.stringify(f));
	}
	assert.deepEqual([r.content, r.message_id], ['Said once', 'i-1']);
	assert.equal(await asked('say it once'), 1, 'the provider was asked once');

	// The same key with another message is refused, and runs nothing.
	const n = b.frames.length;
	b.ws.send(JSON.stringify({ type: 'message', content: 'something else',
	    message_id: 'i-2', idempotency_key: `chat-${process.pid}-1` }));
	const e = await b.until((x) => b.frames.indexOf(x) >= n && x.type === 'error');
	assert.deepEqual([e.code, e.message_id], ['idempotency_key_reused', 'i-2']);
	assert.equal(await asked('something else'), 0);

	// A key that cannot be one is a clear error.
	b.ws.send(JSON.stringify({ type: 'message', content: 'x', message_id: 'i-3',
	    idempotency_key: 'bad\u0001key' }));
	const k = await b.until((x) => x.message_id === 'i-3');
	assert.equal(k.type, 'error');
	assert.match(k.content, /idempotency_key' must be printable ASCII/);
	b.ws.close();
});
