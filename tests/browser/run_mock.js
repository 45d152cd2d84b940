// run_mock.js - runs console.test.js against mock_admin.js (development aid; CI runs the real daemon).
// Usage: NODE_PATH=<dir with playwright-core> node run_mock.js [ARTIFACT_DIR]
'use strict';

const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');

const mock = spawn(process.execPath, [path.join(__dirname, 'mock_admin.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
const stop = () => {
	if (mock.exitCode === null)
		mock.kill('SIGTERM');
};
process.on('exit', stop);

readline.createInterface({ input: mock.stdout }).once('line', (line) => {
	const m = JSON.parse(line);
	const env = Object.assign({}, process.env, {
		CONSOLE_URL: m.admin_url,
		OWNER_KEY: m.owner_key,
		READONLY_KEY: m.readonly_key,
		NAMESPACE_ID: m.namespace_id,
		FUNCTION_ID: m.function_id,
		CALL_URL: m.gateway_url + '/hello',
		IMPORTED_NAMESPACE_ID: m.imported_namespace_id,
		IMPORTED_FUNCTION_ID: m.imported_function_id,
		IMPORTED_CALL_URL: m.gateway_url + '/legacy',
		IMPORTED_TOKEN: m.imported_token,
		ARTIFACT_DIR: process.argv[2] || process.env.ARTIFACT_DIR || path.resolve('console-artifacts-mock'),
	});
	const t = spawn(process.execPath, [path.join(__dirname, 'console.test.js')], { env, stdio: 'inherit' });
	t.on('exit', (code) => {
		stop();
		process.exit(code === null ? 1 : code);
	});
});
