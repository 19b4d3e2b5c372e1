#!/usr/bin/env node
// mcp-hostile.mjs MODE - a stdio MCP server that misbehaves, for the MCP
// client's tests (t3020).  No npm packages: one JSON message per line.
//   hang-call  initialize and tools/list answer (one tool, "wait"), but
//              tools/call never does
//   silent     reads everything, answers nothing
//   garbage    answers every line with a line of garbage, forever
//   huge       offers 600 tools, one of them with a 100 KB schema
//   changing   offers "bump"; calling it says tools/list_changed (before
//              its answer) and adds "v2" to the list
import readline from 'node:readline';

const mode = process.argv[2] || 'hang-call';
let bumped = false;
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const rl = readline.createInterface({ input: process.stdin });
rl.on('close', () => process.exit(0));

if (mode === 'garbage') {
	const spew = () => {
		while (process.stdout.write('this is not json {{{\n'));
		process.stdout.once('drain', spew);
	};
	spew();
}
rl.on('line', (line) => {
	if (mode === 'silent' || mode === 'garbage')
		return;
	let m;
	try { m = JSON.parse(line); } catch { return; }
	if (m.method === 'initialize')
		send({ jsonrpc: '2.0', id: m.id, result: {
		    protocolVersion: m.params.protocolVersion,
		    capabilities: { tools: {} },
		    serverInfo: { name: 'hostile', version: '1' } } });
	else if (m.method === 'tools/list') {
		let tools = [{ name: 'wait', description: 'never returns',
		    inputSchema: { type: 'object', properties: {} } }];
		if (mode === 'changing')
			tools = [{ name: 'bump', inputSchema: { type: 'object' } }].concat(
			    bumped ? [{ name: 'v2', inputSchema: { type: 'object' } }] : []);
		if (mode === 'huge') {
			tools = [];
			for (let i = 0; i < 600; i++)
				tools.push({ name: `t${i}`, inputSchema: { type: 'object' } });
			tools[0].inputSchema = { type: 'object', description: 'x'.repeat(100000) };
		}
		send({ jsonrpc: '2.0', id: m.id, result: { tools } });
	} else if (m.method === 'ping')
		send({ jsonrpc: '2.0', id: m.id, result: {} });
	else if (m.method === 'tools/call' && mode === 'changing') {
		bumped = true;
		send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
		send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'bumped' }] } });
	}
	// tools/call otherwise: never answered
});
