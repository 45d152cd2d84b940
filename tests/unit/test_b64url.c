/* test_b64url.c - strict base64url: RFC 4648 section 10 vectors, canonical form, refusals. */
#include <check.h>

#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "util.h"

/* RFC 4648 section 10, in the url alphabet without padding. */
START_TEST(test_rfc4648_vectors)
{
	static const struct {
		const char *plain;
		const char *enc;
	} rows[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char out[64];
	char enc[64];
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		size_t n = strlen(rows[i].plain);

		ck_assert_int_eq(b64url_encode((const unsigned char *)rows[i].plain, n, enc,
		    sizeof(enc)), (long)strlen(rows[i].enc));
		ck_assert_str_eq(enc, rows[i].enc);
		ck_assert_int_eq(b64url_decode(rows[i].enc, strlen(rows[i].enc), out, sizeof(out)),
		    (long)n);
		ck_assert(memcmp(out, rows[i].plain, n) == 0);
	}
}
END_TEST

/* Every byte value round-trips; '-' and '_' replace '+' and '/'. */
START_TEST(test_roundtrip_all_lengths)
{
	unsigned char in[300], out[300];
	char enc[512];
	size_t len, i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (len = 0; len <= sizeof(in); len++) {
		long e = b64url_encode(in, len, enc, sizeof(enc));

		ck_assert_int_eq(e, (long)B64URL_ENCODED_LEN(len));
		ck_assert_ptr_null(strchr(enc, '+'));
		ck_assert_ptr_null(strchr(enc, '/'));
		ck_assert_ptr_null(strchr(enc, '='));
		ck_assert_int_eq(b64url_decode(enc, (size_t)e, out, sizeof(out)), (long)len);
		ck_assert(memcmp(in, out, len) == 0);
		ck_assert_int_le(len, B64URL_DECODED_MAX((size_t)e));
	}
	in[0] = 0xfb;
	in[1] = 0xff;
	ck_assert_int_eq(b64url_encode(in, 2, enc, sizeof(enc)), 3);
	ck_assert_str_eq(enc, "-_8");
}
END_TEST

START_TEST(test_refusals)
{
	static const char *bad[] = {
		"Zm9v=", "Zg==", "Zg=", "Zm8=",         /* padding */
		" Zm9v", "Zm9v ", "Zm\n9v", "Zm9\tv",   /* whitespace */
		"Zm+v", "Zm/v",                         /* standard alphabet */
		"Z", "Zm9vY",                           /* 1 mod 4 */
		"Zh", "Zm9", "Zm9vYh",                  /* non-zero trailing bits (non-canonical) */
		"Zm9v.", "Zm9v\x80", "\xffZm9",
	};
	unsigned char out[64];
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++)
		ck_assert_msg(b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)) == -1,
		    "accepted \"%s\"", bad[i]);
	/* embedded NUL counts as a character */
	ck_assert_int_eq(b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
	/* the canonical neighbours of the non-canonical ones decode */
	ck_assert_int_eq(b64url_decode("Zg", 2, out, sizeof(out)), 1);
	ck_assert_int_eq(b64url_decode("Zm8", 3, out, sizeof(out)), 2);
}
END_TEST

START_TEST(test_capacity)
{
	unsigned char out[8];
	char enc[8];

	ck_assert_int_eq(b64url_decode("Zm9vYmFy", 8, out, 5), -1);
	ck_assert_int_eq(b64url_decode("Zm9vYmFy", 8, out, 6), 6);
	ck_assert_int_eq(b64url_decode("Zm9vYmE", 7, out, 4), -1);
	ck_assert_int_eq(b64url_decode("Zm9vYmE", 7, out, 5), 5);
	/* encode needs room for the NUL */
	ck_assert_int_eq(b64url_encode((const unsigned char *)"foo", 3, enc, 4), -1);
	ck_assert_int_eq(b64url_encode((const unsigned char *)"foo", 3, enc, 5), 4);
	ck_assert_int_eq(b64url_encode((const unsigned char *)"", 0, enc, 1), 0);
	ck_assert_str_eq(enc, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("b64url");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_rfc4648_vectors);
	tcase_add_test(tc, test_roundtrip_all_lengths);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_capacity);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
