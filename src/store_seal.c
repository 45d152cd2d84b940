/* store_seal.c - AES-256-GCM sealing of generated private keys kept in the shared store. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store_seal.h"
#include "util.h"

#define STORE_SEAL_AD_TAG "fngate-key-v1"

int store_seal_key_load(const char *path, uint8_t key[STORE_SEAL_KEY_LEN], char *err, size_t errlen)
{
	struct stat st;
	uint8_t extra;
	size_t got = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		util_seterr(err, errlen, "key_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		util_seterr(err, errlen, "key_file %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		util_seterr(err, errlen, "key_file %s: not a regular file", path);
		goto cleanup;
	}
	/* The key decrypts every node's signing keys: anyone else able to read it defeats the point. */
	if ((st.st_mode & 077) != 0) {
		util_seterr(err, errlen, "key_file %s: mode %04o is too open (0600 or 0400 required)",
			    path, (unsigned)(st.st_mode & 07777));
		goto cleanup;
	}
	while (got < STORE_SEAL_KEY_LEN) {
		ssize_t n = read(fd, key + got, STORE_SEAL_KEY_LEN - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_seterr(err, errlen, "key_file %s: %s", path, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != STORE_SEAL_KEY_LEN || read(fd, &extra, 1) != 0) {
		util_seterr(err, errlen, "key_file %s: must hold exactly %d bytes (head -c 32 /dev/urandom)",
			    path, STORE_SEAL_KEY_LEN);
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc != 0)
		util_wipe(key, STORE_SEAL_KEY_LEN);
	close(fd);
	return rc;
}

/* The associated data: tag NUL namespace NUL kid. NULL on allocation failure; caller frees. */
static uint8_t *store_seal_ad(const char *namespace_id, const char *kid, size_t *adlen)
{
	size_t t = sizeof(STORE_SEAL_AD_TAG), n = strlen(namespace_id) + 1, k = strlen(kid);
	uint8_t *ad = malloc(t + n + k + 1);

	if (ad == NULL)
		return NULL;
	memcpy(ad, STORE_SEAL_AD_TAG, t);
	memcpy(ad + t, namespace_id, n);
	memcpy(ad + t + n, kid, k);
	*adlen = t + n + k;
	return ad;
}

/* One GCM pass: encrypt (enc=1: tag written to tag) or decrypt (enc=0: tag checked). 0 / -1. */
static int store_seal_gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *ad,
			  size_t adlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, rc = -1;

	if (ctx == NULL || len > INT32_MAX || adlen > INT32_MAX)
		goto cleanup;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, STORE_SEAL_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto cleanup;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, STORE_SEAL_TAG_LEN, tag) != 1)
		goto cleanup;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
		goto cleanup;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, STORE_SEAL_TAG_LEN, tag) != 1)
		goto cleanup;
	rc = 0;
cleanup:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int store_seal(const uint8_t key[STORE_SEAL_KEY_LEN], const char *namespace_id, const char *kid,
	       const uint8_t *plain, size_t len, uint8_t **out, size_t *outlen)
{
	size_t adlen;
	uint8_t *ad = store_seal_ad(namespace_id, kid, &adlen);
	uint8_t *buf = malloc(len + STORE_SEAL_OVERHEAD);
	int rc = -1;

	if (ad == NULL || buf == NULL || util_random(buf, STORE_SEAL_NONCE_LEN) != 0)
		goto cleanup;
	if (store_seal_gcm(1, key, buf, ad, adlen, plain, len, buf + STORE_SEAL_NONCE_LEN,
			   buf + STORE_SEAL_NONCE_LEN + len) != 0)
		goto cleanup;
	*out = buf;
	*outlen = len + STORE_SEAL_OVERHEAD;
	buf = NULL;
	rc = 0;
cleanup:
	free(ad);
	free(buf);
	return rc;
}

int store_unseal(const uint8_t key[STORE_SEAL_KEY_LEN], const char *namespace_id, const char *kid,
		 const uint8_t *sealed, size_t len, uint8_t **plain, size_t *plainlen)
{
	size_t adlen, n;
	uint8_t *ad = NULL, *buf = NULL;
	uint8_t tag[STORE_SEAL_TAG_LEN];
	int rc = -1;

	if (len < STORE_SEAL_OVERHEAD)
		return -1;
	n = len - STORE_SEAL_OVERHEAD;
	ad = store_seal_ad(namespace_id, kid, &adlen);
	buf = malloc(n + 1);
	if (ad == NULL || buf == NULL)
		goto cleanup;
	memcpy(tag, sealed + len - STORE_SEAL_TAG_LEN, STORE_SEAL_TAG_LEN);
	if (store_seal_gcm(0, key, sealed, ad, adlen, sealed + STORE_SEAL_NONCE_LEN, n, buf, tag) != 0)
		goto cleanup;
	buf[n] = '\0';
	*plain = buf;
	*plainlen = n;
	buf = NULL;
	rc = 0;
cleanup:
	if (buf != NULL) {
		/* A failed authentication may have left unauthenticated plaintext behind. */
		util_wipe(buf, n + 1);
		free(buf);
	}
	free(ad);
	return rc;
}
