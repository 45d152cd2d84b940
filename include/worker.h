/* worker.h - worker threads: each runs one event loop with its own listeners, cache and pools. */
#ifndef FNGATE_WORKER_H
#define FNGATE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;
struct event;
struct listener_set;
struct tcache;
struct metrics_worker;
struct conn;
struct upstream_pool;
struct h2up_set;
struct conf;

/* A configuration snapshot as one worker uses it: counted without atomics, since only the
 * worker's own thread touches it. The worker holds one real reference per snapshot. */
struct wconf {
	struct conf  *conf;
	unsigned      users;        /* requests of this worker on this snapshot */
	struct wconf *next;         /* older snapshots still in use */
};

struct worker {
	int                  id;
	pthread_t            thread;
	struct event_base   *base;
	struct listener_set *ls;            /* its listeners, which pause and resume themselves */
	struct event        *wake;          /* main thread -> worker: drain / stop */
	int                  wake_fd;       /* its eventfd */
	struct tcache       *cache;
	struct upstream_pool **pools;       /* hash buckets by endpoint */
	size_t               npools_buckets;
	struct h2up_set     *h2up;          /* HTTP/2 (h2c) upstream connections (h2up.c) */
	TAILQ_HEAD(, conn)   conns;
	unsigned             nconns;
	uint64_t             rr;            /* round-robin counter */
	uint64_t             reqseq;        /* request id sequence */
	char                 reqid_prefix[13];
	uint64_t             cache_gen;     /* configuration generation the cache belongs to */
	void                *reqmem_free[32];   /* request head memory kept for reuse */
	unsigned             nreqmem_free;
	struct wconf        *wconf_cur;     /* the newest snapshot this worker has seen */
	struct wconf        *wconf_old;     /* older ones with requests still in flight */
	struct metrics_worker *metrics;     /* this worker's counters (metrics.h) */
	_Atomic int          draining;      /* stop accepting; exit when no connection is left */
	_Atomic int          stopped;
	_Atomic int          exited;        /* its thread has left its event loop */
};

/* Shared across workers: open client connections, for max_connections. */
extern _Atomic unsigned worker_total_conns;

/* Create worker `id` with listening sockets fds[n] (each worker gets its own SO_REUSEPORT
 * sockets). 0 / -1. */
int worker_init(struct worker *w, int id, const int *fds, size_t nfds, size_t cache_entries);
int worker_start(struct worker *w);
/* Ask a worker to stop accepting and finish: it exits when its connections are done or at once
 * when `now` is set. Thread-safe. */
void worker_drain(struct worker *w, bool now);
void worker_join(struct worker *w);
void worker_free(struct worker *w);

/* The current configuration for a new request: held until worker_conf_release. Cheap: a
 * generation compare, and conf_acquire only after a reload. NULL when none is published. */
struct conf *worker_conf_hold(struct worker *w);
void worker_conf_release(struct worker *w, struct conf *c);
/* The current configuration without holding it (valid until the worker's next hold). */
struct conf *worker_conf_peek(struct worker *w);

/* Connections come and go (conn.c): the count for max_connections; the drain's end; accept
 * resumed after a pause for the cap. */
void worker_conn_opened(struct worker *w);
void worker_conn_closed(struct worker *w);

#endif
