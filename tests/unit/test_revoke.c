/* test_revoke.c - the process-wide (namespace, jti) set: states, stickiness, namespaces,
 * last_used, growth, threads. */
#include <check.h>

#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revoke.h"
#include "token.h"
#include "util.h"

static void setup(void)
{
	ck_assert_int_eq(revoke_init(), 0);
}

static void teardown(void)
{
	revoke_shutdown();
}

/* Entries are per namespace: a revocation in one namespace never refuses the same jti in
 * another; a NULL namespace is every namespace. Each row sets (ns, jti, state) when set != 0,
 * then looks the jti up in `in`. */
START_TEST(test_namespaces_table)
{
	static const struct {
		const char *ns;
		const char *jti;
		enum revoke_state set;
		const char *in;
		enum revoke_state want;
	} rows[] = {
		{ "A", "j1", REVOKE_READY, "A", REVOKE_READY },
		{ "B", "j1", REVOKE_REVOKED, "B", REVOKE_REVOKED },
		{ NULL, NULL, 0, "A", REVOKE_READY },           /* B's revocation leaves A's token */
		{ NULL, NULL, 0, "C", REVOKE_UNKNOWN },         /* and says nothing of C */
		{ NULL, "j2", REVOKE_REVOKED, "A", REVOKE_REVOKED },   /* every namespace */
		{ NULL, NULL, 0, "Z", REVOKE_REVOKED },
		{ "A", "j2", REVOKE_READY, "A", REVOKE_REVOKED },      /* sticky across the two */
		{ "AB", "j3", REVOKE_REVOKED, "A", REVOKE_UNKNOWN },   /* names compared whole */
		{ NULL, NULL, 0, "ABC", REVOKE_UNKNOWN },
		{ "", "j4", REVOKE_REVOKED, "A", REVOKE_UNKNOWN },     /* "" is a name, not "every" */
	};
	const char *jti = NULL;

	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		if (rows[i].jti != NULL)
			jti = rows[i].jti;
		if (rows[i].set != 0)
			ck_assert_int_eq(revoke_set(rows[i].ns, jti, strlen(jti), rows[i].set), 0);
		ck_assert_msg(revoke_lookup(rows[i].in, jti, strlen(jti)) == rows[i].want,
			      "row %zu", i);
	}
	/* the gate always names its namespace: a NULL one finds nothing */
	ck_assert_int_eq(revoke_lookup(NULL, "j2", 2), REVOKE_UNKNOWN);
	/* last_used is per entry */
	revoke_touch("A", "j1", 2, 50);
	ck_assert_int_eq(revoke_last_used("A", "j1", 2), 50);
	ck_assert_int_eq(revoke_last_used("B", "j1", 2), 0);
}
END_TEST

START_TEST(test_states)
{
	static const struct {
		const char *jti;
		enum revoke_state set;  /* 0: not set */
		enum revoke_state want;
	} rows[] = {
		{ "never-seen", 0, REVOKE_UNKNOWN },
		{ "ready-1", REVOKE_READY, REVOKE_READY },
		{ "revoked-1", REVOKE_REVOKED, REVOKE_REVOKED },
		{ "ready-then-revoked", REVOKE_READY, REVOKE_READY },
		{ "ready-then-revoked", REVOKE_REVOKED, REVOKE_REVOKED },
		{ "ready-then-revoked", REVOKE_READY, REVOKE_REVOKED },     /* sticky */
		{ "ready-then-revoked", REVOKE_UNKNOWN, REVOKE_REVOKED },   /* sticky */
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(rows); i++) {
		size_t n = strlen(rows[i].jti);

		if (rows[i].set != 0)
			ck_assert_int_eq(revoke_set(NULL, rows[i].jti, n, rows[i].set), 0);
		ck_assert_msg(revoke_lookup("ns", rows[i].jti, n) == rows[i].want, "row %zu", i);
	}
	/* lengths matter: a prefix is another id */
	ck_assert_int_eq(revoke_lookup("ns", "ready", 5), REVOKE_UNKNOWN);
	ck_assert_int_eq(revoke_lookup("ns", "ready-1x", 7), REVOKE_READY);
	/* bounds */
	ck_assert_int_eq(revoke_set(NULL, "", 0, REVOKE_REVOKED), -1);
	ck_assert_int_eq(revoke_set(NULL, NULL, 3, REVOKE_REVOKED), -1);
	ck_assert_int_eq(revoke_set(NULL, "x", TOKEN_ID_MAX + 1, REVOKE_REVOKED), -1);
	ck_assert_int_eq(revoke_set(NULL, "x", 1, (enum revoke_state)99), -1);
	ck_assert_int_eq(revoke_lookup("ns", "", 0), REVOKE_UNKNOWN);
	ck_assert_int_eq(revoke_lookup("ns", NULL, 0), REVOKE_UNKNOWN);
}
END_TEST

START_TEST(test_touch)
{
	ck_assert_int_eq(revoke_set(NULL, "t1", 2, REVOKE_READY), 0);
	ck_assert_int_eq(revoke_last_used(NULL, "t1", 2), 0);
	revoke_touch(NULL, "t1", 2, 1000);
	ck_assert_int_eq(revoke_last_used(NULL, "t1", 2), 1000);
	revoke_touch(NULL, "t1", 2, 999);             /* never goes back */
	ck_assert_int_eq(revoke_last_used(NULL, "t1", 2), 1000);
	revoke_touch(NULL, "t1", 2, 1005);
	ck_assert_int_eq(revoke_last_used(NULL, "t1", 2), 1005);
	/* touching an unknown id does not insert it */
	revoke_touch(NULL, "ghost", 5, 1000);
	ck_assert_int_eq(revoke_last_used(NULL, "ghost", 5), 0);
	ck_assert_int_eq(revoke_lookup("ns", "ghost", 5), REVOKE_UNKNOWN);
	/* revoking keeps last_used */
	ck_assert_int_eq(revoke_set(NULL, "t1", 2, REVOKE_REVOKED), 0);
	ck_assert_int_eq(revoke_last_used(NULL, "t1", 2), 1005);
}
END_TEST

/* API keys share the set with tokens but never meet them: a jti equal to a key's id is another
 * entry both ways. A key keeps the scope, hash and expiry it was registered with; only its state
 * moves, and a revocation is sticky. */
START_TEST(test_api_keys)
{
	unsigned char h1[32], h2[32];
	struct revoke_key k;

	memset(h1, 0x11, sizeof(h1));
	memset(h2, 0x22, sizeof(h2));
	ck_assert_int_eq(revoke_key_lookup("k1", 2, &k), REVOKE_UNKNOWN);
	ck_assert_int_eq(revoke_key_set("k1", 2, "ns", NULL, h1, 0, REVOKE_READY), 0);
	ck_assert_int_eq(revoke_key_set("k2", 2, "ns", "fn", h2, 500, REVOKE_READY), 0);
	ck_assert_int_eq(revoke_key_set("k3", 2, NULL, NULL, h2, 0, REVOKE_READY), -1);
	ck_assert_int_eq(revoke_key_lookup("k1", 2, &k), REVOKE_READY);
	ck_assert_str_eq(k.ns, "ns");
	ck_assert_ptr_null(k.function_id);
	ck_assert_mem_eq(k.hash, h1, 32);
	ck_assert_int_eq(k.expires_at, 0);
	ck_assert_int_eq(revoke_key_lookup("k2", 2, &k), REVOKE_READY);
	ck_assert_str_eq(k.function_id, "fn");
	ck_assert_int_eq(k.expires_at, 500);
	/* tokens with the same ids: other entries */
	ck_assert_int_eq(revoke_lookup("ns", "k1", 2), REVOKE_UNKNOWN);
	ck_assert_int_eq(revoke_set("ns", "k1", 2, REVOKE_REVOKED), 0);
	ck_assert_int_eq(revoke_key_lookup("k1", 2, &k), REVOKE_READY);
	ck_assert_int_eq(revoke_set(NULL, "k2", 2, REVOKE_READY), 0);
	ck_assert_int_eq(revoke_key_lookup("k2", 2, &k), REVOKE_READY);
	/* last use, per kind */
	revoke_key_touch("k1", 2, 100);
	ck_assert_int_eq(revoke_key_last_used("k1", 2), 100);
	ck_assert_int_eq(revoke_last_used("ns", "k1", 2), 0);
	/* deletion: sticky; a later registration changes neither state nor what was registered */
	ck_assert_int_eq(revoke_key_set("k1", 2, "ns", NULL, h1, 0, REVOKE_REVOKED), 0);
	ck_assert_int_eq(revoke_key_set("k1", 2, "other", "x", h2, 9, REVOKE_READY), 0);
	ck_assert_int_eq(revoke_key_lookup("k1", 2, &k), REVOKE_REVOKED);
	ck_assert_str_eq(k.ns, "ns");
	ck_assert_ptr_null(k.function_id);
	ck_assert_mem_eq(k.hash, h1, 32);
	ck_assert_int_eq(revoke_key_last_used("k1", 2), 100);
}
END_TEST

/* Many ids: the table grows and every id keeps its state. */
START_TEST(test_growth)
{
	char jti[64];
	unsigned i;

	for (i = 0; i < 20000; i++) {
		snprintf(jti, sizeof(jti), "%08x-f040-4b78-a033-69eab80bdeaa", i);
		ck_assert_int_eq(revoke_set(NULL, jti, strlen(jti), i % 3 ? REVOKE_READY : REVOKE_REVOKED),
		    0);
	}
	for (i = 0; i < 20000; i++) {
		snprintf(jti, sizeof(jti), "%08x-f040-4b78-a033-69eab80bdeaa", i);
		ck_assert_int_eq(revoke_lookup("ns", jti, strlen(jti)),
		    i % 3 ? REVOKE_READY : REVOKE_REVOKED);
	}
}
END_TEST

static _Atomic int stop_readers;
static _Atomic long reader_errors;

/* Readers: once a reader has seen an id revoked it must never see it otherwise. */
static void *reader(void *arg)
{
	char jti[32];
	int seen[256] = {0};
	unsigned i;

	(void)arg;
	do {
		for (i = 0; i < 256; i++) {
			enum revoke_state st;

			snprintf(jti, sizeof(jti), "id-%u", i);
			st = revoke_lookup("ns", jti, strlen(jti));
			if (seen[i] && st != REVOKE_REVOKED)
				atomic_fetch_add(&reader_errors, 1);
			if (st == REVOKE_REVOKED)
				seen[i] = 1;
			revoke_touch(NULL, jti, strlen(jti), 5);
		}
	} while (!atomic_load(&stop_readers));
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[3];
	char jti[32];
	unsigned i, k;

	for (k = 0; k < 3; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, reader, NULL), 0);
	for (i = 0; i < 256; i++) {
		snprintf(jti, sizeof(jti), "id-%u", i);
		ck_assert_int_eq(revoke_set(NULL, jti, strlen(jti), REVOKE_READY), 0);
		ck_assert_int_eq(revoke_set(NULL, jti, strlen(jti), REVOKE_REVOKED), 0);
		/* visible as soon as revoke_set returns */
		ck_assert_int_eq(revoke_lookup("ns", jti, strlen(jti)), REVOKE_REVOKED);
		for (k = 0; k < 50; k++) {      /* growth under readers */
			char filler[48];

			snprintf(filler, sizeof(filler), "filler-%u-%u", i, k);
			ck_assert_int_eq(revoke_set(NULL, filler, strlen(filler), REVOKE_READY), 0);
		}
	}
	atomic_store(&stop_readers, 1);
	for (k = 0; k < 3; k++)
		pthread_join(th[k], NULL);
	ck_assert_int_eq(atomic_load(&reader_errors), 0);
	ck_assert_int_eq(revoke_last_used(NULL, "id-0", 4), 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("revoke");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_namespaces_table);
	tcase_add_test(tc, test_touch);
	tcase_add_test(tc, test_api_keys);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
