/* test_tcache.c - the per-worker verified-token cache: bounds, staleness, negative entries. */
#include <check.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcache.h"
#include "token.h"
#include "util.h"

static const int NS_A = 1, NS_B = 2;    /* only their addresses matter */

static void digest_of(unsigned n, unsigned char d[32])
{
	char tok[32];

	snprintf(tok, sizeof(tok), "token-%u", n);
	tcache_digest(tok, strlen(tok), d);
}

static void claims_of(unsigned n, struct token_claims *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->jti, sizeof(c->jti), "jti-%u", n);
	strcpy(c->namespace_id, "ns");
}

START_TEST(test_digest_is_sha256)
{
	unsigned char d[32];
	char hex[65];

	tcache_digest("abc", 3, d);
	util_hex(d, 32, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	tcache_digest("", 0, d);
	util_hex(d, 32, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_hit_miss_and_keys)
{
	struct tcache *tc = tcache_new(8);
	struct token_claims in, out;
	struct tcache_stats st;
	unsigned char d[32], d2[32];

	ck_assert_ptr_nonnull(tc);
	digest_of(1, d);
	digest_of(2, d2);
	claims_of(1, &in);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), 0);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
	memset(&out, 0, sizeof(out));
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), TOKEN_OK);
	ck_assert_str_eq(out.jti, "jti-1");
	/* another namespace, another token, another generation: misses */
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_B, 1, 100, &out), 0);
	ck_assert_int_eq(tcache_lookup(tc, d2, &NS_A, 1, 100, &out), 0);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 2, 100, &out), 0);
	/* the stale entry was dropped: even the old generation misses now */
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), 0);
	tcache_get_stats(tc, &st);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.misses, 5);
	/* only OK / SIGNATURE / ALG are stored */
	tcache_insert(tc, d, &NS_A, 1, TOKEN_MALFORMED, &in, INT64_MAX);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_EXPIRED, &in, INT64_MAX);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_SCOPE, &in, INT64_MAX);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), 0);
	/* re-inserting the same key updates it in place */
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
	claims_of(9, &in);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), TOKEN_OK);
	ck_assert_str_eq(out.jti, "jti-9");
	tcache_clear(tc);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), 0);
	tcache_free(tc);
}
END_TEST

/* Negative entries: the status comes back, claims are not touched. */
START_TEST(test_negative_entries)
{
	struct tcache *tc = tcache_new(4);
	struct token_claims out;
	unsigned char d[32], d2[32];

	digest_of(1, d);
	digest_of(2, d2);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_SIGNATURE, NULL, INT64_MAX);
	tcache_insert(tc, d2, &NS_A, 1, TOKEN_ALG, NULL, INT64_MAX);
	memset(&out, 0x5a, sizeof(out));
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), TOKEN_SIGNATURE);
	ck_assert_int_eq((unsigned char)out.jti[0], 0x5a);
	ck_assert_int_eq(tcache_lookup(tc, d2, &NS_A, 1, 100, &out), TOKEN_ALG);
	/* an OK without claims is not stored */
	digest_of(3, d);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, NULL, INT64_MAX);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 100, &out), 0);
	tcache_free(tc);
}
END_TEST

/* An entry never outlives `expires`. */
START_TEST(test_expiry_bound)
{
	struct tcache *tc = tcache_new(4);
	struct token_claims in, out;
	unsigned char d[32];

	digest_of(1, d);
	claims_of(1, &in);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, 1000);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 999, &out), TOKEN_OK);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 1000, &out), 0);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 999, &out), 0);        /* dropped */
	tcache_free(tc);
}
END_TEST

/* Never more than `entries` live; CLOCK keeps the entries that are being hit. */
START_TEST(test_eviction_bound)
{
	struct tcache *tc = tcache_new(16);
	struct token_claims in, out;
	struct tcache_stats st;
	unsigned char d[32];
	unsigned i, live = 0;

	for (i = 0; i < 1000; i++) {
		digest_of(i, d);
		claims_of(i, &in);
		tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
		/* token 0 is hot: hit after every insert */
		digest_of(0, d);
		if (i == 0 || tcache_lookup(tc, d, &NS_A, 1, 1, &out) == TOKEN_OK)
			continue;
		ck_abort_msg("hot entry evicted at insert %u", i);
	}
	for (i = 0; i < 1000; i++) {
		digest_of(i, d);
		if (tcache_lookup(tc, d, &NS_A, 1, 1, &out) == TOKEN_OK) {
			ck_assert_str_eq(out.jti, (snprintf(in.jti, sizeof(in.jti), "jti-%u", i),
			    in.jti));
			live++;
		}
	}
	ck_assert_uint_le(live, 16);
	ck_assert_uint_ge(live, 2);     /* the hot one and the latest at least */
	tcache_get_stats(tc, &st);
	ck_assert_uint_ge(st.evictions, 1000 - 16);
	tcache_free(tc);
}
END_TEST

START_TEST(test_zero_and_null)
{
	struct tcache *tc = tcache_new(0);
	struct token_claims in, out;
	unsigned char d[32];

	ck_assert_ptr_nonnull(tc);
	digest_of(1, d);
	claims_of(1, &in);
	tcache_insert(tc, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
	ck_assert_int_eq(tcache_lookup(tc, d, &NS_A, 1, 1, &out), 0);
	tcache_free(tc);
	ck_assert_int_eq(tcache_lookup(NULL, d, &NS_A, 1, 1, &out), 0);
	tcache_insert(NULL, d, &NS_A, 1, TOKEN_OK, &in, INT64_MAX);
	tcache_clear(NULL);
	tcache_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcache");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_digest_is_sha256);
	tcase_add_test(tc, test_hit_miss_and_keys);
	tcase_add_test(tc, test_negative_entries);
	tcase_add_test(tc, test_expiry_bound);
	tcase_add_test(tc, test_eviction_bound);
	tcase_add_test(tc, test_zero_and_null);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
