/* test_route.c - the routing table: exact host over wildcard over none, longest prefix, segment
 * boundaries, catch-all, no match; and a large table routed by hash. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "route.h"
#include "testutil.h"
#include "util.h"

#define UP "\"upstreams\": [\"http://127.0.0.1:9000\"]"

static const char routes_text[] =
	"{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [{\"name\": \"ns\", \"functions\": [\n"
	" {\"name\": \"exact-root\", \"hosts\": [\"api.example.com\"], " UP "},\n"
	" {\"name\": \"exact-v1\", \"hosts\": [\"api.example.com\"], \"path_prefix\": \"/v1\", " UP "},\n"
	" {\"name\": \"exact-v1-users\", \"hosts\": [\"api.example.com\", \"users.example.org\"],"
	"  \"path_prefix\": \"/v1/users/\", " UP "},\n"
	" {\"name\": \"wild\", \"hosts\": [\"*.example.com\"], \"path_prefix\": \"/v1\", " UP "},\n"
	" {\"name\": \"wild-deep\", \"hosts\": [\"*.eu.example.com\"], " UP "},\n"
	" {\"name\": \"slash\", \"hosts\": [\"slash.example\"], \"path_prefix\": \"/\", " UP "},\n"
	" {\"name\": \"none-ab\", \"path_prefix\": \"/a/b\", " UP "},\n"
	" {\"name\": \"none-a\", \"path_prefix\": \"/a\", " UP "},\n"
	" {\"name\": \"catch\", " UP "}\n"
	"]}]}\n";

/* The same without a catch-all and without a host-less root: some requests match nothing. */
static const char sparse_text[] =
	"{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [{\"name\": \"ns\", \"functions\": [\n"
	" {\"name\": \"exact-v1\", \"hosts\": [\"api.example.com\"], \"path_prefix\": \"/v1\", " UP "},\n"
	" {\"name\": \"wild\", \"hosts\": [\"*.example.com\"], \"path_prefix\": \"/w\", " UP "},\n"
	" {\"name\": \"none-a\", \"path_prefix\": \"/a\", " UP "}\n"
	"]}]}\n";

static const struct route_case {
	int         sparse;     /* 1: sparse_text */
	const char *host;
	const char *path;
	const char *expect;     /* function name, NULL for no match */
} route_cases[] = {
	/* exact host, longest prefix first */
	{ 0, "api.example.com", "/v1/users/42", "exact-v1-users" },
	{ 0, "api.example.com", "/v1/users", "exact-v1-users" },
	{ 0, "api.example.com", "/v1/users/", "exact-v1-users" },
	{ 0, "api.example.com", "/v1/usersX", "exact-v1" },     /* boundary: not a segment */
	{ 0, "api.example.com", "/v1", "exact-v1" },
	{ 0, "api.example.com", "/v1/", "exact-v1" },
	{ 0, "api.example.com", "/v10", "exact-root" },
	{ 0, "api.example.com", "/", "exact-root" },
	{ 0, "api.example.com", "", "exact-root" },
	{ 0, "api.example.com.", "/v1", "exact-v1" },          /* FQDN form */
	{ 0, "users.example.org", "/v1/users/1", "exact-v1-users" },
	/* a host that matches but no prefix there: on to wildcards, then host-less functions */
	{ 0, "users.example.org", "/v1", "catch" },
	{ 0, "users.example.org", "/a/b/c", "none-ab" },
	/* wildcards: longest suffix first; at least one label before the suffix */
	{ 0, "x.example.com", "/v1/x", "wild" },
	{ 0, "a.b.example.com", "/v1", "wild" },
	{ 0, "a.eu.example.com", "/v1", "wild-deep" },
	{ 0, "a.b.eu.example.com", "/anything", "wild-deep" },
	{ 0, "eu.example.com", "/v1", "wild" },
	{ 0, "eu.example.com", "/zz", "catch" },
	{ 0, "example.com", "/v1", "catch" },
	{ 0, ".example.com", "/v1", "catch" },
	{ 0, "x.example.com", "/other", "catch" },
	/* exact wins over wildcard for the same path */
	{ 0, "api.example.com", "/v1/x", "exact-v1" },
	/* prefix "/" matches everything on its host */
	{ 0, "slash.example", "/", "slash" },
	{ 0, "slash.example", "/a/b", "slash" },
	{ 0, "sub.slash.example", "/a/b", "none-ab" },
	/* functions without hosts, any host or none */
	{ 0, "", "/a/b/c", "none-ab" },
	{ 0, "", "/a/b", "none-ab" },
	{ 0, "other", "/a/bc", "none-a" },
	{ 0, "other", "/a", "none-a" },
	{ 0, "other", "/a/", "none-a" },
	{ 0, "other", "/ab", "catch" },
	{ 0, "other", "/", "catch" },
	{ 0, "other", "*", "catch" },
	/* no match -> NULL (404) */
	{ 1, "api.example.com", "/v2", NULL },
	{ 1, "api.example.com", "/v1x", NULL },
	{ 1, "api.example.com", "/a/x", "none-a" },
	{ 1, "x.example.com", "/w/1", "wild" },
	{ 1, "x.example.com", "/v1", NULL },
	{ 1, "other", "/", NULL },
	{ 1, "", "", NULL },
	{ 1, "", "/ab", NULL },
	{ 1, "", "/a", "none-a" },
};

static struct conf *confs[2];

static void load_confs(void)
{
	struct conf_errors errs = { 0 };

	confs[0] = conf_load_string(routes_text, strlen(routes_text), "/tmp/routes.json", &errs);
	confs[1] = conf_load_string(sparse_text, strlen(sparse_text), "/tmp/sparse.json", &errs);
	conf_errors_print(&errs, stderr);
	conf_errors_free(&errs);
}

START_TEST(test_route_cases)
{
	const struct route_case *tc = &route_cases[_i];
	const struct conf_function *f;

	load_confs();
	ck_assert_ptr_nonnull(confs[0]);
	ck_assert_ptr_nonnull(confs[1]);
	f = route_match(confs[tc->sparse]->routes, tc->host, strlen(tc->host), tc->path, strlen(tc->path));
	if (tc->expect == NULL)
		ck_assert_msg(f == NULL, "%s %s -> %s, expected no match", tc->host, tc->path, f ? f->name : "");
	else
		ck_assert_msg(f != NULL && strcmp(f->name, tc->expect) == 0, "%s %s -> %s, expected %s",
			      tc->host, tc->path, f ? f->name : "NULL", tc->expect);
	conf_unref(confs[0]);
	conf_unref(confs[1]);
}
END_TEST

/* Lengths are honoured: the strings need not be NUL-terminated where the lengths end. */
START_TEST(test_route_lengths)
{
	const struct conf_function *f;

	load_confs();
	f = route_match(confs[0]->routes, "api.example.comXX", 15, "/v1/users?x=1", 9);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->name, "exact-v1-users");
	f = route_match(confs[0]->routes, NULL, 0, "/a/b/c", 4);
	ck_assert_str_eq(f->name, "none-ab");
	f = route_match(confs[0]->routes, NULL, 0, NULL, 0);
	ck_assert_str_eq(f->name, "catch");
	ck_assert_ptr_null(route_match(NULL, "a", 1, "/", 1));
	conf_unref(confs[0]);
	conf_unref(confs[1]);
}
END_TEST

/* A large table: 4000 functions, half by exact host, half by path prefix under one namespace
 * prefix. Every one is found; the time per match is printed (it depends on the request, not on
 * the number of functions). */
START_TEST(test_route_large)
{
	enum { N = 4000 };
	struct conf_errors errs = { 0 };
	size_t cap = (size_t)N * 160 + 256, o = 0, i;
	char *text = malloc(cap), host[64], path[64];
	const struct conf_function *f;
	struct conf *c;
	uint64_t t0, t1;
	unsigned long rounds = 0;

	ck_assert_ptr_nonnull(text);
	o += (size_t)snprintf(text + o, cap - o,
			      "{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [{\"name\": \"ns\", \"functions\": [");
	for (i = 0; i < N; i++) {
		if (i % 2 == 0)
			o += (size_t)snprintf(text + o, cap - o,
					      "%s{\"name\": \"f%zu\", \"hosts\": [\"h%zu.example\"], " UP "}",
					      i ? "," : "", i, i);
		else
			o += (size_t)snprintf(text + o, cap - o,
					      "%s{\"name\": \"f%zu\", \"path_prefix\": \"/fn/%zu\", " UP "}",
					      i ? "," : "", i, i);
	}
	o += (size_t)snprintf(text + o, cap - o, "]}]}");
	ck_assert_uint_lt(o, cap);
	c = conf_load_string(text, o, "/tmp/large.json", &errs);
	conf_errors_print(&errs, stderr);
	ck_assert_ptr_nonnull(c);

	for (i = 0; i < N; i++) {
		int hl = snprintf(host, sizeof(host), "h%zu.example", i);
		int pl = snprintf(path, sizeof(path), "/fn/%zu/some/deeper/path", i);

		f = route_match(c->routes, host, (size_t)hl, path, (size_t)pl);
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(f->index, i);
	}
	ck_assert_ptr_null(route_match(c->routes, "nope.example", 12, "/fn/x", 5));

	t0 = util_mono_us();
	do {
		for (i = 0; i < N; i++) {
			int pl = snprintf(path, sizeof(path), "/fn/%zu/some/deeper/path", i | 1);

			f = route_match(c->routes, "h0.exampl", 9, path, (size_t)pl);
			if (f == NULL || f->index != (i | 1))
				ck_abort_msg("miss at %zu", i);
		}
		rounds++;
		t1 = util_mono_us();
	} while (t1 - t0 < 200000);
	fprintf(stderr, "route_match: %.0f ns per match (%d functions, path with 5 segments)\n",
		(double)(t1 - t0) * 1000.0 / ((double)rounds * N), N);
	conf_unref(c);
	free(text);
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_route_cases, 0, ARRAY_LEN(route_cases));
	tcase_add_test(tc, test_route_lengths);
	tcase_add_test(tc, test_route_large);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(route_suite());
}
