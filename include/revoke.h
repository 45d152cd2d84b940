/* revoke.h - the set of token ids the gate consults on every request: revoked ids, and the ids
 * the registry knows as ready (for namespaces that require registered tokens).
 *
 * An entry is a (namespace, jti) pair: a token id means something only within the namespace whose
 * key signed the token, so a revocation made for namespace B never refuses a token of namespace A
 * that happens to carry the same jti. A NULL namespace is "every namespace": an owner's
 * revocation of a jti without a namespace, and records of older journals (their old meaning).
 *
 * Shared by all workers; the registry (admin API, main thread) writes, workers read. A revocation
 * is visible to every worker as soon as revoke_set() returns. Entries are never removed:
 * revocation is irreversible. */
#ifndef FNGATE_REVOKE_H
#define FNGATE_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum revoke_state {
	REVOKE_UNKNOWN = 1,     /* never registered, never revoked */
	REVOKE_READY,           /* registered by fngate and usable */
	REVOKE_REVOKED,         /* revoked: refused for ever */
};

/* Initialise / free the process-wide set. revoke_init returns 0 / -1. */
int revoke_init(void);
void revoke_shutdown(void);

/* State of jti (len bytes) in namespace ns (never NULL): REVOKED when an entry for ns or for
 * every namespace says so, else READY when one for ns (or every namespace) does, else UNKNOWN.
 * One hash probe; lock-light read; safe from any thread. */
enum revoke_state revoke_lookup(const char *ns, const char *jti, size_t len);

/* Record a state for (ns, jti); ns NULL: every namespace. REVOKED is sticky: setting READY on
 * a revoked entry keeps it REVOKED. Returns 0, or -1 on allocation failure. */
int revoke_set(const char *ns, const char *jti, size_t len, enum revoke_state st);

/* Note that the token (ns, jti) was used now (for last_used_at). Cheap, may be called on every
 * request: it writes only when the stored second differs, and only entries that exist. */
void revoke_touch(const char *ns, const char *jti, size_t len, int64_t now);
/* API keys (apikey.h) live in the same set, apart from tokens (a key's id never matches a jti):
 * the registry registers each key with what the gate checks, and a deletion is a revocation,
 * visible to every worker when revoke_key_set returns. What the gate reads of a key: */
struct revoke_key {
	enum revoke_state state;
	unsigned char     hash[32];     /* SHA-256 of the secret */
	const char       *ns;           /* the owning namespace */
	const char       *function_id;  /* NULL: every function of ns */
	int64_t           expires_at;   /* 0: never */
};

/* Register key id (len bytes) with its scope (ns, fn: copied), hash and expiry in state st
 * (READY or REVOKED). A known id keeps its scope, hash and expiry (they never change) and only
 * its state moves, REVOKED being sticky. 0, or -1 on allocation failure. */
int revoke_key_set(const char *id, size_t len, const char *ns, const char *fn,
		   const unsigned char hash[32], int64_t expires_at, enum revoke_state st);
/* The key id: its state (UNKNOWN when not registered) and, unless UNKNOWN, *out (its strings
 * stay valid until revoke_shutdown: entries are never removed). One hash probe; safe from any
 * thread. */
enum revoke_state revoke_key_lookup(const char *id, size_t len, struct revoke_key *out);
/* revoke_touch and revoke_last_used for the key id. */
void revoke_key_touch(const char *id, size_t len, int64_t now);
int64_t revoke_key_last_used(const char *id, size_t len);

/* Fleet mode (fleet.c, on the main thread) says whether the set may lag the shared store by
 * more than max_staleness_s; the gate reads it on every private call that would be allowed.
 * revoke_stale_served counts the calls served all the same (stale_policy "serve"). */
void revoke_set_stale(bool stale);
bool revoke_stale(void);
void revoke_count_stale_served(void);
uint64_t revoke_stale_served(void);

/* Last use recorded for (ns, jti) (ns NULL: the every-namespace entry), 0 when none. */
int64_t revoke_last_used(const char *ns, const char *jti, size_t len);

#endif
