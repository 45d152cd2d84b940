/* response.c - the upstream response: parsed with llhttp (strict), its head rewritten with
 * hop-by-hop headers removed and framing normalised, its body relayed to the client with
 * backpressure. It plugs into upstream.c through response_ops (upstream.h), which owns the
 * connection's events, timeouts, retry and failure. Failures before anything reached the client
 * become 502/504; after, the client connection is closed so a truncated body is never mistaken
 * for a complete one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bevio.h"
#include "conf.h"
#include "cors.h"
#include "headers.h"
#include "metrics.h"
#include "exchange.h"
#include "http1.h"
#include "redirect.h"
#include "upstream.h"
#include "util.h"

static struct upconn *up_of(llhttp_t *p)
{
	return p->data;
}

static int hdr_append(struct upconn *u, const char *at, size_t len)
{
	size_t max = u->fn != NULL ? u->fn->limits.max_header_bytes : 16384;

	if (len == 0)
		return 0;   /* llhttp may report an empty span: no memcpy to a NULL buffer (UBSan) */
	if (u->hdrlen + len > max)
		return -1;
	if (u->hdrlen + len > u->hdrcap) {
		size_t ncap = u->hdrcap ? u->hdrcap : 1024;
		char *nb;

		while (ncap < u->hdrlen + len)
			ncap *= 2;
		nb = realloc(u->hdrbuf, ncap);
		if (nb == NULL)
			return -1;
		u->hdrbuf = nb;
		u->hdrcap = ncap;
	}
	memcpy(u->hdrbuf + u->hdrlen, at, len);
	u->hdrlen += len;
	return 0;
}

static int on_message_begin(llhttp_t *p)
{
	struct upconn *u = up_of(p);

	u->hdrlen = 0;
	u->nhdr_resp = 0;
	u->nhdr_head = 0;
	u->reason_off = 0;
	u->reason_len = 0;
	u->resp_in_value = false;
	u->resp_started = true;
	return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
	struct upconn *u = up_of(p);

	if (u->reason_len == 0)
		u->reason_off = (uint32_t)u->hdrlen;
	u->reason_len += (uint32_t)len;
	return hdr_append(u, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct upconn *u = up_of(p);

	if (u->nhdr_resp == 0 || u->resp_in_value) {
		if (u->nhdr_resp == UPSTREAM_MAX_RESP_HEADERS)
			return -1;
		u->resp_hdr[u->nhdr_resp++] = (struct header){.name_off = (uint32_t)u->hdrlen};
		u->resp_in_value = false;
	}
	u->resp_hdr[u->nhdr_resp - 1].name_len += (uint32_t)len;
	return hdr_append(u, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct upconn *u = up_of(p);

	if (!u->resp_in_value) {
		u->resp_in_value = true;
		u->resp_hdr[u->nhdr_resp - 1].val_off = (uint32_t)u->hdrlen;
	}
	u->resp_hdr[u->nhdr_resp - 1].val_len += (uint32_t)len;
	return hdr_append(u, at, len);
}

int response_field(struct exchange *x, int ep, const char *name, size_t nl, const char *val,
		   size_t vl)
{
	const struct conf_function *fn = x->fn;
	enum redirect_field kind;
	char alias[HEADERS_ALIAS_MAX];
	char *nv = NULL;
	long n = -1;

	if (headers_hop_by_hop(name, nl))
		return 0;
	/* A function with "cors": its policy answers for it, not the upstream. */
	if (x->cors != CORS_OFF && cors_upstream_field(name, nl))
		return 0;
	/* Content_Length, Transfer_Encoding...: fngate frames the response itself, and a client
	 * stack that folds '_' into '-' must not find a second, false framing. */
	if (headers_underscore_alias(name, nl, alias) && headers_hop_by_hop(alias, nl)) {
		metrics_header_dropped(METRICS_HDRDROP_RESPONSE_ALIAS);
		return 0;
	}
	/* The caller quotes fngate's id, the one in the access log and sent upstream: an
	 * upstream's own X-Request-Id gives way to it (the relay adds it after the fields). */
	if (nl == 12 && util_ieq(name, nl, "x-request-id") && x->request_id[0] != '\0')
		return 0;
	kind = redirect_field(name, nl);
	if (kind != REDIRECT_NONE && redirect_needed(fn, &fn->upstreams[ep])) {
		nv = malloc(redirect_max_len(fn, vl));
		if (nv == NULL)
			return -1;
		n = redirect_rewrite(fn, &fn->upstreams[ep], kind, val, vl, nv);
	}
	if (n >= 0)
		x->ops->head_field(x, name, nl, nv, (size_t)n);
	else
		x->ops->head_field(x, name, nl, val, vl);
	free(nv);
	return 0;
}

void response_own_fields(struct exchange *x)
{
	struct cors_field cors[CORS_FIELDS_MAX];
	size_t ncors = reply_cors(x, OUT_NONE, cors);

	if (x->request_id[0] != '\0')
		x->ops->head_field(x, "X-Request-Id", 12, x->request_id, strlen(x->request_id));
	for (size_t i = 0; i < ncors; i++)
		x->ops->head_field(x, cors[i].name, cors[i].name_len, cors[i].val, cors[i].val_len);
}

/* The upstream accepted the upgrade: relay its 101 head (its hop-by-hop fields dropped but
 * Upgrade, Connection stated again) and stop parsing; response_read hands the connection to
 * tunnel.c. Returns llhttp's "no body, upgrade" (2). */
static int response_upgrade(struct upconn *u, struct exchange *x)
{
	const struct exchange_out_ops *ops = x->ops;

	/* An empty field name is malformed (and with only such fields hdrbuf is NULL). */
	for (unsigned i = 0; i < u->nhdr_resp; i++)
		if (u->resp_hdr[i].name_len == 0)
			return -1;
	ops->head_start(x, 101, u->reason_len > 0 ? u->hdrbuf + u->reason_off : NULL, u->reason_len);
	for (unsigned i = 0; i < u->nhdr_resp; i++) {
		const struct header *h = &u->resp_hdr[i];
		const char *name = u->hdrbuf + h->name_off, *val = u->hdrbuf + h->val_off;
		size_t nl = h->name_len, vl = h->val_len;

		while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
			vl--;
		if ((headers_hop_by_hop(name, nl) && !(nl == 7 && util_ieq(name, nl, "upgrade"))) ||
		    (nl == 12 && util_ieq(name, nl, "x-request-id")))
			continue;
		ops->head_field(x, name, nl, val, vl);
	}
	ops->head_field(x, "Connection", 10, "Upgrade", 7);
	ops->head_field(x, "X-Request-Id", 12, x->request_id, strlen(x->request_id));
	ops->head_end(x, EXCHANGE_BODY_NONE, 0, false);
	x->status = 101;
	x->upstream_us = (int64_t)(util_mono_us() - x->upstream_start_us);
	u->final_seen = true;
	u->retry_len = 0;
	u->tunnel_pending = true;
	return 2;
}

static int on_headers_complete(llhttp_t *p)
{
	struct upconn *u = up_of(p);
	struct exchange *x = u->x;
	const struct exchange_out_ops *ops;
	int status = llhttp_get_status_code(p);
	bool no_body, cl_known = (p->flags & F_CONTENT_LENGTH) != 0;
	bool conn_hdr = false;     /* the response has a Connection header: its list is checked */

	if (x == NULL)
		return -1;
	if (status == 101 && u->upgrade)
		return response_upgrade(u, x);
	if (status >= 100 && status < 200) {
		if (status == 101)
			return -1;      /* we never asked for an upgrade */
		u->is_1xx = true;   /* informational: not relayed; the final response follows */
		return 0;
	}
	/* An HTTP/2 extended CONNECT (RFC 8441) needs the upgrade: relayed, a 2xx in place of
	 * the 101 would tell its client the tunnel is open. A refusal (3xx-5xx) goes through. */
	if (x->upgrade_required && status < 300) {
		u->resp_refused = OUT_UPSTREAM_UPGRADE_REFUSED;
		return -1;
	}
	u->is_1xx = false;
	u->final_seen = true;
	u->nhdr_head = u->nhdr_resp;
	/* An upgrade answered otherwise: a plain response, and its tunnel slot is free. */
	tunnel_unreserve(x);
	{
		/* Only a single bare "chunked" is framing fngate can relay: with any other coding
		 * the body would be read to the close and its coding lost (nginx refuses these too). */
		int te = 0;

		for (unsigned i = 0; i < u->nhdr_resp; i++) {
			const struct header *h = &u->resp_hdr[i];
			const char *val;
			size_t vl = h->val_len;

			/* An empty field name is malformed; with only such fields hdrbuf is still
			 * NULL, so this also guards the pointer arithmetic below. */
			if (h->name_len == 0)
				return -1;
			if (h->name_len == 10 && util_ieq(u->hdrbuf + h->name_off, 10, "connection"))
				conn_hdr = true;
			if (h->name_len != 17 || !util_ieq(u->hdrbuf + h->name_off, 17, "transfer-encoding"))
				continue;
			val = u->hdrbuf + h->val_off;
			while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
				vl--;
			if (++te > 1 || !util_ieq(val, vl, "chunked"))
				return -1;
		}
	}
	ops = x->ops;
	no_body = u->head_request || status == 204 || status == 304;
	ops->head_start(x, status, u->reason_len > 0 ? u->hdrbuf + u->reason_off : NULL,
			u->reason_len);
	for (unsigned i = 0; i < u->nhdr_resp; i++) {
		const struct header *h = &u->resp_hdr[i];
		const char *name = u->hdrbuf + h->name_off, *val = u->hdrbuf + h->val_off;
		size_t nl = h->name_len, vl = h->val_len;

		while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
			vl--;
		/* A HEAD or 304 response keeps the Content-Length that describes the entity. */
		if (no_body && status != 204 && nl == 14 && util_ieq(name, nl, "content-length") &&
		    cl_known) {
			ops->head_field(x, name, nl, val, vl);
			continue;
		}
		/* HTTP/1.1's own: a field its Connection field names is connection-specific. */
		if (conn_hdr && headers_connection_lists(u->hdrbuf, u->resp_hdr, u->nhdr_resp, name, nl))
			continue;
		if (response_field(x, u->ep, name, nl, val, vl) != 0)
			return -1;
	}
	response_own_fields(x);
	ops->head_end(x, no_body ? EXCHANGE_BODY_NONE : cl_known && !(p->flags & F_CHUNKED) ?
		      EXCHANGE_BODY_LENGTH : EXCHANGE_BODY_STREAM, p->content_length, false);
	x->status = status;
	x->upstream_us = (int64_t)(util_mono_us() - x->upstream_start_us);
	/* The head went out: a retry is no longer possible. */
	u->retry_len = 0;
	return u->head_request ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct upconn *u = up_of(p);

	if (u->x == NULL || u->is_1xx)
		return -1;
	u->x->ops->body(u->x, at, len);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct upconn *u = up_of(p);

	if (u->is_1xx) {
		u->is_1xx = false;
		return 0;
	}
	if (u->tunnel_pending)
		return HPE_PAUSED;     /* what follows is the tunnel's, not HTTP */
	if (u->x != NULL) {
		/* A chunked body's trailer fields (after the head's), passed on without those
		 * that may not be trailers. */
		struct header tr[UPSTREAM_MAX_RESP_HEADERS];
		unsigned n = 0;

		for (unsigned i = u->nhdr_head; i < u->nhdr_resp; i++) {
			struct header h = u->resp_hdr[i];
			const char *name = u->hdrbuf + h.name_off;

			while (h.val_len > 0 && (u->hdrbuf[h.val_off + h.val_len - 1] == ' ' ||
						 u->hdrbuf[h.val_off + h.val_len - 1] == '\t'))
				h.val_len--;
			if (h.name_len == 0 || headers_trailer_forbidden(name, h.name_len))
				continue;
			tr[n++] = h;
		}
		u->x->ops->body_end(u->x, u->hdrbuf, tr, n);
	}
	u->resp_done = true;
	return HPE_PAUSED;
}

static const llhttp_settings_t response_settings = {
	.on_message_begin = on_message_begin,
	.on_status = on_status,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* The response is complete: detach, pool or close the upstream connection, finish the exchange. */
static void response_finish(struct upconn *u)
{
	struct exchange *x = u->x;
	bool reuse;

	reuse = u->req_sent && llhttp_should_keep_alive(&u->parser) &&
		evbuffer_get_length(bufferevent_get_input(u->bev)) == 0 &&
		evbuffer_get_length(bufferevent_get_output(u->bev)) == 0;
	x->up = NULL;
	u->x = NULL;
	if (reuse)
		upstream_release(u);
	else
		upstream_close(u);
	x->ops->done(x);
}

/* Backpressure the other way: the upstream is not read while the front end's output is
 * congested (exchange_out_drained resumes it). Returns true when it stopped. */
static bool up_backpressure(struct upconn *u)
{
	if (!u->x->ops->congested(u->x))
		return false;
	upstream_read_pause(u);
	return true;
}

/* Response bytes arrived: parse and relay them, reading on in bigger pieces during a large body. */
static void response_read(struct upconn *u)
{
	struct bufferevent *bev = u->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	/* As for request bodies (conn.c): once a read brought at least BEV_BULK_MIN (a plain
	 * connection's read event reads UPSTREAM_READ_SIZE), read the rest of a response body
	 * here in bigger pieces, within a budget per callback. */
	size_t bulk = u->direct_io && evbuffer_get_length(in) >= BEV_BULK_MIN ? BEV_BULK_BUDGET : 0;

again:
	while (u->x != NULL && !u->resp_done && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		llhttp_errno_t err;
		size_t used;

		if (u->read_paused)
			return;
		/* upstream_response_ms bounds the whole response head, not only each silence (the
		 * read timeout): a head trickled a byte at a time would hold the request for ever. */
		if (!u->final_seen && u->req_sent && util_mono_us() - u->sent_us >
		    (uint64_t)u->fn->timeouts.upstream_response_ms * 1000u) {
			upstream_fail(u, OUT_UPSTREAM_TIMEOUT);
			return;
		}
		if (u->final_seen && !u->is_1xx && !u->head_request &&
		    (u->parser.flags & (F_CONTENT_LENGTH | F_CHUNKED)) == F_CONTENT_LENGTH &&
		    u->parser.content_length > 1 && llhttp_get_status_code(&u->parser) != 204 &&
		    llhttp_get_status_code(&u->parser) != 304) {
			/* A Content-Length body is relayed as it is: its bytes move to the client
			 * without llhttp or a copy (as request bodies do, conn.c); the last byte is
			 * left to llhttp, which then ends the message. */
			size_t k = evbuffer_get_length(in);

			if (k > u->parser.content_length - 1)
				k = (size_t)(u->parser.content_length - 1);
			u->x->ops->body_move(u->x, in, k);
			u->parser.content_length -= k;
			u->x->ops->flush(u->x);
			if (up_backpressure(u))
				return;
			continue;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		err = llhttp_execute(&u->parser, v.iov_base, v.iov_len);
		used = err == HPE_OK ? v.iov_len :
		       (size_t)(llhttp_get_error_pos(&u->parser) - (const char *)v.iov_base);
		evbuffer_drain(in, used);
		u->x->ops->flush(u->x);
		if (u->tunnel_pending) {
			u->tunnel_pending = false;
			tunnel_start(u->x, u);     /* u may be gone after */
			return;
		}
		if (u->resp_done) {
			response_finish(u);
			return;
		}
		if (err != HPE_OK) {
			upstream_fail(u, u->resp_refused != OUT_NONE ? u->resp_refused :
				      OUT_UPSTREAM_BAD_RESPONSE);
			return;
		}
		if (up_backpressure(u))
			return;
	}
	if (bulk > 0 && u->x != NULL && !u->resp_done && u->final_seen && !u->read_paused) {
		size_t want = bulk < BEV_BULK_READ ? bulk : BEV_BULK_READ, n;

		n = bev_read_now(bev, want);
		bulk = n < want ? 0 : bulk - n;
		if (n > 0)
			goto again;
	}
	if (u->x == NULL && !u->resp_done)
		upstream_close(u);
}

/* The upstream closed after its response began: the end of a body delimited by the close. */
static bool response_eof(struct upconn *u)
{
	llhttp_errno_t fe;

	if (!llhttp_message_needs_eof(&u->parser))
		return false;
	/* on_message_complete pauses the parser, so llhttp_finish reports HPE_PAUSED for a
	 * complete message (fuzz_response). */
	fe = llhttp_finish(&u->parser);
	if ((fe != HPE_OK && fe != HPE_PAUSED) || !u->resp_done)
		return false;
	u->req_sent = false;    /* never reuse a closed connection */
	response_finish(u);     /* done flushes the last chunk on_message_complete queued */
	return true;
}

/* The request (head and body so far) drained towards the upstream: the client may be read. */
static void response_drained(struct upconn *u)
{
	u->x->ops->body_resume(u->x);
}

/* u carries the request (first attempt or a retry): a fresh parser; the exchange follows u. */
static void response_begin(struct upconn *u)
{
	llhttp_init(&u->parser, HTTP_RESPONSE, &response_settings);
	u->parser.data = u;
	u->hdrlen = 0;
	u->nhdr_resp = 0;
	u->nhdr_head = 0;
	u->is_1xx = false;
	u->tunnel_pending = false;
	u->resp_refused = OUT_NONE;
	u->x->up = u;
}

const struct upstream_ops response_ops = {
	.begin = response_begin,
	.read = response_read,
	.eof = response_eof,
	.drained = response_drained,
	.failed = exchange_fail,
};
