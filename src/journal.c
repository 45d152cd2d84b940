/* journal.c - the checksummed append-only journal files of state_dir (journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct journal {
	char   *path;
	char   *what;           /* the owner, for log lines */
	int     fd;             /* O_APPEND, flock'ed */
	off_t   size;           /* bytes known good */
	size_t  lines;
};

uint32_t journal_crc32(const void *buf, size_t len)
{
	static uint32_t table[256];
	static int ready;
	const unsigned char *p = buf;
	uint32_t c = 0xffffffffu;

	if (!ready) {
		/* Built on first use; journals are used from the main thread only. */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

/* ---------------------------------------------------------------- files */

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc == -1 ? -1 : 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int journal_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[PATH_MAX];
	int fd = -1, rc = -1, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd == -1)
		goto cleanup;
	/* The umask may have narrowed the mode; never widen a private file though. */
	if (fchmod(fd, (mode_t)mode) == -1 || write_all(fd, data, len) == -1 || fsync(fd) == -1)
		goto cleanup;
	if (close(fd) == -1) {
		fd = -1;
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto cleanup;
	if (fsync_dir_of(path) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	errno = saved;
	return rc;
}

/* ---------------------------------------------------------------- lines */

int journal_format(char **buf, size_t *len, size_t *cap, const char *json, size_t jl)
{
	size_t need = *len + 9 + jl + 1 + 1;

	if (need > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		char *nb;

		while (ncap < need)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	snprintf(*buf + *len, 10, "%08x ", (unsigned)journal_crc32(json, jl));
	memcpy(*buf + *len + 9, json, jl);
	(*buf)[*len + 9 + jl] = '\n';
	*len += 9 + jl + 1;
	return 0;
}

/* Check one line (without its '\n'): "<crc> <JSON>" with the right checksum. */
static bool line_whole(const char *line, size_t len)
{
	char crchex[9];
	char *end;
	unsigned long crc;

	if (len < 11 || len > JOURNAL_LINE_MAX || line[8] != ' ')
		return false;
	memcpy(crchex, line, 8);
	crchex[8] = '\0';
	crc = strtoul(crchex, &end, 16);
	return end == crchex + 8 && crc == journal_crc32(line + 9, len - 9);
}

/* Read the journal, replay it through fn, cut a torn tail. 0, or -1 with err. */
static int journal_load(struct journal *j, journal_line_fn fn, void *arg, char *err,
			size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0, len, lineno = 0;
	int rc = -1;

	if (fstat(j->fd, &st) == -1) {
		util_seterr(err, errlen, "%s: %s", j->path, strerror(errno));
		goto cleanup;
	}
	if ((uint64_t)st.st_size > JOURNAL_MAX_BYTES) {
		util_seterr(err, errlen, "%s: larger than %u bytes", j->path, JOURNAL_MAX_BYTES);
		goto cleanup;
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (buf == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto cleanup;
	}
	for (size_t got = 0; got < len;) {
		ssize_t n = pread(j->fd, buf + got, len - got, (off_t)got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			util_seterr(err, errlen, "%s: read: %s", j->path,
				    n == 0 ? "short read" : strerror(errno));
			goto cleanup;
		}
		got += (size_t)n;
	}
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (buf + off)) : len - off;
		bool last = nl == NULL || (size_t)(nl - buf) + 1 == len;
		enum journal_line_rc lr = JOURNAL_LINE_BAD;

		lineno++;
		if (nl != NULL && line_whole(buf + off, ll))
			lr = fn(arg, buf + off + 9, ll - 9, err, errlen);
		if (lr == JOURNAL_LINE_FAIL)
			goto cleanup;
		if (lr == JOURNAL_LINE_BAD) {
			if (!last) {
				util_seterr(err, errlen, "%s: line %zu is damaged (checksum or syntax); "
					    "refusing to load a journal that may have lost changes",
					    j->path, lineno);
				goto cleanup;
			}
			/* A crash in the middle of an append: that change was never confirmed. */
			log_msg(LOG_LVL_WARN, "%s: %s: dropping a torn last line (%zu bytes)", j->what,
				j->path, len - off);
			if (ftruncate(j->fd, (off_t)off) == -1 || fsync(j->fd) == -1) {
				util_seterr(err, errlen, "%s: truncate: %s", j->path, strerror(errno));
				goto cleanup;
			}
			break;
		}
		j->lines++;
		off += ll + 1;
	}
	j->size = (off_t)off;
	rc = 0;
cleanup:
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- public */

struct journal *journal_open(const char *path, const char *what, journal_line_fn fn, void *arg,
			     char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char tmp[PATH_MAX];
	bool created = false;

	if (j == NULL || (j->path = strdup(path)) == NULL || (j->what = strdup(what)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto fail;
	}
	j->fd = -1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		util_seterr(err, errlen, "%s: path too long", path);
		goto fail;
	}
	/* A leftover temporary file is an unfinished compaction: the journal is still whole. */
	if (unlink(tmp) == 0)
		log_msg(LOG_LVL_WARN, "%s: removed unfinished compaction %s", what, tmp);
	j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd == -1 && errno == ENOENT) {
		j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = true;
	}
	if (j->fd == -1) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) == -1) {
		util_seterr(err, errlen, "%s: %s", path, errno == EWOULDBLOCK ?
			    "in use by another fngate process (the daemon is the only writer)" :
			    strerror(errno));
		goto fail;
	}
	if (created && fsync_dir_of(path) == -1) {
		util_seterr(err, errlen, "%s: fsync of the directory: %s", path, strerror(errno));
		goto fail;
	}
	if (journal_load(j, fn, arg, err, errlen) != 0)
		goto fail;
	return j;
fail:
	journal_close(j);
	return NULL;
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd != -1)
		close(j->fd);
	free(j->path);
	free(j->what);
	free(j);
}

int journal_append(struct journal *j, const char *buf, size_t len, size_t nlines)
{
	if (write_all(j->fd, buf, len) == -1 || fdatasync(j->fd) == -1) {
		int saved = errno;

		if (ftruncate(j->fd, j->size) == -1)
			log_msg(LOG_LVL_ERROR, "%s: cannot cut %s back: %s", j->what, j->path,
				strerror(errno));
		errno = saved;
		return -1;
	}
	j->size += (off_t)len;
	j->lines += nlines;
	return 0;
}

int journal_rewrite(struct journal *j, const char *buf, size_t len, size_t nlines)
{
	int fd, saved;

	if (journal_write_atomic(j->path, buf ? buf : "", len, 0600) == -1)
		return -1;
	fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd == -1 || flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		errno = saved;
		return -1;
	}
	close(j->fd);
	j->fd = fd;
	j->size = (off_t)len;
	j->lines = nlines;
	return 0;
}

size_t journal_lines(const struct journal *j)
{
	return j->lines;
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}
