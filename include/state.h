/* state.h - runtime state kept in state_dir beside the registry: function privacy set through the
 * admin API. The configuration file gives the initial value; the state wins once set. */
#ifndef FNGATE_STATE_H
#define FNGATE_STATE_H

struct conf;

/* Apply the privacy overrides stored in c->state_dir to snapshot c (before it is published).
 * Returns 0, or -1 when the state file is unreadable (logged; the configured values stay). */
int state_apply(struct conf *c);

#endif
