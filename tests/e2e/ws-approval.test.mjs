// A turn that waits for an approval, seen on the agent WebSocket (GET
// /api/agents/{id}/ws) with the `ws` npm client: approval_requested
// arrives while the turn waits, the client approves through the API,
// approval_resolved and the tool's result follow, then the response.
//
// Environment: LF_URL (the gateway), LF_AGENT (an agent whose model is
// "ws-appr" on the fake provider, granted shell_exec), FAKE_URL (the fake
// provider), LF_MARK (a file the approved command writes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const base = process.env.LF_URL;
const agent = process.env.LF_AGENT;
const fake = process.env.FAKE_URL;
const mark = process.env.LF_MARK;

test('approval_requested, approve, approval_resolved, tool_result, response', async () => {
	const r = await fetch(`${fake}/__fake/script`, {
		method: 'POST',
		body: JSON.stringify({ model: 'ws-appr', steps: [
			{ tool_calls: [{ name: 'shell_exec',
			    arguments: { command: `echo socket > ${mark}` } }] },
			{ text: 'Socket done.' }] }),
	});
	assert.equal(r.status, 200);
	const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/agents/${agent}/ws`);
	const frames = [];
	const waiters = [];
	ws.on('message', (data) => {
		frames.push(JSON.parse(data.toString()));
		for (const w of waiters.splice(0))
			w();
	});
	const until = (pred, ms = 15000) => new Promise((resolve, reject) => {
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
	await new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
	});
	ws.send(JSON.stringify({ type: 'message', content: 'run it', message_id: 'a-1' }));
	const req = await until((x) => x.type === 'approval_requested');
	assert.equal(req.tool_name, 'shell_exec');
	assert.equal(req.risk_level, 'Critical');
	assert.match(req.description, /^Execute: echo socket/);
	assert.equal(typeof req.approval_id, 'string');
	assert.equal(req.stream_id, undefined, 'no stream bookkeeping');
	assert.equal(frames.some((x) => x.type === 'response'), false,
	    'no response while the turn waits');
	const a = await fetch(`${base}/api/approvals/${req.approval_id}/approve`,
	    { method: 'POST' });
	assert.equal(a.status, 200);
	const res = await until((x) => x.type === 'response');
	assert.equal(res.content, 'Socket done.');
	const types = frames.map((x) => x.type);
	const i = types.indexOf('approval_requested');
	const j = types.indexOf('approval_resolved');
	const k = types.indexOf('tool_result');
	assert.ok(i >= 0 && j > i && k > j, `order: ${types.join(',')}`);
	assert.equal(frames[j].decision, 'approved');
	assert.equal(frames[j].approval_id, req.approval_id);
	assert.equal(readFileSync(mark, 'utf8').trim(), 'socket');
	ws.close();
});
