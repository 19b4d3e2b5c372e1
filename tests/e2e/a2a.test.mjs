// Our A2A server (the gateway's gw_a2a.c) driven by @a2a-js/sdk's own
// client, in its default mode (A2A v1.0: the card at
// /.well-known/agent-card.json, SendMessage and GetTask) and in its
// legacy mode (v0.3: the card at /.well-known/agent.json, message/send
// and tasks/get); sendMessageStream in both yields the turn as it runs.  The agent's answers come from the fake provider.
//
// Environment: LF_URL (http://127.0.0.1:PORT of the gateway), FAKE_URL
// (the fake provider), FAKE_MODEL (the model of the stack's only agent
// on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Role, TaskState } from '@a2a-js/sdk';
import {
	ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver,
	JsonRpcTransportFactory,
} from '@a2a-js/sdk/client';

const base = process.env.LF_URL;
const fake = process.env.FAKE_URL;
const model = process.env.FAKE_MODEL;

async function script(text, extra = {}) {
	const r = await fetch(`${fake}/__fake/script`, {
		method: 'POST',
		body: JSON.stringify({ model, steps: [{ text, ...extra }] }),
	});
	assert.equal(r.status, 200);
}

function userMessage(text) {
	return {
		messageId: randomUUID(),
		role: Role.ROLE_USER,
		parts: [{ content: { $case: 'text', value: text } }],
	};
}

// The text of a task's artifacts.
function artifactText(task) {
	return task.artifacts.flatMap((a) => a.parts)
		.map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
		.join('');
}

// A streamed send of a multi-chunk reply, as the A2A spec has it: the
// task first (working), the text as artifact updates while the turn runs,
// a final completed status last.  Returns the task's id.
async function checkStream(client, text, want) {
	await script(want, { chunk_delay_ms: 60 });
	const events = [];
	for await (const ev of client.sendMessageStream({ message: userMessage(text) }))
		events.push(ev);
	assert.ok(events.length > 1, `more than one event (${events.length})`);
	const first = events[0].payload;
	assert.equal(first.$case, 'task');
	assert.equal(first.value.status.state, TaskState.TASK_STATE_WORKING);
	const updates = events.filter((e) => e.payload.$case === 'artifactUpdate')
		.map((e) => e.payload.value);
	assert.ok(updates.length >= 3, `one update per chunk (${updates.length})`);
	assert.equal(updates.map((u) => u.artifact.parts
		.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('')).join(''),
	want, 'the text reassembled from the updates');
	assert.ok(updates.every((u) => u.taskId === first.value.id));
	assert.equal(updates.at(-1).lastChunk, true);
	const last = events.at(-1).payload;
	assert.equal(last.$case, 'statusUpdate');
	assert.equal(last.value.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(last.value.taskId, first.value.id);
	assert.equal(last.value.contextId, first.value.contextId);
	return first.value.id;
}

function legacyFactory() {
	return new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
		transports: [new JsonRpcTransportFactory({ legacyCompat: { enabled: true } })],
		cardResolver: new DefaultAgentCardResolver({ legacyCompat: { enabled: true } }),
	}));
}

test('default client (v1.0): the card names a JSONRPC 1.0 interface', async () => {
	const card = await new DefaultAgentCardResolver().resolve(base);
	assert.equal(card.name, 'LibreFang');
	assert.equal(card.capabilities.streaming, true, 'so sendMessageStream really streams');
	const v1 = card.supportedInterfaces.find((i) => i.protocolVersion === '1.0');
	assert.equal(v1.protocolBinding, 'JSONRPC');
	assert.equal(v1.url, `${base}/a2a`);
	assert.ok(card.skills.length >= 1);
	assert.ok(Array.isArray(card.skills[0].tags));
});

test('default client (v1.0): send a message, read the task', async () => {
	await script('Hello from LibreFang (v1.0)');
	const methods = [];
	const watch = async (url, init) => {
		methods.push(JSON.parse(init.body).method);
		return fetch(url, init);
	};
	const client = await new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
		transports: [new JsonRpcTransportFactory({ fetchImpl: watch })],
	})).createFromUrl(base);
	const task = await client.sendMessage({ message: userMessage('hi, v1') });
	assert.ok(task.id, 'a task came back, not a message');
	assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(artifactText(task), 'Hello from LibreFang (v1.0)');
	const got = await client.getTask({ id: task.id });
	assert.equal(got.id, task.id);
	assert.equal(got.contextId, task.contextId);
	assert.equal(got.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(artifactText(got), 'Hello from LibreFang (v1.0)');
	assert.equal(got.history[0].role, Role.ROLE_USER);
	assert.equal(got.history.at(-1).role, Role.ROLE_AGENT);
	assert.deepEqual(methods, ['SendMessage', 'GetTask']);
});

test('default client (v1.0): a streamed send streams the turn', async () => {
	const client = await new ClientFactory().createFromUrl(base);
	const want = 'a streamed reply in several chunks';
	const id = await checkStream(client, 'stream, v1', want);
	const task = await client.getTask({ id });
	assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(artifactText(task), want);
});

test('default client (v1.0): an unknown task is an error', async () => {
	const client = await new ClientFactory().createFromUrl(base);
	await assert.rejects(client.getTask({ id: randomUUID() }), /not found/i);
});

test('default client (v1.0): canceling a finished task is refused', async () => {
	const client = await new ClientFactory().createFromUrl(base);
	const task = await client.sendMessage({ message: userMessage('to cancel') });
	assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
	await assert.rejects(client.cancelTask({ id: task.id }), /cancel/i);
});

test('default client (v1.0): ListTasks pages through a context, filtered by state', async () => {
	const client = await new ClientFactory().createFromUrl(base);
	const contextId = randomUUID();
	const sent = [];
	for (const text of ['listed one', 'listed two']) {
		await script(`answer to ${text}`);
		const m = { ...userMessage(text), contextId };
		sent.push(await client.sendMessage({ message: m }));
	}
	const page1 = await client.listTasks({ contextId, pageSize: 1, includeArtifacts: true });
	assert.equal(page1.totalSize, 2);
	assert.equal(page1.pageSize, 1);
	assert.equal(page1.tasks.length, 1);
	assert.equal(page1.tasks[0].id, sent[1].id, 'newest first');
	assert.equal(artifactText(page1.tasks[0]), 'answer to listed two');
	assert.notEqual(page1.nextPageToken, '');
	const page2 = await client.listTasks({ contextId, pageSize: 1, pageToken: page1.nextPageToken });
	assert.equal(page2.tasks[0].id, sent[0].id);
	assert.equal(page2.tasks[0].artifacts.length, 0, 'artifacts only when asked');
	assert.equal(page2.nextPageToken, '');
	const done = await client.listTasks({ contextId, status: TaskState.TASK_STATE_COMPLETED });
	assert.equal(done.totalSize, 2);
	const failed = await client.listTasks({ contextId, status: TaskState.TASK_STATE_FAILED });
	assert.equal(failed.totalSize, 0);
	await assert.rejects(client.listTasks({ contextId, pageSize: 1000 }), /page_size/i);
});

test('legacy client (v0.3): the reference card location, message/send, tasks/get', async () => {
	await script('Hello from LibreFang (v0.3)');
	const requests = [];
	const watch = async (url, init) => {
		requests.push(`${url} ${JSON.parse(init.body).method}`);
		return fetch(url, init);
	};
	const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
		transports: [new JsonRpcTransportFactory({ legacyCompat: { enabled: true }, fetchImpl: watch })],
		cardResolver: new DefaultAgentCardResolver({ legacyCompat: { enabled: true } }),
	}));
	const client = await factory.createFromUrl(base, '.well-known/agent.json');
	const task = await client.sendMessage({ message: userMessage('hi, v0.3'), configuration: { blocking: true } });
	assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(artifactText(task), 'Hello from LibreFang (v0.3)');
	const got = await client.getTask({ id: task.id });
	assert.equal(got.id, task.id);
	assert.equal(artifactText(got), 'Hello from LibreFang (v0.3)');
	assert.deepEqual(requests, [`${base}/a2a message/send`, `${base}/a2a tasks/get`]);
});

test('legacy client (v0.3): a streamed send streams the turn', async () => {
	const client = await legacyFactory().createFromUrl(base, '.well-known/agent.json');
	const want = 'the legacy stream, word by word';
	const id = await checkStream(client, 'stream, v0.3', want);
	const task = await client.getTask({ id });
	assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
	assert.equal(artifactText(task), want);
});

test('legacy client (v0.3): a message without text is refused', async () => {
	const client = await legacyFactory().createFromUrl(base, '.well-known/agent.json');
	const message = {
		messageId: randomUUID(), role: Role.ROLE_USER,
		parts: [{ content: { $case: 'data', value: { x: 1 } } }],
	};
	await assert.rejects(client.sendMessage({ message }), /text/i);
});

test('the raw wire: message/send answers a v0.3 task', async () => {
	await script('raw reply');
	const r = await fetch(`${base}/a2a`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', 'a2a-version': '0.3' },
		body: JSON.stringify({
			jsonrpc: '2.0', id: 'r1', method: 'message/send',
			params: { message: { kind: 'message', messageId: 'm', role: 'user', parts: [{ kind: 'text', text: 'raw' }] } },
		}),
	});
	assert.equal(r.status, 200);
	const body = await r.json();
	assert.equal(body.id, 'r1');
	assert.equal(body.result.kind, 'task');
	assert.equal(body.result.status.state, 'completed');
	assert.equal(body.result.artifacts[0].parts[0].text, 'raw reply');
});
