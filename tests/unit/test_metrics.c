/* test_metrics.c - Prometheus metrics: reason labels, label escaping, exact sums over workers,
 * reloads that renumber functions, and the text format of everything rendered. */
#include <check.h>

#include "testutil.h"
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "gate.h"
#include "metrics.h"

/* Two configurations: B drops f2, adds f9 before f1 (so f1's index changes) and keeps f3. */
static const char *CONF_A =
	"{\"listen\":[\"127.0.0.1:1\"],\"state_dir\":\"/tmp/fngate-test-metrics\","
	"\"admin\":{\"listen\":null},\"namespaces\":["
	"{\"id\":\"nsA\",\"name\":\"a\",\"functions\":["
	"{\"id\":\"f1\",\"name\":\"f1\",\"privacy\":\"public\",\"path_prefix\":\"/f1\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]},"
	"{\"id\":\"f2\",\"name\":\"f2\",\"privacy\":\"public\",\"path_prefix\":\"/f2\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
	"{\"id\":\"ns.B\",\"name\":\"b\",\"functions\":["
	"{\"id\":\"f3\",\"name\":\"f3\",\"privacy\":\"public\",\"path_prefix\":\"/f3\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}";
static const char *CONF_B =
	"{\"listen\":[\"127.0.0.1:1\"],\"state_dir\":\"/tmp/fngate-test-metrics\","
	"\"admin\":{\"listen\":null},\"namespaces\":["
	"{\"id\":\"nsA\",\"name\":\"a\",\"functions\":["
	"{\"id\":\"f9\",\"name\":\"f9\",\"privacy\":\"public\",\"path_prefix\":\"/f9\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]},"
	"{\"id\":\"f1\",\"name\":\"f1\",\"privacy\":\"public\",\"path_prefix\":\"/f1\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]}]},"
	"{\"id\":\"ns.B\",\"name\":\"b\",\"functions\":["
	"{\"id\":\"f3\",\"name\":\"f3\",\"privacy\":\"public\",\"path_prefix\":\"/f3\","
	"\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}";

static struct conf *load(const char *text)
{
	struct conf_errors errs = {0};
	struct conf *c = conf_load_string(text, strlen(text), "metrics-test.json", &errs);

	if (c == NULL)
		conf_errors_print(&errs, stderr);
	conf_errors_free(&errs);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The sample line `line` is in the rendered text (whole line). */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define ASSERT_LINE(text, line) ck_assert_msg(has_line(text, line), "missing line: %s\n%s", line, text)

/* ---------------------------------------------------------------- reasons */

/* What a request is recorded as (outcome_final, the access log's rule) and the labels that gives. */
static const struct {
	enum outcome gate;
	enum outcome err;
	const char  *name;
	const char  *decision;
} reason_cases[] = {
	{OUT_PUBLIC, OUT_NONE, "public", "allow"},
	{OUT_TOKEN, OUT_NONE, "token", "allow"},
	{OUT_TOKEN_MISSING, OUT_NONE, "token_missing", "deny"},
	{OUT_TOKEN_SIGNATURE, OUT_NONE, "token_signature", "deny"},
	{OUT_TOKEN_UNKNOWN, OUT_NONE, "token_unknown", "deny"},
	/* a refusal keeps the gate's reason even when the client then went away */
	{OUT_TOKEN_REVOKED, OUT_CLIENT_CLOSED_EARLY, "token_revoked", "deny"},
	/* an allowed request that failed upstream is an error (as in the access log) */
	{OUT_PUBLIC, OUT_UPSTREAM_TIMEOUT, "upstream_timeout", "error"},
	{OUT_TOKEN, OUT_UPSTREAM_TLS_FAILED, "upstream_tls_failed", "error"},
	{OUT_NONE, OUT_NO_ROUTE, "no_route", "error"},
	{OUT_NONE, OUT_BAD_REQUEST, "bad_request", "error"},
	{OUT_NONE, OUT_URI_TOO_LONG, "uri_too_long", "error"},
	{OUT_NONE, OUT_NONE, "unknown", "error"},
};

START_TEST(test_reason_final)
{
	enum outcome o = outcome_final(reason_cases[_i].gate, reason_cases[_i].err);

	ck_assert_str_eq(outcome_name(o), reason_cases[_i].name);
	ck_assert_str_eq(outcome_decision_name(outcome_info(o)->decision), reason_cases[_i].decision);
}
END_TEST

/* Every outcome is a series of the requests family once it was counted: none is "other". */
START_TEST(test_every_outcome_exposed)
{
	struct conf *a = load(CONF_A);
	struct metrics_worker *w = metrics_worker_new(NULL, NULL, NULL);
	size_t len;
	char *text, line[256];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(w);
	for (int o = 0; o < OUT_COUNT; o++)
		metrics_request(w, a, a->functions[0], (enum outcome)o, outcome_status((enum outcome)o), -1);
	text = metrics_render(NULL, &len);
	ck_assert_ptr_nonnull(text);
	for (int o = 0; o < OUT_COUNT; o++) {
		snprintf(line, sizeof(line), ",decision=\"%s\",reason=\"%s\",",
			 outcome_decision_name(outcome_table[o].decision), outcome_table[o].name);
		ck_assert_msg(strstr(text, line) != NULL, "outcome %d (%s) not exposed", o,
			      outcome_table[o].name);
	}
	ck_assert_ptr_null(strstr(text, "reason=\"other\""));
	free(text);
	metrics_worker_free(w);
	conf_unref(a);
}
END_TEST

/* ---------------------------------------------------------------- escaping */

static const struct {
	const char *in;
	size_t      cap;
	const char *out;
} escape_cases[] = {
	{"plain-id_1", 64, "plain-id_1"},
	{"a\"b", 64, "a\\\"b"},
	{"a\\b", 64, "a\\\\b"},
	{"line\nbreak", 64, "line\\nbreak"},
	{"", 64, ""},
	/* truncated on a whole escape, never half of one */
	{"ab\"", 4, "ab"},
	{"abc", 3, "ab"},
};

START_TEST(test_escape_label)
{
	char out[64];
	size_t n = metrics_escape_label(escape_cases[_i].in, out, escape_cases[_i].cap);

	ck_assert_str_eq(out, escape_cases[_i].out);
	ck_assert_uint_eq(n, strlen(escape_cases[_i].out));
}
END_TEST

/* ---------------------------------------------------------------- rendering */

/* Every sample line is `name{label="value",...} number`, and its family was TYPEd before. */
static void check_format(const char *text)
{
	char typed[64][96];
	size_t ntyped = 0;
	const char *p = text;

	ck_assert_msg(text[strlen(text) - 1] == '\n', "the text must end with a newline");
	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		char name[96];
		size_t n = 0, k;
		bool found = false;

		ck_assert_ptr_nonnull(e);
		if (strncmp(p, "# TYPE ", 7) == 0) {
			const char *s = p + 7, *sp = strchr(s, ' ');

			ck_assert(sp != NULL && sp < e && ntyped < 64);
			snprintf(typed[ntyped++], sizeof(typed[0]), "%.*s", (int)(sp - s), s);
			ck_assert(strncmp(sp + 1, "counter\n", 8) == 0 || strncmp(sp + 1, "gauge\n", 6) == 0 ||
				  strncmp(sp + 1, "histogram\n", 10) == 0);
		} else if (strncmp(p, "# HELP ", 7) != 0) {
			ck_assert_msg(isalpha((unsigned char)*p) || *p == '_', "bad line: %.*s",
				      (int)(e - p), p);
			while (p + n < e && (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':'))
				n++;
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			for (k = 0; k < ntyped && !found; k++) {
				size_t tl = strlen(typed[k]);

				found = strcmp(name, typed[k]) == 0 ||
					(strncmp(name, typed[k], tl) == 0 &&
					 (strcmp(name + tl, "_bucket") == 0 || strcmp(name + tl, "_sum") == 0 ||
					  strcmp(name + tl, "_count") == 0));
			}
			ck_assert_msg(found, "sample of an untyped family: %s", name);
			p += n;
			if (*p == '{') {
				p++;
				while (*p != '}') {
					while (isalnum((unsigned char)*p) || *p == '_')
						p++;
					ck_assert_msg(p[0] == '=' && p[1] == '"', "bad label near %.20s", p);
					for (p += 2; *p != '"'; p++) {
						ck_assert(*p != '\n' && *p != '\0');
						if (*p == '\\') {
							p++;
							ck_assert(*p == '\\' || *p == '"' || *p == 'n');
						}
					}
					p++;
					if (*p == ',')
						p++;
					else
						ck_assert_msg(*p == '}', "bad label list near %.20s", p);
				}
				p++;
			}
			ck_assert_msg(*p == ' ', "no value separator near %.20s", p);
			p++;
			ck_assert_msg(p < e && strspn(p, "0123456789.") == (size_t)(e - p),
				      "bad value: %.*s", (int)(e - p), p);
		}
		p = e + 1;
	}
}

START_TEST(test_render_sums_workers)
{
	struct conf *a = load(CONF_A);
	struct metrics_worker *w1 = metrics_worker_new(NULL, NULL, NULL), *w2 = metrics_worker_new(NULL, NULL, NULL);
	const struct conf_function *f1 = a->functions[0], *f3 = a->functions[2];
	char *text;
	size_t len;

	ck_assert_ptr_nonnull(w1);
	ck_assert_ptr_nonnull(w2);
	/* 3 allowed (two workers), 2 token_missing, 1 no route, 1 upstream failure */
	metrics_request(w1, a, f1, OUT_PUBLIC, 200, 100);
	metrics_request(w2, a, f1, OUT_PUBLIC, 204, 101);
	metrics_request(w2, a, f3, OUT_TOKEN, 302, 60000001);
	metrics_request(w1, a, f3, OUT_TOKEN_MISSING, 403, -1);
	metrics_request(w2, a, f3, OUT_TOKEN_MISSING, 403, -1);
	metrics_request(w1, a, NULL, OUT_NO_ROUTE, 404, -1);
	metrics_request(w1, a, f1, OUT_UPSTREAM_UNAVAILABLE, 502, -1);
	metrics_request(NULL, a, f1, OUT_PUBLIC, 200, 5);  /* no metrics: ignored */
	metrics_reload(true, 1700000000);
	metrics_reload(true, 1700000100);
	metrics_reload(false, 1700000050);
	metrics_tls_handshake(true);
	metrics_tls_handshake(false);
	metrics_tls_handshake(false);
	metrics_h2(METRICS_H2_CONNECTION);
	metrics_h2(METRICS_H2_CONNECTION);
	metrics_h2(METRICS_H2_RAPID_RESET);

	text = metrics_render(NULL, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, strlen(text));
	check_format(text);
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f1\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 2");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"ns.B\",function=\"f3\",decision=\"allow\","
		    "reason=\"token\",status_class=\"3xx\"} 1");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"ns.B\",function=\"f3\",decision=\"deny\","
		    "reason=\"token_missing\",status_class=\"4xx\"} 2");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"\",function=\"\",decision=\"error\","
		    "reason=\"no_route\",status_class=\"4xx\"} 1");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f1\",decision=\"error\","
		    "reason=\"upstream_unavailable\",status_class=\"5xx\"} 1");
	/* f2 got nothing: no series; no zero-valued request series at all */
	ck_assert_ptr_null(strstr(text, "function=\"f2\""));
	ck_assert_ptr_null(strstr(text, "status_class=\"1xx\""));
	/* 100 us is in the 0.0001 bucket (le is inclusive), 101 us in the next, 60 s + 1 us only in +Inf */
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_bucket{le=\"0.0001\"} 1");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_bucket{le=\"0.00025\"} 2");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_bucket{le=\"60\"} 2");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_bucket{le=\"+Inf\"} 3");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_sum 60.000202");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_count 3");
	ASSERT_LINE(text, "fngate_config_reloads_total{result=\"success\"} 2");
	ASSERT_LINE(text, "fngate_config_reloads_total{result=\"failure\"} 1");
	ASSERT_LINE(text, "fngate_config_last_reload_success_timestamp_seconds 1700000100");
	ASSERT_LINE(text, "fngate_config_last_reload_failure_timestamp_seconds 1700000050");
	ASSERT_LINE(text, "fngate_tls_handshakes_total{result=\"success\"} 1");
	ASSERT_LINE(text, "fngate_tls_handshakes_total{result=\"failure\"} 2");
	ASSERT_LINE(text, "fngate_http2_connections_total 2");
	ASSERT_LINE(text, "fngate_http2_defences_total{defence=\"rapid_reset\"} 1");
	ASSERT_LINE(text, "fngate_http2_defences_total{defence=\"flood\"} 0");
	ASSERT_LINE(text, "fngate_workers 2");
	ASSERT_LINE(text, "fngate_registry_tokens 0");
	free(text);

	/* A stopped worker's counts stay: counters never go backwards. */
	metrics_worker_free(w2);
	text = metrics_render(NULL, NULL);
	ck_assert_ptr_nonnull(text);
	check_format(text);
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f1\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 2");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"ns.B\",function=\"f3\",decision=\"deny\","
		    "reason=\"token_missing\",status_class=\"4xx\"} 2");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_count 3");
	ASSERT_LINE(text, "fngate_workers 1");
	free(text);
	metrics_worker_free(w1);
	conf_unref(a);
}
END_TEST

START_TEST(test_reload_renumbers)
{
	struct conf *a = load(CONF_A), *b = load(CONF_B);
	struct metrics_worker *w = metrics_worker_new(NULL, NULL, NULL);
	char *text;

	ck_assert_ptr_nonnull(w);
	ck_assert_uint_gt(b->generation, a->generation);
	/* f1 is index 0 in A and 1 in B; f9 takes index 0 in B */
	ck_assert_str_eq(a->functions[0]->id, "f1");
	ck_assert_str_eq(b->functions[0]->id, "f9");
	ck_assert_str_eq(b->functions[1]->id, "f1");
	metrics_request(w, a, a->functions[0], OUT_PUBLIC, 200, -1);
	metrics_request(w, a, a->functions[1], OUT_PUBLIC, 200, -1);
	metrics_request(w, b, b->functions[0], OUT_PUBLIC, 200, -1);
	metrics_request(w, b, b->functions[1], OUT_PUBLIC, 200, -1);
	/* a request that began on A and ended after the switch to B */
	metrics_request(w, a, a->functions[0], OUT_PUBLIC, 200, -1);
	metrics_request(w, a, a->functions[1], OUT_PUBLIC, 500, -1);
	metrics_request(w, b, b->functions[2], OUT_PUBLIC, 200, -1);
	text = metrics_render(NULL, NULL);
	ck_assert_ptr_nonnull(text);
	check_format(text);
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f1\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 3");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f2\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 1");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f2\",decision=\"allow\","
		    "reason=\"public\",status_class=\"5xx\"} 1");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f9\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 1");
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"ns.B\",function=\"f3\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 1");
	free(text);
	metrics_worker_free(w);
	/* After every worker is gone the totals remain. */
	text = metrics_render(NULL, NULL);
	ck_assert_ptr_nonnull(text);
	ASSERT_LINE(text, "fngate_requests_total{namespace=\"nsA\",function=\"f1\",decision=\"allow\","
		    "reason=\"public\",status_class=\"2xx\"} 3");
	ASSERT_LINE(text, "fngate_workers 0");
	free(text);
	conf_unref(a);
	conf_unref(b);
}
END_TEST

START_TEST(test_render_empty)
{
	char *text = metrics_render(NULL, NULL);

	ck_assert_ptr_nonnull(text);
	check_format(text);
	ASSERT_LINE(text, "# TYPE fngate_requests_total counter");
	ASSERT_LINE(text, "fngate_upstream_latency_seconds_bucket{le=\"+Inf\"} 0");
	ASSERT_LINE(text, "fngate_token_cache_hits_total 0");
	ASSERT_LINE(text, "fngate_open_connections 0");
	ASSERT_LINE(text, "fngate_config_generation 0");
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_reason_final, 0, sizeof(reason_cases) / sizeof(reason_cases[0]));
	tcase_add_test(tc, test_every_outcome_exposed);
	tcase_add_loop_test(tc, test_escape_label, 0, sizeof(escape_cases) / sizeof(escape_cases[0]));
	tcase_add_test(tc, test_render_sums_workers);
	tcase_add_test(tc, test_reload_renumbers);
	tcase_add_test(tc, test_render_empty);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
