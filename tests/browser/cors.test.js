// cors.test.js - a page on one origin calling a private function of fngate on another, in a real
// browser (Debian's chromium, headless, driven by playwright-core): what issue 16.2 asks. The
// runner (tests/integration/test_cors.py) serves the page and starts fngate; this script only
// drives the browser and prints what the page could see, one JSON object on the last line of its
// output, for the runner to check. Exit status 0 unless the browser itself failed.
//
// Environment (all required but CHROMIUM):
//   PAGE_URL       the page, on the function's allowed origin (e.g. http://app.test:PORT/)
//   OTHER_URL      the same page on an origin the function does not allow
//   API_URL        the private function through fngate, on another origin
//   TOKEN          a valid X-Auth-Token for it
//   RESOLVE        host-resolver rules that map the page's names to 127.0.0.1
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
		console.error(`cors.test: ${name} is required`);
		process.exit(2);
	}
	return v;
};

const PAGE_URL = need('PAGE_URL');
const OTHER_URL = need('OTHER_URL');
const API_URL = need('API_URL');
const TOKEN = need('TOKEN');
const RESOLVE = need('RESOLVE');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Runs in the page: one fetch, and everything a script on that page can read of its answer.
async function call(args) {
	const { url, init } = args;
	try {
		const r = await fetch(url, init);
		const body = await r.text();
		return { ok: true, status: r.status, body, requestId: r.headers.get('X-Request-Id'),
			 contentType: r.headers.get('Content-Type') };
	} catch (e) {
		// A CORS failure: the page learns nothing but a TypeError.
		return { ok: false, error: String(e) };
	}
}

async function main() {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fngate-cors-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		chromiumSandbox: false,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			'--disable-dev-shm-usage', '--host-resolver-rules=' + RESOLVE],
	});
	const out = {};
	try {
		const page = context.pages()[0] || await context.newPage();
		await page.goto(PAGE_URL);
		out.pageOrigin = await page.evaluate(() => location.origin);
		// The token header makes it a non-simple request: the browser sends a preflight first.
		out.withToken = await page.evaluate(call, { url: API_URL + '/hello?via=fetch',
			init: { headers: { 'X-Auth-Token': TOKEN } } });
		out.postJson = await page.evaluate(call, { url: API_URL + '/_echo',
			init: { method: 'POST', body: '{"a":1}',
				headers: { 'X-Auth-Token': TOKEN, 'Content-Type': 'application/json' } } });
		// Without a token, a simple GET (no preflight) and one with a preflight (JSON type).
		out.noToken = await page.evaluate(call, { url: API_URL + '/hello', init: {} });
		out.noTokenPreflighted = await page.evaluate(call, { url: API_URL + '/hello',
			init: { headers: { 'Content-Type': 'application/json' } } });
		// A method the function's cors does not allow: the preflight fails, the call never goes.
		out.deleteMethod = await page.evaluate(call, { url: API_URL + '/hello',
			init: { method: 'DELETE', headers: { 'X-Auth-Token': TOKEN } } });
		await page.goto(OTHER_URL);
		out.otherOrigin = await page.evaluate(() => location.origin);
		out.fromOther = await page.evaluate(call, { url: API_URL + '/hello',
			init: { headers: { 'X-Auth-Token': TOKEN } } });
		out.fromOtherNoToken = await page.evaluate(call, { url: API_URL + '/hello', init: {} });
	} finally {
		await context.close();
		fs.rmSync(profile, { recursive: true, force: true });
	}
	console.log(JSON.stringify(out));
}

main().catch((e) => {
	console.error('cors.test: ' + (e && e.stack ? e.stack : e));
	process.exit(1);
});
