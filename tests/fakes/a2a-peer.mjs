// A tiny A2A agent built with @a2a-js/sdk's server and express: the peer
// our A2A client (agent-runtime's a2a/client.c) discovers and sends to.
//
//   node tests/fakes/a2a-peer.mjs --port N      (N > 0: the card names it)
//
// Prints "listening <port>" once it serves.  Routes:
//   GET  /.well-known/agent-card.json         the v1.0 card (JSONRPC 1.0 and
//                                             0.3 interfaces at /rpc)
//   GET  /legacy/.well-known/agent-card.json  a v0.3 card (top-level url,
//                                             protocolVersion 0.3.0)
//   POST /rpc                                 the SDK's JSON-RPC handler,
//                                             v0.3 compatibility on
// The agent answers every message with a completed task whose artifact
// is "peer says: <text>"; the text "slow" makes it wait 30 s first.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The packages live in tests/e2e/node_modules, beside the tests.
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../e2e/package.json'));
const express = require('express');
const { Role, TaskState } = require('@a2a-js/sdk');
const { DefaultRequestHandler, InMemoryTaskStore } = require('@a2a-js/sdk/server');
const { jsonRpcHandler, UserBuilder } = require('@a2a-js/sdk/server/express');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] || 0);

function textPart(text) {
	return { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' };
}

const executor = {
	async execute(ctx, bus) {
		const text = ctx.userMessage.parts
			.map((p) => (p.content?.$case === 'text' ? p.content.value : ''))
			.join('');
		if (text === 'slow')
			await new Promise((r) => setTimeout(r, 30000));
		bus.publish({
			kind: 'task',
			data: {
				id: ctx.taskId,
				contextId: ctx.contextId,
				status: { state: TaskState.TASK_STATE_COMPLETED, message: undefined, timestamp: new Date().toISOString() },
				artifacts: [{
					artifactId: randomUUID(), name: 'answer', description: '',
					parts: [textPart(`peer says: ${text}`)], metadata: undefined, extensions: [],
				}],
				history: [ctx.userMessage],
				metadata: undefined,
			},
		});
		bus.finished();
	},
	async cancelTask() {},
};

// The port is given, so the card can name it before the server starts.
let base = `http://127.0.0.1:${port}`;
function card() {
	return {
		name: 'sdk-peer',
		description: 'A peer built with @a2a-js/sdk',
		version: '1.0.0',
		supportedInterfaces: [
			{ url: `${base}/rpc`, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' },
			{ url: `${base}/rpc`, protocolBinding: 'JSONRPC', protocolVersion: '0.3', tenant: '' },
		],
		capabilities: { streaming: false, pushNotifications: false, extensions: [] },
		securitySchemes: {},
		securityRequirements: [],
		defaultInputModes: ['text'],
		defaultOutputModes: ['text'],
		skills: [{ id: 'echo', name: 'Echo', description: 'Says it back', tags: ['echo'], examples: [], inputModes: [], outputModes: [], securityRequirements: [] }],
		signatures: [],
	};
}

const handler = new DefaultRequestHandler(card(), new InMemoryTaskStore(), executor);
const app = express();
app.get('/.well-known/agent-card.json', (req, res) => res.json(card()));
app.get('/legacy/.well-known/agent-card.json', (req, res) => res.json({
	protocolVersion: '0.3.0',
	name: 'sdk-peer-legacy',
	description: 'The same peer, announced as v0.3',
	url: `${base}/rpc`,
	preferredTransport: 'JSONRPC',
	version: '1.0.0',
	capabilities: { streaming: false, pushNotifications: false },
	defaultInputModes: ['text'],
	defaultOutputModes: ['text'],
	skills: [{ id: 'echo', name: 'Echo', description: 'Says it back', tags: ['echo'] }],
}));
app.use('/rpc', jsonRpcHandler({
	requestHandler: handler,
	userBuilder: UserBuilder.noAuthentication,
	legacyCompat: { enabled: true },
}));

const server = app.listen(port, '127.0.0.1', () => {
	console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
