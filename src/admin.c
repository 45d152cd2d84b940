/* admin.c - the admin API's handlers (JSON), routed from the admin listener (adminhttp.c) by two
 * tables: the listener's paths (admin_routes), then the API's routes under /v1 (api_routes); the
 * console's static files are console.c's. */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>             /* URI decoding and query parsing only */
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "adminhttp.h"
#include "audit.h"
#include "apikey.h"
#include "conf.h"
#include "console.h"
#include "fleet.h"
#include "log.h"
#include "metrics.h"
#include "mint.h"
#include "outcome.h"
#include "registry.h"
#include "signkeys.h"
#include "serve.h"
#include "revoke.h"
#include "state.h"
#include "util.h"

#define TOKEN_ID_CHARS_MAX 128
#define PAGE_SIZE_MAX   100
#define PAGE_SIZE_DEF   20

struct admin {
	struct event_base *base;
	struct adminhttp  *http;
	struct registry   *reg;
	struct signkeys   *keys;        /* the daemon's signing keys, minted with */
	struct event      *flush_ev;
	struct console    *console;
};

/* One API request in progress: what every handler needs. */
struct areq {
	struct admin                *a;
	struct adminhttp_req        *req;
	struct conf                 *c;     /* referenced snapshot */
	const struct conf_admin_key *key;   /* authenticated caller */
	char                        *segs[5];
	size_t                       nsegs;
	char                         request_id[37];    /* X-Request-Id of the answer */
	char                         source[INET6_ADDRSTRLEN + 8];   /* the client's address */
};

/* ---------------------------------------------------------------- authentication, permissions */

const struct conf_admin_key *admin_authenticate(const struct conf_admin *adm, const char *key,
						size_t len)
{
	const struct conf_admin_key *found = NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (adm == NULL || key == NULL || len == 0 || len > ADMIN_KEY_MAX)
		return NULL;
	if (EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
		return NULL;
	/* Every configured hash is compared, whatever matched before: the time taken does not
	 * depend on which key (if any) matched, nor on where a hash differs. */
	for (size_t i = 0; i < adm->nkeys; i++) {
		if (util_ct_equal(md, adm->keys[i].sha256, sizeof(md)) && found == NULL)
			found = &adm->keys[i];
	}
	util_wipe(md, sizeof(md));
	return found;
}

/* Whether key k sees namespace ns_id at all (its namespace restriction). */
static int admin_key_sees(const struct conf_admin_key *k, const char *ns_id)
{
	if (k == NULL)
		return 0;
	if (k->nnamespaces == 0)
		return 1;
	if (ns_id == NULL)
		return 0;
	for (size_t i = 0; i < k->nnamespaces; i++) {
		if (strcmp(k->namespaces[i], ns_id) == 0)
			return 1;
	}
	return 0;
}

int admin_authorize(const struct conf_admin_key *k, unsigned perm, const char *ns_id)
{
	if (k == NULL)
		return -1;
	if ((k->perms & perm) != perm)
		return -1;
	return admin_key_sees(k, ns_id) ? 0 : -1;
}

/* ---------------------------------------------------------------- replies */

static void reply_error(struct adminhttp_req *req, int code, const char *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void reply_error(struct adminhttp_req *req, int code, const char *err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code == 401)
		adminhttp_add_header(req, "WWW-Authenticate", "Bearer realm=\"fngate-admin\"");
	adminhttp_reply_json(req, code, json_pack("{s:s,s:s}", "error", err, "message", msg));
}

/* Fleet mode: the shared store could not take a write (`what`; the store's own message in
 * err goes to the log only), so nothing was changed on any node (`effect` says it to the
 * caller): 503 store_unavailable. */
static void reply_store_unavailable(struct areq *r, const char *what, const char *err,
				    const char *effect)
{
	log_msg(LOG_LVL_ERROR, "admin: %s refused: %s", what, err);
	adminhttp_add_header(r->req, "Retry-After", "1");
	reply_error(r->req, outcome_status(OUT_STORE_UNAVAILABLE), outcome_name(OUT_STORE_UNAVAILABLE),
		    "the shared store (PostgreSQL) cannot be reached: %s; nothing was changed, "
		    "retry once it is back", effect);
}

/* The client's address without its port ("ip:port" -> "ip"), for the audit trail: the port
 * changes with every connection and would defeat the aggregation of refusals. */
static void peer_address(struct adminhttp_req *req, char *out, size_t len)
{
	char *colon;

	snprintf(out, len, "%s", adminhttp_peer(req));
	colon = strrchr(out, ':');
	if (colon != NULL)
		*colon = '\0';
}

/* One audit event for a change the caller asked for: its outcome ("ok", or the error code it
 * was answered), never a secret. */
static void audit_change(struct areq *r, enum audit_action action, const char *target,
			 const char *ns, const char *fn, const char *outcome, const char *detail)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.action = action;
	ev.actor = r->key->name;
	ev.target_id = target;
	ev.namespace_id = ns;
	ev.function_id = fn;
	ev.source = r->source;
	ev.request_id = r->request_id;
	ev.outcome = outcome;
	ev.detail = detail;
	audit_record(&ev);
}

#define AUTH_LOG_WINDOW_US (10 * 1000000ull)

/* A refused admin authentication, for the daemon log: the first in each 10-second window is
 * logged with its client, the others counted and reported with the next line, so a flood of
 * wrong keys cannot fill the disk. The key itself is never logged. */
static void auth_refused(struct adminhttp_req *req)
{
	static uint64_t window_start;
	static unsigned long suppressed;
	uint64_t now = util_mono_us();

	if (window_start != 0 && now - window_start < AUTH_LOG_WINDOW_US) {
		suppressed++;
		return;
	}
	log_msg(LOG_LVL_WARN, "admin: refused an unknown admin key from %s (%lu more refused in "
		"the previous window)", adminhttp_peer(req), suppressed);
	window_start = now;
	suppressed = 0;
}

/* ---------------------------------------------------------------- JSON views */

static json_t *json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	util_rfc3339(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *json_strornull(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* A token's or an API key's record, as the API shows it: never a secret, nor a key's hash. */
static json_t *record_json(const struct token_record *t)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(t->id));
	json_object_set_new(o, "namespace_id", json_strornull(t->namespace_id));
	json_object_set_new(o, "function_id", json_strornull(t->function_id));
	json_object_set_new(o, "scope", json_string(t->imported ? "unknown" :
						    t->function_id ? "function" : "namespace"));
	json_object_set_new(o, "description", json_string(t->description ? t->description : ""));
	json_object_set_new(o, "created_at", json_time(t->created_at));
	json_object_set_new(o, "expires_at", json_time(t->expires_at));
	json_object_set_new(o, "expired", json_boolean(t->expires_at != 0 &&
						       t->expires_at <= util_now()));
	json_object_set_new(o, "status", json_string(t->status == TOKEN_REC_REVOKED ? "revoked" :
						     "ready"));
	json_object_set_new(o, "revoked_at", json_time(t->revoked_at));
	json_object_set_new(o, "last_used_at", json_time(registry_last_used(t)));
	if (t->api_key)
		return o;
	json_object_set_new(o, "kid", json_strornull(t->kid));
	json_object_set_new(o, "imported", json_boolean(t->imported));
	/* Where the revocation (or the registration) applies: an imported jti revoked without a
	 * namespace by an owner is refused in every namespace. */
	json_object_set_new(o, "revocation_scope", json_string(registry_rec_ns(t) != NULL ?
							       "namespace" : "all_namespaces"));
	return o;
}

static const char *privacy_name(int p)
{
	return p == PRIVACY_PUBLIC ? "public" : "private";
}

/* The listener an endpoint is derived from without a public_url: the first TLS one (a caller
 * with a token should use it), else the first. */
static const struct conf_listen *endpoint_listener(const struct conf *c)
{
	for (size_t i = 0; i < c->nlisten; i++)
		if (c->listen[i].tls != NULL)
			return &c->listen[i];
	return &c->listen[0];
}

int admin_function_endpoint(const struct conf *c, const struct conf_function *fn, char *buf,
			    size_t len)
{
	const struct conf_public_url *pu;
	const char *host = NULL, *path, *base = "";
	char ip[INET6_ADDRSTRLEN + 2];     /* "[" address "]" */
	char portstr[8] = "";
	unsigned port = 0;
	bool tls;
	int n;

	if (c == NULL || fn == NULL || buf == NULL || len == 0 || c->nlisten == 0)
		return -1;
	buf[0] = '\0';
	for (size_t i = 0; i < fn->nhosts && host == NULL; i++) {
		if (strchr(fn->hosts[i], '*') == NULL)
			host = fn->hosts[i];
	}
	/* A function reached only through "*.example.com" has no one URL to show. */
	if (host == NULL && fn->nhosts > 0)
		return -1;
	path = fn->path_prefix != NULL ? fn->path_prefix : "/";
	pu = fn->ns->public_url.url != NULL ? &fn->ns->public_url :
	     c->public_url.url != NULL ? &c->public_url : NULL;
	if (pu != NULL) {
		tls = pu->tls;
		port = pu->port;
		base = pu->path;
		if (host == NULL)
			host = pu->host;
	} else {
		const struct conf_listen *l = endpoint_listener(c);
		const struct sockaddr_storage *ss = &l->addr;

		tls = l->tls != NULL;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
			struct in_addr a = sin->sin_addr;

			/* A wildcard address is where fngate listens, not where a caller connects. */
			if (a.s_addr == htonl(INADDR_ANY))
				a.s_addr = htonl(INADDR_LOOPBACK);
			port = ntohs(sin->sin_port);
			if (inet_ntop(AF_INET, &a, ip, sizeof(ip)) == NULL)
				return -1;
		} else if (ss->ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
			struct in6_addr a = sin6->sin6_addr;

			if (IN6_IS_ADDR_UNSPECIFIED(&a))
				a = in6addr_loopback;
			port = ntohs(sin6->sin6_port);
			if (inet_ntop(AF_INET6, &a, ip + 1, sizeof(ip) - 2) == NULL)
				return -1;
			ip[0] = '[';
			strcat(ip, "]");
		} else {
			return -1;
		}
		if (host == NULL)
			host = ip;
	}
	if (port != 0 && port != (tls ? 443u : 80u))
		snprintf(portstr, sizeof(portstr), ":%u", port);
	n = snprintf(buf, len, "%s://%s%s%s%s", tls ? "https" : "http", host, portstr, base, path);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

static json_t *function_json(const struct conf *c, const struct conf_function *fn)
{
	json_t *o = json_object(), *hosts = json_array(), *ups = json_array();
	char ep[3072];      /* "https://" + a 253-byte host + ":65535" + a 2048-byte public path + a
			     * 512-byte prefix fit */

	for (size_t i = 0; i < fn->nhosts; i++)
		json_array_append_new(hosts, json_string(fn->hosts[i]));
	for (size_t i = 0; i < fn->nupstreams; i++)
		json_array_append_new(ups, json_string(fn->upstreams[i].url));
	json_object_set_new(o, "id", json_string(fn->id));
	json_object_set_new(o, "name", json_string(fn->name ? fn->name : fn->id));
	json_object_set_new(o, "namespace_id", json_string(fn->ns->id));
	json_object_set_new(o, "privacy", json_string(privacy_name(atomic_load(&fn->privacy))));
	json_object_set_new(o, "privacy_configured", json_string(privacy_name(
						fn->privacy_configured)));
	json_object_set_new(o, "hosts", hosts);
	json_object_set_new(o, "path_prefix", json_strornull(fn->path_prefix));
	json_object_set_new(o, "upstreams", ups);
	json_object_set_new(o, "endpoint", admin_function_endpoint(c, fn, ep, sizeof(ep)) == 0 ?
			    json_string(ep) : json_null());
	return o;
}

static json_t *namespace_json(const struct admin *a, const struct conf_namespace *ns)
{
	json_t *o = json_object(), *keys = json_array();
	EVP_PKEY *pk;
	enum key_alg alg;
	const char *kid = NULL;

	for (size_t i = 0; i < ns->nkeys; i++)
		json_array_append_new(keys, json_pack("{s:s,s:s}", "kid", ns->keys[i].kid, "alg",
						      keys_alg_name(ns->keys[i].alg)));
	if (!ns->issue_tokens || signkeys_find(a->keys, ns->id, &pk, &alg, &kid) != 0)
		kid = NULL;
	json_object_set_new(o, "id", json_string(ns->id));
	json_object_set_new(o, "name", json_string(ns->name ? ns->name : ns->id));
	json_object_set_new(o, "issue_tokens", json_boolean(ns->issue_tokens));
	json_object_set_new(o, "require_registered_tokens",
			    json_boolean(ns->require_registered_tokens));
	json_object_set_new(o, "issuer", json_strornull(ns->issuer));
	json_object_set_new(o, "keys", keys);
	json_object_set_new(o, "signing_kid", json_strornull(kid));
	json_object_set_new(o, "functions_count", json_integer((json_int_t)ns->nfunctions));
	return o;
}

/* ---------------------------------------------------------------- request helpers */

/* Parse the request body as a JSON object (reply sent and NULL on failure). */
static json_t *body_object(struct areq *r)
{
	size_t len = 0;
	const char *in = adminhttp_body(r->req, &len);
	json_error_t je;
	json_t *o;

	if (len > ADMIN_BODY_MAX) {
		reply_error(r->req, 413, "body_too_large", "the request body is over %u bytes",
			    ADMIN_BODY_MAX);
		return NULL;
	}
	if (len == 0) {
		reply_error(r->req, 400, "invalid_json", "a JSON object body is required");
		return NULL;
	}
	o = json_loadb(in, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		reply_error(r->req, 400, "invalid_json", "body: line %d column %d: %s", je.line,
			    je.column, je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		reply_error(r->req, 400, "invalid_json", "the body must be a JSON object");
		return NULL;
	}
	return o;
}

/* Refuse fields other than the allowed ones (a typo must not pass silently). 0 / -1 (replied). */
static int only_fields(struct areq *r, json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(allowed[i], k) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			char esc[96];

			log_json_escape(k, strlen(k), esc, sizeof(esc));
			reply_error(r->req, 400, "invalid_request", "unknown field \"%s\"", esc);
			return -1;
		}
	}
	return 0;
}

/* Optional string field: 0 (absent/null: *out NULL), 1 (set), -1 (wrong type: replied). */
static int opt_string(struct areq *r, json_t *o, const char *name, const char **out)
{
	json_t *v = json_object_get(o, name);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		reply_error(r->req, 400, "invalid_request", "%s must be a string", name);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

/* A token id or jti from a path segment or a body: 1..TOKEN_ID_CHARS_MAX bytes of
 * [A-Za-z0-9._:-]. Not a configuration id (conf_id_ok, for namespaces and functions): a jti
 * minted elsewhere may be a URN ("urn:uuid:..."), hence the ':'. */
static bool token_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TOKEN_ID_CHARS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.' || ch == ':'))
			return false;
	}
	return true;
}

static int forbid(struct areq *r, unsigned perm, const char *ns_id)
{
	const char *pname = perm == ADMIN_PERM_TOKENS_READ ? "tokens:read" :
			    perm == ADMIN_PERM_TOKENS_WRITE ? "tokens:write" :
			    perm == ADMIN_PERM_FUNCTIONS_WRITE ? "functions:write" : "access";

	if (admin_authorize(r->key, perm, ns_id) == 0)
		return 0;
	if ((r->key->perms & perm) != perm)
		reply_error(r->req, 403, "forbidden", "admin key \"%s\" lacks the %s permission",
			    r->key->name, pname);
	else if (ns_id == NULL)
		reply_error(r->req, 403, "forbidden", "admin key \"%s\" is restricted to some "
			    "namespaces: name one (namespace_id)", r->key->name);
	else
		reply_error(r->req, 403, "forbidden", "admin key \"%s\" may not act on namespace "
			    "\"%s\"", r->key->name, ns_id);
	return -1;
}

/* The permission alone, before any id is looked up: a 403 here says nothing about which ids
 * exist. An id the key may then not see is answered exactly like a missing one (404), so a
 * restricted key cannot tell another namespace's ids from unknown ones. */
static int lacks(struct areq *r, unsigned perm)
{
	if ((r->key->perms & perm) == perm)
		return 0;
	return forbid(r, perm, NULL);
}

/* ---------------------------------------------------------------- handlers: whoami */

/* The caller's own key: name, role, permissions, namespaces. The configuration keeps no role,
 * only what it grants: "owner" is every permission on every namespace, which is exactly what
 * "role": "owner" configures (and all a key with that grant can do). */
static void h_whoami(struct areq *r)
{
	static const struct { unsigned bit; const char *name; } perms[] = {
		{ADMIN_PERM_TOKENS_READ, "tokens:read"},
		{ADMIN_PERM_TOKENS_WRITE, "tokens:write"},
		{ADMIN_PERM_FUNCTIONS_WRITE, "functions:write"},
	};
	const struct conf_admin_key *k = r->key;
	json_t *o = json_object(), *p = json_array(), *ns;
	bool owner = (k->perms & ADMIN_PERM_ALL) == ADMIN_PERM_ALL && k->nnamespaces == 0;

	for (size_t i = 0; i < ARRAY_LEN(perms); i++) {
		if (k->perms & perms[i].bit)
			json_array_append_new(p, json_string(perms[i].name));
	}
	if (k->nnamespaces == 0) {
		ns = json_null();
	} else {
		ns = json_array();
		for (size_t i = 0; i < k->nnamespaces; i++)
			json_array_append_new(ns, json_string(k->namespaces[i]));
	}
	json_object_set_new(o, "name", json_string(k->name));
	json_object_set_new(o, "role", owner ? json_string("owner") : json_null());
	json_object_set_new(o, "permissions", p);
	json_object_set_new(o, "namespaces", ns);
	adminhttp_reply_json(r->req, 200, o);
}

/* ---------------------------------------------------------------- handlers: namespaces, functions */

static void h_namespaces(struct areq *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < r->c->nnamespaces; i++) {
		if (admin_key_sees(r->key, r->c->namespaces[i].id))
			json_array_append_new(arr, namespace_json(r->a, &r->c->namespaces[i]));
	}
	adminhttp_reply_json(r->req, 200, json_pack("{s:o,s:I}", "namespaces", arr, "total_count",
					  (json_int_t)json_array_size(arr)));
}

static const struct conf_namespace *ns_or_404(struct areq *r, const char *id)
{
	const struct conf_namespace *ns = conf_id_ok(id) ? conf_find_namespace(r->c, id) : NULL;

	if (ns == NULL || !admin_key_sees(r->key, ns->id)) {
		reply_error(r->req, 404, "not_found", "no namespace with this id");
		return NULL;
	}
	return ns;
}

static void h_namespace(struct areq *r)
{
	const struct conf_namespace *ns = ns_or_404(r, r->segs[2]);

	if (ns != NULL)
		adminhttp_reply_json(r->req, 200, namespace_json(r->a, ns));
}

static void h_namespace_functions(struct areq *r)
{
	const struct conf_namespace *ns = ns_or_404(r, r->segs[2]);
	json_t *arr;

	if (ns == NULL)
		return;
	arr = json_array();
	for (size_t i = 0; i < ns->nfunctions; i++)
		json_array_append_new(arr, function_json(r->c, &ns->functions[i]));
	adminhttp_reply_json(r->req, 200, json_pack("{s:o,s:I}", "functions", arr, "total_count",
					  (json_int_t)ns->nfunctions));
}

static void h_functions(struct areq *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < r->c->nfunctions; i++) {
		const struct conf_function *fn = r->c->functions[i];

		if (admin_key_sees(r->key, fn->ns->id))
			json_array_append_new(arr, function_json(r->c, fn));
	}
	adminhttp_reply_json(r->req, 200, json_pack("{s:o,s:I}", "functions", arr, "total_count",
					  (json_int_t)json_array_size(arr)));
}

static void h_function(struct areq *r, bool patch)
{
	static const char *const fields[] = {"privacy", NULL};
	struct conf_function *fn = conf_id_ok(r->segs[2]) ? conf_find_function(r->c, r->segs[2]) : NULL;
	const char *pv;
	char err[512];
	json_t *o;
	int p;

	if (patch && lacks(r, ADMIN_PERM_FUNCTIONS_WRITE) != 0)
		return;
	if (fn == NULL || !admin_key_sees(r->key, fn->ns->id)) {
		reply_error(r->req, 404, "not_found", "no function with this id");
		return;
	}
	if (!patch) {
		adminhttp_reply_json(r->req, 200, function_json(r->c, fn));
		return;
	}
	o = body_object(r);
	if (o == NULL)
		return;
	if (only_fields(r, o, fields) != 0 || opt_string(r, o, "privacy", &pv) < 0)
		goto cleanup;
	if (pv == NULL || (strcmp(pv, "private") != 0 && strcmp(pv, "public") != 0)) {
		reply_error(r->req, 400, "invalid_request",
			    "privacy must be \"private\" or \"public\"");
		goto cleanup;
	}
	p = strcmp(pv, "public") == 0 ? PRIVACY_PUBLIC : PRIVACY_PRIVATE;
	/* In fleet mode the store takes it first: every node applies it from there. */
	if (fleet_commit_privacy(fn->id, p, err, sizeof(err)) != 0) {
		audit_change(r, AUDIT_FUNCTION_PRIVACY, fn->id, fn->ns->id, fn->id,
			     outcome_name(OUT_STORE_UNAVAILABLE), pv);
		reply_store_unavailable(r, "privacy change", err, "the privacy is unchanged");
		goto cleanup;
	}
	/* Durable first, so that what the API confirms survives a restart. */
	if (state_set_privacy(r->c->state_dir, fn->id, p, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "admin: saving privacy of %s: %s", fn->id, err);
		audit_change(r, AUDIT_FUNCTION_PRIVACY, fn->id, fn->ns->id, fn->id, "internal", pv);
		reply_error(r->req, 500, "internal", "could not save the privacy state");
		goto cleanup;
	}
	atomic_store(&fn->privacy, p);
	audit_change(r, AUDIT_FUNCTION_PRIVACY, fn->id, fn->ns->id, fn->id, "ok", pv);
	log_msg(LOG_LVL_INFO, "admin: key %s (client %s) set function %s %s", r->key->name,
		adminhttp_peer(r->req), fn->id, pv);
	adminhttp_reply_json(r->req, 200, function_json(r->c, fn));
cleanup:
	json_decref(o);
}

/* DELETE /v1/functions/{id}/privacy: forget the privacy set through the API, so that the
 * configuration file's value applies again (now, and after restarts and reloads). */
static void h_function_privacy_reset(struct areq *r)
{
	struct conf_function *fn = conf_id_ok(r->segs[2]) ? conf_find_function(r->c, r->segs[2]) : NULL;
	char err[512];

	if (fn == NULL) {
		reply_error(r->req, 404, "not_found", "no function with this id");
		return;
	}
	if (forbid(r, ADMIN_PERM_FUNCTIONS_WRITE, fn->ns->id) != 0)
		return;
	/* The store first, then durable here, as for PATCH. */
	if (fleet_commit_privacy(fn->id, 0, err, sizeof(err)) != 0) {
		audit_change(r, AUDIT_FUNCTION_RESET_PRIVACY, fn->id, fn->ns->id, fn->id,
			     outcome_name(OUT_STORE_UNAVAILABLE), NULL);
		reply_store_unavailable(r, "privacy reset", err, "the privacy is unchanged");
		return;
	}
	if (state_reset_privacy(r->c->state_dir, fn->id, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "admin: resetting privacy of %s: %s", fn->id, err);
		audit_change(r, AUDIT_FUNCTION_RESET_PRIVACY, fn->id, fn->ns->id, fn->id, "internal",
			     NULL);
		reply_error(r->req, 500, "internal", "could not save the privacy state");
		return;
	}
	atomic_store(&fn->privacy, fn->privacy_configured);
	audit_change(r, AUDIT_FUNCTION_RESET_PRIVACY, fn->id, fn->ns->id, fn->id, "ok",
		     privacy_name(fn->privacy_configured));
	log_msg(LOG_LVL_INFO, "admin: key %s reset function %s to the configuration's privacy",
		r->key->name, fn->id);
	adminhttp_reply_json(r->req, 200, function_json(r->c, fn));
}

/* ---------------------------------------------------------------- handlers: tokens */

/* The format characters a terminal or a browser acts on rather than shows, in UTF-8 (jansson
 * has already checked the encoding): C1 controls U+0080..U+009F (C2 80..C2 9F), the bidirectional
 * marks, embeddings, overrides and isolates (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069)
 * and the line/paragraph separators U+2028/U+2029. Returns the sequence's length, 0 when none. */
static size_t desc_format_char(const unsigned char *p)
{
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	if (p[0] == 0xd8 && p[1] == 0x9c)
		return 2;
	if (p[0] == 0xe2 && p[1] == 0x80 &&
	    (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xa8 && p[2] <= 0xae)))
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
		return 3;
	return 0;
}

/* The error code a registry result is answered with ("ok" for REG_OK), for the audit trail. */
static const char *reg_outcome(enum registry_rc rc)
{
	switch (rc) {
	case REG_OK:
		return "ok";
	case REG_ALREADY:
		return "already_revoked";
	case REG_UNKNOWN:
		return "not_found";
	case REG_QUOTA:
		return "quota_exceeded";
	case REG_FULL:
		return "registry_full";
	default:
		return outcome_name(OUT_STORE_UNAVAILABLE);   /* REG_STORE, REG_ERROR: 503 */
	}
}

/* 429: namespace ns holds its quota of registry records (tokens, API keys and revocations). */
static void reply_quota(struct areq *r, const struct conf_namespace *ns)
{
	reply_error(r->req, 429, "quota_exceeded", "namespace \"%s\" holds %zu records (tokens, "
		    "API keys, revocations), its quota (max_tokens); tokens and keys free their "
		    "place once they expire, or raise max_tokens in the configuration", ns->id,
		    registry_ns_count(r->a->reg, ns->id));
}

/* 507: the registry holds REGISTRY_MAX records, every namespace together. */
static void reply_full(struct areq *r)
{
	reply_error(r->req, 507, "registry_full", "the token registry holds %d records, its "
		    "limit: revoking the tokens it holds still works", REGISTRY_MAX);
}

/* A description: at most REGISTRY_DESC_MAX bytes, no control characters (ASCII or C1), no
 * bidirectional controls, no line separators: it is shown raw in the CLI table and the console.
 * NULL when fine, else why not. */
static const char *desc_problem(const char *d)
{
	if (strlen(d) > REGISTRY_DESC_MAX)
		return "description is longer than 512 bytes";
	for (const unsigned char *p = (const unsigned char *)d; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "description contains a control character";
		if (desc_format_char(p) != 0)
			return "description contains a C1 control, bidirectional or line-separator character";
	}
	return NULL;
}

/* What a create body asks for, a token or an API key alike. */
struct cred_req {
	const struct conf_namespace *ns;
	const struct conf_function  *fn;       /* NULL: namespace-wide */
	const char                  *desc;     /* borrowed from the body */
	int64_t                      exp;      /* 0: no expiry */
};

/* Read a create body o for a new credential (`what`: "token" or "API key"): exactly one of
 * namespace_id / function_id, naming one the caller's key may act on, a description and
 * expires_at (RFC 3339 in the future, or null/absent). 0, or -1 (replied). */
static int cred_request(struct areq *r, json_t *o, const char *what, int64_t now,
			struct cred_req *cr)
{
	static const char *const fields[] = {"namespace_id", "function_id", "description",
					     "expires_at", NULL};
	const char *nsid, *fnid, *exps, *problem;

	memset(cr, 0, sizeof(*cr));
	if (only_fields(r, o, fields) != 0 || opt_string(r, o, "namespace_id", &nsid) < 0 ||
	    opt_string(r, o, "function_id", &fnid) < 0 ||
	    opt_string(r, o, "description", &cr->desc) < 0 ||
	    opt_string(r, o, "expires_at", &exps) < 0)
		return -1;
	if (nsid != NULL && fnid != NULL) {
		reply_error(r->req, 400, "invalid_request",
			    "give exactly one of namespace_id and function_id, not both");
		return -1;
	}
	if (nsid == NULL && fnid == NULL) {
		reply_error(r->req, 400, "invalid_request",
			    "give exactly one of namespace_id (a namespace %s) and function_id "
			    "(a function %s)", what, what);
		return -1;
	}
	if (lacks(r, ADMIN_PERM_TOKENS_WRITE) != 0)
		return -1;
	if (fnid != NULL) {
		cr->fn = conf_id_ok(fnid) ? conf_find_function(r->c, fnid) : NULL;
		if (cr->fn == NULL || !admin_key_sees(r->key, cr->fn->ns->id)) {
			reply_error(r->req, 400, "unknown_function", "function_id: no function "
				    "with this id is configured");
			return -1;
		}
		cr->ns = cr->fn->ns;
	} else {
		cr->ns = conf_id_ok(nsid) ? conf_find_namespace(r->c, nsid) : NULL;
		if (cr->ns == NULL || !admin_key_sees(r->key, cr->ns->id)) {
			reply_error(r->req, 400, "unknown_namespace", "namespace_id: no namespace "
				    "with this id is configured");
			return -1;
		}
	}
	if (cr->desc == NULL)
		cr->desc = "";
	if ((problem = desc_problem(cr->desc)) != NULL) {
		reply_error(r->req, 400, "invalid_request", "%s", problem);
		return -1;
	}
	if (exps != NULL) {
		if (util_parse_rfc3339(exps, &cr->exp) != 0) {
			reply_error(r->req, 400, "invalid_request", "expires_at is not an RFC 3339 "
				    "timestamp (e.g. 2030-01-31T12:00:00Z), nor null for no expiry");
			return -1;
		}
		if (cr->exp <= now) {
			reply_error(r->req, 400, "invalid_request", "expires_at is in the past");
			return -1;
		}
	}
	return 0;
}

/* registry_add refused a new credential (`what`) with rc: the reply. */
static void reply_add_failed(struct areq *r, enum registry_rc rc, const struct cred_req *cr,
			     const char *what, const char *err)
{
	char effect[64], action[64];

	snprintf(effect, sizeof(effect), "no %s was issued", what);
	snprintf(action, sizeof(action), "%s creation", what);
	switch (rc) {
	case REG_QUOTA:
		reply_quota(r, cr->ns);
		break;
	case REG_FULL:
		reply_full(r);
		break;
	case REG_STORE:
		reply_store_unavailable(r, action, err, effect);
		break;
	default:
		log_msg(LOG_LVL_ERROR, "admin: %s creation: %s", what, err);
		reply_error(r->req, 503, "store_unavailable", "the %s could not be stored; none "
			    "was issued: retry later", what);
		break;
	}
}

static void h_token_create(struct areq *r)
{
	const char *kid;
	struct cred_req cr;
	struct token_record rec;
	struct mint_params mp;
	enum registry_rc rc;
	char err[512];
	char *tok = NULL;
	int64_t now = util_now();
	EVP_PKEY *pk;
	enum key_alg alg;
	json_t *o, *out;

	o = body_object(r);
	if (o == NULL)
		return;
	if (cred_request(r, o, "token", now, &cr) != 0)
		goto cleanup;
	if (!cr.ns->issue_tokens) {
		reply_error(r->req, 400, "invalid_request", "namespace \"%s\" does not issue tokens "
			    "(issue_tokens is false): its tokens come from whoever holds its private "
			    "key; an API key (POST /v1/api-keys) needs no signing key", cr.ns->id);
		goto cleanup;
	}
	if (signkeys_find(r->a->keys, cr.ns->id, &pk, &alg, &kid) != 0) {
		reply_error(r->req, 500, "internal", "namespace \"%s\" has no signing key loaded",
			    cr.ns->id);
		goto cleanup;
	}
	memset(&rec, 0, sizeof(rec));
	if (util_uuid4(rec.id) != 0) {
		reply_error(r->req, 500, "internal", "no randomness for a token id");
		goto cleanup;
	}
	memset(&mp, 0, sizeof(mp));
	mp.key = pk;
	mp.alg = alg;
	mp.kid = kid;
	mp.ns_id = cr.fn ? NULL : cr.ns->id;
	mp.function_id = cr.fn ? cr.fn->id : NULL;
	mp.jti = rec.id;
	mp.iat = now;
	mp.exp = cr.exp;
	mp.iss = cr.ns->issuer;
	tok = mint_token_ex(&mp);
	if (tok == NULL) {
		reply_error(r->req, 500, "internal", "minting the token failed");
		goto cleanup;
	}
	rec.namespace_id = cr.ns->id;
	rec.function_id = cr.fn ? cr.fn->id : NULL;
	rec.description = (char *)(uintptr_t)cr.desc;
	rec.created_at = now;
	rec.expires_at = cr.exp;
	rec.kid = (char *)(uintptr_t)kid;
	rc = registry_add(r->a->reg, &rec, cr.ns->max_tokens, err, sizeof(err));
	audit_change(r, AUDIT_TOKEN_CREATE, rec.id, cr.ns->id, rec.function_id, reg_outcome(rc),
		     NULL);
	if (rc != REG_OK) {
		reply_add_failed(r, rc, &cr, "token", err);
		goto cleanup;
	}
	log_msg(LOG_LVL_INFO, "admin: key %s (client %s) created token %s for %s %s", r->key->name,
		adminhttp_peer(r->req), rec.id,
		cr.fn ? "function" : "namespace", cr.fn ? cr.fn->id : cr.ns->id);
	out = record_json(registry_get(r->a->reg, rec.id));
	json_object_set_new(out, "token", json_string(tok));
	adminhttp_reply_json(r->req, 201, out);
cleanup:
	util_free_secret(tok);
	json_decref(o);
}

/* POST /v1/api-keys: a new key; its secret is in this response only (the registry keeps its
 * SHA-256), and never in a log. */
static void h_api_key_create(struct areq *r)
{
	char secret[APIKEY_SECRET_LEN + 1] = "";
	struct cred_req cr;
	struct token_record rec;
	enum registry_rc rc;
	char err[512];
	int64_t now = util_now();
	json_t *o, *out;

	o = body_object(r);
	if (o == NULL)
		return;
	if (cred_request(r, o, "API key", now, &cr) != 0)
		goto cleanup;
	memset(&rec, 0, sizeof(rec));
	if (apikey_generate(rec.id, secret, rec.key_hash) != 0) {
		reply_error(r->req, 500, "internal", "no randomness for an API key");
		goto cleanup;
	}
	rec.api_key = true;
	rec.namespace_id = cr.ns->id;
	rec.function_id = cr.fn ? cr.fn->id : NULL;
	rec.description = (char *)(uintptr_t)cr.desc;
	rec.created_at = now;
	rec.expires_at = cr.exp;
	rc = registry_add(r->a->reg, &rec, cr.ns->max_tokens, err, sizeof(err));
	audit_change(r, AUDIT_API_KEY_CREATE, rec.id, cr.ns->id, rec.function_id, reg_outcome(rc),
		     NULL);
	if (rc != REG_OK) {
		reply_add_failed(r, rc, &cr, "API key", err);
		goto cleanup;
	}
	log_msg(LOG_LVL_INFO, "admin: key %s (client %s) created API key %s for %s %s",
		r->key->name, adminhttp_peer(r->req), rec.id,
		cr.fn ? "function" : "namespace", cr.fn ? cr.fn->id : cr.ns->id);
	out = record_json(registry_get_api_key(r->a->reg, rec.id));
	json_object_set_new(out, "secret", json_string(secret));
	adminhttp_reply_json(r->req, 201, out);
cleanup:
	util_wipe(secret, sizeof(secret));
	util_wipe(rec.key_hash, sizeof(rec.key_hash));
	json_decref(o);
}

/* Parse a positive integer query value in [1, max]. 0 / -1. */
static int parse_uint(const char *s, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* GET /v1/tokens and GET /v1/api-keys: the records of one kind, filtered and paged. */
static void credential_list(struct areq *r, bool api_keys)
{
	const char *q = adminhttp_query(r->req);
	struct registry_query rq;
	struct evkeyvalq kv;
	struct evkeyval *e;
	const struct token_record *page[PAGE_SIZE_MAX];
	size_t n, total = 0;
	json_t *arr;

	memset(&rq, 0, sizeof(rq));
	rq.api_keys = api_keys;
	rq.page = 1;
	rq.page_size = PAGE_SIZE_DEF;
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) != 0) {
		reply_error(r->req, 400, "invalid_request", "the query string is malformed");
		goto cleanup;
	}
	TAILQ_FOREACH(e, &kv, next) {
		if (strcmp(e->key, "namespace_id") == 0 && conf_id_ok(e->value)) {
			rq.namespace_id = e->value;
		} else if (strcmp(e->key, "function_id") == 0 && conf_id_ok(e->value)) {
			rq.function_id = e->value;
		} else if (strcmp(e->key, "order_by") == 0 &&
			   (strcmp(e->value, "created_at_asc") == 0 ||
			    strcmp(e->value, "created_at_desc") == 0)) {
			rq.desc = strcmp(e->value, "created_at_desc") == 0;
		} else if (strcmp(e->key, "page") == 0 && parse_uint(e->value, 1000000, &rq.page) == 0) {
			;
		} else if (strcmp(e->key, "page_size") == 0 &&
			   parse_uint(e->value, PAGE_SIZE_MAX, &rq.page_size) == 0) {
			;
		} else {
			char esc[96];

			log_json_escape(e->key, strlen(e->key), esc, sizeof(esc));
			if (strcmp(e->key, "order_by") == 0)
				reply_error(r->req, 400, "invalid_request", "order_by must be "
					    "created_at_asc or created_at_desc");
			else if (strcmp(e->key, "page") == 0)
				reply_error(r->req, 400, "invalid_request", "page must be an integer "
					    ">= 1");
			else if (strcmp(e->key, "page_size") == 0)
				reply_error(r->req, 400, "invalid_request", "page_size must be an "
					    "integer from 1 to %d", PAGE_SIZE_MAX);
			else if (strcmp(e->key, "namespace_id") == 0 || strcmp(e->key, "function_id") == 0)
				reply_error(r->req, 400, "invalid_request", "%s is not a valid id", esc);
			else
				reply_error(r->req, 400, "invalid_request", "unknown query parameter "
					    "\"%s\"", esc);
			goto cleanup;
		}
	}
	/* A restricted key sees its own namespaces only: a filter naming another namespace (or
	 * one of its functions) lists nothing, as a filter naming an unknown one does. */
	if (lacks(r, ADMIN_PERM_TOKENS_READ) != 0)
		goto cleanup;
	if (r->key->nnamespaces > 0) {
		rq.allowed = r->key->namespaces;
		rq.nallowed = r->key->nnamespaces;
	}
	n = registry_list(r->a->reg, &rq, page, PAGE_SIZE_MAX, &total);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, record_json(page[i]));
	adminhttp_reply_json(r->req, 200, json_pack("{s:o,s:I}", api_keys ? "api_keys" : "tokens",
					  arr, "total_count", (json_int_t)total));
cleanup:
	evhttp_clear_headers(&kv);
}

/* GET /v1/audit: the audit trail, newest first. tokens:read; a key restricted to namespaces sees
 * their events only (events of no namespace, such as reloads and refused authentications, are
 * for unrestricted keys). */
static void h_audit(struct areq *r)
{
	const char *q = adminhttp_query(r->req);
	const struct audit_event *page[PAGE_SIZE_MAX];
	struct audit_query aq;
	struct evkeyvalq kv;
	struct evkeyval *e;
	size_t n, total = 0;
	json_t *arr;

	memset(&aq, 0, sizeof(aq));
	aq.page = 1;
	aq.page_size = PAGE_SIZE_DEF;
	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) != 0) {
		reply_error(r->req, 400, "invalid_request", "the query string is malformed");
		goto cleanup;
	}
	if (lacks(r, ADMIN_PERM_TOKENS_READ) != 0)
		goto cleanup;
	TAILQ_FOREACH(e, &kv, next) {
		const char *bad = NULL;
		char esc[96];

		if (strcmp(e->key, "namespace_id") == 0) {
			aq.namespace_id = e->value;
			bad = conf_id_ok(e->value) ? NULL : "namespace_id is not a valid id";
		} else if (strcmp(e->key, "actor") == 0) {
			aq.actor = e->value;
			bad = conf_id_ok(e->value) ? NULL : "actor is not a valid admin key name";
		} else if (strcmp(e->key, "action") == 0) {
			bad = audit_action_parse(e->value, &aq.action) == 0 ? NULL :
			      "action must be one of token.create, token.delete, token.revoke, "
			      "api_key.create, api_key.delete, function.privacy, "
			      "function.reset_privacy, signing_key.generate, signing_key.rotate, "
			      "config.reload, admin.auth_failed";
		} else if (strcmp(e->key, "since") == 0 || strcmp(e->key, "until") == 0) {
			bool since = e->key[0] == 's';

			bad = audit_parse_time_ms(e->value, since ? &aq.since_ms : &aq.until_ms) == 0 ?
			      NULL : since ? "since is not an RFC 3339 timestamp (e.g. "
			      "2030-01-31T12:00:00Z)" : "until is not an RFC 3339 timestamp (e.g. "
			      "2030-01-31T12:00:00Z)";
		} else if (strcmp(e->key, "page") == 0) {
			bad = parse_uint(e->value, 1000000, &aq.page) == 0 ? NULL :
			      "page must be an integer from 1 to 1000000";
		} else if (strcmp(e->key, "page_size") == 0) {
			if (parse_uint(e->value, PAGE_SIZE_MAX, &aq.page_size) != 0) {
				reply_error(r->req, 400, "invalid_request", "page_size must be an "
					    "integer from 1 to %d", PAGE_SIZE_MAX);
				goto cleanup;
			}
		} else {
			log_json_escape(e->key, strlen(e->key), esc, sizeof(esc));
			reply_error(r->req, 400, "invalid_request", "unknown query parameter \"%s\"",
				    esc);
			goto cleanup;
		}
		if (bad != NULL) {
			reply_error(r->req, 400, "invalid_request", "%s", bad);
			goto cleanup;
		}
	}
	if (aq.since_ms != 0 && aq.until_ms != 0 && aq.since_ms > aq.until_ms) {
		reply_error(r->req, 400, "invalid_request", "since is after until");
		goto cleanup;
	}
	if (r->key->nnamespaces > 0) {
		aq.allowed = r->key->namespaces;
		aq.nallowed = r->key->nnamespaces;
	}
	n = audit_list(&aq, page, PAGE_SIZE_MAX, &total);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, audit_event_json(page[i]));
	adminhttp_reply_json(r->req, 200, json_pack("{s:o,s:I}", "events", arr, "total_count",
					  (json_int_t)total));
cleanup:
	evhttp_clear_headers(&kv);
}

static void h_token_list(struct areq *r)
{
	credential_list(r, false);
}

static void h_api_key_list(struct areq *r)
{
	credential_list(r, true);
}

/* The token (or with api_key, the API key) of id that the caller's key may see with perm;
 * NULL when none (replied: 403 for a missing permission, else 404). */
static const struct token_record *record_or_404(struct areq *r, const char *id, unsigned perm,
						bool api_key)
{
	bool ok = api_key ? apikey_id_ok(id) : token_id_ok(id);
	const struct token_record *t = NULL;

	if (lacks(r, perm) != 0)
		return NULL;
	/* Fleet mode: a record created through another node a moment ago may not be in this
	 * node's copy yet; read the store's log to its end before answering 404. */
	for (int pass = 0; ok && pass < 2 && t == NULL; pass++) {
		if (pass == 1 && fleet_catch_up() <= 0)
			break;
		t = api_key ? registry_get_api_key(r->a->reg, id) : registry_get(r->a->reg, id);
	}
	if (t == NULL || !admin_key_sees(r->key, t->namespace_id)) {
		reply_error(r->req, 404, "not_found", "no %s with this id", api_key ? "API key" :
			    "token");
		return NULL;
	}
	return t;
}

/* The answer to a revocation of id (an API key's deletion with api_key): rc from the registry,
 * t the record, ns the namespace of an imported revocation (for its quota); `action` is what the
 * audit trail calls it (a token's DELETE, a revocation by jti, an API key's DELETE). */
static void revoke_reply(struct areq *r, enum audit_action action, enum registry_rc rc,
			 const char *id, bool api_key, const struct token_record *t,
			 const struct conf_namespace *ns, const char *err)
{
	const char *what = api_key ? "API key" : "token";
	char when[32];

	audit_change(r, action, id, t != NULL ? t->namespace_id : ns != NULL ? ns->id : NULL,
		     t != NULL ? t->function_id : NULL, reg_outcome(rc), NULL);
	switch (rc) {
	case REG_OK:
		break;
	case REG_ALREADY:
		util_rfc3339(t->revoked_at, when, sizeof(when));
		reply_error(r->req, 409, "already_revoked", "%s %s was already %s at %s; "
			    "this is irreversible", what, id, api_key ? "deleted" : "revoked", when);
		return;
	case REG_UNKNOWN:
		reply_error(r->req, 404, "not_found", "no %s with this id", what);
		return;
	case REG_QUOTA:
		/* only an imported revocation in a namespace takes a new place there */
		if (ns != NULL)
			reply_quota(r, ns);
		else
			reply_full(r);
		return;
	case REG_FULL:
		reply_full(r);
		return;
	case REG_STORE:
		reply_store_unavailable(r, "revocation", err, api_key ? "the API key is not deleted" :
					"the token is not revoked");
		return;
	default:
		/* Refused from now on, on every worker; but not on disk, so not acknowledged: the
		 * caller retries until 200 (the registry writes it again). */
		log_msg(LOG_LVL_ERROR, "admin: revoking %s: %s", id, err);
		reply_error(r->req, 503, "store_unavailable", "the revocation applies in memory "
			    "but could not be made durable; repeat the request until it succeeds");
		return;
	}
	log_msg(LOG_LVL_INFO, "admin: key %s (client %s) %s %s %s", r->key->name,
		adminhttp_peer(r->req), api_key ? "deleted" : "revoked", what, id);
	adminhttp_reply_json(r->req, 200, record_json(t));
}

/* Revoke the token id and reply (registry_revoke says which record: import, import_ns);
 * `action` as for revoke_reply. */
static void do_revoke(struct areq *r, enum audit_action action, const char *id, bool import,
		      const char *import_ns)
{
	const struct conf_namespace *ns = import_ns ? conf_find_namespace(r->c, import_ns) : NULL;
	const struct token_record *t;
	char err[512];
	enum registry_rc rc = registry_revoke(r->a->reg, id, util_now(), import, import_ns,
					      ns ? ns->max_tokens : REGISTRY_MAX, &t, err,
					      sizeof(err));

	revoke_reply(r, action, rc, id, false, t, ns, err);
}

static void h_token_revoke_jti(struct areq *r)
{
	static const char *const fields[] = {"jti", "namespace_id", NULL};
	const char *jti, *nsid;
	const struct token_record *t;
	json_t *o = body_object(r);

	if (o == NULL)
		return;
	if (only_fields(r, o, fields) != 0 || opt_string(r, o, "jti", &jti) < 0 ||
	    opt_string(r, o, "namespace_id", &nsid) < 0)
		goto cleanup;
	if (jti == NULL || !token_id_ok(jti)) {
		reply_error(r->req, 400, "invalid_request", "jti is required: 1 to %d characters "
			    "of letters, digits, '-', '_', '.', ':'", TOKEN_ID_CHARS_MAX);
		goto cleanup;
	}
	if (lacks(r, ADMIN_PERM_TOKENS_WRITE) != 0)
		goto cleanup;
	if (nsid != NULL && (!conf_id_ok(nsid) || conf_find_namespace(r->c, nsid) == NULL ||
			     !admin_key_sees(r->key, nsid))) {
		reply_error(r->req, 400, "unknown_namespace", "namespace_id: no namespace with this "
			    "id is configured");
		goto cleanup;
	}
	/* A token fngate issued is revoked where it belongs; any other jti in the namespace named
	 * or, with none named, in every namespace, which only a key that may act on every
	 * namespace can do. A restricted key names one of its namespaces whatever the jti, and a
	 * token of another namespace with that id is not the one it revokes (registry_revoke):
	 * the answer never depends on what other namespaces hold. */
	if (nsid == NULL && forbid(r, ADMIN_PERM_TOKENS_WRITE, NULL) != 0)
		goto cleanup;
	t = registry_get_issued(r->a->reg, jti);
	if (t != NULL && nsid != NULL && strcmp(nsid, t->namespace_id) != 0)
		t = NULL;
	if (forbid(r, ADMIN_PERM_TOKENS_WRITE, t ? t->namespace_id : nsid) != 0)
		goto cleanup;
	do_revoke(r, AUDIT_TOKEN_REVOKE, jti, true, nsid);
cleanup:
	json_decref(o);
}

/* ---------------------------------------------------------------- routing */

/* GET and PATCH /v1/functions/{id}, and GET and DELETE /v1/tokens/{id} and /v1/api-keys/{id},
 * as handlers of one method each for the routing table below. */
static void h_function_get(struct areq *r)
{
	h_function(r, false);
}

static void h_function_patch(struct areq *r)
{
	h_function(r, true);
}

static void h_token_get(struct areq *r)
{
	const struct token_record *t = record_or_404(r, r->segs[2], ADMIN_PERM_TOKENS_READ, false);

	if (t != NULL)
		adminhttp_reply_json(r->req, 200, record_json(t));
}

static void h_token_delete(struct areq *r)
{
	const struct token_record *t = record_or_404(r, r->segs[2], ADMIN_PERM_TOKENS_WRITE, false);

	if (t != NULL)
		do_revoke(r, AUDIT_TOKEN_DELETE, t->id, false, NULL);
}

static void h_api_key_get(struct areq *r)
{
	const struct token_record *t = record_or_404(r, r->segs[2], ADMIN_PERM_TOKENS_READ, true);

	if (t != NULL)
		adminhttp_reply_json(r->req, 200, record_json(t));
}

/* DELETE /v1/api-keys/{id}: refused on every worker before the answer (registry_revoke_api_key);
 * the record stays, revoked, so that the id can never open anything again. */
static void h_api_key_delete(struct areq *r)
{
	const struct token_record *t = record_or_404(r, r->segs[2], ADMIN_PERM_TOKENS_WRITE, true);
	const char *id = r->segs[2];    /* t's id */
	enum registry_rc rc;
	char err[512];

	if (t == NULL)
		return;
	rc = registry_revoke_api_key(r->a->reg, id, util_now(), &t, err, sizeof(err));
	revoke_reply(r, AUDIT_API_KEY_DELETE, rc, id, true, t, NULL, err);
}

/* The methods an API route answers; GET answers HEAD too. Allow lists them in this order. */
enum api_method { API_GET, API_POST, API_PATCH, API_DELETE, API_NMETHODS };

static const char *const api_method_names[API_NMETHODS] = {"GET", "POST", "PATCH", "DELETE"};

#define API_ID NULL     /* a path segment that is an id: any value (the handler checks it) */

/* The API's routes under /v1, first match wins (so "tokens/revoke" before "tokens/{id}"): the
 * path's segments after "v1", and a handler per method. A path that matches with another
 * method is 405 with the route's Allow; one that matches nothing is 404. */
static const struct api_route {
	size_t      nsegs;
	const char *seg[3];
	void      (*h[API_NMETHODS])(struct areq *r);
} api_routes[] = {
	{1, {"whoami"},                          {[API_GET] = h_whoami}},
	{1, {"namespaces"},                      {[API_GET] = h_namespaces}},
	{2, {"namespaces", API_ID},              {[API_GET] = h_namespace}},
	{3, {"namespaces", API_ID, "functions"}, {[API_GET] = h_namespace_functions}},
	{1, {"functions"},                       {[API_GET] = h_functions}},
	{2, {"functions", API_ID},               {[API_GET] = h_function_get,
						  [API_PATCH] = h_function_patch}},
	{3, {"functions", API_ID, "privacy"},    {[API_DELETE] = h_function_privacy_reset}},
	{1, {"tokens"},                          {[API_GET] = h_token_list,
						  [API_POST] = h_token_create}},
	{2, {"tokens", "revoke"},                {[API_POST] = h_token_revoke_jti}},
	{2, {"tokens", API_ID},                  {[API_GET] = h_token_get,
						  [API_DELETE] = h_token_delete}},
	{1, {"audit"},                           {[API_GET] = h_audit}},
	{1, {"api-keys"},                        {[API_GET] = h_api_key_list,
						  [API_POST] = h_api_key_create}},
	{2, {"api-keys", API_ID},                {[API_GET] = h_api_key_get,
						  [API_DELETE] = h_api_key_delete}},
};

static const struct api_route *api_match(char *const *segs, size_t nsegs)
{
	for (size_t i = 0; i < ARRAY_LEN(api_routes); i++) {
		const struct api_route *rt = &api_routes[i];
		size_t k;

		if (rt->nsegs != nsegs)
			continue;
		for (k = 0; k < nsegs; k++)
			if (rt->seg[k] != API_ID && strcmp(rt->seg[k], segs[k]) != 0)
				break;
		if (k == nsegs)
			return rt;
	}
	return NULL;
}

/* Route an authenticated request under /v1 (r->segs[0] is "v1"). */
static void api(struct areq *r, enum adminhttp_method m)
{
	const struct api_route *rt = api_match(r->segs + 1, r->nsegs - 1);
	int k = m == ADMINHTTP_GET || m == ADMINHTTP_HEAD ? API_GET : m == ADMINHTTP_POST ? API_POST :
		m == ADMINHTTP_PATCH ? API_PATCH : m == ADMINHTTP_DELETE ? API_DELETE : -1;
	char allow[32];
	size_t at = 0;

	if (rt == NULL) {
		reply_error(r->req, 404, "not_found", "no such API endpoint");
		return;
	}
	if (k >= 0 && rt->h[k] != NULL) {
		rt->h[k](r);
		return;
	}
	for (int i = 0; i < API_NMETHODS; i++) {
		if (rt->h[i] != NULL)
			at += (size_t)snprintf(allow + at, sizeof(allow) - at, "%s%s", at ? ", " : "",
					       api_method_names[i]);
	}
	adminhttp_add_header(r->req, "Allow", allow);
	reply_error(r->req, 405, "method_not_allowed", "this endpoint accepts %s", allow);
}

/* The presented admin key: "Authorization: Bearer <key>" or "X-Auth-Token: <key>". */
static const char *presented_key(struct adminhttp_req *req)
{
	const char *v = adminhttp_header(req, "Authorization");

	if (v != NULL) {
		if (strncasecmp(v, "Bearer ", 7) != 0)
			return NULL;
		v += 7;
		while (*v == ' ')
			v++;
		return v;
	}
	return adminhttp_header(req, "X-Auth-Token");
}

/* Split "/v1/a/b" into decoded segments {"v1","a","b"}. 0, or -1 when malformed. */
static int split_path(const char *path, struct areq *r)
{
	const char *p = path;

	while (*p == '/') {
		const char *e;
		size_t dl = 0;
		char *raw, *dec;

		p++;
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		if (e == p) {
			if (*e == '\0')
				break;      /* one trailing slash is tolerated */
			return -1;
		}
		if (r->nsegs == ARRAY_LEN(r->segs))
			return -1;
		raw = util_strndup(p, (size_t)(e - p));
		if (raw == NULL)
			return -1;
		dec = evhttp_uridecode(raw, 0, &dl);
		free(raw);
		if (dec == NULL)
			return -1;
		if (dl != strlen(dec)) {
			free(dec);
			return -1;
		}
		r->segs[r->nsegs++] = dec;
		p = e;
	}
	return 0;
}

/* The admin key req carries, authenticated; NULL after replying 401 when it carries none or an
 * unknown one. */
static const struct conf_admin_key *require_key(const struct conf *c, struct adminhttp_req *req,
					       const char *request_id)
{
	const char *key = presented_key(req);
	const struct conf_admin_key *k;

	if (key == NULL || *key == '\0') {
		reply_error(req, 401, "unauthorized", "an admin key is required: "
			    "Authorization: Bearer <key>");
		return NULL;
	}
	k = admin_authenticate(&c->admin, key, strlen(key));
	if (k == NULL) {
		char source[INET6_ADDRSTRLEN + 8];

		peer_address(req, source, sizeof(source));
		auth_refused(req);
		audit_auth_failed(source, NULL, request_id);
		reply_error(req, 401, "unauthorized", "unknown admin key");
	}
	return k;
}

/* ---------------------------------------------------------------- metrics */

/* GET /metrics: the Prometheus text format. Without a key unless admin.metrics_auth (scrapers
 * often carry no bearer); the series name namespaces, functions and upstream addresses
 * (docs/security.md). */
static void h_metrics(struct admin *a, struct adminhttp_req *req, struct conf *c)
{
	struct evbuffer *b = NULL;
	char *text = NULL;
	size_t len = 0;

	if (c->admin.metrics_auth && require_key(c, req, NULL) == NULL)
		return;
	text = metrics_render(a->reg, &len);
	b = evbuffer_new();
	if (text == NULL || b == NULL || evbuffer_add(b, text, len) != 0) {
		reply_error(req, 500, "internal", "out of memory");
		goto cleanup;
	}
	adminhttp_add_header(req, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	adminhttp_add_header(req, "Cache-Control", "no-store");
	adminhttp_reply(req, 200, b);
cleanup:
	if (b != NULL)
		evbuffer_free(b);
	free(text);
}

static void h_healthz(struct admin *a, struct adminhttp_req *req, struct conf *c)
{
	bool draining = serve_draining();

	(void)a;
	(void)c;
	/* 503 while draining (SIGTERM): a load balancer stops sending new requests. */
	adminhttp_reply_json(req, draining ? 503 : 200, json_pack("{s:s,s:s}", "status",
		   draining ? "draining" : "ok", "version", FNGATE_VERSION));
}

/* /v1/...: a key is required; the routes of api(). */
static void h_api(struct admin *a, struct adminhttp_req *req, struct conf *c)
{
	struct areq r;

	memset(&r, 0, sizeof(r));
	r.a = a;
	r.req = req;
	r.c = c;
	/* Every API answer names its request, as the data plane's do: the audit trail's events
	 * carry the id, so a caller can find the event of its own change. */
	if (util_uuid4(r.request_id) == 0)
		adminhttp_add_header(req, "X-Request-Id", r.request_id);
	peer_address(req, r.source, sizeof(r.source));
	if (split_path(adminhttp_path(req), &r) != 0 || r.nsegs < 1) {
		reply_error(req, 404, "not_found", "no such API endpoint");
		goto cleanup;
	}
	r.key = require_key(c, req, r.request_id[0] != '\0' ? r.request_id : NULL);
	if (r.key != NULL)
		api(&r, adminhttp_method(req));
cleanup:
	for (size_t i = 0; i < r.nsegs; i++)
		free(r.segs[i]);
}

static void h_console(struct admin *a, struct adminhttp_req *req, struct conf *c)
{
	(void)c;
	console_serve(a->console, req);
}

/* ---------------------------------------------------------------- dispatch */

/* The admin listener's routes, first match wins: exact paths, then prefixes. */
static const struct admin_route {
	const char *path;
	bool        prefix;     /* path is "/v1": also "/v1/..." */
	bool        read_only;  /* GET and HEAD only (405 otherwise) */
	void      (*handler)(struct admin *a, struct adminhttp_req *req, struct conf *c);
} admin_routes[] = {
	{"/healthz", false, true,  h_healthz},
	{"/metrics", false, true,  h_metrics},
	{"/v1",      true,  false, h_api},
	{"/",        true,  true,  h_console},
};

static void dispatch(struct adminhttp_req *req, void *arg)
{
	struct admin *a = arg;
	const char *path = adminhttp_path(req);
	enum adminhttp_method m = adminhttp_method(req);
	const struct admin_route *rt = &admin_routes[ARRAY_LEN(admin_routes) - 1];
	struct conf *c;

	/* the last route ("/", the console) matches every path adminhttp lets through */
	for (size_t i = 0; i + 1 < ARRAY_LEN(admin_routes); i++) {
		size_t n = strlen(admin_routes[i].path);

		if (strcmp(path, admin_routes[i].path) == 0 ||
		    (admin_routes[i].prefix && strncmp(path, admin_routes[i].path, n) == 0 &&
		     path[n] == '/')) {
			rt = &admin_routes[i];
			break;
		}
	}
	if (rt->read_only && m != ADMINHTTP_GET && m != ADMINHTTP_HEAD) {
		adminhttp_add_header(req, "Allow", "GET, HEAD");
		reply_error(req, 405, "method_not_allowed", "this path accepts GET and HEAD");
		return;
	}
	c = conf_acquire();
	if (c == NULL) {
		reply_error(req, 503, "unavailable", "no configuration loaded yet");
		return;
	}
	rt->handler(a, req, c);
	conf_unref(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin *a = arg;

	(void)fd;
	(void)what;
	if (registry_flush(a->reg) != 0)
		log_msg(LOG_LVL_WARN, "admin: registry flush failed; retried in %d ms",
			ADMIN_FLUSH_MS);
	audit_tick();
}

struct admin *admin_start(struct event_base *base, struct registry *reg, struct signkeys *keys,
			  char *err, size_t errlen)
{
	struct conf *c = conf_acquire();
	struct admin *a = NULL;
	struct timeval tv = {ADMIN_FLUSH_MS / 1000, (ADMIN_FLUSH_MS % 1000) * 1000};
	evutil_socket_t fd = -1;
	int one = 1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL || c->admin.listen == NULL)
		goto fail;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	a->base = base;
	a->reg = reg;
	a->keys = keys;
	fd = socket(c->admin.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&c->admin.addr, c->admin.addrlen) == -1 ||
	    listen(fd, 64) == -1) {
		snprintf(err, errlen, "admin listener %s: %s", c->admin.listen, strerror(errno));
		goto fail;
	}
	a->http = adminhttp_start(base, fd, c->admin.max_connections, 0, true, true, dispatch,
				  a);
	fd = -1;    /* adminhttp owns it, also on failure */
	if (a->http == NULL) {
		snprintf(err, errlen, "admin listener %s: out of memory", c->admin.listen);
		goto fail;
	}
	a->flush_ev = event_new(base, -1, EV_PERSIST, flush_cb, a);
	if (a->flush_ev == NULL || event_add(a->flush_ev, &tv) != 0) {
		snprintf(err, errlen, "admin: cannot schedule the registry flush");
		goto fail;
	}
	a->console = console_open();
	log_msg(LOG_LVL_INFO, "admin: listening on %s (console: %s, at most %u connections)",
		c->admin.listen, console_root(a->console), c->admin.max_connections);
	conf_unref(c);
	return a;
fail:
	if (fd != -1)
		close(fd);
	if (c != NULL)
		conf_unref(c);
	admin_stop(a);
	return NULL;
}

void admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->flush_ev != NULL) {
		event_free(a->flush_ev);
		a->flush_ev = NULL;
		if (a->reg != NULL)
			registry_flush(a->reg);
	}
	adminhttp_stop(a->http);
	console_close(a->console);
	free(a);
}
