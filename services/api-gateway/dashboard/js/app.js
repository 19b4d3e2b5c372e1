// app.js - the shell: login, navigation, the hash router.
//
// Routes are "#/<page id>/<rest>": the page gets the rest split on '/'.
// Leaving a page calls the cleanup its render() returned (sockets,
// timers).  Login: /api/auth/dashboard-check says whether the gateway
// wants one; the login view asks for the key once and the gateway keeps
// the session in an HttpOnly cookie.  A 401 from any call brings the
// login view back (once: a second 401 while it shows changes nothing).

import {
  api, setCsrf, setBearer, hasBearer, clearAuth, onAuthLost,
} from './api.js';
import { h, mount, field, toast } from './ui.js';
import pages from './pages/index.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logoutBtn = document.getElementById('logout');
const menuBtn = document.getElementById('menu');

const state = {
  authRequired: false,   // the gateway wants a login
  authed: false,         // we hold a session (or need none)
  methods: ['api_key'],
  legacy: false,         // no dashboard login: Bearer key in memory
  dashLogin: true,       // the gateway has /api/auth/dashboard-login
  cleanup: null,
  page: null,
  returnTo: null,
  renderSeq: 0,
};

function parseHash() {
  const raw = window.location.hash || '';
  if (!raw.startsWith('#/')) return null;
  const parts = raw.slice(2).split('/').map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { id: parts[0] || '', params: parts.slice(1).filter((p) => p !== '') };
}

function leavePage() {
  const fn = state.cleanup;
  state.cleanup = null;
  state.page = null;
  if (typeof fn === 'function') {
    try { fn(); } catch (e) { console.error('page cleanup', e); }
  }
}

// Rebuilding the nav drops the focus of a link the keyboard activated:
// it goes back to the new link of the same page.
function buildNav(activeId) {
  const had = nav.contains(document.activeElement)
    ? document.activeElement.getAttribute('href') : null;
  mount(nav, h('ul', null, pages.map((p) => h('li', null,
    h('a', { href: `#/${p.id}`, 'aria-current': p.id === activeId ? 'page' : null }, p.title)))));
  nav.hidden = pages.length === 0;
  if (had) {
    const again = [...nav.querySelectorAll('a')].find((a) => a.getAttribute('href') === had);
    if (again) again.focus();
  }
}

function emptyView() {
  return h('section', { class: 'page' },
    h('h1', null, 'LibreFang'),
    h('p', null, 'The agent operating system is running. No dashboard pages are built in yet; the REST API is at ',
      h('a', { href: '/api/health' }, '/api/health'), '.'));
}

async function route() {
  if (state.authRequired && !state.authed) {
    showLogin();
    return;
  }
  const r = parseHash();
  if (r === null && state.page) return;   // "#main" and the like
  const page = pages.find((p) => p.id === (r ? r.id : '')) ||
    (r && r.id !== '' ? null : pages[0]);
  leavePage();
  buildNav(page ? page.id : null);
  document.body.classList.remove('nav-open');
  menuBtn.setAttribute('aria-expanded', 'false');
  const seq = ++state.renderSeq;
  if (!page) {
    if (r && r.id !== '' && pages.length) {
      mount(main, h('section', { class: 'page' }, h('h1', null, 'Not found'),
        h('p', null, `No page "${r.id}". `, h('a', { href: `#/${pages[0].id}` }, 'Go to the first page'), '.')));
    } else {
      mount(main, emptyView());
    }
    document.title = 'LibreFang';
    return;
  }
  state.page = page;
  document.title = `${page.title} · LibreFang`;
  const root = h('section', { class: 'page', 'data-page': page.id });
  mount(main, root);
  try {
    const ret = await page.render(root, r ? r.params : []);
    if (seq !== state.renderSeq) {
      if (typeof ret === 'function') ret();   // left while rendering
      return;
    }
    state.cleanup = ret;
  } catch (e) {
    if (seq !== state.renderSeq) return;
    console.error(e);
    mount(root, h('h1', null, page.title), h('div', { class: 'error-box', role: 'alert' },
      `This page failed: ${e.message}`));
  }
}

// ---- login -------------------------------------------------------------

function showLogin(message) {
  leavePage();
  nav.hidden = true;
  logoutBtn.hidden = true;
  menuBtn.hidden = true;
  who.textContent = '';
  document.title = 'Log in · LibreFang';
  const err = h('p', { class: 'error-text', role: 'alert', id: 'login-error' }, message || '');
  const controls = [];
  let keyInput = null;
  let userInput = null;
  let passInput = null;
  if (state.methods.includes('password')) {
    userInput = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true });
    passInput = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    controls.push(field('User name', userInput), field('Password', passInput));
  } else if (state.methods.includes('api_key') || state.methods.length === 0) {
    keyInput = h('input', {
      type: 'password', name: 'api_key', autocomplete: 'current-password', required: true,
      spellcheck: 'false',
    });
    controls.push(field('API key', keyInput, 'The api_key of the gateway\'s configuration.'));
  }
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
  const form = h('form', { class: 'login-form', 'aria-describedby': 'login-error' },
    ...controls, err, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      await login(keyInput ? { api_key: keyInput.value } :
        { username: userInput.value, password: passInput.value });
      state.authed = true;
      const to = state.returnTo;
      state.returnTo = null;
      enterApp();
      if (to && to !== window.location.hash) window.location.hash = to;
      else route();
    } catch (e) {
      err.textContent = e.status === 401 || e.status === 403
        ? 'Wrong key: the gateway refused it.' : `Login failed: ${e.message}`;
      submit.disabled = false;
      (keyInput || passInput).select();
    }
  });
  const oidc = state.methods.includes('oidc')
    ? h('div', { class: 'login-sso', 'aria-label': 'Single sign-on' }) : null;
  mount(main, h('section', { class: 'page login' },
    h('h1', null, 'Log in to LibreFang'), controls.length ? form : null, oidc));
  const first = form.querySelector('input');
  if (first) first.focus();
  if (oidc) ssoLinks(oidc);
}

// One link per OpenID Connect provider (GET /api/auth/providers): a plain
// navigation to its login_url, which answers with a redirect to the
// provider; the page asked for comes back after the login.  If the list
// cannot be had, one link to the default provider.
async function ssoLinks(box) {
  const back = state.returnTo && state.returnTo.startsWith('#/')
    ? `?redirect=${encodeURIComponent(`/${state.returnTo}`)}` : '';
  let provs = [];
  try {
    const r = await api('GET', '/api/auth/providers', undefined, { noAuthRedirect: true });
    provs = (r && Array.isArray(r.providers) ? r.providers : [])
      .filter((p) => p && typeof p.login_url === 'string' && p.login_url.startsWith('/'));
  } catch (e) {
    provs = [];
  }
  if (!box.isConnected) return;   // the login view is gone
  const links = provs.length
    ? provs.map((p) => h('a', { class: 'btn', href: p.login_url + back, 'data-provider': p.id },
      `Log in with ${p.display_name || p.id}`))
    : [h('a', { class: 'btn', href: `/api/auth/login${back}` }, 'Log in with single sign-on')];
  mount(box, ...links.map((a) => h('p', null, a)));
}

async function login(body) {
  if (!state.dashLogin && body.api_key !== undefined) {
    await bearerLogin(body.api_key);
    return;
  }
  try {
    const r = await api('POST', '/api/auth/dashboard-login', body, { noAuthRedirect: true });
    setBearer(null);
    setCsrf(r && r.csrf_token);
    state.legacy = false;
  } catch (e) {
    // A gateway without the dashboard login: check the key on a call
    // that needs it and keep it in memory for this tab.
    if ((e.status === 404 || e.status === 501) && body.api_key !== undefined) {
      state.dashLogin = false;
      await bearerLogin(body.api_key);
      return;
    }
    throw e;
  }
}

// A gateway without the dashboard login: the key is checked on a call
// that needs it and kept in memory for this tab only.
async function bearerLogin(key) {
  setBearer(key);
  try {
    await api('GET', '/api/status', undefined, { noAuthRedirect: true });
  } catch (e) {
    setBearer(null);
    throw e;
  }
  state.legacy = true;
}

// Ends the session the cookie holds, if any (also after a Bearer login:
// a cookie may be left from before), with its current CSRF token.
async function logout() {
  setBearer(null);
  try {
    const c = await api('GET', '/api/auth/dashboard-check', undefined, { noAuthRedirect: true });
    if (c && c.authenticated) {
      if (c.csrf_token) setCsrf(c.csrf_token);
      await api('POST', '/auth/logout', {}, { noAuthRedirect: true });
    }
  } catch (e) {
    if (![401, 404, 501].includes(e.status)) toast(`Logout: ${e.message}`, 'error');
  }
  clearAuth();
  state.authed = false;
  state.legacy = false;
  state.returnTo = null;
  toast('Logged out.', 'ok');
  if (state.authRequired) showLogin();
  else route();
}

function enterApp(user) {
  logoutBtn.hidden = !state.authRequired;
  menuBtn.hidden = pages.length === 0;
  if (user) who.textContent = user;
}

onAuthLost((msg) => {
  if (!state.authRequired && !hasBearer()) state.authRequired = true;
  if (!state.authed) return;             // already at the login view
  state.authed = false;
  state.returnTo = window.location.hash || null;
  clearAuth();
  showLogin(`Please log in again (${msg}).`);
});

async function boot() {
  let check = null;
  try {
    check = await api('GET', '/api/auth/dashboard-check', undefined, { noAuthRedirect: true });
  } catch (e) {
    check = null;
  }
  if (check && typeof check === 'object' && 'auth_required' in check) {
    state.authRequired = !!check.auth_required;
    state.authed = !check.auth_required || !!check.authenticated;
    if (Array.isArray(check.methods) && check.methods.length) state.methods = check.methods;
    if (check.csrf_token) setCsrf(check.csrf_token);
    if (state.authed) enterApp(check.user);
  } else {
    // No dashboard login on this gateway (its check is missing, or
    // behind the key): does the API want a key?
    state.dashLogin = false;
    try {
      await api('GET', '/api/status', undefined, { noAuthRedirect: true });
      state.authRequired = false;
      state.authed = true;
      enterApp();
    } catch (e) {
      state.authRequired = e.status === 401;
      state.authed = !state.authRequired;
      if (state.authed) enterApp();
    }
  }
  route();
}

window.addEventListener('hashchange', () => {
  if (!state.authed && state.authRequired) {
    state.returnTo = window.location.hash;
    return;
  }
  route();
});
logoutBtn.addEventListener('click', logout);
menuBtn.addEventListener('click', () => {
  const open = document.body.classList.toggle('nav-open');
  menuBtn.setAttribute('aria-expanded', String(open));
});
document.getElementById('skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});
boot();
