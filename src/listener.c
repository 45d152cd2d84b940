/* listener.c - accept: per-worker SO_REUSEPORT listeners, each worker's set pausing and resuming
 * itself (the connection cap, descriptor headroom, EMFILE), handing connections to the worker. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"

/* RLIMIT_NOFILE as last read: refreshed at start, after EMFILE and while accept is paused, so
 * a limit lowered behind fngate's back (prlimit) is noticed. */
static _Atomic unsigned fd_limit = 1024;

unsigned listener_fd_limit_refresh(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 0)
		atomic_store(&fd_limit, rl.rlim_cur > 0x7fffffff ? 0x7fffffffu : (unsigned)rl.rlim_cur);
	return atomic_load(&fd_limit);
}

/* Descriptors kept free for upstream connections: accept pauses below it. */
static unsigned listener_fd_reserve(void)
{
	unsigned lim = atomic_load(&fd_limit), r = lim / 16;

	return r < 8 ? 8 : r > 256 ? 256 : r;
}

bool listener_fds_low(int fd)
{
	unsigned lim = atomic_load(&fd_limit);

	/* Descriptors are allocated lowest first: fd N means 0..N-1 are all in use. */
	return fd >= 0 && (unsigned)fd + listener_fd_reserve() >= lim;
}

int listener_raise_nofile(unsigned max_connections)
{
	struct rlimit rl;
	/* A client descriptor and an upstream one per connection, the headroom, and the
	 * listeners, logs, registry and admin connections. */
	rlim_t need = (rlim_t)max_connections * 2 + 256 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;

		if (want > rl.rlim_cur) {
			rl.rlim_cur = want;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	listener_fd_limit_refresh();
	if ((rlim_t)atomic_load(&fd_limit) < need) {
		log_msg(LOG_LVL_WARN, "max_connections %u needs about %llu descriptors but "
			"RLIMIT_NOFILE allows %u: fngate stops accepting before the cap (raise "
			"LimitNOFILE / ulimit -n)", max_connections, (unsigned long long)need,
			atomic_load(&fd_limit));
		return 1;
	}
	return 0;
}

int listener_probe(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen)
{
	int fd, one = 1, rc = -1;

	/* SO_REUSEADDR only: a port in TIME_WAIT after a restart is free, but a socket bound by
	 * any live process is not, SO_REUSEPORT or not, whatever its user. */
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto cleanup;
	}
	if (addr->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, addr, len) == -1) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "address already in use by another process (another "
				 "fngate?): refusing to share it");
		else
			snprintf(err, errlen, "bind: %s", strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

int listener_bind(const struct sockaddr *addr, socklen_t len, char *err, size_t errlen)
{
	int fd, one = 1;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (addr->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, addr, len) == -1) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		goto fail;
	}
	if (listen(fd, 4096) == -1) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* A pause lasts this long unless a connection closes first (the cap) or the descriptors
 * are back (probed each time). */
#define LISTENER_PAUSE_MS  50
#define LISTENER_EMFILE_MS 100

struct listener_set {
	struct evconnlistener **l;
	size_t               n;
	bool                 listening;     /* enabled */
	bool                 fds_low;       /* paused for descriptor headroom (logged once) */
	struct event        *retry;         /* re-enable after a pause */
	listener_accept_cb   cb;
	void                *arg;
};

static void ls_enable(struct listener_set *ls, bool on)
{
	if (ls->listening == on || ls->n == 0)
		return;
	for (size_t i = 0; i < ls->n; i++) {
		if (on)
			evconnlistener_enable(ls->l[i]);
		else
			evconnlistener_disable(ls->l[i]);
	}
	ls->listening = on;
}

static void ls_pause_for(struct listener_set *ls, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	ls_enable(ls, false);
	evtimer_add(ls->retry, &tv);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener_set *ls = arg;

	(void)fd;
	(void)what;
	if (ls->n == 0)
		return;     /* closed for the drain */
	if (ls->fds_low) {
		/* Probe the lowest free descriptor (the kernel hands out the lowest) and keep
		 * waiting while the headroom is not back. */
		int probe;

		listener_fd_limit_refresh();
		probe = fcntl(evconnlistener_get_fd(ls->l[0]), F_DUPFD_CLOEXEC, 0);
		if (probe >= 0)
			close(probe);
		if (probe < 0 || listener_fds_low(probe)) {
			ls_pause_for(ls, LISTENER_PAUSE_MS);
			return;
		}
		ls->fds_low = false;
		log_msg(LOG_LVL_INFO, "descriptors available again: accepting");
	}
	ls_enable(ls, true);
}

void listener_close_all(struct listener_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		evconnlistener_free(ls->l[i]);
	ls->n = 0;
	ls->listening = false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct listener_set *ls = arg;
	size_t li;

	for (li = 0; li < ls->n && ls->l[li] != l; li++)
		;
	ls->cb(ls->arg, li, fd, sa, salen);
	if (listener_fds_low((int)fd)) {
		/* Few descriptors left: the connections already accepted need them for their
		 * upstream connections more than a new client does, which waits in the backlog. */
		if (!ls->fds_low)
			log_msg(LOG_LVL_WARN, "descriptors low (descriptor %d of %u, keeping %u for "
				"upstream connections): pausing accept", (int)fd,
				atomic_load(&fd_limit), listener_fd_reserve());
		ls->fds_low = true;
		ls_pause_for(ls, LISTENER_PAUSE_MS);
	}
}

/* accept(2) failed. Out of descriptors: stop accepting for a moment instead of spinning on a
 * listener that stays readable (OpenBSD httpd server_accept does the same). */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct listener_set *ls = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		listener_fd_limit_refresh();
		log_msg(LOG_LVL_WARN, "accept: %s; pausing accept for %d ms", strerror(e),
			LISTENER_EMFILE_MS);
		ls_pause_for(ls, LISTENER_EMFILE_MS);
	}
}

struct listener_set *listener_set_new(struct event_base *base, const int *fds, size_t nfds,
				      listener_accept_cb cb, void *arg)
{
	struct listener_set *ls = calloc(1, sizeof(*ls));
	size_t i = 0;

	if (ls == NULL || (ls->l = calloc(nfds ? nfds : 1, sizeof(*ls->l))) == NULL ||
	    (ls->retry = evtimer_new(base, retry_cb, ls)) == NULL)
		goto fail;
	ls->cb = cb;
	ls->arg = arg;
	for (; i < nfds; i++) {
		ls->l[i] = evconnlistener_new(base, accept_cb, ls,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, -1, fds[i]);
		if (ls->l[i] == NULL)
			goto fail;
		evconnlistener_set_error_cb(ls->l[i], accept_error_cb);
		ls->n++;
	}
	return ls;
fail:
	for (; i < nfds; i++)
		close(fds[i]);   /* not wrapped yet */
	listener_set_free(ls);
	return NULL;
}

void listener_set_free(struct listener_set *ls)
{
	if (ls == NULL)
		return;
	listener_close_all(ls);
	if (ls->retry != NULL)
		event_free(ls->retry);
	free(ls->l);
	free(ls);
}

void listener_resume(struct listener_set *ls)
{
	ls_enable(ls, true);
}

void listener_pause(struct listener_set *ls)
{
	ls_pause_for(ls, LISTENER_PAUSE_MS);
}
