/* registry.c - the token registry (tokens and API keys): a checksummed append-only journal in
 * state_dir (in fleet mode, the local snapshot of the shared store's state). Signing keys are
 * signkeys.c's. */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "journal.h"
#include "log.h"
#include "revoke.h"
#include "util.h"

#define JOURNAL_NAME     "tokens.journal"
#define COMPACT_SLACK    1024                  /* dead lines tolerated before compaction */
#define SYNC_BATCH       1000                  /* queued store changes written at once */

struct registry {
	struct journal *j;      /* tokens.journal (journal.h) */
	bool    dirty;          /* a write failed: the next flush compacts */

	/* fleet mode */
	registry_commit_fn commit;      /* NULL: local mode */
	void   *commit_arg;
	registry_used_fn used;
	void   *used_arg;
	char   *pend;           /* journal lines of applied store changes, not yet written */
	size_t  pend_len, pend_cap, pend_lines;
	int64_t position;       /* highest store_seq held */

	struct token_record *recs;
	size_t  n, cap;
	size_t *index;          /* open addressing: record index + 1, 0 = empty */
	size_t  icap;           /* power of two */

	/* Quota accounting: records per owning namespace (registry_ns_count), open addressing. */
	struct ns_count *counts;
	size_t  ccap;           /* power of two; 0 before the first record */
	size_t  nused;          /* slots in use */
};

struct ns_count {
	char   *ns_id;          /* NULL: empty slot */
	size_t  n;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t hash_id(const char *s)
{
	return util_fnv64(UTIL_FNV64_INIT, s, strlen(s));
}

static char *dupnull(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void rec_clear(struct token_record *t)
{
	free(t->namespace_id);
	free(t->function_id);
	free(t->description);
	free(t->kid);
	t->namespace_id = t->function_id = t->description = t->kid = NULL;
}

/* Deep copy of src into dst (dst uninitialised). 0 / -1. */
static int rec_copy(struct token_record *dst, const struct token_record *src)
{
	*dst = *src;
	dst->namespace_id = dupnull(src->namespace_id);
	dst->function_id = dupnull(src->function_id);
	dst->description = dupnull(src->description);
	dst->kid = dupnull(src->kid);
	if ((src->namespace_id && !dst->namespace_id) || (src->function_id && !dst->function_id) ||
	    (src->description && !dst->description) || (src->kid && !dst->kid)) {
		rec_clear(dst);
		return -1;
	}
	return 0;
}

/* An id stored in the registry: 1..127 printable ASCII bytes without quotes or backslashes. */
static bool id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= sizeof(((struct token_record *)0)->id))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- index */

static int index_rebuild(struct registry *r, size_t want)
{
	size_t icap = 64;
	size_t *ix;

	while (icap < want * 2)
		icap *= 2;
	ix = calloc(icap, sizeof(*ix));
	if (ix == NULL)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		size_t h = (size_t)hash_id(r->recs[i].id) & (icap - 1);

		while (ix[h] != 0)
			h = (h + 1) & (icap - 1);
		ix[h] = i + 1;
	}
	free(r->index);
	r->index = ix;
	r->icap = icap;
	return 0;
}

/* The record of id that `pick` accepts (with arg), NULL when none. Several records may share an
 * id (a token issued here and imported revocations of that jti, one per namespace). */
static struct token_record *find_if(const struct registry *r, const char *id,
				    bool (*pick)(const struct token_record *, const void *),
				    const void *arg)
{
	size_t h;

	if (r->icap == 0)
		return NULL;
	h = (size_t)hash_id(id) & (r->icap - 1);
	while (r->index[h] != 0) {
		struct token_record *t = &r->recs[r->index[h] - 1];

		if (strcmp(t->id, id) == 0 && pick(t, arg))
			return t;
		h = (h + 1) & (r->icap - 1);
	}
	return NULL;
}

/* A token or an API key fngate issued: their ids are unique together. */
static bool pick_issued(const struct token_record *t, const void *arg)
{
	(void)arg;
	return !t->imported;
}

static bool pick_token(const struct token_record *t, const void *arg)
{
	(void)arg;
	return !t->imported && !t->api_key;
}

static bool pick_api_key(const struct token_record *t, const void *arg)
{
	(void)arg;
	return t->api_key;
}

/* A token fngate issued or an imported revocation, never an API key. */
static bool pick_not_key(const struct token_record *t, const void *arg)
{
	(void)arg;
	return !t->api_key;
}

/* arg: the namespace the imported revocation applies in (NULL: every namespace). */
static bool pick_imported(const struct token_record *t, const void *arg)
{
	const char *ns = arg, *rns = registry_rec_ns(t);

	return t->imported && (rns == NULL ? ns == NULL : ns != NULL && strcmp(rns, ns) == 0);
}

/* The record a journal line or a change is about: the issued token, or the imported revocation
 * of the same jti in the same namespace(s). */
static struct token_record *find_same(const struct registry *r, const struct token_record *t)
{
	return t->imported ? find_if(r, t->id, pick_imported, registry_rec_ns(t)) :
			     find_if(r, t->id, t->api_key ? pick_api_key : pick_token, NULL);
}

/* ---------------------------------------------------------------- quota accounting */

/* The counter of ns_id, created when `create` (NULL: none and not created, or no memory). */
static struct ns_count *ns_slot(struct registry *r, const char *ns_id, bool create)
{
	size_t h;

	if (r->ccap == 0 || (create && (r->nused + 1) * 2 > r->ccap)) {
		size_t ncap = r->ccap ? r->ccap * 2 : 16;
		struct ns_count *nc;

		if (!create)
			return NULL;
		nc = calloc(ncap, sizeof(*nc));
		if (nc == NULL)
			return NULL;
		for (size_t i = 0; i < r->ccap; i++) {
			if (r->counts[i].ns_id == NULL)
				continue;
			h = (size_t)hash_id(r->counts[i].ns_id) & (ncap - 1);
			while (nc[h].ns_id != NULL)
				h = (h + 1) & (ncap - 1);
			nc[h] = r->counts[i];
		}
		free(r->counts);
		r->counts = nc;
		r->ccap = ncap;
	}
	h = (size_t)hash_id(ns_id) & (r->ccap - 1);
	while (r->counts[h].ns_id != NULL) {
		if (strcmp(r->counts[h].ns_id, ns_id) == 0)
			return &r->counts[h];
		h = (h + 1) & (r->ccap - 1);
	}
	if (!create || (r->counts[h].ns_id = strdup(ns_id)) == NULL)
		return NULL;
	r->nused++;
	return &r->counts[h];
}

/* Whether t takes a place in its namespace's quota at time now (see registry_ns_count). */
static bool counts_at(const struct token_record *t, int64_t now)
{
	return t->namespace_id != NULL && (t->expires_at == 0 || t->expires_at > now);
}

/* Count every record again: the tokens that expired since free their places. */
static void ns_recount(struct registry *r, int64_t now)
{
	struct ns_count *c;

	for (size_t i = 0; i < r->ccap; i++)
		r->counts[i].n = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (counts_at(&r->recs[i], now) &&
		    (c = ns_slot(r, r->recs[i].namespace_id, true)) != NULL)
			c->n++;
	}
}

/* Append a deep copy of rec to the array and the index. Returns the new record or NULL. */
static struct token_record *push(struct registry *r, const struct token_record *rec)
{
	struct ns_count *c = NULL;
	size_t h;

	if (r->n >= REGISTRY_MAX)
		return NULL;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;
		struct token_record *nr = realloc(r->recs, ncap * sizeof(*nr));

		if (nr == NULL)
			return NULL;
		r->recs = nr;
		r->cap = ncap;
	}
	if ((r->n + 1) * 2 > r->icap && index_rebuild(r, r->n + 1) != 0)
		return NULL;
	if (rec->namespace_id != NULL && (c = ns_slot(r, rec->namespace_id, true)) == NULL)
		return NULL;
	if (rec_copy(&r->recs[r->n], rec) != 0)
		return NULL;
	if (counts_at(rec, util_now()))
		c->n++;
	h = (size_t)hash_id(rec->id) & (r->icap - 1);
	while (r->index[h] != 0)
		h = (h + 1) & (r->icap - 1);
	r->index[h] = r->n + 1;
	return &r->recs[r->n++];
}

/* ---------------------------------------------------------------- record <-> journal line */

static json_t *rec_to_json(const struct token_record *t)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_string(t->id));
	json_object_set_new(o, "ns", t->namespace_id ? json_string(t->namespace_id) : json_null());
	json_object_set_new(o, "fn", t->function_id ? json_string(t->function_id) : json_null());
	json_object_set_new(o, "desc", t->description ? json_string(t->description) : json_null());
	json_object_set_new(o, "created", json_integer(t->created_at));
	json_object_set_new(o, "expires", json_integer(t->expires_at));
	json_object_set_new(o, "status", json_string(t->status == TOKEN_REC_REVOKED ? "revoked" :
							"ready"));
	json_object_set_new(o, "revoked", json_integer(t->revoked_at));
	json_object_set_new(o, "used", json_integer(t->last_used_at));
	json_object_set_new(o, "kid", t->kid ? json_string(t->kid) : json_null());
	json_object_set_new(o, "imported", json_boolean(t->imported));
	if (t->imported && t->ns_scoped)
		json_object_set_new(o, "ns_scoped", json_true());
	if (t->api_key) {
		char hex[2 * sizeof(t->key_hash) + 1];

		util_hex(t->key_hash, sizeof(t->key_hash), hex);
		json_object_set_new(o, "kind", json_string("api_key"));
		json_object_set_new(o, "hash", json_string(hex));
	}
	if (t->store_seq != 0)
		json_object_set_new(o, "seq", json_integer(t->store_seq));
	return o;
}

char *registry_record_json(const struct token_record *t)
{
	json_t *o = rec_to_json(t);
	char *js = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;   /* control chars escaped */

	json_decref(o);
	return js;
}

/* Append the journal line of t to a growing buffer (journal_format). 0 / -1. */
static int line_append(char **buf, size_t *len, size_t *cap, const struct token_record *t)
{
	char *js = registry_record_json(t);   /* one line: control characters are escaped */
	int rc = js != NULL ? journal_format(buf, len, cap, js, strlen(js)) : -1;

	free(js);
	return rc;
}

static const char *jstr(json_t *o, const char *k, int *bad)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static int64_t jint(json_t *o, const char *k, int *bad)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v)) {
		*bad = 1;
		return 0;
	}
	return (int64_t)json_integer_value(v);
}

/* Parse a record JSON (a journal line's or a store item's body) into *t (strings borrowed from
 * *root, which the caller frees). 0, or -1 when the JSON or a field is wrong. */
/* 64 hex digits into the 32 bytes of a key hash. 0 / -1. */
static int hash_parse(const char *hex, unsigned char out[32])
{
	if (hex == NULL || strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		unsigned v = 0;

		for (size_t k = 0; k < 2; k++) {
			char c = hex[2 * i + k];

			if (c >= '0' && c <= '9')
				v = v * 16 + (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int rec_parse(const char *js, size_t len, struct token_record *t, json_t **root)
{
	const char *id, *st, *kind;
	int bad = 0;
	json_t *o, *seq;

	*root = NULL;
	o = json_loadb(js, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	id = jstr(o, "id", &bad);
	st = jstr(o, "status", &bad);
	t->namespace_id = (char *)(uintptr_t)jstr(o, "ns", &bad);
	t->function_id = (char *)(uintptr_t)jstr(o, "fn", &bad);
	t->description = (char *)(uintptr_t)jstr(o, "desc", &bad);
	t->kid = (char *)(uintptr_t)jstr(o, "kid", &bad);
	t->created_at = jint(o, "created", &bad);
	t->expires_at = jint(o, "expires", &bad);
	t->revoked_at = jint(o, "revoked", &bad);
	t->last_used_at = jint(o, "used", &bad);
	t->imported = json_is_true(json_object_get(o, "imported"));
	/* absent in older journals: their imported revocations applied in every namespace */
	t->ns_scoped = t->imported && t->namespace_id != NULL &&
		       json_is_true(json_object_get(o, "ns_scoped"));
	kind = jstr(o, "kind", &bad);       /* absent: a token (the journals before API keys) */
	if (kind != NULL) {
		t->api_key = strcmp(kind, "api_key") == 0;
		/* An API key belongs to a namespace, has its hash, and is never imported. */
		if (!t->api_key || t->imported || t->namespace_id == NULL ||
		    hash_parse(jstr(o, "hash", &bad), t->key_hash) != 0)
			bad = 1;
	}
	seq = json_object_get(o, "seq");    /* absent in local mode */
	if (seq != NULL)
		t->store_seq = json_is_integer(seq) ? (int64_t)json_integer_value(seq) : -1;
	if (bad || t->store_seq < 0 || id == NULL || st == NULL || !id_valid(id)) {
		json_decref(o);
		return -1;
	}
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (strcmp(st, "ready") == 0)
		t->status = TOKEN_REC_READY;
	else if (strcmp(st, "revoked") == 0)
		t->status = TOKEN_REC_REVOKED;
	else {
		json_decref(o);
		return -1;
	}
	*root = o;
	return 0;
}

static bool str_same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Do a and b say the same (the store position aside)? */
static bool rec_same(const struct token_record *a, const struct token_record *b)
{
	return strcmp(a->id, b->id) == 0 && str_same(a->namespace_id, b->namespace_id) &&
	       str_same(a->function_id, b->function_id) && str_same(a->description, b->description) &&
	       str_same(a->kid, b->kid) && a->created_at == b->created_at &&
	       a->expires_at == b->expires_at && a->status == b->status &&
	       a->revoked_at == b->revoked_at && a->last_used_at == b->last_used_at &&
	       a->imported == b->imported && a->ns_scoped == b->ns_scoped &&
	       a->api_key == b->api_key && memcmp(a->key_hash, b->key_hash, sizeof(a->key_hash)) == 0;
}

/* Replay one record (a journal line, a change of the shared store): the last one of a record
 * (find_same) wins, except that a revocation is sticky. Returns the record as it now stands
 * (*changed: whether anything but its position changed), or NULL when out of memory. */
static struct token_record *replay(struct registry *r, const struct token_record *t,
				   bool *changed)
{
	struct token_record *cur = find_same(r, t);
	struct token_record copy;

	*changed = true;
	if (t->store_seq > r->position)
		r->position = t->store_seq;
	if (cur == NULL)
		return push(r, t);
	if (rec_copy(&copy, t) != 0)
		return NULL;
	if (cur->status == TOKEN_REC_REVOKED && copy.status != TOKEN_REC_REVOKED) {
		copy.status = TOKEN_REC_REVOKED;
		copy.revoked_at = cur->revoked_at;
	}
	*changed = !rec_same(cur, &copy);
	rec_clear(cur);
	*cur = copy;
	return cur;
}

/* ---------------------------------------------------------------- files */

/* Rewrite the journal with the live records only (temp, fsync, rename, fsync dir). 0 / -1. */
static int journal_compact(struct registry *r)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1, saved;

	for (size_t i = 0; i < r->n; i++) {
		if (line_append(&buf, &len, &cap, &r->recs[i]) != 0)
			goto cleanup;
	}
	if (journal_rewrite(r->j, buf, len, r->n) == -1)
		goto cleanup;
	r->dirty = false;
	for (size_t i = 0; i < r->n; i++)
		r->recs[i].pending = false;
	r->pend_len = r->pend_lines = 0;   /* the live records include every queued change */
	rc = 0;
cleanup:
	saved = errno;
	if (rc == -1)
		log_msg(LOG_LVL_ERROR, "registry: compaction of %s failed: %s", journal_path(r->j),
			strerror(saved));
	free(buf);
	errno = saved;   /* the caller reports why */
	return rc;
}

static int maybe_compact(struct registry *r)
{
	if (r->dirty || journal_lines(r->j) > 2 * r->n + COMPACT_SLACK)
		return journal_compact(r);
	return 0;
}

/* journal_line_fn: replay one line of the journal (a record JSON). */
static enum journal_line_rc reg_line(void *arg, const char *json, size_t len, char *err,
				     size_t errlen)
{
	struct registry *r = arg;
	struct token_record t;
	json_t *root = NULL;
	bool changed;
	struct token_record *cur;

	if (rec_parse(json, len, &t, &root) != 0)
		return JOURNAL_LINE_BAD;
	cur = replay(r, &t, &changed);
	json_decref(root);
	if (cur == NULL) {
		util_seterr(err, errlen, "out of memory or too many records");
		return JOURNAL_LINE_FAIL;
	}
	return JOURNAL_LINE_OK;
}

/* Register t in the revocation set in state st: a token's (namespace, jti), or an API key with
 * what the gate checks of it. 0 / -1 (memory). */
static int rec_publish(const struct token_record *t, enum revoke_state st)
{
	if (t->api_key)
		return revoke_key_set(t->id, strlen(t->id), t->namespace_id, t->function_id,
				      t->key_hash, t->expires_at, st);
	return revoke_set(registry_rec_ns(t), t->id, strlen(t->id), st);
}

static enum revoke_state rec_state(const struct token_record *t)
{
	return t->status == TOKEN_REC_REVOKED ? REVOKE_REVOKED : REVOKE_READY;
}

int64_t registry_last_used(const struct token_record *t)
{
	int64_t lu = t->api_key ? revoke_key_last_used(t->id, strlen(t->id)) :
				  revoke_last_used(registry_rec_ns(t), t->id, strlen(t->id));

	return lu > t->last_used_at ? lu : t->last_used_at;
}

/* ---------------------------------------------------------------- public: lifecycle */

struct registry *registry_open(const char *state_dir, char *err, size_t errlen)
{
	struct registry *r = NULL;
	char path[PATH_MAX];

	if (state_dir == NULL || *state_dir == '\0') {
		util_seterr(err, errlen, "no state_dir configured");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		util_seterr(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_NAME);
	if (util_mkdir_private(state_dir) == -1) {
		util_seterr(err, errlen, "state_dir %s: %s", state_dir, strerror(errno));
		goto fail;
	}
	if (index_rebuild(r, 64) != 0) {
		util_seterr(err, errlen, "out of memory");
		goto fail;
	}
	r->j = journal_open(path, "registry", reg_line, r, err, errlen);
	if (r->j == NULL)
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		struct token_record *t = &r->recs[i];

		if (rec_publish(t, rec_state(t)) != 0) {
			util_seterr(err, errlen, "out of memory filling the revocation set");
			goto fail;
		}
	}
	if (maybe_compact(r) != 0)
		log_msg(LOG_LVL_WARN, "registry: compaction at open failed; continuing");
	log_msg(LOG_LVL_INFO, "registry: %zu records (tokens, API keys) loaded from %s", r->n, path);
	return r;
fail:
	registry_close(r);
	return NULL;
}

void registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->j != NULL) {
		(void)registry_sync(r);
		journal_close(r->j);
	}
	free(r->pend);
	for (size_t i = 0; i < r->n; i++)
		rec_clear(&r->recs[i]);
	for (size_t i = 0; i < r->ccap; i++)
		free(r->counts[i].ns_id);
	free(r->counts);
	free(r->recs);
	free(r->index);
	free(r);
}

size_t registry_count(const struct registry *r)
{
	return r->n;
}

size_t registry_ns_count(const struct registry *r, const char *ns_id)
{
	const struct ns_count *c = ns_slot((struct registry *)(uintptr_t)r, ns_id, false);

	return c != NULL ? c->n : 0;
}

const struct token_record *registry_get(const struct registry *r, const char *id)
{
	const struct token_record *t = find_if(r, id, pick_token, NULL);

	return t != NULL ? t : find_if(r, id, pick_not_key, NULL);
}

const struct token_record *registry_get_issued(const struct registry *r, const char *id)
{
	return find_if(r, id, pick_token, NULL);
}

const struct token_record *registry_get_api_key(const struct registry *r, const char *id)
{
	return find_if(r, id, pick_api_key, NULL);
}

/* ---------------------------------------------------------------- public: changes */

/* Fleet mode: commit *t (its new state) to the shared store before anything is applied here.
 * The position the store gives is not recorded in t: the changes before it from other nodes may
 * not have been applied yet, and the journal's positions say where to resume reading. 0 / -1. */
static int commit(struct registry *r, const struct token_record *t, size_t quota, char *err,
		  size_t errlen)
{
	char *js = registry_record_json(t);
	int64_t seq = 0;
	int rc;

	if (js == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	rc = r->commit(r->commit_arg, t, js, quota, &seq, err, errlen);
	free(js);
	return rc;
}

enum registry_rc registry_add(struct registry *r, const struct token_record *rec, size_t quota,
			      char *err, size_t errlen)
{
	struct token_record t = *rec;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	enum registry_rc rc = REG_ERROR;

	t.status = TOKEN_REC_READY;
	t.revoked_at = 0;
	t.pending = false;
	t.store_seq = 0;
	if (!id_valid(t.id)) {
		util_seterr(err, errlen, "invalid token id");
		goto cleanup;
	}
	if (find_if(r, t.id, pick_issued, NULL) != NULL) {
		util_seterr(err, errlen, "id %s already exists", t.id);
		goto cleanup;
	}
	if (t.namespace_id != NULL && registry_ns_count(r, t.namespace_id) >= quota) {
		rc = REG_QUOTA;
		goto cleanup;
	}
	if (r->n >= REGISTRY_MAX) {
		rc = REG_FULL;
		goto cleanup;
	}
	if (r->commit != NULL) {
		int crc = commit(r, &t, t.namespace_id != NULL ? quota : 0, err, errlen);

		if (crc != 0) {
			rc = crc == 1 ? REG_QUOTA : REG_STORE;
			goto cleanup;
		}
	}
	if (line_append(&buf, &len, &cap, &t) != 0) {
		util_seterr(err, errlen, "out of memory");
		goto cleanup;
	}
	if (journal_append(r->j, buf, len, 1) != 0) {
		util_seterr(err, errlen, "writing %s: %s", journal_path(r->j), strerror(errno));
		goto cleanup;
	}
	/* Durable now. Were push() to fail, the journal holds a token nobody was given: harmless. */
	if (push(r, &t) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto cleanup;
	}
	if (rec_publish(&t, REVOKE_READY) != 0) {
		util_seterr(err, errlen, "out of memory in the revocation set");
		goto cleanup;
	}
	rc = REG_OK;
cleanup:
	free(buf);
	return rc;
}

/* Make t's revocation durable: append its line, or rewrite the whole journal when that fails
 * (or an earlier write did), so that a revocation is acknowledged only once it is on disk. */
static enum registry_rc revoke_persist(struct registry *r, struct token_record *t, char *err,
				       size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	enum registry_rc rc = REG_OK;
	int saved = 0;

	t->pending = true;
	if (!r->dirty && line_append(&buf, &len, &cap, t) == 0 &&
	    journal_append(r->j, buf, len, 1) == 0) {
		t->pending = false;
	} else if (journal_compact(r) != 0) {   /* clears every pending flag when it succeeds */
		saved = errno;
		r->dirty = true;
	}
	if (t->pending) {
		util_seterr(err, errlen, "writing %s: %s (the revocation applies but is not durable)",
		       journal_path(r->j), strerror(saved));
		rc = REG_ERROR;
	}
	free(buf);
	return rc;
}

/* Revoke: n is the record as revoked (strings borrowed), replacing t (NULL: n is new; with
 * quota > 0 it takes a place in its namespace's quota, counted by the store). In fleet mode
 * the store takes it first: a revocation that only one node knew would be lost with that
 * node, and the caller would believe it done everywhere. Then it takes effect in memory, on
 * every worker; durability follows (revoke_persist). */
static enum registry_rc revoke_apply(struct registry *r, struct token_record *t,
				     struct token_record *n, size_t quota,
				     const struct token_record **out, char *err, size_t errlen)
{
	int rc;

	n->status = TOKEN_REC_REVOKED;
	if (r->commit != NULL && (rc = commit(r, n, quota, err, errlen)) != 0)
		return rc == 1 ? REG_QUOTA : REG_STORE;
	if (rec_publish(n, REVOKE_REVOKED) != 0) {
		util_seterr(err, errlen, "out of memory in the revocation set");
		return REG_ERROR;
	}
	if (t == NULL) {
		t = push(r, n);
		if (t == NULL) {
			util_seterr(err, errlen, "out of memory");
			return REG_ERROR;
		}
	} else {
		t->status = n->status;
		t->revoked_at = n->revoked_at;
		t->last_used_at = n->last_used_at;
	}
	if (out != NULL)
		*out = t;
	return revoke_persist(r, t, err, errlen);
}

/* The record t as revoked at now, into *n (strings borrowed from t). */
static void revoked_copy(const struct token_record *t, int64_t now, struct token_record *n)
{
	*n = *t;
	n->last_used_at = registry_last_used(t);
	n->store_seq = 0;
	n->revoked_at = now;
}

enum registry_rc registry_revoke(struct registry *r, const char *id, int64_t now, bool import,
				 const char *import_ns, size_t quota,
				 const struct token_record **out, char *err, size_t errlen)
{
	struct token_record *t = NULL;
	struct token_record n;      /* the record as revoked; strings borrowed */

	if (out != NULL)
		*out = NULL;
	if (!id_valid(id)) {
		util_seterr(err, errlen, "invalid token id");
		return REG_ERROR;
	}
	t = find_if(r, id, pick_token, NULL);
	/* A jti revoked in one namespace is not the token of that id issued in another. */
	if (t != NULL && import && import_ns != NULL && strcmp(t->namespace_id, import_ns) != 0)
		t = NULL;
	if (t == NULL && import)
		t = find_if(r, id, pick_imported, import_ns);
	if (out != NULL)
		*out = t;
	if (t != NULL && t->status == TOKEN_REC_REVOKED)
		return t->pending ? revoke_persist(r, t, err, errlen) : REG_ALREADY;
	if (t == NULL && !import)
		return REG_UNKNOWN;
	if (t == NULL && import_ns != NULL && registry_ns_count(r, import_ns) >= quota)
		return REG_QUOTA;
	if (t == NULL && r->n >= REGISTRY_MAX)
		return REG_FULL;
	if (t == NULL) {
		memset(&n, 0, sizeof(n));
		snprintf(n.id, sizeof(n.id), "%s", id);
		n.namespace_id = (char *)(uintptr_t)import_ns;
		n.created_at = now;
		n.revoked_at = now;
		n.imported = true;
		n.ns_scoped = import_ns != NULL;
	} else {
		revoked_copy(t, now, &n);
	}
	/* Only a new imported record of one namespace takes a place in its quota. */
	return revoke_apply(r, t, &n, t == NULL && import_ns != NULL ? quota : 0, out, err, errlen);
}

enum registry_rc registry_revoke_api_key(struct registry *r, const char *id, int64_t now,
					 const struct token_record **out, char *err,
					 size_t errlen)
{
	struct token_record *t = find_if(r, id, pick_api_key, NULL);
	struct token_record n;

	if (out != NULL)
		*out = t;
	if (t == NULL)
		return REG_UNKNOWN;
	if (t->status == TOKEN_REC_REVOKED)
		return t->pending ? revoke_persist(r, t, err, errlen) : REG_ALREADY;
	revoked_copy(t, now, &n);
	return revoke_apply(r, t, &n, 0, out, err, errlen);
}

/* ---------------------------------------------------------------- public: fleet mode */

void registry_set_commit(struct registry *r, registry_commit_fn fn, void *arg)
{
	r->commit = fn;
	r->commit_arg = arg;
}

int registry_apply_json(struct registry *r, const char *json, int64_t seq, char *err,
			size_t errlen)
{
	struct token_record t, *cur;
	json_t *root = NULL;
	bool changed;
	int rc = -1;

	if (rec_parse(json, strlen(json), &t, &root) != 0) {
		util_seterr(err, errlen, "not a valid token or API key record");
		return -1;
	}
	t.store_seq = seq;
	/* The revocation set first: a revocation (sticky there too) reaches the workers even if
	 * memory runs out below. */
	if (rec_publish(&t, rec_state(&t)) != 0) {
		util_seterr(err, errlen, "out of memory in the revocation set");
		rc = -2;
		goto cleanup;
	}
	cur = replay(r, &t, &changed);
	if (cur == NULL) {
		util_seterr(err, errlen, "out of memory or too many records");
		rc = -2;
		goto cleanup;
	}
	rc = 0;
	if (changed) {
		/* The merged record, as a later replay of the journal must see it. */
		rc = 1;
		if (line_append(&r->pend, &r->pend_len, &r->pend_cap, cur) != 0)
			r->dirty = true;    /* applied: the next sync rewrites the journal whole */
		else
			r->pend_lines++;
		if (r->pend_lines >= SYNC_BATCH)
			(void)registry_sync(r);
	}
cleanup:
	json_decref(root);
	return rc;
}

int registry_sync(struct registry *r)
{
	/* After a failed write the journal may lack lines: rewrite it whole instead. */
	if (r->dirty)
		return journal_compact(r);
	if (r->pend_len == 0)
		return 0;
	if (journal_append(r->j, r->pend, r->pend_len, r->pend_lines) != 0) {
		log_msg(LOG_LVL_ERROR, "registry: writing %s: %s", journal_path(r->j), strerror(errno));
		r->dirty = true;
		return -1;
	}
	r->pend_len = r->pend_lines = 0;
	return 0;
}

int64_t registry_position(const struct registry *r)
{
	return r->position;
}

int registry_flush(struct registry *r)
{
	const struct token_record **used = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0, nl = 0;
	int rc = -1;

	(void)registry_sync(r);
	if (r->used != NULL && (used = malloc((r->n ? r->n : 1) * sizeof(*used))) == NULL)
		goto cleanup;
	for (size_t i = 0; i < r->n; i++) {
		struct token_record *t = &r->recs[i];
		int64_t lu = registry_last_used(t);

		if (lu <= t->last_used_at)
			continue;
		t->last_used_at = lu;
		if (line_append(&buf, &len, &cap, t) != 0)
			goto cleanup;
		if (used != NULL)
			used[nl] = t;
		nl++;
	}
	if (len > 0 && !r->dirty && journal_append(r->j, buf, len, nl) != 0) {
		log_msg(LOG_LVL_ERROR, "registry: writing %s: %s", journal_path(r->j), strerror(errno));
		r->dirty = true;
	}
	if (r->used != NULL && nl > 0)
		r->used(r->used_arg, used, nl);
	ns_recount(r, util_now());
	rc = maybe_compact(r);
cleanup:
	free(used);
	free(buf);
	return rc;
}

void registry_set_used(struct registry *r, registry_used_fn fn, void *arg)
{
	r->used = fn;
	r->used_arg = arg;
}

int registry_apply_used(struct registry *r, const char *id, int64_t used, int64_t seq)
{
	struct token_record *t = find_if(r, id, pick_issued, NULL);

	if (t == NULL || used <= t->last_used_at)
		return 0;
	t->last_used_at = used;
	t->store_seq = seq;
	if (line_append(&r->pend, &r->pend_len, &r->pend_cap, t) != 0)
		r->dirty = true;    /* the next sync rewrites the journal whole */
	else
		r->pend_lines++;
	return 1;
}

/* ---------------------------------------------------------------- public: listing */

static int cmp_asc(const void *a, const void *b)
{
	const struct token_record *x = *(const struct token_record *const *)a;
	const struct token_record *y = *(const struct token_record *const *)b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int cmp_desc(const void *a, const void *b)
{
	return cmp_asc(b, a);
}

size_t registry_list(const struct registry *r, const struct registry_query *q,
		     const struct token_record **out, size_t cap, size_t *total)
{
	const struct token_record **all;
	size_t m = 0, first, n = 0;

	*total = 0;
	all = malloc((r->n ? r->n : 1) * sizeof(*all));
	if (all == NULL)
		return 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct token_record *t = &r->recs[i];

		if (t->api_key != q->api_keys)
			continue;
		if (q->namespace_id && (t->namespace_id == NULL ||
					strcmp(t->namespace_id, q->namespace_id) != 0))
			continue;
		if (q->function_id && (t->function_id == NULL ||
				       strcmp(t->function_id, q->function_id) != 0))
			continue;
		if (!util_ns_allowed(q->allowed, q->nallowed, t->namespace_id))
			continue;
		all[m++] = t;
	}
	qsort(all, m, sizeof(*all), q->desc ? cmp_desc : cmp_asc);
	*total = m;
	if (q->page_size == 0 || q->page == 0 || (q->page - 1) > m / q->page_size) {
		free(all);
		return 0;
	}
	first = (q->page - 1) * q->page_size;
	for (size_t i = first; i < m && n < q->page_size && n < cap; i++)
		out[n++] = all[i];
	free(all);
	return n;
}
