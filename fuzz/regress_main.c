/* regress_main.c - a main() for the fuzz targets without libFuzzer (any compiler): runs every
 * file named on the command line, or found in a directory named there, through
 * LLVMFuzzerTestOneInput once. This makes fuzz/corpus/<target>/ a regression test in the normal
 * ctest run. A harness invariant that fails aborts, so ctest sees the crash. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INPUT_MAX (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n;
	int rc = -1;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	buf = malloc(INPUT_MAX);
	if (buf == NULL)
		goto done;
	n = fread(buf, 1, INPUT_MAX, f);
	if (ferror(f) || !feof(f)) {
		fprintf(stderr, "%s: unreadable or over %d bytes\n", path, INPUT_MAX);
		goto done;
	}
	/* A copy of exactly n bytes, so reads past the input are caught like under libFuzzer. */
	{
		uint8_t *exact = malloc(n ? n : 1);

		if (exact == NULL)
			goto done;
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	rc = 0;
done:
	free(buf);
	fclose(f);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	size_t total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file-or-directory...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t n = 0, cap = 0;

		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				return 1;
			total++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL) {
			perror(argv[i]);
			return 1;
		}
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			if (n == cap) {
				char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

				if (nn == NULL)
					return 1;
				names = nn;
			}
			if (asprintf(&names[n], "%s/%s", argv[i], e->d_name) < 0)
				return 1;
			n++;
		}
		closedir(d);
		qsort(names, n, sizeof(*names), name_cmp);
		for (size_t j = 0; j < n; j++) {
			if (run_file(names[j]) != 0)
				return 1;
			free(names[j]);
			total++;
		}
		free(names);
	}
	printf("%zu inputs ran without a failure\n", total);
	return 0;
}
