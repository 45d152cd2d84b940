/* keys.c - public and private keys parsed once from PEM at load, checked against the pinned alg. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util.h"

/* A PEM key file is a few KiB; anything much larger is not a key. */
#define KEYS_FILE_MAX		(64 * 1024)
/* RSA above this only makes every verification slower; no issuer we meet uses it. */
#define KEYS_RSA_MIN_BITS	2048
#define KEYS_RSA_MAX_BITS	8192

enum key_alg keys_alg_from_name(const char *name, size_t len)
{
	if (name == NULL)
		return KEY_ALG_NONE;
	if (len == 5 && memcmp(name, "RS256", 5) == 0)
		return KEY_ALG_RS256;
	if (len == 5 && memcmp(name, "ES256", 5) == 0)
		return KEY_ALG_ES256;
	return KEY_ALG_NONE;
}

const char *keys_alg_name(enum key_alg alg)
{
	switch (alg) {
	case KEY_ALG_RS256:
		return "RS256";
	case KEY_ALG_ES256:
		return "ES256";
	case KEY_ALG_NONE:
		break;
	}
	return "none";
}

/* Check that a parsed key fits the pinned alg. 0 / -1 with a message. */
static int keys_check(EVP_PKEY *pk, enum key_alg alg, char *err, size_t errlen)
{
	char group[64];
	size_t glen = 0;
	int bits;

	switch (alg) {
	case KEY_ALG_RS256:
		/* EVP_PKEY_is_a("RSA") is false for RSA-PSS keys: those are refused too. */
		if (!EVP_PKEY_is_a(pk, "RSA")) {
			util_seterr(err, errlen, "RS256 needs an RSA key, this is %s",
			    EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "unknown");
			return -1;
		}
		bits = EVP_PKEY_get_bits(pk);
		if (bits < KEYS_RSA_MIN_BITS || bits > KEYS_RSA_MAX_BITS) {
			util_seterr(err, errlen, "RSA key of %d bits refused (%d to %d bits)", bits,
			    KEYS_RSA_MIN_BITS, KEYS_RSA_MAX_BITS);
			return -1;
		}
		return 0;
	case KEY_ALG_ES256:
		if (!EVP_PKEY_is_a(pk, "EC")) {
			util_seterr(err, errlen, "ES256 needs an EC P-256 key, this is %s",
			    EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "unknown");
			return -1;
		}
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
		    sizeof(group), &glen) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			util_seterr(err, errlen, "ES256 needs an EC key on P-256, this curve is %s",
			    glen > 0 ? group : "unknown");
			return -1;
		}
		return 0;
	case KEY_ALG_NONE:
		break;
	}
	util_seterr(err, errlen, "no signature algorithm pinned for this key");
	return -1;
}

/* Read a whole (small) file into a NUL-terminated buffer. NULL with a message. */
static char *keys_read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEYS_FILE_MAX) {
		util_seterr(err, errlen, "%s: not a regular file of at most %d bytes", path, KEYS_FILE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		util_seterr(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			util_seterr(err, errlen, "%s: read failed", path);
			goto fail;
		}
		off += (size_t)n;
	}
	buf[off] = '\0';
	*lenp = off;
	close(fd);
	return buf;
fail:
	if (buf != NULL) {
		util_wipe(buf, (size_t)st.st_size + 1);
		free(buf);
		buf = NULL;
	}
	close(fd);
	return NULL;
}

EVP_PKEY *keys_public_from_pem(const char *pem, size_t len, enum key_alg alg, char *err,
    size_t errlen)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long derlen = 0;

	if (pem == NULL || len == 0 || len > KEYS_FILE_MAX) {
		util_seterr(err, errlen, "empty or oversized PEM");
		return NULL;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto cleanup;
	}
	/* Read the first PEM block ourselves so the label decides the format: a certificate,
	 * a private key or anything else is refused instead of being silently accepted. */
	if (PEM_read_bio(bio, &name, &header, &der, &derlen) != 1) {
		util_seterr(err, errlen, "no PEM block found");
		goto cleanup;
	}
	if (header != NULL && header[0] != '\0') {
		util_seterr(err, errlen, "encrypted or annotated PEM refused");
		goto cleanup;
	}
	p = der;
	if (strcmp(name, "RSA PUBLIC KEY") == 0) {
		/* PKCS#1 RSAPublicKey. */
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, derlen);
	} else if (strcmp(name, "PUBLIC KEY") == 0) {
		/* SubjectPublicKeyInfo: RSA or EC. */
		pk = d2i_PUBKEY(NULL, &p, derlen);
	} else {
		util_seterr(err, errlen, "PEM \"%s\" refused: expected \"RSA PUBLIC KEY\" or \"PUBLIC KEY\"",
		    name);
		goto cleanup;
	}
	if (pk == NULL || p != der + derlen) {
		util_seterr(err, errlen, "malformed %s", name);
		EVP_PKEY_free(pk);
		pk = NULL;
		goto cleanup;
	}
	if (keys_check(pk, alg, err, errlen) == -1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
cleanup:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return pk;
}

EVP_PKEY *keys_load_public(const char *path, enum key_alg alg, char *err, size_t errlen)
{
	EVP_PKEY *pk;
	char msg[256];
	char *buf;
	size_t len = 0;

	buf = keys_read_file(path, &len, err, errlen);
	if (buf == NULL)
		return NULL;
	pk = keys_public_from_pem(buf, len, alg, msg, sizeof(msg));
	if (pk == NULL)
		util_seterr(err, errlen, "%s: %s", path, msg);
	free(buf);
	return pk;
}

EVP_PKEY *keys_load_private(const char *path, enum key_alg alg, char *err, size_t errlen)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char msg[256];
	char *buf;
	size_t len = 0;

	buf = keys_read_file(path, &len, err, errlen);
	if (buf == NULL)
		return NULL;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		util_seterr(err, errlen, "%s: out of memory", path);
		goto cleanup;
	}
	/* PKCS#8 ("PRIVATE KEY") or traditional ("RSA PRIVATE KEY", "EC PRIVATE KEY"); no
	 * passphrase callback: an encrypted key fails here instead of prompting. */
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (pk == NULL) {
		util_seterr(err, errlen, "%s: not an unencrypted PEM private key", path);
		goto cleanup;
	}
	if (keys_check(pk, alg, msg, sizeof(msg)) == -1) {
		util_seterr(err, errlen, "%s: %s", path, msg);
		EVP_PKEY_free(pk);
		pk = NULL;
	}
cleanup:
	ERR_clear_error();
	BIO_free(bio);
	util_wipe(buf, len);
	free(buf);
	return pk;
}
