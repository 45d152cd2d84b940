/* listener.c - accept: per-worker SO_REUSEPORT listeners, the connection cap, descriptor headroom
 * and the EMFILE pause. */
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

#include "conf.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

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

void listener_close_all(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	w->nlisteners = 0;
	w->listening = false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct worker *w = arg;
	size_t li;

	/* The listener's index is its listen entry's (serve.c binds them in order): TLS or not. */
	for (li = 0; li < w->nlisteners && w->listeners[li] != l; li++)
		;
	conn_accept_on(w, li, fd, sa, salen);
	if (listener_fds_low((int)fd)) {
		/* Few descriptors left: the connections already accepted need them for their
		 * upstream connections more than a new client does, which waits in the backlog. */
		if (!w->fds_low)
			log_msg(LOG_LVL_WARN, "descriptors low (descriptor %d of %u, keeping %u for "
				"upstream connections): pausing accept", (int)fd,
				atomic_load(&fd_limit), listener_fd_reserve());
		w->fds_low = true;
		worker_pause_accept(w);
	}
}

/* accept(2) failed. Out of descriptors: stop accepting for a moment instead of spinning on a
 * listener that stays readable (OpenBSD httpd server_accept does the same). */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, 100 * 1000};

	(void)l;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		listener_fd_limit_refresh();
		log_msg(LOG_LVL_WARN, "accept: %s; pausing accept for 100 ms", strerror(e));
		listener_enable(w, 0);
		evtimer_add(w->accept_retry, &tv);
	}
}

int listener_attach(struct worker *w, const int *fds, size_t nfds)
{
	w->listeners = calloc(nfds ? nfds : 1, sizeof(*w->listeners));
	if (w->listeners == NULL)
		return -1;
	for (size_t i = 0; i < nfds; i++) {
		w->listeners[i] = evconnlistener_new(w->base, accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, -1, fds[i]);
		if (w->listeners[i] == NULL)
			return -1;
		evconnlistener_set_error_cb(w->listeners[i], accept_error_cb);
		w->nlisteners++;
	}
	return 0;
}

void listener_enable(struct worker *w, int on)
{
	if (w->listening == (on != 0) || w->nlisteners == 0)
		return;
	for (size_t i = 0; i < w->nlisteners; i++) {
		if (on)
			evconnlistener_enable(w->listeners[i]);
		else
			evconnlistener_disable(w->listeners[i]);
	}
	w->listening = on != 0;
}
