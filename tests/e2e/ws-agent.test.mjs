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
