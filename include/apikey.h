/* apikey.h - API keys: the credential's format, parsing and hashing. Free of any event loop so
 * unit tests drive it directly.
 *
 * A secret is "fngak_" + the key's id (APIKEY_ID_LEN lowercase hex digits) + "_" + 32 random
 * bytes in base64url (43 characters): 70 bytes. The fixed prefix lets secret scanners (GitHub's,
 * gitleaks...) recognise a leaked key, apart from admin keys ("fngk_"); the id in it makes the
 * gate's lookup one hash probe; the random part carries the 256 bits an attacker would have to
 * guess. Only SHA-256 of the whole secret is stored (docs/tokens.md says why a fast hash is right
 * here). */
#ifndef FNGATE_APIKEY_H
#define FNGATE_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define APIKEY_PREFIX       "fngak_"
#define APIKEY_PREFIX_LEN   6
#define APIKEY_ID_BYTES     10                      /* random bytes of an id */
#define APIKEY_ID_LEN       (2 * APIKEY_ID_BYTES)   /* its hex digits */
#define APIKEY_RANDOM_BYTES 32                      /* 256 bits */
#define APIKEY_RANDOM_LEN   43                      /* base64url of 32 bytes, no padding */
#define APIKEY_SECRET_LEN   (APIKEY_PREFIX_LEN + APIKEY_ID_LEN + 1 + APIKEY_RANDOM_LEN)
#define APIKEY_HASH_LEN     32                      /* SHA-256 */

/* Whether an X-Auth-Token value claims to be an API key (starts with the prefix): the gate then
 * parses it as one and never as a JWT. */
static inline bool apikey_claims(const char *tok, size_t len)
{
	return len >= APIKEY_PREFIX_LEN && memcmp(tok, APIKEY_PREFIX, APIKEY_PREFIX_LEN) == 0;
}

/* Whether id (NUL-terminated) has the shape of an API key id: APIKEY_ID_LEN lowercase hex. */
bool apikey_id_ok(const char *id);

/* Parse a secret (len bytes, not NUL-terminated): exactly APIKEY_SECRET_LEN bytes, the prefix,
 * an id of lowercase hex, '_', and 43 characters of canonical base64url. Returns 0 with *id
 * pointing at the id inside tok (APIKEY_ID_LEN bytes), or -1 when it is malformed. */
int apikey_parse(const char *tok, size_t len, const char **id);

/* A new key: a random id (id[APIKEY_ID_LEN + 1]), its secret (secret[APIKEY_SECRET_LEN + 1],
 * the caller wipes it with util_wipe after use) and the SHA-256 of the secret. 0, or -1 when
 * the random generator fails. */
int apikey_generate(char *id, char *secret, unsigned char hash[APIKEY_HASH_LEN]);

/* SHA-256 of a presented secret, with the calling thread's reused digest context (no
 * allocation on the request path, tcache_digest). */
void apikey_hash(const char *secret, size_t len, unsigned char hash[APIKEY_HASH_LEN]);

#endif
