/* store.h - the shared store of fleet mode (issue 12): the registry's state (token and API key records,
 * revocations by (namespace, jti), privacy overrides, generated signing keys, last_used_at) kept
 * in PostgreSQL so that several fngate nodes see one registry.
 *
 * Model. The store holds the current value of every item, keyed by (kind, namespace_id, key),
 * and an append-only change log. Every write is one transaction that changes the items and
 * appends one change per item; the log's order is its commit order, so a node that applied every
 * change up to position N has exactly the state of the store at N. Nodes follow the log through
 * one listening connection on their main loop (LISTEN/NOTIFY, plus a catch-up read after every
 * (re)connect), and load a snapshot (every item, with its position) at start.
 *
 * The `local` store (type "local", the default) is the journal in state_dir (registry.c) and
 * does not go through this interface; "postgresql" is store_pg.c, which fleet.c connects to the
 * registry.
 *
 * Threads: everything here runs on the daemon's main thread. Writes (store_apply) are
 * synchronous calls for the admin path, each bounded by the statement timeout
 * (STORE_STATEMENT_TIMEOUT_MS) and the connection's connect_timeout; the data plane (workers)
 * never calls the store. The watch is non-blocking, driven by the main loop's libevent base. */
#ifndef FNGATE_STORE_H
#define FNGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;

#define STORE_SCHEMA_VERSION       2
#define STORE_STATEMENT_TIMEOUT_MS 5000   /* bound of one admin write's statements */
#define STORE_CONNECT_TIMEOUT_S    "3"    /* unless the conninfo sets connect_timeout */
#define STORE_KEY_MAX              512    /* bytes of a namespace id or key */
#define STORE_BODY_MAX             (256 * 1024)   /* bytes of one item's JSON body */
#define STORE_BATCH_MAX            1000   /* changes read per catch-up query */

enum store_kind {
	STORE_KIND_TOKEN = 1,       /* key: token id; body: the token record (registry.c's JSON) */
	STORE_KIND_REVOCATION,      /* namespace_id ("": every namespace) + key: the revoked jti of a
	                             * token fngate did not issue; body: its record (registry.c's JSON) */
	STORE_KIND_PRIVACY,         /* key: function id; body: {"privacy": "private"|"public"} */
	STORE_KIND_SIGNING_KEY,     /* namespace_id + key: kid; body: {"sealed": the private PEM
	                             * sealed with store_seal.h, base64url}, never in clear; one per
	                             * namespace (store_claim) */
	STORE_KIND_LAST_USED,       /* key: token or API key id; body: {"used": N}, the last use a
	                             * node saw (kept apart from the record: a batch of these must
	                             * never carry a "ready" record over a concurrent revocation) */
	STORE_KIND_AUDIT,           /* namespace_id ("": none) + key: an audit event's id; body: the
	                             * event (audit.h's JSON), written once by the node that recorded
	                             * it and applied by every node to its audit journal */
	STORE_KIND_API_KEY,         /* key: API key id; body: its record (registry.c's JSON: the
	                             * SHA-256 of the secret, never the secret) */
};

/* One item written, or one change read. namespace_id is "" where the kind has none. body is a
 * JSON document (text); NULL deletes the item. */
struct store_item {
	enum store_kind kind;
	const char     *namespace_id;
	const char     *key;
	const char     *body;
};

/* A change read from the log: the item, its position and its commit time (microseconds since
 * the epoch, from the database's clock: the lag from commit to applied is measured with it). */
struct store_change {
	int64_t           seq;
	int64_t           committed_us;
	struct store_item item;
};

/* Called for each change in log order, or for each item of a snapshot. Returns 0 to go on; -1
 * stops the delivery (the position is not advanced past that change, which is read again). */
typedef int (*store_change_cb)(const struct store_change *ch, void *arg);
/* Called by the watch when its connection state changes (connected 1 / lost 0), and after each
 * catch-up that reached the end of the log (caught_up 1, position = last applied): the node's
 * "seconds since the store was last heard from" and max_staleness_s start from there. */
typedef void (*store_status_cb)(int connected, int caught_up, int64_t position, void *arg);

/* Connect to conninfo (libpq syntax; multi-host lists and target_session_attrs work as in libpq)
 * for writes. Does not require the server to be up: the connection is made (again) at each write
 * when needed. NULL with a message in err only on a bad conninfo or allocation failure. */
struct store *store_open(const char *conninfo, char *err, size_t errlen);
/* Stop the watch (if any), close the connections, free s. */
void store_close(struct store *s);

/* Create or migrate the schema to STORE_SCHEMA_VERSION, under a session advisory lock so that
 * nodes (or `fngate store migrate`) starting together do not race. Idempotent. 0, or -1 with err. */
int store_migrate(struct store *s, char *err, size_t errlen);

/* A namespace's quota counted by the store itself, in the write's transaction under the append
 * lock, so that creations through several nodes at once cannot pass it: the registry records
 * (tokens, API keys, revocations) whose body names namespace `ns` and that still count at `now`
 * (Unix seconds: no expiry, or a later one) must be fewer than `max` for the write to go in. */
struct store_quota {
	const char *ns;
	size_t      max;
	int64_t     now;
};

/* Write items[0..n) in one transaction that also appends one change per item to the log and
 * NOTIFYs the watchers. Synchronous (see above). With `quota` (NULL: none), nothing is written
 * and 1 returned when the namespace already holds its quota in the store. Returns 0 once
 * committed (*seq, when non-NULL, gets the position of the last change), or -1 with a message in
 * err: nothing was written then, or (a lost connection during COMMIT) the outcome is unknown,
 * which err says. */
int store_apply(struct store *s, const struct store_item *items, size_t n,
		const struct store_quota *quota, int64_t *seq, char *err, size_t errlen);

/* Write `it` (one item with a body) unless the store already holds an item of the same kind and
 * namespace (whatever its key): first commit wins, so that nodes racing to set one value per
 * namespace (a generated signing key) end with the same. Returns 0 once it is written; 1 when
 * another was there first: *key and *body (malloc'd, the caller frees) get that item's; -1 with
 * err (the outcome is unknown when err says so, as for store_apply). */
int store_claim(struct store *s, const struct store_item *it, char **key, char **body,
		char *err, size_t errlen);

/* Write `it` (one item with a body) and delete every other item of the same kind and namespace,
 * in one transaction (one change each): the one value per namespace changes (a rotated
 * generated signing key). 0 once committed, or -1 with err (as store_apply). */
int store_replace(struct store *s, const struct store_item *it, char *err, size_t errlen);

/* Read the changes after position `after` (at most STORE_BATCH_MAX), calling cb for each in log
 * order. *last gets the position of the last change delivered (`after` when none). Returns the
 * number delivered, or -1 with err. Synchronous. */
int store_changes_after(struct store *s, int64_t after, store_change_cb cb, void *arg,
			int64_t *last, char *err, size_t errlen);

/* A point of the log: a change's position and its commit time (as in struct store_change).
 * The pair names that change: after a failover to a standby that lacked the last changes, the
 * same position can be handed out again for another change, with another commit time.
 * committed_us is -1 when it is not known (a node that started from its local snapshot). */
struct store_mark {
	int64_t seq;
	int64_t committed_us;
};

/* Load every current item (a consistent snapshot) through cb (ch->seq is 0), and set *at to the
 * log's point the snapshot is at (seq 0: an empty log): follow the log from there. 0, or -1
 * with err. */
int store_snapshot(struct store *s, store_change_cb cb, void *arg, struct store_mark *at,
		   char *err, size_t errlen);

/* The watch found that the log no longer holds the change it applied last (`at`): the store
 * lost its last changes (a failover to an asynchronous standby that lacked them, a restore from
 * a backup), or the node's point is unknown (committed_us -1). The node reloads the store's
 * snapshot (synchronously) and sets *at to the point it is at: the watch follows from there.
 * Returns 0, or -1 to have it tried again at the next connection. */
typedef int (*store_reset_cb)(struct store_mark *at, void *arg);

/* Follow the log on base: a second, non-blocking connection that LISTENs, reads the changes
 * after `from` on every notification and on every (re)connect, and hands them to cb in log
 * order. With a reset callback, every (re)connect first checks that the log still holds the
 * change last applied, with its commit time, and calls reset when it does not (before any
 * change after it is delivered). A lost connection is retried with backoff
 * (STORE_BACKOFF_MIN_MS doubling up to STORE_BACKOFF_MAX_MS). Never blocks the loop itself
 * (reset may). 0, or -1 (already watching, allocation). */
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 500    /* a node catches up within 1 s of the store coming back:
                                     * at most 0.5 s to notice, and the catch-up read */
int store_watch(struct store *s, struct event_base *base, const struct store_mark *from,
		store_change_cb cb, store_status_cb status, store_reset_cb reset, void *arg);

/* The position the watch has applied up to. */
int64_t store_watch_position(const struct store *s);

#endif
