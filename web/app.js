// app.js - the fngate console: sign-in, navigation, function privacy and token lifecycle over the admin API.
//
// Plain DOM, no framework, no build step, nothing loaded from another host. Every string that comes
// from the API is put in the page with textContent (never innerHTML), so the console runs under a
// Content-Security-Policy of script-src 'self' with no inline script or style.
'use strict';

(function () {
	const KEY_STORE = 'fngate.adminKey';   // sessionStorage: this tab only, gone on sign-out
	const PAGE_SIZE = 100;
	const MAX_PAGES = 50;                   // bounded listing: 5000 tokens per query at most
	const DESC_MAX = 512;

	const $ = (id) => document.getElementById(id);

	const session = {
		key: null,
		me: null,        // GET /v1/whoami: {name, role, permissions[], namespaces[]|null}
	};
	let renderGen = 0;   // bumps on every navigation: late answers for an old view are dropped

	// ---- small DOM helpers ----------------------------------------------------------------

	// h('a', {href: '#', class: 'x', onclick: fn}, 'text', child...) -> element. Strings become text nodes.
	function h(tag, attrs, ...children) {
		const el = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k.startsWith('on'))
				el.addEventListener(k.slice(2), v);
			else if (k === 'class')
				el.className = v;
			else if (v === true)
				el.setAttribute(k, '');
			else
				el.setAttribute(k, String(v));
		}
		for (const c of children.flat()) {
			if (c === null || c === undefined || c === false)
				continue;
			el.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return el;
	}

	function svgTrash() {
		const ns = 'http://www.w3.org/2000/svg';
		const svg = document.createElementNS(ns, 'svg');
		svg.setAttribute('viewBox', '0 0 24 24');
		svg.setAttribute('aria-hidden', 'true');
		svg.setAttribute('focusable', 'false');
		const p = document.createElementNS(ns, 'path');
		p.setAttribute('d', 'M9 3h6l1 2h4v2H4V5h4l1-2zm-3 6h12l-1 12H7L6 9zm4 2v8h2v-8h-2zm4 0v8h2v-8h-2z');
		svg.append(p);
		return svg;
	}

	function showAlert(el, message, kind) {
		el.className = 'alert ' + (kind === 'info' ? 'alert-info' : 'alert-error');
		el.textContent = message;
		el.hidden = !message;
	}

	function pad(n) {
		return String(n).padStart(2, '0');
	}

	// RFC 3339 -> <time> in local time "YYYY-MM-DD HH:MM", the exact instant in its title.
	function timeEl(ts, none) {
		if (!ts)
			return h('span', { class: 'muted' }, none || 'Never');
		const d = new Date(ts);
		if (isNaN(d.getTime()))
			return h('span', {}, ts);
		const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
		return h('time', { datetime: ts, title: d.toISOString() }, text);
	}

	function tzLabel() {
		const off = -new Date().getTimezoneOffset();
		const sign = off >= 0 ? '+' : '-';
		const abs = Math.abs(off);
		let zone = '';
		try {
			zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
		} catch (e) {
			zone = '';
		}
		return `${zone ? zone + ', ' : ''}UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
	}

	// ---- the admin API ----------------------------------------------------------------------

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
	}

	// What to tell the user for an API error, in place.
	function describe(err) {
		if (!(err instanceof ApiError))
			return 'Unexpected error: ' + (err && err.message ? err.message : String(err));
		if (err.status === 0)
			return 'The admin API cannot be reached: ' + err.message;
		if (err.status === 401)
			return 'Your session has expired or the key is no longer accepted. Sign in again.';
		if (err.status === 403)
			return 'Permission denied: ' + (err.message || 'this key may not do that.');
		if (err.status === 404)
			return 'Not found: ' + (err.message || 'it may have been removed from the configuration.');
		return err.message || `The admin API answered ${err.status}.`;
	}

	// Calls the API with the session's key (or `key`). Resolves to the parsed body; rejects with
	// ApiError. A 401 during a session ends it (unless opts.noExpire: sign-in handles its own).
	async function api(method, path, body, opts) {
		opts = opts || {};
		const key = opts.key || session.key;
		const init = { method, headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' };
		if (key)
			init.headers.Authorization = 'Bearer ' + key;
		if (body !== undefined) {
			init.headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		let res;
		try {
			res = await fetch(path, init);
		} catch (e) {
			throw new ApiError(0, 'network', e && e.message ? e.message : 'network error');
		}
		let data = null;
		const text = await res.text();
		if (text) {
			try {
				data = JSON.parse(text);
			} catch (e) {
				data = null;
			}
		}
		if (!res.ok) {
			const code = data && typeof data.error === 'string' ? data.error : 'http_' + res.status;
			const msg = data && typeof data.message === 'string' ? data.message : (data && typeof data.error === 'string' ? data.error : res.statusText);
			const err = new ApiError(res.status, code, msg);
			if (res.status === 401 && !opts.noExpire && session.key)
				expireSession(err);
			throw err;
		}
		return data;
	}

	function qs(params) {
		const u = new URLSearchParams();
		for (const [k, v] of Object.entries(params))
			if (v !== null && v !== undefined && v !== '')
				u.set(k, v);
		return u.toString();
	}

	// Every token matching the filter, page by page (bounded).
	// The two kinds of credential a caller may send in X-Auth-Token: the same panel, dialogs and
	// API calls, on another collection. `ids` prefixes the panel's element ids.
	const CRED = {
		token: { path: '/v1/tokens', list: 'tokens', secret: 'token', noun: 'token', title: 'Token',
			ids: 'tokens' },
		api_key: { path: '/v1/api-keys', list: 'api_keys', secret: 'secret', noun: 'API key', title: 'API key',
			ids: 'api-keys' },
	};

	// Put c's words into the dialogs' .cred-noun / .cred-title slots.
	function credWords(c) {
		document.querySelectorAll('.cred-noun').forEach((e) => { e.textContent = c.noun; });
		document.querySelectorAll('.cred-title').forEach((e) => { e.textContent = c.title; });
	}

	// Every record of credential kind c (CRED) matching filter, newest first.
	async function listTokens(filter, c) {
		const cred = c;
		const out = [];
		for (let page = 1; page <= MAX_PAGES; page++) {
			const data = await api('GET', cred.path + '?' + qs(Object.assign({}, filter,
				{ order_by: 'created_at_desc', page, page_size: PAGE_SIZE })));
			const batch = (data && Array.isArray(data[cred.list])) ? data[cred.list] : [];
			out.push(...batch);
			const total = data && Number.isFinite(data.total_count) ? data.total_count : out.length;
			if (batch.length === 0 || out.length >= total)
				break;
		}
		return out;
	}

	function listOf(data, field) {
		if (Array.isArray(data))
			return data;
		return data && Array.isArray(data[field]) ? data[field] : [];
	}

	// ---- permissions --------------------------------------------------------------------------

	// May the signed-in key do `perm` in namespace nsId (any of its namespaces when nsId is
	// undefined)? From GET /v1/whoami; the API still checks every request, this only decides which
	// controls are shown.
	function can(perm, nsId) {
		const me = session.me;
		if (!me)
			return false;
		const perms = me.permissions || [];
		if (me.role !== 'owner' && !perms.includes(perm))
			return false;
		if (!me.namespaces || me.namespaces.length === 0 || nsId === undefined)
			return true;
		return me.namespaces.includes(nsId);
	}

	function isReadOnly() {
		return !can('tokens:write') && !can('functions:write');
	}

	// ---- session ----------------------------------------------------------------------------

	// Check the key and learn what it may do. The console ships with the daemon that serves it,
	// so the endpoint is always there: no permission guessing.
	async function whoami(key) {
		const me = await api('GET', '/v1/whoami', undefined, { key, noExpire: true });
		return {
			name: me.name || 'admin key', role: me.role || null,
			permissions: Array.isArray(me.permissions) ? me.permissions : [],
			namespaces: Array.isArray(me.namespaces) && me.namespaces.length ? me.namespaces : null,
		};
	}

	function showSignin(message) {
		closeDialogs();
		$('view').replaceChildren();
		$('view').hidden = true;
		$('sidebar').hidden = true;
		$('who').hidden = true;
		$('signin').hidden = false;
		$('signin-key').value = '';
		showAlert($('signin-error'), message || '');
		document.title = 'Sign in - fngate console';
		$('signin-key').focus();
	}

	function showApp() {
		$('signin').hidden = true;
		$('view').hidden = false;
		$('sidebar').hidden = false;
		$('who').hidden = false;
		$('who-name').textContent = session.me.name;
		const me = session.me;
		const role = $('who-role');
		if (me.role)
			role.textContent = me.role;
		else if (isReadOnly())
			role.textContent = 'read-only';
		else
			role.textContent = me.permissions.join(', ');
		// The full grant on hover: permissions and the namespaces the key is limited to.
		role.title = (me.permissions.join(', ') || 'no permission') + ' on ' +
			(me.namespaces ? 'namespaces ' + me.namespaces.join(', ') : 'every namespace');
	}

	function signOut(message) {
		try {
			sessionStorage.removeItem(KEY_STORE);
		} catch (e) {
			// storage disabled: nothing was kept
		}
		session.key = null;
		session.me = null;
		renderGen++;
		showSignin(message);
	}

	function expireSession(err) {
		signOut('Your session has expired or the key is no longer accepted' +
			(err && err.message ? ' (' + err.message + ')' : '') + '. Sign in again.');
	}

	async function onSignin(ev) {
		ev.preventDefault();
		const input = $('signin-key');
		const key = input.value.trim();
		const errEl = $('signin-error');
		if (!key) {
			showAlert(errEl, 'Enter an admin API key.');
			input.focus();
			return;
		}
		$('signin-submit').disabled = true;
		showAlert(errEl, '');
		try {
			const me = await whoami(key);
				session.key = key;
			session.me = me;
			try {
				sessionStorage.setItem(KEY_STORE, key);
			} catch (e) {
				// storage disabled: the key lives in memory until the tab closes
			}
			input.value = '';
			showApp();
			if (!location.hash || location.hash === '#' || location.hash === '#/')
				location.hash = '#/namespaces';
			else
				render();
		} catch (err) {
			if (err instanceof ApiError && err.status === 401)
				showAlert(errEl, 'This key was refused: ' + (err.message || 'unknown admin key') + '. Check it and try again.');
			else
				showAlert(errEl, describe(err));
			input.focus();
			input.select();
		} finally {
			$('signin-submit').disabled = false;
		}
	}

	// ---- navigation -------------------------------------------------------------------------

	function parseRoute() {
		const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
			try {
				return decodeURIComponent(p);
			} catch (e) {
				return p;
			}
		});
		if (parts[0] === 'namespaces' && parts.length === 1)
			return { view: 'namespaces' };
		if (parts[0] === 'namespaces' && parts.length >= 2)
			return { view: 'namespace', id: parts[1], tab: parts[2] === 'security' ? 'security' : 'functions' };
		if (parts[0] === 'functions' && parts.length >= 2)
			return { view: 'function', id: parts[1], tab: parts[2] === 'security' ? 'security' : 'overview' };
		if (parts[0] === 'activity' || parts[0].startsWith('activity?'))
			return { view: 'activity', query: new URLSearchParams(location.hash.split('?')[1] || '') };
		return { view: 'namespaces' };
	}

	function link(hash) {
		return '#/' + hash.map(encodeURIComponent).join('/');
	}

	function crumbs(items) {
		return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
			h('ol', {}, items.map((it, i) => h('li', {},
				i === items.length - 1 ? h('span', { 'aria-current': 'page' }, it[0]) : h('a', { href: it[1] }, it[0])))));
	}

	// Focus moves to the new view's heading so keyboard and screen-reader users land on it.
	function mount(nodes, title, focusHeading, focusTab) {
		const view = $('view');
		view.replaceChildren(...nodes);
		document.title = title + ' - fngate console';
		if (focusTab) {
			const tab = view.querySelector('[role=tab][aria-selected=true]');
			if (tab)
				tab.focus({ preventScroll: true });
		} else if (focusHeading) {
			const hd = view.querySelector('h1');
			if (hd) {
				hd.setAttribute('tabindex', '-1');
				hd.focus({ preventScroll: true });
			}
		}
	}

	let lastRouteKey = '';

	function render() {
		if (!session.key)
			return;
		const gen = ++renderGen;
		const r = parseRoute();
		const routeKey = r.view + ':' + (r.id || '');
		const focusHeading = routeKey !== lastRouteKey;   // tab switches keep focus on the tab
		lastRouteKey = routeKey;
		// A tab switched from the keyboard keeps the focus on the tab list across the re-render.
		const ae = document.activeElement;
		const focusTab = !focusHeading && !!ae && ae.getAttribute('role') === 'tab';
		for (const [id, views] of [['nav-functions', ['namespaces', 'namespace', 'function']], ['nav-activity', ['activity']]]) {
			if (views.includes(r.view))
				$(id).setAttribute('aria-current', 'page');
			else
				$(id).removeAttribute('aria-current');
		}
		closeDialogs();
		const loading = h('p', { class: 'loading', role: 'status' }, 'Loading…');
		$('view').replaceChildren(loading);
		const done = (nodes, title) => {
			if (gen === renderGen)
				mount(nodes, title, focusHeading, focusTab);
		};
		const failed = (err, items) => {
			if (gen !== renderGen || !session.key)
				return;
			mount([crumbs(items), h('h1', {}, items[items.length - 1][0]),
				h('p', { class: 'alert alert-error', role: 'alert' }, describe(err))], 'Error', focusHeading);
		};
		if (r.view === 'namespaces')
			viewNamespaces().then((n) => done(n, 'Functions'), (e) => failed(e, [['Functions', '#/namespaces']]));
		else if (r.view === 'activity')
			viewActivity(r.query).then((n) => done(n, 'Activity'), (e) => failed(e, [['Activity', '']]));
		else if (r.view === 'namespace')
			viewNamespace(r.id, r.tab).then((n) => done(n, r.id), (e) => failed(e, [['Functions', '#/namespaces'], [r.id, '']]));
		else
			viewFunction(r.id, r.tab).then((n) => done(n, r.id), (e) => failed(e, [['Functions', '#/namespaces'], [r.id, '']]));
	}

	// ARIA tabs: arrow keys move between tabs, the hash keeps the selected tab.
	function tabs(label, items, selected, baseHash) {
		const list = h('div', { class: 'tabs', role: 'tablist', 'aria-label': label });
		const buttons = items.map(([id, text]) => h('button', {
			type: 'button', role: 'tab', id: 'tab-' + id, 'aria-selected': id === selected ? 'true' : 'false',
			'aria-controls': 'panel-' + id, tabindex: id === selected ? '0' : '-1',
			onclick: () => {
				location.hash = baseHash + (id === items[0][0] ? '' : '/' + id);
			},
		}, text));
		list.addEventListener('keydown', (ev) => {
			const i = buttons.indexOf(document.activeElement);
			if (i < 0)
				return;
			let j = -1;
			if (ev.key === 'ArrowRight')
				j = (i + 1) % buttons.length;
			else if (ev.key === 'ArrowLeft')
				j = (i - 1 + buttons.length) % buttons.length;
			else if (ev.key === 'Home')
				j = 0;
			else if (ev.key === 'End')
				j = buttons.length - 1;
			if (j >= 0) {
				ev.preventDefault();
				buttons[j].focus();
				buttons[j].click();
			}
		});
		list.append(...buttons);
		return list;
	}

	function privacyBadge(p) {
		return h('span', { class: 'badge badge-' + (p === 'private' ? 'private' : 'public') }, p === 'private' ? 'Private' : 'Public');
	}

	function upstreamText(u) {
		return typeof u === 'string' ? u : (u && (u.url || u.address)) || JSON.stringify(u);
	}

	function routesOf(fn) {
		const hosts = Array.isArray(fn.hosts) ? fn.hosts : [];
		const out = [];
		if (hosts.length)
			for (const host of hosts)
				out.push(host + (fn.path_prefix || ''));
		else if (fn.path_prefix)
			out.push('*' + fn.path_prefix);
		return out;
	}

	// The URL a caller uses, as the API computes it (docs/admin-api.md, "endpoint"); null for a
	// function reached through wildcard hosts only.
	function endpointOf(fn) {
		return fn && typeof fn.endpoint === 'string' && fn.endpoint ? fn.endpoint : null;
	}

	// ---- views ------------------------------------------------------------------------------

	function countOf(ns) {
		for (const k of ['functions_count', 'function_count'])
			if (Number.isFinite(ns[k]))
				return String(ns[k]);
		return Array.isArray(ns.functions) ? String(ns.functions.length) : '—';
	}

	async function viewNamespaces() {
		const data = await api('GET', '/v1/namespaces');
		const nss = listOf(data, 'namespaces');
		const table = h('table', {},
			h('caption', { class: 'muted small' }, 'Functions are grouped in namespaces; each namespace has its own signing keys.'),
			h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Namespace'), h('th', { scope: 'col' }, 'ID'),
				h('th', { scope: 'col' }, 'Functions'), h('th', { scope: 'col' }, 'Tokens'))),
			h('tbody', {}, nss.length ? nss.map((ns) => h('tr', {},
				h('td', {}, h('a', { href: link(['namespaces', ns.id]) }, ns.name || ns.id)),
				h('td', { class: 'mono' }, ns.id),
				h('td', {}, countOf(ns)),
				h('td', {}, ns.issue_tokens === false ? 'Imported keys' : (ns.issue_tokens ? 'Issued by fngate' : '—')))) :
				h('tr', {}, h('td', { colspan: '4', class: 'empty' }, 'No namespace is visible to this key.'))));
		return [crumbs([['Functions', '']]), h('h1', {}, 'Functions'),
			h('section', { class: 'card', 'aria-labelledby': 'ns-list-title' },
				h('div', { class: 'card-head' }, h('h2', { id: 'ns-list-title' }, 'Namespaces')), table)];
	}

	// ---- activity: the audit trail (GET /v1/audit) --------------------------------------------

	const AUDIT_ACTIONS = ['token.create', 'token.delete', 'token.revoke', 'api_key.create', 'api_key.delete',
		'function.privacy', 'function.reset_privacy', 'signing_key.generate', 'signing_key.rotate',
		'config.reload', 'admin.auth_failed'];
	const AUDIT_PAGE_SIZE = 50;

	// A date input's value (local midnight) as RFC 3339; `end`: the end of that day.
	function dayBound(value, end) {
		if (!value)
			return '';
		const d = new Date(value + 'T00:00:00');
		if (end)
			d.setDate(d.getDate() + 1);
		return new Date(d.getTime() - (end ? 1 : 0)).toISOString();
	}

	// The filters live in the hash (#/activity?namespace_id=…&page=2): a filtered view can be
	// bookmarked, and Back goes to the previous one.
	async function viewActivity(q) {
		const page = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);
		const f = { namespace_id: q.get('namespace_id') || '', actor: q.get('actor') || '',
			action: q.get('action') || '', from: q.get('from') || '', to: q.get('to') || '' };
		const [nsData, data] = await Promise.all([
			api('GET', '/v1/namespaces'),
			api('GET', '/v1/audit?' + qs({ namespace_id: f.namespace_id, actor: f.actor, action: f.action,
				since: dayBound(f.from, false), until: dayBound(f.to, true), page, page_size: AUDIT_PAGE_SIZE })),
		]);
		const events = listOf(data, 'events');
		const total = data && typeof data.total_count === 'number' ? data.total_count : events.length;
		const go = (changes) => {
			const next = new URLSearchParams(qs(Object.assign({}, f, { page: '' }, changes)));
			location.hash = '#/activity' + (next.toString() ? '?' + next.toString() : '');
		};
		const select = (id, label, value, options) => h('div', { class: 'field' },
			h('label', { for: id }, label),
			h('select', { id }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
		const form = h('form', { class: 'filters', id: 'audit-filters', 'aria-label': 'Filter the activity',
			onsubmit: (ev) => {
				ev.preventDefault();
				go({ namespace_id: $('audit-ns').value, actor: $('audit-actor').value.trim(),
					action: $('audit-action').value, from: $('audit-from').value, to: $('audit-to').value });
			} },
		h('div', { class: 'row' },
			select('audit-ns', 'Namespace', f.namespace_id, [['', 'All namespaces']].concat(
				listOf(nsData, 'namespaces').map((ns) => [ns.id, ns.name || ns.id]))),
			select('audit-action', 'Action', f.action, [['', 'All actions']].concat(AUDIT_ACTIONS.map((a) => [a, a]))),
			h('div', { class: 'field' }, h('label', { for: 'audit-actor' }, 'Admin key'),
				h('input', { id: 'audit-actor', type: 'text', value: f.actor, placeholder: 'any', spellcheck: 'false',
					autocomplete: 'off' })),
			h('div', { class: 'field' }, h('label', { for: 'audit-from' }, 'From'),
				h('input', { id: 'audit-from', type: 'date', value: f.from })),
			h('div', { class: 'field' }, h('label', { for: 'audit-to' }, 'To'),
				h('input', { id: 'audit-to', type: 'date', value: f.to }))),
		h('div', { class: 'actions' },
			h('button', { type: 'submit', class: 'btn btn-primary', id: 'audit-apply' }, 'Apply filters'),
			h('button', { type: 'button', class: 'btn btn-quiet', id: 'audit-clear',
				onclick: () => go({ namespace_id: '', actor: '', action: '', from: '', to: '' }) }, 'Clear')));
		const outcome = (o) => h('span', { class: 'badge ' + (o === 'ok' ? 'badge-ready' : 'badge-revoked') }, o);
		const cols = ['Time', 'Admin key', 'Action', 'Target', 'Namespace', 'Function', 'Source', 'Outcome', 'Detail'];
		const table = h('table', { id: 'audit-table' },
			h('caption', { class: 'muted small' }, `Newest first. Times in ${tzLabel()}.`),
			h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
			h('tbody', {}, events.length ? events.map((e) => h('tr', {},
				h('td', {}, timeEl(e.time)),
				h('td', {}, e.actor || '—'),
				h('td', { class: 'mono' }, e.action),
				h('td', { class: 'mono' }, e.target_id || '—'),
				h('td', { class: 'mono' }, e.namespace_id || '—'),
				h('td', { class: 'mono' }, e.function_id || '—'),
				h('td', { class: 'mono' }, e.source || '—'),
				h('td', {}, outcome(e.outcome)),
				h('td', {}, [e.detail || '', e.count > 1 ? ` (${e.count} times)` : ''].join('') || '—'))) :
				h('tr', {}, h('td', { colspan: String(cols.length), class: 'empty' }, 'No event matches.'))));
		const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
		const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
			h('button', { type: 'button', class: 'btn', id: 'audit-prev', disabled: page <= 1,
				onclick: () => go({ page: String(page - 1) }) }, 'Previous'),
			h('span', { id: 'audit-page', role: 'status' }, `Page ${page} of ${pages} · ${total} event${total === 1 ? '' : 's'}`),
			h('button', { type: 'button', class: 'btn', id: 'audit-next', disabled: page >= pages,
				onclick: () => go({ page: String(page + 1) }) }, 'Next'));
		return [crumbs([['Activity', '']]), h('h1', {}, 'Activity'),
			h('section', { class: 'card', 'aria-labelledby': 'audit-title' },
				h('div', { class: 'card-head' }, h('h2', { id: 'audit-title' }, 'Audit trail')),
				h('p', { class: 'muted small' }, 'Every change to tokens, API keys, privacy and signing keys, every ' +
					'configuration reload and refused admin key, as the daemon recorded it. A key limited to some ' +
					'namespaces sees their events only.'),
				form, table, pager)];
	}

	function functionsTable(fns) {
		return h('table', {},
			h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Privacy'),
				h('th', { scope: 'col' }, 'Routes'), h('th', { scope: 'col' }, 'Upstreams'))),
			h('tbody', {}, fns.length ? fns.map((fn) => h('tr', {},
				h('td', {}, h('a', { href: link(['functions', fn.id]) }, fn.name || fn.id),
					fn.name && fn.name !== fn.id ? h('span', { class: 'sub mono' }, fn.id) : null),
				h('td', {}, privacyBadge(fn.privacy)),
				h('td', { class: 'mono' }, routesOf(fn).map((r) => h('div', {}, r))),
				h('td', { class: 'mono' }, (fn.upstreams || []).map((u) => h('div', {}, upstreamText(u)))))) :
				h('tr', {}, h('td', { colspan: '4', class: 'empty' }, 'This namespace has no function.'))));
	}

	async function viewNamespace(id, tab) {
		const [ns, fnData] = await Promise.all([
			api('GET', '/v1/namespaces/' + encodeURIComponent(id)),
			api('GET', '/v1/namespaces/' + encodeURIComponent(id) + '/functions'),
		]);
		const fns = listOf(fnData, 'functions');
		const name = ns.name || ns.id;
		const base = link(['namespaces', ns.id]);
		const nodes = [crumbs([['Functions', '#/namespaces'], [name, '']]),
			h('h1', {}, name, h('span', { class: 'badge' }, 'Namespace')),
			tabs('Namespace', [['functions', 'Functions'], ['security', 'Security']], tab, base)];
		if (tab === 'functions') {
			nodes.push(h('section', { id: 'panel-functions', role: 'tabpanel', 'aria-labelledby': 'tab-functions', class: 'card' },
				h('div', { class: 'card-head' }, h('h2', {}, 'Functions')), functionsTable(fns)));
		} else {
			const panel = tokensPanel({ kind: 'namespace', ns, fns, cred: CRED.token });
			const keys = tokensPanel({ kind: 'namespace', ns, fns, cred: CRED.api_key });
			nodes.push(h('div', { id: 'panel-security', role: 'tabpanel', 'aria-labelledby': 'tab-security' },
				acceptedKeysCard(ns), panel.el, keys.el));
			panel.load();
			keys.load();
		}
		return nodes;
	}

	async function viewFunction(id, tab) {
		const fn = await api('GET', '/v1/functions/' + encodeURIComponent(id));
		let ns = { id: fn.namespace_id, name: fn.namespace_name || fn.namespace_id };
		try {
			ns = await api('GET', '/v1/namespaces/' + encodeURIComponent(fn.namespace_id));
		} catch (e) {
			if (!session.key)
				throw e;
			// the crumbs fall back to the id
		}
		const nsName = ns.name || ns.id;
		const base = link(['functions', fn.id]);
		const badge = privacyBadge(fn.privacy);
		badge.id = 'fn-privacy-badge';
		const nodes = [crumbs([['Functions', '#/namespaces'], [nsName, link(['namespaces', ns.id])], [fn.name || fn.id, '']]),
			h('h1', {}, fn.name || fn.id, badge),
			tabs('Function', [['overview', 'Overview'], ['security', 'Security']], tab, base)];
		if (tab === 'overview') {
			const ep = endpointOf(fn);
			const li = (xs) => (xs && xs.length ? h('ul', {}, xs.map((x) => h('li', { class: 'mono' }, x))) : h('span', { class: 'muted' }, 'none'));
			nodes.push(h('section', { id: 'panel-overview', role: 'tabpanel', 'aria-labelledby': 'tab-overview', class: 'card' },
				h('div', { class: 'card-head' }, h('h2', {}, 'Overview')),
				h('dl', { class: 'props' },
					h('dt', {}, 'Name'), h('dd', {}, fn.name || fn.id),
					h('dt', {}, 'ID'), h('dd', { class: 'mono' }, fn.id),
					h('dt', {}, 'Namespace'), h('dd', {}, h('a', { href: link(['namespaces', ns.id]) }, nsName)),
					h('dt', {}, 'Privacy'), h('dd', {}, privacyBadge(fn.privacy),
						fn.privacy === 'private' ? ' Callers send a token or an API key in the X-Auth-Token header.' : ' Anyone who can reach it may call it.'),
					h('dt', {}, 'Endpoint'), h('dd', { class: 'mono', id: 'fn-endpoint' }, ep || h('span', { class: 'muted' }, 'none: wildcard hosts only')),
					h('dt', {}, 'Hosts'), h('dd', {}, li(fn.hosts)),
					h('dt', {}, 'Path prefix'), h('dd', { class: 'mono' }, fn.path_prefix || h('span', { class: 'muted' }, 'none (host only)')),
					h('dt', {}, 'Upstreams'), h('dd', {}, li((fn.upstreams || []).map(upstreamText))))));
		} else {
			const panel = tokensPanel({ kind: 'function', ns, fn, cred: CRED.token });
			const keys = tokensPanel({ kind: 'function', ns, fn, cred: CRED.api_key });
			nodes.push(h('div', { id: 'panel-security', role: 'tabpanel', 'aria-labelledby': 'tab-security' },
				privacyCard(fn, badge), acceptedKeysCard(ns), panel.el, keys.el));
			panel.load();
			keys.load();
		}
		return nodes;
	}

	// The privacy policy, with a confirmation before any change.
	function privacyCard(fn, headerBadge) {
		const status = h('p', { class: 'alert alert-info', role: 'status', hidden: true });
		const current = h('p', { id: 'privacy-current' });
		const setCurrent = () => {
			current.replaceChildren('This function is ', privacyBadge(fn.privacy), fn.privacy === 'private' ?
				': every call must carry a valid token or API key in the X-Auth-Token header.' :
				': anyone who can reach it may call it, without a token.');
		};
		// A privacy set here (or through the API) is kept by fngate and wins over the configuration
		// file, also after the file changes: say so, and offer the way back to the file's value.
		const override = h('div', { class: 'alert alert-warn', id: 'privacy-override', role: 'note' });
		const writable = can('functions:write', fn.namespace_id);
		const setOverride = () => {
			override.hidden = !fn.privacy_configured || fn.privacy === fn.privacy_configured;
			if (override.hidden)
				return;
			override.replaceChildren(h('p', {}, `The configuration file says ${fn.privacy_configured}. ` +
				`The ${fn.privacy} policy was set through the console or the admin API; fngate keeps it ` +
				'in its state directory, and it wins over the file until it is reset.'));
			if (!writable)
				return;
			const reset = h('button', { type: 'button', class: 'btn', id: 'privacy-reset' },
				`Use the file's value (${fn.privacy_configured})`);
			reset.addEventListener('click', async () => {
				reset.disabled = true;
				try {
					const updated = await api('DELETE', '/v1/functions/' + encodeURIComponent(fn.id) + '/privacy');
					applyPrivacy(updated.privacy);
					showAlert(status, `The function is now ${fn.privacy}, as the configuration file says.`, 'info');
				} catch (err) {
					reset.disabled = false;
					showAlert(status, 'The privacy policy was not reset. ' + describe(err));
				}
			});
			override.append(reset);
		};
		setCurrent();
		setOverride();
		const card = h('section', { class: 'card', 'aria-labelledby': 'privacy-title' },
			h('div', { class: 'card-head' }, h('h2', { id: 'privacy-title' }, 'Privacy policy')), current, override);
		let group = null;
		// The policy in force changed (set or reset): every view of it follows.
		function applyPrivacy(p) {
			fn.privacy = p;
			headerBadge.replaceWith(Object.assign(privacyBadge(fn.privacy), { id: 'fn-privacy-badge' }));
			headerBadge = document.getElementById('fn-privacy-badge');
			setCurrent();
			setOverride();
			if (group)
				group.querySelector(`input[value="${fn.privacy}"]`).checked = true;
		}
		if (!writable) {
			card.append(h('p', { class: 'muted small' }, 'Your key may not change the privacy policy.'));
			return card;
		}
		const radio = (value, title, text) => h('label', { class: 'radio-card' },
			h('input', { type: 'radio', name: 'privacy', value, id: 'privacy-' + value, checked: fn.privacy === value }),
			h('span', {}, h('strong', {}, title), h('span', { class: 'muted small' }, text)));
		group = h('fieldset', { class: 'radio-cards' },
			h('legend', { class: 'muted small' }, 'Who may call this function'),
			radio('public', 'Public', 'Anyone who can reach the function may call it.'),
			radio('private', 'Private', 'Callers need a token or an API key; others get 403.'));
		group.addEventListener('change', (ev) => {
			const want = ev.target.value;
			if (want === fn.privacy)
				return;
			confirmPrivacy(fn, want, ev.target, (updated) => {
				applyPrivacy(updated.privacy || want);
				showAlert(status, `The function is now ${fn.privacy}.`, 'info');
			}, () => {
				group.querySelector(`input[value="${fn.privacy}"]`).checked = true;
			});
		});
		card.append(group, status);
		return card;
	}

	// What a namespace with imported keys accepts: tokens signed by these keys (kid, pinned alg),
	// minted elsewhere. null for a namespace that issues its own tokens.
	function acceptedKeysCard(ns) {
		if (ns.issue_tokens !== false)
			return null;
		const keys = Array.isArray(ns.keys) ? ns.keys : [];
		return h('section', { class: 'card', id: 'accepted-keys', 'aria-labelledby': 'accepted-keys-title' },
			h('div', { class: 'card-head' }, h('h2', { id: 'accepted-keys-title' }, 'Accepted keys'),
				h('span', { class: 'badge' }, 'Imported keys')),
			h('p', { class: 'muted' }, 'Tokens are not generated here: this namespace accepts tokens signed by its ' +
				'imported keys (from the configuration file), for as long as they are unexpired and not revoked below.' +
				(ns.issuer ? ` Their "iss" claim must be "${ns.issuer}".` : '')),
			h('table', { id: 'accepted-keys-table' },
				h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key ID (kid)'), h('th', { scope: 'col' }, 'Algorithm'))),
				h('tbody', {}, keys.length ? keys.map((k) => h('tr', {},
					h('td', { class: 'mono' }, k.kid), h('td', { class: 'mono' }, k.alg))) :
					h('tr', {}, h('td', { colspan: '2', class: 'empty' }, 'No key: no token is accepted.')))));
	}

	// ---- tokens -----------------------------------------------------------------------------

	function tokenState(t) {
		if (t.status === 'revoked')
			return ['revoked', 'Revoked'];
		if (t.expired === true || (t.expires_at && Date.parse(t.expires_at) <= Date.now()))
			return ['expired', 'Expired'];
		if (t.status === 'ready')
			return ['ready', 'Ready'];
		return ['', t.status || 'unknown'];
	}

	// The Tokens panel (ctx.cred CRED.token) or the API keys panel (CRED.api_key) of a function
	// (its own credentials and its namespace's) or of a namespace (its namespace-wide ones).
	// Returns {el, load}.
	function tokensPanel(ctx) {
		const c = ctx.cred;
		const nsId = ctx.ns.id;
		const writable = can('tokens:write', nsId);
		// A namespace with imported keys (issue_tokens false) accepts tokens minted elsewhere:
		// fngate cannot generate any, and lists only the jtis revoked here. API keys need no
		// signing key: every namespace may have them.
		const imported = ctx.ns.issue_tokens === false && c === CRED.token;
		const keys = c === CRED.api_key;
		const alertEl = h('p', { class: 'alert alert-error', role: 'alert', hidden: true });
		const statusEl = h('p', { class: 'alert alert-info', role: 'status', hidden: true });
		const body = h('tbody', {}, h('tr', {}, h('td', { colspan: '7', class: 'loading' }, `Loading ${c.noun}s…`)));
		const showDeleted = h('input', { type: 'checkbox', id: c.ids + '-show-deleted' });
		let genBtn = null;
		const title = imported ? 'Revoked tokens' : ctx.kind === 'function' ? c.title + 's' : `Namespace ${c.noun}s`;
		const intro = imported ?
			'This namespace does not issue tokens: it accepts the tokens its keys sign (above), minted elsewhere. ' +
			'fngate lists only the token IDs (jti) revoked here.' : keys ? (ctx.kind === 'function' ?
				'API keys that open this function: its own, and those of its namespace. A caller sends the key in the ' +
				'X-Auth-Token header, as it would a token; fngate keeps only a hash of it.' :
				'Namespace-wide API keys open every function of this namespace. Function API keys are on each ' +
				'function\'s Security tab.') : ctx.kind === 'function' ?
			'Tokens that open this function: its own, and those of its namespace (they open every function in it).' :
			'Namespace-wide tokens open every function of this namespace. Function tokens are on each function\'s Security tab.';
		const head = h('div', { class: 'card-head' }, h('h2', { id: c.ids + '-title' }, title));
		if (writable && !imported) {
			genBtn = h('button', { type: 'button', class: 'btn btn-primary', id: keys ? 'generate-api-key' : 'generate-token' },
				'Generate ' + c.noun);
			genBtn.addEventListener('click', () => openGenerate(ctx, genBtn, (created) => {
				showAlert(statusEl, `${c.title} "${created.description || created.id}" generated.`, 'info');
				load();
			}));
			head.append(genBtn);
		}
		const el = h('section', { class: 'card', id: c.ids + '-panel', 'aria-labelledby': c.ids + '-title' }, head,
			h('p', { class: 'muted' }, intro),
			writable ? null : h('p', { class: 'muted small', id: c.ids + '-readonly' }, imported ?
				'Your key can list revoked tokens but not revoke one.' :
				`Your key can list ${c.noun}s but not generate or delete them.`),
			writable && imported ? revokeForm() : null,
			alertEl, statusEl,
			// Every record of an imported namespace is a revocation: nothing to hide.
			imported ? null : h('div', { class: 'check small' }, showDeleted,
				h('label', { for: c.ids + '-show-deleted' }, `Show deleted ${c.noun}s`)),
			h('table', { id: c.ids + '-table' },
				h('caption', { class: 'muted small', hidden: true }, title),
				h('thead', {}, h('tr', {}, ['Description', 'Scope', 'Created', 'Expires', 'Last used', 'Status']
					.map((c) => h('th', { scope: 'col' }, c)), h('th', { scope: 'col' }, h('span', { class: 'skip' }, 'Actions')))),
				body));
		let all = [];

		// Revocation by jti: a token minted elsewhere is known here only by its jti claim
		// (POST /v1/tokens/revoke, in this namespace).
		function revokeForm() {
			const input = h('input', { id: 'revoke-jti', name: 'jti', type: 'text', autocomplete: 'off', spellcheck: 'false',
				maxlength: '256', required: true, 'aria-describedby': 'revoke-jti-hint' });
			const btn = h('button', { type: 'submit', class: 'btn btn-danger', id: 'revoke-submit' }, 'Revoke');
			const form = h('form', { id: 'revoke-form', class: 'revoke-form', novalidate: true },
				h('label', { for: 'revoke-jti' }, 'Token ID (jti) to revoke'),
				h('div', { class: 'row' }, input, btn),
				h('p', { class: 'muted small', id: 'revoke-jti-hint' },
					'The token\'s "jti" claim. Every token carrying it is refused in this namespace from then on; this cannot be undone.'));
			form.addEventListener('submit', async (ev) => {
				ev.preventDefault();
				const jti = input.value.trim();
				if (!jti) {
					showAlert(alertEl, 'Enter the token ID (its jti claim) to revoke.');
					input.focus();
					return;
				}
				btn.disabled = true;
				showAlert(alertEl, '');
				showAlert(statusEl, '');
				try {
					const rec = await api('POST', '/v1/tokens/revoke', { jti, namespace_id: nsId });
					input.value = '';
					showAlert(statusEl, `Token ID "${rec.id}" revoked: tokens carrying it are refused from now on.`, 'info');
					load();
				} catch (err) {
					if (!session.key)
						return;
					showAlert(alertEl, err instanceof ApiError && (err.status === 400 || err.status === 409) ?
						'Not revoked: ' + err.message : 'Not revoked. ' + describe(err));
				} finally {
					btn.disabled = false;
				}
			});
			return form;
		}

		function draw() {
			const rows = all.filter((t) => imported || showDeleted.checked || t.status !== 'revoked');
			if (!rows.length) {
				body.replaceChildren(h('tr', {}, h('td', { colspan: '7', class: 'empty' },
					imported ? 'No token ID revoked here: every unexpired token its keys sign is accepted.' :
						writable ? `No ${c.noun} yet. Generate one to let a caller in.` : `No ${c.noun}.`)));
				return;
			}
			body.replaceChildren(...rows.map((t) => {
				const own = !!t.function_id;
				// A jti revoked by id, for a token fngate never issued (scope unknown): it has no
				// creation here, only its revocation.
				const foreign = t.imported === true || t.scope === 'unknown';
				const [cls, label] = tokenState(t);
				const name = t.description || t.id;
				let action = null;
				if (writable && t.status !== 'revoked') {
					action = h('button', { type: 'button', class: 'btn btn-icon', 'aria-label': `Delete ${c.noun} ${name}`,
						title: 'Delete ' + c.noun }, svgTrash());
					action.addEventListener('click', () => openDelete(t, c, action, () => {
						showAlert(statusEl, `${c.title} "${name}" deleted: it is refused from now on.`, 'info');
						load();
					}));
				}
				return h('tr', { [keys ? 'data-api-key-id' : 'data-token-id']: t.id },
					h('td', {}, t.description ? t.description : h('span', { class: 'muted' }, '(no description)'),
						h('span', { class: 'sub mono' }, t.id)),
					h('td', {}, foreign ? h('span', { class: 'badge' }, 'Imported') :
						h('span', { class: 'badge ' + (own ? 'badge-scope-fn' : 'badge-scope-ns') },
							own ? (ctx.kind === 'function' ? 'This function' : 'Function ' + t.function_id) : 'Namespace')),
					h('td', { class: 'created' }, foreign ? h('span', { class: 'muted', title: 'Not issued by fngate' }, '—') : timeEl(t.created_at, '—')),
					h('td', {}, foreign ? h('span', { class: 'muted' }, 'Unknown') : timeEl(t.expires_at, 'Never')),
					h('td', {}, timeEl(t.last_used_at, 'Never')),
					h('td', { class: 'status' }, h('span', { class: 'badge badge-' + cls }, label),
						t.revoked_at ? h('span', { class: 'sub revoked-at' }, 'at ', timeEl(t.revoked_at)) : null),
					h('td', { class: 'actions-cell' }, action));
			}));
		}
		showDeleted.addEventListener('change', draw);

		async function load() {
			const gen = renderGen;
			showAlert(alertEl, '');
			try {
				let list;
				if (ctx.kind === 'function') {
					const [own, nsw] = await Promise.all([listTokens({ function_id: ctx.fn.id }, c),
						listTokens({ namespace_id: nsId }, c)]);
					const seen = new Set();
					list = [];
					for (const t of own.concat(nsw.filter((x) => !x.function_id))) {
						if (!seen.has(t.id)) {
							seen.add(t.id);
							list.push(t);
						}
					}
				} else {
					list = (await listTokens({ namespace_id: nsId }, c)).filter((t) => !t.function_id);
				}
				list.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
				if (gen !== renderGen)
					return;
				all = list;
				draw();
			} catch (err) {
				if (gen !== renderGen || !session.key)
					return;
				body.replaceChildren(h('tr', {}, h('td', { colspan: '7', class: 'empty' }, c.title + 's could not be listed.')));
				showAlert(alertEl, describe(err));
			}
		}
		return { el, load };
	}

	// ---- dialogs ----------------------------------------------------------------------------

	const dialogs = ['dlg-generate', 'dlg-token', 'dlg-delete', 'dlg-privacy'];
	const openers = new Map();   // dialog id -> element to refocus on close

	function focusables(dlg) {
		return Array.from(dlg.querySelectorAll('button, input, textarea, select, a[href], [tabindex]:not([tabindex="-1"])'))
			.filter((e) => !e.disabled && !e.hidden && e.getClientRects().length > 0);
	}

	// Modal <dialog>s already make the page behind them inert; this also keeps Tab cycling inside
	// the dialog instead of leaving for the browser's own controls.
	function trapFocus(dlg) {
		dlg.addEventListener('keydown', (ev) => {
			if (ev.key !== 'Tab')
				return;
			const f = focusables(dlg);
			if (!f.length)
				return;
			const first = f[0];
			const last = f[f.length - 1];
			if (ev.shiftKey && (document.activeElement === first || !dlg.contains(document.activeElement))) {
				ev.preventDefault();
				last.focus();
			} else if (!ev.shiftKey && (document.activeElement === last || !dlg.contains(document.activeElement))) {
				ev.preventDefault();
				first.focus();
			}
		});
		dlg.addEventListener('close', () => {
			const back = openers.get(dlg.id);
			openers.delete(dlg.id);
			if (back && back.isConnected && session.key)
				back.focus();
		});
	}

	function openDialog(id, opener, focusEl) {
		const dlg = $(id);
		openers.set(id, opener || null);
		if (!dlg.open)
			dlg.showModal();
		if (focusEl)
			focusEl.focus();
		return dlg;
	}

	function closeDialogs() {
		for (const id of dialogs) {
			const d = $(id);
			if (d.open)
				d.close();
		}
		wipeToken();
	}

	function wipeToken() {
		$('tok-value').value = '';
		$('tok-curl').value = '';
		$('tok-copied').textContent = '';
		$('tok-curl-hint').hidden = true;
	}

	// Generate token ---------------------------------------------------------------------------

	let genCtx = null;

	function openGenerate(ctx, opener, onCreated) {
		genCtx = { ctx, onCreated };
		credWords(ctx.cred);
		const d = new Date(Date.now() + 30 * 24 * 3600 * 1000);
		$('gen-description').value = '';
		$('gen-date').value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
		$('gen-time').value = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
		$('gen-noexpiry').checked = false;
		syncExpiry();
		$('gen-tz').textContent = 'Date and time are in this browser\'s time zone (' + tzLabel() + ').';
		$('dlg-generate-scope').textContent = ctx.kind === 'function' ?
			`The ${ctx.cred.noun} will open the function "${ctx.fn.name || ctx.fn.id}" only.` :
			`The ${ctx.cred.noun} will open every function of the namespace "${ctx.ns.name || ctx.ns.id}".`;
		showAlert($('gen-error'), '');
		$('gen-submit').disabled = false;
		openDialog('dlg-generate', opener, $('gen-description'));
	}

	function syncExpiry() {
		const off = $('gen-noexpiry').checked;
		$('gen-date').disabled = off;
		$('gen-time').disabled = off;
	}

	function byteLength(s) {
		return new TextEncoder().encode(s).length;
	}

	async function onGenerate(ev) {
		ev.preventDefault();
		if (!genCtx)
			return;
		const errEl = $('gen-error');
		const description = $('gen-description').value.trim();
		if (byteLength(description) > DESC_MAX) {
			showAlert(errEl, `The description is too long: at most ${DESC_MAX} bytes.`);
			$('gen-description').focus();
			return;
		}
		// eslint-disable-next-line no-control-regex
		if (/[\u0000-\u001f\u007f]/.test(description)) {
			showAlert(errEl, 'The description may not contain control characters.');
			$('gen-description').focus();
			return;
		}
		let expiresAt = null;
		if (!$('gen-noexpiry').checked) {
			const date = $('gen-date').value;
			const time = $('gen-time').value || '00:00';
			if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
				showAlert(errEl, 'Choose an expiration date, or tick "No expiration date".');
				$('gen-date').focus();
				return;
			}
			const when = new Date(date + 'T' + time);   // local time, as shown
			if (isNaN(when.getTime())) {
				showAlert(errEl, 'The expiration date or time is not valid.');
				$('gen-date').focus();
				return;
			}
			if (when.getTime() <= Date.now()) {
				showAlert(errEl, 'The expiration must be in the future.');
				$('gen-date').focus();
				return;
			}
			expiresAt = when.toISOString().replace(/\.\d{3}Z$/, 'Z');
		}
		const { ctx, onCreated } = genCtx;
		const body = { description, expires_at: expiresAt };
		if (ctx.kind === 'function')
			body.function_id = ctx.fn.id;
		else
			body.namespace_id = ctx.ns.id;
		$('gen-submit').disabled = true;
		showAlert(errEl, '');
		let created;
		try {
			created = await api('POST', ctx.cred.path, body);
		} catch (err) {
			if (!session.key)
				return;
			showAlert(errEl, err instanceof ApiError && err.status === 400 ?
				`The ${ctx.cred.noun} was not created: ` + err.message : describe(err));
			$('gen-submit').disabled = false;
			return;
		}
		const opener = openers.get('dlg-generate');
		openers.delete('dlg-generate');   // focus goes to the token dialog, not back to the button
		$('dlg-generate').close();
		genCtx = null;
		showToken(created, ctx, opener);
		onCreated(created);
	}

	// Quote a URL for a POSIX shell unless it is made only of characters that need none.
	function shellArg(s) {
		if (/^[A-Za-z0-9:/._~%+@,=-]+$/.test(s))
			return s;
		return "'" + s.replace(/'/g, "'\\''") + "'";
	}

	function showToken(created, ctx, opener) {
		const token = created && typeof created[ctx.cred.secret] === 'string' ? created[ctx.cred.secret] : '';
		let ep;
		if (ctx.kind === 'function')
			ep = endpointOf(ctx.fn);
		else
			ep = endpointOf((ctx.fns || []).find((f) => endpointOf(f)));
		const fnFor = ctx.kind === 'function' ? ctx.fn : (ctx.fns || [])[0];
		const guess = fnFor ? 'http://<fngate-address>' + (fnFor.path_prefix || '/') : '<function-url>';
		$('tok-value').value = token;
		$('tok-curl').value = `curl -H "X-Auth-Token: ${token}" ${ep ? shellArg(ep) : guess}`;
		$('tok-curl-hint').hidden = !!ep;
		$('tok-copied').textContent = '';
		credWords(ctx.cred);
		openDialog('dlg-token', opener, $('tok-copy'));
	}

	async function copyFrom(textarea) {
		const text = textarea.value;
		try {
			if (!navigator.clipboard || !window.isSecureContext)
				throw new Error('no async clipboard');
			await navigator.clipboard.writeText(text);
			return true;
		} catch (e) {
			textarea.focus();
			textarea.select();
			try {
				return document.execCommand('copy');
			} catch (e2) {
				return false;
			}
		}
	}

	async function onCopy(textarea, what, btn) {
		const ok = await copyFrom(textarea);
		$('tok-copied').textContent = ok ? `${what} copied to the clipboard.` : 'Copy failed: select the text and press Ctrl+C.';
		btn.focus();
	}

	// Delete token -----------------------------------------------------------------------------

	let delCtx = null;

	function openDelete(t, c, opener, onDeleted) {
		delCtx = { t, c, onDeleted };
		credWords(c);
		$('del-name').textContent = t.description ? `"${t.description}"` : t.id;
		showAlert($('del-error'), '');
		$('del-confirm').disabled = false;
		openDialog('dlg-delete', opener, $('del-cancel'));   // the safe choice has focus
	}

	async function onDelete() {
		if (!delCtx)
			return;
		const { t, c, onDeleted } = delCtx;
		$('del-confirm').disabled = true;
		try {
			await api('DELETE', c.path + '/' + encodeURIComponent(t.id));
		} catch (err) {
			if (!session.key)
				return;
			// A second DELETE says the token is already revoked: the list is what matters.
			if (!(err instanceof ApiError && (err.status === 409 || err.status === 410))) {
				showAlert($('del-error'), `The ${c.noun} was not deleted. ` + describe(err));
				$('del-confirm').disabled = false;
				return;
			}
		}
		delCtx = null;
		openers.set('dlg-delete', $(c.ids + '-title'));
		$(c.ids + '-title').setAttribute('tabindex', '-1');
		$('dlg-delete').close();
		onDeleted();
	}

	// Privacy ----------------------------------------------------------------------------------

	let privCtx = null;

	function confirmPrivacy(fn, want, opener, onDone, onCancel) {
		privCtx = { fn, want, onDone, onCancel, done: false };
		$('dlg-privacy-title').textContent = want === 'private' ? 'Make this function private?' : 'Make this function public?';
		$('dlg-privacy-text').textContent = want === 'private' ?
			`"${fn.name || fn.id}" will refuse every call without a valid token or API key in the X-Auth-Token header (403). ` +
			'Generate tokens for its callers on this tab.' :
			`Anyone who can reach "${fn.name || fn.id}" will be able to call it without a token. ` +
			'Existing tokens stay valid but are no longer needed.';
		$('priv-confirm').textContent = want === 'private' ? 'Make private' : 'Make public';
		showAlert($('priv-error'), '');
		$('priv-confirm').disabled = false;
		openDialog('dlg-privacy', opener, $('priv-cancel'));
	}

	async function onPrivacyConfirm() {
		if (!privCtx)
			return;
		const c = privCtx;
		$('priv-confirm').disabled = true;
		let updated;
		try {
			updated = await api('PATCH', '/v1/functions/' + encodeURIComponent(c.fn.id), { privacy: c.want });
		} catch (err) {
			if (!session.key)
				return;
			showAlert($('priv-error'), 'The privacy policy was not changed. ' + describe(err));
			$('priv-confirm').disabled = false;
			return;
		}
		c.done = true;
		$('dlg-privacy').close();
		c.onDone(updated || {});
	}

	// ---- wiring -----------------------------------------------------------------------------

	function init() {
		for (const id of dialogs)
			trapFocus($(id));
		$('signin-form').addEventListener('submit', onSignin);
		$('sign-out').addEventListener('click', () => signOut('You are signed out.'));
		$('generate-form').addEventListener('submit', onGenerate);
		$('gen-cancel').addEventListener('click', () => $('dlg-generate').close());
		$('gen-noexpiry').addEventListener('change', syncExpiry);
		$('tok-copy').addEventListener('click', () => onCopy($('tok-value'), document.querySelector('.cred-title').textContent,
			$('tok-copy')));
		$('tok-copy-curl').addEventListener('click', () => onCopy($('tok-curl'), 'Command', $('tok-copy-curl')));
		$('tok-close').addEventListener('click', () => {
			wipeToken();
			$('dlg-token').close();
		});
		$('dlg-token').addEventListener('close', wipeToken);   // the token leaves the page with the dialog
		$('del-cancel').addEventListener('click', () => $('dlg-delete').close());
		$('del-confirm').addEventListener('click', onDelete);
		$('dlg-delete').addEventListener('close', () => {
			delCtx = null;
		});
		$('priv-cancel').addEventListener('click', () => $('dlg-privacy').close());
		$('priv-confirm').addEventListener('click', onPrivacyConfirm);
		$('dlg-privacy').addEventListener('close', () => {
			if (privCtx && !privCtx.done)
				privCtx.onCancel();
			privCtx = null;
		});
		window.addEventListener('hashchange', render);

		let key = null;
		try {
			key = sessionStorage.getItem(KEY_STORE);
		} catch (e) {
			key = null;
		}
		if (!key) {
			showSignin('');
			return;
		}
		whoami(key).then((me) => {
			session.key = key;
			session.me = me;
			showApp();
			render();
		}, (err) => {
			if (err instanceof ApiError && err.status === 401)
				signOut('Your session has expired or the key is no longer accepted. Sign in again.');
			else
				showSignin(describe(err));
		});
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
}());
