/* tcache.h - the verified-token cache: one per worker thread, no locks.
 *
 * Keyed by SHA-256 of the whole token (never the token itself) and the namespace it was verified
 * for. Bounded in entries (CLOCK eviction). An entry is valid only for the configuration
 * generation that made it (keys change -> every entry is stale) and never outlives the token's
 * exp. Negative results (bad signature, bad alg) are cached too so a flood of the same forged
 * token costs one verification. Revocation is NOT cached: the gate checks it on every request. */
#ifndef FNGATE_TCACHE_H
#define FNGATE_TCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct tcache;

struct tcache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
};

/* A cache of `entries` slots (0 -> a cache that never hits). NULL on allocation failure. */
struct tcache *tcache_new(size_t entries);
void tcache_free(struct tcache *tc);

/* SHA-256 of the token, computed once per request by the caller and passed to lookup/insert. */
void tcache_digest(const char *tok, size_t len, unsigned char digest[32]);

/* Look up a token digest for namespace `ns` at configuration generation `gen`, at time `now`.
 * On a hit returns the cached status (TOKEN_OK with *claims filled, or a cached failure) and
 * on a miss 0. Entries of another generation, or past their exp + leeway, are misses. */
int tcache_lookup(struct tcache *tc, const unsigned char digest[32], const void *ns, uint64_t gen,
		  int64_t now, struct token_claims *claims);

/* Remember the outcome of token_verify for this digest. Only TOKEN_OK, TOKEN_SIGNATURE and
 * TOKEN_ALG outcomes are stored; `expires` bounds the entry's life (exp + leeway, or INT64_MAX). */
void tcache_insert(struct tcache *tc, const unsigned char digest[32], const void *ns, uint64_t gen,
		   int status, const struct token_claims *claims, int64_t expires);

/* Drop every entry. */
void tcache_clear(struct tcache *tc);
void tcache_get_stats(const struct tcache *tc, struct tcache_stats *out);

#endif
