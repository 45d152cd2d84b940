/* test_registry.c - the token registry: operations, reload, crash at every byte of a write,
 * leftover temporary files, damage, compaction, signing keys. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "apikey.h"
#include "registry.h"
#include "revoke.h"
#include "testutil.h"
#include "util.h"

static char err[512];

static void setup(void)
{
	ck_assert_int_eq(revoke_init(), 0);
}

static void teardown(void)
{
	revoke_shutdown();
}

/* A fresh revocation set, as a restarted process has. */
static void restart_set(void)
{
	revoke_shutdown();
	ck_assert_int_eq(revoke_init(), 0);
}

/* The state the gate sees for a token of namespace ns with this jti. */
static enum revoke_state rstate(const char *ns, const char *id)
{
	return revoke_lookup(ns, id, strlen(id));
}

static void add(struct registry *r, const char *id, const char *ns, const char *fn, int64_t created,
		int64_t expires)
{
	struct token_record t;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	t.namespace_id = (char *)(uintptr_t)ns;
	t.function_id = (char *)(uintptr_t)fn;
	t.description = (char *)"a \"quoted\"\ttab and a newline\n";
	t.created_at = created;
	t.expires_at = expires;
	t.kid = (char *)"kabc";
	ck_assert_msg(registry_add(r, &t, REGISTRY_MAX, err, sizeof(err)) == 0, "add %s: %s", id, err);
}

static char *journal_path(const char *dir)
{
	static char p[4096];

	snprintf(p, sizeof(p), "%s/tokens.journal", dir);
	return p;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* CRC-32 (IEEE), as the journal's lines carry it: to write a line of an older format. */
static unsigned crc32_test(const char *p, size_t n)
{
	unsigned c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

/* Revocations by jti are kept per namespace: one made for namespace B never refuses namespace
 * A's token of that id; an owner's, without a namespace, applies in every namespace; both
 * survive a restart; an imported record from an older journal (no "ns_scoped") keeps its old
 * meaning, every namespace. */
START_TEST(test_revocation_namespaces)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	const struct token_record *t;
	char *data, *line, *fixed;
	size_t len, l;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "tok", "A", NULL, 1, 0);
	ck_assert_int_eq(rstate("A", "tok"), REVOKE_READY);
	ck_assert_int_eq(rstate("B", "tok"), REVOKE_UNKNOWN);
	/* B revokes "tok": an imported record of B, A's token untouched */
	ck_assert_int_eq(registry_revoke(r, "tok", 10, true, "B", REGISTRY_MAX, &t, err, sizeof(err)), 0);
	ck_assert(t->imported && t->ns_scoped);
	ck_assert_str_eq(t->namespace_id, "B");
	ck_assert_int_eq(rstate("A", "tok"), REVOKE_READY);
	ck_assert_int_eq(rstate("B", "tok"), REVOKE_REVOKED);
	ck_assert_int_eq(registry_get_issued(r, "tok")->status, TOKEN_REC_READY);
	ck_assert_int_eq(registry_revoke(r, "tok", 11, true, "B", REGISTRY_MAX, &t, err, sizeof(err)), 1);
	ck_assert_int_eq(t->revoked_at, 10);
	/* in A: the issued token itself */
	ck_assert_int_eq(registry_revoke(r, "tok", 12, true, "A", REGISTRY_MAX, &t, err, sizeof(err)), 0);
	ck_assert(!t->imported);
	ck_assert_int_eq(rstate("A", "tok"), REVOKE_REVOKED);
	/* without a namespace: every namespace; then one namespace more is a record of its own */
	ck_assert_int_eq(registry_revoke(r, "j", 13, true, NULL, REGISTRY_MAX, &t, err, sizeof(err)), 0);
	ck_assert(t->imported && !t->ns_scoped);
	ck_assert_int_eq(rstate("Q", "j"), REVOKE_REVOKED);
	ck_assert_int_eq(registry_revoke(r, "j", 14, true, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 1);
	ck_assert_int_eq(registry_revoke(r, "j", 15, true, "C", REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(registry_revoke(r, "k", 16, true, "D", REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(registry_count(r), 5);
	registry_close(r);

	/* a restart: the same states */
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(registry_count(r), 5);
	ck_assert_int_eq(rstate("A", "tok"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("B", "tok"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("C", "tok"), REVOKE_UNKNOWN);
	ck_assert_int_eq(rstate("Q", "j"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("D", "k"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("E", "k"), REVOKE_UNKNOWN);
	registry_close(r);

	/* the journal as an older fngate wrote it: "k" without "ns_scoped" */
	data = tu_read_file(journal_path(dir), &len);
	ck_assert_ptr_nonnull(data);
	line = strstr(data, "{\"id\":\"k\"");
	ck_assert_ptr_nonnull(line);
	line -= 9;
	l = (size_t)(strchr(line, '\n') - line);
	fixed = malloc(len + 64);
	ck_assert_ptr_nonnull(fixed);
	{
		char body[1024];
		const char *cut = ",\"ns_scoped\":true";
		char *at;
		size_t bl = l - 9;

		memcpy(body, line + 9, bl);
		body[bl] = '\0';
		at = strstr(body, cut);
		ck_assert_ptr_nonnull(at);
		memmove(at, at + strlen(cut), strlen(at + strlen(cut)) + 1);
		memcpy(fixed, data, (size_t)(line - data));
		len = (size_t)(line - data);
		len += (size_t)sprintf(fixed + len, "%08x %s\n", crc32_test(body, strlen(body)), body);
	}
	write_file(journal_path(dir), fixed, len);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(rstate("E", "k"), REVOKE_REVOKED);     /* the old meaning */
	ck_assert_int_eq(rstate("A", "tok"), REVOKE_REVOKED);
	registry_close(r);
	free(fixed);
	free(data);
}
END_TEST

START_TEST(test_operations)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	const struct token_record *page[10];
	struct registry_query q;
	size_t total, n;

	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(registry_count(r), 0);
	add(r, "id-b", "ns1", NULL, 200, 0);
	add(r, "id-a", "ns1", "fn1", 100, 5000);
	add(r, "id-c", "ns2", NULL, 300, 0);
	ck_assert_int_eq(rstate("ns1", "id-a"), REVOKE_READY);
	ck_assert_int_eq(rstate("ns1", "id-zz"), REVOKE_UNKNOWN);

	/* A duplicate id is refused and changes nothing. */
	{
		struct token_record t;

		memset(&t, 0, sizeof(t));
		snprintf(t.id, sizeof(t.id), "id-a");
		ck_assert_int_eq(registry_add(r, &t, REGISTRY_MAX, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "already exists"));
	}
	ck_assert_uint_eq(registry_count(r), 3);
	ck_assert_str_eq(registry_get(r, "id-a")->function_id, "fn1");
	ck_assert_int_eq(registry_get(r, "id-a")->expires_at, 5000);
	ck_assert_ptr_null(registry_get(r, "id-b")->function_id);

	/* Listing: filter, order, pages. */
	memset(&q, 0, sizeof(q));
	q.page = 1;
	q.page_size = 10;
	n = registry_list(r, &q, page, 10, &total);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(total, 3);
	ck_assert_str_eq(page[0]->id, "id-a");
	ck_assert_str_eq(page[2]->id, "id-c");
	q.desc = true;
	n = registry_list(r, &q, page, 10, &total);
	ck_assert_str_eq(page[0]->id, "id-c");
	q.namespace_id = "ns1";
	n = registry_list(r, &q, page, 10, &total);
	ck_assert_uint_eq(total, 2);
	q.namespace_id = NULL;
	q.function_id = "fn1";
	n = registry_list(r, &q, page, 10, &total);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(page[0]->id, "id-a");
	q.function_id = NULL;
	q.desc = false;
	q.page_size = 2;
	q.page = 2;
	n = registry_list(r, &q, page, 10, &total);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(total, 3);
	ck_assert_str_eq(page[0]->id, "id-c");
	q.page = 3;
	ck_assert_uint_eq(registry_list(r, &q, page, 10, &total), 0);
	/* The namespace restriction of an admin key. */
	{
		char *allowed[] = {(char *)"ns2"};

		q.page = 1;
		q.page_size = 10;
		q.allowed = allowed;
		q.nallowed = 1;
		n = registry_list(r, &q, page, 10, &total);
		ck_assert_uint_eq(n, 1);
		ck_assert_str_eq(page[0]->id, "id-c");
	}

	/* Revocation: now, again, unknown, imported. */
	ck_assert_int_eq(registry_revoke(r, "id-a", 1000, false, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(rstate("ns1", "id-a"), REVOKE_REVOKED);
	ck_assert_int_eq(registry_get(r, "id-a")->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(registry_get(r, "id-a")->revoked_at, 1000);
	ck_assert_int_eq(registry_revoke(r, "id-a", 2000, false, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 1);
	ck_assert_int_eq(registry_get(r, "id-a")->revoked_at, 1000);
	ck_assert_int_eq(registry_revoke(r, "nope", 2000, false, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 2);
	ck_assert_ptr_null(registry_get(r, "nope"));
	ck_assert_int_eq(registry_revoke(r, "scw-jti-1", 2000, true, "nsx", REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(rstate("nsx", "scw-jti-1"), REVOKE_REVOKED);
	ck_assert(registry_get(r, "scw-jti-1")->imported);
	ck_assert_str_eq(registry_get(r, "scw-jti-1")->namespace_id, "nsx");
	/* Ids that could break the journal or the API are refused. */
	ck_assert_int_eq(registry_revoke(r, "bad\"id", 2000, true, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), -1);
	ck_assert_int_eq(registry_revoke(r, "", 2000, true, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), -1);
	registry_close(r);
}
END_TEST

START_TEST(test_reload)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	const struct token_record *t;
	struct stat st;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "t1", "ns1", NULL, 100, 0);
	add(r, "t2", "ns1", "fn1", 101, 9999);
	ck_assert_int_eq(registry_revoke(r, "t1", 150, false, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(registry_revoke(r, "imp", 160, true, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	revoke_touch("ns1", "t2", 2, 777);
	ck_assert_int_eq(registry_flush(r), 0);
	/* A second process cannot open it while the daemon holds it. */
	ck_assert_ptr_null(registry_open(dir, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "another fngate process"));
	registry_close(r);

	ck_assert_int_eq(stat(journal_path(dir), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(registry_count(r), 3);
	t = registry_get(r, "t1");
	ck_assert_int_eq(t->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(t->revoked_at, 150);
	ck_assert_str_eq(t->description, "a \"quoted\"\ttab and a newline\n");
	ck_assert_str_eq(t->kid, "kabc");
	t = registry_get(r, "t2");
	ck_assert_int_eq(t->status, TOKEN_REC_READY);
	ck_assert_str_eq(t->function_id, "fn1");
	ck_assert_int_eq(t->expires_at, 9999);
	ck_assert_int_eq(t->last_used_at, 777);
	ck_assert(registry_get(r, "imp")->imported);
	ck_assert_int_eq(rstate("ns1", "t1"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("ns1", "t2"), REVOKE_READY);
	ck_assert_int_eq(rstate("ns1", "imp"), REVOKE_REVOKED);
	registry_close(r);
}
END_TEST

/* Build a journal through the registry: add A, add B, revoke A, add C, import-revoke D. */
static char *reference_journal(size_t *len)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	char *data;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "A", "ns", NULL, 1, 0);
	add(r, "B", "ns", "fn", 2, 0);
	ck_assert_int_eq(registry_revoke(r, "A", 3, false, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	add(r, "C", "ns", NULL, 4, 0);
	ck_assert_int_eq(registry_revoke(r, "D", 5, true, NULL, REGISTRY_MAX, NULL, err, sizeof(err)), 0);
	registry_close(r);
	data = tu_read_file(journal_path(dir), len);
	ck_assert_ptr_nonnull(data);
	return data;
}

/* A kill -9 can stop a write after any byte: for every prefix of the journal, the registry
 * opens, holds exactly the changes whose line is complete, and cuts the torn rest. */
START_TEST(test_crash_every_byte)
{
	size_t len, lines = 0;
	char *ref = reference_journal(&len);

	for (size_t i = 0; i < len; i++)
		lines += ref[i] == '\n';
	ck_assert_uint_eq(lines, 5);
	for (size_t cut = 0; cut <= len; cut++) {
		const char *dir = tu_tempdir();
		size_t complete = 0, good = 0;
		struct registry *r;
		struct stat st;
		const struct token_record *a;

		for (size_t i = 0; i < cut; i++) {
			if (ref[i] == '\n') {
				complete++;
				good = i + 1;
			}
		}
		write_file(journal_path(dir), ref, cut);
		restart_set();
		r = registry_open(dir, err, sizeof(err));
		ck_assert_msg(r != NULL, "cut at %zu: %s", cut, err);
		/* Changes in order: A, B, revoke A, C, D. */
		a = registry_get(r, "A");
		ck_assert_msg((a != NULL) == (complete >= 1), "cut %zu: A", cut);
		ck_assert_msg((registry_get(r, "B") != NULL) == (complete >= 2), "cut %zu: B", cut);
		if (complete >= 1)
			ck_assert_int_eq(a->status, complete >= 3 ? TOKEN_REC_REVOKED :
					 TOKEN_REC_READY);
		ck_assert_int_eq(rstate("ns", "A"), complete >= 3 ? REVOKE_REVOKED :
				 complete >= 1 ? REVOKE_READY : REVOKE_UNKNOWN);
		ck_assert_msg((registry_get(r, "C") != NULL) == (complete >= 4), "cut %zu: C", cut);
		ck_assert_int_eq(rstate("ns", "D"), complete >= 5 ? REVOKE_REVOKED : REVOKE_UNKNOWN);
		ck_assert_int_eq(stat(journal_path(dir), &st), 0);
		ck_assert_int_eq((size_t)st.st_size, good);
		/* And the registry keeps working after the cut: the new line is whole. */
		add(r, "E", "ns", NULL, 6, 0);
		registry_close(r);
		restart_set();
		r = registry_open(dir, err, sizeof(err));
		ck_assert_msg(r != NULL, "cut at %zu, reopen: %s", cut, err);
		ck_assert_ptr_nonnull(registry_get(r, "E"));
		ck_assert_uint_eq(registry_count(r), (complete >= 1) + (complete >= 2) +
				  (complete >= 4) + (complete >= 5) + 1);
		registry_close(r);
	}
	free(ref);
}
END_TEST

/* A compaction stopped at any step leaves tokens.journal.tmp: truncated, whole but not renamed,
 * or garbage. The journal is whole in each case: the temporary file is removed and ignored. */
START_TEST(test_leftover_temp)
{
	size_t len;
	char *ref = reference_journal(&len);
	static const size_t cuts[] = {0, 1, 17, 100};
	char tmp[4200];

	for (size_t k = 0; k <= ARRAY_LEN(cuts); k++) {
		const char *dir = tu_tempdir();
		struct registry *r;
		struct stat st;

		write_file(journal_path(dir), ref, len);
		snprintf(tmp, sizeof(tmp), "%s.tmp", journal_path(dir));
		if (k < ARRAY_LEN(cuts))
			write_file(tmp, "00000000 {\"id\":\"ZZ\",garbage", cuts[k] < 28 ? cuts[k] : 28);
		else    /* a complete compaction output that was never renamed */
			write_file(tmp, ref, len / 2);
		restart_set();
		r = registry_open(dir, err, sizeof(err));
		ck_assert_msg(r != NULL, "%s", err);
		ck_assert_int_eq(stat(tmp, &st), -1);
		ck_assert_int_eq(errno, ENOENT);
		ck_assert_uint_eq(registry_count(r), 4);
		ck_assert_int_eq(registry_get(r, "A")->status, TOKEN_REC_REVOKED);
		ck_assert_ptr_null(registry_get(r, "ZZ"));
		registry_close(r);
	}
	free(ref);
}
END_TEST

/* Damage before the last line is not a crash: refuse to load rather than forget revocations. */
START_TEST(test_damage_refused)
{
	size_t len;
	char *ref = reference_journal(&len);
	const char *dir = tu_tempdir();
	char *second = strchr(ref, '\n') + 1;

	second[12] ^= 0x01;     /* one bit flipped in line 2 */
	write_file(journal_path(dir), ref, len);
	ck_assert_ptr_null(registry_open(dir, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "line 2 is damaged"));
	free(ref);
}
END_TEST

/* A deleted token never comes back, even if a stale "ready" line follows its revocation. */
START_TEST(test_revocation_sticky)
{
	size_t len;
	char *ref = reference_journal(&len);
	const char *dir = tu_tempdir();
	char *first_end = strchr(ref, '\n') + 1;
	size_t l1 = (size_t)(first_end - ref);
	char *buf = malloc(len + l1);
	struct registry *r;

	memcpy(buf, ref, len);
	memcpy(buf + len, ref, l1);     /* "A ready" replayed after "A revoked" */
	write_file(journal_path(dir), buf, len + l1);
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(registry_get(r, "A")->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(registry_get(r, "A")->revoked_at, 3);
	ck_assert_int_eq(rstate("ns", "A"), REVOKE_REVOKED);
	registry_close(r);
	free(buf);
	free(ref);
}
END_TEST

/* Last-use flushes append lines; compaction rewrites the journal with the live records only. */
START_TEST(test_compaction)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	size_t len, lines = 0;
	char *data;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "x", "ns", NULL, 1, 0);
	add(r, "y", "ns", NULL, 2, 0);
	for (int i = 1; i <= 1500; i++) {
		revoke_touch("ns", "x", 1, 1000 + i);
		ck_assert_int_eq(registry_flush(r), 0);
	}
	/* Nothing changed: nothing written. */
	ck_assert_int_eq(registry_flush(r), 0);
	registry_close(r);
	data = tu_read_file(journal_path(dir), &len);
	for (size_t i = 0; i < len; i++)
		lines += data[i] == '\n';
	free(data);
	ck_assert_msg(lines < 1100, "journal not compacted: %zu lines", lines);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(registry_get(r, "x")->last_used_at, 2500);
	ck_assert_int_eq(registry_get(r, "y")->last_used_at, 0);
	registry_close(r);
}
END_TEST

/* Quotas: a namespace holds at most `quota` records (tokens and revocations together); past it
 * nothing is added, other namespaces are not affected, revoking a record it holds is never
 * refused, expired tokens free their place at the next flush, and a restart counts the same. */
START_TEST(test_quota)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	struct token_record t;
	int64_t now = util_now();

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "q1", "Q", NULL, 1, 0);
	add(r, "q2", "Q", "fn", 2, now + 2);   /* expires in 2 s */
	ck_assert_int_eq(registry_revoke(r, "jq", 3, true, "Q", 3, NULL, err, sizeof(err)), REG_OK);
	ck_assert_uint_eq(registry_ns_count(r, "Q"), 3);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "q4");
	t.namespace_id = (char *)"Q";
	ck_assert_int_eq(registry_add(r, &t, 3, err, sizeof(err)), REG_QUOTA);
	ck_assert_ptr_null(registry_get(r, "q4"));
	ck_assert_int_eq(rstate("Q", "q4"), REVOKE_UNKNOWN);
	/* an imported revocation would take a place: refused, and not applied */
	ck_assert_int_eq(registry_revoke(r, "jq2", 4, true, "Q", 3, NULL, err, sizeof(err)), REG_QUOTA);
	ck_assert_int_eq(rstate("Q", "jq2"), REVOKE_UNKNOWN);
	/* revoking what it holds takes no place */
	ck_assert_int_eq(registry_revoke(r, "q1", 5, true, "Q", 3, NULL, err, sizeof(err)), REG_OK);
	ck_assert_int_eq(registry_revoke(r, "jq", 6, true, "Q", 3, NULL, err, sizeof(err)),
			 REG_ALREADY);
	/* another namespace has its own quota; a revocation in every namespace counts in none */
	snprintf(t.id, sizeof(t.id), "p1");
	t.namespace_id = (char *)"P";
	ck_assert_int_eq(registry_add(r, &t, 3, err, sizeof(err)), REG_OK);
	ck_assert_int_eq(registry_revoke(r, "jall", 7, true, NULL, REGISTRY_MAX, NULL, err,
					 sizeof(err)), REG_OK);
	ck_assert_uint_eq(registry_ns_count(r, "P"), 1);
	ck_assert_uint_eq(registry_ns_count(r, "nobody"), 0);
	/* a restart counts the same */
	registry_close(r);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_uint_eq(registry_ns_count(r, "Q"), 3);
	/* once q2 has expired, a flush frees its place */
	sleep(3);
	ck_assert_int_eq(registry_flush(r), 0);
	ck_assert_uint_eq(registry_ns_count(r, "Q"), 2);
	snprintf(t.id, sizeof(t.id), "q4");
	t.namespace_id = (char *)"Q";
	ck_assert_int_eq(registry_add(r, &t, 3, err, sizeof(err)), REG_OK);
	registry_close(r);
}
END_TEST

/* A revocation is acknowledged only once durable: when the journal cannot be written (here a
 * file size limit, as a full disk would), it applies at once but answers REG_ERROR, stays so
 * on a repeat, and the repeat after the disk recovers answers REG_OK (then REG_ALREADY); a
 * restart finds it. */
START_TEST(test_revocation_durable)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	struct rlimit old, lim;
	struct stat st;
	const struct token_record *t;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "d1", "ns", NULL, 1, 0);
	ck_assert_int_eq(stat(journal_path(dir), &st), 0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size;   /* not one byte more */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(registry_revoke(r, "d1", 10, false, NULL, REGISTRY_MAX, &t, err,
					 sizeof(err)), REG_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "not durable"));
	ck_assert(t->pending);
	ck_assert_int_eq(rstate("ns", "d1"), REVOKE_REVOKED);   /* applies at once */
	ck_assert_int_eq(registry_revoke(r, "d1", 11, false, NULL, REGISTRY_MAX, NULL, err,
					 sizeof(err)), REG_ERROR);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(registry_revoke(r, "d1", 12, false, NULL, REGISTRY_MAX, &t, err,
					 sizeof(err)), REG_OK);
	ck_assert(!t->pending);
	ck_assert_int_eq(t->revoked_at, 10);
	ck_assert_int_eq(registry_revoke(r, "d1", 13, false, NULL, REGISTRY_MAX, NULL, err,
					 sizeof(err)), REG_ALREADY);
	registry_close(r);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(registry_get(r, "d1")->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(rstate("ns", "d1"), REVOKE_REVOKED);
	registry_close(r);
	signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/* Fleet mode's hooks (fleet.c drives them against PostgreSQL; test_fleet.py covers that): a
 * commit hook that refuses leaves nothing applied; records read from the store merge as journal
 * lines do (sticky revocation, no-op repeats), reach the revocation set at once, and are in the
 * journal, with their position, after registry_sync. */
struct fake_store {
	int     refuse;
	int     full;           /* the store's own count says the quota is full */
	int     commits;
	size_t  quota;          /* the quota the last commit asked the store to count */
	char    last[1024];
};

static int fake_commit(void *arg, const struct token_record *t, const char *json, size_t quota,
		       int64_t *seq, char *e, size_t elen)
{
	struct fake_store *fs = arg;

	(void)t;
	fs->quota = quota;
	if (fs->refuse) {
		snprintf(e, elen, "store unavailable: refused");
		return -1;
	}
	if (fs->full)
		return 1;
	fs->commits++;
	snprintf(fs->last, sizeof(fs->last), "%s", json);
	*seq = 100 + fs->commits;
	return 0;
}

static size_t used_seen;

static void fake_used(void *arg, const struct token_record *const *recs, size_t n)
{
	(void)arg;
	(void)recs;
	used_seen += n;
}

START_TEST(test_fleet_hooks)
{
	const char *dir = tu_tempdir();
	struct fake_store fs = {0};
	struct token_record t;
	const struct token_record *out;
	struct registry *r = registry_open(dir, err, sizeof(err));
	static const char ready[] = "{\"id\":\"F\",\"ns\":\"ns\",\"fn\":null,\"desc\":null,"
		"\"created\":5,\"expires\":0,\"status\":\"ready\",\"revoked\":0,\"used\":0,"
		"\"kid\":null,\"imported\":false}";
	static const char revoked[] = "{\"id\":\"F\",\"ns\":\"ns\",\"fn\":null,\"desc\":null,"
		"\"created\":5,\"expires\":0,\"status\":\"revoked\",\"revoked\":9,\"used\":0,"
		"\"kid\":null,\"imported\":false}";

	ck_assert_msg(r != NULL, "%s", err);
	registry_set_commit(r, fake_commit, &fs);
	registry_set_used(r, fake_used, NULL);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "G");
	t.namespace_id = (char *)"ns";
	t.created_at = 1;
	/* the store refuses: nothing here */
	fs.refuse = 1;
	ck_assert_int_eq(registry_add(r, &t, REGISTRY_MAX, err, sizeof(err)), REG_STORE);
	ck_assert_int_eq(registry_count(r), 0);
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_UNKNOWN);
	/* the store counts the namespace's quota itself (other nodes' creations included): full
	 * there is REG_QUOTA, whatever this node counts, and nothing is applied */
	fs.refuse = 0;
	fs.full = 1;
	ck_assert_int_eq(registry_add(r, &t, 5, err, sizeof(err)), REG_QUOTA);
	ck_assert_uint_eq(fs.quota, 5);
	ck_assert_int_eq(registry_count(r), 0);
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_UNKNOWN);
	fs.full = 0;
	/* it takes it: committed (the record JSON), then applied, durably */
	ck_assert_int_eq(registry_add(r, &t, REGISTRY_MAX, err, sizeof(err)), REG_OK);
	ck_assert_uint_eq(fs.quota, REGISTRY_MAX);
	ck_assert_int_eq(fs.commits, 1);
	ck_assert_ptr_nonnull(strstr(fs.last, "\"id\":\"G\""));
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_READY);
	/* a revocation the store refuses is not applied; one it takes is */
	fs.refuse = 1;
	ck_assert_int_eq(registry_revoke(r, "G", 7, false, NULL, REGISTRY_MAX, &out, err,
					 sizeof(err)), REG_STORE);
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_READY);
	ck_assert_int_eq(registry_get(r, "G")->status, TOKEN_REC_READY);
	fs.refuse = 0;
	ck_assert_int_eq(registry_revoke(r, "G", 7, false, NULL, REGISTRY_MAX, &out, err,
					 sizeof(err)), REG_OK);
	ck_assert_uint_eq(fs.quota, 0);     /* a revocation of a held record takes no place */
	ck_assert_ptr_nonnull(strstr(fs.last, "\"status\":\"revoked\""));
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_REVOKED);
	/* a node's own commits do not move its position */
	ck_assert_int_eq(registry_position(r), 0);

	/* changes read from the store */
	ck_assert_int_eq(registry_apply_json(r, ready, 5, err, sizeof(err)), 1);
	ck_assert_int_eq(rstate("ns", "F"), REVOKE_READY);
	ck_assert_int_eq(registry_apply_json(r, ready, 5, err, sizeof(err)), 0);   /* known */
	ck_assert_int_eq(registry_apply_json(r, revoked, 6, err, sizeof(err)), 1);
	ck_assert_int_eq(rstate("ns", "F"), REVOKE_REVOKED);
	ck_assert_int_eq(registry_apply_json(r, ready, 7, err, sizeof(err)), 0);   /* sticky */
	ck_assert_int_eq(registry_get(r, "F")->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(registry_position(r), 7);
	ck_assert_int_eq(registry_apply_json(r, "{\"id\":1}", 8, err, sizeof(err)), -1);
	ck_assert_int_eq(registry_apply_json(r, "not json", 8, err, sizeof(err)), -1);
	ck_assert_int_eq(registry_apply_used(r, "F", 42, 8), 1);
	ck_assert_int_eq(registry_apply_used(r, "F", 41, 9), 0);   /* not later */
	ck_assert_int_eq(registry_apply_used(r, "nobody", 42, 9), 0);
	ck_assert_int_eq(registry_get(r, "F")->last_used_at, 42);
	/* last uses the gate noted go to the used hook at the flush */
	revoke_touch("ns", "G", 1, 1234);
	used_seen = 0;
	ck_assert_int_eq(registry_flush(r), 0);
	ck_assert_int_eq(used_seen, 1);
	ck_assert_int_eq(registry_sync(r), 0);
	registry_close(r);

	/* the journal is the local snapshot: every record, the revocation, the resume position */
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(registry_count(r), 2);
	ck_assert_int_eq(registry_get(r, "F")->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(registry_get(r, "F")->last_used_at, 42);
	ck_assert_int_eq(rstate("ns", "F"), REVOKE_REVOKED);
	ck_assert_int_eq(rstate("ns", "G"), REVOKE_REVOKED);
	/* 8: the last change that wrote a line (7 changed nothing; reading it again is harmless) */
	ck_assert_int_eq(registry_position(r), 8);
	registry_close(r);
}
END_TEST

/* API keys in the registry: kept apart from tokens (get, list, revoke by kind; ids unique across
 * both), counted in the namespace's quota with tokens, registered in the set with their hash and
 * scope, durable (the journal holds the hash, never a secret), deletion sticky across a restart,
 * and the same through a record read from the store (registry_apply_json). */
START_TEST(test_api_keys)
{
	const char *dir = tu_tempdir();
	struct registry *r = registry_open(dir, err, sizeof(err));
	char id[APIKEY_ID_LEN + 1], secret[APIKEY_SECRET_LEN + 1], *js, *journal;
	unsigned char hash[APIKEY_HASH_LEN];
	const struct token_record *out, *page[4];
	struct token_record k;
	struct revoke_key rk;
	size_t total, len;

	ck_assert_msg(r != NULL, "%s", err);
	add(r, "tok1", "K", NULL, 1, 0);
	ck_assert_int_eq(apikey_generate(id, secret, hash), 0);
	memset(&k, 0, sizeof(k));
	snprintf(k.id, sizeof(k.id), "%s", id);
	k.namespace_id = (char *)"K";
	k.function_id = (char *)"fn";
	k.description = (char *)"ci";
	k.created_at = 2;
	k.api_key = true;
	memcpy(k.key_hash, hash, sizeof(hash));
	ck_assert_int_eq(registry_add(r, &k, 2, err, sizeof(err)), REG_OK);
	/* the quota counts both kinds */
	ck_assert_uint_eq(registry_ns_count(r, "K"), 2);
	snprintf(k.id, sizeof(k.id), "tok1");   /* a token's id is taken for keys too */
	ck_assert_int_eq(registry_add(r, &k, REGISTRY_MAX, err, sizeof(err)), REG_ERROR);
	snprintf(k.id, sizeof(k.id), "%s", id);
	ck_assert_int_eq(registry_add(r, &k, REGISTRY_MAX, err, sizeof(err)), REG_ERROR);
	snprintf(k.id, sizeof(k.id), "0123456789abcdef0123");
	ck_assert_int_eq(registry_add(r, &k, 2, err, sizeof(err)), REG_QUOTA);
	/* kinds apart */
	ck_assert_ptr_nonnull(registry_get_api_key(r, id));
	ck_assert_ptr_null(registry_get(r, id));
	ck_assert_ptr_null(registry_get_issued(r, id));
	ck_assert_ptr_null(registry_get_api_key(r, "tok1"));
	ck_assert_int_eq(registry_revoke(r, id, 3, false, NULL, REGISTRY_MAX, NULL, err,
					 sizeof(err)), REG_UNKNOWN);
	ck_assert_int_eq(registry_revoke_api_key(r, "tok1", 3, NULL, err, sizeof(err)), REG_UNKNOWN);
	ck_assert_uint_eq(registry_list(r, &(struct registry_query){.page = 1, .page_size = 4,
				.api_keys = true}, page, 4, &total), 1);
	ck_assert_str_eq(page[0]->id, id);
	ck_assert_uint_eq(registry_list(r, &(struct registry_query){.page = 1, .page_size = 4},
				page, 4, &total), 1);
	ck_assert_str_eq(page[0]->id, "tok1");
	/* registered for the gate; the token set does not see it */
	ck_assert_int_eq(revoke_key_lookup(id, APIKEY_ID_LEN, &rk), REVOKE_READY);
	ck_assert_mem_eq(rk.hash, hash, 32);
	ck_assert_str_eq(rk.function_id, "fn");
	ck_assert_int_eq(rstate("K", id), REVOKE_UNKNOWN);
	/* restart: the same */
	registry_close(r);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(revoke_key_lookup(id, APIKEY_ID_LEN, &rk), REVOKE_READY);
	ck_assert_mem_eq(rk.hash, hash, 32);
	/* delete: sticky, durable; a second delete is REG_ALREADY */
	revoke_key_touch(id, APIKEY_ID_LEN, 40);
	ck_assert_int_eq(registry_revoke_api_key(r, id, 50, &out, err, sizeof(err)), REG_OK);
	ck_assert_int_eq(out->status, TOKEN_REC_REVOKED);
	ck_assert_int_eq(out->revoked_at, 50);
	ck_assert_int_eq(out->last_used_at, 40);
	ck_assert_int_eq(revoke_key_lookup(id, APIKEY_ID_LEN, &rk), REVOKE_REVOKED);
	ck_assert_int_eq(registry_revoke_api_key(r, id, 60, &out, err, sizeof(err)), REG_ALREADY);
	js = registry_record_json(out);
	ck_assert_ptr_nonnull(strstr(js, "\"kind\":\"api_key\""));
	registry_close(r);
	restart_set();
	r = registry_open(dir, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(revoke_key_lookup(id, APIKEY_ID_LEN, &rk), REVOKE_REVOKED);
	ck_assert_int_eq(registry_get_api_key(r, id)->revoked_at, 50);
	registry_close(r);
	/* the journal holds the hash, never the secret */
	journal = tu_read_file(journal_path(dir), &len);
	ck_assert_ptr_nonnull(journal);
	ck_assert_ptr_null(strstr(journal, secret + APIKEY_PREFIX_LEN + APIKEY_ID_LEN + 1));
	free(journal);
	/* a node that reads the record from the store: registered, with its hash */
	restart_set();
	r = registry_open(tu_tempdir(), err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_int_eq(registry_apply_json(r, js, 7, err, sizeof(err)), 1);
	ck_assert_int_eq(revoke_key_lookup(id, APIKEY_ID_LEN, &rk), REVOKE_REVOKED);
	ck_assert_mem_eq(rk.hash, hash, 32);
	/* a key record without its hash, or imported, is not a record */
	ck_assert_int_eq(registry_apply_json(r, "{\"id\":\"x\",\"ns\":\"K\",\"created\":1,"
		"\"expires\":0,\"status\":\"ready\",\"revoked\":0,\"used\":0,"
		"\"kind\":\"api_key\"}", 8, err, sizeof(err)), -1);
	registry_close(r);
	free(js);
	util_wipe(secret, sizeof(secret));
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_operations);
	tcase_add_test(tc, test_revocation_namespaces);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_quota);
	tcase_add_test(tc, test_revocation_durable);
	tcase_add_test(tc, test_crash_every_byte);
	tcase_add_test(tc, test_leftover_temp);
	tcase_add_test(tc, test_damage_refused);
	tcase_add_test(tc, test_revocation_sticky);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_fleet_hooks);
	tcase_add_test(tc, test_api_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(registry_suite());
}
