/* exchange.h - the protocol-neutral request: the seam between a protocol front end (HTTP/1.1
 * today: conn.c, request.c, h1out.c) and the proxy core (exchange.c's dispatch: route, CORS, gate;
 * forward.c, upstream.c, response.c, reply.c).
 *
 * A front end parses its protocol, fills a struct exchange (method, target, authority, header
 * fields, the body's shape) and calls exchange_dispatch. From then on the core reads only the
 * exchange, and answers through x->ops: the response head (status, fields, how its body is
 * delimited), body pieces, the end of the body with any trailers, and backpressure both ways.
 * The front end pushes the request body (forward_body, forward_body_move, forward_body_end) and
 * is told to stop and resume reading it. h2o is the model: lib/http1.c (and http2/) hand an
 * h2o_req_t to lib/core/proxy.c. Nothing here allocates: the exchange lives in the front end's
 * per-connection (or per-stream) state and its strings point into the front end's head memory. */
#ifndef FNGATE_EXCHANGE_H
#define FNGATE_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gate.h"
#include "headers.h"
#include "outcome.h"

struct conf;
struct conf_function;
struct cors_field;
struct evbuffer;
struct upconn;
struct h2up_stream;
struct conf_upstream;
struct worker;
struct exchange;
struct upstream_ops;
struct tunnel;

#define EXCHANGE_REQID_MAX  64
/* Backpressure: a side is not read while the other has this much queued. */
#define EXCHANGE_HIGH_WATER (256 * 1024)

/* How the response body is delimited, as the core knows it; the front end frames it. */
enum exchange_body {
	EXCHANGE_BODY_NONE = 1,     /* no body (HEAD, 204, 304, a preflight) */
	EXCHANGE_BODY_LENGTH,       /* exactly `length` bytes */
	EXCHANGE_BODY_STREAM,       /* length unknown: ends with body_end */
};

/* What has been sent of the response (the core reads it to choose between a reply and an abort). */
enum exchange_resp {
	EXCHANGE_RESP_NONE = 1,     /* nothing sent yet */
	EXCHANGE_RESP_STREAMING,    /* the head was sent; the body is being relayed */
	EXCHANGE_RESP_COMPLETE,     /* the whole response is queued */
};

/* The front end's side of the exchange. Every function gets the exchange it was set on. */
struct exchange_out_ops {
	/* The response head: its status (reason: the upstream's phrase, or NULL for the standard
	 * one), then fields one by one, then its end. */
	void (*head_start)(struct exchange *x, int status, const char *reason, size_t reason_len);
	void (*head_field)(struct exchange *x, const char *name, size_t name_len, const char *val,
			   size_t val_len);
	/* The head ends; the body is `body` (`length` bytes for EXCHANGE_BODY_LENGTH). `last`: this
	 * is the last exchange of the connection (the request was not read to its end). */
	void (*head_end)(struct exchange *x, enum exchange_body body, uint64_t length, bool last);
	/* Body bytes: copied, or moved from `from` without a copy (whole evbuffer chains). */
	void (*body)(struct exchange *x, const char *p, size_t n);
	void (*body_move)(struct exchange *x, struct evbuffer *from, size_t n);
	/* The body ends, with trailer fields (names and values in buf, n of them; an h2c
	 * upstream's, such as gRPC's grpc-status). The response is then complete (x->resp). */
	void (*body_end)(struct exchange *x, const char *buf, const struct header *tr, unsigned n);
	/* Send what is queued now rather than at the next loop turn. */
	void (*flush)(struct exchange *x);
	/* More than EXCHANGE_HIGH_WATER of the response waits to be sent: stop producing until
	 * the front end calls exchange_out_drained. */
	bool (*congested)(const struct exchange *x);
	/* The client asked to be told before it sends the body (Expect: 100-continue). */
	void (*send_continue)(struct exchange *x);
	/* The response went out whole (after a relay, or after a reply outside dispatch): finish
	 * the exchange, go on with the connection. */
	void (*done)(struct exchange *x);
	/* The response that began cannot be completed: end the stream so that the client sees it
	 * cut short, never a truncated body passed off as whole. */
	void (*abort)(struct exchange *x, enum outcome why);
	/* The request body's source: stop reading it (the upstream's output is full), resume
	 * (it drained). In a tunnel, the client's bytes. */
	void (*body_pause)(struct exchange *x);
	void (*body_resume)(struct exchange *x);
	/* The upstream accepted an upgrade (tunnel.c): its 101 head was queued (head_start ..
	 * head_end with EXCHANGE_BODY_NONE). From now on the exchange is a byte tunnel: what the
	 * client sends goes to tunnel_client_data (and its end to tunnel_client_eof); what the
	 * upstream sends arrives through body_move, with congested and exchange_out_drained for
	 * backpressure; the tunnel's end is done (clean) or abort. HTTP/1.1 hands the connection
	 * over; HTTP/2 carries an extended CONNECT stream (RFC 8441) the same way. */
	void (*tunnel)(struct exchange *x);
	/* The upstream ended its direction of the tunnel: end the client's once what is queued is
	 * sent (HTTP/1.1: a FIN; HTTP/2: END_STREAM). Returns false when the front end cannot
	 * half-close (TLS): the tunnel then ends whole. */
	bool (*shut)(struct exchange *x);
};

/* One request and its response. The front end keeps it in its connection (or stream) state:
 * the fields above `method` are set once per connection, the rest is cleared per request by
 * exchange_reset. Offsets index `buf`, the front end's head memory. */
struct exchange {
	const struct exchange_out_ops *ops;
	struct worker *w;
	const char    *client_ip;       /* X-Forwarded-For */
	bool           tls;             /* X-Forwarded-Proto: https */
	/* --- cleared per request from here (exchange_reset) --- */
	uint8_t        method;          /* llhttp_method_t numbering, used as the method enumeration */
	bool           method_known;    /* the head was read far enough to know the method */
	bool           has_body;
	bool           length_unknown;  /* the body's length is not announced (HTTP/1.1 chunked) */
	bool           cl_present;      /* a length was announced (even 0) */
	bool           expect_continue; /* the client waits for 100 Continue before the body */
	bool           has_connection;  /* a Connection field names hop-by-hop fields */
	bool           has_underscore;  /* a field name holds '_' (forward.c: underscores_in_headers) */
	bool           req_complete;    /* the request was received to its end */
	bool           upgrade;         /* an upgrade the core may turn into a tunnel (GET, HTTP/1.1,
					 * Upgrade with Connection: upgrade, no body; or an HTTP/2
					 * extended CONNECT for websocket) */
	bool           upgrade_required;/* ...that only a 101 may answer: an extended CONNECT,
					 * whose client takes a 2xx for an open tunnel (HTTP/1.1's
					 * Upgrade may be ignored) */
	bool           tunnel_slot;     /* holds one of limits.max_tunnels (tunnel.c) */
	uint8_t        cors;            /* enum cors_state: CORS_OFF unless the function has "cors" */
	uint8_t        norigin, nacrm, nacrh;
	uint64_t       content_length;
	uint64_t       body_bytes;      /* received so far */
	uint32_t       path_off, path_len;  /* the origin-form target (path and query) */
	uint32_t       host_off, host_len;  /* the authority (absolute-form's, else Host): len 0 none */
	unsigned       nhdr;
	int            token_idx;       /* the first X-Auth-Token, -1 none */
	int            ntokens;
	int            reqid_idx;       /* X-Request-Id, -1 none */
	int            origin_idx, acrm_idx, acrh_idx;  /* CORS fields (cors.h), -1 none */
	const char    *buf;             /* the head's text: target and fields */
	size_t         buf_len;         /* its length */
	const struct header *hdr;       /* nhdr fields located in buf */
	struct conf   *conf;            /* the snapshot of the request (a reference: the front end's) */
	const struct conf_function *fn;
	struct gate_result gate;
	struct upconn *up;              /* the upstream connection carrying it (HTTP/1.1) */
	struct h2up_stream *h2up;       /* or the HTTP/2 stream carrying it (h2c upstreams, h2up.c) */
	struct tunnel *tunnel;          /* after a 101: the tunnel's state (tunnel.c) */
	enum exchange_resp resp;
	int            status;          /* status sent to the client */
	enum outcome   err;             /* a local error (outcome.h), OUT_NONE when none */
	uint64_t       bytes_out;       /* bytes sent to the client, head included */
	uint64_t       start_us;
	uint64_t       upstream_start_us;
	int64_t        upstream_us;
	char           request_id[EXCHANGE_REQID_MAX + 1];
};

/* What exchange_index finds that only a front end acts on (HTTP/1 framing rules). */
struct exchange_fields {
	int      host_idx;      /* the last Host field, -1 none */
	unsigned hosts;         /* how many Host fields */
	unsigned te;            /* Transfer-Encoding fields (each a bare "chunked") */
	bool     conn_close;    /* a Connection field lists "close" */
	unsigned upgrades;      /* Upgrade fields */
	bool     conn_upgrade;  /* a Connection field lists "upgrade" */
};

/* The request is with an upstream (HTTP/1.1 or HTTP/2): the front end pushes its body. */
static inline bool exchange_upstream(const struct exchange *x)
{
	return x->up != NULL || x->h2up != NULL;
}

/* exchange.c */
/* Clear the per-request part of x. */
void exchange_reset(struct exchange *x);
/* Index the request's nhdr fields (hdr: x->hdr, writable: values lose trailing blanks) for the
 * core, the same for every protocol: the token, the request id, the CORS fields, Expect,
 * Connection, names with '_'. Front ends call it once the head is complete. Returns 0, or -1
 * with x->err set (a name that is not a token, an Expect other than 100-continue, a
 * Transfer-Encoding other than chunked). */
int exchange_index(struct exchange *x, struct header *hdr, struct exchange_fields *f);
/* Set x->method from a method name (HTTP/2's :method): true, or false for a method llhttp does
 * not know (the numbering x->method uses). */
bool exchange_method_set(struct exchange *x, const char *name, size_t len);
/* Field value idx of the request (NULL, *len 0 when idx is -1). */
const char *exchange_header(const struct exchange *x, int idx, size_t *len);
/* The request's authority (host[:port]) as received; NULL when none. */
const char *exchange_host(const struct exchange *x, size_t *len);
/* The request head is complete and valid: request id, route, CORS, gate, body limit, then
 * forward or a reply. Returns 0 when the request goes on (forwarded, or answered while its body,
 * if any, may be read), 1 when it was answered and the rest of its body must not be read (the
 * front end ends the connection or stream after the reply). */
int exchange_dispatch(struct exchange *x);
/* The request is over (answered, failed or abandoned): its access-log record and metrics, from
 * `client` ("ip:port") over `protocol` ("HTTP/1.1", "HTTP/2.0"); its configuration reference
 * is released. Nothing when it holds none (already finished, or never begun). */
void exchange_finish(struct exchange *x, const char *client, const char *protocol);
/* The request failed with the upstream: a reply when nothing was sent yet (then done), else
 * an abort. */
void exchange_fail(struct exchange *x, enum outcome o);
/* The front end's output drained below half the mark: the relay may produce again. */
void exchange_out_drained(struct exchange *x);

/* forward.c: the upstream request */
/* The gate allowed the request: pick an upstream, send it the head. 0, or -1 after replying. */
int forward_start(struct exchange *x);
/* The upstream request's target for endpoint ep (base path, the request's path under the
 * function's prefix rule) into out, which has room for strlen(ep->base_path) + x->path_len + 2
 * bytes. Returns its length. */
size_t forward_target(const struct exchange *x, const struct conf_upstream *ep, char *out);
/* The request fields the upstream gets, whatever its protocol: the client's fields without the
 * hop-by-hop, spoofable and credential ones, then fngate's identity fields (X-Forwarded-*,
 * X-Request-Id, X-Fngate-*), each handed to add(arg, name, name_len, value, value_len). */
void forward_fields(const struct exchange *x,
		    void (*add)(void *arg, const char *n, size_t nl, const char *v, size_t vl),
		    void *arg);
/* Relay a piece of request body (framing applied). */
void forward_body(struct exchange *x, const char *at, size_t len);
/* Move len bytes of a body of announced length from the front end's input buffer `in` to the
 * upstream without copying them. */
void forward_body_move(struct exchange *x, struct evbuffer *in, size_t len);
/* The request body is complete (the final chunk when its length was unknown). */
void forward_body_end(struct exchange *x);
/* Send what is queued for the upstream now (a no-op without one). */
void forward_flush(struct exchange *x);
/* Bytes of the request queued towards the upstream and not yet sent (0 without one). */
size_t forward_pending(const struct exchange *x);
/* The exchange ends before its response did: its upstream connection, in an unknown state, is
 * closed. */
void forward_cancel(struct exchange *x);

/* response.c: the upstream response relayed */
/* The callbacks through which upstream.c reports to the response relay (upstream.h). */
extern const struct upstream_ops response_ops;
/* One field of an upstream's response head on its way to the client, whatever the upstream's
 * protocol (response.c, h2up.c): dropped when fngate answers for it (hop-by-hop; CORS under
 * the function's policy; X-Request-Id; a '_' alias of a hop-by-hop name), a Location,
 * Content-Location or Refresh that points into endpoint ep's path space brought back into the
 * function's (redirect.h), else passed to x->ops->head_field as it is.
 * 0, or -1 when out of memory. */
int response_field(struct exchange *x, int ep, const char *name, size_t nl, const char *val,
		   size_t vl);
/* After the upstream's fields: fngate's own (its X-Request-Id, the function's CORS fields). */
void response_own_fields(struct exchange *x);

/* tunnel.c: an upgraded exchange as a byte tunnel (WebSocket and other upgrades) */
/* Take one of limits.max_tunnels for an upgrade request before it is forwarded: 0, or -1 when
 * all are taken (the request is refused: OUT_TUNNEL_LIMIT). */
int tunnel_reserve(struct exchange *x);
/* Give the slot back (the upgrade was answered otherwise, or failed); a no-op without one. */
void tunnel_unreserve(struct exchange *x);
/* The upstream u answered 101 and its head went to the client: turn x and u into a tunnel (u
 * in raw mode, x->ops->tunnel), and relay what u sent after its head. */
void tunnel_start(struct exchange *x, struct upconn *u);
/* The front end's input from the client in a tunnel: all of it goes to the upstream. */
void tunnel_client_data(struct exchange *x, struct evbuffer *in);
/* The client ended its direction (FIN): the upstream's is ended once its output drained. */
void tunnel_client_eof(struct exchange *x);
/* The exchange ends while a tunnel (or its slot) is held: close the upstream, free the state,
 * give the slot back (forward_cancel calls it). */
void tunnel_cancel(struct exchange *x);

/* reply.c: responses fngate makes itself */
/* Send a local response for outcome o: its status (outcome.h) and a small JSON body
 * {"error":"<its name>"} (none for the 204 of OUT_CORS_PREFLIGHT), with the CORS fields of the
 * request's function (reply_cors), through x->ops. Marks the response complete; records o as the
 * request's error unless it is a gate or CORS decision (already recorded as the gate's). `close`:
 * the request will not be read to its end, so the connection (or stream) ends after this reply.
 * Sending it is the front end's business (it flushes after dispatch, or on done). */
void reply_error(struct exchange *x, enum outcome o, bool close);
/* The CORS fields (cors_fields, at most CORS_FIELDS_MAX into f) of the response to the
 * request: fngate's own answer o, or OUT_NONE for one relayed from the upstream. Returns how
 * many (0: none). */
size_t reply_cors(const struct exchange *x, enum outcome o, struct cors_field *f);
/* Status line reason phrases for the statuses fngate produces (data plane and admin API). */
const char *reply_reason(int status);

#endif
