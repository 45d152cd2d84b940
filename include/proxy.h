/* proxy.h - the client connection and the stages a request goes through on it.
 *
 * A connection (conn.c) reads requests (request.c), asks the gate (gate.h), forwards allowed ones
 * (forward.c) over a pooled upstream connection (upstream.c), and relays the response (response.c);
 * anything fngate answers itself goes through reply.c. Everything here runs on one worker's event
 * loop: no locks. Prototypes are grouped by the file that owns them. */
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

#include "gate.h"
#include "outcome.h"

struct bufferevent;
struct event;
struct evbuffer;
struct conf;
struct conf_function;
struct worker;
struct upconn;
struct upstream_ops;

#define PROXY_MAX_HEADERS   128         /* more -> 431 */
#define PROXY_HIGH_WATER    (256 * 1024)/* stop reading one side when the other has this much queued */
#define PROXY_REQID_MAX     64
/* Plain client connections are read by fngate, PROXY_READ_SIZE at a time (PROXY_BULK_READ in a
 * request body). Upstream connections are read by libevent, which reads at most 4 KiB per read
 * event (EVBUFFER_MAX_READ in 2.1): a response body is read past that with bev_read_now, in
 * pieces of PROXY_BULK_READ, at most PROXY_BULK_BUDGET per callback. */
#define PROXY_READ_SIZE     16384
/* Lingering close (RFC 9112 9.6): after the last response, input is read and discarded for at
 * most PROXY_LINGER_MS, or until the client is silent for PROXY_LINGER_IDLE_MS. */
#define PROXY_LINGER_MS      5000
#define PROXY_LINGER_IDLE_MS 2000
#define PROXY_BULK_MIN      4096
#define PROXY_BULK_READ     (64 * 1024)
#define PROXY_BULK_BUDGET   (256 * 1024)

/* The request being read on a connection. Reset between requests. */
struct request {
	struct http1_scan scan;     /* raw head scanner state (http1.h) */
	uint8_t  crlf_pending;      /* chunked body: bytes of a chunk's CRLF still to check */
	uint64_t chunk_left;        /* chunked body: bytes left in the current chunk */
	size_t   len;               /* bytes used in buf */
	uint32_t url_off, url_len;
	unsigned nhdr;
	bool     in_value;          /* the parser is inside a header value */
	size_t   head_bytes;        /* bytes fed to the parser before headers completed */
	uint8_t  method;            /* llhttp_method_t (0 is DELETE: see method_known) */
	bool     method_known;      /* the head was parsed far enough to know the method */
	uint8_t  http_minor;        /* 0 or 1 (major is always 1) */
	bool     chunked;
	bool     has_body;
	bool     cl_present;        /* a Content-Length header was sent (even 0) */
	uint64_t content_length;
	uint64_t body_bytes;        /* received so far */
	bool     keep_alive;        /* client allows reuse */
	bool     expect_continue;
	bool     has_connection;    /* a Connection header was sent (its list names hop-by-hop fields) */
	bool     has_underscore;    /* a header name holds '_' (forward.c: underscores_in_headers) */
	int      host_idx;          /* index of the Host header, -1 none */
	int      token_idx;         /* index of the first X-Auth-Token, -1 none */
	int      ntokens;
	int      reqid_idx;         /* X-Request-Id, -1 none */
	/* CORS (cors.h): the first Origin, Access-Control-Request-Method and -Headers (-1 none)
	 * and how many of each; what the function's policy made of them */
	int      origin_idx, acrm_idx, acrh_idx;
	uint8_t  norigin, nacrm, nacrh;
	uint8_t  cors;              /* enum cors_state: CORS_OFF unless the function has "cors" */
	uint32_t abs_host_off;      /* absolute-form target: its authority (len 0: origin-form) */
	uint32_t abs_host_len;
	char     request_id[PROXY_REQID_MAX + 1];
	const struct conf_function *fn;
	struct gate_result gate;
	uint64_t start_us;
	uint64_t upstream_start_us;
	int64_t  upstream_us;
	int      status;            /* status sent to the client */
	uint64_t bytes_out;
	enum outcome err;           /* a local error (outcome.h), OUT_NONE when none */
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
};

enum resp_phase {
	RESP_NONE = 1,      /* nothing sent to the client yet */
	RESP_STREAMING,     /* a response head was sent; body being relayed */
	RESP_COMPLETE,      /* the whole response is queued on the client */
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
	struct conf        *conf;       /* the snapshot of the request in progress (a reference) */
	struct request      req;
	struct upconn      *up;         /* upstream connection of the request in progress */
	enum conn_phase     phase;
	enum resp_phase     resp;
	bool                resp_chunked;   /* we frame the response body as chunked */
	bool                resp_close_delim;/* body ends when we close the connection (HTTP/1.0) */
	bool                close_after;    /* close once the response is flushed */
	bool                read_paused;    /* client reads stopped for backpressure */
	bool                paused_msg;     /* parser paused at end of a message */
	bool                tls;            /* accepted on a TLS listener (X-Forwarded-Proto: https) */
	bool                tls_done;       /* its TLS handshake completed */
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
/* The response to the current request is fully queued: finish it (log, reset) and go on. */
void conn_response_done(struct conn *c);
/* Resume reading and parsing the client (after backpressure or a finished response). */
void conn_resume(struct conn *c);
/* Reading the client on or off: the bufferevent's for TLS, fngate's own read event for plain
 * connections. */
void conn_read_set(struct conn *c, bool on);
/* Write what is queued for the client now rather than at the next loop turn; what the socket
 * does not take is left to the bufferevent (EV_WRITE enabled until it drains). Never frees c. */
void conn_flush(struct conn *c);
/* Backpressure, in one place for both directions of the request: the client is not read while
 * out (its own output, or its upstream's) holds more than PROXY_HIGH_WATER. Returns true when
 * out is over the mark (reading is then stopped). */
bool conn_backpressure(struct conn *c, struct evbuffer *out);
/* Some output drained (the client's or its upstream's): resume reading the client once both
 * are down to half the mark. */
void conn_backpressure_release(struct conn *c);
/* The request head is complete and valid: route, gate, forward or answer. Returns an llhttp
 * on_headers_complete code (0, or HPE_PAUSED to stop parsing this connection). */
int conn_dispatch(struct conn *c);

/* request.c */
extern const llhttp_settings_t request_settings;
void request_reset(struct request *r);
/* Give the request's head memory (request.c takes it from the worker's free list) back (to the free list when it did not grow). */
void request_mem_release(struct conn *c);
/* Chunked body: the CRLF after a chunk's data split across reads is checked here. 0 / -1. */
int request_check_crlf(struct request *r, const char *p, size_t n);
/* Header lookups on the current request. */
const char *request_header(const struct request *r, int idx, size_t *len);
/* The request's host as received: the authority of an absolute-form target, which RFC 9112
 * section 3.2.2 says wins over Host, else the Host header. NULL when neither. */
const char *request_host(const struct request *r, size_t *len);

/* forward.c */
/* The gate allowed the request: pick an upstream, send it the head. 0, or -1 after replying. */
int forward_start(struct conn *c);
/* Relay a piece of request body (framing applied). */
void forward_body(struct conn *c, const char *at, size_t len);
/* Move len bytes of a Content-Length body from the client's input buffer `in` to the upstream
 * without copying them; the caller advances the parser over them. */
void forward_body_move(struct conn *c, struct evbuffer *in, size_t len);
/* The request body is complete (final chunk for chunked). */
void forward_body_end(struct conn *c);

/* response.c */
extern const llhttp_settings_t response_settings;
/* The callbacks through which upstream.c reports to the response relay (upstream.h). */
extern const struct upstream_ops response_ops;

/* reply.c */
/* Send a local response for outcome o: its status (outcome.h) and a small JSON body
 * {"error":"<its name>"} (none for the 204 of OUT_CORS_PREFLIGHT), with the CORS fields of the
 * request's function (reply_cors). Marks the response complete; records o as the request's
 * error unless it is a gate or CORS decision (already recorded as the gate's). `close` adds
 * Connection: close and closes after flushing. */
void reply_error(struct conn *c, enum outcome o, bool close);
/* The CORS fields (cors_fields) of the response to the current request: fngate's own answer o,
 * or OUT_NONE for one relayed from the upstream. Returns the number of pieces (0: none). */
size_t reply_cors(const struct conn *c, enum outcome o, struct iovec *iov);
/* Status line reason phrases for the statuses fngate produces (data plane and admin API). */
const char *reply_reason(int status);

#endif
