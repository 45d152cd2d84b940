/* test_headers.c - the header rules both directions share (headers.c): hop-by-hop fields, token
 * lists, the fields a Connection header names, and the '_' alias that CGI-style runtimes make of
 * a name. */
#include <string.h>

#include <check.h>

#include "headers.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_hop_by_hop_table)
{
	static const struct {
		const char *name;
		bool hop;
	} rows[] = {
		{"Connection", true}, {"connection", true}, {"KEEP-ALIVE", true}, {"TE", true},
		{"Trailer", true}, {"Transfer-Encoding", true}, {"Upgrade", true},
		{"Content-Length", true}, {"Proxy-Authorization", true}, {"proxy-connection", true},
		{"Proxy-", true},
		{"Content-Type", false}, {"Connections", false}, {"T", false}, {"Proxy", false},
		{"X-Connection", false}, {"Transfer_Encoding", false}, {"", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(headers_hop_by_hop(rows[i].name, strlen(rows[i].name)) == rows[i].hop,
			      "row %zu: %s", i, rows[i].name);
}
END_TEST

START_TEST(test_list_has_table)
{
	static const struct {
		const char *list, *tok;
		bool has;
	} rows[] = {
		{"close", "close", true}, {"Keep-Alive, Close", "close", true},
		{" ,, close ,", "close", true}, {"closed", "close", false}, {"", "close", false},
		{"x-a,x-b", "x-b", true}, {"x-a,x-b", "x-", false}, {"a\tb", "b", true},
		{"close", "", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(headers_list_has(rows[i].list, strlen(rows[i].list), rows[i].tok,
					       strlen(rows[i].tok)) == rows[i].has, "row %zu", i);
}
END_TEST

/* A head as request.c and response.c collect it: names and values in one buffer, located by
 * struct header. Each row: the head's fields ("Name: value" lines), a name, whether a Connection
 * field lists it. */
START_TEST(test_connection_lists_table)
{
	static const struct {
		const char *fields[4];
		const char *name;
		bool listed;
	} rows[] = {
		{{"Connection: close, X-Secret", "X-Secret: 1"}, "X-Secret", true},
		{{"Connection: close, X-Secret", "X-Secret: 1"}, "x-secret", true},
		{{"Connection: close, X-Secret"}, "X-Sec", false},
		{{"X-Secret: 1", "connection: keep-alive", "CONNECTION:  ,x-secret "}, "X-Secret", true},
		{{"Connections: X-Secret"}, "X-Secret", false},
		{{"X-Connection: X-Secret"}, "X-Secret", false},
		{{"Connection: X-Secret"}, "", false},
		{{NULL}, "X-Secret", false},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char buf[256];
		struct header hdr[4];
		unsigned n = 0;
		size_t at = 0;

		for (; n < 4 && rows[i].fields[n] != NULL; n++) {
			const char *f = rows[i].fields[n], *colon = strchr(f, ':');
			size_t vl = strlen(colon + 1);

			hdr[n].name_off = (uint32_t)at;
			hdr[n].name_len = (uint32_t)(colon - f);
			memcpy(buf + at, f, hdr[n].name_len);
			at += hdr[n].name_len;
			hdr[n].val_off = (uint32_t)at;
			hdr[n].val_len = (uint32_t)vl;
			memcpy(buf + at, colon + 1, vl);
			at += vl;
		}
		ck_assert_msg(headers_connection_lists(buf, hdr, n, rows[i].name,
						       strlen(rows[i].name)) == rows[i].listed,
			      "row %zu: %s", i, rows[i].name);
	}
}
END_TEST

/* Each row: a name, whether it has an alias, and the alias. */
START_TEST(test_underscore_alias_table)
{
	static const struct {
		const char *name;
		bool alias;
		const char *want;
	} rows[] = {
		{"X_Fngate_Namespace", true, "X-Fngate-Namespace"},
		{"Content_Length", true, "Content-Length"},
		{"x-fngate_token-id", true, "x-fngate-token-id"},
		{"_", true, "-"},
		{"__init__", true, "--init--"},
		{"X-Fngate-Namespace", false, NULL},
		{"", false, NULL},
		/* longer than HEADERS_ALIAS_MAX: no field fngate handles is that long */
		{"X_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, NULL},
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char out[HEADERS_ALIAS_MAX];
		size_t n = strlen(rows[i].name);

		memset(out, 0, sizeof(out));
		ck_assert_msg(headers_underscore_alias(rows[i].name, n, out) == rows[i].alias,
			      "row %zu: %s", i, rows[i].name);
		if (rows[i].alias)
			ck_assert_msg(memcmp(out, rows[i].want, n) == 0, "row %zu: %.*s", i, (int)n, out);
	}
	/* exactly HEADERS_ALIAS_MAX bytes still aliases */
	{
		char name[HEADERS_ALIAS_MAX], out[HEADERS_ALIAS_MAX];

		memset(name, 'a', sizeof(name));
		name[0] = '_';
		ck_assert(headers_underscore_alias(name, sizeof(name), out));
		ck_assert_int_eq(out[0], '-');
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("headers");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_hop_by_hop_table);
	tcase_add_test(tc, test_list_has_table);
	tcase_add_test(tc, test_connection_lists_table);
	tcase_add_test(tc, test_underscore_alias_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
