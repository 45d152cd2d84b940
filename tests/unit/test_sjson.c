/* test_sjson.c - the strict JSON reader (sjson.c): documents accepted and refused, strings
 * unescaped, numbers read, the walk callbacks see, the bounds, and the headers and claims of the
 * 34 real Scaleway tokens (../shared/vectors/scaleway-tokens.json). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "b64url.h"
#include "sjson.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int doc(const char *s)
{
	return sjson_document((const unsigned char *)s, strlen(s), NULL, NULL);
}

/* Each row: a document (NUL-free), whether it is accepted. What jansson with
 * JSON_REJECT_DUPLICATES says of the same text is checked too, where both read it (rows marked
 * `same`): the reader replaced jansson and must not be laxer. */
START_TEST(test_documents_table)
{
	static const struct {
		const char *text;
		bool ok;
		bool same;      /* jansson agrees */
	} rows[] = {
		{"{}", true, true},
		{" \t\r\n{ } \n", true, true},
		{"{\"a\":1,\"b\":[true,false,null,\"x\",{\"c\":-0.5e+3}]}", true, true},
		{"{\"a\":{\"a\":{\"a\":1}}}", true, true},          /* the same key at other depths */
		{"{\"\":0}", true, true},
		{"{\"a\":\"\\u00e9\\ud83d\\ude00\"}", true, true},
		{"{\"a\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", true, true},
		/* refused */
		{"", false, true},
		{"[]", false, false},           /* a document is an object (jansson takes any array) */
		{"\"a\"", false, false},
		{"{} {}", false, true},         /* trailing data */
		{"{}x", false, true},
		{"{\"a\":1,}", false, true},    /* trailing comma */
		{"{\"a\":[1,]}", false, true},
		{"{,}", false, true},
		{"{\"a\" 1}", false, true},
		{"{a:1}", false, true},
		{"{'a':1}", false, true},
		{"{\"a\":1,\"a\":2}", false, true},                 /* duplicate key */
		{"{\"a\":1,\"\\u0061\":2}", false, true},           /* duplicate after unescaping */
		{"{\"x\":{\"a\":1,\"a\":1}}", false, true},         /* duplicate at depth */
		{"{\"a\":\"\\u0000\"}", false, true},               /* NUL in a string */
		{"{\"a\":\"\x01\"}", false, true},                  /* raw control character */
		{"{\"a\":\"\\ud800\"}", false, true},               /* lone high surrogate */
		{"{\"a\":\"\\udc00\"}", false, true},               /* lone low surrogate */
		{"{\"a\":\"\\ud800\\u0041\"}", false, true},
		{"{\"a\":\"\\x\"}", false, true},                   /* unknown escape */
		{"{\"a\":\"\\u12g4\"}", false, true},
		{"{\"a\":\"\xc0\xaf\"}", false, true},              /* overlong */
		{"{\"a\":\"\xed\xa0\x80\"}", false, true},          /* UTF-8 surrogate */
		{"{\"a\":\"\xf4\x90\x80\x80\"}", false, true},      /* past U+10FFFF */
		{"{\"a\":\"\xe2\x82\"}", false, true},              /* truncated sequence */
		{"{\"a\":\"\xff\"}", false, true},
		{"{\"a\":\"abc}", false, true},                     /* unterminated */
		{"{\"a\":01}", false, true},                        /* leading zero */
		{"{\"a\":1.}", false, true},
		{"{\"a\":.5}", false, true},
		{"{\"a\":1e}", false, true},
		{"{\"a\":-}", false, true},
		{"{\"a\":+1}", false, true},
		/* past INT64_MAX: refused where read (test_numbers_table); a skipped value is only
		 * checked for its syntax, so here, unlike jansson, it passes */
		{"{\"a\":9223372036854775808}", true, false},
		{"{\"a\":tru}", false, true},
		{"{\"a\":nul}", false, true},
		{"{\"a\":NaN}", false, true},
		{"{\"a\":[}", false, true},
		{"{", false, true},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		json_error_t err;
		json_t *j;

		ck_assert_msg((doc(rows[i].text) == 0) == rows[i].ok, "row %zu: %s", i, rows[i].text);
		if (!rows[i].same)
			continue;
		j = json_loads(rows[i].text, JSON_REJECT_DUPLICATES, &err);
		ck_assert_msg((j != NULL) == rows[i].ok, "row %zu: jansson differs: %s", i,
			      rows[i].text);
		json_decref(j);
	}
}
END_TEST

/* Each row: a string literal, the bytes it decodes to (NULL: refused). */
START_TEST(test_strings_table)
{
	static const struct {
		const char *lit;
		const char *want;
		size_t want_len;
	} rows[] = {
		{"\"\"", "", 0},
		{"\"abc\"", "abc", 3},
		{"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
		{"\"\\u0041\\u00e9\"", "A\xc3\xa9", 3},
		{"\"\\u20AC\"", "\xe2\x82\xac", 3},
		{"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},
		{"\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80", 4},
		{"\"\\u0000\"", NULL, 0},
		{"\"\\ud83d\"", NULL, 0},
		{"\"\t\"", NULL, 0},
		{"\"abc", NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct sjson j;
		char out[16];
		size_t n = 99;
		int rc;

		j.p = (const unsigned char *)rows[i].lit;
		j.end = j.p + strlen(rows[i].lit);
		j.depth = 0;
		rc = sjson_string(&j, out, sizeof(out), &n);
		if (rows[i].want == NULL) {
			ck_assert_msg(rc == -1, "row %zu: accepted", i);
			continue;
		}
		ck_assert_msg(rc == 0, "row %zu: refused", i);
		ck_assert_msg(j.p == j.end, "row %zu: not consumed", i);
		ck_assert_msg(n == rows[i].want_len && memcmp(out, rows[i].want, n) == 0,
			      "row %zu: %zu bytes", i, n);
	}
}
END_TEST

/* A string longer than the room given: the room is filled, the full length reported. */
START_TEST(test_string_longer_than_cap)
{
	static const char lit[] = "\"0123456789\\u00e9\"";
	struct sjson j = {(const unsigned char *)lit, (const unsigned char *)lit + sizeof(lit) - 1, 0};
	char out[4];
	size_t n;

	ck_assert_int_eq(sjson_string(&j, out, sizeof(out), &n), 0);
	ck_assert_uint_eq(n, 12);
	ck_assert(memcmp(out, "0123", 4) == 0);
	/* no room at all: length only */
	j.p = (const unsigned char *)lit;
	ck_assert_int_eq(sjson_string(&j, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 12);
}
END_TEST

/* Each row: a number literal, then an integer value, or a real value, or refused. */
START_TEST(test_numbers_table)
{
	static const struct {
		const char *lit;
		enum { INT = 1, REAL, BAD } kind;
		int64_t i;
		double d;
	} rows[] = {
		{"0", INT, 0, 0}, {"-0", INT, 0, 0}, {"42", INT, 42, 0},
		{"1900000000", INT, 1900000000, 0},
		{"9223372036854775807", INT, INT64_MAX, 0},
		{"-9223372036854775808", INT, INT64_MIN, 0},
		{"1.5", REAL, 0, 1.5}, {"-2.25", REAL, 0, -2.25}, {"1e3", REAL, 0, 1000.0},
		{"1E+2", REAL, 0, 100.0}, {"25e-1", REAL, 0, 2.5}, {"0.0", REAL, 0, 0.0},
		{"9223372036854775808", BAD, 0, 0}, {"-9223372036854775809", BAD, 0, 0},
		{"00", BAD, 0, 0}, {"-", BAD, 0, 0}, {"1.", BAD, 0, 0}, {"1e", BAD, 0, 0},
		{"1e+", BAD, 0, 0}, {".1", BAD, 0, 0}, {"+1", BAD, 0, 0},
		/* a real longer than 63 characters: refused rather than read from a cut copy */
		{"0.0000000000000000000000000000000000000000000000000000000000000001", BAD, 0, 0},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		/* Followed by a delimiter, as in a document: the reader stops before it. */
		char text[96];
		struct sjson j;
		struct sjson_num num;
		int rc;

		snprintf(text, sizeof(text), "%s}", rows[i].lit);
		j.p = (const unsigned char *)text;
		j.end = j.p + strlen(text);
		j.depth = 0;
		rc = sjson_number(&j, &num);
		if (rows[i].kind == BAD) {
			/* "00" reads as 0 with "0}" left over: a document refuses the rest */
			ck_assert_msg(rc == -1 || *j.p != '}', "row %zu: %s accepted", i, rows[i].lit);
			continue;
		}
		ck_assert_msg(rc == 0 && *j.p == '}', "row %zu: %s", i, rows[i].lit);
		ck_assert_msg(num.is_int == (rows[i].kind == INT), "row %zu: kind", i);
		if (rows[i].kind == INT)
			ck_assert_msg(num.i == rows[i].i, "row %zu: %lld", i, (long long)num.i);
		else
			ck_assert_msg(fabs(num.d - rows[i].d) < 1e-12, "row %zu: %g", i, num.d);
	}
}
END_TEST

/* The walk: members in order with their unescaped keys, array elements with their index. */
struct walk {
	char log[256];
	size_t n;
};

static void walk_add(struct walk *w, const char *s, size_t n)
{
	if (w->n + n + 1 < sizeof(w->log)) {
		memcpy(w->log + w->n, s, n);
		w->n += n;
		w->log[w->n++] = ' ';
		w->log[w->n] = '\0';
	}
}

static int walk_member(struct sjson *j, const char *key, size_t klen, void *arg);

static int walk_elem(struct sjson *j, size_t idx, void *arg)
{
	char b[24];

	walk_add(arg, b, (size_t)snprintf(b, sizeof(b), "[%zu]", idx));
	if (sjson_peek(j) == '{')
		return sjson_object(j, walk_member, arg);
	return sjson_value(j);
}

static int walk_member(struct sjson *j, const char *key, size_t klen, void *arg)
{
	walk_add(arg, key, klen);
	if (sjson_peek(j) == '[')
		return sjson_array(j, walk_elem, arg);
	if (sjson_peek(j) == '{')
		return sjson_object(j, walk_member, arg);
	return sjson_value(j);
}

START_TEST(test_walk)
{
	static const char text[] = "{\"a\":1,\"b\\u0063\":[{\"x\":2},3,[]],\"d\":{\"e\":null},\"f\":[]}";
	struct walk w = {{0}, 0};

	ck_assert_int_eq(sjson_document((const unsigned char *)text, sizeof(text) - 1, walk_member, &w), 0);
	ck_assert_str_eq(w.log, "a bc [0] x [1] [2] d e f ");
	/* a callback's -1 stops the document */
	ck_assert_int_eq(sjson_document((const unsigned char *)"{\"a\":", 5, walk_member, &w), -1);
	ck_assert(sjson_key_is("jti", 3, "jti"));
	ck_assert(!sjson_key_is("jt", 2, "jti"));
	ck_assert(!sjson_key_is("jtix", 4, "jti"));
}
END_TEST

/* Nesting: SJSON_MAX_DEPTH levels of objects and arrays together, not one more. */
START_TEST(test_depth_bound)
{
	char text[128];

	for (int depth = SJSON_MAX_DEPTH; depth <= SJSON_MAX_DEPTH + 1; depth++) {
		size_t n = 0;

		text[n++] = '{';
		text[n++] = '"'; text[n++] = 'a'; text[n++] = '"'; text[n++] = ':';
		for (int k = 1; k < depth; k++)
			text[n++] = '[';
		text[n++] = '0';
		for (int k = 1; k < depth; k++)
			text[n++] = ']';
		text[n++] = '}';
		text[n] = '\0';
		ck_assert_msg((doc(text) == 0) == (depth <= SJSON_MAX_DEPTH), "depth %d", depth);
	}
}
END_TEST

/* Keys per object: SJSON_MAX_KEYS, not one more; and their unescaped bytes bounded by the arena. */
START_TEST(test_keys_bound)
{
	char text[SJSON_KEY_ARENA * 2 + 64];

	for (int nkeys = SJSON_MAX_KEYS; nkeys <= SJSON_MAX_KEYS + 1; nkeys++) {
		size_t n = 0;

		text[n++] = '{';
		for (int k = 0; k < nkeys; k++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"k%d\":0", k ? "," : "", k);
		text[n++] = '}';
		text[n] = '\0';
		ck_assert_msg((doc(text) == 0) == (nkeys <= SJSON_MAX_KEYS), "%d keys", nkeys);
	}
	/* one key filling the arena, then one more byte */
	for (size_t klen = SJSON_KEY_ARENA; klen <= SJSON_KEY_ARENA + 1; klen++) {
		size_t n = 0;

		text[n++] = '{';
		text[n++] = '"';
		memset(text + n, 'k', klen);
		n += klen;
		memcpy(text + n, "\":0}", 5);
		ck_assert_msg((doc(text) == 0) == (klen <= SJSON_KEY_ARENA), "key of %zu bytes", klen);
	}
}
END_TEST

/* Real documents: the header and claims of every recorded Scaleway token are read whole, and a
 * walk finds the claims the verifier reads. */
START_TEST(test_scaleway_documents)
{
	json_error_t err;
	json_t *root = json_load_file(tu_vector_path("scaleway-tokens.json"), 0, &err), *t;
	size_t i, seen = 0;

	ck_assert_msg(root != NULL, "scaleway-tokens.json: %s", err.text);
	json_array_foreach(json_object_get(root, "tokens"), i, t) {
		const char *tok = json_string_value(json_object_get(t, "token"));
		const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		unsigned char hdr[512], pay[1024];
		long hn, pn;
		struct walk w = {{0}, 0};

		ck_assert_ptr_nonnull(d2);
		hn = b64url_decode(tok, (size_t)(d1 - tok), hdr, sizeof(hdr));
		pn = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pay, sizeof(pay));
		ck_assert(hn > 0 && pn > 0);
		ck_assert_msg(sjson_document(hdr, (size_t)hn, NULL, NULL) == 0, "token %zu header", i);
		ck_assert_msg(sjson_document(pay, (size_t)pn, walk_member, &w) == 0, "token %zu", i);
		ck_assert_msg(strstr(w.log, "application_claim [0] ") != NULL &&
			      strstr(w.log, "namespace_id ") != NULL &&
			      strstr(w.log, "application_id ") != NULL && strstr(w.log, "jti ") != NULL,
			      "token %zu: %s", i, w.log);
		/* cut anywhere, it is refused */
		for (long cut = 0; cut < pn; cut += 7)
			ck_assert_msg(sjson_document(pay, (size_t)cut, NULL, NULL) == -1,
				      "token %zu cut at %ld", i, cut);
		seen++;
	}
	ck_assert_uint_eq(seen, 34);
	json_decref(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sjson");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_documents_table);
	tcase_add_test(tc, test_strings_table);
	tcase_add_test(tc, test_string_longer_than_cap);
	tcase_add_test(tc, test_numbers_table);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_depth_bound);
	tcase_add_test(tc, test_keys_bound);
	tcase_add_test(tc, test_scaleway_documents);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
