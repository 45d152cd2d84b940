/* h2.h - the HTTP/2 front end (h2.c): a client connection that chose h2 by ALPN, or opened with
 * the h2c preface on a plain listener, runs an nghttp2 server session; each stream owns a
 * struct exchange (exchange.h) handed to the same proxy core as HTTP/1's, and answers through
 * h2.c's exchange_out_ops. The connection itself stays a struct conn (proxy.h): one constructor,
 * one destructor, the same timeouts and drain; h2.c takes over its input and output. */
#ifndef FNGATE_H2_H
#define FNGATE_H2_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct evbuffer;

/* The connection preface of h2c with prior knowledge (RFC 9113 3.4) at the start of `in`: 1
 * it is there, 0 it is not (HTTP/1), -1 what is there is a prefix of it (wait for more). */
int h2_preface(struct evbuffer *in);
/* Start HTTP/2 on c (its settings sent, its input now read by h2_input). 0, or -1 (out of
 * memory: the caller closes c). */
int h2_start(struct conn *c);
/* Client bytes arrived: feed the session. May close (free) c: the caller returns at once. */
void h2_input(struct conn *c);
/* The client's output drained below its low-water mark: send more. May close (free) c. */
void h2_output_drained(struct conn *c);
/* c's timer fired (stream and connection deadlines). May close (free) c. */
void h2_timer(struct conn *c);
/* Graceful stop (drain, reload): GOAWAY with the last stream id; streams in flight finish,
 * then the connection closes. */
void h2_drain(struct conn *c);
/* The connection closes (conn_close): streams still open end (their upstreams closed, their
 * access-log records written as 499), the session is freed. */
void h2_free(struct conn *c);

#endif
