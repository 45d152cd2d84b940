/* mint.h - minting tokens in the Scaleway claim layout, with libjwt (never on the request path). */
#ifndef FNGATE_MINT_H
#define FNGATE_MINT_H

#include <stdint.h>
#include <openssl/evp.h>

#include "keys.h"

/* Mint a compact JWS. Exactly one of ns_id / function_id is non-NULL (the other claim is "").
 * kid may be NULL (no kid header, as Scaleway). exp 0 means no exp claim. Returns a malloc'd
 * token (caller wipes and frees it: util_free_secret) or NULL. */
char *mint_token(EVP_PKEY *key, enum key_alg alg, const char *kid, const char *ns_id,
		 const char *function_id, const char *jti, int64_t iat, int64_t exp);

#endif
