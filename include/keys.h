/* keys.h - public and private keys, parsed once from PEM at configuration load. */
#ifndef FNGATE_KEYS_H
#define FNGATE_KEYS_H

#include <stddef.h>
#include <openssl/evp.h>

/* Signature algorithms fngate accepts. The accepted one is pinned per key by configuration. */
enum key_alg {
	KEY_ALG_NONE = 0,   /* never accepted; zero so that an unset field denies */
	KEY_ALG_RS256 = 1,
	KEY_ALG_ES256 = 2,
};

/* "RS256" -> KEY_ALG_RS256 ... ; KEY_ALG_NONE for anything else (case-sensitive, as in JWS). */
enum key_alg keys_alg_from_name(const char *name, size_t len);
const char *keys_alg_name(enum key_alg alg);

/* Load a public key from a PEM file: PKCS#1 "RSA PUBLIC KEY", SPKI "PUBLIC KEY" (RSA or EC P-256),
 * or a certificate is refused. The key must fit `alg`: RSA >= 2048 bits for RS256, P-256 for ES256.
 * Returns the key (caller owns, EVP_PKEY_free), or NULL with a human message in err. */
EVP_PKEY *keys_load_public(const char *path, enum key_alg alg, char *err, size_t errlen);
/* The same from a PEM held in memory (tests, vectors). */
EVP_PKEY *keys_public_from_pem(const char *pem, size_t len, enum key_alg alg, char *err, size_t errlen);

/* Load a private key (PKCS#8 or traditional PEM) for minting; same checks as above. */
EVP_PKEY *keys_load_private(const char *path, enum key_alg alg, char *err, size_t errlen);

#endif
