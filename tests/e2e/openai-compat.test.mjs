// The OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models)
// driven by the official `openai` npm client, as Cursor, Continue, Open
// WebUI or a script would use it: the models list, a plain call, a
// streamed call (chunk by chunk, and rebuilt by the client's own
// finalChatCompletion(), which throws on a missing role or
// finish_reason), and errors as the client's typed APIError: an unknown
// model, a bad message, an unknown path and a wrong method (the gateway's
// own 404 and 405), a max_tokens past the model's output, a wrong key
// (with LF_API_KEY).
//
// Environment: LF_URL (the gateway), FAKE_URL (the fake provider, for
// scripting), LF_API_KEY (optional).  The stack has an agent "helper"
// whose model is "m2" on the fake, and "coder" (model "m1", with the
// file tools) (t3000-openai.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const fake = process.env.FAKE_URL;
const client = new OpenAI({
	baseURL: `${process.env.LF_URL}/v1`,
	apiKey: process.env.LF_API_KEY || 'not-needed',
	maxRetries: 0,
	timeout: 30000,
});

async function script(steps, model = 'm2') {
	const r = await fetch(`${fake}/__fake/script`, {
		method: 'POST',
		body: JSON.stringify({ model, steps }),
	});
	assert.equal(r.status, 200);
}

test('models.list names the agents', async () => {
	const ids = [];
	for await (const m of client.models.list())
		ids.push(m.id);
	assert.ok(ids.includes('librefang:helper'), JSON.stringify(ids));
	assert.ok(ids.includes('librefang:coder'), JSON.stringify(ids));
});

test('a plain chat completion', async () => {
	await script([{ text: 'Hello from the e2e test', usage: { input_tokens: 11, output_tokens: 6 } }]);
	const c = await client.chat.completions.create({
		model: 'librefang:helper',
		messages: [
			{ role: 'system', content: 'You are terse.' },
			{ role: 'user', content: 'Hello!' },
		],
		temperature: 0.2,
		max_tokens: 64,
	});
	assert.equal(c.object, 'chat.completion');
	assert.match(c.id, /^chatcmpl-/);
	assert.equal(c.choices.length, 1);
	assert.equal(c.choices[0].message.role, 'assistant');
	assert.equal(c.choices[0].message.content, 'Hello from the e2e test');
	assert.equal(c.choices[0].finish_reason, 'stop');
	assert.deepEqual(c.usage, { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 });
	// temperature and max_tokens reached the provider for this turn.
	const r = await fetch(`${fake}/__fake/requests?model=m2`);
	const last = (await r.json()).at(-1).body;
	assert.equal(last.temperature, 0.2);
	assert.equal(last.max_tokens, 64);
});

test('a streamed chat completion', async () => {
	await script([{ text: 'Streamed through the official client', chunk_delay_ms: 10 }]);
	const stream = await client.chat.completions.create({
		model: 'librefang:helper',
		messages: [{ role: 'user', content: 'stream please' }],
		stream: true,
		stream_options: { include_usage: true },
	});
	let text = '';
	let finish = null;
	let usage = null;
	let n = 0;
	for await (const chunk of stream) {
		n++;
		assert.equal(chunk.object, 'chat.completion.chunk');
		if (chunk.usage)
			usage = chunk.usage;
		const ch = chunk.choices[0];
		if (!ch)
			continue;
		text += ch.delta.content ?? '';
		if (ch.finish_reason)
			finish = ch.finish_reason;
	}
	assert.ok(n > 3, `only ${n} chunks`);
	assert.equal(text, 'Streamed through the official client');
	assert.equal(finish, 'stop');
	assert.ok(usage && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);

	// The client's own accumulator checks the role and finish_reason.
	await script([{ text: 'Rebuilt by the client', chunk_delay_ms: 10 }]);
	const runner = client.chat.completions.stream({
		model: 'librefang:helper',
		messages: [{ role: 'user', content: 'again' }],
	});
	const final = await runner.finalChatCompletion();
	assert.equal(final.choices[0].message.role, 'assistant');
	assert.equal(final.choices[0].message.content, 'Rebuilt by the client');
	assert.equal(final.choices[0].finish_reason, 'stop');
});

test("the agent's own tool calls, rebuilt by the client", async () => {
	await script([
		{ tool_calls: [{ name: 'file_write', arguments: { path: 'e2e.txt', content: 'hi' } }] },
		{ text: 'Wrote e2e.txt.', chunk_delay_ms: 10 },
	], 'm1');
	const runner = client.chat.completions.stream({
		model: 'librefang:coder',
		messages: [{ role: 'user', content: 'write e2e.txt' }],
	});
	const final = await runner.finalChatCompletion();
	const msg = final.choices[0].message;
	assert.equal(msg.content, 'Wrote e2e.txt.');
	assert.equal(final.choices[0].finish_reason, 'stop');
	assert.equal(msg.tool_calls?.length, 1, JSON.stringify(msg));
	assert.equal(msg.tool_calls[0].type, 'function');
	assert.equal(msg.tool_calls[0].function.name, 'file_write');
	assert.equal(JSON.parse(msg.tool_calls[0].function.arguments).path, 'e2e.txt');
});

test('an unknown model is a NotFoundError', async () => {
	await assert.rejects(
		client.chat.completions.create({
			model: 'librefang:no-such-agent',
			messages: [{ role: 'user', content: 'hi' }],
		}),
		(e) => {
			assert.ok(e instanceof OpenAI.NotFoundError, `got ${e?.constructor?.name}: ${e}`);
			assert.equal(e.status, 404);
			assert.equal(e.code, 'model_not_found');
			assert.equal(e.type, 'invalid_request_error');
			assert.match(e.message, /no-such-agent/);
			return true;
		});
	await assert.rejects(
		client.chat.completions.create({ model: 'librefang:helper', messages: [] }),
		(e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
});

test('the gateway\'s own errors are APIErrors with their status and message', async () => {
	// 404 and 405 come from the gateway's router, before the OpenAI edge.
	await assert.rejects(client.get('/nothing-here'), (e) => {
		assert.ok(e instanceof OpenAI.NotFoundError, `got ${e?.constructor?.name}: ${e}`);
		assert.equal(e.status, 404);
		assert.equal(e.type, 'invalid_request_error');
		assert.match(e.message, /not found: \/v1\/nothing-here/);
		return true;
	});
	await assert.rejects(client.delete('/models'), (e) => {
		assert.ok(e instanceof OpenAI.APIError, `got ${e?.constructor?.name}: ${e}`);
		assert.equal(e.status, 405);
		assert.match(e.message, /method not allowed/);
		return true;
	});
	// A max_tokens the runtime refuses for the agent's model.
	await assert.rejects(
		client.chat.completions.create({
			model: 'librefang:helper',
			messages: [{ role: 'user', content: 'hi' }],
			max_tokens: 2000000000,
		}),
		(e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /max_tokens/.test(e.message));
	if (!process.env.LF_API_KEY)
		return;
	const wrong = new OpenAI({ baseURL: `${process.env.LF_URL}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
	await assert.rejects(wrong.models.list(), (e) => {
		assert.ok(e instanceof OpenAI.AuthenticationError, `got ${e?.constructor?.name}: ${e}`);
		assert.equal(e.status, 401);
		assert.equal(e.code, 'invalid_api_key');
		assert.match(e.message, /invalid API key/);
		return true;
	});
});
