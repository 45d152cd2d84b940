// fleet-console.test.js - the console against a fleet (issue 12: "the console and CLI work against
// any node"), in a real browser: Debian's chromium, headless, driven by playwright-core. A token is
// generated in node A's console, listed and deleted in node B's, a function's privacy is set and
// reset in node C's; between the steps the function is called through every node. The runner
// (tests/integration/test_fleet_console.py) starts PostgreSQL and the nodes and checks what this
// script saw: one JSON object on the last line of its output. Exit status 0 unless the browser
// itself failed (a missing element, a timeout): the runner judges the figures.
//
// Environment (all required but CHROMIUM and ARTIFACT_DIR):
//   CONSOLES       the admin listeners of nodes a,b,c, comma-separated (http://127.0.0.1:P/)
//   OWNER_KEY      an admin key with every permission (the same on every node)
//   PRIVATE_FN     a private function; PRIVATE_CALLS its URL through each node, comma-separated
//   PUBLIC_FN      a public function;  PUBLIC_CALLS  its URL through each node, comma-separated
//   ARTIFACT_DIR   where screenshots go (default ./fleet-console-artifacts)
//   CHROMIUM       browser binary (default /usr/bin/chromium)
//   NODE_PATH      where playwright-core is installed (the runner sets it)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const need = (name) => {
	const v = process.env[name];
	if (!v) {
		console.error(`fleet-console.test: ${name} is required`);
		process.exit(2);
	}
	return v;
};

const CONSOLES = need('CONSOLES').split(',');
const OWNER_KEY = need('OWNER_KEY');
const PRIVATE_FN = need('PRIVATE_FN');
const PRIVATE_CALLS = need('PRIVATE_CALLS').split(',');
const PUBLIC_FN = need('PUBLIC_FN');
const PUBLIC_CALLS = need('PUBLIC_CALLS').split(',');
const ARTIFACT_DIR = path.resolve(process.env.ARTIFACT_DIR || 'fleet-console-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DESC = 'Fleet console token';

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// One call through the gateway; the HTTP status (0 when the call itself failed).
async function callStatus(url, token) {
	try {
		const r = await fetch(url, { headers: token ? { 'X-Auth-Token': token } : {} });
		await r.arrayBuffer();
		return r.status;
	} catch (e) {
		return 0;
	}
}

// Call each URL until it answers `want` or `limitMs` passed; per URL, the status last seen and
// the milliseconds from `since` to the first `want` (null when it never came).
async function until(urls, token, want, since, limitMs) {
	return Promise.all(urls.map(async (url) => {
		let status = 0;
		for (;;) {
			status = await callStatus(url, token);
			const ms = Date.now() - since;
			if (status === want)
				return { url, status, ms };
			if (ms > limitMs)
				return { url, status, ms: null };
			await sleep(5);
		}
	}));
}

async function main() {
	fs.mkdirSync(ARTIFACT_DIR, { recursive: true });
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fngate-fleet-console-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		chromiumSandbox: false,
		viewport: { width: 1280, height: 860 },
		locale: 'en-GB',
		timezoneId: 'UTC',
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			'--disable-dev-shm-usage'],
	});
	const out = { pageErrors: [] };
	let shotNo = 0;
	// One page per node: each console is its own origin, with its own sessionStorage sign-in.
	const open = async (node) => {
		const page = await context.newPage();
		page.setDefaultTimeout(15000);
		page.on('pageerror', (e) => out.pageErrors.push(`${node}: ${e.message}`));
		await page.goto(CONSOLES['abc'.indexOf(node)]);
		await page.getByLabel('Admin API key').fill(OWNER_KEY);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.getByRole('heading', { name: 'Functions', level: 1 }).waitFor();
		return page;
	};
	const shot = async (page, name) => {
		shotNo++;
		await page.screenshot({ path: path.join(ARTIFACT_DIR, `${String(shotNo).padStart(2, '0')}-${name}.png`) });
	};
	// The function's Security tab, loaded afresh (a hash change alone would keep the list shown).
	const security = async (page, fn) => {
		await page.goto(new URL('#/functions/' + encodeURIComponent(fn) + '/security', page.url()).href);
		await page.reload();
		await page.getByRole('heading', { name: 'Privacy policy' }).waitFor();
		await page.locator('#tokens-table tbody tr').first().waitFor();
		await page.locator('#tokens-table .loading').waitFor({ state: 'detached' });
	};
	const row = (page) => page.locator('#tokens-table tbody tr', { hasText: DESC });
	try {
		// Node A's console: generate a token without expiry for the private function.
		const a = await open('a');
		await security(a, PRIVATE_FN);
		await a.getByRole('button', { name: 'Generate token' }).click();
		const dlg = a.getByRole('dialog', { name: 'Generate token' });
		await dlg.waitFor();
		await dlg.getByLabel('Description').fill(DESC);
		await dlg.getByLabel('No expiration date').check();
		await dlg.getByRole('button', { name: 'Generate token' }).click();
		const tdlg = a.getByRole('dialog', { name: 'Copy your token' });
		await tdlg.waitFor();
		const token = await tdlg.getByLabel('Token', { exact: true }).inputValue();
		const created = Date.now();
		await shot(a, 'a-token-once');
		await tdlg.getByRole('button', { name: 'I have copied the token' }).click();
		await row(a).waitFor();
		out.tokenShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
		out.accepted = await until(PRIVATE_CALLS, token, 200, created, 3000);

		// Node B's console lists it (from B's copy of the shared registry) and deletes it.
		const b = await open('b');
		await security(b, PRIVATE_FN);
		await row(b).waitFor({ timeout: 5000 });
		out.listedOnB = (await row(b).textContent()).includes('Ready');
		await shot(b, 'b-token-listed');
		await row(b).getByRole('button', { name: 'Delete token ' + DESC }).click();
		const del = b.getByRole('alertdialog', { name: 'Delete token' });
		await del.getByRole('button', { name: 'Delete token' }).click();
		await del.waitFor({ state: 'hidden' });
		const deleted = Date.now();
		out.refused = await until(PRIVATE_CALLS, token, 403, deleted, 3000);
		await row(b).waitFor({ state: 'detached' });
		await shot(b, 'b-token-deleted');

		// Node A's console, reloaded: the token is listed as revoked there too.
		await security(a, PRIVATE_FN);
		await a.getByLabel('Show deleted tokens').check();
		await row(a).waitFor({ timeout: 5000 });
		out.rowOnA = await row(a).textContent();
		out.revokedOnA = out.rowOnA.includes('Revoked');
		await shot(a, 'a-token-revoked');

		// Node C's console: the public function made private, then back to the file's value.
		const c = await open('c');
		await security(c, PUBLIC_FN);
		await c.locator('#privacy-private').check();
		await c.getByRole('alertdialog', { name: 'Make this function private?' })
			.getByRole('button', { name: 'Make private' }).click();
		await c.locator('#fn-privacy-badge', { hasText: 'Private' }).waitFor();
		const priv = Date.now();
		out.madePrivate = await until(PUBLIC_CALLS, null, 403, priv, 3000);
		await shot(c, 'c-private');
		await c.locator('#privacy-reset').click();
		await c.locator('#fn-privacy-badge', { hasText: 'Public' }).waitFor();
		const reset = Date.now();
		out.resetPublic = await until(PUBLIC_CALLS, null, 200, reset, 3000);
		await shot(c, 'c-reset');
	} finally {
		await context.close().catch(() => {});
		fs.rmSync(profile, { recursive: true, force: true });
	}
	console.log(JSON.stringify(out));
}

main().catch((e) => {
	console.error('fleet-console.test: ' + (e && e.stack ? e.stack : e));
	process.exit(1);
});
