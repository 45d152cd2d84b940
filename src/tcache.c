/* tcache.c - per-worker verified-token cache: chained hash over a preallocated slab, CLOCK eviction. */
#include "tcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

#define TCACHE_NIL		UINT32_MAX
#define TCACHE_MAX_ENTRIES	(1u << 24)

struct tcache_entry {
	unsigned char		 digest[32];     /* SHA-256 of the token; the token is never kept */
	const void		*ns;
	uint64_t		 gen;
	int64_t			 expires;        /* a lookup at or after this instant misses */
	int			 status;
	uint32_t		 next;           /* bucket chain, or free list */
	uint32_t		 bucket;
	uint8_t			 used;
	uint8_t			 ref;            /* CLOCK reference bit, set by hits */
	struct token_claims	 claims;         /* meaningful when status == TOKEN_OK */
};

struct tcache {
	struct tcache_entry	*e;             /* the slab: every entry allocated up front */
	size_t			 n;
	uint32_t		*bucket;
	size_t			 mask;
	uint32_t		 free_head;
	size_t			 hand;           /* CLOCK hand over the slab */
	struct tcache_stats	 stats;
};

static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;
static EVP_MD *tcache_sha256;
static _Thread_local EVP_MD_CTX *tcache_mdctx;
static pthread_key_t tcache_key;
static int tcache_key_ok;

static void tcache_mdctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void tcache_init_once(void)
{
	tcache_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	/* The key's destructor frees each thread's context when the thread exits. */
	tcache_key_ok = pthread_key_create(&tcache_key, tcache_mdctx_free) == 0;
}

void tcache_digest(const char *tok, size_t len, unsigned char digest[32])
{
	pthread_once(&tcache_once, tcache_init_once);
	/* A prefetched EVP_MD and a reused per-thread EVP_MD_CTX: no allocation, no provider
	 * look-up per request. The context lives as long as the thread (a few hundred bytes). */
	if (tcache_mdctx == NULL && tcache_key_ok) {
		tcache_mdctx = EVP_MD_CTX_new();
		if (tcache_mdctx != NULL && pthread_setspecific(tcache_key, tcache_mdctx) != 0) {
			EVP_MD_CTX_free(tcache_mdctx);
			tcache_mdctx = NULL;
		}
	}
	if (tcache_sha256 != NULL && tcache_mdctx != NULL &&
	    EVP_DigestInit_ex2(tcache_mdctx, tcache_sha256, NULL) == 1 &&
	    EVP_DigestUpdate(tcache_mdctx, tok, len) == 1 &&
	    EVP_DigestFinal_ex(tcache_mdctx, digest, NULL) == 1)
		return;
	if (EVP_Digest(tok, len, digest, NULL, EVP_sha256(), NULL) != 1) {
		/* Only on memory exhaustion. A fixed value would let distinct tokens share an entry
		 * (and its claims), so make a value that matches nothing: the request just misses. */
		static _Thread_local uint64_t seq;
		uint64_t u[4] = { 0xa5a5a5a5a5a5a5a5ull, ++seq, util_mono_us(),
		    (uint64_t)(uintptr_t)&seq };

		memcpy(digest, u, 32);
	}
}

static size_t tcache_hash(const struct tcache *tc, const unsigned char *digest, const void *ns)
{
	uint64_t h;

	/* The digest is already uniform; mixing in ns separates namespaces sharing a token. */
	memcpy(&h, digest, sizeof(h));
	h ^= (uint64_t)(uintptr_t)ns * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return (size_t)h & tc->mask;
}

static void tcache_reset(struct tcache *tc)
{
	size_t i;

	for (i = 0; i <= tc->mask; i++)
		tc->bucket[i] = TCACHE_NIL;
	for (i = 0; i < tc->n; i++) {
		tc->e[i].used = 0;
		tc->e[i].ref = 0;
		tc->e[i].next = i + 1 < tc->n ? (uint32_t)(i + 1) : TCACHE_NIL;
	}
	tc->free_head = tc->n > 0 ? 0 : TCACHE_NIL;
	tc->hand = 0;
}

struct tcache *tcache_new(size_t entries)
{
	struct tcache *tc;
	size_t nb = 1;

	if (entries > TCACHE_MAX_ENTRIES)
		entries = TCACHE_MAX_ENTRIES;
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return NULL;
	/* Twice as many buckets as entries, a power of two: chains of about one entry. */
	while (nb < entries * 2)
		nb <<= 1;
	tc->n = entries;
	tc->mask = nb - 1;
	tc->bucket = calloc(nb, sizeof(*tc->bucket));
	tc->e = entries > 0 ? calloc(entries, sizeof(*tc->e)) : NULL;
	if (tc->bucket == NULL || (entries > 0 && tc->e == NULL)) {
		tcache_free(tc);
		return NULL;
	}
	tcache_reset(tc);
	return tc;
}

void tcache_free(struct tcache *tc)
{
	if (tc == NULL)
		return;
	if (tc->e != NULL)
		util_wipe(tc->e, tc->n * sizeof(*tc->e));
	free(tc->e);
	tc->e = NULL;
	free(tc->bucket);
	tc->bucket = NULL;
	free(tc);
}

/* Take entry i out of its bucket chain (prev is its predecessor or TCACHE_NIL). */
static void tcache_unlink(struct tcache *tc, uint32_t i, uint32_t prev)
{
	struct tcache_entry *e = &tc->e[i];

	if (prev == TCACHE_NIL)
		tc->bucket[e->bucket] = e->next;
	else
		tc->e[prev].next = e->next;
	e->used = 0;
	e->next = TCACHE_NIL;
}

static void tcache_release(struct tcache *tc, uint32_t i, uint32_t prev)
{
	tcache_unlink(tc, i, prev);
	tc->e[i].next = tc->free_head;
	tc->free_head = i;
}

int tcache_lookup(struct tcache *tc, const unsigned char digest[32], const void *ns, uint64_t gen,
    int64_t now, struct token_claims *claims)
{
	struct tcache_entry *e;
	uint32_t i, prev = TCACHE_NIL;

	if (tc == NULL)
		return 0;
	if (tc->n == 0) {
		tc->stats.misses++;
		return 0;
	}
	for (i = tc->bucket[tcache_hash(tc, digest, ns)]; i != TCACHE_NIL; prev = i, i = e->next) {
		e = &tc->e[i];
		if (e->ns != ns || memcmp(e->digest, digest, 32) != 0)
			continue;
		if (e->gen != gen || now >= e->expires) {
			/* Stale: keys may have changed, or the token ran out. Free the slot now. */
			tcache_release(tc, i, prev);
			break;
		}
		e->ref = 1;
		tc->stats.hits++;
		if (e->status == TOKEN_OK && claims != NULL)
			*claims = e->claims;
		return e->status;
	}
	tc->stats.misses++;
	return 0;
}

/* A free slot: from the free list, else the first entry the CLOCK hand finds unreferenced. */
static uint32_t tcache_take(struct tcache *tc)
{
	struct tcache_entry *e;
	uint32_t i, j, prev;

	if (tc->free_head != TCACHE_NIL) {
		i = tc->free_head;
		tc->free_head = tc->e[i].next;
		return i;
	}
	for (;;) {
		i = (uint32_t)tc->hand;
		tc->hand = (tc->hand + 1) % tc->n;
		e = &tc->e[i];
		if (e->ref) {
			e->ref = 0;     /* second chance */
			continue;
		}
		prev = TCACHE_NIL;
		for (j = tc->bucket[e->bucket]; j != i; j = tc->e[j].next)
			prev = j;
		tcache_unlink(tc, i, prev);
		tc->stats.evictions++;
		return i;
	}
}

void tcache_insert(struct tcache *tc, const unsigned char digest[32], const void *ns, uint64_t gen,
    int status, const struct token_claims *claims, int64_t expires)
{
	struct tcache_entry *e = NULL;
	size_t b;
	uint32_t i;

	if (tc == NULL || tc->n == 0)
		return;
	if (status != TOKEN_OK && status != TOKEN_SIGNATURE && status != TOKEN_ALG)
		return;
	if (status == TOKEN_OK && claims == NULL)
		return;
	b = tcache_hash(tc, digest, ns);
	for (i = tc->bucket[b]; i != TCACHE_NIL; i = tc->e[i].next) {
		if (tc->e[i].ns == ns && memcmp(tc->e[i].digest, digest, 32) == 0) {
			e = &tc->e[i];
			break;
		}
	}
	if (e == NULL) {
		i = tcache_take(tc);
		e = &tc->e[i];
		memcpy(e->digest, digest, 32);
		e->ns = ns;
		e->bucket = (uint32_t)b;
		e->next = tc->bucket[b];
		tc->bucket[b] = i;
		e->used = 1;
		/* Unreferenced until its first hit: a flood of one-time tokens is evicted first. */
		e->ref = 0;
	}
	e->gen = gen;
	e->expires = expires;
	e->status = status;
	if (status == TOKEN_OK)
		e->claims = *claims;
	else
		memset(&e->claims, 0, sizeof(e->claims));
}

void tcache_clear(struct tcache *tc)
{
	if (tc == NULL)
		return;
	tcache_reset(tc);
}

void tcache_get_stats(const struct tcache *tc, struct tcache_stats *out)
{
	if (tc == NULL) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = tc->stats;
}
