/* state.h - runtime state kept in state_dir beside the registry: function privacy set through the
 * admin API. The configuration file gives the initial value; the state wins once set.
 *
 * File: state_dir/privacy.json, {"functions": {"<function id>": "private"|"public", ...}},
 * replaced atomically (temp, fsync, rename, fsync dir) on every change. */
#ifndef FNGATE_STATE_H
#define FNGATE_STATE_H

#include <stddef.h>

#include "conf.h"

/* Apply the privacy overrides stored in c->state_dir to snapshot c (before it is published;
 * functions without one get the file's value), logging a warning for each function whose stored privacy contradicts the file's. Returns 0, or -1 when the state file is unreadable (logged; the configured values stay). */
int state_apply(struct conf *c);

/* Record the privacy of function_id in state_dir durably (before returning). The caller then
 * stores it into the published snapshot's conf_function.privacy. 0, or -1 with err. */
int state_set_privacy(const char *state_dir, const char *function_id, enum privacy p,
		      char *err, size_t errlen);

/* Forget the stored privacy of function_id (durably), so that the file's value applies again;
 * the caller then stores privacy_configured into the published snapshot. Forgetting an absent
 * entry succeeds. 0, or -1 with err. */
int state_reset_privacy(const char *state_dir, const char *function_id, char *err, size_t errlen);

/* Tighten the modes of state_dir's tree: a directory or regular file that its group or others may
 * use (0755, 0644: loosened by a copy, a restore, an umask) holds tokens' records and private
 * signing keys, so each is logged (warn) and set to its owner's bits only (0700, 0600). No
 * symlink is followed, no other file system entered. Call at start, before the registry is
 * opened. Returns the number of entries tightened, or -1 when the walk failed (logged). */
int state_tighten(const char *state_dir);
/* Fleet mode: make the stored overrides exactly ids[i] -> ps[i] (i < n), in one atomic replace
 * (the store's snapshot, of which state_dir keeps the node's copy). 0, or -1 with err. */
int state_replace_privacy(const char *state_dir, const char *const *ids, const enum privacy *ps,
			  size_t n, char *err, size_t errlen);

/* Call cb for each privacy override stored in state_dir (`fngate store import`); cb returns 0
 * to go on, -1 (out of memory) to stop. 0, or -1 with err (unreadable file, or cb stopped). */
typedef int (*state_privacy_cb)(const char *function_id, enum privacy p, void *arg);
int state_each_privacy(const char *state_dir, state_privacy_cb cb, void *arg, char *err,
		       size_t errlen);

#endif
