/* test_state.c - function privacy kept in state_dir: set, applied to a new snapshot (a restart or
 * a reload), unknown ids kept, a damaged file refused without touching the configured values. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "state.h"
#include "testutil.h"

static struct conf *load(const char *dir)
{
	char text[2048];
	struct conf_errors errs = {0};
	struct conf *c;

	snprintf(text, sizeof(text),
		 "{\"listen\":[\"127.0.0.1:18080\"],\"state_dir\":\"%s\",\"namespaces\":["
		 "{\"name\":\"ns\",\"functions\":["
		 "{\"name\":\"f1\",\"path_prefix\":\"/f1\",\"upstreams\":[\"http://127.0.0.1:9\"]},"
		 "{\"name\":\"f2\",\"privacy\":\"public\",\"path_prefix\":\"/f2\","
		 "\"upstreams\":[\"http://127.0.0.1:9\"]}]}]}", dir);
	c = conf_load_string(text, strlen(text), "state-test.json", &errs);
	if (c == NULL)
		conf_errors_print(&errs, stderr);
	conf_errors_free(&errs);
	ck_assert_ptr_nonnull(c);
	return c;
}

static int priv(struct conf *c, const char *id)
{
	return atomic_load(&conf_find_function(c, id)->privacy);
}

START_TEST(test_set_and_apply)
{
	char dir[2048], err[256], path[4096];
	struct conf *c;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", tu_tempdir());
	c = load(dir);
	/* No state file: the configuration's values. */
	ck_assert_int_eq(state_apply(c), 0);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PRIVATE);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PUBLIC);
	conf_unref(c);

	ck_assert_int_eq(state_set_privacy(dir, "f1", PRIVACY_PUBLIC, err, sizeof(err)), 0);
	ck_assert_int_eq(state_set_privacy(dir, "f2", PRIVACY_PRIVATE, err, sizeof(err)), 0);
	ck_assert_int_eq(state_set_privacy(dir, "gone", PRIVACY_PUBLIC, err, sizeof(err)), 0);
	/* A new snapshot (restart, reload) gets the state, not the file's initial values. */
	c = load(dir);
	ck_assert_int_eq(state_apply(c), 0);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PUBLIC);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PRIVATE);
	ck_assert_int_eq(conf_find_function(c, "f1")->privacy_configured, PRIVACY_PRIVATE);
	conf_unref(c);
	/* Set back: the latest value wins. */
	ck_assert_int_eq(state_set_privacy(dir, "f1", PRIVACY_PRIVATE, err, sizeof(err)), 0);
	c = load(dir);
	ck_assert_int_eq(state_apply(c), 0);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PRIVATE);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PRIVATE);
	conf_unref(c);
	/* Reset: the file's value applies again; resetting an absent entry succeeds; others stay. */
	ck_assert_int_eq(state_reset_privacy(dir, "f2", err, sizeof(err)), 0);
	ck_assert_int_eq(state_reset_privacy(dir, "f2", err, sizeof(err)), 0);
	ck_assert_int_eq(state_reset_privacy(dir, "never", err, sizeof(err)), 0);
	c = load(dir);
	ck_assert_int_eq(state_apply(c), 0);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PUBLIC);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PRIVATE);
	conf_unref(c);

	/* A damaged file: -1, the configuration's values stay, and setting refuses to clobber it. */
	snprintf(path, sizeof(path), "%s/privacy.json", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"functions\": {\"f1\": \"public\"", f);
	fclose(f);
	c = load(dir);
	ck_assert_int_eq(state_apply(c), -1);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PRIVATE);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PUBLIC);
	conf_unref(c);
	ck_assert_int_eq(state_set_privacy(dir, "f1", PRIVACY_PUBLIC, err, sizeof(err)), -1);
	ck_assert_int_eq(state_reset_privacy(dir, "f1", err, sizeof(err)), -1);

	/* A bad value is ignored, the others apply. */
	f = fopen(path, "w");
	fputs("{\"functions\": {\"f1\": \"secret\", \"f2\": \"private\"}}", f);
	fclose(f);
	c = load(dir);
	ck_assert_int_eq(state_apply(c), 0);
	ck_assert_int_eq(priv(c, "f1"), PRIVACY_PRIVATE);
	ck_assert_int_eq(priv(c, "f2"), PRIVACY_PRIVATE);
	conf_unref(c);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_set_and_apply);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(state_suite());
}
