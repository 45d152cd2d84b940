/* fleet.c - fleet mode: the registry's writes committed to the shared store first, its snapshot
 * loaded at start, and its change log followed on the main loop (fleet.h). */
#include "fleet.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "audit.h"
#include "b64url.h"
#include "conf.h"
#include "health.h"
#include "log.h"
#include "registry.h"
#include "revoke.h"
#include "signkeys.h"
#include "state.h"
#include "store.h"
#include "store_seal.h"
#include "util.h"

#define FLEET_TICK_MS      200      /* staleness is judged this often */
#define FLEET_STALE_LOG_US (10 * 1000000ull)
#define FLEET_KID_LEN      32       /* a key id (signkeys_kid) and its NUL */
/* A namespace this many records or more below its quota (as this node counts them) is not
 * counted again by the store: the count scans the namespace's records under the lock every
 * write takes, and the creations this node has not seen yet, a watch lag's worth, are far fewer. */
#define FLEET_QUOTA_SLACK  1000

const double fleet_lag_bounds_s[FLEET_LAG_BUCKETS] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5
};

/* A generated signing key known to be the fleet's: the namespace's key in the store. */
struct fleet_key {
	char *ns;
	char  kid[FLEET_KID_LEN];
};

struct fleet {
	struct store    *store;
	struct registry *reg;
	char            *state_dir;     /* privacy overrides' local copy (state.h) */
	char            *key_file;      /* the fleet's sealing key (store_seal.h) */
	struct fleet_key *keys;         /* settled generated keys (fleet_settle_key) */
	size_t           nkeys;
	bool             migrated;      /* the schema is known current */
	struct store_mark start;        /* where the watch starts reading */
	bool             connected;     /* the watch's connection is up */
	bool             current;       /* ... and has caught up since it connected */
	uint64_t         heard_us;      /* util_mono_us() the store was last heard from; 0: never */
	struct event    *tick;
	struct event    *reload;        /* the daemon's SIGHUP event (fleet_start) */
	uint64_t         stale_logged_us;
	uint64_t         stale_logged_n;
	uint64_t         applied;
	uint64_t         resets;        /* snapshots loaded again (fleet_reset) */
	uint64_t         lag_le[FLEET_LAG_BUCKETS];
	uint64_t         lag_count;
	double           lag_sum_s;
};

/* The running fleet (fleet_start .. fleet_close), for fleet_status. Main thread only. */
static struct fleet *fleet_running;

static void fleet_key_rotated(struct fleet *f, const char *ns, const char *kid, const char *body);

void fleet_record_item(const struct token_record *t, const char *json, struct store_item *it)
{
	const char *ns = registry_rec_ns(t);

	it->kind = t->imported ? STORE_KIND_REVOCATION : t->api_key ? STORE_KIND_API_KEY :
		   STORE_KIND_TOKEN;
	it->namespace_id = t->imported && ns != NULL ? ns : "";
	it->key = t->id;
	it->body = json;
}

/* The schema is made current once per process, at the first moment the store answers. */
static int fleet_migrate(struct fleet *f, char *err, size_t errlen)
{
	if (f->migrated)
		return 0;
	if (store_migrate(f->store, err, errlen) != 0)
		return -1;
	f->migrated = true;
	return 0;
}

/* One write: items[0..n), one store_apply (one transaction), under `quota` when not NULL.
 * 0, 1 (the quota is full: nothing written), or -1 with err. */
static int fleet_commit_item(struct fleet *f, const struct store_item *it, size_t n,
			     const struct store_quota *quota, int64_t *seq, char *err,
			     size_t errlen)
{
	if (fleet_migrate(f, err, errlen) != 0)
		return -1;
	return store_apply(f->store, it, n, quota, seq, err, errlen);
}

/* registry_used_fn: the last uses this node saw since its previous flush, in one write (one
 * per ADMIN_FLUSH_MS at most, never one per request). Best effort: a batch the store cannot
 * take is not retried (the uses stay in this node's journal; the next use is shared), and none
 * is tried while the watch is disconnected: an unreachable host would hold the main loop for
 * the connect timeout at every flush. */
static void fleet_used(void *arg, const struct token_record *const *recs, size_t n)
{
	struct fleet *f = arg;
	struct store_item *items = NULL;
	char (*bodies)[40] = NULL;
	char err[512];

	if (!f->connected)
		return;
	items = calloc(n, sizeof(*items));
	bodies = calloc(n, sizeof(*bodies));
	if (items == NULL || bodies == NULL) {
		log_msg(LOG_LVL_WARN, "fleet: last uses not shared: out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "{\"used\":%lld}",
			 (long long)recs[i]->last_used_at);
		items[i] = (struct store_item){STORE_KIND_LAST_USED, "", recs[i]->id, bodies[i]};
	}
	if (fleet_commit_item(f, items, n, NULL, NULL, err, sizeof(err)) != 0)
		log_msg(LOG_LVL_WARN, "fleet: %zu last uses not shared: %s", n, err);
cleanup:
	free(items);
	free(bodies);
}

/* A record item of a snapshot loaded again (fleet_reset): what the store holds of it. */
struct fleet_seen {
	enum store_kind kind;
	const char     *ns;
	const char     *key;
	char           *mem;        /* owns ns and key (NULL in a search key) */
	bool            revoked;
};

/* A snapshot being loaded: the state at `at`; the privacy items are gathered so that they
 * replace the local copy whole (an override forgotten meanwhile is absent from it). With
 * `seen`, the record items are listed too (fleet_reset compares the registry with them). */
struct fleet_snap {
	struct fleet     *f;
	struct store_mark at;
	char            **ids;
	enum privacy     *ps;
	size_t            n, cap;
	bool              seen;
	struct fleet_seen *items;
	size_t            nitems, capitems;
};

/* The privacy a privacy item's body says ({"privacy": "private"|"public"}); 0 when the item
 * is deleted (the override forgotten) and -1 when the body is not one. */
static int fleet_privacy(const char *body)
{
	json_t *o;
	const char *v;
	int p = -1;

	if (body == NULL)
		return 0;
	o = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	v = json_string_value(json_object_get(o, "privacy"));
	if (v != NULL && strcmp(v, "private") == 0)
		p = PRIVACY_PRIVATE;
	else if (v != NULL && strcmp(v, "public") == 0)
		p = PRIVACY_PUBLIC;
	json_decref(o);
	return p;
}

/* A privacy change of the log: the local copy first (a reload or a restart applies it), then
 * the running configuration, as the admin API does on the node that took the change. */
static int fleet_apply_privacy(struct fleet *f, const char *id, int p)
{
	struct conf *c;
	struct conf_function *fn;
	char err[512];

	if ((p == 0 ? state_reset_privacy(f->state_dir, id, err, sizeof(err)) :
		      state_set_privacy(f->state_dir, id, p, err, sizeof(err))) != 0) {
		log_msg(LOG_LVL_ERROR, "fleet: privacy of %s: %s; read again later", id, err);
		return -1;
	}
	c = conf_acquire();
	fn = c != NULL ? conf_find_function(c, id) : NULL;
	if (fn != NULL)
		atomic_store(&fn->privacy, p != 0 ? p : (int)fn->privacy_configured);
	conf_unref(c);
	return 0;
}

/* Gather a privacy item of a snapshot. 0 / -1 (memory). */
static int fleet_snap_privacy(struct fleet_snap *s, const char *id, int p)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		char **ni = realloc(s->ids, ncap * sizeof(*ni));
		enum privacy *np;

		if (ni == NULL)
			return -1;
		s->ids = ni;
		np = realloc(s->ps, ncap * sizeof(*np));
		if (np == NULL)
			return -1;
		s->ps = np;
		s->cap = ncap;
	}
	if ((s->ids[s->n] = strdup(id)) == NULL)
		return -1;
	s->ps[s->n++] = (enum privacy)p;
	return 0;
}

/* List a record item of a snapshot loaded again. 0 / -1 (memory). */
static int fleet_snap_seen(struct fleet_snap *s, const struct store_item *it)
{
	json_t *o = json_loads(it->body, 0, NULL);
	const char *st = json_string_value(json_object_get(o, "status"));
	struct fleet_seen *e;

	if (s->nitems == s->capitems) {
		size_t ncap = s->capitems ? s->capitems * 2 : 64;
		struct fleet_seen *ni = realloc(s->items, ncap * sizeof(*ni));

		if (ni == NULL) {
			json_decref(o);
			return -1;
		}
		s->items = ni;
		s->capitems = ncap;
	}
	e = &s->items[s->nitems];
	e->kind = it->kind;
	e->revoked = st != NULL && strcmp(st, "revoked") == 0;
	json_decref(o);
	{
		size_t nl = strlen(it->namespace_id) + 1, kl = strlen(it->key) + 1;

		if ((e->mem = malloc(nl + kl)) == NULL)
			return -1;
		memcpy(e->mem, it->namespace_id, nl);
		memcpy(e->mem + nl, it->key, kl);
		e->ns = e->mem;
		e->key = e->mem + nl;
	}
	s->nitems++;
	return 0;
}

static int fleet_seen_cmp(const void *a, const void *b)
{
	const struct fleet_seen *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((c = strcmp(x->ns, y->ns)) != 0)
		return c;
	return strcmp(x->key, y->key);
}

static void fleet_snap_free(struct fleet_snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ids[i]);
	free(s->ids);
	free(s->ps);
	for (size_t i = 0; i < s->nitems; i++)
		free(s->items[i].mem);
	free(s->items);
}

/* Apply one item of the store (a change of the log at position seq, or an item of snapshot
 * `snap`). Returns 0 to go on, -1 to have it read again (resources, local I/O). */
static int fleet_apply(struct fleet *f, const struct store_item *it, int64_t seq,
		       struct fleet_snap *snap)
{
	char err[256];
	int rc;

	if (it->kind == STORE_KIND_PRIVACY) {
		int p = fleet_privacy(it->body);

		if (p < 0) {
			log_msg(LOG_LVL_ERROR, "fleet: change %lld: privacy of %s is not "
				"{\"privacy\": \"private\"|\"public\"}; skipped", (long long)seq, it->key);
			return 0;
		}
		return snap != NULL ? fleet_snap_privacy(snap, it->key, p) :
				      fleet_apply_privacy(f, it->key, p);
	}
	if (it->kind == STORE_KIND_LAST_USED) {
		json_t *o = it->body != NULL ? json_loads(it->body, 0, NULL) : NULL;
		json_t *u = json_object_get(o, "used");

		if (json_is_integer(u))
			(void)registry_apply_used(f->reg, it->key, (int64_t)json_integer_value(u),
						  snap != NULL ? snap->at.seq : seq);
		json_decref(o);
		return 0;
	}
	if (it->kind == STORE_KIND_SIGNING_KEY) {
		/* Settled at start (fleet_share_keys); a change of the log, or the item of a snapshot
		 * loaded again (fleet_reset), is the fleet's key now: a rotation, or the key of a
		 * fleet this node met after starting without the store. */
		if (it->body != NULL && (snap == NULL || snap->seen))
			fleet_key_rotated(f, it->namespace_id, it->key, it->body);
		return 0;
	}
	if (it->kind == STORE_KIND_AUDIT) {
		/* Another node's event (this node's own, and those applied already, are known) */
		if (it->body != NULL && audit_apply_json(it->body, err, sizeof(err)) < 0)
			log_msg(LOG_LVL_ERROR, "fleet: change %lld: audit event %s: %s; skipped",
				(long long)seq, it->key, err);
		return 0;
	}
	if (it->kind != STORE_KIND_TOKEN && it->kind != STORE_KIND_REVOCATION &&
	    it->kind != STORE_KIND_API_KEY)
		return 0;
	if (it->body == NULL)
		return 0;   /* records are never deleted: a deletion cannot take a revocation back */
	if (snap != NULL && snap->seen && fleet_snap_seen(snap, it) != 0)
		return -1;
	rc = registry_apply_json(f->reg, it->body, snap != NULL ? snap->at.seq : seq, err,
				 sizeof(err));
	if (rc == -2) {
		log_msg(LOG_LVL_ERROR, "fleet: change %lld: %s; read again later", (long long)seq, err);
		return -1;
	}
	if (rc < 0)
		log_msg(LOG_LVL_ERROR, "fleet: change %lld (%s %s): %s; skipped", (long long)seq,
			it->namespace_id, it->key, err);
	return 0;
}

static int fleet_on_change(const struct store_change *ch, void *arg)
{
	struct fleet *f = arg;
	struct timespec ts;
	double lag;

	if (fleet_apply(f, &ch->item, ch->seq, NULL) != 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	lag = ((double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3 - (double)ch->committed_us) / 1e6;
	lag = lag < 0 ? 0 : lag;    /* clocks of two machines */
	f->applied++;
	f->lag_count++;
	f->lag_sum_s += lag;
	for (int i = 0; i < FLEET_LAG_BUCKETS; i++)
		if (lag <= fleet_lag_bounds_s[i])
			f->lag_le[i]++;
	return 0;
}

static int fleet_on_snapshot_item(const struct store_change *ch, void *arg)
{
	struct fleet_snap *s = arg;

	return fleet_apply(s->f, &ch->item, 0, s);
}

static void fleet_on_status(int connected, int caught_up, int64_t position, void *arg)
{
	struct fleet *f = arg;
	char err[512];

	/* A node that started while the store was down has not made the schema current yet: do it
	 * now that the server answers, before the watch's first read of the log needs it. */
	if (connected && !f->migrated && fleet_migrate(f, err, sizeof(err)) != 0)
		log_msg(LOG_LVL_WARN, "fleet: %s", err);
	if (connected && !f->connected)
		log_msg(LOG_LVL_INFO, "fleet: following the store from change %lld",
			(long long)position);
	else if (!connected && f->connected)
		log_msg(LOG_LVL_WARN, "fleet: lost the store at change %lld; serving the last known "
			"state", (long long)position);
	f->connected = connected != 0;
	/* Heard from only once caught up: before that, this node's state may still be old. */
	f->current = f->connected && (caught_up || f->current);
	if (f->current)
		f->heard_us = util_mono_us();
	/* What was applied reaches the local snapshot once a catch-up is complete (or cut). */
	if (caught_up || !connected)
		(void)registry_sync(f->reg);
}

/* Every FLEET_TICK_MS: is the revocation state stale (max_staleness_s, read from the current
 * configuration so that a reload changes it), and tell the gate. A node that started without
 * reaching the store has never heard from it: stale at once when there is a cap. */
static void fleet_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fleet *f = arg;
	struct conf *c = conf_acquire();
	uint64_t now = util_mono_us(), cap_us;
	bool stale, policy_serve;

	(void)fd;
	(void)what;
	if (c == NULL)
		return;
	cap_us = (uint64_t)c->store.max_staleness_s * 1000000u;
	policy_serve = c->store.stale_policy == CONF_STALE_SERVE;
	conf_unref(c);
	if (f->current)
		f->heard_us = now;
	stale = cap_us > 0 && !f->current && (f->heard_us == 0 || now - f->heard_us > cap_us);
	if (stale != revoke_stale()) {
		if (stale)
			log_msg(LOG_LVL_ERROR, "fleet: nothing heard from the store for more than %llu s: "
				"private calls %s", (unsigned long long)(cap_us / 1000000u),
				policy_serve ? "are served from the last known state (stale_policy serve)" :
				"answer 503 revocation_state_stale (stale_policy refuse)");
		else
			log_msg(LOG_LVL_INFO, "fleet: the store's state is current again");
		revoke_set_stale(stale);
	}
	if (stale && revoke_stale_served() != f->stale_logged_n &&
	    now - f->stale_logged_us >= FLEET_STALE_LOG_US) {
		log_msg(LOG_LVL_WARN, "fleet: %llu private calls served from a stale state so far",
			(unsigned long long)revoke_stale_served());
		f->stale_logged_n = revoke_stale_served();
		f->stale_logged_us = now;
	}
}

/* The readiness condition (health.h): not stale. */
static bool fleet_fresh(const char **why)
{
	if (!revoke_stale())
		return true;
	*why = "revocation state stale: the store unheard from beyond max_staleness_s";
	return false;
}

char *fleet_key_body(const uint8_t key[STORE_SEAL_KEY_LEN], const char *ns, const char *kid,
		     const char *pem, size_t len)
{
	uint8_t *sealed = NULL;
	size_t slen = 0;
	char *b64 = NULL, *body = NULL;

	if (store_seal(key, ns, kid, (const uint8_t *)pem, len, &sealed, &slen) != 0)
		return NULL;
	b64 = malloc(B64URL_ENCODED_LEN(slen) + 1);
	if (b64 != NULL && b64url_encode(sealed, slen, b64, B64URL_ENCODED_LEN(slen) + 1) >= 0) {
		json_t *o = json_pack("{s:s}", "sealed", b64);

		body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	free(b64);
	free(sealed);
	return body;
}

/* Open a signing_key item's body for (ns, kid): *pem (malloc'd; the caller wipes and frees it).
 * 0, or -1 with err (malformed, altered, another key file). */
static int fleet_key_open(const uint8_t key[STORE_SEAL_KEY_LEN], const char *ns, const char *kid,
			  const char *body, uint8_t **pem, size_t *len, char *err, size_t errlen)
{
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	const char *b64 = json_string_value(json_object_get(o, "sealed"));
	size_t blen = b64 != NULL ? strlen(b64) : 0;
	uint8_t *sealed = blen > 0 ? malloc(B64URL_DECODED_MAX(blen)) : NULL;
	long n = sealed != NULL ? b64url_decode(b64, blen, sealed, B64URL_DECODED_MAX(blen)) : -1;
	int rc = -1;

	if (n < 0)
		util_seterr(err, errlen, "its body is not {\"sealed\": base64url}");
	else if (store_unseal(key, ns, kid, sealed, (size_t)n, pem, len) != 0)
		util_seterr(err, errlen, "it does not open with this node's key_file (another "
			    "key_file, or altered)");
	else
		rc = 0;
	free(sealed);
	json_decref(o);
	return rc;
}

/* Remember that kid is the fleet's generated key of namespace ns. 0 / -1 (memory). */
static int fleet_key_settled(struct fleet *f, const char *ns, const char *kid)
{
	struct fleet_key *nk;

	for (size_t i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i].ns, ns) == 0) {
			snprintf(f->keys[i].kid, sizeof(f->keys[i].kid), "%s", kid);
			return 0;
		}
	nk = realloc(f->keys, (f->nkeys + 1) * sizeof(*nk));
	if (nk == NULL)
		return -1;
	f->keys = nk;
	if ((nk[f->nkeys].ns = strdup(ns)) == NULL)
		return -1;
	snprintf(nk[f->nkeys].kid, sizeof(nk[f->nkeys].kid), "%s", kid);
	f->nkeys++;
	return 0;
}

/* One signing key per token-issuing namespace without a configured signing_key, the same on
 * every node: this node's current generated key of namespace ns (made now when it has none) is
 * offered to the store, sealed; the first node to commit one wins (store_claim), and a node that
 * finds another's adopts it, writing it into its state_dir as its current generated key, where
 * the daemon loads it (signkeys_load, at start and at each reload) and trusts
 * it. kid gets the fleet's key. 0 (this node's key is the fleet's), 1 (another's, adopted), or
 * -1 with err (the node keeps its own key). */
static int fleet_settle_key(struct fleet *f, const char *ns, char kid[FLEET_KID_LEN], char *err,
			    size_t errlen)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	char mine[FLEET_KID_LEN], *pem = NULL, *body = NULL, *wkid = NULL, *wbody = NULL;
	uint8_t *wpem = NULL;
	size_t len = 0, wlen = 0;
	struct store_item it = {STORE_KIND_SIGNING_KEY, ns, mine, NULL};
	int rc = -1;

	if (store_seal_key_load(f->key_file, key, err, errlen) != 0)
		return -1;
	if (signkeys_generated(f->state_dir, ns, mine, sizeof(mine), &pem, &len, err,
				   errlen) != 0)
		goto cleanup;
	if ((it.body = body = fleet_key_body(key, ns, mine, pem, len)) == NULL) {
		util_seterr(err, errlen, "sealing failed");
		goto cleanup;
	}
	rc = store_claim(f->store, &it, &wkid, &wbody, err, errlen);
	if (rc == 0 || (rc == 1 && strcmp(wkid, mine) == 0)) {
		snprintf(kid, FLEET_KID_LEN, "%s", mine);
		rc = 0;
	} else if (rc == 1) {
		rc = fleet_key_open(key, ns, wkid, wbody, &wpem, &wlen, err, errlen) != 0 ||
		     signkeys_adopt(f->state_dir, ns, (const char *)wpem, wlen, kid, FLEET_KID_LEN, err,
					errlen) != 0 ? -1 : 1;
	}
	if (rc >= 0 && fleet_key_settled(f, ns, kid) != 0) {
		util_seterr(err, errlen, "out of memory");
		rc = -1;
	}
cleanup:
	if (pem != NULL)
		util_wipe(pem, len);
	if (wpem != NULL)
		util_wipe(wpem, wlen);
	util_wipe(key, sizeof(key));
	free(pem);
	free(wpem);
	free(body);
	free(wkid);
	free(wbody);
	return rc;
}

/* The running configuration signs with the key now in state_dir after a reload: ask the
 * daemon for one (its SIGHUP path), unless the node has not started following yet (fleet_open:
 * the configuration about to be published reads state_dir anyway). */
static void fleet_reload(struct fleet *f)
{
	if (f->reload != NULL)
		event_active(f->reload, EV_TIMEOUT, 1);
}

/* The generated signing key of namespace ns is not generated here: ns has a configured
 * signing_key, or issues no token. */
static bool fleet_key_configured(const char *ns)
{
	struct conf *c = conf_acquire();
	const struct conf_namespace *n = c != NULL ? conf_find_namespace(c, ns) : NULL;
	bool configured = n == NULL || !n->issue_tokens || n->signing_key != NULL;

	conf_unref(c);
	return configured;
}

/* A signing_key change of the log: the fleet's generated key of ns is now kid (`fngate keygen
 * --rotate` on a fleet: docs/fleet.md). Adopt it into state_dir as ns's current key and reload,
 * so that this node signs with it and trusts it. On failure (logged) the node keeps its key; the
 * next token it would issue is checked against the store's (fleet_key_check) and refused. */
static void fleet_key_rotated(struct fleet *f, const char *ns, const char *kid, const char *body)
{
	uint8_t key[STORE_SEAL_KEY_LEN];
	uint8_t *pem = NULL;
	size_t len = 0;
	char adopted[FLEET_KID_LEN], err[512];

	if (fleet_key_configured(ns))
		return;
	for (size_t i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i].ns, ns) == 0 && strcmp(f->keys[i].kid, kid) == 0)
			return;
	if (store_seal_key_load(f->key_file, key, err, sizeof(err)) != 0 ||
	    fleet_key_open(key, ns, kid, body, &pem, &len, err, sizeof(err)) != 0 ||
	    signkeys_adopt(f->state_dir, ns, (const char *)pem, len, adopted,
			       sizeof(adopted), err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_ERROR, "fleet: namespace %s: the fleet's new signing key %s not "
			"adopted: %s; this node issues no token until it is", ns, kid, err);
	} else if (fleet_key_settled(f, ns, adopted) != 0) {
		log_msg(LOG_LVL_ERROR, "fleet: namespace %s: out of memory", ns);
	} else {
		log_msg(LOG_LVL_INFO, "fleet: namespace %s: the fleet's generated signing key is now "
			"%s: adopted, reloading to sign with it", ns, adopted);
		fleet_reload(f);
	}
	if (pem != NULL)
		util_wipe(pem, len);
	free(pem);
	util_wipe(key, sizeof(key));
}

/* At start, with the store answering: settle the key of every namespace that needs one. */
static void fleet_share_keys(struct fleet *f, const struct conf *c)
{
	for (size_t i = 0; i < c->nnamespaces; i++) {
		const struct conf_namespace *ns = &c->namespaces[i];
		char kid[FLEET_KID_LEN], err[512];
		int rc;

		if (!ns->issue_tokens || ns->signing_key != NULL)
			continue;
		rc = fleet_settle_key(f, ns->id, kid, err, sizeof(err));
		if (rc < 0)
			log_msg(LOG_LVL_ERROR, "fleet: namespace %s: its generated signing key not "
				"shared: %s; the tokens it issues are refused until it is", ns->id, err);
		else
			log_msg(LOG_LVL_INFO, "fleet: namespace %s signs with the fleet's generated "
				"key %s%s", ns->id, kid, rc == 1 ? " (stored by another node first)" : "");
	}
}

/* A ready token record about to be committed: is the key that signed it the fleet's? A
 * configured signing_key is (the same file on every node: the operator's part); a generated one
 * is once settled with the store (fleet_settle_key): at start, or here, for a node that started
 * without the store. A node whose key lost to another's adopts that one for its next start but
 * keeps signing with its own until then: its tokens would be refused by the other nodes, so they
 * are not issued. 0, or -1 with err. */
static int fleet_key_check(struct fleet *f, const struct token_record *t, char *err,
			   size_t errlen)
{
	char kid[FLEET_KID_LEN];

	if (t->imported || t->status != TOKEN_REC_READY || t->kid == NULL || t->namespace_id == NULL)
		return 0;
	for (size_t i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i].ns, t->namespace_id) == 0 && strcmp(f->keys[i].kid, t->kid) == 0)
			return 0;
	if (fleet_key_configured(t->namespace_id))
		return 0;
	if (fleet_settle_key(f, t->namespace_id, kid, err, errlen) < 0)
		return -1;
	if (strcmp(kid, t->kid) == 0)
		return 0;
	util_seterr(err, errlen, "namespace %s signs with this node's generated key %s, not the "
		    "fleet's (%s, now in this node's state_dir): the node reloads to sign with it",
		    t->namespace_id, t->kid, kid);
	fleet_reload(f);
	return -1;
}

/* registry_commit_fn: a registry write; a new record of a namespace near its quota is counted
 * by the store too (the record's "ns" and "expires", as its schema reads them from the body):
 * always while the watch is not current, since this node's own count may then lag. */
static int fleet_commit(void *arg, const struct token_record *t, const char *json, size_t quota,
			int64_t *seq, char *err, size_t errlen)
{
	struct fleet *f = arg;
	struct store_item it;
	struct store_quota q = {registry_rec_ns(t), quota, util_now()};
	bool count = quota > 0 && q.ns != NULL &&
		     (!f->current || registry_ns_count(f->reg, q.ns) + FLEET_QUOTA_SLACK >= quota);

	if (fleet_key_check(f, t, err, errlen) != 0)
		return -1;
	fleet_record_item(t, json, &it);
	return fleet_commit_item(f, &it, 1, count ? &q : NULL, seq, err, errlen);
}

/* audit_share_fn: this node's audit events, in one write. Never tried while the watch is
 * disconnected (an unreachable host would hold the main loop for the connect timeout): the
 * events wait in the audit trail's queue and are offered again at its next tick. */
static int fleet_share_audit(void *arg, const struct audit_share_item *items, size_t n)
{
	struct fleet *f = arg;
	struct store_item *its;
	char err[512];
	int rc;

	if (!f->connected)
		return -1;
	its = calloc(n, sizeof(*its));
	if (its == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		its[i].kind = STORE_KIND_AUDIT;
		its[i].namespace_id = items[i].namespace_id;
		its[i].key = items[i].id;
		its[i].body = items[i].json;
	}
	rc = fleet_commit_item(f, its, n, NULL, NULL, err, sizeof(err));
	if (rc != 0)
		log_msg(LOG_LVL_WARN, "fleet: %zu audit events not shared yet: %s; retried", n, err);
	free(its);
	return rc;
}

/* Load the store's snapshot into the registry and the local privacy copy. 0, or -1 with err
 * (what was merged stays: every item is the store's). */
static int fleet_load(struct fleet *f, struct fleet_snap *snap, char *err, size_t errlen)
{
	if (fleet_migrate(f, err, errlen) != 0 ||
	    store_snapshot(f->store, fleet_on_snapshot_item, snap, &snap->at, err,
			   errlen) != 0)
		return -1;
	return state_replace_privacy(f->state_dir, (const char *const *)snap->ids, snap->ps,
				     snap->n, err, errlen);
}

struct fleet *fleet_open(struct registry *r, const struct conf *c, char *err, size_t errlen)
{
	struct fleet *f = calloc(1, sizeof(*f));
	struct fleet_snap snap;
	char serr[512];

	if (f == NULL || (f->state_dir = strdup(c->state_dir)) == NULL ||
	    (f->key_file = strdup(c->store.key_file)) == NULL) {
		if (f != NULL)
			free(f->state_dir);
		free(f);
		util_seterr(err, errlen, "out of memory");
		return NULL;
	}
	f->reg = r;
	f->store = store_open(c->store.conninfo, err, errlen);
	if (f->store == NULL) {
		free(f->state_dir);
		free(f->key_file);
		free(f);
		return NULL;
	}
	/* The point of the local snapshot: its commit time is not kept, so the watch's first
	 * connection loads the store's snapshot again (fleet_reset) rather than trust it. */
	f->start = (struct store_mark){registry_position(r), -1};
	memset(&snap, 0, sizeof(snap));
	snap.f = f;
	if (fleet_load(f, &snap, serr, sizeof(serr)) != 0) {
		log_msg(LOG_LVL_WARN, "fleet: %s; serving the local snapshot (%zu records, change "
			"%lld) until the store answers", serr, registry_count(r),
			(long long)f->start.seq);
		for (size_t i = 0; i < c->nnamespaces; i++)
			if (c->namespaces[i].issue_tokens && c->namespaces[i].signing_key == NULL)
				log_msg(LOG_LVL_WARN, "fleet: namespace %s: its generated signing key is "
					"checked against the store's at the first token issued",
					c->namespaces[i].id);
	} else {
		f->start = snap.at;
		f->heard_us = util_mono_us();
		log_msg(LOG_LVL_INFO, "fleet: loaded the store's snapshot at change %lld (%zu records, "
			"%zu privacy overrides)", (long long)snap.at.seq, registry_count(r), snap.n);
		fleet_share_keys(f, c);
	}
	fleet_snap_free(&snap);
	if (registry_sync(r) != 0)
		log_msg(LOG_LVL_WARN, "fleet: the local snapshot could not be written; retried");
	registry_set_commit(r, fleet_commit, f);
	registry_set_used(r, fleet_used, f);
	audit_set_share(fleet_share_audit, f);
	return f;
}

/* The running configuration's privacy after a snapshot loaded again: the store's overrides,
 * and the file's value for every other function (an override the store no longer holds). */
static void fleet_privacy_running(const struct fleet_snap *snap)
{
	struct conf *c = conf_acquire();

	for (size_t i = 0; c != NULL && i < c->nnamespaces; i++)
		for (size_t j = 0; j < c->namespaces[i].nfunctions; j++) {
			struct conf_function *fn = &c->namespaces[i].functions[j];
			int p = (int)fn->privacy_configured;

			for (size_t k = 0; k < snap->n; k++)
				if (strcmp(snap->ids[k], fn->id) == 0)
					p = (int)snap->ps[k];
			atomic_store(&fn->privacy, p);
		}
	conf_unref(c);
}

/* Write back to the store the records this node holds that the store does not (absent, or
 * ready there but revoked here): acknowledged writes of the changes the store lost. Batches of
 * FLEET_REPUSH_BATCH items, one transaction each. Returns the number written, or -1 with err. */
#define FLEET_REPUSH_BATCH 500
static long fleet_repush(struct fleet *f, struct fleet_snap *snap, char *err, size_t errlen)
{
	size_t cap = registry_count(f->reg), n, total, nb = 0;
	const struct token_record **recs = calloc(cap ? cap : 1, sizeof(*recs));
	struct store_item *batch = calloc(FLEET_REPUSH_BATCH, sizeof(*batch));
	char **bodies = calloc(FLEET_REPUSH_BATCH, sizeof(*bodies));
	long written = 0;

	if (recs == NULL || batch == NULL || bodies == NULL) {
		util_seterr(err, errlen, "out of memory");
		written = -1;
		goto cleanup;
	}
	if (snap->nitems > 0)
		qsort(snap->items, snap->nitems, sizeof(*snap->items), fleet_seen_cmp);
	/* Tokens and revocations, then API keys: a listing holds one kind. */
	n = registry_list(f->reg, &(struct registry_query){.page = 1, .page_size = cap ? cap : 1},
			  recs, cap, &total);
	n += registry_list(f->reg, &(struct registry_query){.page = 1, .page_size = cap ? cap : 1,
			   .api_keys = true}, recs + n, cap - n, &total);
	for (size_t i = 0; i <= n; i++) {
		if (i < n) {
			struct store_item it;
			struct fleet_seen key, *st;

			fleet_record_item(recs[i], NULL, &it);
			key = (struct fleet_seen){it.kind, it.namespace_id, it.key, NULL, false};
			st = snap->nitems > 0 ? bsearch(&key, snap->items, snap->nitems,
							sizeof(*snap->items), fleet_seen_cmp) : NULL;
			if (st != NULL && (st->revoked || recs[i]->status != TOKEN_REC_REVOKED))
				continue;
			if ((bodies[nb] = registry_record_json(recs[i])) == NULL) {
				util_seterr(err, errlen, "out of memory");
				written = -1;
				goto cleanup;
			}
			fleet_record_item(recs[i], bodies[nb], &batch[nb]);
			nb++;
		}
		if (nb > 0 && (nb == FLEET_REPUSH_BATCH || i == n)) {
			if (fleet_commit_item(f, batch, nb, NULL, NULL, err, errlen) != 0) {
				written = -1;
				goto cleanup;
			}
			written += (long)nb;
			for (size_t k = 0; k < nb; k++) {
				free(bodies[k]);
				bodies[k] = NULL;
			}
			nb = 0;
		}
	}
cleanup:
	for (size_t k = 0; bodies != NULL && k < nb; k++)
		free(bodies[k]);
	free(bodies);
	free(batch);
	free(recs);
	return written;
}

/* store_reset_cb: the store's log does not hold the change this node applied last (a failover
 * to an asynchronous standby that lacked the last changes, a restore; or a start from the local
 * snapshot, whose point is not known for sure). Load the store's snapshot again and merge it
 * as at start (revocations stay sticky: none this node applied is forgotten), make the running
 * privacy the store's, then write back what this node holds and the store lost, so that every
 * node learns it again. The watch follows from the snapshot's point. */
static int fleet_reset(struct store_mark *at, void *arg)
{
	struct fleet *f = arg;
	struct fleet_snap snap;
	char err[512];
	long pushed;
	int rc = -1;

	memset(&snap, 0, sizeof(snap));
	snap.f = f;
	snap.seen = true;
	if (fleet_load(f, &snap, err, sizeof(err)) != 0) {
		log_msg(LOG_LVL_WARN, "fleet: loading the store's snapshot again: %s", err);
		goto cleanup;
	}
	fleet_privacy_running(&snap);
	(void)registry_sync(f->reg);
	pushed = fleet_repush(f, &snap, err, sizeof(err));
	if (pushed < 0) {
		log_msg(LOG_LVL_WARN, "fleet: writing back the records the store lost: %s", err);
		goto cleanup;
	}
	f->resets++;
	log_msg(pushed > 0 ? LOG_LVL_WARN : LOG_LVL_INFO, "fleet: loaded the store's snapshot "
		"again at change %lld (%zu records here); %ld record(s) the store lacked written "
		"back", (long long)snap.at.seq, registry_count(f->reg), pushed);
	*at = snap.at;
	rc = 0;
cleanup:
	fleet_snap_free(&snap);
	return rc;
}

int fleet_commit_privacy(const char *function_id, int p, char *err, size_t errlen)
{
	struct store_item it = {STORE_KIND_PRIVACY, "", function_id, NULL};

	if (fleet_running == NULL)
		return 0;
	if (p != 0)
		it.body = p == PRIVACY_PUBLIC ? "{\"privacy\":\"public\"}" : "{\"privacy\":\"private\"}";
	return fleet_commit_item(fleet_running, &it, 1, NULL, NULL, err, errlen);
}

int fleet_start(struct fleet *f, struct event_base *base, struct event *reload)
{
	struct timeval tv = {0, FLEET_TICK_MS * 1000};

	f->reload = reload;
	f->tick = event_new(base, -1, EV_PERSIST, fleet_on_tick, f);
	if (f->tick == NULL || event_add(f->tick, &tv) != 0)
		return -1;
	health_set_store_fresh(fleet_fresh);
	fleet_running = f;
	fleet_on_tick(-1, 0, f);
	return store_watch(f->store, base, &f->start, fleet_on_change, fleet_on_status, fleet_reset,
			   f);
}

void fleet_close(struct fleet *f)
{
	if (f == NULL)
		return;
	registry_set_commit(f->reg, NULL, NULL);
	registry_set_used(f->reg, NULL, NULL);
	audit_set_share(NULL, NULL);
	if (fleet_running == f)
		fleet_running = NULL;
	if (f->tick != NULL) {
		health_set_store_fresh(NULL);
		event_free(f->tick);
	}
	store_close(f->store);
	(void)registry_sync(f->reg);
	for (size_t i = 0; i < f->nkeys; i++)
		free(f->keys[i].ns);
	free(f->keys);
	free(f->key_file);
	free(f->state_dir);
	free(f);
}

int fleet_status(struct fleet_status *out)
{
	const struct fleet *f = fleet_running;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return -1;
	out->connected = f->connected;
	out->stale = revoke_stale();
	out->position = store_watch_position(f->store);
	out->applied = f->applied;
	out->resets = f->resets;
	out->heard_age_s = f->heard_us == 0 ? -1 :
			   f->current ? 0 : (double)(util_mono_us() - f->heard_us) / 1e6;
	memcpy(out->lag_le, f->lag_le, sizeof(out->lag_le));
	out->lag_count = f->lag_count;
	out->lag_sum_s = f->lag_sum_s;
	return 0;
}

/* A change read by fleet_catch_up: applied, not counted (the watch delivers it again, and
 * counts it and its lag then). */
static int fleet_on_catch_up(const struct store_change *ch, void *arg)
{
	return fleet_apply(arg, &ch->item, ch->seq, NULL);
}

int fleet_catch_up(void)
{
	struct fleet *f = fleet_running;
	int64_t from, last;
	char err[512];
	int n, total = 0;

	if (f == NULL)
		return 0;
	/* From what the watch has applied: what it delivers again later is known by then. */
	from = store_watch_position(f->store);
	do {
		n = store_changes_after(f->store, from, fleet_on_catch_up, f, &last, err,
					sizeof(err));
		if (n < 0) {
			log_msg(LOG_LVL_WARN, "fleet: catching up: %s", err);
			return -1;
		}
		total += n;
		from = last;
	} while (n == STORE_BATCH_MAX);
	(void)registry_sync(f->reg);
	return total;
}
