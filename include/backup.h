/* backup.h - `fngate state backup`: a consistent copy of a running fngate's state_dir. */
#ifndef FNGATE_BACKUP_H
#define FNGATE_BACKUP_H

/* `fngate state backup -c CONF DIR` (argv[0] is "state"). Copies CONF's state_dir into DIR
 * (new or empty) while fngate runs: the token journal up to its last complete line, every other
 * file as one whole version (fngate replaces them by rename), *.tmp files skipped; then loads the
 * copy's journal to verify it. Returns the exit status: 0, 1 failure, 2 usage. */
int backup_main(int argc, char **argv);

#endif
