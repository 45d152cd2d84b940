/* test_cors.c - CORS policies (cors.c): each configured value accepted or refused with its
 * reason, origins compared as browsers send them, the preflight decision, the exact response
 * fields, and the "cors" block of a configuration (conf.c): its errors at their line:column,
 * the namespace default and a function's block replacing it as a whole. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cors.h"
#include "testutil.h"
#include "util.h"

/* ---- configured values ---- */

enum which { ORIGIN = 1, METHOD, HEADER, EXPOSE };

static int add(struct cors_policy *p, enum which w, const char *s, const char **why)
{
	switch (w) {
	case ORIGIN: return cors_add_origin(p, s, why);
	case METHOD: return cors_add_method(p, s, why);
	case HEADER: return cors_add_header(p, s, why);
	case EXPOSE: return cors_add_expose(p, s, why);
	}
	return -1;
}

/* Each row: a value added to an empty policy (after `before`, when set): refused with a reason
 * holding `why`, or accepted (why NULL) and stored as `stored` (NULL: nothing stored). */
static const struct value_case {
	enum which  w;
	const char *before;
	const char *value;
	const char *why;
	const char *stored;
} value_cases[] = {
	{ ORIGIN, NULL, "https://app.example.com", NULL, "https://app.example.com" },
	{ ORIGIN, NULL, "HTTPS://App.Example.COM", NULL, "https://app.example.com" },
	{ ORIGIN, NULL, "https://app.example.com:443", NULL, "https://app.example.com" },
	{ ORIGIN, NULL, "http://localhost:80", NULL, "http://localhost" },
	{ ORIGIN, NULL, "http://localhost:8443", NULL, "http://localhost:8443" },
	{ ORIGIN, NULL, "https://app.example.com:80", NULL, "https://app.example.com:80" },
	{ ORIGIN, NULL, "http://127.0.0.1:3000", NULL, "http://127.0.0.1:3000" },
	{ ORIGIN, NULL, "http://[0:0:0:0:0:0:0:1]:8080", NULL, "http://[::1]:8080" },
	{ ORIGIN, NULL, "http://[::FFFF:7f00:1]", NULL, "http://[::ffff:127.0.0.1]" },
	{ ORIGIN, NULL, "capacitor://localhost", NULL, "capacitor://localhost" },
	{ ORIGIN, NULL, "chrome-extension://abcdefghijklmnop", NULL, "chrome-extension://abcdefghijklmnop" },
	{ ORIGIN, NULL, "*", NULL, NULL },
	{ ORIGIN, NULL, "https://app.example.com/", "has a path", NULL },
	{ ORIGIN, NULL, "https://app.example.com/x", "has a path", NULL },
	{ ORIGIN, NULL, "https://app.example.com?a", "has a path, query", NULL },
	{ ORIGIN, NULL, "https://app.example.com#f", "fragment", NULL },
	{ ORIGIN, NULL, "https://user@app.example.com", "user information", NULL },
	{ ORIGIN, NULL, "app.example.com", "must be scheme://host[:port]", NULL },
	{ ORIGIN, NULL, "://app.example.com", "must be scheme://host[:port]", NULL },
	{ ORIGIN, NULL, "1http://a", "invalid scheme", NULL },
	{ ORIGIN, NULL, "https://", "has no host", NULL },
	{ ORIGIN, NULL, "https://:443", "has no host", NULL },
	{ ORIGIN, NULL, "https://a b.com", "invalid host", NULL },
	{ ORIGIN, NULL, "https://b\xc3\xbc" "cher.de", "punycode", NULL },
	{ ORIGIN, NULL, "https://a.com:0", "invalid port", NULL },
	{ ORIGIN, NULL, "https://a.com:65536", "invalid port", NULL },
	{ ORIGIN, NULL, "https://a.com:080", "invalid port", NULL },
	{ ORIGIN, NULL, "https://a.com:", "invalid port", NULL },
	{ ORIGIN, NULL, "https://a.com:123456", "invalid port", NULL },
	{ ORIGIN, NULL, "https://a.com:8x", "invalid port", NULL },
	{ ORIGIN, NULL, "http://[::1", "invalid IPv6", NULL },
	{ ORIGIN, NULL, "http://[zz::1]", "invalid IPv6", NULL },
	{ ORIGIN, NULL, "http://[::1]x", "invalid host", NULL },
	{ ORIGIN, NULL, "null", "\"null\" cannot be allowed", NULL },
	{ ORIGIN, NULL, "https://*.example.com", "has a wildcard", NULL },
	{ ORIGIN, "https://a.com", "*", "must be the only one", NULL },
	{ ORIGIN, "*", "https://a.com", "must be the only one", NULL },
	{ ORIGIN, "*", "*", "must be the only one", NULL },
	{ ORIGIN, "https://a.com/", "*", "must be the only one", NULL },    /* even after a refused one */
	{ ORIGIN, "https://a.com", "HTTPS://A.com:443", "listed twice", NULL },
	{ METHOD, NULL, "GET", NULL, "GET" },
	{ METHOD, NULL, "PATCH", NULL, "PATCH" },
	{ METHOD, NULL, "patch", NULL, "patch" },      /* not normalized by browsers: as written */
	{ METHOD, NULL, "X-CUSTOM", NULL, "X-CUSTOM" },
	{ METHOD, NULL, "get", "must be upper case", NULL },
	{ METHOD, NULL, "Post", "must be upper case", NULL },
	{ METHOD, NULL, "*", "wildcards are not supported", NULL },
	{ METHOD, NULL, "CONNECT", "never send", NULL },
	{ METHOD, NULL, "trace", "never send", NULL },
	{ METHOD, NULL, "GE T", "not a method name", NULL },
	{ METHOD, NULL, "", "not a method name", NULL },
	{ METHOD, "GET", "GET", "listed twice", NULL },
	{ HEADER, NULL, "Content-Type", NULL, "Content-Type" },
	{ HEADER, NULL, "x-api-version", NULL, "x-api-version" },
	{ HEADER, NULL, "X-Auth-Token", NULL, NULL },  /* always allowed: not listed twice */
	{ HEADER, NULL, "x-auth-token", NULL, NULL },
	{ HEADER, NULL, "*", "wildcards are not supported", NULL },
	{ HEADER, NULL, "Content Type", "not a header name", NULL },
	{ HEADER, NULL, "X:Y", "not a header name", NULL },
	{ HEADER, "Content-Type", "content-type", "listed twice", NULL },
	{ EXPOSE, NULL, "X-Total-Count", NULL, "X-Total-Count" },
	{ EXPOSE, NULL, "x-request-id", NULL, NULL },  /* always exposed */
	{ EXPOSE, NULL, "*", "wildcards are not supported", NULL },
	{ EXPOSE, "ETag", "etag", "listed twice", NULL },
};

static const struct cors_list *list_of(const struct cors_policy *p, enum which w)
{
	return w == ORIGIN ? &p->origins : w == METHOD ? &p->methods :
	       w == HEADER ? &p->headers : &p->expose;
}

START_TEST(test_values)
{
	const struct value_case *vc = &value_cases[_i];
	struct cors_policy *p = cors_policy_new();
	const struct cors_list *l;
	const char *why = NULL;
	size_t before;
	int rc;

	ck_assert_ptr_nonnull(p);
	if (vc->before != NULL)
		add(p, vc->w, vc->before, &why);
	l = list_of(p, vc->w);
	before = l->n;
	rc = add(p, vc->w, vc->value, &why);
	if (vc->why != NULL) {
		ck_assert_msg(rc == -1, "%s: accepted", vc->value);
		ck_assert_msg(why != NULL && strstr(why, vc->why) != NULL, "%s: why %s", vc->value,
			      why ? why : "(null)");
		ck_assert_uint_eq(l->n, before);
	} else {
		ck_assert_msg(rc == 0, "%s: refused: %s", vc->value, why ? why : "");
		if (vc->stored == NULL) {
			ck_assert_uint_eq(l->n, before);
		} else {
			ck_assert_uint_eq(l->n, before + 1);
			ck_assert_str_eq(l->v[before], vc->stored);
			ck_assert_uint_eq(l->len[before], strlen(vc->stored));
		}
	}
	cors_policy_free(p);
}
END_TEST

/* A finished policy: origins "https://app.example.com" and "http://localhost:8080", methods GET
 * POST PUT, headers Content-Type and X-Api-Version, exposed ETag, max age 600, credentials as
 * given. With `any`, origins ["*"] instead. */
static struct cors_policy *policy(bool any, bool credentials)
{
	struct cors_policy *p = cors_policy_new();
	const char *why, *field;

	ck_assert_ptr_nonnull(p);
	if (any) {
		ck_assert_int_eq(cors_add_origin(p, "*", &why), 0);
	} else {
		ck_assert_int_eq(cors_add_origin(p, "https://app.example.com", &why), 0);
		ck_assert_int_eq(cors_add_origin(p, "http://localhost:8080", &why), 0);
	}
	ck_assert_int_eq(cors_add_method(p, "GET", &why), 0);
	ck_assert_int_eq(cors_add_method(p, "POST", &why), 0);
	ck_assert_int_eq(cors_add_method(p, "PUT", &why), 0);
	ck_assert_int_eq(cors_add_header(p, "Content-Type", &why), 0);
	ck_assert_int_eq(cors_add_header(p, "X-Api-Version", &why), 0);
	ck_assert_int_eq(cors_add_expose(p, "ETag", &why), 0);
	p->credentials = credentials;
	ck_assert_int_eq(cors_policy_finish(p, &field, &why), 0);
	return p;
}

START_TEST(test_finish)
{
	struct cors_policy *p = cors_policy_new();
	const char *why = NULL, *field = NULL;

	/* no origin */
	ck_assert_int_eq(cors_policy_finish(p, &field, &why), -1);
	ck_assert_str_eq(field, "allow_origins");
	/* "*" with credentials */
	ck_assert_int_eq(cors_add_origin(p, "*", &why), 0);
	p->credentials = true;
	ck_assert_int_eq(cors_policy_finish(p, &field, &why), -1);
	ck_assert_str_eq(field, "allow_credentials");
	ck_assert_ptr_nonnull(strstr(why, "wildcard"));
	/* without: methods default to the three a page may use without asking */
	p->credentials = false;
	ck_assert_int_eq(cors_policy_finish(p, &field, &why), 0);
	ck_assert_uint_eq(p->methods.n, 3);
	ck_assert_str_eq(p->methods.v[0], "GET");
	ck_assert_str_eq(p->methods.v[1], "HEAD");
	ck_assert_str_eq(p->methods.v[2], "POST");
	cors_policy_free(p);
}
END_TEST

/* Origin header values against the policy of policy(false, ...). */
static const struct {
	const char *origin;
	bool        allowed;
} match_cases[] = {
	{ "https://app.example.com", true },
	{ "HTTPS://APP.EXAMPLE.COM", true },        /* scheme and host are case-insensitive */
	{ "http://localhost:8080", true },
	{ "http://app.example.com", false },        /* another scheme is another origin */
	{ "https://app.example.com:8443", false },
	{ "https://app.example.co", false },
	{ "https://app.example.com.evil.test", false },
	{ "https://evil.app.example.com", false },
	{ "https://app.example.com/", false },      /* not what a browser sends */
	{ "http://localhost", false },
	{ "http://localhost:80800", false },
	{ "null", false },
	{ "", false },
};

START_TEST(test_match)
{
	struct cors_policy *p = policy(false, false), *any = policy(true, false);
	const char *o = match_cases[_i].origin;

	ck_assert_msg(cors_origin_allowed(p, o, strlen(o)) == match_cases[_i].allowed, "%s", o);
	/* "*": any non-empty origin, even "null" */
	ck_assert(cors_origin_allowed(any, o, strlen(o)) == (o[0] != '\0'));
	cors_policy_free(p);
	cors_policy_free(any);
}
END_TEST

/* Requests against policy(false, false): the state and the answer (OUT_NONE: not a preflight). */
static const struct check_case {
	const char     *name;
	bool            options;
	const char     *origin;     /* NULL: no Origin */
	unsigned        norigin;
	const char     *method;     /* Access-Control-Request-Method, NULL: none */
	unsigned        nmethod;
	const char     *headers;    /* Access-Control-Request-Headers, NULL: none */
	unsigned        nheaders;
	enum cors_state st;
	enum outcome    o;
} check_cases[] = {
	{ "simple GET, allowed origin", false, "https://app.example.com", 1, NULL, 0, NULL, 0,
	  CORS_ALLOWED, OUT_NONE },
	{ "simple GET, other origin", false, "https://evil.test", 1, NULL, 0, NULL, 0,
	  CORS_OTHER, OUT_NONE },
	{ "no Origin", false, NULL, 0, NULL, 0, NULL, 0, CORS_OTHER, OUT_NONE },
	{ "two Origin fields", false, "https://app.example.com", 2, NULL, 0, NULL, 0,
	  CORS_OTHER, OUT_NONE },
	{ "plain OPTIONS (no ACRM)", true, "https://app.example.com", 1, NULL, 0, NULL, 0,
	  CORS_ALLOWED, OUT_NONE },
	{ "OPTIONS with ACRM, no Origin", true, NULL, 0, "GET", 1, NULL, 0, CORS_OTHER, OUT_NONE },
	{ "POST with ACRM is no preflight", false, "https://app.example.com", 1, "GET", 1, NULL, 0,
	  CORS_ALLOWED, OUT_NONE },
	{ "preflight", true, "https://app.example.com", 1, "POST", 1, "content-type,x-auth-token", 1,
	  CORS_ALLOWED, OUT_CORS_PREFLIGHT },
	{ "preflight, no ACRH", true, "http://localhost:8080", 1, "GET", 1, NULL, 0,
	  CORS_ALLOWED, OUT_CORS_PREFLIGHT },
	{ "preflight, empty ACRH", true, "http://localhost:8080", 1, "GET", 1, "", 1,
	  CORS_ALLOWED, OUT_CORS_PREFLIGHT },
	{ "preflight, ACRH spaced, mixed case", true, "https://app.example.com", 1, "PUT", 1,
	  " X-Auth-Token , X-API-VERSION,,Content-Type ", 1, CORS_ALLOWED, OUT_CORS_PREFLIGHT },
	{ "preflight, other origin", true, "https://evil.test", 1, "GET", 1, NULL, 0,
	  CORS_OTHER, OUT_CORS_ORIGIN },
	{ "preflight, two origins", true, "https://app.example.com", 2, "GET", 1, NULL, 0,
	  CORS_OTHER, OUT_CORS_ORIGIN },
	{ "preflight, method not allowed", true, "https://app.example.com", 1, "DELETE", 1, NULL, 0,
	  CORS_ALLOWED, OUT_CORS_METHOD },
	{ "preflight, method case", true, "https://app.example.com", 1, "post", 1, NULL, 0,
	  CORS_ALLOWED, OUT_CORS_METHOD },
	{ "preflight, HEAD not listed", true, "https://app.example.com", 1, "HEAD", 1, NULL, 0,
	  CORS_ALLOWED, OUT_CORS_METHOD },
	{ "preflight, two ACRM", true, "https://app.example.com", 1, "GET", 2, NULL, 0,
	  CORS_ALLOWED, OUT_CORS_METHOD },
	{ "preflight, header not allowed", true, "https://app.example.com", 1, "GET", 1,
	  "x-auth-token,authorization", 1, CORS_ALLOWED, OUT_CORS_HEADERS },
	{ "preflight, header not a token", true, "https://app.example.com", 1, "GET", 1,
	  "content type", 1, CORS_ALLOWED, OUT_CORS_HEADERS },
	{ "preflight, two ACRH", true, "https://app.example.com", 1, "GET", 1, "content-type", 2,
	  CORS_ALLOWED, OUT_CORS_HEADERS },
};

START_TEST(test_check)
{
	const struct check_case *cc = &check_cases[_i];
	struct cors_policy *p = policy(false, false);
	struct cors_request rq = {
		.options = cc->options,
		.origin = cc->origin, .origin_len = cc->origin ? strlen(cc->origin) : 0,
		.norigin = cc->norigin,
		.method = cc->method, .method_len = cc->method ? strlen(cc->method) : 0,
		.nmethod = cc->nmethod,
		.headers = cc->headers, .headers_len = cc->headers ? strlen(cc->headers) : 0,
		.nheaders = cc->nheaders,
	};
	enum cors_state st = CORS_OFF;
	enum outcome o = cors_check(p, &rq, &st);

	ck_assert_msg(o == cc->o, "%s: outcome %s", cc->name, outcome_name(o));
	ck_assert_msg(st == cc->st, "%s: state %d", cc->name, st);
	cors_policy_free(p);
}
END_TEST

/* The response fields, exactly. */
static char *fields(const struct cors_policy *p, enum cors_state st, enum outcome o,
		    const char *origin)
{
	struct cors_field f[CORS_FIELDS_MAX];
	size_t n = cors_fields(p, st, o, origin, origin ? strlen(origin) : 0, f), len = 0;
	char *s = malloc(4096);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_le(n, CORS_FIELDS_MAX);
	/* formatted as HTTP/1 lines (h1out.c does the same) */
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_lt(len + f[i].name_len + f[i].val_len + 4, 4096);
		memcpy(s + len, f[i].name, f[i].name_len);
		len += f[i].name_len;
		memcpy(s + len, ": ", 2);
		len += 2;
		memcpy(s + len, f[i].val, f[i].val_len);
		len += f[i].val_len;
		memcpy(s + len, "\r\n", 2);
		len += 2;
	}
	s[len] = '\0';
	return s;
}

#define VARY3 "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n"

static const struct field_case {
	bool            any, credentials;
	enum cors_state st;
	enum outcome    o;
	const char     *origin;
	const char     *want;
} field_cases[] = {
	{ false, false, CORS_OFF, OUT_NONE, "https://app.example.com", "" },
	{ false, false, CORS_OTHER, OUT_NONE, "https://evil.test", "Vary: Origin\r\n" },
	{ false, false, CORS_OTHER, OUT_TOKEN_MISSING, NULL, "Vary: Origin\r\n" },
	{ false, false, CORS_OTHER, OUT_CORS_ORIGIN, "https://evil.test", VARY3 },
	{ false, false, CORS_ALLOWED, OUT_NONE, "https://app.example.com",
	  "Access-Control-Allow-Origin: https://app.example.com\r\n"
	  "Access-Control-Expose-Headers: X-Request-Id, ETag\r\n"
	  "Vary: Origin\r\n" },
	/* fngate's own refusal: the same fields, so the page can read it */
	{ false, false, CORS_ALLOWED, OUT_TOKEN_MISSING, "HTTPS://APP.example.com",
	  "Access-Control-Allow-Origin: HTTPS://APP.example.com\r\n"
	  "Access-Control-Expose-Headers: X-Request-Id, ETag\r\n"
	  "Vary: Origin\r\n" },
	{ false, true, CORS_ALLOWED, OUT_UPSTREAM_TIMEOUT, "http://localhost:8080",
	  "Access-Control-Allow-Origin: http://localhost:8080\r\n"
	  "Access-Control-Allow-Credentials: true\r\n"
	  "Access-Control-Expose-Headers: X-Request-Id, ETag\r\n"
	  "Vary: Origin\r\n" },
	{ false, false, CORS_ALLOWED, OUT_CORS_PREFLIGHT, "https://app.example.com",
	  "Access-Control-Allow-Origin: https://app.example.com\r\n"
	  "Access-Control-Allow-Methods: GET, POST, PUT\r\n"
	  "Access-Control-Allow-Headers: X-Auth-Token, Content-Type, X-Api-Version\r\n"
	  "Access-Control-Max-Age: 600\r\n" VARY3 },
	{ false, true, CORS_ALLOWED, OUT_CORS_PREFLIGHT, "https://app.example.com",
	  "Access-Control-Allow-Origin: https://app.example.com\r\n"
	  "Access-Control-Allow-Credentials: true\r\n"
	  "Access-Control-Allow-Methods: GET, POST, PUT\r\n"
	  "Access-Control-Allow-Headers: X-Auth-Token, Content-Type, X-Api-Version\r\n"
	  "Access-Control-Max-Age: 600\r\n" VARY3 },
	/* a refused preflight from an allowed origin: the origin, no Allow-* */
	{ false, false, CORS_ALLOWED, OUT_CORS_METHOD, "https://app.example.com",
	  "Access-Control-Allow-Origin: https://app.example.com\r\n" VARY3 },
	{ false, false, CORS_ALLOWED, OUT_CORS_HEADERS, "https://app.example.com",
	  "Access-Control-Allow-Origin: https://app.example.com\r\n" VARY3 },
	{ true, false, CORS_ALLOWED, OUT_NONE, "https://anyone.test",
	  "Access-Control-Allow-Origin: *\r\n"
	  "Access-Control-Expose-Headers: X-Request-Id, ETag\r\n"
	  "Vary: Origin\r\n" },
	{ true, false, CORS_ALLOWED, OUT_CORS_PREFLIGHT, "https://anyone.test",
	  "Access-Control-Allow-Origin: *\r\n"
	  "Access-Control-Allow-Methods: GET, POST, PUT\r\n"
	  "Access-Control-Allow-Headers: X-Auth-Token, Content-Type, X-Api-Version\r\n"
	  "Access-Control-Max-Age: 600\r\n" VARY3 },
};

START_TEST(test_fields)
{
	const struct field_case *fc = &field_cases[_i];
	struct cors_policy *p = policy(fc->any, fc->credentials);
	char *got = fields(p, fc->st, fc->o, fc->origin);

	ck_assert_str_eq(got, fc->want);
	free(got);
	cors_policy_free(p);
}
END_TEST

START_TEST(test_upstream_field)
{
	static const struct {
		const char *name;
		bool        owned;
	} rows[] = {
		{ "Access-Control-Allow-Origin", true },
		{ "access-control-allow-credentials", true },
		{ "ACCESS-CONTROL-EXPOSE-HEADERS", true },
		{ "Access-Control-", false },
		{ "Access-Controlled", false },
		{ "Vary", false },
		{ "X-Access-Control-Allow-Origin", false },
	};

	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		ck_assert_msg(cors_upstream_field(rows[i].name, strlen(rows[i].name)) == rows[i].owned,
			      "%s", rows[i].name);
}
END_TEST

/* ---- the "cors" block of a configuration ---- */

static char anchor[300];

static struct conf *load(const char *text, struct conf_errors *errs)
{
	return conf_load_string(text, strlen(text), anchor, errs);
}

#define HEAD "{\"listen\": [\"127.0.0.1:8080\"],\n \"namespaces\": [{\"name\": \"ns\",\n"
#define FN(extra) "\"functions\": [{\"name\": \"f\", \"upstreams\": [\"http://127.0.0.1:9000\"]" \
		  extra "}]}]}"

static const struct conf_case {
	const char *name;
	const char *text;
	int         line, column;
	const char *message;
} conf_cases[] = {
	{ "not an object", HEAD FN(",\n \"cors\": [\"*\"]"), 4, 10,
	  "namespaces[0].functions[0].cors: must be an object or null, not an array" },
	{ "unknown key", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"allow_origin\": [\"*\"]}"),
	  4, 35, "functions[0].cors.allow_origin: unknown key (did you mean \"allow_origins\"?)" },
	{ "origins missing", HEAD FN(",\n \"cors\": {\"max_age_s\": 5}"), 4, 10,
	  "functions[0].cors.allow_origins: missing (required)" },
	{ "origins empty", HEAD FN(",\n \"cors\": {\"allow_origins\": []}"), 4, 28,
	  "functions[0].cors.allow_origins: must not be empty" },
	{ "origin with a path", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"https://a.test\",\n"
				      "  \"https://b.test/\"]}"), 5, 3,
	  "functions[0].cors.allow_origins[1]: has a path" },
	{ "origin not a string", HEAD FN(",\n \"cors\": {\"allow_origins\": [1]}"), 4, 29,
	  "cors.allow_origins[0]: must be a string, not an integer" },
	{ "star with others", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"https://a.test\", \"*\"]}"),
	  4, 47, "cors.allow_origins[1]: \"*\" allows every origin" },
	{ "star with credentials", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"],\n"
					 "  \"allow_credentials\": true}"), 5, 24,
	  "cors.allow_credentials: cannot be true with allow_origins [\"*\"]" },
	{ "credentials type", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"allow_credentials\": 1}"),
	  4, 56, "cors.allow_credentials: must be true or false" },
	{ "methods empty", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"allow_methods\": []}"),
	  4, 52, "cors.allow_methods: must not be empty" },
	{ "method lower case", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"allow_methods\": [\"GET\", \"post\"]}"),
	  4, 60, "cors.allow_methods[1]: must be upper case" },
	{ "header not a token", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"allow_headers\": [\"a b\"]}"),
	  4, 53, "cors.allow_headers[0]: is not a header name" },
	{ "expose star", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"expose_headers\": [\"*\"]}"),
	  4, 54, "cors.expose_headers[0]: wildcards are not supported" },
	{ "max age", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"max_age_s\": 86401}"),
	  4, 48, "cors.max_age_s: 86401 is out of range (0..86400)" },
	{ "max age negative", HEAD FN(",\n \"cors\": {\"allow_origins\": [\"*\"], \"max_age_s\": -1}"),
	  4, 48, "cors.max_age_s: -1 is out of range" },
	{ "namespace block", HEAD " \"cors\": {\"allow_origins\": [\"null\"]},\n" FN(""), 3, 29,
	  "namespaces[0].cors.allow_origins[0]: \"null\" cannot be allowed" },
};

START_TEST(test_conf_errors)
{
	const struct conf_case *cc = &conf_cases[_i];
	struct conf_errors errs = {0};
	struct conf *c = load(cc->text, &errs);

	ck_assert_msg(c == NULL, "%s: loaded", cc->name);
	ck_assert_msg(errs.n == 1, "%s: %zu errors, first: %s", cc->name, errs.n,
		      errs.n ? errs.v[0].message : "");
	ck_assert_msg(strstr(errs.v[0].message, cc->message) != NULL, "%s: message %s", cc->name,
		      errs.v[0].message);
	ck_assert_msg(errs.v[0].line == cc->line && errs.v[0].column == cc->column,
		      "%s: at %d:%d, want %d:%d (%s)", cc->name, errs.v[0].line, errs.v[0].column,
		      cc->line, cc->column, errs.v[0].message);
	conf_errors_free(&errs);
}
END_TEST

/* The namespace default, a function's own block replacing it whole, null turning it off. */
START_TEST(test_conf_inherit)
{
	static const char text[] =
		"{\"listen\": [\"127.0.0.1:8080\"], \"namespaces\": [\n"
		" {\"name\": \"ns\",\n"
		"  \"cors\": {\"allow_origins\": [\"https://app.example.com\"], \"allow_methods\": [\"PUT\"],\n"
		"           \"allow_headers\": [\"Content-Type\"], \"max_age_s\": 30,\n"
		"           \"allow_credentials\": true},\n"
		"  \"functions\": [\n"
		"   {\"name\": \"inherits\", \"path_prefix\": \"/a\", \"upstreams\": [\"http://127.0.0.1:9000\"]},\n"
		"   {\"name\": \"own\", \"path_prefix\": \"/b\", \"upstreams\": [\"http://127.0.0.1:9000\"],\n"
		"    \"cors\": {\"allow_origins\": [\"*\"]}},\n"
		"   {\"name\": \"off\", \"path_prefix\": \"/c\", \"upstreams\": [\"http://127.0.0.1:9000\"],\n"
		"    \"cors\": null}]},\n"
		" {\"name\": \"plain\", \"functions\": [\n"
		"   {\"name\": \"none\", \"path_prefix\": \"/d\", \"upstreams\": [\"http://127.0.0.1:9000\"]}]}]}\n";
	struct conf_errors errs = {0};
	struct conf *c = load(text, &errs);
	const struct conf_function *f;

	ck_assert_msg(c != NULL, "%s", errs.n ? errs.v[0].message : "");
	f = conf_find_function(c, "inherits");
	ck_assert_ptr_nonnull(f->cors);
	ck_assert_ptr_eq(f->cors, c->namespaces[0].cors);
	ck_assert_ptr_null(f->cors_own);
	ck_assert(f->cors->credentials);
	ck_assert_uint_eq(f->cors->max_age_s, 30);
	ck_assert_uint_eq(f->cors->methods.n, 1);
	ck_assert_str_eq(f->cors->methods.v[0], "PUT");
	/* replaced as a whole: nothing of the namespace's (credentials, methods, max age) is kept */
	f = conf_find_function(c, "own");
	ck_assert_ptr_nonnull(f->cors);
	ck_assert_ptr_eq(f->cors, f->cors_own);
	ck_assert(f->cors->any_origin);
	ck_assert(!f->cors->credentials);
	ck_assert_uint_eq(f->cors->max_age_s, CORS_DEF_MAX_AGE);
	ck_assert_uint_eq(f->cors->methods.n, 3);
	ck_assert_uint_eq(f->cors->headers.n, 0);
	ck_assert_ptr_null(conf_find_function(c, "off")->cors);
	ck_assert_ptr_null(conf_find_function(c, "none")->cors);
	conf_unref(c);
	conf_errors_free(&errs);
}
END_TEST

static Suite *cors_suite(void)
{
	Suite *s = suite_create("cors");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_values, 0, ARRAY_LEN(value_cases));
	tcase_add_test(tc, test_finish);
	tcase_add_loop_test(tc, test_match, 0, ARRAY_LEN(match_cases));
	tcase_add_loop_test(tc, test_check, 0, ARRAY_LEN(check_cases));
	tcase_add_loop_test(tc, test_fields, 0, ARRAY_LEN(field_cases));
	tcase_add_test(tc, test_upstream_field);
	tcase_add_loop_test(tc, test_conf_errors, 0, ARRAY_LEN(conf_cases));
	tcase_add_test(tc, test_conf_inherit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	snprintf(anchor, sizeof(anchor), "%s/conf.json", tu_tempdir());
	return tu_run(cors_suite());
}
