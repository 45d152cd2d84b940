/* metrics.c - Prometheus metrics: per-worker counters written without locks on the request
 * path, summed at scrape time into the text exposition format 0.0.4. */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "fleet.h"
#include "log.h"
#include "outcome.h"
#include "registry.h"
#include "revoke.h"
#include "tcache.h"
#include "util.h"

/* One counter per outcome (outcome.h): the outcome is the reason label's index. */
#define METRICS_NREASONS    ((unsigned)OUT_COUNT)

/* Upstream latency buckets (upper bounds, microseconds): from loopback functions to the
 * longest configurable upstream_response_ms worth distinguishing. */
static const uint64_t metrics_bounds_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};
static const char *const metrics_bounds_s[] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
};
#define METRICS_NBOUNDS     (sizeof(metrics_bounds_us) / sizeof(metrics_bounds_us[0]))
#define METRICS_NBUCKETS    (METRICS_NBOUNDS + 1)     /* + "+Inf" */

_Static_assert(sizeof(metrics_bounds_s) / sizeof(metrics_bounds_s[0]) == METRICS_NBOUNDS,
	       "one label per latency bound");

/* The counters of one function (or of "no function"), by reason and status class. */
struct metrics_cells {
	_Atomic uint64_t n[METRICS_NREASONS][METRICS_NCLASSES];
};

/* Per-function counters of one worker for one configuration snapshot. */
struct metrics_table {
	struct conf           *conf;    /* a reference: resolves slot -> ids at scrape time */
	size_t                 nslots;  /* conf->nfunctions + 1; the last slot is "no function" */
	struct metrics_cells **slot;    /* allocated on a function's first request */
};

struct metrics_pool {
	char    *key;                   /* "host:port" */
	uint64_t idle;                  /* HTTP/1.1 pooled, or HTTP/2 without a call */
	uint64_t h2_conns;              /* open HTTP/2 connections (h2up.c) */
	uint64_t h2_streams;            /* calls they carry */
};

/* What a worker reports when a scrape asks (metrics_gauges_*). */
struct metrics_gauges {
	struct tcache_stats   cache;
	struct metrics_pool  *pools;
	size_t                npools;
	size_t                cappools;
	unsigned              conns;
};

struct metrics_worker {
	metrics_report_fn     report;   /* the worker's: fills `g` on its own thread */
	void                 *report_arg;
	struct event         *snap_ev;  /* a scrape wakes it: the worker copies its gauges */
	int                   snap_fd;  /* its eventfd: written by the scraper, read by the worker */
	/* The worker changes `table` and fills `table->slot` under metrics_lock; the scraper reads
	 * them under metrics_lock; the worker alone reads them without (it is their only writer). */
	struct metrics_table *table;
	_Atomic uint64_t      hist[METRICS_NBUCKETS];   /* their sum is the count */
	_Atomic uint64_t      hist_sum_us;
	/* Gauges the worker reports when asked (under metrics_lock). */
	uint64_t              snap_want;
	uint64_t              snap_have;
	struct metrics_gauges g;
	LIST_ENTRY(metrics_worker) entry;
};

/* Counts of tables retired by a reload or a stopped worker, by namespace and function id. */
struct metrics_agg {
	char                *ns;
	char                *fn;
	struct metrics_cells cells;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t metrics_cond = PTHREAD_COND_INITIALIZER;
static LIST_HEAD(, metrics_worker) metrics_workers = LIST_HEAD_INITIALIZER(metrics_workers);
static struct metrics_agg **metrics_agg;        /* sorted by (ns, fn) */
static size_t metrics_nagg, metrics_capagg;
static uint64_t metrics_seq;
static int64_t metrics_started_at;
/* What stopped workers leave behind (under metrics_lock). */
static uint64_t retired_hist[METRICS_NBUCKETS], retired_hist_sum_us;
static struct tcache_stats retired_cache;

static _Atomic uint64_t tls_ok, tls_failed;
static _Atomic uint64_t h2_events[METRICS_H2_COUNT];
static _Atomic uint64_t tunnels_open, tunnels_total, tunnel_bytes_up, tunnel_bytes_down;
static _Atomic uint64_t hdr_dropped[METRICS_NHDRDROP];
static _Atomic uint64_t reloads_ok, reloads_failed;
static _Atomic int64_t reload_ok_at, reload_failed_at;

/* The owner's increment: a relaxed load and store (no locked instruction), so that a scraper
 * reading with a relaxed load sees a whole value. */
static inline void bump(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static inline uint64_t rd(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* ---------------------------------------------------------------- reasons */

/* ---------------------------------------------------------------- tables */

static struct metrics_table *table_new(struct conf *c)
{
	struct metrics_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->nslots = c->nfunctions + 1;
	t->slot = calloc(t->nslots, sizeof(*t->slot));
	if (t->slot == NULL) {
		free(t);
		return NULL;
	}
	t->conf = conf_ref(c);
	return t;
}

static void table_free(struct metrics_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nslots; i++)
		free(t->slot[i]);
	free(t->slot);
	conf_unref(t->conf);
	free(t);
}

/* Namespace and function id of a table slot ("" and "" for requests no function matched). */
static void slot_ids(const struct metrics_table *t, size_t i, const char **ns, const char **fn)
{
	const struct conf_function *f = i + 1 < t->nslots ? t->conf->functions[i] : NULL;

	*ns = f != NULL && f->ns != NULL ? f->ns->id : "";
	*fn = f != NULL ? f->id : "";
}

/* The retired counts of (ns, fn), created when absent. Under metrics_lock. NULL: no memory. */
static struct metrics_agg *agg_get(const char *ns, const char *fn)
{
	size_t lo = 0, hi = metrics_nagg;
	struct metrics_agg *a;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(metrics_agg[mid]->ns, ns);

		if (d == 0)
			d = strcmp(metrics_agg[mid]->fn, fn);
		if (d == 0)
			return metrics_agg[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (metrics_nagg == metrics_capagg) {
		size_t cap = metrics_capagg ? 2 * metrics_capagg : 16;
		struct metrics_agg **v = realloc(metrics_agg, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		metrics_agg = v;
		metrics_capagg = cap;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->ns = strdup(ns);
	a->fn = strdup(fn);
	if (a->ns == NULL || a->fn == NULL) {
		free(a->ns);
		free(a->fn);
		free(a);
		return NULL;
	}
	memmove(metrics_agg + lo + 1, metrics_agg + lo, (metrics_nagg - lo) * sizeof(*metrics_agg));
	metrics_agg[lo] = a;
	metrics_nagg++;
	return a;
}

/* Add a table's counts to the retired ones. Under metrics_lock. */
static void table_fold(struct metrics_table *t)
{
	for (size_t i = 0; i < t->nslots; i++) {
		struct metrics_cells *cells = t->slot[i];
		struct metrics_agg *a;
		const char *ns, *fn;

		if (cells == NULL)
			continue;
		slot_ids(t, i, &ns, &fn);
		a = agg_get(ns, fn);
		if (a == NULL)
			continue;   /* out of memory: these counts are lost, nothing worse */
		for (size_t r = 0; r < METRICS_NREASONS; r++)
			for (size_t k = 0; k < METRICS_NCLASSES; k++)
				bump(&a->cells.n[r][k], rd(&cells->n[r][k]));
	}
}

/* The request's snapshot is not the table's. Returns 0 when m->table is now c's (count there),
 * 1 when the request was counted here already, -1 when it could not be counted. */
static int table_switch(struct metrics_worker *m, struct conf *c, const struct conf_function *fn,
			unsigned reason, unsigned cls)
{
	struct metrics_table *old = m->table, *nt;
	int rc = 1;

	if (old != NULL && c->generation < old->conf->generation) {
		/* Started before a reload, finished after it (rare): counted by id at once. */
		struct metrics_agg *a;

		pthread_mutex_lock(&metrics_lock);
		a = agg_get(fn != NULL && fn->ns != NULL ? fn->ns->id : "", fn != NULL ? fn->id : "");
		if (a != NULL)
			bump(&a->cells.n[reason][cls], 1);
		else
			rc = -1;
		pthread_mutex_unlock(&metrics_lock);
		return rc;
	}
	nt = table_new(c);
	if (nt == NULL)
		return -1;
	pthread_mutex_lock(&metrics_lock);
	if (old != NULL)
		table_fold(old);
	m->table = nt;
	pthread_mutex_unlock(&metrics_lock);
	/* No scraper can hold `old` now: they only read tables under metrics_lock. */
	table_free(old);
	return 0;
}

static struct metrics_cells *cells_new(struct metrics_table *t, size_t slot)
{
	struct metrics_cells *cells = calloc(1, sizeof(*cells));

	if (cells == NULL)
		return NULL;
	pthread_mutex_lock(&metrics_lock);
	t->slot[slot] = cells;
	pthread_mutex_unlock(&metrics_lock);
	return cells;
}

void metrics_request(struct metrics_worker *m, struct conf *c, const struct conf_function *fn,
		     enum outcome final, int status, int64_t upstream_us)
{
	struct metrics_table *t;
	struct metrics_cells *cells;
	unsigned reason, cls;
	size_t slot;

	if (m == NULL || c == NULL)
		return;
	if (upstream_us >= 0) {
		uint64_t us = (uint64_t)upstream_us;
		size_t b = 0;

		while (b < METRICS_NBOUNDS && us > metrics_bounds_us[b])
			b++;
		bump(&m->hist[b], 1);
		bump(&m->hist_sum_us, us);
	}
	reason = (unsigned)final < METRICS_NREASONS ? (unsigned)final : (unsigned)OUT_NONE;
	cls = status >= 100 && status < 600 ? (unsigned)status / 100 : METRICS_CLASS_OTHER;
	t = m->table;
	if (__builtin_expect(t == NULL || t->conf != c, 0)) {
		if (table_switch(m, c, fn, reason, cls) != 0)
			return;
		t = m->table;
	}
	slot = fn != NULL && fn->index + 1 < t->nslots ? fn->index : t->nslots - 1;
	cells = t->slot[slot];
	if (__builtin_expect(cells == NULL, 0) && (cells = cells_new(t, slot)) == NULL)
		return;
	bump(&cells->n[reason][cls], 1);
}

/* ---------------------------------------------------------------- workers */

/* A new pool entry for key (zeroed figures), or NULL when out of memory (the entry is then
 * missing from this scrape). */
static struct metrics_pool *pool_add(struct metrics_gauges *g, const char *key)
{
	struct metrics_pool *p;

	if (g->npools == g->cappools) {
		size_t cap = g->cappools ? 2 * g->cappools : 8;
		struct metrics_pool *v = realloc(g->pools, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		g->pools = v;
		g->cappools = cap;
	}
	p = &g->pools[g->npools];
	*p = (struct metrics_pool){.key = strdup(key)};
	if (p->key == NULL)
		return NULL;
	g->npools++;
	return p;
}

void metrics_gauges_pool(struct metrics_gauges *g, const char *key, unsigned nidle)
{
	struct metrics_pool *p = pool_add(g, key);

	if (p != NULL)
		p->idle = nidle;
}

void metrics_gauges_h2(struct metrics_gauges *g, const char *key, unsigned nstreams)
{
	struct metrics_pool *p = pool_add(g, key);

	if (p != NULL) {
		p->idle = nstreams == 0;
		p->h2_conns = 1;
		p->h2_streams = nstreams;
	}
}

void metrics_gauges_cache(struct metrics_gauges *g, const struct tcache_stats *s)
{
	g->cache = *s;
}

void metrics_gauges_conns(struct metrics_gauges *g, unsigned n)
{
	g->conns = n;
}

static void pools_clear(struct metrics_gauges *g)
{
	for (size_t i = 0; i < g->npools; i++)
		free(g->pools[i].key);
	g->npools = 0;
}

/* On the worker's thread, asked by a scrape: the worker reports the gauges only it may read. */
static void snap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_worker *m = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;         /* spurious: nothing was asked */
	pthread_mutex_lock(&metrics_lock);
	pools_clear(&m->g);
	m->report(m->report_arg, &m->g);
	m->snap_have = m->snap_want;
	pthread_cond_broadcast(&metrics_cond);
	pthread_mutex_unlock(&metrics_lock);
}

struct metrics_worker *metrics_worker_new(struct event_base *base, metrics_report_fn report,
					  void *arg)
{
	struct metrics_worker *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->report = report;
	m->report_arg = arg;
	if (base != NULL && report != NULL) {
		/* An eventfd rather than event_active from the scraping thread: the event bases
		 * are used without libevent's locks (each belongs to one thread). */
		m->snap_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		m->snap_ev = m->snap_fd == -1 ? NULL :
		    event_new(base, m->snap_fd, EV_READ | EV_PERSIST, snap_cb, m);
		if (m->snap_ev == NULL || event_add(m->snap_ev, NULL) != 0) {
			if (m->snap_ev != NULL)
				event_free(m->snap_ev);
			if (m->snap_fd != -1)
				close(m->snap_fd);
			free(m);
			return NULL;
		}
	}
	pthread_mutex_lock(&metrics_lock);
	if (metrics_started_at == 0)
		metrics_started_at = util_now();
	LIST_INSERT_HEAD(&metrics_workers, m, entry);
	pthread_mutex_unlock(&metrics_lock);
	return m;
}

void metrics_worker_free(struct metrics_worker *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&metrics_lock);
	LIST_REMOVE(m, entry);
	if (m->table != NULL)
		table_fold(m->table);
	for (size_t b = 0; b < METRICS_NBUCKETS; b++)
		retired_hist[b] += rd(&m->hist[b]);
	retired_hist_sum_us += rd(&m->hist_sum_us);
	if (m->report != NULL) {
		/* The worker has stopped: it can report from this thread now, a last time. */
		pools_clear(&m->g);
		m->report(m->report_arg, &m->g);
		retired_cache.hits += m->g.cache.hits;
		retired_cache.misses += m->g.cache.misses;
		retired_cache.evictions += m->g.cache.evictions;
	}
	pthread_mutex_unlock(&metrics_lock);
	if (m->snap_ev != NULL) {
		event_free(m->snap_ev);
		close(m->snap_fd);
	}
	table_free(m->table);
	pools_clear(&m->g);
	free(m->g.pools);
	free(m);
}

void metrics_tls_handshake(bool ok)
{
	/* A handshake costs hundreds of microseconds: one shared atomic add is noise. */
	atomic_fetch_add_explicit(ok ? &tls_ok : &tls_failed, 1, memory_order_relaxed);
}

void metrics_h2(enum metrics_h2 which)
{
	/* Per connection, not per request: a shared atomic add is noise. */
	atomic_fetch_add_explicit(&h2_events[which], 1, memory_order_relaxed);
}

void metrics_header_dropped(enum metrics_hdrdrop which)
{
	atomic_fetch_add_explicit(&hdr_dropped[which], 1, memory_order_relaxed);
}

void metrics_tunnel_open(void)
{
	atomic_fetch_add_explicit(&tunnels_open, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&tunnels_total, 1, memory_order_relaxed);
}

void metrics_tunnel_close(uint64_t up, uint64_t down)
{
	atomic_fetch_sub_explicit(&tunnels_open, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&tunnel_bytes_up, up, memory_order_relaxed);
	atomic_fetch_add_explicit(&tunnel_bytes_down, down, memory_order_relaxed);
}

void metrics_reload(bool ok, int64_t when)
{
	atomic_fetch_add_explicit(ok ? &reloads_ok : &reloads_failed, 1, memory_order_relaxed);
	atomic_store_explicit(ok ? &reload_ok_at : &reload_failed_at, when, memory_order_relaxed);
}

/* ---------------------------------------------------------------- rendering */

size_t metrics_escape_label(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (; *s != '\0'; s++) {
		char esc[2];
		size_t el = 1;

		esc[0] = *s;
		if (*s == '\\' || *s == '"') {
			esc[0] = '\\';
			esc[1] = *s;
			el = 2;
		} else if (*s == '\n') {
			esc[0] = '\\';
			esc[1] = 'n';
			el = 2;
		}
		if (o + el >= cap)
			break;
		memcpy(out + o, esc, el);
		o += el;
	}
	out[o] = '\0';
	return o;
}

/* A growing output buffer; `failed` once an allocation failed (the result is then NULL). */
struct mbuf {
	char  *p;
	size_t len;
	size_t cap;
	bool   failed;
};

static bool mb_reserve(struct mbuf *b, size_t n)
{
	char *p;
	size_t cap;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !mb_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append a label value, escaped. */
static void mb_label(struct mbuf *b, const char *s)
{
	size_t need = 2 * strlen(s) + 1;

	if (!mb_reserve(b, need))
		return;
	b->len += metrics_escape_label(s, b->p + b->len, need + 1);
}

static void mb_family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One source of per-function counts at scrape time. */
struct metrics_row {
	const char           *ns;
	const char           *fn;
	struct metrics_cells *cells;
};

static int row_cmp(const void *a, const void *b)
{
	const struct metrics_row *x = a, *y = b;
	int d = strcmp(x->ns, y->ns);

	return d != 0 ? d : strcmp(x->fn, y->fn);
}

static int pool_cmp(const void *a, const void *b)
{
	return strcmp(((const struct metrics_pool *)a)->key, ((const struct metrics_pool *)b)->key);
}

/* The pool gauges from the workers' entries, sorted by key: one sample per endpoint, summed
 * over its entries (workers, HTTP/2 connections); the HTTP/2 families only for endpoints that
 * have HTTP/2 connections. */
static void render_pools(struct mbuf *b, const struct metrics_pool *pools, size_t npools)
{
	static const struct {
		const char *name, *help;
		size_t      field;      /* offset of the figure in struct metrics_pool */
		bool        h2;
	} fam[] = {
		{"fngate_upstream_idle_connections",
		 "Idle keep-alive connections per upstream endpoint (HTTP/1.1 pooled, HTTP/2 without a "
		 "call; all workers).", offsetof(struct metrics_pool, idle), false},
		{"fngate_upstream_h2_connections",
		 "Open HTTP/2 connections per upstream endpoint (all workers).",
		 offsetof(struct metrics_pool, h2_conns), true},
		{"fngate_upstream_h2_streams",
		 "Calls in flight on HTTP/2 connections per upstream endpoint (all workers).",
		 offsetof(struct metrics_pool, h2_streams), true},
	};

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		mb_family(b, fam[f].name, "gauge", fam[f].help);
		for (size_t i = 0; i < npools; ) {
			size_t j = i;
			uint64_t v = 0, conns = 0;

			for (; j < npools && strcmp(pools[i].key, pools[j].key) == 0; j++) {
				v += *(const uint64_t *)((const char *)&pools[j] + fam[f].field);
				conns += pools[j].h2_conns;
			}
			if (!fam[f].h2 || conns > 0) {
				mb_printf(b, "%s{upstream=\"", fam[f].name);
				mb_label(b, pools[i].key);
				mb_printf(b, "\"} %llu\n", (unsigned long long)v);
			}
			i = j;
		}
	}
}

/* fngate_requests_total: every (ns, fn) row merged, non-zero cells only. Under metrics_lock. */
static void render_requests(struct mbuf *b)
{
	struct metrics_worker *m;
	struct metrics_row *rows;
	size_t n = metrics_nagg, i, j;
	uint64_t sum[METRICS_NREASONS][METRICS_NCLASSES];
	static const char *const classes[METRICS_NCLASSES] = {"other", "1xx", "2xx", "3xx", "4xx",
							       "5xx"};

	mb_family(b, "fngate_requests_total", "counter",
		  "Requests answered, by namespace, function, decision, reason and status class.");
	LIST_FOREACH(m, &metrics_workers, entry)
		if (m->table != NULL)
			n += m->table->nslots;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (rows == NULL) {
		b->failed = true;
		return;
	}
	n = 0;
	for (i = 0; i < metrics_nagg; i++)
		rows[n++] = (struct metrics_row){metrics_agg[i]->ns, metrics_agg[i]->fn,
						 &metrics_agg[i]->cells};
	LIST_FOREACH(m, &metrics_workers, entry) {
		if (m->table == NULL)
			continue;
		for (i = 0; i < m->table->nslots; i++) {
			if (m->table->slot[i] == NULL)
				continue;
			slot_ids(m->table, i, &rows[n].ns, &rows[n].fn);
			rows[n++].cells = m->table->slot[i];
		}
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	for (i = 0; i < n; i = j) {
		memset(sum, 0, sizeof(sum));
		for (j = i; j < n && row_cmp(&rows[i], &rows[j]) == 0; j++)
			for (size_t r = 0; r < METRICS_NREASONS; r++)
				for (size_t k = 0; k < METRICS_NCLASSES; k++)
					sum[r][k] += rd(&rows[j].cells->n[r][k]);
		for (size_t r = 0; r < METRICS_NREASONS; r++) {
			for (size_t k = 0; k < METRICS_NCLASSES; k++) {
				if (sum[r][k] == 0)
					continue;
				mb_printf(b, "fngate_requests_total{namespace=\"");
				mb_label(b, rows[i].ns);
				mb_printf(b, "\",function=\"");
				mb_label(b, rows[i].fn);
				mb_printf(b, "\",decision=\"%s\",reason=\"%s\",status_class=\"%s\"} %llu\n",
					  outcome_decision_name(outcome_table[r].decision),
					  outcome_table[r].name, classes[k],
					  (unsigned long long)sum[r][k]);
			}
		}
	}
	free(rows);
}

/* Ask every worker for its gauges and wait (bounded) for the answers. Under metrics_lock. */
static void snapshot_workers(void)
{
	struct metrics_worker *m;
	struct timespec deadline;
	uint64_t seq = ++metrics_seq;
	bool waiting = false;

	LIST_FOREACH(m, &metrics_workers, entry) {
		if (m->snap_ev == NULL)
			continue;
		m->snap_want = seq;
		{
			uint64_t one = 1;

			if (write(m->snap_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
				continue;       /* counter saturated: a wake-up is pending anyway */
		}
		waiting = true;
	}
	if (!waiting)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += (long)METRICS_SNAPSHOT_MS * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	for (;;) {
		bool all = true;

		LIST_FOREACH(m, &metrics_workers, entry)
			if (m->snap_ev != NULL && m->snap_have != seq)
				all = false;
		if (all)
			return;
		if (pthread_cond_timedwait(&metrics_cond, &metrics_lock, &deadline) == ETIMEDOUT)
			return;
	}
}

/* Fleet mode's families (docs/fleet.md), only on nodes in fleet mode. */
static void render_fleet(struct mbuf *b)
{
	struct fleet_status st;

	if (fleet_status(&st) != 0)
		return;
	mb_family(b, "fngate_store_connected", "gauge",
		  "1 while the connection following the shared store's change log is up.");
	mb_printf(b, "fngate_store_connected %d\n", st.connected ? 1 : 0);
	mb_family(b, "fngate_store_stale", "gauge",
		  "1 while the store has not been heard from for longer than max_staleness_s.");
	mb_printf(b, "fngate_store_stale %d\n", st.stale ? 1 : 0);
	mb_family(b, "fngate_store_position", "gauge",
		  "Position in the store's change log of the last change applied.");
	mb_printf(b, "fngate_store_position %lld\n", (long long)st.position);
	mb_family(b, "fngate_store_changes_applied_total", "counter",
		  "Changes of the store's log applied to this node since it started.");
	mb_printf(b, "fngate_store_changes_applied_total %llu\n", (unsigned long long)st.applied);
	mb_family(b, "fngate_store_resets_total", "counter",
		  "Times this node loaded the store's snapshot again because the log no longer held "
		  "the change it had applied last (or it started from its local snapshot).");
	mb_printf(b, "fngate_store_resets_total %llu\n", (unsigned long long)st.resets);
	mb_family(b, "fngate_store_last_heard_seconds", "gauge",
		  "Seconds since the store was last heard from (0 while connected and caught up; "
		  "-1: never since start).");
	mb_printf(b, "fngate_store_last_heard_seconds %.3f\n", st.heard_age_s);
	mb_family(b, "fngate_store_stale_served_total", "counter",
		  "Private calls served while stale (stale_policy serve).");
	mb_printf(b, "fngate_store_stale_served_total %llu\n",
		  (unsigned long long)revoke_stale_served());
	mb_family(b, "fngate_store_apply_lag_seconds", "histogram",
		  "From a change's commit (the database's clock) to its application on this node.");
	for (int i = 0; i < FLEET_LAG_BUCKETS; i++)
		mb_printf(b, "fngate_store_apply_lag_seconds_bucket{le=\"%g\"} %llu\n",
			  fleet_lag_bounds_s[i], (unsigned long long)st.lag_le[i]);
	mb_printf(b, "fngate_store_apply_lag_seconds_bucket{le=\"+Inf\"} %llu\n",
		  (unsigned long long)st.lag_count);
	mb_printf(b, "fngate_store_apply_lag_seconds_sum %.6f\n", st.lag_sum_s);
	mb_printf(b, "fngate_store_apply_lag_seconds_count %llu\n",
		  (unsigned long long)st.lag_count);
}

char *metrics_render(const struct registry *reg, size_t *len)
{
	struct mbuf b = {0};
	struct metrics_worker *m;
	struct conf *c = conf_acquire();
	uint64_t hist[METRICS_NBUCKETS], hsum, cum = 0;
	struct tcache_stats cache;
	struct metrics_pool *pools = NULL;
	size_t npools = 0, i;
	unsigned conns = 0;
	int nworkers = 0;

	pthread_mutex_lock(&metrics_lock);
	snapshot_workers();
	mb_family(&b, "fngate_build_info", "gauge", "fngate's version, always 1.");
	mb_printf(&b, "fngate_build_info{version=\"%s\"} 1\n", FNGATE_VERSION);
	mb_family(&b, "fngate_start_time_seconds", "gauge", "When the daemon started (Unix time).");
	mb_printf(&b, "fngate_start_time_seconds %lld\n", (long long)metrics_started_at);
	render_requests(&b);

	memcpy(hist, retired_hist, sizeof(hist));
	hsum = retired_hist_sum_us;
	cache = retired_cache;
	LIST_FOREACH(m, &metrics_workers, entry) {
		nworkers++;
		for (i = 0; i < METRICS_NBUCKETS; i++)
			hist[i] += rd(&m->hist[i]);
		hsum += rd(&m->hist_sum_us);
		cache.hits += m->g.cache.hits;
		cache.misses += m->g.cache.misses;
		cache.evictions += m->g.cache.evictions;
		conns += m->g.conns;
		npools += m->g.npools;
	}
	if (npools > 0 && (pools = calloc(npools, sizeof(*pools))) != NULL) {
		npools = 0;
		LIST_FOREACH(m, &metrics_workers, entry)
			for (i = 0; i < m->g.npools; i++)
				pools[npools++] = m->g.pools[i];  /* keys borrowed under the lock */
		qsort(pools, npools, sizeof(*pools), pool_cmp);
	} else {
		npools = 0;
	}
	mb_family(&b, "fngate_upstream_latency_seconds", "histogram",
		  "Time from sending a request upstream to the upstream's response head.");
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += hist[i];
		mb_printf(&b, "fngate_upstream_latency_seconds_bucket{le=\"%s\"} %llu\n",
			  i < METRICS_NBOUNDS ? metrics_bounds_s[i] : "+Inf", (unsigned long long)cum);
	}
	mb_printf(&b, "fngate_upstream_latency_seconds_sum %llu.%06llu\n",
		  (unsigned long long)(hsum / 1000000), (unsigned long long)(hsum % 1000000));
	mb_printf(&b, "fngate_upstream_latency_seconds_count %llu\n", (unsigned long long)cum);
	render_pools(&b, pools, npools);
	free(pools);
	pthread_mutex_unlock(&metrics_lock);

	mb_family(&b, "fngate_token_cache_hits_total", "counter",
		  "Verified-token cache lookups that hit (all workers).");
	mb_printf(&b, "fngate_token_cache_hits_total %llu\n", (unsigned long long)cache.hits);
	mb_family(&b, "fngate_token_cache_misses_total", "counter",
		  "Verified-token cache lookups that missed: the token was verified.");
	mb_printf(&b, "fngate_token_cache_misses_total %llu\n", (unsigned long long)cache.misses);
	mb_family(&b, "fngate_token_cache_evictions_total", "counter",
		  "Verified-token cache entries evicted to make room.");
	mb_printf(&b, "fngate_token_cache_evictions_total %llu\n",
		  (unsigned long long)cache.evictions);
	mb_family(&b, "fngate_open_connections", "gauge", "Open client connections (all workers).");
	mb_printf(&b, "fngate_open_connections %u\n", conns);
	mb_family(&b, "fngate_workers", "gauge", "Worker threads.");
	mb_printf(&b, "fngate_workers %d\n", nworkers);
	mb_family(&b, "fngate_registry_tokens", "gauge",
		  "Token records in the registry (ready and revoked).");
	mb_printf(&b, "fngate_registry_tokens %zu\n", reg != NULL ? registry_count(reg) : (size_t)0);
	mb_family(&b, "fngate_config_reloads_total", "counter",
		  "Configuration reloads (SIGHUP), applied or refused.");
	mb_printf(&b, "fngate_config_reloads_total{result=\"success\"} %llu\n",
		  (unsigned long long)atomic_load(&reloads_ok));
	mb_printf(&b, "fngate_config_reloads_total{result=\"failure\"} %llu\n",
		  (unsigned long long)atomic_load(&reloads_failed));
	mb_family(&b, "fngate_config_last_reload_success_timestamp_seconds", "gauge",
		  "When a reload was last applied (Unix time; 0: never).");
	mb_printf(&b, "fngate_config_last_reload_success_timestamp_seconds %lld\n",
		  (long long)atomic_load(&reload_ok_at));
	mb_family(&b, "fngate_config_last_reload_failure_timestamp_seconds", "gauge",
		  "When a reload was last refused (Unix time; 0: never).");
	mb_printf(&b, "fngate_config_last_reload_failure_timestamp_seconds %lld\n",
		  (long long)atomic_load(&reload_failed_at));
	mb_family(&b, "fngate_config_generation", "gauge",
		  "Generation of the configuration in use (increases with every load).");
	mb_printf(&b, "fngate_config_generation %llu\n",
		  (unsigned long long)(c != NULL ? c->generation : 0));
	mb_family(&b, "fngate_functions", "gauge", "Functions in the configuration in use.");
	mb_printf(&b, "fngate_functions %zu\n", c != NULL ? c->nfunctions : (size_t)0);
	mb_family(&b, "fngate_tls_handshakes_total", "counter",
		  "TLS handshakes on client listeners, completed or failed.");
	mb_printf(&b, "fngate_tls_handshakes_total{result=\"success\"} %llu\n",
		  (unsigned long long)atomic_load(&tls_ok));
	mb_printf(&b, "fngate_tls_handshakes_total{result=\"failure\"} %llu\n",
		  (unsigned long long)atomic_load(&tls_failed));
	mb_family(&b, "fngate_http2_connections_total", "counter",
		  "Client connections that spoke HTTP/2 (h2 by ALPN, or h2c with prior knowledge).");
	mb_printf(&b, "fngate_http2_connections_total %llu\n",
		  (unsigned long long)atomic_load(&h2_events[METRICS_H2_CONNECTION]));
	mb_family(&b, "fngate_http2_defences_total", "counter",
		  "HTTP/2 connections ended (GOAWAY), and streams reset, by a defence.");
	{
		static const char *const names[METRICS_H2_COUNT] = {
			[METRICS_H2_RAPID_RESET] = "rapid_reset",
			[METRICS_H2_FLOOD] = "flood",
			[METRICS_H2_PROTOCOL_ERROR] = "protocol_error",
			[METRICS_H2_TIMEOUT] = "timeout",
			[METRICS_H2_STREAM_STALLED] = "stream_stalled",
		};

		for (int d = METRICS_H2_RAPID_RESET; d < METRICS_H2_COUNT; d++)
			mb_printf(&b, "fngate_http2_defences_total{defence=\"%s\"} %llu\n", names[d],
				  (unsigned long long)atomic_load(&h2_events[d]));
	}
	mb_family(&b, "fngate_headers_dropped_total", "counter",
		  "Header fields dropped for an underscore in their name: request fields "
		  "(underscores_in_headers off), and fields whose name reads as one fngate sets, "
		  "strips or frames with once '_' reads as '-'.");
	mb_printf(&b, "fngate_headers_dropped_total{direction=\"request\",reason=\"underscore\"} "
		  "%llu\n", (unsigned long long)atomic_load(&hdr_dropped[METRICS_HDRDROP_REQUEST]));
	mb_printf(&b, "fngate_headers_dropped_total{direction=\"request\",reason=\"alias\"} %llu\n",
		  (unsigned long long)atomic_load(&hdr_dropped[METRICS_HDRDROP_REQUEST_ALIAS]));
	mb_printf(&b, "fngate_headers_dropped_total{direction=\"response\",reason=\"alias\"} %llu\n",
		  (unsigned long long)atomic_load(&hdr_dropped[METRICS_HDRDROP_RESPONSE_ALIAS]));
	mb_family(&b, "fngate_tunnels_open", "gauge",
		  "Tunnels (upgraded connections: WebSocket...) open now.");
	mb_printf(&b, "fngate_tunnels_open %llu\n", (unsigned long long)atomic_load(&tunnels_open));
	mb_family(&b, "fngate_tunnels_total", "counter", "Tunnels opened (101 relayed).");
	mb_printf(&b, "fngate_tunnels_total %llu\n", (unsigned long long)atomic_load(&tunnels_total));
	mb_family(&b, "fngate_tunnel_bytes_total", "counter",
		  "Bytes carried by tunnels that closed, by direction.");
	mb_printf(&b, "fngate_tunnel_bytes_total{direction=\"upstream\"} %llu\n",
		  (unsigned long long)atomic_load(&tunnel_bytes_up));
	mb_printf(&b, "fngate_tunnel_bytes_total{direction=\"client\"} %llu\n",
		  (unsigned long long)atomic_load(&tunnel_bytes_down));
	mb_family(&b, "fngate_access_log_dropped_total", "counter",
		  "Access-log lines dropped because the disk did not keep up with a buffered log.");
	mb_printf(&b, "fngate_access_log_dropped_total %llu\n",
		  (unsigned long long)log_access_dropped());
	render_fleet(&b);
	if (c != NULL)
		conf_unref(c);
	if (b.failed || !mb_reserve(&b, 0)) {
		free(b.p);
		return NULL;
	}
	b.p[b.len] = '\0';
	if (len != NULL)
		*len = b.len;
	return b.p;
}
