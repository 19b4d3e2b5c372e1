// browser.mjs - what the dashboard's browser tests (*.browser.test.mjs)
// share: Debian's headless Chromium driven by playwright-core, every
// Content-Security-Policy violation and page error collected, and
// screenshots written where a person can look at them.
//
// Environment: LF_URL (the gateway), LF_SCREENS (the folder for the
// screenshots; made if missing), LF_CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const base = process.env.LF_URL;
export const screens = process.env.LF_SCREENS || '.';

// launch({viewport}) -> {browser, context, page, problems, shot(name)}.
// problems.csp: CSP violations (the securitypolicyviolation event and
// Chromium's console report); problems.errors: uncaught page errors.
// Every WebSocket the page opens is kept in window.__lfSockets so a test
// can drop one (no hook in the dashboard itself).
export async function launch(opts = {}) {
	// No background traffic: this machine's network is closed, and
	// Chromium's tries (updates, sync, Google's hosts) cost a loaded
	// machine seconds at every start.
	const args = ['--disable-gpu', '--disable-dev-shm-usage',
	    '--disable-background-networking', '--disable-component-update',
	    '--disable-sync', '--no-first-run', '--disable-quic'];
	// Chromium's sandbox cannot start as root (containers, CI).
	if (process.getuid && process.getuid() === 0)
		args.push('--no-sandbox');
	const browser = await chromium.launch({
		executablePath: process.env.LF_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args,
		timeout: 60000,
	});
	const context = await browser.newContext({
		viewport: opts.viewport || { width: 1280, height: 800 },
		colorScheme: opts.colorScheme || 'light',
	});
	// A bound, not a wait: on a machine running two lanes and the
	// deploy tier beside this, one step can take more than 15 s.
	context.setDefaultTimeout(30000);
	const problems = { csp: [], errors: [], console: [] };
	await context.addInitScript(() => {
		window.__lfCsp = [];
		document.addEventListener('securitypolicyviolation', (e) => {
			window.__lfCsp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
		});
		window.__lfSockets = [];
		const Native = window.WebSocket;
		window.WebSocket = class extends Native {
			constructor(...a) {
				super(...a);
				window.__lfSockets.push(this);
			}
		};
	});
	const page = await context.newPage();
	const watch = (p) => {
		p.on('console', (m) => {
			const text = m.text();
			problems.console.push(`${m.type()}: ${text}`);
			if (/Content[- ]Security[- ]Policy/i.test(text))
				problems.csp.push(text);
		});
		p.on('pageerror', (e) => problems.errors.push(e.message));
	};
	watch(page);
	context.on('page', watch);
	mkdirSync(screens, { recursive: true });
	let n = 0;
	const shot = async (name, p = page) => {
		n += 1;
		const file = join(screens, `${String(n).padStart(2, '0')}-${name}.png`);
		await p.screenshot({ path: file, fullPage: false });
		return file;
	};
	// The page's own CSP reports, added to problems.csp.
	const cspNow = async (p = page) => {
		const seen = await p.evaluate(() => window.__lfCsp || []).catch(() => []);
		for (const v of seen)
			if (!problems.csp.includes(v))
				problems.csp.push(v);
		return problems.csp;
	};
	return { browser, context, page, problems, shot, cspNow };
}

// Appends steps to the fake provider's queue for model.
export async function fakeScript(fake, model, steps) {
	const r = await fetch(`${fake}/__fake/script`, {
		method: 'POST',
		body: JSON.stringify({ model, steps }),
	});
	if (r.status !== 200)
		throw new Error(`fake script: ${r.status}`);
}

// The fake provider's recorded requests for model.
export async function fakeRequests(fake, model) {
	const r = await fetch(`${fake}/__fake/requests?model=${encodeURIComponent(model)}`);
	return r.json();
}
