/* privdrop.h - leaving root: once its ports are bound and its files open, the daemon becomes the
 * configured "user" (and "group") before any worker thread starts. */
#ifndef FNGATE_PRIVDROP_H
#define FNGATE_PRIVDROP_H

#include <stddef.h>

struct conf;

/* Switch to c->user / c->group when started as root: state_dir (and everything under it, not
 * following symlinks nor crossing file systems) and the access-log file are given to that user
 * first, so that the registry, key generation and log reopening keep working; then
 * setgroups(1, gid), setresgid, setresuid, and a check that root cannot be regained.
 * Started as root without "user": a warning, the daemon stays root (documented; no refusal).
 * Not started as root with a "user" that is not the current one: a warning, nothing changes.
 * Returns 0, or -1 with a message in err (the daemon must not start then). */
int privdrop_apply(const struct conf *c, char *err, size_t errlen);

#endif
