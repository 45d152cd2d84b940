/* testutil.c - helpers shared by the Check suites. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tu_vector_path(const char *rel)
{
	static char buf[4096];
	const char *v = getenv("FNGATE_VECTORS");
	const char *src = getenv("FNGATE_SOURCE_DIR");

	if (v != NULL)
		snprintf(buf, sizeof(buf), "%s/%s", v, rel);
	else
		snprintf(buf, sizeof(buf), "%s/../shared/vectors/%s", src ? src : ".", rel);
	return buf;
}

const char *tu_source_path(const char *rel)
{
	static char buf[4096];
	const char *src = getenv("FNGATE_SOURCE_DIR");

	snprintf(buf, sizeof(buf), "%s/%s", src ? src : ".", rel);
	return buf;
}

char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto cleanup;
	buf = malloc((size_t)n + 1);
	if (buf == NULL)
		goto cleanup;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto cleanup;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
cleanup:
	fclose(f);
	return buf;
}

const char *tu_tempdir(void)
{
	static char buf[64];

	strcpy(buf, "/tmp/fngate-test-XXXXXX");
	if (mkdtemp(buf) == NULL)
		return NULL;
	return buf;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
