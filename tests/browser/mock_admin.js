// mock_admin.js - a stand-in for fngate's admin API (issue 3) and gateway, for developing the console.
//
// It serves web/ at / with the headers the real admin listener sends, implements the /v1 API shape
// the console uses (namespaces, functions, privacy, tokens, whoami) in memory, and runs a toy gateway
// that answers 200 / 403 by the same rules, so the browser flow (generate -> curl 200 -> delete ->
// curl 403; an imported key's token -> 200 -> revoke its jti -> 403) can be exercised without the
// daemon. The real-daemon test is the one that counts.
//
// Usage: node mock_admin.js [--port 0] [--gateway-port 0] [--web DIR]
// Prints one JSON line on stdout once listening: {"admin_url","gateway_url","keys":{...},...}.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function arg(name, def) {
	const i = process.argv.indexOf(name);
	return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const WEB_DIR = path.resolve(arg('--web', path.join(__dirname, '..', '..', 'web')));
const ADMIN_PORT = Number(arg('--port', '0'));
const GATEWAY_PORT = Number(arg('--gateway-port', '0'));

// Admin keys, as the configuration would hold them (the mock compares plain text).
const KEYS = [
	{ key: 'owner-secret-key', name: 'ops', permissions: ['tokens:read', 'tokens:write', 'functions:write'], namespaces: null, role: 'owner' },
	{ key: 'readonly-secret-key', name: 'auditor', permissions: ['tokens:read'], namespaces: null, role: null },
];

const namespaces = [
	{ id: 'ns-demo', name: 'demo', issue_tokens: true, require_registered_tokens: true, keys: [] },
	{ id: 'ns-other', name: 'other', issue_tokens: true, require_registered_tokens: true, keys: [] },
	// Keys imported from another platform: no token is issued here, tokens signed elsewhere open it.
	{ id: 'ns-scw', name: 'scw', issue_tokens: false, require_registered_tokens: false,
		keys: [{ kid: 'scw-2025', alg: 'RS256' }] },
];
const functions = [
	{ id: 'hello', name: 'hello', namespace_id: 'ns-demo', privacy: 'public', hosts: ['hello.example.test'],
		path_prefix: '/hello', upstreams: ['http://127.0.0.1:9001'] },
	{ id: 'resize', name: 'resize', namespace_id: 'ns-demo', privacy: 'private', hosts: [],
		path_prefix: '/resize', upstreams: ['http://127.0.0.1:9002', 'http://127.0.0.1:9003'] },
	{ id: 'billing', name: 'billing', namespace_id: 'ns-other', privacy: 'private', hosts: ['billing.example.test'],
		path_prefix: null, upstreams: ['http://127.0.0.1:9004'] },
	{ id: 'legacy', name: 'legacy', namespace_id: 'ns-scw', privacy: 'private', hosts: [],
		path_prefix: '/legacy', upstreams: ['http://127.0.0.1:9005'] },
];
// As fngate: the configuration file's privacy beside the one in force.
for (const f of functions)
	f.privacy_configured = f.privacy;
const tokens = []; // records (tokens and API keys, .api_key) plus a hidden .secret
// A token the imported key signed elsewhere: valid until its jti is revoked (no record before).
const importedJti = crypto.randomUUID();
const importedToken = mintToken({ id: importedJti, kid: 'scw-2025', namespace_id: '', function_id: 'legacy',
	created_at: new Date().toISOString(), expires_at: null });

let gatewayUrl = '';

function b64url(buf) {
	return Buffer.from(buf).toString('base64url');
}

function mintToken(rec) {
	const header = { alg: 'RS256', typ: 'JWT', kid: rec.kid };
	const payload = {
		application_claim: [{ namespace_id: rec.function_id ? '' : rec.namespace_id, application_id: rec.function_id || '' }],
		version: 2, aud: 'functions', jti: rec.id, iat: Math.floor(Date.parse(rec.created_at) / 1000),
		iss: 'fngate', sub: 'token',
	};
	if (rec.expires_at)
		payload.exp = Math.floor(Date.parse(rec.expires_at) / 1000);
	return b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(payload)) + '.' + b64url(crypto.randomBytes(64));
}

function publicRecord(t) {
	const r = Object.assign({}, t);
	delete r.secret;
	delete r.api_key;
	return r;
}

function functionView(f) {
	const ns = namespaces.find((n) => n.id === f.namespace_id);
	return Object.assign({}, f, {
		namespace_name: ns ? ns.name : null,
		endpoint: gatewayUrl + (f.path_prefix || '/'),
	});
}

function send(res, status, body, extra) {
	const text = body === undefined ? '' : JSON.stringify(body);
	res.writeHead(status, Object.assign({
		'Content-Type': 'application/json',
		'Cache-Control': 'no-store',
		'X-Content-Type-Options': 'nosniff',
	}, extra || {}));
	res.end(text);
}

function fail(res, status, code, message) {
	send(res, status, { error: code, message });
}

function authenticate(req) {
	let key = null;
	const h = req.headers.authorization || '';
	if (h.startsWith('Bearer '))
		key = h.slice(7);
	else if (req.headers['x-auth-token'])
		key = req.headers['x-auth-token'];
	if (!key)
		return { status: 401, code: 'unauthenticated', message: 'missing admin key: send Authorization: Bearer <key>' };
	const k = KEYS.find((x) => x.key === key);
	if (!k)
		return { status: 401, code: 'unauthenticated', message: 'unknown admin key' };
	return { key: k };
}

function allowed(k, perm, nsId) {
	if (!k.permissions.includes(perm))
		return false;
	return !k.namespaces || nsId === undefined || k.namespaces.includes(nsId);
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		let n = 0;
		req.on('data', (c) => {
			n += c.length;
			if (n > 65536) {
				reject(new Error('too large'));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

// The audit trail: what the daemon's audit.c records for these calls (the fields of GET /v1/audit).
const auditEvents = [];
function audit(k, action, target, nsId, fnId, detail) {
	auditEvents.push({ id: crypto.randomUUID(), time: new Date().toISOString(), actor: k.name, action,
		target_id: target, namespace_id: nsId || null, function_id: fnId || null, source: '127.0.0.1',
		request_id: crypto.randomUUID(), outcome: 'ok', detail: detail || null, count: 1 });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

async function api(req, res, url, auth) {
	const k = auth.key;
	const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent); // ["v1", ...]
	const m = req.method;

	if (parts[1] === 'audit' && parts.length === 2 && m === 'GET') {
		if (!allowed(k, 'tokens:read'))
			return fail(res, 403, 'permission_denied', 'this key lacks tokens:read');
		const q = url.searchParams;
		const since = q.get('since') ? Date.parse(q.get('since')) : -Infinity;
		const until = q.get('until') ? Date.parse(q.get('until')) : Infinity;
		const list = auditEvents.filter((e) => (k.namespaces ? e.namespace_id && k.namespaces.includes(e.namespace_id) : true) &&
			(!q.get('namespace_id') || e.namespace_id === q.get('namespace_id')) &&
			(!q.get('actor') || e.actor === q.get('actor')) && (!q.get('action') || e.action === q.get('action')) &&
			Date.parse(e.time) >= since && Date.parse(e.time) <= until).reverse();
		const page = Math.max(1, Number(q.get('page') || 1));
		const size = Math.min(100, Math.max(1, Number(q.get('page_size') || 20)));
		return send(res, 200, { events: list.slice((page - 1) * size, page * size), total_count: list.length });
	}

	if (parts[1] === 'whoami' && parts.length === 2 && m === 'GET')
		return send(res, 200, { name: k.name, role: k.role, permissions: k.permissions, namespaces: k.namespaces });

	if (parts[1] === 'namespaces') {
		if (!allowed(k, 'tokens:read'))
			return fail(res, 403, 'permission_denied', 'this key lacks tokens:read');
		if (parts.length === 2 && m === 'GET') {
			const list = namespaces.filter((n) => !k.namespaces || k.namespaces.includes(n.id))
				.map((n) => Object.assign({}, n, { function_count: functions.filter((f) => f.namespace_id === n.id).length }));
			return send(res, 200, { namespaces: list, total_count: list.length });
		}
		const ns = namespaces.find((n) => n.id === parts[2]);
		if (!ns)
			return fail(res, 404, 'not_found', `no namespace "${parts[2]}"`);
		if (!allowed(k, 'tokens:read', ns.id))
			return fail(res, 403, 'permission_denied', 'this key may not read this namespace');
		if (parts.length === 3 && m === 'GET')
			return send(res, 200, Object.assign({}, ns, { function_count: functions.filter((f) => f.namespace_id === ns.id).length }));
		if (parts.length === 4 && parts[3] === 'functions' && m === 'GET') {
			const list = functions.filter((f) => f.namespace_id === ns.id).map(functionView);
			return send(res, 200, { functions: list, total_count: list.length });
		}
	}

	if (parts[1] === 'functions' && parts.length === 4 && parts[3] === 'privacy' && m === 'DELETE') {
		const f = functions.find((x) => x.id === parts[2]);
		if (!f)
			return fail(res, 404, 'not_found', `no function "${parts[2]}"`);
		if (!allowed(k, 'functions:write', f.namespace_id))
			return fail(res, 403, 'permission_denied', 'this key lacks functions:write');
		f.privacy = f.privacy_configured;
		audit(k, 'function.reset_privacy', f.id, f.namespace_id, f.id, f.privacy);
		return send(res, 200, functionView(f));
	}

	if (parts[1] === 'functions' && parts.length === 3) {
		const f = functions.find((x) => x.id === parts[2]);
		if (!f)
			return fail(res, 404, 'not_found', `no function "${parts[2]}"`);
		if (m === 'GET') {
			if (!allowed(k, 'tokens:read', f.namespace_id))
				return fail(res, 403, 'permission_denied', 'this key may not read this namespace');
			return send(res, 200, functionView(f));
		}
		if (m === 'PATCH') {
			if (!allowed(k, 'functions:write', f.namespace_id))
				return fail(res, 403, 'permission_denied', 'this key lacks functions:write');
			let body;
			try {
				body = JSON.parse(await readBody(req));
			} catch (e) {
				return fail(res, 400, 'invalid_json', 'the body is not JSON');
			}
			if (body.privacy !== 'private' && body.privacy !== 'public')
				return fail(res, 400, 'invalid_argument', 'privacy: must be "private" or "public"');
			f.privacy = body.privacy;
			audit(k, 'function.privacy', f.id, f.namespace_id, f.id, f.privacy);
			return send(res, 200, functionView(f));
		}
	}

	// /v1/api-keys is /v1/tokens on the API key records (the secret is "fngak_" + id + "_" + 43).
	const isKey = parts[1] === 'api-keys';
	const what = isKey ? 'API key' : 'token';
	if (parts[1] === 'tokens' || isKey) {
		if (parts.length === 2 && m === 'GET') {
			const q = url.searchParams;
			let list = tokens.filter((t) => !!t.api_key === isKey && (!k.namespaces || k.namespaces.includes(t.namespace_id)));
			if (!allowed(k, 'tokens:read'))
				return fail(res, 403, 'permission_denied', 'this key lacks tokens:read');
			if (q.get('namespace_id'))
				list = list.filter((t) => t.namespace_id === q.get('namespace_id'));
			if (q.get('function_id'))
				list = list.filter((t) => t.function_id === q.get('function_id'));
			const order = q.get('order_by') || 'created_at_asc';
			list.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
			if (order === 'created_at_desc')
				list.reverse();
			const page = Math.max(1, Number(q.get('page') || 1));
			const size = Math.min(100, Math.max(1, Number(q.get('page_size') || 20)));
			return send(res, 200, { [isKey ? 'api_keys' : 'tokens']: list.slice((page - 1) * size, page * size).map(publicRecord),
				total_count: list.length });
		}
		if (parts.length === 2 && m === 'POST') {
			let body;
			try {
				body = JSON.parse(await readBody(req));
			} catch (e) {
				return fail(res, 400, 'invalid_json', 'the body is not JSON');
			}
			const hasNs = typeof body.namespace_id === 'string' && body.namespace_id !== '';
			const hasFn = typeof body.function_id === 'string' && body.function_id !== '';
			if (hasNs === hasFn)
				return fail(res, 400, 'invalid_argument', 'exactly one of namespace_id and function_id is required');
			let nsId;
			if (hasFn) {
				const f = functions.find((x) => x.id === body.function_id);
				if (!f)
					return fail(res, 400, 'invalid_argument', `function_id: no function "${body.function_id}"`);
				nsId = f.namespace_id;
			} else {
				if (!namespaces.find((n) => n.id === body.namespace_id))
					return fail(res, 400, 'invalid_argument', `namespace_id: no namespace "${body.namespace_id}"`);
				nsId = body.namespace_id;
			}
			if (!allowed(k, 'tokens:write', nsId))
				return fail(res, 403, 'permission_denied', 'this key lacks tokens:write');
			if (!isKey && !namespaces.find((n) => n.id === nsId).issue_tokens)
				return fail(res, 400, 'invalid_argument', `namespace "${nsId}" does not issue tokens (issue_tokens is false)`);
			const desc = body.description === undefined || body.description === null ? '' : body.description;
			if (typeof desc !== 'string' || Buffer.byteLength(desc) > 512 || /[\u0000-\u001f\u007f]/.test(desc))
				return fail(res, 400, 'invalid_argument', 'description: at most 512 bytes, no control characters');
			let exp = null;
			if (body.expires_at !== null && body.expires_at !== undefined) {
				if (typeof body.expires_at !== 'string' || !RFC3339.test(body.expires_at) || isNaN(Date.parse(body.expires_at)))
					return fail(res, 400, 'invalid_argument', 'expires_at: not an RFC 3339 date-time (e.g. 2030-01-31T12:00:00Z)');
				if (Date.parse(body.expires_at) <= Date.now())
					return fail(res, 400, 'invalid_argument', 'expires_at: is in the past');
				exp = new Date(Date.parse(body.expires_at)).toISOString().replace(/\.\d{3}Z$/, 'Z');
			}
			const rec = {
				id: isKey ? crypto.randomBytes(10).toString('hex') : crypto.randomUUID(), namespace_id: nsId,
				function_id: hasFn ? body.function_id : null, scope: hasFn ? 'function' : 'namespace',
				description: desc, created_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), expires_at: exp,
				status: 'ready', revoked_at: null, last_used_at: null,
			};
			if (isKey) {
				rec.api_key = true;
				rec.secret = 'fngak_' + rec.id + '_' + b64url(crypto.randomBytes(32));
			} else {
				rec.kid = 'k-' + nsId + '-1';
				rec.secret = mintToken(rec);
			}
			tokens.push(rec);
			audit(k, isKey ? 'api_key.create' : 'token.create', rec.id, nsId, rec.function_id);
			return send(res, 201, Object.assign({ [isKey ? 'secret' : 'token']: rec.secret }, publicRecord(rec)));
		}
		if (!isKey && parts.length === 3 && parts[2] === 'revoke' && m === 'POST') {
			let body;
			try {
				body = JSON.parse(await readBody(req));
			} catch (e) {
				return fail(res, 400, 'invalid_json', 'the body is not JSON');
			}
			if (typeof body.jti !== 'string' || !body.jti || typeof body.namespace_id !== 'string')
				return fail(res, 400, 'invalid_argument', 'jti and namespace_id are required (the mock takes no global revocation)');
			if (!allowed(k, 'tokens:write', body.namespace_id))
				return fail(res, 403, 'permission_denied', 'this key lacks tokens:write');
			const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
			let t = tokens.find((x) => x.id === body.jti && x.namespace_id === body.namespace_id);
			if (t && t.status === 'revoked')
				return fail(res, 409, 'already_revoked', `token ${t.id} was already revoked at ${t.revoked_at}; revocation is irreversible`);
			if (!t) {
				// As fngate: the revocation's registration time is its created_at.
				t = { id: body.jti, namespace_id: body.namespace_id, function_id: null, scope: 'unknown', description: null,
					created_at: now, expires_at: null, imported: true, last_used_at: null, kid: null };
				tokens.push(t);
			}
			t.status = 'revoked';
			t.revoked_at = now;
			audit(k, 'token.revoke', t.id, t.namespace_id, null);
			return send(res, 200, publicRecord(t));
		}
		if (parts.length === 3) {
			const t = tokens.find((x) => x.id === parts[2] && !!x.api_key === isKey);
			if (!t)
				return fail(res, 404, 'not_found', `no ${what} "${parts[2]}"`);
			if (m === 'GET') {
				if (!allowed(k, 'tokens:read', t.namespace_id))
					return fail(res, 403, 'permission_denied', 'this key lacks tokens:read');
				return send(res, 200, publicRecord(t));
			}
			if (m === 'DELETE') {
				if (!allowed(k, 'tokens:write', t.namespace_id))
					return fail(res, 403, 'permission_denied', 'this key lacks tokens:write');
				if (t.status === 'revoked')
					return fail(res, 409, 'already_revoked', `the ${what} was already deleted`);
				t.status = 'revoked';
				t.revoked_at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
				audit(k, isKey ? 'api_key.delete' : 'token.delete', t.id, t.namespace_id, t.function_id);
				return send(res, 200, publicRecord(t));
			}
		}
	}
	return fail(res, 404, 'not_found', `no route ${m} ${url.pathname}`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon' };

// The headers issue 5 asks the admin listener to send with the console.
const CONSOLE_HEADERS = {
	'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
	'X-Frame-Options': 'DENY',
	'X-Content-Type-Options': 'nosniff',
	'Referrer-Policy': 'no-referrer',
	'Cache-Control': 'no-store',
};

function serveStatic(req, res, url) {
	let rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
	if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*\.[a-z]+$/.test(rel)) {
		res.writeHead(404, { 'Content-Type': 'text/plain' });
		return res.end('not found\n');
	}
	const file = path.join(WEB_DIR, rel);
	fs.readFile(file, (err, data) => {
		if (err) {
			res.writeHead(404, { 'Content-Type': 'text/plain' });
			return res.end('not found\n');
		}
		res.writeHead(200, Object.assign({ 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' }, CONSOLE_HEADERS));
		res.end(req.method === 'HEAD' ? undefined : data);
	});
}

const admin = http.createServer(async (req, res) => {
	const url = new URL(req.url, 'http://mock');
	try {
		if (url.pathname === '/healthz')
			return send(res, 200, { status: 'ok' });
		if (url.pathname.startsWith('/v1/')) {
			const auth = authenticate(req);
			if (!auth.key)
				return fail(res, auth.status, auth.code, auth.message);
			return await api(req, res, url, auth);
		}
		if (req.method === 'GET' || req.method === 'HEAD')
			return serveStatic(req, res, url);
		return fail(res, 405, 'method_not_allowed', 'method not allowed');
	} catch (e) {
		return fail(res, 500, 'internal', String(e && e.message));
	}
});

// The toy gateway: path prefix routing, privacy, token lookup by exact value.
const gateway = http.createServer((req, res) => {
	const f = functions.find((x) => x.path_prefix && (req.url === x.path_prefix || req.url.startsWith(x.path_prefix + '/')));
	const deny = (reason) => {
		res.writeHead(403, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify({ error: reason }) + '\n');
	};
	if (!f) {
		res.writeHead(404, { 'Content-Type': 'application/json' });
		return res.end('{"error":"no_route"}\n');
	}
	if (f.privacy === 'private') {
		const tok = req.headers['x-auth-token'];
		if (!tok)
			return deny('token_missing');
		if (tok === importedToken) {
			if (tokens.find((x) => x.id === importedJti && x.status === 'revoked'))
				return deny('token_revoked');
			res.writeHead(200, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify({ function: f.id, method: req.method, path: req.url }) + '\n');
		}
		const t = tokens.find((x) => x.secret === tok);
		if (!t)
			return deny('token_invalid');
		if (t.status !== 'ready')
			return deny('token_revoked');
		if (t.expires_at && Date.parse(t.expires_at) <= Date.now())
			return deny('token_expired');
		if (t.function_id ? t.function_id !== f.id : t.namespace_id !== f.namespace_id)
			return deny('token_scope');
		t.last_used_at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
	}
	res.writeHead(200, { 'Content-Type': 'application/json' });
	res.end(JSON.stringify({ function: f.id, method: req.method, path: req.url }) + '\n');
});

admin.listen(ADMIN_PORT, '127.0.0.1', () => {
	gateway.listen(GATEWAY_PORT, '127.0.0.1', () => {
		gatewayUrl = `http://127.0.0.1:${gateway.address().port}`;
		process.stdout.write(JSON.stringify({
			admin_url: `http://127.0.0.1:${admin.address().port}/`,
			gateway_url: gatewayUrl,
			owner_key: KEYS[0].key,
			readonly_key: KEYS[1].key,
			namespace_id: 'ns-demo',
			function_id: 'hello',
			imported_namespace_id: 'ns-scw',
			imported_function_id: 'legacy',
			imported_token: importedToken,
		}) + '\n');
	});
});

for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => process.exit(0));
