/* fleet.h - fleet mode (issue 12, docs/fleet.md): the token registry backed by the shared store
 * (store.h). Every registry write is committed to the store before it is applied (the admin
 * answers after the commit); at start the node loads the store's snapshot, then follows its
 * change log on the main loop and applies each change to the registry and the revocation set,
 * which is how the workers learn of it (they never call the store). The registry's journal is
 * the node's local snapshot: with the store unreachable, a node starts from it and serves. */
#ifndef FNGATE_FLEET_H
#define FNGATE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_seal.h"

struct event;
struct event_base;
struct registry;
struct conf;
struct fleet;
struct store_item;
struct token_record;

/* The store item of a registry record (json: its record JSON, borrowed like the strings of t):
 * an issued token under its id; an imported revocation under the namespace it applies in (""
 * for every namespace) and the jti. */
void fleet_record_item(const struct token_record *t, const char *json, struct store_item *it);

/* The body of the signing_key item of a generated key (kid, private PEM pem[0..len)) of
 * namespace ns: {"sealed": base64url of store_seal(pem)} under the fleet's key. NULL when
 * sealing fails (memory). The caller frees it. */
char *fleet_key_body(const uint8_t key[STORE_SEAL_KEY_LEN], const char *ns, const char *kid,
		     const char *pem, size_t len);

/* Connect the registry r to the store c->store describes: migrate the schema and load the
 * store's snapshot into r and into c->state_dir's privacy overrides when the store answers (when
 * it does not, the node keeps its local snapshot and the watch catches up once it does), then
 * route r's writes through the store. Main thread, before the configuration is published (apply
 * the privacy overrides to it afterwards: state_apply). NULL with a message in err on a bad
 * conninfo or allocation failure. */
struct fleet *fleet_open(struct registry *r, const struct conf *c, char *err, size_t errlen);

/* In fleet mode, commit the privacy override of function_id (p: PRIVACY_*, or 0 to forget it) to
 * the store, before the caller records it locally (state.h) and in the running configuration;
 * the other nodes apply it from the log. Returns 0 once committed or when not in fleet mode, -1
 * with err when the store could not take it (nothing changed). Main thread. */
int fleet_commit_privacy(const char *function_id, int p, char *err, size_t errlen);

/* Follow the store's change log on base (the main loop). `reload` is the daemon's SIGHUP event:
 * fleet mode activates it (EV_TIMEOUT) to reload the node as an operator's SIGHUP would, when the
 * fleet's generated signing key of a namespace changed (a rotation, or the key of a fleet this
 * node joined without the store): the running configuration's keys change only by a reload.
 * 0 / -1. */
int fleet_start(struct fleet *f, struct event_base *base, struct event *reload);

/* Stop following, make what was applied durable, detach from the registry, free. NULL is fine. */
void fleet_close(struct fleet *f);

/* Read the store's log to its end now, synchronously, applying what this node has not yet: for
 * an admin call about a record it does not know (a token created through another node a moment
 * ago, which the watch is about to deliver). Returns the number of changes read (0: nothing
 * new, or not in fleet mode), -1 when the store did not answer. Main thread. */
int fleet_catch_up(void);

/* What the metrics show of fleet mode (main thread: the admin API renders them). */
#define FLEET_LAG_BUCKETS 10
extern const double fleet_lag_bounds_s[FLEET_LAG_BUCKETS];   /* upper bounds, seconds */
struct fleet_status {
	bool     connected;         /* the watch's connection is up */
	bool     stale;             /* beyond max_staleness_s (revoke_stale) */
	int64_t  position;          /* last change of the store's log applied */
	uint64_t applied;           /* changes applied since start */
	uint64_t resets;            /* snapshots loaded again (the log lost the node's point) */
	double   heard_age_s;       /* seconds since the store was last heard from; -1: never */
	/* commit (the database's clock) to applied (this node's), cumulative counts per bound of
	 * fleet_lag_bounds_s, then the count and sum of all */
	uint64_t lag_le[FLEET_LAG_BUCKETS];
	uint64_t lag_count;
	double   lag_sum_s;
};
/* The status of the running fleet mode: 0, or -1 when the node is not in fleet mode. */
int fleet_status(struct fleet_status *out);

#endif
