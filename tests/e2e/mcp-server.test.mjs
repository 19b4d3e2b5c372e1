// Our MCP server (POST /mcp) driven by the official MCP SDK's client
// (@modelcontextprotocol/sdk 1.32.2, Streamable HTTP), as Claude Desktop,
// Cursor or any MCP host would reach it.
//
// Environment: LF_URL (http://127.0.0.1:PORT of the gateway), LF_AGENT
// (an agent named "mcpagent" granting file_read, file_write and
// agent_list, whose workspace holds notes/a.txt = "from mcp"),
// LF_API_KEY (optional).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const base = process.env.LF_URL;
const agent = process.env.LF_AGENT;

// A connected client; headers go on every request it makes.
async function connect(path = '/mcp', headers = {}) {
	if (process.env.LF_API_KEY)
		headers.Authorization = `Bearer ${process.env.LF_API_KEY}`;
	const transport = new StreamableHTTPClientTransport(new URL(`${base}${path}`),
		{ requestInit: { headers } });
	const client = new Client({ name: 'librefang-e2e', version: '1.0.0' });
	const errors = [];
	client.onerror = (e) => errors.push(e);
	await client.connect(transport);
	return { client, transport, errors };
}

test('connect: initialize and the initialized notification', async () => {
	const { client, transport, errors } = await connect();
	assert.equal(client.getServerVersion().name, 'librefang');
	assert.ok(client.getServerCapabilities().tools, 'tools capability');
	// The SDK offers its latest version; we speak it.
	assert.equal(transport.protocolVersion, '2025-11-25');
	assert.equal(transport.sessionId, undefined, 'stateless: no session');
	await client.ping();
	await client.close();
	// The GET for a server stream got 405, which the SDK takes quietly.
	// close() aborts that GET when its answer is still on the way (a
	// loaded machine): that AbortError is the client's own doing.
	const ours = errors.filter((e) => !(e?.name === 'AbortError' || e?.code === 20));
	assert.deepEqual(ours, []);
});

test('list the built-in tools with their schemas', async () => {
	const { client } = await connect();
	const { tools } = await client.listTools();
	const names = tools.map((t) => t.name);
	for (const n of ['file_read', 'file_write', 'web_fetch', 'agent_list'])
		assert.ok(names.includes(n), `${n} in ${names}`);
	const fr = tools.find((t) => t.name === 'file_read');
	assert.equal(fr.inputSchema.type, 'object');
	assert.deepEqual(fr.inputSchema.required, ['path']);
	assert.equal(typeof fr.description, 'string');
	await client.close();
});

test('call agent_list and get its result', async () => {
	const { client } = await connect('/api/mcp');
	const r = await client.callTool({ name: 'agent_list', arguments: {} });
	assert.equal(r.isError, false);
	assert.equal(r.content[0].type, 'text');
	assert.match(r.content[0].text, /mcpagent/);
	await client.close();
});

test('as an agent: its tools, and file_read of its workspace', async () => {
	const { client } = await connect('/mcp', { 'X-LibreFang-Agent-Id': agent });
	const { tools } = await client.listTools();
	assert.deepEqual(tools.map((t) => t.name).sort(),
		['agent_list', 'file_read', 'file_write']);
	const r = await client.callTool({ name: 'file_read',
		arguments: { path: 'notes/a.txt' } });
	assert.deepEqual(r, { content: [{ type: 'text', text: 'from mcp' }],
		isError: false });
	const denied = await client.callTool({ name: 'shell_exec',
		arguments: { command: 'id' } });
	assert.equal(denied.isError, true);
	assert.match(denied.content[0].text, /^Permission denied/);
	await client.close();
});

test('an unknown tool is a JSON-RPC error (-32602)', async () => {
	const { client } = await connect();
	await assert.rejects(
		client.callTool({ name: 'no_such_tool', arguments: {} }),
		(e) => e.code === -32602 && /not found/.test(e.message));
	await client.close();
});
