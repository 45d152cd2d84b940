/* token.h - the JWT verifier: compact JWS in the Scaleway claim layout, algorithm pinned by
 * configuration, keys parsed once. Free of any event loop so unit tests drive it directly. */
#ifndef FNGATE_TOKEN_H
#define FNGATE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_namespace;
struct conf_key;

#define TOKEN_ID_MAX 128        /* jti, namespace_id and application_id are at most this long */

/* Each failure has its own code (HAProxy's jwt_vrfy_status is the model). */
enum token_status {
	TOKEN_OK = 1,
	TOKEN_MALFORMED,        /* size, structure, base64url, JSON, claim types, duplicate keys */
	TOKEN_ALG,              /* alg absent, "none", HS*, or not the pinned alg of a namespace key */
	TOKEN_SIGNATURE,        /* the signature does not verify with any candidate key */
	TOKEN_EXPIRED,          /* exp + leeway <= now */
	TOKEN_NOT_YET_VALID,    /* nbf - leeway > now */
	TOKEN_SCOPE,            /* not for this namespace / function, or wrong issuer */
	TOKEN_KID_UNKNOWN,      /* a kid that no key of the namespace has */
	TOKEN_ISSUED_IN_FUTURE, /* iat - leeway > now */
};

/* What a verified token says. Plain data: safe to copy into the cache. */
struct token_claims {
	char    jti[TOKEN_ID_MAX + 1];          /* "" when absent */
	char    namespace_id[TOKEN_ID_MAX + 1]; /* application_claim[0].namespace_id ("" if none) */
	char    application_id[TOKEN_ID_MAX + 1];
	bool    has_exp;
	int64_t exp;
	bool    has_nbf;
	int64_t nbf;
	bool    has_iat;
	int64_t iat;
	char    iss[TOKEN_ID_MAX + 1];          /* "" when absent */
	const struct conf_key *key;             /* the key that verified the signature */
};

/* Verify the structure, the pinned algorithm and the signature of `tok` (len bytes, not NUL-
 * terminated) against the keys of `ns`, then parse and type-check the claims into *out.
 * Order, cheapest first: len <= max_len; three parts of strict base64url; header JSON (no
 * duplicate keys) with "alg" equal to the pinned alg of a key of ns (with a "kid": that key only;
 * a kid no key has -> TOKEN_KID_UNKNOWN; "jwk", "jku", "x5u", "x5c" are ignored, never used as keys);
 * signature (RS256: PKCS#1 v1.5 SHA-256, length equal to the modulus; ES256: 64-byte r||s,
 * r and s in [1, n-1]); claims JSON (no duplicate keys; exp/nbf/iat numbers; application_claim an
 * array whose first element has string namespace_id and application_id, exactly one non-empty;
 * jti a string of at most TOKEN_ID_MAX bytes). Does not look at time, scope or revocation.
 * Returns TOKEN_OK, TOKEN_MALFORMED, TOKEN_ALG, TOKEN_KID_UNKNOWN or TOKEN_SIGNATURE. Thread-safe.
 * out->key is set whenever the signature verified, even when the claims are then refused
 * (TOKEN_MALFORMED); it is NULL for every other refusal. */
enum token_status token_verify(const struct conf_namespace *ns, const char *tok, size_t len,
			       size_t max_len, struct token_claims *out);

/* Time checks with leeway: TOKEN_EXPIRED (exp + leeway <= now), TOKEN_NOT_YET_VALID (nbf -
 * leeway > now), TOKEN_ISSUED_IN_FUTURE (iat - leeway > now) or TOKEN_OK. No exp: valid; no
 * nbf or iat: not checked. */
enum token_status token_check_time(const struct token_claims *c, int64_t now, long leeway_s);

/* Scope: a namespace token (namespace_id == ns->id) opens every function of the namespace; a
 * function token (application_id == function_id) opens that function only. When ns->issuer is
 * set, iss must equal it. Returns TOKEN_OK or TOKEN_SCOPE. */
enum token_status token_check_scope(const struct token_claims *c, const struct conf_namespace *ns,
				    const char *function_id);

/* "token_malformed", ...; the reason codes sent to clients and logged. */
const char *token_status_name(enum token_status st);

#endif
