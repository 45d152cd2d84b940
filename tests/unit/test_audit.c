/* test_audit.c - the audit trail (audit.h): events kept across a reopen, listing filters (a
 * table), refused authentications aggregated under a cap, events from the shared store applied
 * once, retention, timestamps. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "journal.h"
#include "testutil.h"
#include "util.h"

static char err[512];

static void record(enum audit_action action, const char *actor, const char *ns,
		   const char *target)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.action = action;
	ev.actor = actor;
	ev.namespace_id = ns;
	ev.target_id = target;
	ev.source = "192.0.2.1";
	audit_record(&ev);
}

static size_t list(const struct audit_query *q, const struct audit_event **out)
{
	size_t total = 0;
	size_t n = audit_list(q, out, 100, &total);

	ck_assert_uint_le(n, total);
	return total;
}

/* Events survive a close and a reopen, in the order recorded (newest first in a listing), the
 * longest one too. */
START_TEST(test_persist)
{
	const char *dir = tu_tempdir();
	const struct audit_event *out[100];
	struct audit_query q = {.page = 1, .page_size = 100};
	struct audit_event ev;
	char big[3 * AUDIT_FIELD_MAX];

	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), -1);   /* one per process */
	record(AUDIT_TOKEN_CREATE, "ops", "ns-a", "t1");
	record(AUDIT_TOKEN_DELETE, "ops", "ns-a", "t1");
	/* the longest event: every field cut, control characters replaced, quotes escaped */
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[3] = '\n';
	big[4] = '\x01';
	memset(&ev, 0, sizeof(ev));
	ev.action = AUDIT_CONFIG_RELOAD;
	ev.actor = ev.target_id = ev.namespace_id = ev.function_id = big;
	ev.source = ev.request_id = ev.outcome = ev.detail = big;
	audit_record(&ev);
	audit_close();
	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	ck_assert_uint_eq(list(&q, out), 3);
	ck_assert_uint_eq(strlen(out[0]->detail), AUDIT_FIELD_MAX);
	ck_assert_int_eq(out[0]->detail[3], '?');
	ck_assert_int_eq(out[0]->detail[4], '?');
	out[0] = out[1];
	out[1] = out[2];
	ck_assert_int_eq(out[0]->action, AUDIT_TOKEN_DELETE);
	ck_assert_int_eq(out[1]->action, AUDIT_TOKEN_CREATE);
	ck_assert_str_eq(out[1]->outcome, "ok");
	ck_assert_uint_eq(out[1]->count, 1);
	ck_assert_uint_eq(strlen(out[1]->id), 36);
	audit_close();
}
END_TEST

static const struct {
	const char *name;
	struct audit_query q;
	bool        allowed_a;      /* restricted to ns-a */
	size_t      total;
} queries[] = {
	{"all", {.page = 1, .page_size = 100}, false, 5},
	{"namespace", {.namespace_id = "ns-a", .page = 1, .page_size = 100}, false, 2},
	{"actor", {.actor = "ci", .page = 1, .page_size = 100}, false, 2},
	{"action", {.action = AUDIT_CONFIG_RELOAD, .page = 1, .page_size = 100}, false, 1},
	{"restricted: its namespace, none without", {.page = 1, .page_size = 100}, true, 2},
	{"restricted and another namespace", {.namespace_id = "ns-b", .page = 1, .page_size = 100},
	 true, 0},
	{"page 2 of 2", {.page = 2, .page_size = 3}, false, 5},
	{"since the future", {.since_ms = 4102444800000ll, .page = 1, .page_size = 100}, false, 0},
	{"until the past", {.until_ms = 1000, .page = 1, .page_size = 100}, false, 0},
};

START_TEST(test_queries)
{
	const char *dir = tu_tempdir();
	const struct audit_event *out[100];
	char *ns_a[] = {(char *)"ns-a"};
	struct audit_query q = queries[_i].q;
	size_t total, n;

	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	record(AUDIT_TOKEN_CREATE, "ops", "ns-a", "t1");
	record(AUDIT_TOKEN_CREATE, "ci", "ns-a", "t2");
	record(AUDIT_TOKEN_REVOKE, "ci", "ns-b", "j1");
	record(AUDIT_FUNCTION_PRIVACY, "ops", "ns-b", "fb");
	record(AUDIT_CONFIG_RELOAD, "fngate", NULL, "/etc/fngate.json");
	if (queries[_i].allowed_a) {
		q.allowed = ns_a;
		q.nallowed = 1;
	}
	n = audit_list(&q, out, 100, &total);
	ck_assert_msg(total == queries[_i].total, "%s: %zu", queries[_i].name, total);
	if (q.page == 2)
		ck_assert_uint_eq(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (q.allowed != NULL)
			ck_assert_str_eq(out[i]->namespace_id, "ns-a");
		if (i > 0)
			ck_assert_int_ge(out[i - 1]->time_ms, out[i]->time_ms);
	}
	audit_close();
}
END_TEST

/* A flood from one source makes one event at once; refusals from many sources make at most
 * AUDIT_AUTH_EVENTS_MAX events in an interval, the rest one overflow event; every refusal is
 * counted once the trail closes. */
START_TEST(test_auth_aggregation)
{
	const char *dir = tu_tempdir();
	const struct audit_event *out[100];
	struct audit_query q = {.action = AUDIT_ADMIN_AUTH_FAILED, .page = 1, .page_size = 100};
	const struct audit_event *all[AUDIT_AUTH_SOURCES + 2];
	uint64_t sum = 0;
	size_t total;

	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	for (int i = 0; i < 10000; i++)
		audit_auth_failed("192.0.2.7", NULL, "r1");
	ck_assert_uint_eq(list(&q, out), 1);
	for (int i = 0; i < 1000; i++) {
		char src[32];

		snprintf(src, sizeof(src), "198.51.100.%d", i % 250);
		audit_auth_failed(src, i % 2 ? "ops" : NULL, NULL);
	}
	ck_assert_uint_eq(list(&q, out), AUDIT_AUTH_EVENTS_MAX);
	audit_tick();       /* the overflow's first event; nothing else is due yet */
	ck_assert_uint_eq(list(&q, out), AUDIT_AUTH_EVENTS_MAX + 1);
	ck_assert_ptr_null(out[0]->source);
	ck_assert_uint_gt(out[0]->count, 0);
	audit_close();
	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	q.page_size = ARRAY_LEN(all);
	(void)audit_list(&q, all, ARRAY_LEN(all), &total);
	/* at close, what every tracked (source, key) counted since its event */
	ck_assert_uint_le(total, AUDIT_AUTH_SOURCES + 2);
	for (size_t i = 0; i < total; i++)
		sum += all[i]->count;
	ck_assert_uint_eq(sum, 11000);
	audit_close();
}
END_TEST

static char *event_json(const char *id, int64_t time_ms)
{
	struct audit_event ev;
	json_t *o;
	char *s;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "%s", id);
	ev.time_ms = time_ms;
	ev.action = AUDIT_TOKEN_CREATE;
	ev.actor = "remote";
	ev.outcome = "ok";
	ev.count = 1;
	o = audit_event_json(&ev);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Another node's events: added once, in time order, kept across a reopen; a bad one refused;
 * one older than the retention ignored; lines older than the retention compacted at open. */
START_TEST(test_apply_and_retention)
{
	const char *dir = tu_tempdir();
	const struct audit_event *out[100];
	struct audit_query q = {.page = 1, .page_size = 100};
	int64_t now = (int64_t)time(NULL) * 1000;
	char *recent = event_json("11111111-1111-4111-8111-111111111111", now - 3600 * 1000);
	char *old = event_json("22222222-2222-4222-8222-222222222222", now - 40 * 86400000ll);
	char path[4096], *buf = NULL;
	size_t len = 0, cap = 0;
	int fd;

	ck_assert_int_eq(audit_open(dir, 30, err, sizeof(err)), 0);
	record(AUDIT_TOKEN_CREATE, "ops", "ns-a", "t1");
	ck_assert_int_eq(audit_apply_json(recent, err, sizeof(err)), 1);
	ck_assert_int_eq(audit_apply_json(recent, err, sizeof(err)), 0);
	ck_assert_int_eq(audit_apply_json(old, err, sizeof(err)), 0);
	ck_assert_int_eq(audit_apply_json("{\"id\":\"x\"}", err, sizeof(err)), -1);
	ck_assert_uint_eq(list(&q, out), 2);
	ck_assert_str_eq(out[1]->actor, "remote");     /* older: after the local one */
	audit_close();
	/* an old line in the journal, as an older process wrote it */
	snprintf(path, sizeof(path), "%s/audit.journal", dir);
	ck_assert_int_eq(journal_format(&buf, &len, &cap, old, strlen(old)), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(audit_open(dir, 30, err, sizeof(err)), 0);
	ck_assert_uint_eq(list(&q, out), 2);
	audit_close();
	ck_assert_int_eq(audit_open(dir, 90, err, sizeof(err)), 0);
	ck_assert_uint_eq(list(&q, out), 2);      /* compacted away for good */
	audit_close();
	free(buf);
	free(recent);
	free(old);
}
END_TEST

START_TEST(test_time)
{
	static const struct {
		const char *text;
		int         rc;
		int64_t     ms;
	} cases[] = {
		{"2026-12-05T21:00:00Z", 0, 1796504400000ll},
		{"2026-12-05T21:00:00.5Z", 0, 1796504400500ll},
		{"2026-12-05T21:00:00.123456Z", 0, 1796504400123ll},
		{"2026-12-05T22:00:00.042+01:00", 0, 1796504400042ll},
		{"2026-12-05", -1, 0},
		{"yesterday", -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = 0;

		ck_assert_int_eq(audit_parse_time_ms(cases[i].text, &ms), cases[i].rc);
		if (cases[i].rc == 0)
			ck_assert_msg(ms == cases[i].ms, "%s: %lld", cases[i].text, (long long)ms);
	}
	for (int a = 1; a < AUDIT_NACTIONS; a++) {
		enum audit_action back;

		ck_assert_int_eq(audit_action_parse(audit_action_name((enum audit_action)a), &back), 0);
		ck_assert_int_eq(back, a);
	}
	ck_assert_ptr_null(audit_action_name(AUDIT_NACTIONS));
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_persist);
	tcase_add_loop_test(tc, test_queries, 0, (int)(sizeof(queries) / sizeof(queries[0])));
	tcase_add_test(tc, test_auth_aggregation);
	tcase_add_test(tc, test_apply_and_retention);
	tcase_add_test(tc, test_time);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(audit_suite());
}
