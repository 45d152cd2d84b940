/* conn.c - the HTTP/1 front end's client connection: one constructor (conn_accept_on), one
 * destructor (conn_close), the read loop that feeds llhttp, keep-alive, pipelining, timeouts, the
 * lingering close and backpressure. Each request is handed to the proxy core as the connection's
 * struct exchange (exchange.h); what the core queues for the client is sent from here. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "bevio.h"
#include "h2.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_rev_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_parse(struct conn *c);
static void conn_linger(struct conn *c);
static void conn_linger_start(struct conn *c);
static void conn_linger_input(struct conn *c, bool eof);

static void timer_set(struct conn *c, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(c->timer, &tv);
}

/* client_idle_ms of the worker's configuration (the default before it has one). */
static unsigned conn_idle_ms(struct conn *c)
{
	const struct conf *cf = worker_conf_peek(c->w);

	return cf != NULL ? cf->timeouts.client_idle_ms : CONF_DEFAULT_IDLE_MS;
}

static void addr_format(const struct sockaddr *sa, char *ip, size_t iplen, char *full, size_t fulllen)
{
	int port = 0;

	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
		port = ntohs(s4->sin_port);
		snprintf(full, fulllen, "%s:%d", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
		port = ntohs(s6->sin6_port);
		snprintf(full, fulllen, "[%s]:%d", ip, port);
	} else {
		snprintf(ip, iplen, "unix");
		snprintf(full, fulllen, "unix");
	}
}

/* The client bufferevent: plain, or TLS in accepting state with its own SSL from the listener's
 * current certificates (the SSL keeps them: a reload changes only later connections). */
static struct bufferevent *conn_bev_new(struct conn *c, int fd, struct tls_server *tls, bool h2)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (tls == NULL)
		return bufferevent_socket_new(c->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	ssl = tls_server_ssl_new(tls, h2);
	if (ssl == NULL)
		return NULL;
	/* On failure libevent has freed ssl already (BEV_OPT_CLOSE_ON_FREE), not the fd. */
	bev = bufferevent_openssl_socket_new(c->w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	/* HTTP frames its messages: a close without close_notify is an ordinary end. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c->tls = true;
	return bev;
}

void conn_accept_on(struct worker *w, size_t listen_idx, int fd, const struct sockaddr *sa, int salen)
{
	struct conn *c = NULL;
	struct conf *cf;
	int one = 1;

	(void)salen;
	cf = worker_conf_peek(w);
	if (cf == NULL || atomic_load(&w->draining)) {
		close(fd);
		goto done;
	}
	if (worker_total_conns >= cf->limits.max_connections) {
		/* Over the cap: refuse this one and stop accepting until a connection closes. */
		close(fd);
		listener_pause(w->ls);
		goto done;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		goto done;
	}
	c->w = w;
	c->listen_idx = listen_idx;
	c->h2_ok = listen_idx < cf->nlisten && cf->listen[listen_idx].http2;
	c->bev = conn_bev_new(c, fd, listen_idx < cf->nlisten ? cf->listen[listen_idx].tls : NULL,
			      c->h2_ok);
	c->timer = evtimer_new(w->base, conn_timer_cb, c);
	if (c->bev != NULL && !c->tls)
		c->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_rev_cb, c);
	if (c->bev == NULL || c->timer == NULL || (!c->tls && c->rev == NULL)) {
		if (c->bev == NULL)
			close(fd);
		goto fail;
	}
	addr_format(sa, c->client_ip, sizeof(c->client_ip), c->client, sizeof(c->client));
	llhttp_init(&c->parser, HTTP_REQUEST, &request_settings);
	c->parser.data = c;
	request_reset(&c->req);
	c->ex.ops = &h1_out_ops;
	c->ex.w = w;
	c->ex.client_ip = c->client_ip;
	c->ex.tls = c->tls;
	exchange_reset(&c->ex);
	c->phase = PHASE_IDLE;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Reading stops by itself once this much input waits unparsed (pipelining, slow upstream). */
	c->read_high = cf->limits.max_header_bytes > 65536 ? cf->limits.max_header_bytes : 65536;
	bufferevent_setwatermark(c->bev, EV_WRITE, EXCHANGE_HIGH_WATER / 2, 0);
	/* Any read or write stall on the client is bounded by client_idle_ms. */
	c->idle_tv.tv_sec = cf->timeouts.client_idle_ms / 1000;
	c->idle_tv.tv_usec = (cf->timeouts.client_idle_ms % 1000) * 1000;
	if (c->tls) {
		bufferevent_setwatermark(c->bev, EV_READ, 0, c->read_high);
		bufferevent_set_timeouts(c->bev, &c->idle_tv, &c->idle_tv);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	} else {
		/* Plain connections are read by fngate itself (conn_rev_cb) and written directly
		 * (conn_flush), watching writability only while output is pending. */
		bufferevent_set_timeouts(c->bev, NULL, &c->idle_tv);
		conn_read_set(c, true);
	}
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	worker_conn_opened(w);
	/* A new connection must send a whole head within client_header_ms. */
	timer_set(c, cf->timeouts.client_header_ms);
	c = NULL;
	goto done;
fail:
	if (c->timer)
		event_free(c->timer);
	if (c->rev)
		event_free(c->rev);
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
done:
	return;
}

/* Write the access-log record of the request in progress and drop its references. */
static void request_finish(struct conn *c)
{
	exchange_finish(&c->ex, c->client, c->req.http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
}

void conn_end(struct conn *c)
{
	if (c->phase != PHASE_CLOSING)
		conn_linger(c);
}

/* Closes after which a TLS connection is still healthy: the response was delivered, the
 * client was idle or hung up, or fngate is stopping. Not after errors or stalls. */
static bool tls_close_is_clean(enum outcome why)
{
	return why == OUT_DONE || why == OUT_IDLE_TIMEOUT || why == OUT_SHUTDOWN ||
	       why == OUT_CLIENT_CLOSED;
}

void conn_close(struct conn *c, enum outcome why)
{
	struct worker *w = c->w;

	h2_free(c);
	if (c->ex.conf != NULL && c->phase != PHASE_IDLE) {
		if (c->ex.status == 0) {
			c->ex.status = 499;        /* nginx's "client closed request" */
			if (c->ex.err == OUT_NONE)
				c->ex.err = why;
		}
		request_finish(c);
	} else if (c->ex.conf != NULL) {
		worker_conf_release(w, c->ex.conf);
		c->ex.conf = NULL;
	}
	/* The response was not finished: its upstream connection is in an unknown state. */
	forward_cancel(&c->ex);
	if (c->tls && c->tls_done && tls_close_is_clean(why)) {
		/* close_notify: without it a TLS client cannot tell a response ended by the close
		 * from a cut one, and OpenSSL 3 clients discard the session (no resumption). One
		 * non-blocking attempt; after a fatal TLS error OpenSSL forbids it, hence the reason
		 * check. */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl != NULL) {
			(void)SSL_shutdown(ssl);
			ERR_clear_error();
		}
	}
	TAILQ_REMOVE(&w->conns, c, entry);
	event_free(c->timer);
	if (c->rev != NULL)
		event_free(c->rev);     /* before the bufferevent closes the descriptor */
	bufferevent_free(c->bev);
	request_mem_release(c);
	free(c);
	worker_conn_closed(w);
}

/* Start reading a new request on an idle connection: take the current configuration. */
static int request_begin(struct conn *c)
{
	c->ex.conf = worker_conf_hold(c->w);
	if (c->ex.conf == NULL)
		return -1;
	c->ex.start_us = util_mono_us();
	c->phase = PHASE_HEAD;
	/* The first request's deadline runs from accept; later ones from their first byte. */
	if (c->nrequests > 0)
		timer_set(c, c->ex.conf->timeouts.client_header_ms);
	return 0;
}

/* The request and its response are both complete: log, reset, and go on with the next. */
static void request_end(struct conn *c)
{
	request_finish(c);
	request_mem_release(c);
	request_reset(&c->req);
	exchange_reset(&c->ex);
	c->resp_chunked = false;
	c->resp_close_delim = false;
	c->nrequests++;
	if (c->paused_msg) {
		llhttp_resume(&c->parser);
		c->paused_msg = false;
	}
	c->phase = PHASE_IDLE;
}

void conn_flush(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		return;
	/* A plain socket: write now. Waiting for a write event would cost an epoll_ctl to add it
	 * and another to remove it for every response. */
	if (!c->tls && bev_write_now(c->bev))
		return;
	bufferevent_enable(c->bev, EV_WRITE);
}

void conn_pause(struct conn *c)
{
	if (!c->read_paused) {
		conn_read_set(c, false);
		c->read_paused = true;
	}
}

bool conn_backpressure(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= EXCHANGE_HIGH_WATER)
		return false;
	conn_pause(c);
	return true;
}

void conn_backpressure_release(struct conn *c)
{
	if (!c->read_paused || c->phase == PHASE_CLOSING ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > EXCHANGE_HIGH_WATER / 2 ||
	    forward_pending(&c->ex) > EXCHANGE_HIGH_WATER / 2)
		return;
	conn_resume(c);
}

/* Begin closing: flush what is queued, then close (conn_linger_start). When the client may still
 * be sending (a request refused or failed before it was read to its end, pipelined input, bytes
 * waiting in the socket), its input is kept being read and discarded: closing a socket with unread
 * input makes the kernel send a reset, which can reach the client before it read our response and
 * destroy it there (a 403 to a 1 MB upload would be seen as "connection reset"). */
static void conn_linger(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	bool unread = c->phase == PHASE_HEAD || c->phase == PHASE_BODY ||
		      evbuffer_get_length(in) > 0;

	if (!unread && !c->tls && !c->client_eof) {
		int pending = 0;
		evutil_socket_t fd = bufferevent_getfd(c->bev);

		unread = fd >= 0 && ioctl(fd, FIONREAD, &pending) == 0 && pending > 0;
	}
	c->phase = PHASE_CLOSING;
	c->linger = unread && !c->client_eof;
	evtimer_del(c->timer);
	if (c->linger) {
		evbuffer_drain(in, evbuffer_get_length(in));
		c->read_paused = false;
		conn_read_set(c, true);
	} else {
		conn_read_set(c, false);
	}
	conn_flush(c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_linger_start(c);
		return;
	}
	/* Bound the flush of a client that does not read. */
	timer_set(c, conn_idle_ms(c));
}

/* Closing and everything is flushed: close now, or shut our side and linger (conn_linger). */
static void conn_linger_start(struct conn *c)
{
	if (c->lingering)
		return;
	if (!c->linger || c->client_eof) {
		conn_close(c, OUT_DONE);
		return;
	}
	/* Our FIN tells the client the response is complete; TLS has no half-close of its own,
	 * so a TLS client is only left to read its response (framed, with Connection: close). */
	if (!c->tls)
		(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	c->lingering = true;
	c->linger_until_us = util_mono_us() + (uint64_t)PROXY_LINGER_MS * 1000u;
	timer_set(c, PROXY_LINGER_IDLE_MS);
}

/* Input during a lingering close: discard it; the client's FIN or the limits end the linger. */
static void conn_linger_input(struct conn *c, bool eof)
{
	uint64_t now = util_mono_us();

	if (eof) {
		c->client_eof = true;
		conn_read_set(c, false);
		if (c->lingering)
			conn_close(c, OUT_DONE);
		return;
	}
	if (c->lingering) {
		if (now >= c->linger_until_us) {
			conn_close(c, OUT_DONE);
			return;
		}
		{
			uint64_t left_ms = (c->linger_until_us - now) / 1000u + 1;

			timer_set(c, left_ms < PROXY_LINGER_IDLE_MS ? (unsigned)left_ms :
				  PROXY_LINGER_IDLE_MS);
		}
	}
}

void conn_abort(struct conn *c, enum outcome why)
{
	if (c->resp_close_delim && !c->tls) {
		struct linger lg = {1, 0};
		evutil_socket_t fd = bufferevent_getfd(c->bev);

		/* SO_LINGER 0: close(2) sends RST, not FIN. */
		if (fd >= 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		conn_close(c, why);
		return;
	}
	if (c->tls) {
		conn_close(c, why);     /* no close_notify: TLS says the stream was cut */
		return;
	}
	if (c->ex.err == OUT_NONE)
		c->ex.err = why;
	c->close_after = true;
	request_finish(c);
	conn_linger(c);
}

void conn_response_done(struct conn *c)
{
	c->ex.resp = EXCHANGE_RESP_COMPLETE;
	if (c->phase == PHASE_DONE) {
		/* Continue with pipelined input (deferred: we may be inside an upstream callback). */
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	} else if (c->phase == PHASE_TUNNEL) {
		/* The tunnel ended: log it (status 101) and close once flushed. */
		c->close_after = true;
		request_finish(c);
		conn_linger(c);
	} else if (c->phase == PHASE_HEAD || c->phase == PHASE_BODY) {
		/* Answered before the request was read to its end: the rest of it cannot be told
		 * apart from a next request, so the connection ends after this response. */
		c->close_after = true;
		request_finish(c);
		conn_linger(c);
	}
}

void conn_tunnel(struct conn *c)
{
	c->phase = PHASE_TUNNEL;
	c->paused_msg = false;     /* the parser is done with this connection */
	c->close_after = true;
	evtimer_del(c->timer);
	/* The tunnel's idle timeout (tunnel.c) bounds it, not client_idle_ms: a WebSocket may be
	 * quiet one way for long. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	if (c->rev != NULL && c->rev_on) {
		event_del(c->rev);
		c->rev_on = false;
	}
	if (!c->read_paused)
		conn_read_set(c, true);
	conn_flush(c);
	/* Bytes the client sent after its request (early frames) are the tunnel's. */
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

bool conn_shut(struct conn *c)
{
	if (c->tls)
		return false;       /* TLS has no half-close of its own */
	c->shut_pending = true;
	conn_flush(c);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		c->shut_pending = false;
	}
	return true;
}

void conn_resume(struct conn *c)
{
	if (c->read_paused) {
		c->read_paused = false;
		if (c->phase != PHASE_CLOSING)
			conn_read_set(c, true);
	}
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void conn_read_set(struct conn *c, bool on)
{
	if (c->rev == NULL) {
		if (on)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (on)
		c->rev_full = false;
	if (on == c->rev_on)
		return;
	if (on)
		event_add(c->rev, c->phase == PHASE_TUNNEL ? NULL : &c->idle_tv);
	else
		event_del(c->rev);
	c->rev_on = on;
}

/* A plain client connection is readable. libevent's bufferevent would first ask the kernel how
 * much is there (ioctl FIONREAD) and then read at most 4 KiB; fngate reads what fits under the
 * read high-water mark, 16 KiB at a time (64 KiB during a request body), in one readv. */
static void conn_rev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in), want;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, c);
		return;
	}
	if (c->phase == PHASE_CLOSING) {
		char scratch[16384];

		/* Lingering: read and discard, a bounded amount per callback. */
		for (int k = 0; k < 4; k++) {
			n = recv(fd, scratch, sizeof(scratch), 0);
			if (n > 0)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				break;
			if (n < 0) {
				conn_close(c, OUT_CLIENT_ERROR);
				return;
			}
			conn_linger_input(c, true);
			return;
		}
		conn_linger_input(c, false);
		return;
	}
	if (have >= c->read_high) {
		/* Enough unparsed input: stop until the parser takes some (conn_parse). */
		conn_read_set(c, false);
		c->rev_full = true;
		return;
	}
	want = c->phase == PHASE_BODY || c->phase == PHASE_TUNNEL ? BEV_BULK_READ : PROXY_READ_SIZE;
	if (want > c->read_high - have)
		want = c->read_high - have;
	n = bev_input_readv(in, fd, want);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n < 0 && errno == ENOMEM) {
			conn_close(c, OUT_OUT_OF_MEMORY);
			return;
		}
		conn_event_cb(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
		return;
	}
	conn_parse(c);
}

int conn_dispatch(struct conn *c)
{
	evtimer_del(c->timer);
	if (!c->req.keep_alive)
		c->close_after = true;
	c->ex.buf_len = c->req.len;
	return exchange_dispatch(&c->ex) != 0 ? HPE_PAUSED : 0;
}

/* Feed buffered client input to the parser, one contiguous segment at a time. */
static void conn_parse(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->rev_full && !c->read_paused && c->phase != PHASE_CLOSING)
		conn_read_set(c, true);     /* stopped at read_high: input is about to be taken */
	for (;;) {
		struct evbuffer_iovec v;
		llhttp_errno_t err;
		size_t n, used;
		enum conn_phase before;

		if (c->phase == PHASE_CLOSING) {
			/* A TLS connection lingering (plain ones are read by conn_rev_cb). */
			evbuffer_drain(in, evbuffer_get_length(in));
			if (c->linger)
				conn_linger_input(c, false);
			return;
		}
		if (c->h2 != NULL) {
			h2_input(c);
			return;
		}
		if (c->phase == PHASE_TUNNEL) {
			/* Bytes, no HTTP: all of it goes to the upstream (tunnel.c). */
			tunnel_client_data(&c->ex, in);
			return;
		}
		if (c->paused_msg) {
			if (c->ex.resp != EXCHANGE_RESP_COMPLETE) {
				/* Wait for the response. Reading goes on (so a client that goes away is
				 * noticed) but the read high-water mark bounds what a pipelining client
				 * can queue; not disabling saves two epoll_ctl calls per request. */
				return;
			}
			request_end(c);
			if (c->close_after) {
				conn_linger(c);
				return;
			}
			timer_set(c, conn_idle_ms(c));
		}
		if (conn_backpressure(c))
			return;
		if (c->phase == PHASE_BODY && exchange_upstream(&c->ex) && !c->ex.length_unknown && !c->read_paused &&
		    c->parser.content_length > 1 && evbuffer_get_length(in) > 0) {
			/* A Content-Length body has no framing to rewrite: its bytes move to the
			 * upstream without passing through llhttp or being copied. The last byte is
			 * left to llhttp, so that it ends the message itself. */
			size_t k = evbuffer_get_length(in);

			if (k > c->parser.content_length - 1)
				k = (size_t)(c->parser.content_length - 1);
			forward_body_move(&c->ex, in, k);
			c->parser.content_length -= k;
			forward_flush(&c->ex);
			continue;
		}
		if (evbuffer_get_length(in) == 0) {
			if (c->phase == PHASE_IDLE)
				timer_set(c, conn_idle_ms(c));
			return;
		}
		if (c->phase == PHASE_IDLE && c->nrequests == 0 && c->h2_ok && !c->tls) {
			/* h2c with prior knowledge: the client's first bytes are HTTP/2's preface. */
			int m = h2_preface(in);

			if (m < 0)
				return;     /* a prefix so far; client_header_ms bounds the wait */
			if (m > 0) {
				if (h2_start(c) != 0) {
					conn_close(c, OUT_OUT_OF_MEMORY);
					return;
				}
				continue;
			}
		}
		if (c->phase == PHASE_IDLE && request_begin(c) != 0) {
			conn_close(c, OUT_NO_CONFIGURATION);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		n = v.iov_len;
		before = c->phase;
		if (before == PHASE_HEAD) {
			size_t max = c->ex.conf->limits.max_header_bytes;
			size_t room = c->req.head_bytes < max ? max - c->req.head_bytes + 1 : 1;

			if (n > room)
				n = room;
		}
		if (before == PHASE_HEAD || c->phase == PHASE_IDLE) {
			if (http1_scan_head(&c->req.scan, v.iov_base, n, &c->ex.err) != 0)
				goto refuse;
		}
		if (c->req.crlf_pending > 0) {
			size_t k = c->req.crlf_pending < n ? c->req.crlf_pending : n;

			if (request_check_crlf(&c->req, v.iov_base, k) != 0) {
				c->ex.err = OUT_BAD_CHUNK;
				goto refuse;
			}
		}
		c->seg_end = (const char *)v.iov_base + n;
		err = llhttp_execute(&c->parser, v.iov_base, n);
		/* What the request produced goes out now: request bytes to the upstream, a reply
		 * the core made while dispatching to the client. */
		forward_flush(&c->ex);
		conn_flush(c);
		if (err == HPE_OK)
			used = n;
		else
			used = (size_t)(llhttp_get_error_pos(&c->parser) - (const char *)v.iov_base);
		if (before == PHASE_HEAD && c->phase == PHASE_HEAD) {
			c->req.head_bytes += used;
			if (c->req.head_bytes > c->ex.conf->limits.max_header_bytes) {
				reply_error(&c->ex, http1_head_too_large(c->ex.nhdr, c->ex.path_len), true);
				conn_linger(c);
				return;
			}
		}
		evbuffer_drain(in, used);
		if (err == HPE_OK)
			continue;
		if (err == HPE_PAUSED && c->paused_msg)
			continue;
		if (err == HPE_PAUSED_UPGRADE && !c->paused_msg && used == 0) {
			/* The previous request asked for an Upgrade that did not become a tunnel
			 * (refused, answered otherwise than 101, or not eligible: tunnel.c), so what
			 * follows is HTTP again, each request gated on its own. */
			llhttp_resume_after_upgrade(&c->parser);
			continue;
		}
		if (err == HPE_PAUSED) {
			/* Dispatch refused a request whose body we will not read: close after replying. */
			conn_linger(c);
			return;
		}
		/* A parse error or a limit: answer if nothing was sent yet, then close. */
refuse:
		if (c->ex.resp == EXCHANGE_RESP_NONE && c->ex.err == OUT_NONE &&
		    llhttp_get_errno(&c->parser) == HPE_INVALID_VERSION &&
		    strcmp(llhttp_get_error_reason(&c->parser), "Invalid HTTP version") == 0) {
			/* A well-formed HTTP-version that is not 1.0 or 1.1 (HTTP/3.0, HTTP/1.2):
			 * not malformed but unsupported. "HTTP/1.10" or "HTTP/2" stay 400. */
			c->ex.err = OUT_HTTP_VERSION;
		}
		if (c->ex.resp == EXCHANGE_RESP_NONE) {
			if (c->ex.err == OUT_NONE)
				c->ex.err = OUT_BAD_REQUEST;
			forward_cancel(&c->ex);
			reply_error(&c->ex, c->ex.err, true);
		}
		if (c->phase != PHASE_CLOSING) {
			request_finish(c);
			conn_linger(c);
		}
		return;
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_parse(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->phase == PHASE_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_linger_start(c);
		return;
	}
	if (c->h2 != NULL) {
		if (!c->tls && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			bufferevent_disable(c->bev, EV_WRITE);
		h2_output_drained(c);
		return;
	}
	if (c->phase == PHASE_TUNNEL && c->shut_pending &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_shut(c);
	/* Drained: stop watching for writability until conn_flush needs it again. */
	if (!c->tls && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_disable(c->bev, EV_WRITE);
	/* The response relay may have stopped while this output was full. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= EXCHANGE_HIGH_WATER / 2)
		exchange_out_drained(&c->ex);
	conn_backpressure_release(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake completed (a plain connection never reports this). */
		c->tls_done = true;
		tls_note_handshake(bufferevent_openssl_get_ssl(bev), true);
		metrics_tls_handshake(true);
		if (c->h2_ok && tls_alpn_h2(bufferevent_openssl_get_ssl(bev)) && h2_start(c) != 0)
			conn_close(c, OUT_OUT_OF_MEMORY);
		return;
	}
	if (c->tls && !c->tls_done) {
		char why[256];

		/* Only this connection is concerned; scanners do this all day: debug level. */
		tls_failure_reason(bufferevent_openssl_get_ssl(bev), bufferevent_get_openssl_error(bev),
				   why, sizeof(why));
		log_msg(LOG_LVL_DEBUG, "tls handshake with %s failed: %s", c->client, why);
		tls_note_handshake(NULL, false);
		metrics_tls_handshake(false);
		conn_close(c, OUT_TLS_HANDSHAKE_FAILED);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    (c->phase == PHASE_DONE ||
	     (c->phase == PHASE_IDLE && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0))) {
		/* The request was read whole: the client owes no byte while its response is awaited
		 * or streams (upstream_response_ms and the write timeout bound those), so a slow
		 * upstream or a long download is not cut at client_idle_ms (nor the tail of a
		 * response still being written after it completed). libevent disabled reading
		 * on the timeout (a bufferevent does; fngate's own read event stays): enable it
		 * again, to see the client close. */
		conn_read_set(c, true);
		return;
	}
	if (c->phase == PHASE_TUNNEL && (what & BEV_EVENT_EOF) && !c->client_eof) {
		/* The client ended its direction: pass it on (tunnel.c); ours may go on. */
		c->client_eof = true;
		conn_read_set(c, false);
		tunnel_client_eof(&c->ex);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_close(c, OUT_CLIENT_TIMEOUT);
	else if (what & BEV_EVENT_EOF)
		conn_close(c, c->phase == PHASE_IDLE ? OUT_CLIENT_CLOSED : OUT_CLIENT_CLOSED_EARLY);
	else
		conn_close(c, OUT_CLIENT_ERROR);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->tls && !c->tls_done) {
		/* The handshake shares the first request's deadline: client_header_ms from accept. */
		tls_note_handshake(NULL, false);
		metrics_tls_handshake(false);
		conn_close(c, OUT_TLS_HANDSHAKE_TIMEOUT);
		return;
	}
	if (c->h2 != NULL && c->phase != PHASE_CLOSING) {
		h2_timer(c);
		return;
	}
	if (c->phase == PHASE_HEAD && c->ex.resp == EXCHANGE_RESP_NONE) {
		reply_error(&c->ex, OUT_HEADER_TIMEOUT, true);
		request_finish(c);
		conn_linger(c);
		return;
	}
	if (c->phase == PHASE_IDLE && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		/* Not idle: the last response is still being written (a client reading a big body
		 * slowly, the rest of it already queued). The write timeout, re-armed by every
		 * write that makes progress, bounds a client that stopped reading. */
		timer_set(c, conn_idle_ms(c));
		return;
	}
	if (c->lingering) {
		/* Silent for PROXY_LINGER_IDLE_MS, or PROXY_LINGER_MS are over. */
		conn_close(c, OUT_DONE);
		return;
	}
	conn_close(c, c->phase == PHASE_IDLE ? OUT_IDLE_TIMEOUT : OUT_TIMEOUT);
}
