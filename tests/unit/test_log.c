/* test_log.c - the access log: combined-format lines (escaping, "-" fields), JSON lines, "off",
 * and reopening a renamed file onto the same descriptor number. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

/* The file's content with every "[dd/Mon/yyyy:hh:mm:ss +0000]" replaced by "[T]". */
static char *read_masked(const char *path)
{
	size_t len, o = 0;
	char *s = tu_read_file(path, &len), *out;

	ck_assert_ptr_nonnull(s);
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < len; i++) {
		const char *end = s[i] == '[' ? strstr(s + i, " +0000]") : NULL;

		if (end != NULL && end - (s + i) == 21) {
			memcpy(out + o, "[T]", 3);
			o += 3;
			i = (size_t)(end - s) + 6;
			continue;
		}
		out[o++] = s[i];
	}
	out[o] = '\0';
	free(s);
	return out;
}

static const struct {
	struct access_record r;
	const char *line;
} clf_cases[] = {
	{{.client_ip = "192.0.2.7", .method = "GET", .path = "/a?x=1", .path_len = 6,
	  .protocol = "HTTP/1.1", .token_id = "jti-1", .status = 200, .bytes_out = 512,
	  .referer = "https://r.example/", .referer_len = 18, .user_agent = "curl/8", .user_agent_len = 6},
	 "192.0.2.7 - jti-1 [T] \"GET /a?x=1 HTTP/1.1\" 200 512 \"https://r.example/\" \"curl/8\"\n"},
	/* nothing known: every field "-", no bytes sent */
	{{.status = 400},
	 "- - - [T] \"- - -\" 400 - \"-\" \"-\"\n"},
	/* quotes, backslashes, control and non-ASCII bytes cannot break the line */
	{{.client_ip = "::1", .method = "GET", .path = "/\"q\\\n\xff", .path_len = 6,
	  .protocol = "HTTP/1.0", .status = 403, .bytes_out = 1,
	  .user_agent = "a\"b", .user_agent_len = 3},
	 "::1 - - [T] \"GET /\\x22q\\x5C\\x0A\\xFF HTTP/1.0\" 403 1 \"-\" \"a\\x22b\"\n"},
};

START_TEST(test_combined)
{
	char path[512];
	char *s;

	snprintf(path, sizeof(path), "%s/combined.log", tu_tempdir());
	ck_assert_int_eq(log_open_access(path), 0);
	log_set_access_format("combined");
	ck_assert_int_eq(log_access_combined(), 1);
	log_access(&clf_cases[_i].r);
	s = read_masked(path);
	ck_assert_str_eq(s, clf_cases[_i].line);
	free(s);
	log_close();
}
END_TEST

START_TEST(test_json_and_off)
{
	/* quotes, backslashes, control and non-ASCII bytes are escaped as JSON */
	struct access_record r = {.request_id = "id1", .method = "GET", .protocol = "HTTP/2.0",
				  .path = "/\"q\\\n\xff",
				  .path_len = 6, .status = 204, .upstream_us = -1,
				  .total_us = 1234567};
	char path[512];
	size_t len;
	char *s;

	snprintf(path, sizeof(path), "%s/json.log", tu_tempdir());
	ck_assert_int_eq(log_open_access(path), 0);
	log_set_access_format("json");
	ck_assert_int_eq(log_access_combined(), 0);
	log_access(&r);
	s = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "\"request_id\":\"id1\""));
	ck_assert_ptr_nonnull(strstr(s, "\"status\":204"));
	ck_assert_ptr_nonnull(strstr(s, "\"method\":\"GET\",\"protocol\":\"HTTP/2.0\""));
	ck_assert_ptr_nonnull(strstr(s, "\"path\":\"/\\\"q\\\\\\u000a\\u00ff\""));
	ck_assert_ptr_nonnull(strstr(s, "\"upstream_ms\":-1.000,\"total_ms\":1234.567}"));
	ck_assert_int_eq(s[len - 1], '\n');
	free(s);
	/* "off": nothing more is written anywhere */
	ck_assert_int_eq(log_open_access("off"), 0);
	log_access(&r);
	s = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strstr(strstr(s, "\n") + 1, "id1"));
	free(s);
	/* an unknown format name is JSON */
	log_set_access_format("nonsense");
	ck_assert_int_eq(log_access_combined(), 0);
	log_close();
}
END_TEST

START_TEST(test_reopen_keeps_descriptor)
{
	struct access_record r = {.method = "GET", .path = "/one", .path_len = 4, .status = 200,
				  .upstream_us = -1};
	char path[512], rotated[520];
	size_t len;
	char *s;
	int fd_before, fd_after;

	snprintf(path, sizeof(path), "%s/rotate.log", tu_tempdir());
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	ck_assert_int_eq(log_open_access(path), 0);
	log_set_access_format("json");
	log_access(&r);
	ck_assert_int_eq(rename(path, rotated), 0);
	fd_before = dup(0);     /* the lowest free number now */
	close(fd_before);
	ck_assert_int_eq(log_reopen(), 0);
	/* the reopen took no new descriptor number: the old one now points at the new file */
	fd_after = dup(0);
	close(fd_after);
	ck_assert_int_eq(fd_before, fd_after);
	r.path = "/two";
	log_access(&r);
	s = tu_read_file(rotated, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "\"/one\""));
	ck_assert_ptr_null(strstr(s, "\"/two\""));
	free(s);
	s = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "\"/two\""));
	ck_assert_ptr_null(strstr(s, "\"/one\""));
	free(s);
	log_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_combined, 0, sizeof(clf_cases) / sizeof(clf_cases[0]));
	tcase_add_test(tc, test_json_and_off);
	tcase_add_test(tc, test_reopen_keeps_descriptor);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
