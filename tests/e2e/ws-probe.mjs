// ws-probe.mjs URL [PROTOCOL] [HEADERS_JSON]: opens a WebSocket with the
// `ws` client and prints one JSON line: {"open": true, "protocol": ...}
// once the handshake is done (then closes), or {"open": false, "status":
// N, "body": ...} when the server refused the upgrade, or {"open": false,
// "error": ...}.  8 s at most.  Used by integration scripts (t2300) that
// check how an upgrade is authenticated.
import WebSocket from 'ws';

const [url, proto, hdrs] = process.argv.slice(2);
const opts = { headers: hdrs ? JSON.parse(hdrs) : {}, handshakeTimeout: 8000 };
const ws = new WebSocket(url, proto ? [proto] : undefined, opts);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
setTimeout(() => done({ open: false, error: 'no answer within 8 s' }), 8500);
ws.on('open', () => { const p = ws.protocol; ws.terminate(); done({ open: true, protocol: p }); });
ws.on('unexpected-response', (req, res) => {
	let body = '';
	res.on('data', (d) => { body += d; });
	res.on('end', () => done({ open: false, status: res.statusCode,
	    body, set_cookie: res.headers['set-cookie'] || null }));
});
ws.on('error', (e) => done({ open: false, error: String(e.message) }));
