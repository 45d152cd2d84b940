/* test_keys.c - PEM public/private keys: accepted formats, refusals, alg fit. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keys.h"
#include "testutil.h"
#include "util.h"

static char *pem_of(EVP_PKEY *pk, int which)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	ck_assert_ptr_nonnull(b);
	switch (which) {
	case 0:
		ck_assert_int_eq(PEM_write_bio_PUBKEY(b, pk), 1);               /* SPKI */
		break;
	case 1:
		ck_assert_int_eq(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
		break;
	case 2:
		ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(b, pk, NULL, NULL, 0, NULL,
		    NULL), 1);
		break;
	case 3:
		ck_assert_int_eq(PEM_write_bio_PrivateKey(b, pk, EVP_aes_128_cbc(), NULL, 0, NULL,
		    (void *)"secret"), 1);
		break;
	}
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static const char *write_tmp(const char *name, const char *text)
{
	static char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tu_tempdir(), name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_alg_names)
{
	ck_assert_int_eq(keys_alg_from_name("RS256", 5), KEY_ALG_RS256);
	ck_assert_int_eq(keys_alg_from_name("ES256", 5), KEY_ALG_ES256);
	ck_assert_int_eq(keys_alg_from_name("rs256", 5), KEY_ALG_NONE);
	ck_assert_int_eq(keys_alg_from_name("RS2560", 6), KEY_ALG_NONE);
	ck_assert_int_eq(keys_alg_from_name("RS25", 4), KEY_ALG_NONE);
	ck_assert_int_eq(keys_alg_from_name("none", 4), KEY_ALG_NONE);
	ck_assert_int_eq(keys_alg_from_name("HS256", 5), KEY_ALG_NONE);
	ck_assert_int_eq(keys_alg_from_name(NULL, 0), KEY_ALG_NONE);
	ck_assert_str_eq(keys_alg_name(KEY_ALG_RS256), "RS256");
	ck_assert_str_eq(keys_alg_name(KEY_ALG_ES256), "ES256");
}
END_TEST

/* Third-party PEMs: Scaleway's PKCS#1 RSA-4096, RFC 7515's SPKI RSA and EC, Wycheproof's. */
START_TEST(test_vector_pems)
{
	static const struct {
		const char *file;
		enum key_alg alg;
		int bits;
	} files[] = {
		{ "wycheproof/derived-pem/RS256_2048.pub.pem", KEY_ALG_RS256, 2048 },
		{ "wycheproof/derived-pem/kid-rsa-sign.pub.pem", KEY_ALG_RS256, 2048 },
		{ "wycheproof/derived-pem/kid-ec-sign.pub.pem", KEY_ALG_ES256, 256 },
	};
	json_error_t jerr;
	json_t *sw = json_load_file(tu_vector_path("scaleway-tokens.json"), 0, &jerr);
	json_t *rfc = json_load_file(tu_vector_path("rfc7515/rfc7515_A2_A3.json"), 0, &jerr);
	json_t *t;
	char err[256];
	EVP_PKEY *pk;
	size_t i, n = 0;

	ck_assert_ptr_nonnull(sw);
	ck_assert_ptr_nonnull(rfc);
	json_array_foreach(json_object_get(sw, "tokens"), i, t) {
		const char *pem = json_string_value(json_object_get(t, "public_key_pem"));

		ck_assert_ptr_nonnull(strstr(pem, "BEGIN RSA PUBLIC KEY"));
		pk = keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err));
		ck_assert_msg(pk != NULL, "%s", err);
		ck_assert_int_eq(EVP_PKEY_get_bits(pk), 4096);
		EVP_PKEY_free(pk);
		/* an RSA key is never an ES256 key */
		ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_ES256, err,
		    sizeof(err)));
		ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_NONE, err,
		    sizeof(err)));
		n++;
	}
	ck_assert_int_eq(n, 34);
	json_array_foreach(json_object_get(rfc, "vectors"), i, t) {
		const char *pem = json_string_value(json_object_get(t, "public_pem"));
		const char *alg = json_string_value(json_object_get(t, "alg"));
		enum key_alg a = keys_alg_from_name(alg, strlen(alg));

		pk = keys_public_from_pem(pem, strlen(pem), a, err, sizeof(err));
		ck_assert_msg(pk != NULL, "%s", err);
		EVP_PKEY_free(pk);
		ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem),
		    a == KEY_ALG_RS256 ? KEY_ALG_ES256 : KEY_ALG_RS256, err, sizeof(err)));
	}
	for (i = 0; i < ARRAY_LEN(files); i++) {
		pk = keys_load_public(tu_vector_path(files[i].file), files[i].alg, err, sizeof(err));
		ck_assert_msg(pk != NULL, "%s: %s", files[i].file, err);
		ck_assert_int_eq(EVP_PKEY_get_bits(pk), files[i].bits);
		EVP_PKEY_free(pk);
	}
	json_decref(sw);
	json_decref(rfc);
}
END_TEST

/* Keys that do not fit: small RSA, other curves, private keys, certificates, garbage. */
START_TEST(test_refusals)
{
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char err[256], *pem, *p, cert[4096];
	EVP_PKEY *pk;

	ck_assert_ptr_nonnull(rsa1024);
	ck_assert_ptr_nonnull(ed);
	pem = pem_of(rsa1024, 0);
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "1024"));
	free(pem);
	pem = pem_of(p384, 0);
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_ES256, err, sizeof(err)));
	free(pem);
	pem = pem_of(ed, 0);
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_ES256, err, sizeof(err)));
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err)));
	free(pem);
	pem = pem_of(p256, 0);
	pk = keys_public_from_pem(pem, strlen(pem), KEY_ALG_ES256, err, sizeof(err));
	ck_assert_msg(pk != NULL, "%s", err);
	EVP_PKEY_free(pk);
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err)));
	free(pem);
	/* an RSA SPKI body under a certificate label: refused by its label */
	pem = pem_of(rsa2048, 0);
	snprintf(cert, sizeof(cert), "-----BEGIN CERTIFICATE-----%s", strchr(pem + 11, '\n'));
	p = strstr(cert, "-----END PUBLIC KEY-----");
	ck_assert_ptr_nonnull(p);
	strcpy(p, "-----END CERTIFICATE-----\n");
	ck_assert_ptr_null(keys_public_from_pem(cert, strlen(cert), KEY_ALG_RS256, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "CERTIFICATE"));
	/* SPKI RSA-2048 itself is fine */
	pk = keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err));
	ck_assert_ptr_nonnull(pk);
	EVP_PKEY_free(pk);
	/* a truncated PEM body */
	pem[strlen(pem) / 2] = '\0';
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err)));
	free(pem);
	/* private keys are not public keys */
	pem = pem_of(rsa2048, 1);
	ck_assert_ptr_null(keys_public_from_pem(pem, strlen(pem), KEY_ALG_RS256, err, sizeof(err)));
	free(pem);
	ck_assert_ptr_null(keys_public_from_pem("", 0, KEY_ALG_RS256, err, sizeof(err)));
	ck_assert_ptr_null(keys_public_from_pem("garbage", 7, KEY_ALG_RS256, err, sizeof(err)));
	ck_assert_ptr_null(keys_load_public("/nonexistent/key.pem", KEY_ALG_RS256, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/key.pem"));
	ck_assert_ptr_null(keys_load_public("/", KEY_ALG_RS256, err, sizeof(err)));
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(ed);
}
END_TEST

/* Private keys for minting: PKCS#8 and traditional; encrypted ones fail without prompting. */
START_TEST(test_private)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char err[256], *pem;
	const char *path;
	EVP_PKEY *pk;
	int which;

	for (which = 1; which <= 2; which++) {
		pem = pem_of(rsa, which);
		path = write_tmp("rsa.pem", pem);
		pk = keys_load_private(path, KEY_ALG_RS256, err, sizeof(err));
		ck_assert_msg(pk != NULL, "%s", err);
		ck_assert_int_eq(EVP_PKEY_eq(pk, rsa), 1);
		EVP_PKEY_free(pk);
		ck_assert_ptr_null(keys_load_private(path, KEY_ALG_ES256, err, sizeof(err)));
		/* a private key file is not a public key file */
		ck_assert_ptr_null(keys_load_public(path, KEY_ALG_RS256, err, sizeof(err)));
		free(pem);
		pem = pem_of(ec, which);
		path = write_tmp("ec.pem", pem);
		pk = keys_load_private(path, KEY_ALG_ES256, err, sizeof(err));
		ck_assert_msg(pk != NULL, "%s", err);
		EVP_PKEY_free(pk);
		free(pem);
	}
	pem = pem_of(rsa, 3);
	path = write_tmp("enc.pem", pem);
	ck_assert_ptr_null(keys_load_private(path, KEY_ALG_RS256, err, sizeof(err)));
	free(pem);
	/* public from file: SPKI written to disk */
	pem = pem_of(ec, 0);
	path = write_tmp("ec.pub", pem);
	pk = keys_load_public(path, KEY_ALG_ES256, err, sizeof(err));
	ck_assert_msg(pk != NULL, "%s", err);
	ck_assert_int_eq(EVP_PKEY_eq(pk, ec), 1);
	EVP_PKEY_free(pk);
	free(pem);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_alg_names);
	tcase_add_test(tc, test_vector_pems);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_private);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
