/* signkeys.h - namespace signing keys (signkeys.c): the key files fngate generates in
 * state_dir/keys/<ns>/ (shared by the daemon, `fngate keygen` and fleet mode), and the set of
 * signing keys loaded for minting tokens, one per token-issuing namespace. Main thread only. */
#ifndef FNGATE_SIGNKEYS_H
#define FNGATE_SIGNKEYS_H

#include <stddef.h>

#include "keys.h"

struct conf;
struct signkeys;

/* An empty set (signkeys_load fills it). NULL when out of memory. */
struct signkeys *signkeys_new(void);
void signkeys_free(struct signkeys *set);

/* For every namespace of c with issue_tokens: find its signing key (the configured signing_key
 * PEM, else the current key of state_dir/keys/<ns>/, generated now (RS256, 2048 bits) when there
 * is none), keep it in set for minting, and make sure c trusts it: when no key of the namespace
 * has the signing key's kid, its public half is appended to ns->keys (so a namespace that issues
 * tokens always accepts what it issues). Old keys (after a rotation) are trusted only while the
 * configuration lists them. Call before publishing c (at start and on every reload). Returns 0
 * (set replaced whole), or -1 with a message in err (set unchanged). */
int signkeys_load(struct signkeys *set, const char *state_dir, struct conf *c, char *err,
		  size_t errlen);

/* The signing key of namespace ns_id in set: *pkey (owned by set, valid until the next
 * signkeys_load), *alg, *kid. Returns 0, -1 when none. */
int signkeys_find(const struct signkeys *set, const char *ns_id, EVP_PKEY **pkey,
		  enum key_alg *alg, const char **kid);

/* --- key files in state_dir --- */

/* The kid of a public key: "k" + the first 16 hex digits of SHA-256 of its SPKI DER.
 * out must hold 18 bytes. Returns 0 / -1. */
int signkeys_kid(EVP_PKEY *pkey, char *out, size_t outlen);

/* Generate a key pair for namespace ns_id under state_dir/keys/<ns_id>/: <kid>.pem (private,
 * 0600) and <kid>.pub.pem (SPKI), and make it the current signing key (file "current", written
 * atomically). bits applies to RS256 (2048, 3072, 4096). kid_out gets the kid (>= 18 bytes).
 * Returns 0, or -1 with a message in err. */
int signkeys_generate(const char *state_dir, const char *ns_id, enum key_alg alg, int bits,
		      char *kid_out, size_t kidlen, char *err, size_t errlen);

/* Fleet mode: ns_id's current generated signing key in state_dir, made now when there is none
 * (RS256, 2048 bits): kid, and its private PEM in *pem (malloc'd, NUL-terminated; the caller
 * wipes it with util_wipe and frees it). 0, or -1 with err. */
int signkeys_generated(const char *state_dir, const char *ns_id, char *kid, size_t kidlen,
		       char **pem, size_t *pemlen, char *err, size_t errlen);

/* Fleet mode: make pem[0..len) (an RSA or EC private key, the fleet's generated key of ns_id,
 * read from the store) ns_id's current generated key in state_dir, written as
 * signkeys_generate writes one; kid gets its kid. 0, or -1 with err. */
int signkeys_adopt(const char *state_dir, const char *ns_id, const char *pem, size_t len,
		   char *kid, size_t kidlen, char *err, size_t errlen);

/* The current signing kid of ns_id in state_dir (from "current"): 0, or -1 when none. */
int signkeys_current_kid(const char *state_dir, const char *ns_id, char *kid_out, size_t kidlen);

#endif
