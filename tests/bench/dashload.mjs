// dashload.mjs - the dashboard's figures for tests/bench/dashboard.sh
// (figure 23 of `make bench`), in headless Chromium (playwright-core from
// tests/e2e): prints one JSON object.
//
//   load:     N cold loads of / (a new browser context each: empty cache),
//             ms from navigation start until the first page has drawn its
//             content (interactive); then N warm reloads (revalidated:
//             304s); the bytes that crossed the wire cold (compressed) and
//             decoded; the floor: a new context loading GET /api/health
//   token:    N streamed answers on the chat page, ms from the moment the
//             fake provider sent the first text token to the moment that
//             text is in the page; beside it the floor, the same answer
//             read by a bare WebSocket client (ws) from the same gateway
//
// node dashload.mjs --url http://GW --fake http://FAKE --agent ID
//     --model M [--n 10] [--delay 150]
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../e2e/package.json'));
const { chromium } = require('playwright-core');
const WebSocket = require('ws');

const arg = (k, d) => {
	const i = process.argv.indexOf(`--${k}`);
	return i > 0 ? process.argv[i + 1] : d;
};
const url = arg('url');
const fake = arg('fake');
const agent = arg('agent');
const model = arg('model');
const N = Number(arg('n', '10'));
const DELAY = Number(arg('delay', '150'));

const pct = (a, p) => {
	const s = [...a].sort((x, y) => x - y);
	return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] * 10) / 10 : null;
};

async function script(steps) {
	const r = await fetch(`${fake}/__fake/script`, { method: 'POST', body: JSON.stringify({ model, steps }) });
	if (r.status !== 200)
		throw new Error(`fake: ${r.status}`);
}
// When the fake sent the first text token of the last request: its
// arrival plus one chunk delay (the role chunk goes at once, each later
// event DELAY ms after the one before).
async function firstTokenAt() {
	const r = await (await fetch(`${fake}/__fake/requests?model=${model}`)).json();
	return r[r.length - 1].at_ms + DELAY;
}
const stepFor = (i) => [{ text: `token${i} second third fourth`, chunk_delay_ms: DELAY }];

const args = ['--disable-gpu', '--disable-dev-shm-usage'];
if (process.getuid && process.getuid() === 0)
	args.push('--no-sandbox');
const browser = await chromium.launch({ executablePath: process.env.LF_CHROMIUM || '/usr/bin/chromium', headless: true, args });
const out = { n: N };
try {
	// ---- the first page, cold and warm --------------------------------
	const cold = [];
	const warm = [];
	let bytes = 0;
	let decoded = 0;
	let requests = 0;
	const drawn = () => {
		const p = document.querySelector('main section.page');
		return p && p.childElementCount > 0 && !document.getElementById('boot');
	};
	for (let i = 0; i < N + 1; i++) {
		const ctx = await browser.newContext();
		const page = await ctx.newPage();
		await page.goto(`${url}/`, { waitUntil: 'commit' });
		await page.waitForFunction(drawn, null, { polling: 'raf', timeout: 30000 });
		const t = await page.evaluate(() => performance.now());
		if (i > 0)
			cold.push(t);	// the first warms the gateway and the disk
		if (i === N) {
			const sizes = await page.evaluate(() => {
				const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
				    .filter((r) => new URL(r.name).pathname === '/' || r.name.includes('/dashboard/'));
				return { bytes: all.reduce((s, r) => s + r.transferSize, 0),
					decoded: all.reduce((s, r) => s + r.decodedBodySize, 0), n: all.length };
			});
			bytes = sizes.bytes;
			decoded = sizes.decoded;
			requests = sizes.n;
			for (let j = 0; j < N; j++) {
				await page.reload({ waitUntil: 'commit' });
				await page.waitForFunction(drawn, null, { polling: 'raf', timeout: 30000 });
				warm.push(await page.evaluate(() => performance.now()));
			}
		}
		await ctx.close();
	}
	// The floor: a new context loading the smallest page the gateway
	// has (GET /api/health), until its load event.
	const bare = [];
	for (let i = 0; i < N + 1; i++) {
		const ctx = await browser.newContext();
		const page = await ctx.newPage();
		await page.goto(`${url}/api/health`, { waitUntil: 'load' });
		const t = await page.evaluate(() => performance.now());
		if (i > 0)
			bare.push(t);
		await ctx.close();
	}
	out.load = { cold_p50: pct(cold, 50), cold_p90: pct(cold, 90), warm_p50: pct(warm, 50),
		floor_p50: pct(bare, 50), bytes, decoded, requests };

	// ---- first token to text in the page, and the bare client --------
	const ctx = await browser.newContext();
	const page = await ctx.newPage();
	await page.goto(`${url}/#/chat/${agent}`);
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor({ timeout: 30000 });
	const inPage = [];
	for (let i = 0; i < N + 1; i++) {
		await script(stepFor(i));
		await page.evaluate(() => {
			window.__lfSeen = 0;
			const log = document.querySelector('.chat-log');
			const mo = new MutationObserver(() => {
				const l = document.querySelector('.msg-live .md');
				if (!window.__lfSeen && l && l.textContent.length > 0) {
					window.__lfSeen = Date.now();
					mo.disconnect();
				}
			});
			mo.observe(log, { subtree: true, childList: true, characterData: true });
		});
		const box = page.getByRole('textbox', { name: 'Message' });
		await box.fill(`question ${i}`);
		await box.press('Enter');
		await page.locator('.chat-log').getByText(`token${i} second third fourth`).waitFor({ timeout: 30000 });
		await page.locator('.msg-live').waitFor({ state: 'detached', timeout: 30000 });
		const seen = await page.evaluate(() => window.__lfSeen);
		if (i > 0)
			inPage.push(seen - await firstTokenAt());
		await page.waitForTimeout(100);	// its history recount
	}
	await ctx.close();

	const floor = [];
	const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/agents/${agent}/ws`);
	await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
	for (let i = 0; i < N + 1; i++) {
		await script(stepFor(i));
		let first = 0;
		await new Promise((res) => {
			const on = (d) => {
				const f = JSON.parse(d.toString());
				if (f.type === 'text_delta' && !first)
					first = Date.now();
				if (f.type === 'response' || f.type === 'error') {
					ws.off('message', on);
					res();
				}
			};
			ws.on('message', on);
			ws.send(JSON.stringify({ type: 'message', content: `floor ${i}` }));
		});
		if (i > 0)
			floor.push(first - await firstTokenAt());
	}
	ws.close();
	out.token = { page_p50: pct(inPage, 50), page_p90: pct(inPage, 90),
		floor_p50: pct(floor, 50), floor_p90: pct(floor, 90) };
} finally {
	await browser.close();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
