/* h1out.c - the HTTP/1 front end's output: the exchange_out_ops (exchange.h) that frame a
 * response as HTTP/1.1 on the client connection. The head is written straight into space
 * reserved at the end of the connection's output buffer (no stack copy, one commit); the body is
 * framed by Content-Length, chunked, or (HTTP/1.0 clients) the close. */
#include <stddef.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "exchange.h"
#include "http1.h"
#include "proxy.h"
#include "util.h"

#define H1_HEAD_RESERVE 4096    /* a response head's usual room; more is reserved if needed */

static struct conn *conn_of(struct exchange *x)
{
	return (struct conn *)(void *)((char *)x - offsetof(struct conn, ex));
}

static struct evbuffer *out_of(const struct exchange *x)
{
	return bufferevent_get_output(conn_of((struct exchange *)(uintptr_t)x)->bev);
}

/* Commit what was written into the reserved space. */
static void head_commit(struct conn *c)
{
	struct evbuffer_iovec v = {c->hp, c->hlen};

	if (c->hp != NULL)
		evbuffer_commit_space(bufferevent_get_output(c->bev), &v, 1);
	c->ex.bytes_out += c->hlen;
	c->hp = NULL;
	c->hlen = 0;
	c->hcap = 0;
}

/* Append n bytes to the head, reserving more room when it is full. On a failed reservation
 * (out of memory) the bytes go through evbuffer_add, which reports nothing either: the
 * connection then fails on its next write. */
static void head_put(struct conn *c, const void *p, size_t n)
{
	if (c->hlen + n > c->hcap) {
		struct evbuffer_iovec v;
		struct evbuffer *out = bufferevent_get_output(c->bev);

		head_commit(c);
		if (evbuffer_reserve_space(out, (ev_ssize_t)(n > H1_HEAD_RESERVE ? n : H1_HEAD_RESERVE),
					   &v, 1) != 1) {
			evbuffer_add(out, p, n);
			c->ex.bytes_out += n;
			return;
		}
		c->hp = v.iov_base;
		c->hcap = v.iov_len;
	}
	memcpy(c->hp + c->hlen, p, n);
	c->hlen += n;
}

static void h1_head_start(struct exchange *x, int status, const char *reason, size_t reason_len)
{
	struct conn *c = conn_of(x);
	char line[16];
	size_t n;

	/* A head abandoned half-written (the relay found the upstream's head bad midway, and a
	 * 502 follows) was never committed: its space is reserved afresh. */
	c->hp = NULL;
	c->hlen = 0;
	c->hcap = 0;
	memcpy(line, "HTTP/1.1 ", 9);
	n = 9 + util_u64_dec((uint64_t)status, line + 9);
	line[n++] = ' ';
	head_put(c, line, n);
	if (reason == NULL) {
		reason = reply_reason(status);
		reason_len = strlen(reason);
	}
	head_put(c, reason, reason_len);
	head_put(c, "\r\n", 2);
}

static void h1_head_field(struct exchange *x, const char *name, size_t name_len, const char *val,
			  size_t val_len)
{
	struct conn *c = conn_of(x);

	head_put(c, name, name_len);
	head_put(c, ": ", 2);
	head_put(c, val, val_len);
	head_put(c, "\r\n", 2);
}

static void h1_head_end(struct exchange *x, enum exchange_body body, uint64_t length, bool last)
{
	struct conn *c = conn_of(x);
	char line[40];
	size_t n;

	if (last)
		c->close_after = true;
	if (body == EXCHANGE_BODY_LENGTH) {
		memcpy(line, "Content-Length: ", 16);
		n = 16 + util_u64_dec(length, line + 16);
		line[n++] = '\r';
		line[n++] = '\n';
		head_put(c, line, n);
	} else if (body == EXCHANGE_BODY_STREAM && c->req.http_minor == 1) {
		head_put(c, "Transfer-Encoding: chunked\r\n", 28);
		c->resp_chunked = true;
	} else if (body == EXCHANGE_BODY_STREAM) {
		/* An HTTP/1.0 client: the body ends when we close. */
		c->resp_close_delim = true;
		c->close_after = true;
	}
	if (c->close_after)
		head_put(c, "Connection: close\r\n", 19);
	else if (c->req.http_minor == 0)
		head_put(c, "Connection: keep-alive\r\n", 24);
	head_put(c, "\r\n", 2);
	head_commit(c);
	x->resp = EXCHANGE_RESP_STREAMING;
}

static void h1_body(struct exchange *x, const char *p, size_t n)
{
	struct conn *c = conn_of(x);

	if (c->resp_chunked)
		http1_chunk_add(out_of(x), p, n);
	else
		evbuffer_add(out_of(x), p, n);
	x->bytes_out += n;
}

static void h1_body_move(struct exchange *x, struct evbuffer *from, size_t n)
{
	struct conn *c = conn_of(x);
	struct evbuffer *out = out_of(x);

	if (c->resp_chunked && n > 0) {
		char line[24];
		size_t k = util_u64_hex(n, line);

		line[k++] = '\r';
		line[k++] = '\n';
		evbuffer_add(out, line, k);
		evbuffer_remove_buffer(from, out, n);
		evbuffer_add(out, "\r\n", 2);
	} else {
		/* Whole chains change hands; only a partly taken last chain is copied. */
		evbuffer_remove_buffer(from, out, n);
	}
	x->bytes_out += n;
}

static void h1_body_end(struct exchange *x, const char *buf, const struct header *tr, unsigned n)
{
	struct conn *c = conn_of(x);

	if (c->resp_chunked) {
		struct evbuffer *out = out_of(x);

		if (n == 0) {
			http1_chunk_last(out);
		} else {
			evbuffer_add(out, "0\r\n", 3);
			for (unsigned i = 0; i < n; i++) {
				evbuffer_add(out, buf + tr[i].name_off, tr[i].name_len);
				evbuffer_add(out, ": ", 2);
				evbuffer_add(out, buf + tr[i].val_off, tr[i].val_len);
				evbuffer_add(out, "\r\n", 2);
			}
			evbuffer_add(out, "\r\n", 2);
		}
	}
	x->resp = EXCHANGE_RESP_COMPLETE;
}

static void h1_flush(struct exchange *x)
{
	conn_flush(conn_of(x));
}

static bool h1_congested(const struct exchange *x)
{
	return evbuffer_get_length(out_of(x)) > EXCHANGE_HIGH_WATER;
}

static void h1_send_continue(struct exchange *x)
{
	struct conn *c = conn_of(x);

	/* An HTTP/1.0 client cannot have asked (Expect is HTTP/1.1). */
	if (c->req.http_minor != 1)
		return;
	evbuffer_add(out_of(x), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	conn_flush(c);
}

static void h1_done(struct exchange *x)
{
	struct conn *c = conn_of(x);

	/* The end of the body (a final chunk) may have been queued after the last flush. */
	conn_flush(c);
	conn_response_done(c);
}

static void h1_abort(struct exchange *x, enum outcome why)
{
	conn_abort(conn_of(x), why);
}

static void h1_body_pause(struct exchange *x)
{
	conn_pause(conn_of(x));
}

static void h1_body_resume(struct exchange *x)
{
	conn_backpressure_release(conn_of(x));
}

static void h1_tunnel(struct exchange *x)
{
	conn_tunnel(conn_of(x));
}

static bool h1_shut(struct exchange *x)
{
	return conn_shut(conn_of(x));
}

const struct exchange_out_ops h1_out_ops = {
	.head_start = h1_head_start,
	.head_field = h1_head_field,
	.head_end = h1_head_end,
	.body = h1_body,
	.body_move = h1_body_move,
	.body_end = h1_body_end,
	.flush = h1_flush,
	.congested = h1_congested,
	.send_continue = h1_send_continue,
	.done = h1_done,
	.abort = h1_abort,
	.body_pause = h1_body_pause,
	.body_resume = h1_body_resume,
	.tunnel = h1_tunnel,
	.shut = h1_shut,
};
