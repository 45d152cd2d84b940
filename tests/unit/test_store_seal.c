/* test_store_seal.c - sealing generated private keys for the shared store: round trip, every byte
 * of a sealed record flipped fails, another namespace/kid/key fails, fresh nonces, and the key
 * file's checks (size, mode, type). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_seal.h"
#include "util.h"
#include "testutil.h"

static const uint8_t key1[STORE_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[STORE_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdeF";
static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIIE...not a real key...\n"
			  "-----END PRIVATE KEY-----\n";

static void seal(const uint8_t *key, const char *ns, const char *kid, uint8_t **out, size_t *len)
{
	ck_assert_int_eq(store_seal(key, ns, kid, (const uint8_t *)pem, strlen(pem), out, len), 0);
	ck_assert_uint_eq(*len, strlen(pem) + STORE_SEAL_OVERHEAD);
}

START_TEST(test_round_trip)
{
	uint8_t *s, *p;
	size_t slen, plen;

	seal(key1, "ns1", "k0123456789abcdef", &s, &slen);
	/* The plaintext does not appear in the record. */
	ck_assert_ptr_null(memmem(s, slen, "PRIVATE KEY", 11));
	ck_assert_int_eq(store_unseal(key1, "ns1", "k0123456789abcdef", s, slen, &p, &plen), 0);
	ck_assert_uint_eq(plen, strlen(pem));
	ck_assert_str_eq((const char *)p, pem);
	util_wipe(p, plen);
	free(p);
	free(s);
	/* An empty plaintext round-trips too. */
	ck_assert_int_eq(store_seal(key1, "n", "k", (const uint8_t *)"", 0, &s, &slen), 0);
	ck_assert_int_eq(store_unseal(key1, "n", "k", s, slen, &p, &plen), 0);
	ck_assert_uint_eq(plen, 0);
	free(p);
	free(s);
}
END_TEST

START_TEST(test_every_byte_flipped_fails)
{
	uint8_t *s, *p = NULL;
	size_t slen, plen;

	seal(key1, "ns1", "kid1", &s, &slen);
	for (size_t i = 0; i < slen; i++) {
		for (unsigned bit = 1; bit < 256; bit <<= 1) {
			s[i] ^= (uint8_t)bit;
			ck_assert_msg(store_unseal(key1, "ns1", "kid1", s, slen, &p, &plen) == -1,
				      "byte %zu bit %u flipped was accepted", i, bit);
			s[i] ^= (uint8_t)bit;
		}
	}
	/* Truncated at every length, and an extra byte. */
	for (size_t n = 0; n < slen; n++)
		ck_assert_int_eq(store_unseal(key1, "ns1", "kid1", s, n, &p, &plen), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(store_unseal(key1, "ns1", "kid1", s, slen, &p, &plen), 0);
	free(p);
	free(s);
}
END_TEST

START_TEST(test_binding_and_wrong_key)
{
	static const struct {
		const uint8_t *key;
		const char *ns, *kid;
	} bad[] = {
		{key2, "ns1", "kid1"},          /* another key file */
		{key1, "ns2", "kid1"},          /* copied to another namespace */
		{key1, "ns1", "kid2"},          /* under another kid */
		{key1, "ns1k", "id1"},          /* the NUL separator: not the same pair */
		{key1, "", "ns1kid1"},
	};
	uint8_t *s, *p = NULL;
	size_t slen, plen;

	seal(key1, "ns1", "kid1", &s, &slen);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(store_unseal(bad[i].key, bad[i].ns, bad[i].kid, s, slen, &p, &plen) == -1,
			      "case %zu accepted", i);
	ck_assert_ptr_null(p);
	free(s);
}
END_TEST

START_TEST(test_fresh_nonce)
{
	uint8_t *a, *b;
	size_t alen, blen;

	seal(key1, "ns1", "kid1", &a, &alen);
	seal(key1, "ns1", "kid1", &b, &blen);
	ck_assert_int_ne(memcmp(a, b, STORE_SEAL_NONCE_LEN), 0);
	ck_assert_int_ne(memcmp(a, b, alen), 0);
	free(a);
	free(b);
}
END_TEST

/* Write a key file of len bytes with mode; returns its path (static buffer). */
static const char *key_file(size_t len, mode_t mode)
{
	static char path[4096];
	uint8_t buf[64];
	int fd;

	memset(buf, 0x5a, sizeof(buf));
	snprintf(path, sizeof(path), "%s/fleet.key", tu_tempdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(test_key_file)
{
	static const struct {
		size_t len;
		mode_t mode;
		int rc;
		const char *msg;
	} cases[] = {
		{32, 0600, 0, NULL},
		{32, 0400, 0, NULL},
		{31, 0600, -1, "exactly 32 bytes"},
		{0, 0600, -1, "exactly 32 bytes"},
		{33, 0600, -1, "exactly 32 bytes"},
		{64, 0600, -1, "exactly 32 bytes"},
		{32, 0640, -1, "too open"},
		{32, 0604, -1, "too open"},
		{32, 0644, -1, "too open"},
		{32, 0660, -1, "too open"},
		{32, 0601, -1, "too open"},
	};
	uint8_t key[STORE_SEAL_KEY_LEN];
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = key_file(cases[i].len, cases[i].mode);
		err[0] = '\0';
		ck_assert_msg(store_seal_key_load(path, key, err, sizeof(err)) == cases[i].rc,
			      "case %zu: %s", i, err);
		if (cases[i].msg != NULL)
			ck_assert_msg(strstr(err, cases[i].msg) != NULL, "case %zu: %s", i, err);
		else
			ck_assert_int_eq(key[0], 0x5a);
	}
	ck_assert_int_eq(store_seal_key_load("/nonexistent/fleet.key", key, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_int_eq(store_seal_key_load(tu_tempdir(), key, err, sizeof(err)), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store_seal");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_every_byte_flipped_fails);
	tcase_add_test(tc, test_binding_and_wrong_key);
	tcase_add_test(tc, test_fresh_nonce);
	tcase_add_test(tc, test_key_file);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
