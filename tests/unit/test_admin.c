/* test_admin.c - admin permission decisions and the endpoint rule (tables), and the admin API over
 * real HTTP on a loopback port: every endpoint and error of issue 3, whoami, security headers,
 * the console's files. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "admin.h"
#include "conf.h"
#include "registry.h"
#include "signkeys.h"
#include "revoke.h"
#include "state.h"
#include "testutil.h"
#include "token.h"
#include "util.h"

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int l = 0;

	EVP_Digest(s, strlen(s), md, &l, EVP_sha256(), NULL);
	util_hex(md, 32, out);
}

static void sha256_raw(const char *s, unsigned char md[32])
{
	unsigned int l = 0;

	EVP_Digest(s, strlen(s), md, &l, EVP_sha256(), NULL);
}

/* ---------------------------------------------------------------- the permission table */

START_TEST(test_permission_table)
{
	static char *ci_ns[] = {(char *)"ns1"};
	struct conf_admin_key keys[4];
	struct conf_admin adm;
	static const struct {
		const char *key;        /* presented */
		unsigned    perm;
		const char *ns;
		int         want;       /* 401, 403 or 0 */
	} table[] = {
		{"owner-secret", ADMIN_PERM_TOKENS_WRITE, "ns1", 0},
		{"owner-secret", ADMIN_PERM_FUNCTIONS_WRITE, "ns2", 0},
		{"owner-secret", ADMIN_PERM_TOKENS_WRITE, NULL, 0},
		{"ci-secret", ADMIN_PERM_TOKENS_READ, "ns1", 0},
		{"ci-secret", ADMIN_PERM_TOKENS_WRITE, "ns1", 0},
		{"ci-secret", ADMIN_PERM_TOKENS_WRITE, "ns2", 403},   /* outside its namespaces */
		{"ci-secret", ADMIN_PERM_TOKENS_WRITE, NULL, 403},    /* not bound to a namespace */
		{"ci-secret", ADMIN_PERM_FUNCTIONS_WRITE, "ns1", 403},/* lacks the permission */
		{"ci-secret", 0, "ns1", 0},
		{"ro-secret", ADMIN_PERM_TOKENS_READ, "ns2", 0},
		{"ro-secret", ADMIN_PERM_TOKENS_WRITE, "ns2", 403},
		{"fn-secret", ADMIN_PERM_FUNCTIONS_WRITE, "ns9", 0},
		{"fn-secret", ADMIN_PERM_TOKENS_READ, "ns9", 403},
		{"wrong", ADMIN_PERM_TOKENS_READ, "ns1", 401},
		{"", ADMIN_PERM_TOKENS_READ, "ns1", 401},
		{"owner-secre", ADMIN_PERM_TOKENS_READ, "ns1", 401},  /* a prefix is not the key */
		{"owner-secret ", ADMIN_PERM_TOKENS_READ, "ns1", 401},
	};

	memset(keys, 0, sizeof(keys));
	keys[0].name = (char *)"ops";
	sha256_raw("owner-secret", keys[0].sha256);
	keys[0].perms = ADMIN_PERM_ALL;
	keys[1].name = (char *)"ci";
	sha256_raw("ci-secret", keys[1].sha256);
	keys[1].perms = ADMIN_PERM_TOKENS_READ | ADMIN_PERM_TOKENS_WRITE;
	keys[1].namespaces = ci_ns;
	keys[1].nnamespaces = 1;
	keys[2].name = (char *)"ro";
	sha256_raw("ro-secret", keys[2].sha256);
	keys[2].perms = ADMIN_PERM_TOKENS_READ;
	keys[3].name = (char *)"fn";
	sha256_raw("fn-secret", keys[3].sha256);
	keys[3].perms = ADMIN_PERM_FUNCTIONS_WRITE;
	memset(&adm, 0, sizeof(adm));
	adm.keys = keys;
	adm.nkeys = 4;

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		const struct conf_admin_key *k = admin_authenticate(&adm, table[i].key,
								    strlen(table[i].key));
		int got = k == NULL ? 401 : admin_authorize(k, table[i].perm, table[i].ns) == 0 ? 0 :
			  403;

		ck_assert_msg(got == table[i].want, "row %zu (%s, %#x, %s): got %d, want %d", i,
			      table[i].key, table[i].perm, table[i].ns ? table[i].ns : "-", got,
			      table[i].want);
	}
	/* Over-long keys are refused before hashing; no keys configured: nobody. */
	{
		char big[ADMIN_KEY_MAX + 2];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_ptr_null(admin_authenticate(&adm, big, strlen(big)));
		adm.nkeys = 0;
		ck_assert_ptr_null(admin_authenticate(&adm, "owner-secret", 12));
	}
}
END_TEST

/* ---------------------------------------------------------------- the endpoint rule */

START_TEST(test_endpoint_table)
{
	static const struct {
		const char *listen;     /* JSON array body */
		const char *route;      /* the function's "hosts" / "path_prefix" members */
		const char *want;       /* NULL: no endpoint (-1) */
		const char *top;        /* top-level members ("" / NULL: none) */
		const char *ns;         /* the namespace's members */
	} table[] = {
		{"\"127.0.0.1:8080\"", "\"path_prefix\":\"/f\"", "http://127.0.0.1:8080/f", NULL, NULL},
		/* Wildcard listen addresses are shown as the loopback address of their family. */
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "http://127.0.0.1:8080/f", NULL, NULL},
		{"\"0.0.0.0:8080\"", "\"path_prefix\":\"/f/\"", "http://127.0.0.1:8080/f", NULL, NULL},
		{"\"[::]:8443\"", "\"path_prefix\":\"/a/b\"", "http://[::1]:8443/a/b", NULL, NULL},
		{"\"[::1]:8080\"", "\"path_prefix\":\"/f\"", "http://[::1]:8080/f", NULL, NULL},
		{"\"10.1.2.3:80\"", "\"path_prefix\":\"/\"", "http://10.1.2.3/", NULL, NULL},
		/* The first listen address counts. */
		{"\"127.0.0.2:81\",\"*:8080\"", "\"path_prefix\":\"/f\"", "http://127.0.0.2:81/f", NULL, NULL},
		/* A host wins over the listen address, with the listen port; no prefix -> "/". */
		{"\"*:8080\"", "\"hosts\":[\"api.example.com\"]", "http://api.example.com:8080/", NULL, NULL},
		{"\"127.0.0.1:80\"", "\"hosts\":[\"api.example.com\"]", "http://api.example.com/", NULL, NULL},
		{"\"[::]:9000\"", "\"hosts\":[\"*.example.com\",\"fn.example.com\"],\"path_prefix\":\"/v2\"",
		 "http://fn.example.com:9000/v2", NULL, NULL},
		/* Wildcard hosts only: no single URL. */
		{"\"*:8080\"", "\"hosts\":[\"*.example.com\"]", NULL, NULL, NULL},
		{"\"*:8080\"", "\"hosts\":[\"*.example.com\"],\"path_prefix\":\"/f\"", NULL, NULL, NULL},
		/* A public_url gives scheme, authority and base path; the default port is dropped. */
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "https://fn.example.com/f",
		 "\"public_url\":\"https://fn.example.com\",", NULL},
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "https://example.com/gw/f",
		 "\"public_url\":\"HTTPS://Example.COM:443/gw/\",", NULL},
		{"\"*:8080\"", "\"path_prefix\":\"/\"", "http://example.com:8000/gw/",
		 "\"public_url\":\"http://example.com:8000/gw\",", NULL},
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "http://[2001:db8::1]:81/f",
		 "\"public_url\":\"http://[2001:DB8::1]:81\",", NULL},
		/* ... and a function's exact host stays its host. */
		{"\"*:8080\"", "\"hosts\":[\"shop.example.com\"],\"path_prefix\":\"/f\"",
		 "https://shop.example.com:8443/gw/f", "\"public_url\":\"https://example.com:8443/gw\",", NULL},
		{"\"*:8080\"", "\"hosts\":[\"*.example.com\"]", NULL,
		 "\"public_url\":\"https://example.com\",", NULL},
		/* The namespace's public_url wins over the top-level one. */
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "https://team.example.net/x/f",
		 "\"public_url\":\"https://fn.example.com\",",
		 "\"public_url\":\"https://team.example.net/x\","},
		{"\"*:8080\"", "\"path_prefix\":\"/f\"", "http://ns.example.net/f", "",
		 "\"public_url\":\"http://ns.example.net\","},
	};
	char text[1024], buf[256];

	for (size_t i = 0; i < ARRAY_LEN(table); i++) {
		struct conf_errors errs = {0};
		struct conf *c;
		int rc;

		snprintf(text, sizeof(text),
			 "{%s\"listen\":[%s],\"state_dir\":\"%s\",\"admin\":{\"listen\":null},"
			 "\"namespaces\":[{%s\"name\":\"ns\",\"functions\":[{\"name\":\"fn\",%s,"
			 "\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}",
			 table[i].top ? table[i].top : "", table[i].listen, tu_tempdir(),
			 table[i].ns ? table[i].ns : "", table[i].route);
		c = conf_load_string(text, strlen(text), "endpoint-test.json", &errs);
		if (c == NULL)
			conf_errors_print(&errs, stderr);
		conf_errors_free(&errs);
		ck_assert_msg(c != NULL, "row %zu: the configuration loads", i);
		memset(buf, 'x', sizeof(buf));
		rc = admin_function_endpoint(c, conf_find_function(c, "fn"), buf, sizeof(buf));
		if (table[i].want == NULL) {
			ck_assert_msg(rc == -1, "row %zu: want no endpoint, got %s", i, buf);
		} else {
			ck_assert_msg(rc == 0, "row %zu: no endpoint, want %s", i, table[i].want);
			ck_assert_msg(strcmp(buf, table[i].want) == 0, "row %zu: %s, want %s", i, buf,
				      table[i].want);
			/* Too small a buffer: -1 and an empty string, never a truncated URL. */
			ck_assert_int_eq(admin_function_endpoint(c, conf_find_function(c, "fn"), buf,
								 strlen(table[i].want)), -1);
			ck_assert_str_eq(buf, "");
		}
		conf_unref(c);
	}
}
END_TEST

/* ---------------------------------------------------------------- over HTTP */

static struct event_base *base;
static int port;

struct resp {
	int   code;
	char *body;
	char  csp[256];
	char  xfo[32];
	char  cache[64];
	char  ctype[64];
};

static void done_cb(struct evhttp_request *req, void *arg)
{
	struct resp *r = arg;
	const char *v;

	if (req != NULL) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		struct evkeyvalq *h = evhttp_request_get_input_headers(req);
		size_t n = evbuffer_get_length(in);

		r->code = evhttp_request_get_response_code(req);
		r->body = malloc(n + 1);
		evbuffer_remove(in, r->body, n);
		r->body[n] = '\0';
		if ((v = evhttp_find_header(h, "Content-Security-Policy")) != NULL)
			snprintf(r->csp, sizeof(r->csp), "%s", v);
		if ((v = evhttp_find_header(h, "X-Frame-Options")) != NULL)
			snprintf(r->xfo, sizeof(r->xfo), "%s", v);
		if ((v = evhttp_find_header(h, "Cache-Control")) != NULL)
			snprintf(r->cache, sizeof(r->cache), "%s", v);
		if ((v = evhttp_find_header(h, "Content-Type")) != NULL)
			snprintf(r->ctype, sizeof(r->ctype), "%s", v);
	}
	event_base_loopbreak(base);
}

/* One request; the response in *r (body malloc'd). */
static void call(const char *method, const char *path, const char *key, const char *body,
		 struct resp *r)
{
	struct evhttp_connection *cn = evhttp_connection_base_new(base, NULL, "127.0.0.1",
								  (unsigned short)port);
	struct evhttp_request *req = evhttp_request_new(done_cb, r);
	enum evhttp_cmd_type m = strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST :
				 strcmp(method, "DELETE") == 0 ? EVHTTP_REQ_DELETE :
				 strcmp(method, "PATCH") == 0 ? EVHTTP_REQ_PATCH :
				 strcmp(method, "PUT") == 0 ? EVHTTP_REQ_PUT : EVHTTP_REQ_GET;
	char auth[300];

	memset(r, 0, sizeof(*r));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "localhost");
	if (key != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", key);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
	}
	if (body != NULL) {
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  "application/json");
		/* libevent's client sets Content-Length for POST but not for PATCH. */
		if (m == EVHTTP_REQ_PATCH) {
			char cl[24];

			snprintf(cl, sizeof(cl), "%zu", strlen(body));
			evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", cl);
		}
	}
	ck_assert_int_eq(evhttp_make_request(cn, req, m, path), 0);
	event_base_dispatch(base);
	evhttp_connection_free(cn);
	ck_assert_msg(r->code != 0, "%s %s: no response", method, path);
}

/* A loopback port nothing uses now: the kernel's pick for port 0. A fixed range would collide
 * with the client side of other connections on a shared machine. */
static int free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	p = ntohs(sin.sin_port);
	close(fd);
	return p;
}

static struct conf *conf;
static struct registry *reg;
static struct signkeys *keys;
static struct admin *adm;
static char dir[1024], webdir[1200];

static void http_setup(void)
{
	char text[4096], h_ops[65], h_ci[65], h_ro[65], err[256], path[1400];
	struct conf_errors errs = {0};
	FILE *f;

	ck_assert_int_eq(revoke_init(), 0);
	snprintf(dir, sizeof(dir), "%s", tu_tempdir());
	/* A console directory with a file, and a symlink that leads outside it. */
	snprintf(webdir, sizeof(webdir), "%s/web", dir);
	mkdir(webdir, 0700);
	snprintf(path, sizeof(path), "%s/index.html", webdir);
	f = fopen(path, "w");
	fputs("<!doctype html><title>console</title>", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/app.js", webdir);
	f = fopen(path, "w");
	fputs("console.log(1);", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/leak.txt", webdir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	setenv("FNGATE_WEB_ROOT", webdir, 1);

	sha256_hex("ops-key", h_ops);
	sha256_hex("ci-key", h_ci);
	sha256_hex("ro-key", h_ro);
	port = free_port();      /* the admin API; port + 1 is only written in the listen list */
	snprintf(text, sizeof(text),
		 "{\"listen\":[\"127.0.0.1:%d\"],\"state_dir\":\"%s\","
		 "\"admin\":{\"listen\":\"127.0.0.1:%d\",\"keys\":["
		 "{\"name\":\"ops\",\"sha256\":\"%s\",\"role\":\"owner\"},"
		 "{\"name\":\"ci\",\"sha256\":\"%s\",\"permissions\":[\"tokens:read\",\"tokens:write\"],"
		 "\"namespaces\":[\"ns1\"]},"
		 "{\"name\":\"ro\",\"sha256\":\"%s\",\"permissions\":[\"tokens:read\"]}]},"
		 "\"namespaces\":["
		 "{\"name\":\"ns1\",\"issue_tokens\":true,\"functions\":[{\"name\":\"f1\","
		 "\"path_prefix\":\"/f1\",\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
		 "{\"name\":\"ns2\",\"issue_tokens\":true,\"functions\":[{\"name\":\"f2\","
		 "\"path_prefix\":\"/f2\",\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
		 "{\"name\":\"imp\",\"functions\":[{\"name\":\"f3\",\"privacy\":\"public\","
		 "\"path_prefix\":\"/f3\",\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}",
		 port + 1, dir, port, h_ops, h_ci, h_ro);
	conf = conf_load_string(text, strlen(text), "admin-test.json", &errs);
	if (conf == NULL)
		conf_errors_print(&errs, stderr);
	conf_errors_free(&errs);
	ck_assert_ptr_nonnull(conf);
	reg = registry_open(dir, err, sizeof(err));
	ck_assert_msg(reg != NULL, "%s", err);
	keys = signkeys_new();
	ck_assert_ptr_nonnull(keys);
	ck_assert_msg(signkeys_load(keys, dir, conf, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(state_apply(conf), 0);
	conf_publish(conf_ref(conf));
	base = event_base_new();
	adm = admin_start(base, reg, keys, err, sizeof(err));
	ck_assert_msg(adm != NULL, "admin_start: %s", err);
}

static void http_teardown(void)
{
	admin_stop(adm);
	event_base_free(base);
	registry_close(reg);
	signkeys_free(keys);
	conf_unref(conf);
	revoke_shutdown();
}

/* A table step: request, expected status, and a text the body must (or must not) contain. */
struct step {
	const char *method, *path, *key, *body;
	int         status;
	const char *has;
	const char *lacks;
};

static void run_steps(const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		struct resp r;

		call(s->method, s->path, s->key, s->body, &r);
		ck_assert_msg(r.code == s->status, "step %zu %s %s: %d, want %d: %s", i, s->method,
			      s->path, r.code, s->status, r.body);
		if (s->has != NULL)
			ck_assert_msg(strstr(r.body, s->has) != NULL, "step %zu %s %s: no \"%s\" in %s",
				      i, s->method, s->path, s->has, r.body);
		if (s->lacks != NULL)
			ck_assert_msg(strstr(r.body, s->lacks) == NULL, "step %zu %s %s: \"%s\" in %s",
				      i, s->method, s->path, s->lacks, r.body);
		/* Every API response carries the security headers and no-store. */
		if (strncmp(s->path, "/v1", 3) == 0 && r.code != 405) {
			ck_assert_msg(strstr(r.csp, "frame-ancestors 'none'") != NULL, "step %zu csp", i);
			ck_assert_str_eq(r.xfo, "DENY");
			ck_assert_str_eq(r.cache, "no-store");
			ck_assert_str_eq(r.ctype, "application/json");
		}
		free(r.body);
	}
}

START_TEST(test_http_errors)
{
	static char big[80 * 1024];
	char desc513[700], ctl[128];

	memset(big, ' ', sizeof(big) - 1);
	memcpy(big, "{\"description\":\"", 16);
	big[sizeof(big) - 3] = '"';
	big[sizeof(big) - 2] = '}';
	snprintf(desc513, sizeof(desc513), "{\"namespace_id\":\"ns1\",\"description\":\"%0513d\"}", 0);
	snprintf(ctl, sizeof(ctl), "{\"namespace_id\":\"ns1\",\"description\":\"a\\u0001b\"}");
	{
		const struct step steps[] = {
			{"GET", "/healthz", NULL, NULL, 200, "\"ok\"", NULL},
			{"GET", "/v1/namespaces", NULL, NULL, 401, "\"unauthorized\"", NULL},
			{"GET", "/v1/namespaces", "wrong-key", NULL, 401, "unknown admin key", NULL},
			{"GET", "/v1/namespaces", "ops-key", NULL, 200, "\"ns2\"", NULL},
			{"GET", "/v1/namespaces", "ci-key", NULL, 200, "\"ns1\"", "\"ns2\""},
			{"GET", "/v1/namespaces/ns2", "ci-key", NULL, 404, "no namespace with this id", NULL},
			{"GET", "/v1/namespaces/zz", "ops-key", NULL, 404, "not_found", NULL},
			{"GET", "/v1/namespaces/ns1/functions", "ops-key", NULL, 200, "\"f1\"", NULL},
			{"GET", "/v1/functions/f3", "ops-key", NULL, 200, "\"public\"", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"function_id\":\"f1\"}",
			 400, "not both", NULL},
			{"POST", "/v1/tokens", "ops-key", "{}", 400, "exactly one", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"nope\"}", 400,
			 "unknown_namespace", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"function_id\":\"nope\"}", 400,
			 "unknown_function", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"expires_at\":"
			 "\"2001-01-01T00:00:00Z\"}", 400, "in the past", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"expires_at\":"
			 "\"tomorrow\"}", 400, "RFC 3339", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"expires_at\":5}",
			 400, "expires_at must be a string", NULL},
			{"POST", "/v1/tokens", "ops-key", desc513, 400, "longer than 512", NULL},
			{"POST", "/v1/tokens", "ops-key", ctl, 400, "control character", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"description\":"
			 "\"a\\u0085b\"}", 400, "C1 control, bidirectional", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"description\":"
			 "\"a\\u202eb\"}", 400, "C1 control, bidirectional", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns1\",\"foo\":1}", 400,
			 "unknown field \\\"foo\\\"", NULL},
			{"POST", "/v1/tokens", "ops-key", "not json", 400, "invalid_json", NULL},
			{"POST", "/v1/tokens", "ops-key", "[1]", 400, "must be a JSON object", NULL},
			{"POST", "/v1/tokens", "ops-key", big, 413, "body_too_large", NULL},
			{"POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"imp\"}", 400,
			 "does not issue tokens", NULL},
			{"POST", "/v1/tokens", "ci-key", "{\"namespace_id\":\"ns2\"}", 400,
			 "unknown_namespace", NULL},
			{"POST", "/v1/tokens", "ro-key", "{\"namespace_id\":\"ns2\"}", 403,
			 "lacks the tokens:write permission", NULL},
			{"GET", "/v1/tokens?page_size=0", "ops-key", NULL, 400, "page_size", NULL},
			{"GET", "/v1/tokens?page_size=101", "ops-key", NULL, 400, "page_size", NULL},
			{"GET", "/v1/tokens?page=x", "ops-key", NULL, 400, "page must", NULL},
			{"GET", "/v1/tokens?order_by=name", "ops-key", NULL, 400, "order_by", NULL},
			{"GET", "/v1/tokens?bogus=1", "ops-key", NULL, 400, "unknown query parameter", NULL},
			{"GET", "/v1/tokens?namespace_id=ns2", "ci-key", NULL, 200, "\"total_count\":0", NULL},
			{"GET", "/v1/tokens/nope", "ops-key", NULL, 404, "not_found", NULL},
			{"DELETE", "/v1/tokens/nope", "ops-key", NULL, 404, "not_found", NULL},
			{"POST", "/v1/tokens/revoke", "ci-key", "{\"jti\":\"scw-1\"}", 403, "name one",
			 NULL},
			{"POST", "/v1/tokens/revoke", "ops-key", "{}", 400, "jti is required", NULL},
			{"POST", "/v1/tokens/revoke", "ops-key", "{\"jti\":\"a b\"}", 400,
			 "jti is required", NULL},
			{"POST", "/v1/tokens/revoke", "ops-key", "{\"jti\":\"scw-1\"}", 200,
			 "\"imported\":true", NULL},
			{"POST", "/v1/tokens/revoke", "ops-key", "{\"jti\":\"scw-1\"}", 409,
			 "already_revoked", NULL},
			{"PATCH", "/v1/functions/f1", "ci-key", "{\"privacy\":\"public\"}", 403,
			 "functions:write", NULL},
			{"PATCH", "/v1/functions/f1", "ops-key", "{\"privacy\":\"secret\"}", 400,
			 "\\\"private\\\" or \\\"public\\\"", NULL},
			{"PATCH", "/v1/functions/nope", "ops-key", "{\"privacy\":\"public\"}", 404,
			 "not_found", NULL},
			{"POST", "/v1/namespaces", "ops-key", "{}", 405, "method_not_allowed", NULL},
			{"GET", "/v1/whatever", "ops-key", NULL, 404, "no such API endpoint", NULL},
			/* The console: files under the root only. */
			{"GET", "/", NULL, NULL, 200, "<title>console</title>", NULL},
			{"GET", "/app.js", NULL, NULL, 200, "console.log", NULL},
			/* dot segments are refused by the transport, raw or encoded */
			{"GET", "/../../etc/passwd", NULL, NULL, 400, NULL, "root:"},
			{"GET", "/%2e%2e/%2e%2e/etc/passwd", NULL, NULL, 400, NULL, "root:"},
			{"GET", "/leak.txt", NULL, NULL, 404, NULL, "root:"},
			{"GET", "/nope.html", NULL, NULL, 404, NULL, NULL},
			{"POST", "/index.html", NULL, "{}", 405, NULL, NULL},
		};

		run_steps(steps, ARRAY_LEN(steps));
	}
	/* an owner's revocation without a namespace applies in every namespace */
	ck_assert_int_eq(revoke_lookup("ns1", "scw-1", 5), REVOKE_REVOKED);
	ck_assert_int_eq(revoke_lookup("any-other-ns", "scw-1", 5), REVOKE_REVOKED);
	/* Static files: the right type and the security headers. */
	{
		struct resp r;

		call("GET", "/app.js", NULL, NULL, &r);
		ck_assert_str_eq(r.ctype, "text/javascript; charset=utf-8");
		ck_assert_str_eq(r.xfo, "DENY");
		ck_assert_ptr_nonnull(strstr(r.csp, "script-src 'self'"));
		free(r.body);
	}
}
END_TEST

/* Copy the JSON string value of "key" out of body (enough for ids and tokens). */
static void json_field(const char *body, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(body, pat);
	ck_assert_msg(p != NULL, "no %s in %s", key, body);
	p += strlen(pat);
	e = strchr(p, '"');
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_lt((size_t)(e - p), cap);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

START_TEST(test_http_whoami_endpoint)
{
	char all[64], ep1[64], ep3[64];

	snprintf(all, sizeof(all), "\"endpoint\":\"http://127.0.0.1:%d/f", port + 1);
	snprintf(ep1, sizeof(ep1), "\"endpoint\":\"http://127.0.0.1:%d/f1\"", port + 1);
	snprintf(ep3, sizeof(ep3), "\"endpoint\":\"http://127.0.0.1:%d/f3\"", port + 1);
	{
		const struct step steps[] = {
			{"GET", "/v1/whoami", NULL, NULL, 401, "\"unauthorized\"", NULL},
			{"GET", "/v1/whoami", "wrong-key", NULL, 401, "unknown admin key", NULL},
			{"GET", "/v1/whoami", "ops-key", NULL, 200, "\"name\":\"ops\"", NULL},
			{"GET", "/v1/whoami", "ops-key", NULL, 200, "\"role\":\"owner\"", NULL},
			{"GET", "/v1/whoami", "ops-key", NULL, 200, "\"permissions\":[\"tokens:read\","
			 "\"tokens:write\",\"functions:write\"]", NULL},
			{"GET", "/v1/whoami", "ops-key", NULL, 200, "\"namespaces\":null", NULL},
			{"GET", "/v1/whoami", "ci-key", NULL, 200, "\"name\":\"ci\"", NULL},
			{"GET", "/v1/whoami", "ci-key", NULL, 200, "\"role\":null", NULL},
			{"GET", "/v1/whoami", "ci-key", NULL, 200, "\"permissions\":[\"tokens:read\","
			 "\"tokens:write\"]", NULL},
			{"GET", "/v1/whoami", "ci-key", NULL, 200, "\"namespaces\":[\"ns1\"]", NULL},
			{"GET", "/v1/whoami", "ro-key", NULL, 200, "\"permissions\":[\"tokens:read\"]",
			 "\"owner\""},
			{"GET", "/v1/whoami", "ro-key", NULL, 200, "\"namespaces\":null", NULL},
			{"GET", "/v1/whoami", "ro-key", NULL, 200, NULL, "sha256"},
			{"POST", "/v1/whoami", "ops-key", "{}", 405, "method_not_allowed", NULL},
			/* Every function object carries its endpoint: one, lists, a PATCH reply. */
			{"GET", "/v1/functions/f1", "ro-key", NULL, 200, ep1, NULL},
			{"GET", "/v1/functions/f3", "ops-key", NULL, 200, ep3, NULL},
			{"GET", "/v1/namespaces/ns1/functions", "ci-key", NULL, 200, ep1, NULL},
			{"GET", "/v1/functions", "ops-key", NULL, 200, ep3, NULL},
			{"PATCH", "/v1/functions/f1", "ops-key", "{\"privacy\":\"private\"}", 200, ep1,
			 NULL},
		};

		run_steps(steps, ARRAY_LEN(steps));
	}
	/* The list holds one endpoint per function. */
	{
		struct resp r;
		size_t n = 0;

		call("GET", "/v1/functions", "ops-key", NULL, &r);
		ck_assert_int_eq(r.code, 200);
		for (const char *p = r.body; (p = strstr(p, all)) != NULL; p++)
			n++;
		ck_assert_uint_eq(n, 3);
		free(r.body);
	}
}
END_TEST

START_TEST(test_http_token_lifecycle)
{
	char id[64], tok[4096], path[128], body[1200];
	struct token_claims cl;
	const struct conf_namespace *ns1 = conf_find_namespace(conf, "ns1");
	struct resp r;

	/* A restricted key creates a function token with a description and an expiry. */
	call("POST", "/v1/tokens", "ci-key", "{\"function_id\":\"f1\",\"description\":\"ci \u00e9\","
	     "\"expires_at\":\"2099-01-01T00:00:00+01:00\"}", &r);
	ck_assert_msg(r.code == 201, "%d %s", r.code, r.body);
	json_field(r.body, "id", id, sizeof(id));
	json_field(r.body, "token", tok, sizeof(tok));
	ck_assert_ptr_nonnull(strstr(r.body, "\"expires_at\":\"2098-12-31T23:00:00Z\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"scope\":\"function\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"namespace_id\":\"ns1\""));
	free(r.body);
	ck_assert_int_eq(revoke_lookup("ns1", id, strlen(id)), REVOKE_READY);
	/* The token is the namespace's: the gateway's verifier accepts it, scoped to f1. */
	ck_assert_int_eq(token_verify(ns1, tok, strlen(tok), 8192, &cl), TOKEN_OK);
	ck_assert_str_eq(cl.jti, id);
	ck_assert_str_eq(cl.application_id, "f1");
	ck_assert_int_eq(token_check_scope(&cl, ns1, "f1"), TOKEN_OK);
	/* No-expiry namespace token. */
	call("POST", "/v1/tokens", "ops-key", "{\"namespace_id\":\"ns2\",\"expires_at\":null}", &r);
	ck_assert_msg(r.code == 201, "%d %s", r.code, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\"expires_at\":null"));
	free(r.body);

	/* Lists never hold the token; a restricted key sees its namespace only. */
	call("GET", "/v1/tokens", "ops-key", NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, id));
	ck_assert_ptr_null(strstr(r.body, tok));
	ck_assert_ptr_null(strstr(r.body, "\"token\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"total_count\":2"));
	free(r.body);
	call("GET", "/v1/tokens", "ci-key", NULL, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"total_count\":1"));
	free(r.body);
	call("GET", "/v1/tokens?function_id=f1&order_by=created_at_desc&page=1&page_size=5",
	     "ro-key", NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"total_count\":1"));
	free(r.body);
	snprintf(path, sizeof(path), "/v1/tokens/%s", id);
	call("GET", path, "ro-key", NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"ready\""));
	ck_assert_ptr_null(strstr(r.body, tok));
	free(r.body);

	/* Delete: revoked at once in the set, and irreversible. */
	call("DELETE", path, "ro-key", NULL, &r);
	ck_assert_int_eq(r.code, 403);
	free(r.body);
	call("DELETE", path, "ci-key", NULL, &r);
	ck_assert_msg(r.code == 200, "%d %s", r.code, r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"revoked\""));
	free(r.body);
	ck_assert_int_eq(revoke_lookup("ns1", id, strlen(id)), REVOKE_REVOKED);
	call("DELETE", path, "ci-key", NULL, &r);
	ck_assert_int_eq(r.code, 409);
	ck_assert_ptr_nonnull(strstr(r.body, "already revoked"));
	free(r.body);

	/* Privacy through PATCH: the snapshot at once, the state file for restarts. */
	call("PATCH", "/v1/functions/f1", "ops-key", "{\"privacy\":\"public\"}", &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"privacy\":\"public\""));
	free(r.body);
	ck_assert_int_eq(atomic_load(&conf_find_function(conf, "f1")->privacy), PRIVACY_PUBLIC);
	snprintf(body, sizeof(body), "%s/privacy.json", dir);
	{
		char *st = tu_read_file(body, NULL);

		ck_assert_ptr_nonnull(st);
		ck_assert_ptr_nonnull(strstr(st, "\"f1\": \"public\""));
		free(st);
	}
	/* Namespaces show the signing kid and its trusted key. */
	call("GET", "/v1/namespaces/ns1", "ops-key", NULL, &r);
	ck_assert_int_eq(r.code, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"signing_kid\":\"k"));
	free(r.body);
}
END_TEST

static Suite *admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("permissions");
	TCase *th = tcase_create("http");

	tcase_add_test(tc, test_permission_table);
	tcase_add_test(tc, test_endpoint_table);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(th, http_setup, http_teardown);
	tcase_set_timeout(th, 60);
	tcase_add_test(th, test_http_errors);
	tcase_add_test(th, test_http_token_lifecycle);
	tcase_add_test(th, test_http_whoami_endpoint);
	suite_add_tcase(s, th);
	return s;
}

int main(void)
{
	return tu_run(admin_suite());
}
