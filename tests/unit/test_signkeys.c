/* test_signkeys.c - namespace signing keys (signkeys.c): generated key files in state_dir
 * (private 0600, public, "current"; rotation; a namespace id that is not path-safe and a weak RSA
 * size refused) and the set loaded for minting (a configured signing_key, a generated key, none
 * for a namespace that issues no token; a second load keeps the key and adds no duplicate). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "signkeys.h"
#include "testutil.h"

static char err[512];

START_TEST(test_keygen_and_signing_keys)
{
	const char *dir = tu_tempdir();
	char kid[32], kid2[32], cur[32], path[4096], conftext[2048];
	struct conf_errors errs = {0};
	struct signkeys *set;
	struct conf *c;
	struct stat st;
	EVP_PKEY *pk;
	enum key_alg alg;
	const char *skid;

	ck_assert_int_eq(signkeys_generate(dir, "ns-a", KEY_ALG_ES256, 0, kid, sizeof(kid), err,
					 sizeof(err)), 0);
	ck_assert_int_eq(kid[0], 'k');
	ck_assert_uint_eq(strlen(kid), 17);
	snprintf(path, sizeof(path), "%s/keys/ns-a/%s.pem", dir, kid);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(signkeys_current_kid(dir, "ns-a", cur, sizeof(cur)), 0);
	ck_assert_str_eq(cur, kid);
	/* Rotation: a new current key; the old files stay. */
	ck_assert_int_eq(signkeys_generate(dir, "ns-a", KEY_ALG_RS256, 2048, kid2, sizeof(kid2), err,
					 sizeof(err)), 0);
	ck_assert_str_ne(kid, kid2);
	ck_assert_int_eq(signkeys_current_kid(dir, "ns-a", cur, sizeof(cur)), 0);
	ck_assert_str_eq(cur, kid2);
	ck_assert_int_eq(stat(path, &st), 0);
	/* Refusals. */
	ck_assert_int_eq(signkeys_generate(dir, "../evil", KEY_ALG_ES256, 0, kid, sizeof(kid), err,
					 sizeof(err)), -1);
	ck_assert_int_eq(signkeys_generate(dir, "ns-b", KEY_ALG_RS256, 1024, kid, sizeof(kid), err,
					 sizeof(err)), -1);

	/* At start: ns-a uses its current key (kid2); ns-b gets one generated; ns-c issues none.
	 * Each issuing namespace trusts its signing key. */
	snprintf(conftext, sizeof(conftext),
		 "{\"listen\":[\"127.0.0.1:18080\"],\"state_dir\":\"%s\",\"namespaces\":["
		 "{\"name\":\"ns-a\",\"issue_tokens\":true,\"functions\":[{\"name\":\"fa\","
		 "\"path_prefix\":\"/fa\",\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
		 "{\"name\":\"ns-b\",\"issue_tokens\":true,\"functions\":[{\"name\":\"fb\","
		 "\"path_prefix\":\"/fb\",\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
		 "{\"name\":\"ns-c\",\"functions\":[{\"name\":\"fc\",\"privacy\":\"public\","
		 "\"path_prefix\":\"/fc\",\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}", dir);
	c = conf_load_string(conftext, strlen(conftext), "test.json", &errs);
	if (c == NULL)
		conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);
	set = signkeys_new();
	ck_assert_ptr_nonnull(set);
	ck_assert_msg(signkeys_load(set, dir, c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(signkeys_find(set, "ns-a", &pk, &alg, &skid), 0);
	ck_assert_str_eq(skid, kid2);
	ck_assert_int_eq(alg, KEY_ALG_RS256);
	ck_assert_ptr_nonnull(conf_find_key(conf_find_namespace(c, "ns-a"), kid2, strlen(kid2)));
	ck_assert_int_eq(signkeys_find(set, "ns-b", &pk, &alg, &skid), 0);
	ck_assert_ptr_nonnull(conf_find_key(conf_find_namespace(c, "ns-b"), skid, strlen(skid)));
	ck_assert_int_eq(signkeys_find(set, "ns-c", &pk, &alg, &skid), -1);
	/* Generated once: a second call (a reload) keeps the same key and adds no duplicate. */
	snprintf(kid, sizeof(kid), "%s", skid);
	ck_assert_int_eq(signkeys_load(set, dir, c, err, sizeof(err)), 0);
	ck_assert_int_eq(signkeys_find(set, "ns-b", &pk, &alg, &skid), 0);
	ck_assert_str_eq(skid, kid);
	ck_assert_uint_eq(conf_find_namespace(c, "ns-b")->nkeys, 1);
	signkeys_free(set);
	conf_unref(c);
	conf_errors_free(&errs);
}
END_TEST

static Suite *signkeys_suite(void)
{
	Suite *s = suite_create("signkeys");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_keygen_and_signing_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(signkeys_suite());
}
