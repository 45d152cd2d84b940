/* registry.h - the token registry: durable token and API key records in state_dir, the one owner
 * of durable credentials.
 *
 * A record never holds the token itself (it is shown once, at creation), nor an API key's secret
 * (only its SHA-256). Every change is made
 * durable before the call returns (write temp file, fsync, rename, fsync dir, or a checksummed
 * journal), and the revocation set (revoke.h) is updated before returning too. The daemon's main
 * thread is the only writer.
 *
 * Storage: state_dir/tokens.journal, an append-only checksummed journal (journal.h). Each line
 * is one whole record, "<crc32 as 8 hex> <JSON record>\n", appended with one write(2) and
 * fdatasync'd before the call returns. At open the journal is replayed (the last line of an id wins, and a revocation is
 * sticky); a torn last line (a crash in the middle of an append) is cut off; a bad line anywhere
 * else is corruption and open fails rather than forgetting a revocation. When dead lines
 * dominate, the journal is compacted: the live records go to tokens.journal.tmp, fsync, rename
 * over tokens.journal, fsync of the directory; a leftover .tmp at open is an unfinished
 * compaction and is removed (the old journal is still whole).
 *
 * Fleet mode (docs/fleet.md): with a shared store, every change is committed to the store first
 * (registry_set_commit: nothing is applied locally when the store cannot take it), and changes
 * read from the store (registry_apply_json) go through the same replay as journal lines, so the
 * journal is the node's local snapshot of the shared state: a node that restarts while the store
 * is unreachable loads it and knows every revocation it had applied. Each line then also carries
 * the store position it was applied at ("seq"), from which the node resumes. */
#ifndef FNGATE_REGISTRY_H
#define FNGATE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;
struct conf;

enum token_record_status {
	TOKEN_REC_READY = 1,
	TOKEN_REC_REVOKED,
};

#define REGISTRY_DESC_MAX 512   /* bytes of a description */

struct token_record {
	char    id[128 + 1];        /* the jti (TOKEN_ID_MAX bytes at most): a UUID for tokens fngate issued */
	char   *namespace_id;       /* the owning namespace (function tokens too); NULL: unknown (imported) */
	char   *function_id;        /* NULL: namespace-wide */
	char   *description;
	int64_t created_at;
	int64_t expires_at;         /* 0: no expiry */
	enum token_record_status status;
	int64_t revoked_at;         /* 0 unless revoked */
	int64_t last_used_at;       /* 0: never */
	char   *kid;                /* the key that signed it; NULL for imported ids */
	bool    imported;           /* revoked by jti without having been issued here */
	/* imported: the revocation applies in namespace_id only. False: in every namespace (an
	 * owner's revocation without a namespace, and every imported record of journals written
	 * before revocations were kept per namespace, which keep their meaning). */
	bool    ns_scoped;
	/* An API key (apikey.h), not a token: id is the key's id, namespace_id its namespace,
	 * function_id its function (NULL: namespace-wide), key_hash the SHA-256 of its secret.
	 * kid is NULL, imported false. */
	bool    api_key;
	unsigned char key_hash[32];
	/* revoked in memory and in the revocation set, but the journal write failed: not yet
	 * acknowledged to anybody (registry_revoke). Never written to the journal. */
	bool    pending;
	/* Fleet mode: the position in the shared store's log of the change this record was last
	 * read at (registry_position); 0 in local mode and for a node's own writes. */
	int64_t store_seq;
};

/* What registry_add and registry_revoke did. */
enum registry_rc {
	REG_ERROR = -1,     /* I/O or memory: err says; see each call for what applies */
	REG_OK = 0,
	REG_ALREADY,        /* revoke: it was already revoked (and that is durable) */
	REG_UNKNOWN,        /* revoke: no such token, and no import asked */
	REG_QUOTA,          /* the namespace holds its quota of records: nothing done */
	REG_FULL,           /* the registry holds REGISTRY_MAX records: nothing done */
	REG_STORE,          /* fleet mode: the shared store could not take the change (unreachable,
	                     * timed out, or its commit's outcome unknown): nothing applied here */
};

#define REGISTRY_MAX 1000000   /* records, every namespace together */

/* The namespace a record's revocation-set entry applies in: the owning namespace of an issued
 * token or of a namespace-scoped imported revocation; NULL (every namespace) otherwise. */
static inline const char *registry_rec_ns(const struct token_record *t)
{
	return !t->imported || t->ns_scoped ? t->namespace_id : NULL;
}

/* Open (create if needed) the registry in state_dir, load every record (tolerating a crash at any
 * step of a previous write), and fill the revocation set. NULL with a message in err on failure. */
struct registry *registry_open(const char *state_dir, char *err, size_t errlen);
void registry_close(struct registry *r);

/* Number of records (ready and revoked). */
size_t registry_count(const struct registry *r);
/* Records counted against namespace ns_id's quota: its issued tokens and its namespace-scoped
 * revocations, less the tokens whose expiry has passed (they free their place at the next
 * registry_flush: an expired token is refused whatever its record says). */
size_t registry_ns_count(const struct registry *r, const char *ns_id);

/* The record of id: the token fngate issued with that id, else an imported revocation of it
 * (the first of them: one per namespace it was revoked in); never an API key
 * (registry_get_api_key). NULL when unknown. The pointer is valid until the next registry
 * change. */
const struct token_record *registry_get(const struct registry *r, const char *id);
/* The token fngate issued with this id (never an imported revocation), NULL when none. */
const struct token_record *registry_get_issued(const struct registry *r, const char *id);
/* The API key of this id, NULL when none. Valid until the next registry change. */
const struct token_record *registry_get_api_key(const struct registry *r, const char *id);

/* The last use of t: the later of its record's and the one the gate recorded since. */
int64_t registry_last_used(const struct token_record *t);

/* Add a new ready record, a token or an API key (a copy of *rec; rec->status is forced to
 * READY). The id must be new among tokens and keys.
 * Durable (committed to the shared store first in fleet mode), then registered READY in the
 * revocation set, before returning. Returns REG_OK; REG_QUOTA when rec's namespace already holds
 * `quota` records (registry_ns_count; in fleet mode also as the store counts them, at once for
 * every node); REG_FULL;
 * REG_STORE (fleet mode, with err); or REG_ERROR with a message in err (duplicate id, I/O
 * error). Nothing is kept unless REG_OK. */
enum registry_rc registry_add(struct registry *r, const struct token_record *rec, size_t quota,
			      char *err, size_t errlen);

/* Revoke id at time `now`: the token fngate issued with that id, if any (with `import` and
 * import_ns, only when it was issued in import_ns). Otherwise, when `import` is true, an
 * imported record: the revocation by jti of a token fngate never issued, in namespace
 * import_ns only, or in every namespace when import_ns is NULL. Returns:
 *   REG_OK       revoked now, and durable;
 *   REG_ALREADY  it was already revoked, durably;
 *   REG_UNKNOWN  no such token (and no import asked);
 *   REG_QUOTA    an imported record would pass import_ns's `quota` (REG_FULL: the registry's):
 *                nothing done. Revoking a record the registry holds takes no new place and is
 *                never refused for room;
 *   REG_ERROR    the journal could not be written: the revocation applies in memory and in the
 *                revocation set at once, but is not acknowledged; the record stays `pending`
 *                and a repeated call (or registry_flush) writes it again, returning REG_OK
 *                once durable. So an acknowledged revocation is never lost;
 *   REG_STORE    fleet mode: the shared store could not take it (err says why): nothing done.
 * *out (may be NULL) gets the record. */
enum registry_rc registry_revoke(struct registry *r, const char *id, int64_t now, bool import,
				 const char *import_ns, size_t quota,
				 const struct token_record **out, char *err, size_t errlen);

/* Revoke (delete) the API key id at time `now`, as registry_revoke revokes a token fngate issued:
 * REG_OK, REG_ALREADY, REG_UNKNOWN, REG_ERROR (applied, not yet durable) or REG_STORE. */
enum registry_rc registry_revoke_api_key(struct registry *r, const char *id, int64_t now,
					 const struct token_record **out, char *err,
					 size_t errlen);

/* Listing: records matching the filter (NULL: any), ordered by created_at (then id): tokens
 * (issued and imported), or with api_keys the API keys. Namespace filter matches the owning
 * namespace (namespace-wide and function tokens). `allowed` (NULL: all)
 * restricts to records whose namespace is in the list. Fills out[0..return) with at most cap
 * pointers of page `page` (1-based) and sets *total to the number of matches. */
struct registry_query {
	const char  *namespace_id;
	const char  *function_id;
	bool         desc;
	bool         api_keys;
	size_t       page;
	size_t       page_size;
	char *const *allowed;
	size_t       nallowed;
};
size_t registry_list(const struct registry *r, const struct registry_query *q,
		     const struct token_record **out, size_t cap, size_t *total);

/* Write the last-use times the gate recorded (revoke_last_used) for ready records that changed,
 * and retry a failed write. Called every few seconds. Returns 0 / -1. */
int registry_flush(struct registry *r);

/* --- fleet mode: the shared store behind the registry (registry_store.c drives these) --- */

/* Commit the change to `rec` (already in its new state; `json` is its record JSON) to the shared
 * store. `quota` > 0: rec takes a new place in its namespace's quota of that many records, which
 * the store counts itself under its write lock (the nodes' own counts lag one another). Returns
 * 0 once committed, with *seq its position in the store's log; 1 when the store's count says the
 * quota is full; -1 with err when the store could not take it (the registry then applies
 * nothing in both cases). */
typedef int (*registry_commit_fn)(void *arg, const struct token_record *rec, const char *json,
				  size_t quota, int64_t *seq, char *err, size_t errlen);
/* From now on, registry_add and registry_revoke commit through fn before applying. */
void registry_set_commit(struct registry *r, registry_commit_fn fn, void *arg);

/* Hand the records whose last_used_at registry_flush just raised (recs[0..n), valid during the
 * call) to fn, once per flush: fleet mode shares them in one write. */
typedef void (*registry_used_fn)(void *arg, const struct token_record *const *recs, size_t n);
void registry_set_used(struct registry *r, registry_used_fn fn, void *arg);

/* A last use of the token fngate issued with id, read from the shared store at position seq:
 * kept when later than the record's (queued for the journal as registry_apply_json does).
 * Returns 1 when kept, 0 otherwise (unknown id, not later). */
int registry_apply_used(struct registry *r, const char *id, int64_t used, int64_t seq);

/* The record JSON of t (the journal's and the store's body format), malloc'd; NULL on OOM. */
char *registry_record_json(const struct token_record *t);

/* Apply a record read from the shared store at log position seq (json: its record JSON): merged
 * as a journal line is (the newer record wins, a revocation is sticky), registered in the
 * revocation set at once (every worker sees it on return), and queued for the journal when it
 * changed anything. Returns 1 when it changed the registry, 0 when it was known already, -1
 * when json is not a valid record, -2 when memory ran out (apply it again later); err says why. */
int registry_apply_json(struct registry *r, const char *json, int64_t seq, char *err,
			size_t errlen);

/* Make the records queued by registry_apply_json durable in the journal (one write, one
 * fdatasync). Returns 0, or -1 (logged; the lines stay queued and the next call retries). */
int registry_sync(struct registry *r);

/* The highest store position the journal and memory hold a record of (0: none): the node
 * resumes following the store's log from here. */
int64_t registry_position(const struct registry *r);

#endif
