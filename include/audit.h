/* audit.h - the audit trail: who changed credentials and policy, when, from where, with what
 * outcome (docs/security.md, "Audit trail").
 *
 * An event never holds a secret: no token, no key, no hash; ids and names only. Events are kept
 * in state_dir/audit.journal (journal.h: checksummed lines, each appended with one write(2) and
 * fdatasync, so they survive kill -9), each also written to the daemon log as one JSON line with
 * "type":"audit" for log shippers, and, in fleet mode, shared through the store (audit_set_share)
 * so that every node's journal holds the fleet's events. Events older than the retention
 * (audit.retention_days) are compacted away at open, at each audit_tick a day apart, and when the
 * retention changes; at most AUDIT_MAX_EVENTS are kept (the oldest go first).
 *
 * Recording never fails nor blocks its caller: an admin change that committed is never undone
 * or refused for its audit event. An event the journal cannot take stays in memory and the
 * journal is rewritten whole at the next tick; one the store cannot take is queued and shared
 * again at later ticks.
 *
 * Refused admin authentications are aggregated (audit_auth_failed): per (source address, key
 * name) at most one event per AUDIT_AUTH_INTERVAL_S, carrying the number of refusals it stands
 * for ("count"), and at most AUDIT_AUTH_EVENTS_MAX such events per interval in all (beyond, the
 * refusals go to one overflow event), so a flood cannot fill the disk.
 *
 * One trail per process (audit_open .. audit_close), used from the main thread only. */
#ifndef FNGATE_AUDIT_H
#define FNGATE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an event records. The names are the API's and the journal's (audit_action_name). */
enum audit_action {
	AUDIT_TOKEN_CREATE = 1,         /* token.create */
	AUDIT_TOKEN_DELETE,             /* token.delete: DELETE /v1/tokens/{id} */
	AUDIT_TOKEN_REVOKE,             /* token.revoke: POST /v1/tokens/revoke (by jti) */
	AUDIT_API_KEY_CREATE,           /* api_key.create */
	AUDIT_API_KEY_DELETE,           /* api_key.delete */
	AUDIT_FUNCTION_PRIVACY,         /* function.privacy: PATCH /v1/functions/{id} */
	AUDIT_FUNCTION_RESET_PRIVACY,   /* function.reset_privacy: DELETE /v1/functions/{id}/privacy */
	AUDIT_SIGNING_KEY_GENERATE,     /* signing_key.generate: the daemon made a namespace's key */
	AUDIT_SIGNING_KEY_ROTATE,       /* signing_key.rotate: a reload took a new current key */
	AUDIT_CONFIG_RELOAD,            /* config.reload (SIGHUP), with its outcome */
	AUDIT_ADMIN_AUTH_FAILED,        /* admin.auth_failed: aggregated (audit_auth_failed) */
	AUDIT_NACTIONS
};

#define AUDIT_ACTOR_DAEMON  "fngate"    /* the actor of what the daemon does by itself */
#define AUDIT_ACTOR_UNKNOWN "unknown"   /* a refused authentication's key */
#define AUDIT_FIELD_MAX     512         /* bytes of one string field (longer is cut, control
                                         * characters become '?') */
#define AUDIT_MAX_EVENTS    100000      /* events kept, whatever the retention */
#define AUDIT_AUTH_INTERVAL_S 60        /* refused authentications: one event per source and key */
#define AUDIT_AUTH_EVENTS_MAX 60        /* ... and this many per interval in all */
#define AUDIT_AUTH_SOURCES    256       /* sources tracked at once */
#define AUDIT_QUEUE_MAX       10000     /* events waiting for the shared store */

/* One event. Strings may be NULL (absent: null in JSON), except actor and outcome. */
struct audit_event {
	char        id[37];         /* a UUID; audit_record sets it */
	int64_t     time_ms;        /* milliseconds since the epoch; audit_record sets it */
	enum audit_action action;
	const char *actor;          /* the admin key's name, AUDIT_ACTOR_DAEMON, AUDIT_ACTOR_UNKNOWN */
	const char *target_id;      /* the token's, function's, key's id */
	const char *namespace_id;
	const char *function_id;
	const char *source;         /* the client's address (no port); NULL for the daemon's own */
	const char *request_id;     /* the admin request's X-Request-Id */
	const char *outcome;        /* "ok", or the error code answered */
	const char *detail;         /* what the action set ("private"), the kid, a reload's error */
	uint64_t    count;          /* refusals an admin.auth_failed event stands for; 1 otherwise */
};

/* The action's name ("token.create"), NULL when out of range. */
const char *audit_action_name(enum audit_action a);
/* The action named s: 0, or -1 when none. */
int audit_action_parse(const char *s, enum audit_action *out);

/* Open state_dir/audit.journal (created if needed), load its events, compact those older than
 * retention_days. 0, or -1 with a message in err (damage, I/O, already open). */
int audit_open(const char *state_dir, unsigned retention_days, char *err, size_t errlen);
/* Record what is pending (aggregated refusals), close, forget every event. */
void audit_close(void);

/* Record ev (copied; id and time set here): journal, daemon log, store. Never fails the caller;
 * a no-op when no trail is open. */
void audit_record(const struct audit_event *ev);

/* A refused admin authentication from source (an address, no port) presenting a key named
 * key_name (NULL: "unknown"), in request request_id: recorded now when it is the first of its
 * (source, key) in AUDIT_AUTH_INTERVAL_S, else counted into the next event of that pair. */
void audit_auth_failed(const char *source, const char *key_name, const char *request_id);

/* Every few seconds (main loop): aggregated refusals due, a failed journal write retried, the
 * store's queue shared, the daily compaction. */
void audit_tick(void);

/* A new retention (a reload): compacts at once when it is shorter. */
void audit_set_retention(unsigned days);

/* Listing: events matching every filter given (NULL / 0: any), newest first (then id). `allowed`
 * (NULL: every event) restricts to events whose namespace is in the list; events without a
 * namespace are then never shown. since_ms / until_ms are inclusive bounds (0: none). Fills
 * out[0..return) with at most cap pointers (valid until the next audit call) of page `page`
 * (1-based) of page_size, and sets *total to the number of matches. */
struct audit_query {
	const char  *namespace_id;
	const char  *actor;
	enum audit_action action;   /* 0: any */
	int64_t      since_ms;
	int64_t      until_ms;
	size_t       page;
	size_t       page_size;
	char *const *allowed;
	size_t       nallowed;
};
size_t audit_list(const struct audit_query *q, const struct audit_event **out, size_t cap,
		  size_t *total);

/* The JSON object of ev (the API's, the journal's and the store's form). NULL on OOM. */
struct json_t;
struct json_t *audit_event_json(const struct audit_event *ev);

/* --- fleet mode (fleet.c drives these) --- */

/* One event to share: its id, namespace ("" when none) and JSON (audit_event_json's, compact). */
struct audit_share_item {
	const char *id;
	const char *namespace_id;
	const char *json;
};
/* Commit items[0..n) to the shared store in one write. 0 once committed; -1 when the store
 * cannot take them now (they are offered again at a later tick). Must not block when the store
 * is known to be down. */
typedef int (*audit_share_fn)(void *arg, const struct audit_share_item *items, size_t n);
/* From now on, recorded events are shared through fn (NULL: stop). */
void audit_set_share(audit_share_fn fn, void *arg);

/* An event read from the shared store (json: its JSON): added to this node's journal when it is
 * new (its id unknown here) and within the retention. Returns 1 when added, 0 when known or too
 * old, -1 when json is not an event (err says why). Not written to the daemon log: the node that
 * recorded it did. */
int audit_apply_json(const char *json, char *err, size_t errlen);

/* Parse an RFC 3339 timestamp with an optional fraction into milliseconds. 0 / -1. */
int audit_parse_time_ms(const char *s, int64_t *ms);

#endif
