/* revoke.c - the process-wide (namespace, jti) set (revoked / ready) and the API keys: rwlock hash
 * table hashed on the jti or key id alone (one probe finds a jti's entries for every namespace),
 * atomic last_used. */
#include "revoke.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"
#include "util.h"

#define REVOKE_INITIAL_BUCKETS	1024

/* One jti. Entries are never removed (revocation is irreversible); revoke_shutdown frees them.
 * state and last_used are atomics so readers holding only the read lock may update last_used. */
struct revoke_entry {
	struct revoke_entry	*next;
	uint64_t		 hash;          /* of the jti */
	char			*ns;            /* NULL: every namespace */
	_Atomic int		 state;          /* enum revoke_state */
	_Atomic int64_t		 last_used;
	struct revoke_keydata	*key;           /* an API key's (ns: its namespace); NULL: a jti */
	size_t			 len;
	char			 jti[];
};

/* What an API key's entry holds beside its state; immutable once inserted. */
struct revoke_keydata {
	unsigned char	 hash[32];
	char		*fn;
	int64_t		 expires_at;
};

static _Atomic bool revoke_is_stale;
static _Atomic uint64_t revoke_served_stale;

static pthread_rwlock_t revoke_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct revoke_entry **revoke_buckets;
static size_t revoke_nbuckets;          /* a power of two */
static size_t revoke_count;

/* FNV-1a: jti values come from signed tokens or the admin API, not from anonymous clients. */
static uint64_t revoke_hash(const char *s, size_t len)
{
	return util_fnv64(UTIL_FNV64_INIT, s, len);
}

int revoke_init(void)
{
	struct revoke_entry **b;
	int rc = 0;

	pthread_rwlock_wrlock(&revoke_lock);
	if (revoke_buckets == NULL) {
		b = calloc(REVOKE_INITIAL_BUCKETS, sizeof(*b));
		if (b == NULL) {
			rc = -1;
		} else {
			revoke_buckets = b;
			revoke_nbuckets = REVOKE_INITIAL_BUCKETS;
			revoke_count = 0;
		}
	}
	pthread_rwlock_unlock(&revoke_lock);
	return rc;
}

void revoke_shutdown(void)
{
	struct revoke_entry *e, *next;
	size_t i;

	pthread_rwlock_wrlock(&revoke_lock);
	for (i = 0; i < revoke_nbuckets; i++) {
		for (e = revoke_buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (e->key != NULL)
				free(e->key->fn);
			free(e->key);
			free(e->ns);
			free(e);
		}
	}
	free(revoke_buckets);
	revoke_buckets = NULL;
	revoke_nbuckets = 0;
	revoke_count = 0;
	pthread_rwlock_unlock(&revoke_lock);
}

static bool revoke_ns_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The entry of exactly (ns, jti), or with `key` of the API key jti (ns unused); the caller
 * holds the lock (read or write). */
static struct revoke_entry *revoke_find(const char *ns, const char *jti, size_t len, uint64_t h,
					bool key)
{
	struct revoke_entry *e;

	if (revoke_buckets == NULL)
		return NULL;
	for (e = revoke_buckets[h & (revoke_nbuckets - 1)]; e != NULL; e = e->next) {
		if (e->hash == h && e->len == len && memcmp(e->jti, jti, len) == 0 &&
		    (e->key != NULL) == key && (key || revoke_ns_eq(e->ns, ns)))
			return e;
	}
	return NULL;
}

/* Whether entry e (already matching the jti) applies to namespace ns. */
static bool revoke_applies(const struct revoke_entry *e, const char *ns)
{
	return e->ns == NULL || strcmp(e->ns, ns) == 0;
}

/* Double the table when it averages more than one entry per bucket. Write lock held. */
static void revoke_grow(void)
{
	struct revoke_entry **nb, *e, *next;
	size_t i, n = revoke_nbuckets * 2;

	nb = calloc(n, sizeof(*nb));
	if (nb == NULL)
		return;         /* longer chains, still correct */
	for (i = 0; i < revoke_nbuckets; i++) {
		for (e = revoke_buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(revoke_buckets);
	revoke_buckets = nb;
	revoke_nbuckets = n;
}

enum revoke_state revoke_lookup(const char *ns, const char *jti, size_t len)
{
	enum revoke_state st = REVOKE_UNKNOWN;
	struct revoke_entry *e;
	uint64_t h;

	if (ns == NULL || jti == NULL || len == 0 || len > TOKEN_ID_MAX)
		return REVOKE_UNKNOWN;
	h = revoke_hash(jti, len);
	pthread_rwlock_rdlock(&revoke_lock);
	if (revoke_buckets != NULL) {
		for (e = revoke_buckets[h & (revoke_nbuckets - 1)]; e != NULL; e = e->next) {
			int es;

			if (e->hash != h || e->len != len || memcmp(e->jti, jti, len) != 0 ||
			    e->key != NULL || !revoke_applies(e, ns))
				continue;
			es = atomic_load_explicit(&e->state, memory_order_acquire);
			if (es == REVOKE_REVOKED) {
				st = REVOKE_REVOKED;    /* any revocation that applies wins */
				break;
			}
			if (es == REVOKE_READY)
				st = REVOKE_READY;
		}
	}
	pthread_rwlock_unlock(&revoke_lock);
	return st;
}

/* revoke_set and revoke_key_set: the entry of (ns, jti), or of the API key jti when kd is non-NULL
 * (kd's contents are copied into a new entry). */
static int revoke_put(const char *ns, const char *jti, size_t len, enum revoke_state st,
		      const struct revoke_keydata *kd)
{
	struct revoke_entry *e;
	uint64_t h;
	size_t b;
	int rc = -1;

	if (jti == NULL || len == 0 || len > TOKEN_ID_MAX ||
	    (st != REVOKE_READY && st != REVOKE_REVOKED && st != REVOKE_UNKNOWN))
		return -1;
	h = revoke_hash(jti, len);
	pthread_rwlock_wrlock(&revoke_lock);
	if (revoke_buckets == NULL)
		goto cleanup;
	e = revoke_find(ns, jti, len, h, kd != NULL);
	if (e != NULL) {
		/* Revocation is irreversible. */
		if (atomic_load(&e->state) != REVOKE_REVOKED)
			atomic_store_explicit(&e->state, (int)st, memory_order_release);
		rc = 0;
		goto cleanup;
	}
	e = calloc(1, sizeof(*e) + len + 1);
	if (e == NULL)
		goto cleanup;
	if ((ns != NULL && (e->ns = strdup(ns)) == NULL) ||
	    (kd != NULL && (e->key = malloc(sizeof(*e->key))) == NULL)) {
		free(e->ns);
		free(e);
		goto cleanup;
	}
	if (kd != NULL) {
		*e->key = *kd;
		if (kd->fn != NULL && (e->key->fn = strdup(kd->fn)) == NULL) {
			free(e->key);
			free(e->ns);
			free(e);
			goto cleanup;
		}
	}
	e->hash = h;
	e->len = len;
	memcpy(e->jti, jti, len);
	atomic_init(&e->state, (int)st);
	atomic_init(&e->last_used, 0);
	if (revoke_count >= revoke_nbuckets)
		revoke_grow();
	b = h & (revoke_nbuckets - 1);
	e->next = revoke_buckets[b];
	revoke_buckets[b] = e;
	revoke_count++;
	rc = 0;
cleanup:
	/* Unlocking publishes the change: a reader that locks after this sees it. */
	pthread_rwlock_unlock(&revoke_lock);
	return rc;
}

int revoke_set(const char *ns, const char *jti, size_t len, enum revoke_state st)
{
	return revoke_put(ns, jti, len, st, NULL);
}

int revoke_key_set(const char *id, size_t len, const char *ns, const char *fn,
		   const unsigned char hash[32], int64_t expires_at, enum revoke_state st)
{
	struct revoke_keydata kd;

	if (ns == NULL)
		return -1;
	memcpy(kd.hash, hash, sizeof(kd.hash));
	kd.fn = (char *)(uintptr_t)fn;
	kd.expires_at = expires_at;
	return revoke_put(ns, id, len, st, &kd);
}

enum revoke_state revoke_key_lookup(const char *id, size_t len, struct revoke_key *out)
{
	enum revoke_state st = REVOKE_UNKNOWN;
	struct revoke_entry *e;
	uint64_t h;

	if (id == NULL || len == 0 || len > TOKEN_ID_MAX)
		return REVOKE_UNKNOWN;
	h = revoke_hash(id, len);
	pthread_rwlock_rdlock(&revoke_lock);
	e = revoke_find(NULL, id, len, h, true);
	if (e != NULL) {
		st = (enum revoke_state)atomic_load_explicit(&e->state, memory_order_acquire);
		out->state = st;
		memcpy(out->hash, e->key->hash, sizeof(out->hash));
		out->ns = e->ns;
		out->function_id = e->key->fn;
		out->expires_at = e->key->expires_at;
	}
	pthread_rwlock_unlock(&revoke_lock);
	return st;
}

/* revoke_touch and revoke_key_touch. */
static void revoke_touch_entry(const char *ns, const char *jti, size_t len, int64_t now, bool key)
{
	struct revoke_entry *e;
	uint64_t h;

	if (jti == NULL || len == 0 || len > TOKEN_ID_MAX)
		return;
	h = revoke_hash(jti, len);
	pthread_rwlock_rdlock(&revoke_lock);
	e = revoke_find(ns, jti, len, h, key);
	/* Only ids the registry knows get a last_used: readers never insert, so a stream of
	 * unregistered (e.g. imported) tokens cannot grow the table. Write only on change, so
	 * the cache line stays shared between workers within a second. */
	if (e != NULL && atomic_load_explicit(&e->last_used, memory_order_relaxed) < now)
		atomic_store_explicit(&e->last_used, now, memory_order_relaxed);
	pthread_rwlock_unlock(&revoke_lock);
}

void revoke_touch(const char *ns, const char *jti, size_t len, int64_t now)
{
	revoke_touch_entry(ns, jti, len, now, false);
}

void revoke_key_touch(const char *id, size_t len, int64_t now)
{
	revoke_touch_entry(NULL, id, len, now, true);
}

/* revoke_last_used and revoke_key_last_used. */
static int64_t revoke_entry_last_used(const char *ns, const char *jti, size_t len, bool key)
{
	struct revoke_entry *e;
	int64_t t = 0;
	uint64_t h;

	if (jti == NULL || len == 0 || len > TOKEN_ID_MAX)
		return 0;
	h = revoke_hash(jti, len);
	pthread_rwlock_rdlock(&revoke_lock);
	e = revoke_find(ns, jti, len, h, key);
	if (e != NULL)
		t = atomic_load_explicit(&e->last_used, memory_order_relaxed);
	pthread_rwlock_unlock(&revoke_lock);
	return t;
}

int64_t revoke_last_used(const char *ns, const char *jti, size_t len)
{
	return revoke_entry_last_used(ns, jti, len, false);
}

int64_t revoke_key_last_used(const char *id, size_t len)
{
	return revoke_entry_last_used(NULL, id, len, true);
}

void revoke_set_stale(bool stale)
{
	atomic_store_explicit(&revoke_is_stale, stale, memory_order_release);
}

bool revoke_stale(void)
{
	return atomic_load_explicit(&revoke_is_stale, memory_order_acquire);
}

void revoke_count_stale_served(void)
{
	/* Only while stale, under stale_policy "serve": a shared counter is fine then. */
	atomic_fetch_add_explicit(&revoke_served_stale, 1, memory_order_relaxed);
}

uint64_t revoke_stale_served(void)
{
	return atomic_load_explicit(&revoke_served_stale, memory_order_relaxed);
}
