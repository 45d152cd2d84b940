/* test_redirect.c - Location, Content-Location and Refresh brought back under a function's public
 * prefix (redirect.c), as nginx's default proxy_redirect does: a table per shape. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "conf.h"
#include "redirect.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Strings the structures point into (conf.c owns them in a loaded configuration). */
static char prefix_buf[64], base_buf[64], host_buf[64], hostport_buf[64];

/* fn served at `prefix` (stripped unless !strip) by ep, an upstream "scheme://hostport<base>". */
static void setup(struct conf_function *fn, struct conf_upstream *ep, const char *prefix,
		  bool strip, const char *base, bool tls, const char *host, unsigned port,
		  const char *hostport)
{
	memset(fn, 0, sizeof(*fn));
	memset(ep, 0, sizeof(*ep));
	if (prefix != NULL) {
		snprintf(prefix_buf, sizeof(prefix_buf), "%s", prefix);
		fn->path_prefix = prefix_buf;
		fn->path_prefix_len = strlen(prefix);
	}
	fn->strip_prefix = strip;
	snprintf(base_buf, sizeof(base_buf), "%s", base);
	snprintf(host_buf, sizeof(host_buf), "%s", host);
	snprintf(hostport_buf, sizeof(hostport_buf), "%s", hostport);
	ep->base_path = base_buf;
	ep->tls = tls;
	ep->host = host_buf;
	ep->port = (uint16_t)port;
	ep->hostport = hostport_buf;
}

START_TEST(test_field_kinds)
{
	ck_assert_int_eq(redirect_field("Location", 8), REDIRECT_URL);
	ck_assert_int_eq(redirect_field("content-location", 16), REDIRECT_URL);
	ck_assert_int_eq(redirect_field("REFRESH", 7), REDIRECT_REFRESH);
	ck_assert_int_eq(redirect_field("Locations", 9), REDIRECT_NONE);
	ck_assert_int_eq(redirect_field("Content-Type", 12), REDIRECT_NONE);
}
END_TEST

START_TEST(test_needed)
{
	struct conf_function fn;
	struct conf_upstream ep;

	setup(&fn, &ep, "/shop/catalog", true, "", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(redirect_needed(&fn, &ep));
	/* Nothing stripped, no base path: the upstream sees the caller's paths. */
	setup(&fn, &ep, "/shop/catalog", false, "", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(!redirect_needed(&fn, &ep));
	setup(&fn, &ep, "/", true, "", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(!redirect_needed(&fn, &ep));
	setup(&fn, &ep, NULL, true, "", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(!redirect_needed(&fn, &ep));
	/* A base path alone: /x upstream is /base/x. */
	setup(&fn, &ep, NULL, true, "/base", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(redirect_needed(&fn, &ep));
	/* Stripped into the same path: nothing to do. */
	setup(&fn, &ep, "/v1", true, "/v1", false, "127.0.0.1", 9000, "127.0.0.1:9000");
	ck_assert(!redirect_needed(&fn, &ep));
}
END_TEST

START_TEST(test_rewrite_table)
{
	static const struct {
		const char *prefix;     /* path_prefix, stripped unless nostrip */
		bool nostrip;
		const char *base;       /* the upstream URL's base path */
		bool tls;
		unsigned port;
		const char *hostport;
		enum redirect_field kind;
		const char *in, *want;  /* want NULL: unchanged */
	} rows[] = {
		/* root-relative: the case */
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/api/", "/shop/catalog/api/"},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/", "/shop/catalog/"},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/a?b=/c#d", "/shop/catalog/a?b=/c#d"},
		/* absolute, the upstream's own URL (as sent in Host), any letter case in scheme and host */
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://127.0.0.1:9000/api/x", "/shop/catalog/api/x"},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "HTTP://127.0.0.1:9000", "/shop/catalog"},
		{"/shop/catalog", false, "", false, 9000, "fn.internal:9000", REDIRECT_URL, "http://FN.internal:9000?q", "/shop/catalog?q"},
		/* the default port may be left out */
		{"/s", false, "", false, 80, "fn.internal:80", REDIRECT_URL, "http://fn.internal/x", "/s/x"},
		{"/s", false, "", true, 443, "fn.internal:443", REDIRECT_URL, "https://fn.internal/x", "/s/x"},
		{"/s", false, "", false, 8080, "fn.internal:8080", REDIRECT_URL, "http://fn.internal/x", NULL},
		{"/s", false, "", false, 80, "[::1]:80", REDIRECT_URL, "http://[::1]/x", "/s/x"},
		/* another scheme, host or port: left alone */
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "https://127.0.0.1:9000/x", NULL},
		{"/s", false, "", true, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://127.0.0.1:9000/x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://example.com/x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://127.0.0.1:9001/x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://127.0.0.1:90000/x", NULL},
		/* relative, scheme-relative, other schemes: resolved against the public URL already */
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "api/x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "../x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "?page=2", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "//127.0.0.1:9000/x", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "mailto:a@b", NULL},
		{"/s", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "", NULL},
		/* a base path: matched whole, replaced by the public prefix */
		{"/shop", false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/base/x", "/shop/x"},
		{"/shop", false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/base", "/shop"},
		{"/shop", false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "http://127.0.0.1:9000/base/x", "/shop/x"},
		{"/shop", false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/basement", NULL},
		{"/shop", false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/other", NULL},
		/* a base path, nothing stripped: the base path goes */
		{"/shop", true, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/base/shop/x", "/shop/x"},
		{NULL, false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/base?q", "/?q"},
		{NULL, false, "/base", false, 9000, "127.0.0.1:9000", REDIRECT_URL, "/base", "/"},
		/* Refresh: the url= part only, quoted or not */
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "5; url=/api/", "5; url=/shop/catalog/api/"},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "0;URL='http://127.0.0.1:9000/x'", "0;URL='/shop/catalog/x'"},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "0 ; Url = \"/x\"", "0 ; Url = \"/shop/catalog/x\""},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "0; Url = \"/x\"", "0; Url = \"/shop/catalog/x\""},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "5", NULL},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "5; url=https://example.com/", NULL},
		{"/shop/catalog", false, "", false, 9000, "127.0.0.1:9000", REDIRECT_REFRESH, "5; urn=/x", NULL},
	};
	char out[512];

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct conf_function fn;
		struct conf_upstream ep;
		size_t vl = strlen(rows[i].in);
		long n;

		setup(&fn, &ep, rows[i].prefix, !rows[i].nostrip, rows[i].base, rows[i].tls, "h",
		      rows[i].port, rows[i].hostport);
		ck_assert(redirect_max_len(&fn, vl) <= sizeof(out));
		n = redirect_rewrite(&fn, &ep, rows[i].kind, rows[i].in, vl, out);
		if (rows[i].want == NULL) {
			ck_assert_msg(n == -1, "row %zu: %s: want unchanged, got %.*s", i, rows[i].in,
				      n > 0 ? (int)n : 0, out);
			continue;
		}
		ck_assert_msg(n >= 0, "row %zu: %s: unchanged, want %s", i, rows[i].in, rows[i].want);
		ck_assert_msg((size_t)n <= redirect_max_len(&fn, vl), "row %zu: within the bound", i);
		ck_assert_msg((size_t)n == strlen(rows[i].want) && memcmp(out, rows[i].want, (size_t)n) == 0,
			      "row %zu: %s -> %.*s, want %s", i, rows[i].in, (int)n, out, rows[i].want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("redirect");
	TCase *tc = tcase_create("redirect");

	tcase_add_test(tc, test_field_kinds);
	tcase_add_test(tc, test_needed);
	tcase_add_test(tc, test_rewrite_table);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
