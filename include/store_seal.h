/* store_seal.h - generated private signing keys encrypted at rest in the shared store
 * (AES-256-GCM, OpenSSL EVP), under a 32-byte key file that every fleet node holds.
 *
 * A sealed record is  nonce (12 random bytes) || ciphertext || tag (16 bytes). The associated
 * data binds it to its place, "fngate-key-v1" NUL namespace_id NUL kid, so a row copied to
 * another namespace or key id fails to open instead of silently signing for it. */
#ifndef FNGATE_STORE_SEAL_H
#define FNGATE_STORE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SEAL_KEY_LEN   32
#define STORE_SEAL_NONCE_LEN 12
#define STORE_SEAL_TAG_LEN   16
#define STORE_SEAL_OVERHEAD  (STORE_SEAL_NONCE_LEN + STORE_SEAL_TAG_LEN)

/* Read the key file at path into key: it must be a regular file of exactly 32 bytes, readable by
 * its owner only (no group or other permission bits: mode 0600 or 0400). Returns 0, or -1 with a
 * message in err (key is wiped then). The caller wipes key (util_wipe) when done. */
int store_seal_key_load(const char *path, uint8_t key[STORE_SEAL_KEY_LEN], char *err, size_t errlen);

/* Encrypt plain[0..len) for (namespace_id, kid) with a fresh random nonce. *out (malloc'd, owned by
 * the caller) gets len + STORE_SEAL_OVERHEAD bytes, *outlen its length. Returns 0 / -1. */
int store_seal(const uint8_t key[STORE_SEAL_KEY_LEN], const char *namespace_id, const char *kid,
	       const uint8_t *plain, size_t len, uint8_t **out, size_t *outlen);

/* Decrypt and authenticate a sealed record for (namespace_id, kid). On success *plain (malloc'd,
 * NUL-terminated for PEM convenience; the caller wipes it with util_wipe and frees it) and *plainlen
 * are set and 0 is returned. -1 when the record is short, was altered, belongs to another
 * namespace or kid, or was sealed under another key; nothing is returned then. */
int store_unseal(const uint8_t key[STORE_SEAL_KEY_LEN], const char *namespace_id, const char *kid,
		 const uint8_t *sealed, size_t len, uint8_t **plain, size_t *plainlen);

#endif
