/* h2up.h - HTTP/2 to the endpoints of a function that declares "upstream_protocol": "h2" or
 * "h2c" (gRPC functions): with prior knowledge (h2c) to http:// endpoints, h2 by ALPN over TLS
 * to https:// ones; per-worker connections, each an nghttp2 client
 * session carrying many exchanges at once (up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS,
 * another connection when full), request and response bodies streamed under flow control, and
 * the response's trailers relayed. forward.c hands it the exchange (forward_start) and the
 * request body; it answers through x->ops as response.c does for HTTP/1.1 upstreams. */
#ifndef FNGATE_H2UP_H
#define FNGATE_H2UP_H

#include <stddef.h>

struct evbuffer;
struct exchange;
struct worker;

#define H2UP_MAX_STREAMS      100   /* streams per connection, whatever the peer allows */
#define H2UP_MAX_CONNS        16    /* connections per endpoint and worker */
#define H2UP_MAX_RESP_FIELDS  64    /* fields of a response head or its trailers (more: 502) */

/* The gate allowed x, whose function speaks h2c: open a stream for it on a connection to one
 * of the function's endpoints (round robin) and send its head. 0, or -1 after replying (no
 * connection could be had: 502; out of memory: 503). */
int h2up_start(struct exchange *x);
/* A piece of x's request body: queued for the stream's DATA frames; over EXCHANGE_HIGH_WATER
 * queued, the front end is paused (x->ops->body_pause) until it drains (body_resume). */
void h2up_body(struct exchange *x, const char *p, size_t n);
void h2up_body_move(struct exchange *x, struct evbuffer *in, size_t n);
/* x's request body is complete: END_STREAM once what is queued went out. */
void h2up_body_end(struct exchange *x);
/* Send what is queued on x's connection now. */
void h2up_flush(struct exchange *x);
/* Request body bytes of x queued and not yet sent. */
size_t h2up_pending(const struct exchange *x);
/* The front end's output drained: DATA the upstream sent for x is acknowledged (its window
 * reopened) only now. */
void h2up_read_resume(struct exchange *x);
/* x ends before its response did: its stream is reset (CANCEL), the connection goes on. */
void h2up_cancel(struct exchange *x);
/* Call fn(endpoint key, calls it carries, arg) for every open h2c connection of worker w, on
 * w's thread (its metrics report). */
void h2up_conns_foreach(struct worker *w, void (*fn)(const char *key, unsigned nstreams, void *arg),
			void *arg);
/* Close every h2c connection of worker w (its end). */
void h2up_free_all(struct worker *w);

#endif
