/* mint.h - minting tokens in the Scaleway claim layout, with libjwt (never on the request path).
 *
 * Layout (docs/tokens.md): header {"alg","typ":"JWT"[,"kid"]}; payload
 * {"application_claim":[{"namespace_id":..,"application_id":..}],"version":2,"aud":"functions",
 *  "jti","iat","nbf"[,"exp"],"iss","sub":"token"}. */
#ifndef FNGATE_MINT_H
#define FNGATE_MINT_H

#include <stdint.h>
#include <openssl/evp.h>

#include "keys.h"

#define MINT_DEFAULT_ISS "fngate"

/* Mint a compact JWS. Exactly one of ns_id / function_id is non-NULL (the other claim is "").
 * kid may be NULL (no kid header, as Scaleway). exp 0 means no exp claim. iss is "fngate".
 * Returns a malloc'd token (caller wipes and frees it: util_free_secret) or NULL. */
char *mint_token(EVP_PKEY *key, enum key_alg alg, const char *kid, const char *ns_id,
		 const char *function_id, const char *jti, int64_t iat, int64_t exp);

/* The same with every claim chosen by the caller. */
struct mint_params {
	EVP_PKEY    *key;           /* private key */
	enum key_alg alg;
	const char  *kid;           /* NULL: no kid header */
	const char  *ns_id;         /* exactly one of ns_id / function_id */
	const char  *function_id;
	const char  *jti;
	int64_t      iat;
	int64_t      nbf;           /* 0: equal to iat */
	int64_t      exp;           /* 0: no exp claim */
	const char  *iss;           /* NULL: MINT_DEFAULT_ISS */
};
char *mint_token_ex(const struct mint_params *p);

#endif
