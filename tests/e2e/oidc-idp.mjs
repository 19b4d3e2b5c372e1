// oidc-idp.mjs - a real OpenID provider (npm oidc-provider) for the
// gateway's OIDC login tests (tests/integration/t231*.sh).
//
//   node tests/e2e/oidc-idp.mjs --port N --redirect URL [--redirect URL..]
//
// Prints "listening <port>" and "blackhole <port>" (a socket that accepts
// and never answers: a provider that is down) on stdout.  One static
// client: client_id "librefang", secret "test-secret-123"
// (client_secret_basic), code flow with PKCE.  The login needs no form:
// GET /interaction/<uid> logs the current user in and grants the scopes.
//
// /__ctl?user=NAME        who logs in next (alice, bob: see ACCOUNTS)
// /__ctl?mode=MODE        what happens to the next ID tokens the token
//                         endpoint sends: normal, tamper (a signature
//                         byte changed), nonce, expired, iss, aud, none,
//                         hs256 (signed with the RSA public key as an
//                         HMAC secret), es256 (signed with the ES256 key),
//                         rotate (signed with a key the JWKS lists only
//                         from now on), unknown_kid (a key it never lists)
// /__ctl                  {mode, user, token_requests, jwks_requests}
// /__mint?mode=MODE       an ID token for alice with the aud "librefang"
//                         and no nonce, as MODE would send it
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
let port = 0;
const redirects = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port') port = Number(args[++i]);
  else if (args[i] === '--redirect') redirects.push(args[++i]);
}

const ACCOUNTS = {
  alice: { sub: 'alice', email: 'alice@example.com', email_verified: true,
    name: 'Alice Example', preferred_username: 'alice' },
  bob: { sub: 'bob', email: 'bob@elsewhere.test', email_verified: true,
    name: 'Bob Elsewhere', preferred_username: 'bob' },
};

function keyPair(type, opts, kid, alg) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, opts);
  const priv = { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const pub = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { privateKey, publicKey, priv, pub, kid, alg };
}
const rsa = keyPair('rsa', { modulusLength: 2048 }, 'rsa-1', 'RS256');
const ec = keyPair('ec', { namedCurve: 'P-256' }, 'ec-1', 'ES256');
const rotated = keyPair('rsa', { modulusLength: 2048 }, 'rsa-2', 'RS256');
const stray = keyPair('rsa', { modulusLength: 2048 }, 'rsa-stray', 'RS256');

const state = { mode: 'normal', user: 'alice', rotatedPublished: false,
  token_requests: 0, jwks_requests: 0 };

const b64u = (b) => Buffer.from(b).toString('base64url');
const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

function sign(header, payload, key) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig;
  if (header.alg === 'none') sig = '';
  else if (header.alg === 'HS256') {
    sig = b64u(crypto.createHmac('sha256', key).update(input).digest());
  } else if (header.alg === 'ES256') {
    sig = b64u(crypto.sign('sha256', Buffer.from(input),
      { key, dsaEncoding: 'ieee-p1363' }));
  } else sig = b64u(crypto.sign('sha256', Buffer.from(input), key));
  return `${input}.${sig}`;
}

// The ID token as the current mode sends it.
function mutate(jwt, mode) {
  const [h, p, s] = jwt.split('.');
  const header = part(h);
  const payload = part(p);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'tamper': {
      const i = Math.floor(s.length / 2);
      const c = s[i] === 'A' ? 'B' : 'A';
      return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
    }
    case 'nonce': payload.nonce = 'not-the-nonce'; break;
    case 'expired': payload.exp = now - 3600; payload.iat = now - 7200; break;
    case 'iss': payload.iss = 'http://127.0.0.1:9/evil'; break;
    case 'aud': payload.aud = 'someone-else'; break;
    case 'none': return sign({ alg: 'none', typ: 'JWT' }, payload, null);
    case 'hs256':
      return sign({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, payload,
        rsa.publicKey.export({ format: 'pem', type: 'spki' }));
    case 'es256':
      return sign({ alg: 'ES256', typ: 'JWT', kid: ec.kid }, payload, ec.privateKey);
    case 'rotate':
      state.rotatedPublished = true;
      return sign({ alg: 'RS256', typ: 'JWT', kid: rotated.kid }, payload,
        rotated.privateKey);
    case 'unknown_kid':
      return sign({ alg: 'RS256', typ: 'JWT', kid: stray.kid }, payload,
        stray.privateKey);
    default: return jwt;
  }
  return sign(header, payload, rsa.privateKey);
}

const srv = http.createServer();
await new Promise((r) => srv.listen(port, '127.0.0.1', r));
port = srv.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'librefang',
    client_secret: 'test-secret-123',
    redirect_uris: redirects,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [rsa.priv] },
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['librefang-test-cookie-key'] },
  findAccount: (ctx, id) => ACCOUNTS[id] && ({
    accountId: id,
    claims: () => ACCOUNTS[id],
  }),
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600,
    Interaction: 600, Session: 600, Grant: 600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.use(async (ctx, next) => {
  if (ctx.path === '/token') state.token_requests++;
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body &&
      typeof ctx.body.id_token === 'string' && state.mode !== 'normal') {
    ctx.body.id_token = mutate(ctx.body.id_token, state.mode);
  }
});

const cb = provider.callback();

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: state.user } };
  } else {
    const grant = new provider.Grant({ accountId: session.accountId,
      clientId: params.client_id });
    grant.addOIDCScope(String(params.scope));
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result,
    { mergeWithLastSubmission: false });
}

function json(res, status, o) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(o));
}

srv.on('request', async (req, res) => {
  const u = new URL(req.url, issuer);
  try {
    if (u.pathname === '/__ctl') {
      if (u.searchParams.get('mode')) state.mode = u.searchParams.get('mode');
      if (u.searchParams.get('user')) state.user = u.searchParams.get('user');
      return json(res, 200, { mode: state.mode, user: state.user,
        token_requests: state.token_requests, jwks_requests: state.jwks_requests });
    }
    if (u.pathname === '/__mint') {
      const now = Math.floor(Date.now() / 1000);
      const jwt = sign({ alg: 'RS256', typ: 'JWT', kid: rsa.kid },
        { ...ACCOUNTS.alice, iss: issuer, aud: 'librefang', iat: now,
          exp: now + 600 }, rsa.privateKey);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(mutate(jwt, u.searchParams.get('mode') || 'normal'));
    }
    if (u.pathname.startsWith('/interaction/')) return await interaction(req, res);
    if (u.pathname === '/jwks') {
      // The published keys: the provider's, the ES256 one, and the
      // rotated one once a token signed with it was sent.
      state.jwks_requests++;
      const keys = [rsa.pub, ec.pub];
      if (state.rotatedPublished) keys.push(rotated.pub);
      return json(res, 200, { keys });
    }
    return cb(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) json(res, 500, { error: String(e) });
    else res.end();
  }
});

// A provider that is down: connections are taken and never answered.
const hole = net.createServer(() => {});
await new Promise((r) => hole.listen(0, '127.0.0.1', r));

process.stdout.write(`listening ${port}\nblackhole ${hole.address().port}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
