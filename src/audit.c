/* audit.c - the audit trail: events in state_dir/audit.journal, the daemon log and, in fleet
 * mode, the shared store; refused authentications aggregated; retention (audit.h). */
#include "audit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "journal.h"
#include "log.h"
#include "util.h"

#define AUDIT_JOURNAL_NAME "audit.journal"
#define AUDIT_DAY_MS       (86400 * 1000ll)
#define AUDIT_SYNC_BATCH   1000     /* applied store events written at once */
#define AUDIT_SHARE_BATCH  100      /* queued events shared in one store write */
#define AUDIT_KEY_MAX      129      /* an admin key's name (CONF_ID_MAX) and its NUL */

static const char *const action_names[AUDIT_NACTIONS] = {
	[AUDIT_TOKEN_CREATE] = "token.create",
	[AUDIT_TOKEN_DELETE] = "token.delete",
	[AUDIT_TOKEN_REVOKE] = "token.revoke",
	[AUDIT_API_KEY_CREATE] = "api_key.create",
	[AUDIT_API_KEY_DELETE] = "api_key.delete",
	[AUDIT_FUNCTION_PRIVACY] = "function.privacy",
	[AUDIT_FUNCTION_RESET_PRIVACY] = "function.reset_privacy",
	[AUDIT_SIGNING_KEY_GENERATE] = "signing_key.generate",
	[AUDIT_SIGNING_KEY_ROTATE] = "signing_key.rotate",
	[AUDIT_CONFIG_RELOAD] = "config.reload",
	[AUDIT_ADMIN_AUTH_FAILED] = "admin.auth_failed",
};

/* Eight string fields, each at most doubled by JSON escaping ('"', '\\'), and the rest of an
 * event fit in a journal line and a log record. */
_Static_assert(8 * 2 * AUDIT_FIELD_MAX + 1024 <= JOURNAL_LINE_MAX &&
	       8 * 2 * AUDIT_FIELD_MAX + 1024 <= LOG_RECORD_MAX, "an event fits in one line");

/* An event held in memory: its strings in one allocation with it. */
struct arec {
	struct audit_event ev;
	char               buf[];
};

/* An event waiting for the shared store. */
struct qitem {
	char  id[37];
	char *ns;
	char *json;
};

/* Refused authentications of one (source, key) since its last event. */
struct auth_bucket {
	bool     used;
	char     source[64];
	char     key[AUDIT_KEY_MAX];
	int64_t  last_emit_ms;      /* 0: none yet */
	uint64_t pending;           /* refusals not yet in an event */
	char     request_id[37];    /* the first of them */
};

struct audit {
	struct journal *j;
	unsigned        retention_days;
	struct arec   **ev;         /* by time, oldest first (once sorted: see `unsorted`) */
	size_t          n, cap;
	bool            unsorted;   /* an event older than the last was added (another node's) */
	struct arec   **index;      /* open addressing over ids, NULL = empty */
	size_t          icap;       /* power of two */
	bool            dirty;      /* a journal write failed: rewrite it whole */
	int64_t         compacted_ms;
	char           *pend;       /* journal lines of applied store events, not yet written */
	size_t          pend_len, pend_cap, pend_lines;
	audit_share_fn  share;
	void           *share_arg;
	struct qitem   *queue;
	size_t          qn, qcap;
	struct auth_bucket buckets[AUDIT_AUTH_SOURCES];
	struct auth_bucket overflow;    /* refusals beyond the cap, every source together */
	int64_t         auth_window_ms;
	unsigned        auth_window_events;
};

/* The trail of this process (audit_open .. audit_close). Main thread only. */
static struct audit *A;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *audit_action_name(enum audit_action a)
{
	return (int)a > 0 && a < AUDIT_NACTIONS ? action_names[a] : NULL;
}

int audit_action_parse(const char *s, enum audit_action *out)
{
	for (int i = 1; i < AUDIT_NACTIONS; i++) {
		if (strcmp(action_names[i], s) == 0) {
			*out = (enum audit_action)i;
			return 0;
		}
	}
	return -1;
}

int audit_parse_time_ms(const char *s, int64_t *ms)
{
	int64_t sec;
	int frac = 0, digits = 0;

	if (util_parse_rfc3339(s, &sec) != 0)
		return -1;
	/* "YYYY-MM-DDTHH:MM:SS" is 19 bytes; a fraction follows as ".ddd..." (checked above). */
	if (s[19] == '.') {
		for (const char *p = s + 20; *p >= '0' && *p <= '9'; p++) {
			if (digits < 3) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
		}
		while (digits++ < 3)
			frac *= 10;
	}
	*ms = sec * 1000 + frac;
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of t (milliseconds) into buf (>= 32 bytes). */
static void time_text(int64_t t, char *buf, size_t len)
{
	char sec[32];
	int64_t s = t >= 0 ? t / 1000 : (t - 999) / 1000;

	util_rfc3339(s, sec, sizeof(sec));
	sec[strcspn(sec, "Z")] = '\0';
	snprintf(buf, len, "%s.%03dZ", sec, (int)(t - s * 1000));
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *audit_event_json(const struct audit_event *ev)
{
	json_t *o = json_object();
	char t[40];

	if (o == NULL)
		return NULL;
	time_text(ev->time_ms, t, sizeof(t));
	json_object_set_new(o, "id", json_string(ev->id));
	json_object_set_new(o, "time", json_string(t));
	json_object_set_new(o, "actor", str_or_null(ev->actor));
	json_object_set_new(o, "action", str_or_null(audit_action_name(ev->action)));
	json_object_set_new(o, "target_id", str_or_null(ev->target_id));
	json_object_set_new(o, "namespace_id", str_or_null(ev->namespace_id));
	json_object_set_new(o, "function_id", str_or_null(ev->function_id));
	json_object_set_new(o, "source", str_or_null(ev->source));
	json_object_set_new(o, "request_id", str_or_null(ev->request_id));
	json_object_set_new(o, "outcome", str_or_null(ev->outcome));
	json_object_set_new(o, "detail", str_or_null(ev->detail));
	json_object_set_new(o, "count", json_integer((json_int_t)ev->count));
	return o;
}

/* A copy of ev in one allocation, each string cut to AUDIT_FIELD_MAX bytes (at a UTF-8
 * character boundary), control characters replaced by '?': so that a line of the journal (at
 * most twice its fields' bytes once escaped) stays within JOURNAL_LINE_MAX. NULL on OOM. */
static struct arec *arec_new(const struct audit_event *ev)
{
	const char *const src[] = {ev->actor, ev->target_id, ev->namespace_id, ev->function_id,
				   ev->source, ev->request_id, ev->outcome, ev->detail};
	const char **dst[ARRAY_LEN(src)];
	size_t lens[ARRAY_LEN(src)], total = 0, at = 0;
	struct arec *r;

	for (size_t i = 0; i < ARRAY_LEN(src); i++) {
		size_t l = src[i] != NULL ? strlen(src[i]) : 0;

		if (l > AUDIT_FIELD_MAX) {
			l = AUDIT_FIELD_MAX;
			while (l > 0 && ((unsigned char)src[i][l] & 0xc0) == 0x80)
				l--;
		}
		lens[i] = l;
		total += src[i] != NULL ? l + 1 : 0;
	}
	r = malloc(sizeof(*r) + total);
	if (r == NULL)
		return NULL;
	r->ev = *ev;
	dst[0] = &r->ev.actor;
	dst[1] = &r->ev.target_id;
	dst[2] = &r->ev.namespace_id;
	dst[3] = &r->ev.function_id;
	dst[4] = &r->ev.source;
	dst[5] = &r->ev.request_id;
	dst[6] = &r->ev.outcome;
	dst[7] = &r->ev.detail;
	for (size_t i = 0; i < ARRAY_LEN(src); i++) {
		if (src[i] == NULL) {
			*dst[i] = NULL;
			continue;
		}
		memcpy(r->buf + at, src[i], lens[i]);
		r->buf[at + lens[i]] = '\0';
		for (char *p = r->buf + at; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		*dst[i] = r->buf + at;
		at += lens[i] + 1;
	}
	return r;
}

/* Parse an event's JSON into *ev (strings borrowed from *root, which the caller frees).
 * 0, or -1 (err) when it is not an event. */
static int event_parse(const char *js, size_t len, struct audit_event *ev, json_t **root,
		       char *err, size_t errlen)
{
	static const char *const fields[] = {"actor", "target_id", "namespace_id", "function_id",
					     "source", "request_id", "outcome", "detail"};
	const char **dst[ARRAY_LEN(fields)];
	json_t *o = json_loadb(js, len, JSON_REJECT_DUPLICATES, NULL);
	const char *id, *t, *action;
	json_t *count;

	*root = NULL;
	memset(ev, 0, sizeof(*ev));
	id = json_string_value(json_object_get(o, "id"));
	t = json_string_value(json_object_get(o, "time"));
	action = json_string_value(json_object_get(o, "action"));
	count = json_object_get(o, "count");
	if (!json_is_object(o) || id == NULL || strlen(id) != 36 || t == NULL ||
	    audit_parse_time_ms(t, &ev->time_ms) != 0 || action == NULL ||
	    audit_action_parse(action, &ev->action) != 0 || !json_is_integer(count) ||
	    json_integer_value(count) < 0) {
		util_seterr(err, errlen, "not an audit event (id, time, action, count)");
		json_decref(o);
		return -1;
	}
	snprintf(ev->id, sizeof(ev->id), "%s", id);
	ev->count = (uint64_t)json_integer_value(count);
	dst[0] = &ev->actor;
	dst[1] = &ev->target_id;
	dst[2] = &ev->namespace_id;
	dst[3] = &ev->function_id;
	dst[4] = &ev->source;
	dst[5] = &ev->request_id;
	dst[6] = &ev->outcome;
	dst[7] = &ev->detail;
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		json_t *v = json_object_get(o, fields[i]);

		if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
			util_seterr(err, errlen, "audit event: %s is not a string", fields[i]);
			json_decref(o);
			return -1;
		}
		*dst[i] = json_string_value(v);
	}
	if (ev->actor == NULL || ev->outcome == NULL) {
		util_seterr(err, errlen, "audit event: no actor or outcome");
		json_decref(o);
		return -1;
	}
	*root = o;
	return 0;
}

/* ---------------------------------------------------------------- memory */

static size_t id_hash(const char *id)
{
	return (size_t)util_fnv64(UTIL_FNV64_INIT, id, strlen(id));
}

static void index_put(struct arec **ix, size_t icap, struct arec *r)
{
	size_t h = id_hash(r->ev.id) & (icap - 1);

	while (ix[h] != NULL)
		h = (h + 1) & (icap - 1);
	ix[h] = r;
}

static int index_rebuild(struct audit *a, size_t want)
{
	size_t icap = 64;
	struct arec **ix;

	while (icap < want * 2)
		icap *= 2;
	ix = calloc(icap, sizeof(*ix));
	if (ix == NULL)
		return -1;
	for (size_t i = 0; i < a->n; i++)
		index_put(ix, icap, a->ev[i]);
	free(a->index);
	a->index = ix;
	a->icap = icap;
	return 0;
}

static bool known(const struct audit *a, const char *id)
{
	size_t h = id_hash(id) & (a->icap - 1);

	while (a->index[h] != NULL) {
		if (strcmp(a->index[h]->ev.id, id) == 0)
			return true;
		h = (h + 1) & (a->icap - 1);
	}
	return false;
}

/* Add a copy of ev. Events of other nodes may come older than the last: the array is sorted
 * again (by time, then id) before it is read in order (sort_events). The copy, or NULL
 * (memory). */
static struct arec *insert(struct audit *a, const struct audit_event *ev)
{
	struct arec *r;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		struct arec **nv = realloc(a->ev, ncap * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		a->ev = nv;
		a->cap = ncap;
	}
	if ((a->n + 1) * 2 > a->icap && index_rebuild(a, a->n + 1) != 0)
		return NULL;
	r = arec_new(ev);
	if (r == NULL)
		return NULL;
	if (a->n > 0 && a->ev[a->n - 1]->ev.time_ms > ev->time_ms)
		a->unsorted = true;
	a->ev[a->n++] = r;
	index_put(a->index, a->icap, r);
	return r;
}

static int cmp_time(const void *x, const void *y)
{
	const struct audit_event *a = &(*(struct arec *const *)x)->ev;
	const struct audit_event *b = &(*(struct arec *const *)y)->ev;

	if (a->time_ms != b->time_ms)
		return a->time_ms < b->time_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

static void sort_events(struct audit *a)
{
	if (!a->unsorted)
		return;
	qsort(a->ev, a->n, sizeof(*a->ev), cmp_time);
	a->unsorted = false;
}

/* The journal line of ev, appended to a buffer. 0 / -1 (memory). */
static int line_append(char **buf, size_t *len, size_t *cap, const struct audit_event *ev)
{
	json_t *o = audit_event_json(ev);
	char *js = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = js != NULL ? journal_format(buf, len, cap, js, strlen(js)) : -1;

	free(js);
	json_decref(o);
	return rc;
}

/* Drop the events older than the retention, and the oldest beyond AUDIT_MAX_EVENTS; rewrite
 * the journal when anything went (or an earlier write failed). */
static void compact(struct audit *a, int64_t now)
{
	int64_t cutoff = now - (int64_t)a->retention_days * AUDIT_DAY_MS;
	size_t drop = 0;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	a->compacted_ms = now;
	sort_events(a);
	while (drop < a->n && (a->ev[drop]->ev.time_ms < cutoff || a->n - drop > AUDIT_MAX_EVENTS))
		drop++;
	if (drop == 0 && !a->dirty)
		return;
	for (size_t i = drop; i < a->n; i++) {
		if (line_append(&buf, &len, &cap, &a->ev[i]->ev) != 0) {
			log_msg(LOG_LVL_ERROR, "audit: compaction: out of memory; retried later");
			free(buf);
			return;
		}
	}
	if (journal_rewrite(a->j, buf, len, a->n - drop) != 0) {
		log_msg(LOG_LVL_ERROR, "audit: compaction of %s failed: %s; retried later",
			journal_path(a->j), strerror(errno));
		free(buf);
		a->dirty = true;
		return;
	}
	free(buf);
	for (size_t i = 0; i < drop; i++)
		free(a->ev[i]);
	memmove(a->ev, a->ev + drop, (a->n - drop) * sizeof(*a->ev));
	a->n -= drop;
	a->dirty = false;
	a->pend_len = a->pend_lines = 0;     /* the rewrite holds every event */
	if (index_rebuild(a, a->n) != 0) {
		/* The old index points at freed events: empty it (an event of the store may then
		 * be applied twice, never read freed). */
		memset(a->index, 0, a->icap * sizeof(*a->index));
		log_msg(LOG_LVL_ERROR, "audit: out of memory rebuilding the index");
	}
	if (drop > 0)
		log_msg(LOG_LVL_INFO, "audit: %zu events older than %u days (or beyond %d) compacted "
			"away; %zu kept", drop, a->retention_days, AUDIT_MAX_EVENTS, a->n);
}

/* Write the applied store events queued (one write, one fdatasync). */
static void sync_pending(struct audit *a)
{
	if (a->dirty) {
		compact(a, now_ms());
		return;
	}
	if (a->pend_len == 0)
		return;
	if (journal_append(a->j, a->pend, a->pend_len, a->pend_lines) != 0) {
		log_msg(LOG_LVL_ERROR, "audit: writing %s: %s; rewritten at the next tick",
			journal_path(a->j), strerror(errno));
		a->dirty = true;
	}
	a->pend_len = a->pend_lines = 0;
}

/* ---------------------------------------------------------------- the shared store */

static void queue_free_item(struct qitem *q)
{
	free(q->ns);
	free(q->json);
}

/* Offer the queue to the store, AUDIT_SHARE_BATCH at a time, until it refuses. */
static void share_queue(struct audit *a)
{
	while (a->share != NULL && a->qn > 0) {
		struct audit_share_item items[AUDIT_SHARE_BATCH];
		size_t n = a->qn < AUDIT_SHARE_BATCH ? a->qn : AUDIT_SHARE_BATCH;

		for (size_t i = 0; i < n; i++) {
			items[i].id = a->queue[i].id;
			items[i].namespace_id = a->queue[i].ns;
			items[i].json = a->queue[i].json;
		}
		if (a->share(a->share_arg, items, n) != 0)
			return;
		for (size_t i = 0; i < n; i++)
			queue_free_item(&a->queue[i]);
		memmove(a->queue, a->queue + n, (a->qn - n) * sizeof(*a->queue));
		a->qn -= n;
	}
}

/* Queue ev (its JSON js) for the store and offer the queue. */
static void share_event(struct audit *a, const struct audit_event *ev, const char *js)
{
	struct qitem q;

	if (a->share == NULL)
		return;
	if (a->qn == AUDIT_QUEUE_MAX) {
		log_msg(LOG_LVL_WARN, "audit: %d events wait for the shared store; event %s is "
			"kept on this node only", AUDIT_QUEUE_MAX, a->queue[0].id);
		queue_free_item(&a->queue[0]);
		memmove(a->queue, a->queue + 1, (a->qn - 1) * sizeof(*a->queue));
		a->qn--;
	}
	if (a->qn == a->qcap) {
		size_t ncap = a->qcap ? a->qcap * 2 : 16;
		struct qitem *nq = realloc(a->queue, ncap * sizeof(*nq));

		if (nq == NULL)
			return;
		a->queue = nq;
		a->qcap = ncap;
	}
	memset(&q, 0, sizeof(q));
	snprintf(q.id, sizeof(q.id), "%s", ev->id);
	q.ns = strdup(ev->namespace_id != NULL ? ev->namespace_id : "");
	q.json = strdup(js);
	if (q.ns == NULL || q.json == NULL) {
		queue_free_item(&q);
		return;
	}
	a->queue[a->qn++] = q;
	share_queue(a);
}

void audit_set_share(audit_share_fn fn, void *arg)
{
	if (A == NULL)
		return;
	A->share = fn;
	A->share_arg = arg;
}

int audit_apply_json(const char *json, char *err, size_t errlen)
{
	struct audit_event ev;
	json_t *root;
	int rc = 0;

	if (A == NULL)
		return 0;
	if (event_parse(json, strlen(json), &ev, &root, err, errlen) != 0)
		return -1;
	if (!known(A, ev.id) &&
	    ev.time_ms >= now_ms() - (int64_t)A->retention_days * AUDIT_DAY_MS) {
		if (insert(A, &ev) == NULL) {
			util_seterr(err, errlen, "out of memory");
			rc = -1;
		} else {
			rc = 1;
			if (line_append(&A->pend, &A->pend_len, &A->pend_cap, &ev) != 0)
				A->dirty = true;    /* the next sync rewrites the journal whole */
			else
				A->pend_lines++;
			if (A->pend_lines >= AUDIT_SYNC_BATCH)
				sync_pending(A);
		}
	}
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------------- recording */

void audit_record(const struct audit_event *in)
{
	struct audit_event ev = *in;
	const struct arec *r;
	json_t *o = NULL, *line = NULL;
	char *js = NULL, *ls = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (A == NULL)
		return;
	if (util_uuid4(ev.id) != 0) {
		log_msg(LOG_LVL_ERROR, "audit: no randomness for an event id; event lost");
		return;
	}
	ev.time_ms = now_ms();
	if (ev.count == 0)
		ev.count = 1;
	if (ev.actor == NULL)
		ev.actor = AUDIT_ACTOR_UNKNOWN;
	if (ev.outcome == NULL)
		ev.outcome = "ok";
	r = insert(A, &ev);
	if (r == NULL) {
		log_msg(LOG_LVL_ERROR, "audit: out of memory; event %s %s lost", ev.id,
			audit_action_name(ev.action));
		return;
	}
	/* From here on, the stored copy (its strings cut to AUDIT_FIELD_MAX) is what is written. */
	o = audit_event_json(&r->ev);
	js = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	if (js == NULL || journal_format(&buf, &len, &cap, js, strlen(js)) != 0) {
		A->dirty = true;
	} else if (!A->dirty && journal_append(A->j, buf, len, 1) != 0) {
		log_msg(LOG_LVL_ERROR, "audit: writing %s: %s; rewritten at the next tick",
			journal_path(A->j), strerror(errno));
		A->dirty = true;
	}
	/* For log shippers: the event's own fields, after "type" and "level". */
	line = json_pack("{s:s,s:s}", "type", "audit", "level", "info");
	if (line != NULL && o != NULL && json_object_update(line, o) == 0 &&
	    (ls = json_dumps(line, JSON_COMPACT)) != NULL)
		log_record(ls, strlen(ls));
	if (js != NULL)
		share_event(A, &r->ev, js);
	free(ls);
	json_decref(line);
	free(buf);
	free(js);
	json_decref(o);
}

/* ---------------------------------------------------------------- refused authentications */

static void auth_emit(struct auth_bucket *b, uint64_t count, int64_t now, bool overflow)
{
	struct audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.action = AUDIT_ADMIN_AUTH_FAILED;
	ev.actor = overflow ? AUDIT_ACTOR_UNKNOWN : b->key;
	ev.source = overflow ? NULL : b->source;
	ev.request_id = b->request_id[0] != '\0' ? b->request_id : NULL;
	ev.outcome = "unauthorized";
	ev.detail = overflow ? "refusals beyond the audit's per-interval cap, every source" : NULL;
	ev.count = count;
	audit_record(&ev);
	b->last_emit_ms = now;
	b->pending = 0;
	b->request_id[0] = '\0';
}

/* The bucket of (source, key): its own, a free one, or NULL when every one is busy. */
static struct auth_bucket *auth_bucket(struct audit *a, const char *source, const char *key,
				       int64_t now)
{
	struct auth_bucket *free_b = NULL;

	for (size_t i = 0; i < AUDIT_AUTH_SOURCES; i++) {
		struct auth_bucket *b = &a->buckets[i];

		if (b->used && strcmp(b->source, source) == 0 && strcmp(b->key, key) == 0)
			return b;
		if (free_b == NULL && (!b->used || (b->pending == 0 && now - b->last_emit_ms >=
						     AUDIT_AUTH_INTERVAL_S * 1000ll)))
			free_b = b;
	}
	if (free_b != NULL) {
		memset(free_b, 0, sizeof(*free_b));
		free_b->used = true;
		snprintf(free_b->source, sizeof(free_b->source), "%s", source);
		snprintf(free_b->key, sizeof(free_b->key), "%s", key);
	}
	return free_b;
}

/* May one more refusal event be written in the current interval (every source together)? */
static bool auth_budget(struct audit *a, int64_t now)
{
	if (now - a->auth_window_ms >= AUDIT_AUTH_INTERVAL_S * 1000ll) {
		a->auth_window_ms = now;
		a->auth_window_events = 0;
	}
	if (a->auth_window_events >= AUDIT_AUTH_EVENTS_MAX)
		return false;
	a->auth_window_events++;
	return true;
}

void audit_auth_failed(const char *source, const char *key_name, const char *request_id)
{
	int64_t now = now_ms();
	struct auth_bucket *b;

	if (A == NULL)
		return;
	b = auth_bucket(A, source != NULL ? source : "", key_name != NULL ? key_name :
			AUDIT_ACTOR_UNKNOWN, now);
	if (b != NULL && b->pending == 0 && (b->last_emit_ms == 0 ||
	    now - b->last_emit_ms >= AUDIT_AUTH_INTERVAL_S * 1000ll)) {
		if (auth_budget(A, now)) {
			if (request_id != NULL)
				snprintf(b->request_id, sizeof(b->request_id), "%s", request_id);
			auth_emit(b, 1, now, false);
			return;
		}
		b = NULL;       /* no budget left for its event in this interval */
	}
	if (b == NULL)
		b = &A->overflow;   /* no room, or no budget */
	if (b->pending++ == 0 && request_id != NULL)
		snprintf(b->request_id, sizeof(b->request_id), "%s", request_id);
}

/* The aggregated refusals whose interval is over (all of them when `all`: at close). */
static void auth_flush(struct audit *a, int64_t now, bool all)
{
	for (size_t i = 0; i < AUDIT_AUTH_SOURCES; i++) {
		struct auth_bucket *b = &a->buckets[i];

		if (!b->used || b->pending == 0 ||
		    (!all && now - b->last_emit_ms < AUDIT_AUTH_INTERVAL_S * 1000ll))
			continue;
		if (all || auth_budget(a, now)) {
			auth_emit(b, b->pending, now, false);
		} else {
			a->overflow.pending += b->pending;
			b->pending = 0;
		}
	}
	if (a->overflow.pending > 0 &&
	    (all || now - a->overflow.last_emit_ms >= AUDIT_AUTH_INTERVAL_S * 1000ll))
		auth_emit(&a->overflow, a->overflow.pending, now, true);
}

/* ---------------------------------------------------------------- lifecycle */

/* journal_line_fn: one event of the journal. */
static enum journal_line_rc audit_line(void *arg, const char *json, size_t len, char *err,
				       size_t errlen)
{
	struct audit *a = arg;
	struct audit_event ev;
	json_t *root;
	char perr[128];
	bool ok;

	if (event_parse(json, len, &ev, &root, perr, sizeof(perr)) != 0)
		return JOURNAL_LINE_BAD;
	ok = known(a, ev.id) || insert(a, &ev) != NULL;
	json_decref(root);
	if (!ok) {
		util_seterr(err, errlen, "out of memory");
		return JOURNAL_LINE_FAIL;
	}
	return JOURNAL_LINE_OK;
}

int audit_open(const char *state_dir, unsigned retention_days, char *err, size_t errlen)
{
	struct audit *a;
	char path[PATH_MAX];

	if (A != NULL) {
		util_seterr(err, errlen, "the audit trail is open already");
		return -1;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || index_rebuild(a, 64) != 0) {
		free(a);
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	a->retention_days = retention_days;
	snprintf(path, sizeof(path), "%s/%s", state_dir, AUDIT_JOURNAL_NAME);
	a->j = journal_open(path, "audit", audit_line, a, err, errlen);
	if (a->j == NULL) {
		for (size_t i = 0; i < a->n; i++)
			free(a->ev[i]);
		free(a->ev);
		free(a->index);
		free(a);
		return -1;
	}
	A = a;
	compact(a, now_ms());
	log_msg(LOG_LVL_INFO, "audit: %zu events loaded from %s (retention %u days)", a->n, path,
		retention_days);
	return 0;
}

void audit_close(void)
{
	struct audit *a = A;

	if (a == NULL)
		return;
	auth_flush(a, now_ms(), true);
	sync_pending(a);
	if (a->qn > 0)
		log_msg(LOG_LVL_WARN, "audit: %zu events never reached the shared store; they stay "
			"in this node's journal", a->qn);
	A = NULL;
	journal_close(a->j);
	for (size_t i = 0; i < a->n; i++)
		free(a->ev[i]);
	for (size_t i = 0; i < a->qn; i++)
		queue_free_item(&a->queue[i]);
	free(a->queue);
	free(a->pend);
	free(a->ev);
	free(a->index);
	free(a);
}

void audit_tick(void)
{
	int64_t now = now_ms();

	if (A == NULL)
		return;
	auth_flush(A, now, false);
	sync_pending(A);
	share_queue(A);
	if (now - A->compacted_ms >= AUDIT_DAY_MS)
		compact(A, now);
}

void audit_set_retention(unsigned days)
{
	if (A == NULL || days == A->retention_days)
		return;
	A->retention_days = days;
	compact(A, now_ms());
}

/* ---------------------------------------------------------------- listing */

static bool matches(const struct audit_query *q, const struct audit_event *ev)
{
	if (q->namespace_id != NULL && (ev->namespace_id == NULL ||
					strcmp(ev->namespace_id, q->namespace_id) != 0))
		return false;
	if (q->actor != NULL && strcmp(ev->actor, q->actor) != 0)
		return false;
	if (q->action != 0 && ev->action != q->action)
		return false;
	if (q->since_ms != 0 && ev->time_ms < q->since_ms)
		return false;
	if (q->until_ms != 0 && ev->time_ms > q->until_ms)
		return false;
	return util_ns_allowed(q->allowed, q->nallowed, ev->namespace_id);
}

size_t audit_list(const struct audit_query *q, const struct audit_event **out, size_t cap,
		  size_t *total)
{
	size_t first, n = 0, m = 0;

	*total = 0;
	if (A == NULL || q->page == 0 || q->page_size == 0)
		return 0;
	first = (q->page - 1) * q->page_size;
	sort_events(A);
	for (size_t i = A->n; i-- > 0;) {
		const struct audit_event *ev = &A->ev[i]->ev;

		if (!matches(q, ev))
			continue;
		if (m >= first && n < q->page_size && n < cap)
			out[n++] = ev;
		m++;
	}
	*total = m;
	return n;
}
