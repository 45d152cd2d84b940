/* listener.c - accept: per-worker SO_REUSEPORT listeners, the connection cap, EMFILE pause. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "conf.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

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

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct worker *w = arg;
	size_t li;

	/* The listener's index is its listen entry's (serve.c binds them in order): TLS or not. */
	for (li = 0; li < w->nlisteners && w->listeners[li] != l; li++)
		;
	conn_accept_on(w, li, fd, sa, salen);
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
	if (w->listening == (on != 0))
		return;
	for (size_t i = 0; i < w->nlisteners; i++) {
		if (on)
			evconnlistener_enable(w->listeners[i]);
		else
			evconnlistener_disable(w->listeners[i]);
	}
	w->listening = on != 0;
}
