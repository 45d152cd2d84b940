/* testutil.h - helpers shared by the Check suites: locating ../shared/vectors, reading files. */
#ifndef FNGATE_TESTUTIL_H
#define FNGATE_TESTUTIL_H

#include <stddef.h>

#include <check.h>

/* Path of a file under the shared vectors directory (FNGATE_VECTORS, else ../shared/vectors
 * relative to FNGATE_SOURCE_DIR). Returns a static buffer. */
const char *tu_vector_path(const char *rel);
/* Path of a file in the source tree (FNGATE_SOURCE_DIR). Static buffer. */
const char *tu_source_path(const char *rel);
/* Read a whole file; *len set; caller frees. NULL on failure. */
char *tu_read_file(const char *path, size_t *len);
/* A fresh temporary directory (mkdtemp under /tmp); static buffer. */
const char *tu_tempdir(void);

/* Run a suite (CK_NORMAL), free it, and return the process exit status. */
int tu_run(Suite *s);

#endif
