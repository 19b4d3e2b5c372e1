// The dashboard in headless Chromium (playwright-core): the first page
// under its CSP, the login (a wrong key fails closed, then the right
// one), an agent spawned from a template, a streamed answer with its
// thinking and a tool card, agent output holding HTML shown as text, a
// tool call approved inline, a socket dropped mid-answer (the answer is
// shown once), the page at 360 px, logout.  Screenshots of each view go
// to LF_SCREENS.
//
// Environment: LF_URL (the gateway, with api_key LF_KEY), FAKE_URL (the
// fake provider; every agent's default model is LF_MODEL on it),
// LF_SCREENS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, base, fakeScript, fakeRequests } from './browser.mjs';

const key = process.env.LF_KEY;
const fake = process.env.FAKE_URL;
const model = process.env.LF_MODEL || 'dash-model';

let b;			// launch()'s result, shared by the steps in order
after(async () => {
	if (b)
		await b.browser.close();
});

const logText = () => b.page.locator('.chat-log').innerText();

// After a reload: with the session cookie the page is still logged in;
// after a Bearer login (the 401 test's) the key was the page's only.
async function reloggedIfAsked() {
	const { page } = b;
	const login = page.getByLabel('API key');
	const chat = page.locator('.chat-bar');
	await login.or(chat).first().waitFor();
	if (await login.isVisible()) {
		await login.fill(key);
		await page.getByRole('button', { name: 'Log in' }).click();
	}
	await chat.waitFor();
}
const count = (hay, needle) => hay.split(needle).length - 1;

test('the first page loads under the CSP, small, with the login view', async () => {
	b = await launch();
	const { page } = b;
	const resp = await page.goto(`${base}/`);
	assert.equal(resp.status(), 200);
	const csp = resp.headers()['content-security-policy'];
	assert.match(csp, /script-src 'self';/);
	assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
	await page.getByLabel('API key').waitFor();
	assert.equal(await page.locator('#nav').isHidden(), true, 'no navigation before login');
	// The gateway has an OpenID provider (t2321's [external_auth]): one
	// plain link to its login_url beside the key form.
	const sso = page.getByRole('link', { name: 'Log in with Corp SSO' });
	await sso.waitFor();
	assert.equal(await sso.getAttribute('href'), '/api/auth/login/corp');
	assert.equal(await page.locator('.login-sso a').count(), 1, 'one link per provider');
	// What crossed the wire for the first page (compressed sizes).
	const bytes = await page.evaluate(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		return performance.getEntriesByType('resource')
		    .reduce((s, r) => s + (r.transferSize || 0), nav ? nav.transferSize : 0);
	});
	assert.ok(bytes > 0 && bytes <= 150 * 1024, `first page transfer ${bytes} bytes`);
	const enc = await page.evaluate(async () => {
		const r = await fetch('/dashboard/js/app.js');
		return r.headers.get('content-type');
	});
	assert.equal(enc, 'text/javascript; charset=utf-8');
	await b.shot('login');
	assert.deepEqual(await b.cspNow(), []);
});

test('a wrong key fails closed', async () => {
	const { page } = b;
	await page.getByLabel('API key').fill('not-the-key');
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('#login-error').filter({ hasText: /wrong key/i }).waitFor();
	assert.equal(await page.locator('#nav').isHidden(), true, 'still no navigation');
	assert.equal(await page.locator('.chat-log').count(), 0, 'no chat behind the login');
	const st = await page.evaluate(async () => (await fetch('/api/agents')).status);
	assert.equal(st, 401, 'the page holds no credentials');
	await b.shot('login-wrong-key');
});

test('log in with the key', async () => {
	const { page } = b;
	await page.getByLabel('API key').fill(key);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('#nav').getByRole('link', { name: 'Chat' }).waitFor();
	await page.getByRole('button', { name: 'Log out' }).waitFor();
	assert.equal(await page.getByLabel('API key').count(), 0);
	// The session is the gateway's cookie, out of the page's reach.
	const c = (await b.context.cookies()).find((x) => x.name === 'librefang_session');
	assert.ok(c, 'the session cookie is set');
	assert.equal(c.httpOnly, true);
	assert.equal(c.sameSite, 'Strict');
	assert.equal(await page.evaluate(() => document.cookie.includes('librefang_session')), false);
	await b.shot('first-page');
	await page.locator('#nav').getByRole('link', { name: 'Chat' }).click();
	await page.getByRole('button', { name: 'New agent' }).waitFor();
	assert.match(page.url(), /#\/chat$/);
	await b.shot('chat-empty');
});

test('spawn an agent from a template; a streamed answer with thinking and a tool card', async () => {
	const { page } = b;
	await page.getByRole('button', { name: 'New agent' }).click();
	await page.getByLabel('Template').selectOption('coder');
	await page.getByLabel('Name').fill('dash-coder');
	await b.shot('spawn');
	await page.getByRole('button', { name: 'Spawn' }).click();
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor();
	assert.match(page.url(), /#\/chat\/[0-9a-f-]{36}/);
	await fakeScript(fake, model, [
		{ reasoning: 'Looking at the workspace first.',
		  tool_calls: [{ name: 'file_list', arguments: { path: '.' } }] },
		{ text: 'Here is **the answer**: <script>window.lfXss=1</script> ' +
		    '<img src=x onerror="window.lfXss=2"> and [a link](javascript:window.lfXss=3) done-one.',
		  chunk_delay_ms: 80 },
	]);
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('what is in the workspace?');
	await box.press('Enter');
	// Streamed: text shows while the answer is still live.
	await page.waitForFunction(() => {
		const l = document.querySelector('.msg-live .md');
		return l && l.textContent.length > 0;
	});
	const partial = await page.locator('.msg-live .md').innerText();
	await b.shot('chat-streaming');
	await page.locator('.chat-log').getByText('done-one.').waitFor();
	await page.locator('.msg-live').waitFor({ state: 'detached' });
	const text = await logText();
	assert.ok(partial.length < text.length, 'a part came before the whole');
	assert.equal(count(text, 'what is in the workspace?'), 1);
	assert.equal(count(text, 'done-one.'), 1);
	const card = page.locator('.tool-card', { hasText: 'Tool: file_list' });
	assert.equal(await card.count(), 1, 'one tool card');
	assert.match(await card.locator('.badge').innerText(), /done|error/);
	assert.match(await page.locator('.thinking').innerText(), /Thinking/);
	await page.locator('.thinking summary').click();
	assert.match(await page.locator('.thinking').innerText(), /Looking at the workspace first\./);
	assert.equal(await page.locator('.chat-log strong', { hasText: 'the answer' }).count(), 1,
	    'markdown rendered');
	await b.shot('chat-answer');
});

test('agent output holding HTML or script is shown as text, never run', async () => {
	const { page } = b;
	const text = await logText();
	assert.ok(text.includes('<script>window.lfXss=1</script>'), 'the script tag as text');
	assert.ok(text.includes('<img src=x onerror="window.lfXss=2">'), 'the img tag as text');
	assert.equal(await page.locator('.chat-log script, .chat-log img, .chat-log iframe').count(), 0);
	assert.equal(await page.locator('.chat-log a[href^="javascript"]').count(), 0,
	    'no javascript: link');
	assert.equal(await page.evaluate(() => window.lfXss), undefined);
});

test('the markdown renderer builds safe nodes only', async () => {
	const { page } = b;
	const out = await page.evaluate(async () => {
		const { renderMarkdown } = await import('/dashboard/js/markdown.js');
		const cases = {
			html: '<b>bold?</b> <img src=x onerror="window.lfXss=4"><svg onload="window.lfXss=5">',
			jslink: '[x](javascript:window.lfXss=6) [y](data:text/html,hi) [z](  vbscript:x)',
			link: 'see [the site](https://example.com/a?b=1) and http://example.org/x.',
			snake: 'snake_case_name and a_b_c and file_name_',
			strong: '**bold** *em* _em2_ ~~gone~~ `<code>`',
			fence: '```html\n<script>window.lfXss=7</script>\n```',
			list: '- one\n- two\n\n1. first\n2. second',
			table: '| a | b |\n|---|---|\n| <i>1</i> | 2 |',
			quote: '> quoted <u>text</u>',
			heading: '# Big <em>title</em>',
		};
		const res = {};
		for (const [k, v] of Object.entries(cases)) {
			const div = document.createElement('div');
			div.appendChild(renderMarkdown(v));
			res[k] = {
				html: div.innerHTML,
				text: div.textContent,
				tags: [...div.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),
				links: [...div.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.rel]),
				attrs: [...div.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((x) => x.name)),
			};
		}
		return { res, xss: window.lfXss };
	});
	const { res } = out;
	assert.equal(out.xss, undefined, 'nothing ran');
	const allowed = new Set(['p', 'strong', 'em', 'del', 'code', 'pre', 'a', 'ul', 'ol', 'li',
	    'h3', 'h4', 'h5', 'h6', 'hr', 'br', 'blockquote', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'div']);
	for (const [k, r] of Object.entries(res)) {
		for (const t of r.tags)
			assert.ok(allowed.has(t), `${k}: unexpected <${t}> in ${r.html}`);
		for (const a of r.attrs)
			assert.ok(['href', 'rel', 'target', 'class', 'start'].includes(a), `${k}: attribute ${a}`);
	}
	assert.equal(res.html.text, '<b>bold?</b> <img src=x onerror="window.lfXss=4"><svg onload="window.lfXss=5">');
	assert.deepEqual(res.jslink.links, [], 'no link but http(s)');
	assert.deepEqual(res.link.links, [['https://example.com/a?b=1', 'noopener noreferrer'],
	    ['http://example.org/x', 'noopener noreferrer']]);
	assert.deepEqual(res.snake.tags, ['p'], 'snake_case stays text');
	assert.deepEqual(res.strong.tags, ['p', 'strong', 'em', 'em', 'del', 'code']);
	assert.deepEqual(res.fence.tags, ['pre', 'code']);
	assert.equal(res.fence.text, '<script>window.lfXss=7</script>');
	assert.deepEqual(res.list.tags, ['ul', 'li', 'li', 'ol', 'li', 'li']);
	assert.ok(res.table.tags.includes('table') && res.table.text.includes('<i>1</i>'));
	assert.deepEqual(res.quote.tags, ['blockquote', 'p']);
	assert.equal(res.heading.text, 'Big <em>title</em>');
});

test('a tool call is approved inline', async () => {
	const { page } = b;
	await fakeScript(fake, model, [
		{ tool_calls: [{ name: 'shell_exec', arguments: { command: 'ls /' } }] },
		{ text: 'Listed the root, done-two.' },
	]);
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('list the root please');
	await box.press('Enter');
	const card = page.locator('.approval-card');
	await card.waitFor();
	assert.match(await card.innerText(), /shell_exec/);
	assert.match(await card.innerText(), /ls \//);
	await b.shot('approval');
	await card.getByRole('button', { name: 'Approve' }).click();
	await card.locator('.badge', { hasText: 'approved' }).waitFor();
	await page.locator('.chat-log').getByText('Listed the root, done-two.').waitFor();
	const tool = page.locator('.tool-card', { hasText: 'Tool: shell_exec' });
	assert.equal(await tool.locator('.badge').innerText(), 'done');
	assert.equal(await card.getByRole('button', { name: 'Approve' }).isDisabled(), true);
	await b.shot('approved');
});

test('a socket dropped mid-answer: it reconnects and the answer shows once', async () => {
	const { page } = b;
	const words = Array.from({ length: 24 }, (_, i) => `w${i}`).join(' ');
	await fakeScript(fake, model, [
		{ text: `Slow start ${words} slow-end-marker.`, chunk_delay_ms: 150 },
	]);
	const before = (await fakeRequests(fake, model)).length;
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('tell me slowly');
	await box.press('Enter');
	await page.waitForFunction(() => {
		const l = document.querySelector('.msg-live .md');
		return l && /w2\b/.test(l.textContent);
	});
	const sockets = await page.evaluate(() => window.__lfSockets.length);
	await page.evaluate(() => window.__lfSockets[window.__lfSockets.length - 1].close());
	await page.locator('.chat-bar .badge', { hasText: /reconnecting/ }).waitFor();
	await b.shot('reconnecting');
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor();
	assert.ok(await page.evaluate(() => window.__lfSockets.length) > sockets, 'a new socket');
	await page.locator('.chat-log').getByText(/slow-end-marker/).waitFor({ timeout: 30000 });
	await page.locator('.msg-live').waitFor({ state: 'detached', timeout: 30000 });
	let text = await logText();
	assert.equal(count(text, 'slow-end-marker'), 1, `the answer once: ${text}`);
	assert.equal(count(text, 'tell me slowly'), 1, 'the question once');
	const asked = (await fakeRequests(fake, model)).slice(before);
	assert.equal(asked.length, 1, 'the message reached the model once');
	await page.reload();
	await reloggedIfAsked();
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor();
	text = await logText();
	assert.equal(count(text, 'slow-end-marker'), 1, 'once after a reload');
	assert.equal(count(text, 'done-one.'), 1, 'the history is whole');
	// From the history too: one bubble per answer, tool cards with results.
	assert.equal(await page.locator('.msg-user').count(), 3, 'three questions');
	assert.equal(await page.locator('.msg-assistant').count(), 3, 'three answers');
	assert.equal(await page.locator('.tool-card', { hasText: 'shell_exec' }).locator('.badge').innerText(), 'done');
	assert.match(await page.locator('.tool-card', { hasText: 'shell_exec' }).locator('.tool-io').last()
	    .textContent(), /\bbin\b/, 'the command\'s output from the history');
	await b.shot('after-reconnect');
});

test('a socket lost just as a message is sent: it runs once, shown once', async () => {
	// The window a count of the history cannot close: the frame left, the
	// socket died before any answer, and the history may not hold the
	// message yet.  The page sends it again under its idempotency_key.
	const { page } = b;
	await fakeScript(fake, model, [{ text: 'Answered once, done-five.', delay_ms: 2000 }]);
	const before = (await fakeRequests(fake, model)).length;
	await page.evaluate(() => {
		const s = window.__lfSockets[window.__lfSockets.length - 1];
		const send = s.send.bind(s);
		s.send = (d) => { window.__lfSent = d; send(d); s.close(); };
	});
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('only once please');
	await box.press('Enter');
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor();
	await page.locator('.chat-log').getByText('done-five.').waitFor({ timeout: 30000 });
	await page.locator('.msg-live').waitFor({ state: 'detached', timeout: 30000 });
	const text = await logText();
	assert.equal(count(text, 'done-five.'), 1, `the answer once: ${text}`);
	assert.equal(count(text, 'only once please'), 1, 'the question once');
	const asked = (await fakeRequests(fake, model)).slice(before);
	assert.equal(asked.length, 1, 'the message reached the model once');
	// What makes a repeat safe whatever the history said at the
	// reconnect (the server's side: t1601's ws-agent test).
	const sent = JSON.parse(await page.evaluate(() => window.__lfSent));
	assert.ok(sent.message_id && sent.idempotency_key === sent.message_id,
	    `the frame carries its idempotency_key: ${JSON.stringify(sent)}`);
});

test('an attachment goes through the upload route to the model', async () => {
	const { page } = b;
	await page.getByLabel('Attach files').setInputFiles({
		name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('attached-secret-words\n'),
	});
	await page.getByRole('button', { name: 'Remove notes.txt' }).waitFor();
	await fakeScript(fake, model, [{ text: 'Read the notes, done-three.' }]);
	const before = (await fakeRequests(fake, model)).length;
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('summarise the notes');
	await box.press('Enter');
	await page.locator('.chat-log').getByText('Read the notes, done-three.').waitFor();
	assert.match(await logText(), /Attached: notes\.txt/);
	const asked = (await fakeRequests(fake, model)).slice(before);
	assert.equal(asked.length, 1);
	assert.match(JSON.stringify(asked[0].body.messages), /attached-secret-words/, 'the file reached the model');
	assert.equal(await page.getByRole('button', { name: 'Remove notes.txt' }).count(), 0, 'the list is emptied');
});

test('slash commands: the hint lists them, /usage answers in the chat', async () => {
	const { page } = b;
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('/us');
	await page.locator('.cmd-hint').getByText('/usage').waitFor();
	await box.fill('/usage');
	await box.press('Enter');
	await page.locator('.msg-system', { hasText: '/usage:' }).waitFor();
	await box.fill('/help');
	await box.press('Enter');
	await page.locator('.msg-system', { hasText: '/compact' }).waitFor();
	await b.shot('commands');
});

test('sessions: a new one starts empty, switching back shows the history', async () => {
	const { page } = b;
	const first = page.url().match(/#\/chat\/([0-9a-f-]{36})(?:\/([0-9a-f-]{36}))?/);
	assert.ok(first, page.url());
	const prev = await page.getByLabel('Session').inputValue();
	await page.getByRole('button', { name: 'New session' }).click();
	await page.waitForFunction((p) => !window.location.hash.endsWith(p) &&
	    /#\/chat\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/.test(window.location.hash), prev);
	await page.locator('.chat-bar .badge', { hasText: 'connected' }).waitFor();
	assert.equal(await page.locator('.msg-user').count(), 0, 'a new session is empty');
	await fakeScript(fake, model, [{ text: 'Fresh session, done-four.' }]);
	const box = page.getByRole('textbox', { name: 'Message' });
	await box.fill('hello again');
	await box.press('Enter');
	await page.locator('.chat-log').getByText('done-four.').waitFor();
	await page.getByLabel('Session').selectOption(prev);
	await page.waitForFunction((p) => window.location.hash.endsWith(p), prev);
	await page.locator('.chat-log').getByText(/slow-end-marker/).waitFor();
	const text = await logText();
	assert.equal(count(text, 'done-four.'), 0, 'the other session\'s answer is not here');
	assert.equal(count(text, 'done-one.'), 1);
	await b.shot('session-switched');
});

test('the chat at 360 px wide and in the dark theme', async () => {
	const { page } = b;
	await page.setViewportSize({ width: 360, height: 740 });
	await page.emulateMedia({ colorScheme: 'dark' });
	await page.locator('.chat-log').waitFor();
	const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
	assert.ok(over <= 0, `no horizontal scroll (${over} px over)`);
	// The menu is folded (off the screen, after its slide).
	await page.waitForFunction(() => {
		const r = document.getElementById('nav').getBoundingClientRect();
		return r.x + r.width <= 0;
	});
	await page.getByRole('button', { name: 'Menu' }).click();
	await page.waitForFunction(() => document.getElementById('nav').getBoundingClientRect().x >= 0);
	assert.equal(await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded'), 'true');
	const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
	assert.notEqual(bg, 'rgb(246, 247, 249)', 'the dark palette');
	await b.shot('mobile-dark-menu');
	await page.getByRole('button', { name: 'Menu' }).click();
	await page.waitForFunction(() => {
		const r = document.getElementById('nav').getBoundingClientRect();
		return r.x + r.width <= 0;
	});
	const composer = await page.getByRole('button', { name: 'Send' }).boundingBox();
	assert.ok(composer && composer.y + composer.height <= 740, 'Send is on the screen');
	await b.shot('mobile-dark-chat');
	await page.setViewportSize({ width: 1280, height: 800 });
	await page.emulateMedia({ colorScheme: 'light' });
});

test('keyboard: focus is visible and every control has a label', async () => {
	const { page } = b;
	await page.locator('body').press('Tab');
	const outline = await page.evaluate(() => {
		const el = document.activeElement;
		return el ? getComputedStyle(el).outlineStyle : 'none';
	});
	assert.notEqual(outline, 'none', 'the focused element is outlined');
	const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
	    .filter((el) => !el.hidden && el.offsetParent !== null)
	    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
	        !(el.tagName === 'BUTTON' && el.textContent.trim()))
	    .map((el) => el.outerHTML.slice(0, 80)));
	assert.deepEqual(unlabelled, []);
});

test('a 401 (an expired session) brings the login view back once, no loop', async () => {
	const { page } = b;
	let hits = 0;
	const expired = (route) => {
		hits += 1;
		return route.fulfill({ status: 401, contentType: 'application/json',
		    body: JSON.stringify({ error: 'session expired' }) });
	};
	await page.route('**/api/**', expired);
	await page.evaluate(() => { window.location.hash = '#/chat'; window.location.reload(); });
	await page.getByLabel('API key').waitFor();
	const h0 = hits;
	await page.waitForTimeout(2500);
	assert.ok(hits - h0 <= 1, `no loop of calls at the login view (${hits - h0} more)`);
	assert.equal(await page.locator('.chat-log').count(), 0);
	await page.unroute('**/api/**', expired);
	await page.getByLabel('API key').fill(key);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.chat-bar').waitFor();
	await page.evaluate(() => { window.location.hash = '#/overview'; });
	await page.route('**/api/**', expired);
	await page.getByLabel('API key').waitFor();
	assert.match(await page.locator('#login-error').innerText(), /log in again/i,
	    'says why, when it happens on a page');
	const h1 = hits;
	await page.waitForTimeout(2500);
	assert.ok(hits - h1 <= 1, `the page left its timers (${hits - h1} more calls)`);
	await b.shot('session-expired');
	await page.unroute('**/api/**', expired);
	await page.getByLabel('API key').fill(key);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('#nav').getByRole('link', { name: 'Chat' }).waitFor();
	assert.match(page.url(), /#\/overview$/, 'back where it was');
	await page.locator('#nav').getByRole('link', { name: 'Chat' }).click();
	await page.locator('.chat-bar').waitFor();
});

test('logout returns to the login view and the API refuses the page', async () => {
	const { page } = b;
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.getByLabel('API key').waitFor();
	assert.equal(await page.locator('#nav').isHidden(), true);
	const st = await page.evaluate(async () => (await fetch('/api/agents')).status);
	assert.equal(st, 401);
	const left = (await b.context.cookies()).filter((x) => x.name === 'librefang_session' && x.value);
	assert.deepEqual(left, [], 'the cookie is cleared');
	await page.goto(`${base}/#/chat`);
	await page.getByLabel('API key').waitFor();
	assert.equal(await page.locator('.chat-log').count(), 0);
	await b.shot('logged-out');
});

test('no CSP violation and no page error in the whole run', async () => {
	assert.deepEqual(await b.cspNow(), []);
	assert.deepEqual(b.problems.errors, []);
});
