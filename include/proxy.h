/* proxy.h - the HTTP/1 front end: the client connection (conn.c), its request framing
 * (request.c) and its response output (h1out.c).
 *
 * A connection reads requests with llhttp, fills the connection's struct exchange (exchange.h)
 * and hands it to the proxy core (exchange_dispatch: route, gate, forward.c, upstream.c,
 * response.c, reply.c), which answers through h1_out_ops. The core never sees a struct conn.
 * Everything here runs on one worker's event loop: no locks. Prototypes are grouped by the file
 * that owns them. */
#ifndef FNGATE_PROXY_H
#define FNGATE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <llhttp.h>

#include "headers.h"
#include "http1.h"

#include "exchange.h"
#include "outcome.h"

struct bufferevent;
struct event;
struct evbuffer;
struct conf;
struct conf_function;
struct worker;
struct upconn;
struct upstream_ops;
struct h2;

#define PROXY_MAX_HEADERS   128         /* more -> 431 */
/* Plain client connections are read by fngate, PROXY_READ_SIZE at a time (BEV_BULK_READ in a
 * request body, bevio.h). */
#define PROXY_READ_SIZE     16384
/* Lingering close (RFC 9112 9.6): after the last response, input is read and discarded for at
 * most PROXY_LINGER_MS, or until the client is silent for PROXY_LINGER_IDLE_MS. */
#define PROXY_LINGER_MS      5000
#define PROXY_LINGER_IDLE_MS 2000

/* The HTTP/1 side of the request being read on a connection: parser state and the head memory.
 * What the proxy core reads is in the connection's struct exchange (exchange.h), which points
 * into this head memory. Reset between requests. */
struct request {
	struct http1_scan scan;     /* raw head scanner state (http1.h) */
	uint8_t  crlf_pending;      /* chunked body: bytes of a chunk's CRLF still to check */
	uint64_t chunk_left;        /* chunked body: bytes left in the current chunk */
	size_t   len;               /* bytes used in buf (the field count is the exchange's nhdr) */
	bool     in_value;          /* the parser is inside a header value */
	size_t   head_bytes;        /* bytes fed to the parser before headers completed */
	uint8_t  http_minor;        /* 0 or 1 (major is always 1) */
	bool     keep_alive;        /* client allows reuse */
	/* Last, so that request_reset clears everything above it in one memset. The head memory
	 * (header table + text) exists only while a request is being handled: an idle keep-alive
	 * connection holds none (request_mem_acquire / request_mem_release). */
	char    *buf;               /* url, header names and values (bounded by max_header_bytes) */
	size_t   cap;
	struct header *hdr;         /* PROXY_MAX_HEADERS entries, in the same allocation as buf */
};

enum conn_phase {
	PHASE_IDLE = 1,     /* waiting for a request's first byte */
	PHASE_HEAD,         /* reading a request head */
	PHASE_BODY,         /* head done; request body (if any) being relayed */
	PHASE_DONE,         /* request fully read; waiting for the response to finish */
	PHASE_CLOSING,      /* flushing output, then close */
	PHASE_TUNNEL,       /* upgraded (101): a byte tunnel to the upstream (tunnel.c) */
};

struct conn {
	struct worker      *w;
	struct bufferevent *bev;
	struct event       *timer;      /* header deadline / keep-alive idle */
	struct event       *rev;        /* plain connections: fngate's own read event (conn_read_set) */
	struct timeval      idle_tv;    /* its timeout: client_idle_ms */
	size_t              read_high;  /* unparsed input above which reading stops */
	bool                rev_on;     /* rev is added */
	bool                rev_full;   /* rev removed because read_high was reached */
	bool                linger;     /* closing with client input possibly unread: half-close and
					 * discard input before close(2), whose reset would
					 * otherwise destroy the response at the client */
	bool                lingering;  /* output flushed, write side shut: discarding input */
	bool                client_eof; /* the client's FIN was read */
	uint64_t            linger_until_us;
	llhttp_t            parser;
	struct request      req;        /* the request's HTTP/1 parsing */
	struct exchange     ex;         /* the request as the proxy core sees it (exchange.h) */
	char               *hp;         /* h1out.c: the response head being written into space */
	size_t              hlen, hcap; /* reserved in the output buffer */
	enum conn_phase     phase;
	bool                resp_chunked;   /* we frame the response body as chunked */
	bool                resp_close_delim;/* body ends when we close the connection (HTTP/1.0) */
	bool                close_after;    /* close once the response is flushed */
	bool                read_paused;    /* client reads stopped for backpressure */
	bool                paused_msg;     /* parser paused at end of a message */
	bool                shut_pending;   /* tunnel: send our FIN once the output drained */
	bool                tls;            /* accepted on a TLS listener (X-Forwarded-Proto: https) */
	bool                tls_done;       /* its TLS handshake completed */
	bool                h2_ok;          /* its listener speaks HTTP/2 (conf_listen.http2) */
	size_t              listen_idx;     /* its listener in conf.listen (SIZE_MAX: none) */
	struct h2          *h2;             /* HTTP/2 (h2.c) runs the connection: the fields of
					     * the HTTP/1 request above are unused */
	const char         *seg_end;        /* end of the input segment being parsed */
	unsigned            nrequests;
	char                client[64];     /* "ip:port" */
	char                client_ip[48];
	TAILQ_ENTRY(conn)   entry;          /* worker's list */
};

/* conn.c */
/* The constructor: a connection accepted on listening socket `listen_idx` of the worker (the
 * index into conf.listen; its "tls" decides whether the connection starts with a handshake; an
 * index past the end, SIZE_MAX, means a plain connection). */
void conn_accept_on(struct worker *w, size_t listen_idx, int fd, const struct sockaddr *sa, int salen);
/* Close the client connection and free it; every error path ends here, with the outcome that
 * ended it (the log's reason when a request was under way). */
void conn_close(struct conn *c, enum outcome why);
/* The response that began cannot be completed. What was queued still goes out, then the
 * connection closes, so the client sees a body cut short by its framing (Content-Length or the
 * missing last chunk); a body delimited by the close itself (HTTP/1.0) is ended with a reset
 * instead, since a clean close would pass the truncated body off as complete. */
void conn_abort(struct conn *c, enum outcome why);
/* End the connection gracefully: flush what is queued, then close (discarding what the client
 * still sends for a moment, see conn_linger). May free c. */
void conn_end(struct conn *c);
/* The response to the current request is fully queued: finish it (log, reset) and go on. */
void conn_response_done(struct conn *c);
/* The exchange became a tunnel (h1out.c's tunnel op): no more HTTP on c, its timeouts give way
 * to the tunnel's, its input goes to tunnel_client_data. */
void conn_tunnel(struct conn *c);
/* Tunnel: end our direction (FIN) once the output is sent. false on TLS (no half-close). */
bool conn_shut(struct conn *c);
/* Resume reading and parsing the client (after backpressure or a finished response). */
void conn_resume(struct conn *c);
/* Reading the client on or off: the bufferevent's for TLS, fngate's own read event for plain
 * connections. */
void conn_read_set(struct conn *c, bool on);
/* Write what is queued for the client now rather than at the next loop turn; what the socket
 * does not take is left to the bufferevent (EV_WRITE enabled until it drains). Never frees c. */
void conn_flush(struct conn *c);
/* Stop reading the client (backpressure), until conn_resume. */
void conn_pause(struct conn *c);
/* Backpressure on the client's own output: the client is not read while it holds more than
 * EXCHANGE_HIGH_WATER. Returns true when it does (reading is then stopped). */
bool conn_backpressure(struct conn *c);
/* Some output drained (the client's or its upstream's): resume reading the client once both
 * are down to half the mark. */
void conn_backpressure_release(struct conn *c);
/* The request head is complete and valid: hand the exchange to the proxy core
 * (exchange_dispatch). Returns an llhttp on_headers_complete code (0, or HPE_PAUSED to stop
 * parsing this connection). */
int conn_dispatch(struct conn *c);

/* request.c */
extern const llhttp_settings_t request_settings;
void request_reset(struct request *r);
/* Give the request's head memory (request.c takes it from the worker's free list) back (to the free list when it did not grow). */
void request_mem_release(struct conn *c);
/* Chunked body: the CRLF after a chunk's data split across reads is checked here. 0, or -1
 * when it is not a CRLF (OUT_BAD_CHUNK). */
int request_check_crlf(struct request *r, const char *p, size_t n);

/* h1out.c */
/* The exchange output of HTTP/1 connections: responses framed as HTTP/1.1. */
extern const struct exchange_out_ops h1_out_ops;

#endif
