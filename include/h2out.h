/* h2out.h - what fngate's two nghttp2 sessions send, written once for both: the HTTP/2 front
 * end (h2.c, a server: response heads and trailers) and the h2c upstream (h2up.c, a client:
 * request heads). A field block built one field at a time, a data provider's read from a
 * body queue, and frames appended to the socket's output under a bound. */
#ifndef FNGATE_H2OUT_H
#define FNGATE_H2OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

struct bufferevent;
struct evbuffer;

/* A field block: names (lowercased, RFC 9113 8.2.1) and values in one growing buffer. Zeroed
 * is empty; it keeps its memory across h2out_fields_clear and gives it back at
 * h2out_fields_free. */
struct h2out_fields {
	char       *buf;
	size_t      len, cap;
	size_t     *off;        /* 4 per field: name offset, name length, value offset, length */
	nghttp2_nv *nv;         /* made by h2out_fields_nv, pointing into buf */
	size_t      n, fcap;
	bool        failed;     /* out of memory at an add: the block must not be sent */
};

/* Append one field (name lowercased, value as is). Out of memory marks the block failed
 * rather than losing the field quietly. */
void h2out_fields_add(struct h2out_fields *f, const char *name, size_t nl, const char *val,
		      size_t vl);
/* The block as nghttp2 takes it (f->n entries, valid until the next add, clear or free;
 * nghttp2 copies what it submits), or NULL when an add failed. */
const nghttp2_nv *h2out_fields_nv(struct h2out_fields *f);
/* Empty the block (memory kept) and forget an earlier failure. */
void h2out_fields_clear(struct h2out_fields *f);
void h2out_fields_free(struct h2out_fields *f);

/* A data provider's read_callback body over the queue q: up to len bytes into buf; while q is
 * empty and more is to come (!eof), NGHTTP2_ERR_DEFERRED with *deferred set (the owner
 * resumes the stream when it queues more); NGHTTP2_DATA_FLAG_EOF in *flags once eof and q
 * drained. */
ssize_t h2out_queue_read(struct evbuffer *q, bool eof, uint8_t *buf, size_t len,
			 uint32_t *flags, bool *deferred);

/* A send_callback body: append nghttp2's frames to bev's output, or NGHTTP2_ERR_WOULDBLOCK
 * while more than `high` bytes wait there (a peer that does not read: the frames wait inside
 * nghttp2 under its own bounds, and the write callback sends again). */
ssize_t h2out_send(struct bufferevent *bev, size_t high, const uint8_t *data, size_t len);

#endif
