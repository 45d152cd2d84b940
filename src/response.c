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
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "redirect.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

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

/* The response head is assembled here and handed to the client's evbuffer in one piece: one
 * evbuffer_add (and one round of its callbacks) instead of four per header line. */
struct outbuf {
	struct evbuffer *out;
	size_t           len;
	char             b[4096];
};

static void ob_flush(struct outbuf *ob)
{
	if (ob->len > 0)
		evbuffer_add(ob->out, ob->b, ob->len);
	ob->len = 0;
}

static void ob_add(struct outbuf *ob, const void *p, size_t n)
{
	if (ob->len + n > sizeof(ob->b)) {
		ob_flush(ob);
		if (n > sizeof(ob->b)) {
			evbuffer_add(ob->out, p, n);
			return;
		}
	}
	memcpy(ob->b + ob->len, p, n);
	ob->len += n;
}

/* One response field relayed: a Location, Content-Location or Refresh that points into the
 * upstream's path space is brought back into the function's public one (redirect.h). Returns 0,
 * or -1 when out of memory. */
static int relay_redirect(struct outbuf *ob, struct upconn *u, const char *name, size_t nl,
			  const char *val, size_t vl)
{
	const struct conf_function *fn = u->fn;
	enum redirect_field kind = redirect_field(name, nl);
	char *nv = NULL;
	long n = -1;
	int idx;

	if (kind != REDIRECT_NONE && (idx = upstream_index(u, fn)) >= 0 &&
	    redirect_needed(fn, &fn->upstreams[idx])) {
		nv = malloc(redirect_max_len(fn, vl));
		if (nv == NULL)
			return -1;
		n = redirect_rewrite(fn, &fn->upstreams[idx], kind, val, vl, nv);
	}
	ob_add(ob, name, nl);
	ob_add(ob, ": ", 2);
	if (n >= 0)
		ob_add(ob, nv, (size_t)n);
	else
		ob_add(ob, val, vl);
	ob_add(ob, "\r\n", 2);
	free(nv);
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct outbuf ob;
	struct upconn *u = up_of(p);
	struct conn *c = u->client;
	int status = llhttp_get_status_code(p);
	bool no_body, cl_known = (p->flags & F_CONTENT_LENGTH) != 0;
	bool conn_hdr = false;     /* the response has a Connection header: its list is checked */
	char alias[HEADERS_ALIAS_MAX];
	char line[96];
	int n;

	if (c == NULL)
		return -1;
	if (status >= 100 && status < 200) {
		if (status == 101)
			return -1;      /* we never asked for an upgrade */
		u->is_1xx = true;   /* informational: not relayed; the final response follows */
		return 0;
	}
	u->is_1xx = false;
	u->final_seen = true;
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
	ob.out = bufferevent_get_output(c->bev);
	ob.len = 0;
	no_body = u->head_request || status == 204 || status == 304;
	memcpy(line, "HTTP/1.1 ", 9);
	n = 9 + (int)util_u64_dec((uint64_t)status, line + 9);
	line[n++] = ' ';
	ob_add(&ob, line, (size_t)n);
	if (u->reason_len > 0)
		ob_add(&ob, u->hdrbuf + u->reason_off, u->reason_len);
	else
		ob_add(&ob, reply_reason(status), strlen(reply_reason(status)));
	ob_add(&ob, "\r\n", 2);
	for (unsigned i = 0; i < u->nhdr_resp; i++) {
		const struct header *h = &u->resp_hdr[i];
		const char *name = u->hdrbuf + h->name_off, *val = u->hdrbuf + h->val_off;
		size_t nl = h->name_len, vl = h->val_len;

		while (vl > 0 && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
			vl--;
		/* A HEAD or 304 response keeps the Content-Length that describes the entity. */
		if (no_body && status != 204 && nl == 14 && util_ieq(name, nl, "content-length") &&
		    cl_known) {
			ob_add(&ob, name, nl);
			ob_add(&ob, ": ", 2);
			ob_add(&ob, val, vl);
			ob_add(&ob, "\r\n", 2);
			continue;
		}
		if (headers_hop_by_hop(name, nl) ||
		    (conn_hdr && headers_connection_lists(u->hdrbuf, u->resp_hdr, u->nhdr_resp, name, nl)))
			continue;
		/* A function with "cors": its policy answers for it, not the upstream. */
		if (c->req.cors != CORS_OFF && cors_upstream_field(name, nl))
			continue;
		/* Content_Length, Transfer_Encoding...: fngate frames the response itself, and a
		 * client stack that folds '_' into '-' must not find a second, false framing. */
		if (headers_underscore_alias(name, nl, alias) && headers_hop_by_hop(alias, nl)) {
			metrics_header_dropped(METRICS_HDRDROP_RESPONSE_ALIAS);
			continue;
		}
		/* The caller quotes fngate's id, the one in the access log and sent upstream: an
		 * upstream's own X-Request-Id gives way to it (added below). */
		if (nl == 12 && util_ieq(name, nl, "x-request-id") && c->req.request_id[0] != '\0')
			continue;
		if (relay_redirect(&ob, u, name, nl, val, vl) != 0)
			return -1;
	}
	if (c->req.request_id[0] != '\0') {
		ob_add(&ob, "X-Request-Id: ", 14);
		ob_add(&ob, c->req.request_id, strlen(c->req.request_id));
		ob_add(&ob, "\r\n", 2);
	}
	{
		struct iovec cors[CORS_IOV_MAX];
		size_t ncors = reply_cors(c, OUT_NONE, cors);

		for (size_t i = 0; i < ncors; i++)
			ob_add(&ob, cors[i].iov_base, cors[i].iov_len);
	}
	if (!no_body) {
		if (cl_known && !(p->flags & F_CHUNKED)) {
			memcpy(line, "Content-Length: ", 16);
			n = 16 + (int)util_u64_dec(p->content_length, line + 16);
			line[n++] = '\r';
			line[n++] = '\n';
			ob_add(&ob, line, (size_t)n);
		} else if (c->req.http_minor == 1) {
			ob_add(&ob, "Transfer-Encoding: chunked\r\n", 28);
			c->resp_chunked = true;
		} else {
			/* An HTTP/1.0 client: the body ends when we close. */
			c->resp_close_delim = true;
			c->close_after = true;
		}
	}
	if (c->close_after)
		ob_add(&ob, "Connection: close\r\n", 19);
	else if (c->req.http_minor == 0)
		ob_add(&ob, "Connection: keep-alive\r\n", 24);
	ob_add(&ob, "\r\n", 2);
	ob_flush(&ob);
	c->resp = RESP_STREAMING;
	c->req.status = status;
	c->req.upstream_us = (int64_t)(util_mono_us() - c->req.upstream_start_us);
	/* The head went out: a retry is no longer possible. */
	u->retry_len = 0;
	return u->head_request ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct upconn *u = up_of(p);
	struct conn *c = u->client;
	struct evbuffer *out;

	if (c == NULL || u->is_1xx)
		return -1;
	out = bufferevent_get_output(c->bev);
	if (c->resp_chunked)
		http1_chunk_add(out, at, len);
	else
		evbuffer_add(out, at, len);
	c->req.bytes_out += len;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct upconn *u = up_of(p);
	struct conn *c = u->client;

	if (u->is_1xx) {
		u->is_1xx = false;
		return 0;
	}
	if (c != NULL && c->resp_chunked)
		http1_chunk_last(bufferevent_get_output(c->bev));
	u->resp_done = true;
	return HPE_PAUSED;
}

const llhttp_settings_t response_settings = {
	.on_message_begin = on_message_begin,
	.on_status = on_status,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* The response is complete: detach, pool or close the upstream connection, finish the client. */
static void response_finish(struct upconn *u)
{
	struct conn *c = u->client;
	bool reuse;

	reuse = u->req_sent && llhttp_should_keep_alive(&u->parser) &&
		evbuffer_get_length(bufferevent_get_input(u->bev)) == 0 &&
		evbuffer_get_length(bufferevent_get_output(u->bev)) == 0;
	c->up = NULL;
	u->client = NULL;
	if (reuse)
		upstream_release(u);
	else
		upstream_close(u);
	/* The end of the body (a final chunk) may have been queued after the last flush, e.g. by
	 * llhttp_finish on the upstream's close. */
	conn_flush(c);
	conn_response_done(c);
}

/* The request failed for good (upstream_fail detached and closed its connection). */
static void response_failed(struct conn *c, enum outcome o)
{
	c->up = NULL;
	log_msg(LOG_LVL_WARN, "upstream %s for %s/%s request %s", outcome_name(o),
		c->req.fn->ns->id, c->req.fn->id, c->req.request_id);
	c->req.err = o;
	if (c->resp == RESP_NONE) {
		reply_error(c, o, c->phase != PHASE_DONE);
		conn_response_done(c);
	} else {
		/* Part of the response reached the client: only closing says it is incomplete. */
		conn_abort(c, o);
	}
}

/* Backpressure the other way: the upstream is not read while the client's output holds more
 * than PROXY_HIGH_WATER (conn.c resumes it when that output drains). Returns true when it
 * stopped. */
static bool up_backpressure(struct upconn *u)
{
	if (evbuffer_get_length(bufferevent_get_output(u->client->bev)) <= PROXY_HIGH_WATER)
		return false;
	upstream_read_pause(u);
	return true;
}

/* Response bytes arrived: parse and relay them, reading on past libevent's 4 KiB. */
static void response_read(struct upconn *u)
{
	struct bufferevent *bev = u->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	/* As for request bodies (conn.c): after a full 4 KiB libevent read, read the rest of a
	 * response body here in bigger pieces, within a budget per callback. */
	size_t bulk = u->direct_io && evbuffer_get_length(in) >= PROXY_BULK_MIN ? PROXY_BULK_BUDGET : 0;

again:
	while (u->client != NULL && !u->resp_done && evbuffer_get_length(in) > 0) {
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
		if (u->final_seen && !u->is_1xx && !u->head_request && !u->client->resp_chunked &&
		    (u->parser.flags & (F_CONTENT_LENGTH | F_CHUNKED)) == F_CONTENT_LENGTH &&
		    u->parser.content_length > 1 && llhttp_get_status_code(&u->parser) != 204 &&
		    llhttp_get_status_code(&u->parser) != 304) {
			/* A Content-Length body is relayed as it is: its bytes move to the client
			 * without llhttp or a copy (as request bodies do, conn.c); the last byte is
			 * left to llhttp, which then ends the message. */
			struct conn *c = u->client;
			size_t k = evbuffer_get_length(in);

			if (k > u->parser.content_length - 1)
				k = (size_t)(u->parser.content_length - 1);
			evbuffer_remove_buffer(in, bufferevent_get_output(c->bev), k);
			u->parser.content_length -= k;
			c->req.bytes_out += k;
			conn_flush(c);
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
		conn_flush(u->client);
		if (u->resp_done) {
			response_finish(u);
			return;
		}
		if (err != HPE_OK) {
			upstream_fail(u, OUT_UPSTREAM_BAD_RESPONSE);
			return;
		}
		if (up_backpressure(u))
			return;
	}
	if (bulk > 0 && u->client != NULL && !u->resp_done && u->final_seen && !u->read_paused) {
		size_t want = bulk < PROXY_BULK_READ ? bulk : PROXY_BULK_READ, n;

		n = bev_read_now(bev, want);
		bulk = n < want ? 0 : bulk - n;
		if (n > 0)
			goto again;
	}
	if (u->client == NULL && !u->resp_done)
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
	conn_flush(u->client);  /* the last chunk on_message_complete queued */
	response_finish(u);
	return true;
}

/* The request (head and body so far) drained towards the upstream: the client may be read. */
static void response_drained(struct upconn *u)
{
	conn_backpressure_release(u->client);
}

/* u carries the request (first attempt or a retry): a fresh parser; the client follows u. */
static void response_begin(struct upconn *u)
{
	llhttp_init(&u->parser, HTTP_RESPONSE, &response_settings);
	u->parser.data = u;
	u->hdrlen = 0;
	u->nhdr_resp = 0;
	u->is_1xx = false;
	u->client->up = u;
}

const struct upstream_ops response_ops = {
	.begin = response_begin,
	.read = response_read,
	.eof = response_eof,
	.drained = response_drained,
	.failed = response_failed,
};
