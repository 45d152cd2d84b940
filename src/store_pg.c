/* store_pg.c - the shared store in PostgreSQL through libpq: schema and migrations, writes with
 * their change log, snapshot, and the non-blocking watch of the log on a libevent loop. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "log.h"
#include "store.h"
#include "util.h"

/* Advisory lock keys (64-bit, arbitrary but fixed: "fngate" + purpose). */
#define STORE_LOCK_MIGRATE 0x666e676174650001LL
#define STORE_LOCK_APPEND  0x666e676174650002LL
#define STORE_CHANNEL      "fngate_changes"

static const char *const store_kind_names[] = {
	[STORE_KIND_TOKEN] = "token",
	[STORE_KIND_REVOCATION] = "revocation",
	[STORE_KIND_PRIVACY] = "privacy",
	[STORE_KIND_SIGNING_KEY] = "signing_key",
	[STORE_KIND_LAST_USED] = "last_used",
	[STORE_KIND_AUDIT] = "audit",
	[STORE_KIND_API_KEY] = "api_key",
};

/* Migrations, in order: migration i brings the schema from version i to i + 1. Each runs in one
 * transaction with its version bump. Never edit one that shipped: append a new one. */
static const char *const store_migrations[] = {
	"CREATE TABLE fngate_items ("
	"  kind text NOT NULL, namespace_id text NOT NULL, key text NOT NULL, body text NOT NULL,"
	"  seq bigint NOT NULL, PRIMARY KEY (kind, namespace_id, key));"
	"CREATE TABLE fngate_changes ("
	"  seq bigint PRIMARY KEY, kind text NOT NULL, namespace_id text NOT NULL,"
	"  key text NOT NULL, body text, committed_at timestamptz NOT NULL DEFAULT clock_timestamp());",
	/* 2: the quota count (struct store_quota). A registry record's namespace and expiry, as
	 * registry.c writes them ("ns", "expires": 0 for none), computed by the server for every
	 * write, whichever node or version makes it, and for the rows already there. */
	"ALTER TABLE fngate_items"
	"  ADD COLUMN quota_ns text GENERATED ALWAYS AS (CASE WHEN kind IN"
	"    ('token', 'api_key', 'revocation') THEN body::json ->> 'ns' END) STORED,"
	"  ADD COLUMN quota_expires bigint GENERATED ALWAYS AS (CASE WHEN kind IN"
	"    ('token', 'api_key', 'revocation') THEN coalesce((body::json ->> 'expires')::bigint, 0)"
	"    END) STORED;"
	"CREATE INDEX fngate_items_quota ON fngate_items (quota_ns) WHERE quota_ns IS NOT NULL;",
};
_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

enum store_watch_state {
	STORE_W_IDLE = 1,           /* waiting for the backoff timer */
	STORE_W_CONNECTING,         /* PQconnectPoll in progress */
	STORE_W_QUERY,              /* a statement sent, its results pending */
	STORE_W_CHECK,              /* the check of the last applied change sent (store_reset_cb) */
	STORE_W_READY,              /* listening, caught up */
};

struct store {
	char   *conninfo;
	PGconn *conn;               /* writes, snapshot, migrations: blocking */
	/* The watch. */
	struct event_base     *base;
	PGconn                *wconn;
	struct event          *wev;        /* wconn's socket: read (and write while flushing/connecting) */
	struct event          *wtimer;     /* backoff */
	enum store_watch_state wstate;
	int                    wlistening; /* LISTEN done on this connection */
	int                    wdirty;     /* a notification arrived during a catch-up query */
	int                    wbatch;     /* changes in the current catch-up batch */
	int                    wsame;      /* the check found the last applied change as it was */
	struct store_mark      wmark;      /* the last change applied */
	int                    wbackoff_ms;
	store_change_cb        wcb;
	store_status_cb        wstatus;
	store_reset_cb         wreset;
	void                  *warg;
};

/* The server's notices and warnings ("relation ... already exists, skipping", "terminating
 * connection due to ... shutdown") as daemon log lines (libpq would print them to stderr raw):
 * debug level, since whatever matters also fails a statement or the connection, logged then. */
static void store_notice(void *arg, const char *msg)
{
	(void)arg;
	log_msg(LOG_LVL_DEBUG, "store: server says: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Connect (blocking, or started for PQconnectPoll when async) with the defaults fngate wants
 * unless the conninfo says otherwise. */
static PGconn *store_connect_params(const char *conninfo, int async)
{
	/* Later keywords override earlier ones, and the expanded dbname (the conninfo) comes after the
	 * defaults: what the operator wrote wins. */
	const char *const kw[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const val[] = {STORE_CONNECT_TIMEOUT_S, "fngate", conninfo, NULL};
	PGconn *c = async ? PQconnectStartParams(kw, val, 1) : PQconnectdbParams(kw, val, 1);

	if (c != NULL)
		PQsetNoticeProcessor(c, store_notice, NULL);
	return c;
}

/* The one-line reason of a libpq error, without its trailing newline. */
static void store_seterr_pq(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	util_seterr(err, errlen, "%s: %.*s", what, (int)n, msg);
}

/* Make sure the write connection is up (reconnecting once when it was lost). 0, or -1 with err. */
static int store_conn(struct store *s, char *err, size_t errlen)
{
	char sql[64];
	PGresult *res;

	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	PQfinish(s->conn);
	s->conn = store_connect_params(s->conninfo, 0);
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		store_seterr_pq(err, errlen, "store unavailable",
				s->conn != NULL ? PQerrorMessage(s->conn) : "out of memory");
		PQfinish(s->conn);
		s->conn = NULL;
		return -1;
	}
	/* The admin path waits on these statements: bound them. */
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", STORE_STATEMENT_TIMEOUT_MS);
	res = PQexec(s->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		store_seterr_pq(err, errlen, "store unavailable", PQerrorMessage(s->conn));
		PQclear(res);
		PQfinish(s->conn);
		s->conn = NULL;
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Run one statement with text parameters on the write connection. Returns the result when its
 * status is `want` (caller PQclears), else NULL with err. */
static PGresult *store_exec(struct store *s, const char *sql, int n, const char *const *params,
			    ExecStatusType want, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) == want)
		return res;
	store_seterr_pq(err, errlen, "store", PQerrorMessage(s->conn));
	PQclear(res);
	return NULL;
}

/* Run a command that returns no rows. 0 / -1 with err. */
static int store_cmd(struct store *s, const char *sql, int n, const char *const *params,
		     char *err, size_t errlen)
{
	PGresult *res = store_exec(s, sql, n, params, PGRES_COMMAND_OK, err, errlen);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

/* Connect when needed and open a transaction with `sql` (a BEGIN). A connection that broke
 * while idle (a server restart, a failover) is noticed only when used: when the BEGIN fails that
 * way, nothing was done yet, so reconnect once and try again. 0, or -1 with err. */
static int store_begin(struct store *s, const char *sql, char *err, size_t errlen)
{
	if (store_conn(s, err, errlen) != 0)
		return -1;
	if (store_cmd(s, sql, 0, NULL, err, errlen) == 0)
		return 0;
	if (PQstatus(s->conn) != CONNECTION_BAD)
		return -1;
	PQfinish(s->conn);
	s->conn = NULL;
	if (store_conn(s, err, errlen) != 0)
		return -1;
	return store_cmd(s, sql, 0, NULL, err, errlen);
}

/* Leave a failed transaction (ignoring errors: the connection may be gone). */
static void store_rollback(struct store *s)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

struct store *store_open(const char *conninfo, char *err, size_t errlen)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	struct store *s;

	if (opts == NULL) {
		store_seterr_pq(err, errlen, "conninfo", perr != NULL ? perr : "out of memory");
		PQfreemem(perr);
		return NULL;
	}
	PQconninfoFree(opts);
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->conninfo = strdup(conninfo)) == NULL) {
		free(s);
		util_seterr(err, errlen, "out of memory");
		return NULL;
	}
	s->wstate = STORE_W_IDLE;
	return s;
}

static void store_watch_drop(struct store *s);

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	store_watch_drop(s);
	if (s->wtimer != NULL)
		event_free(s->wtimer);
	PQfinish(s->conn);
	/* The conninfo may hold a password. */
	util_free_secret(s->conninfo);
	free(s);
}

int store_migrate(struct store *s, char *err, size_t errlen)
{
	char lock[32], ver[16];
	const char *p[1] = {lock};
	PGresult *res = NULL;
	int version, rc = -1, locked = 0;

	if (store_conn(s, err, errlen) != 0)
		return -1;
	snprintf(lock, sizeof(lock), "%lld", STORE_LOCK_MIGRATE);
	/* Session lock, taken before anything else: even the version table's CREATE ... IF NOT
	 * EXISTS races with itself (a unique violation in pg_type) when two nodes run it together. */
	res = store_exec(s, "SELECT pg_advisory_lock($1::bigint)", 1, p, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		return -1;
	PQclear(res);
	locked = 1;
	if (store_cmd(s, "CREATE TABLE IF NOT EXISTS fngate_schema (version integer NOT NULL)", 0,
		      NULL, err, errlen) != 0)
		goto cleanup;
	res = store_exec(s, "SELECT coalesce(max(version), 0) FROM fngate_schema", 0, NULL,
			 PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		goto cleanup;
	version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version > STORE_SCHEMA_VERSION) {
		util_seterr(err, errlen, "store schema version %d is newer than this fngate (%d): "
			    "upgrade fngate", version, STORE_SCHEMA_VERSION);
		goto cleanup;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		const char *vp[1] = {ver};

		snprintf(ver, sizeof(ver), "%d", version + 1);
		if (store_cmd(s, "BEGIN", 0, NULL, err, errlen) != 0)
			goto cleanup;
		/* A multi-statement migration goes through the simple protocol (no parameters). */
		res = PQexec(s->conn, store_migrations[version]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			store_seterr_pq(err, errlen, "store migration", PQerrorMessage(s->conn));
			PQclear(res);
			store_rollback(s);
			goto cleanup;
		}
		PQclear(res);
		if (store_cmd(s, "DELETE FROM fngate_schema", 0, NULL, err, errlen) != 0 ||
		    store_cmd(s, "INSERT INTO fngate_schema (version) VALUES ($1::integer)", 1, vp,
			      err, errlen) != 0 ||
		    store_cmd(s, "COMMIT", 0, NULL, err, errlen) != 0) {
			store_rollback(s);
			goto cleanup;
		}
		log_msg(LOG_LVL_INFO, "store: schema migrated to version %d", version + 1);
	}
	rc = 0;
cleanup:
	if (locked && PQstatus(s->conn) == CONNECTION_OK) {
		res = PQexecParams(s->conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, p, NULL,
				   NULL, 0);
		PQclear(res);
	}
	return rc;
}

/* The kind's name in the database, NULL for an unknown kind. */
static const char *store_kind_name(enum store_kind k)
{
	if ((size_t)k >= sizeof(store_kind_names) / sizeof(store_kind_names[0]))
		return NULL;
	return store_kind_names[k];
}

static int store_kind_parse(const char *name, enum store_kind *k)
{
	for (size_t i = 1; i < sizeof(store_kind_names) / sizeof(store_kind_names[0]); i++) {
		if (store_kind_names[i] != NULL && strcmp(store_kind_names[i], name) == 0) {
			*k = (enum store_kind)i;
			return 0;
		}
	}
	return -1;
}

/* Refuse an item the schema or the readers would not take back. 0 / -1 with err. */
static int store_item_check(const struct store_item *it, char *err, size_t errlen)
{
	if (store_kind_name(it->kind) == NULL || it->namespace_id == NULL || it->key == NULL ||
	    it->key[0] == '\0') {
		util_seterr(err, errlen, "store: bad item (kind %d)", (int)it->kind);
		return -1;
	}
	if (strlen(it->namespace_id) > STORE_KEY_MAX || strlen(it->key) > STORE_KEY_MAX ||
	    (it->body != NULL && strlen(it->body) > STORE_BODY_MAX)) {
		util_seterr(err, errlen, "store: item too large");
		return -1;
	}
	return 0;
}

/* Open a write transaction that holds the append lock. 0, or -1 with err (rolled back). */
static int store_begin_append(struct store *s, char *err, size_t errlen)
{
	char lock[32];
	const char *lp[1] = {lock};
	PGresult *res;

	if (store_begin(s, "BEGIN", err, errlen) != 0)
		goto fail;
	snprintf(lock, sizeof(lock), "%lld", STORE_LOCK_APPEND);
	/* The log's order must be its commit order. A position handed out at insert time (a
	 * sequence) is not in commit order: with two writers, seq 11 can commit while 10 is still
	 * open; a reader then applies 11 and moves its position past 10 for ever. Holding this lock
	 * from before the first append until COMMIT (it is transaction-scoped) makes the appenders
	 * take turns, so a seq is visible only after every smaller one is. Writes are few (admin
	 * calls, batched last-use updates): the serialisation costs nothing that matters. */
	res = store_exec(s, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp, PGRES_TUPLES_OK, err,
			 errlen);
	if (res == NULL)
		goto fail;
	PQclear(res);
	return 0;
fail:
	store_rollback(s);
	return -1;
}

/* In the append transaction: one change per item, and the item set (or deleted), then NOTIFY
 * and COMMIT. *seq (may be NULL) gets the last change's position. 0, or -1 with err. */
static int store_put_commit(struct store *s, const struct store_item *items, size_t n,
			    int64_t *seq, char *err, size_t errlen)
{
	PGresult *res;
	int64_t last = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p[4] = {store_kind_name(items[i].kind), items[i].namespace_id, items[i].key,
				    items[i].body};
		char seqs[32];
		const char *dp[4] = {p[0], p[1], p[2], seqs};

		/* Under the append lock, max + 1 is free: the log stays gapless (a sequence would
		 * leave holes at every rollback and jump by its cache after a crash). */
		res = store_exec(s, "INSERT INTO fngate_changes (seq, kind, namespace_id, key, body) "
				 "SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4 FROM fngate_changes "
				 "RETURNING seq", 4, p, PGRES_TUPLES_OK, err, errlen);
		if (res == NULL)
			goto fail;
		last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		snprintf(seqs, sizeof(seqs), "%" PRId64, last);
		if (items[i].body == NULL) {
			if (store_cmd(s, "DELETE FROM fngate_items WHERE kind = $1 AND namespace_id = $2 "
				      "AND key = $3", 3, dp, err, errlen) != 0)
				goto fail;
			continue;
		}
		if (store_cmd(s, "INSERT INTO fngate_items (kind, namespace_id, key, body, seq) "
			      "VALUES ($1, $2, $3, $4, $5::bigint) ON CONFLICT (kind, namespace_id, key) "
			      "DO UPDATE SET body = EXCLUDED.body, seq = EXCLUDED.seq", 5,
			      (const char *const[]){p[0], p[1], p[2], p[3], seqs}, err, errlen) != 0)
			goto fail;
	}
	/* Delivered at commit, to every listener, after the rows are visible. */
	if (store_cmd(s, "NOTIFY " STORE_CHANNEL, 0, NULL, err, errlen) != 0)
		goto fail;
	res = PQexec(s->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* The server may have committed before the connection broke: say so. */
		store_seterr_pq(err, errlen, "store: COMMIT outcome unknown", PQerrorMessage(s->conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (seq != NULL)
		*seq = last;
	return 0;
fail:
	store_rollback(s);
	return -1;
}

/* In the append transaction: whether q's namespace already holds its quota. 1 (full: rolled
 * back), 0 (room), or -1 with err (rolled back). */
static int store_quota_full(struct store *s, const struct store_quota *q, char *err,
			    size_t errlen)
{
	char now[32];
	const char *p[2] = {q->ns, now};
	PGresult *res;
	unsigned long long n;

	snprintf(now, sizeof(now), "%" PRId64, q->now);
	res = store_exec(s, "SELECT count(*) FROM fngate_items WHERE quota_ns = $1 AND "
			 "(quota_expires = 0 OR quota_expires > $2::bigint)", 2, p, PGRES_TUPLES_OK,
			 err, errlen);
	if (res == NULL) {
		store_rollback(s);
		return -1;
	}
	n = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (n < q->max)
		return 0;
	store_rollback(s);
	return 1;
}

int store_apply(struct store *s, const struct store_item *items, size_t n,
		const struct store_quota *quota, int64_t *seq, char *err, size_t errlen)
{
	int full;

	for (size_t i = 0; i < n; i++)
		if (store_item_check(&items[i], err, errlen) != 0)
			return -1;
	if (store_begin_append(s, err, errlen) != 0)
		return -1;
	if (quota != NULL && (full = store_quota_full(s, quota, err, errlen)) != 0)
		return full;
	return store_put_commit(s, items, n, seq, err, errlen);
}

int store_claim(struct store *s, const struct store_item *it, char **key, char **body,
		char *err, size_t errlen)
{
	const char *p[2] = {store_kind_name(it->kind), it->namespace_id};
	PGresult *res;

	*key = *body = NULL;
	if (store_item_check(it, err, errlen) != 0 || it->body == NULL ||
	    store_begin_append(s, err, errlen) != 0)
		return -1;
	/* Under the append lock: no other claim can commit between this read and the insert. */
	res = store_exec(s, "SELECT key, body FROM fngate_items WHERE kind = $1 AND "
			 "namespace_id = $2 ORDER BY seq LIMIT 1", 2, p, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL) {
		store_rollback(s);
		return -1;
	}
	if (PQntuples(res) == 1) {
		*key = strdup(PQgetvalue(res, 0, 0));
		*body = strdup(PQgetvalue(res, 0, 1));
		PQclear(res);
		store_rollback(s);
		if (*key == NULL || *body == NULL) {
			free(*key);
			free(*body);
			*key = *body = NULL;
			util_seterr(err, errlen, "out of memory");
			return -1;
		}
		return 1;
	}
	PQclear(res);
	return store_put_commit(s, it, 1, NULL, err, errlen);
}

int store_replace(struct store *s, const struct store_item *it, char *err, size_t errlen)
{
	const char *p[3] = {store_kind_name(it->kind), it->namespace_id, it->key};
	struct store_item *items = NULL;
	PGresult *res;
	int n, rc = -1;

	if (store_item_check(it, err, errlen) != 0 || it->body == NULL ||
	    store_begin_append(s, err, errlen) != 0)
		return -1;
	/* Under the append lock: the items read here are the ones the deletions remove. */
	res = store_exec(s, "SELECT key FROM fngate_items WHERE kind = $1 AND namespace_id = $2 "
			 "AND key <> $3", 3, p, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL) {
		store_rollback(s);
		return -1;
	}
	n = PQntuples(res);
	items = calloc((size_t)n + 1, sizeof(*items));
	if (items == NULL) {
		util_seterr(err, errlen, "out of memory");
		store_rollback(s);
		goto cleanup;
	}
	for (int i = 0; i < n; i++)
		items[i] = (struct store_item){it->kind, it->namespace_id, PQgetvalue(res, i, 0), NULL};
	items[n] = *it;
	rc = store_put_commit(s, items, (size_t)n + 1, NULL, err, errlen);
cleanup:
	free(items);
	PQclear(res);
	return rc;
}

/* Deliver the rows of a changes query (seq, kind, namespace_id, key, body, committed_us) to cb.
 * *last advances with each change cb accepted. Returns the number delivered, or -1 when a row
 * is malformed or cb refused one. */
static int store_deliver(const PGresult *res, store_change_cb cb, void *arg,
			 struct store_mark *last)
{
	int n = PQntuples(res), i;

	for (i = 0; i < n; i++) {
		struct store_change ch = {0};

		ch.seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (store_kind_parse(PQgetvalue(res, i, 1), &ch.item.kind) != 0)
			return -1;
		ch.item.namespace_id = PQgetvalue(res, i, 2);
		ch.item.key = PQgetvalue(res, i, 3);
		ch.item.body = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
		ch.committed_us = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		if (cb(&ch, arg) != 0)
			return -1;
		*last = (struct store_mark){ch.seq, ch.committed_us};
	}
	return i;
}

#define STORE_COMMITTED_US "(extract(epoch FROM committed_at) * 1000000)::bigint"
#define STORE_CHANGES_SQL \
	"SELECT seq, kind, namespace_id, key, body, " STORE_COMMITTED_US " FROM fngate_changes " \
	"WHERE seq > $1::bigint ORDER BY seq LIMIT " STORE_BATCH_MAX_S
/* The commit time of the change at $1 (no row: the log has no such change) */
#define STORE_CHECK_SQL \
	"SELECT " STORE_COMMITTED_US " FROM fngate_changes WHERE seq = $1::bigint"
#define STORE_BATCH_MAX_S "1000"
_Static_assert(STORE_BATCH_MAX == 1000, "STORE_BATCH_MAX_S spells STORE_BATCH_MAX");

int store_changes_after(struct store *s, int64_t after, store_change_cb cb, void *arg,
			int64_t *last, char *err, size_t errlen)
{
	char a[32];
	const char *p[1] = {a};
	struct store_mark m = {after, -1};
	PGresult *res;
	int n;

	*last = after;
	if (store_conn(s, err, errlen) != 0)
		return -1;
	snprintf(a, sizeof(a), "%" PRId64, after);
	res = store_exec(s, STORE_CHANGES_SQL, 1, p, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		return -1;
	n = store_deliver(res, cb, arg, &m);
	*last = m.seq;
	PQclear(res);
	if (n < 0)
		util_seterr(err, errlen, "store: a change was refused or malformed");
	return n;
}

int store_snapshot(struct store *s, store_change_cb cb, void *arg, struct store_mark *at,
		   char *err, size_t errlen)
{
	PGresult *res = NULL;
	int rc = -1;

	/* One snapshot for both reads: the items are exactly the state at the position read. */
	if (store_begin(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen) != 0)
		goto cleanup;
	res = store_exec(s, "SELECT seq, " STORE_COMMITTED_US " FROM fngate_changes "
			 "ORDER BY seq DESC LIMIT 1", 0, NULL, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		goto cleanup;
	*at = PQntuples(res) == 0 ? (struct store_mark){0, -1} :
	      (struct store_mark){strtoll(PQgetvalue(res, 0, 0), NULL, 10),
				  strtoll(PQgetvalue(res, 0, 1), NULL, 10)};
	PQclear(res);
	res = store_exec(s, "SELECT 0, kind, namespace_id, key, body, 0 FROM fngate_items "
			 "ORDER BY seq", 0, NULL, PGRES_TUPLES_OK, err, errlen);
	if (res == NULL)
		goto cleanup;
	{
		struct store_mark unused;
		if (store_deliver(res, cb, arg, &unused) < 0) {
			util_seterr(err, errlen, "store: a snapshot item was refused or malformed");
			goto cleanup;
		}
	}
	rc = store_cmd(s, "COMMIT", 0, NULL, err, errlen);
cleanup:
	PQclear(res);
	if (rc != 0)
		store_rollback(s);
	return rc;
}

/* --- the watch: a non-blocking connection on the main loop --- */

static void store_watch_io(evutil_socket_t fd, short what, void *arg);

/* Close the watch connection (the position is kept: the next connection resumes from it). */
static void store_watch_drop(struct store *s)
{
	if (s->wev != NULL) {
		event_free(s->wev);
		s->wev = NULL;
	}
	PQfinish(s->wconn);
	s->wconn = NULL;
	s->wlistening = 0;
	s->wdirty = 0;
}

/* (Re)arm the socket event for `what` (EV_READ and/or EV_WRITE). libpq may change the socket
 * while it tries the hosts of a multi-host conninfo, so the event follows PQsocket. 0 / -1. */
static int store_watch_arm(struct store *s, short what)
{
	int fd = PQsocket(s->wconn);

	if (fd < 0)
		return -1;
	if (s->wev != NULL) {
		event_free(s->wev);
		s->wev = NULL;
	}
	s->wev = event_new(s->base, fd, what | EV_PERSIST, store_watch_io, s);
	if (s->wev == NULL || event_add(s->wev, NULL) != 0)
		return -1;
	return 0;
}

/* The connection failed or broke: drop it, tell the node, and retry after the backoff. */
static void store_watch_fail(struct store *s, const char *why)
{
	struct timeval tv;
	int was_up = s->wstate == STORE_W_READY || s->wstate == STORE_W_QUERY ||
		     s->wstate == STORE_W_CHECK;

	log_msg(LOG_LVL_WARN, "store watch: %.*s; retrying in %d ms", (int)strcspn(why, "\n"), why,
		s->wbackoff_ms);
	store_watch_drop(s);
	s->wstate = STORE_W_IDLE;
	tv.tv_sec = s->wbackoff_ms / 1000;
	tv.tv_usec = (s->wbackoff_ms % 1000) * 1000;
	evtimer_add(s->wtimer, &tv);
	s->wbackoff_ms = s->wbackoff_ms * 2 > STORE_BACKOFF_MAX_MS ? STORE_BACKOFF_MAX_MS
								   : s->wbackoff_ms * 2;
	if (was_up && s->wstatus != NULL)
		s->wstatus(0, 0, s->wmark.seq, s->warg);
}

/* Send a statement on the watch connection (LISTEN, the check of the last applied change, or
 * the catch-up read: `state` says which of the last two). 0 / -1. */
static int store_watch_send(struct store *s, enum store_watch_state state)
{
	char a[32];
	const char *p[1] = {a};
	int ok;

	snprintf(a, sizeof(a), "%" PRId64, s->wmark.seq);
	if (!s->wlistening)
		ok = PQsendQuery(s->wconn, "LISTEN " STORE_CHANNEL);
	else
		ok = PQsendQueryParams(s->wconn, state == STORE_W_CHECK ? STORE_CHECK_SQL :
					STORE_CHANGES_SQL, 1, NULL, p, NULL, NULL, 0);
	if (!ok)
		return -1;
	s->wstate = state;
	s->wbatch = 0;
	/* In non-blocking mode the query may not all be sent yet: wait for writability then. */
	return store_watch_arm(s, PQflush(s->wconn) == 1 ? EV_READ | EV_WRITE : EV_READ);
}

/* Drain the notifications received so far. Returns how many there were. */
static int store_watch_notifies(struct store *s)
{
	PGnotify *n;
	int count = 0;

	while ((n = PQnotifies(s->wconn)) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

/* The check of the last applied change is answered (same: the log still holds it, with its
 * commit time): when it is not the same, the node resets (store_reset_cb) before the catch-up
 * reads on from its new point. */
static void store_watch_checked(struct store *s, int same)
{
	if (!same) {
		log_msg(LOG_LVL_WARN, "store watch: the log does not hold change %lld as applied "
			"here%s; loading the store's snapshot", (long long)s->wmark.seq,
			s->wmark.committed_us < 0 ? " (not known since a start from the local snapshot)" :
			" (the store lost its last changes: a failover to a standby that lacked them, "
			"or a restore?)");
		if (s->wreset(&s->wmark, s->warg) != 0) {
			store_watch_fail(s, "loading the store's snapshot failed");
			return;
		}
	}
	if (store_watch_send(s, STORE_W_QUERY) != 0)
		store_watch_fail(s, PQerrorMessage(s->wconn));
}

/* A statement's results are all in: LISTEN done, the check done, or one catch-up batch
 * delivered. Decide what comes next: the check, another batch (a full one, or notifications
 * meanwhile), or rest in READY. */
static void store_watch_done(struct store *s)
{
	int more;

	if (s->wstate == STORE_W_CHECK) {
		store_watch_checked(s, s->wsame);
		return;
	}
	if (!s->wlistening) {
		/* Listening from here on: any change committed after this point is notified, and the
		 * catch-up read that follows sees every one committed before. Nothing falls between. */
		s->wlistening = 1;
		s->wbackoff_ms = STORE_BACKOFF_MIN_MS;
		if (s->wstatus != NULL)
			s->wstatus(1, 0, s->wmark.seq, s->warg);
		if (s->wreset != NULL && s->wmark.seq > 0) {
			if (s->wmark.committed_us < 0)
				store_watch_checked(s, 0);
			else if (store_watch_send(s, STORE_W_CHECK) != 0)
				store_watch_fail(s, PQerrorMessage(s->wconn));
			return;
		}
		more = 1;
	} else {
		more = s->wbatch == STORE_BATCH_MAX || s->wdirty || store_watch_notifies(s) > 0;
	}
	s->wdirty = 0;
	if (more) {
		if (store_watch_send(s, STORE_W_QUERY) != 0)
			store_watch_fail(s, PQerrorMessage(s->wconn));
		return;
	}
	s->wstate = STORE_W_READY;
	if (store_watch_arm(s, EV_READ) != 0) {
		store_watch_fail(s, "cannot watch the store's socket");
		return;
	}
	if (s->wstatus != NULL)
		s->wstatus(1, 1, s->wmark.seq, s->warg);
}

/* Read what the server sent while a statement runs; deliver rows; on completion, go on. */
static void store_watch_results(struct store *s)
{
	PGresult *res;

	while (!PQisBusy(s->wconn)) {
		res = PQgetResult(s->wconn);
		if (res == NULL) {
			store_watch_done(s);
			return;
		}
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
			break;
		case PGRES_TUPLES_OK: {
			int n;

			if (s->wstate == STORE_W_CHECK) {
				s->wsame = PQntuples(res) == 1 &&
					   strtoll(PQgetvalue(res, 0, 0), NULL, 10) ==
					   s->wmark.committed_us;
				break;
			}
			n = store_deliver(res, s->wcb, s->warg, &s->wmark);
			if (n < 0) {
				PQclear(res);
				store_watch_fail(s, "a change was refused or malformed");
				return;
			}
			s->wbatch = n;
			break;
		}
		default:
			store_watch_fail(s, PQresultErrorMessage(res));
			PQclear(res);
			return;
		}
		PQclear(res);
	}
}

static void store_watch_io(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	(void)fd;

	if (s->wstate == STORE_W_CONNECTING) {
		switch (PQconnectPoll(s->wconn)) {
		case PGRES_POLLING_READING:
			if (store_watch_arm(s, EV_READ) != 0)
				store_watch_fail(s, "cannot watch the store's socket");
			return;
		case PGRES_POLLING_WRITING:
			if (store_watch_arm(s, EV_WRITE) != 0)
				store_watch_fail(s, "cannot watch the store's socket");
			return;
		case PGRES_POLLING_OK:
			if (PQsetnonblocking(s->wconn, 1) != 0 ||
			    store_watch_send(s, STORE_W_QUERY) != 0)
				store_watch_fail(s, PQerrorMessage(s->wconn));
			return;
		default:
			store_watch_fail(s, PQerrorMessage(s->wconn));
			return;
		}
	}
	if ((what & EV_WRITE) != 0) {
		int f = PQflush(s->wconn);
		if (f == -1) {
			store_watch_fail(s, PQerrorMessage(s->wconn));
			return;
		}
		if (f == 0 && store_watch_arm(s, EV_READ) != 0) {
			store_watch_fail(s, "cannot watch the store's socket");
			return;
		}
	}
	if ((what & EV_READ) == 0)
		return;
	if (!PQconsumeInput(s->wconn)) {
		store_watch_fail(s, PQerrorMessage(s->wconn));
		return;
	}
	if (s->wstate == STORE_W_QUERY || s->wstate == STORE_W_CHECK) {
		/* Notifications that arrive during a catch-up read call for one more read after it. */
		if (store_watch_notifies(s) > 0)
			s->wdirty = 1;
		store_watch_results(s);
		return;
	}
	if (store_watch_notifies(s) > 0 && store_watch_send(s, STORE_W_QUERY) != 0)
		store_watch_fail(s, PQerrorMessage(s->wconn));
}

/* Backoff elapsed (or first start): begin a non-blocking connection. */
static void store_watch_connect(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	(void)fd;
	(void)what;

	s->wconn = store_connect_params(s->conninfo, 1);
	if (s->wconn == NULL || PQstatus(s->wconn) == CONNECTION_BAD) {
		store_watch_fail(s, s->wconn != NULL ? PQerrorMessage(s->wconn) : "out of memory");
		return;
	}
	s->wstate = STORE_W_CONNECTING;
	/* libpq's contract: after PQconnectStart, wait until the socket is writable, then poll. */
	if (store_watch_arm(s, EV_WRITE) != 0)
		store_watch_fail(s, "cannot watch the store's socket");
}

int store_watch(struct store *s, struct event_base *base, const struct store_mark *from,
		store_change_cb cb, store_status_cb status, store_reset_cb reset, void *arg)
{
	if (s->base != NULL)
		return -1;
	s->wtimer = evtimer_new(base, store_watch_connect, s);
	if (s->wtimer == NULL)
		return -1;
	s->base = base;
	s->wmark = *from;
	s->wcb = cb;
	s->wstatus = status;
	s->wreset = reset;
	s->warg = arg;
	s->wbackoff_ms = STORE_BACKOFF_MIN_MS;
	store_watch_connect(-1, 0, s);
	return 0;
}

int64_t store_watch_position(const struct store *s)
{
	return s->wmark.seq;
}
