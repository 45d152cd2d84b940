/* test_outcome.c - the outcome table (outcome.c): every value has an entry, a unique name that is
 * a valid reason code and metrics label, a status that fits its decision, and a line in
 * docs/metrics.md; so a new outcome cannot be added half-way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "outcome.h"
#include "testutil.h"

START_TEST(test_every_entry)
{
	for (int o = 0; o < OUT_COUNT; o++) {
		const struct outcome_info *oi = &outcome_table[o];

		ck_assert_msg(oi->name != NULL, "outcome %d has no entry", o);
		ck_assert_msg(strlen(oi->name) > 0 && strlen(oi->name) < 40, "outcome %d", o);
		for (const char *p = oi->name; *p; p++)
			ck_assert_msg((*p >= 'a' && *p <= 'z') || *p == '_', "name %s", oi->name);
		for (int k = 0; k < o; k++)
			ck_assert_str_ne(outcome_table[k].name, oi->name);
		switch (oi->decision) {
		case OUTCOME_ALLOW:
			/* forwarded (the upstream's status), or a CORS preflight fngate answers */
			ck_assert_int_eq(oi->status, o == OUT_CORS_PREFLIGHT ? 204 : 200);
			break;
		case OUTCOME_DENY:
			ck_assert_int_eq(oi->status, 403);
			break;
		case OUTCOME_ERROR:
			ck_assert_msg(oi->status >= 400 && oi->status <= 599, "%s: %d", oi->name,
				      oi->status);
			break;
		default:
			ck_abort_msg("outcome %s has no decision", oi->name);
		}
	}
	ck_assert_str_eq(outcome_name(OUT_NONE), "unknown");
	ck_assert_str_eq(outcome_name((enum outcome)OUT_COUNT), "unknown");    /* out of range */
	ck_assert_str_eq(outcome_name((enum outcome)-1), "unknown");
}
END_TEST

/* Each row: the gate's outcome, the error, what the request is recorded as. */
START_TEST(test_final_table)
{
	static const struct {
		enum outcome gate, err, want;
	} rows[] = {
		{OUT_PUBLIC, OUT_NONE, OUT_PUBLIC},
		{OUT_TOKEN, OUT_UPSTREAM_TIMEOUT, OUT_UPSTREAM_TIMEOUT},
		{OUT_TOKEN_REVOKED, OUT_CLIENT_CLOSED_EARLY, OUT_TOKEN_REVOKED},
		{OUT_NONE, OUT_BAD_HOST, OUT_BAD_HOST},
		{OUT_NONE, OUT_NONE, OUT_NONE},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ck_assert_msg(outcome_final(rows[i].gate, rows[i].err) == rows[i].want, "row %zu", i);
}
END_TEST

/* docs/metrics.md lists every reason label, each in backquotes. */
START_TEST(test_documented)
{
	size_t len;
	char *doc = tu_read_file(tu_source_path("docs/metrics.md"), &len);
	char want[64];

	ck_assert_ptr_nonnull(doc);
	for (int o = 0; o < OUT_COUNT; o++) {
		snprintf(want, sizeof(want), "`%s`", outcome_table[o].name);
		ck_assert_msg(strstr(doc, want) != NULL, "docs/metrics.md does not name %s", want);
	}
	free(doc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outcome");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_every_entry);
	tcase_add_test(tc, test_final_table);
	tcase_add_test(tc, test_documented);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
