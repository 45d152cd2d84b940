/* test_apikey.c - API key secrets: the generated format, the parser's refusals (each test secret
 * is described in its row), and the hash (SHA-256 of the whole secret, the same whether made at
 * creation or on the request path). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "apikey.h"
#include "testutil.h"
#include "util.h"

/* A generated key: "fngak_" + 20 lowercase hex (the id) + "_" + 43 base64url characters, which
 * parses back to its id; its hash is SHA-256 of the secret; ids and secrets differ each time. */
START_TEST(test_generate)
{
	char id[APIKEY_ID_LEN + 1], secret[APIKEY_SECRET_LEN + 1];
	char id2[APIKEY_ID_LEN + 1], secret2[APIKEY_SECRET_LEN + 1];
	unsigned char hash[APIKEY_HASH_LEN], want[32], again[APIKEY_HASH_LEN];
	unsigned int mdlen = 0;
	const char *pid;

	ck_assert_int_eq(apikey_generate(id, secret, hash), 0);
	ck_assert_int_eq((int)strlen(secret), APIKEY_SECRET_LEN);
	ck_assert_int_eq(APIKEY_SECRET_LEN, 70);
	ck_assert(apikey_id_ok(id));
	ck_assert(strncmp(secret, "fngak_", 6) == 0);
	ck_assert(memcmp(secret + 6, id, APIKEY_ID_LEN) == 0);
	ck_assert_int_eq(secret[6 + APIKEY_ID_LEN], '_');
	ck_assert(apikey_claims(secret, strlen(secret)));
	ck_assert_int_eq(apikey_parse(secret, strlen(secret), &pid), 0);
	ck_assert_ptr_eq(pid, secret + 6);
	ck_assert_int_eq(EVP_Digest(secret, strlen(secret), want, &mdlen, EVP_sha256(), NULL), 1);
	ck_assert_mem_eq(hash, want, 32);
	apikey_hash(secret, strlen(secret), again);
	ck_assert_mem_eq(again, want, 32);

	ck_assert_int_eq(apikey_generate(id2, secret2, hash), 0);
	ck_assert_str_ne(id, id2);
	ck_assert(memcmp(secret + 27, secret2 + 27, APIKEY_RANDOM_LEN) != 0);
	util_wipe(secret, sizeof(secret));
	util_wipe(secret2, sizeof(secret2));
}
END_TEST

/* The parser: a row is a secret built from a valid one by one change, and whether it parses. */
START_TEST(test_parse_table)
{
	/* a valid secret: id 0123456789abcdef0123, random part 43 'A'... ending in 'A' (trailing
	 * bits zero: canonical) */
	static const char good[] = "fngak_0123456789abcdef0123_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const struct {
		const char *what;
		size_t      at;         /* byte to replace (SIZE_MAX: none) */
		char        with;
		int         cut;        /* bytes removed from the end (-1: one appended) */
		int         want;
	} rows[] = {
		{"the valid secret", SIZE_MAX, 0, 0, 0},
		{"random part with '-' and '_' (base64url)", 31, '-', 0, 0},
		{"random part '_'", 32, '_', 0, 0},
		{"one byte short", SIZE_MAX, 0, 1, -1},
		{"one byte long", SIZE_MAX, 0, -1, -1},
		{"prefix fngax_", 4, 'x', 0, -1},
		{"prefix Fngak_ (case matters)", 0, 'F', 0, -1},
		{"uppercase hex in the id", 16, 'A', 0, -1},
		{"non-hex in the id", 7, 'g', 0, -1},
		{"'-' instead of the '_' after the id", 26, '-', 0, -1},
		{"'+' (base64, not base64url)", 40, '+', 0, -1},
		{"'/' (base64, not base64url)", 40, '/', 0, -1},
		{"'=' padding", 69, '=', 0, -1},
		{"non-canonical last character (trailing bits set)", 69, 'B', 0, -1},
		{"a dot (what a JWT would have)", 50, '.', 0, -1},
		{"a NUL byte", 50, '\0', 0, -1},
	};
	char buf[128];
	const char *id;

	ck_assert_int_eq((int)strlen(good), APIKEY_SECRET_LEN);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		size_t len = strlen(good);

		memcpy(buf, good, len + 1);
		if (rows[i].at != SIZE_MAX)
			buf[rows[i].at] = rows[i].with;
		if (rows[i].cut > 0)
			len -= (size_t)rows[i].cut;
		else if (rows[i].cut < 0)
			buf[len++] = 'A';
		ck_assert_msg(apikey_parse(buf, len, &id) == rows[i].want, "row %zu: %s", i,
			      rows[i].what);
		if (rows[i].want == 0)
			ck_assert_ptr_eq(id, buf + 6);
		else
			ck_assert_ptr_null(id);
	}
}
END_TEST

/* What claims to be a key (and is then never read as a JWT), and which ids are ids. */
START_TEST(test_claims_and_ids)
{
	static const struct {
		const char *s;
		bool        claims;
	} rows[] = {
		{"fngak_", true}, {"fngak_x", true}, {"fngak", false}, {"eyJhbGciOi.x.y", false},
		{"", false}, {"FNGAK_abc", false}, {"fngk_abc", false},   /* an admin key's prefix */
	};
	static const struct {
		const char *id;
		bool        ok;
	} ids[] = {
		{"0123456789abcdef0123", true}, {"0123456789abcdef012", false},
		{"0123456789abcdef01234", false}, {"0123456789ABCDEF0123", false},
		{"5a63dc51-1536-4784-a7de-845e0db6baa9", false}, {"", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(apikey_claims(rows[i].s, strlen(rows[i].s)) == rows[i].claims, "%s",
			      rows[i].s);
	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		ck_assert_msg(apikey_id_ok(ids[i].id) == ids[i].ok, "%s", ids[i].id);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("apikey");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_parse_table);
	tcase_add_test(tc, test_claims_and_ids);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
