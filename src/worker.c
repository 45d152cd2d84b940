/* worker.c - worker threads: each owns an event loop, its listening sockets, a verified-token
 * cache and upstream pools, so the request path takes no lock. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "conf.h"
#include "h2.h"
#include "h2up.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "tcache.h"
#include "upstream.h"
#include "util.h"

_Atomic unsigned worker_total_conns;

static struct wconf *wconf_refresh(struct worker *w)
{
	struct wconf *cur = w->wconf_cur, *n;
	struct conf *c;

	if (cur != NULL && cur->conf->generation == conf_current_generation())
		return cur;
	c = conf_acquire();
	if (c == NULL)
		return cur;
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		conf_unref(c);
		return cur;
	}
	n->conf = c;
	if (cur != NULL) {
		if (cur->users == 0) {
			conf_unref(cur->conf);
			free(cur);
		} else {
			cur->next = w->wconf_old;
			w->wconf_old = cur;
		}
	}
	w->wconf_cur = n;
	return n;
}

struct conf *worker_conf_peek(struct worker *w)
{
	struct wconf *wc = wconf_refresh(w);

	return wc ? wc->conf : NULL;
}

struct conf *worker_conf_hold(struct worker *w)
{
	struct wconf *wc = wconf_refresh(w);

	if (wc == NULL)
		return NULL;
	wc->users++;
	return wc->conf;
}

void worker_conf_release(struct worker *w, struct conf *c)
{
	struct wconf **pp;

	if (w->wconf_cur != NULL && w->wconf_cur->conf == c) {
		w->wconf_cur->users--;
		return;
	}
	for (pp = &w->wconf_old; *pp != NULL; pp = &(*pp)->next) {
		struct wconf *wc = *pp;

		if (wc->conf != c)
			continue;
		if (--wc->users == 0) {
			/* The last request on an old snapshot: drop the worker's reference. */
			*pp = wc->next;
			conf_unref(wc->conf);
			free(wc);
		}
		return;
	}
}

static void wconf_free_all(struct worker *w)
{
	while (w->wconf_old != NULL) {
		struct wconf *wc = w->wconf_old;

		w->wconf_old = wc->next;
		conf_unref(wc->conf);
		free(wc);
	}
	if (w->wconf_cur != NULL) {
		conf_unref(w->wconf_cur->conf);
		free(w->wconf_cur);
		w->wconf_cur = NULL;
	}
}

static void report_pool(const char *key, unsigned nidle, void *arg)
{
	metrics_gauges_pool(arg, key, nidle);
}

static void report_h2(const char *key, unsigned nstreams, void *arg)
{
	metrics_gauges_h2(arg, key, nstreams);
}

/* A scrape asks (metrics.h): the gauges only this thread may read. */
static void worker_report(void *arg, struct metrics_gauges *g)
{
	struct worker *w = arg;
	struct tcache_stats s;

	tcache_get_stats(w->cache, &s);
	metrics_gauges_cache(g, &s);
	metrics_gauges_conns(g, w->nconns);
	upstream_pools_foreach(w, report_pool, g);
	h2up_conns_foreach(w, report_h2, g);
}

/* A connection accepted by one of this worker's listeners. */
static void worker_accept(void *arg, size_t listen_idx, int fd, struct sockaddr *sa, int salen)
{
	conn_accept_on(arg, listen_idx, fd, sa, salen);
}

/* Woken by the main thread: start draining, or stop now. */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct conn *c, *next;

	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n) || !atomic_load(&w->draining))
		return;
	/* Close, not just disable: a disabled listener still lets the kernel complete handshakes
	 * into its backlog, where clients hang until they give up; closed, they are refused at
	 * once and a load balancer moves on. */
	listener_close_all(w->ls);
	/* Idle keep-alive connections have nothing in flight: close them now. */
	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->phase == PHASE_IDLE || atomic_load(&w->stopped))
			conn_close(c, OUT_SHUTDOWN);
		else if (c->h2 != NULL && c->phase != PHASE_CLOSING)
			h2_drain(c);    /* GOAWAY: its streams finish, then it closes */
		else
			c->close_after = true;
	}
	if (TAILQ_EMPTY(&w->conns) || atomic_load(&w->stopped))
		event_base_loopexit(w->base, NULL);
}

int worker_init(struct worker *w, int id, const int *fds, size_t nfds, size_t cache_entries)
{
	struct event_config *cfg;
	unsigned char rnd[6];

	memset(w, 0, sizeof(*w));
	w->id = id;
	TAILQ_INIT(&w->conns);
	cfg = event_config_new();
	if (cfg == NULL)
		return -1;
	/* NOTES.md: the changelist saves the epoll_ctl churn of enabling/disabling per request. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL)
		return -1;
	/* Cross-thread wake-ups go through an eventfd: each event base belongs to one thread and
	 * runs without libevent's locks. */
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd == -1)
		return -1;
	w->wake = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, wake_cb, w);
	if (w->wake == NULL || event_add(w->wake, NULL) != 0)
		return -1;
	w->cache = tcache_new(cache_entries);
	if (w->wake == NULL || w->cache == NULL)
		return -1;
	if ((w->metrics = metrics_worker_new(w->base, worker_report, w)) == NULL)
		return -1;
	if ((w->ls = listener_set_new(w->base, fds, nfds, worker_accept, w)) == NULL)
		return -1;
	if (util_random(rnd, sizeof(rnd)) != 0)
		return -1;
	util_hex(rnd, sizeof(rnd), w->reqid_prefix);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	listener_resume(w->ls);
	event_base_dispatch(w->base);
	atomic_store(&w->exited, 1);
	return NULL;
}

int worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void worker_drain(struct worker *w, bool now)
{
	uint64_t one = 1;

	atomic_store(&w->draining, 1);
	if (now)
		atomic_store(&w->stopped, 1);
	if (write(w->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_msg(LOG_LVL_WARN, "worker %d: wake-up failed", w->id);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void worker_free(struct worker *w)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		conn_close(c, OUT_SHUTDOWN);
	upstream_pools_free(w);
	h2up_free_all(w);
	listener_set_free(w->ls);
	if (w->wake)
		event_free(w->wake);
	if (w->wake_fd > 0)
		close(w->wake_fd);
	/* Before the cache and the base: it reads the one and has an event on the other. */
	metrics_worker_free(w->metrics);
	w->metrics = NULL;
	tcache_free(w->cache);
	wconf_free_all(w);
	while (w->nreqmem_free > 0)
		free(w->reqmem_free[--w->nreqmem_free]);
	if (w->base)
		event_base_free(w->base);
	memset(w, 0, sizeof(*w));
}

void worker_conn_opened(struct worker *w)
{
	w->nconns++;
	atomic_fetch_add(&worker_total_conns, 1);
}

void worker_conn_closed(struct worker *w)
{
	w->nconns--;
	atomic_fetch_sub(&worker_total_conns, 1);
	if (atomic_load(&w->draining)) {
		if (TAILQ_EMPTY(&w->conns))
			event_base_loopexit(w->base, NULL);
		return;
	}
	listener_resume(w->ls);    /* below the cap again, if that was the pause */
}
