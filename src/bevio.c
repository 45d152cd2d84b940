/* bevio.c - direct socket I/O on plain bufferevents: write queued output now, read input now,
 * without waiting for the next loop turn. Shared by the client side (conn.c) and the upstream
 * side (upstream.c, response.c); no knowledge of either. */
#include "bevio.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

bool bev_write_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);

	/* bufferevents keep their output frozen at the start except while they write. */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0) {
		struct evbuffer_iovec v[BEV_WRITE_IOV];
		struct iovec iov[BEV_WRITE_IOV];
		int nv = evbuffer_peek(out, -1, NULL, v, BEV_WRITE_IOV);
		ssize_t n;

		if (nv > BEV_WRITE_IOV)
			nv = BEV_WRITE_IOV;
		/* One piece (most responses and request heads): send(2), which skips the iovec
		 * import writev(2) makes; the socket never raises SIGPIPE. */
		if (nv == 1) {
			n = send(fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
		} else {
			for (int i = 0; i < nv; i++) {
				iov[i].iov_base = v[i].iov_base;
				iov[i].iov_len = v[i].iov_len;
			}
			n = writev(fd, iov, nv);
		}
		if (n <= 0)
			break;      /* EAGAIN (the write event takes over) or an error (it reports) */
		evbuffer_drain(out, (size_t)n);
	}
	evbuffer_freeze(out, 1);
	return evbuffer_get_length(out) == 0;
}

ssize_t bev_input_readv(struct evbuffer *in, evutil_socket_t fd, size_t max)
{
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	ssize_t n;
	size_t left;
	int nv, i;

	evbuffer_unfreeze(in, 0);
	nv = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0, left = max; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	/* One piece (the usual case): recv(2), which skips readv(2)'s iovec import. */
	n = nv == 1 ? recv(fd, iov[0].iov_base, iov[0].iov_len, 0) : readv(fd, iov, nv);
	if (n <= 0) {
		int e = errno;

		evbuffer_commit_space(in, v, 0);
		evbuffer_freeze(in, 0);
		errno = e;
		return n;
	}
	for (i = 0, left = (size_t)n; i < nv; i++) {
		v[i].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
		left -= v[i].iov_len;
		if (left == 0)
			break;
	}
	evbuffer_commit_space(in, v, i + 1);
	evbuffer_freeze(in, 0);
	return n;
}

size_t bev_read_now(struct bufferevent *bev, size_t max)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	ssize_t n;

	if (fd < 0 || max == 0)
		return 0;
	/* EAGAIN, EOF or an error: the bufferevent's own next read reports it. */
	n = bev_input_readv(bufferevent_get_input(bev), fd, max);
	return n > 0 ? (size_t)n : 0;
}
