// mcp-bench.mjs N TOOL ARGS-JSON COMMAND [ARG...] - the same round trips
// as tests/helpers/mcpcall through the official SDK's client
// (@modelcontextprotocol/sdk, StdioClientTransport): the figure our
// client is compared with in `make bench` (tests/bench/mcp.sh).  Prints
// "calls N p50_us P p99_us Q".
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [n, tool, args, command, ...rest] = process.argv.slice(2);
const N = Number(n);
const client = new Client({ name: 'mcp-bench', version: '1' });
await client.connect(new StdioClientTransport({ command, args: rest, stderr: 'ignore' }));
const us = [];
for (let k = -Math.floor(N / 10); k < N; k++) {
	const t0 = process.hrtime.bigint();
	await client.callTool({ name: tool, arguments: JSON.parse(args) });
	if (k >= 0)
		us.push(Number((process.hrtime.bigint() - t0) / 1000n));
}
us.sort((a, b) => a - b);
console.log(`calls ${N} p50_us ${us[Math.floor(N / 2)]} p99_us ${us[Math.min(N - 1, Math.floor(N * 99 / 100))]}`);
await client.close();
