/* test_http1.c - the HTTP/1.1 rules of http1.c: the 414-or-431 choice for a head over its limit,
 * and the chunked framing fngate writes for relayed bodies (forward.c, response.c). */
#include <string.h>

#include <check.h>
#include <event2/buffer.h>

#include "http1.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Each row: header fields begun, target bytes collected, the outcome. */
START_TEST(test_head_too_large_table)
{
	static const struct {
		size_t nfields, target;
		enum outcome want;
	} rows[] = {
		{0, 1, OUT_URI_TOO_LONG},       /* still in the request line */
		{0, 20000, OUT_URI_TOO_LONG},
		{1, 20000, OUT_HEADERS_TOO_LARGE},  /* a long target, then fields: the head as a whole */
		{3, 5, OUT_HEADERS_TOO_LARGE},
		{0, 0, OUT_HEADERS_TOO_LARGE},  /* nothing collected: a long method, say */
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(http1_head_too_large(rows[i].nfields, rows[i].target) == rows[i].want,
			      "row %zu", i);
}
END_TEST

/* Each row: the pieces written with http1_chunk_add, then the last chunk; the body on the wire. */
START_TEST(test_chunk_framing_table)
{
	static const struct {
		const char *pieces[3];
		const char *wire;
	} rows[] = {
		{{NULL}, "0\r\n\r\n"},
		{{"hello"}, "5\r\nhello\r\n0\r\n\r\n"},
		{{"0123456789abcdef"}, "10\r\n0123456789abcdef\r\n0\r\n\r\n"},
		{{"a", "", "bc"}, "1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"},   /* an empty piece writes nothing */
		{{"\r\n0\r\n\r\n"}, "7\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n"}, /* data is data */
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct evbuffer *b = evbuffer_new();
		size_t n;

		ck_assert_ptr_nonnull(b);
		for (size_t k = 0; k < 3 && rows[i].pieces[k] != NULL; k++)
			http1_chunk_add(b, rows[i].pieces[k], strlen(rows[i].pieces[k]));
		http1_chunk_last(b);
		n = evbuffer_get_length(b);
		ck_assert_msg(n == strlen(rows[i].wire) &&
			      memcmp(evbuffer_pullup(b, -1), rows[i].wire, n) == 0, "row %zu", i);
		evbuffer_free(b);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http1");
	TCase *tc = tcase_create("limits");

	tcase_add_test(tc, test_head_too_large_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("chunked");
	tcase_add_test(tc, test_chunk_framing_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
