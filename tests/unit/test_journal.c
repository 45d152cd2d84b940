/* test_journal.c - the checksummed append-only journal (journal.h): a table of files as a crash
 * or damage leaves them (torn tail, bad checksum in the middle or at the end, a line its owner
 * refuses, an empty file, a leftover .tmp) and what open makes of each; appends; compaction. */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "testutil.h"

/* What a replay saw: the lines' JSON, joined by '|'. */
struct seen {
	char   text[4096];
	size_t n;
};

/* journal_line_fn: a line is good JSON for this test when it starts with '{'; "{fail}" stops. */
static enum journal_line_rc collect(void *arg, const char *json, size_t len, char *err,
				    size_t errlen)
{
	struct seen *s = arg;

	if (len == 6 && memcmp(json, "{fail}", 6) == 0) {
		snprintf(err, errlen, "the owner gave up");
		return JOURNAL_LINE_FAIL;
	}
	if (len == 0 || json[0] != '{')
		return JOURNAL_LINE_BAD;
	snprintf(s->text + strlen(s->text), sizeof(s->text) - strlen(s->text), "%s%.*s",
		 s->n ? "|" : "", (int)len, json);
	s->n++;
	return JOURNAL_LINE_OK;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The line journal_format makes of json, appended to out. */
static void line(char *out, size_t cap, const char *json)
{
	char *buf = NULL;
	size_t len = 0, bcap = 0;

	ck_assert_int_eq(journal_format(&buf, &len, &bcap, json, strlen(json)), 0);
	ck_assert_uint_lt(strlen(out) + len, cap);
	strncat(out, buf, len);
	free(buf);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* A journal's content as written (lines made whole with their checksums unless raw), what open
 * must replay, and what it leaves of the file. */
static const struct {
	const char *name;
	const char *lines[4];       /* JSON of whole lines, in order; NULL ends */
	const char *tail;           /* raw bytes after them (a torn or damaged line), or NULL */
	bool        damage_middle;  /* flip a checksum digit of the first line */
	bool        opens;
	const char *replayed;       /* the JSON replayed, joined by '|' */
	size_t      lines_after;    /* journal_lines after open */
	bool        cut;            /* the tail was cut off the file */
} cases[] = {
	{"empty file", {NULL}, NULL, false, true, "", 0, false},
	{"whole lines", {"{\"a\":1}", "{\"b\":2}", NULL}, NULL, false, true,
	 "{\"a\":1}|{\"b\":2}", 2, false},
	{"torn tail without newline", {"{\"a\":1}", NULL}, "0badc0de {\"b\":", false, true,
	 "{\"a\":1}", 1, true},
	{"torn tail: bad checksum, last line", {"{\"a\":1}", NULL}, "00000000 {\"b\":2}\n", false,
	 true, "{\"a\":1}", 1, true},
	{"only a torn line", {NULL}, "12", false, true, "", 0, true},
	{"bad checksum in the middle", {"{\"a\":1}", "{\"b\":2}", NULL}, NULL, true, false, "", 0,
	 false},
	{"a line the owner refuses, not last", {"not json", "{\"b\":2}", NULL}, NULL, false, false,
	 "", 0, false},
	{"a line the owner refuses, last: torn", {"{\"a\":1}", "not json", NULL}, NULL, false, true,
	 "{\"a\":1}", 1, true},
	{"the owner fails", {"{\"a\":1}", "{fail}", NULL}, NULL, false, false, "", 0, false},
};

START_TEST(test_open_cases)
{
	const char *dir = tu_tempdir();
	char path[4096], tmp[4200], content[4096] = "", err[256] = "";
	struct seen seen;
	struct journal *j;
	size_t whole;

	snprintf(path, sizeof(path), "%s/t.journal", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	for (size_t i = 0; cases[_i].lines[i] != NULL; i++)
		line(content, sizeof(content), cases[_i].lines[i]);
	whole = strlen(content);
	if (cases[_i].tail != NULL)
		strncat(content, cases[_i].tail, sizeof(content) - strlen(content) - 1);
	if (cases[_i].damage_middle)
		content[0] = content[0] == '0' ? '1' : '0';
	write_file(path, content, strlen(content));
	write_file(tmp, "half a compaction", 17);     /* always removed */
	memset(&seen, 0, sizeof(seen));
	j = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_msg((j != NULL) == cases[_i].opens, "%s: open %s (%s)", cases[_i].name,
		      j ? "succeeded" : "failed", err);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	if (j == NULL) {
		ck_assert_str_ne(err, "");
		ck_assert_int_eq(file_size(path), (off_t)strlen(content));   /* left as it was */
		return;
	}
	ck_assert_msg(strcmp(seen.text, cases[_i].replayed) == 0, "%s: replayed %s", cases[_i].name,
		      seen.text);
	ck_assert_uint_eq(journal_lines(j), cases[_i].lines_after);
	if (cases[_i].cut)
		ck_assert_int_lt(file_size(path), (off_t)strlen(content));
	else
		ck_assert_int_eq(file_size(path), (off_t)whole);
	journal_close(j);
}
END_TEST

/* Appends reach the file whole, a second open of a locked journal is refused, and a reopen
 * replays what was appended. */
START_TEST(test_append_and_lock)
{
	const char *dir = tu_tempdir();
	char path[4096], err[256];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct seen seen;
	struct journal *j, *j2;

	snprintf(path, sizeof(path), "%s/new.journal", dir);
	memset(&seen, 0, sizeof(seen));
	j = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(journal_path(j), path);
	ck_assert_uint_eq(journal_lines(j), 0);
	ck_assert_int_eq(journal_format(&buf, &len, &cap, "{\"x\":1}", 7), 0);
	ck_assert_int_eq(journal_format(&buf, &len, &cap, "{\"y\":\"\\n\"}", 10), 0);
	ck_assert_int_eq(journal_append(j, buf, len, 2), 0);
	ck_assert_uint_eq(journal_lines(j), 2);
	ck_assert_int_eq(file_size(path), (off_t)len);
	j2 = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_ptr_null(j2);
	ck_assert_ptr_nonnull(strstr(err, "in use by another fngate process"));
	journal_close(j);
	memset(&seen, 0, sizeof(seen));
	j = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(seen.text, "{\"x\":1}|{\"y\":\"\\n\"}");
	journal_close(j);
	free(buf);
}
END_TEST

/* A rewrite replaces every line at once, the journal stays locked, and appends go on after it. */
START_TEST(test_compaction)
{
	const char *dir = tu_tempdir();
	char path[4096], tmp[4200], err[256];
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct seen seen;
	struct journal *j;

	snprintf(path, sizeof(path), "%s/c.journal", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	memset(&seen, 0, sizeof(seen));
	j = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_ptr_nonnull(j);
	for (int i = 0; i < 50; i++) {
		char js[32];

		len = 0;
		snprintf(js, sizeof(js), "{\"n\":%d}", i);
		ck_assert_int_eq(journal_format(&buf, &len, &cap, js, strlen(js)), 0);
		ck_assert_int_eq(journal_append(j, buf, len, 1), 0);
	}
	ck_assert_uint_eq(journal_lines(j), 50);
	len = 0;
	ck_assert_int_eq(journal_format(&buf, &len, &cap, "{\"n\":49}", 8), 0);
	ck_assert_int_eq(journal_rewrite(j, buf, len, 1), 0);
	ck_assert_uint_eq(journal_lines(j), 1);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(journal_open(path, "test", collect, &seen, err, sizeof(err)) == NULL, 1);
	len = 0;
	ck_assert_int_eq(journal_format(&buf, &len, &cap, "{\"n\":50}", 8), 0);
	ck_assert_int_eq(journal_append(j, buf, len, 1), 0);
	journal_close(j);
	memset(&seen, 0, sizeof(seen));
	j = journal_open(path, "test", collect, &seen, err, sizeof(err));
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(seen.text, "{\"n\":49}|{\"n\":50}");
	/* An empty rewrite leaves an empty journal. */
	ck_assert_int_eq(journal_rewrite(j, NULL, 0, 0), 0);
	ck_assert_int_eq(file_size(path), 0);
	journal_close(j);
	free(buf);
}
END_TEST

/* The checksum is CRC-32 (IEEE): the journals written before this module keep loading. */
START_TEST(test_crc32)
{
	ck_assert_uint_eq(journal_crc32("123456789", 9), 0xcbf43926u);
	ck_assert_uint_eq(journal_crc32("", 0), 0);
}
END_TEST

/* A whole file replaced atomically: the new content or the old, never a mix; the mode set; no
 * temporary file left; a directory that does not exist refused. */
START_TEST(test_write_atomic)
{
	const char *dir = tu_tempdir();
	char path[4096], tmp[4096];
	struct stat st;
	size_t len;
	char *d;

	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s/f.tmp", dir);
	ck_assert_int_eq(journal_write_atomic(path, "one", 3, 0600), 0);
	ck_assert_int_eq(journal_write_atomic(path, "second", 6, 0600), 0);
	d = tu_read_file(path, &len);
	ck_assert_str_eq(d, "second");
	free(d);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(tmp, &st), -1);
	snprintf(path, sizeof(path), "%s/missing-dir/f", dir);
	ck_assert_int_eq(journal_write_atomic(path, "x", 1, 0600), -1);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_open_cases, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_append_and_lock);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_crc32);
	tcase_add_test(tc, test_write_atomic);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(journal_suite());
}
