/* backup.c - `fngate state backup`: copy a live state_dir consistently. The registry and the
 * audit trail append whole checksummed lines to tokens.journal and audit.journal (journal.h,
 * fdatasync'ed before the API confirms them) and
 * replaces every other file by rename (journal_write_atomic), so a reader sees complete
 * versions: the journal is cut after its last newline (a line being appended is not confirmed
 * yet), the rest copied whole, and the copy is loaded once to verify its checksums. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "journal.h"
#include "registry.h"
#include "util.h"
#include "revoke.h"

#define BACKUP_FILE_MAX (256u * 1024 * 1024)   /* no state file comes near this */

/* Read the whole of an open file: *buf malloc'ed (caller frees). 0 / -1 (errno). */
static int backup_read(int fd, char **buf, size_t *len)
{
	struct stat st;
	size_t cap, n = 0;
	ssize_t r;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((size_t)st.st_size > BACKUP_FILE_MAX) {
		errno = EFBIG;
		return -1;
	}
	cap = (size_t)st.st_size + 4096;     /* the journal may grow while read */
	if ((*buf = malloc(cap)) == NULL)
		return -1;
	while (n < cap && (r = read(fd, *buf + n, cap - n)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			free(*buf);
			*buf = NULL;
			return -1;
		}
		n += (size_t)r;
	}
	*len = n;
	return 0;
}

/* Copy directory src into dst (created 0700), recursively. *nfiles counts the files. 0 / -1. */
static int backup_dir(const char *src, const char *dst, unsigned *nfiles)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int rc = -1;

	if (d == NULL) {
		fprintf(stderr, "fngate state backup: %s: %s\n", src, strerror(errno));
		return -1;
	}
	if (util_mkdir_private(dst) == -1) {
		fprintf(stderr, "fngate state backup: %s: %s\n", dst, strerror(errno));
		goto cleanup;
	}
	while ((e = readdir(d)) != NULL) {
		char sp[PATH_MAX], dp[PATH_MAX], *buf = NULL;
		size_t len = 0, nl = strlen(e->d_name);
		struct stat st;
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (nl > 4 && strcmp(e->d_name + nl - 4, ".tmp") == 0))
			continue;      /* a write in progress: its previous version is the file */
		if (snprintf(sp, sizeof(sp), "%s/%s", src, e->d_name) >= (int)sizeof(sp) ||
		    snprintf(dp, sizeof(dp), "%s/%s", dst, e->d_name) >= (int)sizeof(dp) ||
		    lstat(sp, &st) == -1) {
			fprintf(stderr, "fngate state backup: %s: %s\n", sp, strerror(errno));
			goto cleanup;
		}
		if (S_ISDIR(st.st_mode)) {
			if (backup_dir(sp, dp, nfiles) != 0)
				goto cleanup;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		fd = open(sp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd == -1 || backup_read(fd, &buf, &len) != 0) {
			fprintf(stderr, "fngate state backup: %s: %s\n", sp, strerror(errno));
			if (fd != -1)
				close(fd);
			goto cleanup;
		}
		close(fd);
		if (strlen(e->d_name) > 8 &&
		    strcmp(e->d_name + strlen(e->d_name) - 8, ".journal") == 0)
			while (len > 0 && buf[len - 1] != '\n')
				len--;     /* an append in progress: not confirmed yet */
		if (journal_write_atomic(dp, buf, len, 0600) != 0) {
			fprintf(stderr, "fngate state backup: %s: %s\n", dp, strerror(errno));
			free(buf);
			goto cleanup;
		}
		free(buf);
		(*nfiles)++;
	}
	rc = 0;
cleanup:
	closedir(d);
	return rc;
}

int backup_main(int argc, char **argv)
{
	struct conf_errors errs = {0};
	struct conf *c = NULL;
	struct registry *r;
	const char *path = NULL, *dir = NULL;
	char err[512] = "";
	unsigned nfiles = 0;
	DIR *d;
	bool bad;
	int rc = 1;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: fngate state backup -c FILE DIR\n\nCopy FILE's state_dir into DIR "
		       "(new or empty) while fngate runs; restore by\nstopping fngate and copying "
		       "DIR back over state_dir (docs/operations.md).\n");
		return 0;
	}
	bad = argc < 2 || strcmp(argv[1], "backup") != 0;
	for (int i = 2; i < argc && !bad; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[++i];
		else if (dir == NULL && argv[i][0] != '-')
			dir = argv[i];
		else
			bad = true;
	}
	if (bad || path == NULL || dir == NULL) {
		fprintf(stderr, "usage: fngate state backup -c FILE DIR\n");
		return 2;
	}
	if ((c = conf_load(path, &errs)) == NULL) {
		conf_errors_print(&errs, stderr);
		conf_errors_free(&errs);
		return 1;
	}
	if ((d = opendir(dir)) != NULL) {
		struct dirent *e;
		bool empty = true;

		while ((e = readdir(d)) != NULL)
			empty = empty && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
		closedir(d);
		if (!empty) {
			fprintf(stderr, "fngate state backup: %s is not empty\n", dir);
			goto cleanup;
		}
	}
	if (backup_dir(c->state_dir, dir, &nfiles) != 0)
		goto cleanup;
	/* Load the copy as fngate would: every journal line's checksum verified (the load
	 * fills the process's revocation set, which needs initialising). */
	if (revoke_init() != 0) {
		fprintf(stderr, "fngate state backup: cannot initialise the revocation set\n");
		goto cleanup;
	}
	r = registry_open(dir, err, sizeof(err));
	if (r != NULL)
		registry_close(r);
	revoke_shutdown();
	if (r != NULL && audit_open(dir, c->audit_retention_days, err, sizeof(err)) == 0)
		audit_close();
	else
		r = NULL;
	if (r == NULL) {
		fprintf(stderr, "fngate state backup: the copy does not load: %s\n", err);
		goto cleanup;
	}
	printf("state_dir %s backed up to %s (%u files)\n", c->state_dir, dir, nfiles);
	rc = 0;
cleanup:
	conf_unref(c);
	return rc;
}
