// The dashboard's operator pages (services/api-gateway/dashboard/js/pages)
// in headless Chromium, driven by playwright-core: every page renders
// with no console error, no CSP violation and no error box; a schedule
// made on the page fires by itself and its last run appears; a log line
// arrives live; an approval is approved on the page; an agent is spawned
// from a template and deleted; a provider key is set and never shown;
// the navigation works from the keyboard; screenshots of every page in
// light and dark, and two pages at 360 px without sideways scrolling.
//
// Environment: LF_URL (the gateway), LF_API_KEY (its api_key: the browser
// logs in with it once, and the pages' changes then ride on the session
// cookie and its CSRF token; empty: no login), LF_AGENT (an agent on
// the fake provider), LF_SCREENS (where screenshots go), LF_WA_INBOX (the
// inbox of channel "wa"'s adapter, tests/channels/sidecar.py: a file
// NNNN-emit there is written to the service as the adapter's frames).
import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { join } from 'node:path';
import { launch } from './browser.mjs';

const base = process.env.LF_URL;
const agent = process.env.LF_AGENT;
const screens = process.env.LF_SCREENS || '/tmp';
const PAGES = ['overview', 'agents', 'sessions', 'schedules', 'workflows', 'approvals',
	'memory', 'usage', 'audit', 'logs', 'providers', 'channels', 'config'];
const KEY = 'gsk-dashops-never-shown-4242';
const apiKey = process.env.LF_API_KEY || '';

let browser;
let context;
// Every console error, page error and CSP violation of every page.
const problems = [];
let where = '';

async function apiCall(method, path, body) {
	const headers = body ? { 'Content-Type': 'application/json' } : {};
	if (apiKey)
		headers.Authorization = `Bearer ${apiKey}`;
	const r = await fetch(`${base}${path}`, {
		method,
		headers,
		body: body ? JSON.stringify(body) : undefined,
	});
	const text = await r.text();
	return { status: r.status, body: text ? JSON.parse(text) : null };
}

// A PNG of a w x w grid of black and white modules, each 8 pixels (a
// QR-like picture for the QR login's screenshot), as base64.
function modulesPng(w, black) {
	const px = w * 8;
	const rows = [];
	for (let y = 0; y < px; y++) {
		const row = Buffer.alloc(1 + px);	// filter byte 0, then grey
		for (let x = 0; x < px; x++)
			row[1 + x] = black(Math.floor(x / 8), Math.floor(y / 8)) ? 0 : 255;
		rows.push(row);
	}
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type), data]);
		const crc = Buffer.alloc(4);
		crc.writeUInt32BE(crc32(td));
		return Buffer.concat([len, td, crc]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(px, 0);
	ihdr.writeUInt32BE(px, 4);
	ihdr[8] = 8;	// bit depth; colour type 0 (grey), the rest 0
	return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))])
		.toString('base64');
}

// Has channel "wa"'s adapter write frame (tests/channels/chanlib.sh's emit).
let emitted = 0;
function emitWa(frame) {
	const inbox = process.env.LF_WA_INBOX;
	emitted += 1;
	writeFileSync(join(inbox, '.tmp'), `${JSON.stringify(frame)}\n`);
	renameSync(join(inbox, '.tmp'), join(inbox, `${String(9000 + emitted)}-emit`));
}

// GET /api/config until key is want (5 s at most); the last value.
async function configSays(key, want) {
	let v;
	for (let i = 0; i < 50; i++) {
		v = (await apiCall('GET', '/api/config')).body[key];
		if (v === want)
			break;
		await new Promise((r) => setTimeout(r, 100));
	}
	return v;
}

async function newPage(opts = {}) {
	const page = await context.newPage();
	if (opts.viewport) await page.setViewportSize(opts.viewport);
	// A failed request is named by its response (the console's "Failed
	// to load resource" says no URL).  The shell asks the gateway
	// whether it has a dashboard login: a 404 there is an answer.
	page.on('console', (m) => {
		if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
			problems.push(`${where}: console: ${m.text()}`);
	});
	page.on('response', (r) => {
		const u = new URL(r.url());
		if (r.status() >= 400 && !(r.status() === 404 && u.pathname === '/api/auth/dashboard-check'))
			problems.push(`${where}: ${r.request().method()} ${u.pathname} ${r.status()}`);
	});
	page.on('pageerror', (e) => problems.push(`${where}: page error: ${e.message}`));
	// CSP violations, reported by the page itself (an init script is
	// the browser's, not the page's: the CSP does not apply to it).
	await page.exposeFunction('__cspViolation', (v) => problems.push(`${where}: CSP: ${v}`));
	await page.addInitScript(() => {
		document.addEventListener('securitypolicyviolation', (e) => {
			window.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`);
		});
	});
	return page;
}

// Goes to #/<id> and waits until the page has rendered and loaded: no
// "Loading…" left in it.
async function visit(page, id, rest) {
	where = id;
	await page.goto(`${base}/#/${id}${rest ? `/${rest}` : ''}`);
	await page.waitForSelector(`section.page[data-page="${id}"]`);
	await page.waitForFunction((pid) => {
		const s = document.querySelector(`section.page[data-page="${pid}"]`);
		return s && s.querySelector('h1') &&
		    ![...s.querySelectorAll('p.muted')].some((p) => p.textContent === 'Loading…');
	}, id);
}

async function errorsShown(page) {
	return page.$$eval('.error-box', (els) => els.map((e) => e.textContent));
}

before(async () => {
	mkdirSync(screens, { recursive: true });
	// The dashboard tests' launcher: Debian's Chromium, light theme.
	({ browser, context } = await launch({ viewport: { width: 1280, height: 900 } }));
	if (apiKey) {
		// Once: the session cookie serves every page of the context.
		const page = await newPage();
		where = 'login';
		await page.goto(`${base}/`);
		await page.getByLabel('API key').fill(apiKey);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.waitForSelector('nav a[href="#/overview"]');
		const cookies = await context.cookies();
		assert.ok(cookies.some((c) => c.name === 'librefang_session' && c.httpOnly),
		    'logged in with a session cookie, not the key');
		await page.close();
		assert.deepEqual(problems, [], 'the login went without a problem');
	}
});

beforeEach(() => { problems.length = 0; });

after(async () => {
	if (browser) await browser.close();
});

test('every page renders its data, in light and dark, with no error', async () => {
	const page = await newPage();
	for (const id of PAGES) {
		await page.emulateMedia({ colorScheme: 'light' });
		await visit(page, id);
		assert.deepEqual(await errorsShown(page), [], `page ${id} shows an error`);
		const nav = await page.$eval(`nav a[href="#/${id}"]`, (a) => a.getAttribute('aria-current'));
		assert.equal(nav, 'page', `the navigation marks ${id} as the current page`);
		await page.screenshot({ path: join(screens, `${id}-light.png`), fullPage: true });
		await page.emulateMedia({ colorScheme: 'dark' });
		await page.screenshot({ path: join(screens, `${id}-dark.png`), fullPage: true });
	}
	// The overview shows every service and the agent.
	await visit(page, 'overview');
	const text = await page.textContent('main');
	for (const svc of ['agent-runtime', 'scheduler', 'memory', 'audit', 'channels', 'api-gateway'])
		assert.ok(text.includes(svc), `the overview names ${svc}`);
	const me = await apiCall('GET', `/api/agents/${agent}`);
	assert.ok(text.includes(me.body.name), 'the overview lists the agent');
	await page.close();
	assert.deepEqual(problems, [], 'no console error, page error or CSP violation');
});

test('a schedule created on the page fires and its last run appears', async () => {
	const page = await newPage();
	await visit(page, 'schedules');
	const form = page.locator('form.schedule-form');
	await form.getByLabel('Name').fill('dash-every-5s');
	await form.getByLabel('Agent', { exact: true }).selectOption(agent);
	await form.getByLabel('Kind').selectOption('every');
	await form.getByLabel('Seconds').fill('5');
	await form.getByLabel('Message to the agent').fill('scheduled hello');
	await form.getByRole('button', { name: 'Create schedule' }).click();
	const row = page.locator('tr', { hasText: 'dash-every-5s' });
	await row.waitFor();
	assert.equal(await row.locator('.last-run').count(), 0, 'not run yet when created');
	// It fires 5 s after it was made; the page refreshes every 5 s.
	await row.locator('.last-run').waitFor({ timeout: 30000 });
	assert.match(await row.locator('.last-run').textContent(), /ok/, 'the run ended ok');
	const r = await apiCall('GET', '/api/schedules');
	const s = r.body.schedules.find((x) => x.name === 'dash-every-5s');
	assert.ok(s && s.run_count >= 1, 'the API counts the run');
	// Its runs: the history shows a scheduled (not manual) fire.
	await row.getByRole('button', { name: 'Runs' }).click();
	await page.getByText('Recent runs of "dash-every-5s"').waitFor();
	assert.ok(await page.locator('td', { hasText: 'scheduled' }).count() >= 1, 'a scheduled run in the history');
	// Run now, then disable: as the API then says.
	await row.getByRole('button', { name: 'Run now' }).click();
	await page.getByText('Ran "dash-every-5s": echo: scheduled hello').waitFor();
	await row.getByRole('button', { name: 'Disable' }).click();
	await row.locator('.badge', { hasText: 'disabled' }).waitFor();
	const off = await apiCall('GET', `/api/schedules/${s.id}`);
	assert.equal(off.body.enabled, false, 'disabled in the API');
	await apiCall('DELETE', `/api/schedules/${s.id}`);
	await page.close();
	assert.deepEqual(problems, []);
});

test('a provider key set on the page is never shown, and its log line arrives live', async () => {
	const logs = await newPage();
	await visit(logs, 'logs');
	await logs.waitForSelector('.stream-state[data-state="open"]');

	const page = await newPage();
	await visit(page, 'providers');
	const form = page.locator('form.key-form');
	await form.getByLabel('Provider').selectOption('groq');
	await form.getByLabel('API key').fill(KEY);
	await form.getByRole('button', { name: 'Set key' }).click();
	await page.getByText('Key set for groq').waitFor();
	assert.equal(await form.getByLabel('API key').inputValue(), '', 'the field is cleared');
	await page.locator('tr', { hasText: 'groq' }).first().locator('.badge', { hasText: 'configured' })
	    .waitFor();

	// agent-runtime logs "API key set for 'groq'": the logs page gets it.
	await logs.locator('.log-line', { hasText: "API key set for 'groq'" }).waitFor();

	// Nowhere in either page, not in the text nor in any field.
	for (const p of [page, logs]) {
		const html = await p.content();
		assert.ok(!html.includes(KEY), 'the key is not in the document');
		const values = await p.$$eval('input, textarea', (els) => els.map((e) => e.value));
		assert.ok(!values.some((v) => v.includes(KEY)), 'nor in a field');
	}
	// Nor on any other page; nor the gateway's own key.
	for (const id of ['providers', 'config', 'audit', 'overview', 'logs']) {
		await visit(page, id);
		const html = await page.content();
		assert.ok(!html.includes(KEY), `not on ${id}`);
		assert.ok(!apiKey || !html.includes(apiKey), `the API key not on ${id}`);
	}
	await page.close();
	await logs.close();
	assert.deepEqual(problems, []);
});

test('an approval approved on the approvals page', async () => {
	const made = await apiCall('POST', '/api/approvals', {
		agent_id: agent, tool_name: 'deploy', description: 'Deploy from the dashboard test',
		action_summary: 'dashboard approval', timeout_secs: 300,
	});
	assert.equal(made.status, 201);
	const id = made.body.id;
	const other = await apiCall('POST', '/api/approvals', {
		agent_id: agent, tool_name: 'rm_tmp', description: 'to be rejected', timeout_secs: 300,
	});
	const page = await newPage();
	await visit(page, 'approvals');
	await page.locator(`button[data-approval="${id}"]`, { hasText: 'Approve' }).click();
	await page.getByText('Approved deploy').waitFor();
	const got = await apiCall('GET', `/api/approvals/${id}`);
	assert.equal(got.body.status, 'approved', 'the API says approved');
	await page.waitForFunction((i) => !document.querySelector(`button[data-approval="${i}"]`), id);
	// And one rejected with a reason.
	const oid = other.body.id;
	const orow = page.locator('tr', { has: page.locator(`button[data-approval="${oid}"]`) });
	await orow.getByLabel('Reason to reject rm_tmp').fill('not today');
	await page.locator(`button[data-approval="${oid}"]`, { hasText: 'Reject' }).click();
	await page.getByText('Rejected rm_tmp').waitFor();
	const rej = await apiCall('GET', `/api/approvals/${oid}`);
	assert.deepEqual([rej.body.status, rej.body.reason], ['rejected', 'not today']);
	await page.close();
	assert.deepEqual(problems, []);
});

test('an agent spawned from a template, then deleted', async () => {
	const page = await newPage();
	await visit(page, 'agents');
	const form = page.locator('form.spawn-template');
	await form.getByLabel('Template').selectOption('hello-world');
	await form.getByLabel('Name (optional)').fill('dash-spawned');
	await form.getByRole('button', { name: 'Spawn' }).click();
	await page.getByText('Spawned dash-spawned').waitFor();
	const link = page.getByRole('link', { name: 'dash-spawned' });
	await link.waitFor();
	const list = await apiCall('GET', '/api/agents');
	assert.ok(list.body.some((a) => a.name === 'dash-spawned'), 'the API lists it');

	// Its page: change its model.
	await link.click();
	await page.waitForSelector('h1:text("Agent dash-spawned")');
	const mf = page.locator('form[aria-label="Change model"]');
	await mf.getByLabel('Model', { exact: true }).fill('gpt-5-mini');
	await mf.getByLabel('Provider (optional)').fill('openai');
	await mf.getByRole('button', { name: 'Change model' }).click();
	await page.getByText('Model: openai/gpt-5-mini').waitFor();
	// Edit its description; suspend it.
	const ef = page.locator('form[aria-label="Edit agent"]');
	await ef.getByLabel('Description').fill('made by the dashboard test');
	await ef.getByRole('button', { name: 'Save' }).click();
	await page.getByText('Saved.').waitFor();
	await page.getByRole('button', { name: 'Suspend' }).click();
	await page.locator('.facts .badge', { hasText: 'Suspended' }).waitFor();
	const got = await apiCall('GET', `/api/agents/${list.body.find((a) => a.name === 'dash-spawned').id}`);
	assert.deepEqual([got.body.description, got.body.state, got.body.model.model],
	    ['made by the dashboard test', 'Suspended', 'gpt-5-mini'], 'the API agrees');
	await page.goto(`${base}/#/agents`);

	await page.getByRole('button', { name: 'Delete dash-spawned' }).click();
	const dlg = page.locator('dialog[open]');
	await dlg.getByRole('button', { name: 'Delete' }).click();
	await link.waitFor({ state: 'detached' });
	const after = await apiCall('GET', '/api/agents');
	assert.ok(!after.body.some((a) => a.name === 'dash-spawned'), 'the API no longer lists it');
	await page.close();
	assert.deepEqual(problems, []);
});

test('a workflow run from its page, with each step and the run listed', async () => {
	const me = await apiCall('GET', `/api/agents/${agent}`);
	const made = await apiCall('POST', '/api/workflows', {
		name: 'dash-wf', description: 'one step',
		steps: [{ name: 'greet', agent_name: me.body.name, prompt: 'Say {{input}}' }],
	});
	assert.equal(made.status, 201);
	const page = await newPage();
	await visit(page, 'workflows', made.body.workflow_id);
	await page.getByText('Workflow "dash-wf"').waitFor();
	const form = page.locator('form[aria-label="Run workflow"]');
	await form.getByLabel('Input').fill('wf-input-77');
	await form.getByRole('button', { name: 'Run' }).click();
	const steps = page.locator('.wf-result');
	await steps.waitFor({ timeout: 20000 });
	const text = await steps.textContent();
	assert.ok(text.includes('greet') && text.includes('wf-input-77'), `the step's output is shown (${text})`);
	await page.locator('table:has(caption:text("Runs"))').getByRole('cell', { name: 'wf-input-77', exact: true })
	    .first().waitFor();
	await page.close();
	assert.deepEqual(problems, []);
});

test('memory searched, a session read and labelled, a config key and a budget set', async () => {
	const page = await newPage();
	// Memory: the test script's memory is found by its words.
	await visit(page, 'memory');
	await page.getByRole('search').getByLabel('Search').fill('short answers');
	await page.getByRole('search').getByRole('button', { name: 'Search' }).click();
	await page.locator('table:has(caption:text("found for"))')
	    .getByText('The operator prefers short answers').waitFor();

	// Sessions: the agent's session shows the turn's message; a label.
	const me = await apiCall('GET', `/api/agents/${agent}`);
	await visit(page, 'sessions');
	const row = page.locator('tbody tr', { has: page.locator(`code[title="${me.body.session_id}"]`) });
	await row.getByRole('button', { name: 'Open' }).click();
	await page.locator('.transcript').getByText('hello from the dashboard test', { exact: true })
	    .waitFor();
	await row.getByRole('button', { name: 'Label' }).click();
	await page.locator('dialog[open]').getByLabel('Label').fill('dash-label');
	await page.locator('dialog[open]').getByRole('button', { name: 'Save' }).click();
	await row.locator('td', { hasText: 'dash-label' }).waitFor();
	const ss = await apiCall('GET', `/api/sessions/${me.body.session_id}`);
	assert.equal(ss.body.label, 'dash-label', 'the API has the label');

	// Config: log_level to debug and back, as the API then says.
	await visit(page, 'config');
	const lvl = page.getByLabel('New value of log_level');
	await lvl.selectOption('debug');
	await page.getByRole('button', { name: 'Set log_level' }).click();
	await page.getByText('log_level set').waitFor();
	// Every process applies the new version as it is announced: the
	// gateway's own view follows within moments.
	assert.equal(await configSays('log_level', 'debug'), 'debug');
	await page.getByLabel('New value of log_level').selectOption('info');
	await page.getByRole('button', { name: 'Set log_level' }).click();
	assert.equal(await configSays('log_level', 'info'), 'info');

	// Budget: a daily limit, as the API then says.
	await visit(page, 'usage');
	await page.getByLabel('Daily limit', { exact: true }).fill('12.5');
	await page.getByRole('button', { name: 'Save limits' }).click();
	await page.getByText('Budget saved').waitFor();
	const b = await apiCall('GET', '/api/budget');
	assert.equal(b.body.daily_limit, 12.5);
	await page.close();
	assert.deepEqual(problems, []);
});

test('a refused action shows the server\'s reason', async () => {
	const page = await newPage();
	const errorToast = (text) => page.locator('.toast-error', { hasText: text }).waitFor();
	await visit(page, 'agents');
	await page.getByLabel('Manifest (agent.toml)').fill('this is [not toml');
	await page.getByRole('button', { name: 'Spawn from TOML' }).click();
	await errorToast('Spawn:');
	await visit(page, 'schedules');
	const form = page.locator('form.schedule-form');
	await form.getByLabel('Name').fill('dash-bad-cron');
	await form.getByLabel('Agent', { exact: true }).selectOption(agent);
	await form.getByLabel('Cron', { exact: true }).fill('61 * * * *');
	await form.getByLabel('Message to the agent').fill('x');
	await form.getByRole('button', { name: 'Create schedule' }).click();
	await errorToast('Create:');
	await visit(page, 'channels', 'telegram');
	await page.getByRole('button', { name: 'Save and reload' }).click();
	await errorToast('missing required fields: TELEGRAM_BOT_TOKEN');
	await page.close();
	// The three refusals, and nothing else.
	assert.deepEqual(problems.map((p) => p.replace(/^\w+: /, '')).sort(), [
		'POST /api/agents 400', 'POST /api/channels/telegram/configure 400', 'POST /api/schedules 400']);
});

test('a WhatsApp channel\'s QR login, shown as its adapter sends it', async () => {
	const finder = (x, y) => (x < 7 && y < 7) || (x > 13 && y < 7) || (x < 7 && y > 13);
	const ring = (x, y, ox, oy) => {
		const dx = x - ox; const dy = y - oy;
		return Math.max(Math.abs(dx - 3), Math.abs(dy - 3)) !== 2;
	};
	const png = modulesPng(21, (x, y) => (finder(x, y)
		? ring(x, y, x > 13 ? 14 : 0, y > 13 ? 14 : 0) : ((x * 7 + y * 13 + x * y) % 5) < 2));
	emitWa({ method: 'qr_ready', params: { qr_code: '2@dash,ops', qr_url: `data:image/png;base64,${png}` } });
	const page = await newPage();
	await visit(page, 'channels', 'wa');
	const img = page.locator('.qr-box img.qr');
	await img.waitFor();
	await page.waitForFunction(() => {
		const i = document.querySelector('.qr-box img.qr');
		return i && i.complete && i.naturalWidth === 168;
	}, null);
	assert.match(await page.textContent('.qr-box'), /pending/);
	await page.locator('.qr-box').screenshot({ path: join(screens, 'channels-qr.png') });
	// Scanned and confirmed on the phone: the page follows (it asks every 3 s).
	emitWa({ method: 'qr_status', params: { status: 'confirmed' } });
	await page.locator('.qr-box .badge', { hasText: 'connected' }).waitFor();
	await page.close();
	assert.deepEqual(problems, []);
});

test('the audit chain verified from the page', async () => {
	const page = await newPage();
	await visit(page, 'audit');
	await page.getByRole('button', { name: 'Verify the chain' }).click();
	await page.locator('.verdict-ok').waitFor();
	assert.match(await page.textContent('.verdict'), /intact/);
	await page.close();
});

test('the navigation works from the keyboard alone', async () => {
	const page = await newPage();
	await visit(page, 'overview');
	// Tab until the Audit link has the focus (30 presses at most).
	let found = false;
	for (let i = 0; i < 30 && !found; i++) {
		await page.keyboard.press('Tab');
		found = await page.evaluate(() => document.activeElement &&
		    document.activeElement.getAttribute('href') === '#/audit');
	}
	assert.ok(found, 'the Audit link is reachable with Tab');
	const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
	assert.notEqual(outline, 'none', 'the focused link shows its focus');
	await page.keyboard.press('Enter');
	await page.waitForSelector('section.page[data-page="audit"]');
	assert.equal(new URL(page.url()).hash, '#/audit');
	// The nav is rebuilt on every route: the focus stays on its link.
	const focused = () => page.evaluate(() => document.activeElement &&
	    document.activeElement.getAttribute('href'));
	assert.equal(await focused(), '#/audit', 'the focus stays on the activated link');
	// Shift+Tab back to Approvals and Enter.
	found = false;
	for (let i = 0; i < 40 && !found; i++) {
		await page.keyboard.press('Shift+Tab');
		found = await page.evaluate(() => document.activeElement &&
		    document.activeElement.getAttribute('href') === '#/approvals');
	}
	assert.ok(found, 'the Approvals link is reachable with Shift+Tab');
	await page.keyboard.press('Enter');
	await page.waitForSelector('section.page[data-page="approvals"]');
	assert.equal(await focused(), '#/approvals', 'the focus stays on the activated link');
	// One Tab from there goes on to the next link, not back to the top.
	await page.keyboard.press('Tab');
	assert.equal(await focused(), '#/memory', 'Tab goes on from the activated link');
	await page.close();
});

test('at 360 px wide: two pages without sideways scrolling', async () => {
	const page = await newPage({ viewport: { width: 360, height: 740 } });
	for (const id of ['overview', 'agents']) {
		await page.emulateMedia({ colorScheme: 'light' });
		await visit(page, id);
		const w = await page.evaluate(() => document.documentElement.scrollWidth);
		assert.ok(w <= 360, `${id}: the page is ${w} px wide`);
		await page.screenshot({ path: join(screens, `${id}-360.png`), fullPage: true });
	}
	await page.close();
	assert.deepEqual(problems, []);
});
