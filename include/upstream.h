/* upstream.h - connections to function endpoints: per-worker keep-alive pools, round robin,
 * endpoints that refuse connections skipped for a while, and the lifecycle of a connection that
 * carries a request (connect and its timeout, mark-down, retry, failure). The protocol code that
 * reads the response (response.c) plugs in through struct upstream_ops, as nginx's upstream
 * module takes its protocol handlers: upstream.c calls no response code by name. */
#ifndef FNGATE_UPSTREAM_H
#define FNGATE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "headers.h"
#include "outcome.h"

struct worker;
struct exchange;
struct conf_function;
struct conf_upstream;
struct bufferevent;
struct event;
struct event_base;
struct sockaddr;
struct tls_client;
struct upstream_pool;
struct upconn;

/* What the user of a connection carrying a request is told (response.c's response_ops). */
struct upstream_ops {
	/* u is about to carry the request (its first attempt or a retry): reset the response
	 * state. */
	void (*begin)(struct upconn *u);
	/* Response bytes wait in u's input buffer. */
	void (*read)(struct upconn *u);
	/* The upstream closed after its response began. Returns true when the close ended a
	 * response delimited by it (the user finished the response), false when it cut it. */
	bool (*eof)(struct upconn *u);
	/* u's output (the request) drained to the write low-water mark. */
	void (*drained)(struct upconn *u);
	/* The request failed for good (no retry was possible): u was detached from x and
	 * closed; o says why. */
	void (*failed)(struct exchange *x, enum outcome o);
};

#define UPSTREAM_IDLE_MS       4000     /* below the 5 s keep-alive of common function runtimes */
#define UPSTREAM_DOWN_MS       2000     /* an endpoint that refused is skipped this long */
#define UPSTREAM_MAX_RESP_HEADERS 64    /* header fields of an upstream response (more: 502) */
#define UPSTREAM_READ_SIZE     16384    /* one read of a plain connection (response.c reads on in
					 * BEV_BULK_READ pieces past it) */

struct upconn {
	struct worker        *w;
	struct upstream_pool *pool;
	int                   ep;           /* its endpoint's index in the upstreams of the function
					     * it was got for (upstream_get) */
	struct bufferevent   *bev;
	/* Plain connections are read by fngate itself (as conn.c reads clients): libevent's
	 * bufferevent asks the kernel FIONREAD before every read, a system call per response. */
	struct event         *rev;
	llhttp_t              parser;
	struct exchange      *x;            /* the request it carries; NULL while idle */
	const struct upstream_ops *ops;     /* its user's callbacks while it carries a request */
	const struct conf_function *fn;     /* the function of that request (timeouts, retry) */
	bool                  connected;
	bool                  in_pool;      /* on its pool's idle list */
	bool                  direct_io;    /* a plain socket: fngate writes it directly (no TLS) */
	bool                  reused;       /* came from the pool */
	bool                  resp_started; /* a response byte arrived */
	bool                  req_sent;     /* the whole request was queued */
	uint64_t              sent_us;      /* when req_sent became true: the head deadline runs from it */
	bool                  head_request; /* HEAD: the response has no body */
	bool                  req_body;     /* the request has a body: not retried once sent */
	bool                  read_paused;  /* client output full: response reading stopped
					     * (upstream_read_pause) */
	bool                  read_resumed; /* rev activated by upstream_read_resume: relay what
					     * waits in the input before reading more */
	bool                  raw;          /* a tunnel (upstream_raw): no response timeout */
	bool                  final_seen;   /* a final (non-1xx) response head was seen */
	int                   attempts;     /* endpoints tried for this request */
	unsigned              nhdr_resp;
	unsigned              nhdr_head;    /* fields of the final head: those after are trailers */
	char                 *hdrbuf;       /* response head collection (response.c): reason */
	size_t                hdrlen, hdrcap;/* phrase and fields, located by the offsets below */
	uint32_t              reason_off, reason_len;
	struct header         resp_hdr[UPSTREAM_MAX_RESP_HEADERS];
	bool                  resp_done;    /* the final response was fully relayed */
	bool                  is_1xx;       /* the message being parsed is informational */
	bool                  resp_in_value;/* llhttp is inside a header value (response.c) */
	bool                  upgrade;      /* the request asks for an upgrade: a 101 is accepted */
	bool                  tunnel_pending;/* a 101 was read: tunnel.c takes the connection over */
	enum outcome          resp_refused; /* a well-formed head refused (response.c): the
					     * outcome; OUT_NONE: a parse error is malformed */
	char                 *retry_head;   /* request head kept until the response starts; the */
	size_t                retry_len;    /* buffer stays with the connection and is reused */
	size_t                retry_cap;
	TAILQ_ENTRY(upconn)   entry;
};

/* Get a connection to one of fn's endpoints (round robin, skipping endpoints marked down):
 * an idle pooled one or a new one being connected. `skip` is an endpoint index to avoid (-1).
 * Returns NULL when every endpoint is down or no connection could be made; *local_err is then
 * the errno when fngate itself ran short (EMFILE, ENFILE, ENOMEM, ENOBUFS, EADDRNOTAVAIL:
 * no endpoint is marked down for it), else 0. */
struct upconn *upstream_get(struct worker *w, const struct conf_function *fn, int skip,
			    int *local_err);
/* Start u carrying the request its user queued in its output buffer (connect or reuse), with
 * u->x, u->fn, u->head_request and u->req_body set: the connect timeout, then the response
 * timeout; an endpoint that refuses, fails its TLS handshake or does not connect in time is
 * marked down and the request retried on another (at most 3 attempts), as is a bodiless request
 * whose reused connection closed before answering. The user hears of it through ops. */
void upstream_start(struct upconn *u, const struct upstream_ops *ops);
/* Write what is queued for the upstream now (plain, connected sockets); otherwise leave it to the
 * bufferevent with EV_WRITE enabled. Never frees u. */
void upstream_flush(struct upconn *u);
/* The response finished cleanly: return the connection to its pool (or close it). */
void upstream_release(struct upconn *u);
/* Close and free an upstream connection (errors, aborts). */
void upstream_close(struct upconn *u);
/* The request on u failed (a malformed response, a timeout, the user giving up): detach u from
 * its user, close it, and tell the user (ops->failed). */
void upstream_fail(struct upconn *u, enum outcome o);
/* Backpressure on the response: stop reading u while its user's output is full; resume when
 * the user says it drained (a no-op when u was not paused). */
void upstream_read_pause(struct upconn *u);
void upstream_read_resume(struct upconn *u);
/* Raw mode (a tunnel, tunnel.c): u stops being HTTP; ops (read, eof, drained, failed) get
 * its bytes and events, without the response timeouts (the tunnel has its own). Never pooled:
 * its user ends it with upstream_close, never upstream_release. */
void upstream_raw(struct upconn *u, const struct upstream_ops *ops);
/* End our direction of u (FIN) now: its user waits until u's output was sent. Returns false
 * when u cannot half-close (TLS). */
bool upstream_shutdown(struct upconn *u);
/* Free every pool of a worker (shutdown). */
void upstream_pools_free(struct worker *w);
/* A new connection to addr, connecting: a socket of fngate's own (TCP_NODELAY) in a
 * bufferevent, with TLS for `host` when tls is not NULL (ALPN h2 alone when `h2`, else
 * http/1.1); its BEV_EVENT_CONNECTED comes after the handshake. Shared by the HTTP/1.1 pools and
 * h2up.c. NULL on failure, with *local_err the errno when the cause is fngate's own (descriptors,
 * memory, local ports: no endpoint is to blame), else 0. */
struct bufferevent *upstream_connect(struct event_base *base, const struct sockaddr *addr,
				     socklen_t addrlen, struct tls_client *tls, const char *host,
				     bool h2, int *local_err);
/* The TLS connection bev to the endpoint `key` failed (connected: after the TCP connect):
 * true when its handshake did (certificate verification included), after logging why and
 * counting it; false when the TCP connection itself failed, or bev has no TLS. */
bool upstream_tls_failed_bev(struct bufferevent *bev, bool connected, const char *key);
/* Call fn(pool key, idle connections, arg) for every pool of worker w, on w's thread (its
 * report to metrics). */
void upstream_pools_foreach(struct worker *w, void (*fn)(const char *key, unsigned nidle, void *arg),
			    void *arg);

#endif
