/* journal.h - a checksummed append-only journal file in state_dir, shared by the token registry
 * (tokens.journal) and the audit trail (audit.journal).
 *
 * Each line is one whole JSON document, "<crc32 as 8 hex> <JSON>\n" (the JSON on one line: its
 * control characters escaped). An append is one write(2) followed by fdatasync before the call
 * returns; a failed one is cut back so that no torn line is left in the middle of the file. At
 * open the journal is replayed line by line; a torn last line (a crash in the middle of an
 * append: never confirmed) is cut off; a bad line anywhere else (checksum, or a line its owner
 * cannot read) is corruption and the open fails rather than forgetting what it said. A rewrite
 * (compaction) goes to <path>.tmp, fsync, rename over the journal, fsync of the directory; a
 * leftover .tmp at open is an unfinished compaction and is removed (the journal is still whole).
 * The file is flock'ed: one process writes it. Not thread-safe: one thread uses a journal. */
#ifndef FNGATE_JOURNAL_H
#define FNGATE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal;

#define JOURNAL_MAX_BYTES (256u * 1024 * 1024)   /* refuse to replay more than this */
#define JOURNAL_LINE_MAX  (16u * 1024)           /* bytes of one line; longer is damage */

/* What a replay callback says of one line's JSON. */
enum journal_line_rc {
	JOURNAL_LINE_FAIL = -1,     /* stop: the open fails with the message the callback set */
	JOURNAL_LINE_OK = 0,
	JOURNAL_LINE_BAD = 1,       /* not a line of this journal: damage (or a torn tail) */
};

/* Called at open for each line whose checksum is right, in file order, with its JSON
 * (json[0..len), not NUL-terminated). */
typedef enum journal_line_rc (*journal_line_fn)(void *arg, const char *json, size_t len,
						char *err, size_t errlen);

/* CRC-32 (IEEE 802.3) of len bytes: enough to tell a torn or damaged line from a whole one. */
uint32_t journal_crc32(const void *buf, size_t len);

/* Open (create, 0600, if needed) the journal at path, lock it, remove a leftover path.tmp,
 * replay it through fn (arg) and cut a torn tail. `what` names the owner in log lines and
 * errors ("registry", "audit"). NULL with a message in err (in use by another process, damage,
 * I/O, larger than JOURNAL_MAX_BYTES, or fn's message). */
struct journal *journal_open(const char *path, const char *what, journal_line_fn fn, void *arg,
			     char *err, size_t errlen);
/* Close (nothing is buffered here) and free. NULL is fine. */
void journal_close(struct journal *j);

/* Append the line "<crc> json\n" for json[0..jl) to a growing buffer (*buf of *cap bytes, *len
 * used; realloc'd as needed, the caller frees). 0, or -1 (memory). */
int journal_format(char **buf, size_t *len, size_t *cap, const char *json, size_t jl);

/* Append buf[0..len) (whole lines from journal_format, nlines of them) and make it durable.
 * On failure the file is cut back to its previous size. 0, or -1 with errno set. */
int journal_append(struct journal *j, const char *buf, size_t len, size_t nlines);

/* Replace the whole journal by buf[0..len) (nlines whole lines): temp file, fsync, rename,
 * fsync of the directory, then the new file locked and appended to from now on. On failure the
 * old journal stays as it was. 0, or -1 with errno set. */
int journal_rewrite(struct journal *j, const char *buf, size_t len, size_t nlines);

/* Lines in the journal (whole, replayed or written since), and its path. */
size_t journal_lines(const struct journal *j);
const char *journal_path(const struct journal *j);

/* Write len bytes to path atomically and durably: path.tmp, fsync, rename, fsync of the
 * directory. mode is the new file's mode. 0, or -1 with errno set. */
int journal_write_atomic(const char *path, const void *data, size_t len, int mode);

#endif
