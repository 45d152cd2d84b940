/* test_http1.c - the request validators (http1.c, and request.c's chunk CRLF check): the raw
 * head scan (bare CR, bare LF, obs-fold; the same verdict however the head is split across reads,
 * over the llhttp request cases of ../shared/vectors and the h2o seed corpus of
 * ../shared/fuzz-seeds), request targets, absolute-form, Host values, tokens (header names); the
 * 414-or-431 choice for a head over its limit; and the chunked framing fngate writes for relayed
 * bodies (forward.c, response.c). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "http1.h"
#include "proxy.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- the raw head scan */

struct scan_result {
	int rc;
	enum outcome why;
	bool done;
	uint32_t lines;
};

/* Scan text in pieces of `step` bytes (0: in one piece), as successive reads would. */
static struct scan_result scan(const char *text, size_t n, size_t step)
{
	struct http1_scan st;
	struct scan_result res = {0, OUT_NONE, false, 0};

	memset(&st, 0, sizeof(st));
	for (size_t at = 0; at < n && res.rc == 0;) {
		size_t k = step == 0 || n - at < step ? n - at : step;

		res.rc = http1_scan_head(&st, text + at, k, &res.why);
		at += k;
	}
	res.done = st.done;
	res.lines = st.lines;
	return res;
}

/* Each row: raw head bytes, the verdict (OUT_NONE: accepted), whether the head's end was seen. */
START_TEST(test_scan_head_table)
{
	static const struct {
		const char *text;
		enum outcome why;
		bool done;
	} rows[] = {
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", OUT_NONE, true},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY\rBYTES\n", OUT_NONE, true},  /* body unscanned */
		{"\r\n\r\nGET / HTTP/1.1\r\n\r\n", OUT_NONE, true},   /* empty lines first: tolerated */
		{"GET / HTTP/1.1\r\nHost: a\r\n", OUT_NONE, false},  /* not finished */
		{"GET / HTTP/1.1\r\nHost: a\r", OUT_NONE, false},    /* a CR last: the LF may follow */
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", OUT_BARE_LF, false},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", OUT_BARE_LF, false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", OUT_BARE_LF, false},
		{"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", OUT_BARE_CR, false},
		{"GET /\r HTTP/1.1\r\n\r\n", OUT_BARE_CR, false},
		{"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", OUT_BARE_CR, false},
		{"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", OUT_OBS_FOLD, false},
		{"GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", OUT_OBS_FOLD, false},
		{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", OUT_OBS_FOLD, false},  /* space before a header */
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		size_t n = strlen(rows[i].text);

		for (size_t step = 0; step <= 3; step++) {
			struct scan_result r = scan(rows[i].text, n, step);

			ck_assert_msg((r.rc == 0) == (rows[i].why == OUT_NONE), "row %zu step %zu: rc %d",
				      i, step, r.rc);
			if (r.rc != 0)
				ck_assert_msg(r.why == rows[i].why, "row %zu step %zu: %s", i, step,
					      outcome_name(r.why));
			else
				ck_assert_msg(r.done == rows[i].done, "row %zu step %zu: done", i, step);
		}
	}
}
END_TEST

/* The verdict on one head never depends on how it is split across reads: in one piece, byte by
 * byte, or cut in two anywhere. */
static void check_split_invariant(const char *what, const char *text, size_t n)
{
	struct scan_result whole = scan(text, n, 0), bytes = scan(text, n, 1);

	ck_assert_msg(whole.rc == bytes.rc && whole.done == bytes.done && whole.lines == bytes.lines &&
		      (whole.rc == 0 || whole.why == bytes.why), "%s: byte by byte differs", what);
	for (size_t cut = 1; cut < n && cut < 512; cut++) {
		struct http1_scan st;
		enum outcome why = OUT_NONE;
		int rc;

		memset(&st, 0, sizeof(st));
		rc = http1_scan_head(&st, text, cut, &why);
		if (rc == 0)
			rc = http1_scan_head(&st, text + cut, n - cut, &why);
		ck_assert_msg(rc == whole.rc && st.done == whole.done && (rc == 0 || why == whole.why),
			      "%s: cut at %zu differs", what, cut);
	}
}

/* The llhttp request cases (../shared/vectors/llhttp/llhttp-tests.json). */
START_TEST(test_scan_head_llhttp_cases)
{
	json_error_t err;
	json_t *root = json_load_file(tu_vector_path("llhttp/llhttp-tests.json"), 0, &err), *t;
	size_t i, seen = 0, refused = 0;

	ck_assert_msg(root != NULL, "llhttp-tests.json: %s", err.text);
	json_array_foreach(json_object_get(root, "tests"), i, t) {
		const char *type = json_string_value(json_object_get(t, "type"));
		const char *b64 = json_string_value(json_object_get(t, "raw_b64"));
		unsigned char raw[65536];
		size_t blen = strlen(b64);
		int n;
		char what[64];

		if (strncmp(type, "request", 7) != 0)
			continue;
		ck_assert(blen / 4 * 3 <= sizeof(raw));
		n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)blen);
		ck_assert_int_ge(n, 0);
		/* EVP_DecodeBlock counts the padding as zero bytes */
		if (blen >= 1 && b64[blen - 1] == '=')
			n--;
		if (blen >= 2 && b64[blen - 2] == '=')
			n--;
		snprintf(what, sizeof(what), "llhttp case %zu", i);
		check_split_invariant(what, (const char *)raw, (size_t)n);
		refused += scan((const char *)raw, (size_t)n, 0).rc != 0;
		seen++;
	}
	json_decref(root);
	/* the corpus has bare CR/LF and obs-fold cases; most cases are well-formed */
	ck_assert_uint_gt(seen, 100);
	ck_assert_uint_gt(refused, 5);
	ck_assert_uint_lt(refused, seen / 2);
}
END_TEST

/* The h2o HTTP/1 seed corpus (../shared/fuzz-seeds/http1-h2o): "\n--MARK--\n" separates socket
 * writes; the bytes are scanned as one stream. */
START_TEST(test_scan_head_h2o_corpus)
{
	const char *shared = getenv("FNGATE_SHARED");
	char dir[4096];
	DIR *d;
	struct dirent *e;
	size_t files = 0;

	snprintf(dir, sizeof(dir), "%s/fuzz-seeds/http1-h2o/fuzz/http1-corpus",
		 shared != NULL ? shared : tu_source_path("../shared"));
	d = opendir(dir);
	ck_assert_msg(d != NULL, "%s: cannot open", dir);
	while ((e = readdir(d)) != NULL) {
		char path[8192], *text, *out;
		size_t len, n = 0;
		static const char mark[] = "\n--MARK--\n";

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = tu_read_file(path, &len);
		ck_assert_msg(text != NULL, "%s", path);
		out = malloc(len + 1);
		ck_assert_ptr_nonnull(out);
		for (size_t i = 0; i < len;) {
			if (len - i >= sizeof(mark) - 1 && memcmp(text + i, mark, sizeof(mark) - 1) == 0) {
				i += sizeof(mark) - 1;
				continue;
			}
			out[n++] = text[i++];
		}
		check_split_invariant(e->d_name, out, n);
		free(out);
		free(text);
		files++;
	}
	closedir(d);
	ck_assert_uint_gt(files, 1000);
}
END_TEST

/* ---------------------------------------------------------------- targets, Host, tokens */

/* Each row: a request target, whether it is acceptable (OPTIONS: "*" too). */
START_TEST(test_target_table)
{
	static const struct {
		const char *u;
		bool options, ok;
	} rows[] = {
		{"/", false, true}, {"/a/b/c", false, true}, {"/a?x=../y", false, true},
		{"/a/.b/c..d/...", false, true}, {"/%2f", false, true}, {"/a%2e", false, true},
		{"*", true, true},
		{"*", false, false}, {"", false, false}, {"a/b", false, false},
		{"http://h/", false, false},    /* absolute-form is taken apart before (request.c) */
		{"/a#frag", false, false}, {"/.", false, false}, {"/..", false, false},
		{"/a/./b", false, false}, {"/a/../b", false, false}, {"/a/..", false, false},
		{"/%2e/b", false, false}, {"/%2E%2e/b", false, false}, {"/.%2e/b", false, false},
		{"/a/..?q", false, false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(http1_target_ok(rows[i].u, strlen(rows[i].u), rows[i].options) ==
			      rows[i].ok, "row %zu: %s", i, rows[i].u);
}
END_TEST

/* Each row: a target, its absolute-form verdict (1, 0, -1) and then the authority. */
START_TEST(test_absolute_form_table)
{
	static const struct {
		const char *u;
		int form;
		const char *auth;
	} rows[] = {
		{"http://a.example/x", 1, "a.example"},
		{"HTTPS://a.example:8443/x?y", 1, "a.example:8443"},
		{"http://[::1]:80/", 1, "[::1]:80"},
		{"/x", 0, NULL}, {"*", 0, NULL}, {"ftp://a/x", 0, NULL}, {"http://", 0, NULL},
		{"http://a.example", -1, NULL},         /* no path */
		{"http://a.example?q", -1, NULL},
		{"http://a.example#f", -1, NULL},
		{"http:///x", -1, NULL},                /* no host */
		{"http://u@a.example/x", -1, NULL},     /* userinfo */
		{"http://a b/x", -1, NULL},
		{"http://a.example:123456/x", -1, NULL},
		{"http://a.example:/x", -1, NULL},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		size_t off = 0, len = 0;
		int form = http1_absolute_form(rows[i].u, strlen(rows[i].u), &off, &len);

		ck_assert_msg(form == rows[i].form, "row %zu: %s: %d", i, rows[i].u, form);
		if (form == 1)
			ck_assert_msg(len == strlen(rows[i].auth) &&
				      memcmp(rows[i].u + off, rows[i].auth, len) == 0, "row %zu", i);
	}
}
END_TEST

/* Each row: a Host value, whether it is well-formed. */
START_TEST(test_host_table)
{
	static const struct {
		const char *v;
		bool ok;
	} rows[] = {
		{"a", true}, {"a.example.com", true}, {"A-B.example:8080", true}, {"x_y.local", true},
		{"127.0.0.1", true}, {"[::1]", true}, {"[2001:db8::1]:443", true}, {"h:65535", true},
		{"", false}, {":80", false}, {"a:", false}, {"a:123456", false}, {"a:8x", false},
		{"a b", false}, {"a/b", false}, {"a@b", false}, {"[::1", false}, {"[::g]", false},
		{"[::1]x", false}, {"a:80:80", false}, {"\xc3\xa9.example", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(http1_host_ok(rows[i].v, strlen(rows[i].v)) == rows[i].ok, "row %zu: %s",
			      i, rows[i].v);
	{
		char big[300];

		memset(big, 'a', sizeof(big));
		ck_assert(http1_host_ok(big, 255));
		ck_assert(!http1_host_ok(big, 256));
	}
}
END_TEST

/* Each row: a header field name (or method), whether it is a token (RFC 9110 5.6.2). */
START_TEST(test_token_table)
{
	static const struct {
		const char *s;
		size_t n;       /* 0: strlen */
		bool ok;
	} rows[] = {
		{"Host", 0, true}, {"X-Auth-Token", 0, true}, {"x_custom", 0, true},
		{"!#$%&'*+-.^_`|~09azAZ", 0, true}, {"GET", 0, true},
		{"", 0, false}, {"X A", 0, false}, {"X:A", 0, false}, {"X\tA", 0, false},
		{"X\"A", 0, false}, {"(x)", 0, false}, {"a,b", 0, false}, {"a/b", 0, false},
		{"a@b", 0, false}, {"a\x7f", 0, false}, {"\xc3\xa9", 0, false}, {"a\0b", 3, false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		size_t n = rows[i].n ? rows[i].n : strlen(rows[i].s);

		ck_assert_msg(http1_token_ok(rows[i].s, n) == rows[i].ok, "row %zu: %s", i, rows[i].s);
	}
	/* every byte value: exactly the 77 tchars */
	{
		unsigned count = 0;

		for (unsigned ch = 0; ch < 256; ch++)
			count += http1_tchar((unsigned char)ch);
		ck_assert_uint_eq(count, 26 + 26 + 10 + 15);
	}
}
END_TEST

/* request.c: the CRLF after a chunk's data, checked across reads. Each row: the bytes after the
 * data as they arrive in pieces, whether they are accepted. */
START_TEST(test_chunk_crlf_table)
{
	static const struct {
		const char *pieces[3];
		bool ok;
	} rows[] = {
		{{"\r\n"}, true}, {{"\r", "\n"}, true}, {{"", "\r", "\n"}, true},
		{{"\n"}, false}, {{"\r", "x"}, false}, {{"xy"}, false}, {{"\n\r"}, false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct request r;
		int rc = 0;

		memset(&r, 0, sizeof(r));
		r.crlf_pending = 2;
		for (size_t k = 0; k < 3 && rows[i].pieces[k] != NULL && rc == 0; k++)
			rc = request_check_crlf(&r, rows[i].pieces[k], strlen(rows[i].pieces[k]));
		ck_assert_msg((rc == 0 && r.crlf_pending == 0) == rows[i].ok, "row %zu", i);
		if (!rows[i].ok)
			ck_assert_msg(rc == -1, "row %zu: rc", i);
	}
}
END_TEST

/* ---------------------------------------------------------------- limits and framing */

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
	TCase *tc = tcase_create("validators");

	tcase_add_test(tc, test_scan_head_table);
	tcase_add_test(tc, test_scan_head_llhttp_cases);
	tcase_add_test(tc, test_scan_head_h2o_corpus);
	tcase_add_test(tc, test_target_table);
	tcase_add_test(tc, test_absolute_form_table);
	tcase_add_test(tc, test_host_table);
	tcase_add_test(tc, test_token_table);
	tcase_add_test(tc, test_chunk_crlf_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");

	tcase_add_test(tc, test_head_too_large_table);
	suite_add_tcase(s, tc);
	tc = tcase_create("chunked");
	tcase_add_test(tc, test_chunk_framing_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
