/* upstream.h - connections to function endpoints: per-worker keep-alive pools, round robin,
 * endpoints that refuse connections skipped for a while. */
#ifndef FNGATE_UPSTREAM_H
#define FNGATE_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <llhttp.h>

#include "headers.h"

struct worker;
struct conn;
struct conf_function;
struct conf_upstream;
struct bufferevent;
struct upstream_pool;

#define UPSTREAM_IDLE_MAX      64       /* idle connections kept per endpoint and worker */
#define UPSTREAM_IDLE_MS       4000     /* below the 5 s keep-alive of common function runtimes */
#define UPSTREAM_DOWN_MS       2000     /* an endpoint that refused is skipped this long */
#define UPSTREAM_MAX_RESP_HEADERS 64    /* header fields of an upstream response (more: 502) */

struct upconn {
	struct worker        *w;
	struct upstream_pool *pool;
	struct bufferevent   *bev;
	llhttp_t              parser;
	struct conn          *client;       /* NULL while idle in the pool */
	bool                  connected;
	bool                  in_pool;      /* on its pool's idle list */
	bool                  direct_io;    /* a plain socket: fngate writes it directly (no TLS) */
	bool                  reused;       /* came from the pool */
	bool                  resp_started; /* a response byte arrived */
	bool                  req_sent;     /* the whole request was queued */
	uint64_t              sent_us;      /* when req_sent became true: the head deadline runs from it */
	bool                  head_request; /* HEAD: the response has no body */
	bool                  read_paused;  /* client output full: response reading stopped */
	bool                  final_seen;   /* a final (non-1xx) response head was seen */
	int                   attempts;     /* endpoints tried for this request */
	unsigned              nhdr_resp;
	char                 *hdrbuf;       /* response head collection (response.c): reason */
	size_t                hdrlen, hdrcap;/* phrase and fields, located by the offsets below */
	uint32_t              reason_off, reason_len;
	struct header         resp_hdr[UPSTREAM_MAX_RESP_HEADERS];
	bool                  resp_done;    /* the final response was fully relayed */
	bool                  is_1xx;       /* the message being parsed is informational */
	bool                  resp_in_value;/* llhttp is inside a header value (response.c) */
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
/* Install the request callbacks and timeouts on u and start it (connect or reuse). */
void upstream_start(struct upconn *u);
/* Write what is queued for the upstream now (plain, connected sockets); otherwise leave it to the
 * bufferevent with EV_WRITE enabled. Never frees u. */
void upstream_flush(struct upconn *u);
/* The response finished cleanly: return the connection to its pool (or close it). */
void upstream_release(struct upconn *u);
/* Close and free an upstream connection (errors, aborts). */
void upstream_close(struct upconn *u);
/* Mark u's endpoint (one address of an upstream) down for UPSTREAM_DOWN_MS: its connect was
 * refused, failed or timed out (`why`, logged with the address when the mark is new). */
void upstream_mark_down(struct upconn *u, const char *why);
/* u failed before it was connected: true when that was its TLS handshake (certificate
 * verification included), after logging why. Reads the bufferevent's OpenSSL errors. */
bool upstream_tls_failed(struct upconn *u);
/* The client's output drained: resume reading the upstream response if it was paused. */
void upstream_client_drained(struct upconn *u);
/* Install the response-side callbacks on an upstream connection in use (response.c). */
void response_attach(struct upconn *u);
/* Free every pool of a worker (shutdown). */
void upstream_pools_free(struct worker *w);
/* The endpoint index of a connection within fn's upstreams, or -1. */
int upstream_index(const struct upconn *u, const struct conf_function *fn);
/* Call fn(pool key, idle connections, arg) for every pool of worker w, on w's thread (its
 * report to metrics). */
void upstream_pools_foreach(struct worker *w, void (*fn)(const char *key, unsigned nidle, void *arg),
			    void *arg);

#endif
