/* h2.c - the HTTP/2 front end (h2.h): an nghttp2 server session on a client connection, one
 * struct exchange per stream dispatched to the proxy core exactly as HTTP/1's requests are (so
 * every stream meets the same route, CORS and gate), and the exchange_out_ops that answer it as
 * HEADERS and DATA frames. Flow control is tied to backpressure both ways: a stream's response
 * body waits in its own queue (congested() stops its upstream, never the others), and request
 * DATA is acknowledged (WINDOW_UPDATE) only as the upstream takes it. An extended CONNECT for
 * websocket (RFC 8441) is an upgrade to the core, and its stream a tunnel after the upstream's
 * 101 (h2_tunnel, h2_shut). nghttp2 keeps the protocol state; the limits are configuration
 * (conf.http2) and the defences are listed in docs/security.md. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <nghttp2/nghttp2.h>

#include "b64url.h"
#include "conf.h"
#include "exchange.h"
#include "h2.h"
#include "h2out.h"
#include "headers.h"
#include "http1.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "util.h"
#include "worker.h"

#define H2_TICK_MS        1000              /* deadlines are checked this often */
#define H2_OUT_HIGH       (64 * 1024)       /* frames queued on the socket: nghttp2 waits above */
#define H2_REQ_BUF        1024              /* a stream's head text, first allocation */
#define H2_PROTOCOL       "HTTP/2.0"

static const char h2_magic[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct h2;

/* One stream: its request (head memory, the exchange) and its response (head being built,
 * body queued for the data provider). */
struct h2_stream {
	struct exchange ex;
	struct h2      *h;
	int32_t         id;
	TAILQ_ENTRY(h2_stream) entry;
	/* the request head: pseudo-fields and fields, as text (x->buf) */
	char           *buf;
	size_t          len, cap;
	size_t          head_bytes;     /* as HPACK decoded them, stored or not */
	struct header   hdr[PROXY_MAX_HEADERS];
	enum outcome    head_err;       /* a limit or malformation met while the head was read */
	bool            has_path, has_method;
	struct h2out_fields rhead;      /* the response head being built, then its trailers */
	struct evbuffer *out;           /* response body waiting for the data provider */
	bool            out_eof;        /* body_end: the provider ends the stream once out drains */
	bool            deferred;       /* the provider is deferred until more is queued */
	bool            congested;      /* the core was told to stop (congested() was true) */
	bool            dispatched;     /* the head was complete and handed to the core */
	bool            finished;       /* the core is done with the exchange (done, abort, reply) */
	bool            closed;         /* nghttp2 closed the stream */
	bool            discard;        /* the request body is not wanted: consumed and dropped */
	bool            paused;         /* the upstream is full: request DATA is not acknowledged */
	size_t          unconsumed;     /* request DATA not yet acknowledged to the client */
	uint64_t        last_us;        /* last progress either way (stall deadline) */
	/* an extended CONNECT (RFC 8441): x->upgrade, the stream a tunnel after the upstream's 101 */
	bool            has_protocol;   /* a :protocol pseudo-field came */
	bool            websocket;      /* ...and it named websocket */
	bool            switching;      /* the upstream's 101 is being answered as a 200 */
	bool            tunnel;         /* the tunnel began (ops->tunnel): DATA is its bytes */
	bool            tin_eof;        /* the client ended its direction (END_STREAM) */
	bool            eof_passed;     /* ...and tunnel.c was told */
	bool            clean_close;    /* nghttp2 closed the stream without an error code */
	struct evbuffer *tin;           /* the client's tunnel bytes on their way to tunnel.c */
};

struct h2 {
	struct conn       *c;
	nghttp2_session   *s;
	TAILQ_HEAD(, h2_stream) streams;
	unsigned           nstreams;
	struct event      *later;       /* deferred work: send, reap closed streams, resume relays */
	int                depth;       /* inside an nghttp2 call: sending must wait */
	bool               going_away;  /* GOAWAY submitted (drain, or a defence) */
	bool               settings_acked;
	bool               in_header_block; /* a HEADERS frame is being read (its CONTINUATIONs) */
	uint64_t           started_us;
	uint64_t           header_block_us; /* when the block began */
	uint64_t           idle_since_us;   /* when the last stream ended (0: streams open) */
	uint64_t           resets_since_us; /* the current second of the reset count */
	unsigned           resets;          /* RST_STREAM frames received in it */
	unsigned           max_resets;      /* conf.http2.max_resets_per_s */
	unsigned           header_ms, idle_ms;
	size_t             max_header;
};

static struct h2_stream *stream_of(struct exchange *x)
{
	return (struct h2_stream *)(void *)((char *)x - offsetof(struct h2_stream, ex));
}

static void h2_later(struct h2 *h)
{
	event_active(h->later, EV_TIMEOUT, 0);
}

/* Hand what nghttp2 has to the socket. Inside an nghttp2 callback this waits for the deferred
 * event (nghttp2 forbids sending from its callbacks). Never frees the connection. */
static void h2_send(struct h2 *h)
{
	int rv;

	if (h->depth > 0) {
		h2_later(h);
		return;
	}
	h->depth++;
	rv = nghttp2_session_send(h->s);
	h->depth--;
	if (rv != 0) {
		log_msg(LOG_LVL_DEBUG, "h2 %s: send: %s", h->c->client, nghttp2_strerror(rv));
		h->going_away = true;
	}
	conn_flush(h->c);
	if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
		h2_later(h);
}

/* ---- the exchange output of a stream ---- */

static void h2_head_start(struct exchange *x, int status, const char *reason, size_t reason_len)
{
	struct h2_stream *st = stream_of(x);
	char num[8];

	(void)reason;       /* HTTP/2 has no reason phrase */
	(void)reason_len;
	h2out_fields_clear(&st->rhead);
	/* RFC 8441 5: an extended CONNECT is accepted with a 2xx; the 101 is HTTP/1.1's. */
	if (status == 101 && x->upgrade) {
		st->switching = true;
		status = 200;
	}
	h2out_fields_add(&st->rhead, ":status", 7, num, util_u64_dec((uint64_t)status, num));
}

static void h2_head_field(struct exchange *x, const char *name, size_t name_len, const char *val,
			  size_t val_len)
{
	/* Connection-specific fields have no meaning in HTTP/2 and make the message malformed
	 * (RFC 9113 8.2.2). */
	if (headers_hop_by_hop(name, name_len))
		return;
	/* The accept answers the key fngate made up (stream_websocket), not anything the
	 * client sent: RFC 8441 has no key and no accept. */
	if (stream_of(x)->switching && name_len == 20 &&
	    util_ieq(name, name_len, "sec-websocket-accept"))
		return;
	h2out_fields_add(&stream_of(x)->rhead, name, name_len, val, val_len);
}

/* Submit the fields built in st->rhead as the response head (with the data provider dp,
 * NULL: none) or as trailers; they are then forgotten (nghttp2 copied them). Returns
 * nghttp2's result, or -1 when a field could not be stored (out of memory). */
static int h2_submit_fields(struct h2_stream *st, bool trailers, nghttp2_data_provider *dp)
{
	const nghttp2_nv *nva = h2out_fields_nv(&st->rhead);
	size_t n = st->rhead.n;
	int rv = -1;

	if (nva != NULL)
		rv = trailers ? nghttp2_submit_trailer(st->h->s, st->id, nva, n) :
		     nghttp2_submit_response(st->h->s, st->id, nva, n, dp);
	h2out_fields_clear(&st->rhead);
	return rv;
}

static ssize_t h2_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2_stream *st = src->ptr;
	ssize_t n = h2out_queue_read(st->out, st->out_eof, buf, length, flags, &st->deferred);

	(void)s;
	(void)id;
	(void)arg;
	if (n < 0)
		return n;
	if (n > 0)
		st->last_us = util_mono_us();
	/* Trailers (body_end kept them): a HEADERS frame ends the stream instead. Trailers
	 * that could not be stored end the stream with an error: a gRPC client must not take
	 * a call without its status for one that ended well. */
	if ((*flags & NGHTTP2_DATA_FLAG_EOF) && (st->rhead.n > 0 || st->rhead.failed)) {
		if (h2_submit_fields(st, true, NULL) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
	if (st->congested && evbuffer_get_length(st->out) <= EXCHANGE_HIGH_WATER / 2)
		h2_later(st->h);    /* the relay resumes there, outside nghttp2 */
	return n;
}

static void h2_head_end(struct exchange *x, enum exchange_body body, uint64_t length, bool last)
{
	struct h2_stream *st = stream_of(x);
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = h2_data_read};
	char num[24];
	int rv;

	(void)last;         /* a stream ends on its own; the connection goes on */
	if (body == EXCHANGE_BODY_LENGTH)
		h2out_fields_add(&st->rhead, "content-length", 14, num, util_u64_dec(length, num));
	x->resp = EXCHANGE_RESP_STREAMING;
	if (st->closed)
		return;
	/* HEAD, 204, 304, an empty body: the HEADERS frame ends the stream (gRPC's
	 * "trailers-only" answer must arrive so); an accepted extended CONNECT does not (the
	 * tunnel's bytes follow). nghttp2 copies the fields. */
	rv = h2_submit_fields(st, false, !st->switching &&
			      (body == EXCHANGE_BODY_NONE || x->method == HTTP_HEAD ||
			       (body == EXCHANGE_BODY_LENGTH && length == 0)) ? NULL : &dp);
	if (rv != 0)
		nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* More body was queued: a deferred provider runs again. */
static void h2_out_more(struct h2_stream *st)
{
	if (st->deferred && !st->closed) {
		st->deferred = false;
		nghttp2_session_resume_data(st->h->s, st->id);
	}
}

static void h2_body(struct exchange *x, const char *p, size_t n)
{
	struct h2_stream *st = stream_of(x);

	if (x->method == HTTP_HEAD || st->closed)
		return;
	evbuffer_add(st->out, p, n);
	x->bytes_out += n;
	h2_out_more(st);
}

static void h2_body_move(struct exchange *x, struct evbuffer *from, size_t n)
{
	struct h2_stream *st = stream_of(x);

	if (x->method == HTTP_HEAD || st->closed) {
		evbuffer_drain(from, n);
		return;
	}
	evbuffer_remove_buffer(from, st->out, n);
	x->bytes_out += n;
	h2_out_more(st);
}

static void h2_body_end(struct exchange *x, const char *buf, const struct header *tr, unsigned n)
{
	struct h2_stream *st = stream_of(x);

	/* Trailers (an h2c upstream's, gRPC's status): kept in the head's buffer, which the
	 * head no longer needs, until the data provider reaches the end (h2_data_read). */
	h2out_fields_clear(&st->rhead);
	for (unsigned i = 0; i < n && x->method != HTTP_HEAD; i++)
		h2_head_field(x, buf + tr[i].name_off, tr[i].name_len, buf + tr[i].val_off,
			      tr[i].val_len);
	st->out_eof = true;
	x->resp = EXCHANGE_RESP_COMPLETE;
	h2_out_more(st);
}

static void h2_flush(struct exchange *x)
{
	h2_send(stream_of(x)->h);
}

static bool h2_congested(const struct exchange *x)
{
	struct h2_stream *st = stream_of((struct exchange *)(uintptr_t)x);

	if (evbuffer_get_length(st->out) <= EXCHANGE_HIGH_WATER)
		return false;
	st->congested = true;
	return true;
}

static void h2_send_continue(struct exchange *x)
{
	struct h2_stream *st = stream_of(x);
	static const nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3,
				      NGHTTP2_NV_FLAG_NONE};

	if (!st->closed)
		nghttp2_submit_headers(st->h->s, NGHTTP2_FLAG_NONE, st->id, NULL, &nv, 1, NULL);
	h2_send(st->h);
}

static void h2_done(struct exchange *x)
{
	struct h2_stream *st = stream_of(x);

	st->finished = true;
	/* A tunnel over (both directions ended, or the client's where the upstream cannot
	 * half-close): our direction ends too, once what is queued is sent. */
	if (st->tunnel && !st->out_eof) {
		st->out_eof = true;
		h2_out_more(st);
	}
	h2_send(st->h);
	h2_later(st->h);        /* reaped there once nghttp2 closed it too */
}

static void h2_abort(struct exchange *x, enum outcome why)
{
	struct h2_stream *st = stream_of(x);

	if (x->err == OUT_NONE)
		x->err = why;
	forward_cancel(x);
	st->finished = true;
	/* The reset tells the client the response is incomplete; a tunnel cut (idle, the
	 * upstream failed) is cancelled, as a TCP connection would be reset. */
	if (!st->closed)
		nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id,
					  st->tunnel ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
	h2_send(st->h);
	h2_later(st->h);
}

static void h2_body_pause(struct exchange *x)
{
	stream_of(x)->paused = true;
}

/* Acknowledge request DATA the upstream took: the client may send that much more. */
static void h2_consume(struct h2_stream *st)
{
	if (st->unconsumed > 0 && !st->closed)
		nghttp2_session_consume_stream(st->h->s, st->id, st->unconsumed);
	st->unconsumed = 0;
}

static void h2_body_resume(struct exchange *x)
{
	struct h2_stream *st = stream_of(x);

	st->paused = false;
	h2_consume(st);
	h2_send(st->h);
}

/* Hand the client's tunnel bytes (and its end) to tunnel.c: from the DATA callback once the
 * tunnel runs, and from the deferred event for what came before the upstream's 101. Request
 * DATA is acknowledged as tunnel.c passes it on (body_pause/body_resume), as a body is. */
static void stream_tunnel_feed(struct h2_stream *st)
{
	struct exchange *x = &st->ex;

	if (!st->tunnel || x->tunnel == NULL)
		return;
	if (evbuffer_get_length(st->tin) > 0) {
		tunnel_client_data(x, st->tin);
		if (!st->paused)
			h2_consume(st);
	}
	if (st->tin_eof && !st->eof_passed && x->tunnel != NULL) {
		st->eof_passed = true;
		tunnel_client_eof(x);       /* may end the tunnel (done) */
	}
}

/* The upstream answered 101 and its head went out as a 200 (h2_head_start): the stream is a
 * tunnel. What the client sent before it waits in tin, fed from the deferred event (tunnel.c
 * is still starting here). The access log records the status the client saw. */
static void h2_tunnel(struct exchange *x)
{
	struct h2_stream *st = stream_of(x);

	st->tunnel = true;
	x->status = 200;
	h2_later(st->h);
}

/* The upstream ended its direction: END_STREAM once its bytes are sent (the data provider's
 * EOF); the client's direction goes on (half-closed, RFC 8441 4). */
static bool h2_shut(struct exchange *x)
{
	struct h2_stream *st = stream_of(x);

	st->out_eof = true;
	h2_out_more(st);
	h2_send(st->h);
	return true;
}

/* tunnel and shut carry an extended CONNECT (RFC 8441) whose upstream answered 101. */
static const struct exchange_out_ops h2_out_ops = {
	.head_start = h2_head_start,
	.head_field = h2_head_field,
	.head_end = h2_head_end,
	.body = h2_body,
	.body_move = h2_body_move,
	.body_end = h2_body_end,
	.flush = h2_flush,
	.congested = h2_congested,
	.send_continue = h2_send_continue,
	.done = h2_done,
	.abort = h2_abort,
	.body_pause = h2_body_pause,
	.body_resume = h2_body_resume,
	.tunnel = h2_tunnel,
	.shut = h2_shut,
};

/* ---- streams ---- */

static struct h2_stream *stream_new(struct h2 *h, int32_t id)
{
	struct h2_stream *st = calloc(1, sizeof(*st));
	struct conn *c = h->c;

	if (st == NULL)
		return NULL;
	st->out = evbuffer_new();
	st->ex.conf = worker_conf_hold(c->w);
	if (st->out == NULL || st->ex.conf == NULL) {
		if (st->ex.conf != NULL)
			worker_conf_release(c->w, st->ex.conf);
		if (st->out != NULL)
			evbuffer_free(st->out);
		free(st);
		return NULL;
	}
	st->h = h;
	st->id = id;
	st->ex.ops = &h2_out_ops;
	st->ex.w = c->w;
	st->ex.client_ip = c->client_ip;
	st->ex.tls = c->tls;
	{
		struct conf *cf = st->ex.conf;

		exchange_reset(&st->ex);
		st->ex.conf = cf;
	}
	st->ex.start_us = util_mono_us();
	st->last_us = st->ex.start_us;
	st->ex.hdr = st->hdr;
	TAILQ_INSERT_TAIL(&h->streams, st, entry);
	h->nstreams++;
	h->idle_since_us = 0;
	return st;
}

/* The stream is over for both sides: its record, its memory. An exchange the core still
 * holds (the client reset the stream, or a deadline did) is cancelled first. */
static void stream_free(struct h2_stream *st, enum outcome why)
{
	struct h2 *h = st->h;
	struct exchange *x = &st->ex;

	if (!st->finished) {
		forward_cancel(x);
		if (x->status == 0) {
			x->status = 499;        /* nginx's "client closed request" */
			if (x->err == OUT_NONE)
				x->err = why;
		}
	}
	exchange_finish(x, h->c->client, H2_PROTOCOL);
	TAILQ_REMOVE(&h->streams, st, entry);
	if (--h->nstreams == 0)
		h->idle_since_us = util_mono_us();
	if (!st->closed)
		nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
	evbuffer_free(st->out);
	if (st->tin != NULL)
		evbuffer_free(st->tin);
	free(st->buf);
	h2out_fields_free(&st->rhead);
	free(st);
}

/* Store request head text; -1 when max_header_bytes is reached (nothing stored). */
static int stream_put(struct h2_stream *st, const uint8_t *p, size_t n, uint32_t *off)
{
	if (st->len + n > st->h->max_header)
		return -1;
	if (st->len + n > st->cap) {
		size_t ncap = st->cap ? st->cap : H2_REQ_BUF;
		char *np;

		while (ncap < st->len + n)
			ncap *= 2;
		if ((np = realloc(st->buf, ncap)) == NULL)
			return -1;
		st->buf = np;
		st->cap = ncap;
		st->ex.buf = np;
	}
	memcpy(st->buf + st->len, p, n);
	*off = (uint32_t)st->len;
	st->len += n;
	return 0;
}

/* RFC 9113 8.2.3: a client may split Cookie into several fields (for HPACK); the HTTP/1.1
 * upstream gets them joined with "; " as one field, in the place of the first. 0, or -1 when
 * the joined value does not fit in max_header_bytes. */
static int stream_join_cookies(struct h2_stream *st)
{
	struct exchange *x = &st->ex;
	unsigned n = 0, kept = 0;
	int first = -1;
	uint32_t start = (uint32_t)st->len, off;    /* the joined value: appended from here */
	size_t total = 0;

	for (unsigned i = 0; i < x->nhdr; i++)
		if (st->hdr[i].name_len == 6 && memcmp(st->buf + st->hdr[i].name_off, "cookie", 6) == 0)
			n++;
	if (n < 2)
		return 0;
	for (unsigned i = 0; i < x->nhdr; i++) {
		struct header *hd = &st->hdr[i];

		if (hd->name_len != 6 || memcmp(st->buf + hd->name_off, "cookie", 6) != 0) {
			st->hdr[kept++] = *hd;
			continue;
		}
		if (first >= 0) {
			if (stream_put(st, (const uint8_t *)"; ", 2, &off) != 0)
				return -1;
			total += 2;
		} else {
			first = (int)kept;
			st->hdr[kept++] = *hd;
		}
		/* From buf into buf: stream_put may move buf, so through a stack copy. */
		for (uint32_t done = 0; done < hd->val_len;) {
			uint8_t piece[256];
			uint32_t k = hd->val_len - done < sizeof(piece) ? hd->val_len - done :
				     (uint32_t)sizeof(piece);

			memcpy(piece, st->buf + hd->val_off + done, k);
			if (stream_put(st, piece, k, &off) != 0)
				return -1;
			done += k;
		}
		total += hd->val_len;
	}
	st->hdr[first].val_off = start;
	st->hdr[first].val_len = (uint32_t)total;
	x->nhdr = kept;
	return 0;
}

/* Add a request field made by fngate (stored in the head text). */
static int stream_add_field(struct h2_stream *st, const char *name, const char *val, size_t vl)
{
	struct header *hd = &st->hdr[st->ex.nhdr];
	uint32_t off;

	if (stream_put(st, (const uint8_t *)name, strlen(name), &off) != 0)
		return -1;
	hd->name_off = off;
	hd->name_len = (uint32_t)strlen(name);
	if (stream_put(st, (const uint8_t *)val, vl, &off) != 0)
		return -1;
	hd->val_off = off;
	hd->val_len = (uint32_t)vl;
	st->ex.nhdr++;
	return 0;
}

/* An extended CONNECT with :protocol websocket (RFC 8441) becomes what an HTTP/1.1 client's
 * upgrade is to the core: a GET with x->upgrade, an Upgrade field (forward.c keeps it and adds
 * Connection: Upgrade) and a Sec-WebSocket-Key of our own (section 5: the HTTP/2 client sends
 * none; one it sent anyway is dropped, and the upstream's accept is not passed back:
 * h2_head_field). Sec-WebSocket-Version, -Protocol and -Extensions pass as any field. Returns
 * OUT_NONE or the refusal. */
static enum outcome stream_websocket(struct h2_stream *st)
{
	struct exchange *x = &st->ex;
	unsigned char raw[16];
	char key[B64URL_ENCODED_LEN(sizeof(raw)) + 3];
	unsigned kept = 0;
	long n;

	for (unsigned i = 0; i < x->nhdr; i++) {
		const struct header *hd = &st->hdr[i];

		if (!(hd->name_len == 17 && memcmp(st->buf + hd->name_off, "sec-websocket-key", 17) == 0))
			st->hdr[kept++] = *hd;
	}
	x->nhdr = kept;
	if (x->nhdr + 2 > PROXY_MAX_HEADERS)
		return OUT_TOO_MANY_HEADERS;
	/* 16 random bytes in base64 (RFC 6455 4.1): base64url's alphabet mapped back, padded. */
	if (util_random(raw, sizeof(raw)) != 0 ||
	    (n = b64url_encode(raw, sizeof(raw), key, sizeof(key))) < 0 ||
	    (st->tin = evbuffer_new()) == NULL)
		return OUT_OUT_OF_MEMORY;
	for (long i = 0; i < n; i++)
		key[i] = key[i] == '-' ? '+' : key[i] == '_' ? '/' : key[i];
	memcpy(key + n, "==", 2);
	if (stream_add_field(st, "upgrade", "websocket", 9) != 0 ||
	    stream_add_field(st, "sec-websocket-key", key, (size_t)n + 2) != 0)
		return OUT_HEADERS_TOO_LARGE;
	x->method = HTTP_GET;
	x->upgrade = true;
	x->upgrade_required = true;
	return OUT_NONE;
}

/* The head is complete: check what HTTP/1 checks, then the core decides (exchange_dispatch). */
static void stream_dispatch(struct h2_stream *st, bool end_stream)
{
	struct exchange *x = &st->ex;
	struct exchange_fields f;

	st->dispatched = true;
	x->buf = st->buf;
	x->buf_len = st->len;
	x->has_body = !end_stream;
	x->req_complete = end_stream;
	/* A plain CONNECT (a TCP tunnel to any host), which has no :path, is 405 rather than 400,
	 * as on HTTP/1. An extended one (RFC 8441: nghttp2 checked :scheme, :path, :authority)
	 * is a WebSocket upgrade; another protocol fngate does not speak is 501. */
	if (st->head_err == OUT_NONE && x->method_known && x->method == HTTP_CONNECT) {
		if (!st->has_protocol) {
			st->head_err = OUT_METHOD_NOT_ALLOWED;
		} else if (!st->websocket) {
			st->head_err = OUT_PROTOCOL_NOT_SUPPORTED;
		} else {
			/* Its DATA is the tunnel's, never a request body. */
			x->has_body = false;
			st->tin_eof = end_stream;
			st->head_err = stream_websocket(st);
		}
	}
	if (st->head_err == OUT_NONE && (!st->has_method || !st->has_path))
		st->head_err = OUT_BAD_REQUEST;
	if (st->head_err == OUT_NONE &&
	    !http1_target_ok(x->buf + x->path_off, x->path_len, x->method == HTTP_OPTIONS))
		st->head_err = OUT_BAD_TARGET;
	if (st->head_err == OUT_NONE && stream_join_cookies(st) != 0)
		st->head_err = OUT_HEADERS_TOO_LARGE;
	x->buf = st->buf;
	x->buf_len = st->len;
	if (st->head_err == OUT_NONE && exchange_index(x, st->hdr, &f) != 0)
		st->head_err = x->err;
	if (st->head_err == OUT_NONE) {
		/* :authority, else Host (RFC 9113 8.3.1); the shape HTTP/1 requires of Host. */
		if (x->host_len == 0 && f.hosts == 1) {
			x->host_off = st->hdr[f.host_idx].val_off;
			x->host_len = st->hdr[f.host_idx].val_len;
		}
		if (f.hosts > 1 || x->host_len == 0 ||
		    !http1_host_ok(x->buf + x->host_off, x->host_len))
			st->head_err = OUT_BAD_HOST;
	}
	if (st->head_err == OUT_NONE) {
		for (unsigned i = 0; i < x->nhdr; i++) {
			const struct header *hd = &st->hdr[i];

			if (hd->name_len == 14 && memcmp(x->buf + hd->name_off, "content-length", 14) == 0) {
				/* nghttp2 checked it is a number and that the DATA frames match it */
				x->content_length = strtoull(x->buf + hd->val_off, NULL, 10);
				x->cl_present = true;
			}
		}
		x->length_unknown = x->has_body && !x->cl_present;
		if (exchange_dispatch(x) != 0)
			st->discard = true;
	} else {
		reply_error(x, st->head_err, true);     /* records it as the request's error */
		st->discard = true;
	}
	/* Answered here (a refusal, a reply): the exchange is over for the core. */
	if (x->resp == EXCHANGE_RESP_COMPLETE && !exchange_upstream(x))
		st->finished = true;
}

/* ---- nghttp2 callbacks ---- */

static ssize_t cb_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct h2 *h = arg;

	(void)s;
	(void)flags;
	/* Over the bound, frames wait inside nghttp2, where its own bounds apply
	 * (max_outbound_ack against PING and SETTINGS floods). */
	return h2out_send(h->c->bev, H2_OUT_HIGH, data, len);
}

static int cb_begin_headers(nghttp2_session *s, const nghttp2_frame *fr, void *arg)
{
	struct h2 *h = arg;
	struct h2_stream *st;

	if (fr->hd.type != NGHTTP2_HEADERS)
		return 0;
	h->in_header_block = true;
	h->header_block_us = util_mono_us();
	if (fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = stream_new(h, fr->hd.stream_id);
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* nghttp2 resets the stream */
	nghttp2_session_set_stream_user_data(s, fr->hd.stream_id, st);
	return 0;
}

static bool lit_is(const uint8_t *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static int cb_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name,
		     size_t nl, const uint8_t *val, size_t vl, uint8_t flags, void *arg)
{
	struct h2 *h = arg;
	struct h2_stream *st;
	struct exchange *x;
	uint32_t off;

	(void)flags;
	if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;       /* trailers: not relayed */
	st = nghttp2_session_get_stream_user_data(s, fr->hd.stream_id);
	if (st == NULL)
		return 0;
	x = &st->ex;
	/* RFC 7541 4.1: each field counts its name, its value and 32 bytes. Past twice the limit
	 * the sender is not making a request but a flood: the connection ends (CONTINUATION). */
	st->head_bytes += nl + vl + 32;
	if (st->head_bytes > 2 * h->max_header + 65536) {
		metrics_h2(METRICS_H2_FLOOD);
		nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (st->head_err != OUT_NONE)
		return 0;
	if (nl > 0 && name[0] == ':') {
		/* nghttp2 checked the pseudo-fields' order, repetition and names. */
		if (lit_is(name, nl, ":method")) {
			if (!exchange_method_set(x, (const char *)val, vl))
				st->head_err = OUT_BAD_REQUEST;
			st->has_method = true;
		} else if (lit_is(name, nl, ":path")) {
			if (stream_put(st, val, vl, &off) != 0) {
				st->head_err = OUT_URI_TOO_LONG;
				return 0;
			}
			x->path_off = off;
			x->path_len = (uint32_t)vl;
			st->has_path = vl > 0;
		} else if (lit_is(name, nl, ":authority") && vl > 0) {
			if (stream_put(st, val, vl, &off) != 0) {
				st->head_err = OUT_HEADERS_TOO_LARGE;
				return 0;
			}
			x->host_off = off;
			x->host_len = (uint32_t)vl;
		} else if (lit_is(name, nl, ":protocol")) {
			/* Only with our SETTINGS_ENABLE_CONNECT_PROTOCOL, on a CONNECT (nghttp2). */
			st->has_protocol = true;
			st->websocket = util_ieq((const char *)val, vl, "websocket");
		}
		return 0;
	}
	if (x->nhdr == PROXY_MAX_HEADERS) {
		st->head_err = OUT_TOO_MANY_HEADERS;
		return 0;
	}
	{
		struct header *hd = &st->hdr[x->nhdr];

		if (stream_put(st, name, nl, &off) != 0) {
			st->head_err = OUT_HEADERS_TOO_LARGE;
			return 0;
		}
		hd->name_off = off;
		hd->name_len = (uint32_t)nl;
		if (stream_put(st, val, vl, &off) != 0) {
			st->head_err = OUT_HEADERS_TOO_LARGE;
			return 0;
		}
		hd->val_off = off;
		hd->val_len = (uint32_t)vl;
		x->nhdr++;
	}
	return 0;
}

/* The client ended the stream (END_STREAM on DATA, or on trailers): the end of the request
 * body, or of the client's direction of a tunnel. */
static void stream_client_end(struct h2_stream *st)
{
	struct exchange *x = &st->ex;

	if (x->req_complete)
		return;
	x->req_complete = true;
	if (x->upgrade) {
		st->tin_eof = true;
		stream_tunnel_feed(st);
	} else if (exchange_upstream(x) && !st->discard) {
		forward_body_end(x);
		forward_flush(x);
	}
}

static int cb_frame_recv(nghttp2_session *s, const nghttp2_frame *fr, void *arg)
{
	struct h2 *h = arg;
	struct h2_stream *st = fr->hd.stream_id != 0 ?
		nghttp2_session_get_stream_user_data(s, fr->hd.stream_id) : NULL;
	bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (fr->hd.type) {
	case NGHTTP2_SETTINGS:
		if (fr->hd.flags & NGHTTP2_FLAG_ACK)
			h->settings_acked = true;
		break;
	case NGHTTP2_HEADERS:
		h->in_header_block = false;
		if (st == NULL)
			break;
		st->last_us = util_mono_us();
		if (!st->dispatched)
			stream_dispatch(st, end);
		else if (end)
			stream_client_end(st);     /* trailers end the body */
		break;
	case NGHTTP2_RST_STREAM:
		/* Rapid reset (CVE-2023-44487): each stream opened costs a dispatch and maybe an
		 * upstream connection; a client that cancels them faster than max_resets_per_s is
		 * told to calm down and let go. */
		if (util_mono_us() - h->resets_since_us > 1000000u) {
			h->resets_since_us = util_mono_us();
			h->resets = 0;
		}
		if (++h->resets > h->max_resets && !h->going_away) {
			log_msg(LOG_LVL_WARN, "h2 %s: more than %u stream resets in a second: GOAWAY",
				h->c->client, h->max_resets);
			nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
			h->going_away = true;
			metrics_h2(METRICS_H2_RAPID_RESET);
		}
		break;
	case NGHTTP2_DATA:
		if (st != NULL && end)
			stream_client_end(st);
		break;
	default:
		break;
	}
	return 0;
}

static int cb_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *arg)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
	struct exchange *x;

	(void)flags;
	(void)arg;
	/* The connection window is always given back: a paused stream holds only its own. */
	nghttp2_session_consume_connection(s, len);
	if (st == NULL)
		return 0;
	x = &st->ex;
	st->last_us = util_mono_us();
	if (x->upgrade) {
		/* An extended CONNECT's DATA is tunnel bytes: passed on once the tunnel runs, held
		 * (unacknowledged: the stream's window bounds them) until the upstream's 101, and
		 * dropped after any other answer. */
		bool held = !st->tunnel && !st->finished &&
			    (x->resp == EXCHANGE_RESP_NONE || st->switching);

		if ((st->tunnel && x->tunnel != NULL) || held) {
			if (evbuffer_add(st->tin, data, len) != 0) {
				nghttp2_session_consume_stream(s, id, len);
				h2_abort(x, OUT_OUT_OF_MEMORY);
				return 0;
			}
			st->unconsumed += len;
			stream_tunnel_feed(st);
		} else {
			nghttp2_session_consume_stream(s, id, len);
		}
		return 0;
	}
	x->body_bytes += len;
	if (!st->discard && x->fn != NULL && x->body_bytes > x->fn->limits.max_body_bytes) {
		/* More than the Content-Length promised is nghttp2's to refuse; this is a body of
		 * unknown length over the function's limit. */
		if (x->resp == EXCHANGE_RESP_NONE) {
			forward_cancel(x);
			reply_error(x, OUT_BODY_TOO_LARGE, true);
			st->finished = true;
		} else {
			h2_abort(x, OUT_BODY_TOO_LARGE);
		}
		st->discard = true;
	}
	if (st->discard || !exchange_upstream(x)) {
		nghttp2_session_consume_stream(s, id, len);
		return 0;
	}
	forward_body(x, (const char *)data, len);
	forward_flush(x);
	if (st->paused)
		st->unconsumed += len;
	else
		nghttp2_session_consume_stream(s, id, len);
	return 0;
}

/* The response is complete before the request (refused, or answered early): RST_STREAM
 * NO_ERROR asks the client to stop sending it (RFC 9113 8.1), instead of its body being read
 * and dropped for as long as it cares to send. */
static int cb_frame_send(nghttp2_session *s, const nghttp2_frame *fr, void *arg)
{
	struct h2_stream *st;

	(void)arg;
	if ((fr->hd.type != NGHTTP2_HEADERS && fr->hd.type != NGHTTP2_DATA) ||
	    !(fr->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(s, fr->hd.stream_id);
	/* (A tunnel's END_STREAM is a half-close: the client's direction goes on.) */
	if (st != NULL && !st->ex.req_complete && !st->tunnel)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int cb_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);

	if (st == NULL)
		return 0;
	st->closed = true;
	st->clean_close = code == NGHTTP2_NO_ERROR;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	h2_later(arg);
	return 0;
}

/* ---- the connection ---- */

/* The session is over (nothing to read or write) or was given up: flush, then close. Frees
 * c; only the entry points (input, drained, timer, deferred) call it, and return at once. */
static bool h2_maybe_end(struct h2 *h)
{
	if (nghttp2_session_want_read(h->s) || nghttp2_session_want_write(h->s))
		return false;
	conn_end(h->c);
	return true;
}

/* Deferred work, run by the loop outside nghttp2 and outside the core's calls: relays resumed,
 * finished streams reaped, frames sent, and the end when the session is over. */
static void h2_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2 *h = arg;
	struct h2_stream *st, *next;

	(void)fd;
	(void)what;
	for (st = TAILQ_FIRST(&h->streams); st != NULL; st = next) {
		next = TAILQ_NEXT(st, entry);
		if (st->congested && evbuffer_get_length(st->out) <= EXCHANGE_HIGH_WATER / 2) {
			st->congested = false;
			exchange_out_drained(&st->ex);
		}
		if (st->tunnel && !st->finished)
			stream_tunnel_feed(st);
		/* A tunnel whose stream ended cleanly both ways lives on until the client's end
		 * reached the upstream (tunnel.c waits for its output to drain). */
		if (st->closed && !(st->tunnel && st->clean_close && !st->finished &&
				    st->ex.tunnel != NULL))
			stream_free(st, OUT_CLIENT_CLOSED_EARLY);
	}
	if (h->c->phase == PHASE_CLOSING)
		return;
	h2_send(h);
	if (h->going_away && h->nstreams == 0) {
		conn_end(h->c);
		return;
	}
	(void)h2_maybe_end(h);
}

static void h2_tick(struct h2 *h)
{
	struct timeval tv = {H2_TICK_MS / 1000, (H2_TICK_MS % 1000) * 1000};

	evtimer_add(h->c->timer, &tv);
}

int h2_preface(struct evbuffer *in)
{
	char buf[sizeof(h2_magic) - 1];
	size_t have = evbuffer_get_length(in);
	size_t n = have < sizeof(buf) ? have : sizeof(buf);

	if (evbuffer_copyout(in, buf, n) != (ev_ssize_t)n)
		return 0;
	if (memcmp(buf, h2_magic, n) != 0)
		return 0;
	return n == sizeof(buf) ? 1 : -1;
}

int h2_start(struct conn *c)
{
	struct conf *cf = worker_conf_peek(c->w);
	const struct conf_http2 *lim;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	struct h2 *h;
	int rv = -1;

	if (cf == NULL || (h = calloc(1, sizeof(*h))) == NULL)
		return -1;
	/* The listener's limits (the top-level ones unless it has its own). */
	lim = c->listen_idx < cf->nlisten ? &cf->listen[c->listen_idx].h2 : &cf->http2;
	h->c = c;
	TAILQ_INIT(&h->streams);
	h->header_ms = cf->timeouts.client_header_ms;
	h->idle_ms = cf->timeouts.client_idle_ms;
	h->max_header = cf->limits.max_header_bytes;
	h->max_resets = lim->max_resets_per_s;
	h->started_us = util_mono_us();
	h->idle_since_us = h->started_us;
	h->later = event_new(c->w->base, -1, 0, h2_later_cb, h);
	if (h->later == NULL || nghttp2_session_callbacks_new(&cbs) != 0 ||
	    nghttp2_option_new(&opt) != 0)
		goto done;
	nghttp2_session_callbacks_set_send_callback(cbs, cb_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, cb_frame_send);
	/* Request DATA is acknowledged as the upstream takes it (h2_consume), not on receipt. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* Floods: unsent PING/SETTINGS acks, SETTINGS entries, CONTINUATION frames, resets. */
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_continuations(opt, 8);
	/* nghttp2's own reset limit stays a backstop above ours (cb_frame_recv). */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * (uint64_t)lim->max_resets_per_s,
						   2 * (uint64_t)lim->max_resets_per_s);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, lim->header_table_bytes);
	if (nghttp2_session_server_new2(&h->s, cbs, h, opt) != 0)
		goto done;
	{
		nghttp2_settings_entry iv[] = {
			{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_concurrent_streams},
			{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->initial_window_bytes},
			{NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, lim->header_table_bytes},
			{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cf->limits.max_header_bytes},
			{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
			/* RFC 8441: WebSocket over HTTP/2. nghttp2 accepts :protocol only once this
			 * was sent; without it an extended CONNECT is a malformed request. */
			{NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
		};
		size_t niv = ARRAY_LEN(iv) - (lim->extended_connect ? 0 : 1);

		if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, niv) != 0)
			goto done;
	}
	/* The connection window: wide enough for every stream's own window at once, so that a
	 * stalled stream never holds the others. */
	nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
		(int32_t)(lim->initial_window_bytes * lim->max_concurrent_streams > INT32_MAX / 2 ?
			  INT32_MAX / 2 :
			  lim->initial_window_bytes * lim->max_concurrent_streams));
	c->h2 = h;
	metrics_h2(METRICS_H2_CONNECTION);
	/* The HTTP/1 phases no longer apply: "request in progress" keeps the read timeout from
	 * closing a connection whose streams wait on their upstreams (conn_event_cb). */
	c->phase = PHASE_DONE;
	evtimer_del(c->timer);
	h2_tick(h);
	rv = 0;
	h = NULL;
done:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (h != NULL) {
		if (h->s != NULL)
			nghttp2_session_del(h->s);
		if (h->later != NULL)
			event_free(h->later);
		free(h);
	}
	return rv;
}

void h2_input(struct conn *c)
{
	struct h2 *h = c->h2;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (h->going_away && h->nstreams == 0 && !nghttp2_session_want_write(h->s)) {
		conn_end(c);
		return;
	}
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		ssize_t n;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		h->depth++;
		n = nghttp2_session_mem_recv(h->s, v.iov_base, v.iov_len);
		h->depth--;
		if (n < 0) {
			/* A connection error: nghttp2 queued its GOAWAY where the protocol has one
			 * (a flood, a bad preface, a malformed frame). */
			log_msg(LOG_LVL_DEBUG, "h2 %s: %s", c->client, nghttp2_strerror((int)n));
			evbuffer_drain(in, evbuffer_get_length(in));
			/* (the header bound counted its own flood before failing the callback) */
			if (n != NGHTTP2_ERR_CALLBACK_FAILURE)
				metrics_h2(n == NGHTTP2_ERR_FLOODED ? METRICS_H2_FLOOD :
					   METRICS_H2_PROTOCOL_ERROR);
			if (!h->going_away)
				nghttp2_session_terminate_session(h->s, n == NGHTTP2_ERR_FLOODED ?
					NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
			h->going_away = true;
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
	h2_send(h);
	/* Output the client does not take: stop reading it until it does (h2_output_drained). */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > H2_OUT_HIGH)
		conn_pause(c);
	if (h->going_away && h->nstreams == 0) {
		conn_end(c);
		return;
	}
	(void)h2_maybe_end(h);
}

void h2_output_drained(struct conn *c)
{
	struct h2 *h = c->h2;

	h2_send(h);
	if (c->read_paused &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <= H2_OUT_HIGH / 2)
		conn_resume(c);
	(void)h2_maybe_end(h);
}

void h2_timer(struct conn *c)
{
	struct h2 *h = c->h2;
	uint64_t now = util_mono_us();
	struct h2_stream *st;

	/* Our SETTINGS unanswered, or a header block (HEADERS and its CONTINUATIONs, which hold
	 * the whole connection) unfinished, within client_header_ms: the client is not speaking
	 * HTTP/2 in good faith. */
	if ((!h->settings_acked && now - h->started_us > (uint64_t)h->header_ms * 1000u) ||
	    (h->in_header_block && now - h->header_block_us > (uint64_t)h->header_ms * 1000u)) {
		nghttp2_session_terminate_session(h->s, h->settings_acked ? NGHTTP2_PROTOCOL_ERROR :
						  NGHTTP2_SETTINGS_TIMEOUT);
		if (!h->going_away)
			metrics_h2(METRICS_H2_TIMEOUT);
		h->going_away = true;
	}
	/* Idle: no stream for client_idle_ms. */
	if (h->nstreams == 0 && h->idle_since_us != 0 &&
	    now - h->idle_since_us > (uint64_t)h->idle_ms * 1000u && !h->going_away) {
		nghttp2_session_terminate_session(h->s, NGHTTP2_NO_ERROR);
		h->going_away = true;
	}
	/* A stream stalled on the client for client_idle_ms: its request body stopped coming
	 * (not held back by us), or its response does not leave (a zero window), even one the
	 * core is done with. */
	TAILQ_FOREACH(st, &h->streams, entry) {
		/* (An extended CONNECT's client may be quiet: its tunnel has its own timeout.) */
		bool on_client = (!st->ex.upgrade && !st->ex.req_complete && !st->paused &&
				  !st->finished) || evbuffer_get_length(st->out) > 0;

		if (st->closed || !on_client ||
		    now - st->last_us <= (uint64_t)h->idle_ms * 1000u)
			continue;
		if (st->ex.err == OUT_NONE)
			st->ex.err = OUT_CLIENT_TIMEOUT;
		st->last_us = now;      /* one reset, not one per tick until it closes */
		metrics_h2(METRICS_H2_STREAM_STALLED);
		nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
	}
	h2_send(h);
	if (h->going_away && h->nstreams == 0) {
		conn_end(c);
		return;
	}
	if (h2_maybe_end(h))
		return;
	h2_tick(h);
}

void h2_drain(struct conn *c)
{
	struct h2 *h = c->h2;

	if (h->going_away)
		return;
	h->going_away = true;
	nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
			      NGHTTP2_NO_ERROR, NULL, 0);
	h2_send(h);
	h2_later(h);
}

void h2_free(struct conn *c)
{
	struct h2 *h = c->h2;
	struct h2_stream *st;

	if (h == NULL)
		return;
	while ((st = TAILQ_FIRST(&h->streams)) != NULL) {
		st->closed = true;      /* the session goes: nothing more is submitted */
		stream_free(st, OUT_CLIENT_CLOSED_EARLY);
	}
	nghttp2_session_del(h->s);
	event_free(h->later);
	free(h);
	c->h2 = NULL;
}
