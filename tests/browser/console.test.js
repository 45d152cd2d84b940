// console.test.js - the console flow of issue 5 in a real browser: Debian's chromium, headless, driven
// by playwright-core, against an fngate admin listener (the real daemon, or mock_admin.js while
// developing). Every step saves a screenshot; the process exits 1 on the first failed step.
//
// Environment:
//   CONSOLE_URL    the admin listener, e.g. http://127.0.0.1:9090/   (required)
//   OWNER_KEY      an admin key with every permission                 (required)
//   READONLY_KEY   an admin key with tokens:read only                 (required)
//   NAMESPACE_ID   the namespace of FUNCTION_ID                       (required)
//   FUNCTION_ID    a function, public at the start, reachable at CALL_URL (required)
//   CALL_URL       URL of FUNCTION_ID through the gateway, optional: a call without a token goes
//                  there, and the console's curl line must answer like it
//   CALL_HOST      Host header for CALL_URL (host-routed functions), optional
//   IMPORTED_NAMESPACE_ID  a namespace with imported keys (issue_tokens false), optional: then
//   IMPORTED_FUNCTION_ID   a private function of it,
//   IMPORTED_CALL_URL      its URL through the gateway, and
//   IMPORTED_TOKEN         a token its key signed (minted by the runner), opening that function
//   ARTIFACT_DIR   where screenshots go (default ./console-artifacts)
//   CHROMIUM       browser binary (default /usr/bin/chromium)
//   NODE_PATH      where playwright-core is installed (the runner sets it)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const env = (name, def) => {
	const v = process.env[name];
	if (v === undefined || v === '') {
		if (def === undefined) {
			console.error(`console.test: ${name} is required`);
			process.exit(2);
		}
		return def;
	}
	return v;
};

const CONSOLE_URL = env('CONSOLE_URL');
const OWNER_KEY = env('OWNER_KEY');
const READONLY_KEY = env('READONLY_KEY');
const NAMESPACE_ID = env('NAMESPACE_ID');
const FUNCTION_ID = env('FUNCTION_ID');
const CALL_URL = env('CALL_URL', '');
const CALL_HOST = env('CALL_HOST', '');
const IMPORTED_NAMESPACE_ID = env('IMPORTED_NAMESPACE_ID', '');
const IMPORTED_FUNCTION_ID = env('IMPORTED_FUNCTION_ID', '');
const IMPORTED_CALL_URL = env('IMPORTED_CALL_URL', '');
const IMPORTED_TOKEN = env('IMPORTED_TOKEN', '');
const ARTIFACT_DIR = path.resolve(env('ARTIFACT_DIR', 'console-artifacts'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--disable-dev-shm-usage'];

let passed = 0;
let failed = 0;
let shotNo = 0;

function assert(cond, msg) {
	if (!cond)
		throw new Error('assertion failed: ' + msg);
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// curl exactly as a user would; returns the HTTP status as a number.
function curlStatus(args) {
	const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args],
		{ encoding: 'utf8' });
	return Number(out.trim());
}

// The line the console shows: curl -H "X-Auth-Token: <token>" <endpoint>
const CURL_LINE = /^curl -H "X-Auth-Token: ([A-Za-z0-9_.-]+)" (\S+)$/;

// Run the very line the console shows (its URL is the API's "endpoint", its token the one shown;
// base64url and dots: shell-safe) and return the HTTP status.
function callWithToken(line, token) {
	const m = CURL_LINE.exec(line);
	assert(m, 'the curl line has the form curl -H "X-Auth-Token: <token>" <endpoint>: ' + line);
	assert(m[1] === token, 'the curl line holds the token shown');
	assert(/^http:\/\/[^<>]+$/.test(m[2]), 'the curl line holds a real URL, no placeholder: ' + m[2]);
	const out = execFileSync('sh', ['-c', line + " -s -o /dev/null -w '%{http_code}' --max-time 10"], { encoding: 'utf8' });
	const viaLine = Number(out.trim());
	if (CALL_URL) {
		const direct = curlDirect(token);
		assert(viaLine === direct, `the console's curl line answers like CALL_URL (${viaLine} vs ${direct})`);
	}
	return viaLine;
}

// GET an admin API path with a key; the parsed JSON body.
async function apiGet(p, key) {
	const res = await fetch(new URL(p, CONSOLE_URL), { headers: { Authorization: 'Bearer ' + key } });
	assert(res.status === 200, `GET ${p} -> 200 (got ${res.status})`);
	return res.json();
}

function curlDirect(token) {
	assert(CALL_URL, 'CALL_URL is set');
	const args = [];
	if (token !== null)
		args.push('-H', 'X-Auth-Token: ' + token);
	if (CALL_HOST)
		args.push('-H', 'Host: ' + CALL_HOST);
	args.push(CALL_URL);
	return curlStatus(args);
}

// Revocation must apply within 100 ms (issue 3); poll a little longer than that before failing.
async function expectStatusSoon(fn, want, what) {
	let got = 0;
	for (let i = 0; i < 10; i++) {
		got = fn();
		if (got === want)
			return;
		await sleep(50);
	}
	throw new Error(`${what}: expected HTTP ${want}, got ${got}`);
}

async function main() {
	fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fngate-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: CHROMIUM_ARGS,
		viewport: { width: 1280, height: 860 },
		locale: 'en-GB',
		timezoneId: 'UTC',
		permissions: ['clipboard-read', 'clipboard-write'],
		chromiumSandbox: false,
	});
	const page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(10000);
	const pageErrors = [];
	page.on('console', (m) => {
		// API refusals the console expects (401, 403, 400 of a probe) show up as resource errors;
		// script errors and CSP violations ("Refused to ...") do not look like that.
		if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
			pageErrors.push('console: ' + m.text());
	});
	page.on('pageerror', (e) => pageErrors.push('pageerror: ' + e.message));
	// Every admin API answer the console receives, to check the headers of those holding a token.
	const apiResponses = [];
	page.on('response', (r) => {
		if (new URL(r.url()).pathname.startsWith('/v1/'))
			apiResponses.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status(), headers: r.headers() });
	});

	const shot = async (name) => {
		shotNo++;
		const file = path.join(ARTIFACT_DIR, `${String(shotNo).padStart(2, '0')}-${name}.png`);
		await page.screenshot({ path: file });
		return file;
	};
	const step = async (name, fn) => {
		try {
			await fn();
			passed++;
			console.log(`ok ${passed + failed} - ${name}`);
		} catch (e) {
			failed++;
			console.log(`not ok ${passed + failed} - ${name}\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
			try {
				await page.screenshot({ path: path.join(ARTIFACT_DIR, `FAILED-${String(passed + failed).padStart(2, '0')}.png`) });
			} catch (e2) {
				// the browser is gone: the message above is what we have
			}
			throw e;
		}
	};

	const tokensTable = () => page.locator('#tokens-table');
	const row = (text) => tokensTable().locator('tbody tr', { hasText: text });
	const keyRow = (text) => page.locator('#api-keys-table tbody tr', { hasText: text });
	const keyDesc = 'Billing service (API key)';
	const nsKeyDesc = 'Reporting (namespace API key)';
	let apiKey = '';
	let apiKeyCurl = '';
	// Each run starts on a fresh registry (the harness's state_dir, or a fresh mock).
	const fnDesc = 'CI deploy pipeline';
	const neverDesc = 'Partner integration (no expiry)';
	const nsDesc = 'Nightly batch jobs (whole namespace)';
	let fnToken = '';
	let fnCurl = '';
	let fnEndpointApi = '';   // GET /v1/functions/FUNCTION_ID .endpoint

	const signIn = async (key) => {
		await page.getByLabel('Admin API key').fill(key);
		await page.getByRole('button', { name: 'Sign in' }).click();
	};
	const openFunctionSecurity = async () => {
		await page.goto(new URL('#/functions/' + encodeURIComponent(FUNCTION_ID) + '/security', CONSOLE_URL).href);
		await page.locator('#tokens-table tbody tr').first().waitFor();
		await page.locator('#tokens-table .loading').waitFor({ state: 'detached' });
	};
	const generate = async (desc, opts) => {
		await page.getByRole('button', { name: 'Generate token' }).click();
		const dlg = page.getByRole('dialog', { name: 'Generate token' });
		await dlg.waitFor();
		await dlg.getByLabel('Description').fill(desc);
		if (opts.noExpiry) {
			await dlg.getByLabel('No expiration date').check();
			assert(await dlg.getByLabel('Expiration date', { exact: true }).isDisabled(), 'No expiration date disables the date');
			assert(await dlg.getByLabel('Time', { exact: true }).isDisabled(), 'No expiration date disables the time');
		} else {
			await dlg.getByLabel('Expiration date', { exact: true }).fill(opts.date);
			await dlg.getByLabel('Time', { exact: true }).fill(opts.time);
		}
		if (opts.shot)
			await shot(opts.shot);
		await dlg.getByRole('button', { name: 'Generate token' }).click();
		const tdlg = page.getByRole('dialog', { name: 'Copy your token' });
		await tdlg.waitFor();
		const token = await tdlg.getByLabel('Token', { exact: true }).inputValue();
		const curl = await tdlg.getByLabel('Call the function with it').inputValue();
		assert(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token), 'the pop-up shows a JWT: ' + token.slice(0, 20));
		return { token, curl, dlg: tdlg };
	};
	// The same dialog, opened by "Generate API key": no expiry; returns the secret and curl line.
	const generateKey = async (desc, shotName) => {
		await page.locator('#api-keys-table .loading').waitFor({ state: 'detached' });
		await page.getByRole('button', { name: 'Generate API key' }).click();
		const dlg = page.getByRole('dialog', { name: 'Generate API key' });
		await dlg.waitFor();
		await dlg.getByLabel('Description').fill(desc);
		await dlg.getByLabel('No expiration date').check();
		if (shotName)
			await shot(shotName);
		await dlg.getByRole('button', { name: 'Generate API key' }).click();
		const kdlg = page.getByRole('dialog', { name: 'Copy your API key' });
		await kdlg.waitFor();
		const key = await kdlg.getByLabel('API key', { exact: true }).inputValue();
		const curl = await kdlg.getByLabel('Call the function with it').inputValue();
		assert(/^fngak_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/.test(key), 'the pop-up shows an API key: ' + key.slice(0, 26));
		assert(/cannot be shown again/i.test(await kdlg.locator('#tok-warning').textContent()), 'the once-only warning');
		assert(CURL_LINE.test(curl) && CURL_LINE.exec(curl)[1] === key, 'curl line with the key');
		return { key, curl, dlg: kdlg };
	};

	try {
		await step('the console is served with a CSP and X-Frame-Options DENY; the API with Cache-Control no-store', async () => {
			for (const p of ['', 'app.js', 'app.css']) {
				const res = await fetch(new URL(p, CONSOLE_URL));
				assert(res.status === 200, `GET /${p} -> 200 (got ${res.status})`);
				const csp = res.headers.get('content-security-policy') || '';
				if (p === '') {
					assert(/script-src 'self'/.test(csp), 'CSP has script-src \'self\': ' + csp);
					assert(!/unsafe-inline|unsafe-eval/.test(csp), 'CSP allows no inline script: ' + csp);
					assert((res.headers.get('x-frame-options') || '').toUpperCase() === 'DENY', 'X-Frame-Options: DENY');
				}
			}
			const api = await fetch(new URL('/v1/namespaces', CONSOLE_URL), { headers: { Authorization: 'Bearer ' + OWNER_KEY } });
			assert(api.status === 200, 'GET /v1/namespaces with the owner key -> 200');
			assert(/no-store/.test(api.headers.get('cache-control') || ''), 'Cache-Control: no-store on the API');
		});

		await step('open the console: the sign-in form', async () => {
			await page.goto(CONSOLE_URL);
			await page.getByRole('heading', { name: 'Sign in' }).waitFor();
			const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
			assert(focused === 'signin-key', 'the key field has focus');
			await shot('signin');
		});

		await step('a wrong key is refused with a message', async () => {
			await signIn('not-a-valid-key-' + Date.now());
			const alert = page.locator('#signin-error');
			await alert.waitFor();
			const text = await alert.textContent();
			assert(/refused/i.test(text), 'the message says the key was refused: ' + text);
			assert(await page.evaluate(() => sessionStorage.getItem('fngate.adminKey')) === null, 'a refused key is not kept');
			await shot('wrong-key');
		});

		await step('sign in with the owner key: namespaces', async () => {
			await signIn(OWNER_KEY);
			await page.getByRole('heading', { name: 'Functions', level: 1 }).waitFor();
			// The header shows the key's name and role, as GET /v1/whoami gives them.
			const me = await apiGet('/v1/whoami', OWNER_KEY);
			assert(me.role === 'owner', 'whoami: the owner key has role owner');
			assert(await page.locator('#who-name').textContent() === me.name, 'the header shows the key name ' + me.name);
			assert(await page.locator('#who-role').textContent() === 'owner', 'the header shows the role owner');
			await page.getByRole('link', { name: NAMESPACE_ID }).or(page.locator(`a[href="#/namespaces/${encodeURIComponent(NAMESPACE_ID)}"]`)).first().waitFor();
			assert(await page.evaluate(() => sessionStorage.getItem('fngate.adminKey')) === OWNER_KEY, 'the key is kept in sessionStorage');
			assert(await page.evaluate(() => localStorage.length) === 0, 'nothing in localStorage');
			await shot('namespaces');
		});

		await step('a namespace lists its functions (name, privacy, routes, upstreams)', async () => {
			await page.locator(`a[href="#/namespaces/${encodeURIComponent(NAMESPACE_ID)}"]`).first().click();
			const link = page.locator(`a[href="#/functions/${encodeURIComponent(FUNCTION_ID)}"]`);
			await link.waitFor();
			for (const col of ['Name', 'Privacy', 'Routes', 'Upstreams'])
				await page.getByRole('columnheader', { name: col }).waitFor();
			await shot('namespace-functions');
		});

		await step('the function page: Overview tab', async () => {
			await page.locator(`a[href="#/functions/${encodeURIComponent(FUNCTION_ID)}"]`).click();
			await page.getByRole('tab', { name: 'Overview', selected: true }).waitFor();
			await page.locator('#panel-overview').waitFor();
			fnEndpointApi = (await apiGet('/v1/functions/' + encodeURIComponent(FUNCTION_ID), OWNER_KEY)).endpoint;
			assert(typeof fnEndpointApi === 'string' && fnEndpointApi.startsWith('http://'), 'the API reports the endpoint: ' + fnEndpointApi);
			const shown = await page.locator('#fn-endpoint').textContent();
			assert(shown === fnEndpointApi, `the Overview shows the endpoint (${shown} vs ${fnEndpointApi})`);
			await shot('function-overview');
		});

		await step('the Security tab (reached from the keyboard): privacy policy and Tokens panel', async () => {
			await page.getByRole('tab', { name: 'Overview' }).focus();
			await page.keyboard.press('ArrowRight');
			await page.getByRole('tab', { name: 'Security', selected: true }).waitFor();
			await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'tab-security');
			await page.getByRole('heading', { name: 'Privacy policy' }).waitFor();
			await page.getByRole('heading', { name: 'Tokens' }).waitFor();
			for (const col of ['Description', 'Scope', 'Created', 'Expires', 'Last used', 'Status'])
				await tokensTable().getByRole('columnheader', { name: col }).waitFor();
			if (await page.getByLabel('Private', { exact: false }).first().isChecked()) {
				// Start from public so the test sets it private through the console.
				await page.locator('#privacy-public').check();
				await page.getByRole('alertdialog').getByRole('button', { name: 'Make public' }).click();
				await page.locator('#fn-privacy-badge', { hasText: 'Public' }).waitFor();
			}
			await shot('security-tab');
		});

		await step('set the function private, with a confirmation; a call without a token -> 403', async () => {
			assert(curlDirectOrSkip(null, 200), 'the public function answers 200 without a token');
			await page.locator('#privacy-private').check();
			const dlg = page.getByRole('alertdialog', { name: 'Make this function private?' });
			await dlg.waitFor();
			await shot('privacy-confirm');
			// Cancel first: nothing changes.
			await dlg.getByRole('button', { name: 'Cancel' }).click();
			await page.waitForFunction(() => document.getElementById('privacy-public').checked);
			assert(await page.locator('#fn-privacy-badge', { hasText: 'Public' }).count() === 1, 'Cancel leaves it public');
			await page.locator('#privacy-private').check();
			await dlg.getByRole('button', { name: 'Make private' }).click();
			await page.locator('#fn-privacy-badge', { hasText: 'Private' }).waitFor();
			// The file says public: the console says the value set here wins over it.
			await page.locator('#privacy-override', { hasText: 'The configuration file says public' }).waitFor();
			assert(await page.locator('#privacy-reset').count() === 1, 'a reset is offered');
			await shot('function-private');
			if (CALL_URL)
				await expectStatusSoon(() => curlDirect(null), 403, 'call without a token');
		});

		await step('Generate token: description and expiry; focus stays in the pop-up', async () => {
			await page.getByRole('button', { name: 'Generate token' }).click();
			const dlg = page.getByRole('dialog', { name: 'Generate token' });
			await dlg.waitFor();
			for (let i = 0; i < 14; i++) {
				await page.keyboard.press(i % 5 === 4 ? 'Shift+Tab' : 'Tab');
				const inside = await page.evaluate(() => !!document.activeElement && document.activeElement.closest('#dlg-generate') !== null);
				assert(inside, `focus stays in the dialog (Tab #${i + 1})`);
			}
			await page.keyboard.press('Escape');
			await dlg.waitFor({ state: 'hidden' });
			const back = await page.evaluate(() => document.activeElement && document.activeElement.id);
			assert(back === 'generate-token', 'Escape closes it and focus returns to Generate token (' + back + ')');
			// An expiry in the past is refused in place.
			await page.getByRole('button', { name: 'Generate token' }).click();
			await dlg.getByLabel('Description').fill('past');
			await dlg.getByLabel('Expiration date', { exact: true }).fill('2020-01-01');
			await dlg.getByLabel('Time', { exact: true }).fill('10:00');
			await dlg.getByRole('button', { name: 'Generate token' }).click();
			const err = await dlg.locator('#gen-error').textContent();
			assert(/future/.test(err), 'a past expiry is refused in place: ' + err);
			await shot('generate-error');
			await dlg.getByRole('button', { name: 'Cancel' }).click();
		});

		await step('generate a function token: shown once, Copy, warning and curl line', async () => {
			const d = new Date(Date.now() + 2 * 24 * 3600 * 1000);
			const date = d.toISOString().slice(0, 10);
			const r = await generate(fnDesc, { date, time: '12:30', shot: 'generate-dialog' });
			fnToken = r.token;
			fnCurl = r.curl;
			const warn = await r.dlg.locator('#tok-warning').textContent();
			assert(/cannot be shown again/i.test(warn), 'the warning says it cannot be shown again');
			assert(CURL_LINE.test(fnCurl), 'curl line: ' + fnCurl);
			assert(CURL_LINE.exec(fnCurl)[2] === fnEndpointApi, 'the curl line calls the function\'s endpoint: ' + fnCurl.replace(fnToken, '<token>'));
			assert(await page.locator('#tok-curl-hint').isHidden(), 'no "replace the address" hint');
			await r.dlg.getByRole('button', { name: 'Copy token' }).click();
			await page.locator('#tok-copied', { hasText: 'copied' }).waitFor();
			const clip = await page.evaluate(() => navigator.clipboard.readText());
			assert(clip === fnToken, 'Copy puts the token on the clipboard');
			await shot('token-once');
		});

		await step('curl with the token -> 200', async () => {
			const status = callWithToken(fnCurl, fnToken);
			assert(status === 200, 'call with the token: expected 200, got ' + status);
			const created = apiResponses.filter((r) => r.method === 'POST' && r.path === '/v1/tokens' && r.status === 201);
			assert(created.length === 1, 'one POST /v1/tokens -> 201 so far (got ' + created.length + ')');
			assert(/no-store/.test(created[0].headers['cache-control'] || ''), 'the creation response is Cache-Control: no-store');
		});

		await step('closing the pop-up forgets the token; the list shows it without the secret', async () => {
			await page.getByRole('button', { name: 'I have copied the token' }).click();
			await page.getByRole('dialog', { name: 'Copy your token' }).waitFor({ state: 'hidden' });
			await page.waitForFunction(() => document.getElementById('tok-value').value === '' &&
				document.getElementById('tok-curl').value === '', null, { timeout: 2000 });
			const r = row(fnDesc);
			await r.waitFor();
			const text = await r.textContent();
			assert(/This function/.test(text), 'labelled as the function\'s own token');
			assert(/Ready/.test(text), 'status ready');
			assert(!text.includes(fnToken.split('.')[2]), 'no secret in the list');
			assert(!(await page.content()).includes(fnToken), 'the token is nowhere in the page');
			await shot('token-listed');
		});

		await step('delete the token with the delete icon and the confirmation', async () => {
			const icon = row(fnDesc).getByRole('button', { name: 'Delete token ' + fnDesc });
			await icon.click();
			const dlg = page.getByRole('alertdialog', { name: 'Delete token' });
			await dlg.waitFor();
			const txt = await dlg.textContent();
			assert(/irreversible/i.test(txt), 'the confirmation says it is irreversible');
			const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
			assert(focused === 'del-cancel', 'Cancel has the focus');
			await shot('delete-confirm');
			await page.keyboard.press('Escape');
			await dlg.waitFor({ state: 'hidden' });
			await row(fnDesc).waitFor();
			await icon.click();
			await dlg.getByRole('button', { name: 'Delete token' }).click();
			await dlg.waitFor({ state: 'hidden' });
			await row(fnDesc).waitFor({ state: 'detached' });
			await shot('token-deleted');
		});

		await step('the same curl -> 403 after the delete', async () => {
			await expectStatusSoon(() => callWithToken(fnCurl, fnToken), 403, 'call with the deleted token');
			await page.getByLabel('Show deleted tokens').check();
			const text = await row(fnDesc).textContent();
			assert(/Revoked/.test(text), 'listed as revoked: ' + text);
			await page.getByLabel('Show deleted tokens').uncheck();
		});

		await step('reset the privacy to the file\'s value (public), then private again', async () => {
			await page.locator('#privacy-reset').click();
			await page.locator('#fn-privacy-badge', { hasText: 'Public' }).waitFor();
			await page.locator('#privacy-override').waitFor({ state: 'hidden' });
			assert(await page.locator('#privacy-public').isChecked(), 'the radio follows the reset');
			if (CALL_URL)
				await expectStatusSoon(() => curlDirect(null), 200, 'call without a token after the reset');
			await page.locator('#privacy-private').check();
			await page.getByRole('alertdialog').getByRole('button', { name: 'Make private' }).click();
			await page.locator('#privacy-override').waitFor();
			if (CALL_URL)
				await expectStatusSoon(() => curlDirect(null), 403, 'call without a token, private again');
		});

		await step('generate with "No expiration date": expires never, and it works', async () => {
			const r = await generate(neverDesc, { noExpiry: true, shot: 'generate-no-expiry' });
			const status = callWithToken(r.curl, r.token);
			assert(status === 200, 'call with the no-expiry token: expected 200, got ' + status);
			await r.dlg.getByRole('button', { name: 'I have copied the token' }).click();
			const text = await row(neverDesc).textContent();
			assert(/Never/.test(text), 'expires: never');
			await shot('no-expiry-listed');
		});

		await step('the namespace page manages namespace-wide tokens', async () => {
			await page.getByRole('navigation', { name: 'Breadcrumb' }).locator(`a[href="#/namespaces/${encodeURIComponent(NAMESPACE_ID)}"]`).click();
			await page.getByRole('tab', { name: 'Security' }).click();
			await page.getByRole('heading', { name: 'Namespace tokens' }).waitFor();
			await page.locator('#tokens-table .loading').waitFor({ state: 'detached' });
			const r = await generate(nsDesc, { noExpiry: true });
			const shown = callWithToken(r.curl, r.token);
			assert(shown === 200, 'the namespace token\'s curl line answers 200, got ' + shown);
			const fnEndpoint = CURL_LINE.exec(fnCurl)[2];
			const status = callWithToken(r.curl.replace(/ \S+$/, ' ' + fnEndpoint), r.token);
			assert(status === 200, 'a namespace token opens the function: expected 200, got ' + status);
			await r.dlg.getByRole('button', { name: 'I have copied the token' }).click();
			const text = await row(nsDesc).textContent();
			assert(/Namespace/.test(text), 'labelled Namespace');
			assert((await row(neverDesc).count()) === 0, 'function tokens are not listed as namespace-wide');
			await shot('namespace-tokens');
		});

		await step('the function lists its namespace\'s tokens, labelled', async () => {
			await openFunctionSecurity();
			const nsRow = await row(nsDesc).textContent();
			assert(/Namespace/.test(nsRow), 'the namespace token is labelled Namespace');
			const own = await row(neverDesc).textContent();
			assert(/This function/.test(own), 'the function token is labelled This function');
			await shot('function-tokens-both');
		});

		await step('API keys beside tokens: "Generate API key" (the same dialog), shown once, curl -> 200', async () => {
			await page.getByRole('heading', { name: 'API keys' }).waitFor();
			for (const col of ['Description', 'Scope', 'Created', 'Expires', 'Last used', 'Status'])
				await page.locator('#api-keys-table').getByRole('columnheader', { name: col }).waitFor();
			const r = await generateKey(keyDesc, 'generate-api-key');
			apiKey = r.key;
			apiKeyCurl = r.curl;
			await shot('api-key-once');
			const status = callWithToken(apiKeyCurl, apiKey);
			assert(status === 200, 'call with the API key: expected 200, got ' + status);
			await r.dlg.getByRole('button', { name: 'I have copied the API key' }).click();
			await page.waitForFunction(() => document.getElementById('tok-value').value === '', null, { timeout: 2000 });
			const text = await keyRow(keyDesc).textContent();
			assert(/This function/.test(text) && /Ready/.test(text) && /Never/.test(text), 'listed: ' + text);
			assert(await row(keyDesc).count() === 0, 'not listed among the tokens');
			assert(!(await page.content()).includes(apiKey.slice(27)), 'the secret is nowhere in the page');
			await page.locator('#api-keys-panel').scrollIntoViewIfNeeded();
			await shot('api-key-listed');
		});

		await step('delete the API key with the confirmation: curl -> 403', async () => {
			await keyRow(keyDesc).getByRole('button', { name: 'Delete API key ' + keyDesc }).click();
			const dlg = page.getByRole('alertdialog', { name: 'Delete API key' });
			await dlg.waitFor();
			assert(/irreversible/i.test(await dlg.textContent()), 'the confirmation says it is irreversible');
			await shot('api-key-delete-confirm');
			await dlg.getByRole('button', { name: 'Delete API key' }).click();
			await dlg.waitFor({ state: 'hidden' });
			await keyRow(keyDesc).waitFor({ state: 'detached' });
			await expectStatusSoon(() => callWithToken(apiKeyCurl, apiKey), 403, 'call with the deleted API key');
			await page.getByLabel('Show deleted API keys').check();
			assert(/Revoked/.test(await keyRow(keyDesc).textContent()), 'listed as revoked');
			await page.getByLabel('Show deleted API keys').uncheck();
			// the tokens panel did not change
			await row(neverDesc).waitFor();
		});

		await step('the namespace page lists and generates its namespace-wide API keys', async () => {
			await page.goto(new URL('#/namespaces/' + encodeURIComponent(NAMESPACE_ID) + '/security', CONSOLE_URL).href);
			await page.getByRole('heading', { name: 'Namespace API keys' }).waitFor();
			const r = await generateKey(nsKeyDesc);
			assert(callWithToken(r.curl, r.key) === 200, 'the namespace key\'s curl line answers 200');
			const fnEndpoint = CURL_LINE.exec(fnCurl)[2];
			assert(callWithToken(r.curl.replace(/ \S+$/, ' ' + fnEndpoint), r.key) === 200, 'a namespace key opens the function');
			await r.dlg.getByRole('button', { name: 'I have copied the API key' }).click();
			assert(/Namespace/.test(await keyRow(nsKeyDesc).textContent()), 'labelled Namespace');
			assert(await keyRow(keyDesc).count() === 0, 'function keys are not listed as namespace-wide');
			await page.locator('#api-keys-panel').scrollIntoViewIfNeeded();
			await shot('namespace-api-keys');
		});

		if (IMPORTED_NAMESPACE_ID) {
			const impJti = JSON.parse(Buffer.from(IMPORTED_TOKEN.split('.')[1], 'base64url').toString()).jti;
			const callImported = () => curlStatus(['-H', 'X-Auth-Token: ' + IMPORTED_TOKEN, IMPORTED_CALL_URL]);

			await step('a namespace with imported keys: what it accepts, no Generate token, no "No token yet"', async () => {
				await page.goto(new URL('#/namespaces/' + encodeURIComponent(IMPORTED_NAMESPACE_ID) + '/security', CONSOLE_URL).href);
				await page.getByRole('heading', { name: 'Accepted keys' }).waitFor();
				await page.locator('#tokens-table .loading').waitFor({ state: 'detached' });
				const ns = await apiGet('/v1/namespaces/' + encodeURIComponent(IMPORTED_NAMESPACE_ID), OWNER_KEY);
				assert(ns.issue_tokens === false, 'the API says the namespace does not issue tokens');
				const keys = await page.locator('#accepted-keys-table tbody').textContent();
				for (const k of ns.keys)
					assert(keys.includes(k.kid) && keys.includes(k.alg), `the key ${k.kid} (${k.alg}) is shown: ${keys}`);
				assert(await page.getByRole('button', { name: 'Generate token' }).count() === 0, 'no Generate token button');
				const empty = await tokensTable().locator('tbody').textContent();
				assert(!/No token yet/.test(empty), 'no "No token yet": ' + empty);
				assert(/every unexpired token its keys sign is accepted/.test(empty), 'the empty list says what is accepted: ' + empty);
				assert(callImported() === 200, 'a token signed by the imported key opens the function');
				await shot('imported-namespace');
			});

			await step('revoke an imported token by jti: listed as revoked, with its revocation time; curl -> 403', async () => {
				const before = Date.now();
				await page.getByLabel('Token ID (jti) to revoke').fill(impJti);
				await page.getByRole('button', { name: 'Revoke', exact: true }).click();
				await page.locator('[role=status]', { hasText: 'revoked' }).waitFor();
				const r = tokensTable().locator(`tbody tr[data-token-id="${impJti}"]`);
				await r.waitFor();
				const text = await r.textContent();
				assert(/Imported/.test(text) && /Revoked/.test(text), 'listed as an imported, revoked token: ' + text);
				const rec = (await apiGet('/v1/tokens/' + encodeURIComponent(impJti), OWNER_KEY));
				const at = await r.locator('.revoked-at time').getAttribute('datetime');
				assert(at === rec.revoked_at, `the revocation time is shown as such (${at} vs ${rec.revoked_at})`);
				assert(Date.parse(at) >= before - 2000, 'the revocation time is now: ' + at);
				const created = await r.locator('td.created').textContent();
				assert(created.trim() === '—', 'no creation time for a token fngate never issued: ' + created);
				await expectStatusSoon(callImported, 403, 'the revoked imported token');
				await shot('imported-revoked');
				// A second revocation says so in place.
				await page.getByLabel('Token ID (jti) to revoke').fill(impJti);
				await page.getByRole('button', { name: 'Revoke', exact: true }).click();
				const err = page.locator('#tokens-panel [role=alert]', { hasText: 'Not revoked' });
				await err.waitFor();
				assert(/already revoked/.test(await err.textContent()), 'a second revocation is refused with the reason');
			});

			await step('the imported namespace\'s function: its keys and the revocation, no Generate token', async () => {
				await page.goto(new URL('#/functions/' + encodeURIComponent(IMPORTED_FUNCTION_ID) + '/security', CONSOLE_URL).href);
				await page.getByRole('heading', { name: 'Accepted keys' }).waitFor();
				await tokensTable().locator(`tbody tr[data-token-id="${impJti}"]`).waitFor();
				assert(await page.getByRole('button', { name: 'Generate token' }).count() === 0, 'no Generate token button');
				assert(await page.getByLabel('Token ID (jti) to revoke').count() === 1, 'revocation by jti is offered');
			});
		}

		await step('the Activity page: the audit trail of what was just done, with filters and pages', async () => {
			await page.getByRole('link', { name: 'Activity' }).click();
			await page.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
			const rows = page.locator('#audit-table tbody tr');
			await rows.first().waitFor();
			const audit = await apiGet('/v1/audit?page_size=50', OWNER_KEY);
			assert(audit.total_count >= 6, 'the API lists this run\'s events: ' + audit.total_count);
			assert(await rows.count() === Math.min(audit.total_count, 50), 'the page shows the API\'s first page');
			assert((await rows.first().textContent()).includes(audit.events[0].action), 'newest first, as the API');
			await shot('activity');
			// Filter: the deletions in the namespace, from today.
			await page.getByLabel('Namespace').selectOption(NAMESPACE_ID);
			await page.getByLabel('Action').selectOption('token.delete');
			const today = new Date();
			await page.getByLabel('From').fill(`${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`);
			await page.getByRole('button', { name: 'Apply filters' }).click();
			await page.waitForFunction(() => location.hash.includes('action=token.delete'));
			await page.locator('#audit-table tbody tr td.mono', { hasText: 'token.delete' }).first().waitFor();
			const texts = await rows.allTextContents();
			assert(texts.length >= 1 && texts.every((t) => t.includes('token.delete') && t.includes(NAMESPACE_ID)),
				'only the namespace\'s deletions: ' + texts.join(' | '));
			const deletes = await apiGet('/v1/audit?action=token.delete&namespace_id=' + encodeURIComponent(NAMESPACE_ID), OWNER_KEY);
			assert(texts.length === deletes.total_count, `as many rows as the API counts (${texts.length} vs ${deletes.total_count})`);
			assert(!(await page.content()).includes(fnToken), 'no token in the activity');
			await shot('activity-filtered');
			// Reloading the filtered view keeps the filters (they are in the address).
			await page.reload();
			await page.locator('#audit-table tbody tr').first().waitFor();
			assert(await page.getByLabel('Action').inputValue() === 'token.delete', 'the filter survives a reload');
			await page.getByRole('button', { name: 'Clear' }).click();
			await page.waitForFunction(() => !location.hash.includes('action='));
			await page.locator('#audit-page', { hasText: `${audit.total_count} event` }).waitFor();
		});

		await step('an expired session is sent back to sign-in with a message', async () => {
			await page.evaluate(() => sessionStorage.setItem('fngate.adminKey', 'expired-or-removed-key'));
			await page.reload();
			const alert = page.locator('#signin-error');
			await alert.waitFor();
			assert(/expired/.test(await alert.textContent()), 'the message says the session expired');
			assert(await page.evaluate(() => sessionStorage.getItem('fngate.adminKey')) === null, 'the stale key is dropped');
			await shot('session-expired');
		});

		await step('sign out clears the key', async () => {
			await signIn(OWNER_KEY);
			await page.getByRole('button', { name: 'Sign out' }).waitFor();
			await page.getByRole('button', { name: 'Sign out' }).click();
			await page.getByRole('heading', { name: 'Sign in' }).waitFor();
			assert(await page.evaluate(() => sessionStorage.length) === 0, 'sessionStorage is empty');
		});

		await step('a read-only key sees no destructive control', async () => {
			await signIn(READONLY_KEY);
			await page.getByRole('button', { name: 'Sign out' }).waitFor();
			const role = await page.locator('#who-role').textContent();
			assert(role === 'read-only', `the header says read-only (got "${role}")`);
			const me = await apiGet('/v1/whoami', READONLY_KEY);
			assert(await page.locator('#who-name').textContent() === me.name, 'the header shows the key name ' + me.name);
			await openFunctionSecurity();
			await row(neverDesc).waitFor();
			assert(await page.getByRole('button', { name: 'Generate token' }).count() === 0, 'no Generate token button');
			assert(await page.getByRole('button', { name: /^Delete token/ }).count() === 0, 'no delete icon');
			assert(await page.getByRole('button', { name: 'Generate API key' }).count() === 0, 'no Generate API key button');
			assert(await page.getByRole('button', { name: /^Delete API key/ }).count() === 0, 'no API key delete icon');
			await page.locator('#api-keys-readonly').waitFor();
			assert(await page.locator('input[name=privacy]').count() === 0, 'no privacy toggle');
			await page.locator('#tokens-readonly').waitFor();
			await shot('read-only');
			// tokens:read is what the audit trail needs: the read-only key sees it too
			await page.getByRole('link', { name: 'Activity' }).click();
			await page.locator('#audit-table tbody tr').first().waitFor();
			if (IMPORTED_NAMESPACE_ID) {
				await page.goto(new URL('#/namespaces/' + encodeURIComponent(IMPORTED_NAMESPACE_ID) + '/security', CONSOLE_URL).href);
				await page.getByRole('heading', { name: 'Accepted keys' }).waitFor();
				await page.locator('#tokens-readonly', { hasText: 'not revoke' }).waitFor();
				assert(await page.locator('#revoke-form').count() === 0, 'no revocation form for a read-only key');
			}
		});

		await step('no script error and no CSP violation in the page', async () => {
			assert(pageErrors.length === 0, 'page errors:\n' + pageErrors.join('\n'));
		});
	} catch (e) {
		// reported by step()
	} finally {
		await context.close().catch(() => {});
		fs.rmSync(profile, { recursive: true, force: true });
	}
	console.log(`# screenshots in ${ARTIFACT_DIR}`);
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed || passed === 0 ? 1 : 0);

	// A call without a token through CALL_URL; without CALL_URL there is nothing to check here.
	function curlDirectOrSkip(token, want) {
		if (!CALL_URL)
			return true;
		return curlDirect(token) === want;
	}
}

main().catch((e) => {
	console.error(e);
	console.log('0 passed, 1 failed');
	process.exit(1);
});
