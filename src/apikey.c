/* apikey.c - API keys: the secret's format (prefix, id, 256 random bits), parsing and hashing. */
#include "apikey.h"

#include <string.h>

#include <openssl/evp.h>

#include "b64url.h"
#include "tcache.h"
#include "util.h"

bool apikey_id_ok(const char *id)
{
	size_t i;

	for (i = 0; i < APIKEY_ID_LEN; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return id[i] == '\0';
}

int apikey_parse(const char *tok, size_t len, const char **id)
{
	const char *p = tok + APIKEY_PREFIX_LEN;
	unsigned char raw[B64URL_DECODED_MAX(APIKEY_RANDOM_LEN)];
	long n;

	*id = NULL;
	if (len != APIKEY_SECRET_LEN || !apikey_claims(tok, len))
		return -1;
	for (size_t i = 0; i < APIKEY_ID_LEN; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return -1;
	}
	if (p[APIKEY_ID_LEN] != '_')
		return -1;
	/* Decoded only to hold the random part to its alphabet and canonical form: the hash is
	 * of the whole text, so two spellings of one value must not both exist. */
	n = b64url_decode(p + APIKEY_ID_LEN + 1, APIKEY_RANDOM_LEN, raw, sizeof(raw));
	util_wipe(raw, sizeof(raw));
	if (n != APIKEY_RANDOM_BYTES)
		return -1;
	*id = p;
	return 0;
}

int apikey_generate(char *id, char *secret, unsigned char hash[APIKEY_HASH_LEN])
{
	unsigned char idraw[APIKEY_ID_BYTES], rnd[APIKEY_RANDOM_BYTES];
	char *p = secret;
	int rc = -1;

	if (util_random(idraw, sizeof(idraw)) != 0 || util_random(rnd, sizeof(rnd)) != 0)
		goto cleanup;
	util_hex(idraw, sizeof(idraw), id);
	memcpy(p, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
	p += APIKEY_PREFIX_LEN;
	memcpy(p, id, APIKEY_ID_LEN);
	p += APIKEY_ID_LEN;
	*p++ = '_';
	if (b64url_encode(rnd, sizeof(rnd), p, APIKEY_RANDOM_LEN + 1) != APIKEY_RANDOM_LEN)
		goto cleanup;
	/* Checked here (apikey_hash cannot fail, it makes a value that matches nothing): a key
	 * stored with a wrong hash would never open anything. */
	if (EVP_Digest(secret, APIKEY_SECRET_LEN, hash, NULL, EVP_sha256(), NULL) != 1)
		goto cleanup;
	rc = 0;
cleanup:
	util_wipe(rnd, sizeof(rnd));
	if (rc != 0)
		util_wipe(secret, APIKEY_SECRET_LEN + 1);
	return rc;
}

void apikey_hash(const char *secret, size_t len, unsigned char hash[APIKEY_HASH_LEN])
{
	tcache_digest(secret, len, hash);
}
