/* bevio.h - direct socket I/O on plain (not TLS) bufferevents: what the data plane writes is sent
 * at once rather than at the next loop turn, and reads are made where the protocol code wants
 * them (conn.c's own read event, the upstream's response reads). */
#ifndef FNGATE_BEVIO_H
#define FNGATE_BEVIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <event2/util.h>

struct bufferevent;
struct evbuffer;

/* libevent 2.1 reads at most 4 KiB per read event (EVBUFFER_MAX_READ): past that a response body
 * is read with bev_read_now, in pieces of BEV_BULK_READ, at most BEV_BULK_BUDGET per callback,
 * once a read of at least BEV_BULK_MIN came in (conn.c reads request bodies BEV_BULK_READ at a
 * time too). */
#define BEV_BULK_MIN      4096
#define BEV_BULK_READ     (64 * 1024)
#define BEV_BULK_BUDGET   (256 * 1024)
/* Pieces of queued output handed to one writev(2). */
#define BEV_WRITE_IOV     16

/* Write a plain socket bufferevent's queued output now, as far as the socket takes it.
 * Returns true when nothing is left. Not for TLS bufferevents. */
bool bev_write_now(struct bufferevent *bev);
/* Read up to max bytes from a plain socket bufferevent's socket into its input buffer now.
 * Returns the bytes read; 0 on EAGAIN, EOF or error, which the bufferevent's own next read
 * reports. Not for TLS bufferevents. */
size_t bev_read_now(struct bufferevent *bev, size_t max);
/* Read up to max bytes from fd onto the end of `in`, a bufferevent's input buffer (frozen at its
 * end except while read into). Returns readv's result, errno as readv left it (ENOMEM when no
 * room could be reserved). */
ssize_t bev_input_readv(struct evbuffer *in, evutil_socket_t fd, size_t max);

#endif
