/* h2up.c - HTTP/2 to a function's endpoints (h2up.h): with prior knowledge (h2c) to http://
 * ones, by ALPN over TLS to https:// ones (upstream_connect makes both); per-worker
 * connections, each an nghttp2 client session carrying many exchanges at once, request and
 * response bodies streamed under flow control, the response's trailers relayed (gRPC's status
 * travels in them). It owns its connections as upstream.c owns the HTTP/1.1 ones; the request
 * fields come from forward.c (forward_fields), the answer goes out through x->ops. */
#include "h2up.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <llhttp.h>
#include <nghttp2/nghttp2.h>

#include "conf.h"
#include "exchange.h"
#include "h2out.h"
#include "headers.h"
#include "listener.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

#define H2UP_TICK_MS     1000               /* deadlines are checked this often */
#define H2UP_OUT_HIGH    (64 * 1024)        /* frames queued on the socket: nghttp2 waits above */
#define H2UP_CONN_WINDOW (16 * 1024 * 1024) /* the connection's receive window */
#define H2UP_ATTEMPTS    3                  /* connections tried for one request, as upstream.c */

struct h2up_conn;

/* One exchange on one connection: its request (head kept for a retry, body queue) and its
 * response as it arrives (head or trailers being collected). */
struct h2up_stream {
	struct exchange  *x;            /* NULL once the exchange went its way (done, failed) */
	struct h2up_conn *c;
	int32_t           id;
	const struct conf_function *fn;
	int               ep;           /* endpoint index in fn->upstreams */
	int               attempts;
	struct h2out_fields head;       /* the request head (kept for a retry) */
	bool              has_body;
	bool              reused;       /* submitted on a connection that had answered before */
	struct evbuffer  *req;          /* request body not yet taken by nghttp2 */
	bool              req_eof;      /* the front end pushed the body's end */
	bool              deferred;     /* the data provider waits for more */
	bool              data_sent;    /* a body byte left: the request is no longer retried */
	bool              front_paused; /* the front end was told to stop (body_pause) */
	bool              ended;        /* END_STREAM sent our way */
	/* the response: head (then trailers) fields located in rbuf */
	char             *rbuf;
	size_t            rlen, rcap;
	struct header     rf[H2UP_MAX_RESP_FIELDS];
	unsigned          nrf;
	int               status;
	bool              bad;          /* the head or trailers broke a bound */
	bool              head_relayed;
	size_t            unconsumed;   /* response DATA not yet acknowledged (client congested) */
	bool              read_paused;
	uint64_t          last_us;      /* last progress either way (upstream_response_ms) */
	TAILQ_ENTRY(h2up_stream) entry;
};

struct h2up_conn {
	struct h2up_set    *set;
	struct worker      *w;
	char               *key;        /* the endpoint's pool key (conf.h), as upstream.c's */
	struct bufferevent *bev;
	nghttp2_session    *s;
	struct event       *later;      /* deferred work: send, resume, close */
	struct event       *tick;
	TAILQ_HEAD(, h2up_stream) streams;
	unsigned            nstreams;
	int                 depth;      /* inside an nghttp2 call: sending and freeing must wait */
	bool                connected;
	bool                tls;        /* https: h2 by ALPN */
	unsigned long       answered;   /* streams whose response ended: the connection is proven */
	bool                goaway;     /* no new streams (GOAWAY either way, or draining) */
	bool                dead;       /* closed: freed by the deferred event */
	uint64_t            idle_since_us;
	TAILQ_ENTRY(h2up_conn) entry;
};

struct h2up_set {
	TAILQ_HEAD(, h2up_conn) conns;
	/* closed, waiting for their deferred event to free them (h2up_free_all frees what the
	 * loop's end left) */
	TAILQ_HEAD(, h2up_conn) dead;
};

static void conn_send(struct h2up_conn *c);
/* Which of a closing connection's streams are sent again on another (stream_retry's own
 * conditions apply as well). */
enum h2up_retry {
	RETRY_NONE = 0,
	RETRY_ALL,              /* the connection never connected: nothing was sent */
	RETRY_BODILESS_REUSED,  /* the peer closed without GOAWAY: a bodiless request on a
				 * connection that had answered before may have met its idle
				 * close (upstream.c retries the same on a reused connection) */
};

static void conn_close(struct h2up_conn *c, enum outcome o, enum h2up_retry retry);
static int stream_submit(struct h2up_stream *st, struct h2up_conn *c);
static struct h2up_conn *conn_pick(struct worker *w, const struct conf_function *fn, int *ep,
				   int *local_err);

static const char *ep_key(const struct conf_upstream *ep)
{
	return ep->pool_key != NULL ? ep->pool_key : ep->hostport;
}

static void conn_later(struct h2up_conn *c)
{
	event_active(c->later, EV_TIMEOUT, 0);
}

/* ---- streams ---- */

static void stream_free(struct h2up_stream *st)
{
	if (st == NULL)
		return;
	if (st->req != NULL)
		evbuffer_free(st->req);
	h2out_fields_free(&st->head);
	free(st->rbuf);
	free(st);
}

/* The stream no longer belongs to its connection (closed by nghttp2, or moved for a retry). */
static void stream_unlink(struct h2up_stream *st)
{
	struct h2up_conn *c = st->c;

	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->streams, st, entry);
	if (--c->nstreams == 0)
		c->idle_since_us = util_mono_us();
	if (st->id > 0 && !c->dead)
		nghttp2_session_set_stream_user_data(c->s, st->id, NULL);
	st->c = NULL;
}

/* Detach the exchange: from now on nothing of the stream reaches it. */
static struct exchange *stream_detach(struct h2up_stream *st)
{
	struct exchange *x = st->x;

	st->x = NULL;
	if (x != NULL)
		x->h2up = NULL;
	return x;
}

/* The request failed with the upstream: a 502/504 when nothing of the answer was sent, else
 * the stream is cut (exchange_fail decides). */
static void stream_fail(struct h2up_stream *st, enum outcome o)
{
	struct exchange *x = stream_detach(st);

	if (x == NULL)
		return;
	if (o == OUT_UPSTREAM_CLOSED && st->head_relayed)
		o = OUT_UPSTREAM_CLOSED_MID_RESPONSE;
	exchange_fail(x, o);
}

/* forward_fields' sink: a kept or added request field into the head. */
static void head_add(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	h2out_fields_add(arg, n, nl, v, vl);
}

/* The request head for endpoint ep: pseudo-fields, the fields forward.c keeps and adds,
 * `te: trailers` when the client asked for trailers (gRPC requires it; TE is otherwise
 * hop-by-hop), content-length when announced. 0, or -1 when out of memory. */
static int stream_head(struct h2up_stream *st, const struct exchange *x,
		       const struct conf_upstream *ep)
{
	const char *m = llhttp_method_name((llhttp_method_t)x->method);
	char *target = malloc(strlen(ep->base_path) + x->path_len + 2);
	size_t tl;

	if (target == NULL)
		return -1;
	tl = forward_target(x, ep, target);
	h2out_fields_clear(&st->head);
	h2out_fields_add(&st->head, ":method", 7, m, strlen(m));
	if (ep->tls)
		h2out_fields_add(&st->head, ":scheme", 7, "https", 5);
	else
		h2out_fields_add(&st->head, ":scheme", 7, "http", 4);
	h2out_fields_add(&st->head, ":authority", 10, ep->hostport, strlen(ep->hostport));
	h2out_fields_add(&st->head, ":path", 5, target, tl);
	free(target);
	for (unsigned i = 0; i < x->nhdr; i++) {
		const struct header *h = &x->hdr[i];

		if (h->name_len == 2 && util_ieq(x->buf + h->name_off, 2, "te") &&
		    headers_list_has(x->buf + h->val_off, h->val_len, "trailers", 8)) {
			h2out_fields_add(&st->head, "te", 2, "trailers", 8);
			break;
		}
	}
	if (x->cl_present) {
		char num[24];

		h2out_fields_add(&st->head, "content-length", 14, num,
				 util_u64_dec(x->content_length, num));
	}
	forward_fields(x, head_add, &st->head);
	return st->head.failed ? -1 : 0;
}

/* The request body's DATA frames: from the stream's queue; deferred while it is empty and
 * the body goes on (h2up_body resumes it). */
static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2up_stream *st = src->ptr;
	ssize_t n = h2out_queue_read(st->req, st->req_eof, buf, length, flags, &st->deferred);

	(void)s;
	(void)id;
	(void)arg;
	if (n < 0)
		return n;
	if (n > 0) {
		st->data_sent = true;
		st->last_us = util_mono_us();
	}
	if (*flags & NGHTTP2_DATA_FLAG_EOF)
		st->ended = true;
	if (st->front_paused && st->c != NULL &&
	    evbuffer_get_length(st->req) <= EXCHANGE_HIGH_WATER / 2)
		conn_later(st->c);      /* the front end resumes there, outside nghttp2 */
	return n;
}

static int stream_submit(struct h2up_stream *st, struct h2up_conn *c)
{
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read};
	const nghttp2_nv *nva = h2out_fields_nv(&st->head);
	int32_t id;

	if (nva == NULL)
		return -1;
	/* nghttp2 copies the fields; a bodiless request ends with its HEADERS. */
	id = nghttp2_submit_request(c->s, NULL, nva, st->head.n, st->has_body ? &dp : NULL, st);
	if (id < 0)
		return -1;
	st->id = id;
	st->c = c;
	st->reused = c->answered > 0;
	st->deferred = false;
	st->ended = !st->has_body;
	st->last_us = util_mono_us();
	TAILQ_INSERT_TAIL(&c->streams, st, entry);
	c->nstreams++;
	c->idle_since_us = 0;
	return 0;
}

/* ---- connections ---- */

static struct h2up_set *set_of(struct worker *w)
{
	if (w->h2up == NULL && (w->h2up = calloc(1, sizeof(*w->h2up))) != NULL) {
		TAILQ_INIT(&w->h2up->conns);
		TAILQ_INIT(&w->h2up->dead);
	}
	return w->h2up;
}

/* How many more streams c takes: the peer's SETTINGS_MAX_CONCURRENT_STREAMS, at most ours. */
static bool conn_has_room(struct h2up_conn *c)
{
	uint32_t peer = nghttp2_session_get_remote_settings(c->s,
		NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	uint32_t max = peer < H2UP_MAX_STREAMS ? peer : H2UP_MAX_STREAMS;

	return !c->goaway && !c->dead && c->nstreams < max &&
	       nghttp2_session_check_request_allowed(c->s);
}

static ssize_t cb_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct h2up_conn *c = arg;

	(void)s;
	(void)flags;
	return h2out_send(c->bev, H2UP_OUT_HIGH, data, len);
}

static int cb_begin_headers(nghttp2_session *s, const nghttp2_frame *fr, void *arg)
{
	struct h2up_stream *st;

	(void)arg;
	if (fr->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(s, fr->hd.stream_id);
	if (st == NULL)
		return 0;
	st->rlen = 0;
	st->nrf = 0;
	return 0;
}

/* A response (or trailer) field, within the function's max_header_bytes and
 * H2UP_MAX_RESP_FIELDS; past them the stream is marked bad (a 502, or a cut response). */
static int cb_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name,
		     size_t nl, const uint8_t *val, size_t vl, uint8_t flags, void *arg)
{
	struct h2up_stream *st;

	(void)flags;
	(void)arg;
	if (fr->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(s, fr->hd.stream_id);
	if (st == NULL || st->bad)
		return 0;
	st->last_us = util_mono_us();
	if (nl == 7 && memcmp(name, ":status", 7) == 0) {
		/* nghttp2 checked it is three digits */
		st->status = (val[0] - '0') * 100 + (val[1] - '0') * 10 + (val[2] - '0');
		return 0;
	}
	if (nl > 0 && name[0] == ':')
		return 0;
	if (st->nrf == H2UP_MAX_RESP_FIELDS || st->rlen + nl + vl > st->fn->limits.max_header_bytes) {
		st->bad = true;
		return 0;
	}
	if (st->rlen + nl + vl > st->rcap) {
		size_t ncap = st->rcap ? st->rcap : 512;
		char *np;

		while (ncap < st->rlen + nl + vl)
			ncap *= 2;
		if ((np = realloc(st->rbuf, ncap)) == NULL) {
			st->bad = true;
			return 0;
		}
		st->rbuf = np;
		st->rcap = ncap;
	}
	st->rf[st->nrf] = (struct header){.name_off = (uint32_t)st->rlen, .name_len = (uint32_t)nl,
					  .val_off = (uint32_t)(st->rlen + nl),
					  .val_len = (uint32_t)vl};
	memcpy(st->rbuf + st->rlen, name, nl);
	memcpy(st->rbuf + st->rlen + nl, val, vl);
	st->rlen += nl + vl;
	st->nrf++;
	return 0;
}

/* The response head arrived: relayed field by field as response.c relays an HTTP/1.1 one
 * (response_field: connection-specific fields dropped, redirects brought back under the
 * function's prefix; then fngate's X-Request-Id and CORS fields). 0, or -1 when out of memory
 * (nothing was committed: the caller resets the stream and the exchange fails). */
static int stream_relay_head(struct h2up_stream *st, bool end)
{
	struct exchange *x = st->x;
	const struct exchange_out_ops *ops = x->ops;
	bool no_body = x->method == HTTP_HEAD || st->status == 204 || st->status == 304;
	uint64_t cl = 0;
	bool cl_known = false;

	ops->head_start(x, st->status, NULL, 0);
	for (unsigned i = 0; i < st->nrf; i++) {
		const struct header *h = &st->rf[i];
		const char *name = st->rbuf + h->name_off, *val = st->rbuf + h->val_off;

		if (h->name_len == 14 && memcmp(name, "content-length", 14) == 0) {
			/* nghttp2 checked it is a number, and checks the DATA frames against it */
			for (size_t k = 0; k < h->val_len && val[k] >= '0' && val[k] <= '9'; k++)
				cl = cl * 10 + (uint64_t)(val[k] - '0');
			cl_known = true;
			/* A HEAD or 304 answer keeps the length of the entity it describes;
			 * otherwise the front end states it from the body's length. */
			if (no_body && st->status != 204)
				ops->head_field(x, name, h->name_len, val, h->val_len);
			continue;
		}
		if (response_field(x, st->ep, name, h->name_len, val, h->val_len) != 0)
			return -1;
	}
	response_own_fields(x);
	ops->head_end(x, no_body ? EXCHANGE_BODY_NONE : end ? EXCHANGE_BODY_LENGTH :
		      cl_known ? EXCHANGE_BODY_LENGTH : EXCHANGE_BODY_STREAM, end ? 0 : cl, false);
	x->status = st->status;
	x->upstream_us = (int64_t)(util_mono_us() - x->upstream_start_us);
	st->head_relayed = true;
	return 0;
}

/* The response ended (END_STREAM): its trailers (the fields just collected, when `trailers`)
 * go with the end of the body, and the exchange is done. A request still being sent is
 * stopped (RST_STREAM NO_ERROR, RFC 9113 8.1). */
static void stream_complete(struct h2up_stream *st, bool trailers)
{
	struct header tr[H2UP_MAX_RESP_FIELDS];
	unsigned n = 0;
	struct exchange *x;

	if (trailers) {
		for (unsigned i = 0; i < st->nrf; i++) {
			const struct header *h = &st->rf[i];

			if (headers_trailer_forbidden(st->rbuf + h->name_off, h->name_len))
				continue;
			tr[n++] = *h;
		}
	}
	if (st->c != NULL)
		st->c->answered++;
	x = stream_detach(st);
	x->ops->body_end(x, st->rbuf, tr, n);
	x->ops->flush(x);
	if (!st->ended && st->c != NULL)
		nghttp2_submit_rst_stream(st->c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	x->ops->done(x);
}

static int cb_frame_recv(nghttp2_session *s, const nghttp2_frame *fr, void *arg)
{
	struct h2up_conn *c = arg;
	struct h2up_stream *st = fr->hd.stream_id != 0 ?
		nghttp2_session_get_stream_user_data(s, fr->hd.stream_id) : NULL;
	bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (fr->hd.type == NGHTTP2_GOAWAY) {
		/* Streams above last_stream_id are closed by nghttp2 (cb_stream_close retries
		 * them); the connection takes no new ones and ends with its last. */
		c->goaway = true;
		return 0;
	}
	if (st == NULL || st->x == NULL)
		return 0;
	if (fr->hd.type == NGHTTP2_HEADERS) {
		if (st->bad) {
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
			stream_fail(st, OUT_UPSTREAM_BAD_RESPONSE);
			return 0;
		}
		if (!st->head_relayed) {
			if (st->status < 200)
				return 0;   /* informational: the final head follows */
			if (stream_relay_head(st, end) != 0) {
				nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id,
							  NGHTTP2_INTERNAL_ERROR);
				stream_fail(st, OUT_OUT_OF_MEMORY);
				return 0;
			}
			if (end)
				stream_complete(st, false);
			else
				st->x->ops->flush(st->x);
		} else if (end) {
			stream_complete(st, true);
		}
		return 0;
	}
	if (fr->hd.type == NGHTTP2_DATA && end && st->head_relayed)
		stream_complete(st, false);
	return 0;
}

/* Response body: relayed as it comes; its window is given back only while the client side
 * keeps up (h2up_read_resume gives back what waited). */
static int cb_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *arg)
{
	struct h2up_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	(void)arg;
	nghttp2_session_consume_connection(s, len);
	if (st == NULL || st->x == NULL || !st->head_relayed) {
		nghttp2_session_consume_stream(s, id, len);
		return 0;
	}
	st->last_us = util_mono_us();
	st->x->ops->body(st->x, (const char *)data, len);
	st->x->ops->flush(st->x);     /* a streamed message must not wait for more */
	if (st->read_paused || st->x->ops->congested(st->x)) {
		st->read_paused = true;
		st->unconsumed += len;
	} else {
		nghttp2_session_consume_stream(s, id, len);
	}
	return 0;
}

/* Retry a stream the upstream did not process (REFUSED_STREAM, a stream above a GOAWAY's
 * last id, a connection that never connected) on another connection, its head rebuilt for the
 * endpoint chosen. True when it went; never once a body byte left or the answer began. */
static bool stream_retry(struct h2up_stream *st)
{
	struct h2up_conn *c;
	int ep, err;

	if (st->x == NULL || st->data_sent || st->head_relayed || st->attempts >= H2UP_ATTEMPTS)
		return false;
	c = conn_pick(st->x->w, st->fn, &ep, &err);
	if (c == NULL)
		return false;
	if (ep != st->ep && stream_head(st, st->x, &st->fn->upstreams[ep]) != 0)
		return false;
	st->ep = ep;
	st->attempts++;
	if (stream_submit(st, c) != 0)
		return false;
	conn_send(c);
	return true;
}

static int cb_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct h2up_stream *st = nghttp2_session_get_stream_user_data(s, id);
	struct h2up_conn *c = arg;

	if (st == NULL)
		return 0;
	stream_unlink(st);
	/* Not processed by the upstream: sent again while none of its body left. */
	if (st->x != NULL && code == NGHTTP2_REFUSED_STREAM && stream_retry(st))
		return 0;
	/* Reset or closed before the end: before the head a 502, after it the client's stream
	 * is cut (abort). */
	stream_fail(st, OUT_UPSTREAM_CLOSED);
	stream_free(st);
	conn_later(c);
	return 0;
}

/* Hand what nghttp2 has to the socket; inside an nghttp2 callback, wait for the deferred
 * event (nghttp2 forbids sending from its callbacks). */
static void conn_send(struct h2up_conn *c)
{
	int rv;

	if (c->dead)
		return;
	if (c->depth > 0) {
		conn_later(c);
		return;
	}
	c->depth++;
	rv = nghttp2_session_send(c->s);
	c->depth--;
	if (rv != 0) {
		log_msg(LOG_LVL_WARN, "upstream %s: h2 send: %s", c->key, nghttp2_strerror(rv));
		conn_close(c, OUT_UPSTREAM_CLOSED, RETRY_NONE);
	}
}

/* The connection is over: its streams fail, or move to another connection as `retry` allows,
 * and it is freed on the deferred event, outside any callback of its own. */
static void conn_close(struct h2up_conn *c, enum outcome o, enum h2up_retry retry)
{
	struct h2up_stream *st;

	if (c->dead)
		return;
	c->dead = true;
	TAILQ_REMOVE(&c->set->conns, c, entry);
	TAILQ_INSERT_TAIL(&c->set->dead, c, entry);
	while ((st = TAILQ_FIRST(&c->streams)) != NULL) {
		stream_unlink(st);
		if ((retry == RETRY_ALL || (retry == RETRY_BODILESS_REUSED && st->reused &&
					    !st->has_body)) && stream_retry(st))
			continue;
		stream_fail(st, o);
		stream_free(st);
	}
	if (c->bev != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	conn_later(c);
}

static void conn_free(struct h2up_conn *c)
{
	if (c->s != NULL)
		nghttp2_session_del(c->s);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->later != NULL)
		event_free(c->later);
	if (c->tick != NULL)
		event_free(c->tick);
	free(c->key);
	free(c);
}

/* Deferred work, outside nghttp2 and outside the core's calls: front ends resumed, frames
 * sent, a dead connection freed, a finished GOAWAY connection closed. */
static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up_conn *c = arg;
	struct h2up_stream *st;

	(void)fd;
	(void)what;
	if (c->dead) {
		TAILQ_REMOVE(&c->set->dead, c, entry);
		conn_free(c);
		return;
	}
	/* The front ends may push, flush or cancel meanwhile: nothing is sent (and no stream
	 * closed) until the walk is over. */
	c->depth++;
	TAILQ_FOREACH(st, &c->streams, entry) {
		if (st->front_paused && st->x != NULL &&
		    evbuffer_get_length(st->req) <= EXCHANGE_HIGH_WATER / 2) {
			st->front_paused = false;
			st->x->ops->body_resume(st->x);
		}
	}
	c->depth--;
	conn_send(c);
	if (!c->dead && c->nstreams == 0 &&
	    (c->goaway || (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s))))
		conn_close(c, OUT_UPSTREAM_CLOSED, RETRY_NONE);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct h2up_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->dead && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		ssize_t n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		c->depth++;
		n = nghttp2_session_mem_recv(c->s, v.iov_base, v.iov_len);
		c->depth--;
		if (n < 0) {
			log_msg(LOG_LVL_WARN, "upstream %s: h2: %s", c->key, nghttp2_strerror((int)n));
			conn_close(c, OUT_UPSTREAM_BAD_RESPONSE, RETRY_NONE);
			return;
		}
		evbuffer_drain(in, (size_t)n);
	}
	conn_send(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_send(arg);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct h2up_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* An https endpoint that did not choose h2 would read our frames as garbage. */
		if (c->tls && !tls_alpn_h2(bufferevent_openssl_get_ssl(c->bev))) {
			log_msg(LOG_LVL_WARN, "upstream %s: the TLS server did not choose h2 by ALPN: "
				"not an HTTP/2 endpoint", c->key);
			conn_close(c, OUT_UPSTREAM_TLS_FAILED, RETRY_NONE);
			return;
		}
		c->connected = true;
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		conn_send(c);
		return;
	}
	if (!c->connected) {
		int err = EVUTIL_SOCKET_ERROR();

		if (c->tls && !(what & BEV_EVENT_TIMEOUT) &&
		    upstream_tls_failed_bev(c->bev, false, c->key)) {
			conn_close(c, OUT_UPSTREAM_TLS_FAILED, RETRY_NONE);
			return;
		}
		log_msg(LOG_LVL_WARN, "upstream %s: h2 connect: %s", c->key,
			(what & BEV_EVENT_TIMEOUT) ? "timed out" : err != 0 ? strerror(err) :
			"failed");
		conn_close(c, (what & BEV_EVENT_TIMEOUT) ? OUT_UPSTREAM_CONNECT_TIMEOUT :
			   OUT_UPSTREAM_UNAVAILABLE, RETRY_ALL);
		return;
	}
	/* A TLS 1.3 server judges our client certificate after our side of the handshake
	 * finished: its refusal arrives as an alert, once connected. */
	if (c->tls && upstream_tls_failed_bev(c->bev, true, c->key)) {
		conn_close(c, OUT_UPSTREAM_TLS_FAILED, RETRY_NONE);
		return;
	}
	conn_close(c, OUT_UPSTREAM_CLOSED, RETRY_BODILESS_REUSED);
}

/* Deadlines: a stream without progress either way for the function's upstream_response_ms
 * is reset and failed (504); a connection without streams for UPSTREAM_IDLE_MS, or on a
 * draining worker, ends. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up_conn *c = arg;
	struct timeval tv = {H2UP_TICK_MS / 1000, (H2UP_TICK_MS % 1000) * 1000};
	uint64_t now = util_mono_us();
	struct h2up_stream *st;

	(void)fd;
	(void)what;
	c->depth++;     /* as in later_cb: no stream closes during the walk */
	TAILQ_FOREACH(st, &c->streams, entry) {
		/* A stream held back by the client (its response window kept closed) is the
		 * client side's to time out. */
		if (st->x == NULL || st->read_paused || st->front_paused ||
		    now - st->last_us <= (uint64_t)st->fn->timeouts.upstream_response_ms * 1000u)
			continue;
		nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		stream_fail(st, OUT_UPSTREAM_TIMEOUT);
	}
	c->depth--;
	if (c->nstreams == 0 && c->idle_since_us != 0 &&
	    (now - c->idle_since_us > (uint64_t)UPSTREAM_IDLE_MS * 1000u ||
	     atomic_load(&c->w->draining))) {
		nghttp2_session_terminate_session(c->s, NGHTTP2_NO_ERROR);
		c->goaway = true;
	}
	conn_send(c);
	if (!c->dead && c->goaway && c->nstreams == 0) {
		conn_close(c, OUT_UPSTREAM_CLOSED, RETRY_NONE);
		return;
	}
	if (!c->dead)
		evtimer_add(c->tick, &tv);
}

/* A new connection to ep, connecting, its session started (our SETTINGS queued). NULL on
 * failure, *local_err the errno when the shortage is fngate's own. */
static struct h2up_conn *conn_new(struct worker *w, const struct conf_upstream *ep,
				  const struct conf_function *fn, int *local_err)
{
	struct h2up_set *set = set_of(w);
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	struct h2up_conn *c = NULL;
	struct timeval ct = {fn->timeouts.upstream_connect_ms / 1000,
			     (fn->timeouts.upstream_connect_ms % 1000) * 1000};
	struct timeval tick = {H2UP_TICK_MS / 1000, (H2UP_TICK_MS % 1000) * 1000};

	*local_err = 0;
	if (set == NULL || (c = calloc(1, sizeof(*c))) == NULL ||
	    (c->key = strdup(ep_key(ep))) == NULL) {
		*local_err = ENOMEM;
		goto fail;
	}
	c->set = set;
	c->w = w;
	TAILQ_INIT(&c->streams);
	c->idle_since_us = util_mono_us();
	c->tls = ep->tls_client != NULL;
	c->later = event_new(w->base, -1, 0, later_cb, c);
	c->tick = evtimer_new(w->base, tick_cb, c);
	if (c->later == NULL || c->tick == NULL ||
	    nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
		*local_err = ENOMEM;
		goto fail;
	}
	nghttp2_session_callbacks_set_send_callback(cbs, cb_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
	/* Response DATA is acknowledged as the client side takes it (cb_data_chunk). */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	if (nghttp2_session_client_new2(&c->s, cbs, c, opt) != 0) {
		*local_err = ENOMEM;
		goto fail;
	}
	{
		nghttp2_settings_entry iv[] = {
			{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
			{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, EXCHANGE_HIGH_WATER},
			{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)fn->limits.max_header_bytes},
		};

		if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, ARRAY_LEN(iv)) != 0 ||
		    nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0,
							  H2UP_CONN_WINDOW) != 0) {
			*local_err = ENOMEM;
			goto fail;
		}
	}
	/* https: h2 by ALPN, checked once connected (event_cb). */
	c->bev = upstream_connect(w->base, (const struct sockaddr *)&ep->addr, ep->addrlen,
				  ep->tls_client, ep->host, true, local_err);
	if (c->bev == NULL)
		goto fail;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* Until connected, the write timeout is the connect timeout (event_cb clears it); it
	 * bounds the TLS handshake too. */
	bufferevent_set_timeouts(c->bev, NULL, &ct);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	evtimer_add(c->tick, &tick);
	TAILQ_INSERT_TAIL(&set->conns, c, entry);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return c;
fail:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (c != NULL)
		conn_free(c);
	return NULL;
}

/* A connection with room to one of fn's endpoints, round robin from the worker's counter,
 * avoiding none: an open one first, else a new one (at most H2UP_MAX_CONNS per endpoint). */
static struct h2up_conn *conn_pick(struct worker *w, const struct conf_function *fn, int *ep,
				   int *local_err)
{
	struct h2up_set *set = set_of(w);
	size_t n = fn->nupstreams, start;

	*local_err = 0;
	if (set == NULL) {
		*local_err = ENOMEM;
		return NULL;
	}
	if (n == 0)
		return NULL;
	start = (size_t)(w->rr++ % n);
	for (size_t i = 0; i < n; i++) {
		size_t idx = (start + i) % n;
		const char *key = ep_key(&fn->upstreams[idx]);
		struct h2up_conn *c;
		unsigned count = 0;

		TAILQ_FOREACH(c, &set->conns, entry) {
			if (strcmp(c->key, key) != 0)
				continue;
			if (conn_has_room(c)) {
				*ep = (int)idx;
				return c;
			}
			count++;
		}
		if (count >= H2UP_MAX_CONNS)
			continue;
		c = conn_new(w, &fn->upstreams[idx], fn, local_err);
		if (c != NULL) {
			*ep = (int)idx;
			return c;
		}
		if (*local_err != 0)
			return NULL;
	}
	return NULL;
}

/* ---- the exchange's side ---- */

int h2up_start(struct exchange *x)
{
	struct h2up_stream *st;
	struct h2up_conn *c;
	int ep = 0, local_err;

	/* No upgrades over h2c (Upgrade is connection-specific in HTTP/2; fngate does not open
	 * extended CONNECT tunnels upstream): the tunnel slot is free again. An HTTP/1.1 Upgrade
	 * may be ignored (RFC 9110 7.8), so that request goes as a plain one; an extended CONNECT
	 * may not (a 2xx would tell its client the tunnel is open): refused. */
	if (x->upgrade) {
		tunnel_unreserve(x);
		x->upgrade = false;
		if (x->upgrade_required) {
			reply_error(x, OUT_PROTOCOL_NOT_SUPPORTED, x->has_body);
			return -1;
		}
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->req = evbuffer_new()) == NULL) {
		stream_free(st);
		reply_error(x, OUT_OUT_OF_MEMORY, x->has_body);
		return -1;
	}
	c = conn_pick(x->w, x->fn, &ep, &local_err);
	if (c == NULL) {
		enum outcome why = local_err == EMFILE || local_err == ENFILE ? OUT_OUT_OF_DESCRIPTORS :
		    local_err == EADDRNOTAVAIL ? OUT_OUT_OF_LOCAL_PORTS :
		    local_err != 0 ? OUT_OUT_OF_MEMORY : OUT_UPSTREAM_UNAVAILABLE;

		if (local_err != 0)
			listener_pause(x->w->ls);
		stream_free(st);
		reply_error(x, why, x->has_body);
		return -1;
	}
	st->x = x;
	st->fn = x->fn;
	st->ep = ep;
	st->attempts = 1;
	st->has_body = x->has_body;
	if (stream_head(st, x, &x->fn->upstreams[ep]) != 0 || stream_submit(st, c) != 0) {
		stream_free(st);
		reply_error(x, OUT_OUT_OF_MEMORY, true);
		return -1;
	}
	x->h2up = st;
	x->upstream_start_us = util_mono_us();
	if (x->expect_continue && x->has_body)
		x->ops->send_continue(x);   /* the request is allowed: the client may send its body */
	conn_send(c);
	return 0;
}

/* More request body was queued: a deferred provider runs again; a full queue pauses the
 * front end. */
static void body_queued(struct exchange *x)
{
	struct h2up_stream *st = x->h2up;

	if (st->deferred && st->c != NULL) {
		st->deferred = false;
		nghttp2_session_resume_data(st->c->s, st->id);
	}
	if (evbuffer_get_length(st->req) > EXCHANGE_HIGH_WATER && !st->front_paused) {
		st->front_paused = true;
		x->ops->body_pause(x);
	}
}

void h2up_body(struct exchange *x, const char *p, size_t n)
{
	evbuffer_add(x->h2up->req, p, n);
	body_queued(x);
}

void h2up_body_move(struct exchange *x, struct evbuffer *in, size_t n)
{
	evbuffer_remove_buffer(in, x->h2up->req, n);
	x->body_bytes += n;
	body_queued(x);
}

void h2up_body_end(struct exchange *x)
{
	x->h2up->req_eof = true;
	body_queued(x);
	/* The end goes out even when the front end does not flush after it (request trailers). */
	if (x->h2up->c != NULL)
		conn_later(x->h2up->c);
}

void h2up_flush(struct exchange *x)
{
	if (x->h2up->c != NULL)
		conn_send(x->h2up->c);
}

size_t h2up_pending(const struct exchange *x)
{
	return evbuffer_get_length(x->h2up->req);
}

void h2up_read_resume(struct exchange *x)
{
	struct h2up_stream *st = x->h2up;

	if (!st->read_paused || st->c == NULL)
		return;
	st->read_paused = false;
	if (st->unconsumed > 0)
		nghttp2_session_consume_stream(st->c->s, st->id, st->unconsumed);
	st->unconsumed = 0;
	conn_send(st->c);
}

void h2up_cancel(struct exchange *x)
{
	struct h2up_stream *st = x->h2up;

	stream_detach(st);
	if (st->c == NULL) {
		stream_free(st);
		return;
	}
	/* The stream is freed when nghttp2 closes it (cb_stream_close). */
	nghttp2_submit_rst_stream(st->c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
	conn_send(st->c);
}

void h2up_conns_foreach(struct worker *w, void (*fn)(const char *key, unsigned nstreams, void *arg),
			void *arg)
{
	struct h2up_conn *c;

	if (w->h2up == NULL)
		return;
	TAILQ_FOREACH(c, &w->h2up->conns, entry)
		fn(c->key, c->nstreams, arg);
}

void h2up_free_all(struct worker *w)
{
	struct h2up_conn *c;

	if (w->h2up == NULL)
		return;
	while ((c = TAILQ_FIRST(&w->h2up->conns)) != NULL) {
		TAILQ_REMOVE(&w->h2up->conns, c, entry);
		while (!TAILQ_EMPTY(&c->streams)) {
			struct h2up_stream *st = TAILQ_FIRST(&c->streams);

			TAILQ_REMOVE(&c->streams, st, entry);
			stream_detach(st);
			stream_free(st);
		}
		conn_free(c);
	}
	/* Closed ones whose deferred event never ran (the loop ended first): their streams are
	 * gone already (conn_close). */
	while ((c = TAILQ_FIRST(&w->h2up->dead)) != NULL) {
		TAILQ_REMOVE(&w->h2up->dead, c, entry);
		conn_free(c);
	}
	free(w->h2up);
	w->h2up = NULL;
}
